//! Phase one: one line's syntax, into a reusable list of items.
//!
//! The scanner walks the bytes of one line once and records the measurement, each
//! tag and field (key and decoded value) and the timestamp. Nothing is written to the
//! batch here, so a malformed line leaves no trace; `super::commit` writes a line
//! only once all of it is known to be valid.
//!
//! Text is borrowed from the body ([`Text::Src`]) unless it holds an escape, in
//! which case it is unescaped into the line's arena ([`Text::Arena`]); the arena and
//! the item list are cleared, not freed, between lines, so the hot path allocates
//! nothing once they have grown to the widest line.
//!
//! Positions are absolute offsets into the body; `line_start` turns them into the
//! 1-based columns of error messages.

use super::error::{Error, found_at};
use super::schema::{Hint, Schema, same_bytes};
use super::split::segment_end;
use crate::ParseOptions;
use strata_model::{ColumnKind, FieldType};

/// Delimiters of measurements and tag values: `,` ` ` and the escape `\`.
const STOP_NAME: u8 = 1;
/// Delimiters of tag and field keys: `,` `=` ` ` and `\`. Also the characters a
/// backslash escapes in keys and tag values (measurements: [`STOP_NAME`]).
const STOP_KEY: u8 = 2;

/// Byte classes, for the bytewise scan of the last bytes of a body (see `find_stop`).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b',' as usize] = STOP_NAME | STOP_KEY;
    t[b' ' as usize] = STOP_NAME | STOP_KEY;
    t[b'\\' as usize] = STOP_NAME | STOP_KEY;
    t[b'=' as usize] = STOP_KEY;
    t
};

/// Errors travel boxed, so that the hot path returns results in registers.
pub(super) type Res<T> = Result<T, Box<Error>>;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte of `w` that equals `c`. Exact for the lowest such byte;
/// the borrow may also flag bytes above it, which the callers never look at.
#[inline(always)]
fn eq_bytes(w: u64, c: u8) -> u64 {
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Bytes of class `stop` in the eight bytes `w` (see [`eq_bytes`]).
#[inline(always)]
fn stops(w: u64, stop: u8) -> u64 {
    let m = eq_bytes(w, b',') | eq_bytes(w, b' ') | eq_bytes(w, b'\\');
    if stop == STOP_KEY {
        m | eq_bytes(w, b'=')
    } else {
        m
    }
}

/// Position of the first byte of class `stop` in `b[i..end]`, or `end`. Reads
/// sixteen bytes at a time (possibly past `end`, never past the body): most tokens
/// end within the first sixteen bytes, so a token end costs one predictable branch
/// instead of one per byte.
#[inline(always)]
fn find_stop(b: &[u8], mut i: usize, end: usize, stop: u8) -> usize {
    while i < end {
        let Some(chunk) = b.get(i..).and_then(|rest| rest.first_chunk::<16>()) else {
            break;
        };
        let (lo, hi) = chunk.split_at(8);
        let lo = stops(u64::from_le_bytes(lo.try_into().unwrap_or_default()), stop);
        let hi = stops(u64::from_le_bytes(hi.try_into().unwrap_or_default()), stop);
        if lo | hi != 0 {
            let off = if lo != 0 {
                lo.trailing_zeros() / 8
            } else {
                8 + hi.trailing_zeros() / 8
            };
            return end.min(i + off as usize);
        }
        i += 16;
    }
    // The last bytes of the body.
    while i < end && CLASS[b[i] as usize] & stop == 0 {
        i += 1;
    }
    end.min(i)
}

/// A piece of the line's text.
#[derive(Debug, Clone, Copy)]
pub(super) enum Text<'a> {
    /// Borrowed from the body as is.
    Src(&'a str),
    /// Unescaped: `arena[start..end]`.
    Arena(usize, usize),
}

impl<'a> Text<'a> {
    /// The text; `arena` is the line's arena.
    #[inline]
    pub(super) fn get<'s>(self, arena: &'s str) -> &'s str
    where
        'a: 's,
    {
        match self {
            Text::Src(s) => s,
            // Arena ranges are made from whole `push_str`s, so they are in bounds and
            // on char boundaries.
            Text::Arena(a, b) => arena.get(a..b).unwrap_or_default(),
        }
    }

    #[inline]
    fn is_empty(self) -> bool {
        match self {
            Text::Src(s) => s.is_empty(),
            Text::Arena(a, b) => a == b,
        }
    }
}

/// A tag or field value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Tag(Text<'a>),
    F64(f64),
    I64(i64),
    U64(u64),
    Bool(bool),
    Str(Text<'a>),
}

