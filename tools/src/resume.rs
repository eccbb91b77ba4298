//! Resuming a session after a crash: `kestrel run --journal DIR` where DIR already
//! holds a journal.
//!
//! Rules (checked before anything is appended; each refusal names the rule):
//! - The journal must carry this build's schema version, and the configuration the
//!   run is given must be the one the journal recorded (the same TOML after
//!   parsing, so same session id, seed, instruments, controllers and venue). Without
//!   a CONFIG argument the journal's own configuration is used.
//! - The feed must be live (a synthetic or recorded feed would start its data over).
//! - With `venue.kind = "binance"`, `runtime.durability` must be `"sync"`: only then
//!   has every order that reached the venue its cause in the journal, so the replay
//!   recreates it and the client order id counter is past every id ever sent.
//! - A session that ended with a `Stop` (orderly end) is not resumed: start a new
//!   journal (e.g. with `--positions-from DIR`).
//!
//! What resume does: replays every journaled input into a fresh engine (checking that
//! the journaled outputs come out byte-identical), appends the outputs of the last
//! inputs that the crash kept from the journal (never sent again: in sync mode the
//! gateway has them from their inputs, and reconcile asks the venue what became of
//! them), and hands the engine's working orders to the gateway to reconcile. New
//! inputs and outputs continue the sequences without a gap.

use anyhow::{anyhow, Context, Result};
use kestrel_engine::config::{Config, Durability, FeedKind, GatewayKind};
use kestrel_engine::orders::OrderState;
use kestrel_engine::{Dec, Engine, Event, Output, PlaceOrder, SessionStart, SCHEMA_VERSION};
use kestrel_journal::{encode_output, JournalOptions, JournalReader, JournalWriter};
use std::ops::ControlFlow;
use std::path::Path;

/// An engine working order as the gateway reconciles it: the request, the venue
/// order id (0 if never acknowledged), whether it was acknowledged, filled quantity.
pub type LiveOrder = (PlaceOrder, u64, bool, Dec);

/// A journal opened for resume, its engine rebuilt.
pub struct Resumed {
    /// The engine after every journaled input.
    pub engine: Engine,
    /// The writer, positioned after the last input and output.
    pub writer: JournalWriter,
    /// Inputs replayed (= the last journaled input seq).
    pub inputs: u64,
    /// Outputs the replay produced that the journal lacked (now appended).
    pub missing_outputs: u64,
    /// The engine's working orders, for reconcile.
    pub live: Vec<LiveOrder>,
}

/// True when `dir` holds a journal (`kestrel run` then resumes it).
pub fn exists(dir: &Path) -> bool {
    dir.join("data.mdb").is_file()
}

/// The configuration the journal in `dir` recorded.
///
/// # Errors
/// The journal cannot be read, or its configuration does not parse.
pub fn journal_config(dir: &Path) -> Result<Config> {
    let reader =
        JournalReader::open(dir).with_context(|| format!("cannot resume {}", dir.display()))?;
    Config::from_toml(&reader.meta().config_toml).map_err(|e| {
        anyhow!(
            "cannot resume {}: its configuration is invalid: {e}",
            dir.display()
        )
    })
}

/// Checks the rules on the run's configuration (see the module docs).
///
/// # Errors
/// The first rule broken.
pub fn check_config(cfg: &Config, dir: &Path) -> Result<()> {
    if cfg.feed.kind != FeedKind::Live {
        return Err(anyhow!(
            "cannot resume {}: resuming needs feed.kind = \"live\" (a {:?} feed would start \
             its data over)",
            dir.display(),
            cfg.feed.kind
        ));
    }
    if cfg.venue.kind == GatewayKind::Binance && cfg.runtime.durability != Durability::Sync {
        return Err(anyhow!(
            "cannot resume {}: with venue.kind = \"binance\" resuming needs \
             runtime.durability = \"sync\" (in async mode an order may have reached the \
             venue before its cause was journaled, and its client order id could be sent \
             again)",
            dir.display()
        ));
    }
    Ok(())
}

