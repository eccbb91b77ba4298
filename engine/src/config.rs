//! Session configuration (TOML). One type for the whole file so a typo anywhere is
//! refused with the key's name; the engine reads only the parts it needs.

use crate::num::Dec;
use crate::types::InstrumentSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Session identity and seed.
    #[serde(default)]
    pub session: SessionConfig,
    /// Threads, rings and durability.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// Market-data source.
    #[serde(default)]
    pub feed: FeedConfig,
    /// Simulated venue.
    #[serde(default)]
    pub venue: VenueConfig,
    /// Tradable instruments.
    #[serde(default)]
    pub instruments: Vec<InstrumentSpec>,
    /// Starting balances by asset name.
    #[serde(default)]
    pub balances: BTreeMap<String, Dec>,
    /// Strategies.
    #[serde(default)]
    pub controllers: Vec<ControllerConfig>,
    /// Candle series the engine maintains for controllers.
    #[serde(default)]
    pub candles: Vec<CandleConfig>,
    /// Live venues (market-data streams and instrument rules).
    #[serde(default)]
    pub venues: Vec<VenueSpec>,
    /// Pre-trade risk limits (all off by default; see [`crate::risk`]).
    #[serde(default, skip_serializing_if = "crate::risk::RiskConfig::is_off")]
    pub risk: crate::risk::RiskConfig,
}

/// Which venue API a `[[venues]]` entry speaks.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum VenueKind {
    /// Binance Spot.
    BinanceSpot,
    /// Binance USD-M futures.
    BinanceUsdm,
}

/// Why `wss://` and `https://` endpoints are refused.
const NO_TLS: &str = "TLS is not supported yet: use plain ws:// / http:// (for the real \
                      venue, through a local TLS-terminating proxy)";

/// `[[venues]]`: a live market-data source and where its instrument rules come from.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VenueSpec {
    /// Venue API.
    pub kind: VenueKind,
    /// Combined-stream WebSocket endpoint, e.g. `ws://127.0.0.1:9443/stream`.
    pub ws_url: String,
    /// REST base URL for depth snapshots, e.g. `http://127.0.0.1:9444`.
    pub rest_url: String,
    /// Symbols to stream (each must be an instrument, or be found in `exchange_info`).
    pub symbols: Vec<String>,
    /// Streams per symbol, Binance names: `bookTicker`, `depth@100ms`, `trade`, `aggTrade`, `kline_1m`.
    #[serde(default = "default_streams")]
    pub streams: Vec<String>,
    /// An exchangeInfo JSON file to load the symbols' tick, lot and minimums from.
    #[serde(default)]
    pub exchange_info: Option<String>,
    /// Depth snapshot size requested from REST.
    #[serde(default = "default_snapshot_limit")]
    pub snapshot_limit: u32,
}

fn default_streams() -> Vec<String> {
    vec!["bookTicker".into(), "depth@100ms".into(), "trade".into()]
}

fn default_snapshot_limit() -> u32 {
    1000
}

/// `[[candles]]`: one OHLCV series.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CandleConfig {
    /// Instrument symbol.
    pub instrument: String,
    /// Interval: `"1s"`, `"1m"`, `"5m"`, `"1h"`, `"1d"`, … (number + s/m/h/d).
    pub interval: String,
    /// Candles kept (Hummingbot's max_records).
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// Built from trades or taken from venue klines.
    #[serde(default = "default_candle_source")]
    pub source: crate::market_data::CandleSource,
}

fn default_max_records() -> usize {
    500
}

fn default_candle_source() -> crate::market_data::CandleSource {
    crate::market_data::CandleSource::Trades
}

/// Seconds in an interval string such as `"1m"` or `"4h"`.
pub fn interval_seconds(s: &str) -> Result<u32, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "interval {s:?} is not a number followed by s, m, h, d or w"
        ))
    };
    // Split off the last character, not the last byte: it may be non-ASCII.
    let unit = s.chars().last().ok_or_else(bad)?;
    let num = &s[..s.len() - unit.len_utf8()];
    let n: u32 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).filter(|v| *v > 0).ok_or_else(bad)
}

/// `[session]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Session id (high half of every client order id).
    pub id: u32,
    /// Seed for the synthetic feed and every other random choice.
    pub seed: u64,
    /// Journal directory (default `kestrel-journal/session-<id>-<n>` under the current
    /// directory, `<n>` the first number not yet used).
    pub journal_dir: Option<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            id: 1,
            seed: 42,
            journal_dir: None,
        }
    }
}

/// How an idle thread waits for the next event.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum WaitStrategy {
    /// Spin on the sequence: lowest latency, burns a core.
    BusySpin,
    /// Spin, yielding the core between checks.
    #[default]
    Yield,
    /// Sleep briefly between checks: lowest CPU use.
    Block,
}

/// Whether orders wait for the journal.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Orders leave without waiting for the journal commit.
    #[default]
    Async,
    /// The gateway holds an order until the input that caused it is committed.
    Sync,
}

