//! Plain CSV market data that anyone can write by hand, plus the line and field
//! helpers shared by the other CSV readers ([`crate::nautilus`], [`crate::tardis`]).
//!
//! Two layouts, told apart by the header line (exact column names, in this order):
//!
//! | header | event |
//! |---|---|
//! | `ts_ns,symbol,bid_px,bid_qty,ask_px,ask_qty` | [`Event::BookTicker`] (`update_id` 0) |
//! | `ts_ns,symbol,px,qty,side` | [`Event::Trade`]; `side` is the aggressor, `buy` or `sell` (any case); `trade_id` 0 |
//!
//! `ts_ns` is an integer count of ns since the Unix epoch (the event's `ts`; `venue_ts`
//! is 0). Prices and sizes are plain decimal strings (`61234.5`, `0.00012`), read
//! exactly. Blank lines and lines starting with `#` are skipped; `\r\n` endings and a
//! UTF-8 byte-order mark are accepted. Symbols are matched as described on [`Symbols`].
//!
//! # Why hand-split rather than the `csv` crate
//!
//! Every format read here is unquoted numbers and symbols. Splitting a reused line
//! buffer on `,` hands byte slices straight to [`parse_raw`], needs no dependency, and
//! allocates nothing per row (the `csv` crate would, for `StringRecord`s, unless its
//! lower-level API is used, which is no simpler). A field that starts with `"` is
//! refused with a clear error instead of being misread.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use kestrel_engine::num::parse_raw;
use kestrel_engine::{BookTicker, Dec, Event, InstrumentId, Side, Trade};

use crate::recorded::FeedError;

/// Maps venue symbols to instrument ids.
///
/// Matching ignores ASCII case and `/` (so `BTC/USDT` and `btcusdt` both name
/// `BTCUSDT`). In learning mode an unknown symbol gets the next free id (used by
/// `kestrel import --infer-instruments` to discover instruments); otherwise it is an
/// error.
#[derive(Clone, Debug, Default)]
pub struct Symbols {
    list: Vec<(String, InstrumentId)>,
    learn: bool,
}

impl Symbols {
    /// A fixed table: unknown symbols are refused.
    pub fn fixed(list: &[(String, InstrumentId)]) -> Symbols {
        Symbols {
            list: list.to_vec(),
            learn: false,
        }
    }

    /// An empty table that assigns ids 0, 1, ... to symbols in order of first sight.
    pub fn learning() -> Symbols {
        Symbols {
            list: Vec::new(),
            learn: true,
        }
    }

    /// The id of `sym`, learning it if allowed. Allocates only when learning.
    pub fn resolve(&mut self, sym: &[u8]) -> Option<InstrumentId> {
        if let Some(&(_, id)) = self
            .list
            .iter()
            .find(|(s, _)| same_symbol(s.as_bytes(), sym))
        {
            return Some(id);
        }
        if !self.learn || self.list.len() >= InstrumentId::MAX as usize {
            return None;
        }
        let id = self.list.len() as InstrumentId;
        self.list.push((canonical_symbol(sym), id));
        Some(id)
    }

    /// Every known symbol with its id (canonical form for learned ones).
    pub fn entries(&self) -> &[(String, InstrumentId)] {
        &self.list
    }

    /// The symbol of an id.
    pub fn name(&self, id: InstrumentId) -> Option<&str> {
        self.list
            .iter()
            .find(|(_, i)| *i == id)
            .map(|(s, _)| s.as_str())
    }
}

/// True when two symbols are the same ignoring ASCII case and `/`.
pub fn same_symbol(a: &[u8], b: &[u8]) -> bool {
    let mut a = a.iter().filter(|&&c| c != b'/');
    let mut b = b.iter().filter(|&&c| c != b'/');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => {}
            _ => return false,
        }
    }
}

/// The instrument name Kestrel uses for a venue symbol: upper case, `/` removed
/// (`BTC/USDT` → `BTCUSDT`; `BTC-PERPETUAL` stays).
pub fn canonical_symbol(sym: &[u8]) -> String {
    sym.iter()
        .filter(|&&c| c != b'/')
        .map(|&c| c.to_ascii_uppercase() as char)
        .collect()
}

/// A line reader over a reused buffer that knows its file name and line number.
pub struct Lines {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    /// The current line, without its line ending.
    pub buf: Vec<u8>,
    /// 1-based number of the current line.
    pub line: u64,
}

