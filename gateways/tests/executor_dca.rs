//! DCA executor (spec §5): the (D) acceptance scenarios of spec §12 driven through
//! `Engine::apply` with hand-written execution reports, and a taker DCA through the
//! simulated venue (`SimLoop`) with a replay check.

mod common;

use common::*;
use kestrel_engine::executors::dca::{DcaConfig, DcaConfigError, DcaExecutor, DcaMode};
use kestrel_engine::executors::{ExecutorConfig, ExecutorKind, ExecutorLogic};
use kestrel_engine::*;
use kestrel_gateways::SimLoop;

const T0: u64 = 1_000 * S;

const CONFIG: &str = r#"
[session]
id = 3
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
USDT = "100000"
ETH = "1000"
"#;

impl H {
    fn dca(&self, id: u32) -> &DcaExecutor {
        match &self.e.executors.get(id).expect("live executor").kind {
            ExecutorKind::Dca(g) => g,
            _ => panic!("not a DCA"),
        }
    }
}

fn dca(side: Side, amounts: &[&str], prices: &[&str]) -> DcaConfig {
    let a: Vec<Dec> = amounts.iter().map(|s| d(s)).collect();
    let p: Vec<Dec> = prices.iter().map(|s| d(s)).collect();
    DcaConfig::new(0, side, &a, &p).unwrap()
}

fn only(outs: &[Output]) -> PlaceOrder {
    let p = places(outs);
    assert_eq!(p.len(), 1, "{outs:?}");
    p[0]
}

#[test]
fn config_lists_are_validated() {
    let a = [d("10"), d("20")];
    let err = |a: &[Dec], p: &[Dec]| DcaConfig::new(0, Side::Buy, a, p).unwrap_err();
    assert_eq!(err(&a, &[d("100")]), DcaConfigError::LengthMismatch);
    assert_eq!(err(&[], &[]), DcaConfigError::LevelCount);
    assert_eq!(
        err(&[d("10"); 17], &[d("100"); 17]),
        DcaConfigError::LevelCount
    );
    assert!(DcaConfig::new(0, Side::Buy, &[d("10"); 16], &[d("100"); 16]).is_ok());
    assert_eq!(err(&[d("10")], &[d("0")]), DcaConfigError::NonPositive);
    assert_eq!(err(&[d("-10")], &[d("100")]), DcaConfigError::NonPositive);
    // An amount under the venue minimum (5 quote) closes it as FAILED at start.
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "119.99", "120.01");
    let outs = h.create(
        T0,
        ExecutorConfig::Dca(dca(Side::Buy, &["4", "20"], &["100", "80"])),
    );
    assert_eq!(closed(&outs), Some(CloseType::Failed));
    assert!(places(&outs).is_empty());
    // Not enough quote for Σ amounts → INSUFFICIENT_BALANCE.
    let outs = h.create(
        T0,
        ExecutorConfig::Dca(dca(Side::Buy, &["60000", "60000"], &["100", "80"])),
    );
    assert_eq!(closed(&outs), Some(CloseType::InsufficientBalance));
    // Already expired at start → EXPIRED.
    let cfg = DcaConfig {
        time_limit_s: Some(1),
        timestamp: Some(10 * S),
        ..dca(Side::Buy, &["10"], &["100"])
    };
    assert_eq!(
        closed(&h.create(T0, ExecutorConfig::Dca(cfg))),
        Some(CloseType::Expired)
    );
}

#[test]
fn scenario_29_one_level_per_step_in_list_order() {
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "119.99", "120.01");
    let outs = h.create(
        T0,
        ExecutorConfig::Dca(dca(Side::Buy, &["10", "20", "30"], &["100", "80", "60"])),
    );
    let mut got = vec![only(&outs)];
    got.push(only(&h.input(T0 + S, Event::Timer(0))));
    got.push(only(&h.input(T0 + 2 * S, Event::Timer(0))));
    assert!(places(&h.input(T0 + 3 * S, Event::Timer(0))).is_empty());
    assert_eq!(
        got.iter()
            .map(|p| (p.side, p.order_type, p.price, p.qty))
            .collect::<Vec<_>>(),
        vec![
            (Side::Buy, OrderType::Limit, d("100"), d("0.1")),
            (Side::Buy, OrderType::Limit, d("80"), d("0.25")),
            (Side::Buy, OrderType::Limit, d("60"), d("0.5")),
        ]
    );
    let x = h.dca(1);
    assert_eq!(x.min_price(), d("60"));
    assert_eq!(x.max_price(), d("100"));
    assert_eq!(x.max_amount_quote(), d("60"));
    assert_eq!(x.target_avg_price(), d("73.333333333"));
    assert_eq!(x.net_pnl_quote(&h.e.books), Dec::ZERO);
    assert_eq!(x.net_pnl_pct(&h.e.books), Dec::ZERO);
}

