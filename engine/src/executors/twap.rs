//! TWAP executor (spec §6): splits `total_amount_quote` into `number_of_orders` equal
//! slots, one every `order_interval_ns` from the start, and sends each slot's order when
//! its time comes (MARKET in taker mode, LIMIT at mid ± buffer in maker mode).
//!
//! Invariants and limits:
//! - At most [`MAX_SLOTS`] slots (a longer plan closes as FAILED at start); the slots
//!   live in one fixed array allocated at construction, so control steps allocate
//!   nothing.
//! - A slot holds at most one working order. A maker order older than
//!   `order_resubmission_ns` is cancelled ("refreshed") and its slot is ordered again
//!   once the venue confirms the cancel, so a cancel racing a fill never doubles the
//!   exposure; fills of refreshed orders count towards the total.
//! - Kestrel corrections (§0): an early stop keeps its close type (EARLY_STOP, or
//!   POSITION_HOLD with the fills as held exposure); a failed order empties its own slot
//!   only; the minimum-size check at start compares the per-slot amount in base.

use super::{
    refill, Ctx, ExecutorCore, ExecutorLogic, Held, PlaceError, MAX_RETRIES, SHUTDOWN_RETRY_NS,
};
use crate::book::Book;
use crate::events::{CloseType, RunStatus};
use crate::num::Dec;
use crate::orders::{Order, OrderEvent};
use crate::types::{ClientOrderId, InstrumentId, OrderType, Side};

/// Largest number of slots a TWAP plan may have.
pub const MAX_SLOTS: usize = 256;

/// How TWAP slots are executed.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub enum TwapMode {
    /// MARKET orders.
    #[default]
    Taker,
    /// LIMIT orders at mid·(1 − buffer) (BUY) or mid·(1 + buffer) (SELL).
    Maker,
}

/// Configuration of a TWAP executor (spec §6; durations in ns of event time).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct TwapConfig {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side of every slot.
    pub side: Side,
    /// Quote amount to trade in total.
    pub total_amount_quote: Dec,
    /// Plan length: `number_of_orders = total_duration / order_interval + 1`.
    pub total_duration_ns: u64,
    /// Time between slots (0: a single slot).
    pub order_interval_ns: u64,
    /// Taker or maker.
    pub mode: TwapMode,
    /// Maker price offset from mid (fraction).
    pub limit_order_buffer: Dec,
    /// Maker orders older than this are refreshed (0: never).
    pub order_resubmission_ns: u64,
    /// Failures tolerated (0: [`MAX_RETRIES`]; Hummingbot's class default is 15).
    pub max_retries: u32,
}

impl TwapConfig {
    /// Slots in the plan (`total_duration / order_interval + 1`).
    pub fn number_of_orders(&self) -> u64 {
        self.total_duration_ns
            .checked_div(self.order_interval_ns)
            .unwrap_or(0)
            + 1
    }

    /// Quote amount of one slot.
    pub fn order_amount_quote(&self) -> Dec {
        Dec(self.total_amount_quote.raw() / self.number_of_orders().max(1) as i64)
    }

    fn retries_allowed(&self) -> u32 {
        if self.max_retries == 0 {
            MAX_RETRIES
        } else {
            self.max_retries
        }
    }
}

/// One slot of the plan.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Slot {
    /// When the slot becomes due.
    pub due: u64,
    /// Its working order, if any.
    pub order: Option<ClientOrderId>,
    /// Price the order was valued at (limit price, or mid for a market order).
    pub px: Dec,
    /// Filled (or left with less than one minimum order to trade).
    pub filled: bool,
    /// A refresh cancel was sent for the working order.
    pub refreshing: bool,
}

/// TWAP executor (spec §6).
#[derive(Clone, Debug, PartialEq)]
pub struct TwapExecutor {
    /// Configuration.
    pub cfg: TwapConfig,
    /// [`MAX_SLOTS`] of them, kept when the engine reuses the executor.
    slots: Box<[Slot]>,
    len: usize,
    /// Base executed over all orders (refreshed ones included).
    pub executed_base: Dec,
    /// Quote executed (Σ px × qty).
    pub executed_quote: Dec,
    /// Fees paid (quote).
    pub fees: Dec,
    /// Orders cancelled by a maker refresh.
    pub refreshed: u32,
    /// Orders the venue refused.
    pub failed: u32,
    last_shutdown_ts: Option<u64>,
}

impl TwapExecutor {
    /// New executor, not started (the plan is laid out when it starts).
    pub fn new(cfg: TwapConfig) -> Self {
        TwapExecutor::around(cfg, Box::default())
    }

    /// Makes this executor what [`new`](Self::new) makes, keeping its slot storage (no
    /// allocation).
    pub fn renew(&mut self, cfg: TwapConfig) {
        let slots = std::mem::take(&mut self.slots);
        *self = TwapExecutor::around(cfg, slots);
    }

