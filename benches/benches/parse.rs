//! Parse cost per Binance message: Kestrel's parser (`kestrel_feeds::binance`:
//! `kestrel`, with its fast path for compact book tickers; `simd_json_tape`, every
//! message through the simd-json tape) against a straightforward serde_json parser
//! (derived structs borrowing `&str`, level lists in a `Vec`), both producing the same
//! engine events. Messages are real combined-stream frames from the hftbacktest spot
//! BTCUSDT capture (nkaz001/hftbacktest, MIT; see shared/data/README.md), read at
//! start.
//!
//! simd-json parses in place, so its timing includes copying each message into a reused
//! buffer; serde_json reads the original bytes. `simd_json_fill_tape_only` is simd-json's
//! own floor (copy + tape, no field reading), for reference.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kestrel_engine::num::parse_raw;
use kestrel_engine::{BookTicker, Dec, Depth, Event, InstrumentId, Level, Side, DEPTH_CHUNK};
use kestrel_feeds::binance::Parser;
use serde::Deserialize;

const BATCH: usize = 2_000;

fn capture() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    kestrel_benches::capture::spot_stream_messages(BATCH)
}

// ---- The serde_json baseline -------------------------------------------------------

#[derive(Deserialize)]
struct TickerFrame<'a> {
    #[serde(borrow)]
    #[allow(dead_code)]
    stream: &'a str,
    #[serde(borrow)]
    data: TickerMsg<'a>,
}

#[derive(Deserialize)]
struct TickerMsg<'a> {
    u: u64,
    s: &'a str,
    b: &'a str,
    #[serde(rename = "B")]
    bq: &'a str,
    a: &'a str,
    #[serde(rename = "A")]
    aq: &'a str,
}

#[derive(Deserialize)]
struct DepthFrame<'a> {
    #[serde(borrow)]
    #[allow(dead_code)]
    stream: &'a str,
    #[serde(borrow)]
    data: DepthMsg<'a>,
}

#[derive(Deserialize)]
struct DepthMsg<'a> {
    #[serde(rename = "E")]
    #[allow(dead_code)]
    event_time: u64,
    s: &'a str,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    #[serde(borrow)]
    b: Vec<[&'a str; 2]>,
    #[serde(borrow)]
    a: Vec<[&'a str; 2]>,
}

fn lookup(symbols: &[(String, InstrumentId)], s: &str) -> InstrumentId {
    symbols
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(s))
        .map(|&(_, id)| id)
        .expect("symbol")
}

fn dec(s: &str) -> Dec {
    Dec(parse_raw(s.as_bytes()).expect("decimal"))
}

fn serde_ticker(symbols: &[(String, InstrumentId)], bytes: &[u8], out: &mut Vec<Event>) {
    let f: TickerFrame<'_> = serde_json::from_slice(bytes).expect("json");
    let m = f.data;
    out.push(Event::BookTicker(BookTicker {
        instrument: lookup(symbols, m.s),
        bid_px: dec(m.b),
        bid_qty: dec(m.bq),
        ask_px: dec(m.a),
        ask_qty: dec(m.aq),
        update_id: m.u,
    }));
}

fn serde_depth(symbols: &[(String, InstrumentId)], bytes: &[u8], out: &mut Vec<Event>) {
    let f: DepthFrame<'_> = serde_json::from_slice(bytes).expect("json");
    let m = f.data;
    let mut d = Depth {
        instrument: lookup(symbols, m.s),
        snapshot: false,
        first_chunk: true,
        last_chunk: false,
        first_update_id: m.first,
        last_update_id: m.u,
        prev_update_id: 0,
        len: 0,
        levels: [Level::default(); DEPTH_CHUNK],
    };
    let levels =
        m.b.iter()
            .map(|l| (Side::Buy, l))
            .chain(m.a.iter().map(|l| (Side::Sell, l)));
    for (side, [px, qty]) in levels {
        if d.len as usize == DEPTH_CHUNK {
            out.push(Event::Depth(d));
            d.first_chunk = false;
            d.len = 0;
            d.levels = [Level::default(); DEPTH_CHUNK];
        }
        d.levels[d.len as usize] = Level {
            side,
            px: dec(px),
            qty: dec(qty),
        };
        d.len += 1;
    }
    d.last_chunk = true;
    out.push(Event::Depth(d));
}

