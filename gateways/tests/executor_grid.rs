//! Grid executor (spec §4): the (G) acceptance scenarios of spec §12 driven through
//! `Engine::apply` with hand-written execution reports, then price paths through the
//! simulated venue (`SimLoop`), a 50-level grid and a replay check.

mod common;

use common::*;
use kestrel_engine::executors::grid::{GridConfig, GridConfigError, GridExecutor, LevelState};
use kestrel_engine::executors::TrailingStop;
use kestrel_engine::executors::{ExecutorConfig, ExecutorKind};
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
tick_size = "0.1"
lot_size = "0.00001"
min_notional = "5"
[balances]
USDT = "100000"
ETH = "1000"
"#;

impl H {
    /// Acknowledges and fully fills an order at its own price.
    fn fill(&mut self, ts: u64, p: &PlaceOrder, px: Dec) -> Vec<Output> {
        self.report(ts, p.cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
        self.report(ts, p.cid, ExecKind::Fill, px, p.qty, "0")
    }

    fn grid(&self, id: u32) -> &GridExecutor {
        match &self.e.executors.get(id).expect("live executor").kind {
            ExecutorKind::Grid(g) => g,
            _ => panic!("not a grid"),
        }
    }
}

/// The configuration of Hummingbot's grid tests: BUY 100–120, 100 quote, min order 9,
/// min spread 1%, limit 90, TP 0.1%, SL 5%, trailing (5%, 0.5%).
fn base_cfg() -> GridConfig {
    GridConfig {
        side: Side::Buy,
        start_price: d("100"),
        end_price: d("120"),
        limit_price: Some(d("90")),
        total_amount_quote: d("100"),
        min_spread_between_orders: d("0.01"),
        min_order_amount_quote: d("9"),
        take_profit: d("0.001"),
        stop_loss: Some(d("0.05")),
        trailing_stop: Some(TrailingStop {
            activation_price: d("0.05"),
            trailing_delta: d("0.005"),
        }),
        ..Default::default()
    }
}

#[test]
fn scenario_22_ten_levels_and_a_batch_of_two() {
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "109.9", "110.1");
    let cfg = GridConfig {
        max_open_orders: 5,
        max_orders_per_batch: 2,
        order_frequency_ns: S,
        ..base_cfg()
    };
    let outs = h.create(T0, ExecutorConfig::Grid(cfg));
    let g = h.grid(1);
    assert_eq!(g.n_levels, 10);
    // min base 0.08591, per level floor(100/1100) = 0.0909 → 9.999 quote (≈ 10).
    assert!(g.levels().iter().all(|l| l.amount_quote == d("9.999")));
    assert_eq!(g.levels()[0].price, d("100"));
    assert_eq!(g.levels()[9].price, d("120"));
    assert_eq!(g.levels()[5].price, d("111.111111111"));
    let p = places(&outs);
    assert_eq!(p.len(), 2);
    assert_eq!(g.count(LevelState::OpenOrderPlaced), 2);
    // Nearest mid first: L5 (111.11, above the bid → bid × 0.9999 = 109.889 → 109.8), L4 (108.89 → 108.8).
    assert_eq!(
        p.iter()
            .map(|o| (o.side, o.price, o.qty))
            .collect::<Vec<_>>(),
        vec![
            (Side::Buy, d("109.8"), d("0.0909")),
            (Side::Buy, d("108.8"), d("0.0909"))
        ]
    );
    assert!(p.iter().all(|o| o.order_type == OrderType::Limit));
    // order_frequency 1 s: nothing half a second later, the next batch of two after 1 s.
    assert!(places(&h.quote(T0 + S / 2, "109.9", "110.1")).is_empty());
    let p2 = places(&h.quote(T0 + S, "109.9", "110.1"));
    assert_eq!(p2.len(), 2);
    // Then only one more fits under max_open_orders = 5.
    let p3 = places(&h.quote(T0 + 2 * S, "109.9", "110.1"));
    assert_eq!(p3.len(), 1);
    assert!(places(&h.quote(T0 + 3 * S, "109.9", "110.1")).is_empty());
    assert_eq!(h.grid(1).count(LevelState::OpenOrderPlaced), 5);
}

