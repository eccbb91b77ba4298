//! A paper venue for end-to-end tests and demos: the loopback Binance venue
//! ([`MockVenue`]) plus a market-data WebSocket that streams `bookTicker` frames of a
//! seeded random walk, with the venue filling orders against that same book (see
//! [`MockVenue::set_book`]), so a market maker's quotes fill from time to time.
//!
//! - Market data: any WebSocket path on [`PaperVenue::market_url`]'s port (the live
//!   feed's `?streams=...` query is accepted and ignored) gets the current book at
//!   once, then every change, as combined-stream frames
//!   `{"stream":"<symbol>@bookTicker","data":{"u":..,"s":..,"b":..,"B":..,"a":..,"A":..}}`.
//! - The walk: every `tick` the mid moves by −`step_ticks`..=+`step_ticks` ticks
//!   (uniform, from the seed); bid and ask are `spread_ticks` ticks apart.
//! - State for tests: [`MockVenue::state_json`], also `GET /mock/state` on the venue
//!   port.
//!
//! Every thread stops when the venue is dropped or its lifetime passes.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use kestrel_engine::{Dec, InstrumentSpec};
use kestrel_feeds::threads::sleep_unless_stopped;
use tungstenite::Message;

use super::mock::{live, Deadline};
use super::{MockVenue, Venue};

/// Frames kept for connections that fall behind.
const KEEP: usize = 256;

/// How the paper market moves.
#[derive(Clone, Debug)]
pub struct PaperConfig {
    /// Seed of the random walk.
    pub seed: u64,
    /// The traded instrument (the walk is on its tick size).
    pub instrument: InstrumentSpec,
    /// Mid price at start.
    pub start_mid: Dec,
    /// Time between book changes.
    pub tick: Duration,
    /// Largest move per change, in ticks.
    pub step_ticks: i64,
    /// Ask minus bid, in ticks (at least 1).
    pub spread_ticks: i64,
    /// Quote balance the venue holds for buys.
    pub quote_balance: Dec,
    /// Every thread stops after this long.
    pub lifetime: Duration,
}

/// Latest frames: (sequence of the newest, frames oldest first).
type Frames = Arc<Mutex<(u64, VecDeque<String>)>>;

/// The running paper venue (see the module docs).
pub struct PaperVenue {
    venue: Arc<MockVenue>,
    md_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for PaperVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperVenue")
            .field("venue", &self.venue)
            .field("market", &self.md_addr)
            .finish()
    }
}

/// The spreads and steps (in ticks) a walk on tick size `tick` (raw) supports:
/// bid, ask and one step must fit the decimal range. `None` for a tick that is not
/// positive.
pub fn tick_ranges(tick: i64) -> Option<(RangeInclusive<i64>, RangeInclusive<i64>)> {
    if tick <= 0 {
        return None;
    }
    let max_ticks = i64::MAX / tick;
    Some((1..=(max_ticks - 1) / 2, 0..=max_ticks / 2))
}

