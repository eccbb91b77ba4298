//! Venue payloads → [`OrderUpdate`]s: WebSocket-API and REST order responses, spot
//! `executionReport`, USD-M `ORDER_TRADE_UPDATE`, open-order lists and trade lists.
//! The [`super::tracker::OrderTracker`] turns updates into engine `ExecReport`s,
//! deduplicating acks, fills (by trade id) and terminal states.
//!
//! | payload | update |
//! |---|---|
//! | order response `status` NEW / PARTIALLY_FILLED / FILLED (or ACK type) | `New` (ack); `fills[]` of a FULL response → one `Trade` each |
//! | order response CANCELED / EXPIRED / EXPIRED_IN_MATCH / REJECTED | `Canceled` / `Expired` / `Rejected` |
//! | `executionReport` / `ORDER_TRADE_UPDATE` `x` = NEW, TRADE, CANCELED, EXPIRED, REJECTED, TRADE_PREVENTION, AMENDMENT | `New`, `Trade`, `Canceled`, `Expired`, `Rejected`, `Expired`, `Amended` |
//! | `myTrades` / `userTrades` element | `Trade` (order found by venue order id) |
//!
//! Client order ids: ours read `K<session>-<counter>`; a cancel's own report names the
//! original order in `C` (spot stream) or `origClientOrderId` (responses). Orders of
//! other clients (ids that do not parse) are skipped. Fees are converted to the quote
//! asset: quote fees as is, base fees × fill price, other assets (BNB) are counted in
//! [`OrderUpdate::fee_unconverted`] and reported as 0.

use kestrel_engine::num::{parse_raw, ParseDecimalError, SCALE};
use kestrel_engine::{ClientOrderId, Dec, InstrumentId, InstrumentSpec, RejectReason};
use kestrel_feeds::binance::tape::Val;
use simd_json::{Buffers, Node, Tape};

/// What happened to the order (execution type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecType {
    /// Accepted.
    New,
    /// Traded.
    Trade,
    /// Canceled.
    Canceled,
    /// Refused.
    Rejected,
    /// Expired (IOC rest, market order without liquidity, self-trade prevention).
    Expired,
    /// Amended in place (USD-M modify).
    Amended,
    /// Something that changes nothing for the engine.
    Other,
}

/// The order's status after the update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrdStatus {
    /// Working, nothing filled.
    New,
    /// Working, partly filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Canceled.
    Canceled,
    /// Refused.
    Rejected,
    /// Expired.
    Expired,
    /// Unknown or not reported.
    Other,
}

/// One fact about one order, in venue terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderUpdate {
    /// Our order id; `None` when the payload has none (trade lists).
    pub cid: Option<ClientOrderId>,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Venue order id (0 if absent).
    pub venue_order_id: u64,
    /// Execution type.
    pub exec: ExecType,
    /// Order status.
    pub status: OrdStatus,
    /// Order quantity (0 if absent).
    pub orig_qty: Dec,
    /// Filled so far according to the venue.
    pub cum_qty: Dec,
    /// Size of this trade.
    pub last_qty: Dec,
    /// Price of this trade.
    pub last_px: Dec,
    /// Fee of this trade in the quote asset.
    pub fee: Dec,
    /// The fee was charged in an asset that is neither base nor quote.
    pub fee_unconverted: bool,
    /// Venue trade id of a trade.
    pub trade_id: Option<u64>,
    /// This trade was as maker.
    pub maker: bool,
    /// Venue time of the event (ms), 0 if absent.
    pub venue_ms: u64,
    /// Reject reason (venue `r` field).
    pub reason: RejectReason,
}

impl OrderUpdate {
    fn new(instrument: InstrumentId) -> OrderUpdate {
        OrderUpdate {
            cid: None,
            instrument,
            venue_order_id: 0,
            exec: ExecType::Other,
            status: OrdStatus::Other,
            orig_qty: Dec::ZERO,
            cum_qty: Dec::ZERO,
            last_qty: Dec::ZERO,
            last_px: Dec::ZERO,
            fee: Dec::ZERO,
            fee_unconverted: false,
            trade_id: None,
            maker: false,
            venue_ms: 0,
            reason: RejectReason::None,
        }
    }
}

/// A parse failure (allocates its message; error paths only).
pub type ParseResult<T> = Result<T, String>;

/// Reused simd-json buffers: parses a mutable byte slice in place and hands the
/// root value to a closure. No allocation once the buffers have grown.
pub struct JsonDoc {
    bufs: Buffers,
    tape: Vec<Node<'static>>,
}

impl Default for JsonDoc {
    fn default() -> Self {
        JsonDoc {
            bufs: Buffers::new(4096),
            tape: Vec::with_capacity(1024),
        }
    }
}

impl std::fmt::Debug for JsonDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonDoc")
    }
}

