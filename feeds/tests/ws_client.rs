//! End-to-end tests of `feeds::ws` over loopback with real Binance spot payloads
//! (hftbacktest capture `spot/btcusdt_20240808.gz`, MIT, nkaz001/hftbacktest; see
//! shared/data/README.md). Every loop is bounded by a deadline.

use std::collections::VecDeque;
use std::io::Read;
use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kestrel_engine::book::Book;
use kestrel_engine::Event;
use kestrel_feeds::ws::testserver::{
    replay, Faults, HttpResponse, HttpServer, Session, Step, WsServer,
};
use kestrel_feeds::ws::{
    depth_snapshot, http_get, Backoff, ConnEvent, ConnState, MessageHandler, WsClient, WsConfig,
    WsError,
};
use kestrel_feeds::{DepthSync, Pushed, RecordedFeed};

const SUB: &str = r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms","btcusdt@bookTicker","btcusdt@trade"],"id":1}"#;
const PATH: &str = "/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@trade";

/// First lines of the capture: (frames without the REST snapshot, snapshot body,
/// number of frames that precede the snapshot in the file).
struct Capture {
    frames: Vec<String>,
    snapshot: String,
    snapshot_at: usize,
}

fn capture() -> &'static Capture {
    static C: OnceLock<Capture> = OnceLock::new();
    C.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/hftbacktest/spot/btcusdt_20240808.gz"
        );
        let file = std::fs::File::open(path).expect("capture file");
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(file)
            .take(4 << 20)
            .read_to_string(&mut text)
            .unwrap_or_default();
        let mut frames = Vec::new();
        let mut snapshot = None;
        let mut snapshot_at = 0;
        for line in text.lines().take(2001) {
            let (_, json) = line.split_once(' ').expect("<ts> <json>");
            if json.starts_with("{\"lastUpdateId\"") {
                snapshot = Some(json.to_string());
                snapshot_at = frames.len();
            } else {
                frames.push(json.to_string());
            }
        }
        Capture {
            frames,
            snapshot: snapshot.expect("snapshot line"),
            snapshot_at,
        }
    })
}

#[derive(Default)]
struct Rec {
    msgs: Vec<(usize, u64, Vec<u8>)>,
    events: Vec<(usize, ConnEvent)>,
}

impl MessageHandler for Rec {
    fn on_message(&mut self, conn: usize, recv_ns: u64, payload: &mut [u8]) {
        self.msgs.push((conn, recv_ns, payload.to_vec()));
    }
    fn on_event(&mut self, conn: usize, ev: ConnEvent) {
        self.events.push((conn, ev));
    }
}

fn clock() -> impl Fn() -> u64 {
    let t0 = Instant::now();
    move || t0.elapsed().as_nanos() as u64
}

/// Polls until `done` or `limit`; true when `done`.
fn run<H: MessageHandler>(
    c: &mut WsClient,
    h: &mut H,
    limit: Duration,
    mut done: impl FnMut(&H) -> bool,
) -> bool {
    let now = clock();
    let end = Instant::now() + limit;
    while Instant::now() < end {
        c.poll_once(Duration::from_millis(5), h, &now).unwrap();
        if done(h) {
            return true;
        }
    }
    false
}

fn test_cfg() -> WsConfig {
    WsConfig {
        seed: 42,
        ..WsConfig::default()
    }
}

fn kinds(events: &[(usize, ConnEvent)]) -> Vec<&'static str> {
    events
        .iter()
        .map(|(_, e)| match e {
            ConnEvent::Connected => "Connected",
            ConnEvent::Disconnected { .. } => "Disconnected",
            ConnEvent::Reconnecting { .. } => "Reconnecting",
            ConnEvent::Subscribed => "Subscribed",
            ConnEvent::Malformed { .. } => "Malformed",
        })
        .collect()
}

fn assert_monotonic(msgs: &[(usize, u64, Vec<u8>)]) {
    assert!(
        msgs.windows(2).all(|w| w[0].1 <= w[1].1),
        "recv timestamps go back"
    );
}

