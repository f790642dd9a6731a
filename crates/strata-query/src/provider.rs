//! DataFusion access to Strata tables: a [`SchemaProvider`] per database that
//! resolves table names through the catalog, and a [`TableProvider`] per table
//! over the write buffer.
//!
//! The buffer is read through a snapshot taken at scan time: record batches are
//! shared, not copied. Batches whose time range misses the query's time bounds are
//! skipped before the scan; the filter itself is still applied by DataFusion, so
//! pushdown is reported as `Inexact`.

use crate::pruning::prune_files;
use crate::scan_info::{ScanInfo, scan_plan};
use crate::time_range::TimeRange;
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::config::TableParquetOptions;
use datafusion::common::{DFSchema, project_schema};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;
use strata_model::TIME_COLUMN;
use strata_storage::Engine;
use strata_storage::buffer::widen;
use strata_storage::catalog::{DatabaseSchema, TableSchema};
use strata_storage::manifest::{ParquetFile, SortOrder};

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

/// URL under which the engine's object store is registered in DataFusion.
pub(crate) const OBJECT_STORE_URL: &str = "strata://objects";

/// Up to this many files per partition of the session, each file is its own
/// scan partition, so the files' sort order reaches DataFusion (a partition
/// reading several files in sequence is not sorted). Beyond it, files share
/// partitions round-robin and the order is dropped rather than open hundreds of
/// files at once.
const SORTED_FILES_PER_PARTITION: usize = 4;

/// The order rows have inside persisted files of one [`SortOrder`]: the tag
/// columns `tags` (arrow indices, in key order; nulls last), then time; see
/// `strata_storage::persist::encode`. It holds for files written before a tag
/// existed too: that tag is NULL in all their rows, so it ties and the order
/// falls through to the next column.
fn file_ordering(schema: &SchemaRef, tags: &[usize]) -> Option<LexOrdering> {
    let sort = |i: usize| PhysicalSortExpr {
        expr: Arc::new(Column::new(schema.field(i).name(), i)),
        options: SortOptions {
            descending: false,
            nulls_first: false,
        },
    };
    let mut exprs: Vec<PhysicalSortExpr> = tags.iter().map(|&i| sort(i)).collect();
    exprs.push(sort(schema.index_of(TIME_COLUMN).ok()?));
    LexOrdering::new(exprs)
}

/// The order to declare for a scan of `files`: [`file_ordering`] when every
/// file records the same order, none otherwise (files of the earliest builds
/// record none; files of different orders interleave no sorted way).
fn declared_ordering(
    schema: &SchemaRef,
    series_key: &[usize],
    files: &[Arc<ParquetFile>],
) -> Option<LexOrdering> {
    let first = files.first()?.sort?;
    if files.iter().any(|f| f.sort != Some(first)) {
        return None;
    }
    let tags: Vec<usize> = match first {
        SortOrder::SeriesKeyTime => series_key.to_vec(),
        SortOrder::TagsNullsLastTime => schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.data_type(), DataType::Dictionary(_, _)))
            .map(|(i, _)| i)
            .collect(),
    };
    file_ordering(schema, &tags)
}

/// Scans committed files. The query's filters reach the Parquet reader (for
/// row-group and page pruning) through DataFusion's physical `FilterPushdown`
/// rule, which adds the filter above the scan to the source's predicate;
/// setting the predicate here as well would duplicate every conjunct in it.
fn parquet_exec(
    state: &dyn Session,
    schema: &SchemaRef,
    series_key: &[usize],
    files: Vec<Arc<ParquetFile>>,
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let url = ObjectStoreUrl::parse(OBJECT_STORE_URL)?;
    let runtime = state.runtime_env();
    // Without this factory DataFusion re-reads every footer: only ListingTable
    // installs the metadata cache by itself.
    let readers = CachedParquetFileReaderFactory::new(
        runtime.object_store(&url)?,
        runtime.cache_manager.get_file_metadata_cache(),
    );
    let source = ParquetSource::new(Arc::clone(schema))
        .with_table_parquet_options(TableParquetOptions {
            global: state.config_options().execution.parquet.clone(),
            ..TableParquetOptions::default()
        })
        .with_parquet_file_reader_factory(Arc::new(readers))
        .with_enable_page_index(true);
    let partitions = state.config().target_partitions().max(1);
    let n = if files.len() <= partitions * SORTED_FILES_PER_PARTITION {
        files.len()
    } else {
        partitions
    };
    let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); n];
    for (i, f) in files.iter().enumerate() {
        groups[i % n].push(PartitionedFile::new(f.path.clone(), f.size));
    }
    // DataFusion keeps a declared ordering only for groups it can prove sorted
    // (single-file groups here) and drops it otherwise. Files of earlier builds
    // record no order (they sorted NULL tags first): then nothing is declared.
    let ordering = declared_ordering(schema, series_key, &files);
    let config = FileScanConfigBuilder::new(url, Arc::new(source))
        .with_file_groups(groups.into_iter().map(Into::into).collect())
        .with_output_ordering(ordering.into_iter().collect())
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .build();
    Ok(DataSourceExec::from_data_source(config))
}