#[test]
fn scenario_30_activation_bounds() {
    let b = |mode, side, bounds: [&str; 2]| DcaConfig {
        mode,
        activation_bounds: Some((d(bounds[0]), d(bounds[1]))),
        ..dca(side, &["10"], &["100"])
    };
    // MAKER [0.01] at 100: BUY mid 99 ok / 103 not; SELL mid 101 ok / 99 not.
    let c = b(DcaMode::Maker, Side::Buy, ["0.01", "0"]);
    assert!(c.within_bounds(d("100"), d("99")));
    assert!(!c.within_bounds(d("100"), d("103")));
    let c = b(DcaMode::Maker, Side::Sell, ["0.01", "0"]);
    assert!(c.within_bounds(d("100"), d("101")));
    assert!(!c.within_bounds(d("100"), d("99")));
    // TAKER [0.01, 0.015] at 100: BUY 99.5 ok / 95 not; SELL 100.5 ok / 106 not.
    let c = b(DcaMode::Taker, Side::Buy, ["0.01", "0.015"]);
    assert!(c.within_bounds(d("100"), d("99.5")));
    assert!(!c.within_bounds(d("100"), d("95")));
    let c = b(DcaMode::Taker, Side::Sell, ["0.01", "0.015"]);
    assert!(c.within_bounds(d("100"), d("100.5")));
    assert!(!c.within_bounds(d("100"), d("106")));
    // TAKER without bounds gets [0.0001, 0.005].
    let t = DcaConfig {
        mode: DcaMode::Taker,
        ..dca(Side::Buy, &["10"], &["100"])
    };
    assert_eq!(t.bounds(), Some((d("0.0001"), d("0.005"))));

    let maker = |side, bound: &str, prices: &[&str]| DcaConfig {
        activation_bounds: Some((d(bound), Dec::ZERO)),
        ..dca(side, &["10", "20", "30"], prices)
    };
    let buy = ["100", "80", "60"];
    let sell = ["100", "120", "140"];
    for (cfg, bid, ask, n) in [
        // BUY, [0.01], mid 120 → no order; [0.1], mid 101 → order 1.
        (maker(Side::Buy, "0.01", &buy), "119.99", "120.01", 0),
        (maker(Side::Buy, "0.1", &buy), "100.99", "101.01", 1),
        // SELL @ [100, 120, 140], mid 99: [0.1] → order; [0.01] → none.
        (maker(Side::Sell, "0.1", &sell), "98.99", "99.01", 1),
        (maker(Side::Sell, "0.01", &sell), "98.99", "99.01", 0),
    ] {
        let mut h = H::new(3, CONFIG);
        h.quote(T0, bid, ask);
        let outs = h.create(T0, ExecutorConfig::Dca(cfg));
        assert_eq!(places(&outs).len(), n, "{cfg:?} {bid}");
        if n == 1 {
            assert_eq!(places(&outs)[0].price, d("100"));
        }
    }
}

