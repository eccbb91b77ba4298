//! The Binance parser on real captures: hftbacktest (nkaz001/hftbacktest, MIT) and
//! cryptofeed (bmoscon/cryptofeed, XFree86 1.1) files in `shared/data`, plus the
//! exchangeInfo samples. See shared/data/README.md for provenance.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use kestrel_engine::{Dec, Event, InstrumentSpec};
use kestrel_feeds::binance::{
    instrument, instruments_from_exchange_info, split_http_line, CaptureError, CryptofeedReader,
    MsgKind, ParseError, Parser,
};
use kestrel_feeds::RecordedFeed;

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

fn gz_lines(rel: &str) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(data(rel)).unwrap();
    BufReader::new(flate2::read::MultiGzDecoder::new(f))
        .split(b'\n')
        .map(|l| l.unwrap())
        .filter(|l| !l.is_empty())
        .collect()
}

fn kind_name(k: MsgKind) -> &'static str {
    match k {
        MsgKind::BookTicker => "bookTicker",
        MsgKind::DepthDiff { .. } => "depth",
        MsgKind::PartialDepth => "partial",
        MsgKind::Trade => "trade",
        MsgKind::AggTrade => "aggTrade",
        MsgKind::Kline => "kline",
        MsgKind::Snapshot => "snapshot",
        MsgKind::Ignored => "ignored",
    }
}

/// Parses every line of an hftbacktest capture; checks the README's counts and that the
/// events equal what `RecordedFeed` (the serde-based reader) produces from the same file.
fn hftbacktest(rel: &str, want: &[(&str, u64)], diff_levels: u64) {
    let syms = vec![("BTCUSDT".to_string(), 4)];
    let mut p = Parser::new(&syms);
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut levels = 0u64;
    let mut mine = Vec::new();
    let mut out = Vec::new();
    for mut line in gz_lines(&format!("hftbacktest/{rel}")) {
        let sp = line.iter().position(|&c| c == b' ').unwrap();
        let ts: u64 = std::str::from_utf8(&line[..sp]).unwrap().parse().unwrap();
        out.clear();
        let r = p.parse(&mut line[sp + 1..], &mut out).unwrap();
        *counts.entry(kind_name(r.kind)).or_default() += 1;
        assert_eq!(r.instrument, Some(4));
        assert_eq!(r.events, out.len());
        if let MsgKind::DepthDiff { first, last, prev } = r.kind {
            assert!(first <= last);
            if rel.starts_with("usdm") {
                assert!(prev > 0 && prev < first);
            } else {
                assert_eq!(prev, 0);
            }
            levels += out
                .iter()
                .map(|e| match e {
                    Event::Depth(d) => d.levels().len() as u64,
                    _ => 0,
                })
                .sum::<u64>();
        }
        match (rel.starts_with("spot"), r.kind) {
            (_, MsgKind::Snapshot) => {}
            (true, MsgKind::BookTicker) => assert_eq!(r.venue_ts, 0),
            _ => assert!(r.venue_ts > 1_723_000_000_000_000_000, "{r:?}"),
        }
        mine.extend(out.drain(..).map(|e| (ts, r.venue_ts, e)));
    }
    let want: BTreeMap<&str, u64> = want.iter().copied().collect();
    assert_eq!(counts, want, "{rel}");
    assert_eq!(levels, diff_levels, "{rel}");

    let mut rec = RecordedFeed::open(&data(&format!("hftbacktest/{rel}")), &syms).unwrap();
    let mut theirs = Vec::new();
    while let Some(ev) = rec.next_event() {
        theirs.push(ev.unwrap());
    }
    assert_eq!(mine.len(), theirs.len(), "{rel}");
    for (i, (a, b)) in mine.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "{rel}: event {i}");
    }
}

#[test]
fn hftbacktest_spot_btcusdt() {
    hftbacktest(
        "spot/btcusdt_20240808.gz",
        &[
            ("depth", 3_451),
            ("bookTicker", 28_040),
            ("trade", 9_757),
            ("snapshot", 1),
        ],
        124_090,
    );
}

#[test]
fn hftbacktest_usdm_btcusdt() {
    hftbacktest(
        "usdm/btcusdt_20240808.gz",
        &[
            ("depth", 6_551),
            ("bookTicker", 66_089),
            ("trade", 21_313),
            ("snapshot", 1),
        ],
        443_521,
    );
}

