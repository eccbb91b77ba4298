//! Behaviour of the simulated venue, with exact numbers.

use kestrel_engine::config::{QueueModel, VenueConfig};
use kestrel_engine::{
    Action, BookTicker, ClientOrderId, Dec, Depth, Event, ExecKind, ExecReport, InstrumentSpec,
    Level, Liquidity, OrderType, PlaceOrder, RejectReason, Side, TimeInForce, Trade, DEPTH_CHUNK,
};
use kestrel_gateways::SimVenue;
use std::collections::BTreeMap;

type Out = Vec<(u64, ExecReport)>;

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn cid(n: u32) -> ClientOrderId {
    ClientOrderId::new(1, n)
}

fn btcusdt() -> InstrumentSpec {
    InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: d("0.01"),
        lot_size: d("0.00001"),
        min_qty: Dec::ZERO,
        min_notional: d("5"),
        market: Default::default(),
        leverage: 1,
    }
}

fn config(latency_ns: u64) -> VenueConfig {
    VenueConfig {
        latency_ns,
        maker_fee: d("0.0002"),
        taker_fee: d("0.0004"),
        ..VenueConfig::default()
    }
}

fn venue_from(cfg: &VenueConfig, usdt: &str, btc: &str) -> SimVenue {
    let mut bal = BTreeMap::new();
    bal.insert("USDT".to_string(), d(usdt));
    bal.insert("BTC".to_string(), d(btc));
    SimVenue::new(cfg, &[btcusdt()], &bal)
}

fn venue_with(latency_ns: u64, usdt: &str, btc: &str) -> SimVenue {
    venue_from(&config(latency_ns), usdt, btc)
}

fn venue(latency_ns: u64) -> SimVenue {
    venue_with(latency_ns, "100000", "1")
}

/// A venue without a queue model (trades at an order's price never fill it).
fn venue_no_queue(latency_ns: u64) -> SimVenue {
    let cfg = VenueConfig {
        queue_model: QueueModel::None,
        ..config(latency_ns)
    };
    venue_from(&cfg, "100000", "1")
}

fn ticker(bid: &str, bq: &str, ask: &str, aq: &str) -> Event {
    Event::BookTicker(BookTicker {
        instrument: 0,
        bid_px: d(bid),
        bid_qty: d(bq),
        ask_px: d(ask),
        ask_qty: d(aq),
        update_id: 0,
    })
}

/// A trade whose aggressor sold (it hits bids).
fn trade(px: &str, qty: &str) -> Event {
    trade_by(Side::Sell, px, qty)
}

fn trade_by(aggressor: Side, px: &str, qty: &str) -> Event {
    Event::Trade(Trade {
        instrument: 0,
        px: d(px),
        qty: d(qty),
        aggressor,
        trade_id: 1,
    })
}

fn snapshot(levels: &[(Side, &str, &str)]) -> Event {
    depth(true, levels)
}

fn diff(levels: &[(Side, &str, &str)]) -> Event {
    depth(false, levels)
}

fn depth(snapshot: bool, levels: &[(Side, &str, &str)]) -> Event {
    let mut dp = Depth {
        instrument: 0,
        snapshot,
        first_chunk: true,
        last_chunk: true,
        len: levels.len() as u8,
        ..Depth::default()
    };
    for (i, (side, px, qty)) in levels.iter().enumerate() {
        dp.levels[i] = Level {
            side: *side,
            px: d(px),
            qty: d(qty),
        };
    }
    Event::Depth(dp)
}

fn order(n: u32, side: Side, ty: OrderType, tif: TimeInForce, px: &str, qty: &str) -> Action {
    Action::Place(PlaceOrder {
        cid: cid(n),
        instrument: 0,
        side,
        order_type: ty,
        tif,
        price: d(px),
        qty: d(qty),
        position_action: Default::default(),
    })
}

fn limit(n: u32, side: Side, px: &str, qty: &str) -> Action {
    order(n, side, OrderType::Limit, TimeInForce::Gtc, px, qty)
}

fn market(n: u32, side: Side, qty: &str) -> Action {
    order(n, side, OrderType::Market, TimeInForce::Gtc, "0", qty)
}

fn cancel(n: u32) -> Action {
    Action::Cancel {
        cid: cid(n),
        instrument: 0,
    }
}

fn kinds(out: &Out) -> Vec<ExecKind> {
    out.iter().map(|(_, r)| r.kind).collect()
}

fn bal(v: &SimVenue, asset: &str) -> (Dec, Dec) {
    v.balance(asset).unwrap()
}

#[test]
fn resting_buy_fills_as_maker_when_ask_crosses() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(1, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(10, &limit(1, Side::Buy, "60000", "0.001"), &mut out);
    assert_eq!(out.len(), 1);
    let (ts, ack) = out[0];
    assert_eq!(ts, 10);
    assert_eq!(ack.kind, ExecKind::Ack);
    assert_eq!(ack.venue_order_id, 1);
    assert_eq!(ack.leaves_qty, d("0.001"));
    assert_eq!(ack.cum_qty, Dec::ZERO);
    assert_eq!(v.open_orders(), 1);
    // 60 notional + 0.024 worst-case fee locked.
    assert_eq!(bal(&v, "USDT"), (d("100000"), d("60.024")));

    out.clear();
    v.on_market(20, &ticker("59980", "1", "59995", "2"), &mut out);
    assert_eq!(out.len(), 1);
    let (ts, f) = out[0];
    assert_eq!(ts, 20);
    assert_eq!(f.kind, ExecKind::Fill);
    assert_eq!(f.cid, cid(1));
    assert_eq!(f.venue_order_id, 1);
    assert_eq!(f.last_px, d("60000"));
    assert_eq!(f.last_qty, d("0.001"));
    assert_eq!(f.cum_qty, d("0.001"));
    assert_eq!(f.leaves_qty, Dec::ZERO);
    assert_eq!(f.fee, d("0.012"));
    assert_eq!(f.liquidity, Liquidity::Maker);
    assert_eq!(v.open_orders(), 0);
    assert_eq!(bal(&v, "USDT"), (d("99939.988"), Dec::ZERO));
    assert_eq!(bal(&v, "BTC"), (d("1.001"), Dec::ZERO));
}

