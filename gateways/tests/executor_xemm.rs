//! XEMM executor (spec §8, scenarios 16 (X), 37, 38) with the Kestrel corrections of §0:
//! pnl = sell proceeds − buy cost − fees for either maker side, COMPLETED on success,
//! maker orders judged only once acknowledged. Maker market BTCUSDT (instrument 0) and
//! taker market WBTCUSDT (instrument 1) for a maker BUY.

mod common;

use common::*;
use kestrel_engine::executors::xemm::{XemmConfig, XemmExecutor};
use kestrel_engine::executors::{ExecutorConfig, ExecutorKind};
use kestrel_engine::*;

fn config(usdt: &str) -> String {
    format!(
        r#"
[session]
id = 11
[venue]
latency_ns = 1000000
maker_fee = "0.0001"
taker_fee = "0.0001"
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
[balances]
USDT = "{usdt}"
BTC = "10"
WBTC = "10"
"#
    )
}

fn xemm(maker_side: Side) -> XemmConfig {
    XemmConfig {
        buying: 0,
        selling: 1,
        maker_side,
        order_amount: d("1"),
        min_profitability: d("0.01"),
        target_profitability: d("0.0148"),
        max_profitability: d("0.02"),
        maker_fee: d("0.0001"),
        taker_fee: d("0.0001"),
        max_retries: 0,
    }
}

impl Bench {
    /// Both books set (maker 99/99.8, taker at `taker_bid`/`taker_ask`), then started.
    fn started(
        usdt: &str,
        cfg: XemmConfig,
        taker_bid: &str,
        taker_ask: &str,
    ) -> (Bench, Vec<Output>) {
        let mut b = Bench::new(11, &config(usdt), ExecutorConfig::Xemm(cfg));
        let (mi, ti) = (cfg.maker_instrument(), cfg.taker_instrument());
        b.quote(S, mi, "99", "99.8");
        b.quote(S, ti, taker_bid, taker_ask);
        let outs = b.run(S, |e, c| e.start(c));
        (b, outs)
    }

    fn xemm(&self) -> &XemmExecutor {
        match &self.ex.kind {
            ExecutorKind::Xemm(x) => x,
            _ => unreachable!(),
        }
    }
}

/// The maker BUY is priced at taker_bid / (1 + target + tx) = 101 / 1.015 → 99.50.
#[test]
fn maker_is_priced_at_target() {
    let (b, outs) = Bench::started("10000", xemm(Side::Buy), "101", "101.01");
    let p = places(&outs);
    assert_eq!(
        (
            p[0].instrument,
            p[0].side,
            p[0].order_type,
            p[0].price,
            p[0].qty
        ),
        (0, Side::Buy, OrderType::Limit, d("99.5"), d("1"))
    );
    assert_eq!(b.xemm().maker, Some(p[0].cid));
    // Maker SELL on WBTCUSDT against the BTCUSDT ask: 101 / (1 − 0.015) → 102.54 (SELL rounds up).
    let (_, outs) = Bench::started("10000", xemm(Side::Sell), "100.99", "101");
    let p = places(&outs);
    assert_eq!(
        (p[0].instrument, p[0].side, p[0].price),
        (1, Side::Sell, d("102.54"))
    );
}

/// Scenario 37: resting maker BUY at 99.5, min 1 %, max 2 %, tx 0.02 %. Taker 100 →
/// 0.5025 % − 0.02 % < 1 % → cancel; the maker slot is empty, still RUNNING; the next
/// maker goes out once the cancel is confirmed, at 100 / 1.015 = 98.52.
#[test]
fn below_min_profitability_cancels() {
    let (mut b, outs) = Bench::started("10000", xemm(Side::Buy), "101", "101.01");
    let maker = places(&outs)[0].cid;
    let x = b.xemm();
    assert_eq!(
        x.profitability(d("99.5"), d("100")).unwrap() - x.cfg.tx_cost_pct(),
        d("0.004825125")
    );
    // §0: not judged before the venue acknowledges it.
    let outs = b.quote(2 * S, 1, "100", "100.01");
    assert!(cancels(&outs).is_empty());
    let outs = b.report(2 * S, maker, ExecKind::Ack, "0", "0", "0");
    assert_eq!(cancels(&outs), [maker]);
    let x = b.xemm();
    assert_eq!((x.maker, x.canceling), (None, Some(maker)));
    assert_eq!(b.ex.core.status, RunStatus::Running);
    let outs = b.report(2 * S, maker, ExecKind::Canceled, "0", "0", "0");
    let p = places(&outs);
    assert_eq!((p[0].price, p[0].qty), (d("98.52"), d("1")));
    assert_eq!(b.xemm().maker, Some(p[0].cid));
}

