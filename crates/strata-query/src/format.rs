//! Result formats: JSON (array of objects), JSON Lines and CSV, written batch by
//! batch so results stream with bounded memory ([`Encoder`]); Parquet and a
//! pretty-printed table, which need the whole result before the first byte (the
//! Parquet footer, the column widths), buffered up to a size limit
//! ([`BufferedEncoder`]).
//!
//! Rendering rules, the same in every text format: timestamps as RFC 3339 UTC with
//! nanoseconds (`2024-01-01T00:00:00.000000000Z`); NULL as `null` (JSON) or an
//! empty field (CSV, pretty), never as 0; non-finite floats as `null`;
//! dictionary-encoded tags as their string value; other types through Arrow's
//! display formatting. Parquet keeps the Arrow types.
//!
//! Arc's query API has two formats of its own: [`ArcJsonEncoder`] (an object
//! with `columns` and `data` as arrays of row arrays, same rendering rules) and
//! [`IpcStreamEncoder`] (an Arrow IPC stream). Every streamed encoder implements
//! [`BatchEncoder`].

mod arc;
mod buffered;
mod ipc;

pub use arc::ArcJsonEncoder;
pub use buffered::{BufferedEncoder, DEFAULT_BUFFER_LIMIT, EncodeError};
pub use ipc::IpcStreamEncoder;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, SchemaRef,
    TimeUnit, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Output format of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    JsonLines,
    /// CSV with a header row.
    Csv,
    /// One Parquet file (buffered).
    Parquet,
    /// An ASCII table, as DataFusion's `pretty_format_batches` (buffered).
    Pretty,
}

/// Media types accepted in an `Accept` header, each naming one [`Format`].
pub const MEDIA_TYPES: [(&str, Format); 6] = [
    ("application/json", Format::Json),
    ("application/jsonl", Format::JsonLines),
    ("application/x-ndjson", Format::JsonLines),
    ("text/csv", Format::Csv),
    ("application/vnd.apache.parquet", Format::Parquet),
    ("text/plain", Format::Pretty),
];

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!("unknown format {s:?}; expected one of json, jsonl, csv, parquet, pretty")
            })
    }
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Self::Json,
        Self::JsonLines,
        Self::Csv,
        Self::Parquet,
        Self::Pretty,
    ];

    /// The name used in the `format` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::JsonLines => "jsonl",
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Pretty => "pretty",
        }
    }

    /// HTTP content type of the encoded output.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::JsonLines => "application/jsonl",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Parquet => "application/vnd.apache.parquet",
            Self::Pretty => "text/plain; charset=utf-8",
        }
    }

    /// The format a media type names (`text/csv`; parameters such as `charset`
    /// are ignored, case is not significant), if any. Wildcards are not resolved
    /// here.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or("").trim();
        MEDIA_TYPES
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(essence))
            .map(|(_, f)| *f)
    }

    /// Whether the format is written batch by batch with [`Encoder`] (`false`:
    /// the whole result goes through [`BufferedEncoder`]).
    pub fn is_streamed(self) -> bool {
        matches!(self, Self::Json | Self::JsonLines | Self::Csv)
    }
}

/// Encodes record batches of one schema into a byte stream, batch by batch, for
/// the streamed formats (JSON, JSON Lines, CSV). Parquet and pretty are encoded
/// by [`BufferedEncoder`]; given one of them, this encoder writes JSON.
#[derive(Debug)]
pub struct Encoder {
    format: Format,
    schema: SchemaRef,
    /// JSON object keys, escaped once: `"name":` per column, after a comma
    /// from the second on.
    keys: Arc<[String]>,
    /// Rows handed to [`Encoder::batch`] or [`BatchEncoder::job`] so far.
    rows_written: u64,
    /// Output per row so far, for reserving a batch's output at once; shared
    /// with jobs, which finish out of order.
    sizing: Arc<Sizing>,
}

/// Rows and bytes encoded so far, by any job.
#[derive(Debug, Default)]
struct Sizing {
    rows: AtomicU64,
    bytes: AtomicU64,
}

impl Sizing {
    /// Bytes to reserve for `rows` rows: sized from the bytes per row so far,
    /// so a large batch is not copied through repeated doublings; capped,
    /// because a few huge rows early on must not make every later batch
    /// reserve gigabytes.
    fn reserve(&self, rows: usize) -> usize {
        let per_row = self
            .bytes
            .load(Ordering::Relaxed)
            .checked_div(self.rows.load(Ordering::Relaxed))
            .map_or(64, |b| (b as usize).saturating_add(16));
        rows.saturating_mul(per_row).min(MAX_RESERVE_BYTES)
    }

