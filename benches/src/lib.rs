//! Shared helpers for Kestrel benchmarks.

pub mod capture;
pub mod hop;
pub mod peer_mm;
