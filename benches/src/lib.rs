//! Shared helpers for Kestrel benchmarks.
