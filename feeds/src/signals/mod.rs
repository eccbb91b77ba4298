//! Copy-trading signal sources: a WebSocket client, an HTTP webhook server and a REST
//! poller, each on its own thread, each handing authenticated, parsed [`Signal`]s to a
//! callback (the runtime publishes them into the input ring with
//! [`Source::Signal`](kestrel_engine::Source::Signal) and the callback's `recv_ns`).
//!
//! Nothing unauthenticated or malformed is forwarded: it is refused with a logged
//! reason (the `log` crate, target `kestrel::signals`) and counted in the source's
//! [`SourceCounters`]. Secrets come from an environment variable or a key file only
//! ([`Secret`], which prints as `***`) and are never logged.
//!
//! # Signal JSON
//!
//! One object per signal; unknown fields are ignored. Numbers may be JSON numbers or
//! strings (`"0.01"`); strings are read exactly, numbers through their shortest text.
//!
//! | field (aliases) | meaning |
//! | --- | --- |
//! | `id` (`signal_id`, `order_id`) | unique id of the signal, string or integer, ≤ 128 bytes; hashed with FNV-1a into [`Signal::id`]. Absent: the hash of the raw body (identical bodies are then duplicates) |
//! | `pair` (`symbol`, `ticker`) | instrument: `BTCUSDT`, `btc/usdt`, `BTC-USDT`, `BINANCE:BTCUSDT.P` all name `BTCUSDT` |
//! | `side` | `buy` / `long` or `sell` / `short` (any case): the side of the position opened or closed |
//! | `action` | `OPEN` or `CLOSE` (also `entry` / `exit`), any case; or a side word (TradingView, below) |
//! | `amount` (`quantity`, `qty`, `contracts`) | the master's base amount, > 0 for OPEN; optional for CLOSE |
//! | `entry_price` (`price`, `entry`) | entry price; absent or 0: market |
//! | `stop_loss` (`sl`) | stop loss as a fraction below 1 (0.02 = 2%) |
//! | `take_profit` (`tp`) | take profit as a fraction |
//! | `confidence` | in [0, 1]; default 1 |
//! | `secret` (`passphrase`) | shared secret, for sources that take it in the body |
//!
//! Example: `{"id":"sig-1","pair":"BTCUSDT","side":"buy","amount":"0.5","stop_loss":"0.02","action":"OPEN"}`
//!
//! # TradingView alerts
//!
//! TradingView can only send a body (no custom headers), so a webhook fed by it uses
//! `auth = "shared-secret"` with the secret in the body. A strategy alert message such as
//!
//! ```text
//! {"id": "{{strategy.order.id}}-{{timenow}}", "ticker": "{{ticker}}",
//!  "action": "{{strategy.order.action}}", "contracts": "{{strategy.order.contracts}}",
//!  "price": "{{close}}", "market_position": "{{strategy.market_position}}",
//!  "prev_market_position": "{{strategy.prev_market_position}}", "passphrase": "..."}
//! ```
//!
//! is read as follows: `action` `buy`/`sell` is the order's side; when
//! `market_position` is `flat` the order closed a position, so the signal is a CLOSE of
//! `prev_market_position` (`long` → BUY side, `short` → SELL; absent: the side
//! opposite the order), otherwise it is an OPEN on the order's side. TradingView's
//! order ids repeat (they name the entry), hence `-{{timenow}}` in the id: without it
//! the second alert of an entry would be refused as a duplicate.
//!
//! # Transports
//!
//! - [`WebhookSource`]: `POST` (any path) with `Content-Length`; HMAC (`X-Signature:
//!   hex(HMAC-SHA256(secret, body))`, optionally `sha256=`-prefixed) or shared secret
//!   (`X-Signal-Secret` header, else the body's `secret` field). 200 on acceptance,
//!   400/401/405/408/411/413/431 with `{"ok":false,"error":"..."}` otherwise.
//! - [`WsSignalSource`]: each text frame is one signal object or an array of them,
//!   each carrying the shared `secret`; reconnects with jittered backoff.
//! - [`RestPoller`]: `GET` every `poll_interval_ms` with `Authorization: Bearer
//!   <secret>`; the response is an array of signals or `{"signals": [...]}`; ids
//!   already delivered are skipped (a ring of the last [`REST_SEEN_CAPACITY`]).
//!
//! Only plain `ws://` and `http://` are spoken; run a TLS-terminating proxy in front of
//! a webhook that must be reachable from the internet.

