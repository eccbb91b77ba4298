//! Grid executor (spec §4): a ladder of open orders between `start_price` and
//! `end_price`, each filled level taking profit with its own close order, the whole grid
//! guarded by stop loss, limit price, time limit, trailing stop and take profit barriers.
//!
//! Kestrel specifics: levels are generated when the executor starts (the first step that
//! has a mid price), into a fixed array of at most [`MAX_GRID_LEVELS`]; a batch of new
//! open orders is capped at `max_open_orders` minus the orders already placed; partial
//! fills are never dropped (a cancelled, partly filled open order leaves its level
//! "open filled" for that amount, a partly filled close order is re-placed for the rest);
//! break-even and pnl use executed fill prices; fees are in quote, so there is no
//! `deduct_base_fees`.

use super::barrier::{TrailingState, TrailingStop};
use super::{
    refill, Ctx, ExecutorCore, ExecutorLogic, Held, PlaceError, MAX_RETRIES, SHUTDOWN_RETRY_NS,
};
use crate::book::Book;
use crate::events::{CloseType, RunStatus};
use crate::num::{Dec, SCALE};
use crate::orders::{Order, OrderEvent};
use crate::types::{ClientOrderId, InstrumentId, OrderType, Side};

/// Most levels a grid can have.
pub const MAX_GRID_LEVELS: usize = 64;
/// Back-off after an order could not be placed (one Hummingbot update interval).
const PLACE_BACKOFF_NS: u64 = 1_000_000_000;

/// `a / b`, or zero when `b` is zero.
pub(crate) fn ratio(a: Dec, b: Dec) -> Dec {
    a.div(b).unwrap_or(Dec::ZERO)
}

/// `a / b` rounded up (b > 0).
fn div_ceil(a: Dec, b: Dec) -> Dec {
    let n = a.raw() as i128 * SCALE as i128;
    let d = b.raw() as i128;
    Dec(((n + d - 1).div_euclid(d)).clamp(0, i64::MAX as i128) as i64)
}

/// `|price − mid| / mid` compared with `bound` exactly: Less, Equal or Greater.
fn distance_cmp(price: Dec, mid: Dec, bound: Dec) -> std::cmp::Ordering {
    let lhs = (price.raw() as i128 - mid.raw() as i128).abs() * SCALE as i128;
    let rhs = bound.raw() as i128 * mid.raw() as i128;
    lhs.cmp(&rhs)
}

/// Configuration of a grid executor (spec §4).
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct GridConfig {
    /// Instrument.
    pub instrument: InstrumentId,
    /// BUY grid (buys low, sells higher) or SELL grid.
    pub side: Side,
    /// Lowest level price.
    pub start_price: Dec,
    /// Highest level price.
    pub end_price: Dec,
    /// BUY: mid at or below it stops the grid; SELL: at or above (None: no limit).
    pub limit_price: Option<Dec>,
    /// Quote to spread over the levels.
    pub total_amount_quote: Dec,
    /// Smallest distance between levels (fraction of price).
    pub min_spread_between_orders: Dec,
    /// Smallest level notional (quote).
    pub min_order_amount_quote: Dec,
    /// Most open orders working at once.
    pub max_open_orders: u16,
    /// Most open orders placed per step (0: no limit).
    pub max_orders_per_batch: u16,
    /// Least event time between two batches of open orders.
    pub order_frequency_ns: u64,
    /// Only levels within this fraction of mid get orders (None: all).
    pub activation_bounds: Option<Dec>,
    /// Extra distance from the touch for a level that already crossed it (fraction).
    pub safe_extra_spread: Dec,
    /// Stop loss on the position pnl fraction.
    pub stop_loss: Option<Dec>,
    /// Take profit of each level (fraction of the level price).
    pub take_profit: Dec,
    /// Time limit in seconds from `timestamp`.
    pub time_limit_s: Option<u64>,
    /// Trailing stop on the position pnl fraction.
    pub trailing_stop: Option<TrailingStop>,
    /// Open order type (Limit or LimitMaker).
    pub open_order_type: OrderType,
    /// Take-profit order type.
    pub take_profit_order_type: OrderType,
    /// Stop-loss order type (must be Market).
    pub stop_loss_order_type: OrderType,
    /// Time-limit order type (must be Market).
    pub time_limit_order_type: OrderType,
    /// Leverage (perpetuals; informative on spot).
    pub leverage: u32,
    /// Limit-price hit holds the position instead of closing it.
    pub keep_position: bool,
    /// Level take profit is at least the level step.
    pub coerce_tp_to_step: bool,
    /// Origin of the time limit (ns event time); None: when the executor is created.
    pub timestamp: Option<u64>,
}

