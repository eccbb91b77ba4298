//! A fast path for the message a quoting strategy waits on: a `bookTicker` in the
//! compact form Binance sends, read in one forward scan of its bytes instead of through
//! a simd-json tape (~170 ns instead of ~520–590 ns on the 2-core VM, criterion
//! `parse`; BENCHMARKS.md).
//!
//! It accepts a strict subset of JSON, at most 384 bytes, and nothing else:
//! `{"stream":"<symbol>@bookTicker","data":{…}}` or the bare `{…}`, no whitespace, the
//! payload's keys among `e` (then `"bookTicker"`), `u`, `s`, `b`, `B`, `a`, `A`, `E`
//! and `T`, each at most once, `u`, `s`, `b`, `B`, `a` and `A` all present; strings of
//! printable ASCII without escapes; integers of at most 19 digits without a leading
//! zero; prices and sizes `digits[.digits]` of at most 18 digits, 9 after the point; a
//! configured symbol.
//! Anything else — whitespace, an escape, another key or event, a malformed or
//! overflowing number, an unknown symbol, bytes after the object — makes it answer
//! `None`, and the tape parser reads the message as before, errors included. Whenever
//! it answers, the answer is the tape parser's (tested over every `bookTicker` of the
//! bundled captures and over random mutations of them, `parser.rs`). It only reads the
//! bytes.

use kestrel_engine::{BookTicker, Dec, InstrumentId};

use super::parser::{lookup, POW10};

/// The bytes being scanned and the position reached.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    /// Steps over `lit` if the bytes continue with it.
    #[inline]
    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        if self.bytes.get(self.at..self.at + lit.len())? == lit {
            self.at += lit.len();
            Some(())
        } else {
            None
        }
    }

    #[inline]
    fn byte(&mut self) -> Option<u8> {
        let c = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// A string's body, from after its opening quote to its closing one: printable
    /// ASCII, no backslash (so it reads the same escaped or not).
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.at..)?;
        let end = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x7f).contains(&c))?;
        if rest[end] != b'"' {
            return None;
        }
        self.at += end + 1;
        Some(&rest[..end])
    }

    /// A quoted string value.
    #[inline]
    fn quoted(&mut self) -> Option<&'a [u8]> {
        self.lit(b"\"")?;
        self.string()
    }

    /// A non-negative integer as JSON writes one (digits, no leading zero), then not
    /// a fraction or exponent; at most 19 digits, so it fits a `u64` (longer ones are
    /// left to the tape).
    #[inline]
    fn uint(&mut self) -> Option<u64> {
        let rest = self.bytes.get(self.at..)?;
        let digits = rest
            .iter()
            .take(20)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 || digits > 19 || (digits > 1 && rest[0] == b'0') {
            return None;
        }
        if !matches!(rest.get(digits), Some(b',' | b'}')) {
            return None;
        }
        self.at += digits;
        Some(
            rest[..digits]
                .iter()
                .fold(0u64, |v, &c| v * 10 + u64::from(c - b'0')),
        )
    }

    /// A quoted decimal `digits[.digits]` (at most 18 digits, 9 after the point), read
    /// in one pass to the value the tape parser's exact reader gives; any other form is
    /// left to the tape.
    #[inline]
    fn decimal(&mut self) -> Option<Dec> {
        self.lit(b"\"")?;
        let rest = self.bytes.get(self.at..)?;
        let (mut v, mut digits, mut int_digits) = (0u64, 0usize, None);
        for (i, &c) in rest.iter().enumerate() {
            match c {
                b'0'..=b'9' if digits < 18 => {
                    v = v * 10 + u64::from(c - b'0');
                    digits += 1;
                }
                b'.' if int_digits.is_none() && digits > 0 => int_digits = Some(digits),
                b'"' => {
                    let frac = digits - int_digits.unwrap_or(digits);
                    if digits == 0 || frac > 9 || int_digits == Some(digits) {
                        return None;
                    }
                    let raw = i64::try_from(v.checked_mul(POW10[9 - frac])?).ok()?;
                    self.at += i + 1;
                    return Some(Dec(raw));
                }
                _ => return None,
            }
        }
        None
    }
}

