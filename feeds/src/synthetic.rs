//! Deterministic synthetic market data: a random-walk L2 book.
//!
//! The generator keeps `LEVELS` contiguous price levels a side (bids at
//! `bid_top - i` ticks, asks at `ask_top + i` ticks). It first publishes a depth
//! snapshot and its top of book, then for each of `cfg.events` steps it moves the
//! book, publishes the changed levels as a depth diff, the new top of book as a
//! `BookTicker`, and sometimes a trade (or two, when an aggressor trades through the
//! touch). Trades take liquidity from the book; the next step's diff shows it.
//!
//! All randomness comes from [`SplitMix64`] seeded with the session seed, so the
//! sequence is identical on every platform for a given seed. Nothing is allocated
//! after construction.

use kestrel_engine::config::FeedConfig;
use kestrel_engine::{
    BookTicker, Dec, Depth, Event, InstrumentId, InstrumentSpec, Level, Side, Trade, DEPTH_CHUNK,
};

/// Levels kept on each side of the synthetic book.
pub const LEVELS: usize = 20;
/// Largest mid move in one step, in ticks.
const MAX_JUMP: i64 = 5;
/// Upper bound on levels one diff can change (both sides).
const MAX_DIFF: usize = 2 * (2 * LEVELS + 2 * MAX_JUMP as usize + 4);
/// Upper bound on events produced by one step.
const QUEUE_CAP: usize = MAX_DIFF / DEPTH_CHUNK + 8;

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, platform-independent PRNG.
/// Pure 64-bit wrapping integer arithmetic, so it yields the same stream everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; multiply-shift, bias below 2⁻³²·n).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((self.next_u64() >> 32) * n) >> 32
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// One side's levels, index 0 at the touch, quantities in lots (all > 0).
type SideQty = [i64; LEVELS];

/// The book in ticks and lots.
#[derive(Clone, Copy, Debug)]
struct Book {
    bid_top: i64,
    ask_top: i64,
    bids: SideQty,
    asks: SideQty,
}

/// Random-walk L2 book generator. See the module docs.
#[derive(Debug)]
pub struct SyntheticFeed {
    rng: SplitMix64,
    instrument: InstrumentId,
    tick: i64,
    lot: i64,
    start_ts: u64,
    step_ns: u64,
    steps: u64,
    step: u64,
    started: bool,
    update_id: u64,
    trade_id: u64,
    /// Current book (trades already applied).
    book: Book,
    /// The book as last published.
    published: Book,
    /// Changed levels of the current step.
    diff: Vec<Level>,
    /// Events of the current step and the read position in it.
    queue: Vec<(u64, Event)>,
    pos: usize,
}

impl SyntheticFeed {
    /// A generator for `instrument` priced around `cfg.start_price`, on the tick and
    /// lot grid of `spec`, producing `cfg.events` steps `cfg.step_ns` apart after the
    /// initial snapshot at `cfg.start_ts`. Non-positive tick or lot sizes are treated
    /// as 1e-9. The mid is kept high enough that every bid stays above zero.
    pub fn new(
        cfg: &FeedConfig,
        seed: u64,
        instrument: InstrumentId,
        spec: &InstrumentSpec,
    ) -> Self {
        let tick = spec.tick_size.raw().max(1);
        let lot = spec.lot_size.raw().max(1);
        let mut rng = SplitMix64::new(seed);
        let mid = (cfg.start_price.raw() / tick).max(LEVELS as i64 + MAX_JUMP + 2);
        let mut book = Book {
            bid_top: mid,
            ask_top: mid + 1,
            bids: [0; LEVELS],
            asks: [0; LEVELS],
        };
        for i in 0..LEVELS {
            book.bids[i] = fresh_qty(&mut rng);
            book.asks[i] = fresh_qty(&mut rng);
        }
        SyntheticFeed {
            rng,
            instrument,
            tick,
            lot,
            start_ts: cfg.start_ts,
            step_ns: cfg.step_ns,
            steps: cfg.events,
            step: 0,
            started: false,
            update_id: 1_000,
            trade_id: 0,
            book,
            published: book,
            diff: Vec::with_capacity(MAX_DIFF),
            queue: Vec::with_capacity(QUEUE_CAP),
            pos: 0,
        }
    }

    /// The next event and its event time (ns since the epoch), or `None` when all
    /// steps have been produced.
    pub fn next_event(&mut self) -> Option<(u64, Event)> {
        loop {
            if self.pos < self.queue.len() {
                let ev = std::mem::take(&mut self.queue[self.pos]);
                self.pos += 1;
                return Some(ev);
            }
            self.queue.clear();
            self.pos = 0;
            if !self.started {
                self.started = true;
                self.emit_snapshot();
            } else if self.step < self.steps {
                self.step += 1;
                self.emit_step();
            } else {
                return None;
            }
        }
    }

    fn px(&self, ticks: i64) -> Dec {
        Dec(ticks * self.tick)
    }