#[test]
fn scenario_23_activation_bounds_and_batch_capped_at_max_open_orders() {
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "99.9", "100.1");
    let cfg = GridConfig {
        activation_bounds: Some(d("0.05")),
        ..base_cfg()
    };
    let outs = h.create(T0, ExecutorConfig::Grid(cfg));
    assert_eq!(h.grid(1).n_levels, 10);
    assert!(h.grid(1).levels().iter().all(|l| l.amount_quote == d("10")));
    // Kestrel: 5 (max_open_orders), not Hummingbot's 10.
    assert_eq!(places(&outs).len(), 5);
    assert_eq!(h.grid(1).count(LevelState::OpenOrderPlaced), 5);
    // Mid 120: the placed orders (≈ 99.8) are farther than 5% from mid → cancelled.
    let outs = h.quote(T0 + S, "119.9", "120.1");
    assert_eq!(cancels(&outs).len(), 5);
    assert!(places(&outs).is_empty());
    // A fresh grid at mid 120: only levels ≥ 114 (115.56, 117.78, 120) → three.
    let outs = h.create(T0 + S, ExecutorConfig::Grid(cfg));
    let p = places(&outs);
    assert_eq!(p.len(), 3);
    let g = h.grid(2);
    let placed: Vec<usize> = (0..10)
        .filter(|&i| g.levels()[i].state() == LevelState::OpenOrderPlaced)
        .collect();
    assert_eq!(placed, vec![7, 8, 9]);
}

#[test]
fn scenario_24_close_orders_with_and_without_activation_bounds() {
    let sell = GridConfig {
        side: Side::Sell,
        start_price: d("80"),
        end_price: d("100"),
        limit_price: Some(d("110")),
        max_open_orders: 10,
        ..base_cfg()
    };
    // No bounds: level 0 (80) fills → one close BUY at 80 × 0.999 = 79.92 → 79.9.
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "99.9", "100.1");
    let outs = h.create(T0, ExecutorConfig::Grid(sell));
    assert_eq!(places(&outs).len(), 10);
    let l0 = h.grid(1).levels()[0].open;
    let p0 = places(&outs)
        .into_iter()
        .find(|p| Some(p.cid) == l0.cid)
        .unwrap();
    // A crossed SELL level is placed at ask × 1.0001 = 100.11 → 100.2.
    assert_eq!(
        (p0.side, p0.price, p0.qty),
        (Side::Sell, d("100.2"), d("0.1"))
    );
    let outs = h.fill(T0 + S, &p0, p0.price);
    let c = places(&outs);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].side, c[0].price, c[0].qty),
        (Side::Buy, d("79.9"), d("0.1"))
    );
    assert_eq!(h.grid(1).count(LevelState::CloseOrderPlaced), 1);

    // Bounds 5%: level 0's take profit (79.92) is 20% from mid → no close.
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "99.9", "100.1");
    let outs = h.create(
        T0,
        ExecutorConfig::Grid(GridConfig {
            activation_bounds: Some(d("0.05")),
            ..sell
        }),
    );
    let ps = places(&outs);
    assert_eq!(ps.len(), 10);
    let find = |h: &H, i: usize| {
        let cid = h.grid(1).levels()[i].open.cid;
        *ps.iter().find(|p| Some(p.cid) == cid).unwrap()
    };
    let p0 = find(&h, 0);
    assert!(places(&h.fill(T0 + S, &p0, p0.price)).is_empty());
    assert_eq!(h.grid(1).count(LevelState::CloseOrderPlaced), 0);
    assert_eq!(h.grid(1).count(LevelState::OpenOrderFilled), 1);
    // Level 9 (100) fills: take profit 99.9 is 0.1% from mid → one close, at the
    // bid × 0.9999 since 99.9 already reaches the bid.
    let p9 = find(&h, 9);
    let c = places(&h.fill(T0 + S, &p9, p9.price));
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].side, c[0].price), (Side::Buy, d("99.8")));
    assert_eq!(h.grid(1).count(LevelState::CloseOrderPlaced), 1);
}

