//! Live Binance market data: combined streams over the WebSocket client, parsed with
//! the simd-json parser, depth kept in sync through [`DepthSync`] with REST snapshots.
//!
//! Depth continuity is checked by update ids, so a reconnect that lost nothing needs
//! no snapshot; a gap (ids missing, after a reconnect or not) fetches a fresh REST
//! snapshot for that instrument (at most one request per instrument per second), and
//! the engine sees the instrument as not ready until the snapshot is applied.

use crate::binance::{MsgKind, Parser};
use crate::sync::{DepthSync, Pushed};
use crate::ws::{http_get, ConnEvent, MessageHandler, WsClient, WsConfig, WsError};
use kestrel_engine::config::{VenueKind, VenueSpec};
use kestrel_engine::{Event, InstrumentId};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One event ready for the ring: event time (ns since the epoch), venue time, the
/// monotonic receive stamp, and the event.
pub type LiveEvent = (u64, u64, u64, Event);

/// Counters of a live session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Frames received.
    pub frames: u64,
    /// Frames that did not parse (reported, skipped).
    pub malformed: u64,
    /// Depth gaps detected.
    pub gaps: u64,
    /// REST snapshots applied.
    pub snapshots: u64,
    /// Snapshot requests that failed.
    pub snapshot_errors: u64,
    /// Connection events (connects, disconnects).
    pub reconnects: u64,
}

struct Venue {
    kind: VenueKind,
    rest: String,
    /// (instrument, symbol) streamed on this venue's connection.
    symbols: Vec<(InstrumentId, String)>,
    snapshot_limit: u32,
}

struct Handler<'a> {
    parser: &'a mut Parser,
    sync: &'a mut DepthSync,
    out: &'a mut VecDeque<LiveEvent>,
    scratch: &'a mut Vec<Event>,
    staged: &'a mut VecDeque<(u64, u64, Event)>,
    clock: Clock,
    stats: &'a mut LiveStats,
    need_snapshot: &'a mut Vec<InstrumentId>,
    errors: &'a mut Vec<String>,
}

/// Maps monotonic stamps to event time: wall time at start plus elapsed monotonic time,
/// so event time never steps back when the host clock does.
#[derive(Clone, Copy)]
struct Clock {
    /// Wall time (ns since the epoch) when `mono` read 0.
    unix0: u64,
    mono: fn() -> u64,
}

impl Clock {
    fn event_ts(&self, mono_ns: u64) -> u64 {
        self.unix0 + mono_ns
    }
    fn mono_ns(&self) -> u64 {
        (self.mono)()
    }
}

impl MessageHandler for Handler<'_> {
    fn on_message(&mut self, _conn: usize, recv_ns: u64, payload: &mut [u8]) {
        self.stats.frames += 1;
        self.scratch.clear();
        match self.parser.parse(payload, self.scratch) {
            Ok(p) => {
                if matches!(p.kind, MsgKind::Ignored) {
                    return;
                }
                let ts = self.clock.event_ts(recv_ns);
                for e in self.scratch.iter() {
                    let Event::Depth(d) = e else {
                        // Depth sync forwards everything else as it is: straight to the
                        // ready queue, without a stop in `staged`, a ticker's own bytes
                        // only (`Event::copy_into`).
                        self.out.push_back((ts, p.venue_ts, recv_ns, Event::None));
                        if let Some(last) = self.out.back_mut() {
                            e.copy_into(&mut last.3);
                        }
                        continue;
                    };
                    let instrument = d.instrument;
                    // A gap, or diffs with no snapshot yet (at start), ask for a snapshot:
                    // fetched after the first diffs are buffered, as Binance documents.
                    let pushed = self
                        .sync
                        .push(ts, p.venue_ts, Event::Depth(*d), self.staged);
                    if pushed == Pushed::Gap {
                        self.stats.gaps += 1;
                    }
                    if matches!(pushed, Pushed::Gap | Pushed::Buffered)
                        && !self.need_snapshot.contains(&instrument)
                    {
                        self.need_snapshot.push(instrument);
                    }
                    for (ts, venue_ts, e) in self.staged.drain(..) {
                        self.out.push_back((ts, venue_ts, recv_ns, e));
                    }
                }
            }
            Err(e) => {
                self.stats.malformed += 1;
                if self.errors.len() < 64 {
                    self.errors.push(format!("malformed frame: {e}"));
                }
            }
        }
    }

    fn on_event(&mut self, _conn: usize, ev: ConnEvent) {
        match ev {
            ConnEvent::Connected | ConnEvent::Disconnected { .. } => self.stats.reconnects += 1,
            ConnEvent::Malformed { reason } => {
                self.stats.malformed += 1;
                if self.errors.len() < 64 {
                    self.errors.push(format!("malformed frame: {reason}"));
                }
            }
            ConnEvent::Reconnecting { .. } | ConnEvent::Subscribed => {}
        }
    }
}

