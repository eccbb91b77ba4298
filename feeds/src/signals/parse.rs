//! JSON → [`Signal`]: the native format and TradingView-style alerts (see the
//! [module docs](super) for the field table). Never panics; every refusal is a
//! [`SignalParseError`] naming the field.

use kestrel_engine::num::parse_raw;
use kestrel_engine::signal::{fnv1a_extend, signal_id};
use kestrel_engine::types::InstrumentSpec;
use kestrel_engine::{Dec, InstrumentId, Side, Signal, SignalAction};
use simd_json::prelude::*;
use simd_json::{BorrowedValue, StaticNode};
use std::fmt;

use super::auth::Secret;

/// Longest id text accepted, bytes.
pub const MAX_ID_LEN: usize = 128;

/// Why a signal could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalParseError {
    /// The bytes are not JSON.
    Json(String),
    /// The JSON is not an object (or, for a list, not an array of objects).
    NotAnObject,
    /// A required field is absent (named by its first accepted spelling).
    MissingField(&'static str),
    /// A field is present with a value that cannot be used.
    BadField {
        /// Field name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The pair is not an instrument of the session.
    UnknownPair(String),
}

impl fmt::Display for SignalParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(e) => write!(f, "not valid JSON: {e}"),
            Self::NotAnObject => write!(f, "a signal must be a JSON object"),
            Self::MissingField(name) => write!(f, "missing field {name:?}"),
            Self::BadField { field, reason } => write!(f, "field {field:?}: {reason}"),
            Self::UnknownPair(p) => write!(f, "pair {p:?} is not an instrument of this session"),
        }
    }
}

impl std::error::Error for SignalParseError {}

/// A parsed signal with what the transport still needs.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSignal {
    /// The engine event.
    pub signal: Signal,
    /// The master's id text (empty when the id was derived from the body), for logs.
    pub id_text: String,
    /// The body's `secret` / `passphrase` field, for shared-secret authentication.
    pub secret: Option<Secret>,
}

/// Parses signals for one source: a symbol table plus the source index stamped on
/// every [`Signal`].
#[derive(Clone, Debug)]
pub struct SignalParser {
    /// (normalised symbol, instrument id), in instrument order.
    symbols: Vec<(String, InstrumentId)>,
    source: u8,
}

/// One element of a list: the hash of its JSON, and the signal or why it is unusable.
pub type ListItem = (u64, Result<ParsedSignal, SignalParseError>);

type Obj<'a, 'v> = &'a simd_json::borrowed::Object<'v>;

impl SignalParser {
    /// A parser resolving pairs against `instruments` (the id is the position in the
    /// slice, as in the session's instrument table) and stamping `source`.
    pub fn new(instruments: &[InstrumentSpec], source: u8) -> SignalParser {
        SignalParser {
            symbols: instruments
                .iter()
                .enumerate()
                .map(|(i, s)| (normalise_pair(&s.symbol), i as InstrumentId))
                .collect(),
            source,
        }
    }

    /// Source index stamped on every signal.
    pub fn source(&self) -> u8 {
        self.source
    }

    /// Parses one signal object. `body` is modified in place (simd-json).
    ///
    /// # Errors
    /// [`SignalParseError`] for anything but a usable signal object.
    pub fn parse(&self, body: &mut [u8]) -> Result<ParsedSignal, SignalParseError> {
        // Hashed before simd-json rewrites the buffer: the id of a signal without one.
        let body_hash = signal_id(body);
        let v = simd_json::to_borrowed_value(body)
            .map_err(|e| SignalParseError::Json(e.to_string()))?;
        let obj = v.as_object().ok_or(SignalParseError::NotAnObject)?;
        self.read_object(obj, body_hash)
    }

    /// Parses a list of signals: a JSON array of objects, or an object whose
    /// `signals` field is one. Each element is parsed on its own, so one bad signal
    /// does not hide the others, and comes with the FNV-1a hash of its re-encoded JSON
    /// (the id of an element without one, and a key to remember bad elements by).
    /// `body` is modified in place.
    ///
    /// # Errors
    /// [`SignalParseError`] when the body is not such a list.
    pub fn parse_list(&self, body: &mut [u8]) -> Result<Vec<ListItem>, SignalParseError> {
        let v = simd_json::to_borrowed_value(body)
            .map_err(|e| SignalParseError::Json(e.to_string()))?;
        let items = match &v {
            BorrowedValue::Array(a) => a.as_slice(),
            BorrowedValue::Object(o) => match o.get("signals") {
                Some(BorrowedValue::Array(a)) => a.as_slice(),
                _ => return Err(SignalParseError::MissingField("signals")),
            },
            _ => return Err(SignalParseError::NotAnObject),
        };
        Ok(items
            .iter()
            .map(|item| {
                let key = signal_id(item.encode().as_bytes());
                let parsed = match item.as_object() {
                    Some(obj) => self.read_object(obj, key),
                    None => Err(SignalParseError::NotAnObject),
                };
                (key, parsed)
            })
            .collect())
    }

