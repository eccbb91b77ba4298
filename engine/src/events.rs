//! Engine inputs and outputs. Every input is journaled before or while it is applied;
//! every output carries the sequence number of the input that caused it.
//! All types are plain data serialized with `rkyv`.

use crate::num::Dec;
use crate::signal::Signal;
use crate::types::{ClientOrderId, InstrumentId, OrderType, Side, TimeInForce};

/// Journal schema version; bump on any change to these types.
/// 2: [`Source::Signal`] and [`Event::Signal`] (copy trading).
/// 3: [`Action::SignalDecision`] (what the copy-trading controller did with a signal),
/// [`Command::KillSwitch`] and the risk [`AlertCode`]s (appended variants only, so
/// version 2 journals still decode; see [`MIN_READ_SCHEMA_VERSION`]).
pub const SCHEMA_VERSION: u32 = 3;

/// Oldest journal schema this build still reads: every change since only appended
/// enum variants, which leaves older records' bytes meaning what they meant.
pub const MIN_READ_SCHEMA_VERSION: u32 = 2;

/// Levels carried by one depth input; larger updates are split into chunks.
pub const DEPTH_CHUNK: usize = 16;

/// Who produced an input.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum Source {
    /// The session itself (start marker).
    #[default]
    Session,
    /// A market-data feed.
    Feed,
    /// A venue gateway (execution reports, balances).
    Venue,
    /// The timer thread.
    Timer,
    /// An operator (CLI, Ctrl-C).
    Operator,
    /// A copy-trading signal source (WebSocket, webhook, REST poll).
    Signal,
}

/// Metadata every input carries.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct Header {
    /// Position in the input stream, assigned at publish; starts at 1.
    pub seq: u64,
    /// Producer.
    pub source: Source,
    /// Event time in ns since the Unix epoch: the engine's clock while applying it.
    pub ts: u64,
    /// Monotonic ns when the producing thread read the bytes (latency statistics only;
    /// the engine never looks at it).
    pub recv_ns: u64,
    /// Monotonic ns when the input was published to the ring (latency statistics only).
    pub publish_ns: u64,
    /// The venue's own timestamp (ns), 0 if it has none.
    pub venue_ts: u64,
}

/// First input of every session: the configuration (TOML text) and the random seed.
#[derive(Clone, Debug, PartialEq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct SessionStart {
    /// Session id; the high half of every client order id.
    pub session_id: u32,
    /// Seed of every random choice the session makes.
    pub seed: u64,
    /// Full configuration as TOML.
    pub config: String,
}

/// Best bid and offer.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct BookTicker {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Best bid price.
    pub bid_px: Dec,
    /// Size at the best bid.
    pub bid_qty: Dec,
    /// Best ask price.
    pub ask_px: Dec,
    /// Size at the best ask.
    pub ask_qty: Dec,
    /// Venue update id (0 if none).
    pub update_id: u64,
}

/// One price level; quantity 0 removes the level.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct Level {
    /// Book side.
    pub side: Side,
    /// Price.
    pub px: Dec,
    /// Total size at the price.
    pub qty: Dec,
}

/// Snapshot or diff of the L2 book, possibly one chunk of a larger update.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct Depth {
    /// Instrument.
    pub instrument: InstrumentId,
    /// True for a snapshot (the first chunk clears the book), false for a diff.
    pub snapshot: bool,
    /// True on the first chunk of an update.
    pub first_chunk: bool,
    /// True on the last chunk of an update: the book is consistent after it.
    pub last_chunk: bool,
    /// Venue's first update id in this event (Binance `U`).
    pub first_update_id: u64,
    /// Venue's last update id (Binance `u`, or the snapshot's `lastUpdateId`).
    pub last_update_id: u64,
    /// Last update id of the previous event (Binance USD-M `pu`); 0 where the venue
    /// sends none (spot), which selects the spot continuity rule.
    pub prev_update_id: u64,
    /// Levels used in `levels`.
    pub len: u8,
    /// Level changes.
    pub levels: [Level; DEPTH_CHUNK],
}

