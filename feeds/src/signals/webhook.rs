//! HTTP webhook signal source: a blocking `std` listener, one request per connection
//! (`Connection: close`), requests parsed with `httparse`.
//!
//! Requests are served one at a time on the source's thread; each has a deadline of
//! `request_timeout_ms` for the whole read, so a slow or silent client delays the next
//! one by at most that. Limits: head 8 KiB and 64 headers (431), body
//! `max_body_bytes` (413), `Content-Length` required (411; chunked bodies are refused).
//! `Expect: 100-continue` is answered, so `curl` does not stall on larger bodies.
//!
//! Order of checks: HTTP framing → authentication (HMAC header, or shared-secret
//! header) → JSON → shared secret in the body (when no header carried it). An
//! HMAC-authenticated request is thus proven to come from the master before its JSON
//! is even looked at.

use super::{
    Authenticator, ReceivedSignal, SignalParser, SourceCounters, SourceHandle, LOG_TARGET,
};
use kestrel_engine::config::SignalSourceConfig;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request head accepted, bytes.
const MAX_HEAD: usize = 8 << 10;
/// Most headers accepted.
const MAX_HEADERS: usize = 64;

/// A webhook server that forwards authenticated signals (see the module docs).
#[derive(Debug)]
pub struct WebhookSource {
    listener: TcpListener,
    addr: SocketAddr,
    parser: SignalParser,
    auth: Authenticator,
    clock: fn() -> u64,
    max_body: usize,
    timeout: Duration,
    counters: Arc<SourceCounters>,
}

/// A refusal: status (0: no response), counter and reason.
#[derive(Debug)]
struct Refusal {
    status: u16,
    kind: Kind,
    reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Auth,
    Malformed,
    Transport,
}

fn refuse(status: u16, kind: Kind, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        kind,
        reason: reason.into(),
    }
}

/// Header values the server needs, copied out of the parsed head.
#[derive(Default)]
struct Head {
    content_length: Option<usize>,
    signature: Option<Vec<u8>>,
    secret: Option<super::Secret>,
    expect_continue: bool,
}

