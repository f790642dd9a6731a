//! The engine facade: the one entry point the API layer writes to and the query
//! layer reads from. It wires validation (catalog), series assignment and the
//! write buffer together.
//!
//! Write path, in order: validate against the catalog (creating what is new, the
//! catalog persisted first); then per table, off any lock, assign series ids and
//! wrap the columns as Arrow arrays; then append under the table's mutex. A write
//! is visible to queries as soon as `write` returns.
//!
//! Durability: this version keeps rows in memory only; the catalog is persisted.
//! The WAL (next milestone) slots in between validation and append.

use crate::buffer::{BufferedBatch, TableBuffer, WriteBuffer, to_record_batch};
use crate::catalog::{Catalog, CatalogError, CatalogLimits, CatalogSnapshot, RowError};
use crate::series::TagInput;
use std::path::PathBuf;
use std::sync::Arc;
use strata_model::{ColumnData, ColumnId, WriteBatch};
use thiserror::Error;

/// Engine failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The data directory could not be prepared.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A catalog problem (bad database name, limit, persistence failure).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Internal conversion failure; a bug if it ever happens.
    #[error("internal error converting rows of table {table:?}: {source}")]
    Convert {
        /// Table concerned.
        table: String,
        /// Arrow's error.
        source: arrow::error::ArrowError,
    },
}

/// What [`Engine::open`] needs.
#[derive(Debug, Clone)]
pub struct EngineArgs {
    /// Root of everything Strata stores.
    pub data_dir: PathBuf,
    /// Catalog limits.
    pub catalog_limits: CatalogLimits,
}

/// The result of a write.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    /// Rows now in the database.
    pub rows: u64,
    /// Rows the catalog refused, sorted by line.
    pub errors: Vec<RowError>,
}

/// Options of one write.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Write valid rows even if others are rejected.
    pub accept_partial: bool,
}

/// The storage engine.
#[derive(Debug)]
pub struct Engine {
    catalog: Catalog,
    buffer: WriteBuffer,
    data_dir: PathBuf,
}

impl Engine {
    /// Opens the engine on `args.data_dir`, creating it if needed.
    pub fn open(args: EngineArgs) -> Result<Self, EngineError> {
        let dir = &args.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| EngineError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let catalog = Catalog::open(dir, args.catalog_limits)?;
        Ok(Self {
            catalog,
            buffer: WriteBuffer::default(),
            data_dir: args.data_dir,
        })
    }

    /// An engine that keeps everything in memory (tests, benches).
    pub fn in_memory(limits: CatalogLimits) -> Self {
        Self {
            catalog: Catalog::in_memory(limits),
            buffer: WriteBuffer::default(),
            data_dir: PathBuf::new(),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The write buffer.
    pub fn buffer(&self) -> &WriteBuffer {
        &self.buffer
    }

    /// Validates and appends a parsed batch to database `db`.
    ///
    /// With `accept_partial == false`, a batch with any rejected row writes nothing
    /// and returns the rejections with `rows == 0`.
    pub fn write(
        &self,
        db: &str,
        mut batch: WriteBatch,
        opts: WriteOptions,
    ) -> Result<WriteOutcome, EngineError> {
        if batch.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let validated = self.catalog.validate(db, &mut batch, opts.accept_partial)?;
        let errors = validated.errors;
        if !errors.is_empty() && !opts.accept_partial {
            return Ok(WriteOutcome { rows: 0, errors });
        }
        let mut rows = 0;
        for table in batch.into_tables() {
            rows += self.append_table(&validated.snapshot, db, table)?;
        }
        Ok(WriteOutcome { rows, errors })
    }

    fn append_table(
        &self,
        snapshot: &CatalogSnapshot,
        db: &str,
        table: strata_model::TableBatch,
    ) -> Result<u64, EngineError> {
        if table.rows() == 0 {
            return Ok(0);
        }
        // Validation put the database, table and every column in this snapshot.
        let Some(db_schema) = snapshot.database(db) else {
            return Ok(0);
        };
        let Some(schema) = db_schema.table(table.name()) else {
            return Ok(0);
        };
        let buffer: Arc<TableBuffer> = self.buffer.table(db_schema.id(), schema.id());
        let mut tags: Vec<TagInput<'_>> = table
            .columns()
            .iter()
            .filter_map(|c| match c.data() {
                ColumnData::Tag(values) => Some(TagInput {
                    id: schema.column(c.name()).map_or(ColumnId(u32::MAX), |s| s.id),
                    values,
                    validity: c.validity(),
                }),
                _ => None,
            })
            .collect();
        tags.sort_by_key(|t| t.id);
        let series = buffer.series.assign(&tags, table.rows());
        let name = table.name().to_owned();
        let (batch, min_time, max_time) =
            to_record_batch(table).map_err(|source| EngineError::Convert {
                table: name,
                source,
            })?;
        let (rows, bytes) = buffer.append(BufferedBatch {
            batch,
            series: series.into(),
            min_time,
            max_time,
        });
        self.buffer.account(db_schema.id(), rows, bytes);
        Ok(rows)
    }

    /// Catalog snapshot plus, per database, buffered rows and bytes.
    pub fn database_stats(&self) -> Vec<(String, u64, u64)> {
        let snap: Arc<CatalogSnapshot> = self.catalog.snapshot();
        let mut out: Vec<(String, u64, u64)> = snap
            .databases()
            .map(|db| {
                let c = self.buffer.database_counters(db.id());
                (
                    db.name().to_owned(),
                    c.as_ref().map_or(0, |c| c.rows()),
                    c.as_ref().map_or(0, |c| c.bytes()),
                )
            })
            .collect();
        out.sort();
        out
    }
}
