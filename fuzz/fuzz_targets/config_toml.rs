//! The session configuration loader: TOML parse and cross-field validation.
#![no_main]
use kestrel_engine::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = Config::from_toml(text) {
        // What the journal stores must load back the same.
        let again = Config::from_toml(&cfg.to_toml()).expect("a valid config round-trips");
        assert_eq!(again, cfg);
        // A valid config builds an engine.
        let _ = kestrel_engine::Engine::with_config(1, 1, cfg);
    }
});
