//! Binance REST depth snapshots and WS-API depth responses.
#![no_main]
use kestrel_feeds::binance::Parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let symbols = [("BTCUSDT".to_string(), 0u16)];
    let mut parser = Parser::new(&symbols);
    let mut out = Vec::new();
    let mut bytes = data.to_vec();
    let _ = parser.parse_snapshot(&mut bytes, 0, &mut out);
});
