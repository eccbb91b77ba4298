//! [`WsClient`]: many WebSocket connections on one `mio::Poll`.
//!
//! Each connection owns a small socket wrapper that reads the TCP stream into its own
//! buffer; the receive timestamp is taken right after that `read(2)` returns, before
//! tungstenite decodes frames from the bytes, so every frame completed by one socket
//! read carries the time of that read.
//!
//! Allocation in steady state (measured in `tests/ws_alloc.rs`: zero per message):
//! tungstenite splits each frame's payload off its input `BytesMut` (a reference-count
//! bump, no allocation once the buffer is in shared mode) and reclaims the space on the
//! next read because the client drops the payload first; the client copies the payload
//! into one reused scratch buffer (grown to the largest message) so the handler can
//! mutate it. tungstenite zero-fills the part of its buffer it reads into before every
//! read of its own, so it takes the socket buffer 1 KiB at a time. Allocations remain
//! on connect (handshake request and response, buffers), on close frames and on errors
//! (error messages, event strings).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::MidHandshake;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Bytes, HandshakeError, Message, WebSocket};

use super::{ConnEvent, MessageHandler, WsError};
use crate::synthetic::SplitMix64;

/// Client settings.
#[derive(Clone, Debug)]
pub struct WsConfig {
    /// Send a ping when nothing has arrived for this long.
    pub idle_ping: Duration,
    /// Drop the connection when nothing (not even a pong) has arrived for this long.
    pub idle_timeout: Duration,
    /// Limit for TCP connect plus WebSocket handshake.
    pub connect_timeout: Duration,
    /// First reconnect delay.
    pub backoff_base: Duration,
    /// Largest reconnect delay.
    pub backoff_cap: Duration,
    /// Seed of the backoff jitter (each connection mixes in its id).
    pub seed: u64,
    /// Reconnect after a loss (false: a lost connection stays closed).
    pub reconnect: bool,
    /// Largest message (and frame) accepted; a larger one drops the connection.
    pub max_message_size: usize,
    /// Bytes read from the socket per `read(2)`.
    pub read_chunk: usize,
    /// Frames delivered per connection per [`WsClient::poll_once`] before moving on to
    /// the others (the rest is read on the next call without waiting).
    pub max_frames_per_poll: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            idle_ping: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(5),
            seed: 0x6b65_7374_7265_6c00,
            reconnect: true,
            max_message_size: 8 << 20,
            read_chunk: 16 << 10,
            max_frames_per_poll: 4096,
        }
    }
}

/// Jittered exponential backoff from a seeded [`SplitMix64`]: deterministic for a seed.
///
/// Attempt `n` (1-based) draws uniformly (whole milliseconds) from
/// `[max(base, e/2), e]` where `e = min(cap, base * 2^(n-1))`, so every delay lies in
/// `[base, cap]`.
#[derive(Clone, Debug)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
    rng: SplitMix64,
}

impl Backoff {
    /// Backoff between `base` and `cap` (a cap below the base is raised to it).
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Backoff {
        let base_ms = (base.as_millis() as u64).max(1);
        Backoff {
            base_ms,
            cap_ms: (cap.as_millis() as u64).max(base_ms),
            rng: SplitMix64::new(seed),
        }
    }

    /// Delay before attempt `attempt` (1 for the first retry).
    pub fn delay(&mut self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(32);
        let e = self.base_ms.saturating_mul(1u64 << shift).min(self.cap_ms);
        let lo = (e / 2).max(self.base_ms);
        Duration::from_millis(lo + self.rng.below(e - lo + 1))
    }
}

/// Where a connection is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting for the next connect attempt.
    Waiting,
    /// TCP connect in progress.
    Connecting,
    /// WebSocket handshake in progress.
    Handshaking,
    /// Open: frames flow.
    Open,
    /// Closed for good (by the owner, or lost with reconnect disabled).
    Closed,
}

/// Bytes tungstenite copies out of the socket buffer per read of its own. It zero-fills
/// that much of its input buffer before every such read, and reads once more after the
/// last frame of a socket read (to learn the buffer is dry), so this is small: a book
/// ticker (~200 bytes) costs one read, a larger message one per kilobyte; the socket
/// itself is still read `read_chunk` bytes at a time.
const FRAME_READ_CHUNK: usize = 1024;

