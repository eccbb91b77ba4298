//! Back-pressure accounting for the pipeline's rings, the journal-failure signal the
//! gateways honour, and the test-only fault injections (read once at startup, never by
//! the engine).
//!
//! # Back-pressure policy
//!
//! Nothing is ever dropped. A producer that finds its ring full waits, with the
//! session's wait strategy (busy-spin: spin; yield: yield the core; block: yield, then
//! 50 µs sleeps), until a slot frees:
//!
//! - input ring (multi-producer): the feed thread (market data and timers), the
//!   signal sources and the session-start / Stop publishes wait. While the feed thread
//!   waits it does not read its socket, so a live feed that falls behind is absorbed
//!   by the kernel socket buffer and then TCP flow control (the venue sees a slow
//!   reader; a venue may eventually disconnect it, which the feed reports and
//!   resynchronizes like any disconnect). Recorded and synthetic feeds just slow down.
//! - output ring (single producer): the engine waits, which in turn backs up the input
//!   ring.
//! - the gateway never waits on the input ring (it must keep draining the output ring,
//!   or engine and gateway would wait on each other): execution reports that find the
//!   input ring full are kept in order in a backlog and published as slots free.
//!
//! Every publish that found its ring full is counted, with the total and longest
//! time it waited ([`Pressure`]); the run summary prints them, and the gateway's
//! largest report backlog.

