//! A small blocking HTTP/1.1 client for Binance REST over plain TCP (loopback tests;
//! a TLS stream would slot in where the `TcpStream` is). One persistent
//! (keep-alive) connection, reopened once when the server closed it; every call is
//! bounded by the timeout. Parameters go in the query string (Binance accepts them
//! there for every method); the API key goes in `X-MBX-APIKEY`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::clock::Clock;
use super::errors::BinanceError;

/// Largest response accepted.
const MAX_RESPONSE: usize = 16 << 20;

/// HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A response.
#[derive(Clone, Debug)]
pub struct RestResponse {
    /// HTTP status.
    pub status: u16,
    /// Monotonic ns (connector clock) when the request bytes were handed to the socket.
    pub sent_ns: u64,
    /// Local wall ms just before sending and just after the response (clock sync).
    pub wall_ms: (u64, u64),
    /// Headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Blocking REST client with one keep-alive connection.
#[derive(Debug)]
pub struct RestClient {
    addr: String,
    timeout: Duration,
    conn: Option<TcpStream>,
    req: Vec<u8>,
}

impl RestClient {
    /// A client for `host:port`.
    pub fn new(addr: &str, timeout: Duration) -> RestClient {
        RestClient {
            addr: addr.to_string(),
            timeout,
            conn: None,
            req: Vec::with_capacity(1024),
        }
    }

    /// Drops the connection (the next request opens a new one).
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// Sends `METHOD path?query` and reads the response. A reused connection that
    /// turns out closed before any response byte is reopened and the request sent
    /// once more (safe for orders: the client order id makes a resend idempotent).
    ///
    /// # Errors
    /// [`BinanceError::Transport`] for socket errors, timeouts and bad responses.
    pub fn request(
        &mut self,
        method: Method,
        path: &str,
        query: &str,
        api_key: Option<&str>,
        clock: &dyn Clock,
    ) -> Result<RestResponse, BinanceError> {
        self.req.clear();
        self.req.extend_from_slice(method.as_str().as_bytes());
        self.req.push(b' ');
        self.req.extend_from_slice(path.as_bytes());
        if !query.is_empty() {
            self.req.push(b'?');
            self.req.extend_from_slice(query.as_bytes());
        }
        self.req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        self.req.extend_from_slice(self.addr.as_bytes());
        self.req
            .extend_from_slice(b"\r\nAccept: application/json\r\nContent-Length: 0\r\n");
        if let Some(k) = api_key {
            self.req.extend_from_slice(b"X-MBX-APIKEY: ");
            self.req.extend_from_slice(k.as_bytes());
            self.req.extend_from_slice(b"\r\n");
        }
        self.req.extend_from_slice(b"\r\n");
        let reused = self.conn.is_some();
        match self.exchange(clock) {
            Err(Stale) if reused => {
                self.conn = None;
                self.exchange(clock).map_err(|e| e.into_error(path))
            }
            r => r.map_err(|e| e.into_error(path)),
        }
    }

