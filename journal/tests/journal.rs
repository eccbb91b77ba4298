//! Journal round trips, refusal of foreign or damaged directories, and permissions.

use std::ops::ControlFlow;
use std::path::Path;

use heed::types::{Bytes, Str};
use heed::{CommitOrAbort, EnvOpenOptions};
use kestrel_engine::{
    Action, BookTicker, ClientOrderId, CloseType, Command, Dec, Depth, Event, ExecKind, ExecReport,
    Header, Input, Level, Liquidity, OrderType, Output, PlaceOrder, PositionAction, RejectReason,
    RunStatus, SessionStart, Side, Source, TimeInForce, Trade, DEPTH_CHUNK, SCHEMA_VERSION,
};
use kestrel_journal::{
    encode_input, encode_output, JournalError, JournalOptions, JournalReader, JournalWriter,
    LatencyRecord, Meta,
};

fn meta() -> Meta {
    Meta::new(
        42,
        0xdead_beef_cafe,
        "[session]\nname = \"t\"\n".into(),
        1_700_000_000_123,
    )
}

fn opts() -> JournalOptions {
    JournalOptions {
        fsync: false,
        max_mib: 16,
    }
}

fn header(seq: u64, source: Source) -> Header {
    Header {
        seq,
        source,
        ts: seq.wrapping_add(1_000),
        recv_ns: seq.wrapping_add(2_000),
        publish_ns: seq.wrapping_add(3_000),
        venue_ts: seq.wrapping_add(4_000),
    }
}

fn ticker(seq: u64) -> Input {
    Input {
        header: header(seq, Source::Feed),
        event: Event::BookTicker(BookTicker {
            instrument: 3,
            bid_px: Dec((seq as i64).wrapping_add(10_000)),
            bid_qty: Dec(7),
            ask_px: Dec((seq as i64).wrapping_add(10_010)),
            ask_qty: Dec(9),
            update_id: seq.wrapping_add(900),
        }),
    }
}

/// One input of every kind, seqs 1..=9.
fn mixed_inputs() -> Vec<Input> {
    let mut levels = [Level::default(); DEPTH_CHUNK];
    levels[0] = Level {
        side: Side::Buy,
        px: Dec(100),
        qty: Dec(1),
    };
    levels[1] = Level {
        side: Side::Sell,
        px: Dec(101),
        qty: Dec(0),
    };
    let events = vec![
        Event::SessionStart(SessionStart {
            session_id: 42,
            seed: 7,
            config: "a = 1".into(),
        }),
        ticker(0).event,
        Event::Depth(Depth {
            instrument: 3,
            snapshot: true,
            first_chunk: true,
            last_chunk: false,
            first_update_id: 11,
            last_update_id: 12,
            prev_update_id: 10,
            len: 2,
            levels,
        }),
        Event::Trade(Trade {
            instrument: 3,
            px: Dec(100),
            qty: Dec(2),
            aggressor: Side::Sell,
            trade_id: 5,
        }),
        Event::Exec(ExecReport {
            cid: ClientOrderId::new(42, 1),
            instrument: 3,
            kind: ExecKind::PartialFill,
            venue_order_id: 77,
            last_px: Dec(100),
            last_qty: Dec(1),
            cum_qty: Dec(1),
            leaves_qty: Dec(2),
            fee: Dec(-3),
            liquidity: Liquidity::Maker,
            reason: RejectReason::None,
        }),
        Event::Timer(8),
        Event::Command(Command::PauseController(2)),
        Event::None,
        Event::Command(Command::Stop),
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Input {
            header: header(i as u64 + 1, Source::Venue),
            event,
        })
        .collect()
}

fn mixed_outputs() -> Vec<Output> {
    let cid = ClientOrderId::new(42, 1);
    let actions = vec![
        Action::Place(PlaceOrder {
            cid,
            instrument: 3,
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            price: Dec(100),
            qty: Dec(3),
            position_action: PositionAction::Close,
        }),
        Action::Modify {
            cid,
            instrument: 3,
            price: Dec(99),
            qty: Dec(2),
        },
        Action::Cancel { cid, instrument: 3 },
        Action::ExecutorUpdate {
            executor: 1,
            controller: 0,
            status: RunStatus::Terminated,
            close_type: Some(CloseType::TakeProfit),
        },
        Action::Stopped,
    ];
    actions
        .into_iter()
        .enumerate()
        .map(|(i, action)| Output {
            seq: i as u64 + 1,
            cause: 2 * i as u64 + 1,
            ts: 50 + i as u64,
            action,
        })
        .collect()
}