fn syms(names: &[&str]) -> Vec<(String, u16)> {
    names
        .iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), i as u16))
        .collect()
}

const SPOT: [&str; 4] = ["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"];
const USDM: [&str; 4] = ["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"];

/// Message counts per kind (a depth message counts once, at its first chunk).
type Counts = BTreeMap<&'static str, u64>;

fn read_all(rel: &str, names: &[&str]) -> (Counts, Vec<(u64, u64, Event)>) {
    let mut r = CryptofeedReader::open(&data(rel), &syms(names)).unwrap();
    let mut counts = BTreeMap::new();
    let mut evs = Vec::new();
    while let Some(ev) = r.next_event() {
        let ev = ev.unwrap_or_else(|e| panic!("{e}"));
        let first = match &ev.2 {
            Event::Depth(d) => d.first_chunk,
            _ => true,
        };
        if first {
            *counts.entry(kind_name(r.last_kind().unwrap())).or_default() += 1;
        }
        evs.push(ev);
    }
    (counts, evs)
}

#[test]
fn cryptofeed_spot_ws() {
    let (counts, evs) = read_all("cryptofeed/BINANCE.ws.1.0", &SPOT);
    let want: BTreeMap<&str, u64> = [
        ("depth", 177),
        ("bookTicker", 84),
        ("aggTrade", 2),
        ("kline", 2),
    ]
    .into();
    assert_eq!(counts, want);
    // First frame: NKNUSDT depthUpdate U=499869750 u=499869752, 3 bids, no asks.
    let (ts, venue_ts, Event::Depth(first)) = &evs[0] else {
        panic!("{:?}", evs[0])
    };
    assert_eq!(*ts, 1_633_998_512_063_356_900);
    assert_eq!(*venue_ts, 1_633_998_512_068_000_000);
    assert_eq!((first.instrument, first.snapshot), (0, false));
    assert_eq!(
        (
            first.first_update_id,
            first.last_update_id,
            first.prev_update_id
        ),
        (499869750, 499869752, 0)
    );
    assert_eq!(first.levels().len(), 3);
    assert_eq!(first.levels()[0].px, d("0.3513"));
    assert_eq!(first.levels()[0].qty, d("6195"));
    // Every instrument shows up; spot book tickers carry no event time.
    for i in 0..4u16 {
        assert!(evs
            .iter()
            .any(|(_, _, e)| matches!(e, Event::Depth(d) if d.instrument == i)));
    }
    assert!(evs
        .iter()
        .all(|(_, v, e)| !matches!(e, Event::BookTicker(_)) || *v == 0));
    let klines: Vec<_> = evs
        .iter()
        .filter_map(|(_, _, e)| match e {
            Event::Kline(k) => Some(*k),
            _ => None,
        })
        .collect();
    assert!(klines.iter().all(|k| k.interval_s == 60 && !k.closed));
}

#[test]
fn cryptofeed_usdm_ws() {
    let (counts, evs) = read_all("cryptofeed/BINANCE_FUTURES.ws.1.0", &USDM);
    let want: BTreeMap<&str, u64> = [
        ("depth", 764),
        ("bookTicker", 613),
        ("aggTrade", 91),
        ("kline", 67),
    ]
    .into();
    assert_eq!(counts, want);
    // USD-M: every message has an event time; diffs carry pu.
    assert!(evs.iter().all(|(_, v, _)| *v > 1_626_992_000_000_000_000));
    assert!(evs
        .iter()
        .all(|(_, _, e)| !matches!(e, Event::Depth(d) if d.prev_update_id == 0)));
    let closed = evs
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::Kline(k) if k.closed))
        .count();
    assert_eq!(closed, 4, "README: 4 closed candles");
    // SUSHIUSDT's first depth event: U..u straddles the snapshot's lastUpdateId.
    let (_, _, Event::Depth(first)) = evs
        .iter()
        .find(|(_, _, e)| matches!(e, Event::Depth(d) if d.instrument == 0))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(first.first_update_id, 600859599090);
}

