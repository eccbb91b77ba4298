//! Executors: each owns the orders of one small plan and reports how it closed
//! (Hummingbot Strategy V2 semantics, see `hummingbot_v2_spec.md`).

use crate::book::Book;
use crate::events::{Action, AlertCode, CloseType, Header, Output, PlaceOrder, RunStatus};
use crate::num::Dec;
use crate::orders::{Order, OrderEvent, OrderManager};
use crate::portfolio::Portfolio;
use crate::risk::{OrderCheck, Risk, RiskLimit};
use crate::types::{
    ClientOrderId, Instrument, InstrumentId, OrderType, PositionAction, Side, TimeInForce,
};

pub mod arbitrage;
pub mod barrier;
pub mod dca;
pub mod grid;
pub mod order;
pub mod position;
pub mod twap;
pub mod xemm;

pub use arbitrage::{ArbitrageConfig, ArbitrageExecutor};
pub use barrier::{TrailingStop, TripleBarrier};
pub use dca::{DcaConfig, DcaExecutor};
pub use grid::{GridConfig, GridExecutor};
pub use order::{ExecutionStrategy, OrderExecutor, OrderExecutorConfig};
pub use position::{PositionConfig, PositionExecutor};
pub use twap::{TwapConfig, TwapExecutor};
pub use xemm::{XemmConfig, XemmExecutor};

/// Failures tolerated before an executor closes as FAILED (the orchestrator's value).
pub const MAX_RETRIES: u32 = 10;
/// Event time between shutdown attempts (ns).
pub const SHUTDOWN_RETRY_NS: u64 = 5_000_000_000;

/// Receives each output the moment the engine pushes it, before
/// [`Engine::apply`](crate::Engine::apply) returns: the live runtime publishes it to
/// the output ring there, so the gateway sends a tick's first orders while the engine
/// still works out the rest. Nothing a sink does reaches the engine's state, so
/// outputs and replay are the same with or without one.
pub trait OutputSink: Send {
    /// An input is about to be applied (called before any output it causes). Its
    /// number is the outputs' `cause`; the header's `seq` may be unset (see
    /// [`Engine::apply_as`](crate::Engine::apply_as)).
    fn input(&mut self, header: &Header);
    /// An output of that input, in output order.
    fn output(&mut self, output: &Output);
}

/// Outputs of one `apply`, numbered as they are pushed.
pub struct Outbox {
    /// Outputs of the current input.
    pub items: Vec<Output>,
    /// Where each output also goes as it is pushed (see [`OutputSink`]; set through
    /// [`Engine::set_output_sink`](crate::Engine::set_output_sink)).
    pub(crate) sink: Option<Box<dyn OutputSink>>,
    /// Sequence number the next output gets.
    pub next_seq: u64,
    /// Input being applied.
    pub cause: u64,
    /// Its event time.
    pub ts: u64,
    /// Alerts pushed so far, whoever raised them (engine, executors, controllers).
    pub alerts: u64,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("items", &self.items)
            .field("sink", &self.sink.is_some())
            .field("next_seq", &self.next_seq)
            .field("cause", &self.cause)
            .field("ts", &self.ts)
            .field("alerts", &self.alerts)
            .finish()
    }
}

impl Outbox {
    /// Empty outbox with room for `n` outputs per input.
    pub fn with_capacity(n: usize) -> Outbox {
        Outbox {
            items: Vec::with_capacity(n),
            sink: None,
            next_seq: 1,
            cause: 0,
            ts: 0,
            alerts: 0,
        }
    }

    /// Appends an output caused by the current input.
    pub fn push(&mut self, action: Action) {
        self.alerts += matches!(action, Action::Alert { .. }) as u64;
        self.items.push(Output {
            seq: self.next_seq,
            cause: self.cause,
            ts: self.ts,
            action,
        });
        self.next_seq += 1;
        if self.sink.is_some() {
            self.stream_last();
        }
    }

