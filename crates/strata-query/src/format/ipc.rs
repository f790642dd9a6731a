//! Arrow IPC stream output (`application/vnd.apache.arrow.stream`), as Arc's
//! `POST /api/v1/query/arrow` answers: the schema message, one record batch
//! message per result batch as it is produced, then the end-of-stream marker.
//!
//! Dictionary-encoded columns (Strata's tags) are sent as plain strings, as
//! Arc sends them unless a client asks for dictionaries: readers then see the
//! same types from both servers, and no dictionary is re-sent per batch.

use super::{BatchEncoder, EncodeError};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// Encodes a result as an Arrow IPC stream, batch by batch.
pub struct IpcStreamEncoder {
    /// Writes into its own buffer, which each call drains.
    writer: StreamWriter<Vec<u8>>,
    /// The schema sent: the result's, with dictionaries decoded.
    schema: SchemaRef,
    /// Whether some column is cast (a dictionary in the result).
    cast: bool,
}

impl std::fmt::Debug for IpcStreamEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcStreamEncoder")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// `t` with dictionaries replaced by their value type.
fn plain(t: &DataType) -> &DataType {
    match t {
        DataType::Dictionary(_, value) => plain(value),
        other => other,
    }
}

impl IpcStreamEncoder {
    /// An encoder for results of `schema`.
    pub fn new(schema: &SchemaRef) -> Result<Self, EncodeError> {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            // Nullable whatever the plan says: a batch whose column has NULLs the
            // planned schema rules out must not fail after the 200 is sent.
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_data_type(plain(f.data_type()).clone())
                    .with_nullable(true)
            })
            .collect();
        let cast = fields
            .iter()
            .zip(schema.fields())
            .any(|(a, b)| a != b.as_ref());
        let out = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        let writer = StreamWriter::try_new(Vec::new(), &out)?;
        Ok(Self {
            writer,
            schema: out,
            cast,
        })
    }

    fn drain(&mut self) -> Vec<u8> {
        std::mem::take(self.writer.get_mut())
    }
}

impl BatchEncoder for IpcStreamEncoder {
    fn begin(&mut self) -> Result<Vec<u8>, EncodeError> {
        // The writer wrote the schema message when it was created.
        Ok(self.drain())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, EncodeError> {
        if self.cast {
            let columns = batch
                .columns()
                .iter()
                .zip(self.schema.fields())
                .map(|(c, f)| cast(c, f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
            self.writer.write(&batch)?;
        } else {
            self.writer.write(batch)?;
        }
        Ok(self.drain())
    }

    fn end(&mut self) -> Result<Vec<u8>, EncodeError> {
        self.writer.finish()?;
        Ok(self.drain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, DictionaryArray, Float64Array};
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::arrow::ipc::reader::StreamReader;

    #[test]
    fn round_trip_with_dictionaries_decoded() {
        let schema = Arc::new(Schema::new(vec![
            Field::new_dictionary("host", DataType::Int32, DataType::Utf8, true),
            Field::new("v", DataType::Float64, true),
        ]));
        let batch = |hosts: Vec<Option<&str>>, v: Vec<Option<f64>>| {
            let host: DictionaryArray<Int32Type> = hosts.into_iter().collect();
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(host), Arc::new(Float64Array::from(v))],
            )
            .unwrap()
        };
        let mut enc = IpcStreamEncoder::new(&schema).unwrap();
        let mut out = enc.begin().unwrap();
        assert!(!out.is_empty(), "the schema message comes first");
        out.extend(
            enc.batch(&batch(vec![Some("a"), None], vec![Some(1.0), None]))
                .unwrap(),
        );
        out.extend(enc.batch(&batch(vec![Some("b")], vec![Some(2.0)])).unwrap());
        out.extend(enc.end().unwrap());

        let reader = StreamReader::try_new(std::io::Cursor::new(out), None).unwrap();
        assert_eq!(reader.schema().field(0).data_type(), &DataType::Utf8);
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 2);
        let hosts = batches[0].column(0).as_string::<i32>();
        assert_eq!(hosts.value(0), "a");
        assert!(hosts.is_null(1));
        assert!(batches[0].column(1).is_null(1));
        assert_eq!(batches[1].column(0).as_string::<i32>().value(0), "b");
    }

    #[test]
    fn nulls_where_the_plan_promised_none_still_encode() {
        // A tag column forces the re-cast path, which rebuilds each batch
        // against the sent schema.
        let planned = Arc::new(Schema::new(vec![
            Field::new_dictionary("host", DataType::Int32, DataType::Utf8, false),
            Field::new("v", DataType::Float64, false),
        ]));
        let actual = Arc::new(Schema::new(vec![
            Field::new_dictionary("host", DataType::Int32, DataType::Utf8, true),
            Field::new("v", DataType::Float64, true),
        ]));
        let host: DictionaryArray<Int32Type> = vec![Some("a"), Some("b")].into_iter().collect();
        let batch = RecordBatch::try_new(
            actual,
            vec![
                Arc::new(host),
                Arc::new(Float64Array::from(vec![Some(1.0), None])),
            ],
        )
        .unwrap();
        let mut enc = IpcStreamEncoder::new(&planned).unwrap();
        let mut out = enc.begin().unwrap();
        out.extend(enc.batch(&batch).unwrap());
        out.extend(enc.end().unwrap());
        let reader = StreamReader::try_new(std::io::Cursor::new(out), None).unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert!(batches[0].column(1).is_null(1));
    }
}