#[test]
fn scenario_25_take_profit_when_mid_passes_end_price() {
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "99.9", "100.1");
    let outs = h.create(T0, ExecutorConfig::Grid(base_cfg()));
    let ps = places(&outs);
    assert_eq!(ps.len(), 5);
    assert_eq!(h.status(1), Some(RunStatus::Running));
    // Mid 125 > end 120: TAKE_PROFIT, every open order cancelled.
    let outs = h.quote(T0 + S, "124.9", "125.1");
    assert_eq!(cancels(&outs).len(), 5);
    assert_eq!(h.status(1), Some(RunStatus::ShuttingDown));
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::TakeProfit)
    );
    let mut last = Vec::new();
    for p in &ps {
        last = h.report(T0 + S, p.cid, ExecKind::Canceled, Dec::ZERO, Dec::ZERO, "0");
    }
    assert_eq!(closed(&last), Some(CloseType::TakeProfit));
    assert_eq!(h.status(1), None);
}

#[test]
fn scenario_26_shutdown_cancels_then_market_closes_the_filled_level() {
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "99.9", "100.1");
    let cfg = GridConfig {
        max_open_orders: 1,
        max_orders_per_batch: 1,
        ..base_cfg()
    };
    let p = places(&h.create(T0, ExecutorConfig::Grid(cfg)));
    assert_eq!(p.len(), 1);
    h.report(T0, p[0].cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
    // Shutdown with the open order OPEN → cancel.
    let outs = h.stop(T0 + S, 1, false);
    assert_eq!(cancels(&outs), vec![p[0].cid]);
    // It fills 0.1 @ 100 before the cancel lands → MARKET SELL 0.1.
    let outs = h.report(T0 + S, p[0].cid, ExecKind::Fill, d("100"), d("0.1"), "0.02");
    let c = places(&outs);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].side, c[0].order_type, c[0].qty),
        (Side::Sell, OrderType::Market, d("0.1"))
    );
    assert_eq!(h.grid(1).count(LevelState::OpenOrderFilled), 1);
    // The close fills → TERMINATED (EARLY_STOP); realized pnl 101×0.1 − 100×0.1 − fees.
    h.report(T0 + S, c[0].cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
    let g = h.grid(1).clone();
    let outs = h.report(T0 + S, c[0].cid, ExecKind::Fill, d("101"), d("0.1"), "0.02");
    assert_eq!(closed(&outs), Some(CloseType::EarlyStop));
    let m = g.metrics(d("100"));
    assert_eq!(m.position_size_base, d("0.1"));
    let perf = h.e.report(h.e.performance.len() - 1);
    assert_eq!(perf.volume, d("20.1"));
    assert_eq!(perf.fees, d("0.04"));
}

