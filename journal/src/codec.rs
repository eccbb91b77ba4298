//! Record encoding: rkyv bytes, exactly as stored in LMDB.
//!
//! Encoding is deterministic (same value, same bytes), so replay can compare a
//! re-computed output with the journaled one byte for byte via [`encode_output`].
//! Decoding validates the bytes (rkyv `bytecheck`), so garbage gives an error, never
//! undefined behaviour or a panic. Values read from LMDB may sit at any address, so
//! they are copied into an aligned buffer first.
//!
//! # Stored form of inputs
//!
//! Inputs are not stored as rkyv [`Input`]s. rkyv archives an enum at the size of its
//! largest variant, and [`Event::Depth`] carries an inline array of [`DEPTH_CHUNK`]
//! levels, so every archived `Input` — a book ticker or a timer tick too — would take
//! ~470 bytes. Instead an input is converted at the boundary to a private `StoredInput`
//! whose `StoredEvent` mirrors [`Event`] variant by variant (same order), except that
//! the depth variant, `StoredDepth`, keeps only the `len` used levels in a vector
//! (out of line, after the fixed-size part). A book ticker then takes well under 160
//! bytes and a depth update grows with its levels. Decoding rebuilds the fixed array
//! with `len` set; a stored depth with more than [`DEPTH_CHUNK`] levels is an error.
//! The stored form is part of the journal format covered by
//! [`kestrel_engine::SCHEMA_VERSION`]. Outputs and latency records are stored as
//! their own rkyv archives.

use kestrel_engine::{
    BalanceUpdate, BookTicker, Command, Depth, Event, ExecReport, Header, Input, Kline, Level,
    Output, SessionStart, Signal, Trade, DEPTH_CHUNK,
};
use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::de::Pool;
use rkyv::rancor::{self, Strategy};
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

/// Latency stamps of one output, from the market-data receive to the socket write.
/// All values are monotonic nanoseconds; 0 means "not stamped".
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct LatencyRecord {
    /// Output this record describes (the key in the `latency` database).
    pub output_seq: u64,
    /// Input that caused the output.
    pub cause_seq: u64,
    /// When the feed thread read the input's bytes.
    pub recv_ns: u64,
    /// When the input was published to the ring.
    pub publish_ns: u64,
    /// When the engine started applying the input.
    pub engine_start_ns: u64,
    /// When the engine finished applying the input.
    pub engine_end_ns: u64,
    /// When the gateway read the output from the ring.
    pub gateway_read_ns: u64,
    /// When the gateway handed the order bytes to the socket.
    pub sent_ns: u64,
}

/// An [`Input`] as stored (see the module docs).
#[derive(Archive, Serialize)]
struct StoredInput {
    header: Header,
    event: StoredEvent,
}

/// [`Event`] as stored: the same variants in the same order, with a compact depth.
#[derive(Archive, Serialize)]
enum StoredEvent {
    None,
    SessionStart(SessionStart),
    BookTicker(BookTicker),
    Depth(StoredDepth),
    Trade(Trade),
    Kline(Kline),
    Exec(ExecReport),
    Balance(BalanceUpdate),
    Timer(u32),
    /// Boxed: stored out of line, so an executor configuration does not widen every
    /// stored input.
    Command(Box<Command>),
    Signal(Signal),
}

/// [`Depth`] as stored: only the used levels.
#[derive(Archive, Serialize)]
struct StoredDepth {
    instrument: u16,
    snapshot: bool,
    first_chunk: bool,
    last_chunk: bool,
    first_update_id: u64,
    last_update_id: u64,
    prev_update_id: u64,
    levels: Vec<Level>,
}

impl StoredInput {
    /// Converts `input`; a depth's levels go into `levels` (cleared first), so a caller
    /// can reuse one vector across inputs (see [`encode_input_into`]).
    fn from_input(input: &Input, mut levels: Vec<Level>) -> Self {
        let event = match &input.event {
            Event::None => StoredEvent::None,
            Event::SessionStart(s) => StoredEvent::SessionStart(s.clone()),
            Event::BookTicker(b) => StoredEvent::BookTicker(*b),
            Event::Depth(d) => {
                levels.clear();
                levels.extend_from_slice(d.levels());
                StoredEvent::Depth(StoredDepth {
                    instrument: d.instrument,
                    snapshot: d.snapshot,
                    first_chunk: d.first_chunk,
                    last_chunk: d.last_chunk,
                    first_update_id: d.first_update_id,
                    last_update_id: d.last_update_id,
                    prev_update_id: d.prev_update_id,
                    levels,
                })
            }
            Event::Trade(t) => StoredEvent::Trade(*t),
            Event::Kline(k) => StoredEvent::Kline(*k),
            Event::Exec(e) => StoredEvent::Exec(*e),
            Event::Balance(b) => StoredEvent::Balance(*b),
            Event::Timer(t) => StoredEvent::Timer(*t),
            Event::Command(c) => StoredEvent::Command(Box::new(*c)),
            Event::Signal(s) => StoredEvent::Signal(*s),
        };
        StoredInput {
            header: input.header,
            event,
        }
    }

