//! TWAP (maker, refreshing), XEMM (re-quoting) and arbitrage (watching) executors
//! allocate nothing per input once created: control steps and order events only. And
//! grid, DCA and TWAP executors, whose levels live in boxed arrays, are created again
//! without allocating once the engine recycles executors of their kind.

mod common;

use common::counting::{allocs_now, Counting};
use common::{d, S};
use kestrel_engine::executors::arbitrage::ArbitrageConfig;
use kestrel_engine::executors::dca::DcaConfig;
use kestrel_engine::executors::grid::GridConfig;
use kestrel_engine::executors::twap::{TwapConfig, TwapMode};
use kestrel_engine::executors::xemm::XemmConfig;
use kestrel_engine::executors::ExecutorConfig;
use kestrel_engine::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
[[instruments]]
symbol = "WBTCUSDT"
base = "WBTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
[balances]
BTC = "100"
WBTC = "100"
USDT = "100000000"
"#;

struct Drive {
    e: Engine,
    seq: u64,
    /// Orders to acknowledge (qty > 0) or cancels to confirm (qty 0).
    pending: Vec<PlaceOrder>,
    batch: Vec<PlaceOrder>,
}

impl Drive {
    fn apply(&mut self, ts: u64, event: Event) -> usize {
        self.seq += 1;
        let outs = self.e.apply(&Input {
            header: Header {
                seq: self.seq,
                ts,
                ..Default::default()
            },
            event,
        });
        for o in outs {
            match o.action {
                Action::Place(p) => self.pending.push(p),
                Action::Cancel { cid, .. } => self.pending.push(PlaceOrder {
                    cid,
                    qty: Dec::ZERO,
                    ..Default::default()
                }),
                _ => {}
            }
        }
        outs.len()
    }

    fn second(&mut self, t: u64) -> usize {
        let taker_bid = if t.is_multiple_of(2) { 101 } else { 104 };
        let tick = |instrument, bid: i64| {
            Event::BookTicker(BookTicker {
                instrument,
                bid_px: Dec::from_int(bid),
                bid_qty: Dec::from_int(5),
                ask_px: Dec::from_int(bid) + Dec(10_000_000),
                ask_qty: Dec::from_int(5),
                update_id: t,
            })
        };
        let mut n = self.apply(t * S, tick(0, 100 + (t % 3) as i64));
        n += self.apply(t * S + 1, tick(1, taker_bid));
        n += self.apply(t * S + 2, Event::Timer(0));
        self.batch.clear();
        self.batch.append(&mut self.pending);
        for i in 0..self.batch.len() {
            let p = self.batch[i];
            let kind = if p.qty == Dec::ZERO {
                ExecKind::Canceled
            } else {
                ExecKind::Ack
            };
            let r = ExecReport {
                cid: p.cid,
                kind,
                ..Default::default()
            };
            n += self.apply(t * S + 3, Event::Exec(r));
        }
        n
    }
}

fn drive() -> Drive {
    let start = SessionStart {
        session_id: 1,
        seed: 1,
        config: CONFIG.into(),
    };
    Drive {
        e: Engine::new(&start).unwrap(),
        seq: 0,
        pending: Vec::with_capacity(1024),
        batch: Vec::with_capacity(1024),
    }
}

