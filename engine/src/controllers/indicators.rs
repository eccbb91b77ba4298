//! Incremental indicators over candles, in decimal fixed point (`Dec`, 1e-9), so the
//! values that reach orders (NATR-scaled spreads) are exact integers and replay
//! reproduces them bit for bit.
//!
//! Each indicator has `push` (a candle closed: fold it in) and a `peek` that evaluates
//! the indicator as if a still-forming candle were pushed, without changing the state:
//! Hummingbot computes its indicators over a candles frame whose last row is the
//! current, forming candle, and so does Kestrel. [`CandleCursor`] walks a
//! [`CandleSeries`] and hands each candle to `push` exactly once, once it is followed
//! by a newer one.
//!
//! Definitions (pandas_ta, as Hummingbot's controllers use them):
//! - EMA(n): seeded with the SMA of the first n values, then `ema += α·(x − ema)`,
//!   α = 2/(n+1) truncated to 1e-9 (pandas `ewm(span=n, adjust=False)`).
//! - MACD(f, s, g): `macd = EMA_f − EMA_s` from the s-th value on; `signal = EMA_g(macd)`;
//!   `histogram = macd − signal`.
//! - Bollinger(n, k): SMA ± k·σ with the population σ (ddof 0) of the last n closes;
//!   `%B = (close − lower) / (upper − lower)`, undefined when the bands coincide.
//!   σ is the floor of the exact square root of the exact variance (128-bit integers).
//! - ATR(n): Wilder's (TA-Lib's): true range `max(h − l, |h − prev close|, |l − prev close|)`
//!   from the second candle on; the first ATR is the SMA of n true ranges, then
//!   `atr = (atr·(n−1) + tr) / n`. NATR = ATR / close (a fraction; pandas_ta's natr / 100).
//!
//! Costs: O(1) per candle and per peek; no allocation after construction (the
//! Bollinger window is a ring buffer sized once). Limits: a cursor that falls more than
//! `max_records` candles behind skips the candles the series already dropped.

use crate::market_data::{Candle, CandleSeries};
use crate::num::Dec;

/// Floor of the square root of `v`.
pub fn isqrt(v: u128) -> u128 {
    if v < 2 {
        return v;
    }
    // Newton's method from an over-estimate: decreases monotonically to the floor.
    let bits = 128 - v.leading_zeros();
    let mut x: u128 = 1 << bits.div_ceil(2);
    loop {
        let y = (x + v / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

/// Exponential moving average seeded with the SMA of its first `n` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ema {
    n: u32,
    alpha: Dec,
    count: u32,
    seed_sum: i128,
    value: Dec,
}

impl Ema {
    /// EMA of length `n` (≥ 1).
    pub fn new(n: u32) -> Ema {
        let n = n.max(1);
        Ema {
            n,
            alpha: Dec::from_int(2)
                .div(Dec::from_int(n as i64 + 1))
                .unwrap_or(Dec::ONE),
            count: 0,
            seed_sum: 0,
            value: Dec::ZERO,
        }
    }

    /// Folds `x` in; returns the EMA once `n` values were seen.
    pub fn push(&mut self, x: Dec) -> Option<Dec> {
        if self.count < self.n {
            self.seed_sum += x.raw() as i128;
            self.count += 1;
            if self.count < self.n {
                return None;
            }
            self.value = Dec((self.seed_sum / self.n as i128) as i64);
            return Some(self.value);
        }
        self.value += self.alpha.mul(x - self.value);
        Some(self.value)
    }

    /// The current value (None before `n` values).
    pub fn value(&self) -> Option<Dec> {
        (self.count >= self.n).then_some(self.value)
    }
}

/// MACD line, signal line and histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacdValue {
    /// Fast EMA − slow EMA.
    pub macd: Dec,
    /// EMA of the MACD line.
    pub signal: Dec,
    /// macd − signal.
    pub histogram: Dec,
}

/// Incremental MACD(fast, slow, signal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    last: Option<MacdValue>,
}

impl Macd {
    /// MACD with the three EMA lengths.
    pub fn new(fast: u32, slow: u32, signal: u32) -> Macd {
        Macd {
            fast: Ema::new(fast),
            slow: Ema::new(slow),
            signal: Ema::new(signal),
            last: None,
        }
    }

    /// Folds a close in; returns the value once the signal line exists.
    pub fn push(&mut self, close: Dec) -> Option<MacdValue> {
        let f = self.fast.push(close);
        let s = self.slow.push(close);
        let (Some(f), Some(s)) = (f, s) else {
            return None;
        };
        let macd = f - s;
        let signal = self.signal.push(macd)?;
        self.last = Some(MacdValue {
            macd,
            signal,
            histogram: macd - signal,
        });
        self.last
    }

