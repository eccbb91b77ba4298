//! Position executor with triple barrier (spec §2, with the Kestrel corrections of §0).
//!
//! RUNNING step, in order: (1) place the open order for what is left of `amount` when
//! the entry price is within the activation bounds, or cancel a working open order whose
//! entry left them; (2) once no open order is working and the fill is tradeable, the
//! barriers stop loss → trailing stop → take profit (a MARKET close, or a resting TP
//! order for limit types); (3) the time limit, which applies even while the open order
//! works. A close cancels the working open and TP orders and sends a MARKET order for
//! the position left; the SHUTTING_DOWN step repeats whatever is missing (cancels every
//! 5 s of event time, a new close order for any remainder) until every order is done.
//!
//! Kestrel specifics: a partly filled open order that is cancelled keeps its fill, the
//! next open order is for the remainder, and the barriers apply to the fill while no
//! open order works. A MARKET close is never sent while a TP order still works (it
//! follows the TP's cancel), so the two cannot both fill. Pnl marks the part not yet
//! closed at the touch it would close into. State is fixed-size: no allocation.

use super::barrier::{TrailingState, TripleBarrier};
use super::{Ctx, ExecutorCore, ExecutorLogic, Held, PlaceError, MAX_RETRIES, SHUTDOWN_RETRY_NS};
use crate::book::Book;
use crate::events::{CloseType, RunStatus};
use crate::num::Dec;
use crate::orders::{Order, OrderEvent, OrderState};
use crate::types::{ClientOrderId, Instrument, InstrumentId, OrderType, Side};

/// Configuration of a position executor with triple barrier.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct PositionConfig {
    /// Instrument.
    pub instrument: InstrumentId,
    /// BUY opens a long, SELL a short.
    pub side: Side,
    /// Entry price; None: the best bid (BUY) / ask (SELL) when the executor starts.
    pub entry_price: Option<Dec>,
    /// Base amount.
    pub amount: Dec,
    /// Barriers and order types.
    pub barrier: TripleBarrier,
    /// Leverage (informational: the spot portfolio funds orders in full).
    pub leverage: u32,
    /// `[b0, b1]` fractions around mid within which orders are placed (None: always).
    pub activation_bounds: Option<(Dec, Dec)>,
    /// Origin of the time limit (ns event time); None: when the executor is created.
    pub timestamp: Option<u64>,
}

impl Default for PositionConfig {
    fn default() -> Self {
        PositionConfig {
            instrument: 0,
            side: Side::Buy,
            entry_price: None,
            amount: Dec::ZERO,
            barrier: TripleBarrier::default(),
            leverage: 1,
            activation_bounds: None,
            timestamp: None,
        }
    }
}

impl PositionConfig {
    /// Returns the config with SL, TP and trailing stop scaled by `f` (spec §2).
    pub fn with_volatility(self, f: Dec) -> Self {
        PositionConfig {
            barrier: self.barrier.with_volatility(f),
            ..self
        }
    }
}

/// Activation-bounds rule (spec §2): limit-type BUY ok if `price ≥ mid·(1−b0)`, SELL if
/// `price ≤ mid·(1+b0)`; MARKET BUY ok if `price·(1−b0) ≤ mid ≤ price·(1+b1)`, SELL if
/// `price·(1−b1) ≤ mid ≤ price·(1+b0)`. No bounds: always ok.
pub fn within_bounds(
    bounds: Option<(Dec, Dec)>,
    order_type: OrderType,
    side: Side,
    price: Dec,
    mid: Option<Dec>,
) -> bool {
    let Some((b0, b1)) = bounds else {
        return true;
    };
    let Some(mid) = mid else {
        return false;
    };
    let one = Dec::ONE;
    match (order_type, side) {
        (OrderType::Market, Side::Buy) => price.mul(one - b0) <= mid && mid <= price.mul(one + b1),
        (OrderType::Market, Side::Sell) => price.mul(one - b1) <= mid && mid <= price.mul(one + b0),
        (_, Side::Buy) => price >= mid.mul(one - b0),
        (_, Side::Sell) => price <= mid.mul(one + b0),
    }
}

