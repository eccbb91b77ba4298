//! TWAP (maker, refreshing), XEMM (re-quoting) and arbitrage (watching) executors
//! allocate nothing per input once created: control steps and order events only.

use kestrel_engine::executors::arbitrage::ArbitrageConfig;
use kestrel_engine::executors::twap::{TwapConfig, TwapMode};
use kestrel_engine::executors::xemm::XemmConfig;
use kestrel_engine::executors::ExecutorConfig;
use kestrel_engine::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
[[instruments]]
symbol = "WBTCUSDT"
base = "WBTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
[balances]
BTC = "100"
WBTC = "100"
USDT = "100000000"
"#;

const S: u64 = 1_000_000_000;

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

struct Drive {
    e: Engine,
    seq: u64,
    /// Orders to acknowledge (qty > 0) or cancels to confirm (qty 0).
    pending: Vec<PlaceOrder>,
    batch: Vec<PlaceOrder>,
}

impl Drive {
    fn apply(&mut self, ts: u64, event: Event) -> usize {
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
                Action::Place(p) => self.pending.push(p),
                Action::Cancel { cid, .. } => self.pending.push(PlaceOrder {
                    cid,
                    qty: Dec::ZERO,
                    ..Default::default()
                }),
                _ => {}
            }
        }
        outs.len()
    }

    fn second(&mut self, t: u64) -> usize {
        let taker_bid = if t.is_multiple_of(2) { 101 } else { 104 };
        let tick = |instrument, bid: i64| {
            Event::BookTicker(BookTicker {
                instrument,
                bid_px: Dec::from_int(bid),
                bid_qty: Dec::from_int(5),
                ask_px: Dec::from_int(bid) + Dec(10_000_000),
                ask_qty: Dec::from_int(5),
                update_id: t,
            })
        };
        let mut n = self.apply(t * S, tick(0, 100 + (t % 3) as i64));
        n += self.apply(t * S + 1, tick(1, taker_bid));
        n += self.apply(t * S + 2, Event::Timer(0));
        self.batch.clear();
        self.batch.append(&mut self.pending);
        for i in 0..self.batch.len() {
            let p = self.batch[i];
            let kind = if p.qty == Dec::ZERO {
                ExecKind::Canceled
            } else {
                ExecKind::Ack
            };
            let r = ExecReport {
                cid: p.cid,
                kind,
                ..Default::default()
            };
            n += self.apply(t * S + 3, Event::Exec(r));
        }
        n
    }
}

#[test]
fn executors_allocate_nothing_per_input() {
    let start = SessionStart {
        session_id: 1,
        seed: 1,
        config: CONFIG.into(),
    };
    let mut dr = Drive {
        e: Engine::new(&start).unwrap(),
        seq: 0,
        pending: Vec::with_capacity(1024),
        batch: Vec::with_capacity(1024),
    };
    dr.second(0);
    let twap = TwapConfig {
        instrument: 0,
        side: Side::Buy,
        total_amount_quote: d("100000"),
        total_duration_ns: 250 * S,
        order_interval_ns: S,
        mode: TwapMode::Maker,
        limit_order_buffer: d("0.2"),
        order_resubmission_ns: 3 * S,
        max_retries: 0,
    };
    let xemm = XemmConfig {
        buying: 0,
        selling: 1,
        maker_side: Side::Buy,
        order_amount: d("1"),
        min_profitability: d("0.01"),
        target_profitability: d("0.015"),
        max_profitability: d("0.02"),
        maker_fee: d("0.0001"),
        taker_fee: d("0.0001"),
        max_retries: 0,
    };
    let arb = ArbitrageConfig {
        buying: 0,
        selling: 1,
        order_amount: d("1"),
        min_profitability: d("1"),
        buy_taker_fee: d("0.001"),
        sell_taker_fee: d("0.001"),
        max_retries: 0,
    };
    for config in [
        ExecutorConfig::Twap(twap),
        ExecutorConfig::Xemm(xemm),
        ExecutorConfig::Arbitrage(arb),
    ] {
        dr.apply(
            S / 2,
            Event::Command(Command::CreateExecutor {
                controller: u16::MAX,
                config,
            }),
        );
    }
    for t in 1..40 {
        dr.second(t);
    }
    let before_orders = dr.e.orders.placed;
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut outputs = 0;
    for t in 40..200 {
        outputs += dr.second(t);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(dr.e.executors.live(), 3);
    assert!(dr.e.orders.placed - before_orders > 300);
    assert!(outputs > 600);
    assert_eq!(allocs, 0, "allocations in steady state");
}
