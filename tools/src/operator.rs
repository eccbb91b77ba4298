//! Operator commands for a running `kestrel run` session, through its journal
//! directory (the one live channel a local operator always has).
//!
//! `kestrel kill-switch <JOURNAL>` creates `<JOURNAL>/KILL` (owner-only). The
//! session's feed thread looks for that file at most every [`POLL`] of wall time; once
//! it exists it publishes a [`Command::KillSwitch`] input (source `Operator`, event
//! time of the last market event), journaled and replayed like any other input, and
//! removes the file. The engine then cancels every open order, terminates every
//! executor, stops its controllers and refuses every further order; the session keeps
//! running (cancel confirmations and fills are still journaled) until Ctrl-C,
//! `--duration` or the end of the data.
//!
//! Latency: up to [`POLL`] plus one ring hop. The check costs one clock read per feed
//! event and one `stat` per [`POLL`].

use anyhow::{anyhow, Context, Result};
use disruptor::Producer;
use kestrel_engine::{Command, Event, Header, Input, Source};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Name of the trigger file in the journal directory.
pub const KILL_FILE: &str = "KILL";
/// Longest wall time between two looks for the trigger file.
pub const POLL: Duration = Duration::from_millis(100);

/// Watches a journal directory for the kill-switch trigger file.
#[derive(Debug)]
pub struct KillWatch {
    path: PathBuf,
    next_check: Instant,
    fired: bool,
}

impl KillWatch {
    /// Watches `<journal>/KILL`.
    pub fn new(journal: &Path) -> KillWatch {
        KillWatch {
            path: journal.join(KILL_FILE),
            next_check: Instant::now(),
            fired: false,
        }
    }

    /// True once: the first time the trigger file is seen (checked at most every
    /// [`POLL`]); the file is then removed.
    pub fn poll(&mut self) -> bool {
        if self.fired {
            return false;
        }
        let now = Instant::now();
        if now < self.next_check {
            return false;
        }
        self.next_check = now + POLL;
        if !self.path.exists() {
            return false;
        }
        self.fired = true;
        if let Err(e) = std::fs::remove_file(&self.path) {
            eprintln!("warning: cannot remove {}: {e}", self.path.display());
        }
        eprintln!(
            "kill switch requested ({}): publishing",
            self.path.display()
        );
        true
    }

    /// Publishes the kill switch on `producer` when [`poll`](Self::poll) says so,
    /// stamped with `now_ns()` (read only then).
    pub fn publish_if_requested(
        &mut self,
        producer: &mut impl Producer<Input>,
        ts: u64,
        now_ns: impl FnOnce() -> u64,
    ) {
        if self.poll() {
            let now_ns = now_ns();
            producer.publish(|slot| {
                slot.header = Header {
                    seq: 0,
                    source: Source::Operator,
                    ts,
                    recv_ns: now_ns,
                    publish_ns: now_ns,
                    venue_ts: 0,
                };
                slot.event = Event::Command(Command::KillSwitch);
            });
        }
    }
}

/// `kestrel kill-switch`: asks the session writing `journal` to engage its kill
/// switch. Returns the trigger file's path.
///
/// # Errors
/// `journal` holds no journal, or the file cannot be created.
pub fn request_kill(journal: &Path) -> Result<PathBuf> {
    if !journal.join("data.mdb").exists() {
        return Err(anyhow!(
            "{} is not a journal directory (no data.mdb); give the --journal of the running session",
            journal.display()
        ));
    }
    let path = journal.join(KILL_FILE);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_and_removes_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = KillWatch::new(tmp.path());
        assert!(!w.poll());
        let e = request_kill(tmp.path()).unwrap_err();
        assert!(e.to_string().contains("is not a journal directory"), "{e}");
        std::fs::write(tmp.path().join("data.mdb"), b"").unwrap();
        let file = request_kill(tmp.path()).unwrap();
        // Checked at most every POLL.
        assert!(!w.poll());
        std::thread::sleep(POLL);
        assert!(w.poll());
        assert!(!file.exists());
        request_kill(tmp.path()).unwrap();
        std::thread::sleep(POLL);
        assert!(!w.poll(), "fires once per session");
    }
}
