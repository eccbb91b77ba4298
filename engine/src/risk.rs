//! Pre-trade risk limits and the kill switch, checked on the engine thread for every
//! order an executor would send ([`Ctx::place_with_action`](crate::executors::Ctx)).
//!
//! # Limits (`[risk]`, all optional, all off by default)
//!
//! | key | unit | refused when | alert |
//! |---|---|---|---|
//! | `max_order_qty` | base | order quantity (after lot rounding) > limit | [`AlertCode::RiskOrderQty`] |
//! | `max_order_notional` | quote | quantity × price (market orders: the touch) > limit | [`AlertCode::RiskOrderNotional`] |
//! | `max_position` | base | worst-case position after the order leaves `[-limit, +limit]` (see below) | [`AlertCode::RiskPosition`] |
//! | `max_open_orders` | orders | live orders (all instruments) ≥ limit | [`AlertCode::RiskOpenOrders`] |
//! | `price_band` | fraction | \|price − mid\| > band × mid | [`AlertCode::RiskPriceBand`] |
//! | `max_orders_per_second` | orders | `limit` orders already sent in the last second of event time | [`AlertCode::RiskOrderRate`] |
//!
//! The first four size and price keys may also be set per instrument in
//! `[risk.instruments.<SYMBOL>]`; an instrument's own value replaces the global one.
//! The worst-case position of a buy is `net + open buys + qty` (at most `+limit`), of
//! a sell `net − open sells − qty` (at least `−limit`), where open buys / sells are the
//! unfilled rests of the instrument's live orders: an order that reduces a position
//! is never refused by this limit. Checks run in the order of the table; the first
//! breach is reported. The rate window slides over **event time** (the engine never
//! reads a clock): an order counts at the event time it is sent, and an order is
//! refused while `limit` sent orders are younger than one second.
//!
//! # Kill switch
//!
//! [`Command::KillSwitch`](crate::Command::KillSwitch) cancels every open order,
//! terminates every executor at once (no closing orders), stops every controller, and
//! from then on refuses every order ([`AlertCode::KillSwitchActive`]). It cannot be
//! released within a session.
//!
//! # Costs
//!
//! No allocation after construction: limits are resolved per instrument once, and the
//! rate window is a ring pre-sized to its limit. The position check walks the live
//! orders (O(live orders)) and only runs when `max_position` is set.

use crate::events::AlertCode;
use crate::num::Dec;
use crate::types::{InstrumentSpec, Side};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest accepted `max_orders_per_second` (the rate window is pre-allocated).
pub const MAX_RATE_LIMIT: u32 = 100_000;

/// One second of event time in ns.
const SECOND_NS: u64 = 1_000_000_000;

/// `[risk]`: pre-trade limits (every key optional; none set means no check).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Largest order quantity in base, any instrument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_order_qty: Option<Dec>,
    /// Largest order notional in quote, any instrument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_order_notional: Option<Dec>,
    /// Largest absolute position in base per instrument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_position: Option<Dec>,
    /// Largest number of live orders, all instruments together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_open_orders: Option<u32>,
    /// Largest distance of an order's price from the mid, as a fraction of the mid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_band: Option<Dec>,
    /// Orders sent per second of event time (sliding window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_orders_per_second: Option<u32>,
    /// Per-instrument limits by symbol; they replace the global ones.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub instruments: BTreeMap<String, InstrumentLimits>,
}

/// `[risk.instruments.<SYMBOL>]`: limits of one instrument.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InstrumentLimits {
    /// Largest order quantity in base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_order_qty: Option<Dec>,
    /// Largest order notional in quote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_order_notional: Option<Dec>,
    /// Largest absolute position in base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_position: Option<Dec>,
    /// Largest distance from the mid, as a fraction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_band: Option<Dec>,
}

impl InstrumentLimits {
    /// `self`'s values, falling back to `global`'s where unset.
    fn or(self, global: InstrumentLimits) -> InstrumentLimits {
        InstrumentLimits {
            max_order_qty: self.max_order_qty.or(global.max_order_qty),
            max_order_notional: self.max_order_notional.or(global.max_order_notional),
            max_position: self.max_position.or(global.max_position),
            price_band: self.price_band.or(global.price_band),
        }
    }

