//! hftbacktest-style recorded captures (`<ts_ns> <raw JSON>` lines), with depth sync.
#![no_main]
use kestrel_feeds::RecordedFeed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let symbols = [("BTCUSDT".to_string(), 0u16), ("ETHUSDT".to_string(), 1u16)];
    let mut f = RecordedFeed::from_bytes("fuzz", data.to_vec(), &symbols);
    for _ in 0..10_000 {
        if f.next_event().is_none() {
            break;
        }
    }
});
