//! DCA executor (spec §5): opens up to [`MAX_DCA_LEVELS`] levels strictly in list order,
//! at most one per control step, and closes the averaged position with one market order
//! on stop loss, trailing stop, take profit or time limit.
//!
//! Kestrel specifics: `early_stop(keep_position = true)` records the fills as held
//! exposure (spec §0) after the working open orders are cancelled; a failed level is
//! re-placed at its own price (not the next list entry); the shutdown waits for cancel
//! confirmations before it terminates, so a fill racing a cancel is never orphaned.

use super::barrier::{TrailingState, TrailingStop};
use super::grid::ratio;
use super::{refill, Ctx, ExecutorCore, ExecutorLogic, Held, PlaceError, SHUTDOWN_RETRY_NS};
use crate::book::Book;
use crate::events::{CloseType, RunStatus};
use crate::num::Dec;
use crate::orders::{Order, OrderEvent};
use crate::types::{ClientOrderId, InstrumentId, OrderType, Side};

/// Most levels a DCA can have.
pub const MAX_DCA_LEVELS: usize = 16;
/// DCA fails once this many orders failed (Hummingbot's DCA rule is `retries ≥ max`).
pub const DCA_MAX_RETRIES: u32 = super::MAX_RETRIES;
/// Back-off after an open order could not be placed.
const PLACE_BACKOFF_NS: u64 = 1_000_000_000;

/// How DCA levels are opened.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub enum DcaMode {
    /// Limit orders resting at the level prices.
    #[default]
    Maker,
    /// Market orders when mid is near the level price.
    Taker,
}

/// Configuration of a DCA executor (spec §5).
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct DcaConfig {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side of the position being built.
    pub side: Side,
    /// Number of levels used in `amounts_quote` / `prices`.
    pub n_levels: u8,
    /// Quote per level.
    pub amounts_quote: [Dec; MAX_DCA_LEVELS],
    /// Price per level.
    pub prices: [Dec; MAX_DCA_LEVELS],
    /// Take profit on the net pnl fraction (strictly above).
    pub take_profit: Option<Dec>,
    /// Stop loss on the net pnl fraction.
    pub stop_loss: Option<Dec>,
    /// Trailing stop on the net pnl fraction.
    pub trailing_stop: Option<TrailingStop>,
    /// Time limit in seconds from `timestamp`.
    pub time_limit_s: Option<u64>,
    /// Maker (limit) or taker (market) levels.
    pub mode: DcaMode,
    /// Activation bounds `(b0, b1)` (Maker uses b0; Taker defaults to (0.0001, 0.005)).
    pub activation_bounds: Option<(Dec, Dec)>,
    /// Leverage (perpetuals; informative on spot).
    pub leverage: u32,
    /// Origin of the time limit (ns event time); None: when the executor is created.
    pub timestamp: Option<u64>,
}

/// Why a DCA configuration is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcaConfigError {
    /// `amounts_quote` and `prices` differ in length.
    LengthMismatch,
    /// No level, or more than [`MAX_DCA_LEVELS`].
    LevelCount,
    /// A price or amount is not positive.
    NonPositive,
}

impl DcaConfig {
    /// Maker DCA over `amounts_quote[i]` at `prices[i]`; no barriers.
    pub fn new(
        instrument: InstrumentId,
        side: Side,
        amounts_quote: &[Dec],
        prices: &[Dec],
    ) -> Result<DcaConfig, DcaConfigError> {
        if amounts_quote.len() != prices.len() {
            return Err(DcaConfigError::LengthMismatch);
        }
        let n = prices.len();
        if n == 0 || n > MAX_DCA_LEVELS {
            return Err(DcaConfigError::LevelCount);
        }
        let mut cfg = DcaConfig {
            instrument,
            side,
            n_levels: n as u8,
            amounts_quote: [Dec::ZERO; MAX_DCA_LEVELS],
            prices: [Dec::ZERO; MAX_DCA_LEVELS],
            take_profit: None,
            stop_loss: None,
            trailing_stop: None,
            time_limit_s: None,
            mode: DcaMode::Maker,
            activation_bounds: None,
            leverage: 1,
            timestamp: None,
        };
        cfg.amounts_quote[..n].copy_from_slice(amounts_quote);
        cfg.prices[..n].copy_from_slice(prices);
        cfg.validate()?;
        Ok(cfg)
    }

