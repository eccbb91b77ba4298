//! Arbitrage controller (Hummingbot's arbitrage_controller): two instruments with
//! interchangeable bases, one [arbitrage executor](crate::executors::arbitrage) per
//! direction — level 0 buys instrument 1 and sells instrument 2, level 1 the reverse.
//!
//! Each step (both books ready), nothing is created while the two directions' closed
//! executor counts differ by `max_executors_imbalance` or more, or while either
//! direction closed an executor less than `delay_between_executors` ago; otherwise
//! each direction with no live executor gets one for `order_amount` base at
//! `min_profitability`. Kestrel sizes legs in base (`order_amount`); Hummingbot derives
//! it from `total_amount_quote` at the mid of instrument 1.

use super::config::ArbitrageControllerConfig;
use super::{count, positive, whole_seconds, ControllerAction, ControllerField, ControllerView};
use super::{ExecutorInfo, UpdateError};
use crate::executors::{ArbitrageConfig, ExecutorConfig};
use crate::num::Dec;
use crate::types::InstrumentId;

const NS_PER_S: u64 = 1_000_000_000;

/// Arbitrage controller state.
#[derive(Clone, Debug, PartialEq)]
pub struct ArbitrageController {
    /// Instrument 1 and 2.
    pub instruments: [InstrumentId; 2],
    /// Taker fee rates of instrument 1 and 2.
    pub taker_fees: [Dec; 2],
    /// Base amount per leg.
    pub order_amount: Dec,
    /// Profitability to exceed.
    pub min_profitability: Dec,
    /// Pause after a direction's executor closed (ns).
    pub delay_ns: u64,
    /// Most closed executors one direction may lead by.
    pub max_imbalance: u32,
    /// Executors closed per direction.
    pub closed: [u64; 2],
    /// Last close time per direction (ns).
    pub last_close: [u64; 2],
}

impl ArbitrageController {
    /// Builds the controller; fees default to `default_fee`.
    pub fn new(
        cfg: &ArbitrageControllerConfig,
        a: InstrumentId,
        b: InstrumentId,
        default_fee: Dec,
    ) -> ArbitrageController {
        ArbitrageController {
            instruments: [a, b],
            taker_fees: [
                cfg.taker_fee_1.unwrap_or(default_fee),
                cfg.taker_fee_2.unwrap_or(default_fee),
            ],
            order_amount: cfg.order_amount,
            min_profitability: cfg.min_profitability,
            delay_ns: cfg.delay_between_executors.saturating_mul(NS_PER_S),
            max_imbalance: cfg.max_executors_imbalance,
            closed: [0; 2],
            last_close: [0; 2],
        }
    }

    /// The executor of direction `dir` (0: buy 1 / sell 2, 1: buy 2 / sell 1).
    pub fn executor_config(&self, dir: usize) -> ArbitrageConfig {
        let (buy, sell) = (dir, 1 - dir);
        ArbitrageConfig {
            buying: self.instruments[buy],
            selling: self.instruments[sell],
            order_amount: self.order_amount,
            min_profitability: self.min_profitability,
            buy_taker_fee: self.taker_fees[buy],
            sell_taker_fee: self.taker_fees[sell],
            max_retries: 3,
        }
    }

    /// One control step. Returns false while a book is not ready.
    pub fn step(&mut self, view: &ControllerView, actions: &mut Vec<ControllerAction>) -> bool {
        if self.instruments.iter().any(|i| view.mid(*i).is_none()) {
            return false;
        }
        let imbalance = self.closed[0].abs_diff(self.closed[1]);
        let resting = self
            .last_close
            .iter()
            .any(|t| *t > 0 && view.now < t.saturating_add(self.delay_ns));
        if imbalance >= self.max_imbalance as u64 || resting {
            return true;
        }
        for dir in 0..2 {
            if view.executors.iter().any(|e| e.level as usize == dir) {
                continue;
            }
            actions.push(ControllerAction::Create {
                level: dir as u16,
                config: ExecutorConfig::Arbitrage(self.executor_config(dir)),
            });
        }
        true
    }

    /// Counts a closed executor for its direction.
    pub fn on_closed(&mut self, info: &ExecutorInfo) {
        if let Some(n) = self.closed.get_mut(info.level as usize) {
            *n += 1;
            self.last_close[info.level as usize] = info.close_ts;
        }
    }

    /// Runtime update of an updatable field.
    ///
    /// # Errors
    /// See [`super::Controller::update`].
    pub fn update(&mut self, field: ControllerField, value: Dec) -> Result<(), UpdateError> {
        use ControllerField as F;
        match field {
            F::MinProfitability => {
                if value.raw() < 0 {
                    return Err(UpdateError::InvalidValue);
                }
                self.min_profitability = value;
            }
            F::OrderAmount => self.order_amount = positive(value)?,
            F::DelayBetweenExecutors => {
                self.delay_ns = whole_seconds(value)?.saturating_mul(NS_PER_S)
            }
            F::MaxExecutorsImbalance => self.max_imbalance = count(value)?,
            _ => return Err(UpdateError::NotUpdatable),
        }
        Ok(())
    }
}
