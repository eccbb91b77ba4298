//! Binance market-data stream payloads (combined-stream frames and raw streams).
#![no_main]
use kestrel_feeds::binance::Parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let symbols = [("BTCUSDT".to_string(), 0u16), ("ETHUSDT".to_string(), 1u16)];
    let mut parser = Parser::new(&symbols);
    let mut out = Vec::new();
    let mut bytes = data.to_vec();
    let _ = parser.parse(&mut bytes, &mut out);
    // A raw single-stream connection whose name the caller knows.
    out.clear();
    let mut bytes = data.to_vec();
    let _ = parser.parse_stream("btcusdt@depth5", &mut bytes, &mut out);
});
