//! DataFusion access to Strata tables: a [`SchemaProvider`] per database that
//! resolves table names through the catalog, and a [`TableProvider`] per table
//! over the write buffer.
//!
//! The buffer is read through a snapshot taken at scan time: record batches are
//! shared, not copied. Batches whose time range misses the query's time bounds are
//! skipped before the scan; the filter itself is still applied by DataFusion, so
//! pushdown is reported as `Inexact`.

use crate::time_range::TimeRange;
use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;
use strata_storage::Engine;
use strata_storage::buffer::BufferedBatch;
use strata_storage::catalog::{DatabaseSchema, TableSchema};

/// Tables of one database.
#[derive(Debug)]
pub struct DatabaseProvider {
    engine: Arc<Engine>,
    db: Arc<DatabaseSchema>,
}

impl DatabaseProvider {
    /// Provider for `db` as of the catalog snapshot it came from.
    pub fn new(engine: Arc<Engine>, db: Arc<DatabaseSchema>) -> Self {
        Self { engine, db }
    }
}

#[async_trait]
impl SchemaProvider for DatabaseProvider {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.db.tables().map(|t| t.name().to_owned()).collect();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        Ok(self.db.table(name).map(|t| {
            Arc::new(BufferTable {
                engine: Arc::clone(&self.engine),
                db: Arc::clone(&self.db),
                table: Arc::clone(t),
            }) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.db.table(name).is_some()
    }
}

/// One table's buffered rows.
#[derive(Debug)]
pub struct BufferTable {
    engine: Arc<Engine>,
    db: Arc<DatabaseSchema>,
    table: Arc<TableSchema>,
}

/// Widens a buffered batch (which holds only the columns its write had) to the
/// table schema, filling absent columns with nulls.
fn widen(schema: &SchemaRef, b: &BufferedBatch) -> Result<RecordBatch> {
    let rows = b.batch.num_rows();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match b.batch.column_by_name(f.name()) {
            Some(a) if a.data_type() == f.data_type() => Arc::clone(a),
            _ => new_null_array(f.data_type(), rows),
        })
        .collect();
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

#[async_trait]
impl TableProvider for BufferTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(self.table.arrow_schema())
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let range = TimeRange::from_filters(filters);
        let batches = self
            .engine
            .buffer()
            .get(self.db.id(), self.table.id())
            .map(|t| t.snapshot(range.min, range.max))
            .unwrap_or_default();
        let partitions = state.config().target_partitions().max(1);
        let mut parts: Vec<Vec<RecordBatch>> =
            vec![Vec::new(); partitions.min(batches.len()).max(1)];
        let n = parts.len();
        for (i, b) in batches.iter().enumerate() {
            parts[i % n].push(widen(&schema, b)?);
        }
        let exec = MemorySourceConfig::try_new_exec(&parts, schema, projection.cloned())?;
        Ok(exec)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Time bounds only prune whole buffered batches; rows inside a kept batch
        // still need the filter, so every pushed filter is Inexact.
        Ok(filters
            .iter()
            .map(|f| {
                if TimeRange::is_time_bound(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }
}
