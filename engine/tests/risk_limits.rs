//! Pre-trade risk limits (`[risk]`) and the kill switch, through `Engine::apply`:
//! each limit refuses exactly the orders past it with its own journaled alert, and
//! a session with limits and a kill switch replays identically.

mod common;

use common::*;
use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::risk::RiskLimit;
use kestrel_engine::*;

const INSTRUMENTS: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[balances]
USDT = "1000000"
BTC = "100"
ETH = "100"
"#;

fn engine(risk: &str) -> H {
    let mut h = H::new(&format!("{INSTRUMENTS}\n[risk]\n{risk}"));
    // Mid 100 on both instruments.
    h.quote(S, 0, "99.99", "100.01");
    h.quote(S, 1, "99.99", "100.01");
    h
}

fn order(instrument: InstrumentId, side: Side, amount: &str, price: &str) -> Command {
    Command::CreateExecutor {
        controller: u16::MAX,
        config: ExecutorConfig::Order(OrderExecutorConfig {
            instrument,
            side,
            amount: d(amount),
            strategy: if price.is_empty() {
                ExecutionStrategy::Market
            } else {
                ExecutionStrategy::Limit
            },
            price: if price.is_empty() {
                Dec::ZERO
            } else {
                d(price)
            },
            position_action: Default::default(),
        }),
    }
}

fn cid(n: u32) -> ClientOrderId {
    ClientOrderId::new(7, n)
}

fn alert(code: AlertCode, n: u32) -> Action {
    Action::Alert { code, cid: cid(n) }
}

fn actions(outs: &[Output]) -> Vec<Action> {
    outs.iter().map(|o| o.action).collect()
}

/// The single order placed by `outs`: (cid counter, side, price, qty).
fn placed(outs: &[Output]) -> (u32, Side, Dec, Dec) {
    let p = places(outs);
    assert_eq!(p.len(), 1, "{outs:?}");
    (p[0].cid.0 as u32, p[0].side, p[0].price, p[0].qty)
}

fn refused(h: &H, limit: RiskLimit) -> u64 {
    let i = RiskLimit::ALL.iter().position(|l| *l == limit).unwrap();
    h.e.risk.refused[i]
}

#[test]
fn max_order_qty_global_and_per_instrument() {
    let mut h =
        engine("max_order_qty = \"0.5\"\n[risk.instruments.ETHUSDT]\nmax_order_qty = \"0.2\"");
    let outs = h.command(2 * S, order(0, Side::Buy, "0.501", "99"));
    // Refused with the id the order would have had; the counter is not consumed.
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskOrderQty, 1)]);
    let outs = h.command(2 * S, order(0, Side::Buy, "0.5", "99"));
    assert_eq!(placed(&outs), (1, Side::Buy, d("99"), d("0.5")));
    let outs = h.command(2 * S, order(1, Side::Sell, "0.201", "101"));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskOrderQty, 2)]);
    let outs = h.command(2 * S, order(1, Side::Sell, "0.2", "101"));
    assert_eq!(placed(&outs), (2, Side::Sell, d("101"), d("0.2")));
    assert_eq!(refused(&h, RiskLimit::OrderQty), 2);
    // The refused executors retry on every control step; the 11th refusal closes the
    // BTC one as FAILED (10 retries tolerated).
    for n in 0..9 {
        let outs = h.quote(3 * S + n, 0, "99.99", "100.01");
        assert_eq!(
            actions(&outs),
            vec![alert(AlertCode::RiskOrderQty, 3)],
            "{n}"
        );
    }
    let outs = h.quote(4 * S, 0, "99.99", "100.01");
    assert_eq!(
        actions(&outs),
        vec![
            alert(AlertCode::RiskOrderQty, 3),
            Action::ExecutorUpdate {
                executor: 1,
                controller: 0,
                status: RunStatus::Terminated,
                close_type: Some(CloseType::Failed),
            }
        ]
    );
    assert_eq!(refused(&h, RiskLimit::OrderQty), 12);
    assert_eq!(h.e.orders.placed, 2);
}

