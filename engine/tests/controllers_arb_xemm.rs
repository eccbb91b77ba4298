//! Arbitrage and XEMM controllers driven through `Engine::apply`: the executors they
//! spawn (configuration, levels), the imbalance and delay rules, re-spawning.

mod common;
use common::*;
use kestrel_engine::executors::{ArbitrageConfig, ExecutorConfig, XemmConfig};
use kestrel_engine::*;

const T0: u64 = 1_000_000 * S;

const INSTRUMENTS: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[[instruments]]
symbol = "BTCUSDT-B"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
BTC = "100"
USDT = "1000000"
"#;

const ARB: &str = r#"
[[controllers]]
type = "arbitrage"
id = "arb"
instrument_1 = "BTCUSDT"
instrument_2 = "BTCUSDT-B"
order_amount = "0.1"
min_profitability = "0.01"
taker_fee_1 = "0.001"
delay_between_executors = 10
"#;

/// Places of one instrument: (side, type, price, qty).
fn on(outs: &[Output], i: InstrumentId) -> Vec<(Side, OrderType, Dec, Dec)> {
    places(outs)
        .iter()
        .filter(|p| p.instrument == i)
        .map(|p| (p.side, p.order_type, p.price, p.qty))
        .collect()
}

#[test]
fn arbitrage_spawns_one_executor_per_direction() {
    let mut h = H::new(&format!("{INSTRUMENTS}{ARB}"));
    // One book only: not ready, nothing.
    h.quote(T0, 0, "99.99", "100.01");
    assert_eq!(h.e.executors.live(), 0);
    h.quote(T0, 1, "99.99", "100.01");
    let arb = |buying, selling, buy_fee: &str, sell_fee: &str| {
        ExecutorConfig::Arbitrage(ArbitrageConfig {
            buying,
            selling,
            order_amount: d("0.1"),
            min_profitability: d("0.01"),
            buy_taker_fee: d(buy_fee),
            sell_taker_fee: d(sell_fee),
            max_retries: 3,
        })
    };
    // Fee 2 defaults to [venue] taker_fee (0.0004).
    assert_eq!(
        h.configs(),
        vec![
            (0, arb(0, 1, "0.001", "0.0004")),
            (1, arb(1, 0, "0.0004", "0.001"))
        ]
    );
    // Instrument 2 bid 103 against ask 100.01: direction 0 fires both legs.
    let outs = h.quote(T0 + 2 * S, 1, "103", "103.02");
    assert_eq!(
        on(&outs, 0),
        vec![(Side::Buy, OrderType::Market, Dec::ZERO, d("0.1"))]
    );
    assert_eq!(
        on(&outs, 1),
        vec![(Side::Sell, OrderType::Market, Dec::ZERO, d("0.1"))]
    );
    let legs = places(&outs);
    h.fill(T0 + 3 * S, &legs[0], "100.01");
    let outs = h.fill(T0 + 3 * S, &legs[1], "103");
    assert!(outs.iter().any(|o| matches!(
        o.action,
        Action::ExecutorUpdate {
            executor: 1,
            close_type: Some(CloseType::Completed),
            ..
        }
    )));
    // Imbalance 1 (one direction closed, not the other) holds new executors back,
    // long after the 10 s delay.
    h.quote(T0 + 30 * S, 0, "99.99", "100.01");
    h.quote(T0 + 31 * S, 1, "99.99", "100.01");
    assert_eq!(h.e.executors.live(), 1);
    // Direction 1 fires (buy 2 at 95.02, sell 1 at 99.99) and completes.
    let outs = h.quote(T0 + 32 * S, 1, "95", "95.02");
    let legs = places(&outs);
    assert_eq!(
        legs.iter()
            .map(|p| (p.instrument, p.side))
            .collect::<Vec<_>>(),
        [(1, Side::Buy), (0, Side::Sell)]
    );
    h.fill(T0 + 33 * S, &legs[0], "95.02");
    h.fill(T0 + 33 * S, &legs[1], "99.99");
    assert_eq!(h.e.executors.live(), 0);
    // Balanced again, but the last close was at +33 s: nothing before +43 s.
    h.quote(T0 + 42 * S, 1, "99.99", "100.01");
    assert_eq!(h.e.executors.live(), 0);
    h.quote(T0 + 43 * S, 1, "99.99", "100.01");
    // (Freed slots are reused last-freed first, so slot order is 1, 0.)
    assert_eq!(
        h.configs(),
        vec![
            (1, arb(1, 0, "0.0004", "0.001")),
            (0, arb(0, 1, "0.001", "0.0004"))
        ]
    );
    assert_eq!(h.e.report(0).close_types[CloseType::Completed as usize], 2);
}

const XEMM: &str = r#"
[[controllers]]
type = "xemm"
id = "xemm"
maker_instrument = "BTCUSDT"
taker_instrument = "BTCUSDT-B"
buy_levels = [
  { target_profitability = "0.003", amount_quote = "100" },
  { target_profitability = "0.006", amount_quote = "200" },
]
sell_levels = [{ target_profitability = "0.003", amount_quote = "100" }]
min_profitability = "0.002"
max_profitability = "0.01"
maker_fee = "0"
taker_fee = "0"
"#;

