//! Directional controller driven through `Engine::apply` with hand-computed indicator
//! values: scenario 45, Bollinger %B and MACD, max executors per side, cooldown, and
//! the short-signal counting correction.

mod common;
use common::*;
use kestrel_engine::controllers::directional::Directional;
use kestrel_engine::controllers::indicators::MacdValue;
use kestrel_engine::controllers::ControllerKind;
use kestrel_engine::executors::ExecutorConfig;
use kestrel_engine::*;

/// Scenario 45's "time 1e6" (seconds).
const T: u64 = 1_000_000 * S;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
BTC = "10"
USDT = "100000"
[[candles]]
instrument = "BTCUSDT"
interval = "1m"
source = "klines"
max_records = 50
[[controllers]]
type = "directional"
id = "test"
instrument = "BTCUSDT"
candles_interval = "1m"
bb_length = 8
bb_std = "1"
cooldown_time = 60
"#;

/// Closes with mean 50000 and σ 20000 over 8 candles; the last, 20000, sits at
/// %B = (20000 − 30000)/(70000 − 30000) = −0.25 → long.
const LONG: [&str; 8] = [
    "90000", "70000", "50000", "50000", "40000", "40000", "40000", "20000",
];
/// Same mean and σ; the last, 80000, sits at %B = 1.25 → short.
const SHORT: [&str; 8] = [
    "10000", "30000", "50000", "50000", "60000", "60000", "60000", "80000",
];

fn dt(h: &H) -> &Directional {
    match h.kind(0) {
        ControllerKind::Directional(d) => d,
        other => panic!("not directional: {other:?}"),
    }
}

#[test]
fn scenario_45_signal_creates_one_position_with_default_barriers() {
    let mut h = H::new(CONFIG);
    // No candles: default signal 0, nothing created.
    assert!(places(&h.quote(T - 10 * S, 0, "19999.99", "20000.01")).is_empty());
    assert_eq!(dt(&h).features.signal, 0);
    h.closes(T, 0, T - 8 * M, &LONG);
    let outs = h.quote(T, 0, "19999.99", "20000.01");
    let f = dt(&h).features;
    let b = f.bands.unwrap();
    assert_eq!(
        (b.middle, b.std, b.upper, b.lower, b.percent_b),
        (
            d("50000"),
            d("20000"),
            d("70000"),
            d("30000"),
            Some(d("-0.25"))
        )
    );
    assert_eq!(f.signal, 1);
    // One executor for controller "test": amount 100 / 20000 / 2 = 0.0025 at MARKET.
    assert_eq!(
        orders(&outs),
        vec![(Side::Buy, OrderType::Market, Dec::ZERO, d("0.0025"))]
    );
    assert_eq!(h.e.report_names()[0], "test");
    let x = h.e.executors.iter().next().unwrap();
    assert_eq!((x.core.controller, x.core.created_ts), (0, T));
    let ExecutorConfig::Position(p) = h.configs()[0].1 else {
        panic!()
    };
    assert_eq!(
        (p.side, p.entry_price, p.amount),
        (Side::Buy, Some(d("20000")), d("0.0025"))
    );
    assert_eq!(p.barrier.stop_loss, Some(d("0.03")));
    assert_eq!(p.barrier.take_profit, Some(d("0.02")));
    assert_eq!(p.barrier.time_limit_s, Some(2700));
    assert_eq!(p.barrier.trailing_stop, None);
    assert_eq!(p.barrier.open_order_type, OrderType::Market);
    assert_eq!(p.barrier.take_profit_order_type, OrderType::Limit);
}

#[test]
fn max_executors_per_side_cooldown_and_short_counting() {
    let mut h = H::new(CONFIG);
    h.closes(T, 0, T - 8 * M, &LONG);
    assert_eq!(places(&h.quote(T, 0, "19999.99", "20000.01")).len(), 1);
    // Cooldown 60 s after the newest long: not at +30 s, nor at exactly +60 s.
    assert!(places(&h.quote(T + 30 * S, 0, "19999.99", "20000.01")).is_empty());
    assert!(places(&h.quote(T + 60 * S, 0, "19999.99", "20000.01")).is_empty());
    assert_eq!(
        orders(&h.quote(T + 61 * S, 0, "19999.99", "20000.01")),
        vec![(Side::Buy, OrderType::Market, Dec::ZERO, d("0.0025"))]
    );
    // Two longs active = max_executors_per_side: no third.
    assert!(places(&h.quote(T + 200 * S, 0, "19999.99", "20000.01")).is_empty());
    assert_eq!(h.e.executors.live(), 2);
    // The signal turns short: only short executors count (Kestrel correction), so a
    // short opens although two longs are active: 100 / 80000 / 2 → 0.00062.
    h.closes(T + 201 * S, 0, T, &SHORT);
    let outs = h.quote(T + 202 * S, 0, "79999.99", "80000.01");
    assert_eq!(dt(&h).features.bands.unwrap().percent_b, Some(d("1.25")));
    assert_eq!(dt(&h).features.signal, -1);
    assert_eq!(
        orders(&outs),
        vec![(Side::Sell, OrderType::Market, Dec::ZERO, d("0.00062"))]
    );
    let sides: Vec<Side> = h
        .configs()
        .iter()
        .map(|(_, c)| match c {
            ExecutorConfig::Position(p) => p.side,
            _ => panic!(),
        })
        .collect();
    assert_eq!(sides, [Side::Buy, Side::Buy, Side::Sell]);
    // Levels tag the side: 0 long, 1 short.
    assert_eq!(
        h.configs().iter().map(|c| c.0).collect::<Vec<_>>(),
        [0, 0, 1]
    );
}