#[test]
fn max_order_notional_values_market_orders_at_the_touch() {
    let mut h = engine("max_order_notional = 1000");
    // 10 × 100 = 1000: at the limit.
    let outs = h.command(2 * S, order(0, Side::Buy, "10", "100"));
    assert_eq!(placed(&outs), (1, Side::Buy, d("100"), d("10")));
    let outs = h.command(2 * S, order(0, Side::Buy, "10.001", "100"));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskOrderNotional, 2)]);
    // A market buy of 9.999 is valued at the ask: 9.999 × 100.01 = 999.99999 ≤ 1000.
    let outs = h.command(2 * S, order(0, Side::Buy, "9.999", ""));
    assert_eq!(placed(&outs), (2, Side::Buy, Dec::ZERO, d("9.999")));
    // 10 × 100.01 = 1000.1 > 1000.
    let outs = h.command(2 * S, order(0, Side::Buy, "10", ""));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskOrderNotional, 3)]);
}

#[test]
fn max_position_counts_fills_and_working_orders() {
    let mut h = engine("max_position = 1");
    let outs = h.command(2 * S, order(0, Side::Buy, "0.6", "99"));
    let first = places(&outs)[0];
    h.fill(3 * S, &first, "99");
    assert_eq!(h.e.portfolio.positions[0].net, d("0.6"));
    // 0.6 held + 0.5 = 1.1 > 1.
    let outs = h.command(4 * S, order(0, Side::Buy, "0.5", "99"));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskPosition, 2)]);
    // 0.6 + 0.4 = 1.0: allowed, and it keeps working.
    let outs = h.command(4 * S, order(0, Side::Buy, "0.4", "99"));
    assert_eq!(placed(&outs), (2, Side::Buy, d("99"), d("0.4")));
    // 0.6 + 0.4 working + 0.001 = 1.001.
    let outs = h.command(4 * S, order(0, Side::Buy, "0.001", "99"));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskPosition, 3)]);
    // Selling 1.6 ends at -1.0: allowed; 1.601 would end at -1.001.
    let outs = h.command(4 * S, order(0, Side::Sell, "1.601", "101"));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskPosition, 3)]);
    let outs = h.command(4 * S, order(0, Side::Sell, "1.6", "101"));
    assert_eq!(placed(&outs), (3, Side::Sell, d("101"), d("1.6")));
    // ETH has no position: its own limit of 1 applies independently.
    let outs = h.command(4 * S, order(1, Side::Sell, "1", "101"));
    assert_eq!(placed(&outs), (4, Side::Sell, d("101"), d("1")));
    assert_eq!(refused(&h, RiskLimit::Position), 3);
}

#[test]
fn max_open_orders_counts_live_orders() {
    let mut h = engine("max_open_orders = 2");
    let a = places(&h.command(2 * S, order(0, Side::Buy, "1", "99")))[0];
    let b = places(&h.command(2 * S, order(1, Side::Buy, "1", "99")))[0];
    assert_eq!((a.cid, b.cid), (cid(1), cid(2)));
    let outs = h.command(2 * S, order(0, Side::Sell, "1", "101"));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskOpenOrders, 3)]);
    // A is canceled by the venue: its executor re-places at once (in the same
    // apply) and takes the freed slot; executor 3 is refused again at the next quote.
    h.report(3 * S, a.cid, ExecKind::Ack, "0", "0");
    let outs = h.report(3 * S, a.cid, ExecKind::Canceled, "0", "0");
    assert_eq!(placed(&outs), (3, Side::Buy, d("99"), d("1")));
    let outs = h.quote(4 * S, 0, "99.99", "100.01");
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskOpenOrders, 4)]);
    assert_eq!(refused(&h, RiskLimit::OpenOrders), 2);
    assert_eq!(h.e.orders.live(), 2);
}

#[test]
fn price_band_around_the_mid() {
    // Mid 100: band 1% is [99, 101].
    let mut h = engine("price_band = \"0.01\"");
    let outs = h.command(2 * S, order(0, Side::Buy, "1", "99"));
    assert_eq!(placed(&outs), (1, Side::Buy, d("99"), d("1")));
    let outs = h.command(2 * S, order(0, Side::Buy, "1", "98.99"));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskPriceBand, 2)]);
    let outs = h.command(2 * S, order(0, Side::Sell, "1", "101.01"));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskPriceBand, 2)]);
    let outs = h.command(2 * S, order(0, Side::Sell, "1", "101"));
    assert_eq!(placed(&outs), (2, Side::Sell, d("101"), d("1")));
    // The band follows the mid: at mid 90, the refused 98.99 buy is out of band too
    // (|98.99 - 90| > 0.9), the 101.01 sell as well; at mid 99.5 the buy fits
    // (|98.99 - 99.5| = 0.51 ≤ 0.995) and the sell does not (1.51 > 0.995).
    let outs = h.quote(3 * S, 0, "89.99", "90.01");
    assert_eq!(
        actions(&outs),
        vec![
            alert(AlertCode::RiskPriceBand, 3),
            alert(AlertCode::RiskPriceBand, 3)
        ]
    );
    let outs = h.quote(4 * S, 0, "99.49", "99.51");
    assert_eq!(
        actions(&outs),
        vec![
            Action::Place(PlaceOrder {
                cid: cid(3),
                instrument: 0,
                side: Side::Buy,
                order_type: OrderType::Limit,
                tif: TimeInForce::Gtc,
                price: d("98.99"),
                qty: d("1"),
                position_action: Default::default(),
            }),
            alert(AlertCode::RiskPriceBand, 4)
        ]
    );
}

