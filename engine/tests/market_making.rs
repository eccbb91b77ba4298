//! Market-making controller driven through `Engine::apply`, numbers from the spec.

mod common;

use common::*;
use kestrel_engine::*;

const T0: u64 = 1_000 * S;

const CONFIG: &str = r#"
[session]
id = 3
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.0001"
min_notional = "5"
[balances]
USDT = "10000"
ETH = "10"
[[controllers]]
type = "market_making"
id = "mm"
instrument = "ETHUSDT"
buy_spreads = "0.01,0.02"
sell_spreads = "0.01,0.02"
buy_amounts_pct = "50,50"
sell_amounts_pct = "60,40"
total_amount_quote = "1000"
executor_refresh_time = 60
cooldown_time = 15
"#;

#[test]
fn quotes_every_level_at_the_spec_prices_and_amounts() {
    let mut h = H::session(3, CONFIG);
    let outs = h.ticker(T0, 0, "99.99", "100.01", "5");
    let p = places(&outs);
    // Reference 100; amounts 1000 × [50,50 | 60,40] / 200 = 250, 250 | 300, 200 quote.
    let got: Vec<(Side, Dec, Dec)> = p.iter().map(|o| (o.side, o.price, o.qty)).collect();
    assert_eq!(
        got,
        vec![
            (Side::Buy, d("99"), d("2.5252")),
            (Side::Buy, d("98"), d("2.551")),
            (Side::Sell, d("101"), d("2.9702")),
            (Side::Sell, d("102"), d("1.9607")),
        ]
    );
    assert!(p.iter().all(|o| o.order_type == OrderType::Limit));
    // Deterministic ids: session 3, counters 1..4; each output names its cause.
    assert_eq!(
        p.iter().map(|o| o.cid.to_string()).collect::<Vec<_>>(),
        ["K3-1", "K3-2", "K3-3", "K3-4"]
    );
    assert!(outs.iter().all(|o| o.cause == 1));
    // Levels are working: the next tick places nothing.
    assert!(places(&h.ticker(T0 + S, 0, "99.99", "100.01", "5")).is_empty());
    // Funds are reserved: 99×2.5252 + 98×2.551 quote, 2.9702 + 1.9607 ETH.
    let usdt = &h.e.portfolio.balances[1];
    assert_eq!(usdt.locked, d("249.9948") + d("249.998"));
    assert_eq!(h.e.portfolio.balances[0].locked, d("4.9309"));
}

#[test]
fn prices_round_away_from_the_touch() {
    let mut h = H::session(3, CONFIG);
    // Mid 100.005: buy 99.00495 → 99.00 (down), sell 101.00505 → 101.01 (up).
    let p = places(&h.ticker(T0, 0, "99.99", "100.02", "5"));
    assert_eq!(p[0].price, d("99"));
    assert_eq!(p[2].price, d("101.01"));
    assert_eq!(p[3].price, d("102.01"));
}

#[test]
fn refreshes_after_executor_refresh_time() {
    let mut h = H::session(3, CONFIG);
    let first = places(&h.ticker(T0, 0, "99.99", "100.01", "5"));
    for o in &first {
        h.report(T0 + S / 10, o.cid, ExecKind::Ack, "0", "0");
    }
    // Exactly the refresh time: not older than it yet.
    assert!(cancels(&h.ticker(T0 + 60 * S, 0, "99.99", "100.01", "5")).is_empty());
    let outs = h.ticker(T0 + 61 * S, 0, "109.99", "110.01", "5");
    assert_eq!(
        cancels(&outs),
        first.iter().map(|o| o.cid).collect::<Vec<_>>()
    );
    // Stopped executors no longer hold their levels: the next tick re-quotes at the new mid.
    let requote = places(&h.ticker(T0 + 62 * S, 0, "109.99", "110.01", "5"));
    assert_eq!(
        requote.iter().map(|o| o.price).collect::<Vec<_>>(),
        [d("108.9"), d("107.8"), d("111.1"), d("112.2")]
    );
    // Cancel confirmations close the old executors as EARLY_STOP.
    let outs = h.report(T0 + 63 * S, first[0].cid, ExecKind::Canceled, "0", "0");
    assert!(outs.iter().any(|o| matches!(
        o.action,
        Action::ExecutorUpdate {
            status: RunStatus::Terminated,
            close_type: Some(CloseType::EarlyStop),
            ..
        }
    )));
    assert_eq!(h.e.report(0).close_types[CloseType::EarlyStop as usize], 1);
}

