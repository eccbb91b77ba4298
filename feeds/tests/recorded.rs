//! RecordedFeed against the hftbacktest Binance captures in `shared/data`
//! (origin nkaz001/hftbacktest, MIT; see shared/data/README.md) and malformed input.

use std::collections::HashMap;
use std::path::PathBuf;

use kestrel_engine::{Dec, Event, Side};
use kestrel_feeds::{FeedError, RecordedFeed};

fn data(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel);
    assert!(
        p.exists(),
        "test data missing: {} (shared/ must sit beside the repository)",
        p.display()
    );
    p
}

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn btc() -> Vec<(String, u16)> {
    vec![("BTCUSDT".to_string(), 7)]
}

#[derive(Default, Debug)]
struct Tally {
    tickers: u64,
    trades: u64,
    buys: u64,
    sells: u64,
    diff_msgs: u64,
    diff_chunks: u64,
    diff_levels: u64,
    diff_bids: u64,
    diff_zero: u64,
    diff_qty: i128,
    diff_px: i128,
    snap_msgs: u64,
    snap_chunks: u64,
    snap_levels: u64,
    snap_qty: i128,
    trade_qty: i128,
    tickers_with_venue_ts: u64,
}

fn tally(feed: &mut RecordedFeed, instrument: u16) -> (Tally, Vec<(u64, u64, Event)>) {
    let mut t = Tally::default();
    let mut firsts: Vec<(u64, u64, Event)> = Vec::new();
    let mut seen = HashMap::new();
    let mut last_ts = 0;
    // Chunk bookkeeping: the update in progress.
    let mut open: Option<(bool, u64, u64, u64)> = None;
    while let Some(r) = feed.next_event() {
        let (ts, vts, ev) = r.unwrap_or_else(|e| panic!("{e}"));
        assert!(ts >= last_ts, "local timestamps go backwards at {ts}");
        last_ts = ts;
        let kind = match &ev {
            Event::BookTicker(b) => {
                assert_eq!(b.instrument, instrument);
                assert!(open.is_none(), "ticker inside a chunked depth update");
                t.tickers += 1;
                t.tickers_with_venue_ts += (vts != 0) as u64;
                "ticker"
            }
            Event::Trade(x) => {
                assert_eq!(x.instrument, instrument);
                assert!(open.is_none());
                t.trades += 1;
                t.trade_qty += x.qty.raw() as i128;
                match x.aggressor {
                    Side::Buy => t.buys += 1,
                    Side::Sell => t.sells += 1,
                }
                "trade"
            }
            Event::Depth(dp) => {
                assert_eq!(dp.instrument, instrument);
                let key = (dp.snapshot, dp.first_update_id, dp.last_update_id, ts);
                if dp.first_chunk {
                    assert!(open.is_none(), "new update before the last chunk");
                    open = Some(key);
                } else {
                    assert_eq!(open, Some(key), "chunk does not continue its update");
                }
                if !dp.last_chunk {
                    assert_eq!(
                        dp.len as usize,
                        kestrel_engine::DEPTH_CHUNK,
                        "only the last chunk may be short"
                    );
                } else {
                    open = None;
                }
                let n = dp.levels().len() as u64;
                if dp.snapshot {
                    t.snap_chunks += 1;
                    t.snap_msgs += dp.first_chunk as u64;
                    t.snap_levels += n;
                    t.snap_qty += dp
                        .levels()
                        .iter()
                        .map(|l| l.qty.raw() as i128)
                        .sum::<i128>();
                    "snapshot"
                } else {
                    t.diff_chunks += 1;
                    t.diff_msgs += dp.first_chunk as u64;
                    t.diff_levels += n;
                    for l in dp.levels() {
                        t.diff_bids += (l.side == Side::Buy) as u64;
                        t.diff_zero += (l.qty == Dec::ZERO) as u64;
                        t.diff_qty += l.qty.raw() as i128;
                        t.diff_px += l.px.raw() as i128;
                    }
                    "diff"
                }
            }
            other => panic!("unexpected event {other:?}"),
        };
        if seen.insert(kind, ()).is_none() {
            firsts.push((ts, vts, ev));
        }
    }
    assert!(open.is_none(), "file ended inside a chunked update");
    (t, firsts)
}

