//! End-to-end tests of the `kestrel` binary: threaded runs, replay verification,
//! inspection, latency, and clear errors on bad input.

use kestrel_engine::{Action, Dec};
use kestrel_journal::{encode_output, JournalReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kestrel(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("runs kestrel")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

fn run_default(dir: &Path, extra: &[&str]) -> PathBuf {
    let journal = dir.join("journal");
    let j = journal.to_str().unwrap();
    let mut args = vec!["run", "--events", "30000", "--journal", j];
    args.extend_from_slice(extra);
    let out = kestrel(&args, dir);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("inputs") && t.contains("fills") && t.contains("pnl") && t.contains(j),
        "{t}"
    );
    journal
}

fn verify(journal: &Path) -> Output {
    kestrel(
        &["replay", "--verify", journal.to_str().unwrap()],
        journal.parent().unwrap(),
    )
}

#[test]
fn default_run_replays_byte_identical_under_every_wait_strategy() {
    for wait in ["yield", "block", "busy-spin"] {
        let tmp = tempfile::tempdir().unwrap();
        let journal = run_default(tmp.path(), &["--wait", wait]);
        let out = verify(&journal);
        assert!(out.status.success(), "{wait}: {}", text(&out));
        assert!(text(&out).contains("all byte-identical"), "{}", text(&out));
        let r = JournalReader::open(&journal).unwrap();
        let outputs = r.outputs().unwrap();
        // The market maker traded: orders went out and fills came back through the ring.
        assert!(
            outputs
                .iter()
                .filter(|o| matches!(o.action, Action::Place(_)))
                .count()
                >= 4
        );
        assert!(r.input_count().unwrap() > 30_000);
    }
}

#[test]
fn altered_output_is_reported_as_the_first_divergence() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = run_default(tmp.path(), &[]);
    let outputs = JournalReader::open(&journal).unwrap().outputs().unwrap();
    let victim = *outputs
        .iter()
        .find(|o| matches!(o.action, Action::Place(_)))
        .unwrap();
    let mut altered = victim;
    if let Action::Place(p) = &mut altered.action {
        p.price += Dec::parse("0.01").unwrap();
    }
    let (old, new) = (encode_output(&victim), encode_output(&altered));
    assert_ne!(old, new);
    // Copy the journal through the journal API with that one output altered.
    let reader = JournalReader::open(&journal).unwrap();
    let meta = reader.meta().clone();
    let inputs = reader.inputs().unwrap();
    let mut outputs = reader.outputs().unwrap();
    drop(reader);
    for o in outputs.iter_mut() {
        if o.seq == victim.seq {
            *o = altered;
        }
    }
    let journal = tmp.path().join("tampered");
    let opts = kestrel_journal::JournalOptions {
        fsync: false,
        max_mib: 1024,
    };
    let mut w = kestrel_journal::JournalWriter::create(&journal, &meta, &opts).unwrap();
    w.append(&inputs, &outputs, &[]).unwrap();
    drop(w);
    let stored = JournalReader::open(&journal)
        .unwrap()
        .output_bytes()
        .unwrap();
    assert!(stored.iter().any(|(s, b)| *s == victim.seq && *b == new));
    let out = verify(&journal);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "DIVERGENCE at output {} (caused by input {})",
            victim.seq, victim.cause
        )),
        "{t}"
    );
    assert!(t.contains("expected") && t.contains("got"), "{t}");
}

