//! Test harness shared by the executor and orchestrator tests: sessions on the simulated
//! venue (`SimLoop`) with a replay check, an engine driven through `apply` with
//! hand-written execution reports (`H`), and one executor driven directly (`Bench`).
#![allow(dead_code)]

use kestrel_engine::executors::{Ctx, Executor, ExecutorConfig, ExecutorCore, Outbox};
use kestrel_engine::*;
use kestrel_gateways::SimLoop;

/// One second in ns.
pub const S: u64 = 1_000_000_000;

/// Parses a decimal.
pub fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

/// A session of `config` on the simulated venue (seed 1).
pub fn sim(session_id: u32, config: &str) -> SimLoop {
    SimLoop::new(SessionStart {
        session_id,
        seed: 1,
        config: config.into(),
    })
    .unwrap()
}

/// Replays the inputs `l` recorded (its session start first) through a fresh engine:
/// the outputs must be identical.
pub fn assert_replays(l: &SimLoop) {
    let start = match &l.inputs[0].event {
        Event::SessionStart(s) => s.clone(),
        _ => unreachable!(),
    };
    let mut e = Engine::new(&start).unwrap();
    let mut outs = Vec::new();
    for i in &l.inputs {
        outs.extend_from_slice(e.apply(i));
    }
    assert_eq!(outs, l.outputs);
}

/// Pushes a book snapshot of instrument 0 at `ts`: one level a side, `qty` each.
pub fn book(l: &mut SimLoop, ts: u64, bid: &str, ask: &str, qty: &str) {
    let mut depth = Depth {
        instrument: 0,
        snapshot: true,
        first_chunk: true,
        last_chunk: true,
        last_update_id: ts,
        len: 2,
        ..Default::default()
    };
    depth.levels[0] = Level {
        side: Side::Buy,
        px: d(bid),
        qty: d(qty),
    };
    depth.levels[1] = Level {
        side: Side::Sell,
        px: d(ask),
        qty: d(qty),
    };
    l.push(ts, Event::Depth(depth));
}

/// A book ticker of instrument `i`, `qty` on each side.
pub fn ticker(i: InstrumentId, bid: &str, ask: &str, qty: &str) -> Event {
    Event::BookTicker(BookTicker {
        instrument: i,
        bid_px: d(bid),
        bid_qty: d(qty),
        ask_px: d(ask),
        ask_qty: d(qty),
        update_id: 0,
    })
}