impl Lines {
    /// Opens a plain-text file.
    pub fn open(path: &Path) -> Result<Lines, FeedError> {
        let f = File::open(path).map_err(|source| FeedError::Io {
            file: path.to_path_buf(),
            line: 0,
            source,
        })?;
        Ok(Lines::new(
            path,
            Box::new(BufReader::with_capacity(1 << 16, f)),
        ))
    }

    /// Reads an already opened stream; `path` is used in error messages.
    pub fn new(path: &Path, reader: Box<dyn BufRead + Send>) -> Lines {
        Lines {
            path: path.to_path_buf(),
            reader,
            buf: Vec::with_capacity(1024),
            line: 0,
        }
    }

    /// The file name used in errors.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the next line that is neither blank nor a `#` comment; false at the end.
    /// A UTF-8 byte-order mark on line 1 is dropped.
    pub fn next_line(&mut self) -> Result<bool, FeedError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| FeedError::Io {
                    file: self.path.clone(),
                    line: self.line + 1,
                    source,
                })?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.line == 1 && self.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.buf.drain(..3);
            }
            let trimmed = self.buf.trim_ascii();
            if trimmed.is_empty() || trimmed.starts_with(b"#") {
                continue;
            }
            return Ok(true);
        }
    }

    /// A `Malformed` error about the current line.
    pub fn malformed(&self, reason: impl Into<String>) -> FeedError {
        FeedError::Malformed {
            file: self.path.clone(),
            line: self.line,
            reason: reason.into(),
        }
    }

    /// An `UnknownSymbol` error about the current line.
    pub fn unknown_symbol(&self, sym: &[u8]) -> FeedError {
        FeedError::UnknownSymbol {
            file: self.path.clone(),
            line: self.line,
            symbol: String::from_utf8_lossy(sym).into_owned(),
        }
    }

    /// Parses a decimal field exactly.
    pub fn dec(&self, field: &'static str, v: &[u8]) -> Result<Dec, FeedError> {
        parse_raw(v.trim_ascii())
            .map(Dec)
            .map_err(|reason| FeedError::BadNumber {
                file: self.path.clone(),
                line: self.line,
                field,
                value: String::from_utf8_lossy(v).into_owned(),
                reason,
            })
    }

    /// Parses an unsigned integer field.
    pub fn uint(&self, field: &str, v: &[u8]) -> Result<u64, FeedError> {
        parse_u64(v.trim_ascii()).ok_or_else(|| {
            self.malformed(format!(
                "field {field:?} is not an unsigned integer: {:?}",
                String::from_utf8_lossy(v)
            ))
        })
    }
}

/// Parses a non-empty string of ASCII digits.
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add((c - b'0') as u64)
        } else {
            None
        }
    })
}

/// A trade id written as text: 0 when empty (the venue gave none), the number when it
/// is an unsigned integer, `None` otherwise (e.g. a UUID: the caller delivers 0 and
/// counts it in [`Adjustments::non_numeric_trade_ids`]).
pub fn text_trade_id(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        Some(0)
    } else {
        parse_u64(v)
    }
}

/// Rows a reader delivered with a stand-in value or skipped, because Kestrel's events
/// cannot hold what the file says; counted so the importer can report them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Adjustments {
    /// Trades whose aggressor side is `unknown`, delivered as buys.
    pub unknown_side_trades: u64,
    /// Trades whose id is not an unsigned integer (e.g. a UUID), delivered with
    /// `trade_id` 0.
    pub non_numeric_trade_ids: u64,
    /// Quote rows skipped because one side of the book was empty.
    pub one_sided_quotes: u64,
}

impl Adjustments {
    /// True when nothing was adjusted.
    pub fn is_empty(&self) -> bool {
        *self == Adjustments::default()
    }
}

impl std::fmt::Display for Adjustments {
    /// `3 trade(s) with side unknown read as buys, ...`; empty when nothing was adjusted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            (
                self.unknown_side_trades,
                "trade(s) with side unknown read as buys",
            ),
            (
                self.non_numeric_trade_ids,
                "trade(s) with a non-numeric id read with trade_id 0",
            ),
            (
                self.one_sided_quotes,
                "quote row(s) with an empty side skipped",
            ),
        ];
        let mut sep = "";
        for (n, what) in parts.into_iter().filter(|(n, _)| *n > 0) {
            write!(f, "{sep}{n} {what}")?;
            sep = ", ";
        }
        Ok(())
    }
}

/// Splits `line` on `,` into `out` (field ranges, reused). Errors on a quoted field.
pub fn split_fields(line: &[u8], out: &mut Vec<(usize, usize)>) -> Result<(), &'static str> {
    out.clear();
    let mut start = 0;
    for (i, &c) in line.iter().enumerate() {
        if c == b',' {
            out.push((start, i));
            start = i + 1;
        }
    }
    out.push((start, line.len()));
    if out
        .iter()
        .any(|&(s, e)| line[s..e].trim_ascii_start().first() == Some(&b'"'))
    {
        return Err("quoted fields are not supported");
    }
    Ok(())
}

