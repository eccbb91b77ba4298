//! Kestrel's journal: every input, output and latency record of a session in one LMDB
//! environment (via `heed`), so a session can be replayed byte for byte.
//!
//! # Layout
//!
//! One directory per session, holding LMDB's `data.mdb` and `lock.mdb`, with four
//! named databases:
//!
//! | database  | key                        | value                          |
//! |-----------|----------------------------|--------------------------------|
//! | `inputs`  | `header.seq`, u64 big-endian | rkyv stored form of an [`Input`](kestrel_engine::Input) (compact depth; see [`encode_input`]) |
//! | `outputs` | `seq`, u64 big-endian      | rkyv [`Output`](kestrel_engine::Output) |
//! | `latency` | `output_seq`, u64 big-endian | rkyv [`LatencyRecord`]        |
//! | `meta`    | `schema_version`, `session_id`, `seed`, `config`, `created_unix_ns` | UTF-8 (numbers in decimal) |
//!
//! Big-endian keys make LMDB's byte order the seq order.
//!
//! # Writing
//!
//! [`JournalWriter`] is a plain object with no threads: the runtime's journal thread
//! calls [`JournalWriter::append`] once per drained batch, which is one LMDB write
//! transaction. Input and output seqs must increase. Durability follows
//! [`JournalOptions::fsync`]: on, each append is on disk when it returns; off
//! (`NO_SYNC`), the OS flushes later, so a host crash may lose the tail while a
//! process crash loses nothing committed.
//!
//! # Reading
//!
//! [`JournalReader`] opens read-only, refuses another schema version with
//! [`JournalError::SchemaMismatch`], and validates every record it decodes; damage
//! gives an error naming the database and seq, never a panic.
//!
//! # Limits
//!
//! heed lets one process open a directory only once at a time, so a reader cannot
//! open a journal while a writer in the same process holds it.

mod append;
mod codec;
mod error;
mod meta;
mod read;

pub use append::{JournalOptions, JournalWriter};
pub use codec::{
    decode_input, decode_latency, decode_output, encode_input, encode_latency, encode_output,
    LatencyRecord,
};
pub use error::{JournalError, Result};
pub use meta::Meta;
pub use read::JournalReader;
