//! Copy-trading signals: what an external master tells the engine to open or close.
//!
//! A signal arrives as JSON from a signal source (WebSocket feed, HTTP webhook, REST
//! poll; see `kestrel_feeds::signals`), is validated and authenticated there, and
//! reaches the engine as [`Event::Signal`](crate::Event::Signal), journaled like any
//! other input. It is plain fixed-size data (about 80 bytes): the master's text id is
//! reduced to a 64-bit FNV-1a hash ([`signal_id`]) by the source, so the engine never
//! touches strings.
//!
//! Zero means "not given" for `entry_price`, `stop_loss` and `take_profit`; the
//! copy-trading controller then uses its configured defaults (or a market entry).

use crate::num::Dec;
use crate::types::{InstrumentId, Side};

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a (64-bit) hash of `bytes`: the id of a signal whose master id text is `bytes`.
/// Deterministic on every platform; `signal_id(b"")` is the offset basis.
pub const fn signal_id(bytes: &[u8]) -> u64 {
    fnv1a_extend(FNV_OFFSET, bytes)
}

/// Continues an FNV-1a hash `h` over `bytes` (to hash several parts as one text).
pub const fn fnv1a_extend(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// Whether a signal opens a new position or closes one.
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
pub enum SignalAction {
    /// Open a position on `side`.
    #[default]
    Open,
    /// Close the position held on `side`.
    Close,
}

/// One trade signal of a copy-trading master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug, PartialEq))]
pub struct Signal {
    /// [`signal_id`] of the master's id text.
    pub id: u64,
    /// Instrument (resolved from the signal's pair by the source).
    pub instrument: InstrumentId,
    /// Side of the position opened (OPEN) or closed (CLOSE): BUY is a long.
    pub side: Side,
    /// The master's base amount (the controller scales it by its copy ratio).
    pub amount: Dec,
    /// Entry price; 0: none (enter at the market).
    pub entry_price: Dec,
    /// Stop loss as a pnl fraction (0.02 = 2%); 0: none (the controller's default).
    pub stop_loss: Dec,
    /// Take profit as a pnl fraction; 0: none (the controller's default).
    pub take_profit: Dec,
    /// The master's confidence in [0, 1]; 1 when the signal gives none.
    pub confidence: Dec,
    /// Open or close.
    pub action: SignalAction,
    /// Index of the signal source that received it.
    pub source: u8,
}

impl Default for Signal {
    /// An OPEN BUY of nothing with full confidence and no prices.
    fn default() -> Self {
        Signal {
            id: 0,
            instrument: 0,
            side: Side::Buy,
            amount: Dec::ZERO,
            entry_price: Dec::ZERO,
            stop_loss: Dec::ZERO,
            take_profit: Dec::ZERO,
            confidence: Dec::ONE,
            action: SignalAction::Open,
            source: 0,
        }
    }
}

impl Signal {
    /// `entry_price` unless it is 0.
    pub fn entry(&self) -> Option<Dec> {
        (self.entry_price.raw() > 0).then_some(self.entry_price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_values() {
        // Reference values of FNV-1a 64 (draft-eastlake-fnv test vectors).
        assert_eq!(signal_id(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(signal_id(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(signal_id(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(
            fnv1a_extend(signal_id(b"foo"), b"bar"),
            signal_id(b"foobar")
        );
    }

    #[test]
    fn default_is_full_confidence_open() {
        let s = Signal::default();
        assert_eq!(s.confidence, Dec::ONE);
        assert_eq!(s.action, SignalAction::Open);
        assert_eq!(s.entry(), None);
        let priced = Signal {
            entry_price: Dec::from_int(100),
            ..s
        };
        assert_eq!(priced.entry(), Some(Dec::from_int(100)));
    }

    #[test]
    fn signals_roundtrip_through_rkyv() {
        let s = Signal {
            id: signal_id(b"sig-1"),
            instrument: 3,
            side: Side::Sell,
            amount: Dec::parse("1.5").unwrap(),
            entry_price: Dec::from_int(2000),
            stop_loss: Dec::parse("0.02").unwrap(),
            take_profit: Dec::parse("0.04").unwrap(),
            confidence: Dec::parse("0.8").unwrap(),
            action: SignalAction::Close,
            source: 2,
        };
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&s).unwrap();
        let back = rkyv::from_bytes::<Signal, rkyv::rancor::Error>(&bytes).unwrap();
        assert_eq!(back, s);
    }
}
