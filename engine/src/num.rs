//! Decimal fixed-point numbers: every price, quantity and money amount is an `i64`
//! count of 10⁻⁹ units, so any exchange tick or lot size (down to 1e-9) is exact and
//! all order-critical arithmetic is integer arithmetic.

use std::fmt;

/// Number of decimal places held by every fixed-point value.
pub const DECIMALS: u32 = 9;
/// 10^DECIMALS: the raw value of 1.0.
pub const SCALE: i64 = 1_000_000_000;

/// Why a decimal string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseDecimalError {
    /// Empty input.
    Empty,
    /// A character that is not a digit, sign or single decimal point.
    InvalidChar(u8),
    /// More than nine significant decimal places.
    TooPrecise,
    /// The value does not fit in the fixed-point range.
    Overflow,
}

impl fmt::Display for ParseDecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty decimal"),
            Self::InvalidChar(c) => write!(f, "invalid character {:?} in decimal", *c as char),
            Self::TooPrecise => write!(f, "more than {DECIMALS} decimal places"),
            Self::Overflow => write!(f, "decimal out of range"),
        }
    }
}

impl std::error::Error for ParseDecimalError {}

/// Parses a plain decimal string (`"-12.3400"`, `"5"`, `".5"`) into raw 1e-9 units, exactly.
/// Trailing zeros beyond nine places are accepted; other extra digits are an error.
pub fn parse_raw(s: &[u8]) -> Result<i64, ParseDecimalError> {
    let (neg, digits) = match s.first() {
        None => return Err(ParseDecimalError::Empty),
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits == b"." {
        return Err(ParseDecimalError::Empty);
    }
    let mut int: i64 = 0;
    let mut frac: i64 = 0;
    let mut frac_digits: u32 = 0;
    let mut seen_point = false;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                let d = (c - b'0') as i64;
                if seen_point {
                    if frac_digits < DECIMALS {
                        frac = frac * 10 + d;
                        frac_digits += 1;
                    } else if d != 0 {
                        return Err(ParseDecimalError::TooPrecise);
                    }
                } else {
                    int = int
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(d))
                        .ok_or(ParseDecimalError::Overflow)?;
                }
            }
            b'.' if !seen_point => seen_point = true,
            other => return Err(ParseDecimalError::InvalidChar(other)),
        }
    }
    let frac = frac * 10i64.pow(DECIMALS - frac_digits);
    let raw = int
        .checked_mul(SCALE)
        .and_then(|v| v.checked_add(frac))
        .ok_or(ParseDecimalError::Overflow)?;
    Ok(if neg { -raw } else { raw })
}

/// Writes raw 1e-9 units as a decimal without trailing zeros.
pub fn fmt_raw(raw: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let neg = raw < 0;
    let abs = raw.unsigned_abs();
    let int = abs / SCALE as u64;
    let mut frac = abs % SCALE as u64;
    if neg {
        f.write_str("-")?;
    }
    write!(f, "{int}")?;
    if frac != 0 {
        let mut width = DECIMALS as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        write!(f, ".{frac:0width$}")?;
    }
    Ok(())
}

/// `a * b / c` in 128-bit, truncated toward zero, saturated to the `i64` range.
#[inline]
pub fn mul_div(a: i64, b: i64, c: i64) -> i64 {
    debug_assert!(c != 0);
    let v = (a as i128 * b as i128) / c as i128;
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// A decimal value in raw 1e-9 units, used for prices, quantities, money and ratios.
/// The meaning comes from the field that holds it; all share one scale so mixing
/// them needs no conversion.
#[derive(
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq))]
pub struct Dec(pub i64);

impl Dec {
    /// Zero.
    pub const ZERO: Dec = Dec(0);
    /// One.
    pub const ONE: Dec = Dec(SCALE);

    /// From a whole number.
    pub const fn from_int(v: i64) -> Dec {
        Dec(v * SCALE)
    }

    /// Parses a decimal string exactly.
    pub fn parse(s: &str) -> Result<Dec, ParseDecimalError> {
        parse_raw(s.trim().as_bytes()).map(Dec)
    }

