//! End-to-end tick-to-order latency over loopback (issue 7, part 1).
//!
//! Starts a paced WebSocket server sending Binance `@bookTicker` combined-stream
//! frames at `--rate` per second and the mock Binance venue
//! (`kestrel_gateways::binance::MockVenue`) as the order-entry server, runs
//! `kestrel run` with the live feed, the Binance gateway and a market maker that
//! re-quotes on every tick, then prints `kestrel latency` (tick-to-order and each
//! stage) with the order count and the achieved tick rate.
//!
//! ```text
//! latency_harness [--kestrel PATH] [--rate N] [--seconds S]
//!                 [--wait busy-spin|yield|block] [--pin a,b,c,d] [--out DIR]
//! ```

use anyhow::{bail, Context, Result};
use kestrel_engine::{Dec, InstrumentSpec, Market};
use kestrel_gateways::binance::{MockVenue, Venue};
use std::fmt::Write as _;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

const KEY: &str = "bEnChKeYaBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789bEnChKeYaBcDeFgHiJk";
const SECRET: &str = "bEnChSeCrEtzyxwvutsrqponmlkjihgfedcba9876543210bEnChSeCrEtzyxwv";
const KEY_VAR: &str = "KESTREL_LATENCY_HARNESS_KEY";
const SECRET_VAR: &str = "KESTREL_LATENCY_HARNESS_SECRET";

const USAGE: &str = "\
usage: latency_harness [--kestrel PATH] [--rate N] [--seconds S]
                       [--wait busy-spin|yield|block] [--pin a,b,c,d] [--out DIR]
  --kestrel PATH  kestrel binary (default: `kestrel` next to this binary)
  --rate N        book tickers per second (default 10000)
  --seconds S     seconds of ticks (default 10)
  --wait W        runtime.wait of every pipeline thread (default yield)
  --pin a,b,c,d   cores of the feed, engine, journal and gateway threads
  --out DIR       where the config, journal and report go (default latency-out)";

/// Command-line options.
#[derive(Debug)]
struct Opts {
    kestrel: PathBuf,
    rate: u64,
    seconds: f64,
    wait: String,
    pin: Vec<usize>,
    out: PathBuf,
}

fn value<'a>(args: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<&'a String> {
    args.next()
        .with_context(|| format!("{flag} needs a value\n{USAGE}"))
}

fn parse_args(args: &[String]) -> Result<Opts> {
    let me = std::env::current_exe().context("cannot locate this binary")?;
    let mut o = Opts {
        kestrel: me.with_file_name(format!("kestrel{}", std::env::consts::EXE_SUFFIX)),
        rate: 10_000,
        seconds: 10.0,
        wait: "yield".into(),
        pin: Vec::new(),
        out: PathBuf::from("latency-out"),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kestrel" => o.kestrel = PathBuf::from(value(&mut it, a)?),
            "--rate" => {
                let v = value(&mut it, a)?;
                o.rate = v
                    .parse()
                    .ok()
                    .filter(|r| (1..=10_000_000).contains(r))
                    .with_context(|| format!("--rate {v}: expected 1..=10000000 per second"))?;
            }
            "--seconds" => {
                let v = value(&mut it, a)?;
                o.seconds = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                    .with_context(|| format!("--seconds {v}: expected a number in (0, 3600]"))?;
            }
            "--wait" => {
                let v = value(&mut it, a)?;
                if !["busy-spin", "yield", "block"].contains(&v.as_str()) {
                    bail!("--wait {v}: expected busy-spin, yield or block");
                }
                o.wait = v.clone();
            }
            "--pin" => {
                let v = value(&mut it, a)?;
                o.pin = v
                    .split(',')
                    .map(|c| c.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .ok()
                    .filter(|p: &Vec<usize>| p.len() == 4)
                    .with_context(|| {
                        format!("--pin {v}: expected four core ids (feed,engine,journal,gateway)")
                    })?;
            }
            "--out" => o.out = PathBuf::from(value(&mut it, a)?),
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(o)
}

/// What the feed server did.
#[derive(Debug, Default)]
struct FeedLog {
    /// Frames sent.
    sent: u64,
    /// From the first to the last frame sent.
    elapsed: Duration,
    /// Why it stopped early, if it did.
    error: Option<String>,
}

/// A WebSocket server on loopback pacing `@bookTicker` frames at a fixed rate to the
/// first client, for `seconds`, then answering pings until stopped.
struct PacedFeed {
    url: String,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<FeedLog>,
}

impl PacedFeed {
    fn start(rate: u64, seconds: f64, accept_timeout: Duration) -> Result<PacedFeed> {
        let listener =
            TcpListener::bind("127.0.0.1:0").context("feed server: cannot bind loopback")?;
        listener.set_nonblocking(true)?;
        let url = format!("ws://{}/stream", listener.local_addr()?);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::Builder::new()
            .name("paced-feed".into())
            .spawn(move || serve_feed(listener, rate, seconds, accept_timeout, &flag))
            .context("feed server: cannot start its thread")?;
        Ok(PacedFeed { url, stop, handle })
    }

    fn finish(self) -> FeedLog {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_else(|_| FeedLog {
            error: Some("feed server thread panicked".into()),
            ..FeedLog::default()
        })
    }
}

fn serve_feed(
    listener: TcpListener,
    rate: u64,
    seconds: f64,
    accept_timeout: Duration,
    stop: &AtomicBool,
) -> FeedLog {
    let mut log = FeedLog::default();
    let until = Instant::now() + accept_timeout;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) || Instant::now() >= until {
                    log.error = Some("kestrel never connected to the feed".into());
                    return log;
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => {
                log.error = Some(format!("feed accept failed: {e}"));
                return log;
            }
        }
    };
    let setup = stream
        .set_nonblocking(false)
        .and_then(|_| stream.set_nodelay(true))
        .and_then(|_| stream.set_write_timeout(Some(Duration::from_secs(5))));
    if let Err(e) = setup {
        log.error = Some(format!("feed socket setup failed: {e}"));
        return log;
    }
    let mut ws = match tungstenite::accept(stream) {
        Ok(ws) => ws,
        Err(e) => {
            log.error = Some(format!("feed handshake failed: {e}"));
            return log;
        }
    };
    let total = (rate as f64 * seconds).round() as u64;
    let period_ns = 1e9 / rate as f64;
    let start = Instant::now();
    let mut frame = String::with_capacity(192);
    let mut last = start;
    for i in 0..total {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due = start + Duration::from_nanos((i as f64 * period_ns) as u64);
        pace_until(due);
        ticker_frame(i, &mut frame);
        if let Err(e) = ws.send(Message::text(frame.as_str())) {
            log.error = Some(format!("feed send failed after {} frames: {e}", log.sent));
            break;
        }
        log.sent += 1;
        last = Instant::now();
        if i % 1024 == 1023 && !drain(&mut ws) {
            log.error = Some(format!("feed client left after {} frames", log.sent));
            break;
        }
    }
    log.elapsed = last.duration_since(start);
    // Keep the connection (answering pings) until the session ends.
    while !stop.load(Ordering::Relaxed) && drain(&mut ws) {
        thread::sleep(Duration::from_millis(1));
    }
    log
}