fn latency(output_seq: u64) -> LatencyRecord {
    LatencyRecord {
        output_seq,
        cause_seq: output_seq * 2,
        recv_ns: 1,
        publish_ns: 2,
        engine_start_ns: 3,
        engine_end_ns: 4,
        gateway_read_ns: 5,
        sent_ns: 6 + output_seq,
    }
}

/// Writes raw bytes under `key` in the journal's `meta` database (for damage tests).
fn put_meta_raw(dir: &Path, key: &str, value: &[u8]) {
    let env = unsafe { EnvOpenOptions::new().max_dbs(4).open(dir) }.unwrap();
    let wtxn = env.write_txn().unwrap();
    let db = env
        .create_databases_and_commit(wtxn, |dbo, wtxn| {
            dbo.create_database::<Str, Bytes>(wtxn, Some("meta"))
                .map(CommitOrAbort::<_, ()>::Commit)
        })
        .unwrap()
        .unwrap_commit();
    let mut wtxn = env.write_txn().unwrap();
    db.put(&mut wtxn, key, value).unwrap();
    wtxn.commit().unwrap();
}

/// Replaces every occurrence of `needle` in the data file with 0xFF bytes; returns how many.
fn smash_in_data_file(dir: &Path, needle: &[u8]) -> usize {
    let path = dir.join("data.mdb");
    let mut data = std::fs::read(&path).unwrap();
    let mut hits = 0;
    let mut i = 0;
    while i + needle.len() <= data.len() {
        if &data[i..i + needle.len()] == needle {
            data[i..i + needle.len()].fill(0xff);
            hits += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    std::fs::write(&path, data).unwrap();
    hits
}

#[test]
fn round_trip_across_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("session-1");
    let inputs = mixed_inputs();
    let outputs = mixed_outputs();
    {
        let mut w = JournalWriter::create(&dir, &meta(), &opts()).unwrap();
        assert_eq!(w.last_input_seq(), 0);
        w.append(&inputs[..4], &outputs[..2], &[latency(1)])
            .unwrap();
        assert_eq!(w.last_input_seq(), 4);
        w.append(&[], &[], &[]).unwrap();
        w.append(&inputs[4..], &outputs[2..], &[latency(2), latency(5)])
            .unwrap();
        assert_eq!(w.last_input_seq(), 9);
        assert_eq!(w.last_output_seq(), 5);
        w.sync().unwrap();
    }
    let r = JournalReader::open(&dir).unwrap();
    assert_eq!(r.meta(), &meta());
    assert_eq!(r.meta().schema_version, SCHEMA_VERSION);
    assert_eq!(r.input_count().unwrap(), 9);
    assert_eq!(r.output_count().unwrap(), 5);
    assert_eq!(r.inputs().unwrap(), inputs);
    assert_eq!(r.outputs().unwrap(), outputs);
    assert_eq!(
        r.latency().unwrap(),
        vec![latency(1), latency(2), latency(5)]
    );

    let bytes = r.output_bytes().unwrap();
    assert_eq!(bytes.len(), outputs.len());
    for ((seq, b), o) in bytes.iter().zip(&outputs) {
        assert_eq!(*seq, o.seq);
        assert_eq!(
            b,
            &encode_output(o),
            "stored bytes of output {seq} differ from encode_output"
        );
    }

    let mut seen = Vec::new();
    r.for_each_input(|i| {
        seen.push(i.header.seq);
        if i.header.seq == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(seen, vec![1, 2, 3]);
}

#[test]
fn records_come_back_in_seq_order_across_key_byte_boundaries() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    // 255 -> 256 -> 65_536 and a huge seq: little-endian keys would sort these wrongly.
    let seqs = [
        1u64,
        2,
        255,
        256,
        257,
        65_535,
        65_536,
        1 << 40,
        u64::MAX - 1,
    ];
    let inputs: Vec<Input> = seqs.iter().map(|&s| ticker(s)).collect();
    {
        let mut w = JournalWriter::create(&dir, &meta(), &opts()).unwrap();
        for chunk in inputs.chunks(2) {
            w.append(chunk, &[], &[]).unwrap();
        }
        assert_eq!(w.last_input_seq(), u64::MAX - 1);
    }
    let r = JournalReader::open(&dir).unwrap();
    assert_eq!(r.inputs().unwrap(), inputs);
}

#[test]
fn out_of_order_batch_is_refused_and_nothing_is_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let mut w = JournalWriter::create(&dir, &meta(), &opts()).unwrap();
        w.append(&[ticker(1), ticker(2)], &[], &[]).unwrap();
        let e = w.append(&[ticker(3), ticker(2)], &[], &[]).unwrap_err();
        assert!(
            matches!(
                e,
                JournalError::OutOfOrder {
                    db: "inputs",
                    seq: 2,
                    last: 3
                }
            ),
            "{e}"
        );
        let e = w.append(&[ticker(2)], &[], &[]).unwrap_err();
        assert!(
            matches!(
                e,
                JournalError::OutOfOrder {
                    seq: 2,
                    last: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(w.last_input_seq(), 2);
        w.append(&[ticker(3)], &[], &[]).unwrap();
    }
    let r = JournalReader::open(&dir).unwrap();
    assert_eq!(r.inputs().unwrap(), vec![ticker(1), ticker(2), ticker(3)]);
}

#[test]
fn schema_mismatch_is_refused_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    drop(JournalWriter::create(&dir, &meta(), &opts()).unwrap());
    put_meta_raw(&dir, "schema_version", b"0");
    let e = JournalReader::open(&dir)
        .err()
        .expect("schema 0 must be refused");
    assert!(
        matches!(
            e,
            JournalError::SchemaMismatch {
                found: 0,
                expected: SCHEMA_VERSION
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!("journal schema version 0, this build reads {SCHEMA_VERSION}")
    );

    let e = JournalWriter::create(
        &tmp.path().join("k"),
        &Meta {
            schema_version: 0,
            ..meta()
        },
        &opts(),
    )
    .err()
    .expect("writer must refuse a foreign schema");
    assert!(
        matches!(e, JournalError::SchemaMismatch { found: 0, .. }),
        "{e:?}"
    );
}

#[test]
fn older_readable_schema_opens_and_newer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let mut w = JournalWriter::create(&dir, &meta(), &opts()).unwrap();
        w.append(&[ticker(1)], &[], &[]).unwrap();
    }
    // Version 2 records (no kill switch, no risk alerts) decode unchanged.
    put_meta_raw(&dir, "schema_version", b"2");
    let r = JournalReader::open(&dir).unwrap();
    assert_eq!(r.meta().schema_version, 2);
    assert_eq!(r.inputs().unwrap(), vec![ticker(1)]);
    drop(r);
    let next = (SCHEMA_VERSION + 1).to_string();
    put_meta_raw(&dir, "schema_version", next.as_bytes());
    let e = JournalReader::open(&dir)
        .err()
        .expect("a newer schema must be refused");
    assert_eq!(
        e.to_string(),
        format!(
            "journal schema version {}, this build reads {SCHEMA_VERSION}",
            SCHEMA_VERSION + 1
        )
    );
}

#[test]
fn missing_or_malformed_meta_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    drop(JournalWriter::create(&dir, &meta(), &opts()).unwrap());
    put_meta_raw(&dir, "seed", b"not a number");
    let e = JournalReader::open(&dir)
        .err()
        .expect("bad seed must be refused");
    match e {
        JournalError::Corrupt(msg) => {
            assert!(
                msg.contains("seed") && msg.contains(&dir.display().to_string()),
                "{msg}"
            )
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn garbage_data_file_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("short", b"hello".to_vec()),
        (
            "pages",
            (0..64 * 1024u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        ("ff", vec![0xff; 32 * 1024]),
    ] {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("data.mdb"), &bytes).unwrap();
        match JournalReader::open(&dir) {
            Ok(_) => panic!("{name}: garbage opened as a journal"),
            Err(JournalError::Corrupt(msg)) => assert!(msg.contains(name), "{msg}"),
            Err(other) => panic!("{name}: unexpected error {other:?}"),
        }
    }
}

#[test]
fn overwritten_record_is_a_corrupt_record_naming_its_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let inputs: Vec<Input> = (1..=20).map(ticker).collect();
    let outputs = mixed_outputs();
    {
        let mut w = JournalWriter::create(&dir, &meta(), &opts()).unwrap();
        w.append(&inputs, &outputs, &[]).unwrap();
    }
    assert_eq!(smash_in_data_file(&dir, &encode_input(&inputs[12])), 1);
    assert_eq!(smash_in_data_file(&dir, &encode_output(&outputs[3])), 1);

    let r = JournalReader::open(&dir).unwrap();
    assert_eq!(r.input_count().unwrap(), 20);
    match r.inputs() {
        Err(JournalError::CorruptRecord {
            db: "inputs",
            seq: 13,
            reason,
        }) => assert!(!reason.is_empty()),
        other => panic!("expected CorruptRecord for input 13, got {other:?}"),
    }
    let mut before = 0;
    let e = r
        .for_each_input(|_| {
            before += 1;
            ControlFlow::Continue(())
        })
        .unwrap_err();
    assert_eq!(before, 12, "inputs before the damaged one are delivered");
    assert!(e.to_string().contains("seq 13"), "{e}");
    assert!(matches!(
        r.outputs(),
        Err(JournalError::CorruptRecord {
            db: "outputs",
            seq: 4,
            ..
        })
    ));
}

#[test]
fn not_a_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let e = JournalReader::open(tmp.path()).err().expect("empty dir");
    assert!(
        matches!(&e, JournalError::NotAJournal(p) if p == tmp.path()),
        "{e:?}"
    );
    assert!(e.to_string().contains(&tmp.path().display().to_string()));
    let missing = tmp.path().join("nope");
    assert!(matches!(
        JournalReader::open(&missing),
        Err(JournalError::NotAJournal(_))
    ));
}

#[test]
fn create_refuses_an_existing_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let mut w = JournalWriter::create(&dir, &meta(), &opts()).unwrap();
        w.append(&[ticker(1)], &[], &[]).unwrap();
    }
    let e = JournalWriter::create(&dir, &meta(), &opts())
        .err()
        .expect("second create must fail");
    assert!(
        matches!(&e, JournalError::AlreadyExists(p) if p == &dir),
        "{e:?}"
    );
    assert!(e.to_string().contains(&dir.display().to_string()));
    // The existing journal is untouched.
    assert_eq!(
        JournalReader::open(&dir).unwrap().inputs().unwrap(),
        vec![ticker(1)]
    );
}