#[test]
fn spot_btcusdt_20240808_counts_and_values() {
    let mut feed =
        RecordedFeed::open(&data("hftbacktest/spot/btcusdt_20240808.gz"), &btc()).unwrap();
    let (t, firsts) = tally(&mut feed, 7);
    assert_eq!(feed.line_number(), 41_249);
    // Source message counts (README table).
    assert_eq!(t.tickers, 28_040);
    assert_eq!(t.trades, 9_757);
    assert_eq!(t.diff_msgs, 3_451);
    assert_eq!(t.snap_msgs, 1);
    // The README's 124,090 depth level updates are the diffs only; the snapshot adds 1000 + 1000.
    assert_eq!(t.diff_levels, 124_090);
    assert_eq!(t.diff_bids, 57_036);
    assert_eq!(t.diff_zero, 59_187);
    assert_eq!(t.snap_levels, 2_000);
    // Sum of ceil(levels / 16) per message.
    assert_eq!(t.diff_chunks, 9_352);
    assert_eq!(t.snap_chunks, 125);
    // Exact decimal checksums (computed independently with Python's Decimal).
    assert_eq!(t.diff_qty, 64_075_433_220_000);
    assert_eq!(t.diff_px, 7_647_408_339_050_000_000);
    assert_eq!(t.snap_qty, 228_606_140_000);
    assert_eq!(t.trade_qty, 212_033_150_000);
    // `m` = buyer is maker = sell aggressor.
    assert_eq!((t.buys, t.sells), (4_103, 5_654));
    assert_eq!(t.tickers_with_venue_ts, 0, "spot bookTicker has no E");

    // First of each kind, in file order: diff, ticker, trade, snapshot.
    let kinds: Vec<&str> = firsts
        .iter()
        .map(|(_, _, e)| match e {
            Event::BookTicker(_) => "ticker",
            Event::Trade(_) => "trade",
            Event::Depth(x) if x.snapshot => "snapshot",
            _ => "diff",
        })
        .collect();
    assert_eq!(kinds, ["diff", "ticker", "trade", "snapshot"]);

    let (ts, vts, Event::Depth(dp)) = &firsts[0] else {
        panic!()
    };
    assert_eq!(
        (*ts, *vts),
        (1_723_161_253_937_085_768, 1_723_161_255_208_000_000)
    );
    assert_eq!(
        (dp.first_update_id, dp.last_update_id),
        (50_093_239_189, 50_093_239_202)
    );
    assert!(dp.first_chunk && dp.last_chunk && !dp.snapshot && dp.len == 12);
    assert_eq!(dp.levels[0].side, Side::Buy);
    assert_eq!(
        (dp.levels[0].px, dp.levels[0].qty),
        (d("61737.63"), Dec::ZERO)
    );
    assert_eq!(dp.levels[3].side, Side::Sell);
    assert_eq!(
        (dp.levels[3].px, dp.levels[3].qty),
        (d("61837.64"), d("1.54698"))
    );

    let (ts, vts, Event::BookTicker(b)) = &firsts[1] else {
        panic!()
    };
    assert_eq!((*ts, *vts), (1_723_161_254_087_891_268, 0));
    assert_eq!(b.update_id, 50_093_239_212);
    assert_eq!((b.bid_px, b.bid_qty), (d("61837.63"), d("3.78826")));
    assert_eq!((b.ask_px, b.ask_qty), (d("61837.64"), d("1.54698")));

    let (ts, vts, Event::Trade(x)) = &firsts[2] else {
        panic!()
    };
    assert_eq!(
        (*ts, *vts),
        (1_723_161_254_087_896_568, 1_723_161_255_343_000_000)
    );
    assert_eq!(
        (x.px, x.qty, x.aggressor, x.trade_id),
        (d("61837.63"), d("0.02"), Side::Sell, 3_735_683_259)
    );

    let (ts, vts, Event::Depth(s)) = &firsts[3] else {
        panic!()
    };
    assert_eq!((*ts, *vts), (1_723_161_254_206_652_067, 0));
    assert_eq!(
        (s.first_update_id, s.last_update_id),
        (50_093_239_218, 50_093_239_218)
    );
    assert!(s.first_chunk && !s.last_chunk && s.len == 16);
    assert_eq!(
        (s.levels[0].side, s.levels[0].px, s.levels[0].qty),
        (Side::Buy, d("61837.63"), d("3.78826"))
    );
}

