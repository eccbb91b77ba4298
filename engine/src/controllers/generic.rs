//! Generic controller: the extension point for your own strategy.
//!
//! Write a type that implements [`GenericStrategy`], and a builder that makes it from
//! its `[controllers.params]`; register the builder under a name in a [`Registry`] and
//! build the engine with [`Engine::with_registry`](crate::Engine::with_registry). A
//! config selects it with `type = "generic"` and `strategy = "<name>"`. The built-in
//! registry ([`Registry::builtin`], used by `Engine::new`) holds the example below,
//! [`DipBuyer`] (`strategy = "dip_buyer"`), and the cancel/replace market maker
//! [`QuoteReplace`](super::quote_replace::QuoteReplace) (`strategy = "quote_replace"`).
//!
//! Rules a strategy must keep so that replay reproduces it:
//! - decide only from the [`ControllerView`] and its own state (no clock, no
//!   randomness, no I/O, no hash-map iteration);
//! - allocate in the builder, not in `on_step` (the engine's hot path is
//!   allocation-free; `actions` has room reserved);
//! - use `Dec` for every number that reaches an order.
//!
//! A replay needs the same registry: a journal written with a custom strategy can only
//! be replayed by a program that registers it under the same name.
//!
//! ```
//! use kestrel_engine::controllers::{ControllerAction, ControllerView, GenericStrategy, Registry};
//! use kestrel_engine::controllers::generic::GenericSetup;
//!
//! /// Does nothing, politely.
//! #[derive(Debug)]
//! struct Idle;
//!
//! impl GenericStrategy for Idle {
//!     fn on_step(&mut self, _view: &ControllerView, _actions: &mut Vec<ControllerAction>) {}
//! }
//!
//! fn build(_setup: &GenericSetup) -> Result<Box<dyn GenericStrategy>, String> {
//!     Ok(Box::new(Idle))
//! }
//!
//! let mut registry = Registry::builtin();
//! registry.register("idle", build);
//! assert_eq!(registry.names().collect::<Vec<_>>(), ["dip_buyer", "quote_replace", "idle"]);
//! ```

use super::config::{barrier, TpOrderType};
use super::{
    fraction, positive, whole_seconds, ControllerAction, ControllerField, ControllerView,
    ExecutorInfo, UpdateError,
};
use crate::config::Config;
use crate::executors::{ExecutorConfig, PositionConfig};
use crate::num::Dec;
use crate::types::{Instrument, InstrumentId, OrderType, Side};

/// A user strategy: called once per control step, once the book of its main
/// instrument is ready.
pub trait GenericStrategy: std::fmt::Debug + Send {
    /// Decides: push Create / Stop actions (executed in order right after the step).
    fn on_step(&mut self, view: &ControllerView, actions: &mut Vec<ControllerAction>);

    /// One of this controller's executors terminated.
    fn on_closed(&mut self, _info: &ExecutorInfo) {}

    /// A runtime update (`Command::UpdateController`); refuses everything by default.
    ///
    /// # Errors
    /// [`UpdateError`] when the field is not updatable or the value is out of range.
    fn update(&mut self, _field: ControllerField, _value: Dec) -> Result<(), UpdateError> {
        Err(UpdateError::NotUpdatable)
    }
}

/// What a strategy builder gets.
pub struct GenericSetup<'a> {
    /// Controller id.
    pub id: &'a str,
    /// Main instrument.
    pub instrument: &'a Instrument,
    /// Quote budget.
    pub total_amount_quote: Dec,
    /// `[controllers.params]`.
    pub params: &'a toml::Table,
    /// The whole configuration (candles, venue, other instruments).
    pub config: &'a Config,
}

/// Makes a strategy from its setup; an `Err` is shown as a config error.
pub type StrategyBuilder = fn(&GenericSetup) -> Result<Box<dyn GenericStrategy>, String>;

/// Strategy builders by name.
#[derive(Clone, Debug)]
pub struct Registry {
    entries: Vec<(String, StrategyBuilder)>,
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Registry {
        Registry {
            entries: Vec::new(),
        }
    }

    /// The strategies shipped with Kestrel: `dip_buyer` and `quote_replace`.
    pub fn builtin() -> Registry {
        let mut r = Registry::empty();
        r.register("dip_buyer", DipBuyer::build);
        r.register(
            super::quote_replace::NAME,
            super::quote_replace::QuoteReplace::build,
        );
        r
    }

