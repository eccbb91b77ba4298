//! Kestrel's deterministic state machine. It performs no I/O, reads no clock and draws
//! no randomness except from the journaled seed: the same inputs always give the same
//! outputs, byte for byte.

pub mod config;
pub mod events;
pub mod num;
pub mod types;

pub use events::*;
pub use num::Dec;
pub use types::*;
