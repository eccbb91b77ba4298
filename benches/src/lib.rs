//! Shared helpers for Kestrel benchmarks.

pub mod hop;
pub mod peer_mm;