#[test]
fn trade_through_fills_but_trade_at_price_does_not() {
    let mut v = venue_no_queue(0);
    let mut out = Out::new();
    v.on_market(1, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(2, &limit(1, Side::Buy, "60000", "0.002"), &mut out);
    out.clear();
    v.on_market(3, &trade("60000", "5"), &mut out);
    assert!(
        out.is_empty(),
        "a trade at the order's price must not fill it"
    );
    v.on_market(4, &trade("59999.99", "0.0015"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::PartialFill]);
    let f = out[0].1;
    assert_eq!((f.last_px, f.last_qty), (d("60000"), d("0.0015")));
    assert_eq!((f.cum_qty, f.leaves_qty), (d("0.0015"), d("0.0005")));
    assert_eq!(f.fee, d("0.018"));
    assert_eq!(f.liquidity, Liquidity::Maker);
    out.clear();
    v.on_market(5, &trade("59999", "1"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Fill]);
    let f = out[0].1;
    assert_eq!(
        (f.last_qty, f.cum_qty, f.leaves_qty),
        (d("0.0005"), d("0.002"), Dec::ZERO)
    );
    assert_eq!(f.fee, d("0.006"));
    assert_eq!(bal(&v, "USDT"), (d("99879.976"), Dec::ZERO));
    assert_eq!(bal(&v, "BTC"), (d("1.002"), Dec::ZERO));
}

#[test]
fn sell_trade_through_and_balances() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(1, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(2, &limit(1, Side::Sell, "60000", "0.5"), &mut out);
    assert_eq!(bal(&v, "BTC"), (d("1"), d("0.5")));
    out.clear();
    v.on_market(3, &trade("60000.01", "2"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Fill]);
    assert_eq!(out[0].1.fee, d("6"));
    // 30000 proceeds − 6 maker fee.
    assert_eq!(bal(&v, "USDT"), (d("129994"), Dec::ZERO));
    assert_eq!(bal(&v, "BTC"), (d("0.5"), Dec::ZERO));
}

#[test]
fn partial_fills_then_fill_and_liquidity_is_not_reused() {
    let mut v = venue_no_queue(0);
    let mut out = Out::new();
    v.on_market(1, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(2, &limit(1, Side::Buy, "60000", "0.001"), &mut out);
    v.on_action(3, &limit(2, Side::Buy, "59999", "0.001"), &mut out);
    out.clear();
    // 0.0004 offered below both: the better-priced order takes all of it.
    v.on_market(4, &ticker("59980", "1", "59990", "0.0004"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::PartialFill]);
    assert_eq!(out[0].1.cid, cid(1));
    assert_eq!(
        (out[0].1.cum_qty, out[0].1.leaves_qty),
        (d("0.0004"), d("0.0006"))
    );
    // Consumed: a trade-free re-check (a trade at a price not through) fills nothing.
    out.clear();
    v.on_market(5, &trade("60000", "1"), &mut out);
    assert!(out.is_empty());
    // The feed restates 0.0004: the same order takes it again.
    v.on_market(6, &ticker("59980", "1", "59990", "0.0004"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::PartialFill]);
    assert_eq!(out[0].1.cum_qty, d("0.0008"));
    out.clear();
    v.on_market(7, &ticker("59980", "1", "59990", "1"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Fill, ExecKind::Fill]);
    assert_eq!((out[0].1.cid, out[0].1.last_qty), (cid(1), d("0.0002")));
    assert_eq!((out[1].1.cid, out[1].1.last_px), (cid(2), d("59999")));
    assert_eq!(v.open_orders(), 0);
}

#[test]
fn market_buy_walks_three_levels() {
    let mut v = venue(0);
    let mut out = Out::new();
    let book = snapshot(&[
        (Side::Buy, "60000", "1"),
        (Side::Sell, "60010", "0.001"),
        (Side::Sell, "60020", "0.002"),
        (Side::Sell, "60030", "0.005"),
    ]);
    v.on_market(1, &book, &mut out);
    v.on_action(2, &market(1, Side::Buy, "0.004"), &mut out);
    assert_eq!(
        kinds(&out),
        vec![
            ExecKind::Ack,
            ExecKind::PartialFill,
            ExecKind::PartialFill,
            ExecKind::Fill
        ]
    );
    let fills: Vec<_> = out[1..]
        .iter()
        .map(|(_, r)| (r.last_px, r.last_qty, r.fee))
        .collect();
    assert_eq!(
        fills,
        vec![
            (d("60010"), d("0.001"), d("0.024004")),
            (d("60020"), d("0.002"), d("0.048016")),
            (d("60030"), d("0.001"), d("0.024012")),
        ]
    );
    assert!(out[1..]
        .iter()
        .all(|(ts, r)| *ts == 2 && r.liquidity == Liquidity::Taker));
    let notional = out[1..]
        .iter()
        .fold(Dec::ZERO, |a, (_, r)| a + r.last_px.mul(r.last_qty));
    let cum = out[3].1.cum_qty;
    assert_eq!(cum, d("0.004"));
    assert_eq!(notional, d("240.08"));
    assert_eq!(notional.div(cum).unwrap(), d("60020"));
    assert_eq!(bal(&v, "USDT"), (d("99759.823968"), Dec::ZERO));
    assert_eq!(bal(&v, "BTC"), (d("1.004"), Dec::ZERO));
    // The venue's book copy is consumed: the next market buy starts at 60030.
    out.clear();
    v.on_action(3, &market(2, Side::Buy, "0.001"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::Fill]);
    assert_eq!(out[1].1.last_px, d("60030"));
    assert_eq!(out[1].1.venue_order_id, 2);
}

#[test]
fn market_buy_is_capped_by_free_quote() {
    let mut v = venue_with(0, "100", "0");
    let mut out = Out::new();
    let book = snapshot(&[(Side::Sell, "60000", "0.001"), (Side::Sell, "70000", "1")]);
    v.on_market(1, &book, &mut out);
    v.on_action(2, &market(1, Side::Buy, "0.0016"), &mut out);
    assert_eq!(
        kinds(&out),
        vec![
            ExecKind::Ack,
            ExecKind::PartialFill,
            ExecKind::PartialFill,
            ExecKind::Expired
        ]
    );
    assert_eq!(
        (out[2].1.last_px, out[2].1.last_qty),
        (d("70000"), d("0.00057"))
    );
    assert_eq!(out[3].1.leaves_qty, d("0.00003"));
    // 100 − 60.024 − 39.91596
    assert_eq!(bal(&v, "USDT"), (d("0.06004"), Dec::ZERO));
    assert_eq!(bal(&v, "BTC"), (d("0.00157"), Dec::ZERO));
}

#[test]
fn crossing_limit_takes_then_rests() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(
        1,
        &snapshot(&[(Side::Sell, "60010", "0.001"), (Side::Sell, "60030", "1")]),
        &mut out,
    );
    v.on_action(2, &limit(1, Side::Buy, "60020", "0.003"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::PartialFill]);
    let f = out[1].1;
    assert_eq!(
        (f.last_px, f.last_qty, f.liquidity),
        (d("60010"), d("0.001"), Liquidity::Taker)
    );
    assert_eq!(f.fee, d("0.024004"));
    assert_eq!(v.open_orders(), 1);
    // Rest locked at the limit price: 60020 × 0.002 × 1.0004.
    assert_eq!(bal(&v, "USDT").1, d("120.088016"));
}

#[test]
fn ioc_and_fok() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(1, &ticker("59990", "1", "60010", "0.001"), &mut out);
    v.on_action(
        2,
        &order(
            1,
            Side::Buy,
            OrderType::Limit,
            TimeInForce::Fok,
            "60020",
            "0.003",
        ),
        &mut out,
    );
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::Expired]);
    assert_eq!(
        (out[1].1.cum_qty, out[1].1.leaves_qty),
        (Dec::ZERO, d("0.003"))
    );
    assert_eq!(bal(&v, "USDT"), (d("100000"), Dec::ZERO));
    out.clear();
    v.on_action(
        3,
        &order(
            2,
            Side::Buy,
            OrderType::Limit,
            TimeInForce::Ioc,
            "60020",
            "0.003",
        ),
        &mut out,
    );
    assert_eq!(
        kinds(&out),
        vec![ExecKind::Ack, ExecKind::PartialFill, ExecKind::Expired]
    );
    assert_eq!(out[1].1.last_px, d("60010"));
    assert_eq!(out[2].1.leaves_qty, d("0.002"));
    assert_eq!(v.open_orders(), 0);
    assert_eq!(bal(&v, "USDT").1, Dec::ZERO);
    // FOK that fits fills in full.
    out.clear();
    v.on_market(4, &ticker("59990", "1", "60010", "0.001"), &mut out);
    v.on_action(
        5,
        &order(
            3,
            Side::Sell,
            OrderType::Limit,
            TimeInForce::Fok,
            "59990",
            "0.001",
        ),
        &mut out,
    );
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::Fill]);
    assert_eq!(out[1].1.last_px, d("59990"));
}

