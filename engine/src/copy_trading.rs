//! Copy-trading decision logic: turns one [`Signal`] into "open a position", "close
//! that executor" or a typed refusal. Pure and deterministic: no clock, no I/O, and no
//! allocation after [`CopyTrading::new`] (the seen-id ring is allocated once).
//!
//! # Rules, in the order they are checked
//!
//! | check | refusal |
//! | --- | --- |
//! | the signal came from this controller's source | [`RejectReasonCode::WrongSource`] |
//! | its instrument is in `allowed_pairs` | [`RejectReasonCode::PairNotAllowed`] |
//! | OPEN: master amount > 0 | [`RejectReasonCode::ZeroAmount`] |
//! | OPEN: confidence ≥ `min_signal_confidence` | [`RejectReasonCode::LowConfidence`] |
//! | its (id, action) was not acted on recently | [`RejectReasonCode::Duplicate`] |
//! | OPEN: fewer than `max_positions_per_pair` open on the instrument (either side) | [`RejectReasonCode::MaxPositions`] |
//! | OPEN: a price to size with: mid, else the signal's entry price | [`RejectReasonCode::NoPrice`] |
//! | OPEN: sized amount > 0 | [`RejectReasonCode::ZeroAmount`] |
//! | CLOSE: an active copied position on the same instrument and side | [`RejectReasonCode::NoPosition`] |
//!
//! Confidence does not gate a CLOSE: leaving a position is never refused for doubt.
//!
//! # Sizing (OPEN)
//!
//! `amount = master amount × copy_ratio`, then capped at `max_position_size_quote / px`
//! (when that cap is set) and at `0.9 × available_quote / px`, where `px` is the mid
//! (or, without one, the signal's entry price). All products and quotients truncate
//! toward zero at 1e-9; rounding to the venue's lot is the executor's job. The 90% cap
//! applies to both sides: a short on a perpetual needs quote margin, and a spot sell is
//! further limited by the base balance when the executor places it.
//!
//! # Duplicates
//!
//! An (id, action) pair is remembered once it produced an `Open` or a `Close`, in a
//! ring of the last [`SEEN_CAPACITY`] such pairs; a repeat is refused. A signal that was
//! refused for another reason is not remembered, so a master may resend it (e.g. once
//! a price is known). CLOSE ids are remembered too: a retried CLOSE must not close a
//! second position of the same pair.
//!
//! # Matching a CLOSE
//!
//! Among the active copied positions with the signal's instrument and side, the one
//! opened by a signal with the same id wins; otherwise the lowest executor id (the
//! oldest, as ids are handed out in order).

use crate::config::{ConfigError, CopyTradingConfig};
use crate::num::Dec;
use crate::signal::{Signal, SignalAction};
use crate::types::{Instrument, InstrumentId, Side};

/// Number of recent (id, action) pairs remembered for duplicate detection.
pub const SEEN_CAPACITY: usize = 1024;

/// Share of the available quote balance a single signal may use (0.9).
pub const AVAILABLE_SHARE: Dec = Dec(900_000_000);

/// Why a signal was not acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug, PartialEq))]
pub enum RejectReasonCode {
    /// The signal belongs to another controller's source.
    WrongSource,
    /// The instrument is not in `allowed_pairs`.
    PairNotAllowed,
    /// Confidence below `min_signal_confidence`.
    LowConfidence,
    /// The same (id, action) was already acted on.
    Duplicate,
    /// `max_positions_per_pair` positions are already open on the instrument.
    MaxPositions,
    /// No mid price and no entry price to size the position with.
    NoPrice,
    /// The master amount, or the amount after scaling and caps, is not above zero.
    ZeroAmount,
    /// CLOSE for a side and instrument with no open copied position.
    NoPosition,
    /// The engine is stopped or its kill switch engaged, or (OPEN only) the controller
    /// is paused.
    Inactive,
}