#[test]
fn usdm_btcusdt_20240808_counts_and_venue_time() {
    let mut feed =
        RecordedFeed::open(&data("hftbacktest/usdm/btcusdt_20240808.gz"), &btc()).unwrap();
    let (t, firsts) = tally(&mut feed, 7);
    assert_eq!(
        (t.tickers, t.trades, t.diff_msgs, t.snap_msgs),
        (66_089, 21_313, 6_551, 1)
    );
    assert_eq!((t.diff_levels, t.snap_levels), (443_521, 2_000));
    assert_eq!((t.diff_chunks, t.snap_chunks), (30_814, 125));
    assert_eq!((t.buys, t.sells), (9_616, 11_697));
    assert_eq!(
        t.tickers_with_venue_ts, 66_089,
        "USD-M bookTicker carries E"
    );
    let (_, vts, Event::BookTicker(b)) = &firsts[1] else {
        panic!()
    };
    assert_eq!(*vts, 1_723_161_256_313_000_000);
    assert_eq!(
        (b.update_id, b.bid_px, b.bid_qty, b.ask_px, b.ask_qty),
        (
            5_123_107_839_020,
            d("61800.2"),
            d("2.507"),
            d("61800.3"),
            d("2.51")
        )
    );
    let (_, vts, Event::Depth(s)) = &firsts[3] else {
        panic!()
    };
    assert!(s.snapshot);
    assert_eq!(
        (*vts, s.last_update_id),
        (1_723_161_256_501_000_000, 5_123_107_852_948)
    );
}

