//! [`BinanceConnector`]: the signed order gateway, driven by `place` / `cancel` /
//! `modify` calls and [`BinanceConnector::poll`] from one thread (see the
//! [module docs](super)).
//!
//! Every order handed to [`BinanceConnector::place`] gets its fate through `poll`
//! reports, even when `place` returns an error (the error explains; a `Rejected`
//! report follows so the engine never waits forever).
//!
//! Latency: [`Sent::sent_ns`] is the connector clock's monotonic time right after
//! the request bytes were written to the socket (WebSocket frame flushed, or the
//! HTTP request written), the end of the tick-to-order measurement.

use std::time::Duration;

use kestrel_engine::{
    Action, ClientOrderId, Dec, ExecReport, InstrumentId, InstrumentSpec, PlaceOrder, RejectReason,
};
use kestrel_feeds::binance::tape::Val;
use kestrel_feeds::ws::{ConnEvent, ConnState, MessageHandler, WsClient, WsConfig};

use super::clock::{Clock, ClockSync};
use super::encode::{Op, OrderEncoder, ReqId, Transport, Value};
use super::errors::{BinanceError, ErrorAction, VenueError};
use super::keys::Credentials;
use super::ratelimit::RateLimits;
use super::reconcile::{reconcile, Reconciled, VenueQueries};
use super::reports::{
    order_list, order_object, trade_list, user_event, venue_error, Instruments, JsonDoc,
    OrderUpdate, UserEvent,
};
use super::rest::{Method, RestClient, RestResponse};
use super::tracker::{OrderTracker, TrackerStats};
use super::user_stream::ListenKeySchedule;
use super::Venue;

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct BinanceConfig {
    /// Spot or USD-M.
    pub venue: Venue,
    /// REST `host:port` (plain HTTP).
    pub rest_addr: String,
    /// WebSocket API URL, e.g. `ws://127.0.0.1:9000/ws-api/v3`.
    pub ws_api_url: String,
    /// User-stream base URL; the stream is `<stream_url>/ws/<listenKey>`.
    pub stream_url: String,
    /// Instruments; an order's `instrument` indexes this list.
    pub instruments: Vec<InstrumentSpec>,
    /// `recvWindow` of signed requests (ms; Binance default 5000, max 60000).
    pub recv_window_ms: u64,
    /// Listen-key keep-alive period (ms; 30 minutes).
    pub keepalive_interval_ms: u64,
    /// Bound of every REST call (ms).
    pub http_timeout_ms: u64,
    /// Wait after a failed REST housekeeping step (clock resync, listen key,
    /// reconcile) and between reconcile passes that found orders still unknown (ms).
    pub reconcile_retry_ms: u64,
    /// WebSocket client settings (pings, reconnect backoff).
    pub ws: WsConfig,
}

impl BinanceConfig {
    /// A configuration with Binance's defaults for everything but the endpoints.
    pub fn new(
        venue: Venue,
        rest_addr: &str,
        ws_api_url: &str,
        stream_url: &str,
        instruments: Vec<InstrumentSpec>,
    ) -> BinanceConfig {
        BinanceConfig {
            venue,
            rest_addr: rest_addr.to_string(),
            ws_api_url: ws_api_url.to_string(),
            stream_url: stream_url.to_string(),
            instruments,
            recv_window_ms: 5_000,
            keepalive_interval_ms: 30 * 60 * 1_000,
            http_timeout_ms: 5_000,
            reconcile_retry_ms: 1_000,
            ws: WsConfig::default(),
        }
    }
}

/// An execution report with its timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The report.
    pub exec: ExecReport,
    /// Monotonic ns (connector clock) when the bytes that caused it were read.
    pub recv_ns: u64,
    /// Venue event time (ns since the epoch), 0 if the venue gave none.
    pub venue_ts_ns: u64,
}

/// How a request left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Monotonic ns (connector clock) right after the bytes were handed to the socket.
    pub sent_ns: u64,
    /// WebSocket API or REST.
    pub transport: Transport,
}

/// Counters of the connector's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectorStats {
    /// Requests sent over the WebSocket API.
    pub ws_requests: u64,
    /// Order requests sent over REST (fallback).
    pub rest_requests: u64,
    /// Orders resent after a clock resync.
    pub resends: u64,
    /// Clock synchronisations.
    pub clock_syncs: u64,
    /// Reconcile passes completed.
    pub reconciles: u64,
    /// Reports emitted by reconcile.
    pub reconciled_reports: u64,
    /// Listen keys created (or re-confirmed).
    pub listen_keys: u64,
    /// Listen-key keep-alives sent.
    pub keepalives: u64,
    /// Venue error responses.
    pub venue_errors: u64,
    /// Messages that could not be read.
    pub malformed: u64,
    /// WebSocket disconnects seen.
    pub disconnects: u64,
}

/// Something the WebSocket handler saw, acted on after the poll.
#[derive(Debug)]
enum Inbound {
    Update(OrderUpdate, u64),
    Error {
        id: ReqId,
        err: VenueError,
        retry_after_ms: u64,
    },
    Opened {
        after_loss: bool,
    },
    UserLost,
    ListenKeyExpired,
}

