//! Directional trading controller (Hummingbot's DirectionalTradingControllerBase with
//! the bollinger_v1 / macd_bb_v1 signals, spec §10).
//!
//! Each step folds the candles that closed into the indicators, evaluates them with
//! the forming candle (see [`super::indicators`]), and turns them into a signal
//! +1 / −1 / 0 ([`SignalKind`]). A non-zero signal opens a position executor on its
//! side when fewer than `max_executors_per_side` active executors are on that side
//! and the newest of them was created more than `cooldown_time` ago (0 if none):
//! price = mid, amount = `total_amount_quote / price / max_executors_per_side`
//! (rounded down to the lot), MARKET open at entry price = mid, triple barrier from the
//! config (defaults SL 0.03, TP 0.02 LIMIT, time limit 2700 s). No stop actions.
//!
//! Kestrel correction (§0): for a short signal only short-side executors count
//! (Hummingbot's filter counts every active executor).

use super::config::{barrier, DirectionalConfig, SignalKind, TpOrderType, TrailingStopConfig};
use super::indicators::{Bands, Bollinger, CandleCursor, Macd, MacdValue};
use super::{
    count, fraction, positive, whole_seconds, ControllerAction, ControllerField, ControllerView,
    UpdateError,
};
use crate::config::interval_seconds;
use crate::executors::{ExecutorConfig, PositionConfig};
use crate::num::Dec;
use crate::types::{Instrument, InstrumentId, OrderType, Side};

const NS_PER_S: u64 = 1_000_000_000;

/// Level tag of long positions.
pub const LONG_LEVEL: u16 = 0;
/// Level tag of short positions.
pub const SHORT_LEVEL: u16 = 1;

/// Indicator values of the last step (Hummingbot's `processed_data["features"]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// Bollinger bands and %B.
    pub bands: Option<Bands>,
    /// MACD, signal and histogram.
    pub macd: Option<MacdValue>,
    /// Signal: +1 long, −1 short, 0 none.
    pub signal: i8,
}

/// The signal of a rule given its indicators (None indicators give 0).
pub fn signal(
    kind: SignalKind,
    bands: Option<Bands>,
    macd: Option<MacdValue>,
    long_threshold: Dec,
    short_threshold: Dec,
) -> i8 {
    let bbp = bands.and_then(|b| b.percent_b);
    let bb = |s: i8| match bbp {
        Some(p) if s > 0 => p < long_threshold,
        Some(p) => p > short_threshold,
        None => false,
    };
    let md = |s: i8| match macd {
        Some(m) if s > 0 => m.histogram.raw() > 0 && m.macd.raw() < 0,
        Some(m) => m.histogram.raw() < 0 && m.macd.raw() > 0,
        None => false,
    };
    let holds = |s: i8| match kind {
        SignalKind::Bollinger => bb(s),
        SignalKind::MacdBb => bb(s) && md(s),
        SignalKind::Macd => md(s),
    };
    if holds(1) {
        1
    } else if holds(-1) {
        -1
    } else {
        0
    }
}

/// Directional controller state.
#[derive(Clone, Debug, PartialEq)]
pub struct Directional {
    /// Instrument traded.
    pub instrument: InstrumentId,
    /// Candle interval of the signal (s).
    pub interval_s: u32,
    /// Signal rule.
    pub kind: SignalKind,
    /// Bollinger state.
    pub bollinger: Bollinger,
    /// MACD state.
    pub macd: Macd,
    cursor: CandleCursor,
    /// %B long threshold.
    pub long_threshold: Dec,
    /// %B short threshold.
    pub short_threshold: Dec,
    /// Quote budget.
    pub total_amount_quote: Dec,
    /// Most active executors per side.
    pub max_executors_per_side: u32,
    /// Cooldown after the newest executor of a side (ns).
    pub cooldown_ns: u64,
    /// Stop loss (0: none).
    pub stop_loss: Dec,
    /// Take profit (0: none).
    pub take_profit: Dec,
    /// Time limit (s, 0: none).
    pub time_limit_s: u64,
    /// Trailing stop.
    pub trailing_stop: Option<TrailingStopConfig>,
    /// Take-profit order type.
    pub tp_type: TpOrderType,
    /// Leverage carried by the positions.
    pub leverage: u32,
    /// Indicators and signal of the last step.
    pub features: Features,
}

impl Directional {
    /// Builds the controller.
    ///
    /// # Errors
    /// A bad `candles_interval`.
    pub fn new(cfg: &DirectionalConfig, inst: &Instrument) -> Result<Directional, String> {
        Ok(Directional {
            instrument: inst.id,
            interval_s: interval_seconds(&cfg.candles_interval).map_err(|e| e.0)?,
            kind: cfg.signal,
            bollinger: Bollinger::new(cfg.bb_length, cfg.bb_std),
            macd: Macd::new(cfg.macd_fast, cfg.macd_slow, cfg.macd_signal),
            cursor: CandleCursor::default(),
            long_threshold: cfg.bb_long_threshold,
            short_threshold: cfg.bb_short_threshold,
            total_amount_quote: cfg.total_amount_quote,
            max_executors_per_side: cfg.max_executors_per_side,
            cooldown_ns: cfg.cooldown_time.saturating_mul(NS_PER_S),
            stop_loss: cfg.stop_loss,
            take_profit: cfg.take_profit,
            time_limit_s: cfg.time_limit,
            trailing_stop: cfg.trailing_stop,
            tp_type: cfg.take_profit_order_type,
            leverage: super::config::resolve_leverage(cfg.leverage, &inst.spec),
            features: Features::default(),
        })
    }

