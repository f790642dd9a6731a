//! Prometheus remote write 1.0 (`prometheus.WriteRequest`) to [`WriteBatch`].
//!
//! The body is the protobuf message after the transport's snappy decoding (the
//! HTTP layer undoes `Content-Encoding: snappy`). Entry point: [`decode`].
//!
//! # Mapping
//!
//! Every sample is one row:
//! - table: the series' metric name (its `__name__` label);
//! - tags: every other label; a label with an empty value is absent, as in
//!   Prometheus;
//! - field `value` (float): the sample value. Staleness markers (a NaN with a
//!   reserved bit pattern) are stored as that NaN, bit for bit;
//! - time: the sample timestamp, milliseconds since the epoch, stored in
//!   nanoseconds.
//!
//! # What is not taken
//!
//! Exemplars and metric metadata are skipped. Native histograms are not
//! stored: a series carrying any is reported as an error (its float samples are
//! still written), so the sender sees the loss instead of a silent drop.
//!
//! # Errors
//!
//! A body that is not a valid `WriteRequest` (truncated, wrong wire types, a
//! label that is not UTF-8) is an [`Error`] and nothing is written. Problems of
//! one series are a [`LineError`] whose `line` is the 1-based position of the
//! series in the request: no `__name__` label, a label given twice, a label
//! named `value` or `time` (the sample's columns), a label value longer than
//! [`ParseOptions::max_tag_value_len`], native histograms, a timestamp outside
//! the nanosecond range (that sample only). Only `max_tag_value_len` of the
//! options applies: remote write has no lines, and its times are milliseconds.

mod wire;

use crate::{LineError, ParseOptions, Parsed};
use prost::Message;
use strata_model::{ColumnKind, FieldType, FieldValue, TIME_COLUMN, WriteBatch};
use thiserror::Error;
use wire::Reader;

/// Label holding the metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";
/// Field column of every sample's value.
pub const VALUE_COLUMN: &str = "value";

/// `prometheus.WriteRequest` (remote write 1.0) as `prost` messages: the fields
/// Strata reads. [`decode`] does not build these (see `wire.rs`); they encode
/// requests (benchmarks, tests) and are the tests' reference decoder.
/// `metadata` (field 3) is skipped.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`. Exemplars (field 3) are skipped.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Labels, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histograms, kept undecoded: only counted, to report them.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Why a whole request was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The body is not a valid protobuf `prometheus.WriteRequest`.
    #[error(
        "not a Prometheus remote write 1.0 request (protobuf prometheus.WriteRequest): \
         {reason} at byte {offset} of the decompressed body"
    )]
    Malformed {
        /// Offset in the (decompressed) body.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
    /// A label name or value is not UTF-8 (protobuf `string`s must be).
    #[error(
        "not a Prometheus remote write 1.0 request: the label string at byte {offset} \
         of the decompressed body is not UTF-8"
    )]
    NotUtf8 {
        /// Offset of the string in the (decompressed) body.
        offset: usize,
    },
}

const NS_PER_MS: i64 = 1_000_000;

/// Decodes a remote-write body into rows; see the module docs for the mapping.
///
/// Series are converted as they are read: labels are slices of `body`, and
/// the label and sample lists are reused from one series to the next.
pub fn decode(body: &[u8], opts: &ParseOptions) -> Result<Parsed, Error> {
    let mut batch = WriteBatch::default();
    let mut errors = Vec::new();
    let mut labels: Vec<(&str, &str)> = Vec::new();
    let mut samples: Vec<(f64, i64)> = Vec::new();
    let mut request = Reader::new(body);
    let mut line = 0u32;
    while let Some((field, wire)) = request.key()? {
        if field != 1 {
            request.skip(field, wire)?;
            continue;
        }
        let mut series = request.message(wire)?;
        let text = series.utf8_prefix();
        line = line.saturating_add(1);
        labels.clear();
        samples.clear();
        let mut histograms = 0usize;
        while let Some((field, wire)) = series.key()? {
            match field {
                1 => labels.push(series.message(wire)?.label(text)?),
                2 => samples.push(series.message(wire)?.sample()?),
                4 => {
                    series.message(wire)?;
                    histograms += 1;
                }
                _ => series.skip(field, wire)?,
            }
        }
        if let Err(message) = add_series(&mut batch, &labels, &samples, line, opts) {
            errors.push(LineError { line, message });
        }
        if histograms > 0 {
            errors.push(LineError {
                line,
                message: histograms_not_stored(&labels, histograms),
            });
        }
    }
    batch.finish();
    Ok(Parsed { batch, errors })
}