/// Live market data of every `[[venues]]` entry, one combined-stream connection each.
pub struct LiveFeed {
    client: WsClient,
    venues: Vec<Venue>,
    parser: Parser,
    sync: DepthSync,
    ready: VecDeque<LiveEvent>,
    /// The front of `ready` was handed out by the last `next_event`: popped by the next.
    taken: bool,
    scratch: Vec<Event>,
    staged: VecDeque<(u64, u64, Event)>,
    clock: Clock,
    need_snapshot: Vec<InstrumentId>,
    last_request: Vec<(InstrumentId, Instant)>,
    /// Counters.
    pub stats: LiveStats,
    /// Problems to report (malformed frames, failed snapshots); drained by the owner.
    pub errors: Vec<String>,
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

impl LiveFeed {
    /// Connects to every venue: `<ws_url>?streams=<symbol>@<stream>/...` (Binance
    /// combined streams). `symbols` maps configured symbols to instrument ids.
    /// `mono_ns` is the process's monotonic clock (receive stamps share it with the
    /// rest of the pipeline so latency stages line up).
    pub fn new(
        venues: &[VenueSpec],
        symbols: &[(String, InstrumentId)],
        seed: u64,
        mono_ns: fn() -> u64,
    ) -> Result<LiveFeed, WsError> {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self::with_epoch(
            venues,
            symbols,
            seed,
            mono_ns,
            unix_now.saturating_sub(mono_ns()),
        )
    }

    /// [`new`](Self::new) with the event-time origin given: event time is
    /// `epoch_ns + mono_ns()`, the wall clock read once by the caller, so every
    /// thread stamping event time shares one origin and a later host clock jump
    /// changes nothing.
    pub fn with_epoch(
        venues: &[VenueSpec],
        symbols: &[(String, InstrumentId)],
        seed: u64,
        mono_ns: fn() -> u64,
        epoch_ns: u64,
    ) -> Result<LiveFeed, WsError> {
        let mut client = WsClient::new(WsConfig {
            seed,
            ..WsConfig::default()
        })?;
        let mut vs = Vec::new();
        for v in venues {
            let mut streams = Vec::new();
            let mut syms = Vec::new();
            for s in &v.symbols {
                let Some((_, id)) = symbols.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) else {
                    continue;
                };
                syms.push((*id, s.to_ascii_uppercase()));
                for st in &v.streams {
                    streams.push(format!("{}@{st}", s.to_ascii_lowercase()));
                }
            }
            let sep = if v.ws_url.contains('?') { '&' } else { '?' };
            client.add(
                &format!("{}{sep}streams={}", v.ws_url, streams.join("/")),
                None,
            );
            vs.push(Venue {
                kind: v.kind,
                rest: v.rest_url.clone(),
                symbols: syms,
                snapshot_limit: v.snapshot_limit,
            });
        }
        let unix0 = epoch_ns;
        Ok(LiveFeed {
            client,
            venues: vs,
            parser: Parser::new(symbols),
            sync: DepthSync::new(),
            ready: VecDeque::with_capacity(4096),
            taken: false,
            scratch: Vec::with_capacity(256),
            staged: VecDeque::with_capacity(256),
            clock: Clock {
                unix0,
                mono: mono_ns,
            },
            need_snapshot: Vec::new(),
            last_request: Vec::new(),
            stats: LiveStats::default(),
            errors: Vec::new(),
        })
    }