#[test]
fn xemm_spawns_an_executor_per_level_and_respects_imbalance() {
    let mut h = H::new(&format!("{INSTRUMENTS}{XEMM}"));
    h.quote(T0, 1, "99.99", "100.01");
    let outs = h.quote(T0, 0, "99.99", "100.01");
    let xemm = |buying, selling, side, amount: &str, target: &str| {
        ExecutorConfig::Xemm(XemmConfig {
            buying,
            selling,
            maker_side: side,
            order_amount: d(amount),
            min_profitability: d("0.002"),
            target_profitability: d(target),
            max_profitability: d("0.01"),
            maker_fee: Dec::ZERO,
            taker_fee: Dec::ZERO,
            max_retries: 0,
        })
    };
    // Amounts at the maker mid 100: 100 → 1, 200 → 2, 100 → 1.
    assert_eq!(
        h.configs(),
        vec![
            (0, xemm(0, 1, Side::Buy, "1", "0.003")),
            (1, xemm(0, 1, Side::Buy, "2", "0.006")),
            (2, xemm(1, 0, Side::Sell, "1", "0.003")),
        ]
    );
    // Maker prices against the taker touch: 99.99/1.003 → 99.69, 99.99/1.006 → 99.39,
    // 100.01/0.997 → 100.32 (BUY rounded down, SELL up).
    assert_eq!(
        on(&outs, 0),
        vec![
            (Side::Buy, OrderType::Limit, d("99.69"), d("1")),
            (Side::Buy, OrderType::Limit, d("99.39"), d("2")),
            (Side::Sell, OrderType::Limit, d("100.32"), d("1")),
        ]
    );
    let makers = places(&outs);
    // Level 0's maker fills; its hedge sells on the taker market.
    let outs = h.fill(T0 + S, &makers[0], "99.69");
    assert_eq!(
        on(&outs, 1),
        vec![(Side::Sell, OrderType::Market, Dec::ZERO, d("1"))]
    );
    let hedge = places(&outs)[0];
    // While it hedges, the filled level already counts towards the imbalance: its
    // level is not re-spawned although its executor is no longer active.
    assert!(places(&h.quote(T0 + 2 * S, 0, "99.99", "100.01")).is_empty());
    assert_eq!(h.e.executors.live(), 3);
    h.fill(T0 + 2 * S, &hedge, "99.99");
    assert_eq!(h.e.executors.live(), 2);
    // Imbalance 1 = max: buy levels wait, level 0 is not re-spawned.
    h.quote(T0 + 5 * S, 0, "99.99", "100.01");
    assert_eq!(h.configs().iter().map(|c| c.0).collect::<Vec<_>>(), [1, 2]);
    // The sell level round trip evens it out; then levels 0 and 2 are spawned again.
    h.report(T0 + 6 * S, makers[2].cid, ExecKind::Ack, "0", "0");
    let outs = h.report(T0 + 6 * S, makers[2].cid, ExecKind::Fill, "100.32", "1");
    let hedge = places(&outs)[0];
    assert_eq!((hedge.instrument, hedge.side), (1, Side::Buy));
    h.fill(T0 + 6 * S, &hedge, "100.01");
    h.quote(T0 + 7 * S, 0, "99.99", "100.01");
    let mut levels: Vec<u16> = h.configs().iter().map(|c| c.0).collect();
    levels.sort();
    assert_eq!(levels, [0, 1, 2]);
}

#[test]
fn config_checks() {
    use kestrel_engine::config::Config;
    let bad = format!("{INSTRUMENTS}{ARB}").replace("BTCUSDT-B\"\norder", "BTCUSDT\"\norder");
    let e = Config::from_toml(&bad).unwrap_err();
    assert_eq!(
        e.0,
        "controller arb: the two instruments must differ (both BTCUSDT)"
    );
    let eth = format!("{INSTRUMENTS}{ARB}").replacen("base = \"BTC\"\nquote = \"USDT\"\ntick_size = \"0.01\"\nlot_size = \"0.00001\"\nmin_notional = \"5\"\n[balances]", "base = \"ETH\"\nquote = \"USDT\"\ntick_size = \"0.01\"\nlot_size = \"0.00001\"\nmin_notional = \"5\"\n[balances]", 1);
    let e = Config::from_toml(&eth).unwrap_err();
    assert_eq!(
        e.0,
        "controller arb: bases BTC (BTCUSDT) and ETH (BTCUSDT-B) are not interchangeable"
    );
    let e = Config::from_toml(&format!("{INSTRUMENTS}{XEMM}").replace("\"0.006\"", "\"0.02\""))
        .unwrap_err();
    assert!(
        e.0.contains("level target_profitability 0.02 must be within [min_profitability 0.002, max_profitability 0.01]"),
        "{e}"
    );
}
