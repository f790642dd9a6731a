//! Per-query resource limits: memory (a DataFusion memory pool per query, with
//! spilling where the operator supports it), wall-clock time and result rows.
//! Exceeding one ends the query with an error that names the limit and the
//! option that sets it.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use std::time::Duration;

/// Limits applied to every query.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Memory one query may reserve for its operators (sorts, joins,
    /// aggregations). Sorts and aggregations spill to disk beyond it.
    pub memory_bytes: usize,
    /// Wall-clock time from planning to the last result batch.
    pub timeout: Duration,
    /// Rows a result may have.
    pub max_rows: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 1 << 30,
            timeout: Duration::from_secs(300),
            max_rows: 10_000_000,
        }
    }
}

impl QueryLimits {
    /// Rewrites DataFusion's out-of-memory error so it names the limit.
    pub(crate) fn explain(&self, e: DataFusionError) -> DataFusionError {
        if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
            return DataFusionError::ResourcesExhausted(format!(
                "the query needs more than its memory limit of {} bytes (--query-memory-limit) and the operator cannot spill: {}",
                self.memory_bytes,
                e.find_root()
            ));
        }
        e
    }

    pub(crate) fn timed_out(&self) -> DataFusionError {
        DataFusionError::ResourcesExhausted(format!(
            "the query ran longer than its time limit of {:?} (--query-timeout); narrow the time range or aggregate more",
            self.timeout
        ))
    }

    fn too_many_rows(&self) -> DataFusionError {
        DataFusionError::ResourcesExhausted(format!(
            "the result has more than {} rows (--query-max-rows); add a LIMIT or aggregate",
            self.max_rows
        ))
    }

    /// Wraps a result stream so it stops with an error at the deadline or past
    /// the row limit.
    pub(crate) fn enforce(
        self,
        schema: SchemaRef,
        deadline: tokio::time::Instant,
        stream: SendableRecordBatchStream,
    ) -> SendableRecordBatchStream {
        // State: the inner stream, rows so far, and whether an error ended it
        // (the inner stream is not polled again after that).
        let limited = futures::stream::unfold(
            (stream, 0u64, false),
            move |(mut inner, mut rows, ended)| async move {
                if ended {
                    return None;
                }
                let item = match tokio::time::timeout_at(deadline, inner.next()).await {
                    Err(_) => Err(self.timed_out()),
                    Ok(None) => return None,
                    Ok(Some(Err(e))) => Err(self.explain(e)),
                    Ok(Some(Ok(b))) => {
                        rows += b.num_rows() as u64;
                        if rows > self.max_rows {
                            Err(self.too_many_rows())
                        } else {
                            Ok(b)
                        }
                    }
                };
                let ended = item.is_err();
                Some((item, (inner, rows, ended)))
            },
        );
        Box::pin(RecordBatchStreamAdapter::new(schema, limited))
    }
}