    /// Level count in range and every price and amount positive.
    pub fn validate(&self) -> Result<(), DcaConfigError> {
        let n = self.n_levels as usize;
        if n == 0 || n > MAX_DCA_LEVELS {
            return Err(DcaConfigError::LevelCount);
        }
        if (0..n).any(|i| self.prices[i].raw() <= 0 || self.amounts_quote[i].raw() <= 0) {
            return Err(DcaConfigError::NonPositive);
        }
        Ok(())
    }

    /// Levels in use: (amount_quote, price).
    pub fn levels(&self) -> impl Iterator<Item = (Dec, Dec)> + '_ {
        let n = (self.n_levels as usize).min(MAX_DCA_LEVELS);
        (0..n).map(|i| (self.amounts_quote[i], self.prices[i]))
    }

    /// Effective activation bounds (Taker without bounds gets (0.0001, 0.005)).
    pub fn bounds(&self) -> Option<(Dec, Dec)> {
        match (self.mode, self.activation_bounds) {
            (DcaMode::Taker, None) => Some((Dec(100_000), Dec(5_000_000))),
            (_, b) => b,
        }
    }

    /// Spec §5 "within bounds" of a level at `price` for mid `mid`.
    pub fn within_bounds(&self, price: Dec, mid: Dec) -> bool {
        match (self.mode, self.bounds()) {
            (DcaMode::Maker, None) => true,
            (DcaMode::Maker, Some((b0, _))) => match self.side {
                Side::Buy => price > mid - mid.mul(b0),
                Side::Sell => price < mid + mid.mul(b0),
            },
            (DcaMode::Taker, b) => {
                let (b0, b1) = b.unwrap_or((Dec(100_000), Dec(5_000_000)));
                let (lo, hi) = match self.side {
                    Side::Buy => (price - price.mul(b0), price + price.mul(b1)),
                    Side::Sell => (price - price.mul(b1), price + price.mul(b0)),
                };
                lo < mid && mid < hi
            }
        }
    }
}

/// One DCA level's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DcaLevel {
    /// Its order (kept after it finished).
    pub cid: Option<ClientOrderId>,
    /// An order was placed and did not fail.
    pub placed: bool,
    /// Its order is still working.
    pub working: bool,
    /// Base filled.
    pub filled: Dec,
    /// Σ fill price × qty.
    pub quote: Dec,
    /// Fees (quote).
    pub fees: Dec,
}

/// The close side: market orders, one at a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DcaClose {
    /// Current close order.
    pub cid: Option<ClientOrderId>,
    /// It is still working.
    pub working: bool,
    /// Close orders placed.
    pub orders: u32,
    /// Base filled by all close orders.
    pub filled: Dec,
    /// Σ fill price × qty.
    pub quote: Dec,
    /// Fees (quote).
    pub fees: Dec,
}

/// DCA executor.
#[derive(Clone, Debug, PartialEq)]
pub struct DcaExecutor {
    /// Configuration.
    pub cfg: DcaConfig,
    /// Level orders.
    /// ([`MAX_DCA_LEVELS`] of them, kept when the engine reuses the executor).
    pub levels: Box<[DcaLevel]>,
    /// Close orders.
    pub close: DcaClose,
    /// Orders that failed.
    pub failed_orders: u32,
    trailing: TrailingState,
    held: Held,
    terminated: bool,
    last_close_ts: Option<u64>,
    close_now: bool,
    open_backoff_until: u64,
    /// Last close-side touch seen (bid for BUY, ask for SELL).
    last_px: Dec,
}

