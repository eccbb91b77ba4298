//! Test harness shared by the feeds' allocation tests: the counting global allocator
//! of the engine's tests (one file, included by path).
#![allow(dead_code)]

#[path = "../../../engine/tests/common/counting.rs"]
mod counting;
pub use counting::{allocs_now, Counting};
