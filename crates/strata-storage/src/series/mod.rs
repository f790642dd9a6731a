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
//! per-column arenas (see [`postings`]), and postings are updated once per batch,
//! grouped by (column, value), with a single-series posting kept inline.
//!
//! Canonical series key: for each non-null tag in column-id order, the column id
//! (u32 LE), the value length (u32 LE) and the value bytes. Two rows with the same
//! tag set produce the same key whatever order the tags were written in.

mod arena;
mod postings;

use arena::{Arena, Span};
use foldhash::fast::FixedState;
use hashbrown::{HashMap, HashTable};
use parking_lot::Mutex;
use postings::ColumnPostings;
use roaring::RoaringBitmap;
use std::hash::BuildHasher;
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

/// A key stored in a shard's arena.
#[derive(Clone, Copy)]
struct Slot {
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
    postings: Mutex<HashMap<ColumnId, ColumnPostings, FixedState>>,
}

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
            postings: Mutex::new(HashMap::default()),
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
        let n = tags.len();
        let mut out = Vec::with_capacity(rows);
        // Batch-local cache: tuple of dictionary keys (-1 for null) -> series.
        let mut tuples: Vec<i32> = Vec::new();
        let mut local: HashTable<(usize, u32)> = HashTable::new();
        let mut tuple = vec![0i32; n];
        let mut key = Vec::with_capacity(64);
        // New series: (id, offset of its tuple in `tuples`).
        let mut created: Vec<(u32, usize)> = Vec::new();
        for row in 0..rows {
            for (slot, t) in tuple.iter_mut().zip(tags) {
                *slot = if t.validity.get(row) {
                    t.values.keys()[row]
                } else {
                    -1
                };
            }
            let hash = self.hasher.hash_one(&tuple[..]);
            if let Some(&(_, id)) = local.find(hash, |&(at, _)| tuples[at..at + n] == tuple[..]) {
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
            let (id, new) = self.lookup_or_insert(&key);
            let at = tuples.len();
            if new {
                created.push((id, at));
            }
            tuples.extend_from_slice(&tuple);
            let (hasher, tuples_ref) = (&self.hasher, &tuples);
            local.insert_unique(hash, (at, id), |&(a, _)| {
                hasher.hash_one(&tuples_ref[a..a + n])
            });
            out.push(id);
        }
        if !created.is_empty() {
            self.add_postings(tags, &tuples, &created);
        }
        out
    }

    /// Adds new series to the postings, resolving each (column, batch dictionary
    /// key) to its posting once per batch.
    fn add_postings(&self, tags: &[TagInput<'_>], tuples: &[i32], created: &[(u32, usize)]) {
        let n = tags.len();
        let mut postings = self.postings.lock();
        let mut resolved: Vec<u32> = Vec::new();
        for (i, t) in tags.iter().enumerate() {
            let column = postings.entry(t.id).or_default();
            let dict = t.values.values();
            resolved.clear();
            resolved.resize(dict.len(), u32::MAX);
            for &(id, at) in created {
                let k = tuples[at + i];
                if k < 0 {
                    continue;
                }
                let slot = &mut resolved[k as usize];
                if *slot == u32::MAX {
                    *slot = column.posting_index(dict.get(k as usize));
                }
                column.add(*slot, id);
            }
        }
        debug_assert!(created.iter().all(|&(_, at)| at + n <= tuples.len()));
    }

    fn lookup_or_insert(&self, key: &[u8]) -> (u32, bool) {
        let hash = self.hasher.hash_one(key);
        // Shard on middle bits: the table inside a shard indexes buckets with the low
        // bits and tags entries with the top ones, so reusing either for the shard
        // would leave most buckets of every shard empty and turn lookups into probes.
        let mut guard = self.shards[((hash >> 32) as usize) % SHARDS].lock();
        let shard = &mut *guard;
        let keys = &shard.keys;
        if let Some(s) = shard.table.find(hash, |s| keys.get(s.key) == key) {
            return (s.id, false);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            key: shard.keys.push(key),
            id,
        };
        let (keys, hasher) = (&shard.keys, &self.hasher);
        shard
            .table
            .insert_unique(hash, slot, |s| hasher.hash_one(keys.get(s.key)));
        (id, true)
    }

    /// Series having `value` in tag column `column`.
    pub fn series_with(&self, column: ColumnId, value: &str) -> RoaringBitmap {
        self.postings
            .lock()
            .get(&column)
            .map(|c| c.series_with(value))
            .unwrap_or_default()
    }

    /// Distinct values of tag column `column`, sorted.
    pub fn tag_values(&self, column: ColumnId) -> Vec<String> {
        let mut v = self
            .postings
            .lock()
            .get(&column)
            .map(ColumnPostings::values)
            .unwrap_or_default();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests;