/// The TCP stream with a receive buffer filled outside tungstenite (see module docs).
struct Sock {
    tcp: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// During the handshake tungstenite reads the socket directly.
    passthrough: bool,
    eof: bool,
    /// Bytes tungstenite has taken from `buf` since the handshake.
    taken: u64,
    /// Bytes of the frames it has returned from them (header sizes worked out from the
    /// payloads'). Once `buf` is used up, `framed == taken` means tungstenite most
    /// likely holds nothing either (see [`Sock::dry`]).
    framed: u64,
}

impl Sock {
    fn new(tcp: TcpStream, chunk: usize) -> Sock {
        Sock {
            tcp,
            buf: vec![0; chunk.max(4096)],
            pos: 0,
            len: 0,
            passthrough: true,
            eof: false,
            taken: 0,
            framed: 0,
        }
    }

    /// Notes a frame tungstenite returned, by its payload's size (a server's frames
    /// are unmasked: 2 header bytes, 2 or 8 more for longer payloads).
    fn note_frame(&mut self, payload: usize) {
        let header = match payload {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        };
        self.framed += (header + payload) as u64;
    }

    /// True when neither this buffer nor, most likely, tungstenite's holds a frame, so
    /// the read that would learn it can wait for the next poll. The count is off after
    /// a message in several frames, a text frame that is not UTF-8, frames read with
    /// the handshake, or a resync beside a frame not yet whole: until the next resync
    /// it then (almost always) says no, costing the read it would have saved; were it
    /// wrong the other way, the next poll, made at once, would read what is left.
    /// Nothing is lost either way.
    fn dry(&self) -> bool {
        self.pos >= self.len && self.framed == self.taken
    }