#[test]
fn replays_2000_real_frames_in_order_exactly_once() {
    let cap = capture();
    let n = cap.frames.len();
    // The file's first 2,001 lines hold one REST snapshot.
    assert_eq!(n, 2000);
    let faults = Faults {
        expect_subscribe: true,
        ..Faults::default()
    };
    let server = WsServer::start(replay(&cap.frames, &faults), Duration::from_secs(10)).unwrap();
    let mut client = WsClient::new(test_cfg()).unwrap();
    let id = client.add(&server.url(PATH), Some(SUB.to_string()));
    let mut rec = Rec::default();
    let t = Instant::now();
    assert!(run(&mut client, &mut rec, Duration::from_secs(8), |r| r
        .msgs
        .len()
        >= n));
    let took = t.elapsed();
    let bytes: usize = rec.msgs.iter().map(|m| m.2.len()).sum();
    println!(
        "replayed {n} frames ({bytes} B) in {took:?}: {:.0} frames/s incl. connect",
        n as f64 / took.as_secs_f64()
    );
    assert_eq!(rec.msgs.len(), n);
    for (i, (conn, _, p)) in rec.msgs.iter().enumerate() {
        assert_eq!(*conn, id);
        assert_eq!(p.as_slice(), cap.frames[i].as_bytes(), "frame {i}");
    }
    assert_monotonic(&rec.msgs);
    assert_eq!(kinds(&rec.events)[..2], ["Connected", "Subscribed"]);
    let span = rec.msgs[n - 1].1 - rec.msgs[0].1;
    println!(
        "first to last frame: {:.2} ms ({:.0} frames/s)",
        span as f64 / 1e6,
        (n - 1) as f64 / (span as f64 / 1e9)
    );
    // Let the close handshake arrive, then stop the server.
    run(&mut client, &mut rec, Duration::from_secs(2), |r| {
        r.events.len() >= 3
    });
    assert_eq!(client.state(id).unwrap(), ConnState::Waiting);
    let logs = server.stop();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].path, PATH);
    assert_eq!(logs[0].received, vec![SUB.to_string()]);
    assert_eq!(logs[0].sent, n);
    match &rec.events[2].1 {
        ConnEvent::Disconnected { reason } => {
            assert!(reason.contains("closed by server"), "{reason}")
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn mid_stream_disconnect_reconnects_resubscribes_and_delivers_the_rest() {
    let cap = capture();
    let n = cap.frames.len();
    let faults = Faults {
        expect_subscribe: true,
        drop_after: Some(700),
        ..Faults::default()
    };
    let server = WsServer::start(replay(&cap.frames, &faults), Duration::from_secs(10)).unwrap();
    // A small read budget: the rest is read on the next poll without losing an edge.
    let mut client = WsClient::new(WsConfig {
        max_frames_per_poll: 7,
        ..test_cfg()
    })
    .unwrap();
    client.add(&server.url(PATH), Some(SUB.to_string()));
    let mut rec = Rec::default();
    assert!(run(&mut client, &mut rec, Duration::from_secs(8), |r| r
        .msgs
        .len()
        >= n));
    assert_eq!(rec.msgs.len(), n);
    for (i, (_, _, p)) in rec.msgs.iter().enumerate() {
        assert_eq!(p.as_slice(), cap.frames[i].as_bytes(), "frame {i}");
    }
    assert_monotonic(&rec.msgs);
    assert_eq!(
        kinds(&rec.events)[..6],
        [
            "Connected",
            "Subscribed",
            "Disconnected",
            "Reconnecting",
            "Connected",
            "Subscribed"
        ]
    );
    // First retry waits exactly the base delay (attempt 1 has no room for jitter).
    assert_eq!(
        rec.events[3].1,
        ConnEvent::Reconnecting {
            attempt: 1,
            delay_ms: 100
        }
    );
    let logs = server.stop();
    assert_eq!(logs.len(), 2);
    for l in &logs {
        assert_eq!(
            l.received.first().map(String::as_str),
            Some(SUB),
            "resubscribed"
        );
        assert_eq!(l.path, PATH);
    }
    assert_eq!(logs[0].sent, 700);
    assert_eq!(logs[1].sent, n - 700);
}

#[test]
fn malformed_oversized_and_close_frames_do_not_panic() {
    let cap = capture();
    let frames = &cap.frames[..100];
    let truncated = frames[30][..40].to_string();
    let faults = Faults {
        malformed: vec![
            (10, Step::RawText(vec![b'{', 0xff, 0xfe, b'}'])),
            (20, Step::Binary(vec![0, 1, 2, 0xff])),
            (30, Step::Text(truncated.clone())),
        ],
        ..Faults::default()
    };
    let server = WsServer::start(replay(frames, &faults), Duration::from_secs(10)).unwrap();
    let mut client = WsClient::new(test_cfg()).unwrap();
    client.add(&server.url("/ws"), None);
    let mut rec = Rec::default();
    // 100 frames + binary + truncated JSON; then the server's close frame.
    assert!(run(&mut client, &mut rec, Duration::from_secs(5), |r| {
        r.events
            .iter()
            .any(|e| matches!(e.1, ConnEvent::Reconnecting { .. }))
    }));
    assert_eq!(rec.msgs.len(), 102);
    assert_eq!(rec.msgs[20].2, vec![0, 1, 2, 0xff]);
    assert_eq!(rec.msgs[31].2, truncated.as_bytes());
    assert_eq!(
        kinds(&rec.events),
        [
            "Connected",
            "Subscribed",
            "Malformed",
            "Disconnected",
            "Reconnecting"
        ]
    );
    // Every delivered payload goes through the recorded-data parser: the bad ones are
    // errors, the rest parse.
    let mut errors = 0;
    for (_, ts, p) in &rec.msgs {
        for r in parse(*ts, p) {
            errors += r.is_err() as usize;
        }
    }
    assert_eq!(errors, 2);
    server.stop();

    // A frame above the size limit drops the connection, which then reconnects.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(4096));
    let sessions = vec![Session {
        expect_subscribe: false,
        steps: vec![
            Step::Text(frames[0].clone()),
            Step::Text(big),
            Step::Idle(Duration::from_millis(300)),
        ],
    }];
    let server = WsServer::start(sessions, Duration::from_secs(5)).unwrap();
    let mut client = WsClient::new(WsConfig {
        max_message_size: 2048,
        ..test_cfg()
    })
    .unwrap();
    client.add(&server.url("/ws"), None);
    let mut rec = Rec::default();
    assert!(run(&mut client, &mut rec, Duration::from_secs(3), |r| r
        .events
        .len()
        >= 4));
    assert_eq!(rec.msgs.len(), 1);
    match &rec.events[2].1 {
        ConnEvent::Disconnected { reason } => assert!(reason.contains("too long"), "{reason}"),
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        rec.events[3].1,
        ConnEvent::Reconnecting { attempt: 1, .. }
    ));
}

#[test]
fn messages_around_and_far_above_the_read_chunks_arrive_whole() {
    // tungstenite copies 1 KiB at a time out of the 16 KiB socket buffer: messages of
    // every size around both, and far above, arrive whole and in order.
    let sizes = [
        1, 2, 1023, 1024, 1025, 2048, 4095, 16383, 16384, 16385, 40_000, 300_000, 7,
    ];
    let msgs: Vec<String> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let fill = char::from(b'a' + (i % 26) as u8);
            std::iter::repeat_n(fill, n).collect()
        })
        .collect();
    let server =
        WsServer::start(replay(&msgs, &Faults::default()), Duration::from_secs(10)).unwrap();
    let mut client = WsClient::new(test_cfg()).unwrap();
    client.add(&server.url("/ws"), None);
    let mut rec = Rec::default();
    assert!(run(&mut client, &mut rec, Duration::from_secs(5), |r| r
        .msgs
        .len()
        >= msgs.len()));
    let got: Vec<&[u8]> = rec.msgs.iter().map(|m| m.2.as_slice()).collect();
    let want: Vec<&[u8]> = msgs.iter().map(|m| m.as_bytes()).collect();
    assert_eq!(got, want);
    server.stop();
}

