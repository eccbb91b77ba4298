//! Heap allocations of the Binance parser per message, counted with a global allocator
//! over real captures (hftbacktest nkaz001/hftbacktest MIT, cryptofeed bmoscon/cryptofeed
//! XFree86 1.1; see shared/data/README.md). Own test binary: it installs the allocator.

mod common;

use common::{allocs_now, Counting};

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use kestrel_engine::Event;
use kestrel_feeds::binance::{CryptofeedReader, Parser};

#[global_allocator]
static A: Counting = Counting;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

/// The JSON part of every line of an hftbacktest capture (`<ts_ns> <json>`).
fn messages(rel: &str) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(data(rel)).unwrap();
    BufReader::new(flate2::read::MultiGzDecoder::new(f))
        .split(b'\n')
        .map(|l| l.unwrap())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let sp = l.iter().position(|&c| c == b' ').unwrap();
            l[sp + 1..].to_vec()
        })
        .collect()
}

/// Parses `msgs` (copied into one reused buffer, as a socket reader would) and
/// returns the allocations made while parsing messages `skip..`.
fn count(
    p: &mut Parser,
    msgs: &[Vec<u8>],
    skip: usize,
    buf: &mut Vec<u8>,
    out: &mut Vec<Event>,
) -> u64 {
    let mut allocs = 0;
    for (i, m) in msgs.iter().enumerate() {
        buf.clear();
        buf.extend_from_slice(m);
        out.clear();
        let before = allocs_now();
        p.parse(buf, out).unwrap();
        if i >= skip {
            allocs += allocs_now() - before;
        }
    }
    allocs
}

// One test function, so no other test thread allocates while counting.
#[test]
fn no_allocation_per_message_after_warm_up() {
    for (rel, warm_up) in [
        ("hftbacktest/spot/btcusdt_20240808.gz", 2_000),
        ("hftbacktest/usdm/btcusdt_20240808.gz", 2_000),
    ] {
        let msgs = messages(rel);
        let max = msgs.iter().map(Vec::len).max().unwrap();
        let mut buf = Vec::with_capacity(max);
        let mut out = Vec::with_capacity(256);
        let mut p = Parser::new(&[("BTCUSDT".to_string(), 0)]);

        // First pass: buffers grow only when a message is larger (bytes, tape nodes,
        // events) than every earlier one. In these captures the 1000-level snapshot
        // comes first, so nothing at all is allocated after the warm-up messages.
        let first = count(&mut p, &msgs, warm_up, &mut buf, &mut out);
        let n = (msgs.len() - warm_up) as u64;
        assert_eq!(
            first, 0,
            "{rel}: {first} allocations over {n} messages after warm-up"
        );

        // Second pass: the buffers have seen every size: exactly zero.
        let second = count(&mut p, &msgs, 0, &mut buf, &mut out);
        assert_eq!(
            second,
            0,
            "{rel}: {second} allocations over {} messages",
            msgs.len()
        );
        eprintln!(
            "{rel}: {} messages, {first} allocations after the first {warm_up}, 0 on the second pass",
            msgs.len()
        );
    }

    // The cryptofeed reader (line buffer, parser and event queue reused): zero
    // allocations per event once it has read the file through once.
    let syms: Vec<(String, u16)> = ["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"]
        .iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), i as u16))
        .collect();
    let path = data("cryptofeed/BINANCE_FUTURES.ws.1.0");
    let mut r = CryptofeedReader::open(&path, &syms).unwrap();
    let mut n = 0u64;
    for _ in 0..200 {
        r.next_event().unwrap().unwrap();
    }
    let before = allocs_now();
    while let Some(ev) = r.next_event() {
        ev.unwrap();
        n += 1;
    }
    let allocs = allocs_now() - before;
    assert!(n > 1_000);
    eprintln!("cryptofeed reader: {allocs} allocations for the last {n} events");
    assert_eq!(
        allocs, 0,
        "cryptofeed reader: {allocs} allocations for {n} events"
    );
}
