//! The stream / snapshot parser: simd-json tape with reused buffers, walked in place.
//!
//! Allocation: the simd-json [`Buffers`] and the tape vector live in the [`Parser`] and
//! are reused, strings are borrowed from the (mutable) input, decimals are parsed from
//! those borrows, and events go into the caller's vector. Once the buffers have grown to
//! the largest message seen (warm-up), parsing a message allocates nothing; only error
//! paths allocate (their message).

use kestrel_engine::num::{parse_raw, ParseDecimalError};
use kestrel_engine::{
    BookTicker, Dec, Depth, Event, InstrumentId, Kline, Level, Side, Trade, DEPTH_CHUNK,
};
use simd_json::{Buffers, Node, Tape};

use super::tape::Val;
use super::ParseError;

/// Default limit on the levels (bids + asks) of one depth message: the largest REST
/// snapshot Binance serves is 5,000 levels a side.
pub const MAX_LEVELS: usize = 10_000;

/// What a parsed message was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgKind {
    /// Best bid/offer.
    BookTicker,
    /// Diff depth (`depthUpdate`): `U`, `u`, and USD-M `pu` (0 on spot).
    DepthDiff {
        /// First update id (`U`).
        first: u64,
        /// Last update id (`u`).
        last: u64,
        /// Previous event's last update id (`pu`), 0 if absent.
        prev: u64,
    },
    /// Partial book depth (`@depth5/10/20`), emitted as snapshot chunks.
    PartialDepth,
    /// Raw trade.
    Trade,
    /// Aggregate trade.
    AggTrade,
    /// Candle.
    Kline,
    /// REST depth snapshot, emitted as snapshot chunks.
    Snapshot,
    /// A message that carries no market data (e.g. `{"result":null,"id":1}`).
    Ignored,
}

/// Result of one parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// What the message was.
    pub kind: MsgKind,
    /// The instrument it is about (`None` for ignored messages).
    pub instrument: Option<InstrumentId>,
    /// Venue event time `E` in ns since the epoch (for `Header::venue_ts`); 0 if the
    /// message has none (spot bookTicker, spot REST snapshot).
    pub venue_ts: u64,
    /// Number of events pushed.
    pub events: usize,
}

/// Binance market-data parser with reusable buffers and a symbol table.
pub struct Parser {
    bufs: Buffers,
    tape: Vec<Node<'static>>,
    symbols: Vec<(String, InstrumentId)>,
    max_levels: usize,
}

impl std::fmt::Debug for Parser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser")
            .field("symbols", &self.symbols)
            .field("max_levels", &self.max_levels)
            .finish()
    }
}

/// How the root object is to be read.
#[derive(Clone, Copy)]
enum Mode<'s> {
    /// A stream payload or combined frame, with the stream name if the caller knows it.
    Stream(Option<&'s str>),
    /// A REST / WS-API depth snapshot for this instrument.
    Snapshot(InstrumentId),
}

impl Parser {
    /// A parser for these venue symbols (compared case-insensitively) and instruments.
    pub fn new(symbols: &[(String, InstrumentId)]) -> Parser {
        Parser {
            bufs: Buffers::new(4096),
            tape: Vec::with_capacity(512),
            symbols: symbols.to_vec(),
            max_levels: MAX_LEVELS,
        }
    }

    /// Sets the largest number of levels (both sides) accepted in one depth message.
    pub fn with_max_levels(mut self, max_levels: usize) -> Parser {
        self.max_levels = max_levels;
        self
    }

    /// The instrument configured for a venue symbol (case-insensitive).
    pub fn lookup(&self, symbol: &str) -> Option<InstrumentId> {
        lookup(&self.symbols, symbol)
    }

    /// Parses a raw stream payload or a combined-stream frame `{"stream":…,"data":…}`,
    /// parsing in place (the bytes are modified), and appends its events to `out`.
    /// On error nothing is appended.
    pub fn parse(&mut self, bytes: &mut [u8], out: &mut Vec<Event>) -> Result<Parsed, ParseError> {
        self.run(bytes, out, Mode::Stream(None))
    }

    /// [`parse`](Self::parse) without its book-ticker fast path: every message through
    /// the simd-json tape (for comparison; the answers are the same).
    pub fn parse_with_tape(
        &mut self,
        bytes: &mut [u8],
        out: &mut Vec<Event>,
    ) -> Result<Parsed, ParseError> {
        self.run_tape(bytes, out, Mode::Stream(None))
    }

    /// Like [`parse`](Self::parse) for a raw single-stream connection
    /// (`/ws/<stream>`) whose stream name the caller knows, e.g. `bnbbtc@depth5`: the
    /// name supplies the symbol of spot partial depth and tells USD-M partial depth
    /// (a `depthUpdate`-shaped top-N book) from a diff.
    pub fn parse_stream(
        &mut self,
        stream: &str,
        bytes: &mut [u8],
        out: &mut Vec<Event>,
    ) -> Result<Parsed, ParseError> {
        self.run(bytes, out, Mode::Stream(Some(stream)))
    }

