//! Controllers (spec §10): they read market data and their executors, and ask the
//! orchestrator (the engine) to create or stop executors.
//!
//! **Control step.** A controller steps on market data of its instruments and on
//! journaled timers, at most once per `update_interval` (default 1 s of event time;
//! spec §0): the engine checks [`ControllerBase::due`], builds a read-only
//! [`ControllerView`] and calls [`Controller::step`], which pushes
//! [`ControllerAction`]s into a vector allocated once. The engine executes them in
//! order before the next input, so a controller never acts twice on stale executor
//! information (Hummingbot's "executors updated" flag). A step that finds its market
//! not ready does not count against the interval.
//!
//! **Kinds** (one closed enum, [`ControllerKind`]): market making with fixed or
//! NATR-scaled spreads ([`market_making`]), directional trading on Bollinger %B / MACD
//! ([`directional`]), two-instrument arbitrage ([`arbitrage`]), XEMM over levels
//! ([`xemm`]), and user strategies behind the [`generic::GenericStrategy`] trait,
//! created once at start from a [`generic::Registry`].
//!
//! **Runtime updates.** `Command::UpdateController` changes a field the spec marks
//! updatable ([`ControllerField`]); anything else is refused with an alert. Commands
//! are journaled inputs, so replay applies the same updates at the same points.
//!
//! **Determinism and cost.** Executors are listed in slot order; indicators are
//! integer fixed point; no step allocates once the vectors reached their working size.

pub mod arbitrage;
pub mod config;
pub mod copy_trading;
pub mod directional;
pub mod generic;
pub mod indicators;
pub mod market_making;
pub mod quote_replace;
pub mod xemm;

use crate::book::Book;
use crate::config::{Config, ConfigError, ControllerConfig};
use crate::events::{CloseType, RunStatus};
use crate::executors::{Executor, ExecutorConfig, ExecutorKind};
use crate::market_data::{CandleSeries, MarketData};
use crate::num::{Dec, SCALE};
use crate::portfolio::Portfolio;
use crate::report::Performance;
use crate::types::{Instrument, InstrumentId, Side};

pub use generic::{GenericStrategy, Registry};

/// Recently closed executors a controller keeps for its view.
pub const RECENT_CLOSED: usize = 32;

/// What a controller asks the orchestrator to do.
// Create carries a whole executor configuration inline: actions live in a vector
// allocated once, and boxing would allocate per action.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
pub enum ControllerAction {
    /// Create and start an executor serving `level` (a controller-defined tag,
    /// Hummingbot's `level_id`).
    Create {
        /// Level tag.
        level: u16,
        /// Executor configuration.
        config: ExecutorConfig,
    },
    /// Stop an executor (Hummingbot's StopExecutorAction); ignored unless the
    /// executor belongs to the controller asking.
    Stop {
        /// Executor id.
        executor: u32,
        /// Leave its position open.
        keep_position: bool,
    },
}

/// Executor type, as Hummingbot's `type` discriminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorType {
    /// Single order.
    Order,
    /// Triple-barrier position.
    Position,
    /// Grid.
    Grid,
    /// DCA.
    Dca,
    /// TWAP.
    Twap,
    /// Arbitrage.
    Arbitrage,
    /// XEMM.
    Xemm,
}

/// What a controller sees of one of its executors (Hummingbot's ExecutorInfo).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExecutorInfo {
    /// Executor id.
    pub id: u32,
    /// Level tag it was created for.
    pub level: u16,
    /// Type.
    pub kind: ExecutorType,
    /// Main instrument.
    pub instrument: InstrumentId,
    /// Side (the maker side for XEMM; None for arbitrage).
    pub side: Option<Side>,
    /// Lifecycle.
    pub status: RunStatus,
    /// RUNNING or NOT_STARTED.
    pub is_active: bool,
    /// Hummingbot's `is_trading` (e.g. a position with a fill).
    pub is_trading: bool,
    /// Creation time (ns).
    pub created_ts: u64,
    /// How it closes or closed.
    pub close_type: Option<CloseType>,
    /// Close time (0 while running).
    pub close_ts: u64,
    /// Net pnl (quote).
    pub net_pnl_quote: Dec,
    /// Executed notional (quote).
    pub filled_amount_quote: Dec,
}

