//! Allocation counts in steady state (own test binary: it installs a counting allocator).

mod common;

use common::{allocs_now, Counting};

use std::path::PathBuf;

use kestrel_engine::config::FeedConfig;
use kestrel_engine::{Dec, InstrumentSpec};
use kestrel_feeds::{RecordedFeed, SyntheticFeed};

#[global_allocator]
static A: Counting = Counting;

// One test function so no other test thread allocates while counting.
#[test]
fn steady_state_allocations() {
    let spec = InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: Dec::parse("0.01").unwrap(),
        lot_size: Dec::parse("0.001").unwrap(),
        min_qty: Dec::ZERO,
        min_notional: Dec::ZERO,
        market: Default::default(),
        leverage: 1,
    };
    let cfg = FeedConfig {
        events: 50_000,
        ..FeedConfig::default()
    };
    let mut f = SyntheticFeed::new(&cfg, 1, 0, &spec);
    let before = allocs_now();
    let mut n = 0;
    while f.next_event().is_some() {
        n += 1;
    }
    assert!(n > 100_000);
    assert_eq!(
        allocs_now() - before,
        0,
        "synthetic feed allocated per event"
    );

    // Recorded: after warm-up, only simd-json's tape vector per line (allocated, and
    // grown when a line has more tokens than the previous one).
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hftbacktest/spot/btcusdt_20240808.gz");
    let mut r = RecordedFeed::open(&path, &[("BTCUSDT".to_string(), 0)]).unwrap();
    for _ in 0..2_000 {
        r.next_event().unwrap().unwrap();
    }
    let (before, lines0) = (allocs_now(), r.line_number());
    while let Some(ev) = r.next_event() {
        ev.unwrap();
    }
    let allocs = allocs_now() - before;
    let lines = r.line_number() - lines0;
    assert!(
        allocs <= 2 * lines,
        "{allocs} allocations for {lines} lines"
    );
}
