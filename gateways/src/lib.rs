//! Order outputs: the simulated venue (matching, latency, fees) and venue connectors
//! (Binance Spot / USD-M, with a loopback mock venue). Gateways depend on engine
//! types, never the reverse.

pub mod backtest;
pub mod binance;
pub mod sim;

pub use backtest::SimLoop;
pub use sim::SimVenue;
