//! TOML configuration of the controllers other than market making (whose config lives
//! in [`crate::config::MarketMakingConfig`]), and the pieces they share: barriers,
//! take-profit order type, position mode.
//!
//! Every duration is in seconds of event time. A stop loss, take profit or time limit of
//! 0 means "none" (TOML has no null, and a zero barrier would close at once).

use crate::config::{interval_seconds, Config, ConfigError};
use crate::executors::{TrailingStop, TripleBarrier};
use crate::num::Dec;
use crate::types::{InstrumentSpec, Market, OrderType};
use serde::{Deserialize, Serialize};

/// Order type of a take profit (Hummingbot's `take_profit_order_type`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum TpOrderType {
    /// Close with a MARKET order once net pnl reaches the take profit.
    Market,
    /// Rest a LIMIT order at the take-profit price.
    #[default]
    Limit,
    /// Rest a post-only order at the take-profit price.
    LimitMaker,
}

impl TpOrderType {
    /// The order type sent.
    pub fn order_type(self) -> OrderType {
        match self {
            TpOrderType::Market => OrderType::Market,
            TpOrderType::Limit => OrderType::Limit,
            TpOrderType::LimitMaker => OrderType::LimitMaker,
        }
    }
}

/// Position mode of a perpetual (Hummingbot's `position_mode`). In Kestrel the mode is
/// a property of the instrument (`market = "perpetual-hedge"`); a controller that names
/// one must name the instrument's.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PositionMode {
    /// One net position per instrument.
    Oneway,
    /// Separate long and short positions.
    Hedge,
}

/// `trailing_stop = { activation_price = "0.015", trailing_delta = "0.005" }`: both are
/// pnl fractions (Hummingbot's "a,d").
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrailingStopConfig {
    /// Net pnl fraction that arms the stop.
    pub activation_price: Dec,
    /// Distance of the trigger below the best pnl seen.
    pub trailing_delta: Dec,
}

/// Builds a triple barrier; zero values mean "no such barrier".
pub fn barrier(
    stop_loss: Dec,
    take_profit: Dec,
    time_limit: u64,
    trailing: Option<TrailingStopConfig>,
    open_order_type: OrderType,
    tp_type: TpOrderType,
) -> TripleBarrier {
    let some = |v: Dec| (v.raw() > 0).then_some(v);
    TripleBarrier {
        stop_loss: some(stop_loss),
        take_profit: some(take_profit),
        time_limit_s: (time_limit > 0).then_some(time_limit),
        trailing_stop: trailing.map(|t| TrailingStop {
            activation_price: t.activation_price,
            trailing_delta: t.trailing_delta,
        }),
        open_order_type,
        take_profit_order_type: tp_type.order_type(),
    }
}

/// Checks the barrier numbers of a controller config.
pub fn check_barrier(
    stop_loss: Dec,
    take_profit: Dec,
    trailing: Option<TrailingStopConfig>,
) -> Result<(), String> {
    for (name, v) in [("stop_loss", stop_loss), ("take_profit", take_profit)] {
        if v.raw() < 0 || v >= Dec::ONE {
            return Err(format!("{name} {v} must be in [0, 1) (0: none)"));
        }
    }
    if let Some(t) = trailing {
        if t.activation_price.raw() <= 0 || t.trailing_delta.raw() <= 0 {
            return Err("trailing_stop: activation_price and trailing_delta must be > 0".into());
        }
    }
    Ok(())
}

/// Checks leverage and position mode against the instrument: leverage in 1..=125
/// (exactly 1 on spot), and a position mode only on perpetuals, equal to the
/// instrument's.
pub fn check_market(
    leverage: Option<u32>,
    mode: Option<PositionMode>,
    spec: &InstrumentSpec,
) -> Result<(), String> {
    let leverage = resolve_leverage(leverage, spec);
    if leverage == 0 || leverage > 125 {
        return Err(format!("leverage {leverage} must be in 1..=125"));
    }
    if spec.market == Market::Spot && leverage != 1 {
        return Err(format!(
            "leverage {leverage} needs a perpetual instrument; {} is spot (market = \"spot\")",
            spec.symbol
        ));
    }
    if leverage != spec.leverage {
        return Err(format!(
            "leverage {leverage} differs from instrument {}'s leverage {} (set it on the instrument)",
            spec.symbol, spec.leverage
        ));
    }
    let want = match spec.market {
        Market::Spot => None,
        Market::PerpetualOneway => Some(PositionMode::Oneway),
        Market::PerpetualHedge => Some(PositionMode::Hedge),
    };
    match (mode, want) {
        (None, _) => Ok(()),
        (Some(m), None) => Err(format!(
            "position_mode {m:?} needs a perpetual instrument; {} is spot",
            spec.symbol
        )),
        (Some(m), Some(w)) if m != w => Err(format!(
            "position_mode {m:?} differs from instrument {}'s market {:?}",
            spec.symbol, spec.market
        )),
        _ => Ok(()),
    }
}

