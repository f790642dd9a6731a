//! Series index of one table: tag set -> [`SeriesId`], plus an inverted index
//! (tag column, value) -> series bitmap for label matching (PromQL, label APIs).
//!
//! Ids are assigned in arrival order and never reused. The map is sharded so that
//! writers of one table rarely wait on each other, and each batch resolves every
//! distinct tag combination once through a batch-local cache, so an existing series
//! costs one small hash of dictionary keys and a new series costs that plus one
//! key allocation and its postings.
//!
//! Canonical series key: for each non-null tag in column-id order, the column id
//! (u32 LE), the value length (u32 LE) and the value bytes. Two rows with the same
//! tag set produce the same key whatever order the tags were written in.

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use parking_lot::Mutex;
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};
use strata_model::{ColumnId, SeriesId, TagColumn, Validity};

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

struct Entry {
    key: Box<[u8]>,
    id: SeriesId,
}

/// The series of one table.
pub struct SeriesIndex {
    shards: Box<[Mutex<HashTable<Entry>>]>,
    hasher: FixedState,
    next: AtomicU32,
    postings: Mutex<HashMap<ColumnId, HashMap<Box<str>, RoaringBitmap>>>,
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
            shards: (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect(),
            hasher: FixedState::default(),
            next: AtomicU32::new(0),
            postings: Mutex::new(HashMap::new()),
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
        let mut created: Vec<(u32, Vec<(ColumnId, i32, usize)>)> = Vec::new();
        for row in 0..rows {
            for (slot, t) in tuple.iter_mut().zip(tags) {
                *slot = if t.validity.get(row) { t.values.keys()[row] } else { -1 };
            }
            let hash = self.hasher.hash_one(&tuple[..]);
            if let Some(&(_, id)) = local.find(hash, |&(at, _)| tuples[at..at + n] == tuple[..]) {
                out.push(id);
                continue;
            }
            key.clear();
            for (t, &k) in tags.iter().zip(&tuple) {
                if k >= 0 {
                    let v = t.values.values().get(k as usize).as_bytes();
                    key.extend_from_slice(&t.id.0.to_le_bytes());
                    key.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    key.extend_from_slice(v);
                }
            }
            let (id, new) = self.lookup_or_insert(&key);
            if new {
                let members = tags
                    .iter()
                    .zip(&tuple)
                    .enumerate()
                    .filter(|(_, (_, k))| **k >= 0)
                    .map(|(i, (t, &k))| (t.id, k, i))
                    .collect();
                created.push((id, members));
            }
            let at = tuples.len();
            tuples.extend_from_slice(&tuple);
            let (hasher, tuples_ref) = (&self.hasher, &tuples);
            local.insert_unique(hash, (at, id), |&(a, _)| hasher.hash_one(&tuples_ref[a..a + n]));
            out.push(id);
        }
        if !created.is_empty() {
            let mut postings = self.postings.lock();
            for (id, members) in created {
                for (col, k, i) in members {
                    let value = tags[i].values.values().get(k as usize);
                    let by_value = postings.entry(col).or_default();
                    match by_value.get_mut(value) {
                        Some(bm) => {
                            bm.insert(id);
                        }
                        None => {
                            by_value.insert(value.into(), RoaringBitmap::from_iter([id]));
                        }
                    }
                }
            }
        }
        out
    }

    fn lookup_or_insert(&self, key: &[u8]) -> (u32, bool) {
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shards[(hash as usize) % SHARDS].lock();
        if let Some(e) = shard.find(hash, |e| &*e.key == key) {
            return (e.id.0, false);
        }
        let id = SeriesId(self.next.fetch_add(1, Ordering::Relaxed));
        let hasher = &self.hasher;
        shard.insert_unique(
            hash,
            Entry {
                key: key.into(),
                id,
            },
            |e| hasher.hash_one(&e.key),
        );
        (id.0, true)
    }

    /// Series having `value` in tag column `column`.
    pub fn series_with(&self, column: ColumnId, value: &str) -> RoaringBitmap {
        self.postings
            .lock()
            .get(&column)
            .and_then(|m| m.get(value))
            .cloned()
            .unwrap_or_default()
    }

    /// Distinct values of tag column `column`, sorted.
    pub fn tag_values(&self, column: ColumnId) -> Vec<String> {
        let mut v: Vec<String> = self
            .postings
            .lock()
            .get(&column)
            .map(|m| m.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_model::{ColumnKind, WriteBatch};

    fn tags_batch(rows: &[(&str, Option<&str>)]) -> WriteBatch {
        let mut b = WriteBatch::default();
        let t = b.table_mut("m");
        for (i, (host, region)) in rows.iter().enumerate() {
            t.begin_row(i as u32, 0);
            let h = t.resolve_column(0, "host", ColumnKind::Tag).unwrap();
            t.push_tag(h, host);
            if let Some(r) = region {
                let c = t.resolve_column(1, "region", ColumnKind::Tag).unwrap();
                t.push_tag(c, r);
            }
        }
        b.finish();
        b
    }

    fn inputs(b: &WriteBatch) -> Vec<TagInput<'_>> {
        b.tables()[0]
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| match c.data() {
                strata_model::ColumnData::Tag(t) => TagInput {
                    id: ColumnId(i as u32 + 1),
                    values: t,
                    validity: c.validity(),
                },
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn same_tag_set_same_series_across_batches() {
        let idx = SeriesIndex::default();
        let b1 = tags_batch(&[("a", Some("eu")), ("b", Some("eu")), ("a", Some("eu")), ("a", None)]);
        let ids = idx.assign(&inputs(&b1), 4);
        assert_eq!(ids, [0, 1, 0, 2]);
        // Different dictionary order in the second batch.
        let b2 = tags_batch(&[("a", None), ("b", Some("eu")), ("c", Some("us"))]);
        let ids = idx.assign(&inputs(&b2), 3);
        assert_eq!(ids, [2, 1, 3]);
        assert_eq!(idx.len(), 4);
        let eu: Vec<u32> = idx.series_with(ColumnId(2), "eu").iter().collect();
        assert_eq!(eu, [0, 1]);
        assert_eq!(idx.tag_values(ColumnId(1)), ["a", "b", "c"]);
    }

    #[test]
    fn no_tags_is_one_series() {
        let idx = SeriesIndex::default();
        assert_eq!(idx.assign(&[], 3), [0, 0, 0]);
        assert_eq!(idx.len(), 1);
    }
}