impl DcaExecutor {
    /// New executor, not started.
    pub fn new(cfg: DcaConfig) -> Self {
        DcaExecutor::around(cfg, Box::default())
    }

    /// Makes this executor what [`new`](Self::new) makes, keeping its level storage
    /// (no allocation).
    pub fn renew(&mut self, cfg: DcaConfig) {
        let levels = std::mem::take(&mut self.levels);
        *self = DcaExecutor::around(cfg, levels);
    }

    fn around(cfg: DcaConfig, levels: Box<[DcaLevel]>) -> Self {
        DcaExecutor {
            cfg,
            levels: refill(levels, MAX_DCA_LEVELS, DcaLevel::default()),
            close: DcaClose::default(),
            failed_orders: 0,
            trailing: TrailingState::default(),
            held: Held::default(),
            terminated: false,
            last_close_ts: None,
            close_now: false,
            open_backoff_until: 0,
            last_px: Dec::ZERO,
        }
    }

    fn n(&self) -> usize {
        (self.cfg.n_levels as usize).min(MAX_DCA_LEVELS)
    }

    /// Levels in use.
    pub fn levels(&self) -> &[DcaLevel] {
        &self.levels[..self.n()]
    }

    /// Levels placed so far.
    pub fn placed(&self) -> usize {
        self.levels().iter().filter(|l| l.placed).count()
    }

    /// Base filled by open orders.
    pub fn open_filled(&self) -> Dec {
        self.levels().iter().fold(Dec::ZERO, |a, l| a + l.filled)
    }

    /// Quote paid (BUY) or received (SELL) by open orders: Σ fill price × qty, which is
    /// Hummingbot's open_filled × avg_entry without the average's rounding.
    pub fn open_quote(&self) -> Dec {
        self.levels().iter().fold(Dec::ZERO, |a, l| a + l.quote)
    }

    /// Average entry price (0 before any fill).
    pub fn avg_entry(&self) -> Dec {
        ratio(self.open_quote(), self.open_filled())
    }

    /// Σ amounts_quote.
    pub fn max_amount_quote(&self) -> Dec {
        self.cfg.levels().fold(Dec::ZERO, |a, (q, _)| a + q)
    }

    /// Average price if every level fills: Σ price·amount / Σ amount.
    pub fn target_avg_price(&self) -> Dec {
        let s = self.cfg.levels().fold(Dec::ZERO, |a, (q, p)| a + p.mul(q));
        ratio(s, self.max_amount_quote())
    }

    /// Lowest level price.
    pub fn min_price(&self) -> Dec {
        self.cfg.levels().map(|(_, p)| p).min().unwrap_or(Dec::ZERO)
    }

    /// Highest level price.
    pub fn max_price(&self) -> Dec {
        self.cfg.levels().map(|(_, p)| p).max().unwrap_or(Dec::ZERO)
    }

    /// Σ amounts × stop loss.
    pub fn max_loss_quote(&self) -> Dec {
        self.max_amount_quote()
            .mul(self.cfg.stop_loss.unwrap_or(Dec::ZERO))
    }

    /// Close price: the close fills' average once terminated, else the close-side touch.
    pub fn close_price(&self, books: &[Book]) -> Dec {
        if self.terminated && self.close.filled.raw() > 0 {
            return ratio(self.close.quote, self.close.filled);
        }
        let b = books.get(self.cfg.instrument as usize);
        let px = match self.cfg.side {
            Side::Buy => b.and_then(|b| b.best_bid()),
            Side::Sell => b.and_then(|b| b.best_ask()),
        };
        px.unwrap_or(self.last_px)
    }

    /// (close − avg) / avg for a long, inverse for a short; 0 before any fill.
    pub fn trade_pnl_pct(&self, books: &[Book]) -> Dec {
        let avg = self.avg_entry();
        if avg.raw() == 0 {
            return Dec::ZERO;
        }
        let close = self.close_price(books);
        match self.cfg.side {
            Side::Buy => ratio(close - avg, avg),
            Side::Sell => ratio(avg - close, avg),
        }
    }