/// Column names of a header line, trimmed.
pub fn header_columns(line: &[u8]) -> Vec<String> {
    line.split(|&c| c == b',')
        .map(|c| String::from_utf8_lossy(c.trim_ascii()).into_owned())
        .collect()
}

/// Header of the plain quotes layout.
pub const QUOTES_HEADER: &str = "ts_ns,symbol,bid_px,bid_qty,ask_px,ask_qty";
/// Header of the plain trades layout.
pub const TRADES_HEADER: &str = "ts_ns,symbol,px,qty,side";

/// Which plain layout a file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvKind {
    /// `ts_ns,symbol,bid_px,bid_qty,ask_px,ask_qty`.
    Quotes,
    /// `ts_ns,symbol,px,qty,side`.
    Trades,
}

impl CsvKind {
    /// The layout named by a header line, if it is one of the two.
    pub fn from_header(line: &[u8]) -> Option<CsvKind> {
        let cols = header_columns(line);
        let joined = cols.join(",");
        match joined.as_str() {
            QUOTES_HEADER => Some(CsvKind::Quotes),
            TRADES_HEADER => Some(CsvKind::Trades),
            _ => None,
        }
    }
}

/// Streams events from a plain quotes or trades CSV. See the module docs.
pub struct CsvReader {
    lines: Lines,
    kind: CsvKind,
    symbols: Symbols,
    fields: Vec<(usize, usize)>,
}

impl CsvReader {
    /// Opens a file and reads its header.
    pub fn open(path: &Path, symbols: Symbols) -> Result<CsvReader, FeedError> {
        CsvReader::from_lines(Lines::open(path)?, symbols)
    }

    /// Reads from an already opened stream (header first); `path` names it in errors.
    pub fn from_reader(
        path: &Path,
        reader: Box<dyn BufRead + Send>,
        symbols: Symbols,
    ) -> Result<CsvReader, FeedError> {
        CsvReader::from_lines(Lines::new(path, reader), symbols)
    }

    fn from_lines(mut lines: Lines, symbols: Symbols) -> Result<CsvReader, FeedError> {
        if !lines.next_line()? {
            return Err(lines.malformed("empty file: expected a header line"));
        }
        let kind = CsvKind::from_header(&lines.buf).ok_or_else(|| {
            lines.malformed(format!(
                "unknown header {:?}; expected {QUOTES_HEADER:?} or {TRADES_HEADER:?}",
                String::from_utf8_lossy(&lines.buf)
            ))
        })?;
        Ok(CsvReader {
            lines,
            kind,
            symbols,
            fields: Vec::with_capacity(8),
        })
    }

    /// The layout.
    pub fn kind(&self) -> CsvKind {
        self.kind
    }

    /// The symbol table (with learned symbols).
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// Number of the last line read.
    pub fn line_number(&self) -> u64 {
        self.lines.line
    }