impl Value<'_> {
    /// The column kind this value goes into.
    #[inline]
    pub(super) fn kind(&self) -> ColumnKind {
        match self {
            Value::Tag(_) => ColumnKind::Tag,
            Value::F64(_) => ColumnKind::Field(FieldType::Float),
            Value::I64(_) => ColumnKind::Field(FieldType::Integer),
            Value::U64(_) => ColumnKind::Field(FieldType::UInteger),
            Value::Bool(_) => ColumnKind::Field(FieldType::Boolean),
            Value::Str(_) => ColumnKind::Field(FieldType::String),
        }
    }
}

/// One tag or field of a line, in line order (tags first).
#[derive(Debug, Clone, Copy)]
pub(super) struct Item<'a> {
    pub(super) key: Text<'a>,
    /// Where the raw key starts in the body.
    pub(super) key_pos: usize,
    pub(super) value: Value<'a>,
    /// Column predicted by the [`Schema`].
    pub(super) hint: Hint,
}

/// Per-parse buffers reused for every line.
#[derive(Debug, Default)]
pub(super) struct Scratch<'a> {
    /// Unescaped text of the current line.
    pub(super) arena: String,
    /// Tags then fields of the current line.
    pub(super) items: Vec<Item<'a>>,
}

/// A line that scanned cleanly.
#[derive(Debug, Clone, Copy)]
pub(super) struct ScannedLine<'a> {
    pub(super) measurement: Text<'a>,
    /// Where the raw measurement starts in the body.
    pub(super) measurement_pos: usize,
    /// True when the schema predicted the measurement and every key, and the line
    /// has no other key: then the schema needs no update.
    pub(super) predicted: bool,
    /// Timestamp in nanoseconds, or `None` when the line has none.
    pub(super) time_ns: Option<i64>,
}

/// Scanner over one line of the body.
#[derive(Debug)]
pub(super) struct Scanner<'a, 'o> {
    pub(super) body: &'a [u8],
    /// The whole body as text when it is valid UTF-8 (the common case): slicing it
    /// at ASCII delimiters needs no further validation. Otherwise every piece of text
    /// is validated on its own, and the line holding bad bytes is rejected.
    pub(super) text: Option<&'a str>,
    pub(super) opts: &'o ParseOptions,
    /// First byte of the line (after the previous newline).
    pub(super) line_start: usize,
    /// Next byte to read.
    pub(super) pos: usize,
    /// End of the line's content: before the newline and a `\r` preceding it.
    pub(super) end: usize,
    /// Position of the newline ending the line, or `body.len()`.
    pub(super) raw_end: usize,
}