    /// All fees (quote).
    pub fn fees(&self) -> Dec {
        self.levels()
            .iter()
            .fold(self.close.fees, |a, l| a + l.fees)
    }

    fn working_opens(&self) -> bool {
        self.levels().iter().any(|l| l.working)
    }

    fn expired(&self, core: &ExecutorCore, now: u64) -> bool {
        match self.cfg.time_limit_s.filter(|t| *t > 0) {
            Some(tl) => {
                let origin = self.cfg.timestamp.unwrap_or(core.created_ts);
                origin.saturating_add(tl.saturating_mul(1_000_000_000)) <= now
            }
            None => false,
        }
    }

    fn finish(&mut self, core: &mut ExecutorCore, now: u64, ct: CloseType) {
        self.terminated = true;
        core.close(now, ct);
    }

    fn retry(&mut self, core: &mut ExecutorCore, now: u64) {
        core.retries += 1;
        if core.retries >= DCA_MAX_RETRIES && core.status != RunStatus::Terminated {
            self.finish(core, now, CloseType::Failed);
        }
    }

    /// Opens the next level if it is due (spec §5).
    fn open_next(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let Some(i) = self.levels().iter().position(|l| !l.placed) else {
            return;
        };
        if ctx.now < self.open_backoff_until || self.expired(core, ctx.now) {
            return;
        }
        let Some(mid) = ctx.books[self.cfg.instrument as usize].mid() else {
            return;
        };
        let (amount, price) = (self.cfg.amounts_quote[i], self.cfg.prices[i]);
        if !self.cfg.within_bounds(price, mid) {
            return;
        }
        let ot = match self.cfg.mode {
            DcaMode::Maker => OrderType::Limit,
            DcaMode::Taker => OrderType::Market,
        };
        let qty = ratio(amount, price);
        match ctx.place(core.id, self.cfg.instrument, self.cfg.side, ot, price, qty) {
            Ok(cid) => {
                self.levels[i] = DcaLevel {
                    cid: Some(cid),
                    placed: true,
                    working: true,
                    ..DcaLevel::default()
                };
            }
            Err(_) => {
                self.open_backoff_until = ctx.now + PLACE_BACKOFF_NS;
                self.failed_orders += 1;
                self.retry(core, ctx.now);
            }
        }
    }

    /// First barrier that fires (SL → trailing → TP → time limit).
    fn barrier(&mut self, core: &ExecutorCore, ctx: &Ctx) -> Option<CloseType> {
        let net = self.net_pnl_quote(ctx.books);
        let pct = self.net_pnl_pct(ctx.books);
        if let Some(sl) = self.cfg.stop_loss.filter(|s| s.raw() > 0) {
            let hit = match self.cfg.mode {
                DcaMode::Maker => self.placed() == self.n() && !self.working_opens() && pct <= -sl,
                DcaMode::Taker => net <= -self.max_loss_quote(),
            };
            if hit {
                return Some(CloseType::StopLoss);
            }
        }
        if let Some(ts) = self.cfg.trailing_stop {
            if self.trailing.update(&ts, pct) {
                return Some(CloseType::TrailingStop);
            }
        }
        if let Some(tp) = self.cfg.take_profit.filter(|t| t.raw() > 0) {
            if pct > tp {
                return Some(CloseType::TakeProfit);
            }
        }
        self.expired(core, ctx.now).then_some(CloseType::TimeLimit)
    }

    /// Market order for what is still open; false if only dust is left.
    fn place_close(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) -> Result<(), PlaceError> {
        let qty = self.open_filled() - self.close.filled;
        let min = ctx.instruments[self.cfg.instrument as usize]
            .spec
            .min_quantity();
        if qty < min {
            return Err(PlaceError::BelowMinimum);
        }
        let cid = ctx.place(
            core.id,
            self.cfg.instrument,
            self.cfg.side.opposite(),
            OrderType::Market,
            Dec::ZERO,
            qty,
        )?;
        self.close.cid = Some(cid);
        self.close.working = true;
        self.close.orders += 1;
        Ok(())
    }

