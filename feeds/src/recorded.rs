//! Reader for hftbacktest Binance captures.
//!
//! Each line of the (gzip or plain) text file is `<local_recv_ts_ns> <raw JSON>`.
//! The JSON is either a combined-stream frame `{"stream":"btcusdt@bookTicker","data":{...}}`
//! (a bare payload without the wrapper is accepted too) or a REST depth snapshot
//! `{"lastUpdateId":...,"bids":[...],"asks":[...]}`.
//!
//! | message | event |
//! |---|---|
//! | `bookTicker` | [`Event::BookTicker`], `update_id` = `u` |
//! | `trade`, `aggTrade` | [`Event::Trade`], `trade_id` = `t` (`a` for aggTrade); `m` = buyer is maker, so the aggressor sells |
//! | `depthUpdate` | [`Event::Depth`] diff chunks, `first_update_id` = `U`, `last_update_id` = `u`, bids then asks |
//! | snapshot | [`Event::Depth`] snapshot chunks, both update ids = `lastUpdateId` |
//! | other (`kline`, ...) | skipped |
//!
//! A snapshot line names no symbol. With one configured symbol it belongs to that
//! symbol; otherwise the reader looks ahead to the next `depthUpdate` line and uses its
//! symbol (lines read ahead are still delivered in file order, after the snapshot).
//! It looks at most [`MAX_LOOK_AHEAD`] lines ahead; a snapshot with no `depthUpdate`
//! within them is [`FeedError::Malformed`] (the lines read ahead are still delivered).
//!
//! JSON is parsed with simd-json's serde support through a hand-written visitor that
//! borrows strings from the line buffer and writes price levels straight into reused
//! vectors; decimals are read exactly with [`parse_raw`]. After warm-up the only
//! allocations per line are simd-json's internal tape vector (created per parse, and
//! grown when a line has more tokens than the previous one); errors allocate their message.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use kestrel_engine::num::{parse_raw, ParseDecimalError};
use kestrel_engine::{
    BookTicker, Dec, Depth, Event, InstrumentId, Level, Side, Trade, DEPTH_CHUNK,
};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Most lines held in memory while looking ahead for a snapshot's symbol.
pub const MAX_LOOK_AHEAD: usize = 100_000;

/// Why a recorded feed could not be read. Every variant names the file and the
/// 1-based line number (0 when the file could not be opened).
#[derive(Debug)]
pub enum FeedError {
    /// The file could not be opened or read (including a truncated gzip stream).
    Io {
        /// File.
        file: PathBuf,
        /// Line being read.
        line: u64,
        /// Cause.
        source: io::Error,
    },
    /// The line is not a message this reader understands.
    Malformed {
        /// File.
        file: PathBuf,
        /// Line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The message is for a symbol with no configured instrument.
    UnknownSymbol {
        /// File.
        file: PathBuf,
        /// Line.
        line: u64,
        /// The venue symbol as written in the message.
        symbol: String,
    },
    /// A price or quantity is not an exact decimal.
    BadNumber {
        /// File.
        file: PathBuf,
        /// Line.
        line: u64,
        /// JSON field.
        field: &'static str,
        /// The text found.
        value: String,
        /// Why it was refused.
        reason: ParseDecimalError,
    },
}

impl FeedError {
    /// The 1-based line number the error is about (0: opening the file).
    pub fn line(&self) -> u64 {
        match self {
            FeedError::Io { line, .. }
            | FeedError::Malformed { line, .. }
            | FeedError::UnknownSymbol { line, .. }
            | FeedError::BadNumber { line, .. } => *line,
        }
    }
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::Io { file, line, source } => {
                write!(f, "{}:{line}: read error: {source}", file.display())
            }
            FeedError::Malformed { file, line, reason } => {
                write!(f, "{}:{line}: malformed message: {reason}", file.display())
            }
            FeedError::UnknownSymbol { file, line, symbol } => write!(
                f,
                "{}:{line}: unknown symbol {symbol}: no instrument is configured for it",
                file.display()
            ),
            FeedError::BadNumber {
                file,
                line,
                field,
                value,
                reason,
            } => write!(
                f,
                "{}:{line}: bad number in field {field:?}: {value:?}: {reason}",
                file.display()
            ),
        }
    }
}