    /// Returns the level vector lent to [`from_input`](Self::from_input), if a depth
    /// took it.
    fn into_levels(self) -> Option<Vec<Level>> {
        match self.event {
            StoredEvent::Depth(d) => Some(d.levels),
            _ => None,
        }
    }
}

/// Converts a validated stored input back to an [`Input`].
///
/// Errors are messages (rancor's own errors carry no text in release builds).
fn input_from_archived(stored: &ArchivedStoredInput) -> Result<Input, String> {
    fn de<T, A>(archived: &A) -> Result<T, String>
    where
        A: Deserialize<T, Strategy<Pool, rancor::Error>>,
    {
        rkyv::deserialize::<T, rancor::Error>(archived).map_err(|e| e.to_string())
    }
    let event = match &stored.event {
        ArchivedStoredEvent::None => Event::None,
        ArchivedStoredEvent::SessionStart(s) => Event::SessionStart(de(s)?),
        ArchivedStoredEvent::BookTicker(b) => Event::BookTicker(de(b)?),
        ArchivedStoredEvent::Depth(d) => {
            let stored_levels = d.levels.as_slice();
            if stored_levels.len() > DEPTH_CHUNK {
                return Err(format!(
                    "stored depth has {} levels, more than the {DEPTH_CHUNK} an input carries",
                    stored_levels.len()
                ));
            }
            let mut levels = [Level::default(); DEPTH_CHUNK];
            for (slot, level) in levels.iter_mut().zip(stored_levels) {
                *slot = de(level)?;
            }
            Event::Depth(Depth {
                instrument: d.instrument.to_native(),
                snapshot: d.snapshot,
                first_chunk: d.first_chunk,
                last_chunk: d.last_chunk,
                first_update_id: d.first_update_id.to_native(),
                last_update_id: d.last_update_id.to_native(),
                prev_update_id: d.prev_update_id.to_native(),
                // At most DEPTH_CHUNK (16), checked above.
                len: stored_levels.len() as u8,
                levels,
            })
        }
        ArchivedStoredEvent::Trade(t) => Event::Trade(de(t)?),
        ArchivedStoredEvent::Kline(k) => Event::Kline(de(k)?),
        ArchivedStoredEvent::Exec(e) => Event::Exec(de(e)?),
        ArchivedStoredEvent::Balance(b) => Event::Balance(de(b)?),
        ArchivedStoredEvent::Timer(t) => Event::Timer(t.to_native()),
        ArchivedStoredEvent::Command(c) => Event::Command(de(c.get())?),
        ArchivedStoredEvent::Signal(s) => Event::Signal(de(s)?),
    };
    Ok(Input {
        header: de(&stored.header)?,
        event,
    })
}

/// Serializes `value` into `buf` (cleared first), reusing its allocation.
pub(crate) fn encode_into<T>(value: &T, buf: &mut AlignedVec) -> Result<(), rancor::Error>
where
    T: for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
{
    let mut out = std::mem::take(buf);
    out.clear();
    *buf = rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, out)?;
    Ok(())
}

/// Serializes `input` in its stored form into `buf` (cleared first): the bytes
/// [`encode_input`] returns. `levels` is scratch space reused across calls, so
/// encoding a depth does not allocate once it has grown.
pub(crate) fn encode_input_into(
    input: &Input,
    levels: &mut Vec<Level>,
    buf: &mut AlignedVec,
) -> Result<(), rancor::Error> {
    let stored = StoredInput::from_input(input, std::mem::take(levels));
    let result = encode_into(&stored, buf);
    if let Some(v) = stored.into_levels() {
        *levels = v;
    }
    result
}

fn encode<T>(value: &T) -> Vec<u8>
where
    T: for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Panic>>,
{
    // Serializing these plain-data types fails only if a value exceeds rkyv's 2 GiB
    // relative-pointer range, which no input or output can reach.
    match rkyv::to_bytes::<rancor::Panic>(value) {
        Ok(bytes) => bytes.into_vec(),
        Err(never) => match never {},
    }
}

/// Decodes validated rkyv bytes; `scratch` is reused to align them.
pub(crate) fn decode_with<T>(bytes: &[u8], scratch: &mut AlignedVec) -> Result<T, String>
where
    T: Archive,
    T::Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
        + Deserialize<T, Strategy<Pool, rancor::Error>>,
{
    scratch.clear();
    scratch.extend_from_slice(bytes);
    rkyv::from_bytes::<T, rancor::Error>(scratch).map_err(|e| e.to_string())
}

