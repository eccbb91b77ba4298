//! Request encoding into reused buffers: WebSocket-API JSON (`order.place`,
//! `order.cancel`, `order.cancelReplace` / USD-M `order.modify`) and REST query
//! strings (`POST|DELETE /api/v3/order`, `/fapi/v1/order`, and signed queries), each
//! signed with HMAC-SHA256.
//!
//! Rules (Binance docs, `signature.json`):
//! - REST: the query string is signed exactly as sent (parameters in the order given,
//!   non-ASCII and reserved bytes percent-encoded), and `&signature=…` comes last.
//!   The API key travels in the `X-MBX-APIKEY` header.
//! - WebSocket API: every parameter but `signature`, `apiKey` included, sorted by
//!   name, joined as `k=v&…` in raw UTF-8; the signature goes into `params`.
//! - `newClientOrderId` is the engine's [`ClientOrderId`] text (`K<session>-<counter>`),
//!   so a resubmitted order is recognised by the venue, never doubled.
//! - Prices and quantities are written with the instrument's decimals (tick and lot
//!   size), e.g. `52000.00` and `0.01000000`.
//!
//! Cost: [`OrderEncoder`] owns its buffers (parameter values, signing payload, output
//! text); each call clears and refills them, so after the first few calls (capacity
//! reached) encoding and signing allocate nothing (asserted by
//! `tests/binance_alloc.rs`).

use kestrel_engine::{
    ClientOrderId, Dec, InstrumentSpec, Market, OrderType, PlaceOrder, PositionAction, Side,
    TimeInForce,
};

use super::keys::Credentials;
use super::sign::Signer;
use super::Venue;

/// Most parameters one request may carry.
pub const MAX_PARAMS: usize = 20;

/// How a request travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket API: a JSON text frame.
    WsApi,
    /// REST: a signed query string.
    Rest,
}

/// What an order request does; the first letter of its WebSocket-API id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// New order (`o.`).
    Place,
    /// Cancel (`c.`).
    Cancel,
    /// Cancel-replace (spot) or modify (USD-M) (`r.`).
    Replace,
}

impl Op {
    fn tag(self) -> u8 {
        match self {
            Op::Place => b'o',
            Op::Cancel => b'c',
            Op::Replace => b'r',
        }
    }
}

/// WebSocket-API request id: an order request (`o.K1-7`) or a plain sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqId {
    /// An order operation; the response is routed back to the order by its id alone.
    Order(Op, ClientOrderId),
    /// Any other request.
    Seq(u64),
}

impl ReqId {
    /// Reads an id written by [`OrderEncoder`] (`o.K1-7`, `c.K1-7`, `r.K1-7`, or a
    /// number).
    pub fn parse(s: &str) -> Option<ReqId> {
        if let Ok(n) = s.parse::<u64>() {
            return Some(ReqId::Seq(n));
        }
        let (tag, cid) = s.split_once('.')?;
        let op = match tag {
            "o" => Op::Place,
            "c" => Op::Cancel,
            "r" => Op::Replace,
            _ => return None,
        };
        Some(ReqId::Order(op, ClientOrderId::parse(cid)?))
    }
}

/// A parameter value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// Text (JSON string).
    Str(&'a str),
    /// Unsigned integer (JSON number).
    Int(u64),
    /// Decimal with this many decimals (JSON string).
    Dec(Dec, u32),
    /// Client order id text `K<session>-<counter>` (JSON string).
    Cid(ClientOrderId),
}

/// Why an order could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Quantity is zero or negative.
    BadQuantity(ClientOrderId),
    /// A priced order has a zero or negative price.
    BadPrice(ClientOrderId),
    /// More than [`MAX_PARAMS`] parameters.
    TooManyParams,
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::BadQuantity(c) => write!(f, "order {c}: quantity must be > 0"),
            EncodeError::BadPrice(c) => write!(f, "order {c}: limit price must be > 0"),
            EncodeError::TooManyParams => write!(f, "more than {MAX_PARAMS} parameters"),
        }
    }
}

impl std::error::Error for EncodeError {}

#[derive(Clone, Copy, Debug, Default)]
struct Param {
    key: &'static str,
    start: u32,
    end: u32,
    quoted: bool,
    /// Text that may hold bytes JSON escapes (numbers, decimals, ids and a plain
    /// API key never do).
    escape: bool,
}

