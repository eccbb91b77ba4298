//! Balances per asset and positions per instrument, with fees.
//!
//! Spot fills move base and quote. Perpetual fills move no base: the quote balance
//! takes the realized pnl and the fee, and each open perpetual position holds margin
//! `|net| × entry / leverage` of the quote asset. Orders reserve what they need
//! (spot: quote for buys, base for sells; perpetuals: `notional / leverage` of quote
//! for orders that open or grow a position, nothing for orders that reduce one).

use crate::num::Dec;
use crate::types::{AssetId, Instrument, Market, PositionAction, Side};

/// Balance of one asset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Balance {
    /// Asset name.
    pub asset: String,
    /// Total held.
    pub total: Dec,
    /// Reserved by open orders.
    pub locked: Dec,
    /// Margin held by open perpetual positions.
    pub margin: Dec,
}

impl Balance {
    /// Free to use.
    pub fn available(&self) -> Dec {
        self.total - self.locked - self.margin
    }
}

/// Margin of `notional` at `leverage` (leverage 0 counts as 1).
pub fn margin(notional: Dec, leverage: u32) -> Dec {
    notional
        .div(Dec::from_int(leverage.max(1) as i64))
        .unwrap_or(notional)
}

/// Net position of one instrument, average-cost accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Position {
    /// Signed base quantity (+ long, − short).
    pub net: Dec,
    /// Average entry price of the open quantity.
    pub entry: Dec,
    /// Realized pnl in quote, before fees.
    pub realized: Dec,
    /// Fees paid in quote.
    pub fees: Dec,
    /// Traded notional in quote.
    pub volume: Dec,
    /// Number of fills.
    pub fills: u64,
}

impl Position {
    /// Applies a fill of `qty` at `px` on `side`.
    pub fn apply_fill(&mut self, side: Side, px: Dec, qty: Dec, fee: Dec) {
        let signed = if side == Side::Buy { qty } else { -qty };
        self.volume += px.mul(qty);
        self.fees += fee;
        self.fills += 1;
        let same_dir = self.net.raw() == 0 || (self.net.raw() > 0) == (signed.raw() > 0);
        if same_dir {
            let new_net = self.net + signed;
            // Weighted average entry.
            let cost = self.entry.mul(self.net.abs()) + px.mul(qty);
            self.entry = cost.div(new_net.abs()).unwrap_or(Dec::ZERO);
            self.net = new_net;
        } else {
            let matched = qty.min(self.net.abs());
            let pnl = if self.net.raw() > 0 {
                (px - self.entry).mul(matched)
            } else {
                (self.entry - px).mul(matched)
            };
            self.realized += pnl;
            self.net += signed;
            if self.net.raw() == 0 {
                self.entry = Dec::ZERO;
            } else if (self.net.raw() > 0) == (signed.raw() > 0) {
                // Flipped: the excess opens at the fill price.
                self.entry = px;
            }
        }
    }

    /// True if an order only reduces this perpetual position: a hedge-mode CLOSE, or
    /// a one-way order against the net position no larger than it.
    pub fn reduced_by(&self, market: Market, side: Side, qty: Dec, action: PositionAction) -> bool {
        if market == Market::PerpetualHedge {
            return action == PositionAction::Close;
        }
        let against =
            (self.net.raw() > 0 && side == Side::Sell) || (self.net.raw() < 0 && side == Side::Buy);
        against && qty <= self.net.abs()
    }

    /// Books a perpetual fill at `leverage`; returns what the quote balance takes
    /// (realized pnl − fee) and how the margin the position holds changes.
    pub fn apply_perp_fill(
        &mut self,
        side: Side,
        px: Dec,
        qty: Dec,
        fee: Dec,
        leverage: u32,
    ) -> (Dec, Dec) {
        let (margin_before, realized_before) = (
            margin(self.net.abs().mul(self.entry), leverage),
            self.realized,
        );
        self.apply_fill(side, px, qty, fee);
        let margin_after = margin(self.net.abs().mul(self.entry), leverage);
        (
            self.realized - realized_before - fee,
            margin_after - margin_before,
        )
    }

