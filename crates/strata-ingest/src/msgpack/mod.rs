//! Arc's MessagePack write format to [`WriteBatch`].
//!
//! This module owns decoding of the bodies Arc (`/api/v1/write/msgpack`) accepts,
//! as sent by `arc-tsdb-client`, Telegraf's `outputs.arc` and hand-written
//! clients. Entry point: [`decode`].
//!
//! # Accepted format
//!
//! A body is one or more top-level values, concatenated. Each is either an
//! *object* (a map) or an array of objects. An object is one of:
//!
//! - **Batch**: `{"batch": [object, ...]}`. When `"batch"` is present every other
//!   key is ignored (as in Arc); batches may nest a few levels.
//! - **Columnar**: `{"m": name, "columns": {"time": [...], col: [...], ...}}`,
//!   optionally with `"tag_keys": [names]` (Arc's spelling) or `"tags": [names]`
//!   listing the tag columns. All arrays must have the same length; `nil` in an
//!   array is a null for that row.
//! - **Row**: `{"m": name, "t": time, "h": host, "tags": {k: v}, "fields": {k: v}}`.
//!   `"t"`, `"h"` and `"tags"` are optional; `"h"` becomes tag `host` (and wins
//!   over `tags.host`). Arc's compact form `"f": [v0, v1, ...]` stands for fields
//!   `field_0`, `field_1`, ... when `"fields"` is absent.
//!
//! `"m"` is a non-empty string; an integer `m` becomes `measurement_<m>` and an
//! integer `h` becomes `host_<h>`, as in Arc. Keys other than these are ignored.
//!
//! ## Tags and fields
//!
//! In the row format tags and fields are given apart. In the columnar format, with a
//! tag list exactly the listed columns are tags (names not present are ignored);
//! **without one, every column whose first non-nil value is a string is a tag and
//! every other column is a field** (so a string field needs a tag list). Tag values
//! that are numbers or booleans are written in decimal / `true` / `false`; an empty
//! tag value is an absent tag, as in line protocol. An inferred tag column whose
//! name is already a string field in the batch stays a string field.
//!
//! ## Field types
//!
//! Floats (f32, f64) are float fields, booleans boolean fields, strings string
//! fields. Integers are signed 64-bit integer fields; a uint64 above `i64::MAX`
//! is rejected (its row is an error), as Arc does: MessagePack never creates
//! unsigned columns. A columnar array's type is its first non-nil value's, except
//! that an integer array holding any float is a float column (`[1, 2.5]`). Once a
//! column exists in the batch its type is fixed: later integers go into a float
//! column and whole floats into an integer column when the conversion is exact;
//! any other mismatch rejects the row with a [`ColumnConflict`] message.
//!
//! ## Time
//!
//! The column (or row key `"t"`) named `time` is the timestamp, never a field. It
//! may be an integer, a float or a MessagePack timestamp extension (-1, exact).
//! Integers and floats are in [`ParseOptions::precision`]; with
//! [`Precision::Auto`] (what Arc does, and what the server should pass for this
//! format) the unit is inferred per value: below 1e10 seconds, below 1e13
//! milliseconds, below 1e16 microseconds, else nanoseconds. Float fractions are
//! kept. A missing `time` column, a missing `"t"` or a nil time means
//! `ParseOptions::now_ns`.
//!
//! ## Errors
//!
//! Problems with the request as a whole are an [`Error`] and nothing is returned:
//! malformed MessagePack (with the byte offset), a missing or invalid
//! measurement, columns of unequal length, a column holding an unsupported type
//! (binary, array, map, extension), empty or duplicate column names, non-array
//! columns. Problems with one row are a [`LineError`] and the row is dropped:
//! a value that does not fit its column, a bad timestamp, a row without any field
//! value, a row-format record without fields. `LineError::line` is the 1-based
//! *row number* in the body: every columnar row and every row-format record counts
//! one, in body order (the same number is stored in [`TableBatch::lines`]).
//!
//! ## Text and limits
//!
//! Measurement, column and tag names must be UTF-8 and non-empty. String values
//! that are not UTF-8 have their invalid sequences replaced with U+FFFD (Arc
//! sanitizes the same way) rather than failing. A tag value longer than
//! [`ParseOptions::max_tag_value_len`] rejects its row. `batch` objects and arrays
//! of objects nest at most 8 levels; values under ignored keys may nest without
//! limit (they are skipped without recursion). Declared lengths are checked against
//! the bytes left before anything is allocated or looped over, so a forged length
//! cannot exhaust memory.
//!
//! [`WriteBatch`]: strata_model::WriteBatch
//! [`TableBatch::lines`]: strata_model::TableBatch::lines
//! [`ColumnConflict`]: strata_model::ColumnConflict
//! [`Precision::Auto`]: strata_model::Precision::Auto

mod columnar;
mod convert;
mod reader;
mod row;
mod tag_cache;

use crate::{LineError, ParseOptions, Parsed};
use reader::{Value, read_value, skip_value};
use std::fmt::Write as _;
use strata_model::WriteBatch;

