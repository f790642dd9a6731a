//! A zero-row leaf added beside a table's scans so `EXPLAIN` shows what the
//! scan read and skipped: files in total, files pruned by time range and by
//! manifest statistics, and buffered batches read.
//!
//! A leaf (rather than a wrapper around the scans) keeps every optimizer rule
//! that pushes projections, filters and limits into the union's inputs working.
//! It is added only to the plans of `EXPLAIN` statements ([`ExplainScans`]):
//! elsewhere it would only cost planning time (a union and the filter pushed
//! into it).

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, Partitioning, PhysicalExpr};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::EmptyRecordBatchStream;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use std::sync::Arc;

/// Session marker: the statement being planned is an `EXPLAIN`, so table
/// scans add their [`ScanInfoExec`].
#[derive(Debug)]
pub(crate) struct ExplainScans;

/// A table's scan plan from its `inputs` (each producing `schema`): their
/// union, with a [`ScanInfoExec`] beside them when the session explains.
/// `ordering` is what the scans declare (see [`ScanInfoExec::new`]).
pub(crate) fn scan_plan(
    state: &dyn Session,
    schema: SchemaRef,
    mut inputs: Vec<Arc<dyn ExecutionPlan>>,
    info: ScanInfo,
    ordering: Option<LexOrdering>,
) -> Result<Arc<dyn ExecutionPlan>> {
    if state.config().get_extension::<ExplainScans>().is_some() {
        inputs.push(Arc::new(ScanInfoExec::new(
            Arc::clone(&schema),
            info,
            ordering,
        )));
    }
    match inputs.len() {
        0 => Ok(Arc::new(EmptyExec::new(schema))),
        1 => Ok(inputs.remove(0)),
        _ => UnionExec::try_new(inputs),
    }
}

/// What a table scan covers.
#[derive(Debug, Clone)]
pub(crate) struct ScanInfo {
    pub(crate) table: String,
    pub(crate) files_total: usize,
    pub(crate) files_pruned_by_time: usize,
    pub(crate) files_pruned_by_stats: usize,
    pub(crate) buffer_batches: usize,
    /// Set when the scan reads the last-rows index instead of the files: the
    /// newest rows it holds (one per series).
    pub(crate) newest_rows: Option<usize>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ScanInfoExec {
    info: ScanInfo,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
}

impl ScanInfoExec {
    /// `ordering` is what the sibling Parquet scan declares: this node emits no
    /// rows, so any ordering holds, and claiming the same one keeps the union of
    /// the two sorted.
    pub(crate) fn new(schema: SchemaRef, info: ScanInfo, ordering: Option<LexOrdering>) -> Self {
        let props = PlanProperties::new(
            EquivalenceProperties::new_with_orderings(Arc::clone(&schema), ordering),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self {
            info,
            schema,
            props: Arc::new(props),
        }
    }
}

impl DisplayAs for ScanInfoExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.info;
        if let Some(rows) = i.newest_rows {
            return write!(
                f,
                "StrataScan: table={}, newest row per series of {} files ({rows} rows, last-rows index), buffer_batches={}",
                i.table, i.files_total, i.buffer_batches
            );
        }
        let read = i.files_total - i.files_pruned_by_time - i.files_pruned_by_stats;
        write!(
            f,
            "StrataScan: table={}, files={} of {} (pruned {} by time, {} by statistics), buffer_batches={}",
            i.table,
            read,
            i.files_total,
            i.files_pruned_by_time,
            i.files_pruned_by_stats,
            i.buffer_batches
        )
    }
}

impl ExecutionPlan for ScanInfoExec {
    fn name(&self) -> &str {
        "StrataScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(EmptyRecordBatchStream::new(Arc::clone(
            &self.schema,
        ))))
    }
}