impl JsonDoc {
    /// Parses `bytes` (modified in place) and calls `f` with the root value.
    ///
    /// # Errors
    /// The JSON error text.
    pub fn parse<R>(
        &mut self,
        bytes: &mut [u8],
        f: impl FnOnce(Val<'_, '_>) -> R,
    ) -> ParseResult<R> {
        let mut tape: Tape<'_> = Tape(std::mem::take(&mut self.tape)).reset();
        let res = match simd_json::fill_tape(bytes, &mut self.bufs, &mut tape) {
            Ok(()) => match Val::root(&tape.0) {
                Some(root) => Ok(f(root)),
                None => Err("empty JSON document".to_string()),
            },
            Err(e) => Err(format!("invalid JSON: {e}")),
        };
        self.tape = tape.reset().0;
        res
    }
}

/// Symbol → instrument lookup and fee assets.
#[derive(Clone, Copy, Debug)]
pub struct Instruments<'a>(pub &'a [InstrumentSpec]);

impl Instruments<'_> {
    /// The instrument whose symbol is `symbol` (case-insensitive).
    pub fn find(&self, symbol: &str) -> Option<InstrumentId> {
        self.0
            .iter()
            .position(|s| s.symbol.eq_ignore_ascii_case(symbol))
            .map(|i| i as InstrumentId)
    }

    fn instrument(&self, v: Option<Val<'_, '_>>, field: &'static str) -> ParseResult<InstrumentId> {
        let s = string(field, v)?;
        self.find(s)
            .ok_or_else(|| format!("unknown symbol {s:?}: no instrument is configured for it"))
    }

    /// `commission` in asset `asset` converted to the quote asset at `px`.
    fn fee(&self, id: InstrumentId, commission: Dec, asset: Option<&str>, px: Dec) -> (Dec, bool) {
        if commission.raw() == 0 {
            return (Dec::ZERO, false);
        }
        let Some(spec) = self.0.get(id as usize) else {
            return (Dec::ZERO, true);
        };
        match asset {
            Some(a) if a.eq_ignore_ascii_case(&spec.quote) => (commission, false),
            Some(a) if a.eq_ignore_ascii_case(&spec.base) => (commission.mul(px), false),
            _ => (Dec::ZERO, true),
        }
    }
}

fn string<'a>(field: &'static str, v: Option<Val<'_, 'a>>) -> ParseResult<&'a str> {
    let v = v.ok_or_else(|| format!("missing field {field:?}"))?;
    v.as_str()
        .ok_or_else(|| format!("field {field:?} should be a string, found {}", v.describe()))
}

fn dec(field: &'static str, v: Option<Val<'_, '_>>) -> ParseResult<Dec> {
    let s = string(field, v)?;
    parse_raw(s.as_bytes())
        .map(Dec)
        .map_err(|e| format!("field {field:?}: {e} in {s:?}"))
}

/// A decimal string, a JSON integer (either sign), or 0 when missing or `null`. Any
/// other value (a JSON float, which would not be exact, a bool, an object) is an
/// error, never a silent 0.
fn dec_or_zero(field: &'static str, v: Option<Val<'_, '_>>) -> ParseResult<Dec> {
    match v {
        None => Ok(Dec::ZERO),
        Some(x) if x.is_null() => Ok(Dec::ZERO),
        Some(x) => match (x.as_u64(), x.as_i64()) {
            (Some(n), _) => int_dec(field, n.into()),
            (None, Some(n)) => int_dec(field, n.into()),
            (None, None) => dec(field, Some(x)),
        },
    }
}

/// A whole number sent as a JSON integer; an error when it does not fit a [`Dec`].
fn int_dec(field: &'static str, n: i128) -> ParseResult<Dec> {
    i64::try_from(n)
        .ok()
        .and_then(|v| v.checked_mul(SCALE))
        .map(Dec)
        .ok_or_else(|| format!("field {field:?}: {} in {n}", ParseDecimalError::Overflow))
}

fn uint(field: &'static str, v: Option<Val<'_, '_>>) -> ParseResult<u64> {
    let v = v.ok_or_else(|| format!("missing field {field:?}"))?;
    v.as_u64().ok_or_else(|| {
        format!(
            "field {field:?} should be an unsigned integer, found {}",
            v.describe()
        )
    })
}

fn opt_uint(v: Option<Val<'_, '_>>) -> u64 {
    v.and_then(|x| x.as_u64()).unwrap_or(0)
}

fn cid_of(v: Option<Val<'_, '_>>) -> Option<ClientOrderId> {
    v.and_then(|x| x.as_str()).and_then(ClientOrderId::parse)
}

