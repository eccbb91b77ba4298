//! `kestrel import FILE... DIR`: turns recorded market data into a journal that
//! `kestrel replay` (and backtests) read like one written by `kestrel run`.
//!
//! Formats, detected per file from its content (gzip is undone first, so `.csv.gz`
//! works too):
//!
//! | detected by | format | reader |
//! |---|---|---|
//! | lines `<ts_ns> {json}` | hftbacktest Binance capture | [`RecordedFeed`] |
//! | header `ts_ns,symbol,bid_px,...` / `ts_ns,symbol,px,qty,side` | plain CSV | [`CsvReader`] |
//! | header `symbol,timestamp,first_update_id,...` | Binance historical book CSV (NautilusTrader samples) | [`BinanceDepthCsv`] |
//! | magic `PAR1` | NautilusTrader quotes / trades Parquet | [`ParquetReader`] |
//! | header `exchange,symbol,timestamp,local_timestamp,...` | Tardis CSV | [`TardisCsv`] |
//! | name contains `.ws.` / `.http.` | cryptofeed capture | Binance frames and REST depth snapshots; instruments from `--config` |
//!
//! Instruments come from `--config` (none by default). A symbol with no instrument
//! is an error, unless `--infer-instruments` is given: then a first pass reads every
//! file and, per missing symbol, takes tick = 10^-d where d is the most decimal
//! places of any price seen, and lot likewise from the sizes. Decimal places are
//! those of the value (`0.01000000` has 2), so venues that pad with zeros do not
//! shrink the tick. Base and quote are split off by known quote suffixes.
//!
//! Files are merged by event time (k-way, ties go to the earlier file; a multi-chunk
//! depth update is never split by another file's events), passed through
//! [`DepthSync`] exactly like the live runtime, run through a fresh engine (whose
//! outputs are journaled too, so `replay --verify` holds), and appended in batches.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kestrel_engine::config::Config;
use kestrel_engine::num::SCALE;
use kestrel_engine::*;
use kestrel_feeds::csv::{canonical_symbol, Adjustments, CsvKind, CsvReader, Symbols};
use kestrel_feeds::nautilus::{BinanceDepthCsv, ParquetReader, DEPTH_HEADER};
use kestrel_feeds::tardis::{is_tardis_header, TardisCsv};
use kestrel_feeds::{DepthSync, FeedError, RecordedFeed};
use kestrel_journal::{JournalOptions, JournalWriter, Meta};

/// Inputs per journal append (one LMDB write transaction).
const BATCH: usize = 4096;

/// Arguments of `kestrel import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Config whose [[instruments]] (and session, venue, balances) the journal uses;
    /// controllers are dropped. Default: no instruments.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Infer a spec for symbols with no configured instrument from the data's
    /// decimals (reads every file twice).
    #[arg(long)]
    pub infer_instruments: bool,
    /// Session id stored in the journal (default: the config's, else 1).
    #[arg(long)]
    pub session_id: Option<u32>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Data files, then the journal directory to create.
    #[arg(required = true, num_args = 2.., value_names = ["FILE", "DIR"])]
    pub paths: Vec<PathBuf>,
}

/// A file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Cryptofeed,
    Hft,
    Plain,
    BinanceDepth,
    Parquet,
    Tardis,
}

impl Format {
    /// Readable name of the format.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Hft => "hftbacktest capture",
            Format::Plain => "plain CSV",
            Format::BinanceDepth => "Binance book CSV",
            Format::Parquet => "Parquet",
            Format::Cryptofeed => "cryptofeed capture",
            Format::Tardis => "Tardis CSV",
        }
    }
}

/// Counts bytes read from the file (compressed bytes for gzip) for the progress bar.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// Opens a file as text lines, undoing gzip (by magic bytes), counting bytes read.
fn open_text(path: &Path, n: Arc<AtomicU64>) -> Result<Box<dyn BufRead + Send>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 16, Counting { inner: f, n });
    let gz = r.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(r),
        ))
    } else {
        Box::new(r)
    })
}

