//! Malformed input: every failure is a typed `ParseError`, nothing is appended, and no
//! byte string makes the parser panic.

use kestrel_engine::Event;
use kestrel_feeds::binance::{instruments_from_exchange_info, MsgKind, ParseError, Parser};
use proptest::prelude::*;

const TICKER: &str = r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}"#;
const DEPTH: &str = r#"{"stream":"sushiusdt@depth@100ms","data":{"e":"depthUpdate","E":1626992741037,"T":1626992741024,"s":"SUSHIUSDT","U":600859599090,"u":600859600917,"pu":600859598061,"b":[["7.5040","813"],["7.6090","0"],["7.6110","2"]],"a":[["7.6150","1563"],["7.6220","3284"]]}}"#;
const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#;
const AGG: &str = r#"{"stream":"ctkusdt@aggTrade","data":{"e":"aggTrade","E":1626992741575,"a":16599292,"s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,"l":23961322,"T":1626992741421,"m":false}}"#;
const KLINE: &str = r#"{"stream":"sushiusdt@kline_1m","data":{"e":"kline","E":1626992760203,"s":"SUSHIUSDT","k":{"t":1626992700000,"T":1626992759999,"s":"SUSHIUSDT","i":"1m","f":126902874,"L":126902986,"o":"7.6080","c":"7.6170","h":"7.6180","l":"7.6070","v":"3005","n":113,"x":true,"q":"22875.8590","V":"1900","Q":"14464.6960","B":"0"}}}"#;
const SNAP: &str = r#"{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#;
const ALL: [&str; 6] = [TICKER, DEPTH, TRADE, AGG, KLINE, SNAP];

fn parser() -> Parser {
    Parser::new(&[
        ("BTCUSDT".to_string(), 0),
        ("SUSHIUSDT".to_string(), 1),
        ("CTKUSDT".to_string(), 2),
    ])
}

/// Parses `text` with both entry points; checks the no-partial-output rule.
fn parse(p: &mut Parser, text: &[u8]) -> Result<MsgKind, ParseError> {
    let mut out = vec![Event::Timer(7)];
    let r = p.parse(&mut text.to_vec(), &mut out);
    match &r {
        Ok(parsed) => assert_eq!(out.len(), 1 + parsed.events),
        Err(_) => assert_eq!(out, vec![Event::Timer(7)], "output appended on error"),
    }
    let mut out2 = vec![Event::Timer(7)];
    if p.parse_snapshot(&mut text.to_vec(), 0, &mut out2).is_err() {
        assert_eq!(out2, vec![Event::Timer(7)]);
    }
    let mut out3 = Vec::new();
    if p.parse_stream("btcusdt@depth5", &mut text.to_vec(), &mut out3)
        .is_err()
    {
        assert!(out3.is_empty());
    }
    // A REST snapshot names no symbol: judge it by `parse_snapshot`.
    if text.starts_with(br#"{"lastUpdateId""#) {
        let mut out = Vec::new();
        return p
            .parse_snapshot(&mut text.to_vec(), 0, &mut out)
            .map(|p| p.kind);
    }
    r.map(|p| p.kind)
}

#[test]
fn the_good_messages_parse() {
    let mut p = parser();
    let kinds: Vec<MsgKind> = ALL
        .iter()
        .map(|m| parse(&mut p, m.as_bytes()).unwrap_or_else(|e| panic!("{m}: {e}")))
        .collect();
    assert_eq!(
        kinds,
        [
            MsgKind::BookTicker,
            MsgKind::DepthDiff {
                first: 600859599090,
                last: 600859600917,
                prev: 600859598061
            },
            MsgKind::Trade,
            MsgKind::AggTrade,
            MsgKind::Kline,
            MsgKind::Snapshot
        ]
    );
}

