//! Formats that need the whole result before their first byte: Parquet (the
//! footer describes every row group) and the pretty table (column widths).
//!
//! Invariant: the encoder never holds more than its limit. Parquet is encoded as
//! batches arrive into an in-memory buffer; the limit is checked against the bytes
//! written plus the estimated size of the row group in progress. The pretty table
//! keeps the record batches and checks their Arrow memory size. A result beyond
//! the limit fails with [`EncodeError::TooLarge`], naming the limit and the
//! streamed formats that have none.

use super::{Format, TS_FORMAT};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::WriterProperties;
use thiserror::Error;

/// Default cap on a buffered (Parquet or pretty) result: 256 MiB.
pub const DEFAULT_BUFFER_LIMIT: usize = 256 * 1024 * 1024;

/// Why a buffered result could not be encoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The result is larger than the buffer limit.
    #[error(
        "the result exceeds the {limit}-byte limit of the {format} format, which is buffered in memory; add a LIMIT or a narrower time range, or use a streamed format (json, jsonl, csv)"
    )]
    TooLarge {
        /// The format's name.
        format: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The format is streamed, not buffered (use [`super::Encoder`]).
    #[error("format {0:?} is streamed, not buffered")]
    Streamed(Format),
    /// Arrow could not render the result.
    #[error("cannot encode the result: {0}")]
    Arrow(#[from] ArrowError),
    /// The Parquet writer failed.
    #[error("cannot encode the result as Parquet: {0}")]
    Parquet(#[from] ParquetError),
}

/// Encodes a whole result as Parquet or as a pretty table, within a size limit.
#[derive(Debug)]
pub struct BufferedEncoder {
    format: Format,
    schema: SchemaRef,
    limit: usize,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Created on the first batch, with that batch's schema (the planned schema may
    /// differ from the batches' in field metadata, which the writer refuses).
    Parquet(Option<Box<ArrowWriter<Vec<u8>>>>),
    Pretty {
        batches: Vec<RecordBatch>,
        bytes: usize,
    },
}

fn parquet_writer(schema: SchemaRef) -> Result<ArrowWriter<Vec<u8>>, EncodeError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    Ok(ArrowWriter::try_new(Vec::new(), schema, Some(props))?)
}

impl BufferedEncoder {
    /// An encoder of results of `schema` in `format` (Parquet or pretty), holding
    /// at most `limit` bytes.
    pub fn new(format: Format, schema: SchemaRef, limit: usize) -> Result<Self, EncodeError> {
        let state = match format {
            Format::Parquet => State::Parquet(None),
            Format::Pretty => State::Pretty {
                batches: Vec::new(),
                bytes: 0,
            },
            Format::Json | Format::JsonLines | Format::Csv => {
                return Err(EncodeError::Streamed(format));
            }
        };
        Ok(Self {
            format,
            schema,
            limit,
            state,
        })
    }

    fn too_large(&self) -> EncodeError {
        EncodeError::TooLarge {
            format: self.format.name(),
            limit: self.limit,
        }
    }

    /// Adds one batch.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<(), EncodeError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let size = match &mut self.state {
            State::Parquet(writer) => {
                let w = match writer {
                    Some(w) => w,
                    None => writer.insert(Box::new(parquet_writer(batch.schema())?)),
                };
                w.write(batch)?;
                w.bytes_written() + w.in_progress_size()
            }
            State::Pretty { batches, bytes } => {
                *bytes += batch.get_array_memory_size();
                batches.push(batch.clone());
                *bytes
            }
        };
        if size > self.limit {
            return Err(self.too_large());
        }
        Ok(())
    }

    /// The encoded result.
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        let out = match self.state {
            State::Parquet(writer) => {
                let writer = match writer {
                    Some(w) => *w,
                    None => parquet_writer(self.schema)?,
                };
                writer.into_inner()?
            }
            State::Pretty { mut batches, .. } => {
                if batches.is_empty() {
                    // Keeps the header of an empty result.
                    batches.push(RecordBatch::new_empty(self.schema));
                }
                let opts = FormatOptions::default().with_timestamp_format(Some(TS_FORMAT));
                let mut text = pretty_format_batches_with_options(&batches, &opts)?.to_string();
                text.push('\n');
                text.into_bytes()
            }
        };
        if out.len() > self.limit {
            return Err(EncodeError::TooLarge {
                format: self.format.name(),
                limit: self.limit,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..n))]).unwrap()
    }

    #[test]
    fn a_result_beyond_the_limit_names_it() {
        for format in [Format::Parquet, Format::Pretty] {
            let b = batch(10_000);
            let mut e = BufferedEncoder::new(format, b.schema(), 1024).unwrap();
            let err = e.push(&b).unwrap_err();
            assert!(err.to_string().contains("1024-byte limit"), "{err}");
        }
        assert!(matches!(
            BufferedEncoder::new(Format::Csv, batch(1).schema(), 1),
            Err(EncodeError::Streamed(Format::Csv))
        ));
    }

    #[test]
    fn formats_by_name_and_media_type() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!(
            "xml"
                .parse::<Format>()
                .unwrap_err()
                .contains("parquet, pretty")
        );
        assert_eq!(
            Format::from_media_type("Text/CSV; charset=utf-8"),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_media_type("application/x-ndjson"),
            Some(Format::JsonLines)
        );
        assert_eq!(Format::from_media_type("text/html"), None);
    }
}