/// The WebSocket message handler: parses frames into [`Inbound`]s.
struct Inbox {
    venue: Venue,
    ws_api: usize,
    user: Option<usize>,
    lost: Vec<bool>,
    doc: JsonDoc,
    instruments: Vec<InstrumentSpec>,
    updates: Vec<OrderUpdate>,
    events: Vec<Inbound>,
    rate: RateLimits,
    malformed: u64,
    disconnects: u64,
    last_problem: Option<String>,
}

impl Inbox {
    fn ws_api_frame(&mut self, recv_ns: u64, payload: &mut [u8]) -> Result<(), String> {
        let inst = Instruments(&self.instruments);
        let venue = self.venue;
        let (updates, events, rate) = (&mut self.updates, &mut self.events, &mut self.rate);
        self.doc
            .parse(payload, |root: Val<'_, '_>| -> Result<(), String> {
                if let Some(r) = root.get("rateLimits") {
                    rate.on_ws_rate_limits(r);
                }
                let id = root.get("id").and_then(|v| {
                    v.as_str()
                        .map(ReqId::parse)
                        .unwrap_or_else(|| v.as_u64().map(ReqId::Seq))
                });
                let status = root.get("status").and_then(|v| v.as_u64()).unwrap_or(0) as u16;
                if let Some(e) = root.get("error") {
                    let err = venue_error(venue, status, e).ok_or("error object without a code")?;
                    let retry_after_ms = e
                        .get("data")
                        .and_then(|d| d.get("retryAfter"))
                        .and_then(|v| v.as_u64())
                        .unwrap_or(0);
                    match id {
                        Some(id) => events.push(Inbound::Error {
                            id,
                            err,
                            retry_after_ms,
                        }),
                        None => return Err(format!("unrouted error response: {err}")),
                    }
                    return Ok(());
                }
                if let (Some(ReqId::Order(..)), Some(result)) = (id, root.get("result")) {
                    updates.clear();
                    order_object(result, inst, updates)?;
                    events.extend(updates.drain(..).map(|u| Inbound::Update(u, recv_ns)));
                }
                Ok(())
            })?
    }

    fn user_frame(&mut self, recv_ns: u64, payload: &mut [u8]) -> Result<(), String> {
        let inst = Instruments(&self.instruments);
        let (updates, events) = (&mut self.updates, &mut self.events);
        self.doc
            .parse(payload, |root: Val<'_, '_>| -> Result<(), String> {
                updates.clear();
                match user_event(root, inst, updates)? {
                    UserEvent::Order => {
                        events.extend(updates.drain(..).map(|u| Inbound::Update(u, recv_ns)))
                    }
                    UserEvent::ListenKeyExpired | UserEvent::StreamTerminated => {
                        events.push(Inbound::ListenKeyExpired)
                    }
                    UserEvent::Other => {}
                }
                Ok(())
            })?
    }
}

impl MessageHandler for Inbox {
    fn on_message(&mut self, conn: usize, recv_ns: u64, payload: &mut [u8]) {
        let r = if conn == self.ws_api {
            self.ws_api_frame(recv_ns, payload)
        } else if Some(conn) == self.user {
            self.user_frame(recv_ns, payload)
        } else {
            Ok(())
        };
        if let Err(e) = r {
            self.malformed += 1;
            self.last_problem = Some(e);
        }
    }

    fn on_event(&mut self, conn: usize, ev: ConnEvent) {
        if conn != self.ws_api && Some(conn) != self.user {
            return;
        }
        if self.lost.len() <= conn {
            self.lost.resize(conn + 1, false);
        }
        match ev {
            ConnEvent::Subscribed => {
                let after_loss = std::mem::take(&mut self.lost[conn]);
                self.events.push(Inbound::Opened { after_loss });
            }
            ConnEvent::Disconnected { reason } => {
                self.disconnects += 1;
                self.lost[conn] = true;
                self.last_problem = Some(format!("connection {conn} lost: {reason}"));
                if Some(conn) == self.user {
                    self.events.push(Inbound::UserLost);
                }
            }
            ConnEvent::Malformed { reason } => {
                self.malformed += 1;
                self.last_problem = Some(reason);
            }
            ConnEvent::Connected | ConnEvent::Reconnecting { .. } => {}
        }
    }
}

/// The Binance order gateway (see the module docs).
pub struct BinanceConnector {
    cfg: BinanceConfig,
    api_key: String,
    clock: Box<dyn Clock>,
    enc: OrderEncoder,
    rest: RestClient,
    ws: WsClient,
    inbox: Inbox,
    tracker: OrderTracker,
    sync: ClockSync,
    listen: ListenKeySchedule,
    stats: ConnectorStats,
    /// Reports produced outside `poll` (REST responses), handed out by the next poll.
    pending: Vec<Report>,
    execs: Vec<ExecReport>,
    resend: Vec<ClientOrderId>,
    resync_needed: bool,
    reconcile_needed: bool,
    reconcile_not_before_ns: u64,
    housekeeping_not_before_ns: u64,
    user_lost: bool,
    last_error: Option<String>,
}

