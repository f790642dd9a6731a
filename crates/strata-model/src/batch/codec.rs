//! Binary encoding of a finished [`WriteBatch`], for the write-ahead log: replay
//! rebuilds the same batch without re-parsing or re-validating the request.
//!
//! The byte layout is specified in `docs/format/batch.md`. Bulk values are stored
//! little-endian at fixed width in the in-memory layout, so decoding a column is
//! one bounds check and one copy; counts and string lengths are LEB128 varints.
//!
//! Invariants:
//! - `decode(encode(b)) == b` for every finished batch `b` (see [`WriteBatch::finish`]),
//!   and `encode` writes exactly [`WriteBatch::encoded_len`] bytes.
//! - `decode` never panics, and any batch it returns passes
//!   [`WriteBatch::check_invariants`] and keeps the column invariants (offsets,
//!   UTF-8, distinct dictionary values, clear trailing bits), because it checks all
//!   of them while reading.
//! - `decode` allocates at most a bounded multiple of its input: every length is
//!   checked against the bytes left before anything of that length is allocated,
//!   every row of every column costs at least one input bit, and every table and
//!   column at least [`MIN_TABLE_LEN`] and [`MIN_COLUMN_LEN`] bytes.

use super::{BatchColumn, ColumnData, ColumnKind, FieldType, StrColumn, TableBatch, TagColumn};
use super::{Validity, WriteBatch};
use std::hash::BuildHasher;
use thiserror::Error;

/// Version byte that starts every encoding this build writes (and the only one it
/// reads).
pub const BATCH_FORMAT_VERSION: u8 = 1;

const KIND_TAG: u8 = 0;
const KIND_FLOAT: u8 = 1;
const KIND_INTEGER: u8 = 2;
const KIND_UINTEGER: u8 = 3;
const KIND_BOOLEAN: u8 = 4;
const KIND_STRING: u8 = 5;

/// Validity marker: no bitmap follows, every row has a value.
const ALL_VALID: u8 = 0;
/// Validity marker: a bitmap of `ceil(rows / 8)` bytes follows.
const BITMAP: u8 = 1;

/// Fewest bytes a table takes (1-byte name length, 1-byte row count, one row of
/// time and line, 1-byte column count): bounds what a claimed count may reserve.
const MIN_TABLE_LEN: usize = 15;
/// Fewest bytes a column takes (name length, kind, validity, one data byte).
const MIN_COLUMN_LEN: usize = 4;

/// Why [`WriteBatch::decode`] rejected its input. Every variant carries the byte
/// offset (from the start of the input) of the element at fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The input is empty: not even a version byte.
    #[error("empty input at byte 0: expected the batch format version")]
    Empty,
    /// The first byte names a format version this build cannot read.
    #[error(
        "unsupported batch format version {found} at byte 0 (this build reads version {BATCH_FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The input ends inside an element.
    #[error("truncated at byte {offset}: {what} needs {needed} bytes, {left} left")]
    Truncated {
        /// Where the element starts.
        offset: usize,
        /// The element being read.
        what: &'static str,
        /// Bytes it needs (`usize::MAX` when its size overflows).
        needed: usize,
        /// Bytes left in the input.
        left: usize,
    },
    /// Text that is not UTF-8.
    #[error("invalid UTF-8 in {what} at byte {offset}")]
    InvalidUtf8 {
        /// The first byte that is not part of valid UTF-8.
        offset: usize,
        /// The text being read.
        what: &'static str,
    },
    /// A name that appears twice where names must be distinct: a table in the
    /// batch, a column in a table, a value in a tag dictionary.
    #[error("duplicate {what} {name:?} at byte {offset}")]
    Duplicate {
        /// Where the second occurrence (or its dictionary) starts.
        offset: usize,
        /// "table name", "column name" or "tag dictionary value".
        what: &'static str,
        /// The repeated name.
        name: String,
    },
    /// Any other value the format does not allow.
    #[error("invalid {what} at byte {offset}: {reason}")]
    Invalid {
        /// Where the element starts.
        offset: usize,
        /// The element being read.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes after the last table.
    #[error("{left} trailing bytes after the last table, at byte {offset}")]
    TrailingBytes {
        /// Where the trailing bytes start.
        offset: usize,
        /// How many there are.
        left: usize,
    },
}

