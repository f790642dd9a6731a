//! Runs SQL for one database.
//!
//! Each query gets its own DataFusion session whose default catalog `public` holds
//! one schema, `iox` (as in InfluxDB 3), resolved from the catalog snapshot taken
//! when the query starts. For APIs whose SQL names databases (Arc's `db.table`),
//! [`QueryExecutor::sql_in_databases`] adds one schema per database the
//! statement names, and no others. Only read statements are accepted: DDL, DML and
//! session statements are refused by DataFusion's `SQLOptions`.

use crate::cache::{
    self, CacheConfig, CacheStats, ChunkCache, ChunkCachingStore, CountingMetadataCache,
};
use crate::error::QueryError;
use crate::limits::QueryLimits;
use crate::point::pages::PageCache;
use crate::point::read::{Caps, Sources};
use crate::point::{PointQuery, Resolved};
use crate::provider::{DatabaseProvider, OBJECT_STORE_URL};
use crate::result::QueryStream;
use crate::runtime::QueryRuntime;
use crate::scan_info::ExplainScans;
use crate::scan_order::KeepDeclaredScanOrder;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::common::{ParamValues, TableReference};
use datafusion::config::SqlParserOptions;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::cache::Cache;
use datafusion::execution::cache::cache_manager::{CacheManagerConfig, FileMetadataCache};
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use object_store::ObjectStore;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_model::{DbId, TableId};
use strata_storage::Engine;
use strata_storage::catalog::DatabaseSchema;

/// Catalog name queries see.
pub const CATALOG_NAME: &str = "public";
/// Schema name queries see.
pub const SCHEMA_NAME: &str = "iox";
/// DataFusion's schema of catalog views (`information_schema.tables`).
const INFORMATION_SCHEMA: &str = "information_schema";

/// Executes SQL against the engine.
#[derive(Debug, Clone)]
pub struct QueryExecutor {
    engine: Arc<Engine>,
    target_partitions: usize,
    /// Shared by every query: the engine's object store.
    stores: Arc<DefaultObjectStoreRegistry>,
    /// Parquet footers and page indexes, shared by every query (each query has
    /// its own runtime for its memory pool; the cache must outlive them).
    metadata_cache: Arc<CountingMetadataCache>,
    /// Recently read byte ranges of Parquet files, behind the registered store.
    chunk_cache: Arc<ChunkCache>,
    /// What point reads read through: the registered store (the engine's,
    /// behind the byte-range cache), the metadata cache, decoded pages.
    point_sources: Sources,
    /// Whether statements of the point shape skip DataFusion ([`crate::point`]).
    point_reads: bool,
    /// Queries answered by a point read.
    point_read_count: Arc<AtomicU64>,
    /// Rows a point read may decode before the query goes to DataFusion.
    point_read_max_rows: usize,
    limits: QueryLimits,
    /// Where plans execute, apart from the server's request handling.
    runtime: Arc<QueryRuntime>,
}

/// Only read statements: DDL, DML and session statements are refused.
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// DataFusion's refusal of a statement [`read_only`] excludes is
/// [`QueryError::NotAllowed`]; other errors keep their kind.
fn refused(e: DataFusionError) -> QueryError {
    let msg = e.to_string();
    if msg.contains("not supported")
        && (msg.contains("DDL") || msg.contains("DML") || msg.contains("Statement"))
    {
        QueryError::NotAllowed(format!("{msg} (the query API is read-only)"))
    } else {
        QueryError::from(e)
    }
}

/// `sql` as one statement, as `SessionState::sql_to_statement` parses it with
/// the parser options every session here has (the defaults): parsed before a
/// session exists, so a point read never builds one.
pub(crate) fn parse_sql(sql: &str) -> Result<DFStatement, QueryError> {
    let options = SqlParserOptions::default();
    let dialect = dialect_from_str(options.dialect)
        .ok_or_else(|| QueryError::Plan(format!("unsupported SQL dialect {}", options.dialect)))?;
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(dialect.as_ref())
        .with_recursion_limit(options.recursion_limit.get())
        .build()?
        .parse_statements()?;
    if statements.len() > 1 {
        return Err(QueryError::Plan(
            "only one SQL statement per query is supported".into(),
        ));
    }
    statements
        .pop_front()
        .ok_or_else(|| QueryError::Plan("no SQL statement was provided in the query".into()))
}

