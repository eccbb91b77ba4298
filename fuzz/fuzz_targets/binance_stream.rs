//! Binance market-data stream payloads (combined-stream frames and raw streams); the
//! book-ticker fast path checked against the simd-json tape.
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
    // The book-ticker fast path answers as the simd-json tape does, whatever the bytes.
    let (mut a, mut b) = (data.to_vec(), data.to_vec());
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    let fast = parser.parse(&mut a, &mut out_a);
    let tape = parser.parse_with_tape(&mut b, &mut out_b);
    assert_eq!((fast, out_a), (tape, out_b));
});
