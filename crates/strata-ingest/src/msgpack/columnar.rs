//! The columnar object: `{"m": name, "columns": {col: [values...], ...}}`.
//!
//! [`WriteBatch`](strata_model::WriteBatch) is filled row by row, while the body
//! holds whole columns one after another. Decoding therefore runs in two passes
//! over `"columns"`:
//!
//! 1. [`scan`] (during the object's key pass) checks the syntax of every array,
//!    their equal length and their value types, and records where each array's
//!    elements start. It reads markers and skips payloads; nothing is copied.
//! 2. [`decode`] decides each column's role and type once and resolves it in the
//!    table once. When pass 1 saw only the common encodings (a string per row
//!    in each tag column, an integer or a float64 per row in each field column,
//!    no nil), it appends whole columns one after another (`decode_by_column`),
//!    one cursor and one destination at a time. Otherwise, or when a value
//!    turns out to need more (an empty tag or one that is not a fixstr, a
//!    negative fixint, a float32, a timestamp out of range), it walks all arrays in lockstep with one cursor per column,
//!    pushing each value into its column, so that a row can be rejected
//!    alone. Nothing is allocated per row either way.
//!
//! Invariant: after a successful [`scan`], every element of every array is a
//! complete, in-bounds value of a supported type, so pass 2 cannot hit a
//! syntax error (it still propagates one rather than trusting that).

use super::convert::{self, Target};
use super::reader::{Value, read_value};
use super::tag_cache::{self, TagCache};
use super::{Error, ObjectKeys, Sink, unexpected};
use strata_model::{ColumnConflict, ColumnData, FieldValue, TIME_COLUMN, TableBatch};

/// Fewest rows for which an object's tag columns get a [`TagCache`].
const CACHE_MIN_ROWS: usize = 32;

/// Value type classes seen in an array, as bits.
const NIL: u8 = 1;
const INT: u8 = 2;
const BIG_UINT: u8 = 4;
const FLOAT: u8 = 8;
const BOOL: u8 = 16;
const STR: u8 = 32;
const TIMESTAMP: u8 = 64;

/// One column found by [`scan`].
#[derive(Debug, Clone, Copy)]
pub(super) struct ColumnScan<'a> {
    name: &'a str,
    /// Offset of the first element.
    data: usize,
    /// Union of the classes of all elements.
    types: u8,
    /// Class of the first non-nil element; 0 when there is none.
    first: u8,
}

/// How pass 2 handles one column.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    name: &'a str,
    /// Cursor: offset of the next element to read.
    pos: usize,
    /// Union of the classes of the column's elements (from [`scan`]).
    types: u8,
    /// Column index in the table (meaningless when `conflict` is set).
    idx: usize,
    target: Target,
    /// The column cannot be stored in this table: every non-nil value rejects
    /// its row with this conflict.
    conflict: Option<ColumnConflict>,
    /// Raw bytes to dictionary key, for tag columns of objects with enough rows to
    /// repay it.
    cache: Option<TagCache>,
}

/// Scratch buffers lent by the decoder, reused across objects.
pub(super) struct Scratch<'s, 'a> {
    pub(super) plans: &'s mut Vec<Plan<'a>>,
    pub(super) tag_list: &'s mut Vec<&'a str>,
    pub(super) stamps: &'s mut Vec<u32>,
    pub(super) generation: u32,
}

/// Pass 1: reads the `"columns"` map at `pos` into `cols` and returns the row count.
pub(super) fn scan<'a>(
    body: &'a [u8],
    pos: &mut usize,
    cols: &mut Vec<ColumnScan<'a>>,
) -> Result<usize, Error> {
    cols.clear();
    let start = *pos;
    let n = match read_value(body, pos)? {
        Value::Map(n) => n,
        other => return Err(unexpected(start, "a map of column arrays", &other)),
    };
    let mut rows: Option<usize> = None;
    let mut has_time = false;
    for _ in 0..n {
        let name_at = *pos;
        let name = match read_value(body, pos)? {
            Value::Str(bytes) => column_name(bytes, name_at)?,
            other => return Err(unexpected(name_at, "a column name (string)", &other)),
        };
        let at = *pos;
        let len = match read_value(body, pos)? {
            Value::Array(len) => len as usize,
            other => {
                return Err(Error::NotAnArray {
                    column: name.to_owned(),
                    found: other.type_name(),
                    offset: at,
                });
            }
        };
        match rows {
            None => rows = Some(len),
            Some(expected) if expected != len => {
                return Err(Error::UnequalLengths {
                    column: name.to_owned(),
                    found: len,
                    first: cols.first().map(|c| c.name).unwrap_or_default().to_owned(),
                    expected,
                });
            }
            Some(_) => {}
        }
        let is_time = name == TIME_COLUMN;
        if is_time {
            if has_time {
                return Err(Error::DuplicateColumn {
                    column: name.to_owned(),
                    offset: start,
                });
            }
            has_time = true;
        }
        let data = *pos;
        let (types, first) = scan_values(body, pos, len, name, is_time)?;
        cols.push(ColumnScan {
            name,
            data,
            types,
            first,
        });
    }
    Ok(rows.unwrap_or(0))
}