#[test]
fn every_truncation_is_an_error() {
    let mut p = parser();
    for m in ALL {
        for n in 0..m.len() {
            // A prefix of a JSON object is never JSON.
            let r = parse(&mut p, &m.as_bytes()[..n]);
            assert!(
                matches!(r, Err(ParseError::Json(_))),
                "{:?}: {r:?}",
                &m[..n]
            );
        }
    }
}

fn err(text: &str) -> ParseError {
    parse(&mut parser(), text.as_bytes()).unwrap_err()
}

fn bad(field: &'static str, value: &str) -> ParseError {
    ParseError::BadNumber {
        field,
        value: value.into(),
    }
}

fn wrong(field: &'static str, expected: &'static str, found: &str) -> ParseError {
    ParseError::WrongType {
        field,
        expected,
        found: found.into(),
    }
}

#[test]
fn wrong_types_and_bad_numbers() {
    // (message, text to replace, replacement, expected error)
    let cases: Vec<(&str, &str, &str, ParseError)> = vec![
        (
            TICKER,
            r#""b":"61800.20""#,
            r#""b":61800.2"#,
            bad("b", "number 61800.2"),
        ),
        (TICKER, r#""B":"2.507""#, r#""B":"1e3""#, bad("B", "1e3")),
        (
            TICKER,
            r#""a":"61800.30""#,
            r#""a":"61,800.30""#,
            bad("a", "61,800.30"),
        ),
        (TICKER, r#""A":"2.510""#, r#""A":"""#, bad("A", "")),
        (TICKER, r#""A":"2.510""#, r#""A":"0x10""#, bad("A", "0x10")),
        (
            TICKER,
            r#""A":"2.510""#,
            r#""A":"99999999999.0""#,
            bad("A", "99999999999.0"),
        ),
        (
            TICKER,
            r#""u":5123107839020"#,
            r#""u":"5123107839020""#,
            bad("u", "5123107839020"),
        ),
        (
            TICKER,
            r#""E":1723161256313"#,
            r#""E":-1"#,
            bad("E", "number -1"),
        ),
        (
            TICKER,
            r#""E":1723161256313"#,
            r#""E":18446744073709551"#,
            bad("E", "18446744073709551"),
        ),
        (
            TICKER,
            r#""s":"BTCUSDT""#,
            r#""s":null"#,
            wrong("s", "a string", "null"),
        ),
        (
            TRADE,
            r#""m":true"#,
            r#""m":"yes""#,
            wrong("m", "a boolean", "yes"),
        ),
        (
            TRADE,
            r#""m":true"#,
            "\"m\":null",
            wrong("m", "a boolean", "null"),
        ),
        (
            TRADE,
            r#""t":3735683259"#,
            r#""t":1.5"#,
            bad("t", "number 1.5"),
        ),
        (
            TRADE,
            r#""p":"61837.63000000""#,
            r#""p":"61837.6300000001""#,
            bad("p", "61837.6300000001"),
        ),
        (
            TRADE,
            r#""q":"0.02000000""#,
            r#""q":"NaN""#,
            bad("q", "NaN"),
        ),
        (
            TRADE,
            r#""q":"0.02000000""#,
            r#""q":"1.2.3""#,
            bad("q", "1.2.3"),
        ),
        (TRADE, r#""q":"0.02000000""#, r#""q":" 1""#, bad("q", " 1")),
        (
            TRADE,
            r#","t":3735683259"#,
            "",
            ParseError::MissingField("t"),
        ),
        (TRADE, r#","m":true"#, "", ParseError::MissingField("m")),
        (AGG, r#""a":16599292"#, r#""a":[1]"#, bad("a", "an array")),
        (
            DEPTH,
            r#"["7.6090","0"]"#,
            r#"["7.6.09","0"]"#,
            bad("b", "7.6.09"),
        ),
        (
            DEPTH,
            r#"["7.6090","0"]"#,
            r#"[7.609,"0"]"#,
            bad("b", "number 7.609"),
        ),
        (
            DEPTH,
            r#"["7.6150","1563"]"#,
            r#""7.6150""#,
            wrong("a", "a [price, qty] pair", "7.6150"),
        ),
        (
            DEPTH,
            r#"["7.6220","3284"]"#,
            r#"["7.6220"]"#,
            wrong("a", "a [price, qty] pair", "an array"),
        ),
        (
            DEPTH,
            r#""U":600859599090,"#,
            "",
            ParseError::MissingField("U"),
        ),
        (
            DEPTH,
            r#""pu":600859598061"#,
            r#""pu":-5"#,
            bad("pu", "number -5"),
        ),
        (KLINE, r#""i":"1m""#, r#""i":"1y""#, bad("k.i", "1y")),
        (
            KLINE,
            r#""i":"1m""#,
            r#""i":1"#,
            wrong("k.i", "a string", "number 1"),
        ),
        (
            KLINE,
            r#""x":true"#,
            r#""x":1"#,
            wrong("k.x", "a boolean", "number 1"),
        ),
        (
            KLINE,
            r#""t":1626992700000"#,
            r#""t":99999999999999999"#,
            bad("k.t", "99999999999999999"),
        ),
        (KLINE, r#""n":113"#, r#""n":"113""#, bad("k.n", "113")),
        (
            KLINE,
            r#""Q":"14464.6960""#,
            r#""Q":"14464,6960""#,
            bad("k.Q", "14464,6960"),
        ),
        (
            SNAP,
            r#""lastUpdateId":1027024"#,
            r#""lastUpdateId":"abc""#,
            bad("lastUpdateId", "abc"),
        ),
        (
            SNAP,
            r#"["4.00000200","12.00000000"]"#,
            r#"["4.00000200",null]"#,
            bad("asks", "null"),
        ),
    ];
    for (msg, from, to, want) in cases {
        assert!(msg.contains(from), "{from}");
        let text = msg.replacen(from, to, 1);
        let got = parse(&mut parser(), text.as_bytes());
        assert_eq!(got.unwrap_err(), want, "{text}");
    }
}

#[test]
fn structural_errors() {
    assert!(matches!(err(""), ParseError::Json(_)));
    assert!(matches!(err("   "), ParseError::Json(_)));
    assert!(matches!(err("[1,2,3]"), ParseError::Json(_)));
    assert!(matches!(err("42"), ParseError::Json(_)));
    assert!(matches!(err("\"bookTicker\""), ParseError::Json(_)));
    assert!(matches!(err(r#"{"a":1}{"b":2}"#), ParseError::Json(_)));
    assert_eq!(
        err("{\"e\":\"trade\",\"s\":\"\u{ff}\"}"),
        ParseError::UnknownSymbol("\u{ff}".into())
    );
    assert!(matches!(
        parse(&mut parser(), b"{\"e\":\"trade\",\"s\":\"\xff\xfe\"}"),
        Err(ParseError::Json(_))
    ));
    assert_eq!(err("{}"), ParseError::MissingField("e"));
    assert_eq!(
        err(r#"{"e":"24hrTicker","s":"BTCUSDT"}"#),
        ParseError::UnknownEvent("24hrTicker".into())
    );
    assert_eq!(
        err(r#"{"e":7}"#),
        ParseError::WrongType {
            field: "e",
            expected: "a string",
            found: "number 7".into()
        }
    );
    assert_eq!(
        err(r#"{"stream":5,"data":{}}"#),
        ParseError::WrongType {
            field: "stream",
            expected: "a string",
            found: "number 5".into()
        }
    );
    assert!(matches!(
        err(r#"{"stream":"x@trade","data":[1]}"#),
        ParseError::Json(_)
    ));
    assert_eq!(
        err(r#"{"e":"kline","s":"BTCUSDT","k":[]}"#),
        ParseError::WrongType {
            field: "k",
            expected: "an object",
            found: "an array".into()
        }
    );
    assert_eq!(
        err(r#"{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":{},"a":[]}"#),
        ParseError::WrongType {
            field: "b",
            expected: "an array of [price, qty] pairs",
            found: "an object".into()
        }
    );
    assert_eq!(
        err(r#"{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":[]}"#),
        ParseError::MissingField("a")
    );
    // Deep nesting is refused by simd-json, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(err(&deep), ParseError::Json(_)));
}

#[test]
fn unknown_symbol_names_it() {
    let e = err(&TICKER.replace("BTCUSDT", "DOGEUSDT"));
    assert_eq!(e, ParseError::UnknownSymbol("DOGEUSDT".into()));
    assert_eq!(
        e.to_string(),
        "unknown symbol DOGEUSDT: no instrument is configured for it"
    );
    // Case-insensitive match of configured symbols; symbol from the stream name.
    let mut p = Parser::new(&[("btcUSDT".to_string(), 9)]);
    let mut out = Vec::new();
    let mut t = TRADE.replace(r#""s":"BTCUSDT","#, "").into_bytes();
    assert_eq!(p.parse(&mut t, &mut out).unwrap().instrument, Some(9));
}

#[test]
fn huge_level_lists_are_refused() {
    let level = r#"["1.0","2.0"],"#;
    let mut many = level.repeat(10_001);
    many.pop();
    let text = format!(r#"{{"lastUpdateId":1,"bids":[{many}],"asks":[]}}"#);
    let mut p = parser();
    let mut out = Vec::new();
    assert_eq!(
        p.parse_snapshot(&mut text.clone().into_bytes(), 0, &mut out)
            .unwrap_err(),
        ParseError::TooManyLevels {
            levels: 10_001,
            max: 10_000
        }
    );
    assert!(out.is_empty());
    // A lower limit applies to diffs too.
    let mut small = parser().with_max_levels(4);
    let e = small
        .parse(&mut DEPTH.as_bytes().to_vec(), &mut out)
        .unwrap_err();
    assert_eq!(e, ParseError::TooManyLevels { levels: 5, max: 4 });
    assert!(e.to_string().contains("5 levels"));
    // At the limit it parses: 10,000 levels → 625 chunks.
    let mut ok = level.repeat(10_000);
    ok.pop();
    let text = format!(r#"{{"lastUpdateId":1,"bids":[{ok}],"asks":[]}}"#);
    let r = p
        .parse_snapshot(&mut text.into_bytes(), 0, &mut out)
        .unwrap();
    assert_eq!(r.events, 625);
}

#[test]
fn exchange_info_garbage() {
    for bad in [
        &b""[..],
        b"{",
        b"null",
        b"{\"symbols\":5}",
        b"{\"symbols\":[1]}",
        b"\xff",
    ] {
        assert!(instruments_from_exchange_info(&mut bad.to_vec()).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut p = parser();
        let _ = parse(&mut p, &bytes);
        let _ = instruments_from_exchange_info(&mut bytes.clone());
    }

    #[test]
    fn mutated_messages_never_panic(
        which in 0usize..ALL.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = ALL[which].as_bytes().to_vec();
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let mut p = parser();
        let _ = parse(&mut p, &bytes);
    }

    #[test]
    fn json_like_noise_never_panics(
        parts in proptest::collection::vec(
            prop::sample::select(vec![
                "{", "}", "[", "]", ",", ":", "\"e\"", "\"depthUpdate\"", "\"b\"", "\"a\"",
                "\"s\"", "\"BTCUSDT\"", "\"1.5\"", "1", "-1", "true", "null", "\"data\"",
                "\"stream\"", "\"lastUpdateId\"", "\"bids\"", "\"asks\"", "\"k\"", "\"U\"",
                "\"u\"", "\"result\"", "\"error\"", "\"kline\"", "\"i\"", "1e400",
            ]),
            0..64,
        ),
    ) {
        let text = parts.concat();
        let mut p = parser();
        let _ = parse(&mut p, text.as_bytes());
    }
}