/// What the controller should do with a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Open a position (a position executor with these barriers).
    Open {
        /// Instrument.
        instrument: InstrumentId,
        /// BUY opens a long, SELL a short.
        side: Side,
        /// Base amount, not yet rounded to the lot.
        amount: Dec,
        /// Entry price (None: at the market).
        entry_price: Option<Dec>,
        /// Stop loss, pnl fraction.
        stop_loss: Option<Dec>,
        /// Take profit, pnl fraction.
        take_profit: Option<Dec>,
        /// Time limit in seconds.
        time_limit: Option<u64>,
        /// Id of the signal, to hand back in `active` so a CLOSE can match it.
        signal_id: u64,
    },
    /// Stop this executor, closing its position.
    Close {
        /// Executor id.
        executor_id: u32,
    },
    /// Do nothing, for this reason.
    Reject(RejectReasonCode),
}

/// Fixed-capacity ring of recently acted-on (id, action) pairs.
#[derive(Clone, Debug, PartialEq)]
struct SeenIds {
    items: Vec<(u64, SignalAction)>,
    next: usize,
}

impl SeenIds {
    fn new() -> SeenIds {
        SeenIds {
            items: Vec::with_capacity(SEEN_CAPACITY),
            next: 0,
        }
    }

    fn contains(&self, id: u64, action: SignalAction) -> bool {
        self.items.contains(&(id, action))
    }

    fn insert(&mut self, id: u64, action: SignalAction) {
        if self.items.len() < SEEN_CAPACITY {
            self.items.push((id, action));
        } else {
            self.items[self.next] = (id, action);
        }
        self.next = (self.next + 1) % SEEN_CAPACITY;
    }
}

/// Copy-trading controller logic (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct CopyTrading {
    /// Controller id from the config.
    pub id: String,
    source: u8,
    allowed: Vec<InstrumentId>,
    copy_ratio: Dec,
    max_position_size_quote: Dec,
    stop_loss: Option<Dec>,
    take_profit: Option<Dec>,
    time_limit: Option<u64>,
    min_confidence: Dec,
    max_per_pair: u32,
    seen: SeenIds,
}

impl CopyTrading {
    /// Builds the controller for signals of source `source`, resolving
    /// `allowed_pairs` against the session's instruments.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the controller when the config is invalid or an allowed
    /// pair is not an instrument of the session.
    pub fn new(
        cfg: &CopyTradingConfig,
        source: u8,
        instruments: &[Instrument],
    ) -> Result<CopyTrading, ConfigError> {
        let err = |m: String| ConfigError(format!("controller {}: {m}", cfg.id));
        cfg.validate().map_err(err)?;
        let mut allowed = Vec::with_capacity(cfg.allowed_pairs.len());
        for pair in &cfg.allowed_pairs {
            let inst = instruments
                .iter()
                .find(|i| i.spec.symbol == *pair)
                .ok_or_else(|| err(format!("allowed pair {pair} is not in [[instruments]]")))?;
            if !allowed.contains(&inst.id) {
                allowed.push(inst.id);
            }
        }
        Ok(CopyTrading {
            id: cfg.id.clone(),
            source,
            allowed,
            copy_ratio: cfg.copy_ratio,
            max_position_size_quote: cfg.max_position_size_quote,
            stop_loss: cfg.stop_loss,
            take_profit: cfg.take_profit,
            time_limit: cfg.time_limit,
            min_confidence: cfg.min_signal_confidence,
            max_per_pair: cfg.max_positions_per_pair,
            seen: SeenIds::new(),
        })
    }

    /// Index of the signal source this controller listens to.
    pub fn source(&self) -> u8 {
        self.source
    }

    /// Instruments signals may trade, in `allowed_pairs` order.
    pub fn allowed(&self) -> &[InstrumentId] {
        &self.allowed
    }

