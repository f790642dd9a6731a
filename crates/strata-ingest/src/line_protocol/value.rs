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
use super::scan::{Scanner, Text, Value};
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
    pub(super) fn field_value(
        &mut self,
        key: Text<'a>,
        arena: &mut String,
    ) -> Result<Value<'a>, Error> {
        match self.peek() {
            Some(b'"') => self.string_value(key, arena),
            Some(b't' | b'T' | b'f' | b'F') => self.bool_value(key, arena),
            Some(_) => self.number_value(key, arena),
            None => Err(self.invalid_value(key, arena, self.pos)),
        }
    }

    /// Error for the value token starting at `start`.
    #[cold]
    fn invalid_value(&self, key: Text<'a>, arena: &str, start: usize) -> Error {
        Error::InvalidFieldValue {
            key: key.get(arena).to_owned(),
            col: self.col(start),
            found: self.found(start),
        }
    }

    /// End of the value token starting at `pos`: the next `,` or ` `, or the end.
    #[inline]
    fn token_end(&self, mut pos: usize) -> usize {
        while pos < self.end && !matches!(self.body[pos], b',' | b' ') {
            pos += 1;
        }
        pos
    }

    fn bool_value(&mut self, key: Text<'a>, arena: &str) -> Result<Value<'a>, Error> {
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
    #[inline]
    fn digits(&mut self) -> Digits {
        let (b, start) = (self.body, self.pos);
        let mut value = Some(0u64);
        let mut i = start;
        while i < self.end {
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
    #[inline]
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

    fn number_value(&mut self, key: Text<'a>, arena: &str) -> Result<Value<'a>, Error> {
        let start = self.pos;
        let negative = self.sign();
        let int = self.digits();
        let after = self.pos;
        match self.peek() {
            Some(b'i') if int.count > 0 && self.at_delimiter(after + 1) => {
                self.pos += 1;
                let value = int.value.and_then(|v| signed(negative, v));
                return value.map(Value::I64).ok_or_else(|| Error::IntegerOutOfRange {
                    key: key.get(arena).to_owned(),
                    value: self.lossy(start, after),
                    col: self.col(start),
                });
            }
            Some(b'u') if int.count > 0 && self.at_delimiter(after + 1) => {
                self.pos += 1;
                // A negative unsigned value is out of range, even `-0u` (as in InfluxDB).
                return match int.value {
                    Some(v) if !negative => Ok(Value::U64(v)),
                    _ => Err(Error::UnsignedOutOfRange {
                        key: key.get(arena).to_owned(),
                        value: self.lossy(start, after),
                        col: self.col(start),
                    }),
                };
            }
            _ => {}
        }
        // A float.
        let mut frac = 0;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            frac = self.digits().count;
        }
        if int.count + frac == 0 {
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
        // Small integers convert exactly; the rest is parsed by the standard library.
        let value = match int.value {
            Some(v) if self.pos == after && v <= EXACT_F64_INT => {
                let f = v as f64;
                if negative { -f } else { f }
            }
            _ => {
                let token = &self.body[start..self.pos];
                let parsed = std::str::from_utf8(token).ok().and_then(|t| t.parse::<f64>().ok());
                match parsed {
                    Some(f) => f,
                    None => return Err(self.invalid_value(key, arena, start)),
                }
            }
        };
        if !value.is_finite() {
            return Err(Error::FloatOutOfRange {
                key: key.get(arena).to_owned(),
                value: self.lossy(start, self.pos),
                col: self.col(start),
            });
        }
        Ok(Value::F64(value))
    }

    /// True at the end of the line or at `,` or ` `: where a value may end.
    #[inline]
    fn at_delimiter(&self, p: usize) -> bool {
        p >= self.end || matches!(self.body[p], b',' | b' ')
    }

    fn lossy(&self, a: usize, b: usize) -> String {
        String::from_utf8_lossy(&self.body[a..b]).into_owned()
    }

    /// A double-quoted string; `pos` is at the opening quote.
    fn string_value(&mut self, key: Text<'a>, arena: &mut String) -> Result<Value<'a>, Error> {
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
                return Err(Error::UnterminatedString {
                    key: key.get(arena).to_owned(),
                    col: self.col(open),
                });
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
    pub(super) fn timestamp(&mut self) -> Result<i64, Error> {
        let start = self.pos;
        let negative = self.sign();
        let digits = self.digits();
        if digits.count == 0 || !(self.pos >= self.end || self.body[self.pos] == b' ') {
            let end = self.token_end(start);
            return Err(Error::InvalidTimestamp {
                col: self.col(start),
                found: format!("{:?}", String::from_utf8_lossy(&self.body[start..end])),
            });
        }
        let Some(value) = digits.value.and_then(|v| signed(negative, v)) else {
            return Err(Error::TimestampOutOfRange {
                value: self.lossy(start, self.pos),
                col: self.col(start),
            });
        };
        let precision = self.opts.precision;
        precision
            .to_nanos(value)
            .ok_or(Error::TimestampOverflow {
                value,
                precision: precision_name(precision),
            })
    }
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