/// Opens the journal in `dir` for resume: checks the rules, rebuilds the engine,
/// appends the missing outputs (see the module docs).
///
/// # Errors
/// A broken rule, an unreadable or diverging journal, or a journal write failure.
pub fn open(dir: &Path, cfg: &Config, opts: &JournalOptions) -> Result<Resumed> {
    let fail = |why: String| anyhow!("cannot resume {}: {why}", dir.display());
    check_config(cfg, dir)?;
    let reader =
        JournalReader::open(dir).with_context(|| format!("cannot resume {}", dir.display()))?;
    let meta = reader.meta().clone();
    if meta.schema_version != SCHEMA_VERSION {
        return Err(fail(format!(
            "it was written with schema version {}; this build appends only to version \
             {SCHEMA_VERSION} journals (start a new journal)",
            meta.schema_version
        )));
    }
    let given = cfg.to_toml();
    if given != meta.config_toml {
        let line = given
            .lines()
            .zip(meta.config_toml.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| given.lines().count().min(meta.config_toml.lines().count()));
        let at = |t: &str| t.lines().nth(line).unwrap_or("(end)").to_string();
        return Err(fail(format!(
            "the configuration differs from the one the journal recorded (line {}: \
             journal `{}`, given `{}`); run without a CONFIG argument to use the journal's",
            line + 1,
            at(&meta.config_toml),
            at(&given)
        )));
    }
    let expected = reader.output_bytes()?;
    let mut engine: Option<Engine> = None;
    let mut inputs = 0u64;
    let mut idx = 0usize;
    let mut missing: Vec<Output> = Vec::new();
    let mut failure: Option<String> = None;
    reader.for_each_input(|input| {
        inputs += 1;
        if input.header.seq != inputs {
            failure = Some(format!(
                "input seqs are not contiguous (input {inputs} has seq {})",
                input.header.seq
            ));
            return ControlFlow::Break(());
        }
        if engine.is_none() {
            match &input.event {
                Event::SessionStart(s) => match Engine::new(s) {
                    Ok(e) => engine = Some(e),
                    Err(e) => {
                        failure = Some(format!("its configuration is invalid: {e}"));
                        return ControlFlow::Break(());
                    }
                },
                other => {
                    failure = Some(format!(
                        "it does not start with a session start (input 1 is {other:?})"
                    ));
                    return ControlFlow::Break(());
                }
            }
        }
        let Some(e) = engine.as_mut() else {
            return ControlFlow::Break(());
        };
        for out in e.apply(&input) {
            match expected.get(idx) {
                Some((seq, b)) => {
                    if *seq != out.seq || *b != encode_output(out) {
                        failure = Some(format!(
                            "the journal does not replay identically (output {seq}, caused by \
                             input {}); check it with kestrel replay --verify",
                            out.cause
                        ));
                        return ControlFlow::Break(());
                    }
                    idx += 1;
                }
                None => missing.push(*out),
            }
        }
        ControlFlow::Continue(())
    })?;
    if let Some(f) = failure {
        return Err(fail(f));
    }
    if idx < expected.len() {
        return Err(fail(format!(
            "the journal holds {} outputs but its inputs produce {idx}; check it with \
             kestrel replay --verify",
            expected.len()
        )));
    }
    let engine = match engine {
        Some(e) => e,
        // Created, nothing journaled yet: the session starts as a new one would.
        None => Engine::new(&SessionStart {
            session_id: cfg.session.id,
            seed: cfg.session.seed,
            config: given.clone(),
        })
        .map_err(|e| fail(format!("its configuration is invalid: {e}")))?,
    };
    if engine.stopped {
        return Err(fail(
            "its session ended with a Stop; start a new journal (e.g. with --positions-from \
             this one)"
                .into(),
        ));
    }
    drop(reader);
    let (mut writer, _) = JournalWriter::open(dir, opts)
        .with_context(|| format!("cannot resume {}", dir.display()))?;
    if writer.last_input_seq() != inputs {
        return Err(fail(format!(
            "its last input seq is {} but it holds {inputs} inputs",
            writer.last_input_seq()
        )));
    }
    writer
        .append(&[], &missing, &[])
        .context("cannot append the missing outputs")?;
    let live = engine
        .orders
        .iter()
        .map(|o| {
            let acked = o.venue_order_id != 0
                || matches!(o.state, OrderState::Open | OrderState::PartiallyFilled);
            (o.req, o.venue_order_id, acked, o.filled)
        })
        .collect();
    Ok(Resumed {
        engine,
        writer,
        inputs,
        missing_outputs: missing.len() as u64,
        live,
    })
}