#[test]
fn inspect_shows_an_order_timeline_and_latency_prints_percentiles() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = run_default(tmp.path(), &[]);
    let j = journal.to_str().unwrap();
    let out = kestrel(&["inspect", j, "--order", "K1-1"], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("PLACE  K1-1"), "{t}");
    assert!(t.contains("exec     K1-1 Ack"), "{t}");
    let out = kestrel(&["inspect", j, "--limit", "10"], tmp.path());
    assert!(
        text(&out).contains("session start id=1 seed=42"),
        "{}",
        text(&out)
    );
    let out = kestrel(&["inspect", j, "--order", "nonsense"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("not of the form"), "{}", text(&out));
    let out = kestrel(&["latency", j], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    for col in [
        "p50",
        "p90",
        "p99",
        "p99.9",
        "p99.99",
        "max",
        "parse",
        "ring in",
        "engine",
        "ring out",
        "gateway",
        "tick-to-order",
    ] {
        assert!(t.contains(col), "{col} missing: {t}");
    }
    // A reader that stops early (`kestrel inspect DIR | head`) ends the output
    // quietly: the whole listing is megabytes, far more than a pipe holds.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["inspect", j])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
}

#[test]
fn recorded_binance_capture_runs_and_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let file = data("hftbacktest/spot/btcusdt_20240808.gz");
    assert!(file.exists(), "shared data missing: {}", file.display());
    let cfg = tmp.path().join("spot.toml");
    std::fs::write(
        &cfg,
        r#"
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
executor_refresh_time = 30
"#,
    )
    .unwrap();
    let journal = tmp.path().join("j");
    let out = kestrel(
        &[
            "run",
            cfg.to_str().unwrap(),
            "--data",
            file.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = JournalReader::open(&journal).unwrap();
    // 28,040 tickers + 9,757 trades + depth chunks + session start, timers and stop.
    assert!(r.input_count().unwrap() > 28_040 + 9_757 + 3_451);
    drop(r);
    let out = verify(&journal);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn bad_inputs_give_clear_errors_and_nonzero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    // Unknown key.
    std::fs::write(p.join("bad.toml"), "[session]\nid = 1\nbogus = 2\n").unwrap();
    let out = kestrel(&["run", "bad.toml"], p);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("unknown field `bogus`"),
        "{}",
        text(&out)
    );
    // Float price.
    std::fs::write(
        p.join("float.toml"),
        "[[instruments]]\nsymbol='X'\nbase='A'\nquote='B'\ntick_size=0.01\nlot_size='1'\n",
    )
    .unwrap();
    let out = kestrel(&["run", "float.toml"], p);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("write decimals as strings"),
        "{}",
        text(&out)
    );
    // Missing config and data files.
    let out = kestrel(&["run", "nope.toml"], p);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("cannot read config nope.toml"),
        "{}",
        text(&out)
    );
    let out = kestrel(&["run", "--data", "missing.gz"], p);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("data file missing.gz does not exist"),
        "{}",
        text(&out)
    );
    // A run length that is not a number of seconds.
    for bad in [
        "--duration=nan",
        "--duration=inf",
        "--duration=-1",
        "--duration=1e30",
    ] {
        let out = kestrel(&["run", bad], p);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        assert!(
            text(&out).contains("is not a number of seconds from 0"),
            "{bad}: {}",
            text(&out)
        );
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
    }
    // Not a journal, and a corrupt one.
    let out = kestrel(&["replay", "--verify", "nowhere"], p);
    assert_eq!(out.status.code(), Some(2));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));
    std::fs::create_dir(p.join("corrupt")).unwrap();
    std::fs::write(p.join("corrupt/data.mdb"), vec![0xAB; 64 * 1024]).unwrap();
    for cmd in [
        &["replay", "--verify", "corrupt"][..],
        &["inspect", "corrupt"],
        &["latency", "corrupt"],
    ] {
        let out = kestrel(cmd, p);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {}", text(&out));
        assert!(text(&out).starts_with("error: "), "{}", text(&out));
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
    }
}

fn default_config_with(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let out = kestrel(&["default-config"], dir);
    assert!(out.status.success());
    let mut cfg = String::from_utf8(out.stdout).unwrap();
    for (from, to) in edits {
        assert!(cfg.contains(from), "{from} not in default config");
        cfg = cfg.replacen(from, to, 1);
    }
    let path = dir.join(name);
    std::fs::write(&path, cfg).unwrap();
    path
}

