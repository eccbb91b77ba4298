//! XEMM executor (spec §8): one cross-exchange market-making round trip. A LIMIT maker
//! order rests on one instrument at a price that earns `target_profitability` against
//! the other instrument's taker price; it is re-quoted when its profitability leaves
//! `[min, max]`, and once it is filled a MARKET taker order hedges it.
//!
//! Invariants and Kestrel rules:
//! - At most one maker order works at a time: a maker order judged out of range is
//!   cancelled and the next one is sent once the venue confirms the cancel, so a cancel
//!   racing a fill cannot leave two fills to hedge. A cancelled order's partial fill
//!   carries over: the next maker order is for the rest, and the hedge covers every
//!   maker fill.
//! - A maker order is judged only once the venue has acknowledged it (§0).
//! - Pnl is sell proceeds − buy cost − fees whichever leg is the maker, and a completed
//!   round trip closes as COMPLETED (§0). `net_pnl_pct` is a fraction of the bought
//!   notional, like the arbitrage executor's.
//! - Fee rates come from the config; the taker quote is converted into the maker quote
//!   with the engine's rate oracle (a missing rate means "not ready").

use super::arbitrage::{interchangeable, quote_price, quote_rate};
use super::{Ctx, ExecutorCore, ExecutorLogic, Held, PlaceError, MAX_RETRIES};
use crate::book::Book;
use crate::events::{CloseType, RunStatus};
use crate::num::Dec;
use crate::orders::{Order, OrderEvent, OrderState};
use crate::types::{ClientOrderId, InstrumentId, OrderType, Side};

/// Configuration of an XEMM executor (spec §8).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct XemmConfig {
    /// Market where base is bought (the maker's if `maker_side` is BUY).
    pub buying: InstrumentId,
    /// Market where base is sold (the maker's if `maker_side` is SELL).
    pub selling: InstrumentId,
    /// Side of the maker order.
    pub maker_side: Side,
    /// Base amount of the round trip.
    pub order_amount: Dec,
    /// Lowest net profitability a resting maker order may have (fraction).
    pub min_profitability: Dec,
    /// Profitability a new maker order is priced at.
    pub target_profitability: Dec,
    /// Highest net profitability a resting maker order may have.
    pub max_profitability: Dec,
    /// Maker fee rate (maker market).
    pub maker_fee: Dec,
    /// Taker fee rate (taker market).
    pub taker_fee: Dec,
    /// Failures tolerated (0: [`MAX_RETRIES`]).
    pub max_retries: u32,
}

impl XemmConfig {
    /// Instrument of the maker order.
    pub fn maker_instrument(&self) -> InstrumentId {
        match self.maker_side {
            Side::Buy => self.buying,
            Side::Sell => self.selling,
        }
    }

    /// Instrument of the taker order.
    pub fn taker_instrument(&self) -> InstrumentId {
        match self.maker_side {
            Side::Buy => self.selling,
            Side::Sell => self.buying,
        }
    }

    /// Fees of both legs as a fraction of the amount.
    pub fn tx_cost_pct(&self) -> Dec {
        self.maker_fee + self.taker_fee
    }
}

/// Fills of one side of the round trip.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fills {
    /// Base executed.
    pub base: Dec,
    /// Quote executed (own quote).
    pub quote: Dec,
    /// Fees (own quote).
    pub fees: Dec,
}

impl Fills {
    fn add(&mut self, px: Dec, qty: Dec, fee: Dec) {
        self.base += qty;
        self.quote += px.mul(qty);
        self.fees += fee;
    }
}

/// XEMM executor (spec §8).
#[derive(Clone, Debug, PartialEq)]
pub struct XemmExecutor {
    /// Configuration.
    pub cfg: XemmConfig,
    /// Working maker order.
    pub maker: Option<ClientOrderId>,
    /// Maker order judged out of range, cancel not yet confirmed.
    pub canceling: Option<ClientOrderId>,
    /// Working taker order.
    pub taker: Option<ClientOrderId>,
    /// Maker fills (all maker orders).
    pub maker_fills: Fills,
    /// Taker fills.
    pub taker_fills: Fills,
    /// Taker-quote → maker-quote rate (latest seen).
    pub conv: Dec,
    /// Maker orders cancelled for being out of range.
    pub refreshes: u32,
    stop: Option<CloseType>,
    completed: bool,
    /// What is left to hedge rounds below one order.
    hedge_dust: bool,
}

impl XemmExecutor {
    /// New executor, not started.
    pub fn new(cfg: XemmConfig) -> Self {
        XemmExecutor {
            cfg,
            maker: None,
            canceling: None,
            taker: None,
            maker_fills: Fills::default(),
            taker_fills: Fills::default(),
            conv: Dec::ONE,
            refreshes: 0,
            stop: None,
            completed: false,
            hedge_dust: false,
        }
    }

