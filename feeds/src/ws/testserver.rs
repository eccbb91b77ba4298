//! Scripted loopback servers for tests: a WebSocket server that replays text frames
//! with injected faults, and a tiny HTTP responder for REST depth snapshots.
//!
//! Both listen on `127.0.0.1:0` in their own thread, serve their script, and stop at the
//! end of it or at their deadline, whichever comes first; every socket operation has a
//! timeout, so a test using them always ends.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::{Bytes, Message, WebSocket};

/// One action of a server session (one accepted connection).
#[derive(Clone, Debug)]
pub enum Step {
    /// Send a text frame.
    Text(String),
    /// Send a binary frame.
    Binary(Vec<u8>),
    /// Send a frame with the text opcode and arbitrary (e.g. non-UTF-8) bytes.
    RawText(Vec<u8>),
    /// Send a ping (the client's pong is counted in [`SessionLog::pongs`]).
    Ping(Vec<u8>),
    /// Send nothing for a while, but keep reading (client pings are answered).
    Idle(Duration),
    /// Neither read nor write for a while (client pings go unanswered).
    Stall(Duration),
    /// Close the TCP connection without a close frame; ends the session.
    Drop,
    /// Send a close frame, wait briefly for the reply, close; ends the session.
    Close,
}

/// The script for one accepted connection.
#[derive(Clone, Debug, Default)]
pub struct Session {
    /// Wait for the client's first text message (its SUBSCRIBE) before the steps.
    pub expect_subscribe: bool,
    /// What to do, in order. After the last step the session lingers (reading) until
    /// the client goes away or the server's deadline.
    pub steps: Vec<Step>,
}

/// What the server saw on one connection.
#[derive(Clone, Debug, Default)]
pub struct SessionLog {
    /// Request path (with query) of the handshake.
    pub path: String,
    /// Text messages received from the client, in order.
    pub received: Vec<String>,
    /// Pings received from the client.
    pub pings: usize,
    /// Pongs received from the client.
    pub pongs: usize,
    /// Data frames sent.
    pub sent: usize,
}

/// Faults to inject into a replay (see [`replay`]). Indexes are into the frame list.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Drop the TCP connection after sending this many frames (counting skipped ones);
    /// the next connection replays the rest.
    pub drop_after: Option<usize>,
    /// Frames never sent (a sequence gap).
    pub skip: Vec<usize>,
    /// Extra frames sent just before frame `i`, e.g. invalid UTF-8 or truncated JSON.
    pub malformed: Vec<(usize, Step)>,
    /// Send a ping before every `n`-th frame.
    pub ping_every: Option<usize>,
    /// Each session first waits for the client's subscription message.
    pub expect_subscribe: bool,
}

/// Builds sessions that replay `frames` in order with `faults`; each session ends with
/// a close handshake except the one cut by `drop_after`.
pub fn replay(frames: &[String], faults: &Faults) -> Vec<Session> {
    let mut sessions = Vec::new();
    let mut steps = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if faults.drop_after == Some(i) {
            steps.push(Step::Drop);
            sessions.push(Session {
                expect_subscribe: faults.expect_subscribe,
                steps: std::mem::take(&mut steps),
            });
        }
        if let Some(n) = faults.ping_every {
            if n > 0 && i > 0 && i % n == 0 {
                steps.push(Step::Ping(b"kestrel".to_vec()));
            }
        }
        for (at, step) in &faults.malformed {
            if *at == i {
                steps.push(step.clone());
            }
        }
        if !faults.skip.contains(&i) {
            steps.push(Step::Text(f.clone()));
        }
    }
    steps.push(Step::Close);
    sessions.push(Session {
        expect_subscribe: faults.expect_subscribe,
        steps,
    });
    sessions
}

/// A scripted WebSocket server on loopback. Serves its sessions one connection at a
/// time, in order; stops after the last or at its deadline.
#[derive(Debug)]
pub struct WsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<SessionLog>>>,
}

