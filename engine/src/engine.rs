//! The engine: applies one input at a time and returns the outputs it caused.

use crate::book::Book;
use crate::config::{interval_seconds, Config, ConfigError};
use crate::controllers::copy_trading::CopyTradingController;
use crate::controllers::{
    ControllerAction, ControllerField, ControllerKind, ControllerView, ExecutorInfo, Registry,
    Scratch, UpdateError,
};
use crate::copy_trading::{Decision, RejectReasonCode};
use crate::events::{
    Action, AlertCode, CloseType, Command, Event, ExecKind, Input, Output, RunStatus, SessionStart,
    SignalOutcome,
};
use crate::executors::{
    Ctx, ExecutionStrategy, Executor, ExecutorConfig, ExecutorCore, OrderExecutorConfig, Outbox,
    OutputSink,
};
use crate::market_data::{CandleSeries, MarketData};
use crate::num::Dec;
use crate::orders::{Order, OrderEvent, OrderManager, TransitionError};
use crate::portfolio::{Portfolio, Position};
use crate::report::{report, Performance, Report};
use crate::risk::Risk;
use crate::signal::Signal;
use crate::types::{ClientOrderId, Instrument, InstrumentId, PositionAction, Side};
use std::collections::VecDeque;

mod kill_switch;

/// After a Stop, executors that make no progress for this long are forced to stop.
const STOP_STALL_NS: u64 = 20_000_000_000;
/// After a Stop, executors still alive this long after it are forced to stop.
const STOP_TOTAL_NS: u64 = 30_000_000_000;
/// Terminated executors kept (visible in reports, storable) before the oldest is
/// stored automatically, as Hummingbot's strategy stores done executors beyond the
/// newest 100.
pub const DONE_KEPT: usize = 100;

/// Counters shown in summaries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Inputs applied.
    pub inputs: u64,
    /// Outputs emitted.
    pub outputs: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// Reject reports.
    pub rejects: u64,
    /// Alerts emitted, all codes (risk refusals included).
    pub alerts: u64,
}

/// Executor boxes made when the engine is built and kept for reuse: enough for the
/// done list and the live executors of a typical session, so creating an executor
/// allocates nothing (a session with more live executors allocates the extra boxes
/// once, and keeps up to this many for reuse).
const POOL_KEPT: usize = DONE_KEPT + 32;

/// Executors in a slab with stable, deterministic ids. Each executor lives in a box
/// that moves, pointer-sized, from its slot to the done list and back to a pool of
/// reusable boxes once stored: terminating one copies no executor state.
#[derive(Debug)]
pub struct Executors {
    slots: Vec<Option<Box<Executor>>>,
    free: Vec<u32>,
    next_id: u32,
    /// Terminated executors not stored yet, oldest first.
    done: VecDeque<Box<Executor>>,
    /// Boxes of stored executors, reused by the next ones created.
    #[allow(clippy::vec_box)] // boxes move between slots, done list and pool by pointer
    pool: Vec<Box<Executor>>,
}