#[test]
fn order_rate_slides_over_event_time() {
    let mut h = engine("max_orders_per_second = 3");
    for n in 1..=3 {
        let outs = h.command(10 * S + n * 100_000_000, order(0, Side::Buy, "1", "99"));
        assert_eq!(placed(&outs).0, n as u32);
    }
    // Three orders at 10.1 s, 10.2 s, 10.3 s: the fourth waits until 11.1 s.
    let outs = h.command(11 * S, order(0, Side::Buy, "1", "99"));
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskOrderRate, 4)]);
    let outs = h.quote(11 * S + 99_999_999, 0, "99.99", "100.01");
    assert_eq!(actions(&outs), vec![alert(AlertCode::RiskOrderRate, 4)]);
    let outs = h.quote(11 * S + 100_000_000, 0, "99.99", "100.01");
    assert_eq!(placed(&outs).0, 4);
    // A session that runs in event time, whatever the wall clock, gets the same answer.
    assert_eq!(refused(&h, RiskLimit::OrderRate), 2);
}

const KILL_CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[balances]
USDT = "1000000"
BTC = "100"
[[controllers]]
type = "market_making"
id = "mm"
instrument = "BTCUSDT"
buy_spreads = "0.01"
sell_spreads = "0.01"
total_amount_quote = "200"
executor_refresh_time = 60
cooldown_time = 1
[risk]
max_order_qty = 5
"#;

#[test]
fn kill_switch_cancels_everything_and_refuses_further_orders() {
    let mut h = H::new(KILL_CONFIG);
    let outs = h.quote(S, 0, "99.99", "100.01");
    // The controller quotes one level each side: executors 1 and 2, orders 1 and 2.
    let mm = places(&outs);
    assert_eq!(mm.len(), 2);
    // An order executor by hand (executor 3, order 3), partly filled.
    let hand = places(&h.command(2 * S, order(0, Side::Buy, "2", "99.5")))[0];
    h.report(3 * S, hand.cid, ExecKind::Ack, "0", "0");
    h.report(3 * S, hand.cid, ExecKind::PartialFill, "99.5", "0.5");
    let outs = h.command(4 * S, Command::KillSwitch);
    let ended = |executor, close| Action::ExecutorUpdate {
        executor,
        controller: if executor == 3 { 1 } else { 0 },
        status: RunStatus::Terminated,
        close_type: Some(close),
    };
    assert_eq!(
        actions(&outs),
        vec![
            Action::Alert {
                code: AlertCode::KillSwitchEngaged,
                cid: ClientOrderId::default()
            },
            Action::Cancel {
                cid: cid(1),
                instrument: 0
            },
            Action::Cancel {
                cid: cid(2),
                instrument: 0
            },
            Action::Cancel {
                cid: cid(3),
                instrument: 0
            },
            ended(1, CloseType::EarlyStop),
            ended(2, CloseType::EarlyStop),
            ended(3, CloseType::PositionHold),
        ]
    );
    assert!(h.e.risk.killed());
    assert_eq!(h.e.executors.live(), 0);
    // Nothing trades afterwards: market data and timers are quiet, a hand-made
    // executor is refused with the reason, a second kill only repeats nothing.
    assert!(h.quote(70 * S, 0, "99.99", "100.01").is_empty());
    assert!(h.timer(71 * S).is_empty());
    let outs = h.command(72 * S, order(0, Side::Buy, "1", "99"));
    assert_eq!(
        actions(&outs),
        vec![Action::Alert {
            code: AlertCode::KillSwitchActive,
            cid: ClientOrderId::default()
        }]
    );
    // The cancels are still pending: a second kill sends no duplicates.
    assert!(h.command(73 * S, Command::KillSwitch).is_empty());
    // A late fill of a canceled order still reaches the portfolio.
    h.report(74 * S, hand.cid, ExecKind::Fill, "99.5", "0.25");
    assert_eq!(h.e.portfolio.positions[0].net, d("0.75"));
    for p in &mm {
        h.report(75 * S, p.cid, ExecKind::Canceled, "0", "0");
    }
    h.report(75 * S, hand.cid, ExecKind::Canceled, "0", "0");
    assert_eq!(h.e.orders.live(), 0);
    assert_eq!(h.e.stats.cancels, 3);
}