    fn around(cfg: TwapConfig, slots: Box<[Slot]>) -> Self {
        TwapExecutor {
            cfg,
            slots: refill(slots, MAX_SLOTS, Slot::default()),
            len: 0,
            executed_base: Dec::ZERO,
            executed_quote: Dec::ZERO,
            fees: Dec::ZERO,
            refreshed: 0,
            failed: 0,
            last_shutdown_ts: None,
        }
    }

    /// The plan's slots.
    pub fn slots(&self) -> &[Slot] {
        &self.slots[..self.len]
    }

    /// Average executed price.
    pub fn average_price(&self) -> Option<Dec> {
        self.executed_quote.div(self.executed_base)
    }

    /// `(mid − avg)/avg` for BUY, `(avg − mid)/avg` for SELL; 0 without fills or mid.
    pub fn trade_pnl_pct(&self, books: &[Book]) -> Dec {
        let (Some(avg), Some(mid)) = (
            self.average_price(),
            books
                .get(self.cfg.instrument as usize)
                .and_then(|b| b.mid()),
        ) else {
            return Dec::ZERO;
        };
        let diff = match self.cfg.side {
            Side::Buy => mid - avg,
            Side::Sell => avg - mid,
        };
        diff.div(avg).unwrap_or(Dec::ZERO)
    }

    fn slot_of(&self, cid: ClientOrderId) -> Option<usize> {
        self.slots[..self.len]
            .iter()
            .position(|s| s.order == Some(cid))
    }

    /// Quote still to be committed: total − executed − notional of working orders.
    fn remaining_quote(&self, ctx: &Ctx) -> Dec {
        let mut open = Dec::ZERO;
        for s in &self.slots[..self.len] {
            if let Some(o) = s.order.and_then(|c| ctx.orders.get(c)) {
                let px = if o.req.price.raw() > 0 {
                    o.req.price
                } else {
                    s.px
                };
                open += px.mul(o.remaining());
            }
        }
        self.cfg.total_amount_quote - self.executed_quote - open
    }

    fn place_slot(&mut self, i: usize, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let Some(mid) = ctx.books[self.cfg.instrument as usize].mid() else {
            return;
        };
        let empty = self.slots[..self.len]
            .iter()
            .filter(|s| s.order.is_none() && !s.filled)
            .count() as i64;
        let quote = Dec(self.remaining_quote(ctx).raw() / empty.max(1));
        let qty = quote.div(mid).unwrap_or(Dec::ZERO);
        let (ot, px) = match (self.cfg.mode, self.cfg.side) {
            (TwapMode::Taker, _) => (OrderType::Market, mid),
            (TwapMode::Maker, Side::Buy) => (
                OrderType::Limit,
                mid.mul(Dec::ONE - self.cfg.limit_order_buffer),
            ),
            (TwapMode::Maker, Side::Sell) => (
                OrderType::Limit,
                mid.mul(Dec::ONE + self.cfg.limit_order_buffer),
            ),
        };
        match ctx.place(core.id, self.cfg.instrument, self.cfg.side, ot, px, qty) {
            Ok(cid) => {
                let s = &mut self.slots[i];
                s.order = Some(cid);
                s.px = ctx.orders.get(cid).map_or(px, |o| {
                    if o.req.price.raw() > 0 {
                        o.req.price
                    } else {
                        mid
                    }
                });
                s.refreshing = false;
            }
            // Less than one minimum order left for this slot: nothing more to trade there.
            Err(PlaceError::BelowMinimum) => self.slots[i].filled = true,
            Err(PlaceError::InsufficientBalance | PlaceError::Risk(_)) => core.retries += 1,
            Err(PlaceError::NoMarket) => {}
        }
    }

    fn fail(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        for i in 0..self.len {
            if let Some(cid) = self.slots[i].order {
                ctx.cancel(cid);
            }
        }
        core.close(ctx.now, CloseType::Failed);
    }

    fn run(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let now = ctx.now;
        if self.cfg.mode == TwapMode::Maker && self.cfg.order_resubmission_ns > 0 {
            for i in 0..self.len {
                let s = self.slots[i];
                let Some(cid) = s.order else { continue };
                if s.refreshing {
                    continue;
                }
                let stale = ctx.orders.get(cid).is_some_and(|o| {
                    o.is_open() && o.created_ts + self.cfg.order_resubmission_ns < now
                });
                if stale && ctx.cancel(cid) {
                    self.slots[i].refreshing = true;
                    self.refreshed += 1;
                }
            }
        }
        for i in 0..self.len {
            let s = self.slots[i];
            if s.due <= now && s.order.is_none() && !s.filled {
                self.place_slot(i, core, ctx);
            }
        }
        if self.slots[..self.len].iter().all(|s| s.filled) {
            core.status = RunStatus::ShuttingDown;
            core.close_type = Some(CloseType::Completed);
            self.shut_down(core, ctx);
        }
    }

