//! Backtest loop throughput: the embedded default config's market maker over the
//! largest bundled capture (USD-M BTCUSDT, 2024-08-08, hftbacktest; MIT, see
//! shared/data/README.md), engine + simulated venue on one thread (`SimLoop`), with
//! timers every second of event time as `kestrel backtest` publishes them. The capture
//! is parsed and depth-synced once, before measuring; the journal is not written.
//! Reported per market event.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kestrel_engine::{Event, SessionStart};
use kestrel_feeds::{DepthSync, RecordedFeed};
use kestrel_gateways::SimLoop;
use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

const CONFIG: &str = include_str!("../../tools/src/default.toml");

fn market_events() -> Vec<(u64, Event)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hftbacktest/usdm/btcusdt_20240808.gz");
    let mut feed = RecordedFeed::open(&path, &[("BTCUSDT".to_string(), 0)]).expect("shared data");
    let mut sync = DepthSync::new();
    let mut ready = VecDeque::new();
    while let Some(item) = feed.next_event() {
        let (ts, v, e) = item.expect("valid capture");
        sync.push(ts, v, e, &mut ready);
    }
    ready.into_iter().map(|(ts, _, e)| (ts, e)).collect()
}

/// One backtest over `events`; returns the fills, so the work cannot be skipped.
fn run(events: &[(u64, Event)]) -> u64 {
    let mut l = SimLoop::new(SessionStart {
        session_id: 1,
        seed: 42,
        config: CONFIG.into(),
    })
    .expect("default config");
    l.record = false;
    const STEP: u64 = 1_000_000_000;
    let mut next = events.first().map_or(0, |(ts, _)| ts - ts % STEP + STEP);
    let mut last = 0;
    for (ts, e) in events {
        while *ts >= next {
            l.push(next, Event::Timer(0));
            next += STEP;
        }
        l.push(*ts, e.clone());
        last = *ts;
    }
    l.stop(last);
    l.engine.orders.fills
}

fn bench(c: &mut Criterion) {
    let events = market_events();
    assert!(run(&events) > 0, "the market maker should trade");
    let mut g = c.benchmark_group("backtest");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("mm_usdm_btcusdt_20240808", |b| b.iter(|| run(&events)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
