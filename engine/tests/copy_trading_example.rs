//! `examples/copy_trading.toml` parses: the copy-trading controller section as a
//! [`CopyTradingConfig`] and everything else as the session [`Config`].

use kestrel_engine::config::{Config, CopyTradingConfig, SignalAuth, SignalSourceKind};
use kestrel_engine::Dec;

#[test]
fn example_config_parses_and_validates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/copy_trading.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut doc: toml::Table = toml::from_str(&text).unwrap();
    let controllers = doc.remove("controllers").unwrap();
    let mut ct = controllers.as_array().unwrap()[0]
        .as_table()
        .unwrap()
        .clone();
    assert_eq!(ct.remove("type").unwrap().as_str(), Some("copy_trading"));
    let cfg: CopyTradingConfig = ct.try_into().unwrap();
    assert_eq!(cfg.validate(), Ok(()));
    assert_eq!(cfg.allowed_pairs, vec!["BTCUSDT".to_string()]);
    assert_eq!(cfg.copy_ratio, Dec::parse("0.1").unwrap());
    assert_eq!(cfg.max_position_size_quote, Dec::from_int(1000));
    assert_eq!(cfg.time_limit, Some(86400));
    assert_eq!(cfg.source.kind, SignalSourceKind::Webhook);
    assert_eq!(cfg.source.auth, SignalAuth::Hmac);
    assert_eq!(cfg.source.bind, "127.0.0.1:8787");
    assert_eq!(
        cfg.source.secret_env.as_deref(),
        Some("KESTREL_SIGNAL_SECRET")
    );
    let rest = toml::to_string(&doc).unwrap();
    let session = Config::from_toml(&rest).unwrap();
    assert_eq!(session.instruments[0].symbol, "BTCUSDT");
    assert!(session.instrument(&cfg.allowed_pairs[0]).is_some());
}