#[test]
fn scenario_27_barriers_at_start() {
    // Created at 123 s with a 1 s time limit, started at 1000 s → TIME_LIMIT.
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "99.9", "100.1");
    let outs = h.create(
        T0,
        ExecutorConfig::Grid(GridConfig {
            time_limit_s: Some(1),
            timestamp: Some(123 * S),
            ..base_cfg()
        }),
    );
    assert!(places(&outs).is_empty());
    assert_eq!(h.status(1), Some(RunStatus::ShuttingDown));
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::TimeLimit)
    );
    let outs = h.input(T0 + S, Event::Timer(0));
    assert_eq!(closed(&outs), Some(CloseType::TimeLimit));

    // Mid 80 ≤ limit 90 → STOP_LOSS; mid 125 > end 120 → TAKE_PROFIT.
    for (bid, ask, ct) in [
        ("79.9", "80.1", CloseType::StopLoss),
        ("124.9", "125.1", CloseType::TakeProfit),
    ] {
        let mut h = H::new(3, CONFIG);
        h.quote(T0, bid, ask);
        assert!(places(&h.create(T0, ExecutorConfig::Grid(base_cfg()))).is_empty());
        assert_eq!(h.status(1), Some(RunStatus::ShuttingDown));
        assert_eq!(h.e.executors.get(1).unwrap().core.close_type, Some(ct));
        assert_eq!(closed(&h.input(T0 + S, Event::Timer(0))), Some(ct));
    }
    // Limit price with keep_position → POSITION_HOLD, nothing held → EARLY_STOP.
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "79.9", "80.1");
    h.create(
        T0,
        ExecutorConfig::Grid(GridConfig {
            keep_position: true,
            ..base_cfg()
        }),
    );
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::PositionHold)
    );
    assert_eq!(
        closed(&h.input(T0 + S, Event::Timer(0))),
        Some(CloseType::EarlyStop)
    );
}

/// A grid with one level filled (0.1 @ 99.8) and its take-profit order working.
fn one_filled_level(h: &mut H, cfg: GridConfig) -> PlaceOrder {
    h.quote(T0, "99.9", "100.1");
    let p = places(&h.create(
        T0,
        ExecutorConfig::Grid(GridConfig {
            max_open_orders: 1,
            max_orders_per_batch: 1,
            ..cfg
        }),
    ));
    assert_eq!(p.len(), 1);
    // The fill frees the open slot: the take profit and the next level's open order.
    let all = places(&h.fill(T0, &p[0], p[0].price));
    assert_eq!(all.len(), 2);
    let c: Vec<_> = all.into_iter().filter(|o| o.side == Side::Sell).collect();
    // Take profit 100 × 1.001 = 100.1 reaches the ask → ask × 1.0001 → 100.2.
    assert_eq!(
        (c[0].side, c[0].price, c[0].qty),
        (Side::Sell, d("100.2"), d("0.1"))
    );
    c[0]
}