    /// Unrealized pnl at `mark`.
    pub fn unrealized(&self, mark: Dec) -> Dec {
        if self.net.raw() >= 0 {
            (mark - self.entry).mul(self.net)
        } else {
            (self.entry - mark).mul(self.net.abs())
        }
    }
}

/// Every balance and position of the session.
#[derive(Clone, Debug, Default)]
pub struct Portfolio {
    /// Balances by asset id.
    pub balances: Vec<Balance>,
    /// Positions by instrument id.
    pub positions: Vec<Position>,
}

impl Portfolio {
    /// Id of `asset`, adding it if new.
    pub fn asset_id(&mut self, asset: &str) -> AssetId {
        if let Some(i) = self.balances.iter().position(|b| b.asset == asset) {
            return i as AssetId;
        }
        self.balances.push(Balance {
            asset: asset.to_string(),
            ..Default::default()
        });
        (self.balances.len() - 1) as AssetId
    }

    /// Balance of an asset.
    pub fn balance(&self, asset: AssetId) -> &Balance {
        &self.balances[asset as usize]
    }

    /// Funds an order needs. Spot: quote for a buy (price × qty), base for a sell.
    /// Perpetuals: margin (price × qty / leverage) of quote, nothing for an order that
    /// only reduces the position (CLOSE, or a one-way order against the net position
    /// no larger than it).
    pub fn required(
        &self,
        inst: &Instrument,
        side: Side,
        price: Dec,
        qty: Dec,
        action: PositionAction,
    ) -> (AssetId, Dec) {
        if inst.spec.market.is_perpetual() {
            let pos = &self.positions[inst.id as usize];
            let need = if pos.reduced_by(inst.spec.market, side, qty, action) {
                Dec::ZERO
            } else {
                margin(price.mul(qty), inst.spec.leverage)
            };
            return (inst.quote, need);
        }
        match side {
            Side::Buy => (inst.quote, price.mul(qty)),
            Side::Sell => (inst.base, qty),
        }
    }

    /// The asset an order of `side` reserves.
    pub fn reserved_asset(inst: &Instrument, side: Side) -> AssetId {
        if inst.spec.market.is_perpetual() || side == Side::Buy {
            inst.quote
        } else {
            inst.base
        }
    }

    /// What a fill of `qty` at `px` used of its order's reservation (`limit` is the
    /// order's price, 0 for market orders).
    pub fn reservation_used(inst: &Instrument, side: Side, limit: Dec, px: Dec, qty: Dec) -> Dec {
        let px = if limit.raw() > 0 { limit } else { px };
        if inst.spec.market.is_perpetual() {
            margin(px.mul(qty), inst.spec.leverage)
        } else if side == Side::Buy {
            px.mul(qty)
        } else {
            qty
        }
    }

    /// Reserves `amount` of `asset` if available.
    pub fn try_lock(&mut self, asset: AssetId, amount: Dec) -> bool {
        let b = &mut self.balances[asset as usize];
        if b.available() < amount {
            return false;
        }
        b.locked += amount;
        true
    }

    /// Releases a reservation.
    pub fn unlock(&mut self, asset: AssetId, amount: Dec) {
        let b = &mut self.balances[asset as usize];
        b.locked = (b.locked - amount).max(Dec::ZERO);
    }