/// Encodes and signs requests into reused buffers (see the module docs).
pub struct OrderEncoder {
    venue: Venue,
    signer: Signer,
    /// `signer` after absorbing `apiKey=<key>&`, the head of every sorted
    /// WebSocket-API payload.
    ws_signer: Signer,
    ws_prefix_len: usize,
    /// The API key holds nothing JSON escapes (checked once, not per request).
    api_key_plain: bool,
    api_key: String,
    recv_window_ms: u64,
    vals: Vec<u8>,
    params: [Param; MAX_PARAMS],
    n: usize,
    payload: Vec<u8>,
    out: Vec<u8>,
}

impl std::fmt::Debug for OrderEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderEncoder")
            .field("venue", &self.venue)
            .field("recv_window_ms", &self.recv_window_ms)
            .field("signer", &self.signer)
            .finish()
    }
}

impl OrderEncoder {
    /// An encoder for `venue` signing with `creds`; `recv_window_ms` goes into every
    /// signed request.
    pub fn new(venue: Venue, creds: &Credentials, recv_window_ms: u64) -> OrderEncoder {
        let signer = Signer::new(&creds.secret);
        let prefix = format!("apiKey={}&", creds.api_key);
        OrderEncoder {
            venue,
            ws_signer: signer.prefixed(prefix.as_bytes()),
            ws_prefix_len: prefix.len(),
            api_key_plain: !creds.api_key.bytes().any(needs_escape),
            signer,
            api_key: creds.api_key.clone(),
            recv_window_ms,
            vals: Vec::with_capacity(512),
            params: [Param::default(); MAX_PARAMS],
            n: 0,
            payload: Vec::with_capacity(1024),
            out: Vec::with_capacity(1024),
        }
    }

    /// The venue encoded for.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// The signer (for REST requests built elsewhere).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// A new order. `ts_ms` is the venue-time timestamp (local clock plus offset).
    ///
    /// # Errors
    /// [`EncodeError::BadQuantity`] / [`EncodeError::BadPrice`] for impossible orders.
    pub fn place(
        &mut self,
        t: Transport,
        p: &PlaceOrder,
        spec: &InstrumentSpec,
        ts_ms: u64,
    ) -> Result<&str, EncodeError> {
        let priced = p.order_type != OrderType::Market;
        if p.qty.raw() <= 0 {
            return Err(EncodeError::BadQuantity(p.cid));
        }
        if priced && p.price.raw() <= 0 {
            return Err(EncodeError::BadPrice(p.cid));
        }
        // In name order: the WebSocket API signs the parameters sorted by name, and the
        // sort then finds them almost in place (REST takes them in any order).
        let mut ps = ParamList::default();
        ps.push("newClientOrderId", Value::Cid(p.cid));
        ps.push("newOrderRespType", Value::Str("RESULT"));
        let hedge = self.venue == Venue::UsdM && spec.market == Market::PerpetualHedge;
        if hedge {
            ps.push(
                "positionSide",
                Value::Str(position_side(p.side, p.position_action)),
            );
        }
        if priced {
            ps.push("price", Value::Dec(p.price, spec.price_decimals()));
        }
        ps.push("quantity", Value::Dec(p.qty, spec.size_decimals()));
        if self.venue == Venue::UsdM && !hedge && p.position_action == PositionAction::Close {
            ps.push("reduceOnly", Value::Str("true"));
        }
        ps.push("side", Value::Str(p.side.as_str()));
        ps.push("symbol", Value::Str(&spec.symbol));
        let (ty, tif) = order_type(self.venue, p.order_type, p.tif);
        if let Some(tif) = tif {
            ps.push("timeInForce", Value::Str(tif));
        }
        ps.push("type", Value::Str(ty));
        match t {
            Transport::WsApi => self.ws_signed(
                "order.place",
                ReqId::Order(Op::Place, p.cid),
                ps.as_slice(),
                ts_ms,
            ),
            Transport::Rest => self.rest_signed(ps.as_slice(), ts_ms),
        }
    }

    /// A cancel of order `cid` (by our id).
    ///
    /// # Errors
    /// Never in practice (the parameter count is fixed); kept for a uniform API.
    pub fn cancel(
        &mut self,
        t: Transport,
        cid: ClientOrderId,
        spec: &InstrumentSpec,
        ts_ms: u64,
    ) -> Result<&str, EncodeError> {
        let mut ps = ParamList::default();
        ps.push("origClientOrderId", Value::Cid(cid));
        ps.push("symbol", Value::Str(&spec.symbol));
        match t {
            Transport::WsApi => self.ws_signed(
                "order.cancel",
                ReqId::Order(Op::Cancel, cid),
                ps.as_slice(),
                ts_ms,
            ),
            Transport::Rest => self.rest_signed(ps.as_slice(), ts_ms),
        }
    }

