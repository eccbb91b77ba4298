//! Order manager: every order the engine sent, and its state machine.

use crate::events::{ExecKind, ExecReport, PlaceOrder, RejectReason};
use crate::num::Dec;
use crate::types::ClientOrderId;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Deterministic hasher for lookups (maps are never iterated into outputs).
type Map<K, V> = HashMap<K, V, BuildHasherDefault<CidHasher>>;

/// Multiplicative (Fibonacci) hash of a client order id: ids are a session prefix and
/// a counter, so one multiply spreads them over the table, at a fraction of SipHash's
/// cost; deterministic (no random keys).
#[derive(Default)]
struct CidHasher(u64);

impl std::hash::Hasher for CidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrderState {
    /// Sent, not yet acknowledged.
    #[default]
    PendingNew,
    /// Acknowledged and working.
    Open,
    /// Working with part filled.
    PartiallyFilled,
    /// Filled in full (terminal).
    Filled,
    /// Cancel sent, not yet confirmed.
    CancelPending,
    /// Cancelled (terminal).
    Canceled,
    /// Refused (terminal).
    Rejected,
    /// Expired (terminal).
    Expired,
}

impl OrderState {
    /// No further report can change the order.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Rejected | Self::Expired
        )
    }
}

/// One order.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Order {
    /// What was sent.
    pub req: PlaceOrder,
    /// Current state.
    pub state: OrderState,
    /// Filled quantity.
    pub filled: Dec,
    /// Σ fill price × fill qty (quote).
    pub filled_quote: Dec,
    /// Fees paid (quote).
    pub fees: Dec,
    /// Owning executor.
    pub executor: u32,
    /// Venue order id once acknowledged.
    pub venue_order_id: u64,
    /// Event time it was sent.
    pub created_ts: u64,
    /// Funds reserved for the unfilled rest (quote for buys, base for sells).
    pub locked: Dec,
    /// Reject reason, if rejected.
    pub reason: RejectReason,
}

impl Order {
    /// Unfilled quantity.
    pub fn remaining(&self) -> Dec {
        self.req.qty - self.filled
    }
    /// Average fill price.
    pub fn avg_price(&self) -> Option<Dec> {
        self.filled_quote.div(self.filled)
    }
    /// Working at the venue (or about to be).
    pub fn is_open(&self) -> bool {
        !self.state.is_terminal()
    }
}

/// What an execution report meant for the order's owner.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
pub enum OrderEvent {
    /// Acknowledged.
    Created,
    /// Part or all filled (`last_qty` at `last_px`, `fee` in quote).
    Filled {
        /// Fill price.
        last_px: Dec,
        /// Fill size.
        last_qty: Dec,
        /// Fill fee.
        fee: Dec,
        /// True when the order is now completely filled.
        complete: bool,
    },
    /// Cancelled or expired; `filled` is what traded before.
    Canceled,
    /// Refused by the venue.
    Failed(RejectReason),
    /// A cancel was refused; the order keeps working.
    CancelRejected,
}

/// Why a report could not be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionError {
    /// No such live order.
    UnknownOrder,
    /// The order's state cannot take this report.
    Invalid,
}

/// All live orders, in a slab with stable slots.
/// Entries of the direct-mapped part of [`CidIndex`] (a power of two; 16 KiB, so the
/// recent ids stay in the L1 cache).
const INDEX_TABLE: usize = 1024;
/// Orders the index's overflow map holds before it grows.
const INDEX_OVERFLOW: usize = 256;
/// Marks an empty entry.
const NO_SLOT: u32 = u32::MAX;

/// Slot of each live order by client order id. Ids are handed out in order, so the
/// live ones almost always sit in distinct entries of a table indexed by the id's
/// low bits: a lookup is one load and a compare, with no hashing. An order whose
/// entry is taken (by an order still live `INDEX_TABLE` ids earlier, or an id of
/// another session) goes to a hash map, consulted only while it holds something.
#[derive(Debug)]
struct CidIndex {
    table: Vec<(ClientOrderId, u32)>,
    overflow: Map<ClientOrderId, u32>,
    len: usize,
}