#[test]
fn scenario_28_position_hold_early_stop_retries_and_config_errors() {
    // POSITION_HOLD: the close order is cancelled, the filled level is held.
    let mut h = H::new(3, CONFIG);
    let tp = one_filled_level(&mut h, base_cfg());
    let outs = h.stop(T0 + S, 1, true);
    let cs = cancels(&outs);
    assert_eq!(cs.len(), 2);
    assert!(cs.contains(&tp.cid));
    assert_eq!(h.status(1), Some(RunStatus::ShuttingDown));
    let before = h.grid(1).clone();
    for c in cs.iter().filter(|c| **c != tp.cid) {
        h.report(T0 + S, *c, ExecKind::Canceled, Dec::ZERO, Dec::ZERO, "0");
    }
    assert_eq!(h.status(1), Some(RunStatus::ShuttingDown));
    let outs = h.report(
        T0 + S,
        tp.cid,
        ExecKind::Canceled,
        Dec::ZERO,
        Dec::ZERO,
        "0",
    );
    assert_eq!(closed(&outs), Some(CloseType::PositionHold));
    assert_eq!(before.metrics(d("100")).position_size_base, d("0.1"));
    // The held level reaches the orchestrator: 0.1 bought at 99.8.
    let perf = h.e.report(h.e.performance.len() - 1);
    assert_eq!(perf.positions.len(), 1);
    assert_eq!(perf.positions[0].net, d("0.1"));
    assert_eq!(perf.positions[0].entry, d("99.8"));
    assert!(places(&outs).is_empty());

    // early_stop(false) with config.keep_position → EARLY_STOP and a market close.
    let mut h = H::new(3, CONFIG);
    one_filled_level(
        &mut h,
        GridConfig {
            keep_position: true,
            ..base_cfg()
        },
    );
    let cs = cancels(&h.stop(T0 + S, 1, false));
    assert_eq!(cs.len(), 2);
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::EarlyStop)
    );
    let mut outs = Vec::new();
    for c in cs {
        outs = h.report(T0 + S, c, ExecKind::Canceled, Dec::ZERO, Dec::ZERO, "0");
    }
    let c = places(&outs);
    assert_eq!(
        (c[0].side, c[0].order_type, c[0].qty),
        (Side::Sell, OrderType::Market, d("0.1"))
    );

    // The close keeps failing: one attempt per 5 s, retries 11 > 10 → FAILED.
    let mut cid = c[0].cid;
    let mut attempts = 1;
    let mut t = T0 + S;
    let mut end = None;
    for _ in 0..20 {
        h.report(t, cid, ExecKind::Rejected, Dec::ZERO, Dec::ZERO, "0");
        t += 5 * S;
        let outs = h.input(t, Event::Timer(0));
        if let Some(ct) = closed(&outs) {
            end = Some((ct, t));
            break;
        }
        let p = places(&outs);
        assert_eq!(p.len(), 1);
        cid = p[0].cid;
        attempts += 1;
        assert_eq!(h.e.executors.get(1).unwrap().core.retries, attempts);
    }
    assert_eq!(attempts, 10);
    assert_eq!(end, Some((CloseType::Failed, T0 + S + 50 * S)));

    // A stop-loss or time-limit order type other than MARKET is refused.
    let limit_time_limit = GridConfig {
        time_limit_order_type: OrderType::Limit,
        ..base_cfg()
    };
    assert_eq!(
        limit_time_limit.validate(),
        Err(GridConfigError::NonMarketBarrierOrder)
    );
    let bad = GridConfig {
        stop_loss_order_type: OrderType::Limit,
        ..base_cfg()
    };
    assert_eq!(bad.validate(), Err(GridConfigError::NonMarketBarrierOrder));
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "99.9", "100.1");
    assert_eq!(
        closed(&h.create(T0, ExecutorConfig::Grid(bad))),
        Some(CloseType::Failed)
    );
}

#[test]
fn position_hold_records_the_held_exposure() {
    use kestrel_engine::executors::{Ctx, Executor, ExecutorCore, Outbox};
    use kestrel_engine::orders::OrderManager;
    use kestrel_engine::portfolio::Portfolio;
    let h = H::new(3, CONFIG);
    let mut books = h.e.books.clone();
    books[0].on_ticker(&BookTicker {
        instrument: 0,
        bid_px: d("99.9"),
        bid_qty: d("5"),
        ask_px: d("100.1"),
        ask_qty: d("5"),
        update_id: 1,
    });
    let mut orders = OrderManager::default();
    let mut portfolio: Portfolio = h.e.portfolio.clone();
    let mut out = Outbox::with_capacity(64);
    let mut next = 1;
    let mut x = Executor {
        core: ExecutorCore {
            id: 1,
            controller: 0,
            level: u16::MAX,
            status: RunStatus::NotStarted,
            close_type: None,
            created_ts: T0,
            close_ts: 0,
            retries: 0,
        },
        kind: ExecutorConfig::Grid(GridConfig {
            max_open_orders: 1,
            ..base_cfg()
        })
        .build(),
    };
    let mut ctx = Ctx {
        now: T0,
        session_id: 3,
        instruments: &h.e.instruments,
        books: &books,
        orders: &mut orders,
        portfolio: &mut portfolio,
        out: &mut out,
        next_order: &mut next,
        risk: &mut Default::default(),
    };
    x.start(&mut ctx);
    let Action::Place(p) = ctx.out.items[0].action else {
        panic!()
    };
    for kind in [ExecKind::Ack, ExecKind::Fill] {
        let r = ExecReport {
            cid: p.cid,
            kind,
            last_px: d("99.8"),
            last_qty: if kind == ExecKind::Fill {
                p.qty
            } else {
                Dec::ZERO
            },
            fee: d("0.01"),
            ..Default::default()
        };
        let (o, ev) = ctx.orders.apply(&r).unwrap();
        x.on_order(&mut ctx, &o, &ev);
    }
    x.early_stop(&mut ctx, true);
    // The take profit and the next level's open order are cancelled.
    let live: Vec<ClientOrderId> = ctx.orders.iter().map(|o| o.req.cid).collect();
    assert_eq!(live.len(), 2);
    for cid in live {
        assert_eq!(x.core.status, RunStatus::ShuttingDown);
        let r = ExecReport {
            cid,
            kind: ExecKind::Canceled,
            ..Default::default()
        };
        let (o, ev) = ctx.orders.apply(&r).unwrap();
        x.on_order(&mut ctx, &o, &ev);
    }
    assert_eq!(x.core.status, RunStatus::Terminated);
    assert_eq!(x.core.close_type, Some(CloseType::PositionHold));
    let held = x.logic_ref().held();
    assert_eq!(held.buy_base, d("0.1"));
    assert_eq!(held.buy_quote, d("9.98"));
    assert_eq!(held.fees, d("0.01"));
    // Held exposure is not the executor's pnl or volume any more.
    assert_eq!(x.net_pnl_quote(&books), Dec::ZERO);
    assert_eq!(x.filled_amount_quote(&books), Dec::ZERO);
}

