//! Per-instrument market state: top of book, L2 depth, last trade.

use crate::events::{BookTicker, Depth, Trade};
use crate::num::{Dec, Step};
use crate::types::Side;

/// What to do with a depth diff, by Binance's documented sync rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncAction {
    /// Apply it.
    Apply,
    /// Older than the book: drop it.
    Discard,
    /// Events are missing: the book is invalid until a fresh snapshot.
    Gap,
    /// No snapshot yet: keep it until one arrives.
    Buffer,
}

/// Tracks depth continuity after a snapshot. Spot: after snapshot `L`, discard
/// `u <= L`, the first applied event has `U <= L+1 <= u`, then `U == prev_u + 1`.
/// USD-M futures (events carry `pu`): discard `u < L`, the first applied event has
/// `U <= L <= u`, then `pu == prev_u`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookSync {
    /// Update id of the book (snapshot `lastUpdateId`, then the last applied `u`).
    pub update_id: u64,
    /// A snapshot was applied and no gap followed.
    pub synced: bool,
    /// At least one diff was applied since the snapshot.
    pub started: bool,
}

impl BookSync {
    /// A snapshot with `lastUpdateId` was applied.
    pub fn on_snapshot(&mut self, last_update_id: u64) {
        *self = BookSync {
            update_id: last_update_id,
            synced: true,
            started: false,
        };
    }

    /// Decides about a diff with ids `U` (`first`), `u` (`last`) and `pu` (`prev`, 0 on spot),
    /// and advances the book id when it is applied.
    pub fn check(&mut self, first: u64, last: u64, prev: u64) -> SyncAction {
        if !self.synced {
            return SyncAction::Buffer;
        }
        let futures = prev != 0;
        let l = self.update_id;
        let action = if !self.started {
            if futures {
                if last < l {
                    SyncAction::Discard
                } else if first <= l && l <= last {
                    SyncAction::Apply
                } else {
                    SyncAction::Gap
                }
            } else if last <= l {
                SyncAction::Discard
            } else if first <= l + 1 && l < last {
                SyncAction::Apply
            } else {
                SyncAction::Gap
            }
        } else if futures {
            if prev == l {
                SyncAction::Apply
            } else if last <= l {
                SyncAction::Discard
            } else {
                SyncAction::Gap
            }
        } else if last <= l {
            SyncAction::Discard
        } else if first > l + 1 {
            SyncAction::Gap
        } else {
            SyncAction::Apply
        };
        match action {
            SyncAction::Apply => {
                self.update_id = last;
                self.started = true;
            }
            SyncAction::Gap => self.synced = false,
            SyncAction::Discard | SyncAction::Buffer => {}
        }
        action
    }
}

/// Entries (levels and gaps) pre-reserved per side so steady-state updates never
/// allocate: a 1,000-level snapshot with the gaps it may keep (up to as many as levels,
/// plus two blocks) fits.
pub const RESERVED_LEVELS: usize = 4096;

/// Slots an insertion looks through, on each side, for a gap to shift into.
const GAP_WINDOW: usize = 64;

/// Levels of one side sorted so the best price is last (top-of-book changes move
/// little memory): the levels a [`BookSide`]'s ladder does not hold. A removed level
/// keeps its slot as a gap (qty 0), so a removal moves nothing, a level coming back at
/// that price refills it, and a new price shifts levels only as far as the nearest gap
/// (within [`GAP_WINDOW`] slots, else to the end). Without gaps a level deep in a
/// 5,000-level Binance book moved thousands of entries per update. The last entry is
/// always a live level; gaps are compacted away once they outnumber the levels.
#[derive(Clone, Debug, Default)]
struct Sorted {
    side: Side,
    /// Prices in storage order (bids ascending, asks descending), gaps included; apart
    /// from the sizes so the binary search reads half the memory.
    prices: Vec<Dec>,
    /// Size at each price; 0 marks a gap.
    qtys: Vec<Dec>,
    /// Live levels (entries with qty > 0).
    live: usize,
}

impl Sorted {
    fn new(side: Side) -> Sorted {
        Sorted {
            side,
            prices: Vec::with_capacity(RESERVED_LEVELS),
            qtys: Vec::with_capacity(RESERVED_LEVELS),
            live: 0,
        }
    }

    /// Position of `px` in storage order (bids ascending, asks descending), gaps included.
    fn search(&self, px: Dec) -> Result<usize, usize> {
        match self.side {
            Side::Buy => self.prices.binary_search(&px),
            Side::Sell => self.prices.binary_search_by(|p| px.cmp(p)),
        }
    }

    /// Sets the size at `px`; 0 removes the level.
    fn set(&mut self, px: Dec, qty: Dec) {
        match (self.search(px), qty.raw() > 0) {
            (Ok(i), true) => {
                if self.qtys[i].raw() <= 0 {
                    self.live += 1;
                }
                self.qtys[i] = qty;
            }
            (Ok(i), false) => {
                if self.qtys[i].raw() > 0 {
                    self.live -= 1;
                    self.qtys[i] = Dec::ZERO;
                    self.tidy();
                }
            }
            (Err(i), true) => self.insert(i, px, qty),
            (Err(_), false) => {}
        }
    }

