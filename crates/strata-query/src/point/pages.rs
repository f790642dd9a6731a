//! Decoded pages for point reads: the record batch a point read decoded from
//! one file's selected pages, kept for the next read of the same pages.
//!
//! Decoding, not reading, is what a point read of a Parquet file costs: the
//! bytes are in the byte-range cache, but every kept page of every projected
//! column is decompressed and decoded in full (delta-encoded integers cannot
//! skip), some 16,000 values per column for the 180 rows of one host. Storage
//! engines keep uncompressed blocks for the same reason (RocksDB's block
//! cache). Entries are whole decoded pages, before the query's own filter, so
//! any query whose page selection is the same (the same series and a time
//! range that keeps the same pages) reuses them.
//!
//! Keys name an immutable file (see `crate::cache` for why paths are never
//! reused), the row groups, the row ranges and the columns, so an entry never
//! goes stale. Entries leave by CLOCK-Pro eviction when the byte budget is
//! reached; a batch larger than an eighth of the budget is not kept.

use crate::cache::HitCounters;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use std::ops::Range;

/// Default budget of the decoded-page cache.
pub const DEFAULT_PAGE_CACHE_BYTES: usize = 256 << 20;

/// The pages of one file a point read decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    pub(crate) path: String,
    pub(crate) row_groups: Vec<usize>,
    /// Row ranges within those row groups (counted over them).
    pub(crate) ranges: Vec<Range<usize>>,
    /// Top-level columns decoded.
    pub(crate) roots: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
struct BatchWeighter;

impl quick_cache::Weighter<PageKey, RecordBatch> for BatchWeighter {
    fn weight(&self, key: &PageKey, batch: &RecordBatch) -> u64 {
        let key_bytes = key.path.len()
            + 8 * (key.row_groups.len() + 2 * key.ranges.len() + key.roots.len())
            + 64;
        (batch.get_array_memory_size() + key_bytes) as u64
    }
}

/// Decoded pages, and the Arrow schema of each file they came from (decoding
/// it from the footer was 5% of a point read's CPU).
pub(crate) struct PageCache {
    batches: quick_cache::sync::Cache<PageKey, RecordBatch, BatchWeighter>,
    schemas: quick_cache::sync::Cache<String, SchemaRef>,
    capacity: u64,
    counters: HitCounters,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("capacity", &self.capacity)
            .field("entries", &self.batches.len())
            .finish_non_exhaustive()
    }
}

/// Counters of the decoded-page cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PageCacheStats {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
    pub(crate) capacity: u64,
}

impl PageCache {
    /// A cache of at most `capacity` bytes of decoded batches; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity as u64;
        Self {
            batches: quick_cache::sync::Cache::with_weighter(
                (capacity / (1 << 20)).max(16) as usize,
                capacity.max(1),
                BatchWeighter,
            ),
            schemas: quick_cache::sync::Cache::new(4_096),
            capacity,
            counters: HitCounters::default(),
        }
    }

    pub(crate) fn get(&self, key: &PageKey) -> Option<RecordBatch> {
        if self.capacity == 0 {
            return None;
        }
        self.counters.count(self.batches.get(key))
    }

    pub(crate) fn insert(&self, key: PageKey, batch: RecordBatch) {
        if (batch.get_array_memory_size() as u64) <= self.capacity / 8 {
            self.batches.insert(key, batch);
        }
    }

    pub(crate) fn schema(&self, path: &str) -> Option<SchemaRef> {
        self.schemas.get(path)
    }

    pub(crate) fn insert_schema(&self, path: &str, schema: SchemaRef) {
        self.schemas.insert(path.to_owned(), schema);
    }

    pub(crate) fn stats(&self) -> PageCacheStats {
        let (hits, misses) = self.counters.get();
        PageCacheStats {
            hits,
            misses,
            entries: self.batches.len() as u64,
            bytes: self.batches.weight(),
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
// Row ranges are the values here, not ranges of values to collect.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use std::sync::Arc;

    fn batch(rows: i64) -> RecordBatch {
        let a: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
        RecordBatch::try_from_iter([("v", a)]).unwrap()
    }

    fn key(path: &str) -> PageKey {
        PageKey {
            path: path.into(),
            row_groups: vec![0],
            ranges: vec![0..10],
            roots: vec![0, 1],
        }
    }

    #[test]
    fn hits_misses_and_the_size_rule() {
        let c = PageCache::new(1 << 20);
        assert!(c.get(&key("a")).is_none());
        c.insert(key("a"), batch(100));
        assert_eq!(c.get(&key("a")).unwrap().num_rows(), 100);
        let other = PageKey {
            ranges: vec![0..11],
            ..key("a")
        };
        assert!(c.get(&other).is_none());
        // Over an eighth of the budget: not kept.
        c.insert(key("b"), batch(20_000));
        assert!(c.get(&key("b")).is_none());
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 3, 1));
        assert!(s.bytes >= 800, "{s:?}");

        let off = PageCache::new(0);
        off.insert(key("a"), batch(1));
        assert!(off.get(&key("a")).is_none());
        assert_eq!(off.stats().misses, 0);
    }
}