impl Depth {
    /// The levels in use.
    pub fn levels(&self) -> &[Level] {
        &self.levels[..(self.len as usize).min(DEPTH_CHUNK)]
    }
}

/// A public trade.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct Trade {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Price.
    pub px: Dec,
    /// Size.
    pub qty: Dec,
    /// Side of the aggressor (taker).
    pub aggressor: Side,
    /// Venue trade id.
    pub trade_id: u64,
}

/// One OHLCV candle (Binance kline).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct Kline {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Candle length in seconds.
    pub interval_s: u32,
    /// Open time, ns since the epoch.
    pub open_ts: u64,
    /// Open price.
    pub open: Dec,
    /// High price.
    pub high: Dec,
    /// Low price.
    pub low: Dec,
    /// Close (or latest) price.
    pub close: Dec,
    /// Base volume.
    pub volume: Dec,
    /// Quote volume.
    pub quote_volume: Dec,
    /// Number of trades.
    pub trades: u64,
    /// Base volume bought by takers.
    pub taker_buy_base: Dec,
    /// Quote volume bought by takers.
    pub taker_buy_quote: Dec,
    /// True once the candle is final.
    pub closed: bool,
}

/// What an execution report says happened.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum ExecKind {
    /// The venue accepted the order.
    #[default]
    Ack,
    /// Part of the order traded; the rest works on.
    PartialFill,
    /// The order traded in full.
    Fill,
    /// The order was cancelled.
    Canceled,
    /// The order was refused.
    Rejected,
    /// The order expired (IOC rest, venue expiry).
    Expired,
    /// A cancel request was refused; the order keeps working.
    CancelRejected,
}

/// Why a venue refused an order or a cancel.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum RejectReason {
    /// Not a reject.
    #[default]
    None,
    /// Price is not a multiple of the tick size.
    BadTick,
    /// Quantity is not a multiple of the lot size, or below the minimum.
    BadLot,
    /// Price × quantity below the minimum notional.
    MinNotional,
    /// Not enough free balance.
    InsufficientBalance,
    /// A post-only order would have taken liquidity.
    WouldTake,
    /// The venue does not know the order.
    UnknownOrder,
    /// Unknown instrument.
    UnknownInstrument,
    /// Market order with no liquidity on the other side.
    NoLiquidity,
    /// Too many requests.
    RateLimited,
    /// A reason the venue gave that has no code here.
    Other,
}

/// Liquidity flag of a fill.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum Liquidity {
    /// Not a fill.
    #[default]
    None,
    /// The order was resting.
    Maker,
    /// The order took liquidity.
    Taker,
}

/// A venue's report on one of our orders.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct ExecReport {
    /// Our order.
    pub cid: ClientOrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// What happened.
    pub kind: ExecKind,
    /// The venue's order id (0 if unknown).
    pub venue_order_id: u64,
    /// Price of this fill.
    pub last_px: Dec,
    /// Size of this fill.
    pub last_qty: Dec,
    /// Total filled so far.
    pub cum_qty: Dec,
    /// Still working.
    pub leaves_qty: Dec,
    /// Fee of this fill, in the quote asset.
    pub fee: Dec,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// Reason of a reject.
    pub reason: RejectReason,
}

/// A balance as the venue reports it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct BalanceUpdate {
    /// Asset id.
    pub asset: u16,
    /// Total balance.
    pub total: Dec,
}