    /// Parses a REST depth snapshot (`/api/v3/depth`, `/fapi/v1/depth`: `lastUpdateId`,
    /// `bids`, `asks`, USD-M also `E`/`T`), or a WS-API `depth` response (the same
    /// body under `result`), into snapshot chunks for `instrument`.
    pub fn parse_snapshot(
        &mut self,
        bytes: &mut [u8],
        instrument: InstrumentId,
        out: &mut Vec<Event>,
    ) -> Result<Parsed, ParseError> {
        self.run(bytes, out, Mode::Snapshot(instrument))
    }

    fn run(
        &mut self,
        bytes: &mut [u8],
        out: &mut Vec<Event>,
        mode: Mode<'_>,
    ) -> Result<Parsed, ParseError> {
        // A book ticker in Binance's compact form skips the tape (see `fast`).
        if let Mode::Stream(_) = mode {
            if let Some(p) = self.fast_book_ticker(bytes, out) {
                return Ok(p);
            }
        }
        self.run_tape(bytes, out, mode)
    }

    /// The book ticker in `bytes` through the fast path, appended to `out`, if the
    /// message is one in the form it reads; `None` (nothing appended) otherwise.
    fn fast_book_ticker(&self, bytes: &[u8], out: &mut Vec<Event>) -> Option<Parsed> {
        let (t, venue_ts) = super::fast::book_ticker(bytes, &self.symbols)?;
        out.push(Event::BookTicker(t));
        Some(Parsed {
            kind: MsgKind::BookTicker,
            instrument: Some(t.instrument),
            venue_ts,
            events: 1,
        })
    }

    /// Parses through the simd-json tape, whatever the message.
    fn run_tape(
        &mut self,
        bytes: &mut [u8],
        out: &mut Vec<Event>,
        mode: Mode<'_>,
    ) -> Result<Parsed, ParseError> {
        let start = out.len();
        // Reuse the tape's allocation for this input's lifetime (it is empty).
        let mut tape: Tape<'_> = Tape(std::mem::take(&mut self.tape)).reset();
        let res = match simd_json::fill_tape(bytes, &mut self.bufs, &mut tape) {
            Ok(()) => match Val::root(&tape.0) {
                Some(root) => Ctx {
                    symbols: &self.symbols,
                    max_levels: self.max_levels,
                }
                .dispatch(root, mode, out),
                None => Err(ParseError::Json("empty document".into())),
            },
            Err(e) => Err(ParseError::Json(e.to_string())),
        };
        self.tape = tape.reset().0;
        match res {
            Ok(mut p) => {
                p.events = out.len() - start;
                Ok(p)
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}

pub(super) fn lookup(symbols: &[(String, InstrumentId)], symbol: &str) -> Option<InstrumentId> {
    symbols
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(symbol))
        .map(|&(_, id)| id)
}

/// Every payload field this parser reads.
#[derive(Default)]
struct Fields<'t, 'a> {
    e: Option<Val<'t, 'a>>,
    event_time: Option<Val<'t, 'a>>,
    s: Option<Val<'t, 'a>>,
    first: Option<Val<'t, 'a>>,
    last: Option<Val<'t, 'a>>,
    prev: Option<Val<'t, 'a>>,
    b: Option<Val<'t, 'a>>,
    bq: Option<Val<'t, 'a>>,
    a: Option<Val<'t, 'a>>,
    aq: Option<Val<'t, 'a>>,
    p: Option<Val<'t, 'a>>,
    q: Option<Val<'t, 'a>>,
    t: Option<Val<'t, 'a>>,
    m: Option<Val<'t, 'a>>,
    k: Option<Val<'t, 'a>>,
    last_update_id: Option<Val<'t, 'a>>,
    bids: Option<Val<'t, 'a>>,
    asks: Option<Val<'t, 'a>>,
    // Wrapper / control fields.
    stream: Option<Val<'t, 'a>>,
    data: Option<Val<'t, 'a>>,
    id: Option<Val<'t, 'a>>,
    result: Option<Val<'t, 'a>>,
    error: Option<Val<'t, 'a>>,
}

impl<'t, 'a> Fields<'t, 'a> {
    fn collect(obj: Val<'t, 'a>) -> Result<Self, ParseError> {
        let members = obj.members().ok_or_else(|| {
            ParseError::Json(format!("expected an object, found {}", obj.describe()))
        })?;
        let mut f = Fields::default();
        for (key, v) in members {
            let slot = match key {
                "e" => &mut f.e,
                "E" => &mut f.event_time,
                "s" => &mut f.s,
                "U" => &mut f.first,
                "u" => &mut f.last,
                "pu" => &mut f.prev,
                "b" => &mut f.b,
                "B" => &mut f.bq,
                "a" => &mut f.a,
                "A" => &mut f.aq,
                "p" => &mut f.p,
                "q" => &mut f.q,
                "t" => &mut f.t,
                "m" => &mut f.m,
                "k" => &mut f.k,
                "lastUpdateId" => &mut f.last_update_id,
                "bids" => &mut f.bids,
                "asks" => &mut f.asks,
                "stream" => &mut f.stream,
                "data" => &mut f.data,
                "id" => &mut f.id,
                "result" => &mut f.result,
                "error" => &mut f.error,
                _ => continue,
            };
            *slot = Some(v);
        }
        Ok(f)
    }
}

fn req<'t, 'a>(field: &'static str, v: Option<Val<'t, 'a>>) -> Result<Val<'t, 'a>, ParseError> {
    v.ok_or(ParseError::MissingField(field))
}

fn string<'a>(field: &'static str, v: Val<'_, 'a>) -> Result<&'a str, ParseError> {
    v.as_str().ok_or_else(|| ParseError::WrongType {
        field,
        expected: "a string",
        found: v.describe(),
    })
}

