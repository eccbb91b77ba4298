//! Arbitrage executor (spec §7, scenario 39) with the Kestrel correction of §0
//! (`net_pnl_pct` as a fraction of the bought notional). The two markets are two
//! instruments of the session: BTCUSDT and WBTCUSDT (interchangeable bases), plus
//! BTCUSDC/USDCUSDT for the quote conversion.

mod common;

use common::*;
use kestrel_engine::executors::arbitrage::{interchangeable, ArbitrageConfig, ArbitrageExecutor};
use kestrel_engine::executors::{ExecutorConfig, ExecutorKind};
use kestrel_engine::*;

fn config(wbtc: &str) -> String {
    format!(
        r#"
[session]
id = 9
[venue]
latency_ns = 1000000
maker_fee = "0.01"
taker_fee = "0.01"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[[instruments]]
symbol = "WBTCUSDT"
base = "WBTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[[instruments]]
symbol = "BTCUSDC"
base = "BTC"
quote = "USDC"
tick_size = "0.01"
lot_size = "0.001"
[[instruments]]
symbol = "USDCUSDT"
base = "USDC"
quote = "USDT"
tick_size = "0.0001"
lot_size = "0.01"
[balances]
USDT = "10000"
USDC = "10000"
BTC = "10"
WBTC = "{wbtc}"
ETH = "10"
"#
    )
}

fn arb(buying: InstrumentId, selling: InstrumentId) -> ArbitrageConfig {
    ArbitrageConfig {
        buying,
        selling,
        order_amount: d("1"),
        min_profitability: d("0.01"),
        buy_taker_fee: d("0.01"),
        sell_taker_fee: d("0.01"),
        max_retries: 3,
    }
}

fn create(cfg: ArbitrageConfig) -> Event {
    Event::Command(Command::CreateExecutor {
        controller: u16::MAX,
        config: ExecutorConfig::Arbitrage(cfg),
    })
}

/// Executor 1 of `cfg` driven directly, in a session with `wbtc` WBTC.
fn bench(wbtc: &str, cfg: ArbitrageConfig) -> Bench {
    Bench::new(9, &config(wbtc), ExecutorConfig::Arbitrage(cfg))
}

impl Bench {
    fn arb(&self) -> &ArbitrageExecutor {
        match &self.ex.kind {
            ExecutorKind::Arbitrage(a) => a,
            _ => unreachable!(),
        }
    }
}

/// Scenario 39: buy 100 / sell 102 → profitability (0.02·1 − 0.02)/1 = 0 → RUNNING;
/// sell 104 → 0.02 > 0.01 → SHUTTING_DOWN with MARKET buy and sell of 1.
#[test]
fn triggers_only_above_min_profitability() {
    let mut b = bench("10", arb(0, 1));
    b.quote(S, 0, "99.99", "100");
    b.quote(S, 1, "102", "102.01");
    let outs = b.run(S, |e, c| e.start(c));
    assert!(places(&outs).is_empty());
    assert_eq!(b.ex.core.status, RunStatus::Running);
    assert_eq!(b.arb().last_profitability, Dec::ZERO);
    let outs = b.quote(2 * S, 1, "104", "104.01");
    assert_eq!(b.arb().last_profitability, d("0.02"));
    assert_eq!(b.ex.core.status, RunStatus::ShuttingDown);
    let p = places(&outs);
    let got: Vec<_> = p
        .iter()
        .map(|o| (o.instrument, o.side, o.order_type, o.qty))
        .collect();
    assert_eq!(
        got,
        [
            (0, Side::Buy, OrderType::Market, d("1")),
            (1, Side::Sell, OrderType::Market, d("1")),
        ]
    );
}

