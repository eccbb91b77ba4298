//! Stopping a session whose executors cannot finish (spec §9 `stop()`, scenario 43):
//! executors that stall for 20 s, or outlive the stop by 30 s, are forced to close,
//! holding what they filled.

use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::*;

const S: u64 = 1_000_000_000;

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

const CONFIG: &str = r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[balances]
USDT = "100000"
"#;

struct H {
    e: Engine,
    seq: u64,
}

impl H {
    fn apply(&mut self, ts: u64, event: Event) -> Vec<Output> {
        self.seq += 1;
        self.e
            .apply(&Input {
                header: Header {
                    seq: self.seq,
                    ts,
                    ..Default::default()
                },
                event,
            })
            .to_vec()
    }
    fn report(&mut self, ts: u64, cid: ClientOrderId, kind: ExecKind, qty: &str) -> Vec<Output> {
        let r = ExecReport {
            cid,
            instrument: 0,
            kind,
            last_px: d("95"),
            last_qty: d(qty),
            ..Default::default()
        };
        self.apply(ts, Event::Exec(r))
    }
    fn limit_buy(&mut self, ts: u64) -> ClientOrderId {
        let config = ExecutorConfig::Order(OrderExecutorConfig {
            instrument: 0,
            side: Side::Buy,
            amount: d("1"),
            strategy: ExecutionStrategy::Limit,
            price: d("95"),
            position_action: Default::default(),
        });
        let outs = self.apply(
            ts,
            Event::Command(Command::CreateExecutor {
                controller: u16::MAX,
                config,
            }),
        );
        let cid = outs
            .iter()
            .find_map(|o| {
                if let Action::Place(p) = o.action {
                    Some(p.cid)
                } else {
                    None
                }
            })
            .unwrap();
        self.report(ts, cid, ExecKind::Ack, "0");
        cid
    }
}

fn closed(outs: &[Output]) -> Vec<CloseType> {
    outs.iter()
        .filter_map(|o| {
            if let Action::ExecutorUpdate {
                close_type: Some(c),
                ..
            } = o.action
            {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn stalled_executors_are_forced_to_stop_holding_their_fills() {
    let mut h = H {
        e: Engine::new(&SessionStart {
            session_id: 1,
            seed: 1,
            config: CONFIG.into(),
        })
        .unwrap(),
        seq: 0,
    };
    let t = BookTicker {
        instrument: 0,
        bid_px: d("99"),
        bid_qty: d("1"),
        ask_px: d("101"),
        ask_qty: d("1"),
        update_id: 0,
    };
    h.apply(S, Event::BookTicker(t));
    let a = h.limit_buy(2 * S);
    let b = h.limit_buy(2 * S);
    let c = h.limit_buy(2 * S);
    h.report(3 * S, c, ExecKind::PartialFill, "0.4");
    let outs = h.apply(10 * S, Event::Command(Command::Stop));
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o.action, Action::Cancel { .. }))
            .count(),
        3
    );
    // A's cancel is confirmed at +15 s: progress, so nothing is forced at +21 s.
    assert_eq!(
        closed(&h.report(25 * S, a, ExecKind::Canceled, "0")),
        [CloseType::EarlyStop]
    );
    assert!(closed(&h.apply(31 * S, Event::Timer(0))).is_empty());
    assert_eq!(h.e.executors.live(), 2);
    // 30 s after the stop the survivors are forced: B had no fill (FAILED), C holds 0.4.
    let outs = h.apply(40 * S, Event::Timer(0));
    assert_eq!(closed(&outs), [CloseType::Failed, CloseType::PositionHold]);
    assert_eq!(h.e.executors.live(), 0);
    let r = h.e.report(0);
    assert_eq!(r.positions[0].net, d("0.4"));
    let _ = b;
}

#[test]
fn stall_without_progress_forces_after_20_seconds() {
    let mut h = H {
        e: Engine::new(&SessionStart {
            session_id: 1,
            seed: 1,
            config: CONFIG.into(),
        })
        .unwrap(),
        seq: 0,
    };
    let t = BookTicker {
        instrument: 0,
        bid_px: d("99"),
        bid_qty: d("1"),
        ask_px: d("101"),
        ask_qty: d("1"),
        update_id: 0,
    };
    h.apply(S, Event::BookTicker(t));
    h.limit_buy(2 * S);
    h.apply(10 * S, Event::Command(Command::Stop));
    assert!(closed(&h.apply(29 * S, Event::Timer(0))).is_empty());
    assert_eq!(
        closed(&h.apply(30 * S, Event::Timer(0))),
        [CloseType::Failed]
    );
}