#[test]
fn orders_short_of_the_touch_take_nothing_and_orders_at_it_take() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(1, &ticker("59990", "1", "60010", "1"), &mut out);
    // A fill-or-kill buy below the ask and an immediate-or-cancel sell above the bid
    // reach nothing: both expire whole and lock nothing afterwards.
    let tifs = [
        (1, Side::Buy, TimeInForce::Fok),
        (2, Side::Sell, TimeInForce::Ioc),
    ];
    for (n, side, tif) in tifs {
        out.clear();
        let o = order(n, side, OrderType::Limit, tif, "60000", "0.002");
        v.on_action(2, &o, &mut out);
        assert_eq!(
            kinds(&out),
            vec![ExecKind::Ack, ExecKind::Expired],
            "{tif:?}"
        );
        assert_eq!(
            (out[1].1.cum_qty, out[1].1.leaves_qty),
            (Dec::ZERO, d("0.002"))
        );
    }
    assert_eq!(v.open_orders(), 0);
    assert_eq!(
        (bal(&v, "USDT").1, bal(&v, "BTC").1),
        (Dec::ZERO, Dec::ZERO)
    );
    // A GTC limit short of the touch rests; one exactly at the touch takes it.
    out.clear();
    v.on_action(3, &limit(3, Side::Buy, "60009.99", "0.002"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack]);
    out.clear();
    v.on_action(4, &limit(4, Side::Buy, "60010", "0.002"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::Fill]);
    assert_eq!(
        (out[1].1.last_px, out[1].1.liquidity),
        (d("60010"), Liquidity::Taker)
    );
    out.clear();
    let o = order(
        5,
        Side::Sell,
        OrderType::Limit,
        TimeInForce::Fok,
        "59990",
        "0.002",
    );
    v.on_action(5, &o, &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::Fill]);
    assert_eq!(out[1].1.last_px, d("59990"));
    assert_eq!(v.open_orders(), 1);
}