    /// Hands the output just pushed to the sink. Out of line, so the push that
    /// backtests and replays inline stays small.
    #[inline(never)]
    fn stream_last(&mut self) {
        if let (Some(sink), Some(output)) = (self.sink.as_mut(), self.items.last()) {
            sink.output(output);
        }
    }

    /// Appends an alert about order `cid` (the default id where no order is
    /// concerned). Out of line: alerts mark the unusual paths.
    #[cold]
    #[inline(never)]
    pub fn alert(&mut self, code: AlertCode, cid: ClientOrderId) {
        self.push(Action::Alert { code, cid });
    }
}

/// Everything an executor may read or change while it runs.
pub struct Ctx<'a> {
    /// Event time of the input being applied.
    pub now: u64,
    /// Session id (client order ids).
    pub session_id: u32,
    /// Instrument table.
    pub instruments: &'a [Instrument],
    /// Books by instrument id.
    pub books: &'a [Book],
    /// Live orders.
    pub orders: &'a mut OrderManager,
    /// Balances and positions.
    pub portfolio: &'a mut Portfolio,
    /// Outputs.
    pub out: &'a mut Outbox,
    /// Counter of client order ids.
    pub next_order: &'a mut u32,
    /// Pre-trade limits and the kill switch.
    pub risk: &'a mut Risk,
}

/// Why an order was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceError {
    /// Quantity or notional rounds below the venue's minimums.
    BelowMinimum,
    /// Not enough free balance.
    InsufficientBalance,
    /// No price to value the order at.
    NoMarket,
    /// A pre-trade risk limit, or the kill switch, refused it.
    Risk(RiskLimit),
}