impl WebhookSource {
    /// Binds `cfg.bind` (loopback by default). `clock` gives monotonic ns.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn bind(
        cfg: &SignalSourceConfig,
        parser: SignalParser,
        auth: Authenticator,
        clock: fn() -> u64,
    ) -> io::Result<WebhookSource> {
        let listener = TcpListener::bind(cfg.bind.as_str())?;
        let addr = listener.local_addr()?;
        Ok(WebhookSource {
            listener,
            addr,
            parser,
            auth,
            clock,
            max_body: cfg.max_body_bytes,
            timeout: Duration::from_millis(cfg.request_timeout_ms),
            counters: Arc::new(SourceCounters::default()),
        })
    }

    /// The source's counters.
    pub fn counters(&self) -> super::CounterSnapshot {
        self.counters.snapshot()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves requests until `stop` is set and a connection (any, e.g. the one
    /// [`SourceHandle::stop`] makes) wakes the blocking accept.
    pub fn run(&mut self, stop: &AtomicBool, sink: &mut impl FnMut(ReceivedSignal)) {
        log::info!(target: LOG_TARGET, "webhook listening on {}", self.addr);
        while !stop.load(Ordering::Relaxed) {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    self.serve(stream, peer, sink);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!(target: LOG_TARGET, "webhook {}: accept: {e}", self.addr);
                    SourceCounters::bump(&self.counters.transport_errors);
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    /// Starts [`run`](Self::run) on a thread named `signals-webhook`.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn spawn<F>(mut self, mut sink: F) -> io::Result<SourceHandle>
    where
        F: FnMut(ReceivedSignal) + Send + 'static,
    {
        let counters = self.counters.clone();
        let addr = self.addr;
        let mut h = SourceHandle::start("signals-webhook", counters, Some(addr), move |stop| {
            self.run(stop, &mut sink)
        })?;
        h.wake = Some(wake_addr(addr));
        Ok(h)
    }

    fn serve(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        sink: &mut impl FnMut(ReceivedSignal),
    ) {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(self.timeout));
        let r = match self.handle(&mut stream, sink) {
            Ok(id) => {
                let body = format!("{{\"ok\":true,\"id\":\"{id:016x}\"}}");
                let _ = respond(&mut stream, 200, &body);
                return;
            }
            Err(r) => r,
        };
        let counter = match r.kind {
            Kind::Auth => &self.counters.rejected_auth,
            Kind::Malformed => &self.counters.rejected_malformed,
            Kind::Transport => &self.counters.transport_errors,
        };
        SourceCounters::bump(counter);
        log::warn!(
            target: LOG_TARGET,
            "webhook {}: refused request from {peer}: {} {}",
            self.addr,
            r.status,
            r.reason
        );
        if r.status == 0 {
            return;
        }
        let body = format!("{{\"ok\":false,\"error\":\"{}\"}}", json_escape(&r.reason));
        let _ = respond(&mut stream, r.status, &body);
        // Lingering close: a refused request may leave body bytes unread, and closing
        // with unread data resets the connection, which can discard the response
        // before the client reads it. Drain briefly (100 ms, 64 KiB) first.
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        let mut scratch = [0u8; 4096];
        let mut left = 64usize << 10;
        while let Ok(n) = stream.read(&mut scratch) {
            if n == 0 || n >= left {
                break;
            }
            left -= n;
        }
    }

    /// Reads, authenticates and forwards one request; returns the signal id.
    fn handle(
        &mut self,
        stream: &mut TcpStream,
        sink: &mut impl FnMut(ReceivedSignal),
    ) -> Result<u64, Refusal> {
        let deadline = Instant::now() + self.timeout;
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        let (head_len, head) = loop {
            if let Some(parsed) = parse_head(&buf)? {
                break parsed;
            }
            if buf.len() > MAX_HEAD {
                return Err(refuse(
                    431,
                    Kind::Malformed,
                    "request head larger than 8 KiB",
                ));
            }
            read_some(stream, &mut buf, &mut chunk, deadline)?;
        };
        let len = head.content_length.ok_or_else(|| {
            refuse(
                411,
                Kind::Malformed,
                "Content-Length is required (chunked bodies are not accepted)",
            )
        })?;
        if len > self.max_body {
            return Err(refuse(
                413,
                Kind::Malformed,
                format!(
                    "body of {len} bytes exceeds the {}-byte limit",
                    self.max_body
                ),
            ));
        }
        if head.expect_continue {
            let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        while buf.len() < head_len + len {
            read_some(stream, &mut buf, &mut chunk, deadline)?;
        }
        let recv_ns = (self.clock)();
        let body = &mut buf[head_len..head_len + len];

        let header_checked = match &self.auth {
            Authenticator::Hmac(_) => {
                self.auth
                    .check_hmac(body, head.signature.as_deref())
                    .map_err(|e| refuse(401, Kind::Auth, e.to_string()))?;
                true
            }
            Authenticator::SharedSecret(_) => match &head.secret {
                Some(s) => {
                    self.auth
                        .check_shared(Some(s.expose()), "X-Signal-Secret header")
                        .map_err(|e| refuse(401, Kind::Auth, e.to_string()))?;
                    true
                }
                None => false,
            },
        };
        let parsed = self
            .parser
            .parse(body)
            .map_err(|e| refuse(400, Kind::Malformed, e.to_string()))?;
        if !header_checked {
            self.auth
                .check_shared(parsed.secret.as_ref().map(|s| s.expose()), "secret field")
                .map_err(|e| refuse(401, Kind::Auth, e.to_string()))?;
        }
        SourceCounters::bump(&self.counters.accepted);
        log::info!(
            target: LOG_TARGET,
            "webhook {}: signal {:?} {:?} {} i{} amount {}",
            self.addr,
            parsed.id_text,
            parsed.signal.action,
            parsed.signal.side.as_str(),
            parsed.signal.instrument,
            parsed.signal.amount
        );
        sink(ReceivedSignal {
            signal: parsed.signal,
            recv_ns,
        });
        Ok(parsed.signal.id)
    }
}

/// Where to connect to wake a blocking accept on `addr` (unspecified → loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

/// One read into `buf`, bounded by `deadline`.
fn read_some(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    chunk: &mut [u8],
    deadline: Instant,
) -> Result<(), Refusal> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| refuse(408, Kind::Transport, "request not received in time"))?;
    let _ = stream.set_read_timeout(Some(left));
    loop {
        return match stream.read(chunk) {
            Ok(0) => Err(refuse(
                0,
                Kind::Transport,
                "client closed the connection mid-request",
            )),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(refuse(408, Kind::Transport, "request not received in time"))
            }
            Err(e) => Err(refuse(0, Kind::Transport, format!("read: {e}"))),
        };
    }
}