#[test]
fn partial_fills_are_kept() {
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "99.9", "100.1");
    let cfg = GridConfig {
        max_open_orders: 1,
        ..base_cfg()
    };
    let p = places(&h.create(T0, ExecutorConfig::Grid(cfg)));
    assert_eq!((p[0].price, p[0].qty), (d("99.8"), d("0.1")));
    h.report(T0, p[0].cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
    h.report(
        T0,
        p[0].cid,
        ExecKind::PartialFill,
        d("99.8"),
        d("0.08"),
        "0.01",
    );
    assert_eq!(h.grid(1).count(LevelState::OpenOrderPlaced), 1);
    assert_eq!(h.grid(1).metrics(d("100")).position_size_base, d("0.08"));
    // The venue cancels it with 0.08 filled: the level keeps its 0.08 and takes profit
    // on it (100.1 reaches the ask → 100.1 × 1.0001 → 100.2).
    let outs = h.report(
        T0 + S,
        p[0].cid,
        ExecKind::Canceled,
        Dec::ZERO,
        Dec::ZERO,
        "0",
    );
    let g = h.grid(1);
    assert_eq!(g.levels()[0].open.filled, d("0.08"));
    assert_eq!(g.levels()[0].state(), LevelState::CloseOrderPlaced);
    let c: Vec<_> = places(&outs)
        .into_iter()
        .filter(|o| o.side == Side::Sell)
        .collect();
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].price, c[0].qty), (d("100.2"), d("0.08")));
    // The take profit fills 0.02 and is cancelled: a new one for the remaining 0.06.
    h.report(T0 + S, c[0].cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
    h.report(
        T0 + S,
        c[0].cid,
        ExecKind::PartialFill,
        d("100.2"),
        d("0.02"),
        "0.01",
    );
    assert_eq!(h.grid(1).metrics(d("100")).position_size_base, d("0.06"));
    let outs = h.report(
        T0 + S,
        c[0].cid,
        ExecKind::Canceled,
        Dec::ZERO,
        Dec::ZERO,
        "0",
    );
    let c2: Vec<_> = places(&outs)
        .into_iter()
        .filter(|o| o.side == Side::Sell)
        .collect();
    assert_eq!(c2.len(), 1);
    assert_eq!(c2[0].qty, d("0.06"));
    h.report(T0 + S, c2[0].cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO, "0");
    h.report(
        T0 + S,
        c2[0].cid,
        ExecKind::Fill,
        d("100.2"),
        d("0.06"),
        "0.01",
    );
    // Cycle complete: bought 0.08 @ 99.8, sold 0.08 @ 100.2, fees 0.03.
    let g = h.grid(1);
    assert_eq!(g.completed_cycles, 1);
    let m = g.metrics(d("100"));
    assert_eq!(m.realized_buy_quote, d("7.984"));
    assert_eq!(m.realized_sell_quote, d("8.016"));
    assert_eq!(m.realized_fees, d("0.03"));
    assert_eq!(m.realized_pnl_quote, d("0.002"));
    assert_eq!(m.position_size_base, Dec::ZERO);
    assert_eq!(g.levels()[0].state(), LevelState::NotActive);
}

