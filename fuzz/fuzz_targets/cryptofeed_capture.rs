//! cryptofeed capture files (`<url> -> <ts>: <body>` and WebSocket frame lines).
#![no_main]
use kestrel_feeds::binance::CryptofeedReader;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let symbols = [("BTCUSDT".to_string(), 0u16), ("NKNUSDT".to_string(), 1u16)];
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    let mut r = CryptofeedReader::from_reader(Path::new("fuzz"), reader, &symbols);
    for _ in 0..10_000 {
        if r.next_event().is_none() {
            break;
        }
    }
});
