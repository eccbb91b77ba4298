//! Executors: each owns the orders of one small plan and reports how it closed
//! (Hummingbot Strategy V2 semantics, see `hummingbot_v2_spec.md`).

use crate::book::Book;
use crate::events::{Action, AlertCode, CloseType, Output, PlaceOrder, RunStatus};
use crate::num::Dec;
use crate::orders::{Order, OrderEvent, OrderManager};
use crate::portfolio::Portfolio;
use crate::types::{ClientOrderId, Instrument, InstrumentId, OrderType, Side, TimeInForce};

/// Failures tolerated before an executor closes as FAILED (the orchestrator's value).
pub const MAX_RETRIES: u32 = 10;
/// Event time between shutdown attempts (ns).
pub const SHUTDOWN_RETRY_NS: u64 = 5_000_000_000;

/// Outputs of one `apply`, numbered as they are pushed.
#[derive(Debug)]
pub struct Outbox {
    /// Outputs of the current input.
    pub items: Vec<Output>,
    /// Sequence number the next output gets.
    pub next_seq: u64,
    /// Input being applied.
    pub cause: u64,
    /// Its event time.
    pub ts: u64,
}

impl Outbox {
    /// Empty outbox with room for `n` outputs per input.
    pub fn with_capacity(n: usize) -> Outbox {
        Outbox {
            items: Vec::with_capacity(n),
            next_seq: 1,
            cause: 0,
            ts: 0,
        }
    }

    /// Appends an output caused by the current input.
    pub fn push(&mut self, action: Action) {
        self.items.push(Output {
            seq: self.next_seq,
            cause: self.cause,
            ts: self.ts,
            action,
        });
        self.next_seq += 1;
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
        let inst = &self.instruments[instrument as usize];
        let book = &self.books[instrument as usize];
        if !book.is_ready() {
            return Err(PlaceError::NoMarket);
        }
        let qty = qty.floor_to(inst.spec.lot_size);
        let (price, value_px) = if order_type == OrderType::Market {
            let px = match side {
                Side::Buy => book.best_ask(),
                Side::Sell => book.best_bid(),
            };
            (Dec::ZERO, px.ok_or(PlaceError::NoMarket)?)
        } else {
            let p = match side {
                Side::Buy => price.floor_to(inst.spec.tick_size),
                Side::Sell => price.ceil_to(inst.spec.tick_size),
            };
            (p, p)
        };
        let cid = ClientOrderId::new(self.session_id, *self.next_order);
        if qty < inst.spec.min_quantity()
            || value_px.mul(qty) < inst.spec.min_notional
            || value_px.raw() <= 0
        {
            self.out.push(Action::Alert {
                code: AlertCode::BelowMinimum,
                cid,
            });
            return Err(PlaceError::BelowMinimum);
        }
        let (asset, amount) = Portfolio::required(inst, side, value_px, qty);
        if !self.portfolio.try_lock(asset, amount) {
            self.out.push(Action::Alert {
                code: AlertCode::InsufficientBalance,
                cid,
            });
            return Err(PlaceError::InsufficientBalance);
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
        };
        self.orders.insert(req, executor, self.now, amount);
        self.out.push(Action::Place(req));
        Ok(cid)
    }

    /// Sends a cancel if the order is working and not already being cancelled.
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
        let (asset, amount) = Portfolio::required(inst, side, price, qty);
        self.portfolio.balance(asset).available() >= amount
    }
}

/// How an order executor works its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutionStrategy {
    /// Market order.
    Market,
    /// Limit order at `price`.
    Limit,
    /// Post-only at `price`, never better for the market than the touch.
    LimitMaker,
}

/// Configuration of an order executor (spec §3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderExecutorConfig {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Base amount.
    pub amount: Dec,
    /// Order style.
    pub strategy: ExecutionStrategy,
    /// Limit price (ignored for market).
    pub price: Dec,
}

/// Places one order and works it until filled, then holds the position (spec §3).
#[derive(Clone, Debug, PartialEq)]
pub struct OrderExecutor {
    /// Configuration.
    pub cfg: OrderExecutorConfig,
    /// Order currently working.
    pub current: Option<ClientOrderId>,
    current_filled: Dec,
    current_quote: Dec,
    current_fees: Dec,
    /// Base filled by earlier (cancelled, partly filled) orders.
    pub partial_filled: Dec,
    partial_quote: Dec,
    partial_fees: Dec,
    /// Orders whose fills make up the held position.
    pub held_orders: u16,
    partial_orders: u16,
    last_cancel_ts: Option<u64>,
}

