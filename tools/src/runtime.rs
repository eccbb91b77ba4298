//! The threaded pipeline: feed → input ring → (engine ∥ journal ∥ gateway) →
//! output ring → (gateway ∥ journal). Rings are `disruptor` rings read through
//! event pollers so each thread owns its loop, wait strategy and core.

use crate::clock::{mono_ns, unix_ns};
use crate::faults::{Pressure, PressureCounts, JOURNAL_FAILED};
use crate::timers;
use anyhow::{anyhow, Context, Result};
use crossbeam_utils::CachePadded;
use disruptor::{build_multi_producer, build_single_producer, BusySpin, Polling, Producer};
use kestrel_engine::config::{Config, FeedKind, GatewayKind, WaitStrategy};
use kestrel_engine::executors::OutputSink;
use kestrel_engine::ring::NextSlot;
use kestrel_engine::*;
use kestrel_feeds::live::LiveFeed;
use kestrel_feeds::signals::{CounterSnapshot, SignalParser, SignalSource};
use kestrel_feeds::{DepthSync, RecordedFeed, SyntheticFeed};
use kestrel_gateways::SimVenue;
use kestrel_journal::{JournalOptions, JournalWriter, LatencyRecord, Meta};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Set by Ctrl-C: the feed stops, a Stop command is published, everything drains.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Slot of the output ring: the output and the stamps of the input that caused it
/// (96 bytes), aligned to 128 so that a slot the engine writes never shares a cache
/// line with the one the gateway is reading (BENCHMARKS.md, "The gateway waits for
/// the engine").
#[derive(Clone, Debug, Default)]
#[repr(align(128))]
pub struct OutSlot {
    /// The output.
    pub output: Output,
    /// Receive stamp of the causing input.
    pub recv_ns: u64,
    /// Publish stamp of the causing input.
    pub publish_ns: u64,
    /// Engine started applying the input.
    pub engine_start_ns: u64,
    /// Engine handed this order to the ring (outputs are published as the engine
    /// pushes them, not when it finishes the input). Stamped for places, the orders
    /// latency records are kept for; other outputs carry `engine_start_ns`, so the
    /// engine reads no clock for them.
    pub engine_end_ns: u64,
}

/// `mono_ns()` for a place, the only output whose latency is kept; `otherwise` for
/// any other output, without reading the clock (a tick's cancels go out before its
/// places, so their stamps would delay them).
pub(crate) fn place_stamp(action: &Action, otherwise: u64) -> u64 {
    match action {
        Action::Place(_) => mono_ns(),
        _ => otherwise,
    }
}

/// Times in a row a gateway's venue side may wait for the engine (see [`EngineWatch`]):
/// a bound, so a long burst of outputs or a long input cannot keep the venue's socket
/// or reports waiting for more than about this many polls.
const MAX_HOLD: u32 = 1024;

/// A gateway thread's view of how far the engine has got. While the engine is still
/// applying an input the gateway has read from the input ring, or whose outputs it
/// has read, more orders may follow: the gateway reads them first and holds its
/// venue side (market data for the simulated venue, the connector's socket,
/// publishing reports), which the engine could not use before it finishes the input
/// anyway. A re-quoting tick's places then no longer wait behind the reports its
/// ticker or its cancels released.
///
/// Only with `wait = "busy-spin"`, where each thread has a core of its own: with
/// `yield` or `block` the threads may share cores, the engine may be descheduled
/// rather than busy, and waiting for it would only delay the venue side.
pub(crate) struct EngineWatch {
    applied: Arc<CachePadded<AtomicU64>>,
    /// Whether the venue side ever waits (busy-spin).
    enabled: bool,
    /// Last input read from the input ring, numbered as the engine numbers them.
    seen: u64,
    /// Cause of the last output read.
    cause: u64,
    /// Passes in a row the venue side has waited.
    held: u32,
}

impl EngineWatch {
    /// Watches the engine's `applied` counter; inputs are numbered after `first_seq`.
    /// With a wait strategy other than busy-spin it never holds.
    pub(crate) fn new(
        applied: Arc<CachePadded<AtomicU64>>,
        first_seq: u64,
        wait: WaitStrategy,
    ) -> EngineWatch {
        EngineWatch {
            applied,
            enabled: wait == WaitStrategy::BusySpin,
            seen: first_seq,
            cause: first_seq,
            held: 0,
        }
    }

    /// The last input the engine has applied. Read it before polling the outputs: every
    /// output of the inputs it counts is in the ring by then, so the poll sees them.
    pub(crate) fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// An input was read from the input ring.
    pub(crate) fn input(&mut self) {
        self.seen += 1;
    }

    /// An output of input `cause` was read from the output ring.
    pub(crate) fn output(&mut self, cause: u64) {
        self.cause = cause;
    }

    /// Whether the venue side waits this pass, given what [`Self::applied`] read
    /// before the outputs were polled: outputs were just read (more may follow) or
    /// the engine had not applied everything seen. After [`MAX_HOLD`] waits in a row
    /// it no longer waits until the engine has caught up (an engine that long on one
    /// input gains nothing from it). Waiting with no outputs read, it spins once
    /// (busy-spin's idle).
    pub(crate) fn hold(&mut self, applied: u64, read_outputs: bool) -> bool {
        let behind = read_outputs || applied < self.seen.max(self.cause);
        if !self.enabled || !behind {
            self.held = 0;
            return false;
        }
        if self.held >= MAX_HOLD {
            return false;
        }
        self.held += 1;
        if !read_outputs {
            std::hint::spin_loop();
        }
        true
    }
}

/// The engine thread's [`OutputSink`]: publishes each output to the output ring the
/// moment the engine pushes it, so the gateway sends a re-quoting tick's cancels while
/// the engine still works out its places.
struct RingSink<P> {
    producer: P,
    pressure: Arc<Pressure>,
    wait: WaitStrategy,
    recv_ns: u64,
    publish_ns: u64,
    start_ns: u64,
}

impl<P: Producer<OutSlot> + Send> OutputSink for RingSink<P> {
    fn input(&mut self, header: &Header) {
        self.recv_ns = header.recv_ns;
        self.publish_ns = header.publish_ns;
        self.start_ns = mono_ns();
    }

