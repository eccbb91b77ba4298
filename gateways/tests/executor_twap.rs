//! TWAP executor (spec §6, scenarios 16 (T), 34-36) with the Kestrel corrections of §0.
//! Price paths run through `SimLoop` (fills from the simulated venue); scenarios that
//! need reports the venue cannot produce drive the executor directly with hand-written
//! execution reports.

mod common;

use common::*;
use kestrel_engine::executors::twap::{TwapConfig, TwapExecutor, TwapMode};
use kestrel_engine::executors::{ExecutorConfig, ExecutorKind};
use kestrel_engine::*;
use kestrel_gateways::SimLoop;

fn config(usdt: &str, min_qty: &str) -> String {
    format!(
        r#"
[session]
id = 7
[venue]
latency_ns = 1000000
maker_fee = "0.001"
taker_fee = "0.001"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_qty = "{min_qty}"
min_notional = "1"
[balances]
USDT = "{usdt}"
BTC = "10"
"#
    )
}

fn twap(mode: TwapMode) -> TwapConfig {
    TwapConfig {
        instrument: 0,
        side: Side::Buy,
        total_amount_quote: d("100"),
        total_duration_ns: 10 * S,
        order_interval_ns: 5 * S,
        mode,
        limit_order_buffer: d("0.1"),
        order_resubmission_ns: S,
        max_retries: 0,
    }
}

fn create(cfg: TwapConfig) -> Event {
    Event::Command(Command::CreateExecutor {
        controller: u16::MAX,
        config: ExecutorConfig::Twap(cfg),
    })
}

fn twap_of(l: &SimLoop) -> &TwapExecutor {
    match &l.engine.executors.get(1).expect("executor 1 is live").kind {
        ExecutorKind::Twap(t) => t,
        _ => panic!("not a TWAP"),
    }
}

/// Scenario 34 in taker mode, run to completion: slots at t = 1, 6, 11 s, each sized
/// (total − executed − open)/(empty slots)/mid.
#[test]
fn taker_plan_runs_three_slots_to_completion() {
    let mut l = sim(7, &config("10000", "0"));
    l.push(S, ticker(0, "119.99", "120.01", "10"));
    l.push(S, create(twap(TwapMode::Taker)));
    let t = twap_of(&l);
    let dues: Vec<u64> = t.slots().iter().map(|s| s.due).collect();
    assert_eq!(dues, [S, 6 * S, 11 * S]);
    assert_eq!(t.cfg.order_amount_quote(), d("33.333333333"));
    // Slot t=1: 33.333333333 / 120 = 0.277777777 → lot 0.00001 → MARKET BUY 0.27777.
    let p = places(&l.outputs);
    assert_eq!(p.len(), 1);
    assert_eq!(
        (p[0].order_type, p[0].side, p[0].qty),
        (OrderType::Market, Side::Buy, d("0.27777"))
    );
    l.advance(S + 2_000_000);
    let t = twap_of(&l);
    assert_eq!(t.executed_base, d("0.27777"));
    assert_eq!(t.executed_quote, d("0.27777").mul(d("120.01")));
    // Nothing is due before t=6.
    l.push(5 * S, Event::Timer(0));
    assert_eq!(places(&l.outputs).len(), 1);
    l.push(6 * S, Event::Timer(0));
    let p = places(&l.outputs);
    assert_eq!(p.len(), 2);
    // (100 − 33.3352977) / 2 / 120 = 0.27777 (rounded to the lot).
    let rest = (d("100") - d("0.27777").mul(d("120.01"))).raw() / 2;
    assert_eq!(
        p[1].qty,
        Dec(rest).div(d("120")).unwrap().floor_to(d("0.00001"))
    );
    l.advance(6 * S + 2_000_000);
    l.push(11 * S, Event::Timer(0));
    l.advance(11 * S + 2_000_000);
    assert_eq!(places(&l.outputs).len(), 3);
    assert_eq!(
        closes(&l.outputs),
        [(RunStatus::Terminated, Some(CloseType::Completed))]
    );
    assert!(l.engine.executors.get(1).is_none());
    let perf = l.engine.report(0);
    // Three slots sized at mid, filled at the ask: the total is met to within 0.0025.
    assert!(
        (perf.volume - d("100")).abs() < d("0.0025"),
        "{}",
        perf.volume
    );
    assert_eq!(perf.close_types[CloseType::Completed as usize], 1);
}

