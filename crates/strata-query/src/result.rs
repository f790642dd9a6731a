//! A running query's result, and its encoding into the bytes of an answer.
//!
//! Invariants of [`QueryStream::encode`]: batches are encoded in jobs on the
//! query runtime (small ones where they arrive), at most one more at a time
//! than it has threads, and their
//! outputs come out in the order of the batches; memory is bounded by those
//! batches and their encodings, not by the result. The returned stream owns
//! the query: dropping it drops the DataFusion stream, which cancels the
//! query, and aborts the jobs not yet started.

use crate::error::QueryError;
use crate::format::{BatchEncoder, EncodeError, EncodeJob};
use crate::runtime::QueryRuntime;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use std::sync::{Arc, Mutex, MutexGuard};
use thiserror::Error;

/// A running query.
pub struct QueryStream {
    /// Result schema.
    pub schema: SchemaRef,
    /// Result batches.
    pub stream: SendableRecordBatchStream,
    /// Where [`QueryStream::encode`] runs its jobs.
    pub(crate) runtime: Arc<QueryRuntime>,
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Why an encoded result stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ResultError {
    /// The query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A batch could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl From<datafusion::error::DataFusionError> for ResultError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Self::Query(e.into())
    }
}

fn lock<E>(enc: &Mutex<E>) -> MutexGuard<'_, E> {
    // A panic while locked can only come from an encoder's own bug; its state
    // is then no worse than the output already sent.
    enc.lock().unwrap_or_else(|p| p.into_inner())
}

/// Batches of fewer rows are encoded where they arrive (on the thread that
/// sends the answer): for them the hop to the query runtime and back costs
/// more than it saves. A point read's answer is one such batch.
const INLINE_ROWS: usize = 2048;

async fn encode_one(
    runtime: &QueryRuntime,
    (rows, job): (usize, EncodeJob),
) -> Result<Vec<u8>, ResultError> {
    if rows < INLINE_ROWS {
        return Ok(job()?);
    }
    Ok(runtime.run(async move { job() }).await??)
}