impl Default for GridConfig {
    /// Hummingbot's defaults (limit open and take-profit orders); prices and amount are
    /// zero and must be set.
    fn default() -> Self {
        GridConfig {
            instrument: 0,
            side: Side::Buy,
            start_price: Dec::ZERO,
            end_price: Dec::ZERO,
            limit_price: None,
            total_amount_quote: Dec::ZERO,
            min_spread_between_orders: Dec(500_000),
            min_order_amount_quote: Dec::from_int(5),
            max_open_orders: 5,
            max_orders_per_batch: 0,
            order_frequency_ns: 0,
            activation_bounds: None,
            safe_extra_spread: Dec(100_000),
            stop_loss: None,
            take_profit: Dec::ZERO,
            time_limit_s: None,
            trailing_stop: None,
            open_order_type: OrderType::Limit,
            take_profit_order_type: OrderType::Limit,
            stop_loss_order_type: OrderType::Market,
            time_limit_order_type: OrderType::Market,
            leverage: 20,
            keep_position: false,
            coerce_tp_to_step: false,
            timestamp: None,
        }
    }
}

/// Why a grid configuration is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridConfigError {
    /// Stop-loss or time-limit order type is not Market.
    NonMarketBarrierOrder,
    /// start ≤ 0 or end < start.
    BadRange,
    /// Total amount ≤ 0.
    NoAmount,
    /// Open order type is Market.
    MarketOpen,
}

impl GridConfig {
    /// Checks what Hummingbot checks at construction, plus the range and amount.
    pub fn validate(&self) -> Result<(), GridConfigError> {
        if self.stop_loss_order_type != OrderType::Market
            || self.time_limit_order_type != OrderType::Market
        {
            return Err(GridConfigError::NonMarketBarrierOrder);
        }
        if self.start_price.raw() <= 0 || self.end_price < self.start_price {
            return Err(GridConfigError::BadRange);
        }
        if self.total_amount_quote.raw() <= 0 {
            return Err(GridConfigError::NoAmount);
        }
        if self.open_order_type == OrderType::Market {
            return Err(GridConfigError::MarketOpen);
        }
        Ok(())
    }
}

/// Level state (spec §4), derived from its orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelState {
    /// No order and no position.
    NotActive,
    /// Open order working.
    OpenOrderPlaced,
    /// Open side filled (in full, or partly and then cancelled); no close order.
    OpenOrderFilled,
    /// Close order working.
    CloseOrderPlaced,
    /// Close side filled the open amount (archived at once, then NotActive).
    Complete,
}

/// One side of a level: its current order and the fills of this level's cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leg {
    /// Current order.
    pub cid: Option<ClientOrderId>,
    /// The current order is still working.
    pub working: bool,
    /// Limit price of the current order (0 for market).
    pub price: Dec,
    /// Base filled this cycle.
    pub filled: Dec,
    /// Σ fill price × qty this cycle.
    pub quote: Dec,
    /// Fees this cycle (quote).
    pub fees: Dec,
}

impl Leg {
    const EMPTY: Leg = Leg {
        cid: None,
        working: false,
        price: Dec::ZERO,
        filled: Dec::ZERO,
        quote: Dec::ZERO,
        fees: Dec::ZERO,
    };

    fn fill(&mut self, px: Dec, qty: Dec, fee: Dec) {
        self.filled += qty;
        self.quote += px.mul(qty);
        self.fees += fee;
    }
}

/// One grid level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLevel {
    /// Level price.
    pub price: Dec,
    /// Quote per cycle.
    pub amount_quote: Dec,
    /// Open side.
    pub open: Leg,
    /// Close (take-profit) side.
    pub close: Leg,
    /// Close amount is below the venue minimum: no close order, held until shutdown.
    pub dust: bool,
    close_retry_at: u64,
}