    /// The next event as `(ts ns, venue ts (0), event)`; `None` at the end. Errors
    /// name the file and line; reading should stop at the first one.
    pub fn next_event(&mut self) -> Option<Result<(u64, u64, Event), FeedError>> {
        match self.lines.next_line() {
            Ok(true) => Some(self.parse_row()),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    fn parse_row(&mut self) -> Result<(u64, u64, Event), FeedError> {
        let l = &self.lines;
        split_fields(&l.buf, &mut self.fields).map_err(|r| l.malformed(r))?;
        let want = match self.kind {
            CsvKind::Quotes => 6,
            CsvKind::Trades => 5,
        };
        if self.fields.len() != want {
            return Err(l.malformed(format!(
                "expected {want} fields, found {}",
                self.fields.len()
            )));
        }
        let f = |i: usize| {
            let (s, e) = self.fields[i];
            &l.buf[s..e]
        };
        let ts = l.uint("ts_ns", f(0))?;
        let sym = f(1).trim_ascii();
        if sym.is_empty() {
            return Err(l.malformed("empty symbol"));
        }
        let instrument = self
            .symbols
            .resolve(sym)
            .ok_or_else(|| l.unknown_symbol(sym))?;
        let event = match self.kind {
            CsvKind::Quotes => Event::BookTicker(BookTicker {
                instrument,
                bid_px: l.dec("bid_px", f(2))?,
                bid_qty: l.dec("bid_qty", f(3))?,
                ask_px: l.dec("ask_px", f(4))?,
                ask_qty: l.dec("ask_qty", f(5))?,
                update_id: 0,
            }),
            CsvKind::Trades => {
                let side = f(4).trim_ascii();
                let aggressor = if side.eq_ignore_ascii_case(b"buy") {
                    Side::Buy
                } else if side.eq_ignore_ascii_case(b"sell") {
                    Side::Sell
                } else {
                    return Err(l.malformed(format!(
                        "side must be buy or sell, not {:?}",
                        String::from_utf8_lossy(side)
                    )));
                };
                Event::Trade(Trade {
                    instrument,
                    px: l.dec("px", f(2))?,
                    qty: l.dec("qty", f(3))?,
                    aggressor,
                    trade_id: 0,
                })
            }
        };
        Ok((ts, 0, event))
    }
}

/// Reads `path`'s first non-blank, non-comment line (for format detection).
pub fn first_line(path: &Path) -> io::Result<Vec<u8>> {
    let mut lines = Lines::open(path).map_err(|e| io::Error::other(e.to_string()))?;
    match lines.next_line() {
        Ok(true) => Ok(std::mem::take(&mut lines.buf)),
        Ok(false) => Ok(Vec::new()),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &str, symbols: Symbols) -> Result<CsvReader, FeedError> {
        CsvReader::from_reader(
            Path::new("t.csv"),
            Box::new(io::Cursor::new(text.as_bytes().to_vec())),
            symbols,
        )
    }

    #[test]
    fn symbols_ignore_case_and_slash() {
        assert!(same_symbol(b"BTC/USDT", b"btcusdt"));
        assert!(!same_symbol(b"BTCUSDT", b"BTCUSD"));
        let mut s = Symbols::learning();
        assert_eq!(s.resolve(b"eth/usdt"), Some(0));
        assert_eq!(s.resolve(b"BTCUSDT"), Some(1));
        assert_eq!(s.resolve(b"ETHUSDT"), Some(0));
        assert_eq!(s.name(0), Some("ETHUSDT"));
        let mut f = Symbols::fixed(&[("BTCUSDT".into(), 3)]);
        assert_eq!(f.resolve(b"btcusdt"), Some(3));
        assert_eq!(f.resolve(b"X"), None);
    }

    #[test]
    fn reads_quotes_and_trades() {
        let mut r = reader(
            "\u{feff}ts_ns,symbol,bid_px,bid_qty,ask_px,ask_qty\r\n# comment\n\n5,BTCUSDT,1.5,2,1.6,3\n",
            Symbols::learning(),
        )
        .unwrap();
        assert_eq!(r.kind(), CsvKind::Quotes);
        let (ts, _, e) = r.next_event().unwrap().unwrap();
        assert_eq!(ts, 5);
        assert!(matches!(e, Event::BookTicker(t) if t.ask_px == Dec::parse("1.6").unwrap()));
        assert!(r.next_event().is_none());
        let mut r = reader(
            "ts_ns,symbol,px,qty,side\n7,BTCUSDT,10.25,0.5,SELL\n",
            Symbols::learning(),
        )
        .unwrap();
        let (_, _, e) = r.next_event().unwrap().unwrap();
        assert!(matches!(e, Event::Trade(t) if t.aggressor == Side::Sell));
    }

    #[test]
    fn errors_name_the_line() {
        let mut r = reader(
            "ts_ns,symbol,px,qty,side\n1,A,1,1,buy\n2,A,1.x,1,buy\n3,A,\"1\",1,buy\n4,A,1,1\n",
            Symbols::learning(),
        )
        .unwrap();
        assert!(r.next_event().unwrap().is_ok());
        let e = r.next_event().unwrap().unwrap_err().to_string();
        assert!(e.starts_with("t.csv:3:") && e.contains("\"px\""), "{e}");
        let e = r.next_event().unwrap().unwrap_err().to_string();
        assert!(e.starts_with("t.csv:4:") && e.contains("quoted"), "{e}");
        let e = r.next_event().unwrap().unwrap_err().to_string();
        assert!(
            e.starts_with("t.csv:5:") && e.contains("expected 5 fields"),
            "{e}"
        );
        let e = reader("a,b\n", Symbols::learning())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown header"), "{e}");
        let mut r = reader(
            "ts_ns,symbol,px,qty,side\n1,X,1,1,buy\n",
            Symbols::fixed(&[]),
        )
        .unwrap();
        let e = r.next_event().unwrap().unwrap_err();
        assert!(matches!(e, FeedError::UnknownSymbol { line: 2, .. }), "{e}");
    }
}