/// One table's buffered rows and committed files.
#[derive(Debug, Clone)]
pub struct BufferTable {
    engine: Arc<Engine>,
    db: Arc<DatabaseSchema>,
    table: Arc<TableSchema>,
}

impl BufferTable {
    /// The engine, database and table it reads.
    pub(crate) fn parts(&self) -> (&Arc<Engine>, &DatabaseSchema, &TableSchema) {
        (&self.engine, &self.db, &self.table)
    }
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
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let range = TimeRange::from_filters(filters);
        let snap = self
            .engine
            .buffer()
            .get(self.db.id(), self.table.id())
            .map(|t| t.snapshot(range.min, range.max))
            .unwrap_or_default();
        let predicate = match conjunction(filters.iter().cloned()) {
            Some(expr) => {
                let df_schema = DFSchema::try_from(Arc::clone(&schema))?;
                Some(state.create_physical_expr(expr, &df_schema)?)
            }
            None => None,
        };
        let after_time = snap.files.len();
        let files = prune_files(snap.files, predicate.as_ref(), &schema);
        let info = ScanInfo {
            table: self.table.name().to_owned(),
            files_total: snap.total_files,
            files_pruned_by_time: snap.total_files - after_time,
            files_pruned_by_stats: after_time - files.len(),
            buffer_batches: snap.batches.len(),
            newest_rows: None,
        };
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::with_capacity(3);
        if !snap.batches.is_empty() {
            let partitions = state.config().target_partitions().max(1);
            let mut parts: Vec<Vec<RecordBatch>> =
                vec![Vec::new(); partitions.min(snap.batches.len())];
            let n = parts.len();
            for (i, b) in snap.batches.iter().enumerate() {
                parts[i % n].push(widen(&schema, &b.batch)?);
            }
            inputs.push(MemorySourceConfig::try_new_exec(
                &parts,
                Arc::clone(&schema),
                projection.cloned(),
            )?);
        }
        let mut ordering = None;
        if !files.is_empty() {
            let exec = parquet_exec(
                state,
                &schema,
                self.table.series_key(),
                files,
                projection,
                limit,
            )?;
            ordering = exec.properties().output_ordering().cloned();
            inputs.push(exec);
        }
        scan_plan(
            state,
            project_schema(&schema, projection)?,
            inputs,
            info,
            ordering,
        )
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters prune buffered batches (time bounds), whole files (manifest
        // statistics) and row groups (Parquet statistics); rows inside what is kept
        // still need the filter, so every pushed filter is Inexact.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema, TimeUnit};
    use strata_model::{DbId, TableId};

    fn file(sort: Option<SortOrder>) -> Arc<ParquetFile> {
        Arc::new(ParquetFile {
            path: "f".into(),
            db: DbId(0),
            table: TableId(0),
            min_time: 0,
            max_time: 0,
            rows: 1,
            size: 1,
            columns: Default::default(),
            sort,
            last_rows: None,
        })
    }

    #[test]
    fn declared_order_follows_the_files_sort_order() {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("dc", dict.clone(), true),
            Field::new("host", dict, true),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
            Field::new("v", DataType::Float64, true),
        ]));
        // `host` was created first, so it leads the series key.
        let key = [1, 0];
        let order = |files: &[Arc<ParquetFile>]| {
            declared_ordering(&schema, &key, files).map(|o| o.to_string())
        };
        let keyed = file(Some(SortOrder::SeriesKeyTime));
        let named = file(Some(SortOrder::TagsNullsLastTime));
        assert_eq!(
            order(&[Arc::clone(&keyed), Arc::clone(&keyed)]).as_deref(),
            Some("host@1 ASC NULLS LAST, dc@0 ASC NULLS LAST, time@2 ASC NULLS LAST")
        );
        assert_eq!(
            order(&[Arc::clone(&named)]).as_deref(),
            Some("dc@0 ASC NULLS LAST, host@1 ASC NULLS LAST, time@2 ASC NULLS LAST")
        );
        assert_eq!(order(&[Arc::clone(&keyed), Arc::clone(&named)]), None);
        assert_eq!(order(&[keyed, file(None)]), None);
        assert_eq!(order(&[named, file(None)]), None);
    }
}
