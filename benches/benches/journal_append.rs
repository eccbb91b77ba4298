//! Throughput of `JournalWriter::append` for BookTicker inputs at batch sizes 1, 64
//! and 4096 (one LMDB write transaction per batch), with `fsync` off (`NO_SYNC`: the
//! commit is in the OS page cache when `append` returns) and on (on disk when it
//! returns).
//!
//! This is the journal thread's cost under both durability modes: with `durability =
//! "async"` orders leave without waiting for it, with `"sync"` the gateway holds each
//! order until the append that carries its cause returns, so one append (at the batch
//! size the journal thread drained) is what a sync order waits for on top of the
//! engine. `fsync` decides whether that append includes a disk flush.
//!
//! Each sample appends fresh, increasing seqs to one journal in a temporary directory,
//! so the B-tree grows across the run as it does in a session.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kestrel_engine::{BookTicker, Dec, Event, Header, Input, Source};
use kestrel_journal::{JournalOptions, JournalWriter, Meta};

fn ticker(seq: u64) -> Input {
    Input {
        header: Header {
            seq,
            source: Source::Feed,
            ts: 1_700_000_000_000_000_000 + seq,
            recv_ns: seq * 3,
            publish_ns: seq * 3 + 1,
            venue_ts: 1_700_000_000_000_000_000 + seq,
        },
        event: Event::BookTicker(BookTicker {
            instrument: 1,
            bid_px: Dec(6_500_000_000_000 + (seq % 100) as i64),
            bid_qty: Dec(12_000_000),
            ask_px: Dec(6_500_000_010_000 + (seq % 100) as i64),
            ask_qty: Dec(3_000_000),
            update_id: seq,
        }),
    }
}

fn journal_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("journal_append");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (fsync, batch) in [
        (false, 1usize),
        (false, 64),
        (false, 4096),
        (true, 1),
        (true, 64),
        (true, 4096),
    ] {
        let tmp = tempfile::tempdir().expect("temp dir");
        let opts = JournalOptions {
            fsync,
            max_mib: 16 * 1024,
        };
        let meta = Meta::new(1, 7, String::new(), 0);
        let mut writer =
            JournalWriter::create(&tmp.path().join("j"), &meta, &opts).expect("create journal");
        let mut next_seq = 1u64;
        group.throughput(Throughput::Elements(batch as u64));
        let mode = if fsync { "fsync_on" } else { "fsync_off" };
        group.bench_function(format!("{mode}/book_ticker_batch_{batch}"), |b| {
            b.iter_batched_ref(
                || {
                    let inputs: Vec<Input> =
                        (next_seq..next_seq + batch as u64).map(ticker).collect();
                    next_seq += batch as u64;
                    inputs
                },
                |inputs| writer.append(inputs, &[], &[]).expect("append"),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, journal_append);
criterion_main!(benches);
