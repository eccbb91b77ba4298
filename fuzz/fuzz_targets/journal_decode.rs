//! Journal record decoding (inputs, outputs, latency records). Raw bytes are decoded
//! as they are; then a valid record (shape picked by the input) is encoded and
//! corrupted at positions the input chooses, so the decoder also meets damaged
//! records that are almost right, which random bytes rarely are.
#![no_main]
use kestrel_engine::*;
use kestrel_journal::{
    decode_input, decode_latency, decode_output, encode_input, encode_latency, encode_output,
    LatencyRecord,
};
use libfuzzer_sys::fuzz_target;

fn template(kind: u8, n: u8) -> (Option<Input>, Option<Output>) {
    let header = Header {
        seq: 7,
        source: Source::Feed,
        ts: 1_700_000_000_000_000_000,
        ..Default::default()
    };
    let event = match kind % 8 {
        0 => Event::BookTicker(BookTicker {
            bid_px: Dec(100),
            ask_px: Dec(101),
            ..Default::default()
        }),
        1 => {
            let mut d = Depth {
                len: n % (DEPTH_CHUNK as u8 + 1),
                ..Default::default()
            };
            d.levels[0].qty = Dec(5);
            Event::Depth(d)
        }
        2 => Event::Exec(ExecReport {
            cid: ClientOrderId::new(1, n as u32),
            kind: ExecKind::PartialFill,
            ..Default::default()
        }),
        3 => Event::SessionStart(SessionStart {
            session_id: 1,
            seed: 2,
            config: "x".repeat(n as usize),
        }),
        4 => Event::Command(if n % 2 == 0 {
            Command::KillSwitch
        } else {
            Command::StopExecutor {
                executor: 3,
                keep_position: true,
            }
        }),
        5 => Event::Timer(n as u32),
        6 => {
            return (
                None,
                Some(Output {
                    seq: 1,
                    cause: 2,
                    ts: 3,
                    action: Action::Alert {
                        code: AlertCode::RiskPriceBand,
                        cid: ClientOrderId::new(1, 2),
                    },
                }),
            )
        }
        _ => {
            return (
                None,
                Some(Output {
                    seq: 1,
                    cause: 2,
                    ts: 3,
                    action: Action::Place(PlaceOrder::default()),
                }),
            )
        }
    };
    (Some(Input { header, event }), None)
}

fn check(bytes: &[u8]) {
    if let Ok(input) = decode_input(bytes) {
        // Whatever decodes re-encodes to bytes that decode to the same value.
        assert_eq!(decode_input(&encode_input(&input)).expect("decodes"), input);
    }
    if let Ok(output) = decode_output(bytes) {
        assert_eq!(
            decode_output(&encode_output(&output)).expect("decodes"),
            output
        );
    }
    if let Ok(l) = decode_latency(bytes) {
        assert_eq!(decode_latency(&encode_latency(&l)).expect("decodes"), l);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let [kind, n, rest @ ..] = data else {
        return;
    };
    let mut bytes = match template(*kind, *n) {
        (Some(i), _) => encode_input(&i),
        (_, Some(o)) => encode_output(&o),
        _ => encode_latency(&LatencyRecord::default()),
    };
    // Pairs of (position, xor mask); a position past the end truncates.
    for pair in rest.chunks(2) {
        let pos = pair[0] as usize;
        let mask = pair.get(1).copied().unwrap_or(0);
        if pos < bytes.len() {
            bytes[pos] ^= mask;
        } else {
            bytes.truncate(pos % (bytes.len() + 1));
        }
    }
    check(&bytes);
});