impl Executors {
    fn slot_of(&self, id: u32) -> Option<usize> {
        // Ids are handed out in order and a slot keeps its executor until it closes,
        // so a linear scan over the few live executors is cheap and allocation-free.
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|e| e.core.id == id))
    }

    /// The live executor with this id.
    pub fn get(&self, id: u32) -> Option<&Executor> {
        self.slot_of(id).and_then(|s| self.slots[s].as_deref())
    }

    /// Places a new executor in a free slot, built in a pooled box when one is left
    /// (in place: no executor-sized value is moved).
    fn insert(&mut self, core: ExecutorCore, config: &ExecutorConfig) -> usize {
        let boxed = match self.pool.pop() {
            Some(mut b) => {
                b.core = core;
                config.build_into(&mut b.kind);
                b
            }
            None => Box::new(Executor {
                core,
                kind: config.build(),
            }),
        };
        match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(boxed);
                s as usize
            }
            None => {
                self.slots.push(Some(boxed));
                self.slots.len() - 1
            }
        }
    }

    /// A slab with [`POOL_KEPT`] executor boxes ready for reuse.
    fn with_pool() -> Executors {
        let blank = || {
            Box::new(Executor {
                core: ExecutorCore {
                    id: 0,
                    controller: 0,
                    level: 0,
                    status: RunStatus::Terminated,
                    close_type: None,
                    created_ts: 0,
                    close_ts: 0,
                    retries: 0,
                },
                kind: ExecutorConfig::Order(OrderExecutorConfig {
                    instrument: 0,
                    side: Side::Buy,
                    amount: Dec::ZERO,
                    strategy: ExecutionStrategy::Limit,
                    price: Dec::ZERO,
                    position_action: PositionAction::Open,
                })
                .build(),
            })
        };
        Executors {
            slots: Vec::with_capacity(256),
            free: Vec::with_capacity(256),
            next_id: 1,
            done: VecDeque::with_capacity(DONE_KEPT + 1),
            pool: (0..POOL_KEPT).map(|_| blank()).collect(),
        }
    }

    /// Keeps the box of a stored executor for the next one created.
    fn recycle(&mut self, b: Box<Executor>) {
        if self.pool.len() < POOL_KEPT {
            self.pool.push(b);
        }
    }

    /// Live executors in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Executor> {
        self.slots.iter().flatten().map(|b| &**b)
    }

    /// Number of live executors.
    pub fn live(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Terminated executors not stored yet, oldest first.
    pub fn done(&self) -> impl Iterator<Item = &Executor> {
        self.done.iter().map(|b| &**b)
    }
}

pub use crate::controllers::Controller;

/// The deterministic state machine.
pub struct Engine {
    /// Session id.
    pub session_id: u32,
    /// Seed from the journal.
    pub seed: u64,
    /// Parsed configuration.
    pub config: Config,
    /// Event time of the last input (never decreases).
    pub now: u64,
    /// Instruments by id.
    pub instruments: Vec<Instrument>,
    /// Books by instrument id.
    pub books: Vec<Book>,
    /// Live orders.
    pub orders: OrderManager,
    /// Balances and positions.
    pub portfolio: Portfolio,
    /// Executors.
    pub executors: Executors,
    /// Controllers by index.
    pub controllers: Vec<Controller>,
    /// Paused controllers.
    pub paused: Vec<bool>,
    /// Performance by controller index; the last entry is "main" (executors created by hand).
    pub performance: Vec<Performance>,
    /// Counters.
    pub stats: Stats,
    /// True after a Stop command.
    pub stopped: bool,
    /// Candle series from `[[candles]]`.
    pub candles: Vec<CandleSeries>,
    /// Pre-trade risk limits and the kill switch.
    pub risk: Risk,
    next_order: u32,
    stop_ts: Option<u64>,
    last_progress_ts: u64,
    progress_mark: u64,
    out: Outbox,
    ctl: Scratch,
    /// Declared initial positions not created yet: controller, instrument, side, amount.
    initial: Vec<(u16, InstrumentId, Side, Dec)>,
    /// Controllers that declare initial positions (stored positions are ignored).
    declares_initial: Vec<bool>,
    /// Scratch list of order ids (cancel-all, forced stop); keeps its capacity.
    cids: Vec<ClientOrderId>,
    /// The order an execution report just updated, as executors see it.
    exec_order: Order,
}

impl Engine {
    /// Builds the engine a session start describes.
    pub fn new(start: &SessionStart) -> Result<Engine, ConfigError> {
        let config = Config::from_toml(&start.config)?;
        Engine::with_config(start.session_id, start.seed, config)
    }

    /// Builds an engine from a parsed configuration (generic controllers from the
    /// built-in [`Registry`]).
    pub fn with_config(session_id: u32, seed: u64, config: Config) -> Result<Engine, ConfigError> {
        Engine::with_registry(session_id, seed, config, &Registry::builtin())
    }