/// Checks that a `[[candles]]` series exists for the instrument and interval.
pub fn check_candles(cfg: &Config, instrument: &str, interval: &str) -> Result<u32, String> {
    let secs = interval_seconds(interval).map_err(|e| e.0)?;
    let found = cfg
        .candles
        .iter()
        .any(|c| c.instrument == instrument && interval_seconds(&c.interval).ok() == Some(secs));
    if !found {
        return Err(format!(
            "needs a [[candles]] entry with instrument = \"{instrument}\" and interval = \"{interval}\""
        ));
    }
    Ok(secs)
}

/// The leverage a controller's positions carry: the instrument's (its margin is
/// computed with it), which a controller's own `leverage` must match.
pub fn resolve_leverage(leverage: Option<u32>, spec: &InstrumentSpec) -> u32 {
    leverage.unwrap_or(spec.leverage)
}

/// Checks an update interval (seconds ≥ 0; 0 = every input).
pub fn check_interval(v: Dec) -> Result<(), String> {
    if v.raw() < 0 {
        return Err(format!("update_interval {v} must be >= 0"));
    }
    Ok(())
}

pub(crate) fn default_update_interval() -> Dec {
    Dec::ONE
}

/// Which indicator rule gives the directional signal.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// Hummingbot's bollinger_v1: +1 if %B < long threshold, −1 if %B > short threshold.
    #[default]
    Bollinger,
    /// Hummingbot's macd_bb_v1: Bollinger as above AND MACD histogram > 0 with MACD < 0
    /// (long), histogram < 0 with MACD > 0 (short).
    MacdBb,
    /// The MACD half of macd_bb_v1 alone.
    Macd,
}

/// `type = "directional"`: Hummingbot's DirectionalTradingControllerBase with a signal
/// from Bollinger %B and/or MACD over one candle series (spec §10).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirectionalConfig {
    /// Controller id.
    pub id: String,
    /// Instrument traded (and whose candles give the signal).
    pub instrument: String,
    /// Candle interval of the signal; a matching `[[candles]]` entry must exist.
    pub candles_interval: String,
    /// Signal rule.
    #[serde(default)]
    pub signal: SignalKind,
    /// Bollinger length (candles).
    #[serde(default = "default_bb_length")]
    pub bb_length: u32,
    /// Bollinger width in standard deviations.
    #[serde(default = "default_bb_std")]
    pub bb_std: Dec,
    /// Long when %B is below this.
    #[serde(default)]
    pub bb_long_threshold: Dec,
    /// Short when %B is above this.
    #[serde(default = "one")]
    pub bb_short_threshold: Dec,
    /// MACD fast EMA length.
    #[serde(default = "default_macd_fast")]
    pub macd_fast: u32,
    /// MACD slow EMA length.
    #[serde(default = "default_macd_slow")]
    pub macd_slow: u32,
    /// MACD signal EMA length.
    #[serde(default = "default_macd_signal")]
    pub macd_signal: u32,
    /// Quote budget; each position is `total / price / max_executors_per_side`.
    #[serde(default = "default_total")]
    pub total_amount_quote: Dec,
    /// Most active positions per side.
    #[serde(default = "default_max_per_side")]
    pub max_executors_per_side: u32,
    /// Seconds after the newest position of a side before another opens on it.
    #[serde(default = "default_dt_cooldown")]
    pub cooldown_time: u64,
    /// Leverage (perpetuals only; default 1).
    #[serde(default)]
    pub leverage: Option<u32>,
    /// Position mode; must match the instrument's market when given.
    #[serde(default)]
    pub position_mode: Option<PositionMode>,
    /// Stop loss (pnl fraction; 0: none).
    #[serde(default = "default_sl")]
    pub stop_loss: Dec,
    /// Take profit (pnl fraction; 0: none).
    #[serde(default = "default_tp")]
    pub take_profit: Dec,
    /// Time limit in seconds (0: none).
    #[serde(default = "default_tl")]
    pub time_limit: u64,
    /// Take-profit order type.
    #[serde(default)]
    pub take_profit_order_type: TpOrderType,
    /// Optional trailing stop.
    #[serde(default)]
    pub trailing_stop: Option<TrailingStopConfig>,
    /// Seconds of event time between control steps.
    #[serde(default = "default_update_interval")]
    pub update_interval: Dec,
}

fn default_bb_length() -> u32 {
    100
}
fn default_bb_std() -> Dec {
    Dec::from_int(2)
}
fn one() -> Dec {
    Dec::ONE
}
fn default_macd_fast() -> u32 {
    21
}
fn default_macd_slow() -> u32 {
    42
}
fn default_macd_signal() -> u32 {
    9
}
fn default_total() -> Dec {
    Dec::from_int(100)
}
fn default_max_per_side() -> u32 {
    2
}
fn default_dt_cooldown() -> u64 {
    300
}
fn default_sl() -> Dec {
    Dec(30_000_000)
}
fn default_tp() -> Dec {
    Dec(20_000_000)
}
fn default_tl() -> u64 {
    2700
}

