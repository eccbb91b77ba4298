//! Triple barrier (spec §2): stop loss, take profit, time limit and trailing stop,
//! shared by the position, grid and DCA executors. Barriers are pnl fractions
//! (0.05 = 5%); the trailing stop's two numbers are pnl fractions too, not prices.

use crate::num::Dec;
use crate::types::OrderType;

/// Trailing stop: armed once net pnl exceeds `activation_price`, then closes when pnl
/// falls below a trigger that trails the best pnl by `trailing_delta`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct TrailingStop {
    /// Net pnl fraction that arms the stop.
    pub activation_price: Dec,
    /// Distance of the trigger below the best pnl seen.
    pub trailing_delta: Dec,
}

/// Barriers of a position. Stop-loss and time-limit closes are always MARKET orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TripleBarrier {
    /// Close when net pnl ≤ −stop_loss.
    pub stop_loss: Option<Dec>,
    /// Close when net pnl ≥ take_profit (MARKET type) or rest a TP order at that distance.
    pub take_profit: Option<Dec>,
    /// Close this many seconds after the executor's timestamp.
    pub time_limit_s: Option<u64>,
    /// Trailing stop.
    pub trailing_stop: Option<TrailingStop>,
    /// Type of the opening order (default LIMIT).
    pub open_order_type: OrderType,
    /// Type of the take-profit order (default MARKET; a limit type rests a TP order).
    pub take_profit_order_type: OrderType,
}

impl Default for TripleBarrier {
    fn default() -> Self {
        TripleBarrier {
            stop_loss: None,
            take_profit: None,
            time_limit_s: None,
            trailing_stop: None,
            open_order_type: OrderType::Limit,
            take_profit_order_type: OrderType::Market,
        }
    }
}

impl TripleBarrier {
    /// Returns the barriers with stop loss, take profit and both trailing-stop numbers
    /// multiplied by `f` (the time limit is unchanged).
    pub fn with_volatility(self, f: Dec) -> Self {
        TripleBarrier {
            stop_loss: self.stop_loss.map(|v| v.mul(f)),
            take_profit: self.take_profit.map(|v| v.mul(f)),
            trailing_stop: self.trailing_stop.map(|t| TrailingStop {
                activation_price: t.activation_price.mul(f),
                trailing_delta: t.trailing_delta.mul(f),
            }),
            ..self
        }
    }

    /// True when the time limit counted from `origin` (ns) has passed at `now` (ns).
    pub fn expired(&self, origin: u64, now: u64) -> bool {
        self.time_limit_s
            .is_some_and(|s| origin.saturating_add(s.saturating_mul(1_000_000_000)) <= now)
    }
}

/// Trailing-stop progress: the trigger once armed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrailingState {
    /// Pnl fraction below which the stop fires (None until armed).
    pub trigger: Option<Dec>,
}

impl TrailingState {
    /// Feeds the current net pnl fraction; returns true when the stop fires. Arms at
    /// pnl > activation (trigger = pnl − delta); once armed fires when pnl < trigger,
    /// and ratchets the trigger up to pnl − delta whenever that is higher.
    pub fn update(&mut self, cfg: &TrailingStop, pnl: Dec) -> bool {
        match self.trigger {
            None => {
                if pnl > cfg.activation_price {
                    self.trigger = Some(pnl - cfg.trailing_delta);
                }
                false
            }
            Some(t) => {
                let hit = pnl < t;
                let raised = pnl - cfg.trailing_delta;
                if raised > t {
                    self.trigger = Some(raised);
                }
                hit
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn volatility_scales_barriers_not_time() {
        // Scenario 17 (Pd).
        let b = TripleBarrier {
            stop_loss: Some(d("0.1")),
            take_profit: Some(d("0.2")),
            time_limit_s: Some(60),
            trailing_stop: Some(TrailingStop {
                activation_price: d("0.1"),
                trailing_delta: d("0.1"),
            }),
            ..Default::default()
        }
        .with_volatility(d("1.5"));
        assert_eq!(b.stop_loss, Some(d("0.15")));
        assert_eq!(b.take_profit, Some(d("0.3")));
        assert_eq!(
            b.trailing_stop,
            Some(TrailingStop {
                activation_price: d("0.15"),
                trailing_delta: d("0.15")
            })
        );
        assert_eq!(b.time_limit_s, Some(60));
        assert_eq!(b.open_order_type, OrderType::Limit);
        assert_eq!(b.take_profit_order_type, OrderType::Market);
    }

    #[test]
    fn trailing_arms_ratchets_and_fires() {
        let cfg = TrailingStop {
            activation_price: d("0.02"),
            trailing_delta: d("0.01"),
        };
        let mut s = TrailingState::default();
        assert!(!s.update(&cfg, d("0.02")));
        assert_eq!(s.trigger, None);
        assert!(!s.update(&cfg, d("0.03")));
        assert_eq!(s.trigger, Some(d("0.02")));
        assert!(!s.update(&cfg, d("0.05")));
        assert_eq!(s.trigger, Some(d("0.04")));
        // Falling back does not lower the trigger.
        assert!(!s.update(&cfg, d("0.045")));
        assert_eq!(s.trigger, Some(d("0.04")));
        assert!(s.update(&cfg, d("0.039")));
    }

    #[test]
    fn time_limit_counts_from_origin() {
        let b = TripleBarrier {
            time_limit_s: Some(60),
            ..Default::default()
        };
        assert!(!b.expired(1_000, 1_000 + 59_999_999_999));
        assert!(b.expired(1_000, 1_000 + 60_000_000_000));
        assert!(!TripleBarrier::default().expired(0, u64::MAX));
    }
}