/// The error of a series carrying native histograms.
fn histograms_not_stored(labels: &[(&str, &str)], n: usize) -> String {
    format!(
        "series {}: {n} native histogram samples were not stored; Strata stores float \
         samples only",
        describe(labels)
    )
}

/// The metric name, or the labels when there is none, for messages.
fn describe(labels: &[(&str, &str)]) -> String {
    match labels
        .iter()
        .find(|(n, v)| *n == METRIC_NAME_LABEL && !v.is_empty())
    {
        Some((_, v)) => format!("{v:?}"),
        None => {
            let labels: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
            format!("{{{}}}", labels.join(", "))
        }
    }
}

/// `a < b`, deciding on the first byte when it differs (most neighbours in a
/// sorted label list), which saves a `memcmp` call.
#[inline]
fn name_before(a: &str, b: &str) -> bool {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a < b,
    }
}

/// Appends the rows of one series. On a label error nothing of it is written;
/// samples with timestamps out of range are left out and the rest written.
fn add_series(
    batch: &mut WriteBatch,
    labels: &[(&str, &str)],
    samples: &[(f64, i64)],
    line: u32,
    opts: &ParseOptions,
) -> Result<(), String> {
    let mut name = None;
    // Senders sort labels by name (the remote write spec asks them to), and
    // strictly sorted names cannot repeat: the quadratic search is for the rest.
    let sorted = labels.windows(2).all(|w| name_before(w[0].0, w[1].0));
    for (i, &(label, value)) in labels.iter().enumerate() {
        if !sorted && labels[..i].iter().any(|(other, _)| *other == label) {
            return Err(format!(
                "series {}: label {label:?} is given twice",
                describe(labels)
            ));
        }
        if label == METRIC_NAME_LABEL {
            name = Some(value);
        } else if label == VALUE_COLUMN || label == TIME_COLUMN {
            return Err(format!(
                "series {}: label {label:?} collides with the column that holds sample \
                 {}; rename it (e.g. with relabel_configs)",
                describe(labels),
                if label == VALUE_COLUMN {
                    "values"
                } else {
                    "times"
                }
            ));
        } else if value.len() > opts.max_tag_value_len {
            return Err(format!(
                "series {}: label {label:?} has a value of {} bytes; the limit is {} \
                 (--max-tag-value-length)",
                describe(labels),
                value.len(),
                opts.max_tag_value_len
            ));
        }
    }
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(format!(
            "series {} has no metric name (label {METRIC_NAME_LABEL:?})",
            describe(labels)
        ));
    };
    if samples.is_empty() {
        return Ok(());
    }
    let table = batch.table_mut(name);
    let mut out_of_range = 0usize;
    for &(value, timestamp) in samples {
        let Some(time_ns) = timestamp.checked_mul(NS_PER_MS) else {
            out_of_range += 1;
            continue;
        };
        table.begin_row(line, time_ns);
        let mut pos = 0;
        let mut pushed = Ok(());
        for &(label, tag) in labels {
            if label == METRIC_NAME_LABEL || tag.is_empty() {
                continue;
            }
            match table.resolve_column(pos, label, ColumnKind::Tag) {
                Ok(c) => table.push_tag(c, tag),
                Err(e) => {
                    pushed = Err(e);
                    break;
                }
            }
            pos += 1;
        }
        let pushed = pushed.and_then(|()| {
            let c = table.resolve_column(pos, VALUE_COLUMN, ColumnKind::Field(FieldType::Float))?;
            table.push_field(c, FieldValue::F64(value));
            Ok(())
        });
        if let Err(e) = pushed {
            // Every sample of the series has the same columns, so a conflict
            // shows on the first row appended: no earlier row of it is left.
            table.rollback_row();
            return Err(format!("series {}: {e}", describe(labels)));
        }
    }
    if out_of_range > 0 {
        return Err(format!(
            "series {}: {out_of_range} samples have timestamps outside \
             1677-09-21..2262-04-11 (milliseconds since the epoch expected) and were \
             not stored",
            describe(labels)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
