//! The catalog: databases, tables and their columns, with ids.
//!
//! Readers take a lock-free snapshot ([`Catalog::snapshot`]). Writers that need a
//! new database, table or column serialise on one mutex, build the next snapshot,
//! persist it (see [`persist`]) and only then publish it, so a schema that a write
//! relied on is on disk before the write is acknowledged.
//!
//! Invariant (append-only): a column, once in the catalog, keeps its id, name and
//! kind forever. A batch validated against any snapshot therefore stays valid
//! against every later one, which is what lets the write path validate without a
//! lock when nothing new is needed.

mod persist;
mod schema;
mod validate;

pub use schema::{
    CatalogSnapshot, ColumnSchema, DatabaseSchema, TableSchema, arrow_field, field_data_type,
    tag_data_type, time_data_type,
};
pub use validate::{RowError, Validated};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Configurable catalog limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogLimits {
    /// Databases per instance.
    pub max_databases: usize,
    /// Tables per database.
    pub max_tables_per_db: usize,
    /// Columns per table, counting `time`.
    pub max_columns_per_table: usize,
}

impl Default for CatalogLimits {
    fn default() -> Self {
        Self {
            max_databases: 100,
            max_tables_per_db: 2_000,
            max_columns_per_table: 500,
        }
    }
}

/// Catalog failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The catalog file could not be read or written.
    #[error("catalog file {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The catalog file is not valid.
    #[error("catalog file {path} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The write names a database that cannot be created.
    #[error("{0}")]
    Database(String),
}

/// The catalog of one Strata instance.
#[derive(Debug)]
pub struct Catalog {
    current: ArcSwap<CatalogSnapshot>,
    write: Mutex<()>,
    path: Option<PathBuf>,
    limits: CatalogLimits,
}

impl Catalog {
    /// A catalog kept only in memory (tests).
    pub fn in_memory(limits: CatalogLimits) -> Self {
        Self {
            current: ArcSwap::from_pointee(CatalogSnapshot::default()),
            write: Mutex::new(()),
            path: None,
            limits,
        }
    }

    /// Opens (or creates) the catalog stored in `dir/catalog.json`.
    pub fn open(dir: &Path, limits: CatalogLimits) -> Result<Self, CatalogError> {
        let path = dir.join(persist::FILE_NAME);
        let snapshot = persist::load(&path)?.unwrap_or_default();
        Ok(Self {
            current: ArcSwap::from_pointee(snapshot),
            write: Mutex::new(()),
            path: Some(path),
            limits,
        })
    }

    /// The current catalog.
    pub fn snapshot(&self) -> Arc<CatalogSnapshot> {
        self.current.load_full()
    }

    /// The limits in force.
    pub fn limits(&self) -> CatalogLimits {
        self.limits
    }

    /// Applies `change` to a copy of the current snapshot under the writer lock;
    /// if it returns a changed snapshot, persists and publishes it.
    fn update<T>(
        &self,
        change: impl FnOnce(&CatalogSnapshot) -> (Option<CatalogSnapshot>, T),
    ) -> Result<(Arc<CatalogSnapshot>, T), CatalogError> {
        let _guard = self.write.lock();
        let current = self.current.load_full();
        let (next, out) = change(&current);
        let Some(mut next) = next else {
            return Ok((current, out));
        };
        next.version = current.version + 1;
        if let Some(path) = &self.path {
            // Durability point: the new schema is on disk before anyone can use it.
            persist::store(path, &next)?;
        }
        let next = Arc::new(next);
        self.current.store(Arc::clone(&next));
        Ok((next, out))
    }
}