    fn output(&mut self, output: &Output) {
        let (recv_ns, publish_ns, start_ns) = (self.recv_ns, self.publish_ns, self.start_ns);
        let end = place_stamp(&output.action, start_ns);
        crate::faults::publish(
            &mut self.producer,
            &self.pressure,
            self.wait,
            |s: &mut OutSlot| {
                s.output.clone_from(output);
                s.recv_ns = recv_ns;
                s.publish_ns = publish_ns;
                s.engine_start_ns = start_ns;
                s.engine_end_ns = end;
            },
        );
    }
}

impl OutSlot {
    /// The latency record of this output: read by the gateway at `read`, its bytes
    /// handed to the venue at `sent`.
    pub fn latency(&self, read: u64, sent: u64) -> LatencyRecord {
        LatencyRecord {
            output_seq: self.output.seq,
            cause_seq: self.output.cause,
            recv_ns: self.recv_ns,
            publish_ns: self.publish_ns,
            engine_start_ns: self.engine_start_ns,
            engine_end_ns: self.engine_end_ns,
            gateway_read_ns: read,
            sent_ns: sent,
        }
    }
}

/// What the feed thread reports: events published, malformed records skipped, each
/// signal source's final counters, and live events whose time was clamped.
type FeedResult = (u64, u64, Vec<(String, CounterSnapshot)>, u64);

/// What a run did.
#[derive(Debug)]
pub struct RunSummary {
    /// Journal directory.
    pub journal: PathBuf,
    /// Inputs journaled.
    pub inputs: u64,
    /// Outputs journaled.
    pub outputs: u64,
    /// Orders placed.
    pub orders: u64,
    /// Fill reports.
    pub fills: u64,
    /// Rejects.
    pub rejects: u64,
    /// Alerts.
    pub alerts: u64,
    /// Per instrument: symbol, net position, realized − fees + unrealized pnl, fees, volume.
    pub instruments: Vec<(String, Dec, Dec, Dec, Dec)>,
    /// Balances at the end: asset, total.
    pub balances: Vec<(String, Dec)>,
    /// Executors closed by close type.
    pub close_types: [u64; 11],
    /// Wall time.
    pub elapsed: Duration,
    /// Latency records written.
    pub latency_records: u64,
    /// Malformed market-data records skipped (each reported on stderr, first 10).
    pub skipped: u64,
    /// Signal sources by controller id, with their final counters.
    pub signal_sources: Vec<(String, CounterSnapshot)>,
    /// Status of the copy-trading controllers (empty without any).
    pub copy_trading: String,
    /// Back-pressure of the input ring (and the gateway's report backlog).
    pub input_ring: PressureCounts,
    /// Back-pressure of the output ring.
    pub output_ring: PressureCounts,
    /// Live events stamped earlier than the one before (buffered depth diffs released
    /// after their snapshot), published at the previous event time instead.
    pub clamped: u64,
}

/// The header of an input published now: event time `ts`, received at `recv_ns`
/// (monotonic), the venue's own time `venue_ts` (0: none). Consumers number inputs, so
/// `seq` stays 0 in the ring.
fn stamped(source: kestrel_engine::Source, ts: u64, recv_ns: u64, venue_ts: u64) -> Header {
    Header {
        seq: 0,
        source,
        ts,
        recv_ns,
        publish_ns: mono_ns(),
        venue_ts,
    }
}

/// Latency records are handed from the gateway to the journal thread in batches of
/// at least this many.
const LATENCY_BATCH: usize = 256;

/// The gateway's end of the latency hand-off: full batches go to the journal thread
/// (`full`), which empties them and sends the vectors back (`spare`), so the gateway
/// reuses them rather than allocating a new one per batch.
pub(crate) struct LatencyLink {
    /// Full batches, to the journal thread.
    pub full: crossbeam_channel::Sender<Vec<LatencyRecord>>,
    /// Emptied batches, back from the journal thread.
    pub spare: crossbeam_channel::Receiver<Vec<LatencyRecord>>,
}

impl LatencyLink {
    /// Hands `lat` to the journal thread once it holds a batch, replacing it with an
    /// emptied one when the journal has sent one back. When the journal's queue is
    /// full the batch stays with the gateway and grows until the next try: records
    /// are never dropped.
    pub(crate) fn hand(&self, lat: &mut Vec<LatencyRecord>) {
        if lat.len() < LATENCY_BATCH {
            return;
        }
        match self.full.try_send(std::mem::take(lat)) {
            Ok(()) => {
                *lat = self
                    .spare
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(2 * LATENCY_BATCH));
            }
            Err(crossbeam_channel::TrySendError::Full(back))
            | Err(crossbeam_channel::TrySendError::Disconnected(back)) => *lat = back,
        }
    }

    /// Sends what is left when the gateway stops.
    pub(crate) fn finish(self, lat: Vec<LatencyRecord>) {
        if !lat.is_empty() {
            let _ = self.full.send(lat);
        }
    }
}

/// The journal thread's end of the latency hand-off: moves every batch waiting in
/// `full` into `lat` and sends the emptied vectors back to the gateway.
fn take_latency(
    full: &crossbeam_channel::Receiver<Vec<LatencyRecord>>,
    spare: &crossbeam_channel::Sender<Vec<LatencyRecord>>,
    lat: &mut Vec<LatencyRecord>,
) {
    while let Ok(mut batch) = full.try_recv() {
        lat.append(&mut batch);
        // A full spare queue means the gateway has enough: this one is dropped here.
        let _ = spare.try_send(batch);
    }
}

/// Waits once, as the wait strategy says (`spins` counts idle rounds in a row).
pub(crate) fn idle(wait: WaitStrategy, spins: &mut u32) {
    match wait {
        WaitStrategy::BusySpin => std::hint::spin_loop(),
        WaitStrategy::Yield => thread::yield_now(),
        WaitStrategy::Block => {
            *spins += 1;
            if *spins < 100 {
                thread::yield_now();
            } else {
                thread::sleep(Duration::from_micros(50));
            }
        }
    }
}

fn pin(cores: &[usize], i: usize) {
    if let Some(&c) = cores.get(i) {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
            eprintln!("warning: could not pin thread {i} to core {c}");
        }
    }
}

