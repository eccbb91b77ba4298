//! Tardis CSV samples (nautechsystems/nautilus_trader, tests/test_data/tardis, LGPL-3.0).

use kestrel_engine::{Dec, Event, Side};
use kestrel_feeds::csv::Symbols;
use kestrel_feeds::tardis::{TardisCsv, TardisKind};
use std::path::PathBuf;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/nautilus_trader/tardis")
        .join(rel)
}

fn all(file: &str) -> (TardisKind, Vec<(u64, u64, Event)>) {
    let mut r = TardisCsv::open(&data(file), Symbols::learning()).unwrap();
    let mut v = Vec::new();
    while let Some(e) = r.next_event() {
        v.push(e.unwrap());
    }
    (r.kind(), v)
}

#[test]
fn book_snapshots_are_depth_snapshots() {
    for (file, n, levels) in [
        ("binance-futures_book_snapshot_5_BTCUSDT.csv", 5, 10),
        ("binance-futures_book_snapshot_25_BTCUSDT.csv", 25, 50),
    ] {
        let (kind, ev) = all(file);
        assert_eq!(kind, TardisKind::BookSnapshot(n));
        let mut rows = 0;
        let mut snapshots = 0;
        for (ts, venue_ts, e) in &ev {
            assert!(ts > venue_ts && *venue_ts > 0);
            let Event::Depth(d) = e else { panic!() };
            assert!(d.snapshot);
            rows += d.len as usize;
            snapshots += d.last_chunk as usize;
        }
        assert_eq!(snapshots, 10, "{file}");
        assert_eq!(rows, 10 * levels, "{file}");
        let Event::Depth(d) = ev[0].2 else { panic!() };
        assert_eq!(ev[0].0, 1_598_918_403_810_979_000);
        // Bids first: best bid 11657.07 x 10.896.
        assert_eq!(
            (d.levels[0].side, d.levels[0].px),
            (Side::Buy, Dec::parse("11657.07").unwrap())
        );
    }
}

#[test]
fn trades_quotes_and_incremental_book() {
    let (kind, ev) = all("bitmex_trades_XBTUSD.csv");
    assert_eq!(kind, TardisKind::Trades);
    assert_eq!(ev.len(), 10);
    let Event::Trade(t) = ev[0].2 else { panic!() };
    assert_eq!(
        (t.aggressor, t.px, t.qty),
        (
            Side::Sell,
            Dec::parse("8531.5").unwrap(),
            Dec::from_int(2152)
        )
    );

    let (kind, ev) = all("huobi-dm-swap_quotes_BTC-USD.csv");
    assert_eq!(kind, TardisKind::Quotes);
    assert_eq!(ev.len(), 10);
    let Event::BookTicker(q) = ev[0].2 else {
        panic!()
    };
    assert_eq!(q.ask_qty, Dec::from_int(5494));
    assert_eq!(q.bid_px, Dec::parse("8629.2").unwrap());

    let (kind, ev) = all("deribit_incremental_book_L2_BTC-PERPETUAL.csv");
    assert_eq!(kind, TardisKind::IncrementalL2);
    let levels: usize = ev
        .iter()
        .map(|(_, _, e)| match e {
            Event::Depth(d) => d.len as usize,
            _ => panic!(),
        })
        .sum();
    assert_eq!(levels, 15);
    // Updates are numbered 1, 2, ... so DepthSync accepts them in order.
    let ids: Vec<u64> = ev
        .iter()
        .filter_map(|(_, _, e)| match e {
            Event::Depth(d) if d.first_chunk => Some(d.last_update_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
}

#[test]
fn uuid_trade_ids_are_counted() {
    let mut r = TardisCsv::open(&data("bitmex_trades_XBTUSD.csv"), Symbols::learning()).unwrap();
    let mut ids = Vec::new();
    while let Some(e) = r.next_event() {
        let Event::Trade(t) = e.unwrap().2 else {
            panic!()
        };
        ids.push(t.trade_id);
    }
    // BitMEX ids are UUIDs: each trade is delivered with trade_id 0, and counted.
    assert_eq!(ids, [0; 10]);
    let a = r.adjustments();
    assert_eq!((a.non_numeric_trade_ids, a.unknown_side_trades), (10, 0));
}