/// The same steps as `SessionContext::sql_with_options`, from a parsed
/// statement; the state is taken afresh, so it sees every schema registered
/// in `ctx` so far.
///
/// An `EXPLAIN` without `ANALYZE` marks the session first, so its table scans
/// show what they read ([`ExplainScans`]); that summary is an extra input
/// beside each scan, absent from the plan that runs. `EXPLAIN ANALYZE` shows
/// and measures the plan that runs, whose Parquet scans report their pruning
/// in their own metrics.
async fn plan(ctx: &SessionContext, statement: DFStatement) -> Result<DataFrame, QueryError> {
    // DataFusion's parser returns every `EXPLAIN` as `DFStatement::Explain`.
    if matches!(&statement, DFStatement::Explain(e) if !e.options.analyze) {
        ctx.state_ref()
            .write()
            .config_mut()
            .set_extension(Arc::new(ExplainScans));
    }
    let plan = ctx
        .state()
        .statement_to_plan(statement)
        .await
        .map_err(refused)?;
    read_only().verify_plan(&plan).map_err(refused)?;
    Ok(ctx.execute_logical_plan(plan).await?)
}

impl QueryExecutor {
    /// An executor over `engine` with the default limits.
    ///
    /// Fails only if the query runtime's threads cannot be started.
    pub fn new(engine: Arc<Engine>) -> std::io::Result<Self> {
        Self::with_limits(engine, QueryLimits::default())
    }

    /// An executor over `engine` enforcing `limits` on every query.
    pub fn with_limits(engine: Arc<Engine>, limits: QueryLimits) -> std::io::Result<Self> {
        Self::with_config(engine, limits, CacheConfig::default())
    }

    /// An executor over `engine` enforcing `limits`, with cache budgets `caches`.
    pub fn with_config(
        engine: Arc<Engine>,
        limits: QueryLimits,
        caches: CacheConfig,
    ) -> std::io::Result<Self> {
        let target_partitions = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let stores = Arc::new(DefaultObjectStoreRegistry::new());
        let chunk_cache = Arc::new(ChunkCache::new(caches.chunk_bytes));
        let mut store = None;
        if let Some(engine_store) = engine.object_store()
            && let Ok(url) = ObjectStoreUrl::parse(OBJECT_STORE_URL)
        {
            let cached: Arc<dyn ObjectStore> = Arc::new(ChunkCachingStore::new(
                Arc::clone(engine_store),
                Arc::clone(&chunk_cache),
            ));
            stores.register_store(url.as_ref(), Arc::clone(&cached));
            store = Some(cached);
        }
        let metadata_cache = Arc::new(CountingMetadataCache::new(caches.metadata_bytes));
        let point_sources = Sources {
            store,
            metadata: Arc::clone(&metadata_cache) as Arc<FileMetadataCache>,
            pages: Arc::new(PageCache::new(caches.page_bytes)),
        };
        Ok(Self {
            runtime: Arc::new(QueryRuntime::new(target_partitions)?),
            engine,
            target_partitions,
            stores,
            metadata_cache,
            chunk_cache,
            point_sources,
            point_reads: caches.point_reads,
            point_read_count: Arc::new(AtomicU64::new(0)),
            point_read_max_rows: crate::point::read::MAX_POINT_ROWS,
            limits,
        })
    }

    /// Caps the rows a point read may decode (tests of the fallback).
    #[cfg(test)]
    pub(crate) fn set_point_read_max_rows(&mut self, rows: usize) {
        self.point_read_max_rows = rows;
    }

