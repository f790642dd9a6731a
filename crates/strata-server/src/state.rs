//! Shared state of the HTTP layer.

use crate::metrics::Metrics;
use std::sync::Arc;
use strata_query::QueryExecutor;
use strata_storage::Engine;

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest accepted request body after decompression, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Longest accepted line-protocol line, in bytes.
    pub max_line_len: usize,
    /// Longest accepted tag value, in bytes.
    pub max_tag_value_len: usize,
    /// Most rejected lines listed in an error response (the count is always exact).
    pub max_error_lines: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 << 20,
            max_line_len: strata_ingest::DEFAULT_MAX_LINE_LEN,
            max_tag_value_len: strata_ingest::DEFAULT_MAX_TAG_VALUE_LEN,
            max_error_lines: 100,
        }
    }
}

/// What the server needs.
#[derive(Debug, Clone)]
pub struct ServerArgs {
    /// The storage engine.
    pub engine: Arc<Engine>,
    /// Request limits.
    pub limits: HttpLimits,
    /// Per-query limits.
    pub query_limits: strata_query::QueryLimits,
    /// Budgets of the caches shared by all queries.
    pub query_caches: strata_query::CacheConfig,
}

#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) engine: Arc<Engine>,
    pub(crate) query: QueryExecutor,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limits: HttpLimits,
    pub(crate) started: std::time::Instant,
}

impl AppState {
    /// Fails only if the query runtime's threads cannot be started.
    pub(crate) fn new(args: ServerArgs) -> std::io::Result<Self> {
        Ok(Self {
            query: QueryExecutor::with_config(
                Arc::clone(&args.engine),
                args.query_limits,
                args.query_caches,
            )?,
            engine: args.engine,
            metrics: Arc::new(Metrics::default()),
            limits: args.limits,
            started: std::time::Instant::now(),
        })
    }
}
