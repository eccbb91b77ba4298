//! REST polling signal source: `GET url` with `Authorization: Bearer <secret>` every
//! `poll_interval_ms`, forwarding list items whose id has not been delivered yet.
//!
//! The server's list may repeat signals across polls (a "last N signals" endpoint);
//! each (id, action) is forwarded once, remembered in a ring of the last [`REST_SEEN_CAPACITY`]
//! ids. A malformed item is counted and logged once too (it is remembered by the hash
//! of its JSON). A failed poll (connection, timeout, non-2xx status, a body that is
//! not a list) is logged and counted as a transport error; polling goes on.

use super::{
    Authenticator, ReceivedSignal, SignalParser, SourceCounters, SourceHandle, LOG_TARGET,
};
use crate::threads::sleep_unless_stopped;
use crate::ws::http_get_with_headers;
use kestrel_engine::config::SignalSourceConfig;
use kestrel_engine::signal::fnv1a_extend;
use kestrel_engine::SignalAction;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ids remembered by a REST poller to skip repeats.
pub const REST_SEEN_CAPACITY: usize = 4096;

/// A REST poller (see the module docs).
#[derive(Debug)]
pub struct RestPoller {
    addr: String,
    path: String,
    /// `Bearer <secret>`, printed as `***`.
    bearer: super::Secret,
    parser: SignalParser,
    clock: fn() -> u64,
    interval: Duration,
    timeout: Duration,
    max_body: usize,
    seen: Vec<u64>,
    next: usize,
    counters: Arc<SourceCounters>,
}

impl RestPoller {
    /// A poller for `url` (`http://host[:port]/path`), sending the authenticator's
    /// secret as a bearer token.
    ///
    /// # Errors
    /// A message when the URL is not plain `http://`, or the secret cannot be sent in
    /// a header (it must be printable ASCII without spaces).
    pub fn new(
        url: &str,
        cfg: &SignalSourceConfig,
        parser: SignalParser,
        auth: Authenticator,
        clock: fn() -> u64,
    ) -> Result<RestPoller, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("rest url {url:?} must start with http://"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("rest url {url:?} has no host"));
        }
        let addr = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let token = auth.secret().expose();
        if !token.iter().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the secret must be printable ASCII without spaces to be sent as a bearer token"
                    .into(),
            );
        }
        Ok(RestPoller {
            addr,
            path: path.to_string(),
            bearer: super::Secret::new([b"Bearer ", token].concat()),
            parser,
            clock,
            interval: Duration::from_millis(cfg.poll_interval_ms.max(1)),
            timeout: Duration::from_millis(cfg.request_timeout_ms.max(1)),
            max_body: cfg.max_body_bytes,
            seen: Vec::with_capacity(REST_SEEN_CAPACITY),
            next: 0,
            counters: Arc::new(SourceCounters::default()),
        })
    }

    /// The source's counters.
    pub fn counters(&self) -> super::CounterSnapshot {
        self.counters.snapshot()
    }

    /// `host:port` polled.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Path polled (with query).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Polls once: fetches the list and forwards the new signals. Returns how many
    /// were forwarded.
    pub fn poll(&mut self, sink: &mut impl FnMut(ReceivedSignal)) -> usize {
        // Checked to be printable ASCII in `new`.
        let bearer = std::str::from_utf8(self.bearer.expose()).unwrap_or_default();
        let headers = [("Authorization", bearer)];
        let mut body = match http_get_with_headers(&self.addr, &self.path, &headers, self.timeout) {
            Ok(b) => b,
            Err(e) => {
                SourceCounters::bump(&self.counters.transport_errors);
                log::warn!(target: LOG_TARGET, "rest {}{}: poll failed: {e}", self.addr, self.path);
                return 0;
            }
        };
        let recv_ns = (self.clock)();
        if body.len() > self.max_body {
            SourceCounters::bump(&self.counters.transport_errors);
            log::warn!(
                target: LOG_TARGET,
                "rest {}{}: response of {} bytes exceeds the {}-byte limit",
                self.addr,
                self.path,
                body.len(),
                self.max_body
            );
            return 0;
        }
        let items = match self.parser.parse_list(&mut body) {
            Ok(items) => items,
            Err(e) => {
                SourceCounters::bump(&self.counters.transport_errors);
                log::warn!(target: LOG_TARGET, "rest {}{}: response is not a signal list: {e}", self.addr, self.path);
                return 0;
            }
        };
        let mut forwarded = 0;
        for (key, item) in items {
            // OPEN and CLOSE of one trade may share an id: the action is part of the key.
            let key = match &item {
                Ok(p) if p.signal.action == SignalAction::Close => {
                    fnv1a_extend(p.signal.id, b"#close")
                }
                Ok(p) => p.signal.id,
                Err(_) => key,
            };
            if self.seen.contains(&key) {
                SourceCounters::bump(&self.counters.duplicates);
                continue;
            }
            self.remember(key);
            match item {
                Ok(p) => {
                    SourceCounters::bump(&self.counters.accepted);
                    log::info!(
                        target: LOG_TARGET,
                        "rest {}{}: signal {:?} {:?} {} i{} amount {}",
                        self.addr,
                        self.path,
                        p.id_text,
                        p.signal.action,
                        p.signal.side.as_str(),
                        p.signal.instrument,
                        p.signal.amount
                    );
                    sink(ReceivedSignal {
                        signal: p.signal,
                        recv_ns,
                    });
                    forwarded += 1;
                }
                Err(e) => {
                    SourceCounters::bump(&self.counters.rejected_malformed);
                    log::warn!(target: LOG_TARGET, "rest {}{}: refused signal: {e}", self.addr, self.path);
                }
            }
        }
        forwarded
    }

    fn remember(&mut self, key: u64) {
        if self.seen.len() < REST_SEEN_CAPACITY {
            self.seen.push(key);
        } else {
            self.seen[self.next] = key;
        }
        self.next = (self.next + 1) % REST_SEEN_CAPACITY;
    }

    /// Polls every interval (the first poll at once) until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool, sink: &mut impl FnMut(ReceivedSignal)) {
        log::info!(target: LOG_TARGET, "rest: polling {}{} every {:?}", self.addr, self.path, self.interval);
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            self.poll(sink);
            sleep_unless_stopped(stop, self.interval.saturating_sub(started.elapsed()));
        }
    }

    /// Starts [`run`](Self::run) on a thread named `signals-rest`.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn spawn<F>(mut self, mut sink: F) -> std::io::Result<SourceHandle>
    where
        F: FnMut(ReceivedSignal) + Send + 'static,
    {
        let counters = self.counters.clone();
        SourceHandle::start("signals-rest", counters, None, move |stop| {
            self.run(stop, &mut sink)
        })
    }
}
