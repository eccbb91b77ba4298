//! The Binance parser against every documented and captured example in
//! `shared/data/binance/vectors/` (see shared/data/README.md for provenance: official
//! binance-spot-api-docs, a scrape of the USD-M docs, and captures from
//! nkaz001/hftbacktest (MIT) and bmoscon/cryptofeed (XFree86 1.1)).
//!
//! Each example's `text` is normalized exactly as its `normalization` field says, the
//! result is checked against the example's `json` member, and the parser's events are
//! compared field by field with values computed independently from `json`.

use std::path::PathBuf;

use kestrel_engine::{BookTicker, Dec, Depth, Event, Kline, Level, Side, Trade, DEPTH_CHUNK};
use kestrel_feeds::binance::{MsgKind, ParseError, Parsed, Parser};
use serde_json::Value;

fn vectors(name: &str) -> Vec<Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/binance/vectors")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (shared/ must sit beside the repository)",
            p.display()
        )
    });
    let v: Value = serde_json::from_str(&text).unwrap();
    v["examples"].as_array().unwrap().clone()
}

const SYMBOLS: [&str; 10] = [
    "BNBUSDT",
    "BTCUSDT",
    "NKNUSDT",
    "BNBBTC",
    "SUSHIUSDT",
    "CTKUSDT",
    "RUNEEUR",
    "KEEPUSDT",
    "ETHUSDT",
    "AKROUSDT",
];

fn table() -> Vec<(String, u16)> {
    SYMBOLS
        .iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), 100 + i as u16))
        .collect()
}

fn id_of(sym: &str) -> u16 {
    100 + SYMBOLS
        .iter()
        .position(|s| s.eq_ignore_ascii_case(sym))
        .unwrap_or_else(|| panic!("symbol {sym} not in the test table")) as u16
}