/// `[runtime]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Wait strategy of every pipeline thread.
    pub wait: WaitStrategy,
    /// Pin threads to cores: `[feed, engine, journal, gateway]` core ids. Empty: no pinning.
    pub pin_cores: Vec<usize>,
    /// Slots in each ring (power of two).
    pub ring_size: usize,
    /// Order durability.
    pub durability: Durability,
    /// fsync every journal commit (otherwise the OS flushes; a crash of the host may lose the tail).
    pub fsync: bool,
    /// Timer period in ms of event time (executor control steps, shutdown retries),
    /// 1 to [`MAX_TIMER_INTERVAL_MS`].
    pub timer_interval_ms: u64,
    /// Largest journal size in MiB (LMDB map size).
    pub journal_max_mib: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            wait: WaitStrategy::Yield,
            pin_cores: Vec::new(),
            ring_size: 1 << 14,
            durability: Durability::Async,
            fsync: false,
            timer_interval_ms: 1000,
            journal_max_mib: 4096,
        }
    }
}

/// Kind of market-data source.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    /// Seeded random-walk book with trades.
    #[default]
    Synthetic,
    /// A recorded file (`data`).
    Recorded,
    /// Live WebSocket streams of the `[[venues]]`.
    Live,
}

/// `[feed]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    /// Source kind.
    pub kind: FeedKind,
    /// Recorded data file (for `recorded`).
    pub data: Option<String>,
    /// Synthetic: number of book updates to generate.
    pub events: u64,
    /// Synthetic: instrument symbol (default: the first instrument).
    pub symbol: Option<String>,
    /// Synthetic: starting mid price.
    pub start_price: Dec,
    /// Synthetic: event-time step between updates, ns.
    pub step_ns: u64,
    /// Synthetic: event time of the first update, ns since the epoch.
    pub start_ts: u64,
    /// Pace publication at this many updates per second of wall time (0: as fast as possible).
    pub rate_per_sec: u64,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            kind: FeedKind::Synthetic,
            data: None,
            events: 200_000,
            symbol: None,
            start_price: Dec::from_int(60_000),
            step_ns: 1_000_000,
            start_ts: 1_767_225_600_000_000_000,
            rate_per_sec: 0,
        }
    }
}

/// How the simulated venue estimates a resting order's place in the queue of its
/// price level (see `kestrel_gateways::sim` for the rules).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum QueueModel {
    /// No queue: a trade at the order's own price never fills it; only trades through
    /// the price or a book that crosses it do.
    None,
    /// hftbacktest's conservative model: the order joins the back of its level; trades
    /// at its price eat the quantity ahead first; a shrinking level only moves the
    /// order up when it falls below the quantity ahead.
    #[default]
    RiskAverse,
}

/// `[venue]`: where orders go (`kind`), and the simulated venue's parameters.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VenueConfig {
    /// `sim` (default): the simulated venue; `binance`: real orders through the
    /// Binance connector configured in `[venue.binance]`. Omitted from the journaled
    /// config when `sim`, so existing sessions keep their config text.
    #[serde(skip_serializing_if = "GatewayKind::is_sim")]
    pub kind: GatewayKind,
    /// Order-entry latency in ns of event time (order reaches the matching engine this much later).
    pub latency_ns: u64,
    /// Market-data latency in ns of event time: the venue applies a market event this
    /// much earlier than the engine sees it (the engine's time is the recorded time).
    /// Only the single-threaded backtest loop honours it.
    pub md_latency_ns: u64,
    /// Maker fee rate (0.0002 = 2 bp).
    pub maker_fee: Dec,
    /// Taker fee rate.
    pub taker_fee: Dec,
    /// Queue-position model of resting orders.
    pub queue_model: QueueModel,
    /// New orders (place and modify) the matching engine accepts per second of event
    /// time (fixed one-second windows, counted at arrival); the rest are rejected with
    /// `RateLimited`. 0: no limit. Cancels are never limited.
    pub max_orders_per_sec: u32,
    /// Fault injection (tests, drills): the simulated venue rejects every order
    /// placement with reason `Other` (a reject storm); cancels and modifies of live
    /// orders work as usual. Omitted from the journaled config when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reject_all: bool,
    /// `[venue.binance]`: the Binance connector (used when `kind = "binance"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binance: Option<BinanceVenueConfig>,
}

impl Default for VenueConfig {
    fn default() -> Self {
        VenueConfig {
            kind: GatewayKind::Sim,
            binance: None,
            latency_ns: 1_000_000,
            md_latency_ns: 0,
            maker_fee: Dec(200_000),
            taker_fee: Dec(400_000),
            queue_model: QueueModel::RiskAverse,
            max_orders_per_sec: 0,
            reject_all: false,
        }
    }
}

/// Where the gateway thread sends orders (`[venue] kind`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayKind {
    /// The simulated venue (paper trading).
    #[default]
    Sim,
    /// Binance, through the signed connector (`[venue.binance]`).
    Binance,
}

impl GatewayKind {
    /// True for the simulated venue.
    pub fn is_sim(&self) -> bool {
        *self == GatewayKind::Sim
    }
}