/// A cryptofeed capture error as a feed error (same file and line).
fn capture_error(e: kestrel_feeds::binance::CaptureError) -> FeedError {
    use kestrel_feeds::binance::CaptureError as C;
    match e {
        C::Io { file, line, source } => FeedError::Io { file, line, source },
        C::Format { file, line, reason } => FeedError::Malformed {
            file,
            line,
            reason: reason.to_string(),
        },
        C::Parse { file, line, source } => match source {
            kestrel_feeds::binance::ParseError::UnknownSymbol(symbol) => {
                FeedError::UnknownSymbol { file, line, symbol }
            }
            other => FeedError::Malformed {
                file,
                line,
                reason: other.to_string(),
            },
        },
    }
}

/// Detects a file's format (see the module docs).
fn detect(path: &Path) -> Result<Format> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.contains(".ws.") || name.contains(".http.") {
        return Ok(Format::Cryptofeed);
    }
    let mut magic = [0u8; 4];
    let k = File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if k == 4 && &magic == b"PAR1" {
        return Ok(Format::Parquet);
    }
    let mut lines = kestrel_feeds::csv::Lines::new(path, open_text(path, Arc::default())?);
    if !lines.next_line().map_err(|e| anyhow!("{e}"))? {
        bail!("{}: file is empty", path.display());
    }
    let line = &lines.buf;
    let digits = line.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && line[digits..].trim_ascii_start().starts_with(b"{") {
        return Ok(Format::Hft);
    }
    if CsvKind::from_header(line).is_some() {
        return Ok(Format::Plain);
    }
    if kestrel_feeds::csv::header_columns(line).join(",") == DEPTH_HEADER {
        return Ok(Format::BinanceDepth);
    }
    if is_tardis_header(line) {
        return Ok(Format::Tardis);
    }
    let shown: String = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
    bail!(
        "{}: unknown data format (first line {shown:?}); supported: hftbacktest captures, \
         plain CSV quotes/trades, Binance book CSV, NautilusTrader Parquet, Tardis CSV",
        path.display()
    )
}

/// One open file.
enum Reader {
    Cryptofeed(Box<kestrel_feeds::binance::CryptofeedReader>),
    Hft(Box<RecordedFeed>),
    Plain(CsvReader),
    Depth(BinanceDepthCsv),
    Parquet(Box<ParquetReader>),
    Tardis(TardisCsv),
}

impl Reader {
    fn next_event(&mut self) -> Option<Result<(u64, u64, Event), FeedError>> {
        match self {
            Reader::Cryptofeed(r) => r.next_event().map(|x| x.map_err(capture_error)),
            Reader::Hft(r) => r.next_event(),
            Reader::Plain(r) => r.next_event(),
            Reader::Depth(r) => r.next_event(),
            Reader::Parquet(r) => r.next_event(),
            Reader::Tardis(r) => r.next_event(),
        }
    }

    /// Rows read with a stand-in value or skipped (readers that count them).
    fn adjustments(&self) -> Adjustments {
        match self {
            Reader::Parquet(r) => r.adjustments(),
            Reader::Tardis(r) => r.adjustments(),
            _ => Adjustments::default(),
        }
    }

    /// The symbol of an instrument id, for readers that learn symbols.
    fn symbol_of(&self, id: InstrumentId, hft: &[(String, InstrumentId)]) -> Option<String> {
        let s = match self {
            Reader::Hft(_) | Reader::Cryptofeed(_) => {
                return hft.iter().find(|(_, i)| *i == id).map(|(s, _)| s.clone())
            }
            Reader::Plain(r) => r.symbols(),
            Reader::Depth(r) => r.symbols(),
            Reader::Parquet(r) => r.symbols(),
            Reader::Tardis(r) => r.symbols(),
        };
        s.name(id).map(str::to_owned)
    }
}

/// One input file.
pub(crate) struct Input1 {
    pub(crate) path: PathBuf,
    pub(crate) format: Format,
    pub(crate) size: u64,
    read: Arc<AtomicU64>,
}

