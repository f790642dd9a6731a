//! What the load generators count while they run ([`Tally`], one per connection,
//! merged at the end; `strata bench query` keeps one per query type and uses
//! `rows` for rows returned) and the summary `strata bench write` prints
//! ([`Report`], readable or JSON).

use bytes::Bytes;
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// A whole answer (status and body), or the transport error that stopped it.
pub(crate) type Outcome = Result<(StatusCode, Answer), reqwest::Error>;

/// An answer's body as it arrived, chunk by chunk.
#[derive(Debug, Default)]
pub(crate) struct Answer(Vec<Bytes>);

impl Answer {
    /// The body in one piece (copied only when it came in several chunks).
    pub(crate) fn into_bytes(self) -> Bytes {
        match <[Bytes; 1]>::try_from(self.0) {
            Ok([one]) => one,
            Err(chunks) => chunks.concat().into(),
        }
    }
}

/// Sends a request and reads its whole answer, so the caller's latency ends
/// with the last byte and the connection can be reused. Chunks are kept as
/// they arrive: gathering a large answer into one growing buffer cost the
/// client (on the server's cores) more than a second for a 350 MB result.
pub(crate) async fn exchange(req: reqwest::RequestBuilder) -> Outcome {
    let mut resp = req.send().await?;
    let status = resp.status();
    let mut chunks = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        chunks.push(chunk);
    }
    Ok((status, Answer(chunks)))
}

/// Highest latency the histogram tracks (larger values are clamped): one hour.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Counts of one connection (or, merged, of the run).
#[derive(Debug)]
pub(crate) struct Tally {
    /// Latency of acknowledged requests, microseconds.
    pub(crate) latency: Histogram<u64>,
    /// Requests sent (answered or failed).
    pub(crate) requests: u64,
    /// Requests answered 2xx.
    pub(crate) ok: u64,
    /// Rows in acknowledged requests.
    pub(crate) rows: u64,
    /// Rows in every request sent.
    pub(crate) rows_sent: u64,
    /// Acknowledged rows that an earlier request of the run already carried.
    pub(crate) repeated_rows: u64,
    /// Bytes of acknowledged request bodies as sent and uncompressed.
    pub(crate) wire_bytes: u64,
    pub(crate) raw_bytes: u64,
    /// Failed requests by HTTP status ("503") or transport error ("timeout",
    /// "connect", "io").
    pub(crate) errors: BTreeMap<String, u64>,
    /// The first answer of each kind of error, shortened.
    pub(crate) samples: BTreeMap<String, String>,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Self {
            // Three significant digits; bounds are valid constants.
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .unwrap_or_else(|_| unreachable!("valid histogram bounds")),
            requests: 0,
            ok: 0,
            rows: 0,
            rows_sent: 0,
            repeated_rows: 0,
            wire_bytes: 0,
            raw_bytes: 0,
            errors: BTreeMap::new(),
            samples: BTreeMap::new(),
        }
    }

    pub(crate) fn record_latency(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.latency.saturating_record(us.min(MAX_LATENCY_US));
    }

    /// A failed request: a non-2xx answer (kind: its status; sample: its body) or
    /// no answer ([`Self::transport_error`]).
    pub(crate) fn failure(&mut self, outcome: Outcome) {
        match outcome {
            Ok((status, body)) => self.error(status.as_u16().to_string(), || {
                String::from_utf8_lossy(&body.into_bytes()).into_owned()
            }),
            Err(e) => self.transport_error(&e),
        }
    }

    /// A request that got no answer: kind `timeout`, `connect` or `io`, with the
    /// error and its sources as the sample.
    pub(crate) fn transport_error(&mut self, e: &reqwest::Error) {
        let kind = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connect"
        } else {
            "io"
        };
        self.error(kind.to_owned(), || error_chain(e));
    }

    pub(crate) fn error(&mut self, kind: String, sample: impl FnOnce() -> String) {
        *self.errors.entry(kind.clone()).or_default() += 1;
        self.samples.entry(kind).or_insert_with(|| {
            let s = sample();
            let s = s.trim();
            match s.char_indices().nth(200) {
                Some((i, _)) => format!("{}...", &s[..i]),
                None => s.to_owned(),
            }
        });
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.requests += other.requests;
        self.ok += other.ok;
        self.rows += other.rows;
        self.rows_sent += other.rows_sent;
        self.repeated_rows += other.repeated_rows;
        self.wire_bytes += other.wire_bytes;
        self.raw_bytes += other.raw_bytes;
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        for (k, s) in other.samples {
            self.samples.entry(k).or_insert(s);
        }
    }

    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// An error and its sources, e.g. "error sending request: connection refused".
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Latency percentiles, milliseconds (0 when nothing was recorded).
#[derive(Debug, Serialize)]
pub(crate) struct Latency {
    pub(crate) min: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    pub(crate) p99_9: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
}

