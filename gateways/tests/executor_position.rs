//! Position executor (triple barrier) against the simulated venue, with the numbers of
//! the acceptance scenarios in `hummingbot_v2_spec.md` §12 (P, Pd, 16). Defaults as in
//! the spec: ETH-USDT, amount 1, entry 100, SL 5%, TP 10%, time limit 60 s, and a fee
//! rate of 0.002 so that a fill of 1 @ 100 pays 0.2 USDT. Events the venue cannot
//! produce (rejects, hand-timed races) are driven through `Engine::apply` directly.

mod common;

use common::{assert_replays, cancels, d, places, H, S};
use kestrel_engine::executors::{
    ExecutorConfig, ExecutorCore, ExecutorKind, ExecutorLogic, PositionConfig, PositionExecutor,
    TrailingStop, TripleBarrier,
};
use kestrel_engine::*;
use kestrel_gateways::SimLoop;

const MS: u64 = 1_000_000;
const T0: u64 = 1_000 * S;
const MAIN: usize = 0; // no controllers: "main" is performance index 0

fn config(usdt: &str, eth: &str) -> String {
    format!(
        r#"
[session]
id = 7
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"
[balances]
USDT = "{usdt}"
ETH = "{eth}"
[venue]
latency_ns = 1000000
maker_fee = "0.002"
taker_fee = "0.002"
"#
    )
}

fn start(usdt: &str, eth: &str) -> SessionStart {
    SessionStart {
        session_id: 7,
        seed: 1,
        config: config(usdt, eth),
    }
}

fn sim() -> SimLoop {
    SimLoop::new(start("10000", "10")).unwrap()
}

