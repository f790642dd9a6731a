//! Turning one decoded [`Value`] into a column value or a timestamp.
//!
//! A failure here is a row-level problem: the caller rolls the row back and
//! reports the returned message as a [`crate::LineError`]. Messages are built only
//! on failure, so the success path does not allocate.

use super::reader::Value;
use crate::ParseOptions;
use std::fmt::Write as _;
use strata_model::{ColumnConflict, ColumnKind, FieldType, FieldValue, TableBatch};

/// What the values of one column become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Tag,
    Float,
    Int,
    Bool,
    Str,
}

impl Target {
    pub(super) fn kind(self) -> ColumnKind {
        match self {
            Target::Tag => ColumnKind::Tag,
            Target::Float => ColumnKind::Field(FieldType::Float),
            Target::Int => ColumnKind::Field(FieldType::Integer),
            Target::Bool => ColumnKind::Field(FieldType::Boolean),
            Target::Str => ColumnKind::Field(FieldType::String),
        }
    }

    /// The target for a column that already exists with `kind`. MessagePack never
    /// produces unsigned columns, so `UInteger` has none.
    pub(super) fn from_kind(kind: ColumnKind) -> Option<Self> {
        Some(match kind {
            ColumnKind::Tag => Target::Tag,
            ColumnKind::Field(FieldType::Float) => Target::Float,
            ColumnKind::Field(FieldType::Integer) => Target::Int,
            ColumnKind::Field(FieldType::Boolean) => Target::Bool,
            ColumnKind::Field(FieldType::String) => Target::Str,
            ColumnKind::Field(FieldType::UInteger) => return None,
        })
    }

    /// The field target a value asks for by itself (row format); `None` for nil and
    /// for types that cannot be stored.
    pub(super) fn of_value(v: &Value<'_>) -> Option<Self> {
        Some(match v {
            Value::Int(_) | Value::BigUint(_) => Target::Int,
            Value::F32(_) | Value::F64(_) => Target::Float,
            Value::Bool(_) => Target::Bool,
            Value::Str(_) => Target::Str,
            _ => return None,
        })
    }

    /// True for numeric targets, between which values convert when lossless.
    pub(super) fn is_numeric(self) -> bool {
        matches!(self, Target::Float | Target::Int)
    }
}

/// Pushes `v` into column `idx` of the current row as `target`. Returns whether a
/// value was set (false for nil), or the message for a row error.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) fn push_value(
    table: &mut TableBatch,
    idx: usize,
    target: Target,
    v: Value<'_>,
    name: &str,
    scratch: &mut String,
    opts: &ParseOptions,
) -> Result<bool, String> {
    match (target, v) {
        (_, Value::Nil) => Ok(false),
        (Target::Int, Value::Int(i)) => {
            table.push_field(idx, FieldValue::I64(i));
            Ok(true)
        }
        (Target::Float, Value::F64(f)) => {
            table.push_field(idx, FieldValue::F64(f));
            Ok(true)
        }
        (Target::Tag, Value::Str(bytes)) => push_tag(table, idx, &utf8(bytes), name, opts),
        (Target::Tag, Value::Int(_) | Value::BigUint(_) | Value::Bool(_))
        | (Target::Tag, Value::F32(_) | Value::F64(_)) => {
            scratch.clear();
            // Writing to a String cannot fail.
            let _ = match v {
                Value::Int(i) => write!(scratch, "{i}"),
                Value::BigUint(u) => write!(scratch, "{u}"),
                Value::Bool(b) => write!(scratch, "{b}"),
                Value::F32(f) => write!(scratch, "{f}"),
                Value::F64(f) => write!(scratch, "{f}"),
                _ => Ok(()),
            };
            push_tag(table, idx, scratch, name, opts)
        }
        (Target::Float, Value::F32(f)) => {
            table.push_field(idx, FieldValue::F64(f64::from(f)));
            Ok(true)
        }
        (Target::Float, Value::Int(i)) => match exact_f64(i128::from(i)) {
            Some(f) => {
                table.push_field(idx, FieldValue::F64(f));
                Ok(true)
            }
            None => Err(format!(
                "integer {i} of float column {name:?} has no exact float value"
            )),
        },
        (Target::Float, Value::BigUint(u)) => match exact_f64(i128::from(u)) {
            Some(f) => {
                table.push_field(idx, FieldValue::F64(f));
                Ok(true)
            }
            None => Err(format!(
                "integer {u} of float column {name:?} has no exact float value"
            )),
        },
        (Target::Int, Value::BigUint(u)) => Err(format!(
            "integer {u} of column {name:?} does not fit a signed 64-bit integer"
        )),
        (Target::Int, Value::F32(_) | Value::F64(_)) => {
            let f = match v {
                Value::F32(f) => f64::from(f),
                Value::F64(f) => f,
                _ => 0.0,
            };
            match whole_i64(f) {
                Some(i) => {
                    table.push_field(idx, FieldValue::I64(i));
                    Ok(true)
                }
                None => Err(format!(
                    "float {f} of integer column {name:?} is not a whole number in range"
                )),
            }
        }
        (Target::Bool, Value::Bool(b)) => {
            table.push_field(idx, FieldValue::Bool(b));
            Ok(true)
        }
        (Target::Str, Value::Str(bytes)) => {
            table.push_field(idx, FieldValue::Str(&utf8(bytes)));
            Ok(true)
        }
        (target, v) => Err(mismatch(name, target, &v)),
    }
}