/// The head's length and the values needed from it, once complete.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, Head)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(refuse(431, Kind::Malformed, "more than 64 headers"))
        }
        Err(e) => {
            return Err(refuse(
                400,
                Kind::Malformed,
                format!("bad HTTP request: {e}"),
            ))
        }
    };
    if req.method != Some("POST") {
        return Err(refuse(
            405,
            Kind::Malformed,
            format!(
                "method {} not allowed; POST the signal",
                req.method.unwrap_or("?")
            ),
        ));
    }
    let mut head = Head::default();
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(refuse(
                411,
                Kind::Malformed,
                "Content-Length is required (chunked bodies are not accepted)",
            ));
        } else if name.eq_ignore_ascii_case("content-length") {
            let len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| refuse(400, Kind::Malformed, "bad Content-Length"))?;
            if head.content_length.is_some_and(|l| l != len) {
                return Err(refuse(
                    400,
                    Kind::Malformed,
                    "conflicting Content-Length headers",
                ));
            }
            head.content_length = Some(len);
        } else if name.eq_ignore_ascii_case("x-signature") {
            head.signature = Some(trim(h.value).to_vec());
        } else if name.eq_ignore_ascii_case("x-signal-secret") {
            head.secret = Some(super::Secret::new(trim(h.value).to_vec()));
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = trim(h.value).eq_ignore_ascii_case(b"100-continue");
        }
    }
    Ok(Some((n, head)))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let allow = if status == 405 { "Allow: POST\r\n" } else { "" };
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes())?;
    stream.flush()
}

/// Escapes `s` for a JSON string literal.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_refuse() {
        let (n, h) = parse_head(
            b"POST /hook HTTP/1.1\r\nContent-Length: 12\r\nX-Signature:  ab12 \r\nExpect: 100-Continue\r\n\r\nrest",
        )
        .unwrap()
        .unwrap();
        assert_eq!(n, 86);
        assert_eq!(h.content_length, Some(12));
        assert_eq!(h.signature.as_deref(), Some(&b"ab12"[..]));
        assert!(h.expect_continue);
        assert!(parse_head(b"POST / HTTP/1.1\r\nContent-Le")
            .unwrap()
            .is_none());
        let status = |b: &[u8]| parse_head(b).err().map(|r| (r.status, r.reason));
        assert_eq!(
            status(b"GET / HTTP/1.1\r\n\r\n"),
            Some((405, "method GET not allowed; POST the signal".into()))
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").map(|s| s.0),
            Some(411)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Some((400, "bad Content-Length".into()))
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Some((400, "conflicting Content-Length headers".into()))
        );
        assert_eq!(status(b"\x00\x01 junk\r\n\r\n").map(|s| s.0), Some(400));
    }

    #[test]
    fn reasons_are_escaped() {
        assert_eq!(json_escape("pair \"X\\Y\"\n"), "pair \\\"X\\\\Y\\\"\\u000a");
    }
}
