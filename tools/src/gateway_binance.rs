//! The gateway thread's Binance loop (`[venue] kind = "binance"`): engine order
//! actions go to [`BinanceConnector`], its execution reports come back as `Exec`
//! inputs, exactly where the simulated venue's would.
//!
//! - Startup ([`connect`], before the journal is created): credentials from the
//!   configured environment variables or key file, clock sync and listen key over
//!   REST, then both WebSockets (API and user stream) within `ready_timeout_ms`. Any
//!   failure is an error naming the step; nothing is journaled.
//! - Orders: `Action::Place / Cancel / Modify` → [`BinanceConnector::on_action`]. A
//!   place's latency record ends at [`Sent::sent_ns`](kestrel_gateways::binance::Sent),
//!   the moment the request bytes went to the socket. A refused action is reported
//!   (stderr) and its `Rejected` / `CancelRejected` report follows through `poll`.
//! - Reports: every [`Report`] from [`BinanceConnector::poll`] becomes one input with
//!   source `Venue`, `recv_ns` = when its bytes were read, `venue_ts` = the venue's
//!   event time (0 for reports found by reconcile), and event time `ts` = the receive
//!   stamp on the live feed's clock (wall time at start + monotonic time).
//! - Disconnects: the connector reconnects with backoff and reconciles (open orders,
//!   order status, trades) inside `poll`; the missed reports arrive like any other,
//!   deduplicated by its order tracker (one report per trade, one terminal state).
//! - Stop: after `Action::Stopped` the loop keeps polling until no tracked order is
//!   live (the stop's cancels confirmed) and the engine has been quiet for
//!   [`QUIET`], or `settle_timeout_ms` passes (orders still open are listed on stderr).
//! - A fatal connector error (its poll failing) never panics: it is printed, the feed
//!   is told to stop (a `Stop` command is published and journaled as usual), the
//!   session drains, and the error is returned.
//!
//! The connector's clocks are the runtime's ([`RuntimeClock`]), so its stamps line up
//! with every other latency stage. Secrets stay inside the connector; nothing here
//! prints or journals them.

use crate::clock::mono_ns;
use crate::runtime::{idle, EngineWatch, OutSlot};
use anyhow::{anyhow, Result};
use crossbeam_utils::CachePadded;
use disruptor::{
    EventPoller, MultiConsumerBarrier, MultiProducer, MultiProducerBarrier, Polling, Producer,
    SingleProducerBarrier,
};
use kestrel_engine::config::{BinanceMarket, BinanceVenueConfig, Config, Durability, WaitStrategy};
use kestrel_engine::{Action, Event, Header, Input};
use kestrel_gateways::binance::{
    BinanceConfig, BinanceConnector, Clock, Credentials, Report, Venue,
};
use kestrel_journal::LatencyRecord;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After `Stopped`, how long the engine must send nothing before the gateway closes
/// (once no order is live): room for follow-up orders a report may trigger.
pub const QUIET: Duration = Duration::from_millis(200);

/// Warnings printed per kind before they are only counted.
const MAX_WARNINGS: u64 = 20;

/// The runtime's clocks, for the connector: wall time for request timestamps and the
/// process-wide monotonic stamp of [`crate::clock`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RuntimeClock;

impl Clock for RuntimeClock {
    fn wall_ms(&self) -> u64 {
        crate::clock::unix_ns() / 1_000_000
    }
    fn mono_ns(&self) -> u64 {
        mono_ns()
    }
}

/// Loads the credentials `b` names: the key file when set, else the two environment
/// variables.
///
/// # Errors
/// Names the variable or file that failed, never a value.
pub fn credentials(b: &BinanceVenueConfig) -> Result<Credentials> {
    let creds = match &b.key_file {
        Some(f) => Credentials::from_file(Path::new(f)),
        None => Credentials::from_env_names(&b.api_key_env, &b.api_secret_env),
    };
    creds.map_err(|e| anyhow!("venue.binance: cannot load the API credentials: {e}"))
}

/// A started connector and how long to wait for its orders to settle at the end.
#[derive(Debug)]
pub struct BinanceGateway {
    conn: BinanceConnector,
    settle_timeout: Duration,
}