impl GridLevel {
    const EMPTY: GridLevel = GridLevel {
        price: Dec::ZERO,
        amount_quote: Dec::ZERO,
        open: Leg::EMPTY,
        close: Leg::EMPTY,
        dust: false,
        close_retry_at: 0,
    };

    /// Current state.
    pub fn state(&self) -> LevelState {
        if self.close.working {
            LevelState::CloseOrderPlaced
        } else if self.open.working {
            LevelState::OpenOrderPlaced
        } else if self.open.filled.raw() > 0 {
            if self.close.filled >= self.open.filled {
                LevelState::Complete
            } else {
                LevelState::OpenOrderFilled
            }
        } else {
            LevelState::NotActive
        }
    }

    fn reset(&mut self) {
        self.open = Leg::EMPTY;
        self.close = Leg::EMPTY;
        self.dust = false;
        self.close_retry_at = 0;
    }
}

/// Fills summed by direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Flow {
    buy_base: Dec,
    buy_quote: Dec,
    sell_base: Dec,
    sell_quote: Dec,
    fees: Dec,
}

impl Flow {
    fn add(&mut self, side: Side, leg: &Leg) {
        match side {
            Side::Buy => {
                self.buy_base += leg.filled;
                self.buy_quote += leg.quote;
            }
            Side::Sell => {
                self.sell_base += leg.filled;
                self.sell_quote += leg.quote;
            }
        }
        self.fees += leg.fees;
    }
}

/// Position and realized metrics (spec §4 "Metrics").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GridMetrics {
    /// Mid used.
    pub mid: Dec,
    /// Average open fill price of the position.
    pub break_even: Dec,
    /// Open exposure in base (grid direction).
    pub position_size_base: Dec,
    /// Exposure valued at break-even.
    pub position_size_quote: Dec,
    /// Fees of the position's fills.
    pub position_fees: Dec,
    /// Unrealized pnl net of its fees.
    pub position_pnl_quote: Dec,
    /// `position_pnl_quote / position_size_quote`.
    pub position_pnl_pct: Dec,
    /// Quote bought by completed cycles.
    pub realized_buy_quote: Dec,
    /// Quote sold by completed cycles.
    pub realized_sell_quote: Dec,
    /// Fees of completed cycles.
    pub realized_fees: Dec,
    /// sells − buys − fees.
    pub realized_pnl_quote: Dec,
    /// realized / buys.
    pub realized_pnl_pct: Dec,
    /// Σ amount_quote of working open orders with nothing filled.
    pub open_liquidity_placed: Dec,
    /// Σ amount_quote of working close orders with nothing filled.
    pub close_liquidity_placed: Dec,
}

/// Grid executor.
#[derive(Clone, Debug, PartialEq)]
pub struct GridExecutor {
    /// Configuration.
    pub cfg: GridConfig,
    /// Levels (the first `n_levels` are used).
    /// ([`MAX_GRID_LEVELS`] of them, kept when the engine reuses the executor).
    pub levels: Box<[GridLevel]>,
    /// Number of levels.
    pub n_levels: usize,
    /// Distance between levels as a fraction of `start_price`.
    pub step: Dec,
    /// Market close order of the shutdown.
    pub close_order: Leg,
    /// Completed round trips (each archived its open and close orders).
    pub completed_cycles: u32,
    realized: Flow,
    held: Held,
    initialized: bool,
    last_open_ts: Option<u64>,
    open_backoff_until: u64,
    last_shutdown_ts: Option<u64>,
    trailing: TrailingState,
    last_mid: Dec,
}

impl GridExecutor {
    /// New executor, not started (levels are generated when it starts).
    pub fn new(cfg: GridConfig) -> Self {
        GridExecutor::around(cfg, Box::default())
    }

    /// Makes this executor what [`new`](Self::new) makes, keeping its level storage
    /// (no allocation).
    pub fn renew(&mut self, cfg: GridConfig) {
        let levels = std::mem::take(&mut self.levels);
        *self = GridExecutor::around(cfg, levels);
    }

    fn around(cfg: GridConfig, levels: Box<[GridLevel]>) -> Self {
        GridExecutor {
            cfg,
            levels: refill(levels, MAX_GRID_LEVELS, GridLevel::EMPTY),
            n_levels: 0,
            step: Dec::ZERO,
            close_order: Leg::EMPTY,
            completed_cycles: 0,
            realized: Flow::default(),
            held: Held::default(),
            initialized: false,
            last_open_ts: None,
            open_backoff_until: 0,
            last_shutdown_ts: None,
            trailing: TrailingState::default(),
            last_mid: Dec::ZERO,
        }
    }

