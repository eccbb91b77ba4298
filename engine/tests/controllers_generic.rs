//! Generic controllers: the built-in `dip_buyer` example, a strategy registered by a
//! test, and the errors a user sees for unknown strategies or bad parameters.

mod common;
use common::*;
use kestrel_engine::config::Config;
use kestrel_engine::controllers::generic::GenericSetup;
use kestrel_engine::controllers::{
    ControllerAction, ControllerField, ControllerKind, ControllerView, GenericStrategy, Registry,
};
use kestrel_engine::executors::{ExecutionStrategy, ExecutorConfig, OrderExecutorConfig};
use kestrel_engine::*;

const T0: u64 = 1_000_000 * S;

const BASE: &str = r#"
[[instruments]]
symbol = "ETHUSDT"
base = "ETH"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.00001"
min_notional = "5"
[balances]
USDT = "100000"
ETH = "100"
[[candles]]
instrument = "ETHUSDT"
interval = "1m"
source = "klines"
max_records = 20
"#;

const DIP: &str = r#"
[[controllers]]
type = "generic"
id = "dip"
strategy = "dip_buyer"
instrument = "ETHUSDT"
total_amount_quote = "100"
[controllers.params]
candles_interval = "1m"
lookback = 3
dip = "0.05"
cooldown_time = 60
"#;

/// The `last_high` the dip buyer reports in its Debug text.
fn last_high(h: &H) -> String {
    let ControllerKind::Generic(g) = h.kind(0) else {
        panic!()
    };
    let text = format!("{:?}", g.strategy);
    let at = text.find("last_high: ").unwrap() + "last_high: ".len();
    text[at..].split(',').next().unwrap().to_string()
}

#[test]
fn dip_buyer_buys_five_percent_below_the_high() {
    let mut h = H::new(&format!("{BASE}{DIP}"));
    let k0 = T0 - 3 * M;
    h.kline(T0, 0, 60, k0, ("110", "100", "104"));
    h.kline(T0, 0, 60, k0 + M, ("104", "101", "103"));
    // Two candles < lookback 3: nothing yet.
    assert!(places(&h.quote(T0, 0, "104.49", "104.51")).is_empty());
    assert_eq!(last_high(&h), "None");
    h.kline(T0 + S, 0, 60, k0 + 2 * M, ("103", "102", "102.5"));
    // High of the last 3 candles 110 → trigger 104.5; mid 105 is above it.
    assert!(places(&h.quote(T0 + 2 * S, 0, "104.99", "105.01")).is_empty());
    assert_eq!(last_high(&h), "Some(110)");
    // Mid 104.5 reaches it: a long position, 100 / 104.5 = 0.95693 ETH at MARKET.
    let outs = h.quote(T0 + 3 * S, 0, "104.49", "104.51");
    assert_eq!(
        orders(&outs),
        vec![(Side::Buy, OrderType::Market, Dec::ZERO, d("0.95693"))]
    );
    let ExecutorConfig::Position(p) = h.configs()[0].1 else {
        panic!()
    };
    assert_eq!(
        (
            p.entry_price,
            p.barrier.stop_loss,
            p.barrier.take_profit,
            p.barrier.time_limit_s
        ),
        (
            Some(d("104.5")),
            Some(d("0.03")),
            Some(d("0.02")),
            Some(3600)
        )
    );
    // max_positions 1: no second one while it is active, cooldown or not.
    assert!(places(&h.quote(T0 + 100 * S, 0, "100", "100.02")).is_empty());
    // Updates: the dip (Custom(0)) is updatable, Custom(1) is not.
    assert!(h
        .update(T0 + 101 * S, 0, ControllerField::Custom(0), "0.1")
        .is_empty());
    assert_eq!(
        alerts(&h.update(T0 + 101 * S, 0, ControllerField::Custom(1), "3")),
        [AlertCode::FieldNotUpdatable]
    );
    assert_eq!(
        alerts(&h.update(T0 + 101 * S, 0, ControllerField::Custom(0), "1.5")),
        [AlertCode::InvalidFieldValue]
    );
}

/// A strategy written in a test: opens one MARKET order executor on its first ready
/// step and counts its steps.
#[derive(Debug, Default)]
struct OneShot {
    steps: u32,
    closed: u32,
}

impl GenericStrategy for OneShot {
    fn on_step(&mut self, view: &ControllerView, actions: &mut Vec<ControllerAction>) {
        let Some(mid) = view.mid(0) else { return };
        self.steps += 1;
        if self.steps == 1 {
            actions.push(ControllerAction::Create {
                level: 7,
                config: ExecutorConfig::Order(OrderExecutorConfig {
                    instrument: 0,
                    side: Side::Sell,
                    amount: Dec::from_int(10).div(mid).unwrap(),
                    strategy: ExecutionStrategy::Market,
                    price: Dec::ZERO,
                    position_action: Default::default(),
                }),
            });
        }
        // Executors this controller created are visible, with their level and side.
        if self.steps == 2 {
            assert_eq!(view.executors.len(), 1);
            assert_eq!(
                (view.executors[0].level, view.executors[0].side),
                (7, Some(Side::Sell))
            );
        }
        if self.steps == 3 {
            assert_eq!(view.closed.len(), 1);
            assert_eq!(view.closed[0].close_type, Some(CloseType::PositionHold));
            assert_eq!(view.held_base(0), d("-0.1"));
        }
    }

