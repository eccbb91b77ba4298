//! Market-making controller extensions driven through `Engine::apply`: spot rebalance
//! (scenario 44), triple-barrier levels, NATR-scaled spreads (dman), the update
//! interval, and config checks for leverage and position mode.

mod common;
use common::*;
use kestrel_engine::config::Config;
use kestrel_engine::controllers::market_making::REBALANCE_LEVEL;
use kestrel_engine::controllers::{ControllerField, ControllerKind};
use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::*;

const T0: u64 = 1_000_000 * S;

const INSTRUMENT: &str = r#"
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
"#;

fn rebalancing(total: &str) -> String {
    format!(
        r#"{INSTRUMENT}
[[controllers]]
type = "market_making"
id = "mm"
instrument = "ETHUSDT"
buy_spreads = "0.01,0.02"
sell_spreads = "0.01,0.02"
buy_amounts_pct = "50,50"
sell_amounts_pct = "60,40"
total_amount_quote = "{total}"
skip_rebalance = false
"#
    )
}

fn market(side: Side, amount: &str) -> (u16, ExecutorConfig) {
    (
        REBALANCE_LEVEL,
        ExecutorConfig::Order(OrderExecutorConfig {
            instrument: 0,
            side,
            amount: d(amount),
            strategy: ExecutionStrategy::Market,
            price: Dec::ZERO,
            position_action: Default::default(),
        }),
    )
}

fn mm(h: &H) -> &kestrel_engine::controllers::market_making::MarketMaking {
    match h.kind(0) {
        ControllerKind::MarketMaking(m) => m,
        other => panic!("not MM: {other:?}"),
    }
}

#[test]
fn scenario_44_required_base_and_rebalance_buy_then_sell() {
    // Total 3000, sells [60, 40]% of 200 weight → 900 + 600 quote; ref 100 → 15 base.
    let mut h = H::new(&rebalancing("3000"));
    let outs = h.quote(T0, 0, "99.99", "100.01");
    assert_eq!(mm(&h).required_base(d("100")), d("15"));
    // Held 0 → MARKET BUY 15 on level position_rebalance, emitted before the levels.
    let o = orders(&outs);
    assert_eq!(o.len(), 5);
    assert_eq!(o[0], (Side::Buy, OrderType::Market, Dec::ZERO, d("15")));
    assert_eq!(h.configs()[0], market(Side::Buy, "15"));
    let rebalance = places(&outs)[0];
    // While it works, no second rebalance.
    assert!(places(&h.quote(T0 + S, 0, "99.99", "100.01")).is_empty());
    // Filled: the order executor holds 15 ETH for the controller.
    let outs = h.fill(T0 + 2 * S, &rebalance, "100.01");
    assert!(outs.iter().any(|o| matches!(
        o.action,
        Action::ExecutorUpdate {
            close_type: Some(CloseType::PositionHold),
            ..
        }
    )));
    assert_eq!(h.e.performance[0].positions[0].position.net, d("15"));
    assert!(places(&h.quote(T0 + 3 * S, 0, "99.99", "100.01")).is_empty());
    // Budget 2000 → required 10, held 15 → MARKET SELL 5.
    h.update(T0 + 4 * S, 0, ControllerField::TotalAmountQuote, "2000");
    let outs = h.quote(T0 + 5 * S, 0, "99.99", "100.01");
    assert_eq!(
        orders(&outs),
        vec![(Side::Sell, OrderType::Market, Dec::ZERO, d("5"))]
    );
}

#[test]
fn scenario_44_within_threshold_no_rebalance() {
    // Required 0.99 first (total 198), bought and held; then 1.0 (total 200):
    // |1.0 − 0.99| = 0.01 ≤ 5% of 1.0 → nothing.
    let mut h =
        H::new(&rebalancing("198").replace("min_notional = \"5\"", "min_notional = \"0.5\""));
    let outs = h.quote(T0, 0, "99.99", "100.01");
    let first = places(&outs)[0];
    assert_eq!(
        (first.side, first.order_type, first.qty),
        (Side::Buy, OrderType::Market, d("0.99"))
    );
    h.fill(T0 + S, &first, "100");
    h.update(T0 + 2 * S, 0, ControllerField::TotalAmountQuote, "200");
    let outs = h.quote(T0 + 3 * S, 0, "99.99", "100.01");
    assert!(
        places(&outs)
            .iter()
            .all(|p| p.order_type != OrderType::Market),
        "{outs:?}"
    );
    // The rebalance threshold itself is updatable: 0 → the 0.01 difference is bought.
    h.update(
        T0 + 4 * S,
        0,
        ControllerField::PositionRebalanceThreshold,
        "0",
    );
    let outs = h.quote(T0 + 5 * S, 0, "99.99", "100.01");
    assert_eq!(
        orders(&outs),
        vec![(Side::Buy, OrderType::Market, Dec::ZERO, d("0.01"))]
    );
}

