//! Market-data sources for Kestrel. Each produces engine [`Event`]s with their
//! event time; none of them reads a clock or allocates per event in steady state.
//!
//! - [`SyntheticFeed`]: a seeded random-walk L2 book (snapshot, diffs, top of book,
//!   trades), identical for a given seed on every platform.
//! - [`RecordedFeed`]: replays hftbacktest Binance captures (`<recv_ts_ns> <json>` lines,
//!   gzip or plain) as depth snapshots/diffs, book tickers and trades.
//!
//! Depth updates larger than [`kestrel_engine::DEPTH_CHUNK`] levels are split into
//! chunks flagged `first_chunk` / `last_chunk`; the book is consistent after the last.
//!
//! [`Event`]: kestrel_engine::Event

pub mod binance;
pub mod csv;
pub mod live;
pub mod nautilus;
pub mod recorded;
pub mod signals;
pub mod sync;
pub mod synthetic;
pub mod tardis;
pub mod threads;
pub mod ws;

pub use recorded::{FeedError, RecordedFeed};
pub use sync::{DepthSync, Pushed};
pub use synthetic::{SplitMix64, SyntheticFeed};
