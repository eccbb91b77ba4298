//! Copy-trading signals (webhook / WebSocket bodies, REST poll lists).
#![no_main]
use kestrel_engine::InstrumentSpec;
use kestrel_feeds::signals::{normalise_pair, SignalParser};
use libfuzzer_sys::fuzz_target;

fn spec(symbol: &str) -> InstrumentSpec {
    InstrumentSpec {
        symbol: symbol.into(),
        base: "B".into(),
        quote: "Q".into(),
        tick_size: kestrel_engine::Dec(10_000_000),
        lot_size: kestrel_engine::Dec(1_000_000),
        min_qty: Default::default(),
        min_notional: Default::default(),
        market: Default::default(),
        leverage: 1,
    }
}

fuzz_target!(|data: &[u8]| {
    let parser = SignalParser::new(&[spec("BTCUSDT"), spec("ETH-USDT")], 3);
    let mut body = data.to_vec();
    if let Ok(s) = parser.parse(&mut body) {
        let _ = format!("{s:?}");
    }
    let mut body = data.to_vec();
    let _ = parser.parse_list(&mut body);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = normalise_pair(s);
    }
});