/// Spec defaults: amount 1, entry 100, SL 5%, TP 10% (MARKET), time limit 60 s.
fn cfg(side: Side) -> PositionConfig {
    PositionConfig {
        side,
        entry_price: Some(d("100")),
        amount: d("1"),
        barrier: TripleBarrier {
            stop_loss: Some(d("0.05")),
            take_profit: Some(d("0.1")),
            time_limit_s: Some(60),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn with_tp(mut c: PositionConfig, t: OrderType) -> PositionConfig {
    c.barrier.take_profit_order_type = t;
    c
}

fn ticker(bid: &str, ask: &str) -> Event {
    ticker_q(bid, "10", ask, "10")
}

fn ticker_q(bid: &str, bq: &str, ask: &str, aq: &str) -> Event {
    Event::BookTicker(BookTicker {
        instrument: 0,
        bid_px: d(bid),
        bid_qty: d(bq),
        ask_px: d(ask),
        ask_qty: d(aq),
        update_id: 0,
    })
}

fn trade(px: &str, qty: &str) -> Event {
    Event::Trade(Trade {
        instrument: 0,
        px: d(px),
        qty: d(qty),
        aggressor: Side::Sell,
        trade_id: 1,
    })
}

fn create(c: PositionConfig) -> Event {
    Event::Command(Command::CreateExecutor {
        controller: u16::MAX,
        config: ExecutorConfig::Position(c),
    })
}

fn stop(executor: u32, keep_position: bool) -> Event {
    Event::Command(Command::StopExecutor {
        executor,
        keep_position,
    })
}

/// Close types of the executors that terminated, in order.
fn closed(outs: &[Output]) -> Vec<CloseType> {
    outs.iter()
        .filter_map(|o| match o.action {
            Action::ExecutorUpdate {
                status: RunStatus::Terminated,
                close_type,
                ..
            } => close_type,
            _ => None,
        })
        .collect()
}

fn pos(engine: &Engine) -> Option<(&ExecutorCore, &PositionExecutor)> {
    engine.executors.iter().find_map(|e| match &e.kind {
        ExecutorKind::Position(p) => Some((&e.core, p)),
        _ => None,
    })
}

fn live(l: &SimLoop) -> (&ExecutorCore, &PositionExecutor) {
    pos(&l.engine).expect("executor is live")
}

fn pnl_pct(l: &SimLoop) -> Dec {
    live(l).1.trade_pnl_pct(&l.engine.books[0])
}

/// A long filled 1 @ 100 (maker fee 0.2) at T0 + 1 s with the book at 99.99 / 100.
fn long_filled(c: PositionConfig) -> SimLoop {
    let mut l = sim();
    l.push(T0, ticker("100", "100.01"));
    l.push(T0, create(c));
    l.advance(T0 + MS);
    l.push(T0 + S, trade("99.99", "5"));
    let (core, p) = live(&l);
    assert_eq!(core.status, RunStatus::Running);
    assert_eq!(
        (p.open.base, p.open.quote, p.open.fees),
        (d("1"), d("100"), d("0.2"))
    );
    assert_eq!(p.open_order, None);
    l
}

#[test]
fn s01_short_first_tick_places_one_limit_sell() {
    let mut l = sim();
    l.push(T0, ticker("99.99", "100.01"));
    l.push(T0, create(with_tp(cfg(Side::Sell), OrderType::Limit)));
    let p = places(&l.outputs);
    assert_eq!(p.len(), 1);
    assert_eq!(
        (p[0].side, p[0].order_type, p[0].qty, p[0].price),
        (Side::Sell, OrderType::Limit, d("1"), d("100"))
    );
    assert_eq!(live(&l).0.status, RunStatus::Running);
}

#[test]
fn s02_expired_at_start() {
    let mut l = sim();
    l.push(T0 + 61 * S, ticker("99.99", "100.01"));
    let mut c = with_tp(cfg(Side::Sell), OrderType::Limit);
    c.timestamp = Some(T0);
    l.push(T0 + 61 * S, create(c));
    assert!(places(&l.outputs).is_empty());
    assert_eq!(closed(&l.outputs), vec![CloseType::Expired]);
    let perf = l.engine.report(MAIN);
    assert_eq!((perf.volume, perf.fees), (Dec::ZERO, Dec::ZERO));
}

#[test]
fn s03_time_limit_cancels_unfilled_open_without_close() {
    let mut l = sim();
    l.push(T0, ticker("99.99", "100.01"));
    l.push(T0, create(with_tp(cfg(Side::Sell), OrderType::Limit)));
    let open = places(&l.outputs)[0].cid;
    let n = l.outputs.len();
    l.push(T0 + 61 * S, Event::Timer(0));
    let new = &l.outputs[n..];
    assert_eq!(cancels(new), vec![open]);
    assert!(places(new).is_empty());
    assert_eq!(live(&l).0.status, RunStatus::ShuttingDown);
    assert_eq!(live(&l).0.close_type, Some(CloseType::TimeLimit));
    l.advance(T0 + 61 * S + MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::TimeLimit]);
    assert_eq!(places(&l.outputs).len(), 1);
}

#[test]
fn s04_short_filled_rests_take_profit_buy_at_90() {
    let mut l = sim();
    l.push(T0, ticker("99.99", "100.01"));
    l.push(T0, create(with_tp(cfg(Side::Sell), OrderType::Limit)));
    l.advance(T0 + MS);
    // The bid crosses the resting sell: filled 1 @ 100; the ask is now 101.
    l.push(T0 + S, ticker("100.99", "101"));
    let p = places(&l.outputs);
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[1].side, p[1].order_type, p[1].qty, p[1].price),
        (Side::Buy, OrderType::Limit, d("1"), d("90"))
    );
    assert_eq!(pnl_pct(&l), d("-0.01"));
    assert_eq!(live(&l).1.tp_order, Some(p[1].cid));
}