/// Decodes and validates stored input bytes (the stored form); `scratch` is reused to
/// align them.
pub(crate) fn decode_input_with(bytes: &[u8], scratch: &mut AlignedVec) -> Result<Input, String> {
    scratch.clear();
    scratch.extend_from_slice(bytes);
    let stored =
        rkyv::access::<ArchivedStoredInput, rancor::Error>(scratch).map_err(|e| e.to_string())?;
    input_from_archived(stored)
}

/// Returns the bytes [`crate::JournalWriter::append`] stores for `input` (its stored
/// form; see the module docs).
///
/// # Panics
///
/// Only if the input exceeds rkyv's 2 GiB relative-pointer range (a multi-GiB config).
pub fn encode_input(input: &Input) -> Vec<u8> {
    encode(&StoredInput::from_input(input, Vec::new()))
}

/// Returns the bytes [`crate::JournalWriter::append`] stores for `output`; replay
/// compares these with [`crate::JournalReader::output_bytes`].
///
/// # Panics
///
/// Never in practice: outputs are fixed-size plain data.
pub fn encode_output(output: &Output) -> Vec<u8> {
    encode(output)
}

/// Returns the bytes stored for a latency record.
pub fn encode_latency(record: &LatencyRecord) -> Vec<u8> {
    encode(record)
}

/// Decodes and validates stored input bytes.
///
/// # Errors
///
/// A message saying why the bytes are not a valid stored [`Input`] (including a depth
/// with more than [`DEPTH_CHUNK`] levels).
pub fn decode_input(bytes: &[u8]) -> Result<Input, String> {
    decode_input_with(bytes, &mut AlignedVec::new())
}

/// Decodes and validates stored output bytes.
///
/// # Errors
///
/// A message saying why the bytes are not a valid [`Output`].
pub fn decode_output(bytes: &[u8]) -> Result<Output, String> {
    decode_with(bytes, &mut AlignedVec::new())
}

/// Decodes and validates stored latency bytes.
///
/// # Errors
///
/// A message saying why the bytes are not a valid [`LatencyRecord`].
pub fn decode_latency(bytes: &[u8]) -> Result<LatencyRecord, String> {
    decode_with(bytes, &mut AlignedVec::new())
}