impl OrderExecutor {
    /// New executor, not started.
    pub fn new(cfg: OrderExecutorConfig) -> OrderExecutor {
        OrderExecutor {
            cfg,
            current: None,
            current_filled: Dec::ZERO,
            current_quote: Dec::ZERO,
            current_fees: Dec::ZERO,
            partial_filled: Dec::ZERO,
            partial_quote: Dec::ZERO,
            partial_fees: Dec::ZERO,
            held_orders: 0,
            partial_orders: 0,
            last_cancel_ts: None,
        }
    }

    /// Base executed over all its orders.
    pub fn executed(&self) -> Dec {
        self.partial_filled + self.current_filled
    }

    /// Quote executed (Σ px × qty).
    pub fn filled_amount_quote(&self) -> Dec {
        self.partial_quote + self.current_quote
    }

    /// Fees paid (quote).
    pub fn fees_quote(&self) -> Dec {
        self.partial_fees + self.current_fees
    }

    /// Average executed price.
    pub fn average_price(&self) -> Option<Dec> {
        self.filled_amount_quote().div(self.executed())
    }

    fn price(&self, book: &Book) -> (OrderType, Dec) {
        match self.cfg.strategy {
            ExecutionStrategy::Market => (OrderType::Market, Dec::ZERO),
            ExecutionStrategy::Limit => (OrderType::Limit, self.cfg.price),
            ExecutionStrategy::LimitMaker => {
                let p = match (self.cfg.side, book.best_bid(), book.best_ask()) {
                    (Side::Buy, Some(bid), _) => self.cfg.price.min(bid),
                    (Side::Sell, _, Some(ask)) => self.cfg.price.max(ask),
                    _ => self.cfg.price,
                };
                (OrderType::LimitMaker, p)
            }
        }
    }

    fn retire_current(&mut self) {
        if self.current_filled.raw() > 0 {
            self.partial_filled += self.current_filled;
            self.partial_quote += self.current_quote;
            self.partial_fees += self.current_fees;
            self.partial_orders += 1;
        }
        self.current = None;
        self.current_filled = Dec::ZERO;
        self.current_quote = Dec::ZERO;
        self.current_fees = Dec::ZERO;
        self.last_cancel_ts = None;
    }

    fn hold_and_close(&mut self, core: &mut ExecutorCore, now: u64) {
        self.retire_current();
        self.held_orders = self.partial_orders;
        core.close(now, CloseType::PositionHold);
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
    fn close(&mut self, now: u64, close_type: CloseType) {
        self.close_type = Some(close_type);
        self.status = RunStatus::Terminated;
        self.close_ts = now;
    }

    /// Running or not started yet.
    pub fn is_active(&self) -> bool {
        matches!(self.status, RunStatus::Running | RunStatus::NotStarted)
    }
}

/// The executor types.
#[derive(Clone, Debug, PartialEq)]
pub enum ExecutorKind {
    /// Single order.
    Order(OrderExecutor),
}

/// An executor: lifecycle plus type-specific state.
#[derive(Clone, Debug, PartialEq)]
pub struct Executor {
    /// Lifecycle.
    pub core: ExecutorCore,
    /// Type-specific state.
    pub kind: ExecutorKind,
}

/// Behaviour every executor type provides.
pub trait ExecutorLogic {
    /// Instrument it trades.
    fn instrument(&self) -> InstrumentId;
    /// NOT_STARTED → RUNNING: validate the budget (INSUFFICIENT_BALANCE if short).
    fn on_start(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx);
    /// One control step (RUNNING or SHUTTING_DOWN).
    fn control(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx);
    /// An event on one of its orders.
    fn on_order(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx, order: &Order, ev: &OrderEvent);
    /// Ask it to stop; `keep_position` leaves any position open.
    fn early_stop(&mut self, core: &mut ExecutorCore, keep_position: bool);
    /// Net pnl in quote.
    fn net_pnl_quote(&self) -> Dec;
    /// Executed notional in quote.
    fn filled_amount_quote(&self) -> Dec;
    /// Fees in quote.
    fn fees_quote(&self) -> Dec;
}

impl ExecutorLogic for OrderExecutor {
    fn instrument(&self) -> InstrumentId {
        self.cfg.instrument
    }

