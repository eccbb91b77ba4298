//! Per-controller performance (spec §9): what stored executors realized, what live
//! executors carry, and the positions executors left open (POSITION_HOLD), netted
//! per instrument.

use crate::book::Book;
use crate::events::CloseType;
use crate::executors::{Executor, Held};
use crate::num::Dec;
use crate::portfolio::Position;
use crate::types::{InstrumentId, Side};

/// A position kept by executors that closed with POSITION_HOLD, netted per instrument
/// (one bucket per instrument: spot and one-way netting).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PositionHold {
    /// Instrument.
    pub instrument: InstrumentId,
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

/// Cached performance of one controller.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Performance {
    /// Net pnl realized by stored executors (quote), not counting POSITION_HOLD ones.
    pub realized: Dec,
    /// Executed notional of stored executors (quote), not counting POSITION_HOLD ones.
    pub volume: Dec,
    /// Fees of stored executors (quote).
    pub fees: Dec,
    /// Executors closed, by close type (index = CloseType as usize).
    pub close_types: [u64; 11],
    /// Executors created.
    pub created: u64,
    /// Positions held, in order of first appearance.
    pub positions: Vec<PositionHold>,
}

impl Performance {
    /// Folds a terminated executor in (Hummingbot's StoreExecutorAction).
    pub fn store(&mut self, e: &Executor, books: &[Book]) {
        if let Some(ct) = e.core.close_type {
            self.close_types[ct as usize] += 1;
        }
        self.fees += e.fees_quote();
        if e.core.close_type == Some(CloseType::PositionHold) {
            let held = e.logic_ref().held();
            if held != Held::default() {
                let inst = e.instrument();
                let i = match self.positions.iter().position(|p| p.instrument == inst) {
                    Some(i) => i,
                    None => {
                        self.positions.push(PositionHold {
                            instrument: inst,
                            position: Position::default(),
                        });
                        self.positions.len() - 1
                    }
                };
                self.positions[i].add(&held);
            }
        } else {
            self.realized += e.net_pnl_quote(books);
            self.volume += e.filled_amount_quote(books);
        }
    }
}

/// A controller's performance report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Realized pnl: stored executors, plus held positions' realized pnl net of their
    /// fees (Kestrel's correction).
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
    /// Held positions: instrument, net base, entry, realized, unrealized at mid.
    pub positions: Vec<(InstrumentId, Dec, Dec, Dec, Dec)>,
}

/// Builds the report from the cache, the live executors and the books.
pub fn report<'a>(
    perf: &Performance,
    live: impl Iterator<Item = &'a Executor>,
    books: &[Book],
) -> Report {
    let mut r = Report {
        realized: perf.realized,
        volume: perf.volume,
        fees: perf.fees,
        close_types: perf.close_types,
        ..Default::default()
    };
    for e in live {
        r.unrealized += e.net_pnl_quote(books);
        r.volume += e.filled_amount_quote(books);
        r.fees += e.fees_quote();
    }
    for p in &perf.positions {
        let pos = &p.position;
        let mid = books.get(p.instrument as usize).and_then(|b| b.mid());
        let unreal = mid.map_or(Dec::ZERO, |m| pos.unrealized(m));
        let realized = pos.realized - pos.fees;
        r.realized += realized;
        r.unrealized += unreal;
        r.volume += pos.volume;
        r.positions
            .push((p.instrument, pos.net, pos.entry, realized, unreal));
    }
    r.global = r.realized + r.unrealized;
    let pct = |v: Dec| v.mul(Dec::from_int(100)).div(r.volume).unwrap_or(Dec::ZERO);
    r.global_pct = pct(r.global);
    r.realized_pct = pct(r.realized);
    r.unrealized_pct = pct(r.unrealized);
    r
}