impl CidIndex {
    fn new() -> CidIndex {
        CidIndex {
            table: vec![(ClientOrderId(0), NO_SLOT); INDEX_TABLE],
            // Sized up front: the first order to find its entry taken (a resting
            // order 1,024 ids old) is placed without an allocation.
            overflow: Map::with_capacity_and_hasher(INDEX_OVERFLOW, Default::default()),
            len: 0,
        }
    }

    #[inline]
    fn entry(cid: ClientOrderId) -> usize {
        cid.0 as usize & (INDEX_TABLE - 1)
    }

    #[inline]
    fn get(&self, cid: ClientOrderId) -> Option<u32> {
        let (id, slot) = self.table[Self::entry(cid)];
        if id == cid && slot != NO_SLOT {
            return Some(slot);
        }
        if self.overflow.is_empty() {
            return None;
        }
        self.overflow.get(&cid).copied()
    }

    /// Maps `cid` to `slot` (replacing an earlier mapping of the same id).
    fn insert(&mut self, cid: ClientOrderId, slot: u32) {
        let e = &mut self.table[Self::entry(cid)];
        if e.0 == cid && e.1 != NO_SLOT {
            e.1 = slot;
            return;
        }
        if !self.overflow.is_empty() {
            if let Some(s) = self.overflow.get_mut(&cid) {
                *s = slot;
                return;
            }
        }
        if e.1 == NO_SLOT {
            *e = (cid, slot);
        } else {
            self.overflow.insert(cid, slot);
        }
        self.len += 1;
    }

    fn remove(&mut self, cid: ClientOrderId) -> Option<u32> {
        let e = &mut self.table[Self::entry(cid)];
        let slot = if e.0 == cid && e.1 != NO_SLOT {
            std::mem::replace(&mut e.1, NO_SLOT)
        } else if self.overflow.is_empty() {
            return None;
        } else {
            self.overflow.remove(&cid)?
        };
        self.len -= 1;
        Some(slot)
    }
}

#[derive(Debug)]
pub struct OrderManager {
    slots: Vec<Option<Order>>,
    free: Vec<u32>,
    by_cid: CidIndex,
    /// Orders sent.
    pub placed: u64,
    /// Fill reports applied.
    pub fills: u64,
}

impl Default for OrderManager {
    fn default() -> Self {
        Self::with_capacity(4096)
    }
}

impl OrderManager {
    /// Pre-reserves room for `n` live orders.
    pub fn with_capacity(n: usize) -> Self {
        OrderManager {
            slots: Vec::with_capacity(n),
            free: Vec::with_capacity(n),
            by_cid: CidIndex::new(),
            placed: 0,
            fills: 0,
        }
    }

