//! Copy trading end to end over loopback: a master publishes signals over a WebSocket
//! and over the webhook while `kestrel run` trades a rising market on the simulated
//! venue. Positions open at the asserted sizes and close on take profit, stop loss,
//! time limit and the master's CLOSE; a bad signature, a disallowed pair, low
//! confidence and a duplicate id are refused; the journal replays byte-identically and
//! holds no secret.

use kestrel_engine::copy_trading::RejectReasonCode as R;
use kestrel_engine::{signal_id, Action, CloseType, Dec, RunStatus, SignalOutcome};
use kestrel_feeds::signals::sign_hex;
use kestrel_feeds::ws::testserver::{Session, Step, WsServer};
use kestrel_journal::JournalReader;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const WS_SECRET: &str = "ws-master-shared-secret-7f3a";
const HOOK_SECRET: &str = "webhook-hmac-secret-91c2";

/// 12,000 Binance book tickers 1 ms apart (event time, as recorded captures are
/// written: `<ts_ns> <frame>`), the bid rising 0.01 every 10 tickers from 100.
fn rising_market(path: &Path) {
    let mut s = String::new();
    let t0 = 1_767_225_600_000_000_000u64;
    for i in 0..12_000u64 {
        let bid = 10_000 + i / 10; // cents
        let ask = bid + 1;
        s.push_str(&format!(
            "{} {{\"stream\":\"btcusdt@bookTicker\",\"data\":{{\"u\":{},\"s\":\"BTCUSDT\",\"b\":\"{}.{:02}\",\"B\":\"50\",\"a\":\"{}.{:02}\",\"A\":\"50\"}}}}\n",
            t0 + i * 1_000_000,
            i + 1,
            bid / 100,
            bid % 100,
            ask / 100,
            ask % 100
        ));
    }
    std::fs::write(path, s).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// POSTs `body` to the webhook (retrying until it listens); returns the status code.
fn post(port: u16, body: &str, signature: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("webhook never listened: {e}"),
        }
    };
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         X-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = stream.read_to_string(&mut resp);
    resp.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad response {resp:?}"))
}

fn signed(port: u16, body: &str) -> u16 {
    post(
        port,
        body,
        &sign_hex(HOOK_SECRET.as_bytes(), body.as_bytes()),
    )
}

