//! What the thread-hop measurements (`ring_hop`, `requote_hop`) share: the clock the
//! runtime stamps with, pinning, and their histograms and table rows.

use hdrhistogram::Histogram;
use std::sync::OnceLock;
use std::time::Instant;

static BASE: OnceLock<Instant> = OnceLock::new();

/// Monotonic ns since the first call, as the runtime's `mono_ns`.
pub fn mono_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Pins the calling thread, the `i`-th of a layout, to `cores[i]` if given (warns if
/// the core cannot be had).
pub fn pin(cores: &[usize], i: usize) {
    if let Some(&c) = cores.get(i) {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
            eprintln!("warning: could not pin thread {i} to core {c}");
        }
    }
}

/// A latency histogram, 1 ns to 60 s at three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

/// Markdown table header matching [`row`].
pub const HEADER: &str = "| n | min | p50 | p90 | p99 | p99.9 | max |";

/// A markdown table row: `name`, then count, min, p50, p90, p99, p99.9, max.
pub fn row(name: &str, h: &Histogram<u64>) -> String {
    let q = |p: f64| h.value_at_quantile(p);
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} |",
        h.len(),
        h.min(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        h.max()
    )
}
