//! Writing a journal: [`JournalWriter`].

use std::path::{Path, PathBuf};

use heed::{CommitOrAbort, Env, EnvFlags, EnvOpenOptions, MdbError, PutFlags, WithoutTls};
use kestrel_engine::{Input, Level, Output, SCHEMA_VERSION};
use rkyv::util::AlignedVec;

use crate::codec::{encode_input_into, encode_into, LatencyRecord};
use crate::error::{JournalError, Result};
use crate::meta::{
    map_lmdb, open_databases, open_existing, Bytes, Databases, Meta, SeqDb, SeqKey, Str, DATA_FILE,
    INPUTS, KEY_CONFIG, KEY_CREATED, KEY_SCHEMA, KEY_SEED, KEY_SESSION, LATENCY, LOCK_FILE,
    MAX_DBS, META, OUTPUTS,
};

/// How a journal is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalOptions {
    /// `true`: every [`JournalWriter::append`] is fsynced before it returns, so a host
    /// crash loses nothing committed. `false` (LMDB `NO_SYNC`): commits reach the OS page
    /// cache and the OS flushes them later; a process crash loses nothing committed, a
    /// host crash (power, kernel) may lose the most recent commits, never older ones
    /// (LMDB stays consistent). [`JournalWriter::sync`] forces a flush.
    pub fsync: bool,
    /// Largest size of the journal file in MiB (LMDB map size; address space only, the
    /// file grows as written). An append past it fails with [`JournalError::Full`].
    pub max_mib: usize,
}

impl Default for JournalOptions {
    /// Returns fsync on, 4 GiB.
    fn default() -> Self {
        JournalOptions {
            fsync: true,
            max_mib: 4096,
        }
    }
}

/// Appends inputs, outputs and latency records to a new journal directory.
///
/// A plain library object: no threads. The runtime calls it from its journal thread,
/// one [`append`](Self::append) per drained batch. Only one writer (or reader) may hold
/// a given directory in one process at a time.
pub struct JournalWriter {
    env: Env<WithoutTls>,
    dir: PathBuf,
    max_mib: usize,
    inputs: SeqDb,
    outputs: SeqDb,
    latency: SeqDb,
    last_input: Option<u64>,
    last_output: Option<u64>,
    buf: AlignedVec,
    /// Scratch for the levels of a stored depth input, reused across appends.
    levels: Vec<Level>,
}

impl JournalWriter {
    /// Creates a journal in `dir`, creating the directory and its parents with
    /// owner-only permissions (0o700 on unix), and writes `meta`.
    ///
    /// # Errors
    ///
    /// [`JournalError::AlreadyExists`] if `dir` already holds a journal,
    /// [`JournalError::SchemaMismatch`] if `meta.schema_version` is not
    /// [`SCHEMA_VERSION`], [`JournalError::InvalidOptions`] for `max_mib` 0 or too
    /// large, and I/O or LMDB errors.
    pub fn create(dir: &Path, meta: &Meta, opts: &JournalOptions) -> Result<Self> {
        if meta.schema_version != SCHEMA_VERSION {
            return Err(JournalError::SchemaMismatch {
                found: meta.schema_version,
                expected: SCHEMA_VERSION,
            });
        }
        let map_size = map_size(opts)?;
        if dir.join(DATA_FILE).try_exists()? {
            return Err(JournalError::AlreadyExists(dir.to_path_buf()));
        }
        create_private_dir(dir)?;
        // The journal is built in a sibling directory and its files moved into place
        // once its meta is committed, so a crash during creation never leaves a journal
        // without meta behind.
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "journal".into());
        let tmp = dir.with_file_name(format!(".{name}.creating"));
        if tmp.try_exists()? {
            // Left by a crash during an earlier creation: never a complete journal.
            std::fs::remove_dir_all(&tmp)?;
        }
        create_private_dir(&tmp)?;
        {
            let env = open_env(&tmp, map_size, opts.fsync)?;
            create_meta(&env, &tmp, meta)?;
            env.prepare_for_closing().wait();
        }
        // data.mdb last: its presence makes `dir` a journal.
        std::fs::rename(tmp.join(LOCK_FILE), dir.join(LOCK_FILE))?;
        std::fs::rename(tmp.join(DATA_FILE), dir.join(DATA_FILE))?;
        std::fs::remove_dir(&tmp)?;
        JournalWriter::open_env_at(dir, opts, map_size).map(|(w, _)| w)
    }

    /// Opens the journal in `dir` to append to it (a resumed session): the next input
    /// and output seqs must be above the last ones stored
    /// ([`last_input_seq`](Self::last_input_seq), [`last_output_seq`](Self::last_output_seq)).
    /// Returns the writer and the journal's meta.
    ///
    /// # Errors
    ///
    /// [`JournalError::NotAJournal`] without `data.mdb`, [`JournalError::SchemaMismatch`]
    /// unless it was written with this build's [`SCHEMA_VERSION`] (records of two
    /// versions are never mixed in one journal), [`JournalError::InvalidOptions`] as
    /// for [`create`](Self::create), [`JournalError::Corrupt`] for an empty `data.mdb`,
    /// one shorter than its meta says, or a missing database or meta key, and LMDB or
    /// I/O errors.
    pub fn open(dir: &Path, opts: &JournalOptions) -> Result<(Self, Meta)> {
        let map_size = map_size(opts)?;
        JournalWriter::open_env_at(dir, opts, map_size)
    }

    /// Opens the existing environment in `dir` and its databases.
    fn open_env_at(dir: &Path, opts: &JournalOptions, map_size: usize) -> Result<(Self, Meta)> {
        let env = open_existing(dir, &env_options(map_size, opts.fsync))?;
        let Databases {
            inputs,
            outputs,
            latency,
            meta: meta_db,
        } = open_databases(&env, dir)?;
        let meta = crate::read::read_meta(&env, meta_db, dir)?;
        if meta.schema_version != SCHEMA_VERSION {
            return Err(JournalError::SchemaMismatch {
                found: meta.schema_version,
                expected: SCHEMA_VERSION,
            });
        }
        let (last_input, last_output) = {
            let rtxn = env.read_txn().map_err(|e| map_lmdb(dir, e))?;
            let last = |db: SeqDb| -> Result<Option<u64>> {
                Ok(db
                    .last(&rtxn)
                    .map_err(|e| map_lmdb(dir, e))?
                    .map(|(k, _)| k))
            };
            (last(inputs)?, last(outputs)?)
        };
        Ok((
            JournalWriter {
                env,
                dir: dir.to_path_buf(),
                max_mib: opts.max_mib,
                inputs,
                outputs,
                latency,
                last_input,
                last_output,
                buf: AlignedVec::new(),
                levels: Vec::new(),
            },
            meta,
        ))
    }
}