    /// The value if `close` were pushed (state unchanged).
    pub fn peek(&self, close: Dec) -> Option<MacdValue> {
        let mut copy = *self;
        copy.push(close)
    }

    /// The last value pushed.
    pub fn value(&self) -> Option<MacdValue> {
        self.last
    }
}

/// Bollinger bands and %B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bands {
    /// SMA.
    pub middle: Dec,
    /// SMA + k·σ.
    pub upper: Dec,
    /// SMA − k·σ.
    pub lower: Dec,
    /// Population standard deviation.
    pub std: Dec,
    /// (close − lower) / (upper − lower); None when the bands coincide.
    pub percent_b: Option<Dec>,
}

/// Incremental Bollinger(n, k): a ring of the last n − 1 closed candles' closes and
/// their exact sums; the n-th value is the forming candle (or the one peeked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bollinger {
    n: u32,
    k: Dec,
    ring: Vec<i64>,
    head: usize,
    sum: i128,
    sumsq: i128,
}

impl Bollinger {
    /// Bollinger of length `n` (≥ 2) and width `k` standard deviations.
    pub fn new(n: u32, k: Dec) -> Bollinger {
        let n = n.max(2);
        Bollinger {
            n,
            k,
            ring: Vec::with_capacity(n as usize - 1),
            head: 0,
            sum: 0,
            sumsq: 0,
        }
    }

    /// Width in standard deviations.
    pub fn set_k(&mut self, k: Dec) {
        self.k = k;
    }

    /// Folds a closed candle's close in.
    pub fn push(&mut self, close: Dec) {
        let x = close.raw();
        let cap = self.n as usize - 1;
        if self.ring.len() < cap {
            self.ring.push(x);
        } else {
            let old = std::mem::replace(&mut self.ring[self.head], x);
            self.sum -= old as i128;
            self.sumsq = self.sumsq.wrapping_sub((old as i128) * (old as i128));
            self.head = (self.head + 1) % cap;
        }
        self.sum += x as i128;
        // Σx² passes i128's range for closes above ~1.3e8 over 100 candles; kept
        // modulo 2^128 (see `peek`).
        self.sumsq = self.sumsq.wrapping_add((x as i128) * (x as i128));
    }

    /// The bands over the last n − 1 closes plus `close` (None before n − 1 closes).
    pub fn peek(&self, close: Dec) -> Option<Bands> {
        if self.ring.len() < self.n as usize - 1 {
            return None;
        }
        let n = self.n as i128;
        let x = close.raw() as i128;
        let sum = self.sum + x;
        let sumsq = self.sumsq.wrapping_add(x * x);
        // Population variance in raw² units: (n·Σx² − (Σx)²) / n², exact. The
        // numerator is computed modulo 2^128 (Σx² and (Σx)² may each pass i128's range
        // on high prices); it is never negative, so read as u128 it is exact whenever
        // below 2^128 — a σ under 1.8e19 / n raw units, 1.8e8 at n = 100.
        let numerator = n.wrapping_mul(sumsq).wrapping_sub(sum.wrapping_mul(sum)) as u128;
        let var = numerator / (n * n) as u128;
        let std = Dec(isqrt(var).min(i64::MAX as u128) as i64);
        let middle = Dec((sum / n) as i64);
        let width = self.k.mul(std);
        let (upper, lower) = (middle + width, middle - width);
        Some(Bands {
            middle,
            upper,
            lower,
            std,
            percent_b: (close - lower).div(upper - lower),
        })
    }
}

/// Wilder's average true range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Atr {
    n: u32,
    count: u32,
    seed_sum: i128,
    value: Dec,
    prev_close: Option<Dec>,
}

impl Atr {
    /// ATR of length `n` (≥ 1).
    pub fn new(n: u32) -> Atr {
        Atr {
            n: n.max(1),
            count: 0,
            seed_sum: 0,
            value: Dec::ZERO,
            prev_close: None,
        }
    }

    /// Folds a closed candle in; returns the ATR once `n` true ranges were seen.
    pub fn push(&mut self, c: &Candle) -> Option<Dec> {
        let prev = self.prev_close.replace(c.close)?;
        let tr = (c.high - c.low)
            .max((c.high - prev).abs())
            .max((c.low - prev).abs());
        let n = self.n as i128;
        if self.count < self.n {
            self.seed_sum += tr.raw() as i128;
            self.count += 1;
            if self.count < self.n {
                return None;
            }
            self.value = Dec((self.seed_sum / n) as i64);
        } else {
            self.value = Dec(((self.value.raw() as i128 * (n - 1) + tr.raw() as i128) / n) as i64);
        }
        Some(self.value)
    }

