//! XEMM controller (Hummingbot's xemm_multiple_levels): maker orders on one instrument
//! hedged on another, one [XEMM executor](crate::executors::xemm) per level.
//!
//! Levels are tagged `0..buys` for maker BUY levels, then the maker SELL levels. Each
//! step (both books ready): imbalance = maker-BUY executors no longer active with a
//! fill (closed, or hedging) − maker-SELL ones; every BUY level with no active executor gets one while
//! `imbalance < max_executors_imbalance`, every SELL level while
//! `imbalance > −max_executors_imbalance`, for `amount_quote / maker mid` base (rounded
//! down to the maker's lot) at the level's target profitability. A maker BUY buys on
//! the maker instrument and sells on the taker one; a maker SELL the reverse.

use super::config::{XemmControllerConfig, XemmLevel};
use super::{count, ControllerAction, ControllerField, ControllerView, ExecutorInfo};
use super::{positive, UpdateError};
use crate::config::VenueConfig;
use crate::executors::{ExecutorConfig, XemmConfig};
use crate::num::Dec;
use crate::types::{InstrumentId, Side};

/// XEMM controller state.
#[derive(Clone, Debug, PartialEq)]
pub struct XemmController {
    /// Instrument of the maker orders.
    pub maker: InstrumentId,
    /// Instrument of the hedges.
    pub taker: InstrumentId,
    /// Maker BUY levels, then maker SELL levels.
    pub levels: Vec<XemmLevel>,
    /// Number of BUY levels.
    pub buys: usize,
    /// Re-quote below this profitability.
    pub min_profitability: Dec,
    /// Re-quote above this profitability.
    pub max_profitability: Dec,
    /// Most filled round trips one side may lead by.
    pub max_imbalance: u32,
    /// Maker fee rate.
    pub maker_fee: Dec,
    /// Taker fee rate.
    pub taker_fee: Dec,
    /// Executors closed with a fill: maker BUY, maker SELL.
    pub filled: [u64; 2],
}

impl XemmController {
    /// Builds the controller; fees default to the venue's.
    pub fn new(
        cfg: &XemmControllerConfig,
        maker: InstrumentId,
        taker: InstrumentId,
        venue: &VenueConfig,
    ) -> XemmController {
        let mut levels = cfg.buy_levels.clone();
        levels.extend_from_slice(&cfg.sell_levels);
        XemmController {
            maker,
            taker,
            levels,
            buys: cfg.buy_levels.len(),
            min_profitability: cfg.min_profitability,
            max_profitability: cfg.max_profitability,
            max_imbalance: cfg.max_executors_imbalance,
            maker_fee: cfg.maker_fee.unwrap_or(venue.maker_fee),
            taker_fee: cfg.taker_fee.unwrap_or(venue.taker_fee),
            filled: [0; 2],
        }
    }

    /// Maker side of level `n`.
    pub fn side(&self, n: usize) -> Side {
        if n < self.buys {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// The executor of level `n` for `amount` base.
    pub fn executor_config(&self, n: usize, amount: Dec) -> XemmConfig {
        let side = self.side(n);
        let (buying, selling) = match side {
            Side::Buy => (self.maker, self.taker),
            Side::Sell => (self.taker, self.maker),
        };
        XemmConfig {
            buying,
            selling,
            maker_side: side,
            order_amount: amount,
            min_profitability: self.min_profitability,
            target_profitability: self.levels[n].target_profitability,
            max_profitability: self.max_profitability,
            maker_fee: self.maker_fee,
            taker_fee: self.taker_fee,
            max_retries: 0,
        }
    }

    /// One control step. Returns false while a book is not ready.
    pub fn step(&mut self, view: &ControllerView, actions: &mut Vec<ControllerAction>) -> bool {
        let (Some(mid), Some(_), Some(inst)) = (
            view.mid(self.maker),
            view.mid(self.taker),
            view.instrument(self.maker),
        ) else {
            return false;
        };
        // Hummingbot counts every executor that is no longer active and has a fill,
        // so one still hedging counts already.
        let hedging = view
            .executors
            .iter()
            .filter(|e| !e.is_active && e.filled_amount_quote.raw() != 0)
            .fold(0i64, |a, e| match self.side(e.level as usize) {
                Side::Buy => a + 1,
                Side::Sell => a - 1,
            });
        let imbalance = self.filled[0] as i64 - self.filled[1] as i64 + hedging;
        let max = self.max_imbalance as i64;
        for n in 0..self.levels.len() {
            let allowed = match self.side(n) {
                Side::Buy => imbalance < max,
                Side::Sell => imbalance > -max,
            };
            if !allowed || view.active().any(|e| e.level as usize == n) {
                continue;
            }
            let Some(amount) = self.levels[n].amount_quote.div(mid) else {
                continue;
            };
            let amount = amount.floor_to(inst.spec.lot_size);
            if amount.raw() <= 0 {
                continue;
            }
            actions.push(ControllerAction::Create {
                level: n as u16,
                config: ExecutorConfig::Xemm(self.executor_config(n, amount)),
            });
        }
        true
    }

    /// Counts an executor that closed with a fill for its maker side.
    pub fn on_closed(&mut self, info: &ExecutorInfo) {
        if (info.level as usize) < self.levels.len() && info.filled_amount_quote.raw() != 0 {
            let k = match self.side(info.level as usize) {
                Side::Buy => 0,
                Side::Sell => 1,
            };
            self.filled[k] += 1;
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
                if value.raw() < 0 || self.levels.iter().any(|l| l.target_profitability < value) {
                    return Err(UpdateError::InvalidValue);
                }
                self.min_profitability = value;
            }
            F::MaxProfitability => {
                if self.levels.iter().any(|l| l.target_profitability > value) {
                    return Err(UpdateError::InvalidValue);
                }
                self.max_profitability = value;
            }
            F::TargetProfitability(n) => {
                let ok = value >= self.min_profitability && value <= self.max_profitability;
                match self.levels.get_mut(n as usize) {
                    Some(l) if ok => l.target_profitability = value,
                    _ => return Err(UpdateError::InvalidValue),
                }
            }
            F::LevelAmountQuote(n) => {
                let v = positive(value)?;
                let l = self
                    .levels
                    .get_mut(n as usize)
                    .ok_or(UpdateError::InvalidValue)?;
                l.amount_quote = v;
            }
            F::MaxExecutorsImbalance => self.max_imbalance = count(value)?,
            _ => return Err(UpdateError::NotUpdatable),
        }
        Ok(())
    }
}
