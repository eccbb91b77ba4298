//! Shared helpers for Kestrel benchmarks.

pub mod peer_mm;