/// Creates the DCA and fills its levels one by one at their prices (fee 0 each).
fn filled(h: &mut H, cfg: DcaConfig, bid: &str, ask: &str, n: usize) {
    h.quote(T0, bid, ask);
    let mut outs = h.create(T0, ExecutorConfig::Dca(cfg));
    for _ in 0..n {
        let p = only(&outs);
        // Every step may open the next level: the ack's step already does.
        outs = h.report(T0, p.cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
        outs.extend(h.report(T0, p.cid, ExecKind::Fill, p.price, p.qty, "0"));
    }
}

#[test]
fn scenario_31_stop_loss_closes_everything_at_market() {
    let cfg = DcaConfig {
        stop_loss: Some(d("0.1")),
        ..dca(Side::Buy, &["10", "20"], &["100", "80"])
    };
    let mut h = H::new(3, CONFIG);
    filled(&mut h, cfg, "119.99", "120.01", 2);
    let x = h.dca(1);
    assert_eq!(x.open_filled(), d("0.35"));
    assert_eq!(x.avg_entry(), d("85.714285714"));
    let outs = h.quote(T0 + S, "50", "50.02");
    let c = only(&outs);
    assert_eq!(
        (c.side, c.order_type, c.qty),
        (Side::Sell, OrderType::Market, d("0.35"))
    );
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::StopLoss)
    );
    h.report(T0 + S, c.cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
    let outs = h.report(T0 + S, c.cid, ExecKind::Fill, d("50"), d("0.35"), "0");
    assert_eq!(closed(&outs), Some(CloseType::StopLoss));
    // Volume: 30 bought + 0.35 × 50 sold.
    assert_eq!(h.e.report(h.e.performance.len() - 1).volume, d("47.5"));

    // SELL mirror @ [100, 120]: 0.1 + 0.16666 sold, ask 140 → BUY 0.26666 at market.
    let cfg = DcaConfig {
        stop_loss: Some(d("0.1")),
        ..dca(Side::Sell, &["10", "20"], &["100", "120"])
    };
    let mut h = H::new(3, CONFIG);
    filled(&mut h, cfg, "89.99", "90.01", 2);
    let c = only(&h.quote(T0 + S, "139.98", "140"));
    assert_eq!(
        (c.side, c.order_type, c.qty),
        (Side::Buy, OrderType::Market, d("0.26666"))
    );
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::StopLoss)
    );
    // The close fills in two parts. Volume is what changed hands, with no rounding
    // through the averages (the entry average, 29.9992 / 0.26666, does not terminate):
    // 0.1 × 100 + 0.16666 × 120 sold, 0.13333 × 140 + 0.13333 × 140.03 bought.
    h.report(T0 + S, c.cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
    h.report(
        T0 + S,
        c.cid,
        ExecKind::PartialFill,
        d("140"),
        d("0.13333"),
        "0",
    );
    let outs = h.report(
        T0 + S,
        c.cid,
        ExecKind::Fill,
        d("140.03"),
        d("0.13333"),
        "0",
    );
    assert_eq!(closed(&outs), Some(CloseType::StopLoss));
    assert_eq!(
        h.e.report(h.e.performance.len() - 1).volume,
        d("67.3355999")
    );
}

#[test]
fn maker_stop_loss_waits_for_every_level() {
    let cfg = DcaConfig {
        stop_loss: Some(d("0.1")),
        ..dca(Side::Buy, &["10", "20"], &["100", "80"])
    };
    let mut h = H::new(3, CONFIG);
    filled(&mut h, cfg, "119.99", "120.01", 1);
    // Level 2 still working: a −50% pnl does not stop a MAKER DCA.
    assert!(places(&h.quote(T0 + S, "50", "50.02")).is_empty());
    assert_eq!(h.status(1), Some(RunStatus::Running));
    // TAKER stops once net pnl ≤ −Σ amounts × SL = −3.
    let cfg = DcaConfig {
        stop_loss: Some(d("0.1")),
        mode: DcaMode::Taker,
        activation_bounds: Some((d("1"), d("1"))),
        ..dca(Side::Buy, &["10", "20"], &["100", "80"])
    };
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "99.99", "100.01");
    let p = only(&h.create(T0, ExecutorConfig::Dca(cfg)));
    assert_eq!(p.order_type, OrderType::Market);
    h.report(T0, p.cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
    h.report(T0, p.cid, ExecKind::Fill, d("100"), p.qty, "0");
    // Bid 71: −2.9 → running (level 2 goes out); bid 69: −3.1 → STOP_LOSS.
    let outs = h.quote(T0 + S, "71", "71.02");
    assert_eq!(h.status(1), Some(RunStatus::Running));
    assert!(places(&outs).iter().all(|o| o.side == Side::Buy));
    h.quote(T0 + 2 * S, "69", "69.02");
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::StopLoss)
    );
}

#[test]
fn scenario_32_take_profit_with_one_level_filled() {
    let cfg = DcaConfig {
        take_profit: Some(d("0.1")),
        ..dca(Side::Buy, &["10", "20"], &["100", "80"])
    };
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "100", "100.02");
    let p = only(&h.create(T0, ExecutorConfig::Dca(cfg)));
    // Level 2 goes out on the next step (the ack's); then 0.1 @ 100 with a 0.2 fee.
    let l2 = only(&h.report(T0, p.cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0"));
    assert!(places(&h.report(T0, p.cid, ExecKind::Fill, d("100"), d("0.1"), "0.2")).is_empty());
    assert_eq!((l2.price, l2.qty), (d("80"), d("0.25")));
    // Bid 105: net (0.5 − 0.2) / 10 = 3% → nothing.
    assert!(h.quote(T0 + S, "105", "105.02").is_empty());
    assert_eq!(h.dca(1).net_pnl_pct(&h.e.books), d("0.03"));
    // Bid 115: 13% > 10% → TAKE_PROFIT: level 2 cancelled, MARKET SELL 0.1.
    let outs = h.quote(T0 + 2 * S, "115", "115.02");
    assert_eq!(cancels(&outs), vec![l2.cid]);
    let c = only(&outs);
    assert_eq!(
        (c.side, c.order_type, c.qty),
        (Side::Sell, OrderType::Market, d("0.1"))
    );
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::TakeProfit)
    );
    h.report(T0 + 2 * S, c.cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
    let outs = h.report(T0 + 2 * S, c.cid, ExecKind::Fill, d("115"), d("0.1"), "0.2");
    // Filled, but level 2's cancel is not confirmed yet.
    assert_eq!(closed(&outs), None);
    let x = h.dca(1).clone();
    let outs = h.report(
        T0 + 2 * S,
        l2.cid,
        ExecKind::Canceled,
        Dec::ZERO,
        Dec::ZERO,
        "0",
    );
    assert_eq!(closed(&outs), Some(CloseType::TakeProfit));
    // Net: 1.5 − 0.4 fees = 1.1 on 10 → 11%.
    assert_eq!(x.fees_quote(), d("0.4"));
    let perf = h.e.report(h.e.performance.len() - 1);
    assert_eq!(perf.volume, d("21.5"));
    assert_eq!(perf.fees, d("0.4"));
}

