//! Wrong configurations are refused with messages that name the key and the value.

use kestrel_engine::config::Config;

const INSTRUMENT: &str = r#"
[[instruments]]
symbol = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.01"
lot_size = "0.001"
"#;

/// A live feed from one `[[venues]]` entry with these URLs.
fn venue(ws_url: &str, rest_url: &str) -> String {
    format!(
        "[feed]\nkind = \"live\"\n{INSTRUMENT}[[venues]]\nkind = \"binance-spot\"\n\
         ws_url = \"{ws_url}\"\nrest_url = \"{rest_url}\"\nsymbols = [\"BTCUSDT\"]\n"
    )
}

fn error(text: &str) -> String {
    Config::from_toml(text)
        .err()
        .unwrap_or_else(|| panic!("accepted:\n{text}"))
        .to_string()
}

#[test]
fn wrong_configs_give_clear_messages() {
    let exact = [
        ("", "invalid config: at least one [[instruments]] entry is required"),
        (
            &format!("{INSTRUMENT}{INSTRUMENT}"),
            "invalid config: instrument BTCUSDT is listed twice",
        ),
        (
            &INSTRUMENT.replace("\"0.01\"", "\"0\""),
            "invalid config: BTCUSDT: tick_size must be > 0",
        ),
        (
            &format!("[runtime]\nring_size = 100\n{INSTRUMENT}"),
            "invalid config: runtime.ring_size must be a power of two >= 64, got 100",
        ),
        (
            &format!("[runtime]\ntimer_interval_ms = 0\n{INSTRUMENT}"),
            "invalid config: runtime.timer_interval_ms must be between 1 and 86400000 (one day), got 0",
        ),
        (
            &format!("[runtime]\ntimer_interval_ms = 288230376151711744\n{INSTRUMENT}"),
            "invalid config: runtime.timer_interval_ms must be between 1 and 86400000 (one day), got 288230376151711744",
        ),
        (
            &format!("[venue]\ntaker_fee = \"1.5\"\n{INSTRUMENT}"),
            "invalid config: venue fee rate 1.5 must be in [0, 1)",
        ),
        (
            &format!("[feed]\nkind = \"recorded\"\n{INSTRUMENT}"),
            "invalid config: feed.kind = \"recorded\" needs feed.data",
        ),
        (
            &format!("{INSTRUMENT}[[controllers]]\ntype = \"market_making\"\nid = \"mm\"\ninstrument = \"DOGEUSDT\"\n"),
            "invalid config: controller mm: instrument DOGEUSDT is not in [[instruments]]",
        ),
        (
            &format!("{INSTRUMENT}[[candles]]\ninstrument = \"BTCUSDT\"\ninterval = \"5x\"\n"),
            "invalid config: interval \"5x\" is not a number followed by s, m, h, d or w",
        ),
        (
            &format!("{INSTRUMENT}[risk]\nprice_band = \"2\"\n"),
            "invalid config: risk.price_band must be a fraction in (0, 1) such as 0.05, got 2",
        ),
        (
            &format!("{INSTRUMENT}[risk.instruments.ETHUSDT]\nmax_order_qty = \"1\"\n"),
            "invalid config: risk.instruments.ETHUSDT: ETHUSDT is not in [[instruments]]",
        ),
        (
            &venue("wss://stream.binance.com:9443/stream", "http://127.0.0.1:9444"),
            "invalid config: venue BinanceSpot: ws_url \"wss://stream.binance.com:9443/stream\", \
             rest_url \"http://127.0.0.1:9444\": TLS is not supported yet: use plain ws:// / \
             http:// (for the real venue, through a local TLS-terminating proxy)",
        ),
        (
            &venue("ws://127.0.0.1:9443/stream", "https://api.binance.com"),
            "invalid config: venue BinanceSpot: ws_url \"ws://127.0.0.1:9443/stream\", \
             rest_url \"https://api.binance.com\": TLS is not supported yet: use plain ws:// / \
             http:// (for the real venue, through a local TLS-terminating proxy)",
        ),
        (
            &venue("127.0.0.1:9443/stream", "http://127.0.0.1:9444"),
            "invalid config: venue ws_url \"127.0.0.1:9443/stream\" must start with ws://",
        ),
        (
            &venue("ws://127.0.0.1:9443/stream", "http://127.0.0.1:9444/api/v3"),
            "invalid config: venue rest_url \"http://127.0.0.1:9444/api/v3\" must be http://host:port (no path)",
        ),
    ];
    for (text, want) in exact {
        assert_eq!(error(text), want, "{text}");
    }
    // Parse errors carry the TOML position and name the key or the fix.
    let parse = [
        (
            format!("{INSTRUMENT}[risk]\nmax_order_qty = 0.5\n"),
            "write decimals as strings (\"0.5\")",
        ),
        (
            format!("{INSTRUMENT}[risk]\nmax_ordr_qty = \"1\"\n"),
            "unknown field `max_ordr_qty`",
        ),
        (
            format!("[sesion]\nid = 1\n{INSTRUMENT}"),
            "unknown field `sesion`",
        ),
        (
            format!("{INSTRUMENT}[risk]\nmax_open_orders = -1\n"),
            "max_open_orders",
        ),
    ];
    for (text, want) in parse {
        let e = error(&text);
        assert!(
            e.starts_with("invalid config: TOML parse error at line"),
            "{e}"
        );
        assert!(e.contains(want), "{want:?} not in {e}");
    }
}

/// Regression: an interval whose last character is not ASCII (`"1é"`) split a UTF-8
/// character in two and panicked instead of being refused.
#[test]
fn non_ascii_interval_unit_is_refused_not_a_panic() {
    for interval in ["1é", "é", "15€", "日"] {
        assert_eq!(
            kestrel_engine::config::interval_seconds(interval)
                .unwrap_err()
                .to_string(),
            format!(
                "invalid config: interval {interval:?} is not a number followed by s, m, h, d or w"
            )
        );
        let text = format!(
            "{INSTRUMENT}[[candles]]\ninstrument = \"BTCUSDT\"\ninterval = \"{interval}\"\n"
        );
        assert_eq!(
            error(&text),
            format!(
                "invalid config: interval {interval:?} is not a number followed by s, m, h, d or w"
            )
        );
    }
    assert_eq!(kestrel_engine::config::interval_seconds("15m"), Ok(900));
}
