//! The engine allocates nothing per input in steady state: book tickers, depth diffs,
//! trades, execution reports (fills that close executors and re-quote levels), timers,
//! and the market-data getters.

mod common;

use common::counting::{allocs_now, Counting};
use common::S;
use kestrel_engine::executors::OutputSink;
use kestrel_engine::market_data::PriceType;
use kestrel_engine::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
BTC = "100"
USDT = "10000000"
[[candles]]
instrument = "BTCUSDT"
interval = "1m"
max_records = 50
[[controllers]]
type = "market_making"
id = "mm"
instrument = "BTCUSDT"
buy_spreads = "0.0001,0.0002"
sell_spreads = "0.0001,0.0002"
total_amount_quote = "2000"
executor_refresh_time = 5
cooldown_time = 1
"#;

/// Drives one simulated second: depth diff, ticker, trade, acks and fills for every
/// order the engine placed, and a timer.
fn second(
    e: &mut Engine,
    seq: &mut u64,
    t: u64,
    update_id: &mut u64,
    pending: &mut Vec<PlaceOrder>,
    batch: &mut Vec<PlaceOrder>,
) -> usize {
    let mut apply = |e: &mut Engine, ts: u64, event: Event, pending: &mut Vec<PlaceOrder>| {
        *seq += 1;
        let outs = e.apply(&Input {
            header: Header {
                seq: *seq,
                ts,
                ..Default::default()
            },
            event,
        });
        for o in outs {
            match o.action {
                Action::Place(p) => pending.push(p),
                // Confirm cancels on the next pass (cid only; the venue echoes it).
                Action::Cancel { cid, .. } => pending.push(PlaceOrder {
                    cid,
                    qty: Dec::ZERO,
                    ..Default::default()
                }),
                _ => {}
            }
        }
        outs.len()
    };
    let mid = 60_000 * S as i64 + ((t as i64 * 37) % 11 - 5) * 10_000_000;
    let mut n = 0;
    let mut depth = Depth {
        instrument: 0,
        first_chunk: true,
        last_chunk: true,
        first_update_id: *update_id + 1,
        last_update_id: *update_id + 2,
        len: 2,
        ..Default::default()
    };
    *update_id += 2;
    depth.levels[0] = Level {
        side: Side::Buy,
        px: Dec(mid - 10_000_000),
        qty: Dec(S as i64),
    };
    depth.levels[1] = Level {
        side: Side::Sell,
        px: Dec(mid + 10_000_000),
        qty: Dec(S as i64),
    };
    n += apply(e, t * S, Event::Depth(depth), pending);
    let tick = BookTicker {
        instrument: 0,
        bid_px: Dec(mid - 10_000_000),
        bid_qty: Dec(S as i64),
        ask_px: Dec(mid + 10_000_000),
        ask_qty: Dec(S as i64),
        update_id: *update_id,
    };
    n += apply(e, t * S + 1, Event::BookTicker(tick), pending);
    let trade = Trade {
        instrument: 0,
        px: Dec(mid),
        qty: Dec(1_000_000),
        aggressor: Side::Buy,
        trade_id: t,
    };
    n += apply(e, t * S + 2, Event::Trade(trade), pending);
    // Ack every order; fill the first of each batch, leave the rest to refresh.
    batch.clear();
    batch.append(pending);
    for (i, p) in batch.iter().enumerate() {
        if p.qty == Dec::ZERO {
            let done = ExecReport {
                cid: p.cid,
                kind: ExecKind::Canceled,
                ..Default::default()
            };
            n += apply(e, t * S + 3, Event::Exec(done), pending);
            continue;
        }
        let ack = ExecReport {
            cid: p.cid,
            kind: ExecKind::Ack,
            leaves_qty: p.qty,
            ..Default::default()
        };
        n += apply(e, t * S + 3, Event::Exec(ack), pending);
        if i == 0 {
            let fill = ExecReport {
                cid: p.cid,
                kind: ExecKind::Fill,
                last_px: p.price,
                last_qty: p.qty,
                cum_qty: p.qty,
                fee: Dec(1_000),
                ..Default::default()
            };
            n += apply(e, t * S + 4, Event::Exec(fill), pending);
        }
    }
    // Cancel confirmations for refreshed orders come back on the next second.
    n += apply(e, t * S + 5, Event::Timer(0), pending);
    n
}

#[test]
fn steady_state_allocates_nothing_per_input() {
    let e = measure(CONFIG, None);
    assert_eq!(e.risk.refused, [0; 7]);
}

/// Counts what it is handed, as the live runtime's sink publishes it.
struct CountingSink(Arc<AtomicU64>);

