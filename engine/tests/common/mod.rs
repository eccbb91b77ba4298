//! Test harness shared by the engine's integration tests: an engine driven through
//! `apply` with hand-written market data and execution reports, and a counting global
//! allocator for the allocation tests.
#![allow(dead_code)]

use kestrel_engine::controllers::{ControllerField, ControllerKind};
use kestrel_engine::executors::{ExecutorConfig, ExecutorKind};
use kestrel_engine::*;
pub mod counting;

/// One second in ns.
pub const S: u64 = 1_000_000_000;
/// One minute in ns.
pub const M: u64 = 60 * S;

/// Parses a decimal.
pub fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

/// An engine plus the next input sequence number; records every input and output.
pub struct H {
    pub e: Engine,
    pub seq: u64,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
}

impl H {
    /// Engine of session 7 from a TOML config (built-in registry).
    pub fn new(config: &str) -> H {
        H::session(7, config)
    }

    /// Engine of session `session_id` (the prefix of its order ids) from a TOML config
    /// (built-in registry).
    pub fn session(session_id: u32, config: &str) -> H {
        let start = SessionStart {
            session_id,
            seed: 1,
            config: config.into(),
        };
        H::with_engine(Engine::new(&start).unwrap())
    }

    /// Harness around an engine.
    pub fn with_engine(e: Engine) -> H {
        H {
            e,
            seq: 0,
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Applies an event at `ts`; returns its outputs.
    pub fn input(&mut self, ts: u64, event: Event) -> Vec<Output> {
        self.seq += 1;
        let input = Input {
            header: Header {
                seq: self.seq,
                ts,
                ..Default::default()
            },
            event,
        };
        let outs = self.e.apply(&input).to_vec();
        self.inputs.push(input);
        self.outputs.extend_from_slice(&outs);
        outs
    }

    /// Book ticker of instrument `i`, 100 on each side.
    pub fn quote(&mut self, ts: u64, i: InstrumentId, bid: &str, ask: &str) -> Vec<Output> {
        self.ticker(ts, i, bid, ask, "100")
    }

    /// Book ticker of instrument `i`, `qty` on each side.
    pub fn ticker(
        &mut self,
        ts: u64,
        i: InstrumentId,
        bid: &str,
        ask: &str,
        qty: &str,
    ) -> Vec<Output> {
        let t = BookTicker {
            instrument: i,
            bid_px: d(bid),
            bid_qty: d(qty),
            ask_px: d(ask),
            ask_qty: d(qty),
            update_id: 0,
        };
        self.input(ts, Event::BookTicker(t))
    }

    /// A kline of instrument `i` (interval `interval_s`) opening at `open_ts`.
    pub fn kline(
        &mut self,
        ts: u64,
        i: InstrumentId,
        interval_s: u32,
        open_ts: u64,
        hlc: (&str, &str, &str),
    ) -> Vec<Output> {
        let k = Kline {
            instrument: i,
            interval_s,
            open_ts,
            open: d(hlc.2),
            high: d(hlc.0),
            low: d(hlc.1),
            close: d(hlc.2),
            closed: true,
            ..Default::default()
        };
        self.input(ts, Event::Kline(k))
    }

    /// 1-minute klines with these closes (high = low = close), the first opening at
    /// `first_open`, all applied at `ts`.
    pub fn closes(&mut self, ts: u64, i: InstrumentId, first_open: u64, closes: &[&str]) {
        for (n, c) in closes.iter().enumerate() {
            self.kline(ts, i, 60, first_open + n as u64 * M, (c, c, c));
        }
    }

    /// An execution report without a fee.
    pub fn report(
        &mut self,
        ts: u64,
        cid: ClientOrderId,
        kind: ExecKind,
        px: &str,
        qty: &str,
    ) -> Vec<Output> {
        self.report_fee(ts, cid, kind, px, qty, "0")
    }

    /// An execution report with a fee (quote).
    pub fn report_fee(
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
        self.input(ts, Event::Exec(r))
    }

    /// Ack then full fill of `p` at `px`.
    pub fn fill(&mut self, ts: u64, p: &PlaceOrder, px: &str) -> Vec<Output> {
        self.report(ts, p.cid, ExecKind::Ack, "0", "0");
        let qty = p.qty.to_string();
        self.report(ts, p.cid, ExecKind::Fill, px, &qty)
    }

    /// A timer input.
    pub fn timer(&mut self, ts: u64) -> Vec<Output> {
        self.input(ts, Event::Timer(0))
    }

    /// An operator command.
    pub fn command(&mut self, ts: u64, c: Command) -> Vec<Output> {
        self.input(ts, Event::Command(c))
    }

    /// `Command::CreateExecutor` of an executor of no controller.
    pub fn create(&mut self, ts: u64, config: ExecutorConfig) -> Vec<Output> {
        self.command(
            ts,
            Command::CreateExecutor {
                controller: u16::MAX,
                config,
            },
        )
    }

    /// `Command::UpdateController`.
    pub fn update(
        &mut self,
        ts: u64,
        controller: u16,
        field: ControllerField,
        value: &str,
    ) -> Vec<Output> {
        self.command(
            ts,
            Command::UpdateController {
                controller,
                field,
                value: d(value),
            },
        )
    }

    /// The kind-specific state of controller `c`.
    pub fn kind(&self, c: usize) -> &ControllerKind {
        &self.e.controllers[c].kind
    }

    /// Configurations of the live executors, in slot order, with their levels.
    pub fn configs(&self) -> Vec<(u16, ExecutorConfig)> {
        self.e
            .executors
            .iter()
            .map(|x| {
                let cfg = match &x.kind {
                    ExecutorKind::Order(o) => ExecutorConfig::Order(o.cfg),
                    ExecutorKind::Position(p) => ExecutorConfig::Position(p.cfg),
                    ExecutorKind::Arbitrage(a) => ExecutorConfig::Arbitrage(a.cfg),
                    ExecutorKind::Xemm(x) => ExecutorConfig::Xemm(x.cfg),
                    other => panic!("unexpected executor {other:?}"),
                };
                (x.core.level, cfg)
            })
            .collect()
    }
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

/// Alert codes.
pub fn alerts(outs: &[Output]) -> Vec<AlertCode> {
    outs.iter()
        .filter_map(|o| match o.action {
            Action::Alert { code, .. } => Some(code),
            _ => None,
        })
        .collect()
}

/// (side, type, price, qty) of each order placed.
pub fn orders(outs: &[Output]) -> Vec<(Side, OrderType, Dec, Dec)> {
    places(outs)
        .iter()
        .map(|p| (p.side, p.order_type, p.price, p.qty))
        .collect()
}