    fn shutdown(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        for l in self.levels[..self.n()].iter() {
            if let (true, Some(cid)) = (l.working, l.cid) {
                if ctx.orders.get(cid).is_some_and(|o| o.is_open()) {
                    ctx.cancel(cid);
                }
            }
        }
        let busy = self.working_opens() || self.close.working;
        if core.close_type == Some(CloseType::PositionHold) {
            if busy {
                return;
            }
            let base = self.open_filled();
            let quote = self.levels().iter().fold(Dec::ZERO, |a, l| a + l.quote);
            let (cb, cq) = (self.close.filled, self.close.quote);
            let mut held = Held {
                fees: self.fees(),
                ..Held::default()
            };
            match self.cfg.side {
                Side::Buy => {
                    (held.buy_base, held.buy_quote) = (base, quote);
                    (held.sell_base, held.sell_quote) = (cb, cq);
                }
                Side::Sell => {
                    (held.sell_base, held.sell_quote) = (base, quote);
                    (held.buy_base, held.buy_quote) = (cb, cq);
                }
            }
            self.held = held;
            self.finish(core, ctx.now, CloseType::PositionHold);
            return;
        }
        let min = ctx.instruments[self.cfg.instrument as usize]
            .spec
            .min_quantity();
        let left = self.open_filled() - self.close.filled;
        if left < min {
            if !busy {
                let ct = core.close_type.unwrap_or(CloseType::EarlyStop);
                self.finish(core, ctx.now, ct);
            }
            return;
        }
        if self.close.working {
            return;
        }
        if std::mem::take(&mut self.close_now) {
            // Early stop: the close goes out at once, like a barrier's.
            self.last_close_ts = Some(ctx.now);
            if let Err(PlaceError::BelowMinimum) = self.place_close(core, ctx) {
                if !busy {
                    let ct = core.close_type.unwrap_or(CloseType::EarlyStop);
                    self.finish(core, ctx.now, ct);
                }
            }
            return;
        }
        let due = self
            .last_close_ts
            .is_none_or(|t| ctx.now >= t + SHUTDOWN_RETRY_NS);
        if !due {
            return;
        }
        self.last_close_ts = Some(ctx.now);
        match self.place_close(core, ctx) {
            Err(PlaceError::BelowMinimum) if !busy => {
                let ct = core.close_type.unwrap_or(CloseType::EarlyStop);
                self.finish(core, ctx.now, ct);
                return;
            }
            _ => {}
        }
        self.retry(core, ctx.now);
    }

    /// Starts closing: cancels the open orders and sends the market close at once.
    fn start_close(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx, ct: CloseType) {
        core.close_type = Some(ct);
        core.status = RunStatus::ShuttingDown;
        core.close_ts = ctx.now;
        // Dust or a refused order is retried by the shutdown step.
        let _ = self.place_close(core, ctx);
        self.last_close_ts = Some(ctx.now);
        self.shutdown(core, ctx);
    }
}

impl ExecutorLogic for DcaExecutor {
    fn instrument(&self) -> InstrumentId {
        self.cfg.instrument
    }

    fn on_start(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let spec = &ctx.instruments[self.cfg.instrument as usize].spec;
        let too_small = self
            .cfg
            .levels()
            .any(|(q, p)| q < spec.min_notional || ratio(q, p) < spec.min_qty);
        if self.cfg.validate().is_err() || too_small {
            self.finish(core, ctx.now, CloseType::Failed);
            return;
        }
        let funded = match self.cfg.side {
            Side::Buy => ctx.can_fund(
                self.cfg.instrument,
                Side::Buy,
                Dec::ONE,
                self.max_amount_quote(),
            ),
            Side::Sell => {
                let base = self
                    .cfg
                    .levels()
                    .fold(Dec::ZERO, |a, (q, p)| a + ratio(q, p));
                ctx.can_fund(self.cfg.instrument, Side::Sell, Dec::ONE, base)
            }
        };
        if !funded {
            self.finish(core, ctx.now, CloseType::InsufficientBalance);
        } else if self.expired(core, ctx.now) {
            self.finish(core, ctx.now, CloseType::Expired);
        } else {
            core.status = RunStatus::Running;
        }
    }