impl ExecutorInfo {
    /// Snapshot of an executor at the current books.
    #[inline]
    pub fn of(e: &Executor, books: &[Book]) -> ExecutorInfo {
        let kind = match e.kind {
            ExecutorKind::Order(_) => ExecutorType::Order,
            ExecutorKind::Position(_) => ExecutorType::Position,
            ExecutorKind::Grid(_) => ExecutorType::Grid,
            ExecutorKind::Dca(_) => ExecutorType::Dca,
            ExecutorKind::Twap(_) => ExecutorType::Twap,
            ExecutorKind::Arbitrage(_) => ExecutorType::Arbitrage,
            ExecutorKind::Xemm(_) => ExecutorType::Xemm,
        };
        let s = e.logic_ref().snapshot(&e.core, books);
        ExecutorInfo {
            id: e.core.id,
            level: e.core.level,
            kind,
            instrument: s.instrument,
            side: s.side,
            status: e.core.status,
            is_active: e.core.is_active(),
            is_trading: s.is_trading,
            created_ts: e.core.created_ts,
            close_type: e.core.close_type,
            close_ts: e.core.close_ts,
            net_pnl_quote: s.net_pnl_quote,
            filled_amount_quote: s.filled_amount_quote,
        }
    }
}

/// Read-only state a controller decides on.
#[derive(Clone, Copy)]
pub struct ControllerView<'a> {
    /// Event time of the input being applied (ns).
    pub now: u64,
    /// Index of the controller.
    pub controller: u16,
    /// Instruments by id.
    pub instruments: &'a [Instrument],
    /// Books by instrument id.
    pub books: &'a [Book],
    /// Candle series of `[[candles]]`.
    pub candles: &'a [CandleSeries],
    /// Balances and positions.
    pub portfolio: &'a Portfolio,
    /// This controller's live executors, in slot order.
    pub executors: &'a [ExecutorInfo],
    /// This controller's most recently closed executors, oldest first (at most
    /// [`RECENT_CLOSED`]).
    pub closed: &'a [ExecutorInfo],
    /// This controller's cached performance (stored executors, held positions).
    pub performance: Option<&'a Performance>,
}

impl<'a> ControllerView<'a> {
    /// Market-data getters (prices, book walks, candles, rates, balances).
    pub fn market(&self) -> MarketData<'a> {
        MarketData {
            instruments: self.instruments,
            books: self.books,
            candles: self.candles,
            portfolio: self.portfolio,
        }
    }

    /// The instrument's book when it is ready to trade on.
    pub fn ready_book(&self, i: InstrumentId) -> Option<&'a Book> {
        self.books.get(i as usize).filter(|b| b.is_ready())
    }

    /// Mid price of a ready book.
    pub fn mid(&self, i: InstrumentId) -> Option<Dec> {
        self.ready_book(i).and_then(|b| b.mid())
    }

    /// The candle series of an instrument and interval (seconds).
    pub fn candles(&self, i: InstrumentId, interval_s: u32) -> Option<&'a CandleSeries> {
        self.candles
            .iter()
            .find(|c| c.instrument == i && c.interval_s == interval_s)
    }

    /// Net base this controller holds on `i` from executors that closed keeping their
    /// position (Hummingbot's positions_held: BUY +, SELL −).
    pub fn held_base(&self, i: InstrumentId) -> Dec {
        self.performance.map_or(Dec::ZERO, |p| {
            p.positions
                .iter()
                .filter(|h| h.instrument == i)
                .fold(Dec::ZERO, |a, h| a + h.position.net)
        })
    }

    /// Active executors (RUNNING or NOT_STARTED).
    pub fn active(&self) -> impl Iterator<Item = &'a ExecutorInfo> {
        self.executors.iter().filter(|e| e.is_active)
    }

    /// Instrument rules.
    pub fn instrument(&self, i: InstrumentId) -> Option<&'a Instrument> {
        self.instruments.get(i as usize)
    }
}