/// Powers of ten, `POW10[k] = 10^k`.
pub(super) const POW10: [u64; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// [`parse_raw`] with an inlined fast path for the plain `digits[.digits]` strings
/// Binance sends (at most 19 bytes, at most 9 decimals); everything else (signs,
/// extra zero decimals, overflow, errors) goes to `parse_raw`. Same result for every
/// input (property-tested below).
#[inline]
fn exact_decimal(s: &[u8]) -> Result<i64, ParseDecimalError> {
    if s.is_empty() || s.len() > 19 {
        return parse_raw(s);
    }
    let mut v: u64 = 0;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        v = v * 10 + (c - b'0') as u64;
        i += 1;
    }
    let int_digits = i;
    let mut frac_digits = 0;
    if let Some(&c) = s.get(i) {
        if c != b'.' {
            return parse_raw(s);
        }
        i += 1;
        while let Some(&c) = s.get(i) {
            if !c.is_ascii_digit() {
                return parse_raw(s);
            }
            v = v * 10 + (c - b'0') as u64;
            frac_digits += 1;
            i += 1;
        }
    }
    if (int_digits == 0 && frac_digits == 0) || frac_digits > 9 {
        return parse_raw(s);
    }
    match v
        .checked_mul(POW10[9 - frac_digits])
        .and_then(|r| i64::try_from(r).ok())
    {
        Some(r) => Ok(r),
        None => parse_raw(s),
    }
}

#[inline]
fn dec(field: &'static str, v: Option<Val<'_, '_>>) -> Result<Dec, ParseError> {
    let v = req(field, v)?;
    let s = v.as_str().ok_or_else(|| ParseError::BadNumber {
        field,
        value: v.describe(),
    })?;
    exact_decimal(s.as_bytes())
        .map(Dec)
        .map_err(|_| ParseError::BadNumber {
            field,
            value: s.to_owned(),
        })
}

#[inline]
fn uint(field: &'static str, v: Option<Val<'_, '_>>) -> Result<u64, ParseError> {
    let v = req(field, v)?;
    v.as_u64().ok_or_else(|| ParseError::BadNumber {
        field,
        value: v.describe(),
    })
}

fn boolean(field: &'static str, v: Option<Val<'_, '_>>) -> Result<bool, ParseError> {
    let v = req(field, v)?;
    v.as_bool().ok_or_else(|| ParseError::WrongType {
        field,
        expected: "a boolean",
        found: v.describe(),
    })
}

/// Milliseconds since the epoch → ns.
fn ms_to_ns(field: &'static str, v: Option<Val<'_, '_>>) -> Result<u64, ParseError> {
    let ms = uint(field, v)?;
    ms.checked_mul(1_000_000)
        .ok_or_else(|| ParseError::BadNumber {
            field,
            value: ms.to_string(),
        })
}

/// A kline interval (`1s`, `1m`, `3m`, … `1h`, … `1d`, `3d`, `1w`, `1M`) in seconds.
/// `1M` (a calendar month) counts as 30 days; the candle's open time is exact.
pub fn interval_seconds(interval: &str) -> Option<u32> {
    let unit = interval.chars().last()?;
    let n: u32 = interval
        .get(..interval.len() - unit.len_utf8())?
        .parse()
        .ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        'M' => 30 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&s| s > 0)
}

/// True for partial-depth stream kinds: `depth5`, `depth10@100ms`, `depth20@500ms`, …
fn is_partial_depth(kind: &str) -> bool {
    kind.strip_prefix("depth")
        .map(|rest| matches!(rest.split('@').next(), Some("5" | "10" | "20")))
        .unwrap_or(false)
}