#[test]
fn sync_durability_run_replays_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = default_config_with(
        tmp.path(),
        "sync.toml",
        &[
            ("durability = \"async\"", "durability = \"sync\""),
            ("events = 200000", "events = 20000"),
        ],
    );
    let journal = tmp.path().join("j");
    let out = kestrel(
        &[
            "run",
            cfg.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = verify(&journal);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn ctrl_c_stops_cleanly_with_every_input_journaled() {
    let tmp = tempfile::tempdir().unwrap();
    // An endless paced feed: only Ctrl-C ends it.
    let cfg = default_config_with(
        tmp.path(),
        "paced.toml",
        &[
            ("events = 200000", "events = 100000000"),
            ("rate_per_sec = 0", "rate_per_sec = 20000"),
        ],
    );
    let journal = tmp.path().join("j");
    let child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args([
            "run",
            cfg.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let summary = text(&out);
    let r = JournalReader::open(&journal).unwrap();
    let inputs = r.inputs().unwrap();
    // Sequence numbers are gap-free, the operator's Stop is journaled, and the
    // journal holds exactly the inputs the summary reports.
    for (i, input) in inputs.iter().enumerate() {
        assert_eq!(input.header.seq, i as u64 + 1);
    }
    assert!(inputs
        .iter()
        .any(|i| i.event == kestrel_engine::Event::Command(kestrel_engine::Command::Stop)));
    let reported: usize = summary
        .split_whitespace()
        .skip_while(|w| *w != "inputs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("summary reports inputs");
    assert_eq!(reported, inputs.len(), "{summary}");
    assert!(
        inputs.len() > 10_000 && inputs.len() < 200_000,
        "{}",
        inputs.len()
    );
    // Every order the engine placed has reached a final state in the journal.
    let outputs = r.outputs().unwrap();
    let stopped = outputs
        .iter()
        .position(|o| o.action == Action::Stopped)
        .expect("Stopped output");
    assert!(outputs[stopped..]
        .iter()
        .all(|o| !matches!(o.action, Action::Place(_))));
    drop(r);
    let out = verify(&journal);
    assert!(out.status.success(), "{}", text(&out));
}

/// The first `n` lines of the spot BTCUSDT capture.
fn capture_lines(n: usize) -> Vec<String> {
    use std::io::Read;
    let mut text_in = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(data("hftbacktest/spot/btcusdt_20240808.gz")).unwrap(),
    )
    .read_to_string(&mut text_in)
    .unwrap();
    text_in.lines().take(n).map(String::from).collect()
}

/// `kestrel run` with the default config over `lines` (written to `dir/capture.txt`),
/// journaling to `dir/j`.
fn run_on_lines(dir: &Path, lines: &[String]) -> (Output, PathBuf) {
    std::fs::write(dir.join("capture.txt"), lines.join("\n")).unwrap();
    let cfg = default_config_with(dir, "c.toml", &[]);
    let journal = dir.join("j");
    let out = kestrel(
        &[
            "run",
            cfg.to_str().unwrap(),
            "--data",
            "capture.txt",
            "--journal",
            journal.to_str().unwrap(),
        ],
        dir,
    );
    (out, journal)
}

#[test]
fn malformed_market_data_is_reported_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = capture_lines(2000);
    lines.insert(
        100,
        "1723161253937085768 {\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":1,\"b\":\"oops\""
            .into(),
    );
    lines.insert(200, "not even a timestamp".into());
    let (out, journal) = run_on_lines(tmp.path(), &lines);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert_eq!(
        t.matches("warning: skipped malformed market data").count(),
        2,
        "{t}"
    );
    assert!(t.contains("2 malformed records skipped"), "{t}");
    assert!(verify(&journal).status.success());
}

#[test]
fn a_jump_in_event_time_publishes_a_bounded_number_of_timers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = capture_lines(500);
    // The last book ticker again, stamped at the end of the u64 range (a bogus clock):
    // ~1.8e10 one-second timers owed, which used to overflow or run for hours.
    let last = lines
        .iter()
        .rev()
        .find(|l| l.contains("@bookTicker"))
        .unwrap()
        .clone();
    let (_, json) = last.split_once(' ').unwrap();
    lines.push(format!("{} {json}", u64::MAX));
    let (out, journal) = run_on_lines(tmp.path(), &lines);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("timers skipped, the latest 100000 published"),
        "{t}"
    );
    assert!(verify(&journal).status.success());
    let timers = JournalReader::open(&journal)
        .unwrap()
        .inputs()
        .unwrap()
        .iter()
        .filter(|i| matches!(i.event, kestrel_engine::Event::Timer(_)))
        .count();
    assert!((100_000..100_100).contains(&timers), "{timers} timers");
}

#[test]
fn positions_held_at_the_end_of_a_session_carry_into_the_next() {
    // Spec §9 "stored positions": the MM's filled levels end as held positions; a new
    // session started with --positions-from reports them (journaled as LoadPosition
    // commands, so the new journal replays on its own).
    let tmp = tempfile::tempdir().unwrap();
    let first = run_default(tmp.path(), &[]);
    let first_report = text(&kestrel(&["report", first.to_str().unwrap()], tmp.path()));
    let held: Vec<&str> = first_report
        .lines()
        .filter(|l| l.trim_start().starts_with("held"))
        .collect();
    assert!(!held.is_empty(), "{first_report}");
    let second = tmp.path().join("second");
    let out = kestrel(
        &[
            "run",
            "--events",
            "10",
            "--journal",
            second.to_str().unwrap(),
            "--positions-from",
            first.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let report = text(&kestrel(&["report", second.to_str().unwrap()], tmp.path()));
    // The net and entry of every bucket come across unchanged.
    for line in &held {
        let carried = line.split(", realized").next().unwrap().trim();
        assert!(report.contains(carried), "{carried} missing in\n{report}");
    }
    let v = verify(&second);
    assert!(v.status.success(), "{}", text(&v));
    // A journal that does not exist is a clear error.
    let out = kestrel(
        &[
            "run",
            "--events",
            "10",
            "--positions-from",
            "/nonexistent/j",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
