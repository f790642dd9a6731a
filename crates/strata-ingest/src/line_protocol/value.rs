//! Field values and timestamps.
//!
//! Grammar (a superset of InfluxDB's, which has no leading `+`, `.5` or `1.`):
//! - integer `[+-]?digits i`, unsigned `+?digits u`, each range-checked;
//! - float `[+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?`; `inf`,
//!   `NaN` and values that overflow to infinity are rejected;
//! - boolean `t T true True TRUE f F false False FALSE`;
//! - string `"..."` where `\"` and `\\` are escapes and any other backslash is
//!   literal; a string may hold newlines (InfluxDB's parsers accept them although
//!   its docs advise against them), which is why it may extend the line;
//! - timestamp `[+-]?digits` in the request's precision.
//!
//! Numbers are parsed in one pass over their digits; floats that are not small
//! integers go through `str::parse::<f64>` (correctly rounded, as the reference
//! parser does), so both parsers give bit-identical floats.

use super::error::Error;
use super::scan::{Res, Scanner, Text, Value};
use memchr::memchr2;
use strata_model::Precision;

/// 2^53: every integer up to here is exactly representable as an f64.
const EXACT_F64_INT: u64 = 1 << 53;

/// Digits read by [`Scanner::digits`].
#[derive(Debug, Clone, Copy)]
struct Digits {
    /// Value of the digits, if it fits in a u64.
    value: Option<u64>,
    /// Number of digits.
    count: usize,
}

