//! Arbitrage executor (spec §7): watches two instruments with interchangeable bases
//! and, once buying on one and selling on the other is profitable net of taker fees,
//! sends both legs as MARKET orders at once and waits until both are filled.
//!
//! Limits: both legs are order-book (CEX) markets of this session; the AMM gas terms of
//! Hummingbot do not apply. Taker fee rates come from the config (the executor sees no
//! venue configuration). The sell leg's quote is converted into the buy leg's quote
//! with the engine's rate oracle; the rate used at the trigger is kept for the pnl.
//! Kestrel correction (§0): `net_pnl_pct` is a fraction of the bought notional.

use super::{Ctx, ExecutorCore, ExecutorLogic, Held, PlaceError, MAX_RETRIES};
use crate::book::Book;
use crate::events::{CloseType, RunStatus};
use crate::market_data::MarketData;
use crate::num::Dec;
use crate::orders::{Order, OrderEvent};
use crate::types::{ClientOrderId, InstrumentId, OrderType, Side};

/// Configuration of an arbitrage executor (spec §7).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct ArbitrageConfig {
    /// Instrument bought.
    pub buying: InstrumentId,
    /// Instrument sold.
    pub selling: InstrumentId,
    /// Base amount of each leg.
    pub order_amount: Dec,
    /// Net profitability (fraction) that must be exceeded to trade.
    pub min_profitability: Dec,
    /// Taker fee rate of the buying market.
    pub buy_taker_fee: Dec,
    /// Taker fee rate of the selling market.
    pub sell_taker_fee: Dec,
    /// Failures tolerated (0: [`MAX_RETRIES`]; Hummingbot's class default is 3).
    pub max_retries: u32,
}

/// Base assets that may be traded against each other (Hummingbot's
/// `is_valid_arbitrage_pair` rule): equal, a known wrapped alias, or both USD-like.
pub fn interchangeable(a: &str, b: &str) -> bool {
    const ALIASES: [(&str, &str); 5] = [
        ("WETH", "ETH"),
        ("WBTC", "BTC"),
        ("WPOL", "POL"),
        ("USDC", "USDC.E"),
        ("USOL", "SOL"),
    ];
    a == b
        || ALIASES
            .iter()
            .any(|&(x, y)| (a == x && b == y) || (a == y && b == x))
        || (a.contains("USD") && b.contains("USD"))
}

/// Price to trade `amount` now: the book's VWAP when depth is streamed (`None` if the
/// book is too thin), else the best quote of the side taken.
pub fn quote_price(book: &Book, is_buy: bool, amount: Dec) -> Option<Dec> {
    if !book.is_ready() {
        return None;
    }
    if book.has_depth {
        return book.vwap_for_volume(is_buy, amount).result_price;
    }
    if is_buy {
        book.best_ask()
    } else {
        book.best_bid()
    }
}

/// How many quote units of `to` one quote unit of `from` is worth (rate oracle over
/// the engine's books); `None` when no rate is ready.
pub fn quote_rate(ctx: &Ctx, from: InstrumentId, to: InstrumentId) -> Option<Dec> {
    let md = MarketData {
        instruments: ctx.instruments,
        books: ctx.books,
        candles: &[],
        portfolio: ctx.portfolio,
    };
    md.rate(
        &ctx.instruments[from as usize].spec.quote,
        &ctx.instruments[to as usize].spec.quote,
    )
}

/// Fills of one leg.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Leg {
    /// Working order.
    pub order: Option<ClientOrderId>,
    /// Base executed.
    pub base: Dec,
    /// Quote executed (in the leg's own quote).
    pub quote: Dec,
    /// Fees (leg's quote).
    pub fees: Dec,
    /// Nothing more to trade on this leg.
    pub done: bool,
}

impl Leg {
    fn fill(&mut self, px: Dec, qty: Dec, fee: Dec) {
        self.base += qty;
        self.quote += px.mul(qty);
        self.fees += fee;
    }
}

/// Arbitrage executor (spec §7).
#[derive(Clone, Debug, PartialEq)]
pub struct ArbitrageExecutor {
    /// Configuration.
    pub cfg: ArbitrageConfig,
    /// Buy leg.
    pub buy: Leg,
    /// Sell leg.
    pub sell: Leg,
    /// Sell-quote → buy-quote rate (latest seen; frozen at the trigger).
    pub conv: Dec,
    /// Profitability of the last evaluation (fraction).
    pub last_profitability: Dec,
    stop: Option<CloseType>,
    completed: bool,
}

impl ArbitrageExecutor {
    /// New executor, not started.
    pub fn new(cfg: ArbitrageConfig) -> Self {
        ArbitrageExecutor {
            cfg,
            buy: Leg::default(),
            sell: Leg::default(),
            conv: Dec::ONE,
            last_profitability: Dec::ZERO,
            stop: None,
            completed: false,
        }
    }

    fn retries_allowed(&self) -> u32 {
        if self.cfg.max_retries == 0 {
            MAX_RETRIES
        } else {
            self.cfg.max_retries
        }
    }

