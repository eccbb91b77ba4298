//! Secrets never reach a journal or a log. A session runs with a copy-trading signal
//! secret and Binance credentials taken from the environment: a webhook source
//! receives signals (authenticated in the header and in the body, and refused with
//! wrong secrets that contain the real one), the Binance connector places and fills
//! an order against the loopback mock venue, everything is journaled, and every log
//! record, error and debug print is captured. Every file of the journal directory and
//! the captured text are then scanned for the secrets' bytes. The `kestrel` binary is
//! checked the same way (journal files and its stdout/stderr).

use kestrel_engine::config::{Config, SignalAuth, SignalSourceConfig, SignalSourceKind};
use kestrel_engine::*;
use kestrel_feeds::signals::{SignalParser, SignalSource};
use kestrel_gateways::binance::{
    BinanceConfig, BinanceConnector, Credentials, MockVenue, SystemClock, Venue,
};
use kestrel_journal::{JournalOptions, JournalWriter, LatencyRecord, Meta};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const SIGNAL_SECRET: &str = "sig-S3cr3t-7f9c2e81d4";
const API_KEY: &str = "apikey-Zq8LmN3vR5tY7uW9xA1bC3dE5fG7hJ9kL2mN4pQ6rS8tU0vW2xY4zA6bC8dE";
const API_SECRET: &str = "apisecret-Hq2Wn4Er6Ty8Ui0Op1As3Df5Gh7Jk9Lz1Xc3Vb5Nm7Qw9Er1Ty3Ui5Op7As";

/// Every log record, as text.
struct Capture;
static LOGS: OnceLock<Mutex<String>> = OnceLock::new();

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        let mut s = LOGS.get_or_init(Default::default).lock().unwrap();
        s.push_str(&format!("{} {}: {}\n", r.level(), r.target(), r.args()));
    }
    fn flush(&self) {}
}

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn spec() -> InstrumentSpec {
    InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: d("0.01"),
        lot_size: d("0.00001"),
        min_qty: Dec::ZERO,
        min_notional: Dec::ZERO,
        market: Market::Spot,
        leverage: 1,
    }
}

fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &str) -> String {
    let mut req = format!(
        "POST /signal HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn mono() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts no secret (nor a 12-byte prefix of one) is in the journal files or `text`.
fn scan(journal: &Path, text: &str) -> usize {
    let secrets = [
        SIGNAL_SECRET,
        API_SECRET,
        &API_SECRET[..12],
        &SIGNAL_SECRET[..12],
    ];
    let found = files(journal);
    assert!(
        found.iter().any(|(n, _)| n.ends_with("data.mdb")),
        "{found:?}"
    );
    for (name, bytes) in &found {
        for s in secrets {
            assert!(!contains(bytes, s.as_bytes()), "secret {s:?} in {name}");
        }
    }
    for s in secrets {
        assert!(
            !text.contains(s),
            "secret {s:?} in the captured logs:\n{text}"
        );
    }
    found.len()
}

#[test]
fn secrets_stay_out_of_journals_and_logs() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    // SAFETY-free on edition 2021; this test file holds one test (one thread sets them).
    std::env::set_var("KESTREL_TEST_SIGNAL_SECRET", SIGNAL_SECRET);
    std::env::set_var("KESTREL_TEST_API_KEY", API_KEY);
    std::env::set_var("KESTREL_TEST_API_SECRET", API_SECRET);
    let mut text = String::new();

    // Copy-trading webhook with a shared secret from the environment.
    let src_cfg = SignalSourceConfig {
        kind: SignalSourceKind::Webhook,
        url: None,
        bind: "127.0.0.1:0".into(),
        auth: SignalAuth::SharedSecret,
        secret_env: Some("KESTREL_TEST_SIGNAL_SECRET".into()),
        secret_file: None,
        poll_interval_ms: 50,
        max_body_bytes: 4096,
        request_timeout_ms: 500,
    };
    let parser = SignalParser::new(&[spec()], 0);
    let source = SignalSource::from_config(&src_cfg, parser, mono).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = source
        .spawn(move |r| {
            let _ = tx.send(r);
        })
        .unwrap();
    let addr = handle.local_addr().unwrap();
    let open = |id: &str, extra: &str| {
        format!(
            r#"{{"id":"{id}","pair":"BTCUSDT","side":"buy","amount":"0.25","action":"OPEN"{extra}}}"#
        )
    };
    let wrong = format!("{SIGNAL_SECRET}x");
    let responses = [
        post(addr, &[("X-Signal-Secret", SIGNAL_SECRET)], &open("a", "")),
        post(
            addr,
            &[],
            &open("b", &format!(r#","secret":"{SIGNAL_SECRET}""#)),
        ),
        post(addr, &[("X-Signal-Secret", &wrong)], &open("c", "")),
        post(addr, &[], &open("d", &format!(r#","secret":"{wrong}""#))),
        post(
            addr,
            &[],
            &format!(r#"{{"secret":"{SIGNAL_SECRET}","pair":"#),
        ),
    ];
    let statuses: Vec<&str> = responses
        .iter()
        .map(|r| r.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        statuses,
        ["200", "200", "401", "401", "400"],
        "{responses:?}"
    );
    let mut signals = Vec::new();
    for _ in 0..2 {
        signals.push(rx.recv_timeout(Duration::from_secs(5)).unwrap());
    }
    text.push_str(&format!("{responses:?}\n{signals:?}\n{src_cfg:?}\n"));
    text.push_str(&format!("{:?}\n", handle.stop()));

    // Binance connector with credentials from the environment, against the mock.
    let mock = MockVenue::start(
        Venue::Spot,
        API_KEY,
        API_SECRET.as_bytes(),
        vec![spec()],
        d("1000000"),
        Duration::from_secs(60),
    )
    .unwrap();
    let cfg = BinanceConfig::new(
        Venue::Spot,
        &mock.rest_addr(),
        &mock.ws_api_url(),
        &mock.stream_url(),
        vec![spec()],
    );
    let creds =
        Credentials::from_env_names("KESTREL_TEST_API_KEY", "KESTREL_TEST_API_SECRET").unwrap();
    text.push_str(&format!("{creds:?}\n"));
    let mut conn = BinanceConnector::new(cfg, creds, Box::<SystemClock>::default()).unwrap();
    conn.start().unwrap();
    assert!(conn.wait_ready(Duration::from_secs(5)).unwrap());
    let order = PlaceOrder {
        cid: ClientOrderId::new(1, 1),
        instrument: 0,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        price: d("60000"),
        qty: d("0.001"),
        position_action: PositionAction::Open,
    };
    let sent = conn.place(&order).unwrap();
    let mut reports = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while reports.is_empty() {
        assert!(Instant::now() < until, "no ack: {:?}", conn.last_error());
        conn.poll(Duration::from_millis(2), &mut reports).unwrap();
    }
    mock.fill(order.cid, d("0.001"), d("59999.5"), true)
        .unwrap();
    while !reports
        .iter()
        .any(|r: &kestrel_gateways::binance::Report| r.exec.kind == ExecKind::Fill)
    {
        assert!(
            Instant::now() < until,
            "no fill: {reports:?} {:?}",
            conn.last_error()
        );
        conn.poll(Duration::from_millis(2), &mut reports).unwrap();
    }
    // A wrong-secret connector fails, and its error is captured too.
    let bad = Credentials {
        api_key: API_KEY.into(),
        secret: kestrel_gateways::binance::Secret::new(format!("{API_SECRET}-wrong")),
    };
    let cfg = BinanceConfig::new(
        Venue::Spot,
        &mock.rest_addr(),
        &mock.ws_api_url(),
        &mock.stream_url(),
        vec![spec()],
    );
    let mut wrong_conn = BinanceConnector::new(cfg, bad, Box::<SystemClock>::default()).unwrap();
    let started = wrong_conn.start();
    text.push_str(&format!(
        "{conn:?}\n{:?}\n{:?}\n{sent:?}\n{reports:?}\n{started:?}\n{wrong_conn:?}\n{:?}\n",
        conn.stats(),
        conn.last_error(),
        wrong_conn.last_error()
    ));

    // Journal the session: config, signals, the order, its reports.
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let config = Config::from_toml(
        "[[instruments]]\nsymbol = \"BTCUSDT\"\nbase = \"BTC\"\nquote = \"USDT\"\ntick_size = \"0.01\"\nlot_size = \"0.00001\"\n",
    )
    .unwrap();
    let meta = Meta {
        schema_version: SCHEMA_VERSION,
        session_id: 1,
        seed: 1,
        config_toml: config.to_toml(),
        created_unix_ns: 1,
    };
    let mut w = JournalWriter::create(&journal, &meta, &JournalOptions::default()).unwrap();
    let mut inputs = vec![Input {
        header: Header {
            seq: 1,
            ..Default::default()
        },
        event: Event::SessionStart(SessionStart {
            session_id: 1,
            seed: 1,
            config: config.to_toml(),
        }),
    }];
    for s in &signals {
        inputs.push(Input {
            header: Header {
                seq: inputs.len() as u64 + 1,
                source: Source::Signal,
                recv_ns: s.recv_ns,
                ..Default::default()
            },
            event: Event::Signal(s.signal),
        });
    }
    for r in &reports {
        inputs.push(Input {
            header: Header {
                seq: inputs.len() as u64 + 1,
                source: Source::Venue,
                recv_ns: r.recv_ns,
                venue_ts: r.venue_ts_ns,
                ..Default::default()
            },
            event: Event::Exec(r.exec),
        });
    }
    let outputs = [Output {
        seq: 1,
        cause: 2,
        ts: 0,
        action: Action::Place(order),
    }];
    let lat = [LatencyRecord {
        output_seq: 1,
        cause_seq: 2,
        sent_ns: sent.sent_ns,
        ..Default::default()
    }];
    w.append(&inputs, &outputs, &lat).unwrap();
    drop(w);
    text.push_str(&LOGS.get_or_init(Default::default).lock().unwrap());
    assert!(text.contains("webhook"), "the webhook logged: {text}");
    let n = scan(&journal, &text);
    assert_eq!(n, 2, "data.mdb and lock.mdb");
    // The scan itself can fail: a planted secret is found, in a log or in a file.
    let planted = format!("{text} {}", &API_SECRET[..20]);
    let failure = |text: &str| {
        let err = std::panic::catch_unwind(|| scan(&journal, text)).unwrap_err();
        kestrel_feeds::threads::panic_message(&*err).to_string()
    };
    let msg = failure(&planted);
    assert!(msg.contains("in the captured logs"), "{msg}");
    std::fs::write(journal.join("notes.txt"), SIGNAL_SECRET).unwrap();
    let msg = failure("");
    assert!(msg.contains("notes.txt"), "{msg}");
    std::fs::remove_file(journal.join("notes.txt")).unwrap();

    // The CLI: a paper session with the same secrets in its environment.
    let cli_journal = tmp.path().join("cli");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["run", "--events", "5000", "--journal"])
        .arg(&cli_journal)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let cli_text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    scan(&cli_journal, &cli_text);
}
