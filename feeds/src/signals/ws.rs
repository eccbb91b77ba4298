//! WebSocket signal source: one [`WsClient`] connection (reconnecting with jittered
//! exponential backoff), each text or binary frame one signal object or an array of
//! them, each signal carrying the shared secret in its `secret` field.
//!
//! The receive stamp is the client's: taken right after the socket read that completed
//! the frame, before parsing.

use super::{
    Authenticator, ReceivedSignal, SignalParser, SourceCounters, SourceHandle, LOG_TARGET,
};
use crate::ws::{ConnEvent, MessageHandler, WsClient, WsConfig};
use kestrel_engine::config::SignalSourceConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A WebSocket signal source (see the module docs).
#[derive(Debug)]
pub struct WsSignalSource {
    url: String,
    parser: SignalParser,
    auth: Authenticator,
    clock: fn() -> u64,
    ws: WsConfig,
    counters: Arc<SourceCounters>,
}

impl WsSignalSource {
    /// A source for `url` (`ws://host:port/path`); frames larger than
    /// `cfg.max_body_bytes` drop the connection.
    pub fn new(
        url: &str,
        cfg: &SignalSourceConfig,
        parser: SignalParser,
        auth: Authenticator,
        clock: fn() -> u64,
    ) -> WsSignalSource {
        let ws = WsConfig {
            max_message_size: cfg.max_body_bytes,
            read_chunk: cfg.max_body_bytes.clamp(4096, 16 << 10),
            ..WsConfig::default()
        };
        WsSignalSource {
            url: url.to_string(),
            parser,
            auth,
            clock,
            ws,
            counters: Arc::new(SourceCounters::default()),
        }
    }

    /// The source's counters.
    pub fn counters(&self) -> super::CounterSnapshot {
        self.counters.snapshot()
    }

    /// Replaces the WebSocket client settings (timeouts, backoff).
    pub fn with_ws_config(mut self, ws: WsConfig) -> WsSignalSource {
        self.ws = ws;
        self
    }

    /// Connects and forwards signals until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool, sink: &mut impl FnMut(ReceivedSignal)) {
        let mut client = match WsClient::new(self.ws.clone()) {
            Ok(c) => c,
            Err(e) => {
                SourceCounters::bump(&self.counters.transport_errors);
                log::error!(target: LOG_TARGET, "websocket {}: cannot start: {e}", self.url);
                return;
            }
        };
        client.add(&self.url, None);
        let clock = self.clock;
        let mut handler = Handler {
            url: &self.url,
            parser: &self.parser,
            auth: &self.auth,
            counters: &self.counters,
            sink,
        };
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = client.poll_once(Duration::from_millis(50), &mut handler, clock) {
                SourceCounters::bump(&self.counters.transport_errors);
                log::error!(target: LOG_TARGET, "websocket {}: poll failed: {e}", self.url);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Starts [`run`](Self::run) on a thread named `signals-ws`.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn spawn<F>(mut self, mut sink: F) -> std::io::Result<SourceHandle>
    where
        F: FnMut(ReceivedSignal) + Send + 'static,
    {
        let counters = self.counters.clone();
        SourceHandle::start("signals-ws", counters, None, move |stop| {
            self.run(stop, &mut sink)
        })
    }
}

struct Handler<'a, F> {
    url: &'a str,
    parser: &'a SignalParser,
    auth: &'a Authenticator,
    counters: &'a SourceCounters,
    sink: &'a mut F,
}

impl<F: FnMut(ReceivedSignal)> Handler<'_, F> {
    fn refuse_malformed(&self, e: &dyn std::fmt::Display) {
        SourceCounters::bump(&self.counters.rejected_malformed);
        log::warn!(target: LOG_TARGET, "websocket {}: refused message: {e}", self.url);
    }

    fn deliver(&mut self, p: super::ParsedSignal, recv_ns: u64) {
        if let Err(e) = self
            .auth
            .check_shared(p.secret.as_ref().map(|s| s.expose()), "secret field")
        {
            SourceCounters::bump(&self.counters.rejected_auth);
            log::warn!(target: LOG_TARGET, "websocket {}: refused signal {:?}: {e}", self.url, p.id_text);
            return;
        }
        SourceCounters::bump(&self.counters.accepted);
        log::info!(
            target: LOG_TARGET,
            "websocket {}: signal {:?} {:?} {} i{} amount {}",
            self.url,
            p.id_text,
            p.signal.action,
            p.signal.side.as_str(),
            p.signal.instrument,
            p.signal.amount
        );
        (self.sink)(ReceivedSignal {
            signal: p.signal,
            recv_ns,
        });
    }
}

impl<F: FnMut(ReceivedSignal)> MessageHandler for Handler<'_, F> {
    fn on_message(&mut self, _conn: usize, recv_ns: u64, payload: &mut [u8]) {
        let is_list = payload
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'[');
        if is_list {
            match self.parser.parse_list(payload) {
                Ok(items) => {
                    for (_, item) in items {
                        match item {
                            Ok(p) => self.deliver(p, recv_ns),
                            Err(e) => self.refuse_malformed(&e),
                        }
                    }
                }
                Err(e) => self.refuse_malformed(&e),
            }
        } else {
            match self.parser.parse(payload) {
                Ok(p) => self.deliver(p, recv_ns),
                Err(e) => self.refuse_malformed(&e),
            }
        }
    }

    fn on_event(&mut self, _conn: usize, ev: ConnEvent) {
        match ev {
            ConnEvent::Connected => {
                log::info!(target: LOG_TARGET, "websocket {}: connected", self.url)
            }
            ConnEvent::Subscribed => {}
            ConnEvent::Disconnected { reason } => {
                SourceCounters::bump(&self.counters.transport_errors);
                log::warn!(target: LOG_TARGET, "websocket {}: disconnected: {reason}", self.url);
            }
            ConnEvent::Reconnecting { attempt, delay_ms } => log::info!(
                target: LOG_TARGET,
                "websocket {}: reconnect attempt {attempt} in {delay_ms} ms",
                self.url
            ),
            ConnEvent::Malformed { reason } => self.refuse_malformed(&reason),
        }
    }
}
