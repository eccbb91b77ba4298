//! The single-threaded backtest loop's timeline: market-data latency (the venue sees
//! a market event before the engine does), order-entry latency, and determinism.

use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::*;
use kestrel_gateways::SimLoop;

const T0: u64 = 1_000_000_000;

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

/// One instrument, 1 µs order entry, the given market-data latency.
fn session(md_latency_ns: u64) -> SimLoop {
    let config = format!(
        r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"
[balances]
USDT = "100000"
ETH = "10"
[venue]
latency_ns = 1000
md_latency_ns = {md_latency_ns}
maker_fee = "0.001"
taker_fee = "0.001"
"#
    );
    SimLoop::new(SessionStart {
        session_id: 1,
        seed: 1,
        config,
    })
    .unwrap()
}

fn book(bid: &str, ask: &str) -> Event {
    let mut depth = Depth {
        instrument: 0,
        snapshot: true,
        first_chunk: true,
        last_chunk: true,
        len: 2,
        ..Default::default()
    };
    depth.levels[0] = Level {
        side: Side::Buy,
        px: d(bid),
        qty: d("50"),
    };
    depth.levels[1] = Level {
        side: Side::Sell,
        px: d(ask),
        qty: d("50"),
    };
    Event::Depth(depth)
}

fn market_buy(amount: &str) -> Event {
    Event::Command(Command::CreateExecutor {
        controller: u16::MAX,
        config: ExecutorConfig::Order(OrderExecutorConfig {
            instrument: 0,
            side: Side::Buy,
            amount: d(amount),
            strategy: ExecutionStrategy::Market,
            price: Dec::ZERO,
            position_action: Default::default(),
        }),
    })
}

/// A market buy sent at T0 (arrives at T0 + 1 µs) while the book moves from 100 to
/// 101 at T0 + 3 µs (recorded time).
fn script(l: &mut SimLoop) {
    l.push(T0, book("99.9", "100"));
    l.push(T0, market_buy("1"));
    l.advance(T0);
    l.push(T0 + 3_000, book("100.9", "101"));
    l.advance(T0 + 3_000);
    l.stop(T0 + 10_000);
}

/// (ts, kind) of each input after the session start: `M` market data, `C` command,
/// exec kinds by name, `S` stop.
fn timeline(l: &SimLoop) -> Vec<(u64, String)> {
    l.inputs[1..]
        .iter()
        .map(|i| {
            let k = match &i.event {
                Event::Depth(_) => "M".to_string(),
                Event::Command(Command::Stop) => "S".to_string(),
                Event::Command(_) => "C".to_string(),
                Event::Exec(r) => format!("{:?}@{}", r.kind, r.last_px),
                other => format!("{other:?}"),
            };
            (i.header.ts, k)
        })
        .collect()
}

fn fill_px(l: &SimLoop) -> Dec {
    l.inputs
        .iter()
        .find_map(|i| match &i.event {
            Event::Exec(r) if r.kind == ExecKind::Fill => Some(r.last_px),
            _ => None,
        })
        .unwrap()
}

#[test]
fn without_md_latency_the_order_meets_the_book_the_engine_saw() {
    let mut l = session(0);
    script(&mut l);
    assert_eq!(fill_px(&l), d("100"));
    assert_eq!(
        timeline(&l)[..4],
        [
            (T0, "M".to_string()),
            (T0, "C".to_string()),
            (T0 + 1_000, "Ack@0".to_string()),
            (T0 + 1_000, "Fill@100".to_string()),
        ]
    );
}

#[test]
fn with_md_latency_the_venue_is_ahead_of_the_engine() {
    // 5 µs market-data latency: the book recorded at T0 + 3 µs reached the venue at
    // T0 - 2 µs, before the order arrived (T0 + 1 µs), so the order takes 101 although
    // the engine had only seen 100. The fill reaches the engine before the new book.
    let mut l = session(5_000);
    l.push(T0, book("99.9", "100"));
    // The venue has it; the engine not yet.
    assert_eq!(l.lagging(), 1);
    assert_eq!(l.seq(), 1);
    l.push(T0, market_buy("1"));
    l.advance(T0);
    assert_eq!(l.lagging(), 0);
    l.push(T0 + 3_000, book("100.9", "101"));
    assert_eq!(l.lagging(), 1);
    l.advance(T0 + 3_000);
    l.stop(T0 + 10_000);
    assert_eq!(fill_px(&l), d("101"));
    assert_eq!(
        timeline(&l)[..5],
        [
            (T0, "M".to_string()),
            (T0, "C".to_string()),
            (T0 + 1_000, "Ack@0".to_string()),
            (T0 + 1_000, "Fill@101".to_string()),
            (T0 + 3_000, "M".to_string()),
        ]
    );
}

#[test]
fn same_calls_give_the_same_inputs_and_outputs() {
    let run = |md: u64| {
        let mut l = session(md);
        script(&mut l);
        (l.inputs.clone(), l.outputs.clone())
    };
    for md in [0, 5_000] {
        let (a_in, a_out) = run(md);
        let (b_in, b_out) = run(md);
        assert_eq!(a_in, b_in);
        assert_eq!(a_out, b_out);
        // Seqs are gap-free and event time never goes back.
        for (n, i) in a_in.iter().enumerate() {
            assert_eq!(i.header.seq, n as u64 + 1);
        }
        assert!(a_in.windows(2).all(|w| w[0].header.ts <= w[1].header.ts));
        assert!(a_out.iter().any(|o| matches!(o.action, Action::Stopped)));
    }
}

#[test]
fn counts_the_requests_sent_to_the_venue() {
    let mut l = session(0);
    script(&mut l);
    // One market buy placed; it filled at once, so the stop cancels nothing.
    assert_eq!(
        l.sent,
        kestrel_gateways::backtest::Sent {
            places: 1,
            cancels: 0,
            modifies: 0
        }
    );
    let places = l
        .outputs
        .iter()
        .filter(|o| matches!(o.action, Action::Place(_)))
        .count();
    assert_eq!(places as u64, l.sent.places);
}

#[test]
fn a_registry_supplies_generic_strategies() {
    use kestrel_engine::controllers::Registry;
    let config = r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[[controllers]]
type = "generic"
id = "mine"
strategy = "not_builtin"
instrument = "ETHUSDT"
"#;
    let start = || SessionStart {
        session_id: 1,
        seed: 1,
        config: config.into(),
    };
    let err = SimLoop::new(start()).err().expect("unknown strategy");
    assert!(
        err.0.contains("unknown generic strategy \"not_builtin\""),
        "{}",
        err.0
    );
    let mut r = Registry::builtin();
    r.register(
        "not_builtin",
        kestrel_engine::controllers::generic::DipBuyer::build,
    );
    let err = SimLoop::with_registry(start(), &r)
        .err()
        .expect("dip_buyer needs params");
    // Now the strategy is found and its own builder reports the missing parameter.
    assert!(err.0.contains("candles_interval"), "{}", err.0);
}
