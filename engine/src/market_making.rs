//! Pure market-making controller (Hummingbot's MarketMakingControllerBase, spec §10),
//! quoting each level with an order executor.

use crate::book::Book;
use crate::config::{MakerOrderType, MarketMakingConfig};
use crate::events::CloseType;
use crate::executors::{ExecutionStrategy, Executor, OrderExecutorConfig};
use crate::num::{Dec, SCALE};
use crate::types::{Instrument, InstrumentId, Side};

const NS_PER_S: u64 = 1_000_000_000;

/// What a controller asks the orchestrator to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ControllerAction {
    /// Create an order executor for `level`.
    Create {
        /// Level index.
        level: u16,
        /// Executor configuration.
        cfg: OrderExecutorConfig,
    },
    /// Stop an executor.
    Stop {
        /// Executor id.
        executor: u32,
        /// Keep the position open.
        keep_position: bool,
    },
}

/// One quoting level (`buy_i` / `sell_i`).
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// Side.
    pub side: Side,
    /// Distance from the reference price, as a fraction.
    pub spread: Dec,
    /// Quote amount.
    pub amount_quote: Dec,
    /// Latest executor serving the level.
    pub executor: Option<u32>,
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

/// Market-making controller state.
#[derive(Clone, Debug, PartialEq)]
pub struct MarketMaking {
    /// Controller id from the config.
    pub id: String,
    /// Instrument quoted.
    pub instrument: InstrumentId,
    /// Buy levels first, then sell levels.
    pub levels: Vec<Level>,
    /// Number of buy levels.
    pub buys: usize,
    /// `executor_refresh_time` in ns.
    pub refresh_ns: u64,
    /// `cooldown_time` in ns.
    pub cooldown_ns: u64,
    /// Quote order type.
    pub order_type: MakerOrderType,
}

impl MarketMaking {
    /// Builds the levels: amount per level = weight / Σ weights × total (or `order_amount_quote`).
    pub fn new(cfg: &MarketMakingConfig, inst: &Instrument) -> MarketMaking {
        let weights = |spreads: &[Dec], pcts: &Option<crate::config::DecList>| -> Vec<Dec> {
            match pcts {
                Some(p) => p.0.clone(),
                None => vec![Dec::ONE; spreads.len()],
            }
        };
        let bw = weights(&cfg.buy_spreads.0, &cfg.buy_amounts_pct);
        let sw = weights(&cfg.sell_spreads.0, &cfg.sell_amounts_pct);
        let total_w: Dec = bw.iter().chain(sw.iter()).fold(Dec::ZERO, |a, b| a + *b);
        let amount = |w: Dec| match cfg.order_amount_quote {
            Some(q) => q,
            None => w
                .mul(cfg.total_amount_quote)
                .div(total_w)
                .unwrap_or(Dec::ZERO),
        };
        let mut levels = Vec::new();
        for (s, w) in cfg.buy_spreads.0.iter().zip(&bw) {
            levels.push(Level {
                side: Side::Buy,
                spread: *s,
                amount_quote: amount(*w),
                executor: None,
                cooldown_until: 0,
            });
        }
        for (s, w) in cfg.sell_spreads.0.iter().zip(&sw) {
            levels.push(Level {
                side: Side::Sell,
                spread: *s,
                amount_quote: amount(*w),
                executor: None,
                cooldown_until: 0,
            });
        }
        MarketMaking {
            id: cfg.id.clone(),
            instrument: inst.id,
            buys: cfg.buy_spreads.0.len(),
            levels,
            refresh_ns: cfg.executor_refresh_time * NS_PER_S,
            cooldown_ns: cfg.cooldown_time * NS_PER_S,
            order_type: cfg.order_type,
        }
    }

    /// Price and base amount of a level for reference price `reference`:
    /// BUY ref·(1−spread) rounded down to the tick, SELL ref·(1+spread) rounded up;
    /// amount = quote / price rounded down to the lot.
    pub fn level_order(&self, level: &Level, reference: Dec, inst: &Instrument) -> (Dec, Dec) {
        let factor = match level.side {
            Side::Buy => Dec(SCALE - level.spread.raw()),
            Side::Sell => Dec(SCALE + level.spread.raw()),
        };
        let raw = reference.mul(factor);
        let price = match level.side {
            Side::Buy => raw.floor_to(inst.spec.tick_size),
            Side::Sell => raw.ceil_to(inst.spec.tick_size),
        };
        let amount = level
            .amount_quote
            .div(price)
            .unwrap_or(Dec::ZERO)
            .floor_to(inst.spec.lot_size);
        (price, amount)
    }

    /// Hummingbot's `determine_executor_actions`: stop active, non-trading executors
    /// older than the refresh time; create an executor for every level not working.
    /// A level is working while its executor is active, or during `cooldown_time`
    /// after it closed with a fill (held position) or a stop loss.
    pub fn determine_actions(
        &self,
        now: u64,
        book: &Book,
        inst: &Instrument,
        executor: impl Fn(u32) -> Option<(bool, bool, u64)>,
        actions: &mut Vec<ControllerAction>,
    ) {
        if !book.is_ready() {
            return;
        }
        let Some(reference) = book.mid() else { return };
        for (i, level) in self.levels.iter().enumerate() {
            let state = level.executor.and_then(&executor);
            let active = match state {
                Some((active, trading, created)) => {
                    if active && !trading && now.saturating_sub(created) > self.refresh_ns {
                        actions.push(ControllerAction::Stop {
                            executor: level.executor.unwrap_or(0),
                            keep_position: false,
                        });
                    }
                    active
                }
                None => false,
            };
            if active || now < level.cooldown_until {
                continue;
            }
            let (price, amount) = self.level_order(level, reference, inst);
            if amount.raw() <= 0 {
                continue;
            }
            let strategy = match self.order_type {
                MakerOrderType::Limit => ExecutionStrategy::Limit,
                MakerOrderType::LimitMaker => ExecutionStrategy::LimitMaker,
            };
            actions.push(ControllerAction::Create {
                level: i as u16,
                cfg: OrderExecutorConfig {
                    instrument: self.instrument,
                    side: level.side,
                    amount,
                    strategy,
                    price,
                    position_action: Default::default(),
                },
            });
        }
    }

    /// Records the executor now serving `level`.
    pub fn on_created(&mut self, level: u16, executor: u32) {
        if let Some(l) = self.levels.get_mut(level as usize) {
            l.executor = Some(executor);
        }
    }

    /// An executor of this controller terminated: start the level's cooldown if it
    /// closed holding a fill or on a stop loss.
    pub fn on_closed(&mut self, ex: &Executor, books: &[crate::book::Book]) {
        let Some(l) = self.levels.get_mut(ex.core.level as usize) else {
            return;
        };
        let filled = ex.filled_amount_quote(books).raw() > 0;
        let cooldown = match ex.core.close_type {
            Some(CloseType::StopLoss) => true,
            Some(CloseType::PositionHold) => filled,
            _ => false,
        };
        if cooldown {
            l.cooldown_until = l.cooldown_until.max(ex.core.close_ts + self.cooldown_ns);
        }
    }
}