    /// Puts a new price at storage position `i`, into a gap where one is near.
    fn insert(&mut self, i: usize, px: Dec, qty: Dec) {
        self.live += 1;
        let n = self.qtys.len();
        // Levels before `i` sort below `px` and those from `i` above it, so a gap at
        // i − 1 or i can take it as it is; a gap further away is reached by shifting the
        // levels in between one slot towards it.
        let gap = |j: &usize| self.qtys[*j].raw() <= 0;
        if let Some(j) = (i.saturating_sub(GAP_WINDOW)..i).rev().find(gap) {
            self.prices.copy_within(j + 1..i, j);
            self.qtys.copy_within(j + 1..i, j);
            self.prices[i - 1] = px;
            self.qtys[i - 1] = qty;
        } else if let Some(j) = (i..n.min(i + GAP_WINDOW)).find(gap) {
            self.prices.copy_within(i..j, i + 1);
            self.qtys.copy_within(i..j, i + 1);
            self.prices[i] = px;
            self.qtys[i] = qty;
        } else if i == n {
            self.prices.push(px);
            self.qtys.push(qty);
        } else if !self.block_insert(i, px, qty) {
            self.prices.insert(i, px);
            self.qtys.insert(i, qty);
        }
    }

    /// Inserts `px` at storage position `i < len` together with a block of gaps next
    /// to it, paying one shift of the levels from `i` on for the next insertions
    /// nearby (a snapshot arriving best first, a region the book fills in). The gaps
    /// take the prices one raw unit apart from `px`: on its better side, or on its
    /// worse side at the front of the side, where a snapshot's next levels go. A level
    /// that later comes at one of those prices fills that gap, which is where it
    /// sorts. False (nothing changed) when the prices would not fit strictly between
    /// `px` and its neighbour, or leave the positive range.
    fn block_insert(&mut self, i: usize, px: Dec, qty: Dec) -> bool {
        let k = GAP_WINDOW as i64 - 1;
        // Adding `up` moves a price up the storage order (bids ascending, asks
        // descending).
        let up = match self.side {
            Side::Buy => 1,
            Side::Sell => -1,
        };
        let shifted = |d: i64| px.raw().checked_add(up * d).filter(|p| *p > 0);
        let before = i == 0;
        let fits = if before {
            shifted(-k).is_some()
        } else {
            let next = self.prices[i].raw();
            shifted(k).is_some_and(|last| (next - last) * up > 0)
        };
        if !fits {
            return false;
        }
        let gap = |d: i64| Dec(px.raw() + up * d);
        let one = std::iter::once;
        let zeros = |n: i64| std::iter::repeat_n(Dec::ZERO, n as usize);
        if before {
            let gaps = (1..=k).rev().map(|d| gap(-d));
            self.prices.splice(0..0, gaps.chain(one(px)));
            self.qtys.splice(0..0, zeros(k).chain(one(qty)));
        } else {
            self.prices.splice(i..i, one(px).chain((1..=k).map(gap)));
            self.qtys.splice(i..i, one(qty).chain(zeros(k)));
        }
        true
    }

    /// Keeps the last entry live and compacts once gaps outnumber the levels.
    fn tidy(&mut self) {
        while self.qtys.last().is_some_and(|q| q.raw() <= 0) {
            self.qtys.pop();
            self.prices.pop();
        }
        if self.qtys.len() > 2 * self.live + GAP_WINDOW {
            let mut k = 0;
            for j in 0..self.qtys.len() {
                if self.qtys[j].raw() > 0 {
                    self.prices[k] = self.prices[j];
                    self.qtys[k] = self.qtys[j];
                    k += 1;
                }
            }
            self.prices.truncate(k);
            self.qtys.truncate(k);
        }
    }

    /// Best (price, qty).
    fn best(&self) -> Option<(Dec, Dec)> {
        Some((*self.prices.last()?, *self.qtys.last()?))
    }

    /// Levels from best to worst.
    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = (Dec, Dec)> + '_ {
        self.prices
            .iter()
            .zip(&self.qtys)
            .rev()
            .filter(|l| l.1.raw() > 0)
            .map(|(p, q)| (*p, *q))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.live
    }

    fn clear(&mut self) {
        self.prices.clear();
        self.qtys.clear();
        self.live = 0;
    }
}

/// Slots of a side's price ladder: levels on the instrument's tick grid within this
/// many ticks of each other are indexed by tick.
pub const LADDER_SLOTS: usize = 1 << 18;

/// Tick numbers above this are left to the sorted levels (keeps window arithmetic far
/// from overflow).
const MAX_KEY: i64 = 1 << 62;

/// One side of an L2 book. Levels on the instrument's tick grid inside a window of
/// [`LADDER_SLOTS`] ticks that follows the best price live in a ladder indexed by tick:
/// a set is one division by multiplication and a load, where a sorted vector of a
/// 5,000-level Binance book needs a ~13-step binary search. Levels outside the window,
/// off the grid, or of a book built without a tick ([`Book::default`]) live in a
/// sorted vector with gaps. Every on-grid price inside the window is in the ladder,
/// so a price is in exactly one of the two.
#[derive(Clone, Debug, Default)]
pub struct BookSide {
    side: Side,
    /// The tick grid; `None`: every level is in `far`.
    tick: Option<Step>,
    ladder: Ladder,
    far: Sorted,
}

/// Sizes indexed by key (tick number for bids, its negation for asks, so a higher key
/// is a better price on both sides) over the window `[base, base + size)`; key `k`
/// lives in slot `k mod size`, so moving the window moves no memory.
#[derive(Clone, Default)]
struct Ladder {
    /// Slots once allocated (a power of two; the first level on the grid allocates).
    size: usize,
    /// Raw size per slot, 0 where empty; empty until allocated. Raw `i64` rather
    /// than `Dec` so the allocation is zeroed by the allocator (`calloc`: fresh
    /// pages, mapped when first written), and only the pages of the prices a book
    /// actually visits take memory.
    qtys: Vec<i64>,
    /// One bit per slot, set where a level is.
    bits: Vec<u64>,
    /// One bit per word of `bits`, set where that word is not 0 (a search down a
    /// sparse side skips 4,096 empty slots per summary word).
    summary: Vec<u64>,
    /// Lowest key of the window.
    base: i64,
    /// Highest key holding a level, while `live > 0`.
    top: i64,
    /// Levels held.
    live: usize,
}

