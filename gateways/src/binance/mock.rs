//! A loopback Binance venue for tests: REST, WebSocket API and user data stream on
//! one `127.0.0.1` port, speaking the documented payloads and verifying every
//! signature with the same secret as the connector.
//!
//! - REST: `GET time`, `POST|PUT userDataStream` (`listenKey`), signed
//!   `POST|DELETE|GET order`, `POST order/cancelReplace` (spot) / `PUT order`
//!   (USD-M modify), `GET openOrders`, `GET myTrades` (`userTrades`), with
//!   `X-MBX-USED-WEIGHT-1M` and `X-MBX-ORDER-COUNT-10S` headers.
//! - WebSocket API (`/ws-api/v3`, `/ws-fapi/v1`): `order.place`, `order.cancel`,
//!   `order.cancelReplace`, `order.modify`, with `rateLimits`.
//! - User stream (`/ws/<listenKey>`): `executionReport` (spot) or
//!   `ORDER_TRADE_UPDATE` (USD-M) for every order change.
//! - Checks: API key (-2015), signature (-1022), timestamp within `recvWindow` and
//!   not more than 1 s ahead (-1021, against the venue clock = wall clock +
//!   [`MockVenue::set_skew_ms`]), symbol (-1121), `LOT_SIZE` / `PRICE_FILTER`
//!   (-1013), quote balance for buys (-2010 spot, -2019 USD-M), duplicate open client
//!   id (-2010), unknown order on cancel (-2011) and query (-2013).
//! - Orders rest until the test fills them ([`MockVenue::fill`]); there is no book
//!   unless [`MockVenue::set_book`] sets one: from then on a limit order of that
//!   symbol that crosses the book on arrival fills at once in full as taker (buy at
//!   the ask, sell at the bid), and resting orders fill in full as maker at their
//!   price when a later book crosses them (buy limit >= ask, sell limit <= bid).
//! - [`MockVenue::state_json`] (also `GET /mock/state`, unsigned): every client
//!   order id received, the trades, and the net position per symbol.
//! - Faults: [`MockVenue::set_ws_down`] drops every WebSocket and refuses new ones
//!   (user-stream events meanwhile are lost, as on the real venue);
//!   [`MockVenue::expire_listen_key`].
//!
//! Every socket has a timeout and every thread stops when the venue is dropped.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kestrel_engine::{ClientOrderId, Dec, InstrumentSpec};
use serde_json::{json, Map, Value as J};
use tungstenite::Message;

use super::sign::Signer;
use super::Venue;

/// Commission charged on every fill, in the quote asset: 0.1 % of the notional.
pub const FEE_RATE: Dec = Dec(1_000_000);

#[derive(Clone, Debug)]
struct MockOrder {
    id: u64,
    symbol: String,
    cid: String,
    side: String,
    ty: String,
    tif: String,
    price: Dec,
    qty: Dec,
    cum: Dec,
    cum_quote: Dec,
    status: &'static str,
    created_ms: u64,
    locked: Dec,
}

#[derive(Clone, Debug)]
struct MockTrade {
    id: u64,
    order_id: u64,
    symbol: String,
    price: Dec,
    qty: Dec,
    fee: Dec,
    fee_asset: String,
    maker: bool,
    buyer: bool,
    time: u64,
}

type Failure = (u16, i64, String);

struct State {
    venue: Venue,
    api_key: String,
    signer: Signer,
    instruments: Vec<InstrumentSpec>,
    skew_ms: i64,
    orders: BTreeMap<u64, MockOrder>,
    next_order_id: u64,
    next_trade_id: u64,
    trades: Vec<MockTrade>,
    balance: Dec,
    listen_key: Option<String>,
    listen_keys_made: u64,
    keepalives: u64,
    user_sessions: BTreeMap<u64, VecDeque<String>>,
    next_session: u64,
    ws_down: bool,
    ws_gen: u64,
    log: Vec<String>,
    signature_failures: u64,
    weight: u64,
    order_count: u64,
    /// The 10 s order limit reported in `rateLimits` (0: none reported).
    order_limit_10s: u64,
    cancel_seq: u64,
    /// The next new order fails with this (status, code, msg, retryAfter ms).
    fail_next: Option<(u16, i64, String, u64)>,
    /// Every client order id a new order (place or replace) arrived with, in order,
    /// refused ones included.
    received_cids: Vec<String>,
    /// Best bid and ask per symbol, once [`MockVenue::set_book`] was called: orders
    /// then fill against it (see the module docs).
    books: BTreeMap<String, (Dec, Dec)>,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn s(d: Dec) -> String {
    d.to_string()
}

impl State {
    fn now(&self) -> u64 {
        (wall_ms() as i64 + self.skew_ms).max(0) as u64
    }

    fn spec(&self, symbol: &str) -> Option<&InstrumentSpec> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }

    /// API key, signature and timestamp checks shared by both transports.
    fn authenticate(
        &mut self,
        api_key: Option<&str>,
        payload: &str,
        signature: Option<&str>,
        params: &BTreeMap<String, String>,
    ) -> Result<(), Failure> {
        if api_key != Some(self.api_key.as_str()) {
            return Err((
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.".into(),
            ));
        }
        let ok =
            signature.is_some_and(|sig| self.signer.verify(payload.as_bytes(), sig.as_bytes()));
        if !ok {
            self.signature_failures += 1;
            return Err((
                400,
                -1022,
                "Signature for this request is not valid.".into(),
            ));
        }
        let ts: u64 = params
            .get("timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or((
                400,
                -1102,
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
                    .to_string(),
            ))?;
        let window: u64 = params
            .get("recvWindow")
            .and_then(|t| t.parse().ok())
            .unwrap_or(5_000);
        let now = self.now();
        if ts > now + 1_000 {
            return Err((
                400,
                -1021,
                "Timestamp for this request was 1000ms ahead of the server's time.".into(),
            ));
        }
        if now.saturating_sub(ts) > window {
            return Err((
                400,
                -1021,
                "Timestamp for this request is outside of the recvWindow.".into(),
            ));
        }
        Ok(())
    }

    fn push_user(&mut self, event: String) {
        for q in self.user_sessions.values_mut() {
            q.push_back(event.clone());
        }
    }

    fn order_json(&self, o: &MockOrder) -> J {
        match self.venue {
            Venue::Spot => json!({
                "symbol": o.symbol, "orderId": o.id, "orderListId": -1, "clientOrderId": o.cid,
                "transactTime": self.now(), "price": s(o.price), "origQty": s(o.qty),
                "executedQty": s(o.cum), "origQuoteOrderQty": "0.00000000",
                "cummulativeQuoteQty": s(o.cum_quote), "status": o.status,
                "timeInForce": o.tif, "type": o.ty, "side": o.side,
                "workingTime": o.created_ms, "selfTradePreventionMode": "NONE"
            }),
            Venue::UsdM => json!({
                "orderId": o.id, "symbol": o.symbol, "status": o.status, "clientOrderId": o.cid,
                "price": s(o.price), "avgPrice": "0.00", "origQty": s(o.qty),
                "executedQty": s(o.cum), "cumQty": s(o.cum), "cumQuote": s(o.cum_quote),
                "timeInForce": o.tif, "type": o.ty, "reduceOnly": false, "closePosition": false,
                "side": o.side, "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE",
                "priceProtect": false, "origType": o.ty, "priceMatch": "NONE",
                "selfTradePreventionMode": "NONE", "goodTillDate": 0, "updateTime": self.now()
            }),
        }
    }

    /// The user-stream event for an order change.
    fn order_event(
        &self,
        o: &MockOrder,
        x: &str,
        trade: Option<&MockTrade>,
        cancel_id: Option<&str>,
    ) -> String {
        let now = self.now();
        let (l, lp, n, na, t, m) = match trade {
            Some(t) => (
                s(t.qty),
                s(t.price),
                s(t.fee),
                J::from(t.fee_asset.clone()),
                t.id as i64,
                t.maker,
            ),
            None => ("0".into(), "0".into(), "0".into(), J::Null, -1, false),
        };
        match self.venue {
            Venue::Spot => {
                let (c, orig) = match cancel_id {
                    Some(cid) => (cid.to_string(), o.cid.clone()),
                    None => (o.cid.clone(), String::new()),
                };
                json!({
                    "e": "executionReport", "E": now, "s": o.symbol, "c": c, "S": o.side,
                    "o": o.ty, "f": o.tif, "q": s(o.qty), "p": s(o.price), "P": "0.00000000",
                    "F": "0.00000000", "g": -1, "C": orig, "x": x, "X": o.status, "r": "NONE",
                    "i": o.id, "l": l, "z": s(o.cum), "L": lp, "n": n, "N": na, "T": now,
                    "t": t, "w": o.status == "NEW", "m": m, "M": trade.is_some(), "O": o.created_ms,
                    "Z": s(o.cum_quote), "Y": "0", "Q": "0.00000000", "W": o.created_ms, "V": "NONE"
                })
                .to_string()
            }
            Venue::UsdM => json!({
                "e": "ORDER_TRADE_UPDATE", "E": now, "T": now,
                "o": {
                    "s": o.symbol, "c": o.cid, "S": o.side, "o": o.ty, "f": o.tif, "q": s(o.qty),
                    "p": s(o.price), "ap": "0", "sp": "0", "x": x, "X": o.status, "i": o.id,
                    "l": l, "z": s(o.cum), "L": lp, "N": na, "n": n, "T": now, "t": t.max(0),
                    "b": "0", "a": "0", "m": m, "R": false, "wt": "CONTRACT_PRICE", "ot": o.ty,
                    "ps": "BOTH", "cp": false, "rp": "0", "pP": false, "si": 0, "ss": 0,
                    "V": "NONE", "pm": "NONE", "gtd": 0
                }
            })
            .to_string(),
        }
    }

    fn dec_param(params: &BTreeMap<String, String>, key: &str) -> Result<Option<Dec>, Failure> {
        match params.get(key) {
            None => Ok(None),
            Some(v) => Dec::parse(v)
                .map(Some)
                .map_err(|_| (400, -1100, format!("Illegal characters found in parameter '{key}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."))),
        }
    }

    fn find_open(&self, params: &BTreeMap<String, String>, key: &str) -> Option<u64> {
        let by_cid = params.get(key);
        let by_id = params.get("orderId").and_then(|v| v.parse::<u64>().ok());
        self.orders
            .iter()
            .find(|(k, o)| *k & DONE_BIT == 0 && (Some(&o.cid) == by_cid || Some(o.id) == by_id))
            .map(|(k, _)| *k)
    }

    fn place(&mut self, params: &BTreeMap<String, String>) -> Result<J, Failure> {
        if let Some(c) = params.get("newClientOrderId") {
            self.received_cids.push(c.clone());
        }
        if let Some((status, code, msg, _)) = self.fail_next.clone() {
            return Err((status, code, msg));
        }
        let symbol = params.get("symbol").cloned().unwrap_or_default();
        let Some(spec) = self.spec(&symbol).cloned() else {
            return Err((400, -1121, "Invalid symbol.".into()));
        };
        let cid = params
            .get("newClientOrderId")
            .cloned()
            .unwrap_or_else(|| format!("mock{}", self.next_order_id));
        if self
            .orders
            .iter()
            .any(|(k, o)| k & DONE_BIT == 0 && o.cid == cid)
        {
            return Err((400, -2010, "Duplicate order sent.".into()));
        }
        let qty = Self::dec_param(params, "quantity")?.ok_or((
            400,
            -1102,
            "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
                .to_string(),
        ))?;
        let price = Self::dec_param(params, "price")?.unwrap_or(Dec::ZERO);
        let ty = params.get("type").cloned().unwrap_or_default();
        if !qty.is_multiple_of(spec.lot_size) || qty < spec.min_quantity() {
            return Err((400, -1013, "Filter failure: LOT_SIZE".into()));
        }
        if ty != "MARKET" && (price.raw() <= 0 || !price.is_multiple_of(spec.tick_size)) {
            return Err((400, -1013, "Filter failure: PRICE_FILTER".into()));
        }
        let side = params.get("side").cloned().unwrap_or_default();
        let locked = if side == "BUY" {
            price.mul(qty)
        } else {
            Dec::ZERO
        };
        if locked > self.balance {
            return Err(match self.venue {
                Venue::Spot => (
                    400,
                    -2010,
                    "Account has insufficient balance for requested action.".into(),
                ),
                Venue::UsdM => (400, -2019, "Margin is insufficient.".into()),
            });
        }
        self.balance -= locked;
        self.order_count += 1;
        let o = MockOrder {
            id: self.next_order_id,
            symbol,
            cid,
            side,
            ty,
            tif: params
                .get("timeInForce")
                .cloned()
                .unwrap_or_else(|| "GTC".into()),
            price,
            qty,
            cum: Dec::ZERO,
            cum_quote: Dec::ZERO,
            status: "NEW",
            created_ms: self.now(),
            locked,
        };
        self.next_order_id += 1;
        let ev = self.order_event(&o, "NEW", None, None);
        self.push_user(ev);
        let j = self.order_json(&o);
        let id = o.id;
        let taker_px = self.crossing_px(&o);
        self.orders.insert(id, o);
        if let Some(px) = taker_px {
            self.fill_id(id, Dec(i64::MAX), px, false);
        }
        Ok(j)
    }

    /// The price a limit order trades at against the current book, if it crosses
    /// it: the ask for a buy at or above it, the bid for a sell at or below it.
    fn crossing_px(&self, o: &MockOrder) -> Option<Dec> {
        let &(bid, ask) = self.books.get(&o.symbol)?;
        if o.ty != "LIMIT" && o.ty != "LIMIT_MAKER" {
            return None;
        }
        match o.side.as_str() {
            "BUY" if o.price >= ask => Some(ask),
            "SELL" if o.price <= bid => Some(bid),
            _ => None,
        }
    }

    /// Sets the book of `symbol` and fills every resting order it crosses, in full,
    /// as maker at the order's price.
    fn set_book(&mut self, symbol: &str, bid: Dec, ask: Dec) {
        self.books.insert(symbol.to_string(), (bid, ask));
        let crossed: Vec<(u64, Dec)> = self
            .orders
            .iter()
            .filter(|(k, o)| *k & DONE_BIT == 0 && o.symbol == symbol)
            .filter(|(_, o)| self.crossing_px(o).is_some())
            .map(|(k, o)| (*k, o.price))
            .collect();
        for (id, px) in crossed {
            self.fill_id(id, Dec(i64::MAX), px, true);
        }
    }

    /// Net position per symbol from the trades: bought minus sold base quantity, and
    /// the quote spent or received net of fees.
    fn positions(&self) -> BTreeMap<String, (Dec, Dec)> {
        let mut m: BTreeMap<String, (Dec, Dec)> = BTreeMap::new();
        for t in &self.trades {
            let e = m.entry(t.symbol.clone()).or_default();
            let notional = t.price.mul(t.qty);
            if t.buyer {
                e.0 += t.qty;
                e.1 -= notional;
            } else {
                e.0 -= t.qty;
                e.1 += notional;
            }
            e.1 -= t.fee;
        }
        m
    }

    fn state_json(&self) -> J {
        let positions: Map<String, J> = self
            .positions()
            .into_iter()
            .map(|(sym, (base, quote))| (sym, json!({"base": s(base), "quote": s(quote)})))
            .collect();
        let trades: Vec<J> = self
            .trades
            .iter()
            .map(|t| {
                let cid = self
                    .orders
                    .values()
                    .find(|o| o.id == t.order_id)
                    .map(|o| o.cid.clone())
                    .unwrap_or_default();
                json!({"id": t.id, "orderId": t.order_id, "clientOrderId": cid,
                    "symbol": t.symbol, "price": s(t.price), "qty": s(t.qty), "fee": s(t.fee),
                    "isBuyer": t.buyer, "isMaker": t.maker})
            })
            .collect();
        json!({
            "receivedClientOrderIds": self.received_cids,
            "trades": trades,
            "positions": positions,
            "openOrders": self.orders.keys().filter(|k| *k & DONE_BIT == 0).count(),
        })
    }

    fn cancel(&mut self, params: &BTreeMap<String, String>) -> Result<J, Failure> {
        let Some(id) = self.find_open(params, "origClientOrderId") else {
            return Err((400, -2011, "Unknown order sent.".into()));
        };
        let Some(mut o) = self.orders.remove(&id) else {
            return Err((400, -2011, "Unknown order sent.".into()));
        };
        o.status = "CANCELED";
        self.balance += o.locked - o.price.mul(o.cum);
        self.cancel_seq += 1;
        let cancel_id = format!("mockcancel{}", self.cancel_seq);
        let ev = self.order_event(&o, "CANCELED", None, Some(&cancel_id));
        self.push_user(ev);
        let mut j = self.order_json(&o);
        if let Some(m) = j.as_object_mut() {
            if self.venue == Venue::Spot {
                m.insert("origClientOrderId".into(), J::from(o.cid.clone()));
                m.insert("clientOrderId".into(), J::from(cancel_id));
            }
        }
        self.done(o);
        Ok(j)
    }

    /// Keeps finished orders queryable.
    fn done(&mut self, o: MockOrder) {
        self.orders.insert(o.id | DONE_BIT, o);
    }

    fn query(&self, params: &BTreeMap<String, String>) -> Result<J, Failure> {
        let want = params.get("origClientOrderId");
        let by_id = params.get("orderId").and_then(|v| v.parse::<u64>().ok());
        self.orders
            .values()
            .filter(|o| Some(&o.cid) == want || Some(o.id) == by_id)
            .max_by_key(|o| o.id)
            .map(|o| self.order_json(o))
            .ok_or((400, -2013, "Order does not exist.".into()))
    }

    fn open_orders(&self) -> J {
        J::Array(
            self.orders
                .iter()
                .filter(|(k, _)| *k & DONE_BIT == 0)
                .map(|(_, o)| self.order_json(o))
                .collect(),
        )
    }

    fn trades_json(&self, params: &BTreeMap<String, String>) -> J {
        let symbol = params.get("symbol");
        let order = params.get("orderId").and_then(|v| v.parse::<u64>().ok());
        J::Array(
            self.trades
                .iter()
                .filter(|t| Some(&t.symbol) == symbol && order.is_none_or(|o| o == t.order_id))
                .map(|t| match self.venue {
                    Venue::Spot => json!({
                        "symbol": t.symbol, "id": t.id, "orderId": t.order_id, "orderListId": -1,
                        "price": s(t.price), "qty": s(t.qty), "quoteQty": s(t.price.mul(t.qty)),
                        "commission": s(t.fee), "commissionAsset": t.fee_asset, "time": t.time,
                        "isBuyer": t.buyer, "isMaker": t.maker, "isBestMatch": true
                    }),
                    Venue::UsdM => json!({
                        "buyer": t.buyer, "commission": s(t.fee), "commissionAsset": t.fee_asset,
                        "id": t.id, "maker": t.maker, "orderId": t.order_id, "price": s(t.price),
                        "qty": s(t.qty), "quoteQty": s(t.price.mul(t.qty)), "realizedPnl": "0",
                        "side": if t.buyer { "BUY" } else { "SELL" }, "positionSide": "BOTH",
                        "symbol": t.symbol, "time": t.time
                    }),
                })
                .collect(),
        )
    }

    fn replace(&mut self, params: &BTreeMap<String, String>) -> Result<J, Failure> {
        match self.venue {
            Venue::Spot => {
                let mut cp = params.clone();
                if let Some(orig) = params.get("cancelOrigClientOrderId") {
                    cp.insert("origClientOrderId".into(), orig.clone());
                }
                let cancel = self.cancel(&cp).map_err(|(st, _, m)| {
                    (st, -2022, format!("Order cancel-replace failed. {m}"))
                })?;
                match self.place(params) {
                    Ok(new) => Ok(json!({
                        "cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
                        "cancelResponse": cancel, "newOrderResponse": new
                    })),
                    Err((st, _, m)) => Err((
                        st.max(409),
                        -2021,
                        format!("Order cancel-replace partially failed. {m}"),
                    )),
                }
            }
            Venue::UsdM => {
                let Some(id) = self.find_open(params, "origClientOrderId") else {
                    return Err((400, -2013, "Order does not exist.".into()));
                };
                let price = Self::dec_param(params, "price")?.unwrap_or(Dec::ZERO);
                let qty = Self::dec_param(params, "quantity")?.unwrap_or(Dec::ZERO);
                let Some(mut o) = self.orders.remove(&id) else {
                    return Err((400, -2013, "Order does not exist.".into()));
                };
                o.price = price;
                o.qty = qty;
                let ev = self.order_event(&o, "AMENDMENT", None, None);
                self.push_user(ev);
                let j = self.order_json(&o);
                self.orders.insert(id, o);
                Ok(j)
            }
        }
    }

    fn fill(&mut self, cid: &str, qty: Dec, px: Dec, maker: bool) -> Option<u64> {
        let id = *self
            .orders
            .iter()
            .find(|(k, o)| *k & DONE_BIT == 0 && o.cid == cid)?
            .0;
        self.fill_id(id, qty, px, maker)
    }

    /// Fills up to `qty` of open order `id` at `px`; returns the trade id.
    fn fill_id(&mut self, id: u64, qty: Dec, px: Dec, maker: bool) -> Option<u64> {
        let mut o = self.orders.remove(&id)?;
        let qty = qty.min(o.qty - o.cum);
        let spec = self.spec(&o.symbol)?.clone();
        o.cum += qty;
        o.cum_quote += px.mul(qty);
        o.status = if o.cum >= o.qty {
            "FILLED"
        } else {
            "PARTIALLY_FILLED"
        };
        let t = MockTrade {
            id: self.next_trade_id,
            order_id: o.id,
            symbol: o.symbol.clone(),
            price: px,
            qty,
            fee: px.mul(qty).mul(FEE_RATE),
            fee_asset: spec.quote.clone(),
            maker,
            buyer: o.side == "BUY",
            time: self.now(),
        };
        self.next_trade_id += 1;
        let ev = self.order_event(&o, "TRADE", Some(&t), None);
        self.push_user(ev);
        let trade_id = t.id;
        self.trades.push(t);
        if o.status == "FILLED" {
            self.done(o);
        } else {
            self.orders.insert(id, o);
        }
        Some(trade_id)
    }
}