/// Test helper: the stored bytes of a depth input carrying `n` levels, which may be
/// more than [`DEPTH_CHUNK`] (something [`encode_input`] cannot produce).
#[cfg(test)]
pub(crate) fn encode_stored_depth(header: Header, n: usize) -> Vec<u8> {
    let levels = (0..n)
        .map(|i| Level {
            side: kestrel_engine::Side::Buy,
            px: kestrel_engine::Dec(100 + i as i64),
            qty: kestrel_engine::Dec(1),
        })
        .collect();
    encode(&StoredInput {
        header,
        event: StoredEvent::Depth(StoredDepth {
            instrument: 1,
            snapshot: false,
            first_chunk: true,
            last_chunk: true,
            first_update_id: 1,
            last_update_id: 2,
            prev_update_id: 0,
            levels,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_engine::{Action, Dec, Side, Source};

    fn header() -> Header {
        Header {
            seq: 7,
            source: Source::Feed,
            ts: 1,
            recv_ns: 2,
            publish_ns: 3,
            venue_ts: 4,
        }
    }

    fn input() -> Input {
        Input {
            header: header(),
            event: Event::BookTicker(BookTicker {
                instrument: 1,
                bid_px: Dec(100),
                bid_qty: Dec(5),
                ask_px: Dec(101),
                ask_qty: Dec(6),
                update_id: 9,
            }),
        }
    }

    fn depth(len: u8) -> Input {
        let mut levels = [Level::default(); DEPTH_CHUNK];
        for (i, l) in levels.iter_mut().enumerate().take(len as usize) {
            *l = Level {
                side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                px: Dec(1_000 + i as i64),
                qty: Dec(i as i64),
            };
        }
        Input {
            header: header(),
            event: Event::Depth(Depth {
                instrument: 4,
                snapshot: true,
                first_chunk: false,
                last_chunk: true,
                first_update_id: 123,
                last_update_id: 456,
                prev_update_id: 455,
                len,
                levels,
            }),
        }
    }

    /// Encodes through both paths (public and writer), checks they agree, decodes.
    fn round_trip(i: &Input) -> usize {
        let a = encode_input(i);
        assert_eq!(a, encode_input(&i.clone()));
        let mut buf = AlignedVec::new();
        let mut levels = Vec::new();
        encode_input_into(i, &mut levels, &mut buf).unwrap();
        assert_eq!(buf.as_slice(), a.as_slice());
        // Again with warm scratch: same bytes.
        encode_input_into(i, &mut levels, &mut buf).unwrap();
        assert_eq!(buf.as_slice(), a.as_slice());
        assert_eq!(&decode_input(&a).unwrap(), i);
        a.len()
    }

    #[test]
    fn input_round_trips_and_encoding_is_stable() {
        round_trip(&input());
    }

    #[test]
    fn book_ticker_is_compact() {
        let stored = round_trip(&input());
        let plain = rkyv::to_bytes::<rancor::Error>(&input()).unwrap().len();
        println!("BookTicker input: {stored} bytes stored, {plain} bytes as a plain rkyv Input");
        assert!(stored < 160, "BookTicker input takes {stored} bytes");
    }

    #[test]
    fn depth_round_trips_with_only_used_levels() {
        let n3 = round_trip(&depth(3));
        let n16 = round_trip(&depth(16));
        let n0 = round_trip(&depth(0));
        let per_level = (n16 - n3) / 13;
        assert_eq!(n3 - n0, 3 * per_level, "levels past len are not stored");
        println!("Depth input: {n0} bytes with 0 levels, {n3} with 3, {n16} with 16");
    }

    #[test]
    fn unused_levels_are_not_stored() {
        // Garbage past `len` is dropped: the decoded input has default levels there.
        let mut i = depth(3);
        if let Event::Depth(d) = &mut i.event {
            d.levels[5].px = Dec(77);
        }
        assert_eq!(decode_input(&encode_input(&i)).unwrap(), depth(3));
    }

    #[test]
    fn every_event_kind_round_trips() {
        for event in [
            Event::None,
            Event::SessionStart(SessionStart {
                session_id: 3,
                seed: 4,
                config: "x = 1".into(),
            }),
            Event::Trade(Trade {
                instrument: 2,
                px: Dec(5),
                qty: Dec(6),
                aggressor: Side::Sell,
                trade_id: 8,
            }),
            Event::Exec(ExecReport {
                venue_order_id: 9,
                fee: Dec(-1),
                ..ExecReport::default()
            }),
            Event::Balance(BalanceUpdate {
                asset: 2,
                total: Dec(10),
            }),
            Event::Timer(17),
            Event::Command(Command::ResumeController(3)),
            Event::Signal(kestrel_engine::Signal {
                id: kestrel_engine::signal_id(b"sig-9"),
                instrument: 1,
                side: Side::Sell,
                amount: Dec(1_500_000_000),
                entry_price: Dec(7),
                stop_loss: Dec(20_000_000),
                take_profit: Dec(0),
                confidence: Dec(800_000_000),
                action: kestrel_engine::SignalAction::Close,
                source: 3,
            }),
        ] {
            round_trip(&Input {
                header: header(),
                event,
            });
        }
    }

    #[test]
    fn depth_with_too_many_levels_is_an_error() {
        let ok = encode_stored_depth(header(), DEPTH_CHUNK);
        match decode_input(&ok).unwrap().event {
            Event::Depth(d) => assert_eq!(d.len as usize, DEPTH_CHUNK),
            other => panic!("expected depth, got {other:?}"),
        }
        let e = decode_input(&encode_stored_depth(header(), DEPTH_CHUNK + 1)).unwrap_err();
        assert!(e.contains("17 levels"), "{e}");
        assert!(decode_input(&encode_stored_depth(header(), 300)).is_err());
    }

    #[test]
    fn output_round_trips() {
        let o = Output {
            seq: 3,
            cause: 7,
            ts: 1,
            action: Action::Stopped,
        };
        assert_eq!(decode_output(&encode_output(&o)).unwrap(), o);
    }

    #[test]
    fn output_encoding_is_a_plain_rkyv_output() {
        let o = Output {
            seq: 3,
            cause: 7,
            ts: 1,
            action: Action::Stopped,
        };
        assert_eq!(
            encode_output(&o),
            rkyv::to_bytes::<rancor::Error>(&o).unwrap().into_vec()
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode_input(&[]).is_err());
        assert!(decode_input(&[0xff; 64]).is_err());
        assert!(decode_input(&[0xff; 512]).is_err());
        assert!(decode_output(&[0xff; 40]).is_err());
        assert!(decode_latency(&[1, 2, 3]).is_err());
    }

    #[test]
    fn truncated_or_flipped_input_never_panics() {
        // rkyv has no checksum, so a damaged record may still decode to some valid
        // input; it must never panic or read out of bounds.
        let bytes = encode_input(&depth(5));
        for cut in 0..bytes.len() {
            let _ = decode_input(&bytes[..cut]);
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let _ = decode_input(&b);
            }
        }
    }

    #[test]
    fn decodes_misaligned_bytes() {
        for i in [input(), depth(3)] {
            let bytes = encode_input(&i);
            let mut shifted = vec![0u8];
            shifted.extend_from_slice(&bytes);
            assert_eq!(decode_input(&shifted[1..]).unwrap(), i);
        }
    }
}