    /// Builds an engine whose generic controllers come from `registry`.
    pub fn with_registry(
        session_id: u32,
        seed: u64,
        config: Config,
        registry: &Registry,
    ) -> Result<Engine, ConfigError> {
        config.validate()?;
        let mut portfolio = Portfolio::default();
        let mut instruments = Vec::new();
        for (i, spec) in config.instruments.iter().enumerate() {
            let base = portfolio.asset_id(&spec.base);
            let quote = portfolio.asset_id(&spec.quote);
            instruments.push(Instrument::new(
                i as InstrumentId,
                spec.clone(),
                base,
                quote,
            ));
        }
        for (asset, amount) in &config.balances {
            let id = portfolio.asset_id(asset);
            portfolio.balances[id as usize].total = *amount;
        }
        portfolio.positions = vec![Position::default(); instruments.len()];
        let mut controllers = Vec::new();
        let mut initial = Vec::new();
        let mut declares_initial = Vec::new();
        for (ci, c) in config.controllers.iter().enumerate() {
            let declared = c.initial_positions();
            declares_initial.push(!declared.is_empty());
            for p in declared {
                let id = instruments
                    .iter()
                    .position(|i| i.spec.symbol == p.instrument)
                    .ok_or_else(|| ConfigError(format!("unknown instrument {}", p.instrument)))?;
                initial.push((ci as u16, id as InstrumentId, p.side.side(), p.amount));
            }
            controllers.push(Controller::build(c, &config, &instruments, registry)?);
        }
        let mut candles = Vec::new();
        for c in &config.candles {
            let id = instruments
                .iter()
                .position(|i| i.spec.symbol == c.instrument)
                .unwrap_or(0) as InstrumentId;
            candles.push(CandleSeries::new(
                id,
                interval_seconds(&c.interval)?,
                c.source,
                c.max_records,
            ));
        }
        let n = controllers.len();
        Ok(Engine {
            session_id,
            seed,
            now: 0,
            books: instruments
                .iter()
                .map(|i| Book::with_tick(i.tick))
                .collect(),
            instruments,
            orders: OrderManager::default(),
            portfolio,
            executors: Executors::with_pool(),
            controllers,
            paused: vec![false; n],
            performance: vec![Performance::default(); n + 1],
            stats: Stats::default(),
            stopped: false,
            candles,
            risk: Risk::new(&config.risk, &config.instruments),
            next_order: 1,
            stop_ts: None,
            last_progress_ts: 0,
            progress_mark: 0,
            out: Outbox::with_capacity(256),
            ctl: Scratch::with_capacity(256),
            initial,
            declares_initial,
            cids: Vec::with_capacity(256),
            exec_order: Default::default(),
            config,
        })
    }

    /// Hands every output to `sink` as it is pushed, from the next [`Engine::apply`]
    /// on (`None`: no longer); returns the sink it replaces. Outputs are the same
    /// either way.
    pub fn set_output_sink(
        &mut self,
        sink: Option<Box<dyn OutputSink>>,
    ) -> Option<Box<dyn OutputSink>> {
        std::mem::replace(&mut self.out.sink, sink)
    }

    /// Applies one input and returns the outputs it caused (valid until the next call).
    #[inline]
    pub fn apply(&mut self, input: &Input) -> &[Output] {
        self.apply_as(input.header.seq, input)
    }

    /// [`Engine::apply`] of `input` as input number `seq`, whatever its header's
    /// `seq` says: the live runtime numbers inputs as the engine consumes them, and
    /// applies each where it lies in the ring instead of copying it out to number it.
    pub fn apply_as(&mut self, seq: u64, input: &Input) -> &[Output] {
        self.out.items.clear();
        if let Some(sink) = self.out.sink.as_mut() {
            sink.input(&input.header);
        }
        self.now = self.now.max(input.header.ts);
        self.out.cause = seq;
        self.out.ts = self.now;
        self.stats.inputs += 1;
        match &input.event {
            Event::None | Event::SessionStart(_) | Event::Balance(_) => {}
            Event::Signal(s) => self.on_signal(s),
            Event::BookTicker(t) => {
                if let Some(book) = self.books.get_mut(t.instrument as usize) {
                    book.on_ticker(t);
                    self.on_market(t.instrument);
                } else {
                    self.alert(AlertCode::UnknownInstrument);
                }
            }
            Event::Depth(d) => {
                if let Some(book) = self.books.get_mut(d.instrument as usize) {
                    let was_synced = book.sync.synced;
                    let applied = book.on_depth(d);
                    if was_synced && !book.sync.synced {
                        self.alert(AlertCode::BookGap);
                    }
                    if applied && d.last_chunk {
                        self.on_market(d.instrument);
                    }
                } else {
                    self.alert(AlertCode::UnknownInstrument);
                }
            }
            Event::Trade(t) => match self.books.get_mut(t.instrument as usize) {
                Some(book) => {
                    book.on_trade(t);
                    for c in &mut self.candles {
                        c.on_trade(self.now, t);
                    }
                }
                None => self.alert(AlertCode::UnknownInstrument),
            },
            Event::Kline(k) => {
                if (k.instrument as usize) >= self.books.len() {
                    self.alert(AlertCode::UnknownInstrument);
                }
                for c in &mut self.candles {
                    c.on_kline(k);
                }
            }
            Event::Exec(r) => self.on_exec(r),
            Event::Timer(_) => self.on_timer(),
            Event::Command(c) => self.on_command(*c),
        }
        if let Event::Balance(b) = &input.event {
            if let Some(bal) = self.portfolio.balances.get_mut(b.asset as usize) {
                bal.total = b.total;
            }
        }
        self.stats.outputs += self.out.items.len() as u64;
        // Every alert counts, wherever it was raised (engine, executors' risk and
        // balance refusals, controllers): the outbox counts them as they are pushed.
        self.stats.alerts = self.out.alerts;
        &self.out.items
    }