impl Ctx<'_> {
    /// Quantizes, checks and sends an order for `executor`. Prices round BUY down and
    /// SELL up to the tick; quantities round down to the lot. Market orders carry price 0.
    pub fn place(
        &mut self,
        executor: u32,
        instrument: InstrumentId,
        side: Side,
        order_type: OrderType,
        price: Dec,
        qty: Dec,
    ) -> Result<ClientOrderId, PlaceError> {
        self.place_with_action(
            executor,
            instrument,
            side,
            order_type,
            price,
            qty,
            PositionAction::Open,
        )
    }

    /// [`place`](Self::place) with an explicit position action: closing orders carry
    /// the instrument market's [`close_action`](crate::types::Market::close_action).
    #[allow(clippy::too_many_arguments)]
    pub fn place_with_action(
        &mut self,
        executor: u32,
        instrument: InstrumentId,
        side: Side,
        order_type: OrderType,
        price: Dec,
        qty: Dec,
        position_action: PositionAction,
    ) -> Result<ClientOrderId, PlaceError> {
        let inst = &self.instruments[instrument as usize];
        let book = &self.books[instrument as usize];
        if !book.is_ready() {
            return Err(PlaceError::NoMarket);
        }
        let qty = inst.lot.floor(qty);
        let (price, value_px) = if order_type == OrderType::Market {
            let px = match side {
                Side::Buy => book.best_ask(),
                Side::Sell => book.best_bid(),
            };
            (Dec::ZERO, px.ok_or(PlaceError::NoMarket)?)
        } else {
            let p = match side {
                Side::Buy => inst.tick.floor(price),
                Side::Sell => inst.tick.ceil(price),
            };
            (p, p)
        };
        let cid = ClientOrderId::new(self.session_id, *self.next_order);
        if qty < inst.spec.min_quantity()
            || value_px.mul(qty) < inst.spec.min_notional
            || value_px.raw() <= 0
        {
            return Err(self.refuse(AlertCode::BelowMinimum, cid, PlaceError::BelowMinimum));
        }
        self.check_risk(instrument, side, value_px, qty, cid)?;
        let (asset, amount) = self
            .portfolio
            .required(inst, side, value_px, qty, position_action);
        if !self.portfolio.try_lock(asset, amount) {
            let e = PlaceError::InsufficientBalance;
            return Err(self.refuse(AlertCode::InsufficientBalance, cid, e));
        }
        *self.next_order += 1;
        let req = PlaceOrder {
            cid,
            instrument,
            side,
            order_type,
            tif: TimeInForce::Gtc,
            price,
            qty,
            position_action,
        };
        self.orders.insert(req, executor, self.now, amount);
        self.risk.on_sent(self.now);
        self.out.push(Action::Place(req));
        Ok(cid)
    }

    /// Runs the pre-trade limits on an order about to be sent; a breach is journaled
    /// as the limit's alert with the order id it would have had.
    fn check_risk(
        &mut self,
        instrument: InstrumentId,
        side: Side,
        price: Dec,
        qty: Dec,
        cid: ClientOrderId,
    ) -> Result<(), PlaceError> {
        let i = instrument as usize;
        let open_same_side = if self.risk.needs_open_qty(i) {
            self.orders
                .iter()
                .filter(|o| o.req.instrument == instrument && o.req.side == side)
                .fold(Dec::ZERO, |acc, o| acc + o.remaining())
        } else {
            Dec::ZERO
        };
        let check = OrderCheck {
            instrument: i,
            side,
            price,
            qty,
            mid: self.books[i].mid(),
            open_orders: self.orders.live(),
        };
        let net = self.portfolio.positions.get(i).map_or(Dec::ZERO, |p| p.net);
        match self.risk.check(self.now, &check, net, open_same_side) {
            Ok(()) => Ok(()),
            Err(limit) => Err(self.refuse(limit.alert(), cid, PlaceError::Risk(limit))),
        }
    }

    /// An order refused before it was sent: journals the alert with the order id it
    /// would have had and returns `err`.
    fn refuse(&mut self, code: AlertCode, cid: ClientOrderId, err: PlaceError) -> PlaceError {
        self.out.alert(code, cid);
        err
    }

    /// Sends a cancel if the order is working and not already being cancelled.
    #[inline]
    pub fn cancel(&mut self, cid: ClientOrderId) -> bool {
        let Some(inst) = self.orders.get(cid).map(|o| o.req.instrument) else {
            return false;
        };
        if self.orders.mark_cancel(cid) {
            self.out.push(Action::Cancel {
                cid,
                instrument: inst,
            });
            true
        } else {
            false
        }
    }

    /// Free balance for an order of `side` at `price`: true if it can be funded.
    pub fn can_fund(&self, instrument: InstrumentId, side: Side, price: Dec, qty: Dec) -> bool {
        let inst = &self.instruments[instrument as usize];
        let (asset, amount) = self
            .portfolio
            .required(inst, side, price, qty, PositionAction::Open);
        self.portfolio.balance(asset).available() >= amount
    }
}

/// Lifecycle fields every executor has.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutorCore {
    /// Deterministic id (creation counter).
    pub id: u32,
    /// Owning controller index.
    pub controller: u16,
    /// Controller level this executor serves (`u16::MAX`: none).
    pub level: u16,
    /// Lifecycle.
    pub status: RunStatus,
    /// Why it closed (set when it starts closing).
    pub close_type: Option<CloseType>,
    /// Creation time.
    pub created_ts: u64,
    /// Close time (0 while running).
    pub close_ts: u64,
    /// Failed orders so far.
    pub retries: u32,
}

impl ExecutorCore {
    /// Terminates now with `close_type`.
    pub fn close(&mut self, now: u64, close_type: CloseType) {
        self.close_type = Some(close_type);
        self.status = RunStatus::Terminated;
        self.close_ts = now;
    }

    /// Running or not started yet.
    pub fn is_active(&self) -> bool {
        matches!(self.status, RunStatus::Running | RunStatus::NotStarted)
    }
}

/// Fills an executor leaves as exposure when it closes with POSITION_HOLD (what the
/// orchestrator folds into its held positions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Base bought.
    pub buy_base: Dec,
    /// Quote spent buying.
    pub buy_quote: Dec,
    /// Base sold.
    pub sell_base: Dec,
    /// Quote received selling.
    pub sell_quote: Dec,
    /// Fees of those fills (quote).
    pub fees: Dec,
}