/// Fills of one side of the position.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fills {
    /// Base filled.
    pub base: Dec,
    /// Σ price × qty.
    pub quote: Dec,
    /// Fees (quote).
    pub fees: Dec,
}

impl Fills {
    fn add(&mut self, px: Dec, qty: Dec, fee: Dec) {
        self.base += qty;
        self.quote += px.mul(qty);
        self.fees += fee;
    }

    /// Average fill price (None without fills).
    pub fn avg_price(&self) -> Option<Dec> {
        self.quote.div(self.base)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Open,
    TakeProfit,
    Close,
}

/// Position executor with triple barrier.
#[derive(Clone, Debug, PartialEq)]
pub struct PositionExecutor {
    /// Configuration.
    pub cfg: PositionConfig,
    /// Entry price asked for (the config's, or the touch fixed at start).
    pub config_entry: Dec,
    /// Origin of the time limit (ns).
    pub origin: u64,
    /// Working open order.
    pub open_order: Option<ClientOrderId>,
    /// Working take-profit order.
    pub tp_order: Option<ClientOrderId>,
    /// Working MARKET close order.
    pub close_order: Option<ClientOrderId>,
    /// Fills of every open order.
    pub open: Fills,
    /// Fills of every close and take-profit order.
    pub close: Fills,
    /// Trailing-stop progress.
    pub trailing: TrailingState,
    /// How it is closing or closed (mirrors the core).
    pub close_type: Option<CloseType>,
    /// True once it closed keeping its fills as a held position.
    pub holding: bool,
    open_complete: bool,
    last_cancel_ts: Option<u64>,
}

impl PositionExecutor {
    /// New executor, not started.
    pub fn new(cfg: PositionConfig) -> Self {
        PositionExecutor {
            cfg,
            config_entry: cfg.entry_price.unwrap_or(Dec::ZERO),
            origin: cfg.timestamp.unwrap_or(0),
            open_order: None,
            tp_order: None,
            close_order: None,
            open: Fills::default(),
            close: Fills::default(),
            trailing: TrailingState::default(),
            close_type: None,
            holding: false,
            open_complete: false,
            last_cancel_ts: None,
        }
    }

    fn close_side(&self) -> Side {
        self.cfg.side.opposite()
    }

    /// Touch the position closes into: best bid for a long, best ask for a short.
    pub fn market_price(&self, book: &Book) -> Option<Dec> {
        match self.cfg.side {
            Side::Buy => book.best_bid(),
            Side::Sell => book.best_ask(),
        }
    }

    /// Average open fill price once anything filled; before that the asked entry
    /// (for LIMIT_MAKER opens, no better for the market than the touch).
    pub fn entry_price(&self, book: &Book) -> Dec {
        if let Some(avg) = self.open.avg_price() {
            return avg;
        }
        let e = self.config_entry;
        if self.cfg.barrier.open_order_type == OrderType::LimitMaker {
            return match (self.cfg.side, book.best_bid(), book.best_ask()) {
                (Side::Buy, Some(bid), _) => e.min(bid),
                (Side::Sell, _, Some(ask)) => e.max(ask),
                _ => e,
            };
        }
        e
    }

    /// Take-profit price: entry·(1±tp), clamped to the touch for LIMIT_MAKER.
    pub fn take_profit_price(&self, book: &Book) -> Option<Dec> {
        let tp = self.cfg.barrier.take_profit?;
        let entry = self.entry_price(book);
        let maker = self.cfg.barrier.take_profit_order_type == OrderType::LimitMaker;
        Some(match self.cfg.side {
            Side::Buy => {
                let px = entry.mul(Dec::ONE + tp);
                match book.best_ask() {
                    Some(ask) if maker => px.max(ask),
                    _ => px,
                }
            }
            Side::Sell => {
                let px = entry.mul(Dec::ONE - tp);
                match book.best_bid() {
                    Some(bid) if maker => px.min(bid),
                    _ => px,
                }
            }
        })
    }

    /// Base still to close (open fills − close fills).
    pub fn amount_to_close(&self) -> Dec {
        self.open.base - self.close.base
    }