    fn retries_allowed(&self) -> u32 {
        if self.cfg.max_retries == 0 {
            MAX_RETRIES
        } else {
            self.cfg.max_retries
        }
    }

    /// Taker price for `order_amount` in maker quote; `None` until ready.
    pub fn taker_price(&self, ctx: &Ctx) -> Option<Dec> {
        let taker = self.cfg.taker_instrument();
        let px = quote_price(
            &ctx.books[taker as usize],
            self.cfg.maker_side == Side::Sell,
            self.cfg.order_amount,
        )?;
        let conv = quote_rate(ctx, taker, self.cfg.maker_instrument())?;
        Some(px.mul(conv))
    }

    /// Maker price earning `target_profitability` against `taker_px` (maker quote).
    pub fn target_price(&self, taker_px: Dec) -> Option<Dec> {
        let m = self.cfg.target_profitability + self.cfg.tx_cost_pct();
        match self.cfg.maker_side {
            Side::Buy => taker_px.div(Dec::ONE + m),
            Side::Sell => taker_px.div(Dec::ONE - m),
        }
    }

    /// Gross profitability of a maker order at `maker_px` against `taker_px`.
    pub fn profitability(&self, maker_px: Dec, taker_px: Dec) -> Option<Dec> {
        match self.cfg.maker_side {
            Side::Buy => (taker_px - maker_px).div(maker_px),
            Side::Sell => (maker_px - taker_px).div(maker_px),
        }
    }

    fn hedge(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        if self.taker.is_some() || self.hedge_dust {
            return;
        }
        let rest = self.maker_fills.base - self.taker_fills.base;
        if rest.raw() <= 0 {
            return;
        }
        let side = self.cfg.maker_side.opposite();
        match ctx.place(
            core.id,
            self.cfg.taker_instrument(),
            side,
            OrderType::Market,
            Dec::ZERO,
            rest,
        ) {
            Ok(cid) => self.taker = Some(cid),
            // Dust below one order: the hedge is as complete as it can be.
            Err(PlaceError::BelowMinimum) => self.hedge_dust = true,
            Err(_) => core.retries += 1,
        }
    }

    fn quote(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let Some(taker_px) = self.taker_price(ctx) else {
            return;
        };
        if let Some(c) = quote_rate(
            ctx,
            self.cfg.taker_instrument(),
            self.cfg.maker_instrument(),
        ) {
            self.conv = c;
        }
        let tx = self.cfg.tx_cost_pct();
        match self.maker {
            None if self.canceling.is_none() => {
                let rest = self.cfg.order_amount - self.maker_fills.base;
                let Some(px) = self.target_price(taker_px) else {
                    return;
                };
                match ctx.place(
                    core.id,
                    self.cfg.maker_instrument(),
                    self.cfg.maker_side,
                    OrderType::Limit,
                    px,
                    rest,
                ) {
                    Ok(cid) => self.maker = Some(cid),
                    Err(PlaceError::BelowMinimum) if self.maker_fills.base.raw() > 0 => {
                        // Only dust is left to make: hedge what was made.
                        core.status = RunStatus::ShuttingDown;
                        self.hedge(core, ctx);
                    }
                    Err(PlaceError::BelowMinimum) => core.close(ctx.now, CloseType::Failed),
                    Err(_) => core.retries += 1,
                }
            }
            None => {}
            Some(cid) => {
                let Some(o) = ctx.orders.get(cid) else { return };
                // Judged only once the venue has acknowledged it.
                if !matches!(o.state, OrderState::Open | OrderState::PartiallyFilled) {
                    return;
                }
                let Some(p) = self.profitability(o.req.price, taker_px) else {
                    return;
                };
                let net = p - tx;
                if (net < self.cfg.min_profitability || net > self.cfg.max_profitability)
                    && ctx.cancel(cid)
                {
                    self.canceling = self.maker.take();
                    self.refreshes += 1;
                }
            }
        }
    }

    /// Net pnl once the round trip COMPLETED (0 before): sell proceeds − buy cost − fees.
    pub fn net_pnl(&self) -> Dec {
        if !self.completed {
            return Dec::ZERO;
        }
        let (bought, sold) = self.legs();
        sold - bought - self.fees()
    }

    /// (buy cost, sell proceeds) in maker quote.
    fn legs(&self) -> (Dec, Dec) {
        let taker = self.taker_fills.quote.mul(self.conv);
        match self.cfg.maker_side {
            Side::Buy => (self.maker_fills.quote, taker),
            Side::Sell => (taker, self.maker_fills.quote),
        }
    }

    fn fees(&self) -> Dec {
        self.maker_fills.fees + self.taker_fills.fees.mul(self.conv)
    }
}

impl ExecutorLogic for XemmExecutor {
    fn instrument(&self) -> InstrumentId {
        self.cfg.maker_instrument()
    }

