//! Per-instrument market state: top of book, L2 depth, last trade.

use crate::events::{BookTicker, Depth, Trade};
use crate::num::Dec;
use crate::types::Side;

/// Levels pre-reserved per side so steady-state updates never allocate.
pub const RESERVED_LEVELS: usize = 2048;

/// One side of an L2 book, best level last so top-of-book changes move little memory.
#[derive(Clone, Debug, Default)]
pub struct BookSide {
    side: Side,
    /// (price, qty), sorted so that the best price is last.
    levels: Vec<(Dec, Dec)>,
}

impl BookSide {
    fn new(side: Side) -> BookSide {
        BookSide {
            side,
            levels: Vec::with_capacity(RESERVED_LEVELS),
        }
    }

    /// Position of `px` in storage order (bids ascending, asks descending).
    fn search(&self, px: Dec) -> Result<usize, usize> {
        match self.side {
            Side::Buy => self.levels.binary_search_by(|l| l.0.cmp(&px)),
            Side::Sell => self.levels.binary_search_by(|l| px.cmp(&l.0)),
        }
    }

    /// Sets the size at `px`; 0 removes the level.
    pub fn set(&mut self, px: Dec, qty: Dec) {
        match (self.search(px), qty.raw() > 0) {
            (Ok(i), true) => self.levels[i].1 = qty,
            (Ok(i), false) => {
                self.levels.remove(i);
            }
            (Err(i), true) => self.levels.insert(i, (px, qty)),
            (Err(_), false) => {}
        }
    }

    /// Best (price, qty).
    pub fn best(&self) -> Option<(Dec, Dec)> {
        self.levels.last().copied()
    }

    /// Levels from best to worst.
    pub fn iter(&self) -> impl Iterator<Item = (Dec, Dec)> + '_ {
        self.levels.iter().rev().copied()
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    fn clear(&mut self) {
        self.levels.clear();
    }
}

/// Market state of one instrument.
#[derive(Clone, Debug)]
pub struct Book {
    /// Latest best bid/ask from the ticker stream (or the L2 top when no ticker arrives).
    pub bbo: Option<BookTicker>,
    /// Bids.
    pub bids: BookSide,
    /// Asks.
    pub asks: BookSide,
    /// Last public trade.
    pub last_trade: Option<Trade>,
    /// Venue update id of the last depth update applied.
    pub depth_update_id: u64,
    /// True while an update is half applied (between its first and last chunk).
    pub depth_in_progress: bool,
    /// Ticker updates seen.
    pub ticker_updates: u64,
}

impl Default for Book {
    fn default() -> Self {
        Book {
            bbo: None,
            bids: BookSide::new(Side::Buy),
            asks: BookSide::new(Side::Sell),
            last_trade: None,
            depth_update_id: 0,
            depth_in_progress: false,
            ticker_updates: 0,
        }
    }
}

impl Book {
    /// Applies a top-of-book update. A crossed or empty quote is kept out.
    pub fn on_ticker(&mut self, t: &BookTicker) -> bool {
        if t.bid_px.raw() <= 0 || t.ask_px.raw() <= 0 || t.bid_px >= t.ask_px {
            return false;
        }
        self.bbo = Some(*t);
        self.ticker_updates += 1;
        true
    }

    /// Applies one depth chunk.
    pub fn on_depth(&mut self, d: &Depth) {
        if d.snapshot && d.first_chunk {
            self.bids.clear();
            self.asks.clear();
        }
        for l in d.levels() {
            match l.side {
                Side::Buy => self.bids.set(l.px, l.qty),
                Side::Sell => self.asks.set(l.px, l.qty),
            }
        }
        self.depth_in_progress = !d.last_chunk;
        if d.last_chunk {
            self.depth_update_id = d.last_update_id;
            // Without a ticker stream the L2 top is the best quote.
            if self.ticker_updates == 0 {
                if let (Some(b), Some(a)) = (self.bids.best(), self.asks.best()) {
                    if b.0 < a.0 {
                        self.bbo = Some(BookTicker {
                            instrument: d.instrument,
                            bid_px: b.0,
                            bid_qty: b.1,
                            ask_px: a.0,
                            ask_qty: a.1,
                            update_id: d.last_update_id,
                        });
                    }
                }
            }
        }
    }

    /// Records a public trade.
    pub fn on_trade(&mut self, t: &Trade) {
        self.last_trade = Some(*t);
    }

    /// Best bid price.
    pub fn best_bid(&self) -> Option<Dec> {
        self.bbo.map(|b| b.bid_px)
    }

    /// Best ask price.
    pub fn best_ask(&self) -> Option<Dec> {
        self.bbo.map(|b| b.ask_px)
    }

    /// (bid + ask) / 2, exact to 1e-9.
    pub fn mid(&self) -> Option<Dec> {
        self.bbo.map(|b| Dec((b.bid_px.raw() + b.ask_px.raw()) / 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Level, DEPTH_CHUNK};

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn l2_sides_sort_best_first() {
        let mut book = Book::default();
        let mut depth = Depth {
            snapshot: true,
            first_chunk: true,
            last_chunk: true,
            ..Default::default()
        };
        let lv = [
            (Side::Buy, "99", "1"),
            (Side::Buy, "100", "2"),
            (Side::Sell, "102", "3"),
            (Side::Sell, "101", "4"),
        ];
        for (i, (s, p, q)) in lv.iter().enumerate() {
            depth.levels[i] = Level {
                side: *s,
                px: d(p),
                qty: d(q),
            };
        }
        depth.len = lv.len() as u8;
        book.on_depth(&depth);
        assert_eq!(book.bids.best(), Some((d("100"), d("2"))));
        assert_eq!(book.asks.best(), Some((d("101"), d("4"))));
        assert_eq!(book.mid(), Some(d("100.5")));
        let asks: Vec<_> = book.asks.iter().map(|l| l.0).collect();
        assert_eq!(asks, vec![d("101"), d("102")]);
        // A diff removes the best bid and adds a level.
        let mut diff = Depth {
            first_chunk: true,
            last_chunk: true,
            len: 2,
            ..Default::default()
        };
        diff.levels[0] = Level {
            side: Side::Buy,
            px: d("100"),
            qty: Dec::ZERO,
        };
        diff.levels[1] = Level {
            side: Side::Buy,
            px: d("99.5"),
            qty: d("7"),
        };
        book.on_depth(&diff);
        assert_eq!(book.bids.best(), Some((d("99.5"), d("7"))));
        assert_eq!(book.bids.len(), 2);
        const { assert!(DEPTH_CHUNK >= 4) };
    }

    #[test]
    fn crossed_ticker_is_ignored() {
        let mut book = Book::default();
        let t = BookTicker {
            bid_px: d("101"),
            ask_px: d("100"),
            ..Default::default()
        };
        assert!(!book.on_ticker(&t));
        assert!(book.mid().is_none());
    }
}