// ---- Bench -------------------------------------------------------------------------

type ParseFn = fn(&mut Parser, &mut [u8], &mut Vec<Event>) -> usize;

fn all(
    parse: ParseFn,
    p: &mut Parser,
    msgs: &[Vec<u8>],
    buf: &mut Vec<u8>,
    out: &mut Vec<Event>,
) -> usize {
    let mut n = 0;
    for m in msgs {
        buf.clear();
        buf.extend_from_slice(m);
        out.clear();
        n += parse(p, buf, out);
    }
    n
}

/// `Parser::parse`: a book ticker in Binance's compact form through its fast path.
fn kestrel(p: &mut Parser, buf: &mut [u8], out: &mut Vec<Event>) -> usize {
    p.parse(buf, out).expect("parse").events
}

/// Every message through the simd-json tape.
fn tape(p: &mut Parser, buf: &mut [u8], out: &mut Vec<Event>) -> usize {
    p.parse_with_tape(buf, out).expect("parse").events
}

type SerdeFn = fn(&[(String, InstrumentId)], &[u8], &mut Vec<Event>);

fn serde_all(
    f: SerdeFn,
    symbols: &[(String, InstrumentId)],
    msgs: &[Vec<u8>],
    out: &mut Vec<Event>,
) -> usize {
    let mut n = 0;
    for m in msgs {
        out.clear();
        f(symbols, m, out);
        n += out.len();
    }
    n
}

fn bench(c: &mut Criterion) {
    let (tickers, depth) = capture();
    assert_eq!((tickers.len(), depth.len()), (BATCH, BATCH));
    let symbols = vec![("BTCUSDT".to_string(), 0)];

    for (name, msgs, serde_fn) in [
        ("book_ticker", &tickers, serde_ticker as SerdeFn),
        ("depth_update", &depth, serde_depth as SerdeFn),
    ] {
        // Both parsers must agree on every event.
        let mut p = Parser::new(&symbols);
        let (mut a, mut b, mut buf) = (Vec::new(), Vec::new(), Vec::new());
        for m in msgs.iter() {
            a.clear();
            b.clear();
            buf.clear();
            buf.extend_from_slice(m);
            p.parse(&mut buf, &mut a).unwrap();
            serde_fn(&symbols, m, &mut b);
            assert_eq!(a, b);
        }
        let bytes: usize = msgs.iter().map(Vec::len).sum();
        eprintln!(
            "{name}: {} messages, {} bytes on average",
            msgs.len(),
            bytes / msgs.len()
        );

        let mut g = c.benchmark_group(format!("parse_{name}"));
        g.throughput(Throughput::Elements(msgs.len() as u64));
        g.bench_function("kestrel", |bch| {
            let mut out = Vec::with_capacity(64);
            bch.iter(|| all(kestrel, &mut p, msgs, &mut buf, &mut out))
        });
        g.bench_function("simd_json_tape", |bch| {
            let mut out = Vec::with_capacity(64);
            bch.iter(|| all(tape, &mut p, msgs, &mut buf, &mut out))
        });
        g.bench_function("simd_json_fill_tape_only", |bch| {
            let mut bufs = simd_json::Buffers::new(4096);
            let mut tape = simd_json::Tape::null().reset();
            bch.iter(|| {
                let mut n = 0;
                for m in msgs.iter() {
                    buf.clear();
                    buf.extend_from_slice(m);
                    let mut t = std::mem::replace(&mut tape, simd_json::Tape(Vec::new())).reset();
                    simd_json::fill_tape(&mut buf, &mut bufs, &mut t).unwrap();
                    n += t.0.len();
                    tape = t.reset();
                }
                n
            })
        });
        g.bench_function("serde_json_derive", |bch| {
            let mut out = Vec::with_capacity(64);
            bch.iter(|| serde_all(serde_fn, &symbols, msgs, &mut out))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
