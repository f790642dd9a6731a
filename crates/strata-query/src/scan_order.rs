//! Keeps the sort order that Parquet scans declare true at run time.
//!
//! The provider declares each scan of sorted files ordered (one file per
//! partition), and plans above it rely on that: a `SortPreservingMergeExec`
//! instead of a sort, aggregates in sorted mode. DataFusion 55 lets a scan's
//! partitions steal unopened files from each other
//! (`enable_file_stream_work_stealing`), which mixes files inside a partition;
//! it skips that only while the scan's `preserve_order` flag is set. The
//! builder sets the flag when an ordering is declared, but `LimitPushdown`
//! overwrites it with whether the *limit* is order-sensitive, so a scan under
//! `SELECT ... FROM (SELECT * FROM t LIMIT n)` declared an order it did not
//! deliver, and merges above it returned rows out of order or lost groups,
//! depending on which partition went idle first.
//!
//! [`KeepDeclaredScanOrder`] runs after every built-in rule and sets the flag
//! again on every scan that still declares an ordering. Work stealing stays on
//! for scans without one (many files sharing partitions), where it balances
//! the partitions.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// Physical rule: every `DataSourceExec` that declares an output ordering
/// preserves it (no file moves between its partitions).
#[derive(Debug, Default)]
pub(crate) struct KeepDeclaredScanOrder;

impl PhysicalOptimizerRule for KeepDeclaredScanOrder {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            // Rebuilding a scan recomputes its equivalence properties (about
            // 4% of a point query's CPU each time): only scans that lost the
            // flag are rebuilt.
            let lost = node
                .downcast_ref::<DataSourceExec>()
                .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
                .is_some_and(|config| !config.preserve_order)
                && node.properties().output_ordering().is_some();
            match lost.then(|| node.with_preserve_order(true)).flatten() {
                Some(kept) => Ok(Transformed::yes(kept)),
                None => Ok(Transformed::no(node)),
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "keep_declared_scan_order"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
