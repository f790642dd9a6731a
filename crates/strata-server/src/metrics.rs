//! Request metrics, rendered in the Prometheus text format by `/metrics`.
//!
//! Counters are keyed by (endpoint, status) in a sharded map of atomics: a request
//! touches one shard once, and concurrent writers to different keys never meet.
//! Running queries are a gauge held by a guard ([`RunningQuery`]).

use dashmap::DashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    rows: AtomicU64,
}

/// HTTP-level counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    by_status: DashMap<(&'static str, u16), Counts>,
    received: DashMap<&'static str, AtomicU64>,
    queries_running: AtomicU64,
}

/// One running query, counted by `strata_queries_running` until dropped. A
/// query's guard lives as long as its response body, so the gauge falls when
/// the last byte is sent or when the client goes away (dropping the body
/// cancels the query).
#[derive(Debug)]
pub(crate) struct RunningQuery(Arc<Metrics>);

impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.0.queries_running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a query as running until the returned guard is dropped.
    pub(crate) fn query_started(self: &Arc<Self>) -> RunningQuery {
        self.queries_running.fetch_add(1, Ordering::Relaxed);
        RunningQuery(Arc::clone(self))
    }

    /// Counts one request to `endpoint` that answered `status` and wrote `rows`.
    pub(crate) fn record(&self, endpoint: &'static str, status: u16, rows: u64) {
        let key = (endpoint, status);
        if let Some(c) = self.by_status.get(&key) {
            c.requests.fetch_add(1, Ordering::Relaxed);
            c.rows.fetch_add(rows, Ordering::Relaxed);
            return;
        }
        let c = self.by_status.entry(key).or_default();
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Counts request body bytes (as received, before decompression).
    pub(crate) fn received(&self, endpoint: &'static str, bytes: u64) {
        if let Some(c) = self.received.get(endpoint) {
            c.fetch_add(bytes, Ordering::Relaxed);
            return;
        }
        self.received
            .entry(endpoint)
            .or_default()
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// Prometheus text exposition; `databases` holds (name, buffered rows, bytes).
    pub(crate) fn render(&self, databases: &[(String, u64, u64)]) -> String {
        let mut out = String::new();
        let mut rows: Vec<_> = self
            .by_status
            .iter()
            .map(|e| {
                let (ep, st) = *e.key();
                (
                    ep,
                    st,
                    e.requests.load(Ordering::Relaxed),
                    e.rows.load(Ordering::Relaxed),
                )
            })
            .collect();
        rows.sort();
        out.push_str("# HELP strata_http_requests_total HTTP requests by endpoint and status.\n");
        out.push_str("# TYPE strata_http_requests_total counter\n");
        for (ep, st, n, _) in &rows {
            let _ = writeln!(
                out,
                "strata_http_requests_total{{endpoint=\"{ep}\",status=\"{st}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP strata_rows_written_total Rows written, by endpoint and response status.\n",
        );
        out.push_str("# TYPE strata_rows_written_total counter\n");
        for (ep, st, _, r) in &rows {
            let _ = writeln!(
                out,
                "strata_rows_written_total{{endpoint=\"{ep}\",status=\"{st}\"}} {r}"
            );
        }
        let mut recv: Vec<_> = self
            .received
            .iter()
            .map(|e| (*e.key(), e.value().load(Ordering::Relaxed)))
            .collect();
        recv.sort();
        out.push_str("# HELP strata_http_received_bytes_total Request body bytes received (before decompression).\n");
        out.push_str("# TYPE strata_http_received_bytes_total counter\n");
        for (ep, b) in recv {
            let _ = writeln!(
                out,
                "strata_http_received_bytes_total{{endpoint=\"{ep}\"}} {b}"
            );
        }
        metric(
            &mut out,
            "strata_queries_running",
            "gauge",
            "Queries planning, running or sending their result.",
            self.queries_running.load(Ordering::Relaxed),
        );
        out.push_str("# HELP strata_buffer_rows Rows held in the write buffer, by database.\n");
        out.push_str("# TYPE strata_buffer_rows gauge\n");
        for (db, r, _) in databases {
            let _ = writeln!(out, "strata_buffer_rows{{db=\"{}\"}} {r}", escape(db));
        }
        out.push_str("# HELP strata_buffer_bytes Bytes held in the write buffer, by database.\n");
        out.push_str("# TYPE strata_buffer_bytes gauge\n");
        for (db, _, b) in databases {
            let _ = writeln!(out, "strata_buffer_bytes{{db=\"{}\"}} {b}", escape(db));
        }
        out
    }
}

/// Appends one unlabelled metric.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// WAL, persistence and recovery figures of the engine.
pub(crate) fn render_engine(out: &mut String, engine: &strata_storage::Engine) {
    let total = engine.buffer().total();
    metric(
        out,
        "strata_buffer_total_bytes",
        "gauge",
        "Bytes held in the write buffer (all databases).",
        total.bytes(),
    );
    if let Some(w) = engine.wal_stats() {
        metric(
            out,
            "strata_wal_appends_total",
            "counter",
            "WAL records appended.",
            w.appends,
        );
        metric(
            out,
            "strata_wal_bytes_total",
            "counter",
            "WAL record bytes written.",
            w.bytes,
        );
        metric(
            out,
            "strata_wal_syncs_total",
            "counter",
            "WAL fdatasync calls (group commits).",
            w.syncs,
        );
        metric(
            out,
            "strata_wal_groups_total",
            "counter",
            "WAL write groups.",
            w.groups,
        );
        metric(
            out,
            "strata_wal_failures_total",
            "counter",
            "Failed WAL writes or syncs.",
            w.failures,
        );
        metric(
            out,
            "strata_wal_segments",
            "gauge",
            "WAL segment files on disk.",
            w.segments as u64,
        );
    }
    if let Some(p) = engine.persist_stats() {
        use std::sync::atomic::Ordering::Relaxed;
        metric(
            out,
            "strata_persist_files_total",
            "counter",
            "Parquet files committed.",
            p.files.load(Relaxed),
        );
        metric(
            out,
            "strata_persist_rows_total",
            "counter",
            "Rows committed to Parquet.",
            p.rows.load(Relaxed),
        );
        metric(
            out,
            "strata_persist_bytes_total",
            "counter",
            "Parquet bytes committed.",
            p.bytes.load(Relaxed),
        );
        metric(
            out,
            "strata_persist_errors_total",
            "counter",
            "Failed object store calls during persistence (each retried).",
            p.errors.load(Relaxed),
        );
        metric(
            out,
            "strata_wal_segments_removed_total",
            "counter",
            "WAL segments deleted after their rows were persisted.",
            p.wal_segments_removed.load(Relaxed),
        );
    }
    let r = engine.recovery();
    metric(
        out,
        "strata_recovery_records",
        "gauge",
        "WAL records replayed at the last start.",
        r.records,
    );
    metric(
        out,
        "strata_recovery_rows",
        "gauge",
        "Rows replayed at the last start.",
        r.rows,
    );
}

/// Label value escaping (database names are already restricted; this is defence).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Hit and miss counters of the query caches (Parquet metadata, byte ranges),
/// and the point reads that skipped planning.
pub(crate) fn render_query_caches(out: &mut String, c: &strata_query::CacheStats) {
    let rows: [(&str, &str, &str, u64); 14] = [
        (
            "strata_query_metadata_cache_hits_total",
            "counter",
            "Parquet footer/page-index lookups served from the cache.",
            c.metadata_hits,
        ),
        (
            "strata_query_metadata_cache_misses_total",
            "counter",
            "Parquet footer/page-index lookups that read the file.",
            c.metadata_misses,
        ),
        (
            "strata_query_metadata_cache_entries",
            "gauge",
            "Files whose Parquet metadata is cached.",
            c.metadata_entries,
        ),
        (
            "strata_query_chunk_cache_hits_total",
            "counter",
            "Parquet byte-range reads served from the cache.",
            c.chunk_hits,
        ),
        (
            "strata_query_chunk_cache_misses_total",
            "counter",
            "Parquet byte-range reads that went to the object store.",
            c.chunk_misses,
        ),
        (
            "strata_query_chunk_cache_entries",
            "gauge",
            "Byte ranges held by the chunk cache.",
            c.chunk_entries,
        ),
        (
            "strata_query_chunk_cache_bytes",
            "gauge",
            "Bytes held by the chunk cache.",
            c.chunk_bytes,
        ),
        (
            "strata_query_chunk_cache_capacity_bytes",
            "gauge",
            "Budget of the chunk cache (--query-chunk-cache).",
            c.chunk_capacity_bytes,
        ),
        (
            "strata_query_point_reads_total",
            "counter",
            "Queries answered by a point read, without a DataFusion plan (--no-point-reads).",
            c.point_reads,
        ),
        (
            "strata_query_page_cache_hits_total",
            "counter",
            "Point reads of a file's pages served decoded from the cache.",
            c.page_hits,
        ),
        (
            "strata_query_page_cache_misses_total",
            "counter",
            "Point reads of a file's pages that decoded them.",
            c.page_misses,
        ),
        (
            "strata_query_page_cache_entries",
            "gauge",
            "Decoded page batches held by the page cache.",
            c.page_entries,
        ),
        (
            "strata_query_page_cache_bytes",
            "gauge",
            "Bytes held by the decoded-page cache.",
            c.page_bytes,
        ),
        (
            "strata_query_page_cache_capacity_bytes",
            "gauge",
            "Budget of the decoded-page cache (--query-page-cache).",
            c.page_capacity_bytes,
        ),
    ];
    for (name, kind, help, value) in rows {
        metric(out, name, kind, help, value);
    }
}