/// Finished orders are keyed with this bit set (kept for queries).
const DONE_BIT: u64 = 1 << 62;

/// The mock venue (see the module docs).
pub struct MockVenue {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockVenue")
            .field("addr", &self.addr)
            .finish()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl MockVenue {
    /// Starts a venue on `127.0.0.1:0` that accepts `api_key` with HMAC secret
    /// `secret`, trades `instruments`, and holds `quote_balance` of quote asset for
    /// buys. `lifetime` bounds every thread (none when it is too long for an
    /// [`Instant`]).
    ///
    /// # Errors
    /// Socket or thread creation failures.
    pub fn start(
        venue: Venue,
        api_key: &str,
        secret: &[u8],
        instruments: Vec<InstrumentSpec>,
        quote_balance: Dec,
        lifetime: Duration,
    ) -> io::Result<MockVenue> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            venue,
            api_key: api_key.to_string(),
            signer: Signer::from_key(secret),
            instruments,
            skew_ms: 0,
            orders: BTreeMap::new(),
            next_order_id: 1_000,
            next_trade_id: 5_000,
            trades: Vec::new(),
            balance: quote_balance,
            listen_key: None,
            listen_keys_made: 0,
            keepalives: 0,
            user_sessions: BTreeMap::new(),
            next_session: 0,
            ws_down: false,
            ws_gen: 0,
            log: Vec::new(),
            signature_failures: 0,
            weight: 0,
            order_count: 0,
            order_limit_10s: 50,
            cancel_seq: 0,
            fail_next: None,
            received_cids: Vec::new(),
            books: BTreeMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let deadline = Deadline::after(lifetime);
        let (st, sp, th) = (state.clone(), stop.clone(), threads.clone());
        let acceptor = thread::Builder::new()
            .name("mock-binance".into())
            .spawn(move || {
                while live(&sp, deadline) {
                    match listener.accept() {
                        Ok((sock, _)) => {
                            let (st, sp) = (st.clone(), sp.clone());
                            let h = thread::Builder::new()
                                .name("mock-binance-conn".into())
                                .spawn(move || serve(sock, st, sp, deadline));
                            if let Ok(h) = h {
                                th.lock().unwrap_or_else(|p| p.into_inner()).push(h);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(1))
                        }
                        Err(_) => thread::sleep(Duration::from_millis(1)),
                    }
                }
            })?;
        Ok(MockVenue {
            addr,
            state,
            stop,
            threads,
            acceptor: Some(acceptor),
        })
    }

