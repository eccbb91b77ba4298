//! Live mode end to end over loopback: a WebSocket server replays a real Binance
//! capture (with a disconnect in the middle), an HTTP server serves the REST depth
//! snapshot, and `kestrel run` journals everything through the threaded pipeline.

use kestrel_engine::{Action, AlertCode, Event};
use kestrel_feeds::ws::testserver::{replay, Faults, HttpResponse, HttpServer, WsServer};
use kestrel_journal::JournalReader;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn live_feed_survives_a_disconnect_and_journals_every_frame() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hftbacktest/spot/btcusdt_20240808.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut frames = Vec::new();
    let mut snapshot = None;
    for line in text.lines().take(3000) {
        let json = line.split_once(' ').unwrap().1;
        if json.starts_with("{\"lastUpdateId\"") {
            snapshot = Some(json.to_string());
        } else {
            frames.push(json.to_string());
        }
    }
    let tickers = frames.iter().filter(|f| f.contains("@bookTicker")).count();
    let faults = Faults {
        drop_after: Some(1500),
        ..Faults::default()
    };
    let ws = WsServer::start(replay(&frames, &faults), Duration::from_secs(30)).unwrap();
    let http = HttpServer::start(
        "/api/v3/depth",
        vec![HttpResponse::ok(snapshot.unwrap())],
        Duration::from_secs(30),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = format!(
        r#"
[feed]
kind = "live"
[[venues]]
kind = "binance-spot"
ws_url = "{}"
rest_url = "http://{}"
symbols = ["BTCUSDT"]
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
buy_spreads = "0.0001"
sell_spreads = "0.0001"
total_amount_quote = "1000"
"#,
        ws.url("/stream"),
        http.addr()
    );
    std::fs::write(tmp.path().join("live.toml"), cfg).unwrap();
    let journal = tmp.path().join("j");
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args([
            "run",
            "live.toml",
            "--duration",
            "3",
            "--journal",
            journal.to_str().unwrap(),
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    let logs = ws.stop();
    assert_eq!(logs.len(), 2, "one reconnect expected");
    assert!(
        logs[0]
            .path
            .contains("streams=btcusdt@bookTicker/btcusdt@depth@100ms/btcusdt@trade"),
        "{}",
        logs[0].path
    );
    let requests = http.stop();
    assert!(!requests.is_empty());
    assert!(
        requests[0].starts_with("/api/v3/depth?symbol=BTCUSDT&limit=1000"),
        "{requests:?}"
    );

    let r = JournalReader::open(&journal).unwrap();
    let inputs = r.inputs().unwrap();
    // Every ticker frame arrived exactly once, across the reconnect.
    let got = inputs
        .iter()
        .filter(|i| matches!(i.event, Event::BookTicker(_)))
        .count();
    assert_eq!(got, tickers, "{all}");
    assert!(inputs
        .iter()
        .any(|i| matches!(i.event, Event::Depth(d) if d.snapshot)));
    // Receive stamps and event times come from the live clock.
    assert!(inputs
        .iter()
        .filter(|i| matches!(i.event, Event::BookTicker(_)))
        .all(|i| i.header.recv_ns > 0 && i.header.ts > 1_700_000_000_000_000_000));
    // No gap: ids stayed contiguous across the reconnect, so no resync was needed.
    let outputs = r.outputs().unwrap();
    assert!(!outputs.iter().any(|o| matches!(
        o.action,
        Action::Alert {
            code: AlertCode::BookGap,
            ..
        }
    )));
    assert!(
        outputs.iter().any(|o| matches!(o.action, Action::Place(_))),
        "the market maker quoted"
    );
    drop(r);
    let v = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["replay", "--verify", journal.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}
