//! Allocation counts in steady state (own test binary: it installs a counting allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use kestrel_engine::config::FeedConfig;
use kestrel_engine::{Dec, InstrumentSpec};
use kestrel_feeds::{RecordedFeed, SyntheticFeed};

struct Counting;

// Per thread: allocations of the test harness's other threads must not count.
thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

fn allocs() -> u64 {
    COUNT.with(|c| c.get())
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

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
    let before = allocs();
    let mut n = 0;
    while f.next_event().is_some() {
        n += 1;
    }
    assert!(n > 100_000);
    assert_eq!(allocs() - before, 0, "synthetic feed allocated per event");

    // Recorded: after warm-up, only simd-json's tape vector per line (allocated, and
    // grown when a line has more tokens than the previous one).
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hftbacktest/spot/btcusdt_20240808.gz");
    let mut r = RecordedFeed::open(&path, &[("BTCUSDT".to_string(), 0)]).unwrap();
    for _ in 0..2_000 {
        r.next_event().unwrap().unwrap();
    }
    let (before, lines0) = (allocs(), r.line_number());
    while let Some(ev) = r.next_event() {
        ev.unwrap();
    }
    let allocs = allocs() - before;
    let lines = r.line_number() - lines0;
    assert!(
        allocs <= 2 * lines,
        "{allocs} allocations for {lines} lines"
    );
}
