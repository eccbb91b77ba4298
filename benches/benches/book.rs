//! L2 book update cost on real Binance diffs (spot BTCUSDT, 2024-08-08 capture):
//! time per level update, with the engine's tick-indexed book and without a tick.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kestrel_engine::book::Book;
use kestrel_engine::num::{Dec, Step};
use kestrel_engine::Event;
use kestrel_feeds::{DepthSync, RecordedFeed};
use std::collections::VecDeque;
use std::path::Path;

fn depth_events() -> Vec<kestrel_engine::Depth> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hftbacktest/spot/btcusdt_20240808.gz");
    let mut feed = RecordedFeed::open(&path, &[("BTCUSDT".to_string(), 0)]).expect("shared data");
    let mut sync = DepthSync::new();
    let mut ready = VecDeque::new();
    while let Some(item) = feed.next_event() {
        let (ts, v, e) = item.expect("valid capture");
        sync.push(ts, v, e, &mut ready);
    }
    ready
        .into_iter()
        .filter_map(|(_, _, e)| {
            if let Event::Depth(d) = e {
                Some(d)
            } else {
                None
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let events = depth_events();
    let levels: usize = events.iter().map(|d| d.len as usize).sum();
    let mut g = c.benchmark_group("book_update");
    g.throughput(Throughput::Elements(levels as u64));
    // The engine's book: levels on the 0.01 tick grid indexed by tick.
    let tick = Step::new(Dec::parse("0.01").expect("tick"));
    // A book without a tick (every level in the sorted vector with gaps).
    for (name, tick) in [("levels_tick_grid", Some(tick)), ("levels_sorted", None)] {
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || tick.map_or_else(Book::default, Book::with_tick),
                |book| {
                    for d in &events {
                        book.on_depth(d);
                    }
                    book.bids.len()
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