/// Configuration of any executor; `Command::CreateExecutor` carries one so that
/// executors created by hand are journaled inputs like everything else.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[repr(u8)]
pub enum ExecutorConfig {
    /// Single order.
    Order(OrderExecutorConfig),
    /// Triple-barrier position.
    Position(PositionConfig),
    /// Grid.
    Grid(GridConfig),
    /// Dollar-cost averaging.
    Dca(DcaConfig),
    /// Time-weighted average price.
    Twap(TwapConfig),
    /// Cross-market arbitrage.
    Arbitrage(ArbitrageConfig),
    /// Cross-exchange market making.
    Xemm(XemmConfig),
}

impl ExecutorConfig {
    /// The instruments it trades: its one instrument twice, or the buying and selling
    /// legs of arbitrage and XEMM.
    pub fn instruments(&self) -> [InstrumentId; 2] {
        match *self {
            ExecutorConfig::Order(c) => [c.instrument; 2],
            ExecutorConfig::Position(c) => [c.instrument; 2],
            ExecutorConfig::Grid(c) => [c.instrument; 2],
            ExecutorConfig::Dca(c) => [c.instrument; 2],
            ExecutorConfig::Twap(c) => [c.instrument; 2],
            ExecutorConfig::Arbitrage(c) => [c.buying, c.selling],
            ExecutorConfig::Xemm(c) => [c.buying, c.selling],
        }
    }

    /// A fresh, not started executor of this configuration.
    pub fn build(self) -> ExecutorKind {
        match self {
            ExecutorConfig::Order(c) => ExecutorKind::Order(OrderExecutor::new(c)),
            ExecutorConfig::Position(c) => ExecutorKind::Position(PositionExecutor::new(c)),
            ExecutorConfig::Grid(c) => ExecutorKind::Grid(GridExecutor::new(c)),
            ExecutorConfig::Dca(c) => ExecutorKind::Dca(DcaExecutor::new(c)),
            ExecutorConfig::Twap(c) => ExecutorKind::Twap(TwapExecutor::new(c)),
            ExecutorConfig::Arbitrage(c) => ExecutorKind::Arbitrage(ArbitrageExecutor::new(c)),
            ExecutorConfig::Xemm(c) => ExecutorKind::Xemm(XemmExecutor::new(c)),
        }
    }

    /// Like [`ExecutorConfig::build`], written over `kind` variant by variant (each
    /// arm stores only its own variant's fields, not a whole `ExecutorKind`).
    pub fn build_into(&self, kind: &mut ExecutorKind) {
        match *self {
            ExecutorConfig::Order(c) => *kind = ExecutorKind::Order(OrderExecutor::new(c)),
            ExecutorConfig::Position(c) => *kind = ExecutorKind::Position(PositionExecutor::new(c)),
            // Those with level storage keep it when the slot held their kind.
            ExecutorConfig::Grid(c) => match kind {
                ExecutorKind::Grid(g) => g.renew(c),
                _ => *kind = ExecutorKind::Grid(GridExecutor::new(c)),
            },
            ExecutorConfig::Dca(c) => match kind {
                ExecutorKind::Dca(d) => d.renew(c),
                _ => *kind = ExecutorKind::Dca(DcaExecutor::new(c)),
            },
            ExecutorConfig::Twap(c) => match kind {
                ExecutorKind::Twap(t) => t.renew(c),
                _ => *kind = ExecutorKind::Twap(TwapExecutor::new(c)),
            },
            ExecutorConfig::Arbitrage(c) => {
                *kind = ExecutorKind::Arbitrage(ArbitrageExecutor::new(c))
            }
            ExecutorConfig::Xemm(c) => *kind = ExecutorKind::Xemm(XemmExecutor::new(c)),
        }
    }
}

