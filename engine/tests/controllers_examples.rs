//! Every example in `examples/` parses, validates, builds an engine, survives the
//! TOML round trip the journal makes, and names data that exists.

use kestrel_engine::config::{Config, ControllerConfig, FeedKind};
use kestrel_engine::controllers::ControllerKind;
use kestrel_engine::Engine;

const EXAMPLES: [(&str, &str); 6] = [
    (
        "market_making",
        include_str!("../../examples/market_making.toml"),
    ),
    (
        "dynamic_market_making",
        include_str!("../../examples/dynamic_market_making.toml"),
    ),
    (
        "directional",
        include_str!("../../examples/directional.toml"),
    ),
    ("arbitrage", include_str!("../../examples/arbitrage.toml")),
    ("xemm", include_str!("../../examples/xemm.toml")),
    ("generic", include_str!("../../examples/generic.toml")),
];

#[test]
fn examples_parse_validate_and_build() {
    for (name, text) in EXAMPLES {
        let cfg = Config::from_toml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The journal stores the config as TOML; it must read back the same.
        let again = Config::from_toml(&cfg.to_toml()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, cfg, "{name}: TOML round trip");
        let e = Engine::with_config(cfg.session.id, cfg.session.seed, cfg.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(e.controllers.len(), 1, "{name}");
        let kind = match (&cfg.controllers[0], &e.controllers[0].kind) {
            (ControllerConfig::MarketMaking(_), ControllerKind::MarketMaking(m)) => {
                assert!(m.natr.is_none());
                "market_making"
            }
            (ControllerConfig::Dman(_), ControllerKind::MarketMaking(m)) => {
                assert_eq!(m.natr.as_ref().map(|n| n.interval_s), Some(10));
                "dynamic_market_making"
            }
            (ControllerConfig::Directional(_), ControllerKind::Directional(_)) => "directional",
            (ControllerConfig::Arbitrage(_), ControllerKind::Arbitrage(_)) => "arbitrage",
            (ControllerConfig::Xemm(_), ControllerKind::Xemm(x)) => {
                assert_eq!(x.levels.len(), 4);
                "xemm"
            }
            (ControllerConfig::Generic(_), ControllerKind::Generic(g)) => {
                assert_eq!(g.name, "dip_buyer");
                "generic"
            }
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(kind, name);
        // Recorded data named by an example exists (paths are relative to the
        // repository root, where `kestrel run` is started).
        if cfg.feed.kind == FeedKind::Recorded {
            let data = cfg.feed.data.as_deref().unwrap();
            let path = std::path::Path::new("..").join(data);
            assert!(path.exists(), "{name}: {} is missing", path.display());
        }
    }
}
