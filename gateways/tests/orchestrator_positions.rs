//! Orchestrator scenarios 41–43 (spec §12, E): position-hold buckets per market kind,
//! stored and initial positions, and the store action. Fills come from the simulated
//! venue; every session is replayed through a fresh engine.

mod common;

use common::*;
use kestrel_engine::engine::DONE_KEPT;
use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::*;
use kestrel_gateways::SimLoop;

fn config(market: &str, controllers: &str) -> String {
    format!(
        r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"
market = "{market}"
[balances]
USDT = "1000000"
ETH = "100"
[venue]
latency_ns = 0
maker_fee = "0"
taker_fee = "0"
{controllers}
"#
    )
}

fn order(l: &mut SimLoop, ts: u64, side: Side, amount: &str, action: PositionAction) {
    let config = ExecutorConfig::Order(OrderExecutorConfig {
        instrument: 0,
        side,
        amount: d(amount),
        strategy: ExecutionStrategy::Market,
        price: Dec::ZERO,
        position_action: action,
    });
    l.push(
        ts,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config,
        }),
    );
}

fn alerts(l: &SimLoop, code: AlertCode) -> usize {
    l.outputs
        .iter()
        .filter(|o| matches!(o.action, Action::Alert { code: c, .. } if c == code))
        .count()
}

#[test]
fn one_way_perpetual_holds_net_into_one_bucket() {
    // Scenario 42: ONEWAY perp buy 5 + sell 2 → one bucket, long 3.
    let cfg = config("perpetual-oneway", "");
    let mut l = sim(1, &cfg);
    book(&mut l, S, "99.99", "100", "50");
    order(&mut l, 2 * S, Side::Buy, "5", PositionAction::Open);
    book(&mut l, 3 * S, "110", "110.01", "50");
    order(&mut l, 4 * S, Side::Sell, "2", PositionAction::Open);
    let r = l.engine.report(0);
    assert_eq!(r.positions.len(), 1);
    let p = r.positions[0];
    assert_eq!((p.side, p.net, p.entry), (None, d("3"), d("100")));
    // Realized (110 − 100) × 2; unrealized at mid 110.005: 10.005 × 3.
    assert_eq!(p.realized, d("20"));
    assert_eq!(p.unrealized, d("30.015"));
    assert_eq!(p.volume, d("720"));
    assert_replays(&l);
}

#[test]
fn hedge_perpetual_keeps_long_and_short_buckets_and_close_orders_join_the_opposite_side() {
    // Scenario 42: HEDGE perp long + short → two buckets; an order executor BUY with
    // action CLOSE reduces the SELL (short) bucket.
    let cfg = config("perpetual-hedge", "");
    let mut l = sim(1, &cfg);
    book(&mut l, S, "99.99", "100", "50");
    order(&mut l, 2 * S, Side::Buy, "2", PositionAction::Open);
    order(&mut l, 3 * S, Side::Sell, "3", PositionAction::Open);
    let r = l.engine.report(0);
    assert_eq!(r.positions.len(), 2);
    assert_eq!(
        (
            r.positions[0].side,
            r.positions[0].net,
            r.positions[0].entry
        ),
        (Some(Side::Buy), d("2"), d("100"))
    );
    assert_eq!(
        (
            r.positions[1].side,
            r.positions[1].net,
            r.positions[1].entry
        ),
        (Some(Side::Sell), d("-3"), d("99.99"))
    );
    // The close order carries CLOSE to the venue.
    book(&mut l, 5 * S, "89.99", "90", "50");
    order(&mut l, 6 * S, Side::Buy, "1", PositionAction::Close);
    let closes = l
        .outputs
        .iter()
        .filter(
            |o| matches!(o.action, Action::Place(p) if p.position_action == PositionAction::Close),
        )
        .count();
    assert_eq!(closes, 1);
    let r = l.engine.report(0);
    assert_eq!(r.positions.len(), 2, "no third bucket");
    let short = r.positions[1];
    assert_eq!(short.side, Some(Side::Sell));
    assert_eq!((short.net, short.entry), (d("-2"), d("99.99")));
    // Bought back 1 at 90 against entry 99.99.
    assert_eq!(short.realized, d("9.99"));
    assert_eq!(r.positions[0].net, d("2"), "the long bucket is untouched");
    assert_replays(&l);
}