impl std::fmt::Debug for Ladder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ladder")
            .field("size", &self.size)
            .field("base", &self.base)
            .field("top", &self.top)
            .field("live", &self.live)
            .finish()
    }
}

impl Ladder {
    fn window(&self) -> i64 {
        self.qtys.len() as i64
    }

    fn contains(&self, k: i64) -> bool {
        ((k - self.base) as u64) < self.qtys.len() as u64
    }

    fn slot(&self, k: i64) -> usize {
        (k & (self.window() - 1)) as usize
    }

    fn get(&self, k: i64) -> Dec {
        Dec(self.qtys[self.slot(k)])
    }

    fn mark(&mut self, s: usize) {
        let w = s >> 6;
        self.bits[w] |= 1 << (s & 63);
        self.summary[w >> 6] |= 1 << (w & 63);
    }

    fn unmark(&mut self, s: usize) {
        let w = s >> 6;
        self.bits[w] &= !(1 << (s & 63));
        if self.bits[w] == 0 {
            self.summary[w >> 6] &= !(1 << (w & 63));
        }
    }

    /// Sets the size at key `k` (inside the window); 0 or below removes the level.
    fn set(&mut self, k: i64, qty: Dec) {
        let s = self.slot(k);
        let had = self.bits[s >> 6] & (1 << (s & 63)) != 0;
        if qty.raw() > 0 {
            self.qtys[s] = qty.raw();
            if !had {
                self.mark(s);
                self.live += 1;
                if self.live == 1 || k > self.top {
                    self.top = k;
                }
            }
        } else if had {
            self.qtys[s] = 0;
            self.unmark(s);
            self.live -= 1;
            if self.live > 0 && k == self.top {
                if let Some(t) = self.highest(k - 1, self.base) {
                    self.top = t;
                }
            }
        }
    }

    /// Highest key in `[lo, k]` holding a level (`lo` and `k` inside the window):
    /// the bitmap word of `k`, then the summary to the nearest earlier word that is
    /// not empty.
    fn highest(&self, mut k: i64, lo: i64) -> Option<i64> {
        while k >= lo {
            let s = self.slot(k);
            let b = s & 63;
            let word = self.bits[s >> 6] & (u64::MAX >> (63 - b));
            if word != 0 {
                let found = k - (b as i64 - (63 - word.leading_zeros() as i64));
                return (found >= lo).then_some(found);
            }
            // `k` to the last slot of the word before, then on to the last slot of
            // the nearest earlier word with a level in the same summary word, or past
            // that summary word's first word.
            k -= b as i64 + 1;
            let w = self.slot(k) >> 6;
            let sb = w & 63;
            let sword = self.summary[w >> 6] & (u64::MAX >> (63 - sb));
            k -= 64
                * if sword != 0 {
                    (sb as i64) - (63 - sword.leading_zeros() as i64)
                } else {
                    sb as i64 + 1
                };
        }
        None
    }

    /// Removes every level, walking down from the top (a snapshot clears a side of a
    /// few thousand levels without visiting all [`LADDER_SLOTS`] slots).
    fn clear(&mut self) {
        let mut k = self.top;
        while self.live > 0 {
            let Some(j) = self.highest(k, self.base) else {
                break;
            };
            let s = self.slot(j);
            self.qtys[s] = 0;
            self.unmark(s);
            self.live -= 1;
            k = j - 1;
        }
    }
}

impl BookSide {
    /// An empty side whose levels on the `tick` grid are indexed by tick.
    pub fn with_tick(side: Side, tick: Step) -> BookSide {
        BookSide::new(side, Some(tick), LADDER_SLOTS)
    }

    fn new(side: Side, tick: Option<Step>, ladder: usize) -> BookSide {
        BookSide {
            side,
            tick,
            ladder: Ladder {
                size: ladder.next_power_of_two().max(64),
                ..Ladder::default()
            },
            far: Sorted::new(side),
        }
    }

    /// The ladder key of `px`, if it is on the tick grid.
    fn key(&self, px: Dec) -> Option<i64> {
        let q = self.tick?.exact_div(px).filter(|q| *q <= MAX_KEY)?;
        Some(match self.side {
            Side::Buy => q,
            Side::Sell => -q,
        })
    }

    /// The price of ladder key `k`.
    fn price(&self, k: i64) -> Dec {
        Dec(k.abs() * self.tick.map_or(0, |t| t.get().raw()))
    }

    /// Sets the size at `px`; 0 removes the level.
    pub fn set(&mut self, px: Dec, qty: Dec) {
        if let Some(k) = self.key(px) {
            if self.ladder.contains(k) || (qty.raw() > 0 && self.reframe(k)) {
                self.ladder.set(k, qty);
                return;
            }
        }
        self.far.set(px, qty);
    }

