//! `kestrel`: run, replay, inspect and measure trading sessions.

mod backtest;
mod clock;
mod commands;
mod faults;
mod gateway_binance;
mod import;
mod operator;
mod paper;
mod plot;
mod resume;
mod runtime;
mod timers;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};
use kestrel_engine::config::{Config, FeedKind};
use std::path::PathBuf;
use std::process::ExitCode;

/// The embedded default configuration.
const DEFAULT_CONFIG: &str = include_str!("default.toml");

#[derive(Parser)]
#[command(
    name = "kestrel",
    version,
    about = "Deterministic, event-sourced trading engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a session (default: paper market making on a synthetic book, simulated venue).
    ///
    /// With --journal DIR naming an existing journal the session resumes it after a
    /// crash: the engine is rebuilt by replaying the journal, working orders are
    /// reconciled with the venue, and the sequences continue. Resume rules: CONFIG
    /// must equal the journal's configuration (omit CONFIG to use the journal's), the
    /// feed must be live, a Binance venue needs runtime.durability = "sync", and a
    /// session that ended with a Stop is not resumed.
    Run {
        /// Config file (TOML); the embedded default when omitted (when resuming, the
        /// journal's configuration).
        config: Option<PathBuf>,
        /// Feed this recorded data file instead of the configured feed.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Journal directory (default: kestrel-journal/session-<id>-<n>); an existing
        /// journal is resumed.
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Synthetic feed: number of book updates.
        #[arg(long)]
        events: Option<u64>,
        /// Wait strategy override: busy-spin | yield | block.
        #[arg(long)]
        wait: Option<String>,
        /// Stop after this many seconds of wall time (live feeds run until Ctrl-C otherwise).
        #[arg(long, value_parser = seconds)]
        duration: Option<std::time::Duration>,
        /// Start with the positions an earlier session (this journal) held at its end.
        #[arg(long)]
        positions_from: Option<PathBuf>,
    },
    /// Run the configured controllers over recorded market data against the simulated
    /// venue, single-threaded in event time; print the report and write a journal.
    Backtest(backtest::BacktestArgs),
    /// Re-run a journal through a fresh engine.
    Replay {
        /// Compare every output byte for byte; exit 1 on the first divergence.
        #[arg(long)]
        verify: bool,
        /// Journal directory.
        dir: PathBuf,
    },
    /// List a journal's events readably.
    Inspect {
        /// Journal directory.
        dir: PathBuf,
        /// Show one order's timeline (e.g. K1-5).
        #[arg(long)]
        order: Option<String>,
        /// Stop after this many lines.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Per-controller performance report (pnl, volume, fees, close types, held positions).
    Report {
        /// Journal directory.
        dir: PathBuf,
    },
    /// Tick-to-order latency percentiles, overall and per stage.
    Latency {
        /// Journal directory.
        dir: PathBuf,
        /// Also draw the percentile curves (tick-to-order and each stage, tail on a
        /// log scale) into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
    },
    /// Engage the kill switch of the session writing this journal: cancel every open
    /// order, stop every executor and controller, refuse further orders.
    KillSwitch {
        /// Journal directory of the running session (its --journal).
        dir: PathBuf,
    },
    /// Print the embedded default configuration.
    DefaultConfig,
    /// Run a paper Binance spot venue on loopback for tests and demos: REST, WebSocket
    /// API and user stream, plus a bookTicker market-data WebSocket of a seeded random
    /// walk that fills resting orders when it crosses them. Prints one JSON line with
    /// the URLs, then runs until stdin closes.
    PaperVenue(paper::PaperArgs),
    /// Turn recorded market data files into a journal (see the README).
    Import(import::ImportArgs),
}

fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read config {}", p.display()))?,
        None => DEFAULT_CONFIG.to_string(),
    };
    let name = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "embedded default".into());
    let mut cfg = Config::parse_unvalidated(&text).map_err(|e| anyhow!("{name}: {e}"))?;
    let base = path
        .and_then(|p| p.parent())
        .unwrap_or(std::path::Path::new("."));
    load_exchange_info(&mut cfg, base).map_err(|e| anyhow!("{name}: {e:#}"))?;
    cfg.validate().map_err(|e| anyhow!("{name}: {e}"))?;
    Ok(cfg)
}