/// Fields `Command::UpdateController` may name. Which ones a controller accepts
/// depends on its kind; the spec's updatable fields are accepted, the rest refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug, PartialEq))]
pub enum ControllerField {
    /// Quote budget (MM, directional, generic).
    TotalAmountQuote,
    /// Spread of buy level i (MM).
    BuySpread(u16),
    /// Spread of sell level i (MM).
    SellSpread(u16),
    /// Weight of buy level i (MM).
    BuyAmountPct(u16),
    /// Weight of sell level i (MM).
    SellAmountPct(u16),
    /// Seconds before an unfilled level is re-quoted (MM).
    ExecutorRefreshTime,
    /// Cooldown in seconds (MM, directional, generic).
    CooldownTime,
    /// Stop loss fraction, 0 = none.
    StopLoss,
    /// Take profit fraction, 0 = none.
    TakeProfit,
    /// Time limit in seconds, 0 = none.
    TimeLimit,
    /// Trailing-stop activation (a trailing stop must be configured).
    TrailingActivation,
    /// Trailing-stop delta (a trailing stop must be configured).
    TrailingDelta,
    /// Spot rebalance threshold fraction (MM).
    PositionRebalanceThreshold,
    /// Most active positions per side (directional).
    MaxExecutorsPerSide,
    /// Bollinger width in standard deviations (directional).
    BbStd,
    /// %B long threshold (directional).
    BbLongThreshold,
    /// %B short threshold (directional).
    BbShortThreshold,
    /// Minimum profitability (arbitrage, XEMM).
    MinProfitability,
    /// Maximum profitability (XEMM).
    MaxProfitability,
    /// Target profitability of level i (XEMM).
    TargetProfitability(u16),
    /// Quote amount of level i (XEMM).
    LevelAmountQuote(u16),
    /// Base amount per leg (arbitrage).
    OrderAmount,
    /// Seconds between executors of a direction (arbitrage).
    DelayBetweenExecutors,
    /// Most round trips one side may lead by (arbitrage, XEMM).
    MaxExecutorsImbalance,
    /// Seconds between control steps (every kind).
    UpdateInterval,
    /// Leverage: fixed once positions exist (refused).
    Leverage,
    /// Indicator length (Bollinger, MACD, NATR): fixed, the indicator state depends on it (refused).
    IndicatorLength,
    /// A parameter of a generic strategy, by the strategy's own numbering.
    Custom(u16),
}

/// Why an update was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// The field is not updatable for this controller (or does not apply to it).
    NotUpdatable,
    /// The value is out of range for the field.
    InvalidValue,
}

/// A whole number of seconds ≥ 0.
pub fn whole_seconds(v: Dec) -> Result<u64, UpdateError> {
    if v.raw() < 0 || v.raw() % SCALE != 0 {
        return Err(UpdateError::InvalidValue);
    }
    Ok((v.raw() / SCALE) as u64)
}

/// A fraction in [0, 1).
pub fn fraction(v: Dec) -> Result<Dec, UpdateError> {
    if v.raw() < 0 || v >= Dec::ONE {
        return Err(UpdateError::InvalidValue);
    }
    Ok(v)
}

/// A value > 0.
pub fn positive(v: Dec) -> Result<Dec, UpdateError> {
    if v.raw() <= 0 {
        return Err(UpdateError::InvalidValue);
    }
    Ok(v)
}

/// A whole count ≥ 1.
pub fn count(v: Dec) -> Result<u32, UpdateError> {
    let n = whole_seconds(v)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or(UpdateError::InvalidValue)
}

/// State every controller has.
#[derive(Debug)]
pub struct ControllerBase {
    /// Controller id from the config.
    pub id: String,
    /// Instruments whose market data runs a step.
    pub instruments: Vec<InstrumentId>,
    /// Least event time between steps (ns).
    pub update_interval_ns: u64,
    /// Time of the last step that found its market ready.
    pub last_step: Option<u64>,
    /// Closed executors, oldest first; the last [`RECENT_CLOSED`] are the recent ones
    /// (see [`ControllerBase::recent`]). Holds up to twice that and drops the older
    /// half at once, so closing an executor does not shift the list.
    closed: Vec<ExecutorInfo>,
}

impl ControllerBase {
    fn new(id: &str, instruments: Vec<InstrumentId>, interval: Dec) -> ControllerBase {
        ControllerBase {
            id: id.to_string(),
            instruments,
            update_interval_ns: interval.raw().max(0) as u64,
            last_step: None,
            closed: Vec::with_capacity(2 * RECENT_CLOSED),
        }
    }

    /// This controller's most recently closed executors, oldest first (at most
    /// [`RECENT_CLOSED`]).
    pub fn recent(&self) -> &[ExecutorInfo] {
        &self.closed[self.closed.len().saturating_sub(RECENT_CLOSED)..]
    }