/// Scenario 39: both legs filled → COMPLETED; buy 1@100, sell 1@200, fees 1+1 →
/// net 98, pct 98/100 = 0.98 (§0; Hummingbot reported 98).
#[test]
fn completed_pnl_is_a_fraction_of_notional() {
    let mut b = bench("10", arb(0, 1));
    b.quote(S, 0, "99.99", "100");
    b.quote(S, 1, "200", "200.01");
    let p = places(&b.run(S, |e, c| e.start(c)));
    assert_eq!(p.len(), 2);
    b.report(S, p[0].cid, ExecKind::Ack, "0", "0", "0");
    b.report(S, p[1].cid, ExecKind::Ack, "0", "0", "0");
    b.report(S, p[0].cid, ExecKind::Fill, "100", "1", "1");
    assert_eq!(b.ex.core.status, RunStatus::ShuttingDown);
    b.report(S, p[1].cid, ExecKind::Fill, "200", "1", "1");
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type),
        (RunStatus::Terminated, Some(CloseType::Completed))
    );
    let (l, books) = (b.ex.logic_ref(), &b.eng.books);
    assert_eq!(l.net_pnl_quote(books), d("98"));
    assert_eq!(l.net_pnl_pct(books), d("0.98"));
    assert_eq!(l.fees_quote(), d("2"));
    assert_eq!(l.filled_amount_quote(books), d("300"));
}

/// Scenario 39: a failed leg is re-placed at once; failures 4 > 3 → FAILED.
#[test]
fn failed_leg_is_replaced_until_retries_run_out() {
    let mut b = bench("10", arb(0, 1));
    b.quote(S, 0, "99.99", "100");
    b.quote(S, 1, "104", "104.01");
    let p = places(&b.run(S, |e, c| e.start(c)));
    let mut buy = p[0].cid;
    for n in 1..=3 {
        let again = places(&b.report(S, buy, ExecKind::Rejected, "0", "0", "0"));
        assert_eq!(b.ex.core.retries, n);
        assert_eq!(again.len(), 1, "re-placed at once");
        assert_eq!((again[0].side, again[0].qty), (Side::Buy, d("1")));
        buy = again[0].cid;
    }
    let outs = b.report(S, buy, ExecKind::Rejected, "0", "0", "0");
    assert!(places(&outs).is_empty());
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type, b.ex.core.retries),
        (RunStatus::Terminated, Some(CloseType::Failed), 4)
    );
}

/// A market leg that fills only in part (rest expired) sends the rest again.
#[test]
fn partial_leg_sends_the_rest() {
    let mut b = bench("10", arb(0, 1));
    b.quote(S, 0, "99.99", "100");
    b.quote(S, 1, "104", "104.01");
    let p = places(&b.run(S, |e, c| e.start(c)));
    b.report(S, p[1].cid, ExecKind::PartialFill, "104", "0.4", "0.416");
    let outs = b.report(S, p[1].cid, ExecKind::Expired, "0", "0", "0");
    let again = places(&outs);
    assert_eq!(
        (again[0].instrument, again[0].side, again[0].qty),
        (1, Side::Sell, d("0.6"))
    );
    b.report(S, p[0].cid, ExecKind::Fill, "100", "1", "1");
    b.report(S, again[0].cid, ExecKind::Fill, "103.9", "0.6", "0.6234");
    assert_eq!(b.ex.core.close_type, Some(CloseType::Completed));
    // 41.6 + 62.34 − 100 − (1 + 0.416 + 0.6234)
    assert_eq!(b.ex.logic_ref().net_pnl_quote(&b.eng.books), d("1.9006"));
}

/// The sell market quotes in USDC: its price is converted with the rate oracle
/// (USDCUSDT mid 0.98): 104 USDC · 0.98 = 101.92 USDT → 0.0192 − 0.02 < 0.01.
#[test]
fn sell_quote_is_converted() {
    let mut b = bench("10", arb(0, 3));
    b.quote(S, 4, "0.9799", "0.9801");
    b.quote(S, 0, "99.99", "100");
    b.quote(S, 3, "104", "104.01");
    let outs = b.run(S, |e, c| e.start(c));
    assert!(places(&outs).is_empty());
    assert_eq!(b.arb().conv, d("0.98"));
    assert_eq!(b.arb().last_profitability, d("-0.0008"));
    // At 1.0 USDT per USDC the same prices trade.
    let outs = b.quote(2 * S, 4, "0.9999", "1.0001");
    assert_eq!(b.arb().conv, d("1"));
    assert_eq!(places(&outs).len(), 2);
}