    /// The generated levels.
    pub fn levels(&self) -> &[GridLevel] {
        &self.levels[..self.n_levels]
    }

    /// Number of levels in `state`.
    pub fn count(&self, state: LevelState) -> usize {
        self.levels().iter().filter(|l| l.state() == state).count()
    }

    fn close_side(&self) -> Side {
        self.cfg.side.opposite()
    }

    /// Level take profit (the step when `coerce_tp_to_step` and larger).
    pub fn level_take_profit(&self) -> Dec {
        if self.cfg.coerce_tp_to_step {
            self.cfg.take_profit.max(self.step)
        } else {
            self.cfg.take_profit
        }
    }

    /// Take-profit price of a level.
    pub fn take_profit_price(&self, level: &GridLevel) -> Dec {
        let tp = self.level_take_profit();
        match self.cfg.side {
            Side::Buy => level.price + level.price.mul(tp),
            Side::Sell => level.price - level.price.mul(tp),
        }
    }

    /// Generates the levels at mid `p` (spec §4 "Level generation"), capped at
    /// [`MAX_GRID_LEVELS`].
    pub fn generate_levels(&mut self, p: Dec, lot: Dec, tick: Dec, venue_min_notional: Dec) {
        let c = &self.cfg;
        let inc = if lot.raw() > 0 { lot } else { Dec(1) };
        let min_notional = c.min_order_amount_quote.max(venue_min_notional);
        let with_margin = min_notional + min_notional.mul(Dec(50_000_000));
        let min_base = div_ceil(with_margin, p)
            .max(div_ceil(min_notional, p).ceil_to(inc))
            .ceil_to(inc);
        let min_quote = min_base.mul(p);
        let range = ratio(c.end_price - c.start_price, c.start_price);
        let min_step = c.min_spread_between_orders.max(ratio(tick, p));
        let max_levels = if min_quote.raw() > 0 {
            c.total_amount_quote.raw() / min_quote.raw()
        } else {
            0
        };
        let (mut n, quote_per_level) = if max_levels == 0 {
            (1, min_quote)
        } else {
            let by_step = if min_step.raw() > 0 {
                range.raw() / min_step.raw()
            } else {
                MAX_GRID_LEVELS as i64
            };
            let n = max_levels.min(by_step).max(1);
            let per = Dec(c.total_amount_quote.raw() / n)
                .div(p)
                .unwrap_or(Dec::ZERO)
                .floor_to(inc);
            let base = min_base.max(per);
            let quote = base.mul(p);
            let n = if quote.raw() > 0 {
                n.min(c.total_amount_quote.raw() / quote.raw())
            } else {
                n
            };
            (n, quote)
        };
        n = n.clamp(1, MAX_GRID_LEVELS as i64);
        let n = n as usize;
        let width = c.end_price - c.start_price;
        for i in 0..n {
            let price = if n > 1 {
                c.start_price + Dec(crate::num::mul_div(width.raw(), i as i64, (n - 1) as i64))
            } else {
                c.start_price.midpoint(c.end_price)
            };
            self.levels[i] = GridLevel {
                price,
                amount_quote: quote_per_level,
                ..GridLevel::EMPTY
            };
        }
        self.step = if n > 1 {
            Dec(range.raw() / (n as i64 - 1))
        } else {
            range
        };
        self.n_levels = n;
    }

