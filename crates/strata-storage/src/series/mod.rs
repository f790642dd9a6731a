//! Series index of one table: tag set -> [`strata_model::SeriesId`], plus an inverted index
//! (tag column, value) -> series for label matching (PromQL, label APIs).
//!
//! Ids are assigned in arrival order and never reused. The key map is sharded so
//! writers of one table rarely wait on each other, and each batch resolves every
//! distinct tag combination once through a batch-local cache: an existing series
//! costs one small hash of dictionary keys.
//!
//! A new series must cost little more than an existing one, so nothing is
//! allocated per series: keys live in per-shard byte arenas, tag values in
//! per-column arenas (see [`postings`]).
//!
//! The write path maintains only the key map. Postings are brought up to date
//! by whoever reads them ([`SeriesIndex::series_with`], [`SeriesIndex::tag_values`]):
//! each shard's arena is also a log of its new series (id, key) in creation
//! order, and the postings keep a cursor per shard. A read therefore sees every
//! series created before it started, and pays, once, for the series created
//! since the previous read. Updating postings on every write cost a quarter of
//! new-series ingest (docs/BENCHMARKS.md) while no query used them.
//!
//! Canonical series key: for each non-null tag in column-id order, the column id
//! (u32 LE), the value length (u32 LE) and the value bytes. Two rows with the same
//! tag set produce the same key whatever order the tags were written in.

mod arena;
mod postings;

use arena::{Arena, Cursor, Span, split_records};
use foldhash::fast::FixedState;
use hashbrown::{HashMap, HashTable};
use parking_lot::Mutex;
use postings::ColumnPostings;
use roaring::RoaringBitmap;
use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use strata_model::{ColumnId, TagColumn, Validity};

const SHARDS: usize = 16;

/// A tag column of a batch, as the index reads it.
#[derive(Debug, Clone, Copy)]
pub struct TagInput<'a> {
    /// The column's catalog id.
    pub id: ColumnId,
    /// Values, dictionary-encoded.
    pub values: &'a TagColumn,
    /// Which rows have a value.
    pub validity: &'a Validity,
}

/// A key stored in a shard's arena, with its hash: growing the table then
/// moves slots without reading (cache-missing) and rehashing every key.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    key: Span,
    id: u32,
}

#[derive(Default)]
struct Shard {
    keys: Arena,
    table: HashTable<Slot>,
}

/// The series of one table.
pub struct SeriesIndex {
    shards: Box<[Mutex<Shard>]>,
    hasher: FixedState,
    next: AtomicU32,
    postings: Mutex<Postings>,
}

/// The inverted index and how far it has read each shard's log.
#[derive(Default)]
struct Postings {
    columns: HashMap<ColumnId, ColumnPostings, FixedState>,
    cursors: [Cursor; SHARDS],
}

/// Log bytes copied out of a shard per lock hold while postings catch up, so
/// writers to that shard wait for a copy of at most this much.
const CATCH_UP_BYTES: usize = 1 << 20;

impl std::fmt::Debug for SeriesIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesIndex")
            .field("series", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for SeriesIndex {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: FixedState::default(),
            next: AtomicU32::new(0),
            postings: Mutex::new(Postings::default()),
        }
    }
}

impl SeriesIndex {
    /// Number of series.
    pub fn len(&self) -> usize {
        self.next.load(Ordering::Relaxed) as usize
    }