    fn read_object(
        &self,
        o: Obj<'_, '_>,
        body_hash: u64,
    ) -> Result<ParsedSignal, SignalParseError> {
        use SignalParseError as E;
        let (id, id_text) = match first(o, &["id", "signal_id", "order_id"]) {
            Some((field, v)) => {
                let text = scalar_text(field, v)?;
                if text.is_empty() || text.len() > MAX_ID_LEN {
                    return Err(E::BadField {
                        field,
                        reason: format!("must be 1 to {MAX_ID_LEN} bytes"),
                    });
                }
                (signal_id(text.as_bytes()), text)
            }
            None => (fnv1a_extend(body_hash, b"#body"), String::new()),
        };

        let (pair_field, pair_v) =
            first(o, &["pair", "symbol", "ticker"]).ok_or(E::MissingField("pair"))?;
        let pair = pair_v.as_str().ok_or_else(|| E::BadField {
            field: pair_field,
            reason: "must be a string".into(),
        })?;
        let norm = normalise_pair(pair);
        let instrument = self
            .symbols
            .iter()
            .find(|(s, _)| *s == norm)
            .map(|(_, id)| *id)
            .ok_or_else(|| E::UnknownPair(truncate(pair, 64)))?;

        let side_field = match o.get("side") {
            Some(v) => Some(side_word(v).ok_or_else(|| E::BadField {
                field: "side",
                reason: "must be buy, sell, long or short".into(),
            })?),
            None => None,
        };
        let (action, order_side) = match o.get("action") {
            None => return Err(E::MissingField("action")),
            Some(v) => match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("open" | "entry" | "enter") => (SignalAction::Open, None),
                Some("close" | "exit") => (SignalAction::Close, None),
                Some(_) if side_word(v).is_some() => {
                    // TradingView: the order's side; a flat position after it means
                    // the order closed the previous one.
                    let flat = o
                        .get("market_position")
                        .and_then(|m| m.as_str())
                        .is_some_and(|m| m.eq_ignore_ascii_case("flat"));
                    let act = if flat {
                        SignalAction::Close
                    } else {
                        SignalAction::Open
                    };
                    (act, side_word(v))
                }
                _ => {
                    return Err(E::BadField {
                        field: "action",
                        reason: "must be OPEN, CLOSE, buy, sell, long or short".into(),
                    })
                }
            },
        };
        let side = match (side_field, action, order_side) {
            (Some(s), _, _) => s,
            (None, SignalAction::Open, Some(s)) => s,
            (None, SignalAction::Close, Some(s)) => o
                .get("prev_market_position")
                .and_then(side_word)
                .unwrap_or(s.opposite()),
            (None, _, None) => return Err(E::MissingField("side")),
        };

        let amount = opt_dec(o, &["amount", "quantity", "qty", "contracts"])?;
        let amount = match (amount, action) {
            (Some(a), _) => a,
            (None, SignalAction::Close) => Dec::ZERO,
            (None, SignalAction::Open) => return Err(E::MissingField("amount")),
        };
        if action == SignalAction::Open && amount.raw() <= 0 {
            return Err(E::BadField {
                field: "amount",
                reason: format!("{amount} must be > 0"),
            });
        }
        let entry_price = opt_dec(o, &["entry_price", "price", "entry"])?.unwrap_or(Dec::ZERO);
        let stop_loss = opt_dec(o, &["stop_loss", "sl"])?.unwrap_or(Dec::ZERO);
        if stop_loss >= Dec::ONE {
            return Err(E::BadField {
                field: "stop_loss",
                reason: format!("{stop_loss} is not a fraction below 1 (0.02 = 2%)"),
            });
        }
        let take_profit = opt_dec(o, &["take_profit", "tp"])?.unwrap_or(Dec::ZERO);
        let confidence = opt_dec(o, &["confidence"])?.unwrap_or(Dec::ONE);
        if confidence > Dec::ONE {
            return Err(E::BadField {
                field: "confidence",
                reason: format!("{confidence} is not in [0, 1]"),
            });
        }
        let secret = match first(o, &["secret", "passphrase"]) {
            Some((field, v)) => Some(Secret::new(
                v.as_str()
                    .ok_or_else(|| E::BadField {
                        field,
                        reason: "must be a string".into(),
                    })?
                    .as_bytes()
                    .to_vec(),
            )),
            None => None,
        };
        Ok(ParsedSignal {
            signal: Signal {
                id,
                instrument,
                side,
                amount,
                entry_price,
                stop_loss,
                take_profit,
                confidence,
                action,
                source: self.source,
            },
            id_text,
            secret,
        })
    }
}