    /// Raw 1e-9 units.
    #[inline]
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// `self * other` (both decimals), truncated toward zero. A named method rather
    /// than `ops::Mul` so the truncation is visible at every call site.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn mul(self, other: Dec) -> Dec {
        // a·b/S = a_hi·b + trunc(a_lo·b/S) with a = a_hi·S + a_lo (Rust's / and %
        // truncate, so both parts carry a's sign and the sum truncates like the whole):
        // exact, with 64-bit products and constant divisions when nothing overflows;
        // the 128-bit path (a library division) otherwise.
        let (a, b) = if self.0.unsigned_abs() >= other.0.unsigned_abs() {
            (self.0, other.0)
        } else {
            (other.0, self.0)
        };
        if let (Some(x), Some(y)) = ((a / SCALE).checked_mul(b), (a % SCALE).checked_mul(b)) {
            if let Some(v) = x.checked_add(y / SCALE) {
                return Dec(v);
            }
        }
        Dec(mul_div(self.0, other.0, SCALE))
    }

    /// `self / other` (both decimals), truncated toward zero. `None` when `other` is zero.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn div(self, other: Dec) -> Option<Dec> {
        (other.0 != 0).then(|| Dec(mul_div(self.0, SCALE, other.0)))
    }

    /// (self + other) / 2 rounded toward zero, as the plain sum would be, for any two
    /// values (summed in i128, so two prices above half the range still have a mid).
    #[inline]
    pub fn midpoint(self, other: Dec) -> Dec {
        Dec(((self.0 as i128 + other.0 as i128) / 2) as i64)
    }

    /// Largest multiple of `step` not above `self` (`step` ≤ 0 leaves the value as is).
    #[inline]
    pub fn floor_to(self, step: Dec) -> Dec {
        if step.0 <= 0 {
            return self;
        }
        Dec(self.0.div_euclid(step.0) * step.0)
    }

    /// Smallest multiple of `step` not below `self` (`step` ≤ 0 leaves the value as is).
    #[inline]
    pub fn ceil_to(self, step: Dec) -> Dec {
        if step.0 <= 0 {
            return self;
        }
        let f = self.floor_to(step);
        if f == self {
            f
        } else {
            Dec(f.0 + step.0)
        }
    }

    /// True when `self` is an exact multiple of `step`.
    #[inline]
    pub fn is_multiple_of(self, step: Dec) -> bool {
        step.0 <= 0 || self.0 % step.0 == 0
    }

    /// Absolute value.
    #[inline]
    pub fn abs(self) -> Dec {
        Dec(self.0.abs())
    }

    /// Lossy conversion for display and reports only (never for order decisions).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

/// A tick or lot size with its division precomputed: rounding to it and checking
/// multiples of it cost two or three multiplications instead of a 64-bit hardware
/// division (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019:
/// exact for every 64-bit numerator). Results equal [`Dec::floor_to`],
/// [`Dec::ceil_to`] and [`Dec::is_multiple_of`] for every value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    step: Dec,
    /// `ceil(2^128 / step)` for a step above one raw unit, else 0.
    magic: u128,
}

impl Step {
    /// Precomputes `step`.
    pub fn new(step: Dec) -> Step {
        let magic = if step.0 > 1 {
            (u128::MAX / step.0 as u128).wrapping_add(1)
        } else {
            0
        };
        Step { step, magic }
    }

    /// The step.
    #[inline]
    pub fn get(self) -> Dec {
        self.step
    }

    /// `x / step`: bits 128..192 of `magic · x`.
    #[inline]
    fn quotient(self, x: u64) -> u64 {
        let low = (self.magic as u64 as u128 * x as u128) >> 64;
        (((self.magic >> 64) * x as u128 + low) >> 64) as u64
    }

    /// Largest multiple of the step not above `x` (as [`Dec::floor_to`]).
    #[inline]
    pub fn floor(self, x: Dec) -> Dec {
        if self.magic == 0 || x.0 < 0 {
            return x.floor_to(self.step);
        }
        Dec(self.quotient(x.0 as u64) as i64 * self.step.0)
    }

    /// Smallest multiple of the step not below `x` (as [`Dec::ceil_to`]).
    #[inline]
    pub fn ceil(self, x: Dec) -> Dec {
        // A step of zero or below floors `x` to itself, so it is returned as is.
        let f = self.floor(x);
        if f == x {
            x
        } else {
            Dec(f.0 + self.step.0)
        }
    }

    /// `x / step` when `x` is zero or above and a multiple of the step, else `None`.
    #[inline]
    pub fn exact_div(self, x: Dec) -> Option<i64> {
        if x.0 < 0 {
            return None;
        }
        if self.magic == 0 {
            return (self.step.0 == 1).then_some(x.0);
        }
        let q = self.quotient(x.0 as u64) as i64;
        (q * self.step.0 == x.0).then_some(q)
    }

