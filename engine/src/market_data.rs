//! Market-data getters for controllers (Hummingbot's MarketDataProvider, spec §11):
//! prices by type, book walks for a volume or a price, candles, a rate oracle and
//! balances. Every getter reads engine state in place and allocates nothing; a value
//! that cannot be computed is `None` ("not ready"), never NaN.

use crate::book::Book;
use crate::events::{Kline, Trade};
use crate::num::Dec;
use crate::portfolio::Portfolio;
use crate::types::{Instrument, InstrumentId, Side};
use std::collections::VecDeque;

/// Which price [`MarketData::price`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceType {
    /// Best bid.
    BestBid,
    /// Best ask.
    BestAsk,
    /// (bid + ask) / 2.
    MidPrice,
    /// Last public trade.
    LastTrade,
}

/// Result of a book walk (Hummingbot's ClientOrderBookQueryResult).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookQuery {
    /// The price asked about (price queries), if any.
    pub query_price: Option<Dec>,
    /// The volume asked about (volume queries), if any.
    pub query_volume: Option<Dec>,
    /// Resulting price; `None` when the book is too thin.
    pub result_price: Option<Dec>,
    /// Resulting volume.
    pub result_volume: Dec,
}

fn side_for(is_buy: bool, book: &Book) -> &crate::book::BookSide {
    if is_buy {
        &book.asks
    } else {
        &book.bids
    }
}

impl Book {
    /// Walks asks (buy) or bids (sell) until `volume` is reached: the price of the
    /// level where it is reached, and min(cumulative, volume).
    pub fn price_for_volume(&self, is_buy: bool, volume: Dec) -> BookQuery {
        let mut cum = Dec::ZERO;
        let mut result = None;
        for (px, qty) in side_for(is_buy, self).iter() {
            cum += qty;
            if cum >= volume {
                result = Some(px);
                break;
            }
        }
        BookQuery {
            query_price: None,
            query_volume: Some(volume),
            result_price: result,
            result_volume: cum.min(volume),
        }
    }

    /// Volume-weighted average price to trade `volume`, the last level taken partially.
    pub fn vwap_for_volume(&self, is_buy: bool, volume: Dec) -> BookQuery {
        let mut left = volume;
        let mut cost = Dec::ZERO;
        for (px, qty) in side_for(is_buy, self).iter() {
            let take = qty.min(left);
            cost += px.mul(take);
            left -= take;
            if left.raw() <= 0 {
                break;
            }
        }
        let filled = volume - left;
        let result = if left.raw() > 0 {
            None
        } else {
            cost.div(filled)
        };
        BookQuery {
            query_price: None,
            query_volume: Some(volume),
            result_price: result,
            result_volume: filled,
        }
    }

    /// Volume available at `price` or better, and the last level price included.
    pub fn volume_for_price(&self, is_buy: bool, price: Dec) -> BookQuery {
        let mut cum = Dec::ZERO;
        let mut last = None;
        for (px, qty) in side_for(is_buy, self).iter() {
            let within = if is_buy { px <= price } else { px >= price };
            if !within {
                break;
            }
            cum += qty;
            last = Some(px);
        }
        BookQuery {
            query_price: Some(price),
            query_volume: None,
            result_price: last,
            result_volume: cum,
        }
    }

    /// Walks until the cumulative quote value (Σ px × qty) reaches `quote`.
    pub fn price_for_quote_volume(&self, is_buy: bool, quote: Dec) -> BookQuery {
        let mut cum = Dec::ZERO;
        let mut result = None;
        for (px, qty) in side_for(is_buy, self).iter() {
            cum += px.mul(qty);
            if cum >= quote {
                result = Some(px);
                break;
            }
        }
        BookQuery {
            query_price: None,
            query_volume: Some(quote),
            result_price: result,
            result_volume: cum.min(quote),
        }
    }

    /// Quote value available at `price` or better.
    pub fn quote_volume_for_price(&self, is_buy: bool, price: Dec) -> BookQuery {
        let mut q = self.volume_for_price(is_buy, price);
        let mut cum = Dec::ZERO;
        for (px, qty) in side_for(is_buy, self).iter() {
            let within = if is_buy { px <= price } else { px >= price };
            if !within {
                break;
            }
            cum += px.mul(qty);
        }
        q.result_volume = cum;
        q
    }
}