    fn on_closed(&mut self, _info: &kestrel_engine::controllers::ExecutorInfo) {
        self.closed += 1;
    }
}

fn one_shot(setup: &GenericSetup) -> Result<Box<dyn GenericStrategy>, String> {
    if !setup.params.is_empty() {
        return Err("takes no parameters".into());
    }
    Ok(Box::new(OneShot::default()))
}

const ONE_SHOT: &str = r#"
[[controllers]]
type = "generic"
id = "mine"
strategy = "one_shot"
instrument = "ETHUSDT"
"#;

#[test]
fn registered_strategy_runs_with_its_view() {
    let cfg = Config::from_toml(&format!("{BASE}{ONE_SHOT}")).unwrap();
    let mut reg = Registry::builtin();
    reg.register("one_shot", one_shot);
    let e = Engine::with_registry(7, 1, cfg.clone(), &reg).unwrap();
    let mut h = H::with_engine(e);
    let outs = h.quote(T0, 0, "99.99", "100.01");
    assert_eq!(
        orders(&outs),
        vec![(Side::Sell, OrderType::Market, Dec::ZERO, d("0.1"))]
    );
    let sell = places(&outs)[0];
    // Steps: once per second at most.
    h.quote(T0 + S / 2, 0, "99.99", "100.01");
    h.quote(T0 + S, 0, "99.99", "100.01");
    h.fill(T0 + S, &sell, "99.99");
    h.quote(T0 + 2 * S, 0, "99.99", "100.01");
    let ControllerKind::Generic(g) = h.kind(0) else {
        panic!()
    };
    assert_eq!(
        format!("{:?}", g.strategy),
        "OneShot { steps: 3, closed: 1 }"
    );
    // Without the registration the name is unknown, and the error lists what is known.
    let e = Engine::with_config(7, 1, cfg).err().unwrap();
    assert_eq!(
        e.0,
        "controller mine: unknown generic strategy \"one_shot\"; registered: dip_buyer, quote_replace"
    );
    let with_params = format!("{BASE}{ONE_SHOT}[controllers.params]\nx = 1\n");
    let e = Engine::with_registry(7, 1, Config::from_toml(&with_params).unwrap(), &reg)
        .err()
        .unwrap();
    assert_eq!(
        e.0,
        "controller mine: strategy one_shot: takes no parameters"
    );
}

#[test]
fn dip_buyer_parameter_errors() {
    let build = |params: &str| {
        let text = format!("{BASE}{DIP}").replace("lookback = 3\n", params);
        Engine::with_config(7, 1, Config::from_toml(&text).unwrap()).map(|_| ())
    };
    assert_eq!(
        build("lookback = \"x\"\n").unwrap_err().0,
        "controller dip: strategy dip_buyer: lookback: expected a whole number >= 0, got \"x\""
    );
    assert_eq!(
        build("look_back = 3\n").unwrap_err().0,
        "controller dip: strategy dip_buyer: unknown parameter `look_back`, expected one of \
         candles_interval, lookback, dip, amount_quote, stop_loss, take_profit, time_limit, \
         cooldown_time, max_positions"
    );
    assert_eq!(
        build("stop_loss = 0.05\n").unwrap_err().0,
        "controller dip: strategy dip_buyer: stop_loss: write decimals as strings (\"0.02\"), got float"
    );
    assert_eq!(
        build("lookback = 0\n").unwrap_err().0,
        "controller dip: strategy dip_buyer: lookback 0 must be in 1..=10000"
    );
    assert_eq!(
        build("lookback = 10001\n").unwrap_err().0,
        "controller dip: strategy dip_buyer: lookback 10001 must be in 1..=10000"
    );
    // Without `lookback` the documented default, 20 candles, is used.
    let text = format!("{BASE}{DIP}").replace("lookback = 3\n", "");
    let engine = Engine::with_config(7, 1, Config::from_toml(&text).unwrap()).unwrap();
    let strategy = format!("{:?}", engine.controllers[0]);
    assert!(strategy.contains("lookback: 20,"), "{strategy}");
    let e = Engine::with_config(
        7,
        1,
        Config::from_toml(
            &format!("{BASE}{DIP}")
                .replace("candles_interval = \"1m\"", "candles_interval = \"5m\""),
        )
        .unwrap(),
    )
    .err()
    .unwrap();
    assert_eq!(
        e.0,
        "controller dip: strategy dip_buyer: needs a [[candles]] entry with instrument = \"ETHUSDT\" and interval = \"5m\""
    );
}