    /// A level arrives at key `k` outside the window: moves the window where the best
    /// price calls for it (three quarters up, so it follows the market both ways with
    /// room to spare) and says whether `k` is now inside. The window moves when the
    /// ladder is empty, when `k` is better than the window by less than a window over
    /// the best, or when the best has sunk into its bottom quarter; otherwise `k` is a
    /// deep level or an outlier for the sorted vector.
    fn reframe(&mut self, k: i64) -> bool {
        if self.ladder.qtys.is_empty() {
            let size = self.ladder.size;
            self.ladder.qtys = vec![0; size];
            self.ladder.bits = vec![0; size / 64];
            self.ladder.summary = vec![0; (size / 64).div_ceil(64)];
            self.ladder.base = k - 3 * (size as i64 / 4);
            // Nothing to pull: until now every on-grid level allocated the ladder, so
            // the sorted vector holds only off-grid ones.
            return true;
        }
        let l = &self.ladder;
        let n = l.window();
        let anchor = if l.live == 0 {
            // The best on-grid level is then the sorted vector's best, if on the grid.
            let far = self.far.best().and_then(|b| self.key(b.0));
            far.map_or(k, |f| f.max(k))
        } else if k >= l.base + n {
            // More than a window above the best: an outlier (a level a market moving
            // tick by tick does not reach in one update) waits in the sorted vector
            // rather than send every level there and back.
            if k - l.top > n {
                return false;
            }
            k
        } else if l.top < l.base + n / 4 {
            l.top
        } else {
            return false;
        };
        self.shift(anchor - 3 * (n / 4));
        self.ladder.contains(k)
    }

    /// Moves the window to start at `base`: levels leaving it go to the sorted vector,
    /// on-grid levels of the sorted vector inside it come to the ladder.
    fn shift(&mut self, base: i64) {
        let n = self.ladder.window();
        let old = self.ladder.base;
        let (lo, hi) = if base > old {
            (old, base.min(old + n))
        } else {
            ((base + n).max(old), old + n)
        };
        let mut k = hi - 1;
        while self.ladder.live > 0 {
            let Some(j) = self.ladder.highest(k, lo) else {
                break;
            };
            let qty = self.ladder.get(j);
            self.ladder.set(j, Dec::ZERO);
            self.far.set(self.price(j), qty);
            k = j - 1;
        }
        // Levels leave from the highest down, so `set` kept `top` on a remaining level.
        self.ladder.base = base;
        self.pull_far();
    }

    /// Moves the sorted vector's on-grid levels inside the window to the ladder.
    fn pull_far(&mut self) {
        if self.far.live == 0 {
            return;
        }
        for j in 0..self.far.prices.len() {
            let qty = self.far.qtys[j];
            if qty.raw() <= 0 {
                continue;
            }
            if let Some(k) = self
                .key(self.far.prices[j])
                .filter(|k| self.ladder.contains(*k))
            {
                self.ladder.set(k, qty);
                self.far.qtys[j] = Dec::ZERO;
                self.far.live -= 1;
            }
        }
        self.far.tidy();
    }

    /// Size at `px` (0 where no level is).
    pub fn get(&self, px: Dec) -> Dec {
        match self.key(px).filter(|k| self.ladder.contains(*k)) {
            Some(k) => self.ladder.get(k),
            None => self.far.search(px).map_or(Dec::ZERO, |i| self.far.qtys[i]),
        }
    }

    /// Best (price, qty).
    pub fn best(&self) -> Option<(Dec, Dec)> {
        let l = &self.ladder;
        let near = (l.live > 0).then(|| (self.price(l.top), l.get(l.top)));
        match (near, self.far.best()) {
            (Some(a), Some(b)) if self.side.better(b.0, a.0) => Some(b),
            (a, b) => a.or(b),
        }
    }

    /// Levels from best to worst.
    pub fn iter(&self) -> Levels<'_> {
        Levels {
            side: self,
            near: (self.ladder.live > 0).then_some(self.ladder.top),
            near_left: self.ladder.live,
            far: self.far.prices.len(),
        }
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.ladder.live + self.far.live
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every level.
    pub fn clear(&mut self) {
        self.ladder.clear();
        self.far.clear();
    }

    /// The side (bids: `Buy`).
    pub fn side(&self) -> Side {
        self.side
    }
}

/// A side's levels from best to worst: the ladder's and the sorted vector's, merged.
pub struct Levels<'a> {
    side: &'a BookSide,
    /// Ladder keys at or below this are yet to come (`None`: none are); the next one
    /// is looked for only when asked, so taking the best level scans nothing.
    near: Option<i64>,
    /// Ladder levels yet to come (none left: no search).
    near_left: usize,
    /// Sorted-vector entries not looked at yet (they are read from the end).
    far: usize,
}

impl Iterator for Levels<'_> {
    type Item = (Dec, Dec);

    fn next(&mut self) -> Option<(Dec, Dec)> {
        let s = self.side;
        while self.far > 0 && s.far.qtys[self.far - 1].raw() <= 0 {
            self.far -= 1;
        }
        let far = (self.far > 0).then(|| (s.far.prices[self.far - 1], s.far.qtys[self.far - 1]));
        self.near = self
            .near
            .filter(|_| self.near_left > 0)
            .and_then(|k| s.ladder.highest(k, s.ladder.base));
        match (self.near, far) {
            (Some(k), far) if far.is_none_or(|b| !s.side.better(b.0, s.price(k))) => {
                self.near = Some(k - 1);
                self.near_left -= 1;
                Some((s.price(k), s.ladder.get(k)))
            }
            (_, Some(b)) => {
                self.far -= 1;
                Some(b)
            }
            _ => None,
        }
    }
}

/// Market state of one instrument.
#[derive(Clone, Debug)]
pub struct Book {
    /// Latest best bid/ask from the ticker stream (or the L2 top when no ticker arrives).
    pub bbo: Option<BookTicker>,
    /// Bids.
    pub bids: BookSide,
    /// Asks.
    pub asks: BookSide,
    /// Last public trade.
    pub last_trade: Option<Trade>,
    /// Venue update id of the last depth update applied.
    pub depth_update_id: u64,
    /// True while an update is half applied (between its first and last chunk).
    pub depth_in_progress: bool,
    /// Ticker updates seen.
    pub ticker_updates: u64,
    /// Depth continuity.
    pub sync: BookSync,
    /// Any depth update seen (then readiness needs a synced book).
    pub has_depth: bool,
    skip_chunks: bool,
}