#[test]
fn a_burst_read_at_once_is_delivered_in_one_poll_and_the_next_poll_reads_on() {
    // 40 book tickers (~8 KB) wait in the socket when the client polls: one socket
    // read, so one poll delivers them all, sharing one receive stamp; the buffers are
    // then dry, and the next poll reads on without waiting.
    let cap = capture();
    let tickers: Vec<String> = cap
        .frames
        .iter()
        .filter(|f| f.contains("@bookTicker"))
        .take(40)
        .cloned()
        .collect();
    let faults = Faults {
        expect_subscribe: true,
        ..Faults::default()
    };
    let server = WsServer::start(replay(&tickers, &faults), Duration::from_secs(10)).unwrap();
    let mut client = WsClient::new(test_cfg()).unwrap();
    client.add(&server.url(PATH), Some(SUB.to_string()));
    let mut rec = Rec::default();
    assert!(run(&mut client, &mut rec, Duration::from_secs(3), |r| r
        .events
        .len()
        >= 2));
    assert!(rec.msgs.is_empty(), "the server waits for the subscription");
    std::thread::sleep(Duration::from_millis(200));
    let now = clock();
    let delivered = client
        .poll_once(Duration::from_millis(100), &mut rec, &now)
        .unwrap();
    assert_eq!(delivered, tickers.len(), "one poll, the whole burst");
    let got: Vec<&[u8]> = rec.msgs.iter().map(|m| m.2.as_slice()).collect();
    let want: Vec<&[u8]> = tickers.iter().map(|t| t.as_bytes()).collect();
    assert_eq!(got, want);
    assert!(
        rec.msgs.iter().all(|m| m.1 == rec.msgs[0].1),
        "one read, one stamp"
    );
    // The close handshake follows; nothing is lost or repeated on the next polls.
    assert!(run(&mut client, &mut rec, Duration::from_secs(3), |r| r
        .events
        .iter()
        .any(|e| matches!(e.1, ConnEvent::Disconnected { .. }))));
    assert_eq!(rec.msgs.len(), tickers.len());
    server.stop();
}

