//! A single-threaded, fully deterministic session: the engine and the simulated venue
//! in one loop, in event time. Backtests and executor scenario tests use it; every
//! input it applies is kept in order so the session can be journaled and replayed.

use crate::sim::SimVenue;
use kestrel_engine::config::ConfigError;
use kestrel_engine::*;

/// Engine + simulated venue, stepped by market events.
pub struct SimLoop {
    /// The engine under test.
    pub engine: Engine,
    /// The venue it trades against.
    pub venue: SimVenue,
    /// Every input applied, in order (seq 1 = session start).
    pub inputs: Vec<Input>,
    /// Every output emitted, in order.
    pub outputs: Vec<Output>,
    /// Keep inputs and outputs (turn off for long backtests that journal elsewhere).
    pub record: bool,
    seq: u64,
    reports: Vec<(u64, ExecReport)>,
    actions: Vec<Output>,
}

impl SimLoop {
    /// Builds the engine and venue a session start describes, and applies it as input 1.
    pub fn new(start: SessionStart) -> Result<SimLoop, ConfigError> {
        let engine = Engine::new(&start)?;
        let cfg = engine.config.clone();
        let venue = SimVenue::new(&cfg.venue, &cfg.instruments, &cfg.balances);
        let mut l = SimLoop {
            engine,
            venue,
            inputs: Vec::new(),
            outputs: Vec::new(),
            record: true,
            seq: 0,
            reports: Vec::with_capacity(256),
            actions: Vec::with_capacity(256),
        };
        l.apply(0, Source::Session, Event::SessionStart(start));
        Ok(l)
    }

    /// Inputs applied so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    fn apply(&mut self, ts: u64, source: Source, event: Event) {
        self.seq += 1;
        let input = Input {
            header: Header {
                seq: self.seq,
                source,
                ts,
                venue_ts: 0,
                recv_ns: 0,
                publish_ns: 0,
            },
            event,
        };
        let outs = self.engine.apply(&input);
        self.actions.extend_from_slice(outs);
        if self.record {
            self.outputs.extend_from_slice(outs);
            self.inputs.push(input);
        }
    }

    /// Sends pending engine outputs to the venue and feeds its reports back until
    /// nothing more happens.
    fn settle(&mut self, now: u64) {
        loop {
            let mut i = 0;
            while i < self.actions.len() {
                let o = self.actions[i].action.clone();
                let ts = now.max(self.actions[i].ts);
                self.venue.on_action(ts, &o, &mut self.reports);
                i += 1;
            }
            self.actions.clear();
            if self.reports.is_empty() {
                return;
            }
            let reports = std::mem::take(&mut self.reports);
            for (ts, r) in &reports {
                self.apply((*ts).max(now), Source::Venue, Event::Exec(*r));
            }
            self.reports = reports;
            self.reports.clear();
        }
    }

    /// Applies one external input (market data, timer, command) at `ts`: the venue
    /// sees market data first (resting orders may fill), then the engine, then the
    /// venue's reports and the engine's orders go back and forth until quiet.
    pub fn push(&mut self, ts: u64, event: Event) {
        let source = match event {
            Event::Timer(_) => Source::Timer,
            Event::Command(_) => Source::Operator,
            Event::Signal(_) => Source::Signal,
            _ => Source::Feed,
        };
        if matches!(
            event,
            Event::BookTicker(_) | Event::Depth(_) | Event::Trade(_)
        ) {
            self.venue.on_market(ts, &event, &mut self.reports);
        } else {
            self.venue.advance(ts, &mut self.reports);
        }
        self.apply(ts, source, event);
        let early = std::mem::take(&mut self.reports);
        for (t, r) in &early {
            self.apply((*t).max(ts), Source::Venue, Event::Exec(*r));
        }
        self.reports = early;
        self.reports.clear();
        self.settle(ts);
    }

    /// Lets event time pass to `ts` (orders in flight arrive, timers fire).
    pub fn advance(&mut self, ts: u64) {
        self.venue.advance(ts, &mut self.reports);
        let due = std::mem::take(&mut self.reports);
        for (t, r) in &due {
            self.apply((*t).max(ts), Source::Venue, Event::Exec(*r));
        }
        self.reports = due;
        self.reports.clear();
        self.settle(ts);
    }

    /// Stops the session: a Stop command, then every request in flight is settled.
    pub fn stop(&mut self, ts: u64) {
        self.push(ts, Event::Command(Command::Stop));
        self.venue.flush(&mut self.reports);
        let rest = std::mem::take(&mut self.reports);
        for (t, r) in &rest {
            self.apply((*t).max(ts), Source::Venue, Event::Exec(*r));
        }
        self.settle(ts);
    }
}
