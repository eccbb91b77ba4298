//! Kestrel's deterministic state machine. It performs no I/O, reads no clock and draws
//! no randomness except from the journaled seed: the same inputs always give the same
//! outputs, byte for byte.

pub mod book;
pub mod config;
pub mod controllers;
pub mod copy_trading;
pub mod engine;
pub mod events;
pub mod executors;
pub mod market_data;
pub mod num;
pub mod orders;
pub mod portfolio;
pub mod report;
pub mod ring;
pub mod risk;
pub mod signal;
pub mod types;

pub use engine::Engine;
pub use events::*;
pub use num::Dec;
pub use signal::{signal_id, Signal, SignalAction};
pub use types::*;
