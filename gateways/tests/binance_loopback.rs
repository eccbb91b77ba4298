//! End-to-end tests of the Binance connector against the loopback mock venue
//! (`kestrel_gateways::binance::mock`): real sockets, real signatures, documented
//! payloads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kestrel_engine::{
    ClientOrderId, Dec, ExecKind, InstrumentSpec, Liquidity, Market, OrderType, PlaceOrder,
    PositionAction, RejectReason, Side, TimeInForce,
};
use kestrel_gateways::binance::{
    BinanceConfig, BinanceConnector, Clock, Credentials, MockVenue, Report, Secret, SystemClock,
    Transport, Venue,
};

const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

/// Bound of every wait that only guards against a hang: generous, so a loaded machine
/// does not fail a test that would pass (each wait ends as soon as its condition holds).
const HANG_GUARD: Duration = Duration::from_secs(30);

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn spec(market: Market) -> InstrumentSpec {
    InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: d("0.01"),
        lot_size: d("0.00001"),
        min_qty: Dec::ZERO,
        min_notional: Dec::ZERO,
        market,
        leverage: 1,
    }
}

/// System wall clock; monotonic clock = real elapsed time plus a jump the test sets.
#[derive(Clone)]
struct JumpClock {
    base: SystemClock,
    jump_ns: Arc<AtomicU64>,
}

impl Clock for JumpClock {
    fn wall_ms(&self) -> u64 {
        self.base.wall_ms()
    }
    fn mono_ns(&self) -> u64 {
        self.base.mono_ns() + self.jump_ns.load(Ordering::Relaxed)
    }
}

struct Setup {
    mock: MockVenue,
    conn: BinanceConnector,
    jump: Arc<AtomicU64>,
}

fn setup_with(venue: Venue, balance: &str, secret: &str) -> Setup {
    let market = match venue {
        Venue::Spot => Market::Spot,
        Venue::UsdM => Market::PerpetualOneway,
    };
    let mock = MockVenue::start(
        venue,
        KEY,
        SECRET.as_bytes(),
        vec![spec(market)],
        d(balance),
        HANG_GUARD * 4,
    )
    .unwrap();
    let mut cfg = BinanceConfig::new(
        venue,
        &mock.rest_addr(),
        &mock.ws_api_url(),
        &mock.stream_url(),
        vec![spec(market)],
    );
    cfg.ws.backoff_base = Duration::from_millis(20);
    cfg.ws.backoff_cap = Duration::from_millis(100);
    cfg.reconcile_retry_ms = 50;
    let jump = Arc::new(AtomicU64::new(0));
    let clock = JumpClock {
        base: SystemClock::default(),
        jump_ns: jump.clone(),
    };
    let creds = Credentials {
        api_key: KEY.into(),
        secret: Secret::new(secret),
    };
    let mut conn = BinanceConnector::new(cfg, creds, Box::new(clock)).unwrap();
    conn.start().unwrap();
    assert!(conn.wait_ready(HANG_GUARD).unwrap(), "connector not ready");
    Setup { mock, conn, jump }
}

fn setup(venue: Venue) -> Setup {
    setup_with(venue, "1000000", SECRET)
}

fn order(n: u32, side: Side, price: &str, qty: &str) -> PlaceOrder {
    PlaceOrder {
        cid: ClientOrderId::new(1, n),
        instrument: 0,
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        price: d(price),
        qty: d(qty),
        position_action: PositionAction::Open,
    }
}

/// Polls until `done(reports)`, failing after [`HANG_GUARD`].
fn poll_until(c: &mut BinanceConnector, out: &mut Vec<Report>, done: impl Fn(&[Report]) -> bool) {
    let until = Instant::now() + HANG_GUARD;
    while !done(out) {
        assert!(
            Instant::now() < until,
            "timed out; reports so far: {out:#?}; last error {:?}",
            c.last_error()
        );
        c.poll(Duration::from_millis(2), out).unwrap();
    }
}

/// Polls for `ms` more, to catch duplicates.
fn settle(c: &mut BinanceConnector, out: &mut Vec<Report>, ms: u64) {
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        c.poll(Duration::from_millis(2), out).unwrap();
    }
}

fn kinds(out: &[Report]) -> Vec<(u32, ExecKind)> {
    out.iter()
        .map(|r| (r.exec.cid.counter(), r.exec.kind))
        .collect()
}

