//! Minimal blocking HTTP/1.1 GET (plain TCP) for REST depth snapshots.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::WsError;

/// Largest response accepted (a 5000-level depth snapshot is about 300 KB).
const MAX_RESPONSE: usize = 64 << 20;

/// `GET path` from `addr` (`host:port`) over plain HTTP/1.1 with `Connection: close`.
/// Returns the body of a 2xx response (`Content-Length`, chunked, or read to EOF).
/// `timeout` bounds the whole exchange (connect, send, receive).
pub fn http_get(addr: &str, path: &str, timeout: Duration) -> Result<Vec<u8>, WsError> {
    http_get_with_headers(addr, path, &[], timeout)
}

/// [`http_get`] with extra request headers (e.g. `("Authorization", "Bearer …")`).
/// A name or value containing CR or LF is refused as [`WsError::BadUrl`].
pub fn http_get_with_headers(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Vec<u8>, WsError> {
    if headers
        .iter()
        .any(|(n, v)| n.contains(['\r', '\n']) || v.contains(['\r', '\n']))
    {
        return Err(WsError::BadUrl("header contains CR or LF".into()));
    }
    let deadline = Instant::now() + timeout;
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| WsError::BadUrl(format!("{addr}: {e}")))?
        .next()
        .ok_or_else(|| WsError::BadUrl(format!("{addr}: no address")))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout)?;
    stream.set_nodelay(true)?;
    let left = |d: Instant| {
        d.checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(WsError::Timeout("HTTP request"))
    };
    stream.set_write_timeout(Some(left(deadline)?))?;
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        req.push_str(name);
        req.push_str(": ");
        req.push_str(value);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;

    let mut buf = Vec::with_capacity(1 << 16);
    let mut chunk = [0u8; 1 << 14];
    // Header end, status, framing.
    let mut head: Option<(usize, u16, Framing)> = None;
    loop {
        if let Some((start, _, framing)) = &head {
            if let Some(done) = framing.complete(&buf[*start..])? {
                let (_, code, _) = head.unwrap();
                let body = done;
                return finish(code, body);
            }
        } else if let Some(end) = find(&buf, b"\r\n\r\n") {
            let (code, framing) = parse_head(&buf[..end])?;
            head = Some((end + 4, code, framing));
            continue;
        }
        stream.set_read_timeout(Some(left(deadline)?))?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Err(WsError::Timeout("HTTP response"))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            // EOF: only a body without length framing may end here.
            return match head {
                Some((start, code, Framing::ToEof)) => finish(code, buf[start..].to_vec()),
                Some(_) => Err(WsError::BadResponse("connection closed mid-body".into())),
                None => Err(WsError::BadResponse(
                    "connection closed before headers".into(),
                )),
            };
        }
        if buf.len() + n > MAX_RESPONSE {
            return Err(WsError::BadResponse(format!(
                "response larger than {MAX_RESPONSE} bytes"
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `GET /api/v3/depth?symbol=SYMBOL&limit=LIMIT` (Binance spot REST depth snapshot).
pub fn depth_snapshot(
    addr: &str,
    symbol: &str,
    limit: u32,
    timeout: Duration,
) -> Result<Vec<u8>, WsError> {
    http_get(
        addr,
        &format!("/api/v3/depth?symbol={symbol}&limit={limit}"),
        timeout,
    )
}

fn finish(code: u16, body: Vec<u8>) -> Result<Vec<u8>, WsError> {
    if (200..300).contains(&code) {
        Ok(body)
    } else {
        let shown = &body[..body.len().min(200)];
        Err(WsError::HttpStatus {
            code,
            body: String::from_utf8_lossy(shown).into_owned(),
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Framing {
    Length(usize),
    Chunked,
    ToEof,
}

impl Framing {
    /// The body once `data` (everything after the headers) holds all of it.
    fn complete(&self, data: &[u8]) -> Result<Option<Vec<u8>>, WsError> {
        match *self {
            Framing::Length(n) => Ok((data.len() >= n).then(|| data[..n].to_vec())),
            Framing::Chunked => dechunk(data, MAX_RESPONSE),
            Framing::ToEof => Ok(None),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> Result<(u16, Framing), WsError> {
    let text = std::str::from_utf8(head)
        .map_err(|_| WsError::BadResponse("headers are not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    let mut parts = status.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(WsError::BadResponse(format!("status line {status:?}")));
    }
    let code: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| WsError::BadResponse(format!("status line {status:?}")))?;
    let mut framing = Framing::ToEof;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(WsError::BadResponse(format!("header line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length")
            && !matches!(framing, Framing::Chunked)
        {
            let n: usize = value
                .parse()
                .map_err(|_| WsError::BadResponse(format!("Content-Length {value:?}")))?;
            if n > MAX_RESPONSE {
                return Err(WsError::BadResponse(format!(
                    "Content-Length {n} too large"
                )));
            }
            framing = Framing::Length(n);
        }
    }
    Ok((code, framing))
}

/// Decodes a chunked (`Transfer-Encoding: chunked`) HTTP/1.1 body; `None` while
/// incomplete. A chunk larger than `max` bytes, a bad size line or a chunk not
/// followed by CRLF is [`WsError::BadResponse`].
pub fn dechunk(mut data: &[u8], max: usize) -> Result<Option<Vec<u8>>, WsError> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = find(data, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&data[..eol])
            .map_err(|_| WsError::BadResponse("chunk size is not UTF-8".into()))?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| WsError::BadResponse(format!("chunk size {size_text:?}")))?;
        data = &data[eol + 2..];
        if size == 0 {
            // Trailers (ignored) end with an empty line.
            return Ok(find(data, b"\r\n").map(|_| body));
        }
        let end = size.checked_add(2).filter(|_| size <= max).ok_or_else(|| {
            WsError::BadResponse(format!("chunk of {size} bytes is larger than {max}"))
        })?;
        if data.len() < end {
            return Ok(None);
        }
        if &data[size..end] != b"\r\n" {
            return Err(WsError::BadResponse("chunk not followed by CRLF".into()));
        }
        body.extend_from_slice(&data[..size]);
        data = &data[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n", MAX_RESPONSE).unwrap(),
            Some(b"Wikipedia".to_vec())
        );
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5\r\nped", MAX_RESPONSE).unwrap(),
            None
        );
        assert!(dechunk(b"zz\r\n", MAX_RESPONSE).is_err());
    }

    #[test]
    fn oversized_chunks_are_bad_responses() {
        // usize::MAX used to overflow `size + 2` (a panic in debug builds, a slice
        // panic in release builds).
        for data in [
            &b"ffffffffffffffff\r\nX"[..],
            b"fffffffffffffffe\r\nX",
            b"4000001\r\nX",
        ] {
            let err = dechunk(data, MAX_RESPONSE).unwrap_err();
            assert!(
                matches!(&err, WsError::BadResponse(m) if m.contains("larger than")),
                "{err}"
            );
        }
        // At the cap the chunk is still awaited.
        assert_eq!(dechunk(b"4000000\r\nX", MAX_RESPONSE).unwrap(), None);
    }

    #[test]
    fn get_refuses_a_huge_chunk_size() {
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
            // Hold the connection open so only the chunk size can end the request.
            std::thread::sleep(Duration::from_millis(500));
        });
        let err = http_get(&addr, "/api/v3/depth", Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, WsError::BadResponse(_)), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn heads_parse() {
        let (c, f) = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 12").unwrap();
        assert_eq!(c, 200);
        assert!(matches!(f, Framing::Length(12)));
        let (c, f) = parse_head(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked").unwrap();
        assert_eq!(c, 404);
        assert!(matches!(f, Framing::Chunked));
        assert!(parse_head(b"SSH-2.0").is_err());
    }
}
