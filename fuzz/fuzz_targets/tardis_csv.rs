//! Tardis CSV exports (book snapshots, incremental L2, trades, quotes).
#![no_main]
use kestrel_feeds::csv::Symbols;
use kestrel_feeds::tardis::TardisCsv;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    if let Ok(mut r) = TardisCsv::from_reader(Path::new("fuzz.csv"), reader, Symbols::learning()) {
        for _ in 0..10_000 {
            if r.next_event().is_none() {
                break;
            }
        }
    }
});