    fn validate(&self, prefix: &str) -> Result<(), String> {
        for (name, v) in [
            ("max_order_qty", self.max_order_qty),
            ("max_order_notional", self.max_order_notional),
            ("max_position", self.max_position),
        ] {
            if let Some(v) = v {
                if v.raw() <= 0 {
                    return Err(format!("{prefix}{name} must be > 0, got {v}"));
                }
            }
        }
        if let Some(b) = self.price_band {
            if b.raw() <= 0 || b >= Dec::ONE {
                return Err(format!(
                    "{prefix}price_band must be a fraction in (0, 1) such as 0.05, got {b}"
                ));
            }
        }
        Ok(())
    }
}

impl RiskConfig {
    /// True when no limit is set (the table is then left out of the journaled config).
    pub fn is_off(&self) -> bool {
        *self == RiskConfig::default()
    }

    fn global(&self) -> InstrumentLimits {
        InstrumentLimits {
            max_order_qty: self.max_order_qty,
            max_order_notional: self.max_order_notional,
            max_position: self.max_position,
            price_band: self.price_band,
        }
    }

    /// Checks the values and that every per-instrument table names an instrument.
    ///
    /// # Errors
    /// A message naming the key and the value, e.g.
    /// `risk.max_order_qty must be > 0, got -1`.
    pub fn validate(&self, instruments: &[InstrumentSpec]) -> Result<(), String> {
        self.global().validate("risk.")?;
        if self.max_open_orders == Some(0) {
            return Err("risk.max_open_orders must be >= 1 (leave it out for no limit)".into());
        }
        if let Some(n) = self.max_orders_per_second {
            if n == 0 || n > MAX_RATE_LIMIT {
                return Err(format!(
                    "risk.max_orders_per_second must be in 1..={MAX_RATE_LIMIT}, got {n}"
                ));
            }
        }
        for (symbol, limits) in &self.instruments {
            if !instruments.iter().any(|i| &i.symbol == symbol) {
                return Err(format!(
                    "risk.instruments.{symbol}: {symbol} is not in [[instruments]]"
                ));
            }
            limits.validate(&format!("risk.instruments.{symbol}."))?;
        }
        Ok(())
    }
}

/// The limit an order breached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskLimit {
    /// `max_order_qty`.
    OrderQty,
    /// `max_order_notional`.
    OrderNotional,
    /// `max_position`.
    Position,
    /// `max_open_orders`.
    OpenOrders,
    /// `price_band`.
    PriceBand,
    /// `max_orders_per_second`.
    OrderRate,
    /// The kill switch is engaged.
    KillSwitch,
}

impl RiskLimit {
    /// Every limit, in check order (the kill switch first).
    pub const ALL: [RiskLimit; 7] = [
        RiskLimit::KillSwitch,
        RiskLimit::OrderQty,
        RiskLimit::OrderNotional,
        RiskLimit::Position,
        RiskLimit::OpenOrders,
        RiskLimit::PriceBand,
        RiskLimit::OrderRate,
    ];

    /// The journaled alert that reports a breach of this limit.
    pub fn alert(self) -> AlertCode {
        match self {
            RiskLimit::OrderQty => AlertCode::RiskOrderQty,
            RiskLimit::OrderNotional => AlertCode::RiskOrderNotional,
            RiskLimit::Position => AlertCode::RiskPosition,
            RiskLimit::OpenOrders => AlertCode::RiskOpenOrders,
            RiskLimit::PriceBand => AlertCode::RiskPriceBand,
            RiskLimit::OrderRate => AlertCode::RiskOrderRate,
            RiskLimit::KillSwitch => AlertCode::KillSwitchActive,
        }
    }
}

