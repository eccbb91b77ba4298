//! Copy trading through the engine and the simulated venue: signals open positions of
//! the asserted sizes, close on take profit, stop loss, time limit and the master's
//! CLOSE, and every refusal is a journaled decision with its reason. The session is
//! replayed through a fresh engine with identical outputs.

mod common;

use common::*;
use kestrel_engine::controllers::ControllerKind;
use kestrel_engine::copy_trading::RejectReasonCode as R;
use kestrel_engine::*;
use kestrel_gateways::SimLoop;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"
[balances]
USDT = "100000"
BTC = "10"
[venue]
latency_ns = 0
maker_fee = "0"
taker_fee = "0"
[[controllers]]
type = "copy_trading"
id = "copy"
allowed_pairs = ["BTCUSDT"]
copy_ratio = "0.1"
max_position_size_quote = "5000"
stop_loss = "0.02"
take_profit = "0.04"
time_limit = 60
min_signal_confidence = "0.5"
max_positions_per_pair = 3
[controllers.source]
kind = "webhook"
auth = "hmac"
secret_env = "KESTREL_TEST_SIGNAL_SECRET"
"#;

fn open(id: &str, instrument: InstrumentId, side: Side, amount: &str) -> Signal {
    Signal {
        id: signal_id(id.as_bytes()),
        instrument,
        side,
        amount: d(amount),
        ..Signal::default()
    }
}

fn close(id: &str, side: Side) -> Signal {
    Signal {
        id: signal_id(id.as_bytes()),
        side,
        action: SignalAction::Close,
        ..Signal::default()
    }
}

/// Pushes a signal and returns the decision and the orders it caused.
fn signal(l: &mut SimLoop, ts: u64, s: Signal) -> (SignalOutcome, Vec<PlaceOrder>) {
    let from = l.outputs.len();
    l.push(ts, Event::Signal(s));
    let outs = &l.outputs[from..];
    let outcome = outs
        .iter()
        .find_map(|o| match o.action {
            Action::SignalDecision {
                signal, outcome, ..
            } if signal == s.id => Some(outcome),
            _ => None,
        })
        .expect("every signal gets a decision");
    (outcome, places(outs))
}

fn close_type(l: &SimLoop, executor: u32) -> Option<CloseType> {
    l.outputs.iter().find_map(|o| match o.action {
        Action::ExecutorUpdate {
            executor: e,
            status: RunStatus::Terminated,
            close_type,
            ..
        } if e == executor => close_type,
        _ => None,
    })
}

