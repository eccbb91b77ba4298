//! Perpetual accounting: a short position executor on a one-way perpetual runs on
//! margin (no base asset), settles its pnl in quote, and is refused when the margin
//! exceeds the free quote (scenario 16, perp variant: the budget check carries leverage).

use kestrel_engine::config::Config;
use kestrel_engine::executors::{ExecutorConfig, PositionConfig, TripleBarrier};
use kestrel_engine::*;

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

const CONFIG: &str = r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
market = "perpetual-oneway"
leverage = 10
[balances]
USDT = "50"
"#;

struct H {
    e: Engine,
    seq: u64,
}

impl H {
    fn apply(&mut self, ts: u64, event: Event) -> Vec<Output> {
        self.seq += 1;
        self.e
            .apply(&Input {
                header: Header {
                    seq: self.seq,
                    ts,
                    ..Default::default()
                },
                event,
            })
            .to_vec()
    }
    fn tick(&mut self, ts: u64, bid: &str, ask: &str) -> Vec<Output> {
        self.apply(
            ts,
            Event::BookTicker(BookTicker {
                instrument: 0,
                bid_px: d(bid),
                bid_qty: d("50"),
                ask_px: d(ask),
                ask_qty: d("50"),
                update_id: 0,
            }),
        )
    }
    fn fill(&mut self, ts: u64, cid: ClientOrderId, px: &str, qty: &str) -> Vec<Output> {
        self.apply(
            ts,
            Event::Exec(ExecReport {
                cid,
                kind: ExecKind::Ack,
                ..Default::default()
            }),
        );
        self.apply(
            ts,
            Event::Exec(ExecReport {
                cid,
                kind: ExecKind::Fill,
                last_px: d(px),
                last_qty: d(qty),
                cum_qty: d(qty),
                fee: d("0.01"),
                ..Default::default()
            }),
        )
    }
}

fn place(outs: &[Output]) -> Option<PlaceOrder> {
    outs.iter().find_map(|o| match o.action {
        Action::Place(p) => Some(p),
        _ => None,
    })
}

fn short(amount: &str) -> Event {
    Event::Command(Command::CreateExecutor {
        controller: u16::MAX,
        config: ExecutorConfig::Position(PositionConfig {
            side: Side::Sell,
            amount: d(amount),
            barrier: TripleBarrier {
                open_order_type: OrderType::Market,
                stop_loss: Some(d("0.05")),
                ..TripleBarrier::default()
            },
            ..PositionConfig::default()
        }),
    })
}

#[test]
fn short_on_margin_settles_pnl_in_quote() {
    let mut h = H {
        e: Engine::new(&SessionStart {
            session_id: 1,
            seed: 1,
            config: CONFIG.into(),
        })
        .unwrap(),
        seq: 0,
    };
    h.tick(1, "99.99", "100");
    // 1 ETH short at 10x: 10 USDT of margin, no ETH needed.
    let open = place(&h.apply(2, short("1"))).expect("open order");
    assert_eq!((open.side, open.qty), (Side::Sell, d("1")));
    h.fill(3, open.cid, "100", "1");
    let usdt = h.e.portfolio.balances[1].clone();
    assert_eq!(usdt.asset, "USDT");
    assert_eq!((usdt.total, usdt.margin), (d("49.99"), d("10")));
    assert_eq!(h.e.portfolio.balances[0].total, Dec::ZERO, "no ETH moved");
    // Ask 105.01 → stop loss (−5 %): market BUY 1, which reduces and needs no margin.
    let close = place(&h.tick(4, "105", "105.01")).expect("close order");
    assert_eq!((close.side, close.qty), (Side::Buy, d("1")));
    h.fill(5, close.cid, "105", "1");
    let usdt = &h.e.portfolio.balances[1];
    // 50 − 0.01 − 5 (loss) − 0.01; the margin is released.
    assert_eq!((usdt.total, usdt.margin), (d("44.98"), Dec::ZERO));
    assert_eq!(h.e.portfolio.positions[0].net, Dec::ZERO);
}

#[test]
fn short_beyond_the_margin_is_insufficient_balance() {
    let mut h = H {
        e: Engine::new(&SessionStart {
            session_id: 1,
            seed: 1,
            config: CONFIG.into(),
        })
        .unwrap(),
        seq: 0,
    };
    h.tick(1, "99.99", "100");
    // 6 ETH at 100 / 10x = 60 USDT of margin > 50.
    let outs = h.apply(2, short("6"));
    assert!(place(&outs).is_none());
    assert!(outs.iter().any(|o| matches!(
        o.action,
        Action::ExecutorUpdate {
            close_type: Some(CloseType::InsufficientBalance),
            ..
        }
    )));
}

#[test]
fn leverage_is_validated() {
    let bad = CONFIG.replace("leverage = 10", "leverage = 0");
    let e = Config::from_toml(&bad).unwrap_err().to_string();
    assert!(e.contains("leverage must be in 1..=125"), "{e}");
    let spot = CONFIG.replace("market = \"perpetual-oneway\"\n", "");
    let e = Config::from_toml(&spot).unwrap_err().to_string();
    assert!(e.contains("leverage needs a perpetual market"), "{e}");
}
