//! Crash recovery: a paper Binance venue runs in its own process (`kestrel
//! paper-venue`: loopback REST, WebSocket API, user stream, and a bookTicker stream of
//! a random walk that fills the orders it crosses), and `kestrel run` (market maker,
//! `durability = "sync"`, one fixed journal) is killed with SIGKILL at random points,
//! then restarted, which resumes the journal. After every kill: every input journaled
//! before it is still there unchanged, input and output seqs run from 1 without a
//! gap, and no client order id reached the venue twice. At the end an orderly stop
//! (SIGINT): the engine's position equals the venue's, no order is left open, and the
//! whole journal replays byte-identically.
//!
//! `KESTREL_CRASH_KILLS` sets the number of kills (default 100).

use kestrel_engine::{Event, Source};
use kestrel_journal::{encode_input, JournalReader};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const KEY: &str = "kT3sTKeyAbCdEfGhIjKlMnOpQrStUvWxYz0123456789kT3sTKeyAbCdEfGhIj";
const SECRET: &str = "sEcReTzyxwvutsrqponmlkjihgfedcba9876543210sEcReTzyxwvutsrqponm";
const KEY_VAR: &str = "KESTREL_TEST_CR_KEY";
const SECRET_VAR: &str = "KESTREL_TEST_CR_SECRET";

/// Bound of every wait that only guards against a hang.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn kestrel(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kestrel"));
    c.args(args).env(KEY_VAR, KEY).env(SECRET_VAR, SECRET);
    c
}

/// The paper venue process; its stdin closing stops it.
struct Paper {
    child: Child,
    _stdin: ChildStdin,
    rest: String,
    urls: serde_json::Value,
}

impl Drop for Paper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_paper() -> Paper {
    let mut child = kestrel(&[
        "paper-venue",
        "--seed",
        "11",
        "--tick-ms",
        "10",
        "--step-ticks",
        "400",
        "--api-key-env",
        KEY_VAR,
        "--api-secret-env",
        SECRET_VAR,
        "--lifetime-s",
        "900",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .expect("start kestrel paper-venue");
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let urls: serde_json::Value = serde_json::from_str(&line).expect("paper venue URL line");
    let rest = urls["rest_url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    Paper {
        child,
        _stdin: stdin,
        rest,
        urls,
    }
}

/// `GET /mock/state` of the paper venue.
fn venue_state(p: &Paper) -> serde_json::Value {
    let mut s = TcpStream::connect(&p.rest).unwrap();
    s.set_read_timeout(Some(HANG_GUARD)).unwrap();
    write!(s, "GET /mock/state HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "venue closed the state request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap();
            if buf.len() >= end + 4 + len {
                return serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap();
            }
        }
    }
}

fn config(p: &Paper) -> String {
    format!(
        r#"
[session]
id = 3
seed = 5
[runtime]
wait = "block"
timer_interval_ms = 100
durability = "sync"
[feed]
kind = "live"
[[venues]]
kind = "binance-spot"
ws_url = "{}"
rest_url = "http://127.0.0.1:19"
symbols = ["BTCUSDT"]
streams = ["bookTicker"]
[venue]
kind = "binance"
[venue.binance]
market = "spot"
ws_api_url = "{}"
rest_url = "{}"
user_stream_url = "{}"
api_key_env = "{KEY_VAR}"
api_secret_env = "{SECRET_VAR}"
recv_window_ms = 1000
settle_timeout_ms = 5000
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
BTC = "10"
USDT = "1000000"
[[controllers]]
type = "market_making"
id = "mm"
instrument = "BTCUSDT"
buy_spreads = "0.0001,0.0003"
sell_spreads = "0.0001,0.0003"
total_amount_quote = "2000"
executor_refresh_time = 2
cooldown_time = 1
"#,
        p.urls["market_url"].as_str().unwrap(),
        p.urls["ws_api_url"].as_str().unwrap(),
        p.urls["rest_url"].as_str().unwrap(),
        p.urls["user_stream_url"].as_str().unwrap(),
    )
}

/// A running `kestrel run`, its stderr lines on a channel.
struct Run {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

fn start_run(cfg: &Path, journal: &Path) -> Run {
    let mut child = kestrel(&[
        "run",
        cfg.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start kestrel run");
    let (tx, rx) = channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Run {
        child,
        lines: rx,
        seen: Vec::new(),
    }
}

impl Run {
    /// Waits for the readiness line; panics (with stderr) if the run ends first.
    fn wait_ready(&mut self) {
        let until = Instant::now() + HANG_GUARD;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(20)) {
                Ok(l) => {
                    let ready = l.starts_with("kestrel run: running");
                    self.seen.push(l);
                    if ready {
                        return;
                    }
                }
                Err(_) => {
                    if let Ok(Some(st)) = self.child.try_wait() {
                        self.drain();
                        panic!(
                            "kestrel run exited ({st}) before it was ready:\n{}",
                            self.seen.join("\n")
                        );
                    }
                    assert!(Instant::now() < until, "kestrel run not ready within 30 s");
                }
            }
        }
    }

    /// Sends SIGINT and waits for the exit; kills it and panics after 30 s.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        let st = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let until = Instant::now() + HANG_GUARD;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("kestrel run did not stop within 30 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn drain(&mut self) {
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
            self.seen.push(l);
        }
    }
}

