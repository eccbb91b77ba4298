//! Reconcile after a reconnect: ask the venue what happened to every order the
//! engine still thinks is working, and emit the reports it missed, each exactly once.
//!
//! Steps (all REST, signed):
//! 1. `GET openOrders`: acks for orders that are open but were never acknowledged
//!    (their venue order ids are learned here).
//! 2. For every live tracked order not open, or never acknowledged: `GET order`
//!    (by `origClientOrderId`) for its venue id and status.
//! 3. For every live order with a venue id: `GET myTrades` (USD-M `userTrades`) with
//!    its `orderId`; trades go through the tracker, so fills already reported (by
//!    the stream or a response) are dropped by trade id.
//! 4. Terminal statuses (CANCELED, EXPIRED, REJECTED) are applied after the fills.
//! 5. An order the venue does not know (-2013) was lost on the way: once its
//!    `recvWindow` has passed it can never execute and is reported `Rejected` (or
//!    `Expired` if it had been acknowledged or filled: the venue dropped it); before
//!    that it stays pending and [`Reconciled::pending`] asks for another pass.

use kestrel_engine::{ClientOrderId, ExecReport, InstrumentId};

use super::errors::BinanceError;
use super::reports::{ExecType, OrderUpdate};
use super::tracker::OrderTracker;

/// The queries reconcile needs (the connector implements them over REST; tests
/// can fake them).
pub trait VenueQueries {
    /// Every open order (`GET openOrders`), as order updates.
    ///
    /// # Errors
    /// Transport or venue errors.
    fn open_orders(&mut self, out: &mut Vec<OrderUpdate>) -> Result<(), BinanceError>;
    /// One order by client id (`GET order`); `Ok(false)` when the venue does not know it.
    ///
    /// # Errors
    /// Transport or venue errors other than "order does not exist".
    fn query_order(
        &mut self,
        instrument: InstrumentId,
        cid: ClientOrderId,
        out: &mut Vec<OrderUpdate>,
    ) -> Result<bool, BinanceError>;
    /// Trades of one order (`GET myTrades` / `userTrades` with `orderId`).
    ///
    /// # Errors
    /// Transport or venue errors.
    fn order_trades(
        &mut self,
        instrument: InstrumentId,
        venue_order_id: u64,
        out: &mut Vec<OrderUpdate>,
    ) -> Result<(), BinanceError>;
}

/// What a reconcile pass found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Live orders examined.
    pub checked: usize,
    /// Reports emitted.
    pub reports: usize,
    /// Orders the venue does not know yet whose `recvWindow` has not passed.
    pub pending: usize,
}