/// Deepest nesting of `batch` objects and arrays of objects.
const MAX_DEPTH: usize = 8;

/// Why a whole request was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The body is empty.
    #[error("request body is empty")]
    Empty,
    /// The body is not valid MessagePack.
    #[error("malformed MessagePack at byte {offset}: {reason}")]
    Malformed {
        /// Offset of the value that could not be read.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Valid MessagePack, but not the shape Arc's format has here.
    #[error("expected {expected} at byte {offset}, found {found}")]
    Unexpected {
        /// Offset of the offending value.
        offset: usize,
        /// What the format requires there.
        expected: &'static str,
        /// The MessagePack type found.
        found: &'static str,
    },
    /// An object without `"m"`.
    #[error("object at byte {offset} has no measurement (\"m\")")]
    MissingMeasurement {
        /// Offset of the object.
        offset: usize,
    },
    /// `"m"` is empty, not UTF-8, or of the wrong type.
    #[error("invalid measurement at byte {offset}: {reason}")]
    InvalidMeasurement {
        /// Offset of the `"m"` value.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Columnar arrays of different lengths.
    #[error(
        "column {column:?} has {found} values, but column {first:?} has {expected}; \
         all columns must have the same length"
    )]
    UnequalLengths {
        /// The column whose length differs.
        column: String,
        /// Its length.
        found: usize,
        /// The first column of the object.
        first: String,
        /// The first column's length.
        expected: usize,
    },
    /// A column holding a type that cannot be stored.
    #[error(
        "column {column:?} holds a value of type {found} at byte {offset}; \
         supported are integers, floats, booleans, strings and nil"
    )]
    UnsupportedType {
        /// The column.
        column: String,
        /// The MessagePack type found.
        found: &'static str,
        /// Offset of the value.
        offset: usize,
    },
    /// A columnar value that is not an array.
    #[error("column {column:?} at byte {offset} has type {found}, not array")]
    NotAnArray {
        /// The column.
        column: String,
        /// The MessagePack type found.
        found: &'static str,
        /// Offset of the value.
        offset: usize,
    },
    /// A column or tag name that is empty or not UTF-8.
    #[error("invalid column name at byte {offset}: {reason}")]
    InvalidColumnName {
        /// Offset of the name.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The same column twice in one columnar object.
    #[error("column {column:?} appears twice in the object at byte {offset}")]
    DuplicateColumn {
        /// The column.
        column: String,
        /// Offset of the object.
        offset: usize,
    },
    /// `batch` objects or arrays nested too deeply.
    #[error("objects nested deeper than {MAX_DEPTH} levels at byte {offset}")]
    TooDeep {
        /// Offset of the too deeply nested value.
        offset: usize,
    },
}

/// Decodes an Arc MessagePack body (see the [module docs](self) for the format).
///
/// Returns the finished batch and the rejected rows, or an [`Error`] when the
/// request as a whole is unusable.
pub fn decode(body: &[u8], opts: &ParseOptions) -> Result<Parsed, Error> {
    if body.is_empty() {
        return Err(Error::Empty);
    }
    let mut d = Decoder {
        body,
        batch: WriteBatch::default(),
        sink: Sink {
            errors: Vec::new(),
            record: 0,
            scratch: String::new(),
            key_buf: String::new(),
            now: opts.precision.now_truncated(opts.now_ns),
            opts: *opts,
        },
        cols: Vec::new(),
        plans: Vec::new(),
        tag_list: Vec::new(),
        stamps: Vec::new(),
        generation: 0,
        name_buf: String::new(),
    };
    let mut pos = 0;
    while pos < body.len() {
        d.top_level(&mut pos, 0)?;
    }
    let Decoder {
        mut batch, sink, ..
    } = d;
    batch.finish();
    Ok(Parsed {
        batch,
        errors: sink.errors,
    })
}

/// Row-level state shared by the columnar and row decoders.
struct Sink {
    errors: Vec<LineError>,
    /// Rows numbered so far (the last 1-based row number handed out).
    record: u32,
    /// Reused buffer for formatting non-string tag values and compact field names.
    scratch: String,
    /// Reused buffer for names built per row (`host_<h>`, `field_<i>`).
    key_buf: String,
    /// Time for rows without one.
    now: i64,
    opts: ParseOptions,
}

impl Sink {
    /// The next 1-based row number.
    #[inline]
    fn next_line(&mut self) -> u32 {
        self.record = self.record.saturating_add(1);
        self.record
    }

    #[cold]
    fn reject(&mut self, line: u32, message: String) {
        self.errors.push(LineError { line, message });
    }
}

struct Decoder<'a> {
    body: &'a [u8],
    batch: WriteBatch,
    sink: Sink,
    /// Scratch, reused per columnar object: the scanned columns and their plans.
    cols: Vec<columnar::ColumnScan<'a>>,
    plans: Vec<columnar::Plan<'a>>,
    /// Scratch: the sorted tag list of the current columnar object.
    tag_list: Vec<&'a str>,
    /// Duplicate-column detection: `stamps[column index] == generation` when the
    /// column was already used by the current object.
    stamps: Vec<u32>,
    generation: u32,
    /// Scratch for measurement names made from integers.
    name_buf: String,
}