    /// REST `host:port`.
    pub fn rest_addr(&self) -> String {
        self.addr.to_string()
    }

    /// WebSocket API URL for the venue kind.
    pub fn ws_api_url(&self) -> String {
        let path = lock(&self.state).venue.ws_api_path();
        format!("ws://{}{path}", self.addr)
    }

    /// User-stream base URL.
    pub fn stream_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Fills `qty` (capped at what is left) of the open order with client id `cid` at
    /// `px`; returns the trade id, or `None` if no such open order.
    pub fn fill(&self, cid: ClientOrderId, qty: Dec, px: Dec, maker: bool) -> Option<u64> {
        lock(&self.state).fill(&cid.to_string(), qty, px, maker)
    }

    /// Sets the 10 s order limit the WebSocket API reports (default 50, as Binance);
    /// 0 reports no limit, so a connector never blocks orders locally (benchmarks).
    pub fn set_order_limit_10s(&self, limit: u64) {
        lock(&self.state).order_limit_10s = limit;
    }

    /// Moves the venue clock `ms` away from the wall clock.
    pub fn set_skew_ms(&self, ms: i64) {
        lock(&self.state).skew_ms = ms;
    }

    /// `true`: drops every WebSocket connection now and refuses new ones (user-stream
    /// events are lost meanwhile); `false`: accepts again.
    pub fn set_ws_down(&self, down: bool) {
        let mut st = lock(&self.state);
        st.ws_down = down;
        if down {
            st.ws_gen += 1;
            st.user_sessions.clear();
        }
    }