impl Input1 {
    /// Opens the file with a symbol table (fixed, or learning when `symbols` is `None`).
    fn open(&self, symbols: Option<&[(String, InstrumentId)]>, infer_hint: bool) -> Result<Reader> {
        self.read.store(0, Ordering::Relaxed);
        let table = || match symbols {
            Some(s) => Symbols::fixed(s),
            None => Symbols::learning(),
        };
        let fe = |e: FeedError| feed_error(e, infer_hint);
        Ok(match self.format {
            Format::Hft => {
                let text = open_text(&self.path, self.read.clone())?;
                Reader::Hft(Box::new(RecordedFeed::from_reader(
                    &self.path,
                    text,
                    symbols.unwrap_or(&[]),
                )))
            }
            Format::Plain => Reader::Plain(
                CsvReader::from_reader(
                    &self.path,
                    open_text(&self.path, self.read.clone())?,
                    table(),
                )
                .map_err(fe)?,
            ),
            Format::BinanceDepth => Reader::Depth(
                BinanceDepthCsv::from_reader(
                    &self.path,
                    open_text(&self.path, self.read.clone())?,
                    table(),
                )
                .map_err(fe)?,
            ),
            Format::Tardis => Reader::Tardis(
                TardisCsv::from_reader(
                    &self.path,
                    open_text(&self.path, self.read.clone())?,
                    table(),
                )
                .map_err(fe)?,
            ),
            Format::Cryptofeed => {
                let symbols = symbols.filter(|s| !s.is_empty()).ok_or_else(|| {
                    anyhow!(
                        "{}: cryptofeed captures need the instruments from --config \
                         (--infer-instruments does not read them)",
                        self.path.display()
                    )
                })?;
                Reader::Cryptofeed(Box::new(
                    kestrel_feeds::binance::CryptofeedReader::open(&self.path, symbols)
                        .map_err(|e| anyhow!("{e}"))?,
                ))
            }
            Format::Parquet => {
                let sym = symbol_from_file_name(&self.path);
                Reader::Parquet(Box::new(
                    ParquetReader::open(&self.path, table(), sym.as_deref()).map_err(fe)?,
                ))
            }
        })
    }

    /// Bytes of the file processed so far.
    fn progress(&self, reader: &Reader) -> u64 {
        match reader {
            Reader::Parquet(p) => {
                let (row, total) = p.progress();
                self.size * row / total.max(1)
            }
            _ => self.read.load(Ordering::Relaxed),
        }
    }
}

/// `btcusdt-trades.parquet` → `BTCUSDT`: the text before the first `-`, `_` or `.`.
fn symbol_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let sym = name.split(['-', '_', '.']).next()?;
    (!sym.is_empty()).then(|| canonical_symbol(sym.as_bytes()))
}

/// Turns a reader error into the message the user sees; a missing instrument gets
/// the instruction to configure it (and, for `kestrel import`, to infer it).
fn feed_error(e: FeedError, infer_hint: bool) -> anyhow::Error {
    match &e {
        FeedError::UnknownSymbol { file, line, symbol } => anyhow!(
            "instrument {} is not configured; add it under [[instruments]]{} (first seen at {}:{line})",
            canonical_symbol(symbol.as_bytes()),
            if infer_hint {
                " or pass --infer-instruments"
            } else {
                ""
            },
            file.display()
        ),
        _ => anyhow!("{e}"),
    }
}

/// Decimal places of a value (trailing zeros do not count).
fn decimals(d: Dec) -> u32 {
    let mut raw = d.raw().unsigned_abs();
    if raw == 0 {
        return 0;
    }
    let mut places = kestrel_engine::num::DECIMALS;
    while places > 0 && raw.is_multiple_of(10) {
        raw /= 10;
        places -= 1;
    }
    places
}

/// Most decimal places seen per symbol: (price, size, events).
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    px: u32,
    qty: u32,
    events: u64,
}