    fn alert(&mut self, code: AlertCode) {
        self.out.alert(code, Default::default());
    }

    fn ctx_and_executors(&mut self) -> (Ctx<'_>, &mut Executors) {
        let (ctx, executors, _) = self.ctx_executors_and_order();
        (ctx, executors)
    }

    /// The executors' context, the executors, and the order the last execution report
    /// updated (`exec_order`), borrowed apart.
    fn ctx_executors_and_order(&mut self) -> (Ctx<'_>, &mut Executors, &Order) {
        (
            Ctx {
                now: self.now,
                session_id: self.session_id,
                instruments: &self.instruments,
                books: &self.books,
                orders: &mut self.orders,
                portfolio: &mut self.portfolio,
                out: &mut self.out,
                next_order: &mut self.next_order,
                risk: &mut self.risk,
            },
            &mut self.executors,
            &self.exec_order,
        )
    }

    fn on_market(&mut self, instrument: InstrumentId) {
        if !self.initial.is_empty() {
            self.create_initial_positions(instrument);
        }
        // Executors of the instrument take a control step, then its controllers decide.
        for slot in 0..self.executors.slots.len() {
            let runs = self.executors.slots[slot]
                .as_ref()
                .is_some_and(|e| e.trades(instrument) && e.core.status != RunStatus::Terminated);
            if runs {
                let (mut ctx, ex) = self.ctx_and_executors();
                if let Some(e) = ex.slots[slot].as_mut() {
                    e.control(&mut ctx);
                }
                self.after_executor(slot);
            }
        }
        for c in 0..self.controllers.len() {
            if self.controllers[c].base.uses(instrument) {
                self.run_controller(c);
            }
        }
    }

    /// Creates the declared initial positions of `instrument` once it has a mid.
    fn create_initial_positions(&mut self, instrument: InstrumentId) {
        let Some(mid) = self.books[instrument as usize].mid() else {
            return;
        };
        let perf = &mut self.performance;
        self.initial.retain(|&(c, inst, side, amount)| {
            if inst != instrument {
                return true;
            }
            if let Some(p) = perf.get_mut(c as usize) {
                p.initial(inst, side, amount, mid);
            }
            false
        });
    }

    fn on_timer(&mut self) {
        for slot in 0..self.executors.slots.len() {
            if self.executors.slots[slot].is_some() {
                let (mut ctx, ex) = self.ctx_and_executors();
                if let Some(e) = ex.slots[slot].as_mut() {
                    e.control(&mut ctx);
                }
                self.after_executor(slot);
            }
        }
        for c in 0..self.controllers.len() {
            self.run_controller(c);
        }
        self.force_stalled_stop();
    }

    /// A fingerprint of the live executors' states; it changes whenever any executor
    /// makes progress (status or close type changes, executors finish).
    fn progress_signature(&self) -> u64 {
        self.executors
            .iter()
            .fold(self.executors.live() as u64, |acc, e| {
                let close = e.core.close_type.map_or(0, |c| c as u64);
                acc.wrapping_mul(1_000_003)
                    .wrapping_add(((e.core.id as u64) << 8) ^ ((e.core.status as u64) << 4) ^ close)
            })
    }