#[test]
fn executors_with_levels_are_created_again_without_allocating() {
    let grid = GridConfig {
        start_price: d("95"),
        end_price: d("105"),
        total_amount_quote: d("1000"),
        take_profit: d("0.01"),
        ..GridConfig::default()
    };
    let dca = DcaConfig::new(0, Side::Buy, &[d("100"), d("200")], &[d("95"), d("90")]).unwrap();
    let twap = TwapConfig {
        instrument: 0,
        side: Side::Buy,
        total_amount_quote: d("1000"),
        total_duration_ns: 100 * S,
        order_interval_ns: 10 * S,
        mode: TwapMode::Maker,
        limit_order_buffer: d("0.2"),
        order_resubmission_ns: 3 * S,
        max_retries: 0,
    };
    for (name, config) in [
        ("grid", ExecutorConfig::Grid(grid)),
        ("dca", ExecutorConfig::Dca(dca)),
        ("twap", ExecutorConfig::Twap(twap)),
    ] {
        let mut dr = drive();
        dr.second(0);
        // Each second one executor is created, places its orders and is stopped; past
        // the done list's length the oldest done executor's box goes back to the pool,
        // to be built over by the next one (the pool's blank boxes go first).
        let cycle = |dr: &mut Drive, t: u64| {
            dr.apply(
                t * S + 4,
                Event::Command(Command::CreateExecutor {
                    controller: u16::MAX,
                    config,
                }),
            );
            let id = dr.e.executors.iter().map(|x| x.core.id).max().unwrap();
            dr.second(t);
            dr.apply(
                t * S + 5,
                Event::Command(Command::StopExecutor {
                    executor: id,
                    keep_position: false,
                }),
            );
            dr.second(t);
        };
        for t in 1..400 {
            cycle(&mut dr, t);
        }
        let (before_orders, created) = (dr.e.orders.placed, dr.e.executors.done().count());
        let before = allocs_now();
        for t in 400..600 {
            cycle(&mut dr, t);
        }
        let allocs = allocs_now() - before;
        assert!(
            dr.e.orders.placed - before_orders >= 200,
            "{name}: orders placed"
        );
        assert_eq!(created, engine::DONE_KEPT, "{name}: done list full");
        assert!(dr.e.executors.live() <= 2, "{name}: executors stop");
        assert_eq!(allocs, 0, "{name}: allocations creating executors");
    }
}

#[test]
fn executors_allocate_nothing_per_input() {
    let start = SessionStart {
        session_id: 1,
        seed: 1,
        config: CONFIG.into(),
    };
    let mut dr = Drive {
        e: Engine::new(&start).unwrap(),
        seq: 0,
        pending: Vec::with_capacity(1024),
        batch: Vec::with_capacity(1024),
    };
    dr.second(0);
    let twap = TwapConfig {
        instrument: 0,
        side: Side::Buy,
        total_amount_quote: d("100000"),
        total_duration_ns: 250 * S,
        order_interval_ns: S,
        mode: TwapMode::Maker,
        limit_order_buffer: d("0.2"),
        order_resubmission_ns: 3 * S,
        max_retries: 0,
    };
    let xemm = XemmConfig {
        buying: 0,
        selling: 1,
        maker_side: Side::Buy,
        order_amount: d("1"),
        min_profitability: d("0.01"),
        target_profitability: d("0.015"),
        max_profitability: d("0.02"),
        maker_fee: d("0.0001"),
        taker_fee: d("0.0001"),
        max_retries: 0,
    };
    let arb = ArbitrageConfig {
        buying: 0,
        selling: 1,
        order_amount: d("1"),
        min_profitability: d("1"),
        buy_taker_fee: d("0.001"),
        sell_taker_fee: d("0.001"),
        max_retries: 0,
    };
    for config in [
        ExecutorConfig::Twap(twap),
        ExecutorConfig::Xemm(xemm),
        ExecutorConfig::Arbitrage(arb),
    ] {
        dr.apply(
            S / 2,
            Event::Command(Command::CreateExecutor {
                controller: u16::MAX,
                config,
            }),
        );
    }
    for t in 1..40 {
        dr.second(t);
    }
    let before_orders = dr.e.orders.placed;
    let before = allocs_now();
    let mut outputs = 0;
    for t in 40..200 {
        outputs += dr.second(t);
    }
    let allocs = allocs_now() - before;
    assert_eq!(dr.e.executors.live(), 3);
    assert!(dr.e.orders.placed - before_orders > 300);
    assert!(outputs > 600);
    assert_eq!(allocs, 0, "allocations in steady state");
}