    /// Replaces order `p.cid` by one with `p`'s price and quantity: spot
    /// `order.cancelReplace` (`STOP_ON_FAILURE`, the new order keeps the client id),
    /// USD-M `order.modify` (the same order amended). REST: `POST
    /// /api/v3/order/cancelReplace` / `PUT /fapi/v1/order`.
    ///
    /// # Errors
    /// As [`place`](Self::place).
    pub fn replace(
        &mut self,
        t: Transport,
        p: &PlaceOrder,
        spec: &InstrumentSpec,
        ts_ms: u64,
    ) -> Result<&str, EncodeError> {
        if p.qty.raw() <= 0 {
            return Err(EncodeError::BadQuantity(p.cid));
        }
        if p.price.raw() <= 0 {
            return Err(EncodeError::BadPrice(p.cid));
        }
        let mut ps = ParamList::default();
        ps.push("symbol", Value::Str(&spec.symbol));
        let method = match self.venue {
            Venue::Spot => {
                ps.push("cancelReplaceMode", Value::Str("STOP_ON_FAILURE"));
                ps.push("cancelOrigClientOrderId", Value::Cid(p.cid));
                ps.push("side", Value::Str(p.side.as_str()));
                let (ty, tif) = order_type(self.venue, p.order_type, p.tif);
                ps.push("type", Value::Str(ty));
                if let Some(tif) = tif {
                    ps.push("timeInForce", Value::Str(tif));
                }
                ps.push("quantity", Value::Dec(p.qty, spec.size_decimals()));
                ps.push("price", Value::Dec(p.price, spec.price_decimals()));
                ps.push("newClientOrderId", Value::Cid(p.cid));
                ps.push("newOrderRespType", Value::Str("RESULT"));
                "order.cancelReplace"
            }
            Venue::UsdM => {
                ps.push("origClientOrderId", Value::Cid(p.cid));
                ps.push("side", Value::Str(p.side.as_str()));
                ps.push("quantity", Value::Dec(p.qty, spec.size_decimals()));
                ps.push("price", Value::Dec(p.price, spec.price_decimals()));
                "order.modify"
            }
        };
        match t {
            Transport::WsApi => self.ws_signed(
                method,
                ReqId::Order(Op::Replace, p.cid),
                ps.as_slice(),
                ts_ms,
            ),
            Transport::Rest => self.rest_signed(ps.as_slice(), ts_ms),
        }
    }

    /// Forgets the last request's parameters.
    fn clear(&mut self) {
        self.vals.clear();
        self.n = 0;
    }

    fn push_all(&mut self, params: &[(&'static str, Value<'_>)]) -> Result<(), EncodeError> {
        for &(key, v) in params {
            self.push(key, v)?;
        }
        Ok(())
    }

    fn push(&mut self, key: &'static str, v: Value<'_>) -> Result<(), EncodeError> {
        if self.n >= MAX_PARAMS {
            return Err(EncodeError::TooManyParams);
        }
        let start = self.vals.len() as u32;
        let quoted = match v {
            Value::Str(s) => {
                self.vals.extend_from_slice(s.as_bytes());
                true
            }
            Value::Int(i) => {
                write_u64(&mut self.vals, i);
                false
            }
            Value::Dec(d, decimals) => {
                write_dec(&mut self.vals, d, decimals);
                true
            }
            Value::Cid(c) => {
                write_cid(&mut self.vals, c);
                true
            }
        };
        self.params[self.n] = Param {
            key,
            start,
            end: self.vals.len() as u32,
            quoted,
            escape: matches!(v, Value::Str(_)),
        };
        self.n += 1;
        Ok(())
    }

    fn val(&self, p: &Param) -> &[u8] {
        &self.vals[p.start as usize..p.end as usize]
    }

