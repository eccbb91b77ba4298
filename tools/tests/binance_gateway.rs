//! `kestrel run` with `venue.kind = "binance"` over loopback: a WebSocket server
//! replays real Binance bookTicker frames (the live feed), the mock Binance venue
//! (`kestrel_gateways::binance::mock`) takes the market maker's signed orders, the
//! test fills some of them (one while every WebSocket is down), and the session's
//! journal must hold each fill exactly once, replay byte-identically, and contain no
//! secret. Plus the configuration and startup errors.

use kestrel_engine::config::Config;
use kestrel_engine::{Action, ClientOrderId, Dec, Event, ExecKind, InstrumentSpec, Market, Source};
use kestrel_feeds::ws::testserver::{Session, Step, WsServer};
use kestrel_gateways::binance::{MockVenue, Venue};
use kestrel_journal::JournalReader;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "kT3sTKeyAbCdEfGhIjKlMnOpQrStUvWxYz0123456789kT3sTKeyAbCdEfGhIj";
const SECRET: &str = "sEcReTzyxwvutsrqponmlkjihgfedcba9876543210sEcReTzyxwvutsrqponm";
const KEY_VAR: &str = "KESTREL_TEST_GW_KEY";
const SECRET_VAR: &str = "KESTREL_TEST_GW_SECRET";

/// Bound of every wait that only guards against a hang.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn btcusdt() -> InstrumentSpec {
    InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: d("0.01"),
        lot_size: d("0.00001"),
        min_qty: Dec::ZERO,
        min_notional: d("5"),
        market: Market::Spot,
        leverage: 1,
    }
}

/// The first `n` bookTicker frames of the spot BTCUSDT capture.
fn ticker_frames(n: usize) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hftbacktest/spot/btcusdt_20240808.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .filter_map(|l| l.split_once(' ').map(|(_, json)| json))
        .filter(|json| json.contains("@bookTicker"))
        .take(n)
        .map(str::to_string)
        .collect()
}

/// A feed server sending one ticker every 20 ms, then lingering.
fn feed_server(frames: &[String]) -> WsServer {
    let mut steps = Vec::new();
    for f in frames {
        steps.push(Step::Text(f.clone()));
        steps.push(Step::Idle(Duration::from_millis(20)));
    }
    let session = Session {
        expect_subscribe: false,
        steps,
    };
    WsServer::start(vec![session], HANG_GUARD * 4).unwrap()
}

/// A live-feed, Binance-venue market-making config; `venue` is the `[venue.binance]`
/// body.
fn config(feed_url: &str, venue: &str) -> String {
    format!(
        r#"
[session]
id = 1
seed = 7
[runtime]
wait = "block"
timer_interval_ms = 200
[feed]
kind = "live"
[[venues]]
kind = "binance-spot"
ws_url = "{feed_url}"
rest_url = "http://127.0.0.1:19"
symbols = ["BTCUSDT"]
streams = ["bookTicker"]
[venue]
kind = "binance"
[venue.binance]
market = "spot"
{venue}
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
BTC = "1"
USDT = "100000"
[[controllers]]
type = "market_making"
id = "mm"
instrument = "BTCUSDT"
buy_spreads = "0.0001,0.0002"
sell_spreads = "0.0001,0.0002"
total_amount_quote = "2000"
executor_refresh_time = 600
cooldown_time = 1
"#
    )
}

fn mock_venue_table(mock: &MockVenue, key_var: &str) -> String {
    format!(
        "ws_api_url = \"{}\"\nrest_url = \"http://{}\"\nuser_stream_url = \"{}\"\n\
         api_key_env = \"{key_var}\"\napi_secret_env = \"{SECRET_VAR}\"\n",
        mock.ws_api_url(),
        mock.rest_addr(),
        mock.stream_url()
    )
}