#[test]
fn signals_open_size_close_and_refuse() {
    let mut l = sim(1, CONFIG);
    // No price yet: refused, and not remembered (the master may resend).
    let (o, _) = signal(&mut l, S / 2, open("a", 0, Side::Buy, "2"));
    assert_eq!(o, SignalOutcome::Rejected(R::NoPrice));

    book(&mut l, S, "99.99", "100.01", "500"); // mid 100
                                               // Master 2 × 0.1 = 0.2 BTC, under both caps: a market buy of 0.2.
    let (o, p) = signal(&mut l, 2 * S, open("a", 0, Side::Buy, "2"));
    assert_eq!(o, SignalOutcome::Opened { executor: 1 });
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].side, p[0].qty), (Side::Buy, d("0.2")));
    assert_eq!(p[0].order_type, OrderType::Market);
    // Master 1000 × 0.1 = 100 BTC, capped at 5000 / 100 = 50 BTC.
    let (o, p) = signal(&mut l, 3 * S, open("b", 0, Side::Buy, "1000"));
    assert_eq!(o, SignalOutcome::Opened { executor: 2 });
    assert_eq!(p[0].qty, d("50"));
    // Refusals: duplicate id, pair not allowed, low confidence.
    let (o, p) = signal(&mut l, 4 * S, open("a", 0, Side::Buy, "2"));
    assert_eq!((o, p.len()), (SignalOutcome::Rejected(R::Duplicate), 0));
    let (o, _) = signal(&mut l, 4 * S, open("c", 1, Side::Buy, "2"));
    assert_eq!(o, SignalOutcome::Rejected(R::PairNotAllowed));
    let low = Signal {
        confidence: d("0.3"),
        ..open("d", 0, Side::Buy, "2")
    };
    let (o, _) = signal(&mut l, 4 * S, low);
    assert_eq!(o, SignalOutcome::Rejected(R::LowConfidence));
    // A third position, with its own tight take profit and an entry price: LIMIT.
    let own = Signal {
        take_profit: d("0.005"),
        entry_price: d("100.01"),
        ..open("e", 0, Side::Buy, "1")
    };
    let (o, p) = signal(&mut l, 5 * S, own);
    assert_eq!(o, SignalOutcome::Opened { executor: 3 });
    assert_eq!(
        (p[0].qty, p[0].price, p[0].order_type),
        (d("0.1"), d("100.01"), OrderType::Limit)
    );
    // A fourth is refused: three per pair at most.
    let (o, _) = signal(&mut l, 5 * S, open("f", 0, Side::Buy, "1"));
    assert_eq!(o, SignalOutcome::Rejected(R::MaxPositions));

    // The master closes "b": its executor sells the 50 BTC at the market.
    let (o, p) = signal(&mut l, 6 * S, close("b", Side::Buy));
    assert_eq!(o, SignalOutcome::Closed { executor: 2 });
    assert_eq!((p[0].side, p[0].qty), (Side::Sell, d("50")));
    assert_eq!(close_type(&l, 2), Some(CloseType::EarlyStop));
    // Repeating that CLOSE is a duplicate; a CLOSE of a side never opened has no position.
    let (o, _) = signal(&mut l, 6 * S, close("b", Side::Buy));
    assert_eq!(o, SignalOutcome::Rejected(R::Duplicate));
    let (o, _) = signal(&mut l, 6 * S, close("zz", Side::Sell));
    assert_eq!(o, SignalOutcome::Rejected(R::NoPosition));

    // +0.58% at the bid: "e" (take profit 0.5%) closes, "a" (4%) stays.
    book(&mut l, 7 * S, "100.59", "100.61", "500");
    assert_eq!(close_type(&l, 3), Some(CloseType::TakeProfit));
    assert_eq!(close_type(&l, 1), None);
    // −2.52% at the bid: "a" hits the default 2% stop loss.
    book(&mut l, 8 * S, "97.49", "97.51", "500");
    assert_eq!(close_type(&l, 1), Some(CloseType::StopLoss));

    // A short of 0.1, closed by the 60 s time limit.
    let (o, p) = signal(&mut l, 9 * S, open("g", 0, Side::Sell, "1"));
    assert_eq!(o, SignalOutcome::Opened { executor: 4 });
    assert_eq!((p[0].side, p[0].qty), (Side::Sell, d("0.1")));
    l.push(68 * S, Event::Timer(0));
    assert_eq!(close_type(&l, 4), None);
    l.push(70 * S, Event::Timer(0));
    assert_eq!(close_type(&l, 4), Some(CloseType::TimeLimit));

    let ControllerKind::CopyTrading(ct) = &l.engine.controllers[0].kind else {
        panic!("copy trading controller")
    };
    assert_eq!((ct.stats.opened, ct.stats.closed), (4, 1));
    assert_eq!(ct.stats.rejected_total(), 7);
    assert_eq!(ct.stats.rejected[R::Duplicate as usize], 2);
    assert!(ct.active.is_empty());
    let r = l.engine.report(0);
    assert_eq!(r.close_types[CloseType::TakeProfit as usize], 1);
    assert_eq!(r.close_types[CloseType::StopLoss as usize], 1);
    assert_eq!(r.close_types[CloseType::TimeLimit as usize], 1);
    assert_eq!(r.close_types[CloseType::EarlyStop as usize], 1);
    assert_replays(&l);
}

#[test]
fn available_quote_caps_the_size_and_stop_refuses_signals() {
    let cfg = CONFIG
        .replace("USDT = \"100000\"", "USDT = \"1000\"")
        .replace(
            "max_position_size_quote = \"5000\"",
            "max_position_size_quote = \"0\"",
        );
    let mut l = sim(1, &cfg);
    book(&mut l, S, "99.99", "100.01", "500");
    // 100 × 0.1 = 10 BTC, but 90% of 1000 USDT buys 9 BTC at mid 100.
    let (o, p) = signal(&mut l, 2 * S, open("a", 0, Side::Buy, "100"));
    assert_eq!(o, SignalOutcome::Opened { executor: 1 });
    assert_eq!(p[0].qty, d("9"));
    l.push(3 * S, Event::Command(Command::Stop));
    let (o, p) = signal(&mut l, 4 * S, open("b", 0, Side::Buy, "1"));
    assert_eq!((o, p.len()), (SignalOutcome::Rejected(R::Inactive), 0));
}

#[test]
fn a_signal_of_another_source_reaches_no_controller() {
    let mut l = sim(1, CONFIG);
    book(&mut l, S, "99.99", "100.01", "500");
    let from = l.outputs.len();
    let other = Signal {
        source: 1,
        ..open("a", 0, Side::Buy, "2")
    };
    l.push(2 * S, Event::Signal(other));
    assert!(l.outputs[from..].is_empty());
}