/// An order about to be sent, as the limits see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCheck {
    /// Instrument index.
    pub instrument: usize,
    /// Side.
    pub side: Side,
    /// Price it is valued at: the limit price, or the touch for a market order.
    pub price: Dec,
    /// Quantity (after lot rounding).
    pub qty: Dec,
    /// Mid of the instrument's book.
    pub mid: Option<Dec>,
    /// Live orders, all instruments.
    pub open_orders: usize,
}

/// Sliding one-second window of send times, a ring pre-sized to the limit.
#[derive(Clone, Debug)]
struct RateWindow {
    limit: usize,
    stamps: Vec<u64>,
    head: usize,
}

impl RateWindow {
    fn new(limit: u32) -> RateWindow {
        RateWindow {
            limit: limit as usize,
            stamps: Vec::with_capacity(limit as usize),
            head: 0,
        }
    }

    /// True while `limit` orders were sent within the second before `now`.
    fn full(&self, now: u64) -> bool {
        // The oldest stamp is at `head` once the ring is full.
        self.stamps.len() == self.limit && now.saturating_sub(self.stamps[self.head]) < SECOND_NS
    }

    fn record(&mut self, now: u64) {
        if self.stamps.len() < self.limit {
            self.stamps.push(now);
        } else {
            self.stamps[self.head] = now;
            self.head = (self.head + 1) % self.limit;
        }
    }
}

/// Limits resolved per instrument, the rate window and the kill switch.
#[derive(Clone, Debug, Default)]
pub struct Risk {
    limits: Vec<InstrumentLimits>,
    max_open_orders: Option<u32>,
    rate: Option<RateWindow>,
    killed: bool,
    /// Orders refused, by limit in [`RiskLimit::ALL`] order.
    pub refused: [u64; 7],
}

impl Risk {
    /// Resolves `cfg` for the session's instruments (in instrument id order).
    pub fn new(cfg: &RiskConfig, instruments: &[InstrumentSpec]) -> Risk {
        let global = cfg.global();
        Risk {
            limits: instruments
                .iter()
                .map(|i| {
                    cfg.instruments
                        .get(&i.symbol)
                        .map_or(global, |l| l.or(global))
                })
                .collect(),
            max_open_orders: cfg.max_open_orders,
            rate: cfg.max_orders_per_second.map(RateWindow::new),
            killed: false,
            refused: [0; 7],
        }
    }

    /// True once the kill switch is engaged.
    pub fn killed(&self) -> bool {
        self.killed
    }

    /// Engages the kill switch; returns false if it already was.
    pub fn kill(&mut self) -> bool {
        !std::mem::replace(&mut self.killed, true)
    }

    /// True when the position limit applies to `instrument` (the caller then computes
    /// the open quantity [`check`](Self::check) needs).
    pub fn needs_open_qty(&self, instrument: usize) -> bool {
        self.limits
            .get(instrument)
            .is_some_and(|l| l.max_position.is_some())
    }

    /// Checks an order against every limit. `net` is the instrument's position and
    /// `open_same_side` the unfilled rest of its live orders on the order's side
    /// (only read when [`needs_open_qty`](Self::needs_open_qty)).
    ///
    /// # Errors
    /// The first limit breached; it is counted in [`refused`](Self::refused).
    pub fn check(
        &mut self,
        now: u64,
        o: &OrderCheck,
        net: Dec,
        open_same_side: Dec,
    ) -> Result<(), RiskLimit> {
        let r = self.first_breach(now, o, net, open_same_side);
        if let Err(limit) = r {
            if let Some(i) = RiskLimit::ALL.iter().position(|l| *l == limit) {
                self.refused[i] += 1;
            }
        }
        r
    }