    fn qty(&self, lots: i64) -> Dec {
        Dec(lots * self.lot)
    }

    fn emit_snapshot(&mut self) {
        let ts = self.start_ts;
        self.diff.clear();
        let b = self.book;
        for i in 0..LEVELS {
            let l = Level {
                side: Side::Buy,
                px: self.px(b.bid_top - i as i64),
                qty: self.qty(b.bids[i]),
            };
            self.diff.push(l);
        }
        for i in 0..LEVELS {
            let l = Level {
                side: Side::Sell,
                px: self.px(b.ask_top + i as i64),
                qty: self.qty(b.asks[i]),
            };
            self.diff.push(l);
        }
        self.published = b;
        self.push_depth(ts, true, self.update_id, self.update_id);
        self.push_ticker(ts);
    }

    fn emit_step(&mut self) {
        let ts = self
            .start_ts
            .wrapping_add(self.step.wrapping_mul(self.step_ns));
        self.evolve();
        self.diff.clear();
        let (old, new) = (self.published, self.book);
        diff_side(&mut self.diff, Side::Buy, &old, &new, self.tick, self.lot);
        diff_side(&mut self.diff, Side::Sell, &old, &new, self.tick, self.lot);
        self.published = new;
        if !self.diff.is_empty() {
            let first = self.update_id + 1;
            self.update_id += self.diff.len() as u64;
            self.push_depth(ts, false, first, self.update_id);
        }
        self.push_ticker(ts);
        if self.rng.chance(250) {
            self.trade(ts);
        }
    }

    /// Moves the mid, keeps the spread in 1..=4 ticks, and changes a few quantities.
    fn evolve(&mut self) {
        let r = self.rng.below(1000);
        let mut k = match r {
            0..=599 => 0,
            600..=789 => 1,
            790..=979 => -1,
            _ => {
                let m = 2 + self.rng.below(MAX_JUMP as u64 - 1) as i64;
                if self.rng.chance(500) {
                    m
                } else {
                    -m
                }
            }
        };
        // Keep the deepest bid above zero.
        let floor = LEVELS as i64 + 1;
        if self.book.bid_top + k < floor {
            k = 0;
        }
        if k != 0 {
            self.book.bid_top += k;
            self.book.ask_top += k;
            reindex(&mut self.book.bids, -k, &mut self.rng);
            reindex(&mut self.book.asks, k, &mut self.rng);
        }
        let spread = self.book.ask_top - self.book.bid_top;
        if spread > 4 || (spread > 1 && self.rng.chance(600)) {
            // Someone improves the touch by one tick.
            if self.rng.chance(500) {
                self.book.bid_top += 1;
                reindex(&mut self.book.bids, -1, &mut self.rng);
            } else {
                self.book.ask_top -= 1;
                reindex(&mut self.book.asks, -1, &mut self.rng);
            }
        } else if spread == 1 && self.rng.chance(30) {
            // A touch level is pulled.
            if self.rng.chance(500) && self.book.bid_top > floor {
                self.book.bid_top -= 1;
                reindex(&mut self.book.bids, 1, &mut self.rng);
            } else {
                self.book.ask_top += 1;
                reindex(&mut self.book.asks, 1, &mut self.rng);
            }
        }
        let changes = 1 + self.rng.below(3);
        for _ in 0..changes {
            // Bias towards the touch: the smaller of two uniform indices.
            let i = self
                .rng
                .below(LEVELS as u64)
                .min(self.rng.below(LEVELS as u64)) as usize;
            let side = if self.rng.chance(500) {
                &mut self.book.bids
            } else {
                &mut self.book.asks
            };
            let mut q = fresh_qty(&mut self.rng);
            if q == side[i] {
                q += 1;
            }
            side[i] = q;
        }
    }

    /// An aggressor takes from the touch, sometimes through it into the next level.
    fn trade(&mut self, ts: u64) {
        let aggressor = if self.rng.chance(500) {
            Side::Buy
        } else {
            Side::Sell
        };
        let through = self.rng.chance(100);
        let prints = if through { 2 } else { 1 };
        for n in 0..prints {
            let (top, levels) = match aggressor {
                Side::Buy => (self.book.ask_top, &mut self.book.asks),
                Side::Sell => (self.book.bid_top, &mut self.book.bids),
            };
            // Never empty the best bid when that would push the deepest bid to zero.
            let can_empty = aggressor == Side::Buy || top > LEVELS as i64 + 1;
            let avail = if can_empty { levels[0] } else { levels[0] - 1 };
            if avail <= 0 {
                break;
            }
            let lots = if through && n == 0 {
                avail
            } else {
                1 + self.rng.below(avail as u64) as i64
            };
            levels[0] -= lots;
            let emptied = levels[0] == 0;
            self.trade_id += 1;
            let t = Trade {
                instrument: self.instrument,
                px: self.px(top),
                qty: self.qty(lots),
                aggressor,
                trade_id: self.trade_id,
            };
            self.queue.push((ts, Event::Trade(t)));
            if emptied {
                match aggressor {
                    Side::Buy => {
                        self.book.ask_top += 1;
                        reindex(&mut self.book.asks, 1, &mut self.rng);
                    }
                    Side::Sell => {
                        self.book.bid_top -= 1;
                        reindex(&mut self.book.bids, 1, &mut self.rng);
                    }
                }
            }
        }
    }