impl WriteBatch {
    /// Appends the encoding of this batch to `out` (which is not cleared). The batch
    /// must be finished ([`WriteBatch::finish`]): [`WriteBatch::decode`] rejects what
    /// breaks [`WriteBatch::check_invariants`].
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(BATCH_FORMAT_VERSION);
        put_varint(out, self.tables.len() as u64);
        for t in &self.tables {
            put_str(out, &t.name);
            put_varint(out, t.rows() as u64);
            put_fixed(out, &t.time, |x| x.to_le_bytes());
            put_fixed(out, &t.lines, |x| x.to_le_bytes());
            put_varint(out, t.columns.len() as u64);
            for c in &t.columns {
                encode_column(c, out);
            }
        }
    }

    /// The exact number of bytes [`WriteBatch::encode`] appends; costs one step per
    /// column, not per row.
    pub fn encoded_len(&self) -> usize {
        let mut n = 1 + varint_len(self.tables.len() as u64);
        for t in &self.tables {
            let rows = t.rows();
            n += str_len(&t.name) + varint_len(rows as u64) + rows * 12;
            n += varint_len(t.columns.len() as u64);
            for c in &t.columns {
                n += str_len(&c.name) + 2;
                if c.nulls > 0 {
                    n += rows.div_ceil(8);
                }
                n += match &c.data {
                    ColumnData::Tag(tags) => {
                        let dict = tags.values();
                        1 + varint_len(dict.len() as u64)
                            + dict.len() * 4
                            + dict.data_len()
                            + rows * key_width(dict.len())
                    }
                    ColumnData::F64(_) | ColumnData::I64(_) | ColumnData::U64(_) => rows * 8,
                    ColumnData::Bool(_) => rows.div_ceil(8),
                    ColumnData::Str(v) => rows * 4 + v.data_len(),
                };
            }
        }
        n
    }

    /// Decodes what [`WriteBatch::encode`] wrote. Never panics on arbitrary input,
    /// and the batch returned passes [`WriteBatch::check_invariants`].
    pub fn decode(bytes: &[u8]) -> Result<WriteBatch, CodecError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        match bytes.first() {
            Some(&BATCH_FORMAT_VERSION) => r.pos = 1,
            Some(&found) => return Err(CodecError::UnsupportedVersion { found }),
            None => return Err(CodecError::Empty),
        }
        let count = r.len("table count")?;
        let mut batch = WriteBatch::default();
        batch.tables.reserve(count.min(r.left() / MIN_TABLE_LEN));
        for _ in 0..count {
            let at = r.pos;
            let t = decode_table(&mut r)?;
            let hash = batch.hasher.hash_one(t.name.as_bytes());
            let tables = &batch.tables;
            if batch
                .by_name
                .find(hash, |&i| tables[i].name == t.name)
                .is_some()
            {
                return Err(CodecError::Duplicate {
                    offset: at,
                    what: "table name",
                    name: t.name,
                });
            }
            let i = batch.tables.len();
            batch.tables.push(t);
            let (tables, hasher) = (&batch.tables, &batch.hasher);
            batch
                .by_name
                .insert_unique(hash, i, |&j| hasher.hash_one(tables[j].name.as_bytes()));
        }
        if r.left() > 0 {
            return Err(CodecError::TrailingBytes {
                offset: r.pos,
                left: r.left(),
            });
        }
        debug_assert_eq!(batch.check_invariants(), Ok(()));
        Ok(batch)
    }
}

// ---------------------------------------------------------------------------
// Encoding