    /// True when no series exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The series of every row. `tags` must be sorted by column id.
    pub fn assign(&self, tags: &[TagInput<'_>], rows: usize) -> Vec<u32> {
        debug_assert!(tags.windows(2).all(|w| w[0].id < w[1].id));
        let mut out = Vec::with_capacity(rows);
        // The batch-local cache numbers distinct tuples in u32.
        let mut start = 0;
        while start < rows {
            let end = rows.min(start + u32::MAX as usize);
            self.assign_rows(tags, start..end, &mut out);
            start = end;
        }
        out
    }

    fn assign_rows(&self, tags: &[TagInput<'_>], rows: Range<usize>, out: &mut Vec<u32>) {
        let n = tags.len();
        // Batch-local cache: tuple of dictionary keys (-1 for null) -> series,
        // entries (hash, number of the distinct tuple in `tuples`, series).
        // Growing it from empty costs less than reserving a slot per row when
        // series repeat (most batches); the stored hash keeps growth cheap
        // when they do not, and entries at 16 bytes keep lookups in cache.
        let mut tuples: Vec<i32> = Vec::new();
        let mut local: HashTable<(u64, u32, u32)> = HashTable::new();
        let mut distinct = 0u32;
        let mut tuple = vec![0i32; n];
        let mut key = Vec::with_capacity(64);
        for row in rows {
            for (slot, t) in tuple.iter_mut().zip(tags) {
                *slot = if t.validity.get(row) {
                    t.values.keys()[row]
                } else {
                    -1
                };
            }
            let hash = self.hasher.hash_one(&tuple[..]);
            if let Some(&(_, _, id)) = local.find(hash, |&(h, d, _)| {
                let at = d as usize * n;
                h == hash && tuples[at..at + n] == tuple[..]
            }) {
                out.push(id);
                continue;
            }
            key.clear();
            for (t, &k) in tags.iter().zip(&tuple) {
                if k >= 0 {
                    let v = t.values.values().get_bytes(k as usize);
                    key.extend_from_slice(&t.id.0.to_le_bytes());
                    key.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    key.extend_from_slice(v);
                }
            }
            let id = self.lookup_or_insert(&key);
            tuples.extend_from_slice(&tuple);
            local.insert_unique(hash, (hash, distinct, id), |&(h, _, _)| h);
            distinct += 1;
            out.push(id);
        }
    }

    fn lookup_or_insert(&self, key: &[u8]) -> u32 {
        let hash = self.hasher.hash_one(key);
        // Shard on middle bits: the table inside a shard indexes buckets with the low
        // bits and tags entries with the top ones, so reusing either for the shard
        // would leave most buckets of every shard empty and turn lookups into probes.
        let mut guard = self.shards[((hash >> 32) as usize) % SHARDS].lock();
        let shard = &mut *guard;
        let keys = &shard.keys;
        if let Some(s) = shard
            .table
            .find(hash, |s| s.hash == hash && keys.get(s.key) == key)
        {
            return s.id;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            hash,
            key: shard.keys.push_record(id, key),
            id,
        };
        shard.table.insert_unique(hash, slot, |s| s.hash);
        id
    }

    /// The postings, first brought up to date with every series created so far.
    fn postings(&self) -> parking_lot::MutexGuard<'_, Postings> {
        let mut guard = self.postings.lock();
        let postings = &mut *guard;
        let mut buf = Vec::new();
        for (shard, cursor) in self.shards.iter().zip(postings.cursors.iter_mut()) {
            // Up to where the shard's log ends now: series created meanwhile
            // are left to the next read, so steady ingest cannot keep this
            // read (and the postings lock) going.
            let until = shard.lock().keys.end();
            loop {
                buf.clear();
                shard
                    .lock()
                    .keys
                    .records(cursor, until, &mut buf, CATCH_UP_BYTES);
                if buf.is_empty() {
                    break;
                }
                for (id, key) in split_records(&buf) {
                    for (column, value) in key_tags(key) {
                        let c = postings.columns.entry(column).or_default();
                        let idx = c.posting_index(value);
                        c.add(idx, id);
                    }
                }
            }
        }
        guard
    }

    /// Series having `value` in tag column `column`.
    pub fn series_with(&self, column: ColumnId, value: &str) -> RoaringBitmap {
        self.postings()
            .columns
            .get(&column)
            .map(|c| c.series_with(value))
            .unwrap_or_default()
    }

    /// Distinct values of tag column `column`, sorted.
    pub fn tag_values(&self, column: ColumnId) -> Vec<String> {
        let mut v = self
            .postings()
            .columns
            .get(&column)
            .map(ColumnPostings::values)
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// The (column, value) pairs of a canonical series key.
fn key_tags(mut key: &[u8]) -> impl Iterator<Item = (ColumnId, &[u8])> {
    std::iter::from_fn(move || {
        let (head, rest) = key.split_first_chunk::<8>()?;
        let column = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let (value, rest) = rest.split_at_checked(len)?;
        key = rest;
        Some((ColumnId(column), value))
    })
}

#[cfg(test)]
mod tests;
