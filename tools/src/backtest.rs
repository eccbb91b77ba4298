//! `kestrel backtest [CONFIG] --data FILE... [--journal DIR]`: the configured
//! controllers over recorded market data against the simulated venue, on one thread,
//! in event time, as fast as the engine goes.
//!
//! Data: any file `kestrel import` reads (formats detected per file, several files
//! merged by event time, depth synced like the live runtime), or one journal
//! directory, of which only the market data inputs (tickers, depth, trades, klines)
//! are used: its execution reports, timers and commands are dropped and its
//! instruments are matched to the config's by symbol.
//!
//! The loop is [`SimLoop`]: market data reaches the venue (`[venue] md_latency_ns`
//! earlier) and the engine, timers fire every `runtime.timer_interval_ms` of event
//! time exactly as the threaded runtime publishes them, and a Stop follows the last
//! event. Every input the engine applied (session start, market data, timers, venue
//! execution reports, the stop) and every output is journaled in batches, so
//! `kestrel replay --verify DIR` reproduces the outputs byte for byte and `kestrel
//! report DIR` prints the same report.
//!
//! Copy trading: `--signals FILE` (repeatable) feeds a master's signals, one per line
//! as `<ts_ns> <signal JSON>` (the JSON the signal sources accept; blank lines and `#`
//! comments skipped), merged with the market data by event time. The n-th file goes to
//! the n-th `copy_trading` controller. A file is trusted like the data files: no
//! authentication, and any malformed line stops the backtest with its line number.

use crate::import::{data_files, utc, Merged};
use crate::timers;
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kestrel_engine::config::{Config, FeedKind};
use kestrel_engine::*;
use kestrel_gateways::SimLoop;
use kestrel_journal::{JournalOptions, JournalReader, JournalWriter, Meta};
use std::fmt::Write as _;
use std::io::{self, IsTerminal};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Inputs per journal append (one LMDB write transaction).
const BATCH: usize = 4096;

/// Arguments of `kestrel backtest`.
#[derive(clap::Args, Debug)]
pub struct BacktestArgs {
    /// Config file (TOML): instruments, venue, balances, controllers. The embedded
    /// default when omitted.
    pub config: Option<PathBuf>,
    /// Recorded market data: one or more files in any format `kestrel import` reads
    /// (repeat --data), or one journal directory.
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Journal directory to write (default: kestrel-journal/session-<id>-<n>).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Copy-trading signals, `<ts_ns> <JSON>` per line; the n-th file feeds the n-th
    /// copy_trading controller (repeat --signals).
    #[arg(long)]
    pub signals: Vec<PathBuf>,
}

/// Reads the signal files, the n-th for signal source n, sorted by event time (stable:
/// a file's order is kept for equal times).
fn read_signals(paths: &[PathBuf], cfg: &Config) -> Result<Vec<(u64, Signal)>> {
    let sources = cfg.signal_sources().count();
    if paths.len() > sources {
        bail!(
            "{} --signals files but {sources} copy_trading controllers: the n-th file feeds the n-th controller",
            paths.len()
        );
    }
    let mut out = Vec::new();
    for (n, path) in paths.iter().enumerate() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read signals {}", path.display()))?;
        let parser = kestrel_feeds::signals::SignalParser::new(&cfg.instruments, n as u8);
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("{}:{}", path.display(), i + 1);
            let (ts, json) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| anyhow!("{}: expected `<ts_ns> <signal JSON>`", at()))?;
            let ts: u64 = ts
                .parse()
                .map_err(|_| anyhow!("{}: {ts:?} is not a timestamp in ns", at()))?;
            let mut body = json.trim().as_bytes().to_vec();
            let parsed = parser
                .parse(&mut body)
                .map_err(|e| anyhow!("{}: {e}", at()))?;
            out.push((ts, parsed.signal));
        }
    }
    out.sort_by_key(|(ts, _)| *ts);
    Ok(out)
}

/// Where the market data comes from.
enum Data {
    Files(Box<Merged>),
    Journal(JournalReader),
}

/// Opens the data: a directory is a journal, anything else data files.
fn open_data(paths: &[PathBuf], cfg: &Config) -> Result<Data> {
    for p in paths {
        if !p.exists() {
            bail!("data file {} does not exist", p.display());
        }
    }
    if paths.iter().any(|p| p.is_dir()) {
        let [dir] = paths else {
            bail!(
                "--data takes one journal directory, or data files; not both or several journals"
            );
        };
        let reader = JournalReader::open(dir)
            .with_context(|| format!("cannot open journal {}", dir.display()))?;
        return Ok(Data::Journal(reader));
    }
    let symbols: Vec<(String, InstrumentId)> = cfg
        .instruments
        .iter()
        .enumerate()
        .map(|(i, s)| (s.symbol.clone(), i as InstrumentId))
        .collect();
    Ok(Data::Files(Box::new(Merged::open(
        data_files(paths)?,
        &symbols,
        false,
    )?)))
}