impl Default for Book {
    fn default() -> Self {
        Book {
            bbo: None,
            bids: BookSide::new(Side::Buy, None, 0),
            asks: BookSide::new(Side::Sell, None, 0),
            last_trade: None,
            depth_update_id: 0,
            depth_in_progress: false,
            ticker_updates: 0,
            sync: BookSync::default(),
            has_depth: false,
            skip_chunks: false,
        }
    }
}

impl Book {
    /// A book whose depth levels on the `tick` grid are indexed by tick.
    pub fn with_tick(tick: Step) -> Book {
        Book {
            bids: BookSide::with_tick(Side::Buy, tick),
            asks: BookSide::with_tick(Side::Sell, tick),
            ..Book::default()
        }
    }

    /// Applies a top-of-book update. A crossed or empty quote is kept out.
    pub fn on_ticker(&mut self, t: &BookTicker) -> bool {
        if t.bid_px.raw() <= 0 || t.ask_px.raw() <= 0 || t.bid_px >= t.ask_px {
            return false;
        }
        self.bbo = Some(*t);
        self.ticker_updates += 1;
        true
    }

    /// Applies one depth chunk after checking continuity on its first chunk. Returns
    /// false when the update is not applied; `sync.synced` then says whether the book
    /// is still valid (a discarded stale diff) or needs a new snapshot (a gap).
    pub fn on_depth(&mut self, d: &Depth) -> bool {
        self.has_depth = true;
        if d.snapshot {
            if d.first_chunk {
                self.bids.clear();
                self.asks.clear();
            }
            if d.last_chunk {
                self.sync.on_snapshot(d.last_update_id);
            }
        } else if d.first_chunk {
            match self
                .sync
                .check(d.first_update_id, d.last_update_id, d.prev_update_id)
            {
                SyncAction::Apply => {}
                SyncAction::Gap => {
                    self.depth_in_progress = false;
                    return false;
                }
                SyncAction::Discard | SyncAction::Buffer => {
                    self.depth_in_progress = false;
                    self.skip_chunks = !d.last_chunk;
                    return false;
                }
            }
            self.skip_chunks = false;
        } else if self.skip_chunks || !self.sync.synced {
            self.skip_chunks = !d.last_chunk && self.skip_chunks;
            return false;
        }
        for l in d.levels() {
            match l.side {
                Side::Buy => self.bids.set(l.px, l.qty),
                Side::Sell => self.asks.set(l.px, l.qty),
            }
        }
        self.depth_in_progress = !d.last_chunk;
        if d.last_chunk {
            self.depth_update_id = d.last_update_id;
            // Without a ticker stream the L2 top is the best quote.
            if self.ticker_updates == 0 {
                if let (Some(b), Some(a)) = (self.bids.best(), self.asks.best()) {
                    if b.0 < a.0 {
                        self.bbo = Some(BookTicker {
                            instrument: d.instrument,
                            bid_px: b.0,
                            bid_qty: b.1,
                            ask_px: a.0,
                            ask_qty: a.1,
                            update_id: d.last_update_id,
                        });
                    }
                }
            }
        }
        true
    }

    /// Ready to trade on: a valid quote and, where depth is streamed, a synced book
    /// between updates.
    pub fn is_ready(&self) -> bool {
        self.bbo.is_some() && (!self.has_depth || (self.sync.synced && !self.depth_in_progress))
    }

    /// Records a public trade.
    pub fn on_trade(&mut self, t: &Trade) {
        self.last_trade = Some(*t);
    }

    /// Best bid price.
    pub fn best_bid(&self) -> Option<Dec> {
        self.bbo.map(|b| b.bid_px)
    }

    /// Best ask price.
    pub fn best_ask(&self) -> Option<Dec> {
        self.bbo.map(|b| b.ask_px)
    }

    /// (bid + ask) / 2, exact to 1e-9.
    pub fn mid(&self) -> Option<Dec> {
        self.bbo.map(|b| b.bid_px.midpoint(b.ask_px))
    }
}

#[cfg(test)]
mod tests {
    type Pairs = Vec<(i64, i64)>;

    /// A side's levels and a reference map's, best first, as raw pairs.
    fn best_first(
        levels: impl Iterator<Item = (Dec, Dec)>,
        want: &std::collections::BTreeMap<i64, i64>,
        side: Side,
    ) -> (Pairs, Pairs) {
        let got = levels.map(|(p, q)| (p.raw(), q.raw())).collect();
        let pairs = want.iter().map(|(p, q)| (*p, *q));
        let expect = match side {
            Side::Buy => pairs.rev().collect(),
            Side::Sell => pairs.collect(),
        };
        (got, expect)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
        /// Sides with thousands of levels (gaps, windowed shifts, plain inserts and
        /// compaction all happen) equal an ordered map after every update.
        #[test]
        fn deep_sides_match_an_ordered_map(
            seed in proptest::collection::vec((proptest::bool::ANY, 0i64..3000, 0i64..4, 0i64..70), 1..4000),
            spread in proptest::prop_oneof![proptest::strategy::Just(1i64), proptest::strategy::Just(100)],
        ) {
            use std::collections::BTreeMap;
            let mut bids = Sorted::new(Side::Buy);
            let mut asks = Sorted::new(Side::Sell);
            let (mut want_b, mut want_a) = (BTreeMap::new(), BTreeMap::new());
            // Spread 100: prices leave room for blocks of gaps, and some land on a
            // gap's price (within 70 raw units of a level).
            for (n, (bid, tick, q, off)) in seed.into_iter().enumerate() {
                let px = tick * spread + if spread > 1 && n % 3 == 0 { off } else { 0 };
                // One update in four removes; prices spread over 3,000 ticks.
                let qty = if q == 0 { 0 } else { n as i64 + 1 };
                let (side, want) = if bid { (&mut bids, &mut want_b) } else { (&mut asks, &mut want_a) };
                side.set(Dec(px), Dec(qty));
                if qty == 0 { want.remove(&px); } else { want.insert(px, qty); }
                proptest::prop_assert_eq!(side.len(), want.len());
            }
            let (got, expect) = best_first(bids.iter(), &want_b, Side::Buy);
            proptest::prop_assert_eq!(got, expect);
            let (got, expect) = best_first(asks.iter(), &want_a, Side::Sell);
            proptest::prop_assert_eq!(got, expect);
            proptest::prop_assert_eq!(bids.best().map(|l| l.0.raw()), want_b.keys().next_back().copied());
            proptest::prop_assert_eq!(asks.best().map(|l| l.0.raw()), want_a.keys().next().copied());
            // Gaps never outnumber the levels by more than a front block and the window.
            for side in [&bids, &asks] {
                proptest::prop_assert!(side.qtys.len() <= 2 * side.live + 2 * GAP_WINDOW);
                let sorted = side.prices.windows(2).all(|w| match side.side {
                    Side::Buy => w[0] < w[1],
                    Side::Sell => w[0] > w[1],
                });
                proptest::prop_assert!(sorted);
            }
        }
    }

