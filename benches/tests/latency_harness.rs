//! Smoke test of the end-to-end latency harness: 2 s of book tickers at 2000/s with
//! yielding threads must place orders on the mock venue and print the percentile
//! table. Needs the `kestrel` binary next to the harness (`cargo build --release -p
//! kestrel-tools` for the same target directory and profile).

use std::path::Path;
use std::process::Command;

#[test]
fn harness_reports_orders_and_tick_to_order_percentiles() {
    let harness = Path::new(env!("CARGO_BIN_EXE_latency_harness"));
    let kestrel = harness.with_file_name(format!("kestrel{}", std::env::consts::EXE_SUFFIX));
    assert!(
        kestrel.is_file(),
        "{} is missing: build it first with `cargo build -p kestrel-tools` (same profile and target dir)",
        kestrel.display()
    );
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(harness)
        .args([
            "--rate",
            "2000",
            "--seconds",
            "2",
            "--wait",
            "yield",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let all = format!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{all}");

    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{all}"))
            .to_string()
    };
    // "ticks sent 4000 in 1.999 s: 2001 ticks/s (asked 2000/s)"
    let ticks = line("ticks sent ");
    let sent: u64 = ticks.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(sent, 4000, "{all}");
    // "orders placed at the venue N" agrees with "N orders; nanoseconds".
    let placed: u64 = line("orders placed at the venue ")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(placed > 0, "{all}");
    let recorded: u64 = stdout
        .lines()
        .find(|l| l.ends_with(" orders; nanoseconds"))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no order count line in:\n{all}"));
    assert_eq!(recorded, placed, "{all}");
    // The tick-to-order row has six positive, non-decreasing percentiles.
    let row = line("tick-to-order (recv -> sent)");
    let nums: Vec<u64> = row
        .split_whitespace()
        .skip(4)
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 6, "{row}");
    assert!(
        nums[0] > 0 && nums.windows(2).all(|w| w[0] <= w[1]),
        "{row}"
    );
    // The report, config and journal are in --out.
    for f in ["report.txt", "latency.toml", "run.log", "journal"] {
        assert!(out.path().join(f).exists(), "{f} missing");
    }
}