impl std::error::Error for FeedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FeedError::Io { source, .. } => Some(source),
            FeedError::BadNumber { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// A line-level error, before the file and line are attached.
#[derive(Debug)]
enum LineErr {
    Malformed(String),
    UnknownSymbol(String),
    BadNumber {
        field: &'static str,
        value: String,
        reason: ParseDecimalError,
    },
}

/// Reused per-line storage for price levels.
#[derive(Debug, Default)]
struct Scratch {
    bids: Vec<Level>,
    asks: Vec<Level>,
    /// A level's number that failed to parse (reported as `BadNumber`).
    bad: Option<(&'static str, String, ParseDecimalError)>,
}

impl Scratch {
    fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.bad = None;
    }
    fn len(&self) -> usize {
        self.bids.len() + self.asks.len()
    }
    fn get(&self, i: usize) -> Level {
        if i < self.bids.len() {
            self.bids[i]
        } else {
            self.asks[i - self.bids.len()]
        }
    }
}

/// Every field this reader looks at, from the wrapper and the payload.
#[derive(Debug, Default)]
struct Msg<'de> {
    stream: Option<&'de str>,
    has_data: bool,
    e: Option<&'de str>,
    s: Option<&'de str>,
    event_time: Option<u64>,
    first_id: Option<u64>,
    last_id: Option<u64>,
    prev_id: Option<u64>,
    last_update_id: Option<u64>,
    bid_px: Option<&'de str>,
    bid_qty: Option<&'de str>,
    ask_px: Option<&'de str>,
    ask_qty: Option<&'de str>,
    px: Option<&'de str>,
    qty: Option<&'de str>,
    trade_id: Option<u64>,
    agg_id: Option<u64>,
    maker: Option<bool>,
    bids_seen: bool,
    asks_seen: bool,
}