/// Publishes a `Timer` input for every timer boundary up to `until` (event time),
/// advancing `next` by `step`; after a jump of more than [`timers::MAX_AT_ONCE`]
/// periods only the latest are published ([`timers::publish_due`]).
fn publish_timers(
    producer: &mut impl Producer<Input>,
    pressure: &Pressure,
    wait: WaitStrategy,
    next: &mut u64,
    until: u64,
    step: u64,
    recv_ns: u64,
) {
    timers::publish_due(next, until, step, |ts| {
        crate::faults::publish(producer, pressure, wait, |slot: &mut Input| {
            slot.header = stamped(kestrel_engine::Source::Timer, ts, recv_ns, 0);
            slot.event = Event::Timer(0);
        });
    });
}

/// Resolves the journal directory: config, else `kestrel-journal/session-<id>-<n>`.
pub fn journal_dir(cfg: &Config, explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = &cfg.session.journal_dir {
        return PathBuf::from(p);
    }
    let base = PathBuf::from("kestrel-journal");
    (1..)
        .map(|n| base.join(format!("session-{}-{n}", cfg.session.id)))
        .find(|p| !p.exists())
        .unwrap_or(base)
}

/// What the feed produced; the event is lent where it lies in the source's queue (the
/// feed thread copies it once, into its ring slot).
enum Next<'a> {
    /// (event ts, venue ts, monotonic receive stamp, event).
    Event(u64, u64, u64, &'a Event),
    /// Nothing yet; event time now (live feeds).
    Idle(u64),
}

/// Where market data comes from.
#[allow(clippy::large_enum_variant)] // one per session, never moved on a hot path
enum Origin {
    Synthetic(SyntheticFeed),
    Recorded(RecordedFeed),
    Live(Box<LiveFeed>),
}

/// Produces market-data events in event-time order, depth kept in sync (snapshot,
/// then contiguous diffs).
struct Source {
    origin: Origin,
    sync: DepthSync,
    ready: std::collections::VecDeque<(u64, u64, Event)>,
    /// The front of `ready` was lent by the last `next`: popped by the next call.
    taken: bool,
    /// Live feeds: the last event time published, and how many events were clamped to it.
    last_live_ts: u64,
    clamped: u64,
    /// Live feeds: how long one poll of the sockets may wait. Zero with busy-spin
    /// threads: the feed thread spins on its sockets instead of sleeping in the kernel
    /// until data arrives (a wake-up costs microseconds before the receive stamp).
    live_wait: Duration,
}

impl Source {
    fn open(cfg: &Config) -> Result<Source> {
        let origin = match cfg.feed.kind {
            FeedKind::Live => {
                let symbols: Vec<(String, InstrumentId)> = cfg
                    .instruments
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.symbol.clone(), i as InstrumentId))
                    .collect();
                let feed = LiveFeed::with_epoch(
                    &cfg.venues,
                    &symbols,
                    cfg.session.seed,
                    mono_ns,
                    crate::clock::epoch_ns(),
                )
                .map_err(|e| anyhow!("cannot start the live feed: {e}"))?;
                Origin::Live(Box::new(feed))
            }
            FeedKind::Synthetic => {
                let symbol = cfg
                    .feed
                    .symbol
                    .clone()
                    .unwrap_or_else(|| cfg.instruments[0].symbol.clone());
                let id = cfg
                    .instruments
                    .iter()
                    .position(|i| i.symbol == symbol)
                    .unwrap_or(0);
                Origin::Synthetic(SyntheticFeed::new(
                    &cfg.feed,
                    cfg.session.seed,
                    id as InstrumentId,
                    &cfg.instruments[id],
                ))
            }
            FeedKind::Recorded => {
                let path = cfg
                    .feed
                    .data
                    .as_deref()
                    .ok_or_else(|| anyhow!("feed.data is not set"))?;
                let symbols: Vec<(String, InstrumentId)> = cfg
                    .instruments
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.symbol.clone(), i as InstrumentId))
                    .collect();
                let feed = RecordedFeed::open(Path::new(path), &symbols)
                    .with_context(|| format!("cannot read market data {path}"))?;
                Origin::Recorded(feed)
            }
        };
        Ok(Source {
            origin,
            sync: DepthSync::new(),
            ready: std::collections::VecDeque::with_capacity(1024),
            taken: false,
            last_live_ts: 0,
            clamped: 0,
            live_wait: match cfg.runtime.wait {
                WaitStrategy::BusySpin => Duration::ZERO,
                WaitStrategy::Yield | WaitStrategy::Block => Duration::from_millis(50),
            },
        })
    }

    /// The next event as (event ts, venue ts, receive stamp, event); `Idle(now)` when a
    /// live feed had nothing within its poll interval; `None` at the end of the data.
    fn next(&mut self) -> Option<Result<Next<'_>>> {
        if std::mem::take(&mut self.taken) {
            self.ready.pop_front();
        }
        if matches!(self.origin, Origin::Live(_)) {
            return Some(self.next_live());
        }
        loop {
            if !self.ready.is_empty() {
                self.taken = true;
                let (ts, v, e) = self.ready.front()?;
                return Some(Ok(Next::Event(*ts, *v, mono_ns(), e)));
            }
            let (ts, venue_ts, event) = match &mut self.origin {
                Origin::Synthetic(f) => f.next_event().map(|(ts, e)| (ts, 0, e))?,
                Origin::Recorded(f) => match f.next_event()? {
                    Ok(v) => v,
                    Err(e) => return Some(Err(anyhow!("{e}"))),
                },
                Origin::Live(_) => return None, // read by `next_live`, above
            };
            self.sync.push(ts, venue_ts, event, &mut self.ready);
        }
    }

    /// [`next`](Self::next) of a live feed, which keeps its own queue and depth sync.
    fn next_live(&mut self) -> Result<Next<'_>> {
        let Origin::Live(f) = &mut self.origin else {
            return Err(anyhow!("not a live feed"));
        };
        for e in f.errors.drain(..) {
            eprintln!("warning: {e}");
        }
        let now_ts = f.event_clock();
        match f.next_event(self.live_wait) {
            Ok(Some(&(ts, v, recv, ref e))) => {
                // Event time never goes back (buffered diffs released after a later
                // snapshot carry their earlier receive time).
                if ts < self.last_live_ts {
                    self.clamped += 1;
                }
                self.last_live_ts = self.last_live_ts.max(ts);
                Ok(Next::Event(self.last_live_ts, v, recv, e))
            }
            Ok(None) => Ok(Next::Idle(now_ts())),
            Err(e) => Err(anyhow!("live feed: {e}")),
        }
    }
}