struct Ctx<'p> {
    symbols: &'p [(String, InstrumentId)],
    max_levels: usize,
}

impl Ctx<'_> {
    fn dispatch(
        &self,
        root: Val<'_, '_>,
        mode: Mode<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Parsed, ParseError> {
        let top = Fields::collect(root)?;
        let hint = match mode {
            Mode::Snapshot(instrument) => {
                let f = match top.result {
                    Some(r) if r.members().is_some() && top.last_update_id.is_none() => {
                        Fields::collect(r)?
                    }
                    _ => top,
                };
                if f.error.is_some() {
                    return Err(venue_error(f.error));
                }
                let last = uint("lastUpdateId", f.last_update_id)?;
                let venue_ts = opt_ms(f.event_time)?;
                self.depth(
                    out,
                    instrument,
                    true,
                    (last, last, 0),
                    ("bids", f.bids),
                    ("asks", f.asks),
                )?;
                return Ok(parsed(MsgKind::Snapshot, Some(instrument), venue_ts));
            }
            Mode::Stream(hint) => hint,
        };

        // Combined-stream wrapper?
        let (f, stream) = match top.data {
            Some(data) => {
                let stream = match top.stream {
                    Some(s) => Some(string("stream", s)?),
                    None => hint,
                };
                (Fields::collect(data)?, stream)
            }
            None => {
                if top.e.is_none() && top.last_update_id.is_none() {
                    if top.error.is_some() {
                        return Err(venue_error(top.error));
                    }
                    if top.id.is_some() || top.result.is_some() {
                        return Ok(parsed(MsgKind::Ignored, None, 0));
                    }
                }
                (top, hint)
            }
        };
        let stream_kind = stream.and_then(|s| s.split_once('@')).map(|(_, k)| k);
        let venue_ts = opt_ms(f.event_time)?;
        let e = match f.e {
            Some(v) => Some(string("e", v)?),
            None => None,
        };
        match e {
            Some("bookTicker") => self.book_ticker(&f, stream, venue_ts, out),
            Some("depthUpdate") => {
                let first = uint("U", f.first)?;
                let last = uint("u", f.last)?;
                let prev = match f.prev {
                    Some(v) => uint("pu", Some(v))?,
                    None => 0,
                };
                let instrument = self.instrument(&f, stream)?;
                let partial = stream_kind.is_some_and(is_partial_depth);
                self.depth(
                    out,
                    instrument,
                    partial,
                    (first, last, prev),
                    ("b", f.b),
                    ("a", f.a),
                )?;
                let kind = if partial {
                    MsgKind::PartialDepth
                } else {
                    MsgKind::DepthDiff { first, last, prev }
                };
                Ok(parsed(kind, Some(instrument), venue_ts))
            }
            Some("trade") => self.trade(&f, stream, venue_ts, "t", f.t, MsgKind::Trade, out),
            Some("aggTrade") => self.trade(&f, stream, venue_ts, "a", f.a, MsgKind::AggTrade, out),
            Some("kline") => self.kline(&f, stream, venue_ts, out),
            Some(other) => Err(ParseError::UnknownEvent(other.to_owned())),
            None if f.last_update_id.is_some() => {
                // Spot partial depth (stream `<sym>@depthN`) or a bare REST snapshot.
                let last = uint("lastUpdateId", f.last_update_id)?;
                let instrument = self.instrument(&f, stream)?;
                self.depth(
                    out,
                    instrument,
                    true,
                    (last, last, 0),
                    ("bids", f.bids),
                    ("asks", f.asks),
                )?;
                let kind = if stream_kind.is_some_and(is_partial_depth) {
                    MsgKind::PartialDepth
                } else {
                    MsgKind::Snapshot
                };
                Ok(parsed(kind, Some(instrument), venue_ts))
            }
            None if stream_kind == Some("bookTicker")
                || (f.last.is_some() && f.bq.is_some() && f.aq.is_some()) =>
            {
                self.book_ticker(&f, stream, venue_ts, out)
            }
            None => Err(ParseError::MissingField("e")),
        }
    }

    fn instrument(
        &self,
        f: &Fields<'_, '_>,
        stream: Option<&str>,
    ) -> Result<InstrumentId, ParseError> {
        let sym = match (f.s, stream) {
            (Some(s), _) => string("s", s)?,
            (None, Some(stream)) => stream.split('@').next().unwrap_or(stream),
            (None, None) => match self.symbols {
                [(_, id)] => return Ok(*id),
                _ => return Err(ParseError::MissingField("s")),
            },
        };
        lookup(self.symbols, sym).ok_or_else(|| ParseError::UnknownSymbol(sym.to_owned()))
    }

    fn book_ticker(
        &self,
        f: &Fields<'_, '_>,
        stream: Option<&str>,
        venue_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Parsed, ParseError> {
        let t = BookTicker {
            instrument: self.instrument(f, stream)?,
            bid_px: dec("b", f.b)?,
            bid_qty: dec("B", f.bq)?,
            ask_px: dec("a", f.a)?,
            ask_qty: dec("A", f.aq)?,
            update_id: uint("u", f.last)?,
        };
        out.push(Event::BookTicker(t));
        Ok(parsed(MsgKind::BookTicker, Some(t.instrument), venue_ts))
    }

    #[allow(clippy::too_many_arguments)]
    fn trade(
        &self,
        f: &Fields<'_, '_>,
        stream: Option<&str>,
        venue_ts: u64,
        id_field: &'static str,
        id: Option<Val<'_, '_>>,
        kind: MsgKind,
        out: &mut Vec<Event>,
    ) -> Result<Parsed, ParseError> {
        let t = Trade {
            instrument: self.instrument(f, stream)?,
            px: dec("p", f.p)?,
            qty: dec("q", f.q)?,
            aggressor: if boolean("m", f.m)? {
                Side::Sell
            } else {
                Side::Buy
            },
            trade_id: uint(id_field, id)?,
        };
        out.push(Event::Trade(t));
        Ok(parsed(kind, Some(t.instrument), venue_ts))
    }

    fn kline(
        &self,
        f: &Fields<'_, '_>,
        stream: Option<&str>,
        venue_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Parsed, ParseError> {
        let instrument = self.instrument(f, stream)?;
        let k = req("k", f.k)?;
        let members = k.members().ok_or_else(|| ParseError::WrongType {
            field: "k",
            expected: "an object",
            found: k.describe(),
        })?;
        let mut kf: [Option<Val<'_, '_>>; 12] = [None; 12];
        const KEYS: [&str; 12] = ["t", "i", "o", "h", "l", "c", "v", "q", "n", "V", "Q", "x"];
        for (key, v) in members {
            if let Some(i) = KEYS.iter().position(|k| *k == key) {
                kf[i] = Some(v);
            }
        }
        let [t, i, o, h, l, c, v, q, n, vb, qb, x] = kf;
        let interval = string("k.i", req("k.i", i)?)?;
        let interval_s = interval_seconds(interval).ok_or_else(|| ParseError::BadNumber {
            field: "k.i",
            value: interval.to_owned(),
        })?;
        let kl = Kline {
            instrument,
            interval_s,
            open_ts: ms_to_ns("k.t", t)?,
            open: dec("k.o", o)?,
            high: dec("k.h", h)?,
            low: dec("k.l", l)?,
            close: dec("k.c", c)?,
            volume: dec("k.v", v)?,
            quote_volume: dec("k.q", q)?,
            trades: uint("k.n", n)?,
            taker_buy_base: dec("k.V", vb)?,
            taker_buy_quote: dec("k.Q", qb)?,
            closed: boolean("k.x", x)?,
        };
        out.push(Event::Kline(kl));
        Ok(parsed(MsgKind::Kline, Some(instrument), venue_ts))
    }

    /// Emits bids then asks as depth chunks.
    fn depth(
        &self,
        out: &mut Vec<Event>,
        instrument: InstrumentId,
        snapshot: bool,
        (first, last, prev): (u64, u64, u64),
        bids: (&'static str, Option<Val<'_, '_>>),
        asks: (&'static str, Option<Val<'_, '_>>),
    ) -> Result<(), ParseError> {
        let bids = levels_of(bids)?;
        let asks = levels_of(asks)?;
        let total = bids.2.saturating_add(asks.2);
        if total > self.max_levels {
            return Err(ParseError::TooManyLevels {
                levels: total,
                max: self.max_levels,
            });
        }
        let mut d = Depth {
            instrument,
            snapshot,
            first_chunk: true,
            last_chunk: false,
            first_update_id: first,
            last_update_id: last,
            prev_update_id: prev,
            len: 0,
            levels: [Level::default(); DEPTH_CHUNK],
        };
        for (side, (field, arr, _)) in [(Side::Buy, bids), (Side::Sell, asks)] {
            for el in arr.elements().into_iter().flatten() {
                let level = parse_level(field, side, el)?;
                if d.len as usize >= DEPTH_CHUNK {
                    out.push(Event::Depth(d));
                    d.first_chunk = false;
                    d.len = 0;
                    d.levels = [Level::default(); DEPTH_CHUNK];
                }
                if let Some(slot) = d.levels.get_mut(d.len as usize) {
                    *slot = level;
                    d.len += 1;
                }
            }
        }
        d.last_chunk = true;
        out.push(Event::Depth(d));
        Ok(())
    }
}

/// A side's level array and its length.
fn levels_of<'t, 'a>(
    (field, v): (&'static str, Option<Val<'t, 'a>>),
) -> Result<(&'static str, Val<'t, 'a>, usize), ParseError> {
    let v = req(field, v)?;
    let n = v.array_len().ok_or_else(|| ParseError::WrongType {
        field,
        expected: "an array of [price, qty] pairs",
        found: v.describe(),
    })?;
    Ok((field, v, n))
}

#[inline]
fn parse_level(field: &'static str, side: Side, el: Val<'_, '_>) -> Result<Level, ParseError> {
    let wrong = || ParseError::WrongType {
        field,
        expected: "a [price, qty] pair",
        found: el.describe(),
    };
    let mut it = el.elements().ok_or_else(wrong)?;
    let px = it.next().ok_or_else(wrong)?;
    let qty = it.next().ok_or_else(wrong)?;
    Ok(Level {
        side,
        px: dec(field, Some(px))?,
        qty: dec(field, Some(qty))?,
    })
}

fn opt_ms(v: Option<Val<'_, '_>>) -> Result<u64, ParseError> {
    match v {
        Some(v) => ms_to_ns("E", Some(v)),
        None => Ok(0),
    }
}

fn venue_error(v: Option<Val<'_, '_>>) -> ParseError {
    let Some(v) = v else {
        return ParseError::Venue("error".into());
    };
    let code = v.get("code").and_then(|c| c.as_i64());
    match (code, v.get("msg").and_then(|m| m.as_str())) {
        (Some(code), Some(msg)) => ParseError::Venue(format!("code {code}: {msg}")),
        (None, Some(msg)) => ParseError::Venue(msg.to_owned()),
        _ => ParseError::Venue(v.describe()),
    }
}

fn parsed(kind: MsgKind, instrument: Option<InstrumentId>, venue_ts: u64) -> Parsed {
    Parsed {
        kind,
        instrument,
        venue_ts,
        events: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SPOT: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#;
    const USDM: &str = r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}"#;
    const DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161254088,"s":"BTCUSDT","U":50093239210,"u":50093239213,"b":[["61837.63000000","3.78826000"]],"a":[]}}"#;

    fn symbols() -> Vec<(String, InstrumentId)> {
        vec![("BTCUSDT".to_string(), 0), ("ETHUSDT".to_string(), 1)]
    }

    /// The fast path's answer for `msg`, as `Parser::parse` returns it.
    fn fast(msg: &[u8]) -> Option<(Parsed, Vec<Event>)> {
        let mut out = Vec::new();
        let parsed = Parser::new(&symbols()).fast_book_ticker(msg, &mut out)?;
        Some((parsed, out))
    }

    /// The tape parser's answer for `msg`.
    fn tape(msg: &[u8]) -> Result<(Parsed, Vec<Event>), ParseError> {
        let mut bytes = msg.to_vec();
        let mut out = Vec::new();
        let p = Parser::new(&symbols()).parse_with_tape(&mut bytes, &mut out)?;
        Ok((p, out))
    }

    /// Every line of a capture (`<recv ns> <message>`).
    fn capture(path: &str) -> Vec<Vec<u8>> {
        use std::io::BufRead;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let f = std::fs::File::open(&path).expect("shared data beside the repository");
        std::io::BufReader::new(flate2::read::MultiGzDecoder::new(f))
            .split(b'\n')
            .filter_map(|l| {
                let l = l.expect("capture line");
                let sp = l.iter().position(|&c| c == b' ')?;
                Some(l[sp + 1..].to_vec())
            })
            .collect()
    }

    #[test]
    fn every_captured_book_ticker_takes_the_fast_path_and_reads_as_the_tape() {
        // Counts from ../shared/data/README.md: book tickers, and depth + trades + snapshot.
        for (path, counts) in [
            (
                "../../shared/data/hftbacktest/spot/btcusdt_20240808.gz",
                (28_040, 3_451 + 9_757 + 1),
            ),
            (
                "../../shared/data/hftbacktest/usdm/btcusdt_20240808.gz",
                (66_089, 6_551 + 21_313 + 1),
            ),
        ] {
            let (mut tickers, mut others) = (0, 0);
            for msg in capture(path) {
                let is_ticker = msg.windows(11).any(|w| w == b"@bookTicker");
                match fast(&msg) {
                    Some(answer) => {
                        assert!(is_ticker, "{}", String::from_utf8_lossy(&msg));
                        assert_eq!(Ok(answer), tape(&msg));
                        tickers += 1;
                    }
                    None => {
                        assert!(!is_ticker, "{}", String::from_utf8_lossy(&msg));
                        others += 1;
                    }
                }
            }
            assert_eq!((tickers, others), counts, "{path}");
        }
        // And through `parse`: the same answer the tape gives.
        let mut p = Parser::new(&symbols());
        for msg in [SPOT, USDM] {
            let (mut bytes, mut out) = (msg.as_bytes().to_vec(), Vec::new());
            let parsed = p.parse(&mut bytes, &mut out).unwrap();
            assert_eq!(tape(msg.as_bytes()), Ok((parsed, out)));
        }
    }

    #[test]
    fn messages_outside_the_compact_form_are_left_to_the_tape() {
        let usdm_bare = &USDM[USDM.find(":{").unwrap() + 1..USDM.len() - 1];
        let spot_bare = &SPOT[SPOT.find(":{").unwrap() + 1..SPOT.len() - 1];
        assert!(fast(usdm_bare.as_bytes()).is_some() && fast(spot_bare.as_bytes()).is_some());
        // (message, what the tape makes of it: a ticker or an error)
        let cases = [
            (SPOT.replace(r#""u":"#, r#""u": "#), true),
            (format!("{SPOT}\n"), true),
            (SPOT.replace("BTCUSDT", r"BTC\u0055SDT"), true),
            (
                SPOT.replace(r#""u":50093239212,"#, r#""u":50093239212,"x":[1],"#),
                true,
            ),
            (SPOT.replace(r#""s":"BTCUSDT""#, r#""s":"XRPUSDT""#), false),
            (
                SPOT.replace(r#""u":50093239212,"#, r#""u":050093239212,"#),
                false,
            ),
            (SPOT.replace(r#""u":50093239212,"#, r#""u":5.0,"#), false),
            (SPOT.replace(r#""u":50093239212,"#, r#""u":-1,"#), false),
            (
                SPOT.replace(r#""u":50093239212,"#, r#""u":18446744073709551616,"#),
                false,
            ),
            (SPOT.replace(r#""u":50093239212,"#, r#""u":1,"u":2,"#), true),
            (SPOT.replace(r#","A":"1.54698000""#, ""), false),
            (SPOT.replace(r#""B":"3.78826000""#, r#""B":"3.7e2""#), false),
            (SPOT.replace(r#""B":"3.78826000""#, r#""B":3.78826"#), false),
            (SPOT.replace(r#""B":"3.78826000""#, r#""B":"""#), false),
            (SPOT.replace(r#""B":"3.78826000""#, r#""B":"3.""#), true),
            (SPOT.replace(r#""B":"3.78826000""#, r#""B":".5""#), true),
            (
                SPOT.replace(r#""B":"3.78826000""#, r#""B":"0.0000000001""#),
                false,
            ),
            (
                SPOT.replace(r#""B":"3.78826000""#, r#""B":"1234567890123456789""#),
                false,
            ),
            (USDM.replace(r#""e":"bookTicker""#, r#""e":"trade""#), false),
            (
                USDM.replace(r#""E":1723161256313"#, r#""E":18446744073709551"#),
                false,
            ),
            (USDM.replace(r#""T":1723161256313"#, r#""T":null"#), true),
            (SPOT.replace(r#"{"stream""#, r#"{"data":{},"stream""#), true),
            (SPOT.replace(r#"}}"#, r#"},"x":1}"#), true),
            (DEPTH.to_string(), false),
        ];
        for (msg, ticker) in cases {
            assert_eq!(fast(msg.as_bytes()), None, "{msg}");
            let want = tape(msg.as_bytes());
            assert_eq!(
                matches!(&want, Ok((p, _)) if p.kind == MsgKind::BookTicker),
                ticker,
                "{msg}: {want:?}"
            );
            // `parse` answers as the tape does.
            let (mut bytes, mut out) = (msg.as_bytes().to_vec(), Vec::new());
            let got = Parser::new(&symbols())
                .parse(&mut bytes, &mut out)
                .map(|p| (p, out));
            assert_eq!(got, want, "{msg}");
        }
        // A case-insensitive symbol match, as the tape's: accepted by both.
        let lower = SPOT.replace(r#""s":"BTCUSDT""#, r#""s":"BtcUsdt""#);
        assert_eq!(fast(lower.as_bytes()).map(Ok), Some(tape(lower.as_bytes())));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Whatever the bytes, the fast path never panics, and whenever it answers the
        /// tape parser gives the same answer.
        #[test]
        fn the_fast_path_answers_only_as_the_tape_does(
            which in 0usize..5,
            edits in proptest::collection::vec(
                (0usize..4, any::<prop::sample::Index>(), prop::sample::select(
                    br#"{}[]":,.\ 0123456789-+eEuUsSbBaATn"#.to_vec())),
                0..4),
        ) {
            let spot_bare = &SPOT[SPOT.find(":{").unwrap() + 1..SPOT.len() - 1];
            let mut msg = [SPOT, USDM, DEPTH, spot_bare, USDM][which].as_bytes().to_vec();
            for (kind, at, byte) in edits {
                let i = at.index(msg.len() + 1);
                match kind {
                    0 if i < msg.len() => msg[i] = byte,
                    1 => msg.insert(i, byte),
                    2 if i < msg.len() => { msg.remove(i); }
                    // Digits stay digits: mostly still a ticker, with other values.
                    _ if i < msg.len() && msg[i].is_ascii_digit() && byte.is_ascii_digit() => {
                        msg[i] = byte
                    }
                    _ => {}
                }
            }
            if let Some(answer) = fast(&msg) {
                prop_assert_eq!(Ok(answer), tape(&msg));
            }
        }

        /// Book tickers built from any order and subset of their fields (and now and
        /// then a field the fast path does not know, or a wrapper for another stream):
        /// the fast path reads every complete compact one, as the tape does, and
        /// leaves the rest to it.
        #[test]
        fn the_fast_path_takes_fields_in_any_order(
            order in Just((0..10).collect::<Vec<usize>>()).prop_shuffle(),
            present in proptest::collection::vec(any::<bool>(), 10),
            wrapper in 0usize..3,
        ) {
            const FIELDS: [&str; 10] = [
                r#""e":"bookTicker""#, r#""u":400900217"#, r#""s":"ETHUSDT""#,
                r#""b":"25.35190000""#, r#""B":"31.21000000""#, r#""a":"25.36520000""#,
                r#""A":"40.66000000""#, r#""E":1723161256313"#, r#""T":1723161256312"#,
                r#""x":"unknown""#,
            ];
            let members: Vec<&str> = order
                .iter()
                .filter(|&&i| present[i])
                .map(|&i| FIELDS[i])
                .collect();
            let payload = format!("{{{}}}", members.join(","));
            let msg = match wrapper {
                0 => payload.clone(),
                1 => format!(r#"{{"stream":"ethusdt@bookTicker","data":{payload}}}"#),
                _ => format!(r#"{{"stream":"ethusdt@trade","data":{payload}}}"#),
            };
            let complete = (1..=6).all(|i| present[i]) && !present[9] && wrapper != 2;
            let answer = fast(msg.as_bytes());
            prop_assert_eq!(answer.is_some(), complete, "{}", msg);
            if let Some(answer) = answer {
                prop_assert_eq!(Ok(answer), tape(msg.as_bytes()));
            }
        }

        /// Prices, sizes and ids of every length: the fast path reads them as the
        /// tape does, or leaves them to it.
        #[test]
        fn the_fast_path_reads_numbers_as_the_tape_does(
            px in "[0-9]{0,20}(\\.[0-9]{0,12})?",
            id in "[0-9]{0,22}",
        ) {
            let msg = USDM
                .replace(r#""b":"61800.20""#, &format!(r#""b":"{px}""#))
                .replace(r#""u":5123107839020"#, &format!(r#""u":{id}"#));
            if let Some(answer) = fast(msg.as_bytes()) {
                prop_assert_eq!(Ok(answer), tape(msg.as_bytes()));
            } else {
                // Plain prices of up to 18 digits, 9 decimals, and ids of up to 19
                // digits with no leading zero, are the fast path's.
                let (int, frac) = px.split_once('.').unwrap_or((&px, "1"));
                let plain_px = !int.is_empty() && !frac.is_empty() && frac.len() <= 9
                    && int.len() + frac.len() <= 18 && int.len() <= 9;
                let plain_id = !id.is_empty() && id.len() <= 19
                    && (id.len() == 1 || !id.starts_with('0'));
                prop_assert!(!(plain_px && plain_id), "{}", msg);
            }
        }
    }

    #[test]
    fn fast_decimal_edge_cases() {
        for s in [
            "",
            ".",
            "5.",
            ".5",
            "0",
            "-1",
            "+1",
            "1.0000000001",
            "1.1234567890",
            "9223372036.854775807",
            "9223372036.854775808",
            "9999999999.999999999",
            "99999999999",
            "1e5",
            "1.2.3",
            "00000000000000000001",
            "61837.63000000",
        ] {
            assert_eq!(
                exact_decimal(s.as_bytes()),
                parse_raw(s.as_bytes()),
                "{s:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn fast_decimal_matches_parse_raw(s in "[-+]?[0-9]{0,12}(\\.[0-9]{0,12})?[0-9.a]?") {
            prop_assert_eq!(exact_decimal(s.as_bytes()), parse_raw(s.as_bytes()));
        }

        #[test]
        fn fast_decimal_matches_parse_raw_on_bytes(b in proptest::collection::vec(
            prop::sample::select(b"0123456789.-+ e".to_vec()), 0..24)) {
            prop_assert_eq!(exact_decimal(&b), parse_raw(&b));
        }
    }
}
