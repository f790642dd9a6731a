//! The engine facade: the one entry point the API layer writes to and the query
//! layer reads from. It wires validation (catalog), the WAL, series assignment,
//! the write buffer and the persister together.
//!
//! Write path, in order (the durability contract, also in `docs/DURABILITY.md`):
//! 1. validate against the catalog, creating what is new; a catalog change is
//!    fsynced to `catalog.json` before anything refers to it;
//! 2. encode the validated batch as one WAL record and append it; the group
//!    commit writer acknowledges it per `--wal-sync` (after `fdatasync` by
//!    default);
//! 3. append the rows to the write buffer (visible to queries from here);
//! 4. answer the client.
//!
//! Steps 2-3 run in a spawned task so a client that disconnects cannot leave a
//! durable record out of the buffer. A write fails with nothing acknowledged if
//! step 2 fails; its record may still be on disk (written, sync failed) and then
//! comes back at replay, which is allowed: it was never acknowledged.

mod persister;
mod recover;

use crate::buffer::{BufferedBatch, TableBuffer, WriteBuffer, to_record_batch};
use crate::catalog::{Catalog, CatalogError, CatalogLimits, CatalogSnapshot, RowError};
use crate::last_rows::{LastRowsError, LastRowsIndex};
use crate::manifest::{Manifest, ManifestError, ParquetFile};
use crate::persist::PersistConfig;
use crate::sequencer::Sequencer;
use crate::series::TagInput;
use crate::wal_record;
use object_store::ObjectStore;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;
use strata_model::{ColumnData, ColumnId, DbId, TableId, WriteBatch};
use strata_wal::{SyncMode, Wal, WalError};
use thiserror::Error;

pub use persister::PersistStats;
pub use recover::RecoveryStats;

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
    /// The WAL refused or failed the write: nothing was acknowledged.
    #[error("write-ahead log: {0}; the write was not acknowledged, retry it")]
    Wal(#[from] WalError),
    /// Opening the WAL failed.
    #[error("opening the write-ahead log: {0}")]
    WalOpen(String),
    /// The manifest could not be loaded.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Too much unpersisted data: the write is refused and can be retried.
    #[error(
        "write buffer full: {buffered} bytes are not yet persisted (hard limit {limit}); persistence is behind{cause}. Retry shortly"
    )]
    Backpressure {
        /// Bytes buffered.
        buffered: u64,
        /// The hard limit.
        limit: u64,
        /// Why, if known (the last persistence error).
        cause: String,
    },
    /// Another process (or engine) has the data directory open.
    #[error(
        "data directory {0} is in use by another Strata process; stop it or choose another --data-dir"
    )]
    Locked(PathBuf),
    /// A background task failed unexpectedly.
    #[error("internal error: {0}")]
    Internal(String),
}

/// WAL settings.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// When appends are acknowledged.
    pub sync: SyncMode,
    /// Skip corrupt records before the tail instead of refusing to start (lossy).
    pub skip_corrupt: bool,
    /// Segment size.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            sync: SyncMode::Always,
            skip_corrupt: false,
            segment_bytes: 64 << 20,
        }
    }
}

/// What [`Engine::open`] needs.
#[derive(Debug, Clone)]
pub struct EngineArgs {
    /// Root of everything Strata stores locally (catalog, WAL).
    pub data_dir: PathBuf,
    /// Catalog limits.
    pub catalog_limits: CatalogLimits,
    /// WAL settings.
    pub wal: WalOptions,
    /// Where Parquet files and the manifest go.
    pub store: Arc<dyn ObjectStore>,
    /// Persistence policy.
    pub persist: PersistConfig,
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
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Write valid rows even if others are rejected.
    pub accept_partial: bool,
    /// Acknowledge once the record is written to the OS, before its sync.
    pub no_sync: bool,
}