    /// Queues `self.diff` as depth chunks.
    fn push_depth(&mut self, ts: u64, snapshot: bool, first_id: u64, last_id: u64) {
        let n = self.diff.len();
        let mut start = 0;
        while start < n {
            let end = (start + DEPTH_CHUNK).min(n);
            let mut d = Depth {
                instrument: self.instrument,
                snapshot,
                first_chunk: start == 0,
                last_chunk: end == n,
                first_update_id: first_id,
                last_update_id: last_id,
                prev_update_id: 0,
                len: (end - start) as u8,
                levels: [Level::default(); DEPTH_CHUNK],
            };
            d.levels[..end - start].copy_from_slice(&self.diff[start..end]);
            self.queue.push((ts, Event::Depth(d)));
            start = end;
        }
    }

    /// Queues the published book's top as a `BookTicker`.
    fn push_ticker(&mut self, ts: u64) {
        let b = self.published;
        let t = BookTicker {
            instrument: self.instrument,
            bid_px: self.px(b.bid_top),
            bid_qty: self.qty(b.bids[0]),
            ask_px: self.px(b.ask_top),
            ask_qty: self.qty(b.asks[0]),
            update_id: self.update_id,
        };
        self.queue.push((ts, Event::BookTicker(t)));
    }
}

/// A new level's size in lots: mostly 1..=200, sometimes ten times more.
fn fresh_qty(rng: &mut SplitMix64) -> i64 {
    let q = 1 + rng.below(200) as i64;
    if rng.chance(100) {
        q * 10
    } else {
        q
    }
}

/// Re-bases a side so that new index `i` holds old index `i + off`; levels with no
/// old counterpart get fresh sizes.
fn reindex(levels: &mut SideQty, off: i64, rng: &mut SplitMix64) {
    let old = *levels;
    for (i, q) in levels.iter_mut().enumerate() {
        let j = i as i64 + off;
        *q = if (0..LEVELS as i64).contains(&j) {
            old[j as usize]
        } else {
            fresh_qty(rng)
        };
    }
}

/// Quantity (lots) at price `p` (ticks) on `side` of `b`, 0 when absent.
fn qty_at(b: &Book, side: Side, p: i64) -> i64 {
    let i = match side {
        Side::Buy => b.bid_top - p,
        Side::Sell => p - b.ask_top,
    };
    if (0..LEVELS as i64).contains(&i) {
        match side {
            Side::Buy => b.bids[i as usize],
            Side::Sell => b.asks[i as usize],
        }
    } else {
        0
    }
}

/// Appends the levels of `side` whose quantity differs between `old` and `new`.
fn diff_side(out: &mut Vec<Level>, side: Side, old: &Book, new: &Book, tick: i64, lot: i64) {
    let (lo_old, hi_old, lo_new, hi_new) = match side {
        Side::Buy => (
            old.bid_top - (LEVELS as i64 - 1),
            old.bid_top,
            new.bid_top - (LEVELS as i64 - 1),
            new.bid_top,
        ),
        Side::Sell => (
            old.ask_top,
            old.ask_top + (LEVELS as i64 - 1),
            new.ask_top,
            new.ask_top + (LEVELS as i64 - 1),
        ),
    };
    // Walk both windows (disjoint after a big jump) without visiting the gap.
    let visit = |p: i64, out: &mut Vec<Level>| {
        let (a, b) = (qty_at(old, side, p), qty_at(new, side, p));
        if a != b {
            out.push(Level {
                side,
                px: Dec(p * tick),
                qty: Dec(b * lot),
            });
        }
    };
    for p in lo_new..=hi_new {
        visit(p, out);
    }
    for p in lo_old..=hi_old {
        if p < lo_new || p > hi_new {
            visit(p, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // Reference outputs of SplitMix64 seeded with 0 (as in Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn reindex_shifts() {
        let mut r = SplitMix64::new(1);
        let mut a: SideQty = core::array::from_fn(|i| i as i64 + 1);
        reindex(&mut a, 2, &mut r);
        assert_eq!(a[0], 3);
        assert_eq!(a[LEVELS - 3], LEVELS as i64);
        let mut b: SideQty = core::array::from_fn(|i| i as i64 + 1);
        reindex(&mut b, -1, &mut r);
        assert_eq!(b[1], 1);
        assert_eq!(b[LEVELS - 1], LEVELS as i64 - 1);
    }
}