#[test]
fn rebalance_is_off_by_default_and_on_perpetuals() {
    let cfg = rebalancing("3000").replace("skip_rebalance = false\n", "");
    let mut h = H::new(&cfg);
    let o = orders(&h.quote(T0, 0, "99.99", "100.01"));
    assert_eq!(o.len(), 4);
    assert!(o.iter().all(|x| x.1 == OrderType::Limit));
    let perp = rebalancing("3000").replace(
        "min_notional = \"5\"",
        "min_notional = \"5\"\nmarket = \"perpetual-oneway\"",
    );
    let mut h = H::new(&perp);
    assert_eq!(orders(&h.quote(T0, 0, "99.99", "100.01")).len(), 4);
}

const BARRIER: &str = r#"
[[controllers]]
type = "market_making"
id = "mm"
instrument = "ETHUSDT"
buy_spreads = "0.01"
sell_spreads = "0.01"
total_amount_quote = "500"
stop_loss = "0.02"
take_profit = "0.01"
time_limit = 600
cooldown_time = 30
executor_refresh_time = 60
"#;

#[test]
fn barrier_levels_are_position_executors() {
    let mut h = H::new(&format!("{INSTRUMENT}{BARRIER}"));
    let outs = h.quote(T0, 0, "99.99", "100.01");
    // Same prices and amounts as order executors: 250 quote per level.
    assert_eq!(
        orders(&outs),
        vec![
            (Side::Buy, OrderType::Limit, d("99"), d("2.5252")),
            (Side::Sell, OrderType::Limit, d("101"), d("2.4752")),
        ]
    );
    let cfgs = h.configs();
    let ExecutorConfig::Position(p) = cfgs[0].1 else {
        panic!("{cfgs:?}")
    };
    assert_eq!(p.entry_price, Some(d("99")));
    assert_eq!(p.barrier.stop_loss, Some(d("0.02")));
    assert_eq!(p.barrier.take_profit, Some(d("0.01")));
    assert_eq!(p.barrier.time_limit_s, Some(600));
    assert_eq!(p.barrier.open_order_type, OrderType::Limit);
    assert_eq!(p.barrier.take_profit_order_type, OrderType::Limit);
    assert_eq!(p.leverage, 1);
    // buy_0 fills at 99 → a resting TP SELL LIMIT at 99·1.01 = 99.99.
    let buy = places(&outs)[0];
    let outs = h.fill(T0 + S, &buy, "99");
    assert_eq!(
        orders(&outs),
        vec![(Side::Sell, OrderType::Limit, d("99.99"), d("2.5252"))]
    );
    let tp = places(&outs)[0];
    h.report(T0 + S, tp.cid, ExecKind::Ack, "0", "0");
    // A trading level is not refreshed after 60 s (the idle sell level is).
    let outs = h.quote(T0 + 62 * S, 0, "99.99", "100.01");
    assert_eq!(cancels(&outs), vec![places(&h.outputs)[1].cid]);
    // Bid 97: pnl (97 − 99)/99 = −2.02% ≤ −2% → STOP_LOSS: TP cancelled first.
    let outs = h.quote(T0 + 63 * S, 0, "97", "97.02");
    assert_eq!(cancels(&outs), vec![tp.cid]);
    let outs = h.report(T0 + 63 * S, tp.cid, ExecKind::Canceled, "0", "0");
    let close = places(&outs)[0];
    assert_eq!(
        (close.side, close.order_type, close.qty),
        (Side::Sell, OrderType::Market, d("2.5252"))
    );
    let outs = h.fill(T0 + 64 * S, &close, "97");
    assert!(outs.iter().any(|o| matches!(
        o.action,
        Action::ExecutorUpdate {
            close_type: Some(CloseType::StopLoss),
            ..
        }
    )));
    // buy_0 cools down 30 s after the stop loss; it re-quotes after that.
    let early = places(&h.quote(T0 + 93 * S, 0, "97", "97.02"));
    assert!(early.iter().all(|p| p.side == Side::Sell), "{early:?}");
    let later = orders(&h.quote(T0 + 95 * S, 0, "97", "97.02"));
    assert!(
        later.contains(&(Side::Buy, OrderType::Limit, d("96.03"), d("2.6033"))),
        "{later:?}"
    );
}

