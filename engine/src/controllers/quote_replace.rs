//! Built-in generic strategy `quote_replace`: the cancel/replace market maker of the
//! peers' benchmark (`benches/peers`, NautilusTrader's and hftbacktest's scripts) and
//! of the tick-to-order measurements, where every book ticker sends orders.
//!
//! On every book ticker it stops (cancels) the bid and ask executors still working,
//! then opens two order executors, a LIMIT buy at `mid − offset_ticks · tick` and a
//! LIMIT sell at `mid + offset_ticks · tick` (rounded to the nearest tick, halves up),
//! each for `qty` base. Trades and timers do not trigger it. A filled order closes its
//! executor (it holds the fill); only working executors are stopped.
//!
//! ```toml
//! [[controllers]]
//! type = "generic"
//! id = "quote-replace"
//! strategy = "quote_replace"
//! instrument = "BTCUSDT"
//! update_interval = "0"
//! [controllers.params]
//! offset_ticks = 10   # default 10
//! qty = "0.001"       # default 0.001, a positive multiple of the lot size
//! ```

use super::generic::{GenericSetup, Params};
use super::{ControllerAction, ControllerView, GenericStrategy};
use crate::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use crate::num::Step;
use crate::{Dec, InstrumentId, PositionAction, Side};

/// Name the strategy is registered under in [`Registry::builtin`](super::Registry::builtin).
pub const NAME: &str = "quote_replace";

/// The peers' cancel/replace market maker (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct QuoteReplace {
    /// Instrument quoted.
    pub instrument: InstrumentId,
    /// Its tick size.
    pub tick: Step,
    /// Distance of each quote from the mid.
    pub offset: Dec,
    /// Base amount of each order.
    pub qty: Dec,
    /// Ticker updates of the book at the last step (a step with no new ticker does
    /// nothing).
    pub seen_tickers: u64,
}

impl QuoteReplace {
    /// Builds it from `[controllers.params]`: `offset_ticks` (10), `qty` ("0.001").
    ///
    /// # Errors
    /// Unknown parameters, `offset_ticks` 0, or `qty` not a positive multiple of the lot.
    pub fn build(setup: &GenericSetup) -> Result<Box<dyn GenericStrategy>, String> {
        let p = Params::new(setup.params, &["offset_ticks", "qty"])?;
        let spec = &setup.instrument.spec;
        let ticks = p.int("offset_ticks", 10)?;
        if ticks == 0 || ticks > 1_000_000 {
            return Err(format!("offset_ticks {ticks} must be in 1..=1000000"));
        }
        let qty = p.dec("qty", Dec(1_000_000))?;
        if qty.raw() <= 0 || !qty.is_multiple_of(spec.lot_size) {
            return Err(format!(
                "qty {qty} must be a positive multiple of the lot size {}",
                spec.lot_size
            ));
        }
        Ok(Box::new(QuoteReplace {
            instrument: setup.instrument.id,
            tick: setup.instrument.tick,
            offset: Dec(spec.tick_size.raw().saturating_mul(ticks as i64)),
            qty,
            seen_tickers: 0,
        }))
    }

    /// `px` rounded to the nearest tick, halves up.
    pub fn round_to_tick(&self, px: Dec) -> Dec {
        self.tick.floor(Dec(px.raw() + self.tick.get().raw() / 2))
    }

    fn order(&self, side: Side, price: Dec) -> ControllerAction {
        ControllerAction::Create {
            level: side as u16,
            config: ExecutorConfig::Order(OrderExecutorConfig {
                instrument: self.instrument,
                side,
                amount: self.qty,
                strategy: ExecutionStrategy::Limit,
                price,
                position_action: PositionAction::Open,
            }),
        }
    }
}

impl GenericStrategy for QuoteReplace {
    fn on_step(&mut self, view: &ControllerView, actions: &mut Vec<ControllerAction>) {
        let Some(book) = view.ready_book(self.instrument) else {
            return;
        };
        if book.ticker_updates == self.seen_tickers {
            return;
        }
        self.seen_tickers = book.ticker_updates;
        let Some(mid) = book.mid() else {
            return;
        };
        for e in view.active() {
            actions.push(ControllerAction::Stop {
                executor: e.id,
                keep_position: true,
            });
        }
        let bid = self.round_to_tick(mid - self.offset);
        let ask = self.round_to_tick(mid + self.offset);
        if bid.raw() > 0 {
            actions.push(self.order(Side::Buy, bid));
        }
        actions.push(self.order(Side::Sell, ask));
    }
}
