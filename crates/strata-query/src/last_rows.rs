//! "Latest row per series" queries answered from the last-rows index
//! (`strata_storage::last_rows`) instead of every row of the table.
//!
//! [`LastRowsRule`] is appended to DataFusion's optimizer rules (so it runs in
//! each optimizer pass). It looks for an aggregate (which is also what
//! `DISTINCT ON` becomes) whose answer depends only on the newest row of each
//! series, over a plain scan of one Strata table, and points that scan at
//! [`LastRowsTable`]: the newest persisted row of each series plus every
//! buffered row. The filters and everything above stay as planned; the
//! aggregate only gets cheaper forms of the same functions (see `rewrite`).
//! When the index cannot answer, the scan reads the whole table.
//!
//! Why the answer is the same. Let `L` hold, for every series (tag tuple), a row
//! with its greatest time. Eligible:
//! - group keys: tag columns only, so a group is a union of whole series;
//! - `first_value(x ORDER BY k...)` where the keys are tag columns and `time
//!   DESC` (at least that one), `last_value` likewise with `time ASC`, both
//!   respecting NULLs, without FILTER or DISTINCT: the winning row of a group,
//!   say of series S, ties under those keys with S's newest row, which is in `L`;
//! - `max(time)` (the bare column), and `min`/`max` of a tag column or a cast
//!   of it, which `L` keeps exactly (every distinct tag value is in it);
//! - filters on tag columns (a series passes whole or not at all) and lower
//!   bounds on time (`time > c`, `time >= c`): a series' newest row passes
//!   exactly when some row of it does.
//!
//! "The same" holds up to ties: duplicate points (same series and time) are
//! kept, and which of them a full scan or `L` offers is arbitrary either way.
//!
//! Anything else (a field filter, an upper time bound, `count`, a join, a
//! computed group key) leaves the plan alone. Function names identify the
//! aggregates: sessions register no user-defined aggregates that could shadow
//! DataFusion's.

use crate::provider::BufferTable;
use crate::scan_info::{ScanInfo, scan_plan};
use crate::time_range::TimeRange;
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result, project_schema};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::expr::{AggregateFunction, NullTreatment};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator, Projection,
    TableProviderFilterPushDown, TableScan, TableType, cast,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;
use std::collections::HashSet;
use std::sync::Arc;
use strata_model::TIME_COLUMN;
use strata_storage::buffer::widen;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct LastRowsRule;

impl OptimizerRule for LastRowsRule {
    fn name(&self) -> &str {
        "strata_last_rows"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_down_with_subqueries(|node| match &node {
            LogicalPlan::Aggregate(agg) => match rewrite(agg)? {
                Some(p) => Ok(Transformed::yes(p)),
                None => Ok(Transformed::no(node)),
            },
            _ => Ok(Transformed::no(node)),
        })
    }
}

