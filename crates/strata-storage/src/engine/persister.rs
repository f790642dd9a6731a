//! The persister task: the policy and the job of `crate::persist`, run against
//! this engine's buffer, manifest and WAL. See `persist/mod.rs` for the ordering
//! of durability points.

use super::{Durable, Engine};
use crate::buffer::TableBuffer;
use crate::persist::{EncodedFile, TableRef, backoff, encode};
use object_store::{ObjectStoreExt, PutPayload};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use strata_model::{DbId, TableId};
use tokio::sync::watch;

/// One store call may not take longer than this; a hung call is retried.
const STORE_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Persistence counters (atomics, read by `/metrics`).
#[derive(Debug, Default)]
pub struct PersistStats {
    /// Files committed.
    pub files: AtomicU64,
    /// Rows committed.
    pub rows: AtomicU64,
    /// Parquet bytes committed.
    pub bytes: AtomicU64,
    /// Failed store calls (each retried).
    pub errors: AtomicU64,
    /// WAL segments deleted.
    pub wal_segments_removed: AtomicU64,
}

/// Holds the engine weakly between rounds, so dropping the last handle (without
/// `shutdown`) still drops the engine and closes its WAL.
pub(super) async fn run(engine: Weak<Engine>, mut stop: watch::Receiver<bool>) {
    // Segments whose records were all persisted before the last stop go now;
    // afterwards only a commit can free a segment.
    if let Some(e) = engine.upgrade()
        && let Some(d) = &e.durable
    {
        e.remove_wal_segments(d);
    }
    loop {
        let (wake, tick) = match engine.upgrade() {
            Some(e) => match &e.durable {
                Some(d) => (Arc::clone(&d.wake), d.config.tick),
                None => return,
            },
            None => return,
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        let Some(d) = &engine.durable else {
            return;
        };
        let mut committed = false;
        for (db, table, buf) in plan(&engine, d) {
            if *stop.borrow() {
                return;
            }
            committed |= engine.persist_table(d, db, table, &buf, &stop).await;
        }
        if committed {
            engine.remove_wal_segments(d);
        }
    }
}

/// Tables due for persistence, most urgent first.
fn plan(engine: &Engine, d: &Durable) -> Vec<(DbId, TableId, Arc<TableBuffer>)> {
    let now = Instant::now();
    let cfg = &d.config;
    let mut due = Vec::new();
    let mut rest = Vec::new();
    for ((db, table), buf) in engine.buffer.tables() {
        let load = buf.load();
        if load.rows == 0 {
            continue;
        }
        let old = load
            .oldest
            .is_some_and(|t| now.duration_since(t) >= cfg.age);
        if load.rows >= cfg.rows || load.bytes >= cfg.bytes || old {
            due.push((db, table, buf));
        } else {
            rest.push((load, db, table, buf));
        }
    }
    let total = engine.buffer.total().bytes();
    if total > cfg.buffer_memory_limit {
        // Oldest first, then largest: frees memory while keeping WAL age bounded.
        rest.sort_by(|a, b| a.0.oldest.cmp(&b.0.oldest).then(b.0.bytes.cmp(&a.0.bytes)));
        let target = cfg.buffer_memory_limit / 4 * 3;
        let mut left = total;
        for (load, db, table, buf) in rest {
            if left <= target {
                break;
            }
            left = left.saturating_sub(load.bytes);
            due.push((db, table, buf));
        }
    }
    due
}

impl Engine {
    /// Persists every table's applied rows now, then deletes WAL segments no
    /// longer needed; store failures are retried until they succeed. A table the
    /// background persister is working on at that moment is left to it: tests and
    /// benchmarks that need a deterministic result open the engine with
    /// persistence disabled.
    pub async fn persist_all(&self) {
        let Some(d) = &self.durable else {
            return;
        };
        let (_never, stop) = watch::channel(false);
        for ((db, table), buf) in self.buffer.tables() {
            self.persist_table(d, db, table, &buf, &stop).await;
        }
        self.remove_wal_segments(d);
    }

    /// One persist job for a table; true when it committed files.
    async fn persist_table(
        &self,
        d: &Durable,
        db: DbId,
        table: TableId,
        buf: &TableBuffer,
        stop: &watch::Receiver<bool>,
    ) -> bool {
        let through = d.sequencer.applied_through();
        let Some(take) = buf.begin_persist(through) else {
            return false;
        };
        let snapshot = self.catalog.snapshot();
        let Some((db_schema, schema)) = snapshot
            .databases()
            .find(|s| s.id() == db)
            .and_then(|s| s.tables().find(|t| t.id() == table).map(|t| (s, t)))
        else {
            tracing::error!(
                "persist: table {db}/{table} is not in the catalog; rows stay buffered"
            );
            buf.abort_persist(take);
            return false;
        };
        let (db_name, table_name) = (db_schema.name().to_owned(), schema.name().to_owned());
        let arrow_schema = Arc::clone(schema.arrow_schema());
        let series_key = schema.series_key().to_vec();
        let chunk = Arc::clone(&take.chunk);
        let layout = d.config.layout;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_nanos());
        let file_id = format!("{through:020}-{nanos:x}");
        let encoded = tokio::task::spawn_blocking(move || {
            let t = TableRef {
                db,
                db_name: &db_name,
                table,
                table_name: &table_name,
            };
            encode(
                t,
                &arrow_schema,
                &series_key,
                &chunk.batches,
                &layout,
                &file_id,
            )
        })
        .await;
        let files: Vec<EncodedFile> = match encoded {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                tracing::error!("persist: encoding {db}/{table} failed: {e}; rows stay buffered");
                buf.abort_persist(take);
                return false;
            }
            Err(e) => {
                tracing::error!("persist: encoder task failed: {e}; rows stay buffered");
                buf.abort_persist(take);
                return false;
            }
        };
        let store = d.manifest.store();
        // Each file and its sidecar are uploaded before the commit that names
        // them; an upload the commit never names is an orphan, deleted at start.
        let mut uploads: Vec<(&str, &bytes::Bytes)> = Vec::with_capacity(2 * files.len());
        for f in &files {
            uploads.push((&f.meta.path, &f.bytes));
            // A file that is its own sidecar has no sidecar bytes.
            if let (Some(p), Some(b)) = (&f.meta.last_rows, &f.last_rows) {
                uploads.push((p, b));
            }
        }
        for (path, bytes) in uploads {
            let path = object_store::path::Path::from(path);
            let put = || {
                let (store, path, bytes) = (Arc::clone(store), path.clone(), bytes.clone());
                async move { store.put(&path, PutPayload::from(bytes)).await.map(|_| ()) }
            };
            if retry(d, stop, &format!("upload {path}"), put)
                .await
                .is_none()
            {
                return false;
            }
        }
        let metas: Vec<_> = files.iter().map(|f| f.meta.clone()).collect();
        let commit = || d.manifest.commit(db, table, through, metas.clone());
        if retry(d, stop, "manifest commit", commit).await.is_none() {
            return false;
        }
        *d.last_error.lock() = None;
        let bytes: u64 = files.iter().map(|f| f.meta.size).sum();
        let count = files.len() as u64;
        let (rows, released) = buf.finish_persist(&take, metas.into_iter().map(Arc::new).collect());
        self.buffer.release(db, rows, released);
        d.stats.files.fetch_add(count, Ordering::Relaxed);
        d.stats.rows.fetch_add(rows, Ordering::Relaxed);
        d.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        tracing::debug!(
            "persisted {rows} rows of {db}/{table} into {count} files ({bytes} bytes) through WAL seq {through}"
        );
        true
    }

    /// Deletes WAL segments whose records are all in committed files.
    ///
    /// Order matters: pins are read before the buffers. A record is pinned from
    /// its write until its rows are in the buffer, so a record missed by the first
    /// read was already buffered before the second.
    fn remove_wal_segments(&self, d: &Durable) {
        let pinned = d.wal.oldest_pinned_segment();
        let buffered = self
            .buffer
            .tables()
            .iter()
            .filter_map(|(_, b)| b.min_segment())
            .min();
        let keep = [pinned, buffered, Some(d.wal.current_segment())]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(0);
        match d.wal.remove_segments_before(keep) {
            Ok(n) => {
                d.stats
                    .wal_segments_removed
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!("could not delete persisted WAL segments: {e}"),
        }
    }
}

/// Runs `op` until it succeeds, backing off between attempts; `None` when asked
/// to stop first.
async fn retry<T, E, F, Fut>(
    d: &Durable,
    stop: &watch::Receiver<bool>,
    what: &str,
    mut op: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    for attempt in 0u32.. {
        let err = match tokio::time::timeout(STORE_CALL_TIMEOUT, op()).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("timed out after {}s", STORE_CALL_TIMEOUT.as_secs()),
        };
        d.stats.errors.fetch_add(1, Ordering::Relaxed);
        let wait = backoff(attempt);
        tracing::warn!(
            "persist: {what} failed (attempt {}): {err}; retrying in {wait:?}",
            attempt + 1
        );
        *d.last_error.lock() = Some(format!("{what}: {err}"));
        if *stop.borrow() {
            return None;
        }
        let mut stop = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return None,
        }
    }
    None
}
