//! Runtime controller updates (`Command::UpdateController`) applied and refused, their
//! journal encoding, and replay determinism of a session with every controller kind.

mod common;
use common::*;
use kestrel_engine::controllers::{ControllerField as F, ControllerKind};
use kestrel_engine::*;

const T0: u64 = 1_000_000 * S;

const MM: &str = r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.0001"
min_notional = "5"
[balances]
USDT = "100000"
ETH = "100"
[[candles]]
instrument = "ETHUSDT"
interval = "1m"
source = "klines"
max_records = 30
[[controllers]]
type = "market_making"
id = "mm"
instrument = "ETHUSDT"
buy_spreads = "0.01,0.02"
sell_spreads = "0.01,0.02"
total_amount_quote = "1000"
executor_refresh_time = 60
[[controllers]]
type = "directional"
id = "dir"
instrument = "ETHUSDT"
candles_interval = "1m"
bb_length = 4
bb_std = "1"
max_executors_per_side = 1
cooldown_time = 0
total_amount_quote = "200"
"#;

#[test]
fn updates_apply_to_the_next_executors() {
    let mut h = H::new(MM);
    let first = places(&h.quote(T0, 0, "99.99", "100.01"));
    assert_eq!(first[0].price, d("99"));
    // buy_0 spread 1% → 3%, budget 1000 → 2000: takes effect when the level re-quotes.
    assert!(h.update(T0 + S, 0, F::BuySpread(0), "0.03").is_empty());
    assert!(h.update(T0 + S, 0, F::TotalAmountQuote, "2000").is_empty());
    assert!(h.update(T0 + S, 0, F::ExecutorRefreshTime, "10").is_empty());
    let outs = h.quote(T0 + 11 * S, 0, "99.99", "100.01");
    assert_eq!(cancels(&outs).len(), 4);
    for p in &first {
        h.report(T0 + 11 * S, p.cid, ExecKind::Canceled, "0", "0");
    }
    let outs = h.quote(T0 + 12 * S, 0, "99.99", "100.01");
    // 2000 / 4 levels = 500 quote each: 500/97 = 5.1546, 500/98 = 5.102, …
    assert_eq!(
        orders(&outs),
        vec![
            (Side::Buy, OrderType::Limit, d("97"), d("5.1546")),
            (Side::Buy, OrderType::Limit, d("98"), d("5.102")),
            (Side::Sell, OrderType::Limit, d("101"), d("4.9504")),
            (Side::Sell, OrderType::Limit, d("102"), d("4.9019")),
        ]
    );
    let ControllerKind::MarketMaking(m) = h.kind(0) else {
        panic!()
    };
    assert_eq!((m.levels[0].spread, m.refresh_ns), (d("0.03"), 10 * S));
}

#[test]
fn refused_updates_are_alerts_and_change_nothing() {
    let mut h = H::new(MM);
    let cases: [(u16, F, &str, AlertCode); 10] = [
        (9, F::TotalAmountQuote, "10", AlertCode::UnknownController),
        (0, F::Leverage, "5", AlertCode::FieldNotUpdatable),
        (0, F::IndicatorLength, "5", AlertCode::FieldNotUpdatable),
        (0, F::MaxExecutorsPerSide, "5", AlertCode::FieldNotUpdatable),
        (0, F::BuySpread(2), "0.01", AlertCode::InvalidFieldValue),
        (0, F::BuySpread(0), "1", AlertCode::InvalidFieldValue),
        (
            0,
            F::ExecutorRefreshTime,
            "1.5",
            AlertCode::InvalidFieldValue,
        ),
        (0, F::TrailingDelta, "0.01", AlertCode::FieldNotUpdatable),
        (1, F::StopLoss, "-0.1", AlertCode::InvalidFieldValue),
        (1, F::MaxExecutorsPerSide, "0", AlertCode::InvalidFieldValue),
    ];
    for (c, field, v, code) in cases {
        assert_eq!(
            alerts(&h.update(T0, c, field, v)),
            [code],
            "{c} {field:?} {v}"
        );
    }
    assert_eq!(h.e.stats.alerts, 10);
    // Quotes are as configured.
    let p = orders(&h.quote(T0, 0, "99.99", "100.01"));
    assert_eq!(p[0], (Side::Buy, OrderType::Limit, d("99"), d("2.5252")));
}

#[test]
fn directional_limits_are_updatable() {
    let mut h = H::new(MM);
    // Closes 4,4,4 then forming 2 (×10): mean 35, σ 8.66 → %B < 0 → long.
    h.closes(T0, 0, T0 - 4 * M, &["40", "40", "40", "20"]);
    let outs = h.quote(T0, 0, "19.99", "20.01");
    let longs = |outs: &[Output]| {
        places(outs)
            .iter()
            .filter(|p| p.order_type == OrderType::Market)
            .count()
    };
    assert_eq!(longs(&outs), 1);
    assert_eq!(longs(&h.quote(T0 + 2 * S, 0, "19.99", "20.01")), 0);
    h.update(T0 + 3 * S, 1, F::MaxExecutorsPerSide, "2");
    let outs = h.quote(T0 + 4 * S, 0, "19.99", "20.01");
    // 200 / 20 / 2 = 5 ETH.
    let m: Vec<_> = orders(&outs)
        .into_iter()
        .filter(|o| o.1 == OrderType::Market)
        .collect();
    assert_eq!(m, vec![(Side::Buy, OrderType::Market, Dec::ZERO, d("5"))]);
}

