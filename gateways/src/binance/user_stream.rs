//! User data stream: the listen key's life cycle, kept by the connector's clock.
//!
//! `POST /api/v3/userDataStream` (USD-M `POST /fapi/v1/listenKey`) creates a key;
//! the stream is `<stream base>/ws/<listenKey>`; the key expires 60 minutes after
//! its last keep-alive, so [`ListenKeySchedule`] asks for a `PUT` every 30 minutes
//! (configurable) of the monotonic clock the connector was given. A
//! `listenKeyExpired` event or a lost stream makes the connector `POST` again (the
//! venue returns the same key while it is valid) and reconnect if the key changed.

/// When the listen key needs its next keep-alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenKeySchedule {
    interval_ns: u64,
    key: Option<String>,
    next_due_ns: u64,
    /// Keep-alives sent.
    pub keepalives: u64,
}

impl ListenKeySchedule {
    /// A schedule with a keep-alive every `interval_ms`.
    pub fn new(interval_ms: u64) -> ListenKeySchedule {
        ListenKeySchedule {
            interval_ns: interval_ms.saturating_mul(1_000_000),
            key: None,
            next_due_ns: u64::MAX,
            keepalives: 0,
        }
    }

    /// A key was created (or confirmed) at monotonic `now_ns`. Returns true when it
    /// differs from the previous key (the stream must reconnect).
    pub fn on_created(&mut self, key: &str, now_ns: u64) -> bool {
        let changed = self.key.as_deref() != Some(key);
        if changed {
            self.key = Some(key.to_string());
        }
        self.next_due_ns = now_ns.saturating_add(self.interval_ns);
        changed
    }

    /// The current key.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// True when a keep-alive is due at `now_ns`.
    pub fn due(&self, now_ns: u64) -> bool {
        self.key.is_some() && now_ns >= self.next_due_ns
    }

    /// A keep-alive succeeded at `now_ns`.
    pub fn on_kept_alive(&mut self, now_ns: u64) {
        self.keepalives += 1;
        self.next_due_ns = now_ns.saturating_add(self.interval_ns);
    }

    /// The key is gone (expired or refused); the next poll creates a new one.
    pub fn invalidate(&mut self) {
        self.key = None;
        self.next_due_ns = u64::MAX;
    }

    /// Monotonic ns of the next keep-alive (`u64::MAX` without a key).
    pub fn next_due_ns(&self) -> u64 {
        self.next_due_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000_000_000;

    #[test]
    fn keepalive_every_thirty_minutes() {
        let mut s = ListenKeySchedule::new(30 * 60_000);
        assert!(!s.due(u64::MAX - 1));
        assert!(s.on_created("abc", 5 * MIN));
        assert!(!s.due(35 * MIN - 1));
        assert!(s.due(35 * MIN));
        s.on_kept_alive(35 * MIN + 7);
        assert!(!s.due(65 * MIN));
        assert!(s.due(65 * MIN + 7));
        assert!(!s.on_created("abc", 66 * MIN));
        assert!(!s.due(95 * MIN));
        assert!(s.on_created("xyz", 66 * MIN));
        s.invalidate();
        assert_eq!(
            (s.key(), s.due(u64::MAX - 1), s.keepalives),
            (None, false, 1)
        );
    }
}
