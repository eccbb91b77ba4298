//! `kestrel import`: every recorded format into a journal that `replay --verify`
//! accepts, instrument inference, clear errors, multi-file merge order.
//! Data: hftbacktest (nkaz001/hftbacktest, MIT), NautilusTrader test data (LGPL-3.0).

use kestrel_engine::config::Config;
use kestrel_engine::{Dec, Event};
use kestrel_journal::JournalReader;
use std::path::Path;
use std::process::{Command, Output};

fn kestrel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
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

fn data(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
        .display()
        .to_string()
}

fn import(args: &[&str]) -> Output {
    let mut a = vec!["import", "--quiet"];
    a.extend_from_slice(args);
    kestrel(&a)
}

fn verify(journal: &Path) {
    let out = kestrel(&["replay", "--verify", journal.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("all byte-identical"), "{}", text(&out));
}

/// (tickers, trades, depth chunks, session config) of a journal; checks seqs and header.
fn census(journal: &Path) -> (usize, usize, usize, Config) {
    let inputs = JournalReader::open(journal).unwrap().inputs().unwrap();
    let Event::SessionStart(s) = &inputs[0].event else {
        panic!("input 1 is not a session start")
    };
    let cfg = Config::from_toml(&s.config).unwrap();
    assert!(cfg.controllers.is_empty());
    let (mut t, mut tr, mut d) = (0, 0, 0);
    for (i, input) in inputs.iter().enumerate() {
        assert_eq!(input.header.seq, i as u64 + 1);
        match input.event {
            Event::BookTicker(_) => t += 1,
            Event::Trade(_) => tr += 1,
            Event::Depth(_) => d += 1,
            _ => {}
        }
    }
    (t, tr, d, cfg)
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

const SPOT_CONFIG: &str =
    "[[instruments]]\nsymbol = \"BTCUSDT\"\nbase = \"BTC\"\nquote = \"USDT\"\n\
                           tick_size = \"0.01\"\nlot_size = \"0.00001\"\n";

#[test]
fn hftbacktest_capture_imports_and_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "spot.toml", SPOT_CONFIG);
    let j = tmp.path().join("j");
    let out = import(&[
        "--config",
        &cfg,
        &data("hftbacktest/spot/btcusdt_20240808.gz"),
        j.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("tickers 28040") && t.contains("trades 9757"),
        "{t}"
    );
    assert!(
        t.contains("messages/s") && t.contains("2024-08-08 23:5"),
        "{t}"
    );
    let (tickers, trades, depth, cfg) = census(&j);
    assert_eq!((tickers, trades), (28_040, 9_757));
    assert!(depth > 3_451, "{depth}");
    assert_eq!(cfg.instruments[0].tick_size, Dec::parse("0.01").unwrap());
    verify(&j);
    // The directory now holds a journal: a second import into it is refused.
    let spot = tmp.path().join("spot.toml");
    let out = import(&[
        "--config",
        spot.to_str().unwrap(),
        &data("hftbacktest/spot/btcusdt_20240808.gz"),
        j.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

const QUOTES: &str = "ts_ns,symbol,bid_px,bid_qty,ask_px,ask_qty\n\
                      1000,BTCUSDT,60000.1,0.5,60000.25,1.125\n\
                      3000,ETHUSDT,3000.5,2,3000.6,0.5\n\
                      5000,BTCUSDT,60000.2,0.25,60000.3,1\n";
const TRADES: &str = "ts_ns,symbol,px,qty,side\n\
                      2000,BTCUSDT,60000.25,0.00012,buy\n\
                      4000,ETHUSDT,3000.55,0.0001,sell\n\
                      5000,ETHUSDT,3000.6,1,buy\n";

#[test]
fn plain_csv_with_inferred_instruments_merges_by_time() {
    let tmp = tempfile::tempdir().unwrap();
    let q = write(tmp.path(), "quotes.csv", QUOTES);
    let t = write(tmp.path(), "trades.csv", TRADES);
    let j = tmp.path().join("j");
    let out = import(&[
        "--infer-instruments",
        "--session-id",
        "7",
        &q,
        &t,
        j.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let (tickers, trades, _, cfg) = census(&j);
    assert_eq!((tickers, trades), (3, 3));
    assert_eq!(cfg.session.id, 7);
    let btc = cfg.instrument("BTCUSDT").unwrap();
    assert_eq!((btc.base.as_str(), btc.quote.as_str()), ("BTC", "USDT"));
    assert_eq!(btc.tick_size, Dec::parse("0.01").unwrap());
    assert_eq!(btc.lot_size, Dec::parse("0.00001").unwrap());
    let eth = cfg.instrument("ETHUSDT").unwrap();
    assert_eq!(eth.tick_size, Dec::parse("0.01").unwrap());
    assert_eq!(eth.lot_size, Dec::parse("0.0001").unwrap());
    // Time order across files; at equal times the earlier file (quotes) goes first.
    let inputs = JournalReader::open(&j).unwrap().inputs().unwrap();
    let ts: Vec<u64> = inputs[1..].iter().map(|i| i.header.ts).collect();
    assert_eq!(ts, vec![1000, 2000, 3000, 4000, 5000, 5000]);
    assert!(matches!(inputs[5].event, Event::BookTicker(_)));
    assert!(matches!(inputs[6].event, Event::Trade(_)));
    verify(&j);
}

#[test]
fn missing_instrument_and_bad_rows_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let q = write(tmp.path(), "quotes.csv", QUOTES);
    let j = tmp.path().join("j");
    let out = import(&[&q, j.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("instrument BTCUSDT is not configured; add it under [[instruments]] or pass --infer-instruments"),
        "{t}"
    );
    // With BTCUSDT configured, ETHUSDT (line 3) is the missing one; nothing is left behind.
    let cfg = write(tmp.path(), "spot.toml", SPOT_CONFIG);
    let out = import(&["--config", &cfg, &q, j.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("instrument ETHUSDT is not configured"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("quotes.csv:3"), "{}", text(&out));
    assert!(!j.exists());

    let bad = write(
        tmp.path(),
        "bad.csv",
        "ts_ns,symbol,px,qty,side\n1,BTCUSDT,1.5,1,buy\n2,BTCUSDT,1.5.1,1,buy\n",
    );
    let out = import(&["--infer-instruments", &bad, j.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("bad.csv:3:") && t.contains("\"px\"") && t.contains("1.5.1"),
        "{t}"
    );
}

#[test]
fn nautilus_and_tardis_samples_import_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("nautilus");
    let out = import(&[
        "--infer-instruments",
        &data("nautilus_trader/binance/btcusdt-quotes.parquet"),
        &data("nautilus_trader/binance/btcusdt-trades.parquet"),
        &data("nautilus_trader/binance/btcusdt-depth-snap.csv"),
        &data("nautilus_trader/binance/btcusdt-depth-update.csv"),
        j.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let (tickers, trades, depth, cfg) = census(&j);
    assert_eq!((tickers, trades), (451, 2_001));
    // The snapshot (7 chunks) is journaled; the update, 10 minutes later, cannot
    // follow it and is dropped by depth sync.
    assert_eq!(depth, 7);
    assert!(
        text(&out).contains("depth sync dropped 7"),
        "{}",
        text(&out)
    );
    assert_eq!(cfg.instruments.len(), 1, "{:?}", cfg.instruments);
    verify(&j);

    let j = tmp.path().join("tardis");
    let files: Vec<String> = [
        "binance-futures_book_snapshot_5_BTCUSDT.csv",
        "binance-futures_book_snapshot_25_BTCUSDT.csv",
        "deribit_incremental_book_L2_BTC-PERPETUAL.csv",
        "bitmex_trades_XBTUSD.csv",
        "huobi-dm-swap_quotes_BTC-USD.csv",
    ]
    .iter()
    .map(|f| data(&format!("nautilus_trader/tardis/{f}")))
    .collect();
    let mut args: Vec<&str> = vec!["--infer-instruments"];
    args.extend(files.iter().map(String::as_str));
    args.push(j.to_str().unwrap());
    let out = import(&args);
    assert!(out.status.success(), "{}", text(&out));
    // BitMEX trade ids are UUIDs: journaled as 0, and the summary says so.
    assert!(
        text(&out).contains("note: 10 trade(s) with a non-numeric id read with trade_id 0"),
        "{}",
        text(&out)
    );
    let (tickers, trades, depth, cfg) = census(&j);
    assert_eq!((tickers, trades), (10, 10));
    assert_eq!(depth, 10 + 40 + 1);
    let xbt = cfg.instrument("XBTUSD").unwrap();
    assert_eq!((xbt.base.as_str(), xbt.quote.as_str()), ("XBT", "USD"));
    assert_eq!(xbt.lot_size, Dec::ONE);
    let inputs = JournalReader::open(&j).unwrap().inputs().unwrap();
    assert!(inputs[1..]
        .windows(2)
        .all(|w| w[0].header.ts <= w[1].header.ts));
    verify(&j);
}

#[test]
fn two_captures_merge_in_time_order() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    let out = import(&[
        "--infer-instruments",
        &data("hftbacktest/spot/ethusdt_20240808.gz"),
        &data("hftbacktest/spot/btcusdt_20240808.gz"),
        j.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let (tickers, trades, _, cfg) = census(&j);
    assert_eq!((tickers, trades), (28_040 + 24_077, 9_757 + 6_106));
    let names: Vec<&str> = cfg.instruments.iter().map(|i| i.symbol.as_str()).collect();
    assert_eq!(names, ["BTCUSDT", "ETHUSDT"]);
    let inputs = JournalReader::open(&j).unwrap().inputs().unwrap();
    let mut backwards = 0;
    let mut switches = 0;
    let mut last_inst = None;
    for w in inputs[1..].windows(2) {
        backwards += (w[1].header.ts < w[0].header.ts) as usize;
        let inst = match w[1].event {
            Event::BookTicker(t) => Some(t.instrument),
            Event::Trade(t) => Some(t.instrument),
            _ => None,
        };
        if inst.is_some() && inst != last_inst {
            switches += 1;
            last_inst = inst;
        }
    }
    // Interleaved, not concatenated; only depth released after a snapshot may step back.
    assert!(switches > 1000, "{switches}");
    assert!(backwards <= 4, "{backwards}");
    verify(&j);
}

#[test]
fn unknown_format_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "x.csv", "a,b,c\n1,2,3\n");
    let out = import(&[&f, tmp.path().join("j").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown data format"), "{}", text(&out));
}

#[test]
fn cryptofeed_captures_import_with_configured_instruments() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = String::new();
    for (sym, base, quote, tick, lot) in [
        ("NKNUSDT", "NKN", "USDT", "0.0001", "0.1"),
        ("BLZETH", "BLZ", "ETH", "0.00000001", "1"),
        ("LRCBTC", "LRC", "BTC", "0.00000001", "1"),
        ("RUNEEUR", "RUNE", "EUR", "0.001", "0.01"),
    ] {
        cfg += &format!(
            "[[instruments]]\nsymbol = \"{sym}\"\nbase = \"{base}\"\nquote = \"{quote}\"\ntick_size = \"{tick}\"\nlot_size = \"{lot}\"\n"
        );
    }
    let cfg = write(tmp.path(), "cf.toml", &cfg);
    let j = tmp.path().join("j");
    let out = import(&[
        "--config",
        &cfg,
        &data("cryptofeed/BINANCE.http.0.0"),
        &data("cryptofeed/BINANCE.ws.1.0"),
        j.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let (tickers, trades, _, config) = census(&j);
    // The README's counts for BINANCE.ws.1.0: 84 bookTicker, 2 aggTrade.
    assert_eq!((tickers, trades), (84, 2));
    assert_eq!(config.instruments.len(), 4);
    let inputs = JournalReader::open(&j).unwrap().inputs().unwrap();
    let klines = inputs
        .iter()
        .filter(|i| matches!(i.event, Event::Kline(_)))
        .count();
    let snapshots = inputs
        .iter()
        .filter(|i| matches!(i.event, Event::Depth(d) if d.snapshot && d.last_chunk))
        .count();
    assert_eq!((klines, snapshots), (2, 4));
    verify(&j);
    // Without instruments the error says what to do.
    let out = import(&[
        &data("cryptofeed/BINANCE.ws.1.0"),
        tmp.path().join("k").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("need the instruments from --config"),
        "{}",
        text(&out)
    );
}
