//! Replay throughput: every input of a journal, decoded into memory once, through a
//! fresh engine with no strategy (what `kestrel replay` does per input, minus the LMDB
//! read and the output comparison). Reported per input, engine construction included.
//!
//! Two journals, each written with `JournalWriter` and read back with
//! `JournalReader::inputs` before measuring:
//! - `usdm_btcusdt_20240808`: the largest bundled capture (USD-M BTCUSDT, hftbacktest;
//!   MIT, see shared/data/README.md) after depth sync: depth diffs of up to 16 levels
//!   per input, book tickers and trades;
//! - `tickers_trades`: 1,000,000 BTCUSDT book tickers ~1 ms apart with a trade after
//!   every fifth, the shape of `../shared/peers/gen_data.py`'s data.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kestrel_engine::*;
use kestrel_feeds::{DepthSync, RecordedFeed};
use kestrel_journal::{JournalOptions, JournalReader, JournalWriter, Meta};
use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"
[balances]
BTC = "10"
USDT = "1000000"
"#;

fn capture() -> Vec<(u64, Event)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hftbacktest/usdm/btcusdt_20240808.gz");
    let mut feed = RecordedFeed::open(&path, &[("BTCUSDT".to_string(), 0)]).expect("shared data");
    let mut sync = DepthSync::new();
    let mut ready = VecDeque::new();
    while let Some(item) = feed.next_event() {
        let (ts, v, e) = item.expect("valid capture");
        sync.push(ts, v, e, &mut ready);
    }
    ready.into_iter().map(|(ts, _, e)| (ts, e)).collect()
}

/// Deterministic tickers around 60,000 (a bid step every other quote, 1-tick spread)
/// and a trade at the touch after every fifth.
fn tickers_trades(n: u64) -> Vec<(u64, Event)> {
    let mut out = Vec::with_capacity(n as usize * 6 / 5);
    let mut bid = 6_000_000i64; // ticks of 0.01
    let mut x = 42u64;
    for i in 0..n {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        if i % 2 == 1 {
            bid += ((x >> 33) % 21) as i64 - 10;
        }
        let ts = 1_704_067_200_000_000_000 + i * 1_000_000;
        let px = |ticks: i64| Dec(ticks * 10_000_000);
        out.push((
            ts,
            Event::BookTicker(BookTicker {
                instrument: 0,
                bid_px: px(bid),
                bid_qty: Dec(500_000_000),
                ask_px: px(bid + 1),
                ask_qty: Dec(700_000_000),
                update_id: i,
            }),
        ));
        if i % 5 == 4 {
            let buy = (x >> 40) & 1 == 1;
            out.push((
                ts + 100_000,
                Event::Trade(Trade {
                    instrument: 0,
                    px: px(if buy { bid + 1 } else { bid }),
                    qty: Dec(10_000_000),
                    aggressor: if buy { Side::Buy } else { Side::Sell },
                    trade_id: i,
                }),
            ));
        }
    }
    out
}

/// Journals a session start and `events`, then reads every input back decoded.
fn journal_roundtrip(events: &[(u64, Event)]) -> Vec<Input> {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("j");
    let meta = Meta::new(1, 42, CONFIG.into(), 0);
    let opts = JournalOptions {
        fsync: false,
        max_mib: 4096,
    };
    let mut w = JournalWriter::create(&dir, &meta, &opts).expect("create journal");
    let header = |seq: u64, source: Source, ts: u64| Header {
        seq,
        source,
        ts,
        ..Header::default()
    };
    let mut batch = vec![Input {
        header: header(1, Source::Session, 0),
        event: Event::SessionStart(SessionStart {
            session_id: 1,
            seed: 42,
            config: CONFIG.into(),
        }),
    }];
    for (i, (ts, e)) in events.iter().enumerate() {
        batch.push(Input {
            header: header(i as u64 + 2, Source::Feed, *ts),
            event: e.clone(),
        });
        if batch.len() == 4096 {
            w.append(&batch, &[], &[]).expect("append");
            batch.clear();
        }
    }
    w.append(&batch, &[], &[]).expect("append");
    drop(w);
    let inputs = JournalReader::open(&dir)
        .expect("open journal")
        .inputs()
        .expect("read inputs");
    assert_eq!(inputs.len(), events.len() + 1);
    inputs
}

/// A fresh engine built from the journal's session start, then every input; returns
/// (inputs applied, outputs).
fn replay(inputs: &[Input]) -> (u64, u64) {
    let Event::SessionStart(start) = &inputs[0].event else {
        panic!("invariant: the journal starts with its session start");
    };
    let mut engine = Engine::new(start).expect("config");
    let mut outputs = 0u64;
    for i in inputs {
        outputs += engine.apply(i).len() as u64;
    }
    (engine.stats.inputs, outputs)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("replay");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (name, events) in [
        ("usdm_btcusdt_20240808", capture()),
        ("tickers_trades", tickers_trades(1_000_000)),
    ] {
        let inputs = journal_roundtrip(&events);
        // No strategy: every input is applied and no order comes out.
        assert_eq!(replay(&inputs).0, inputs.len() as u64);
        g.throughput(Throughput::Elements(inputs.len() as u64));
        g.bench_function(name, |b| b.iter(|| replay(&inputs)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