impl std::fmt::Debug for BinanceConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceConnector")
            .field("venue", &self.cfg.venue)
            .field("rest", &self.cfg.rest_addr)
            .field("ws_api", &self.cfg.ws_api_url)
            .field("encoder", &self.enc)
            .field("clock", &self.sync)
            .field("stats", &self.stats)
            .finish()
    }
}

/// `Ok(body)` for a 2xx response, the venue's error otherwise.
fn check(venue: Venue, resp: RestResponse, doc: &mut JsonDoc) -> Result<Vec<u8>, BinanceError> {
    if (200..300).contains(&resp.status) {
        return Ok(resp.body);
    }
    let status = resp.status;
    let mut body = resp.body;
    let err = doc
        .parse(&mut body, |root| venue_error(venue, status, root))
        .ok()
        .flatten();
    Err(match err {
        Some(e) => BinanceError::Venue(e),
        None => BinanceError::Transport(format!("HTTP status {status} without an error body")),
    })
}

fn take_headers(rate: &mut RateLimits, resp: &RestResponse, now_ms: u64) {
    for (n, v) in &resp.headers {
        rate.on_header(n, v, now_ms);
    }
}

/// REST queries for [`reconcile`], borrowing the connector's parts.
struct RestQueries<'a> {
    cfg: &'a BinanceConfig,
    api_key: &'a str,
    clock: &'a dyn Clock,
    sync: ClockSync,
    enc: &'a mut OrderEncoder,
    rest: &'a mut RestClient,
    doc: &'a mut JsonDoc,
    rate: &'a mut RateLimits,
}

impl RestQueries<'_> {
    fn get(
        &mut self,
        path: &str,
        params: &[(&'static str, Value<'_>)],
    ) -> Result<Vec<u8>, BinanceError> {
        let now = self.sync.venue_ms(self.clock.wall_ms());
        let q = self.enc.rest_signed(params, now)?;
        let resp = self
            .rest
            .request(Method::Get, path, q, Some(self.api_key), self.clock)?;
        take_headers(self.rate, &resp, now);
        check(self.cfg.venue, resp, self.doc)
    }
}

fn spec_of(cfg: &BinanceConfig, i: InstrumentId) -> Result<&InstrumentSpec, BinanceError> {
    cfg.instruments
        .get(i as usize)
        .ok_or(BinanceError::UnknownInstrument(i))
}

impl VenueQueries for RestQueries<'_> {
    fn open_orders(&mut self, out: &mut Vec<OrderUpdate>) -> Result<(), BinanceError> {
        let mut body = self.get(self.cfg.venue.open_orders_path(), &[])?;
        let inst = Instruments(&self.cfg.instruments);
        self.doc
            .parse(&mut body, |root| order_list(root, inst, out))
            .and_then(|r| r)
            .map_err(BinanceError::Parse)
    }

    fn query_order(
        &mut self,
        instrument: InstrumentId,
        cid: ClientOrderId,
        out: &mut Vec<OrderUpdate>,
    ) -> Result<bool, BinanceError> {
        let cfg = self.cfg;
        let symbol = spec_of(cfg, instrument)?.symbol.as_str();
        let params = [
            ("symbol", Value::Str(symbol)),
            ("origClientOrderId", Value::Cid(cid)),
        ];
        let mut body = match self.get(cfg.venue.order_path(), &params) {
            Ok(b) => b,
            Err(BinanceError::Venue(e)) if e.code == -2013 => return Ok(false),
            Err(e) => return Err(e),
        };
        let inst = Instruments(&cfg.instruments);
        self.doc
            .parse(&mut body, |root| order_object(root, inst, out))
            .and_then(|r| r)
            .map_err(BinanceError::Parse)?;
        Ok(true)
    }

    fn order_trades(
        &mut self,
        instrument: InstrumentId,
        venue_order_id: u64,
        out: &mut Vec<OrderUpdate>,
    ) -> Result<(), BinanceError> {
        let cfg = self.cfg;
        let symbol = spec_of(cfg, instrument)?.symbol.as_str();
        let params = [
            ("symbol", Value::Str(symbol)),
            ("orderId", Value::Int(venue_order_id)),
        ];
        let mut body = self.get(cfg.venue.trades_path(), &params)?;
        let inst = Instruments(&cfg.instruments);
        self.doc
            .parse(&mut body, |root| trade_list(root, inst, out))
            .and_then(|r| r)
            .map_err(BinanceError::Parse)
    }
}