    /// A signed WebSocket-API request `{"id":…,"method":…,"params":{…}}` with
    /// `apiKey`, `recvWindow` and `timestamp` added to `params`.
    ///
    /// # Errors
    /// [`EncodeError::TooManyParams`].
    pub fn ws_signed(
        &mut self,
        method: &str,
        id: ReqId,
        params: &[(&'static str, Value<'_>)],
        ts_ms: u64,
    ) -> Result<&str, EncodeError> {
        // `apiKey` first: most requests' parameters then arrive in name order.
        self.clear();
        let key = std::mem::take(&mut self.api_key);
        let r = self.push("apiKey", Value::Str(&key));
        self.api_key = key;
        r?;
        self.params[self.n - 1].escape = !self.api_key_plain;
        self.push_all(params)?;
        self.push("recvWindow", Value::Int(self.recv_window_ms))?;
        self.push("timestamp", Value::Int(ts_ms))?;
        self.params[..self.n].sort_unstable_by(|a, b| key_order(a.key, b.key));
        // Signing payload: sorted k=v&…, raw UTF-8.
        self.payload.clear();
        for i in 0..self.n {
            let p = self.params[i];
            if i > 0 {
                self.payload.push(b'&');
            }
            self.payload.extend_from_slice(p.key.as_bytes());
            self.payload.push(b'=');
            let (s, e) = (p.start as usize, p.end as usize);
            self.payload.extend_from_slice(&self.vals[s..e]);
        }
        // The payload starts with the absorbed prefix when the encoder's own `apiKey`
        // (pushed first: its value is the first bytes of `vals`) sorted first and
        // something follows it.
        let n = self.ws_prefix_len;
        let first = self.params[0];
        let sig = if self.n > 1
            && first.key == "apiKey"
            && first.start == 0
            && first.end as usize == self.api_key.len()
        {
            self.ws_signer.sign(&self.payload[n..])
        } else {
            self.signer.sign(&self.payload)
        };
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(b"{\"id\":");
        match id {
            ReqId::Order(op, cid) => {
                out.extend_from_slice(&[b'"', op.tag(), b'.']);
                write_cid(out, cid);
                out.push(b'"');
            }
            ReqId::Seq(n) => write_u64(out, n),
        }
        out.extend_from_slice(b",\"method\":\"");
        json_escape(out, method.as_bytes());
        out.extend_from_slice(b"\",\"params\":{");
        for i in 0..self.n {
            let p = self.params[i];
            out.push(b'"');
            out.extend_from_slice(p.key.as_bytes());
            out.extend_from_slice(b"\":");
            let v = &self.vals[p.start as usize..p.end as usize];
            if p.quoted {
                out.push(b'"');
                if p.escape {
                    json_escape(out, v);
                } else {
                    out.extend_from_slice(v);
                }
                out.push(b'"');
            } else {
                out.extend_from_slice(v);
            }
            out.push(b',');
        }
        out.extend_from_slice(b"\"signature\":\"");
        out.extend_from_slice(&sig);
        out.extend_from_slice(b"\"}}");
        Ok(as_text(&self.out))
    }

    /// A signed REST query string: `params` in order, then `recvWindow`, `timestamp`
    /// and `signature`.
    ///
    /// # Errors
    /// [`EncodeError::TooManyParams`].
    pub fn rest_signed(
        &mut self,
        params: &[(&'static str, Value<'_>)],
        ts_ms: u64,
    ) -> Result<&str, EncodeError> {
        self.clear();
        self.push_all(params)?;
        self.push("recvWindow", Value::Int(self.recv_window_ms))?;
        self.push("timestamp", Value::Int(ts_ms))?;
        self.out.clear();
        for i in 0..self.n {
            let p = self.params[i];
            if i > 0 {
                self.out.push(b'&');
            }
            self.out.extend_from_slice(p.key.as_bytes());
            self.out.push(b'=');
            let (s, e) = (p.start as usize, p.end as usize);
            percent_encode(&mut self.out, &self.vals[s..e]);
        }
        let sig = self.signer.sign(&self.out);
        self.out.extend_from_slice(b"&signature=");
        self.out.extend_from_slice(&sig);
        Ok(as_text(&self.out))
    }

    /// The last signing payload of [`ws_signed`](Self::ws_signed) (tests, debugging).
    pub fn last_payload(&self) -> &str {
        as_text(&self.payload)
    }

    /// Number of parameters of the last request and the value of `key` in it.
    pub fn last_param(&self, key: &str) -> Option<&str> {
        self.params[..self.n]
            .iter()
            .find(|p| p.key == key)
            .map(|p| as_text(self.val(p)))
    }
}

/// Fixed-capacity parameter list on the stack.
struct ParamList<'a> {
    items: [(&'static str, Value<'a>); 16],
    n: usize,
}

impl Default for ParamList<'_> {
    fn default() -> Self {
        ParamList {
            items: [("", Value::Int(0)); 16],
            n: 0,
        }
    }
}

impl<'a> ParamList<'a> {
    fn push(&mut self, key: &'static str, v: Value<'a>) {
        // Order requests push at most 13 parameters; 16 slots always suffice.
        if let Some(slot) = self.items.get_mut(self.n) {
            *slot = (key, v);
            self.n += 1;
        }
    }
    fn as_slice(&self) -> &[(&'static str, Value<'a>)] {
        &self.items[..self.n]
    }
}

/// Every byte written into the buffers comes from `&str` values, ASCII digits and
/// ASCII escapes, so the text is UTF-8; a failure is impossible and reads as empty.
fn as_text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

