//! Request-weight and order-count tracking from REST headers
//! (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, `X-MBX-ORDER-COUNT-1D`,
//! `Retry-After`) and WebSocket-API `rateLimits` arrays.
//!
//! The counters are the venue's own (they replace, never add); the connector checks
//! [`RateLimits::blocked_until`] before sending and refuses new orders locally while
//! a ban or a `Retry-After` runs, or when the 10 s order count reached its limit.

use kestrel_feeds::binance::tape::Val;

/// One limit as the venue reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Used in the current interval.
    pub count: u64,
    /// Limit of the interval (0 if the venue did not say).
    pub limit: u64,
}

/// The venue's rate-limit counters as last reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Request weight used in the current minute.
    pub weight_1m: Usage,
    /// Orders placed in the current 10 s.
    pub orders_10s: Usage,
    /// Orders placed in the current minute (USD-M).
    pub orders_1m: Usage,
    /// Orders placed today.
    pub orders_1d: Usage,
    /// Venue time (ms) before which nothing should be sent (ban / Retry-After); 0: none.
    pub blocked_until_ms: u64,
    /// Reports received (headers sets and `rateLimits` arrays).
    pub updates: u64,
}

impl RateLimits {
    /// Takes one HTTP response header; ignores the ones that are not counters.
    /// `now_ms` is venue time, for `Retry-After` (seconds).
    pub fn on_header(&mut self, name: &str, value: &str, now_ms: u64) {
        let Ok(v) = value.trim().parse::<u64>() else {
            return;
        };
        let is = |h: &str| name.eq_ignore_ascii_case(h);
        if is("x-mbx-used-weight-1m") {
            self.weight_1m.count = v;
        } else if is("x-mbx-order-count-10s") {
            self.orders_10s.count = v;
        } else if is("x-mbx-order-count-1m") {
            self.orders_1m.count = v;
        } else if is("x-mbx-order-count-1d") {
            self.orders_1d.count = v;
        } else if is("retry-after") {
            // Saturating: an absurd value is a very long ban, never a wrapped short one.
            let until = now_ms.saturating_add(v.saturating_mul(1000));
            self.blocked_until_ms = self.blocked_until_ms.max(until);
        } else {
            return;
        }
        self.updates += 1;
    }

    /// Takes a WebSocket-API `rateLimits` array.
    pub fn on_ws_rate_limits(&mut self, arr: Val<'_, '_>) {
        let Some(items) = arr.elements() else {
            return;
        };
        for it in items {
            let ty = it.get("rateLimitType").and_then(|v| v.as_str());
            let interval = it.get("interval").and_then(|v| v.as_str());
            let num = it.get("intervalNum").and_then(|v| v.as_u64());
            let usage = Usage {
                count: it.get("count").and_then(|v| v.as_u64()).unwrap_or(0),
                limit: it.get("limit").and_then(|v| v.as_u64()).unwrap_or(0),
            };
            let slot = match (ty, interval, num) {
                (Some("REQUEST_WEIGHT"), Some("MINUTE"), Some(1)) => &mut self.weight_1m,
                (Some("ORDERS"), Some("SECOND"), Some(10)) => &mut self.orders_10s,
                (Some("ORDERS"), Some("MINUTE"), Some(1)) => &mut self.orders_1m,
                (Some("ORDERS"), Some("DAY"), Some(1)) => &mut self.orders_1d,
                _ => continue,
            };
            *slot = usage;
        }
        self.updates += 1;
    }

    /// Records a ban or back-off until venue time `until_ms`.
    pub fn block_until(&mut self, until_ms: u64) {
        self.blocked_until_ms = self.blocked_until_ms.max(until_ms);
    }

    /// `Some(until)` while new orders must wait: a ban / Retry-After still running at
    /// venue time `now_ms`, or the 10 s order count at its limit (wait 10 s).
    pub fn blocked_until(&self, now_ms: u64) -> Option<u64> {
        if self.blocked_until_ms > now_ms {
            return Some(self.blocked_until_ms);
        }
        let o = self.orders_10s;
        (o.limit > 0 && o.count >= o.limit).then_some(now_ms.saturating_add(10_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_replace_counters() {
        let mut r = RateLimits::default();
        r.on_header("X-MBX-USED-WEIGHT-1M", "41", 0);
        r.on_header("x-mbx-order-count-10s", " 3 ", 0);
        r.on_header("X-MBX-ORDER-COUNT-1D", "77", 0);
        r.on_header("Content-Length", "12", 0);
        r.on_header("X-MBX-USED-WEIGHT-1M", "43", 0);
        assert_eq!(
            (r.weight_1m.count, r.orders_10s.count, r.orders_1d.count),
            (43, 3, 77)
        );
        assert_eq!(r.updates, 4);
        assert_eq!(r.blocked_until(5), None);
        r.on_header("Retry-After", "2", 1_000);
        assert_eq!(r.blocked_until(1_500), Some(3_000));
        assert_eq!(r.blocked_until(3_000), None);
    }

    #[test]
    fn huge_retry_after_blocks_for_good() {
        // 18446744073709552 s × 1000 wraps to 384 ms; u64::MAX s overflows outright.
        for v in ["18446744073709552", "18446744073709551615"] {
            let mut r = RateLimits::default();
            r.on_header("Retry-After", v, 1_000);
            assert_eq!(r.blocked_until_ms, u64::MAX);
            assert_eq!(r.blocked_until(1_000 + 3_600_000), Some(u64::MAX));
        }
        // The 10 s order-count block near the end of time saturates too.
        let r = RateLimits {
            orders_10s: Usage { count: 5, limit: 5 },
            ..Default::default()
        };
        assert_eq!(r.blocked_until(u64::MAX - 1), Some(u64::MAX));
    }

    /// The WS-API response `id` of `ws_api_order.json`, as sent.
    fn vector(id: &str) -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/binance/vectors/ws_api_order.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let examples = v["examples"].as_array().unwrap();
        let ex = examples.iter().find(|e| e["id"] == id).unwrap();
        serde_json::to_vec(&ex["json"]).unwrap()
    }

    fn usage(count: u64, limit: u64) -> Usage {
        Usage { count, limit }
    }

    #[test]
    fn ws_rate_limits_from_vector() {
        let read = |id: &str| {
            let mut text = vector(id);
            let tape = simd_json::to_tape(&mut text).unwrap();
            let root = Val::root(&tape.0).unwrap();
            let mut r = RateLimits::default();
            r.on_ws_rate_limits(root.get("rateLimits").unwrap());
            r
        };
        // USD-M: weight per minute, orders per 10 s and per minute.
        let r = read("usdm_order_place_response_doc");
        assert_eq!(
            (r.weight_1m, r.orders_10s, r.orders_1m, r.orders_1d),
            (
                usage(1, 2400),
                usage(1, 300),
                usage(0, 1200),
                Usage::default()
            )
        );
        // Spot: orders per 10 s and per day, weight per minute.
        let mut r = read("spot_response_success_doc");
        assert_eq!(
            (r.weight_1m, r.orders_10s, r.orders_1m, r.orders_1d),
            (
                usage(321, 6000),
                usage(12, 50),
                Usage::default(),
                usage(4043, 160000)
            )
        );
        r.orders_10s.count = 50;
        assert_eq!(r.blocked_until(100), Some(10_100));
    }
}