/// An operator's instruction.
// CreateExecutor carries a whole executor configuration (a DCA's level lists are fixed
// arrays); `Event` is already as large because of `Depth`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Command {
    /// Stop controllers, cancel every open order, and end the session.
    Stop,
    /// Cancel every open order; controllers keep running.
    CancelAll,
    /// Pause one controller (by index): it creates no new executors.
    PauseController(u16),
    /// Resume a paused controller.
    ResumeController(u16),
    /// Create and start an executor for a controller (an index past the configured
    /// controllers means "main": created by hand).
    CreateExecutor {
        /// Controller index.
        controller: u16,
        /// What to run.
        config: crate::executors::ExecutorConfig,
    },
    /// Stop an executor (Hummingbot's StopExecutorAction).
    StopExecutor {
        /// Executor id.
        executor: u32,
        /// Leave its position open.
        keep_position: bool,
    },
    /// Fold a terminated executor into its controller's performance and forget it
    /// (Hummingbot's StoreExecutorAction); refused while it is not terminated.
    StoreExecutor {
        /// Executor id.
        executor: u32,
    },
    /// Reload a position held at the end of an earlier session (spec §9 "stored
    /// positions"); ignored when the controller declares `initial_positions`.
    LoadPosition {
        /// Controller index (past the configured controllers: "main").
        controller: u16,
        /// Instrument.
        instrument: crate::types::InstrumentId,
        /// Side bucket (`None`: netted).
        side: Option<crate::types::Side>,
        /// Signed base (+ long, − short).
        net: Dec,
        /// Average entry price.
        entry: Dec,
        /// Realized pnl before fees.
        realized: Dec,
        /// Fees paid (quote).
        fees: Dec,
        /// Traded notional (quote).
        volume: Dec,
    },
    /// Change an updatable field of a running controller (by index). Refused updates
    /// (unknown controller, field not updatable, value out of range) are alerts.
    UpdateController {
        /// Controller index.
        controller: u16,
        /// Field.
        field: crate::controllers::ControllerField,
        /// New value (seconds, counts and fractions are all decimals).
        value: Dec,
    },
    /// Kill switch: cancel every open order, terminate every executor at once (no
    /// closing orders), stop every controller, and refuse every later order with
    /// [`AlertCode::KillSwitchActive`]. The session keeps running (reports still
    /// arrive); nothing releases the switch (schema version 3).
    KillSwitch,
}

/// Everything the engine can be told. Variants are stored inline (ring slots are
/// fixed-size and pre-allocated), so the large `Depth` is not boxed: boxing would
/// allocate per depth update.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[repr(u8)]
pub enum Event {
    /// Empty ring slot; never journaled.
    #[default]
    None,
    /// Configuration and seed.
    SessionStart(SessionStart),
    /// Top of book.
    BookTicker(BookTicker),
    /// L2 snapshot or diff.
    Depth(Depth),
    /// Public trade.
    Trade(Trade),
    /// Candle.
    Kline(Kline),
    /// Execution report.
    Exec(ExecReport),
    /// Balance.
    Balance(BalanceUpdate),
    /// Timer tick (id of the timer).
    Timer(u32),
    /// Operator instruction.
    Command(Command),
    /// Copy-trading signal (schema version 2).
    Signal(Signal),
}

impl Event {
    /// Copies the event into `slot` (a ring slot, a queue entry), writing a book
    /// ticker's or a trade's own bytes only.
    ///
    /// A plain `*slot = event` of an event whose variant the compiler cannot see
    /// copies the whole enum (424 bytes, the size of [`Depth`]): for a 48-byte book
    /// ticker, seven cache lines of a ring slot that the reader never reads, each to
    /// be taken back from the reader's core before the slot is published (`ring_hop
    /// --fill whole`, BENCHMARKS.md). Written through a reference to the variant,
    /// only its own bytes are stored.
    #[inline]
    pub fn copy_into(&self, slot: &mut Event) {
        match self {
            Event::BookTicker(t) => {
                if !matches!(slot, Event::BookTicker(_)) {
                    *slot = Event::BookTicker(BookTicker::default());
                }
                if let Event::BookTicker(to) = slot {
                    *to = *t;
                }
            }
            Event::Trade(t) => {
                if !matches!(slot, Event::Trade(_)) {
                    *slot = Event::Trade(Trade::default());
                }
                if let Event::Trade(to) = slot {
                    *to = *t;
                }
            }
            e => slot.clone_from(e),
        }
    }
}

/// One journaled input.
///
/// Aligned to 128 bytes, a pair of cache lines, because it is the input ring's slot:
/// a book ticker's header and payload (104 bytes) then always sit in the two lines of
/// one aligned pair (which a core's adjacent-line prefetch fetches together), instead
/// of straddling two or three lines at the offsets a 472-byte slot drifts through
/// (`ring_hop --layout hop`: ~440 → ~310 ns p50 on the 2-core VM, BENCHMARKS.md).
#[derive(Clone, Debug, PartialEq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[repr(align(128))]
pub struct Input {
    /// Metadata.
    pub header: Header,
    /// Payload.
    pub event: Event,
}

