//! Per-order state kept by the connector, and the rules that turn venue
//! [`OrderUpdate`]s into engine [`ExecReport`]s exactly once:
//!
//! - one `Ack` per order, before any fill; none once a fill was reported (the engine
//!   accepts a fill of a pending order);
//! - one `PartialFill` / `Fill` per venue trade id, whatever path reported it
//!   (WebSocket-API FULL response, user stream, `myTrades` during reconcile); `Fill`
//!   when the cumulative quantity reaches the order quantity or the venue says FILLED;
//! - one terminal report (`Fill`, `Canceled`, `Expired`, `Rejected`); later news of a
//!   terminal order is counted in [`TrackerStats`] and dropped;
//! - during a replace (spot cancel-replace) the cancel of the old venue order is not
//!   reported; the new venue order's `New` is the replacement's `Ack`.
//!
//! Terminal orders are kept (for dedupe) up to [`DONE_CAPACITY`], oldest dropped first.

use std::collections::{BTreeMap, VecDeque};

use kestrel_engine::{
    ClientOrderId, Dec, ExecKind, ExecReport, InstrumentId, Liquidity, PlaceOrder, RejectReason,
};

use super::reports::{ExecType, OrdStatus, OrderUpdate};

/// Terminal orders remembered for deduplication.
pub const DONE_CAPACITY: usize = 4096;

/// One order as the connector knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// The request (price and quantity updated by a replace).
    pub order: PlaceOrder,
    /// Venue order id (0 until known).
    pub venue_order_id: u64,
    /// An `Ack` or a fill was reported.
    pub acked: bool,
    /// Filled quantity reported to the engine.
    pub cum_qty: Dec,
    /// A terminal report was sent.
    pub terminal: bool,
    /// Trade ids reported.
    pub trade_ids: Vec<u64>,
    /// Monotonic ns when the last request for this order was handed to the socket.
    pub sent_ns: u64,
    /// Venue ms when the order was (last) sent.
    pub sent_venue_ms: u64,
    /// The order was resent once after a clock resync.
    pub resent: bool,
    /// A replace is in flight.
    pub replacing: bool,
    /// A cancel is in flight.
    pub canceling: bool,
    /// Quantity the engine already has as filled by trades whose ids are not known
    /// here (an order [seeded](OrderTracker::seed) on resume): the order's first
    /// trades, in trade-id order, up to this quantity are recorded as seen and not
    /// reported again.
    pub unmatched_qty: Dec,
}

/// Counters of what was deduplicated or dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Fills dropped because their trade id was already reported.
    pub duplicate_fills: u64,
    /// Updates for orders that are not ours or no longer tracked.
    pub unknown_orders: u64,
    /// Updates for orders already terminal.
    pub after_terminal: u64,
    /// Fills whose fee asset was neither base nor quote (fee reported as 0).
    pub unconverted_fees: u64,
}

/// All orders of the session (see the module docs).
#[derive(Debug, Default)]
pub struct OrderTracker {
    orders: BTreeMap<ClientOrderId, Tracked>,
    by_venue: BTreeMap<u64, ClientOrderId>,
    done: VecDeque<ClientOrderId>,
    /// What was deduplicated or dropped.
    pub stats: TrackerStats,
}

fn report(t: &Tracked, kind: ExecKind) -> ExecReport {
    ExecReport {
        cid: t.order.cid,
        instrument: t.order.instrument,
        kind,
        venue_order_id: t.venue_order_id,
        cum_qty: t.cum_qty,
        leaves_qty: (t.order.qty - t.cum_qty).max(Dec::ZERO),
        ..ExecReport::default()
    }
}

impl OrderTracker {
    /// An empty tracker.
    pub fn new() -> OrderTracker {
        OrderTracker::default()
    }