fn has(out: &[Report], n: u32, k: ExecKind) -> bool {
    out.iter()
        .any(|r| r.exec.cid.counter() == n && r.exec.kind == k)
}

/// The connector can be moved into its own thread.
#[test]
fn connector_is_send() {
    fn send<T: Send>() {}
    send::<BinanceConnector>();
    send::<MockVenue>();
}

#[test]
fn spot_place_ack_partial_fill_fill() {
    let Setup { mock, mut conn, .. } = setup(Venue::Spot);
    let mut out = Vec::new();
    let p = order(1, Side::Buy, "60000", "0.003");
    let sent = conn.place(&p).unwrap();
    assert_eq!(sent.transport, Transport::WsApi);
    assert!(sent.sent_ns > 0);
    assert_eq!(conn.tracker().get(p.cid).unwrap().sent_ns, sent.sent_ns);
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Ack));
    let ack = out[0];
    assert!(ack.recv_ns >= sent.sent_ns);
    assert_eq!(
        (ack.exec.venue_order_id, ack.exec.leaves_qty),
        (1000, d("0.003"))
    );

    let t1 = mock.fill(p.cid, d("0.001"), d("59999.5"), true).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::PartialFill));
    let t2 = mock.fill(p.cid, d("0.002"), d("59999.9"), false).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Fill));
    settle(&mut conn, &mut out, 100);
    assert_eq!(
        kinds(&out),
        vec![
            (1, ExecKind::Ack),
            (1, ExecKind::PartialFill),
            (1, ExecKind::Fill)
        ]
    );
    assert_eq!((t1, t2), (5000, 5001));
    let pf = out[1].exec;
    assert_eq!(
        (pf.last_qty, pf.last_px, pf.cum_qty, pf.leaves_qty),
        (d("0.001"), d("59999.5"), d("0.001"), d("0.002"))
    );
    // Fee: 0.1 % of 59.9995 USDT, charged in the quote asset.
    assert_eq!((pf.fee, pf.liquidity), (d("0.0599995"), Liquidity::Maker));
    let f = out[2].exec;
    assert_eq!(
        (f.last_qty, f.last_px, f.cum_qty, f.leaves_qty),
        (d("0.002"), d("59999.9"), d("0.003"), Dec::ZERO)
    );
    assert_eq!((f.fee, f.liquidity), (d("0.1199998"), Liquidity::Taker));
    assert!(out[2].venue_ts_ns > 1_600_000_000_000_000_000);

    // The response's status NEW and the stream's NEW gave one ack; rate limits came
    // from the WebSocket API and REST headers.
    assert_eq!(conn.tracker_stats().duplicate_fills, 0);
    let rl = conn.rate_limits();
    assert_eq!(rl.orders_10s.limit, 50);
    assert!(rl.weight_1m.count >= 3, "{rl:?}");
    assert_eq!(mock.signature_failures(), 0);
    assert_eq!(conn.stats().ws_requests, 1);
    let log = mock.log();
    assert_eq!(
        log[..2],
        [
            "GET /api/v3/time".to_string(),
            "POST /api/v3/userDataStream".to_string()
        ]
    );
    assert!(log.contains(&"ws order.place".to_string()));
}

