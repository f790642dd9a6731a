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

mod buffered;

pub use buffered::{BufferedEncoder, DEFAULT_BUFFER_LIMIT, EncodeError};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, SchemaRef,
    TimeUnit, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use std::fmt::Write as _;
use std::str::FromStr;

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
    rows_written: u64,
}

pub(crate) const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9fZ";

fn ts_string(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos)
        .format(TS_FORMAT)
        .to_string()
}

fn json_escape(out: &mut String, s: &str) {
    out.push('"');
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

/// A cell's value as the encoders see it.
enum Cell {
    Null,
    /// A number or boolean, written bare in JSON.
    Bare(String),
    /// Text, quoted in JSON.
    Text(String),
}

struct ColumnRenderer<'a> {
    array: &'a ArrayRef,
    fallback: Option<ArrayFormatter<'a>>,
}

impl<'a> ColumnRenderer<'a> {
    fn new(array: &'a ArrayRef, opts: &'a FormatOptions<'a>) -> Result<Self, ArrowError> {
        let fallback = match array.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, _) | DataType::Dictionary(_, _) => None,
            _ => Some(ArrayFormatter::try_new(array.as_ref(), opts)?),
        };
        Ok(Self { array, fallback })
    }

    fn cell(&self, row: usize) -> Cell {
        let a = self.array;
        if a.is_null(row) {
            return Cell::Null;
        }
        macro_rules! num {
            ($t:ty) => {
                Cell::Bare(a.as_primitive::<$t>().value(row).to_string())
            };
        }
        match a.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Cell::Text(ts_string(
                a.as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>()
                    .value(row),
            )),
            DataType::Dictionary(_, _) => {
                let values = match a.as_any_dictionary_opt() {
                    Some(d) => {
                        let key = d.normalized_keys()[row];
                        let v = d.values();
                        if v.is_null(key) {
                            return Cell::Null;
                        }
                        match v.data_type() {
                            DataType::Utf8 => v.as_string::<i32>().value(key).to_owned(),
                            _ => ArrayFormatter::try_new(v.as_ref(), &FormatOptions::default())
                                .map(|f| f.value(key).to_string())
                                .unwrap_or_default(),
                        }
                    }
                    None => String::new(),
                };
                Cell::Text(values)
            }
            DataType::Float64 => finite(a.as_primitive::<Float64Type>().value(row)),
            DataType::Float32 => finite(f64::from(a.as_primitive::<Float32Type>().value(row))),
            DataType::Int8 => num!(Int8Type),
            DataType::Int16 => num!(Int16Type),
            DataType::Int32 => num!(Int32Type),
            DataType::Int64 => num!(Int64Type),
            DataType::UInt8 => num!(UInt8Type),
            DataType::UInt16 => num!(UInt16Type),
            DataType::UInt32 => num!(UInt32Type),
            DataType::UInt64 => num!(UInt64Type),
            DataType::Boolean => Cell::Bare(a.as_boolean().value(row).to_string()),
            DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => {
                Cell::Bare(self.fallback_text(row))
            }
            _ => Cell::Text(self.fallback_text(row)),
        }
    }

    fn fallback_text(&self, row: usize) -> String {
        self.fallback
            .as_ref()
            .map(|f| f.value(row).to_string())
            .unwrap_or_default()
    }
}

fn finite(v: f64) -> Cell {
    if v.is_finite() {
        // Debug keeps a float looking like a float ("2.0", "1e-7"), so JSON readers
        // keep the column's type.
        Cell::Bare(format!("{v:?}"))
    } else {
        Cell::Null
    }
}

impl Encoder {
    /// An encoder for results of `schema`.
    pub fn new(format: Format, schema: SchemaRef) -> Self {
        let format = if format.is_streamed() {
            format
        } else {
            Format::Json
        };
        Self {
            format,
            schema,
            rows_written: 0,
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
        let opts = FormatOptions::default().with_timestamp_format(Some(TS_FORMAT));
        let renderers = batch
            .columns()
            .iter()
            .map(|a| ColumnRenderer::new(a, &opts))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| {
                let mut s = String::new();
                json_escape(&mut s, f.name());
                s
            })
            .collect();
        let mut out = String::with_capacity(batch.num_rows() * 64);
        for row in 0..batch.num_rows() {
            match self.format {
                Format::Json | Format::JsonLines | Format::Parquet | Format::Pretty => {
                    if self.format == Format::Json && self.rows_written > 0 {
                        out.push(',');
                    }
                    out.push('{');
                    let mut first = true;
                    for (name, r) in names.iter().zip(&renderers) {
                        let cell = r.cell(row);
                        if !first {
                            out.push(',');
                        }
                        first = false;
                        out.push_str(name);
                        out.push(':');
                        match cell {
                            Cell::Null => out.push_str("null"),
                            Cell::Bare(s) => out.push_str(&s),
                            Cell::Text(s) => json_escape(&mut out, &s),
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
                        match r.cell(row) {
                            Cell::Null => {}
                            Cell::Bare(s) | Cell::Text(s) => csv_escape(&mut out, &s),
                        }
                    }
                    out.push('\n');
                }
            }
            self.rows_written += 1;
        }
        Ok(out)
    }

    /// Bytes that close the output.
    pub fn end(&self) -> String {
        match self.format {
            Format::Json | Format::Parquet | Format::Pretty => "]".to_owned(),
            Format::JsonLines | Format::Csv => String::new(),
        }
    }

    /// Rows encoded so far.
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }
}