    /// True when `x` is a multiple of the step (as [`Dec::is_multiple_of`]).
    #[inline]
    pub fn divides(self, x: Dec) -> bool {
        if self.magic == 0 {
            return x.is_multiple_of(self.step);
        }
        // n·M mod 2^128 < M exactly when step divides n (n = |x|).
        (x.0.unsigned_abs() as u128).wrapping_mul(self.magic) < self.magic
    }
}

impl std::ops::Add for Dec {
    type Output = Dec;
    #[inline]
    fn add(self, o: Dec) -> Dec {
        Dec(self.0.saturating_add(o.0))
    }
}

impl std::ops::Sub for Dec {
    type Output = Dec;
    #[inline]
    fn sub(self, o: Dec) -> Dec {
        Dec(self.0.saturating_sub(o.0))
    }
}

impl std::ops::AddAssign for Dec {
    #[inline]
    fn add_assign(&mut self, o: Dec) {
        self.0 = self.0.saturating_add(o.0);
    }
}

impl std::ops::SubAssign for Dec {
    #[inline]
    fn sub_assign(&mut self, o: Dec) {
        self.0 = self.0.saturating_sub(o.0);
    }
}

impl std::ops::Neg for Dec {
    type Output = Dec;
    #[inline]
    fn neg(self) -> Dec {
        Dec(-self.0)
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_raw(self.0, f)
    }
}

impl fmt::Debug for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_raw(self.0, f)
    }
}