    /// Folds closed candles in and evaluates the indicators with the forming one.
    fn update_features(&mut self, view: &ControllerView) {
        let Some(series) = view.candles(self.instrument, self.interval_s) else {
            return;
        };
        let (bb, macd) = (&mut self.bollinger, &mut self.macd);
        let Some(forming) = self.cursor.advance(series, |c| {
            bb.push(c.close);
            macd.push(c.close);
        }) else {
            return;
        };
        let bands = self.bollinger.peek(forming.close);
        let macd = self.macd.peek(forming.close);
        self.features = Features {
            bands,
            macd,
            signal: signal(
                self.kind,
                bands,
                macd,
                self.long_threshold,
                self.short_threshold,
            ),
        };
    }

    /// Hummingbot's `can_create_executor` with the Kestrel correction: active executors
    /// on `side` below the maximum, and the newest of them older than the cooldown.
    pub fn can_create(&self, view: &ControllerView, side: Side) -> bool {
        let (n, newest) = view
            .active()
            .filter(|e| e.side == Some(side))
            .fold((0u32, 0u64), |(n, t), e| (n + 1, t.max(e.created_ts)));
        n < self.max_executors_per_side && view.now.saturating_sub(newest) > self.cooldown_ns
    }

    /// The position executor a signal opens at `mid`.
    pub fn executor_config(
        &self,
        side: Side,
        mid: Dec,
        inst: &Instrument,
    ) -> Option<ExecutorConfig> {
        let amount = self
            .total_amount_quote
            .div(mid)?
            .div(Dec::from_int(self.max_executors_per_side as i64))?
            .floor_to(inst.spec.lot_size);
        if amount.raw() <= 0 {
            return None;
        }
        Some(ExecutorConfig::Position(PositionConfig {
            instrument: self.instrument,
            side,
            entry_price: Some(mid),
            amount,
            barrier: barrier(
                self.stop_loss,
                self.take_profit,
                self.time_limit_s,
                self.trailing_stop,
                OrderType::Market,
                self.tp_type,
            ),
            leverage: self.leverage,
            activation_bounds: None,
            timestamp: None,
        }))
    }

    /// One control step. Returns false while the book is not ready.
    pub fn step(&mut self, view: &ControllerView, actions: &mut Vec<ControllerAction>) -> bool {
        self.update_features(view);
        let i = self.instrument;
        let (Some(mid), Some(inst)) = (view.mid(i), view.instrument(i)) else {
            return false;
        };
        let (side, level) = match self.features.signal {
            1 => (Side::Buy, LONG_LEVEL),
            -1 => (Side::Sell, SHORT_LEVEL),
            _ => return true,
        };
        if self.can_create(view, side) {
            if let Some(config) = self.executor_config(side, mid, inst) {
                actions.push(ControllerAction::Create { level, config });
            }
        }
        true
    }

    /// Runtime update of an updatable field.
    ///
    /// # Errors
    /// See [`super::Controller::update`].
    pub fn update(&mut self, field: ControllerField, value: Dec) -> Result<(), UpdateError> {
        use ControllerField as F;
        match field {
            F::TotalAmountQuote => self.total_amount_quote = positive(value)?,
            F::MaxExecutorsPerSide => self.max_executors_per_side = count(value)?,
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
            F::BbStd => self.bollinger.set_k(positive(value)?),
            F::BbLongThreshold => self.long_threshold = value,
            F::BbShortThreshold => self.short_threshold = value,
            _ => return Err(UpdateError::NotUpdatable),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    fn bands(bbp: &str) -> Option<Bands> {
        Some(Bands {
            middle: Dec::ZERO,
            upper: Dec::ZERO,
            lower: Dec::ZERO,
            std: Dec::ZERO,
            percent_b: Some(d(bbp)),
        })
    }

    fn macd(m: &str, h: &str) -> Option<MacdValue> {
        Some(MacdValue {
            macd: d(m),
            signal: d(m) - d(h),
            histogram: d(h),
        })
    }

    #[test]
    fn signal_rules() {
        let (lo, hi) = (Dec::ZERO, Dec::ONE);
        let bb = SignalKind::Bollinger;
        assert_eq!(signal(bb, bands("-0.1"), None, lo, hi), 1);
        assert_eq!(signal(bb, bands("1.1"), None, lo, hi), -1);
        assert_eq!(signal(bb, bands("0"), None, lo, hi), 0);
        assert_eq!(signal(bb, None, None, lo, hi), 0);
        let mb = SignalKind::MacdBb;
        assert_eq!(signal(mb, bands("-0.1"), macd("-1", "0.5"), lo, hi), 1);
        assert_eq!(signal(mb, bands("-0.1"), macd("1", "0.5"), lo, hi), 0);
        assert_eq!(signal(mb, bands("1.1"), macd("1", "-0.5"), lo, hi), -1);
        assert_eq!(signal(mb, bands("0.5"), macd("1", "-0.5"), lo, hi), 0);
        assert_eq!(
            signal(SignalKind::Macd, None, macd("1", "-0.5"), lo, hi),
            -1
        );
        assert_eq!(signal(SignalKind::Macd, None, macd("-1", "0.5"), lo, hi), 1);
    }
}
