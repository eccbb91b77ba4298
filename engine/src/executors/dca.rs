//! DCA executor (spec §5). Not implemented yet: starting one closes it as FAILED.

use super::{Ctx, ExecutorCore, ExecutorLogic};
use crate::book::Book;
use crate::events::CloseType;
use crate::num::Dec;
use crate::orders::{Order, OrderEvent};
use crate::types::InstrumentId;

/// Configuration of a dCA executor.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct DcaConfig {
    /// Instrument.
    pub instrument: InstrumentId,
}

/// DCA executor.
#[derive(Clone, Debug, PartialEq)]
pub struct DcaExecutor {
    /// Configuration.
    pub cfg: DcaConfig,
}

impl DcaExecutor {
    /// New executor, not started.
    pub fn new(cfg: DcaConfig) -> Self {
        DcaExecutor { cfg }
    }
}

impl ExecutorLogic for DcaExecutor {
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
