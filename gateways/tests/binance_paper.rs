//! The paper venue (`kestrel paper-venue`) with extreme arguments: refused with a
//! reason, or run without a deadline, never a panic.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kestrel_engine::{Dec, InstrumentSpec, Market};
use kestrel_gateways::binance::paper::tick_ranges;
use kestrel_gateways::binance::{PaperConfig, PaperVenue};

const KEY: &str = "paper-key";
const SECRET: &[u8] = b"paper-secret";

/// Bound of every wait that only guards against a hang.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn config(step_ticks: i64, spread_ticks: i64, lifetime: Duration) -> PaperConfig {
    PaperConfig {
        seed: 7,
        instrument: InstrumentSpec {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            tick_size: d("0.01"),
            lot_size: d("0.00001"),
            min_qty: Dec::ZERO,
            min_notional: Dec::ZERO,
            market: Market::Spot,
            leverage: 1,
        },
        start_mid: d("60000"),
        tick: Duration::from_millis(1),
        step_ticks,
        spread_ticks,
        quote_balance: d("1000"),
        lifetime,
    }
}

/// The first `n` (bid, ask) pairs the market-data stream sends.
fn books(venue: &PaperVenue, n: usize) -> Vec<(Dec, Dec)> {
    let (mut ws, _) = tungstenite::connect(venue.market_url()).unwrap();
    let until = Instant::now() + HANG_GUARD;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(Instant::now() < until, "no book frames; got {out:?}");
        let text = ws.read().unwrap().into_text().unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let px = |k: &str| d(v["data"][k].as_str().unwrap());
        out.push((px("b"), px("a")));
    }
    out
}

#[test]
fn lifetime_beyond_an_instant_means_no_deadline() {
    for lifetime in [Duration::from_secs(u64::MAX), Duration::MAX] {
        let venue = PaperVenue::start(KEY, SECRET, config(3, 1, lifetime)).unwrap();
        // The venue serves REST ...
        let mut sock = TcpStream::connect(venue.venue().rest_addr()).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        sock.write_all(b"GET /api/v3/time HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let until = Instant::now() + HANG_GUARD;
        let mut resp = Vec::new();
        let mut chunk = [0u8; 1024];
        while !String::from_utf8_lossy(&resp).contains("serverTime") && Instant::now() < until {
            match sock.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => resp.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let resp = String::from_utf8_lossy(&resp);
        assert!(resp.contains("serverTime"), "{resp}");
        // ... and the walk and its stream run.
        assert_eq!(books(&venue, 2).len(), 2);
    }
}

#[test]
fn tick_counts_beyond_the_price_range_are_refused() {
    let lifetime = Duration::from_secs(5);
    let (spreads, steps) = tick_ranges(d("0.01").raw()).unwrap();
    for (step, spread, what) in [
        (i64::MAX, 1, "step_ticks"),
        (*steps.end() + 1, 1, "step_ticks"),
        (-1, 1, "step_ticks"),
        (3, i64::MAX, "spread_ticks"),
        (3, *spreads.end() + 1, "spread_ticks"),
        (3, 0, "spread_ticks"),
    ] {
        let e = PaperVenue::start(KEY, SECRET, config(step, spread, lifetime)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let msg = e.to_string();
        assert!(msg.starts_with(what) && msg.contains("outside"), "{msg}");
    }
    let mut bad_tick = config(3, 1, lifetime);
    bad_tick.instrument.tick_size = Dec::ZERO;
    let e = PaperVenue::start(KEY, SECRET, bad_tick).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn largest_tick_counts_walk_within_the_price_range() {
    let (spreads, steps) = tick_ranges(d("0.01").raw()).unwrap();
    let venue = PaperVenue::start(
        KEY,
        SECRET,
        config(*steps.end(), *spreads.end(), Duration::from_secs(60)),
    )
    .unwrap();
    for (bid, ask) in books(&venue, 20) {
        assert!(bid > Dec::ZERO && ask > bid, "bid {bid} ask {ask}");
        assert_eq!(ask.raw() - bid.raw(), *spreads.end() * d("0.01").raw());
    }
}

#[test]
fn a_venue_with_a_long_tick_stops_at_once() {
    for tick in [Duration::from_secs(3_600), Duration::MAX] {
        let mut cfg = config(3, 1, Duration::from_secs(60));
        cfg.tick = tick;
        let venue = PaperVenue::start(KEY, SECRET, cfg).unwrap();
        // The walk publishes its first book, then sleeps a tick.
        assert_eq!(books(&venue, 1).len(), 1);
        let dropped = Instant::now();
        drop(venue);
        assert!(
            dropped.elapsed() < Duration::from_secs(5),
            "{tick:?}: drop took {:?}",
            dropped.elapsed()
        );
    }
}
