//! Opening an engine on disk: catalog, manifest, garbage collection of orphan
//! uploads, WAL replay, then the persister.
//!
//! Replay is idempotent: a record's rows for table `t` are skipped when the
//! manifest says `t` is persisted through that record's sequence number, so a
//! crash at any point (during replay, between an upload and its manifest commit,
//! after the commit but before the WAL segment is deleted) neither loses nor
//! duplicates rows. Replay writes nothing, so crashing during replay just
//! replays again.

use super::{Durable, Engine, EngineArgs, EngineError};
use crate::buffer::WriteBuffer;
use crate::catalog::Catalog;
use crate::last_rows::LastRowsIndex;
use crate::manifest::Manifest;
use crate::sequencer::Sequencer;
use crate::wal_record;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_wal::{Record, Wal, WalConfig};

/// What startup recovery did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryStats {
    /// WAL records read.
    pub records: u64,
    /// Rows put back into the buffer.
    pub rows: u64,
    /// Table portions skipped because Parquet files already hold them.
    pub skipped: u64,
    /// WAL bytes read.
    pub bytes: u64,
    /// Wall time of the replay.
    pub elapsed: Duration,
    /// Bytes of torn tail truncated.
    pub truncated_bytes: u64,
    /// Orphan objects deleted.
    pub orphans: usize,
    /// Committed files loaded from the manifest.
    pub files: usize,
}

/// Takes an exclusive advisory lock on `DATA_DIR/LOCK` for the life of the
/// engine: two processes appending to one WAL would corrupt it.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, EngineError> {
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| EngineError::DataDir {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(source)) => Err(EngineError::DataDir { path, source }),
    }
}

impl Engine {
    /// Opens the engine on `args.data_dir`, creating it if needed, recovers
    /// everything acknowledged before the last stop or crash, and starts the
    /// persister. Must run inside a tokio runtime.
    pub async fn open(args: EngineArgs) -> Result<Arc<Self>, EngineError> {
        let dir = &args.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| EngineError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let lock = lock_data_dir(dir)?;
        let catalog = Catalog::open(dir, args.catalog_limits)?;
        let manifest = Manifest::open(Arc::clone(&args.store)).await?;
        let orphans = manifest.collect_garbage().await?;
        if orphans > 0 {
            tracing::info!("deleted {orphans} orphan data files left by an interrupted persist");
        }
        let mut engine = Engine {
            catalog,
            buffer: WriteBuffer::default(),
            last_rows: LastRowsIndex::default(),
            data_dir: args.data_dir.clone(),
            durable: None,
            recovery: RecoveryStats::default(),
            sync_mode: Some(args.wal.sync),
            _lock: Some(lock),
        };
        let files = manifest.files();
        let mut by_table: HashMap<_, Vec<_>> = HashMap::new();
        for f in &files {
            by_table
                .entry((f.db, f.table))
                .or_default()
                .push(Arc::clone(f));
        }
        for ((db, table), fs) in by_table {
            engine.buffer.table(db, table).add_committed(fs);
        }

        let started = Instant::now();
        let mut stats = RecoveryStats {
            orphans,
            files: files.len(),
            ..RecoveryStats::default()
        };
        let mut last_seq = 0u64;
        let snapshot = engine.catalog.snapshot();
        let config = WalConfig {
            dir: dir.join("wal"),
            sync: args.wal.sync,
            segment_bytes: args.wal.segment_bytes,
            skip_corrupt: args.wal.skip_corrupt,
            recycle: true,
        };
        let replay = |rec: Record<'_>| -> Result<(), EngineError> {
            last_seq = rec.seq;
            stats.records += 1;
            stats.bytes += rec.payload.len() as u64;
            let (db, batch) = wal_record::decode(rec.payload).map_err(|e| {
                EngineError::WalOpen(format!(
                    "record {} in segment {} cannot be decoded: {e}",
                    rec.seq, rec.segment
                ))
            })?;
            let Some(db_schema) = snapshot.database(db) else {
                return Err(EngineError::WalOpen(format!(
                    "record {} refers to database {db:?}, which the catalog does not have",
                    rec.seq
                )));
            };
            for table in batch.into_tables() {
                let persisted = db_schema
                    .table(table.name())
                    .is_some_and(|s| manifest.persisted_through(db_schema.id(), s.id()) >= rec.seq);
                if persisted {
                    stats.skipped += 1;
                    continue;
                }
                stats.rows += engine.append_table(&snapshot, db, table, rec.seq, rec.segment)?;
            }
            Ok(())
        };
        let (wal, wal_stats) =
            Wal::open(config, replay).map_err(|e| EngineError::WalOpen(e.to_string()))?;
        stats.truncated_bytes = wal_stats.truncated_bytes;
        stats.elapsed = started.elapsed();
        // Sequence numbers must stay above every manifest watermark even when the
        // segments that carried them are gone (deleted after persisting, or lost
        // unsynced in `none`/`no_sync` mode): a reused number would be skipped.
        wal.advance_seq_to(manifest.max_persisted() + 1);
        let next = wal.next_seq();
        debug_assert!(next > last_seq);
        let secs = stats.elapsed.as_secs_f64();
        tracing::info!(
            "recovered {} WAL records ({} rows, {:.1} MB) in {:.3} s ({:.0} MB/s); {} table portions already in Parquet; {} committed files",
            stats.records,
            stats.rows,
            stats.bytes as f64 / 1e6,
            secs,
            if secs > 0.0 {
                stats.bytes as f64 / 1e6 / secs
            } else {
                0.0
            },
            stats.skipped,
            stats.files,
        );
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        engine.recovery = stats;
        engine.durable = Some(Durable {
            wal,
            manifest,
            sequencer: Sequencer::new(next),
            config: args.persist,
            wake: Arc::new(tokio::sync::Notify::new()),
            stop,
            task: Mutex::new(None),
            stats: Default::default(),
            last_error: Mutex::new(None),
        });
        let engine = Arc::new(engine);
        if args.persist.enabled
            && let Some(d) = &engine.durable
        {
            let task = tokio::spawn(super::persister::run(Arc::downgrade(&engine), stop_rx));
            *d.task.lock() = Some(task);
        }
        Ok(engine)
    }
}