fn status_of(s: Option<&str>) -> OrdStatus {
    match s {
        Some("NEW") | Some("PENDING_NEW") => OrdStatus::New,
        Some("PARTIALLY_FILLED") => OrdStatus::PartiallyFilled,
        Some("FILLED") => OrdStatus::Filled,
        Some("CANCELED") | Some("PENDING_CANCEL") => OrdStatus::Canceled,
        Some("REJECTED") => OrdStatus::Rejected,
        Some("EXPIRED") | Some("EXPIRED_IN_MATCH") => OrdStatus::Expired,
        _ => OrdStatus::Other,
    }
}

fn exec_of(s: &str) -> ExecType {
    match s {
        "NEW" => ExecType::New,
        "TRADE" => ExecType::Trade,
        "CANCELED" => ExecType::Canceled,
        "REJECTED" => ExecType::Rejected,
        "EXPIRED" | "TRADE_PREVENTION" => ExecType::Expired,
        "AMENDMENT" => ExecType::Amended,
        _ => ExecType::Other,
    }
}

/// The exec type an order snapshot (response, open order, queried order) stands for.
fn exec_for_status(s: OrdStatus) -> ExecType {
    match s {
        OrdStatus::Canceled => ExecType::Canceled,
        OrdStatus::Expired => ExecType::Expired,
        OrdStatus::Rejected => ExecType::Rejected,
        _ => ExecType::New,
    }
}

fn reject_reason(r: Option<&str>) -> RejectReason {
    match r {
        None | Some("NONE") => RejectReason::None,
        Some("INSUFFICIENT_BALANCES") | Some("INSUFFICIENT_BALANCE") => {
            RejectReason::InsufficientBalance
        }
        Some("UNKNOWN_ORDER") => RejectReason::UnknownOrder,
        Some("UNKNOWN_INSTRUMENT") => RejectReason::UnknownInstrument,
        Some("PRICE_QTY_EXCEED_HARD_LIMITS") => RejectReason::BadTick,
        Some("LIMIT_MAKER_WOULD_TAKE") | Some("WOULD_TAKE") => RejectReason::WouldTake,
        Some(_) => RejectReason::Other,
    }
}

/// What a user-data stream message was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserEvent {
    /// An order update was pushed.
    Order,
    /// The listen key expired: a new one is needed.
    ListenKeyExpired,
    /// The venue ended the stream.
    StreamTerminated,
    /// Balance / position / other events (not mapped here).
    Other,
}

/// Reads one user-data stream message (bare, `{"stream":…,"data":…}` or
/// `{"subscriptionId":…,"event":…}`), pushing order updates.
///
/// # Errors
/// Missing or malformed fields of an order event, or a symbol with no instrument.
pub fn user_event(
    root: Val<'_, '_>,
    inst: Instruments<'_>,
    out: &mut Vec<OrderUpdate>,
) -> ParseResult<UserEvent> {
    let ev = root
        .get("event")
        .or_else(|| root.get("data"))
        .filter(|v| v.members().is_some())
        .unwrap_or(root);
    match ev.get("e").and_then(|e| e.as_str()) {
        Some("executionReport") => {
            execution_report(ev, inst, out)?;
            Ok(UserEvent::Order)
        }
        Some("ORDER_TRADE_UPDATE") => {
            order_trade_update(ev, inst, out)?;
            Ok(UserEvent::Order)
        }
        Some("listenKeyExpired") => Ok(UserEvent::ListenKeyExpired),
        Some("eventStreamTerminated") => Ok(UserEvent::StreamTerminated),
        _ => Ok(UserEvent::Other),
    }
}

/// Spot `executionReport`.
fn execution_report(
    ev: Val<'_, '_>,
    inst: Instruments<'_>,
    out: &mut Vec<OrderUpdate>,
) -> ParseResult<()> {
    let instrument = inst.instrument(ev.get("s"), "s")?;
    let mut u = OrderUpdate::new(instrument);
    let exec = string("x", ev.get("x"))?;
    u.exec = exec_of(exec);
    u.status = status_of(ev.get("X").and_then(|v| v.as_str()));
    // A cancel's report carries the cancel request's id in `c` and ours in `C`.
    u.cid = match cid_of(ev.get("C")) {
        Some(orig) if u.exec == ExecType::Canceled => Some(orig),
        _ => cid_of(ev.get("c")),
    };
    if u.cid.is_none() {
        return Ok(()); // another client's order
    }
    u.venue_order_id = uint("i", ev.get("i"))?;
    u.orig_qty = dec("q", ev.get("q"))?;
    u.cum_qty = dec("z", ev.get("z"))?;
    u.last_qty = dec("l", ev.get("l"))?;
    u.last_px = dec("L", ev.get("L"))?;
    u.venue_ms = opt_uint(ev.get("T")).max(opt_uint(ev.get("E")));
    u.reason = reject_reason(ev.get("r").and_then(|v| v.as_str()));
    if u.exec == ExecType::Trade {
        u.trade_id = Some(uint("t", ev.get("t"))?);
        u.maker = ev.get("m").and_then(|v| v.as_bool()).unwrap_or(false);
        let n = dec_or_zero("n", ev.get("n"))?;
        (u.fee, u.fee_unconverted) = inst.fee(
            instrument,
            n,
            ev.get("N").and_then(|v| v.as_str()),
            u.last_px,
        );
    }
    out.push(u);
    Ok(())
}

