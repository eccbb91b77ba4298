//! Binance error payloads (`{"code":-2010,"msg":"…"}`) and what they mean for an order.
//!
//! | code | Binance name | meaning here |
//! |---|---|---|
//! | -1013 | INVALID_MESSAGE (filter failure) | [`RejectReason::BadTick`] (`PRICE_FILTER`), [`RejectReason::BadLot`] (`LOT_SIZE`, `MARKET_LOT_SIZE`), [`RejectReason::MinNotional`] (`MIN_NOTIONAL`, `NOTIONAL`), else `Other` |
//! | -2010 | NEW_ORDER_REJECTED | [`RejectReason::InsufficientBalance`] (insufficient balance), [`RejectReason::WouldTake`] (`would immediately match and take`), else `Other` |
//! | -2018, -2019 | USD-M balance / margin insufficient | [`RejectReason::InsufficientBalance`] |
//! | -5022 | USD-M post-only would take | [`RejectReason::WouldTake`] |
//! | -4164 | USD-M notional too small | [`RejectReason::MinNotional`] |
//! | -1121 | BAD_SYMBOL | [`RejectReason::UnknownInstrument`] |
//! | -2011, -2013 | CANCEL_REJECTED, NO_SUCH_ORDER | [`RejectReason::UnknownOrder`] |
//! | -1003, -1015 (HTTP 429/418), -1008 | TOO_MANY_REQUESTS, TOO_MANY_ORDERS, SERVER_BUSY (USD-M: request throttled) | [`RejectReason::RateLimited`]; back off |
//! | -1021 | INVALID_TIMESTAMP | [`ErrorAction::ResyncClock`]: resync the clock offset, resend once |
//! | -1006, -1007, HTTP 5xx, -2010 `Duplicate order sent.` | UNEXPECTED_RESP, TIMEOUT, resent order | [`ErrorAction::StatusUnknown`]: not a reject; reconcile |
//! | -1022, -2014, -2015 | signature / API key errors | [`ErrorAction::Auth`]: reject and report |
//!
//! Error texts carry the venue's code and message (never a key or secret: requests
//! are not echoed into errors).

use std::fmt;

use kestrel_engine::RejectReason;

use super::Venue;

/// A venue error: code and message as the venue sent them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueError {
    /// The market that answered (a few codes mean different things on each).
    pub venue: Venue,
    /// HTTP (or WS-API) status, 0 if unknown.
    pub status: u16,
    /// Binance error code (negative).
    pub code: i64,
    /// Binance message.
    pub msg: String,
}

impl fmt::Display for VenueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Binance error {} ({}): {} [status {}]",
            self.code,
            code_name(self.venue, self.code),
            self.msg,
            self.status
        )
    }
}

/// What the connector does about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorAction {
    /// The request was refused: report it with this reason.
    Reject(RejectReason),
    /// Request timestamp outside `recvWindow` (-1021): resync the clock, resend once.
    ResyncClock,
    /// Too many requests: report with [`RejectReason::RateLimited`] and back off.
    Backoff,
    /// The venue does not know whether the request executed: reconcile, report nothing.
    StatusUnknown,
    /// Key, signature or permission problem: reject and surface the error.
    Auth,
}

/// The Binance name of a code on `venue` (for messages); `"UNKNOWN_CODE"` for others.
pub fn code_name(venue: Venue, code: i64) -> &'static str {
    match (venue, code) {
        (Venue::UsdM, -1008) => "REQUEST_THROTTLED",
        (Venue::UsdM, -2021) => "ORDER_WOULD_IMMEDIATELY_TRIGGER",
        (Venue::UsdM, -2022) => "REDUCE_ONLY_REJECT",
        (Venue::Spot, -2021) => "ORDER_CANCEL_REPLACE_PARTIALLY_FAILED",
        (Venue::Spot, -2022) => "ORDER_CANCEL_REPLACE_FAILED",
        (_, code) => common_code_name(code),
    }
}

