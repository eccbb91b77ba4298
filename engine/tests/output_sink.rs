//! What the live runtime's engine thread does differently from a replay: it applies
//! each input where it lies in the ring under the number it gives it
//! (`Engine::apply_as`), and hands every output to a sink as it is pushed. Neither
//! changes what the engine does.

mod common;

use common::*;
use kestrel_engine::executors::OutputSink;
use kestrel_engine::*;
use std::sync::{Arc, Mutex};

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"

[balances]
BTC = "10"
USDT = "1000000"

[[controllers]]
type = "generic"
id = "qr"
strategy = "quote_replace"
instrument = "BTCUSDT"
update_interval = "0"
"#;

/// What a sink was told, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Input(u64),
    Output(Output),
}

struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl OutputSink for Recorder {
    fn input(&mut self, header: &Header) {
        self.0.lock().unwrap().push(Seen::Input(header.seq));
    }

    fn output(&mut self, output: &Output) {
        self.0.lock().unwrap().push(Seen::Output(*output));
    }
}

/// Quotes, venue confirmations, a fill, an unknown order (an alert) and a stop.
fn session(h: &mut H) {
    let mut ts = S;
    for (bid, ask) in [
        ("60000.00", "60000.10"),
        ("60000.20", "60000.30"),
        ("59999.90", "60000.00"),
    ] {
        ts += S;
        let outs = h.quote(ts, 0, bid, ask);
        for p in places(&outs) {
            h.report(ts, p.cid, ExecKind::Ack, "0", "0");
        }
        for cid in cancels(&outs) {
            h.report(ts, cid, ExecKind::Canceled, "0", "0");
        }
    }
    let last = places(&h.outputs).last().copied().unwrap();
    h.fill(ts + 1, &last, &last.price.to_string());
    h.report(ts + 2, ClientOrderId(u64::MAX), ExecKind::Fill, "1", "1");
    h.command(ts + 3, Command::Stop);
}

#[test]
fn a_sink_sees_each_output_as_pushed_and_changes_nothing() {
    let mut plain = H::new(CONFIG);
    session(&mut plain);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut sunk = H::new(CONFIG);
    assert!(sunk
        .e
        .set_output_sink(Some(Box::new(Recorder(seen.clone()))))
        .is_none());
    session(&mut sunk);

    // The same outputs with and without a sink, and a session worth checking.
    assert_eq!(sunk.outputs, plain.outputs);
    assert!(places(&plain.outputs).len() >= 6 && cancels(&plain.outputs).len() >= 4);
    assert!(alerts(&plain.outputs).contains(&AlertCode::UnknownOrder));
    assert!(plain
        .outputs
        .iter()
        .any(|o| matches!(o.action, Action::Stopped)));

    // Each input is announced once, before exactly the outputs it caused.
    let mut expected = Vec::new();
    for input in &sunk.inputs {
        expected.push(Seen::Input(input.header.seq));
        expected.extend(
            sunk.outputs
                .iter()
                .filter(|o| o.cause == input.header.seq)
                .map(|o| Seen::Output(*o)),
        );
    }
    assert_eq!(*seen.lock().unwrap(), expected);
}

#[test]
fn a_sink_taken_out_hears_nothing_more() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut h = H::new(CONFIG);
    h.e.set_output_sink(Some(Box::new(Recorder(seen.clone()))));
    let first = h.quote(S, 0, "60000.00", "60000.10");
    assert_eq!(seen.lock().unwrap().len(), 1 + first.len());
    assert!(h.e.set_output_sink(None).is_some());
    assert!(h.e.set_output_sink(None).is_none());
    let second = h.quote(2 * S, 0, "60001.00", "60001.10");
    assert_eq!((places(&second).len(), cancels(&second).len()), (2, 2));
    assert_eq!(seen.lock().unwrap().len(), 1 + first.len());
}

#[test]
fn applying_in_place_under_a_number_equals_applying_a_numbered_copy() {
    let mut numbered = H::new(CONFIG);
    session(&mut numbered);
    assert!(numbered.outputs.len() >= 12, "{}", numbered.outputs.len());

    // The same inputs with their header numbers wiped, applied as the runtime does.
    let start = SessionStart {
        session_id: 7,
        seed: 1,
        config: CONFIG.into(),
    };
    let mut e = Engine::new(&start).unwrap();
    let mut outputs = Vec::new();
    for input in &numbered.inputs {
        let mut unnumbered = input.clone();
        unnumbered.header.seq = 0;
        outputs.extend_from_slice(e.apply_as(input.header.seq, &unnumbered));
    }
    assert_eq!(outputs, numbered.outputs);
    // Causes are the numbers given, not the headers' zeros.
    assert!(outputs.iter().all(|o| o.cause > 0));
}