#[test]
fn s05_long_market_take_profit() {
    let mut l = long_filled(cfg(Side::Buy));
    l.push(T0 + 2 * S, ticker("120", "120.01"));
    let p = places(&l.outputs);
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[1].side, p[1].order_type, p[1].qty),
        (Side::Sell, OrderType::Market, d("1"))
    );
    let (core, _) = live(&l);
    assert_eq!(
        (core.status, core.close_type),
        (RunStatus::ShuttingDown, Some(CloseType::TakeProfit))
    );
    assert_eq!(pnl_pct(&l), d("0.2"));
    l.advance(T0 + 2 * S + MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::TakeProfit]);
    let perf = l.engine.report(MAIN);
    // 100 bought + 120 sold; fees 0.2 + 0.24.
    assert_eq!((perf.volume, perf.fees), (d("220"), d("0.44")));
    assert_eq!(l.engine.portfolio.positions[0].net, Dec::ZERO);
}

#[test]
fn s06_long_stop_loss() {
    let mut l = long_filled(cfg(Side::Buy));
    l.push(T0 + 2 * S, ticker("70", "70.01"));
    let p = places(&l.outputs);
    assert_eq!(
        (p[1].side, p[1].order_type, p[1].qty),
        (Side::Sell, OrderType::Market, d("1"))
    );
    assert_eq!(live(&l).0.close_type, Some(CloseType::StopLoss));
    assert_eq!(pnl_pct(&l), d("-0.3"));
    l.advance(T0 + 2 * S + MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::StopLoss]);
}

#[test]
fn s07_tp_placed_then_time_limit_closes() {
    // Kestrel: the MARKET close follows the TP order's cancel, so the two close-side
    // orders never work at once.
    let mut l = sim();
    l.push(T0, ticker("100", "100.01"));
    l.push(T0, create(with_tp(cfg(Side::Buy), OrderType::Limit)));
    l.advance(T0 + MS);
    // Filled in the same step that finds the time limit passed.
    l.push(T0 + 61 * S, trade("99.99", "5"));
    let sells: Vec<_> = places(&l.outputs)
        .into_iter()
        .filter(|p| p.side == Side::Sell)
        .collect();
    assert_eq!(sells.len(), 1);
    assert_eq!(
        (sells[0].order_type, sells[0].price, sells[0].qty),
        (OrderType::Limit, d("110"), d("1"))
    );
    assert!(cancels(&l.outputs).contains(&sells[0].cid));
    assert_eq!(live(&l).0.close_type, Some(CloseType::TimeLimit));
    assert_eq!(pnl_pct(&l), Dec::ZERO);
    l.advance(T0 + 61 * S + MS); // TP cancel confirmed: sell #2
    let sells: Vec<_> = places(&l.outputs)
        .into_iter()
        .filter(|p| p.side == Side::Sell)
        .collect();
    assert_eq!(sells.len(), 2);
    assert_eq!(
        (sells[1].order_type, sells[1].qty),
        (OrderType::Market, d("1"))
    );
    l.advance(T0 + 61 * S + 2 * MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::TimeLimit]);
    let perf = l.engine.report(MAIN);
    assert_eq!(perf.volume, d("200"));
}

#[test]
fn s09_take_profit_order_completes() {
    let mut l = long_filled(with_tp(cfg(Side::Buy), OrderType::Limit));
    let tp = places(&l.outputs)[1];
    assert_eq!((tp.side, tp.price, tp.qty), (Side::Sell, d("110"), d("1")));
    l.push(T0 + 2 * S, ticker("110.5", "110.6"));
    assert_eq!(closed(&l.outputs), vec![CloseType::TakeProfit]);
    assert_eq!(places(&l.outputs).len(), 2);
    let perf = l.engine.report(MAIN);
    assert_eq!((perf.volume, perf.fees), (d("210"), d("0.42")));
}

#[test]
fn s10_stop_loss_wins_over_time_limit() {
    let mut l = long_filled(cfg(Side::Buy));
    l.push(T0 + 61 * S, ticker("70", "70.01"));
    l.advance(T0 + 61 * S + MS);
    let sells: Vec<_> = places(&l.outputs)
        .into_iter()
        .filter(|p| p.side == Side::Sell)
        .collect();
    assert_eq!(sells.len(), 1);
    assert_eq!(closed(&l.outputs), vec![CloseType::StopLoss]);
}

