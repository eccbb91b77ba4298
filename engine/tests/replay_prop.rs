//! Replay determinism on random input sequences: book tickers, depth, trades, timers,
//! execution reports (acks, partial and full fills, cancels, rejects, unknown and
//! out-of-order reports), hand-made executors and the kill switch. A session is run
//! once, reacting to its own outputs; its inputs are then applied to two fresh engines,
//! which must emit exactly the journaled outputs and end in the same state.

use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::*;
use proptest::prelude::*;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"
[balances]
BTC = "10"
USDT = "100000"
[[candles]]
instrument = "BTCUSDT"
interval = "1s"
max_records = 20
[[controllers]]
type = "market_making"
id = "mm"
instrument = "BTCUSDT"
buy_spreads = "0.001,0.002"
sell_spreads = "0.001,0.002"
total_amount_quote = "1000"
executor_refresh_time = 3
cooldown_time = 1
stop_loss = "0.01"
take_profit = "0.005"
time_limit = 20
[risk]
max_order_qty = "3"
max_position = "4"
max_open_orders = 12
price_band = "0.05"
max_orders_per_second = 6
"#;

const S: u64 = 1_000_000_000;

/// One step of a random session.
#[derive(Clone, Debug)]
enum Step {
    /// Book ticker: mid moves by `d` cents, spread `s + 1` cents.
    Quote(i8, u8),
    /// Trade `d` cents from the mid, size in thousandths, aggressor side.
    Trade(i8, u16, bool),
    /// Depth diff with one level `d` cents from the mid; `gap` skips an update id.
    Depth(i8, u16, bool),
    /// Timer after `ms` milliseconds.
    Timer(u16),
    /// A report on the `pick`-th order placed so far (past the end: an unknown id).
    Exec(u16, u8, u8),
    /// An order executor by hand: side, size in hundredths, offset in cents.
    Hand(bool, u8, i8),
    /// The kill switch.
    Kill,
    /// Stop.
    Stop,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (any::<i8>(), 0u8..20).prop_map(|(d, s)| Step::Quote(d, s)),
        3 => (any::<i8>(), 1u16..2000, any::<bool>()).prop_map(|(d, q, b)| Step::Trade(d, q, b)),
        2 => (any::<i8>(), 0u16..500, prop::bool::weighted(0.05)).prop_map(|(d, q, g)| Step::Depth(d, q, g)),
        3 => (0u16..3000).prop_map(Step::Timer),
        8 => (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(p, k, f)| Step::Exec(p, k, f)),
        1 => (any::<bool>(), 1u8..200, any::<i8>()).prop_map(|(b, a, o)| Step::Hand(b, a, o)),
        // Rare: a session ends, or is killed, about once every 500 steps.
        1 => (0u8..20).prop_map(|k| match k {
            0 => Step::Kill,
            1 => Step::Stop,
            _ => Step::Timer(1000),
        }),
    ]
}

fn engine() -> Engine {
    Engine::new(&SessionStart {
        session_id: 3,
        seed: 9,
        config: CONFIG.into(),
    })
    .unwrap()
}