/// Names the spot and USD-M docs give alike.
fn common_code_name(code: i64) -> &'static str {
    match code {
        -1000 => "UNKNOWN",
        -1001 => "DISCONNECTED",
        -1002 => "UNAUTHORIZED",
        -1003 => "TOO_MANY_REQUESTS",
        -1006 => "UNEXPECTED_RESP",
        -1007 => "TIMEOUT",
        -1008 => "SERVER_BUSY",
        -1013 => "INVALID_MESSAGE",
        -1015 => "TOO_MANY_ORDERS",
        -1021 => "INVALID_TIMESTAMP",
        -1022 => "INVALID_SIGNATURE",
        -1100 => "ILLEGAL_CHARS",
        -1102 => "MANDATORY_PARAM_EMPTY_OR_MALFORMED",
        -1111 => "BAD_PRECISION",
        -1121 => "BAD_SYMBOL",
        -2010 => "NEW_ORDER_REJECTED",
        -2011 => "CANCEL_REJECTED",
        -2013 => "NO_SUCH_ORDER",
        -2014 => "BAD_API_KEY_FMT",
        -2015 => "REJECTED_MBX_KEY",
        -2018 => "BALANCE_NOT_SUFFICIENT",
        -2019 => "MARGIN_NOT_SUFFICIEN",
        -4164 => "MIN_NOTIONAL",
        -5022 => "GTX_ORDER_REJECT",
        _ => "UNKNOWN_CODE",
    }
}

/// What to do about `code` with message `msg` (HTTP `status`, 0 for none).
pub fn classify(status: u16, code: i64, msg: &str) -> ErrorAction {
    let has = |needle: &str| contains_ignore_case(msg, needle);
    match code {
        -1021 => ErrorAction::ResyncClock,
        // -1008: the venue is overloaded (spot) or throttling (USD-M); try again later.
        -1003 | -1008 | -1015 => ErrorAction::Backoff,
        -1006 | -1007 => ErrorAction::StatusUnknown,
        -1022 | -2014 | -2015 | -1002 => ErrorAction::Auth,
        -1013 => ErrorAction::Reject(if has("PRICE_FILTER") {
            RejectReason::BadTick
        } else if has("LOT_SIZE") {
            RejectReason::BadLot
        } else if has("NOTIONAL") {
            RejectReason::MinNotional
        } else {
            RejectReason::Other
        }),
        // A resend of an order the venue already has: its fate comes from reconcile.
        -2010 if has("Duplicate order") => ErrorAction::StatusUnknown,
        -2010 => ErrorAction::Reject(if has("insufficient balance") {
            RejectReason::InsufficientBalance
        } else if has("immediately match and take") {
            RejectReason::WouldTake
        } else {
            RejectReason::Other
        }),
        -2018 | -2019 => ErrorAction::Reject(RejectReason::InsufficientBalance),
        -5022 => ErrorAction::Reject(RejectReason::WouldTake),
        -4164 => ErrorAction::Reject(RejectReason::MinNotional),
        -1121 => ErrorAction::Reject(RejectReason::UnknownInstrument),
        -2011 | -2013 => ErrorAction::Reject(RejectReason::UnknownOrder),
        _ if status == 429 || status == 418 => ErrorAction::Backoff,
        _ if status >= 500 => ErrorAction::StatusUnknown,
        _ => ErrorAction::Reject(RejectReason::Other),
    }
}

impl VenueError {
    /// [`classify`] for this error.
    pub fn action(&self) -> ErrorAction {
        classify(self.status, self.code, &self.msg)
    }

    /// The reject reason to report (rate limits → `RateLimited`, others → `Other`).
    pub fn reason(&self) -> RejectReason {
        match self.action() {
            ErrorAction::Reject(r) => r,
            ErrorAction::Backoff => RejectReason::RateLimited,
            _ => RejectReason::Other,
        }
    }
}

fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Every failure of the connector. Display texts name the operation and the venue's
/// code and message; they never contain keys, secrets or signed requests.
#[derive(Debug)]
pub enum BinanceError {
    /// The venue answered with an error.
    Venue(VenueError),
    /// Socket, HTTP or WebSocket failure.
    Transport(String),
    /// A response could not be read.
    Parse(String),
    /// An order could not be encoded.
    Encode(super::encode::EncodeError),
    /// An order names an instrument the connector was not given.
    UnknownInstrument(kestrel_engine::InstrumentId),
    /// An operation on an order the connector does not track.
    UnknownOrder(kestrel_engine::ClientOrderId),
    /// The venue banned or throttled us until this venue time (ms).
    RateLimited {
        /// Venue time (ms) before which no request is sent.
        until_ms: u64,
    },
    /// Bad configuration.
    Config(String),
}

impl fmt::Display for BinanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BinanceError::Venue(e) => e.fmt(f),
            BinanceError::Transport(e) => write!(f, "Binance connection error: {e}"),
            BinanceError::Parse(e) => write!(f, "Binance response not understood: {e}"),
            BinanceError::Encode(e) => write!(f, "cannot encode order: {e}"),
            BinanceError::UnknownInstrument(i) => {
                write!(
                    f,
                    "instrument {i} is not configured for the Binance connector"
                )
            }
            BinanceError::UnknownOrder(c) => write!(f, "order {c} is not tracked"),
            BinanceError::RateLimited { until_ms } => {
                write!(
                    f,
                    "Binance rate limit: no requests until venue time {until_ms} ms"
                )
            }
            BinanceError::Config(e) => write!(f, "Binance connector configuration: {e}"),
        }
    }
}

impl std::error::Error for BinanceError {}

impl From<super::encode::EncodeError> for BinanceError {
    fn from(e: super::encode::EncodeError) -> Self {
        BinanceError::Encode(e)
    }
}

impl From<VenueError> for BinanceError {
    fn from(e: VenueError) -> Self {
        BinanceError::Venue(e)
    }
}