fn snapshots(rel: &str, names: &[&str]) -> Vec<(u64, u64, u64, usize)> {
    let mut r = CryptofeedReader::open(&data(rel), &syms(names)).unwrap();
    let mut v: Vec<(u64, u64, u64, usize)> = Vec::new();
    while let Some(ev) = r.next_event() {
        let (_, venue_ts, Event::Depth(d)) = ev.unwrap() else {
            panic!("snapshot files hold depth only")
        };
        assert!(d.snapshot);
        assert_eq!(r.last_kind(), Some(MsgKind::Snapshot));
        if d.first_chunk {
            v.push((d.instrument as u64, d.last_update_id, venue_ts, 0));
        }
        v.last_mut().unwrap().3 += d.levels().len();
    }
    v
}

#[test]
fn cryptofeed_rest_snapshots() {
    let spot = snapshots("cryptofeed/BINANCE.http.0.0", &SPOT);
    let ids: Vec<_> = spot.iter().map(|s| (s.0, s.1, s.2)).collect();
    assert_eq!(
        ids,
        vec![
            (0, 499869752, 0),
            (1, 281916627, 0),
            (2, 259345543, 0),
            (3, 15602511, 0)
        ]
    );
    let fut = snapshots("cryptofeed/BINANCE_FUTURES.http.0.0", &USDM);
    let ids: Vec<_> = fut.iter().map(|s| (s.0, s.1, s.2)).collect();
    assert_eq!(
        ids,
        vec![
            (0, 600859605926, 1626992741264 * 1_000_000),
            (1, 600859605486, 1626992741242 * 1_000_000),
            (2, 600859619434, 1626992742018 * 1_000_000),
            (3, 600859618836, 1626992741986 * 1_000_000)
        ]
    );
    // Every level of every snapshot is read: the counts are the bodies' own, read here
    // with serde_json (spot [1609, 1174, 1176, 689], USD-M [2000, 1372, 1012, 1229]).
    let levels = |v: &[(u64, u64, u64, usize)]| v.iter().map(|s| s.3).collect::<Vec<_>>();
    assert_eq!(
        levels(&spot),
        body_level_counts("cryptofeed/BINANCE.http.0.0")
    );
    assert_eq!(
        levels(&fut),
        body_level_counts("cryptofeed/BINANCE_FUTURES.http.0.0")
    );
}

/// Bids + asks of each depth body in a cryptofeed HTTP dump (`URL -> ts: body` lines).
fn body_level_counts(rel: &str) -> Vec<usize> {
    let text = std::fs::read_to_string(data(rel)).unwrap();
    text.lines()
        .filter(|l| l.contains("/depth?"))
        .map(|l| {
            let body = &l[l.find(": {").unwrap() + 2..];
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            v["bids"].as_array().unwrap().len() + v["asks"].as_array().unwrap().len()
        })
        .collect()
}

#[test]
fn cryptofeed_unknown_symbol_is_an_error_with_line_number() {
    let mut r =
        CryptofeedReader::open(&data("cryptofeed/BINANCE.ws.1.0"), &syms(&["BLZETH"])).unwrap();
    let err = loop {
        if let Err(e) = r.next_event().unwrap() {
            break e;
        }
    };
    assert_eq!(err.line(), 2);
    let CaptureError::Parse { source, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(source, &ParseError::UnknownSymbol("NKNUSDT".into()));
    assert!(err.to_string().contains("NKNUSDT"), "{err}");
    assert!(err.to_string().contains("BINANCE.ws.1.0:2"), "{err}");
    // Reading goes on after the error.
    assert!(r.next_event().is_some());
}

fn exchange_info(rel: &str) -> Vec<u8> {
    let text = std::fs::read(data(rel)).unwrap();
    let line = text.split(|&c| c == b'\n').next().unwrap().to_vec();
    let (url, ts, start) = split_http_line(&line).unwrap();
    assert!(url.ends_with("/exchangeInfo"), "{url}");
    assert!(ts > 1_600_000_000_000_000_000);
    line[start..].to_vec()
}

/// BTCUSDT's filters read from the file with serde_json (independent of the parser).
fn btcusdt_filters(body: &[u8]) -> BTreeMap<String, String> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let sym = v["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["symbol"] == "BTCUSDT")
        .unwrap();
    let mut m = BTreeMap::new();
    for f in sym["filters"].as_array().unwrap() {
        let t = f["filterType"].as_str().unwrap();
        for (k, val) in f.as_object().unwrap() {
            if let Some(s) = val.as_str() {
                m.insert(format!("{t}.{k}"), s.to_string());
            }
        }
    }
    m
}

#[test]
fn exchange_info_spot() {
    let body = exchange_info("cryptofeed/BINANCE.0");
    let f = btcusdt_filters(&body);
    let specs = instruments_from_exchange_info(&mut body.clone()).unwrap();
    assert_eq!(specs.len(), 1_695);
    let btc = specs.iter().find(|s| s.symbol == "BTCUSDT").unwrap();
    let want = InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: d(&f["PRICE_FILTER.tickSize"]),
        lot_size: d(&f["LOT_SIZE.stepSize"]),
        min_qty: d(&f["LOT_SIZE.minQty"]),
        min_notional: d(&f["MIN_NOTIONAL.minNotional"]),
        market: Default::default(),
        leverage: 1,
    };
    assert_eq!(btc, &want);
    // The 2021 values, spelled out.
    assert_eq!(btc.tick_size, d("0.01"));
    assert_eq!(btc.lot_size, d("0.00001"));
    assert_eq!(btc.min_qty, d("0.00001"));
    assert_eq!(btc.min_notional, d("10"));
    assert_eq!(specs[0].symbol, "ETHBTC");
    assert!(specs.iter().all(|s| s.validate().is_ok()));
    assert_eq!(instrument(&mut body.clone(), "btcusdt").unwrap(), want);
    let e = instrument(&mut body.clone(), "NOPEUSDT").unwrap_err();
    assert_eq!(e, ParseError::UnknownSymbol("NOPEUSDT".into()));
    assert!(e.to_string().contains("NOPEUSDT"));
}