/// Visits a JSON object, filling `msg` (and levels into `sc`); recurses once into `data`.
struct MsgSeed<'a, 'de> {
    msg: &'a mut Msg<'de>,
    sc: &'a mut Scratch,
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for MsgSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MsgSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let msg = self.msg;
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "stream" if !self.nested => msg.stream = Some(map.next_value()?),
                "data" if !self.nested => {
                    msg.has_data = true;
                    map.next_value_seed(MsgSeed {
                        msg: &mut *msg,
                        sc: &mut *self.sc,
                        nested: true,
                    })?;
                }
                "e" => msg.e = Some(map.next_value()?),
                "s" => msg.s = Some(map.next_value()?),
                "E" => msg.event_time = Some(map.next_value()?),
                "U" => msg.first_id = Some(map.next_value()?),
                "u" => msg.last_id = Some(map.next_value()?),
                "pu" => msg.prev_id = Some(map.next_value()?),
                "lastUpdateId" => msg.last_update_id = Some(map.next_value()?),
                "B" => msg.bid_qty = Some(map.next_value()?),
                "A" => msg.ask_qty = Some(map.next_value()?),
                "p" => msg.px = Some(map.next_value()?),
                "q" => msg.qty = Some(map.next_value()?),
                "t" => msg.trade_id = Some(map.next_value()?),
                "m" => msg.maker = Some(map.next_value()?),
                "b" | "bids" => {
                    match map.next_value_seed(FieldSeed {
                        side: Side::Buy,
                        sc: &mut *self.sc,
                    })? {
                        Field::Str(s) => msg.bid_px = Some(s),
                        Field::Levels => msg.bids_seen = true,
                        Field::Num(_) => return Err(de::Error::custom("field \"b\" is a number")),
                    }
                }
                "a" | "asks" => {
                    match map.next_value_seed(FieldSeed {
                        side: Side::Sell,
                        sc: &mut *self.sc,
                    })? {
                        Field::Str(s) => msg.ask_px = Some(s),
                        Field::Levels => msg.asks_seen = true,
                        Field::Num(n) => msg.agg_id = Some(n),
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A field that is a string (bookTicker prices), an integer (aggTrade id) or a
/// list of `[price, qty]` pairs (depth levels, pushed into the scratch vectors).
enum Field<'de> {
    Str(&'de str),
    Num(u64),
    Levels,
}

struct FieldSeed<'a> {
    side: Side,
    sc: &'a mut Scratch,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Field<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Field<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Field<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an integer or a list of [price, qty] pairs")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Str(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field<'de>, E> {
        Ok(Field::Num(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field<'de>, E> {
        u64::try_from(v)
            .map(Field::Num)
            .map_err(|_| E::custom("negative id"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq
            .next_element_seed(LevelSeed {
                side: self.side,
                sc: &mut *self.sc,
            })?
            .is_some()
        {}
        Ok(Field::Levels)
    }
}

/// One `[price, qty, ...]` pair, parsed exactly and pushed onto its side.
struct LevelSeed<'a> {
    side: Side,
    sc: &'a mut Scratch,
}

impl<'de> DeserializeSeed<'de> for LevelSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LevelSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [price, qty] pair of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let px: &'de str = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("level without price"))?;
        let qty: &'de str = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("level without quantity"))?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        let (pf, qf) = match self.side {
            Side::Buy => ("bid price", "bid quantity"),
            Side::Sell => ("ask price", "ask quantity"),
        };
        let px = match parse_raw(px.as_bytes()) {
            Ok(v) => v,
            Err(e) => {
                self.sc.bad = Some((pf, px.to_owned(), e));
                return Err(de::Error::custom("bad number"));
            }
        };
        let qty = match parse_raw(qty.as_bytes()) {
            Ok(v) => v,
            Err(e) => {
                self.sc.bad = Some((qf, qty.to_owned(), e));
                return Err(de::Error::custom("bad number"));
            }
        };
        let level = Level {
            side: self.side,
            px: Dec(px),
            qty: Dec(qty),
        };
        match self.side {
            Side::Buy => self.sc.bids.push(level),
            Side::Sell => self.sc.asks.push(level),
        }
        Ok(())
    }
}

/// What one line holds, with every borrow of the line buffer resolved.
#[derive(Debug, Clone, Copy)]
enum Parsed {
    /// A complete event (top of book or trade).
    Event { venue_ts: u64, event: SimpleEvent },
    /// A depth diff; levels are in the scratch vectors.
    Diff {
        venue_ts: u64,
        instrument: InstrumentId,
        first: u64,
        last: u64,
        prev: u64,
    },
    /// A depth snapshot; levels are in the scratch vectors.
    Snapshot { venue_ts: u64, last: u64 },
    /// A message kind this reader ignores.
    Skip,
}

#[derive(Debug, Clone, Copy)]
enum SimpleEvent {
    Ticker(BookTicker),
    Trade(Trade),
}

fn dec(field: &'static str, v: Option<&str>) -> Result<Dec, LineErr> {
    let v = v.ok_or_else(|| LineErr::Malformed(format!("missing field {field:?}")))?;
    parse_raw(v.as_bytes())
        .map(Dec)
        .map_err(|reason| LineErr::BadNumber {
            field,
            value: v.to_owned(),
            reason,
        })
}

fn req<T>(field: &'static str, v: Option<T>) -> Result<T, LineErr> {
    v.ok_or_else(|| LineErr::Malformed(format!("missing field {field:?}")))
}

fn lookup(symbols: &[(String, InstrumentId)], msg: &Msg<'_>) -> Result<InstrumentId, LineErr> {
    let sym = match (msg.s, msg.stream) {
        (Some(s), _) => s,
        (None, Some(stream)) => stream.split('@').next().unwrap_or(stream),
        (None, None) => return Err(LineErr::Malformed("missing symbol (field \"s\")".into())),
    };
    symbols
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(sym))
        .map(|&(_, id)| id)
        .ok_or_else(|| LineErr::UnknownSymbol(sym.to_owned()))
}

/// Parses one JSON message (in place) into `sc` and an owned summary.
fn parse_json(
    json: &mut [u8],
    bufs: &mut simd_json::Buffers,
    sc: &mut Scratch,
    symbols: &[(String, InstrumentId)],
) -> Result<Parsed, LineErr> {
    sc.clear();
    let mut msg = Msg::default();
    let res = simd_json::Deserializer::from_slice_with_buffers(json, bufs).and_then(|mut d| {
        MsgSeed {
            msg: &mut msg,
            sc: &mut *sc,
            nested: false,
        }
        .deserialize(&mut d)
    });
    if let Some((field, value, reason)) = sc.bad.take() {
        return Err(LineErr::BadNumber {
            field,
            value,
            reason,
        });
    }
    if let Err(e) = res {
        return Err(LineErr::Malformed(format!("invalid JSON: {e}")));
    }
    let venue_ts = match msg.event_time {
        Some(ms) => ms
            .checked_mul(1_000_000)
            .ok_or_else(|| LineErr::Malformed(format!("event time {ms} out of range")))?,
        None => 0,
    };
    if msg.last_update_id.is_some() && !msg.has_data && msg.e.is_none() {
        if !msg.bids_seen || !msg.asks_seen {
            return Err(LineErr::Malformed(
                "depth snapshot without \"bids\" and \"asks\" lists".into(),
            ));
        }
        return Ok(Parsed::Snapshot {
            venue_ts,
            last: msg.last_update_id.unwrap_or(0),
        });
    }
    let kind = match msg.e {
        Some(e) => e,
        None if msg.stream.is_some_and(|s| s.ends_with("@bookTicker"))
            || (msg.bid_px.is_some() && msg.ask_px.is_some()) =>
        {
            "bookTicker"
        }
        None => return Err(LineErr::Malformed("unknown message: no event type".into())),
    };
    match kind {
        "bookTicker" => {
            let t = BookTicker {
                instrument: lookup(symbols, &msg)?,
                bid_px: dec("b", msg.bid_px)?,
                bid_qty: dec("B", msg.bid_qty)?,
                ask_px: dec("a", msg.ask_px)?,
                ask_qty: dec("A", msg.ask_qty)?,
                update_id: msg.last_id.unwrap_or(0),
            };
            Ok(Parsed::Event {
                venue_ts,
                event: SimpleEvent::Ticker(t),
            })
        }
        "trade" | "aggTrade" => {
            let trade_id = if kind == "trade" {
                req("t", msg.trade_id)?
            } else {
                req("a", msg.agg_id)?
            };
            let t = Trade {
                instrument: lookup(symbols, &msg)?,
                px: dec("p", msg.px)?,
                qty: dec("q", msg.qty)?,
                aggressor: if req("m", msg.maker)? {
                    Side::Sell
                } else {
                    Side::Buy
                },
                trade_id,
            };
            Ok(Parsed::Event {
                venue_ts,
                event: SimpleEvent::Trade(t),
            })
        }
        "depthUpdate" => {
            let first = req("U", msg.first_id)?;
            let last = req("u", msg.last_id)?;
            if !msg.bids_seen || !msg.asks_seen {
                return Err(LineErr::Malformed(
                    "depthUpdate without \"b\" and \"a\" lists".into(),
                ));
            }
            Ok(Parsed::Diff {
                venue_ts,
                instrument: lookup(symbols, &msg)?,
                first,
                last,
                prev: msg.prev_id.unwrap_or(0),
            })
        }
        _ => Ok(Parsed::Skip),
    }
}

/// Splits `<ts> <json>` and returns the timestamp and the JSON's range in the line.
fn split_line(line: &[u8]) -> Result<(u64, usize), LineErr> {
    let sp = line
        .iter()
        .position(|&c| c == b' ')
        .ok_or_else(|| LineErr::Malformed("expected `<ts_ns> <json>`".into()))?;
    let digits = &line[..sp];
    let mut ts: u64 = 0;
    if digits.is_empty() {
        return Err(LineErr::Malformed("empty timestamp".into()));
    }
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(LineErr::Malformed("timestamp is not an integer".into()));
        }
        ts = ts
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as u64))
            .ok_or_else(|| LineErr::Malformed("timestamp out of range".into()))?;
    }
    let mut start = sp + 1;
    while line.get(start) == Some(&b' ') {
        start += 1;
    }
    Ok((ts, start))
}

