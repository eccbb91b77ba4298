//! Market-making controller (Hummingbot's MarketMakingControllerBase, spec §10; its
//! pmm_dynamic / dman_maker variant with `type = "dman"` or `spread_mode = "natr"`).
//!
//! Each step, in order:
//! 1. Spot rebalance (opt in with `skip_rebalance = false`; never on perpetuals, nor
//!    while a rebalance executor is active): the base the sell levels need,
//!    `Σ sell level quote / reference`, is compared with the base this controller holds
//!    from executors that closed keeping their position; a difference above
//!    `required · position_rebalance_threshold_pct` is bought or sold with a MARKET
//!    order executor on level [`REBALANCE_LEVEL`] (`position_rebalance`).
//! 2. Stop: every active executor that is not trading and is older than
//!    `executor_refresh_time` (keep_position false).
//! 3. Create: every level (`buy_i`, then `sell_i`) that is not working gets an executor at `ref·(1 − spread·m)` (BUY, rounded down to the tick)
//!    or `ref·(1 + spread·m)` (SELL, rounded up), for `amount_quote / price` base
//!    rounded down to the lot. `m` is 1 with fixed spreads, the NATR with dynamic ones.
//!    A level whose factor `1 − spread·m` is not positive is skipped.
//!
//! A level is working while it has an active executor, an executor closing on a stop
//! loss, or is cooling down. With a stop loss, take profit, time limit or trailing stop configured a level is a
//! position executor with that triple barrier (open LIMIT or LIMIT_MAKER); without any
//! it is an order executor that holds its fill. A level cools down for
//! `cooldown_time` after a stop loss, and (Kestrel, as classic `filled_order_delay`)
//! after an order executor closed holding a fill.

use super::config::{barrier, TpOrderType, TrailingStopConfig};
use super::indicators::{Atr, CandleCursor};
use super::{
    fraction, positive, whole_seconds, ControllerAction, ControllerField, ControllerView,
    ExecutorInfo, UpdateError,
};
use crate::config::{interval_seconds, DecList, MakerOrderType, MarketMakingConfig};
use crate::events::CloseType;
use crate::executors::{
    ExecutionStrategy, ExecutorConfig, OrderExecutorConfig, PositionConfig, TripleBarrier,
};
use crate::num::{Dec, SCALE};
use crate::types::{Instrument, InstrumentId, Market, OrderType, Side};

const NS_PER_S: u64 = 1_000_000_000;

/// Level tag of the spot rebalance executor (Hummingbot's `position_rebalance`).
pub const REBALANCE_LEVEL: u16 = u16::MAX - 1;

/// One quoting level (`buy_i` / `sell_i`).
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// Side.
    pub side: Side,
    /// Distance from the reference price: a fraction, or a NATR multiple.
    pub spread: Dec,
    /// Weight (`buy_amounts_pct` / `sell_amounts_pct`).
    pub weight: Dec,
    /// Quote amount.
    pub amount_quote: Dec,
    /// No new executor before this time.
    pub cooldown_until: u64,
}

impl Level {
    /// Hummingbot's level id: `buy_0`, `sell_1`, …
    pub fn name(&self, index: usize, buys: usize) -> String {
        match self.side {
            Side::Buy => format!("buy_{index}"),
            Side::Sell => format!("sell_{}", index - buys),
        }
    }
}

/// NATR spread multiplier over one candle series.
#[derive(Clone, Debug, PartialEq)]
pub struct NatrSpread {
    /// Candle interval (s).
    pub interval_s: u32,
    atr: Atr,
    cursor: CandleCursor,
    /// Last NATR computed (None until enough candles).
    pub natr: Option<Dec>,
}

impl NatrSpread {
    fn update(&mut self, view: &ControllerView, i: InstrumentId) -> Option<Dec> {
        let series = view.candles(i, self.interval_s)?;
        let atr = &mut self.atr;
        let forming = self.cursor.advance(series, |c| {
            atr.push(c);
        })?;
        self.natr = self.atr.peek_natr(forming);
        self.natr
    }
}