    /// The next new order fails with HTTP/WS status `status`, error `code` and
    /// `msg`; a non-zero `retry_after_ms` (venue ms) goes into the WebSocket error's
    /// `data.retryAfter` and a REST `Retry-After` header.
    pub fn fail_next_order(&self, status: u16, code: i64, msg: &str, retry_after_ms: u64) {
        lock(&self.state).fail_next = Some((status, code, msg.to_string(), retry_after_ms));
    }

    /// Venue time now (ms).
    pub fn now_ms(&self) -> u64 {
        lock(&self.state).now()
    }

    /// Forgets the listen key (the next keep-alive gets -1125) and ends the streams.
    pub fn expire_listen_key(&self) {
        let mut st = lock(&self.state);
        st.listen_key = None;
        st.push_user(json!({"e": "listenKeyExpired", "E": wall_ms()}).to_string());
    }

    /// Requests served, in order: `"GET /api/v3/time"`, `"ws order.place"`, …
    pub fn log(&self) -> Vec<String> {
        lock(&self.state).log.clone()
    }

    /// Sets the best bid and ask of `symbol` and fills the resting orders it crosses
    /// (see the module docs); later orders that cross it fill on arrival.
    pub fn set_book(&self, symbol: &str, bid: Dec, ask: Dec) {
        lock(&self.state).set_book(symbol, bid, ask);
    }