/// Parses one frame as a capture line would be (`<ts> <json>`).
fn parse(ts: u64, payload: &[u8]) -> Vec<Result<(u64, u64, Event), kestrel_feeds::FeedError>> {
    let mut line = format!("{ts} ").into_bytes();
    line.extend_from_slice(payload);
    line.push(b'\n');
    let mut feed = RecordedFeed::from_bytes("ws", line, &[("BTCUSDT".to_string(), 0)]);
    std::iter::from_fn(|| feed.next_event()).collect()
}

fn is_depth(frame: &str) -> bool {
    frame.contains("\"e\":\"depthUpdate\"")
}

/// Book → REST snapshot JSON.
fn snapshot_json(book: &Book) -> String {
    let side = |it: &mut dyn Iterator<Item = (kestrel_engine::Dec, kestrel_engine::Dec)>| {
        it.map(|(p, q)| format!("[\"{p}\",\"{q}\"]"))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "{{\"lastUpdateId\":{},\"bids\":[{}],\"asks\":[{}]}}",
        book.depth_update_id,
        side(&mut book.bids.iter()),
        side(&mut book.asks.iter())
    )
}

/// Sync + book, as the live pipeline runs them.
#[derive(Default)]
struct Pipeline {
    sync: DepthSync,
    book: Book,
    out: VecDeque<(u64, u64, Event)>,
    gaps: usize,
    want_snapshot: bool,
    subscribed: usize,
}