    fn control(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let book = &ctx.books[self.cfg.instrument as usize];
        if let Some(px) = match self.cfg.side {
            Side::Buy => book.best_bid(),
            Side::Sell => book.best_ask(),
        } {
            self.last_px = px;
        }
        match core.status {
            RunStatus::Running => {
                self.open_next(core, ctx);
                if core.status != RunStatus::Running {
                    return;
                }
                if let Some(ct) = self.barrier(core, ctx) {
                    self.start_close(core, ctx, ct);
                }
            }
            RunStatus::ShuttingDown => self.shutdown(core, ctx),
            RunStatus::NotStarted | RunStatus::Terminated => {}
        }
    }

    fn on_order(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx, order: &Order, ev: &OrderEvent) {
        let cid = order.req.cid;
        if self.close.cid == Some(cid) {
            match *ev {
                OrderEvent::Filled {
                    last_px,
                    last_qty,
                    fee,
                    complete,
                } => {
                    self.close.filled += last_qty;
                    self.close.quote += last_px.mul(last_qty);
                    self.close.fees += fee;
                    if complete {
                        self.close.working = false;
                    }
                }
                OrderEvent::Canceled => {
                    self.close.working = false;
                    self.close.cid = None;
                }
                OrderEvent::Failed(_) => {
                    self.close.working = false;
                    self.close.cid = None;
                    self.failed_orders += 1;
                    self.retry(core, ctx.now);
                }
                OrderEvent::Created | OrderEvent::CancelRejected => {}
            }
            return;
        }
        let n = self.n();
        let Some(l) = self.levels[..n].iter_mut().find(|l| l.cid == Some(cid)) else {
            return;
        };
        match *ev {
            OrderEvent::Filled {
                last_px,
                last_qty,
                fee,
                complete,
            } => {
                l.filled += last_qty;
                l.quote += last_px.mul(last_qty);
                l.fees += fee;
                if complete {
                    l.working = false;
                }
            }
            OrderEvent::Canceled => l.working = false,
            OrderEvent::Failed(_) => {
                // Removed: the level is placed again by a later step.
                *l = DcaLevel::default();
                self.failed_orders += 1;
                self.retry(core, ctx.now);
            }
            OrderEvent::Created | OrderEvent::CancelRejected => {}
        }
    }

    fn early_stop(&mut self, core: &mut ExecutorCore, keep_position: bool) {
        if core.status == RunStatus::Terminated {
            return;
        }
        core.status = RunStatus::ShuttingDown;
        core.close_type = Some(if keep_position {
            CloseType::PositionHold
        } else {
            CloseType::EarlyStop
        });
        // The market close goes out in the control step that follows.
        self.close_now = !keep_position;
    }

    fn net_pnl_quote(&self, books: &[Book]) -> Dec {
        let trade = self.trade_pnl_pct(books).mul(self.open_quote());
        trade - self.fees()
    }

    fn net_pnl_pct(&self, books: &[Book]) -> Dec {
        ratio(self.net_pnl_quote(books), self.open_quote())
    }

    fn filled_amount_quote(&self, books: &[Book]) -> Dec {
        // Once terminated the close is valued at its own fills (close_price is their
        // average), so their quote is taken as it is, without the average's rounding.
        let close = if self.terminated && self.close.filled.raw() > 0 {
            self.close.quote
        } else {
            self.close.filled.mul(self.close_price(books))
        };
        self.open_quote() + close
    }

    fn fees_quote(&self) -> Dec {
        self.fees()
    }

    fn held(&self) -> Held {
        self.held
    }

    fn side(&self) -> Option<Side> {
        Some(self.cfg.side)
    }
}