fn encode_column(c: &BatchColumn, out: &mut Vec<u8>) {
    put_str(out, &c.name);
    out.push(match c.kind {
        ColumnKind::Tag => KIND_TAG,
        ColumnKind::Field(FieldType::Float) => KIND_FLOAT,
        ColumnKind::Field(FieldType::Integer) => KIND_INTEGER,
        ColumnKind::Field(FieldType::UInteger) => KIND_UINTEGER,
        ColumnKind::Field(FieldType::Boolean) => KIND_BOOLEAN,
        ColumnKind::Field(FieldType::String) => KIND_STRING,
    });
    if c.nulls == 0 {
        out.push(ALL_VALID);
    } else {
        out.push(BITMAP);
        out.extend_from_slice(c.validity.as_bytes());
    }
    match &c.data {
        ColumnData::Tag(tags) => {
            let dict = tags.values();
            let width = key_width(dict.len());
            out.push(width as u8);
            put_varint(out, dict.len() as u64);
            put_str_column(out, dict);
            // Keys index the dictionary (null rows hold 0), so they fit the width.
            match width {
                1 => put_fixed(out, tags.keys(), |&k| [k as u8]),
                2 => put_fixed(out, tags.keys(), |&k| (k as u16).to_le_bytes()),
                _ => put_fixed(out, tags.keys(), |k| k.to_le_bytes()),
            }
        }
        ColumnData::F64(v) => put_fixed(out, v, |x| x.to_le_bytes()),
        ColumnData::I64(v) => put_fixed(out, v, |x| x.to_le_bytes()),
        ColumnData::U64(v) => put_fixed(out, v, |x| x.to_le_bytes()),
        ColumnData::Bool(v) => out.extend_from_slice(v.as_bytes()),
        ColumnData::Str(v) => put_str_column(out, v),
    }
}

/// Bytes per tag key: the narrowest width that holds every key of a dictionary of
/// `dict` values.
fn key_width(dict: usize) -> usize {
    if dict <= 1 << 8 {
        1
    } else if dict <= 1 << 16 {
        2
    } else {
        4
    }
}

/// End offsets (the leading 0 is implied), then the bytes.
fn put_str_column(out: &mut Vec<u8>, v: &StrColumn) {
    put_fixed(out, &v.offsets()[1..], |x| x.to_le_bytes());
    out.extend_from_slice(v.data());
}

/// Appends `values` at `N` bytes each. Resizing once and writing whole chunks lets
/// the compiler turn the loop into a copy.
fn put_fixed<T, const N: usize>(out: &mut Vec<u8>, values: &[T], bytes: impl Fn(&T) -> [u8; N]) {
    let start = out.len();
    out.resize(start + values.len() * N, 0);
    let (chunks, _) = out[start..].as_chunks_mut::<N>();
    for (dst, v) in chunks.iter_mut().zip(values) {
        *dst = bytes(v);
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn str_len(s: &str) -> usize {
    varint_len(s.len() as u64) + s.len()
}

// ---------------------------------------------------------------------------
// Decoding

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        match self.buf.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(CodecError::Truncated {
                offset: self.pos,
                what,
                needed: n,
                left: self.left(),
            }),
        }
    }

    /// `count` values of `N` bytes each.
    fn fixed<const N: usize>(
        &mut self,
        count: usize,
        what: &'static str,
    ) -> Result<&'a [[u8; N]], CodecError> {
        let bytes = self.take(count.saturating_mul(N), what)?;
        Ok(bytes.as_chunks::<N>().0)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(1, what)?[0])
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, CodecError> {
        let start = self.pos;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            if shift == 63 && b > 1 {
                break;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Invalid {
            offset: start,
            what,
            reason: "varint exceeds 64 bits".to_owned(),
        })
    }

    /// A count or length. One that does not fit `usize` cannot be backed by the
    /// input either, so it becomes `usize::MAX` and fails where it is used.
    fn len(&mut self, what: &'static str) -> Result<usize, CodecError> {
        Ok(usize::try_from(self.varint(what)?).unwrap_or(usize::MAX))
    }

    fn string(&mut self, what: &'static str) -> Result<String, CodecError> {
        let n = self.len(what)?;
        let at = self.pos;
        let bytes = self.take(n, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(CodecError::InvalidUtf8 {
                offset: at + e.valid_up_to(),
                what,
            }),
        }
    }
}

fn invalid(offset: usize, what: &'static str, reason: String) -> CodecError {
    CodecError::Invalid {
        offset,
        what,
        reason,
    }
}

