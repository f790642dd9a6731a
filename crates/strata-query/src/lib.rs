//! Strata's SQL layer on Apache DataFusion: table providers over the storage
//! engine, the read-only query executor, query parameters and result encoders.
//!
//! This crate is the only one that imports DataFusion.

pub mod cache;
mod error;
mod executor;
pub mod format;
mod functions;
mod last_rows;
mod limits;
mod params;
mod point;
mod provider;
mod pruning;
mod result;
mod runtime;
mod scan_info;
mod scan_order;
mod time_range;

pub use cache::{CacheConfig, CacheStats};
pub use error::QueryError;
pub use executor::{CATALOG_NAME, QueryExecutor, SCHEMA_NAME};
pub use limits::QueryLimits;
pub use params::{ParamsError, QueryParams};
pub use provider::{BufferTable, DatabaseProvider};
pub use result::{QueryStream, ResultError};
pub use time_range::TimeRange;

#[cfg(test)]
mod tests;
