//! Offline commands over a journal: replay/verify, inspect, latency.

use anyhow::{anyhow, bail, Result};
use hdrhistogram::Histogram;
use kestrel_engine::controllers::copy_trading::REJECT_REASONS;
use kestrel_engine::controllers::ControllerKind;
use kestrel_engine::*;
use kestrel_journal::{encode_output, JournalReader};
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::Path;

/// Result of re-running a journal.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Every output identical.
    Identical {
        /// Inputs replayed.
        inputs: u64,
        /// Outputs compared.
        outputs: u64,
    },
    /// The first output that differs.
    Diverged {
        /// Output sequence number.
        seq: u64,
        /// Input that caused it (as journaled, or as replayed when the journal has none).
        cause: u64,
        /// Journaled output (readable), or "nothing".
        expected: String,
        /// Replayed output, or "nothing".
        got: String,
    },
}

/// Re-runs every journaled input through a fresh engine and compares each output byte
/// for byte with the journal.
pub fn replay(dir: &Path) -> Result<Verdict> {
    let reader = JournalReader::open(dir)?;
    let expected = reader.output_bytes()?;
    let mut engine: Option<Engine> = None;
    let mut idx = 0usize;
    let mut inputs = 0u64;
    let mut verdict = None;
    let mut failure = None;
    reader.for_each_input(|input| {
        inputs += 1;
        if engine.is_none() {
            match &input.event {
                Event::SessionStart(s) => match Engine::new(s) {
                    Ok(e) => engine = Some(e),
                    Err(e) => {
                        failure = Some(anyhow!("journal config is invalid: {e}"));
                        return ControlFlow::Break(());
                    }
                },
                other => {
                    failure = Some(anyhow!(
                        "journal does not start with a session start (input 1 is {other:?})"
                    ));
                    return ControlFlow::Break(());
                }
            }
        }
        let Some(e) = engine.as_mut() else {
            return ControlFlow::Break(());
        };
        for out in e.apply(&input) {
            let bytes = encode_output(out);
            match expected.get(idx) {
                Some((seq, b)) if *seq == out.seq && *b == bytes => idx += 1,
                Some((seq, b)) => {
                    let exp = kestrel_journal::decode_output(b)
                        .map(|o| format!("{o:?}"))
                        .unwrap_or_else(|e| format!("undecodable record: {e}"));
                    verdict = Some(Verdict::Diverged {
                        seq: *seq,
                        cause: out.cause,
                        expected: exp,
                        got: format!("{out:?}"),
                    });
                    return ControlFlow::Break(());
                }
                None => {
                    verdict = Some(Verdict::Diverged {
                        seq: out.seq,
                        cause: out.cause,
                        expected: "nothing".into(),
                        got: format!("{out:?}"),
                    });
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    })?;
    if let Some(f) = failure {
        return Err(f);
    }
    if let Some(v) = verdict {
        return Ok(v);
    }
    if let Some((seq, b)) = expected.get(idx) {
        let exp = kestrel_journal::decode_output(b)
            .map(|o| format!("{o:?}"))
            .unwrap_or_default();
        let cause = kestrel_journal::decode_output(b)
            .map(|o| o.cause)
            .unwrap_or(0);
        return Ok(Verdict::Diverged {
            seq: *seq,
            cause,
            expected: exp,
            got: "nothing".into(),
        });
    }
    Ok(Verdict::Identical {
        inputs,
        outputs: idx as u64,
    })
}

fn fmt_event(e: &Event) -> String {
    match e {
        Event::None => "none".into(),
        Event::SessionStart(s) => format!(
            "session start id={} seed={} config={}B",
            s.session_id,
            s.seed,
            s.config.len()
        ),
        Event::BookTicker(t) => format!(
            "ticker   i{} {} x {} / {} x {}",
            t.instrument, t.bid_qty, t.bid_px, t.ask_px, t.ask_qty
        ),
        Event::Depth(d) => format!(
            "depth    i{} {} {} levels u={}{}",
            d.instrument,
            if d.snapshot { "snapshot" } else { "diff" },
            d.len,
            d.last_update_id,
            if d.last_chunk { "" } else { " (more)" }
        ),
        Event::Trade(t) => format!(
            "trade    i{} {} {} @ {}",
            t.instrument,
            t.aggressor.as_str(),
            t.qty,
            t.px
        ),
        Event::Exec(r) => format!(
            "exec     {} {:?} last {} @ {} cum {} leaves {} fee {}{}",
            r.cid,
            r.kind,
            r.last_qty,
            r.last_px,
            r.cum_qty,
            r.leaves_qty,
            r.fee,
            if r.reason == RejectReason::None {
                String::new()
            } else {
                format!(" reason {:?}", r.reason)
            }
        ),
        Event::Kline(k) => format!(
            "kline    i{} {}s o {} h {} l {} c {} v {}{}",
            k.instrument,
            k.interval_s,
            k.open,
            k.high,
            k.low,
            k.close,
            k.volume,
            if k.closed { " closed" } else { "" }
        ),
        Event::Balance(b) => format!("balance  asset {} total {}", b.asset, b.total),
        Event::Timer(id) => format!("timer    {id}"),
        Event::Command(c) => format!("command  {c:?}"),
        Event::Signal(s) => format!(
            "signal   i{} {:?} {} {} id={:016x} src {} conf {}",
            s.instrument,
            s.action,
            s.side.as_str(),
            s.amount,
            s.id,
            s.source,
            s.confidence
        ),
    }
}

fn fmt_action(a: &Action) -> String {
    match a {
        Action::Place(p) => format!(
            "PLACE  {} i{} {} {:?} {} @ {}",
            p.cid,
            p.instrument,
            p.side.as_str(),
            p.order_type,
            p.qty,
            p.price
        ),
        Action::Cancel { cid, .. } => format!("CANCEL {cid}"),
        Action::Modify {
            cid, price, qty, ..
        } => format!("MODIFY {cid} {qty} @ {price}"),
        Action::ExecutorUpdate {
            executor,
            controller,
            status,
            close_type,
        } => {
            format!("EXECUTOR {executor} (controller {controller}) {status:?} {close_type:?}")
        }
        Action::Alert { code, cid } => format!("ALERT  {code:?} {cid}"),
        Action::Stopped => "STOPPED".into(),
        Action::SignalDecision {
            controller,
            signal,
            instrument,
            outcome,
        } => format!("SIGNAL {signal:016x} i{instrument} (controller {controller}) {outcome:?}"),
        Action::None => "none".into(),
    }
}

fn ts_str(ts: u64) -> String {
    let s = ts / 1_000_000_000;
    let ns = ts % 1_000_000_000;
    let (h, m, sec) = ((s / 3600) % 24, (s / 60) % 60, s % 60);
    format!("{h:02}:{m:02}:{sec:02}.{:06}", ns / 1000)
}

fn mentions(e: &Event, cid: ClientOrderId) -> bool {
    matches!(e, Event::Exec(r) if r.cid == cid)
}

fn action_cid(a: &Action) -> Option<ClientOrderId> {
    match a {
        Action::Place(p) => Some(p.cid),
        Action::Cancel { cid, .. } | Action::Modify { cid, .. } | Action::Alert { cid, .. } => {
            Some(*cid)
        }
        _ => None,
    }
}

/// Lists a journal readably: each input, then the outputs it caused. With `order`,
/// only that order's timeline (the input that caused it, place, acks, fills, cancel).
pub fn inspect(dir: &Path, order: Option<&str>, limit: Option<usize>) -> Result<String> {
    let reader = JournalReader::open(dir)?;
    let outputs = reader.outputs()?;
    let m = reader.meta();
    let mut s = String::new();
    let cid = match order {
        Some(o) => Some(ClientOrderId::parse(o).ok_or_else(|| {
            anyhow!("order id {o:?} is not of the form K<session>-<counter>, e.g. K1-5")
        })?),
        None => None,
    };
    writeln!(
        s,
        "journal {} — session {}, seed {}, schema {}",
        dir.display(),
        m.session_id,
        m.seed,
        m.schema_version
    )?;
    let mut oi = 0usize;
    let mut shown = 0usize;
    let mut cause_of_place = None;
    if let Some(c) = cid {
        cause_of_place = outputs
            .iter()
            .find(|o| matches!(o.action, Action::Place(p) if p.cid == c))
            .map(|o| o.cause);
        if cause_of_place.is_none() {
            bail!("order {c} was never placed in this journal");
        }
    }
    reader.for_each_input(|input| {
        let seq = input.header.seq;
        let show_input = match cid {
            None => true,
            Some(c) => Some(seq) == cause_of_place || mentions(&input.event, c),
        };
        if show_input {
            let _ = writeln!(
                s,
                "in  {:>8} {} {:?} {}",
                seq,
                ts_str(input.header.ts),
                input.header.source,
                fmt_event(&input.event)
            );
            shown += 1;
        }
        while oi < outputs.len() && outputs[oi].cause == seq {
            let o = &outputs[oi];
            if cid.is_none() || action_cid(&o.action) == cid {
                let _ = writeln!(
                    s,
                    "out {:>8} {} cause {:>8} {}",
                    o.seq,
                    ts_str(o.ts),
                    o.cause,
                    fmt_action(&o.action)
                );
                shown += 1;
            }
            oi += 1;
        }
        if limit.is_some_and(|l| shown >= l) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    Ok(s)
}

/// Extracts one stage's duration from a latency record.
type Stage = fn(&kestrel_journal::LatencyRecord) -> u64;

/// The stages of a latency record, in order, tick-to-order last.
const STAGES: [(&str, Stage); 6] = [
    ("parse (recv -> publish)", |r| {
        r.publish_ns.saturating_sub(r.recv_ns)
    }),
    ("ring in (publish -> engine)", |r| {
        r.engine_start_ns.saturating_sub(r.publish_ns)
    }),
    ("engine (apply -> output)", |r| {
        r.engine_end_ns.saturating_sub(r.engine_start_ns)
    }),
    ("ring out (engine -> gateway)", |r| {
        r.gateway_read_ns.saturating_sub(r.engine_end_ns)
    }),
    ("gateway (read -> sent)", |r| {
        r.sent_ns.saturating_sub(r.gateway_read_ns)
    }),
    ("tick-to-order (recv -> sent)", |r| {
        r.sent_ns.saturating_sub(r.recv_ns)
    }),
];

/// Tick-to-order percentiles, overall and per stage, from the journal's latency
/// records; with `plot`, also writes their percentile curves there as SVG (see
/// [`crate::plot`]).
///
/// # Errors
/// An unreadable journal, a journal with no latency records, or a plot file that
/// cannot be written.
pub fn latency(dir: &Path, plot: Option<&Path>) -> Result<String> {
    let reader = JournalReader::open(dir)?;
    let records = reader.latency()?;
    if records.is_empty() {
        bail!(
            "journal {} has no latency records{}: `kestrel run` records one per order it \
             sends; a run that sent none, `kestrel import` and `kestrel backtest` leave none",
            dir.display(),
            if plot.is_some() {
                ", nothing to plot"
            } else {
                ""
            }
        );
    }
    let mut s = String::new();
    if std::env::var_os("KESTREL_LATENCY_RAW").is_some() {
        for r in records.iter().take(5) {
            writeln!(s, "{r:?}")?;
        }
    }
    writeln!(s, "{} orders; nanoseconds", records.len())?;
    writeln!(
        s,
        "{:<30} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "stage", "p50", "p90", "p99", "p99.9", "p99.99", "max"
    )?;
    let mut series = Vec::new();
    for (name, f) in STAGES {
        let h = histogram(records.iter().map(f))?;
        percentile_row(&mut s, name, &h)?;
        if plot.is_some() {
            series.push(crate::plot::Series {
                name: name.to_string(),
                points: h
                    .iter_quantiles(5)
                    .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
                    .collect(),
            });
        }
    }
    if let Some(path) = plot {
        // Tick-to-order first, so it gets the first colour and legend line.
        series.rotate_right(1);
        let title = format!(
            "Tick-to-order latency by percentile ({} orders, {})",
            records.len(),
            dir.display()
        );
        let svg = crate::plot::percentile_svg(&title, records.len() as u64, &series);
        std::fs::write(path, svg)
            .map_err(|e| anyhow!("cannot write plot {}: {e}", path.display()))?;
        writeln!(s, "plot written to {}", path.display())?;
    }
    s.push_str(&signal_to_order(&reader, &records)?);
    Ok(s)
}

/// Percentiles of orders caused by copy-trading signals, from the moment the signal
/// source finished reading the request or frame to the moment the order was sent
/// (empty when no order was caused by a signal).
fn signal_to_order(
    reader: &JournalReader,
    records: &[kestrel_journal::LatencyRecord],
) -> Result<String> {
    let mut signal_seqs = Vec::new();
    reader.for_each_input(|i| {
        if i.header.source == kestrel_engine::Source::Signal {
            signal_seqs.push(i.header.seq);
        }
        ControlFlow::Continue(())
    })?;
    let h = histogram(
        records
            .iter()
            .filter(|r| signal_seqs.binary_search(&r.cause_seq).is_ok())
            .map(|r| r.sent_ns.saturating_sub(r.recv_ns)),
    )?;
    let mut s = String::new();
    if !h.is_empty() {
        writeln!(
            s,
            "{} orders caused by copy-trading signals; nanoseconds",
            h.len()
        )?;
        percentile_row(&mut s, "signal-to-order (recv -> sent)", &h)?;
    }
    Ok(s)
}

/// A histogram of durations in ns (1 ns to an hour, 3 significant digits; 0 counts as 1).
fn histogram(values: impl Iterator<Item = u64>) -> Result<Histogram<u64>> {
    let mut h =
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).map_err(|e| anyhow!("{e}"))?;
    for v in values {
        h.saturating_record(v.max(1));
    }
    Ok(h)
}

/// One line of the percentile table: name, p50, p90, p99, p99.9, p99.99, max.
fn percentile_row(s: &mut String, name: &str, h: &Histogram<u64>) -> std::fmt::Result {
    writeln!(
        s,
        "{:<30} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        name,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.value_at_quantile(0.9999),
        h.max()
    )
}

/// The engine a journal leaves behind: its inputs replayed through a fresh engine.
pub fn replay_engine(dir: &Path) -> Result<Engine> {
    let reader = JournalReader::open(dir)?;
    let mut engine: Option<Engine> = None;
    let mut failure = None;
    reader.for_each_input(|input| {
        if engine.is_none() {
            match &input.event {
                Event::SessionStart(s) => match Engine::new(s) {
                    Ok(e) => engine = Some(e),
                    Err(e) => {
                        failure = Some(anyhow!("journal config is invalid: {e}"));
                        return ControlFlow::Break(());
                    }
                },
                _ => {
                    failure = Some(anyhow!("journal does not start with a session start"));
                    return ControlFlow::Break(());
                }
            }
        }
        if let Some(e) = engine.as_mut() {
            e.apply(&input);
        }
        ControlFlow::Continue(())
    })?;
    if let Some(f) = failure {
        return Err(f);
    }
    engine.ok_or_else(|| anyhow!("journal {} has no inputs", dir.display()))
}

/// The positions an earlier session's controllers held at its end, as `LoadPosition`
/// commands for a session running `cfg` (controllers matched by id; "main" and ids the
/// new session lacks go to "main").
pub fn held_positions(dir: &Path, cfg: &kestrel_engine::config::Config) -> Result<Vec<Command>> {
    let old = replay_engine(dir)?;
    let names = old.report_names();
    let new_ids: Vec<&str> = cfg.controllers.iter().map(|c| c.id()).collect();
    let mut out = Vec::new();
    for (c, perf) in old.performance.iter().enumerate() {
        let name = names.get(c).map_or("main", |n| n.as_str());
        let controller = new_ids
            .iter()
            .position(|id| *id == name)
            .map_or(u16::MAX, |i| i as u16);
        for p in &perf.positions {
            let Some(inst) = old.instruments.get(p.instrument as usize) else {
                continue;
            };
            let Some(instrument) = cfg
                .instruments
                .iter()
                .position(|i| i.symbol == inst.spec.symbol)
            else {
                return Err(anyhow!(
                    "held position in {} is not in this config's [[instruments]]",
                    inst.spec.symbol
                ));
            };
            let pos = &p.position;
            if pos.net.raw() == 0 && pos.realized.raw() == 0 {
                continue;
            }
            out.push(Command::LoadPosition {
                controller,
                instrument: instrument as u16,
                side: p.side,
                net: pos.net,
                entry: pos.entry,
                realized: pos.realized,
                fees: pos.fees,
                volume: pos.volume,
            });
        }
    }
    Ok(out)
}

/// Per-controller performance report of a journal: its inputs replayed through a fresh
/// engine, then each controller's report (and "main" for executors created by hand).
pub fn report(dir: &Path) -> Result<String> {
    let engine = replay_engine(dir)?;
    let mut s = report_text(&engine);
    if s.is_empty() {
        s.push_str("no executors in this journal\n");
    }
    Ok(s)
}

/// Close-type names indexed by Hummingbot's numbers (index 0 unused).
pub const CLOSE_TYPE_NAMES: [&str; 11] = [
    "",
    "time limit",
    "stop loss",
    "take profit",
    "expired",
    "early stop",
    "trailing stop",
    "insufficient balance",
    "failed",
    "completed",
    "position hold",
];

/// Each controller's performance report (pnl, volume, fees, close types, held
/// positions) from an engine's current state; empty when no controller traded.
pub fn report_text(engine: &Engine) -> String {
    let names = CLOSE_TYPE_NAMES;
    let mut s = String::new();
    for (i, name) in engine.report_names().iter().enumerate() {
        let r = engine.report(i);
        let created = engine.performance.get(i).map_or(0, |p| p.created);
        if created == 0 && r.volume == Dec::ZERO {
            continue;
        }
        let _ = writeln!(s, "controller {name}: {created} executors");
        let _ = writeln!(
            s,
            "  pnl      global {} ({}%), realized {} ({}%), unrealized {} ({}%)",
            r.global, r.global_pct, r.realized, r.realized_pct, r.unrealized, r.unrealized_pct
        );
        let _ = writeln!(s, "  volume   {}   fees {}", r.volume, r.fees);
        let closed: Vec<String> = r
            .close_types
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| format!("{} {n}", names[i]))
            .collect();
        let _ = writeln!(
            s,
            "  closed   {}",
            if closed.is_empty() {
                "none".into()
            } else {
                closed.join(", ")
            }
        );
        for p in &r.positions {
            let sym = engine
                .instruments
                .get(p.instrument as usize)
                .map_or("?", |i| i.spec.symbol.as_str());
            let bucket = match p.side {
                None => "",
                Some(kestrel_engine::Side::Buy) => " long",
                Some(kestrel_engine::Side::Sell) => " short",
            };
            let _ = writeln!(
                s,
                "  held     {sym}{bucket}: net {} @ {}, volume {}, realized {} (net of fees), unrealized {}",
                p.net, p.entry, p.volume, p.realized, p.unrealized
            );
        }
    }
    s.push_str(&copy_trading_status(engine));
    s
}

/// Names of the copy-trading refusal reasons, by `RejectReasonCode as usize`.
const REJECT_NAMES: [&str; REJECT_REASONS] = [
    "wrong source",
    "pair not allowed",
    "low confidence",
    "duplicate",
    "max positions",
    "no price",
    "zero amount",
    "no position",
    "inactive",
];

/// Status of every copy-trading controller: source, copy ratio, what its signals did,
/// and the copied positions still open.
pub fn copy_trading_status(engine: &Engine) -> String {
    let mut s = String::new();
    for c in &engine.controllers {
        let ControllerKind::CopyTrading(ct) = &c.kind else {
            continue;
        };
        let _ = writeln!(
            s,
            "copy trading {}: source {:?} {}, copy ratio {}",
            c.base.id, ct.source_kind, ct.source_addr, ct.copy_ratio
        );
        let st = &ct.stats;
        let reasons: Vec<String> = st
            .rejected
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| format!("{} {n}", REJECT_NAMES[i]))
            .collect();
        let _ = writeln!(
            s,
            "  signals  opened {}, closed {}, rejected {}{}",
            st.opened,
            st.closed,
            st.rejected_total(),
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            }
        );
        if ct.active.is_empty() {
            let _ = writeln!(s, "  active   none");
        }
        for p in &ct.active {
            let sym = engine
                .instruments
                .get(p.instrument as usize)
                .map_or("?", |i| i.spec.symbol.as_str());
            let pnl = engine
                .executors
                .get(p.executor)
                .map_or(Dec::ZERO, |e| e.net_pnl_quote(&engine.books));
            let _ = writeln!(
                s,
                "  active   executor {} {sym} {} {} (signal {:016x}), pnl {pnl}",
                p.executor,
                if p.side == kestrel_engine::Side::Buy {
                    "long"
                } else {
                    "short"
                },
                p.amount,
                p.signal
            );
        }
    }
    s
}