impl Latency {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            min: ms(h.min()),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// The pool of bodies.
#[derive(Debug, Serialize)]
pub(crate) struct PoolInfo {
    pub(crate) bodies: usize,
    /// Bytes held, as sent.
    pub(crate) bytes: usize,
    pub(crate) encode_s: f64,
}

/// The row count check after a Strata run.
#[derive(Debug, Serialize)]
pub(crate) struct Verify {
    /// Each table counted (one, `cpu`, except for remote write's 10).
    pub(crate) tables: Vec<TableCount>,
    /// Rows in the tables before the run (0 for a table that did not exist).
    pub(crate) before: u64,
    /// `before` plus the acknowledged rows, once per table.
    pub(crate) expected: u64,
    /// Rows the server holds in the tables after the run, when it answered.
    pub(crate) found: Option<u64>,
    /// Why `found` is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// Every table holds exactly what it should.
    pub(crate) ok: bool,
}

/// One table's part of the check.
#[derive(Debug, Serialize)]
pub(crate) struct TableCount {
    pub(crate) table: String,
    pub(crate) before: u64,
    pub(crate) expected: u64,
    /// Null when the server gave no count.
    pub(crate) found: Option<u64>,
}

impl Verify {
    /// What the acknowledged rows add: `N acknowledged`, or with several
    /// tables `N acknowledged x T tables (first..last)`.
    pub(crate) fn added(&self) -> String {
        let added = self.expected - self.before;
        match self.tables.as_slice() {
            [first, .., last] => format!(
                "{} acknowledged x {} tables {}..{}",
                thousands(added / self.tables.len() as u64),
                self.tables.len(),
                first.table,
                last.table
            ),
            _ => format!("{} acknowledged", thousands(added)),
        }
    }

    /// The tables whose count is wrong, for a failed check of several.
    pub(crate) fn wrong_tables(&self) -> String {
        if self.tables.len() < 2 {
            return String::new();
        }
        let wrong: Vec<String> = self
            .tables
            .iter()
            .filter(|t| t.found != Some(t.expected))
            .map(|t| match t.found {
                Some(n) => format!(
                    "{} holds {} of {}",
                    t.table,
                    thousands(n),
                    thousands(t.expected)
                ),
                None => format!("{} gave no count", t.table),
            })
            .collect();
        format!("; {}", wrong.join(", "))
    }
}

/// The summary of a run; also its JSON shape (`--json`).
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) target: &'static str,
    pub(crate) url: String,
    pub(crate) db: String,
    pub(crate) workload: &'static str,
    /// Hosts of tsbs-cpu; null for new-series.
    pub(crate) hosts: Option<u32>,
    pub(crate) format: &'static str,
    pub(crate) compression: Option<&'static str>,
    pub(crate) batch: u32,
    pub(crate) conns: u32,
    /// Requests per second of an open-loop run; null for closed loop.
    pub(crate) rate: Option<f64>,
    /// Wall time from the first request to the last answer.
    pub(crate) duration_s: f64,
    pub(crate) requests: u64,
    pub(crate) requests_ok: u64,
    /// Acknowledged rows.
    pub(crate) rows: u64,
    pub(crate) rows_sent: u64,
    pub(crate) repeated_rows: u64,
    /// Open loop only: requests due within --duration that were not sent because
    /// the run fell more than --timeout behind schedule.
    pub(crate) unsent: u64,
    pub(crate) rows_per_s: f64,
    /// Field values (remote write: samples) per second; a TSBS row holds 10.
    pub(crate) values_per_s: f64,
    /// Acknowledged body bytes per second as sent (10^6 bytes).
    pub(crate) mb_per_s: f64,
    /// The same, uncompressed.
    pub(crate) raw_mb_per_s: f64,
    pub(crate) requests_per_s: f64,
    pub(crate) latency_ms: Latency,
    pub(crate) errors: u64,
    pub(crate) errors_by_status: BTreeMap<String, u64>,
    pub(crate) error_samples: BTreeMap<String, String>,
    pub(crate) pool: PoolInfo,
    /// CPU the generator itself used, in cores (user + system time / duration);
    /// None where /proc is unavailable.
    pub(crate) client_cpu_cores: Option<f64>,
    pub(crate) interrupted: bool,
    pub(crate) verify: Option<Verify>,
    /// `verify.ok`; null when nothing was checked (not Strata, or --no-verify).
    pub(crate) verified: Option<bool>,
}

