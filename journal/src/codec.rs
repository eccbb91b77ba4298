//! Record encoding: rkyv bytes, exactly as stored in LMDB.
//!
//! Encoding is deterministic (same value, same bytes), so replay can compare a
//! re-computed output with the journaled one byte for byte via [`encode_output`].
//! Decoding validates the bytes (rkyv `bytecheck`), so garbage gives an error, never
//! undefined behaviour or a panic. Values read from LMDB may sit at any address, so
//! they are copied into an aligned buffer first.

use kestrel_engine::{Input, Output};
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

/// Returns the bytes [`crate::JournalWriter::append`] stores for `input`.
///
/// # Panics
///
/// Only if the input exceeds rkyv's 2 GiB relative-pointer range (a multi-GiB config).
pub fn encode_input(input: &Input) -> Vec<u8> {
    encode(input)
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
/// A message saying why the bytes are not a valid [`Input`].
pub fn decode_input(bytes: &[u8]) -> Result<Input, String> {
    decode_with(bytes, &mut AlignedVec::new())
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

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_engine::{Action, BookTicker, Dec, Event, Header, Source};

    fn input() -> Input {
        Input {
            header: Header {
                seq: 7,
                source: Source::Feed,
                ts: 1,
                recv_ns: 2,
                publish_ns: 3,
                venue_ts: 4,
            },
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

    #[test]
    fn input_round_trips_and_encoding_is_stable() {
        let i = input();
        let a = encode_input(&i);
        assert_eq!(a, encode_input(&i.clone()));
        assert_eq!(decode_input(&a).unwrap(), i);
        let mut buf = AlignedVec::new();
        encode_into(&i, &mut buf).unwrap();
        assert_eq!(buf.as_slice(), a.as_slice());
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
    fn garbage_is_an_error() {
        assert!(decode_input(&[]).is_err());
        assert!(decode_input(&[0xff; 64]).is_err());
        assert!(decode_output(&[0xff; 40]).is_err());
        assert!(decode_latency(&[1, 2, 3]).is_err());
    }

    #[test]
    fn decodes_misaligned_bytes() {
        let bytes = encode_input(&input());
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&bytes);
        assert_eq!(decode_input(&shifted[1..]).unwrap(), input());
    }
}