    fn first_breach(&self, now: u64, o: &OrderCheck, net: Dec, open: Dec) -> Result<(), RiskLimit> {
        if self.killed {
            return Err(RiskLimit::KillSwitch);
        }
        let l = self.limits.get(o.instrument).copied().unwrap_or_default();
        if l.max_order_qty.is_some_and(|m| o.qty > m) {
            return Err(RiskLimit::OrderQty);
        }
        if l.max_order_notional.is_some_and(|m| o.price.mul(o.qty) > m) {
            return Err(RiskLimit::OrderNotional);
        }
        if let Some(m) = l.max_position {
            let worst = match o.side {
                Side::Buy => net + open + o.qty,
                Side::Sell => Dec::ZERO - (net - open - o.qty),
            };
            if worst > m {
                return Err(RiskLimit::Position);
            }
        }
        if self
            .max_open_orders
            .is_some_and(|m| o.open_orders >= m as usize)
        {
            return Err(RiskLimit::OpenOrders);
        }
        if let Some(band) = l.price_band {
            // Without a mid there is nothing to measure against: refuse.
            let ok = o
                .mid
                .is_some_and(|mid| (o.price - mid).abs() <= band.mul(mid));
            if !ok {
                return Err(RiskLimit::PriceBand);
            }
        }
        if self.rate.as_ref().is_some_and(|r| r.full(now)) {
            return Err(RiskLimit::OrderRate);
        }
        Ok(())
    }