/// Depth chunks still to deliver for the current line.
#[derive(Debug, Clone, Copy)]
struct Pending {
    ts: u64,
    venue_ts: u64,
    instrument: InstrumentId,
    snapshot: bool,
    first: u64,
    last: u64,
    prev: u64,
    /// Levels come from the stashed snapshot scratch rather than the line scratch.
    from_snap: bool,
    next: usize,
}

/// Streams [`Event`]s from an hftbacktest Binance capture. See the module docs.
pub struct RecordedFeed {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    symbols: Vec<(String, InstrumentId)>,
    line: Vec<u8>,
    line_no: u64,
    bufs: simd_json::Buffers,
    sc: Scratch,
    snap: Scratch,
    pending: Option<Pending>,
    /// Lines read ahead while looking for a snapshot's symbol: (line number, bytes).
    ahead: VecDeque<(u64, Vec<u8>)>,
    done: bool,
}

impl fmt::Debug for RecordedFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedFeed")
            .field("path", &self.path)
            .field("line", &self.line_no)
            .finish()
    }
}

impl RecordedFeed {
    /// Opens a capture (gzip, detected by its magic bytes, or plain text). `symbols`
    /// maps venue symbols (e.g. `BTCUSDT`, compared case-insensitively) to instruments.
    pub fn open(path: &Path, symbols: &[(String, InstrumentId)]) -> Result<Self, FeedError> {
        let io_err = |source| FeedError::Io {
            file: path.to_path_buf(),
            line: 0,
            source,
        };
        let mut file = BufReader::with_capacity(1 << 16, File::open(path).map_err(io_err)?);
        let gz = file.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn BufRead + Send> = if gz {
            Box::new(BufReader::with_capacity(
                1 << 16,
                flate2::bufread::MultiGzDecoder::new(file),
            ))
        } else {
            Box::new(file)
        };
        Ok(Self::from_reader(path, reader, symbols))
    }