/// Sleeps while `due` is far, spins the last stretch (sleep granularity is ~50-100 µs).
fn pace_until(due: Instant) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > Duration::from_micros(200) {
            thread::sleep(left - Duration::from_micros(150));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Reads what the client sent (pings are answered by tungstenite) without waiting;
/// false once the connection is gone.
fn drain(ws: &mut WebSocket<TcpStream>) -> bool {
    if ws.get_mut().set_nonblocking(true).is_err() {
        return false;
    }
    let alive = loop {
        match ws.read() {
            Ok(Message::Close(_)) => break false,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                let _ = ws.flush();
                break true;
            }
            Err(_) => break false,
        }
    };
    alive && ws.get_mut().set_nonblocking(false).is_ok()
}

/// Frame `i`: the mid walks a triangle of ten ticks, one tick every four frames, so
/// the reference price changes often.
fn ticker_frame(i: u64, out: &mut String) {
    let step = (i / 4) % 20;
    let offset = if step < 10 { step } else { 20 - step };
    let bid_cents = 6_183_763 + offset;
    let ask_cents = bid_cents + 1;
    out.clear();
    let _ = write!(
        out,
        "{{\"stream\":\"btcusdt@bookTicker\",\"data\":{{\"u\":{},\"s\":\"BTCUSDT\",\
         \"b\":\"{}.{:02}000000\",\"B\":\"1.50000000\",\"a\":\"{}.{:02}000000\",\
         \"A\":\"2.00000000\"}}}}",
        50_000_000_000 + i,
        bid_cents / 100,
        bid_cents % 100,
        ask_cents / 100,
        ask_cents % 100,
    );
}

fn btcusdt() -> Result<InstrumentSpec> {
    let d = |s: &str| Dec::parse(s).with_context(|| format!("bad decimal {s}"));
    Ok(InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: d("0.01")?,
        lot_size: d("0.00001")?,
        min_qty: Dec::ZERO,
        min_notional: d("5")?,
        market: Market::Spot,
        leverage: 1,
    })
}

