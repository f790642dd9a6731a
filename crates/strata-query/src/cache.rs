//! Caches shared by every query: Parquet metadata (footers and page indexes) and
//! recently read byte ranges of Parquet files (column chunks, or pages when the
//! page index selects rows).
//!
//! Both are keyed by object path. That is sound because a committed file is
//! immutable: the persister names every file with a fresh id and never rewrites
//! one, and a deleted file's path is never reused. Neither cache is ever
//! invalidated; entries leave by LRU-like eviction (DataFusion's LRU for metadata,
//! quick_cache's CLOCK-Pro for chunks) when the byte budget is reached.
//!
//! The byte-range cache sits between DataFusion's Parquet reader and the object
//! store ([`ChunkCachingStore`]), so it serves every reader path (the footer read
//! on a metadata miss, `get_ranges` for column chunks) and works the same for the
//! local store and S3, where a hit saves a request round trip.

use crate::point::pages::PageCacheStats;
use async_trait::async_trait;
use bytes::Bytes;
use datafusion::common::TableReference;
use datafusion::execution::cache::cache_manager::CachedFileMetadataEntry;
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::cache::{Cache, CacheEntryInfo};
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Default budget of the Parquet metadata cache.
pub const DEFAULT_METADATA_CACHE_BYTES: usize = 64 << 20;
pub use crate::point::pages::DEFAULT_PAGE_CACHE_BYTES;
/// Default budget of the byte-range (column chunk) cache.
pub const DEFAULT_CHUNK_CACHE_BYTES: usize = 256 << 20;

/// Byte budgets of the query caches (0 turns a cache off), and the point-read
/// path that skips planning for lookups of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Parquet footers and page indexes.
    pub metadata_bytes: usize,
    /// Byte ranges of Parquet files.
    pub chunk_bytes: usize,
    /// Decoded Parquet pages of point reads (`crate::point::pages`).
    pub page_bytes: usize,
    /// Whether statements of the point shape are answered without DataFusion
    /// (`crate::point`); on by default.
    pub point_reads: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            metadata_bytes: DEFAULT_METADATA_CACHE_BYTES,
            chunk_bytes: DEFAULT_CHUNK_CACHE_BYTES,
            page_bytes: crate::point::pages::DEFAULT_PAGE_CACHE_BYTES,
            point_reads: true,
        }
    }
}

/// Counters and sizes of the query caches, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Metadata lookups answered from the cache.
    pub metadata_hits: u64,
    /// Metadata lookups that had to read the file.
    pub metadata_misses: u64,
    /// Metadata entries held.
    pub metadata_entries: u64,
    /// Byte-range reads answered from the cache.
    pub chunk_hits: u64,
    /// Byte-range reads that went to the object store.
    pub chunk_misses: u64,
    /// Byte ranges held.
    pub chunk_entries: u64,
    /// Bytes held by the byte-range cache.
    pub chunk_bytes: u64,
    /// Budget of the byte-range cache.
    pub chunk_capacity_bytes: u64,
    /// Queries answered by a point read (no DataFusion plan).
    pub point_reads: u64,
    /// Point reads of a file's pages answered from the decoded-page cache.
    pub page_hits: u64,
    /// Point reads of a file's pages that decoded them.
    pub page_misses: u64,
    /// Decoded batches held.
    pub page_entries: u64,
    /// Bytes held by the decoded-page cache.
    pub page_bytes: u64,
    /// Budget of the decoded-page cache.
    pub page_capacity_bytes: u64,
}

/// Hit and miss counters of one cache.
#[derive(Debug, Default)]
pub(crate) struct HitCounters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl HitCounters {
    /// Counts `found` as a hit or a miss and passes it on.
    pub(crate) fn count<T>(&self, found: Option<T>) -> Option<T> {
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// (hits, misses).
    pub(crate) fn get(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// DataFusion's metadata cache with hit and miss counters.
pub(crate) struct CountingMetadataCache {
    inner: DefaultCache<Path, CachedFileMetadataEntry>,
    counters: HitCounters,
}

impl CountingMetadataCache {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            inner: DefaultCache::new(limit).with_name("StrataParquetMetadata"),
            counters: HitCounters::default(),
        }
    }
}

impl std::fmt::Debug for CountingMetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingMetadataCache")
            .field("entries", &self.inner.len())
            .finish_non_exhaustive()
    }
}