#[test]
fn s12_activation_bounds() {
    use kestrel_engine::executors::position::within_bounds;
    let b = Some((d("0.001"), d("0.01")));
    let mid = Some(d("100"));
    let ok = |t, s, px: &str| within_bounds(b, t, s, d(px), mid);
    assert!(ok(OrderType::Market, Side::Buy, "100"));
    assert!(!ok(OrderType::Market, Side::Buy, "101"));
    assert!(ok(OrderType::Limit, Side::Buy, "99.9"));
    assert!(!ok(OrderType::Limit, Side::Buy, "99.7"));
    assert!(ok(OrderType::Market, Side::Sell, "100"));
    assert!(!ok(OrderType::Market, Side::Sell, "99.9"));
    assert!(ok(OrderType::Limit, Side::Sell, "100.1"));
    assert!(!ok(OrderType::Limit, Side::Sell, "100.3"));
    assert!(within_bounds(
        None,
        OrderType::Limit,
        Side::Buy,
        d("1"),
        None
    ));

    // In an executor: a BUY LIMIT at 99.7 waits until mid comes within 0.1%.
    let mut l = sim();
    l.push(T0, ticker("99.99", "100.01"));
    let mut c = cfg(Side::Buy);
    c.entry_price = Some(d("99.7"));
    c.activation_bounds = Some((d("0.001"), d("0.01")));
    l.push(T0, create(c));
    assert!(places(&l.outputs).is_empty());
    l.push(T0 + S, ticker("99.74", "99.76"));
    let p = places(&l.outputs);
    assert_eq!((p.len(), p[0].price), (1, d("99.7")));
    // Mid leaves the bounds again: the (acknowledged) open order is cancelled.
    l.advance(T0 + S + MS);
    l.push(T0 + 2 * S, ticker("99.99", "100.01"));
    assert_eq!(cancels(&l.outputs), vec![p[0].cid]);
}

#[test]
fn s13_limit_maker_entry_is_no_better_than_bid() {
    let mut l = sim();
    l.push(T0, ticker("101", "101.01"));
    let mut c = cfg(Side::Buy);
    c.entry_price = Some(d("102"));
    c.barrier.open_order_type = OrderType::LimitMaker;
    l.push(T0, create(c));
    let p = places(&l.outputs);
    assert_eq!(
        (p[0].order_type, p[0].price),
        (OrderType::LimitMaker, d("101"))
    );
    assert_eq!(live(&l).1.entry_price(&l.engine.books[0]), d("101"));

    let mut l = sim();
    l.push(T0, ticker("101", "101.01"));
    c.entry_price = None;
    l.push(T0, create(c));
    assert_eq!(live(&l).1.config_entry, d("101"));
    assert_eq!(places(&l.outputs)[0].price, d("101"));
}

#[test]
fn s14_early_stop_and_keep_position() {
    // early_stop(): EARLY_STOP, SHUTTING_DOWN while the open order's cancel is in flight.
    let mut l = sim();
    l.push(T0, ticker("99.99", "100.01"));
    l.push(T0, create(cfg(Side::Buy)));
    l.advance(T0 + MS);
    l.push(T0 + S, stop(1, false));
    let (core, _) = live(&l);
    assert_eq!(
        (core.status, core.close_type),
        (RunStatus::ShuttingDown, Some(CloseType::EarlyStop))
    );
    l.advance(T0 + S + MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::EarlyStop]);

    // keep_position=True: POSITION_HOLD, SHUTTING_DOWN.
    let mut l = sim();
    l.push(T0, ticker("99.99", "100.01"));
    l.push(T0, create(cfg(Side::Buy)));
    l.advance(T0 + MS);
    l.push(T0 + S, stop(1, true));
    let (core, _) = live(&l);
    assert_eq!(
        (core.status, core.close_type),
        (RunStatus::ShuttingDown, Some(CloseType::PositionHold))
    );
    // Nothing filled: it ends as EARLY_STOP.
    l.advance(T0 + S + MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::EarlyStop]);

    // Stop keeping a filled entry: POSITION_HOLD at once, no close order, the long stays.
    let mut l = long_filled(cfg(Side::Buy));
    l.push(T0 + 2 * S, stop(1, true));
    assert_eq!(closed(&l.outputs), vec![CloseType::PositionHold]);
    assert_eq!(places(&l.outputs).len(), 1);
    assert_eq!(l.engine.portfolio.positions[0].net, d("1"));
    // Volume of a held position is reported by its holder, not the executor: counted once.
    let r = l.engine.report(MAIN);
    assert_eq!((r.volume, r.positions[0].volume), (d("100"), d("100")));

    // Stop without keeping a filled entry: market close, EARLY_STOP.
    let mut l = long_filled(cfg(Side::Buy));
    l.push(T0 + 2 * S, stop(1, false));
    let p = places(&l.outputs);
    assert_eq!(
        (p[1].side, p[1].order_type),
        (Side::Sell, OrderType::Market)
    );
    l.advance(T0 + 2 * S + MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::EarlyStop]);
}