    /// Reads an already opened stream of lines; `name` is used in error messages.
    pub fn from_reader(
        name: &Path,
        reader: Box<dyn BufRead + Send>,
        symbols: &[(String, InstrumentId)],
    ) -> Self {
        RecordedFeed {
            path: name.to_path_buf(),
            reader,
            symbols: symbols.to_vec(),
            line: Vec::with_capacity(1 << 16),
            line_no: 0,
            bufs: simd_json::Buffers::new(1 << 16),
            sc: Scratch::default(),
            snap: Scratch::default(),
            pending: None,
            ahead: VecDeque::new(),
            done: false,
        }
    }

    /// Number of the last line read (1-based).
    pub fn line_number(&self) -> u64 {
        self.line_no
    }

    /// The next event as `(local receive ts ns, venue ts ns (0 if none), event)`.
    ///
    /// A line that cannot be understood yields `Some(Err(..))` and reading goes on
    /// with the next line; after a read error (`FeedError::Io`) the feed ends.
    /// `None` at the end of the file.
    pub fn next_event(&mut self) -> Option<Result<(u64, u64, Event), FeedError>> {
        loop {
            if let Some(ev) = self.next_chunk() {
                return Some(Ok(ev));
            }
            if self.done && self.ahead.is_empty() {
                return None;
            }
            let line_no = match self.fetch_line() {
                Ok(Some(n)) => n,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            let (ts, start) = match split_line(&self.line) {
                Ok(v) => v,
                Err(e) => return Some(Err(self.err(line_no, e))),
            };
            let parsed = parse_json(
                &mut self.line[start..],
                &mut self.bufs,
                &mut self.sc,
                &self.symbols,
            );
            match parsed {
                Err(e) => return Some(Err(self.err(line_no, e))),
                Ok(Parsed::Skip) => {}
                Ok(Parsed::Event { venue_ts, event }) => {
                    let event = match event {
                        SimpleEvent::Ticker(t) => Event::BookTicker(t),
                        SimpleEvent::Trade(t) => Event::Trade(t),
                    };
                    return Some(Ok((ts, venue_ts, event)));
                }
                Ok(Parsed::Diff {
                    venue_ts,
                    instrument,
                    first,
                    last,
                    prev,
                }) => {
                    self.pending = Some(Pending {
                        ts,
                        venue_ts,
                        instrument,
                        snapshot: false,
                        first,
                        last,
                        prev,
                        from_snap: false,
                        next: 0,
                    });
                }
                Ok(Parsed::Snapshot { venue_ts, last }) => {
                    let mut p = Pending {
                        ts,
                        venue_ts,
                        instrument: 0,
                        snapshot: true,
                        first: last,
                        last,
                        prev: 0,
                        from_snap: false,
                        next: 0,
                    };
                    if let [(_, id)] = self.symbols.as_slice() {
                        p.instrument = *id;
                    } else {
                        std::mem::swap(&mut self.sc, &mut self.snap);
                        p.from_snap = true;
                        match self.find_snapshot_symbol() {
                            Ok(Some(id)) => p.instrument = id,
                            Ok(None) => {
                                let reason = format!(
                                    "depth snapshot names no symbol and no depthUpdate follows \
                                     it within {MAX_LOOK_AHEAD} lines (several symbols configured)"
                                );
                                return Some(Err(self.err(line_no, LineErr::Malformed(reason))));
                            }
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    self.pending = Some(p);
                }
            }
        }
    }

    fn err(&self, line: u64, e: LineErr) -> FeedError {
        let file = self.path.clone();
        match e {
            LineErr::Malformed(reason) => FeedError::Malformed { file, line, reason },
            LineErr::UnknownSymbol(symbol) => FeedError::UnknownSymbol { file, line, symbol },
            LineErr::BadNumber {
                field,
                value,
                reason,
            } => FeedError::BadNumber {
                file,
                line,
                field,
                value,
                reason,
            },
        }
    }

    /// Loads the next non-empty line into `self.line` (from the look-ahead queue
    /// first) and returns its number; `None` at the end of input.
    fn fetch_line(&mut self) -> Result<Option<u64>, FeedError> {
        loop {
            let n = if let Some((n, bytes)) = self.ahead.pop_front() {
                self.line.clear();
                self.line.extend_from_slice(&bytes);
                n
            } else {
                if self.done {
                    return Ok(None);
                }
                match read_line(&mut *self.reader, &mut self.line) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.done = true;
                        return Ok(None);
                    }
                    Err(source) => {
                        self.done = true;
                        return Err(FeedError::Io {
                            file: self.path.clone(),
                            line: self.line_no + 1,
                            source,
                        });
                    }
                }
                self.line_no += 1;
                self.line_no
            };
            if !self.line.is_empty() {
                return Ok(Some(n));
            }
        }
    }

    /// Reads ahead to the next `depthUpdate` and returns its instrument; `None` when
    /// the input ends or [`MAX_LOOK_AHEAD`] lines are queued first. The lines read are
    /// queued so they are still delivered in order.
    fn find_snapshot_symbol(&mut self) -> Result<Option<InstrumentId>, FeedError> {
        // Lines already queued first (a snapshot found while looking ahead).
        let mut tmp = Vec::new();
        let queued = std::mem::take(&mut self.ahead);
        let found = queued
            .iter()
            .find_map(|(_, bytes)| self.diff_instrument(bytes, &mut tmp));
        self.ahead = queued;
        if found.is_some() {
            return Ok(found);
        }
        loop {
            if self.done || self.ahead.len() >= MAX_LOOK_AHEAD {
                return Ok(None);
            }
            let mut bytes = Vec::new();
            match read_line(&mut *self.reader, &mut bytes) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(source) => {
                    self.done = true;
                    return Err(FeedError::Io {
                        file: self.path.clone(),
                        line: self.line_no + 1,
                        source,
                    });
                }
            }
            self.line_no += 1;
            let found = self.diff_instrument(&bytes, &mut tmp);
            self.ahead.push_back((self.line_no, bytes));
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    /// The instrument of `line` if it is a valid depthUpdate.
    fn diff_instrument(&mut self, line: &[u8], tmp: &mut Vec<u8>) -> Option<InstrumentId> {
        tmp.clear();
        tmp.extend_from_slice(line);
        let (_, start) = split_line(tmp).ok()?;
        match parse_json(
            &mut tmp[start..],
            &mut self.bufs,
            &mut self.sc,
            &self.symbols,
        ) {
            Ok(Parsed::Diff { instrument, .. }) => Some(instrument),
            _ => None,
        }
    }

    /// The next depth chunk of the pending update, if any.
    fn next_chunk(&mut self) -> Option<(u64, u64, Event)> {
        let p = self.pending.as_mut()?;
        let sc = if p.from_snap { &self.snap } else { &self.sc };
        let total = sc.len();
        let start = p.next;
        let end = (start + DEPTH_CHUNK).min(total);
        let mut d = Depth {
            instrument: p.instrument,
            snapshot: p.snapshot,
            first_chunk: start == 0,
            last_chunk: end == total,
            first_update_id: p.first,
            last_update_id: p.last,
            prev_update_id: p.prev,
            len: (end - start) as u8,
            levels: [Level::default(); DEPTH_CHUNK],
        };
        for (slot, i) in d.levels.iter_mut().zip(start..end) {
            *slot = sc.get(i);
        }
        let out = (p.ts, p.venue_ts, Event::Depth(d));
        if end == total {
            self.pending = None;
        } else {
            p.next = end;
        }
        Some(out)
    }
}

/// Reads one line without its `\n` / `\r\n` into `buf`; false at end of input.
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    if r.read_until(b'\n', buf)? == 0 {
        return Ok(false);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(true)
}

/// Convenience for tests and tools: a feed over in-memory text.
impl RecordedFeed {
    /// Reads lines from `bytes` (plain text) as if they were a file called `name`.
    pub fn from_bytes(name: &str, bytes: Vec<u8>, symbols: &[(String, InstrumentId)]) -> Self {
        let reader: Box<dyn BufRead + Send> = Box::new(io::Cursor::new(bytes));
        Self::from_reader(Path::new(name), reader, symbols)
    }
}