#[test]
fn stop_loss_on_position_pnl_and_metrics() {
    let mut h = H::new(3, CONFIG);
    h.quote(T0, "109.9", "110.1");
    let cfg = GridConfig {
        max_open_orders: 2,
        limit_price: Some(d("50")),
        ..base_cfg()
    };
    let p = places(&h.create(T0, ExecutorConfig::Grid(cfg)));
    assert_eq!(p.len(), 2);
    // Both fill: 0.0909 @ 109.8 and 0.0909 @ 108.8 → break-even 109.3.
    for o in &p {
        h.fill(T0, o, o.price);
    }
    let g = h.grid(1);
    let m = g.metrics(d("110"));
    assert_eq!(m.break_even, d("109.3"));
    assert_eq!(m.position_size_base, d("0.1818"));
    // Mid 103.8: pnl = (103.8 − 109.3) × 0.1818 = −0.9999 → −5.03% ≤ −5% → STOP_LOSS.
    let outs = h.quote(T0 + S, "103.7", "103.9");
    assert_eq!(
        h.e.executors.get(1).unwrap().core.close_type,
        Some(CloseType::StopLoss)
    );
    // Two take profits and two new open orders were working.
    assert_eq!(cancels(&outs).len(), 4);
}

// ---- price paths through the simulated venue --------------------------------------

fn sim() -> SimLoop {
    let cfg = format!(
        "{CONFIG}\n[venue]\nlatency_ns = 1000000\nmaker_fee = \"0.0002\"\ntaker_fee = \"0.0004\"\n"
    );
    SimLoop::new(SessionStart {
        session_id: 3,
        seed: 7,
        config: cfg,
    })
    .unwrap()
}

fn tick(l: &mut SimLoop, ts: u64, mid: Dec) {
    let half = d("0.1");
    l.push(
        ts,
        Event::BookTicker(BookTicker {
            instrument: 0,
            bid_px: mid - half,
            bid_qty: d("50"),
            ask_px: mid + half,
            ask_qty: d("50"),
            update_id: ts,
        }),
    );
}

fn sim_grid(l: &SimLoop, id: u32) -> Option<&GridExecutor> {
    match &l.engine.executors.get(id)?.kind {
        ExecutorKind::Grid(g) => Some(g),
        _ => None,
    }
}

/// Mid path: oscillates between `lo` and `hi` in steps of `step`, `n` ticks.
fn zigzag(lo: i64, hi: i64, n: usize) -> Vec<Dec> {
    let mut v = Vec::with_capacity(n);
    let mut x = (lo + hi) / 2 * 10;
    let mut up = false;
    for _ in 0..n {
        v.push(Dec::from_int(x).div(Dec::from_int(10)).unwrap());
        if up {
            x += 3;
            if x >= hi * 10 {
                up = false;
            }
        } else {
            x -= 3;
            if x <= lo * 10 {
                up = true;
            }
        }
    }
    v
}