#[test]
fn scenario_33_stop_loss_wins_over_time_limit_and_failures_count() {
    let cfg = DcaConfig {
        stop_loss: Some(d("0.1")),
        take_profit: Some(d("0.1")),
        time_limit_s: Some(1),
        ..dca(Side::Buy, &["10"], &["100"])
    };
    let mut h = H::new(3, CONFIG);
    filled(&mut h, cfg, "100", "100.02", 1);
    let outs = h.quote(T0 + 2 * S, "50", "50.02");
    assert_eq!(places(&outs).len(), 1);
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::StopLoss)
    );

    // Open-order failure: removed, retries 1, the same level is placed again.
    let cfg = dca(Side::Buy, &["10", "20"], &["100", "80"]);
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "119.99", "120.01");
    let p = only(&h.create(T0, ExecutorConfig::Dca(cfg)));
    let again = only(&h.report(T0, p.cid, ExecKind::Rejected, Dec::ZERO, Dec::ZERO, "0"));
    assert_eq!(h.e.executors.get(1).unwrap().core.retries, 1);
    assert_eq!(h.dca(1).failed_orders, 1);
    assert_eq!((again.price, again.qty), (d("100"), d("0.1")));

    // Close-order failure: removed, retries 1; another close 5 s later.
    let cfg = DcaConfig {
        stop_loss: Some(d("0.1")),
        ..dca(Side::Buy, &["10"], &["100"])
    };
    let mut h = H::new(3, CONFIG);
    filled(&mut h, cfg, "119.99", "120.01", 1);
    let c = only(&h.quote(T0 + S, "50", "50.02"));
    assert!(h
        .report(T0 + S, c.cid, ExecKind::Rejected, Dec::ZERO, Dec::ZERO, "0")
        .is_empty());
    assert_eq!(h.e.executors.get(1).unwrap().core.retries, 1);
    assert!(places(&h.input(T0 + 3 * S, Event::Timer(0))).is_empty());
    let c2 = only(&h.input(T0 + 6 * S, Event::Timer(0)));
    assert_eq!((c2.side, c2.qty), (Side::Sell, d("0.1")));
    // DCA rule: retries ≥ 10 → FAILED.
    let mut cid = c2.cid;
    let mut t = T0 + 6 * S;
    let mut end = None;
    for _ in 0..20 {
        let outs = h.report(t, cid, ExecKind::Rejected, Dec::ZERO, Dec::ZERO, "0");
        if let Some(ct) = closed(&outs) {
            end = Some(ct);
            break;
        }
        t += 5 * S;
        let outs = h.input(t, Event::Timer(0));
        if let Some(ct) = closed(&outs) {
            end = Some(ct);
            break;
        }
        cid = only(&outs).cid;
    }
    assert_eq!(end, Some(CloseType::Failed));
}

