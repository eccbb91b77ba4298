//! Reader for Tardis.dev CSV datasets (the `datasets` API downloads).
//!
//! Every file starts `exchange,symbol,timestamp,local_timestamp,...`. `timestamp` is
//! the exchange's time and `local_timestamp` Tardis's receive time, both µs since the
//! epoch. The event's `ts` is `local_timestamp` (as with the hftbacktest captures, it
//! is when the data arrived) and `venue_ts` is `timestamp` (0 when empty). The
//! remaining columns tell the data type:
//!
//! | data type | columns after `local_timestamp` | events |
//! |---|---|---|
//! | `trades` | `id,side,price,amount` | [`Event::Trade`]; `side` is the aggressor (`buy`/`sell`; `unknown` is read as buy and counted); `trade_id` = `id` when numeric, 0 when empty, else 0 and counted |
//! | `quotes` | `ask_amount,ask_price,bid_price,bid_amount` (any order) | [`Event::BookTicker`]; rows with an empty side (price and amount both empty) are skipped and counted |
//! | `incremental_book_L2` | `is_snapshot,side,price,amount` | [`Event::Depth`]: consecutive rows with the same symbol, `is_snapshot` and `local_timestamp` form one update (a snapshot when `is_snapshot` is `true`); amount 0 removes a level |
//! | `book_snapshot_N` (5, 25, ...) | `asks[0].price,asks[0].amount,bids[0].price,...` | [`Event::Depth`] snapshot per row, top N per side (empty levels skipped) |
//!
//! Other data types (`derivative_ticker`, `liquidations`, `options_chain`) have no
//! Kestrel event and are refused with a clear error. What was counted is in
//! [`TardisCsv::adjustments`].
//!
//! Tardis rows carry no venue update ids. So that depth passes
//! [`DepthSync`](crate::DepthSync) in file order, the reader numbers the updates of
//! each instrument 1, 2, 3, ...: a snapshot has both ids = n, a diff has
//! `U` = `u` = n and no `pu` (the spot continuity rule).

use std::io::BufRead;
use std::path::Path;

use kestrel_engine::{BookTicker, Depth, Event, InstrumentId, Level, Side, Trade, DEPTH_CHUNK};

use crate::csv::{header_columns, split_fields, text_trade_id, Adjustments, Lines, Symbols};
use crate::recorded::FeedError;

/// The Tardis data type of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TardisKind {
    /// `trades`.
    Trades,
    /// `quotes`.
    Quotes,
    /// `incremental_book_L2`.
    IncrementalL2,
    /// `book_snapshot_N` with N levels per side.
    BookSnapshot(usize),
}

/// Column positions.
#[derive(Clone, Debug, Default)]
struct Cols {
    /// `id` / `is_snapshot` / `ask_amount`.
    a: usize,
    /// `side` / `ask_price`.
    b: usize,
    /// `price` / `bid_price`.
    c: usize,
    /// `amount` / `bid_amount`.
    d: usize,
    /// Snapshot levels: (side, price column, amount column).
    levels: Vec<(Side, usize, usize)>,
    count: usize,
}

/// True when a header line is a Tardis CSV header.
pub fn is_tardis_header(line: &[u8]) -> bool {
    let cols = header_columns(line);
    cols.len() > 4
        && cols[0] == "exchange"
        && cols[1] == "symbol"
        && cols[2] == "timestamp"
        && cols[3] == "local_timestamp"
}

/// One parsed incremental row.
#[derive(Clone, Copy, Debug)]
struct L2Row {
    instrument: InstrumentId,
    ts: u64,
    venue_ts: u64,
    snapshot: bool,
    level: Level,
}

/// Streams Kestrel events from a Tardis CSV file. See the module docs.
pub struct TardisCsv {
    lines: Lines,
    kind: TardisKind,
    symbols: Symbols,
    fields: Vec<(usize, usize)>,
    cols: Cols,
    /// Next update id per instrument.
    ids: Vec<u64>,
    /// Levels of the update being delivered.
    levels: Vec<Level>,
    /// (instrument, ts, venue_ts, snapshot, update id) of that update.
    group: Option<(InstrumentId, u64, u64, bool, u64)>,
    next: usize,
    pending: Option<L2Row>,
    adjusted: Adjustments,
    done: bool,
}