    fn add(&self, rows: usize, bytes: usize) {
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

pub(crate) const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9fZ";

/// Most output bytes reserved up front for one batch.
pub(crate) const MAX_RESERVE_BYTES: usize = 16 << 20;

fn json_escape(out: &mut String, s: &str) {
    out.push('"');
    // Most text (tag values, names) needs no escape: one copy.
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn csv_escape(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// The encoding of one batch, done apart from its encoder: jobs of several
/// batches may run at once on other threads (see
/// [`crate::QueryStream::encode`]); their outputs are still sent in the order
/// of the batches.
pub type EncodeJob = Box<dyn FnOnce() -> Result<Vec<u8>, EncodeError> + Send>;

/// Encodes record batches into a byte stream, one batch at a time, so the output
/// can be sent while the query runs: [`begin`](Self::begin), then
/// [`batch`](Self::batch) or [`job`](Self::job) per record batch, then
/// [`end`](Self::end).
pub trait BatchEncoder {
    /// Bytes that open the output.
    fn begin(&mut self) -> Result<Vec<u8>, EncodeError>;
    /// Encodes one batch.
    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, EncodeError>;
    /// A job whose output is what [`batch`](Self::batch) would return for
    /// `batch` at this point of the stream. Encoders whose output for a batch
    /// depends on earlier batches only through counts known here override it
    /// to do the work in the job; the default encodes now.
    fn job(&mut self, batch: RecordBatch) -> EncodeJob {
        let out = self.batch(&batch);
        Box::new(move || out)
    }
    /// Whether [`job`](Self::job) leaves the work to the job, so that running
    /// it elsewhere gains something.
    fn defers(&self) -> bool {
        false
    }
    /// Bytes that close the output.
    fn end(&mut self) -> Result<Vec<u8>, EncodeError>;
}

impl BatchEncoder for Encoder {
    fn begin(&mut self) -> Result<Vec<u8>, EncodeError> {
        Ok(Encoder::begin(self).into_bytes())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, EncodeError> {
        Ok(Encoder::batch(self, batch)?.into_bytes())
    }

    fn job(&mut self, batch: RecordBatch) -> EncodeJob {
        let rows = self.next_rows(batch.num_rows());
        Box::new(move || Ok(rows.encode(&batch)?.into_bytes()))
    }

    fn defers(&self) -> bool {
        true
    }

    fn end(&mut self) -> Result<Vec<u8>, EncodeError> {
        Ok(Encoder::end(self).into_bytes())
    }
}

/// How a column is rendered; decided once per column and batch so that the
/// per-cell work is a direct write into the output (no allocation per cell).
enum Render<'a> {
    /// Timestamps of any unit as nanoseconds: the raw values and the factor to
    /// nanoseconds. Zone-aware ones are instants too, so all render in UTC.
    Time(&'a [i64], i64),
    /// Dictionary keys resolved once per batch (`normalized_keys` allocates).
    /// A NULL in the values is already in the renderer's logical nulls.
    Dict {
        keys: Vec<usize>,
        values: DictValues<'a>,
    },
    F64(&'a datafusion::arrow::array::Float64Array),
    F32(&'a datafusion::arrow::array::Float32Array),
    Bool(&'a datafusion::arrow::array::BooleanArray),
    /// Integers, written with `itoa` (arrow's formatter goes through
    /// `core::fmt`, several times slower per cell).
    Int(Ints<'a>),
    /// Decimals: written bare, as arrow displays them.
    Bare(ArrayFormatter<'a>),
    /// Everything else: quoted text, as arrow displays it.
    Text(ArrayFormatter<'a>),
}

/// The values of an integer column.
enum Ints<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
}

impl Ints<'_> {
    fn write(&self, row: usize, out: &mut String) {
        fn put<I: itoa::Integer + Copy>(values: &[I], row: usize, out: &mut String) {
            if let Some(&v) = values.get(row) {
                out.push_str(itoa::Buffer::new().format(v));
            }
        }
        match self {
            Self::I8(v) => put(v, row, out),
            Self::I16(v) => put(v, row, out),
            Self::I32(v) => put(v, row, out),
            Self::I64(v) => put(v, row, out),
            Self::U8(v) => put(v, row, out),
            Self::U16(v) => put(v, row, out),
            Self::U32(v) => put(v, row, out),
            Self::U64(v) => put(v, row, out),
        }
    }
}

/// The values of a dictionary column: tags (strings) directly, anything
/// else through arrow's formatter.
enum DictValues<'a> {
    Utf8(&'a datafusion::arrow::array::StringArray),
    /// Tag values already escaped (and quoted) for the output, when the
    /// dictionary is no longer than the batch: each cell is then one copy,
    /// with no per-cell escaping. `ends[k]` is where value `k` ends in `text`.
    Rendered {
        text: String,
        ends: Vec<usize>,
    },
    Other(ArrayFormatter<'a>),
}

impl DictValues<'_> {
    fn rendered(values: &datafusion::arrow::array::StringArray, style: Style) -> Self {
        let mut text = String::with_capacity(values.value_data().len() + 3 * values.len());
        let ends = (0..values.len())
            .map(|k| {
                if values.is_valid(k) {
                    match style {
                        Style::Json => json_escape(&mut text, values.value(k)),
                        Style::Csv => csv_escape(&mut text, values.value(k)),
                    }
                }
                text.len()
            })
            .collect();
        Self::Rendered { text, ends }
    }
}

pub(crate) struct ColumnRenderer<'a> {
    /// Logical nulls: a `Null`-typed or run-end column has no null buffer of
    /// its own, and a dictionary's NULL may sit in its values.
    nulls: Option<NullBuffer>,
    render: Render<'a>,
    /// Reused for cells that must be escaped after formatting.
    scratch: RefCell<String>,
    /// The last date a timestamp cell was written with (see [`write_nanos`]).
    date: Cell<Option<(i64, [u8; 10])>>,
}

/// What a cell is written as.
#[derive(Clone, Copy)]
pub(crate) enum Style {
    Json,
    Csv,
}

impl<'a> ColumnRenderer<'a> {
    fn new(
        array: &'a ArrayRef,
        opts: &'a FormatOptions<'a>,
        style: Style,
    ) -> Result<Self, ArrowError> {
        let render = match array.data_type() {
            DataType::Timestamp(unit, _) => {
                use datafusion::arrow::datatypes::{
                    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
                    TimestampSecondType,
                };
                match unit {
                    TimeUnit::Nanosecond => {
                        Render::Time(array.as_primitive::<TimestampNanosecondType>().values(), 1)
                    }
                    TimeUnit::Microsecond => Render::Time(
                        array.as_primitive::<TimestampMicrosecondType>().values(),
                        1_000,
                    ),
                    TimeUnit::Millisecond => Render::Time(
                        array.as_primitive::<TimestampMillisecondType>().values(),
                        1_000_000,
                    ),
                    TimeUnit::Second => Render::Time(
                        array.as_primitive::<TimestampSecondType>().values(),
                        1_000_000_000,
                    ),
                }
            }
            DataType::Dictionary(_, _) => match array.as_any_dictionary_opt() {
                Some(d) => {
                    let values = match d.values().as_string_opt::<i32>() {
                        Some(text) if text.len() <= array.len() => {
                            DictValues::rendered(text, style)
                        }
                        Some(text) => DictValues::Utf8(text),
                        None => {
                            DictValues::Other(ArrayFormatter::try_new(d.values().as_ref(), opts)?)
                        }
                    };
                    // An all-NULL column (a tag some buffered batches lack)
                    // can have no values at all, where `normalized_keys`
                    // panics; every cell is NULL then.
                    let keys = if d.values().is_empty() {
                        Vec::new()
                    } else {
                        d.normalized_keys()
                    };
                    Render::Dict { keys, values }
                }
                None => Render::Text(ArrayFormatter::try_new(array.as_ref(), opts)?),
            },
            DataType::Float64 => Render::F64(array.as_primitive::<Float64Type>()),
            DataType::Float32 => Render::F32(array.as_primitive::<Float32Type>()),
            DataType::Boolean => Render::Bool(array.as_boolean()),
            DataType::Int8 => Render::Int(Ints::I8(array.as_primitive::<Int8Type>().values())),
            DataType::Int16 => Render::Int(Ints::I16(array.as_primitive::<Int16Type>().values())),
            DataType::Int32 => Render::Int(Ints::I32(array.as_primitive::<Int32Type>().values())),
            DataType::Int64 => Render::Int(Ints::I64(array.as_primitive::<Int64Type>().values())),
            DataType::UInt8 => Render::Int(Ints::U8(array.as_primitive::<UInt8Type>().values())),
            DataType::UInt16 => Render::Int(Ints::U16(array.as_primitive::<UInt16Type>().values())),
            DataType::UInt32 => Render::Int(Ints::U32(array.as_primitive::<UInt32Type>().values())),
            DataType::UInt64 => Render::Int(Ints::U64(array.as_primitive::<UInt64Type>().values())),
            DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => {
                Render::Bare(ArrayFormatter::try_new(array.as_ref(), opts)?)
            }
            _ => Render::Text(ArrayFormatter::try_new(array.as_ref(), opts)?),
        };
        Ok(Self {
            nulls: array.logical_nulls(),
            render,
            scratch: RefCell::new(String::new()),
            date: Cell::new(None),
        })
    }

    /// Appends the cell as a JSON value (`null` for NULL and non-finite floats).
    pub(crate) fn write_json(&self, row: usize, out: &mut String) -> Result<(), ArrowError> {
        if !self.write(row, out, Style::Json)? {
            out.push_str("null");
        }
        Ok(())
    }

    /// Appends the cell as a CSV field (empty for NULL).
    fn write_csv(&self, row: usize, out: &mut String) -> Result<(), ArrowError> {
        self.write(row, out, Style::Csv).map(|_| ())
    }

    /// Writes a non-NULL cell; false (nothing written) for NULL. A value
    /// arrow cannot format (an out-of-range date) is an error, never text.
    fn write(&self, row: usize, out: &mut String, style: Style) -> Result<bool, ArrowError> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return Ok(false);
        }
        let text = |out: &mut String, s: &str| match style {
            Style::Json => json_escape(out, s),
            Style::Csv => csv_escape(out, s),
        };
        match &self.render {
            Render::Time(values, factor) => {
                let v = values.get(row).copied().unwrap_or_default();
                let nanos = v.checked_mul(*factor).ok_or_else(|| {
                    ArrowError::ComputeError(format!(
                        "timestamp {v} (x{factor} ns) is outside the range Strata renders (years 1677 to 2262)"
                    ))
                })?;
                if matches!(style, Style::Json) {
                    out.push('"');
                }
                write_nanos(out, nanos, &self.date);
                if matches!(style, Style::Json) {
                    out.push('"');
                }
            }
            Render::Dict { keys, values } => {
                let Some(&key) = keys.get(row) else {
                    return Ok(false);
                };
                match values {
                    DictValues::Utf8(v) => text(out, v.value(key)),
                    DictValues::Rendered { text, ends } => {
                        let start = key.checked_sub(1).and_then(|k| ends.get(k)).copied();
                        let end = ends.get(key).copied();
                        out.push_str(&text[start.unwrap_or(0)..end.unwrap_or(text.len())]);
                    }
                    DictValues::Other(f) => {
                        let mut s = self.scratch.borrow_mut();
                        s.clear();
                        format_cell(&mut s, f, key)?;
                        text(out, &s);
                    }
                }
            }
            Render::F64(a) => return Ok(write_float(out, a.value(row))),
            Render::F32(a) => return Ok(write_float(out, a.value(row))),
            Render::Bool(a) => out.push_str(if a.value(row) { "true" } else { "false" }),
            Render::Int(v) => v.write(row, out),
            Render::Bare(f) => format_cell(out, f, row)?,
            Render::Text(f) => {
                let mut s = self.scratch.borrow_mut();
                s.clear();
                format_cell(&mut s, f, row)?;
                text(out, &s);
            }
        }
        Ok(true)
    }
}

/// A tag column's JSON cells each as one copy: every dictionary value after
/// its object key, then the key with `null`, built once per batch. A tag cell
/// is then one copy instead of three (separator, key, value), and tags are
/// half of a TSBS row.
struct Joined {
    text: String,
    /// Entry `k` ends at `ends[k]`; the last entry is the NULL one.
    ends: Vec<usize>,
}

impl Joined {
    fn write(&self, r: &ColumnRenderer<'_>, row: usize, out: &mut String) {
        let null = self.ends.len() - 1;
        let mut k = r.dict_key(row).unwrap_or(null);
        // Keys are bounded by the dictionary (arrow's `normalized_keys`); an
        // out-of-range one is a bug, and must not copy other values' text.
        debug_assert!(k <= null, "key {k} beyond {null} values");
        if k > null {
            k = null;
        }
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        out.push_str(&self.text[start..self.ends[k]]);
    }
}

impl ColumnRenderer<'_> {
    /// [`Joined`] cells after `key`, for a column of tag values escaped once
    /// per batch; `None` for any other column.
    fn joined(&self, key: &str) -> Option<Joined> {
        let Render::Dict {
            values: DictValues::Rendered { text, ends },
            ..
        } = &self.render
        else {
            return None;
        };
        let mut out = String::with_capacity(text.len() + (ends.len() + 1) * (key.len() + 4));
        let mut joined_ends = Vec::with_capacity(ends.len() + 1);
        let mut start = 0;
        for &end in ends {
            out.push_str(key);
            // A NULL value's rendering is empty (a real one has its quotes at
            // least). Its rows are in the logical nulls and take the last
            // entry, but its own entry stays valid JSON too.
            if start == end {
                out.push_str("null");
            } else {
                out.push_str(&text[start..end]);
            }
            joined_ends.push(out.len());
            start = end;
        }
        out.push_str(key);
        out.push_str("null");
        joined_ends.push(out.len());
        Some(Joined {
            text: out,
            ends: joined_ends,
        })
    }

    /// The dictionary key of `row` of a tag column; `None` when the cell is
    /// NULL (or the column is not a dictionary).
    fn dict_key(&self, row: usize) -> Option<usize> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return None;
        }
        match &self.render {
            Render::Dict { keys, .. } => keys.get(row).copied(),
            _ => None,
        }
    }
}

/// Appends arrow's rendering of `row`; with `safe` off a value it cannot
/// render fails the write, and the error says why.
fn format_cell(out: &mut String, f: &ArrayFormatter<'_>, row: usize) -> Result<(), ArrowError> {
    if write!(out, "{}", f.value(row)).is_err() {
        return Err(f.value(row).try_to_string().err().unwrap_or_else(|| {
            ArrowError::ComputeError(format!("cannot format the value in row {row}"))
        }));
    }
    Ok(())
}

/// Debug keeps a float looking like a float ("2.0", "1e-7") at its own
/// precision (an f32 0.1 stays "0.1"), so JSON readers keep the column's type.
fn write_float<F: Into<f64> + Copy + std::fmt::Debug>(out: &mut String, v: F) -> bool {
    if v.into().is_finite() {
        let _ = write!(out, "{v:?}");
        true
    } else {
        false
    }
}

/// Writes `v` right-aligned in `b[at..at + width]` as decimal digits.
fn put_digits(b: &mut [u8], at: usize, width: usize, mut v: u32) {
    for i in (at..at + width).rev() {
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// [`TS_FORMAT`] for the instant `nanos` after the epoch, written digit by
/// digit (`write!` through `core::fmt` was most of the cost of a timestamp
/// cell). `date` keeps the last day's `YYYY-MM-DD`: a series' rows come
/// together and in time order, so most cells share their day with the one
/// before, and only a new day goes through the calendar.
fn write_nanos(out: &mut String, nanos: i64, date: &Cell<Option<(i64, [u8; 10])>>) {
    const NS: i64 = 1_000_000_000;
    let secs = nanos.div_euclid(NS);
    let day = secs.div_euclid(86_400);
    let ymd = match date.get() {
        Some((d, ymd)) if d == day => ymd,
        _ => {
            use chrono::Datelike;
            let t = chrono::DateTime::from_timestamp_nanos(nanos);
            let year = t.year();
            // Unreachable for i64 nanoseconds (years 1677 to 2262); kept so
            // that the digits below never see a year they cannot hold.
            if !(0..=9999).contains(&year) {
                let _ = write!(out, "{}", t.format(TS_FORMAT));
                return;
            }
            let mut ymd = *b"0000-00-00";
            put_digits(&mut ymd, 0, 4, year as u32);
            put_digits(&mut ymd, 5, 2, t.month());
            put_digits(&mut ymd, 8, 2, t.day());
            date.set(Some((day, ymd)));
            ymd
        }
    };
    // In range by the Euclidean remainders: 0..86,400 and 0..10^9.
    let of_day = secs.rem_euclid(86_400) as u32;
    let sub = nanos.rem_euclid(NS) as u32;
    let mut b = *b"0000-00-00T00:00:00.000000000Z";
    b[..10].copy_from_slice(&ymd);
    put_digits(&mut b, 11, 2, of_day / 3600);
    put_digits(&mut b, 14, 2, of_day / 60 % 60);
    put_digits(&mut b, 17, 2, of_day % 60);
    put_digits(&mut b, 20, 9, sub);
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

/// Formatting options of the columns [`ColumnRenderer`] does not render itself.
fn format_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_timestamp_format(Some(TS_FORMAT))
        .with_display_error(false)
}

/// One renderer per column of `batch`.
fn renderers<'a>(
    batch: &'a RecordBatch,
    opts: &'a FormatOptions<'a>,
    style: Style,
) -> Result<Vec<ColumnRenderer<'a>>, ArrowError> {
    batch
        .columns()
        .iter()
        .map(|a| ColumnRenderer::new(a, opts, style))
        .collect()
}

impl Encoder {
    /// An encoder for results of `schema`.
    pub fn new(format: Format, schema: SchemaRef) -> Self {
        let format = if format.is_streamed() {
            format
        } else {
            Format::Json
        };
        let keys = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut key = String::from(if i > 0 { "," } else { "" });
                json_escape(&mut key, f.name());
                key.push(':');
                key
            })
            .collect();
        Self {
            format,
            schema,
            keys,
            rows_written: 0,
            sizing: Arc::default(),
        }
    }

    /// Bytes that open the output.
    pub fn begin(&self) -> String {
        match self.format {
            Format::Json | Format::Parquet | Format::Pretty => "[".to_owned(),
            Format::JsonLines => String::new(),
            Format::Csv => {
                let mut out = String::new();
                for (i, f) in self.schema.fields().iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    csv_escape(&mut out, f.name());
                }
                out.push('\n');
                out
            }
        }
    }