/// Binance order type and time in force.
fn order_type(
    venue: Venue,
    t: OrderType,
    tif: TimeInForce,
) -> (&'static str, Option<&'static str>) {
    let tif_s = match tif {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    };
    match (venue, t) {
        (_, OrderType::Market) => ("MARKET", None),
        (_, OrderType::Limit) => ("LIMIT", Some(tif_s)),
        (Venue::Spot, OrderType::LimitMaker) => ("LIMIT_MAKER", None),
        (Venue::UsdM, OrderType::LimitMaker) => ("LIMIT", Some("GTX")),
    }
}

/// USD-M hedge-mode position side: opening buys and closing sells act on LONG.
fn position_side(side: Side, action: PositionAction) -> &'static str {
    match (side, action) {
        (Side::Buy, PositionAction::Open) | (Side::Sell, PositionAction::Close) => "LONG",
        (Side::Sell, PositionAction::Open) | (Side::Buy, PositionAction::Close) => "SHORT",
    }
}

/// Appends the decimal digits of `v`.
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `d` with `decimals` decimals (at most 9), or more when `d` has more
/// significant decimals: a value off the instrument's step is sent as it is (the
/// venue then refuses it with its filter error) rather than silently rounded.
pub fn write_dec(out: &mut Vec<u8>, d: Dec, decimals: u32) {
    let raw = d.raw();
    if raw < 0 {
        out.push(b'-');
    }
    let abs = raw.unsigned_abs();
    let scale = kestrel_engine::num::SCALE as u64;
    let mut frac = abs % scale;
    let mut needed = kestrel_engine::num::DECIMALS;
    while needed > 0 && frac.is_multiple_of(10) {
        frac /= 10;
        needed -= 1;
    }
    let decimals = decimals.max(needed).min(kestrel_engine::num::DECIMALS);
    write_u64(out, abs / scale);
    if decimals > 0 {
        out.push(b'.');
        let mut frac = abs % scale;
        for _ in 0..decimals {
            frac *= 10;
            out.push(b'0' + (frac / scale) as u8);
            frac %= scale;
        }
    }
}

/// Appends the client order id text `K<session>-<counter>`.
pub fn write_cid(out: &mut Vec<u8>, c: ClientOrderId) {
    out.push(b'K');
    write_u64(out, c.session() as u64);
    out.push(b'-');
    write_u64(out, c.counter() as u64);
}

/// A byte JSON writes escaped in a string: a quote, a backslash, a control byte.
fn needs_escape(b: u8) -> bool {
    matches!(b, b'"' | b'\\' | 0..=0x1f)
}