    /// The venue's state as JSON (what `GET /mock/state` returns):
    /// `receivedClientOrderIds` (every client order id a new order arrived with, in
    /// order), `trades` (id, orderId, clientOrderId, symbol, price, qty, fee, isBuyer,
    /// isMaker), `positions` (per symbol: net `base` bought minus sold, `quote` net of
    /// fees) and `openOrders` (count).
    pub fn state_json(&self) -> String {
        lock(&self.state).state_json().to_string()
    }

    /// Number of open orders.
    pub fn open_orders(&self) -> usize {
        lock(&self.state)
            .orders
            .keys()
            .filter(|k| *k & DONE_BIT == 0)
            .count()
    }

    /// Open orders as (client order id, price, quantity left), by venue order id.
    pub fn open_order_list(&self) -> Vec<(String, Dec, Dec)> {
        lock(&self.state)
            .orders
            .iter()
            .filter(|(k, _)| *k & DONE_BIT == 0)
            .map(|(_, o)| (o.cid.clone(), o.price, o.qty - o.cum))
            .collect()
    }

    /// Listen-key keep-alives received.
    pub fn keepalives(&self) -> u64 {
        lock(&self.state).keepalives
    }

    /// Listen keys created.
    pub fn listen_keys_made(&self) -> u64 {
        lock(&self.state).listen_keys_made
    }

    /// Requests refused for a bad signature.
    pub fn signature_failures(&self) -> u64 {
        lock(&self.state).signature_failures
    }

    /// Quote balance left for buys.
    pub fn balance(&self) -> Dec {
        lock(&self.state).balance
    }

    /// Number of user streams connected.
    pub fn user_streams(&self) -> usize {
        lock(&self.state).user_sessions.len()
    }
}

impl Drop for MockVenue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        let hs = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for h in hs {
            let _ = h.join();
        }
    }
}