/// `storage` holding `n` copies of `fill`: the same allocation when it already has
/// `n` slots (an executor renewed in place), else a new one.
fn refill<T: Copy>(mut storage: Box<[T]>, n: usize, fill: T) -> Box<[T]> {
    if storage.len() == n {
        storage.fill(fill);
        storage
    } else {
        vec![fill; n].into_boxed_slice()
    }
}

/// The executor types.
// `repr(u8)` here and on the other hot enums (`Event`, `Action`, `ControllerAction`,
// ...): a plain tag byte that every `match` reads directly. Left to the compiler the
// tag hid in a niche of a variant's fields and took several instructions to decode:
// ~3 % of the backtest loop's instructions.
#[derive(Clone, Debug, PartialEq)]
#[repr(u8)]
pub enum ExecutorKind {
    /// Single order.
    Order(OrderExecutor),
    /// Triple-barrier position.
    Position(PositionExecutor),
    /// Grid.
    Grid(GridExecutor),
    /// Dollar-cost averaging.
    Dca(DcaExecutor),
    /// Time-weighted average price.
    Twap(TwapExecutor),
    /// Cross-market arbitrage.
    Arbitrage(ArbitrageExecutor),
    /// Cross-exchange market making.
    Xemm(XemmExecutor),
}

/// An executor: lifecycle plus type-specific state.
#[derive(Clone, Debug, PartialEq)]
pub struct Executor {
    /// Lifecycle.
    pub core: ExecutorCore,
    /// Type-specific state.
    pub kind: ExecutorKind,
}

/// Behaviour every executor type provides. The engine calls `on_start` once, then
/// `control` on every input that concerns the executor (market data of an instrument
/// it `trades`, timers) and `on_order` (followed by `control`) for its orders' reports.
pub trait ExecutorLogic {
    /// Main instrument it trades.
    fn instrument(&self) -> InstrumentId;
    /// True if market data of `instrument` concerns it (two-legged executors override).
    fn trades(&self, instrument: InstrumentId) -> bool {
        instrument == self.instrument()
    }
    /// NOT_STARTED → RUNNING: validate the budget (INSUFFICIENT_BALANCE if short), or
    /// close at once (EXPIRED, FAILED) as the type's rules say.
    fn on_start(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx);
    /// One control step (RUNNING or SHUTTING_DOWN).
    fn control(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx);
    /// An event on one of its orders.
    fn on_order(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx, order: &Order, ev: &OrderEvent);
    /// Ask it to stop; `keep_position` leaves any position open. A control step follows.
    fn early_stop(&mut self, core: &mut ExecutorCore, keep_position: bool);
    /// Net pnl in quote (marks open exposure at the books where the type says so).
    fn net_pnl_quote(&self, books: &[Book]) -> Dec;
    /// Net pnl as a fraction.
    fn net_pnl_pct(&self, _books: &[Book]) -> Dec {
        Dec::ZERO
    }
    /// Executed notional in quote.
    fn filled_amount_quote(&self, books: &[Book]) -> Dec;
    /// Fees in quote.
    fn fees_quote(&self) -> Dec;
    /// Hummingbot's `is_trading` (default: active and pnl ≠ 0).
    fn is_trading(&self, core: &ExecutorCore, books: &[Book]) -> bool {
        core.is_active() && self.net_pnl_quote(books).raw() != 0
    }
    /// Exposure kept after POSITION_HOLD.
    fn held(&self) -> Held {
        Held::default()
    }
    /// Side, for executors that have one.
    fn side(&self) -> Option<Side> {
        None
    }
    /// Side bucket its held position joins (spec §9): `None` (one net bucket per
    /// instrument) except for order executors on hedge-mode perpetuals.
    fn hold_side(&self, _market: crate::types::Market) -> Option<Side> {
        None
    }
    /// What a controller's snapshot of it needs, in one dynamic call (the methods
    /// above, called statically inside).
    fn snapshot(&self, core: &ExecutorCore, books: &[Book]) -> Snapshot {
        Snapshot {
            instrument: self.instrument(),
            side: self.side(),
            is_trading: self.is_trading(core, books),
            net_pnl_quote: self.net_pnl_quote(books),
            filled_amount_quote: self.filled_amount_quote(books),
        }
    }
}