/// Orders placed.
pub fn places(outs: &[Output]) -> Vec<PlaceOrder> {
    outs.iter()
        .filter_map(|o| match o.action {
            Action::Place(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// Orders cancelled.
pub fn cancels(outs: &[Output]) -> Vec<ClientOrderId> {
    outs.iter()
        .filter_map(|o| match o.action {
            Action::Cancel { cid, .. } => Some(cid),
            _ => None,
        })
        .collect()
}

/// Status and close type of every executor update.
pub fn closes(outs: &[Output]) -> Vec<(RunStatus, Option<CloseType>)> {
    outs.iter()
        .filter_map(|o| match o.action {
            Action::ExecutorUpdate {
                status, close_type, ..
            } => Some((status, close_type)),
            _ => None,
        })
        .collect()
}

/// Close type of the first executor that terminated.
pub fn closed(outs: &[Output]) -> Option<CloseType> {
    outs.iter().find_map(|o| match o.action {
        Action::ExecutorUpdate {
            status: RunStatus::Terminated,
            close_type,
            ..
        } => close_type,
        _ => None,
    })
}

/// An engine plus the next input sequence number.
pub struct H {
    pub e: Engine,
    pub seq: u64,
}

impl H {
    /// Engine of session `session_id` from a TOML config (seed 1).
    pub fn new(session_id: u32, config: &str) -> H {
        let start = SessionStart {
            session_id,
            seed: 1,
            config: config.into(),
        };
        H {
            e: Engine::new(&start).unwrap(),
            seq: 0,
        }
    }

    /// Applies an event at `ts`; returns its outputs.
    pub fn input(&mut self, ts: u64, event: Event) -> Vec<Output> {
        self.seq += 1;
        let header = Header {
            seq: self.seq,
            ts,
            ..Default::default()
        };
        self.e.apply(&Input { header, event }).to_vec()
    }

    /// Book ticker of instrument 0, 5 on each side.
    pub fn quote(&mut self, ts: u64, bid: &str, ask: &str) -> Vec<Output> {
        self.input(ts, ticker(0, bid, ask, "5"))
    }

    /// `Command::CreateExecutor` of an executor of no controller.
    pub fn create(&mut self, ts: u64, config: ExecutorConfig) -> Vec<Output> {
        self.input(
            ts,
            Event::Command(Command::CreateExecutor {
                controller: u16::MAX,
                config,
            }),
        )
    }

    /// An execution report on instrument 0.
    pub fn report(
        &mut self,
        ts: u64,
        cid: ClientOrderId,
        kind: ExecKind,
        px: Dec,
        qty: Dec,
        fee: &str,
    ) -> Vec<Output> {
        let r = ExecReport {
            cid,
            instrument: 0,
            kind,
            last_px: px,
            last_qty: qty,
            fee: d(fee),
            ..Default::default()
        };
        self.input(ts, Event::Exec(r))
    }

    /// Status of executor `id`, `None` once it is no longer live.
    pub fn status(&self, id: u32) -> Option<RunStatus> {
        self.e.executors.get(id).map(|x| x.core.status)
    }

    /// `Command::StopExecutor`.
    pub fn stop(&mut self, ts: u64, id: u32, keep: bool) -> Vec<Output> {
        self.input(
            ts,
            Event::Command(Command::StopExecutor {
                executor: id,
                keep_position: keep,
            }),
        )
    }
}

/// Drives one executor directly with hand-written execution reports.
pub struct Bench {
    pub eng: Engine,
    pub out: Outbox,
    pub next: u32,
    pub ex: Executor,
    pub seq: u64,
    pub session_id: u32,
}

impl Bench {
    /// Executor 1 (not started) of configuration `cfg`, in an engine of session
    /// `session_id` from a TOML config (seed 1).
    pub fn new(session_id: u32, config: &str, cfg: ExecutorConfig) -> Bench {
        let eng = Engine::new(&SessionStart {
            session_id,
            seed: 1,
            config: config.into(),
        })
        .unwrap();
        let core = ExecutorCore {
            id: 1,
            controller: 0,
            level: u16::MAX,
            status: RunStatus::NotStarted,
            close_type: None,
            created_ts: 0,
            close_ts: 0,
            retries: 0,
        };
        let ex = Executor {
            core,
            kind: cfg.build(),
        };
        Bench {
            eng,
            out: Outbox::with_capacity(64),
            next: 1,
            ex,
            seq: 0,
            session_id,
        }
    }

    /// Runs `f` on the executor at `ts`; returns what it output.
    pub fn run(&mut self, ts: u64, f: impl FnOnce(&mut Executor, &mut Ctx)) -> Vec<Output> {
        self.out.items.clear();
        let mut ctx = Ctx {
            now: ts,
            session_id: self.session_id,
            instruments: &self.eng.instruments,
            books: &self.eng.books,
            orders: &mut self.eng.orders,
            portfolio: &mut self.eng.portfolio,
            out: &mut self.out,
            next_order: &mut self.next,
            risk: &mut Default::default(),
        };
        f(&mut self.ex, &mut ctx);
        self.out.items.clone()
    }

    /// Updates the book of `inst` (10 on each side), then runs a control step if the
    /// executor has started.
    pub fn quote(&mut self, ts: u64, inst: InstrumentId, bid: &str, ask: &str) -> Vec<Output> {
        self.seq += 1;
        let header = Header {
            seq: self.seq,
            ts,
            ..Default::default()
        };
        self.eng.apply(&Input {
            header,
            event: ticker(inst, bid, ask, "10"),
        });
        if self.ex.core.status == RunStatus::NotStarted {
            return Vec::new();
        }
        self.run(ts, |e, c| e.control(c))
    }

    /// Applies an execution report to the order book, then hands the order event to the
    /// executor.
    pub fn report(
        &mut self,
        ts: u64,
        cid: ClientOrderId,
        kind: ExecKind,
        px: &str,
        qty: &str,
        fee: &str,
    ) -> Vec<Output> {
        let r = ExecReport {
            cid,
            kind,
            last_px: d(px),
            last_qty: d(qty),
            fee: d(fee),
            ..Default::default()
        };
        let (o, ev) = self.eng.orders.apply(&r).unwrap();
        self.run(ts, |e, c| e.on_order(c, &o, &ev))
    }
}