/// The journal's inputs, each as a hash of its stored bytes, checking seqs are 1..=n;
/// and the output count, checking output seqs are 1..=m.
fn journal_digest(dir: &Path) -> (Vec<u64>, u64) {
    let r = JournalReader::open(dir).expect("journal readable after a kill");
    let inputs = r.inputs().unwrap();
    let hashes: Vec<u64> = inputs
        .iter()
        .enumerate()
        .map(|(i, inp)| {
            assert_eq!(inp.header.seq, i as u64 + 1, "gap in input seqs");
            fnv(&encode_input(inp))
        })
        .collect();
    let outputs = r.outputs().unwrap();
    for (i, o) in outputs.iter().enumerate() {
        assert_eq!(o.seq, i as u64 + 1, "gap in output seqs");
    }
    (hashes, outputs.len() as u64)
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ *x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Client order ids the venue received more than once.
fn duplicates(state: &serde_json::Value) -> Vec<String> {
    let mut n: BTreeMap<&str, u32> = BTreeMap::new();
    for c in state["receivedClientOrderIds"].as_array().unwrap() {
        *n.entry(c.as_str().unwrap()).or_default() += 1;
    }
    n.into_iter()
        .filter(|(_, k)| *k > 1)
        .map(|(c, _)| c.to_string())
        .collect()
}

/// A small seeded generator for the kill points.
fn rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn sigkill_at_random_points_loses_nothing_and_sends_no_id_twice() {
    let kills: u32 = std::env::var("KESTREL_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let tmp = tempfile::tempdir().unwrap();
    let paper = start_paper();
    let cfg = tmp.path().join("mm.toml");
    std::fs::write(&cfg, config(&paper)).unwrap();
    let journal = tmp.path().join("journal");
    let mut rng = 0x5EED_u64;
    let (mut before, mut lost, mut survived) = (Vec::<u64>::new(), 0u64, 0u32);
    let started = Instant::now();
    for k in 0..kills {
        let mut run = start_run(&cfg, &journal);
        // Half the kills land anywhere from spawn on (startup, replay, reconcile), half
        // 30-400 ms after the session is running (quoting, fills, cancels).
        let r = rand(&mut rng);
        if r.is_multiple_of(2) {
            std::thread::sleep(Duration::from_millis(r / 2 % 300));
        } else {
            run.wait_ready();
            std::thread::sleep(Duration::from_millis(30 + r / 2 % 371));
        }
        if let Ok(Some(st)) = run.child.try_wait() {
            run.drain();
            panic!(
                "kill {k}: kestrel run exited by itself ({st}):\n{}",
                run.seen.join("\n")
            );
        }
        run.child.kill().unwrap(); // SIGKILL
        run.child.wait().unwrap();
        if !journal.join("data.mdb").exists() {
            assert!(before.is_empty());
            survived += 1;
            continue;
        }
        let (after, _) = journal_digest(&journal);
        let kept = before
            .iter()
            .zip(after.iter())
            .filter(|(a, b)| a == b)
            .count();
        lost += (before.len() - kept) as u64;
        assert_eq!(
            kept,
            before.len(),
            "kill {k}: journaled inputs lost or changed"
        );
        let dups = duplicates(&venue_state(&paper));
        assert!(
            dups.is_empty(),
            "kill {k}: client order ids sent twice: {dups:?}"
        );
        before = after;
        survived += 1;
    }
    let kill_time = started.elapsed();

    // Orderly end: run, let orders fill and settle, SIGINT.
    let mut run = start_run(&cfg, &journal);
    run.wait_ready();
    std::thread::sleep(Duration::from_millis(1500));
    let status = run.interrupt();
    let mut stdout = String::new();
    run.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    run.drain();
    assert!(
        status.success(),
        "final run failed:\n{stdout}\n{}",
        run.seen.join("\n")
    );
    let (after, outputs) = journal_digest(&journal);
    assert!(before.iter().zip(after.iter()).all(|(a, b)| a == b));
    let engine_pos = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("BTCUSDT: position "))
        .and_then(|l| l.split(',').next())
        .unwrap_or_else(|| panic!("no position line in:\n{stdout}"))
        .to_string();
    let state = venue_state(&paper);
    let venue_pos = state["positions"]["BTCUSDT"]["base"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let dups = duplicates(&state);
    let trades = state["trades"].as_array().unwrap().len();
    let ids = state["receivedClientOrderIds"].as_array().unwrap().len();
    // Resume markers, and the reconcile reports journaled right after them.
    let (mut resumes, mut reconciled) = (0u32, 0u32);
    let inputs = JournalReader::open(&journal).unwrap().inputs().unwrap();
    for (i, inp) in inputs.iter().enumerate() {
        if inp.header.source == Source::Session && matches!(inp.event, Event::None) {
            resumes += 1;
            reconciled += inputs[i + 1..]
                .iter()
                .take_while(|n| n.header.source == Source::Venue)
                .count() as u32;
        }
    }
    let verify = kestrel(&["replay", "--verify", journal.to_str().unwrap()])
        .output()
        .unwrap();
    println!(
        "crash recovery: {survived}/{kills} kill points survived in {:.1} s, inputs lost \
         {lost}, duplicate client order ids {} (of {ids} received), venue trades {trades}, \
         final position engine {engine_pos} vs venue {venue_pos}, journal {} inputs {} \
         outputs, open orders at the venue {}, resumes {resumes} with {reconciled} \
         reconcile reports",
        kill_time.as_secs_f64(),
        dups.len(),
        after.len(),
        outputs,
        state["openOrders"]
    );
    assert_eq!(survived, kills);
    assert!(resumes > 0, "no kill left a journal to resume");
    assert_eq!(lost, 0);
    assert!(dups.is_empty(), "client order ids sent twice: {dups:?}");
    assert_eq!(
        kestrel_engine::Dec::parse(&engine_pos).unwrap(),
        kestrel_engine::Dec::parse(&venue_pos).unwrap(),
        "engine position vs venue position"
    );
    assert_eq!(state["openOrders"], 0, "orders left open at the venue");
    assert!(
        trades > 0,
        "the venue filled nothing: the test exercised no fill"
    );
    assert!(
        verify.status.success(),
        "replay --verify failed: {}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // Refusals, each before anything is appended.
    let refused = |cfg_text: &str| -> String {
        std::fs::write(tmp.path().join("other.toml"), cfg_text).unwrap();
        let o = kestrel(&[
            "run",
            tmp.path().join("other.toml").to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ])
        .output()
        .unwrap();
        assert_eq!(o.status.code(), Some(2));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let text = config(&paper);
    let e = refused(&text);
    assert!(e.contains("its session ended with a Stop"), "{e}");
    let e = refused(&text.replace("durability = \"sync\"", "durability = \"async\""));
    assert!(
        e.contains("resuming needs runtime.durability = \"sync\""),
        "{e}"
    );
    let e = refused(&text.replace("seed = 5", "seed = 6"));
    assert!(
        e.contains("the configuration differs from the one the journal recorded")
            && e.contains("journal `seed = 5`, given `seed = 6`"),
        "{e}"
    );
    assert_eq!(
        journal_digest(&journal).0,
        after,
        "a refusal appended inputs"
    );
}

/// The simulated venue restarts empty with its process: a resumed session reports
/// every order the rebuilt engine had working as `Expired` (journaled `Venue` inputs
/// right after the resume marker), then goes on; the journal replays byte-identically.
#[test]
fn simulated_venue_resume_expires_every_working_order() {
    let paper = start_paper();
    let dir = tempfile::tempdir().unwrap();
    let cfg_text = config(&paper);
    let (head, tail) = cfg_text.split_once("[venue]\n").unwrap();
    let tail = &tail[tail.find("[[instruments]]").unwrap()..];
    // Quotes 1 % and 2 % away: nothing fills in the second the session runs.
    let cfg_text = format!("{head}[venue]\nkind = \"sim\"\nlatency_ns = 0\n{tail}")
        .replace("\"0.0001,0.0003\"", "\"0.01,0.02\"");
    let cfg = dir.path().join("sim.toml");
    std::fs::write(&cfg, &cfg_text).unwrap();
    let journal = dir.path().join("journal");

    let mut run = start_run(&cfg, &journal);
    run.wait_ready();
    std::thread::sleep(Duration::from_millis(1000));
    run.child.kill().unwrap(); // SIGKILL
    run.child.wait().unwrap();
    let (before, _) = journal_digest(&journal);

    let mut run = start_run(&cfg, &journal);
    run.wait_ready();
    let resumed = run
        .seen
        .iter()
        .find(|l| l.starts_with("kestrel run: resumed"))
        .unwrap_or_else(|| panic!("no resume line in:\n{}", run.seen.join("\n")))
        .clone();
    let count = |what: &str| -> usize {
        let at = resumed
            .find(what)
            .unwrap_or_else(|| panic!("{what} in {resumed}"));
        resumed[..at]
            .split_whitespace()
            .last()
            .and_then(|n| n.trim_start_matches('(').parse().ok())
            .unwrap_or_else(|| panic!("count before {what} in {resumed}"))
    };
    let working = count(" working orders reconciled");
    assert_eq!(count(" reports)"), working, "{resumed}");
    assert!(working > 0, "no order was working at the kill: {resumed}");
    std::thread::sleep(Duration::from_millis(300));
    let status = run.interrupt();
    run.drain();
    assert!(status.success(), "{}", run.seen.join("\n"));

    let (after, _) = journal_digest(&journal);
    assert_eq!(
        after[..before.len()],
        before[..],
        "inputs changed by the resume"
    );
    let inputs = JournalReader::open(&journal).unwrap().inputs().unwrap();
    let marker = inputs
        .iter()
        .position(|i| i.header.source == Source::Session && matches!(i.event, Event::None))
        .expect("resume marker");
    assert_eq!(
        marker,
        before.len(),
        "the marker follows the last journaled input"
    );
    // The reconcile reports come right after the marker (the simulated venue's acks of
    // the orders placed again may follow them).
    let expired: std::collections::BTreeSet<_> = inputs[marker + 1..]
        .iter()
        .take(working)
        .filter_map(|i| match &i.event {
            Event::Exec(r)
                if i.header.source == Source::Venue
                    && r.kind == kestrel_engine::ExecKind::Expired =>
            {
                Some(r.cid)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        expired.len(),
        working,
        "distinct Expired reports after the marker"
    );
    let verify = kestrel(&["replay", "--verify", journal.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
