//! Small pieces the background threads of feeds, signal sources and test venues share:
//! a sleep that a stop flag cuts short, and the message of a thread's panic.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Sleeps up to `total`, looking at `stop` every 20 ms and returning once it is set.
/// No deadline is computed, so any `total` (even `Duration::MAX`) is fine.
pub fn sleep_unless_stopped(stop: &AtomicBool, total: Duration) {
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let left = total.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

/// The message of a caught panic (`panic!` with a literal or a formatted string).
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_cuts_any_sleep_short() {
        let stop = AtomicBool::new(true);
        let t = Instant::now();
        sleep_unless_stopped(&stop, Duration::MAX);
        assert!(t.elapsed() < Duration::from_secs(1));
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        sleep_unless_stopped(&stop, Duration::from_millis(30));
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn panic_messages_of_both_kinds_are_read() {
        let literal = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(&*literal), "plain");
        let n = 7;
        let formatted = std::panic::catch_unwind(|| panic!("after {n}")).unwrap_err();
        assert_eq!(panic_message(&*formatted), "after 7");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(5u8)).unwrap_err();
        assert_eq!(panic_message(&*other), "no message");
    }
}
