//! Engine `apply` cost per input: book tickers with the market maker quoting (levels
//! working, so most ticks decide nothing, as in steady state) and without strategy;
//! and a tick that re-quotes (`quote_replace`: two cancels and two places), the
//! engine stage of tick-to-order.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kestrel_engine::*;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
BTC = "10"
USDT = "1000000"
"#;

const MM: &str = r#"
[[controllers]]
type = "market_making"
id = "mm"
instrument = "BTCUSDT"
buy_spreads = "0.0001,0.0002"
sell_spreads = "0.0001,0.0002"
total_amount_quote = "2000"
executor_refresh_time = 1000000
"#;

const QUOTE_REPLACE: &str = r#"
[[controllers]]
type = "generic"
id = "qr"
strategy = "quote_replace"
instrument = "BTCUSDT"
update_interval = "0"
[controllers.params]
offset_ticks = 10
qty = "0.001"
"#;

/// The venue's answer to each order output: an ack for a place, a cancel
/// confirmation for a cancel (nothing fills), as inputs `seq` on at `ts`.
fn answers(outs: &[Output], seq: &mut u64, ts: u64, into: &mut Vec<Input>) {
    into.clear();
    for o in outs {
        // An ack leaves the whole order working, as a venue reports it.
        let (cid, instrument, kind, leaves_qty) = match o.action {
            Action::Place(p) => (p.cid, p.instrument, ExecKind::Ack, p.qty),
            Action::Cancel { cid, instrument } => (cid, instrument, ExecKind::Canceled, Dec::ZERO),
            _ => continue,
        };
        *seq += 1;
        into.push(Input {
            header: Header {
                seq: *seq,
                source: Source::Venue,
                ts,
                ..Default::default()
            },
            event: Event::Exec(ExecReport {
                cid,
                instrument,
                kind,
                leaves_qty,
                ..Default::default()
            }),
        });
    }
}

/// Re-quoting ticks: each tick's `apply` is timed alone (two `Instant` reads
/// included), the venue's answers to its orders are applied untimed before the next.
fn requote(c: &mut Criterion, inputs: &[Input]) {
    let mut g = c.benchmark_group("engine_apply_requote_tick");
    g.throughput(Throughput::Elements(1));
    g.bench_function("quote_replace", |b| {
        let start = SessionStart {
            session_id: 1,
            seed: 1,
            config: format!("{CONFIG}{QUOTE_REPLACE}"),
        };
        let mut e = Engine::new(&start).expect("config");
        let (mut seq, mut next, mut reports) = (1u64, 0usize, Vec::with_capacity(8));
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let mut tick = inputs[next % inputs.len()].clone();
                next += 1;
                seq += 1;
                tick.header.seq = seq;
                tick.header.ts = next as u64 * 1_000_000;
                let t = Instant::now();
                let outs = e.apply(&tick);
                spent += t.elapsed();
                if next > 1 {
                    // Every tick after the first cancels two orders and places two.
                    let kinds = outs.iter().map(|o| match o.action {
                        Action::Place(_) => 1,
                        Action::Cancel { .. } => 10,
                        _ => 0,
                    });
                    assert_eq!(kinds.sum::<u32>(), 22, "tick {next} did not re-quote");
                }
                answers(outs, &mut seq, tick.header.ts, &mut reports);
                for r in &reports {
                    e.apply(r);
                }
            }
            spent
        })
    });
    g.finish();
}

fn tickers(n: usize) -> Vec<Input> {
    (0..n)
        .map(|i| {
            let mid = 60_000_000_000_000i64 + ((i as i64 * 7919) % 200 - 100) * 10_000_000;
            Input {
                header: Header {
                    seq: i as u64 + 2,
                    ts: 1_000_000_000 + i as u64 * 1_000_000,
                    ..Default::default()
                },
                event: Event::BookTicker(BookTicker {
                    instrument: 0,
                    bid_px: Dec(mid - 5_000_000),
                    bid_qty: Dec(1_000_000_000),
                    ask_px: Dec(mid + 5_000_000),
                    ask_qty: Dec(2_000_000_000),
                    update_id: i as u64,
                }),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let inputs = tickers(4096);
    let mut g = c.benchmark_group("engine_apply_book_ticker");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    for (name, cfg) in [
        ("no_strategy", CONFIG.to_string()),
        ("market_making", format!("{CONFIG}{MM}")),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    let start = SessionStart {
                        session_id: 1,
                        seed: 1,
                        config: cfg.clone(),
                    };
                    let mut e = Engine::new(&start).expect("config");
                    // Warm up: the first tick places the quotes.
                    e.apply(&inputs[0]);
                    e
                },
                |e| {
                    let mut n = 0usize;
                    for i in &inputs {
                        n += e.apply(i).len();
                    }
                    n
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
    requote(c, &inputs);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