/// Walks `len` elements of one array, returning the union of their classes and
/// the class of the first non-nil one.
fn scan_values(
    body: &[u8],
    pos: &mut usize,
    len: usize,
    name: &str,
    is_time: bool,
) -> Result<(u8, u8), Error> {
    let (mut types, mut first) = (0u8, 0u8);
    for _ in 0..len {
        let at = *pos;
        // The encodings real columns use, classified without a full read.
        let quick = match body.get(at) {
            Some(&b) if b <= 0x7f => Some((INT, 1)),
            Some(&b) if (0xa0..=0xbf).contains(&b) && !is_time => {
                Some((STR, 1 + usize::from(b & 0x1f)))
            }
            Some(0xcb) => Some((FLOAT, 9)),
            Some(0xd3) => Some((INT, 9)),
            _ => None,
        };
        if let Some((class, size)) = quick
            && at + size <= body.len()
        {
            *pos = at + size;
            if first == 0 {
                first = class;
            }
            types |= class;
            continue;
        }
        let v = read_value(body, pos)?;
        let class = match v {
            Value::Nil => NIL,
            Value::Int(_) => INT,
            Value::F64(_) | Value::F32(_) => FLOAT,
            Value::Str(_) if !is_time => STR,
            Value::Bool(_) if !is_time => BOOL,
            Value::BigUint(_) => BIG_UINT,
            Value::Timestamp(_) if is_time => TIMESTAMP,
            other => {
                return Err(Error::UnsupportedType {
                    column: name.to_owned(),
                    found: other.type_name(),
                    offset: at,
                });
            }
        };
        if first == 0 && class != NIL {
            first = class;
        }
        types |= class;
    }
    Ok((types, first))
}

/// A column or tag name: UTF-8 and not empty.
pub(super) fn column_name(bytes: &[u8], at: usize) -> Result<&str, Error> {
    if bytes.is_empty() {
        return Err(Error::InvalidColumnName {
            offset: at,
            reason: "it is empty",
        });
    }
    std::str::from_utf8(bytes).map_err(|_| Error::InvalidColumnName {
        offset: at,
        reason: "it is not UTF-8",
    })
}

/// The field type of a scanned column.
fn field_target(c: &ColumnScan<'_>) -> Target {
    match c.first {
        // `[1, 2.5]` is meant as numbers: a float anywhere makes a float column.
        INT | BIG_UINT if c.types & FLOAT != 0 => Target::Float,
        INT | BIG_UINT => Target::Int,
        FLOAT => Target::Float,
        BOOL => Target::Bool,
        _ => Target::Str,
    }
}

