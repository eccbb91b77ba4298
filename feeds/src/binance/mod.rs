//! Binance Spot and USD-M Futures market data: stream parsers, REST depth snapshots,
//! instrument specs from `exchangeInfo`, and a reader for cryptofeed capture files.
//!
//! | message | [`MsgKind`] | events |
//! |---|---|---|
//! | `bookTicker` (spot: no `e`/`E`; USD-M: `e`, `E`, `T`) | `BookTicker` | one [`BookTicker`], `update_id` = `u` |
//! | `depthUpdate` (USD-M adds `pu`) | `DepthDiff` | diff [`Depth`] chunks, `U`/`u`/`pu` |
//! | `<sym>@depth<5,10,20>` (spot `lastUpdateId` form; USD-M `depthUpdate` form) | `PartialDepth` | snapshot [`Depth`] chunks |
//! | `trade` / `aggTrade` | `Trade` / `AggTrade` | one [`Trade`], id `t` / `a`, aggressor Sell if `m` |
//! | `kline` | `Kline` | one [`Kline`] |
//! | REST `/api/v3/depth`, `/fapi/v1/depth` (also bare in a stream, or as WS-API `result`) | `Snapshot` | snapshot [`Depth`] chunks, ids = `lastUpdateId` |
//! | `{"result":…,"id":…}` subscription replies | `Ignored` | none |
//!
//! Depth levels are emitted bids first, then asks, [`DEPTH_CHUNK`] per event, flagged
//! `first_chunk` / `last_chunk`; an update with no levels still yields one empty chunk
//! (its update ids matter for sync). Prices and sizes are read straight from the decimal
//! strings with [`kestrel_engine::num::parse_raw`], exactly.
//!
//! [`BookTicker`]: kestrel_engine::BookTicker
//! [`Depth`]: kestrel_engine::Depth
//! [`Trade`]: kestrel_engine::Trade
//! [`Kline`]: kestrel_engine::Kline
//! [`DEPTH_CHUNK`]: kestrel_engine::DEPTH_CHUNK

mod cryptofeed;
mod exchange_info;
mod fast;
mod parser;
pub mod tape;

pub use cryptofeed::{split_http_line, CaptureError, CryptofeedReader};
pub use exchange_info::{instrument, instruments_from_exchange_info};
pub use parser::{interval_seconds, MsgKind, Parsed, Parser, MAX_LEVELS};

use std::fmt;

/// Why a message could not be turned into events. Never a panic, whatever the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not valid JSON (simd-json's message), or not a JSON object.
    Json(String),
    /// A required field is absent.
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    WrongType {
        /// Field name.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A number (decimal string, integer id, timestamp or interval) could not be read
    /// exactly or is out of range.
    BadNumber {
        /// Field name.
        field: &'static str,
        /// The value as found.
        value: String,
    },
    /// The message is for a symbol with no configured instrument.
    UnknownSymbol(String),
    /// An event type (`e`) this parser does not handle.
    UnknownEvent(String),
    /// A depth message with more levels than the parser accepts.
    TooManyLevels {
        /// Levels in the message (both sides).
        levels: usize,
        /// The limit.
        max: usize,
    },
    /// The venue answered with an error object (`{"error":{"code":…,"msg":…}}`).
    Venue(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Json(m) => write!(f, "invalid JSON: {m}"),
            ParseError::MissingField(k) => write!(f, "missing field {k:?}"),
            ParseError::WrongType {
                field,
                expected,
                found,
            } => write!(f, "field {field:?} should be {expected}, found {found}"),
            ParseError::BadNumber { field, value } => {
                write!(f, "bad number in field {field:?}: {value:?}")
            }
            ParseError::UnknownSymbol(s) => {
                write!(f, "unknown symbol {s}: no instrument is configured for it")
            }
            ParseError::UnknownEvent(e) => write!(f, "unknown event type {e:?}"),
            ParseError::TooManyLevels { levels, max } => {
                write!(f, "depth message has {levels} levels, more than {max}")
            }
            ParseError::Venue(m) => write!(f, "venue error: {m}"),
        }
    }
}

impl std::error::Error for ParseError {}