    /// Encodes one batch.
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<String, ArrowError> {
        self.next_rows(batch.num_rows()).encode(batch)
    }

    /// The encoding of the next `n` rows, which are counted as written.
    fn next_rows(&mut self, n: usize) -> Rows {
        let rows = Rows {
            format: self.format,
            keys: Arc::clone(&self.keys),
            first: self.rows_written == 0,
            sizing: Arc::clone(&self.sizing),
        };
        self.rows_written += n as u64;
        rows
    }

    /// Bytes that close the output.
    pub fn end(&self) -> String {
        match self.format {
            Format::Json | Format::Parquet | Format::Pretty => "]".to_owned(),
            Format::JsonLines | Format::Csv => String::new(),
        }
    }

    /// Rows handed to [`batch`](Self::batch) or [`BatchEncoder::job`] so far
    /// (a job's may not be encoded yet).
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }
}

/// The rows of one batch in a streamed text format, with what they need to
/// know of the batches before them.
struct Rows {
    format: Format,
    keys: Arc<[String]>,
    /// No row came before (JSON: no separating comma).
    first: bool,
    sizing: Arc<Sizing>,
}

impl Rows {
    fn encode(&self, batch: &RecordBatch) -> Result<String, ArrowError> {
        let opts = format_options();
        let style = match self.format {
            Format::Csv => Style::Csv,
            _ => Style::Json,
        };
        let renderers = renderers(batch, &opts, style)?;
        let joined: Vec<Option<Joined>> = match style {
            Style::Json => renderers
                .iter()
                .zip(self.keys.iter())
                .map(|(r, key)| r.joined(key))
                .collect(),
            Style::Csv => renderers.iter().map(|_| None).collect(),
        };
        let mut out = String::with_capacity(self.sizing.reserve(batch.num_rows()));
        for row in 0..batch.num_rows() {
            match self.format {
                Format::Json | Format::JsonLines | Format::Parquet | Format::Pretty => {
                    if self.format == Format::Json && !(self.first && row == 0) {
                        out.push(',');
                    }
                    out.push('{');
                    for ((key, r), joined) in self.keys.iter().zip(&renderers).zip(&joined) {
                        match joined {
                            Some(j) => j.write(r, row, &mut out),
                            None => {
                                out.push_str(key);
                                r.write_json(row, &mut out)?;
                            }
                        }
                    }
                    out.push('}');
                    if self.format == Format::JsonLines {
                        out.push('\n');
                    }
                }
                Format::Csv => {
                    for (i, r) in renderers.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        r.write_csv(row, &mut out)?;
                    }
                    out.push('\n');
                }
            }
        }
        self.sizing.add(batch.num_rows(), out.len());
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
