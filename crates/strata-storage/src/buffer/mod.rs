//! The write buffer: acknowledged rows held in memory as Arrow record batches until
//! the persister writes them to Parquet.
//!
//! Layout: one [`TableBuffer`] per (database, table) in a concurrent map, so writes
//! to different tables never contend. Within a table, a writer prepares its record
//! batch (series ids, Arrow arrays) without any lock and then holds the table's
//! mutex only to push it. Record batches are immutable and reference-counted, so a
//! query snapshot clones pointers, never data, and never blocks writers for longer
//! than that clone.
//!
//! Batches are grouped into chunks: the active chunk receives appends; when it
//! reaches [`CHUNK_MAX_ROWS`] rows or [`CHUNK_MAX_BATCHES`] batches it is frozen.
//! A frozen chunk is the unit the persister will write and release.
//!
//! Accounting: rows and bytes per table and per database are atomic counters
//! updated by each append (O(1)), never recomputed by scanning.

mod convert;

use arrow::record_batch::RecordBatch;
use dashmap::DashMap;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_model::{DbId, TableId};

pub(crate) use convert::to_record_batch;

/// Rows after which the active chunk is frozen.
pub const CHUNK_MAX_ROWS: usize = 1 << 20;
/// Appended batches after which the active chunk is frozen (bounds snapshot cost).
pub const CHUNK_MAX_BATCHES: usize = 512;

/// One appended record batch with what queries need to skip it.
#[derive(Debug, Clone)]
pub struct BufferedBatch {
    /// The rows (columns named as in the catalog; a subset of the table's columns).
    pub batch: RecordBatch,
    /// Series id of each row.
    pub series: Arc<[u32]>,
    /// Smallest timestamp (ns).
    pub min_time: i64,
    /// Largest timestamp (ns).
    pub max_time: i64,
}

/// An immutable group of batches.
#[derive(Debug)]
pub struct Chunk {
    /// The batches, in append order.
    pub batches: Vec<BufferedBatch>,
    /// Total rows.
    pub rows: usize,
}

#[derive(Debug, Default)]
struct Chunks {
    frozen: Vec<Arc<Chunk>>,
    active: Vec<BufferedBatch>,
    active_rows: usize,
}

/// Row and byte counters.
#[derive(Debug, Default)]
pub struct Counters {
    rows: AtomicU64,
    bytes: AtomicU64,
}

impl Counters {
    fn add(&self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Rows held.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Bytes held (Arrow buffer sizes).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// The buffered rows of one table.
#[derive(Debug, Default)]
pub struct TableBuffer {
    chunks: Mutex<Chunks>,
    counters: Counters,
    /// The table's series index.
    pub series: crate::series::SeriesIndex,
}

impl TableBuffer {
    pub(crate) fn append(&self, batch: BufferedBatch) -> (u64, u64) {
        let rows = batch.batch.num_rows();
        let bytes = batch.batch.get_array_memory_size() as u64 + 4 * rows as u64;
        {
            let mut c = self.chunks.lock();
            c.active.push(batch);
            c.active_rows += rows;
            if c.active_rows >= CHUNK_MAX_ROWS || c.active.len() >= CHUNK_MAX_BATCHES {
                let batches = std::mem::take(&mut c.active);
                let rows = std::mem::take(&mut c.active_rows);
                c.frozen.push(Arc::new(Chunk { batches, rows }));
            }
        }
        self.counters.add(rows as u64, bytes);
        (rows as u64, bytes)
    }

    /// Every buffered batch whose time range meets `[min, max]` (inclusive).
    pub fn snapshot(&self, min: i64, max: i64) -> Vec<BufferedBatch> {
        let (frozen, active) = {
            let c = self.chunks.lock();
            (c.frozen.clone(), c.active.clone())
        };
        let overlaps = |b: &&BufferedBatch| b.max_time >= min && b.min_time <= max;
        frozen
            .iter()
            .flat_map(|c| c.batches.iter())
            .chain(active.iter())
            .filter(overlaps)
            .cloned()
            .collect()
    }

    /// Row and byte counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// All table buffers of the instance.
#[derive(Debug, Default)]
pub struct WriteBuffer {
    tables: DashMap<(DbId, TableId), Arc<TableBuffer>>,
    databases: DashMap<DbId, Arc<Counters>>,
}

impl WriteBuffer {
    /// The buffer of a table, created on first use.
    pub fn table(&self, db: DbId, table: TableId) -> Arc<TableBuffer> {
        if let Some(t) = self.tables.get(&(db, table)) {
            return Arc::clone(&t);
        }
        Arc::clone(&self.tables.entry((db, table)).or_default())
    }

    /// The buffer of a table, if it has one.
    pub fn get(&self, db: DbId, table: TableId) -> Option<Arc<TableBuffer>> {
        self.tables.get(&(db, table)).map(|t| Arc::clone(&t))
    }

    pub(crate) fn account(&self, db: DbId, rows: u64, bytes: u64) {
        if let Some(c) = self.databases.get(&db) {
            c.add(rows, bytes);
            return;
        }
        self.databases.entry(db).or_default().add(rows, bytes);
    }

    /// Counters of a database.
    pub fn database_counters(&self, db: DbId) -> Option<Arc<Counters>> {
        self.databases.get(&db).map(|c| Arc::clone(&c))
    }
}
