//! InfluxDB line protocol into a [`WriteBatch`].
//!
//! ```text
//! measurement[,tag=value...] field=value[,field=value...] [timestamp]
//! ```
//!
//! [`parse`] reads a whole request body and returns the rows that parsed, grouped by
//! table, beside one [`LineError`] per rejected line. This module owns the grammar;
//! the batch owns column typing (a column has one kind per batch).
//!
//! # Rules
//! - Measurements escape `,` ` ` `\` with a backslash; tag keys, tag values and field
//!   keys escape `,` `=` ` ` `\`. A backslash before any other byte is literal. A
//!   name or tag value may not end with a backslash once unescaped, and may not be
//!   empty. An unescaped `=` in a tag value is kept (as InfluxDB does).
//! - Field values (grammar in `value.rs`): float `1.5`, integer `1i`, unsigned `1u`,
//!   boolean `t`/`true`/..., string `"text"`.
//! - Sections are separated by one or more spaces; trailing spaces are ignored.
//!   Lines end at `\n` or `\r\n`; blank lines and lines whose first non-blank byte is
//!   `#` are skipped. A newline inside a quoted string value, or escaped by a
//!   backslash, does not end the line.
//! - A missing timestamp is the server time truncated to the request precision.
//! - Duplicate keys: the last value wins (duplicate field keys of different types
//!   are rejected). A key used as both tag and field, and a column named `time`, are
//!   rejected.
//! - Limits: lines above [`ParseOptions::max_line_len`] bytes and tag values above
//!   [`ParseOptions::max_tag_value_len`] bytes are rejected.
//!
//! # Invariants
//! - A rejected line leaves no trace in the batch: each line is scanned completely
//!   (phase one, `scan.rs`) before anything is written; its columns are then
//!   resolved (phase two, `commit`), and only when every column accepts its kind
//!   is the row begun and its values pushed. A kind conflict found after the line
//!   created a column is swept by [`WriteBatch::finish`], which drops columns
//!   without values (so `rollback_row` is never needed).
//! - Errors carry the 1-based physical line number where the line starts and a
//!   1-based byte column.
//! - No allocation per line once the scratch buffers have grown: text is borrowed
//!   from the body, and unescaped into a reused arena only when it holds a backslash.
//! - The layout of the last accepted line (`schema.rs`) predicts the next one's
//!   measurement, keys and columns; a prediction is only a shortcut, checked byte
//!   for byte, and never changes what a line parses to.
//!
//! # Divergences from the `influxdb-line-protocol` crate (InfluxDB 3's parser)
//! The property tests check that every line that crate accepts is accepted here with
//! the same values, except (on purpose):
//! - NaN/infinite floats (it accepts `1e999` as infinity), columns named `time`, a
//!   key used as tag and field, and duplicate fields of different types: rejected.
//! - An unescaped `,` in a tag or field key: it accepts `m,a,b=1 f=1` (tag `a,b`);
//!   here, as in InfluxDB 1.x/2.x (Go), it ends the key, so the line is an error.
//! - Comments end at the next newline. That parser splits lines before stripping
//!   comments, so a comment with an unbalanced `"` after a `=` swallows the following
//!   lines there.
//! - A batch gives a column one type: a line whose value type differs from an
//!   earlier line's in the same table is rejected (that crate parses line by line).
//!
//! We also accept what it rejects: CRLF line endings, `+1.5`, `.5`, `1.`, `+1i`,
//! trailing spaces after the fields, tabs and NUL bytes inside names. Like it, we
//! accept a comma after the last field (`m f=1,`).

mod error;
mod scan;
mod schema;
mod split;
mod value;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use crate::{LineError, ParseOptions, Parsed};
use error::Error;
use memchr::memchr;
use scan::{Item, Res, Scanner, Scratch, Value};
use schema::Schema;
use strata_model::{ColumnConflict, ColumnKind, FieldValue, WriteBatch};

/// Parses a line protocol body into a batch (finished) and the rejected lines.
///
/// ```
/// use strata_ingest::{ParseOptions, line_protocol};
/// use strata_model::Precision;
///
/// let body = b"cpu,host=a usage=0.5,count=3i 1700000000\ncpu usage=oops\n";
/// let parsed = line_protocol::parse(body, &ParseOptions::new(Precision::Second, 0));
/// assert_eq!(parsed.batch.row_count(), 1);
/// assert_eq!(parsed.errors[0].line, 2);
/// ```
pub fn parse(body: &[u8], opts: &ParseOptions) -> Parsed {
    let mut parsed = Parsed::default();
    let mut parser = Parser {
        scanner: Scanner {
            body,
            text: std::str::from_utf8(body).ok(),
            opts,
            line_start: 0,
            pos: 0,
            end: 0,
            raw_end: 0,
        },
        scratch: Scratch::default(),
        schema: Schema::default(),
        cols: Vec::new(),
        default_time: opts.precision.now_truncated(opts.now_ns),
    };
    parser.run(&mut parsed);
    parsed.batch.finish();
    parsed
}

/// State of one [`parse`] call.
#[derive(Debug)]
struct Parser<'a, 'o> {
    scanner: Scanner<'a, 'o>,
    scratch: Scratch<'a>,
    /// Layout of the last accepted line.
    schema: Schema,
    /// Column index of each item of the current line.
    cols: Vec<usize>,
    /// Timestamp of lines without one.
    default_time: i64,
}