    /// Metrics at mid `mid`.
    pub fn metrics(&self, mid: Dec) -> GridMetrics {
        let side = self.cfg.side;
        let mut flow = Flow::default();
        let (mut open_base, mut open_quote) = (Dec::ZERO, Dec::ZERO);
        let mut m = GridMetrics {
            mid,
            ..Default::default()
        };
        for l in self.levels() {
            flow.add(side, &l.open);
            flow.add(side.opposite(), &l.close);
            open_base += l.open.filled;
            open_quote += l.open.quote;
            if l.open.working && l.open.filled.raw() == 0 {
                m.open_liquidity_placed += l.amount_quote;
            }
            if l.close.working && l.close.filled == Dec::ZERO {
                m.close_liquidity_placed += l.amount_quote;
            }
        }
        flow.add(side.opposite(), &self.close_order);
        m.break_even = ratio(open_quote, open_base);
        let (long, short) = match side {
            Side::Buy => (flow.buy_base, flow.sell_base),
            Side::Sell => (flow.sell_base, flow.buy_base),
        };
        m.position_size_base = long - short;
        m.position_size_quote = m.position_size_base.mul(m.break_even);
        m.position_fees = flow.fees;
        if open_base.raw() > 0 {
            let net_base = flow.buy_base - flow.sell_base;
            m.position_pnl_quote = flow.sell_quote - flow.buy_quote + net_base.mul(mid) - flow.fees;
            if m.position_size_quote.raw() > 0 {
                m.position_pnl_pct = ratio(m.position_pnl_quote, m.position_size_quote);
            }
        }
        let r = &self.realized;
        m.realized_buy_quote = r.buy_quote;
        m.realized_sell_quote = r.sell_quote;
        m.realized_fees = r.fees;
        m.realized_pnl_quote = r.sell_quote - r.buy_quote - r.fees;
        m.realized_pnl_pct = ratio(m.realized_pnl_quote, r.buy_quote);
        m
    }

    /// Exposure kept by a POSITION_HOLD close.
    pub fn held_exposure(&self) -> Held {
        self.held
    }

    fn mid_of(&self, books: &[Book]) -> Dec {
        books
            .get(self.cfg.instrument as usize)
            .and_then(|b| b.mid())
            .unwrap_or(self.last_mid)
    }

    fn is_hold(core: &ExecutorCore) -> bool {
        core.close_type == Some(CloseType::PositionHold)
    }

    /// First barrier that fires (spec §4 "Barriers"), if any.
    fn barrier(&mut self, core: &ExecutorCore, now: u64, m: &GridMetrics) -> Option<CloseType> {
        let c = &self.cfg;
        if let Some(sl) = c.stop_loss.filter(|s| s.raw() > 0) {
            if m.position_pnl_pct <= -sl {
                return Some(CloseType::StopLoss);
            }
        }
        if let Some(lp) = c.limit_price.filter(|p| p.raw() > 0) {
            let hit = match c.side {
                Side::Buy => m.mid <= lp,
                Side::Sell => m.mid >= lp,
            };
            if hit {
                return Some(if c.keep_position {
                    CloseType::PositionHold
                } else {
                    CloseType::StopLoss
                });
            }
        }
        if let Some(tl) = c.time_limit_s.filter(|t| *t > 0) {
            let origin = c.timestamp.unwrap_or(core.created_ts);
            if origin.saturating_add(tl.saturating_mul(1_000_000_000)) <= now {
                return Some(CloseType::TimeLimit);
            }
        }
        if let Some(ts) = c.trailing_stop {
            if self.trailing.update(&ts, m.position_pnl_pct) {
                return Some(CloseType::TrailingStop);
            }
        }
        let tp = match c.side {
            Side::Buy => m.mid > c.end_price,
            Side::Sell => m.mid < c.start_price,
        };
        tp.then_some(CloseType::TakeProfit)
    }

    /// Levels, budget check and start-up barriers once a mid is known. False if no mid yet.
    fn init(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) -> bool {
        let book = &ctx.books[self.cfg.instrument as usize];
        let Some(mid) = book.mid() else {
            return false;
        };
        self.last_mid = mid;
        let spec = &ctx.instruments[self.cfg.instrument as usize].spec;
        self.generate_levels(mid, spec.lot_size, spec.tick_size, spec.min_notional);
        self.initialized = true;
        let base = ratio(self.cfg.total_amount_quote, mid);
        if !ctx.can_fund(self.cfg.instrument, self.cfg.side, mid, base) {
            core.close(ctx.now, CloseType::InsufficientBalance);
            return true;
        }
        let m = self.metrics(mid);
        if let Some(ct) = self.barrier(core, ctx.now, &m) {
            core.close_type = Some(ct);
            core.status = RunStatus::ShuttingDown;
        }
        true
    }