/// WAL, manifest and persister state of an engine opened on disk.
#[derive(Debug)]
pub(crate) struct Durable {
    pub(crate) wal: Wal,
    pub(crate) manifest: Manifest,
    pub(crate) sequencer: Sequencer,
    pub(crate) config: PersistConfig,
    pub(crate) wake: Arc<tokio::sync::Notify>,
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(crate) stats: PersistStats,
    pub(crate) last_error: Mutex<Option<String>>,
}

/// The storage engine.
#[derive(Debug)]
pub struct Engine {
    catalog: Catalog,
    buffer: WriteBuffer,
    last_rows: LastRowsIndex,
    data_dir: PathBuf,
    durable: Option<Durable>,
    recovery: RecoveryStats,
    sync_mode: Option<SyncMode>,
    /// Held for the engine's life (see `recover.rs`).
    _lock: Option<std::fs::File>,
}

impl Engine {
    /// An engine that keeps rows in memory only (tests, benches): no WAL, no
    /// persistence.
    pub fn in_memory(limits: CatalogLimits) -> Arc<Self> {
        Arc::new(Self {
            catalog: Catalog::in_memory(limits),
            buffer: WriteBuffer::default(),
            last_rows: LastRowsIndex::default(),
            data_dir: PathBuf::new(),
            durable: None,
            recovery: RecoveryStats::default(),
            sync_mode: None,
            _lock: None,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The write buffer (and each table's committed files).
    pub fn buffer(&self) -> &WriteBuffer {
        &self.buffer
    }

    /// The object store holding data files, if the engine persists.
    pub fn object_store(&self) -> Option<&Arc<dyn ObjectStore>> {
        self.durable.as_ref().map(|d| d.manifest.store())
    }

    /// The newest row of each series in `files` (a table's committed files,
    /// all of them), in `schema`: see [`crate::last_rows`]. `None` when a file
    /// predates last-rows sidecars. Buffered rows are not included.
    pub async fn last_rows(
        &self,
        db: DbId,
        table: TableId,
        schema: &arrow::datatypes::SchemaRef,
        files: &[Arc<ParquetFile>],
    ) -> Result<Option<arrow::array::RecordBatch>, LastRowsError> {
        match self.object_store() {
            Some(store) => self.last_rows.get(store, db, table, schema, files).await,
            None if files.is_empty() => Ok(Some(arrow::array::RecordBatch::new_empty(Arc::clone(
                schema,
            )))),
            None => Ok(None),
        }
    }

    /// Builds the last-rows index of every table from the sidecars, so the
    /// first "latest row per series" query does not pay for reading them.
    /// Failures are logged: a query then reads the sidecars itself.
    pub async fn warm_last_rows(&self) {
        let snapshot = self.catalog.snapshot();
        let started = std::time::Instant::now();
        let (mut rows, mut files_read) = (0, 0);
        for db in snapshot.databases() {
            for t in db.tables() {
                let Some(buf) = self.buffer.get(db.id(), t.id()) else {
                    continue;
                };
                let files = buf.snapshot(i64::MIN, i64::MAX).files;
                files_read += files.len();
                match self
                    .last_rows(db.id(), t.id(), t.arrow_schema(), &files)
                    .await
                {
                    Ok(b) => rows += b.map_or(0, |b| b.num_rows()),
                    Err(e) => tracing::warn!(
                        "last-rows index of {}.{}: {e}; queries will read it on demand",
                        db.name(),
                        t.name()
                    ),
                }
            }
        }
        if files_read > 0 {
            tracing::info!(
                "last-rows index: {rows} series rows of {files_read} files loaded in {:.3} s",
                started.elapsed().as_secs_f64()
            );
        }
    }

    /// What startup recovery did.
    pub fn recovery(&self) -> &RecoveryStats {
        &self.recovery
    }

    /// The WAL durability mode (`None` for an in-memory engine).
    pub fn sync_mode(&self) -> Option<&SyncMode> {
        self.sync_mode.as_ref()
    }

    /// Persistence counters (`None` for an in-memory engine).
    pub fn persist_stats(&self) -> Option<&PersistStats> {
        self.durable.as_ref().map(|d| &d.stats)
    }

    /// WAL counters (`None` for an in-memory engine).
    pub fn wal_stats(&self) -> Option<strata_wal::WalStats> {
        self.durable.as_ref().map(|d| d.wal.stats())
    }

    /// Validates `batch`, logs it durably and appends it to database `db`.
    ///
    /// With `accept_partial == false`, a batch with any rejected row writes nothing
    /// and returns the rejections with `rows == 0`.
    pub async fn write(
        self: &Arc<Self>,
        db: &str,
        mut batch: WriteBatch,
        opts: WriteOptions,
    ) -> Result<WriteOutcome, EngineError> {
        if batch.is_empty() {
            return Ok(WriteOutcome::default());
        }
        self.check_backpressure()?;
        let validated = self.catalog.validate(db, &mut batch, opts.accept_partial)?;
        let errors = validated.errors;
        if !errors.is_empty() && !opts.accept_partial {
            return Ok(WriteOutcome { rows: 0, errors });
        }
        if batch.is_empty() {
            return Ok(WriteOutcome { rows: 0, errors });
        }
        let snapshot = validated.snapshot;
        let Some(d) = &self.durable else {
            let rows = self.apply(&snapshot, db, batch, 0, 0)?;
            return Ok(WriteOutcome { rows, errors });
        };
        let mut payload = Vec::new();
        wal_record::encode(db, &batch, &mut payload);
        let appended = d.wal.append(payload, opts.no_sync);
        let engine = Arc::clone(self);
        let db = db.to_owned();
        let task = tokio::spawn(async move {
            let seq = appended.seq;
            let result = match appended.wait().await {
                Ok(w) => {
                    let r = engine.apply(&snapshot, &db, batch, w.seq, w.segment);
                    // The rows are in the buffer now, whose bookkeeping keeps the
                    // segment alive until they are persisted.
                    drop(w.pin);
                    r
                }
                Err(e) => Err(EngineError::Wal(e)),
            };
            if let Some(d) = &engine.durable {
                d.sequencer.complete(seq);
            }
            result
        });
        let rows = task
            .await
            .map_err(|e| EngineError::Internal(format!("write task failed: {e}")))??;
        Ok(WriteOutcome { rows, errors })
    }

    fn check_backpressure(&self) -> Result<(), EngineError> {
        let Some(d) = &self.durable else {
            return Ok(());
        };
        let buffered = self.buffer.total().bytes();
        if buffered < d.config.hard_limit {
            return Ok(());
        }
        d.wake.notify_one();
        let cause = d
            .last_error
            .lock()
            .as_ref()
            .map(|e| format!(" (last persistence error: {e})"))
            .unwrap_or_default();
        Err(EngineError::Backpressure {
            buffered,
            limit: d.config.hard_limit,
            cause,
        })
    }

    /// Appends a validated batch that the WAL holds at `seq` in `segment`.
    fn apply(
        &self,
        snapshot: &CatalogSnapshot,
        db: &str,
        batch: WriteBatch,
        seq: u64,
        segment: u64,
    ) -> Result<u64, EngineError> {
        let mut rows = 0;
        for table in batch.into_tables() {
            rows += self.append_table(snapshot, db, table, seq, segment)?;
        }
        Ok(rows)
    }

    fn append_table(
        &self,
        snapshot: &CatalogSnapshot,
        db: &str,
        table: strata_model::TableBatch,
        seq: u64,
        segment: u64,
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
            seq,
            segment,
        });
        self.buffer.account(db_schema.id(), rows, bytes);
        if let Some(d) = &self.durable
            && (buffer.counters().rows() >= d.config.rows
                || buffer.counters().bytes() >= d.config.bytes)
        {
            d.wake.notify_one();
        }
        Ok(rows)
    }

    /// Per database: name, buffered rows and buffered bytes.
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

    /// Stops the persister (an upload in flight is abandoned; its rows stay in the
    /// WAL) and syncs and closes the WAL. Idempotent.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        let Some(d) = &self.durable else {
            return Ok(());
        };
        let _ = d.stop.send(true);
        let task = d.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
        d.wal.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
