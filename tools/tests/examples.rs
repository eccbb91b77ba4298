//! The controller examples in `examples/` run end to end with `kestrel run` from the
//! repository root: those on the bundled captures trade, and every journal replays
//! byte for byte.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kestrel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .current_dir(root())
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

/// The number after `label` in the run summary.
fn count(summary: &str, label: &str) -> u64 {
    let at = summary
        .find(label)
        .unwrap_or_else(|| panic!("{label}: {summary}"))
        + label.len();
    summary[at..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{label}: {summary}"))
}

fn run(example: &str, extra: &[&str]) -> (String, PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("j");
    let cfg = format!("examples/{example}.toml");
    let mut args = vec!["run", &cfg, "--journal", journal.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = kestrel(&args);
    assert!(out.status.success(), "{example}: {}", text(&out));
    let verify = kestrel(&["replay", "--verify", journal.to_str().unwrap()]);
    assert!(
        text(&verify).contains("all byte-identical"),
        "{example}: {}",
        text(&verify)
    );
    (text(&out), journal, tmp)
}

#[test]
fn recorded_examples_trade_and_replay() {
    for example in [
        "market_making",
        "dynamic_market_making",
        "directional",
        "generic",
    ] {
        let (summary, _, _tmp) = run(example, &[]);
        assert!(count(&summary, "orders") > 0, "{example}: {summary}");
        assert!(count(&summary, "fills") > 0, "{example}: {summary}");
    }
}

#[test]
fn two_instrument_examples_run_and_wait_for_their_books() {
    for example in ["arbitrage", "xemm"] {
        let (summary, _, _tmp) = run(example, &["--events", "2000"]);
        // The synthetic feed quotes BTCUSDT only: the controller never gets both books.
        assert_eq!(count(&summary, "orders"), 0, "{example}: {summary}");
    }
}