/// Runs a session through the full threaded pipeline and journals it: paper trading
/// against the simulated venue, or real orders when `venue.kind = "binance"`.
/// `preload` commands (e.g. positions carried over from an earlier session) are
/// published right after the session start, so they are journaled like any input.
///
/// When `journal` already holds a journal the session resumes it (see
/// [`crate::resume`]): the engine is rebuilt by replay, the gateway reconciles the
/// working orders with the venue (the differences are journaled `Venue` inputs after
/// a `Session` input with `Event::None` that marks the resume), and the sequences
/// continue; `preload` is then ignored.
pub fn run(
    cfg: Config,
    journal: PathBuf,
    duration: Option<Duration>,
    preload: Vec<Command>,
) -> Result<RunSummary> {
    let started = Instant::now();
    crate::clock::init_faults()?;
    // Live event time's origin: the wall clock, read once, before any thread starts.
    crate::clock::epoch_ns();
    let config_text = cfg.to_toml();
    let start = SessionStart {
        session_id: cfg.session.id,
        seed: cfg.session.seed,
        config: config_text.clone(),
    };
    let opts = JournalOptions {
        fsync: cfg.runtime.fsync,
        max_mib: cfg.runtime.journal_max_mib,
    };
    let resumed = if crate::resume::exists(&journal) {
        Some(crate::resume::open(&journal, &cfg, &opts)?)
    } else {
        None
    };
    // A real venue is connected (or refused) before anything new is journaled.
    let mut binance = match cfg.venue.kind {
        GatewayKind::Binance => Some(crate::gateway_binance::connect(&cfg)?),
        GatewayKind::Sim => None,
    };
    // Reports for the resumed engine's working orders: (ts, report).
    let mut reconciled: Vec<ExecReport> = Vec::new();
    if let Some(r) = resumed.as_ref().filter(|r| r.inputs > 0) {
        match binance.as_mut() {
            Some(gw) => reconciled = crate::gateway_binance::resume(gw, &r.live)?,
            // The simulated venue restarts empty: every working order is gone.
            None => {
                reconciled = r
                    .live
                    .iter()
                    .map(|(p, venue_id, _, filled)| ExecReport {
                        cid: p.cid,
                        instrument: p.instrument,
                        kind: ExecKind::Expired,
                        venue_order_id: *venue_id,
                        cum_qty: *filled,
                        ..ExecReport::default()
                    })
                    .collect()
            }
        }
        eprintln!(
            "kestrel run: resumed {} after input {} ({} missing outputs journaled, {} \
             working orders reconciled, {} reports)",
            journal.display(),
            r.inputs,
            r.missing_outputs,
            r.live.len(),
            reconciled.len()
        );
    }
    let mut source = Source::open(&cfg)?;
    let meta = Meta {
        schema_version: SCHEMA_VERSION,
        session_id: cfg.session.id,
        seed: cfg.session.seed,
        config_toml: config_text,
        created_unix_ns: unix_ns(),
    };
    // Signal sources are built (secrets loaded, webhooks bound) before the journal
    // exists, so a bad source config fails the run cleanly.
    let mut signal_sources = Vec::new();
    for (_, src, ct) in cfg.signal_sources() {
        let parser = SignalParser::new(&cfg.instruments, src);
        let source = SignalSource::from_config(&ct.source, parser, mono_ns)
            .map_err(|e| anyhow!("controller {}: {e}", ct.id))?;
        signal_sources.push((ct.id.clone(), source));
    }
    let (engine, mut writer, first_seq) = match resumed {
        Some(r) => (r.engine, r.writer, r.inputs),
        None => (
            Engine::new(&start).map_err(|e| anyhow!("{e}"))?,
            JournalWriter::create(&journal, &meta, &opts)
                .with_context(|| format!("cannot create journal {}", journal.display()))?,
            0,
        ),
    };
    let journal_delay = crate::faults::journal_delay()?;
    let feed_panic_after = crate::faults::feed_panic_after()?;

    let rt = cfg.runtime.clone();
    let size = rt.ring_size;
    let wait = rt.wait;

    // Input ring: feed and gateway publish; engine, journal and gateway read.
    let builder = build_multi_producer(size, Input::default, BusySpin);
    let (mut engine_in, builder) = builder.new_event_poller();
    let (mut journal_in, builder) = builder.new_event_poller();
    let (mut gateway_in, builder) = builder.new_event_poller();
    let mut feed_producer = builder.build();
    let gateway_producer = feed_producer.clone();

    // Output ring: engine publishes; gateway and journal read.
    let obuilder = build_single_producer(size, OutSlot::default, BusySpin);
    let (mut gateway_out, obuilder) = obuilder.new_event_poller();
    let (mut journal_out, obuilder) = obuilder.new_event_poller();
    let out_producer = obuilder.build();

    // Last input seq committed; `JOURNAL_FAILED` is or-ed in when the journal fails.
    // Both counters are polled by other threads: each has a cache line of its own, so
    // polling one never takes a line its writer (or the other's) is about to write.
    let journaled = Arc::new(CachePadded::new(AtomicU64::new(first_seq)));
    // Last input seq the engine applied (its outputs are in the output ring by then).
    let applied = Arc::new(CachePadded::new(AtomicU64::new(first_seq)));
    let in_pressure = Arc::new(Pressure::default());
    let out_pressure = Arc::new(Pressure::default());
    // Set by the gateway on a fatal venue error: the feed stops the session.
    let halt = Arc::new(AtomicBool::new(false));
    let (lat_tx, lat_rx) = crossbeam_channel::bounded::<Vec<LatencyRecord>>(1024);
    let (spare_tx, spare_rx) = crossbeam_channel::bounded::<Vec<LatencyRecord>>(16);
    let lat_link = LatencyLink {
        full: lat_tx,
        spare: spare_rx,
    };

    // The inputs published before the feed starts, stamped now.
    let mut publish_now = |source: kestrel_engine::Source, ts: u64, event: Event| {
        crate::faults::publish(
            &mut feed_producer,
            &in_pressure,
            wait,
            |slot: &mut Input| {
                slot.header = stamped(source, ts, mono_ns(), 0);
                slot.event = event;
            },
        )
    };
    if first_seq > 0 {
        // Resumed: a marker, then what reconcile found, at the engine's time.
        let ts = engine.now;
        publish_now(kestrel_engine::Source::Session, ts, Event::None);
        for r in reconciled {
            publish_now(kestrel_engine::Source::Venue, ts, Event::Exec(r));
        }
    } else {
        // Session start is input 1; event time 0: engine time starts with the first
        // market event.
        publish_now(
            kestrel_engine::Source::Session,
            0,
            Event::SessionStart(start.clone()),
        );
    }
    let preload = if first_seq > 0 { Vec::new() } else { preload };
    for c in preload {
        publish_now(kestrel_engine::Source::Session, 0, Event::Command(c));
    }

    // Each source thread publishes its signals with its own producer; the feed thread
    // stops the sources before it publishes the final Stop.
    let mut signal_handles = Vec::new();
    for (id, source) in signal_sources {
        let mut producer = feed_producer.clone();
        let pressure = in_pressure.clone();
        let handle = source
            .spawn(move |r| {
                crate::faults::publish(&mut producer, &pressure, wait, |slot: &mut Input| {
                    // Event time 0: the signal acts at the engine's current time.
                    slot.header = stamped(kestrel_engine::Source::Signal, 0, r.recv_ns, 0);
                    slot.event = Event::Signal(r.signal);
                });
            })
            .with_context(|| format!("controller {id}: cannot start signal source"))?;
        if let Some(addr) = handle.local_addr() {
            eprintln!("controller {id}: webhook listening on http://{addr}/");
        }
        signal_handles.push((id, handle));
    }

    let cores = rt.pin_cores.clone();
    let timer_ns = rt.timer_interval_ms.saturating_mul(1_000_000);
    let rate = cfg.feed.rate_per_sec;
    let mut kill = crate::operator::KillWatch::new(&journal);
    let feed = {
        let cores = cores.clone();
        let halt = halt.clone();
        let pressure = in_pressure.clone();
        thread::Builder::new().name("kestrel-feed".into()).spawn(
            move || -> Result<FeedResult> {
                pin(&cores, 0);
                let mut n = 0u64;
                let mut skipped = 0u64;
                // A duration past `Instant`'s range has no deadline: run until stopped.
                let deadline = duration.and_then(|d| Instant::now().checked_add(d));
                let mut next_timer = 0u64;
                let t0 = Instant::now();
                let mut last_ts = 0u64;
                // A panic in the feed (a bug) still ends the session as its end would:
                // what was read is published, then `Stop`, so it is all journaled.
                let fed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    while !STOP.load(Ordering::Relaxed) && !halt.load(Ordering::Acquire) {
                        kill.publish_if_requested(&mut feed_producer, last_ts, mono_ns);
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            break;
                        }
                        let Some(item) = source.next() else { break };
                        let (ts, venue_ts, recv, event) = match item {
                            Ok(Next::Event(ts, v, recv, e)) => (ts, v, recv, e),
                            Ok(Next::Idle(now)) => {
                                // A quiet live market still gets its timers.
                                if next_timer != 0 {
                                    publish_timers(
                                        &mut feed_producer,
                                        &pressure,
                                        wait,
                                        &mut next_timer,
                                        now,
                                        timer_ns,
                                        mono_ns(),
                                    );
                                }
                                continue;
                            }
                            Err(e) => {
                                // A malformed record is reported and counted, never silently
                                // dropped; the feed goes on with the next one.
                                skipped += 1;
                                if skipped <= 10 {
                                    eprintln!("warning: skipped malformed market data: {e:#}");
                                }
                                continue;
                            }
                        };
                        if next_timer == 0 {
                            next_timer = timers::first_after(ts, timer_ns);
                        }
                        publish_timers(
                            &mut feed_producer,
                            &pressure,
                            wait,
                            &mut next_timer,
                            ts,
                            timer_ns,
                            recv,
                        );
                        crate::faults::publish(
                            &mut feed_producer,
                            &pressure,
                            wait,
                            |slot: &mut Input| {
                                slot.header =
                                    stamped(kestrel_engine::Source::Feed, ts, recv, venue_ts);
                                // A ticker's own bytes only, not the whole enum (BENCHMARKS.md).
                                event.copy_into(&mut slot.event);
                            },
                        );
                        last_ts = ts;
                        n += 1;
                        if feed_panic_after == Some(n) {
                            panic!("injected feed fault after {n} events");
                        }
                        if let Some(ns) = (n * 1_000_000_000).checked_div(rate) {
                            let due = Duration::from_nanos(ns);
                            // Sleep through most of the gap unless busy-spinning, so a
                            // paced feed leaves the cores to the other threads.
                            loop {
                                let left = due.saturating_sub(t0.elapsed());
                                if left.is_zero() {
                                    break;
                                }
                                if wait != WaitStrategy::BusySpin
                                    && left > Duration::from_micros(200)
                                {
                                    thread::sleep(left - Duration::from_micros(100));
                                } else {
                                    std::hint::spin_loop();
                                }
                            }
                        }
                    }
                }));
                let counters: Vec<(String, CounterSnapshot)> = signal_handles
                    .into_iter()
                    .map(|(id, h)| (id, h.stop()))
                    .collect();
                crate::faults::publish(&mut feed_producer, &pressure, wait, |slot: &mut Input| {
                    slot.header = stamped(kestrel_engine::Source::Operator, last_ts, mono_ns(), 0);
                    slot.event = Event::Command(Command::Stop);
                });
                drop(feed_producer);
                match fed {
                    Ok(()) => Ok((n, skipped, counters, source.clamped)),
                    Err(panic) => Err(anyhow!(
                        "the feed thread panicked ({}); the session stopped after its last input",
                        kestrel_feeds::threads::panic_message(&*panic)
                    )),
                }
            },
        )?
    };

    let engine_thread = {
        let cores = cores.clone();
        let applied = applied.clone();
        let pressure = out_pressure.clone();
        thread::Builder::new()
            .name("kestrel-engine".into())
            .spawn(move || -> Engine {
                pin(&cores, 1);
                let mut engine = engine;
                engine.set_output_sink(Some(Box::new(RingSink {
                    producer: out_producer,
                    pressure,
                    wait,
                    recv_ns: 0,
                    publish_ns: 0,
                    start_ns: 0,
                })));
                let mut seq = first_seq;
                let mut spins = 0;
                // Waiting, the engine prefetches the slot the next input will be in,
                // so that slot crosses cores beside the ring's cursor, not after it.
                let next = NextSlot::<Input>::new(size);
                loop {
                    match engine_in.poll() {
                        Ok(mut guard) => {
                            spins = 0;
                            for slot in &mut guard {
                                next.read(slot);
                                seq += 1;
                                // Applied where it lies, numbered as consumed; the sink
                                // has published every output by the time it returns.
                                engine.apply_as(seq, slot);
                                applied.store(seq, Ordering::Release);
                            }
                        }
                        Err(Polling::NoEvents) => {
                            next.prefetch(2);
                            idle(wait, &mut spins)
                        }
                        Err(Polling::Shutdown) => break,
                    }
                }
                // Dropping the sink drops the ring's producer: its readers see the end.
                drop(engine.set_output_sink(None));
                engine
            })?
    };

    let journal_thread = {
        let cores = cores.clone();
        let journaled = journaled.clone();
        let applied = applied.clone();
        let halt = halt.clone();
        let dir = journal.clone();
        thread::Builder::new()
            .name("kestrel-journal".into())
            .spawn(move || -> Result<(u64, u64, u64)> {
                pin(&cores, 2);
                let mut inputs: Vec<Input> = Vec::with_capacity(8192);
                let mut outputs: Vec<Output> = Vec::with_capacity(8192);
                let mut lat: Vec<LatencyRecord> = Vec::with_capacity(4096);
                let (mut n_in, mut n_out, mut n_lat) = (0u64, 0u64, 0u64);
                let (mut in_done, mut out_done) = (false, false);
                let mut seq = first_seq;
                let mut spins = 0;
                // Set when a commit failed: the session stops, nothing more is written,
                // and the rings keep draining so no producer waits forever.
                let mut failed: Option<anyhow::Error> = None;
                loop {
                    // Every batch is a consistent cut: inputs the engine has applied and
                    // exactly the outputs they caused (the rest waits for the next one),
                    // so whatever is committed when a commit fails replays identically.
                    let cut = applied.load(Ordering::Acquire);
                    if !in_done && inputs.len() < 4096 {
                        match journal_in.take(4096) {
                            Ok(mut g) => {
                                for slot in &mut g {
                                    seq += 1;
                                    let mut i = slot.clone();
                                    i.header.seq = seq;
                                    inputs.push(i);
                                }
                            }
                            Err(Polling::NoEvents) => {}
                            Err(Polling::Shutdown) => in_done = true,
                        }
                    }
                    if !out_done && outputs.len() < 4096 {
                        match journal_out.take(4096) {
                            Ok(mut g) => {
                                for slot in &mut g {
                                    outputs.push(slot.output);
                                }
                            }
                            Err(Polling::NoEvents) => {}
                            Err(Polling::Shutdown) => out_done = true,
                        }
                    }
                    take_latency(&lat_rx, &spare_tx, &mut lat);
                    // Outputs whose cause this thread has not taken from the ring yet
                    // wait too (the engine can be ahead of the journal).
                    let cut = cut.min(seq);
                    let ni = inputs.partition_point(|i| i.header.seq <= cut);
                    let no = outputs.partition_point(|o| o.cause <= cut);
                    if ni == 0 && no == 0 && lat.is_empty() {
                        if in_done && out_done && inputs.is_empty() && outputs.is_empty() {
                            // The gateway sends its last latency batch after the output ring closes.
                            match lat_rx.recv_timeout(Duration::from_millis(10)) {
                                Ok(mut batch) => {
                                    lat.append(&mut batch);
                                    continue;
                                }
                                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                            }
                        }
                        idle(wait, &mut spins);
                        continue;
                    }
                    spins = 0;
                    if failed.is_none() {
                        if !journal_delay.is_zero() {
                            thread::sleep(journal_delay);
                        }
                        match writer.append(&inputs[..ni], &outputs[..no], &lat) {
                            Ok(()) => {
                                n_in += ni as u64;
                                n_out += no as u64;
                                n_lat += lat.len() as u64;
                                if let Some(last) = inputs[..ni].last() {
                                    journaled.store(last.header.seq, Ordering::Release);
                                }
                            }
                            Err(e) => {
                                let at = inputs.first().map_or(seq + 1, |i| i.header.seq);
                                let e = anyhow!(e).context(format!(
                                    "journal {} failed at input seq {at}; the session was \
                                     stopped, inputs 1..={} are committed and intact",
                                    dir.display(),
                                    writer.last_input_seq()
                                ));
                                // Returned, and printed once by the caller.
                                journaled.fetch_or(JOURNAL_FAILED, Ordering::AcqRel);
                                halt.store(true, Ordering::Release);
                                failed = Some(e);
                            }
                        }
                    }
                    inputs.drain(..ni);
                    outputs.drain(..no);
                    lat.clear();
                }
                match failed {
                    Some(e) => Err(e),
                    None => Ok((n_in, n_out, n_lat)),
                }
            })?
    };

    let venue_cfg = cfg.venue.clone();
    let instruments = cfg.instruments.clone();
    let balances = cfg.balances.clone();
    let durability = rt.durability;
    let gateway = {
        let journaled = journaled.clone();
        let applied = applied.clone();
        let pressure = in_pressure.clone();
        thread::Builder::new()
            .name("kestrel-gateway".into())
            .spawn(move || -> Result<()> {
                pin(&cores, 3);
                if let Some(gw) = binance {
                    let links = crate::gateway_binance::Links {
                        watch: EngineWatch::new(applied, first_seq, wait),
                        outputs: gateway_out,
                        inputs: gateway_in,
                        producer: gateway_producer,
                        latency: lat_link,
                        journaled,
                        halt,
                        durability,
                        wait,
                    };
                    return crate::gateway_binance::run(gw, links);
                }
                let mut venue = SimVenue::new(&venue_cfg, &instruments, &balances);
                let mut reports: Vec<(u64, ExecReport)> = Vec::with_capacity(1024);
                let mut backlog: std::collections::VecDeque<(u64, ExecReport)> =
                    std::collections::VecDeque::with_capacity(1024);
                let mut lat: Vec<LatencyRecord> = Vec::with_capacity(512);
                let mut producer = Some(gateway_producer);
                let (mut stop_seen, mut out_done, mut in_done) = (false, false, false);
                let mut venue_now = 0u64;
                let mut withheld = 0u64;
                let mut spins = 0;
                let mut watch = EngineWatch::new(applied, first_seq, wait);
                loop {
                    let mut busy = false;
                    let applied = watch.applied();
                    let mut read_outputs = false;
                    if !out_done {
                        match gateway_out.poll() {
                            Ok(mut g) => {
                                busy = true;
                                read_outputs = true;
                                for slot in &mut g {
                                    watch.output(slot.output.cause);
                                    let o = &slot.output;
                                    let read = place_stamp(&o.action, 0);
                                    match o.action {
                                        Action::Place(_)
                                        | Action::Cancel { .. }
                                        | Action::Modify { .. } => {
                                            if crate::faults::withheld(durability, &journaled, o) {
                                                // The journal failed first: never send an
                                                // order whose cause is not durable.
                                                withheld += 1;
                                                continue;
                                            }
                                            venue_now = venue_now.max(o.ts);
                                            venue.on_action(venue_now, &o.action, &mut reports);
                                            if matches!(o.action, Action::Place(_)) {
                                                lat.push(slot.latency(read, mono_ns()));
                                            }
                                        }
                                        Action::Stopped => stop_seen = true,
                                        _ => {}
                                    }
                                }
                                lat_link.hand(&mut lat);
                            }
                            Err(Polling::NoEvents) => {}
                            Err(Polling::Shutdown) => out_done = true,
                        }
                    }
                    // Orders of an input the engine is still applying come first.
                    if !out_done && watch.hold(applied, read_outputs) {
                        continue;
                    }
                    if !in_done {
                        match gateway_in.poll() {
                            Ok(mut g) => {
                                busy = true;
                                for slot in &mut g {
                                    watch.input();
                                    if matches!(
                                        slot.event,
                                        Event::BookTicker(_) | Event::Depth(_) | Event::Trade(_)
                                    ) {
                                        venue_now = venue_now.max(slot.header.ts);
                                        venue.on_market(slot.header.ts, &slot.event, &mut reports);
                                    }
                                }
                            }
                            Err(Polling::NoEvents) => {}
                            Err(Polling::Shutdown) => in_done = true,
                        }
                    }
                    // Inputs just read that the engine may still be applying (a new
                    // ticker): the reports they released wait until it is done.
                    if !out_done && watch.hold(applied, false) {
                        continue;
                    }
                    if stop_seen && producer.is_some() {
                        // Settle everything in flight so every order's fate is journaled.
                        venue.flush(&mut reports);
                    }
                    backlog.extend(reports.drain(..));
                    if let Some(p) = producer.as_mut() {
                        while let Some(&(ts, r)) = backlog.front() {
                            let published = p.try_publish(|slot| {
                                let now = mono_ns();
                                slot.header = stamped(kestrel_engine::Source::Venue, ts, now, ts);
                                slot.event = Event::Exec(r);
                            });
                            if published.is_err() {
                                pressure.record_backlog(backlog.len() as u64);
                                break;
                            }
                            backlog.pop_front();
                            busy = true;
                        }
                        if stop_seen && backlog.is_empty() {
                            producer = None;
                        }
                    }
                    if out_done && producer.is_none() {
                        break;
                    }
                    if busy {
                        spins = 0;
                    } else {
                        idle(wait, &mut spins);
                    }
                }
                lat_link.finish(lat);
                if withheld > 0 {
                    eprintln!("error: {withheld} order(s) not sent: the journal failed before their cause was committed (durability = \"sync\")");
                }
                Ok(())
            })?
    };

    // Readiness line (tests and operators wait for it).
    eprintln!(
        "kestrel run: running, journal {} (inputs continue after seq {first_seq})",
        journal.display()
    );
    let fed = feed.join().map_err(|_| anyhow!("feed thread panicked"))?;
    let engine = engine_thread
        .join()
        .map_err(|_| anyhow!("engine thread panicked"))?;
    let gw = gateway
        .join()
        .map_err(|_| anyhow!("gateway thread panicked"))?;
    let journaled = journal_thread
        .join()
        .map_err(|_| anyhow!("journal thread panicked"))?;
    let (n_in, n_out, n_lat) = journaled?;
    gw?;
    let (_, skipped, signal_counters, clamped) = fed?;
    let mut summary = summarize(&engine, journal, n_in, n_out, n_lat, started.elapsed());
    summary.skipped = skipped;
    summary.signal_sources = signal_counters;
    summary.copy_trading = crate::commands::copy_trading_status(&engine);
    summary.clamped = clamped;
    summary.input_ring = in_pressure.counts();
    summary.output_ring = out_pressure.counts();
    Ok(summary)
}