/// Builds and starts the connector for `cfg` (which must have `[venue.binance]`):
/// credentials, clock sync, listen key, then waits until the WebSocket API and the
/// user stream are both open.
///
/// # Errors
/// Missing table or credentials, or a startup step that failed or timed out; the
/// message names the step and endpoint, never a key or secret.
pub fn connect(cfg: &Config) -> Result<BinanceGateway> {
    let b = cfg
        .venue
        .binance
        .as_ref()
        .ok_or_else(|| anyhow!("venue.kind = \"binance\" needs a [venue.binance] table"))?;
    let creds = credentials(b)?;
    let venue = match b.market {
        BinanceMarket::Spot => Venue::Spot,
        BinanceMarket::Usdm => Venue::UsdM,
    };
    let mut bc = BinanceConfig::new(
        venue,
        b.rest_addr(),
        &b.ws_api_url,
        &b.user_stream_url,
        cfg.instruments.clone(),
    );
    bc.recv_window_ms = b.recv_window_ms;
    bc.http_timeout_ms = b.http_timeout_ms;
    bc.ws.seed = cfg.session.seed;
    let mut conn = BinanceConnector::new(bc, creds, Box::new(RuntimeClock))
        .map_err(|e| anyhow!("venue.binance: {e}"))?;
    conn.start().map_err(|e| {
        anyhow!(
            "cannot start the Binance connector (clock sync and listen key over REST at {}): {e}",
            b.rest_url
        )
    })?;
    let ready = conn
        .wait_ready(Duration::from_millis(b.ready_timeout_ms))
        .map_err(|e| anyhow!("Binance connector: {e}"))?;
    if !ready {
        return Err(anyhow!(
            "Binance connector not ready after {} ms: the WebSocket API ({}) and the user \
             stream ({}) must both connect; last problem: {}",
            b.ready_timeout_ms,
            b.ws_api_url,
            b.user_stream_url,
            conn.last_error().unwrap_or("none reported")
        ));
    }
    Ok(BinanceGateway {
        conn,
        settle_timeout: Duration::from_millis(b.settle_timeout_ms),
    })
}

/// Reconciles a resumed session's working orders with the venue before any new
/// input (see [`BinanceConnector::resume`]): returns the reports the journal lacks,
/// in the order the venue gave them. Orders the venue does not know yet stay
/// pending; the gateway loop's polls look again until their `recvWindow` passed.
///
/// # Errors
/// A REST query that failed (nothing has been journaled for it).
pub fn resume(
    gw: &mut BinanceGateway,
    live: &[crate::resume::LiveOrder],
) -> Result<Vec<kestrel_engine::ExecReport>> {
    let mut out = Vec::new();
    let r = gw
        .conn
        .resume(live, &mut out)
        .map_err(|e| anyhow!("cannot reconcile the resumed orders with Binance: {e}"))?;
    if r.pending > 0 {
        eprintln!(
            "kestrel run: {} resumed order(s) not known to Binance yet; looking again until \
             their recvWindow has passed",
            r.pending
        );
    }
    Ok(out.into_iter().map(|r| r.exec).collect())
}

/// What the gateway thread hands the Binance loop: its ends of the rings and the
/// runtime's shared state.
pub struct Links {
    /// How far the engine has got: the orders of an input it is still applying are
    /// read before the socket is serviced.
    pub watch: EngineWatch,
    /// Output ring (engine → gateway).
    pub outputs: EventPoller<OutSlot, SingleProducerBarrier>,
    /// Input ring, drained so it never fills and counted for `watch` (market data is
    /// not needed here).
    pub inputs: EventPoller<Input, MultiProducerBarrier>,
    /// Publishes execution reports into the input ring.
    pub producer: MultiProducer<Input, MultiConsumerBarrier>,
    /// Latency records to the journal thread.
    pub latency: crate::runtime::LatencyLink,
    /// Highest input sequence the journal has committed (sync durability).
    pub journaled: Arc<CachePadded<AtomicU64>>,
    /// Set to make the feed thread stop the session (fatal connector error).
    pub halt: Arc<AtomicBool>,
    /// Order durability.
    pub durability: Durability,
    /// Wait strategy when idle.
    pub wait: WaitStrategy,
}

/// Prints a warning, the first [`MAX_WARNINGS`] of a kind, and counts the rest.
fn warn(count: &mut u64, msg: impl FnOnce() -> String) {
    *count += 1;
    if *count <= MAX_WARNINGS {
        eprintln!("warning: {}", msg());
    } else if *count == MAX_WARNINGS + 1 {
        eprintln!("warning: further Binance warnings of this kind are counted, not printed");
    }
}