impl std::str::FromStr for Dec {
    type Err = ParseDecimalError;
    fn from_str(s: &str) -> Result<Dec, ParseDecimalError> {
        Dec::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for Dec {
    /// Accepts a decimal string (`"0.01"`, exact) or an integer; floats are refused
    /// because they cannot be read exactly.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dec, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal string such as \"0.01\" or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Dec, E> {
                Dec::parse(s).map_err(|e| E::custom(format!("{e}: {s:?}")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dec, E> {
                v.checked_mul(SCALE)
                    .map(Dec)
                    .ok_or_else(|| E::custom("decimal out of range"))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dec, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|v| v.checked_mul(SCALE))
                    .map(Dec)
                    .ok_or_else(|| E::custom("decimal out of range"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dec, E> {
                Err(E::custom(format!(
                    "write decimals as strings (\"{v}\") so they are read exactly"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl serde::Serialize for Dec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exchange_strings_exactly() {
        assert_eq!(Dec::parse("0.01000000").unwrap(), Dec(10_000_000));
        assert_eq!(Dec::parse("60000.12").unwrap(), Dec(60_000_120_000_000));
        assert_eq!(Dec::parse("-1.5").unwrap(), Dec(-1_500_000_000));
        assert_eq!(Dec::parse(".5").unwrap(), Dec(500_000_000));
        assert_eq!(Dec::parse("0.0000000010000").unwrap(), Dec(1));
        assert_eq!(
            Dec::parse("1.0000000001"),
            Err(ParseDecimalError::TooPrecise)
        );
        assert_eq!(Dec::parse("1e5"), Err(ParseDecimalError::InvalidChar(b'e')));
        assert_eq!(
            Dec::parse("1.2.3"),
            Err(ParseDecimalError::InvalidChar(b'.'))
        );
        assert_eq!(Dec::parse(""), Err(ParseDecimalError::Empty));
        assert_eq!(Dec::parse("-"), Err(ParseDecimalError::Empty));
        assert_eq!(
            Dec::parse("99999999999999999999"),
            Err(ParseDecimalError::Overflow)
        );
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(Dec(10_000_000).to_string(), "0.01");
        assert_eq!(Dec(-1_500_000_000).to_string(), "-1.5");
        assert_eq!(Dec::from_int(7).to_string(), "7");
        assert_eq!(Dec(1).to_string(), "0.000000001");
    }

    #[test]
    fn rounds_to_steps() {
        let tick = Dec::parse("0.01").unwrap();
        let p = Dec::parse("99.987").unwrap();
        assert_eq!(p.floor_to(tick), Dec::parse("99.98").unwrap());
        assert_eq!(p.ceil_to(tick), Dec::parse("99.99").unwrap());
        assert_eq!(
            Dec::parse("99.98").unwrap().ceil_to(tick),
            Dec::parse("99.98").unwrap()
        );
        assert_eq!(
            Dec::parse("-0.015").unwrap().floor_to(tick),
            Dec::parse("-0.02").unwrap()
        );
    }

    #[test]
    fn step_edges() {
        for step in [1i64, 2, 3, 7, 10, 1 << 40, 10i64.pow(18), i64::MAX] {
            let s = Step::new(Dec(step));
            for x in [
                0,
                1,
                step - 1,
                step,
                step + 1,
                i64::MAX,
                i64::MIN,
                -1,
                -step,
            ] {
                assert_eq!(s.floor(Dec(x)), Dec(x).floor_to(Dec(step)), "{x} {step}");
                assert_eq!(
                    s.divides(Dec(x)),
                    Dec(x).is_multiple_of(Dec(step)),
                    "{x} {step}"
                );
                let exact = (x >= 0 && x % step == 0).then(|| x / step);
                assert_eq!(s.exact_div(Dec(x)), exact, "{x} {step}");
            }
        }
        // A step of zero or below leaves values as they are, like `floor_to`.
        let z = Step::new(Dec::ZERO);
        assert_eq!(z.floor(Dec(17)), Dec(17));
        assert_eq!(z.ceil(Dec(17)), Dec(17));
        assert!(z.divides(Dec(17)));
        // ... and divides nothing exactly.
        assert_eq!(z.exact_div(Dec(17)), None);
        assert_eq!(Step::new(Dec(-5)).exact_div(Dec(10)), None);
    }

    #[test]
    fn multiplies_and_divides() {
        let a = Dec::parse("60000.5").unwrap();
        let b = Dec::parse("0.002").unwrap();
        assert_eq!(a.mul(b), Dec::parse("120.001").unwrap());
        assert_eq!(
            Dec::from_int(100).div(Dec::from_int(3)).unwrap(),
            Dec(33_333_333_333)
        );
        assert_eq!(Dec::ONE.div(Dec::ZERO), None);
    }

    proptest::proptest! {
        #[test]
        fn mul_matches_the_128_bit_quotient(a in proptest::num::i64::ANY, b in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(Dec(a).mul(Dec(b)), Dec(mul_div(a, b, SCALE)));
        }

        #[test]
        fn mul_matches_for_prices_and_sizes(a in -10i64.pow(15)..10i64.pow(15), b in -10i64.pow(12)..10i64.pow(12)) {
            proptest::prop_assert_eq!(Dec(a).mul(Dec(b)), Dec(mul_div(a, b, SCALE)));
        }

        #[test]
        fn step_rounds_like_division(x in proptest::num::i64::ANY, step in 1i64..=i64::MAX) {
            let s = Step::new(Dec(step));
            proptest::prop_assert_eq!(s.floor(Dec(x)), Dec(x).floor_to(Dec(step)));
            proptest::prop_assert_eq!(s.divides(Dec(x)), Dec(x).is_multiple_of(Dec(step)));
            if x <= i64::MAX - step {
                proptest::prop_assert_eq!(s.ceil(Dec(x)), Dec(x).ceil_to(Dec(step)));
            }
            let exact = (x >= 0 && x % step == 0).then(|| x / step);
            proptest::prop_assert_eq!(s.exact_div(Dec(x)), exact);
        }

        #[test]
        fn step_rounds_ticks_and_lots(x in 0i64..10i64.pow(18), k in 0u32..=9, m in 1i64..=9) {
            // Steps as venues publish them: m·10^k raw units (0.000000001 .. 9).
            let step = m * 10i64.pow(k);
            let s = Step::new(Dec(step));
            proptest::prop_assert_eq!(s.floor(Dec(x)), Dec(x).floor_to(Dec(step)));
            proptest::prop_assert_eq!(s.ceil(Dec(x)), Dec(x).ceil_to(Dec(step)));
            proptest::prop_assert_eq!(s.divides(Dec(x)), Dec(x).is_multiple_of(Dec(step)));
            proptest::prop_assert!(s.divides(s.floor(Dec(x))));
            proptest::prop_assert_eq!(s.exact_div(s.floor(Dec(x))), Some(x / step));
            let exact = (x % step == 0).then(|| x / step);
            proptest::prop_assert_eq!(s.exact_div(Dec(x)), exact);
        }

        #[test]
        fn display_parse_roundtrip(raw in (i64::MIN + 1)..=i64::MAX) {
            let d = Dec(raw);
            proptest::prop_assert_eq!(Dec::parse(&d.to_string()).unwrap(), d);
        }
    }
}
