//! Balances per asset and positions per instrument, with fees.

use crate::num::Dec;
use crate::types::{AssetId, Instrument, Side};

/// Balance of one asset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Balance {
    /// Asset name.
    pub asset: String,
    /// Total held.
    pub total: Dec,
    /// Reserved by open orders.
    pub locked: Dec,
}

impl Balance {
    /// Free to use.
    pub fn available(&self) -> Dec {
        self.total - self.locked
    }
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

    /// Funds an order needs: quote for a buy (price × qty), base for a sell.
    pub fn required(inst: &Instrument, side: Side, price: Dec, qty: Dec) -> (AssetId, Dec) {
        match side {
            Side::Buy => (inst.quote, price.mul(qty)),
            Side::Sell => (inst.base, qty),
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
