//! Order outputs: the simulated venue (matching, latency, fees) and, later, venue
//! connectors. Gateways depend on engine types, never the reverse.

pub mod backtest;
pub mod sim;

pub use backtest::SimLoop;
pub use sim::SimVenue;