    /// ATR / close if candle `c` were pushed (state unchanged).
    pub fn peek_natr(&self, c: &Candle) -> Option<Dec> {
        let mut copy = *self;
        copy.push(c)?.div(c.close)
    }
}

/// Position of a consumer in a candle series: the open time of the last candle it
/// folded in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CandleCursor {
    last: Option<u64>,
}

impl CandleCursor {
    /// Passes every candle that closed since the last call (all but the newest) to
    /// `push`, oldest first, and returns the newest (still forming) candle.
    pub fn advance<'a>(
        &mut self,
        series: &'a CandleSeries,
        mut push: impl FnMut(&Candle),
    ) -> Option<&'a Candle> {
        let len = series.len();
        let forming = series.candles().next_back()?;
        let last = self.last;
        let fresh = series
            .candles()
            .rev()
            .skip(1)
            .take_while(|c| last.is_none_or(|l| c.open_ts > l))
            .count();
        for c in series.candles().skip(len - 1 - fresh).take(fresh) {
            push(c);
            self.last = Some(c.open_ts);
        }
        Some(forming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn isqrt_is_the_floor() {
        for v in [
            0u128,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            99,
            100,
            1 << 70,
            u64::MAX as u128,
        ] {
            let r = isqrt(v);
            assert!(r * r <= v && (r + 1) * (r + 1) > v, "{v}");
        }
        assert_eq!(isqrt(u128::MAX), u64::MAX as u128);
    }

    #[test]
    fn ema_seeds_with_the_sma() {
        // n = 3, α = 0.5: SMA(1,2,3) = 2, then 2 + 0.5·(6 − 2) = 4, 4 + 0.5·(0 − 4) = 2.
        let mut e = Ema::new(3);
        assert_eq!(e.push(d("1")), None);
        assert_eq!(e.push(d("2")), None);
        assert_eq!(e.push(d("3")), Some(d("2")));
        assert_eq!(e.push(d("6")), Some(d("4")));
        assert_eq!(e.push(d("0")), Some(d("2")));
    }

    #[test]
    fn bollinger_population_std() {
        // Closes 2,4,4,4,5,5,7,9: mean 5, σ 2 → bands 1..9, %B of 9 = 1.
        let mut b = Bollinger::new(8, d("2"));
        for x in [2, 4, 4, 4, 5, 5, 7] {
            assert_eq!(b.peek(Dec::from_int(x)), None);
            b.push(Dec::from_int(x));
        }
        let bands = b.peek(d("9")).unwrap();
        assert_eq!(
            (bands.middle, bands.std, bands.upper, bands.lower),
            (d("5"), d("2"), d("9"), d("1"))
        );
        assert_eq!(bands.percent_b, Some(Dec::ONE));
        // Closes near 1.5e9 (BTC quoted in IDR), where n·Σx² passes i128's range:
        // alternating b ± 1,000 over 100 closes, mean b, σ 1,000 exactly.
        let b0 = Dec::from_int(1_500_000_000);
        let mut high = Bollinger::new(100, d("2"));
        for i in 0..250 {
            let dev = if i % 2 == 0 { 1_000 } else { -1_000 };
            high.push(b0 + Dec::from_int(dev));
        }
        let bands = high.peek(b0 + Dec::from_int(1_000)).unwrap();
        assert_eq!((bands.middle, bands.std), (b0, Dec::from_int(1_000)));
        assert_eq!(bands.upper, b0 + Dec::from_int(2_000));
        // Flat window: no %B.
        let mut flat = Bollinger::new(2, d("2"));
        flat.push(d("3"));
        assert_eq!(flat.peek(d("3")).unwrap().percent_b, None);
    }

    #[test]
    fn atr_is_wilder_smoothed() {
        let c = |h: i64, l: i64, cl: i64| Candle {
            high: Dec::from_int(h),
            low: Dec::from_int(l),
            close: Dec::from_int(cl),
            ..Default::default()
        };
        let mut a = Atr::new(2);
        assert_eq!(a.push(&c(10, 8, 9)), None); // no previous close
        assert_eq!(a.push(&c(12, 9, 11)), None); // tr 3
        assert_eq!(a.push(&c(11, 10, 10)), Some(d("2"))); // tr 1 → (3+1)/2
        assert_eq!(a.push(&c(14, 10, 13)), Some(d("3"))); // tr 4 → (2·1 + 4)/2
                                                          // NATR of a peeked candle: tr |8 − 13| = 5 → (3 + 5)/2 = 4, / 8 = 0.5.
        assert_eq!(a.peek_natr(&c(9, 8, 8)), Some(d("0.5")));
        assert_eq!(a.push(&c(14, 10, 13)), Some(d("3.5")));
    }
}