/// USD-M `ORDER_TRADE_UPDATE`.
fn order_trade_update(
    ev: Val<'_, '_>,
    inst: Instruments<'_>,
    out: &mut Vec<OrderUpdate>,
) -> ParseResult<()> {
    let o = ev.get("o").ok_or("missing field \"o\"")?;
    let instrument = inst.instrument(o.get("s"), "s")?;
    let mut u = OrderUpdate::new(instrument);
    u.cid = cid_of(o.get("c"));
    if u.cid.is_none() {
        return Ok(());
    }
    u.exec = exec_of(string("x", o.get("x"))?);
    u.status = status_of(o.get("X").and_then(|v| v.as_str()));
    u.venue_order_id = uint("i", o.get("i"))?;
    u.orig_qty = dec("q", o.get("q"))?;
    u.cum_qty = dec("z", o.get("z"))?;
    u.last_qty = dec("l", o.get("l"))?;
    u.last_px = dec("L", o.get("L"))?;
    u.venue_ms = opt_uint(o.get("T")).max(opt_uint(ev.get("E")));
    if u.exec == ExecType::Trade {
        u.trade_id = Some(uint("t", o.get("t"))?);
        u.maker = o.get("m").and_then(|v| v.as_bool()).unwrap_or(false);
        let n = dec_or_zero("n", o.get("n"))?;
        (u.fee, u.fee_unconverted) = inst.fee(
            instrument,
            n,
            o.get("N").and_then(|v| v.as_str()),
            u.last_px,
        );
    }
    out.push(u);
    Ok(())
}

/// An order object: a REST / WS-API place or cancel result, a queried order, an
/// element of `openOrders`. A FULL response's `fills` become trades (their cumulative
/// quantity counted in order). A spot cancel-replace result is read through its
/// `newOrderResponse`.
///
/// # Errors
/// Missing or malformed fields, or a symbol with no instrument.
pub fn order_object(
    obj: Val<'_, '_>,
    inst: Instruments<'_>,
    out: &mut Vec<OrderUpdate>,
) -> ParseResult<()> {
    if let Some(new) = obj.get("newOrderResponse") {
        return order_object(new, inst, out);
    }
    let instrument = inst.instrument(obj.get("symbol"), "symbol")?;
    let mut u = OrderUpdate::new(instrument);
    u.cid = cid_of(obj.get("origClientOrderId")).or_else(|| cid_of(obj.get("clientOrderId")));
    if u.cid.is_none() {
        return Ok(());
    }
    u.venue_order_id = uint("orderId", obj.get("orderId"))?;
    u.status = match obj.get("status") {
        None => OrdStatus::New, // ACK response type
        s => status_of(s.and_then(|v| v.as_str())),
    };
    u.exec = exec_for_status(u.status);
    u.orig_qty = dec_or_zero("origQty", obj.get("origQty"))?;
    u.venue_ms = opt_uint(obj.get("transactTime"))
        .max(opt_uint(obj.get("updateTime")))
        .max(opt_uint(obj.get("time")));
    let fills = obj.get("fills").and_then(|f| f.elements());
    let terminal = matches!(
        u.exec,
        ExecType::Canceled | ExecType::Expired | ExecType::Rejected
    );
    // Ack first (for a working or filled order), then the fills, then a terminal state.
    if !terminal {
        out.push(u);
    } else {
        let mut ack = u;
        ack.exec = ExecType::New;
        if fills.is_some() {
            out.push(ack);
        }
    }
    if let Some(fills) = fills {
        let mut cum = Dec::ZERO;
        for f in fills {
            let mut t = u;
            t.exec = ExecType::Trade;
            t.last_px = dec("price", f.get("price"))?;
            t.last_qty = dec("qty", f.get("qty"))?;
            cum += t.last_qty;
            t.cum_qty = cum;
            t.trade_id = Some(uint("tradeId", f.get("tradeId"))?);
            let n = dec_or_zero("commission", f.get("commission"))?;
            let asset = f.get("commissionAsset").and_then(|v| v.as_str());
            (t.fee, t.fee_unconverted) = inst.fee(instrument, n, asset, t.last_px);
            out.push(t);
        }
    }
    if terminal {
        u.cum_qty = dec_or_zero("executedQty", obj.get("executedQty"))?;
        out.push(u);
    }
    Ok(())
}