    /// `(trade_pnl_pct · amount − tx_cost) / amount` with tx_cost the two taker fees
    /// in base; `None` until both books and the rate are ready.
    pub fn profitability(&self, ctx: &Ctx) -> Option<(Dec, Dec)> {
        let amount = self.cfg.order_amount;
        let buy_px = quote_price(&ctx.books[self.cfg.buying as usize], true, amount)?;
        let sell_px = quote_price(&ctx.books[self.cfg.selling as usize], false, amount)?;
        let conv = quote_rate(ctx, self.cfg.selling, self.cfg.buying)?;
        let pct = (sell_px.mul(conv) - buy_px).div(buy_px)?;
        let tx_cost = amount.mul(self.cfg.buy_taker_fee) + amount.mul(self.cfg.sell_taker_fee);
        Some(((pct.mul(amount) - tx_cost).div(amount)?, conv))
    }

    fn place_leg(&mut self, side: Side, core: &mut ExecutorCore, ctx: &mut Ctx) {
        let (inst, leg) = match side {
            Side::Buy => (self.cfg.buying, &mut self.buy),
            Side::Sell => (self.cfg.selling, &mut self.sell),
        };
        if leg.done || leg.order.is_some() {
            return;
        }
        let rest = self.cfg.order_amount - leg.base;
        if rest.raw() <= 0 {
            leg.done = true;
            return;
        }
        match ctx.place(core.id, inst, side, OrderType::Market, Dec::ZERO, rest) {
            Ok(cid) => leg.order = Some(cid),
            // What is left rounds below one order: the leg is as filled as it can be.
            Err(PlaceError::BelowMinimum) if leg.base.raw() > 0 => leg.done = true,
            Err(_) => core.retries += 1,
        }
    }

    fn leg_of(&mut self, cid: ClientOrderId) -> Option<&mut Leg> {
        if self.buy.order == Some(cid) {
            Some(&mut self.buy)
        } else if self.sell.order == Some(cid) {
            Some(&mut self.sell)
        } else {
            None
        }
    }

    /// Sell proceeds (converted) − buy cost − fees, once COMPLETED; 0 before.
    pub fn net_pnl(&self) -> Dec {
        if !self.completed {
            return Dec::ZERO;
        }
        self.sell.quote.mul(self.conv) - self.buy.quote - self.fees()
    }

    fn fees(&self) -> Dec {
        self.buy.fees + self.sell.fees.mul(self.conv)
    }
}

impl ExecutorLogic for ArbitrageExecutor {
    fn instrument(&self) -> InstrumentId {
        self.cfg.buying
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
        let sell_ok = ctx.can_fund(self.cfg.selling, Side::Sell, Dec::ZERO, amount);
        let buy_ok = quote_price(&ctx.books[self.cfg.buying as usize], true, amount)
            .is_none_or(|px| ctx.can_fund(self.cfg.buying, Side::Buy, px, amount));
        if !(sell_ok && buy_ok) {
            core.close(ctx.now, CloseType::InsufficientBalance);
            return;
        }
        core.status = RunStatus::Running;
    }

    fn control(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        if let Some(ct) = self.stop {
            core.close(ctx.now, ct);
            return;
        }
        if core.status != RunStatus::Terminated && core.retries > self.retries_allowed() {
            core.close(ctx.now, CloseType::Failed);
            return;
        }
        match core.status {
            RunStatus::Running => {
                let Some((p, conv)) = self.profitability(ctx) else {
                    return;
                };
                self.last_profitability = p;
                self.conv = conv;
                if p > self.cfg.min_profitability {
                    core.status = RunStatus::ShuttingDown;
                    self.place_leg(Side::Buy, core, ctx);
                    self.place_leg(Side::Sell, core, ctx);
                }
            }
            RunStatus::ShuttingDown => {
                self.place_leg(Side::Buy, core, ctx);
                self.place_leg(Side::Sell, core, ctx);
            }
            RunStatus::NotStarted | RunStatus::Terminated => return,
        }
        if self.buy.done && self.sell.done {
            self.completed = true;
            core.close(ctx.now, CloseType::Completed);
        }
    }

    fn on_order(
        &mut self,
        core: &mut ExecutorCore,
        _ctx: &mut Ctx,
        order: &Order,
        ev: &OrderEvent,
    ) {
        let amount = self.cfg.order_amount;
        let Some(leg) = self.leg_of(order.req.cid) else {
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
                leg.fill(last_px, last_qty, fee);
                if complete {
                    leg.order = None;
                    leg.done = leg.base >= amount;
                }
            }
            // A market leg whose rest expired (thin book): the rest is sent again.
            OrderEvent::Canceled => {
                leg.order = None;
                core.retries += 1;
            }
            // Re-placed by the control step that follows.
            OrderEvent::Failed(_) => {
                leg.order = None;
                core.retries += 1;
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
        self.net_pnl().div(self.buy.quote).unwrap_or(Dec::ZERO)
    }

    fn filled_amount_quote(&self, _books: &[Book]) -> Dec {
        self.buy.quote + self.sell.quote.mul(self.conv)
    }

    fn fees_quote(&self) -> Dec {
        self.fees()
    }

    fn held(&self) -> Held {
        Held {
            buy_base: self.buy.base,
            buy_quote: self.buy.quote,
            sell_base: self.sell.base,
            sell_quote: self.sell.quote.mul(self.conv),
            fees: self.fees(),
        }
    }
}