#[test]
fn a_cooldown_of_forever_keeps_a_stopped_level_out() {
    // The largest `cooldown_time` TOML takes: the stop-loss close time plus it passes
    // u64; the level stays out for good (it used to wrap to no cooldown at all).
    let never = BARRIER.replace("cooldown_time = 30", "cooldown_time = 9223372036854775807");
    let mut h = H::new(&format!("{INSTRUMENT}{never}"));
    let buy = places(&h.quote(T0, 0, "99.99", "100.01"))[0];
    let tp = places(&h.fill(T0 + S, &buy, "99"))[0];
    h.report(T0 + S, tp.cid, ExecKind::Ack, "0", "0");
    h.quote(T0 + 63 * S, 0, "97", "97.02");
    let close = places(&h.report(T0 + 63 * S, tp.cid, ExecKind::Canceled, "0", "0"))[0];
    let outs = h.fill(T0 + 64 * S, &close, "97");
    assert!(outs.iter().any(|o| matches!(
        o.action,
        Action::ExecutorUpdate {
            close_type: Some(CloseType::StopLoss),
            ..
        }
    )));
    for t in [95, 10_000, 100_000_000] {
        let later = places(&h.quote(T0 + t * S, 0, "97", "97.02"));
        assert!(
            later.iter().all(|p| p.side == Side::Sell),
            "{t} s: {later:?}"
        );
    }
}

const DMAN: &str = r#"
[[candles]]
instrument = "ETHUSDT"
interval = "1m"
source = "klines"
max_records = 10
[[controllers]]
type = "dman"
id = "dman"
instrument = "ETHUSDT"
candles_interval = "1m"
natr_length = 2
buy_spreads = "1,2"
sell_spreads = "1,2"
total_amount_quote = "1000"
"#;

#[test]
fn dman_spreads_scale_with_natr() {
    let mut h = H::new(&format!("{INSTRUMENT}{DMAN}"));
    let k0 = T0 - 10 * M;
    h.kline(T0, 0, 60, k0, ("101", "99", "100"));
    h.kline(T0, 0, 60, k0 + M, ("102", "98", "100")); // TR 4
                                                      // One true range + a forming candle: NATR(2) not ready, nothing quoted.
    assert!(places(&h.quote(T0, 0, "99.99", "100.01")).is_empty());
    h.kline(T0 + S, 0, 60, k0 + 2 * M, ("101", "99", "100")); // TR 2 → ATR 3
    h.kline(T0 + S, 0, 60, k0 + 3 * M, ("101", "99", "100")); // forming, TR 2
                                                              // ATR (3·1 + 2)/2 = 2.5, NATR 0.025: spreads 1 and 2 NATR = 2.5% and 5%.
    let outs = h.quote(T0 + 2 * S, 0, "99.99", "100.01");
    assert_eq!(mm(&h).spread_multiplier, d("0.025"));
    assert_eq!(
        orders(&outs),
        vec![
            (Side::Buy, OrderType::Limit, d("97.5"), d("2.5641")),
            (Side::Buy, OrderType::Limit, d("95"), d("2.6315")),
            (Side::Sell, OrderType::Limit, d("102.5"), d("2.439")),
            (Side::Sell, OrderType::Limit, d("105"), d("2.3809")),
        ]
    );
    // A wider forming candle widens the multiplier: TR 6 → (3 + 6)/2 = 4.5 → 0.045.
    h.kline(T0 + 3 * S, 0, 60, k0 + 3 * M, ("103", "97", "100"));
    h.quote(T0 + 4 * S, 0, "99.99", "100.01");
    assert_eq!(mm(&h).spread_multiplier, d("0.045"));
}