#[test]
fn s16_insufficient_balance() {
    let mut l = SimLoop::new(start("50", "0")).unwrap();
    l.push(T0, ticker("99.99", "100.01"));
    l.push(T0, create(cfg(Side::Buy)));
    assert_eq!(closed(&l.outputs), vec![CloseType::InsufficientBalance]);
    assert!(places(&l.outputs).is_empty());
    assert!(pos(&l.engine).is_none());
    // A short needs the base.
    l.push(T0, create(cfg(Side::Sell)));
    assert_eq!(closed(&l.outputs), vec![CloseType::InsufficientBalance; 2]);
    assert!(places(&l.outputs).is_empty());
}

#[test]
fn s17_with_volatility() {
    let mut c = cfg(Side::Buy);
    c.barrier.stop_loss = Some(d("0.1"));
    c.barrier.take_profit = Some(d("0.2"));
    c.barrier.trailing_stop = Some(TrailingStop {
        activation_price: d("0.1"),
        trailing_delta: d("0.1"),
    });
    let v = c.with_volatility(d("1.5"));
    assert_eq!(v.barrier.stop_loss, Some(d("0.15")));
    assert_eq!(v.barrier.take_profit, Some(d("0.3")));
    let ts = v.barrier.trailing_stop.unwrap();
    assert_eq!(
        (ts.activation_price, ts.trailing_delta),
        (d("0.15"), d("0.15"))
    );
    assert_eq!(v.barrier.time_limit_s, Some(60));
    assert_eq!((v.amount, v.entry_price), (c.amount, c.entry_price));
}

#[test]
fn trailing_stop_ratchets_and_closes() {
    let mut c = cfg(Side::Buy);
    c.barrier.take_profit = None;
    c.barrier.trailing_stop = Some(TrailingStop {
        activation_price: d("0.02"),
        trailing_delta: d("0.01"),
    });
    let mut l = long_filled(c);
    // Net pnl = bid − 100 − 0.2 fee, as a fraction of 100.
    l.push(T0 + 2 * S, ticker("103", "103.01")); // 0.028 > 0.02: armed at 0.018
    assert_eq!(live(&l).1.trailing.trigger, Some(d("0.018")));
    l.push(T0 + 3 * S, ticker("105", "105.01")); // 0.048: trigger 0.038
    assert_eq!(live(&l).1.trailing.trigger, Some(d("0.038")));
    l.push(T0 + 4 * S, ticker("104", "104.01")); // 0.038: not below
    assert_eq!(places(&l.outputs).len(), 1);
    l.push(T0 + 5 * S, ticker("103.9", "104")); // 0.037 < 0.038
    assert_eq!(live(&l).0.close_type, Some(CloseType::TrailingStop));
    l.advance(T0 + 5 * S + MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::TrailingStop]);
    assert_eq!(l.engine.report(MAIN).volume, d("203.9"));
}