fn json_escape(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Copies runs of plain bytes in one go; escapes quotes, backslashes, control bytes.
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Percent-encodes everything but RFC 3986 unreserved bytes (uppercase hex).
pub fn percent_encode(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Parameter names in byte order (Binance signs them sorted by name), told apart by
/// their first byte when it differs, as it mostly does, without a `memcmp` call.
#[inline]
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::keys::Secret;
    use kestrel_engine::Market;

    const SPOT_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SPOT_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    fn enc(venue: Venue, window: u64) -> OrderEncoder {
        let creds = Credentials {
            api_key: SPOT_KEY.into(),
            secret: Secret::new(SPOT_SECRET),
        };
        OrderEncoder::new(venue, &creds, window)
    }

    fn spec(symbol: &str, tick: &str, lot: &str, market: Market) -> InstrumentSpec {
        InstrumentSpec {
            symbol: symbol.into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            tick_size: d(tick),
            lot_size: d(lot),
            min_qty: Dec::ZERO,
            min_notional: Dec::ZERO,
            market,
            leverage: 1,
        }
    }

    #[test]
    fn rest_vectors_byte_for_byte() {
        let mut e = enc(Venue::Spot, 5000);
        let q = e
            .rest_signed(
                &[
                    ("symbol", Value::Str("LTCBTC")),
                    ("side", Value::Str("BUY")),
                    ("type", Value::Str("LIMIT")),
                    ("timeInForce", Value::Str("GTC")),
                    ("quantity", Value::Dec(d("1"), 0)),
                    ("price", Value::Dec(d("0.1"), 1)),
                ],
                1499827319559,
            )
            .unwrap();
        assert_eq!(q, "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
        let q = e
            .rest_signed(
                &[
                    ("symbol", Value::Str("１２３４５６")),
                    ("side", Value::Str("BUY")),
                    ("type", Value::Str("LIMIT")),
                    ("timeInForce", Value::Str("GTC")),
                    ("quantity", Value::Dec(d("1"), 0)),
                    ("price", Value::Dec(d("0.1"), 1)),
                ],
                1499827319559,
            )
            .unwrap()
            .to_string();
        assert!(
            q.starts_with("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY")
        );
        assert!(
            q.ends_with(
                "&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
            ),
            "{q}"
        );
    }

    #[test]
    fn ws_api_vectors_byte_for_byte() {
        let mut e = enc(Venue::Spot, 100);
        let params = [
            ("symbol", Value::Str("BTCUSDT")),
            ("side", Value::Str("SELL")),
            ("type", Value::Str("LIMIT")),
            ("timeInForce", Value::Str("GTC")),
            ("quantity", Value::Dec(d("0.01"), 8)),
            ("price", Value::Dec(d("52000"), 2)),
        ];
        let text = e
            .ws_signed("order.place", ReqId::Seq(7), &params, 1645423376532)
            .unwrap()
            .to_string();
        assert_eq!(
            e.last_payload(),
            format!("apiKey={SPOT_KEY}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT")
        );
        assert_eq!(
            text,
            format!("{{\"id\":7,\"method\":\"order.place\",\"params\":{{\"apiKey\":\"{SPOT_KEY}\",\"price\":\"52000.00\",\"quantity\":\"0.01000000\",\"recvWindow\":100,\"side\":\"SELL\",\"symbol\":\"BTCUSDT\",\"timeInForce\":\"GTC\",\"timestamp\":1645423376532,\"type\":\"LIMIT\",\"signature\":\"aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24\"}}}}")
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["params"]["recvWindow"], 100);
        // Non-ASCII symbol: raw UTF-8 in the payload.
        let mut e = enc(Venue::Spot, 5000);
        let params = [
            ("symbol", Value::Str("１２３４５６")),
            ("side", Value::Str("BUY")),
            ("type", Value::Str("LIMIT")),
            ("timeInForce", Value::Str("GTC")),
            ("quantity", Value::Dec(d("1"), 8)),
            ("price", Value::Dec(d("0.1"), 8)),
        ];
        let text = e
            .ws_signed("order.place", ReqId::Seq(1), &params, 1645423376532)
            .unwrap();
        assert!(text.contains("\"signature\":\"b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd\""), "{text}");
    }

    #[test]
    fn a_payload_not_headed_by_the_encoders_api_key_is_signed_whole() {
        let mut e = enc(Venue::Spot, 100);
        let signer = Signer::from_key(SPOT_SECRET.as_bytes());
        // Sorted before `apiKey` ("Z" < "a", "aa" < "ap"), or a second `apiKey`: the
        // prefixed signer cannot serve; the whole payload is signed.
        for first in [("Zeta", Value::Int(1)), ("aa", Value::Str("x"))] {
            let text = e
                .ws_signed("x", ReqId::Seq(1), &[first, ("symbol", Value::Str("B"))], 5)
                .unwrap()
                .to_string();
            let payload = e.last_payload().to_string();
            assert!(!payload.starts_with("apiKey="), "{payload}");
            let sig = signer.sign(payload.as_bytes());
            let want = format!("\"signature\":\"{}\"", std::str::from_utf8(&sig).unwrap());
            assert!(text.contains(&want), "{text}");
        }
        let text = e
            .ws_signed("x", ReqId::Seq(1), &[("apiKey", Value::Str("other"))], 5)
            .unwrap()
            .to_string();
        let payload = e.last_payload().to_string();
        let sig = signer.sign(payload.as_bytes());
        assert!(
            text.contains(std::str::from_utf8(&sig).unwrap()),
            "{payload}"
        );
    }

    proptest::proptest! {
        /// Integers read back as written; decimals read back exactly, with the
        /// decimals asked for or as many as the value needs, whichever is more.
        #[test]
        fn numbers_are_written_exactly(
            v in proptest::prelude::any::<u64>(),
            raw in (i64::MIN + 1)..=i64::MAX,
            zeros in 0u32..12,
            decimals in 0u32..12,
        ) {
            let mut b = Vec::new();
            write_u64(&mut b, v);
            proptest::prop_assert_eq!(std::str::from_utf8(&b).unwrap(), v.to_string());
            // Trailing zeros of every count, as prices on a tick grid have.
            let raw = raw / 10i64.pow(zeros) * 10i64.pow(zeros);
            let d = Dec(raw);
            let mut b = Vec::new();
            write_dec(&mut b, d, decimals);
            let text = std::str::from_utf8(&b).unwrap();
            proptest::prop_assert_eq!(Dec::parse(text).ok(), Some(d), "{}", text);
            let frac = text.split_once('.').map_or(0, |(_, f)| f.len() as u32);
            let needed = (0..=9u32)
                .find(|&n| raw.unsigned_abs() % 10u64.pow(9 - n) == 0)
                .unwrap_or(9);
            proptest::prop_assert_eq!(frac, decimals.max(needed).min(9), "{}", text);
        }

        /// The signing sort's order is the names' byte order, whatever the names.
        #[test]
        fn key_order_is_byte_order(a in "[abcA]{0,8}", b in "[abcA]{0,8}") {
            proptest::prop_assert_eq!(key_order(&a, &b), a.cmp(&b));
        }
    }

    #[test]
    fn text_that_needs_escaping_is_escaped_and_plain_values_are_not() {
        // An API key and a symbol with a quote, a backslash and a control byte: the
        // request stays JSON and reads back as given; numbers and ids are plain.
        let creds = Credentials {
            api_key: "key\"with\\odd\u{1}bytes".into(),
            secret: Secret::new(SPOT_SECRET),
        };
        let mut e = OrderEncoder::new(Venue::Spot, &creds, 5000);
        let s = spec("BTC\"USDT", "0.01", "0.00001", Market::Spot);
        let p = order(
            ClientOrderId::new(3, 17),
            Side::Buy,
            OrderType::Limit,
            "60000.5",
            "0.0015",
        );
        let w = e.place(Transport::WsApi, &p, &s, 1700000000000).unwrap();
        assert!(w.contains(r#""apiKey":"key\"with\\odd\u0001bytes""#), "{w}");
        let v: serde_json::Value = serde_json::from_str(w).unwrap();
        assert_eq!(v["params"]["apiKey"], "key\"with\\odd\u{1}bytes");
        assert_eq!(v["params"]["symbol"], "BTC\"USDT");
        assert_eq!(v["params"]["price"], "60000.50");
        assert_eq!(v["params"]["newClientOrderId"], "K3-17");
        // The payload signed is the raw text, unescaped.
        assert!(e
            .last_payload()
            .starts_with("apiKey=key\"with\\odd\u{1}bytes&newClientOrderId=K3-17&"));
        // The usual key is plain: written as it is.
        let mut e = enc(Venue::Spot, 5000);
        let s = spec("BTCUSDT", "0.01", "0.00001", Market::Spot);
        let w = e.place(Transport::WsApi, &p, &s, 1700000000000).unwrap();
        assert!(w.contains(&format!(r#""apiKey":"{SPOT_KEY}""#)), "{w}");
    }

    fn order(cid: ClientOrderId, side: Side, t: OrderType, price: &str, qty: &str) -> PlaceOrder {
        PlaceOrder {
            cid,
            instrument: 0,
            side,
            order_type: t,
            tif: TimeInForce::Gtc,
            price: d(price),
            qty: d(qty),
            position_action: PositionAction::Open,
        }
    }

    #[test]
    fn orders_encode_exactly() {
        let s = spec("BTCUSDT", "0.01", "0.00001", Market::Spot);
        let cid = ClientOrderId::new(3, 17);
        let mut e = enc(Venue::Spot, 5000);
        let p = order(cid, Side::Buy, OrderType::Limit, "60000.5", "0.0015");
        let q = e
            .place(Transport::Rest, &p, &s, 1700000000000)
            .unwrap()
            .to_string();
        let body = "newClientOrderId=K3-17&newOrderRespType=RESULT&price=60000.50&quantity=0.00150&side=BUY&symbol=BTCUSDT&timeInForce=GTC&type=LIMIT&recvWindow=5000&timestamp=1700000000000";
        let sig = Signer::from_key(SPOT_SECRET.as_bytes()).sign(body.as_bytes());
        assert_eq!(
            q,
            format!("{body}&signature={}", std::str::from_utf8(&sig).unwrap())
        );

        let w = e
            .place(Transport::WsApi, &p, &s, 1700000000000)
            .unwrap()
            .to_string();
        assert!(
            w.starts_with("{\"id\":\"o.K3-17\",\"method\":\"order.place\",\"params\":{\"apiKey\":"),
            "{w}"
        );
        assert_eq!(
            e.last_payload(),
            format!("apiKey={SPOT_KEY}&newClientOrderId=K3-17&newOrderRespType=RESULT&price=60000.50&quantity=0.00150&recvWindow=5000&side=BUY&symbol=BTCUSDT&timeInForce=GTC&timestamp=1700000000000&type=LIMIT")
        );
        let v: serde_json::Value = serde_json::from_str(&w).unwrap();
        assert_eq!(
            ReqId::parse(v["id"].as_str().unwrap()),
            Some(ReqId::Order(Op::Place, cid))
        );

        // Spot post-only and market.
        let m = order(cid, Side::Sell, OrderType::LimitMaker, "1", "2");
        e.place(Transport::Rest, &m, &s, 1).unwrap();
        assert_eq!(
            (e.last_param("type"), e.last_param("timeInForce")),
            (Some("LIMIT_MAKER"), None)
        );
        let m = order(cid, Side::Sell, OrderType::Market, "0", "2");
        e.place(Transport::Rest, &m, &s, 1).unwrap();
        assert_eq!(
            (e.last_param("type"), e.last_param("price")),
            (Some("MARKET"), None)
        );

        // Cancel and cancel-replace.
        let c = e.cancel(Transport::WsApi, cid, &s, 5).unwrap().to_string();
        assert!(c.starts_with("{\"id\":\"c.K3-17\",\"method\":\"order.cancel\""));
        assert_eq!(e.last_param("origClientOrderId"), Some("K3-17"));
        let r = e.replace(Transport::WsApi, &p, &s, 5).unwrap().to_string();
        assert!(r.starts_with("{\"id\":\"r.K3-17\",\"method\":\"order.cancelReplace\""));
        assert_eq!(
            (
                e.last_param("cancelReplaceMode"),
                e.last_param("cancelOrigClientOrderId"),
                e.last_param("newClientOrderId")
            ),
            (Some("STOP_ON_FAILURE"), Some("K3-17"), Some("K3-17"))
        );

        // Errors.
        let bad = order(cid, Side::Buy, OrderType::Limit, "0", "1");
        assert_eq!(
            e.place(Transport::Rest, &bad, &s, 1),
            Err(EncodeError::BadPrice(cid))
        );
        let bad = order(cid, Side::Buy, OrderType::Market, "0", "0");
        assert_eq!(
            e.place(Transport::Rest, &bad, &s, 1),
            Err(EncodeError::BadQuantity(cid))
        );
    }

    #[test]
    fn usdm_orders() {
        let cid = ClientOrderId::new(1, 2);
        let mut e = enc(Venue::UsdM, 5000);
        let one_way = spec("BTCUSDT", "0.1", "0.001", Market::PerpetualOneway);
        let mut p = order(cid, Side::Sell, OrderType::LimitMaker, "60000", "0.01");
        p.position_action = PositionAction::Close;
        e.place(Transport::Rest, &p, &one_way, 1).unwrap();
        assert_eq!(
            (
                e.last_param("type"),
                e.last_param("timeInForce"),
                e.last_param("reduceOnly"),
                e.last_param("positionSide")
            ),
            (Some("LIMIT"), Some("GTX"), Some("true"), None)
        );
        let hedge = spec("BTCUSDT", "0.1", "0.001", Market::PerpetualHedge);
        e.place(Transport::Rest, &p, &hedge, 1).unwrap();
        assert_eq!(
            (e.last_param("positionSide"), e.last_param("reduceOnly")),
            (Some("LONG"), None)
        );
        let r = e
            .replace(Transport::WsApi, &p, &hedge, 1)
            .unwrap()
            .to_string();
        assert!(r.contains("\"method\":\"order.modify\""), "{r}");
        assert_eq!(
            (e.last_param("price"), e.last_param("quantity")),
            (Some("60000.0"), Some("0.010"))
        );
    }

    #[test]
    fn numbers_format() {
        let mut b = Vec::new();
        write_dec(&mut b, d("-1.5"), 3);
        b.push(b' ');
        write_dec(&mut b, d("123.456789"), 2);
        b.push(b' ');
        write_dec(&mut b, d("7"), 0);
        b.push(b' ');
        write_u64(&mut b, 0);
        b.push(b' ');
        write_u64(&mut b, u64::MAX);
        b.push(b' ');
        write_cid(&mut b, ClientOrderId::new(u32::MAX, 0));
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            "-1.500 123.456789 7 0 18446744073709551615 K4294967295-0"
        );
        let mut b = Vec::new();
        percent_encode(&mut b, "a b&c=d~".as_bytes());
        json_escape(&mut b, b"\"\\\x01");
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            "a%20b%26c%3Dd~\\\"\\\\\\u0001"
        );
        assert_eq!(ReqId::parse("x.K1-2"), None);
        assert_eq!(
            ReqId::parse("c.K1-2"),
            Some(ReqId::Order(Op::Cancel, ClientOrderId::new(1, 2)))
        );
        assert_eq!(ReqId::parse("42"), Some(ReqId::Seq(42)));
    }
}