impl DirectionalConfig {
    /// Cross-field checks.
    pub fn validate(&self, cfg: &Config) -> Result<(), String> {
        let spec = cfg
            .instrument(&self.instrument)
            .ok_or_else(|| format!("instrument {} is not in [[instruments]]", self.instrument))?;
        check_candles(cfg, &self.instrument, &self.candles_interval)?;
        check_market(self.leverage, self.position_mode, spec)?;
        check_barrier(self.stop_loss, self.take_profit, self.trailing_stop)?;
        check_interval(self.update_interval)?;
        if !(2..=10_000).contains(&self.bb_length) {
            return Err(format!("bb_length {} must be in 2..=10000", self.bb_length));
        }
        if self.bb_std.raw() <= 0 {
            return Err(format!("bb_std {} must be > 0", self.bb_std));
        }
        if self.macd_fast == 0 || self.macd_signal == 0 || self.macd_slow > 10_000 {
            return Err("macd lengths must be in 1..=10000".into());
        }
        if self.macd_fast >= self.macd_slow {
            return Err(format!(
                "macd_fast {} must be below macd_slow {}",
                self.macd_fast, self.macd_slow
            ));
        }
        if self.total_amount_quote.raw() <= 0 {
            return Err("total_amount_quote must be > 0".into());
        }
        if self.max_executors_per_side == 0 || self.max_executors_per_side > 1000 {
            return Err("max_executors_per_side must be in 1..=1000".into());
        }
        Ok(())
    }
}

/// `type = "arbitrage"`: Hummingbot's arbitrage_controller over two instruments with
/// interchangeable bases. One arbitrage executor per direction while none is active.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArbitrageControllerConfig {
    /// Controller id.
    pub id: String,
    /// First instrument.
    pub instrument_1: String,
    /// Second instrument.
    pub instrument_2: String,
    /// Base amount of each leg.
    pub order_amount: Dec,
    /// Net profitability (fraction) that must be exceeded to trade.
    #[serde(default = "default_min_profitability")]
    pub min_profitability: Dec,
    /// Seconds after an executor of a direction closes before the next one starts.
    #[serde(default = "default_delay")]
    pub delay_between_executors: u64,
    /// Most completed round trips one direction may lead the other by.
    #[serde(default = "default_imbalance")]
    pub max_executors_imbalance: u32,
    /// Taker fee rate of instrument 1 (default: `[venue] taker_fee`).
    #[serde(default)]
    pub taker_fee_1: Option<Dec>,
    /// Taker fee rate of instrument 2 (default: `[venue] taker_fee`).
    #[serde(default)]
    pub taker_fee_2: Option<Dec>,
    /// Seconds of event time between control steps.
    #[serde(default = "default_update_interval")]
    pub update_interval: Dec,
}

fn default_min_profitability() -> Dec {
    Dec(10_000_000)
}
fn default_delay() -> u64 {
    10
}
fn default_imbalance() -> u32 {
    1
}

fn check_fee(name: &str, v: Option<Dec>) -> Result<(), String> {
    match v {
        Some(f) if f.raw() < 0 || f >= Dec::ONE => Err(format!("{name} {f} must be in [0, 1)")),
        _ => Ok(()),
    }
}

fn check_pair(cfg: &Config, a: &str, b: &str) -> Result<(), String> {
    let x = cfg
        .instrument(a)
        .ok_or_else(|| format!("instrument {a} is not in [[instruments]]"))?;
    let y = cfg
        .instrument(b)
        .ok_or_else(|| format!("instrument {b} is not in [[instruments]]"))?;
    if a == b {
        return Err(format!("the two instruments must differ (both {a})"));
    }
    if !crate::executors::arbitrage::interchangeable(&x.base, &y.base) {
        return Err(format!(
            "bases {} ({a}) and {} ({b}) are not interchangeable",
            x.base, y.base
        ));
    }
    Ok(())
}

impl ArbitrageControllerConfig {
    /// Cross-field checks.
    pub fn validate(&self, cfg: &Config) -> Result<(), String> {
        check_pair(cfg, &self.instrument_1, &self.instrument_2)?;
        if self.order_amount.raw() <= 0 {
            return Err("order_amount must be > 0".into());
        }
        if self.min_profitability.raw() < 0 {
            return Err("min_profitability must be >= 0".into());
        }
        if self.max_executors_imbalance == 0 {
            return Err("max_executors_imbalance must be >= 1 (0 would never trade)".into());
        }
        check_fee("taker_fee_1", self.taker_fee_1)?;
        check_fee("taker_fee_2", self.taker_fee_2)?;
        check_interval(self.update_interval)
    }
}