/// Market-making controller state.
#[derive(Clone, Debug, PartialEq)]
pub struct MarketMaking {
    /// Instrument quoted.
    pub instrument: InstrumentId,
    /// Spot or perpetual.
    pub market: Market,
    /// Buy levels first, then sell levels.
    pub levels: Vec<Level>,
    /// Number of buy levels.
    pub buys: usize,
    /// Quote budget split across the levels by weight.
    pub total_amount_quote: Dec,
    /// Fixed quote amount per level (overrides the split).
    pub order_amount_quote: Option<Dec>,
    /// `executor_refresh_time` in ns.
    pub refresh_ns: u64,
    /// `cooldown_time` in ns.
    pub cooldown_ns: u64,
    /// Quote order type.
    pub order_type: MakerOrderType,
    /// Stop loss (0: none).
    pub stop_loss: Dec,
    /// Take profit (0: none).
    pub take_profit: Dec,
    /// Time limit in seconds (0: none).
    pub time_limit_s: u64,
    /// Trailing stop.
    pub trailing_stop: Option<TrailingStopConfig>,
    /// Take-profit order type.
    pub tp_type: TpOrderType,
    /// Leverage carried by position executors.
    pub leverage: u32,
    /// Rebalance threshold (fraction of the required base).
    pub rebalance_threshold: Dec,
    /// Spot rebalance disabled.
    pub skip_rebalance: bool,
    /// NATR multiplier source (dynamic spreads).
    pub natr: Option<NatrSpread>,
    /// Spread multiplier of the last step (1 with fixed spreads).
    pub spread_multiplier: Dec,
}

impl MarketMaking {
    /// Builds the levels: amount per level = weight / Σ weights × total (or
    /// `order_amount_quote`).
    ///
    /// # Errors
    /// A bad `candles_interval`.
    pub fn new(
        cfg: &MarketMakingConfig,
        inst: &Instrument,
        dman: bool,
    ) -> Result<MarketMaking, String> {
        let weights = |spreads: &[Dec], pcts: &Option<DecList>| -> Vec<Dec> {
            match pcts {
                Some(p) => p.0.clone(),
                None => vec![Dec::ONE; spreads.len()],
            }
        };
        let bw = weights(&cfg.buy_spreads.0, &cfg.buy_amounts_pct);
        let sw = weights(&cfg.sell_spreads.0, &cfg.sell_amounts_pct);
        let mut levels = Vec::new();
        for (side, spreads, ws) in [
            (Side::Buy, &cfg.buy_spreads.0, &bw),
            (Side::Sell, &cfg.sell_spreads.0, &sw),
        ] {
            for (s, w) in spreads.iter().zip(ws) {
                levels.push(Level {
                    side,
                    spread: *s,
                    weight: *w,
                    amount_quote: Dec::ZERO,
                    cooldown_until: 0,
                });
            }
        }
        let natr = match (cfg.natr_mode(dman), &cfg.candles_interval) {
            (true, Some(iv)) => Some(NatrSpread {
                interval_s: interval_seconds(iv).map_err(|e| e.0)?,
                atr: Atr::new(cfg.natr_length),
                cursor: CandleCursor::default(),
                natr: None,
            }),
            (true, None) => return Err("NATR spreads need candles_interval".into()),
            _ => None,
        };
        let mut mm = MarketMaking {
            instrument: inst.id,
            market: inst.spec.market,
            buys: cfg.buy_spreads.0.len(),
            levels,
            total_amount_quote: cfg.total_amount_quote,
            order_amount_quote: cfg.order_amount_quote,
            refresh_ns: cfg.executor_refresh_time.saturating_mul(NS_PER_S),
            cooldown_ns: cfg.cooldown_time.saturating_mul(NS_PER_S),
            order_type: cfg.order_type,
            stop_loss: cfg.stop_loss.unwrap_or(Dec::ZERO),
            take_profit: cfg.take_profit.unwrap_or(Dec::ZERO),
            time_limit_s: cfg.time_limit.unwrap_or(0),
            trailing_stop: cfg.trailing_stop,
            tp_type: cfg.take_profit_order_type,
            leverage: super::config::resolve_leverage(cfg.leverage, &inst.spec),
            rebalance_threshold: cfg.position_rebalance_threshold_pct,
            skip_rebalance: cfg.skip_rebalance,
            natr,
            spread_multiplier: Dec::ONE,
        };
        mm.split_amounts();
        Ok(mm)
    }

    /// Recomputes each level's quote amount from the weights and the budget.
    fn split_amounts(&mut self) {
        let total_w = self.levels.iter().fold(Dec::ZERO, |a, l| a + l.weight);
        for l in &mut self.levels {
            l.amount_quote = match self.order_amount_quote {
                Some(q) => q,
                None => l
                    .weight
                    .mul(self.total_amount_quote)
                    .div(total_w)
                    .unwrap_or(Dec::ZERO),
            };
        }
    }