impl Seen {
    fn add(&mut self, e: &Event) {
        let mut px = |d: Dec| self.px = self.px.max(decimals(d));
        match e {
            Event::BookTicker(t) => {
                px(t.bid_px);
                px(t.ask_px);
            }
            Event::Trade(t) => px(t.px),
            Event::Depth(d) => d.levels().iter().for_each(|l| px(l.px)),
            Event::Kline(k) => [k.open, k.high, k.low, k.close].into_iter().for_each(px),
            _ => {}
        }
        let mut qty = |d: Dec| self.qty = self.qty.max(decimals(d));
        match e {
            Event::BookTicker(t) => {
                qty(t.bid_qty);
                qty(t.ask_qty);
            }
            Event::Trade(t) => qty(t.qty),
            Event::Depth(d) => d.levels().iter().for_each(|l| qty(l.qty)),
            Event::Kline(k) => qty(k.volume),
            _ => {}
        }
        self.events += 1;
    }
}

/// Quote assets recognised at the end of a symbol, in order of preference (`USD`
/// before `TUSD`, so `XBTUSD` is XBT/USD).
const QUOTES: [&str; 17] = [
    "FDUSD", "USDT", "USDC", "BUSD", "USDP", "USD", "TUSD", "BTC", "ETH", "BNB", "EUR", "GBP",
    "TRY", "BRL", "JPY", "DAI", "AUD",
];

/// Splits a symbol into (base, quote): by a `-`/`_` separator when the part after it
/// is a known quote, else by a known quote suffix; otherwise quote `USD` is assumed
/// (base = the part before any separator).
fn split_symbol(sym: &str) -> (String, String) {
    if let Some((a, b)) = sym.split_once(['-', '_']) {
        if QUOTES.contains(&b) && !a.is_empty() {
            return (a.to_string(), b.to_string());
        }
    }
    for q in QUOTES {
        if let Some(base) = sym.strip_suffix(q) {
            if !base.is_empty() && !base.contains(['-', '_']) {
                return (base.to_string(), q.to_string());
            }
        }
    }
    let base = sym.split(['-', '_']).next().unwrap_or(sym);
    (base.to_string(), "USD".to_string())
}

/// An instrument spec from the decimals seen.
fn inferred_spec(sym: &str, seen: Seen) -> InstrumentSpec {
    let step = |d: u32| Dec(SCALE / 10i64.pow(d.min(9)));
    let (base, quote) = split_symbol(sym);
    InstrumentSpec {
        symbol: sym.to_string(),
        base,
        quote,
        tick_size: step(seen.px),
        lot_size: step(seen.qty),
        min_qty: Dec::ZERO,
        min_notional: Dec::ZERO,
        market: Default::default(),
        leverage: 1,
    }
}

/// Symbols named in the first lines of an hftbacktest capture (`"s":"..."` or the
/// stream name before `@`), upper-cased.
fn peek_hft_symbols(file: &Input1) -> Result<Vec<String>> {
    let mut lines =
        kestrel_feeds::csv::Lines::new(&file.path, open_text(&file.path, Arc::default())?);
    let mut out: Vec<String> = Vec::new();
    let mut n = 0;
    while n < 5000 && lines.next_line().map_err(|e| anyhow!("{e}"))? {
        n += 1;
        let l = &lines.buf;
        for key in [&b"\"stream\":\""[..], &b"\"s\":\""[..]] {
            if let Some(p) = l.windows(key.len()).position(|w| w == key) {
                let rest = &l[p + key.len()..];
                let end = rest
                    .iter()
                    .position(|&c| c == b'"' || c == b'@')
                    .unwrap_or(rest.len());
                let sym = canonical_symbol(&rest[..end]);
                if !sym.is_empty() && !out.contains(&sym) {
                    out.push(sym);
                }
            }
        }
    }
    Ok(out)
}