/// Scenario 34, maker mode: LIMIT at mid·(1 − 0.1) = 108 for the same amount.
/// Scenario 35: an order older than the resubmission time is cancelled and its slot
/// gets a new order once the cancel is confirmed.
#[test]
fn maker_limit_price_and_refresh() {
    let mut l = sim(7, &config("10000", "0"));
    l.push(S, ticker(0, "119.99", "120.01", "10"));
    l.push(S, create(twap(TwapMode::Maker)));
    let p = places(&l.outputs);
    assert_eq!(
        (p[0].order_type, p[0].price, p[0].qty),
        (OrderType::Limit, d("108"), d("0.27777"))
    );
    let first = p[0].cid;
    l.advance(S + 2_000_000);
    // Exactly 1 s old: not yet stale.
    l.push(2 * S, Event::Timer(0));
    assert!(cancels(&l.outputs).is_empty());
    l.push(2 * S + 1, ticker(0, "129.99", "130.01", "10"));
    assert_eq!(cancels(&l.outputs), [first]);
    assert_eq!(twap_of(&l).refreshed, 1);
    // The cancel lands 1 ms later; the slot is ordered again at the new mid 130 → 117.
    l.advance(2 * S + 2_000_000);
    let p = places(&l.outputs);
    assert_eq!(p.len(), 2);
    assert_ne!(p[1].cid, first);
    assert_eq!((p[1].price, p[1].qty), (d("117"), d("0.25641")));
    let t = twap_of(&l);
    assert_eq!(t.slots()[0].order, Some(p[1].cid));
    assert_eq!(t.slots()[1].order, None);
    assert_eq!(
        l.engine.executors.get(1).unwrap().core.status,
        RunStatus::Running
    );
}

/// Partial fill of a maker slot, then a refresh: the fill stays counted and the slot's
/// new order is for what is left.
#[test]
fn partial_fill_then_refresh_orders_the_rest() {
    let mut cfg = twap(TwapMode::Maker);
    cfg.total_duration_ns = 0; // one slot: the whole 100
    let mut l = sim(7, &config("10000", "0"));
    l.push(S, ticker(0, "119.99", "120.01", "10"));
    l.push(S, create(cfg));
    let p = places(&l.outputs);
    assert_eq!((p[0].price, p[0].qty), (d("108"), d("0.83333")));
    l.advance(S + 2_000_000);
    // A trade through 108 fills only the 0.5 it printed.
    l.push(
        S + 500_000_000,
        Event::Trade(Trade {
            instrument: 0,
            px: d("107.5"),
            qty: d("0.5"),
            aggressor: Side::Sell,
            trade_id: 1,
        }),
    );
    let t = twap_of(&l);
    assert_eq!((t.executed_base, t.executed_quote), (d("0.5"), d("54")));
    l.push(3 * S, Event::Timer(0));
    assert_eq!(cancels(&l.outputs), [p[0].cid]);
    l.advance(3 * S + 2_000_000);
    let p = places(&l.outputs);
    assert_eq!(p.len(), 2);
    // (100 − 54) / 1 / 120 = 0.38333 at 108.
    assert_eq!((p[1].price, p[1].qty), (d("108"), d("0.38333")));
    // It fills in full: 0.5 + 0.38333 traded, COMPLETED.
    l.push(
        4 * S,
        Event::Trade(Trade {
            instrument: 0,
            px: d("107"),
            qty: d("1"),
            aggressor: Side::Sell,
            trade_id: 2,
        }),
    );
    assert_eq!(
        closes(&l.outputs),
        [(RunStatus::Terminated, Some(CloseType::Completed))]
    );
    assert_eq!(
        l.engine.report(0).volume,
        d("54") + d("0.38333").mul(d("108"))
    );
}