/// Scenario 37: taker 103 → 3.497 % > 2 % → cancel.
#[test]
fn above_max_profitability_cancels() {
    let (mut b, outs) = Bench::started("10000", xemm(Side::Buy), "101", "101.01");
    let maker = places(&outs)[0].cid;
    // Within [1 %, 2 %] at 101: 1.5075 % − 0.02 %.
    let outs = b.report(S, maker, ExecKind::Ack, "0", "0", "0");
    assert!(cancels(&outs).is_empty());
    let x = b.xemm();
    assert_eq!(
        x.profitability(d("99.5"), d("103")).unwrap() - x.cfg.tx_cost_pct(),
        d("0.034975879")
    );
    let outs = b.quote(2 * S, 1, "103", "103.01");
    assert_eq!(cancels(&outs), [maker]);
    assert_eq!(b.xemm().maker, None);
    assert_eq!(b.ex.core.status, RunStatus::Running);
}

/// Scenario 38: maker completed → MARKET taker SELL of the amount, SHUTTING_DOWN; both
/// done → COMPLETED. Maker BUY 1@100, taker SELL 1@200, fees 1+1 → net 98, pct 0.98.
#[test]
fn maker_buy_round_trip_pnl() {
    let (mut b, outs) = Bench::started("10000", xemm(Side::Buy), "101", "101.01");
    let maker = places(&outs)[0].cid;
    b.report(S, maker, ExecKind::Ack, "0", "0", "0");
    let outs = b.report(2 * S, maker, ExecKind::Fill, "100", "1", "1");
    let p = places(&outs);
    assert_eq!(
        (p[0].instrument, p[0].side, p[0].order_type, p[0].qty),
        (1, Side::Sell, OrderType::Market, d("1"))
    );
    assert_eq!(b.ex.core.status, RunStatus::ShuttingDown);
    b.report(2 * S, p[0].cid, ExecKind::Ack, "0", "0", "0");
    b.report(2 * S, p[0].cid, ExecKind::Fill, "200", "1", "1");
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type),
        (RunStatus::Terminated, Some(CloseType::Completed))
    );
    let (l, books) = (b.ex.logic_ref(), &b.eng.books);
    assert_eq!(l.net_pnl_quote(books), d("98"));
    assert_eq!(l.net_pnl_pct(books), d("0.98"));
    assert_eq!(l.filled_amount_quote(books), d("300"));
}

/// §0: maker SELL 1@100, taker BUY 1@200, fees 2 → net −102 (Hummingbot: +98),
/// COMPLETED; pct −102/200. A taker failure is re-placed at once.
#[test]
fn maker_sell_round_trip_pnl_and_taker_retry() {
    let (mut b, outs) = Bench::started("10000", xemm(Side::Sell), "100.99", "101");
    let maker = places(&outs)[0].cid;
    b.report(S, maker, ExecKind::Ack, "0", "0", "0");
    let taker = places(&b.report(2 * S, maker, ExecKind::Fill, "100", "1", "1"));
    assert_eq!(
        (taker[0].instrument, taker[0].side, taker[0].qty),
        (0, Side::Buy, d("1"))
    );
    let again = places(&b.report(2 * S, taker[0].cid, ExecKind::Rejected, "0", "0", "0"));
    assert_eq!(b.ex.core.retries, 1);
    assert_eq!((again[0].side, again[0].qty), (Side::Buy, d("1")));
    assert_ne!(again[0].cid, taker[0].cid);
    b.report(2 * S, again[0].cid, ExecKind::Fill, "200", "1", "1");
    assert_eq!(b.ex.core.close_type, Some(CloseType::Completed));
    let (l, books) = (b.ex.logic_ref(), &b.eng.books);
    assert_eq!(l.net_pnl_quote(books), d("-102"));
    assert_eq!(l.net_pnl_pct(books), d("-0.51"));
}