#[test]
fn early_stop_with_and_without_the_position() {
    let cfg = dca(Side::Buy, &["10", "20"], &["100", "80"]);
    // keep_position: the working level is cancelled, then POSITION_HOLD with the fills.
    let mut h = H::new(3, CONFIG);
    filled(&mut h, cfg, "119.99", "120.01", 1);
    let l2 = h.e.orders.iter().next().unwrap().req.cid;
    let outs = h.stop(T0 + S, 1, true);
    assert_eq!(cancels(&outs), vec![l2]);
    assert!(places(&outs).is_empty());
    let outs = h.report(T0 + S, l2, ExecKind::Canceled, Dec::ZERO, Dec::ZERO, "0");
    assert_eq!(closed(&outs), Some(CloseType::PositionHold));
    // The orchestrator gets the position: 0.1 bought at 100 (spec §0 correction).
    let perf = h.e.report(h.e.performance.len() - 1);
    // Its volume is the held position's: 0.1 × 100.
    assert_eq!(perf.volume, d("10"));
    assert_eq!(perf.positions.len(), 1);
    assert_eq!(perf.positions[0].net, d("0.1"));
    assert_eq!(perf.positions[0].entry, d("100"));

    // No keep: EARLY_STOP with a market close of the 0.1 bought.
    let mut h = H::new(3, CONFIG);
    filled(&mut h, cfg, "119.99", "120.01", 1);
    let outs = h.stop(T0 + S, 1, false);
    assert_eq!(cancels(&outs).len(), 1);
    let c = only(&outs);
    assert_eq!(
        (c.side, c.order_type, c.qty),
        (Side::Sell, OrderType::Market, d("0.1"))
    );
    assert_eq!(h.e.executors.get(1).unwrap().core.retries, 0);
}

#[test]
fn trailing_stop_arms_and_fires() {
    use kestrel_engine::executors::TrailingStop;
    let cfg = DcaConfig {
        trailing_stop: Some(TrailingStop {
            activation_price: d("0.05"),
            trailing_delta: d("0.02"),
        }),
        ..dca(Side::Buy, &["10"], &["100"])
    };
    let mut h = H::new(3, CONFIG);
    filled(&mut h, cfg, "119.99", "120.01", 1);
    // 120 → +20% arms at 18%; 125 → trigger 23%; 122 → 22% < 23% → TRAILING_STOP.
    assert_eq!(h.status(1), Some(RunStatus::Running));
    h.quote(T0 + S, "125", "125.02");
    assert_eq!(h.status(1), Some(RunStatus::Running));
    let c = only(&h.quote(T0 + 2 * S, "122", "122.02"));
    assert_eq!((c.side, c.qty), (Side::Sell, d("0.1")));
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::TrailingStop)
    );
}

#[test]
fn sim_taker_dca_round_trip_and_replay() {
    let cfg = format!("{CONFIG}\n[venue]\nlatency_ns = 1000000\n");
    let mut l = SimLoop::new(SessionStart {
        session_id: 3,
        seed: 7,
        config: cfg,
    })
    .unwrap();
    let tick = |l: &mut SimLoop, ts: u64, mid: &str| {
        let m = d(mid);
        l.push(
            ts,
            Event::BookTicker(BookTicker {
                instrument: 0,
                bid_px: m - d("0.01"),
                bid_qty: d("50"),
                ask_px: m + d("0.01"),
                ask_qty: d("50"),
                update_id: ts,
            }),
        );
    };
    tick(&mut l, T0, "102");
    let cfg = DcaConfig {
        mode: DcaMode::Taker,
        take_profit: Some(d("0.03")),
        ..dca(Side::Buy, &["10", "20"], &["100", "95"])
    };
    l.push(
        T0,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config: ExecutorConfig::Dca(cfg),
        }),
    );
    let get = |l: &SimLoop| match &l.engine.executors.get(1).map(|x| &x.kind) {
        Some(ExecutorKind::Dca(x)) => Some(x.clone()),
        _ => None,
    };
    // 102 is outside [100 × 0.9999, 100 × 1.005]: nothing.
    assert_eq!(get(&l).unwrap().placed(), 0);
    tick(&mut l, T0 + S, "100.2");
    l.advance(T0 + S + S / 10);
    let x = get(&l).unwrap();
    assert_eq!(x.placed(), 1);
    assert_eq!(x.open_filled(), d("0.1"));
    // Fills at the ask.
    assert_eq!(x.avg_entry(), d("100.21"));
    tick(&mut l, T0 + 2 * S, "97");
    tick(&mut l, T0 + 3 * S, "95.1");
    l.advance(T0 + 3 * S + S / 10);
    let x = get(&l).unwrap();
    assert_eq!(x.open_filled(), d("0.31052"));
    // Rebound: 3% over the average (≈ 96.7) closes at market.
    for (i, m) in ["97", "98", "99", "100", "101"].iter().enumerate() {
        tick(&mut l, T0 + (4 + i as u64) * S, m);
    }
    l.advance(T0 + 10 * S);
    assert!(get(&l).is_none());
    let perf = l.engine.report(l.engine.performance.len() - 1);
    assert_eq!(perf.close_types[CloseType::TakeProfit as usize], 1);
    assert_eq!(l.engine.portfolio.positions[0].net, Dec::ZERO);
    assert_replays(&l);
}
