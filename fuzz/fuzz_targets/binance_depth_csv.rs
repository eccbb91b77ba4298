//! Binance historical order-book CSV (the NautilusTrader sample format).
#![no_main]
use kestrel_feeds::csv::Symbols;
use kestrel_feeds::nautilus::BinanceDepthCsv;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    let symbols = Symbols::fixed(&[("BTCUSDT".to_string(), 0)]);
    if let Ok(mut r) = BinanceDepthCsv::from_reader(Path::new("fuzz.csv"), reader, symbols) {
        for _ in 0..10_000 {
            match r.next_event() {
                Some(Ok(_)) => {}
                // Readers stop at the first error.
                Some(Err(_)) | None => break,
            }
        }
    }
});
