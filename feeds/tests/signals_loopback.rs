//! Copy-trading signal sources over loopback: a test master posts to the webhook,
//! pushes over WebSocket, and serves a list to the REST poller.

use kestrel_engine::config::{SignalAuth, SignalSourceConfig, SignalSourceKind};
use kestrel_engine::types::InstrumentSpec;
use kestrel_engine::{signal_id, Dec, Side, Signal, SignalAction};
use kestrel_feeds::signals::{
    sign_hex, Authenticator, CounterSnapshot, ReceivedSignal, RestPoller, Secret, SignalParser,
    SignalSource, WebhookSource, WsSignalSource,
};
use kestrel_feeds::ws::testserver::{Session, Step, WsServer};
use kestrel_feeds::ws::WsConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

const SECRET: &[u8] = b"m4ster-s3cret";

fn mono() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn spec(sym: &str) -> InstrumentSpec {
    InstrumentSpec {
        symbol: sym.into(),
        base: sym[..3].into(),
        quote: "USDT".into(),
        tick_size: d("0.01"),
        lot_size: d("0.0001"),
        min_qty: Dec::ZERO,
        min_notional: Dec::ZERO,
        market: Default::default(),
        leverage: 1,
    }
}

fn parser(source: u8) -> SignalParser {
    SignalParser::new(&[spec("BTCUSDT"), spec("ETHUSDT")], source)
}

fn source_cfg(kind: SignalSourceKind, auth: SignalAuth) -> SignalSourceConfig {
    SignalSourceConfig {
        kind,
        url: None,
        bind: "127.0.0.1:0".into(),
        auth,
        secret_env: Some("UNUSED".into()),
        secret_file: None,
        poll_interval_ms: 50,
        max_body_bytes: 2048,
        request_timeout_ms: 300,
    }
}

fn collector() -> (
    impl FnMut(ReceivedSignal) + Send + 'static,
    Receiver<ReceivedSignal>,
) {
    let (tx, rx) = channel();
    (
        move |r: ReceivedSignal| {
            let _ = tx.send(r);
        },
        rx,
    )
}

/// Sends raw request bytes, returns (status, body) of the response.
fn send_raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut req = format!(
        "POST /signal HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    send_raw(addr, req.as_bytes())
}

fn post_signed(addr: SocketAddr, body: &str) -> (u16, String) {
    post(
        addr,
        &[("X-Signature", &sign_hex(SECRET, body.as_bytes()))],
        body,
    )
}

fn recv(rx: &Receiver<ReceivedSignal>) -> ReceivedSignal {
    rx.recv_timeout(Duration::from_secs(5))
        .expect("a signal within 5 s")
}

const OPEN: &str = r#"{"id":"m-1","pair":"BTCUSDT","side":"buy","amount":"0.25","entry_price":"64000.5","stop_loss":"0.02","take_profit":"0.05","confidence":"0.9","action":"OPEN"}"#;
const CLOSE: &str = r#"{"id":"m-1","pair":"BTCUSDT","side":"long","action":"CLOSE"}"#;

fn open_signal(source: u8) -> Signal {
    Signal {
        id: signal_id(b"m-1"),
        instrument: 0,
        side: Side::Buy,
        amount: d("0.25"),
        entry_price: d("64000.5"),
        stop_loss: d("0.02"),
        take_profit: d("0.05"),
        confidence: d("0.9"),
        action: SignalAction::Open,
        source,
    }
}

fn close_signal(source: u8) -> Signal {
    Signal {
        id: signal_id(b"m-1"),
        instrument: 0,
        side: Side::Buy,
        action: SignalAction::Close,
        source,
        ..Signal::default()
    }
}