#[test]
fn sim_round_trips_realize_profit_and_replay_identically() {
    let mut l = sim();
    tick(&mut l, T0, d("105"));
    let cfg = GridConfig {
        start_price: d("100"),
        end_price: d("110"),
        limit_price: Some(d("95")),
        total_amount_quote: d("1000"),
        min_spread_between_orders: d("0.01"),
        min_order_amount_quote: d("10"),
        take_profit: d("0.01"),
        max_open_orders: 4,
        stop_loss: None,
        trailing_stop: None,
        ..base_cfg()
    };
    l.push(
        T0,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config: ExecutorConfig::Grid(cfg),
        }),
    );
    assert_eq!(sim_grid(&l, 1).unwrap().n_levels, 10);
    let path = zigzag(101, 109, 400);
    for (i, m) in path.iter().enumerate() {
        tick(&mut l, T0 + (i as u64 + 1) * S / 10, *m);
    }
    let g = sim_grid(&l, 1).unwrap();
    assert!(g.completed_cycles >= 5, "cycles {}", g.completed_cycles);
    let m = g.metrics(d("105"));
    assert!(m.realized_pnl_quote.raw() > 0, "{m:?}");
    // Sells of completed cycles are ≥ 1% above their buys, less fees.
    assert!(m.realized_sell_quote > m.realized_buy_quote);
    // Stop: cancels, market close of whatever is held, terminated.
    let end = T0 + 100 * S;
    l.push(
        end,
        Event::Command(Command::StopExecutor {
            executor: 1,
            keep_position: false,
        }),
    );
    l.advance(end + S);
    tick(&mut l, end + 2 * S, d("105"));
    assert!(l.engine.executors.get(1).is_none());
    assert_eq!(l.engine.orders.live(), 0);
    let perf = l.engine.report(l.engine.performance.len() - 1);
    assert_eq!(perf.close_types[CloseType::EarlyStop as usize], 1);
    assert!(perf.volume.raw() > 0 && perf.fees.raw() > 0);
    // The fees reported are the fees the venue charged on every fill of the session
    // (the grid is its only executor): cycles, the held position and its close.
    let charged = l.inputs.iter().fold(Dec::ZERO, |a, i| match &i.event {
        Event::Exec(r) if matches!(r.kind, ExecKind::Fill | ExecKind::PartialFill) => a + r.fee,
        _ => a,
    });
    assert_eq!(perf.fees, charged);

    // Replay: the recorded inputs into a fresh engine give the same outputs.
    assert_replays(&l);
}

#[test]
fn sim_fifty_levels() {
    let mut l = sim();
    tick(&mut l, T0, d("125"));
    let cfg = GridConfig {
        start_price: d("100"),
        end_price: d("150"),
        limit_price: Some(d("90")),
        total_amount_quote: d("5000"),
        min_spread_between_orders: d("0.01"),
        min_order_amount_quote: d("10"),
        take_profit: d("0.005"),
        max_open_orders: 50,
        stop_loss: None,
        trailing_stop: None,
        ..base_cfg()
    };
    l.push(
        T0,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config: ExecutorConfig::Grid(cfg),
        }),
    );
    let g = sim_grid(&l, 1).unwrap();
    assert_eq!(g.n_levels, 50);
    assert!(g.levels().iter().all(|lv| lv.amount_quote == d("100")));
    // Every level gets an open order at once (levels above the bid at bid × 0.9999).
    assert_eq!(g.count(LevelState::OpenOrderPlaced), 50);
    // Sweep down to 101 and back up to 149 twice.
    let mut t = T0;
    for _ in 0..2 {
        for x in (1010..=1490)
            .rev()
            .step_by(5)
            .chain((1010..=1490).step_by(5))
        {
            t += S / 10;
            tick(&mut l, t, Dec::from_int(x).div(Dec::from_int(10)).unwrap());
        }
    }
    let g = sim_grid(&l, 1).unwrap();
    assert!(g.completed_cycles >= 40, "cycles {}", g.completed_cycles);
    let m = g.metrics(d("149"));
    assert!(m.realized_pnl_quote.raw() > 0);
    // Balances add up: the venue and the engine agree on both assets.
    for asset in ["USDT", "ETH"] {
        let (venue_total, _) = l.venue.balance(asset).unwrap();
        let b = l
            .engine
            .portfolio
            .balances
            .iter()
            .find(|b| b.asset == asset)
            .unwrap();
        assert_eq!(venue_total, b.total, "{asset}");
    }
}