#[test]
fn partial_open_only_time_limit_applies_while_working() {
    let mut l = sim();
    l.push(T0, ticker("99.99", "100.01"));
    l.push(T0, create(cfg(Side::Buy)));
    l.advance(T0 + MS);
    l.push(T0 + S, ticker_q("99.9", "10", "100", "0.4")); // 0.4 @ 100
    let (_, p) = live(&l);
    assert_eq!(p.open.base, d("0.4"));
    assert!(p.open_order.is_some());
    // −10% on what is filled, but the open order still works: no stop loss.
    l.push(T0 + 2 * S, ticker("90", "100.5"));
    assert_eq!(places(&l.outputs).len(), 1);
    assert_eq!(live(&l).0.status, RunStatus::Running);
    // Time limit: cancel the open order and close the 0.4 at once.
    l.push(T0 + 61 * S, ticker("90", "100.5"));
    let p = places(&l.outputs);
    assert_eq!(cancels(&l.outputs), vec![p[0].cid]);
    assert_eq!(
        (p[1].side, p[1].order_type, p[1].qty),
        (Side::Sell, OrderType::Market, d("0.4"))
    );
    l.advance(T0 + 61 * S + MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::TimeLimit]);
    assert_eq!(l.engine.portfolio.positions[0].net, Dec::ZERO);
    // 40 bought, 36 sold.
    assert_eq!(l.engine.report(MAIN).volume, d("76"));
}

#[test]
fn partial_open_cancelled_by_bounds_keeps_fill_and_reopens_remainder() {
    let mut c = cfg(Side::Buy);
    c.activation_bounds = Some((d("0.01"), d("0.01")));
    let mut l = sim();
    l.push(T0, ticker("99.99", "100.01"));
    l.push(T0, create(c));
    l.advance(T0 + MS);
    l.push(T0 + S, ticker_q("99.9", "10", "100", "0.4")); // 0.4 @ 100
                                                          // Mid 102.05: 100 < 102.05 × 0.99, the open order is cancelled; the fill stays.
    l.push(T0 + 2 * S, ticker("102", "102.1"));
    let open = places(&l.outputs)[0].cid;
    assert_eq!(cancels(&l.outputs), vec![open]);
    l.advance(T0 + 2 * S + MS);
    let (core, p) = live(&l);
    assert_eq!((p.open_order, p.open.base), (None, d("0.4")));
    assert_eq!(core.status, RunStatus::Running);
    // Back within bounds: the next open order is for the remainder.
    l.push(T0 + 3 * S, ticker("100.5", "100.6"));
    let p = places(&l.outputs);
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[1].side, p[1].qty, p[1].price),
        (Side::Buy, d("0.6"), d("100"))
    );
}

#[test]
fn partial_open_cancelled_by_bounds_takes_profit_on_the_fill() {
    let mut c = cfg(Side::Buy);
    c.activation_bounds = Some((d("0.01"), d("0.01")));
    let mut l = sim();
    l.push(T0, ticker("99.99", "100.01"));
    l.push(T0, create(c));
    l.advance(T0 + MS);
    l.push(T0 + S, ticker_q("99.9", "10", "100", "0.4")); // 0.4 @ 100, fee 0.08
    l.push(T0 + 2 * S, ticker("111", "111.1"));
    assert_eq!(places(&l.outputs).len(), 1); // the cancel is in flight
    l.advance(T0 + 2 * S + MS);
    // Barriers now apply to the 0.4: net (4.4 − 0.08) / 40 = 10.8% ≥ 10%.
    let p = places(&l.outputs);
    assert_eq!(
        (p[1].side, p[1].order_type, p[1].qty),
        (Side::Sell, OrderType::Market, d("0.4"))
    );
    assert_eq!(live(&l).0.close_type, Some(CloseType::TakeProfit));
    assert_eq!(pnl_pct(&l), d("0.11"));
    l.advance(T0 + 2 * S + 2 * MS);
    assert_eq!(closed(&l.outputs), vec![CloseType::TakeProfit]);
    assert_eq!(l.engine.portfolio.positions[0].net, Dec::ZERO);
}