impl Pipeline {
    fn push(&mut self, ts: u64, payload: &[u8]) {
        for r in parse(ts, payload) {
            let (ts, vts, ev) = r.expect("real payload parses");
            if self.sync.push(ts, vts, ev, &mut self.out) == Pushed::Gap {
                self.gaps += 1;
                self.want_snapshot = true;
            }
        }
        for (_, _, ev) in self.out.drain(..) {
            if let Event::Depth(d) = &ev {
                self.book.on_depth(d);
            }
        }
    }
}

impl MessageHandler for Pipeline {
    fn on_message(&mut self, _conn: usize, recv_ns: u64, payload: &mut [u8]) {
        self.push(recv_ns, payload);
    }
    fn on_event(&mut self, _conn: usize, ev: ConnEvent) {
        if ev == ConnEvent::Subscribed {
            self.subscribed += 1;
            self.want_snapshot = true;
        }
    }
}

#[test]
fn injected_gap_is_detected_and_resynced_from_a_rest_snapshot() {
    let cap = capture();
    let frames = &cap.frames;
    // Reference: every frame, the file's snapshot where the file has it.
    let mut reference = Pipeline::default();
    let depth: Vec<usize> = (0..frames.len())
        .filter(|&i| is_depth(&frames[i]))
        .collect();
    let skip = depth[20];
    let reveal = depth[21];
    let mut resync_snapshot = String::new();
    for (i, f) in frames.iter().enumerate() {
        if i == cap.snapshot_at {
            reference.push(0, cap.snapshot.as_bytes());
        }
        reference.push(0, f.as_bytes());
        if i == reveal {
            // What a REST call right after the gap-revealing diff would return.
            resync_snapshot = snapshot_json(&reference.book);
        }
    }
    assert_eq!(reference.gaps, 0);
    assert!(!reference.sync.needs_snapshot(0));

    let http = HttpServer::start(
        "/api/v3/depth",
        vec![
            HttpResponse::ok(cap.snapshot.clone()),
            HttpResponse {
                chunked: true,
                ..HttpResponse::ok(resync_snapshot)
            },
        ],
        Duration::from_secs(10),
    )
    .unwrap();
    let faults = Faults {
        skip: vec![skip],
        expect_subscribe: true,
        ..Faults::default()
    };
    let server = WsServer::start(replay(frames, &faults), Duration::from_secs(10)).unwrap();
    let mut client = WsClient::new(test_cfg()).unwrap();
    client.add(&server.url(PATH), Some(SUB.to_string()));
    let mut live = Pipeline::default();
    let now = clock();
    let end = Instant::now() + Duration::from_secs(8);
    let mut received = 0;
    let mut gap_seen_needs_snapshot = false;
    while Instant::now() < end && received < frames.len() - 1 {
        received += client
            .poll_once(Duration::from_millis(5), &mut live, &now)
            .unwrap();
        if live.want_snapshot {
            live.want_snapshot = false;
            gap_seen_needs_snapshot |= live.gaps > 0 && live.sync.needs_snapshot(0);
            let body =
                depth_snapshot(&http.addr(), "BTCUSDT", 1000, Duration::from_secs(2)).unwrap();
            live.push(now(), &body);
        }
    }
    assert_eq!(received, frames.len() - 1);
    assert_eq!(live.subscribed, 1);
    assert_eq!(live.gaps, 1, "the skipped diff is a gap");
    assert!(gap_seen_needs_snapshot);
    assert_eq!(live.sync.gaps(0), 1);
    assert!(!live.sync.needs_snapshot(0), "resynced");
    // After the resync the live book matches the reference, level for level.
    assert_eq!(live.book.depth_update_id, reference.book.depth_update_id);
    assert!(live.book.bids.iter().eq(reference.book.bids.iter()));
    assert!(live.book.asks.iter().eq(reference.book.asks.iter()));
    assert!(live.book.bids.len() > 100);
    let paths = http.stop();
    assert_eq!(
        paths,
        vec!["/api/v3/depth?symbol=BTCUSDT&limit=1000".to_string(); 2]
    );
    server.stop();
}