#[test]
fn rejects() {
    let mut v = venue(0);
    let mut out = Out::new();
    // No book yet.
    v.on_action(1, &market(1, Side::Buy, "0.001"), &mut out);
    v.on_market(2, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(3, &limit(2, Side::Buy, "60000.005", "0.001"), &mut out);
    v.on_action(4, &limit(3, Side::Buy, "60000", "0.000015"), &mut out);
    v.on_action(5, &limit(4, Side::Buy, "60000", "0.00008"), &mut out);
    v.on_action(6, &market(5, Side::Buy, "0.00008"), &mut out);
    v.on_action(7, &limit(6, Side::Buy, "60000", "1.6664"), &mut out);
    v.on_action(8, &limit(7, Side::Sell, "60000", "1.5"), &mut out);
    v.on_action(
        9,
        &order(
            8,
            Side::Buy,
            OrderType::LimitMaker,
            TimeInForce::Gtc,
            "60010",
            "0.001",
        ),
        &mut out,
    );
    v.on_action(
        10,
        &order(
            9,
            Side::Sell,
            OrderType::LimitMaker,
            TimeInForce::Gtc,
            "59990",
            "0.001",
        ),
        &mut out,
    );
    let mut unknown = limit(10, Side::Buy, "60000", "0.001");
    if let Action::Place(p) = &mut unknown {
        p.instrument = 7;
    }
    v.on_action(11, &unknown, &mut out);
    v.on_action(12, &limit(11, Side::Buy, "0", "0.001"), &mut out);
    v.on_action(13, &limit(12, Side::Buy, "60000", "0"), &mut out);
    let got: Vec<_> = out
        .iter()
        .map(|(ts, r)| (*ts, r.kind, r.reason, r.venue_order_id))
        .collect();
    use RejectReason::*;
    let want: Vec<_> = [
        (1, NoLiquidity),
        (3, BadTick),
        (4, BadLot),
        (5, MinNotional),
        (6, MinNotional),
        (7, InsufficientBalance),
        (8, InsufficientBalance),
        (9, WouldTake),
        (10, WouldTake),
        (11, UnknownInstrument),
        (12, BadTick),
        (13, BadLot),
    ]
    .into_iter()
    .map(|(ts, r)| (ts, ExecKind::Rejected, r, 0))
    .collect();
    assert_eq!(got, want);
    assert_eq!(out[9].1.instrument, 7);
    // Exactly affordable with the taker fee: 1.666 × 60000 × 1.0004 = 99999.984.
    out.clear();
    v.on_action(14, &limit(13, Side::Buy, "60000", "1.666"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack]);
    assert_eq!(out[0].1.venue_order_id, 1);
    assert_eq!(bal(&v, "USDT"), (d("100000"), d("99999.984")));
    // A post-only order that does not cross rests.
    out.clear();
    v.on_action(
        15,
        &order(
            14,
            Side::Sell,
            OrderType::LimitMaker,
            TimeInForce::Gtc,
            "60010",
            "0.001",
        ),
        &mut out,
    );
    assert_eq!(kinds(&out), vec![ExecKind::Ack]);
    assert_eq!(v.open_orders(), 2);
}

#[test]
fn latency_market_move_before_arrival_fills_as_taker() {
    let mut v = venue(1_000_000);
    let mut out = Out::new();
    v.on_market(0, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(100, &limit(1, Side::Buy, "60000", "0.001"), &mut out);
    assert!(out.is_empty());
    assert!(v.has_pending());
    // The ask drops to 59990 before the order arrives.
    v.on_market(500_000, &ticker("59980", "1", "59990", "1"), &mut out);
    assert!(out.is_empty());
    assert_eq!(v.open_orders(), 0);
    v.advance(1_000_099, &mut out);
    assert!(out.is_empty());
    v.advance(1_000_100, &mut out);
    assert!(!v.has_pending());
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::Fill]);
    assert!(out.iter().all(|(ts, _)| *ts == 1_000_100));
    let f = out[1].1;
    assert_eq!(
        (f.last_px, f.liquidity, f.fee),
        (d("59990"), Liquidity::Taker, d("0.023996"))
    );
}