    fn exchange(&mut self, clock: &dyn Clock) -> Result<RestResponse, Failure> {
        let deadline = Instant::now() + self.timeout;
        if self.conn.is_none() {
            let sock = self
                .addr
                .to_socket_addrs()
                .map_err(|e| Failure::Other(format!("resolve {}: {e}", self.addr)))?
                .next()
                .ok_or_else(|| Failure::Other(format!("{}: no address", self.addr)))?;
            let s = TcpStream::connect_timeout(&sock, self.timeout)
                .map_err(|e| Failure::Other(format!("connect {}: {e}", self.addr)))?;
            let _ = s.set_nodelay(true);
            self.conn = Some(s);
        }
        let Some(stream) = self.conn.as_mut() else {
            return Err(Failure::Other("no connection".into()));
        };
        let t0 = clock.wall_ms();
        stream
            .set_write_timeout(Some(self.timeout))
            .and_then(|_| stream.write_all(&self.req))
            .map_err(|_| Stale)?;
        let sent_ns = clock.mono_ns();
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 8192];
        let mut head: Option<ReadHead> = None;
        loop {
            if let Some((start, status, framing, _)) = &head {
                if let Some(body) = framing.complete(&buf[*start..])? {
                    let status = *status;
                    let keep = !matches!(framing, Framing::ToEof);
                    let headers = head.map(|h| h.3).unwrap_or_default();
                    if !keep
                        || headers.iter().any(|(n, v)| {
                            n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close")
                        })
                    {
                        self.conn = None;
                    }
                    return Ok(RestResponse {
                        status,
                        sent_ns,
                        wall_ms: (t0, clock.wall_ms()),
                        headers,
                        body,
                    });
                }
            } else if let Some(end) = find(&buf, b"\r\n\r\n") {
                let (status, framing, headers) = parse_head(&buf[..end])?;
                head = Some((end + 4, status, framing, headers));
                continue;
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(Failure::Other("timed out waiting for the response".into()))?;
            let Some(stream) = self.conn.as_mut() else {
                return Err(Failure::Other("no connection".into()));
            };
            let _ = stream.set_read_timeout(Some(left));
            let n = match stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if buf.is_empty()
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionReset
                                | std::io::ErrorKind::ConnectionAborted
                                | std::io::ErrorKind::BrokenPipe
                        ) =>
                {
                    return Err(Stale)
                }
                Err(e) => return Err(Failure::Other(format!("read: {e}"))),
            };
            if n == 0 {
                self.conn = None;
                return match head {
                    Some((start, status, Framing::ToEof, headers)) => Ok(RestResponse {
                        status,
                        sent_ns,
                        wall_ms: (t0, clock.wall_ms()),
                        headers,
                        body: buf[start..].to_vec(),
                    }),
                    _ if buf.is_empty() => Err(Stale),
                    _ => Err(Failure::Other("connection closed mid-response".into())),
                };
            }
            if buf.len() + n > MAX_RESPONSE {
                self.conn = None;
                return Err(Failure::Other(format!(
                    "response larger than {MAX_RESPONSE} bytes"
                )));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Why an exchange failed: the connection was stale (nothing came back) or worse.
enum Failure {
    Stale,
    Other(String),
}
use Failure::{Other as _Other, Stale};

impl Failure {
    fn into_error(self, path: &str) -> BinanceError {
        match self {
            Stale => {
                BinanceError::Transport(format!("{path}: connection closed before the response"))
            }
            Failure::Other(m) => BinanceError::Transport(format!("{path}: {m}")),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Framing {
    Length(usize),
    Chunked,
    ToEof,
}

impl Framing {
    fn complete(&self, data: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        match *self {
            Framing::Length(n) => Ok((data.len() >= n).then(|| data[..n].to_vec())),
            Framing::Chunked => {
                kestrel_feeds::ws::dechunk(data, MAX_RESPONSE).map_err(|e| _Other(e.to_string()))
            }
            Framing::ToEof => Ok(None),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

type Head = (u16, Framing, Vec<(String, String)>);

/// Body start, status, framing and headers of a response being read.
type ReadHead = (usize, u16, Framing, Vec<(String, String)>);

fn parse_head(head: &[u8]) -> Result<Head, Failure> {
    let text = std::str::from_utf8(head).map_err(|_| _Other("headers are not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let ok_version = parts.next().is_some_and(|v| v.starts_with("HTTP/1."));
    let status = parts
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|_| ok_version)
        .ok_or_else(|| _Other(format!("bad status line {status_line:?}")))?;
    let mut framing = Framing::ToEof;
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(_Other(format!("bad header line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length")
            && !matches!(framing, Framing::Chunked)
        {
            let n: usize = value
                .parse()
                .ok()
                .filter(|n| *n <= MAX_RESPONSE)
                .ok_or_else(|| _Other(format!("bad Content-Length {value:?}")))?;
            framing = Framing::Length(n);
        }
        headers.push((name.trim().to_string(), value.to_string()));
    }
    Ok((status, framing, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_chunks() {
        let (s, f, h) =
            match parse_head(b"HTTP/1.1 200 OK\r\nX-MBX-USED-WEIGHT-1M: 7\r\nContent-Length: 2") {
                Ok(x) => x,
                Err(_) => panic!("head"),
            };
        assert_eq!(s, 200);
        assert!(matches!(f, Framing::Length(2)));
        assert_eq!(h[0], ("X-MBX-USED-WEIGHT-1M".to_string(), "7".to_string()));
        assert!(parse_head(b"SSH-2.0").is_err());
        let chunked = |d: &[u8]| match Framing::Chunked.complete(d) {
            Ok(b) => Ok(b),
            Err(Failure::Other(m)) => Err(m),
            Err(Stale) => Err("stale".into()),
        };
        assert_eq!(chunked(b"2\r\n{}\r\n0\r\n\r\n"), Ok(Some(b"{}".to_vec())));
        assert_eq!(chunked(b"2\r\n{"), Ok(None));
        // usize::MAX used to overflow `size + 2` and panic.
        let err = chunked(b"ffffffffffffffff\r\nX").unwrap_err();
        assert!(err.contains("larger than"), "{err}");
        // A chunk not followed by CRLF used to lose its next two bytes silently.
        assert!(chunked(b"2\r\n{}xx0\r\n\r\n").is_err());
    }

    #[test]
    fn request_refuses_a_huge_chunk_size() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req);
            s.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nX",
            )
            .unwrap();
            std::thread::sleep(Duration::from_millis(500));
        });
        let clock = super::super::clock::SystemClock::default();
        let mut client = RestClient::new(&addr, Duration::from_secs(5));
        match client.request(Method::Get, "/api/v3/time", "", None, &clock) {
            Err(BinanceError::Transport(m)) => assert!(m.contains("larger than"), "{m}"),
            other => panic!("{other:?}"),
        }
        server.join().unwrap();
    }
}