/// An array of order objects (`openOrders`).
///
/// # Errors
/// Not an array, or a bad element.
pub fn order_list(
    arr: Val<'_, '_>,
    inst: Instruments<'_>,
    out: &mut Vec<OrderUpdate>,
) -> ParseResult<()> {
    let items = arr
        .elements()
        .ok_or_else(|| format!("expected an array of orders, found {}", arr.describe()))?;
    for o in items {
        order_object(o, inst, out)?;
    }
    Ok(())
}

/// A trade list (`GET /api/v3/myTrades`, `GET /fapi/v1/userTrades`): one `Trade`
/// update per element, with `cid: None` (found by venue order id).
///
/// # Errors
/// Not an array, or a bad element.
pub fn trade_list(
    arr: Val<'_, '_>,
    inst: Instruments<'_>,
    out: &mut Vec<OrderUpdate>,
) -> ParseResult<()> {
    let items = arr
        .elements()
        .ok_or_else(|| format!("expected an array of trades, found {}", arr.describe()))?;
    for t in items {
        let instrument = inst.instrument(t.get("symbol"), "symbol")?;
        let mut u = OrderUpdate::new(instrument);
        u.exec = ExecType::Trade;
        u.venue_order_id = uint("orderId", t.get("orderId"))?;
        u.trade_id = Some(uint("id", t.get("id"))?);
        u.last_px = dec("price", t.get("price"))?;
        u.last_qty = dec("qty", t.get("qty"))?;
        u.maker = t
            .get("isMaker")
            .or_else(|| t.get("maker"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        u.venue_ms = opt_uint(t.get("time"));
        let n = dec_or_zero("commission", t.get("commission"))?;
        let asset = t.get("commissionAsset").and_then(|v| v.as_str());
        (u.fee, u.fee_unconverted) = inst.fee(instrument, n, asset, u.last_px);
        out.push(u);
    }
    Ok(())
}

/// `{"code":…,"msg":…}` in `v` (REST body or WS-API `error`) from `venue`.
pub fn venue_error(
    venue: super::Venue,
    status: u16,
    v: Val<'_, '_>,
) -> Option<super::errors::VenueError> {
    let code = v.get("code")?.as_i64()?;
    let msg = v.get("msg").and_then(|m| m.as_str()).unwrap_or("");
    Some(super::errors::VenueError {
        venue,
        status,
        code,
        msg: msg.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(symbol: &str, base: &str, quote: &str) -> InstrumentSpec {
        InstrumentSpec {
            symbol: symbol.into(),
            base: base.into(),
            quote: quote.into(),
            tick_size: Dec::parse("0.00000001").unwrap(),
            lot_size: Dec::parse("0.00000001").unwrap(),
            min_qty: Dec::ZERO,
            min_notional: Dec::ZERO,
            market: Default::default(),
            leverage: 1,
        }
    }

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    fn vector(file: &str, id: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../shared/data/binance/vectors/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let ex = v["examples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("{id}"));
        let mut j = ex["json"].clone();
        // The vectors use foreign client ids; substitute ours so they map.
        fn subst(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, x) in m.iter_mut() {
                        if (k == "c" || k == "clientOrderId" || k == "origClientOrderId")
                            && x.is_string()
                            && x.as_str() != Some("")
                        {
                            *x = serde_json::Value::String("K7-42".into());
                        } else {
                            subst(x);
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(subst),
                _ => {}
            }
        }
        subst(&mut j);
        serde_json::to_vec(&j).unwrap()
    }

    fn run(
        specs: &[InstrumentSpec],
        bytes: &mut [u8],
        f: fn(Val<'_, '_>, Instruments<'_>, &mut Vec<OrderUpdate>) -> ParseResult<()>,
    ) -> Vec<OrderUpdate> {
        let mut doc = JsonDoc::default();
        let mut out = Vec::new();
        doc.parse(bytes, |root| f(root, Instruments(specs), &mut out))
            .unwrap()
            .unwrap();
        out
    }

    fn user(root: Val<'_, '_>, i: Instruments<'_>, out: &mut Vec<OrderUpdate>) -> ParseResult<()> {
        user_event(root, i, out).map(|_| ())
    }

    fn result(
        root: Val<'_, '_>,
        i: Instruments<'_>,
        out: &mut Vec<OrderUpdate>,
    ) -> ParseResult<()> {
        order_object(root.get("result").unwrap_or(root), i, out)
    }

    const K: Option<ClientOrderId> = Some(ClientOrderId(7 << 32 | 42));

    #[test]
    fn user_stream_events_that_are_not_orders() {
        // The connector asks for a new listen key on StreamTerminated; balances,
        // positions, order lists and USD-M TRADE_LITE push no order update.
        let specs = [spec("BTCUSDT", "BTC", "USDT")];
        let cases = [
            (
                "account_events.json",
                "spot_outbound_account_position_doc_wrapped",
                UserEvent::Other,
            ),
            (
                "account_events.json",
                "spot_outbound_account_position_wsapi_event_doc",
                UserEvent::Other,
            ),
            (
                "account_events.json",
                "spot_outbound_account_position_after_market_order_doc",
                UserEvent::Other,
            ),
            (
                "account_events.json",
                "spot_balance_update_doc_wrapped",
                UserEvent::Other,
            ),
            (
                "account_events.json",
                "spot_list_status_doc_wrapped",
                UserEvent::Other,
            ),
            (
                "account_events.json",
                "spot_event_stream_terminated_doc",
                UserEvent::StreamTerminated,
            ),
            (
                "account_events.json",
                "usdm_account_update_doc",
                UserEvent::Other,
            ),
            (
                "futures_order_trade_update.json",
                "usdm_trade_lite_doc",
                UserEvent::Other,
            ),
        ];
        for (file, id, want) in cases {
            let mut raw = vector(file, id);
            let mut out = Vec::new();
            let got = JsonDoc::default()
                .parse(&mut raw, |root| {
                    user_event(root, Instruments(&specs), &mut out)
                })
                .unwrap()
                .unwrap();
            assert_eq!((got, out.len()), (want, 0), "{id}");
        }
        let mut raw = br#"{"e":"listenKeyExpired","E":1576653824250,"listenKey":"OfYGbUzi3PraNagEkdKuFwUHn48brFsItTdsuiIXrucEvD0rhRXZ7I6URWfE8YE8"}"#.to_vec();
        let got = JsonDoc::default()
            .parse(&mut raw, |root| {
                user_event(root, Instruments(&specs), &mut Vec::new())
            })
            .unwrap()
            .unwrap();
        assert_eq!(got, UserEvent::ListenKeyExpired);
    }

    #[test]
    fn spot_market_lifecycle_with_bnb_fees() {
        let specs = [spec("LTCBNB", "LTC", "BNB")];
        let mut all = Vec::new();
        for id in [
            "spot_market_new_doc",
            "spot_market_trade1_doc",
            "spot_market_trade2_doc",
            "spot_market_expired_doc",
        ] {
            all.extend(run(&specs, &mut vector("execution_report.json", id), user));
        }
        let kinds: Vec<_> = all.iter().map(|u| (u.exec, u.status, u.trade_id)).collect();
        assert_eq!(
            kinds,
            vec![
                (ExecType::New, OrdStatus::New, None),
                (ExecType::Trade, OrdStatus::PartiallyFilled, Some(7)),
                (ExecType::Trade, OrdStatus::PartiallyFilled, Some(8)),
                (ExecType::Expired, OrdStatus::Expired, None),
            ]
        );
        let t = all[2];
        assert_eq!((t.cid, t.venue_order_id), (K, 32));
        assert_eq!(
            (t.last_qty, t.last_px, t.cum_qty, t.orig_qty),
            (d("2"), d("1"), d("4"), d("6"))
        );
        // Commission 0.001 BNB: BNB is the quote of LTCBNB.
        assert_eq!(
            (t.fee, t.fee_unconverted, t.maker),
            (d("0.001"), false, false)
        );
        assert_eq!(all[3].cum_qty, d("4"));
    }

    #[test]
    fn fees_convert_from_base_and_flag_others() {
        let specs = [spec("DOGEUSDT", "DOGE", "USDT")];
        let u = run(
            &specs,
            &mut vector(
                "execution_report.json",
                "spot_trade_filled_captured_doge_2021",
            ),
            user,
        );
        assert_eq!(u.len(), 1);
        assert_eq!(
            (u[0].status, u[0].maker, u[0].trade_id),
            (OrdStatus::Filled, true, Some(204906079))
        );
        // 0.00002222 BNB: neither base nor quote.
        assert_eq!((u[0].fee, u[0].fee_unconverted), (Dec::ZERO, true));
        let specs = [spec("LTCBNB", "BNB", "LTC")];
        let u = run(
            &specs,
            &mut vector("execution_report.json", "spot_market_trade1_doc"),
            user,
        );
        // Base-asset commission 0.001 × price 1.
        assert_eq!((u[0].fee, u[0].fee_unconverted), (d("0.001"), false));
    }

    #[test]
    fn wrapped_and_foreign_reports() {
        let specs = [spec("ETHBTC", "ETH", "BTC"), spec("BTCUSDT", "BTC", "USDT")];
        let u = run(
            &specs,
            &mut vector("execution_report.json", "spot_new_doc_wrapped"),
            user,
        );
        assert_eq!(
            (u[0].exec, u[0].instrument, u[0].venue_order_id),
            (ExecType::New, 0, 4293153)
        );
        let u = run(
            &specs,
            &mut vector("execution_report.json", "spot_new_captured_btcusdt_2022"),
            user,
        );
        assert_eq!((u[0].instrument, u[0].orig_qty), (1, d("0.0006")));
        // Untouched vector: the client id is not ours, nothing is pushed.
        let mut raw = br#"{"e":"executionReport","s":"BTCUSDT","c":"web_123","x":"NEW"}"#.to_vec();
        assert!(run(&specs, &mut raw, user).is_empty());
    }

    #[test]
    fn usdm_order_trade_update() {
        let specs = [spec("BTCUSDT", "BTC", "USDT")];
        let u = run(
            &specs,
            &mut vector(
                "futures_order_trade_update.json",
                "usdm_order_trade_update_new_doc",
            ),
            user,
        );
        assert_eq!(u.len(), 1);
        assert_eq!(
            (u[0].exec, u[0].status, u[0].venue_order_id, u[0].orig_qty),
            (ExecType::New, OrdStatus::New, 8886774, d("0.001"))
        );
        let mut trade = br#"{"e":"ORDER_TRADE_UPDATE","E":1,"T":2,"o":{"s":"BTCUSDT","c":"K7-42","S":"BUY","o":"LIMIT","q":"0.010","p":"60000","x":"TRADE","X":"PARTIALLY_FILLED","i":9,"l":"0.004","z":"0.004","L":"60000.10","N":"USDT","n":"0.0960016","T":3,"t":55,"m":true}}"#.to_vec();
        let u = run(&specs, &mut trade, user);
        assert_eq!((u[0].cid, u[0].trade_id, u[0].maker), (K, Some(55), true));
        assert_eq!(
            (u[0].last_qty, u[0].last_px, u[0].fee, u[0].venue_ms),
            (d("0.004"), d("60000.1"), d("0.0960016"), 3)
        );
    }

    #[test]
    fn order_responses() {
        let specs = [
            spec("BTCUSDT", "BTC", "USDT"),
            spec("LTCBNB", "LTC", "BNB"),
            spec("LTCBTC", "LTC", "BTC"),
        ];
        let u = run(
            &specs,
            &mut vector("ws_api_order.json", "spot_order_place_response_ack_doc"),
            result,
        );
        assert_eq!(
            (u.len(), u[0].exec, u[0].venue_order_id),
            (1, ExecType::New, 12569099453)
        );
        let u = run(
            &specs,
            &mut vector("ws_api_order.json", "spot_order_place_response_full_doc"),
            result,
        );
        let got: Vec<_> = u.iter().map(|x| (x.exec, x.trade_id, x.cum_qty)).collect();
        assert_eq!(
            got,
            vec![
                (ExecType::New, None, Dec::ZERO),
                (ExecType::Trade, Some(1650422481), d("0.00635")),
                (ExecType::Trade, Some(1650422482), d("0.00847")),
            ]
        );
        // FULL market order that expired after two fills.
        let u = run(
            &specs,
            &mut vector("rest_order_response.json", "spot_full_market_expired_doc"),
            result,
        );
        let got: Vec<_> = u
            .iter()
            .map(|x| (x.exec, x.trade_id, x.cum_qty, x.fee))
            .collect();
        assert_eq!(
            got,
            vec![
                (ExecType::New, None, Dec::ZERO, Dec::ZERO),
                (ExecType::Trade, Some(7), d("2"), d("0.001")),
                (ExecType::Trade, Some(8), d("4"), d("0.001")),
                (ExecType::Expired, None, d("4"), Dec::ZERO),
            ]
        );
        // Cancel: ours is origClientOrderId.
        let u = run(
            &specs,
            &mut vector("rest_order_response.json", "spot_cancel_doc"),
            result,
        );
        assert_eq!(
            (u.len(), u[0].exec, u[0].cid, u[0].venue_order_id),
            (1, ExecType::Canceled, K, 4)
        );
        let u = run(
            &specs,
            &mut vector("ws_api_order.json", "spot_order_cancel_response_doc"),
            result,
        );
        assert_eq!(
            (u[0].exec, u[0].cum_qty),
            (ExecType::Canceled, d("0.00001"))
        );
    }

    #[test]
    fn trades_and_errors() {
        let specs = [spec("BTCUSDT", "BTC", "USDT")];
        let mut raw = br#"[{"symbol":"BTCUSDT","id":28457,"orderId":100234,"orderListId":-1,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","commission":"10.10000000","commissionAsset":"BTC","time":1499865549590,"isBuyer":true,"isMaker":false,"isBestMatch":true}]"#.to_vec();
        let u = run(&specs, &mut raw, trade_list);
        assert_eq!(
            (u[0].cid, u[0].venue_order_id, u[0].trade_id),
            (None, 100234, Some(28457))
        );
        assert_eq!((u[0].fee, u[0].maker), (d("40.4000101"), false));
        let mut doc = JsonDoc::default();
        let mut err = vector("ws_api_order.json", "spot_response_error_-2010_doc");
        let e = doc
            .parse(&mut err, |r| {
                venue_error(crate::binance::Venue::Spot, 400, r.get("error").unwrap())
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.code, e.reason()),
            (-2010, RejectReason::InsufficientBalance)
        );
        // Bad input: typed errors, no panic.
        let mut bad =
            br#"{"e":"executionReport","s":"BTCUSDT","c":"K1-1","x":"TRADE","i":"x"}"#.to_vec();
        let r = doc
            .parse(&mut bad, |root| {
                user_event(root, Instruments(&specs), &mut Vec::new())
            })
            .unwrap();
        assert_eq!(
            r,
            Err("field \"i\" should be an unsigned integer, found x".to_string())
        );
        let mut bad = br#"{"e":"executionReport","s":"XRPUSDT","c":"K1-1","x":"NEW"}"#.to_vec();
        let r = doc
            .parse(&mut bad, |root| {
                user_event(root, Instruments(&specs), &mut Vec::new())
            })
            .unwrap();
        assert_eq!(
            r,
            Err("unknown symbol \"XRPUSDT\": no instrument is configured for it".to_string())
        );
        assert!(doc.parse(&mut b"{\"a\":".to_vec(), |_| ()).is_err());
    }

    /// Runs `f` on `json`, returning its result.
    fn try_run(
        specs: &[InstrumentSpec],
        json: &str,
        f: fn(Val<'_, '_>, Instruments<'_>, &mut Vec<OrderUpdate>) -> ParseResult<()>,
    ) -> ParseResult<Vec<OrderUpdate>> {
        let mut out = Vec::new();
        JsonDoc::default()
            .parse(&mut json.as_bytes().to_vec(), |root| {
                f(root, Instruments(specs), &mut out)
            })
            .unwrap()
            .map(|()| out)
    }

    #[test]
    fn integer_amounts_beyond_the_decimal_range_are_refused() {
        let specs = [spec("BTCUSDT", "BTC", "USDT")];
        let report = |n: &str| {
            format!(
                r#"{{"e":"executionReport","s":"BTCUSDT","c":"K7-42","x":"TRADE","X":"FILLED","i":9,"q":"1","z":"1","l":"1","L":"2","t":3,"N":"USDT","n":{n}}}"#
            )
        };
        // A JSON integer that fits is read exactly, either sign (a rebate); null is 0.
        let u = try_run(&specs, &report("5"), user).unwrap();
        assert_eq!(u[0].fee, d("5"));
        let u = try_run(&specs, &report("-5"), user).unwrap();
        assert_eq!(u[0].fee, d("-5"));
        let u = try_run(&specs, &report("null"), user).unwrap();
        assert_eq!(u[0].fee, Dec::ZERO);
        // A float would not be exact, a bool is no amount: refused, not read as 0.
        for (n, found) in [
            ("0.5", "number 0.5"),
            ("1e3", "number 1000"),
            ("true", "true"),
        ] {
            assert_eq!(
                try_run(&specs, &report(n), user),
                Err(format!("field \"n\" should be a string, found {found}")),
                "{n}"
            );
        }
        // 1e10 × 10⁹ overflows i64; 2^64 − 1 does not even fit before scaling.
        for n in ["10000000000", "9223372036854775808", "18446744073709551615"] {
            assert_eq!(
                try_run(&specs, &report(n), user),
                Err(format!("field \"n\": decimal out of range in {n}"))
            );
        }
        let big = "10000000000";
        let order = |status: &str, orig: &str, executed: &str| {
            format!(
                r#"{{"symbol":"BTCUSDT","orderId":4,"clientOrderId":"K7-42","status":"{status}","origQty":{orig},"executedQty":{executed}}}"#
            )
        };
        // origQty of any order, executedQty of a terminal one.
        assert_eq!(
            try_run(&specs, &order("NEW", big, "0"), order_object),
            Err(format!("field \"origQty\": decimal out of range in {big}"))
        );
        assert_eq!(
            try_run(&specs, &order("CANCELED", "1", big), order_object),
            Err(format!(
                "field \"executedQty\": decimal out of range in {big}"
            ))
        );
        let fill = format!(
            r#"{{"symbol":"BTCUSDT","orderId":4,"clientOrderId":"K7-42","status":"FILLED","origQty":"1","fills":[{{"price":"2","qty":"1","tradeId":5,"commission":{big},"commissionAsset":"USDT"}}]}}"#
        );
        assert_eq!(
            try_run(&specs, &fill, order_object),
            Err(format!(
                "field \"commission\": decimal out of range in {big}"
            ))
        );
        let trades = format!(
            r#"[{{"symbol":"BTCUSDT","id":1,"orderId":4,"price":"2","qty":"1","commission":{big},"commissionAsset":"USDT"}}]"#
        );
        assert_eq!(
            try_run(&specs, &trades, trade_list),
            Err(format!(
                "field \"commission\": decimal out of range in {big}"
            ))
        );
    }
}