#[test]
fn stored_position_is_reported_at_mid() {
    // Scenario 41: a stored position BUY 2 @ 1000 with volume 2000, mid 230 → report
    // volume 2000, unrealized (230 − 1000) × 2 = −1540.
    let cfg = config("spot", "");
    let mut l = sim(1, &cfg);
    l.push(
        S,
        Event::Command(Command::LoadPosition {
            controller: u16::MAX,
            instrument: 0,
            side: None,
            net: d("2"),
            entry: d("1000"),
            realized: Dec::ZERO,
            fees: Dec::ZERO,
            volume: d("2000"),
        }),
    );
    book(&mut l, 2 * S, "229.99", "230.01", "50");
    let r = l.engine.report(0);
    assert_eq!(r.volume, d("2000"));
    assert_eq!(r.unrealized, d("-1540"));
    assert_eq!(r.positions[0].entry, d("1000"));
    // An unknown instrument is refused with an alert, not a panic.
    l.push(
        3 * S,
        Event::Command(Command::LoadPosition {
            controller: 0,
            instrument: 7,
            side: None,
            net: d("1"),
            entry: d("1"),
            realized: Dec::ZERO,
            fees: Dec::ZERO,
            volume: Dec::ZERO,
        }),
    );
    assert_eq!(alerts(&l, AlertCode::PositionIgnored), 1);
    assert_replays(&l);
}

#[test]
fn initial_position_is_created_once_at_the_first_mid_and_stored_ones_are_ignored() {
    // Scenario 41: initial position 2 ETH BUY with mid 230 → net 2, break-even 230,
    // volume 0; the stored position is ignored; created only once.
    let mm = r#"
[[controllers]]
type = "market_making"
id = "mm"
instrument = "ETHUSDT"
buy_spreads = ["0.5"]
sell_spreads = ["0.5"]
total_amount_quote = "20"
[[controllers.initial_positions]]
instrument = "ETHUSDT"
amount = "2"
side = "buy"
"#;
    let cfg = config("spot", mm);
    let mut l = sim(1, &cfg);
    l.push(
        S / 2,
        Event::Command(Command::LoadPosition {
            controller: 0,
            instrument: 0,
            side: None,
            net: d("2"),
            entry: d("1000"),
            realized: Dec::ZERO,
            fees: Dec::ZERO,
            volume: d("2000"),
        }),
    );
    assert_eq!(alerts(&l, AlertCode::PositionIgnored), 1);
    book(&mut l, S, "229.99", "230.01", "50");
    let r = l.engine.report(0);
    assert_eq!(r.positions.len(), 1);
    let p = r.positions[0];
    assert_eq!((p.net, p.entry, p.volume), (d("2"), d("230"), Dec::ZERO));
    // buy quote = amount × mid = 460.
    assert_eq!(p.net.mul(p.entry), d("460"));
    book(&mut l, 2 * S, "299.99", "300.01", "50");
    let r = l.engine.report(0);
    assert_eq!(r.positions.len(), 1);
    assert_eq!(r.positions[0].entry, d("230"), "created only once");
    assert_eq!(r.positions[0].unrealized, d("140"));
    assert_replays(&l);
}

