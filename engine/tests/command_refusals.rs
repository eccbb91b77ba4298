//! Commands the engine cannot carry out are refused with an alert, not a panic: an
//! executor for an instrument the session does not have (a hand-written command, or
//! a corrupt journal replayed).

use kestrel_engine::executors::arbitrage::ArbitrageConfig;
use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::*;

const CONFIG: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
[balances]
BTC = "10"
USDT = "1000000"
"#;

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn order(instrument: InstrumentId) -> ExecutorConfig {
    ExecutorConfig::Order(OrderExecutorConfig {
        instrument,
        side: Side::Buy,
        amount: d("0.01"),
        strategy: ExecutionStrategy::Limit,
        price: d("99"),
        position_action: PositionAction::Open,
    })
}

#[test]
fn an_executor_for_an_unknown_instrument_is_refused_with_an_alert() {
    let start = SessionStart {
        session_id: 1,
        seed: 1,
        config: CONFIG.into(),
    };
    let mut e = Engine::new(&start).unwrap();
    let mut seq = 0;
    let mut apply = |e: &mut Engine, event: Event| {
        seq += 1;
        let input = Input {
            header: Header {
                seq,
                ts: seq * 1_000,
                ..Default::default()
            },
            event,
        };
        e.apply(&input).to_vec()
    };
    apply(
        &mut e,
        Event::BookTicker(BookTicker {
            instrument: 0,
            bid_px: d("100"),
            bid_qty: d("1"),
            ask_px: d("100.01"),
            ask_qty: d("1"),
            update_id: 1,
        }),
    );
    let arb = |buying, selling| {
        ExecutorConfig::Arbitrage(ArbitrageConfig {
            buying,
            selling,
            order_amount: d("1"),
            min_profitability: d("0.01"),
            buy_taker_fee: d("0.001"),
            sell_taker_fee: d("0.001"),
            max_retries: 0,
        })
    };
    for config in [order(7), order(1), arb(0, 9), arb(3, 0)] {
        let outs = apply(
            &mut e,
            Event::Command(Command::CreateExecutor {
                controller: u16::MAX,
                config,
            }),
        );
        let actions: Vec<_> = outs.iter().map(|o| o.action).collect();
        assert_eq!(
            actions,
            vec![Action::Alert {
                code: AlertCode::UnknownInstrument,
                cid: Default::default(),
            }],
            "{config:?}"
        );
        assert_eq!(e.executors.live(), 0);
    }
    // The session's own instrument is taken.
    let outs = apply(
        &mut e,
        Event::Command(Command::CreateExecutor {
            controller: u16::MAX,
            config: order(0),
        }),
    );
    assert_eq!(e.executors.live(), 1);
    assert!(outs
        .iter()
        .any(|o| matches!(o.action, Action::Place(p) if p.price == d("99"))));
}
