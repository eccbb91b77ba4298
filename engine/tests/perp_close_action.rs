//! Spec scenario 15: the position action of closing orders. One-way perpetuals send
//! OPEN (a plain netting order, also for the resting take profit); hedge-mode
//! perpetuals and spot send CLOSE.

mod common;

use common::*;
use kestrel_engine::executors::{ExecutorConfig, PositionConfig, TripleBarrier};
use kestrel_engine::*;

/// (take-profit action, stop-loss close action) for a long on `market`.
fn close_actions(market: &str) -> (PositionAction, PositionAction) {
    let config = format!(
        "[[instruments]]\nsymbol = \"ETHUSDT\"\nbase = \"ETH\"\nquote = \"USDT\"\ntick_size = \"0.01\"\nlot_size = \"0.001\"\nmarket = \"{market}\"\n[balances]\nUSDT = \"10000\"\nETH = \"10\"\n"
    );
    let mut h = H::session(1, &config);
    h.ticker(1, 0, "100", "100.01", "5");
    let cfg = PositionConfig {
        side: Side::Buy,
        amount: d("1"),
        barrier: TripleBarrier {
            stop_loss: Some(d("0.05")),
            take_profit: Some(d("0.1")),
            open_order_type: OrderType::Market,
            take_profit_order_type: OrderType::Limit,
            ..TripleBarrier::default()
        },
        ..PositionConfig::default()
    };
    let outs = h.create(2, ExecutorConfig::Position(cfg));
    let open = places(&outs)[0];
    assert_eq!(open.position_action, PositionAction::Open);
    let fill = ExecReport {
        cid: open.cid,
        kind: ExecKind::Fill,
        last_px: d("100"),
        last_qty: d("1"),
        cum_qty: d("1"),
        ..Default::default()
    };
    let outs = h.input(3, Event::Exec(fill));
    let tp = places(&outs)[0];
    assert_eq!(
        (tp.side, tp.order_type, tp.price),
        (Side::Sell, OrderType::Limit, d("110"))
    );
    // Stop loss: the resting take profit is cancelled, then the market close goes out.
    let outs = h.ticker(4, 0, "90", "90.01", "5");
    assert!(outs
        .iter()
        .any(|o| matches!(o.action, Action::Cancel { cid, .. } if cid == tp.cid)));
    let mut close = places(&outs);
    if close.is_empty() {
        let done = ExecReport {
            cid: tp.cid,
            kind: ExecKind::Canceled,
            ..Default::default()
        };
        close = places(&h.input(5, Event::Exec(done)));
    }
    assert_eq!(
        (close[0].side, close[0].order_type),
        (Side::Sell, OrderType::Market)
    );
    (tp.position_action, close[0].position_action)
}

#[test]
fn close_orders_carry_the_market_close_action() {
    assert_eq!(
        close_actions("perpetual-oneway"),
        (PositionAction::Open, PositionAction::Open)
    );
    assert_eq!(
        close_actions("perpetual-hedge"),
        (PositionAction::Close, PositionAction::Close)
    );
    assert_eq!(
        close_actions("spot"),
        (PositionAction::Close, PositionAction::Close)
    );
}