/// The aggregate reading [`LastRowsTable`], if `agg` is eligible.
fn rewrite(agg: &Aggregate) -> Result<Option<LogicalPlan>> {
    let mut filters: Vec<&Expr> = Vec::new();
    let mut node = agg.input.as_ref();
    let scan = loop {
        match node {
            LogicalPlan::Filter(f) => {
                filters.extend(split_conjunction(&f.predicate));
                node = f.input.as_ref();
            }
            LogicalPlan::SubqueryAlias(a) => node = a.input.as_ref(),
            // Column-only projections keep names, so a column name above still
            // means that column of the table.
            LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => {
                node = p.input.as_ref();
            }
            LogicalPlan::TableScan(s) => break s,
            _ => return Ok(None),
        }
    };
    if scan.fetch.is_some() {
        return Ok(None);
    }
    let Ok(provider) = source_as_provider(&scan.source) else {
        return Ok(None);
    };
    let Some(table) = provider.downcast_ref::<BufferTable>() else {
        return Ok(None);
    };
    let schema = table.schema();
    let tags: HashSet<&str> = schema
        .fields()
        .iter()
        .filter(|f| matches!(f.data_type(), DataType::Dictionary(_, _)))
        .map(|f| f.name().as_str())
        .collect();
    let is_tag = |e: &Expr| matches!(e, Expr::Column(c) if tags.contains(c.name.as_str()));
    let eligible = agg.group_expr.iter().all(is_tag)
        && agg.aggr_expr.iter().all(|e| newest_rows_suffice(e, &tags))
        && filters
            .into_iter()
            .chain(&scan.filters)
            .all(|f| series_or_lower_bound(f, &tags));
    if !eligible {
        return Ok(None);
    }
    let mut new_scan: TableScan = scan.clone();
    new_scan.source = provider_as_source(Arc::new(LastRowsTable {
        table: table.clone(),
    }));
    let input = agg.input.as_ref().clone().transform_up(|p| match p {
        LogicalPlan::TableScan(_) => Ok(Transformed::yes(LogicalPlan::TableScan(new_scan.clone()))),
        other => Ok(Transformed::no(other)),
    })?;
    let input = Arc::new(input.data);
    // Cheaper forms of first_value/last_value with the same answer:
    // - DataFusion has no groups accumulator for dictionaries (tags): one
    //   boxed accumulator per group and column made a 1,000-host lastpoint
    //   take 80 ms. The values are aggregated as Utf8 and cast back.
    // - Group keys are constant within a group, so as sort keys they only
    //   cost comparisons (of dictionaries, row by row): they are dropped.
    let group_cols: HashSet<&str> = agg.group_expr.iter().filter_map(column).collect();
    let mut changed = false;
    let aggr_expr: Vec<Expr> = agg
        .aggr_expr
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Expr::AggregateFunction(AggregateFunction { func, params }) = &mut e
                && matches!(func.name(), "first_value" | "last_value")
            {
                let keys = params.order_by.len();
                params
                    .order_by
                    .retain(|s| !column(&s.expr).is_some_and(|c| group_cols.contains(c)));
                changed |= params.order_by.len() != keys;
                if let DataType::Dictionary(_, value) = params.args[0].get_type(input.schema())? {
                    params.args[0] = cast(params.args[0].clone(), *value);
                    changed = true;
                }
            }
            Ok(e)
        })
        .collect::<Result<_>>()?;
    // Each changed aggregate keeps its original name: two that differed only
    // in a dropped sort key must not collide.
    let aggr_expr: Vec<Expr> = if changed {
        aggr_expr
            .into_iter()
            .zip(agg.schema.fields().iter().skip(agg.group_expr.len()))
            .map(|(e, f)| match e {
                Expr::Alias(_) => e,
                e => e.alias(f.name()),
            })
            .collect()
    } else {
        aggr_expr
    };
    let plan = Aggregate::try_new(input, agg.group_expr.clone(), aggr_expr)?;
    if !changed {
        return Ok(Some(LogicalPlan::Aggregate(plan)));
    }
    // The aggregate's output keeps its names and types, so the plan above it
    // is unchanged.
    let exprs: Vec<Expr> = plan
        .schema
        .iter()
        .zip(agg.schema.iter())
        .map(|((nq, nf), (oq, of))| {
            let c = Expr::Column(Column::from((nq, nf)));
            let c = if nf.data_type() == of.data_type() {
                c
            } else {
                cast(c, of.data_type().clone())
            };
            c.alias_qualified(oq.cloned(), of.name())
        })
        .collect();
    let plan = Projection::try_new(exprs, Arc::new(LogicalPlan::Aggregate(plan)))?;
    Ok(Some(LogicalPlan::Projection(plan)))
}

/// True for an aggregate whose value over a group is the same over the newest
/// row of each of its series.
fn newest_rows_suffice(e: &Expr, tags: &HashSet<&str>) -> bool {
    let e = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        e => e,
    };
    let Expr::AggregateFunction(AggregateFunction { func, params }) = e else {
        return false;
    };
    if params.filter.is_some() || params.args.len() != 1 {
        return false;
    }
    let arg = &params.args[0];
    match func.name() {
        "first_value" | "last_value" => {
            let newest_first = func.name() == "first_value";
            let mut by_time = false;
            let keys_ok = params.order_by.iter().all(|s| match column(&s.expr) {
                Some(TIME_COLUMN) if s.asc != newest_first => {
                    by_time = true;
                    true
                }
                Some(c) => tags.contains(c),
                None => false,
            });
            keys_ok
                && by_time
                && !params.distinct
                && params.null_treatment != Some(NullTreatment::IgnoreNulls)
                && !arg.exists(|x| Ok(is_subquery(x))).unwrap_or(true)
        }
        // Type coercion casts tags (dictionaries) to their value type; every
        // distinct tag value survives in the newest rows, so any cast of a tag
        // is fine. Time must be bare: a cast such as `CAST(time AS TIME)`
        // does not rise with time.
        "max" => {
            column(arg) == Some(TIME_COLUMN)
                || column(uncast(arg)).is_some_and(|c| tags.contains(c))
        }
        "min" => column(uncast(arg)).is_some_and(|c| tags.contains(c)),
        _ => false,
    }
}

