//! Binance `exchangeInfo` bodies (instrument rules), and the cryptofeed HTTP line
//! prefix they are stored behind.
#![no_main]
use kestrel_feeds::binance::{instrument, instruments_from_exchange_info, split_http_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = split_http_line(data);
    let mut bytes = data.to_vec();
    if let Ok(specs) = instruments_from_exchange_info(&mut bytes) {
        for s in specs {
            let _ = s.validate();
        }
    }
    let mut bytes = data.to_vec();
    let _ = instrument(&mut bytes, "BTCUSDT");
});