impl Cache<Path, CachedFileMetadataEntry> for CountingMetadataCache {
    fn get(&self, key: &Path) -> Option<CachedFileMetadataEntry> {
        self.counters.count(self.inner.get(key))
    }

    fn put(&self, key: &Path, value: CachedFileMetadataEntry) -> Option<CachedFileMetadataEntry> {
        self.inner.put(key, value)
    }

    fn remove(&self, k: &Path) -> Option<CachedFileMetadataEntry> {
        self.inner.remove(k)
    }

    fn contains_key(&self, k: &Path) -> bool {
        self.inner.contains_key(k)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn clear(&self) {
        self.inner.clear()
    }

    fn name(&self) -> String {
        self.inner.name()
    }

    fn cache_limit(&self) -> usize {
        self.inner.cache_limit()
    }

    fn update_cache_limit(&self, limit: usize) {
        self.inner.update_cache_limit(limit)
    }

    fn cache_ttl(&self) -> Option<Duration> {
        self.inner.cache_ttl()
    }

    fn update_cache_ttl(&self, ttl: Option<Duration>) {
        self.inner.update_cache_ttl(ttl)
    }

    fn drop_table_entries(&self, table_ref: &TableReference) -> datafusion::common::Result<()> {
        self.inner.drop_table_entries(table_ref)
    }

    fn list_entries(
        &self,
    ) -> datafusion::common::HashMap<Path, CacheEntryInfo<CachedFileMetadataEntry>> {
        self.inner.list_entries()
    }
}

type ChunkKey = (Path, u64, u64);

/// Weight of a cached range: its bytes plus the key, so that many tiny ranges
/// cannot hold far more memory than the budget says.
#[derive(Debug, Clone, Copy)]
struct ChunkWeighter;

impl quick_cache::Weighter<ChunkKey, Bytes> for ChunkWeighter {
    fn weight(&self, key: &ChunkKey, val: &Bytes) -> u64 {
        (val.len() + key.0.as_ref().len() + 64) as u64
    }
}

/// Recently read byte ranges of immutable files.
pub(crate) struct ChunkCache {
    ranges: quick_cache::sync::Cache<ChunkKey, Bytes, ChunkWeighter>,
    /// Object metadata per path, to answer a whole `get_opts` from the cache.
    metas: quick_cache::sync::Cache<Path, ObjectMeta>,
    capacity: u64,
    counters: HitCounters,
}

/// Ranges larger than this are passed through: a whole-file read would evict
/// everything else for one scan.
const MAX_CACHED_RANGE: u64 = 64 << 20;

impl ChunkCache {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity as u64;
        Self {
            ranges: quick_cache::sync::Cache::with_weighter(
                (capacity / (256 << 10)).max(16) as usize,
                capacity.max(1),
                ChunkWeighter,
            ),
            metas: quick_cache::sync::Cache::new(16_384),
            capacity,
            counters: HitCounters::default(),
        }
    }

    fn cacheable(&self, r: &Range<u64>) -> bool {
        self.capacity > 0
            && r.end > r.start
            && r.end - r.start <= MAX_CACHED_RANGE.min(self.capacity)
    }

    fn get(&self, path: &Path, r: &Range<u64>) -> Option<Bytes> {
        self.counters
            .count(self.ranges.get(&(path.clone(), r.start, r.end)))
    }

    fn insert(&self, path: &Path, r: &Range<u64>, bytes: Bytes) {
        self.ranges.insert((path.clone(), r.start, r.end), bytes);
    }

    #[cfg(test)]
    fn stats(&self) -> (u64, u64, u64, u64, u64) {
        let s = stats(
            &CountingMetadataCache::new(0),
            self,
            PageCacheStats::default(),
            0,
        );
        (
            s.chunk_hits,
            s.chunk_misses,
            s.chunk_entries,
            s.chunk_bytes,
            s.chunk_capacity_bytes,
        )
    }
}