/// Scenario 16 (T): not enough quote for the total → INSUFFICIENT_BALANCE, TERMINATED.
#[test]
fn budget_zero_is_insufficient_balance() {
    let mut l = sim(7, &config("0", "0"));
    l.push(S, ticker(0, "119.99", "120.01", "10"));
    l.push(S, create(twap(TwapMode::Taker)));
    assert_eq!(
        closes(&l.outputs),
        [(RunStatus::Terminated, Some(CloseType::InsufficientBalance))]
    );
    assert!(places(&l.outputs).is_empty());
}

/// §0: the minimum-size check compares the per-slot amount in base. 10 quote per slot
/// at 120 is 0.0833 BTC < min_qty 0.1 → FAILED (Hummingbot compared 10 with 0.1).
#[test]
fn min_size_is_checked_in_base() {
    let mut cfg = twap(TwapMode::Taker);
    cfg.total_amount_quote = d("30");
    let mut l = sim(7, &config("10000", "0.1"));
    l.push(S, ticker(0, "119.99", "120.01", "10"));
    l.push(S, create(cfg));
    assert_eq!(
        closes(&l.outputs),
        [(RunStatus::Terminated, Some(CloseType::Failed))]
    );
    // 40 quote per slot is 0.333 BTC: accepted.
    cfg.total_amount_quote = d("120");
    l.push(2 * S, create(cfg));
    assert_eq!(places(&l.outputs).len(), 1);
}

/// Replay: the recorded inputs applied to a fresh engine give the same outputs.
#[test]
fn replay_is_identical() {
    let mut l = sim(7, &config("10000", "0"));
    l.push(S, ticker(0, "119.99", "120.01", "10"));
    l.push(S, create(twap(TwapMode::Maker)));
    for i in 2..14u64 {
        let px = 120 + i as i64;
        l.push(
            i * S,
            ticker(0, &format!("{}.99", px - 1), &format!("{px}.01"), "10"),
        );
        l.push(i * S + 500_000_000, Event::Timer(0));
    }
    l.stop(15 * S);
    assert!(places(&l.outputs).len() >= 4);
    assert_replays(&l);
}

/// Executor 1 of `cfg` driven directly, in a session with 10000 USDT.
fn bench(cfg: TwapConfig) -> Bench {
    Bench::new(7, &config("10000", "0"), ExecutorConfig::Twap(cfg))
}

impl Bench {
    fn twap(&self) -> &TwapExecutor {
        match &self.ex.kind {
            ExecutorKind::Twap(t) => t,
            _ => unreachable!(),
        }
    }
}

/// Scenario 36: fill 1@120, mid 144 → trade_pnl_pct 0.2; a failed order empties its own
/// slot only (§0) and is re-placed; retries count it.
#[test]
fn pnl_and_failed_slot_reset_alone() {
    let mut cfg = twap(TwapMode::Taker);
    cfg.total_amount_quote = d("360"); // 3 slots of 120: 1 BTC each at mid 120
    let mut b = bench(cfg);
    b.quote(S, 0, "119.99", "120.01");
    let outs = b.run(S, |e, c| e.start(c));
    let p = places(&outs);
    assert_eq!(p[0].qty, d("1"));
    b.report(S, p[0].cid, ExecKind::Ack, "0", "0", "0");
    b.report(S, p[0].cid, ExecKind::Fill, "120", "1", "0");
    b.quote(2 * S, 0, "143.99", "144.01");
    let books = &b.eng.books;
    assert_eq!(b.twap().trade_pnl_pct(books), d("0.2"));
    let logic = b.ex.logic_ref();
    assert_eq!(logic.net_pnl_quote(books), d("24"));
    assert_eq!(logic.filled_amount_quote(books), d("120"));
    // Slot 2 at t=6 (mid 144 → 240/2/144), its order fails.
    let p2 = places(&b.quote(6 * S, 0, "143.99", "144.01"));
    assert_eq!(p2[0].qty, d("0.83333"));
    let slots_before = b.twap().slots().to_vec();
    let outs = b.report(6 * S, p2[0].cid, ExecKind::Rejected, "0", "0", "0");
    let t = b.twap();
    assert_eq!((b.ex.core.retries, t.failed), (1, 1));
    // Same plan; slot 1 untouched; slot 2 ordered again at once with a new id.
    assert_eq!(t.slots()[0], slots_before[0]);
    assert_eq!(t.slots()[2], slots_before[2]);
    let again = places(&outs);
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].cid, p2[0].cid);
    assert_eq!(t.slots()[1].order, Some(again[0].cid));
    assert_eq!(t.slots()[1].due, 6 * S);
}

