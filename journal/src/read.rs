//! Reading a journal: [`JournalReader`].

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use heed::{Env, EnvFlags, EnvOpenOptions, RoTxn, WithoutTls};
use kestrel_engine::{Input, Output, MIN_READ_SCHEMA_VERSION, SCHEMA_VERSION};
use rkyv::util::AlignedVec;

use crate::codec::{decode_input_with, decode_with, LatencyRecord};
use crate::error::{JournalError, Result};
use crate::meta::{
    map_lmdb, open_databases, open_existing, Meta, MetaDb, SeqDb, INPUTS, KEY_CONFIG, KEY_CREATED,
    KEY_SCHEMA, KEY_SEED, KEY_SESSION, LATENCY, MAX_DBS, OUTPUTS,
};

/// Read-only view of a journal directory.
///
/// Every method runs in its own read transaction, so it sees the journal as of the
/// call. Records are validated as they are decoded: a damaged one gives
/// [`JournalError::CorruptRecord`], never a panic.
pub struct JournalReader {
    env: Env<WithoutTls>,
    dir: PathBuf,
    meta: Meta,
    inputs: SeqDb,
    outputs: SeqDb,
    latency: SeqDb,
}

impl JournalReader {
    /// Opens the journal in `dir` read-only and checks its meta.
    ///
    /// # Errors
    ///
    /// [`JournalError::NotAJournal`] if `dir` is missing or has no `data.mdb`,
    /// [`JournalError::SchemaMismatch`] if it was written with a schema version outside
    /// [`MIN_READ_SCHEMA_VERSION`]`..=`[`SCHEMA_VERSION`],
    /// [`JournalError::Corrupt`] if `data.mdb` is empty or shorter than its meta says,
    /// LMDB finds the file invalid, or a database or meta key is missing, and other
    /// LMDB or I/O errors.
    pub fn open(dir: &Path) -> Result<Self> {
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.max_dbs(MAX_DBS);
        // SAFETY: READ_ONLY is a safe flag; it is only `unsafe` by heed's signature.
        unsafe { options.flags(EnvFlags::READ_ONLY) };
        let env = open_existing(dir, &options)?;

        let dbs = open_databases(&env, dir)?;
        let meta = read_meta(&env, dbs.meta, dir)?;
        Ok(JournalReader {
            inputs: dbs.inputs,
            outputs: dbs.outputs,
            latency: dbs.latency,
            env,
            dir: dir.to_path_buf(),
            meta,
        })
    }

    /// Returns the session metadata.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Returns the journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the number of inputs.
    ///
    /// # Errors
    ///
    /// LMDB errors.
    pub fn input_count(&self) -> Result<u64> {
        self.count(self.inputs)
    }

    /// Returns the number of outputs.
    ///
    /// # Errors
    ///
    /// LMDB errors.
    pub fn output_count(&self) -> Result<u64> {
        self.count(self.outputs)
    }

    /// Returns the number of latency records.
    ///
    /// # Errors
    ///
    /// LMDB errors.
    pub fn latency_count(&self) -> Result<u64> {
        self.count(self.latency)
    }

    fn count(&self, db: SeqDb) -> Result<u64> {
        let rtxn = self.txn()?;
        db.len(&rtxn).map_err(|e| map_lmdb(&self.dir, e))
    }