impl std::fmt::Debug for ChunkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkCache")
            .field("capacity", &self.capacity)
            .field("entries", &self.ranges.len())
            .finish_non_exhaustive()
    }
}

/// An object store that serves repeated range reads from a [`ChunkCache`].
///
/// Only plain bounded range reads are cached: conditional requests, versions,
/// suffix/offset ranges and `head` go to the inner store unchanged, as do all
/// writes, lists and deletes (queries never write; the wrapper is registered
/// only in DataFusion's registry, not used by the persister).
#[derive(Debug)]
pub(crate) struct ChunkCachingStore {
    inner: Arc<dyn ObjectStore>,
    cache: Arc<ChunkCache>,
}

impl ChunkCachingStore {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, cache: Arc<ChunkCache>) -> Self {
        Self { inner, cache }
    }
}

impl std::fmt::Display for ChunkCachingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkCachingStore({})", self.inner)
    }
}

fn plain_range(o: &GetOptions) -> Option<Range<u64>> {
    let plain = o.if_match.is_none()
        && o.if_none_match.is_none()
        && o.if_modified_since.is_none()
        && o.if_unmodified_since.is_none()
        && o.version.is_none()
        && !o.head;
    match &o.range {
        Some(GetRange::Bounded(r)) if plain => Some(r.clone()),
        _ => None,
    }
}

fn bytes_result(bytes: Bytes, meta: ObjectMeta, range: Range<u64>) -> GetResult {
    GetResult {
        payload: GetResultPayload::Stream(Box::pin(futures::stream::once(
            async move { Ok(bytes) },
        ))),
        meta,
        range,
        attributes: Default::default(),
    }
}