fn decode_table(r: &mut Reader<'_>) -> Result<TableBatch, CodecError> {
    let name = r.string("table name")?;
    let at = r.pos;
    let rows = r.len("row count")?;
    if rows == 0 {
        return Err(invalid(
            at,
            "row count",
            "a table has at least one row".to_owned(),
        ));
    }
    let mut t = TableBatch::new(&name);
    t.time = decode_fixed(r, rows, "timestamps", i64::from_le_bytes)?;
    t.lines = decode_fixed(r, rows, "line numbers", u32::from_le_bytes)?;
    let count = r.len("column count")?;
    t.columns.reserve(count.min(r.left() / MIN_COLUMN_LEN));
    for _ in 0..count {
        let at = r.pos;
        let c = decode_column(r, rows)?;
        let hash = t.hasher.hash_one(c.name.as_bytes());
        let columns = &t.columns;
        if t.by_name
            .find(hash, |&i| columns[i].name == c.name)
            .is_some()
        {
            return Err(CodecError::Duplicate {
                offset: at,
                what: "column name",
                name: c.name,
            });
        }
        let i = t.columns.len();
        t.columns.push(c);
        let (columns, hasher) = (&t.columns, &t.hasher);
        t.by_name
            .insert_unique(hash, i, |&j| hasher.hash_one(columns[j].name.as_bytes()));
    }
    Ok(t)
}

fn decode_column(r: &mut Reader<'_>, rows: usize) -> Result<BatchColumn, CodecError> {
    let name = r.string("column name")?;
    let at = r.pos;
    let kind = match r.u8("column kind")? {
        KIND_TAG => ColumnKind::Tag,
        KIND_FLOAT => ColumnKind::Field(FieldType::Float),
        KIND_INTEGER => ColumnKind::Field(FieldType::Integer),
        KIND_UINTEGER => ColumnKind::Field(FieldType::UInteger),
        KIND_BOOLEAN => ColumnKind::Field(FieldType::Boolean),
        KIND_STRING => ColumnKind::Field(FieldType::String),
        k => return Err(invalid(at, "column kind", format!("unknown kind {k}"))),
    };
    let at = r.pos;
    let (validity, nulls) = match r.u8("validity marker")? {
        ALL_VALID => {
            let mut bytes = vec![0xff; rows.div_ceil(8)];
            if let Some(last) = bytes.last_mut()
                && !rows.is_multiple_of(8)
            {
                *last = (1u8 << (rows % 8)) - 1;
            }
            (Validity::from_parts(bytes, rows), 0)
        }
        BITMAP => {
            let v = decode_bitmap(r, rows, "validity bitmap")?;
            let valid = v.count_ones();
            if valid == 0 {
                return Err(invalid(
                    at,
                    "validity bitmap",
                    "no row has a value".to_owned(),
                ));
            }
            (v, rows - valid)
        }
        m => {
            return Err(invalid(
                at,
                "validity marker",
                format!("unknown marker {m}"),
            ));
        }
    };
    let data = match kind {
        ColumnKind::Tag => ColumnData::Tag(decode_tags(r, rows)?),
        ColumnKind::Field(FieldType::Float) => {
            ColumnData::F64(decode_fixed(r, rows, "float values", f64::from_le_bytes)?)
        }
        ColumnKind::Field(FieldType::Integer) => {
            ColumnData::I64(decode_fixed(r, rows, "integer values", i64::from_le_bytes)?)
        }
        ColumnKind::Field(FieldType::UInteger) => ColumnData::U64(decode_fixed(
            r,
            rows,
            "unsigned values",
            u64::from_le_bytes,
        )?),
        ColumnKind::Field(FieldType::Boolean) => {
            ColumnData::Bool(decode_bitmap(r, rows, "boolean values")?)
        }
        ColumnKind::Field(FieldType::String) => {
            ColumnData::Str(decode_str_column(r, rows, "string values")?)
        }
    };
    Ok(BatchColumn {
        name,
        kind,
        data,
        validity,
        nulls,
    })
}

/// `count` fixed-width values; the map over whole chunks compiles to a copy.
fn decode_fixed<T, const N: usize>(
    r: &mut Reader<'_>,
    count: usize,
    what: &'static str,
    from: impl Fn([u8; N]) -> T,
) -> Result<Vec<T>, CodecError> {
    Ok(r.fixed::<N>(count, what)?
        .iter()
        .map(|&b| from(b))
        .collect())
}