    /// One socket read into the (consumed) buffer. `Ok(0)`: end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        debug_assert!(self.pos >= self.len);
        loop {
            match self.tcp.read(&mut self.buf) {
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    self.eof |= n == 0;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Read for Sock {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.len {
            let n = out.len().min(self.len - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            self.taken += n as u64;
            Ok(n)
        } else if self.passthrough {
            self.tcp.read(out)
        } else if self.eof {
            Ok(0)
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}

impl Write for Sock {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.tcp.write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

enum Phase {
    Waiting,
    Connecting(Sock),
    Handshaking(MidHandshake<ClientHandshake<Sock>>),
    Open(WebSocket<Sock>),
    Closed,
}

struct Conn {
    url: String,
    subscribe: Option<String>,
    phase: Phase,
    /// Next connect attempt (while `Waiting`).
    retry_at: Instant,
    /// Connect + handshake deadline.
    deadline: Instant,
    last_rx: Instant,
    /// Frames arrived since `last_rx` was last set: noted at the next poll's start, so
    /// no clock read sits between a socket read and the owner's use of its frames.
    rx_unnoted: bool,
    ping_sent: bool,
    attempt: u32,
    backoff: Backoff,
    /// Receive time of the latest socket read.
    stamp: u64,
    /// Read budget ran out: read again without waiting.
    more: bool,
    /// Owner asked for a reconnect / a close.
    reconnect_requested: bool,
    close_requested: bool,
}

/// Non-blocking WebSocket client: any number of `ws://` connections on one poll.
/// See the [module docs](super) and [`WsClient::poll_once`].
pub struct WsClient {
    cfg: WsConfig,
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    ready: Vec<usize>,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsClient")
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl WsClient {
    /// A client with no connections.
    pub fn new(cfg: WsConfig) -> Result<WsClient, WsError> {
        Ok(WsClient {
            cfg,
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            conns: Vec::new(),
            ready: Vec::with_capacity(256),
            scratch: Vec::with_capacity(1 << 16),
        })
    }

    /// Adds a connection to `url` (`ws://host:port/path?query`); it connects on the next
    /// [`poll_once`](Self::poll_once). `subscribe` (e.g. Binance's
    /// `{"method":"SUBSCRIBE","params":[...],"id":1}`) is sent after every handshake.
    /// Returns the connection id passed to the handler. A bad or `wss://` URL is
    /// reported as [`ConnEvent::Disconnected`] and the connection closes.
    pub fn add(&mut self, url: &str, subscribe: Option<String>) -> usize {
        let id = self.conns.len();
        let now = Instant::now();
        let seed = self.cfg.seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.conns.push(Conn {
            url: url.to_string(),
            subscribe,
            phase: Phase::Waiting,
            retry_at: now,
            deadline: now,
            last_rx: now,
            rx_unnoted: false,
            ping_sent: false,
            attempt: 0,
            backoff: Backoff::new(self.cfg.backoff_base, self.cfg.backoff_cap, seed),
            stamp: 0,
            more: false,
            reconnect_requested: false,
            close_requested: false,
        });
        id
    }

    /// Number of connections added.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when no connection was added.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// State of connection `conn`.
    pub fn state(&self, conn: usize) -> Result<ConnState, WsError> {
        let c = self.conns.get(conn).ok_or(WsError::UnknownConn(conn))?;
        Ok(match c.phase {
            Phase::Waiting => ConnState::Waiting,
            Phase::Connecting(_) => ConnState::Connecting,
            Phase::Handshaking(_) => ConnState::Handshaking,
            Phase::Open(_) => ConnState::Open,
            Phase::Closed => ConnState::Closed,
        })
    }

    /// Drops connection `conn` and reconnects it (with backoff) on the next poll, e.g.
    /// when its books cannot be resynced. Events follow as for a lost connection.
    pub fn reconnect(&mut self, conn: usize) -> Result<(), WsError> {
        let c = self.conns.get_mut(conn).ok_or(WsError::UnknownConn(conn))?;
        c.reconnect_requested = true;
        Ok(())
    }

    /// Closes connection `conn` for good on the next poll (one `Disconnected` event).
    pub fn close(&mut self, conn: usize) -> Result<(), WsError> {
        let c = self.conns.get_mut(conn).ok_or(WsError::UnknownConn(conn))?;
        c.close_requested = true;
        Ok(())
    }

    /// Sends a text message (e.g. a further SUBSCRIBE) on an open connection.
    pub fn send_text(&mut self, conn: usize, text: &str) -> Result<(), WsError> {
        let c = self.conns.get_mut(conn).ok_or(WsError::UnknownConn(conn))?;
        let Phase::Open(ws) = &mut c.phase else {
            return Err(WsError::Protocol("connection is not open".into()));
        };
        ws.write(Message::text(text)).map_err(ws_err)?;
        match ws.flush() {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(ws_err(e)),
        }
    }

    /// Waits up to `timeout` for socket readiness (less when a timer such as a ping,
    /// an idle timeout or a reconnect falls due first), then delivers every frame that
    /// can be read without blocking, answers pings, sends due pings and runs connect,
    /// handshake, timeout and reconnect steps. `now_ns` is the owner's clock for receive
    /// timestamps. Returns the number of frames delivered. Never blocks longer than
    /// `timeout`; an `Err` is a failure of the poll itself. Timers run at the start of
    /// every call, and again at its end only after a wait that delivered nothing, so an
    /// owner spinning with a zero timeout pays for them once per look.
    pub fn poll_once(
        &mut self,
        timeout: Duration,
        handler: &mut impl MessageHandler,
        now_ns: impl Fn() -> u64,
    ) -> Result<usize, WsError> {
        let mut delivered = 0;
        self.timers(handler, &now_ns, &mut delivered);

        let mut wait = timeout;
        // A zero timeout (a spinning owner) needs no deadline: it looks and returns.
        if !wait.is_zero() {
            let now = Instant::now();
            for c in &self.conns {
                if c.more || c.reconnect_requested || c.close_requested {
                    wait = Duration::ZERO;
                }
                if let Some(at) = self.next_deadline(c) {
                    wait = wait.min(at.saturating_duration_since(now));
                }
            }
        }
        match self.poll.poll(&mut self.events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        self.ready.clear();
        self.ready.extend(self.events.iter().map(|e| e.token().0));
        // Connections whose read budget ran out on an earlier call read on without an
        // event (edge-triggered readiness will not report those bytes again).
        for id in 0..self.conns.len() {
            if std::mem::take(&mut self.conns[id].more) && !self.ready.contains(&id) {
                self.ready.push(id);
            }
        }
        for i in 0..self.ready.len() {
            let id = self.ready[i];
            if id < self.conns.len() {
                self.service(id, handler, &now_ns, &mut delivered);
            }
        }
        // Timers that fell due while waiting run now. With frames delivered the owner
        // has them to use first: the next call, which does not wait (those connections
        // read on), runs the timers before anything; so does a spinning owner's next
        // call (zero timeout), a moment after this one's.
        if delivered == 0 && !timeout.is_zero() {
            self.timers(handler, &now_ns, &mut delivered);
        }
        Ok(delivered)
    }

    fn next_deadline(&self, c: &Conn) -> Option<Instant> {
        match c.phase {
            Phase::Waiting => Some(c.retry_at),
            Phase::Connecting(_) | Phase::Handshaking(_) => Some(c.deadline),
            Phase::Open(_) => Some(if c.ping_sent {
                c.last_rx + self.cfg.idle_timeout
            } else {
                c.last_rx + self.cfg.idle_ping.min(self.cfg.idle_timeout)
            }),
            Phase::Closed => None,
        }
    }

    /// Owner requests, connect attempts, deadlines and pings.
    fn timers(
        &mut self,
        handler: &mut impl MessageHandler,
        now_ns: &impl Fn() -> u64,
        delivered: &mut usize,
    ) {
        for id in 0..self.conns.len() {
            let now = Instant::now();
            let c = &mut self.conns[id];
            if std::mem::take(&mut c.rx_unnoted) {
                c.last_rx = now;
                c.ping_sent = false;
            }
            if c.close_requested {
                c.close_requested = false;
                c.reconnect_requested = false;
                if !matches!(c.phase, Phase::Closed) {
                    c.phase = Phase::Closed;
                    handler.on_event(
                        id,
                        ConnEvent::Disconnected {
                            reason: "closed by owner".into(),
                        },
                    );
                }
                continue;
            }
            if c.reconnect_requested {
                c.reconnect_requested = false;
                if !matches!(c.phase, Phase::Closed) {
                    self.fail(id, "reconnect requested".into(), handler, true);
                }
                continue;
            }
            match &c.phase {
                Phase::Waiting if now >= c.retry_at => {
                    self.start_connect(id, handler, now_ns, delivered)
                }
                Phase::Connecting(_) | Phase::Handshaking(_) if now >= c.deadline => {
                    self.fail(id, "connect timeout".into(), handler, false)
                }
                Phase::Open(_) => {
                    let idle = now.saturating_duration_since(c.last_rx);
                    if idle >= self.cfg.idle_timeout {
                        let reason = format!("idle timeout: nothing received for {idle:?}");
                        self.fail(id, reason, handler, false);
                    } else if idle >= self.cfg.idle_ping && !c.ping_sent {
                        c.ping_sent = true;
                        if let Phase::Open(ws) = &mut c.phase {
                            let r = ws
                                .write(Message::Ping(Bytes::new()))
                                .and_then(|_| ws.flush());
                            match r {
                                Ok(()) => {}
                                Err(tungstenite::Error::Io(e))
                                    if e.kind() == io::ErrorKind::WouldBlock => {}
                                Err(e) => self.fail(id, ws_err(e).to_string(), handler, false),
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn start_connect(
        &mut self,
        id: usize,
        handler: &mut impl MessageHandler,
        now_ns: &impl Fn() -> u64,
        delivered: &mut usize,
    ) {
        let c = &mut self.conns[id];
        let addr = match resolve(&c.url) {
            Ok(a) => a,
            Err(e) => {
                let permanent = matches!(e, WsError::BadUrl(_) | WsError::Unsupported(_));
                c.phase = Phase::Closed;
                handler.on_event(
                    id,
                    ConnEvent::Disconnected {
                        reason: e.to_string(),
                    },
                );
                if !permanent {
                    self.schedule(id, handler);
                }
                return;
            }
        };
        let mut tcp = match TcpStream::connect(addr) {
            Ok(t) => t,
            Err(e) => return self.fail(id, format!("connect {addr}: {e}"), handler, false),
        };
        if let Err(e) = self.poll.registry().register(
            &mut tcp,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.fail(id, format!("register: {e}"), handler, false);
        }
        c.deadline = Instant::now() + self.cfg.connect_timeout;
        c.phase = Phase::Connecting(Sock::new(tcp, self.cfg.read_chunk));
        // Loopback connects may already be done; the writable event follows anyway.
        self.service(id, handler, now_ns, delivered);
    }

    /// Advances connection `id` after readiness (or when it has more to read).
    fn service(
        &mut self,
        id: usize,
        handler: &mut impl MessageHandler,
        now_ns: &impl Fn() -> u64,
        delivered: &mut usize,
    ) {
        let c = &mut self.conns[id];
        match std::mem::replace(&mut c.phase, Phase::Waiting) {
            Phase::Connecting(sock) => {
                match sock.tcp.take_error() {
                    Ok(None) => {}
                    Ok(Some(e)) | Err(e) => {
                        return self.fail(id, format!("connect: {e}"), handler, false)
                    }
                }
                match sock.tcp.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        c.phase = Phase::Connecting(sock);
                        return;
                    }
                    Err(e) => return self.fail(id, format!("connect: {e}"), handler, false),
                }
                let _ = sock.tcp.set_nodelay(true);
                let ws_cfg = WebSocketConfig::default()
                    .read_buffer_size(FRAME_READ_CHUNK)
                    .max_message_size(Some(self.cfg.max_message_size))
                    .max_frame_size(Some(self.cfg.max_message_size));
                let r = tungstenite::client::client_with_config(c.url.as_str(), sock, Some(ws_cfg));
                self.after_handshake(id, r, handler, now_ns, delivered);
            }
            Phase::Handshaking(mid) => {
                let r = mid.handshake();
                self.after_handshake(id, r, handler, now_ns, delivered);
            }
            Phase::Open(ws) => {
                c.phase = Phase::Open(ws);
                self.read_frames(id, handler, now_ns, delivered);
            }
            other => c.phase = other,
        }
    }

    fn after_handshake(
        &mut self,
        id: usize,
        r: Result<
            (WebSocket<Sock>, tungstenite::handshake::client::Response),
            HandshakeError<ClientHandshake<Sock>>,
        >,
        handler: &mut impl MessageHandler,
        now_ns: &impl Fn() -> u64,
        delivered: &mut usize,
    ) {
        let c = &mut self.conns[id];
        match r {
            Err(HandshakeError::Interrupted(mid)) => c.phase = Phase::Handshaking(mid),
            Err(HandshakeError::Failure(e)) => {
                self.fail(id, format!("handshake: {}", ws_err(e)), handler, false)
            }
            Ok((mut ws, _response)) => {
                let sock = ws.get_mut();
                sock.passthrough = false;
                (sock.taken, sock.framed) = (0, 0);
                // Frames that came with the handshake response were read just now.
                c.stamp = now_ns();
                c.last_rx = Instant::now();
                c.ping_sent = false;
                handler.on_event(id, ConnEvent::Connected);
                if let Some(sub) = &c.subscribe {
                    let r = ws
                        .write(Message::text(sub.as_str()))
                        .and_then(|_| ws.flush());
                    match r {
                        Ok(()) => {}
                        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        }
                        Err(e) => {
                            return self.fail(
                                id,
                                format!("subscribe: {}", ws_err(e)),
                                handler,
                                false,
                            )
                        }
                    }
                }
                c.phase = Phase::Open(ws);
                handler.on_event(id, ConnEvent::Subscribed);
                self.read_frames(id, handler, now_ns, delivered);
            }
        }
    }

    /// Reads and delivers frames until the socket would block (or the budget runs
    /// out), then flushes pending writes (pongs, close replies, pings).
    fn read_frames(
        &mut self,
        id: usize,
        handler: &mut impl MessageHandler,
        now_ns: &impl Fn() -> u64,
        delivered: &mut usize,
    ) {
        let c = &mut self.conns[id];
        let Phase::Open(ws) = &mut c.phase else {
            return;
        };
        let mut budget = self.cfg.max_frames_per_poll.max(1);
        // Frames were received. Once they are delivered, the connection's liveness is
        // noted at the next poll's start (no clock read between a frame's receive stamp
        // and the owner's use of it), and when the buffers run dry the reads that would
        // learn it (tungstenite's, then the socket's, most often both empty) wait for
        // that poll too, so the owner publishes what was delivered before them.
        let mut received = false;
        let failure: Option<String> = loop {
            match ws.read() {
                Ok(msg) => {
                    received = true;
                    let payload: &[u8] = match &msg {
                        Message::Text(t) => t.as_bytes(),
                        Message::Binary(b) => b,
                        Message::Close(f) => {
                            let _ = ws.flush();
                            break Some(match f {
                                Some(f) => format!("closed by server: {} {}", f.code, f.reason),
                                None => "closed by server".to_string(),
                            });
                        }
                        Message::Ping(p) | Message::Pong(p) => {
                            ws.get_mut().note_frame(p.len()); // a pong is queued for a ping
                            continue;
                        }
                        Message::Frame(_) => continue, // never returned by `read`
                    };
                    ws.get_mut().note_frame(payload.len());
                    self.scratch.clear();
                    self.scratch.extend_from_slice(payload);
                    drop(msg);
                    handler.on_message(id, c.stamp, &mut self.scratch);
                    *delivered += 1;
                    c.attempt = 0;
                    budget -= 1;
                    if budget == 0 || ws.get_ref().dry() {
                        c.more = true;
                        break None;
                    }
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    // tungstenite holds no whole frame: resync the count (it is off
                    // while a frame not yet whole waits there, see `Sock::dry`).
                    let sock = ws.get_mut();
                    sock.framed = sock.taken;
                    if received {
                        c.more = true;
                        break None;
                    }
                    match sock.fill() {
                        Ok(_) => c.stamp = now_ns(), // Ok(0): tungstenite sees the EOF next
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                        Err(e) => break Some(format!("read: {e}")),
                    }
                }
                Err(tungstenite::Error::Utf8(e)) => {
                    received = true;
                    handler.on_event(
                        id,
                        ConnEvent::Malformed {
                            reason: format!("text frame is not UTF-8: {e}"),
                        },
                    );
                }
                Err(e) => break Some(ws_err(e).to_string()),
            }
        };
        c.rx_unnoted |= received;
        if let Some(reason) = failure {
            return self.fail(id, reason, handler, false);
        }
        match ws.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => self.fail(id, ws_err(e).to_string(), handler, false),
        }
    }

    /// Drops the connection, reports it and schedules a reconnect (unless disabled).
    fn fail(&mut self, id: usize, reason: String, handler: &mut impl MessageHandler, forced: bool) {
        let c = &mut self.conns[id];
        deregister(self.poll.registry(), &mut c.phase);
        c.phase = Phase::Waiting;
        c.more = false;
        handler.on_event(id, ConnEvent::Disconnected { reason });
        if self.cfg.reconnect || forced {
            self.schedule(id, handler);
        } else {
            self.conns[id].phase = Phase::Closed;
        }
    }

    fn schedule(&mut self, id: usize, handler: &mut impl MessageHandler) {
        let c = &mut self.conns[id];
        c.attempt = c.attempt.saturating_add(1);
        let delay = c.backoff.delay(c.attempt);
        c.retry_at = Instant::now() + delay;
        c.phase = Phase::Waiting;
        handler.on_event(
            id,
            ConnEvent::Reconnecting {
                attempt: c.attempt,
                delay_ms: delay.as_millis() as u64,
            },
        );
    }
}

fn deregister(registry: &Registry, phase: &mut Phase) {
    let tcp = match phase {
        Phase::Connecting(s) => &mut s.tcp,
        Phase::Handshaking(m) => &mut m.get_mut().get_mut().tcp,
        Phase::Open(ws) => &mut ws.get_mut().tcp,
        Phase::Waiting | Phase::Closed => return,
    };
    let _ = registry.deregister(tcp);
}

fn ws_err(e: tungstenite::Error) -> WsError {
    match e {
        tungstenite::Error::Io(e) => WsError::Io(e),
        e => WsError::Protocol(e.to_string()),
    }
}

/// `ws://host:port/...` → socket address (blocking name resolution).
fn resolve(url: &str) -> Result<SocketAddr, WsError> {
    if url.starts_with("wss://") {
        return Err(WsError::Unsupported(format!(
            "{url}: wss:// needs TLS, which this build does not include (plain ws:// only)"
        )));
    }
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| WsError::BadUrl(url.to_string()))?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(WsError::BadUrl(url.to_string()));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| {
            WsError::Io(io::Error::new(
                e.kind(),
                format!("resolve {with_port}: {e}"),
            ))
        })?
        .next()
        .ok_or_else(|| WsError::BadUrl(format!("{url}: no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_deterministic_and_bounded() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(5);
        let mut a = Backoff::new(base, cap, 7);
        let mut b = Backoff::new(base, cap, 7);
        for n in 1..40 {
            let d = a.delay(n);
            assert_eq!(d, b.delay(n));
            assert!(d >= base && d <= cap, "{n}: {d:?}");
        }
        assert_eq!(Backoff::new(base, cap, 1).delay(1), base);
    }

    #[test]
    fn urls_resolve_or_are_refused() {
        assert_eq!(
            resolve("ws://127.0.0.1:9443/stream?streams=a/b").unwrap(),
            "127.0.0.1:9443".parse::<SocketAddr>().unwrap()
        );
        assert!(matches!(
            resolve("wss://x:1/"),
            Err(WsError::Unsupported(_))
        ));
        assert!(matches!(resolve("http://x/"), Err(WsError::BadUrl(_))));
        assert!(matches!(resolve("ws:///x"), Err(WsError::BadUrl(_))));
    }
}
