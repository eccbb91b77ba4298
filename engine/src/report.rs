//! Per-controller performance (spec §9): what stored executors realized, what live
//! and done-but-unstored executors carry, and the positions executors left open
//! (POSITION_HOLD), netted per (instrument, side bucket).

use crate::book::Book;
use crate::events::{CloseType, RunStatus};
use crate::executors::{Executor, Held};
use crate::num::Dec;
use crate::portfolio::Position;
use crate::types::{InstrumentId, Market, Side};

/// A position kept by executors that closed with POSITION_HOLD (or loaded from an
/// earlier session, or declared as an initial position), netted per bucket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PositionHold {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side bucket: `None` nets long and short (spot, one-way perpetuals); hedge-mode
    /// order executors keep `Some(side)` buckets apart.
    pub side: Option<Side>,
    /// Netted position: net base, average entry, realized (before fees), fees, volume.
    pub position: Position,
}

impl PositionHold {
    /// Merges an executor's held fills: buys then sells, each at its average price.
    pub fn add(&mut self, held: &Held) {
        if let Some(px) = held.buy_quote.div(held.buy_base) {
            self.position
                .apply_fill(Side::Buy, px, held.buy_base, Dec::ZERO);
        }
        if let Some(px) = held.sell_quote.div(held.sell_base) {
            self.position
                .apply_fill(Side::Sell, px, held.sell_base, Dec::ZERO);
        }
        self.position.fees += held.fees;
    }
}

/// Cached performance of one controller: what stored executors left behind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Performance {
    /// Net pnl realized by stored executors (quote), not counting POSITION_HOLD ones.
    pub realized: Dec,
    /// Executed notional of stored executors (quote), not counting POSITION_HOLD ones.
    pub volume: Dec,
    /// Fees of stored executors (quote).
    pub fees: Dec,
    /// Stored executors, by close type (index = CloseType as usize).
    pub close_types: [u64; 11],
    /// Executors created.
    pub created: u64,
    /// Executors stored (folded in and forgotten).
    pub stored: u64,
    /// Positions held, in order of first appearance.
    pub positions: Vec<PositionHold>,
}

impl Performance {
    fn bucket(&mut self, instrument: InstrumentId, side: Option<Side>) -> &mut PositionHold {
        let i = match self
            .positions
            .iter()
            .position(|p| p.instrument == instrument && p.side == side)
        {
            Some(i) => i,
            None => {
                self.positions.push(PositionHold {
                    instrument,
                    side,
                    position: Position::default(),
                });
                self.positions.len() - 1
            }
        };
        &mut self.positions[i]
    }

    /// Merges a terminated POSITION_HOLD executor's exposure into its bucket (once,
    /// when it terminates). `market` is its instrument's market kind.
    pub fn hold(&mut self, e: &Executor, market: Market) {
        if e.core.close_type != Some(CloseType::PositionHold) {
            return;
        }
        let logic = e.logic_ref();
        let held = logic.held();
        if held != Held::default() {
            self.bucket(e.instrument(), logic.hold_side(market))
                .add(&held);
        }
    }

    /// Folds a terminated executor in (Hummingbot's StoreExecutorAction): its close
    /// type is counted and, unless it held its position, its pnl and volume realized.
    pub fn store(&mut self, e: &Executor, books: &[Book]) {
        if let Some(ct) = e.core.close_type {
            self.close_types[ct as usize] += 1;
        }
        self.stored += 1;
        self.fees += e.fees_quote();
        if e.core.close_type != Some(CloseType::PositionHold) {
            self.realized += e.net_pnl_quote(books);
            self.volume += e.filled_amount_quote(books);
        }
    }

