//! Per-instrument market state: top of book, L2 depth, last trade.

use crate::events::{BookTicker, Depth, Trade};
use crate::num::Dec;
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

/// One side of an L2 book: `(price, qty)` sorted so the best price is last (top-of-book
/// changes move little memory). A removed level keeps its slot as a gap (qty 0), so a
/// removal moves nothing, a level coming back at that price refills it, and a new price
/// shifts levels only as far as the nearest gap (within [`GAP_WINDOW`] slots, else to
/// the end). Without gaps a level deep in a 5,000-level Binance book moved thousands of
/// entries per update. The last entry is always a live level; gaps are compacted away
/// once they outnumber the levels.
#[derive(Clone, Debug, Default)]
pub struct BookSide {
    side: Side,
    /// Prices in storage order (bids ascending, asks descending), gaps included; apart
    /// from the sizes so the binary search reads half the memory.
    prices: Vec<Dec>,
    /// Size at each price; 0 marks a gap.
    qtys: Vec<Dec>,
    /// Live levels (entries with qty > 0).
    live: usize,
}

impl BookSide {
    fn new(side: Side) -> BookSide {
        BookSide {
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
    pub fn set(&mut self, px: Dec, qty: Dec) {
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
    pub fn best(&self) -> Option<(Dec, Dec)> {
        Some((*self.prices.last()?, *self.qtys.last()?))
    }

    /// Levels from best to worst.
    pub fn iter(&self) -> impl Iterator<Item = (Dec, Dec)> + '_ {
        self.prices
            .iter()
            .zip(&self.qtys)
            .rev()
            .filter(|l| l.1.raw() > 0)
            .map(|(p, q)| (*p, *q))
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn clear(&mut self) {
        self.prices.clear();
        self.qtys.clear();
        self.live = 0;
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
            bids: BookSide::new(Side::Buy),
            asks: BookSide::new(Side::Sell),
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
        self.bbo.map(|b| Dec((b.bid_px.raw() + b.ask_px.raw()) / 2))
    }
}

#[cfg(test)]
mod tests {
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
            let mut bids = BookSide::new(Side::Buy);
            let mut asks = BookSide::new(Side::Sell);
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
            let got: Vec<(i64, i64)> = bids.iter().map(|(p, q)| (p.raw(), q.raw())).collect();
            let expect: Vec<(i64, i64)> = want_b.iter().rev().map(|(p, q)| (*p, *q)).collect();
            proptest::prop_assert_eq!(got, expect);
            let got: Vec<(i64, i64)> = asks.iter().map(|(p, q)| (p.raw(), q.raw())).collect();
            let expect: Vec<(i64, i64)> = want_a.iter().map(|(p, q)| (*p, *q)).collect();
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

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn a_snapshot_arriving_best_first_fills_front_gaps() {
        // 1,000 levels a side, best first as Binance sends them, on a 0.01 grid.
        let mut bids = BookSide::new(Side::Buy);
        let mut asks = BookSide::new(Side::Sell);
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
        let mut bids = BookSide::new(Side::Buy);
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
        let mut tight = BookSide::new(Side::Sell);
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
