//! Why a line was rejected.
//!
//! Columns are 1-based byte offsets from the start of the line (the first byte after
//! the previous newline), so they match an editor's column for ASCII input.

use strata_model::ColumnConflict;
use thiserror::Error;

/// One rejected line's reason; rendered into [`crate::LineError::message`].
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub(super) enum Error {
    /// The line exceeds [`crate::ParseOptions::max_line_len`].
    #[error("line is {len} bytes long; the limit is {limit} bytes (max_line_len)")]
    LineTooLong { len: usize, limit: usize },

    /// Bytes that are not UTF-8.
    #[error("invalid UTF-8 at column {col}; line protocol must be UTF-8 text")]
    InvalidUtf8 { col: usize },

    /// The line starts with a delimiter instead of a measurement name.
    #[error("expected a measurement name at column {col}, found {found}")]
    MissingMeasurement { col: usize, found: String },

    /// A name or tag value whose unescaped form ends with `\` (InfluxDB rejects
    /// these; a trailing backslash would escape the delimiter after it).
    #[error(
        "{what} {name:?} ends with a backslash, which line protocol does not allow (column {col})"
    )]
    EndsWithBackslash {
        what: &'static str,
        name: String,
        col: usize,
    },

    /// `m,=v` or `m,a=1,`.
    #[error("expected a tag key at column {col}, found {found}")]
    MissingTagKey { col: usize, found: String },

    /// `m,host f=1`.
    #[error(
        "expected '=' after tag key {key:?} at column {col}, found {found} \
         (escape ',', '=' and ' ' in tag keys with a backslash)"
    )]
    ExpectedTagEquals {
        key: String,
        col: usize,
        found: String,
    },

    /// `m,host= f=1`.
    #[error("expected a value for tag {key:?} at column {col}; tag values may not be empty")]
    MissingTagValue { key: String, col: usize },

    /// A tag value above [`crate::ParseOptions::max_tag_value_len`].
    #[error(
        "value of tag {key:?} is {len} bytes long; the limit is {limit} bytes (max_tag_value_len)"
    )]
    TagValueTooLong {
        key: String,
        len: usize,
        limit: usize,
    },

    /// No field set.
    #[error(
        "line has no fields: expected a space and then field=value pairs at column {col}, \
         found {found}"
    )]
    MissingFields { col: usize, found: String },

    /// `m f=1,` or `m =1`.
    #[error("expected a field key at column {col}, found {found}")]
    MissingFieldKey { col: usize, found: String },

    /// `m usage 1`.
    #[error(
        "expected '=' after field key {key:?} at column {col}, found {found} \
         (escape ',', '=' and ' ' in field keys with a backslash)"
    )]
    ExpectedFieldEquals {
        key: String,
        col: usize,
        found: String,
    },

    /// `m f=` or `m f=abc`.
    #[error(
        "invalid value for field {key:?} at column {col}: found {found}; expected a float \
         (1.5, -2e3), an integer (1i), an unsigned integer (1u), a boolean (t, true, f, \
         false) or a double-quoted string"
    )]
    InvalidFieldValue {
        key: String,
        col: usize,
        found: String,
    },

    /// An `i` value outside i64.
    #[error(
        "integer value {value} of field {key:?} at column {col} is out of range for a \
         64-bit signed integer"
    )]
    IntegerOutOfRange {
        key: String,
        value: String,
        col: usize,
    },

    /// A `u` value outside u64 (or negative).
    #[error(
        "unsigned integer value {value} of field {key:?} at column {col} is out of range \
         for a 64-bit unsigned integer"
    )]
    UnsignedOutOfRange {
        key: String,
        value: String,
        col: usize,
    },

    /// A float that overflows to infinity.
    #[error(
        "float value {value} of field {key:?} at column {col} is out of range; NaN and \
         infinity are not supported"
    )]
    FloatOutOfRange {
        key: String,
        value: String,
        col: usize,
    },

    /// `m s="abc`.
    #[error("string value of field {key:?} starting at column {col} has no closing '\"'")]
    UnterminatedString { key: String, col: usize },

    /// `m f=1x`.
    #[error("expected ',' or ' ' after the value of field {key:?} at column {col}, found {found}")]
    ExpectedFieldSeparator {
        key: String,
        col: usize,
        found: String,
    },

    /// `m f=1 abc`.
    #[error("expected an integer timestamp at column {col}, found {found}")]
    InvalidTimestamp { col: usize, found: String },

    /// A timestamp outside i64.
    #[error("timestamp {value} at column {col} does not fit in a 64-bit signed integer")]
    TimestampOutOfRange { value: String, col: usize },

    /// A timestamp that fits in i64 in its precision but not in nanoseconds.
    #[error(
        "timestamp {value} in {precision} precision is outside the range of nanosecond \
         timestamps (years 1677 to 2262)"
    )]
    TimestampOverflow { value: i64, precision: &'static str },

    /// `m f=1 123 456`.
    #[error("expected end of line after the timestamp at column {col}, found {found}")]
    TrailingContent { col: usize, found: String },

    /// A tag or field named `time`.
    #[error("column name 'time' is reserved for the timestamp; rename the {what} at column {col}")]
    ReservedTime { what: &'static str, col: usize },

    /// `m,a=x a=1`.
    #[error("{key:?} is both a tag key and a field key in this line; a column is one or the other")]
    TagAndField { key: String },

    /// `m a=1i,a=1.5`.
    #[error(
        "field {key:?} appears more than once in this line with different types \
         ({first} and {second})"
    )]
    DuplicateFieldTypes {
        key: String,
        first: &'static str,
        second: &'static str,
    },

    /// The column exists in the batch with another kind.
    #[error("{0}")]
    Conflict(#[from] ColumnConflict),
}

/// What the parser found at a position, for messages: a short quoted excerpt or
/// "end of line".
pub(super) fn found_at(bytes: &[u8], pos: usize, end: usize) -> String {
    let end = end.min(bytes.len());
    if pos >= end {
        return "end of line".to_owned();
    }
    // A delimiter alone, or a token of up to 16 bytes cut at the next delimiter.
    let is_delim = |b: u8| matches!(b, b' ' | b',' | b'=');
    let mut stop = pos + 1;
    if !is_delim(bytes[pos]) {
        while stop < end && stop - pos < 16 && !is_delim(bytes[stop]) {
            stop += 1;
        }
    }
    format!("{:?}", String::from_utf8_lossy(&bytes[pos..stop]))
}
