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
//! named like the value column, native histograms, a timestamp outside the
//! nanosecond range (that sample only).

use crate::{LineError, Parsed};
use prost::Message;
use strata_model::{ColumnKind, FieldType, FieldValue, WriteBatch};
use thiserror::Error;

/// Label holding the metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";
/// Field column of every sample's value.
pub const VALUE_COLUMN: &str = "value";

/// `prometheus.WriteRequest` (remote write 1.0): the fields Strata reads.
/// `metadata` (field 3) is skipped by the decoder.
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
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not a `prometheus.WriteRequest`.
    #[error("not a Prometheus remote write 1.0 request (protobuf prometheus.WriteRequest): {0}")]
    Protobuf(#[from] prost::DecodeError),
}

const NS_PER_MS: i64 = 1_000_000;

/// Decodes a remote-write body into rows; see the module docs for the mapping.
pub fn decode(body: &[u8]) -> Result<Parsed, Error> {
    let request = WriteRequest::decode(body)?;
    let mut batch = WriteBatch::default();
    let mut errors = Vec::new();
    for (i, series) in request.timeseries.iter().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if let Err(message) = add_series(&mut batch, series, line) {
            errors.push(LineError { line, message });
        }
        if !series.histograms.is_empty() {
            errors.push(LineError {
                line,
                message: format!(
                    "series {}: {} native histogram samples were not stored; \
                     Strata stores float samples only",
                    describe(series),
                    series.histograms.len()
                ),
            });
        }
    }
    batch.finish();
    Ok(Parsed { batch, errors })
}

/// The metric name, or the labels when there is none, for messages.
fn describe(series: &TimeSeries) -> String {
    match series
        .labels
        .iter()
        .find(|l| l.name == METRIC_NAME_LABEL && !l.value.is_empty())
    {
        Some(l) => format!("{:?}", l.value),
        None => {
            let labels: Vec<String> = series
                .labels
                .iter()
                .map(|l| format!("{}={:?}", l.name, l.value))
                .collect();
            format!("{{{}}}", labels.join(", "))
        }
    }
}

/// Appends the rows of one series. On a label error nothing of it is written;
/// samples with timestamps out of range are left out and the rest written.
fn add_series(batch: &mut WriteBatch, series: &TimeSeries, line: u32) -> Result<(), String> {
    let mut name = None;
    for (i, l) in series.labels.iter().enumerate() {
        if series.labels[..i].iter().any(|o| o.name == l.name) {
            return Err(format!(
                "series {}: label {:?} is given twice",
                describe(series),
                l.name
            ));
        }
        if l.name == METRIC_NAME_LABEL {
            name = Some(l.value.as_str());
        } else if l.name == VALUE_COLUMN {
            return Err(format!(
                "series {}: label {VALUE_COLUMN:?} collides with the column that holds \
                 sample values; rename it (e.g. with relabel_configs)",
                describe(series)
            ));
        }
    }
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(format!(
            "series {} has no metric name (label {METRIC_NAME_LABEL:?})",
            describe(series)
        ));
    };
    if series.samples.is_empty() {
        return Ok(());
    }
    let table = batch.table_mut(name);
    let mut out_of_range = 0usize;
    for sample in &series.samples {
        let Some(time_ns) = sample.timestamp.checked_mul(NS_PER_MS) else {
            out_of_range += 1;
            continue;
        };
        table.begin_row(line, time_ns);
        let mut pos = 0;
        let mut pushed = Ok(());
        for l in &series.labels {
            if l.name == METRIC_NAME_LABEL || l.value.is_empty() {
                continue;
            }
            match table.resolve_column(pos, &l.name, ColumnKind::Tag) {
                Ok(c) => table.push_tag(c, &l.value),
                Err(e) => {
                    pushed = Err(e);
                    break;
                }
            }
            pos += 1;
        }
        let pushed = pushed.and_then(|()| {
            let c = table.resolve_column(pos, VALUE_COLUMN, ColumnKind::Field(FieldType::Float))?;
            table.push_field(c, FieldValue::F64(sample.value));
            Ok(())
        });
        if let Err(e) = pushed {
            // Every sample of the series has the same columns, so a conflict
            // shows on the first row appended: no earlier row of it is left.
            table.rollback_row();
            return Err(format!("series {}: {e}", describe(series)));
        }
    }
    if out_of_range > 0 {
        return Err(format!(
            "series {}: {out_of_range} samples have timestamps outside \
             1677-09-21..2262-04-11 (milliseconds since the epoch expected) and were \
             not stored",
            describe(series)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