#[test]
fn unknown_symbol_names_the_instrument() {
    let syms = vec![("ETHUSDT".to_string(), 1)];
    let mut feed =
        RecordedFeed::open(&data("hftbacktest/spot/btcusdt_20240808.gz"), &syms).unwrap();
    let err = feed.next_event().unwrap().unwrap_err();
    assert!(
        matches!(&err, FeedError::UnknownSymbol { line: 1, symbol, .. } if symbol == "BTCUSDT"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("BTCUSDT") && msg.contains("btcusdt_20240808.gz:1"),
        "{msg}"
    );
}

#[test]
fn missing_file_is_io_error() {
    let err = RecordedFeed::open(&PathBuf::from("/nonexistent/x.gz"), &btc()).unwrap_err();
    assert!(matches!(err, FeedError::Io { line: 0, .. }));
    assert!(err.to_string().contains("/nonexistent/x.gz"));
}

#[test]
fn truncated_gzip_ends_with_io_error() {
    let bytes = std::fs::read(data("hftbacktest/spot/btcusdt_20240808.gz")).unwrap();
    let path = std::env::temp_dir().join(format!("kestrel-feeds-trunc-{}.gz", std::process::id()));
    std::fs::write(&path, &bytes[..200_000]).unwrap();
    let mut feed = RecordedFeed::open(&path, &btc()).unwrap();
    let (mut ok, mut errs) = (0, Vec::new());
    while let Some(r) = feed.next_event() {
        match r {
            Ok(_) => ok += 1,
            Err(e) => errs.push(e),
        }
    }
    std::fs::remove_file(&path).ok();
    assert!(ok > 1000, "{ok}");
    // The cut may fall mid-line (a Malformed partial line) before the gzip error.
    let last = errs.last().expect("an error");
    assert!(matches!(last, FeedError::Io { .. }), "{last:?}");
    assert!(errs.len() <= 2, "{errs:?}");
}

const TICKER: &str = r#"1000 {"stream":"btcusdt@bookTicker","data":{"u":5,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#;
const TRADE: &str = r#"1001 {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":false,"M":true}}"#;
const DIFF: &str = r#"1002 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":10,"u":12,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["61844.30000000","0.40163000"]]}}"#;

fn one(line: &str) -> Result<(u64, u64, Event), FeedError> {
    let mut f = RecordedFeed::from_bytes("mem.txt", line.as_bytes().to_vec(), &btc());
    f.next_event().expect("a result")
}

#[test]
fn valid_lines_parse() {
    let (ts, vts, ev) = one(TICKER).unwrap();
    assert_eq!((ts, vts), (1000, 0));
    assert!(matches!(ev, Event::BookTicker(b) if b.update_id == 5 && b.ask_qty == d("1.54698")));
    let (_, vts, ev) = one(TRADE).unwrap();
    assert_eq!(vts, 1_723_161_255_343_000_000);
    assert!(matches!(ev, Event::Trade(t) if t.aggressor == Side::Buy && t.trade_id == 3735683259));
    let (_, _, ev) = one(DIFF).unwrap();
    let Event::Depth(dp) = ev else { panic!() };
    assert!(dp.first_chunk && dp.last_chunk && !dp.snapshot && dp.len == 3);
    assert_eq!((dp.first_update_id, dp.last_update_id), (10, 12));
    // aggTrade: "a" is the aggregate trade id; bare payload without the stream wrapper.
    let agg = r#"5 {"e":"aggTrade","E":1,"s":"BTCUSDT","a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1,"m":true}"#;
    let (_, vts, ev) = one(agg).unwrap();
    assert_eq!(vts, 1_000_000);
    assert!(
        matches!(ev, Event::Trade(t) if t.trade_id == 26129 && t.aggressor == Side::Sell && t.px == d("0.01633102"))
    );
    // Streams this reader does not map are skipped.
    let kline =
        r#"6 {"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":1}}}"#;
    let mut f = RecordedFeed::from_bytes(
        "mem.txt",
        format!("{kline}\n\n{TICKER}\r\n").into_bytes(),
        &btc(),
    );
    assert!(matches!(
        f.next_event(),
        Some(Ok((1000, 0, Event::BookTicker(_))))
    ));
    assert!(f.next_event().is_none());
    // Empty diff still carries its update ids in one chunk.
    let empty = r#"7 {"e":"depthUpdate","E":1,"s":"BTCUSDT","U":3,"u":4,"b":[],"a":[]}"#;
    let Event::Depth(dp) = one(empty).unwrap().2 else {
        panic!()
    };
    assert!(dp.first_chunk && dp.last_chunk && dp.len == 0 && dp.last_update_id == 4);
}

#[test]
fn malformed_lines_are_errors() {
    let cases: &[(&str, &str)] = &[
        ("garbage", "malformed"),
        ("12x34 {}", "malformed"),
        (" {}", "malformed"),
        ("99999999999999999999999 {}", "malformed"),
        ("1 {", "malformed"),
        ("1 not json", "malformed"),
        ("1 []", "malformed"),
        ("1 {}", "malformed"),
        (
            r#"1 {"stream":"btcusdt@bookTicker","data":{"u":5,"s":"BTCUSDT","b":"1","B":"2","a":"3"}}"#,
            "malformed",
        ),
        (
            r#"1 {"stream":"btcusdt@bookTicker","data":{"u":5,"s":"BTCUSDT","b":"6183x.6","B":"2","a":"3","A":"4"}}"#,
            "bad number",
        ),
        (
            r#"1 {"stream":"btcusdt@bookTicker","data":{"u":5,"s":"BTCUSDT","b":1.5,"B":"2","a":"3","A":"4"}}"#,
            "malformed",
        ),
        (
            r#"1 {"stream":"btcusdt@bookTicker","data":{"u":5,"s":"BTCUSDT","b":5,"B":"2","a":"3","A":"4"}}"#,
            "malformed",
        ),
        (
            r#"1 {"stream":"btcusdt@bookTicker","data":{"u":"x","s":"BTCUSDT","b":"1","B":"2","a":"3","A":"4"}}"#,
            "malformed",
        ),
        (
            r#"1 {"stream":"btcusdt@bookTicker","data":{"u":5,"s":"BTCUSDT","b":"","B":"2","a":"3","A":"4"}}"#,
            "bad number",
        ),
        (
            r#"1 {"stream":"btcusdt@bookTicker","data":{"u":5,"s":"BTCUSDT","b":"1.0000000001","B":"2","a":"3","A":"4"}}"#,
            "bad number",
        ),
        (
            r#"1 {"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"2"}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"abc","q":"2","m":true}"#,
            "bad number",
        ),
        (
            r#"1 {"e":"trade","E":-1,"s":"BTCUSDT","t":1,"p":"1","q":"2","m":true}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"trade","E":18446744073709551615,"s":"BTCUSDT","t":1,"p":"1","q":"2","m":true}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"trade","E":1,"t":1,"p":"1","q":"2","m":true}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"trade","E":1,"s":"DOGEUSDT","t":1,"p":"1","q":"2","m":true}"#,
            "unknown symbol DOGEUSDT",
        ),
        (
            r#"1 {"e":"aggTrade","E":1,"s":"BTCUSDT","p":"1","q":"2","m":true}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"b":[],"a":[]}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[]}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.0"]],"a":[]}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.0",2]],"a":[]}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":["1.0"],"a":[]}"#,
            "malformed",
        ),
        (
            r#"1 {"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[["1","x"]]}"#,
            "bad number in field \"ask quantity\"",
        ),
        (
            r#"1 {"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1e5","1"]],"a":[]}"#,
            "bad number in field \"bid price\"",
        ),
        (r#"1 {"lastUpdateId":5,"bids":[["1","2"]]}"#, "malformed"),
        (
            r#"1 {"lastUpdateId":5,"bids":[["1","2"]],"asks":[["1","--"]]}"#,
            "bad number",
        ),
    ];
    for (line, want) in cases {
        let err = match one(line) {
            Err(e) => e,
            Ok(v) => panic!("{line}: expected an error, got {v:?}"),
        };
        let msg = err.to_string();
        assert!(msg.starts_with("mem.txt:1: "), "{line}: {msg}");
        assert!(msg.contains(want), "{line}: {msg} (want {want:?})");
        let kind_ok = match &err {
            FeedError::Malformed { .. } => *want == "malformed",
            FeedError::BadNumber { .. } => want.starts_with("bad number"),
            FeedError::UnknownSymbol { .. } => want.starts_with("unknown symbol"),
            FeedError::Io { .. } => false,
        };
        assert!(kind_ok, "{line}: {err:?}");
    }
}

#[test]
fn reading_goes_on_after_a_bad_line_with_line_numbers() {
    let text = format!("{TICKER}\n1 {{\n{TRADE}\nx\n{DIFF}\n");
    let mut f = RecordedFeed::from_bytes("mem.txt", text.into_bytes(), &btc());
    assert!(matches!(
        f.next_event(),
        Some(Ok((_, _, Event::BookTicker(_))))
    ));
    assert!(matches!(
        f.next_event(),
        Some(Err(FeedError::Malformed { line: 2, .. }))
    ));
    assert!(matches!(f.next_event(), Some(Ok((_, _, Event::Trade(_))))));
    assert!(matches!(
        f.next_event(),
        Some(Err(FeedError::Malformed { line: 4, .. }))
    ));
    assert!(matches!(f.next_event(), Some(Ok((_, _, Event::Depth(_))))));
    assert!(f.next_event().is_none());
    assert!(f.next_event().is_none());
}

#[test]
fn every_truncation_of_a_line_is_an_error() {
    for line in [TICKER, TRADE, DIFF] {
        for cut in 1..line.len() {
            let part = &line[..cut];
            let r = one(part);
            assert!(
                matches!(r, Err(FeedError::Malformed { line: 1, .. })),
                "{part:?}: {r:?}"
            );
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    // Deterministic byte flips over real lines; any result is fine except a panic,
    // and every line yields exactly one result or is skipped.
    let mut x: u64 = 0x1234_5678;
    let mut errors = 0;
    for round in 0..3000 {
        let src = [TICKER, TRADE, DIFF][round % 3].as_bytes();
        let mut line = src.to_vec();
        for _ in 0..1 + round % 4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % line.len() as u64) as usize;
            line[i] = (x >> 32) as u8;
        }
        line.retain(|&c| c != b'\n');
        let mut f = RecordedFeed::from_bytes("mem.txt", line, &btc());
        while let Some(r) = f.next_event() {
            errors += r.is_err() as u32;
        }
    }
    assert!(errors > 1000, "{errors}");
}

#[test]
fn snapshot_attaches_to_next_depth_symbol() {
    let syms = vec![("BTCUSDT".to_string(), 0), ("ETHUSDT".to_string(), 1)];
    let snap = r#"2000 {"lastUpdateId":11,"bids":[["61837.63","3.5"]],"asks":[["61837.64","1"]]}"#;
    let eth = r#"2001 {"stream":"ethusdt@bookTicker","data":{"u":9,"s":"ETHUSDT","b":"2500.1","B":"1","a":"2500.2","A":"2"}}"#;
    let text = format!("{snap}\n{eth}\n{DIFF}\n{snap}\n");
    let mut f = RecordedFeed::from_bytes("mem.txt", text.into_bytes(), &syms);
    let (ts, _, Event::Depth(s)) = f.next_event().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(
        (ts, s.instrument, s.snapshot, s.len, s.last_update_id),
        (2000, 0, true, 2, 11)
    );
    assert!(s.first_chunk && s.last_chunk);
    let (ts, _, Event::BookTicker(b)) = f.next_event().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!((ts, b.instrument), (2001, 1));
    let (ts, _, Event::Depth(dp)) = f.next_event().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!((ts, dp.instrument, dp.snapshot), (1002, 0, false));
    // A trailing snapshot with no following depthUpdate cannot be attributed.
    let err = f.next_event().unwrap().unwrap_err();
    assert!(
        matches!(err, FeedError::Malformed { line: 4, .. }),
        "{err:?}"
    );
    assert!(f.next_event().is_none());
}

#[test]
fn snapshot_look_ahead_is_bounded() {
    use kestrel_feeds::recorded::MAX_LOOK_AHEAD;
    let syms = vec![("BTCUSDT".to_string(), 0), ("ETHUSDT".to_string(), 1)];
    let snap = r#"1 {"lastUpdateId":1,"bids":[],"asks":[]}"#;
    let eth = r#"2 {"stream":"ethusdt@bookTicker","data":{"u":9,"s":"ETHUSDT","b":"2500.1","B":"1","a":"2500.2","A":"2"}}"#;
    // The depthUpdate comes one line too late: reading ahead to it used to buffer
    // every line before it, however many.
    let mut text = format!("{snap}\n");
    for _ in 0..MAX_LOOK_AHEAD {
        text.push_str(eth);
        text.push('\n');
    }
    text.push_str(DIFF);
    text.push('\n');
    let mut f = RecordedFeed::from_bytes("mem.txt", text.into_bytes(), &syms);
    let err = f.next_event().unwrap().unwrap_err();
    assert!(
        matches!(&err, FeedError::Malformed { line: 1, reason, .. }
            if reason.contains(&MAX_LOOK_AHEAD.to_string())),
        "{err:?}"
    );
    assert_eq!(f.line_number(), 1 + MAX_LOOK_AHEAD as u64);
    // Nothing read ahead is lost: every ticker, then the diff, in file order.
    let mut tickers = 0;
    while let Some(Ok((_, _, Event::BookTicker(b)))) = f.next_event() {
        assert_eq!(b.instrument, 1);
        tickers += 1;
        if tickers == MAX_LOOK_AHEAD {
            break;
        }
    }
    assert_eq!(tickers, MAX_LOOK_AHEAD);
    let (_, _, Event::Depth(dp)) = f.next_event().unwrap().unwrap() else {
        panic!()
    };
    assert!(!dp.snapshot);
    assert!(f.next_event().is_none());
}
