//! Simulated venue: a deterministic matching engine fed by market data and order
//! requests, with order-entry latency, exchange rules, fees and balances.
//!
//! It is pure: no threads, no clock, no I/O, no randomness. The same sequence of calls
//! always produces the same reports.
//!
//! Model:
//! - The venue keeps one book copy per instrument. Depth updates maintain L2 levels (a
//!   snapshot's first chunk clears the book). A `BookTicker` replaces each side when the
//!   instrument never received depth; otherwise it is merged into the L2 book (levels
//!   better than the ticker's are dropped, the ticker's level is set).
//! - Resting orders fill as maker at their own price when the opposite side crosses
//!   them after a book update (after the last chunk of a depth update) or when a public
//!   trade prints strictly through their price (a trade fills our orders in priority
//!   order, at most its own size in total).
//! - Queue position (`[venue] queue_model`):
//!   - `"risk-averse"` (default; hftbacktest's `RiskAdverseQueueModel`): a resting
//!     order joins the back of its price level. Its quantity ahead is the venue copy's
//!     displayed size at that price and side when the order reaches the matching
//!     engine (0 where the level is not shown, e.g. away from the top with
//!     ticker-only data). A public trade at the order's price whose aggressor is on
//!     the other side (a seller for our bid) eats the quantity ahead first; what is
//!     left of the trade fills the order (a partial fill when it is smaller than the
//!     order's remaining quantity), rounded down to the lot. A depth or ticker update
//!     at the order's price is read as cancels behind the order, except that the
//!     quantity ahead never exceeds the level's new size: `ahead = min(ahead, level)`.
//!     A level that disappears therefore puts the order at the front. A size
//!     increase never moves it back. With ticker-only data a level behind the top
//!     is hidden, not empty: an order placed there starts with nothing ahead (its
//!     size is unknown) and its estimate is left alone while the level stays hidden.
//!   - `"none"`: no queue. A trade at the order's own price never fills it; only
//!     trades through the price and crossing books do.
//!
//!   Our own orders are not in the recorded book: two of our orders at one level each
//!   count the displayed size ahead of them, and one trade fills them together at most
//!   up to its size. A modify (cancel-replace) goes to the back of the queue.
//! - Taker executions (and maker fills against the book) consume the venue's book copy,
//!   so the same displayed liquidity is not taken twice before the feed restates it.
//! - Fill quantities are rounded down to the instrument's lot size.
//! - Requests (place, cancel, modify) reach the matching engine `latency_ns` after they
//!   were sent; requests arriving at or before a market event's time are processed
//!   before that event. Reports are not delayed: they carry the time the matching
//!   engine produced them.
//! - Market-data latency (`md_latency_ns`, hftbacktest's exchange vs. local
//!   timestamps) is applied by the driver, [`crate::SimLoop`]: it hands this venue a
//!   market event at `ts - md_latency_ns` and the engine the same event at `ts`, the
//!   recorded time. The venue itself only sees its own timeline.
//! - Rate limit (`max_orders_per_sec`, 0 = off): new orders (place, modify) are
//!   counted when they reach the matching engine, in fixed one-second windows of
//!   event time (`ts / 1e9`), like a venue's order-count interval. A place beyond the
//!   limit is `Rejected` with `RateLimited`; a modify beyond it is `CancelRejected`
//!   with `RateLimited` and the order keeps working unchanged. Cancels are never
//!   limited. Refused requests do not count.
//! - Reject storm (`reject_all`, fault injection): every place is `Rejected` with
//!   `Other` when it reaches the matching engine, before the rate limit counts it.
//! - Post-only (`LimitMaker`) orders that would cross the venue's book on arrival are
//!   `Rejected` with `WouldTake`.
//! - Accepted orders get venue order ids 1, 2, …; `Rejected` and `CancelRejected`
//!   reports carry venue order id 0. A place whose cid is still live is `Rejected`
//!   with `Other`. `Modify` is cancel-replace: the replacement gets a new venue id, a
//!   fresh `cum_qty` and new time priority; if it fails validation the old order is
//!   gone and the only report is `Rejected`.
//! - Buys lock `price × qty × (1 + max(maker, taker fee))` of quote, sells lock `qty`
//!   of base. Market buys lock nothing and each fill is capped by the free quote.

use kestrel_engine::book::BookSide;
use kestrel_engine::config::{QueueModel, VenueConfig};
use kestrel_engine::num::Step;
use kestrel_engine::portfolio::{margin, Position};
use kestrel_engine::{
    Action, BookTicker, ClientOrderId, Dec, Depth, Event, ExecKind, ExecReport, InstrumentId,
    InstrumentSpec, Liquidity, OrderType, PlaceOrder, PositionAction, RejectReason, Side,
    TimeInForce, Trade,
};
use std::collections::BTreeMap;

/// One instrument with its asset indices.
#[derive(Clone, Debug)]
struct Inst {
    spec: InstrumentSpec,
    base: usize,
    quote: usize,
    /// The tick and lot, precomputed for checking orders.
    tick: Step,
    lot: Step,
}

/// One side of the venue's book: price → displayed quantity.
#[derive(Clone, Debug)]
#[repr(u8)]
enum Levels {
    /// Before any depth: the last ticker's level alone (a ticker replaces it).
    Ticker(Side, Option<(Dec, Dec)>),
    /// With depth: the engine's L2 side (levels on the tick grid near the best indexed
    /// by tick, the rest sorted).
    Depth(BookSide),
}

