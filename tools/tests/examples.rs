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

#[test]
fn the_quote_replace_benchmark_session_requotes_every_ticker() {
    // One book ticker per synthetic step plus the opening book's: 2,001 tickers, each
    // answered with two places (and, after the first, two cancels).
    let (summary, journal, _tmp) = run("quote_replace", &["--events", "2000"]);
    assert_eq!(count(&summary, "orders"), 4002, "{summary}");
    let latency = kestrel(&["latency", journal.to_str().unwrap()]);
    assert!(latency.status.success(), "{}", text(&latency));
    assert!(
        text(&latency).contains("4002 orders"),
        "every place has a latency record: {}",
        text(&latency)
    );
}

#[test]
fn every_example_backtests_on_the_bundled_capture() {
    let data = "../shared/data/hftbacktest/spot/btcusdt_20240808.gz";
    for example in [
        "market_making",
        "dynamic_market_making",
        "directional",
        "generic",
        "arbitrage",
        "xemm",
        "copy_trading",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let journal = tmp.path().join("j");
        let cfg = format!("examples/{example}.toml");
        let mut args = vec![
            "backtest",
            &cfg,
            "--data",
            data,
            "--journal",
            journal.to_str().unwrap(),
            "-q",
        ];
        if example == "copy_trading" {
            args.extend(["--signals", "examples/copy_trading_signals.txt"]);
        }
        let out = kestrel(&args);
        let summary = text(&out);
        assert!(out.status.success(), "{example}: {summary}");
        let verify = kestrel(&["replay", "--verify", journal.to_str().unwrap()]);
        assert!(
            text(&verify).contains("all byte-identical"),
            "{example}: {}",
            text(&verify)
        );
        match example {
            // One symbol per capture: the two-instrument controllers never see both books.
            "arbitrage" | "xemm" => assert_eq!(count(&summary, "orders"), 0, "{summary}"),
            "copy_trading" => {
                assert!(
                    summary.contains(
                        "signals  opened 3, closed 1, rejected 2 (low confidence 1, duplicate 1)"
                    ),
                    "{summary}"
                );
                assert_eq!(count(&summary, "orders"), 6, "{summary}");
            }
            _ => assert!(count(&summary, "fills") > 0, "{example}: {summary}"),
        }
    }
}

#[test]
fn a_malformed_signals_file_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let signals = tmp.path().join("s.txt");
    std::fs::write(
        &signals,
        "# ok\n1723161260000000000 {\"id\":\"a\",\"pair\":\"BTCUSDT\",\"side\":\"buy\",\"amount\":\"1\",\"action\":\"OPEN\"}\n1723161260000000001 {\"id\":\"b\",\"pair\":\"DOGEUSDT\",\"side\":\"buy\",\"amount\":\"1\"}\n",
    )
    .unwrap();
    let journal = tmp.path().join("j");
    let out = kestrel(&[
        "backtest",
        "examples/copy_trading.toml",
        "--data",
        "../shared/data/hftbacktest/spot/btcusdt_20240808.gz",
        "--signals",
        signals.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "-q",
    ]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("s.txt:3") && t.contains("DOGEUSDT"), "{t}");
    // A signals file for a config without copy trading is refused.
    let out = kestrel(&[
        "backtest",
        "examples/market_making.toml",
        "--data",
        "../shared/data/hftbacktest/spot/btcusdt_20240808.gz",
        "--signals",
        signals.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "-q",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("0 copy_trading controllers"),
        "{}",
        text(&out)
    );
}
