//! Kestrel's half of the side-by-side benchmark (`benches/peers/run.sh`): the
//! cancel/replace market maker of `../shared/peers` (NautilusTrader's
//! `nautilus_bench.py` and hftbacktest's `hftbacktest_bench.py`) as a generic
//! controller, run by [`SimLoop`] (engine + simulated venue on one thread, in event
//! time, as `kestrel backtest` runs it) over the plain-CSV files `gen_data.py` writes.
//!
//! Strategy ([`QuoteReplace`], `strategy = "quote_replace"`): on every book ticker,
//! stop (cancel) the bid and ask executors still working, then open two order
//! executors, a LIMIT buy at `mid − offset_ticks · tick` and a LIMIT sell at
//! `mid + offset_ticks · tick` (rounded to the nearest tick, halves up), each for `qty`
//! base. Trades and timers do not trigger it. A filled order closes its executor
//! (it holds the fill); only working executors are stopped.
//!
//! Data: files are read by [`CsvReader`], the reader `kestrel import` and `kestrel
//! backtest` use for plain CSV, merged by event time (ties go to the earlier file) and
//! passed through [`DepthSync`] as those commands do.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

pub use kestrel_engine::controllers::quote_replace::QuoteReplace;
use kestrel_engine::controllers::Registry;
use kestrel_engine::{Event, SessionStart};
use kestrel_feeds::csv::{CsvReader, Symbols};
use kestrel_feeds::{DepthSync, FeedError};
use kestrel_gateways::SimLoop;
use kestrel_journal::{JournalOptions, JournalWriter, Meta};

/// Name the strategy is registered under.
pub const STRATEGY: &str = kestrel_engine::controllers::quote_replace::NAME;

/// Inputs per journal append when a run journals (as `kestrel backtest`).
const BATCH: usize = 4096;

/// Timer period of event time (`runtime.timer_interval_ms = 1000`), as `kestrel
/// backtest` publishes timers.
const TIMER_NS: u64 = 1_000_000_000;

/// The built-in strategies (they include [`QuoteReplace`]).
pub fn registry() -> Registry {
    Registry::builtin()
}

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The cancel/replace market maker.
    Mm,
    /// No controller: market data through the engine and the venue only.
    None,
}