impl TardisCsv {
    /// Opens a file and reads its header.
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
        if !is_tardis_header(&lines.buf) {
            return Err(lines.malformed(
                "not a Tardis CSV header (exchange,symbol,timestamp,local_timestamp,...)",
            ));
        }
        let names = header_columns(&lines.buf);
        let find = |n: &str| names.iter().position(|c| c == n);
        let rest: Vec<&str> = names[4..].iter().map(String::as_str).collect();
        let mut cols = Cols {
            count: names.len(),
            ..Cols::default()
        };
        let kind = if let (Some(a), Some(b), Some(c), Some(d)) =
            (find("id"), find("side"), find("price"), find("amount"))
        {
            (cols.a, cols.b, cols.c, cols.d) = (a, b, c, d);
            TardisKind::Trades
        } else if let (Some(a), Some(b), Some(c), Some(d)) = (
            find("is_snapshot"),
            find("side"),
            find("price"),
            find("amount"),
        ) {
            (cols.a, cols.b, cols.c, cols.d) = (a, b, c, d);
            TardisKind::IncrementalL2
        } else if let (Some(a), Some(b), Some(c), Some(d)) = (
            find("ask_amount"),
            find("ask_price"),
            find("bid_price"),
            find("bid_amount"),
        ) {
            (cols.a, cols.b, cols.c, cols.d) = (a, b, c, d);
            TardisKind::Quotes
        } else if rest
            .first()
            .is_some_and(|c| c.starts_with("asks[") || c.starts_with("bids["))
        {
            let mut n = 0;
            for (side, name) in [(Side::Sell, "asks"), (Side::Buy, "bids")] {
                for i in 0.. {
                    match (
                        find(&format!("{name}[{i}].price")),
                        find(&format!("{name}[{i}].amount")),
                    ) {
                        (Some(p), Some(a)) => cols.levels.push((side, p, a)),
                        _ => {
                            n = n.max(i);
                            break;
                        }
                    }
                }
            }
            // Interleave asks[i], bids[i] back into bids-then-asks order per side.
            cols.levels.sort_by_key(|&(s, p, _)| (s == Side::Sell, p));
            TardisKind::BookSnapshot(n)
        } else {
            return Err(lines.malformed(format!(
                "Tardis data type with columns {rest:?} has no Kestrel event \
                 (supported: trades, quotes, incremental_book_L2, book_snapshot_N)"
            )));
        };
        Ok(TardisCsv {
            lines,
            kind,
            symbols,
            fields: Vec::with_capacity(cols.count),
            cols,
            ids: Vec::new(),
            levels: Vec::with_capacity(64),
            group: None,
            next: 0,
            pending: None,
            adjusted: Adjustments::default(),
            done: false,
        })
    }

    /// The data type.
    pub fn kind(&self) -> TardisKind {
        self.kind
    }

    /// The symbol table (with learned symbols).
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// Rows read so far with a stand-in value or skipped (see the module docs).
    pub fn adjustments(&self) -> Adjustments {
        self.adjusted
    }

    fn next_id(&mut self, i: InstrumentId) -> u64 {
        let i = i as usize;
        if self.ids.len() <= i {
            self.ids.resize(i + 1, 0);
        }
        self.ids[i] += 1;
        self.ids[i]
    }

    /// Splits the current line and reads the common columns: (instrument, ts, venue_ts).
    fn common(&mut self) -> Result<(InstrumentId, u64, u64), FeedError> {
        let l = &self.lines;
        split_fields(&l.buf, &mut self.fields).map_err(|r| l.malformed(r))?;
        if self.fields.len() != self.cols.count {
            return Err(l.malformed(format!(
                "expected {} fields, found {}",
                self.cols.count,
                self.fields.len()
            )));
        }
        let f = |i: usize| {
            let (s, e) = self.fields[i];
            l.buf[s..e].trim_ascii()
        };
        let instrument = self
            .symbols
            .resolve(f(1))
            .ok_or_else(|| l.unknown_symbol(f(1)))?;
        let us = |name: &str, v: &[u8]| -> Result<u64, FeedError> {
            l.uint(name, v)?
                .checked_mul(1_000)
                .ok_or_else(|| l.malformed(format!("{name} out of range")))
        };
        let venue_ts = if f(2).is_empty() {
            0
        } else {
            us("timestamp", f(2))?
        };
        let ts = us("local_timestamp", f(3))?;
        Ok((instrument, ts, venue_ts))
    }

    fn field(&self, i: usize) -> &[u8] {
        let (s, e) = self.fields[i];
        self.lines.buf[s..e].trim_ascii()
    }

    fn side(&self, v: &[u8]) -> Result<Side, FeedError> {
        match v {
            b"buy" | b"bid" => Ok(Side::Buy),
            b"sell" | b"ask" => Ok(Side::Sell),
            other => Err(self.lines.malformed(format!(
                "side must be buy/sell (bid/ask), not {:?}",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    fn read_l2(&mut self) -> Result<Option<L2Row>, FeedError> {
        if !self.lines.next_line()? {
            return Ok(None);
        }
        let (instrument, ts, venue_ts) = self.common()?;
        let c = &self.cols;
        let snapshot = match self.field(c.a) {
            b"true" => true,
            b"false" => false,
            other => {
                return Err(self.lines.malformed(format!(
                    "is_snapshot must be true or false, not {:?}",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        let side = self.side(self.field(c.b))?;
        let level = Level {
            side,
            px: self.lines.dec("price", self.field(c.c))?,
            qty: self.lines.dec("amount", self.field(c.d))?,
        };
        Ok(Some(L2Row {
            instrument,
            ts,
            venue_ts,
            snapshot,
            level,
        }))
    }

    /// Loads the next depth update into `levels`; false at the end.
    fn fill_group(&mut self) -> Result<bool, FeedError> {
        self.levels.clear();
        self.next = 0;
        match self.kind {
            TardisKind::IncrementalL2 => {
                let head = match self.pending.take() {
                    Some(r) => r,
                    None => match self.read_l2()? {
                        Some(r) => r,
                        None => return Ok(false),
                    },
                };
                self.levels.push(head.level);
                loop {
                    match self.read_l2()? {
                        Some(r)
                            if r.instrument == head.instrument
                                && r.snapshot == head.snapshot
                                && r.ts == head.ts =>
                        {
                            self.levels.push(r.level)
                        }
                        other => {
                            self.pending = other;
                            break;
                        }
                    }
                }
                let id = self.next_id(head.instrument);
                self.group = Some((head.instrument, head.ts, head.venue_ts, head.snapshot, id));
                Ok(true)
            }
            TardisKind::BookSnapshot(_) => {
                if !self.lines.next_line()? {
                    return Ok(false);
                }
                let (instrument, ts, venue_ts) = self.common()?;
                for k in 0..self.cols.levels.len() {
                    let (side, p, a) = self.cols.levels[k];
                    let (px, qty) = (self.field(p), self.field(a));
                    if px.is_empty() || qty.is_empty() {
                        continue;
                    }
                    let level = Level {
                        side,
                        px: self.lines.dec("price", px)?,
                        qty: self.lines.dec("amount", qty)?,
                    };
                    self.levels.push(level);
                }
                let id = self.next_id(instrument);
                self.group = Some((instrument, ts, venue_ts, true, id));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn next_simple(&mut self) -> Result<Option<(u64, u64, Event)>, FeedError> {
        loop {
            if !self.lines.next_line()? {
                return Ok(None);
            }
            let (instrument, ts, venue_ts) = self.common()?;
            let c = &self.cols;
            let l = &self.lines;
            let event = match self.kind {
                TardisKind::Trades => {
                    let id = text_trade_id(self.field(c.a));
                    let (trade_id, odd_id) = (id.unwrap_or(0), id.is_none());
                    let unknown = self.field(c.b) == b"unknown";
                    let trade = Trade {
                        instrument,
                        px: l.dec("price", self.field(c.c))?,
                        qty: l.dec("amount", self.field(c.d))?,
                        aggressor: if unknown {
                            Side::Buy
                        } else {
                            self.side(self.field(c.b))?
                        },
                        trade_id,
                    };
                    self.adjusted.non_numeric_trade_ids += u64::from(odd_id);
                    self.adjusted.unknown_side_trades += u64::from(unknown);
                    Event::Trade(trade)
                }
                _ => {
                    // (amount, price) of the ask side, then the bid side.
                    let mut one_sided = false;
                    for (a, p) in [(c.a, c.b), (c.d, c.c)] {
                        match (self.field(a).is_empty(), self.field(p).is_empty()) {
                            (false, false) => {}
                            (true, true) => one_sided = true,
                            _ => {
                                return Err(
                                    l.malformed("a quote side has a price or an amount, not both")
                                )
                            }
                        }
                    }
                    if one_sided {
                        self.adjusted.one_sided_quotes += 1;
                        continue;
                    }
                    Event::BookTicker(BookTicker {
                        instrument,
                        bid_px: l.dec("bid_price", self.field(c.c))?,
                        bid_qty: l.dec("bid_amount", self.field(c.d))?,
                        ask_px: l.dec("ask_price", self.field(c.b))?,
                        ask_qty: l.dec("ask_amount", self.field(c.a))?,
                        update_id: 0,
                    })
                }
            };
            return Ok(Some((ts, venue_ts, event)));
        }
    }

    /// The next event as `(ts, venue_ts, event)`; `None` at the end. Errors name the
    /// file and line; reading should stop at the first one.
    pub fn next_event(&mut self) -> Option<Result<(u64, u64, Event), FeedError>> {
        if self.done {
            return None;
        }
        let r = match self.kind {
            TardisKind::Trades | TardisKind::Quotes => self.next_simple(),
            _ => self.next_depth(),
        };
        match r {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn next_depth(&mut self) -> Result<Option<(u64, u64, Event)>, FeedError> {
        while self.group.is_none() || self.next >= self.levels.len() {
            if !self.fill_group()? {
                return Ok(None);
            }
        }
        let Some((instrument, ts, venue_ts, snapshot, id)) = self.group else {
            return Ok(None);
        };
        let start = self.next;
        let end = (start + DEPTH_CHUNK).min(self.levels.len());
        let mut d = Depth {
            instrument,
            snapshot,
            first_chunk: start == 0,
            last_chunk: end == self.levels.len(),
            first_update_id: id,
            last_update_id: id,
            prev_update_id: 0,
            len: (end - start) as u8,
            levels: [Level::default(); DEPTH_CHUNK],
        };
        d.levels[..end - start].copy_from_slice(&self.levels[start..end]);
        self.next = end;
        Ok(Some((ts, venue_ts, Event::Depth(d))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn reader(text: &str) -> TardisCsv {
        let r = Box::new(Cursor::new(text.as_bytes().to_vec()));
        TardisCsv::from_reader(Path::new("mem.csv"), r, Symbols::learning()).unwrap()
    }

    fn events(r: &mut TardisCsv) -> Result<Vec<Event>, FeedError> {
        let mut v = Vec::new();
        while let Some(e) = r.next_event() {
            v.push(e?.2);
        }
        Ok(v)
    }

    #[test]
    fn unknown_sides_and_odd_trade_ids_are_counted() {
        let mut r = reader(
            "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
             x,BTCUSD,1,2,17,unknown,10,1\n\
             x,BTCUSD,1,2,ccc3c1fa-212c,sell,10,1\n\
             x,BTCUSD,1,2,,buy,10,1\n",
        );
        let ev = events(&mut r).unwrap();
        let got: Vec<(Side, u64)> = ev
            .iter()
            .map(|e| match e {
                Event::Trade(t) => (t.aggressor, t.trade_id),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, [(Side::Buy, 17), (Side::Sell, 0), (Side::Buy, 0)]);
        assert_eq!(
            r.adjustments(),
            Adjustments {
                unknown_side_trades: 1,
                non_numeric_trade_ids: 1,
                one_sided_quotes: 0,
            }
        );
        assert_eq!(
            r.adjustments().to_string(),
            "1 trade(s) with side unknown read as buys, \
             1 trade(s) with a non-numeric id read with trade_id 0"
        );
    }

    #[test]
    fn one_sided_quotes_are_counted_and_half_sides_refused() {
        let head =
            "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n";
        let mut r = reader(&format!(
            "{head}x,B,1,2,5,10,9,6\nx,B,1,2,5,10,,\nx,B,1,2,,,9,6\n"
        ));
        assert_eq!(events(&mut r).unwrap().len(), 1);
        assert_eq!(r.adjustments().one_sided_quotes, 2);

        let mut r = reader(&format!("{head}x,B,1,2,5,,9,6\n"));
        let err = events(&mut r).unwrap_err();
        assert!(matches!(err, FeedError::Malformed { line: 2, .. }), "{err}");
    }

    #[test]
    fn book_levels_refuse_side_unknown() {
        let mut r = reader(
            "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n\
             x,B,1,2,true,unknown,10,1\n",
        );
        let err = events(&mut r).unwrap_err();
        assert!(matches!(err, FeedError::Malformed { line: 2, .. }), "{err}");
    }
}