#[test]
fn ping_pong_keeps_an_idle_connection_alive_and_silence_drops_it() {
    let cap = capture();
    let mut steps: Vec<Step> = cap.frames[..5].iter().cloned().map(Step::Text).collect();
    steps.push(Step::Ping(b"srv".to_vec()));
    steps.push(Step::Idle(Duration::from_millis(500)));
    steps.extend(cap.frames[5..10].iter().cloned().map(Step::Text));
    steps.push(Step::Idle(Duration::from_millis(100)));
    let server = WsServer::start(
        vec![Session {
            expect_subscribe: false,
            steps,
        }],
        Duration::from_secs(5),
    )
    .unwrap();
    let cfg = WsConfig {
        idle_ping: Duration::from_millis(40),
        idle_timeout: Duration::from_millis(150),
        ..test_cfg()
    };
    let mut client = WsClient::new(cfg.clone()).unwrap();
    client.add(&server.url("/ws"), None);
    let mut rec = Rec::default();
    assert!(run(&mut client, &mut rec, Duration::from_secs(3), |r| r
        .msgs
        .len()
        >= 10));
    assert_eq!(
        kinds(&rec.events),
        ["Connected", "Subscribed"],
        "never dropped"
    );
    let logs = server.stop();
    assert!(
        logs[0].pings >= 3,
        "client pinged while idle: {}",
        logs[0].pings
    );
    assert_eq!(logs[0].pongs, 1, "client answered the server ping");

    // A server that stops reading answers no ping: the client drops it.
    let steps = vec![
        Step::Text(cap.frames[0].clone()),
        Step::Stall(Duration::from_millis(800)),
    ];
    let server = WsServer::start(
        vec![Session {
            expect_subscribe: false,
            steps,
        }],
        Duration::from_secs(5),
    )
    .unwrap();
    let mut client = WsClient::new(cfg).unwrap();
    client.add(&server.url("/ws"), None);
    let mut rec = Rec::default();
    let t = Instant::now();
    assert!(run(&mut client, &mut rec, Duration::from_secs(3), |r| r
        .events
        .len()
        >= 4));
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    match &rec.events[2].1 {
        ConnEvent::Disconnected { reason } => assert!(reason.contains("idle timeout"), "{reason}"),
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        rec.events[3].1,
        ConnEvent::Reconnecting { attempt: 1, .. }
    ));
}

#[test]
fn backoff_is_deterministic_per_seed_and_bounded() {
    let base = Duration::from_millis(100);
    let cap = Duration::from_secs(5);
    let seq = |seed| {
        let mut b = Backoff::new(base, cap, seed);
        (1..=30).map(|n| b.delay(n)).collect::<Vec<_>>()
    };
    assert_eq!(seq(7), seq(7));
    assert_ne!(seq(7), seq(8));
    for d in seq(7).into_iter().chain(seq(8)) {
        assert!(d >= base && d <= cap, "{d:?}");
    }
    assert_eq!(seq(7)[0], base);
    assert!(
        seq(7)[10..].iter().all(|d| *d >= cap / 2),
        "reaches the cap"
    );

    // The client's reconnect delays against a closed port follow the seed too.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let delays = |seed| {
        let mut c = WsClient::new(WsConfig {
            seed,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(8),
            ..WsConfig::default()
        })
        .unwrap();
        c.add(&format!("ws://127.0.0.1:{port}/ws"), None);
        let mut rec = Rec::default();
        run(&mut c, &mut rec, Duration::from_secs(2), |r| {
            r.events.len() >= 16
        });
        rec.events
            .iter()
            .filter_map(|(_, e)| match e {
                ConnEvent::Reconnecting { attempt, delay_ms } => Some((*attempt, *delay_ms)),
                _ => None,
            })
            .take(8)
            .collect::<Vec<_>>()
    };
    let a = delays(3);
    assert_eq!(a.len(), 8);
    assert_eq!(a, delays(3));
    for (i, (attempt, d)) in a.iter().enumerate() {
        assert_eq!(*attempt as usize, i + 1);
        assert!((1..=8).contains(d));
    }
}