    use super::*;
    use crate::events::{Level, DEPTH_CHUNK};
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]
        /// Sides with small ladders (the window moves often, both ways; 8,192 slots
        /// have two summary words) and prices on
        /// and off the tick grid equal an ordered map after every update, with every
        /// on-grid price inside the window held by the ladder.
        #[test]
        fn ladder_sides_match_an_ordered_map(
            seed in proptest::collection::vec((proptest::bool::ANY, 0i64..2000, 0i64..4, 0i64..10), 1..3000),
            drift in -3i64..=3,
            slots in proptest::prop_oneof![proptest::strategy::Just(256usize), proptest::strategy::Just(8192)],
        ) {
            use std::collections::BTreeMap;
            let tick = 10i64;
            let step = Step::new(Dec(tick));
            let mut bids = BookSide::new(Side::Buy, Some(step), slots);
            let mut asks = BookSide::new(Side::Sell, Some(step), slots);
            let (mut want_b, mut want_a) = (BTreeMap::new(), BTreeMap::new());
            for (n, (bid, off, q, odd)) in seed.into_iter().enumerate() {
                // A market that drifts over ~10,000 ticks and back (the 256-tick window
                // follows it), levels up to 2,000 ticks from it; one price in ten is off
                // the grid, one update in four removes.
                let t = n as i64;
                let centre = 20_000 + drift * (t % 1500 - 750).abs() * 4;
                // One update in 97 is an outlier: 5,000 ticks through the market,
                // taken at once below.
                let off = if n % 97 == 0 { -5000 } else { off };
                let px = if bid { centre - off } else { centre + 1 + off } * tick
                    + if odd == 0 { 3 } else { 0 };
                let qty = if q == 0 { 0 } else { t + 1 };
                let (side, want) = if bid { (&mut bids, &mut want_b) } else { (&mut asks, &mut want_a) };
                side.set(Dec(px), Dec(qty));
                if qty == 0 { want.remove(&px); } else { want.insert(px, qty); }
                // The market takes the levels it moves through, as trades would.
                loop {
                    let best = if bid { want.keys().next_back() } else { want.keys().next() };
                    let Some(&p) = best.filter(|p| if bid { **p > centre * tick } else { **p <= centre * tick }) else {
                        break;
                    };
                    want.remove(&p);
                    side.set(Dec(p), Dec::ZERO);
                }
                proptest::prop_assert_eq!(side.len(), want.len());
                let best = if bid { want.keys().next_back() } else { want.keys().next() };
                proptest::prop_assert_eq!(side.best().map(|l| l.0.raw()), best.copied());
                proptest::prop_assert_eq!(side.get(Dec(px)).raw(), want.get(&px).copied().unwrap_or(0));
            }
            let (got, expect) = best_first(bids.iter(), &want_b, Side::Buy);
            proptest::prop_assert_eq!(got, expect);
            let (got, expect) = best_first(asks.iter(), &want_a, Side::Sell);
            proptest::prop_assert_eq!(got, expect);
            for side in [&bids, &asks] {
                let l = &side.ladder;
                proptest::prop_assert_eq!(l.bits.iter().map(|w| w.count_ones() as usize).sum::<usize>(), l.live);
                for (w, word) in l.bits.iter().enumerate() {
                    proptest::prop_assert_eq!(l.summary[w >> 6] >> (w & 63) & 1 == 1, *word != 0);
                }
                for (p, q) in side.far.iter() {
                    let inside = side.key(p).is_some_and(|k| l.contains(k));
                    proptest::prop_assert!(!inside, "{p:?} {q:?} is in the window but not the ladder");
                }
            }
        }
    }

    #[test]
    fn ladder_window_follows_the_best_price() {
        // Tick 0.1 on BTC-like prices; the 1,024-slot window moves up with the bids,
        // leaving the old levels behind as deep levels, and back down when the best
        // sinks into its bottom quarter.
        let tick = Step::new(Dec(100_000_000));
        let mut bids = BookSide::new(Side::Buy, Some(tick), 1024);
        let px = |t: i64| Dec(t * 100_000_000);
        for t in 600_000..600_100 {
            bids.set(px(t), Dec(1));
        }
        assert_eq!((bids.ladder.live, bids.far.live), (100, 0));
        assert_eq!(bids.ladder.base, 600_000 - 768);
        // 1,901 ticks over the best (more than a window): an outlier, kept apart.
        bids.set(px(602_000), Dec(2));
        assert_eq!(bids.ladder.base, 600_000 - 768);
        assert_eq!((bids.ladder.live, bids.far.live), (100, 1));
        assert_eq!(bids.best(), Some((px(602_000), Dec(2))));
        bids.set(px(602_000), Dec::ZERO);
        assert_eq!(bids.best(), Some((px(600_099), Dec(1))));
        // 801 ticks over it: the window moves; the first levels are now deep.
        bids.set(px(600_900), Dec(2));
        assert_eq!(bids.ladder.base, 600_900 - 768);
        assert_eq!((bids.ladder.live, bids.far.live), (1, 100));
        assert_eq!(bids.best(), Some((px(600_900), Dec(2))));
        // The best goes; the next is deep, so the window moves back down to it when a
        // level arrives below the window.
        bids.set(px(600_900), Dec::ZERO);
        assert_eq!(bids.best(), Some((px(600_099), Dec(1))));
        bids.set(px(600_050), Dec(3));
        assert_eq!(bids.ladder.base, 600_099 - 768);
        assert_eq!((bids.ladder.live, bids.far.live), (100, 0));
        let got: Vec<(Dec, Dec)> = bids.iter().take(3).collect();
        assert_eq!(
            got,
            [
                (px(600_099), Dec(1)),
                (px(600_098), Dec(1)),
                (px(600_097), Dec(1))
            ]
        );
        assert_eq!(
            bids.iter().find(|l| l.0 == px(600_050)),
            Some((px(600_050), Dec(3)))
        );
        // An off-grid price sorts among the ladder's levels.
        bids.set(Dec(px(600_098).raw() + 1), Dec(9));
        let got: Vec<i64> = bids.iter().take(3).map(|l| l.1.raw()).collect();
        assert_eq!(got, [1, 9, 1]);
        assert_eq!(bids.len(), 101);
        // A snapshot clears both.
        bids.clear();
        assert!(bids.is_empty() && bids.best().is_none() && bids.iter().next().is_none());
        bids.set(px(600_000), Dec(5));
        assert_eq!(bids.best(), Some((px(600_000), Dec(5))));
    }

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn a_snapshot_arriving_best_first_fills_front_gaps() {
        // 1,000 levels a side, best first as Binance sends them, on a 0.01 grid.
        let mut bids = Sorted::new(Side::Buy);
        let mut asks = Sorted::new(Side::Sell);
        for k in 0..1000i64 {
            bids.set(Dec(60_000_000_000_000 - k * 10_000_000), Dec(k + 1));
            asks.set(Dec(60_000_010_000_000 + k * 10_000_000), Dec(k + 1));
        }
        assert_eq!(bids.len(), 1000);
        assert_eq!(asks.len(), 1000);
        assert_eq!(bids.best(), Some((Dec(60_000_000_000_000), Dec(1))));
        assert_eq!(asks.best(), Some((Dec(60_000_010_000_000), Dec(1))));
        let got: Vec<i64> = bids.iter().map(|l| l.1.raw()).collect();
        assert_eq!(got, (1..=1000).collect::<Vec<_>>());
        let got: Vec<i64> = asks.iter().map(|l| l.1.raw()).collect();
        assert_eq!(got, (1..=1000).collect::<Vec<_>>());
        // At most one block of unused gaps is left in front.
        assert!(bids.prices.len() < 1000 + GAP_WINDOW);
        // A level at a gap's price (one raw unit worse than the worst) fills that gap.
        let worst = bids.iter().last().unwrap().0;
        bids.set(Dec(worst.raw() - 1), Dec(7));
        assert_eq!(bids.iter().last(), Some((Dec(worst.raw() - 1), Dec(7))));
        assert_eq!(bids.len(), 1001);
    }

    #[test]
    fn an_insert_far_from_gaps_brings_a_block_of_them() {
        // 200 bids 1,000 raw units apart, no gaps; a new level inside them brings 63
        // gaps on its better side, and the next level nearby takes one without growing
        // the side.
        let mut bids = Sorted::new(Side::Buy);
        for k in 1..=200i64 {
            bids.set(Dec(k * 1_000), Dec(1));
        }
        assert_eq!(bids.prices.len(), 200);
        bids.set(Dec(100_500), Dec(2));
        assert_eq!((bids.len(), bids.prices.len()), (201, 201 + GAP_WINDOW - 1));
        bids.set(Dec(100_750), Dec(3));
        assert_eq!((bids.len(), bids.prices.len()), (202, 201 + GAP_WINDOW - 1));
        bids.set(Dec(100_501), Dec(4)); // a gap's own price
        assert_eq!((bids.len(), bids.prices.len()), (203, 201 + GAP_WINDOW - 1));
        let around: Vec<(i64, i64)> = bids
            .iter()
            .map(|(p, q)| (p.raw(), q.raw()))
            .filter(|(p, _)| (100_000..=101_000).contains(p))
            .collect();
        assert_eq!(
            around,
            [
                (101_000, 1),
                (100_750, 3),
                (100_501, 4),
                (100_500, 2),
                (100_000, 1)
            ]
        );
        // No room for a block (neighbours one raw unit apart): a plain insert.
        let mut tight = Sorted::new(Side::Sell);
        for k in (1..=100i64).rev() {
            tight.set(Dec(k * 2), Dec(1));
        }
        let n = tight.prices.len();
        tight.set(Dec(101), Dec(1));
        assert_eq!((tight.len(), tight.prices.len()), (101, n + 1));
    }

    #[test]
    fn l2_sides_sort_best_first() {
        let mut book = Book::default();
        let mut depth = Depth {
            snapshot: true,
            first_chunk: true,
            last_chunk: true,
            last_update_id: 10,
            ..Default::default()
        };
        let lv = [
            (Side::Buy, "99", "1"),
            (Side::Buy, "100", "2"),
            (Side::Sell, "102", "3"),
            (Side::Sell, "101", "4"),
        ];
        for (i, (s, p, q)) in lv.iter().enumerate() {
            depth.levels[i] = Level {
                side: *s,
                px: d(p),
                qty: d(q),
            };
        }
        depth.len = lv.len() as u8;
        book.on_depth(&depth);
        assert_eq!(book.bids.best(), Some((d("100"), d("2"))));
        assert_eq!(book.asks.best(), Some((d("101"), d("4"))));
        assert_eq!(book.mid(), Some(d("100.5")));
        let asks: Vec<_> = book.asks.iter().map(|l| l.0).collect();
        assert_eq!(asks, vec![d("101"), d("102")]);
        // A diff removes the best bid and adds a level.
        let mut diff = Depth {
            first_chunk: true,
            last_chunk: true,
            len: 2,
            first_update_id: 11,
            last_update_id: 12,
            ..Default::default()
        };
        diff.levels[0] = Level {
            side: Side::Buy,
            px: d("100"),
            qty: Dec::ZERO,
        };
        diff.levels[1] = Level {
            side: Side::Buy,
            px: d("99.5"),
            qty: d("7"),
        };
        book.on_depth(&diff);
        assert_eq!(book.bids.best(), Some((d("99.5"), d("7"))));
        assert_eq!(book.bids.len(), 2);
        const { assert!(DEPTH_CHUNK >= 4) };
    }

    #[test]
    fn crossed_ticker_is_ignored() {
        let mut book = Book::default();
        let t = BookTicker {
            bid_px: d("101"),
            ask_px: d("100"),
            ..Default::default()
        };
        assert!(!book.on_ticker(&t));
        assert!(book.mid().is_none());
    }

    #[test]
    fn prices_above_half_the_range_have_a_mid() {
        // Raw bid + ask passes i64::MAX (~9.22e9 in price units).
        let mut book = Book::default();
        let t = BookTicker {
            bid_px: d("5000000000"),
            ask_px: d("5000000001"),
            ..Default::default()
        };
        assert!(book.on_ticker(&t));
        assert_eq!(book.mid(), Some(d("5000000000.5")));
        assert_eq!(d("-3").midpoint(d("0")), d("-1.5"));
        assert_eq!(
            Dec(-3).midpoint(Dec(0)),
            Dec(-1),
            "toward zero, as (a + b) / 2"
        );
    }
}