    fn running(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let book = &ctx.books[self.cfg.instrument as usize];
        let (Some(mid), Some(bid), Some(ask)) = (book.mid(), book.best_bid(), book.best_ask())
        else {
            return;
        };
        self.last_mid = mid;
        let m = self.metrics(mid);
        if let Some(ct) = self.barrier(core, ctx.now, &m) {
            core.close_type = Some(ct);
            core.status = RunStatus::ShuttingDown;
            self.shutdown(core, ctx);
            return;
        }
        let (open_quote, close_quote) = match self.cfg.side {
            Side::Buy => (bid, ask),
            Side::Sell => (ask, bid),
        };
        self.cancel_out_of_bounds(ctx, mid);
        self.place_opens(core, ctx, mid, open_quote);
        self.place_closes(core, ctx, mid, close_quote);
    }

    fn cancel_out_of_bounds(&mut self, ctx: &mut Ctx, mid: Dec) {
        let Some(ab) = self.cfg.activation_bounds.filter(|b| b.raw() > 0) else {
            return;
        };
        for l in self.levels[..self.n_levels].iter() {
            for leg in [&l.open, &l.close] {
                if let (true, Some(cid)) = (leg.working, leg.cid) {
                    if leg.price.raw() > 0 && distance_cmp(leg.price, mid, ab).is_gt() {
                        ctx.cancel(cid);
                    }
                }
            }
        }
    }

    fn place_opens(&mut self, core: &ExecutorCore, ctx: &mut Ctx, mid: Dec, quote: Dec) {
        let c = self.cfg;
        let now = ctx.now;
        if now < self.open_backoff_until {
            return;
        }
        if let Some(t) = self.last_open_ts {
            if t.saturating_add(c.order_frequency_ns) > now {
                return;
            }
        }
        let n_open = self.levels().iter().filter(|l| l.open.working).count();
        let max_open = c.max_open_orders as usize;
        if n_open >= max_open {
            return;
        }
        // Candidates: NOT_ACTIVE levels within the activation bounds, nearest mid first.
        let mut idx = [0u8; MAX_GRID_LEVELS];
        let mut k = 0;
        let ab = c.activation_bounds.filter(|b| b.raw() > 0);
        for (i, l) in self.levels().iter().enumerate() {
            if l.state() != LevelState::NotActive {
                continue;
            }
            if let Some(ab) = ab {
                let ok = match c.side {
                    Side::Buy => l.price >= mid - mid.mul(ab),
                    Side::Sell => l.price <= mid + mid.mul(ab),
                };
                if !ok {
                    continue;
                }
            }
            let d = (l.price - mid).abs();
            let mut j = k;
            while j > 0 && (self.levels[idx[j - 1] as usize].price - mid).abs() > d {
                idx[j] = idx[j - 1];
                j -= 1;
            }
            idx[j] = i as u8;
            k += 1;
        }
        let mut take = k.min(max_open - n_open);
        if c.max_orders_per_batch > 0 {
            take = take.min(c.max_orders_per_batch as usize);
        }
        let mut placed = false;
        for &i in &idx[..take] {
            let l = self.levels[i as usize];
            let crossed = match c.side {
                Side::Buy => l.price >= quote,
                Side::Sell => l.price <= quote,
            };
            let price = if !crossed {
                l.price
            } else {
                match c.side {
                    Side::Buy => quote - quote.mul(c.safe_extra_spread),
                    Side::Sell => quote + quote.mul(c.safe_extra_spread),
                }
            };
            let qty = ratio(l.amount_quote, mid);
            match ctx.place(core.id, c.instrument, c.side, c.open_order_type, price, qty) {
                Ok(cid) => {
                    let px = ctx.orders.get(cid).map_or(price, |o| o.req.price);
                    let lv = &mut self.levels[i as usize];
                    lv.open = Leg {
                        cid: Some(cid),
                        working: true,
                        price: px,
                        ..Leg::EMPTY
                    };
                    placed = true;
                }
                Err(_) => {
                    self.open_backoff_until = now + PLACE_BACKOFF_NS;
                    break;
                }
            }
        }
        if placed {
            self.last_open_ts = Some(now);
        }
    }