/// A partly filled maker order that is re-quoted keeps its fill: the next maker order
/// is for the rest and the hedge covers both.
#[test]
fn partial_maker_fill_carries_over() {
    let (mut b, outs) = Bench::started("10000", xemm(Side::Buy), "101", "101.01");
    let maker = places(&outs)[0].cid;
    b.report(S, maker, ExecKind::Ack, "0", "0", "0");
    let outs = b.report(S, maker, ExecKind::PartialFill, "99.5", "0.4", "0.004");
    assert!(places(&outs).is_empty(), "a partial fill is not hedged");
    let outs = b.quote(2 * S, 1, "100", "100.01");
    assert_eq!(cancels(&outs), [maker]);
    let p = places(&b.report(2 * S, maker, ExecKind::Canceled, "0", "0", "0"));
    assert_eq!((p[0].price, p[0].qty), (d("98.52"), d("0.6")));
    b.report(2 * S, p[0].cid, ExecKind::Ack, "0", "0", "0");
    let hedge = places(&b.report(3 * S, p[0].cid, ExecKind::Fill, "98.52", "0.6", "0.006"));
    assert_eq!((hedge[0].side, hedge[0].qty), (Side::Sell, d("1")));
    b.report(3 * S, hedge[0].cid, ExecKind::Fill, "100", "1", "0.01");
    assert_eq!(b.ex.core.close_type, Some(CloseType::Completed));
    // 100 − (39.8 + 59.112) − 0.02
    assert_eq!(b.ex.logic_ref().net_pnl_quote(&b.eng.books), d("1.068"));
}

/// A cancel that races a full fill: the fill wins and is hedged.
#[test]
fn fill_racing_the_cancel_is_hedged() {
    let (mut b, outs) = Bench::started("10000", xemm(Side::Buy), "101", "101.01");
    let maker = places(&outs)[0].cid;
    b.report(S, maker, ExecKind::Ack, "0", "0", "0");
    b.quote(2 * S, 1, "103", "103.01");
    assert_eq!(b.xemm().canceling, Some(maker));
    let hedge = places(&b.report(2 * S, maker, ExecKind::Fill, "99.5", "1", "0"));
    assert_eq!((hedge[0].instrument, hedge[0].qty), (1, d("1")));
    assert_eq!(b.ex.core.status, RunStatus::ShuttingDown);
}

/// Scenario 16 (X): no quote for the maker BUY → INSUFFICIENT_BALANCE, TERMINATED;
/// early stop cancels the maker and stops at once.
#[test]
fn budget_and_early_stop() {
    let (b, outs) = Bench::started("0", xemm(Side::Buy), "101", "101.01");
    assert!(places(&outs).is_empty());
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type),
        (RunStatus::Terminated, Some(CloseType::InsufficientBalance))
    );
    let (mut b, outs) = Bench::started("10000", xemm(Side::Buy), "101", "101.01");
    let maker = places(&outs)[0].cid;
    let outs = b.run(2 * S, |e, c| e.early_stop(c, true));
    assert_eq!(cancels(&outs), [maker]);
    assert_eq!(
        (b.ex.core.status, b.ex.core.close_type),
        (RunStatus::Terminated, Some(CloseType::PositionHold))
    );
}

/// Against the simulated venue: quote, re-quote when the taker bid falls, maker fill
/// when the BTCUSDT ask comes down to it, hedge at the WBTCUSDT bid, COMPLETED; then
/// the inputs replayed into a fresh engine give the same outputs.
#[test]
fn sim_round_trip_and_replay() {
    let mut l = sim(11, &config("10000"));
    l.push(S, ticker(0, "99", "99.8", "10"));
    l.push(S, ticker(1, "101", "101.01", "10"));
    l.push(
        S,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config: ExecutorConfig::Xemm(xemm(Side::Buy)),
        }),
    );
    l.advance(S + 2_000_000);
    let first = places(&l.outputs)[0];
    assert_eq!(first.price, d("99.5"));
    // Taker bid falls; the executor sees it on the next timer.
    l.push(2 * S, ticker(1, "100", "100.01", "10"));
    l.push(2 * S, Event::Timer(0));
    assert_eq!(cancels(&l.outputs), [first.cid]);
    l.advance(2 * S + 2_000_000);
    let second = places(&l.outputs)[1];
    assert_eq!((second.price, second.qty), (d("98.52"), d("1")));
    l.advance(2 * S + 4_000_000);
    // BTCUSDT ask comes down through the maker: filled as maker at 98.52, hedged at 100.
    l.push(3 * S, ticker(0, "98", "98.5", "10"));
    l.advance(3 * S + 2_000_000);
    let hedge = places(&l.outputs)[2];
    assert_eq!(
        (hedge.instrument, hedge.side, hedge.order_type, hedge.qty),
        (1, Side::Sell, OrderType::Market, d("1"))
    );
    assert_eq!(
        closes(&l.outputs),
        [(RunStatus::Terminated, Some(CloseType::Completed))]
    );
    let perf = l.engine.report(0);
    assert_eq!(perf.volume, d("98.52") + d("100"));
    assert_eq!(perf.fees, d("0.009852") + d("0.01"));
    assert_replays(&l);
}