/// The pre-scan of `--infer-instruments`: decimals per symbol over every file.
fn scan(files: &[Input1], bar: &ProgressBar) -> Result<BTreeMap<String, Seen>> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut done = 0u64;
    bar.set_message("scanning for --infer-instruments");
    for f in files {
        let mut hft: Vec<(String, InstrumentId)> = Vec::new();
        if f.format == Format::Hft {
            for (i, s) in peek_hft_symbols(f)?.into_iter().enumerate() {
                hft.push((s, i as InstrumentId));
            }
        }
        // Per-file ids; an hftbacktest capture is restarted when it shows a symbol the
        // peek missed.
        'restart: loop {
            let mut local: Vec<Seen> = Vec::new();
            let mut reader = f.open((f.format == Format::Hft).then_some(hft.as_slice()), true)?;
            let mut n = 0u64;
            while let Some(r) = reader.next_event() {
                let (_, _, e) = match r {
                    Ok(v) => v,
                    Err(FeedError::UnknownSymbol { symbol, .. }) if f.format == Format::Hft => {
                        let id = hft.len() as InstrumentId;
                        hft.push((canonical_symbol(symbol.as_bytes()), id));
                        continue 'restart;
                    }
                    Err(e) => return Err(feed_error(e, true)),
                };
                let Some(id) = instrument_of(&e) else {
                    continue;
                };
                if local.len() <= id as usize {
                    local.resize(id as usize + 1, Seen::default());
                }
                local[id as usize].add(&e);
                n += 1;
                if n.is_multiple_of(BATCH as u64) {
                    bar.set_position(done + f.progress(&reader));
                }
            }
            for (id, s) in local.iter().enumerate() {
                if s.events == 0 {
                    continue;
                }
                let name = reader
                    .symbol_of(id as InstrumentId, &hft)
                    .ok_or_else(|| anyhow!("internal: no symbol for instrument {id}"))?;
                let e = seen.entry(name).or_default();
                e.px = e.px.max(s.px);
                e.qty = e.qty.max(s.qty);
                e.events += s.events;
            }
            break;
        }
        done += f.size;
        bar.set_position(done);
    }
    Ok(seen)
}

fn instrument_of(e: &Event) -> Option<InstrumentId> {
    match e {
        Event::BookTicker(t) => Some(t.instrument),
        Event::Trade(t) => Some(t.instrument),
        Event::Depth(d) => Some(d.instrument),
        Event::Kline(k) => Some(k.instrument),
        _ => None,
    }
}

/// One merge input: a reader and its next event.
struct Head {
    reader: Reader,
    next: Option<(u64, u64, Event)>,
    /// Suggest `--infer-instruments` for a missing instrument.
    infer_hint: bool,
}

impl Head {
    fn advance(&mut self) -> Result<()> {
        let hint = self.infer_hint;
        self.next = self
            .reader
            .next_event()
            .transpose()
            .map_err(|e| feed_error(e, hint))?;
        Ok(())
    }
}

/// Data files with their detected formats (see the module docs).
///
/// # Errors
///
/// A file that cannot be read, is empty, or has an unknown format.
pub(crate) fn data_files(paths: &[PathBuf]) -> Result<Vec<Input1>> {
    let mut files = Vec::new();
    for p in paths {
        let size = std::fs::metadata(p)
            .with_context(|| format!("cannot read data file {}", p.display()))?
            .len();
        files.push(Input1 {
            path: p.clone(),
            format: detect(p)?,
            size,
            read: Arc::default(),
        });
    }
    Ok(files)
}

/// Market data of several files merged by event time (k-way, ties to the earlier
/// file; a multi-chunk depth update is never split) and passed through [`DepthSync`]
/// exactly like the live runtime: what `kestrel import` journals and `kestrel
/// backtest` replays.
pub(crate) struct Merged {
    files: Vec<Input1>,
    heads: Vec<Head>,
    sync: DepthSync,
    ready: VecDeque<(u64, u64, Event)>,
    sticky: Option<usize>,
    /// Events read from the files (before depth sync).
    pub(crate) read: u64,
}