#[cfg(test)]
mod sync_tests {
    use super::*;

    #[test]
    fn spot_rules_match_the_recorded_replay_case() {
        // shared/data/binance/vectors/order_book_sync.json, spot btcusdt_20240808.
        let mut s = BookSync::default();
        assert_eq!(s.check(50093239189, 50093239202, 0), SyncAction::Buffer);
        s.on_snapshot(50093239218);
        assert_eq!(s.check(50093239189, 50093239202, 0), SyncAction::Discard);
        assert_eq!(s.check(50093239203, 50093239207, 0), SyncAction::Discard);
        assert_eq!(s.check(50093239208, 50093239224, 0), SyncAction::Apply);
        assert_eq!(s.check(50093239225, 50093239237, 0), SyncAction::Apply);
        assert_eq!(s.update_id, 50093239237);
        // A missing event is a gap; the book waits for a snapshot.
        assert_eq!(s.check(50093239240, 50093239250, 0), SyncAction::Gap);
        assert_eq!(s.check(50093239251, 50093239260, 0), SyncAction::Buffer);
    }

    #[test]
    fn futures_rules_use_pu_and_keep_u_equal_to_snapshot() {
        let mut s = BookSync::default();
        s.on_snapshot(100);
        assert_eq!(s.check(90, 99, 89), SyncAction::Discard);
        // u == lastUpdateId is kept on USD-M (dropped on spot).
        assert_eq!(s.check(95, 100, 94), SyncAction::Apply);
        assert_eq!(s.check(103, 110, 100), SyncAction::Apply);
        assert_eq!(s.check(111, 120, 109), SyncAction::Gap);
        let mut spot = BookSync::default();
        spot.on_snapshot(100);
        assert_eq!(spot.check(95, 100, 0), SyncAction::Discard);
        assert_eq!(spot.check(102, 110, 0), SyncAction::Gap);
    }

    #[test]
    fn gap_makes_the_book_not_ready_until_a_snapshot() {
        let mut book = Book::default();
        let t = BookTicker {
            bid_px: Dec::from_int(99),
            ask_px: Dec::from_int(101),
            ..Default::default()
        };
        book.on_ticker(&t);
        assert!(book.is_ready());
        let snap = Depth {
            snapshot: true,
            first_chunk: true,
            last_chunk: true,
            last_update_id: 10,
            ..Default::default()
        };
        book.on_depth(&snap);
        assert!(book.is_ready());
        let diff = |u0, u1| Depth {
            first_chunk: true,
            last_chunk: true,
            first_update_id: u0,
            last_update_id: u1,
            ..Default::default()
        };
        assert!(book.on_depth(&diff(11, 12)));
        assert!(!book.on_depth(&diff(14, 15)));
        assert!(!book.is_ready());
        assert!(!book.on_depth(&diff(16, 17)));
        book.on_depth(&Depth {
            last_update_id: 20,
            ..snap
        });
        assert!(book.is_ready());
        assert!(book.on_depth(&diff(21, 22)));
    }
}
