//! `kestrel kill-switch` against a running `kestrel run`: the operator's command is a
//! journaled input, every open order is canceled, nothing is placed afterwards, and
//! the journal replays byte-identically.

use kestrel_engine::{Action, AlertCode, Command, Event, Source};
use kestrel_journal::JournalReader;
use std::path::Path;
use std::process::{Command as Process, Output, Stdio};
use std::time::{Duration, Instant};

fn kestrel(args: &[&str], cwd: &Path) -> Output {
    Process::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("runs kestrel")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn kill_switch_reaches_a_running_session_and_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    let out = kestrel(&["default-config"], p);
    let cfg = String::from_utf8(out.stdout)
        .unwrap()
        .replacen("events = 200000", "events = 100000000", 1)
        .replacen("rate_per_sec = 0", "rate_per_sec = 20000", 1);
    std::fs::write(p.join("paced.toml"), cfg).unwrap();
    let journal = p.join("j");
    let j = journal.to_str().unwrap();
    // Not a journal yet: a clear refusal.
    let out = kestrel(&["kill-switch", j], p);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("is not a journal directory"),
        "{}",
        text(&out)
    );

    let child = Process::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["run", "paced.toml", "--journal", j, "--duration", "3"])
        .current_dir(p)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !journal.join("data.mdb").exists() {
        assert!(t0.elapsed() < Duration::from_secs(10), "no journal");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the market maker quote for a while.
    std::thread::sleep(Duration::from_millis(1000));
    let out = kestrel(&["kill-switch", j], p);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("kill switch requested"),
        "{}",
        text(&out)
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("kill switch requested"),
        "{}",
        text(&out)
    );
    assert!(!journal.join("KILL").exists(), "the trigger is consumed");

    let r = JournalReader::open(&journal).unwrap();
    let inputs = r.inputs().unwrap();
    let kills: Vec<_> = inputs
        .iter()
        .filter(|i| i.event == Event::Command(Command::KillSwitch))
        .collect();
    assert_eq!(kills.len(), 1);
    assert_eq!(kills[0].header.source, Source::Operator);
    let kill_seq = kills[0].header.seq;
    let outputs = r.outputs().unwrap();
    let engaged = outputs
        .iter()
        .position(|o| {
            o.action
                == Action::Alert {
                    code: AlertCode::KillSwitchEngaged,
                    cid: Default::default(),
                }
        })
        .expect("engaged alert");
    assert_eq!(outputs[engaged].cause, kill_seq);
    // Orders were placed before, none after; the kill canceled what was open.
    assert!(outputs[..engaged]
        .iter()
        .any(|o| matches!(o.action, Action::Place(_))));
    assert!(outputs[engaged..]
        .iter()
        .all(|o| !matches!(o.action, Action::Place(_))));
    let cancels = outputs[engaged..]
        .iter()
        .take_while(|o| o.cause == kill_seq)
        .filter(|o| matches!(o.action, Action::Cancel { .. }))
        .count();
    assert!(cancels >= 1, "the market maker had quotes working");
    drop(r);
    let out = kestrel(&["replay", "--verify", j], p);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("all byte-identical"), "{}", text(&out));
}