    fn place_closes(&mut self, core: &ExecutorCore, ctx: &mut Ctx, mid: Dec, quote: Dec) {
        let c = self.cfg;
        let ab = c.activation_bounds.filter(|b| b.raw() > 0);
        for i in 0..self.n_levels {
            let l = self.levels[i];
            if l.state() != LevelState::OpenOrderFilled || l.dust || ctx.now < l.close_retry_at {
                continue;
            }
            let tp = self.take_profit_price(&l);
            if let Some(ab) = ab {
                if !distance_cmp(tp, mid, ab).is_lt() {
                    continue;
                }
            }
            let price = match c.side {
                // Close SELL: a take profit at or below the ask would take; go above it.
                Side::Buy if tp <= quote => quote + quote.mul(c.safe_extra_spread),
                Side::Sell if tp >= quote => quote - quote.mul(c.safe_extra_spread),
                _ => tp,
            };
            let qty = l.open.filled - l.close.filled;
            let side = self.close_side();
            match ctx.place(
                core.id,
                c.instrument,
                side,
                c.take_profit_order_type,
                price,
                qty,
            ) {
                Ok(cid) => {
                    let px = ctx.orders.get(cid).map_or(price, |o| o.req.price);
                    let lv = &mut self.levels[i];
                    lv.close.cid = Some(cid);
                    lv.close.working = true;
                    lv.close.price = px;
                }
                Err(PlaceError::BelowMinimum) => self.levels[i].dust = true,
                Err(_) => self.levels[i].close_retry_at = ctx.now + PLACE_BACKOFF_NS,
            }
        }
    }

    /// Shutdown step (spec §4 "Shutdown tick").
    fn shutdown(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        // Cancel every working level order and wait until none is left.
        let mut working = false;
        for l in self.levels[..self.n_levels].iter() {
            for leg in [&l.open, &l.close] {
                if let (true, Some(cid)) = (leg.working, leg.cid) {
                    working = true;
                    if ctx.orders.get(cid).is_some_and(|o| o.is_open()) {
                        ctx.cancel(cid);
                    }
                }
            }
        }
        if working {
            return;
        }
        if Self::is_hold(core) {
            if self.close_order.working {
                return;
            }
            let mut flow = Flow::default();
            for l in self.levels[..self.n_levels].iter() {
                flow.add(self.cfg.side, &l.open);
                flow.add(self.cfg.side.opposite(), &l.close);
            }
            flow.add(self.cfg.side.opposite(), &self.close_order);
            self.held = Held {
                buy_base: flow.buy_base,
                buy_quote: flow.buy_quote,
                sell_base: flow.sell_base,
                sell_quote: flow.sell_quote,
                fees: flow.fees,
            };
            for l in self.levels[..self.n_levels].iter_mut() {
                l.reset();
            }
            self.close_order = Leg::EMPTY;
            let any = flow.buy_base.raw() > 0 || flow.sell_base.raw() > 0;
            let ct = if any {
                CloseType::PositionHold
            } else {
                CloseType::EarlyStop
            };
            core.close(ctx.now, ct);
            return;
        }
        let m = self.metrics(self.mid_of(ctx.books));
        let min_qty = ctx.instruments[self.cfg.instrument as usize]
            .spec
            .min_quantity();
        let done = m.position_size_base < min_qty && !self.close_order.working;
        if done {
            self.archive_all();
            core.close(ctx.now, core.close_type.unwrap_or(CloseType::EarlyStop));
            return;
        }
        let due = self
            .last_shutdown_ts
            .is_none_or(|t| ctx.now >= t + SHUTDOWN_RETRY_NS);
        if !due {
            return;
        }
        self.last_shutdown_ts = Some(ctx.now);
        if !self.close_order.working {
            match ctx.place(
                core.id,
                self.cfg.instrument,
                self.close_side(),
                OrderType::Market,
                Dec::ZERO,
                m.position_size_base,
            ) {
                Ok(cid) => {
                    self.close_order.cid = Some(cid);
                    self.close_order.working = true;
                    self.close_order.price = Dec::ZERO;
                }
                Err(PlaceError::BelowMinimum) => {
                    // Only dust is left.
                    self.archive_all();
                    core.close(ctx.now, core.close_type.unwrap_or(CloseType::EarlyStop));
                    return;
                }
                Err(_) => {}
            }
        }
        core.retries += 1;
    }

