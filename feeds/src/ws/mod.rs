//! Non-blocking WebSocket market-data client: `mio` readiness + `tungstenite` framing.
//!
//! - [`WsClient`] drives many connections on one `mio::Poll` from the feed thread:
//!   handshake, optional subscription message, ping/pong and idle timeout, and reconnect
//!   with seeded, jittered exponential [`Backoff`]. Every text or binary frame goes to a
//!   [`MessageHandler`] as a mutable byte slice (for in-place parsing such as simd-json)
//!   with its receive timestamp; connection changes arrive as [`ConnEvent`]s.
//! - [`http_get`] / [`depth_snapshot`]: a small blocking HTTP/1.1 GET for REST depth
//!   snapshots, which the owner fetches after [`ConnEvent::Subscribed`] (every
//!   (re)connect) and whenever its depth sync reports a gap.
//! - [`testserver`]: a scripted loopback WebSocket + HTTP server for tests.
//!
//! Only plain `ws://` is supported: the build stays offline-friendly and every test runs
//! over loopback. `wss://` (all real Binance endpoints) needs a TLS stream (e.g. a
//! `rustls` feature wrapping the mio stream) added later; [`WsClient::add`] reports
//! [`WsError::Unsupported`] for it through [`ConnEvent::Disconnected`].
//!
//! The parser is pluggable: the client knows nothing about message contents.

mod client;
mod http;
pub mod testserver;

pub use client::{Backoff, ConnState, WsClient, WsConfig};
pub use http::{dechunk, depth_snapshot, http_get, http_get_with_headers};

use std::fmt;
use std::io;

/// Receives frames and connection events from [`WsClient::poll_once`].
pub trait MessageHandler {
    /// One text or binary data frame of connection `conn`. `payload` is the frame's
    /// bytes in a buffer reused by the client (mutable for in-place parsing; it is
    /// overwritten by the next frame). `recv_ns` is the owner's clock read right after
    /// the socket read that completed the frame, before any parsing; non-decreasing per
    /// connection (frames that came in one read share it).
    fn on_message(&mut self, conn: usize, recv_ns: u64, payload: &mut [u8]);
    /// A change of connection `conn`'s state.
    fn on_event(&mut self, conn: usize, ev: ConnEvent);
}

/// Connection life-cycle notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnEvent {
    /// The WebSocket handshake completed.
    Connected,
    /// The connection is gone (network error, close frame, idle timeout, bad frame
    /// that cannot be skipped, or a failed connect attempt).
    Disconnected {
        /// Why.
        reason: String,
    },
    /// A new connection attempt is scheduled after `delay_ms`.
    Reconnecting {
        /// 1 for the first retry after a loss, counting up until data flows again.
        attempt: u32,
        /// Backoff delay before the attempt.
        delay_ms: u64,
    },
    /// The subscription message (if any) was sent after `Connected`: the streams are
    /// live from here on. Depth books must be resynced (fetch a fresh snapshot).
    Subscribed,
    /// A frame was received but could not be delivered (a text frame that is not
    /// UTF-8); the connection stays up.
    Malformed {
        /// Why.
        reason: String,
    },
}

/// Errors of the WebSocket client and the HTTP helper.
#[derive(Debug)]
pub enum WsError {
    /// Socket or poll error.
    Io(io::Error),
    /// The URL is not `ws://host:port/path`.
    BadUrl(String),
    /// A feature this build lacks (e.g. `wss://`).
    Unsupported(String),
    /// WebSocket handshake or protocol error reported by tungstenite.
    Protocol(String),
    /// An operation did not finish in time.
    Timeout(&'static str),
    /// The HTTP server answered with a non-2xx status.
    HttpStatus {
        /// Status code.
        code: u16,
        /// The start of the response body, for the error message.
        body: String,
    },
    /// The HTTP response could not be understood.
    BadResponse(String),
    /// No such connection id.
    UnknownConn(usize),
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Io(e) => write!(f, "i/o error: {e}"),
            WsError::BadUrl(u) => {
                write!(f, "bad WebSocket URL {u:?} (expected ws://host:port/path)")
            }
            WsError::Unsupported(what) => write!(f, "unsupported: {what}"),
            WsError::Protocol(e) => write!(f, "WebSocket error: {e}"),
            WsError::Timeout(what) => write!(f, "timed out: {what}"),
            WsError::HttpStatus { code, body } => write!(f, "HTTP status {code}: {body}"),
            WsError::BadResponse(e) => write!(f, "bad HTTP response: {e}"),
            WsError::UnknownConn(c) => write!(f, "unknown connection {c}"),
        }
    }
}

impl std::error::Error for WsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WsError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for WsError {
    fn from(e: io::Error) -> Self {
        WsError::Io(e)
    }
}