impl BinanceConnector {
    /// A connector; no I/O until [`start`](Self::start).
    ///
    /// # Errors
    /// [`BinanceError::Config`] for an empty instrument list or a `recvWindow` above
    /// 60000 ms; transport errors creating the poll.
    pub fn new(
        cfg: BinanceConfig,
        creds: Credentials,
        clock: Box<dyn Clock>,
    ) -> Result<BinanceConnector, BinanceError> {
        if cfg.instruments.is_empty() {
            return Err(BinanceError::Config("no instruments".into()));
        }
        if cfg.recv_window_ms == 0 || cfg.recv_window_ms > 60_000 {
            return Err(BinanceError::Config(format!(
                "recv_window_ms {} outside 1..=60000",
                cfg.recv_window_ms
            )));
        }
        if creds.api_key.is_empty() || creds.secret.is_empty() {
            return Err(BinanceError::Config("empty API key or secret".into()));
        }
        let enc = OrderEncoder::new(cfg.venue, &creds, cfg.recv_window_ms);
        let rest = RestClient::new(&cfg.rest_addr, Duration::from_millis(cfg.http_timeout_ms));
        let ws = WsClient::new(cfg.ws.clone())?;
        Ok(BinanceConnector {
            inbox: Inbox {
                venue: cfg.venue,
                ws_api: usize::MAX,
                user: None,
                lost: Vec::new(),
                doc: JsonDoc::default(),
                instruments: cfg.instruments.clone(),
                updates: Vec::with_capacity(64),
                events: Vec::with_capacity(64),
                rate: RateLimits::default(),
                malformed: 0,
                disconnects: 0,
                last_problem: None,
            },
            listen: ListenKeySchedule::new(cfg.keepalive_interval_ms),
            api_key: creds.api_key,
            cfg,
            clock,
            enc,
            rest,
            ws,
            tracker: OrderTracker::new(),
            sync: ClockSync::default(),
            stats: ConnectorStats::default(),
            pending: Vec::with_capacity(64),
            execs: Vec::with_capacity(64),
            resend: Vec::new(),
            resync_needed: false,
            reconcile_needed: false,
            reconcile_not_before_ns: 0,
            housekeeping_not_before_ns: 0,
            user_lost: false,
            last_error: None,
        })
    }

    /// Synchronises the clock, creates the listen key and opens the WebSocket API
    /// and user-stream connections (they connect during the following polls; see
    /// [`is_ready`](Self::is_ready)).
    ///
    /// # Errors
    /// REST failures of the clock sync or listen-key creation.
    pub fn start(&mut self) -> Result<(), BinanceError> {
        self.sync_clock()?;
        self.ensure_listen_key()?;
        self.inbox.ws_api = self.ws.add(&self.cfg.ws_api_url, None);
        Ok(())
    }

    /// True when the WebSocket API and the user stream are both open.
    pub fn is_ready(&self) -> bool {
        let open = |c: usize| matches!(self.ws.state(c), Ok(ConnState::Open));
        open(self.inbox.ws_api) && self.inbox.user.is_some_and(open)
    }

    /// Polls until [`is_ready`](Self::is_ready) or `timeout`; reports that arrive
    /// meanwhile are kept for the next [`poll`](Self::poll). Returns readiness.
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<bool, BinanceError> {
        let until = std::time::Instant::now() + timeout;
        let mut keep = Vec::new();
        while !self.is_ready() && std::time::Instant::now() < until {
            self.poll(Duration::from_millis(5), &mut keep)?;
        }
        self.pending.splice(0..0, keep);
        Ok(self.is_ready())
    }

    /// Venue time now (ms): local wall clock plus the measured offset.
    pub fn venue_now_ms(&self) -> u64 {
        self.sync.venue_ms(self.clock.wall_ms())
    }

    /// `GET /api/v3/time` (USD-M `/fapi/v1/time`): measures the clock offset at the
    /// round-trip midpoint.
    ///
    /// # Errors
    /// REST failure, an unreadable answer, or a `serverTime` further than
    /// [`MAX_CLOCK_OFFSET_MS`](super::clock::MAX_CLOCK_OFFSET_MS) from the local clock
    /// (the previous offset is kept).
    pub fn sync_clock(&mut self) -> Result<ClockSync, BinanceError> {
        let resp = self.rest.request(
            Method::Get,
            self.cfg.venue.time_path(),
            "",
            None,
            &*self.clock,
        )?;
        let (t0, t1) = resp.wall_ms;
        let mut body = check(self.cfg.venue, resp, &mut self.inbox.doc)?;
        let server = self
            .inbox
            .doc
            .parse(&mut body, |root| {
                root.get("serverTime").and_then(|v| v.as_u64())
            })
            .map_err(BinanceError::Parse)?
            .ok_or_else(|| BinanceError::Parse("time response without serverTime".into()))?;
        self.sync
            .update(t0, server, t1)
            .map_err(BinanceError::Parse)?;
        self.stats.clock_syncs += 1;
        self.resync_needed = false;
        Ok(self.sync)
    }

