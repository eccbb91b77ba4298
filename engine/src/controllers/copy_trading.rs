//! Copy-trading controller: acts on the journaled [`Signal`]s of its source.
//!
//! It takes no control step on market data: every decision happens when a signal
//! input arrives ([`Engine::apply`](crate::Engine::apply) calls
//! [`CopyTradingController::decide`] and carries out the [`Decision`]). An OPEN creates
//! a [position executor](crate::executors::position) with the signal's stop loss /
//! take profit or the configured defaults and the configured time limit; its opening
//! order is a LIMIT at the signal's entry price, or a MARKET order when the signal
//! gives none. A CLOSE stops the matching executor without keeping its position.
//! Barrier exits (take profit, stop loss, time limit) are the executor's own.
//!
//! Every decision is a journaled output ([`Action::SignalDecision`](crate::Action)),
//! so a replay shows why each signal did or did not trade.

use super::ExecutorInfo;
use crate::config::{ConfigError, CopyTradingConfig, SignalSourceKind};
use crate::copy_trading::{CopyTrading, Decision, RejectReasonCode};
use crate::executors::{PositionConfig, TripleBarrier};
use crate::num::Dec;
use crate::signal::Signal;
use crate::types::{Instrument, InstrumentId, OrderType, Side};

/// Number of [`RejectReasonCode`] values (size of the per-reason counters).
pub const REJECT_REASONS: usize = 9;

/// Counters of what the controller did with its signals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Signals that opened a position.
    pub opened: u64,
    /// Signals that closed one.
    pub closed: u64,
    /// Refused signals by reason, indexed by `RejectReasonCode as usize`.
    pub rejected: [u64; REJECT_REASONS],
}

impl CopyStats {
    /// Refused signals of every reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

/// One position the controller opened that is still live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopiedPosition {
    /// Executor holding it.
    pub executor: u32,
    /// Id of the signal that opened it.
    pub signal: u64,
    /// Instrument.
    pub instrument: InstrumentId,
    /// BUY: long, SELL: short.
    pub side: Side,
    /// Amount asked of the executor (before lot rounding).
    pub amount: Dec,
}

/// Copy-trading controller state.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyTradingController {
    /// Validation and sizing rules.
    pub logic: CopyTrading,
    /// Source kind, for the status view.
    pub source_kind: SignalSourceKind,
    /// Source address (URL or bind address), for the status view.
    pub source_addr: String,
    /// Copy ratio, for the status view.
    pub copy_ratio: Dec,
    /// Live copied positions, oldest first.
    pub active: Vec<CopiedPosition>,
    /// Counters.
    pub stats: CopyStats,
}

impl CopyTradingController {
    /// Builds the controller listening to signal source `source`.
    ///
    /// # Errors
    /// Invalid fields or an allowed pair that is not an instrument of the session.
    pub fn new(
        cfg: &CopyTradingConfig,
        source: u8,
        instruments: &[Instrument],
    ) -> Result<CopyTradingController, ConfigError> {
        let logic = CopyTrading::new(cfg, source, instruments)?;
        let cap = cfg.allowed_pairs.len() * cfg.max_positions_per_pair as usize;
        Ok(CopyTradingController {
            logic,
            source_kind: cfg.source.kind,
            source_addr: match cfg.source.kind {
                SignalSourceKind::Webhook => cfg.source.bind.clone(),
                _ => cfg.source.url.clone().unwrap_or_default(),
            },
            copy_ratio: cfg.copy_ratio,
            active: Vec::with_capacity(cap.min(4096)),
            stats: CopyStats::default(),
        })
    }