#[test]
fn macd_values_and_signal() {
    // EMA3 (α 0.5), EMA4 (α 0.4), signal EMA3 over closes 10,12,11,14,13,16,12 (×1000):
    // EMA3 11, 12.5, 12.75, 14.375, 13.1875; EMA4 11.75, 12.25, 13.75, 13.05;
    // MACD 0.75, 0.5, 0.625, 0.1375; signal SMA 0.625 then 0.38125; histogram −0.24375.
    let cfg = CONFIG.replace(
        "bb_std = \"1\"",
        "bb_std = \"1\"\nsignal = \"macd\"\nmacd_fast = 3\nmacd_slow = 4\nmacd_signal = 3",
    );
    let mut h = H::new(&cfg);
    let closes = [
        "10000", "12000", "11000", "14000", "13000", "16000", "12000",
    ];
    h.closes(T, 0, T - 7 * M, &closes[..6]);
    h.quote(T, 0, "15999.99", "16000.01");
    // With 16000 forming: MACD 625, signal SMA 625, histogram 0 → no signal.
    assert_eq!(
        dt(&h).features.macd,
        Some(MacdValue {
            macd: d("625"),
            signal: d("625"),
            histogram: Dec::ZERO
        })
    );
    assert_eq!(dt(&h).features.signal, 0);
    assert!(h.e.executors.live() == 0);
    h.closes(T + S, 0, T - M, &closes[6..]);
    let outs = h.quote(T + 2 * S, 0, "11999.99", "12000.01");
    assert_eq!(
        dt(&h).features.macd,
        Some(MacdValue {
            macd: d("137.5"),
            signal: d("381.25"),
            histogram: d("-243.75")
        })
    );
    // MACD > 0 with a falling histogram: short, 100 / 12000 / 2 = 0.00416 (lot).
    assert_eq!(dt(&h).features.signal, -1);
    assert_eq!(
        orders(&outs),
        vec![(Side::Sell, OrderType::Market, Dec::ZERO, d("0.00416"))]
    );
    // The committed state holds the six closed candles only: peeking 12000 again
    // gives the same value (the forming candle was not folded in twice).
    assert_eq!(
        dt(&h).macd.peek(d("12000")).unwrap().histogram,
        d("-243.75")
    );
}

#[test]
fn config_errors_name_the_key() {
    use kestrel_engine::config::Config;
    let e = Config::from_toml(&CONFIG.replace("bb_length = 8", "bb_length = 1")).unwrap_err();
    assert_eq!(e.0, "controller test: bb_length 1 must be in 2..=10000");
    let e = Config::from_toml(&CONFIG.replace("cooldown_time = 60", "macd_fast = 50")).unwrap_err();
    assert_eq!(
        e.0,
        "controller test: macd_fast 50 must be below macd_slow 42"
    );
    let e = Config::from_toml(
        &CONFIG.replace("interval = \"1m\"\nsource", "interval = \"3m\"\nsource"),
    )
    .unwrap_err();
    assert!(e.0.contains("needs a [[candles]] entry"), "{e}");
    let e = Config::from_toml(&format!("{CONFIG}stop_loss = \"1.5\"\n")).unwrap_err();
    assert_eq!(
        e.0,
        "controller test: stop_loss 1.5 must be in [0, 1) (0: none)"
    );
    // Zero disables a barrier.
    let mut h = H::new(&format!("{CONFIG}stop_loss = \"0\"\ntime_limit = 0\n"));
    h.closes(T, 0, T - 8 * M, &LONG);
    h.quote(T, 0, "19999.99", "20000.01");
    let ExecutorConfig::Position(p) = h.configs()[0].1 else {
        panic!()
    };
    assert_eq!((p.barrier.stop_loss, p.barrier.time_limit_s), (None, None));
}