    /// Books a fill: balances move, the position updates. Fees are paid in quote.
    pub fn apply_fill(&mut self, inst: &Instrument, side: Side, px: Dec, qty: Dec, fee: Dec) {
        if inst.spec.market.is_perpetual() {
            let (cash, margin) = self.positions[inst.id as usize].apply_perp_fill(
                side,
                px,
                qty,
                fee,
                inst.spec.leverage,
            );
            let quote = &mut self.balances[inst.quote as usize];
            quote.total += cash;
            quote.margin += margin;
            return;
        }
        let notional = px.mul(qty);
        match side {
            Side::Buy => {
                self.balances[inst.quote as usize].total -= notional + fee;
                self.balances[inst.base as usize].total += qty;
            }
            Side::Sell => {
                self.balances[inst.base as usize].total -= qty;
                self.balances[inst.quote as usize].total += notional - fee;
            }
        }
        self.positions[inst.id as usize].apply_fill(side, px, qty, fee);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::InstrumentSpec;

    fn perp(leverage: u32, market: Market) -> (Portfolio, Instrument) {
        let spec = InstrumentSpec {
            symbol: "ETHUSDT".into(),
            base: "ETH".into(),
            quote: "USDT".into(),
            tick_size: d("0.01"),
            lot_size: d("0.001"),
            min_qty: Dec::ZERO,
            min_notional: Dec::ZERO,
            market,
            leverage,
        };
        let mut p = Portfolio::default();
        let base = p.asset_id("ETH");
        let quote = p.asset_id("USDT");
        p.balances[quote as usize].total = d("1000");
        p.positions = vec![Position::default()];
        let inst = Instrument::new(0, spec, base, quote);
        (p, inst)
    }

    #[test]
    fn perpetual_fills_settle_pnl_in_quote_and_hold_margin() {
        let (mut p, inst) = perp(10, Market::PerpetualOneway);
        // Short 2 @ 100 at 10x with no base: margin 20 of quote.
        let (asset, need) = p.required(&inst, Side::Sell, d("100"), d("2"), PositionAction::Open);
        assert_eq!((asset, need), (inst.quote, d("20")));
        p.apply_fill(&inst, Side::Sell, d("100"), d("2"), d("0.1"));
        let q = p.balance(inst.quote);
        assert_eq!(
            (q.total, q.margin, q.available()),
            (d("999.9"), d("20"), d("979.9"))
        );
        assert_eq!(p.balance(inst.base).total, Dec::ZERO, "no base moves");
        // Buying 1 back reduces: no margin needed; 1 × (100 − 90) realized.
        let (_, need) = p.required(&inst, Side::Buy, d("90"), d("1"), PositionAction::Open);
        assert_eq!(need, Dec::ZERO);
        p.apply_fill(&inst, Side::Buy, d("90"), d("1"), d("0.1"));
        let q = p.balance(inst.quote);
        assert_eq!((q.total, q.margin), (d("1009.8"), d("10")));
        // Buying 3 flips to long 2 @ 90 and needs margin for the whole order.
        let (_, need) = p.required(&inst, Side::Buy, d("90"), d("3"), PositionAction::Open);
        assert_eq!(need, d("27"));
        p.apply_fill(&inst, Side::Buy, d("90"), d("3"), Dec::ZERO);
        let q = p.balance(inst.quote);
        assert_eq!((q.total, q.margin), (d("1019.8"), d("18")));
        assert_eq!(p.positions[0].net, d("2"));
    }

    #[test]
    fn hedge_mode_close_orders_need_no_margin() {
        let (p, inst) = perp(5, Market::PerpetualHedge);
        let open = p.required(&inst, Side::Buy, d("100"), d("1"), PositionAction::Open);
        let close = p.required(&inst, Side::Buy, d("100"), d("1"), PositionAction::Close);
        assert_eq!((open.1, close.1), (d("20"), Dec::ZERO));
    }

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn average_cost_and_flip() {
        let mut p = Position::default();
        p.apply_fill(Side::Buy, d("100"), d("1"), d("0.1"));
        p.apply_fill(Side::Buy, d("110"), d("1"), d("0.1"));
        assert_eq!(p.entry, d("105"));
        assert_eq!(p.net, d("2"));
        p.apply_fill(Side::Sell, d("120"), d("3"), d("0.2"));
        assert_eq!(p.realized, d("30"));
        assert_eq!(p.net, d("-1"));
        assert_eq!(p.entry, d("120"));
        assert_eq!(p.unrealized(d("110")), d("10"));
        assert_eq!(p.fees, d("0.4"));
        assert_eq!(p.volume, d("570"));
        p.apply_fill(Side::Buy, d("100"), d("1"), Dec::ZERO);
        assert_eq!(
            (p.net, p.entry, p.realized),
            (Dec::ZERO, Dec::ZERO, d("50"))
        );
    }
}