    /// Decides on `signal` given the controller's live executors (its `executors`
    /// snapshot), the instrument's mid and the free quote balance; counts the outcome.
    /// Allocation-free.
    pub fn decide(
        &mut self,
        signal: &Signal,
        executors: &[ExecutorInfo],
        mid: Option<Dec>,
        available_quote: Dec,
    ) -> Decision {
        let active = &self.active;
        let live = executors.iter().filter(|e| e.is_active).filter_map(|e| {
            let p = active.iter().find(|p| p.executor == e.id)?;
            Some((e.id, p.instrument, p.side, p.signal))
        });
        let d = self.logic.decide(signal, mid, available_quote, live);
        match d {
            Decision::Open { .. } => self.stats.opened += 1,
            Decision::Close { .. } => self.stats.closed += 1,
            Decision::Reject(r) => self.reject(r),
        }
        d
    }

    /// Counts a refusal decided outside [`decide`](Self::decide) (e.g. inactive).
    pub fn reject(&mut self, r: RejectReasonCode) {
        self.stats.rejected[r as usize] += 1;
    }

    /// The position executor an `Open` decision asks for.
    pub fn position_config(d: &Decision, leverage: u32) -> Option<PositionConfig> {
        let Decision::Open {
            instrument,
            side,
            amount,
            entry_price,
            stop_loss,
            take_profit,
            time_limit,
            ..
        } = *d
        else {
            return None;
        };
        Some(PositionConfig {
            instrument,
            side,
            entry_price,
            amount,
            barrier: TripleBarrier {
                stop_loss,
                take_profit,
                time_limit_s: time_limit,
                trailing_stop: None,
                open_order_type: if entry_price.is_some() {
                    OrderType::Limit
                } else {
                    OrderType::Market
                },
                take_profit_order_type: OrderType::Market,
            },
            leverage,
            activation_bounds: None,
            timestamp: None,
        })
    }

    /// Records the executor created for an `Open`.
    pub fn opened(&mut self, d: &Decision, executor: u32) {
        if let Decision::Open {
            instrument,
            side,
            amount,
            signal_id,
            ..
        } = *d
        {
            self.active.push(CopiedPosition {
                executor,
                signal: signal_id,
                instrument,
                side,
                amount,
            });
        }
    }

    /// One of its executors terminated.
    pub fn on_closed(&mut self, info: &ExecutorInfo) {
        self.active.retain(|p| p.executor != info.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy_trading::RejectReasonCode as R;

    #[test]
    fn reject_counters_cover_every_reason() {
        let all = [
            R::WrongSource,
            R::PairNotAllowed,
            R::LowConfidence,
            R::Duplicate,
            R::MaxPositions,
            R::NoPrice,
            R::ZeroAmount,
            R::NoPosition,
            R::Inactive,
        ];
        assert_eq!(all.len(), REJECT_REASONS);
        let mut s = CopyStats::default();
        for (i, r) in all.iter().enumerate() {
            assert_eq!(*r as usize, i);
            s.rejected[*r as usize] += 1;
        }
        assert_eq!(s.rejected_total(), REJECT_REASONS as u64);
    }

    #[test]
    fn market_open_without_entry_and_limit_with_one() {
        let open = |entry| Decision::Open {
            instrument: 1,
            side: Side::Sell,
            amount: Dec::ONE,
            entry_price: entry,
            stop_loss: Some(Dec(20_000_000)),
            take_profit: None,
            time_limit: Some(60),
            signal_id: 7,
        };
        let m = CopyTradingController::position_config(&open(None), 3).unwrap();
        assert_eq!(m.barrier.open_order_type, OrderType::Market);
        assert_eq!(m.barrier.stop_loss, Some(Dec(20_000_000)));
        assert_eq!(m.barrier.time_limit_s, Some(60));
        assert_eq!(m.leverage, 3);
        assert_eq!((m.instrument, m.side, m.amount), (1, Side::Sell, Dec::ONE));
        let l = CopyTradingController::position_config(&open(Some(Dec::ONE)), 1).unwrap();
        assert_eq!(l.barrier.open_order_type, OrderType::Limit);
        assert_eq!(l.entry_price, Some(Dec::ONE));
        assert!(
            CopyTradingController::position_config(&Decision::Close { executor_id: 1 }, 1)
                .is_none()
        );
    }
}