/// The summary lines `kestrel run` and `kestrel backtest` print: counts, per-instrument
/// position and pnl, skipped records, balances, executors by close type.
pub fn summary_text(s: &RunSummary) -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    let _ = writeln!(t, "  inputs   {:>10}   outputs {:>10}", s.inputs, s.outputs);
    let _ = writeln!(
        t,
        "  orders   {:>10}   fills   {:>10}   rejects {}   alerts {}",
        s.orders, s.fills, s.rejects, s.alerts
    );
    for (sym, net, pnl, fees, vol) in &s.instruments {
        let _ = writeln!(
            t,
            "  {sym}: position {net}, pnl {pnl} (net of fees {fees}), volume {vol}"
        );
    }
    if s.skipped > 0 {
        let _ = writeln!(
            t,
            "  market data: {} malformed records skipped (see warnings above)",
            s.skipped
        );
    }
    let balances: Vec<String> = s.balances.iter().map(|(a, v)| format!("{a} {v}")).collect();
    let _ = writeln!(t, "  balances {}", balances.join(", "));
    let closed: Vec<String> = s
        .close_types
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| format!("{} {n}", crate::commands::CLOSE_TYPE_NAMES[i]))
        .collect();
    let _ = writeln!(
        t,
        "  executors closed: {}",
        if closed.is_empty() {
            "none".into()
        } else {
            closed.join(", ")
        }
    );
    for (id, c) in &s.signal_sources {
        let _ = writeln!(
            t,
            "  signal source {id}: accepted {}, refused unauthenticated {}, malformed {}, duplicates {}, transport errors {}{}",
            c.accepted,
            c.rejected_auth,
            c.rejected_malformed,
            c.duplicates,
            c.transport_errors,
            if c.thread_panicked {
                "; its thread PANICKED and delivered nothing after that (see the log)"
            } else {
                ""
            }
        );
    }
    for line in s.copy_trading.lines() {
        let _ = writeln!(t, "  {line}");
    }
    if s.clamped > 0 {
        let _ = writeln!(
            t,
            "  event time: {} live events stamped before their predecessor were published at its time",
            s.clamped
        );
    }
    if s.input_ring != PressureCounts::default() || s.output_ring != PressureCounts::default() {
        let _ = writeln!(
            t,
            "  {}",
            crate::faults::summary_line(&s.input_ring, &s.output_ring)
        );
    }
    t
}