    /// Starts tracking an order about to be sent (or updates its send stamps when
    /// it is resent).
    pub fn on_place(&mut self, p: &PlaceOrder, sent_ns: u64, venue_ms: u64) {
        let t = self.orders.entry(p.cid).or_insert_with(|| Tracked {
            order: *p,
            venue_order_id: 0,
            acked: false,
            cum_qty: Dec::ZERO,
            terminal: false,
            trade_ids: Vec::new(),
            sent_ns,
            sent_venue_ms: venue_ms,
            resent: false,
            replacing: false,
            canceling: false,
            unmatched_qty: Dec::ZERO,
        });
        t.sent_ns = sent_ns;
        t.sent_venue_ms = venue_ms;
    }

    /// Tracks an order a resumed session rebuilt from its journal: `venue_order_id`
    /// (0 if never acknowledged), whether the engine has its `Ack`, and the quantity
    /// it has as filled. Fills the venue reports beyond `filled` are reported; the
    /// first trades up to `filled` are taken as already reported (see
    /// [`Tracked::unmatched_qty`]). `venue_ms` (the venue time at resume) counts as
    /// its send time: a reconcile waits `recvWindow` past it before it reports an
    /// order the venue does not know (a request signed before the crash can no longer
    /// execute by then).
    pub fn seed(
        &mut self,
        p: &PlaceOrder,
        venue_order_id: u64,
        acked: bool,
        filled: Dec,
        venue_ms: u64,
    ) {
        self.orders.insert(
            p.cid,
            Tracked {
                order: *p,
                venue_order_id,
                acked,
                cum_qty: filled,
                terminal: false,
                trade_ids: Vec::new(),
                sent_ns: 0,
                sent_venue_ms: venue_ms,
                resent: false,
                replacing: false,
                canceling: false,
                unmatched_qty: filled,
            },
        );
        if venue_order_id != 0 {
            self.by_venue.insert(venue_order_id, p.cid);
        }
    }

    /// Reports an order the venue does not know: `Rejected` if it was never
    /// acknowledged or filled, else `Expired` (the venue dropped it). Nothing for an
    /// unknown or terminal order.
    pub fn unknown_at_venue(&mut self, cid: ClientOrderId, out: &mut Vec<ExecReport>) {
        let Some(t) = self.orders.get_mut(&cid) else {
            self.stats.unknown_orders += 1;
            return;
        };
        if t.terminal {
            self.stats.after_terminal += 1;
            return;
        }
        if !t.acked && t.cum_qty.raw() == 0 {
            self.reject(cid, RejectReason::Other, out);
            return;
        }
        t.terminal = true;
        let mut r = report(t, ExecKind::Expired);
        r.leaves_qty = Dec::ZERO;
        r.reason = RejectReason::UnknownOrder;
        out.push(r);
        self.finish(cid);
    }

    /// The order, if tracked.
    pub fn get(&self, cid: ClientOrderId) -> Option<&Tracked> {
        self.orders.get(&cid)
    }

    /// The order, mutable.
    pub fn get_mut(&mut self, cid: ClientOrderId) -> Option<&mut Tracked> {
        self.orders.get_mut(&cid)
    }

    /// Our order with venue order id `id`.
    pub fn by_venue_id(&self, id: u64) -> Option<ClientOrderId> {
        self.by_venue.get(&id).copied()
    }

    /// Orders not yet terminal, in client-id order.
    pub fn live(&self) -> impl Iterator<Item = &Tracked> {
        self.orders.values().filter(|t| !t.terminal)
    }

    /// Number of orders tracked (terminal ones included).
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    fn finish(&mut self, cid: ClientOrderId) {
        self.done.push_back(cid);
        while self.done.len() > DONE_CAPACITY {
            if let Some(old) = self.done.pop_front() {
                if let Some(t) = self.orders.remove(&old) {
                    self.by_venue.remove(&t.venue_order_id);
                }
            }
        }
    }

