//! Engine `apply` cost per input: book tickers with the market maker quoting (levels
//! working, so most ticks decide nothing, as in steady state) and without strategy.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
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
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
