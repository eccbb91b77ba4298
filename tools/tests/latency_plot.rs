//! `kestrel latency --plot`: the percentile plot of a run's latency records, and the
//! error for a journal without any.

use std::path::Path;
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

#[test]
fn plots_tick_to_order_and_every_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    let out = kestrel(&["run", "--events", "30000", "--journal", "j"], p);
    assert!(out.status.success(), "{}", text(&out));
    let out = kestrel(&["latency", "j", "--plot", "lat.svg"], p);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("tick-to-order (recv -> sent)"), "{t}");
    assert!(t.ends_with("plot written to lat.svg\n"), "{t}");
    let svg = std::fs::read_to_string(p.join("lat.svg")).unwrap();
    assert!(svg.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\""
    ));
    assert!(svg.ends_with("</svg>\n"));
    let orders: usize = t.split_whitespace().next().unwrap().parse().unwrap();
    assert!(svg.contains(&format!(
        "Tick-to-order latency by percentile ({orders} orders, j)"
    )));
    // Six curves in table order, tick-to-order first.
    let names: Vec<&str> = svg
        .split("data-series=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(
        names,
        [
            "tick-to-order (recv -&gt; sent)",
            "parse (recv -&gt; publish)",
            "ring in (publish -&gt; engine)",
            "engine (apply -&gt; output)",
            "ring out (engine -&gt; gateway)",
            "gateway (read -&gt; sent)",
        ]
    );
    for label in [">0%<", ">90%<", ">99%<", ">Percentile<", ">Latency ("] {
        assert!(svg.contains(label), "{label} missing");
    }
    // Each curve has at least a point per decade shown.
    for line in svg.lines().filter(|l| l.starts_with("<polyline")) {
        let pts = line.split("points=\"").nth(1).unwrap();
        assert!(pts.split_whitespace().count() >= 3, "{line}");
    }
}

#[test]
fn a_journal_without_latency_records_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    std::fs::write(
        p.join("q.csv"),
        "ts_ns,symbol,bid_px,bid_qty,ask_px,ask_qty\n1000,BTCUSDT,100.0,1.0,100.1,2.0\n",
    )
    .unwrap();
    let out = kestrel(
        &["import", "--infer-instruments", "-q", "q.csv", "imported"],
        p,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = kestrel(&["latency", "imported", "--plot", "x.svg"], p);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        text(&out),
        "error: journal imported has no latency records, nothing to plot: `kestrel run` \
         records one per order it sends; a run that sent none, `kestrel import` and \
         `kestrel backtest` leave none\n"
    );
    assert!(!p.join("x.svg").exists());
}
