//! The write buffer: acknowledged rows held in memory as Arrow record batches until
//! the persister writes them to Parquet, plus the list of the table's committed
//! Parquet files.
//!
//! Layout: one [`TableBuffer`] per (database, table) in a concurrent map, so writes
//! to different tables never contend. Within a table, a writer prepares its record
//! batch (series ids, Arrow arrays) without any lock and then holds the table's
//! mutex only to push it. Record batches are immutable and reference-counted, so a
//! query snapshot clones pointers, never data, and never blocks writers for longer
//! than that clone.
//!
//! Batches are grouped into chunks: the active chunk receives appends; when it
//! reaches [`CHUNK_MAX_ROWS`] rows or [`CHUNK_MAX_BATCHES`] batches it is frozen,
//! which bounds what a snapshot has to clone.
//!
//! Persistence hand-off: [`TableBuffer::begin_persist`] moves every batch with a
//! WAL sequence number up to a watermark into the table's single `persisting`
//! chunk, which stays visible to queries. [`TableBuffer::finish_persist`] then, in
//! one critical section, drops that chunk and adds the committed files: a query
//! snapshot (taken under the same mutex) sees each row exactly once, either
//! buffered or in a file.
//!
//! Accounting: rows and bytes per table, per database and in total are atomic
//! counters updated by each append and each finished persist (O(1)), never
//! recomputed by scanning.

mod convert;

use crate::manifest::ParquetFile;
use arrow::record_batch::RecordBatch;
use dashmap::DashMap;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use strata_model::{DbId, TableId};

pub(crate) use convert::to_record_batch;
pub use convert::widen;

/// Rows after which the active chunk is frozen.
pub const CHUNK_MAX_ROWS: usize = 1 << 20;
/// Appended batches after which the active chunk is frozen (bounds snapshot cost).
pub const CHUNK_MAX_BATCHES: usize = 512;

/// One appended record batch with what queries need to skip it and what
/// persistence needs to release its WAL record.
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
    /// WAL sequence number of the record that carried these rows (0: no WAL).
    pub seq: u64,
    /// WAL segment holding that record.
    pub segment: u64,
}

impl BufferedBatch {
    fn bytes(&self) -> u64 {
        self.batch.get_array_memory_size() as u64 + 4 * self.batch.num_rows() as u64
    }
}

/// An immutable group of batches.
#[derive(Debug)]
pub struct Chunk {
    /// The batches, in append order.
    pub batches: Vec<BufferedBatch>,
    /// Total rows.
    pub rows: usize,
}

impl Chunk {
    fn new(batches: Vec<BufferedBatch>) -> Self {
        let rows = batches.iter().map(|b| b.batch.num_rows()).sum();
        Self { batches, rows }
    }
}

#[derive(Debug, Default)]
struct Chunks {
    frozen: Vec<Arc<Chunk>>,
    active: Vec<BufferedBatch>,
    active_rows: usize,
    /// Rows handed to the persister, still served to queries until committed.
    persisting: Option<Arc<Chunk>>,
    /// Committed Parquet files, in commit order.
    files: Vec<Arc<ParquetFile>>,
    /// When the oldest row not yet handed to the persister was appended.
    oldest: Option<Instant>,
}