/// Bases must be interchangeable; the selling market must hold the base and the buying
/// market the quote (scenario 16 style budget check).
#[test]
fn start_checks_pair_and_balances() {
    assert!(interchangeable("WBTC", "BTC") && interchangeable("USDC.E", "USDC"));
    assert!(interchangeable("USDT", "USDC") && !interchangeable("ETH", "BTC"));
    let mut b = bench("10", arb(0, 2));
    b.run(S, |e, c| e.start(c));
    assert_eq!(b.ex.core.close_type, Some(CloseType::Failed));
    let mut b = bench("0", arb(0, 1));
    b.quote(S, 0, "99.99", "100");
    b.run(S, |e, c| e.start(c));
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type),
        (RunStatus::Terminated, Some(CloseType::InsufficientBalance))
    );
}

/// early_stop → EARLY_STOP / POSITION_HOLD at once, no unwinding.
#[test]
fn early_stop_stops_at_once() {
    for (keep, ct) in [
        (false, CloseType::EarlyStop),
        (true, CloseType::PositionHold),
    ] {
        let mut b = bench("10", arb(0, 1));
        b.quote(S, 0, "99.99", "100");
        b.quote(S, 1, "104", "104.01");
        let p = places(&b.run(S, |e, c| e.start(c)));
        b.report(S, p[0].cid, ExecKind::Fill, "100", "1", "1");
        let outs = b.run(2 * S, |e, c| e.early_stop(c, keep));
        assert!(places(&outs).is_empty());
        assert_eq!(
            (b.ex.core.status, b.ex.core.close_type),
            (RunStatus::Terminated, Some(ct))
        );
        let h = b.ex.logic_ref().held();
        assert_eq!(
            (h.buy_base, h.buy_quote, h.sell_base),
            (d("1"), d("100"), d("0"))
        );
    }
}

/// Full round trip against the simulated venue, with its 1% taker fees; the sell book
/// is thin, so the sell leg fills 0.4, its rest expires and is sent again once the book
/// is restated. Replaying the inputs gives the same outputs.
#[test]
fn sim_round_trip_with_partial_leg_and_replay() {
    let mut l = sim(9, &config("10"));
    l.push(S, ticker(0, "99.99", "100", "10"));
    l.push(S, ticker(1, "102", "102.01", "0.4"));
    l.push(S, create(arb(0, 1)));
    assert!(places(&l.outputs).is_empty());
    // Sell price up: the executor sees it on its next control step (timer).
    l.push(2 * S, ticker(1, "104", "104.01", "0.4"));
    l.push(2 * S, Event::Timer(0));
    l.advance(2 * S + 2_000_000);
    let p = places(&l.outputs);
    assert_eq!(p.len(), 3, "buy, sell, and the sell's rest: {p:?}");
    assert_eq!(
        (p[2].instrument, p[2].side, p[2].qty),
        (1, Side::Sell, d("0.6"))
    );
    // The rest finds no bid until the book is restated, then fills.
    l.push(3 * S, ticker(1, "103.5", "103.6", "5"));
    l.advance(3 * S + 2_000_000);
    let p = places(&l.outputs);
    let last = p.last().unwrap();
    assert_eq!((last.instrument, last.qty), (1, d("0.6")));
    l.advance(4 * S);
    assert_eq!(
        closes(&l.outputs),
        [(RunStatus::Terminated, Some(CloseType::Completed))]
    );
    let perf = l.engine.report(0);
    // Bought 1 @ 100; sold 0.4 @ 104 and 0.6 @ 103.5; 1% taker fees.
    assert_eq!(perf.volume, d("100") + d("41.6") + d("62.1"));
    assert_eq!(perf.fees, d("1") + d("0.416") + d("0.621"));
    assert_replays(&l);
}
