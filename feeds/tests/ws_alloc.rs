//! Steady-state allocations of the WebSocket client per received frame (own test
//! binary: it installs a counting allocator; only the client thread is counted, not
//! the loopback server). Real payloads from the hftbacktest spot capture (MIT).

mod common;

use common::{allocs_now, Counting};

use std::io::Read;
use std::time::{Duration, Instant};

use kestrel_feeds::ws::testserver::{replay, Faults, WsServer};
use kestrel_feeds::ws::{ConnEvent, MessageHandler, WsClient, WsConfig};

#[global_allocator]
static A: Counting = Counting;

struct H {
    n: usize,
    bytes: usize,
    /// Allocation count when message `WARM` arrived.
    at_warm: u64,
    /// Allocation count when the last message arrived.
    at_last: u64,
    total: usize,
    events: Vec<ConnEvent>,
}

const WARM: usize = 2000;

impl MessageHandler for H {
    fn on_message(&mut self, _conn: usize, _recv_ns: u64, payload: &mut [u8]) {
        self.n += 1;
        self.bytes += payload.len();
        if self.n == WARM {
            self.at_warm = allocs_now();
        }
        if self.n == self.total {
            self.at_last = allocs_now();
        }
    }
    fn on_event(&mut self, _conn: usize, ev: ConnEvent) {
        self.events.push(ev);
    }
}

#[test]
fn no_allocation_per_frame_in_steady_state() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/hftbacktest/spot/btcusdt_20240808.gz"
    );
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .take(8 << 20)
        .read_to_string(&mut text)
        .unwrap_or_default();
    let frames: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, j)| j.to_string()))
        .filter(|j| j.starts_with("{\"stream\""))
        .take(12_000)
        .collect();
    let total = frames.len();
    assert!(total >= 10_000);
    let faults = Faults {
        ping_every: Some(500),
        ..Faults::default()
    };
    let server = WsServer::start(replay(&frames, &faults), Duration::from_secs(10)).unwrap();
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    client.add(&server.url("/stream"), None);
    let mut h = H {
        n: 0,
        bytes: 0,
        at_warm: 0,
        at_last: 0,
        total,
        events: Vec::with_capacity(16),
    };
    let t0 = Instant::now();
    let now = move || t0.elapsed().as_nanos() as u64;
    let end = Instant::now() + Duration::from_secs(8);
    let mut busy = Duration::ZERO;
    while h.n < total && Instant::now() < end {
        let t = Instant::now();
        let got = client
            .poll_once(Duration::from_millis(5), &mut h, now)
            .unwrap();
        if got > 0 {
            busy += t.elapsed();
        }
    }
    let after = h.at_last;
    assert_eq!(h.n, total);
    let steady = total - WARM;
    let per = (after - h.at_warm) as f64 / steady as f64;
    println!(
        "{steady} frames after warm-up: {} allocations ({per:.4}/frame); {total} frames, {} B, \
         {:.0} ns/frame in poll_once calls that delivered",
        after - h.at_warm,
        h.bytes,
        busy.as_nanos() as f64 / total as f64
    );
    assert_eq!(h.events[..2], [ConnEvent::Connected, ConnEvent::Subscribed]);
    // Pings from the server are answered without allocating, too.
    assert!(per < 0.01, "{per} allocations per frame");
    let logs = server.stop();
    let pings = (total - 1) / 500;
    assert!(
        logs[0].pongs >= 1 && logs[0].pongs <= pings,
        "{} pongs",
        logs[0].pongs
    );
}