    /// Applies one venue update, appending the reports it causes to `out`.
    pub fn apply(&mut self, u: &OrderUpdate, out: &mut Vec<ExecReport>) {
        let cid = match u.cid.or_else(|| self.by_venue_id(u.venue_order_id)) {
            Some(c) => c,
            None => {
                self.stats.unknown_orders += 1;
                return;
            }
        };
        let Some(t) = self.orders.get_mut(&cid) else {
            self.stats.unknown_orders += 1;
            return;
        };
        if u.instrument != t.order.instrument {
            self.stats.unknown_orders += 1;
            return;
        }
        if u.fee_unconverted {
            self.stats.unconverted_fees += 1;
        }
        // Venue order id bookkeeping; a replace's new order shows a new id.
        let mut replaced = false;
        if u.venue_order_id != 0 && u.venue_order_id != t.venue_order_id {
            if t.venue_order_id == 0 {
                t.venue_order_id = u.venue_order_id;
                self.by_venue.insert(u.venue_order_id, cid);
            } else if t.replacing && matches!(u.exec, ExecType::New) {
                t.venue_order_id = u.venue_order_id;
                self.by_venue.insert(u.venue_order_id, cid);
                t.replacing = false;
                t.cum_qty = Dec::ZERO;
                t.acked = false;
                replaced = true;
            } else if matches!(u.exec, ExecType::Canceled | ExecType::Expired) {
                // The old incarnation of a replaced order going away.
                return;
            }
        }
        if t.terminal {
            self.stats.after_terminal += 1;
            return;
        }
        match u.exec {
            ExecType::New | ExecType::Amended => {
                if u.orig_qty.raw() > 0 && (replaced || u.exec == ExecType::Amended) {
                    t.order.qty = u.orig_qty;
                }
                if !t.acked {
                    t.acked = true;
                    out.push(report(t, ExecKind::Ack));
                } else if u.exec == ExecType::Amended {
                    t.replacing = false;
                    out.push(report(t, ExecKind::Ack));
                }
            }
            ExecType::Trade => {
                let Some(id) = u.trade_id else { return };
                if t.trade_ids.contains(&id) {
                    self.stats.duplicate_fills += 1;
                    return;
                }
                if u.last_qty.raw() <= 0 {
                    return;
                }
                if t.unmatched_qty.raw() > 0 {
                    // Already in the engine (filled before a resume).
                    t.trade_ids.push(id);
                    t.unmatched_qty = (t.unmatched_qty - u.last_qty).max(Dec::ZERO);
                    return;
                }
                t.trade_ids.push(id);
                t.acked = true;
                t.cum_qty += u.last_qty;
                let complete = t.cum_qty >= t.order.qty || u.status == OrdStatus::Filled;
                let mut r = report(
                    t,
                    if complete {
                        ExecKind::Fill
                    } else {
                        ExecKind::PartialFill
                    },
                );
                r.last_px = u.last_px;
                r.last_qty = u.last_qty;
                r.fee = u.fee;
                r.liquidity = if u.maker {
                    Liquidity::Maker
                } else {
                    Liquidity::Taker
                };
                if complete {
                    r.leaves_qty = Dec::ZERO;
                    t.terminal = true;
                }
                out.push(r);
                if complete {
                    self.finish(cid);
                }
            }
            ExecType::Canceled | ExecType::Expired => {
                if t.replacing && u.exec == ExecType::Canceled {
                    return; // the replaced order; the new one follows
                }
                t.terminal = true;
                let mut r = report(
                    t,
                    if u.exec == ExecType::Canceled {
                        ExecKind::Canceled
                    } else {
                        ExecKind::Expired
                    },
                );
                r.leaves_qty = Dec::ZERO;
                out.push(r);
                self.finish(cid);
            }
            ExecType::Rejected => {
                t.terminal = true;
                // The engine takes a reject only before any fill or ack.
                let kind = if t.acked || t.cum_qty.raw() > 0 {
                    ExecKind::Expired
                } else {
                    ExecKind::Rejected
                };
                let mut r = report(t, kind);
                r.leaves_qty = Dec::ZERO;
                r.reason = if u.reason == RejectReason::None {
                    RejectReason::Other
                } else {
                    u.reason
                };
                out.push(r);
                self.finish(cid);
            }
            ExecType::Other => {}
        }
    }