/// One XEMM level: the profitability a maker order is priced at and its quote amount.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct XemmLevel {
    /// Target profitability (fraction).
    pub target_profitability: Dec,
    /// Quote amount (converted to base at the maker mid).
    pub amount_quote: Dec,
}

/// `type = "xemm"`: Hummingbot's xemm_multiple_levels: one XEMM executor per level
/// while none of that level is active.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct XemmControllerConfig {
    /// Controller id.
    pub id: String,
    /// Instrument the maker orders rest on.
    pub maker_instrument: String,
    /// Instrument the hedges are taken on.
    pub taker_instrument: String,
    /// Maker BUY levels.
    #[serde(default)]
    pub buy_levels: Vec<XemmLevel>,
    /// Maker SELL levels.
    #[serde(default)]
    pub sell_levels: Vec<XemmLevel>,
    /// A resting maker order below this profitability is re-quoted.
    #[serde(default = "default_xemm_min")]
    pub min_profitability: Dec,
    /// A resting maker order above this profitability is re-quoted.
    #[serde(default = "default_xemm_max")]
    pub max_profitability: Dec,
    /// Most filled round trips one side may lead the other by.
    #[serde(default = "default_imbalance")]
    pub max_executors_imbalance: u32,
    /// Maker fee rate (default: `[venue] maker_fee`).
    #[serde(default)]
    pub maker_fee: Option<Dec>,
    /// Taker fee rate (default: `[venue] taker_fee`).
    #[serde(default)]
    pub taker_fee: Option<Dec>,
    /// Seconds of event time between control steps.
    #[serde(default = "default_update_interval")]
    pub update_interval: Dec,
}

fn default_xemm_min() -> Dec {
    Dec(2_000_000)
}
fn default_xemm_max() -> Dec {
    Dec(10_000_000)
}

impl XemmControllerConfig {
    /// Cross-field checks.
    pub fn validate(&self, cfg: &Config) -> Result<(), String> {
        check_pair(cfg, &self.maker_instrument, &self.taker_instrument)?;
        if self.buy_levels.is_empty() && self.sell_levels.is_empty() {
            return Err("at least one of buy_levels / sell_levels is needed".into());
        }
        if self.buy_levels.len() + self.sell_levels.len() > 64 {
            return Err("at most 64 levels".into());
        }
        for l in self.buy_levels.iter().chain(&self.sell_levels) {
            if l.amount_quote.raw() <= 0 {
                return Err(format!("level amount_quote {} must be > 0", l.amount_quote));
            }
            if l.target_profitability < self.min_profitability
                || l.target_profitability > self.max_profitability
            {
                return Err(format!(
                    "level target_profitability {} must be within [min_profitability {}, max_profitability {}]",
                    l.target_profitability, self.min_profitability, self.max_profitability
                ));
            }
        }
        if self.max_executors_imbalance == 0 {
            return Err("max_executors_imbalance must be >= 1 (0 would never trade)".into());
        }
        check_fee("maker_fee", self.maker_fee)?;
        check_fee("taker_fee", self.taker_fee)?;
        check_interval(self.update_interval)
    }
}

/// `type = "generic"`: a user strategy (a [`GenericStrategy`](super::generic::GenericStrategy))
/// chosen by name; `params` is handed to it as is.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GenericConfig {
    /// Controller id.
    pub id: String,
    /// Registered strategy name, e.g. `"dip_buyer"`.
    pub strategy: String,
    /// Main instrument.
    pub instrument: String,
    /// Further instruments whose market data also runs the strategy.
    #[serde(default)]
    pub other_instruments: Vec<String>,
    /// Quote budget the strategy may use.
    #[serde(default = "default_total")]
    pub total_amount_quote: Dec,
    /// Strategy parameters (`[controllers.params]`).
    #[serde(default)]
    pub params: toml::Table,
    /// Seconds of event time between control steps.
    #[serde(default = "default_update_interval")]
    pub update_interval: Dec,
}

impl GenericConfig {
    /// Cross-field checks (the strategy checks its own `params` when it is built).
    pub fn validate(&self, cfg: &Config) -> Result<(), String> {
        for s in std::iter::once(&self.instrument).chain(&self.other_instruments) {
            if cfg.instrument(s).is_none() {
                return Err(format!("instrument {s} is not in [[instruments]]"));
            }
        }
        if self.total_amount_quote.raw() <= 0 {
            return Err("total_amount_quote must be > 0".into());
        }
        check_interval(self.update_interval)
    }
}

/// Turns a validation message into the config error of controller `id`.
pub fn controller_error(id: &str, e: String) -> ConfigError {
    ConfigError(format!("controller {id}: {e}"))
}