#[test]
fn spot_reject_cancel_and_replace() {
    let Setup { mock, mut conn, .. } = setup_with(Venue::Spot, "100", SECRET);
    let mut out = Vec::new();
    // 0.01 × 60000 = 600 USDT > 100: -2010.
    conn.place(&order(1, Side::Buy, "60000", "0.01")).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Rejected));
    assert_eq!(out[0].exec.reason, RejectReason::InsufficientBalance);
    assert!(
        conn.last_error()
            .unwrap()
            .contains("-2010 (NEW_ORDER_REJECTED): Account has insufficient balance"),
        "{:?}",
        conn.last_error()
    );
    // -1013 LOT_SIZE.
    conn.place(&order(2, Side::Sell, "60000", "0.000015"))
        .unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 2, ExecKind::Rejected));
    assert_eq!(out[1].exec.reason, RejectReason::BadLot);

    // Cancel, then a second cancel that the venue refuses (-2011) after the first.
    let p = order(3, Side::Sell, "61000", "0.001");
    conn.place(&p).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 3, ExecKind::Ack));
    conn.cancel(p.cid, 0).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 3, ExecKind::Canceled));
    let errors = conn.stats().venue_errors;
    conn.cancel(p.cid, 0).unwrap();
    let until = Instant::now() + HANG_GUARD;
    while conn.stats().venue_errors == errors && Instant::now() < until {
        conn.poll(Duration::from_millis(2), &mut out).unwrap();
    }
    assert!(conn
        .last_error()
        .unwrap()
        .contains("-2011 (CANCEL_REJECTED): Unknown order sent."));

    // Cancel-replace: the new venue order acks under the same client id; the old
    // order's CANCELED is not reported.
    let p = order(4, Side::Sell, "62000", "0.001");
    conn.place(&p).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 4, ExecKind::Ack));
    conn.modify(p.cid, d("62500"), d("0.002")).unwrap();
    poll_until(&mut conn, &mut out, |o| {
        o.iter().filter(|r| r.exec.cid.counter() == 4).count() == 2
    });
    settle(&mut conn, &mut out, 100);
    assert_eq!(
        kinds(&out),
        vec![
            (1, ExecKind::Rejected),
            (2, ExecKind::Rejected),
            (3, ExecKind::Ack),
            (3, ExecKind::Canceled),
            (4, ExecKind::Ack),
            (4, ExecKind::Ack),
        ]
    );
    let last = out[5].exec;
    assert_eq!((last.venue_order_id, last.leaves_qty), (1002, d("0.002")));
    assert_eq!(mock.open_orders(), 1);
    assert!(mock.log().contains(&"ws order.cancelReplace".to_string()));
}

#[test]
fn disconnect_mid_order_then_reconcile_emits_missed_fill_once() {
    let Setup { mock, mut conn, .. } = setup(Venue::Spot);
    let mut out = Vec::new();
    let p = order(1, Side::Buy, "60000", "0.003");
    conn.place(&p).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Ack));
    mock.fill(p.cid, d("0.001"), d("60000"), true).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::PartialFill));

    // Both WebSockets drop; the rest of the order fills while the stream is down.
    mock.set_ws_down(true);
    let until = Instant::now() + HANG_GUARD;
    while conn.stats().disconnects < 2 && Instant::now() < until {
        conn.poll(Duration::from_millis(2), &mut out).unwrap();
    }
    assert!(conn.stats().disconnects >= 2);
    mock.fill(p.cid, d("0.002"), d("60000.5"), true).unwrap();
    // An order placed meanwhile goes over REST and is acked by its response.
    let q = order(2, Side::Sell, "61000", "0.001");
    let sent = conn.place(&q).unwrap();
    assert_eq!(sent.transport, Transport::Rest);
    assert!(sent.sent_ns > 0);
    settle(&mut conn, &mut out, 150);
    assert!(
        !has(&out, 1, ExecKind::Fill),
        "fill seen while the stream was down"
    );
    assert!(has(&out, 2, ExecKind::Ack));

    mock.set_ws_down(false);
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Fill));
    settle(&mut conn, &mut out, 300);
    assert_eq!(
        kinds(&out),
        vec![
            (1, ExecKind::Ack),
            (1, ExecKind::PartialFill),
            (2, ExecKind::Ack),
            (1, ExecKind::Fill)
        ]
    );
    let f = out[3].exec;
    assert_eq!(
        (f.last_qty, f.last_px, f.cum_qty, f.leaves_qty),
        (d("0.002"), d("60000.5"), d("0.003"), Dec::ZERO)
    );
    assert_eq!(f.fee, d("0.120001"));
    // myTrades returned the first trade again: dropped by trade id.
    assert!(conn.tracker_stats().duplicate_fills >= 1);
    assert!(conn.stats().reconciles >= 1);
    assert_eq!(conn.stats().rest_requests, 1);
    // The REST order response's X-MBX-ORDER-COUNT-10S header: two orders so far.
    assert_eq!(conn.rate_limits().orders_10s.count, 2);
    let log = mock.log();
    for req in [
        "GET /api/v3/openOrders",
        "GET /api/v3/myTrades",
        "GET /api/v3/order",
        "POST /api/v3/order",
    ] {
        assert!(log.iter().any(|l| l == req), "{req} missing from {log:?}");
    }
    assert!(conn.is_ready());
}