/// splitmix64: a small, seedable generator (no dependency for a test venue).
fn next_rand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl PaperVenue {
    /// Starts a spot venue accepting `api_key` / `secret` and the market-data stream,
    /// both on `127.0.0.1` ephemeral ports.
    ///
    /// # Errors
    /// Socket or thread creation failures; [`io::ErrorKind::InvalidInput`] for a tick
    /// size that is not positive, or a spread or step outside [`tick_ranges`].
    pub fn start(api_key: &str, secret: &[u8], cfg: PaperConfig) -> io::Result<PaperVenue> {
        let tick = cfg.instrument.tick_size.raw();
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        let Some((spreads, steps)) = tick_ranges(tick) else {
            return invalid(format!(
                "tick size {} must be positive",
                cfg.instrument.tick_size
            ));
        };
        let tick_size = cfg.instrument.tick_size;
        if !spreads.contains(&cfg.spread_ticks) {
            return invalid(format!(
                "spread_ticks {} outside {spreads:?} (tick size {tick_size})",
                cfg.spread_ticks
            ));
        }
        if !steps.contains(&cfg.step_ticks) {
            return invalid(format!(
                "step_ticks {} outside {steps:?} (tick size {tick_size})",
                cfg.step_ticks
            ));
        }
        let venue = Arc::new(MockVenue::start(
            Venue::Spot,
            api_key,
            secret,
            vec![cfg.instrument.clone()],
            cfg.quote_balance,
            cfg.lifetime,
        )?);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let md_addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Deadline::after(cfg.lifetime);
        let frames: Frames = Arc::new(Mutex::new((0, VecDeque::with_capacity(KEEP))));
        let mut threads = Vec::new();

        // The walk: sets the venue's book, then publishes the frame.
        {
            let (venue, stop, frames) = (venue.clone(), stop.clone(), frames.clone());
            // Mid range that keeps bid above zero and ask within the decimal range.
            let (lo, hi) = (cfg.spread_ticks + 1, i64::MAX / tick - cfg.spread_ticks);
            let mut mid_ticks = (cfg.start_mid.raw() / tick).clamp(lo, hi);
            let mut rng = cfg.seed;
            let symbol = cfg.instrument.symbol.clone();
            let stream = format!("{}@bookTicker", symbol.to_ascii_lowercase());
            threads.push(thread::Builder::new().name("paper-walk".into()).spawn(
                move || {
                    let mut u = 1u64;
                    while live(&stop, deadline) {
                        let span = (2 * cfg.step_ticks + 1) as u64;
                        let step = (next_rand(&mut rng) % span) as i64 - cfg.step_ticks;
                        mid_ticks = mid_ticks.saturating_add(step).clamp(lo, hi);
                        let bid = Dec((mid_ticks - cfg.spread_ticks / 2) * tick);
                        let ask = Dec(bid.raw() + cfg.spread_ticks * tick);
                        venue.set_book(&symbol, bid, ask);
                        let frame = format!(
                            "{{\"stream\":\"{stream}\",\"data\":{{\"u\":{u},\"s\":\"{symbol}\",\
                             \"b\":\"{bid}\",\"B\":\"1.00000000\",\"a\":\"{ask}\",\"A\":\"1.00000000\"}}}}"
                        );
                        u += 1;
                        {
                            let mut f = frames.lock().unwrap_or_else(|p| p.into_inner());
                            f.0 += 1;
                            f.1.push_back(frame);
                            if f.1.len() > KEEP {
                                f.1.pop_front();
                            }
                        }
                        // Cut short by a stop: dropping the venue never waits out a
                        // long tick.
                        sleep_unless_stopped(&stop, cfg.tick);
                    }
                },
            )?);
        }

        // Market-data acceptor: one thread per connection.
        {
            let (stop, frames) = (stop.clone(), frames.clone());
            threads.push(
                thread::Builder::new()
                    .name("paper-md".into())
                    .spawn(move || {
                        while live(&stop, deadline) {
                            match listener.accept() {
                                Ok((sock, _)) => {
                                    let (stop, frames) = (stop.clone(), frames.clone());
                                    let _ = thread::Builder::new()
                                        .name("paper-md-conn".into())
                                        .spawn(move || serve_md(sock, frames, stop, deadline));
                                }
                                Err(_) => thread::sleep(Duration::from_millis(2)),
                            }
                        }
                    })?,
            );
        }
        Ok(PaperVenue {
            venue,
            md_addr,
            stop,
            threads,
        })
    }

    /// The Binance venue (REST, WebSocket API, user stream, state).
    pub fn venue(&self) -> &MockVenue {
        &self.venue
    }

    /// URL of the market-data WebSocket (the live feed's `ws_url`).
    pub fn market_url(&self) -> String {
        format!("ws://{}/stream", self.md_addr)
    }
}

impl Drop for PaperVenue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Streams frames to one market-data client until it goes away.
fn serve_md(sock: TcpStream, frames: Frames, stop: Arc<AtomicBool>, deadline: Deadline) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = sock.set_write_timeout(Some(Duration::from_secs(2)));
    let Ok(mut ws) = tungstenite::accept(sock) else {
        return;
    };
    let _ = ws
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(2)));
    // Start with the newest frame only.
    let mut sent = frames
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .0
        .saturating_sub(1);
    while live(&stop, deadline) {
        let out: Vec<String> = {
            let f = frames.lock().unwrap_or_else(|p| p.into_inner());
            let newest = f.0;
            let have = f.1.len() as u64;
            let first = newest - have + 1; // sequence of f.1[0]
            let from = (sent + 1).max(first);
            let out = (from..=newest)
                .map(|q| f.1[(q - first) as usize].clone())
                .collect();
            sent = newest;
            out
        };
        for text in out {
            if ws.send(Message::text(text)).is_err() {
                return;
            }
        }
        match ws.read() {
            Ok(Message::Close(_)) => return,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let _ = ws.flush();
            }
            Err(_) => return,
        }
    }
}
