//! The bundled spot capture's combined-stream messages, for the parse and live-feed
//! benches: hftbacktest's Binance spot BTCUSDT capture (nkaz001/hftbacktest, MIT; see
//! shared/data/README.md), one `<local ts> <json>` line per message.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

/// The first `per_kind` `@bookTicker` and the first `per_kind` `@depth` messages of the
/// capture, JSON bytes as received, in capture order.
///
/// # Panics
/// When the capture cannot be read (`shared/` must sit beside the repository).
pub fn spot_stream_messages(per_kind: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hftbacktest/spot/btcusdt_20240808.gz");
    let f = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (shared/ must sit beside the repo)", path.display()));
    let (mut tickers, mut depth) = (Vec::new(), Vec::new());
    for line in BufReader::new(flate2::read::MultiGzDecoder::new(f)).split(b'\n') {
        if tickers.len() >= per_kind && depth.len() >= per_kind {
            break;
        }
        let line = line.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Some(sp) = line.iter().position(|&c| c == b' ') else {
            continue;
        };
        let json = line[sp + 1..].to_vec();
        let head = &json[..json.len().min(48)];
        if head.windows(11).any(|w| w == b"@bookTicker") && tickers.len() < per_kind {
            tickers.push(json);
        } else if head.windows(6).any(|w| w == b"@depth") && depth.len() < per_kind {
            depth.push(json);
        }
    }
    (tickers, depth)
}
