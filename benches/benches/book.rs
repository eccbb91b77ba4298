//! L2 book update cost on real Binance diffs (spot BTCUSDT, 2024-08-08 capture):
//! ns per depth input (one chunk of up to 16 levels) and per level.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kestrel_engine::book::Book;
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
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("depth_inputs", |b| {
        b.iter_batched_ref(
            Book::default,
            |book| {
                for d in &events {
                    book.on_depth(d);
                }
                book.bids.len()
            },
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(levels as u64));
    g.bench_function("levels", |b| {
        b.iter_batched_ref(
            Book::default,
            |book| {
                for d in &events {
                    book.on_depth(d);
                }
                book.asks.len()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