/// One line per kind of error: `    <prefix>    503 x 12: <first answer>`.
pub(crate) fn write_errors(
    o: &mut String,
    prefix: &str,
    counts: &BTreeMap<String, u64>,
    samples: &BTreeMap<String, String>,
) {
    for (kind, n) in counts {
        let sample = samples
            .get(kind)
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        let _ = writeln!(o, "    {prefix}{kind:>7} x {}{sample}", thousands(*n));
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Report {
    /// The readable summary.
    pub(crate) fn render(&self) -> String {
        let mut o = String::new();
        let workload = match self.hosts {
            Some(h) => format!("{} ({} hosts)", self.workload, thousands(h.into())),
            None => self.workload.to_owned(),
        };
        let compression = self
            .compression
            .map(|c| format!(" + {c}"))
            .unwrap_or_default();
        let mode = match self.rate {
            Some(r) => format!("open loop at {r} req/s"),
            None => "closed loop".to_owned(),
        };
        let _ = writeln!(
            o,
            "strata bench write: {workload}, {}{compression}, {} rows/request, {} conns, {mode}",
            self.format,
            thousands(self.batch.into()),
            self.conns
        );
        let _ = writeln!(
            o,
            "  target    {} {}  db {}",
            self.target, self.url, self.db
        );
        let _ = writeln!(
            o,
            "  pool      {} bodies, {:.1} MiB, encoded in {:.2} s",
            thousands(self.pool.bodies as u64),
            self.pool.bytes as f64 / (1 << 20) as f64,
            self.pool.encode_s
        );
        let interrupted = if self.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        let _ = writeln!(o, "  elapsed   {:.2} s{interrupted}", self.duration_s);
        let _ = writeln!(
            o,
            "  rows      {} acknowledged of {} sent: {} rows/s = {} values/s",
            thousands(self.rows),
            thousands(self.rows_sent),
            thousands(self.rows_per_s.round() as u64),
            thousands(self.values_per_s.round() as u64)
        );
        if self.repeated_rows > 0 {
            let _ = writeln!(
                o,
                "            {} of them repeat earlier rows (compressed pool resent unchanged)",
                thousands(self.repeated_rows)
            );
        }
        let raw = if self.compression.is_some() {
            format!(" ({:.1} MB/s uncompressed)", self.raw_mb_per_s)
        } else {
            String::new()
        };
        let _ = writeln!(o, "  bytes     {:.1} MB/s{raw}", self.mb_per_s);
        let _ = writeln!(
            o,
            "  requests  {} ok of {} sent: {:.1} req/s",
            thousands(self.requests_ok),
            thousands(self.requests),
            self.requests_per_s
        );
        if self.unsent > 0 {
            let _ = writeln!(
                o,
                "            {} due requests not sent: fell behind the rate by more than --timeout",
                thousands(self.unsent)
            );
        }
        let l = &self.latency_ms;
        let _ = writeln!(
            o,
            "  latency   p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
            l.p50, l.p95, l.p99, l.p99_9, l.max
        );
        if self.errors == 0 {
            let _ = writeln!(o, "  errors    none");
        } else {
            let _ = writeln!(o, "  errors    {}", thousands(self.errors));
            write_errors(&mut o, "", &self.errors_by_status, &self.error_samples);
        }
        if let Some(c) = self.client_cpu_cores {
            let _ = writeln!(o, "  generator {c:.2} cores of CPU");
        }
        match &self.verify {
            None => {}
            Some(v) if v.ok => {
                let _ = writeln!(
                    o,
                    "  verify    ok: the server holds {} rows = {} before + {}",
                    thousands(v.expected),
                    thousands(v.before),
                    v.added()
                );
            }
            Some(v) => {
                let found = match (v.found, &v.error) {
                    (Some(n), _) => format!("{} rows", thousands(n)),
                    (None, Some(e)) => format!("no count ({e})"),
                    (None, None) => "no count".to_owned(),
                };
                let _ = writeln!(
                    o,
                    "  verify    MISMATCH: the server holds {found}, expected {} ({} before + {}){}",
                    thousands(v.expected),
                    thousands(v.before),
                    v.added(),
                    v.wrong_tables()
                );
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_of_several_tables_names_the_wrong_ones() {
        let count = |table: &str, found| TableCount {
            table: table.into(),
            before: 10,
            expected: 1010,
            found,
        };
        let v = Verify {
            tables: vec![
                count("cpu_a", Some(1010)),
                count("cpu_b", Some(1009)),
                count("cpu_c", None),
            ],
            before: 30,
            expected: 3030,
            found: None,
            error: Some("gone".into()),
            ok: false,
        };
        assert_eq!(v.added(), "1,000 acknowledged x 3 tables cpu_a..cpu_c");
        assert_eq!(
            v.wrong_tables(),
            "; cpu_b holds 1,009 of 1,010, cpu_c gave no count"
        );
        let one = Verify {
            tables: vec![count("cpu", Some(1009))],
            before: 10,
            expected: 1010,
            found: Some(1009),
            error: None,
            ok: false,
        };
        assert_eq!(one.added(), "1,000 acknowledged");
        assert_eq!(one.wrong_tables(), "");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn tallies_merge_and_errors_keep_their_first_sample() {
        let mut a = Tally::new();
        a.record_latency(Duration::from_millis(2));
        a.error("503".into(), || "busy".into());
        let mut b = Tally::new();
        b.record_latency(Duration::from_millis(4));
        b.error("503".into(), || "later".into());
        b.error("timeout".into(), || "x".repeat(500));
        a.merge(b);
        assert_eq!(a.latency.len(), 2);
        assert_eq!(a.errors["503"], 2);
        assert_eq!(a.samples["503"], "busy");
        assert_eq!(a.samples["timeout"].len(), 203);
        assert_eq!(a.error_count(), 3);
        let l = Latency::of(&a.latency);
        assert!((l.max - 4.0).abs() < 0.01, "{l:?}");
    }
}