impl Levels {
    fn side(&self) -> Side {
        match self {
            Levels::Ticker(side, _) => *side,
            Levels::Depth(b) => b.side(),
        }
    }
    fn best(&self) -> Option<Dec> {
        match self {
            Levels::Ticker(_, l) => l.map(|l| l.0),
            Levels::Depth(b) => b.best().map(|l| l.0),
        }
    }
    /// Size at `px` (0 if no level).
    fn get(&self, px: Dec) -> Dec {
        match self {
            Levels::Ticker(_, l) => l.filter(|l| l.0 == px).map_or(Dec::ZERO, |l| l.1),
            Levels::Depth(b) => b.get(px),
        }
    }
    /// Sets the size at `px` (a price above 0); 0 or less removes the level. A ticker
    /// side holds one level: a new price replaces it.
    fn set(&mut self, px: Dec, qty: Dec) {
        match self {
            Levels::Ticker(_, l) => {
                if qty.raw() > 0 {
                    *l = Some((px, qty));
                } else if l.is_some_and(|l| l.0 == px) {
                    *l = None;
                }
            }
            Levels::Depth(b) => b.set(px, qty),
        }
    }
    /// Removes `qty` from the level at `px` (the level goes when it empties).
    fn consume(&mut self, px: Dec, qty: Dec) {
        let have = self.get(px);
        if have.raw() > 0 {
            self.set(px, have - qty);
        }
    }
    /// Drops the levels better than `px`.
    fn drop_better_than(&mut self, px: Dec) {
        while let Some(best) = self.best().filter(|b| self.side().better(*b, px)) {
            self.set(best, Dec::ZERO);
        }
    }
    /// Levels from the best, while `keep(price)` holds, into `into` (cleared first).
    fn best_while(&self, keep: impl Fn(Dec) -> bool, into: &mut Vec<(Dec, Dec)>) {
        into.clear();
        match self {
            Levels::Ticker(_, l) => into.extend(l.filter(|l| keep(l.0))),
            Levels::Depth(b) => into.extend(b.iter().take_while(|l| keep(l.0))),
        }
    }
}

/// The venue's copy of one instrument's book: price → displayed quantity.
#[derive(Clone, Debug)]
struct Book {
    bids: Levels,
    asks: Levels,
    /// The instrument's tick, for the depth sides.
    tick: Step,
    /// True once a depth update was seen: tickers are then merged, not substituted.
    has_l2: bool,
}

impl Book {
    fn new(tick: Step) -> Book {
        Book {
            bids: Levels::Ticker(Side::Buy, None),
            asks: Levels::Ticker(Side::Sell, None),
            tick,
            has_l2: false,
        }
    }
    fn best_bid(&self) -> Option<Dec> {
        self.bids.best()
    }
    fn best_ask(&self) -> Option<Dec> {
        self.asks.best()
    }
    /// Best price on the side an order of `side` trades against.
    fn best_opposite(&self, side: Side) -> Option<Dec> {
        match side {
            Side::Buy => self.best_ask(),
            Side::Sell => self.best_bid(),
        }
    }
    /// True when an order of `side` with limit `limit` (None: market) reaches the best
    /// opposite price, so [`crossing_levels`](Self::crossing_levels) may find levels.
    fn reaches(&self, side: Side, limit: Option<Dec>) -> bool {
        let Some(l) = limit else { return true };
        self.best_opposite(side).is_some_and(|best| match side {
            Side::Buy => best <= l,
            Side::Sell => best >= l,
        })
    }
    /// Levels an order of `side` with limit `limit` (None: market) can take, best first.
    fn crossing_levels(&self, side: Side, limit: Option<Dec>, into: &mut Vec<(Dec, Dec)>) {
        match side {
            Side::Buy => self
                .asks
                .best_while(|px| !matches!(limit, Some(l) if px > l), into),
            Side::Sell => self
                .bids
                .best_while(|px| !matches!(limit, Some(l) if px < l), into),
        }
    }
    /// Removes `qty` from the level at `px` on the side an order of `side` takes from.
    fn consume(&mut self, side: Side, px: Dec, qty: Dec) {
        match side {
            Side::Buy => self.asks.consume(px, qty),
            Side::Sell => self.bids.consume(px, qty),
        }
    }
    /// Displayed size at `px` on the side an order of `side` rests on (0 if none).
    fn qty_at(&self, side: Side, px: Dec) -> Dec {
        match side {
            Side::Buy => self.bids.get(px),
            Side::Sell => self.asks.get(px),
        }
    }
    fn set_level(&mut self, side: Side, px: Dec, qty: Dec) {
        if px.raw() <= 0 {
            return;
        }
        match side {
            Side::Buy => self.bids.set(px, qty),
            Side::Sell => self.asks.set(px, qty),
        }
    }
    fn apply_ticker(&mut self, t: &BookTicker) {
        if !self.has_l2 {
            let level = |px: Dec, qty: Dec| (px.raw() > 0 && qty.raw() > 0).then_some((px, qty));
            self.bids = Levels::Ticker(Side::Buy, level(t.bid_px, t.bid_qty));
            self.asks = Levels::Ticker(Side::Sell, level(t.ask_px, t.ask_qty));
            return;
        }
        // Levels better than the ticker's are gone.
        if t.bid_px.raw() > 0 {
            self.bids.drop_better_than(t.bid_px);
            self.set_level(Side::Buy, t.bid_px, t.bid_qty);
        }
        if t.ask_px.raw() > 0 {
            self.asks.drop_better_than(t.ask_px);
            self.set_level(Side::Sell, t.ask_px, t.ask_qty);
        }
    }
    fn apply_depth(&mut self, d: &Depth) {
        if !self.has_l2 || (d.snapshot && d.first_chunk) {
            // The first depth data replaces whatever a ticker left.
            for (levels, side) in [(&mut self.bids, Side::Buy), (&mut self.asks, Side::Sell)] {
                match levels {
                    Levels::Depth(b) => b.clear(),
                    Levels::Ticker(..) => {
                        *levels = Levels::Depth(BookSide::with_tick(side, self.tick))
                    }
                }
            }
        }
        self.has_l2 = true;
        for l in d.levels() {
            self.set_level(l.side, l.px, l.qty);
        }
    }
}