/// Serves one connection: WebSocket (API or user stream) or HTTP requests.
fn serve(sock: TcpStream, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>, deadline: Deadline) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(Some(Duration::from_millis(5)));
    let _ = sock.set_write_timeout(Some(Duration::from_secs(2)));
    // Peek the head to tell a WebSocket upgrade from a plain request.
    let mut peek = [0u8; 4096];
    let head_until = Instant::now() + Duration::from_secs(2);
    let head = loop {
        if stop.load(Ordering::Relaxed) || Instant::now() > head_until {
            return;
        }
        match sock.peek(&mut peek) {
            Ok(0) => return,
            Ok(n) => {
                if let Some(end) = peek[..n].windows(4).position(|w| w == b"\r\n\r\n") {
                    break String::from_utf8_lossy(&peek[..end]).into_owned();
                }
                if n == peek.len() {
                    return;
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    };
    if head.to_ascii_lowercase().contains("upgrade: websocket") {
        if lock(&state).ws_down {
            return; // refused: the TCP connection drops before the handshake
        }
        serve_ws(sock, state, stop, deadline);
    } else {
        serve_http(sock, state, stop, deadline);
    }
}

/// When a venue's threads stop: `lifetime` after the start, or never when that is
/// beyond what an [`Instant`] can hold (`--lifetime-s 18446744073709551615`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// `lifetime` from now.
    pub(crate) fn after(lifetime: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(lifetime))
    }

    /// True once the deadline has passed.
    pub(crate) fn passed(self) -> bool {
        self.0.is_some_and(|d| Instant::now() >= d)
    }
}

/// A venue thread goes on: not stopped, deadline not passed.
pub(crate) fn live(stop: &AtomicBool, deadline: Deadline) -> bool {
    !stop.load(Ordering::Relaxed) && !deadline.passed()
}

fn serve_ws(sock: TcpStream, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>, deadline: Deadline) {
    let mut path = String::new();
    let venue = lock(&state).venue;
    // The connection generation it belongs to, read by the handshake callback below
    // (a later generation closes it).
    let mut gen = 0;
    // A user stream with the right key is registered before the handshake's response
    // leaves: once the client sees its stream open, no event published after that can
    // miss it (registering after the handshake lost events under load).
    let mut session = None;
    #[allow(clippy::result_large_err)]
    let cb = |req: &tungstenite::handshake::server::Request,
              resp: tungstenite::handshake::server::Response| {
        path = req.uri().path().to_string();
        let mut st = lock(&state);
        gen = st.ws_gen;
        if let Some(key) = path.strip_prefix("/ws/") {
            if st.listen_key.as_deref() == Some(key) && !st.ws_down {
                let id = st.next_session;
                st.next_session += 1;
                st.user_sessions.insert(id, VecDeque::new());
                session = Some(id);
            }
        }
        Ok(resp)
    };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
    let accepted = tungstenite::accept_hdr(sock, cb);
    let forget = |id: Option<u64>| {
        if let Some(id) = id {
            lock(&state).user_sessions.remove(&id);
        }
    };
    let Ok(mut ws) = accepted else {
        forget(session);
        return;
    };
    let _ = ws
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(2)));
    if lock(&state).ws_down {
        forget(session);
        let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
        return;
    }
    if session.is_none() && path != venue.ws_api_path() {
        // A wrong listen key or an unknown path.
        let _ = ws.close(None);
        return;
    }
    while live(&stop, deadline) {
        let outgoing: Vec<String> = {
            let mut st = lock(&state);
            if st.ws_gen != gen {
                drop(st);
                let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
                return;
            }
            match session.and_then(|id| st.user_sessions.get_mut(&id)) {
                Some(q) => q.drain(..).collect(),
                None if session.is_some() => {
                    // Session removed (stream ended by the venue).
                    drop(st);
                    let _ = ws.close(None);
                    return;
                }
                None => Vec::new(),
            }
        };
        for text in outgoing {
            if ws.send(Message::text(text)).is_err() {
                return;
            }
        }
        match ws.read() {
            Ok(Message::Text(t)) if session.is_none() => {
                let reply = ws_api_request(&state, t.as_str());
                if ws.send(Message::text(reply)).is_err() {
                    return;
                }
            }
            Ok(Message::Close(_)) => {
                let _ = ws.flush();
                break;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let _ = ws.flush();
            }
            Err(_) => break,
        }
    }
    if let Some(id) = session {
        lock(&state).user_sessions.remove(&id);
    }
}

fn rate_limits(st: &State) -> J {
    json!([
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": st.weight},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": st.order_limit_10s, "count": st.order_count}
    ])
}