/// The session config: live feed, Binance gateway on the mock, a market maker that
/// cancels and re-quotes one level a side on every tick (balances large enough that
/// orders awaiting their cancel never starve the next quote).
fn config(o: &Opts, feed_url: &str, mock: &MockVenue) -> String {
    let pins = o
        .pin
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# Written by latency_harness.
[session]
id = 1
seed = 7
[runtime]
wait = "{wait}"
pin_cores = [{pins}]
fsync = false
durability = "async"
timer_interval_ms = 100
[feed]
kind = "live"
[[venues]]
kind = "binance-spot"
ws_url = "{feed_url}"
rest_url = "http://127.0.0.1:9"
symbols = ["BTCUSDT"]
streams = ["bookTicker"]
[venue]
kind = "binance"
[venue.binance]
market = "spot"
ws_api_url = "{ws_api}"
rest_url = "http://{rest}"
user_stream_url = "{user}"
api_key_env = "{KEY_VAR}"
api_secret_env = "{SECRET_VAR}"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
BTC = "1000000"
USDT = "1000000000"
[[controllers]]
type = "market_making"
id = "mm"
instrument = "BTCUSDT"
buy_spreads = "0.00001"
sell_spreads = "0.00001"
total_amount_quote = "2000"
executor_refresh_time = 0
cooldown_time = 0
update_interval = "0"
"#,
        wait = o.wait,
        ws_api = mock.ws_api_url(),
        rest = mock.rest_addr(),
        user = mock.stream_url(),
    )
}

fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(o: &Opts) -> Result<()> {
    if !o.kestrel.is_file() {
        bail!(
            "kestrel binary not found at {} (build it with `cargo build --release -p kestrel-tools` or pass --kestrel PATH)",
            o.kestrel.display()
        );
    }
    std::fs::create_dir_all(&o.out)
        .with_context(|| format!("cannot create {}", o.out.display()))?;
    let journal = o.out.join("journal");
    if journal.exists() {
        std::fs::remove_dir_all(&journal)
            .with_context(|| format!("cannot remove the old journal {}", journal.display()))?;
    }
    // Room for startup (connect, clock sync, listen key) and the drain at the end.
    let session_s = o.seconds + 3.0;
    let lifetime = Duration::from_secs_f64(session_s + 60.0);
    let mock = MockVenue::start(
        Venue::Spot,
        KEY,
        SECRET.as_bytes(),
        vec![btcusdt()?],
        Dec::from_int(1_000_000_000),
        lifetime,
    )
    .context("cannot start the mock Binance venue")?;
    mock.set_order_limit_10s(0);
    let feed = PacedFeed::start(o.rate, o.seconds, Duration::from_secs(30))?;
    let cfg_path = o.out.join("latency.toml");
    std::fs::write(&cfg_path, config(o, &feed.url, &mock))
        .with_context(|| format!("cannot write {}", cfg_path.display()))?;

    eprintln!(
        "latency_harness: {} ticks/s for {} s, wait {}, pin [{}]; kestrel {}",
        o.rate,
        o.seconds,
        o.wait,
        o.pin
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(","),
        o.kestrel.display()
    );
    let child = Command::new(&o.kestrel)
        .arg("run")
        .arg(&cfg_path)
        .arg("--duration")
        .arg(format!("{session_s}"))
        .arg("--journal")
        .arg(&journal)
        .env(KEY_VAR, KEY)
        .env(SECRET_VAR, SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", o.kestrel.display()))?;
    let out = child
        .wait_with_output()
        .context("waiting for kestrel run failed")?;
    let feed_log = feed.finish();
    let run_text = output_text(&out);
    std::fs::write(o.out.join("run.log"), &run_text)?;
    if !out.status.success() {
        bail!("kestrel run failed ({}):\n{run_text}", out.status);
    }
    if let Some(e) = &feed_log.error {
        bail!("feed server: {e}\nkestrel run output:\n{run_text}");
    }
    let placed = mock
        .log()
        .iter()
        .filter(|l| *l == "ws order.place" || *l == "POST /api/v3/order")
        .count();

    let lat = Command::new(&o.kestrel)
        .arg("latency")
        .arg(&journal)
        .output()
        .with_context(|| format!("cannot run {} latency", o.kestrel.display()))?;
    let table = output_text(&lat);
    if !lat.status.success() {
        bail!("kestrel latency failed ({}):\n{table}", lat.status);
    }
    let secs = feed_log.elapsed.as_secs_f64();
    let achieved = if secs > 0.0 {
        feed_log.sent as f64 / secs
    } else {
        0.0
    };
    let mut report = String::new();
    writeln!(
        report,
        "ticks sent {} in {:.3} s: {:.0} ticks/s (asked {}/s)",
        feed_log.sent, secs, achieved, o.rate
    )?;
    writeln!(report, "orders placed at the venue {placed}")?;
    writeln!(report, "wait {}, pin [{}]", o.wait, {
        o.pin
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",")
    })?;
    report.push_str(&table);
    std::fs::write(o.out.join("report.txt"), &report)?;
    print!("{report}");
    if placed == 0 {
        bail!(
            "no order reached the venue (see {})",
            o.out.join("run.log").display()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args).and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latency_harness: {e:#}");
            ExitCode::FAILURE
        }
    }
}
