//! NautilusTrader samples (nautechsystems/nautilus_trader, tests/test_data/binance,
//! LGPL-3.0): Binance book CSVs and Parquet quotes/trades.

use kestrel_engine::{Dec, Event, Side};
use kestrel_feeds::csv::Symbols;
use kestrel_feeds::nautilus::{BinanceDepthCsv, ParquetKind, ParquetReader};
use kestrel_feeds::FeedError;
use std::path::PathBuf;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/nautilus_trader/binance")
        .join(rel)
}

fn btc() -> Symbols {
    Symbols::fixed(&[("BTCUSDT".into(), 0)])
}

/// (chunks, updates, level rows, snapshot chunks) of a depth CSV.
fn depth_counts(file: &str) -> (usize, usize, usize, usize) {
    let mut r = BinanceDepthCsv::open(&data(file), btc()).unwrap();
    let (mut chunks, mut updates, mut rows, mut snaps) = (0, 0, 0, 0);
    while let Some(e) = r.next_event() {
        let (ts, venue_ts, e) = e.unwrap();
        assert_eq!(ts, venue_ts);
        let Event::Depth(d) = e else {
            panic!("not depth")
        };
        chunks += 1;
        rows += d.len as usize;
        snaps += d.snapshot as usize;
        updates += d.last_chunk as usize;
    }
    (chunks, updates, rows, snaps)
}

#[test]
fn depth_snapshot_csv_is_one_snapshot_of_100_levels() {
    let (chunks, updates, rows, snaps) = depth_counts("btcusdt-depth-snap.csv");
    assert_eq!(rows, 100);
    assert_eq!(updates, 1);
    assert_eq!(chunks, 7); // 100 levels in chunks of 16
    assert_eq!(snaps, chunks);
    let mut r = BinanceDepthCsv::open(&data("btcusdt-depth-snap.csv"), btc()).unwrap();
    let (ts, _, Event::Depth(d)) = r.next_event().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(ts, 1_667_346_579_146_000_000);
    assert_eq!(d.last_update_id, 2_098_021_528_332);
    assert_eq!(d.first_update_id, d.last_update_id);
    assert_eq!(d.levels[0].side, Side::Buy);
    assert_eq!(d.levels[0].px, Dec::parse("20377.00").unwrap());
    assert_eq!(d.levels[0].qty, Dec::parse("1.770").unwrap());
}

#[test]
fn depth_update_csv_groups_rows_by_update_id() {
    // All 100 rows share one last_update_id: one diff of 100 levels.
    let (chunks, updates, rows, snaps) = depth_counts("btcusdt-depth-update.csv");
    assert_eq!((rows, updates, chunks, snaps), (100, 1, 7, 0));
    let mut r = BinanceDepthCsv::open(&data("btcusdt-depth-update.csv"), btc()).unwrap();
    let (_, _, Event::Depth(d)) = r.next_event().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(
        (d.first_update_id, d.last_update_id, d.prev_update_id),
        (2_098_041_693_435, 2_098_041_696_700, 2_098_041_693_400)
    );
}

#[test]
fn parquet_quotes_and_trades() {
    let mut q = ParquetReader::open(&data("btcusdt-quotes.parquet"), btc(), None).unwrap();
    assert_eq!(q.kind(), ParquetKind::Quotes);
    let mut n = 0;
    let mut last = 0;
    while let Some(e) = q.next_event() {
        let (ts, _, e) = e.unwrap();
        let Event::BookTicker(t) = e else { panic!() };
        assert!(t.bid_px < t.ask_px && t.bid_qty.raw() > 0);
        assert!(ts >= last);
        last = ts;
        n += 1;
    }
    assert_eq!(n, 451);
    // 2021-01-08 00:00:01 .. 00:00:46 UTC
    assert!((1_610_064_000_000_000_000..1_610_064_047_000_000_000).contains(&last));

    let mut t =
        ParquetReader::open(&data("btcusdt-trades.parquet"), btc(), Some("BTCUSDT")).unwrap();
    assert_eq!(t.kind(), ParquetKind::Trades);
    let (mut n, mut sells, mut first_id, mut last_id) = (0, 0, 0, 0);
    while let Some(e) = t.next_event() {
        let Event::Trade(tr) = e.unwrap().2 else {
            panic!()
        };
        if n == 0 {
            first_id = tr.trade_id;
        }
        last_id = tr.trade_id;
        sells += (tr.aggressor == Side::Sell) as usize;
        n += 1;
    }
    assert_eq!(n, 2001);
    assert_eq!((first_id, last_id), (553_287_559, 553_289_559));
    assert!(sells > 0 && sells < n);
    assert!(t.adjustments().is_empty(), "{}", t.adjustments());
    // A file without a symbol column needs one.
    let Err(err) = ParquetReader::open(&data("btcusdt-trades.parquet"), btc(), None) else {
        panic!("opened without a symbol");
    };
    assert!(
        matches!(&err, FeedError::Malformed { line: 0, reason, .. }
            if reason == "the file has no symbol column and no symbol was given"),
        "{err}"
    );
}
