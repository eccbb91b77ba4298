//! Plain value types shared by every crate: ids, sides, order types, instruments.

use crate::num::{Dec, Step};
use serde::Deserialize;
use std::fmt;

/// Index of an instrument in the session's instrument table.
pub type InstrumentId = u16;
/// Index of an asset (e.g. BTC, USDT) in the session's asset table.
pub type AssetId = u16;

/// Order or aggressor side.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Default,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum Side {
    /// Buy / bid.
    #[default]
    Buy,
    /// Sell / ask.
    Sell,
}

impl Side {
    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    /// +1 for buys, −1 for sells.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
    /// True when price `a` is better than `b` on this side of a book (a higher bid, a
    /// lower ask).
    pub fn better(self, a: Dec, b: Dec) -> bool {
        match self {
            Side::Buy => a > b,
            Side::Sell => a < b,
        }
    }
    /// `"BUY"` / `"SELL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// Order type as sent to a venue.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum OrderType {
    /// Executes immediately against the book.
    Market,
    /// Rests at its price once it no longer crosses.
    #[default]
    Limit,
    /// Post-only limit: rejected if it would take liquidity.
    LimitMaker,
}

/// How long an order stays working.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum TimeInForce {
    /// Good till cancelled.
    #[default]
    Gtc,
    /// Immediate or cancel: the unfilled rest expires.
    Ioc,
    /// Fill or kill: all or nothing.
    Fok,
}

/// Deterministic client order id: session id in the high 32 bits, a per-session
/// counter in the low 32. Replays and restarts recreate the same ids.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct ClientOrderId(pub u64);

impl ClientOrderId {
    /// Builds the id of the `counter`-th order of `session`.
    pub fn new(session: u32, counter: u32) -> ClientOrderId {
        ClientOrderId(((session as u64) << 32) | counter as u64)
    }
    /// The session part.
    pub fn session(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// The counter part.
    pub fn counter(self) -> u32 {
        self.0 as u32
    }
    /// Parses the display form `K<session>-<counter>`.
    pub fn parse(s: &str) -> Option<ClientOrderId> {
        let rest = s.strip_prefix('K')?;
        let (a, b) = rest.split_once('-')?;
        Some(ClientOrderId::new(a.parse().ok()?, b.parse().ok()?))
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "K{}-{}", self.session(), self.counter())
    }
}

impl fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Kind of market an instrument trades on; perpetuals in one-way mode net every order,
/// in hedge mode longs and shorts are separate positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Market {
    /// Spot.
    #[default]
    Spot,
    /// Perpetual, one-way position mode.
    PerpetualOneway,
    /// Perpetual, hedge position mode.
    PerpetualHedge,
}

/// Whether an order opens or closes a position (reduce-only on perpetuals).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum PositionAction {
    /// Opens (or, one-way, nets) a position.
    #[default]
    Open,
    /// Closes a position.
    Close,
}

impl Market {
    /// True for perpetuals (margin accounting, no base asset moves).
    pub fn is_perpetual(self) -> bool {
        self != Market::Spot
    }

    /// The action an order that closes a position carries (spec §2): CLOSE, except
    /// OPEN on a one-way perpetual (a plain netting order).
    pub fn close_action(self) -> PositionAction {
        match self {
            Market::PerpetualOneway => PositionAction::Open,
            Market::Spot | Market::PerpetualHedge => PositionAction::Close,
        }
    }
}

/// Trading rules of one instrument, as a venue publishes them.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    /// Venue symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Base asset, e.g. `BTC`.
    pub base: String,
    /// Quote asset, e.g. `USDT`.
    pub quote: String,
    /// Price increment.
    pub tick_size: Dec,
    /// Quantity increment.
    pub lot_size: Dec,
    /// Smallest accepted quantity (defaults to one lot).
    #[serde(default)]
    pub min_qty: Dec,
    /// Smallest accepted price × quantity.
    #[serde(default)]
    pub min_notional: Dec,
    /// Spot or perpetual (and its position mode).
    #[serde(default)]
    pub market: Market,
    /// Account leverage on a perpetual (margin = notional / leverage); 1 on spot.
    #[serde(default = "one")]
    pub leverage: u32,
}

fn one() -> u32 {
    1
}

impl InstrumentSpec {
    /// Checks that the rules are usable.
    pub fn validate(&self) -> Result<(), String> {
        if self.symbol.is_empty() {
            return Err("instrument symbol is empty".into());
        }
        if self.tick_size.raw() <= 0 {
            return Err(format!("{}: tick_size must be > 0", self.symbol));
        }
        if self.lot_size.raw() <= 0 {
            return Err(format!("{}: lot_size must be > 0", self.symbol));
        }
        if self.min_notional.raw() < 0 || self.min_qty.raw() < 0 {
            return Err(format!("{}: minimums must be >= 0", self.symbol));
        }
        if self.leverage == 0 || self.leverage > 125 {
            return Err(format!(
                "{}: leverage must be in 1..=125, got {}",
                self.symbol, self.leverage
            ));
        }
        if self.leverage > 1 && self.market == Market::Spot {
            return Err(format!(
                "{}: leverage needs a perpetual market",
                self.symbol
            ));
        }
        Ok(())
    }

    /// Decimal places of the tick size (the price scale shown to users).
    pub fn price_decimals(&self) -> u32 {
        decimals_of(self.tick_size)
    }

    /// Decimal places of the lot size.
    pub fn size_decimals(&self) -> u32 {
        decimals_of(self.lot_size)
    }

    /// Smallest quantity accepted: `max(min_qty, lot_size)`.
    pub fn min_quantity(&self) -> Dec {
        self.min_qty.max(self.lot_size)
    }
}

fn decimals_of(step: Dec) -> u32 {
    let mut raw = step.raw();
    let mut d = crate::num::DECIMALS;
    while d > 0 && raw % 10 == 0 {
        raw /= 10;
        d -= 1;
    }
    d
}

/// A resolved instrument: rules plus asset ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Instrument {
    /// Position in the instrument table.
    pub id: InstrumentId,
    /// Rules.
    pub spec: InstrumentSpec,
    /// Base asset id.
    pub base: AssetId,
    /// Quote asset id.
    pub quote: AssetId,
    /// `spec.tick_size`, precomputed for rounding prices.
    pub tick: Step,
    /// `spec.lot_size`, precomputed for rounding quantities.
    pub lot: Step,
}

impl Instrument {
    /// The instrument at `id` in the table, with its assets' ids.
    pub fn new(
        id: InstrumentId,
        spec: InstrumentSpec,
        base: AssetId,
        quote: AssetId,
    ) -> Instrument {
        Instrument {
            id,
            tick: Step::new(spec.tick_size),
            lot: Step::new(spec.lot_size),
            spec,
            base,
            quote,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_ids_roundtrip() {
        let id = ClientOrderId::new(7, 42);
        assert_eq!(id.to_string(), "K7-42");
        assert_eq!(ClientOrderId::parse("K7-42"), Some(id));
        assert_eq!(ClientOrderId::parse("7-42"), None);
    }

    #[test]
    fn decimals_follow_steps() {
        let spec = InstrumentSpec {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            tick_size: Dec::parse("0.01").unwrap(),
            lot_size: Dec::parse("0.00001").unwrap(),
            min_qty: Dec::ZERO,
            min_notional: Dec::from_int(5),
            market: Default::default(),
            leverage: 1,
        };
        assert_eq!(spec.price_decimals(), 2);
        assert_eq!(spec.size_decimals(), 5);
        assert_eq!(spec.min_quantity(), spec.lot_size);
    }
}