#[async_trait]
impl ObjectStore for ChunkCachingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let Some(range) = plain_range(&options).filter(|r| self.cache.cacheable(r)) else {
            return self.inner.get_opts(location, options).await;
        };
        match self.cache.metas.get(location) {
            Some(meta) => {
                if let Some(bytes) = self.cache.get(location, &range) {
                    return Ok(bytes_result(bytes, meta, range));
                }
            }
            None => {
                self.cache.counters.miss();
            }
        }
        let result = self.inner.get_opts(location, options).await?;
        let meta = result.meta.clone();
        let got = result.range.clone();
        let bytes = result.bytes().await?;
        if got == range {
            self.cache.metas.insert(location.clone(), meta.clone());
            self.cache.insert(location, &range, bytes.clone());
        }
        Ok(bytes_result(bytes, meta, got))
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let mut out: Vec<Option<Bytes>> = ranges
            .iter()
            .map(|r| {
                if self.cache.cacheable(r) {
                    self.cache.get(location, r)
                } else {
                    None
                }
            })
            .collect();
        let missing: Vec<Range<u64>> = ranges
            .iter()
            .zip(&out)
            .filter(|(_, hit)| hit.is_none())
            .map(|(r, _)| r.clone())
            .collect();
        if !missing.is_empty() {
            // One call for all misses keeps the inner store's range coalescing.
            let fetched = self.inner.get_ranges(location, &missing).await?;
            let mut fetched = fetched.into_iter();
            for (slot, r) in out.iter_mut().zip(ranges) {
                if slot.is_none() {
                    let bytes = fetched.next().ok_or_else(|| object_store::Error::Generic {
                        store: "ChunkCachingStore",
                        source: "the object store returned fewer ranges than asked for".into(),
                    })?;
                    if self.cache.cacheable(r) {
                        self.cache.insert(location, r, bytes.clone());
                    }
                    *slot = Some(bytes);
                }
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Snapshot of the caches' counters, and of the point reads answered.
pub(crate) fn stats(
    metadata: &CountingMetadataCache,
    chunks: &ChunkCache,
    pages: PageCacheStats,
    point_reads: u64,
) -> CacheStats {
    let (metadata_hits, metadata_misses) = metadata.counters.get();
    let (chunk_hits, chunk_misses) = chunks.counters.get();
    CacheStats {
        metadata_hits,
        metadata_misses,
        metadata_entries: metadata.len() as u64,
        chunk_hits,
        chunk_misses,
        chunk_entries: chunks.ranges.len() as u64,
        chunk_bytes: chunks.ranges.weight(),
        chunk_capacity_bytes: chunks.capacity,
        point_reads,
        page_hits: pages.hits,
        page_misses: pages.misses,
        page_entries: pages.entries,
        page_bytes: pages.bytes,
        page_capacity_bytes: pages.capacity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    fn store(capacity: usize) -> (ChunkCachingStore, Arc<ChunkCache>) {
        let cache = Arc::new(ChunkCache::new(capacity));
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        (ChunkCachingStore::new(inner, Arc::clone(&cache)), cache)
    }

    #[tokio::test]
    async fn repeated_range_reads_hit_and_return_the_same_bytes() {
        let (s, cache) = store(1 << 20);
        let p = Path::from("db/t/f.parquet");
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        s.put(&p, PutPayload::from(data.clone())).await.unwrap();

        let a = s.get_range(&p, 100..200).await.unwrap();
        let b = s.get_range(&p, 100..200).await.unwrap();
        assert_eq!(&a[..], &data[100..200]);
        assert_eq!(a, b);
        let (hits, misses, ..) = cache.stats();
        assert_eq!((hits, misses), (1, 1));

        let got = s
            .get_ranges(&p, &[100..200, 300..400, 5000..6000])
            .await
            .unwrap();
        assert_eq!(&got[0][..], &data[100..200]);
        assert_eq!(&got[1][..], &data[300..400]);
        assert_eq!(&got[2][..], &data[5000..6000]);
        let (hits, misses, entries, ..) = cache.stats();
        assert_eq!((hits, misses, entries), (2, 3, 3));
    }

    #[tokio::test]
    async fn uncacheable_requests_pass_through_uncounted() {
        let (s, cache) = store(1 << 20);
        let p = Path::from("f");
        s.put(&p, PutPayload::from(vec![7u8; 1000])).await.unwrap();
        assert_eq!(s.get(&p).await.unwrap().bytes().await.unwrap().len(), 1000);
        assert_eq!(s.head(&p).await.unwrap().size, 1000);
        let opts = GetOptions::new().with_range(Some(GetRange::Suffix(10)));
        let tail = s.get_opts(&p, opts).await.unwrap().bytes().await.unwrap();
        assert_eq!(tail.len(), 10);
        assert_eq!(cache.stats().0 + cache.stats().1, 0);
    }

    #[tokio::test]
    async fn the_budget_bounds_what_is_held() {
        let (s, cache) = store(64 << 10);
        let p = Path::from("f");
        s.put(&p, PutPayload::from(vec![1u8; 1 << 20]))
            .await
            .unwrap();
        for i in 0..64u64 {
            let start = i * 8192;
            s.get_range(&p, start..start + 8192).await.unwrap();
        }
        let (_, _, _, held, cap) = cache.stats();
        assert!(held <= cap, "{held} > {cap}");
        // A disabled cache holds nothing and counts nothing.
        let (s, cache) = store(0);
        s.put(&p, PutPayload::from(vec![1u8; 100])).await.unwrap();
        s.get_range(&p, 0..10).await.unwrap();
        assert_eq!(cache.stats(), (0, 0, 0, 0, 0));
    }

    #[test]
    fn metadata_cache_counts_hits_and_misses() {
        use datafusion::execution::cache::cache_manager::FileMetadata;
        struct Footer;
        impl FileMetadata for Footer {
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
            fn memory_size(&self) -> usize {
                100
            }
            fn extra_info(&self) -> datafusion::common::HashMap<String, String> {
                Default::default()
            }
        }
        let c = CountingMetadataCache::new(1 << 20);
        let p = Path::from("x");
        assert!(c.get(&p).is_none());
        let meta = ObjectMeta {
            location: p.clone(),
            last_modified: chrono::Utc::now(),
            size: 10,
            e_tag: None,
            version: None,
        };
        c.put(&p, CachedFileMetadataEntry::new(meta, Arc::new(Footer)));
        assert!(c.get(&p).is_some());
        assert!(c.get(&p).is_some());
        assert_eq!(c.counters.get(), (2, 1));
    }
}