/// Where the keys of one object's map are (offsets of their values).
#[derive(Debug, Default)]
struct ObjectKeys {
    start: usize,
    m: Option<usize>,
    /// Set when `"columns"` was seen; its columns are in `Decoder::cols`.
    columns: Option<usize>,
    rows: usize,
    tags: Option<usize>,
    tag_keys: Option<usize>,
    fields: Option<usize>,
    f: Option<usize>,
    t: Option<usize>,
    h: Option<usize>,
    batch: Option<usize>,
}

impl<'a> Decoder<'a> {
    /// A top-level value or a batch item: an object or an array of objects.
    fn top_level(&mut self, pos: &mut usize, depth: usize) -> Result<(), Error> {
        let start = *pos;
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep { offset: start });
        }
        match read_value(self.body, pos)? {
            Value::Map(n) => self.object(start, n, pos, depth),
            Value::Array(n) => {
                for _ in 0..n {
                    let item = *pos;
                    match read_value(self.body, pos)? {
                        Value::Map(k) => self.object(item, k, pos, depth + 1)?,
                        other => return Err(unexpected(item, "a map (object)", &other)),
                    }
                }
                Ok(())
            }
            other => Err(unexpected(start, "a map or an array of maps", &other)),
        }
    }

    /// One object whose map header (with `n` entries) started at `start`.
    fn object(&mut self, start: usize, n: u32, pos: &mut usize, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep { offset: start });
        }
        let body = self.body;
        let mut keys = ObjectKeys {
            start,
            ..ObjectKeys::default()
        };
        // First pass: find the keys (maps from Go clients come in any order) and
        // check the syntax of every value, scanning "columns" on the way.
        for _ in 0..n {
            let key_at = *pos;
            let key = match read_value(body, pos)? {
                Value::Str(key) => key,
                other => return Err(unexpected(key_at, "a string key", &other)),
            };
            let at = *pos;
            let slot = match key {
                b"columns" => {
                    keys.rows = columnar::scan(body, pos, &mut self.cols)?;
                    keys.columns = Some(at);
                    continue;
                }
                b"m" => &mut keys.m,
                b"t" => &mut keys.t,
                b"h" => &mut keys.h,
                b"tags" => &mut keys.tags,
                b"tag_keys" => &mut keys.tag_keys,
                b"fields" => &mut keys.fields,
                b"f" => &mut keys.f,
                b"batch" => &mut keys.batch,
                _ => {
                    skip_value(body, pos)?;
                    continue;
                }
            };
            *slot = Some(at);
            skip_value(body, pos)?;
        }

        if let Some(mut at) = keys.batch {
            return self.top_level(&mut at, depth + 1);
        }

        let Decoder {
            batch,
            sink,
            cols,
            plans,
            tag_list,
            stamps,
            generation,
            name_buf,
            ..
        } = self;
        let table_name = measurement(body, &keys, name_buf)?;
        let table = batch.table_mut(table_name);
        if keys.columns.is_some() {
            *generation = generation.wrapping_add(1);
            if *generation == 0 {
                // Stamps from 2^32 objects ago could match again: forget them.
                stamps.clear();
                *generation = 1;
            }
            let scratch = columnar::Scratch {
                plans,
                tag_list,
                stamps,
                generation: *generation,
            };
            columnar::decode(body, &keys, cols, scratch, table, sink)
        } else {
            row::decode(body, &keys, table, sink)
        }
    }
}

/// The table name of an object.
fn measurement<'b>(
    body: &'b [u8],
    keys: &ObjectKeys,
    buf: &'b mut String,
) -> Result<&'b str, Error> {
    let Some(mut pos) = keys.m else {
        return Err(Error::MissingMeasurement { offset: keys.start });
    };
    let at = pos;
    let invalid = |reason| Error::InvalidMeasurement { offset: at, reason };
    match read_value(body, &mut pos)? {
        Value::Str(b"") => Err(invalid("it is empty")),
        Value::Str(bytes) => std::str::from_utf8(bytes).map_err(|_| invalid("it is not UTF-8")),
        Value::Int(i) => {
            buf.clear();
            let _ = write!(buf, "measurement_{i}");
            Ok(buf)
        }
        Value::BigUint(u) => {
            buf.clear();
            let _ = write!(buf, "measurement_{u}");
            Ok(buf)
        }
        Value::Nil => Err(Error::MissingMeasurement { offset: keys.start }),
        _ => Err(invalid("it must be a string")),
    }
}

#[cold]
fn unexpected(offset: usize, expected: &'static str, found: &Value<'_>) -> Error {
    Error::Unexpected {
        offset,
        expected,
        found: found.type_name(),
    }
}

#[cfg(test)]
mod robust_tests;
#[cfg(test)]
mod tests;
