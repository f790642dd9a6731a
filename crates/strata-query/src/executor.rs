//! Runs SQL for one database.
//!
//! Each query gets its own DataFusion session whose default catalog `public` holds
//! one schema, `iox` (as in InfluxDB 3), resolved from the catalog snapshot taken
//! when the query starts. Only read statements are accepted: DDL, DML and
//! session statements are refused by DataFusion's `SQLOptions`.

use crate::error::QueryError;
use crate::provider::{DatabaseProvider, OBJECT_STORE_URL};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
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
    /// Shared by every query: holds the object-store registration.
    runtime: Arc<RuntimeEnv>,
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
    /// An executor over `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        let target_partitions = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let runtime = Arc::new(RuntimeEnv::default());
        if let Some(store) = engine.object_store()
            && let Ok(url) = ObjectStoreUrl::parse(OBJECT_STORE_URL)
        {
            runtime.register_object_store(url.as_ref(), Arc::clone(store));
        }
        Self {
            engine,
            target_partitions,
            runtime,
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
        let ctx = SessionContext::new_with_config_rt(config, Arc::clone(&self.runtime));
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
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let stream = df.execute_stream().await?;
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