#[cfg(unix)]
#[test]
fn directory_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a").join("b");
    drop(JournalWriter::create(&dir, &meta(), &opts()).unwrap());
    for d in [tmp.path().join("a"), dir] {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} has mode {mode:o}", d.display());
    }
}

#[test]
fn full_journal_reports_full_and_keeps_earlier_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let mut w = JournalWriter::create(
        &dir,
        &meta(),
        &JournalOptions {
            fsync: false,
            max_mib: 1,
        },
    )
    .unwrap();
    let mut seq = 0;
    let err = loop {
        let batch: Vec<Input> = (0..1_000)
            .map(|_| {
                seq += 1;
                ticker(seq)
            })
            .collect();
        if let Err(e) = w.append(&batch, &[], &[]) {
            break e;
        }
        assert!(seq < 1_000_000, "a 1 MiB journal never filled");
    };
    assert!(
        matches!(err, JournalError::Full { max_mib: 1, .. }),
        "{err:?}"
    );
    let committed = w.last_input_seq();
    assert_eq!(committed, seq - 1_000);
    drop(w);
    assert_eq!(
        JournalReader::open(&dir).unwrap().input_count().unwrap(),
        committed
    );
}

#[test]
fn invalid_options() {
    let tmp = tempfile::tempdir().unwrap();
    let e = JournalWriter::create(
        tmp.path(),
        &meta(),
        &JournalOptions {
            fsync: true,
            max_mib: 0,
        },
    );
    assert!(matches!(e, Err(JournalError::InvalidOptions(_))));
}

