//! Query errors.

use thiserror::Error;

/// Why a query failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The request names a database that does not exist.
    #[error("database {0:?} not found")]
    DatabaseNotFound(String),
    /// The SQL is invalid or refers to unknown tables or columns.
    #[error("{0}")]
    Plan(String),
    /// The statement is not allowed (the query API is read-only).
    #[error("{0}")]
    NotAllowed(String),
    /// Execution failed.
    #[error("query failed: {0}")]
    Execution(String),
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        match e.find_root() {
            D::SQL(..) | D::Plan(..) | D::SchemaError(..) | D::NotImplemented(..) => {
                QueryError::Plan(e.find_root().to_string())
            }
            _ => QueryError::Execution(e.to_string()),
        }
    }
}