/// Runs one reconcile pass (see the module docs). `now_venue_ms` and
/// `recv_window_ms` decide when an unknown order is lost for good.
///
/// # Errors
/// The first query that failed; reports emitted before it stay in `out`.
pub fn reconcile(
    tracker: &mut OrderTracker,
    q: &mut dyn VenueQueries,
    now_venue_ms: u64,
    recv_window_ms: u64,
    out: &mut Vec<ExecReport>,
) -> Result<Reconciled, BinanceError> {
    let start = out.len();
    let mut res = Reconciled::default();
    let mut updates = Vec::new();
    q.open_orders(&mut updates)?;
    let mut open: Vec<ClientOrderId> = Vec::new();
    for u in &updates {
        let cid = u.cid.or_else(|| tracker.by_venue_id(u.venue_order_id));
        if let Some(c) = cid {
            open.push(c);
        }
        if u.exec == ExecType::New {
            tracker.apply(u, out);
        }
    }
    let live: Vec<(ClientOrderId, InstrumentId)> = tracker
        .live()
        .map(|t| (t.order.cid, t.order.instrument))
        .collect();
    res.checked = live.len();
    for (cid, instrument) in live {
        let is_open = open.contains(&cid);
        let mut terminal: Option<OrderUpdate> = None;
        let known = tracker.get(cid).is_some_and(|t| t.venue_order_id != 0);
        if !is_open || !known {
            updates.clear();
            let found = q.query_order(instrument, cid, &mut updates)?;
            if !found {
                let sent = tracker.get(cid).map_or(0, |t| t.sent_venue_ms);
                if now_venue_ms > sent.saturating_add(recv_window_ms) {
                    tracker.unknown_at_venue(cid, out);
                } else {
                    res.pending += 1;
                }
                continue;
            }
            for u in &updates {
                match u.exec {
                    ExecType::Canceled | ExecType::Expired | ExecType::Rejected => {
                        // Learn the venue id now, apply the terminal state after fills.
                        let mut ack = *u;
                        ack.exec = ExecType::Other;
                        tracker.apply(&ack, out);
                        terminal = Some(*u);
                    }
                    _ => tracker.apply(u, out),
                }
            }
        }
        let venue_id = tracker.get(cid).map_or(0, |t| t.venue_order_id);
        if venue_id != 0 {
            updates.clear();
            q.order_trades(instrument, venue_id, &mut updates)?;
            for u in &updates {
                tracker.apply(u, out);
            }
        }
        if let Some(t) = terminal {
            tracker.apply(&t, out);
        }
    }
    res.reports = out.len() - start;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::reports::OrdStatus;
    use kestrel_engine::{Dec, ExecKind, OrderType, PlaceOrder, RejectReason, Side, TimeInForce};

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    fn cid(n: u32) -> ClientOrderId {
        ClientOrderId::new(1, n)
    }

    fn base(c: Option<ClientOrderId>, venue: u64, exec: ExecType) -> OrderUpdate {
        OrderUpdate {
            cid: c,
            instrument: 0,
            venue_order_id: venue,
            exec,
            status: OrdStatus::Other,
            orig_qty: d("2"),
            cum_qty: Dec::ZERO,
            last_qty: Dec::ZERO,
            last_px: Dec::ZERO,
            fee: Dec::ZERO,
            fee_unconverted: false,
            trade_id: None,
            maker: false,
            venue_ms: 0,
            reason: RejectReason::None,
        }
    }

    fn trade(venue: u64, id: u64, qty: &str) -> OrderUpdate {
        OrderUpdate {
            trade_id: Some(id),
            last_qty: d(qty),
            last_px: d("10"),
            ..base(None, venue, ExecType::Trade)
        }
    }

    /// Order 1: acked, partly filled (trade 1) before the outage, filled (trade 2)
    /// during it. Order 2: never acked, open on the venue. Order 3: canceled during
    /// the outage. Order 4: never reached the venue, sent long ago. Order 5: never
    /// reached the venue, sent just now.
    struct Fake;
    impl VenueQueries for Fake {
        fn open_orders(&mut self, out: &mut Vec<OrderUpdate>) -> Result<(), BinanceError> {
            out.push(base(Some(cid(2)), 200, ExecType::New));
            Ok(())
        }
        fn query_order(
            &mut self,
            _: InstrumentId,
            c: ClientOrderId,
            out: &mut Vec<OrderUpdate>,
        ) -> Result<bool, BinanceError> {
            match c.counter() {
                1 => out.push(base(Some(c), 100, ExecType::New)),
                3 => out.push(base(Some(c), 300, ExecType::Canceled)),
                _ => return Ok(false),
            }
            Ok(true)
        }
        fn order_trades(
            &mut self,
            _: InstrumentId,
            venue: u64,
            out: &mut Vec<OrderUpdate>,
        ) -> Result<(), BinanceError> {
            if venue == 100 {
                out.push(trade(100, 1, "1"));
                out.push(trade(100, 2, "1"));
            }
            Ok(())
        }
    }

    #[test]
    fn missed_reports_once() {
        let mut t = OrderTracker::new();
        let mut out = Vec::new();
        for n in 1..=5 {
            let p = PlaceOrder {
                cid: cid(n),
                instrument: 0,
                side: Side::Buy,
                order_type: OrderType::Limit,
                tif: TimeInForce::Gtc,
                price: d("10"),
                qty: d("2"),
                position_action: Default::default(),
            };
            t.on_place(&p, 0, if n == 5 { 9_000 } else { 1_000 });
        }
        t.apply(&base(Some(cid(1)), 100, ExecType::New), &mut out);
        t.apply(&trade(100, 1, "1"), &mut out);
        let before = out.len();
        let r = reconcile(&mut t, &mut Fake, 10_000, 5_000, &mut out).unwrap();
        let got: Vec<_> = out[before..]
            .iter()
            .map(|r| (r.cid.counter(), r.kind, r.last_qty, r.venue_order_id))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, ExecKind::Ack, Dec::ZERO, 200),
                (1, ExecKind::Fill, d("1"), 100),
                (3, ExecKind::Canceled, Dec::ZERO, 300),
                (4, ExecKind::Rejected, Dec::ZERO, 0),
            ]
        );
        assert_eq!(
            r,
            Reconciled {
                checked: 5,
                reports: 4,
                pending: 1
            }
        );
        assert_eq!(t.stats.duplicate_fills, 1);
        // A second pass finds nothing new.
        let n = out.len();
        let r = reconcile(&mut t, &mut Fake, 10_000, 5_000, &mut out).unwrap();
        assert_eq!((out.len(), r.reports, r.pending), (n, 0, 1));
    }
}
