//! Reader for cryptofeed Binance capture files (`sample_data/` of bmoscon/cryptofeed).
//!
//! - WebSocket captures (`BINANCE.ws.1.0`, `BINANCE_FUTURES.ws.1.0`): the first line is
//!   `<wss url> <-> <ts>`, then one `<unix_ts_s>: <raw frame>` line per frame. Other
//!   lines (sent frames `<url> <- <ts>: …`, `configuration: …`) are skipped.
//! - HTTP captures (`BINANCE.http.0.0`, `BINANCE_FUTURES.http.0.0`):
//!   `<url> -> <unix_ts_s>: <body>` lines. Depth snapshots (`…/depth?symbol=X…`) become snapshot chunks for X;
//!   other requests (`exchangeInfo`) and other lines are skipped.
//!
//! Each event comes with the capture's receive time (ns) and the venue event time
//! (`E`, ns; 0 when the message has none). One file per reader.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use kestrel_engine::{Event, InstrumentId};

use super::parser::{MsgKind, Parser};
use super::ParseError;

/// Why a capture line could not be read; every variant names the file and the 1-based
/// line (0 when opening the file failed).
#[derive(Debug)]
pub enum CaptureError {
    /// Reading the file failed; the reader stops.
    Io {
        /// File.
        file: PathBuf,
        /// Line being read.
        line: u64,
        /// Cause.
        source: io::Error,
    },
    /// The line does not have the capture's `<ts>: <frame>` / `<url> -> <ts>: <body>` shape.
    Format {
        /// File.
        file: PathBuf,
        /// Line.
        line: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The message could not be parsed.
    Parse {
        /// File.
        file: PathBuf,
        /// Line.
        line: u64,
        /// Cause.
        source: ParseError,
    },
}

impl CaptureError {
    /// The 1-based line number the error is about.
    pub fn line(&self) -> u64 {
        match self {
            CaptureError::Io { line, .. }
            | CaptureError::Format { line, .. }
            | CaptureError::Parse { line, .. } => *line,
        }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io { file, line, source } => {
                write!(f, "{}:{line}: read error: {source}", file.display())
            }
            CaptureError::Format { file, line, reason } => {
                write!(f, "{}:{line}: {reason}", file.display())
            }
            CaptureError::Parse { file, line, source } => {
                write!(f, "{}:{line}: {source}", file.display())
            }
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaptureError::Io { source, .. } => Some(source),
            CaptureError::Parse { source, .. } => Some(source),
            CaptureError::Format { .. } => None,
        }
    }
}

/// Seconds with a fraction (`1633998512.0633569`) → ns, digits past 1e-9 truncated.
fn parse_ts_s(s: &[u8]) -> Option<u64> {
    let (int, frac) = match s.iter().position(|&c| c == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[][..]),
    };
    if int.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let mut secs: u64 = 0;
    for &c in int {
        secs = secs.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    let mut ns: u64 = 0;
    for i in 0..9 {
        ns = ns * 10 + frac.get(i).map_or(0, |c| (c - b'0') as u64);
    }
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

/// Splits an HTTP capture line `<url> -> <unix_ts_s>: <body>` into the URL, the
/// timestamp in ns and the byte offset where the body starts. `None` if the line does
/// not have that shape.
pub fn split_http_line(line: &[u8]) -> Option<(&str, u64, usize)> {
    let arrow = line.windows(4).position(|w| w == b" -> ")?;
    let url = std::str::from_utf8(&line[..arrow]).ok()?;
    let rest = arrow + 4;
    let colon = rest + line.get(rest..)?.windows(2).position(|w| w == b": ")?;
    let ts = parse_ts_s(&line[rest..colon])?;
    Some((url, ts, colon + 2))
}

/// Splits a WebSocket frame line `<unix_ts_s>: <frame>`.
fn split_ws_line(line: &[u8]) -> Option<(u64, usize)> {
    let colon = line.windows(2).position(|w| w == b": ")?;
    Some((parse_ts_s(&line[..colon])?, colon + 2))
}

/// The `symbol=` query parameter of a URL.
fn url_symbol(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("symbol="))
        .filter(|s| !s.is_empty())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Ws,
    Http,
}

/// Streams engine events from one cryptofeed Binance capture file.
pub struct CryptofeedReader {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: Vec<u8>,
    line_no: u64,
    mode: Option<Mode>,
    parser: Parser,
    events: Vec<Event>,
    next: usize,
    ts: u64,
    venue_ts: u64,
    last_kind: Option<MsgKind>,
    done: bool,
}

impl fmt::Debug for CryptofeedReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptofeedReader")
            .field("path", &self.path)
            .field("line", &self.line_no)
            .finish()
    }
}