#[test]
fn timestamp_error_resyncs_clock_and_resends_once() {
    let Setup { mock, mut conn, .. } = setup(Venue::Spot);
    let mut out = Vec::new();
    assert_eq!(conn.stats().clock_syncs, 1);
    // The venue clock jumps 20 s ahead: our timestamps fall outside recvWindow.
    mock.set_skew_ms(20_000);
    conn.place(&order(1, Side::Buy, "60000", "0.001")).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Ack));
    settle(&mut conn, &mut out, 100);
    assert_eq!(kinds(&out), vec![(1, ExecKind::Ack)]);
    let s = conn.stats();
    assert_eq!((s.clock_syncs, s.resends, s.venue_errors), (2, 1, 1));
    let off = conn.clock_sync().offset_ms;
    assert!((19_000..=21_000).contains(&off), "offset {off}");
    let log = mock.log();
    assert_eq!(log.iter().filter(|l| *l == "ws order.place").count(), 2);
    assert_eq!(log.iter().filter(|l| *l == "GET /api/v3/time").count(), 2);
    assert!(conn.last_error().unwrap().contains("-1021"));
}

#[test]
fn implausible_server_time_fails_the_clock_sync_with_a_reason() {
    let mock = MockVenue::start(
        Venue::Spot,
        KEY,
        SECRET.as_bytes(),
        vec![spec(Market::Spot)],
        d("1000"),
        HANG_GUARD * 4,
    )
    .unwrap();
    // The venue claims a time two days ahead of ours.
    mock.set_skew_ms(2 * 86_400_000);
    let cfg = BinanceConfig::new(
        Venue::Spot,
        &mock.rest_addr(),
        &mock.ws_api_url(),
        &mock.stream_url(),
        vec![spec(Market::Spot)],
    );
    let creds = Credentials {
        api_key: KEY.into(),
        secret: Secret::new(SECRET),
    };
    let mut conn = BinanceConnector::new(cfg, creds, Box::new(SystemClock::default())).unwrap();
    let err = conn.start().unwrap_err().to_string();
    assert!(
        err.contains("from the local clock") && err.contains("clock offset not updated"),
        "{err}"
    );
    assert_eq!(conn.clock_sync().syncs, 0);
    // Nothing signed went out with a timestamp built on the bogus offset.
    assert_eq!(mock.log(), vec!["GET /api/v3/time".to_string()]);
}

#[test]
fn listen_key_keepalive_every_thirty_minutes_and_renewal() {
    let Setup {
        mock,
        mut conn,
        jump,
    } = setup(Venue::Spot);
    let mut out = Vec::new();
    const MIN: u64 = 60_000_000_000;
    jump.store(29 * MIN, Ordering::Relaxed);
    conn.poll(Duration::from_millis(1), &mut out).unwrap();
    assert_eq!(mock.keepalives(), 0);
    jump.store(30 * MIN + 1_000_000_000, Ordering::Relaxed);
    conn.poll(Duration::from_millis(1), &mut out).unwrap();
    assert_eq!((mock.keepalives(), conn.stats().keepalives), (1, 1));
    conn.poll(Duration::from_millis(1), &mut out).unwrap();
    assert_eq!(mock.keepalives(), 1);
    jump.store(61 * MIN, Ordering::Relaxed);
    conn.poll(Duration::from_millis(1), &mut out).unwrap();
    assert_eq!(mock.keepalives(), 2);
    assert!(mock.log().iter().any(|l| l == "PUT /api/v3/userDataStream"));

    // The venue expires the key: the connector creates a new one and reconnects.
    let old = conn.listen_key().unwrap().to_string();
    mock.expire_listen_key();
    let until = Instant::now() + HANG_GUARD;
    while (mock.listen_keys_made() < 2 || !conn.is_ready()) && Instant::now() < until {
        conn.poll(Duration::from_millis(2), &mut out).unwrap();
    }
    assert_eq!(mock.listen_keys_made(), 2);
    assert_ne!(conn.listen_key().unwrap(), old);
    assert!(conn.is_ready());
    // Orders still flow on the new stream.
    let p = order(1, Side::Buy, "60000", "0.001");
    conn.place(&p).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Ack));
    mock.fill(p.cid, d("0.001"), d("60000"), true).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Fill));
    assert_eq!(kinds(&out), vec![(1, ExecKind::Ack), (1, ExecKind::Fill)]);
}

