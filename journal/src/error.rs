//! The journal's error type.

use std::path::PathBuf;

/// Everything that can go wrong creating, writing or reading a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The directory does not exist or holds no `data.mdb`.
    #[error("{} is not a journal (no data.mdb)", .0.display())]
    NotAJournal(PathBuf),
    /// `create` was pointed at a directory that already holds a journal.
    #[error("{} already holds a journal; pick a new directory", .0.display())]
    AlreadyExists(PathBuf),
    /// The journal was written with another schema version than this build uses.
    #[error("journal schema version {found}, this build reads {expected}")]
    SchemaMismatch {
        /// Version found in the journal (or in the `Meta` given to `create`).
        found: u32,
        /// Version this build reads and writes ([`kestrel_engine::SCHEMA_VERSION`]).
        expected: u32,
    },
    /// The journal as a whole is damaged: LMDB says the file is invalid or corrupted,
    /// or a database or meta key is missing. The message names the directory.
    #[error("corrupt journal: {0}")]
    Corrupt(String),
    /// One record does not decode, or its key disagrees with its content.
    #[error("corrupt record seq {seq} in database '{db}': {reason}")]
    CorruptRecord {
        /// Database name (`inputs`, `outputs`, `latency`).
        db: &'static str,
        /// Key of the record.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A sequence number is not above the last one appended to the same database.
    #[error("{db} seq {seq} appended after seq {last}; sequence numbers must increase")]
    OutOfOrder {
        /// Database name (`inputs` or `outputs`).
        db: &'static str,
        /// Offending sequence number.
        seq: u64,
        /// Highest sequence number already appended (or earlier in the same batch).
        last: u64,
    },
    /// The journal reached its map size; nothing of the failed batch was committed.
    #[error(
        "journal full: map size {max_mib} MiB of {} reached; nothing of the failed batch \
         was written (raise the map size: [runtime] journal_max_mib)",
        .dir.display()
    )]
    Full {
        /// Journal directory.
        dir: PathBuf,
        /// Configured map size in MiB.
        max_mib: usize,
    },
    /// The options cannot be used.
    #[error("invalid journal options: {0}")]
    InvalidOptions(&'static str),
    /// A value could not be serialized.
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// rkyv's message.
        reason: String,
    },
    /// File-system error.
    #[error("journal I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other LMDB error.
    #[error("LMDB error: {0}")]
    Lmdb(#[from] heed::Error),
}

/// Result with [`JournalError`].
pub type Result<T, E = JournalError> = std::result::Result<T, E>;
