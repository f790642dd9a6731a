//! `EXPLAIN` of a statement a point read answers.
//!
//! DataFusion explains its own plans, and a point read runs none of them
//! unless it falls back. So the answer gets one more row before DataFusion's,
//! `plan_type` `point_read`, saying what is read and when DataFusion's plans
//! run instead; the plans follow as the fallback. `EXPLAIN ANALYZE` runs
//! DataFusion's plan and is answered by DataFusion alone.

use super::PointQuery;
use super::read::Caps;
use crate::result::QueryStream;
use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use std::sync::Arc;

/// What `EXPLAIN` says of point read `q`.
pub(crate) fn describe(q: &PointQuery, caps: Caps) -> String {
    format!(
        "{q}\n  reads the buffered rows and the Parquet pages whose page index admits the filter, \
         without the plans below; they run instead if the read would decode more than {} rows \
         or {} bytes (--query-memory-limit)",
        caps.rows, caps.bytes
    )
}

/// `answer`, DataFusion's `EXPLAIN` output, with a first row `point_read`,
/// `text`, if there is a text. An answer of another shape (a newer
/// DataFusion's) is left alone.
pub(crate) fn prepend(answer: QueryStream, text: Option<String>) -> QueryStream {
    let Some(text) = text else {
        return answer;
    };
    let schema = Arc::clone(&answer.schema);
    let shape_known = schema.fields().len() == 2
        && schema
            .fields()
            .iter()
            .all(|f| f.data_type() == &DataType::Utf8);
    if !shape_known {
        return answer;
    }
    let row = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec!["point_read"])),
            Arc::new(StringArray::from(vec![text])),
        ],
    );
    let Ok(row) = row else {
        return answer;
    };
    let stream = futures::stream::once(async move { Ok(row) }).chain(answer.stream);
    QueryStream {
        stream: Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&schema), stream)),
        schema,
        runtime: answer.runtime,
    }
}
