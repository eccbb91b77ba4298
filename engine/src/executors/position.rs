//! Position executor with triple barrier (spec §2). Not implemented yet: starting one closes it as FAILED.

use super::{Ctx, ExecutorCore, ExecutorLogic};
use crate::book::Book;
use crate::events::CloseType;
use crate::num::Dec;
use crate::orders::{Order, OrderEvent};
use crate::types::InstrumentId;

/// Configuration of a position executor with triple barrier.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct PositionConfig {
    /// Instrument.
    pub instrument: InstrumentId,
}

/// Position executor with triple barrier.
#[derive(Clone, Debug, PartialEq)]
pub struct PositionExecutor {
    /// Configuration.
    pub cfg: PositionConfig,
}

impl PositionExecutor {
    /// New executor, not started.
    pub fn new(cfg: PositionConfig) -> Self {
        PositionExecutor { cfg }
    }
}

impl ExecutorLogic for PositionExecutor {
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
