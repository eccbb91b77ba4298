//! Clocks for the connector: a wall clock for request timestamps, a monotonic clock
//! for schedules and latency stamps, both injectable, and [`ClockSync`], the local →
//! venue time offset measured from `GET /api/v3/time` at the round-trip midpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Time source of the connector.
pub trait Clock: Send {
    /// Wall-clock milliseconds since the Unix epoch (before the venue offset).
    fn wall_ms(&self) -> u64;
    /// Monotonic nanoseconds (any origin): schedules and latency stamps.
    fn mono_ns(&self) -> u64;
}

/// The operating system's clocks.
#[derive(Clone, Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
    fn mono_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

/// A clock driven by hand (tests): clones share the same time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    wall_ms: Arc<AtomicU64>,
    mono_ns: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at wall time `wall_ms` and monotonic 0.
    pub fn new(wall_ms: u64) -> ManualClock {
        let c = ManualClock::default();
        c.wall_ms.store(wall_ms, Ordering::Relaxed);
        c
    }
    /// Moves both clocks forward by `ms`.
    pub fn advance_ms(&self, ms: u64) {
        self.wall_ms.fetch_add(ms, Ordering::Relaxed);
        self.mono_ns.fetch_add(ms * 1_000_000, Ordering::Relaxed);
    }
    /// Sets the wall clock only (a local clock jump).
    pub fn set_wall_ms(&self, ms: u64) {
        self.wall_ms.store(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn wall_ms(&self) -> u64 {
        self.wall_ms.load(Ordering::Relaxed)
    }
    fn mono_ns(&self) -> u64 {
        self.mono_ns.load(Ordering::Relaxed)
    }
}

/// Largest venue − local clock offset [`ClockSync::update`] accepts (one day, ms):
/// beyond it the venue's time or the local clock is wrong, and signed requests
/// would carry a meaningless timestamp.
pub const MAX_CLOCK_OFFSET_MS: u64 = 86_400_000;

/// Offset between the local wall clock and the venue's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockSync {
    /// Venue time minus local time, ms.
    pub offset_ms: i64,
    /// Round trip of the measurement, ms.
    pub rtt_ms: u64,
    /// Number of measurements taken.
    pub syncs: u32,
}

impl ClockSync {
    /// Records a measurement: the request left at local `t0_ms`, the answer (venue
    /// time `server_ms`) arrived at local `t1_ms`. The venue read its clock, on
    /// average, at the midpoint of the round trip.
    ///
    /// # Errors
    /// An offset beyond [`MAX_CLOCK_OFFSET_MS`] either way (a bogus `serverTime` or a
    /// local clock far off); the previous measurement is kept.
    pub fn update(&mut self, t0_ms: u64, server_ms: u64, t1_ms: u64) -> Result<(), String> {
        let t1 = t1_ms.max(t0_ms);
        let mid = t0_ms as i128 + (t1 - t0_ms) as i128 / 2;
        let offset = server_ms as i128 - mid;
        let offset_ms = i64::try_from(offset)
            .ok()
            .filter(|o| o.unsigned_abs() <= MAX_CLOCK_OFFSET_MS)
            .ok_or_else(|| {
                format!(
                    "venue serverTime {server_ms} ms is {offset} ms from the local clock \
                     ({mid} ms), beyond the plausible {MAX_CLOCK_OFFSET_MS} ms: \
                     clock offset not updated"
                )
            })?;
        self.offset_ms = offset_ms;
        self.rtt_ms = t1 - t0_ms;
        self.syncs += 1;
        Ok(())
    }

    /// Venue time (ms) for local wall time `local_ms`.
    pub fn venue_ms(&self, local_ms: u64) -> u64 {
        (local_ms as i64).saturating_add(self.offset_ms).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_uses_round_trip_midpoint() {
        let mut s = ClockSync::default();
        // Sent at 1000, answered 1100 with venue time 5050: venue read at local 1050.
        s.update(1_000, 5_050, 1_100).unwrap();
        assert_eq!((s.offset_ms, s.rtt_ms, s.syncs), (4_000, 100, 1));
        assert_eq!(s.venue_ms(2_000), 6_000);
        // Venue behind the local clock.
        s.update(10_000, 9_000, 10_010).unwrap();
        assert_eq!((s.offset_ms, s.rtt_ms), (-1_005, 10));
        assert_eq!(s.venue_ms(500), 0);
    }

    #[test]
    fn implausible_offsets_are_refused_and_the_last_one_kept() {
        let now = 1_700_000_000_000u64;
        let day = MAX_CLOCK_OFFSET_MS;
        let mut s = ClockSync::default();
        s.update(now, now + 250, now).unwrap();
        let good = s;
        // u64::MAX used to truncate to a small negative offset; the others are days off.
        for server in [u64::MAX, 1u64 << 63, now + day + 1, now - day - 1, 0] {
            let e = s.update(now, server, now).unwrap_err();
            assert!(e.contains(&format!("serverTime {server} ms")), "{e}");
            assert!(e.contains("clock offset not updated"), "{e}");
            assert_eq!(s, good);
        }
        // Exactly the bound is still accepted, both ways.
        s.update(now, now + day, now).unwrap();
        assert_eq!(s.offset_ms, day as i64);
        s.update(now, now - day, now).unwrap();
        assert_eq!((s.offset_ms, s.syncs), (-(day as i64), 3));
    }

    #[test]
    fn manual_clock_moves_together() {
        let c = ManualClock::new(1_000);
        let d = c.clone();
        d.advance_ms(30);
        assert_eq!((c.wall_ms(), c.mono_ns()), (1_030, 30_000_000));
        c.set_wall_ms(5);
        assert_eq!((d.wall_ms(), d.mono_ns()), (5, 30_000_000));
    }
}
