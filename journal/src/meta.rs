//! Session metadata and the LMDB layout shared by the writer and the reader.

use std::path::Path;

pub(crate) use heed::types::{Bytes, Str, U64};
use heed::{
    byteorder::BigEndian, CommitOrAbort, Database, Env, EnvOpenOptions, MdbError, WithoutTls,
};
use kestrel_engine::SCHEMA_VERSION;

use crate::error::{JournalError, Result};

/// Key codec of the record databases.
pub(crate) type SeqKey = U64<BigEndian>;
/// A record database keyed by seq.
pub(crate) type SeqDb = Database<'static, SeqKey, Bytes>;
/// Meta values keyed by name.
pub(crate) type MetaDb = Database<'static, Str, Bytes>;

/// Database names.
pub(crate) const INPUTS: &str = "inputs";
pub(crate) const OUTPUTS: &str = "outputs";
pub(crate) const LATENCY: &str = "latency";
pub(crate) const META: &str = "meta";
/// Named databases per environment.
pub(crate) const MAX_DBS: u32 = 4;

/// Meta keys; values are UTF-8 (numbers in decimal).
pub(crate) const KEY_SCHEMA: &str = "schema_version";
pub(crate) const KEY_SESSION: &str = "session_id";
pub(crate) const KEY_SEED: &str = "seed";
pub(crate) const KEY_CONFIG: &str = "config";
pub(crate) const KEY_CREATED: &str = "created_unix_ns";

/// LMDB's data file; its presence makes a directory a journal.
pub(crate) const DATA_FILE: &str = "data.mdb";
/// LMDB's lock file.
pub(crate) const LOCK_FILE: &str = "lock.mdb";

/// What a journal records about its session, stored in the `meta` database.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Meta {
    /// Schema version of the records ([`SCHEMA_VERSION`] for journals this build writes).
    pub schema_version: u32,
    /// Session id (high half of every client order id).
    pub session_id: u32,
    /// Seed of the session's random generator.
    pub seed: u64,
    /// Full configuration as TOML.
    pub config_toml: String,
    /// Wall-clock creation time, ns since the Unix epoch.
    pub created_unix_ns: u64,
}

impl Meta {
    /// Returns meta for a new session with this build's schema version.
    pub fn new(session_id: u32, seed: u64, config_toml: String, created_unix_ns: u64) -> Self {
        Meta {
            schema_version: SCHEMA_VERSION,
            session_id,
            seed,
            config_toml,
            created_unix_ns,
        }
    }
}

/// Maps LMDB errors that mean "this file is damaged" to [`JournalError::Corrupt`].
pub(crate) fn map_lmdb(dir: &Path, e: heed::Error) -> JournalError {
    match e {
        heed::Error::Mdb(
            m @ (MdbError::Invalid
            | MdbError::Corrupted
            | MdbError::PageNotFound
            | MdbError::VersionMismatch
            | MdbError::Incompatible),
        ) => JournalError::Corrupt(format!("{}: LMDB says: {m}", dir.display())),
        other => JournalError::Lmdb(other),
    }
}

/// Opens the existing journal environment in `dir`, for the reader and the writer alike.
///
/// Refuses a missing `data.mdb` ([`JournalError::NotAJournal`]), an empty one (LMDB would
/// take it for a new environment) and one shorter than the pages its newest meta page
/// says are in use ([`JournalError::Corrupt`]). The length is checked before any data
/// page is read: LMDB maps the file, and reading a mapped page past its end kills the
/// process with SIGBUS.
pub(crate) fn open_existing(
    dir: &Path,
    options: &EnvOpenOptions<WithoutTls>,
) -> Result<Env<WithoutTls>> {
    let data = dir.join(DATA_FILE);
    if !dir.is_dir() || !data.is_file() {
        return Err(JournalError::NotAJournal(dir.to_path_buf()));
    }
    if std::fs::metadata(&data)?.len() == 0 {
        return Err(JournalError::Corrupt(format!(
            "{}: data.mdb is empty",
            dir.display()
        )));
    }
    // SAFETY: the caller's flags are at most READ_ONLY or NO_SYNC. The journal directory is
    // owner-only, nothing else in this process maps it (heed refuses a second open) and
    // it is only ever modified through LMDB, whose locking keeps readers consistent.
    let env = unsafe { options.open(dir) }.map_err(|e| map_lmdb(dir, e))?;
    // Both read only the meta pages, which LMDB has already read from the file.
    let info = env.info();
    let page_size = env.unnamed_database_stat().page_size;
    // Taken after the meta: a writer in another process writes pages before the meta
    // that uses them, so the file can only have grown since.
    let len = env.real_disk_size()?;
    // LMDB leaves a page unwritten only when one transaction allocates and frees it,
    // which takes a delete or the overwrite of a value on overflow pages; the journal
    // does neither, so an intact file holds every page up to the last one in use.
    let pages = info.last_page_number as u128 + 1;
    let needed = pages * u128::from(page_size);
    if needed > u128::from(len) {
        return Err(JournalError::Corrupt(format!(
            "{} is {len} bytes but its meta uses {pages} pages of {page_size} bytes, so the \
             journal needs {needed} bytes: the file was cut short",
            data.display()
        )));
    }
    Ok(env)
}

/// The four databases of a journal.
pub(crate) struct Databases {
    pub inputs: SeqDb,
    pub outputs: SeqDb,
    pub latency: SeqDb,
    pub meta: MetaDb,
}

/// Opens the four databases of the existing journal environment `env` (in `dir`).
///
/// # Errors
///
/// [`JournalError::Corrupt`] when one of them is missing, and LMDB errors.
pub(crate) fn open_databases(env: &Env<WithoutTls>, dir: &Path) -> Result<Databases> {
    let missing =
        |name: &str| JournalError::Corrupt(format!("{}: database '{name}' missing", dir.display()));
    let rtxn = env.read_txn().map_err(|e| map_lmdb(dir, e))?;
    let (inputs, outputs, latency, meta) = env
        .open_databases_and_commit(rtxn, |dbo, rtxn| -> Result<_, heed::Error> {
            let inputs = dbo.open_database::<SeqKey, Bytes>(rtxn, Some(INPUTS))?;
            let outputs = dbo.open_database::<SeqKey, Bytes>(rtxn, Some(OUTPUTS))?;
            let latency = dbo.open_database::<SeqKey, Bytes>(rtxn, Some(LATENCY))?;
            let meta = dbo.open_database::<Str, Bytes>(rtxn, Some(META))?;
            Ok(CommitOrAbort::<_, ()>::Commit((
                inputs, outputs, latency, meta,
            )))
        })
        .map_err(|e| map_lmdb(dir, e))?
        .commit()
        .ok_or_else(|| missing(META))?;
    Ok(Databases {
        inputs: inputs.ok_or_else(|| missing(INPUTS))?,
        outputs: outputs.ok_or_else(|| missing(OUTPUTS))?,
        latency: latency.ok_or_else(|| missing(LATENCY))?,
        meta: meta.ok_or_else(|| missing(META))?,
    })
}
