//! The runtime's clocks (never read by the engine).
//!
//! - [`mono_ns`]: monotonic stamps for latency statistics and every schedule.
//! - [`epoch_ns`]: the wall clock read **once** per process; live event time is
//!   `epoch_ns() + mono_ns()`, so a host clock jump (NTP step, manual change) mid-run
//!   cannot move event time backwards nor fire a burst of timers.
//! - [`unix_ns`]: the wall clock now (journal metadata, venue request timestamps).
//!
//! Test-only fault: `KESTREL_FAULT_CLOCK_JUMPS="MS:SECS,..."` makes [`unix_ns`] read
//! the real wall clock plus `SECS` (signed) from `MS` ms of monotonic time on, e.g.
//! `"300:-3600,900:3600"` jumps back an hour at 0.3 s and an hour ahead at 0.9 s.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static BASE: OnceLock<Instant> = OnceLock::new();
static EPOCH: OnceLock<u64> = OnceLock::new();
static JUMPS: OnceLock<Vec<(u64, i64)>> = OnceLock::new();

/// Nanoseconds since the first call in this process.
#[inline]
pub fn mono_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Wall-clock ns since the Unix epoch, with the test-only jumps applied.
pub fn unix_ns() -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let now_ms = mono_ns() / 1_000_000;
    let offset = JUMPS
        .get()
        .and_then(|j| j.iter().rev().find(|(at, _)| now_ms >= *at))
        .map_or(0, |(_, secs)| *secs);
    real.saturating_add_signed(offset.saturating_mul(1_000_000_000))
}

/// Wall time (ns since the epoch) at `mono_ns() == 0`, read once per process: the
/// origin of live event time.
pub fn epoch_ns() -> u64 {
    *EPOCH.get_or_init(|| unix_ns().saturating_sub(mono_ns()))
}

/// Reads the test-only `KESTREL_FAULT_CLOCK_JUMPS` schedule (see the module docs).
///
/// # Errors
/// A malformed schedule.
pub fn init_faults() -> anyhow::Result<()> {
    let Ok(text) = std::env::var("KESTREL_FAULT_CLOCK_JUMPS") else {
        return Ok(());
    };
    let jumps = parse_jumps(&text).ok_or_else(|| {
        anyhow::anyhow!(
            "KESTREL_FAULT_CLOCK_JUMPS must be MS:SECS[,MS:SECS...] with MS increasing, got {text:?}"
        )
    })?;
    let _ = JUMPS.set(jumps);
    Ok(())
}

fn parse_jumps(text: &str) -> Option<Vec<(u64, i64)>> {
    let mut out: Vec<(u64, i64)> = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (at, secs) = part.trim().split_once(':')?;
        let at: u64 = at.trim().parse().ok()?;
        let secs: i64 = secs.trim().parse().ok()?;
        if out.last().is_some_and(|(prev, _)| *prev >= at) {
            return None;
        }
        out.push((at, secs));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::parse_jumps;

    #[test]
    fn jump_schedule_parses_and_refuses_nonsense() {
        assert_eq!(
            parse_jumps("300:-3600, 900:3600"),
            Some(vec![(300, -3600), (900, 3600)])
        );
        assert_eq!(parse_jumps(""), Some(vec![]));
        assert_eq!(parse_jumps("900:1,300:2"), None);
        assert_eq!(parse_jumps("300"), None);
        assert_eq!(parse_jumps("x:1"), None);
    }
}