#[test]
fn update_command_roundtrips_through_rkyv() {
    let input = Input {
        header: Header {
            seq: 5,
            ts: T0,
            ..Default::default()
        },
        event: Event::Command(Command::UpdateController {
            controller: 3,
            field: F::SellSpread(2),
            value: d("0.015"),
        }),
    };
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&input).unwrap();
    let back: Input = rkyv::from_bytes::<Input, rkyv::rancor::Error>(&bytes).unwrap();
    assert_eq!(back, input);
}

/// A deterministic price path with klines, timers, fills of what the engine placed,
/// and updates; returns the harness after `steps` simulated 250 ms steps.
fn session(steps: u64) -> H {
    let mut h = H::new(MM);
    let mut px: i64 = 100_000; // cents
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut open: Vec<PlaceOrder> = Vec::new();
    let mut kline_open = T0 - T0 % M;
    let (mut hi, mut lo) = (px, px);
    for n in 0..steps {
        let ts = T0 + n * S / 4;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        px += (rng % 401) as i64 - 200;
        hi = hi.max(px);
        lo = lo.min(px);
        let cents = |v: i64| Dec(v * 10_000_000);
        if ts >= kline_open + M {
            kline_open += M;
            (hi, lo) = (px, px);
        }
        let k = Kline {
            instrument: 0,
            interval_s: 60,
            open_ts: kline_open,
            open: cents(px),
            high: cents(hi),
            low: cents(lo),
            close: cents(px),
            ..Default::default()
        };
        h.input(ts, Event::Kline(k));
        let (bid, ask) = (cents(px - 1), cents(px + 1));
        let outs = h.input(
            ts,
            Event::BookTicker(BookTicker {
                instrument: 0,
                bid_px: bid,
                bid_qty: d("100"),
                ask_px: ask,
                ask_qty: d("100"),
                update_id: n,
            }),
        );
        for o in &outs {
            match o.action {
                Action::Place(p) => {
                    h.report(ts, p.cid, ExecKind::Ack, "0", "0");
                    open.push(p);
                }
                Action::Cancel { cid, .. } => {
                    open.retain(|p| p.cid != cid);
                    h.report(ts, cid, ExecKind::Canceled, "0", "0");
                }
                _ => {}
            }
        }
        // Market orders fill at the touch; limits once the touch reaches them.
        let mut i = 0;
        while i < open.len() {
            let p = open[i];
            let fill = match (p.order_type, p.side) {
                (OrderType::Market, Side::Buy) => Some(ask),
                (OrderType::Market, Side::Sell) => Some(bid),
                (_, Side::Buy) if ask <= p.price => Some(p.price),
                (_, Side::Sell) if bid >= p.price => Some(p.price),
                _ => None,
            };
            match fill {
                Some(f) => {
                    open.remove(i);
                    let r = ExecReport {
                        cid: p.cid,
                        kind: ExecKind::Fill,
                        last_px: f,
                        last_qty: p.qty,
                        cum_qty: p.qty,
                        fee: Dec(1_000_000),
                        ..Default::default()
                    };
                    let outs = h.input(ts, Event::Exec(r));
                    open.extend(places(&outs));
                }
                None => i += 1,
            }
        }
        if n % 4 == 3 {
            h.timer(ts);
        }
        if n == steps / 2 {
            h.update(ts, 0, F::SellSpread(0), "0.002");
            h.update(ts, 1, F::StopLoss, "0.005");
        }
    }
    h
}

#[test]
fn replay_reproduces_every_output() {
    let run = session(12_000);
    let placed = places(&run.outputs).len();
    assert!(placed > 200, "placed {placed}");
    let closed = run
        .outputs
        .iter()
        .filter(|o| matches!(o.action, Action::ExecutorUpdate { .. }))
        .count();
    assert!(closed > 100, "closed {closed}");
    // Both controllers traded.
    let by = |c: u16| {
        run.outputs
            .iter()
            .filter(|o| matches!(o.action, Action::ExecutorUpdate { controller, .. } if controller == c))
            .count()
    };
    assert!(by(0) > 0 && by(1) > 0, "{} {}", by(0), by(1));
    // Replay: a fresh engine fed the recorded inputs emits the same outputs.
    let mut replay = H::new(MM);
    for input in &run.inputs {
        let outs = replay.e.apply(input).to_vec();
        replay.outputs.extend(outs);
    }
    assert_eq!(replay.outputs, run.outputs);
    // And a second independent run of the same path is identical too.
    assert_eq!(session(12_000).outputs, run.outputs);
}
