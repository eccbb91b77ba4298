//! Stopping a session whose executors cannot finish (spec §9 `stop()`, scenario 43):
//! executors that stall for 20 s, or outlive the stop by 30 s, are forced to close,
//! holding what they filled.

mod common;

use common::*;
use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::*;

const CONFIG: &str = r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[balances]
USDT = "100000"
"#;

/// A limit BUY of 1 at 95, acknowledged; returns its order id.
fn limit_buy(h: &mut H, ts: u64) -> ClientOrderId {
    let config = ExecutorConfig::Order(OrderExecutorConfig {
        instrument: 0,
        side: Side::Buy,
        amount: d("1"),
        strategy: ExecutionStrategy::Limit,
        price: d("95"),
        position_action: Default::default(),
    });
    let cid = places(&h.create(ts, config))[0].cid;
    h.report(ts, cid, ExecKind::Ack, "95", "0");
    cid
}

fn closed(outs: &[Output]) -> Vec<CloseType> {
    outs.iter()
        .filter_map(|o| {
            if let Action::ExecutorUpdate {
                close_type: Some(c),
                ..
            } = o.action
            {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn stalled_executors_are_forced_to_stop_holding_their_fills() {
    let mut h = H::session(1, CONFIG);
    h.ticker(S, 0, "99", "101", "1");
    let a = limit_buy(&mut h, 2 * S);
    let b = limit_buy(&mut h, 2 * S);
    let c = limit_buy(&mut h, 2 * S);
    h.report(3 * S, c, ExecKind::PartialFill, "95", "0.4");
    let outs = h.command(10 * S, Command::Stop);
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o.action, Action::Cancel { .. }))
            .count(),
        3
    );
    // A's cancel is confirmed at +15 s: progress, so nothing is forced at +21 s.
    assert_eq!(
        closed(&h.report(25 * S, a, ExecKind::Canceled, "95", "0")),
        [CloseType::EarlyStop]
    );
    assert!(closed(&h.timer(31 * S)).is_empty());
    assert_eq!(h.e.executors.live(), 2);
    // 30 s after the stop the survivors are forced: B had no fill (FAILED), C holds 0.4.
    let outs = h.timer(40 * S);
    assert_eq!(closed(&outs), [CloseType::Failed, CloseType::PositionHold]);
    assert_eq!(h.e.executors.live(), 0);
    let r = h.e.report(0);
    assert_eq!(r.positions[0].net, d("0.4"));
    let _ = b;
}

#[test]
fn stall_without_progress_forces_after_20_seconds() {
    let mut h = H::session(1, CONFIG);
    h.ticker(S, 0, "99", "101", "1");
    limit_buy(&mut h, 2 * S);
    h.command(10 * S, Command::Stop);
    assert!(closed(&h.timer(29 * S)).is_empty());
    assert_eq!(closed(&h.timer(30 * S)), [CloseType::Failed]);
}