    /// Decides what to do with `signal`, given the instrument's mid price, the free
    /// quote balance and the controller's active copied positions as
    /// `(executor id, instrument, side, signal id)`. Remembers the signal's id when the
    /// decision is `Open` or `Close`. Allocation-free.
    pub fn decide<I>(
        &mut self,
        signal: &Signal,
        mid: Option<Dec>,
        available_quote: Dec,
        active: I,
    ) -> Decision
    where
        I: IntoIterator<Item = (u32, InstrumentId, Side, u64)>,
    {
        let d = self.evaluate(signal, mid, available_quote, active);
        if matches!(d, Decision::Open { .. } | Decision::Close { .. }) {
            self.seen.insert(signal.id, signal.action);
        }
        d
    }

    fn evaluate<I>(&self, s: &Signal, mid: Option<Dec>, available_quote: Dec, active: I) -> Decision
    where
        I: IntoIterator<Item = (u32, InstrumentId, Side, u64)>,
    {
        use RejectReasonCode as R;
        if s.source != self.source {
            return Decision::Reject(R::WrongSource);
        }
        if !self.allowed.contains(&s.instrument) {
            return Decision::Reject(R::PairNotAllowed);
        }
        match s.action {
            SignalAction::Close => {
                if self.seen.contains(s.id, s.action) {
                    return Decision::Reject(R::Duplicate);
                }
                // (matches the signal's id, executor id): same id first, then oldest.
                let best = active
                    .into_iter()
                    .filter(|&(_, inst, side, _)| inst == s.instrument && side == s.side)
                    .map(|(exec, _, _, sid)| (sid != s.id, exec))
                    .min();
                match best {
                    Some((_, executor_id)) => Decision::Close { executor_id },
                    None => Decision::Reject(R::NoPosition),
                }
            }
            SignalAction::Open => {
                if s.amount.raw() <= 0 {
                    return Decision::Reject(R::ZeroAmount);
                }
                if s.confidence < self.min_confidence {
                    return Decision::Reject(R::LowConfidence);
                }
                if self.seen.contains(s.id, s.action) {
                    return Decision::Reject(R::Duplicate);
                }
                let open = active
                    .into_iter()
                    .filter(|&(_, inst, _, _)| inst == s.instrument)
                    .count();
                if open >= self.max_per_pair as usize {
                    return Decision::Reject(R::MaxPositions);
                }
                let Some(px) = mid.filter(|p| p.raw() > 0).or(s.entry()) else {
                    return Decision::Reject(R::NoPrice);
                };
                let amount = self.size(s.amount, px, available_quote);
                if amount.raw() <= 0 {
                    return Decision::Reject(R::ZeroAmount);
                }
                Decision::Open {
                    instrument: s.instrument,
                    side: s.side,
                    amount,
                    entry_price: s.entry(),
                    stop_loss: positive(s.stop_loss).or(self.stop_loss),
                    take_profit: positive(s.take_profit).or(self.take_profit),
                    time_limit: self.time_limit,
                    signal_id: s.id,
                }
            }
        }
    }

    /// Master amount × copy ratio, capped by the quote limits at price `px` (> 0).
    fn size(&self, master: Dec, px: Dec, available_quote: Dec) -> Dec {
        let mut amount = master.mul(self.copy_ratio);
        if self.max_position_size_quote.raw() > 0 {
            if let Some(cap) = self.max_position_size_quote.div(px) {
                amount = amount.min(cap);
            }
        }
        let usable = available_quote.max(Dec::ZERO).mul(AVAILABLE_SHARE);
        if let Some(cap) = usable.div(px) {
            amount = amount.min(cap);
        }
        amount
    }
}