impl WsServer {
    /// Starts the server thread; `timeout` bounds its whole life.
    pub fn start(sessions: Vec<Session>, timeout: Duration) -> io::Result<WsServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let deadline = Instant::now() + timeout;
        let handle = thread::Builder::new()
            .name("ws-testserver".into())
            .spawn(move || {
                let mut logs = Vec::new();
                for s in sessions {
                    let Some(stream) = accept(&listener, deadline, &flag) else {
                        break;
                    };
                    let mut log = SessionLog::default();
                    run_session(stream, &s, deadline, &flag, &mut log);
                    logs.push(log);
                }
                logs
            })?;
        Ok(WsServer {
            addr,
            stop,
            handle: Some(handle),
        })
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Stops serving (at the next step) and returns the logs of the sessions served.
    pub fn stop(mut self) -> Vec<SessionLog> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn accept(listener: &TcpListener, deadline: Instant, stop: &AtomicBool) -> Option<TcpStream> {
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).ok()?;
                s.set_nodelay(true).ok()?;
                return Some(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(1))
            }
            Err(_) => return None,
        }
    }
    None
}

fn run_session(
    stream: TcpStream,
    s: &Session,
    deadline: Instant,
    stop: &AtomicBool,
    log: &mut SessionLog,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut path = String::new();
    // The callback's error type is tungstenite's (large) HTTP error response.
    #[allow(clippy::result_large_err)]
    let cb = |req: &tungstenite::handshake::server::Request,
              resp: tungstenite::handshake::server::Response| {
        path = req.uri().to_string();
        Ok(resp)
    };
    let Ok(mut ws) = tungstenite::accept_hdr(stream, cb) else {
        return;
    };
    log.path = path;
    let live = |stop: &AtomicBool| Instant::now() < deadline && !stop.load(Ordering::Relaxed);

    if s.expect_subscribe {
        let until = Instant::now() + Duration::from_secs(3);
        while log.received.is_empty() && Instant::now() < until && live(stop) {
            if !drain(&mut ws, log) {
                return;
            }
            thread::sleep(Duration::from_micros(200));
        }
    }
    for (n, step) in s.steps.iter().enumerate() {
        if !live(stop) {
            return;
        }
        let r = match step {
            Step::Text(t) => send(&mut ws, Message::text(t.as_str()), log),
            Step::Binary(b) => send(&mut ws, Message::binary(b.clone()), log),
            Step::RawText(b) => {
                let f = Frame::message(Bytes::from(b.clone()), OpCode::Data(Data::Text), true);
                send(&mut ws, Message::Frame(f), log)
            }
            Step::Ping(p) => ws
                .write(Message::Ping(Bytes::from(p.clone())))
                .and_then(|_| ws.flush())
                .is_ok(),
            Step::Idle(d) => {
                let _ = ws.flush();
                let until = Instant::now() + *d;
                let mut ok = true;
                while ok && Instant::now() < until && live(stop) {
                    ok = drain(&mut ws, log);
                    thread::sleep(Duration::from_millis(1));
                }
                ok
            }
            Step::Stall(d) => {
                let _ = ws.flush();
                let until = Instant::now() + *d;
                while Instant::now() < until && live(stop) {
                    thread::sleep(Duration::from_millis(2));
                }
                true
            }
            Step::Drop => {
                let _ = ws.flush();
                drain(&mut ws, log);
                let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
                return;
            }
            Step::Close => {
                let _ = ws.close(None);
                let until = Instant::now() + Duration::from_millis(200);
                while Instant::now() < until && drain(&mut ws, log) {
                    thread::sleep(Duration::from_millis(1));
                }
                return;
            }
        };
        if !r {
            return;
        }
        // Take what the client sent now and then (subscriptions, pings, pongs).
        if n % 64 == 63 {
            let _ = ws.flush();
            if !drain(&mut ws, log) {
                return;
            }
        }
    }
    // Linger: answer pings until the client leaves or the deadline.
    let _ = ws.flush();
    while live(stop) && drain(&mut ws, log) {
        thread::sleep(Duration::from_millis(1));
    }
}