    fn txn(&self) -> Result<RoTxn<'_, WithoutTls>> {
        self.env.read_txn().map_err(|e| map_lmdb(&self.dir, e))
    }

    /// Calls `f` with every input in seq order until it returns `Break`, without
    /// holding more than one decoded input in memory.
    ///
    /// # Errors
    ///
    /// [`JournalError::CorruptRecord`] at the first input that does not decode or whose
    /// `header.seq` differs from its key (inputs before it have been passed to `f`),
    /// and LMDB errors.
    pub fn for_each_input(&self, f: impl FnMut(Input) -> ControlFlow<()>) -> Result<()> {
        self.for_each(self.inputs, INPUTS, decode_input_with, |i| i.header.seq, f)
    }

    /// Calls `f` with every output in seq order until it returns `Break`.
    ///
    /// # Errors
    ///
    /// As [`for_each_input`](Self::for_each_input), for outputs.
    pub fn for_each_output(&self, f: impl FnMut(Output) -> ControlFlow<()>) -> Result<()> {
        self.for_each(self.outputs, OUTPUTS, decode_with::<Output>, |o| o.seq, f)
    }

    /// Returns every input in seq order.
    ///
    /// # Errors
    ///
    /// As [`for_each_input`](Self::for_each_input).
    pub fn inputs(&self) -> Result<Vec<Input>> {
        let mut v = Vec::new();
        self.for_each_input(|i| {
            v.push(i);
            ControlFlow::Continue(())
        })?;
        Ok(v)
    }

    /// Returns every output in seq order.
    ///
    /// # Errors
    ///
    /// As [`for_each_input`](Self::for_each_input), for outputs.
    pub fn outputs(&self) -> Result<Vec<Output>> {
        let mut v = Vec::new();
        self.for_each_output(|o| {
            v.push(o);
            ControlFlow::Continue(())
        })?;
        Ok(v)
    }

    /// Returns every latency record in `output_seq` order.
    ///
    /// # Errors
    ///
    /// As [`for_each_input`](Self::for_each_input), for latency records.
    pub fn latency(&self) -> Result<Vec<LatencyRecord>> {
        let mut v = Vec::new();
        self.for_each(
            self.latency,
            LATENCY,
            decode_with::<LatencyRecord>,
            |r| r.output_seq,
            |r| {
                v.push(r);
                ControlFlow::Continue(())
            },
        )?;
        Ok(v)
    }

    /// Returns every output as stored: `(seq, bytes)` in seq order, for byte-identical
    /// comparison with [`crate::encode_output`]. The bytes are not validated.
    ///
    /// # Errors
    ///
    /// LMDB errors.
    pub fn output_bytes(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        let rtxn = self.txn()?;
        let iter = self
            .outputs
            .iter(&rtxn)
            .map_err(|e| map_lmdb(&self.dir, e))?;
        let mut v = Vec::new();
        for item in iter {
            let (seq, bytes) = item.map_err(|e| map_lmdb(&self.dir, e))?;
            v.push((seq, bytes.to_vec()));
        }
        Ok(v)
    }

    /// Iterates `db` in key order, decoding each record with `decode` (which gets an
    /// aligned scratch buffer to reuse) and checking its seq against its key.
    fn for_each<T>(
        &self,
        db: SeqDb,
        name: &'static str,
        decode: impl Fn(&[u8], &mut AlignedVec) -> std::result::Result<T, String>,
        seq_of: impl Fn(&T) -> u64,
        mut f: impl FnMut(T) -> ControlFlow<()>,
    ) -> Result<()> {
        let rtxn = self.txn()?;
        let iter = db.iter(&rtxn).map_err(|e| map_lmdb(&self.dir, e))?;
        let mut scratch = AlignedVec::new();
        for item in iter {
            let (seq, bytes) = item.map_err(|e| map_lmdb(&self.dir, e))?;
            let value =
                decode(bytes, &mut scratch).map_err(|reason| JournalError::CorruptRecord {
                    db: name,
                    seq,
                    reason,
                })?;
            let inner = seq_of(&value);
            if inner != seq {
                return Err(JournalError::CorruptRecord {
                    db: name,
                    seq,
                    reason: format!("record says seq {inner}"),
                });
            }
            if f(value).is_break() {
                break;
            }
        }
        Ok(())
    }
}

