//! Instrument specs from `GET /api/v3/exchangeInfo` (spot) and `GET /fapi/v1/exchangeInfo`
//! (USD-M).
//!
//! | spec field | filter |
//! |---|---|
//! | `tick_size` | `PRICE_FILTER.tickSize` |
//! | `lot_size` | `LOT_SIZE.stepSize` |
//! | `min_qty` | `LOT_SIZE.minQty` |
//! | `min_notional` | `MIN_NOTIONAL.minNotional` (spot), `NOTIONAL.minNotional` (spot, newer), `MIN_NOTIONAL.notional` (USD-M); 0 if none |
//!
//! Every listed symbol is returned, whatever its `status`.

use kestrel_engine::num::parse_raw;
use kestrel_engine::{Dec, InstrumentSpec};

use super::tape::Val;
use super::ParseError;

fn str_field<'a>(obj: Val<'_, 'a>, key: &'static str) -> Result<&'a str, ParseError> {
    let v = obj.get(key).ok_or(ParseError::MissingField(key))?;
    v.as_str().ok_or_else(|| ParseError::WrongType {
        field: key,
        expected: "a string",
        found: v.describe(),
    })
}

fn dec_field(obj: Val<'_, '_>, key: &'static str, field: &'static str) -> Result<Dec, ParseError> {
    let v = obj.get(key).ok_or(ParseError::MissingField(field))?;
    let s = v.as_str().ok_or_else(|| ParseError::BadNumber {
        field,
        value: v.describe(),
    })?;
    parse_raw(s.as_bytes())
        .map(Dec)
        .map_err(|_| ParseError::BadNumber {
            field,
            value: s.to_owned(),
        })
}

fn spec_of(sym: Val<'_, '_>) -> Result<InstrumentSpec, ParseError> {
    let symbol = str_field(sym, "symbol")?;
    let base = str_field(sym, "baseAsset")?;
    let quote = str_field(sym, "quoteAsset")?;
    let filters = sym
        .get("filters")
        .ok_or(ParseError::MissingField("filters"))?;
    let filters = filters.elements().ok_or_else(|| ParseError::WrongType {
        field: "filters",
        expected: "an array",
        found: filters.describe(),
    })?;
    let (mut tick, mut lot, mut min_qty, mut min_notional) = (None, None, None, None);
    for f in filters {
        let Some(kind) = f.get("filterType").and_then(|k| k.as_str()) else {
            continue;
        };
        match kind {
            "PRICE_FILTER" => tick = Some(dec_field(f, "tickSize", "PRICE_FILTER.tickSize")?),
            "LOT_SIZE" => {
                lot = Some(dec_field(f, "stepSize", "LOT_SIZE.stepSize")?);
                min_qty = Some(dec_field(f, "minQty", "LOT_SIZE.minQty")?);
            }
            "MIN_NOTIONAL" | "NOTIONAL" if min_notional.is_none() || kind == "MIN_NOTIONAL" => {
                let key = if f.get("minNotional").is_some() {
                    "minNotional"
                } else {
                    "notional"
                };
                min_notional = Some(dec_field(f, key, "MIN_NOTIONAL.minNotional")?);
            }
            _ => {}
        }
    }
    Ok(InstrumentSpec {
        symbol: symbol.to_owned(),
        base: base.to_owned(),
        quote: quote.to_owned(),
        tick_size: tick.ok_or(ParseError::MissingField("PRICE_FILTER.tickSize"))?,
        lot_size: lot.ok_or(ParseError::MissingField("LOT_SIZE.stepSize"))?,
        min_qty: min_qty.unwrap_or(Dec::ZERO),
        min_notional: min_notional.unwrap_or(Dec::ZERO),
        market: Default::default(),
        leverage: 1,
    })
}

/// Runs `f` on the `symbols` array of an exchangeInfo body (parsed in place).
fn with_symbols<T>(
    bytes: &mut [u8],
    f: impl FnOnce(crate::binance::tape::Elements<'_, '_>) -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    let tape = simd_json::to_tape(bytes).map_err(|e| ParseError::Json(e.to_string()))?;
    let root = Val::root(&tape.0).ok_or_else(|| ParseError::Json("empty document".into()))?;
    if root.members().is_none() {
        return Err(ParseError::Json(format!(
            "expected an object, found {}",
            root.describe()
        )));
    }
    let symbols = root
        .get("symbols")
        .ok_or(ParseError::MissingField("symbols"))?;
    let elements = symbols.elements().ok_or_else(|| ParseError::WrongType {
        field: "symbols",
        expected: "an array",
        found: symbols.describe(),
    })?;
    f(elements)
}

/// Every symbol's spec from a spot or USD-M `exchangeInfo` response body, in order.
pub fn instruments_from_exchange_info(bytes: &mut [u8]) -> Result<Vec<InstrumentSpec>, ParseError> {
    with_symbols(bytes, |symbols| symbols.map(spec_of).collect())
}

/// The spec of one symbol (case-insensitive) from an `exchangeInfo` response body;
/// [`ParseError::UnknownSymbol`] if it is not listed.
pub fn instrument(bytes: &mut [u8], symbol: &str) -> Result<InstrumentSpec, ParseError> {
    with_symbols(bytes, |mut symbols| {
        symbols
            .find(|s| {
                s.get("symbol")
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| v.eq_ignore_ascii_case(symbol))
            })
            .map(spec_of)
            .unwrap_or_else(|| Err(ParseError::UnknownSymbol(symbol.to_owned())))
    })
}
