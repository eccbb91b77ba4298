//! A single-threaded, fully deterministic session: the engine and the simulated venue
//! in one loop, in event time. Backtests and executor scenario tests use it; every
//! input it applies is kept in order so the session can be journaled and replayed.
//!
//! Timeline (hftbacktest's exchange and local clocks, with a constant market-data
//! latency `L = [venue] md_latency_ns`):
//! - a market event recorded at `ts` reaches the venue at `ts - L` and the engine at
//!   `ts` (the recorded time stays the engine's clock, and the journal's);
//! - an order sent by the engine at `t` reaches the venue at `t + latency_ns`;
//! - execution reports reach the engine at the time the venue produced them;
//! - timers and operator commands are engine-side events at their own time.
//!
//! Every step is applied in time order. Ties: requests arriving at a venue event's
//! time are processed before it; a market event reaches the venue before the engine
//! (with `L = 0`, the engine then sees the event before the fills it caused).
//! With `L > 0` the engine lags: after [`SimLoop::push`] of a market event at `ts`,
//! the engine has applied everything before `ts - L`; [`SimLoop::advance`] and
//! [`SimLoop::stop`] bring it up to date.

use crate::sim::SimVenue;
use kestrel_engine::config::ConfigError;
use kestrel_engine::controllers::Registry;
use kestrel_engine::*;
use std::collections::VecDeque;

/// Engine + simulated venue, stepped by market events.
pub struct SimLoop {
    /// The engine under test.
    pub engine: Engine,
    /// The venue it trades against.
    pub venue: SimVenue,
    /// Every input applied, in order (seq 1 = session start). A caller that journals
    /// as it goes may drain it (and `outputs`) between calls.
    pub inputs: Vec<Input>,
    /// Every output emitted, in order.
    pub outputs: Vec<Output>,
    /// Keep inputs and outputs (turn off for long runs that need neither).
    pub record: bool,
    /// Requests sent to the venue so far.
    pub sent: Sent,
    seq: u64,
    /// Market-data latency: the venue sees market events this much earlier.
    md_latency_ns: u64,
    /// Engine-side events waiting for their time (market events the venue already
    /// applied, timers, commands), in time order, each already in the input it
    /// becomes: it is applied where it waits (the header's `ts` and `source` are set;
    /// its `seq` when applied), so a market event is copied once on its way in.
    pending: VecDeque<Input>,
    /// Latest event time applied (reports are never stamped earlier).
    now: u64,
    reports: Vec<(u64, ExecReport)>,
    actions: Vec<Output>,
    /// The input being applied (reused; see `apply_input`).
    input: Input,
}

/// Requests the engine sent to the venue, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Place requests.
    pub places: u64,
    /// Cancel requests.
    pub cancels: u64,
    /// Modify requests.
    pub modifies: u64,
}

/// A header stamped with event time only (no venue or wall-clock times in a backtest).
fn header(seq: u64, source: Source, ts: u64) -> Header {
    Header {
        seq,
        source,
        ts,
        venue_ts: 0,
        recv_ns: 0,
        publish_ns: 0,
    }
}

fn is_market(e: &Event) -> bool {
    matches!(e, Event::BookTicker(_) | Event::Depth(_) | Event::Trade(_))
}

impl SimLoop {
    /// Builds the engine and venue a session start describes, and applies it as input 1.
    pub fn new(start: SessionStart) -> Result<SimLoop, ConfigError> {
        SimLoop::with_registry(start, &Registry::builtin())
    }

    /// Like [`SimLoop::new`], with the generic controllers' strategies taken from
    /// `registry` (a replay of the session needs the same registry).
    ///
    /// # Errors
    /// An invalid config, or a generic strategy `registry` does not hold.
    pub fn with_registry(start: SessionStart, registry: &Registry) -> Result<SimLoop, ConfigError> {
        let config = kestrel_engine::config::Config::from_toml(&start.config)?;
        let engine = Engine::with_registry(start.session_id, start.seed, config, registry)?;
        let cfg = engine.config.clone();
        let venue = SimVenue::new(&cfg.venue, &cfg.instruments, &cfg.balances);
        let mut l = SimLoop {
            engine,
            venue,
            inputs: Vec::new(),
            outputs: Vec::new(),
            record: true,
            sent: Sent::default(),
            seq: 0,
            md_latency_ns: cfg.venue.md_latency_ns,
            pending: VecDeque::with_capacity(64),
            now: 0,
            reports: Vec::with_capacity(256),
            actions: Vec::with_capacity(256),
            input: Input::default(),
        };
        l.apply(0, Source::Session, Event::SessionStart(start));
        Ok(l)
    }

    /// Inputs applied so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Engine-side events not applied yet (market events in their latency window).
    pub fn lagging(&self) -> usize {
        self.pending.len()
    }

    fn apply(&mut self, ts: u64, source: Source, event: Event) {
        self.input.event = event;
        self.apply_input(ts, source, false);
    }

    /// Applies an input with a fresh header at `ts`: the oldest waiting one when
    /// `waiting` (it stays in the queue while the engine reads it), else `self.input`,
    /// a reused slot (an execution report overwrites just its own bytes instead of
    /// moving a whole `Event`, sized by its largest variant, on every report).
    fn apply_input(&mut self, ts: u64, source: Source, waiting: bool) {
        let input = match self.pending.front_mut() {
            Some(front) if waiting => front,
            _ => &mut self.input,
        };
        self.seq += 1;
        self.now = self.now.max(ts);
        input.header = header(self.seq, source, ts);
        let outs = self.engine.apply(input);
        // Only requests go to the venue.
        self.actions.extend(
            outs.iter()
                .filter(|o| {
                    matches!(
                        o.action,
                        Action::Place(_) | Action::Cancel { .. } | Action::Modify { .. }
                    )
                })
                .copied(),
        );
        if self.record {
            self.outputs.extend_from_slice(outs);
            self.inputs.push(input.clone());
        }
    }