/// Runs the gateway loop until the output ring closes and every report is published
/// (see the module docs).
///
/// # Errors
/// The fatal connector error that stopped the session, if any.
pub fn run(gw: BinanceGateway, links: Links) -> Result<()> {
    let BinanceGateway {
        mut conn,
        settle_timeout,
    } = gw;
    let Links {
        mut watch,
        mut outputs,
        mut inputs,
        producer,
        latency,
        journaled,
        halt,
        durability,
        wait,
    } = links;
    // Event time of a report = its receive stamp on the live feed's clock.
    let unix0 = crate::clock::epoch_ns();
    let mut reports: Vec<Report> = Vec::with_capacity(1024);
    let mut backlog: VecDeque<Report> = VecDeque::with_capacity(1024);
    let mut lat: Vec<LatencyRecord> = Vec::with_capacity(512);
    let mut producer = Some(producer);
    let (mut out_done, mut in_done) = (false, false);
    let mut stopped_at: Option<Instant> = None;
    let mut last_output = Instant::now();
    let mut fatal: Option<String> = None;
    let (mut action_warnings, mut link_warnings) = (0u64, 0u64);
    let mut disconnects = 0u64;
    let mut spins = 0;
    loop {
        let mut busy = false;
        let applied = watch.applied();
        let mut read_outputs = false;
        if !out_done {
            match outputs.poll() {
                Ok(mut g) => {
                    busy = true;
                    read_outputs = true;
                    last_output = Instant::now();
                    for slot in &mut g {
                        watch.output(slot.output.cause);
                        let o = &slot.output;
                        let read = crate::runtime::place_stamp(&o.action, 0);
                        match o.action {
                            Action::Place(_) | Action::Cancel { .. } | Action::Modify { .. } => {
                                if crate::faults::withheld(durability, &journaled, o) {
                                    // The journal failed first: never send an order
                                    // whose cause is not durable.
                                    eprintln!(
                                        "error: output {} not sent: the journal failed before its cause was committed",
                                        o.seq
                                    );
                                    continue;
                                }
                                match conn.on_action(&o.action) {
                                    Ok(Some(sent)) if matches!(o.action, Action::Place(_)) => {
                                        lat.push(slot.latency(read, sent.sent_ns))
                                    }
                                    Ok(_) => {}
                                    // The connector queues the matching reject report.
                                    Err(e) => warn(&mut action_warnings, || {
                                        format!("Binance refused output {}: {e}", o.seq)
                                    }),
                                }
                            }
                            Action::Stopped => stopped_at = Some(Instant::now()),
                            _ => {}
                        }
                    }
                    latency.hand(&mut lat);
                }
                Err(Polling::NoEvents) => {}
                Err(Polling::Shutdown) => out_done = true,
            }
        }
        // Orders of an input the engine is still applying come before the socket.
        if !out_done && watch.hold(applied, read_outputs) {
            continue;
        }
        if !in_done {
            match inputs.poll() {
                Ok(mut g) => {
                    for _ in &mut g {
                        watch.input();
                    }
                }
                Err(Polling::NoEvents) => {}
                Err(Polling::Shutdown) => in_done = true,
            }
        }
        if !out_done && watch.hold(applied, false) {
            continue;
        }
        if fatal.is_none() {
            match conn.poll(Duration::ZERO, &mut reports) {
                Ok(n) => busy |= n > 0,
                Err(e) => {
                    eprintln!("error: Binance connector failed, stopping the session: {e}");
                    fatal = Some(e.to_string());
                    halt.store(true, Ordering::Release);
                }
            }
            let d = conn.stats().disconnects;
            if d > disconnects {
                disconnects = d;
                warn(&mut link_warnings, || {
                    format!(
                        "Binance connection lost ({}); reconnecting, missed reports come from reconcile",
                        conn.last_error().unwrap_or("no reason given")
                    )
                });
            }
        }
        backlog.extend(reports.drain(..));
        if let Some(p) = producer.as_mut() {
            while let Some(r) = backlog.front() {
                let r = *r;
                let published = p.try_publish(|slot| {
                    slot.header = Header {
                        seq: 0,
                        source: kestrel_engine::Source::Venue,
                        ts: unix0 + r.recv_ns,
                        recv_ns: r.recv_ns,
                        publish_ns: mono_ns(),
                        venue_ts: r.venue_ts_ns,
                    };
                    slot.event = Event::Exec(r.exec);
                });
                if published.is_err() {
                    break;
                }
                backlog.pop_front();
                busy = true;
            }
            if let Some(at) = stopped_at {
                let settled = backlog.is_empty()
                    && conn.tracker().live().next().is_none()
                    && last_output.elapsed() >= QUIET;
                let expired = at.elapsed() >= settle_timeout;
                if settled || expired || fatal.is_some() {
                    if !settled {
                        let open: Vec<String> = conn
                            .tracker()
                            .live()
                            .map(|t| t.order.cid.to_string())
                            .collect();
                        if !open.is_empty() {
                            eprintln!(
                                "warning: {} order(s) may still be open on Binance after the \
                                 stop: {}",
                                open.len(),
                                open.join(", ")
                            );
                        }
                    }
                    producer = None;
                }
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
    latency.finish(lat);
    let s = conn.stats();
    eprintln!(
        "binance gateway: {} WebSocket-API requests, {} REST orders, {} disconnects, {} \
         reconciles ({} reports), {} venue errors",
        s.ws_requests,
        s.rest_requests,
        s.disconnects,
        s.reconciles,
        s.reconciled_reports,
        s.venue_errors
    );
    match fatal {
        Some(e) => Err(anyhow!(
            "Binance connector failed: {e}; the session was stopped"
        )),
        None => Ok(()),
    }
}