/// The LMDB map size `opts` asks for.
fn map_size(opts: &JournalOptions) -> Result<usize> {
    if opts.max_mib == 0 {
        return Err(JournalError::InvalidOptions("max_mib must be at least 1"));
    }
    opts.max_mib
        .checked_mul(1 << 20)
        .ok_or(JournalError::InvalidOptions(
            "max_mib too large for this platform",
        ))
}

/// The writer's LMDB options.
fn env_options(map_size: usize, fsync: bool) -> EnvOpenOptions<WithoutTls> {
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(map_size).max_dbs(MAX_DBS);
    if !fsync {
        // SAFETY: NO_SYNC only drops durability against host crashes (documented on
        // `JournalOptions::fsync`); LMDB stays consistent.
        unsafe { options.flags(EnvFlags::NO_SYNC) };
    }
    options
}

/// Opens (creating the files if needed) a new LMDB environment in `dir`.
fn open_env(dir: &Path, map_size: usize, fsync: bool) -> Result<Env<WithoutTls>> {
    // SAFETY: the directory is ours (owner-only journal); nothing else in this
    // process maps it (heed refuses a second open) and the journal is never
    // modified by other means while open.
    unsafe { env_options(map_size, fsync).open(dir) }.map_err(|e| map_lmdb(dir, e))
}

/// Creates the four databases in a new environment and commits `meta`.
fn create_meta(env: &Env<WithoutTls>, dir: &Path, meta: &Meta) -> Result<()> {
    let wtxn = env.write_txn()?;
    let _ = env
        .create_databases_and_commit(wtxn, |dbo, wtxn| -> Result<_, heed::Error> {
            let inputs = dbo.create_database::<SeqKey, Bytes>(wtxn, Some(INPUTS))?;
            let outputs = dbo.create_database::<SeqKey, Bytes>(wtxn, Some(OUTPUTS))?;
            let latency = dbo.create_database::<SeqKey, Bytes>(wtxn, Some(LATENCY))?;
            let meta_db = dbo.create_database::<Str, Bytes>(wtxn, Some(META))?;
            meta_db.put(wtxn, KEY_SCHEMA, meta.schema_version.to_string().as_bytes())?;
            meta_db.put(wtxn, KEY_SESSION, meta.session_id.to_string().as_bytes())?;
            meta_db.put(wtxn, KEY_SEED, meta.seed.to_string().as_bytes())?;
            meta_db.put(wtxn, KEY_CONFIG, meta.config_toml.as_bytes())?;
            meta_db.put(
                wtxn,
                KEY_CREATED,
                meta.created_unix_ns.to_string().as_bytes(),
            )?;
            Ok(CommitOrAbort::<_, ()>::Commit((
                inputs, outputs, latency, meta_db,
            )))
        })
        .map_err(|e| map_lmdb(dir, e))?
        .commit()
        .ok_or_else(|| JournalError::Corrupt(format!("{}: meta not committed", dir.display())))?;
    Ok(())
}

