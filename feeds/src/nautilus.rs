//! Readers for the NautilusTrader test samples of Binance data.
//!
//! # Binance historical order book CSV ([`BinanceDepthCsv`])
//!
//! Header `symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu`
//! (Binance's historical-data book format). `timestamp` is ms since the epoch (both
//! `ts` and `venue_ts`), `side` is `b`/`a`, `update_type` is `snap` (snapshot rows) or
//! `set` (diff rows; quantity 0 removes the level), `pu` is the previous update's
//! `last_update_id` (USD-M; `-1` or empty on snapshots). Consecutive rows with the same
//! symbol, `update_type` and `last_update_id` form one update, delivered as
//! [`Event::Depth`] chunks of at most [`DEPTH_CHUNK`] levels: a snapshot has both ids
//! equal to `last_update_id`; a diff carries `U` = `first_update_id`,
//! `u` = `last_update_id`, `pu` = `pu` (none, 0, when `pu` is `-1` or empty; any other
//! value that is not an unsigned integer is an error).
//!
//! # Parquet ([`ParquetReader`])
//!
//! | columns | event |
//! |---|---|
//! | `timestamp, symbol, ask_size, ask, bid_size, bid` | [`Event::BookTicker`] |
//! | `timestamp, trade_id, price, quantity, buyer_maker` | [`Event::Trade`]; `buyer_maker` true (bool or `"True"`) means the aggressor sold |
//!
//! `trade_id` may be any integer type (a negative one is an error), a string (an
//! integer, or else `trade_id` 0, counted in [`ParquetReader::adjustments`]); null
//! or empty is 0.
//!
//! `timestamp` may be a Parquet timestamp (ms, µs or ns) or an int64 of ms. Column
//! order does not matter. The trades file names no symbol: the reader is given one
//! (`kestrel import` uses the file name, e.g. `btcusdt-trades.parquet` → `BTCUSDT`).
//! Prices and sizes stored as floats are rounded to 9 decimal places (Kestrel's
//! resolution), which removes binary noise such as `0.031035000000000004`; decimal
//! and string columns are read exactly.
//!
//! The Parquet reader uses the `parquet` crate's row API (no Arrow), which allocates
//! a small row per record; the samples are small and Parquet files are columnar
//! batches anyway.

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use kestrel_engine::num::parse_raw;
use kestrel_engine::{
    BookTicker, Dec, Depth, Event, InstrumentId, Level, Side, Trade, DEPTH_CHUNK,
};
use parquet::basic::{LogicalType, TimeUnit};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};

use crate::csv::{split_fields, text_trade_id, Adjustments, Lines, Symbols};
use crate::recorded::FeedError;

/// Header of the Binance historical order book CSV.
pub const DEPTH_HEADER: &str =
    "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu";

/// One parsed row of the depth CSV (everything is `Copy`, so no borrow of the line).
#[derive(Clone, Copy, Debug)]
struct DepthRow {
    instrument: InstrumentId,
    ts: u64,
    first: u64,
    last: u64,
    prev: u64,
    snapshot: bool,
    level: Level,
    line: u64,
}

/// Streams [`Event::Depth`] chunks from a Binance historical order book CSV.
pub struct BinanceDepthCsv {
    lines: Lines,
    symbols: Symbols,
    fields: Vec<(usize, usize)>,
    /// The row that ended the previous group.
    pending: Option<DepthRow>,
    /// Levels of the group being delivered.
    levels: Vec<Level>,
    group: Option<DepthRow>,
    next: usize,
    done: bool,
}

impl BinanceDepthCsv {
    /// Opens a file and checks its header.
    pub fn open(path: &Path, symbols: Symbols) -> Result<Self, FeedError> {
        Self::from_lines(Lines::open(path)?, symbols)
    }

    /// Reads an already opened stream; `path` names it in errors.
    pub fn from_reader(
        path: &Path,
        reader: Box<dyn BufRead + Send>,
        symbols: Symbols,
    ) -> Result<Self, FeedError> {
        Self::from_lines(Lines::new(path, reader), symbols)
    }