    /// Adds a position carried over from an earlier session (spec §9 "stored
    /// positions"): merged into its bucket as it was (entry, volume, fees, realized).
    pub fn load(&mut self, instrument: InstrumentId, side: Option<Side>, p: Position) {
        let b = self.bucket(instrument, side);
        if b.position == Position::default() {
            b.position = p;
        } else {
            let s = if p.net.raw() >= 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            b.position.apply_fill(s, p.entry, p.net.abs(), p.fees);
            b.position.volume += p.volume - p.entry.mul(p.net.abs());
            b.position.realized += p.realized;
        }
    }

    /// Declares an initial position (controller `initial_positions`): ±`amount` at
    /// entry `mid`, no volume, no fees.
    pub fn initial(&mut self, instrument: InstrumentId, side: Side, amount: Dec, mid: Dec) {
        let net = match side {
            Side::Buy => amount,
            Side::Sell => -amount,
        };
        self.bucket(instrument, None).position = Position {
            net,
            entry: mid,
            ..Position::default()
        };
    }
}

/// One held position in a report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeldSummary {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side bucket (`None`: netted).
    pub side: Option<Side>,
    /// Signed base (+ long, − short).
    pub net: Dec,
    /// Break-even (average entry) price.
    pub entry: Dec,
    /// Realized pnl net of the position's fees.
    pub realized: Dec,
    /// Unrealized pnl at mid (0 without a mid).
    pub unrealized: Dec,
    /// Traded notional.
    pub volume: Dec,
}

/// A controller's performance report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Realized pnl: stored and done executors, plus held positions' realized pnl net
    /// of their fees (Kestrel's correction).
    pub realized: Dec,
    /// Unrealized: live executors' net pnl plus held positions marked at mid.
    pub unrealized: Dec,
    /// realized + unrealized.
    pub global: Dec,
    /// Volume (quote).
    pub volume: Dec,
    /// Fees (quote).
    pub fees: Dec,
    /// global / volume × 100 (0 without volume).
    pub global_pct: Dec,
    /// realized / volume × 100.
    pub realized_pct: Dec,
    /// unrealized / volume × 100.
    pub unrealized_pct: Dec,
    /// Executors closed, by close type.
    pub close_types: [u64; 11],
    /// Held positions.
    pub positions: Vec<HeldSummary>,
}

/// Builds the report from the cache, the controller's executors (live ones and
/// terminated ones not stored yet) and the books.
pub fn report<'a>(
    perf: &Performance,
    executors: impl Iterator<Item = &'a Executor>,
    books: &[Book],
) -> Report {
    let mut r = Report {
        realized: perf.realized,
        volume: perf.volume,
        fees: perf.fees,
        close_types: perf.close_types,
        ..Default::default()
    };
    for e in executors {
        r.fees += e.fees_quote();
        if e.core.status != RunStatus::Terminated {
            r.unrealized += e.net_pnl_quote(books);
            r.volume += e.filled_amount_quote(books);
            continue;
        }
        if let Some(ct) = e.core.close_type {
            r.close_types[ct as usize] += 1;
        }
        if e.core.close_type != Some(CloseType::PositionHold) {
            r.realized += e.net_pnl_quote(books);
            r.volume += e.filled_amount_quote(books);
        }
    }
    for p in &perf.positions {
        let pos = &p.position;
        let mid = books.get(p.instrument as usize).and_then(|b| b.mid());
        let unrealized = mid.map_or(Dec::ZERO, |m| pos.unrealized(m));
        let realized = pos.realized - pos.fees;
        r.realized += realized;
        r.unrealized += unrealized;
        r.volume += pos.volume;
        r.positions.push(HeldSummary {
            instrument: p.instrument,
            side: p.side,
            net: pos.net,
            entry: pos.entry,
            realized,
            unrealized,
            volume: pos.volume,
        });
    }
    r.global = r.realized + r.unrealized;
    let pct = |v: Dec| v.mul(Dec::from_int(100)).div(r.volume).unwrap_or(Dec::ZERO);
    r.global_pct = pct(r.global);
    r.realized_pct = pct(r.realized);
    r.unrealized_pct = pct(r.unrealized);
    r
}