/// One OHLCV candle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Candle {
    /// Open time, ns since the epoch.
    pub open_ts: u64,
    /// Open.
    pub open: Dec,
    /// High.
    pub high: Dec,
    /// Low.
    pub low: Dec,
    /// Close.
    pub close: Dec,
    /// Base volume.
    pub volume: Dec,
    /// Quote volume.
    pub quote_volume: Dec,
    /// Trades.
    pub trades: u64,
    /// Base volume bought by takers.
    pub taker_buy_base: Dec,
    /// Quote volume bought by takers.
    pub taker_buy_quote: Dec,
}

/// Where a candle series gets its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CandleSource {
    /// Built from public trades.
    Trades,
    /// Venue klines of the same interval.
    Klines,
}

/// A bounded history of candles of one instrument and interval (oldest first).
#[derive(Clone, Debug, PartialEq)]
pub struct CandleSeries {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Interval in seconds.
    pub interval_s: u32,
    /// Data source.
    pub source: CandleSource,
    /// Most candles kept.
    pub max_records: usize,
    candles: VecDeque<Candle>,
}

impl CandleSeries {
    /// Empty series; its storage is reserved up front.
    pub fn new(
        instrument: InstrumentId,
        interval_s: u32,
        source: CandleSource,
        max_records: usize,
    ) -> CandleSeries {
        let max_records = max_records.max(1);
        CandleSeries {
            instrument,
            interval_s,
            source,
            max_records,
            candles: VecDeque::with_capacity(max_records + 1),
        }
    }

    fn push(&mut self, c: Candle) {
        if self.candles.len() == self.max_records {
            self.candles.pop_front();
        }
        self.candles.push_back(c);
    }

    /// Adds a trade to the candle of its interval (a new candle opens when the
    /// interval changes; intervals without trades have no candle).
    pub fn on_trade(&mut self, ts: u64, t: &Trade) {
        if self.source != CandleSource::Trades || t.instrument != self.instrument {
            return;
        }
        let step = self.interval_s as u64 * 1_000_000_000;
        let open_ts = ts - ts % step.max(1);
        let quote = t.px.mul(t.qty);
        let buy = t.aggressor == Side::Buy;
        match self.candles.back_mut() {
            Some(c) if c.open_ts == open_ts => {
                c.high = c.high.max(t.px);
                c.low = c.low.min(t.px);
                c.close = t.px;
                c.volume += t.qty;
                c.quote_volume += quote;
                c.trades += 1;
                if buy {
                    c.taker_buy_base += t.qty;
                    c.taker_buy_quote += quote;
                }
            }
            Some(c) if c.open_ts > open_ts => {} // late trade for a closed candle
            _ => self.push(Candle {
                open_ts,
                open: t.px,
                high: t.px,
                low: t.px,
                close: t.px,
                volume: t.qty,
                quote_volume: quote,
                trades: 1,
                taker_buy_base: if buy { t.qty } else { Dec::ZERO },
                taker_buy_quote: if buy { quote } else { Dec::ZERO },
            }),
        }
    }

    /// Adds or updates a venue kline of this series' interval.
    pub fn on_kline(&mut self, k: &Kline) {
        if self.source != CandleSource::Klines
            || k.instrument != self.instrument
            || k.interval_s != self.interval_s
        {
            return;
        }
        let c = Candle {
            open_ts: k.open_ts,
            open: k.open,
            high: k.high,
            low: k.low,
            close: k.close,
            volume: k.volume,
            quote_volume: k.quote_volume,
            trades: k.trades,
            taker_buy_base: k.taker_buy_base,
            taker_buy_quote: k.taker_buy_quote,
        };
        match self.candles.back_mut() {
            Some(last) if last.open_ts == c.open_ts => *last = c,
            Some(last) if last.open_ts > c.open_ts => {}
            _ => self.push(c),
        }
    }

    /// Candles, oldest first.
    pub fn candles(&self) -> impl ExactSizeIterator<Item = &Candle> + DoubleEndedIterator {
        self.candles.iter()
    }