#[test]
fn fsync_on_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let mut w = JournalWriter::create(&dir, &meta(), &JournalOptions::default()).unwrap();
        w.append(&[ticker(1)], &[], &[latency(1)]).unwrap();
    }
    let r = JournalReader::open(&dir).unwrap();
    assert_eq!(r.inputs().unwrap(), vec![ticker(1)]);
    assert_eq!(r.latency().unwrap(), vec![latency(1)]);
}

#[test]
fn open_appends_after_the_last_seqs_and_refuses_older_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("resumed");
    let inputs = mixed_inputs();
    let outputs = mixed_outputs();
    {
        let mut w = JournalWriter::create(&dir, &meta(), &opts()).unwrap();
        w.append(&inputs[..4], &outputs[..2], &[]).unwrap();
    }
    // Created atomically: no staging directory is left next to the journal.
    assert!(!tmp.path().join(".resumed.creating").exists());
    {
        let (mut w, m) = JournalWriter::open(&dir, &opts()).unwrap();
        assert_eq!(m, meta());
        assert_eq!((w.last_input_seq(), w.last_output_seq()), (4, 2));
        let e = w.append(&inputs[3..4], &[], &[]).unwrap_err();
        assert!(
            matches!(
                e,
                JournalError::OutOfOrder {
                    seq: 4,
                    last: 4,
                    ..
                }
            ),
            "{e:?}"
        );
        w.append(&inputs[4..], &outputs[2..], &[]).unwrap();
    }
    let r = JournalReader::open(&dir).unwrap();
    assert_eq!(r.inputs().unwrap(), inputs);
    assert_eq!(r.outputs().unwrap(), outputs);
    drop(r);

    let e = JournalWriter::open(&tmp.path().join("none"), &opts())
        .err()
        .expect("no journal there");
    assert!(matches!(e, JournalError::NotAJournal(_)), "{e:?}");
    put_meta_raw(&dir, "schema_version", b"2");
    let e = JournalWriter::open(&dir, &opts())
        .err()
        .expect("an older schema is read, never appended to");
    assert!(
        matches!(e, JournalError::SchemaMismatch { found: 2, .. }),
        "{e:?}"
    );
}

