//! `kestrel paper-venue`: the loopback paper venue
//! ([`kestrel_gateways::binance::PaperVenue`]) as a process of its own, so a test can
//! kill and restart `kestrel run` against a venue that lives on.

use anyhow::{anyhow, Context, Result};
use kestrel_engine::{Dec, InstrumentSpec, Market};
use kestrel_gateways::binance::{PaperConfig, PaperVenue};
use std::io::{Read, Write};
use std::time::Duration;

/// Arguments of `kestrel paper-venue`.
#[derive(clap::Args, Debug)]
pub struct PaperArgs {
    /// Seed of the random walk.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Symbol traded.
    #[arg(long, default_value = "BTCUSDT")]
    symbol: String,
    /// Base asset.
    #[arg(long, default_value = "BTC")]
    base: String,
    /// Quote asset.
    #[arg(long, default_value = "USDT")]
    quote: String,
    /// Price tick.
    #[arg(long, default_value = "0.01")]
    tick_size: String,
    /// Quantity step.
    #[arg(long, default_value = "0.00001")]
    lot_size: String,
    /// Smallest order notional.
    #[arg(long, default_value = "5")]
    min_notional: String,
    /// Mid price at start.
    #[arg(long, default_value = "60000")]
    start_mid: String,
    /// Milliseconds between book changes.
    #[arg(long, default_value_t = 20)]
    tick_ms: u64,
    /// Largest move per change, in ticks.
    #[arg(long, default_value_t = 300)]
    step_ticks: i64,
    /// Ask minus bid, in ticks.
    #[arg(long, default_value_t = 1)]
    spread_ticks: i64,
    /// Quote balance the venue holds for buys.
    #[arg(long, default_value = "100000000")]
    quote_balance: String,
    /// Environment variable holding the API key the venue accepts.
    #[arg(long)]
    api_key_env: String,
    /// Environment variable holding the HMAC secret.
    #[arg(long)]
    api_secret_env: String,
    /// Stop after this many seconds even if stdin stays open.
    #[arg(long, default_value_t = 3600)]
    lifetime_s: u64,
}

fn dec(name: &str, v: &str) -> Result<Dec> {
    Dec::parse(v).map_err(|e| anyhow!("--{name} {v:?}: {e}"))
}

/// Starts the venue, prints `{"rest_url":..,"ws_api_url":..,"user_stream_url":..,
/// "market_url":..}` on one line, and runs until stdin closes.
///
/// # Errors
/// Bad arguments, missing environment variables, or sockets that cannot be bound.
pub fn run(a: PaperArgs) -> Result<()> {
    let key = std::env::var(&a.api_key_env)
        .map_err(|_| anyhow!("environment variable {} is not set", a.api_key_env))?;
    let secret = std::env::var(&a.api_secret_env)
        .map_err(|_| anyhow!("environment variable {} is not set", a.api_secret_env))?;
    let instrument = InstrumentSpec {
        symbol: a.symbol.clone(),
        base: a.base.clone(),
        quote: a.quote.clone(),
        tick_size: dec("tick-size", &a.tick_size)?,
        lot_size: dec("lot-size", &a.lot_size)?,
        min_qty: Dec::ZERO,
        min_notional: dec("min-notional", &a.min_notional)?,
        market: Market::Spot,
        leverage: 1,
    };
    let cfg = PaperConfig {
        seed: a.seed,
        instrument,
        start_mid: dec("start-mid", &a.start_mid)?,
        tick: Duration::from_millis(a.tick_ms.max(1)),
        step_ticks: a.step_ticks,
        spread_ticks: a.spread_ticks,
        quote_balance: dec("quote-balance", &a.quote_balance)?,
        lifetime: Duration::from_secs(a.lifetime_s),
    };
    let venue =
        PaperVenue::start(&key, secret.as_bytes(), cfg).context("cannot start the paper venue")?;
    let v = venue.venue();
    let line = format!(
        "{{\"rest_url\":\"http://{}\",\"ws_api_url\":\"{}\",\"user_stream_url\":\"{}\",\"market_url\":\"{}\"}}",
        v.rest_addr(),
        v.ws_api_url(),
        v.stream_url(),
        venue.market_url()
    );
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    // Runs until stdin closes (the parent went away) or the lifetime ends.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs(a.lifetime_s));
    Ok(())
}