/// Builds the summary from the final engine state.
pub fn summarize(
    engine: &Engine,
    journal: PathBuf,
    inputs: u64,
    outputs: u64,
    latency: u64,
    elapsed: Duration,
) -> RunSummary {
    let instruments = engine
        .instruments
        .iter()
        .map(|i| {
            let p = &engine.portfolio.positions[i.id as usize];
            (
                i.spec.symbol.clone(),
                p.net,
                engine.pnl(i.id),
                p.fees,
                p.volume,
            )
        })
        .collect();
    // Stored executors and the done ones not stored yet, per controller and "main".
    let mut close_types = [0u64; 11];
    for i in 0..engine.performance.len() {
        for (a, b) in close_types.iter_mut().zip(engine.report(i).close_types) {
            *a += b;
        }
    }
    RunSummary {
        journal,
        inputs,
        outputs,
        orders: engine.orders.placed,
        fills: engine.orders.fills,
        rejects: engine.stats.rejects,
        alerts: engine.stats.alerts,
        instruments,
        balances: engine
            .portfolio
            .balances
            .iter()
            .map(|b| (b.asset.clone(), b.total))
            .collect(),
        close_types,
        elapsed,
        latency_records: latency,
        skipped: 0,
        signal_sources: Vec::new(),
        copy_trading: String::new(),
        input_ring: PressureCounts::default(),
        output_ring: PressureCounts::default(),
        clamped: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_venue_side_waits_while_the_engine_applies_what_the_gateway_saw() {
        let applied = Arc::new(CachePadded::new(AtomicU64::new(10)));
        // Threads that may share cores never hold.
        let mut shared = EngineWatch::new(applied.clone(), 10, WaitStrategy::Yield);
        shared.input();
        assert!(!shared.hold(10, true) && !shared.hold(10, false));
        let mut w = EngineWatch::new(applied.clone(), 10, WaitStrategy::BusySpin);
        // Nothing seen the engine has not applied: no wait.
        assert!(!w.hold(w.applied(), false));
        // Outputs were just read: more may follow, read them first.
        assert!(w.hold(w.applied(), true));
        // A ticker read from the input ring (input 11), not yet applied.
        w.input();
        assert!(w.hold(w.applied(), false));
        // Its outputs, and then the engine finishes it.
        w.output(11);
        assert!(w.hold(w.applied(), false));
        applied.store(11, Ordering::Release);
        assert!(!w.hold(w.applied(), false));
        // An output of input 12 read before the gateway read input 12 itself.
        w.output(12);
        assert!(w.hold(11, false));
        assert!(!w.hold(12, false));
        // An engine stuck on input 13 holds the venue side MAX_HOLD times at most;
        // then it runs every pass until the engine has caught up.
        w.input();
        w.input();
        for _ in 0..MAX_HOLD {
            assert!(w.hold(12, false));
        }
        assert!(!w.hold(12, false));
        assert!(!w.hold(12, false) && !w.hold(12, true));
        assert!(!w.hold(13, false));
        // Caught up, it waits again for the next input.
        w.input();
        assert!(w.hold(13, false));
    }

    fn records(n: u64) -> Vec<LatencyRecord> {
        (1..=n)
            .map(|i| LatencyRecord {
                output_seq: i,
                ..LatencyRecord::default()
            })
            .collect()
    }

    #[test]
    fn latency_batches_wait_for_room_and_are_never_dropped() {
        let (tx, rx) = crossbeam_channel::bounded::<Vec<LatencyRecord>>(1);
        let (_spare_tx, spare_rx) = crossbeam_channel::bounded(1);
        let link = LatencyLink {
            full: tx,
            spare: spare_rx,
        };
        let mut lat = records(255);
        link.hand(&mut lat);
        assert_eq!((lat.len(), rx.len()), (255, 0), "under a batch: kept");
        lat.extend(records(1));
        link.hand(&mut lat);
        assert_eq!((lat.len(), rx.len()), (0, 1), "a full batch goes");
        lat = records(300);
        link.hand(&mut lat);
        assert_eq!(lat.len(), 300, "queue full: the batch stays");
        let first = rx.recv().unwrap();
        assert_eq!(first.len(), 256);
        link.hand(&mut lat);
        assert_eq!((lat.len(), rx.recv().unwrap().len()), (0, 300));
        lat.extend(records(5));
        link.finish(lat);
        assert_eq!(
            rx.recv().unwrap().len(),
            5,
            "the rest goes when the gateway stops"
        );
    }

    #[test]
    fn the_journal_sends_emptied_batches_back_for_the_gateway_to_reuse() {
        let (full_tx, full_rx) = crossbeam_channel::bounded(4);
        let (spare_tx, spare_rx) = crossbeam_channel::bounded(4);
        let link = LatencyLink {
            full: full_tx,
            spare: spare_rx,
        };
        let mut journal = Vec::new();
        take_latency(&full_rx, &spare_tx, &mut journal);
        assert!(journal.is_empty() && spare_tx.is_empty(), "nothing waiting");
        let mut lat = records(256);
        link.hand(&mut lat);
        // Nothing came back yet: the gateway starts a new batch with room for two.
        assert_eq!((lat.len(), lat.capacity()), (0, 2 * LATENCY_BATCH));
        lat.extend(records(256));
        let second = lat.as_ptr();
        link.hand(&mut lat);
        take_latency(&full_rx, &spare_tx, &mut journal);
        assert_eq!(journal.len(), 512, "every record reaches the journal");
        assert_eq!(journal[256].output_seq, 1);
        assert_eq!(spare_tx.len(), 2, "both vectors go back");
        // The next batch is handed over without allocating: the first vector back
        // takes its place, then the second (the very buffer filled before).
        lat.extend(records(300));
        link.hand(&mut lat);
        assert_eq!(lat.len(), 0);
        assert!(lat.capacity() >= LATENCY_BATCH);
        lat.extend(records(256));
        link.hand(&mut lat);
        assert_eq!((lat.len(), lat.as_ptr()), (0, second));
    }
}