/// Total and locked amount of one asset.
#[derive(Clone, Copy, Debug, Default)]
struct Bal {
    total: Dec,
    locked: Dec,
    /// Margin held by open perpetual positions.
    margin: Dec,
}

/// A live (acknowledged, not done) order.
#[derive(Clone, Copy, Debug)]
struct Order {
    cid: ClientOrderId,
    instrument: InstrumentId,
    side: Side,
    order_type: OrderType,
    tif: TimeInForce,
    price: Dec,
    qty: Dec,
    cum: Dec,
    venue_id: u64,
    /// Time priority among resting orders.
    seq: u64,
    /// Amount this order holds locked (quote for buys, base for sells; quote margin
    /// on perpetuals).
    locked: Dec,
    /// Opens or closes (perpetuals).
    action: PositionAction,
    /// Displayed quantity ahead of it in its price level's queue (queue model only).
    queue_ahead: Dec,
}

impl Order {
    fn leaves(&self) -> Dec {
        self.qty - self.cum
    }
    fn report(&self, kind: ExecKind) -> ExecReport {
        ExecReport {
            cid: self.cid,
            instrument: self.instrument,
            kind,
            venue_order_id: self.venue_id,
            cum_qty: self.cum,
            leaves_qty: self.leaves(),
            ..ExecReport::default()
        }
    }
}

/// Live orders sorted by client order id: the iteration order of the B-tree it
/// replaces, at a lower cost for the few orders a venue holds at a time. Client order
/// ids grow with every order, so a new order is appended, and a lookup is a binary
/// search; a removal moves the orders after it (cheap while few are live).
#[derive(Clone, Debug, Default)]
struct LiveOrders(Vec<Order>);

impl LiveOrders {
    fn find(&self, cid: &ClientOrderId) -> Result<usize, usize> {
        self.0.binary_search_by(|o| o.cid.cmp(cid))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn contains_key(&self, cid: &ClientOrderId) -> bool {
        self.find(cid).is_ok()
    }
    fn get(&self, cid: &ClientOrderId) -> Option<&Order> {
        self.find(cid).ok().map(|i| &self.0[i])
    }
    fn get_mut(&mut self, cid: &ClientOrderId) -> Option<&mut Order> {
        self.find(cid).ok().map(|i| &mut self.0[i])
    }
    /// Inserts `o` under `cid` (its own cid), replacing an order with that cid.
    fn insert(&mut self, cid: ClientOrderId, o: Order) {
        debug_assert_eq!(cid, o.cid, "invariant: orders are keyed by their own cid");
        if self.0.last().is_none_or(|l| l.cid < cid) {
            self.0.push(o);
            return;
        }
        match self.find(&cid) {
            Ok(i) => self.0[i] = o,
            Err(i) => self.0.insert(i, o),
        }
    }
    fn remove(&mut self, cid: &ClientOrderId) -> Option<Order> {
        self.find(cid).ok().map(|i| self.0.remove(i))
    }
    fn values(&self) -> std::slice::Iter<'_, Order> {
        self.0.iter()
    }
    fn values_mut(&mut self) -> std::slice::IterMut<'_, Order> {
        self.0.iter_mut()
    }
}

/// Deterministic simulated venue (see the module documentation for the model).
#[derive(Clone, Debug)]
pub struct SimVenue {
    latency_ns: u64,
    maker_fee: Dec,
    taker_fee: Dec,
    /// Fee rate used to size buy locks: the larger of the two rates.
    lock_rate: Dec,
    queue_model: QueueModel,
    /// New orders admitted per one-second window; 0: unlimited.
    max_orders_per_sec: u32,
    /// Fault injection: every new order is rejected (`VenueConfig::reject_all`).
    reject_all: bool,
    /// Current rate-limit window (`ts / 1e9`) and orders admitted in it.
    rate_window: u64,
    rate_count: u32,
    instruments: Vec<Inst>,
    books: Vec<Book>,
    asset_index: BTreeMap<String, usize>,
    balances: Vec<Bal>,
    orders: LiveOrders,
    /// Requests in flight, keyed by (arrival time, send order).
    pending: BTreeMap<(u64, u64), Action>,
    next_request: u64,
    next_venue_id: u64,
    next_seq: u64,
    /// Net position per perpetual instrument (margin and pnl settlement).
    positions: Vec<Position>,
    /// Lists reused by every match, so that matching allocates nothing once warm.
    scratch: Scratch,
}