fn send(ws: &mut WebSocket<TcpStream>, m: Message, log: &mut SessionLog) -> bool {
    let ok = ws.write(m).is_ok();
    log.sent += ok as usize;
    ok
}

/// Reads whatever the client sent, without waiting. False once the connection is gone.
fn drain(ws: &mut WebSocket<TcpStream>, log: &mut SessionLog) -> bool {
    if ws.get_mut().set_nonblocking(true).is_err() {
        return false;
    }
    let alive = drain_ready(ws, log);
    alive && ws.get_mut().set_nonblocking(false).is_ok()
}

fn drain_ready(ws: &mut WebSocket<TcpStream>, log: &mut SessionLog) -> bool {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => log.received.push(t.as_str().to_string()),
            Ok(Message::Ping(_)) => {
                log.pings += 1;
                let _ = ws.flush();
            }
            Ok(Message::Pong(_)) => log.pongs += 1,
            Ok(Message::Close(_)) => {
                let _ = ws.flush();
                return false;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                let _ = ws.flush();
                return true;
            }
            Err(_) => return false,
        }
    }
}

/// A canned HTTP response.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
    /// Send the body with `Transfer-Encoding: chunked` instead of `Content-Length`.
    pub chunked: bool,
}

impl HttpResponse {
    /// 200 with a JSON body and `Content-Length`.
    pub fn ok(body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status: 200,
            body: body.into(),
            chunked: false,
        }
    }
}

/// A tiny HTTP/1.1 responder on loopback: requests whose path starts with the given
/// prefix get the canned responses in order (the last one repeats), other paths 404.
/// One request per connection (`Connection: close`).
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<String>>>,
}

impl HttpServer {
    /// Starts the responder thread; `timeout` bounds its life.
    pub fn start(
        path_prefix: &str,
        responses: Vec<HttpResponse>,
        timeout: Duration,
    ) -> io::Result<HttpServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let prefix = path_prefix.to_string();
        let deadline = Instant::now() + timeout;
        let handle = thread::Builder::new()
            .name("http-testserver".into())
            .spawn(move || {
                let mut seen = Vec::new();
                let mut next = 0usize;
                while let Some(mut s) = accept(&listener, deadline, &flag) {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
                    let Some(path) = read_request(&mut s) else {
                        continue;
                    };
                    let resp = if path.starts_with(&prefix) && !responses.is_empty() {
                        let r = responses[next.min(responses.len() - 1)].clone();
                        next += 1;
                        r
                    } else {
                        HttpResponse {
                            status: 404,
                            body: br#"{"code":-1,"msg":"not found"}"#.to_vec(),
                            chunked: false,
                        }
                    };
                    seen.push(path);
                    let _ = write_response(&mut s, &resp);
                }
                seen
            })?;
        Ok(HttpServer {
            addr,
            stop,
            handle: Some(handle),
        })
    }

    /// `127.0.0.1:PORT`, as [`http_get`](super::http_get) takes it.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the responder and returns the request paths it served, in order.
    pub fn stop(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Reads a request head; returns the path of a GET.
fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 || buf.len() > 64 << 10 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next()?.split(' ');
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_string)
}

fn write_response(s: &mut TcpStream, r: &HttpResponse) -> io::Result<()> {
    let reason = if r.status == 200 { "OK" } else { "Error" };
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nConnection: close\r\n",
        r.status
    )
    .into_bytes();
    if r.chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for c in r.body.chunks(1000) {
            out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", r.body.len()).as_bytes());
        out.extend_from_slice(&r.body);
    }
    s.write_all(&out)?;
    s.flush()
}