    /// The last `n` closes, oldest first, into `out` (cleared; reuse it to stay allocation-free).
    pub fn closes_into(&self, n: usize, out: &mut Vec<Dec>) {
        out.clear();
        let skip = self.candles.len().saturating_sub(n);
        out.extend(self.candles.iter().skip(skip).map(|c| c.close));
    }

    /// True once `max_records` candles are held (Hummingbot's feed "ready").
    pub fn is_full(&self) -> bool {
        self.candles.len() >= self.max_records
    }

    /// Number of candles held.
    pub fn len(&self) -> usize {
        self.candles.len()
    }

    /// True when no candle is held.
    pub fn is_empty(&self) -> bool {
        self.candles.is_empty()
    }
}

/// Read-only view of the engine's market state for controllers.
pub struct MarketData<'a> {
    /// Instruments by id.
    pub instruments: &'a [Instrument],
    /// Books by instrument id.
    pub books: &'a [Book],
    /// Candle series.
    pub candles: &'a [CandleSeries],
    /// Balances.
    pub portfolio: &'a Portfolio,
}

impl MarketData<'_> {
    /// Instrument id of a symbol.
    pub fn instrument(&self, symbol: &str) -> Option<InstrumentId> {
        self.instruments
            .iter()
            .position(|i| i.spec.symbol == symbol)
            .map(|i| i as InstrumentId)
    }

    /// A price of the instrument, if known and the book is ready.
    pub fn price(&self, instrument: InstrumentId, kind: PriceType) -> Option<Dec> {
        let book = self.books.get(instrument as usize)?;
        match kind {
            PriceType::LastTrade => book.last_trade.map(|t| t.px),
            _ if !book.is_ready() => None,
            PriceType::BestBid => book.best_bid(),
            PriceType::BestAsk => book.best_ask(),
            PriceType::MidPrice => book.mid(),
        }
    }

    /// The instrument's book (`None` if unknown).
    pub fn book(&self, instrument: InstrumentId) -> Option<&Book> {
        self.books.get(instrument as usize)
    }

    /// Candle series for the instrument and interval.
    pub fn candles(&self, instrument: InstrumentId, interval_s: u32) -> Option<&CandleSeries> {
        self.candles
            .iter()
            .find(|c| c.instrument == instrument && c.interval_s == interval_s)
    }

    /// How many `quote` one `base` is worth: a direct pair's mid, an inverted pair,
    /// or a route through one intermediate asset. `None` when no ready route exists.
    pub fn rate(&self, base: &str, quote: &str) -> Option<Dec> {
        if base == quote {
            return Some(Dec::ONE);
        }
        if let Some(r) = self.direct_rate(base, quote) {
            return Some(r);
        }
        // Through one intermediate asset, in instrument order (deterministic).
        for i in self.instruments {
            for mid_asset in [i.spec.base.as_str(), i.spec.quote.as_str()] {
                if mid_asset == base || mid_asset == quote {
                    continue;
                }
                if let (Some(a), Some(b)) = (
                    self.direct_rate(base, mid_asset),
                    self.direct_rate(mid_asset, quote),
                ) {
                    return Some(a.mul(b));
                }
            }
        }
        None
    }

    fn direct_rate(&self, base: &str, quote: &str) -> Option<Dec> {
        for i in self.instruments {
            let mid = || self.price(i.id, PriceType::MidPrice);
            if i.spec.base == base && i.spec.quote == quote {
                if let Some(m) = mid() {
                    return Some(m);
                }
            } else if i.spec.base == quote && i.spec.quote == base {
                if let Some(m) = mid() {
                    return Dec::ONE.div(m);
                }
            }
        }
        None
    }

    /// Total balance of an asset (0 if unknown).
    pub fn balance(&self, asset: &str) -> Dec {
        self.portfolio
            .balances
            .iter()
            .find(|b| b.asset == asset)
            .map_or(Dec::ZERO, |b| b.total)
    }

    /// Balance not reserved by open orders.
    pub fn available_balance(&self, asset: &str) -> Dec {
        self.portfolio
            .balances
            .iter()
            .find(|b| b.asset == asset)
            .map_or(Dec::ZERO, |b| b.available())
    }
}