impl<'a> Scanner<'a, '_> {
    /// The value after `key=`.
    #[inline]
    pub(super) fn field_value(&mut self, key: Text<'a>, arena: &mut String) -> Res<Value<'a>> {
        match self.peek() {
            Some(b'"') => self.string_value(key, arena),
            Some(b't' | b'T' | b'f' | b'F') => self.bool_value(key, arena),
            Some(_) => self.number_value(key, arena),
            None => Err(self.invalid_value(key, arena, self.pos)),
        }
    }

    /// Error for the value token starting at `start`.
    #[cold]
    fn invalid_value(&self, key: Text<'a>, arena: &str, start: usize) -> Box<Error> {
        Box::new(Error::InvalidFieldValue {
            key: key.get(arena).to_owned(),
            col: self.col(start),
            found: self.found(start),
        })
    }

    /// End of the value token starting at `pos`: the next `,` or ` `, or the end.
    #[inline]
    fn token_end(&self, mut pos: usize) -> usize {
        while pos < self.end && !matches!(self.body[pos], b',' | b' ') {
            pos += 1;
        }
        pos
    }

    /// True at the end of the line or at `,` or ` `: where a value may end.
    #[inline]
    fn at_delimiter(&self, p: usize) -> bool {
        p >= self.end || matches!(self.body[p], b',' | b' ')
    }

    fn bool_value(&mut self, key: Text<'a>, arena: &str) -> Res<Value<'a>> {
        let start = self.pos;
        let end = self.token_end(start);
        let value = match &self.body[start..end] {
            b"t" | b"T" | b"true" | b"True" | b"TRUE" => true,
            b"f" | b"F" | b"false" | b"False" | b"FALSE" => false,
            _ => return Err(self.invalid_value(key, arena, start)),
        };
        self.pos = end;
        Ok(Value::Bool(value))
    }

    /// Reads `[0-9]*` from `pos`.
    #[inline(always)]
    fn digits(&mut self) -> Digits {
        let (b, start, end) = (self.body, self.pos, self.end);
        let mut i = start;
        // Up to 19 digits cannot overflow a u64: no checks in the common loops.
        let unchecked_end = end.min(start + 19);
        let mut v = 0u64;
        // Eight digits at a time (timestamps have 19).
        while i + 8 <= unchecked_end {
            let Some(w) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) else {
                break;
            };
            let w = u64::from_le_bytes(*w);
            if !eight_digits(w) {
                break;
            }
            v = v * 100_000_000 + parse_eight_digits(w);
            i += 8;
        }
        while i < unchecked_end {
            let d = b[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v * 10 + u64::from(d);
            i += 1;
        }
        let mut value = Some(v);
        while i < end {
            let d = b[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            value = value
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_add(u64::from(d)));
            i += 1;
        }
        self.pos = i;
        Digits {
            value,
            count: i - start,
        }
    }

    /// Reads an optional sign; true when it is `-`.
    #[inline(always)]
    fn sign(&mut self) -> bool {
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                true
            }
            Some(b'+') => {
                self.pos += 1;
                false
            }
            _ => false,
        }
    }

    /// An integer (`1i`), unsigned (`1u`) or float value.
    #[inline]
    fn number_value(&mut self, key: Text<'a>, arena: &str) -> Res<Value<'a>> {
        let start = self.pos;
        let negative = self.sign();
        let int = self.digits();
        let after = self.pos;
        if int.count > 0 && self.at_delimiter(after + 1) {
            match self.peek() {
                Some(b'i') => {
                    self.pos += 1;
                    return match int.value.and_then(|v| signed(negative, v)) {
                        Some(v) => Ok(Value::I64(v)),
                        None => Err(self.out_of_range(key, arena, start, after, true)),
                    };
                }
                // A negative unsigned value is out of range, even `-0u` (as in InfluxDB).
                Some(b'u') => {
                    self.pos += 1;
                    return match int.value {
                        Some(v) if !negative => Ok(Value::U64(v)),
                        _ => Err(self.out_of_range(key, arena, start, after, false)),
                    };
                }
                _ => {}
            }
        }
        if int.count > 0 && self.at_delimiter(after) {
            // Digits only: small integers convert exactly.
            if let Some(v) = int.value.filter(|&v| v <= EXACT_F64_INT) {
                let f = v as f64;
                return Ok(Value::F64(if negative { -f } else { f }));
            }
        }
        self.float_value(key, arena, start, int.count)
    }

    #[cold]
    fn out_of_range(
        &self,
        key: Text<'a>,
        arena: &str,
        start: usize,
        end: usize,
        signed: bool,
    ) -> Box<Error> {
        let (key, value, col) = (
            key.get(arena).to_owned(),
            self.lossy(start, end),
            self.col(start),
        );
        Box::new(if signed {
            Error::IntegerOutOfRange { key, value, col }
        } else {
            Error::UnsignedOutOfRange { key, value, col }
        })
    }

    /// The rest of a float whose sign and integer digits were read.
    fn float_value(
        &mut self,
        key: Text<'a>,
        arena: &str,
        start: usize,
        int_digits: usize,
    ) -> Res<Value<'a>> {
        let mut frac = 0;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            frac = self.digits().count;
        }
        if int_digits + frac == 0 {
            return Err(self.invalid_value(key, arena, start));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            self.sign();
            if self.digits().count == 0 {
                return Err(self.invalid_value(key, arena, start));
            }
        }
        if !self.at_delimiter(self.pos) {
            return Err(self.invalid_value(key, arena, start));
        }
        // The grammar above is a subset of Rust's float syntax, without inf and NaN.
        let token = &self.body[start..self.pos];
        let parsed = std::str::from_utf8(token)
            .ok()
            .and_then(|t| t.parse::<f64>().ok());
        match parsed {
            Some(f) if f.is_finite() => Ok(Value::F64(f)),
            Some(_) => Err(Box::new(Error::FloatOutOfRange {
                key: key.get(arena).to_owned(),
                value: self.lossy(start, self.pos),
                col: self.col(start),
            })),
            None => Err(self.invalid_value(key, arena, start)),
        }
    }

    fn lossy(&self, a: usize, b: usize) -> String {
        String::from_utf8_lossy(&self.body[a..b]).into_owned()
    }

    /// A double-quoted string; `pos` is at the opening quote.
    fn string_value(&mut self, key: Text<'a>, arena: &mut String) -> Res<Value<'a>> {
        let open = self.pos;
        let content = open + 1;
        let first = arena.len();
        let mut unescaped = false;
        let mut piece = content;
        let mut i = content;
        loop {
            let Some(off) = memchr2(b'"', b'\\', &self.body[i..self.end]) else {
                // Still open at the end of the line: the newline is part of the string.
                i = self.end;
                if self.extend()? {
                    continue;
                }
                return Err(Box::new(Error::UnterminatedString {
                    key: key.get(arena).to_owned(),
                    col: self.col(open),
                }));
            };
            let k = i + off;
            if self.body[k] == b'"' {
                self.pos = k + 1;
                if unescaped {
                    arena.push_str(self.src(piece, k)?);
                    return Ok(Value::Str(Text::Arena(first, arena.len())));
                }
                return Ok(Value::Str(Text::Src(self.src(content, k)?)));
            }
            // A backslash: `\"` and `\\` are escapes, any other backslash is literal.
            if k + 1 < self.end && matches!(self.body[k + 1], b'"' | b'\\') {
                arena.push_str(self.src(piece, k)?);
                unescaped = true;
                piece = k + 1;
                i = k + 2;
            } else {
                i = k + 1;
            }
        }
    }

    /// The timestamp, in nanoseconds.
    #[inline]
    pub(super) fn timestamp(&mut self) -> Res<i64> {
        let start = self.pos;
        let negative = self.sign();
        let digits = self.digits();
        if digits.count == 0 || !(self.pos >= self.end || self.body[self.pos] == b' ') {
            return Err(self.invalid_timestamp(start));
        }
        let Some(value) = digits.value.and_then(|v| signed(negative, v)) else {
            return Err(Box::new(Error::TimestampOutOfRange {
                value: self.lossy(start, self.pos),
                col: self.col(start),
            }));
        };
        let precision = self.opts.precision;
        precision.to_nanos(value).ok_or_else(|| {
            Box::new(Error::TimestampOverflow {
                value,
                precision: precision_name(precision),
            })
        })
    }

    #[cold]
    fn invalid_timestamp(&self, start: usize) -> Box<Error> {
        let end = self.token_end(start);
        Box::new(Error::InvalidTimestamp {
            col: self.col(start),
            found: format!("{:?}", String::from_utf8_lossy(&self.body[start..end])),
        })
    }
}