    /// Moves every fill into the realized metrics and resets the levels.
    fn archive_all(&mut self) {
        let side = self.cfg.side;
        for l in self.levels[..self.n_levels].iter_mut() {
            self.realized.add(side, &l.open);
            self.realized.add(side.opposite(), &l.close);
            l.reset();
        }
        self.realized.add(side.opposite(), &self.close_order);
        self.close_order = Leg::EMPTY;
    }

    fn archive_level(&mut self, i: usize) {
        let side = self.cfg.side;
        let l = &mut self.levels[i];
        self.realized.add(side, &l.open);
        self.realized.add(side.opposite(), &l.close);
        l.reset();
        self.completed_cycles += 1;
    }
}

impl ExecutorLogic for GridExecutor {
    fn instrument(&self) -> InstrumentId {
        self.cfg.instrument
    }

    fn on_start(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        if self.cfg.validate().is_err() {
            core.close(ctx.now, CloseType::Failed);
            return;
        }
        core.status = RunStatus::Running;
        self.init(core, ctx);
    }

    fn control(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        if !self.initialized && core.status == RunStatus::Running && !self.init(core, ctx) {
            return;
        }
        match core.status {
            RunStatus::Running => self.running(core, ctx),
            RunStatus::ShuttingDown => self.shutdown(core, ctx),
            RunStatus::NotStarted | RunStatus::Terminated => {}
        }
        if core.status != RunStatus::Terminated && core.retries > MAX_RETRIES {
            core.close(ctx.now, CloseType::Failed);
        }
    }

    fn on_order(
        &mut self,
        _core: &mut ExecutorCore,
        _ctx: &mut Ctx,
        order: &Order,
        ev: &OrderEvent,
    ) {
        let cid = order.req.cid;
        if self.close_order.cid == Some(cid) {
            match *ev {
                OrderEvent::Filled {
                    last_px,
                    last_qty,
                    fee,
                    complete,
                } => {
                    self.close_order.fill(last_px, last_qty, fee);
                    if complete {
                        self.close_order.working = false;
                    }
                }
                OrderEvent::Canceled | OrderEvent::Failed(_) => {
                    self.close_order.working = false;
                    self.close_order.cid = None;
                }
                OrderEvent::Created | OrderEvent::CancelRejected => {}
            }
            return;
        }
        let Some(i) = self.levels[..self.n_levels]
            .iter()
            .position(|l| l.open.cid == Some(cid) || l.close.cid == Some(cid))
        else {
            return;
        };
        let is_open = self.levels[i].open.cid == Some(cid);
        let leg = if is_open {
            &mut self.levels[i].open
        } else {
            &mut self.levels[i].close
        };
        match *ev {
            OrderEvent::Filled {
                last_px,
                last_qty,
                fee,
                complete,
            } => {
                leg.fill(last_px, last_qty, fee);
                if complete {
                    leg.working = false;
                }
            }
            OrderEvent::Canceled | OrderEvent::Failed(_) => {
                leg.working = false;
                leg.cid = None;
                if is_open {
                    self.last_open_ts = None;
                    if self.levels[i].open.filled.raw() == 0 {
                        self.levels[i].reset();
                    }
                }
            }
            OrderEvent::Created | OrderEvent::CancelRejected => {}
        }
        if self.levels[i].state() == LevelState::Complete {
            self.archive_level(i);
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
    }

    fn net_pnl_quote(&self, books: &[Book]) -> Dec {
        let m = self.metrics(self.mid_of(books));
        m.position_pnl_quote + m.realized_pnl_quote
    }

    fn net_pnl_pct(&self, books: &[Book]) -> Dec {
        ratio(self.net_pnl_quote(books), self.filled_amount_quote(books))
    }

    fn filled_amount_quote(&self, books: &[Book]) -> Dec {
        let m = self.metrics(self.mid_of(books));
        m.position_size_quote + m.realized_buy_quote + m.realized_sell_quote
    }

    fn fees_quote(&self) -> Dec {
        let m = self.metrics(self.last_mid);
        m.position_fees + m.realized_fees
    }

    fn is_trading(&self, core: &ExecutorCore, books: &[Book]) -> bool {
        core.status == RunStatus::Running
            && self.metrics(self.mid_of(books)).position_size_quote.raw() > 0
    }

    fn held(&self) -> Held {
        self.held
    }

    fn side(&self) -> Option<Side> {
        Some(self.cfg.side)
    }
}