#[test]
fn http_get_reads_length_and_chunked_bodies_checks_status_and_times_out() {
    let body = capture().snapshot.clone();
    let http = HttpServer::start(
        "/api/v3/depth",
        vec![
            HttpResponse::ok(body.clone()),
            HttpResponse {
                chunked: true,
                ..HttpResponse::ok(body.clone())
            },
            HttpResponse {
                status: 429,
                ..HttpResponse::ok(r#"{"code":-1003,"msg":"Too many requests"}"#)
            },
        ],
        Duration::from_secs(5),
    )
    .unwrap();
    let t = Duration::from_secs(2);
    let path = "/api/v3/depth?symbol=BTCUSDT&limit=1000";
    assert_eq!(http_get(&http.addr(), path, t).unwrap(), body.as_bytes());
    assert_eq!(http_get(&http.addr(), path, t).unwrap(), body.as_bytes());
    match http_get(&http.addr(), path, t) {
        Err(WsError::HttpStatus { code: 429, body }) => assert!(body.contains("-1003")),
        r => panic!("{r:?}"),
    }
    assert!(matches!(
        http_get(&http.addr(), "/nope", t),
        Err(WsError::HttpStatus { code: 404, .. })
    ));
    http.stop();

    // A server that accepts but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let start = Instant::now();
    assert!(matches!(
        http_get(&addr, path, Duration::from_millis(200)),
        Err(WsError::Timeout(_))
    ));
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn wss_and_bad_urls_are_reported_not_panicked() {
    let mut c = WsClient::new(test_cfg()).unwrap();
    let a = c.add("wss://stream.binance.com:9443/ws", None);
    let b = c.add("http://127.0.0.1:1/", None);
    let mut rec = Rec::default();
    assert!(run(&mut c, &mut rec, Duration::from_secs(1), |r| r
        .events
        .len()
        >= 2));
    assert_eq!(c.state(a).unwrap(), ConnState::Closed);
    assert_eq!(c.state(b).unwrap(), ConnState::Closed);
    match &rec.events[0] {
        (0, ConnEvent::Disconnected { reason }) => assert!(reason.contains("TLS"), "{reason}"),
        e => panic!("{e:?}"),
    }
    assert!(matches!(c.state(9), Err(WsError::UnknownConn(9))));
}

#[test]
fn many_connections_share_one_poll() {
    let cap = capture();
    let parts: Vec<&[String]> = vec![
        &cap.frames[..600],
        &cap.frames[600..1300],
        &cap.frames[1300..],
    ];
    let servers: Vec<WsServer> = parts
        .iter()
        .map(|p| WsServer::start(replay(p, &Faults::default()), Duration::from_secs(10)).unwrap())
        .collect();
    let mut client = WsClient::new(WsConfig {
        max_frames_per_poll: 50,
        ..test_cfg()
    })
    .unwrap();
    let ids: Vec<usize> = servers
        .iter()
        .map(|s| client.add(&s.url("/ws"), None))
        .collect();
    assert_eq!(ids, vec![0, 1, 2]);
    assert_eq!(client.len(), 3);
    let mut rec = Rec::default();
    let n = cap.frames.len();
    assert!(run(&mut client, &mut rec, Duration::from_secs(8), |r| r
        .msgs
        .len()
        >= n));
    for (id, part) in parts.iter().enumerate() {
        let got: Vec<&[u8]> = rec
            .msgs
            .iter()
            .filter(|m| m.0 == id)
            .map(|m| m.2.as_slice())
            .collect();
        assert_eq!(got.len(), part.len());
        assert!(got.iter().zip(part.iter()).all(|(g, f)| *g == f.as_bytes()));
    }
    // Per connection: a frame carries the time of the read that brought it, and a
    // connection whose budget ran out delivers older reads after another's newer ones.
    for id in ids {
        let own: Vec<_> = rec.msgs.iter().filter(|m| m.0 == id).cloned().collect();
        assert_monotonic(&own);
    }
    for s in servers {
        s.stop();
    }
}