#[test]
fn webhook_with_hmac_forwards_exact_signals_and_refuses_the_rest() {
    let cfg = source_cfg(SignalSourceKind::Webhook, SignalAuth::Hmac);
    let auth = Authenticator::Hmac(Secret::new(SECRET.to_vec()));
    let hook = WebhookSource::bind(&cfg, parser(2), auth, mono).unwrap();
    let addr = hook.local_addr();
    assert!(addr.ip().is_loopback());
    let (sink, rx) = collector();
    let handle = hook.spawn(sink).unwrap();
    assert_eq!(handle.local_addr(), Some(addr));

    let before = mono();
    let (status, body) = post_signed(addr, OPEN);
    let after = mono();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!("{{\"ok\":true,\"id\":\"{:016x}\"}}", signal_id(b"m-1"))
    );
    let got = recv(&rx);
    assert_eq!(got.signal, open_signal(2));
    assert!(
        before < got.recv_ns && got.recv_ns < after,
        "{before} {} {after}",
        got.recv_ns
    );

    let (status, _) = post_signed(addr, CLOSE);
    assert_eq!(status, 200);
    assert_eq!(recv(&rx).signal, close_signal(2));

    // Bad signature: the body was altered after signing.
    let sig = sign_hex(SECRET, OPEN.as_bytes());
    let altered = OPEN.replace("0.25", "25.0");
    assert_eq!(
        post(addr, &[("X-Signature", &sig)], &altered),
        (
            401,
            r#"{"ok":false,"error":"X-Signature header does not match"}"#.into()
        )
    );
    // Signed with another key.
    let other = sign_hex(b"not-the-secret", OPEN.as_bytes());
    assert_eq!(post(addr, &[("X-Signature", &other)], OPEN).0, 401);
    assert_eq!(
        post(addr, &[], OPEN),
        (
            401,
            r#"{"ok":false,"error":"missing X-Signature header"}"#.into()
        )
    );
    // Malformed JSON, correctly signed.
    let (status, body) = post_signed(addr, r#"{"id":"m-2","pair":"BTCUSDT""#);
    assert_eq!(status, 400);
    assert!(
        body.starts_with(r#"{"ok":false,"error":"not valid JSON"#),
        "{body}"
    );
    // Well-formed but unusable.
    let (status, body) = post_signed(
        addr,
        r#"{"id":"m-3","pair":"DOGEUSDT","side":"buy","amount":1,"action":"OPEN"}"#,
    );
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            r#"{"ok":false,"error":"pair \"DOGEUSDT\" is not an instrument of this session"}"#
        )
    );
    // HTTP-level refusals.
    assert_eq!(
        send_raw(addr, b"GET /signal HTTP/1.1\r\nHost: x\r\n\r\n").0,
        405
    );
    assert_eq!(
        send_raw(addr, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"),
        (
            411,
            r#"{"ok":false,"error":"Content-Length is required (chunked bodies are not accepted)"}"#
                .into()
        )
    );
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(3000));
    assert_eq!(
        post_signed(addr, &big),
        (
            413,
            r#"{"ok":false,"error":"body of 3010 bytes exceeds the 2048-byte limit"}"#.into()
        )
    );
    // A client that announces a body and never sends it times out (300 ms).
    let t0 = Instant::now();
    let (status, body) = send_raw(addr, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n{");
    assert_eq!(
        (status, body.as_str()),
        (
            408,
            r#"{"ok":false,"error":"request not received in time"}"#
        )
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );

    assert!(rx.try_recv().is_err(), "nothing refused was forwarded");
    assert_eq!(
        handle.stop(),
        CounterSnapshot {
            accepted: 2,
            rejected_auth: 3,
            rejected_malformed: 5,
            duplicates: 0,
            transport_errors: 1,
            thread_panicked: false,
        }
    );
}

#[test]
fn webhook_with_shared_secret_takes_header_or_tradingview_body() {
    let dir = std::env::temp_dir().join(format!("kestrel-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("webhook.key");
    std::fs::write(&key, b"tv-passphrase\n").unwrap();
    let mut cfg = source_cfg(SignalSourceKind::Webhook, SignalAuth::SharedSecret);
    cfg.secret_env = None;
    cfg.secret_file = Some(key.to_str().unwrap().into());
    let source = SignalSource::from_config(&cfg, parser(0), mono).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (sink, rx) = collector();
    let handle = source.spawn(sink).unwrap();
    let addr = handle.local_addr().unwrap();

    let tv = r#"{"id":"Long-1700000000","ticker":"BINANCE:ETHUSDT","action":"buy","contracts":"1.5","price":"3000","market_position":"long","passphrase":"tv-passphrase"}"#;
    assert_eq!(post(addr, &[], tv).0, 200);
    assert_eq!(
        recv(&rx).signal,
        Signal {
            id: signal_id(b"Long-1700000000"),
            instrument: 1,
            side: Side::Buy,
            amount: d("1.5"),
            entry_price: d("3000"),
            ..Signal::default()
        }
    );
    let tv_exit = r#"{"id":"Exit-1700000600","ticker":"ETHUSDT","action":"sell","contracts":"1.5","market_position":"flat","prev_market_position":"long","passphrase":"tv-passphrase"}"#;
    assert_eq!(post(addr, &[], tv_exit).0, 200);
    let exit = recv(&rx).signal;
    assert_eq!(
        (exit.action, exit.side, exit.instrument),
        (SignalAction::Close, Side::Buy, 1)
    );
    assert_eq!(
        post(addr, &[], &tv.replace("tv-passphrase", "guess")),
        (
            401,
            r#"{"ok":false,"error":"secret field does not match"}"#.into()
        )
    );
    assert_eq!(
        post(addr, &[], OPEN),
        (401, r#"{"ok":false,"error":"missing secret field"}"#.into())
    );
    assert_eq!(
        post(addr, &[("X-Signal-Secret", "tv-passphrase")], OPEN).0,
        200
    );
    assert_eq!(recv(&rx).signal, open_signal(0));
    assert_eq!(post(addr, &[("X-Signal-Secret", "wrong")], OPEN).0, 401);
    assert_eq!(post(addr, &[], "not json").0, 400);
    assert!(rx.try_recv().is_err());
    let c = handle.stop();
    assert_eq!(
        (c.accepted, c.rejected_auth, c.rejected_malformed),
        (3, 3, 1)
    );
}

#[test]
fn websocket_source_forwards_authenticated_signals_across_reconnects() {
    let with_secret =
        |s: &str| s.replacen('{', &format!("{{\"secret\":\"{}\",", "m4ster-s3cret"), 1);
    let sessions = vec![
        Session {
            expect_subscribe: false,
            steps: vec![
                Step::Text(with_secret(OPEN)),
                Step::Text(OPEN.replace("m-1", "m-unsigned")),
                Step::Text("{\"id\":".into()),
                Step::Drop,
            ],
        },
        Session {
            expect_subscribe: false,
            steps: vec![
                Step::Text(format!("[{}]", with_secret(CLOSE))),
                Step::Text(with_secret(&OPEN.replace("m-1", "m-2"))),
                Step::Idle(Duration::from_millis(300)),
                Step::Close,
            ],
        },
    ];
    let server = WsServer::start(sessions, Duration::from_secs(10)).unwrap();
    let cfg = source_cfg(SignalSourceKind::Websocket, SignalAuth::SharedSecret);
    let auth = Authenticator::SharedSecret(Secret::new(SECRET.to_vec()));
    let ws = WsConfig {
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        ..WsConfig::default()
    };
    let source = WsSignalSource::new(&server.url("/signals"), &cfg, parser(1), auth, mono)
        .with_ws_config(ws);
    let (sink, rx) = collector();
    let handle = source.spawn(sink).unwrap();

    let first = recv(&rx);
    assert_eq!(first.signal, open_signal(1));
    assert_eq!(recv(&rx).signal, close_signal(1));
    let third = recv(&rx);
    assert_eq!(
        third.signal,
        Signal {
            id: signal_id(b"m-2"),
            ..open_signal(1)
        }
    );
    assert!(third.recv_ns > first.recv_ns);
    // The server's second session has been served once the third signal is in.
    let deadline = Instant::now() + Duration::from_secs(5);
    while handle.counters().rejected_malformed < 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let c = handle.stop();
    assert_eq!(
        (c.accepted, c.rejected_auth, c.rejected_malformed),
        (3, 1, 1)
    );
    assert!(
        c.transport_errors >= 1,
        "the dropped connection is counted: {c:?}"
    );
    assert!(rx.try_recv().is_err());
    let logs = server.stop();
    assert!(logs.len() >= 2, "reconnected: {} sessions", logs.len());
    assert_eq!(logs[0].path, "/signals");
}

/// A master's REST endpoint: answers `Authorization: Bearer <token>` requests with the
/// canned bodies in order (the last repeats), others with 401.
struct Master {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Master {
    fn start(token: &'static str, bodies: Vec<String>) -> Master {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (stop.clone(), served.clone());
        let handle = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let mut s = match listener.accept() {
                    Ok((s, _)) => s,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(n) if n > 0 => head.extend_from_slice(&b[..n]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let authorized = head
                    .lines()
                    .any(|l| l == format!("Authorization: Bearer {token}"));
                let (status, body) = if authorized {
                    let n = count.fetch_add(1, Ordering::Relaxed);
                    ("200 OK", bodies[n.min(bodies.len() - 1)].clone())
                } else {
                    ("401 Unauthorized", r#"{"error":"bad token"}"#.to_string())
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Master {
            addr,
            stop,
            served,
            handle: Some(handle),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/api/signals?limit=10", self.addr)
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn item(id: &str, side: &str, action: &str) -> String {
    format!(r#"{{"id":"{id}","pair":"ETHUSDT","side":"{side}","amount":"2","action":"{action}"}}"#)
}

#[test]
fn rest_poller_sends_the_bearer_token_and_forwards_each_id_once() {
    let first = format!(
        "[{},{},{}]",
        item("r-1", "buy", "OPEN"),
        item("r-2", "sell", "OPEN"),
        r#"{"id":"r-bad","pair":"ETHUSDT","side":"sideways","amount":"2","action":"OPEN"}"#
    );
    let second = format!(
        r#"{{"signals":[{},{},{},{}]}}"#,
        item("r-1", "buy", "OPEN"),
        item("r-2", "sell", "OPEN"),
        r#"{"id":"r-bad","pair":"ETHUSDT","side":"sideways","amount":"2","action":"OPEN"}"#,
        item("r-1", "buy", "CLOSE")
    );
    let master = Master::start("tok-123", vec![first, second]);
    let mut cfg = source_cfg(SignalSourceKind::Rest, SignalAuth::SharedSecret);
    cfg.url = Some(master.url());
    let auth = Authenticator::SharedSecret(Secret::new(b"tok-123".to_vec()));
    let mut poller = RestPoller::new(&master.url(), &cfg, parser(3), auth, mono).unwrap();
    assert_eq!(poller.addr(), master.addr.to_string());
    assert_eq!(poller.path(), "/api/signals?limit=10");
    assert_eq!(format!("{poller:?}").matches("tok-123").count(), 0);

    let mut got = Vec::new();
    assert_eq!(poller.poll(&mut |r| got.push(r)), 2);
    assert_eq!(poller.poll(&mut |r| got.push(r)), 1);
    assert_eq!(poller.poll(&mut |r| got.push(r)), 0);
    let signals: Vec<(u64, Side, SignalAction)> = got
        .iter()
        .map(|r| (r.signal.id, r.signal.side, r.signal.action))
        .collect();
    assert_eq!(
        signals,
        vec![
            (signal_id(b"r-1"), Side::Buy, SignalAction::Open),
            (signal_id(b"r-2"), Side::Sell, SignalAction::Open),
            (signal_id(b"r-1"), Side::Buy, SignalAction::Close),
        ]
    );
    assert!(got
        .iter()
        .all(|r| r.signal.source == 3 && r.signal.instrument == 1));
    assert!(got[0].recv_ns == got[1].recv_ns && got[2].recv_ns > got[1].recv_ns);
    assert_eq!(master.served.load(Ordering::Relaxed), 3);

    assert_eq!(
        poller.counters(),
        CounterSnapshot {
            accepted: 3,
            rejected_auth: 0,
            rejected_malformed: 1,
            duplicates: 3 + 4,
            transport_errors: 0,
            thread_panicked: false,
        }
    );

    // A wrong token is refused by the master: a failed poll, nothing forwarded.
    let auth = Authenticator::SharedSecret(Secret::new(b"tok-999".to_vec()));
    let mut wrong = RestPoller::new(&master.url(), &cfg, parser(3), auth, mono).unwrap();
    assert_eq!(wrong.poll(&mut |r| got.push(r)), 0);
    assert_eq!(got.len(), 3);
    assert_eq!(wrong.counters().transport_errors, 1);
    assert_eq!(wrong.counters().accepted, 0);

    // On its own thread, through the generic constructor path.
    let (sink, rx) = collector();
    let auth = Authenticator::SharedSecret(Secret::new(b"tok-123".to_vec()));
    let threaded = RestPoller::new(&master.url(), &cfg, parser(3), auth, mono).unwrap();
    let handle = threaded.spawn(sink).unwrap();
    assert_eq!(recv(&rx).signal.id, signal_id(b"r-1"));
    assert_eq!(recv(&rx).signal.id, signal_id(b"r-2"));
    assert_eq!(recv(&rx).signal.action, SignalAction::Close);
    // Later polls (50 ms period) repeat the list: all four items are skipped.
    let deadline = Instant::now() + Duration::from_secs(5);
    while handle.counters().duplicates < 8 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let c = handle.stop();
    assert!(rx.try_recv().is_err());
    assert_eq!(
        (c.accepted, c.rejected_malformed, c.transport_errors),
        (3, 1, 0)
    );
    assert!(c.duplicates >= 8 && c.duplicates.is_multiple_of(4), "{c:?}");
}

#[test]
fn sources_refuse_bad_configs_before_starting() {
    let mut cfg = source_cfg(SignalSourceKind::Rest, SignalAuth::SharedSecret);
    cfg.url = Some("https://master.example/signals".into());
    let e = SignalSource::from_config(&cfg, parser(0), mono).unwrap_err();
    assert_eq!(
        e.to_string(),
        "signal source: rest url \"https://master.example/signals\" must start with http:// (https:// is not supported yet)"
    );
    let mut cfg = source_cfg(SignalSourceKind::Webhook, SignalAuth::Hmac);
    cfg.secret_env = Some("KESTREL_TEST_SIGNALS_NO_SUCH_VAR_71".into());
    let e = SignalSource::from_config(&cfg, parser(0), mono).unwrap_err();
    assert_eq!(
        e.to_string(),
        "signal source secret: environment variable KESTREL_TEST_SIGNALS_NO_SUCH_VAR_71 is unset or empty"
    );
    let cfg = source_cfg(SignalSourceKind::Rest, SignalAuth::SharedSecret);
    let auth = Authenticator::SharedSecret(Secret::new(b"has space".to_vec()));
    assert_eq!(
        RestPoller::new("http://127.0.0.1:1/x", &cfg, parser(0), auth, mono).unwrap_err(),
        "the secret must be printable ASCII without spaces to be sent as a bearer token"
    );
}

/// Webhook receive latency over loopback: from just before the client writes the
/// request to the source's `recv_ns` (both on this process's monotonic clock).
#[test]
fn webhook_receive_latency() {
    let cfg = source_cfg(SignalSourceKind::Webhook, SignalAuth::Hmac);
    let auth = Authenticator::Hmac(Secret::new(SECRET.to_vec()));
    let hook = WebhookSource::bind(&cfg, parser(0), auth, mono).unwrap();
    let addr = hook.local_addr();
    let (sink, rx) = collector();
    let handle = hook.spawn(sink).unwrap();
    let n = 200;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let body = OPEN.replace("m-1", &format!("lat-{i}"));
        let sig = sign_hex(SECRET, body.as_bytes());
        let req = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\nX-Signature: {sig}\r\n\r\n{body}",
            body.len()
        );
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let t0 = mono();
        s.write_all(req.as_bytes()).unwrap();
        let r = recv(&rx);
        assert_eq!(r.signal.id, signal_id(format!("lat-{i}").as_bytes()));
        assert!(r.recv_ns > t0);
        lat.push(r.recv_ns - t0);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(out.starts_with(b"HTTP/1.1 200 OK"));
    }
    lat.sort_unstable();
    let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)] as f64 / 1000.0;
    eprintln!(
        "webhook write->recv_ns over loopback, {n} requests: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us",
        pct(50),
        pct(90),
        pct(99),
        *lat.last().unwrap() as f64 / 1000.0
    );
    assert_eq!(handle.stop().accepted, n as u64);
}
