//! Arc's JSON query result, as Arc's `POST /api/v1/query` answers it:
//!
//! ```text
//! {"success":true,"timestamp":"2024-01-01T00:00:00Z","columns":["host","time"],
//!  "data":[["a","2024-01-01T00:00:00.000000000Z"],...],"row_count":N,"execution_time_ms":X}
//! ```
//!
//! Written batch by batch: the head (with the column names) first, each row as
//! an array of values as batches arrive, and `row_count` and
//! `execution_time_ms`, known only at the end, after `data`. Values follow the
//! rules of the other text formats (module [`super`]): timestamps RFC 3339 with
//! nanoseconds, NULL as `null`.

use super::{
    BatchEncoder, EncodeError, EncodeJob, MAX_RESERVE_BYTES, Style, format_options, json_escape,
    renderers,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use std::time::Instant;

/// Encodes a result in Arc's JSON shape.
#[derive(Debug)]
pub struct ArcJsonEncoder {
    schema: SchemaRef,
    started: Instant,
    /// Wall-clock time of the request, RFC 3339 to the second (as Arc).
    timestamp: String,
    rows: u64,
}

impl ArcJsonEncoder {
    /// An encoder for results of `schema`; `started` is when the request
    /// arrived, the origin of `execution_time_ms`.
    pub fn new(schema: SchemaRef, started: Instant) -> Self {
        let timestamp = (chrono::Utc::now() - started.elapsed())
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        Self {
            schema,
            started,
            timestamp,
            rows: 0,
        }
    }

    /// Rows handed to [`BatchEncoder::batch`] or [`BatchEncoder::job`] so far
    /// (a job's may not be encoded yet).
    pub fn rows_written(&self) -> u64 {
        self.rows
    }
}

impl BatchEncoder for ArcJsonEncoder {
    fn begin(&mut self) -> Result<Vec<u8>, EncodeError> {
        let mut out = String::from("{\"success\":true,\"timestamp\":");
        json_escape(&mut out, &self.timestamp);
        out.push_str(",\"columns\":[");
        for (i, f) in self.schema.fields().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_escape(&mut out, f.name());
        }
        out.push_str("],\"data\":[");
        Ok(out.into_bytes())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, EncodeError> {
        let out = data_rows(batch, self.rows == 0)?;
        self.rows += batch.num_rows() as u64;
        Ok(out)
    }

    fn job(&mut self, batch: RecordBatch) -> EncodeJob {
        let first = self.rows == 0;
        self.rows += batch.num_rows() as u64;
        Box::new(move || data_rows(&batch, first))
    }

    fn defers(&self) -> bool {
        true
    }

    fn end(&mut self) -> Result<Vec<u8>, EncodeError> {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        Ok(format!(
            "],\"row_count\":{},\"execution_time_ms\":{ms:.3}}}",
            self.rows
        )
        .into_bytes())
    }
}

/// The rows of `batch` as arrays, comma-separated (and preceded by a comma
/// unless they are the `first` of the result).
fn data_rows(batch: &RecordBatch, first: bool) -> Result<Vec<u8>, EncodeError> {
    let opts = format_options();
    let renderers = renderers(batch, &opts, Style::Json)?;
    let reserve = batch
        .num_rows()
        .saturating_mul(16 * renderers.len().max(1))
        .min(MAX_RESERVE_BYTES);
    let mut out = String::with_capacity(reserve);
    for row in 0..batch.num_rows() {
        if !(first && row == 0) {
            out.push(',');
        }
        out.push('[');
        for (i, r) in renderers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            r.write_json(row, &mut out)?;
        }
        out.push(']');
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        ArrayRef, DictionaryArray, Float64Array, Int64Array, TimestampNanosecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
    use std::sync::Arc;

    fn encode(batches: &[RecordBatch], schema: SchemaRef) -> serde_json::Value {
        let mut enc = ArcJsonEncoder::new(schema, Instant::now());
        let mut out = enc.begin().unwrap();
        for b in batches {
            out.extend(enc.batch(b).unwrap());
        }
        out.extend(enc.end().unwrap());
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn rows_as_arrays_with_nulls_and_timestamps() {
        let schema = Arc::new(Schema::new(vec![
            Field::new_dictionary("host", DataType::Int32, DataType::Utf8, true),
            Field::new("v", DataType::Float64, true),
            Field::new("n", DataType::Int64, true),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
        ]));
        let host: DictionaryArray<Int32Type> = vec![Some("a"), None].into_iter().collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(host),
            Arc::new(Float64Array::from(vec![Some(2.0), None])),
            Arc::new(Int64Array::from(vec![None, Some(0)])),
            Arc::new(TimestampNanosecondArray::from(vec![
                1,
                1_700_000_000_123_456_789,
            ])),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
        let v = encode(&[batch.clone(), batch], schema);
        assert_eq!(v["success"], true);
        assert_eq!(v["columns"], serde_json::json!(["host", "v", "n", "time"]));
        assert_eq!(v["row_count"], 4);
        assert!(v["execution_time_ms"].as_f64().unwrap() >= 0.0);
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        let row0 = serde_json::json!(["a", 2.0, null, "1970-01-01T00:00:00.000000001Z"]);
        let row1 = serde_json::json!([null, null, 0, "2023-11-14T22:13:20.123456789Z"]);
        assert_eq!(v["data"], serde_json::json!([row0, row1, row0, row1]));
    }

    #[test]
    fn empty_result_is_valid_json() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let v = encode(&[], schema);
        assert_eq!(v["data"], serde_json::json!([]));
        assert_eq!(v["row_count"], 0);
    }
}