/// Text form of a JSON parameter as Binance signs it.
fn param_text(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn ws_api_request(state: &Mutex<State>, text: &str) -> String {
    let req: J = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            return json!({"id": null, "status": 400, "error": {"code": -1100, "msg": "Malformed request."}})
                .to_string()
        }
    };
    let id = req.get("id").cloned().unwrap_or(J::Null);
    let method = req
        .get("method")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_string();
    let empty = Map::new();
    let params = req
        .get("params")
        .and_then(|p| p.as_object())
        .unwrap_or(&empty);
    let mut st = lock(state);
    st.log.push(format!("ws {method}"));
    st.weight += 1;
    let map: BTreeMap<String, String> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .map(|(k, v)| (k.clone(), param_text(v)))
        .collect();
    let payload = map
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let sig = params.get("signature").and_then(|s| s.as_str());
    let api_key = params.get("apiKey").and_then(|s| s.as_str());
    let result = st
        .authenticate(api_key, &payload, sig, &map)
        .and_then(|()| match method.as_str() {
            "order.place" => st.place(&map),
            "order.cancel" => st.cancel(&map),
            "order.cancelReplace" | "order.modify" => st.replace(&map),
            _ => Err((400, -1000, format!("Unknown method {method}."))),
        });
    let limits = rate_limits(&st);
    let retry_after = match (&result, st.fail_next.take()) {
        (Err(_), Some((.., r))) if r > 0 => Some(r),
        _ => None,
    };
    match result {
        Ok(r) => json!({"id": id, "status": 200, "result": r, "rateLimits": limits}),
        Err((status, code, msg)) => {
            let mut error = json!({"code": code, "msg": msg});
            if let Some(r) = retry_after {
                error["data"] = json!({"serverTime": st.now(), "retryAfter": r});
            }
            json!({"id": id, "status": status, "error": error, "rateLimits": limits})
        }
    }
    .to_string()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve_http(
    mut sock: TcpStream,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    deadline: Deadline,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while live(&stop, deadline) {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match sock.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut body_len = 0usize;
        let mut api_key = None;
        for line in head.lines().skip(1) {
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    body_len = v.trim().parse().unwrap_or(0);
                } else if n.eq_ignore_ascii_case("x-mbx-apikey") {
                    api_key = Some(v.trim().to_string());
                }
            }
        }
        while buf.len() < end + 4 + body_len {
            match sock.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if !live(&stop, deadline) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + body_len]).into_owned();
        buf.drain(..end + 4 + body_len);
        let mut parts = head.lines().next().unwrap_or("").split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let (status, reply, headers) =
            http_request(&state, &method, &target, &body, api_key.as_deref());
        let mut out = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            if status == 200 { "OK" } else { "Error" },
            reply.len()
        );
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&reply);
        if sock
            .write_all(out.as_bytes())
            .and_then(|_| sock.flush())
            .is_err()
        {
            return;
        }
    }
}

fn http_request(
    state: &Mutex<State>,
    method: &str,
    target: &str,
    body: &str,
    api_key: Option<&str>,
) -> (u16, String, Vec<(&'static str, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // totalParams = query string + body, signed as sent; signature is last.
    let total = format!("{query}{body}");
    let (signed, sig) = match total.rfind("&signature=") {
        Some(i) => (&total[..i], Some(&total[i + "&signature=".len()..])),
        None => (total.as_str(), None),
    };
    let params: BTreeMap<String, String> = signed
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let mut st = lock(state);
    st.log.push(format!("{method} {path}"));
    st.weight += 1;
    let v = st.venue;
    let ok = |j: J| -> Result<J, Failure> { Ok(j) };
    let order_path = v.order_path();
    let (replace_method, replace_path) = v.replace_endpoint();
    let result: Result<J, Failure> = if path == "/mock/state" && method == "GET" {
        ok(st.state_json())
    } else if path == v.time_path() && method == "GET" {
        ok(json!({"serverTime": st.now()}))
    } else if path == v.listen_key_path() {
        if api_key != Some(st.api_key.as_str()) {
            Err((
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.".into(),
            ))
        } else if method == "POST" {
            if st.listen_key.is_none() {
                st.listen_keys_made += 1;
                st.listen_key = Some(format!("mockListenKey{:0>52}", st.listen_keys_made));
            }
            ok(json!({"listenKey": st.listen_key}))
        } else if method == "PUT" {
            let matches = match v {
                Venue::Spot => {
                    st.listen_key.is_some() && params.get("listenKey") == st.listen_key.as_ref()
                }
                Venue::UsdM => st.listen_key.is_some(),
            };
            if matches {
                st.keepalives += 1;
                ok(match v {
                    Venue::Spot => json!({}),
                    Venue::UsdM => json!({"listenKey": st.listen_key}),
                })
            } else {
                Err((400, -1125, "This listenKey does not exist.".into()))
            }
        } else {
            Err((404, -1000, "Unknown endpoint.".into()))
        }
    } else {
        st.authenticate(api_key, signed, sig, &params)
            .and_then(|()| {
                if path == order_path && method == "POST" {
                    st.place(&params)
                } else if path == order_path && method == "DELETE" {
                    st.cancel(&params)
                } else if path == order_path && method == "GET" {
                    st.query(&params)
                } else if path == replace_path && method == replace_method.as_str() {
                    st.replace(&params)
                } else if path == v.open_orders_path() && method == "GET" {
                    Ok(st.open_orders())
                } else if path == v.trades_path() && method == "GET" {
                    Ok(st.trades_json(&params))
                } else {
                    Err((404, -1000, format!("Unknown endpoint {method} {path}.")))
                }
            })
    };
    let mut headers = vec![("X-MBX-USED-WEIGHT-1M", st.weight.to_string())];
    if let (Err(_), Some((.., r))) = (&result, st.fail_next.take()) {
        if r > 0 {
            headers.push((
                "Retry-After",
                (r.saturating_sub(st.now()) / 1000).to_string(),
            ));
        }
    }
    if path == order_path {
        headers.push(("X-MBX-ORDER-COUNT-10S", st.order_count.to_string()));
    }
    match result {
        Ok(j) => (200, j.to_string(), headers),
        Err((status, code, msg)) => (
            status,
            json!({"code": code, "msg": msg}).to_string(),
            headers,
        ),
    }
}