pub(crate) fn read_meta(env: &Env<WithoutTls>, db: MetaDb, dir: &Path) -> Result<Meta> {
    let rtxn = env.read_txn().map_err(|e| map_lmdb(dir, e))?;
    let get = |key: &str| -> Result<String> {
        let bytes = db
            .get(&rtxn, key)
            .map_err(|e| map_lmdb(dir, e))?
            .ok_or_else(|| {
                JournalError::Corrupt(format!("{}: meta key '{key}' missing", dir.display()))
            })?;
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            JournalError::Corrupt(format!("{}: meta key '{key}' is not UTF-8", dir.display()))
        })
    };
    fn num<N: std::str::FromStr>(dir: &Path, key: &str, s: &str) -> Result<N> {
        s.parse().map_err(|_| {
            JournalError::Corrupt(format!(
                "{}: meta key '{key}' is not a number: {s:?}",
                dir.display()
            ))
        })
    }
    // The schema first: with another version nothing else may be trusted.
    let schema_version: u32 = num(dir, KEY_SCHEMA, &get(KEY_SCHEMA)?)?;
    // Versions since MIN_READ_SCHEMA_VERSION only appended enum variants: older
    // records decode unchanged.
    if !(MIN_READ_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&schema_version) {
        return Err(JournalError::SchemaMismatch {
            found: schema_version,
            expected: SCHEMA_VERSION,
        });
    }
    Ok(Meta {
        schema_version,
        session_id: num(dir, KEY_SESSION, &get(KEY_SESSION)?)?,
        seed: num(dir, KEY_SEED, &get(KEY_SEED)?)?,
        config_toml: get(KEY_CONFIG)?,
        created_unix_ns: num(dir, KEY_CREATED, &get(KEY_CREATED)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::append::{JournalOptions, JournalWriter};
    use crate::codec::encode_stored_depth;
    use crate::meta::{Bytes, SeqKey};
    use heed::CommitOrAbort;
    use kestrel_engine::{Event, Header, Source, DEPTH_CHUNK};

    fn header(seq: u64) -> Header {
        Header {
            seq,
            source: Source::Feed,
            ..Header::default()
        }
    }

    /// Puts raw bytes under `seq` in the `inputs` database of a closed journal.
    fn put_input_raw(dir: &Path, seq: u64, bytes: &[u8]) {
        // SAFETY: test-only; nothing else has the journal open.
        let env = unsafe { EnvOpenOptions::new().max_dbs(MAX_DBS).open(dir) }.unwrap();
        let wtxn = env.write_txn().unwrap();
        let db = env
            .create_databases_and_commit(wtxn, |dbo, wtxn| {
                dbo.create_database::<SeqKey, Bytes>(wtxn, Some(INPUTS))
                    .map(CommitOrAbort::<_, ()>::Commit)
            })
            .unwrap()
            .unwrap_commit();
        let mut wtxn = env.write_txn().unwrap();
        db.put(&mut wtxn, &seq, bytes).unwrap();
        wtxn.commit().unwrap();
    }

    #[test]
    fn stored_depth_with_too_many_levels_is_a_corrupt_record() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("j");
        let first = kestrel_engine::Input {
            header: header(1),
            event: Event::Timer(3),
        };
        {
            let opts = JournalOptions {
                fsync: false,
                max_mib: 16,
            };
            let mut w =
                JournalWriter::create(&dir, &Meta::new(1, 2, String::new(), 0), &opts).unwrap();
            w.append(std::slice::from_ref(&first), &[], &[]).unwrap();
        }
        put_input_raw(&dir, 2, &encode_stored_depth(header(2), DEPTH_CHUNK));
        put_input_raw(&dir, 3, &encode_stored_depth(header(3), DEPTH_CHUNK + 1));

        let r = JournalReader::open(&dir).unwrap();
        let mut seen = Vec::new();
        let e = r
            .for_each_input(|i| {
                seen.push(i);
                ControlFlow::Continue(())
            })
            .unwrap_err();
        match e {
            JournalError::CorruptRecord {
                db: "inputs",
                seq: 3,
                reason,
            } => assert!(reason.contains("17 levels"), "{reason}"),
            other => panic!("expected CorruptRecord for input 3, got {other:?}"),
        }
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], first);
        match &seen[1].event {
            Event::Depth(d) => {
                assert_eq!(d.len as usize, DEPTH_CHUNK);
                assert_eq!(d.levels().len(), DEPTH_CHUNK);
            }
            other => panic!("expected a depth, got {other:?}"),
        }
    }
}