/// An order to send.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct PlaceOrder {
    /// Our id.
    pub cid: ClientOrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Limit price (0 for market orders).
    pub price: Dec,
    /// Quantity.
    pub qty: Dec,
    /// Opens or closes a position (perpetuals; CLOSE is reduce-only).
    pub position_action: crate::types::PositionAction,
}

/// Executor lifecycle (Hummingbot's RunnableStatus).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum RunStatus {
    /// Created, not started.
    #[default]
    NotStarted = 1,
    /// Working.
    Running = 2,
    /// Closing its orders.
    ShuttingDown = 3,
    /// Done.
    Terminated = 4,
}

/// Why an executor closed (numbers as Hummingbot persists them).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub enum CloseType {
    /// Time limit reached.
    TimeLimit = 1,
    /// Stop loss hit.
    StopLoss = 2,
    /// Take profit hit.
    TakeProfit = 3,
    /// Expired before starting.
    Expired = 4,
    /// Stopped early.
    EarlyStop = 5,
    /// Trailing stop hit.
    TrailingStop = 6,
    /// Not enough balance.
    InsufficientBalance = 7,
    /// Too many failures.
    Failed = 8,
    /// Completed its plan.
    Completed = 9,
    /// Ended holding a position.
    PositionHold = 10,
}

/// Kinds of anomalies the engine records instead of acting on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug, PartialEq))]
pub enum AlertCode {
    /// Execution report for an order the engine does not know.
    UnknownOrder,
    /// Execution report that the order's state cannot take (e.g. a fill after cancel).
    InvalidTransition,
    /// Market data, or a command's executor, for an instrument the session does not
    /// have.
    UnknownInstrument,
    /// A depth update did not follow the previous one: the book is invalid until
    /// the next snapshot.
    BookGap,
    /// An order was not sent: its size rounded below the venue's minimums.
    BelowMinimum,
    /// An order was not sent: not enough free balance.
    InsufficientBalance,
    /// A store action named an executor that has not terminated: it is kept.
    StoreRefused,
    /// A stop or store action named an executor the engine does not have.
    UnknownExecutor,
    /// A stored position was not loaded: its controller declares initial positions,
    /// or its instrument is not configured.
    PositionIgnored,
    /// A controller update named a controller index that does not exist.
    UnknownController,
    /// A controller update named a field this controller does not update at runtime.
    FieldNotUpdatable,
    /// A controller update's value is out of range for the field.
    InvalidFieldValue,
    /// An order was not sent: its quantity is above `risk.max_order_qty`.
    RiskOrderQty,
    /// An order was not sent: its notional is above `risk.max_order_notional`.
    RiskOrderNotional,
    /// An order was not sent: the position could pass `risk.max_position`.
    RiskPosition,
    /// An order was not sent: `risk.max_open_orders` orders are live.
    RiskOpenOrders,
    /// An order was not sent: its price is outside `risk.price_band` around the mid.
    RiskPriceBand,
    /// An order was not sent: `risk.max_orders_per_second` orders left in the last
    /// second of event time.
    RiskOrderRate,
    /// The kill switch was engaged: every open order canceled, every executor and
    /// controller stopped.
    KillSwitchEngaged,
    /// An order or executor was refused: the kill switch is engaged.
    KillSwitchActive,
}

/// Everything the engine can emit.
#[derive(
    Clone, Copy, Debug, PartialEq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[repr(u8)]