    fn listen_key_request(&mut self, method: Method) -> Result<Option<String>, BinanceError> {
        let query = match (self.cfg.venue, method, self.listen.key()) {
            (Venue::Spot, Method::Put, Some(k)) => format!("listenKey={k}"),
            _ => String::new(),
        };
        let resp = self.rest.request(
            method,
            self.cfg.venue.listen_key_path(),
            &query,
            Some(&self.api_key),
            &*self.clock,
        )?;
        let mut body = check(self.cfg.venue, resp, &mut self.inbox.doc)?;
        self.inbox
            .doc
            .parse(&mut body, |root| {
                root.get("listenKey")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .map_err(BinanceError::Parse)
    }

    /// Creates (or confirms) the listen key and (re)opens the user stream if it
    /// changed.
    fn ensure_listen_key(&mut self) -> Result<(), BinanceError> {
        let key = self
            .listen_key_request(Method::Post)?
            .ok_or_else(|| BinanceError::Parse("listen key response without listenKey".into()))?;
        self.stats.listen_keys += 1;
        let now = self.clock.mono_ns();
        if self.listen.on_created(&key, now) || self.inbox.user.is_none() {
            if let Some(old) = self.inbox.user.take() {
                let _ = self.ws.close(old);
            }
            let url = format!("{}/ws/{key}", self.cfg.stream_url.trim_end_matches('/'));
            self.inbox.user = Some(self.ws.add(&url, None));
        }
        self.user_lost = false;
        Ok(())
    }

    fn spec(&self, i: InstrumentId) -> Option<&InstrumentSpec> {
        self.cfg.instruments.get(i as usize)
    }

    fn ws_api_open(&self) -> bool {
        matches!(self.ws.state(self.inbox.ws_api), Ok(ConnState::Open))
    }

    fn queue_reject(&mut self, cid: ClientOrderId, reason: RejectReason) {
        self.execs.clear();
        self.tracker.reject(cid, reason, &mut self.execs);
        let now = self.clock.mono_ns();
        self.pending.extend(self.execs.drain(..).map(|exec| Report {
            exec,
            recv_ns: now,
            venue_ts_ns: 0,
        }));
    }

    /// Sends a new order (WebSocket API if connected, else REST) and returns when
    /// its bytes left. Its reports come through [`poll`](Self::poll).
    ///
    /// # Errors
    /// Unknown instrument, impossible order, local rate-limit block or a transport
    /// failure; in each case a `Rejected` report is queued (a transport failure of a
    /// REST send instead triggers reconcile, since the venue may have the order).
    pub fn place(&mut self, p: &PlaceOrder) -> Result<Sent, BinanceError> {
        let now = self.venue_now_ms();
        self.tracker.on_place(p, 0, now);
        if self.spec(p.instrument).is_none() {
            self.queue_reject(p.cid, RejectReason::UnknownInstrument);
            return Err(BinanceError::UnknownInstrument(p.instrument));
        }
        if let Some(until_ms) = self.inbox.rate.blocked_until(now) {
            self.queue_reject(p.cid, RejectReason::RateLimited);
            return Err(BinanceError::RateLimited { until_ms });
        }
        self.send(Op::Place, p)
    }

    /// Cancels order `cid` by its client id.
    ///
    /// # Errors
    /// Unknown instrument or a transport failure (a `CancelRejected` is queued for a
    /// tracked order).
    pub fn cancel(
        &mut self,
        cid: ClientOrderId,
        instrument: InstrumentId,
    ) -> Result<Sent, BinanceError> {
        let p = match self.tracker.get_mut(cid) {
            Some(t) => {
                t.canceling = true;
                t.order
            }
            None => PlaceOrder {
                cid,
                instrument,
                ..PlaceOrder::default()
            },
        };
        if self.spec(instrument).is_none() {
            return Err(BinanceError::UnknownInstrument(instrument));
        }
        self.send(Op::Cancel, &p)
    }

    /// Replaces order `cid`'s price and quantity (spot cancel-replace, USD-M modify).
    ///
    /// # Errors
    /// [`BinanceError::UnknownOrder`] when the order is not tracked (its side and
    /// type are needed), encode or transport failures.
    pub fn modify(
        &mut self,
        cid: ClientOrderId,
        price: Dec,
        qty: Dec,
    ) -> Result<Sent, BinanceError> {
        let venue = self.cfg.venue;
        let t = self
            .tracker
            .get_mut(cid)
            .ok_or(BinanceError::UnknownOrder(cid))?;
        if venue == Venue::Spot {
            t.replacing = true;
        }
        let mut p = t.order;
        p.price = price;
        p.qty = qty;
        self.send(Op::Replace, &p)
    }

    /// Dispatches an engine action (place, cancel, modify); `Ok(None)` for others.
    ///
    /// # Errors
    /// As the call it makes.
    pub fn on_action(&mut self, a: &Action) -> Result<Option<Sent>, BinanceError> {
        match *a {
            Action::Place(ref p) => self.place(p).map(Some),
            Action::Cancel { cid, instrument } => self.cancel(cid, instrument).map(Some),
            Action::Modify {
                cid, price, qty, ..
            } => self.modify(cid, price, qty).map(Some),
            _ => Ok(None),
        }
    }

    fn send(&mut self, op: Op, p: &PlaceOrder) -> Result<Sent, BinanceError> {
        let now = self.venue_now_ms();
        let Some(spec) = self.cfg.instruments.get(p.instrument as usize) else {
            return Err(BinanceError::UnknownInstrument(p.instrument));
        };
        if self.ws_api_open() {
            let t = Transport::WsApi;
            let text = match op {
                Op::Place => self.enc.place(t, p, spec, now),
                Op::Cancel => self.enc.cancel(t, p.cid, spec, now),
                Op::Replace => self.enc.replace(t, p, spec, now),
            };
            let text = match text {
                Ok(x) => x,
                Err(e) => {
                    self.order_failed(op, p.cid, RejectReason::Other);
                    return Err(e.into());
                }
            };
            if self.ws.send_text(self.inbox.ws_api, text).is_ok() {
                let sent_ns = self.clock.mono_ns();
                self.stats.ws_requests += 1;
                if let Some(t) = self.tracker.get_mut(p.cid) {
                    t.sent_ns = sent_ns;
                    t.sent_venue_ms = now;
                }
                return Ok(Sent {
                    sent_ns,
                    transport: Transport::WsApi,
                });
            }
            // The socket failed under us: fall back to REST below.
        }
        self.send_rest(op, p, now)
    }

    fn send_rest(&mut self, op: Op, p: &PlaceOrder, now: u64) -> Result<Sent, BinanceError> {
        let Some(spec) = self.cfg.instruments.get(p.instrument as usize) else {
            return Err(BinanceError::UnknownInstrument(p.instrument));
        };
        let t = Transport::Rest;
        let (method, path) = match op {
            Op::Place => (Method::Post, self.cfg.venue.order_path()),
            Op::Cancel => (Method::Delete, self.cfg.venue.order_path()),
            Op::Replace => self.cfg.venue.replace_endpoint(),
        };
        let query = match op {
            Op::Place => self.enc.place(t, p, spec, now),
            Op::Cancel => self.enc.cancel(t, p.cid, spec, now),
            Op::Replace => self.enc.replace(t, p, spec, now),
        };
        let query = match query {
            Ok(q) => q,
            Err(e) => {
                self.order_failed(op, p.cid, RejectReason::Other);
                return Err(e.into());
            }
        };
        let resp = match self
            .rest
            .request(method, path, query, Some(&self.api_key), &*self.clock)
        {
            Ok(r) => r,
            Err(e) => {
                // The venue may or may not have it: find out by reconciling.
                self.reconcile_needed = true;
                self.last_error = Some(e.to_string());
                return Err(e);
            }
        };
        self.stats.rest_requests += 1;
        let sent_ns = resp.sent_ns;
        if let Some(t) = self.tracker.get_mut(p.cid) {
            t.sent_ns = sent_ns;
            t.sent_venue_ms = now;
        }
        take_headers(&mut self.inbox.rate, &resp, now);
        let recv_ns = self.clock.mono_ns();
        match check(self.cfg.venue, resp, &mut self.inbox.doc) {
            Ok(mut body) => {
                let inst = Instruments(&self.cfg.instruments);
                let updates = &mut self.inbox.updates;
                updates.clear();
                let parsed = self
                    .inbox
                    .doc
                    .parse(&mut body, |root| order_object(root, inst, updates))
                    .and_then(|r| r);
                if let Err(e) = parsed {
                    self.inbox.malformed += 1;
                    self.reconcile_needed = true;
                    return Err(BinanceError::Parse(e));
                }
                let updates = std::mem::take(&mut self.inbox.updates);
                for u in &updates {
                    self.apply_update(u, recv_ns, None);
                }
                self.inbox.updates = updates;
            }
            Err(BinanceError::Venue(err)) => self.on_order_error(op, p.cid, err, 0),
            Err(e) => {
                self.reconcile_needed = true;
                return Err(e);
            }
        }
        Ok(Sent {
            sent_ns,
            transport: Transport::Rest,
        })
    }

    /// A request for `cid` could not even be sent: reject the place, or refuse the
    /// cancel / replace.
    fn order_failed(&mut self, op: Op, cid: ClientOrderId, reason: RejectReason) {
        self.execs.clear();
        match op {
            Op::Place => self.tracker.reject(cid, reason, &mut self.execs),
            Op::Cancel | Op::Replace => self.tracker.cancel_rejected(cid, reason, &mut self.execs),
        }
        let now = self.clock.mono_ns();
        self.pending.extend(self.execs.drain(..).map(|exec| Report {
            exec,
            recv_ns: now,
            venue_ts_ns: 0,
        }));
    }

    fn on_order_error(&mut self, op: Op, cid: ClientOrderId, err: VenueError, retry_after_ms: u64) {
        self.stats.venue_errors += 1;
        let action = err.action();
        self.last_error = Some(err.to_string());
        match action {
            ErrorAction::ResyncClock => {
                self.resync_needed = true;
                let resend = op == Op::Place
                    && self
                        .tracker
                        .get(cid)
                        .is_some_and(|t| !t.resent && !t.terminal);
                if resend {
                    self.resend.push(cid);
                } else {
                    self.order_failed(op, cid, RejectReason::Other);
                }
            }
            ErrorAction::StatusUnknown => {
                if let Some(t) = self.tracker.get_mut(cid) {
                    t.replacing = false;
                }
                self.reconcile_needed = true;
            }
            ErrorAction::Backoff => {
                let now = self.venue_now_ms();
                self.inbox
                    .rate
                    .block_until(retry_after_ms.max(now.saturating_add(1_000)));
                self.order_failed(op, cid, RejectReason::RateLimited);
            }
            ErrorAction::Auth => self.order_failed(op, cid, RejectReason::Other),
            ErrorAction::Reject(reason) => {
                if op == Op::Replace && err.code == -2021 {
                    // Cancel succeeded, new order failed: the order is gone.
                    self.reconcile_needed = true;
                    if let Some(t) = self.tracker.get_mut(cid) {
                        t.replacing = false;
                    }
                } else {
                    self.order_failed(op, cid, reason);
                }
            }
        }
    }

    fn apply_update(&mut self, u: &OrderUpdate, recv_ns: u64, sink: Option<&mut Vec<Report>>) {
        self.execs.clear();
        self.tracker.apply(u, &mut self.execs);
        let venue_ts_ns = u.venue_ms.saturating_mul(1_000_000);
        let sink = match sink {
            Some(s) => s,
            None => &mut self.pending,
        };
        sink.extend(self.execs.drain(..).map(|exec| Report {
            exec,
            recv_ns,
            venue_ts_ns,
        }));
    }

    /// Reads everything the sockets have (waiting up to `timeout`), and does the
    /// connector's housekeeping: clock resync and resends after `-1021`, reconcile
    /// after a reconnect or an unknown status, listen-key keep-alive and renewal.
    /// Appends reports to `out` and returns how many.
    ///
    /// # Errors
    /// A failure of the poll itself; housekeeping failures are retried on later
    /// polls and recorded in [`last_error`](Self::last_error).
    pub fn poll(
        &mut self,
        timeout: Duration,
        out: &mut Vec<Report>,
    ) -> Result<usize, BinanceError> {
        let start = out.len();
        out.append(&mut self.pending);
        let clock = &*self.clock;
        self.ws
            .poll_once(timeout, &mut self.inbox, || clock.mono_ns())?;
        let mut events = std::mem::take(&mut self.inbox.events);
        for ev in events.drain(..) {
            match ev {
                Inbound::Update(u, recv_ns) => self.apply_update(&u, recv_ns, Some(out)),
                Inbound::Error {
                    id,
                    err,
                    retry_after_ms,
                } => match id {
                    ReqId::Order(op, cid) => self.on_order_error(op, cid, err, retry_after_ms),
                    ReqId::Seq(_) => {
                        self.stats.venue_errors += 1;
                        self.last_error = Some(err.to_string());
                    }
                },
                Inbound::Opened { after_loss } => {
                    if after_loss {
                        self.reconcile_needed = true;
                    }
                }
                Inbound::UserLost => self.user_lost = true,
                Inbound::ListenKeyExpired => {
                    self.listen.invalidate();
                    self.user_lost = true;
                }
            }
        }
        self.inbox.events = events;
        self.stats.malformed = self.inbox.malformed;
        self.stats.disconnects = self.inbox.disconnects;
        self.housekeeping(out);
        out.append(&mut self.pending);
        Ok(out.len() - start)
    }

    fn housekeeping(&mut self, out: &mut Vec<Report>) {
        let now = self.clock.mono_ns();
        // REST housekeeping that failed waits `reconcile_retry_ms` before the next
        // try, so a dead REST endpoint does not block every poll for its timeout.
        if now < self.housekeeping_not_before_ns {
            return;
        }
        let mut failed = false;
        if self.resync_needed {
            if let Err(e) = self.sync_clock() {
                self.last_error = Some(e.to_string());
                failed = true;
            }
        }
        if !self.resync_needed && !self.resend.is_empty() {
            let resend = std::mem::take(&mut self.resend);
            for cid in resend {
                let Some(t) = self.tracker.get_mut(cid) else {
                    continue;
                };
                if t.terminal {
                    continue;
                }
                t.resent = true;
                let p = t.order;
                self.stats.resends += 1;
                if let Err(e) = self.send(Op::Place, &p) {
                    self.last_error = Some(e.to_string());
                }
            }
        }
        if self.user_lost {
            if let Err(e) = self.ensure_listen_key() {
                self.last_error = Some(e.to_string());
                failed = true;
            }
        }
        if self.listen.due(now) {
            match self.listen_key_request(Method::Put) {
                Ok(_) => {
                    self.listen.on_kept_alive(now);
                    self.stats.keepalives += 1;
                }
                Err(e) => {
                    // -1125: the key is gone; create a new one.
                    if matches!(&e, BinanceError::Venue(v) if v.code == -1125) {
                        self.listen.invalidate();
                        self.user_lost = true;
                    } else {
                        failed = true;
                    }
                    self.last_error = Some(e.to_string());
                }
            }
        }
        if self.reconcile_needed && now >= self.reconcile_not_before_ns {
            let retry_at = now + self.cfg.reconcile_retry_ms.saturating_mul(1_000_000);
            match self.reconcile_into(out) {
                Ok(r) => {
                    // Orders the venue does not know yet: look again later.
                    self.reconcile_needed = r.pending > 0;
                    self.reconcile_not_before_ns = if r.pending > 0 { retry_at } else { 0 };
                }
                Err(e) => {
                    self.last_error = Some(e.to_string());
                    failed = true;
                }
            }
        }
        if failed {
            self.housekeeping_not_before_ns =
                now + self.cfg.reconcile_retry_ms.saturating_mul(1_000_000);
        }
    }

    /// Runs one reconcile pass now (see [`super::reconcile`]), appending the missed
    /// reports to `out`.
    ///
    /// # Errors
    /// The first REST query that failed.
    pub fn reconcile_into(&mut self, out: &mut Vec<Report>) -> Result<Reconciled, BinanceError> {
        let now_ms = self.venue_now_ms();
        let mut q = RestQueries {
            cfg: &self.cfg,
            api_key: &self.api_key,
            clock: &*self.clock,
            sync: self.sync,
            enc: &mut self.enc,
            rest: &mut self.rest,
            doc: &mut self.inbox.doc,
            rate: &mut self.inbox.rate,
        };
        self.execs.clear();
        let r = reconcile(
            &mut self.tracker,
            &mut q,
            now_ms,
            self.cfg.recv_window_ms,
            &mut self.execs,
        );
        let recv_ns = self.clock.mono_ns();
        let n = self.execs.len() as u64;
        out.extend(self.execs.drain(..).map(|exec| Report {
            exec,
            recv_ns,
            venue_ts_ns: 0,
        }));
        let r = r?;
        self.stats.reconciles += 1;
        self.stats.reconciled_reports += n;
        Ok(r)
    }

    /// Resumes a session after a restart: tracks the orders the journal's replay
    /// left working (`(request, venue order id or 0, acknowledged, filled quantity)`,
    /// see [`OrderTracker::seed`]) and reconciles them with the venue at once,
    /// appending what the venue knows and the engine does not (fills while down,
    /// cancels, acks, orders it never received) to `out`. Orders the venue does not
    /// know yet stay pending; later [`poll`](Self::poll)s look again until their
    /// `recvWindow` has passed.
    ///
    /// # Errors
    /// The first REST query that failed.
    pub fn resume(
        &mut self,
        orders: &[(PlaceOrder, u64, bool, Dec)],
        out: &mut Vec<Report>,
    ) -> Result<Reconciled, BinanceError> {
        let now_ms = self.venue_now_ms();
        for (p, venue_id, acked, filled) in orders {
            self.tracker.seed(p, *venue_id, *acked, *filled, now_ms);
        }
        let r = self.reconcile_into(out)?;
        self.reconcile_needed = r.pending > 0;
        self.reconcile_not_before_ns = if r.pending > 0 {
            self.clock.mono_ns() + self.cfg.reconcile_retry_ms.saturating_mul(1_000_000)
        } else {
            0
        };
        Ok(r)
    }

    /// The venue's rate-limit counters as last reported.
    pub fn rate_limits(&self) -> RateLimits {
        self.inbox.rate
    }

    /// The clock offset.
    pub fn clock_sync(&self) -> ClockSync {
        self.sync
    }

    /// Work counters.
    pub fn stats(&self) -> ConnectorStats {
        self.stats
    }

    /// Deduplication counters.
    pub fn tracker_stats(&self) -> TrackerStats {
        self.tracker.stats
    }

    /// The order tracker (read-only).
    pub fn tracker(&self) -> &OrderTracker {
        &self.tracker
    }

    /// The current listen key, if any.
    pub fn listen_key(&self) -> Option<&str> {
        self.listen.key()
    }

    /// The last error or connection problem seen (for logs).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error
            .as_deref()
            .or(self.inbox.last_problem.as_deref())
    }

    /// Drops both WebSocket connections at once (they reconnect with backoff and a
    /// reconcile follows): for an operator or a stuck stream.
    pub fn reconnect(&mut self) {
        let _ = self.ws.reconnect(self.inbox.ws_api);
        if let Some(u) = self.inbox.user {
            let _ = self.ws.reconnect(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_frame_with_an_out_of_range_commission_is_refused_as_malformed() {
        let spec = InstrumentSpec {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            tick_size: Dec::parse("0.01").unwrap(),
            lot_size: Dec::parse("0.00001").unwrap(),
            min_qty: Dec::ZERO,
            min_notional: Dec::ZERO,
            market: Default::default(),
            leverage: 1,
        };
        let mut inbox = Inbox {
            venue: Venue::Spot,
            ws_api: 0,
            user: Some(1),
            lost: Vec::new(),
            doc: JsonDoc::default(),
            instruments: vec![spec],
            updates: Vec::new(),
            events: Vec::new(),
            rate: RateLimits::default(),
            malformed: 0,
            disconnects: 0,
            last_problem: None,
        };
        let mut frame = br#"{"e":"executionReport","E":1,"s":"BTCUSDT","c":"K7-42","x":"TRADE","X":"FILLED","i":9,"q":"1","z":"1","l":"1","L":"2","t":3,"N":"USDT","n":10000000000}"#.to_vec();
        inbox.on_message(1, 0, &mut frame);
        // No update with a wrong or zeroed fee: the frame is counted and explained.
        assert!(inbox.events.is_empty());
        assert_eq!(inbox.malformed, 1);
        assert_eq!(
            inbox.last_problem.as_deref(),
            Some("field \"n\": decimal out of range in 10000000000")
        );
    }
}
