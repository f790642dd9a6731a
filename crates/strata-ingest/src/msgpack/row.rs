//! The row-format record: `{"m", "t", "h", "tags": {...}, "fields": {...}}`, and
//! Arc's compact `"f": [...]` fields.
//!
//! One record is one row. The object's key pass has already checked the syntax
//! of every value, so this pass can stop at the first row-level problem without
//! losing its place in the body.

use super::convert::{self, Target};
use super::reader::{Value, read_value};
use super::{Error, ObjectKeys, Sink};
use std::fmt::Write as _;
use strata_model::{TIME_COLUMN, TableBatch};

/// Outcome of a record: `Ok(Err(message))` is a row error, `Err` a request error.
type RowResult<T> = Result<Result<T, String>, Error>;

/// Decodes one record into `table`, or rejects it with a row error.
pub(super) fn decode(
    body: &[u8],
    keys: &ObjectKeys,
    table: &mut TableBatch,
    sink: &mut Sink,
) -> Result<(), Error> {
    let line = sink.next_line();
    if let Err(message) = record(body, keys, table, sink, line)? {
        sink.reject(line, message);
    }
    Ok(())
}

fn record(
    body: &[u8],
    keys: &ObjectKeys,
    table: &mut TableBatch,
    sink: &mut Sink,
    line: u32,
) -> RowResult<()> {
    let time = match keys.t {
        Some(mut p) => match convert::time_ns(read_value(body, &mut p)?, &sink.opts, sink.now) {
            Ok(t) => t,
            Err(m) => return Ok(Err(m)),
        },
        None => sink.now,
    };
    if keys.fields.is_none() && keys.f.is_none() {
        return Ok(Err("record has no \"fields\"".to_owned()));
    }
    table.begin_row(line, time);
    let outcome = match values(body, keys, table, sink) {
        Ok(Ok(0)) => Err("record has no field values".to_owned()),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(m)) => Err(m),
        Err(e) => {
            table.rollback_row();
            return Err(e);
        }
    };
    if outcome.is_err() {
        table.rollback_row();
    }
    Ok(outcome)
}