use kestrel_engine::config::{Durability, WaitStrategy};
use kestrel_engine::{Action, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Back-pressure counters of one ring, shared by its producers (allocation-free;
/// touched only when a publish finds the ring full).
#[derive(Debug, Default)]
pub struct Pressure {
    full: AtomicU64,
    wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
    max_backlog: AtomicU64,
}

/// A snapshot of [`Pressure`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PressureCounts {
    /// Publishes that found the ring full and waited.
    pub full: u64,
    /// Total time those publishes waited, ns.
    pub wait_ns: u64,
    /// Longest single wait, ns.
    pub max_wait_ns: u64,
    /// Largest backlog of execution reports the gateway held (input ring only).
    pub max_backlog: u64,
}

impl Pressure {
    /// Records one publish that waited `ns` for a free slot.
    pub fn record_wait(&self, ns: u64) {
        self.full.fetch_add(1, Ordering::Relaxed);
        self.wait_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_wait_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Records a gateway backlog of `n` reports waiting for the ring.
    pub fn record_backlog(&self, n: u64) {
        self.max_backlog.fetch_max(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn counts(&self) -> PressureCounts {
        PressureCounts {
            full: self.full.load(Ordering::Relaxed),
            wait_ns: self.wait_ns.load(Ordering::Relaxed),
            max_wait_ns: self.max_wait_ns.load(Ordering::Relaxed),
            max_backlog: self.max_backlog.load(Ordering::Relaxed),
        }
    }
}

/// Publishes one event, waiting (as `wait` says) while the ring is full; a wait is
/// recorded in `pressure`. `update` fills the slot and runs exactly once.
pub fn publish<E, P, F>(producer: &mut P, pressure: &Pressure, wait: WaitStrategy, update: F)
where
    P: disruptor::Producer<E>,
    F: FnOnce(&mut E),
{
    let mut update = Some(update);
    let mut fill = |slot: &mut E| {
        if let Some(u) = update.take() {
            u(slot);
        }
    };
    if producer.try_publish(&mut fill).is_ok() {
        return;
    }
    let start = crate::clock::mono_ns();
    let mut spins = 0;
    loop {
        crate::runtime::idle(wait, &mut spins);
        if producer.try_publish(&mut fill).is_ok() {
            break;
        }
    }
    pressure.record_wait(crate::clock::mono_ns().saturating_sub(start));
}

/// Set in the `journaled` watermark when the journal failed: the sync gate then
/// releases cancels but never an order whose cause was not committed.
pub const JOURNAL_FAILED: u64 = 1 << 63;

/// Sync durability gate: waits until input `cause` is committed. False if the journal
/// failed before it was (the order must not leave).
pub fn wait_committed(journaled: &AtomicU64, cause: u64) -> bool {
    loop {
        let j = journaled.load(Ordering::Acquire);
        if j & !JOURNAL_FAILED >= cause {
            return true;
        }
        if j & JOURNAL_FAILED != 0 {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// The gateways' sync-durability rule for a request output: with `durability =
/// "sync"` it waits until its cause is committed, and is held back (true) when the
/// journal failed first — except a cancel, which always goes.
pub fn withheld(durability: Durability, journaled: &AtomicU64, o: &Output) -> bool {
    durability == Durability::Sync
        && !wait_committed(journaled, o.cause)
        && !matches!(o.action, Action::Cancel { .. })
}

/// Test-only: `KESTREL_FAULT_JOURNAL_DELAY_US` — the journal thread sleeps this long
/// before every commit (a slow disk). Read once at startup; 0 when unset.
///
/// # Errors
/// The variable is set but not a whole number of microseconds.
pub fn journal_delay() -> anyhow::Result<Duration> {
    match std::env::var("KESTREL_FAULT_JOURNAL_DELAY_US") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_micros)
            .map_err(|_| {
                anyhow::anyhow!("KESTREL_FAULT_JOURNAL_DELAY_US must be microseconds, got {v:?}")
            }),
        Err(_) => Ok(Duration::ZERO),
    }
}

/// Test-only: `KESTREL_FAULT_FEED_PANIC_AFTER=N` — the feed thread panics once it has
/// published N market-data events (a bug in a feed). Read once at startup; `None` when
/// unset.
///
/// # Errors
/// The variable is set but not a whole number.
pub fn feed_panic_after() -> anyhow::Result<Option<u64>> {
    match std::env::var("KESTREL_FAULT_FEED_PANIC_AFTER") {
        Ok(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
            anyhow::anyhow!("KESTREL_FAULT_FEED_PANIC_AFTER must be a count, got {v:?}")
        }),
        Err(_) => Ok(None),
    }
}

/// Formats ns as a short duration (µs under 10 ms, else ms).
fn short(ns: u64) -> String {
    if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

/// The summary line of both rings' back-pressure.
pub fn summary_line(input: &PressureCounts, output: &PressureCounts) -> String {
    format!(
        "back-pressure: input ring full {} times (waited {}, longest {}), output ring full {} \
         times (waited {}, longest {}), gateway report backlog max {}; nothing dropped",
        input.full,
        short(input.wait_ns),
        short(input.max_wait_ns),
        output.full,
        short(output.wait_ns),
        short(output.max_wait_ns),
        input.max_backlog
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use disruptor::{build_single_producer, BusySpin, Polling};
    use std::sync::Arc;

    #[test]
    fn a_full_ring_waits_counts_and_loses_nothing() {
        let builder = build_single_producer(64, || 0u64, BusySpin);
        let (mut poller, builder) = builder.new_event_poller();
        let mut producer = builder.build();
        let pressure = Arc::new(Pressure::default());
        let p = pressure.clone();
        let writer = std::thread::spawn(move || {
            for i in 1..=1000u64 {
                publish(&mut producer, &p, WaitStrategy::Yield, |s| *s = i);
            }
        });
        // Let the producer fill the ring before reading anything.
        std::thread::sleep(Duration::from_millis(50));
        let mut got = Vec::new();
        while got.len() < 1000 {
            match poller.poll() {
                Ok(mut g) => {
                    for v in &mut g {
                        got.push(*v);
                    }
                }
                Err(Polling::NoEvents) => std::thread::yield_now(),
                Err(Polling::Shutdown) => break,
            }
        }
        writer.join().unwrap();
        assert_eq!(got, (1..=1000).collect::<Vec<_>>());
        let c = pressure.counts();
        assert!(c.full >= 1, "{c:?}");
        assert!(
            c.max_wait_ns >= 40_000_000,
            "the first wait outlasted the sleep: {c:?}"
        );
        assert!(c.wait_ns >= c.max_wait_ns);
    }

    #[test]
    fn sync_gate_releases_on_commit_and_refuses_after_a_failure() {
        let j = AtomicU64::new(5);
        assert!(wait_committed(&j, 5));
        j.store(5 | JOURNAL_FAILED, Ordering::Release);
        assert!(wait_committed(&j, 4));
        assert!(!wait_committed(&j, 6));
    }
}