#[test]
fn latency_market_move_after_arrival_fills_as_maker() {
    let mut v = venue(1_000_000);
    let mut out = Out::new();
    v.on_market(0, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(100, &limit(1, Side::Buy, "60000", "0.001"), &mut out);
    // A market event at exactly the arrival time: the request is processed first.
    v.on_market(1_000_100, &ticker("59980", "1", "59990", "1"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::Fill]);
    let f = out[1].1;
    assert_eq!(out[1].0, 1_000_100);
    assert_eq!(
        (f.last_px, f.liquidity, f.fee),
        (d("60000"), Liquidity::Maker, d("0.012"))
    );
}

#[test]
fn requests_arrive_in_order_and_flush_processes_all() {
    let mut v = venue(1_000);
    let mut out = Out::new();
    v.on_market(0, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(10, &limit(1, Side::Buy, "59000", "0.001"), &mut out);
    v.on_action(10, &limit(2, Side::Buy, "59000", "0.001"), &mut out);
    v.on_action(20, &cancel(1), &mut out);
    assert!(out.is_empty());
    v.flush(&mut out);
    let got: Vec<_> = out
        .iter()
        .map(|(ts, r)| (*ts, r.cid, r.kind, r.venue_order_id))
        .collect();
    assert_eq!(
        got,
        vec![
            (1_010, cid(1), ExecKind::Ack, 1),
            (1_010, cid(2), ExecKind::Ack, 2),
            (1_020, cid(1), ExecKind::Canceled, 1),
        ]
    );
    assert_eq!(out[2].1.leaves_qty, d("0.001"));
    assert!(!v.has_pending());
    assert_eq!(v.open_orders(), 1);
    assert_eq!(bal(&v, "USDT").1, d("59.0236"));
}

#[test]
fn cancel_race_after_fill_is_rejected() {
    let mut v = venue(1_000);
    let mut out = Out::new();
    v.on_market(0, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(0, &limit(1, Side::Buy, "60000", "0.001"), &mut out);
    v.advance(1_000, &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack]);
    out.clear();
    v.on_action(2_000, &cancel(1), &mut out);
    v.on_market(2_500, &ticker("59980", "1", "59995", "1"), &mut out);
    v.advance(3_000, &mut out);
    let got: Vec<_> = out.iter().map(|(ts, r)| (*ts, r.kind, r.reason)).collect();
    assert_eq!(
        got,
        vec![
            (2_500, ExecKind::Fill, RejectReason::None),
            (3_000, ExecKind::CancelRejected, RejectReason::UnknownOrder),
        ]
    );
    assert_eq!(out[1].1.cid, cid(1));
}

#[test]
fn cancel_releases_lock_and_unknown_cancel_is_rejected() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(0, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(1, &limit(1, Side::Sell, "60100", "0.25"), &mut out);
    assert_eq!(bal(&v, "BTC"), (d("1"), d("0.25")));
    v.on_action(2, &cancel(1), &mut out);
    v.on_action(3, &cancel(1), &mut out);
    v.on_action(
        4,
        &Action::Cancel {
            cid: cid(1),
            instrument: 9,
        },
        &mut out,
    );
    assert_eq!(
        kinds(&out),
        vec![
            ExecKind::Ack,
            ExecKind::Canceled,
            ExecKind::CancelRejected,
            ExecKind::CancelRejected
        ]
    );
    assert_eq!(out[1].1.leaves_qty, d("0.25"));
    assert_eq!(out[2].1.reason, RejectReason::UnknownOrder);
    assert_eq!(bal(&v, "BTC"), (d("1"), Dec::ZERO));
    assert_eq!(v.open_orders(), 0);
}

#[test]
fn modify_is_cancel_replace() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(0, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(1, &limit(1, Side::Buy, "59000", "0.001"), &mut out);
    v.on_action(2, &limit(2, Side::Buy, "59000", "0.001"), &mut out);
    let modify = |px: &str, qty: &str| Action::Modify {
        cid: cid(1),
        instrument: 0,
        price: d(px),
        qty: d(qty),
    };
    out.clear();
    v.on_action(3, &modify("59990", "0.002"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack]);
    let a = out[0].1;
    assert_eq!(
        (a.cid, a.venue_order_id, a.leaves_qty, a.cum_qty),
        (cid(1), 3, d("0.002"), Dec::ZERO)
    );
    // 59 + 0.0236 for order 2, 119.98 + 0.047992 for the replacement.
    assert_eq!(bal(&v, "USDT").1, d("179.051592"));
    // Back to 59000: it lost time priority to order 2.
    out.clear();
    v.on_action(4, &modify("59000", "0.001"), &mut out);
    v.on_market(5, &trade("58999", "0.001"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::Fill]);
    assert_eq!(out[1].1.cid, cid(2));
    // Unknown order.
    out.clear();
    v.on_action(
        6,
        &Action::Modify {
            cid: cid(99),
            instrument: 0,
            price: d("59000"),
            qty: d("0.001"),
        },
        &mut out,
    );
    assert_eq!(kinds(&out), vec![ExecKind::CancelRejected]);
    assert_eq!(out[0].1.reason, RejectReason::UnknownOrder);
    // Invalid replacement: the old order is gone, one Rejected report.
    out.clear();
    v.on_action(7, &modify("59000.001", "0.001"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Rejected]);
    assert_eq!(out[0].1.reason, RejectReason::BadTick);
    assert_eq!(v.open_orders(), 0);
    assert_eq!(bal(&v, "USDT").1, Dec::ZERO);
}

#[test]
fn modify_to_crossing_price_takes() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(0, &ticker("59990", "1", "60010", "1"), &mut out);
    v.on_action(1, &limit(1, Side::Buy, "59000", "0.001"), &mut out);
    out.clear();
    v.on_action(
        2,
        &Action::Modify {
            cid: cid(1),
            instrument: 0,
            price: d("60010"),
            qty: d("0.001"),
        },
        &mut out,
    );
    assert_eq!(kinds(&out), vec![ExecKind::Ack, ExecKind::Fill]);
    assert_eq!(
        (out[1].1.last_px, out[1].1.liquidity),
        (d("60010"), Liquidity::Taker)
    );
}

#[test]
fn depth_chunks_and_ticker_merge() {
    let mut v = venue(0);
    let mut out = Out::new();
    // A snapshot in two chunks: matching waits for the last chunk.
    let mut c1 = Depth {
        instrument: 0,
        snapshot: true,
        first_chunk: true,
        last_chunk: false,
        len: 1,
        ..Depth::default()
    };
    c1.levels[0] = Level {
        side: Side::Sell,
        px: d("60010"),
        qty: d("0.5"),
    };
    let mut c2 = Depth {
        instrument: 0,
        snapshot: true,
        first_chunk: false,
        last_chunk: true,
        len: 1,
        ..Depth::default()
    };
    c2.levels[0] = Level {
        side: Side::Sell,
        px: d("60020"),
        qty: d("0.5"),
    };
    v.on_market(1, &Event::Depth(c1), &mut out);
    v.on_market(2, &Event::Depth(c2), &mut out);
    v.on_action(3, &market(1, Side::Buy, "0.6"), &mut out);
    assert_eq!(
        kinds(&out),
        vec![ExecKind::Ack, ExecKind::PartialFill, ExecKind::Fill]
    );
    assert_eq!(
        (out[2].1.last_px, out[2].1.last_qty),
        (d("60020"), d("0.1"))
    );
    // A diff removes 60020; a ticker then sets 60015 above the L2 book's bids.
    out.clear();
    let mut diff = Depth {
        instrument: 0,
        first_chunk: true,
        last_chunk: true,
        len: 2,
        ..Depth::default()
    };
    diff.levels[0] = Level {
        side: Side::Sell,
        px: d("60020"),
        qty: Dec::ZERO,
    };
    diff.levels[1] = Level {
        side: Side::Sell,
        px: d("60040"),
        qty: d("1"),
    };
    v.on_market(4, &Event::Depth(diff), &mut out);
    v.on_market(5, &ticker("60000", "1", "60015", "0.2"), &mut out);
    v.on_action(6, &market(2, Side::Buy, "0.3"), &mut out);
    let fills: Vec<_> = out[1..]
        .iter()
        .map(|(_, r)| (r.last_px, r.last_qty))
        .collect();
    assert_eq!(fills, vec![(d("60015"), d("0.2")), (d("60040"), d("0.1"))]);
}

#[test]
fn odd_inputs_do_not_panic() {
    let mut v = venue(5);
    let mut out = Out::new();
    let mut big = Depth {
        instrument: 0,
        snapshot: true,
        first_chunk: true,
        last_chunk: true,
        len: 255,
        ..Depth::default()
    };
    big.levels[DEPTH_CHUNK - 1] = Level {
        side: Side::Sell,
        px: d("-5"),
        qty: d("1"),
    };
    v.on_market(u64::MAX, &Event::Depth(big), &mut out);
    v.on_market(
        0,
        &Event::Trade(Trade {
            instrument: 42,
            ..Trade::default()
        }),
        &mut out,
    );
    v.on_market(0, &ticker("0", "0", "0", "0"), &mut out);
    v.on_market(0, &Event::Timer(1), &mut out);
    v.on_action(u64::MAX, &market(1, Side::Sell, "0.001"), &mut out);
    v.on_action(
        0,
        &Action::Cancel {
            cid: cid(5),
            instrument: 500,
        },
        &mut out,
    );
    v.on_action(
        0,
        &Action::Modify {
            cid: cid(5),
            instrument: 0,
            price: Dec(i64::MIN),
            qty: Dec(i64::MAX),
        },
        &mut out,
    );
    v.on_action(
        0,
        &order(6, Side::Buy, OrderType::Limit, TimeInForce::Ioc, "-1", "-1"),
        &mut out,
    );
    v.on_action(0, &Action::Stopped, &mut out);
    v.flush(&mut out);
    assert!(!v.has_pending());
    assert!(v.balance("ETH").is_none());
    assert_eq!(bal(&v, "USDT"), (d("100000"), Dec::ZERO));
}

#[test]
fn queue_ahead_is_eaten_by_trades_then_the_order_fills() {
    let mut v = venue_with(0, "1000000", "10");
    let mut out = Out::new();
    v.on_market(
        1,
        &snapshot(&[(Side::Buy, "60000", "5"), (Side::Sell, "60010", "2")]),
        &mut out,
    );
    v.on_action(2, &limit(1, Side::Buy, "60000", "3"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Ack]);
    // Behind the 5 displayed at 60000.
    assert_eq!(v.queue_ahead(cid(1)), Some(d("5")));
    out.clear();
    v.on_market(3, &trade("60000", "3"), &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(v.queue_ahead(cid(1)), Some(d("2")));
    // 4 more: 2 finish the queue ahead, 2 reach the order.
    v.on_market(4, &trade("60000", "4"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::PartialFill]);
    let f = out[0].1;
    assert_eq!((f.last_px, f.last_qty), (d("60000"), d("2")));
    assert_eq!((f.cum_qty, f.leaves_qty), (d("2"), d("1")));
    assert_eq!((f.fee, f.liquidity), (d("24"), Liquidity::Maker));
    assert_eq!(v.queue_ahead(cid(1)), Some(Dec::ZERO));
    out.clear();
    // At the front now: a smaller trade is a partial fill, a larger one finishes it.
    v.on_market(5, &trade("60000", "0.5"), &mut out);
    v.on_market(6, &trade("60000", "4"), &mut out);
    let fills: Vec<_> = out
        .iter()
        .map(|(ts, r)| (*ts, r.kind, r.last_qty, r.leaves_qty))
        .collect();
    assert_eq!(
        fills,
        vec![
            (5, ExecKind::PartialFill, d("0.5"), d("0.5")),
            (6, ExecKind::Fill, d("0.5"), Dec::ZERO)
        ]
    );
    // 180000 notional + 36 maker fees.
    assert_eq!(bal(&v, "USDT"), (d("819964"), Dec::ZERO));
    assert_eq!(bal(&v, "BTC"), (d("13"), Dec::ZERO));
    assert_eq!(v.open_orders(), 0);
}

#[test]
fn only_trades_against_the_order_side_at_its_price_move_the_queue() {
    let mut v = venue_with(0, "1000000", "10");
    let mut out = Out::new();
    v.on_market(
        1,
        &snapshot(&[(Side::Buy, "60000", "5"), (Side::Sell, "60010", "2")]),
        &mut out,
    );
    v.on_action(2, &limit(1, Side::Buy, "60000", "1"), &mut out);
    v.on_action(3, &limit(2, Side::Sell, "60010", "1"), &mut out);
    assert_eq!(v.queue_ahead(cid(2)), Some(d("2")));
    out.clear();
    // A buyer at our bid's price, and a seller above it: neither touches the bid's queue.
    v.on_market(4, &trade_by(Side::Buy, "60000", "3"), &mut out);
    v.on_market(5, &trade_by(Side::Sell, "60005", "3"), &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(v.queue_ahead(cid(1)), Some(d("5")));
    // A buyer at the ask eats its 2 ahead and fills our 1; the bid is untouched.
    v.on_market(6, &trade_by(Side::Buy, "60010", "3"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::Fill]);
    assert_eq!(
        (out[0].1.cid, out[0].1.last_px, out[0].1.last_qty),
        (cid(2), d("60010"), d("1"))
    );
    assert_eq!(v.queue_ahead(cid(1)), Some(d("5")));
}

#[test]
fn shrinking_level_moves_the_queue_and_growth_does_not() {
    let mut v = venue_with(0, "1000000", "10");
    let mut out = Out::new();
    v.on_market(
        1,
        &snapshot(&[
            (Side::Buy, "60000", "5"),
            (Side::Buy, "59990", "8"),
            (Side::Sell, "60010", "2"),
        ]),
        &mut out,
    );
    v.on_action(2, &limit(1, Side::Buy, "60000", "1"), &mut out);
    let mut ahead = Vec::new();
    for (ts, qty) in [(3, "7"), (4, "3"), (5, "4")] {
        v.on_market(ts, &diff(&[(Side::Buy, "60000", qty)]), &mut out);
        ahead.push(v.queue_ahead(cid(1)).unwrap());
    }
    // Growth leaves the estimate; a shrink below it caps it (cancels ahead of us).
    assert_eq!(ahead, vec![d("5"), d("3"), d("3")]);
    out.clear();
    v.on_market(6, &trade("60000", "3"), &mut out);
    assert!(out.is_empty());
    v.on_market(7, &trade("60000", "0.4"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::PartialFill]);
    assert_eq!(out[0].1.last_qty, d("0.4"));
    v.on_action(8, &cancel(1), &mut out);
    // A level that disappears puts a resting order at the front.
    v.on_action(9, &limit(2, Side::Buy, "59990", "1"), &mut out);
    assert_eq!(v.queue_ahead(cid(2)), Some(d("8")));
    v.on_market(10, &diff(&[(Side::Buy, "59990", "0")]), &mut out);
    assert_eq!(v.queue_ahead(cid(2)), Some(Dec::ZERO));
    out.clear();
    v.on_market(11, &trade("59990", "0.3"), &mut out);
    assert_eq!(kinds(&out), vec![ExecKind::PartialFill]);
    assert_eq!((out[0].1.cid, out[0].1.last_qty), (cid(2), d("0.3")));
}

#[test]
fn ticker_only_levels_behind_the_top_keep_their_estimate() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(1, &ticker("60000", "2", "60010", "1"), &mut out);
    v.on_action(2, &limit(1, Side::Buy, "60000", "0.5"), &mut out);
    let mut ahead = vec![v.queue_ahead(cid(1)).unwrap()];
    for (ts, bid, qty) in [(3, "60000", "1.5"), (4, "60005", "1"), (5, "59995", "1")] {
        v.on_market(ts, &ticker(bid, qty, "60010", "1"), &mut out);
        ahead.push(v.queue_ahead(cid(1)).unwrap());
    }
    // At the top: the ticker's size; hidden behind a better bid: kept; the bid below
    // us: our level emptied.
    assert_eq!(ahead, vec![d("2"), d("1.5"), d("1.5"), Dec::ZERO]);
}

#[test]
fn queue_model_none_keeps_no_estimate() {
    let mut v = venue_no_queue(0);
    let mut out = Out::new();
    v.on_market(1, &snapshot(&[(Side::Buy, "60000", "5")]), &mut out);
    v.on_action(2, &limit(1, Side::Buy, "60000", "0.1"), &mut out);
    assert_eq!(v.queue_ahead(cid(1)), Some(Dec::ZERO));
    out.clear();
    v.on_market(3, &trade("60000", "50"), &mut out);
    assert!(out.is_empty());
}

#[test]
fn rate_limit_rejects_orders_beyond_max_orders_per_sec() {
    let cfg = VenueConfig {
        max_orders_per_sec: 2,
        ..config(0)
    };
    let mut v = venue_from(&cfg, "100000", "1");
    let mut out = Out::new();
    v.on_market(1, &ticker("59990", "1", "60010", "1"), &mut out);
    const S: u64 = 1_000_000_000;
    let modify = |n: u32, px: &str| Action::Modify {
        cid: cid(n),
        instrument: 0,
        price: d(px),
        qty: d("0.001"),
    };
    v.on_action(5 * S + 1, &limit(1, Side::Buy, "59000", "0.001"), &mut out);
    v.on_action(5 * S + 2, &limit(2, Side::Buy, "59000", "0.001"), &mut out);
    v.on_action(5 * S + 3, &limit(3, Side::Buy, "59000", "0.001"), &mut out);
    v.on_action(5 * S + 4, &modify(1, "59001"), &mut out);
    v.on_action(5 * S + 5, &cancel(2), &mut out);
    // A new one-second window.
    v.on_action(6 * S, &limit(4, Side::Buy, "59000", "0.001"), &mut out);
    v.on_action(6 * S + 1, &modify(1, "59002"), &mut out);
    v.on_action(6 * S + 2, &limit(5, Side::Buy, "59000", "0.001"), &mut out);
    let got: Vec<_> = out
        .iter()
        .map(|(ts, r)| (*ts, r.cid, r.kind, r.reason))
        .collect();
    use ExecKind::*;
    use RejectReason::{None as NoReason, RateLimited};
    assert_eq!(
        got,
        vec![
            (5 * S + 1, cid(1), Ack, NoReason),
            (5 * S + 2, cid(2), Ack, NoReason),
            (5 * S + 3, cid(3), Rejected, RateLimited),
            (5 * S + 4, cid(1), CancelRejected, RateLimited),
            (5 * S + 5, cid(2), Canceled, NoReason),
            (6 * S, cid(4), Ack, NoReason),
            (6 * S + 1, cid(1), Ack, NoReason),
            (6 * S + 2, cid(5), Rejected, RateLimited),
        ]
    );
    // The refused modify left order 1 alone; the later one replaced it (new venue id).
    assert_eq!(out[6].1.venue_order_id, 4);
    assert_eq!(v.open_orders(), 2);
}

#[test]
fn post_only_that_would_take_is_rejected_and_one_that_rests_queues() {
    let mut v = venue(0);
    let mut out = Out::new();
    v.on_market(
        1,
        &snapshot(&[(Side::Buy, "59990", "3"), (Side::Sell, "60010", "2")]),
        &mut out,
    );
    let maker = |n: u32, side: Side, px: &str| {
        order(
            n,
            side,
            OrderType::LimitMaker,
            TimeInForce::Gtc,
            px,
            "0.001",
        )
    };
    v.on_action(2, &maker(1, Side::Buy, "60010"), &mut out);
    v.on_action(3, &maker(2, Side::Sell, "59990"), &mut out);
    v.on_action(4, &maker(3, Side::Buy, "59990"), &mut out);
    let got: Vec<_> = out.iter().map(|(_, r)| (r.cid, r.kind, r.reason)).collect();
    assert_eq!(
        got,
        vec![
            (cid(1), ExecKind::Rejected, RejectReason::WouldTake),
            (cid(2), ExecKind::Rejected, RejectReason::WouldTake),
            (cid(3), ExecKind::Ack, RejectReason::None),
        ]
    );
    assert_eq!(v.queue_ahead(cid(3)), Some(d("3")));
}

fn script(v: &mut SimVenue) -> Out {
    let mut out = Out::new();
    v.on_market(0, &ticker("59990", "1", "60010", "0.3"), &mut out);
    v.on_action(1, &limit(1, Side::Buy, "60000", "0.5"), &mut out);
    v.on_action(2, &limit(2, Side::Sell, "60050", "0.2"), &mut out);
    v.on_action(3, &market(3, Side::Buy, "0.1"), &mut out);
    v.on_market(1_500, &trade("59999", "0.2"), &mut out);
    v.on_market(2_000, &ticker("60000", "1", "60001", "1"), &mut out);
    v.on_action(2_100, &cancel(1), &mut out);
    v.on_market(2_200, &trade("60060", "1"), &mut out);
    v.flush(&mut out);
    out
}

#[test]
fn deterministic() {
    let a = script(&mut venue(1_000));
    let b = script(&mut venue(1_000));
    assert!(a.len() >= 6);
    assert_eq!(a, b);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Ticker(i64, i64, u32, u32),
        Trade(i64, u32, bool),
        Place(u8, bool, u8, u8, i64, u32),
        Cancel(u8),
        Modify(u8, i64, u32),
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (-50i64..50, 1i64..20, 0u32..2_000, 0u32..2_000)
                .prop_map(|(m, s, a, b)| Op::Ticker(m, s, a, b)),
            (-60i64..60, 0u32..3_000, any::<bool>()).prop_map(|(p, q, b)| Op::Trade(p, q, b)),
            (
                0u8..12,
                any::<bool>(),
                0u8..3,
                0u8..3,
                -60i64..60,
                1u32..2_000
            )
                .prop_map(|(c, s, t, f, p, q)| Op::Place(c, s, t, f, p, q)),
            (0u8..12).prop_map(Op::Cancel),
            (0u8..12, -60i64..60, 1u32..2_000).prop_map(|(c, p, q)| Op::Modify(c, p, q)),
            (0u16..3000).prop_map(Op::Advance),
        ]
    }

    fn run(latency: u64, model: QueueModel, rate: u32, ops: &[Op]) -> Result<Out, TestCaseError> {
        let cfg = VenueConfig {
            queue_model: model,
            max_orders_per_sec: rate,
            ..config(latency)
        };
        let mut v = venue_from(&cfg, "1000", "0.02");
        let mut out = Out::new();
        let mut ts = 0u64;
        let px = |off: i64| Dec::from_int(60_000) + Dec(off * 10_000_000); // 0.01 ticks
        let lot = |n: u32| Dec(n as i64 * 10_000); // 0.00001 lots
        for o in ops {
            ts += 100;
            match *o {
                Op::Ticker(m, s, a, b) => {
                    let ev = Event::BookTicker(BookTicker {
                        instrument: 0,
                        bid_px: px(m),
                        bid_qty: lot(a),
                        ask_px: px(m + s),
                        ask_qty: lot(b),
                        update_id: 0,
                    });
                    v.on_market(ts, &ev, &mut out);
                }
                Op::Trade(p, q, buyer) => {
                    let ev = Event::Trade(Trade {
                        instrument: 0,
                        px: px(p),
                        qty: lot(q),
                        aggressor: if buyer { Side::Buy } else { Side::Sell },
                        trade_id: 0,
                    });
                    let before = out.len();
                    v.on_market(ts, &ev, &mut out);
                    // One trade never fills our orders for more than its size.
                    let maker: Dec = out[before..]
                        .iter()
                        .filter(|(_, r)| r.liquidity == Liquidity::Maker)
                        .fold(Dec::ZERO, |a, (_, r)| a + r.last_qty);
                    prop_assert!(maker <= lot(q), "maker fills {maker} > trade {}", lot(q));
                }
                Op::Place(c, s, t, f, p, q) => {
                    let a = Action::Place(PlaceOrder {
                        cid: cid(c as u32),
                        instrument: 0,
                        side: if s { Side::Buy } else { Side::Sell },
                        order_type: [OrderType::Limit, OrderType::LimitMaker, OrderType::Market]
                            [t as usize],
                        tif: [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok][f as usize],
                        price: px(p),
                        qty: lot(q),
                        position_action: Default::default(),
                    });
                    v.on_action(ts, &a, &mut out);
                }
                Op::Cancel(c) => v.on_action(ts, &cancel(c as u32), &mut out),
                Op::Modify(c, p, q) => {
                    let a = Action::Modify {
                        cid: cid(c as u32),
                        instrument: 0,
                        price: px(p),
                        qty: lot(q),
                    };
                    v.on_action(ts, &a, &mut out);
                }
                Op::Advance(dt) => {
                    ts += dt as u64;
                    v.advance(ts, &mut out);
                }
            }
            for asset in ["USDT", "BTC"] {
                let (total, locked) = v.balance(asset).unwrap();
                prop_assert!(total >= Dec::ZERO, "{asset} total {total} < 0");
                prop_assert!(locked >= Dec::ZERO, "{asset} locked {locked} < 0");
                prop_assert!(locked <= total, "{asset} locked {locked} > total {total}");
            }
        }
        v.flush(&mut out);
        prop_assert!(!v.has_pending());
        for (_, r) in &out {
            prop_assert!(r.leaves_qty >= Dec::ZERO && r.cum_qty >= Dec::ZERO && r.fee >= Dec::ZERO);
        }
        Ok(out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn balances_stay_consistent_and_runs_repeat(
            ops in proptest::collection::vec(op(), 1..80),
            lat in prop_oneof![Just(0u64), Just(250u64)],
            model in prop_oneof![Just(QueueModel::RiskAverse), Just(QueueModel::None)],
            rate in prop_oneof![Just(0u32), Just(4u32)],
        ) {
            let a = run(lat, model, rate, &ops)?;
            let b = run(lat, model, rate, &ops)?;
            prop_assert_eq!(a, b);
        }
    }
}