#[test]
fn usdm_order_trade_update_flow() {
    let Setup { mock, mut conn, .. } = setup(Venue::UsdM);
    let mut out = Vec::new();
    let mut p = order(1, Side::Sell, "60000", "0.004");
    p.order_type = OrderType::LimitMaker;
    conn.place(&p).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Ack));
    mock.fill(p.cid, d("0.001"), d("60000"), true).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::PartialFill));
    // order.modify amends in place: reported as a new ack with the new quantity.
    conn.modify(p.cid, d("60010"), d("0.003")).unwrap();
    poll_until(&mut conn, &mut out, |o| {
        o.iter().filter(|r| r.exec.kind == ExecKind::Ack).count() == 2
    });
    mock.fill(p.cid, d("0.002"), d("60010"), false).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Fill));
    // -2019 margin insufficient.
    conn.place(&order(2, Side::Buy, "60000", "100")).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 2, ExecKind::Rejected));
    settle(&mut conn, &mut out, 100);
    assert_eq!(
        kinds(&out),
        vec![
            (1, ExecKind::Ack),
            (1, ExecKind::PartialFill),
            (1, ExecKind::Ack),
            (1, ExecKind::Fill),
            (2, ExecKind::Rejected),
        ]
    );
    let f = out[3].exec;
    assert_eq!(
        (f.last_qty, f.cum_qty, f.leaves_qty, f.fee),
        (d("0.002"), d("0.003"), Dec::ZERO, d("0.12002"))
    );
    assert_eq!(out[4].exec.reason, RejectReason::InsufficientBalance);
    let log = mock.log();
    assert_eq!(
        log[..2],
        [
            "GET /fapi/v1/time".to_string(),
            "POST /fapi/v1/listenKey".to_string()
        ]
    );
    assert!(log.contains(&"ws order.modify".to_string()));
}

#[test]
fn wrong_secret_is_refused_and_never_printed() {
    let wrong = "WRONGsecretWRONGsecretWRONGsecretWRONGsecretWRONGsecretWRONGsecr";
    let Setup { mock, mut conn, .. } = setup_with(Venue::Spot, "1000000", wrong);
    let mut out = Vec::new();
    conn.place(&order(1, Side::Buy, "60000", "0.001")).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Rejected));
    assert_eq!(mock.signature_failures(), 1);
    let err = conn.last_error().unwrap().to_string();
    assert!(err.contains("-1022 (INVALID_SIGNATURE)"), "{err}");
    let shown = format!("{conn:?} {err} {:?}", conn.stats());
    for s in [wrong, SECRET, &wrong[..12]] {
        assert!(!shown.contains(s), "secret in {shown}");
    }
}

#[test]
fn rate_limit_ban_rejects_and_blocks_new_orders() {
    let Setup { mock, mut conn, .. } = setup(Venue::Spot);
    let mut out = Vec::new();
    let until = mock.now_ms() + 60_000;
    mock.fail_next_order(
        418,
        -1003,
        "Way too much request weight used; IP banned until 1659146400000. Please use WebSocket Streams for live updates to avoid bans.",
        until,
    );
    conn.place(&order(1, Side::Buy, "60000", "0.001")).unwrap();
    poll_until(&mut conn, &mut out, |o| has(o, 1, ExecKind::Rejected));
    assert_eq!(out[0].exec.reason, RejectReason::RateLimited);
    assert_eq!(conn.rate_limits().blocked_until_ms, until);
    // Refused locally while the ban runs: an error and a Rejected report, no request.
    let e = conn
        .place(&order(2, Side::Buy, "60000", "0.001"))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("Binance rate limit: no requests until venue time {until} ms")
    );
    conn.poll(Duration::from_millis(1), &mut out).unwrap();
    assert_eq!(
        kinds(&out),
        vec![(1, ExecKind::Rejected), (2, ExecKind::Rejected)]
    );
    assert_eq!(out[1].exec.reason, RejectReason::RateLimited);
    assert_eq!(
        mock.log().iter().filter(|l| *l == "ws order.place").count(),
        1
    );
}