impl Chunks {
    /// Ends the hand-off of `take`, finished or aborted.
    fn release_persisting(&mut self, take: &PersistTake) {
        if self
            .persisting
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, &take.chunk))
        {
            self.persisting = None;
        }
    }
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

    fn sub(&self, rows: u64, bytes: u64) {
        self.rows.fetch_sub(rows, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
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

/// What a query reads of one table: buffered batches and committed files, taken
/// atomically so no row is seen twice or missed while it moves between them.
#[derive(Debug, Default)]
pub struct TableSnapshot {
    /// Buffered batches overlapping the requested time range.
    pub batches: Vec<BufferedBatch>,
    /// Committed files overlapping the requested time range.
    pub files: Vec<Arc<ParquetFile>>,
    /// Committed files of the table in total (before time pruning).
    pub total_files: usize,
}

/// Rows handed to the persister by [`TableBuffer::begin_persist`].
#[derive(Debug)]
pub struct PersistTake {
    /// The rows.
    pub chunk: Arc<Chunk>,
    /// Their bytes as accounted.
    pub bytes: u64,
}

/// Persist-policy view of a table.
#[derive(Debug, Clone, Copy)]
pub struct TableLoad {
    /// Rows not yet handed to the persister.
    pub rows: u64,
    /// Bytes buffered (including rows being persisted).
    pub bytes: u64,
    /// Age of the oldest row not yet handed to the persister.
    pub oldest: Option<Instant>,
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
        let bytes = batch.bytes();
        {
            let mut c = self.chunks.lock();
            if c.oldest.is_none() {
                c.oldest = Some(Instant::now());
            }
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

    /// Buffered batches and committed files whose time range meets `[min, max]`
    /// (inclusive), taken under one lock.
    pub fn snapshot(&self, min: i64, max: i64) -> TableSnapshot {
        let (persisting, frozen, active, files) = {
            let c = self.chunks.lock();
            (
                c.persisting.clone(),
                c.frozen.clone(),
                c.active.clone(),
                c.files.clone(),
            )
        };
        let overlaps = |b: &&BufferedBatch| b.max_time >= min && b.min_time <= max;
        let batches = persisting
            .iter()
            .chain(frozen.iter())
            .flat_map(|c| c.batches.iter())
            .chain(active.iter())
            .filter(overlaps)
            .cloned()
            .collect();
        let total_files = files.len();
        let files = files
            .into_iter()
            .filter(|f| f.max_time >= min && f.min_time <= max)
            .collect();
        TableSnapshot {
            batches,
            files,
            total_files,
        }
    }

    /// Row and byte counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// What the persist policy needs to know.
    pub fn load(&self) -> TableLoad {
        let c = self.chunks.lock();
        let persisting = c.persisting.as_ref().map_or(0, |p| p.rows as u64);
        TableLoad {
            rows: self.counters.rows().saturating_sub(persisting),
            bytes: self.counters.bytes(),
            oldest: c.oldest,
        }
    }

    /// Smallest WAL segment any buffered row still needs.
    pub fn min_segment(&self) -> Option<u64> {
        let c = self.chunks.lock();
        c.persisting
            .iter()
            .chain(c.frozen.iter())
            .flat_map(|ch| ch.batches.iter())
            .chain(c.active.iter())
            .map(|b| b.segment)
            .min()
    }

    /// Moves every batch with `seq <= through` into the persisting chunk and
    /// returns it; `None` if there is none or a persist is already under way.
    pub fn begin_persist(&self, through: u64) -> Option<PersistTake> {
        let mut c = self.chunks.lock();
        if c.persisting.is_some() {
            return None;
        }
        let all: Vec<BufferedBatch> = std::mem::take(&mut c.frozen)
            .into_iter()
            .flat_map(|ch| ch.batches.clone())
            .chain(std::mem::take(&mut c.active))
            .collect();
        let (take, keep): (Vec<_>, Vec<_>) = all.into_iter().partition(|b| b.seq <= through);
        c.active_rows = keep.iter().map(|b| b.batch.num_rows()).sum();
        c.active = keep;
        if take.is_empty() {
            return None;
        }
        c.oldest = (!c.active.is_empty()).then(Instant::now);
        let bytes = take.iter().map(BufferedBatch::bytes).sum();
        let chunk = Arc::new(Chunk::new(take));
        c.persisting = Some(Arc::clone(&chunk));
        Some(PersistTake { chunk, bytes })
    }

    /// Replaces the persisting chunk by the files that now hold its rows. Returns
    /// the rows and bytes released.
    pub fn finish_persist(&self, take: &PersistTake, files: Vec<Arc<ParquetFile>>) -> (u64, u64) {
        {
            let mut c = self.chunks.lock();
            c.release_persisting(take);
            c.files.extend(files);
        }
        let rows = take.chunk.rows as u64;
        self.counters.sub(rows, take.bytes);
        (rows, take.bytes)
    }

    /// Returns the persisting chunk's rows to the buffer after a persist that
    /// cannot complete (an encoding bug); they are retried by a later job.
    pub fn abort_persist(&self, take: PersistTake) {
        let mut c = self.chunks.lock();
        c.release_persisting(&take);
        let mut batches = take.chunk.batches.clone();
        c.active_rows += take.chunk.rows;
        batches.append(&mut c.active);
        c.active = batches;
        c.oldest.get_or_insert_with(Instant::now);
    }

    /// Adds files committed before this process started.
    pub(crate) fn add_committed(&self, files: impl IntoIterator<Item = Arc<ParquetFile>>) {
        self.chunks.lock().files.extend(files);
    }
}

/// All table buffers of the instance.
#[derive(Debug, Default)]
pub struct WriteBuffer {
    tables: DashMap<(DbId, TableId), Arc<TableBuffer>>,
    databases: DashMap<DbId, Arc<Counters>>,
    total: Counters,
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

    /// Every table buffer.
    pub fn tables(&self) -> Vec<((DbId, TableId), Arc<TableBuffer>)> {
        self.tables
            .iter()
            .map(|e| (*e.key(), Arc::clone(e.value())))
            .collect()
    }

    pub(crate) fn account(&self, db: DbId, rows: u64, bytes: u64) {
        self.total.add(rows, bytes);
        if let Some(c) = self.databases.get(&db) {
            c.add(rows, bytes);
            return;
        }
        self.databases.entry(db).or_default().add(rows, bytes);
    }

    pub(crate) fn release(&self, db: DbId, rows: u64, bytes: u64) {
        self.total.sub(rows, bytes);
        if let Some(c) = self.databases.get(&db) {
            c.sub(rows, bytes);
        }
    }

    /// Counters of a database.
    pub fn database_counters(&self, db: DbId) -> Option<Arc<Counters>> {
        self.databases.get(&db).map(|c| Arc::clone(&c))
    }

    /// Counters over every table.
    pub fn total(&self) -> &Counters {
        &self.total
    }
}
