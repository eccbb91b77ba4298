//! Perpetual accounting: a short position executor on a one-way perpetual runs on
//! margin (no base asset), settles its pnl in quote, and is refused when the margin
//! exceeds the free quote (scenario 16, perp variant: the budget check carries leverage).

mod common;

use common::*;
use kestrel_engine::config::Config;
use kestrel_engine::executors::{ExecutorConfig, PositionConfig, TripleBarrier};
use kestrel_engine::*;

const CONFIG: &str = r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
market = "perpetual-oneway"
leverage = 10
[balances]
USDT = "50"
"#;

/// Ack then fill of `qty` at `px` with a fee of 0.01.
fn fill(h: &mut H, ts: u64, cid: ClientOrderId, px: &str, qty: &str) -> Vec<Output> {
    h.input(
        ts,
        Event::Exec(ExecReport {
            cid,
            kind: ExecKind::Ack,
            ..Default::default()
        }),
    );
    h.input(
        ts,
        Event::Exec(ExecReport {
            cid,
            kind: ExecKind::Fill,
            last_px: d(px),
            last_qty: d(qty),
            cum_qty: d(qty),
            fee: d("0.01"),
            ..Default::default()
        }),
    )
}

/// The first order placed.
fn place(outs: &[Output]) -> Option<PlaceOrder> {
    places(outs).first().copied()
}

fn short(amount: &str) -> ExecutorConfig {
    ExecutorConfig::Position(PositionConfig {
        side: Side::Sell,
        amount: d(amount),
        barrier: TripleBarrier {
            open_order_type: OrderType::Market,
            stop_loss: Some(d("0.05")),
            ..TripleBarrier::default()
        },
        ..PositionConfig::default()
    })
}

#[test]
fn short_on_margin_settles_pnl_in_quote() {
    let mut h = H::session(1, CONFIG);
    h.ticker(1, 0, "99.99", "100", "50");
    // 1 ETH short at 10x: 10 USDT of margin, no ETH needed.
    let open = place(&h.create(2, short("1"))).expect("open order");
    assert_eq!((open.side, open.qty), (Side::Sell, d("1")));
    fill(&mut h, 3, open.cid, "100", "1");
    let usdt = h.e.portfolio.balances[1].clone();
    assert_eq!(usdt.asset, "USDT");
    assert_eq!((usdt.total, usdt.margin), (d("49.99"), d("10")));
    assert_eq!(h.e.portfolio.balances[0].total, Dec::ZERO, "no ETH moved");
    // Ask 105.01 → stop loss (−5 %): market BUY 1, which reduces and needs no margin.
    let close = place(&h.ticker(4, 0, "105", "105.01", "50")).expect("close order");
    assert_eq!((close.side, close.qty), (Side::Buy, d("1")));
    fill(&mut h, 5, close.cid, "105", "1");
    let usdt = &h.e.portfolio.balances[1];
    // 50 − 0.01 − 5 (loss) − 0.01; the margin is released.
    assert_eq!((usdt.total, usdt.margin), (d("44.98"), Dec::ZERO));
    assert_eq!(h.e.portfolio.positions[0].net, Dec::ZERO);
}

#[test]
fn short_beyond_the_margin_is_insufficient_balance() {
    let mut h = H::session(1, CONFIG);
    h.ticker(1, 0, "99.99", "100", "50");
    // 6 ETH at 100 / 10x = 60 USDT of margin > 50.
    let outs = h.create(2, short("6"));
    assert!(place(&outs).is_none());
    assert!(outs.iter().any(|o| matches!(
        o.action,
        Action::ExecutorUpdate {
            close_type: Some(CloseType::InsufficientBalance),
            ..
        }
    )));
}

#[test]
fn leverage_is_validated() {
    let bad = CONFIG.replace("leverage = 10", "leverage = 0");
    let e = Config::from_toml(&bad).unwrap_err().to_string();
    assert!(e.contains("leverage must be in 1..=125"), "{e}");
    let spot = CONFIG.replace("market = \"perpetual-oneway\"\n", "");
    let e = Config::from_toml(&spot).unwrap_err().to_string();
    assert!(e.contains("leverage needs a perpetual market"), "{e}");
}