impl JournalWriter {
    /// Appends a batch in one write transaction, committed (and fsynced when
    /// `fsync` is on) before it returns. Every record is stored as given (inputs in their
    /// compact stored form, see [`crate::encode_input`]), keyed by
    /// `header.seq`, `seq` and `output_seq`; a latency record replaces an earlier one
    /// with the same `output_seq`.
    ///
    /// # Errors
    ///
    /// [`JournalError::OutOfOrder`] if an input or output seq is not above every one
    /// appended before (checked before anything is written), [`JournalError::Full`] when
    /// the map size is reached, and LMDB errors. On error nothing of the batch is
    /// committed.
    pub fn append(
        &mut self,
        inputs: &[Input],
        outputs: &[Output],
        latency: &[LatencyRecord],
    ) -> Result<()> {
        let last_input = check_order(INPUTS, self.last_input, inputs.iter().map(|i| i.header.seq))?;
        let last_output = check_order(OUTPUTS, self.last_output, outputs.iter().map(|o| o.seq))?;
        self.write_batch(inputs, outputs, latency)
            .map_err(|e| match e {
                JournalError::Lmdb(heed::Error::Mdb(MdbError::MapFull)) => JournalError::Full {
                    dir: self.dir.clone(),
                    max_mib: self.max_mib,
                },
                other => other,
            })?;
        self.last_input = last_input;
        self.last_output = last_output;
        Ok(())
    }

    fn write_batch(
        &mut self,
        inputs: &[Input],
        outputs: &[Output],
        latency: &[LatencyRecord],
    ) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        for input in inputs {
            encode_input_into(input, &mut self.levels, &mut self.buf)
                .map_err(|e| encode_error("input", e))?;
            // APPEND: keys are checked to increase, so LMDB can skip the tree search.
            self.inputs.put_with_flags(
                &mut wtxn,
                PutFlags::APPEND,
                &input.header.seq,
                &self.buf,
            )?;
        }
        for output in outputs {
            encode_into(output, &mut self.buf).map_err(|e| encode_error("output", e))?;
            self.outputs
                .put_with_flags(&mut wtxn, PutFlags::APPEND, &output.seq, &self.buf)?;
        }
        for record in latency {
            encode_into(record, &mut self.buf).map_err(|e| encode_error("latency record", e))?;
            self.latency.put(&mut wtxn, &record.output_seq, &self.buf)?;
        }
        wtxn.commit()?;
        Ok(())
    }

    /// Returns the highest input seq committed so far (0 before the first).
    pub fn last_input_seq(&self) -> u64 {
        self.last_input.unwrap_or(0)
    }

    /// Returns the highest output seq committed so far (0 before the first).
    pub fn last_output_seq(&self) -> u64 {
        self.last_output.unwrap_or(0)
    }

    /// Returns the journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Flushes every commit to disk (useful at shutdown when `fsync` is off).
    ///
    /// # Errors
    ///
    /// LMDB or I/O errors from the flush.
    pub fn sync(&self) -> Result<()> {
        self.env.force_sync()?;
        Ok(())
    }
}

/// Checks that `seqs` strictly increase after `last`; returns the new last.
fn check_order(
    db: &'static str,
    mut last: Option<u64>,
    seqs: impl Iterator<Item = u64>,
) -> Result<Option<u64>> {
    for seq in seqs {
        if let Some(prev) = last {
            if seq <= prev {
                return Err(JournalError::OutOfOrder {
                    db,
                    seq,
                    last: prev,
                });
            }
        }
        last = Some(seq);
    }
    Ok(last)
}

fn encode_error(what: &'static str, e: rkyv::rancor::Error) -> JournalError {
    JournalError::Encode {
        what,
        reason: e.to_string(),
    }
}

/// Creates `dir` and missing parents as owner-only, and makes `dir` itself 0o700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_check() {
        assert_eq!(
            check_order("inputs", None, [0, 1, 5].into_iter()).unwrap(),
            Some(5)
        );
        assert_eq!(
            check_order("inputs", Some(5), [].into_iter()).unwrap(),
            Some(5)
        );
        let e = check_order("inputs", Some(5), [6, 6].into_iter()).unwrap_err();
        assert!(matches!(
            e,
            JournalError::OutOfOrder {
                db: "inputs",
                seq: 6,
                last: 6
            }
        ));
        let e = check_order("outputs", Some(5), [5].into_iter()).unwrap_err();
        assert!(matches!(
            e,
            JournalError::OutOfOrder {
                seq: 5,
                last: 5,
                ..
            }
        ));
    }

    #[test]
    fn writer_is_send() {
        fn send<T: Send>() {}
        send::<JournalWriter>();
    }
}