/// The simulated venue's reusable lists (contents meaningless between calls).
#[derive(Clone, Debug, Default)]
struct Scratch {
    /// Resting orders by priority: is a sell (buys first), price key (best first),
    /// arrival.
    resting: Vec<(bool, i64, u64, ClientOrderId)>,
    /// Levels an order crosses, best first.
    levels: Vec<(Dec, Dec)>,
    /// A taker order's planned fills.
    fills: Vec<(Dec, Dec)>,
}

fn clamp_rate(r: Dec) -> Dec {
    r.max(Dec::ZERO).min(Dec(Dec::ONE.raw() - 1))
}

impl SimVenue {
    /// Builds a venue. Instrument ids are indices in `instruments`; `balances` gives
    /// the account's starting totals by asset name (assets of the instruments that are
    /// missing start at zero). Fee rates are clamped to `[0, 1)`.
    pub fn new(
        cfg: &VenueConfig,
        instruments: &[InstrumentSpec],
        balances: &BTreeMap<String, Dec>,
    ) -> Self {
        let mut asset_index = BTreeMap::new();
        let mut bals = Vec::new();
        let mut index_of = |name: &str, bals: &mut Vec<Bal>| -> usize {
            if let Some(&i) = asset_index.get(name) {
                return i;
            }
            let i = bals.len();
            asset_index.insert(name.to_string(), i);
            bals.push(Bal::default());
            i
        };
        for (name, v) in balances {
            let i = index_of(name, &mut bals);
            bals[i].total = (*v).max(Dec::ZERO);
        }
        let insts = instruments
            .iter()
            .map(|s| Inst {
                spec: s.clone(),
                base: index_of(&s.base, &mut bals),
                quote: index_of(&s.quote, &mut bals),
                tick: Step::new(s.tick_size),
                lot: Step::new(s.lot_size),
            })
            .collect::<Vec<_>>();
        let maker_fee = clamp_rate(cfg.maker_fee);
        let taker_fee = clamp_rate(cfg.taker_fee);
        SimVenue {
            latency_ns: cfg.latency_ns,
            maker_fee,
            taker_fee,
            lock_rate: maker_fee.max(taker_fee),
            queue_model: cfg.queue_model,
            max_orders_per_sec: cfg.max_orders_per_sec,
            reject_all: cfg.reject_all,
            rate_window: 0,
            rate_count: 0,
            books: insts.iter().map(|i| Book::new(i.tick)).collect(),
            instruments: insts,
            asset_index,
            balances: bals,
            orders: LiveOrders::default(),
            pending: BTreeMap::new(),
            next_request: 0,
            next_venue_id: 1,
            next_seq: 0,
            positions: vec![Position::default(); instruments.len()],
            scratch: Scratch::default(),
        }
    }

    /// Applies a market-data event at time `ts`: first processes every request that
    /// arrived by `ts`, then updates the book copy, then fills resting orders that the
    /// new book or trade crosses. Fill reports carry `ts`.
    pub fn on_market(&mut self, ts: u64, event: &Event, out: &mut Vec<(u64, ExecReport)>) {
        self.advance(ts, out);
        match event {
            Event::BookTicker(t) => {
                if let Some(book) = self.books.get_mut(t.instrument as usize) {
                    book.apply_ticker(t);
                    self.match_book(ts, t.instrument, out);
                    self.shrink_queues(t.instrument);
                }
            }
            Event::Depth(d) => {
                if let Some(book) = self.books.get_mut(d.instrument as usize) {
                    book.apply_depth(d);
                    if d.last_chunk {
                        self.match_book(ts, d.instrument, out);
                        self.shrink_queues(d.instrument);
                    }
                }
            }
            Event::Trade(t) => self.match_trade(ts, t, out),
            _ => {}
        }
    }

    /// Sends a request at time `ts`. It reaches the matching engine at
    /// `ts + latency_ns` (at once when the latency is zero). Requests that arrived by
    /// `ts` are processed first. Actions other than place, cancel and modify are ignored.
    pub fn on_action(&mut self, ts: u64, action: &Action, out: &mut Vec<(u64, ExecReport)>) {
        if !matches!(
            action,
            Action::Place(_) | Action::Cancel { .. } | Action::Modify { .. }
        ) {
            return;
        }
        self.advance(ts, out);
        if self.latency_ns == 0 {
            self.process(ts, action, out);
            return;
        }
        let arrival = ts.saturating_add(self.latency_ns);
        self.pending.insert((arrival, self.next_request), *action);
        self.next_request += 1;
    }

    /// Processes, in (arrival time, send order) order, every request that arrived by `now`.
    pub fn advance(&mut self, now: u64, out: &mut Vec<(u64, ExecReport)>) {
        // Usually nothing is due (and with no latency nothing is ever in flight): that
        // check stays a small function, the processing does not.
        if self
            .pending
            .first_key_value()
            .is_some_and(|(k, _)| k.0 <= now)
        {
            self.arrive(now, out);
        }
    }

    /// Processes the requests in flight that have arrived by `now`, in order.
    #[inline(never)]
    fn arrive(&mut self, now: u64, out: &mut Vec<(u64, ExecReport)>) {
        while let Some(entry) = self.pending.first_entry() {
            let arrival = entry.key().0;
            if arrival > now {
                break;
            }
            let action = entry.remove();
            self.process(arrival, &action, out);
        }
    }