/// The session config: BTCUSDT as `gen_data.py` models it (tick 0.01, lot 0.001,
/// min notional 5 USDT, as `nautilus_bench.py`'s instrument), 0.1 % maker and taker
/// fees, no order latency, a 10 µs market-data latency (the venue sees each event
/// 10 µs before the engine, as hftbacktest's `local_ts = exch_ts + 10 µs` in
/// `gen_data.py`; so a quote's fills reach the engine before the quote), the
/// risk-averse queue, the peers' balances
/// (10,000,000 USDT and 1,000 BTC), and in [`Mode::Mm`] the [`QuoteReplace`]
/// controller with a 10-tick offset and 0.001 BTC orders.
pub fn config(mode: Mode) -> String {
    let mut s = String::from(
        r#"[session]
id = 1
seed = 42

[runtime]
timer_interval_ms = 1000

[venue]
latency_ns = 0
md_latency_ns = 10000
maker_fee = "0.001"
taker_fee = "0.001"
queue_model = "risk-averse"
max_orders_per_sec = 0

[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
min_notional = "5"

[balances]
BTC = "1000"
USDT = "10000000"
"#,
    );
    if mode == Mode::Mm {
        s.push_str(
            r#"
[[controllers]]
type = "generic"
id = "quote-replace"
strategy = "quote_replace"
instrument = "BTCUSDT"
update_interval = "0"
total_amount_quote = "1000"
[controllers.params]
offset_ticks = 10
qty = "0.001"
"#,
        );
    }
    s
}

/// Market events loaded into memory, in the order the engine takes them.
#[derive(Clone, Debug, Default)]
pub struct Events {
    /// `(event time ns, event)`.
    pub events: Vec<(u64, Event)>,
    /// Book tickers among them.
    pub quotes: u64,
    /// Trades among them.
    pub trades: u64,
}

impl Events {
    /// The first `quotes` book tickers and the other events up to the last of them
    /// (`nautilus_bench.py --limit`: trades at or before the last quote kept).
    pub fn limit(&self, quotes: u64) -> Events {
        let is_quote = |e: &Event| matches!(e, Event::BookTicker(_));
        let last = match quotes.checked_sub(1) {
            None => return Events::default(),
            Some(k) => self
                .events
                .iter()
                .filter(|(_, e)| is_quote(e))
                .nth(k as usize)
                .map(|(ts, _)| *ts),
        };
        let Some(last) = last else {
            return self.clone();
        };
        let mut out = Events::default();
        for (ts, e) in self.events.iter().take_while(|(ts, _)| *ts <= last) {
            if is_quote(e) {
                if out.quotes == quotes {
                    continue;
                }
                out.quotes += 1;
            } else if matches!(e, Event::Trade(_)) {
                out.trades += 1;
            }
            out.events.push((*ts, e.clone()));
        }
        out
    }
}

/// Reads plain-CSV quote and trade files for symbol `BTCUSDT` (instrument 0) as
/// `kestrel import` does (see the module docs).
///
/// # Errors
/// The first unreadable file or malformed line, with its file and line.
pub fn load(paths: &[PathBuf]) -> Result<Events, FeedError> {
    let symbols = Symbols::fixed(&[("BTCUSDT".to_string(), 0)]);
    let mut all: Vec<(u64, u64, Event)> = Vec::new();
    for p in paths {
        let mut r = CsvReader::open(p, symbols.clone())?;
        while let Some(item) = r.next_event() {
            all.push(item?);
        }
    }
    // Stable: equal times keep file order, as the import's k-way merge.
    all.sort_by_key(|(ts, _, _)| *ts);
    let mut sync = DepthSync::new();
    let mut ready = VecDeque::new();
    let mut out = Events {
        events: Vec::with_capacity(all.len()),
        ..Events::default()
    };
    for (ts, v, e) in all {
        sync.push(ts, v, e, &mut ready);
        for (ts, _, e) in ready.drain(..) {
            match e {
                Event::BookTicker(_) => out.quotes += 1,
                Event::Trade(_) => out.trades += 1,
                _ => {}
            }
            out.events.push((ts, e));
        }
    }
    Ok(out)
}

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Inputs the engine applied (session start, market data, timers, execution
    /// reports, stop).
    pub inputs: u64,
    /// Orders placed.
    pub placed: u64,
    /// Cancels sent.
    pub canceled: u64,
    /// Fill reports applied.
    pub fills: u64,
    /// Reject reports.
    pub rejects: u64,
}

/// Runs one backtest over `events` (timers every second of event time and a stop
/// after the last event, as `kestrel backtest`), journaling every input and output to
/// a new journal at `journal` (fsync off, batches of 4096 inputs) when given.
///
/// # Errors
/// An invalid config, or a journal that cannot be created or written.
pub fn run(events: &[(u64, Event)], mode: Mode, journal: Option<&Path>) -> Result<Outcome, String> {
    let cfg = config(mode);
    let start = SessionStart {
        session_id: 1,
        seed: 42,
        config: cfg.clone(),
    };
    let mut sim = SimLoop::with_registry(start, &registry()).map_err(|e| e.to_string())?;
    let mut writer = match journal {
        Some(dir) => {
            let meta = Meta::new(1, 42, cfg, 0);
            let opts = JournalOptions {
                fsync: false,
                max_mib: 64 * 1024,
            };
            Some(JournalWriter::create(dir, &meta, &opts).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    sim.record = writer.is_some();
    let mut flush = |sim: &mut SimLoop| -> Result<(), String> {
        if let Some(w) = writer.as_mut() {
            w.append(&sim.inputs, &sim.outputs, &[])
                .map_err(|e| e.to_string())?;
            sim.inputs.clear();
            sim.outputs.clear();
        }
        Ok(())
    };
    let mut next = events
        .first()
        .map_or(0, |(ts, _)| (ts / TIMER_NS).saturating_add(1) * TIMER_NS);
    let mut last = 0;
    for (ts, e) in events {
        while *ts >= next {
            sim.push(next, Event::Timer(0));
            next += TIMER_NS;
        }
        sim.push(*ts, e.clone());
        last = *ts;
        if sim.inputs.len() >= BATCH {
            flush(&mut sim)?;
        }
    }
    sim.stop(last);
    flush(&mut sim)?;
    Ok(Outcome {
        inputs: sim.seq(),
        placed: sim.sent.places,
        canceled: sim.sent.cancels,
        fills: sim.engine.orders.fills,
        rejects: sim.engine.stats.rejects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_engine::{BookTicker, Dec, Side};

    fn quote(bid: i64, ask: i64) -> Event {
        Event::BookTicker(BookTicker {
            instrument: 0,
            bid_px: Dec(bid * 10_000_000),
            bid_qty: Dec(1_000_000_000),
            ask_px: Dec(ask * 10_000_000),
            ask_qty: Dec(1_000_000_000),
            update_id: 0,
        })
    }

    fn trade(px_ticks: i64, aggressor: Side) -> Event {
        Event::Trade(kestrel_engine::Trade {
            instrument: 0,
            px: Dec(px_ticks * 10_000_000),
            qty: Dec(5_000_000_000),
            aggressor,
            trade_id: 0,
        })
    }

    #[test]
    fn rounds_to_the_nearest_tick_halves_up() {
        let q = QuoteReplace {
            instrument: 0,
            tick: kestrel_engine::num::Step::new(Dec(10_000_000)),
            offset: Dec(100_000_000),
            qty: Dec(1_000_000),
            seen_tickers: 0,
        };
        assert_eq!(
            q.round_to_tick(Dec(60_000_005_000_000)),
            Dec(60_000_010_000_000)
        );
        assert_eq!(
            q.round_to_tick(Dec(60_000_004_999_999)),
            Dec(60_000_000_000_000)
        );
        assert_eq!(
            q.round_to_tick(Dec(60_000_010_000_000)),
            Dec(60_000_010_000_000)
        );
    }

    #[test]
    fn cancels_and_replaces_on_every_quote_only() {
        let t0 = 1_704_067_200_000_000_000u64;
        // Ticks of 0.01: bid 6,000,000 = 60000.00.
        let events = vec![
            (t0, quote(6_000_000, 6_000_001)),
            (t0 + 1_000, trade(6_000_001, Side::Buy)),
            (t0 + 1_000_000, quote(6_000_010, 6_000_012)),
            (t0 + 2_000_000, quote(6_000_010, 6_000_012)),
        ];
        let o = run(&events, Mode::Mm, None).expect("runs");
        // Three quotes: two orders each; quotes 2 and 3 cancel both resting ones; the
        // trade triggers nothing and fills nothing (10 ticks away).
        assert_eq!(o.placed, 6);
        assert_eq!(o.canceled, 4 + 2, "4 replaced, 2 canceled by the stop");
        assert_eq!(o.fills, 0);
        assert_eq!(o.rejects, 0);
        let none = run(&events, Mode::None, None).expect("runs");
        assert_eq!(none.placed, 0);
        // Session start, 4 market events, stop.
        assert_eq!(none.inputs, 6);
    }

    #[test]
    fn quotes_sit_ten_ticks_from_the_mid_and_fill_on_a_trade_through() {
        let t0 = 1_704_067_200_000_000_000u64;
        let events = vec![
            // mid 60000.005 -> bid 59999.905 -> 59999.91, ask 60000.105 -> 60000.11
            (t0, quote(6_000_000, 6_000_001)),
            // a sell through the bid 1 ms later: fills it
            (t0 + 1_000_000, trade(5_999_990, Side::Sell)),
        ];
        let dir = tempfile::tempdir().expect("tmp");
        let j = dir.path().join("j");
        let o = run(&events, Mode::Mm, Some(&j)).expect("runs");
        assert_eq!(o.placed, 2);
        assert_eq!(o.fills, 1);
        let r = kestrel_journal::JournalReader::open(&j).expect("journal");
        let places: Vec<(Side, Dec)> = r
            .outputs()
            .expect("outputs")
            .iter()
            .filter_map(|o| match o.action {
                kestrel_engine::Action::Place(p) => Some((p.side, p.price)),
                _ => None,
            })
            .collect();
        assert_eq!(
            places,
            [
                (Side::Buy, Dec(59_999_910_000_000)),
                (Side::Sell, Dec(60_000_110_000_000))
            ]
        );
        assert_eq!(r.input_count().expect("count"), o.inputs);
    }

    #[test]
    fn limit_keeps_the_first_quotes_and_their_trades() {
        let ev = Events {
            events: vec![
                (1, quote(100, 101)),
                (2, trade(100, Side::Sell)),
                (3, quote(100, 101)),
                (4, trade(101, Side::Buy)),
                (5, quote(100, 101)),
            ],
            quotes: 3,
            trades: 2,
        };
        let l = ev.limit(2);
        assert_eq!(l.quotes, 2);
        assert_eq!(l.trades, 1);
        assert_eq!(
            l.events.iter().map(|(ts, _)| *ts).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(ev.limit(10).events.len(), 5);
        assert!(ev.limit(0).events.is_empty());
    }
}