    /// The venue refused a new order (error response): one `Rejected`, unless the
    /// order was already acknowledged or finished (e.g. a duplicate resend).
    pub fn reject(&mut self, cid: ClientOrderId, reason: RejectReason, out: &mut Vec<ExecReport>) {
        let Some(t) = self.orders.get_mut(&cid) else {
            self.stats.unknown_orders += 1;
            return;
        };
        if t.terminal || t.acked {
            self.stats.after_terminal += 1;
            return;
        }
        t.terminal = true;
        let mut r = report(t, ExecKind::Rejected);
        r.reason = reason;
        r.leaves_qty = Dec::ZERO;
        out.push(r);
        self.finish(cid);
    }

    /// The venue refused a cancel or replace: `CancelRejected` while the order works.
    pub fn cancel_rejected(
        &mut self,
        cid: ClientOrderId,
        reason: RejectReason,
        out: &mut Vec<ExecReport>,
    ) {
        let Some(t) = self.orders.get_mut(&cid) else {
            self.stats.unknown_orders += 1;
            return;
        };
        t.canceling = false;
        t.replacing = false;
        if t.terminal {
            return;
        }
        let mut r = report(t, ExecKind::CancelRejected);
        r.reason = reason;
        out.push(r);
    }

    /// Instrument of a tracked order.
    pub fn instrument(&self, cid: ClientOrderId) -> Option<InstrumentId> {
        self.orders.get(&cid).map(|t| t.order.instrument)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_engine::{OrderType, Side, TimeInForce};

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    const C: ClientOrderId = ClientOrderId(1 << 32 | 1);

    fn order() -> PlaceOrder {
        PlaceOrder {
            cid: C,
            instrument: 0,
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            price: d("100"),
            qty: d("3"),
            position_action: Default::default(),
        }
    }

    fn upd(exec: ExecType, trade: Option<u64>, qty: &str) -> OrderUpdate {
        OrderUpdate {
            cid: Some(C),
            instrument: 0,
            venue_order_id: 77,
            exec,
            status: OrdStatus::Other,
            orig_qty: d("3"),
            cum_qty: Dec::ZERO,
            last_qty: d(qty),
            last_px: d("100"),
            fee: d("0.1"),
            fee_unconverted: false,
            trade_id: trade,
            maker: true,
            venue_ms: 0,
            reason: RejectReason::None,
        }
    }

    #[test]
    fn ack_fills_and_terminal_once() {
        let mut t = OrderTracker::new();
        t.on_place(&order(), 5, 6);
        let mut out = Vec::new();
        t.apply(&upd(ExecType::New, None, "0"), &mut out);
        t.apply(&upd(ExecType::New, None, "0"), &mut out);
        t.apply(&upd(ExecType::Trade, Some(1), "1"), &mut out);
        t.apply(&upd(ExecType::Trade, Some(1), "1"), &mut out);
        let mut by_list = upd(ExecType::Trade, Some(2), "2");
        by_list.cid = None; // trade list: found by venue id
        t.apply(&by_list, &mut out);
        t.apply(&upd(ExecType::Canceled, None, "0"), &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|r| {
                (
                    r.kind,
                    r.last_qty,
                    r.cum_qty,
                    r.leaves_qty,
                    r.venue_order_id,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (ExecKind::Ack, Dec::ZERO, Dec::ZERO, d("3"), 77),
                (ExecKind::PartialFill, d("1"), d("1"), d("2"), 77),
                (ExecKind::Fill, d("2"), d("3"), Dec::ZERO, 77),
            ]
        );
        assert_eq!((out[1].fee, out[1].liquidity), (d("0.1"), Liquidity::Maker));
        assert_eq!(t.stats.duplicate_fills, 1);
        assert_eq!(t.stats.after_terminal, 1);
        assert_eq!(t.live().count(), 0);
    }

    #[test]
    fn seeded_order_reports_only_trades_beyond_the_engine() {
        let mut t = OrderTracker::new();
        let mut out = Vec::new();
        // The engine has 1 of 3 filled (trade id unknown here) and the ack.
        t.seed(&order(), 77, true, d("1"), 1_000);
        t.apply(&upd(ExecType::New, None, "0"), &mut out);
        t.apply(&upd(ExecType::Trade, Some(1), "1"), &mut out);
        t.apply(&upd(ExecType::Trade, Some(2), "2"), &mut out);
        t.apply(&upd(ExecType::Trade, Some(2), "2"), &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|r| (r.kind, r.last_qty, r.cum_qty, r.leaves_qty))
            .collect();
        assert_eq!(got, vec![(ExecKind::Fill, d("2"), d("3"), Dec::ZERO)]);
        assert_eq!(t.stats.after_terminal, 1);
        // Unknown at the venue: never acked -> Rejected; acked -> Expired.
        let mut o2 = order();
        o2.cid = ClientOrderId(1 << 32 | 2);
        let mut o3 = order();
        o3.cid = ClientOrderId(1 << 32 | 3);
        t.seed(&o2, 0, false, Dec::ZERO, 1_000);
        t.seed(&o3, 90, true, Dec::ZERO, 1_000);
        t.unknown_at_venue(o2.cid, &mut out);
        t.unknown_at_venue(o3.cid, &mut out);
        t.unknown_at_venue(o3.cid, &mut out);
        let got: Vec<_> = out[1..].iter().map(|r| (r.cid, r.kind)).collect();
        assert_eq!(
            got,
            vec![(o2.cid, ExecKind::Rejected), (o3.cid, ExecKind::Expired)]
        );
        assert_eq!(t.live().count(), 0);
    }

    #[test]
    fn rejects_and_cancel_rejects() {
        let mut t = OrderTracker::new();
        let mut out = Vec::new();
        t.on_place(&order(), 1, 1);
        t.reject(C, RejectReason::InsufficientBalance, &mut out);
        t.reject(C, RejectReason::Other, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].kind, out[0].reason),
            (ExecKind::Rejected, RejectReason::InsufficientBalance)
        );
        let mut o2 = order();
        o2.cid = ClientOrderId(1 << 32 | 2);
        t.on_place(&o2, 1, 1);
        t.cancel_rejected(o2.cid, RejectReason::UnknownOrder, &mut out);
        assert_eq!(
            (out[1].kind, out[1].reason),
            (ExecKind::CancelRejected, RejectReason::UnknownOrder)
        );
        // Unknown ids are counted.
        t.apply(
            &OrderUpdate {
                cid: None,
                venue_order_id: 999,
                ..upd(ExecType::Trade, Some(9), "1")
            },
            &mut out,
        );
        assert_eq!((out.len(), t.stats.unknown_orders), (2, 1));
    }

    #[test]
    fn replace_hides_the_old_cancel() {
        let mut t = OrderTracker::new();
        let mut out = Vec::new();
        t.on_place(&order(), 1, 1);
        t.apply(&upd(ExecType::New, None, "0"), &mut out);
        t.apply(&upd(ExecType::Trade, Some(1), "1"), &mut out);
        t.get_mut(C).unwrap().replacing = true;
        t.apply(&upd(ExecType::Canceled, None, "0"), &mut out);
        let mut new = upd(ExecType::New, None, "0");
        new.venue_order_id = 78;
        new.orig_qty = d("5");
        t.apply(&new, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|r| (r.kind, r.venue_order_id, r.leaves_qty))
            .collect();
        assert_eq!(
            got,
            vec![
                (ExecKind::Ack, 77, d("3")),
                (ExecKind::PartialFill, 77, d("2")),
                (ExecKind::Ack, 78, d("5")),
            ]
        );
        // A late cancel of the old venue order changes nothing.
        t.apply(&upd(ExecType::Canceled, None, "0"), &mut out);
        assert_eq!(out.len(), 3);
    }
}
