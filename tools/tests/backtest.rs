//! `kestrel backtest`: the embedded default config (market making) over recorded data,
//! journal replay, the same session from a file and from its imported journal, venue
//! settings reaching the simulated venue, and clear errors.

use kestrel_engine::{Event, ExecKind, RejectReason, Source};
use kestrel_journal::JournalReader;
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
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

/// The number after the column `label` in the printout (e.g. `fills` in
/// "orders   202   fills   165"): columns are preceded by at least two spaces.
fn count(out: &str, label: &str) -> u64 {
    let key = format!("  {label} ");
    let at = out
        .find(&key)
        .unwrap_or_else(|| panic!("no {label:?} in {out}"));
    out[at + key.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {out}"))
}

fn backtest(dir: &Path, args: &[&str]) -> String {
    let mut a = vec!["backtest"];
    a.extend_from_slice(args);
    let out = kestrel(&a, dir);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

const SPOT: &str = "hftbacktest/spot/btcusdt_20240808.gz";

#[test]
fn market_making_on_a_capture_fills_and_its_journal_replays_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    let file = data(SPOT);
    let out = backtest(p, &["--data", file.to_str().unwrap(), "--journal", "j"]);
    assert!(out.contains("hftbacktest capture"), "{out}");
    assert!(out.contains("controller mm-btc: "), "{out}");
    assert!(out.contains("executors closed: "), "{out}");
    let (orders, fills) = (count(&out, "orders"), count(&out, "fills"));
    assert!(orders > 0 && fills > 0, "{out}");

    // The journal: session start, then every input the engine saw.
    let r = JournalReader::open(&p.join("j")).unwrap();
    let inputs = r.inputs().unwrap();
    assert_eq!(inputs.len() as u64, count(&out, "inputs"));
    assert!(matches!(inputs[0].event, Event::SessionStart(_)));
    let market: Vec<_> = inputs
        .iter()
        .filter(|i| i.header.source == Source::Feed)
        .collect();
    let fill_reports = inputs
        .iter()
        .filter(|i| {
            i.header.source == Source::Venue
                && matches!(&i.event, Event::Exec(e) if matches!(e.kind, ExecKind::Fill | ExecKind::PartialFill))
        })
        .count() as u64;
    assert_eq!(fill_reports, fills);
    // A timer per second boundary crossed, as the threaded runtime publishes them.
    let (first, last) = (market[0].header.ts, market[market.len() - 1].header.ts);
    let timers = inputs
        .iter()
        .filter(|i| matches!(i.event, Event::Timer(_)))
        .count() as u64;
    assert_eq!(timers, last / 1_000_000_000 - first / 1_000_000_000);
    assert!(inputs
        .windows(2)
        .all(|w| w[1].header.seq == w[0].header.seq + 1));
    drop(r);

    // The market data are exactly what `kestrel import` journals from the file.
    let imported = kestrel(
        &[
            "import",
            "--config",
            "cfg.toml",
            "--quiet",
            file.to_str().unwrap(),
            "imp",
        ],
        &{
            let cfg = kestrel(&["default-config"], p);
            std::fs::write(p.join("cfg.toml"), cfg.stdout).unwrap();
            p.to_path_buf()
        },
    );
    assert!(imported.status.success(), "{}", text(&imported));
    let imp = JournalReader::open(&p.join("imp"))
        .unwrap()
        .inputs()
        .unwrap();
    let imp_events: Vec<_> = imp[1..].iter().map(|i| (i.header.ts, &i.event)).collect();
    let bt_events: Vec<_> = market.iter().map(|i| (i.header.ts, &i.event)).collect();
    assert_eq!(imp_events, bt_events);

    let v = kestrel(&["replay", "--verify", "j"], p);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    assert!(text(&v).contains("all byte-identical"), "{}", text(&v));
    // `kestrel report` on the journal prints the report the backtest printed.
    let rep = kestrel(&["report", "j"], p);
    assert!(rep.status.success(), "{}", text(&rep));
    let rep = String::from_utf8(rep.stdout).unwrap();
    assert!(rep.starts_with("controller mm-btc: "), "{rep}");
    assert!(out.contains(&rep), "{out}\n---\n{rep}");

    // From the imported journal: the same session, input for input.
    let again = backtest(p, &["cfg.toml", "--data", "imp", "--journal", "j2"]);
    assert!(
        again.contains("journal imp (market data inputs only)"),
        "{again}"
    );
    let a = JournalReader::open(&p.join("j")).unwrap();
    let b = JournalReader::open(&p.join("j2")).unwrap();
    assert_eq!(a.outputs().unwrap(), b.outputs().unwrap());
    assert_eq!(a.inputs().unwrap()[1..], b.inputs().unwrap()[1..]);
}

#[test]
fn venue_settings_reach_the_simulated_venue() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    let cfg = String::from_utf8(kestrel(&["default-config"], p).stdout).unwrap();
    let limited = cfg.replacen("max_orders_per_sec = 0", "max_orders_per_sec = 1", 1);
    assert_ne!(cfg, limited);
    std::fs::write(p.join("limited.toml"), limited).unwrap();
    let file = data(SPOT);
    let out = backtest(
        p,
        &[
            "limited.toml",
            "--data",
            file.to_str().unwrap(),
            "--journal",
            "j",
            "--quiet",
        ],
    );
    // Four quotes at once, one admitted per second: the rest come back RateLimited.
    let rejects = count(&out, "rejects");
    let r = JournalReader::open(&p.join("j")).unwrap();
    let limited = r
        .inputs()
        .unwrap()
        .iter()
        .filter(|i| matches!(&i.event, Event::Exec(e) if e.reason == RejectReason::RateLimited))
        .count() as u64;
    assert!(limited > 0, "{out}");
    assert_eq!(limited, rejects);
    drop(r);
    let v = kestrel(&["replay", "--verify", "j"], p);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

#[test]
fn bad_inputs_give_clear_errors_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    let file = data(SPOT);
    let f = file.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["backtest", "--data", "missing.gz", "--journal", "j"],
            "data file missing.gz does not exist",
        ),
        (
            vec!["backtest", "nope.toml", "--data", f, "--journal", "j"],
            "cannot read config nope.toml",
        ),
        (
            vec!["backtest", "bad.toml", "--data", f, "--journal", "j"],
            "unknown variant `fifo`",
        ),
        (
            vec!["backtest", "eth.toml", "--data", f, "--journal", "j"],
            "instrument BTCUSDT is not configured",
        ),
        (
            vec!["backtest", "--data", "not-data.txt", "--journal", "j"],
            "unknown data format",
        ),
    ];
    std::fs::write(p.join("bad.toml"), "[venue]\nqueue_model = \"fifo\"\n").unwrap();
    let cfg = String::from_utf8(kestrel(&["default-config"], p).stdout).unwrap();
    std::fs::write(p.join("eth.toml"), cfg.replace("BTC", "ETH")).unwrap();
    std::fs::write(p.join("not-data.txt"), "hello\n").unwrap();
    for (args, msg) in cases {
        let out = kestrel(&args, p);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let t = text(&out);
        assert!(t.starts_with("error: ") && t.contains(msg), "{args:?}: {t}");
        assert!(!t.contains("panicked"), "{t}");
        // No half-written journal is left behind.
        assert!(!p.join("j").exists(), "{args:?}");
    }
    // No --data at all is a usage error (clap's exit code 2 too).
    let out = kestrel(&["backtest"], p);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--data"), "{}", text(&out));
}