    /// Price and base amount of a level for reference price `reference` and spread
    /// multiplier `mult`; None when the spread reaches the whole price.
    pub fn level_order(
        &self,
        level: &Level,
        reference: Dec,
        mult: Dec,
        inst: &Instrument,
    ) -> Option<(Dec, Dec)> {
        let spread = level.spread.mul(mult);
        let factor = match level.side {
            Side::Buy => Dec(SCALE - spread.raw()),
            Side::Sell => Dec(SCALE + spread.raw()),
        };
        if factor.raw() <= 0 {
            return None;
        }
        let raw = reference.mul(factor);
        let price = match level.side {
            Side::Buy => raw.floor_to(inst.spec.tick_size),
            Side::Sell => raw.ceil_to(inst.spec.tick_size),
        };
        let amount = level.amount_quote.div(price)?.floor_to(inst.spec.lot_size);
        Some((price, amount))
    }

    /// The barriers of a level, when any is configured.
    pub fn barrier(&self) -> Option<TripleBarrier> {
        let none = self.stop_loss.raw() <= 0
            && self.take_profit.raw() <= 0
            && self.time_limit_s == 0
            && self.trailing_stop.is_none();
        if none {
            return None;
        }
        let open = match self.order_type {
            MakerOrderType::Limit => OrderType::Limit,
            MakerOrderType::LimitMaker => OrderType::LimitMaker,
        };
        Some(barrier(
            self.stop_loss,
            self.take_profit,
            self.time_limit_s,
            self.trailing_stop,
            open,
            self.tp_type,
        ))
    }

    /// Hummingbot's `get_executor_config`: a position executor with the triple barrier
    /// when one is configured, else an order executor.
    pub fn executor_config(&self, side: Side, price: Dec, amount: Dec) -> ExecutorConfig {
        match self.barrier() {
            Some(b) => ExecutorConfig::Position(PositionConfig {
                instrument: self.instrument,
                side,
                entry_price: Some(price),
                amount,
                barrier: b,
                leverage: self.leverage,
                activation_bounds: None,
                timestamp: None,
            }),
            None => ExecutorConfig::Order(OrderExecutorConfig {
                instrument: self.instrument,
                side,
                amount,
                strategy: match self.order_type {
                    MakerOrderType::Limit => ExecutionStrategy::Limit,
                    MakerOrderType::LimitMaker => ExecutionStrategy::LimitMaker,
                },
                price,
                position_action: Default::default(),
            }),
        }
    }

    /// Base the sell levels need at `reference`: Σ sell level quote / reference.
    pub fn required_base(&self, reference: Dec) -> Dec {
        let quote = self.levels[self.buys..]
            .iter()
            .fold(Dec::ZERO, |a, l| a + l.amount_quote);
        quote.div(reference).unwrap_or(Dec::ZERO)
    }

    /// One control step (see the module doc). Returns false while the book (or the
    /// NATR) is not ready.
    pub fn step(&mut self, view: &ControllerView, actions: &mut Vec<ControllerAction>) -> bool {
        let i = self.instrument;
        let (Some(reference), Some(inst)) = (view.mid(i), view.instrument(i)) else {
            return false;
        };
        let mult = match &mut self.natr {
            None => Dec::ONE,
            Some(n) => match n.update(view, i) {
                Some(v) => v,
                None => return false,
            },
        };
        self.spread_multiplier = mult;
        let now = view.now;
        if !self.skip_rebalance
            && self.market == Market::Spot
            && !view.active().any(|e| e.level == REBALANCE_LEVEL)
        {
            let required = self.required_base(reference);
            let held = view.held_base(i);
            if let Some((side, amount)) = rebalance_order(required, held, self.rebalance_threshold)
            {
                let amount = amount.floor_to(inst.spec.lot_size);
                if amount.raw() > 0 {
                    actions.push(ControllerAction::Create {
                        level: REBALANCE_LEVEL,
                        config: ExecutorConfig::Order(OrderExecutorConfig {
                            instrument: i,
                            side,
                            amount,
                            strategy: ExecutionStrategy::Market,
                            price: Dec::ZERO,
                            position_action: Default::default(),
                        }),
                    });
                }
            }
        }
        for e in view.active() {
            if !e.is_trading && now.saturating_sub(e.created_ts) > self.refresh_ns {
                actions.push(ControllerAction::Stop {
                    executor: e.id,
                    keep_position: false,
                });
            }
        }
        for (n, level) in self.levels.iter().enumerate() {
            let working = now < level.cooldown_until
                || view.executors.iter().any(|e| {
                    e.level as usize == n
                        && (e.is_active || e.close_type == Some(CloseType::StopLoss))
                });
            if working {
                continue;
            }
            let Some((price, amount)) = self.level_order(level, reference, mult, inst) else {
                continue;
            };
            if amount.raw() <= 0 {
                continue;
            }
            actions.push(ControllerAction::Create {
                level: n as u16,
                config: self.executor_config(level.side, price, amount),
            });
        }
        true
    }