/// The payload's fields, each read once.
#[derive(Default)]
struct Ticker<'a> {
    seen: u16,
    symbol: &'a [u8],
    update_id: u64,
    bid_px: Dec,
    bid_qty: Dec,
    ask_px: Dec,
    ask_qty: Dec,
    event_ms: Option<u64>,
}

const E: u16 = 1;
const U: u16 = 1 << 1;
const S: u16 = 1 << 2;
const BID: u16 = 1 << 3;
const BID_QTY: u16 = 1 << 4;
const ASK: u16 = 1 << 5;
const ASK_QTY: u16 = 1 << 6;
const EVENT_TIME: u16 = 1 << 7;
const TRADE_TIME: u16 = 1 << 8;
/// The fields a book ticker cannot do without.
const REQUIRED: u16 = U | S | BID | BID_QTY | ASK | ASK_QTY;

/// Reads the payload object's members, from after its `{` to after its `}`.
fn members<'a>(s: &mut Scan<'a>) -> Option<Ticker<'a>> {
    let mut t = Ticker::default();
    loop {
        let key = s.quoted()?;
        s.lit(b":")?;
        let bit = match key {
            b"e" => {
                if s.quoted()? != b"bookTicker" {
                    return None;
                }
                E
            }
            b"u" => {
                t.update_id = s.uint()?;
                U
            }
            b"s" => {
                t.symbol = s.quoted()?;
                S
            }
            b"b" => {
                t.bid_px = s.decimal()?;
                BID
            }
            b"B" => {
                t.bid_qty = s.decimal()?;
                BID_QTY
            }
            b"a" => {
                t.ask_px = s.decimal()?;
                ASK
            }
            b"A" => {
                t.ask_qty = s.decimal()?;
                ASK_QTY
            }
            b"E" => {
                t.event_ms = Some(s.uint()?);
                EVENT_TIME
            }
            b"T" => {
                s.uint()?;
                TRADE_TIME
            }
            _ => return None,
        };
        if t.seen & bit != 0 {
            return None;
        }
        t.seen |= bit;
        match s.byte()? {
            b',' => {}
            b'}' => return Some(t),
            _ => return None,
        }
    }
}

/// Longer messages are left to the tape without a look.
const MAX_LEN: usize = 384;

/// The book ticker in `bytes` and its venue time (ns since the epoch, 0 without `E`),
/// if the message is one in the form described in the module docs; `None` otherwise.
pub(super) fn book_ticker(
    bytes: &[u8],
    symbols: &[(String, InstrumentId)],
) -> Option<(BookTicker, u64)> {
    // A ticker is ~150-230 bytes; most depth messages are far longer.
    if bytes.len() > MAX_LEN {
        return None;
    }
    let mut s = Scan { bytes, at: 0 };
    let t = if s.lit(b"{\"stream\":\"").is_some() {
        // Other streams (depth, trades) are left to the tape at once.
        if !s.string()?.ends_with(b"@bookTicker") {
            return None;
        }
        s.lit(b",\"data\":{")?;
        let t = members(&mut s)?;
        s.lit(b"}")?;
        t
    } else {
        s.lit(b"{")?;
        members(&mut s)?
    };
    if s.at != bytes.len() || t.seen & REQUIRED != REQUIRED {
        return None;
    }
    let venue_ts = match t.event_ms {
        Some(ms) => ms.checked_mul(1_000_000)?,
        None => 0,
    };
    let instrument = lookup(symbols, std::str::from_utf8(t.symbol).ok()?)?;
    Some((
        BookTicker {
            instrument,
            bid_px: t.bid_px,
            bid_qty: t.bid_qty,
            ask_px: t.ask_px,
            ask_qty: t.ask_qty,
            update_id: t.update_id,
        },
        venue_ts,
    ))
}