#[inline]
fn push_tag(
    table: &mut TableBatch,
    idx: usize,
    value: &str,
    name: &str,
    opts: &ParseOptions,
) -> Result<bool, String> {
    // As in line protocol, a tag with an empty value is an absent tag.
    if value.is_empty() {
        return Ok(false);
    }
    if value.len() > opts.max_tag_value_len {
        return Err(format!(
            "value of tag {name:?} is {} bytes long; the limit is {}",
            value.len(),
            opts.max_tag_value_len
        ));
    }
    table.push_tag(idx, value);
    Ok(true)
}

/// Text as UTF-8; invalid sequences are replaced (as Arc does) rather than
/// failing the row, and only that case allocates.
#[inline]
pub(super) fn utf8(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cold]
fn mismatch(name: &str, target: Target, v: &Value<'_>) -> String {
    match Target::of_value(v) {
        Some(offered) => ColumnConflict {
            column: name.to_owned(),
            existing: target.kind(),
            offered: offered.kind(),
        }
        .to_string(),
        None => format!(
            "column {name:?} holds a value of type {}; supported are integers, floats, booleans, strings and nil",
            v.type_name()
        ),
    }
}

/// `v` as an f64 when the conversion is exact.
fn exact_f64(v: i128) -> Option<f64> {
    let f = v as f64;
    // Every f64 below 2^64 in magnitude converts to i128 exactly, so a round trip
    // detects rounding.
    (f as i128 == v).then_some(f)
}

/// `f` as an i64 when it is a whole number in range.
fn whole_i64(f: f64) -> Option<i64> {
    // -2^63 is representable; 2^63 is the first value out of range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

/// A timestamp value in nanoseconds; nil means `now`.
#[inline]
pub(super) fn time_ns(v: Value<'_>, opts: &ParseOptions, now: i64) -> Result<i64, String> {
    match v {
        Value::Int(i) => opts
            .precision
            .to_nanos(i)
            .ok_or_else(|| format!("timestamp {i} is out of range")),
        Value::Nil => Ok(now),
        Value::F64(f) => float_time(f, opts),
        Value::F32(f) => float_time(f64::from(f), opts),
        Value::Timestamp(Some(ns)) => Ok(ns),
        Value::Timestamp(None) => Err("timestamp extension is out of range".to_owned()),
        Value::BigUint(u) => Err(format!("timestamp {u} is out of range")),
        other => Err(format!(
            "timestamp has type {}; expected an integer, a float or a MessagePack timestamp",
            other.type_name()
        )),
    }
}

/// A float timestamp: unit from the precision, or inferred from its magnitude
/// like an integer; the fraction is kept down to the nanosecond.
fn float_time(f: f64, opts: &ParseOptions) -> Result<i64, String> {
    if !f.is_finite() {
        return Err(format!("timestamp {f} is not a finite number"));
    }
    let per = opts
        .precision
        .nanos_per_unit()
        // `as` saturates, which keeps the magnitude class of huge values.
        .unwrap_or_else(|| strata_model::infer_time_unit(f as i64));
    // Whole units and the fraction apart: the product of a large float and the
    // unit would round away exact integers (1.7e18 has a 256 ns float spacing).
    let whole = whole_i64(f.trunc());
    let frac = (f.fract() * per as f64).round() as i64;
    whole
        .and_then(|w| w.checked_mul(per))
        .and_then(|ns| ns.checked_add(frac))
        .ok_or_else(|| format!("timestamp {f} is out of range"))
}
