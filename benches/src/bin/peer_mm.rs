//! `peer-mm`: Kestrel on the side-by-side benchmark's data (see
//! `kestrel_benches::peer_mm` and `benches/peers/run.sh`). Prints lines in the
//! format of the peers' scripts, timing the backtest loop only (loading reported
//! apart, as they do).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, ValueEnum};
use kestrel_benches::peer_mm::{load, run, Mode};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModeArg {
    /// The cancel/replace market maker.
    Mm,
    /// No strategy.
    None,
}

/// Kestrel's run of the peers' benchmark.
#[derive(Parser, Debug)]
#[command(name = "peer-mm")]
struct Args {
    /// Plain-CSV data files (gen_data.py's kestrel_quotes_N.csv and kestrel_trades_N.csv).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Strategy.
    #[arg(long, value_enum, default_value = "mm")]
    mode: ModeArg,
    /// Use only the first LIMIT quotes and the trades up to the last of them (0: all).
    #[arg(long, default_value_t = 0)]
    limit: u64,
    /// Runs.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Journal every input and output (fsync off) under this new directory, one
    /// journal per run (run-1, run-2, ...).
    #[arg(long)]
    journal: Option<PathBuf>,
}

/// CPU time this thread has run, in seconds (`CLOCK_THREAD_CPUTIME_ID`, exact to the
/// call), or `None` where the clock is missing: on a shared machine the loop's CPU time
/// stays put while its wall time grows with the load.
fn thread_cpu_s() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
}

fn main() -> Result<()> {
    let a = Args::parse();
    let t0 = Instant::now();
    let mut ev = load(&a.files).map_err(|e| anyhow!("{e}"))?;
    if a.limit > 0 {
        ev = ev.limit(a.limit);
    }
    let load_s = t0.elapsed().as_secs_f64();
    if ev.events.is_empty() {
        bail!("no market events in {:?}", a.files);
    }
    let mode = match a.mode {
        ModeArg::Mm => Mode::Mm,
        ModeArg::None => Mode::None,
    };
    if let Some(dir) = &a.journal {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let n = (ev.quotes + ev.trades) as f64;
    println!(
        "kestrel mode={} quotes={} trades={} load={load_s:.1}s journal={}",
        if mode == Mode::Mm { "mm" } else { "none" },
        ev.quotes,
        ev.trades,
        if a.journal.is_some() { "yes" } else { "no" }
    );
    for i in 1..=a.repeat {
        let dir = a.journal.as_ref().map(|d| d.join(format!("run-{i}")));
        let (t, c) = (Instant::now(), thread_cpu_s());
        let o = run(&ev.events, mode, dir.as_deref()).map_err(|e| anyhow!("{e}"))?;
        let wall = t.elapsed().as_secs_f64();
        let cpu = match (c, thread_cpu_s()) {
            (Some(a), Some(b)) => format!("{:.6}s", b - a),
            _ => "n/a".into(),
        };
        println!(
            "run {i}: wall={wall:.6}s cpu={cpu} events/s={:.0} quotes/s={:.0} inputs={} submitted={} canceled={} fills={} rejects={}",
            n / wall,
            ev.quotes as f64 / wall,
            o.inputs,
            o.placed,
            o.canceled,
            o.fills,
            o.rejects
        );
    }
    Ok(())
}