/// Adds the `[[venues]]` symbols missing from `[[instruments]]` from each venue's
/// `exchange_info` file (raw JSON, or a cryptofeed `<url> -> <ts>: <body>` line).
/// The journal stores the completed config, so replays need no file.
fn load_exchange_info(cfg: &mut Config, base: &std::path::Path) -> Result<()> {
    for v in cfg.venues.clone() {
        let Some(file) = &v.exchange_info else {
            continue;
        };
        let path = base.join(file);
        let mut bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read exchange_info {}", path.display()))?;
        let start = if bytes.first() == Some(&b'{') {
            0
        } else {
            kestrel_feeds::binance::split_http_line(&bytes)
                .map(|(_, _, at)| at)
                .ok_or_else(|| anyhow!("{}: not an exchangeInfo JSON body", path.display()))?
        };
        let mut body = bytes.split_off(start);
        for sym in &v.symbols {
            if cfg.instrument(sym).is_some() {
                continue;
            }
            let spec = kestrel_feeds::binance::instrument(&mut body.clone(), sym)
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            cfg.instruments.push(spec);
        }
        body.clear();
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A number of seconds (fractions allowed) as a duration: not negative, not NaN, not
/// beyond `Duration`'s range.
/// Writes a command's text to stdout. A reader that has gone away (`kestrel inspect DIR
/// | head`) ends the output quietly instead of panicking in `print!`.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}

fn seconds(s: &str) -> Result<std::time::Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(v)
        .map_err(|_| format!("{s} is not a number of seconds from 0 to about 1.8e19"))
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::Run {
            config,
            data,
            journal,
            events,
            wait,
            duration,
            positions_from,
        } => {
            let mut cfg = match (&config, &journal) {
                (None, Some(j)) if resume::exists(j) => resume::journal_config(j)?,
                _ => load_config(config.as_ref())?,
            };
            if let Some(d) = data {
                if !d.exists() {
                    return Err(anyhow!("data file {} does not exist", d.display()));
                }
                cfg.feed.kind = FeedKind::Recorded;
                cfg.feed.data = Some(d.display().to_string());
            }
            if let Some(n) = events {
                cfg.feed.events = n;
            }
            if let Some(w) = wait {
                cfg.runtime.wait = toml::Value::String(w.clone())
                    .try_into()
                    .map_err(|_| anyhow!("--wait must be busy-spin, yield or block, not {w:?}"))?;
            }
            cfg.validate().map_err(|e| anyhow!("{e}"))?;
            ctrlc::set_handler(|| runtime::STOP.store(true, std::sync::atomic::Ordering::Relaxed))
                .context("cannot install the Ctrl-C handler")?;
            let dir = runtime::journal_dir(&cfg, journal.as_deref());
            let wait = cfg.runtime.wait;
            let preload = match &positions_from {
                Some(old) => commands::held_positions(old, &cfg)?,
                None => Vec::new(),
            };
            let s = runtime::run(cfg, dir, duration, preload)?;
            println!(
                "kestrel run: {:.2} s wall, wait strategy {:?}",
                s.elapsed.as_secs_f64(),
                wait
            );
            print!("{}", runtime::summary_text(&s));
            println!(
                "  journal  {}  (latency records {})",
                s.journal.display(),
                s.latency_records
            );
            println!("  next: kestrel replay --verify {0} | kestrel inspect {0} --limit 40 | kestrel latency {0}", s.journal.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Backtest(args) => {
            let cfg = load_config(args.config.as_ref())?;
            backtest::run(args, cfg)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Replay { verify, dir } => match commands::replay(&dir)? {
            commands::Verdict::Identical { inputs, outputs } => {
                println!(
                    "replayed {inputs} inputs: {outputs} outputs{}",
                    if verify { ", all byte-identical" } else { "" }
                );
                Ok(ExitCode::SUCCESS)
            }
            commands::Verdict::Diverged {
                seq,
                cause,
                expected,
                got,
            } => {
                println!("DIVERGENCE at output {seq} (caused by input {cause})\n  expected: {expected}\n  got:      {got}");
                Ok(if verify {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                })
            }
        },
        Cmd::Inspect { dir, order, limit } => {
            emit(&commands::inspect(&dir, order.as_deref(), limit)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Report { dir } => {
            emit(&commands::report(&dir)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Latency { dir, plot } => {
            emit(&commands::latency(&dir, plot.as_deref())?)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Import(args) => {
            import::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::KillSwitch { dir } => {
            let file = operator::request_kill(&dir)?;
            println!(
                "kill switch requested: {} (the session picks it up within {} ms)",
                file.display(),
                operator::POLL.as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::PaperVenue(args) => {
            paper::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::DefaultConfig => {
            emit(DEFAULT_CONFIG)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
