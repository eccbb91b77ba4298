//! Orchestrator scenarios (spec §12, E): held positions netted per instrument, the
//! performance report, and executors stopped by hand. Fills come from the simulated venue.

mod common;

use common::*;
use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::*;
use kestrel_gateways::SimLoop;

const CONFIG: &str = r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"
[balances]
USDT = "100000"
ETH = "100"
[venue]
latency_ns = 0
maker_fee = "0.001"
taker_fee = "0.001"
"#;

fn market(l: &mut SimLoop, ts: u64, side: Side, amount: &str) {
    let config = ExecutorConfig::Order(OrderExecutorConfig {
        instrument: 0,
        side,
        amount: d(amount),
        strategy: ExecutionStrategy::Market,
        price: Dec::ZERO,
        position_action: Default::default(),
    });
    l.push(
        ts,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config,
        }),
    );
}

#[test]
fn spot_holds_net_into_one_bucket_and_the_report_marks_them_at_mid() {
    // Scenario 42 (spot): buy 4 + sell 1 → one bucket, long 3.
    let mut l = sim(1, CONFIG);
    book(&mut l, S, "99.9", "100", "50");
    market(&mut l, 2 * S, Side::Buy, "4");
    book(&mut l, 3 * S, "110", "110.1", "50");
    market(&mut l, 4 * S, Side::Sell, "1");
    book(&mut l, 5 * S, "119.9", "120.1", "50");
    let r = l.engine.report(0);
    assert_eq!(r.close_types[CloseType::PositionHold as usize], 2);
    assert_eq!(r.positions.len(), 1);
    let p = r.positions[0];
    let (net, entry, realized, unrealized) = (p.net, p.entry, p.realized, p.unrealized);
    assert_eq!(p.side, None);
    assert_eq!((net, entry), (d("3"), d("100")));
    // Realized: (110 − 100) × 1 = 10, net of fees 0.4 + 0.11 (0.1%) = 9.49.
    assert_eq!(realized, d("9.49"));
    // Unrealized at mid 120: (120 − 100) × 3 = 60.
    assert_eq!(unrealized, d("60"));
    assert_eq!(r.volume, d("510"));
    assert_eq!(r.global, d("69.49"));
    // pct = value / volume × 100.
    assert_eq!(
        r.global_pct,
        d("69.49").mul(Dec::from_int(100)).div(d("510")).unwrap()
    );
    // The venue and the engine agree on the account.
    assert_eq!(
        l.venue.balance("ETH").unwrap().0,
        l.engine.portfolio.balances[0].total
    );
    // And the session replays to the same outputs.
    assert_replays(&l);
}

#[test]
fn executor_stopped_by_hand_cancels_and_closes_early() {
    let mut l = sim(1, CONFIG);
    book(&mut l, S, "99.9", "100", "50");
    let config = ExecutorConfig::Order(OrderExecutorConfig {
        instrument: 0,
        side: Side::Buy,
        amount: d("1"),
        strategy: ExecutionStrategy::Limit,
        price: d("95"),
        position_action: Default::default(),
    });
    l.push(
        2 * S,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config,
        }),
    );
    assert_eq!(l.engine.executors.live(), 1);
    let id = l.engine.executors.iter().next().unwrap().core.id;
    // Stopping an unknown executor changes nothing.
    l.push(
        3 * S,
        Event::Command(Command::StopExecutor {
            executor: 999,
            keep_position: false,
        }),
    );
    assert_eq!(l.engine.executors.live(), 1);
    l.push(
        4 * S,
        Event::Command(Command::StopExecutor {
            executor: id,
            keep_position: false,
        }),
    );
    assert_eq!(l.engine.executors.live(), 0);
    assert_eq!(
        l.engine.report(0).close_types[CloseType::EarlyStop as usize],
        1
    );
    assert_eq!(l.venue.open_orders(), 0);
}

#[test]
fn report_adds_stored_realized_and_live_unrealized() {
    // Scenario 40's composition: a stored TAKE_PROFIT executor contributes realized pnl,
    // a running one unrealized pnl, both their volume. Fees are 0 here.
    use kestrel_engine::executors::{PositionConfig, TripleBarrier};
    let cfg = CONFIG
        .replace("maker_fee = \"0.001\"", "maker_fee = \"0\"")
        .replace("taker_fee = \"0.001\"", "taker_fee = \"0\"");
    let mut l = sim(1, &cfg);
    book(&mut l, S, "99.99", "100", "50");
    let pos = |tp: Option<&str>| {
        ExecutorConfig::Position(PositionConfig {
            side: Side::Buy,
            amount: d("1"),
            barrier: TripleBarrier {
                open_order_type: OrderType::Market,
                take_profit: tp.map(d),
                ..TripleBarrier::default()
            },
            ..PositionConfig::default()
        })
    };
    // Running: no barriers. Take profit at 10 %.
    l.push(
        2 * S,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config: pos(None),
        }),
    );
    l.push(
        2 * S,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config: pos(Some("0.1")),
        }),
    );
    book(&mut l, 3 * S, "110", "110.01", "50");
    let r = l.engine.report(0);
    assert_eq!(r.close_types[CloseType::TakeProfit as usize], 1);
    assert_eq!(l.engine.executors.live(), 1);
    // Stored: bought 1 @ 100, sold 1 @ 110 → realized 10, volume 210.
    assert_eq!(r.realized, d("10"));
    // Running: long 1 @ 100 marked at the bid 110 → unrealized 10, volume 100.
    assert_eq!(r.unrealized, d("10"));
    assert_eq!(r.volume, d("310"));
    assert_eq!(r.global, d("20"));
}