/// Runs the steps, reacting to the engine's own orders; returns inputs and outputs.
fn record(steps: &[Step]) -> (Vec<Input>, Vec<Output>) {
    let mut e = engine();
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    let mut placed: Vec<PlaceOrder> = Vec::new();
    let (mut ts, mut mid, mut update_id) = (S, 6_000_000i64, 100u64);
    let mut push = |e: &mut Engine, ts: u64, event: Event, placed: &mut Vec<PlaceOrder>| {
        let input = Input {
            header: Header {
                seq: inputs.len() as u64 + 1,
                ts,
                ..Default::default()
            },
            event,
        };
        for o in e.apply(&input) {
            if let Action::Place(p) = o.action {
                placed.push(p);
            }
            outputs.push(*o);
        }
        inputs.push(input);
    };
    let cents = |c: i64| Dec(c.max(1) * 10_000_000);
    let snap = Depth {
        snapshot: true,
        first_chunk: true,
        last_chunk: true,
        last_update_id: update_id,
        ..Default::default()
    };
    push(&mut e, ts, Event::Depth(snap), &mut placed);
    for s in steps {
        ts += 1_000_000;
        let event = match *s {
            Step::Quote(d, spread) => {
                mid = (mid + d as i64).max(1_000);
                let half = spread as i64 / 2 + 1;
                Event::BookTicker(BookTicker {
                    instrument: 0,
                    bid_px: cents(mid - half),
                    bid_qty: Dec(S as i64),
                    ask_px: cents(mid + half),
                    ask_qty: Dec(S as i64),
                    update_id: 0,
                })
            }
            Step::Trade(d, q, buy) => Event::Trade(Trade {
                instrument: 0,
                px: cents(mid + d as i64),
                qty: Dec(q as i64 * 1_000_000),
                aggressor: if buy { Side::Buy } else { Side::Sell },
                trade_id: ts,
            }),
            Step::Depth(d, q, gap) => {
                update_id += if gap { 2 } else { 1 };
                let mut depth = Depth {
                    first_chunk: true,
                    last_chunk: true,
                    first_update_id: update_id,
                    last_update_id: update_id,
                    len: 1,
                    ..Default::default()
                };
                depth.levels[0] = Level {
                    side: if d < 0 { Side::Buy } else { Side::Sell },
                    px: cents(mid + d as i64),
                    qty: Dec(q as i64 * 1_000_000),
                };
                Event::Depth(depth)
            }
            Step::Timer(ms) => {
                ts += ms as u64 * 1_000_000;
                Event::Timer(0)
            }
            Step::Exec(pick, kind, frac) => {
                let p = placed
                    .get(pick as usize % (placed.len() + 2))
                    .copied()
                    .unwrap_or(PlaceOrder {
                        cid: ClientOrderId::new(3, 60_000 + pick as u32),
                        ..Default::default()
                    });
                let kind = [
                    ExecKind::Ack,
                    ExecKind::PartialFill,
                    ExecKind::Fill,
                    ExecKind::Canceled,
                    ExecKind::Rejected,
                    ExecKind::Expired,
                    ExecKind::CancelRejected,
                ][kind as usize % 7];
                let qty = match kind {
                    ExecKind::PartialFill => Dec(p.qty.raw() * (frac as i64 % 100) / 100),
                    ExecKind::Fill => p.qty,
                    _ => Dec::ZERO,
                };
                let px = if p.price.raw() > 0 {
                    p.price
                } else {
                    cents(mid)
                };
                Event::Exec(ExecReport {
                    cid: p.cid,
                    instrument: 0,
                    kind,
                    last_px: px,
                    last_qty: qty,
                    fee: Dec(qty.raw() / 1000),
                    reason: if kind == ExecKind::Rejected {
                        RejectReason::InsufficientBalance
                    } else {
                        RejectReason::None
                    },
                    ..Default::default()
                })
            }
            Step::Hand(buy, amount, offset) => Event::Command(Command::CreateExecutor {
                controller: u16::MAX,
                config: ExecutorConfig::Order(OrderExecutorConfig {
                    instrument: 0,
                    side: if buy { Side::Buy } else { Side::Sell },
                    amount: Dec(amount as i64 * 10_000_000),
                    strategy: if offset % 3 == 0 {
                        ExecutionStrategy::Market
                    } else {
                        ExecutionStrategy::Limit
                    },
                    price: cents(mid + offset as i64),
                    position_action: Default::default(),
                }),
            }),
            Step::Kill => Event::Command(Command::KillSwitch),
            Step::Stop => Event::Command(Command::Stop),
        };
        push(&mut e, ts, event, &mut placed);
    }
    (inputs, outputs)
}

/// Everything observable about an engine's end state.
fn fingerprint(e: &Engine) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
        e.portfolio.positions,
        e.portfolio.balances,
        e.orders.iter().collect::<Vec<_>>(),
        e.stats,
        e.risk.refused,
        e.executors.live(),
        e.report_names().len()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn two_fresh_engines_replay_identically(steps in prop::collection::vec(step(), 1..300)) {
        let (inputs, outputs) = record(&steps);
        let (mut a, mut b) = (engine(), engine());
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        for i in &inputs {
            out_a.extend_from_slice(a.apply(i));
            out_b.extend_from_slice(b.apply(i));
        }
        prop_assert_eq!(&out_a, &outputs);
        prop_assert_eq!(&out_b, &outputs);
        prop_assert_eq!(fingerprint(&a), fingerprint(&b));
        // Output sequence numbers are gap-free and every output names its input.
        for (n, o) in outputs.iter().enumerate() {
            prop_assert_eq!(o.seq, n as u64 + 1);
            prop_assert!(o.cause >= 1 && o.cause <= inputs.len() as u64);
        }
    }
}

#[test]
fn random_sessions_exercise_orders_fills_and_limits() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut places, mut fills, mut risk, mut invalid) = (0, 0, 0, 0);
    for _ in 0..20 {
        let steps = prop::collection::vec(step(), 300)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let (inputs, outputs) = record(&steps);
        places += outputs
            .iter()
            .filter(|o| matches!(o.action, Action::Place(_)))
            .count();
        risk += outputs
            .iter()
            .filter(|o| {
                matches!(
                    o.action,
                    Action::Alert {
                        code: AlertCode::RiskOrderQty
                            | AlertCode::RiskPosition
                            | AlertCode::RiskOpenOrders
                            | AlertCode::RiskPriceBand
                            | AlertCode::RiskOrderRate,
                        ..
                    }
                )
            })
            .count();
        invalid += outputs
            .iter()
            .filter(|o| {
                matches!(
                    o.action,
                    Action::Alert {
                        code: AlertCode::UnknownOrder | AlertCode::InvalidTransition,
                        ..
                    }
                )
            })
            .count();
        fills += inputs
            .iter()
            .filter(|i| matches!(&i.event, Event::Exec(r) if r.kind == ExecKind::Fill))
            .count();
    }
    eprintln!("places {places} fills {fills} risk {risk} invalid {invalid}");
    assert!(places > 200 && fills > 50 && risk > 0 && invalid > 50);
}