    /// Pnl before fees: exits (close fills, the rest marked at the touch) against the
    /// open cost. Zero with no fill or when closed as FAILED / POSITION_HOLD.
    pub fn trade_pnl_quote(&self, book: &Book) -> Dec {
        if self.open.base.raw() <= 0
            || matches!(
                self.close_type,
                Some(CloseType::Failed | CloseType::PositionHold)
            )
        {
            return Dec::ZERO;
        }
        let entry = self.entry_price(book);
        let mark = self.market_price(book).unwrap_or(entry);
        let exit = self.close.quote + self.amount_to_close().mul(mark);
        match self.cfg.side {
            Side::Buy => exit - self.open.quote,
            Side::Sell => self.open.quote - exit,
        }
    }

    /// Trade pnl as a fraction of the open cost.
    pub fn trade_pnl_pct(&self, book: &Book) -> Dec {
        self.trade_pnl_quote(book)
            .div(self.open.quote)
            .unwrap_or(Dec::ZERO)
    }

    fn net_quote(&self, book: &Book) -> Dec {
        self.trade_pnl_quote(book) - self.fees()
    }

    fn net_pct(&self, book: &Book) -> Dec {
        self.net_quote(book)
            .div(self.open.quote)
            .unwrap_or(Dec::ZERO)
    }

    fn fees(&self) -> Dec {
        self.open.fees + self.close.fees
    }

    fn bounds_ok(&self, order_type: OrderType, side: Side, price: Dec, book: &Book) -> bool {
        within_bounds(
            self.cfg.activation_bounds,
            order_type,
            side,
            price,
            book.mid(),
        )
    }

    fn slot(&self, cid: ClientOrderId) -> Option<Slot> {
        if self.open_order == Some(cid) {
            Some(Slot::Open)
        } else if self.tp_order == Some(cid) {
            Some(Slot::TakeProfit)
        } else if self.close_order == Some(cid) {
            Some(Slot::Close)
        } else {
            None
        }
    }

    fn clear(&mut self, slot: Slot) {
        match slot {
            Slot::Open => self.open_order = None,
            Slot::TakeProfit => self.tp_order = None,
            Slot::Close => self.close_order = None,
        }
    }

    /// True if `qty` at `px` meets the instrument's minimum size and notional.
    fn tradeable(inst: &Instrument, qty: Dec, px: Dec) -> bool {
        qty.raw() > 0 && qty >= inst.spec.min_quantity() && px.mul(qty) >= inst.spec.min_notional
    }

    fn terminate(&mut self, core: &mut ExecutorCore, now: u64, ct: CloseType) {
        self.close_type = Some(ct);
        core.close(now, ct);
    }

    /// Starts closing with `ct` and runs a shutdown step at once.
    fn close(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx, ct: CloseType) {
        self.close_type = Some(ct);
        core.close_type = Some(ct);
        core.status = RunStatus::ShuttingDown;
        self.last_cancel_ts = None;
        self.shutdown(core, ctx);
    }

    fn running(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let (books, instruments) = (ctx.books, ctx.instruments);
        let i = self.cfg.instrument;
        let (book, inst) = (&books[i as usize], &instruments[i as usize]);
        let ot = self.cfg.barrier.open_order_type;
        let entry = self.entry_price(book);

        // 1. Open order.
        match self.open_order {
            None if !self.open_complete => {
                let rest = (self.cfg.amount - self.open.base).floor_to(inst.spec.lot_size);
                if !Self::tradeable(inst, rest, entry) {
                    self.open_complete = true;
                } else if self.bounds_ok(ot, self.cfg.side, entry, book) {
                    match ctx.place(core.id, i, self.cfg.side, ot, entry, rest) {
                        Ok(cid) => self.open_order = Some(cid),
                        Err(PlaceError::BelowMinimum) => self.open_complete = true,
                        Err(_) => core.retries += 1,
                    }
                }
                if self.open_complete && self.open.base.raw() <= 0 {
                    self.terminate(core, ctx.now, CloseType::Failed);
                    return;
                }
            }
            None => {}
            Some(cid) => {
                let acked = ctx.orders.get(cid).is_some_and(|o| {
                    matches!(o.state, OrderState::Open | OrderState::PartiallyFilled)
                });
                if acked && !self.bounds_ok(ot, self.cfg.side, entry, book) {
                    ctx.cancel(cid);
                }
            }
        }

        // 2. Barriers, on what is filled once no open order works.
        let b = self.cfg.barrier;
        if self.open_order.is_none() && Self::tradeable(inst, self.open.base, entry) {
            let pnl = self.net_pct(book);
            if b.stop_loss.is_some_and(|sl| pnl <= -sl) {
                return self.close(core, ctx, CloseType::StopLoss);
            }
            if let Some(ts) = b.trailing_stop {
                if self.trailing.update(&ts, pnl) {
                    return self.close(core, ctx, CloseType::TrailingStop);
                }
            }
            if let Some(tp) = b.take_profit {
                if b.take_profit_order_type == OrderType::Market {
                    if pnl >= tp {
                        return self.close(core, ctx, CloseType::TakeProfit);
                    }
                } else {
                    self.rest_take_profit(core, ctx, book, inst);
                }
            }
        }

        // 3. Time limit.
        if b.expired(self.origin, ctx.now) {
            self.close(core, ctx, CloseType::TimeLimit);
        }
    }