    /// After a Stop (Hummingbot's orchestrator `stop()` with 10 attempts): executors
    /// that make no progress for 20 s of event time, or are still alive 30 s after the
    /// stop, are forced to stop: their orders are cancelled and they close as
    /// POSITION_HOLD when they hold fills, FAILED otherwise.
    fn force_stalled_stop(&mut self) {
        let Some(stop_ts) = self.stop_ts else { return };
        if self.executors.live() == 0 {
            return;
        }
        let sig = self.progress_signature();
        if sig != self.progress_mark {
            self.progress_mark = sig;
            self.last_progress_ts = self.now;
        }
        let stalled = self.now.saturating_sub(self.last_progress_ts) >= STOP_STALL_NS;
        let overdue = self.now.saturating_sub(stop_ts) >= STOP_TOTAL_NS;
        if !stalled && !overdue {
            return;
        }
        for slot in 0..self.executors.slots.len() {
            let Some(id) = self.executors.slots[slot].as_ref().map(|e| e.core.id) else {
                continue;
            };
            self.cids.clear();
            self.cids.extend(
                self.orders
                    .iter()
                    .filter(|o| o.executor == id && o.is_open())
                    .map(|o| o.req.cid),
            );
            for n in 0..self.cids.len() {
                let cid = self.cids[n];
                let (mut ctx, _) = self.ctx_and_executors();
                ctx.cancel(cid);
            }
            let now = self.now;
            let books = &self.books;
            if let Some(e) = self.executors.slots[slot].as_mut() {
                let held = e.filled_amount_quote(books).raw() > 0;
                e.core.close(
                    now,
                    if held {
                        CloseType::PositionHold
                    } else {
                        CloseType::Failed
                    },
                );
            }
            self.after_executor(slot);
        }
    }

    /// One control step of controller `c` if it is due (its update interval passed),
    /// then its actions in order.
    fn run_controller(&mut self, c: usize) {
        if self.stopped || self.paused[c] || !self.controllers[c].base.due(self.now) {
            return;
        }
        self.snapshot_executors(c);
        self.ctl.actions.clear();
        let view = ControllerView {
            now: self.now,
            controller: c as u16,
            instruments: &self.instruments,
            books: &self.books,
            candles: &self.candles,
            portfolio: &self.portfolio,
            executors: &self.ctl.infos,
            closed: &[],
            performance: self.performance.get(c),
        };
        self.controllers[c].step(view, &mut self.ctl.actions);
        // The actions are read in place (a create carries a whole executor config):
        // the list is lent out for the loop and handed back, capacity kept.
        let actions = std::mem::take(&mut self.ctl.actions);
        for action in &actions {
            match action {
                ControllerAction::Create { level, config } => {
                    let id = self.create_executor(c as u16, *level, config);
                    if let Some(slot) = self.executors.slot_of(id) {
                        self.after_executor(slot);
                    }
                }
                &ControllerAction::Stop {
                    executor,
                    keep_position,
                } => {
                    // A controller may only stop its own executors.
                    let own = self
                        .executors
                        .get(executor)
                        .is_some_and(|e| e.core.controller as usize == c);
                    if own {
                        self.stop_executor(executor, keep_position);
                    }
                }
            }
        }
        self.ctl.actions = actions;
    }

    /// Fills the scratch list with snapshots of controller `c`'s live executors.
    fn snapshot_executors(&mut self, c: usize) {
        self.ctl.infos.clear();
        for e in self.executors.iter() {
            if e.core.controller as usize == c {
                self.ctl.infos.push(ExecutorInfo::of(e, &self.books));
            }
        }
    }

