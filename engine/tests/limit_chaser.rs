//! Order executor in LIMIT_CHASER mode (spec §3 with Kestrel's correction: a replaced
//! order's partial fill stays with the executor).

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
ETH = "10"
"#;

#[test]
fn chaser_requotes_only_when_the_market_runs_away_and_keeps_partial_fills() {
    let mut h = H::session(1, CONFIG);
    h.ticker(1, 0, "100", "100.1", "5");
    let cfg = OrderExecutorConfig {
        instrument: 0,
        side: Side::Buy,
        amount: d("1"),
        strategy: ExecutionStrategy::LimitChaser {
            distance: d("0.001"),
            refresh_threshold: d("0.002"),
        },
        price: Dec::ZERO,
        position_action: Default::default(),
    };
    let outs = h.create(2, ExecutorConfig::Order(cfg));
    let p = places(&outs);
    assert_eq!(p.len(), 1);
    // best bid 100 × (1 − 0.001) = 99.9, post-only.
    assert_eq!(
        (p[0].price, p[0].qty, p[0].order_type),
        (d("99.9"), d("1"), OrderType::LimitMaker)
    );
    let first = p[0].cid;
    h.report_fee(3, first, ExecKind::Ack, "0", "0", "0.01");
    // The market comes toward the order: no re-quote.
    assert!(h
        .ticker(4, 0, "99.95", "100", "5")
        .iter()
        .all(|o| !matches!(o.action, Action::Cancel { .. })));
    // Runs away by 0.2 = exactly 100.1 × 0.002 − a hair: still no re-quote.
    assert!(h
        .ticker(5, 0, "100.1", "100.2", "5")
        .iter()
        .all(|o| !matches!(o.action, Action::Cancel { .. })));
    // Runs away by 0.25 > 100.15 × 0.002 = 0.2003: cancel, and no second order yet.
    let outs = h.ticker(6, 0, "100.15", "100.25", "5");
    assert!(outs.iter().any(|o| o.action
        == Action::Cancel {
            cid: first,
            instrument: 0
        }));
    assert!(places(&outs).is_empty());
    // A fill racing the cancel is kept.
    h.report_fee(7, first, ExecKind::PartialFill, "99.9", "0.3", "0.01");
    let outs = h.report_fee(8, first, ExecKind::Canceled, "0", "0", "0.01");
    // Remainder 0.7 re-placed at 100.15 × 0.999 = 100.04985 → 100.04.
    let p = places(&outs);
    assert_eq!((p[0].price, p[0].qty), (d("100.04"), d("0.7")));
    h.report_fee(9, p[0].cid, ExecKind::Ack, "0", "0", "0.01");
    let outs = h.report_fee(10, p[0].cid, ExecKind::Fill, "100.04", "0.7", "0.01");
    assert!(outs.iter().any(|o| matches!(
        o.action,
        Action::ExecutorUpdate {
            close_type: Some(CloseType::PositionHold),
            ..
        }
    )));
    // Both orders fills are held: 1 ETH at (0.3 × 99.9 + 0.7 × 100.04) / 1 = 99.998.
    let r = h.e.report(0);
    assert_eq!(r.positions.len(), 1);
    let (net, entry) = (r.positions[0].net, r.positions[0].entry);
    assert_eq!((net, entry), (d("1"), d("99.998")));
    assert_eq!(r.fees, d("0.02"));
}