fn positive(v: Dec) -> Option<Dec> {
    (v.raw() > 0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SignalAuth, SignalSourceConfig, SignalSourceKind};
    use crate::signal::signal_id;
    use crate::types::InstrumentSpec;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    fn instruments() -> Vec<Instrument> {
        ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
            .iter()
            .enumerate()
            .map(|(i, sym)| {
                let spec = InstrumentSpec {
                    symbol: sym.to_string(),
                    base: sym[..3].to_string(),
                    quote: "USDT".into(),
                    tick_size: d("0.01"),
                    lot_size: d("0.001"),
                    min_qty: Dec::ZERO,
                    min_notional: Dec::ZERO,
                    market: Default::default(),
                    leverage: 1,
                };
                Instrument::new(i as InstrumentId, spec, i as u16 + 1, 0)
            })
            .collect()
    }

    fn config() -> CopyTradingConfig {
        CopyTradingConfig {
            id: "copy".into(),
            source: SignalSourceConfig {
                kind: SignalSourceKind::Webhook,
                url: None,
                bind: "127.0.0.1:0".into(),
                auth: SignalAuth::Hmac,
                secret_env: Some("KESTREL_SIGNAL_SECRET".into()),
                secret_file: None,
                poll_interval_ms: 1000,
                max_body_bytes: 65536,
                request_timeout_ms: 5000,
            },
            allowed_pairs: vec!["BTCUSDT".into(), "ETHUSDT".into()],
            copy_ratio: d("0.5"),
            max_position_size_quote: Dec::ZERO,
            stop_loss: Some(d("0.03")),
            take_profit: Some(d("0.06")),
            time_limit: Some(3600),
            min_signal_confidence: d("0.6"),
            max_positions_per_pair: 3,
        }
    }

    fn ct(cfg: &CopyTradingConfig) -> CopyTrading {
        CopyTrading::new(cfg, 0, &instruments()).unwrap()
    }

    fn open(id: &str, inst: InstrumentId, side: Side, amount: &str) -> Signal {
        Signal {
            id: signal_id(id.as_bytes()),
            instrument: inst,
            side,
            amount: d(amount),
            ..Signal::default()
        }
    }

    fn close(id: &str, inst: InstrumentId, side: Side) -> Signal {
        Signal {
            action: SignalAction::Close,
            ..open(id, inst, side, "0")
        }
    }

    const NONE: [(u32, InstrumentId, Side, u64); 0] = [];
    const RICH: Dec = Dec::from_int(1_000_000);

    fn amount_of(dec: Decision) -> Dec {
        match dec {
            Decision::Open { amount, .. } => amount,
            other => panic!("expected Open, got {other:?}"),
        }
    }

    #[test]
    fn amount_is_master_times_ratio_with_default_barriers() {
        let mut c = ct(&config());
        let dec = c.decide(&open("a", 0, Side::Buy, "2"), Some(d("1000")), RICH, NONE);
        assert_eq!(
            dec,
            Decision::Open {
                instrument: 0,
                side: Side::Buy,
                amount: d("1"),
                entry_price: None,
                stop_loss: Some(d("0.03")),
                take_profit: Some(d("0.06")),
                time_limit: Some(3600),
                signal_id: signal_id(b"a"),
            }
        );
    }

    #[test]
    fn signal_barriers_and_entry_override_defaults() {
        let mut c = ct(&config());
        let s = Signal {
            entry_price: d("990"),
            stop_loss: d("0.01"),
            take_profit: d("0.02"),
            ..open("a", 1, Side::Sell, "4")
        };
        match c.decide(&s, Some(d("1000")), RICH, NONE) {
            Decision::Open {
                side,
                amount,
                entry_price,
                stop_loss,
                take_profit,
                ..
            } => {
                assert_eq!(side, Side::Sell);
                assert_eq!(amount, d("2"));
                assert_eq!(entry_price, Some(d("990")));
                assert_eq!(stop_loss, Some(d("0.01")));
                assert_eq!(take_profit, Some(d("0.02")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quote_cap_limits_amount() {
        let mut cfg = config();
        cfg.copy_ratio = Dec::ONE;
        cfg.max_position_size_quote = d("500");
        let mut c = ct(&cfg);
        // 2 BTC at 1000 would be 2000 quote: capped at 500 / 1000 = 0.5.
        let dec = c.decide(&open("a", 0, Side::Buy, "2"), Some(d("1000")), RICH, NONE);
        assert_eq!(amount_of(dec), d("0.5"));
    }

    #[test]
    fn available_balance_caps_at_ninety_percent() {
        let mut cfg = config();
        cfg.copy_ratio = Dec::ONE;
        let mut c = ct(&cfg);
        // 90% of 300 at mid 100 → 2.7.
        let dec = c.decide(
            &open("a", 0, Side::Buy, "10"),
            Some(d("100")),
            d("300"),
            NONE,
        );
        assert_eq!(amount_of(dec), d("2.7"));
        // The smaller of the two caps wins: 250 / 100 = 2.5 < 2.7.
        cfg.max_position_size_quote = d("250");
        let mut c = ct(&cfg);
        let dec = c.decide(
            &open("b", 0, Side::Sell, "10"),
            Some(d("100")),
            d("300"),
            NONE,
        );
        assert_eq!(amount_of(dec), d("2.5"));
    }

    #[test]
    fn sizing_truncates_and_zero_results_are_refused() {
        let mut cfg = config();
        cfg.copy_ratio = Dec::ONE;
        let mut c = ct(&cfg);
        // 0.9 × 1 / 7 = 0.128571428|57…, truncated at 1e-9.
        let dec = c.decide(&open("a", 0, Side::Buy, "5"), Some(d("7")), d("1"), NONE);
        assert_eq!(amount_of(dec), d("0.128571428"));
        let dec = c.decide(
            &open("b", 0, Side::Buy, "5"),
            Some(d("100")),
            Dec::ZERO,
            NONE,
        );
        assert_eq!(dec, Decision::Reject(RejectReasonCode::ZeroAmount));
        let dec = c.decide(&open("c", 0, Side::Buy, "0"), Some(d("100")), RICH, NONE);
        assert_eq!(dec, Decision::Reject(RejectReasonCode::ZeroAmount));
        let dec = c.decide(&open("e", 0, Side::Buy, "-1"), Some(d("100")), RICH, NONE);
        assert_eq!(dec, Decision::Reject(RejectReasonCode::ZeroAmount));
        // Refused ids are not remembered: "b" opens once balance is there.
        let dec = c.decide(&open("b", 0, Side::Buy, "5"), Some(d("100")), RICH, NONE);
        assert_eq!(amount_of(dec), d("5"));
    }

    #[test]
    fn price_falls_back_to_entry_then_refuses() {
        let mut cfg = config();
        cfg.copy_ratio = Dec::ONE;
        let mut c = ct(&cfg);
        let s = Signal {
            entry_price: d("100"),
            ..open("a", 0, Side::Buy, "10")
        };
        assert_eq!(amount_of(c.decide(&s, None, d("300"), NONE)), d("2.7"));
        let dec = c.decide(&open("b", 0, Side::Buy, "1"), None, RICH, NONE);
        assert_eq!(dec, Decision::Reject(RejectReasonCode::NoPrice));
    }

    #[test]
    fn pair_source_and_confidence_are_checked() {
        let mut c = ct(&config());
        let mid = Some(d("100"));
        let dec = c.decide(&open("a", 2, Side::Buy, "1"), mid, RICH, NONE);
        assert_eq!(dec, Decision::Reject(RejectReasonCode::PairNotAllowed));
        let other = Signal {
            source: 1,
            ..open("a", 0, Side::Buy, "1")
        };
        let dec = c.decide(&other, mid, RICH, NONE);
        assert_eq!(dec, Decision::Reject(RejectReasonCode::WrongSource));
        let low = Signal {
            confidence: d("0.59"),
            ..open("a", 0, Side::Buy, "1")
        };
        let dec = c.decide(&low, mid, RICH, NONE);
        assert_eq!(dec, Decision::Reject(RejectReasonCode::LowConfidence));
        let at = Signal {
            confidence: d("0.6"),
            ..open("a", 0, Side::Buy, "1")
        };
        assert_eq!(amount_of(c.decide(&at, mid, RICH, NONE)), d("0.5"));
    }

    #[test]
    fn duplicate_open_ids_are_ignored() {
        let mut c = ct(&config());
        let mid = Some(d("100"));
        let s = open("sig-7", 0, Side::Buy, "1");
        assert!(matches!(
            c.decide(&s, mid, RICH, NONE),
            Decision::Open { .. }
        ));
        assert_eq!(
            c.decide(&s, mid, RICH, NONE),
            Decision::Reject(RejectReasonCode::Duplicate)
        );
        // A CLOSE with the same id is a different (id, action) pair.
        let active = [(5, 0, Side::Buy, s.id)];
        assert_eq!(
            c.decide(&close("sig-7", 0, Side::Buy), mid, RICH, active),
            Decision::Close { executor_id: 5 }
        );
        assert_eq!(
            c.decide(&close("sig-7", 0, Side::Buy), mid, RICH, active),
            Decision::Reject(RejectReasonCode::Duplicate)
        );
    }

    #[test]
    fn seen_ids_are_bounded_and_forget_the_oldest() {
        let mut c = ct(&config());
        let mid = Some(d("100"));
        for i in 0..SEEN_CAPACITY + 1 {
            let s = open(&format!("id-{i}"), 0, Side::Buy, "1");
            assert!(matches!(
                c.decide(&s, mid, RICH, NONE),
                Decision::Open { .. }
            ));
        }
        assert_eq!(c.seen.items.len(), SEEN_CAPACITY);
        assert_eq!(c.seen.items.capacity(), SEEN_CAPACITY);
        // id-0 was overwritten by id-1024; id-1 is still remembered.
        let again = open("id-0", 0, Side::Buy, "1");
        assert!(matches!(
            c.decide(&again, mid, RICH, NONE),
            Decision::Open { .. }
        ));
        let dup = open("id-2", 0, Side::Buy, "1");
        assert_eq!(
            c.decide(&dup, mid, RICH, NONE),
            Decision::Reject(RejectReasonCode::Duplicate)
        );
    }

    #[test]
    fn positions_per_pair_are_limited() {
        let mut cfg = config();
        cfg.max_positions_per_pair = 2;
        let mut c = ct(&cfg);
        let mid = Some(d("100"));
        // One long and one short on BTC: the pair is full, ETH is not.
        let active = [
            (1, 0, Side::Buy, 11),
            (2, 0, Side::Sell, 12),
            (3, 1, Side::Buy, 13),
        ];
        assert_eq!(
            c.decide(&open("x", 0, Side::Buy, "1"), mid, RICH, active),
            Decision::Reject(RejectReasonCode::MaxPositions)
        );
        assert!(matches!(
            c.decide(&open("y", 1, Side::Buy, "1"), mid, RICH, active),
            Decision::Open { instrument: 1, .. }
        ));
        // The refused "x" opens once a slot is free.
        assert!(matches!(
            c.decide(
                &open("x", 0, Side::Buy, "1"),
                mid,
                RICH,
                active[..1].iter().copied()
            ),
            Decision::Open { instrument: 0, .. }
        ));
    }

    #[test]
    fn close_matches_pair_and_side_preferring_the_same_id() {
        let mut c = ct(&config());
        let active = [
            (9, 0, Side::Buy, signal_id(b"late")),
            (4, 0, Side::Sell, signal_id(b"short")),
            (7, 0, Side::Buy, signal_id(b"early")),
            (2, 1, Side::Buy, signal_id(b"eth")),
        ];
        // Same id wins even though executor 7 is older.
        assert_eq!(
            c.decide(&close("late", 0, Side::Buy), None, Dec::ZERO, active),
            Decision::Close { executor_id: 9 }
        );
        // Unknown id: the oldest long on BTC.
        assert_eq!(
            c.decide(&close("other", 0, Side::Buy), None, Dec::ZERO, active),
            Decision::Close { executor_id: 7 }
        );
        assert_eq!(
            c.decide(&close("s", 0, Side::Sell), None, Dec::ZERO, active),
            Decision::Close { executor_id: 4 }
        );
        // Low confidence does not block a close.
        let doubtful = Signal {
            confidence: Dec::ZERO,
            ..close("e", 1, Side::Buy)
        };
        assert_eq!(
            c.decide(&doubtful, None, Dec::ZERO, active),
            Decision::Close { executor_id: 2 }
        );
        assert_eq!(
            c.decide(&close("n", 1, Side::Sell), None, Dec::ZERO, active),
            Decision::Reject(RejectReasonCode::NoPosition)
        );
    }

    #[test]
    fn config_parses_from_toml_with_defaults() {
        let cfg: CopyTradingConfig = toml::from_str(
            r#"
            id = "copy-btc"
            allowed_pairs = ["BTCUSDT"]
            [source]
            kind = "rest"
            url = "http://127.0.0.1:8080/signals"
            secret_env = "MASTER_TOKEN"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.copy_ratio, Dec::ONE);
        assert_eq!(cfg.max_positions_per_pair, 3);
        assert_eq!(cfg.min_signal_confidence, Dec::ZERO);
        assert_eq!(cfg.source.auth, SignalAuth::SharedSecret);
        assert_eq!(cfg.source.bind, "127.0.0.1:0");
        assert_eq!(cfg.source.poll_interval_ms, 1000);
        assert_eq!(cfg.validate(), Ok(()));
        let bad = |edit: &dyn Fn(&mut CopyTradingConfig)| {
            let mut c = cfg.clone();
            edit(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(
            bad(&|c| c.source.secret_env = None),
            "source: a secret is required (secret_env = \"VAR\" or secret_file = \"PATH\")"
        );
        assert_eq!(
            bad(&|c| c.source.secret_file = Some("k".into())),
            "source: give secret_env or secret_file, not both"
        );
        assert_eq!(
            bad(&|c| c.source.auth = SignalAuth::Hmac),
            "source: auth = \"hmac\" is supported by webhook sources only"
        );
        assert_eq!(
            bad(&|c| c.source.url = Some("https://x/".into())),
            "source: rest url \"https://x/\" must start with http:// (https:// is not supported yet)"
        );
        assert_eq!(
            bad(&|c| c.min_signal_confidence = d("1.5")),
            "min_signal_confidence 1.5 must be in [0, 1]"
        );
        assert_eq!(
            bad(&|c| c.max_positions_per_pair = 0),
            "max_positions_per_pair must be >= 1"
        );
        assert_eq!(
            bad(&|c| {
                c.source.kind = SignalSourceKind::Webhook;
                c.source.bind = "localhost".into();
            }),
            "source: bind \"localhost\" is not an address such as 127.0.0.1:8080"
        );
        assert!(toml::from_str::<CopyTradingConfig>(
            "id = \"x\"\nallowed_pairs = []\ntypo = 1\n[source]\nkind = \"rest\""
        )
        .is_err());
    }

    #[test]
    fn construction_resolves_pairs_and_validates() {
        let c = ct(&config());
        assert_eq!(c.allowed(), &[0, 1]);
        assert_eq!(c.source(), 0);
        let mut cfg = config();
        cfg.allowed_pairs.push("DOGEUSDT".into());
        assert_eq!(
            CopyTrading::new(&cfg, 0, &instruments()).unwrap_err().0,
            "controller copy: allowed pair DOGEUSDT is not in [[instruments]]"
        );
        let mut cfg = config();
        cfg.copy_ratio = Dec::ZERO;
        assert_eq!(
            CopyTrading::new(&cfg, 0, &instruments()).unwrap_err().0,
            "controller copy: copy_ratio 0 must be > 0"
        );
    }
}