/// Which Binance market `[venue.binance]` trades.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BinanceMarket {
    /// Spot (`/api/v3`, WebSocket API `/ws-api/v3`); instruments must be `spot`.
    Spot,
    /// USD-M futures (`/fapi/v1`, `/ws-fapi/v1`); instruments must be perpetual.
    Usdm,
}

/// Longest timer period, one day (a larger value is taken for a unit mistake).
pub const MAX_TIMER_INTERVAL_MS: u64 = 86_400_000;

/// Default environment variable holding the Binance API key.
pub const DEFAULT_BINANCE_KEY_ENV: &str = "KESTREL_BINANCE_API_KEY";
/// Default environment variable holding the Binance API secret.
pub const DEFAULT_BINANCE_SECRET_ENV: &str = "KESTREL_BINANCE_API_SECRET";

/// `[venue.binance]`: endpoints and credentials of the Binance connector. Credentials
/// are named here (environment variables or a key file), never written: the config is
/// journaled.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BinanceVenueConfig {
    /// Spot or USD-M futures.
    pub market: BinanceMarket,
    /// WebSocket API URL, e.g. `ws://127.0.0.1:9000/ws-api/v3` (plain `ws://` only).
    pub ws_api_url: String,
    /// REST base, `http://host:port` (plain HTTP only, no path).
    pub rest_url: String,
    /// User-data-stream base URL; the stream is `<user_stream_url>/ws/<listenKey>`.
    pub user_stream_url: String,
    /// Environment variable holding the API key.
    #[serde(default = "default_binance_key_env")]
    pub api_key_env: String,
    /// Environment variable holding the API secret.
    #[serde(default = "default_binance_secret_env")]
    pub api_secret_env: String,
    /// Key file (mode 600: `api_key = …` and `api_secret = …` lines, or key then
    /// secret on two lines); when set it is used instead of the environment variables.
    #[serde(default)]
    pub key_file: Option<String>,
    /// `recvWindow` of signed requests, ms (1..=60000).
    #[serde(default = "default_recv_window_ms")]
    pub recv_window_ms: u64,
    /// Bound of every REST call, ms.
    #[serde(default = "default_http_timeout_ms")]
    pub http_timeout_ms: u64,
    /// How long startup waits for the WebSocket API and the user stream, ms.
    #[serde(default = "default_ready_timeout_ms")]
    pub ready_timeout_ms: u64,
    /// After the session stops, how long the gateway waits for its open orders to
    /// reach a final state (cancels confirmed, fills reported) before closing, ms.
    #[serde(default = "default_settle_timeout_ms")]
    pub settle_timeout_ms: u64,
}

fn default_binance_key_env() -> String {
    DEFAULT_BINANCE_KEY_ENV.into()
}
fn default_binance_secret_env() -> String {
    DEFAULT_BINANCE_SECRET_ENV.into()
}
fn default_recv_window_ms() -> u64 {
    5_000
}
fn default_http_timeout_ms() -> u64 {
    5_000
}
fn default_ready_timeout_ms() -> u64 {
    10_000
}
fn default_settle_timeout_ms() -> u64 {
    10_000
}

impl BinanceVenueConfig {
    /// REST `host:port`, from `rest_url` without `http://` and a trailing `/`.
    pub fn rest_addr(&self) -> &str {
        let s = self.rest_url.trim_end_matches('/');
        s.strip_prefix("http://").unwrap_or(s)
    }

    /// Checks endpoints, credentials and limits against the instruments.
    pub fn validate(&self, instruments: &[InstrumentSpec]) -> Result<(), String> {
        for (name, url) in [
            ("ws_api_url", &self.ws_api_url),
            ("user_stream_url", &self.user_stream_url),
        ] {
            if url.starts_with("wss://") {
                return Err(format!("{name} {url:?}: {NO_TLS}"));
            }
            if !url.starts_with("ws://") || url.len() <= "ws://".len() {
                return Err(format!("{name} {url:?} must start with ws://"));
            }
        }
        if self.rest_url.starts_with("https://") {
            return Err(format!("rest_url {:?}: {NO_TLS}", self.rest_url));
        }
        let addr = self.rest_addr();
        if !self.rest_url.starts_with("http://") || addr.is_empty() || addr.contains('/') {
            return Err(format!(
                "rest_url {:?} must be http://host:port (no path)",
                self.rest_url
            ));
        }
        for (name, var) in [
            ("api_key_env", &self.api_key_env),
            ("api_secret_env", &self.api_secret_env),
        ] {
            let ok = !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(format!(
                    "{name} must name an environment variable (letters, digits, _), got {var:?}"
                ));
            }
        }
        if self.api_key_env == self.api_secret_env {
            return Err(format!(
                "api_key_env and api_secret_env are both {}: key and secret need two variables",
                self.api_key_env
            ));
        }
        if matches!(&self.key_file, Some(f) if f.trim().is_empty()) {
            return Err("key_file is empty".into());
        }
        if !(1..=60_000).contains(&self.recv_window_ms) {
            return Err(format!(
                "recv_window_ms {} must be in 1..=60000",
                self.recv_window_ms
            ));
        }
        for (name, v) in [
            ("http_timeout_ms", self.http_timeout_ms),
            ("ready_timeout_ms", self.ready_timeout_ms),
            ("settle_timeout_ms", self.settle_timeout_ms),
        ] {
            if v == 0 {
                return Err(format!("{name} must be > 0"));
            }
        }
        for i in instruments {
            let fits = match self.market {
                BinanceMarket::Spot => i.market == crate::types::Market::Spot,
                BinanceMarket::Usdm => i.market != crate::types::Market::Spot,
            };
            if !fits {
                return Err(format!(
                    "instrument {} is {:?} but market = {:?} trades only {}",
                    i.symbol,
                    i.market,
                    format!("{:?}", self.market).to_lowercase(),
                    match self.market {
                        BinanceMarket::Spot => "spot instruments",
                        BinanceMarket::Usdm => "perpetual instruments",
                    }
                ));
            }
        }
        Ok(())
    }
}

