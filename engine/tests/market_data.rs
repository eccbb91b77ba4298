//! MarketDataProvider getters with asserted numbers, driven through `Engine::apply`.

mod common;

use common::*;
use kestrel_engine::market_data::{BookQuery, PriceType};
use kestrel_engine::*;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
[[instruments]]
symbol = "ETHBTC"
base = "ETH"
quote = "BTC"
tick_size = "0.00001"
lot_size = "0.001"
[[candles]]
instrument = "BTCUSDT"
interval = "1m"
max_records = 2
[[candles]]
instrument = "ETHBTC"
interval = "1m"
source = "klines"
[balances]
USDT = "1000"
"#;

/// A snapshot of instrument `instrument`'s book, update id `id`, applied at 0.
fn book(h: &mut H, instrument: u16, bids: &[(&str, &str)], asks: &[(&str, &str)], id: u64) {
    let mut depth = Depth {
        instrument,
        snapshot: true,
        first_chunk: true,
        last_chunk: true,
        last_update_id: id,
        ..Default::default()
    };
    let mut n = 0;
    for (side, lv) in [(Side::Buy, bids), (Side::Sell, asks)] {
        for (p, q) in lv {
            depth.levels[n] = Level {
                side,
                px: d(p),
                qty: d(q),
            };
            n += 1;
        }
    }
    depth.len = n as u8;
    h.input(0, Event::Depth(depth));
}

/// A trade of instrument 0 at `ts_s` seconds.
fn trade(h: &mut H, ts_s: u64, px: &str, qty: &str, aggressor: Side) {
    let t = Trade {
        instrument: 0,
        px: d(px),
        qty: d(qty),
        aggressor,
        trade_id: 0,
    };
    h.input(ts_s * 1_000_000_000, Event::Trade(t));
}

fn q(price: Option<&str>, volume: &str) -> (Option<Dec>, Dec) {
    (price.map(d), d(volume))
}

fn r(b: BookQuery) -> (Option<Dec>, Dec) {
    (b.result_price, b.result_volume)
}

#[test]
fn book_walks_match_hummingbot_semantics() {
    let mut h = H::session(1, CONFIG);
    book(
        &mut h,
        0,
        &[("99", "1"), ("98", "2"), ("97", "3")],
        &[("100", "1"), ("101", "2"), ("102", "3")],
        10,
    );
    let md = h.e.market_data();
    let book = md.book(0).unwrap();
    assert_eq!(
        r(book.price_for_volume(true, d("2.5"))),
        q(Some("101"), "2.5")
    );
    assert_eq!(r(book.price_for_volume(false, d("1"))), q(Some("99"), "1"));
    assert_eq!(r(book.price_for_volume(true, d("10"))), q(None, "6"));
    assert_eq!(
        r(book.vwap_for_volume(true, d("2.5"))),
        q(Some("100.6"), "2.5")
    );
    assert_eq!(r(book.vwap_for_volume(false, d("4"))), q(Some("98"), "4"));
    assert_eq!(r(book.vwap_for_volume(true, d("7"))), q(None, "6"));
    assert_eq!(
        r(book.volume_for_price(true, d("101"))),
        q(Some("101"), "3")
    );
    assert_eq!(r(book.volume_for_price(false, d("98"))), q(Some("98"), "3"));
    assert_eq!(r(book.volume_for_price(true, d("99.5"))), q(None, "0"));
    assert_eq!(
        r(book.price_for_quote_volume(true, d("200"))),
        q(Some("101"), "200")
    );
    assert_eq!(
        r(book.quote_volume_for_price(true, d("101"))),
        q(Some("101"), "302")
    );
    // Without a ticker stream the L2 top is the quote.
    assert_eq!(md.price(0, PriceType::BestBid), Some(d("99")));
    assert_eq!(md.price(0, PriceType::BestAsk), Some(d("100")));
    assert_eq!(md.price(0, PriceType::MidPrice), Some(d("99.5")));
    assert_eq!(md.price(0, PriceType::LastTrade), None);
}

