//! [`Command::KillSwitch`](crate::Command::KillSwitch): everything stops at once.

use super::Engine;
use crate::events::{AlertCode, CloseType};

impl Engine {
    /// Engages the kill switch, in this order: a [`AlertCode::KillSwitchEngaged`]
    /// alert (first time only), a cancel for every open order (slot order), then every
    /// live executor terminates (slot order) as POSITION_HOLD when it holds fills and
    /// EARLY_STOP otherwise, without sending closing orders. Controllers stop (as
    /// after a Stop), and [`Risk`](crate::risk::Risk) refuses every later order.
    /// Idempotent: a second kill only re-sends cancels for orders still working.
    pub(super) fn kill_switch(&mut self) {
        if self.risk.kill() {
            self.alert(AlertCode::KillSwitchEngaged);
        }
        self.stopped = true;
        self.cids.clear();
        self.cids.extend(
            self.orders
                .iter()
                .filter(|o| o.is_open())
                .map(|o| o.req.cid),
        );
        for n in 0..self.cids.len() {
            let cid = self.cids[n];
            let (mut ctx, _) = self.ctx_and_executors();
            if ctx.cancel(cid) {
                self.stats.cancels += 1;
            }
        }
        for slot in 0..self.executors.slots.len() {
            let now = self.now;
            let books = &self.books;
            let Some(e) = self.executors.slots[slot].as_mut() else {
                continue;
            };
            let close = if e.filled_amount_quote(books).raw() > 0 {
                CloseType::PositionHold
            } else {
                CloseType::EarlyStop
            };
            e.core.close(now, close);
            self.after_executor(slot);
        }
    }
}