#[test]
fn store_refuses_live_executors_and_folds_done_ones() {
    // Scenario 43: store on an active executor → kept; on a terminated one → removed,
    // its numbers move into the cached performance and the report is unchanged.
    let cfg = config("spot", "");
    let mut l = sim(1, &cfg);
    book(&mut l, S, "99.99", "100", "50");
    let resting = ExecutorConfig::Order(OrderExecutorConfig {
        instrument: 0,
        side: Side::Buy,
        amount: d("1"),
        strategy: ExecutionStrategy::Limit,
        price: d("90"),
        position_action: PositionAction::Open,
    });
    l.push(
        2 * S,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config: resting,
        }),
    );
    let live = l.engine.executors.iter().next().unwrap().core.id;
    l.push(
        3 * S,
        Event::Command(Command::StoreExecutor { executor: live }),
    );
    assert_eq!(alerts(&l, AlertCode::StoreRefused), 1);
    assert_eq!(l.engine.executors.live(), 1, "an active executor is kept");
    l.push(
        4 * S,
        Event::Command(Command::StopExecutor {
            executor: live,
            keep_position: false,
        }),
    );
    order(&mut l, 5 * S, Side::Buy, "1", PositionAction::Open);
    assert_eq!(l.engine.executors.live(), 0);
    assert_eq!(l.engine.executors.done().count(), 2);
    let before = l.engine.report(0);
    assert_eq!(before.close_types[CloseType::EarlyStop as usize], 1);
    assert_eq!(before.close_types[CloseType::PositionHold as usize], 1);
    l.push(
        6 * S,
        Event::Command(Command::StoreExecutor { executor: live }),
    );
    assert_eq!(
        l.engine.executors.done().count(),
        1,
        "a done executor is removed"
    );
    assert_eq!(l.engine.performance[0].stored, 1);
    assert_eq!(
        l.engine.report(0),
        before,
        "storing does not change the report"
    );
    // Storing it again, or an id that never existed, is an alert.
    l.push(
        7 * S,
        Event::Command(Command::StoreExecutor { executor: live }),
    );
    l.push(
        8 * S,
        Event::Command(Command::StoreExecutor { executor: 999 }),
    );
    assert_eq!(alerts(&l, AlertCode::UnknownExecutor), 2);
    assert_replays(&l);
}

#[test]
fn done_executors_beyond_the_newest_hundred_are_stored_automatically() {
    let cfg = config("spot", "");
    let mut l = sim(1, &cfg);
    book(&mut l, S, "99.99", "100", "50");
    let n = DONE_KEPT + 5;
    for i in 0..n as u64 {
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        order(&mut l, 2 * S + i, side, "0.1", PositionAction::Open);
    }
    assert_eq!(l.engine.executors.done().count(), DONE_KEPT);
    assert_eq!(l.engine.performance[0].stored, 5);
    let r = l.engine.report(0);
    assert_eq!(r.close_types[CloseType::PositionHold as usize], n as u64);
    // 53 buys at 100, 52 sells at 99.99 → net 0.1 long.
    assert_eq!(r.positions[0].net, d("0.1"));
    assert_replays(&l);
}

#[test]
fn perpetual_short_runs_on_margin_at_the_venue_too() {
    // No ETH at all: a one-way perp short at 10x needs 10 USDT of margin per 100.
    let cfg = config("perpetual-oneway", "")
        .replace("ETH = \"100\"\n", "")
        .replace(
            "market = \"perpetual-oneway\"",
            "market = \"perpetual-oneway\"\nleverage = 10",
        );
    let mut l = sim(1, &cfg);
    book(&mut l, S, "99.99", "100", "50");
    order(&mut l, 2 * S, Side::Sell, "3", PositionAction::Open);
    assert_eq!(l.engine.portfolio.positions[0].net, d("-3"));
    book(&mut l, 3 * S, "89.99", "90", "50");
    order(&mut l, 4 * S, Side::Buy, "3", PositionAction::Open);
    // Sold 3 @ 99.99, bought back 3 @ 90: +29.97, no fees; the engine and the venue
    // agree on the quote balance and hold no margin.
    let usdt = &l.engine.portfolio.balances[1];
    assert_eq!((usdt.total, usdt.margin), (d("1000029.97"), Dec::ZERO));
    assert_eq!(
        l.venue.balance("USDT").unwrap(),
        (d("1000029.97"), Dec::ZERO)
    );
    assert_eq!(alerts(&l, AlertCode::InsufficientBalance), 0);
    assert_replays(&l);
}