    /// A copy-trading signal: the controller listening to its source decides, and the
    /// engine opens or stops the position executor; the decision is an output.
    fn on_signal(&mut self, s: &Signal) {
        for c in 0..self.controllers.len() {
            let ControllerKind::CopyTrading(ct) = &self.controllers[c].kind else {
                continue;
            };
            if ct.logic.source() != s.source {
                continue;
            }
            self.snapshot_executors(c);
            let mid = self
                .books
                .get(s.instrument as usize)
                .filter(|b| b.is_ready())
                .and_then(|b| b.mid());
            let inst = self.instruments.get(s.instrument as usize);
            let available = inst.map_or(Dec::ZERO, |i| self.portfolio.balance(i.quote).available());
            let leverage = inst.map_or(1, |i| i.spec.leverage);
            // A stopped engine or an engaged kill switch takes no signal; a paused
            // controller still closes.
            let inactive = self.stopped
                || self.risk.killed()
                || (self.paused[c] && s.action == crate::SignalAction::Open);
            let ControllerKind::CopyTrading(ct) = &mut self.controllers[c].kind else {
                continue;
            };
            let decision = if inactive {
                ct.reject(RejectReasonCode::Inactive);
                Decision::Reject(RejectReasonCode::Inactive)
            } else {
                ct.decide(s, &self.ctl.infos, mid, available)
            };
            let (controller, signal, instrument) = (c as u16, s.id, s.instrument);
            let decided = |outcome| Action::SignalDecision {
                controller,
                signal,
                instrument,
                outcome,
            };
            match decision {
                Decision::Open { .. } => {
                    let Some(cfg) = CopyTradingController::position_config(&decision, leverage)
                    else {
                        continue;
                    };
                    let executor = self.executors.next_id;
                    ct.opened(&decision, executor);
                    self.out.push(decided(SignalOutcome::Opened { executor }));
                    let id = self.create_executor(controller, 0, &ExecutorConfig::Position(cfg));
                    if let Some(slot) = self.executors.slot_of(id) {
                        self.after_executor(slot);
                    }
                }
                Decision::Close { executor_id } => {
                    self.out.push(decided(SignalOutcome::Closed {
                        executor: executor_id,
                    }));
                    self.stop_executor(executor_id, false);
                }
                Decision::Reject(r) => self.out.push(decided(SignalOutcome::Rejected(r))),
            }
        }
    }

    /// `Command::UpdateController`: applies the update, or emits an alert saying why not.
    fn update_controller(&mut self, controller: u16, field: ControllerField, value: Dec) {
        let code = match self.controllers.get_mut(controller as usize) {
            None => AlertCode::UnknownController,
            Some(ctl) => match ctl.update(field, value) {
                Ok(()) => return,
                Err(UpdateError::NotUpdatable) => AlertCode::FieldNotUpdatable,
                Err(UpdateError::InvalidValue) => AlertCode::InvalidFieldValue,
            },
        };
        self.alert(code);
    }

    /// Creates and starts an executor (a first control step runs at once, so its first
    /// order leaves in the same `apply`). Returns its id. Controller indexes past the
    /// configured controllers count under "main" (executors created by hand).
    fn create_executor(&mut self, controller: u16, level: u16, config: &ExecutorConfig) -> u32 {
        let id = self.executors.next_id;
        self.executors.next_id += 1;
        let controller = controller.min(self.controllers.len() as u16);
        let core = ExecutorCore {
            id,
            controller,
            level,
            status: RunStatus::NotStarted,
            close_type: None,
            created_ts: self.now,
            close_ts: 0,
            retries: 0,
        };
        let slot = self.executors.insert(core, config);
        if let Some(p) = self.performance.get_mut(controller as usize) {
            p.created += 1;
        }
        let (mut ctx, ex) = self.ctx_and_executors();
        if let Some(e) = ex.slots[slot].as_mut() {
            e.start(&mut ctx);
        }
        id
    }

    fn stop_executor(&mut self, id: u32, keep_position: bool) {
        let Some(slot) = self.executors.slot_of(id) else {
            if !self.executors.done.iter().any(|e| e.core.id == id) {
                self.alert(AlertCode::UnknownExecutor);
            }
            return;
        };
        let (mut ctx, ex) = self.ctx_and_executors();
        if let Some(e) = ex.slots[slot].as_mut() {
            e.early_stop(&mut ctx, keep_position);
        }
        self.after_executor(slot);
    }