fn column(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        _ => None,
    }
}

fn uncast(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => uncast(&c.expr),
        Expr::TryCast(c) => uncast(&c.expr),
        e => e,
    }
}

fn is_subquery(e: &Expr) -> bool {
    matches!(
        e,
        Expr::ScalarSubquery(_)
            | Expr::Exists(_)
            | Expr::InSubquery(_)
            | Expr::OuterReferenceColumn(..)
    )
}

/// True for a filter a series passes whole or not at all (tag columns only)
/// or a lower bound on time.
fn series_or_lower_bound(f: &Expr, tags: &HashSet<&str>) -> bool {
    if let Expr::BinaryExpr(BinaryExpr { left, op, right }) = f {
        let is_time = |e: &Expr| matches!(e, Expr::Column(c) if c.name == TIME_COLUMN);
        let is_lit = |e: &Expr| matches!(e, Expr::Literal(..));
        let lower = match op {
            Operator::Gt | Operator::GtEq => is_time(left) && is_lit(right),
            Operator::Lt | Operator::LtEq => is_lit(left) && is_time(right),
            _ => false,
        };
        if lower {
            return true;
        }
    }
    !f.is_volatile()
        && !f.exists(|x| Ok(is_subquery(x))).unwrap_or(true)
        && f.column_refs()
            .iter()
            .all(|c| tags.contains(c.name.as_str()))
}

/// The rows of one table that "latest row per series" needs: the newest
/// persisted row of each series, and every buffered row. Falls back to the
/// whole table when a file predates the index.
#[derive(Debug)]
pub(crate) struct LastRowsTable {
    table: BufferTable,
}

#[async_trait]
impl TableProvider for LastRowsTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let (engine, db, table) = self.table.parts();
        let range = TimeRange::from_filters(filters);
        // One snapshot for the files and the buffer: a persist finishing in
        // between could otherwise hide rows from both.
        let snap = engine
            .buffer()
            .get(db.id(), table.id())
            .map(|t| t.snapshot(i64::MIN, i64::MAX))
            .unwrap_or_default();
        // The index is an accelerator: when it cannot answer (files of earlier
        // builds, too many series, a sidecar missing or damaged), the table is
        // read in full and the answer is the same.
        let newest = match engine
            .last_rows(db.id(), table.id(), &schema, &snap.files)
            .await
        {
            Ok(Some(rows)) => rows,
            Ok(None) => return self.table.scan(state, projection, filters, limit).await,
            Err(e) => {
                tracing::warn!(
                    "last-rows index of {}.{}: {e}; reading every row instead",
                    db.name(),
                    table.name()
                );
                return self.table.scan(state, projection, filters, limit).await;
            }
        };
        let mut batches: Vec<RecordBatch> = snap
            .batches
            .iter()
            .filter(|b| b.max_time >= range.min && b.min_time <= range.max)
            .map(|b| widen(&schema, &b.batch))
            .collect::<std::result::Result<_, _>>()?;
        let info = ScanInfo {
            table: table.name().to_owned(),
            files_total: snap.total_files,
            files_pruned_by_time: 0,
            files_pruned_by_stats: 0,
            buffer_batches: batches.len(),
            newest_rows: Some(newest.num_rows()),
        };
        batches.push(newest);
        let partitions = state.config().target_partitions().max(1).min(batches.len());
        let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
        for (i, b) in batches.into_iter().enumerate() {
            parts[i % partitions].push(b);
        }
        let rows =
            MemorySourceConfig::try_new_exec(&parts, Arc::clone(&schema), projection.cloned())?;
        scan_plan(
            state,
            project_schema(&schema, projection)?,
            vec![rows],
            info,
            None,
        )
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Used only to skip buffered batches by time; every row is still
        // filtered above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