    fn push_closed(&mut self, info: ExecutorInfo) {
        if self.closed.len() == 2 * RECENT_CLOSED {
            self.closed.drain(..RECENT_CLOSED);
        }
        self.closed.push(info);
    }

    /// True if market data of `i` runs a step.
    pub fn uses(&self, i: InstrumentId) -> bool {
        self.instruments.contains(&i)
    }

    /// True when a step may run at `now` (the update interval has passed).
    pub fn due(&self, now: u64) -> bool {
        self.last_step
            .is_none_or(|t| now >= t.saturating_add(self.update_interval_ns))
    }
}

/// The controller kinds.
#[allow(clippy::large_enum_variant)] // one per controller, built once
#[derive(Debug)]
#[repr(u8)]
pub enum ControllerKind {
    /// Market making (fixed or NATR spreads).
    MarketMaking(market_making::MarketMaking),
    /// Directional trading.
    Directional(directional::Directional),
    /// Two-instrument arbitrage.
    Arbitrage(arbitrage::ArbitrageController),
    /// XEMM levels.
    Xemm(xemm::XemmController),
    /// A user strategy.
    Generic(generic::Generic),
    /// Copy trading (acts on signals, not in control steps).
    CopyTrading(copy_trading::CopyTradingController),
}

/// A controller: common state plus its kind.
#[derive(Debug)]
pub struct Controller {
    /// Common state.
    pub base: ControllerBase,
    /// Kind-specific state.
    pub kind: ControllerKind,
}

fn instrument_id(instruments: &[Instrument], symbol: &str) -> Result<InstrumentId, ConfigError> {
    instruments
        .iter()
        .position(|i| i.spec.symbol == symbol)
        .map(|i| i as InstrumentId)
        .ok_or_else(|| ConfigError(format!("unknown instrument {symbol}")))
}

impl Controller {
    /// Builds a controller from its (validated) configuration.
    ///
    /// # Errors
    /// Unknown instruments or generic strategy names, or strategy parameters the
    /// strategy refuses.
    pub fn build(
        cfg: &ControllerConfig,
        config: &Config,
        instruments: &[Instrument],
        registry: &Registry,
    ) -> Result<Controller, ConfigError> {
        let err = |e: String| config::controller_error(cfg.id(), e);
        let (base, kind) = match cfg {
            ControllerConfig::MarketMaking(m) | ControllerConfig::Dman(m) => {
                let dman = matches!(cfg, ControllerConfig::Dman(_));
                let i = instrument_id(instruments, &m.instrument)?;
                let mm = market_making::MarketMaking::new(m, &instruments[i as usize], dman)
                    .map_err(err)?;
                (
                    ControllerBase::new(&m.id, vec![i], m.update_interval),
                    ControllerKind::MarketMaking(mm),
                )
            }
            ControllerConfig::Directional(d) => {
                let i = instrument_id(instruments, &d.instrument)?;
                let dt = directional::Directional::new(d, &instruments[i as usize]).map_err(err)?;
                (
                    ControllerBase::new(&d.id, vec![i], d.update_interval),
                    ControllerKind::Directional(dt),
                )
            }
            ControllerConfig::Arbitrage(a) => {
                let x = instrument_id(instruments, &a.instrument_1)?;
                let y = instrument_id(instruments, &a.instrument_2)?;
                let ctl = arbitrage::ArbitrageController::new(a, x, y, config.venue.taker_fee);
                (
                    ControllerBase::new(&a.id, vec![x, y], a.update_interval),
                    ControllerKind::Arbitrage(ctl),
                )
            }
            ControllerConfig::Xemm(x) => {
                let maker = instrument_id(instruments, &x.maker_instrument)?;
                let taker = instrument_id(instruments, &x.taker_instrument)?;
                let ctl = xemm::XemmController::new(x, maker, taker, &config.venue);
                (
                    ControllerBase::new(&x.id, vec![maker, taker], x.update_interval),
                    ControllerKind::Xemm(ctl),
                )
            }
            ControllerConfig::Generic(g) => {
                let main = instrument_id(instruments, &g.instrument)?;
                let mut ids = vec![main];
                for s in &g.other_instruments {
                    ids.push(instrument_id(instruments, s)?);
                }
                let setup = generic::GenericSetup {
                    id: &g.id,
                    instrument: &instruments[main as usize],
                    total_amount_quote: g.total_amount_quote,
                    params: &g.params,
                    config,
                };
                let strategy = registry.build(&g.strategy, &setup).map_err(err)?;
                (
                    ControllerBase::new(&g.id, ids, g.update_interval),
                    ControllerKind::Generic(generic::Generic {
                        name: g.strategy.clone(),
                        strategy,
                    }),
                )
            }
            ControllerConfig::CopyTrading(ct) => {
                let source = config
                    .signal_sources()
                    .find(|(_, _, c)| c.id == ct.id)
                    .map_or(0, |(_, s, _)| s);
                let ctl = copy_trading::CopyTradingController::new(ct, source, instruments)?;
                // Signals, not market data, drive it: no instrument runs a step.
                (
                    ControllerBase::new(&ct.id, Vec::new(), Dec::ZERO),
                    ControllerKind::CopyTrading(ctl),
                )
            }
        };
        Ok(Controller { base, kind })
    }