#[test]
fn kill_switch_refuses_at_the_place_path() {
    // Executors are all terminated by the switch, so the place path's own check is
    // the last line: drive it directly.
    let h = engine("");
    let (instruments, books, mut orders) = (
        h.e.instruments.clone(),
        h.e.books.clone(),
        kestrel_engine::orders::OrderManager::default(),
    );
    let mut portfolio = h.e.portfolio.clone();
    let mut out = kestrel_engine::executors::Outbox::with_capacity(4);
    let mut next_order = 1;
    let mut risk = h.e.risk.clone();
    assert!(risk.kill());
    let mut ctx = kestrel_engine::executors::Ctx {
        now: 5 * S,
        session_id: 7,
        instruments: &instruments,
        books: &books,
        orders: &mut orders,
        portfolio: &mut portfolio,
        out: &mut out,
        next_order: &mut next_order,
        risk: &mut risk,
    };
    let r = ctx.place(1, 0, Side::Buy, OrderType::Limit, d("99"), d("1"));
    assert_eq!(
        r,
        Err(kestrel_engine::executors::PlaceError::Risk(
            RiskLimit::KillSwitch
        ))
    );
    assert_eq!(
        actions(&out.items),
        vec![alert(AlertCode::KillSwitchActive, 1)]
    );
    assert_eq!((orders.live(), next_order), (0, 1));
    // Nothing was reserved for the refused order.
    assert_eq!(portfolio.balances, h.e.portfolio.balances);
    assert_eq!(risk.refused, [1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(h.e.risk.refused, [0; 7]);
}

#[test]
fn risk_and_kill_switch_replay_identically() {
    let cfg = format!(
        "{KILL_CONFIG}max_open_orders = 3\nprice_band = \"0.02\"\nmax_orders_per_second = 2\nmax_position = 3\n"
    );
    let mut h = H::new(&cfg);
    for t in 1..200u64 {
        // Mid wanders between 99.60 and 100.40 (cents).
        let mid = 9_960 + (t * 37) % 17 * 5;
        let cents = |c: u64| format!("{}.{:02}", c / 100, c % 100);
        let (bid, ask) = (cents(mid - 1), cents(mid + 1));
        let outs = h.quote(t * S, 0, &bid, &ask);
        for p in places(&outs) {
            h.report(t * S + 1, p.cid, ExecKind::Ack, "0", "0");
            if t % 3 == 0 {
                let q = p.qty.to_string();
                h.report(t * S + 2, p.cid, ExecKind::Fill, &p.price.to_string(), &q);
            }
        }
        if t % 7 == 0 {
            h.command(t * S + 3, order(0, Side::Buy, "0.5", &bid));
        }
        if t == 150 {
            h.command(t * S + 4, Command::KillSwitch);
        }
        h.timer(t * S + 5);
    }
    let outputs = h.outputs.clone();
    let risk_alerts = outputs
        .iter()
        .filter(|o| {
            matches!(
                o.action,
                Action::Alert {
                    code: AlertCode::RiskOpenOrders
                        | AlertCode::RiskPriceBand
                        | AlertCode::RiskOrderRate
                        | AlertCode::RiskPosition,
                    ..
                }
            )
        })
        .count();
    assert!(risk_alerts > 0, "the limits were exercised");
    let killed = outputs.iter().any(|o| {
        matches!(
            o.action,
            Action::Alert {
                code: AlertCode::KillSwitchEngaged,
                ..
            }
        )
    });
    assert!(killed);
    let mut replayed = Vec::new();
    let mut fresh = H::new(&cfg);
    for i in &h.inputs {
        replayed.extend_from_slice(fresh.e.apply(i));
    }
    assert_eq!(replayed, outputs);
}