    fn from_lines(mut lines: Lines, symbols: Symbols) -> Result<Self, FeedError> {
        if !lines.next_line()? {
            return Err(lines.malformed("empty file: expected a header line"));
        }
        if crate::csv::header_columns(&lines.buf).join(",") != DEPTH_HEADER {
            return Err(lines.malformed(format!("expected the header {DEPTH_HEADER:?}")));
        }
        Ok(BinanceDepthCsv {
            lines,
            symbols,
            fields: Vec::with_capacity(9),
            pending: None,
            levels: Vec::with_capacity(1024),
            group: None,
            next: 0,
            done: false,
        })
    }

    /// The symbol table (with learned symbols).
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    fn read_row(&mut self) -> Result<Option<DepthRow>, FeedError> {
        if !self.lines.next_line()? {
            return Ok(None);
        }
        let l = &self.lines;
        split_fields(&l.buf, &mut self.fields).map_err(|r| l.malformed(r))?;
        if self.fields.len() != 9 {
            return Err(l.malformed(format!("expected 9 fields, found {}", self.fields.len())));
        }
        let f = |i: usize| {
            let (s, e) = self.fields[i];
            l.buf[s..e].trim_ascii()
        };
        let instrument = self
            .symbols
            .resolve(f(0))
            .ok_or_else(|| l.unknown_symbol(f(0)))?;
        let ms = l.uint("timestamp", f(1))?;
        let ts = ms
            .checked_mul(1_000_000)
            .ok_or_else(|| l.malformed("timestamp out of range"))?;
        let side = match f(4) {
            b"b" | b"B" | b"bid" => Side::Buy,
            b"a" | b"A" | b"ask" => Side::Sell,
            other => {
                return Err(l.malformed(format!(
                    "side must be b or a, not {:?}",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        let snapshot = match f(5) {
            b"snap" => true,
            b"set" => false,
            other => {
                return Err(l.malformed(format!(
                    "update_type must be snap or set, not {:?}",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        let pu = f(8);
        let prev = if pu.is_empty() || pu == b"-1" {
            0
        } else {
            l.uint("pu", pu)?
        };
        Ok(Some(DepthRow {
            instrument,
            ts,
            first: l.uint("first_update_id", f(2))?,
            last: l.uint("last_update_id", f(3))?,
            prev,
            snapshot,
            level: Level {
                side,
                px: l.dec("price", f(6))?,
                qty: l.dec("qty", f(7))?,
            },
            line: l.line,
        }))
    }

    /// Reads the next group of rows into `levels`.
    fn fill_group(&mut self) -> Result<bool, FeedError> {
        self.levels.clear();
        self.next = 0;
        let head = match self.pending.take() {
            Some(r) => r,
            None => match self.read_row()? {
                Some(r) => r,
                None => return Ok(false),
            },
        };
        self.levels.push(head.level);
        loop {
            match self.read_row()? {
                Some(r)
                    if r.instrument == head.instrument
                        && r.snapshot == head.snapshot
                        && r.last == head.last =>
                {
                    self.levels.push(r.level)
                }
                other => {
                    self.pending = other;
                    break;
                }
            }
        }
        self.group = Some(head);
        Ok(true)
    }

    /// The next depth chunk as `(ts, venue_ts, event)`; `None` at the end. Errors
    /// name the file and line; reading should stop at the first one.
    pub fn next_event(&mut self) -> Option<Result<(u64, u64, Event), FeedError>> {
        if self.done {
            return None;
        }
        if self.group.is_none() || self.next >= self.levels.len() {
            match self.fill_group() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let g = self.group?;
        let _ = g.line;
        let start = self.next;
        let end = (start + DEPTH_CHUNK).min(self.levels.len());
        let mut d = Depth {
            instrument: g.instrument,
            snapshot: g.snapshot,
            first_chunk: start == 0,
            last_chunk: end == self.levels.len(),
            first_update_id: if g.snapshot { g.last } else { g.first },
            last_update_id: g.last,
            prev_update_id: if g.snapshot { 0 } else { g.prev },
            len: (end - start) as u8,
            levels: [Level::default(); DEPTH_CHUNK],
        };
        d.levels[..end - start].copy_from_slice(&self.levels[start..end]);
        self.next = end;
        Some(Ok((g.ts, g.ts, Event::Depth(d))))
    }
}

/// What a Parquet file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParquetKind {
    /// Top of book: `timestamp, symbol, ask_size, ask, bid_size, bid`.
    Quotes,
    /// Trades: `timestamp, trade_id, price, quantity, buyer_maker`.
    Trades,
}

/// Column positions of the fields this reader uses.
#[derive(Clone, Copy, Debug)]
struct Cols {
    ts: usize,
    /// Multiplier from the stored unit to ns.
    ts_scale: u64,
    a: usize,
    b: usize,
    c: usize,
    d: usize,
    symbol: Option<usize>,
}

/// Streams quotes or trades from a NautilusTrader/Binance Parquet file.
pub struct ParquetReader {
    path: PathBuf,
    kind: ParquetKind,
    rows: parquet::record::reader::RowIter<'static>,
    cols: Cols,
    symbols: Symbols,
    /// Instrument of a file without a symbol column.
    fixed: Option<InstrumentId>,
    row: u64,
    total: u64,
    text: String,
    adjusted: Adjustments,
    done: bool,
}

impl ParquetReader {
    /// Opens a file and detects its kind from the column names. `default_symbol`
    /// names the instrument of a file without a `symbol` column.
    pub fn open(
        path: &Path,
        mut symbols: Symbols,
        default_symbol: Option<&str>,
    ) -> Result<Self, FeedError> {
        let err = |reason: String| FeedError::Malformed {
            file: path.to_path_buf(),
            line: 0,
            reason,
        };
        let file = File::open(path).map_err(|source| FeedError::Io {
            file: path.to_path_buf(),
            line: 0,
            source,
        })?;
        let reader =
            SerializedFileReader::new(file).map_err(|e| err(format!("not a Parquet file: {e}")))?;
        let meta = reader.metadata();
        let total = meta.file_metadata().num_rows().max(0) as u64;
        let schema = meta.file_metadata().schema_descr();
        let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
        let find = |n: &str| names.iter().position(|c| *c == n);
        let need = |n: &str| find(n).ok_or_else(|| err(format!("no column {n:?}")));
        let (kind, cols) = if find("bid").is_some() && find("ask").is_some() {
            (
                ParquetKind::Quotes,
                Cols {
                    ts: need("timestamp")?,
                    ts_scale: 1,
                    a: need("bid")?,
                    b: need("bid_size")?,
                    c: need("ask")?,
                    d: need("ask_size")?,
                    symbol: find("symbol"),
                },
            )
        } else if find("price").is_some() && find("buyer_maker").is_some() {
            (
                ParquetKind::Trades,
                Cols {
                    ts: need("timestamp")?,
                    ts_scale: 1,
                    a: need("price")?,
                    b: need("quantity")?,
                    c: need("buyer_maker")?,
                    d: need("trade_id")?,
                    symbol: find("symbol"),
                },
            )
        } else {
            return Err(err(format!(
                "unknown Parquet layout (columns {names:?}); expected quotes \
                 (timestamp, symbol, bid, bid_size, ask, ask_size) or trades \
                 (timestamp, trade_id, price, quantity, buyer_maker)"
            )));
        };
        let mut cols = cols;
        let ts_col = &schema.columns()[cols.ts];
        cols.ts_scale = match ts_col.logical_type_ref() {
            Some(LogicalType::Timestamp(t)) => match t.unit {
                TimeUnit::MILLIS => 1_000_000,
                TimeUnit::MICROS => 1_000,
                TimeUnit::NANOS => 1,
            },
            // Plain integers: milliseconds, as Binance writes them.
            _ => 1_000_000,
        };
        let fixed = match (cols.symbol, default_symbol) {
            (Some(_), _) => None,
            (None, Some(s)) => {
                Some(
                    symbols
                        .resolve(s.as_bytes())
                        .ok_or_else(|| FeedError::UnknownSymbol {
                            file: path.to_path_buf(),
                            line: 0,
                            symbol: s.to_string(),
                        })?,
                )
            }
            (None, None) => {
                return Err(err(
                    "the file has no symbol column and no symbol was given".into()
                ))
            }
        };
        Ok(ParquetReader {
            path: path.to_path_buf(),
            kind,
            rows: reader.into_iter(),
            cols,
            symbols,
            fixed,
            row: 0,
            total,
            text: String::with_capacity(32),
            adjusted: Adjustments::default(),
            done: false,
        })
    }

    /// Quotes or trades.
    pub fn kind(&self) -> ParquetKind {
        self.kind
    }

    /// The symbol table (with learned symbols).
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// Rows read so far with a stand-in value (see the module docs).
    pub fn adjustments(&self) -> Adjustments {
        self.adjusted
    }

    /// Rows read so far and rows in the file.
    pub fn progress(&self) -> (u64, u64) {
        (self.row, self.total)
    }

    /// The next event as `(ts, venue_ts, event)`; `None` at the end. Errors name the
    /// file and the 1-based row; reading should stop at the first one.
    pub fn next_event(&mut self) -> Option<Result<(u64, u64, Event), FeedError>> {
        if self.done {
            return None;
        }
        let row = match self.rows.next()? {
            Ok(r) => r,
            Err(e) => {
                self.done = true;
                return Some(Err(self.malformed(format!("cannot read row: {e}"))));
            }
        };
        self.row += 1;
        let r = self.convert(&row);
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }

    fn malformed(&self, reason: String) -> FeedError {
        FeedError::Malformed {
            file: self.path.clone(),
            line: self.row,
            reason,
        }
    }

    fn field<'r>(&self, row: &'r Row, i: usize) -> &'r Field {
        row.get_column_iter()
            .nth(i)
            .map(|(_, f)| f)
            .unwrap_or(&Field::Null)
    }

    fn dec(&mut self, name: &'static str, f: &Field) -> Result<Dec, FeedError> {
        self.text.clear();
        match f {
            Field::Double(v) => write!(self.text, "{v:.9}").ok(),
            Field::Float(v) => write!(self.text, "{v}").ok(),
            Field::Str(s) => write!(self.text, "{s}").ok(),
            Field::Decimal(d) => match decimal_text(d) {
                Ok(t) => write!(self.text, "{t}").ok(),
                Err(reason) => return Err(self.malformed(format!("column {name:?}: {reason}"))),
            },
            Field::Long(v) => write!(self.text, "{v}").ok(),
            Field::Int(v) => write!(self.text, "{v}").ok(),
            other => {
                return Err(self.malformed(format!("column {name:?} is not a number: {other:?}")))
            }
        };
        parse_raw(self.text.as_bytes())
            .map(Dec)
            .map_err(|reason| FeedError::BadNumber {
                file: self.path.clone(),
                line: self.row,
                field: name,
                value: self.text.clone(),
                reason,
            })
    }

    fn convert(&mut self, row: &Row) -> Result<(u64, u64, Event), FeedError> {
        let c = self.cols;
        let ts = match self.field(row, c.ts) {
            Field::TimestampMillis(v) => (*v as u64).checked_mul(1_000_000),
            Field::TimestampMicros(v) => (*v as u64).checked_mul(1_000),
            Field::Long(v) if *v >= 0 => (*v as u64).checked_mul(c.ts_scale),
            other => return Err(self.malformed(format!("timestamp is not a timestamp: {other:?}"))),
        }
        .ok_or_else(|| self.malformed("timestamp out of range".into()))?;
        let instrument = match (self.fixed, c.symbol) {
            (Some(id), _) => id,
            (None, Some(i)) => {
                let sym = match self.field(row, i) {
                    Field::Str(s) => s.as_str(),
                    other => return Err(self.malformed(format!("symbol is not text: {other:?}"))),
                };
                match self.symbols.resolve(sym.as_bytes()) {
                    Some(id) => id,
                    None => {
                        return Err(FeedError::UnknownSymbol {
                            file: self.path.clone(),
                            line: self.row,
                            symbol: sym.to_string(),
                        })
                    }
                }
            }
            (None, None) => 0,
        };
        let event = match self.kind {
            ParquetKind::Quotes => Event::BookTicker(BookTicker {
                instrument,
                bid_px: self.dec("bid", self.field(row, c.a))?,
                bid_qty: self.dec("bid_size", self.field(row, c.b))?,
                ask_px: self.dec("ask", self.field(row, c.c))?,
                ask_qty: self.dec("ask_size", self.field(row, c.d))?,
                update_id: 0,
            }),
            ParquetKind::Trades => {
                let maker = match self.field(row, c.c) {
                    Field::Bool(b) => *b,
                    Field::Str(s) if s.eq_ignore_ascii_case("true") => true,
                    Field::Str(s) if s.eq_ignore_ascii_case("false") => false,
                    other => {
                        return Err(
                            self.malformed(format!("buyer_maker is not a boolean: {other:?}"))
                        )
                    }
                };
                let trade_id = match trade_id(self.field(row, c.d)) {
                    Ok(Some(id)) => id,
                    Ok(None) => {
                        self.adjusted.non_numeric_trade_ids += 1;
                        0
                    }
                    Err(reason) => return Err(self.malformed(reason)),
                };
                Event::Trade(Trade {
                    instrument,
                    px: self.dec("price", self.field(row, c.a))?,
                    qty: self.dec("quantity", self.field(row, c.b))?,
                    aggressor: if maker { Side::Sell } else { Side::Buy },
                    trade_id,
                })
            }
        };
        Ok((ts, ts, event))
    }
}

/// A trade id: `Some` for a non-negative integer (or its text), and 0 for null or
/// empty text; `None` for other text (e.g. a UUID).
///
/// # Errors
/// A negative integer or a type that is not an integer or text.
fn trade_id(f: &Field) -> Result<Option<u64>, String> {
    let signed = match *f {
        Field::Null => return Ok(Some(0)),
        Field::UByte(v) => return Ok(Some(v.into())),
        Field::UShort(v) => return Ok(Some(v.into())),
        Field::UInt(v) => return Ok(Some(v.into())),
        Field::ULong(v) => return Ok(Some(v)),
        Field::Str(ref s) => return Ok(text_trade_id(s.as_bytes())),
        Field::Byte(v) => v.into(),
        Field::Short(v) => v.into(),
        Field::Int(v) => v.into(),
        Field::Long(v) => v,
        ref other => return Err(format!("trade_id is not an integer: {other:?}")),
    };
    u64::try_from(signed)
        .map(Some)
        .map_err(|_| format!("trade_id {signed} is negative"))
}

/// Largest DECIMAL scale read: 38 digits is the most a 128-bit unscaled value holds
/// (Parquet's own limit for 16-byte decimals), and far beyond Kestrel's 9.
const MAX_DECIMAL_SCALE: i32 = 38;

/// Decimal text of a Parquet DECIMAL (big-endian two's complement unscaled value).
///
/// # Errors
/// An unscaled value wider than 128 bits, or a scale outside `0..=38` (a crafted file
/// could otherwise ask for a string of billions of zeros).
fn decimal_text(d: &parquet::data_type::Decimal) -> Result<String, String> {
    let bytes = d.data();
    if bytes.len() > 16 {
        return Err(format!(
            "DECIMAL of {} bytes is wider than 128 bits",
            bytes.len()
        ));
    }
    if !(0..=MAX_DECIMAL_SCALE).contains(&d.scale()) {
        return Err(format!(
            "DECIMAL scale {} is outside 0..={MAX_DECIMAL_SCALE}",
            d.scale()
        ));
    }
    let mut v: i128 = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        -1
    } else {
        0
    };
    for &b in bytes {
        v = (v << 8) | b as i128;
    }
    let scale = d.scale() as usize;
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (i, f) = digits.split_at(digits.len() - scale);
    Ok(format!(
        "{}{i}{}{f}",
        if neg { "-" } else { "" },
        if scale > 0 { "." } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::data_type::{ByteArray, Decimal};

    #[test]
    fn trade_ids_are_never_wrapped_or_zeroed_silently() {
        assert_eq!(trade_id(&Field::Long(553_287_559)), Ok(Some(553_287_559)));
        assert_eq!(trade_id(&Field::UInt(7)), Ok(Some(7)));
        assert_eq!(trade_id(&Field::Str("42".into())), Ok(Some(42)));
        assert_eq!(trade_id(&Field::Null), Ok(Some(0)));
        assert_eq!(trade_id(&Field::Str(String::new())), Ok(Some(0)));
        // Counted by the reader, delivered as 0.
        assert_eq!(trade_id(&Field::Str("ccc3c1fa-212c".into())), Ok(None));
        // `-1 as u64` used to become 18446744073709551615, a double 0.
        assert_eq!(
            trade_id(&Field::Long(-1)),
            Err("trade_id -1 is negative".into())
        );
        assert_eq!(
            trade_id(&Field::Int(-5)),
            Err("trade_id -5 is negative".into())
        );
        assert!(trade_id(&Field::Double(1.5)).is_err());
    }

    #[test]
    fn depth_csv_pu_is_minus_one_empty_or_an_id() {
        let read = |pu: &str| {
            let text = format!("{DEPTH_HEADER}\nBTCUSDT,1,10,12,b,set,100.0,1.0,{pu}\n");
            let r = Box::new(std::io::Cursor::new(text.into_bytes()));
            let mut csv = BinanceDepthCsv::from_reader(
                Path::new("mem.csv"),
                r,
                Symbols::fixed(&[("BTCUSDT".into(), 0)]),
            )
            .unwrap();
            csv.next_event().unwrap().map(|(_, _, e)| match e {
                Event::Depth(d) => d.prev_update_id,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(read("9").unwrap(), 9);
        assert_eq!(read("-1").unwrap(), 0);
        assert_eq!(read("").unwrap(), 0);
        // Any other negative value used to become 0 (no `pu`) silently.
        for bad in ["-5", "-", "-1x"] {
            let err = read(bad).unwrap_err();
            assert!(matches!(err, FeedError::Malformed { line: 2, .. }), "{err}");
        }
    }

    #[test]
    fn decimal_text_reads_scaled_values_and_bounds_the_scale() {
        assert_eq!(
            decimal_text(&Decimal::from_i64(-6_000_012, 18, 2)).unwrap(),
            "-60000.12"
        );
        assert_eq!(decimal_text(&Decimal::from_i32(5, 9, 3)).unwrap(), "0.005");
        assert_eq!(decimal_text(&Decimal::from_i32(42, 9, 0)).unwrap(), "42");
        let max = Decimal::from_bytes(ByteArray::from(vec![0x7f; 16]), 38, 38);
        // i128::MAX has 39 digits: "1." then 38 decimals.
        assert_eq!(decimal_text(&max).unwrap().len(), 40);
        // A crafted scale would have asked for a 2 GiB string of zeros.
        assert_eq!(
            decimal_text(&Decimal::from_i64(1, 18, i32::MAX)).unwrap_err(),
            "DECIMAL scale 2147483647 is outside 0..=38"
        );
        assert_eq!(
            decimal_text(&Decimal::from_i64(1, 18, -3)).unwrap_err(),
            "DECIMAL scale -3 is outside 0..=38"
        );
        let wide = Decimal::from_bytes(ByteArray::from(vec![1; 17]), 38, 2);
        assert_eq!(
            decimal_text(&wide).unwrap_err(),
            "DECIMAL of 17 bytes is wider than 128 bits"
        );
    }
}