    /// Keeps a TP order resting for the amount to close while its price is within the
    /// bounds; cancels it when the price leaves them or the amount changed (it is
    /// re-placed once the cancel is confirmed).
    fn rest_take_profit(
        &mut self,
        core: &mut ExecutorCore,
        ctx: &mut Ctx,
        book: &Book,
        inst: &Instrument,
    ) {
        let Some(px) = self.take_profit_price(book) else {
            return;
        };
        let ot = self.cfg.barrier.take_profit_order_type;
        let side = self.close_side();
        let amount = self.amount_to_close().floor_to(inst.spec.lot_size);
        let ok = self.bounds_ok(ot, side, px, book);
        match self.tp_order {
            None => {
                if ok && Self::tradeable(inst, amount, px) {
                    let action = inst.spec.market.close_action();
                    if let Ok(cid) = ctx.place_with_action(
                        core.id,
                        self.cfg.instrument,
                        side,
                        ot,
                        px,
                        amount,
                        action,
                    ) {
                        self.tp_order = Some(cid);
                    }
                }
            }
            Some(cid) => {
                let stale = ctx.orders.get(cid).is_some_and(|o| {
                    matches!(o.state, OrderState::Open | OrderState::PartiallyFilled)
                        && (!ok || o.remaining() != amount)
                });
                if stale {
                    ctx.cancel(cid);
                }
            }
        }
    }

    /// SHUTTING_DOWN step: cancel working open/TP orders (again every 5 s), close what
    /// is filled with a MARKET order once no TP works, and terminate when every order is
    /// done and nothing tradeable is left (POSITION_HOLD keeps the fills instead).
    fn shutdown(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let now = ctx.now;
        let i = self.cfg.instrument;
        let (books, instruments) = (ctx.books, ctx.instruments);
        let (book, inst) = (&books[i as usize], &instruments[i as usize]);
        let ct = self.close_type.unwrap_or(CloseType::EarlyStop);
        let due = self
            .last_cancel_ts
            .is_none_or(|t| now >= t.saturating_add(SHUTDOWN_RETRY_NS));
        if due && (self.open_order.is_some() || self.tp_order.is_some()) {
            for cid in [self.open_order, self.tp_order].into_iter().flatten() {
                ctx.cancel(cid);
            }
            self.last_cancel_ts = Some(now);
        }
        let rest = self.amount_to_close().floor_to(inst.spec.lot_size);
        let mark = self
            .market_price(book)
            .unwrap_or_else(|| self.entry_price(book));
        let mut left = ct != CloseType::PositionHold && Self::tradeable(inst, rest, mark);
        if left && self.tp_order.is_none() && self.close_order.is_none() {
            let side = self.close_side();
            let action = inst.spec.market.close_action();
            match ctx.place_with_action(
                core.id,
                i,
                side,
                OrderType::Market,
                Dec::ZERO,
                rest,
                action,
            ) {
                Ok(cid) => self.close_order = Some(cid),
                Err(PlaceError::BelowMinimum) => left = false,
                Err(_) => core.retries += 1,
            }
        }
        let working =
            self.open_order.is_some() || self.tp_order.is_some() || self.close_order.is_some();
        if working || left {
            return;
        }
        if ct == CloseType::PositionHold {
            let any = self.open.base.raw() > 0 || self.close.base.raw() > 0;
            self.holding = any;
            let ct = if any {
                CloseType::PositionHold
            } else {
                CloseType::EarlyStop
            };
            self.terminate(core, now, ct);
        } else {
            self.terminate(core, now, ct);
        }
    }
}

impl ExecutorLogic for PositionExecutor {
    fn instrument(&self) -> InstrumentId {
        self.cfg.instrument
    }