/// The engine + venue loop and the journal it writes.
struct Driver {
    sim: SimLoop,
    writer: JournalWriter,
    timer_ns: u64,
    next_timer: Option<u64>,
    last_ts: u64,
    first_ts: Option<u64>,
    market: u64,
    outputs: u64,
    /// Copy-trading signals by event time, and the next one to apply.
    signals: Vec<(u64, Signal)>,
    next_signal: usize,
}

impl Driver {
    /// Pushes the timers due by `ts` (at most [`timers::MAX_AT_ONCE`] for one jump).
    fn timers_to(&mut self, ts: u64) {
        let step = self.timer_ns;
        let next = self
            .next_timer
            .get_or_insert_with(|| timers::first_after(ts, step));
        let sim = &mut self.sim;
        timers::publish_due(next, ts, step, |t| sim.push(t, Event::Timer(0)));
    }

    /// Pushes the signals (and timers before them) due by `ts`.
    fn signals_to(&mut self, ts: u64) {
        while let Some(&(at, s)) = self.signals.get(self.next_signal) {
            if at > ts {
                break;
            }
            self.next_signal += 1;
            self.timers_to(at);
            self.sim.push(at.max(self.last_ts), Event::Signal(s));
        }
    }

    /// Applies one market event recorded at `ts`, after the signals and timers due by then.
    fn feed(&mut self, ts: u64, event: Event) -> Result<()> {
        self.signals_to(ts);
        self.timers_to(ts);
        self.sim.push(ts, event);
        self.first_ts.get_or_insert(ts);
        self.last_ts = ts;
        self.market += 1;
        if self.sim.inputs.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends the inputs and outputs collected so far to the journal.
    fn flush(&mut self) -> Result<()> {
        self.writer
            .append(&self.sim.inputs, &self.sim.outputs, &[])
            .context("journal append failed")?;
        self.outputs += self.sim.outputs.len() as u64;
        self.sim.inputs.clear();
        self.sim.outputs.clear();
        Ok(())
    }

    /// Stops the session after the last event and journals the rest.
    fn finish(&mut self) -> Result<()> {
        // Signals after the last market event still act, at their own time.
        self.signals_to(u64::MAX);
        if let Some(&(at, _)) = self.signals.last() {
            self.last_ts = self.last_ts.max(at);
        }
        self.sim.stop(self.last_ts);
        self.flush()
    }
}

/// Replays the market data inputs of a journal into the driver, instrument ids mapped
/// by symbol to the backtest config's.
fn feed_journal(
    reader: &JournalReader,
    cfg: &Config,
    driver: &mut Driver,
    bar: &ProgressBar,
) -> Result<()> {
    let dir = reader.dir().to_path_buf();
    let jcfg = Config::parse_unvalidated(&reader.meta().config_toml)
        .map_err(|e| anyhow!("journal {}: {e}", dir.display()))?;
    let map: Vec<(String, Option<InstrumentId>)> = jcfg
        .instruments
        .iter()
        .map(|j| {
            let id = cfg
                .instruments
                .iter()
                .position(|c| c.symbol == j.symbol)
                .map(|i| i as InstrumentId);
            (j.symbol.clone(), id)
        })
        .collect();
    let mut failure = None;
    let mut n = 0u64;
    reader.for_each_input(|input| {
        n += 1;
        if n.is_multiple_of(BATCH as u64) {
            bar.set_position(n);
        }
        let mut event = input.event;
        let slot = match &mut event {
            Event::BookTicker(t) => &mut t.instrument,
            Event::Depth(d) => &mut d.instrument,
            Event::Trade(t) => &mut t.instrument,
            Event::Kline(k) => &mut k.instrument,
            _ => return ControlFlow::Continue(()),
        };
        match map.get(*slot as usize) {
            Some((_, Some(id))) => *slot = *id,
            Some((sym, None)) => {
                failure = Some(anyhow!(
                    "instrument {sym} of journal {} is not configured; add it under [[instruments]]",
                    dir.display()
                ));
                return ControlFlow::Break(());
            }
            None => {
                failure = Some(anyhow!(
                    "journal {}: input {} names instrument {}, which its config does not list",
                    dir.display(),
                    input.header.seq,
                    *slot
                ));
                return ControlFlow::Break(());
            }
        }
        if let Err(e) = driver.feed(input.header.ts, event) {
            failure = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What a backtest did, for the printout.
struct Outcome {
    engine: Engine,
    inputs: u64,
    outputs: u64,
    market: u64,
    span: Option<(u64, u64)>,
}

/// Runs the session: data into the driver, then the stop.
fn pump(data: &mut Data, cfg: &Config, driver: &mut Driver, bar: &ProgressBar) -> Result<()> {
    match data {
        Data::Files(m) => {
            let mut n = 0u64;
            while let Some((ts, _, event)) = m.next_event()? {
                driver.feed(ts, event)?;
                n += 1;
                if n.is_multiple_of(BATCH as u64) {
                    bar.set_position(m.position());
                }
            }
        }
        Data::Journal(r) => feed_journal(r, cfg, driver, bar)?,
    }
    driver.finish()
}

/// Runs `kestrel backtest` with a loaded, validated config; prints the report.
///
/// # Errors
///
/// Missing or unreadable data, an instrument of the data missing from the config,
/// a journal that cannot be created or written.
pub fn run(args: BacktestArgs, mut cfg: Config) -> Result<()> {
    let started = Instant::now();
    let mut data = open_data(&args.data, &cfg)?;
    let signals = read_signals(&args.signals, &cfg)?;
    cfg.feed.kind = FeedKind::Recorded;
    cfg.feed.data = Some(
        args.data
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    cfg.validate().map_err(|e| anyhow!("{e}"))?;
    let dir = crate::runtime::journal_dir(&cfg, args.journal.as_deref());
    if let Data::Journal(r) = &data {
        if r.dir() == dir {
            bail!("--journal must differ from the --data journal");
        }
    }

    let config_toml = cfg.to_toml();
    let start = SessionStart {
        session_id: cfg.session.id,
        seed: cfg.session.seed,
        config: config_toml.clone(),
    };
    let sim = SimLoop::new(start).map_err(|e| anyhow!("{e}"))?;
    let meta = Meta::new(
        cfg.session.id,
        cfg.session.seed,
        config_toml,
        crate::clock::unix_ns(),
    );
    let opts = JournalOptions {
        fsync: false,
        max_mib: cfg.runtime.journal_max_mib,
    };
    let existed_before = dir.exists();
    let writer = JournalWriter::create(&dir, &meta, &opts)
        .with_context(|| format!("cannot create journal {}", dir.display()))?;
    let mut driver = Driver {
        sim,
        writer,
        timer_ns: cfg.runtime.timer_interval_ms.saturating_mul(1_000_000),
        next_timer: None,
        last_ts: 0,
        first_ts: None,
        market: 0,
        outputs: 0,
        signals,
        next_signal: 0,
    };

    let total = match &data {
        Data::Files(m) => m.total_bytes(),
        Data::Journal(r) => r.input_count()?,
    };
    let bar = if args.quiet || !io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let template = match &data {
            Data::Files(_) => {
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}"
            }
            Data::Journal(_) => {
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} inputs ({eta}) {msg}"
            }
        };
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_message("backtesting");
        b
    };

    let res = pump(&mut data, &cfg, &mut driver, &bar);
    bar.finish_and_clear();
    let Driver {
        sim,
        writer,
        first_ts,
        last_ts,
        market,
        outputs,
        ..
    } = driver;
    drop(writer);
    if let Err(e) = res {
        if !existed_before {
            // Leave no half-written journal behind.
            let _ = std::fs::remove_dir_all(&dir);
        }
        return Err(e);
    }
    let outcome = Outcome {
        inputs: sim.seq(),
        engine: sim.engine,
        outputs,
        market,
        span: first_ts.map(|f| (f, last_ts)),
    };
    print!(
        "{}",
        printout(&data, &dir, &outcome, started.elapsed().as_secs_f64())
    );
    Ok(())
}

/// The text `kestrel backtest` prints.
fn printout(data: &Data, dir: &Path, o: &Outcome, secs: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kestrel backtest -> {}", dir.display());
    match data {
        Data::Files(m) => {
            for f in m.files() {
                let _ = writeln!(
                    s,
                    "  data     {} ({}, {} bytes)",
                    f.path.display(),
                    f.format.name(),
                    f.size
                );
            }
        }
        Data::Journal(r) => {
            let _ = writeln!(
                s,
                "  data     journal {} (market data inputs only)",
                r.dir().display()
            );
        }
    }
    if let Some((a, b)) = o.span {
        let _ = writeln!(s, "  time     {} .. {}", utc(a), utc(b));
    }
    let _ = writeln!(
        s,
        "  speed    {} inputs ({} market events) in {secs:.2} s: {:.0} inputs/s",
        o.inputs,
        o.market,
        o.inputs as f64 / secs.max(1e-9)
    );
    let summary = crate::runtime::summarize(
        &o.engine,
        dir.to_path_buf(),
        o.inputs,
        o.outputs,
        0,
        std::time::Duration::from_secs_f64(secs),
    );
    s.push_str(&crate::runtime::summary_text(&summary));
    let report = crate::commands::report_text(&o.engine);
    if report.is_empty() {
        s.push_str("no executors were created\n");
    } else {
        s.push_str(&report);
    }
    let _ = writeln!(
        s,
        "  next: kestrel replay --verify {0} | kestrel report {0} | kestrel inspect {0} --limit 40",
        dir.display()
    );
    s
}