mod auth;
mod parse;
mod rest;
mod webhook;
mod ws;

pub use auth::{sign_hex, AuthError, Authenticator, Secret, SecretError};
pub use parse::{
    normalise_pair, ListItem, ParsedSignal, SignalParseError, SignalParser, MAX_ID_LEN,
};
pub use rest::{RestPoller, REST_SEEN_CAPACITY};
pub use webhook::WebhookSource;
pub use ws::WsSignalSource;

use kestrel_engine::config::{SignalSourceConfig, SignalSourceKind};
use kestrel_engine::Signal;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Log target of every signal-source message.
pub const LOG_TARGET: &str = "kestrel::signals";

/// What a source hands to its callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedSignal {
    /// The parsed, authenticated signal.
    pub signal: Signal,
    /// Monotonic ns (the source's clock) right after the read that completed the
    /// request, frame or response carrying it; goes into `Header::recv_ns`.
    pub recv_ns: u64,
}

/// Per-source counters, shared with the thread running the source.
#[derive(Debug, Default)]
pub struct SourceCounters {
    accepted: AtomicU64,
    rejected_auth: AtomicU64,
    rejected_malformed: AtomicU64,
    duplicates: AtomicU64,
    transport_errors: AtomicU64,
    thread_panicked: AtomicBool,
}

/// A copy of [`SourceCounters`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Signals forwarded to the callback.
    pub accepted: u64,
    /// Requests or messages refused as unauthenticated.
    pub rejected_auth: u64,
    /// Requests, messages or list items refused as malformed (bad HTTP, bad JSON,
    /// unusable fields, unknown pair).
    pub rejected_malformed: u64,
    /// REST list items skipped because their id was already delivered.
    pub duplicates: u64,
    /// Failed polls, lost connections, timed-out requests.
    pub transport_errors: u64,
    /// The source's thread panicked (seen when it is stopped): it delivered nothing
    /// after the panic.
    pub thread_panicked: bool,
}

impl SourceCounters {
    /// The current values.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected_auth: self.rejected_auth.load(Ordering::Relaxed),
            rejected_malformed: self.rejected_malformed.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            transport_errors: self.transport_errors.load(Ordering::Relaxed),
            thread_panicked: self.thread_panicked.load(Ordering::Relaxed),
        }
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why a source could not be built.
#[derive(Debug)]
pub enum SourceError {
    /// The source config is invalid.
    Config(String),
    /// The secret could not be loaded.
    Secret(SecretError),
    /// Binding the webhook listener or starting the thread failed.
    Io(std::io::Error),
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "signal {e}"),
            Self::Secret(e) => write!(f, "signal source secret: {e}"),
            Self::Io(e) => write!(f, "signal source: {e}"),
        }
    }
}

impl std::error::Error for SourceError {}

impl From<SecretError> for SourceError {
    fn from(e: SecretError) -> Self {
        SourceError::Secret(e)
    }
}

impl From<std::io::Error> for SourceError {
    fn from(e: std::io::Error) -> Self {
        SourceError::Io(e)
    }
}

/// Any of the three sources, built from a [`SignalSourceConfig`].
#[derive(Debug)]
pub enum SignalSource {
    /// WebSocket client.
    Websocket(WsSignalSource),
    /// HTTP webhook server (already bound).
    Webhook(WebhookSource),
    /// REST poller.
    Rest(RestPoller),
}