/// True when the eight bytes of `w` are all ASCII digits.
#[inline(always)]
fn eight_digits(w: u64) -> bool {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // A digit is 0x30..=0x39: its high nibble is 3, and adding 6 keeps it 3.
    (w & HIGH_NIBBLES) | ((w.wrapping_add(0x0606_0606_0606_0606) & HIGH_NIBBLES) >> 4)
        == 0x3333_3333_3333_3333
}

/// The value of eight ASCII digits, the first in the lowest byte.
#[inline(always)]
fn parse_eight_digits(w: u64) -> u64 {
    // Pairwise: digits to 2-digit, then 4-digit, then 8-digit numbers.
    let w = (w & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(10 * 256 + 1) >> 8;
    let w = (w & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 * 65_536 + 1) >> 16;
    (w & 0x0000_FFFF_0000_FFFF).wrapping_mul(10_000 * (1 << 32) + 1) >> 32
}

/// `v` with a sign, if it fits in an i64.
#[inline]
fn signed(negative: bool, v: u64) -> Option<i64> {
    if negative {
        0i64.checked_sub_unsigned(v)
    } else {
        i64::try_from(v).ok()
    }
}

fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::Nanosecond => "nanosecond",
        Precision::Microsecond => "microsecond",
        Precision::Millisecond => "millisecond",
        Precision::Second => "second",
        Precision::Minute => "minute",
        Precision::Hour => "hour",
        Precision::Auto => "auto",
    }
}

#[cfg(test)]
mod tests {
    use super::{eight_digits, parse_eight_digits};

    #[test]
    fn eight_digits_at_once() {
        let w = |s: &[u8; 8]| u64::from_le_bytes(*s);
        assert!(eight_digits(w(b"01234567")));
        assert_eq!(parse_eight_digits(w(b"01234567")), 1_234_567);
        assert_eq!(parse_eight_digits(w(b"99999999")), 99_999_999);
        assert_eq!(parse_eight_digits(w(b"10000000")), 10_000_000);
        for bad in [
            b"0123456/",
            b"0123456:",
            b" 1234567",
            b"1234567i",
            b"\xb01234567",
        ] {
            assert!(!eight_digits(w(bad)), "{bad:?}");
        }
    }
}