impl Merged {
    /// Opens every file with the instrument table `symbols` and reads each file's
    /// first event, so a missing instrument is reported before anything else.
    ///
    /// # Errors
    ///
    /// A file that cannot be opened, a malformed first record, or a symbol that is
    /// not in `symbols` (the message says how to configure it, and suggests
    /// `--infer-instruments` when `infer_hint`).
    pub(crate) fn open(
        files: Vec<Input1>,
        symbols: &[(String, InstrumentId)],
        infer_hint: bool,
    ) -> Result<Merged> {
        let mut heads = Vec::with_capacity(files.len());
        for f in &files {
            let mut h = Head {
                reader: f.open(Some(symbols), infer_hint)?,
                next: None,
                infer_hint,
            };
            h.advance()?;
            heads.push(h);
        }
        Ok(Merged {
            files,
            heads,
            sync: DepthSync::new(),
            ready: VecDeque::with_capacity(1024),
            sticky: None,
            read: 0,
        })
    }

    /// The files, in the order given.
    pub(crate) fn files(&self) -> &[Input1] {
        &self.files
    }

    /// Per file, the rows its reader delivered with a stand-in value or skipped.
    pub(crate) fn adjustments(&self) -> impl Iterator<Item = (&Input1, Adjustments)> {
        self.files
            .iter()
            .zip(self.heads.iter().map(|h| h.reader.adjustments()))
    }

    /// Total size of the files in bytes.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Bytes processed so far (compressed bytes for gzip), for a progress bar.
    pub(crate) fn position(&self) -> u64 {
        self.files
            .iter()
            .zip(self.heads.iter())
            .map(|(f, h)| f.progress(&h.reader))
            .sum()
    }

    /// The next event as (event ts, venue ts, event); `None` at the end of the data.
    ///
    /// # Errors
    ///
    /// A malformed record or an I/O error, with the file and line.
    pub(crate) fn next_event(&mut self) -> Result<Option<(u64, u64, Event)>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(Some(e));
            }
            // Pick the source: the one mid-way through a depth update, else the earliest.
            let pick = self.sticky.or_else(|| {
                self.heads
                    .iter()
                    .enumerate()
                    .filter_map(|(i, h)| h.next.as_ref().map(|n| (n.0, i)))
                    .min()
                    .map(|(_, i)| i)
            });
            let Some(i) = pick else {
                return Ok(None);
            };
            let Some((ts, venue_ts, event)) = self.heads[i].next.take() else {
                self.sticky = None;
                continue;
            };
            self.sticky = match &event {
                Event::Depth(d) if !d.last_chunk => Some(i),
                _ => None,
            };
            self.heads[i].advance()?;
            self.read += 1;
            self.sync.push(ts, venue_ts, event, &mut self.ready);
        }
    }
}

/// What was journaled.
#[derive(Debug, Default)]
struct Counts {
    tickers: u64,
    trades: u64,
    depth_snapshots: u64,
    depth_diffs: u64,
    depth_chunks: u64,
    klines: u64,
    other: u64,
    read: u64,
    outputs: u64,
    backwards: u64,
    first_ts: Option<u64>,
    last_ts: u64,
}