    /// Adds (or replaces) a strategy under `name`.
    pub fn register(&mut self, name: &str, builder: StrategyBuilder) {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(e) => e.1 = builder,
            None => self.entries.push((name.to_string(), builder)),
        }
    }

    /// Registered names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// Builds the strategy `name`.
    ///
    /// # Errors
    /// Unknown name, or the builder's own error.
    pub fn build(
        &self,
        name: &str,
        setup: &GenericSetup,
    ) -> Result<Box<dyn GenericStrategy>, String> {
        let Some((_, b)) = self.entries.iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = self.names().collect();
            return Err(format!(
                "unknown generic strategy {name:?}; registered: {}",
                known.join(", ")
            ));
        };
        b(setup).map_err(|e| format!("strategy {name}: {e}"))
    }
}

/// A generic controller: the strategy and its name.
#[derive(Debug)]
pub struct Generic {
    /// Registered name.
    pub name: String,
    /// The strategy.
    pub strategy: Box<dyn GenericStrategy>,
}

/// Reads typed values out of a `params` table, refusing unknown keys.
pub struct Params<'a> {
    table: &'a toml::Table,
    known: &'static [&'static str],
}

impl<'a> Params<'a> {
    /// Checks that every key is one of `known`.
    ///
    /// # Errors
    /// The first unknown key.
    pub fn new(table: &'a toml::Table, known: &'static [&'static str]) -> Result<Self, String> {
        if let Some(k) = table.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "unknown parameter `{k}`, expected one of {}",
                known.join(", ")
            ));
        }
        Ok(Params { table, known })
    }

    /// A decimal (written as a string, like every decimal in Kestrel configs, or an integer).
    ///
    /// # Errors
    /// Wrong type or not a decimal.
    pub fn dec(&self, key: &str, default: Dec) -> Result<Dec, String> {
        debug_assert!(self.known.contains(&key), "invariant: {key} is declared");
        match self.table.get(key) {
            None => Ok(default),
            Some(toml::Value::String(s)) => Dec::parse(s).map_err(|e| format!("{key}: {e}: {s:?}")),
            Some(toml::Value::Integer(i)) => Ok(Dec::from_int(*i)),
            Some(v) => Err(format!(
                "{key}: write decimals as strings (\"0.02\"), got {}",
                v.type_str()
            )),
        }
    }

    /// A whole number ≥ 0.
    ///
    /// # Errors
    /// Wrong type or negative.
    pub fn int(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.table.get(key) {
            None => Ok(default),
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(*i as u64),
            Some(v) => Err(format!("{key}: expected a whole number >= 0, got {v}")),
        }
    }

    /// A string.
    ///
    /// # Errors
    /// Missing or not a string.
    pub fn string(&self, key: &str) -> Result<&'a str, String> {
        match self.table.get(key) {
            Some(toml::Value::String(s)) => Ok(s),
            Some(v) => Err(format!("{key}: expected a string, got {v}")),
            None => Err(format!("missing parameter `{key}`")),
        }
    }
}

/// Example strategy `dip_buyer`: buys the dip.
///
/// When the mid falls `dip` (a fraction) or more below the highest high of the last
/// `lookback` candles (the forming one included), and fewer than `max_positions`
/// positions are active, and `cooldown_time` seconds have passed since the last one
/// opened, it opens a long position executor: MARKET open at the mid for
/// `amount_quote / mid` base, with stop loss, take profit (LIMIT) and time limit.
///
/// Parameters (`[controllers.params]`): `candles_interval` (required; a `[[candles]]`
/// entry must exist), `lookback` (20), `dip` ("0.02"), `amount_quote` (the controller's
/// `total_amount_quote`), `stop_loss` ("0.03"), `take_profit` ("0.02"), `time_limit`
/// (3600), `cooldown_time` (60), `max_positions` (1). Updatable: total amount
/// (`TotalAmountQuote`, the per-position amount), stop loss, take profit, time limit,
/// cooldown, and `Custom(0)` = dip.
#[derive(Clone, Debug, PartialEq)]
pub struct DipBuyer {
    /// Instrument bought.
    pub instrument: InstrumentId,
    /// Lot size of the instrument.
    pub lot_size: Dec,
    /// Candle interval (s).
    pub interval_s: u32,
    /// Candles looked back.
    pub lookback: usize,
    /// Fall below the high that triggers a buy.
    pub dip: Dec,
    /// Quote per position.
    pub amount_quote: Dec,
    /// Stop loss.
    pub stop_loss: Dec,
    /// Take profit.
    pub take_profit: Dec,
    /// Time limit (s).
    pub time_limit_s: u64,
    /// Least time between two positions (ns).
    pub cooldown_ns: u64,
    /// Most active positions.
    pub max_positions: usize,
    /// Highest high of the lookback at the last step.
    pub last_high: Option<Dec>,
    /// When the last position was opened (ns).
    pub last_open: Option<u64>,
}

