//! The position executor allocates nothing per input in steady state: a full cycle of
//! create → open fill → resting TP → trailing stop → TP cancel → MARKET close → fill.

mod common;

use common::counting::{allocs_now, Counting};
use common::S;
use kestrel_engine::executors::{ExecutorConfig, PositionConfig, TrailingStop, TripleBarrier};
use kestrel_engine::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONFIG: &str = r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"
[balances]
ETH = "100"
USDT = "1000000"
"#;

struct H {
    e: Engine,
    seq: u64,
    now: u64,
}

impl H {
    /// Applies an input; returns the last placed and cancelled order ids and the
    /// number of executors that terminated.
    fn apply(&mut self, event: Event) -> (Option<PlaceOrder>, Option<ClientOrderId>, usize) {
        self.seq += 1;
        self.now += S;
        let outs = self.e.apply(&Input {
            header: Header {
                seq: self.seq,
                ts: self.now,
                ..Default::default()
            },
            event,
        });
        let (mut place, mut cancel, mut done) = (None, None, 0);
        for o in outs {
            match o.action {
                Action::Place(p) => place = Some(p),
                Action::Cancel { cid, .. } => cancel = Some(cid),
                Action::ExecutorUpdate {
                    status: RunStatus::Terminated,
                    ..
                } => done += 1,
                _ => {}
            }
        }
        (place, cancel, done)
    }

    fn ticker(&mut self, bid: i64, ask: i64) -> (Option<PlaceOrder>, Option<ClientOrderId>, usize) {
        self.apply(Event::BookTicker(BookTicker {
            instrument: 0,
            bid_px: Dec::from_int(bid),
            bid_qty: Dec::from_int(10),
            ask_px: Dec::from_int(ask),
            ask_qty: Dec::from_int(10),
            update_id: 0,
        }))
    }

    fn report(
        &mut self,
        cid: ClientOrderId,
        kind: ExecKind,
        px: i64,
    ) -> (Option<PlaceOrder>, Option<ClientOrderId>, usize) {
        let r = ExecReport {
            cid,
            kind,
            last_px: Dec::from_int(px),
            last_qty: if matches!(kind, ExecKind::Fill) {
                Dec::ONE
            } else {
                Dec::ZERO
            },
            fee: Dec(100_000_000),
            ..Default::default()
        };
        self.apply(Event::Exec(r))
    }

    /// One round trip; returns how many executors terminated.
    fn cycle(&mut self) -> usize {
        self.ticker(100, 101);
        let cfg = PositionConfig {
            side: Side::Buy,
            entry_price: Some(Dec::from_int(100)),
            amount: Dec::ONE,
            barrier: TripleBarrier {
                stop_loss: Some(Dec(50_000_000)),
                take_profit: Some(Dec(100_000_000)),
                time_limit_s: Some(3600),
                trailing_stop: Some(TrailingStop {
                    activation_price: Dec(20_000_000),
                    trailing_delta: Dec(10_000_000),
                }),
                take_profit_order_type: OrderType::Limit,
                ..Default::default()
            },
            ..Default::default()
        };
        let (open, _, _) = self.apply(Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config: ExecutorConfig::Position(cfg),
        }));
        let open = open.expect("open order").cid;
        self.report(open, ExecKind::Ack, 0);
        let (tp, _, _) = self.report(open, ExecKind::Fill, 100); // TP rests
        let tp = tp.expect("TP order").cid;
        self.ticker(105, 106); // trailing stop armed
        self.report(tp, ExecKind::Ack, 0);
        let (_, cancel, _) = self.ticker(103, 104); // trailing stop fires
        assert_eq!(cancel, Some(tp));
        self.report(tp, ExecKind::Canceled, 0);
        let close = self.e.orders.iter().next().expect("close order").req.cid;
        self.report(close, ExecKind::Ack, 0);
        self.report(close, ExecKind::Fill, 103).2
    }
}

#[test]
fn position_cycle_allocates_nothing() {
    let start = SessionStart {
        session_id: 1,
        seed: 1,
        config: CONFIG.into(),
    };
    let mut h = H {
        e: Engine::new(&start).unwrap(),
        seq: 0,
        now: 0,
    };
    assert_eq!(h.cycle(), 1);
    let before = allocs_now();
    let mut done = 0;
    for _ in 0..50 {
        done += h.cycle();
    }
    assert_eq!(allocs_now(), before);
    assert_eq!(done, 50);
    assert_eq!(
        h.e.report(0).close_types[CloseType::TrailingStop as usize],
        51
    );
}