    fn on_start(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let book = &ctx.books[self.cfg.instrument as usize];
        self.origin = self.cfg.timestamp.unwrap_or(core.created_ts);
        let touch = match self.cfg.side {
            Side::Buy => book.best_bid(),
            Side::Sell => book.best_ask(),
        };
        let Some(entry) = self.cfg.entry_price.or(touch) else {
            // No entry asked and no market to take it from.
            return self.terminate(core, ctx.now, CloseType::Failed);
        };
        self.config_entry = entry;
        let px = self.entry_price(book);
        if !ctx.can_fund(self.cfg.instrument, self.cfg.side, px, self.cfg.amount) {
            return self.terminate(core, ctx.now, CloseType::InsufficientBalance);
        }
        if self.cfg.barrier.expired(self.origin, ctx.now) {
            return self.terminate(core, ctx.now, CloseType::Expired);
        }
        core.status = RunStatus::Running;
    }

    fn control(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        match core.status {
            RunStatus::Running => self.running(core, ctx),
            RunStatus::ShuttingDown => self.shutdown(core, ctx),
            RunStatus::NotStarted | RunStatus::Terminated => return,
        }
        if core.retries > MAX_RETRIES && core.status != RunStatus::Terminated {
            // Give up; leave no open or TP order working behind.
            for cid in [self.open_order, self.tp_order].into_iter().flatten() {
                ctx.cancel(cid);
            }
            self.terminate(core, ctx.now, CloseType::Failed);
        }
    }

    fn on_order(
        &mut self,
        core: &mut ExecutorCore,
        _ctx: &mut Ctx,
        order: &Order,
        ev: &OrderEvent,
    ) {
        let Some(slot) = self.slot(order.req.cid) else {
            return;
        };
        match *ev {
            OrderEvent::Created | OrderEvent::CancelRejected => {}
            OrderEvent::Filled {
                last_px,
                last_qty,
                fee,
                complete,
            } => {
                match slot {
                    Slot::Open => self.open.add(last_px, last_qty, fee),
                    Slot::TakeProfit | Slot::Close => self.close.add(last_px, last_qty, fee),
                }
                if complete {
                    self.clear(slot);
                    if slot == Slot::TakeProfit && core.status == RunStatus::Running {
                        // The TP order filled: it is the close order.
                        self.close_type = Some(CloseType::TakeProfit);
                        core.close_type = Some(CloseType::TakeProfit);
                        core.status = RunStatus::ShuttingDown;
                    }
                }
            }
            OrderEvent::Canceled => self.clear(slot),
            OrderEvent::Failed(_) => {
                self.clear(slot);
                if slot != Slot::TakeProfit {
                    core.retries += 1;
                }
            }
        }
    }

    fn early_stop(&mut self, core: &mut ExecutorCore, keep_position: bool) {
        if core.status != RunStatus::Running {
            return;
        }
        let ct = if keep_position {
            CloseType::PositionHold
        } else {
            CloseType::EarlyStop
        };
        self.close_type = Some(ct);
        core.close_type = Some(ct);
        core.status = RunStatus::ShuttingDown;
        self.last_cancel_ts = None;
    }

    fn net_pnl_quote(&self, books: &[Book]) -> Dec {
        self.net_quote(&books[self.cfg.instrument as usize])
    }

    fn net_pnl_pct(&self, books: &[Book]) -> Dec {
        self.net_pct(&books[self.cfg.instrument as usize])
    }