    /// Emits the executor's status change and, once terminated, frees its slot: a
    /// held position joins its controller's buckets, and the executor stays among the
    /// done ones until stored (by command, or automatically past [`DONE_KEPT`]).
    #[inline]
    fn after_executor(&mut self, slot: usize) {
        // Most calls find it still running: that check stays inline, the rest not.
        if self.executors.slots[slot]
            .as_ref()
            .is_some_and(|e| e.core.status == RunStatus::Terminated)
        {
            self.retire_executor(slot);
        }
    }

    /// `after_executor` for an executor that has terminated.
    #[inline(never)]
    fn retire_executor(&mut self, slot: usize) {
        let Some(e) = self.executors.slots[slot].take() else {
            return;
        };
        self.out.push(Action::ExecutorUpdate {
            executor: e.core.id,
            controller: e.core.controller,
            status: e.core.status,
            close_type: e.core.close_type,
        });
        let c = e.core.controller as usize;
        self.executors.free.push(slot as u32);
        let market = self.instruments[e.instrument() as usize].spec.market;
        if let Some(p) = self.performance.get_mut(c) {
            p.hold(&e, market);
        }
        if let Some(ctl) = self.controllers.get_mut(c) {
            ctl.on_closed(ExecutorInfo::of(&e, &self.books));
        }
        self.executors.done.push_back(e);
        if self.executors.done.len() > DONE_KEPT {
            if let Some(old) = self.executors.done.pop_front() {
                self.store(old);
            }
        }
    }

    /// Folds a terminated executor into its controller's cached performance.
    fn store(&mut self, e: Box<Executor>) {
        if let Some(p) = self.performance.get_mut(e.core.controller as usize) {
            p.store(&e, &self.books);
        }
        self.executors.recycle(e);
    }

    /// Hummingbot's StoreExecutorAction: a terminated executor is folded in and
    /// forgotten; a live one (running or shutting down) is kept, with an alert.
    fn store_executor(&mut self, id: u32) {
        if self.executors.slot_of(id).is_some() {
            self.alert(AlertCode::StoreRefused);
            return;
        }
        match self.executors.done.iter().position(|e| e.core.id == id) {
            Some(i) => {
                if let Some(e) = self.executors.done.remove(i) {
                    self.store(e);
                }
            }
            None => self.alert(AlertCode::UnknownExecutor),
        }
    }