    /// Records an order sent at event time `now` (the rate window).
    pub fn on_sent(&mut self, now: u64) {
        if let Some(r) = self.rate.as_mut() {
            r.record(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    fn spec(symbol: &str) -> InstrumentSpec {
        InstrumentSpec {
            symbol: symbol.into(),
            base: "B".into(),
            quote: "Q".into(),
            tick_size: d("0.01"),
            lot_size: d("0.001"),
            min_qty: Dec::ZERO,
            min_notional: Dec::ZERO,
            market: Default::default(),
            leverage: 1,
        }
    }

    fn order(side: Side, price: &str, qty: &str) -> OrderCheck {
        OrderCheck {
            instrument: 0,
            side,
            price: d(price),
            qty: d(qty),
            mid: Some(d("100")),
            open_orders: 0,
        }
    }

    #[test]
    fn per_instrument_limits_replace_global_ones() {
        let cfg: RiskConfig = toml::from_str(
            "max_order_qty = \"2\"\nmax_order_notional = 150\n[instruments.ETH]\nmax_order_qty = \"0.5\"\n",
        )
        .unwrap();
        let mut r = Risk::new(&cfg, &[spec("BTC"), spec("ETH")]);
        assert_eq!(
            r.check(0, &order(Side::Buy, "100", "1.5"), Dec::ZERO, Dec::ZERO),
            Ok(())
        );
        assert_eq!(
            r.check(0, &order(Side::Buy, "100", "2.001"), Dec::ZERO, Dec::ZERO),
            Err(RiskLimit::OrderQty)
        );
        let eth = OrderCheck {
            instrument: 1,
            ..order(Side::Buy, "100", "0.6")
        };
        assert_eq!(
            r.check(0, &eth, Dec::ZERO, Dec::ZERO),
            Err(RiskLimit::OrderQty)
        );
        // ETH keeps the global notional: 0.5 × 400 = 200 > 150.
        let eth = OrderCheck {
            instrument: 1,
            price: d("400"),
            ..order(Side::Buy, "100", "0.5")
        };
        assert_eq!(
            r.check(0, &eth, Dec::ZERO, Dec::ZERO),
            Err(RiskLimit::OrderNotional)
        );
        assert_eq!(r.refused, [0, 2, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn position_limit_counts_open_orders_and_lets_reductions_through() {
        let cfg = RiskConfig {
            max_position: Some(d("1")),
            ..Default::default()
        };
        let mut r = Risk::new(&cfg, &[spec("BTC")]);
        // 0.4 held + 0.5 working + 0.1 = 1.0: at the limit, allowed.
        assert_eq!(
            r.check(0, &order(Side::Buy, "100", "0.1"), d("0.4"), d("0.5")),
            Ok(())
        );
        assert_eq!(
            r.check(0, &order(Side::Buy, "100", "0.101"), d("0.4"), d("0.5")),
            Err(RiskLimit::Position)
        );
        // Short side: -0.4 - 0.5 - 0.2 = -1.1.
        assert_eq!(
            r.check(0, &order(Side::Sell, "100", "0.2"), d("-0.4"), d("0.5")),
            Err(RiskLimit::Position)
        );
        // Far over the limit long (3), a sell that reduces is allowed.
        assert_eq!(
            r.check(0, &order(Side::Sell, "100", "1"), d("3"), Dec::ZERO),
            Ok(())
        );
    }

    #[test]
    fn price_band_open_orders_and_rate() {
        let cfg = RiskConfig {
            price_band: Some(d("0.05")),
            max_open_orders: Some(2),
            max_orders_per_second: Some(2),
            ..Default::default()
        };
        let mut r = Risk::new(&cfg, &[spec("BTC")]);
        assert_eq!(
            r.check(0, &order(Side::Buy, "95", "1"), Dec::ZERO, Dec::ZERO),
            Ok(())
        );
        assert_eq!(
            r.check(0, &order(Side::Buy, "94.99", "1"), Dec::ZERO, Dec::ZERO),
            Err(RiskLimit::PriceBand)
        );
        assert_eq!(
            r.check(0, &order(Side::Sell, "105.01", "1"), Dec::ZERO, Dec::ZERO),
            Err(RiskLimit::PriceBand)
        );
        let two_open = OrderCheck {
            open_orders: 2,
            ..order(Side::Buy, "100", "1")
        };
        assert_eq!(
            r.check(0, &two_open, Dec::ZERO, Dec::ZERO),
            Err(RiskLimit::OpenOrders)
        );
        let s = SECOND_NS;
        r.on_sent(10 * s);
        r.on_sent(10 * s + 500_000_000);
        let o = order(Side::Buy, "100", "1");
        assert_eq!(
            r.check(11 * s - 1, &o, Dec::ZERO, Dec::ZERO),
            Err(RiskLimit::OrderRate)
        );
        // The first stamp is one second old: one slot free again.
        assert_eq!(r.check(11 * s, &o, Dec::ZERO, Dec::ZERO), Ok(()));
        r.on_sent(11 * s);
        assert_eq!(
            r.check(11 * s + 499_999_999, &o, Dec::ZERO, Dec::ZERO),
            Err(RiskLimit::OrderRate)
        );
        assert_eq!(
            r.check(11 * s + 500_000_000, &o, Dec::ZERO, Dec::ZERO),
            Ok(())
        );
        assert!(r.kill());
        assert!(!r.kill());
        assert_eq!(
            r.check(20 * s, &o, Dec::ZERO, Dec::ZERO),
            Err(RiskLimit::KillSwitch)
        );
        assert_eq!(r.refused, [1, 0, 0, 0, 1, 2, 2]);
    }

    #[test]
    fn validation_messages_name_key_and_value() {
        let syms = [spec("BTCUSDT")];
        let cases = [
            (
                "max_order_qty = \"-1\"",
                "risk.max_order_qty must be > 0, got -1",
            ),
            (
                "max_order_notional = 0",
                "risk.max_order_notional must be > 0, got 0",
            ),
            (
                "price_band = \"1.5\"",
                "risk.price_band must be a fraction in (0, 1) such as 0.05, got 1.5",
            ),
            (
                "max_open_orders = 0",
                "risk.max_open_orders must be >= 1 (leave it out for no limit)",
            ),
            (
                "max_orders_per_second = 100001",
                "risk.max_orders_per_second must be in 1..=100000, got 100001",
            ),
            (
                "[instruments.ETHUSDT]\nmax_position = 1",
                "risk.instruments.ETHUSDT: ETHUSDT is not in [[instruments]]",
            ),
            (
                "[instruments.BTCUSDT]\nmax_position = \"-2\"",
                "risk.instruments.BTCUSDT.max_position must be > 0, got -2",
            ),
        ];
        for (text, want) in cases {
            let cfg: RiskConfig = toml::from_str(text).unwrap();
            assert_eq!(cfg.validate(&syms), Err(want.to_string()), "{text}");
        }
        let ok: RiskConfig = toml::from_str("max_order_qty = 1\nprice_band = \"0.02\"").unwrap();
        assert_eq!(ok.validate(&syms), Ok(()));
        assert!(!ok.is_off());
        assert!(RiskConfig::default().is_off());
    }
}
