//! A running query's result, and its encoding into the bytes of an answer.
//!
//! Invariants of [`QueryStream::encode`]: batches of the encoders that defer
//! their work are encoded in jobs on the query runtime (small batches where
//! they arrive), at most [`MAX_AHEAD`] at a time, and their outputs come out
//! in the order of the batches; memory is bounded by those batches and their
//! encodings, not by the result. The returned stream owns the query: dropping
//! it drops the DataFusion stream, which cancels the query, and aborts the
//! jobs not yet started.

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
/// more than it saves. A point read's answer is typically one such batch.
const INLINE_ROWS: usize = 2048;

/// Most batches one answer has in encoding at once: each holds a batch and up
/// to 16 MiB of output, outside the query's memory pool, so this does not
/// grow with the core count.
const MAX_AHEAD: usize = 4;

async fn encode_one(
    runtime: &QueryRuntime,
    (hop, job): (bool, EncodeJob),
) -> Result<Vec<u8>, ResultError> {
    if !hop {
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
    /// encode at once on the query runtime's threads when `enc` defers its
    /// work (the encoding of a large result costs about as much as computing
    /// it).
    pub async fn encode<E>(
        mut self,
        mut enc: E,
    ) -> Result<impl Stream<Item = Result<Vec<u8>, ResultError>> + Send + 'static, ResultError>
    where
        E: BatchEncoder + Send + 'static,
    {
        let defers = enc.defers();
        let mut head = enc.begin()?;
        if let Some(first) = self.stream.next().await {
            let first = first?;
            let hop = defers && first.num_rows() >= INLINE_ROWS;
            head.extend(encode_one(&self.runtime, (hop, enc.job(first))).await?);
        }
        let ahead = (self.runtime.threads() + 1).min(MAX_AHEAD);
        let enc = Arc::new(Mutex::new(enc));
        let closing = Arc::clone(&enc);
        let runtime = self.runtime;
        let body = self
            .stream
            .map(move |batch| {
                let job = batch.map(|b| (defers && b.num_rows() >= INLINE_ROWS, lock(&enc).job(b)));
                let runtime = Arc::clone(&runtime);
                async move { encode_one(&runtime, job?).await }
            })
            .buffered(ahead);
        let tail = futures::stream::once(async move { Ok(lock(&closing).end()?) });
        let all = futures::stream::once(async move { Ok(head) })
            .chain(body)
            .chain(tail);
        // Ends at the first error without polling what follows it: no further
        // batch is computed and no closing bytes are made.
        Ok(futures::stream::unfold(
            (Box::pin(all), false),
            |(mut all, failed)| async move {
                if failed {
                    return None;
                }
                let item = all.next().await?;
                let failed = item.is_err();
                Some((item, (all, failed)))
            },
        ))
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

    /// Tags each batch with its number; the job of batch `i` of `n` sleeps
    /// longer the earlier the batch, so jobs in flight together finish in
    /// reverse order.
    struct Slow {
        next: u64,
        n: u64,
    }

    impl BatchEncoder for Slow {
        fn begin(&mut self) -> Result<Vec<u8>, EncodeError> {
            Ok(Vec::new())
        }
        fn batch(&mut self, _: &RecordBatch) -> Result<Vec<u8>, EncodeError> {
            unreachable!("every batch goes through job")
        }
        fn job(&mut self, _: RecordBatch) -> crate::format::EncodeJob {
            let i = self.next;
            self.next += 1;
            let wait = std::time::Duration::from_millis(5 * (self.n - i));
            Box::new(move || {
                std::thread::sleep(wait);
                Ok(i.to_le_bytes().to_vec())
            })
        }
        fn defers(&self) -> bool {
            true
        }
        fn end(&mut self) -> Result<Vec<u8>, EncodeError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn outputs_keep_the_order_of_batches_when_jobs_finish_out_of_order() {
        let big = batches()
            .into_iter()
            .find(|b| b.num_rows() >= 4096)
            .unwrap();
        let n = 12;
        let q = query((0..n).map(|_| Ok(big.clone())).collect());
        let chunks: Vec<Vec<u8>> = q
            .encode(Slow { next: 0, n })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let order: Vec<u64> = chunks
            .concat()
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(order, (0..n).collect::<Vec<_>>());

        // JSON whose first rows are in a job, with jobs back to back.
        let sizes = [0usize, 9000, 0, 6000, 4097, 2048, 3];
        let mut all = batches();
        all.sort_by_key(|b| std::cmp::Reverse(b.num_rows()));
        let pick = |rows: usize| {
            let big = &all[0];
            big.slice(0, rows)
        };
        let input: Vec<RecordBatch> = sizes.iter().map(|&r| pick(r)).collect();
        let mut expected = Encoder::new(Format::Json, schema());
        let mut want = expected.begin().into_bytes();
        for b in &input {
            want.extend(expected.batch(b).unwrap().into_bytes());
        }
        want.extend(expected.end().into_bytes());
        let q = query(input.into_iter().map(Ok).collect());
        let got: Vec<Vec<u8>> = q
            .encode(Encoder::new(Format::Json, schema()))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let got = got.concat();
        assert!(got == want);
        let parsed: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(
            parsed.as_array().unwrap().len(),
            sizes.iter().sum::<usize>()
        );
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