    /// Applies the venue's collected reports to the engine, in order.
    fn apply_reports(&mut self) {
        // Kept small for the many calls with nothing to apply.
        if !self.reports.is_empty() {
            self.apply_reports_now();
        }
    }

    #[inline(never)]
    fn apply_reports_now(&mut self) {
        let mut reports = std::mem::take(&mut self.reports);
        for (ts, r) in &reports {
            match &mut self.input.event {
                Event::Exec(slot) => *slot = *r,
                e => *e = Event::Exec(*r),
            }
            // A report never goes back in time (a request can arrive in the past of
            // the engine only when the caller pushed out of order).
            self.apply_input((*ts).max(self.now), Source::Venue, false);
        }
        reports.clear();
        self.reports = reports;
    }

    /// Sends pending engine outputs to the venue and feeds its reports back until
    /// nothing more happens.
    fn settle(&mut self, now: u64) {
        // Kept small for the many calls with nothing to settle.
        if !self.actions.is_empty() || !self.reports.is_empty() {
            self.settle_now(now);
        }
    }

    #[inline(never)]
    fn settle_now(&mut self, now: u64) {
        loop {
            for a in &self.actions {
                match a.action {
                    Action::Place(_) => self.sent.places += 1,
                    Action::Cancel { .. } => self.sent.cancels += 1,
                    _ => self.sent.modifies += 1,
                }
                self.venue
                    .on_action(now.max(a.ts), &a.action, &mut self.reports);
            }
            self.actions.clear();
            if self.reports.is_empty() {
                return;
            }
            self.apply_reports();
        }
    }

    /// Lets the venue reach `ts` (requests in flight arrive) and the engine take the
    /// reports.
    fn venue_to(&mut self, ts: u64) {
        self.venue.advance(ts, &mut self.reports);
        self.apply_reports();
        self.settle(ts);
    }

    /// Applies one engine-side event at `ts`, after the venue has reached `ts`.
    fn engine_step(&mut self, ts: u64, source: Source, event: Event) {
        self.venue_to(ts);
        self.apply(ts, source, event);
        self.settle(ts);
    }

    /// Applies the waiting engine-side events before `limit` (through `limit` when
    /// `inclusive`), each after the venue has reached its time.
    fn catch_up(&mut self, limit: u64, inclusive: bool) {
        while let Some(h) = self.pending.front().map(|i| i.header) {
            if h.ts > limit || (h.ts == limit && !inclusive) {
                break;
            }
            self.venue_to(h.ts);
            self.apply_input(h.ts, h.source, true);
            self.pending.pop_front();
            self.settle(h.ts);
        }
    }

    /// Queues an engine-side event for its time.
    fn wait(&mut self, ts: u64, source: Source, event: Event) {
        self.pending.push_back(Input {
            header: header(0, source, ts),
            event: Event::None,
        });
        // Market data writes just its own bytes: moving the `Event` in whole copies
        // all of it, sized by its largest variant.
        if let Some(slot) = self.pending.back_mut().map(|i| &mut i.event) {
            match event {
                Event::BookTicker(t) => *slot = Event::BookTicker(t),
                Event::Trade(t) => *slot = Event::Trade(t),
                e => *slot = e,
            }
        }
    }

    /// Applies one external input (market data, timer, command) recorded at `ts`
    /// (non-decreasing across calls). A market event goes to the venue at
    /// `ts - md_latency_ns` (resting orders may fill) and to the engine at `ts`;
    /// the engine's orders and the venue's reports go back and forth until quiet.
    pub fn push(&mut self, ts: u64, event: Event) {
        let source = match event {
            Event::Timer(_) => Source::Timer,
            Event::Command(_) => Source::Operator,
            Event::Signal(_) => Source::Signal,
            _ => Source::Feed,
        };
        if !is_market(&event) {
            self.wait(ts, source, event);
            if self.md_latency_ns == 0 {
                self.catch_up(ts, true);
            }
            return;
        }
        let at_venue = ts.saturating_sub(self.md_latency_ns);
        self.catch_up(at_venue, false);
        self.venue_to(at_venue);
        self.venue.on_market(at_venue, &event, &mut self.reports);
        if self.md_latency_ns == 0 {
            self.apply(ts, source, event);
            self.apply_reports();
            self.settle(ts);
        } else {
            self.apply_reports();
            self.settle(at_venue);
            self.wait(ts, source, event);
        }
    }

    /// Lets event time pass to `ts` on both sides: waiting market events reach the
    /// engine, orders in flight arrive, timers fire. With a market-data latency the
    /// caller must not hold market events whose venue time is before `ts`.
    pub fn advance(&mut self, ts: u64) {
        self.catch_up(ts, true);
        self.venue_to(ts);
    }

    /// Stops the session at `ts` (or at the last waiting event, if later): every
    /// waiting event reaches the engine, a Stop command follows, then every request in
    /// flight is settled.
    pub fn stop(&mut self, ts: u64) {
        let last = self.pending.back().map_or(ts, |p| p.header.ts.max(ts));
        self.catch_up(last, true);
        self.engine_step(last, Source::Operator, Event::Command(Command::Stop));
        self.venue.flush(&mut self.reports);
        self.apply_reports();
        self.settle(last);
    }
}