impl OutputSink for CountingSink {
    fn input(&mut self, header: &Header) {
        std::hint::black_box(header.seq);
    }

    fn output(&mut self, output: &Output) {
        std::hint::black_box(output);
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn handing_outputs_to_a_sink_allocates_nothing() {
    let seen = Arc::new(AtomicU64::new(0));
    let e = measure(CONFIG, Some(Box::new(CountingSink(seen.clone()))));
    assert_eq!(seen.load(Ordering::Relaxed), e.stats.outputs);
}

/// Every risk limit set; the rate limit is tight enough to refuse orders (and journal
/// alerts) every simulated second, the others are checked on every order.
const RISK: &str = r#"
[risk]
max_order_qty = "1"
max_order_notional = "100000"
max_position = "50"
max_open_orders = 64
price_band = "0.01"
max_orders_per_second = 3
[risk.instruments.BTCUSDT]
max_order_qty = "2"
"#;

#[test]
fn an_order_whose_index_entry_is_taken_is_indexed_without_allocating() {
    // A resting order keeps its entry of the id-indexed table; the ids 1,024 and 2,048
    // later land on the same entry and go to the index's overflow map.
    let mut orders = orders::OrderManager::with_capacity(64);
    let place = |n| PlaceOrder {
        cid: ClientOrderId::new(1, n),
        price: Dec::ONE,
        qty: Dec::ONE,
        ..Default::default()
    };
    let report = |n, kind| ExecReport {
        cid: ClientOrderId::new(1, n),
        kind,
        ..Default::default()
    };
    orders.insert(place(0), 0, 0, Dec::ZERO);
    let before = allocs_now();
    for n in 1..=3_000 {
        orders.insert(place(n), 0, 0, Dec::ZERO);
        orders.apply(&report(n, ExecKind::Ack)).unwrap();
        orders.apply(&report(n, ExecKind::Canceled)).unwrap();
    }
    assert_eq!(allocs_now() - before, 0, "allocations indexing orders");
    assert_eq!(orders.live(), 1);
    assert!(orders.get(ClientOrderId::new(1, 0)).is_some());
}

#[test]
fn risk_checks_and_refusals_allocate_nothing() {
    let e = measure(&format!("{CONFIG}{RISK}"), None);
    // Refused by the rate limit while measured (position checks walked the orders).
    assert!(e.risk.refused[6] > 100, "refused {:?}", e.risk.refused);
}

/// Runs the warm-up and the measured steady state (outputs also handed to `sink`);
/// asserts no allocation and real trading while measured. Returns the engine.
fn measure(config: &str, sink: Option<Box<dyn OutputSink>>) -> Engine {
    let start = SessionStart {
        session_id: 1,
        seed: 1,
        config: config.into(),
    };
    let mut e = Engine::new(&start).unwrap();
    e.set_output_sink(sink);
    let mut seq = 0;
    let mut update_id = 100;
    let snap = Depth {
        instrument: 0,
        snapshot: true,
        first_chunk: true,
        last_chunk: true,
        last_update_id: update_id,
        ..Default::default()
    };
    seq += 1;
    e.apply(&Input {
        header: Header {
            seq,
            ts: 0,
            ..Default::default()
        },
        event: Event::Depth(snap),
    });
    let mut pending: Vec<PlaceOrder> = Vec::with_capacity(1024);
    let mut batch: Vec<PlaceOrder> = Vec::with_capacity(1024);
    // Warm up: executors created, refreshed and closed, candles rolled, slabs grown.
    for t in 1..400 {
        second(
            &mut e,
            &mut seq,
            t,
            &mut update_id,
            &mut pending,
            &mut batch,
        );
    }
    let before_orders = e.orders.placed;
    let before = allocs_now();
    let mut outputs = 0;
    for t in 400..2400 {
        outputs += second(
            &mut e,
            &mut seq,
            t,
            &mut update_id,
            &mut pending,
            &mut batch,
        );
        let md = e.market_data();
        std::hint::black_box(md.price(0, PriceType::MidPrice));
        std::hint::black_box(md.book(0).unwrap().vwap_for_volume(true, Dec(S as i64)));
        std::hint::black_box(md.rate("BTC", "USDT"));
        std::hint::black_box(md.available_balance("USDT"));
    }
    let allocs = allocs_now() - before;
    // The session really traded while measured.
    assert!(
        e.orders.placed - before_orders > 1000,
        "placed {}",
        e.orders.placed - before_orders
    );
    assert!(outputs > 1000);
    assert_eq!(allocs, 0, "allocations in steady state");
    e
}
