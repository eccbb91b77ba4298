//! Order executor (spec §3): one order, worked until filled, then held as a position.

use super::{Ctx, ExecutorCore, ExecutorLogic, PlaceError, MAX_RETRIES, SHUTDOWN_RETRY_NS};
use crate::book::Book;
use crate::events::{CloseType, RunStatus};
use crate::num::Dec;
use crate::orders::{Order, OrderEvent};
use crate::types::{ClientOrderId, InstrumentId, Market, OrderType, PositionAction, Side};

/// How an order executor works its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum ExecutionStrategy {
    /// Market order.
    Market,
    /// Limit order at `price`.
    Limit,
    /// Post-only at `price`, never better for the market than the touch.
    LimitMaker,
    /// Post-only that chases the touch: BUY at best bid·(1−distance), SELL at best
    /// ask·(1+distance), re-quoted when the market runs away by more than
    /// `refresh_threshold` (a fraction of the touch), never when it comes closer.
    LimitChaser {
        /// Distance from the touch, as a fraction.
        distance: Dec,
        /// Re-quote when the touch moved away by more than this fraction.
        refresh_threshold: Dec,
    },
}

/// Configuration of an order executor (spec §3).
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
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
    /// Opens or closes a position (perpetuals; spot orders send OPEN/CLOSE as given).
    pub position_action: PositionAction,
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
    /// A chaser re-quote is waiting for its cancel to be confirmed.
    requoting: bool,
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
            requoting: false,
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
            ExecutionStrategy::LimitChaser { distance, .. } => (
                OrderType::LimitMaker,
                Self::chase_price(self.cfg.side, book, distance),
            ),
        }
    }

    /// The chaser's price: best bid·(1−distance) for a buy, best ask·(1+distance) for a sell.
    fn chase_price(side: Side, book: &Book, distance: Dec) -> Dec {
        match side {
            Side::Buy => book
                .best_bid()
                .map_or(Dec::ZERO, |b| b.mul(Dec::ONE - distance)),
            Side::Sell => book
                .best_ask()
                .map_or(Dec::ZERO, |a| a.mul(Dec::ONE + distance)),
        }
    }

    /// True when the touch ran away from the working order by more than the threshold.
    fn should_requote(&self, order_px: Dec, book: &Book, threshold: Dec) -> bool {
        match self.cfg.side {
            Side::Buy => book
                .best_bid()
                .is_some_and(|r| r - order_px > r.mul(threshold)),
            Side::Sell => book
                .best_ask()
                .is_some_and(|r| order_px - r > r.mul(threshold)),
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
        self.requoting = false;
    }

    fn hold_and_close(&mut self, core: &mut ExecutorCore, now: u64) {
        self.retire_current();
        self.held_orders = self.partial_orders;
        core.close(now, CloseType::PositionHold);
    }

    /// LIMIT_CHASER: cancels the working order `cid` when the book moved past
    /// `refresh_threshold` (the remainder is re-placed once the cancel is confirmed).
    #[inline(never)]
    fn chase(&mut self, cid: ClientOrderId, refresh_threshold: Dec, ctx: &mut Ctx) {
        let book = &ctx.books[self.cfg.instrument as usize];
        let px = ctx.orders.get(cid).map(|o| o.req.price);
        if !self.requoting
            && px.is_some_and(|p| self.should_requote(p, book, refresh_threshold))
            && ctx.cancel(cid)
        {
            // The fills of the replaced order stay with the executor (Kestrel's
            // correction); the remainder is re-placed once the cancel is confirmed, so
            // the two orders never overlap.
            self.requoting = true;
        }
    }

    /// RUNNING with no working order: places what is left to execute, or closes
    /// when nothing (or only dust) is.
    #[inline(never)]
    fn place_remaining(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let remaining = self.cfg.amount - self.executed();
        if remaining.raw() <= 0 {
            self.hold_and_close(core, ctx.now);
            return;
        }
        let (ot, price) = self.price(&ctx.books[self.cfg.instrument as usize]);
        match ctx.place_with_action(
            core.id,
            self.cfg.instrument,
            self.cfg.side,
            ot,
            price,
            remaining,
            self.cfg.position_action,
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

    /// SHUTTING_DOWN: cancels the working order (again every
    /// `SHUTDOWN_RETRY_NS`), or closes once none is left.
    #[inline(never)]
    fn shut_down_step(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        match self.current {
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
        }
    }
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
            (ExecutionStrategy::LimitChaser { distance, .. }, side) => {
                Some(Self::chase_price(side, book, distance)).filter(|p| p.raw() > 0)
            }
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
        // A small dispatcher: most steps find the order working and do nothing, and
        // should not pay for the frames of the steps that act.
        match (core.status, self.current) {
            (RunStatus::Running, Some(cid)) => {
                if let ExecutionStrategy::LimitChaser {
                    refresh_threshold, ..
                } = self.cfg.strategy
                {
                    self.chase(cid, refresh_threshold, ctx);
                }
            }
            (RunStatus::Running, None) => self.place_remaining(core, ctx),
            (RunStatus::ShuttingDown, _) => self.shut_down_step(core, ctx),
            (RunStatus::NotStarted | RunStatus::Terminated, _) => {}
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

    fn net_pnl_quote(&self, _books: &[Book]) -> Dec {
        Dec::ZERO
    }

    fn filled_amount_quote(&self, _books: &[Book]) -> Dec {
        OrderExecutor::filled_amount_quote(self)
    }

    fn held(&self) -> super::Held {
        let (base, quote) = (self.executed(), OrderExecutor::filled_amount_quote(self));
        let fees = OrderExecutor::fees_quote(self);
        match self.cfg.side {
            Side::Buy => super::Held {
                buy_base: base,
                buy_quote: quote,
                fees,
                ..Default::default()
            },
            Side::Sell => super::Held {
                sell_base: base,
                sell_quote: quote,
                fees,
                ..Default::default()
            },
        }
    }

    fn side(&self) -> Option<Side> {
        Some(self.cfg.side)
    }

    fn hold_side(&self, market: Market) -> Option<Side> {
        // Hedge-mode perpetuals keep long and short apart: an order that closes
        // belongs to the opposite side's position.
        (market == Market::PerpetualHedge).then(|| match self.cfg.position_action {
            PositionAction::Open => self.cfg.side,
            PositionAction::Close => self.cfg.side.opposite(),
        })
    }

    fn fees_quote(&self) -> Dec {
        OrderExecutor::fees_quote(self)
    }
}