#[test]
fn fill_racing_the_time_limit_cancel_is_closed() {
    let mut l = sim();
    l.push(T0, ticker("100", "100.01"));
    l.push(T0, create(cfg(Side::Buy)));
    l.advance(T0 + MS);
    l.push(T0 + 61 * S, Event::Timer(0)); // cancel sent, reaches the venue in 1 ms
    assert_eq!(cancels(&l.outputs).len(), 1);
    // A trade fills the order before the cancel arrives.
    l.push(T0 + 61 * S + MS / 2, trade("99.99", "5"));
    let p = places(&l.outputs);
    assert_eq!(
        (p[1].side, p[1].order_type, p[1].qty),
        (Side::Sell, OrderType::Market, d("1"))
    );
    l.advance(T0 + 61 * S + 2 * MS); // cancel refused (already filled), close fills
    assert_eq!(closed(&l.outputs), vec![CloseType::TimeLimit]);
    assert_eq!(l.engine.portfolio.positions[0].net, Dec::ZERO);
    assert_eq!(l.engine.stats.alerts, 0);
}

#[test]
fn replay_reproduces_outputs() {
    let mut c = with_tp(cfg(Side::Buy), OrderType::Limit);
    c.barrier.trailing_stop = Some(TrailingStop {
        activation_price: d("0.03"),
        trailing_delta: d("0.01"),
    });
    let mut l = sim();
    l.push(T0, ticker("100", "100.01"));
    l.push(T0, create(c));
    l.advance(T0 + MS);
    l.push(T0 + S, ticker_q("99.9", "10", "100", "0.5"));
    l.push(T0 + 2 * S, ticker("104", "104.1"));
    l.push(T0 + 3 * S, ticker("106", "106.1"));
    l.push(T0 + 4 * S, ticker("104.5", "104.6"));
    l.push(T0 + 5 * S, Event::Timer(0));
    l.advance(T0 + 6 * S);
    l.push(T0 + 7 * S, create(cfg(Side::Sell)));
    l.push(T0 + 70 * S, Event::Timer(0));
    l.advance(T0 + 71 * S);
    assert_eq!(closed(&l.outputs), vec![CloseType::TimeLimit; 2]);
    assert_eq!(l.engine.portfolio.positions[0].net, Dec::ZERO);

    assert_replays(&l);
}

/// Sessions driven by hand-written execution reports (events the venue cannot produce).
impl H {
    /// A long (config `c`) whose open order was acknowledged and filled 1 @ 100 with `fee`.
    fn long_filled(c: PositionConfig, fee: &str) -> (H, ClientOrderId) {
        let mut h = H::new(7, &config("10000", "10"));
        h.input(T0, ticker("100", "100.01"));
        let open = places(&h.input(T0, create(c)))[0].cid;
        h.report(T0, open, ExecKind::Ack, d("0"), d("0"), "0");
        h.report(T0 + S, open, ExecKind::Fill, d("100"), d("1"), fee);
        (h, open)
    }
}

#[test]
fn s08_failed_close_order_is_replaced() {
    let (mut h, _) = H::long_filled(cfg(Side::Buy), "0.2");
    let close = places(&h.input(T0 + 2 * S, ticker("70", "70.01")))[0];
    assert_eq!(
        (close.side, close.order_type),
        (Side::Sell, OrderType::Market)
    );
    let outs = h.report(
        T0 + 2 * S,
        close.cid,
        ExecKind::Rejected,
        d("0"),
        d("0"),
        "0",
    );
    let (core, p) = pos(&h.e).unwrap();
    assert_eq!(core.retries, 1);
    assert_eq!(core.close_type, Some(CloseType::StopLoss));
    let again = places(&outs);
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].cid, close.cid);
    assert_eq!(
        (again[0].side, again[0].order_type, again[0].qty),
        (Side::Sell, OrderType::Market, d("1"))
    );
    assert_eq!(p.close_order, Some(again[0].cid));
    // More than MAX_RETRIES failures: FAILED.
    let mut cid = again[0].cid;
    let mut last = Vec::new();
    for _ in 0..10 {
        last = h.report(T0 + 3 * S, cid, ExecKind::Rejected, d("0"), d("0"), "0");
        if let Some(p) = places(&last).first() {
            cid = p.cid;
        }
    }
    assert_eq!(closed(&last), vec![CloseType::Failed]);
}