    /// Controller id.
    pub fn id(&self) -> &str {
        &self.base.id
    }

    /// One control step: pushes actions and returns true if the controller's market
    /// was ready (the step then counts against the update interval).
    pub fn step(&mut self, view: ControllerView<'_>, actions: &mut Vec<ControllerAction>) -> bool {
        let view = ControllerView {
            closed: self.base.recent(),
            ..view
        };
        let ran = match &mut self.kind {
            ControllerKind::MarketMaking(c) => c.step(&view, actions),
            ControllerKind::Directional(c) => c.step(&view, actions),
            ControllerKind::Arbitrage(c) => c.step(&view, actions),
            ControllerKind::Xemm(c) => c.step(&view, actions),
            ControllerKind::CopyTrading(_) => false,
            ControllerKind::Generic(c) => {
                // Called once the main instrument's book is ready.
                let main = self.base.instruments.first().copied().unwrap_or(0);
                let ready = view.ready_book(main).is_some();
                if ready {
                    c.strategy.on_step(&view, actions);
                }
                ready
            }
        };
        if ran {
            self.base.last_step = Some(view.now);
        }
        ran
    }

    /// One of its executors terminated (called once, before it is dropped).
    pub fn on_closed(&mut self, info: ExecutorInfo) {
        self.base.push_closed(info);
        match &mut self.kind {
            ControllerKind::MarketMaking(c) => c.on_closed(&info),
            ControllerKind::Directional(_) => {}
            ControllerKind::Arbitrage(c) => c.on_closed(&info),
            ControllerKind::Xemm(c) => c.on_closed(&info),
            ControllerKind::Generic(c) => c.strategy.on_closed(&info),
            ControllerKind::CopyTrading(c) => c.on_closed(&info),
        }
    }

    /// Applies a runtime update (`Command::UpdateController`).
    ///
    /// # Errors
    /// [`UpdateError::NotUpdatable`] for a field the kind does not update,
    /// [`UpdateError::InvalidValue`] for a value out of range; the controller is
    /// unchanged either way.
    pub fn update(&mut self, field: ControllerField, value: Dec) -> Result<(), UpdateError> {
        if field == ControllerField::UpdateInterval {
            if value.raw() < 0 {
                return Err(UpdateError::InvalidValue);
            }
            self.base.update_interval_ns = value.raw() as u64;
            return Ok(());
        }
        match &mut self.kind {
            ControllerKind::MarketMaking(c) => c.update(field, value),
            ControllerKind::Directional(c) => c.update(field, value),
            ControllerKind::Arbitrage(c) => c.update(field, value),
            ControllerKind::Xemm(c) => c.update(field, value),
            ControllerKind::Generic(c) => c.strategy.update(field, value),
            ControllerKind::CopyTrading(_) => Err(UpdateError::NotUpdatable),
        }
    }
}

/// Vectors the engine reuses for every control step (allocated once).
#[derive(Debug)]
pub struct Scratch {
    /// Executor snapshots of the controller stepping.
    pub infos: Vec<ExecutorInfo>,
    /// Actions of the step.
    pub actions: Vec<ControllerAction>,
}

impl Scratch {
    /// Room for `n` executors and actions per step.
    pub fn with_capacity(n: usize) -> Scratch {
        Scratch {
            infos: Vec::with_capacity(n),
            actions: Vec::with_capacity(n),
        }
    }
}