#[test]
fn candles_from_trades_roll_and_stay_bounded() {
    let mut h = H::session(1, CONFIG);
    trade(&mut h, 0, "100", "1", Side::Buy);
    trade(&mut h, 30, "105", "2", Side::Sell);
    trade(&mut h, 59, "95", "1", Side::Buy);
    trade(&mut h, 61, "101", "1", Side::Sell);
    let md = h.e.market_data();
    assert_eq!(md.price(0, PriceType::LastTrade), Some(d("101")));
    let s = md.candles(0, 60).unwrap();
    let c: Vec<_> = s.candles().copied().collect();
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[0].open, c[0].high, c[0].low, c[0].close),
        (d("100"), d("105"), d("95"), d("95"))
    );
    assert_eq!(
        (c[0].volume, c[0].quote_volume, c[0].trades),
        (d("4"), d("405"), 3)
    );
    assert_eq!(
        (c[0].taker_buy_base, c[0].taker_buy_quote),
        (d("2"), d("195"))
    );
    assert_eq!((c[1].open_ts, c[1].open), (60_000_000_000, d("101")));
    assert!(s.is_full());
    trade(&mut h, 130, "102", "1", Side::Buy);
    let s = h.e.market_data().candles(0, 60).unwrap().clone();
    assert_eq!(
        s.candles()
            .map(|c| c.open_ts / 1_000_000_000)
            .collect::<Vec<_>>(),
        [60, 120]
    );
    let mut closes = Vec::new();
    s.closes_into(5, &mut closes);
    assert_eq!(closes, [d("101"), d("102")]);
}

#[test]
fn klines_update_in_place_until_the_next_candle() {
    let mut h = H::session(1, CONFIG);
    let k = |open_ts: u64, close: &str, closed: bool| Kline {
        instrument: 1,
        interval_s: 60,
        open_ts,
        open: d("0.05"),
        high: d("0.06"),
        low: d("0.04"),
        close: d(close),
        volume: d("10"),
        closed,
        ..Default::default()
    };
    h.input(1, Event::Kline(k(0, "0.051", false)));
    h.input(2, Event::Kline(k(0, "0.052", true)));
    h.input(3, Event::Kline(k(60_000_000_000, "0.053", false)));
    let md = h.e.market_data();
    let s = md.candles(1, 60).unwrap();
    assert_eq!(
        s.candles().map(|c| c.close).collect::<Vec<_>>(),
        [d("0.052"), d("0.053")]
    );
    // Klines of another interval are not mixed in.
    assert!(md.candles(1, 300).is_none());
}

#[test]
fn rate_oracle_routes_through_available_pairs() {
    let mut h = H::session(1, CONFIG);
    book(&mut h, 0, &[("59999.99", "1")], &[("60000.01", "1")], 10);
    book(&mut h, 1, &[("0.04999", "1")], &[("0.05001", "1")], 10);
    let md = h.e.market_data();
    assert_eq!(md.rate("BTC", "USDT"), Some(d("60000")));
    assert_eq!(md.rate("USDT", "BTC"), Some(d("0.000016666")));
    assert_eq!(md.rate("ETH", "USDT"), Some(d("3000")));
    assert_eq!(md.rate("ETH", "ETH"), Some(Dec::ONE));
    assert_eq!(md.rate("XRP", "USDT"), None);
    assert_eq!(md.balance("USDT"), d("1000"));
    assert_eq!(md.available_balance("USDT"), d("1000"));
    assert_eq!(md.balance("DOGE"), Dec::ZERO);
}

#[test]
fn a_gap_makes_prices_unavailable_until_resync() {
    let mut h = H::session(1, CONFIG);
    book(&mut h, 0, &[("99", "1")], &[("100", "1")], 10);
    assert_eq!(
        h.e.market_data().price(0, PriceType::MidPrice),
        Some(d("99.5"))
    );
    let gap = Depth {
        instrument: 0,
        first_chunk: true,
        last_chunk: true,
        first_update_id: 15,
        last_update_id: 16,
        ..Default::default()
    };
    h.input(1, Event::Depth(gap));
    assert_eq!(h.e.market_data().price(0, PriceType::MidPrice), None);
    book(&mut h, 0, &[("99", "1")], &[("100", "1")], 20);
    assert_eq!(
        h.e.market_data().price(0, PriceType::MidPrice),
        Some(d("99.5"))
    );
}
