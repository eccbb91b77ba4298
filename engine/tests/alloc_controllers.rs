//! Controllers allocate nothing per input in steady state: a directional controller
//! (Bollinger + MACD over trade-built candles, position executors opening and closing
//! on their barriers) beside a dynamic (NATR) market maker, with timers.

mod common;

use common::counting::{allocs_now, Counting};
use common::S;
use kestrel_engine::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
BTC = "1000"
USDT = "100000000"
[[candles]]
instrument = "BTCUSDT"
interval = "5s"
max_records = 64
[[controllers]]
type = "directional"
id = "dir"
instrument = "BTCUSDT"
candles_interval = "5s"
signal = "bollinger"
bb_length = 12
bb_std = "1"
bb_long_threshold = "0.4"
bb_short_threshold = "0.6"
macd_fast = 3
macd_slow = 6
macd_signal = 3
total_amount_quote = "2000"
max_executors_per_side = 3
cooldown_time = 2
stop_loss = "0.0004"
take_profit = "0.0004"
take_profit_order_type = "market"
time_limit = 20
[[controllers]]
type = "dman"
id = "dman"
instrument = "BTCUSDT"
candles_interval = "5s"
natr_length = 6
buy_spreads = "0.5,1"
sell_spreads = "0.5,1"
total_amount_quote = "2000"
executor_refresh_time = 5
cooldown_time = 1
"#;

struct Sim {
    e: Engine,
    seq: u64,
    open: Vec<PlaceOrder>,
    fresh: Vec<PlaceOrder>,
    cancels: Vec<ClientOrderId>,
    placed: u64,
    closed: u64,
}

impl Sim {
    fn apply(&mut self, ts: u64, event: Event) {
        self.seq += 1;
        let outs = self.e.apply(&Input {
            header: Header {
                seq: self.seq,
                ts,
                ..Default::default()
            },
            event,
        });
        for o in outs {
            match o.action {
                Action::Place(p) => {
                    self.fresh.push(p);
                    self.placed += 1;
                }
                Action::Cancel { cid, .. } => self.cancels.push(cid),
                Action::ExecutorUpdate { .. } => self.closed += 1,
                _ => {}
            }
        }
    }

    fn report(&mut self, ts: u64, cid: ClientOrderId, kind: ExecKind, px: Dec, qty: Dec) {
        let r = ExecReport {
            cid,
            kind,
            last_px: px,
            last_qty: qty,
            cum_qty: qty,
            fee: Dec(1_000),
            ..Default::default()
        };
        self.apply(ts, Event::Exec(r));
    }

    /// Acks new orders, confirms cancels, fills what the touch reaches.
    fn venue(&mut self, ts: u64, bid: Dec, ask: Dec) {
        for _ in 0..4 {
            while let Some(p) = self.fresh.pop() {
                self.report(ts, p.cid, ExecKind::Ack, Dec::ZERO, Dec::ZERO);
                self.open.push(p);
            }
            while let Some(cid) = self.cancels.pop() {
                if let Some(i) = self.open.iter().position(|p| p.cid == cid) {
                    self.open.swap_remove(i);
                    self.report(ts, cid, ExecKind::Canceled, Dec::ZERO, Dec::ZERO);
                }
            }
            let mut i = 0;
            while i < self.open.len() {
                let p = self.open[i];
                let px = match (p.order_type, p.side) {
                    (OrderType::Market, Side::Buy) => Some(ask),
                    (OrderType::Market, Side::Sell) => Some(bid),
                    (_, Side::Buy) if ask <= p.price => Some(p.price),
                    (_, Side::Sell) if bid >= p.price => Some(p.price),
                    _ => None,
                };
                match px {
                    Some(px) => {
                        self.open.swap_remove(i);
                        self.report(ts, p.cid, ExecKind::Fill, px, p.qty);
                    }
                    None => i += 1,
                }
            }
        }
    }

    /// One 250 ms step of a price oscillating around 60000 (period 100 s), with a
    /// trade, a ticker, and a timer every second.
    fn step(&mut self, n: u64) {
        let ts = 1_700_000_000 * S + n * S / 4;
        let phase = (n % 400) as i64;
        let tri = if phase < 200 { phase } else { 400 - phase } - 100; // −100..100
        let mid = 60_000 * S as i64 + tri * 300_000_000 + ((n * 7919) % 13) as i64 * 10_000_000;
        let (bid, ask) = (Dec(mid - 10_000_000), Dec(mid + 10_000_000));
        let trade = Trade {
            instrument: 0,
            px: Dec(mid),
            qty: Dec(1_000_000),
            aggressor: Side::Buy,
            trade_id: n,
        };
        self.apply(ts, Event::Trade(trade));
        let t = BookTicker {
            instrument: 0,
            bid_px: bid,
            bid_qty: Dec(S as i64),
            ask_px: ask,
            ask_qty: Dec(S as i64),
            update_id: n,
        };
        self.apply(ts, Event::BookTicker(t));
        self.venue(ts, bid, ask);
        if n % 4 == 3 {
            self.apply(ts, Event::Timer(0));
            self.venue(ts, bid, ask);
        }
    }
}

#[test]
fn controllers_in_steady_state_allocate_nothing() {
    let start = SessionStart {
        session_id: 1,
        seed: 1,
        config: CONFIG.into(),
    };
    let mut s = Sim {
        e: Engine::new(&start).unwrap(),
        seq: 0,
        open: Vec::with_capacity(1024),
        fresh: Vec::with_capacity(1024),
        cancels: Vec::with_capacity(1024),
        placed: 0,
        closed: 0,
    };
    // Warm up: candles fill, indicators ready, executors created and closed, slabs grown.
    for n in 0..4_000 {
        s.step(n);
    }
    let (placed, closed) = (s.placed, s.closed);
    let before = allocs_now();
    for n in 4_000..12_000 {
        s.step(n);
    }
    let allocs = allocs_now() - before;
    // Both controllers really traded while measured.
    let per = |c: usize| s.e.performance[c].created;
    assert!(s.placed - placed > 500, "placed {}", s.placed - placed);
    assert!(s.closed - closed > 200, "closed {}", s.closed - closed);
    assert!(per(0) > 50 && per(1) > 50, "created {} {}", per(0), per(1));
    let closes = s.e.report(0).close_types;
    assert!(
        closes[CloseType::TakeProfit as usize] > 0 && closes[CloseType::StopLoss as usize] > 0,
        "{closes:?}"
    );
    assert_eq!(allocs, 0, "allocations in steady state");
}