#[test]
fn s11_fees_counted_once() {
    let c = with_tp(cfg(Side::Buy), OrderType::Limit);
    let (mut h, _) = H::long_filled(c, "0.1");
    let (_, p) = pos(&h.e).unwrap();
    let tp = p.tp_order.expect("resting TP");
    h.report(T0 + 2 * S, tp, ExecKind::Ack, d("0"), d("0"), "0");
    h.report(
        T0 + 2 * S,
        tp,
        ExecKind::PartialFill,
        d("110"),
        d("0.5"),
        "0.05",
    );
    let (core, p) = pos(&h.e).unwrap();
    assert_eq!(p.fees_quote(), d("0.15"));
    assert_eq!(core.status, RunStatus::Running);
    // The TP completes: it is the close order, its fees counted once.
    let outs = h.report(T0 + 3 * S, tp, ExecKind::Fill, d("110"), d("0.5"), "0.05");
    assert_eq!(closed(&outs), vec![CloseType::TakeProfit]);
    assert_eq!(h.e.report(MAIN).fees, d("0.2"));
    assert_eq!(h.e.report(MAIN).volume, d("210"));
}

#[test]
fn partial_fill_racing_the_cancel_is_closed() {
    let mut h = H::new(7, &config("10000", "10"));
    h.input(T0, ticker("100", "100.01"));
    let open = places(&h.input(T0, create(cfg(Side::Buy))))[0].cid;
    h.report(T0, open, ExecKind::Ack, d("0"), d("0"), "0");
    let outs = h.input(T0 + 61 * S, Event::Timer(0));
    assert_eq!(cancels(&outs), vec![open]);
    assert!(places(&outs).is_empty());
    // 0.3 fills while the cancel is in flight: closed at once.
    let outs = h.report(
        T0 + 61 * S,
        open,
        ExecKind::PartialFill,
        d("100"),
        d("0.3"),
        "0.06",
    );
    let close = places(&outs)[0];
    assert_eq!((close.order_type, close.qty), (OrderType::Market, d("0.3")));
    h.report(T0 + 61 * S, open, ExecKind::Canceled, d("0"), d("0"), "0");
    assert_eq!(pos(&h.e).unwrap().0.status, RunStatus::ShuttingDown);
    h.report(T0 + 61 * S, close.cid, ExecKind::Ack, d("0"), d("0"), "0");
    let outs = h.report(
        T0 + 61 * S,
        close.cid,
        ExecKind::Fill,
        d("100"),
        d("0.3"),
        "0.06",
    );
    assert_eq!(closed(&outs), vec![CloseType::TimeLimit]);
    assert_eq!(h.e.report(MAIN).volume, d("60"));
}

#[test]
fn shutdown_recancels_every_five_seconds() {
    let mut h = H::new(7, &config("10000", "10"));
    h.input(T0, ticker("100", "100.01"));
    let open = places(&h.input(T0, create(cfg(Side::Buy))))[0].cid;
    h.report(T0, open, ExecKind::Ack, d("0"), d("0"), "0");
    assert_eq!(cancels(&h.input(T0 + S, stop(1, false))), vec![open]);
    h.report(T0 + S, open, ExecKind::CancelRejected, d("0"), d("0"), "0");
    assert!(cancels(&h.input(T0 + 2 * S, Event::Timer(0))).is_empty());
    assert_eq!(cancels(&h.input(T0 + 6 * S, Event::Timer(0))), vec![open]);
    let outs = h.report(T0 + 6 * S, open, ExecKind::Canceled, d("0"), d("0"), "0");
    assert_eq!(closed(&outs), vec![CloseType::EarlyStop]);
}