fn kestrel(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kestrel"));
    c.args(args)
        .current_dir(dir)
        .env(KEY_VAR, KEY)
        .env(SECRET_VAR, SECRET);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Waits for `cond`, failing after [`HANG_GUARD`] (the child is killed first).
fn wait_for(child: &mut Child, what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + HANG_GUARD;
    while !cond() {
        if Instant::now() >= until {
            let _ = child.kill();
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An open order other than those in `skip`: (id, price, quantity left).
fn open_order(mock: &MockVenue, skip: &[ClientOrderId]) -> Option<(ClientOrderId, Dec, Dec)> {
    mock.open_order_list()
        .into_iter()
        .filter_map(|(cid, px, left)| Some((ClientOrderId::parse(&cid)?, px, left)))
        .find(|(cid, _, _)| !skip.contains(cid))
}

/// Half of `q`, down to the 0.00001 lot.
fn half(q: Dec) -> Dec {
    let lot = 10_000;
    Dec(q.raw() / 2 / lot * lot)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn run_trades_on_the_mock_venue_and_journals_every_fill_once() {
    trades_on_the_mock_venue("block");
}

/// The same session with busy-spinning threads, where the gateway holds its socket
/// while the engine applies an input it has seen (`EngineWatch`).
#[test]
fn busy_spin_threads_trade_on_the_mock_venue_and_journal_every_fill_once() {
    trades_on_the_mock_venue("busy-spin");
}

/// A live-feed market maker trading on the mock venue, its threads waiting as `wait`
/// says (the steps are spelled out below); every fill is journaled once.
fn trades_on_the_mock_venue(wait: &str) {
    let mock = MockVenue::start(
        Venue::Spot,
        KEY,
        SECRET.as_bytes(),
        vec![btcusdt()],
        d("1000000"),
        HANG_GUARD * 4,
    )
    .unwrap();
    let feed = feed_server(&ticker_frames(3_000));
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&feed.url("/stream"), &mock_venue_table(&mock, KEY_VAR));
    std::fs::write(tmp.path().join("binance.toml"), cfg).unwrap();
    let journal = tmp.path().join("j");
    let mut child = kestrel(
        tmp.path(),
        &[
            "run",
            "binance.toml",
            "--duration",
            "120",
            "--wait",
            wait,
            "--journal",
            journal.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    // The market maker quotes four levels. Fill one partly and another fully while
    // everything is connected; the full fill's level re-quotes after its cooldown,
    // which shows the engine has both fills (the stream delivers them in order).
    wait_for(&mut child, "four open orders", || mock.open_orders() >= 4);
    let places = |mock: &MockVenue| {
        mock.log()
            .iter()
            .filter(|l| *l == "ws order.place" || *l == "POST /api/v3/order")
            .count()
    };
    assert_eq!(places(&mock), 4);
    // (id, quantity, price, kind, reported by the user stream)
    let mut fills: Vec<(ClientOrderId, Dec, Dec, ExecKind, bool)> = Vec::new();
    let (b, b_px, b_left) = open_order(&mock, &[]).unwrap();
    mock.fill(b, half(b_left), b_px, true).unwrap();
    fills.push((b, half(b_left), b_px, ExecKind::PartialFill, true));
    let (a, a_px, a_left) = open_order(&mock, &[b]).unwrap();
    mock.fill(a, a_left, a_px, true).unwrap();
    fills.push((a, a_left, a_px, ExecKind::Fill, true));
    wait_for(&mut child, "the filled level to re-quote", || {
        places(&mock) >= 5
    });

    // Every WebSocket drops; a fill happens while the user stream is down (its
    // event is lost); reconnect and reconcile must report it, once.
    mock.set_ws_down(true);
    std::thread::sleep(Duration::from_millis(300));
    let (c, c_px, c_left) = open_order(&mock, &[a, b]).unwrap();
    mock.fill(c, half(c_left), c_px, false).unwrap();
    fills.push((c, half(c_left), c_px, ExecKind::PartialFill, false));
    let mark = mock.log().len();
    std::thread::sleep(Duration::from_millis(200));
    mock.set_ws_down(false);
    wait_for(&mut child, "a reconcile trade query", || {
        mock.log()[mark..]
            .iter()
            .any(|l| l.starts_with("GET /api/v3/myTrades"))
            && mock.user_streams() >= 1
    });
    std::thread::sleep(Duration::from_millis(500));

    // Ctrl-C: the session stops, cancels its orders and drains.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let until = Instant::now() + HANG_GUARD;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= until {
            let _ = child.kill();
            panic!("kestrel did not stop after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("Binance connection lost"), "{all}");
    assert!(all.contains("binance gateway:"), "{all}");
    assert_eq!(
        mock.open_orders(),
        0,
        "the stop canceled every order: {all}"
    );
    assert_eq!(mock.signature_failures(), 0);
    drop(feed);

    let r = JournalReader::open(&journal).unwrap();
    let inputs = r.inputs().unwrap();
    let outputs = r.outputs().unwrap();
    let execs: Vec<_> = inputs
        .iter()
        .filter_map(|i| match i.event {
            Event::Exec(e) => Some((i.header, e)),
            _ => None,
        })
        .collect();
    // Every report came from the venue with receive and event stamps.
    assert!(!execs.is_empty());
    for (h, _) in &execs {
        assert_eq!(h.source, Source::Venue);
        assert!(h.recv_ns > 0 && h.publish_ns >= h.recv_ns, "{h:?}");
        assert!(h.ts > 1_700_000_000_000_000_000, "{h:?}");
    }
    // Each fill exactly once, with the venue's quantity and price; nothing else filled.
    let filled: Vec<_> = execs
        .iter()
        .filter(|(_, e)| matches!(e.kind, ExecKind::Fill | ExecKind::PartialFill))
        .collect();
    assert_eq!(filled.len(), fills.len(), "{filled:#?}");
    for (cid, qty, px, kind, streamed) in &fills {
        let mine: Vec<_> = filled.iter().filter(|(_, e)| e.cid == *cid).collect();
        assert_eq!(mine.len(), 1, "{cid}: {mine:#?}");
        let (h, e) = mine[0];
        assert_eq!((e.last_qty, e.last_px, e.kind), (*qty, *px, *kind), "{cid}");
        // Stream reports carry the venue's event time; reconcile's have none.
        assert_eq!(
            h.venue_ts > 1_700_000_000_000_000_000,
            *streamed,
            "{cid}: {h:?}"
        );
    }
    // Every order reached the venue, signed; every one was acknowledged.
    let placed = outputs
        .iter()
        .filter(|o| matches!(o.action, Action::Place(_)))
        .count();
    assert!(placed >= 5);
    assert_eq!(places(&mock), placed, "{:?}", mock.log());
    let acks = execs
        .iter()
        .filter(|(_, e)| e.kind == ExecKind::Ack)
        .count();
    assert_eq!(acks, placed);
    assert_eq!(
        execs
            .iter()
            .filter(|(_, e)| e.kind == ExecKind::Rejected)
            .count(),
        0
    );
    // Latency: one record per place, ending when the bytes went to the socket.
    let lat = r.latency().unwrap();
    assert_eq!(lat.len(), placed);
    for l in &lat {
        assert!(
            l.recv_ns <= l.engine_start_ns
                && l.engine_end_ns <= l.gateway_read_ns
                && l.gateway_read_ns <= l.sent_ns,
            "{l:?}"
        );
    }
    drop(r);
    let l = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["latency", journal.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(l.status.success(), "{}", text(&l));
    assert!(
        text(&l).starts_with(&format!("{placed} orders; nanoseconds")),
        "{}",
        text(&l)
    );

    // The journal replays byte for byte.
    let v = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["replay", "--verify", journal.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("all byte-identical"), "{}", text(&v));

    // The secret is nowhere: not in the journal files, not in the output. The key
    // is not journaled either (the config names the variables only).
    assert!(!contains(all.as_bytes(), SECRET));
    let mut files = Vec::new();
    files_under(&journal, &mut files);
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, SECRET), "{}", f.display());
        assert!(!contains(&bytes, KEY), "{}", f.display());
    }
}

#[test]
fn missing_credentials_and_dead_venue_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("j");
    let run = |cfg: &str| {
        std::fs::write(tmp.path().join("bad.toml"), cfg).unwrap();
        kestrel(
            tmp.path(),
            &[
                "run",
                "bad.toml",
                "--duration",
                "5",
                "--journal",
                journal.to_str().unwrap(),
            ],
        )
        .env_remove("KESTREL_TEST_GW_UNSET")
        .output()
        .unwrap()
    };
    let endpoints = "ws_api_url = \"ws://127.0.0.1:9/ws-api/v3\"\n\
                     rest_url = \"http://127.0.0.1:9\"\n\
                     user_stream_url = \"ws://127.0.0.1:9\"\n";

    // The key variable is unset: the error names it; the secret is not printed.
    let out = run(&config(
        "ws://127.0.0.1:9/stream",
        &format!(
            "{endpoints}api_key_env = \"KESTREL_TEST_GW_UNSET\"\napi_secret_env = \"{SECRET_VAR}\"\n"
        ),
    ));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: venue.binance: cannot load the API credentials: environment variable \
         KESTREL_TEST_GW_UNSET is not set"
    );
    assert!(!contains(all.as_bytes(), SECRET));
    assert!(
        !journal.exists(),
        "nothing is journaled before the venue is up"
    );

    // A key file others may read is refused.
    let key_file = tmp.path().join("binance.key");
    std::fs::write(
        &key_file,
        format!("api_key = {KEY}\napi_secret = {SECRET}\n"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = run(&config(
        "ws://127.0.0.1:9/stream",
        &format!("{endpoints}key_file = \"{}\"\n", key_file.display()),
    ));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    #[cfg(unix)]
    assert!(
        all.contains(&format!(
            "key file {} has mode 644: group or others may access it (chmod 600)",
            key_file.display()
        )),
        "{all}"
    );
    assert!(!contains(all.as_bytes(), SECRET) && !contains(all.as_bytes(), KEY));

    // Nothing listens at the REST endpoint: startup fails naming the step.
    let out = run(&config(
        "ws://127.0.0.1:9/stream",
        &format!("{endpoints}api_key_env = \"{KEY_VAR}\"\napi_secret_env = \"{SECRET_VAR}\"\n"),
    ));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(
            "error: cannot start the Binance connector (clock sync and listen key over REST \
             at http://127.0.0.1:9): Binance connection error:"
        ),
        "{all}"
    );
    assert!(!contains(all.as_bytes(), SECRET) && !contains(all.as_bytes(), KEY));
    assert!(!journal.exists());
}

#[test]
fn venue_config_is_validated_with_clear_messages() {
    let base = config(
        "ws://127.0.0.1:9/stream",
        "ws_api_url = \"ws://127.0.0.1:9/ws-api/v3\"\nrest_url = \"http://127.0.0.1:9\"\n\
         user_stream_url = \"ws://127.0.0.1:9\"\n",
    );
    let ok = Config::from_toml(&base).unwrap();
    let b = ok.venue.binance.as_ref().unwrap();
    assert_eq!(b.rest_addr(), "127.0.0.1:9");
    assert_eq!(
        (b.api_key_env.as_str(), b.api_secret_env.as_str()),
        ("KESTREL_BINANCE_API_KEY", "KESTREL_BINANCE_API_SECRET")
    );
    assert_eq!((b.recv_window_ms, b.ready_timeout_ms), (5_000, 10_000));
    // The journaled config keeps the table and round-trips.
    assert_eq!(Config::from_toml(&ok.to_toml()).unwrap(), ok);
    // A sim config serializes without any venue kind.
    let sim = Config::from_toml(&base.replace("kind = \"binance\"\n", "kind = \"sim\"\n")).unwrap();
    assert!(sim.venue.kind.is_sim());
    assert!(!sim.to_toml().contains("kind = \"sim\""));

    let cases: &[(&str, &str, &str)] = &[
        (
            "ws_api_url = \"ws://127.0.0.1:9/ws-api/v3\"",
            "ws_api_url = \"wss://ws-api.binance.com/ws-api/v3\"",
            "invalid config: venue.binance: ws_api_url \"wss://ws-api.binance.com/ws-api/v3\": \
             TLS is not supported yet: use plain ws:// / http:// (for the real venue, through \
             a local TLS-terminating proxy)",
        ),
        (
            "rest_url = \"http://127.0.0.1:9\"",
            "rest_url = \"https://api.binance.com\"",
            "invalid config: venue.binance: rest_url \"https://api.binance.com\": TLS is not \
             supported yet: use plain ws:// / http:// (for the real venue, through a local \
             TLS-terminating proxy)",
        ),
        (
            "rest_url = \"http://127.0.0.1:9\"",
            "rest_url = \"http://127.0.0.1:9/api\"",
            "invalid config: venue.binance: rest_url \"http://127.0.0.1:9/api\" must be \
             http://host:port (no path)",
        ),
        (
            "user_stream_url = \"ws://127.0.0.1:9\"",
            "user_stream_url = \"127.0.0.1:9\"",
            "invalid config: venue.binance: user_stream_url \"127.0.0.1:9\" must start with ws://",
        ),
        (
            "market = \"spot\"",
            "market = \"spot\"\nrecv_window_ms = 60001",
            "invalid config: venue.binance: recv_window_ms 60001 must be in 1..=60000",
        ),
        (
            "market = \"spot\"",
            "market = \"spot\"\napi_key_env = \"MY KEY\"",
            "invalid config: venue.binance: api_key_env must name an environment variable \
             (letters, digits, _), got \"MY KEY\"",
        ),
        (
            "market = \"spot\"",
            "market = \"usdm\"",
            "invalid config: venue.binance: instrument BTCUSDT is Spot but market = \"usdm\" \
             trades only perpetual instruments",
        ),
        (
            "kind = \"live\"",
            "kind = \"synthetic\"",
            "invalid config: venue.kind = \"binance\" sends real orders: it needs feed.kind = \
             \"live\" (prices from the venue), not \"synthetic\"",
        ),
    ];
    for (from, to, want) in cases {
        assert!(base.contains(from), "{from}");
        let e = Config::from_toml(&base.replacen(from, to, 1)).unwrap_err();
        assert_eq!(e.to_string(), *want);
    }
    // The selector without its table.
    let start = base.find("[venue.binance]").unwrap();
    let end = base.find("[[instruments]]").unwrap();
    let no_table = format!("{}{}", &base[..start], &base[end..]);
    assert_eq!(
        Config::from_toml(&no_table).unwrap_err().to_string(),
        "invalid config: venue.kind = \"binance\" needs a [venue.binance] table"
    );
    // Secrets have no place in the table.
    let e = Config::from_toml(&base.replacen(
        "market = \"spot\"",
        "market = \"spot\"\napi_secret = \"x\"",
        1,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `api_secret`"), "{e}");
}