    /// Records a new order in PendingNew.
    pub fn insert(&mut self, req: PlaceOrder, executor: u32, ts: u64, locked: Dec) {
        let order = Order {
            req,
            state: OrderState::PendingNew,
            filled: Dec::ZERO,
            filled_quote: Dec::ZERO,
            fees: Dec::ZERO,
            executor,
            venue_order_id: 0,
            created_ts: ts,
            locked,
            reason: RejectReason::None,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(order);
                s
            }
            None => {
                self.slots.push(Some(order));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_cid.insert(req.cid, slot);
        self.placed += 1;
    }

    /// The live order with this id.
    pub fn get(&self, cid: ClientOrderId) -> Option<&Order> {
        self.by_cid
            .get(cid)
            .and_then(|s| self.slots[s as usize].as_ref())
    }

    fn get_mut(&mut self, cid: ClientOrderId) -> Option<&mut Order> {
        let s = self.by_cid.get(cid)?;
        self.slots[s as usize].as_mut()
    }

    /// Marks a cancel as sent. Returns false if the order cannot be cancelled.
    pub fn mark_cancel(&mut self, cid: ClientOrderId) -> bool {
        match self.get_mut(cid) {
            Some(o)
                if matches!(
                    o.state,
                    OrderState::PendingNew | OrderState::Open | OrderState::PartiallyFilled
                ) =>
            {
                o.state = OrderState::CancelPending;
                true
            }
            _ => false,
        }
    }

    /// Applies an execution report. On success returns the order as it now is and what
    /// happened; terminal orders are removed after this call (use the returned copy).
    pub fn apply(&mut self, r: &ExecReport) -> Result<(Order, OrderEvent), TransitionError> {
        let mut order = Order::default();
        let ev = self.apply_into(r, &mut order)?;
        Ok((order, ev))
    }

    /// [`OrderManager::apply`] writing the order as it now is into `snapshot`
    /// (unspecified on an error; the stored order is then unchanged). The transition is
    /// made on the copy and the changed fields are written back one by one, so no
    /// whole-order copy reads fields just written with narrower stores (that stalls
    /// store forwarding, once per report).
    pub fn apply_into(
        &mut self,
        r: &ExecReport,
        snapshot: &mut Order,
    ) -> Result<OrderEvent, TransitionError> {
        let stored = self.get_mut(r.cid).ok_or(TransitionError::UnknownOrder)?;
        *snapshot = *stored;
        let o = &mut *snapshot;
        let ev = Self::transition(o, r)?;
        stored.state = o.state;
        stored.filled = o.filled;
        stored.filled_quote = o.filled_quote;
        stored.fees = o.fees;
        stored.venue_order_id = o.venue_order_id;
        stored.reason = o.reason;
        if matches!(ev, OrderEvent::Filled { .. }) {
            self.fills += 1;
        }
        if o.state.is_terminal() {
            self.remove(r.cid);
        }
        Ok(ev)
    }

    /// The state machine: applies `r` to `o` and says what happened.
    fn transition(o: &mut Order, r: &ExecReport) -> Result<OrderEvent, TransitionError> {
        use OrderState::*;
        let working = matches!(o.state, PendingNew | Open | PartiallyFilled | CancelPending);
        let ev = match r.kind {
            ExecKind::Ack => match o.state {
                PendingNew => {
                    o.state = Open;
                    o.venue_order_id = r.venue_order_id;
                    OrderEvent::Created
                }
                CancelPending => {
                    o.venue_order_id = r.venue_order_id;
                    OrderEvent::Created
                }
                _ => return Err(TransitionError::Invalid),
            },
            ExecKind::PartialFill | ExecKind::Fill => {
                if !working || r.last_qty.raw() <= 0 || o.filled + r.last_qty > o.req.qty {
                    return Err(TransitionError::Invalid);
                }
                o.filled += r.last_qty;
                o.filled_quote += r.last_px.mul(r.last_qty);
                o.fees += r.fee;
                if o.venue_order_id == 0 {
                    o.venue_order_id = r.venue_order_id;
                }
                let complete = o.filled >= o.req.qty;
                if complete {
                    o.state = Filled;
                } else if o.state != CancelPending {
                    o.state = PartiallyFilled;
                }
                OrderEvent::Filled {
                    last_px: r.last_px,
                    last_qty: r.last_qty,
                    fee: r.fee,
                    complete,
                }
            }
            ExecKind::Canceled | ExecKind::Expired => {
                if !working {
                    return Err(TransitionError::Invalid);
                }
                o.state = if r.kind == ExecKind::Canceled {
                    Canceled
                } else {
                    Expired
                };
                OrderEvent::Canceled
            }
            ExecKind::Rejected => {
                if o.state != PendingNew && o.state != CancelPending {
                    return Err(TransitionError::Invalid);
                }
                if o.filled.raw() > 0 {
                    return Err(TransitionError::Invalid);
                }
                o.state = Rejected;
                o.reason = r.reason;
                OrderEvent::Failed(r.reason)
            }
            ExecKind::CancelRejected => {
                if o.state != CancelPending {
                    return Err(TransitionError::Invalid);
                }
                o.state = if o.filled.raw() > 0 {
                    PartiallyFilled
                } else {
                    Open
                };
                OrderEvent::CancelRejected
            }
        };
        Ok(ev)
    }

    pub fn set_locked(&mut self, cid: ClientOrderId, locked: Dec) {
        if let Some(o) = self.get_mut(cid) {
            o.locked = locked;
        }
    }

    fn remove(&mut self, cid: ClientOrderId) {
        if let Some(s) = self.by_cid.remove(cid) {
            self.slots[s as usize] = None;
            self.free.push(s);
        }
    }

    /// Live orders in slot order (deterministic).
    pub fn iter(&self) -> impl Iterator<Item = &Order> {
        self.slots.iter().flatten()
    }

    /// Number of live orders.
    pub fn live(&self) -> usize {
        self.by_cid.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Side;

    fn place(n: u32) -> PlaceOrder {
        PlaceOrder {
            cid: ClientOrderId::new(1, n),
            side: Side::Buy,
            price: Dec::from_int(100),
            qty: Dec::from_int(2),
            ..Default::default()
        }
    }

    fn rep(n: u32, kind: ExecKind, qty: i64) -> ExecReport {
        ExecReport {
            cid: ClientOrderId::new(1, n),
            kind,
            last_px: Dec::from_int(100),
            last_qty: Dec::from_int(qty),
            fee: Dec(1_000),
            ..Default::default()
        }
    }

    proptest::proptest! {
        #[test]
        fn index_agrees_with_a_map(ops in proptest::collection::vec((0u8..3, 0u64..3, 0u32..20_000), 1..400)) {
            // Insert, remove and look up ids of three sessions, many sharing entries.
            let mut index = CidIndex::new();
            let mut map = std::collections::BTreeMap::new();
            for (n, (op, session, counter)) in ops.into_iter().enumerate() {
                let cid = ClientOrderId((session << 32) | u64::from(counter % 3 * INDEX_TABLE as u32 + counter % 5));
                match op {
                    0 => {
                        index.insert(cid, n as u32);
                        map.insert(cid, n as u32);
                    }
                    1 => proptest::prop_assert_eq!(index.remove(cid), map.remove(&cid)),
                    _ => proptest::prop_assert_eq!(index.get(cid), map.get(&cid).copied()),
                }
                proptest::prop_assert_eq!(index.len, map.len());
            }
            for (cid, slot) in &map {
                proptest::prop_assert_eq!(index.get(*cid), Some(*slot));
            }
        }
    }

    #[test]
    fn ids_sharing_an_index_entry_stay_apart() {
        // 1, 1 + 4096 and 1 + 8192 share an entry of the direct-mapped table; an id of
        // another session with the same counter shares it too.
        let mut m = OrderManager::default();
        let ids = [1, 1 + INDEX_TABLE as u32, 1 + 2 * INDEX_TABLE as u32];
        for (k, n) in ids.iter().enumerate() {
            m.insert(place(*n), k as u32, 0, Dec::ZERO);
        }
        let other = PlaceOrder {
            cid: ClientOrderId::new(2, 1),
            ..place(1)
        };
        m.insert(other, 9, 0, Dec::ZERO);
        assert_eq!(m.live(), 4);
        for (k, n) in ids.iter().enumerate() {
            assert_eq!(m.get(ClientOrderId::new(1, *n)).unwrap().executor, k as u32);
        }
        assert_eq!(m.get(ClientOrderId::new(2, 1)).unwrap().executor, 9);
        assert!(m.get(ClientOrderId::new(1, 2)).is_none());
        // The table's holder finishes first: the others are still found, and a new id
        // takes the freed entry.
        m.apply(&rep(1, ExecKind::Rejected, 0)).unwrap();
        assert!(m.get(ClientOrderId::new(1, 1)).is_none());
        assert_eq!(m.get(ClientOrderId::new(1, ids[1])).unwrap().executor, 1);
        m.insert(place(1 + 3 * INDEX_TABLE as u32), 7, 0, Dec::ZERO);
        assert_eq!(m.live(), 4);
        for n in [ids[1], ids[2]] {
            let (o, _) = m.apply(&rep(n, ExecKind::Rejected, 0)).unwrap();
            assert_eq!(o.state, OrderState::Rejected);
            assert!(m.get(ClientOrderId::new(1, n)).is_none());
        }
        assert_eq!(
            m.apply(&rep(ids[1], ExecKind::Ack, 0)),
            Err(TransitionError::UnknownOrder)
        );
        assert_eq!(m.live(), 2);
        assert_eq!(m.get(ClientOrderId::new(2, 1)).unwrap().executor, 9);
        assert_eq!(
            m.get(ClientOrderId::new(1, 1 + 3 * INDEX_TABLE as u32))
                .unwrap()
                .executor,
            7
        );
        assert_eq!(m.iter().count(), 2);
    }

    #[test]
    fn full_lifecycle() {
        let mut m = OrderManager::default();
        m.insert(place(1), 0, 0, Dec::ZERO);
        assert_eq!(
            m.get(ClientOrderId::new(1, 1)).unwrap().state,
            OrderState::PendingNew
        );
        let (o, e) = m.apply(&rep(1, ExecKind::Ack, 0)).unwrap();
        assert_eq!((o.state, e), (OrderState::Open, OrderEvent::Created));
        let (o, _) = m.apply(&rep(1, ExecKind::PartialFill, 1)).unwrap();
        assert_eq!(o.state, OrderState::PartiallyFilled);
        assert!(m.mark_cancel(o.req.cid));
        // A fill racing the cancel still counts.
        let (o, e) = m.apply(&rep(1, ExecKind::Fill, 1)).unwrap();
        assert_eq!(o.state, OrderState::Filled);
        assert!(matches!(e, OrderEvent::Filled { complete: true, .. }));
        assert_eq!(o.avg_price(), Some(Dec::from_int(100)));
        assert_eq!(o.fees, Dec(2_000));
        // Terminal: removed; a late cancel confirmation is an unknown order.
        assert_eq!(
            m.apply(&rep(1, ExecKind::Canceled, 0)),
            Err(TransitionError::UnknownOrder)
        );
        assert_eq!(m.live(), 0);
    }

    #[test]
    fn impossible_transitions_are_refused() {
        let mut m = OrderManager::default();
        m.insert(place(1), 0, 0, Dec::ZERO);
        assert_eq!(
            m.apply(&rep(1, ExecKind::CancelRejected, 0)),
            Err(TransitionError::Invalid)
        );
        m.apply(&rep(1, ExecKind::Ack, 0)).unwrap();
        assert_eq!(
            m.apply(&rep(1, ExecKind::Ack, 0)),
            Err(TransitionError::Invalid)
        );
        assert_eq!(
            m.apply(&rep(1, ExecKind::Rejected, 0)),
            Err(TransitionError::Invalid)
        );
        // Overfill.
        assert_eq!(
            m.apply(&rep(1, ExecKind::Fill, 3)),
            Err(TransitionError::Invalid)
        );
        // State unchanged by refused reports.
        assert_eq!(
            m.get(ClientOrderId::new(1, 1)).unwrap().state,
            OrderState::Open
        );
        let (o, e) = m.apply(&rep(1, ExecKind::Expired, 0)).unwrap();
        assert_eq!((o.state, e), (OrderState::Expired, OrderEvent::Canceled));
    }

    #[test]
    fn cancel_reject_restores_state_and_slots_are_reused() {
        let mut m = OrderManager::default();
        m.insert(place(1), 0, 0, Dec::ZERO);
        m.apply(&rep(1, ExecKind::Ack, 0)).unwrap();
        assert!(m.mark_cancel(ClientOrderId::new(1, 1)));
        assert!(!m.mark_cancel(ClientOrderId::new(1, 1)));
        let (o, _) = m.apply(&rep(1, ExecKind::CancelRejected, 0)).unwrap();
        assert_eq!(o.state, OrderState::Open);
        m.apply(&rep(1, ExecKind::Canceled, 0)).unwrap();
        m.insert(place(2), 0, 0, Dec::ZERO);
        assert_eq!(m.slots.len(), 1);
        let (o, _) = m.apply(&rep(2, ExecKind::Rejected, 0)).unwrap();
        assert_eq!(o.state, OrderState::Rejected);
    }
}