/// Scenario 36 / §0: early_stop → EARLY_STOP, SHUTTING_DOWN, cancel; once the cancel is
/// confirmed it terminates still as EARLY_STOP (Hummingbot overwrote it with COMPLETED).
#[test]
fn early_stop_keeps_its_close_type() {
    let mut b = bench(twap(TwapMode::Maker));
    b.quote(S, 0, "119.99", "120.01");
    let p = places(&b.run(S, |e, c| e.start(c)));
    b.report(S, p[0].cid, ExecKind::Ack, "0", "0", "0");
    let outs = b.run(2 * S, |e, c| e.early_stop(c, false));
    assert_eq!(cancels(&outs), [p[0].cid]);
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type),
        (RunStatus::ShuttingDown, Some(CloseType::EarlyStop))
    );
    b.report(2 * S, p[0].cid, ExecKind::Canceled, "0", "0", "0");
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type),
        (RunStatus::Terminated, Some(CloseType::EarlyStop))
    );
}

/// early_stop(keep_position) → POSITION_HOLD with the fills as held exposure, also
/// after a partial fill of the cancelled order.
#[test]
fn early_stop_keep_position_holds_fills() {
    let mut b = bench(twap(TwapMode::Maker));
    b.quote(S, 0, "119.99", "120.01");
    let p = places(&b.run(S, |e, c| e.start(c)));
    b.report(S, p[0].cid, ExecKind::Ack, "0", "0", "0");
    b.report(S, p[0].cid, ExecKind::PartialFill, "108", "0.1", "0");
    b.run(2 * S, |e, c| e.early_stop(c, true));
    assert_eq!(b.ex.core.close_type, Some(CloseType::PositionHold));
    // Still working: a shutdown retry 5 s later counts one retry.
    b.run(7 * S, |e, c| e.control(c));
    assert_eq!(b.ex.core.retries, 1);
    b.report(8 * S, p[0].cid, ExecKind::Canceled, "0", "0", "0");
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type),
        (RunStatus::Terminated, Some(CloseType::PositionHold))
    );
    let h = b.ex.logic_ref().held();
    assert_eq!((h.buy_base, h.buy_quote), (d("0.1"), d("10.8")));
}

/// Too many failures → FAILED (max_retries from the config).
#[test]
fn retries_exhausted_is_failed() {
    let mut cfg = twap(TwapMode::Taker);
    cfg.max_retries = 2;
    let mut b = bench(cfg);
    b.quote(S, 0, "119.99", "120.01");
    let mut p = places(&b.run(S, |e, c| e.start(c)));
    for _ in 0..3 {
        let outs = b.report(S, p[0].cid, ExecKind::Rejected, "0", "0", "0");
        p = places(&outs);
        if p.is_empty() {
            break;
        }
    }
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type, b.ex.core.retries),
        (RunStatus::Terminated, Some(CloseType::Failed), 3)
    );
}

/// SELL side: maker price mid·(1 + 0.1) = 132; pnl (avg − mid)/avg.
#[test]
fn sell_side_price_and_pnl() {
    let mut cfg = twap(TwapMode::Maker);
    cfg.side = Side::Sell;
    cfg.total_amount_quote = d("360");
    let mut b = bench(cfg);
    b.quote(S, 0, "119.99", "120.01");
    let p = places(&b.run(S, |e, c| e.start(c)));
    assert_eq!(
        (p[0].side, p[0].price, p[0].qty),
        (Side::Sell, d("132"), d("1"))
    );
    b.report(S, p[0].cid, ExecKind::Ack, "0", "0", "0");
    b.report(S, p[0].cid, ExecKind::Fill, "132", "1", "0");
    b.quote(2 * S, 0, "118.79", "118.81");
    // (132 − 118.8) / 132 = 0.1
    assert_eq!(b.twap().trade_pnl_pct(&b.eng.books), d("0.1"));
    let h = b.ex.logic_ref().held();
    assert_eq!(
        (h.sell_base, h.sell_quote, h.buy_base),
        (d("1"), d("132"), d("0"))
    );
}
