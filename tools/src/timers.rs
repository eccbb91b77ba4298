//! Timer boundaries in event time, for the live runtime's feed thread and the
//! backtest: a `Timer` input at every multiple of the timer period.
//!
//! A jump in event time (a gap in a recording, or a bogus timestamp) would be owed a
//! timer per period crossed: billions for a timestamp off by years. At most
//! [`MAX_AT_ONCE`] are published for one jump, the latest ones; the rest are skipped,
//! counted and reported in a warning.

/// Most timers published for one step of event time (~28 hours of 1 s timers).
pub const MAX_AT_ONCE: u64 = 100_000;

/// The first timer boundary after `ts`: the next multiple of `step` (≥ 1), or
/// `u64::MAX` past the end of the range (no more timers).
pub fn first_after(ts: u64, step: u64) -> u64 {
    let step = step.max(1);
    (ts / step)
        .checked_add(1)
        .and_then(|k| k.checked_mul(step))
        .unwrap_or(u64::MAX)
}

/// The timers due up to `until`, from `*next` every `step`: calls `publish` with each
/// one's time, leaves `*next` at the first boundary after `until` (`u64::MAX` when
/// none is left in range), and returns how many were skipped beyond [`MAX_AT_ONCE`]
/// (the earliest ones), which it also reports on stderr.
pub fn publish_due(next: &mut u64, until: u64, step: u64, mut publish: impl FnMut(u64)) -> u64 {
    let step = step.max(1);
    if *next == u64::MAX || until < *next {
        return 0;
    }
    let due = (until - *next) / step + 1;
    let skipped = due.saturating_sub(MAX_AT_ONCE);
    if skipped > 0 {
        eprintln!(
            "warning: event time jumped from {} to {until} ns: {skipped} timers skipped, the latest {MAX_AT_ONCE} published",
            *next
        );
    }
    // Within range: `*next + (due - 1) * step <= until`.
    *next += skipped * step;
    while *next <= until {
        publish(*next);
        match next.checked_add(step) {
            Some(n) => *next = n,
            None => {
                *next = u64::MAX;
                break;
            }
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(next: &mut u64, until: u64, step: u64) -> (Vec<u64>, u64) {
        let mut seen = Vec::new();
        let skipped = publish_due(next, until, step, |t| seen.push(t));
        (seen, skipped)
    }

    #[test]
    fn every_boundary_up_to_the_event_time_once() {
        assert_eq!(first_after(0, 1_000), 1_000);
        assert_eq!(first_after(1_999, 1_000), 2_000);
        assert_eq!(first_after(2_000, 1_000), 3_000);
        let mut next = first_after(1_500, 1_000);
        assert_eq!(due(&mut next, 1_999, 1_000), (vec![], 0));
        assert_eq!(due(&mut next, 4_000, 1_000), (vec![2_000, 3_000, 4_000], 0));
        assert_eq!(next, 5_000);
        assert_eq!(due(&mut next, 4_500, 1_000), (vec![], 0), "time going back");
    }

    #[test]
    fn the_end_of_the_range_stops_the_timers_without_overflow() {
        assert_eq!(first_after(u64::MAX - 1, 1_000), u64::MAX);
        assert_eq!(first_after(u64::MAX, 1), u64::MAX);
        let step = u64::MAX / 4;
        let mut next = first_after(0, step);
        let (seen, skipped) = due(&mut next, u64::MAX, step);
        assert_eq!(seen, vec![step, 2 * step, 3 * step, 4 * step]);
        assert_eq!((next, skipped), (u64::MAX, 0));
        assert_eq!(due(&mut next, u64::MAX, step), (vec![], 0));
    }

    #[test]
    fn a_jump_publishes_the_latest_timers_and_counts_the_rest() {
        let step = 1_000_000_000;
        let mut next = first_after(5, step);
        // A timestamp years ahead (a bogus capture line, or a clock in the wrong unit).
        let until = 3_000_000_000 * step + 7;
        let mut n = 0u64;
        let mut last = 0;
        let skipped = publish_due(&mut next, until, step, |t| {
            n += 1;
            last = t;
        });
        assert_eq!(n, MAX_AT_ONCE);
        assert_eq!(skipped, 3_000_000_000 - MAX_AT_ONCE);
        assert_eq!(last, 3_000_000_000 * step);
        assert_eq!(next, last + step);
    }
}