#[test]
fn exchange_info_usdm() {
    let body = exchange_info("cryptofeed/BINANCE_FUTURES.0");
    let f = btcusdt_filters(&body);
    let specs = instruments_from_exchange_info(&mut body.clone()).unwrap();
    assert_eq!(specs.len(), 122);
    let btc = specs.iter().find(|s| s.symbol == "BTCUSDT").unwrap();
    assert_eq!(btc.tick_size, d(&f["PRICE_FILTER.tickSize"]));
    assert_eq!(btc.lot_size, d(&f["LOT_SIZE.stepSize"]));
    assert_eq!(btc.min_qty, d(&f["LOT_SIZE.minQty"]));
    assert_eq!(btc.min_notional, d(&f["MIN_NOTIONAL.notional"]));
    assert_eq!(
        (btc.tick_size, btc.lot_size, btc.min_qty, btc.min_notional),
        (d("0.01"), d("0.001"), d("0.001"), d("5"))
    );
    assert!(specs.iter().all(|s| s.validate().is_ok()));
    assert!(specs.iter().all(|s| s.min_notional > Dec::ZERO));
}

#[test]
fn exchange_info_newer_notional_filter_and_errors() {
    let mut body =
        br#"{"symbols":[{"symbol":"XUSDT","baseAsset":"X","quoteAsset":"USDT","filters":[
        {"filterType":"PRICE_FILTER","tickSize":"0.0001"},
        {"filterType":"LOT_SIZE","stepSize":"1","minQty":"2"},
        {"filterType":"NOTIONAL","minNotional":"5.5","maxNotional":"9000000"}]}]}"#
            .to_vec();
    let s = instruments_from_exchange_info(&mut body).unwrap();
    assert_eq!(s[0].min_notional, d("5.5"));
    assert_eq!(s[0].min_qty, d("2"));
    for (bad, want) in [
        (&br#"{"symbols":[{"symbol":"X","baseAsset":"X","quoteAsset":"Y","filters":[]}]}"#[..],
         ParseError::MissingField("PRICE_FILTER.tickSize")),
        (br#"{"timezone":"UTC"}"#, ParseError::MissingField("symbols")),
        (br#"{"symbols":[{"symbol":"X","baseAsset":"X","quoteAsset":"Y","filters":[{"filterType":"PRICE_FILTER","tickSize":0.01}]}]}"#,
         ParseError::BadNumber { field: "PRICE_FILTER.tickSize", value: "number 0.01".into() }),
    ] {
        assert_eq!(instruments_from_exchange_info(&mut bad.to_vec()).unwrap_err(), want);
    }
    assert!(matches!(
        instruments_from_exchange_info(&mut b"[1,2".to_vec()),
        Err(ParseError::Json(_))
    ));
}