/// Pass 2: writes the rows of the scanned object into `table`.
pub(super) fn decode<'a>(
    body: &'a [u8],
    keys: &ObjectKeys,
    cols: &[ColumnScan<'a>],
    s: Scratch<'_, 'a>,
    table: &mut TableBatch,
    sink: &mut Sink,
) -> Result<(), Error> {
    let explicit = tag_list(body, keys, s.tag_list)?;
    let plans = s.plans;
    plans.clear();
    let mut time_pos = None;
    let mut time_types = 0;
    let mut has_field = false;
    for c in cols {
        if c.name == TIME_COLUMN {
            time_pos = Some(c.data);
            time_types = c.types;
            continue;
        }
        if c.types & !NIL == 0 {
            // Only nils (or no rows): there is nothing to store, and resolving the
            // column would only create one that `finish` drops again.
            continue;
        }
        let listed = if explicit {
            s.tag_list.binary_search(&c.name).is_ok()
        } else {
            c.first == STR
        };
        let desired = if listed { Target::Tag } else { field_target(c) };
        let (target, mut conflict) = match table.column_index(c.name) {
            None => (desired, None),
            Some(i) => {
                let existing = table.columns()[i].kind();
                match Target::from_kind(existing) {
                    // Numbers convert when exact; an *inferred* tag defers to a
                    // string field the batch already has (inference is a guess).
                    Some(t)
                        if t == desired
                            || (t.is_numeric() && desired.is_numeric())
                            || (!explicit && desired == Target::Tag && t == Target::Str) =>
                    {
                        (t, None)
                    }
                    _ => (
                        desired,
                        Some(ColumnConflict {
                            column: c.name.to_owned(),
                            existing,
                            offered: desired.kind(),
                        }),
                    ),
                }
            }
        };
        let mut idx = usize::MAX;
        if conflict.is_none() {
            match table.resolve_column(plans.len(), c.name, target.kind()) {
                Ok(i) => idx = i,
                Err(e) => conflict = Some(e),
            }
        }
        if conflict.is_none() {
            if s.stamps.len() <= idx {
                s.stamps.resize(idx + 1, 0);
            }
            if s.stamps[idx] == s.generation {
                return Err(Error::DuplicateColumn {
                    column: c.name.to_owned(),
                    offset: keys.start,
                });
            }
            s.stamps[idx] = s.generation;
        }
        has_field |= target != Target::Tag;
        plans.push(Plan {
            name: c.name,
            pos: c.data,
            types: c.types,
            idx,
            target,
            conflict,
            cache: (target == Target::Tag && keys.rows >= CACHE_MIN_ROWS).then(TagCache::new),
        });
    }

    if keys.rows > 0
        && has_field
        && (time_pos.is_none() || time_types == INT)
        && decode_by_column(body, plans, time_pos, keys.rows, table, sink)
    {
        return Ok(());
    }
    // Every column this object writes exists now: size them for its rows at once.
    table.reserve_rows(keys.rows);
    let opts = sink.opts;
    let now = sink.now;
    for _ in 0..keys.rows {
        let line = sink.next_line();
        let time = match time_pos.as_mut() {
            Some(p) => match fast_int(body, p) {
                Some(v) => opts
                    .precision
                    .to_nanos(v)
                    .ok_or_else(|| format!("timestamp {v} is out of range")),
                None => convert::time_ns(read_value(body, p)?, &opts, now),
            },
            None => Ok(now),
        };
        let time = match time {
            Ok(t) => t,
            Err(message) => {
                skip_row(body, plans)?;
                sink.reject(line, message);
                continue;
            }
        };
        table.begin_row(line, time);
        let mut fields = 0usize;
        let mut fault = None;
        for (i, p) in plans.iter_mut().enumerate() {
            if fast_push(body, p, table, opts.max_tag_value_len) {
                fields += usize::from(p.target != Target::Tag);
                continue;
            }
            // Slow path: nil, conversions, conflicts, errors.
            let v = read_value(body, &mut p.pos)?;
            let outcome = match &p.conflict {
                Some(c) if !matches!(v, Value::Nil) => Err(c.to_string()),
                Some(_) => Ok(false),
                None => {
                    convert::push_value(table, p.idx, p.target, v, p.name, &mut sink.scratch, &opts)
                }
            };
            match outcome {
                Ok(set) => fields += usize::from(set && p.target != Target::Tag),
                Err(m) => {
                    // Keep the remaining cursors in step with this row.
                    skip_row(body, &mut plans[i + 1..])?;
                    fault = Some(m);
                    break;
                }
            }
        }
        if fault.is_none() && fields == 0 {
            fault = Some(no_fields(explicit, has_field));
        }
        if let Some(message) = fault {
            table.rollback_row();
            sink.reject(line, message);
        }
    }
    Ok(())
}