/// Comma-separated decimals (`"0.01,0.02"`) or a list.
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct DecList(pub Vec<Dec>);

impl<'de> Deserialize<'de> for DecList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DecList, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Vec<Dec>),
        }
        match Raw::deserialize(d)? {
            Raw::List(v) => Ok(DecList(v)),
            Raw::Text(s) => s
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| Dec::parse(p).map_err(|e| format!("{e}: {p:?}")))
                .collect::<Result<Vec<_>, _>>()
                .map(DecList)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Order type a market-making level uses.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MakerOrderType {
    /// Plain limit order.
    #[default]
    Limit,
    /// Post-only.
    LimitMaker,
}

/// A market-making controller (Hummingbot's MarketMakingControllerBase with order executors).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MarketMakingConfig {
    /// Controller id.
    pub id: String,
    /// Instrument symbol.
    pub instrument: String,
    /// Spread of each buy level below the reference price, as a fraction.
    #[serde(default = "default_spreads")]
    pub buy_spreads: DecList,
    /// Spread of each sell level above the reference price.
    #[serde(default = "default_spreads")]
    pub sell_spreads: DecList,
    /// Weight of each buy level (default 1 each).
    #[serde(default)]
    pub buy_amounts_pct: Option<DecList>,
    /// Weight of each sell level (default 1 each).
    #[serde(default)]
    pub sell_amounts_pct: Option<DecList>,
    /// Quote amount split across all levels by weight.
    #[serde(default = "default_total")]
    pub total_amount_quote: Dec,
    /// Quote amount of every level; overrides the split of `total_amount_quote`.
    #[serde(default)]
    pub order_amount_quote: Option<Dec>,
    /// Seconds after which an unfilled level is cancelled and re-quoted.
    #[serde(default = "default_refresh")]
    pub executor_refresh_time: u64,
    /// Seconds a level stays idle after it filled or stopped out.
    #[serde(default = "default_cooldown")]
    pub cooldown_time: u64,
    /// Order type of the quotes.
    #[serde(default)]
    pub order_type: MakerOrderType,
    /// Positions the controller starts with (created once, at the first mid).
    #[serde(default)]
    pub initial_positions: Vec<InitialPosition>,
    /// How spreads are read: `fixed` fractions (default for `market_making`), or
    /// multiples of NATR (`natr`, default for `dman`) over `candles_interval` candles.
    #[serde(default)]
    pub spread_mode: Option<SpreadMode>,
    /// Candle interval of the NATR (`natr` mode); a matching `[[candles]]` entry must exist.
    #[serde(default)]
    pub candles_interval: Option<String>,
    /// NATR length in candles.
    #[serde(default = "default_natr_length")]
    pub natr_length: u32,
    /// Stop loss of a filled level (pnl fraction). Any barrier turns the levels into
    /// position executors; with none a level is a single order held once filled.
    #[serde(default)]
    pub stop_loss: Option<Dec>,
    /// Take profit of a filled level (pnl fraction).
    #[serde(default)]
    pub take_profit: Option<Dec>,
    /// Time limit of a level in seconds from its creation.
    #[serde(default)]
    pub time_limit: Option<u64>,
    /// Trailing stop of a filled level.
    #[serde(default)]
    pub trailing_stop: Option<crate::controllers::config::TrailingStopConfig>,
    /// Take-profit order type (with barriers).
    #[serde(default)]
    pub take_profit_order_type: crate::controllers::config::TpOrderType,
    /// Leverage (perpetual instruments only; default 1).
    #[serde(default)]
    pub leverage: Option<u32>,
    /// Position mode; must match the instrument's market when given.
    #[serde(default)]
    pub position_mode: Option<crate::controllers::config::PositionMode>,
    /// Spot only: rebalance the held base when it differs from what the sell levels
    /// need by more than this fraction.
    #[serde(default = "default_rebalance_threshold")]
    pub position_rebalance_threshold_pct: Dec,
    /// Skip the spot rebalance. Kestrel's default is `true` (opt in with `false`):
    /// a fresh session holds nothing, so Hummingbot's default would market-buy at once.
    #[serde(default = "default_skip_rebalance")]
    pub skip_rebalance: bool,
    /// Seconds of event time between control steps.
    #[serde(default = "crate::controllers::config::default_update_interval")]
    pub update_interval: Dec,
}