pub enum Action {
    /// Empty ring slot; never journaled.
    #[default]
    None,
    /// Send a new order.
    Place(PlaceOrder),
    /// Cancel an order.
    Cancel {
        /// Order.
        cid: ClientOrderId,
        /// Instrument.
        instrument: InstrumentId,
    },
    /// Replace an order's price and quantity (cancel-replace; the venue gives it a new queue place).
    Modify {
        /// Order.
        cid: ClientOrderId,
        /// Instrument.
        instrument: InstrumentId,
        /// New price.
        price: Dec,
        /// New quantity.
        qty: Dec,
    },
    /// An executor changed state.
    ExecutorUpdate {
        /// Executor id.
        executor: u32,
        /// Owning controller index.
        controller: u16,
        /// New status.
        status: RunStatus,
        /// Close type once closing.
        close_type: Option<CloseType>,
    },
    /// Something the engine refused or ignored, with the order concerned.
    Alert {
        /// What.
        code: AlertCode,
        /// The order, if any.
        cid: ClientOrderId,
    },
    /// The engine processed a Stop command; nothing more will be placed.
    Stopped,
    /// What a copy-trading controller did with a signal of its source.
    SignalDecision {
        /// Controller index.
        controller: u16,
        /// [`Signal::id`] of the signal.
        signal: u64,
        /// Its instrument.
        instrument: InstrumentId,
        /// Opened, closed or refused (with the reason).
        outcome: SignalOutcome,
    },
}

/// Outcome of a copy-trading signal (see [`Action::SignalDecision`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug, PartialEq))]
pub enum SignalOutcome {
    /// A position executor was created for an OPEN.
    Opened {
        /// The executor.
        executor: u32,
    },
    /// A CLOSE stopped this executor (its position is closed).
    Closed {
        /// The executor.
        executor: u32,
    },
    /// The signal was not acted on.
    Rejected(crate::copy_trading::RejectReasonCode),
}

/// One journaled output.
#[derive(
    Clone, Copy, Debug, PartialEq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Output {
    /// Position in the output stream; starts at 1.
    pub seq: u64,
    /// Sequence number of the input that caused it.
    pub cause: u64,
    /// Event time of that input.
    pub ts: u64,
    /// What to do.
    pub action: Action,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::num::Dec;

    /// One event of every variant, each field set apart from its default.
    fn one_of_each() -> Vec<Event> {
        let mut depth = Depth {
            instrument: 2,
            first_chunk: true,
            last_chunk: true,
            first_update_id: 10,
            last_update_id: 12,
            len: 2,
            ..Depth::default()
        };
        depth.levels[0].px = Dec(5);
        depth.levels[1].qty = Dec(7);
        vec![
            Event::None,
            Event::SessionStart(SessionStart {
                session_id: 3,
                seed: 9,
                config: "[session]\nseed = 9\n".into(),
            }),
            Event::BookTicker(BookTicker {
                instrument: 1,
                bid_px: Dec(100),
                bid_qty: Dec(2),
                ask_px: Dec(101),
                ask_qty: Dec(3),
                update_id: 44,
            }),
            Event::Depth(depth),
            Event::Trade(Trade {
                instrument: 1,
                px: Dec(100),
                qty: Dec(4),
                ..Trade::default()
            }),
            Event::Kline(Kline {
                instrument: 1,
                ..Kline::default()
            }),
            Event::Exec(ExecReport {
                cid: crate::types::ClientOrderId(77),
                kind: ExecKind::Fill,
                ..ExecReport::default()
            }),
            Event::Balance(BalanceUpdate {
                total: Dec(1_000),
                ..BalanceUpdate::default()
            }),
            Event::Timer(5),
            Event::Command(Command::CancelAll),
            Event::Signal(crate::signal::Signal {
                id: 8,
                ..crate::signal::Signal::default()
            }),
        ]
    }

    #[test]
    fn copy_into_leaves_the_slot_equal_to_the_event_whatever_it_held() {
        let events = one_of_each();
        for event in &events {
            for before in &events {
                let mut slot = before.clone();
                event.copy_into(&mut slot);
                assert_eq!(
                    &slot, event,
                    "{event:?} copied into a slot holding {before:?}"
                );
            }
        }
        // A slot that held the same variant takes the new values (the in-place path).
        let mut slot = events[2].clone();
        let mut next = events[2].clone();
        if let Event::BookTicker(t) = &mut next {
            t.bid_px = Dec(99);
            t.update_id = 45;
        }
        next.copy_into(&mut slot);
        assert_eq!(slot, next);
    }
}