    fn trades(&self, instrument: InstrumentId) -> bool {
        instrument == self.cfg.buying || instrument == self.cfg.selling
    }

    fn on_start(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let (b, s) = (
            &ctx.instruments[self.cfg.buying as usize],
            &ctx.instruments[self.cfg.selling as usize],
        );
        if self.cfg.buying == self.cfg.selling || !interchangeable(&b.spec.base, &s.spec.base) {
            core.close(ctx.now, CloseType::Failed);
            return;
        }
        let amount = self.cfg.order_amount;
        let (mi, ti) = (self.cfg.maker_instrument(), self.cfg.taker_instrument());
        let fund = |inst: InstrumentId, side: Side| {
            ctx.books[inst as usize]
                .mid()
                .is_none_or(|mid| ctx.can_fund(inst, side, mid, amount))
        };
        if !(fund(mi, self.cfg.maker_side) && fund(ti, self.cfg.maker_side.opposite())) {
            core.close(ctx.now, CloseType::InsufficientBalance);
            return;
        }
        core.status = RunStatus::Running;
    }

    fn control(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        if let Some(ct) = self.stop {
            if let Some(cid) = self.maker {
                ctx.cancel(cid);
            }
            core.close(ctx.now, ct);
            return;
        }
        if core.status != RunStatus::Terminated && core.retries > self.retries_allowed() {
            core.close(ctx.now, CloseType::Failed);
            return;
        }
        match core.status {
            RunStatus::Running => self.quote(core, ctx),
            RunStatus::ShuttingDown => {
                self.hedge(core, ctx);
                let hedged = self.taker.is_none()
                    && (self.hedge_dust || self.taker_fills.base >= self.maker_fills.base);
                if hedged && self.maker.is_none() && self.canceling.is_none() {
                    self.completed = true;
                    core.close(ctx.now, CloseType::Completed);
                }
            }
            RunStatus::NotStarted | RunStatus::Terminated => {}
        }
    }

    fn on_order(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx, order: &Order, ev: &OrderEvent) {
        let cid = order.req.cid;
        let is_maker = self.maker == Some(cid) || self.canceling == Some(cid);
        if is_maker {
            match *ev {
                OrderEvent::Created | OrderEvent::CancelRejected => {}
                OrderEvent::Filled {
                    last_px,
                    last_qty,
                    fee,
                    complete,
                } => {
                    self.maker_fills.add(last_px, last_qty, fee);
                    if complete {
                        // Filled (also when a cancel raced the fill): hedge it all.
                        self.maker = None;
                        self.canceling = None;
                        core.status = RunStatus::ShuttingDown;
                        self.hedge(core, ctx);
                    }
                }
                // The partial fill carries over to the next maker order.
                OrderEvent::Canceled => {
                    self.maker = None;
                    self.canceling = None;
                }
                OrderEvent::Failed(_) => {
                    self.maker = None;
                    self.canceling = None;
                    core.retries += 1;
                }
            }
        } else if self.taker == Some(cid) {
            match *ev {
                OrderEvent::Created | OrderEvent::CancelRejected => {}
                OrderEvent::Filled {
                    last_px,
                    last_qty,
                    fee,
                    complete,
                } => {
                    self.taker_fills.add(last_px, last_qty, fee);
                    if complete {
                        self.taker = None;
                    }
                }
                // Rest expired or refused: re-placed by the control step that follows.
                OrderEvent::Canceled | OrderEvent::Failed(_) => {
                    self.taker = None;
                    core.retries += 1;
                }
            }
        }
    }

    fn early_stop(&mut self, core: &mut ExecutorCore, keep_position: bool) {
        if core.status != RunStatus::Terminated {
            self.stop = Some(if keep_position {
                CloseType::PositionHold
            } else {
                CloseType::EarlyStop
            });
        }
    }

    fn net_pnl_quote(&self, _books: &[Book]) -> Dec {
        self.net_pnl()
    }

    fn net_pnl_pct(&self, _books: &[Book]) -> Dec {
        self.net_pnl().div(self.legs().0).unwrap_or(Dec::ZERO)
    }

    fn filled_amount_quote(&self, _books: &[Book]) -> Dec {
        let (b, s) = self.legs();
        b + s
    }

    fn fees_quote(&self) -> Dec {
        self.fees()
    }

    fn held(&self) -> Held {
        let (bought, sold) = self.legs();
        let (buy_base, sell_base) = match self.cfg.maker_side {
            Side::Buy => (self.maker_fills.base, self.taker_fills.base),
            Side::Sell => (self.taker_fills.base, self.maker_fills.base),
        };
        Held {
            buy_base,
            buy_quote: bought,
            sell_base,
            sell_quote: sold,
            fees: self.fees(),
        }
    }

    fn side(&self) -> Option<Side> {
        Some(self.cfg.maker_side)
    }
}