/// Pushes the tags, host and fields of the current row; returns the number of
/// field values set.
fn values(
    body: &[u8],
    keys: &ObjectKeys,
    table: &mut TableBatch,
    sink: &mut Sink,
) -> RowResult<usize> {
    let opts = sink.opts;
    // Position of the next value within the row, for the table's layout cache.
    let mut col = 0;

    if let Some(mut p) = keys.tags {
        let n = match read_value(body, &mut p)? {
            Value::Map(n) => n,
            Value::Nil => 0,
            other => {
                return Ok(Err(format!(
                    "\"tags\" has type {}, not map",
                    other.type_name()
                )));
            }
        };
        for _ in 0..n {
            let name = match key(body, &mut p, "tag")? {
                Ok(name) => name,
                Err(m) => return Ok(Err(m)),
            };
            let v = read_value(body, &mut p)?;
            let idx = match table.resolve_column(col, name, Target::Tag.kind()) {
                Ok(i) => i,
                Err(c) => return Ok(Err(c.to_string())),
            };
            col += 1;
            if let Err(m) =
                convert::push_value(table, idx, Target::Tag, v, name, &mut sink.scratch, &opts)
            {
                return Ok(Err(m));
            }
        }
    }

    if let Some(mut p) = keys.h {
        let v = read_value(body, &mut p)?;
        let v = match v {
            Value::Int(_) | Value::BigUint(_) => {
                sink.key_buf.clear();
                let _ = match v {
                    Value::BigUint(u) => write!(sink.key_buf, "host_{u}"),
                    Value::Int(i) => write!(sink.key_buf, "host_{i}"),
                    _ => Ok(()),
                };
                Value::Str(sink.key_buf.as_bytes())
            }
            Value::Str(_) | Value::Nil => v,
            other => {
                return Ok(Err(format!(
                    "\"h\" has type {}, not string",
                    other.type_name()
                )));
            }
        };
        let idx = match table.resolve_column(col, "host", Target::Tag.kind()) {
            Ok(i) => i,
            Err(c) => return Ok(Err(c.to_string())),
        };
        col += 1;
        if let Err(m) =
            convert::push_value(table, idx, Target::Tag, v, "host", &mut sink.scratch, &opts)
        {
            return Ok(Err(m));
        }
    }

    let mut fields = 0;
    if let Some(mut p) = keys.fields {
        let n = match read_value(body, &mut p)? {
            Value::Map(n) => n,
            Value::Nil => 0,
            other => {
                return Ok(Err(format!(
                    "\"fields\" has type {}, not map",
                    other.type_name()
                )));
            }
        };
        for _ in 0..n {
            let name = match key(body, &mut p, "field")? {
                Ok(name) => name,
                Err(m) => return Ok(Err(m)),
            };
            let v = read_value(body, &mut p)?;
            match field(table, col, name, v, sink) {
                Ok(set) => fields += usize::from(set),
                Err(m) => return Ok(Err(m)),
            }
            col += 1;
        }
    } else if let Some(mut p) = keys.f {
        let n = match read_value(body, &mut p)? {
            Value::Array(n) => n,
            other => {
                return Ok(Err(format!(
                    "\"f\" has type {}, not array",
                    other.type_name()
                )));
            }
        };
        // Take the buffer so the name can be borrowed while `sink` is lent out.
        let mut name = std::mem::take(&mut sink.key_buf);
        for i in 0..n {
            let v = read_value(body, &mut p)?;
            name.clear();
            let _ = write!(name, "field_{i}");
            let outcome = field(table, col, &name, v, sink);
            col += 1;
            match outcome {
                Ok(set) => fields += usize::from(set),
                Err(m) => {
                    sink.key_buf = name;
                    return Ok(Err(m));
                }
            }
        }
        sink.key_buf = name;
    }
    Ok(Ok(fields))
}

/// A map key naming a tag or field: a non-empty UTF-8 string other than `time`.
fn key<'a>(body: &'a [u8], pos: &mut usize, what: &str) -> RowResult<&'a str> {
    let bytes = match read_value(body, pos)? {
        Value::Str(b) => b,
        // The record is abandoned, so the cursor need not stay in step.
        other => {
            return Ok(Err(format!(
                "{what} name has type {}, not string",
                other.type_name()
            )));
        }
    };
    Ok(match std::str::from_utf8(bytes) {
        Ok("") => Err(format!("{what} name is empty")),
        Ok(TIME_COLUMN) => Err(format!(
            "{what} name \"time\" is reserved for the timestamp"
        )),
        Ok(name) => Ok(name),
        Err(_) => Err(format!("{what} name is not UTF-8")),
    })
}

/// Sets field `name` to `v`; returns whether a value was set (false for nil).
fn field(
    table: &mut TableBatch,
    col: usize,
    name: &str,
    v: Value<'_>,
    sink: &mut Sink,
) -> Result<bool, String> {
    let Some(offered) = Target::of_value(&v) else {
        return match v {
            Value::Nil => Ok(false),
            other => Err(format!(
                "field {name:?} holds a value of type {}; supported are integers, floats, booleans, strings and nil",
                other.type_name()
            )),
        };
    };
    let (idx, target) = match table.resolve_column(col, name, offered.kind()) {
        Ok(i) => (i, offered),
        Err(conflict) => match Target::from_kind(conflict.existing) {
            // Numbers convert into the column's numeric type when exact.
            Some(t) if t.is_numeric() && offered.is_numeric() => (
                table
                    .resolve_column(col, name, t.kind())
                    .map_err(|c| c.to_string())?,
                t,
            ),
            _ => return Err(conflict.to_string()),
        },
    };
    convert::push_value(table, idx, target, v, name, &mut sink.scratch, &sink.opts)
}