    /// Processes every pending request at its arrival time (used at shutdown).
    pub fn flush(&mut self, out: &mut Vec<(u64, ExecReport)>) {
        self.advance(u64::MAX, out);
    }

    /// True while some request has not reached the matching engine.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Number of orders resting on the venue.
    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }

    /// Quantity ahead of a live order in its level's queue (0 without a queue model),
    /// `None` if the order is not live.
    pub fn queue_ahead(&self, cid: ClientOrderId) -> Option<Dec> {
        self.orders.get(&cid).map(|o| o.queue_ahead)
    }

    /// `(total, locked)` balance of an asset, `None` if the venue does not know it.
    pub fn balance(&self, asset: &str) -> Option<(Dec, Dec)> {
        let b = self.balances.get(*self.asset_index.get(asset)?)?;
        Some((b.total, b.locked))
    }

    fn process(&mut self, ts: u64, action: &Action, out: &mut Vec<(u64, ExecReport)>) {
        match action {
            Action::Place(p) => {
                if self.reject_all {
                    out.push((ts, Self::reject(p, RejectReason::Other)));
                } else if self.admit(ts) {
                    self.place(ts, p, out);
                } else {
                    out.push((ts, Self::reject(p, RejectReason::RateLimited)));
                }
            }
            Action::Cancel { cid, instrument } => self.cancel(ts, *cid, *instrument, out),
            Action::Modify {
                cid,
                instrument,
                price,
                qty,
            } => {
                if !self.live(*cid, *instrument) {
                    out.push(Self::cancel_reject(ts, *cid, *instrument));
                } else if !self.admit(ts) {
                    let mut r = Self::cancel_reject(ts, *cid, *instrument);
                    r.1.reason = RejectReason::RateLimited;
                    out.push(r);
                } else {
                    self.modify(ts, *cid, *instrument, *price, *qty, out);
                }
            }
            _ => {}
        }
    }

    /// Counts a new order arriving at `ts` against the rate limit; false if refused.
    fn admit(&mut self, ts: u64) -> bool {
        if self.max_orders_per_sec == 0 {
            return true;
        }
        let window = ts / 1_000_000_000;
        if window != self.rate_window {
            self.rate_window = window;
            self.rate_count = 0;
        }
        if self.rate_count >= self.max_orders_per_sec {
            return false;
        }
        self.rate_count += 1;
        true
    }

    fn free(&self, asset: usize) -> Dec {
        self.balances
            .get(asset)
            .map_or(Dec::ZERO, |b| b.total - b.locked - b.margin)
    }

    /// True if an order only reduces the instrument's perpetual position.
    fn reduces(
        &self,
        instrument: InstrumentId,
        side: Side,
        qty: Dec,
        action: PositionAction,
    ) -> bool {
        let market = self.instruments[instrument as usize].spec.market;
        self.positions[instrument as usize].reduced_by(market, side, qty, action)
    }

    /// Lock an order of this shape needs for `qty` at reference price `px`: on
    /// perpetuals, margin (notional / leverage, plus fees) unless it only reduces.
    #[allow(clippy::too_many_arguments)]
    fn lock_for(
        &self,
        instrument: InstrumentId,
        side: Side,
        order_type: OrderType,
        px: Dec,
        qty: Dec,
        action: PositionAction,
    ) -> Dec {
        let spec = &self.instruments[instrument as usize].spec;
        if spec.market.is_perpetual() {
            if order_type == OrderType::Market || self.reduces(instrument, side, qty, action) {
                return Dec::ZERO;
            }
            let n = px.mul(qty);
            return margin(n, spec.leverage) + n.mul(self.lock_rate);
        }
        match (side, order_type) {
            // Market buys lock nothing: they never rest and each fill is capped by the
            // free quote balance.
            (Side::Buy, OrderType::Market) => Dec::ZERO,
            (Side::Buy, _) => {
                let n = px.mul(qty);
                n + n.mul(self.lock_rate)
            }
            (Side::Sell, _) => qty,
        }
    }

    fn lock_asset(&self, o: &Order) -> usize {
        let inst = &self.instruments[o.instrument as usize];
        if inst.spec.market.is_perpetual() {
            return inst.quote;
        }
        match o.side {
            Side::Buy => inst.quote,
            Side::Sell => inst.base,
        }
    }

    fn reject(p: &PlaceOrder, reason: RejectReason) -> ExecReport {
        ExecReport {
            cid: p.cid,
            instrument: p.instrument,
            kind: ExecKind::Rejected,
            reason,
            ..ExecReport::default()
        }
    }

    /// Validates a new order; returns the amount it must have free (which a resting
    /// order locks, see [`SimVenue::lock_for`]), or the reject reason.
    fn validate(&self, p: &PlaceOrder) -> Result<Dec, RejectReason> {
        let Some(inst) = self.instruments.get(p.instrument as usize) else {
            return Err(RejectReason::UnknownInstrument);
        };
        if self.orders.contains_key(&p.cid) {
            return Err(RejectReason::Other);
        }
        let spec = &inst.spec;
        let market = p.order_type == OrderType::Market;
        if !market && (p.price.raw() <= 0 || !inst.tick.divides(p.price)) {
            return Err(RejectReason::BadTick);
        }
        if p.qty.raw() <= 0 || !inst.lot.divides(p.qty) || p.qty < spec.min_quantity() {
            return Err(RejectReason::BadLot);
        }
        let book = &self.books[p.instrument as usize];
        let best_opp = book.best_opposite(p.side);
        let ref_px = if market {
            match best_opp {
                Some(px) => px,
                None => return Err(RejectReason::NoLiquidity),
            }
        } else {
            p.price
        };
        let n = ref_px.mul(p.qty);
        if n < spec.min_notional {
            return Err(RejectReason::MinNotional);
        }
        let (asset, need) = if spec.market.is_perpetual() {
            let need = if self.reduces(p.instrument, p.side, p.qty, p.position_action) {
                Dec::ZERO
            } else {
                margin(n, spec.leverage) + n.mul(self.lock_rate)
            };
            (inst.quote, need)
        } else {
            match p.side {
                Side::Buy => (inst.quote, n + n.mul(self.lock_rate)),
                Side::Sell => (inst.base, p.qty),
            }
        };
        if self.free(asset) < need {
            return Err(RejectReason::InsufficientBalance);
        }
        if p.order_type == OrderType::LimitMaker {
            let crosses = match (p.side, best_opp) {
                (Side::Buy, Some(ask)) => ask <= p.price,
                (Side::Sell, Some(bid)) => bid >= p.price,
                _ => false,
            };
            if crosses {
                return Err(RejectReason::WouldTake);
            }
        }
        Ok(need)
    }

    fn place(&mut self, ts: u64, p: &PlaceOrder, out: &mut Vec<(u64, ExecReport)>) {
        let need = match self.validate(p) {
            Ok(need) => need,
            Err(reason) => {
                out.push((ts, Self::reject(p, reason)));
                return;
            }
        };
        let market = p.order_type == OrderType::Market;
        let queue_ahead = if market || self.queue_model == QueueModel::None {
            Dec::ZERO
        } else {
            self.books[p.instrument as usize].qty_at(p.side, p.price)
        };
        let mut order = Order {
            cid: p.cid,
            instrument: p.instrument,
            side: p.side,
            order_type: p.order_type,
            tif: p.tif,
            price: if market { Dec::ZERO } else { p.price },
            qty: p.qty,
            cum: Dec::ZERO,
            venue_id: self.next_venue_id,
            seq: self.next_seq,
            locked: Dec::ZERO,
            queue_ahead,
            action: p.position_action,
        };
        self.next_venue_id += 1;
        self.next_seq += 1;
        // A priced order locks what it was checked for; a market order locks less
        // (nothing, or the base a sell gives).
        order.locked = if market {
            self.lock_for(
                order.instrument,
                order.side,
                order.order_type,
                order.price,
                order.qty,
                order.action,
            )
        } else {
            need
        };
        let asset = self.lock_asset(&order);
        self.balances[asset].locked += order.locked;
        self.orders.insert(order.cid, order);
        out.push((ts, order.report(ExecKind::Ack)));

        // Taker phase. An order short of the best opposite price (most orders of a
        // quoting strategy) takes nothing and skips the planning.
        if order.order_type != OrderType::LimitMaker {
            let limit = (!market).then_some(order.price);
            let reaches = self.books[order.instrument as usize].reaches(order.side, limit);
            // A fill-or-kill order that cannot fill whole takes nothing and expires.
            if !(reaches && self.take(ts, &order, out)) && order.tif == TimeInForce::Fok {
                self.finish(ts, order.cid, ExecKind::Expired, out);
                return;
            }
        }
        if let Some(o) = self.orders.get(&order.cid) {
            if o.order_type == OrderType::Market || o.tif != TimeInForce::Gtc {
                self.finish(ts, order.cid, ExecKind::Expired, out);
            }
        }
    }

    /// Takes what the book offers the new order `o` now. False, taking nothing, when
    /// `o` is fill-or-kill and cannot fill whole.
    fn take(&mut self, ts: u64, o: &Order, out: &mut Vec<(u64, ExecReport)>) -> bool {
        let mut scratch = std::mem::take(&mut self.scratch);
        self.plan_taker(o, &mut scratch.levels, &mut scratch.fills);
        let total = scratch.fills.iter().fold(Dec::ZERO, |a, f| a + f.1);
        let whole = o.tif != TimeInForce::Fok || total >= o.qty;
        if whole {
            for &(px, q) in &scratch.fills {
                self.books[o.instrument as usize].consume(o.side, px, q);
                self.fill(ts, o.cid, px, q, Liquidity::Taker, out);
            }
        }
        self.scratch = scratch;
        whole
    }

    /// Fills a taker order would get now, into `fills`: one `(price, qty)` per
    /// crossed level (`levels` is scratch).
    fn plan_taker(&self, o: &Order, levels: &mut Vec<(Dec, Dec)>, fills: &mut Vec<(Dec, Dec)>) {
        let inst = &self.instruments[o.instrument as usize];
        let lot = inst.spec.lot_size;
        let limit = (o.order_type != OrderType::Market).then_some(o.price);
        self.books[o.instrument as usize].crossing_levels(o.side, limit, levels);
        fills.clear();
        // Market buys are capped by the free quote balance, level by level.
        let mut budget = (o.side == Side::Buy && o.order_type == OrderType::Market)
            .then(|| self.free(inst.quote));
        let mut leaves = o.leaves();
        for &(px, avail) in levels.iter() {
            if leaves.raw() <= 0 {
                break;
            }
            let mut q = leaves.min(avail).floor_to(lot);
            if let Some(b) = budget {
                let unit = px + px.mul(self.taker_fee);
                let afford = b.div(unit).unwrap_or(Dec::ZERO).floor_to(lot);
                q = q.min(afford);
                // Truncation can leave the estimate one lot high: step down until it fits.
                while q.raw() > 0 && cost(px, q, self.taker_fee) > b {
                    if lot.raw() <= 0 {
                        q = Dec::ZERO;
                    } else {
                        q -= lot;
                    }
                }
                if q.raw() <= 0 {
                    break;
                }
                budget = Some(b - cost(px, q, self.taker_fee));
            }
            if q.raw() <= 0 {
                continue;
            }
            leaves -= q;
            fills.push((px, q));
        }
    }

    /// Applies one fill of `q` at `px` to a live order: balances, lock, report.
    fn fill(
        &mut self,
        ts: u64,
        cid: ClientOrderId,
        px: Dec,
        q: Dec,
        liq: Liquidity,
        out: &mut Vec<(u64, ExecReport)>,
    ) {
        let Some(mut o) = self.orders.get(&cid).copied() else {
            return;
        };
        let rate = match liq {
            Liquidity::Maker => self.maker_fee,
            _ => self.taker_fee,
        };
        let notional = px.mul(q);
        let fee = notional.mul(rate);
        o.cum += q;
        let new_lock = self.lock_for(
            o.instrument,
            o.side,
            o.order_type,
            o.price,
            o.leaves(),
            o.action,
        );
        let release = (o.locked - new_lock).max(Dec::ZERO);
        o.locked = o.locked.min(new_lock);
        let inst = &self.instruments[o.instrument as usize];
        let (base, quote) = (inst.base, inst.quote);
        if inst.spec.market.is_perpetual() {
            // No base moves: the quote balance takes the realized pnl and the fee; the
            // position holds margin.
            let (cash, margin) = self.positions[o.instrument as usize].apply_perp_fill(
                o.side,
                px,
                q,
                fee,
                inst.spec.leverage,
            );
            let b = &mut self.balances[quote];
            b.total += cash;
            b.margin += margin;
            b.locked = (b.locked - release).max(Dec::ZERO);
        } else {
            match o.side {
                Side::Buy => {
                    let b = &mut self.balances[quote];
                    b.total -= notional + fee;
                    b.locked = (b.locked - release).max(Dec::ZERO);
                    self.balances[base].total += q;
                }
                Side::Sell => {
                    let b = &mut self.balances[base];
                    b.total -= q;
                    b.locked = (b.locked - release).max(Dec::ZERO);
                    self.balances[quote].total += notional - fee;
                }
            }
        }
        let done = o.leaves().raw() <= 0;
        let mut r = o.report(if done {
            ExecKind::Fill
        } else {
            ExecKind::PartialFill
        });
        r.last_px = px;
        r.last_qty = q;
        r.fee = fee;
        r.liquidity = liq;
        out.push((ts, r));
        if done {
            self.orders.remove(&cid);
        } else {
            self.orders.insert(cid, o);
        }
    }

    /// Ends a live order (cancel or expiry): releases its lock and reports `kind`.
    fn finish(
        &mut self,
        ts: u64,
        cid: ClientOrderId,
        kind: ExecKind,
        out: &mut Vec<(u64, ExecReport)>,
    ) {
        if let Some(o) = self.orders.remove(&cid) {
            self.unlock(&o);
            out.push((ts, o.report(kind)));
        }
    }

    fn unlock(&mut self, o: &Order) {
        let asset = self.lock_asset(o);
        let b = &mut self.balances[asset];
        b.locked = (b.locked - o.locked).max(Dec::ZERO);
    }

    fn live(&self, cid: ClientOrderId, instrument: InstrumentId) -> bool {
        self.orders
            .get(&cid)
            .is_some_and(|o| o.instrument == instrument)
    }

    fn cancel_reject(ts: u64, cid: ClientOrderId, instrument: InstrumentId) -> (u64, ExecReport) {
        let r = ExecReport {
            cid,
            instrument,
            kind: ExecKind::CancelRejected,
            reason: RejectReason::UnknownOrder,
            ..ExecReport::default()
        };
        (ts, r)
    }

    fn cancel(
        &mut self,
        ts: u64,
        cid: ClientOrderId,
        instrument: InstrumentId,
        out: &mut Vec<(u64, ExecReport)>,
    ) {
        if self.live(cid, instrument) {
            self.finish(ts, cid, ExecKind::Canceled, out);
        } else {
            out.push(Self::cancel_reject(ts, cid, instrument));
        }
    }

    /// Cancel-replace: the old order leaves the book silently and a new order with the
    /// same cid, side, type and time in force is placed (new venue id, fresh `cum_qty`,
    /// new time priority). If the replacement fails validation the old order is gone
    /// and the only report is `Rejected`.
    fn modify(
        &mut self,
        ts: u64,
        cid: ClientOrderId,
        instrument: InstrumentId,
        price: Dec,
        qty: Dec,
        out: &mut Vec<(u64, ExecReport)>,
    ) {
        if !self.live(cid, instrument) {
            out.push(Self::cancel_reject(ts, cid, instrument));
            return;
        }
        let Some(old) = self.orders.remove(&cid) else {
            return;
        };
        self.unlock(&old);
        let p = PlaceOrder {
            cid,
            instrument,
            side: old.side,
            order_type: old.order_type,
            tif: old.tif,
            price,
            qty,
            position_action: old.action,
        };
        self.place(ts, &p, out);
    }

    /// Resting orders of an instrument in priority order, into `into` (cleared
    /// first): buys first (best price, then time), then sells.
    fn resting(&self, instrument: InstrumentId, into: &mut Vec<(bool, i64, u64, ClientOrderId)>) {
        into.clear();
        for o in self.orders.values().filter(|o| o.instrument == instrument) {
            let key = match o.side {
                Side::Buy => -o.price.raw(),
                Side::Sell => o.price.raw(),
            };
            into.push((o.side == Side::Sell, key, o.seq, o.cid));
        }
        // Arrival numbers are unique: no two entries compare equal.
        into.sort_unstable();
    }

    /// Fills resting orders that the book now crosses, as maker at their own price.
    fn match_book(&mut self, ts: u64, instrument: InstrumentId, out: &mut Vec<(u64, ExecReport)>) {
        let i = instrument as usize;
        let Some(lot) = self.instruments.get(i).map(|x| x.spec.lot_size) else {
            return;
        };
        // Most updates cross nothing: check before sorting the resting orders.
        let (bid, ask) = (self.books[i].best_bid(), self.books[i].best_ask());
        let crossed = self.orders.values().any(|o| {
            o.instrument == instrument
                && match o.side {
                    Side::Buy => ask.is_some_and(|a| a <= o.price),
                    Side::Sell => bid.is_some_and(|b| b >= o.price),
                }
        });
        if !crossed {
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        self.resting(instrument, &mut scratch.resting);
        for &(_, _, _, cid) in &scratch.resting {
            let Some(o) = self.orders.get(&cid).copied() else {
                continue;
            };
            let levels = &mut scratch.levels;
            self.books[i].crossing_levels(o.side, Some(o.price), levels);
            let avail = levels.iter().fold(Dec::ZERO, |a, l| a + l.1);
            let q = o.leaves().min(avail).floor_to(lot);
            if q.raw() <= 0 {
                continue;
            }
            let mut left = q;
            for &(px, lq) in levels.iter() {
                if left.raw() <= 0 {
                    break;
                }
                let take = left.min(lq);
                self.books[i].consume(o.side, px, take);
                left -= take;
            }
            self.fill(ts, cid, o.price, q, Liquidity::Maker, out);
        }
        self.scratch = scratch;
    }

    /// After a book update: the quantity ahead of each resting order of the instrument
    /// is capped by its level's new displayed size (risk-averse queue model).
    fn shrink_queues(&mut self, instrument: InstrumentId) {
        if self.queue_model == QueueModel::None {
            return;
        }
        let Some(book) = self.books.get(instrument as usize) else {
            return;
        };
        for o in self.orders.values_mut() {
            if o.instrument != instrument || o.queue_ahead.raw() <= 0 {
                continue;
            }
            // A ticker-only book shows one level per side: a level behind it is hidden,
            // not empty, and keeps its estimate.
            let hidden = !book.has_l2
                && match o.side {
                    Side::Buy => book.best_bid().is_some_and(|b| b > o.price),
                    Side::Sell => book.best_ask().is_some_and(|a| a < o.price),
                };
            if !hidden {
                o.queue_ahead = o.queue_ahead.min(book.qty_at(o.side, o.price));
            }
        }
    }

    /// Fills resting orders a public trade printed through (strictly) and, with the
    /// queue model, orders at the trade's price once the trade has eaten the quantity
    /// ahead of them; in priority order, at most the trade's size in total.
    fn match_trade(&mut self, ts: u64, t: &Trade, out: &mut Vec<(u64, ExecReport)>) {
        let Some(lot) = self
            .instruments
            .get(t.instrument as usize)
            .map(|x| x.spec.lot_size)
        else {
            return;
        };
        let queue = self.queue_model != QueueModel::None;
        let touched = self.orders.values().any(|o| {
            o.instrument == t.instrument
                && match o.side {
                    Side::Buy => t.px <= o.price,
                    Side::Sell => t.px >= o.price,
                }
        });
        if !touched {
            return;
        }
        let mut pool = t.qty;
        let mut scratch = std::mem::take(&mut self.scratch);
        self.resting(t.instrument, &mut scratch.resting);
        for &(_, _, _, cid) in &scratch.resting {
            if pool.raw() <= 0 {
                break;
            }
            let Some(o) = self.orders.get(&cid).copied() else {
                continue;
            };
            let through = match o.side {
                Side::Buy => t.px < o.price,
                Side::Sell => t.px > o.price,
            };
            let room = if through {
                o.leaves()
            } else if queue && t.px == o.price && t.aggressor != o.side {
                // The trade eats the queue ahead first; the rest reaches the order.
                let left = t.qty - o.queue_ahead;
                if let Some(live) = self.orders.get_mut(&cid) {
                    live.queue_ahead = (o.queue_ahead - t.qty).max(Dec::ZERO);
                }
                o.leaves().min(left)
            } else {
                continue;
            };
            let q = room.min(pool).floor_to(lot);
            if q.raw() <= 0 {
                continue;
            }
            pool -= q;
            self.fill(ts, cid, o.price, q, Liquidity::Maker, out);
        }
        self.scratch = scratch;
    }
}

/// Quote cost of buying `q` at `px` with fee rate `rate`.
fn cost(px: Dec, q: Dec, rate: Dec) -> Dec {
    let n = px.mul(q);
    n + n.mul(rate)
}