    fn on_exec(&mut self, r: &crate::events::ExecReport) {
        if r.kind == ExecKind::Rejected {
            self.stats.rejects += 1;
        }
        let ev = match self.orders.apply_into(r, &mut self.exec_order) {
            Ok(ev) => ev,
            Err(TransitionError::UnknownOrder) => {
                // A cancel refused for an order that already finished is the normal
                // end of a cancel/fill race, not an anomaly.
                if r.kind != ExecKind::CancelRejected {
                    self.out.alert(AlertCode::UnknownOrder, r.cid);
                }
                return;
            }
            Err(TransitionError::Invalid) => {
                self.out.alert(AlertCode::InvalidTransition, r.cid);
                return;
            }
        };
        let order = &self.exec_order;
        let inst = &self.instruments[order.req.instrument as usize];
        let asset = Portfolio::reserved_asset(inst, order.req.side);
        match ev {
            OrderEvent::Filled {
                last_px,
                last_qty,
                fee,
                ..
            } => {
                // Release what this fill used of the reservation.
                let used = Portfolio::reservation_used(
                    inst,
                    order.req.side,
                    order.req.price,
                    last_px,
                    last_qty,
                );
                let released = used.min(order.locked);
                self.portfolio.unlock(asset, released);
                self.orders
                    .set_locked(order.req.cid, order.locked - released);
                let inst = &self.instruments[order.req.instrument as usize];
                self.portfolio
                    .apply_fill(inst, order.req.side, last_px, last_qty, fee);
                if order.state.is_terminal() {
                    self.portfolio.unlock(asset, order.locked - released);
                }
            }
            OrderEvent::Canceled | OrderEvent::Failed(_) => {
                self.portfolio.unlock(asset, order.locked)
            }
            OrderEvent::Created | OrderEvent::CancelRejected => {}
        }
        let Some(slot) = self.executors.slot_of(order.executor) else {
            return;
        };
        // The executor reads the order where `apply_into` left it.
        let (mut ctx, ex, order) = self.ctx_executors_and_order();
        if let Some(e) = ex.slots[slot].as_mut() {
            e.on_order(&mut ctx, order, &ev);
        }
        self.after_executor(slot);
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Stop => {
                self.stopped = true;
                self.stop_ts = Some(self.now);
                self.last_progress_ts = self.now;
                for slot in 0..self.executors.slots.len() {
                    // An executor already shutting down is not early-stopped again.
                    let running = self.executors.slots[slot]
                        .as_ref()
                        .is_some_and(|e| e.core.status != RunStatus::ShuttingDown);
                    if running {
                        let (mut ctx, ex) = self.ctx_and_executors();
                        if let Some(e) = ex.slots[slot].as_mut() {
                            e.early_stop(&mut ctx, false);
                        }
                        self.after_executor(slot);
                    }
                }
                self.progress_mark = self.progress_signature();
                self.out.push(Action::Stopped);
            }
            Command::CancelAll => {
                self.cids.clear();
                self.cids.extend(self.orders.iter().map(|o| o.req.cid));
                for n in 0..self.cids.len() {
                    let cid = self.cids[n];
                    let (mut ctx, _) = self.ctx_and_executors();
                    if ctx.cancel(cid) {
                        self.stats.cancels += 1;
                    }
                }
            }
            Command::CreateExecutor { .. } if self.risk.killed() => {
                self.alert(AlertCode::KillSwitchActive)
            }
            Command::CreateExecutor { config, .. }
                if config
                    .instruments()
                    .iter()
                    .any(|&i| i as usize >= self.instruments.len()) =>
            {
                self.alert(AlertCode::UnknownInstrument)
            }
            Command::CreateExecutor { controller, config } => {
                if !self.stopped {
                    let id = self.create_executor(controller, u16::MAX, &config);
                    if let Some(slot) = self.executors.slot_of(id) {
                        self.after_executor(slot);
                    }
                }
            }
            Command::StopExecutor {
                executor,
                keep_position,
            } => self.stop_executor(executor, keep_position),
            Command::StoreExecutor { executor } => self.store_executor(executor),
            Command::LoadPosition {
                controller,
                instrument,
                side,
                net,
                entry,
                realized,
                fees,
                volume,
            } => {
                let c = controller.min(self.controllers.len() as u16) as usize;
                let declared = self.declares_initial.get(c).copied().unwrap_or(false);
                if declared || instrument as usize >= self.instruments.len() {
                    self.alert(AlertCode::PositionIgnored);
                    return;
                }
                let p = Position {
                    net,
                    entry,
                    realized,
                    fees,
                    volume,
                    fills: 0,
                };
                self.performance[c].load(instrument, side, p);
            }
            Command::PauseController(i) | Command::ResumeController(i) => {
                if let Some(p) = self.paused.get_mut(i as usize) {
                    *p = matches!(c, Command::PauseController(_));
                }
            }
            Command::UpdateController {
                controller,
                field,
                value,
            } => self.update_controller(controller, field, value),
            Command::KillSwitch => self.kill_switch(),
        }
    }

    /// Performance report of a controller (index; the last index is "main").
    pub fn report(&self, controller: usize) -> Report {
        let perf = self
            .performance
            .get(controller)
            .cloned()
            .unwrap_or_default();
        let executors = self
            .executors
            .iter()
            .chain(self.executors.done())
            .filter(|e| e.core.controller as usize == controller);
        report(&perf, executors, &self.books)
    }

    /// Names of the report buckets: controller ids, then "main".
    pub fn report_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .controllers
            .iter()
            .map(|c| c.id().to_string())
            .collect();
        v.push("main".into());
        v
    }

    /// Market-data getters over the current state.
    pub fn market_data(&self) -> MarketData<'_> {
        MarketData {
            instruments: &self.instruments,
            books: &self.books,
            candles: &self.candles,
            portfolio: &self.portfolio,
        }
    }

    /// Pnl of an instrument's position in quote: realized − fees + unrealized at mid.
    pub fn pnl(&self, instrument: InstrumentId) -> Dec {
        let p = &self.portfolio.positions[instrument as usize];
        let mark = self.books[instrument as usize].mid().unwrap_or(p.entry);
        p.realized - p.fees + p.unrealized(mark)
    }
}