/// The type-specific part of a controller's snapshot of an executor
/// ([`ExecutorInfo`](crate::controllers::ExecutorInfo)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    /// Main instrument.
    pub instrument: InstrumentId,
    /// Side, for executors that have one.
    pub side: Option<Side>,
    /// Hummingbot's `is_trading`.
    pub is_trading: bool,
    /// Net pnl (quote).
    pub net_pnl_quote: Dec,
    /// Executed notional (quote).
    pub filled_amount_quote: Dec,
}

impl Executor {
    fn logic(&mut self) -> (&mut ExecutorCore, &mut dyn ExecutorLogic) {
        let core = &mut self.core;
        match &mut self.kind {
            ExecutorKind::Order(e) => (core, e),
            ExecutorKind::Position(e) => (core, e),
            ExecutorKind::Grid(e) => (core, e),
            ExecutorKind::Dca(e) => (core, e),
            ExecutorKind::Twap(e) => (core, e),
            ExecutorKind::Arbitrage(e) => (core, e),
            ExecutorKind::Xemm(e) => (core, e),
        }
    }

    /// The type-specific logic.
    pub fn logic_ref(&self) -> &dyn ExecutorLogic {
        match &self.kind {
            ExecutorKind::Order(e) => e,
            ExecutorKind::Position(e) => e,
            ExecutorKind::Grid(e) => e,
            ExecutorKind::Dca(e) => e,
            ExecutorKind::Twap(e) => e,
            ExecutorKind::Arbitrage(e) => e,
            ExecutorKind::Xemm(e) => e,
        }
    }

    /// True if market data of `instrument` concerns it.
    pub fn trades(&self, instrument: InstrumentId) -> bool {
        self.logic_ref().trades(instrument)
    }

    /// Instrument it trades.
    pub fn instrument(&self) -> InstrumentId {
        self.logic_ref().instrument()
    }

    /// Starts it (budget check), then runs a first control step.
    pub fn start(&mut self, ctx: &mut Ctx) {
        let (core, l) = self.logic();
        l.on_start(core, ctx);
        if core.status == RunStatus::Running {
            l.control(core, ctx);
        }
    }

    /// One control step.
    pub fn control(&mut self, ctx: &mut Ctx) {
        let (core, l) = self.logic();
        l.control(core, ctx);
    }

    /// Routes an order event, then runs a control step.
    pub fn on_order(&mut self, ctx: &mut Ctx, order: &Order, ev: &OrderEvent) {
        let (core, l) = self.logic();
        l.on_order(core, ctx, order, ev);
        if core.status != RunStatus::Terminated {
            l.control(core, ctx);
        }
    }

    /// Asks it to stop and runs a control step so the cancels go out at once.
    pub fn early_stop(&mut self, ctx: &mut Ctx, keep_position: bool) {
        let (core, l) = self.logic();
        if core.status == RunStatus::NotStarted {
            core.close(ctx.now, CloseType::EarlyStop);
            return;
        }
        l.early_stop(core, keep_position);
        l.control(core, ctx);
    }

    /// Net pnl (quote).
    pub fn net_pnl_quote(&self, books: &[Book]) -> Dec {
        self.logic_ref().net_pnl_quote(books)
    }

    /// Executed notional (quote).
    pub fn filled_amount_quote(&self, books: &[Book]) -> Dec {
        self.logic_ref().filled_amount_quote(books)
    }

    /// Fees (quote).
    pub fn fees_quote(&self) -> Dec {
        self.logic_ref().fees_quote()
    }

    /// Hummingbot's `is_trading`.
    pub fn is_trading(&self, books: &[Book]) -> bool {
        self.logic_ref().is_trading(&self.core, books)
    }
}
