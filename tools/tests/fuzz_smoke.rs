//! The bounded fuzz run of CI: every parser that reads outside bytes gets thousands of
//! deterministic mutants (seeded byte flips, structural characters, deletions,
//! duplications, truncations) of real payloads from `../shared/data`, the examples
//! and valid journal records, and must return (a value or an error) without
//! panicking. The coverage-guided runs are `fuzz/run.sh SECONDS` (cargo-fuzz, same
//! parsers, behind a flag; see README "Fuzzing and property tests").
//!
//! `KESTREL_FUZZ_SMOKE_MUTANTS` sets the mutants per seed (default 2000).

use kestrel_engine::config::Config;
use kestrel_engine::*;
use kestrel_feeds::binance::Parser;
use kestrel_feeds::csv::{CsvReader, Symbols};
use kestrel_feeds::signals::SignalParser;
use kestrel_gateways::binance::reports::{
    order_list, order_object, trade_list, user_event, venue_error, Instruments, JsonDoc,
};
use kestrel_journal::{decode_input, decode_output, encode_input, encode_output};
use std::io::BufRead;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn data(p: &str) -> PathBuf {
    root().join("../shared/data").join(p)
}

/// The first `n` lines of a (gzip) capture, each without its leading timestamp.
fn capture_bodies(p: &str, n: usize) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(data(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    std::io::BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .take(n)
        .map(|l| {
            let l = l.expect("capture line");
            l.split_once(' ').map_or(l.clone(), |(_, b)| b.to_string())
        })
        .map(String::into_bytes)
        .collect()
}

/// The `json` payloads of a Binance vectors file.
fn vectors(name: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(data(&format!("binance/vectors/{name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let v: serde_json::Value = serde_json::from_str(&text).expect("vectors JSON");
    ["examples", "vectors"]
        .iter()
        .filter_map(|k| v[*k].as_array())
        .flatten()
        .filter_map(|e| e.get("json"))
        .map(|j| j.to_string().into_bytes())
        .collect()
}

/// A small deterministic mutator (xorshift64*).
struct Mutator(u64);

const INTERESTING: &[u8] = b"{}[]\":,.-+0123456789eE \n\\ntfu\x00\xff";

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut b = seed.to_vec();
        for _ in 0..1 + self.below(4) {
            let len = b.len();
            let at = self.below(len + 1);
            match self.below(6) {
                0 if len > 0 => b[at.min(len - 1)] = self.next() as u8,
                1 if len > 0 => b[at.min(len - 1)] = INTERESTING[self.below(INTERESTING.len())],
                2 => {
                    let end = (at + 1 + self.below(16)).min(len);
                    b.drain(at.min(end)..end);
                }
                3 => {
                    let end = (at + 1 + self.below(32)).min(len);
                    let piece = b[at.min(end)..end].to_vec();
                    let to = self.below(b.len() + 1);
                    b.splice(to..to, piece);
                }
                4 => b.truncate(at),
                _ => {
                    let c = INTERESTING[self.below(INTERESTING.len())];
                    b.insert(at, c);
                }
            }
        }
        b
    }
}

fn mutants_per_seed() -> usize {
    std::env::var("KESTREL_FUZZ_SMOKE_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Runs `target` on every seed and on its mutants; returns the executions.
fn run(name: &str, seeds: &[Vec<u8>], mut target: impl FnMut(&[u8])) -> usize {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let mut m = Mutator(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
    let mut n = 0;
    for seed in seeds {
        target(seed);
        n += 1;
        for _ in 0..mutants_per_seed() {
            target(&m.mutate(seed));
            n += 1;
        }
    }
    println!("{name}: {n} executions, no panic");
    n
}

fn spec(symbol: &str) -> InstrumentSpec {
    Config::parse_unvalidated(&format!(
        "[[instruments]]\nsymbol = \"{symbol}\"\nbase = \"B\"\nquote = \"Q\"\n\
         tick_size = \"0.01\"\nlot_size = \"0.00001\"\n"
    ))
    .expect("spec")
    .instruments
    .remove(0)
}

#[test]
fn binance_streams_survive_mutants_of_real_payloads() {
    let mut seeds = capture_bodies("hftbacktest/spot/btcusdt_20240808.gz", 20);
    seeds.extend(capture_bodies("hftbacktest/usdm/btcusdt_20240808.gz", 20));
    for v in [
        "book_ticker.json",
        "depth_update.json",
        "partial_depth.json",
        "trade.json",
        "agg_trade.json",
        "kline.json",
    ] {
        seeds.extend(vectors(v));
    }
    let symbols = [("BTCUSDT".to_string(), 0u16), ("ETHUSDT".to_string(), 1u16)];
    let mut parser = Parser::new(&symbols);
    let mut out = Vec::new();
    let n = run("binance_stream", &seeds, |d| {
        out.clear();
        let _ = parser.parse(&mut d.to_vec(), &mut out);
        out.clear();
        let _ = parser.parse_stream("btcusdt@depth5", &mut d.to_vec(), &mut out);
    });
    assert!(n >= seeds.len() * mutants_per_seed());
}

#[test]
fn binance_order_reports_survive_mutants() {
    let specs = vec![spec("BTCUSDT")];
    let inst = Instruments(&specs);
    let mut seeds = Vec::new();
    for v in [
        "execution_report.json",
        "futures_order_trade_update.json",
        "account_events.json",
        "ws_api_order.json",
        "rest_order_response.json",
        "errors.json",
    ] {
        seeds.extend(vectors(v));
    }
    let mut doc = JsonDoc::default();
    let mut updates = Vec::new();
    run("binance_reports", &seeds, |d| {
        for kind in 0..5 {
            updates.clear();
            let _ = doc.parse(&mut d.to_vec(), |root| {
                let _ = match kind {
                    0 => user_event(root, inst, &mut updates).map(|_| ()),
                    1 => order_object(root, inst, &mut updates),
                    2 => order_list(root, inst, &mut updates),
                    3 => trade_list(root, inst, &mut updates),
                    _ => {
                        let _ = venue_error(kestrel_gateways::binance::Venue::UsdM, 400, root)
                            .map(|e| (e.action(), e.reason()));
                        Ok(())
                    }
                };
            });
        }
    });
}

#[test]
fn copy_trading_signals_survive_mutants() {
    let seeds: Vec<Vec<u8>> = [
        r#"{"id":"m-1","pair":"BTCUSDT","side":"buy","amount":"0.25","entry_price":"64000.5","stop_loss":"0.02","take_profit":"0.05","confidence":"0.9","action":"OPEN"}"#,
        r#"{"id":"m-1","pair":"BTC/USDT","side":"long","action":"CLOSE"}"#,
        r#"{"ticker":"BTCUSDT","action":"sell","contracts":"1","market_position":"flat","prev_market_position":"long","id":"x-1","passphrase":"p"}"#,
        r#"[{"id":"a","pair":"ETH-USDT","side":"sell","amount":"1","action":"OPEN"},{"id":"b"}]"#,
        r#"{"signals":[{"id":"a","pair":"ETHUSDT","side":"buy","amount":"1","action":"OPEN","secret":"s"}]}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let parser = SignalParser::new(&[spec("BTCUSDT"), spec("ETHUSDT")], 0);
    run("signal_parse", &seeds, |d| {
        let _ = parser.parse(&mut d.to_vec());
        let _ = parser.parse_list(&mut d.to_vec());
    });
}

#[test]
fn config_loader_survives_mutants_of_the_examples() {
    let mut paths = vec![root().join("tools/src/default.toml")];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    examples.sort();
    paths.extend(examples);
    let seeds: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut valid = 0;
    run("config_toml", &seeds, |d| {
        let Ok(text) = std::str::from_utf8(d) else {
            return;
        };
        if let Ok(cfg) = Config::from_toml(text) {
            valid += 1;
            let again = Config::from_toml(&cfg.to_toml()).expect("a valid config round-trips");
            assert_eq!(again, cfg);
            let _ = Engine::with_config(1, 1, cfg);
        }
    });
    assert!(valid >= seeds.len(), "every seed config is valid");
}

#[test]
fn journal_decoder_survives_mutants_of_valid_records() {
    let header = Header {
        seq: 7,
        source: Source::Feed,
        ts: 1_700_000_000_000_000_000,
        ..Default::default()
    };
    let mut depth = Depth {
        len: 3,
        ..Default::default()
    };
    depth.levels[0].qty = Dec(5);
    let events = [
        Event::BookTicker(BookTicker {
            bid_px: Dec(100),
            ask_px: Dec(101),
            ..Default::default()
        }),
        Event::Depth(depth),
        Event::Exec(ExecReport {
            cid: ClientOrderId::new(1, 2),
            kind: ExecKind::PartialFill,
            ..Default::default()
        }),
        Event::SessionStart(SessionStart {
            session_id: 1,
            seed: 2,
            config: "[session]\nid = 1\n".into(),
        }),
        Event::Command(Command::KillSwitch),
    ];
    let mut seeds: Vec<Vec<u8>> = events
        .into_iter()
        .map(|event| encode_input(&Input { header, event }))
        .collect();
    seeds.push(encode_output(&Output {
        seq: 3,
        cause: 7,
        ts: 9,
        action: Action::Cancel {
            cid: ClientOrderId::new(1, 2),
            instrument: 0,
        },
    }));
    let mut decoded = 0;
    run("journal_decode", &seeds, |d| {
        decoded += decode_input(d).is_ok() as usize;
        let _ = decode_output(d);
    });
    assert!(decoded >= 5, "the valid records decode");
}

#[test]
fn csv_reader_survives_mutants() {
    let seeds = vec![
        b"ts_ns,symbol,bid_px,bid_qty,ask_px,ask_qty\n1,BTCUSDT,100.5,1,100.6,2\n2,BTCUSDT,100.4,1,100.7,2\n".to_vec(),
        b"ts_ns,symbol,px,qty,side\n1,BTCUSDT,100.5,0.1,buy\n2,ETHUSDT,10,3,sell\n".to_vec(),
    ];
    run("csv_reader", &seeds, |d| {
        let reader = Box::new(std::io::Cursor::new(d.to_vec()));
        if let Ok(mut r) =
            CsvReader::from_reader(Path::new("fuzz.csv"), reader, Symbols::learning())
        {
            for _ in 0..10_000 {
                if r.next_event().is_none() {
                    break;
                }
            }
        }
    });
}