/// How market-making spreads are read.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpreadMode {
    /// Spreads are fractions of the reference price.
    Fixed,
    /// Spreads are multiples of the NATR (Hummingbot's pmm_dynamic / dman_maker).
    Natr,
}

fn default_natr_length() -> u32 {
    14
}
fn default_rebalance_threshold() -> Dec {
    Dec(50_000_000)
}
fn default_skip_rebalance() -> bool {
    true
}

/// A position a controller declares it starts with (spec §9/§10 `initial_positions`):
/// ±`amount` at the first mid, no volume, no fees. Stored positions of earlier
/// sessions are then ignored for that controller.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InitialPosition {
    /// Instrument symbol.
    pub instrument: String,
    /// Base amount (positive).
    pub amount: Dec,
    /// `buy` (long) or `sell` (short).
    pub side: PositionSide,
}

/// Side of a declared position.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PositionSide {
    /// Long.
    Buy,
    /// Short.
    Sell,
}

impl PositionSide {
    /// As an order side.
    pub fn side(self) -> crate::types::Side {
        match self {
            PositionSide::Buy => crate::types::Side::Buy,
            PositionSide::Sell => crate::types::Side::Sell,
        }
    }
}

fn default_spreads() -> DecList {
    DecList(vec![Dec(10_000_000), Dec(20_000_000)])
}
fn default_total() -> Dec {
    Dec::from_int(100)
}
fn default_refresh() -> u64 {
    300
}
fn default_cooldown() -> u64 {
    15
}

/// Transport of a copy-trading signal source.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SignalSourceKind {
    /// Subscribe to a WebSocket feed of signals (`url` = `ws://host:port/path`).
    Websocket,
    /// Listen for HTTP POSTs of signals (TradingView alerts and the like) on `bind`.
    Webhook,
    /// Poll `url` (`http://host:port/path`) for a list of signals.
    Rest,
}

/// How a signal source authenticates its master.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SignalAuth {
    /// A shared secret: the `X-Signal-Secret` header or the body's `secret` field
    /// (webhook), the `secret` field of each message (WebSocket), or the
    /// `Authorization: Bearer` token sent with each poll (REST).
    #[default]
    SharedSecret,
    /// `X-Signature: hex(HMAC-SHA256(secret, body))` on each POST (webhook only).
    Hmac,
}