/// Advances every cursor past one value.
fn skip_row(body: &[u8], plans: &mut [Plan<'_>]) -> Result<(), Error> {
    for p in plans {
        // Scanned arrays hold only scalars, so one read is one whole value.
        read_value(body, &mut p.pos)?;
    }
    Ok(())
}

/// Pushes the next value of `p` when it has the common encoding for its target
/// (short string for a tag, small or 64-bit integer, 64-bit float) and returns
/// true; otherwise consumes nothing and returns false. This keeps the generic
/// [`read_value`] + [`convert::push_value`] pair off the path almost every value
/// of a well-formed body takes.
#[inline(always)]
fn fast_push(body: &[u8], p: &mut Plan<'_>, table: &mut TableBatch, max_tag: usize) -> bool {
    if p.conflict.is_some() {
        return false;
    }
    match p.target {
        Target::Tag => {
            let idx = p.idx;
            match fast_tag(body, &mut p.pos, p.cache.as_mut(), max_tag, |v| {
                table.intern_tag(idx, v)
            }) {
                Some(key) => {
                    table.push_tag_key(idx, key);
                    true
                }
                None => false,
            }
        }
        Target::Int => match fast_int(body, &mut p.pos) {
            Some(v) => {
                table.push_field(p.idx, FieldValue::I64(v));
                true
            }
            None => false,
        },
        Target::Float => match fast_f64(body, &mut p.pos) {
            Some(v) => {
                table.push_field(p.idx, FieldValue::F64(v));
                true
            }
            None => false,
        },
        Target::Bool | Target::Str => false,
    }
}

/// The dictionary key of the tag value at `body[*pos..]` when it has the
/// common encoding (a fixstr of 1..=31 bytes, at most `max_tag` bytes, UTF-8),
/// advancing `pos`: from `cache` when it holds the bytes, else from `intern`
/// (which may give up), remembered in `cache` when short enough. `None`,
/// consuming nothing, otherwise; the empty string is an absent tag and takes
/// the slow path.
#[inline(always)]
fn fast_tag(
    body: &[u8],
    pos: &mut usize,
    cache: Option<&mut TagCache>,
    max_tag: usize,
    intern: impl FnOnce(&str) -> Option<i32>,
) -> Option<i32> {
    let b = *body.get(*pos)?;
    if !(0xa1..=0xbf).contains(&b) {
        return None;
    }
    let len = usize::from(b & 0x1f);
    let start = *pos + 1;
    if len > max_tag {
        return None;
    }
    if let Some(key) = cache.as_ref().and_then(|c| c.get(body, start, len)) {
        *pos = start + len;
        return Some(key);
    }
    let value = std::str::from_utf8(body.get(start..start + len)?).ok()?;
    let key = intern(value)?;
    if let Some(cache) = cache
        && len <= tag_cache::MAX_LEN
    {
        cache.insert(body, start, len, key);
    }
    *pos = start + len;
    Some(key)
}

/// A float64 (0xcb) at `body[*pos..]`, advancing `pos`; `None`, consuming
/// nothing, for any other encoding.
#[inline(always)]
fn fast_f64(body: &[u8], pos: &mut usize) -> Option<f64> {
    if body.get(*pos) != Some(&0xcb) {
        return None;
    }
    let bytes: [u8; 8] = body.get(*pos + 1..*pos + 9)?.try_into().ok()?;
    *pos += 9;
    Some(f64::from_be_bytes(bytes))
}

/// Appends the object's `rows` rows a whole column at a time, when pass 1
/// saw only the encodings the fast paths take (checked per column here) and
/// every value takes one. Returns false, with no row appended and no cursor
/// moved, as soon as one does not: the caller then decodes the
/// object row by row, which can reject single rows. Tag values interned
/// before that stay in the dictionaries, unused, as after a rolled back row.
fn decode_by_column(
    body: &[u8],
    plans: &mut [Plan<'_>],
    time_pos: Option<usize>,
    rows: usize,
    table: &mut TableBatch,
    sink: &mut Sink,
) -> bool {
    let eligible = |p: &Plan<'_>| {
        p.conflict.is_none()
            && match p.target {
                Target::Tag => p.types == STR,
                Target::Int => p.types == INT,
                Target::Float => p.types == FLOAT,
                Target::Bool | Target::Str => false,
            }
    };
    if !plans.iter().all(eligible) {
        return false;
    }
    let opts = sink.opts;
    let now = sink.now;
    let first_line = sink.record.saturating_add(1);
    let Some(from) = table.append_rows(rows, first_line, |time| match time_pos {
        None => {
            time.resize(time.len() + rows, now);
            true
        }
        Some(mut pos) => (0..rows).all(|_| {
            match fast_int(body, &mut pos).and_then(|v| opts.precision.to_nanos(v)) {
                Some(ns) => {
                    time.push(ns);
                    true
                }
                None => false,
            }
        }),
    }) else {
        return false;
    };
    let max_tag = opts.max_tag_value_len;
    // Cursors advance in copies: on success the object is done and the plans
    // are not read again; on failure the row path starts from the originals.
    for p in plans.iter_mut() {
        let mut pos = p.pos;
        let cache = &mut p.cache;
        let filled = table.fill_column(p.idx, from, |data| match (p.target, data) {
            (Target::Tag, ColumnData::Tag(tags)) => (0..rows).all(|_| {
                fast_tag(body, &mut pos, cache.as_mut(), max_tag, |v| {
                    Some(tags.key_for(v))
                })
                .map(|key| tags.push_key(key))
                .is_some()
            }),
            (Target::Int, ColumnData::I64(v)) => push_all(v, rows, || fast_int(body, &mut pos)),
            (Target::Float, ColumnData::F64(v)) => push_all(v, rows, || fast_f64(body, &mut pos)),
            _ => false,
        });
        if !filled {
            table.truncate_rows(from);
            return false;
        }
    }
    sink.record = first_line.saturating_add((rows - 1) as u32);
    #[cfg(test)]
    BY_COLUMN.with(|n| n.set(n.get() + 1));
    true
}

#[cfg(test)]
thread_local! {
    static BY_COLUMN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Objects this thread decoded a column at a time: tests check which path ran.
#[cfg(test)]
pub(super) fn objects_by_column() -> usize {
    BY_COLUMN.with(std::cell::Cell::get)
}

/// Pushes `rows` values from `next` onto `out`; false at the first `None`.
#[inline(always)]
fn push_all<T>(out: &mut Vec<T>, rows: usize, mut next: impl FnMut() -> Option<T>) -> bool {
    (0..rows).all(|_| next().map(|x| out.push(x)).is_some())
}

/// Reads an integer in the encodings integer columns and timestamps use
/// (positive fixint, int8..int64, uint8..uint64 up to `i64::MAX`), advancing
/// `pos`; `None` (consuming nothing) for anything else.
#[inline(always)]
fn fast_int(body: &[u8], pos: &mut usize) -> Option<i64> {
    let b = *body.get(*pos)?;
    if b <= 0x7f {
        *pos += 1;
        return Some(i64::from(b));
    }
    let width = match b {
        0xcc | 0xd0 => 1,
        0xcd | 0xd1 => 2,
        0xce | 0xd2 => 4,
        0xcf | 0xd3 => 8,
        _ => return None,
    };
    let bytes = body.get(*pos + 1..*pos + 1 + width)?;
    let mut raw = [0u8; 8];
    raw[8 - width..].copy_from_slice(bytes);
    let unsigned = u64::from_be_bytes(raw);
    let v = if b >= 0xd0 {
        // Sign-extend the `width`-byte two's complement value.
        let shift = 64 - 8 * width as u32;
        ((unsigned << shift) as i64) >> shift
    } else {
        i64::try_from(unsigned).ok()?
    };
    *pos += 1 + width;
    Some(v)
}

#[cold]
fn no_fields(explicit: bool, has_field: bool) -> String {
    if !explicit && !has_field {
        "row has no field values (columns of strings are tags unless the object lists \
         its tags in \"tag_keys\")"
            .to_owned()
    } else {
        "row has no field values".to_owned()
    }
}

/// Reads the object's tag list (`"tag_keys"`, else `"tags"`) into `out`, sorted.
/// Returns false when there is none.
fn tag_list<'a>(body: &'a [u8], keys: &ObjectKeys, out: &mut Vec<&'a str>) -> Result<bool, Error> {
    out.clear();
    let Some(at) = keys.tag_keys.or(keys.tags) else {
        return Ok(false);
    };
    let mut pos = at;
    match read_value(body, &mut pos)? {
        Value::Array(n) => {
            for _ in 0..n {
                let item = pos;
                match read_value(body, &mut pos)? {
                    Value::Str(bytes) => out.push(column_name(bytes, item)?),
                    other => return Err(unexpected(item, "a tag name (string)", &other)),
                }
            }
        }
        Value::Nil => return Ok(false),
        other => return Err(unexpected(at, "an array of tag names", &other)),
    }
    // Sorted for binary search: a long list must not make column planning quadratic.
    out.sort_unstable();
    Ok(true)
}