impl CryptofeedReader {
    /// Opens a capture; `symbols` maps venue symbols (case-insensitive) to instruments.
    pub fn open(path: &Path, symbols: &[(String, InstrumentId)]) -> Result<Self, CaptureError> {
        let file = File::open(path).map_err(|source| CaptureError::Io {
            file: path.to_path_buf(),
            line: 0,
            source,
        })?;
        Ok(Self::from_reader(
            path,
            Box::new(BufReader::with_capacity(1 << 16, file)),
            symbols,
        ))
    }

    /// Reads an already opened capture; `name` is used in error messages.
    pub fn from_reader(
        name: &Path,
        reader: Box<dyn BufRead + Send>,
        symbols: &[(String, InstrumentId)],
    ) -> Self {
        CryptofeedReader {
            path: name.to_path_buf(),
            reader,
            line: Vec::with_capacity(1 << 16),
            line_no: 0,
            mode: None,
            parser: Parser::new(symbols),
            events: Vec::with_capacity(64),
            next: 0,
            ts: 0,
            venue_ts: 0,
            last_kind: None,
            done: false,
        }
    }

    /// Number of the last line read (1-based).
    pub fn line_number(&self) -> u64 {
        self.line_no
    }

    /// What the message behind the last returned event was.
    pub fn last_kind(&self) -> Option<MsgKind> {
        self.last_kind
    }

    /// The next event as `(capture receive ts ns, venue ts ns (0 if none), event)`.
    /// A line that cannot be parsed yields `Some(Err(..))` and reading goes on with the
    /// next line; after a read error the reader ends. `None` at the end of the file.
    pub fn next_event(&mut self) -> Option<Result<(u64, u64, Event), CaptureError>> {
        loop {
            if let Some(ev) = self.events.get_mut(self.next) {
                self.next += 1;
                return Some(Ok((self.ts, self.venue_ts, std::mem::take(ev))));
            }
            if self.done {
                return None;
            }
            self.events.clear();
            self.next = 0;
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => self.line_no += 1,
                Err(source) => {
                    self.done = true;
                    return Some(Err(CaptureError::Io {
                        file: self.path.clone(),
                        line: self.line_no + 1,
                        source,
                    }));
                }
            }
            while matches!(self.line.last(), Some(b'\n' | b'\r')) {
                self.line.pop();
            }
            if self.line.is_empty() {
                continue;
            }
            if let Err(e) = self.handle_line() {
                return Some(Err(e));
            }
        }
    }

    /// Parses the current line into `self.events` (nothing for skipped lines).
    fn handle_line(&mut self) -> Result<(), CaptureError> {
        let mode = match self.mode {
            Some(m) => m,
            None => {
                let is_ws = (self.line.starts_with(b"wss://") || self.line.starts_with(b"ws://"))
                    && self.line.windows(5).any(|w| w == b" <-> ");
                let m = if is_ws { Mode::Ws } else { Mode::Http };
                self.mode = Some(m);
                if is_ws {
                    return Ok(());
                }
                m
            }
        };
        let line_no = self.line_no;
        let parse_err = |source| CaptureError::Parse {
            file: self.path.clone(),
            line: line_no,
            source,
        };
        let parsed = match mode {
            Mode::Ws => {
                if !self.line.first().is_some_and(u8::is_ascii_digit) {
                    return Ok(()); // header, sent frame or configuration line
                }
                let Some((ts, start)) = split_ws_line(&self.line) else {
                    return Err(CaptureError::Format {
                        file: self.path.clone(),
                        line: line_no,
                        reason: "expected `<unix_ts_s>: <frame>`",
                    });
                };
                self.ts = ts;
                self.parser
                    .parse(&mut self.line[start..], &mut self.events)
                    .map_err(parse_err)?
            }
            Mode::Http => {
                let Some((url, ts, start)) = split_http_line(&self.line) else {
                    return Ok(()); // `configuration: …` and other non-request lines
                };
                let path = url.split('?').next().unwrap_or(url);
                if !path.ends_with("/depth") {
                    return Ok(());
                }
                let Some(symbol) = url_symbol(url) else {
                    return Err(CaptureError::Format {
                        file: self.path.clone(),
                        line: line_no,
                        reason: "depth request URL without a symbol parameter",
                    });
                };
                let instrument = self
                    .parser
                    .lookup(symbol)
                    .ok_or_else(|| parse_err(ParseError::UnknownSymbol(symbol.to_owned())))?;
                self.ts = ts;
                self.parser
                    .parse_snapshot(&mut self.line[start..], instrument, &mut self.events)
                    .map_err(parse_err)?
            }
        };
        self.venue_ts = parsed.venue_ts;
        self.last_kind = Some(parsed.kind);
        Ok(())
    }
}