/// Removes `//` comments outside strings.
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let (mut in_str, mut esc) = (false, false);
        let b = line.as_bytes();
        let mut cut = line.len();
        for i in 0..b.len() {
            let c = b[i];
            if in_str {
                if esc {
                    esc = false;
                } else if c == b'\\' {
                    esc = true;
                } else if c == b'"' {
                    in_str = false;
                }
            } else if c == b'"' {
                in_str = true;
            } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
                cut = i;
                break;
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// Removes a comma that is followed (after whitespace) by `}` or `]`, outside strings.
fn strip_trailing_commas(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let (mut in_str, mut esc) = (false, false);
    for i in 0..b.len() {
        let c = b[i];
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if c == b',' {
            let next = b[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
            if matches!(next, Some(b'}' | b']')) {
                continue;
            }
        }
        out.push(c);
    }
    String::from_utf8(out).unwrap()
}

/// `text` normalized per the example's `normalization` steps; checked against `json`.
fn normalized(ex: &Value) -> String {
    let mut t = ex["text"].as_str().unwrap().to_string();
    for step in ex["normalization"].as_array().unwrap() {
        match step.as_str().unwrap() {
            "removed // comments" => t = strip_comments(&t),
            "removed trailing comma before } or ]" => t = strip_trailing_commas(&t),
            other => panic!("unknown normalization step {other:?}"),
        }
    }
    let parsed: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(
        parsed, ex["json"],
        "{}: normalization does not give `json`",
        ex["id"]
    );
    t
}

fn d(v: &Value) -> Dec {
    Dec::parse(v.as_str().unwrap()).unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

fn payload(json: &Value) -> &Value {
    json.get("data").unwrap_or(json)
}

fn ms(v: Option<&Value>) -> u64 {
    v.map_or(0, |v| u(v) * 1_000_000)
}

/// Depth chunks built independently from JSON level lists.
fn chunks(
    inst: u16,
    snapshot: bool,
    ids: (u64, u64, u64),
    bids: &Value,
    asks: &Value,
) -> Vec<Event> {
    let mut levels = Vec::new();
    for (side, list) in [(Side::Buy, bids), (Side::Sell, asks)] {
        for l in list.as_array().unwrap() {
            levels.push(Level {
                side,
                px: d(&l[0]),
                qty: d(&l[1]),
            });
        }
    }
    let groups: Vec<&[Level]> = if levels.is_empty() {
        vec![&[]]
    } else {
        levels.chunks(DEPTH_CHUNK).collect()
    };
    let n = groups.len();
    groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let mut arr = [Level::default(); DEPTH_CHUNK];
            arr[..g.len()].copy_from_slice(g);
            Event::Depth(Depth {
                instrument: inst,
                snapshot,
                first_chunk: i == 0,
                last_chunk: i + 1 == n,
                first_update_id: ids.0,
                last_update_id: ids.1,
                prev_update_id: ids.2,
                len: g.len() as u8,
                levels: arr,
            })
        })
        .collect()
}

fn run(p: &mut Parser, text: &str) -> (Result<Parsed, ParseError>, Vec<Event>) {
    let mut bytes = text.as_bytes().to_vec();
    let mut out = Vec::new();
    let r = p.parse(&mut bytes, &mut out);
    (r, out)
}

fn symbol_of(json: &Value) -> String {
    let pl = payload(json);
    match pl.get("s") {
        Some(s) => s.as_str().unwrap().to_string(),
        None => json["stream"]
            .as_str()
            .unwrap()
            .split('@')
            .next()
            .unwrap()
            .to_string(),
    }
}

/// Raw text with `//` comments must be refused with a typed JSON error.
fn raw_text_refused(ex: &Value) {
    if ex["normalization"].as_array().unwrap().is_empty() {
        return;
    }
    let mut p = Parser::new(&table());
    let (r, out) = run(&mut p, ex["text"].as_str().unwrap());
    assert!(
        matches!(r, Err(ParseError::Json(_))),
        "{}: raw doc text should be a JSON error, got {r:?}",
        ex["id"]
    );
    assert!(out.is_empty());
}

#[test]
fn book_ticker_examples() {
    let exs = vectors("book_ticker.json");
    assert_eq!(exs.len(), 5);
    for ex in &exs {
        raw_text_refused(ex);
        let text = normalized(ex);
        let pl = payload(&ex["json"]);
        let inst = id_of(&symbol_of(&ex["json"]));
        let want = Event::BookTicker(BookTicker {
            instrument: inst,
            bid_px: d(&pl["b"]),
            bid_qty: d(&pl["B"]),
            ask_px: d(&pl["a"]),
            ask_qty: d(&pl["A"]),
            update_id: u(&pl["u"]),
        });
        let mut p = Parser::new(&table());
        let (r, out) = run(&mut p, &text);
        let r = r.unwrap_or_else(|e| panic!("{}: {e}", ex["id"]));
        assert_eq!(r.kind, MsgKind::BookTicker, "{}", ex["id"]);
        assert_eq!(r.instrument, Some(inst));
        assert_eq!(r.venue_ts, ms(pl.get("E")), "{}", ex["id"]);
        assert_eq!(r.events, 1);
        assert_eq!(out, vec![want], "{}", ex["id"]);
    }
    // Spot doc example, checked by hand as well.
    let mut p = Parser::new(&table());
    let (_, out) = run(&mut p, &normalized(&exs[0]));
    let Event::BookTicker(t) = out[0] else {
        panic!()
    };
    assert_eq!(t.bid_px, Dec(25_351_900_000));
    assert_eq!(t.ask_qty, Dec(40_660_000_000));
    assert_eq!(t.update_id, 400900217);
}

#[test]
fn depth_update_examples() {
    let exs = vectors("depth_update.json");
    assert_eq!(exs.len(), 6);
    for ex in &exs {
        raw_text_refused(ex);
        let text = normalized(ex);
        let pl = payload(&ex["json"]);
        let inst = id_of(&symbol_of(&ex["json"]));
        let ids = (u(&pl["U"]), u(&pl["u"]), pl.get("pu").map_or(0, u));
        let want = chunks(inst, false, ids, &pl["b"], &pl["a"]);
        let mut p = Parser::new(&table());
        let (r, out) = run(&mut p, &text);
        let r = r.unwrap_or_else(|e| panic!("{}: {e}", ex["id"]));
        assert_eq!(
            r.kind,
            MsgKind::DepthDiff {
                first: ids.0,
                last: ids.1,
                prev: ids.2
            },
            "{}",
            ex["id"]
        );
        assert_eq!(r.venue_ts, ms(pl.get("E")));
        assert_eq!(r.events, want.len());
        assert_eq!(out, want, "{}", ex["id"]);
    }
    // USD-M doc example: pu present; spot: pu = 0.
    let mut p = Parser::new(&table());
    let (r, _) = run(&mut p, &normalized(&exs[3]));
    assert_eq!(
        r.unwrap().kind,
        MsgKind::DepthDiff {
            first: 157,
            last: 160,
            prev: 149
        }
    );
}

#[test]
fn depth_update_chunks_large_updates() {
    // 20 bids + 13 asks → chunks of 16, 16, 1 in order, flags on first and last.
    let bids: Vec<String> = (0..20)
        .map(|i| format!("[\"{}.5\",\"{i}\"]", 100 - i))
        .collect();
    let asks: Vec<String> = (0..13)
        .map(|i| format!("[\"{}.25\",\"0.{i}\"]", 200 + i))
        .collect();
    let text = format!(
        r#"{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":9,"b":[{}],"a":[{}]}}"#,
        bids.join(","),
        asks.join(",")
    );
    let json: Value = serde_json::from_str(&text).unwrap();
    let want = chunks(id_of("BTCUSDT"), false, (5, 9, 0), &json["b"], &json["a"]);
    assert_eq!(want.len(), 3);
    let mut p = Parser::new(&table());
    let (r, out) = run(&mut p, &text);
    assert_eq!(r.unwrap().events, 3);
    assert_eq!(out, want);
}

#[test]
fn partial_depth_examples() {
    let exs = vectors("partial_depth.json");
    assert_eq!(exs.len(), 2);
    // Spot: {lastUpdateId, bids, asks}; the symbol comes from the stream name.
    let spot = &exs[0];
    raw_text_refused(spot);
    let text = normalized(spot);
    let j = &spot["json"];
    let last = u(&j["lastUpdateId"]);
    let inst = id_of("BNBBTC");
    let want = chunks(inst, true, (last, last, 0), &j["bids"], &j["asks"]);
    let mut p = Parser::new(&table());
    let mut out = Vec::new();
    let r = p
        .parse_stream("bnbbtc@depth5", &mut text.clone().into_bytes(), &mut out)
        .unwrap();
    assert_eq!(r.kind, MsgKind::PartialDepth);
    assert_eq!(r.instrument, Some(inst));
    assert_eq!(out, want);
    // The same payload in a combined-stream frame.
    let framed = format!(r#"{{"stream":"bnbbtc@depth5@100ms","data":{}}}"#, text);
    let (r, out2) = run(&mut p, &framed);
    assert_eq!(r.unwrap().kind, MsgKind::PartialDepth);
    assert_eq!(out2, want);
    // Bare, without a stream name: read as a snapshot of the only configured symbol;
    // with several symbols the symbol is missing.
    let mut one = Parser::new(&[("BNBBTC".to_string(), 7)]);
    let (r, out3) = run(&mut one, &text);
    assert_eq!(r.unwrap().kind, MsgKind::Snapshot);
    assert_eq!(
        out3,
        chunks(7, true, (last, last, 0), &j["bids"], &j["asks"])
    );
    let (r, _) = run(&mut p, &text);
    assert_eq!(r.unwrap_err(), ParseError::MissingField("s"));

    // USD-M: depthUpdate-shaped top-N book; the stream name says it is not a diff.
    let usdm = &exs[1];
    let text = normalized(usdm);
    let j = &usdm["json"];
    let ids = (u(&j["U"]), u(&j["u"]), u(&j["pu"]));
    let want = chunks(id_of("BTCUSDT"), true, ids, &j["b"], &j["a"]);
    let mut out = Vec::new();
    let r = p
        .parse_stream(
            "btcusdt@depth5@100ms",
            &mut text.clone().into_bytes(),
            &mut out,
        )
        .unwrap();
    assert_eq!(r.kind, MsgKind::PartialDepth);
    assert_eq!(r.venue_ts, 1571889248277 * 1_000_000);
    assert_eq!(out, want);
    let framed = format!(r#"{{"stream":"btcusdt@depth10","data":{}}}"#, text);
    let (r, out2) = run(&mut p, &framed);
    assert_eq!(r.unwrap().kind, MsgKind::PartialDepth);
    assert_eq!(out2, want);
    // Without the stream name it is indistinguishable from a diff.
    let (r, _) = run(&mut p, &text);
    assert!(matches!(r.unwrap().kind, MsgKind::DepthDiff { .. }));
}

fn check_trades(file: &str, agg: bool, n: usize) {
    let exs = vectors(file);
    assert_eq!(exs.len(), n);
    for ex in &exs {
        raw_text_refused(ex);
        let text = normalized(ex);
        let pl = payload(&ex["json"]);
        let inst = id_of(&symbol_of(&ex["json"]));
        let want = Event::Trade(Trade {
            instrument: inst,
            px: d(&pl["p"]),
            qty: d(&pl["q"]),
            aggressor: if pl["m"].as_bool().unwrap() {
                Side::Sell
            } else {
                Side::Buy
            },
            trade_id: u(&pl[if agg { "a" } else { "t" }]),
        });
        let mut p = Parser::new(&table());
        let (r, out) = run(&mut p, &text);
        let r = r.unwrap_or_else(|e| panic!("{}: {e}", ex["id"]));
        assert_eq!(
            r.kind,
            if agg {
                MsgKind::AggTrade
            } else {
                MsgKind::Trade
            }
        );
        assert_eq!(r.venue_ts, ms(pl.get("E")));
        assert_eq!(out, vec![want], "{}", ex["id"]);
    }
}

#[test]
fn trade_examples() {
    check_trades("trade.json", false, 3);
}

#[test]
fn agg_trade_examples() {
    check_trades("agg_trade.json", true, 4);
    // The USD-M doc example's trailing comma (after stripping comments only) is a
    // typed JSON error, not a panic.
    let ex = &vectors("agg_trade.json")[2];
    assert_eq!(ex["id"], "usdm_doc");
    let only_comments = strip_comments(ex["text"].as_str().unwrap());
    let mut p = Parser::new(&table());
    let (r, out) = run(&mut p, &only_comments);
    assert!(matches!(r, Err(ParseError::Json(_))), "{r:?}");
    assert!(out.is_empty());
}

#[test]
fn kline_examples() {
    let exs = vectors("kline.json");
    assert_eq!(exs.len(), 4);
    for ex in &exs {
        raw_text_refused(ex);
        let text = normalized(ex);
        let pl = payload(&ex["json"]);
        let k = &pl["k"];
        assert_eq!(k["i"], "1m");
        let want = Event::Kline(Kline {
            instrument: id_of(pl["s"].as_str().unwrap()),
            interval_s: 60,
            open_ts: u(&k["t"]) * 1_000_000,
            open: d(&k["o"]),
            high: d(&k["h"]),
            low: d(&k["l"]),
            close: d(&k["c"]),
            volume: d(&k["v"]),
            quote_volume: d(&k["q"]),
            trades: u(&k["n"]),
            taker_buy_base: d(&k["V"]),
            taker_buy_quote: d(&k["Q"]),
            closed: k["x"].as_bool().unwrap(),
        });
        let mut p = Parser::new(&table());
        let (r, out) = run(&mut p, &text);
        let r = r.unwrap_or_else(|e| panic!("{}: {e}", ex["id"]));
        assert_eq!(r.kind, MsgKind::Kline);
        assert_eq!(r.venue_ts, u(&pl["E"]) * 1_000_000);
        assert_eq!(out, vec![want], "{}", ex["id"]);
    }
    // The closed USD-M capture, by hand.
    let mut p = Parser::new(&table());
    let (_, out) = run(&mut p, &normalized(&exs[3]));
    let Event::Kline(k) = out[0] else { panic!() };
    assert!(k.closed);
    assert_eq!(k.open_ts, 1_626_992_700_000_000_000);
    assert_eq!(k.close, Dec(7_617_000_000));
    assert_eq!(k.trades, 113);
}

#[test]
fn kline_intervals() {
    use kestrel_feeds::binance::interval_seconds;
    for (s, v) in [
        ("1s", 1),
        ("1m", 60),
        ("3m", 180),
        ("15m", 900),
        ("1h", 3600),
        ("12h", 43_200),
        ("1d", 86_400),
        ("3d", 259_200),
        ("1w", 604_800),
        ("1M", 2_592_000),
    ] {
        assert_eq!(interval_seconds(s), Some(v), "{s}");
    }
    for bad in ["", "m", "0m", "1x", "-1m", "99999999999d", "1é"] {
        assert_eq!(interval_seconds(bad), None, "{bad}");
    }
}

#[test]
fn depth_snapshot_examples() {
    let exs = vectors("depth_snapshot.json");
    assert_eq!(exs.len(), 6);
    let mut p = Parser::new(&table());
    for ex in &exs {
        let id = ex["id"].as_str().unwrap();
        raw_text_refused(ex);
        let text = normalized(ex);
        let mut bytes = text.clone().into_bytes();
        let mut out = Vec::new();
        if id == "spot_wsapi_request_doc" {
            // A request, not a book: typed errors / ignored, no events.
            assert_eq!(
                p.parse_snapshot(&mut bytes, 3, &mut out).unwrap_err(),
                ParseError::MissingField("lastUpdateId")
            );
            let (r, out) = run(&mut p, &text);
            assert_eq!(r.unwrap().kind, MsgKind::Ignored);
            assert!(out.is_empty());
            continue;
        }
        let j = ex["json"].get("result").unwrap_or(&ex["json"]);
        let last = u(&j["lastUpdateId"]);
        let want = chunks(3, true, (last, last, 0), &j["bids"], &j["asks"]);
        let r = p
            .parse_snapshot(&mut bytes, 3, &mut out)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(r.kind, MsgKind::Snapshot);
        assert_eq!(r.instrument, Some(3));
        assert_eq!(r.venue_ts, ms(j.get("E")), "{id}");
        assert_eq!(r.events, want.len());
        assert_eq!(out, want, "{id}");
        if id.contains("limit1000") {
            let levels: usize = out
                .iter()
                .map(|e| match e {
                    Event::Depth(d) => d.levels().len(),
                    _ => 0,
                })
                .sum();
            let n = j["bids"].as_array().unwrap().len() + j["asks"].as_array().unwrap().len();
            assert_eq!(levels, n, "{id}");
            assert!(n > 600, "{id}: a real limit-1000 snapshot");
        }
    }
}

#[test]
fn subscription_replies_and_venue_errors() {
    let mut p = Parser::new(&table());
    for text in [
        r#"{"result":null,"id":1}"#,
        r#"{"result":["btcusdt@depth"],"id":3}"#,
        r#"{"id":"51e2","status":200,"result":{"lastUpdateId":1,"bids":[],"asks":[]}}"#,
    ] {
        let (r, out) = run(&mut p, text);
        let r = r.unwrap();
        assert_eq!(r.kind, MsgKind::Ignored, "{text}");
        assert_eq!((r.instrument, r.venue_ts, r.events), (None, 0, 0));
        assert!(out.is_empty());
    }
    let (r, _) = run(
        &mut p,
        r#"{"error":{"code":2,"msg":"Invalid request"},"id":1}"#,
    );
    let e = r.unwrap_err();
    assert_eq!(e, ParseError::Venue("code 2: Invalid request".into()));
    assert!(e.to_string().contains("Invalid request"));
}