    /// Hit and miss counters and sizes of the query caches.
    pub fn cache_stats(&self) -> CacheStats {
        cache::stats(
            &self.metadata_cache,
            &self.chunk_cache,
            self.point_sources.pages.stats(),
            self.point_read_count.load(Ordering::Relaxed),
        )
    }

    /// A session whose catalog `public` has no schema yet (the caller registers
    /// the databases the query may read).
    fn session(&self) -> Result<(SessionContext, Arc<MemoryCatalogProvider>), QueryError> {
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, SCHEMA_NAME)
            .with_target_partitions(self.target_partitions);
        // Filters are not pushed into the Parquet decoder (DataFusion's
        // default): the scan still uses them to prune row groups and pages
        // (files are pruned before, from the manifest), and a `FilterExec`
        // above it evaluates them. Late materialisation was measured slower on
        // the TSBS suite (100M rows): a filter that keeps scattered rows
        // (`usage_user > 90`) makes the decoder read every page anyway and
        // walk its selection once per column; high-cpu-all's scan took twice
        // the CPU, and no query type got clearly faster (docs/BENCHMARKS.md,
        // "Filter pushdown off").
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.pushdown_filters = false;
        // Strata writes no bloom filters; looking for them in every row group
        // costs a point query time for nothing.
        parquet.bloom_filter_on_read = false;
        // A runtime per query: its memory pool is that query's memory limit.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.limits.memory_bytes)))
            .with_object_store_registry(Arc::clone(&self.stores) as Arc<dyn ObjectStoreRegistry>)
            .with_cache_manager(
                CacheManagerConfig::default()
                    .with_file_metadata_cache(Some(
                        Arc::clone(&self.metadata_cache) as Arc<FileMetadataCache>
                    ))
                    // The cache manager applies this limit to the cache it is given.
                    .with_metadata_cache_limit(self.metadata_cache.cache_limit()),
            )
            .build_arc()
            .map_err(QueryError::from)?;
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(KeepDeclaredScanOrder))
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(crate::functions::time_bucket());
        ctx.add_optimizer_rule(Arc::new(crate::last_rows::LastRowsRule));
        let catalog = Arc::new(MemoryCatalogProvider::new());
        ctx.register_catalog(
            CATALOG_NAME,
            Arc::clone(&catalog) as Arc<dyn CatalogProvider>,
        );
        Ok((ctx, catalog))
    }

    /// Makes database `db` visible as schema `name` of `catalog`.
    fn register(
        &self,
        catalog: &MemoryCatalogProvider,
        name: &str,
        db: &Arc<DatabaseSchema>,
    ) -> Result<(), QueryError> {
        let provider = DatabaseProvider::new(Arc::clone(&self.engine), Arc::clone(db));
        catalog
            .register_schema(name, Arc::new(provider))
            .map_err(QueryError::from)?;
        Ok(())
    }

    pub(crate) fn context(&self, db: &str) -> Result<SessionContext, QueryError> {
        let snapshot = self.engine.catalog().snapshot();
        let schema = snapshot
            .database(db)
            .ok_or_else(|| QueryError::DatabaseNotFound(db.to_owned()))?;
        let (ctx, catalog) = self.session()?;
        self.register(&catalog, SCHEMA_NAME, schema)?;
        Ok(ctx)
    }

    /// Plans and starts `sql` against database `db`.
    pub async fn sql(&self, db: &str, sql: &str) -> Result<QueryStream, QueryError> {
        self.sql_with_params(db, sql, None).await
    }

    /// Plans and starts `sql` against database `db`, binding `params` to its
    /// placeholders (`$name` or `$1`) as values, never as SQL text.
    pub async fn sql_with_params(
        &self,
        db: &str,
        sql: &str,
        params: Option<ParamValues>,
    ) -> Result<QueryStream, QueryError> {
        let deadline = tokio::time::Instant::now() + self.limits.timeout;
        let statement = parse_sql(sql)?;
        if params.is_none()
            && let Some(answer) = self.point_read(db, &statement, deadline).await?
        {
            return Ok(answer);
        }
        let point_read_plan = params
            .is_none()
            .then(|| self.explained_point_read(db, &statement))
            .flatten();
        let ctx = self.context(db)?;
        let df = plan(&ctx, statement).await?;
        let df = match params {
            Some(p) => df.with_param_values(p)?,
            None => df,
        };
        let answer = self.start(df, deadline).await?;
        Ok(crate::point::explain::prepend(answer, point_read_plan))
    }

    /// For `EXPLAIN` (without `ANALYZE`, which runs DataFusion's plan) of a
    /// statement a point read would answer: the point read's line of the
    /// answer.
    fn explained_point_read(&self, db: &str, statement: &DFStatement) -> Option<String> {
        let DFStatement::Explain(explain) = statement else {
            return None;
        };
        if !self.point_reads {
            return None;
        }
        if explain.options.analyze {
            return None;
        }
        // Without a store a point read falls back as soon as files exist.
        self.point_sources.store.as_ref()?;
        let q = PointQuery::recognise(&explain.statement)?;
        self.resolve_point(db, &q)?;
        Some(crate::point::explain::describe(&q, self.point_caps()))
    }

    /// `q` against table `q.table` of `db`, with the table's ids; `None` when
    /// either is missing or the point read does not handle what `q` names.
    fn resolve_point(&self, db: &str, q: &PointQuery) -> Option<(DbId, TableId, Resolved)> {
        let snapshot = self.engine.catalog().snapshot();
        let database = snapshot.database(db)?;
        let table = database.table(&q.table)?;
        let resolved = Resolved::new(q, table.arrow_schema())?;
        Some((database.id(), table.id(), resolved))
    }

    /// What a point read may hold before it leaves the query to DataFusion.
    fn point_caps(&self) -> Caps {
        Caps {
            rows: self.point_read_max_rows,
            bytes: self.limits.memory_bytes,
        }
    }

    /// Plans and starts `sql` for an API whose SQL names its databases, as
    /// Arc's does (`SELECT * FROM mydb.cpu`): a two-part name `X.t` reads
    /// table `t` of database `X`, and a bare name (or `iox.t`) reads
    /// `default_db`.
    ///
    /// Each database the statement names becomes a schema of that name beside
    /// `iox` (which holds `default_db`); no other database is visible, so a
    /// query reads only the databases it names. A named database that does not
    /// exist is [`QueryError::DatabaseNotFound`]; so is a missing `default_db`
    /// when a bare table name needs it (table functions such as
    /// `generate_series` do not). A point query (which names one bare table)
    /// is tried as a point read of `default_db`, as in
    /// [`sql_with_params`](Self::sql_with_params).
    pub async fn sql_in_databases(
        &self,
        default_db: &str,
        sql: &str,
    ) -> Result<QueryStream, QueryError> {
        let deadline = tokio::time::Instant::now() + self.limits.timeout;
        let statement = parse_sql(sql)?;
        // A point query names one bare table, which is `default_db`'s.
        if let Some(answer) = self.point_read(default_db, &statement, deadline).await? {
            return Ok(answer);
        }
        let point_read_plan = self.explained_point_read(default_db, &statement);
        let (ctx, catalog) = self.session()?;
        let state = ctx.state();
        let mut needs_default = false;
        let mut named = BTreeSet::new();
        for r in state.resolve_table_references(&statement)? {
            let schema = match &r {
                TableReference::Bare { table } => {
                    needs_default |= !state.table_functions().contains_key(table.as_ref());
                    continue;
                }
                TableReference::Partial { schema, .. } => schema,
                TableReference::Full {
                    catalog, schema, ..
                } if catalog.as_ref() == CATALOG_NAME => schema,
                // Another catalog: planning reports it.
                TableReference::Full { .. } => continue,
            };
            match schema.as_ref() {
                SCHEMA_NAME => needs_default = true,
                INFORMATION_SCHEMA => {}
                db => {
                    named.insert(db.to_owned());
                }
            }
        }
        let snapshot = self.engine.catalog().snapshot();
        match snapshot.database(default_db) {
            Some(db) => self.register(&catalog, SCHEMA_NAME, db)?,
            None if needs_default => {
                return Err(QueryError::DatabaseNotFound(default_db.to_owned()));
            }
            None => {}
        }
        for name in named {
            // SQL folds unquoted names to lower case: `MyDb.cpu` arrives as
            // `mydb`. A unique case-insensitive match is the database meant.
            let db = match snapshot.database(&name) {
                Some(db) => db,
                None => {
                    let mut matches = snapshot
                        .databases()
                        .filter(|d| d.name().eq_ignore_ascii_case(&name));
                    match (matches.next(), matches.next()) {
                        (Some(db), None) => db,
                        _ => return Err(QueryError::DatabaseNotFound(name.clone())),
                    }
                }
            };
            self.register(&catalog, &name, db)?;
        }
        let df = plan(&ctx, statement).await?;
        let answer = self.start(df, deadline).await?;
        Ok(crate::point::explain::prepend(answer, point_read_plan))
    }

    /// Answers `q` by a point read, or `None` when it is not one after all
    /// (see [`crate::point`]).
    async fn point_read(
        &self,
        db: &str,
        statement: &DFStatement,
        deadline: tokio::time::Instant,
    ) -> Result<Option<QueryStream>, QueryError> {
        if !self.point_reads {
            return Ok(None);
        }
        let Some(q) = PointQuery::recognise(statement) else {
            return Ok(None);
        };
        let Some((db_id, table_id, resolved)) = self.resolve_point(db, &q) else {
            return Ok(None);
        };
        let ids = (db_id, table_id);
        let engine = Arc::clone(&self.engine);
        let sources = self.point_sources.clone();
        let (order_desc, limit) = (q.order_desc, q.limit);
        let caps = self.point_caps();
        let work = async move {
            let Some(batches) =
                crate::point::read::read(&engine, &sources, ids, &resolved, caps).await?
            else {
                return Ok(None);
            };
            let batches =
                crate::point::read::order_and_limit(&resolved, batches, order_desc, limit)?;
            Ok::<_, QueryError>(Some((Arc::clone(&resolved.output), batches)))
        };
        let answer = tokio::time::timeout_at(deadline, self.runtime.run(work))
            .await
            .map_err(|_| QueryError::from(self.limits.timed_out()))?
            .map_err(QueryError::from)??;
        let Some((schema, batches)) = answer else {
            return Ok(None);
        };
        self.point_read_count.fetch_add(1, Ordering::Relaxed);
        let stream: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            futures::stream::iter(batches.into_iter().map(Ok)),
        ));
        let stream = self.limits.enforce(Arc::clone(&schema), deadline, stream);
        Ok(Some(QueryStream {
            schema,
            stream,
            runtime: Arc::clone(&self.runtime),
        }))
    }

    /// Starts executing `df`, under the limits.
    async fn start(
        &self,
        df: DataFrame,
        deadline: tokio::time::Instant,
    ) -> Result<QueryStream, QueryError> {
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let stream = tokio::time::timeout_at(deadline, self.runtime.execute(df))
            .await
            .map_err(|_| {
                QueryError::Execution(format!(
                    "planning took longer than the query time limit of {:?} (--query-timeout)",
                    self.limits.timeout
                ))
            })?
            .map_err(|e| QueryError::from(self.limits.explain(e)))?;
        let stream = self.limits.enforce(Arc::clone(&schema), deadline, stream);
        Ok(QueryStream {
            schema,
            stream,
            runtime: Arc::clone(&self.runtime),
        })
    }

    /// Runs `sql` to completion (tests, small results).
    pub async fn collect(
        &self,
        db: &str,
        sql: &str,
    ) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, QueryError> {
        use futures::TryStreamExt;
        let q = self.sql(db, sql).await?;
        Ok(q.stream.try_collect().await?)
    }
}