/// Upper case without separators or exchange prefix: `"BINANCE:btc/usdt.P"` →
/// `"BTCUSDT"`.
pub fn normalise_pair(pair: &str) -> String {
    let after_venue = pair.rsplit(':').next().unwrap_or(pair);
    let base = after_venue
        .strip_suffix(".P")
        .or_else(|| after_venue.strip_suffix(".p"))
        .unwrap_or(after_venue);
    base.chars()
        .filter(|c| !matches!(c, '/' | '-' | '_' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The first present field among `names`, with its name.
fn first<'a, 'v>(
    o: Obj<'a, 'v>,
    names: &[&'static str],
) -> Option<(&'static str, &'a BorrowedValue<'v>)> {
    names.iter().find_map(|n| o.get(*n).map(|v| (*n, v)))
}

fn side_word(v: &BorrowedValue<'_>) -> Option<Side> {
    match v.as_str()?.to_ascii_lowercase().as_str() {
        "buy" | "long" => Some(Side::Buy),
        "sell" | "short" => Some(Side::Sell),
        _ => None,
    }
}

/// A string, or a number written out (ids may be numeric).
fn scalar_text(field: &'static str, v: &BorrowedValue<'_>) -> Result<String, SignalParseError> {
    match v {
        BorrowedValue::String(s) => Ok(s.to_string()),
        BorrowedValue::Static(StaticNode::I64(n)) => Ok(n.to_string()),
        BorrowedValue::Static(StaticNode::U64(n)) => Ok(n.to_string()),
        _ => Err(SignalParseError::BadField {
            field,
            reason: "must be a string or an integer".into(),
        }),
    }
}

/// The first present field among `names` as a decimal ≥ 0 (string or number; null
/// counts as absent). Floats are read through their shortest round-trip text, so
/// `0.1` is exactly 0.1.
fn opt_dec(o: Obj<'_, '_>, names: &[&'static str]) -> Result<Option<Dec>, SignalParseError> {
    let Some((field, v)) = first(o, names) else {
        return Ok(None);
    };
    let bad = |reason: String| SignalParseError::BadField { field, reason };
    let raw = match v {
        BorrowedValue::Static(StaticNode::Null) => return Ok(None),
        BorrowedValue::String(s) => parse_raw(s.trim().as_bytes()).map_err(|e| bad(e.to_string())),
        BorrowedValue::Static(StaticNode::I64(n)) => n
            .checked_mul(kestrel_engine::num::SCALE)
            .ok_or_else(|| bad("out of range".into())),
        BorrowedValue::Static(StaticNode::U64(n)) => i64::try_from(*n)
            .ok()
            .and_then(|n| n.checked_mul(kestrel_engine::num::SCALE))
            .ok_or_else(|| bad("out of range".into())),
        BorrowedValue::Static(StaticNode::F64(f)) if f.is_finite() => {
            parse_raw(f.to_string().as_bytes()).map_err(|e| bad(e.to_string()))
        }
        _ => Err(bad("must be a decimal number or string".into())),
    }?;
    if raw < 0 {
        return Err(bad(format!("{} must be >= 0", Dec(raw))));
    }
    Ok(Some(Dec(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sym: &str) -> InstrumentSpec {
        InstrumentSpec {
            symbol: sym.into(),
            base: sym[..3].into(),
            quote: "USDT".into(),
            tick_size: Dec::parse("0.01").unwrap(),
            lot_size: Dec::parse("0.001").unwrap(),
            min_qty: Dec::ZERO,
            min_notional: Dec::ZERO,
            market: Default::default(),
            leverage: 1,
        }
    }

    fn parser() -> SignalParser {
        SignalParser::new(&[spec("BTCUSDT"), spec("ETHUSDT")], 4)
    }

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    fn parse(text: &str) -> Result<ParsedSignal, SignalParseError> {
        parser().parse(&mut text.as_bytes().to_vec())
    }

    #[test]
    fn native_signal_parses_exactly() {
        let p = parse(
            r#"{"id":"sig-1","pair":"ETHUSDT","side":"short","amount":"1.25",
                "entry_price":2000.5,"stop_loss":0.02,"take_profit":"0.05",
                "confidence":0.75,"action":"OPEN","secret":"s3"}"#,
        )
        .unwrap();
        assert_eq!(
            p.signal,
            Signal {
                id: signal_id(b"sig-1"),
                instrument: 1,
                side: Side::Sell,
                amount: d("1.25"),
                entry_price: d("2000.5"),
                stop_loss: d("0.02"),
                take_profit: d("0.05"),
                confidence: d("0.75"),
                action: SignalAction::Open,
                source: 4,
            }
        );
        assert_eq!(p.id_text, "sig-1");
        assert_eq!(p.secret, Some(Secret::new(b"s3".to_vec())));
    }

    #[test]
    fn aliases_defaults_and_numeric_ids() {
        let p =
            parse(r#"{"id":42,"symbol":"btc/usdt","side":"BUY","qty":3,"action":"open"}"#).unwrap();
        assert_eq!(p.signal.id, signal_id(b"42"));
        assert_eq!(p.signal.instrument, 0);
        assert_eq!(p.signal.amount, d("3"));
        assert_eq!(p.signal.confidence, Dec::ONE);
        assert_eq!(p.signal.entry_price, Dec::ZERO);
        assert_eq!(p.secret, None);
        let c = parse(r#"{"id":"x","pair":"BTCUSDT","side":"long","action":"CLOSE"}"#).unwrap();
        assert_eq!(c.signal.action, SignalAction::Close);
        assert_eq!(c.signal.side, Side::Buy);
        assert_eq!(c.signal.amount, Dec::ZERO);
    }

    #[test]
    fn tradingview_alerts_parse() {
        // Entry: {{strategy.order.action}} = buy, position long afterwards.
        let p = parse(
            r#"{"id":"Long-2024-01-01T00:00:00Z","ticker":"BINANCE:BTCUSDT.P","action":"buy",
                "contracts":"0.010","price":"42000.1","market_position":"long",
                "prev_market_position":"flat","passphrase":"pw"}"#,
        )
        .unwrap();
        assert_eq!(p.signal.action, SignalAction::Open);
        assert_eq!(p.signal.side, Side::Buy);
        assert_eq!(p.signal.amount, d("0.01"));
        assert_eq!(p.signal.entry_price, d("42000.1"));
        assert_eq!(p.secret, Some(Secret::new(b"pw".to_vec())));
        // Exit: a sell that leaves the position flat closes the long.
        let p = parse(
            r#"{"id":"x2","ticker":"BTCUSDT","action":"sell","contracts":0.01,
                "market_position":"flat","prev_market_position":"long"}"#,
        )
        .unwrap();
        assert_eq!(p.signal.action, SignalAction::Close);
        assert_eq!(p.signal.side, Side::Buy);
        // Without prev_market_position the closed side is the opposite of the order.
        let p = parse(r#"{"id":"x3","ticker":"BTCUSDT","action":"buy","market_position":"flat"}"#)
            .unwrap();
        assert_eq!(
            (p.signal.action, p.signal.side),
            (SignalAction::Close, Side::Sell)
        );
    }

    #[test]
    fn signals_without_id_hash_the_body() {
        let text = r#"{"pair":"BTCUSDT","side":"buy","amount":1,"action":"open"}"#;
        let a = parse(text).unwrap();
        let b = parse(text).unwrap();
        assert_eq!(a.signal.id, b.signal.id);
        assert_eq!(
            a.signal.id,
            fnv1a_extend(signal_id(text.as_bytes()), b"#body")
        );
        assert_eq!(a.id_text, "");
        let other = parse(r#"{"pair":"BTCUSDT","side":"buy","amount":2,"action":"open"}"#);
        assert_ne!(other.unwrap().signal.id, a.signal.id);
    }

    #[test]
    fn errors_name_the_field() {
        use SignalParseError as E;
        let cases: &[(&str, E)] = &[
            ("[1]", E::NotAnObject),
            (
                r#"{"id":"a","side":"buy","amount":1,"action":"open"}"#,
                E::MissingField("pair"),
            ),
            (
                r#"{"id":"a","pair":"DOGEUSDT","side":"buy","amount":1,"action":"open"}"#,
                E::UnknownPair("DOGEUSDT".into()),
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","amount":1}"#,
                E::MissingField("action"),
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","amount":1,"action":"open"}"#,
                E::MissingField("side"),
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","action":"open"}"#,
                E::MissingField("amount"),
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"up","amount":1,"action":"open"}"#,
                E::BadField {
                    field: "side",
                    reason: "must be buy, sell, long or short".into(),
                },
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","amount":1,"action":"hold"}"#,
                E::BadField {
                    field: "action",
                    reason: "must be OPEN, CLOSE, buy, sell, long or short".into(),
                },
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","amount":"-1","action":"open"}"#,
                E::BadField {
                    field: "amount",
                    reason: "-1 must be >= 0".into(),
                },
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","amount":0,"action":"open"}"#,
                E::BadField {
                    field: "amount",
                    reason: "0 must be > 0".into(),
                },
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","amount":"1.0000000001","action":"open"}"#,
                E::BadField {
                    field: "amount",
                    reason: "more than 9 decimal places".into(),
                },
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","amount":true,"action":"open"}"#,
                E::BadField {
                    field: "amount",
                    reason: "must be a decimal number or string".into(),
                },
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","amount":1e30,"action":"open"}"#,
                E::BadField {
                    field: "amount",
                    reason: "decimal out of range".into(),
                },
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","amount":1,"stop_loss":41000,"action":"open"}"#,
                E::BadField {
                    field: "stop_loss",
                    reason: "41000 is not a fraction below 1 (0.02 = 2%)".into(),
                },
            ),
            (
                r#"{"id":"a","pair":"BTCUSDT","side":"buy","amount":1,"confidence":2,"action":"open"}"#,
                E::BadField {
                    field: "confidence",
                    reason: "2 is not in [0, 1]".into(),
                },
            ),
            (
                r#"{"id":"","pair":"BTCUSDT","side":"buy","amount":1,"action":"open"}"#,
                E::BadField {
                    field: "id",
                    reason: "must be 1 to 128 bytes".into(),
                },
            ),
            (
                r#"{"id":[1],"pair":"BTCUSDT","side":"buy","amount":1,"action":"open"}"#,
                E::BadField {
                    field: "id",
                    reason: "must be a string or an integer".into(),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap_err(), *want, "{text}");
        }
        assert!(matches!(parse("{\"id\":"), Err(E::Json(_))));
        assert!(matches!(parse(""), Err(E::Json(_))));
        assert_eq!(
            E::MissingField("pair").to_string(),
            "missing field \"pair\""
        );
    }

    #[test]
    fn lists_parse_element_by_element() {
        let mut body = br#"{"signals":[
            {"id":"a","pair":"BTCUSDT","side":"buy","amount":1,"action":"open"},
            {"id":"b","pair":"XRPUSDT","side":"buy","amount":1,"action":"open"},
            7
        ]}"#
        .to_vec();
        let items = parser().parse_list(&mut body).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].1.as_ref().unwrap().signal.id, signal_id(b"a"));
        assert_eq!(
            items[1].1.as_ref().unwrap_err(),
            &SignalParseError::UnknownPair("XRPUSDT".into())
        );
        assert_eq!(
            items[2].1.as_ref().unwrap_err(),
            &SignalParseError::NotAnObject
        );
        assert_eq!(items[2].0, signal_id(b"7"));
        assert_ne!(items[0].0, items[1].0);
        let mut bare =
            br#"[{"id":"c","pair":"ETHUSDT","side":"sell","amount":2,"action":"close"}]"#.to_vec();
        let items = parser().parse_list(&mut bare).unwrap();
        assert_eq!(items[0].1.as_ref().unwrap().signal.instrument, 1);
        assert_eq!(
            parser()
                .parse_list(&mut br#"{"x":1}"#.to_vec())
                .unwrap_err(),
            SignalParseError::MissingField("signals")
        );
    }

    #[test]
    fn pairs_normalise() {
        assert_eq!(normalise_pair("BINANCE:btc/usdt.P"), "BTCUSDT");
        assert_eq!(normalise_pair("eth-usdt"), "ETHUSDT");
        assert_eq!(normalise_pair("SOL_USDT"), "SOLUSDT");
    }

    mod property_tests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let p = parser();
                let mut copy = bytes.clone();
                let _ = p.parse(&mut bytes);
                let _ = p.parse_list(&mut copy);
            }

            #[test]
            fn mutated_signals_never_panic(cut in 0usize..120, flip in 0usize..120, byte in any::<u8>()) {
                let base = br#"{"id":"s","pair":"BTCUSDT","side":"buy","amount":"1.5","price":3.25,"action":"OPEN"}"#;
                let mut v = base.to_vec();
                if flip < v.len() { v[flip] = byte; }
                v.truncate(cut.max(1).min(v.len()));
                let _ = parser().parse(&mut v);
            }
        }
    }
}
