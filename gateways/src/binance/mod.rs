//! Signed Binance connector for Spot and USD-M Futures, and a loopback mock venue.
//!
//! [`BinanceConnector`] is a plain struct driven from one thread:
//!
//! ```text
//! let mut c = BinanceConnector::new(config, Credentials::from_env()?, Box::new(SystemClock::default()))?;
//! c.start()?;                        // clock sync, listen key, WebSocket API + user stream
//! let sent = c.place(&order)?;       // encode + sign + hand to the socket; sent.sent_ns
//! c.poll(Duration::from_millis(1), &mut reports)?;   // responses, user stream, keep-alive, reconcile
//! ```
//!
//! - Orders go over the WebSocket API (`order.place`, `order.cancel`,
//!   `order.cancelReplace` / USD-M `order.modify`) while it is connected, otherwise
//!   over REST (`/api/v3/order`, `/fapi/v1/order`). `newClientOrderId` is the
//!   engine's client order id (`K<session>-<counter>`), so a resend is idempotent.
//! - Reports come from request responses and from the user data stream
//!   (`executionReport`, `ORDER_TRADE_UPDATE`), deduplicated by [`tracker`]: one ack,
//!   one report per trade id, one terminal state.
//! - After a WebSocket reconnect (either connection) [`reconcile`] queries open
//!   orders, order status and trades, and emits what was missed.
//! - `-1021` (timestamp outside `recvWindow`) resyncs the clock offset
//!   ([`clock::ClockSync`], round-trip midpoint of `GET /api/v3/time`) and resends the
//!   order once; rate-limit counters ([`ratelimit`]) come from response headers and
//!   WebSocket-API `rateLimits`.
//! - Keys: [`keys::Credentials`] from environment variables or an owner-only key
//!   file; the secret is a [`keys::Secret`] that prints `***`.
//! - [`mock::MockVenue`]: a loopback Binance (WebSocket API, REST, user stream) that
//!   verifies signatures with the same secret, for end-to-end tests.
//!
//! Transport limits: plain `ws://` and HTTP only (the workspace has no TLS stack
//! yet), like `kestrel_feeds::ws`. Ed25519 keys are not supported (HMAC only).

pub mod clock;
pub mod connector;
pub mod encode;
pub mod errors;
pub mod keys;
pub mod mock;
pub mod paper;
pub mod ratelimit;
pub mod reconcile;
pub mod reports;
pub mod rest;
pub mod sign;
pub mod tracker;
pub mod user_stream;

pub use clock::{Clock, ClockSync, ManualClock, SystemClock};
pub use connector::{BinanceConfig, BinanceConnector, ConnectorStats, Report, Sent};
pub use encode::{OrderEncoder, Transport};
pub use errors::{BinanceError, ErrorAction, VenueError};
pub use keys::{Credentials, Secret};
pub use mock::MockVenue;
pub use paper::{PaperConfig, PaperVenue};
pub use sign::Signer;

/// Which Binance market the connector trades; it selects endpoints and parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Venue {
    /// Spot (`/api/v3`, WebSocket API `/ws-api/v3`).
    Spot,
    /// USD-M Futures (`/fapi/v1`, WebSocket API `/ws-fapi/v1`).
    UsdM,
}

impl Venue {
    /// REST order endpoint (place, cancel, query).
    pub fn order_path(self) -> &'static str {
        match self {
            Venue::Spot => "/api/v3/order",
            Venue::UsdM => "/fapi/v1/order",
        }
    }
    /// REST replace endpoint and method (spot cancel-replace, USD-M modify).
    pub fn replace_endpoint(self) -> (rest::Method, &'static str) {
        match self {
            Venue::Spot => (rest::Method::Post, "/api/v3/order/cancelReplace"),
            Venue::UsdM => (rest::Method::Put, "/fapi/v1/order"),
        }
    }
    /// Server time.
    pub fn time_path(self) -> &'static str {
        match self {
            Venue::Spot => "/api/v3/time",
            Venue::UsdM => "/fapi/v1/time",
        }
    }
    /// Listen key create / keep-alive.
    pub fn listen_key_path(self) -> &'static str {
        match self {
            Venue::Spot => "/api/v3/userDataStream",
            Venue::UsdM => "/fapi/v1/listenKey",
        }
    }
    /// Open orders.
    pub fn open_orders_path(self) -> &'static str {
        match self {
            Venue::Spot => "/api/v3/openOrders",
            Venue::UsdM => "/fapi/v1/openOrders",
        }
    }
    /// Account trades.
    pub fn trades_path(self) -> &'static str {
        match self {
            Venue::Spot => "/api/v3/myTrades",
            Venue::UsdM => "/fapi/v1/userTrades",
        }
    }
    /// WebSocket API path.
    pub fn ws_api_path(self) -> &'static str {
        match self {
            Venue::Spot => "/ws-api/v3",
            Venue::UsdM => "/ws-fapi/v1",
        }
    }
}
