//! Engine cost per book-ticker input with many live executors: 100 concurrent position
//! executors (resting LIMIT opens, barriers far away) and a 50-level grid.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kestrel_engine::executors::barrier::TripleBarrier;
use kestrel_engine::executors::{ExecutorConfig, GridConfig, PositionConfig};
use kestrel_engine::*;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
BTC = "100"
USDT = "100000000"
"#;

const S: u64 = 1_000_000_000;

fn ticker(i: u64) -> Event {
    let mid = 60_000 * S as i64 + ((i as i64 * 7919) % 200 - 100) * 10_000_000;
    Event::BookTicker(BookTicker {
        instrument: 0,
        bid_px: Dec(mid - 5_000_000),
        bid_qty: Dec(S as i64),
        ask_px: Dec(mid + 5_000_000),
        ask_qty: Dec(S as i64),
        update_id: i,
    })
}

fn engine_with(configs: Vec<ExecutorConfig>) -> (Engine, u64) {
    let mut e = Engine::new(&SessionStart {
        session_id: 1,
        seed: 1,
        config: CONFIG.into(),
    })
    .expect("config");
    let mut seq = 1;
    e.apply(&Input {
        header: Header {
            seq,
            ts: S,
            ..Default::default()
        },
        event: ticker(0),
    });
    let events: Vec<Event> = configs
        .into_iter()
        .map(|config| {
            Event::Command(Command::CreateExecutor {
                controller: u16::MAX,
                config,
            })
        })
        .chain((1..4).map(|_| ticker(0)))
        .collect();
    for event in events {
        seq += 1;
        let outs = e
            .apply(&Input {
                header: Header {
                    seq,
                    ts: S,
                    ..Default::default()
                },
                event,
            })
            .to_vec();
        // Acknowledge every order so the executors are in steady state.
        for o in outs {
            if let Action::Place(p) = o.action {
                seq += 1;
                let ack = ExecReport {
                    cid: p.cid,
                    kind: ExecKind::Ack,
                    leaves_qty: p.qty,
                    ..Default::default()
                };
                e.apply(&Input {
                    header: Header {
                        seq,
                        ts: S,
                        ..Default::default()
                    },
                    event: Event::Exec(ack),
                });
            }
        }
    }
    (e, seq)
}

fn positions() -> Vec<ExecutorConfig> {
    (0..100)
        .map(|i| {
            ExecutorConfig::Position(PositionConfig {
                instrument: 0,
                side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                entry_price: Some(Dec::from_int(if i % 2 == 0 {
                    50_000 - i
                } else {
                    70_000 + i
                })),
                amount: Dec(1_000_000),
                barrier: TripleBarrier {
                    stop_loss: Some(Dec(50_000_000)),
                    take_profit: Some(Dec(50_000_000)),
                    time_limit_s: Some(1_000_000),
                    ..TripleBarrier::default()
                },
                leverage: 1,
                activation_bounds: None,
                timestamp: None,
            })
        })
        .collect()
}

fn grid() -> Vec<ExecutorConfig> {
    vec![ExecutorConfig::Grid(GridConfig {
        instrument: 0,
        side: Side::Buy,
        start_price: Dec::from_int(55_000),
        end_price: Dec::from_int(65_000),
        total_amount_quote: Dec::from_int(100_000),
        min_spread_between_orders: Dec(1_000_000),
        max_open_orders: 50,
        take_profit: Dec(1_000_000),
        time_limit_s: Some(1_000_000),
        ..GridConfig::default()
    })]
}

fn bench(c: &mut Criterion) {
    let inputs: Vec<Event> = (1..=4096).map(ticker).collect();
    let mut g = c.benchmark_group("executors_per_ticker");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    for (name, configs) in [("position_x100", positions()), ("grid_50_levels", grid())] {
        let (base, seq0) = engine_with(configs);
        let live = base.executors.live();
        assert!(live >= 1, "{name}: executors alive");
        eprintln!(
            "{name}: {live} executors live, {} orders working",
            base.orders.live()
        );
        assert!(base.orders.live() >= 5, "{name}: orders working");
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    let (e, seq) = engine_with(if name == "grid_50_levels" {
                        grid()
                    } else {
                        positions()
                    });
                    (e, seq)
                },
                |(e, seq)| {
                    let mut n = 0;
                    for (i, ev) in inputs.iter().enumerate() {
                        *seq += 1;
                        let ts = 2 * S + i as u64 * 1_000_000;
                        n += e
                            .apply(&Input {
                                header: Header {
                                    seq: *seq,
                                    ts,
                                    ..Default::default()
                                },
                                event: ev.clone(),
                            })
                            .len();
                    }
                    n
                },
                BatchSize::LargeInput,
            )
        });
        let _ = seq0;
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