/// `source` table of a copy-trading controller: where its signals come from.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignalSourceConfig {
    /// Transport.
    pub kind: SignalSourceKind,
    /// WebSocket URL (`websocket`) or REST URL (`rest`); unused by `webhook`.
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook listen address; loopback by default (put a reverse proxy with TLS in
    /// front to receive alerts from the internet).
    #[serde(default = "default_signal_bind")]
    pub bind: String,
    /// Authentication scheme.
    #[serde(default)]
    pub auth: SignalAuth,
    /// Name of the environment variable that holds the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File that holds the secret (one line; surrounding whitespace is ignored).
    #[serde(default)]
    pub secret_file: Option<String>,
    /// REST poll period in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Largest accepted webhook body or message, bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Time limit for reading one webhook request or one REST response, ms.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

fn default_signal_bind() -> String {
    "127.0.0.1:0".into()
}
fn default_poll_interval_ms() -> u64 {
    1000
}
fn default_max_body_bytes() -> usize {
    64 << 10
}
fn default_request_timeout_ms() -> u64 {
    5000
}

impl SignalSourceConfig {
    /// Checks the fields that need no I/O (the secret itself is read by the source).
    pub fn validate(&self) -> Result<(), String> {
        match (&self.secret_env, &self.secret_file) {
            (Some(_), Some(_)) => {
                return Err("source: give secret_env or secret_file, not both".into())
            }
            (None, None) => {
                return Err(
                    "source: a secret is required (secret_env = \"VAR\" or secret_file = \"PATH\")"
                        .into(),
                )
            }
            _ => {}
        }
        let url = self.url.as_deref().unwrap_or("");
        match self.kind {
            SignalSourceKind::Websocket => {
                if !url.starts_with("ws://") {
                    return Err(format!(
                        "source: websocket url {url:?} must start with ws:// (wss:// is not supported yet)"
                    ));
                }
            }
            SignalSourceKind::Rest => {
                if !url.starts_with("http://") {
                    return Err(format!(
                        "source: rest url {url:?} must start with http:// (https:// is not supported yet)"
                    ));
                }
                if self.poll_interval_ms == 0 {
                    return Err("source: poll_interval_ms must be > 0".into());
                }
            }
            SignalSourceKind::Webhook => {
                if self.bind.parse::<std::net::SocketAddr>().is_err() {
                    return Err(format!(
                        "source: bind {:?} is not an address such as 127.0.0.1:8080",
                        self.bind
                    ));
                }
            }
        }
        if self.auth == SignalAuth::Hmac && self.kind != SignalSourceKind::Webhook {
            return Err("source: auth = \"hmac\" is supported by webhook sources only".into());
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > 16 << 20 {
            return Err(format!(
                "source: max_body_bytes must be in 1..=16777216, got {}",
                self.max_body_bytes
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err("source: request_timeout_ms must be > 0".into());
        }
        Ok(())
    }
}

/// A copy-trading controller: opens a position executor per accepted OPEN signal of
/// its source, sized as the master's amount × `copy_ratio`, and stops it on CLOSE.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CopyTradingConfig {
    /// Controller id.
    pub id: String,
    /// Signal source.
    pub source: SignalSourceConfig,
    /// Instrument symbols signals may trade; a signal for any other is refused.
    pub allowed_pairs: Vec<String>,
    /// Fraction of the master's amount copied (0.5 = half).
    #[serde(default = "default_copy_ratio")]
    pub copy_ratio: Dec,
    /// Largest position, in quote, one signal may open (0: no cap).
    #[serde(default)]
    pub max_position_size_quote: Dec,
    /// Stop loss (pnl fraction) for signals that carry none.
    #[serde(default)]
    pub stop_loss: Option<Dec>,
    /// Take profit (pnl fraction) for signals that carry none.
    #[serde(default)]
    pub take_profit: Option<Dec>,
    /// Seconds after which a copied position is closed.
    #[serde(default)]
    pub time_limit: Option<u64>,
    /// Signals with a lower confidence are refused.
    #[serde(default)]
    pub min_signal_confidence: Dec,
    /// Open copied positions allowed at once per instrument.
    #[serde(default = "default_max_positions_per_pair")]
    pub max_positions_per_pair: u32,
}

fn default_copy_ratio() -> Dec {
    Dec::ONE
}
fn default_max_positions_per_pair() -> u32 {
    3
}

impl CopyTradingConfig {
    /// Checks the fields (instrument names are resolved by
    /// [`CopyTrading::new`](crate::copy_trading::CopyTrading::new)).
    pub fn validate(&self) -> Result<(), String> {
        self.source.validate()?;
        if self.allowed_pairs.is_empty() {
            return Err("allowed_pairs is empty: list the instruments signals may trade".into());
        }
        if self.copy_ratio.raw() <= 0 {
            return Err(format!("copy_ratio {} must be > 0", self.copy_ratio));
        }
        if self.max_position_size_quote.raw() < 0 {
            return Err("max_position_size_quote must be >= 0".into());
        }
        for (name, v) in [
            ("stop_loss", self.stop_loss),
            ("take_profit", self.take_profit),
        ] {
            if matches!(v, Some(v) if v.raw() <= 0) {
                return Err(format!("{name} must be > 0"));
            }
        }
        if self.time_limit == Some(0) {
            return Err("time_limit must be > 0 seconds".into());
        }
        if self.min_signal_confidence.raw() < 0 || self.min_signal_confidence > Dec::ONE {
            return Err(format!(
                "min_signal_confidence {} must be in [0, 1]",
                self.min_signal_confidence
            ));
        }
        if self.max_positions_per_pair == 0 {
            return Err("max_positions_per_pair must be >= 1".into());
        }
        Ok(())
    }
}

/// One `[[controllers]]` entry, chosen by `type`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControllerConfig {
    /// Market making with fixed spreads (or `spread_mode = "natr"`).
    MarketMaking(MarketMakingConfig),
    /// Dynamic market making: spreads are multiples of the NATR.
    Dman(MarketMakingConfig),
    /// Directional trading on a candle signal.
    Directional(crate::controllers::config::DirectionalConfig),
    /// Two-instrument arbitrage.
    Arbitrage(crate::controllers::config::ArbitrageControllerConfig),
    /// Cross-exchange market making over levels.
    Xemm(crate::controllers::config::XemmControllerConfig),
    /// A user strategy registered by name.
    Generic(crate::controllers::config::GenericConfig),
    /// Copy trading: positions from a master's signals.
    CopyTrading(CopyTradingConfig),
}

impl ControllerConfig {
    /// Positions the controller declares it starts with (market making only).
    pub fn initial_positions(&self) -> &[InitialPosition] {
        match self {
            ControllerConfig::MarketMaking(m) | ControllerConfig::Dman(m) => &m.initial_positions,
            _ => &[],
        }
    }

    /// The controller id.
    pub fn id(&self) -> &str {
        match self {
            ControllerConfig::MarketMaking(c) | ControllerConfig::Dman(c) => &c.id,
            ControllerConfig::Directional(c) => &c.id,
            ControllerConfig::Arbitrage(c) => &c.id,
            ControllerConfig::Xemm(c) => &c.id,
            ControllerConfig::Generic(c) => &c.id,
            ControllerConfig::CopyTrading(c) => &c.id,
        }
    }

    fn validate(&self, cfg: &Config) -> Result<(), String> {
        match self {
            ControllerConfig::MarketMaking(m) => m.validate(cfg, false),
            ControllerConfig::Dman(m) => m.validate(cfg, true),
            ControllerConfig::Directional(c) => c.validate(cfg),
            ControllerConfig::Arbitrage(c) => c.validate(cfg),
            ControllerConfig::Xemm(c) => c.validate(cfg),
            ControllerConfig::Generic(c) => c.validate(cfg),
            ControllerConfig::CopyTrading(c) => {
                c.validate()?;
                match c
                    .allowed_pairs
                    .iter()
                    .find(|p| !cfg.instruments.iter().any(|i| &i.symbol == *p))
                {
                    Some(p) => Err(format!("allowed pair {p} is not in [[instruments]]")),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A configuration error, with the key or value concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The copy-trading controllers in config order as (controller index, signal source
    /// index, config): the n-th copy-trading controller listens to signal source n.
    pub fn signal_sources(&self) -> impl Iterator<Item = (usize, u8, &CopyTradingConfig)> {
        self.controllers
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c {
                ControllerConfig::CopyTrading(ct) => Some((i, ct)),
                _ => None,
            })
            .enumerate()
            .map(|(k, (i, ct))| (i, k as u8, ct))
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let cfg = Config::parse_unvalidated(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text without cross-field checks (for loaders that complete the
    /// config, e.g. instruments from an exchangeInfo file, before validating).
    pub fn parse_unvalidated(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// TOML text of this configuration (what the journal stores).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serializes")
    }

    /// Checks cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |s: String| Err(ConfigError(s));
        if self.instruments.is_empty() {
            return err("at least one [[instruments]] entry is required".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for i in &self.instruments {
            i.validate().map_err(ConfigError)?;
            if !seen.insert(i.symbol.as_str()) {
                return err(format!("instrument {} is listed twice", i.symbol));
            }
        }
        if self.instruments.len() > u16::MAX as usize {
            return err("too many instruments".into());
        }
        if !self.runtime.ring_size.is_power_of_two() || self.runtime.ring_size < 64 {
            return err(format!(
                "runtime.ring_size must be a power of two >= 64, got {}",
                self.runtime.ring_size
            ));
        }
        if self.runtime.journal_max_mib == 0 {
            return err("runtime.journal_max_mib must be >= 1 (MiB)".into());
        }
        if !(1..=MAX_TIMER_INTERVAL_MS).contains(&self.runtime.timer_interval_ms) {
            return err(format!(
                "runtime.timer_interval_ms must be between 1 and {MAX_TIMER_INTERVAL_MS} (one day), got {}",
                self.runtime.timer_interval_ms
            ));
        }
        for v in &self.venues {
            for s in &v.symbols {
                if self.instrument(s).is_none() {
                    return err(format!(
                        "venue {:?}: symbol {s} is not in [[instruments]] (add it, or give exchange_info)",
                        v.kind
                    ));
                }
            }
            // The feed would connect in plain text and read nothing, so TLS URLs are
            // refused here rather than left to a session with no market data.
            if v.ws_url.starts_with("wss://") || v.rest_url.starts_with("https://") {
                return err(format!(
                    "venue {:?}: ws_url {:?}, rest_url {:?}: {NO_TLS}",
                    v.kind, v.ws_url, v.rest_url
                ));
            }
            if !v.ws_url.starts_with("ws://") || v.ws_url.len() <= "ws://".len() {
                return err(format!("venue ws_url {:?} must start with ws://", v.ws_url));
            }
            let rest_host = v
                .rest_url
                .strip_prefix("http://")
                .map(|h| h.trim_end_matches('/'));
            if !rest_host.is_some_and(|h| !h.is_empty() && !h.contains('/')) {
                return err(format!(
                    "venue rest_url {:?} must be http://host:port (no path)",
                    v.rest_url
                ));
            }
        }
        if self.feed.kind == FeedKind::Live && self.venues.is_empty() {
            return err("feed.kind = \"live\" needs at least one [[venues]] entry".into());
        }
        if self.feed.kind == FeedKind::Recorded && self.feed.data.is_none() {
            return err("feed.kind = \"recorded\" needs feed.data".into());
        }
        if let Some(s) = &self.feed.symbol {
            if self.instrument(s).is_none() {
                return err(format!("feed.symbol {s} is not in [[instruments]]"));
            }
        }
        if self.feed.kind == FeedKind::Synthetic && self.feed.start_price.raw() <= 0 {
            return err("feed.start_price must be > 0".into());
        }
        for rate in [self.venue.maker_fee, self.venue.taker_fee] {
            if rate.raw() < 0 || rate >= Dec::ONE {
                return err(format!("venue fee rate {rate} must be in [0, 1)"));
            }
        }
        if self.venue.kind == GatewayKind::Binance {
            let Some(b) = &self.venue.binance else {
                return err("venue.kind = \"binance\" needs a [venue.binance] table".into());
            };
            b.validate(&self.instruments)
                .map_err(|e| ConfigError(format!("venue.binance: {e}")))?;
            if self.feed.kind != FeedKind::Live {
                return err(format!(
                    "venue.kind = \"binance\" sends real orders: it needs feed.kind = \"live\" \
                     (prices from the venue), not {:?}",
                    format!("{:?}", self.feed.kind).to_lowercase()
                ));
            }
        }
        for (name, v) in &self.balances {
            if v.raw() < 0 {
                return err(format!("balance of {name} is negative"));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for c in &self.controllers {
            let id = c.id();
            if !ids.insert(id) {
                return err(format!("controller id {id} is used twice"));
            }
            c.validate(self)
                .map_err(|e| ConfigError(format!("controller {id}: {e}")))?;
        }
        if self.signal_sources().count() > u8::MAX as usize + 1 {
            return err("at most 256 copy_trading controllers".into());
        }
        for c in &self.candles {
            if self.instrument(&c.instrument).is_none() {
                return err(format!(
                    "candles: instrument {} is not in [[instruments]]",
                    c.instrument
                ));
            }
            interval_seconds(&c.interval)?;
            if c.max_records == 0 || c.max_records > 100_000 {
                return err(format!(
                    "candles: max_records must be in 1..=100000, got {}",
                    c.max_records
                ));
            }
        }
        if self.controllers.len() > u16::MAX as usize {
            return err("too many controllers".into());
        }
        self.risk.validate(&self.instruments).map_err(ConfigError)?;
        Ok(())
    }

    /// The instrument with this symbol.
    pub fn instrument(&self, symbol: &str) -> Option<&InstrumentSpec> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }
}

impl MarketMakingConfig {
    /// True when spreads are NATR multiples (`dman`, or `spread_mode = "natr"`).
    pub fn natr_mode(&self, dman: bool) -> bool {
        match self.spread_mode {
            Some(m) => m == SpreadMode::Natr,
            None => dman,
        }
    }

    fn validate(&self, cfg: &Config, dman: bool) -> Result<(), String> {
        use crate::controllers::config as cc;
        let spec = cfg
            .instrument(&self.instrument)
            .ok_or_else(|| format!("instrument {} is not in [[instruments]]", self.instrument))?;
        let natr = self.natr_mode(dman);
        if dman && !natr {
            return Err("type \"dman\" reads spreads as NATR multiples; drop spread_mode = \"fixed\" or use type \"market_making\"".into());
        }
        if natr {
            let interval = self
                .candles_interval
                .as_deref()
                .ok_or("NATR spreads need candles_interval (e.g. \"1m\")")?;
            cc::check_candles(cfg, &self.instrument, interval)?;
            if !(1..=10_000).contains(&self.natr_length) {
                return Err(format!(
                    "natr_length {} must be in 1..=10000",
                    self.natr_length
                ));
            }
        }
        cc::check_market(self.leverage, self.position_mode, spec)?;
        cc::check_barrier(
            self.stop_loss.unwrap_or(Dec::ZERO),
            self.take_profit.unwrap_or(Dec::ZERO),
            self.trailing_stop,
        )?;
        cc::check_interval(self.update_interval)?;
        for p in &self.initial_positions {
            if cfg.instrument(&p.instrument).is_none() {
                return Err(format!(
                    "initial position instrument {} is not in [[instruments]]",
                    p.instrument
                ));
            }
            if p.amount.raw() <= 0 {
                return Err(format!(
                    "initial position amount must be positive, got {}",
                    p.amount
                ));
            }
        }
        if self.position_rebalance_threshold_pct.raw() < 0 {
            return Err("position_rebalance_threshold_pct must be >= 0".into());
        }
        // Fixed spreads are fractions below 1; NATR multiples may exceed 1.
        let max_spread = if natr { Dec::from_int(1000) } else { Dec::ONE };
        let check = |name: &str, spreads: &DecList, pcts: &Option<DecList>| -> Result<(), String> {
            if spreads.0.len() > 64 {
                return Err(format!("{name}: at most 64 levels"));
            }
            for s in &spreads.0 {
                if s.raw() < 0 || *s >= max_spread {
                    return Err(format!("{name}: spread {s} must be in [0, {max_spread})"));
                }
            }
            if let Some(p) = pcts {
                if p.0.len() != spreads.0.len() {
                    return Err(format!(
                        "{name}: {} amounts for {} spreads; the lengths must match",
                        p.0.len(),
                        spreads.0.len()
                    ));
                }
                if p.0.iter().any(|v| v.raw() < 0) {
                    return Err(format!("{name}: amounts must be >= 0"));
                }
            }
            Ok(())
        };
        check("buy_spreads", &self.buy_spreads, &self.buy_amounts_pct)?;
        check("sell_spreads", &self.sell_spreads, &self.sell_amounts_pct)?;
        if self.total_amount_quote.raw() <= 0 && self.order_amount_quote.is_none() {
            return Err("total_amount_quote must be > 0".into());
        }
        if matches!(self.order_amount_quote, Some(v) if v.raw() <= 0) {
            return Err("order_amount_quote must be > 0".into());
        }
        Ok(())
    }
}