    /// Cancels whatever still works; terminates with the recorded close type once
    /// nothing does, retrying every `SHUTDOWN_RETRY_NS`.
    fn shut_down(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let mut working = false;
        for i in 0..self.len {
            if let Some(cid) = self.slots[i].order {
                working = true;
                ctx.cancel(cid);
            }
        }
        if !working {
            let ct = core.close_type.unwrap_or(CloseType::EarlyStop);
            core.close(ctx.now, ct);
            return;
        }
        match self.last_shutdown_ts {
            None => self.last_shutdown_ts = Some(ctx.now),
            Some(t) if ctx.now >= t + SHUTDOWN_RETRY_NS => {
                self.last_shutdown_ts = Some(ctx.now);
                core.retries += 1;
            }
            Some(_) => {}
        }
    }
}

impl ExecutorLogic for TwapExecutor {
    fn instrument(&self) -> InstrumentId {
        self.cfg.instrument
    }

    fn on_start(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let n = self.cfg.number_of_orders();
        let inst = &ctx.instruments[self.cfg.instrument as usize];
        let Some(mid) = ctx.books[self.cfg.instrument as usize].mid() else {
            core.close(ctx.now, CloseType::Failed);
            return;
        };
        let per_order = self.cfg.order_amount_quote();
        let per_order_base = per_order.div(mid).unwrap_or(Dec::ZERO);
        if n as usize > MAX_SLOTS
            || per_order_base < inst.spec.min_quantity()
            || per_order < inst.spec.min_notional
        {
            core.close(ctx.now, CloseType::Failed);
            return;
        }
        let total_base = self.cfg.total_amount_quote.div(mid).unwrap_or(Dec::ZERO);
        if !ctx.can_fund(self.cfg.instrument, self.cfg.side, mid, total_base) {
            core.close(ctx.now, CloseType::InsufficientBalance);
            return;
        }
        self.len = n as usize;
        for i in 0..self.len {
            self.slots[i] = Slot {
                due: ctx.now + i as u64 * self.cfg.order_interval_ns,
                ..Slot::default()
            };
        }
        core.status = RunStatus::Running;
    }

    fn control(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        match core.status {
            RunStatus::Running => self.run(core, ctx),
            RunStatus::ShuttingDown => self.shut_down(core, ctx),
            RunStatus::NotStarted | RunStatus::Terminated => return,
        }
        if core.status != RunStatus::Terminated && core.retries > self.cfg.retries_allowed() {
            self.fail(core, ctx);
        }
    }

    fn on_order(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx, order: &Order, ev: &OrderEvent) {
        let Some(i) = self.slot_of(order.req.cid) else {
            return;
        };
        let s = &mut self.slots[i];
        match *ev {
            OrderEvent::Created => {}
            OrderEvent::CancelRejected => s.refreshing = false,
            OrderEvent::Filled {
                last_px,
                last_qty,
                fee,
                complete,
            } => {
                self.executed_base += last_qty;
                self.executed_quote += last_px.mul(last_qty);
                self.fees += fee;
                if complete {
                    s.order = None;
                    s.filled = true;
                    s.refreshing = false;
                }
            }
            // Refreshed, expired or cancelled: the slot is ordered again (its fills stay).
            OrderEvent::Canceled => {
                s.order = None;
                s.refreshing = false;
            }
            OrderEvent::Failed(_) => {
                s.order = None;
                s.refreshing = false;
                self.failed += 1;
                core.retries += 1;
                if core.retries > self.cfg.retries_allowed() {
                    self.fail(core, ctx);
                }
            }
        }
    }

    fn early_stop(&mut self, core: &mut ExecutorCore, keep_position: bool) {
        if core.status == RunStatus::Running {
            core.status = RunStatus::ShuttingDown;
            core.close_type = Some(if keep_position {
                CloseType::PositionHold
            } else {
                CloseType::EarlyStop
            });
        }
    }

    fn net_pnl_quote(&self, books: &[Book]) -> Dec {
        self.trade_pnl_pct(books).mul(self.executed_quote) - self.fees
    }

    fn net_pnl_pct(&self, books: &[Book]) -> Dec {
        self.net_pnl_quote(books)
            .div(self.executed_quote)
            .unwrap_or(Dec::ZERO)
    }

    fn filled_amount_quote(&self, _books: &[Book]) -> Dec {
        self.executed_quote
    }

    fn fees_quote(&self) -> Dec {
        self.fees
    }

    fn held(&self) -> Held {
        let mut h = Held {
            fees: self.fees,
            ..Held::default()
        };
        match self.cfg.side {
            Side::Buy => (h.buy_base, h.buy_quote) = (self.executed_base, self.executed_quote),
            Side::Sell => (h.sell_base, h.sell_quote) = (self.executed_base, self.executed_quote),
        }
        h
    }

    fn side(&self) -> Option<Side> {
        Some(self.cfg.side)
    }
}
