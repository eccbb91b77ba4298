//! Grid executor (spec §4). Not implemented yet: starting one closes it as FAILED.

use super::{Ctx, ExecutorCore, ExecutorLogic};
use crate::book::Book;
use crate::events::CloseType;
use crate::num::Dec;
use crate::orders::{Order, OrderEvent};
use crate::types::InstrumentId;

/// Configuration of a grid executor.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct GridConfig {
    /// Instrument.
    pub instrument: InstrumentId,
}

/// Grid executor.
#[derive(Clone, Debug, PartialEq)]
pub struct GridExecutor {
    /// Configuration.
    pub cfg: GridConfig,
}

impl GridExecutor {
    /// New executor, not started.
    pub fn new(cfg: GridConfig) -> Self {
        GridExecutor { cfg }
    }
}

impl ExecutorLogic for GridExecutor {
    fn instrument(&self) -> InstrumentId {
        self.cfg.instrument
    }

    fn on_start(&mut self, core: &mut ExecutorCore, ctx: &mut Ctx) {
        core.close(ctx.now, CloseType::Failed);
    }

    fn control(&mut self, _core: &mut ExecutorCore, _ctx: &mut Ctx) {}

    fn on_order(
        &mut self,
        _core: &mut ExecutorCore,
        _ctx: &mut Ctx,
        _order: &Order,
        _ev: &OrderEvent,
    ) {
    }

    fn early_stop(&mut self, _core: &mut ExecutorCore, _keep_position: bool) {}

    fn net_pnl_quote(&self, _books: &[Book]) -> Dec {
        Dec::ZERO
    }

    fn filled_amount_quote(&self, _books: &[Book]) -> Dec {
        Dec::ZERO
    }

    fn fees_quote(&self) -> Dec {
        Dec::ZERO
    }
}