    fn filled_amount_quote(&self, _books: &[Book]) -> Dec {
        if self.close_type == Some(CloseType::PositionHold) {
            return Dec::ZERO;
        }
        self.open.quote + self.close.quote
    }

    fn fees_quote(&self) -> Dec {
        self.fees()
    }

    fn is_trading(&self, core: &ExecutorCore, _books: &[Book]) -> bool {
        core.status == RunStatus::Running && self.open.base.raw() > 0
    }

    fn held(&self) -> Held {
        if !self.holding {
            return Held::default();
        }
        let (buy, sell) = match self.cfg.side {
            Side::Buy => (self.open, self.close),
            Side::Sell => (self.close, self.open),
        };
        Held {
            buy_base: buy.base,
            buy_quote: buy.quote,
            sell_base: sell.base,
            sell_quote: sell.quote,
            fees: self.fees(),
        }
    }

    fn side(&self) -> Option<Side> {
        Some(self.cfg.side)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BookTicker, ExecKind, ExecReport};
    use crate::executors::{Executor, ExecutorKind, Outbox};
    use crate::orders::OrderManager;
    use crate::portfolio::{Portfolio, Position};
    use crate::types::InstrumentSpec;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn forced_hold_keeps_the_filled_entry() {
        // Scenario 14: a stop keeping the position with a filled entry holds it.
        let spec = InstrumentSpec {
            symbol: "ETHUSDT".into(),
            base: "ETH".into(),
            quote: "USDT".into(),
            tick_size: d("0.01"),
            lot_size: d("0.001"),
            min_qty: Dec::ZERO,
            min_notional: d("5"),
            market: Default::default(),
            leverage: 1,
        };
        let mut portfolio = Portfolio::default();
        let (base, quote) = (portfolio.asset_id("ETH"), portfolio.asset_id("USDT"));
        portfolio.balances[quote as usize].total = d("1000");
        portfolio.positions = vec![Position::default()];
        let instruments = [Instrument::new(0, spec, base, quote)];
        let mut book = Book::default();
        book.on_ticker(&BookTicker {
            bid_px: d("99.99"),
            bid_qty: d("5"),
            ask_px: d("100.01"),
            ask_qty: d("5"),
            ..Default::default()
        });
        let books = [book];
        let mut orders = OrderManager::default();
        let mut out = Outbox::with_capacity(8);
        let mut next_order = 1;
        let mut ctx = Ctx {
            now: 1,
            session_id: 1,
            instruments: &instruments,
            books: &books,
            orders: &mut orders,
            portfolio: &mut portfolio,
            out: &mut out,
            next_order: &mut next_order,
            risk: &mut Default::default(),
        };
        let cfg = PositionConfig {
            entry_price: Some(d("100")),
            amount: d("1"),
            ..Default::default()
        };
        let mut e = Executor {
            core: ExecutorCore {
                id: 1,
                controller: 0,
                level: u16::MAX,
                status: RunStatus::NotStarted,
                close_type: None,
                created_ts: 1,
                close_ts: 0,
                retries: 0,
            },
            kind: ExecutorKind::Position(PositionExecutor::new(cfg)),
        };
        e.start(&mut ctx);
        let cid = ClientOrderId::new(1, 1);
        let fill = ExecReport {
            cid,
            kind: ExecKind::Fill,
            last_px: d("100"),
            last_qty: d("1"),
            fee: d("0.2"),
            ..Default::default()
        };
        let (order, ev) = ctx.orders.apply(&fill).unwrap();
        e.on_order(&mut ctx, &order, &ev);
        assert!(e.is_trading(ctx.books));
        assert_eq!(e.logic_ref().held(), Held::default());
        e.early_stop(&mut ctx, true);
        assert_eq!(e.core.status, RunStatus::Terminated);
        assert_eq!(e.core.close_type, Some(CloseType::PositionHold));
        assert_eq!(
            e.logic_ref().held(),
            Held {
                buy_base: d("1"),
                buy_quote: d("100"),
                fees: d("0.2"),
                ..Default::default()
            }
        );
        assert_eq!(e.filled_amount_quote(ctx.books), Dec::ZERO);
        assert_eq!(e.net_pnl_quote(ctx.books), d("-0.2"));
    }
}
