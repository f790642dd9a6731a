//! The persister: moves buffered rows into Parquet files in the object store.
//!
//! Policy (checked every [`PersistConfig::tick`] and whenever a write crosses the
//! row threshold): a table is persisted when its unpersisted rows reach
//! [`PersistConfig::rows`] or its buffered bytes [`PersistConfig::bytes`], when its oldest unpersisted row is older than
//! [`PersistConfig::age`], or, when the whole buffer holds more than
//! [`PersistConfig::buffer_memory_limit`] bytes, in order of oldest then largest
//! until the buffer is back under three quarters of the limit.
//!
//! One job, for one table (durability points in order):
//! 1. take the applied watermark `A` and hand every buffered batch with
//!    `seq <= A` to the persisting chunk (still visible to queries);
//! 2. sort and encode the rows into one file per time partition (CPU, on a
//!    blocking thread);
//! 3. upload every file; retried with backoff until it succeeds (the rows stay in
//!    the WAL and the buffer meanwhile, so a failing store delays, never loses);
//! 4. commit the manifest delta naming the files with `persisted_through = A`:
//!    the commit point, retried the same way;
//! 5. swap the persisting chunk for the files in one critical section;
//! 6. delete WAL segments no buffered row needs any more.
//!
//! A crash before 4 leaves orphan files (deleted at the next start) and the rows
//! in the WAL; a crash after 4 leaves rows in the WAL that replay skips because
//! the manifest covers them.

mod encode;
mod tags;

pub use encode::{EncodedFile, FileCompression, LayoutConfig, TableRef, encode};

use std::time::Duration;
use thiserror::Error;

/// When and how rows are persisted.
#[derive(Debug, Clone, Copy)]
pub struct PersistConfig {
    /// Unpersisted rows of one table that trigger a persist.
    pub rows: u64,
    /// Buffered bytes of one table that trigger a persist.
    pub bytes: u64,
    /// Age of a table's oldest unpersisted row that triggers a persist.
    pub age: Duration,
    /// Buffered bytes above which the oldest and largest tables are persisted.
    pub buffer_memory_limit: u64,
    /// Buffered bytes at which writes are refused with a retryable error.
    pub hard_limit: u64,
    /// File layout.
    pub layout: LayoutConfig,
    /// How often the policy is evaluated.
    pub tick: Duration,
    /// Run the persister (off: rows stay in the WAL and buffer, for benchmarks
    /// that measure ingest alone).
    pub enabled: bool,
}

impl Default for PersistConfig {
    fn default() -> Self {
        let limit = 1 << 30;
        Self {
            rows: 1_000_000,
            bytes: 256 << 20,
            age: Duration::from_secs(60),
            buffer_memory_limit: limit,
            hard_limit: 2 * limit,
            layout: LayoutConfig::default(),
            tick: Duration::from_millis(100),
            enabled: true,
        }
    }
}

/// Persistence failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PersistError {
    /// Arrow failed while sorting or widening (a bug if it happens).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet encoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// Exponential backoff for retried store calls: 100 ms doubling up to 10 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(10))
}
