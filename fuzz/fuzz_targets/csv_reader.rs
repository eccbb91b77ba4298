//! Kestrel's CSV market-data format (`kestrel import`), learning symbols.
#![no_main]
use kestrel_feeds::csv::{CsvReader, Symbols};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    if let Ok(mut r) = CsvReader::from_reader(Path::new("fuzz.csv"), reader, Symbols::learning()) {
        for _ in 0..10_000 {
            if r.next_event().is_none() {
                break;
            }
        }
    }
});