impl<'a> Parser<'a, '_> {
    fn run(&mut self, out: &mut Parsed) {
        let body = self.scanner.body;
        let mut pos = 0;
        let mut line: u32 = 1;
        while pos < body.len() {
            let line_start = pos;
            let mut i = pos;
            while i < body.len() && matches!(body[i], b' ' | b'\t') {
                i += 1;
            }
            let newline = memchr(b'\n', &body[i..]).map_or(body.len(), |o| i + o);
            let blank = i == newline || (body[i] == b'\r' && i + 1 == newline);
            if blank || body[i] == b'#' {
                pos = newline + 1;
                line = line.saturating_add(1);
                continue;
            }
            let s = &mut self.scanner;
            s.line_start = line_start;
            s.pos = i;
            // A backslash before the newline may escape it (rare): find the real end.
            let raw_end = if body[newline - 1] == b'\\' {
                split::segment_end(body, newline)
            } else {
                newline
            };
            s.set_raw_end(raw_end);
            let result = self.line(&mut out.batch, line);
            let end = match result {
                Ok(()) => self.scanner.raw_end,
                Err(e) => {
                    out.errors.push(LineError {
                        line,
                        message: e.to_string(),
                    });
                    split::recovery_end(body, line_start).max(newline)
                }
            };
            // Physical lines spanned: 1 plus the newlines inside the line (rare).
            let spanned = if end > newline {
                2 + memchr::memchr_iter(b'\n', &body[newline + 1..end]).count()
            } else {
                1
            };
            line = line.saturating_add(u32::try_from(spanned).unwrap_or(u32::MAX));
            pos = end + 1;
        }
    }

    /// Scans and commits the line the scanner is set to.
    #[inline]
    fn line(&mut self, batch: &mut WriteBatch, line: u32) -> Res<()> {
        let s = &mut self.scanner;
        s.check_len()?;
        if s.text.is_none() {
            // The body holds invalid UTF-8 somewhere: name this line's first bad byte
            // rather than the token that happens to contain it.
            s.src(s.line_start, s.end)?;
        }
        let scanned = s.scan_line(&mut self.scratch, &self.schema)?;
        let time = scanned.time_ns.unwrap_or(self.default_time);
        let Scratch { arena, items } = &self.scratch;
        let measurement = scanned.measurement.get(arena);
        match commit(batch, measurement, items, arena, &mut self.cols, line, time) {
            Ok(all_hinted) => {
                if !(scanned.predicted && all_hinted) {
                    let m = (scanned.measurement_pos, scanned.measurement);
                    self.schema.record(m.0, m.1, items, &self.cols);
                }
                Ok(())
            }
            Err(e) => {
                // The batch may have been swept: remembered columns may be stale.
                self.schema.clear();
                Err(e)
            }
        }
    }
}

/// Phase two: resolves every column of a scanned line, then writes the row.
/// Returns true when every column came from a schema hint.
#[inline]
fn commit(
    batch: &mut WriteBatch,
    measurement: &str,
    items: &[Item<'_>],
    arena: &str,
    cols: &mut Vec<usize>,
    line: u32,
    time: i64,
) -> Res<bool> {
    let table = batch.table_mut(measurement);
    let columns_before = table.columns().len();
    let mut all_hinted = true;
    cols.clear();
    for (pos, item) in items.iter().enumerate() {
        let kind = item.value.kind();
        if let Some((col, hinted)) = item.hint
            && hinted == kind
        {
            cols.push(col);
            continue;
        }
        all_hinted = false;
        match table.resolve_column(pos, item.key.get(arena), kind) {
            Ok(idx) => cols.push(idx),
            Err(conflict) => {
                if table.columns().len() != columns_before {
                    // This line created columns before failing; drop them so that
                    // their kinds do not constrain later lines.
                    batch.finish();
                }
                return Err(Box::new(explain(conflict, items, pos, arena)));
            }
        }
    }
    table.begin_row(line, time);
    for (item, &idx) in items.iter().zip(cols.iter()) {
        match item.value {
            Value::Tag(t) => table.push_tag(idx, t.get(arena)),
            Value::F64(v) => table.push_field(idx, FieldValue::F64(v)),
            Value::I64(v) => table.push_field(idx, FieldValue::I64(v)),
            Value::U64(v) => table.push_field(idx, FieldValue::U64(v)),
            Value::Bool(v) => table.push_field(idx, FieldValue::Bool(v)),
            Value::Str(t) => table.push_field(idx, FieldValue::Str(t.get(arena))),
        }
    }
    Ok(all_hinted)
}

/// Names the cause of a kind conflict at item `pos`: the line itself (a key used as
/// tag and field, or a field repeated with another type) or an earlier line.
#[cold]
fn explain(conflict: ColumnConflict, items: &[Item<'_>], pos: usize, arena: &str) -> Error {
    let key = &conflict.column;
    let same_key = |i: &&Item<'_>| i.key.get(arena) == key;
    let is_tag = |i: &Item<'_>| matches!(i.value, Value::Tag(_));
    let offered_tag = conflict.offered == ColumnKind::Tag;
    // Tags come first, so a tag/field clash within the line has the tag earlier.
    if items
        .iter()
        .filter(same_key)
        .any(|i| is_tag(i) != offered_tag)
    {
        return Error::TagAndField { key: key.clone() };
    }
    if let (ColumnKind::Field(first), ColumnKind::Field(second)) =
        (conflict.existing, conflict.offered)
    {
        let earlier = items[..pos]
            .iter()
            .filter(same_key)
            .any(|i| i.value.kind() == conflict.existing);
        if earlier {
            return Error::DuplicateFieldTypes {
                key: key.clone(),
                first: first.name(),
                second: second.name(),
            };
        }
    }
    Error::Conflict(conflict)
}