/// Page size and last used page of the LMDB environment in `dir` (opened read-only).
fn lmdb_pages(dir: &Path) -> (u64, u64) {
    let mut options = EnvOpenOptions::new();
    unsafe { options.flags(heed::EnvFlags::READ_ONLY) };
    let env = unsafe { options.open(dir) }.unwrap();
    let page = u64::from(env.unnamed_database_stat().page_size);
    let last = env.info().last_page_number as u64;
    env.prepare_for_closing().wait();
    (page, last)
}

#[test]
fn truncated_data_file_is_corrupt_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let intact = tmp.path().join("intact");
    let inputs: Vec<Input> = (1..=600).map(ticker).collect();
    {
        let mut w = JournalWriter::create(&intact, &meta(), &opts()).unwrap();
        for batch in inputs.chunks(50) {
            w.append(batch, &[], &[]).unwrap();
        }
        w.sync().unwrap();
    }
    let data = std::fs::read(intact.join("data.mdb")).unwrap();
    let len = data.len() as u64;
    let (page, last) = lmdb_pages(&intact);
    // Every page up to the last one in use is on disk, so the intact file is exactly
    // as long as the journal needs.
    assert_eq!(len, (last + 1) * page);
    assert!(last >= 8, "journal too small to cut: {last} pages");

    for (name, cut) in [
        ("meta-pages-only", 2 * page),
        ("second-meta-header-only", page + 256),
        ("half", len / 2),
        ("half-plus-one", len / 2 + 1),
        ("one-page-short", len - page),
    ] {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("data.mdb");
        std::fs::write(&path, &data[..cut as usize]).unwrap();
        let check = |what: &str, e: JournalError| match e {
            JournalError::Corrupt(msg) => assert!(
                msg.contains(&path.display().to_string())
                    && msg.contains(&format!("{cut} bytes"))
                    && msg.contains(&format!("needs {len} bytes")),
                "{name} ({what}): {msg}"
            ),
            other => panic!("{name} ({what}): expected Corrupt, got {other:?}"),
        };
        check(
            "read",
            JournalReader::open(&dir)
                .err()
                .expect("a cut journal must not open for reading"),
        );
        check(
            "append",
            JournalWriter::open(&dir, &opts())
                .err()
                .expect("a cut journal must not open for appending"),
        );
        // Refusing left the file as it was.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), cut, "{name}");
    }

    // Cut before the end of the second meta page's header: LMDB itself refuses it.
    for (name, cut) in [
        ("first-meta-page-only", page),
        ("short-second-meta", page + 16),
    ] {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("data.mdb"), &data[..cut as usize]).unwrap();
        let read = JournalReader::open(&dir).err();
        let append = JournalWriter::open(&dir, &opts()).err();
        for (what, e) in [("read", read), ("append", append)] {
            match e {
                Some(JournalError::Corrupt(msg)) => {
                    assert!(msg.contains(&dir.display().to_string()), "{msg}")
                }
                other => panic!("{name} ({what}): expected Corrupt, got {other:?}"),
            }
        }
    }

    // The intact journal still opens, reads back and takes appends.
    {
        let (mut w, m) = JournalWriter::open(&intact, &opts()).unwrap();
        assert_eq!(m, meta());
        assert_eq!(w.last_input_seq(), 600);
        w.append(&[ticker(601)], &[], &[]).unwrap();
    }
    let r = JournalReader::open(&intact).unwrap();
    let mut all = inputs;
    all.push(ticker(601));
    assert_eq!(r.inputs().unwrap(), all);
}
