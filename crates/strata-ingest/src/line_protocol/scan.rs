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
use super::split::segment_end;
use crate::ParseOptions;
use strata_model::{ColumnKind, FieldType};

/// Delimiters of measurements and tag values: `,` ` ` and the escape `\`.
const STOP_NAME: u8 = 1;
/// Delimiters of tag and field keys: `,` `=` ` ` and `\`. Also the characters a
/// backslash escapes in keys and tag values (measurements: [`STOP_NAME`]).
const STOP_KEY: u8 = 2;

/// Byte classes for the scanning loops (one table lookup per byte).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b',' as usize] = STOP_NAME | STOP_KEY;
    t[b' ' as usize] = STOP_NAME | STOP_KEY;
    t[b'\\' as usize] = STOP_NAME | STOP_KEY;
    t[b'=' as usize] = STOP_KEY;
    t
};

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
    pub(super) value: Value<'a>,
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
    #[inline]
    pub(super) fn src(&self, a: usize, b: usize) -> Result<&'a str, Error> {
        match self.text {
            Some(t) => t.get(a..b).ok_or(Error::InvalidUtf8 { col: self.col(a) }),
            None => std::str::from_utf8(&self.body[a..b]).map_err(|e| Error::InvalidUtf8 {
                col: self.col(a + e.valid_up_to()),
            }),
        }
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
    pub(super) fn extend(&mut self) -> Result<bool, Error> {
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
    pub(super) fn check_len(&self) -> Result<(), Error> {
        let len = self.end - self.line_start;
        if len > self.opts.max_line_len {
            return Err(Error::LineTooLong {
                len,
                limit: self.opts.max_line_len,
            });
        }
        Ok(())
    }

    /// Scans the line starting at `pos` (after leading whitespace) into `s.items`.
    pub(super) fn scan_line(&mut self, s: &mut Scratch<'a>) -> Result<ScannedLine<'a>, Error> {
        s.arena.clear();
        s.items.clear();
        let start = self.pos;
        let measurement = self.text(STOP_NAME, STOP_NAME, "measurement", &mut s.arena)?;
        if measurement.is_empty() {
            return Err(Error::MissingMeasurement {
                col: self.col(start),
                found: self.found(start),
            });
        }
        while self.peek() == Some(b',') {
            self.pos += 1;
            self.tag(s)?;
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
            self.field(s)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b' ') => break,
                None => return Ok(ScannedLine { measurement, time_ns: None }),
                Some(_) => {
                    let key = s.items.last().map_or("", |i| i.key.get(&s.arena));
                    return Err(Error::ExpectedFieldSeparator {
                        key: key.to_owned(),
                        col: self.col(self.pos),
                        found: self.found(self.pos),
                    });
                }
            }
        }
        self.skip_spaces();
        if self.pos >= self.end {
            // Trailing spaces after the fields: no timestamp.
            return Ok(ScannedLine { measurement, time_ns: None });
        }
        let time_ns = self.timestamp()?;
        self.skip_spaces();
        if self.pos < self.end {
            return Err(Error::TrailingContent {
                col: self.col(self.pos),
                found: self.found(self.pos),
            });
        }
        Ok(ScannedLine {
            measurement,
            time_ns: Some(time_ns),
        })
    }

    fn missing_fields(&self) -> Error {
        Error::MissingFields {
            col: self.col(self.pos),
            found: self.found(self.pos),
        }
    }

    #[inline]
    fn skip_spaces(&mut self) {
        while self.pos < self.end && self.body[self.pos] == b' ' {
            self.pos += 1;
        }
    }

    /// One `key=value` of the tag set (after its comma).
    #[inline]
    fn tag(&mut self, s: &mut Scratch<'a>) -> Result<(), Error> {
        let key_pos = self.pos;
        let key = self.text(STOP_KEY, STOP_KEY, "tag key", &mut s.arena)?;
        if key.is_empty() {
            return Err(Error::MissingTagKey {
                col: self.col(key_pos),
                found: self.found(key_pos),
            });
        }
        if self.peek() != Some(b'=') {
            return Err(Error::ExpectedTagEquals {
                key: key.get(&s.arena).to_owned(),
                col: self.col(self.pos),
                found: self.found(self.pos),
            });
        }
        self.pos += 1;
        check_not_time(key, &s.arena, "tag key", self.col(key_pos))?;
        let value_pos = self.pos;
        // Tag values end at `,` and ` ` only (an unescaped `=` is kept, as InfluxDB
        // does) but `\=` is still an escape.
        let value = self.text(STOP_NAME, STOP_KEY, "tag value", &mut s.arena)?;
        let len = value.get(&s.arena).len();
        if len == 0 {
            return Err(Error::MissingTagValue {
                key: key.get(&s.arena).to_owned(),
                col: self.col(value_pos),
            });
        }
        if len > self.opts.max_tag_value_len {
            return Err(Error::TagValueTooLong {
                key: key.get(&s.arena).to_owned(),
                len,
                limit: self.opts.max_tag_value_len,
            });
        }
        s.items.push(Item {
            key,
            value: Value::Tag(value),
        });
        Ok(())
    }

    /// One `key=value` of the field set.
    #[inline]
    fn field(&mut self, s: &mut Scratch<'a>) -> Result<(), Error> {
        let key_pos = self.pos;
        let key = self.text(STOP_KEY, STOP_KEY, "field key", &mut s.arena)?;
        if key.is_empty() {
            return Err(Error::MissingFieldKey {
                col: self.col(key_pos),
                found: self.found(key_pos),
            });
        }
        if self.peek() != Some(b'=') {
            return Err(Error::ExpectedFieldEquals {
                key: key.get(&s.arena).to_owned(),
                col: self.col(self.pos),
                found: self.found(self.pos),
            });
        }
        self.pos += 1;
        check_not_time(key, &s.arena, "field key", self.col(key_pos))?;
        let value = self.field_value(key, &mut s.arena)?;
        s.items.push(Item { key, value });
        Ok(())
    }

    /// Scans text up to a byte of class `stop`; a backslash followed by a byte of
    /// class `special` stands for that byte, any other backslash is literal.
    #[inline]
    fn text(
        &mut self,
        stop: u8,
        special: u8,
        what: &'static str,
        arena: &mut String,
    ) -> Result<Text<'a>, Error> {
        let (b, start, end) = (self.body, self.pos, self.end);
        let mut i = start;
        while i < end && CLASS[b[i] as usize] & stop == 0 {
            i += 1;
        }
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
    ) -> Result<Text<'a>, Error> {
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
            while i < end && CLASS[b[i] as usize] & stop == 0 {
                i += 1;
            }
        }
        arena.push_str(self.src(piece, i)?);
        self.pos = i;
        if arena.len() > first && arena.ends_with('\\') {
            // InfluxDB (Go and Rust parsers) rejects these: the backslash would
            // escape whatever follows when the name is written back out.
            return Err(Error::EndsWithBackslash {
                what,
                name: arena.get(first..).unwrap_or_default().to_owned(),
                col: self.col(start),
            });
        }
        Ok(Text::Arena(first, arena.len()))
    }
}

/// Rejects the reserved column name `time`.
#[inline]
fn check_not_time(key: Text<'_>, arena: &str, what: &'static str, col: usize) -> Result<(), Error> {
    if key.get(arena) == strata_model::TIME_COLUMN {
        return Err(Error::ReservedTime { what, col });
    }
    Ok(())
}