impl<'a> Scanner<'a, '_> {
    /// 1-based column of `pos`.
    #[inline]
    pub(super) fn col(&self, pos: usize) -> usize {
        pos - self.line_start + 1
    }

    /// What is at `pos`, for messages.
    pub(super) fn found(&self, pos: usize) -> String {
        found_at(self.body, pos, self.end)
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        if self.pos < self.end {
            Some(self.body[self.pos])
        } else {
            None
        }
    }

    /// `body[a..b]` as text; `a` and `b` are at ASCII bytes or line ends.
    #[inline(always)]
    pub(super) fn src(&self, a: usize, b: usize) -> Res<&'a str> {
        if let Some(s) = self.text.and_then(|t| t.get(a..b)) {
            return Ok(s);
        }
        self.src_checked(a, b)
    }

    /// [`Self::src`] for a body that is not valid UTF-8 as a whole.
    #[cold]
    fn src_checked(&self, a: usize, b: usize) -> Res<&'a str> {
        std::str::from_utf8(&self.body[a..b]).map_err(|e| {
            Box::new(Error::InvalidUtf8 {
                col: self.col(a + e.valid_up_to()),
            })
        })
    }

    /// Sets `end` from `raw_end`, dropping the `\r` of a CRLF line ending.
    #[inline]
    pub(super) fn set_raw_end(&mut self, raw_end: usize) {
        self.raw_end = raw_end;
        self.end = if raw_end > self.line_start && self.body[raw_end - 1] == b'\r' {
            raw_end - 1
        } else {
            raw_end
        };
    }

    /// Continues the line past its newline (a string value holds the newline).
    /// Returns false at the end of the body.
    pub(super) fn extend(&mut self) -> Res<bool> {
        if self.raw_end >= self.body.len() {
            return Ok(false);
        }
        let next = segment_end(self.body, self.raw_end + 1);
        self.set_raw_end(next);
        self.check_len()?;
        Ok(true)
    }

    /// Rejects a line longer than `max_line_len`.
    #[inline]
    pub(super) fn check_len(&self) -> Res<()> {
        let len = self.end - self.line_start;
        if len > self.opts.max_line_len {
            return Err(Box::new(Error::LineTooLong {
                len,
                limit: self.opts.max_line_len,
            }));
        }
        Ok(())
    }

    /// Scans the line starting at `pos` (after leading whitespace) into `s.items`,
    /// predicting its layout from `schema`.
    pub(super) fn scan_line(
        &mut self,
        s: &mut Scratch<'a>,
        schema: &Schema,
    ) -> Res<ScannedLine<'a>> {
        s.arena.clear();
        s.items.clear();
        let start = self.pos;
        let (measurement, schema) = match schema.measurement {
            Some((at, len)) if len <= self.end - start && same_bytes(self.body, start, at, len) => {
                self.pos = start + len - 1;
                (Text::Src(self.src(start, self.pos)?), Some(schema))
            }
            _ => {
                let m = self.text(STOP_NAME, STOP_NAME, "measurement", &mut s.arena)?;
                (m, None)
            }
        };
        if measurement.is_empty() {
            return Err(Box::new(Error::MissingMeasurement {
                col: self.col(start),
                found: self.found(start),
            }));
        }
        let mut line = ScannedLine {
            measurement,
            measurement_pos: start,
            predicted: false,
            time_ns: None,
        };
        let mut hits = 0;
        while self.peek() == Some(b',') {
            self.pos += 1;
            hits += usize::from(self.tag(s, schema)?);
        }
        // The tag section ends at a space (a scan stops only at `,` ` ` or the end).
        if self.peek() != Some(b' ') {
            return Err(self.missing_fields());
        }
        self.skip_spaces();
        if self.pos >= self.end {
            return Err(self.missing_fields());
        }
        loop {
            hits += usize::from(self.field(s, schema)?);
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    // A comma after the last field is accepted, as InfluxDB 3 does.
                    if matches!(self.peek(), None | Some(b' ')) {
                        break;
                    }
                }
                Some(b' ') | None => break,
                Some(_) => {
                    let key = s.items.last().map_or("", |i| i.key.get(&s.arena));
                    return Err(Box::new(Error::ExpectedFieldSeparator {
                        key: key.to_owned(),
                        col: self.col(self.pos),
                        found: self.found(self.pos),
                    }));
                }
            }
        }
        line.predicted = schema.is_some_and(|sc| hits == sc.keys.len() && hits == s.items.len());
        self.skip_spaces();
        if self.pos >= self.end {
            // No timestamp (possibly trailing spaces after the fields).
            return Ok(line);
        }
        line.time_ns = Some(self.timestamp()?);
        self.skip_spaces();
        if self.pos < self.end {
            return Err(Box::new(Error::TrailingContent {
                col: self.col(self.pos),
                found: self.found(self.pos),
            }));
        }
        Ok(line)
    }

    #[cold]
    fn missing_fields(&self) -> Box<Error> {
        Box::new(Error::MissingFields {
            col: self.col(self.pos),
            found: self.found(self.pos),
        })
    }

    #[inline]
    fn skip_spaces(&mut self) {
        while self.pos < self.end && self.body[self.pos] == b' ' {
            self.pos += 1;
        }
    }

    /// The key of the next item and the `=` after it. Returns the key, where it
    /// starts and the schema's hint when the schema predicted it.
    #[inline(always)]
    fn key(
        &mut self,
        s: &mut Scratch<'a>,
        schema: Option<&Schema>,
        what: &'static str,
    ) -> Res<(Text<'a>, usize, Hint)> {
        let key_pos = self.pos;
        if let Some(k) = schema.and_then(|sc| sc.keys.get(s.items.len()))
            && k.len <= self.end - key_pos
            && same_bytes(self.body, key_pos, k.start, k.len)
        {
            self.pos = key_pos + k.len;
            let key = Text::Src(self.src(key_pos, self.pos - 1)?);
            return Ok((key, key_pos, Some((k.col, k.kind))));
        }
        let key = self.text(STOP_KEY, STOP_KEY, what, &mut s.arena)?;
        if key.is_empty() {
            return Err(self.missing_key(what, key_pos));
        }
        if self.peek() != Some(b'=') {
            return Err(self.expected_equals(what, key, &s.arena));
        }
        self.pos += 1;
        if key.get(&s.arena) == strata_model::TIME_COLUMN {
            return Err(Box::new(Error::ReservedTime {
                what,
                col: self.col(key_pos),
            }));
        }
        Ok((key, key_pos, None))
    }

    #[cold]
    fn missing_key(&self, what: &'static str, key_pos: usize) -> Box<Error> {
        let (col, found) = (self.col(key_pos), self.found(key_pos));
        Box::new(if what == "tag key" {
            Error::MissingTagKey { col, found }
        } else {
            Error::MissingFieldKey { col, found }
        })
    }

    #[cold]
    fn expected_equals(&self, what: &'static str, key: Text<'a>, arena: &str) -> Box<Error> {
        let key = key.get(arena).to_owned();
        let (col, found) = (self.col(self.pos), self.found(self.pos));
        Box::new(if what == "tag key" {
            Error::ExpectedTagEquals { key, col, found }
        } else {
            Error::ExpectedFieldEquals { key, col, found }
        })
    }

    /// One `key=value` of the tag set (after its comma); true when the schema
    /// predicted the key.
    #[inline]
    fn tag(&mut self, s: &mut Scratch<'a>, schema: Option<&Schema>) -> Res<bool> {
        let (key, key_pos, hint) = self.key(s, schema, "tag key")?;
        let value_pos = self.pos;
        // Tag values end at `,` and ` ` only (an unescaped `=` is kept, as InfluxDB
        // does) but `\=` is still an escape.
        let value = self.text(STOP_NAME, STOP_KEY, "tag value", &mut s.arena)?;
        let len = value.get(&s.arena).len();
        if len == 0 || len > self.opts.max_tag_value_len {
            return Err(self.bad_tag_value(key, &s.arena, value_pos, len));
        }
        s.items.push(Item {
            key,
            key_pos,
            value: Value::Tag(value),
            hint,
        });
        Ok(hint.is_some())
    }

    #[cold]
    fn bad_tag_value(
        &self,
        key: Text<'a>,
        arena: &str,
        value_pos: usize,
        len: usize,
    ) -> Box<Error> {
        let key = key.get(arena).to_owned();
        Box::new(if len == 0 {
            Error::MissingTagValue {
                key,
                col: self.col(value_pos),
            }
        } else {
            Error::TagValueTooLong {
                key,
                len,
                limit: self.opts.max_tag_value_len,
            }
        })
    }

    /// One `key=value` of the field set; true when the schema predicted the key.
    #[inline]
    fn field(&mut self, s: &mut Scratch<'a>, schema: Option<&Schema>) -> Res<bool> {
        let (key, key_pos, hint) = self.key(s, schema, "field key")?;
        let value = self.field_value(key, &mut s.arena)?;
        s.items.push(Item {
            key,
            key_pos,
            value,
            hint,
        });
        Ok(hint.is_some())
    }

    /// Scans text up to a byte of class `stop`; a backslash followed by a byte of
    /// class `special` stands for that byte, any other backslash is literal.
    #[inline(always)]
    fn text(
        &mut self,
        stop: u8,
        special: u8,
        what: &'static str,
        arena: &mut String,
    ) -> Res<Text<'a>> {
        let (b, start, end) = (self.body, self.pos, self.end);
        let i = find_stop(b, start, end, stop);
        if i < end && b[i] == b'\\' {
            return self.escaped_text(i, stop, special, what, arena);
        }
        self.pos = i;
        Ok(Text::Src(self.src(start, i)?))
    }

    /// [`Self::text`] once a backslash is found at `i`: unescapes into the arena.
    #[cold]
    fn escaped_text(
        &mut self,
        mut i: usize,
        stop: u8,
        special: u8,
        what: &'static str,
        arena: &mut String,
    ) -> Res<Text<'a>> {
        let (b, start, end) = (self.body, self.pos, self.end);
        let first = arena.len();
        let mut piece = start;
        // Invariant: every byte of class `stop` is also of class `special`, so the
        // byte after a literal backslash never ends the text.
        while i < end && b[i] == b'\\' {
            if i + 1 < end && CLASS[b[i + 1] as usize] & special != 0 {
                arena.push_str(self.src(piece, i)?);
                piece = i + 1;
                i += 2;
            } else {
                i += 1;
            }
            i = find_stop(b, i, end, stop);
        }
        arena.push_str(self.src(piece, i)?);
        self.pos = i;
        if arena.len() > first && arena.ends_with('\\') {
            // InfluxDB (Go and Rust parsers) rejects these: the backslash would
            // escape whatever follows when the name is written back out.
            return Err(Box::new(Error::EndsWithBackslash {
                what,
                name: arena.get(first..).unwrap_or_default().to_owned(),
                col: self.col(start),
            }));
        }
        Ok(Text::Arena(first, arena.len()))
    }
}