#[test]
fn natr_mode_needs_a_candle_feed_and_dman_refuses_fixed() {
    let no_feed = format!("{INSTRUMENT}{DMAN}")
        .replace("interval = \"1m\"\nsource", "interval = \"5m\"\nsource");
    let e = Config::from_toml(&no_feed).unwrap_err();
    assert!(
        e.0.contains("controller dman: needs a [[candles]] entry with instrument = \"ETHUSDT\" and interval = \"1m\""),
        "{e}"
    );
    let fixed = format!("{INSTRUMENT}{DMAN}").replace("natr_length = 2", "spread_mode = \"fixed\"");
    let e = Config::from_toml(&fixed).unwrap_err();
    assert!(e.0.contains("reads spreads as NATR multiples"), "{e}");
    let e = Config::from_toml(
        &format!("{INSTRUMENT}{DMAN}").replace("candles_interval = \"1m\"\n", ""),
    )
    .unwrap_err();
    assert!(e.0.contains("NATR spreads need candles_interval"), "{e}");
}

#[test]
fn leverage_and_position_mode_follow_the_instrument() {
    let spot = format!("{INSTRUMENT}{BARRIER}leverage = 5\n");
    let e = Config::from_toml(&spot).unwrap_err();
    assert!(
        e.0.contains("leverage 5 needs a perpetual instrument; ETHUSDT is spot"),
        "{e}"
    );
    let hedge = format!("{INSTRUMENT}{BARRIER}leverage = 5\nposition_mode = \"hedge\"\n").replace(
        "min_notional = \"5\"",
        "min_notional = \"5\"\nmarket = \"perpetual-hedge\"\nleverage = 5",
    );
    let mut h = H::new(&hedge);
    h.quote(T0, 0, "99.99", "100.01");
    let ExecutorConfig::Position(p) = h.configs()[0].1 else {
        panic!()
    };
    assert_eq!(p.leverage, 5);
    let oneway = hedge.replace("perpetual-hedge", "perpetual-oneway");
    let e = Config::from_toml(&oneway).unwrap_err();
    assert!(e.0.contains("position_mode Hedge differs"), "{e}");
    // A controller leverage other than the instrument's is refused.
    let three = hedge.replace("leverage = 5\nposition_mode", "leverage = 3\nposition_mode");
    let e = Config::from_toml(&three).unwrap_err();
    assert!(
        e.0.contains("leverage 3 differs from instrument ETHUSDT's leverage 5"),
        "{e}"
    );
}

#[test]
fn steps_at_most_once_per_update_interval() {
    let cfg = format!("{INSTRUMENT}{BARRIER}").replace(
        "time_limit = 600",
        "time_limit = 600\nupdate_interval = \"2.5\"",
    );
    let mut h = H::new(&cfg);
    assert_eq!(places(&h.quote(T0, 0, "99.99", "100.01")).len(), 2);
    let levels = places(&h.outputs);
    // Both levels stopped by hand: the controller may re-quote only 2.5 s after its step.
    h.command(
        T0 + S,
        Command::StopExecutor {
            executor: 1,
            keep_position: false,
        },
    );
    h.report(T0 + S, levels[0].cid, ExecKind::Canceled, "0", "0");
    assert!(places(&h.quote(T0 + 2 * S, 0, "99.99", "100.01")).is_empty());
    assert!(places(&h.timer(T0 + 2 * S + S / 2 - 1)).is_empty());
    let outs = h.timer(T0 + 2 * S + S / 2);
    assert_eq!(
        orders(&outs),
        vec![(Side::Buy, OrderType::Limit, d("99"), d("2.5252"))]
    );
    // A book that is not ready does not use up the interval: a crossed first quote of
    // a fresh engine is ignored, and the next valid one quotes at once.
    let mut h = H::new(&cfg);
    assert!(places(&h.quote(T0, 0, "100.01", "99.99")).is_empty());
    assert_eq!(places(&h.quote(T0 + 1, 0, "99.99", "100.01")).len(), 2);
}