impl From<kestrel_feeds::ws::WsError> for BinanceError {
    fn from(e: kestrel_feeds::ws::WsError) -> Self {
        BinanceError::Transport(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RejectReason::*;

    fn act(code: i64, msg: &str) -> ErrorAction {
        classify(400, code, msg)
    }

    #[test]
    fn documented_codes_map_to_reasons() {
        let table = [
            (
                -1013,
                "Filter failure: LOT_SIZE",
                ErrorAction::Reject(BadLot),
            ),
            (
                -1013,
                "Filter failure: PRICE_FILTER",
                ErrorAction::Reject(BadTick),
            ),
            (
                -1013,
                "Filter failure: NOTIONAL",
                ErrorAction::Reject(MinNotional),
            ),
            (
                -1013,
                "Filter failure: MIN_NOTIONAL",
                ErrorAction::Reject(MinNotional),
            ),
            (
                -1013,
                "This symbol does not allow the specified self-trade prevention mode.",
                ErrorAction::Reject(Other),
            ),
            (
                -2010,
                "Account has insufficient balance for requested action.",
                ErrorAction::Reject(InsufficientBalance),
            ),
            (
                -2010,
                "Order would immediately match and take.",
                ErrorAction::Reject(WouldTake),
            ),
            (-2010, "Duplicate order sent.", ErrorAction::StatusUnknown),
            (
                -1008,
                "Server is currently overloaded with other requests. Please try again in a few minutes.",
                ErrorAction::Backoff,
            ),
            (
                -1008,
                "Request throttled by system-level protection. Reduce-only/close-position orders are exempt. Please try again.",
                ErrorAction::Backoff,
            ),
            (-2010, "Market is closed.", ErrorAction::Reject(Other)),
            (
                -2011,
                "Unknown order sent.",
                ErrorAction::Reject(UnknownOrder),
            ),
            (
                -2013,
                "Order does not exist.",
                ErrorAction::Reject(UnknownOrder),
            ),
            (
                -2019,
                "Margin is insufficient.",
                ErrorAction::Reject(InsufficientBalance),
            ),
            (
                -1121,
                "Invalid symbol.",
                ErrorAction::Reject(UnknownInstrument),
            ),
            (
                -1021,
                "Timestamp for this request was 1000ms ahead of the server's time.",
                ErrorAction::ResyncClock,
            ),
            (-1003, "Too many requests queued.", ErrorAction::Backoff),
            (
                -1007,
                "Timeout waiting for response from backend server.",
                ErrorAction::StatusUnknown,
            ),
            (
                -2015,
                "Invalid API-key, IP, or permissions for action.",
                ErrorAction::Auth,
            ),
            (
                -1102,
                "Mandatory parameter 'quantity' was not sent",
                ErrorAction::Reject(Other),
            ),
        ];
        for (code, msg, want) in table {
            assert_eq!(act(code, msg), want, "{code} {msg}");
        }
        assert_eq!(classify(503, -1, "x"), ErrorAction::StatusUnknown);
        assert_eq!(classify(429, -1, "x"), ErrorAction::Backoff);
    }

    #[test]
    fn real_error_bodies_from_vectors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/binance/vectors/errors.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut seen = Vec::new();
        for ex in v["examples"].as_array().unwrap() {
            let j = &ex["json"];
            let e = VenueError {
                venue: Venue::Spot,
                status: 400,
                code: j["code"].as_i64().unwrap(),
                msg: j["msg"].as_str().unwrap().to_string(),
            };
            seen.push((e.code, e.reason()));
        }
        assert_eq!(
            seen,
            vec![
                (-1121, UnknownInstrument),
                (-1013, Other),
                (-1145, Other),
                (-2011, UnknownOrder),
                (-2010, InsufficientBalance),
                (-1013, BadLot),
                (-1021, Other),
            ]
        );
        // The names of the codes the connector knows are the docs' names, on each
        // market. The docs give some codes a title instead of a name (spot -2021
        // "Order cancel-replace partially failed", USD-M -1008 "Request Throttled"):
        // those are named in upper snake case after it.
        let mut named = 0;
        for (table, venue) in [("spot_codes", Venue::Spot), ("usdm_codes", Venue::UsdM)] {
            for c in v[table]["codes"].as_array().unwrap() {
                let code = c["code"].as_i64().unwrap();
                let ours = code_name(venue, code);
                if ours == "UNKNOWN_CODE" {
                    continue;
                }
                let theirs = c["name"].as_str().unwrap();
                let expected = theirs
                    .trim_end_matches('.')
                    .replace([' ', '-'], "_")
                    .to_ascii_uppercase();
                assert_eq!(ours, expected, "{table} {code}");
                named += 1;
            }
        }
        // 22 spot and 26 USD-M codes: every one `code_name` lists, on both markets
        // where the docs list it.
        assert_eq!(named, 48);
        let e = VenueError {
            venue: Venue::Spot,
            status: 400,
            code: -2010,
            msg: "Account has insufficient balance for requested action.".into(),
        };
        assert_eq!(
            e.to_string(),
            "Binance error -2010 (NEW_ORDER_REJECTED): Account has insufficient balance for requested action. [status 400]"
        );
        // -2022 is a spot cancel-replace failure but a USD-M reduce-only refusal.
        let e = VenueError {
            venue: Venue::UsdM,
            status: 400,
            code: -2022,
            msg: "ReduceOnly Order is rejected.".into(),
        };
        assert_eq!(
            e.to_string(),
            "Binance error -2022 (REDUCE_ONLY_REJECT): ReduceOnly Order is rejected. [status 400]"
        );
    }
}
