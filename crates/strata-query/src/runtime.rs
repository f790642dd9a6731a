//! Query execution on a tokio runtime of its own.
//!
//! DataFusion runs operators as tasks that each compute a whole batch per
//! poll. On the server's runtime they would occupy its worker threads, and
//! HTTP connections would wait behind them: writes would slow down, and so would
//! noticing that a client had gone away (hyper sees the closed socket only when
//! its connection task is polled). So plans execute here, and their batches
//! cross to the caller over a small bounded channel.
//!
//! Invariant: when the caller drops the stream, the channel closes, the driving
//! task drops the DataFusion stream, and the query's tasks are cancelled.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{FutureExt, StreamExt};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Batches a query may compute ahead of the reader.
const AHEAD: usize = 2;

/// A runtime for query execution; shut down without waiting when dropped.
pub(crate) struct QueryRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    threads: usize,
}

impl std::fmt::Debug for QueryRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryRuntime").finish_non_exhaustive()
    }
}

impl QueryRuntime {
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("strata-query")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
            threads,
        })
    }

    /// Its worker threads.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `work` on this runtime and returns its output; a panic in it is an
    /// error. Dropping the returned future (the client left, the time limit
    /// passed) aborts `work` at its next await.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        let Some(runtime) = &self.runtime else {
            return Err(DataFusionError::Execution(
                "the query runtime is shut down".into(),
            ));
        };
        struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
        impl<T> Drop for AbortOnDrop<T> {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let mut task = AbortOnDrop(runtime.spawn(work));
        (&mut task.0).await.map_err(|e| {
            DataFusionError::Execution(format!("internal error, the query panicked: {e}"))
        })
    }

    /// Starts `df` on this runtime. Errors of starting (for example memory
    /// for a build side) are returned here; later ones arrive in the stream.
    pub(crate) async fn execute(&self, df: DataFrame) -> Result<SendableRecordBatchStream> {
        let Some(runtime) = &self.runtime else {
            return Err(DataFusionError::Execution(
                "the query runtime is shut down".into(),
            ));
        };
        let schema = Arc::new(df.schema().as_arrow().clone());
        let (tx, mut rx) = mpsc::channel::<Result<RecordBatch>>(AHEAD);
        let (started_tx, started_rx) = oneshot::channel::<Result<()>>();
        let panic_tx = tx.clone();
        let drive = async move {
            let mut stream = match df.execute_stream().await {
                Ok(s) => {
                    let _ = started_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                    return;
                }
            };
            loop {
                tokio::select! {
                    biased;
                    // The reader went away: returning drops `stream`, which cancels.
                    () = tx.closed() => return,
                    item = stream.next() => match item {
                        None => return,
                        Some(item) => {
                            let failed = item.is_err();
                            if tx.send(item).await.is_err() || failed {
                                return;
                            }
                        }
                    },
                }
            }
        };
        runtime.spawn(async move {
            // A panic must reach the reader as an error: otherwise the closed
            // channel would look like the end of a complete result.
            if let Err(panic) = AssertUnwindSafe(drive).catch_unwind().await {
                let msg = panic_message(panic.as_ref());
                tracing::error!(panic = %msg, "query panicked");
                let _ = panic_tx
                    .send(Err(DataFusionError::Execution(format!(
                        "internal error, the query panicked: {msg}"
                    ))))
                    .await;
            }
        });
        started_rx.await.map_err(|_| {
            DataFusionError::Execution(
                "internal error: the query stopped before it started (see the server log)".into(),
            )
        })??;
        let batches = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which tokio forbids
        // inside another runtime (the server's); running queries are abandoned.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn dropping_the_stream_cancels_the_query() {
        let rt = QueryRuntime::new(1).unwrap();
        let ctx = SessionContext::new();
        let df = ctx
            .sql("SELECT value FROM generate_series(1, 1000000000000)")
            .await
            .unwrap();
        let mut s = rt.execute(df).await.unwrap();
        assert!(s.next().await.unwrap().unwrap().num_rows() > 0);
        drop(s);
        // The driving task ends, so the runtime has nothing left to run.
        let metrics = rt.runtime.as_ref().unwrap().metrics();
        for _ in 0..200 {
            if metrics.num_alive_tasks() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{} tasks still alive", metrics.num_alive_tasks());
    }

    #[tokio::test]
    async fn a_panic_is_an_error_not_the_end_of_the_result() {
        use datafusion::arrow::datatypes::DataType;
        use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
        let rt = QueryRuntime::new(1).unwrap();
        let ctx = SessionContext::new();
        ctx.register_udf(create_udf(
            "boom",
            vec![DataType::Int64],
            DataType::Int64,
            Volatility::Immutable,
            Arc::new(|_: &[ColumnarValue]| panic!("boom")),
        ));
        let df = ctx
            .sql("SELECT boom(value) FROM generate_series(1, 10)")
            .await
            .unwrap();
        let outcome = match rt.execute(df).await {
            Err(e) => e.to_string(),
            Ok(mut s) => {
                let mut last = None;
                while let Some(item) = s.next().await {
                    last = Some(item);
                }
                match last {
                    Some(Err(e)) => e.to_string(),
                    other => panic!("the stream ended without an error: {other:?}"),
                }
            }
        };
        assert!(
            outcome.contains("boom") || outcome.contains("internal error"),
            "{outcome}"
        );
    }

    #[tokio::test]
    async fn results_and_errors_cross_over() {
        let rt = QueryRuntime::new(1).unwrap();
        let ctx = SessionContext::new();
        let df = ctx
            .sql("SELECT * FROM generate_series(1, 10000)")
            .await
            .unwrap();
        let rows: usize = rt
            .execute(df)
            .await
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .fold(0, |a, n| async move { a + n })
            .await;
        assert_eq!(rows, 10000);
        let df = ctx.sql("SELECT 1 / 0").await.unwrap();
        let mut s = rt.execute(df).await.unwrap();
        assert!(s.next().await.unwrap().is_err());
    }
}