const DIP_PARAMS: &[&str] = &[
    "candles_interval",
    "lookback",
    "dip",
    "amount_quote",
    "stop_loss",
    "take_profit",
    "time_limit",
    "cooldown_time",
    "max_positions",
];

impl DipBuyer {
    /// Builds it from `[controllers.params]`.
    ///
    /// # Errors
    /// Unknown or malformed parameters, or no matching `[[candles]]` entry.
    pub fn build(setup: &GenericSetup) -> Result<Box<dyn GenericStrategy>, String> {
        let p = Params::new(setup.params, DIP_PARAMS)?;
        let interval = p.string("candles_interval")?;
        let interval_s =
            super::config::check_candles(setup.config, &setup.instrument.spec.symbol, interval)?;
        let lookback = p.int("lookback", 20)?;
        if !(1..=10_000).contains(&lookback) {
            return Err(format!("lookback {lookback} must be in 1..=10000"));
        }
        let dip = p.dec("dip", Dec(20_000_000))?;
        if dip.raw() <= 0 || dip >= Dec::ONE {
            return Err(format!("dip {dip} must be in (0, 1)"));
        }
        let amount_quote = p.dec("amount_quote", setup.total_amount_quote)?;
        if amount_quote.raw() <= 0 {
            return Err("amount_quote must be > 0".into());
        }
        let stop_loss = p.dec("stop_loss", Dec(30_000_000))?;
        let take_profit = p.dec("take_profit", Dec(20_000_000))?;
        super::config::check_barrier(stop_loss, take_profit, None)?;
        let max_positions = p.int("max_positions", 1)?;
        if !(1..=1000).contains(&max_positions) {
            return Err(format!("max_positions {max_positions} must be in 1..=1000"));
        }
        Ok(Box::new(DipBuyer {
            instrument: setup.instrument.id,
            lot_size: setup.instrument.spec.lot_size,
            interval_s,
            lookback: lookback as usize,
            dip,
            amount_quote,
            stop_loss,
            take_profit,
            time_limit_s: p.int("time_limit", 3600)?,
            cooldown_ns: p.int("cooldown_time", 60)?.saturating_mul(1_000_000_000),
            max_positions: max_positions as usize,
            last_high: None,
            last_open: None,
        }))
    }

    /// Price at or below which it buys: high · (1 − dip).
    pub fn trigger(&self) -> Option<Dec> {
        self.last_high.map(|h| h.mul(Dec::ONE - self.dip))
    }
}

impl GenericStrategy for DipBuyer {
    fn on_step(&mut self, view: &ControllerView, actions: &mut Vec<ControllerAction>) {
        let (Some(mid), Some(series)) = (
            view.mid(self.instrument),
            view.candles(self.instrument, self.interval_s),
        ) else {
            return;
        };
        if series.len() < self.lookback {
            return;
        }
        self.last_high = series
            .candles()
            .rev()
            .take(self.lookback)
            .map(|c| c.high)
            .max();
        let Some(trigger) = self.trigger() else {
            return;
        };
        let cooled = self
            .last_open
            .is_none_or(|t| view.now >= t.saturating_add(self.cooldown_ns));
        if mid > trigger || !cooled || view.active().count() >= self.max_positions {
            return;
        }
        let Some(amount) = self.amount_quote.div(mid) else {
            return;
        };
        let amount = amount.floor_to(self.lot_size);
        if amount.raw() <= 0 {
            return;
        }
        actions.push(ControllerAction::Create {
            level: 0,
            config: ExecutorConfig::Position(PositionConfig {
                instrument: self.instrument,
                side: Side::Buy,
                entry_price: Some(mid),
                amount,
                barrier: barrier(
                    self.stop_loss,
                    self.take_profit,
                    self.time_limit_s,
                    None,
                    OrderType::Market,
                    TpOrderType::Limit,
                ),
                leverage: 1,
                activation_bounds: None,
                timestamp: None,
            }),
        });
        self.last_open = Some(view.now);
    }

    fn update(&mut self, field: ControllerField, value: Dec) -> Result<(), UpdateError> {
        use ControllerField as F;
        match field {
            F::TotalAmountQuote => self.amount_quote = positive(value)?,
            F::StopLoss => self.stop_loss = fraction(value)?,
            F::TakeProfit => self.take_profit = fraction(value)?,
            F::TimeLimit => self.time_limit_s = whole_seconds(value)?,
            F::CooldownTime => {
                self.cooldown_ns = whole_seconds(value)?.saturating_mul(1_000_000_000)
            }
            F::Custom(0) => {
                let v = positive(fraction(value)?)?;
                self.dip = v;
            }
            _ => return Err(UpdateError::NotUpdatable),
        }
        Ok(())
    }
}