#[test]
fn filled_level_waits_for_cooldown() {
    let mut h = H::session(3, CONFIG);
    let first = places(&h.ticker(T0, 0, "99.99", "100.01", "5"));
    let buy0 = first[0];
    h.report(T0 + S, buy0.cid, ExecKind::Ack, "0", "0");
    let outs = h.report(T0 + 2 * S, buy0.cid, ExecKind::Fill, "99", "2.5252");
    assert!(outs.iter().any(|o| matches!(
        o.action,
        Action::ExecutorUpdate {
            close_type: Some(CloseType::PositionHold),
            ..
        }
    )));
    // Fill booked: position, balances, fee-free here.
    assert_eq!(h.e.portfolio.positions[0].net, d("2.5252"));
    assert_eq!(h.e.portfolio.balances[0].total, d("12.5252"));
    assert_eq!(h.e.portfolio.balances[1].total, d("10000") - d("249.9948"));
    // Within cooldown (15 s from the fill at T0+2 s): buy_0 is not re-quoted.
    assert!(places(&h.ticker(T0 + 16 * S, 0, "99.99", "100.01", "5")).is_empty());
    let p = places(&h.ticker(T0 + 17 * S + 1, 0, "99.99", "100.01", "5"));
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].side, p[0].price), (Side::Buy, d("99")));
}

#[test]
fn rejected_orders_are_retried_and_bad_reports_are_alerts() {
    let mut h = H::session(3, CONFIG);
    let first = places(&h.ticker(T0, 0, "99.99", "100.01", "5"));
    let outs = h.report(T0 + 1, first[0].cid, ExecKind::Rejected, "0", "0");
    // The executor re-places its order at once (retry 1 of 10).
    let p = places(&outs);
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].price, p[0].qty), (d("99"), d("2.5252")));
    // A fill for an unknown order and an impossible transition are alerts, not state changes.
    let outs = h.report(
        T0 + 2,
        ClientOrderId::new(3, 999),
        ExecKind::Fill,
        "99",
        "1",
    );
    assert!(matches!(
        outs[0].action,
        Action::Alert {
            code: AlertCode::UnknownOrder,
            ..
        }
    ));
    let outs = h.report(T0 + 3, first[1].cid, ExecKind::CancelRejected, "0", "0");
    assert!(matches!(
        outs[0].action,
        Action::Alert {
            code: AlertCode::InvalidTransition,
            ..
        }
    ));
    assert_eq!(h.e.portfolio.positions[0].net, Dec::ZERO);
}

#[test]
fn stop_command_cancels_everything_and_quotes_no_more() {
    let mut h = H::session(3, CONFIG);
    let first = places(&h.ticker(T0, 0, "99.99", "100.01", "5"));
    let outs = h.input(T0 + S, Event::Command(Command::Stop));
    assert_eq!(cancels(&outs).len(), first.len());
    assert_eq!(outs.last().unwrap().action, Action::Stopped);
    assert!(places(&h.ticker(T0 + 100 * S, 0, "99.99", "100.01", "5")).is_empty());
}

#[test]
fn insufficient_balance_closes_the_executor() {
    let cfg = CONFIG.replace("USDT = \"10000\"", "USDT = \"100\"");
    let mut h = H::session(3, &cfg);
    let outs = h.ticker(T0, 0, "99.99", "100.01", "5");
    // Only the sells are funded (ETH 10); both buys close INSUFFICIENT_BALANCE.
    assert_eq!(
        places(&outs)
            .iter()
            .filter(|p| p.side == Side::Sell)
            .count(),
        2
    );
    assert_eq!(
        places(&outs).iter().filter(|p| p.side == Side::Buy).count(),
        0
    );
    assert_eq!(
        h.e.report(0).close_types[CloseType::InsufficientBalance as usize],
        2
    );
}