/// `YYYY-MM-DD HH:MM:SS.mmm UTC` of ns since the epoch.
pub(crate) fn utc(ts: u64) -> String {
    let secs = ts / 1_000_000_000;
    let ms = (ts / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{ms:03} UTC",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Runs the merged, synced events through the engine and appends everything to the
/// journal. Returns the counts and the last input seq.
fn pump(
    source: &mut Merged,
    engine: &mut Engine,
    writer: &mut JournalWriter,
    start: SessionStart,
    bar: &ProgressBar,
) -> Result<(Counts, u64)> {
    bar.set_message("importing");
    let mut inputs: Vec<Input> = Vec::with_capacity(BATCH);
    let mut outputs: Vec<Output> = Vec::with_capacity(BATCH);
    let mut seq = 1u64;
    let first = Input {
        header: Header {
            seq,
            source: Source::Session,
            ..Header::default()
        },
        event: Event::SessionStart(start),
    };
    outputs.extend_from_slice(engine.apply(&first));
    inputs.push(first);

    let mut c = Counts::default();
    while let Some((ts, venue_ts, event)) = source.next_event()? {
        seq += 1;
        match &event {
            Event::BookTicker(_) => c.tickers += 1,
            Event::Trade(_) => c.trades += 1,
            Event::Depth(d) => {
                c.depth_chunks += 1;
                if d.last_chunk {
                    if d.snapshot {
                        c.depth_snapshots += 1;
                    } else {
                        c.depth_diffs += 1;
                    }
                }
            }
            Event::Kline(_) => c.klines += 1,
            _ => c.other += 1,
        }
        if ts < c.last_ts {
            c.backwards += 1;
        }
        c.first_ts.get_or_insert(ts);
        c.last_ts = c.last_ts.max(ts);
        let input = Input {
            header: Header {
                seq,
                source: Source::Feed,
                ts,
                recv_ns: 0,
                publish_ns: 0,
                venue_ts,
            },
            event,
        };
        outputs.extend_from_slice(engine.apply(&input));
        inputs.push(input);
        if inputs.len() >= BATCH {
            writer
                .append(&inputs, &outputs, &[])
                .context("journal append failed")?;
            c.outputs += outputs.len() as u64;
            inputs.clear();
            outputs.clear();
            bar.set_position(source.position());
        }
    }
    writer
        .append(&inputs, &outputs, &[])
        .context("journal append failed")?;
    c.outputs += outputs.len() as u64;
    c.read = source.read;
    Ok((c, seq))
}

/// Runs `kestrel import`. Prints a summary on stdout.
pub fn run(args: ImportArgs) -> Result<()> {
    let started = Instant::now();
    let (dir, paths) = args
        .paths
        .split_last()
        .ok_or_else(|| anyhow!("usage: kestrel import FILE... DIR"))?;
    if paths.is_empty() {
        bail!("usage: kestrel import FILE... DIR (no data file given)");
    }
    if dir.is_file() {
        bail!(
            "{} is a file; the last argument is the journal directory to create",
            dir.display()
        );
    }
    let files = data_files(paths)?;

    let mut cfg: Config = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config {}", p.display()))?;
            toml::from_str(&text).map_err(|e| anyhow!("{}: invalid config: {e}", p.display()))?
        }
        None => toml::from_str("").map_err(|e| anyhow!("default config: {e}"))?,
    };
    let dropped_controllers = cfg.controllers.len();
    cfg.controllers.clear();
    if let Some(id) = args.session_id {
        cfg.session.id = id;
    }

    let total: u64 = files.iter().map(|f| f.size).sum();
    let bar = if args.quiet || !io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };

    let mut inferred = Vec::new();
    if args.infer_instruments {
        let seen = scan(&files, &bar)?;
        for (sym, s) in seen {
            if cfg
                .instruments
                .iter()
                .any(|i| i.symbol.eq_ignore_ascii_case(&sym))
            {
                continue;
            }
            let spec = inferred_spec(&sym, s);
            inferred.push(spec.symbol.clone());
            cfg.instruments.push(spec);
        }
        bar.set_position(0);
    }
    let symbols: Vec<(String, InstrumentId)> = cfg
        .instruments
        .iter()
        .enumerate()
        .map(|(i, s)| (s.symbol.clone(), i as InstrumentId))
        .collect();

    // Reading each file's first event reports a missing instrument before anything
    // else (a config without instruments included).
    let mut source = Merged::open(files, &symbols, true)?;

    cfg.validate().map_err(|e| {
        if cfg.instruments.is_empty() {
            anyhow!("{e}: give --config with [[instruments]] or pass --infer-instruments")
        } else {
            anyhow!("{e}")
        }
    })?;
    let config_toml = cfg.to_toml();
    let start = SessionStart {
        session_id: cfg.session.id,
        seed: cfg.session.seed,
        config: config_toml.clone(),
    };
    let mut engine = Engine::new(&start).map_err(|e| anyhow!("{e}"))?;
    let meta = Meta::new(
        cfg.session.id,
        cfg.session.seed,
        config_toml,
        crate::clock::unix_ns(),
    );
    let opts = JournalOptions {
        fsync: false,
        max_mib: cfg.runtime.journal_max_mib,
    };
    let existed_before = dir.exists();
    let mut writer = JournalWriter::create(dir, &meta, &opts)
        .with_context(|| format!("cannot create journal {}", dir.display()))?;

    let res = pump(&mut source, &mut engine, &mut writer, start, &bar);
    drop(writer);
    let (c, seq) = match res {
        Ok(v) => v,
        Err(e) => {
            bar.finish_and_clear();
            if !existed_before {
                // Leave no half-written journal behind.
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e);
        }
    };
    bar.finish_and_clear();

    let elapsed = started.elapsed().as_secs_f64();
    let journaled = seq - 1;
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "kestrel import: {} file(s) -> {} in {elapsed:.2} s",
        source.files().len(),
        dir.display()
    );
    for (f, adjusted) in source.adjustments() {
        let _ = writeln!(
            s,
            "  {} ({}, {} bytes)",
            f.path.display(),
            f.format.name(),
            f.size
        );
        if !adjusted.is_empty() {
            let _ = writeln!(s, "    note: {adjusted}");
        }
    }
    let _ = writeln!(
        s,
        "  events   tickers {}  trades {}  depth snapshots {}  depth diffs {} ({} chunks)  klines {}",
        c.tickers, c.trades, c.depth_snapshots, c.depth_diffs, c.depth_chunks, c.klines
    );
    let dropped = c.read - journaled.min(c.read);
    if dropped > 0 {
        let _ = writeln!(
            s,
            "  depth sync dropped {dropped} chunk(s): stale, after a gap, or with no snapshot before them"
        );
    }
    if c.backwards > 0 {
        let _ = writeln!(
            s,
            "  {} event(s) are earlier than the one before them (kept in file order)",
            c.backwards
        );
    }
    for spec in &cfg.instruments {
        let how = if inferred.contains(&spec.symbol) {
            "inferred"
        } else {
            "configured"
        };
        let _ = writeln!(
            s,
            "  instrument {} ({}/{}) tick {} lot {} [{how}]",
            spec.symbol, spec.base, spec.quote, spec.tick_size, spec.lot_size
        );
    }
    if let Some(t0) = c.first_ts {
        let _ = writeln!(s, "  time     {} .. {}", utc(t0), utc(c.last_ts));
    }
    let _ = writeln!(
        s,
        "  journal  {} inputs (incl. session start), {} outputs; {:.0} messages/s",
        journaled + 1,
        c.outputs,
        journaled as f64 / elapsed.max(1e-9)
    );
    if dropped_controllers > 0 {
        let _ = writeln!(
            s,
            "  note: {dropped_controllers} controller(s) in the config were left out; the journal holds market data only"
        );
    }
    let _ = writeln!(s, "  next: kestrel replay --verify {}", dir.display());
    print!("{s}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_symbols_by_quote_suffix() {
        let p = |s: &str| split_symbol(s);
        assert_eq!(p("BTCUSDT"), ("BTC".into(), "USDT".into()));
        assert_eq!(p("ETHBTC"), ("ETH".into(), "BTC".into()));
        assert_eq!(p("XBTUSD"), ("XBT".into(), "USD".into()));
        assert_eq!(p("ETHBUSD"), ("ETH".into(), "BUSD".into()));
        assert_eq!(p("BTC-USD"), ("BTC".into(), "USD".into()));
        assert_eq!(p("BTC-PERPETUAL"), ("BTC".into(), "USD".into()));
    }

    #[test]
    fn decimals_ignore_trailing_zeros() {
        assert_eq!(decimals(Dec::parse("0.01000000").unwrap()), 2);
        assert_eq!(decimals(Dec::parse("20377.00").unwrap()), 0);
        assert_eq!(decimals(Dec::parse("0.000000001").unwrap()), 9);
        assert_eq!(decimals(Dec::ZERO), 0);
    }

    #[test]
    fn formats_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            utc(1_723_161_255_123_000_000),
            "2024-08-08 23:54:15.123 UTC"
        );
    }
}
