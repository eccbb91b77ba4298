//! Plain CSV quotes and trades written by hand.

use kestrel_engine::{Dec, Event, Side};
use kestrel_feeds::csv::{CsvKind, CsvReader, Symbols};
use kestrel_feeds::FeedError;

#[test]
fn plain_csv_files_round_trip_exactly() {
    let dir = std::env::temp_dir().join(format!("kestrel-import-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let q = dir.join("quotes.csv");
    std::fs::write(
        &q,
        "ts_ns,symbol,bid_px,bid_qty,ask_px,ask_qty\n\
         1000,BTCUSDT,60000.10,0.5,60000.20,1.25\n\
         2000,ETHUSDT,3000.001,10,3000.002,2\n",
    )
    .unwrap();
    let mut r = CsvReader::open(&q, Symbols::learning()).unwrap();
    assert_eq!(r.kind(), CsvKind::Quotes);
    let (ts, venue_ts, e) = r.next_event().unwrap().unwrap();
    assert_eq!((ts, venue_ts), (1000, 0));
    let Event::BookTicker(t) = e else { panic!() };
    assert_eq!(t.bid_px, Dec::parse("60000.1").unwrap());
    assert_eq!(t.ask_qty, Dec::parse("1.25").unwrap());
    let Event::BookTicker(t) = r.next_event().unwrap().unwrap().2 else {
        panic!()
    };
    assert_eq!(t.instrument, 1);
    assert!(r.next_event().is_none());

    let t = dir.join("trades.csv");
    std::fs::write(
        &t,
        "ts_ns,symbol,px,qty,side\n5,BTCUSDT,1,2,buy\n6,BTCUSDT,1,2,hold\n",
    )
    .unwrap();
    let mut r = CsvReader::open(&t, Symbols::fixed(&[("BTCUSDT".into(), 0)])).unwrap();
    let Event::Trade(tr) = r.next_event().unwrap().unwrap().2 else {
        panic!()
    };
    assert_eq!(tr.aggressor, Side::Buy);
    let err = r.next_event().unwrap().unwrap_err();
    assert!(matches!(err, FeedError::Malformed { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("trades.csv:3:"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