impl QueryStream {
    /// The result encoded by `enc`: its opening bytes with the first batch's,
    /// each further batch's as it is produced, then the closing bytes.
    ///
    /// Waits for the first batch, so that a query failing before it is an
    /// error here, while an answer can still say so in its status. After
    /// that, the stream's first error is its last item. Several batches
    /// encode at once on the query runtime's threads (the encoding of a large
    /// result costs about as much as computing it).
    pub async fn encode<E>(
        mut self,
        mut enc: E,
    ) -> Result<impl Stream<Item = Result<Vec<u8>, ResultError>> + Send + 'static, ResultError>
    where
        E: BatchEncoder + Send + 'static,
    {
        let mut head = enc.begin()?;
        if let Some(first) = self.stream.next().await {
            let first = first?;
            let rows = first.num_rows();
            head.extend(encode_one(&self.runtime, (rows, enc.job(first))).await?);
        }
        let ahead = self.runtime.threads() + 1;
        let enc = Arc::new(Mutex::new(enc));
        let closing = Arc::clone(&enc);
        let runtime = self.runtime;
        let body = self
            .stream
            .map(move |batch| {
                let job = batch.map(|b| (b.num_rows(), lock(&enc).job(b)));
                let runtime = Arc::clone(&runtime);
                async move { encode_one(&runtime, job?).await }
            })
            .buffered(ahead);
        let tail = futures::stream::once(async move { Ok(lock(&closing).end()?) });
        Ok(futures::stream::once(async move { Ok(head) })
            .chain(body)
            .chain(tail)
            .scan(false, |failed, item| {
                let next = if *failed {
                    None
                } else {
                    *failed = item.is_err();
                    Some(item)
                };
                futures::future::ready(next)
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{ArcJsonEncoder, Encoder, Format, IpcStreamEncoder};
    use datafusion::arrow::array::{
        ArrayRef, DictionaryArray, Int64Array, StringArray, TimestampNanosecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::error::DataFusionError;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::TryStreamExt;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new_dictionary("host", DataType::Int32, DataType::Utf8, true),
            Field::new("note", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
        ]))
    }

    /// Batches of uneven sizes (empty ones among them, the first included),
    /// each row telling where it came from, so order and completeness show.
    fn batches() -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let mut n = 0i64;
        for (b, rows) in [0usize, 3, 1000, 0, 1, 4097, 17, 0, 250, 2, 9000, 5]
            .into_iter()
            .enumerate()
        {
            let hosts = ["host_0", "host_1", "host_2", "host_3", "host_4"];
            let host: DictionaryArray<Int32Type> = (0..rows)
                .map(|r| (r % 7 != 3).then_some(hosts[r % 5]))
                .collect();
            let note: StringArray = (0..rows)
                .map(|r| (r % 11 != 0).then(|| format!("b{b} \"r\"{r}")))
                .collect();
            let v: Int64Array = (0..rows as i64).map(|r| Some(n + r)).collect();
            let time: TimestampNanosecondArray = (0..rows as i64)
                .map(|r| Some((n + r) * 1_000_000_007))
                .collect();
            n += rows as i64;
            let columns: Vec<ArrayRef> =
                vec![Arc::new(host), Arc::new(note), Arc::new(v), Arc::new(time)];
            out.push(RecordBatch::try_new(schema(), columns).unwrap());
        }
        out
    }

    fn query(items: Vec<Result<RecordBatch, DataFusionError>>) -> QueryStream {
        let stream = futures::stream::iter(items);
        QueryStream {
            schema: schema(),
            stream: Box::pin(RecordBatchStreamAdapter::new(schema(), stream)),
            runtime: Arc::new(QueryRuntime::new(2).unwrap()),
        }
    }

    /// `enc` over `batches()`, one batch after another on this thread.
    fn serial(mut enc: impl BatchEncoder) -> (Vec<u8>, Vec<u8>) {
        let mut out = enc.begin().unwrap();
        for b in batches() {
            out.extend(enc.batch(&b).unwrap());
        }
        (out, enc.end().unwrap())
    }

    /// `enc` over `batches()` through [`QueryStream::encode`].
    async fn jobs(enc: impl BatchEncoder + Send + 'static) -> (Vec<u8>, Vec<u8>) {
        let q = query(batches().into_iter().map(Ok).collect());
        let mut chunks: Vec<Vec<u8>> = q.encode(enc).await.unwrap().try_collect().await.unwrap();
        let end = chunks.pop().unwrap();
        (chunks.concat(), end)
    }

    #[tokio::test]
    async fn encoding_in_jobs_gives_the_serial_bytes() {
        for format in [Format::Json, Format::JsonLines, Format::Csv] {
            let expected = serial(Encoder::new(format, schema()));
            let got = jobs(Encoder::new(format, schema())).await;
            assert!(expected == got, "{format:?}");
        }
        // The default job: encoded at once, in order.
        let expected = serial(IpcStreamEncoder::new(&schema()).unwrap());
        assert!(expected == jobs(IpcStreamEncoder::new(&schema()).unwrap()).await);

        // Arc's closing bytes hold a time; the row count in them must match.
        let started = std::time::Instant::now();
        let (body, _) = serial(ArcJsonEncoder::new(schema(), started));
        let (got, end) = jobs(ArcJsonEncoder::new(schema(), started)).await;
        assert!(body == got);
        let rows: usize = batches().iter().map(|b| b.num_rows()).sum();
        let end = String::from_utf8(end).unwrap();
        assert!(end.contains(&format!("\"row_count\":{rows},")), "{end}");

        let json: serde_json::Value = {
            let (mut all, end) = jobs(Encoder::new(Format::Json, schema())).await;
            all.extend(end);
            serde_json::from_slice(&all).unwrap()
        };
        let values: Vec<i64> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["v"].as_i64().unwrap())
            .collect();
        assert_eq!(values, (0..rows as i64).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failure_is_the_last_item() {
        let mut items: Vec<_> = batches().into_iter().take(4).map(Ok).collect();
        items.push(Err(DataFusionError::Execution("disk on fire".into())));
        items.extend(batches().into_iter().map(Ok));
        let chunks: Vec<_> = query(items)
            .encode(Encoder::new(Format::Json, schema()))
            .await
            .unwrap()
            .collect()
            .await;
        // The head (with the first batch), batches 2 to 4, then the error.
        assert_eq!(chunks.len(), 5);
        assert!(chunks[..4].iter().all(|c| c.is_ok()));
        let last = chunks[4].as_ref().unwrap_err().to_string();
        assert!(last.contains("disk on fire"), "{last}");

        let failed = query(vec![Err(DataFusionError::Execution("no".into()))])
            .encode(Encoder::new(Format::Csv, schema()))
            .await;
        assert!(matches!(failed, Err(ResultError::Query(_))));
    }
}