#[test]
fn master_signals_over_websocket_and_webhook_trade_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    rising_market(&tmp.path().join("prices.txt"));
    let ws_msg =
        |json: &str, secret: &str| Step::Text(format!("{{{json},\"secret\":\"{secret}\"}}"));
    let ws = WsServer::start(
        vec![Session {
            expect_subscribe: false,
            steps: vec![
                Step::Idle(Duration::from_millis(1500)),
                // Opens 2 × 0.5 = 1 BTC; closes at the default 0.2% take profit.
                ws_msg(
                    r#""id":"w1","pair":"BTCUSDT","side":"buy","amount":"2","action":"OPEN""#,
                    WS_SECRET,
                ),
                Step::Idle(Duration::from_millis(300)),
                // Wrong secret: refused by the source, never journaled.
                ws_msg(
                    r#""id":"w2","pair":"BTCUSDT","side":"buy","amount":"2","action":"OPEN""#,
                    "not-the-secret",
                ),
                // Not an allowed pair; too little confidence; a repeated id.
                ws_msg(
                    r#""id":"w3","pair":"ETHUSDT","side":"buy","amount":"2","action":"OPEN""#,
                    WS_SECRET,
                ),
                ws_msg(
                    r#""id":"w4","pair":"BTCUSDT","side":"buy","amount":"2","action":"OPEN","confidence":"0.4""#,
                    WS_SECRET,
                ),
                ws_msg(
                    r#""id":"w1","pair":"BTCUSDT","side":"buy","amount":"2","action":"OPEN""#,
                    WS_SECRET,
                ),
                Step::Idle(Duration::from_secs(15)),
            ],
        }],
        Duration::from_secs(120),
    )
    .unwrap();
    let port = free_port();
    let cfg = format!(
        r#"
[session]
id = 9
seed = 3
[runtime]
wait = "yield"
timer_interval_ms = 100
[feed]
kind = "recorded"
data = "prices.txt"
rate_per_sec = 1000
[venue]
latency_ns = 0
maker_fee = "0"
taker_fee = "0"
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
BTC = "10"
USDT = "100000"

[[controllers]]
type = "copy_trading"
id = "ws-master"
allowed_pairs = ["BTCUSDT"]
copy_ratio = "0.5"
take_profit = "0.002"
min_signal_confidence = "0.5"
[controllers.source]
kind = "websocket"
url = "{ws_url}"
auth = "shared-secret"
secret_env = "KESTREL_TEST_WS_SECRET"

[[controllers]]
type = "copy_trading"
id = "hook-master"
allowed_pairs = ["BTCUSDT"]
copy_ratio = "0.1"
time_limit = 2
[controllers.source]
kind = "webhook"
bind = "127.0.0.1:{port}"
auth = "hmac"
secret_env = "KESTREL_TEST_HOOK_SECRET"
"#,
        ws_url = ws.url("/signals")
    );
    std::fs::write(tmp.path().join("copy.toml"), cfg).unwrap();
    let journal = tmp.path().join("j");
    let child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["run", "copy.toml", "--journal", journal.to_str().unwrap()])
        .env("KESTREL_TEST_WS_SECRET", WS_SECRET)
        .env("KESTREL_TEST_HOOK_SECRET", HOOK_SECRET)
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // Wait for the webhook to listen, then for the first prices to arrive.
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
    // Webhook master. h1: 3 × 0.1 = 0.3 BTC, closed by the 2 s time limit.
    let h1 = r#"{"id":"h1","pair":"BTCUSDT","side":"buy","amount":"3","action":"OPEN"}"#;
    assert_eq!(signed(port, h1), 200);
    // h2: a 0.1 BTC short with its own 0.1% stop loss, in a rising market.
    let h2 =
        r#"{"id":"h2","pair":"BTCUSDT","side":"sell","amount":"1","sl":"0.001","action":"OPEN"}"#;
    assert_eq!(signed(port, h2), 200);
    // h3: 0.5 BTC, closed by the master's CLOSE at once.
    let h3 = r#"{"id":"h3","pair":"BTCUSDT","side":"buy","amount":"5","action":"OPEN"}"#;
    assert_eq!(signed(port, h3), 200);
    let c3 = r#"{"id":"h3","pair":"BTCUSDT","side":"buy","action":"CLOSE"}"#;
    assert_eq!(signed(port, c3), 200);
    // A bad signature is refused with 401; a repeated id is accepted by the source
    // and refused by the controller.
    let h4 = r#"{"id":"h4","pair":"BTCUSDT","side":"buy","amount":"1","action":"OPEN"}"#;
    assert_eq!(post(port, h4, &"0".repeat(64)), 401);
    assert_eq!(signed(port, h1), 200);

    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(WS_SECRET) && !text.contains(HOOK_SECRET));
    assert!(text.contains("copy trading hook-master"), "{text}");
    assert!(
        text.contains("executors closed: time limit 1, stop loss 1, take profit 1, early stop 1"),
        "{text}"
    );
    assert!(
        text.contains("signals  opened 3, closed 1, rejected 1 (duplicate 1)"),
        "{text}"
    );
    assert!(
        text.contains("signal source hook-master: accepted 5, refused unauthenticated 1"),
        "{text}"
    );
    assert!(
        text.contains("signal source ws-master: accepted 4, refused unauthenticated 1"),
        "{text}"
    );

    // Decisions, the orders they placed, and how each executor closed.
    let reader = JournalReader::open(&journal).unwrap();
    let outputs = reader.outputs().unwrap();
    let mut decisions: BTreeMap<(u16, u64), Vec<SignalOutcome>> = BTreeMap::new();
    let mut first_qty: BTreeMap<u32, Dec> = BTreeMap::new();
    let mut closes: BTreeMap<u32, CloseType> = BTreeMap::new();
    let mut last_opened = None;
    for o in &outputs {
        match &o.action {
            Action::SignalDecision {
                controller,
                signal,
                outcome,
                ..
            } => {
                decisions
                    .entry((*controller, *signal))
                    .or_default()
                    .push(*outcome);
                if let SignalOutcome::Opened { executor } = outcome {
                    last_opened = Some(*executor);
                }
            }
            Action::Place(p) => {
                if let Some(e) = last_opened.take() {
                    first_qty.insert(e, p.qty);
                }
            }
            Action::ExecutorUpdate {
                executor,
                status: RunStatus::Terminated,
                close_type: Some(c),
                ..
            } => {
                closes.insert(*executor, *c);
            }
            _ => {}
        }
    }
    let id = |s: &str| signal_id(s.as_bytes());
    let opened = |c: u16, s: &str| match decisions.get(&(c, id(s))).map(|v| v[0]) {
        Some(SignalOutcome::Opened { executor }) => executor,
        other => panic!("{s}: {other:?}\n{decisions:?}"),
    };
    let (w1, h1e, h2e, h3e) = (
        opened(0, "w1"),
        opened(1, "h1"),
        opened(1, "h2"),
        opened(1, "h3"),
    );
    let qty = |e: u32| first_qty[&e];
    let dec = |s: &str| Dec::parse(s).unwrap();
    assert_eq!(
        (qty(w1), qty(h1e), qty(h2e), qty(h3e)),
        (dec("1"), dec("0.3"), dec("0.1"), dec("0.5"))
    );
    assert_eq!(closes.get(&w1), Some(&CloseType::TakeProfit), "{closes:?}");
    assert_eq!(closes.get(&h1e), Some(&CloseType::TimeLimit), "{closes:?}");
    assert_eq!(closes.get(&h2e), Some(&CloseType::StopLoss), "{closes:?}");
    assert_eq!(closes.get(&h3e), Some(&CloseType::EarlyStop), "{closes:?}");
    assert_eq!(
        decisions[&(1, id("h3"))],
        vec![
            SignalOutcome::Opened { executor: h3e },
            SignalOutcome::Closed { executor: h3e }
        ]
    );
    let refused = |c: u16, s: &str| decisions[&(c, id(s))].last().copied();
    assert_eq!(
        refused(0, "w3"),
        Some(SignalOutcome::Rejected(R::PairNotAllowed))
    );
    assert_eq!(
        refused(0, "w4"),
        Some(SignalOutcome::Rejected(R::LowConfidence))
    );
    assert_eq!(
        refused(0, "w1"),
        Some(SignalOutcome::Rejected(R::Duplicate))
    );
    assert_eq!(
        refused(1, "h1"),
        Some(SignalOutcome::Rejected(R::Duplicate))
    );
    assert!(!decisions.contains_key(&(0, id("w2"))));
    assert!(!decisions.contains_key(&(1, id("h4"))));

    // The journal replays byte for byte and holds neither secret.
    let verify = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["replay", "--verify", journal.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    for entry in std::fs::read_dir(&journal).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for secret in [WS_SECRET, HOOK_SECRET] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
    }
    // Signal-to-order latency is reported separately.
    let lat = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["latency", journal.to_str().unwrap()])
        .output()
        .unwrap();
    let lat = String::from_utf8_lossy(&lat.stdout);
    assert!(
        lat.contains("orders caused by copy-trading signals") && lat.contains("signal-to-order"),
        "{lat}"
    );
    eprintln!("{text}\n{lat}");
    drop(ws);
}