    /// An executor of this controller terminated: start the level's cooldown if it
    /// closed on a stop loss, or as an order executor holding a fill.
    pub fn on_closed(&mut self, info: &ExecutorInfo) {
        let Some(l) = self.levels.get_mut(info.level as usize) else {
            return;
        };
        let filled = info.filled_amount_quote.raw() > 0;
        let cooldown = match info.close_type {
            Some(CloseType::StopLoss) => true,
            Some(CloseType::PositionHold) => filled,
            _ => false,
        };
        if cooldown {
            l.cooldown_until = l
                .cooldown_until
                .max(info.close_ts.saturating_add(self.cooldown_ns));
        }
    }

    /// Runtime update of an updatable field.
    ///
    /// # Errors
    /// See [`super::Controller::update`].
    pub fn update(&mut self, field: ControllerField, value: Dec) -> Result<(), UpdateError> {
        use ControllerField as F;
        let max_spread = if self.natr.is_some() {
            Dec::from_int(1000)
        } else {
            Dec::ONE
        };
        let buys = self.buys;
        let level = |mm: &MarketMaking, side: Side, n: u16| -> Result<usize, UpdateError> {
            let (start, len) = match side {
                Side::Buy => (0, buys),
                Side::Sell => (buys, mm.levels.len() - buys),
            };
            if (n as usize) < len {
                Ok(start + n as usize)
            } else {
                Err(UpdateError::InvalidValue)
            }
        };
        match field {
            F::TotalAmountQuote => {
                self.total_amount_quote = positive(value)?;
                self.split_amounts();
            }
            F::BuySpread(n) | F::SellSpread(n) => {
                let side = if matches!(field, F::BuySpread(_)) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let k = level(self, side, n)?;
                if value.raw() < 0 || value >= max_spread {
                    return Err(UpdateError::InvalidValue);
                }
                self.levels[k].spread = value;
            }
            F::BuyAmountPct(n) | F::SellAmountPct(n) => {
                let side = if matches!(field, F::BuyAmountPct(_)) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let k = level(self, side, n)?;
                let others = self
                    .levels
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != k)
                    .fold(Dec::ZERO, |a, (_, l)| a + l.weight);
                if value.raw() < 0 || (others + value).raw() <= 0 {
                    return Err(UpdateError::InvalidValue);
                }
                self.levels[k].weight = value;
                self.split_amounts();
            }
            F::ExecutorRefreshTime => {
                self.refresh_ns = whole_seconds(value)?.saturating_mul(NS_PER_S)
            }
            F::CooldownTime => self.cooldown_ns = whole_seconds(value)?.saturating_mul(NS_PER_S),
            F::StopLoss => self.stop_loss = fraction(value)?,
            F::TakeProfit => self.take_profit = fraction(value)?,
            F::TimeLimit => self.time_limit_s = whole_seconds(value)?,
            F::TrailingActivation | F::TrailingDelta => {
                let t = self
                    .trailing_stop
                    .as_mut()
                    .ok_or(UpdateError::NotUpdatable)?;
                let v = positive(value)?;
                if field == F::TrailingActivation {
                    t.activation_price = v;
                } else {
                    t.trailing_delta = v;
                }
            }
            F::PositionRebalanceThreshold => {
                if value.raw() < 0 {
                    return Err(UpdateError::InvalidValue);
                }
                self.rebalance_threshold = value;
            }
            _ => return Err(UpdateError::NotUpdatable),
        }
        Ok(())
    }
}

/// Hummingbot's spot rebalance rule: when `|required − held| > required·threshold`,
/// the side and base amount that bring `held` to `required`.
pub fn rebalance_order(required: Dec, held: Dec, threshold: Dec) -> Option<(Side, Dec)> {
    let diff = required - held;
    if diff.abs() <= required.mul(threshold) {
        return None;
    }
    Some(if diff.raw() > 0 {
        (Side::Buy, diff)
    } else {
        (Side::Sell, diff.abs())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn rebalance_rule_scenario_44() {
        let t = d("0.05");
        assert_eq!(
            rebalance_order(d("10"), d("0"), t),
            Some((Side::Buy, d("10")))
        );
        assert_eq!(
            rebalance_order(d("10"), d("15"), t),
            Some((Side::Sell, d("5")))
        );
        assert_eq!(rebalance_order(d("1.0"), d("0.99"), t), None);
        // Exactly at the threshold: not more than it, nothing.
        assert_eq!(rebalance_order(d("10"), d("9.5"), t), None);
        assert_eq!(
            rebalance_order(d("10"), d("9.499"), t),
            Some((Side::Buy, d("0.501")))
        );
    }
}