    /// The feed's clock of event time (ns since the epoch, on its monotonic clock) as
    /// a value of its own, which can be read while an event the feed lent is held.
    pub fn event_clock(&self) -> impl Fn() -> u64 + Copy {
        let clock = self.clock;
        move || clock.event_ts(clock.mono_ns())
    }

    /// The next event, waiting at most `timeout`; `None` if nothing arrived.
    ///
    /// The event is lent where it lies in the feed's queue (it is dropped by the next
    /// call), so a caller copies it once, into its ring slot, instead of the 448-byte
    /// tuple being moved out of the queue and through every caller on the way.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<&LiveEvent>, WsError> {
        if std::mem::take(&mut self.taken) {
            self.ready.pop_front();
        }
        if self.ready.is_empty() {
            self.fetch_snapshots();
        }
        if self.ready.is_empty() {
            let clock = self.clock;
            let mut h = Handler {
                parser: &mut self.parser,
                sync: &mut self.sync,
                out: &mut self.ready,
                scratch: &mut self.scratch,
                staged: &mut self.staged,
                clock,
                stats: &mut self.stats,
                need_snapshot: &mut self.need_snapshot,
                errors: &mut self.errors,
            };
            self.client.poll_once(timeout, &mut h, || clock.mono_ns())?;
        }
        self.taken = !self.ready.is_empty();
        Ok(self.ready.front())
    }

    /// Fetches REST snapshots for instruments waiting for one (rate-limited to one
    /// request per instrument per second).
    fn fetch_snapshots(&mut self) {
        let mut i = 0;
        while i < self.need_snapshot.len() {
            let inst = self.need_snapshot[i];
            let recent = self
                .last_request
                .iter()
                .any(|(id, t)| *id == inst && t.elapsed() < Duration::from_secs(1));
            if recent {
                i += 1;
                continue;
            }
            self.last_request.retain(|(id, _)| *id != inst);
            self.last_request.push((inst, Instant::now()));
            let Some(v) = self
                .venues
                .iter()
                .find(|v| v.symbols.iter().any(|(id, _)| *id == inst))
            else {
                self.need_snapshot.remove(i);
                continue;
            };
            let symbol = v
                .symbols
                .iter()
                .find(|(id, _)| *id == inst)
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            let path = match v.kind {
                VenueKind::BinanceSpot => {
                    format!("/api/v3/depth?symbol={symbol}&limit={}", v.snapshot_limit)
                }
                VenueKind::BinanceUsdm => {
                    format!("/fapi/v1/depth?symbol={symbol}&limit={}", v.snapshot_limit)
                }
            };
            let recv = self.clock.mono_ns();
            match http_get(&host_of(&v.rest), &path, Duration::from_secs(5)) {
                Ok(mut body) => {
                    self.scratch.clear();
                    match self
                        .parser
                        .parse_snapshot(&mut body, inst, &mut self.scratch)
                    {
                        Ok(p) => {
                            let ts = self.clock.event_ts(recv);
                            for e in self.scratch.drain(..) {
                                self.sync.push(ts, p.venue_ts, e, &mut self.staged);
                            }
                            for (ts, venue_ts, e) in self.staged.drain(..) {
                                self.ready.push_back((ts, venue_ts, recv, e));
                            }
                            self.stats.snapshots += 1;
                            self.need_snapshot.remove(i);
                            continue;
                        }
                        Err(e) => {
                            self.stats.snapshot_errors += 1;
                            self.errors
                                .push(format!("{symbol}: bad depth snapshot: {e}"));
                        }
                    }
                }
                Err(e) => {
                    self.stats.snapshot_errors += 1;
                    self.errors
                        .push(format!("{symbol}: depth snapshot request failed: {e}"));
                }
            }
            i += 1;
        }
    }
}
