//! Runs SQL for one database.
//!
//! Each query gets its own DataFusion session whose default catalog `public` holds
//! one schema, `iox` (as in InfluxDB 3), resolved from the catalog snapshot taken
//! when the query starts. Only read statements are accepted: DDL, DML and
//! session statements are refused by DataFusion's `SQLOptions`.

use crate::error::QueryError;
use crate::limits::QueryLimits;
use crate::provider::{DatabaseProvider, OBJECT_STORE_URL};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::cache::cache_manager::{CacheManagerConfig, FileMetadataCache};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use std::sync::Arc;
use strata_storage::Engine;

/// Catalog name queries see.
pub const CATALOG_NAME: &str = "public";
/// Schema name queries see.
pub const SCHEMA_NAME: &str = "iox";

/// Executes SQL against the engine.
#[derive(Debug, Clone)]
pub struct QueryExecutor {
    engine: Arc<Engine>,
    target_partitions: usize,
    /// Shared by every query: the engine's object store.
    stores: Arc<DefaultObjectStoreRegistry>,
    /// Parquet footers and page indexes, shared by every query (each query has
    /// its own runtime for its memory pool; the cache must outlive them).
    metadata_cache: Arc<FileMetadataCache>,
    limits: QueryLimits,
}

/// A running query.
pub struct QueryStream {
    /// Result schema.
    pub schema: SchemaRef,
    /// Result batches.
    pub stream: SendableRecordBatchStream,
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl QueryExecutor {
    /// An executor over `engine` with the default limits.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self::with_limits(engine, QueryLimits::default())
    }

    /// An executor over `engine` enforcing `limits` on every query.
    pub fn with_limits(engine: Arc<Engine>, limits: QueryLimits) -> Self {
        let target_partitions = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let stores = Arc::new(DefaultObjectStoreRegistry::new());
        if let Some(store) = engine.object_store()
            && let Ok(url) = ObjectStoreUrl::parse(OBJECT_STORE_URL)
        {
            stores.register_store(url.as_ref(), Arc::clone(store));
        }
        let limit = CacheManagerConfig::default().metadata_cache_limit;
        let metadata_cache: Arc<FileMetadataCache> =
            Arc::new(DefaultCache::new(limit).with_name("StrataParquetMetadata"));
        Self {
            engine,
            target_partitions,
            stores,
            metadata_cache,
            limits,
        }
    }

    fn context(&self, db: &str) -> Result<SessionContext, QueryError> {
        let snapshot = self.engine.catalog().snapshot();
        let schema = snapshot
            .database(db)
            .ok_or_else(|| QueryError::DatabaseNotFound(db.to_owned()))?;
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, SCHEMA_NAME)
            .with_target_partitions(self.target_partitions);
        // A runtime per query: its memory pool is that query's memory limit.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.limits.memory_bytes)))
            .with_object_store_registry(Arc::clone(&self.stores) as Arc<dyn ObjectStoreRegistry>)
            .with_cache_manager(
                CacheManagerConfig::default()
                    .with_file_metadata_cache(Some(Arc::clone(&self.metadata_cache))),
            )
            .build_arc()
            .map_err(QueryError::from)?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        ctx.register_udf(crate::functions::time_bucket());
        let catalog = MemoryCatalogProvider::new();
        catalog
            .register_schema(
                SCHEMA_NAME,
                Arc::new(DatabaseProvider::new(
                    Arc::clone(&self.engine),
                    Arc::clone(schema),
                )),
            )
            .map_err(QueryError::from)?;
        ctx.register_catalog(CATALOG_NAME, Arc::new(catalog));
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
        let ctx = self.context(db)?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = ctx.sql_with_options(sql, options).await.map_err(|e| {
            let msg = e.to_string();
            if msg.contains("not supported")
                && (msg.contains("DDL") || msg.contains("DML") || msg.contains("Statement"))
            {
                QueryError::NotAllowed(format!("{msg} (the query API is read-only)"))
            } else {
                QueryError::from(e)
            }
        })?;
        let df = match params {
            Some(p) => df.with_param_values(p)?,
            None => df,
        };
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let stream = tokio::time::timeout_at(deadline, df.execute_stream())
            .await
            .map_err(|_| {
                QueryError::Execution(format!(
                    "planning took longer than the query time limit of {:?} (--query-timeout)",
                    self.limits.timeout
                ))
            })?
            .map_err(|e| QueryError::from(self.limits.explain(e)))?;
        let stream = self.limits.enforce(Arc::clone(&schema), deadline, stream);
        Ok(QueryStream { schema, stream })
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