impl SignalSource {
    /// Validates `cfg`, loads its secret and builds the source (a webhook binds its
    /// listener here, so the address is known before the thread starts). `clock`
    /// gives monotonic ns for [`ReceivedSignal::recv_ns`].
    ///
    /// # Errors
    /// [`SourceError`] for an invalid config, a missing secret or a failed bind.
    pub fn from_config(
        cfg: &SignalSourceConfig,
        parser: SignalParser,
        clock: fn() -> u64,
    ) -> Result<SignalSource, SourceError> {
        cfg.validate().map_err(SourceError::Config)?;
        let auth = Authenticator::from_config(cfg)?;
        let url = cfg.url.as_deref().unwrap_or("");
        Ok(match cfg.kind {
            SignalSourceKind::Websocket => {
                SignalSource::Websocket(WsSignalSource::new(url, cfg, parser, auth, clock))
            }
            SignalSourceKind::Webhook => {
                SignalSource::Webhook(WebhookSource::bind(cfg, parser, auth, clock)?)
            }
            SignalSourceKind::Rest => SignalSource::Rest(
                RestPoller::new(url, cfg, parser, auth, clock).map_err(SourceError::Config)?,
            ),
        })
    }

    /// Starts the source on its own thread, calling `sink` for every accepted signal.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn spawn<F>(self, sink: F) -> std::io::Result<SourceHandle>
    where
        F: FnMut(ReceivedSignal) + Send + 'static,
    {
        match self {
            SignalSource::Websocket(s) => s.spawn(sink),
            SignalSource::Webhook(s) => s.spawn(sink),
            SignalSource::Rest(s) => s.spawn(sink),
        }
    }
}

/// A running source: its counters, its address (webhooks) and a stop switch.
#[derive(Debug)]
pub struct SourceHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<SourceCounters>,
    local_addr: Option<SocketAddr>,
    /// Connected to on stop, to wake a thread blocked in `accept`.
    wake: Option<SocketAddr>,
}

impl SourceHandle {
    fn start<F>(
        name: &str,
        counters: Arc<SourceCounters>,
        local_addr: Option<SocketAddr>,
        body: F,
    ) -> std::io::Result<SourceHandle>
    where
        F: FnOnce(&AtomicBool) + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || body(&flag))?;
        Ok(SourceHandle {
            stop,
            thread: Some(thread),
            counters,
            local_addr,
            wake: None,
        })
    }

    /// The source's counters.
    pub fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    /// The shared counters (to read after the handle is gone).
    pub fn counters_arc(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }

    /// The webhook's listening address (`None` for other sources).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Asks the thread to stop and waits for it (at most about one poll period or one
    /// request timeout). Returns the final counters; a thread that panicked is logged
    /// and reported as [`CounterSnapshot::thread_panicked`].
    pub fn stop(mut self) -> CounterSnapshot {
        self.shutdown();
        self.counters.snapshot()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(addr) = self.wake.take() {
            let _ = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1));
        }
        if let Some(t) = self.thread.take() {
            let name = t.thread().name().unwrap_or("signal source").to_string();
            if let Err(payload) = t.join() {
                let msg = crate::threads::panic_message(&*payload);
                log::error!(target: LOG_TARGET, "{name}: thread panicked: {msg}");
                self.counters.thread_panicked.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicked_source_thread_is_reported_on_stop() {
        let counters = Arc::new(SourceCounters::default());
        let h = SourceHandle::start("signals-test", counters.clone(), None, |_| {
            panic!("sink failed")
        })
        .unwrap();
        let c = h.stop();
        assert!(c.thread_panicked);
        assert!(counters.snapshot().thread_panicked);

        let h = SourceHandle::start("signals-test", Arc::default(), None, |stop| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
        .unwrap();
        assert!(!h.stop().thread_panicked);
    }
}