/// `bits` bits packed least significant first, the unused high bits of the last
/// byte clear (as [`Validity`] keeps them, so equality is bytewise).
fn decode_bitmap(
    r: &mut Reader<'_>,
    bits: usize,
    what: &'static str,
) -> Result<Validity, CodecError> {
    let at = r.pos;
    let bytes = r.take(bits.div_ceil(8), what)?;
    if let Some(&last) = bytes.last()
        && !bits.is_multiple_of(8)
        && last >> (bits % 8) != 0
    {
        return Err(invalid(
            at + bytes.len() - 1,
            what,
            format!("bits past the {bits} rows are set"),
        ));
    }
    Ok(Validity::from_parts(bytes.to_vec(), bits))
}

fn decode_tags(r: &mut Reader<'_>, rows: usize) -> Result<TagColumn, CodecError> {
    let at = r.pos;
    let width = r.u8("tag key width")?;
    let dict_len = r.len("tag dictionary size")?;
    // Keys are i32; a larger dictionary could not be indexed.
    if dict_len > 1 << 31 {
        return Err(invalid(
            at + 1,
            "tag dictionary size",
            format!("{dict_len} values exceed the i32 keys"),
        ));
    }
    let dict_at = r.pos;
    let values = decode_str_column(r, dict_len, "tag dictionary")?;
    let keys_at = r.pos;
    let keys: Vec<i32> = match width {
        1 => decode_fixed(r, rows, "tag keys", |[b]: [u8; 1]| i32::from(b))?,
        2 => decode_fixed(r, rows, "tag keys", |b| i32::from(u16::from_le_bytes(b)))?,
        4 => decode_fixed(r, rows, "tag keys", i32::from_le_bytes)?,
        w => {
            return Err(invalid(
                at,
                "tag key width",
                format!("{w} is not 1, 2 or 4"),
            ));
        }
    };
    // Every key, null rows' placeholders included, indexes the dictionary. A max
    // over the keys as u32 (negatives become huge) vectorises; the position of the
    // bad key is only looked for on failure.
    let max = keys.iter().fold(0u32, |m, &k| m.max(k as u32));
    if max as usize >= dict_len
        && let Some(i) = keys.iter().position(|&k| k as u32 as usize >= dict_len)
    {
        return Err(invalid(
            keys_at + i * usize::from(width),
            "tag key",
            format!(
                "row {i} has key {} outside a dictionary of {dict_len}",
                keys[i]
            ),
        ));
    }
    TagColumn::from_parts(keys, values).map_err(|(i, values)| CodecError::Duplicate {
        offset: dict_at + 4 * dict_len + values.offsets()[i] as usize,
        what: "tag dictionary value",
        name: values.get(i).to_owned(),
    })
}

/// `count` UTF-8 values: `count` i32 end offsets (the start, 0, is implied), then
/// the bytes, whose length is the last end.
fn decode_str_column(
    r: &mut Reader<'_>,
    count: usize,
    what: &'static str,
) -> Result<StrColumn, CodecError> {
    let ends_at = r.pos;
    let ends = r.fixed::<4>(count, what)?;
    let mut offsets = Vec::with_capacity(count + 1);
    offsets.push(0i32);
    offsets.extend(ends.iter().map(|&b| i32::from_le_bytes(b)));
    // Monotone from 0, hence never negative.
    let monotone = offsets.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1]));
    if !monotone && let Some(i) = offsets.windows(2).position(|w| w[0] > w[1]) {
        return Err(invalid(
            ends_at + 4 * i,
            what,
            format!(
                "offset {} of value {i} is below the previous one",
                offsets[i + 1]
            ),
        ));
    }
    let data_at = r.pos;
    let len = offsets.last().map_or(0, |&o| o as usize);
    let data = r.take(len, what)?;
    // Valid UTF-8 as a whole, cut only at character starts: every value is UTF-8.
    if !data.is_ascii() {
        if let Err(e) = std::str::from_utf8(data) {
            return Err(CodecError::InvalidUtf8 {
                offset: data_at + e.valid_up_to(),
                what,
            });
        }
        let continuation = |&o: &i32| data.get(o as usize).is_some_and(|&b| b & 0xc0 == 0x80);
        if let Some(i) = offsets.iter().position(continuation) {
            return Err(CodecError::InvalidUtf8 {
                offset: data_at + offsets[i] as usize,
                what,
            });
        }
    }
    Ok(StrColumn::from_parts(offsets, data.to_vec()))
}

#[cfg(test)]
mod tests;