    fn on_start(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let book = &ctx.books[self.cfg.instrument as usize];
        let px = match (self.cfg.strategy, self.cfg.side) {
            (ExecutionStrategy::Market, Side::Buy) => book.best_ask(),
            (ExecutionStrategy::Market, Side::Sell) => book.best_bid(),
            _ => Some(self.cfg.price),
        };
        let funded = px
            .is_some_and(|p| ctx.can_fund(self.cfg.instrument, self.cfg.side, p, self.cfg.amount));
        if !funded {
            core.close(ctx.now, CloseType::InsufficientBalance);
        } else {
            core.status = RunStatus::Running;
        }
    }

    fn control(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        match core.status {
            RunStatus::Running => {
                if self.current.is_some() {
                    return;
                }
                let remaining = self.cfg.amount - self.executed();
                if remaining.raw() <= 0 {
                    self.hold_and_close(core, ctx.now);
                    return;
                }
                let (ot, price) = self.price(&ctx.books[self.cfg.instrument as usize]);
                match ctx.place(
                    core.id,
                    self.cfg.instrument,
                    self.cfg.side,
                    ot,
                    price,
                    remaining,
                ) {
                    Ok(cid) => self.current = Some(cid),
                    Err(PlaceError::BelowMinimum) if self.executed().raw() > 0 => {
                        // Only dust is left: the position is what was filled.
                        self.hold_and_close(core, ctx.now)
                    }
                    Err(PlaceError::BelowMinimum) => core.close(ctx.now, CloseType::Failed),
                    Err(_) => core.retries += 1,
                }
                if core.retries > MAX_RETRIES {
                    core.close(ctx.now, CloseType::Failed);
                }
            }
            RunStatus::ShuttingDown => match self.current {
                Some(cid) => {
                    let due = self
                        .last_cancel_ts
                        .is_none_or(|t| ctx.now >= t + SHUTDOWN_RETRY_NS);
                    if due && ctx.orders.get(cid).is_some_and(|o| o.is_open()) {
                        ctx.cancel(cid);
                        self.last_cancel_ts = Some(ctx.now);
                    }
                }
                None if self.partial_filled.raw() > 0 => self.hold_and_close(core, ctx.now),
                None => core.close(ctx.now, CloseType::EarlyStop),
            },
            RunStatus::NotStarted | RunStatus::Terminated => {}
        }
    }

    fn on_order(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx, order: &Order, ev: &OrderEvent) {
        if self.current != Some(order.req.cid) {
            return;
        }
        match *ev {
            OrderEvent::Created | OrderEvent::CancelRejected => {}
            OrderEvent::Filled {
                last_px,
                last_qty,
                fee,
                complete,
            } => {
                self.current_filled += last_qty;
                self.current_quote += last_px.mul(last_qty);
                self.current_fees += fee;
                if complete {
                    self.hold_and_close(core, ctx.now);
                }
            }
            OrderEvent::Canceled => self.retire_current(),
            OrderEvent::Failed(_) => {
                self.retire_current();
                core.retries += 1;
                if core.retries > MAX_RETRIES {
                    core.close(ctx.now, CloseType::Failed);
                }
            }
        }
    }

    fn early_stop(&mut self, core: &mut ExecutorCore, _keep_position: bool) {
        match core.status {
            RunStatus::NotStarted => core.status = RunStatus::ShuttingDown,
            RunStatus::Running => core.status = RunStatus::ShuttingDown,
            _ => {}
        }
    }

    fn net_pnl_quote(&self) -> Dec {
        Dec::ZERO
    }

    fn filled_amount_quote(&self) -> Dec {
        OrderExecutor::filled_amount_quote(self)
    }

    fn fees_quote(&self) -> Dec {
        OrderExecutor::fees_quote(self)
    }
}

impl Executor {
    fn logic(&mut self) -> (&mut ExecutorCore, &mut dyn ExecutorLogic) {
        match &mut self.kind {
            ExecutorKind::Order(e) => (&mut self.core, e),
        }
    }

    fn logic_ref(&self) -> &dyn ExecutorLogic {
        match &self.kind {
            ExecutorKind::Order(e) => e,
        }
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
    pub fn net_pnl_quote(&self) -> Dec {
        self.logic_ref().net_pnl_quote()
    }

    /// Executed notional (quote).
    pub fn filled_amount_quote(&self) -> Dec {
        self.logic_ref().filled_amount_quote()
    }

    /// Fees (quote).
    pub fn fees_quote(&self) -> Dec {
        self.logic_ref().fees_quote()
    }

    /// Active and with non-zero pnl.
    pub fn is_trading(&self) -> bool {
        self.core.is_active() && self.net_pnl_quote().raw() != 0
    }
}
