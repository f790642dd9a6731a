//! `strata bench query`: the query load generator.
//!
//! Order of a run: find the data range (one SQL query, unless --start, --end
//! and --hosts say it); check every type can draw its hosts; then one phase per
//! query type, in turn: `--clients` tasks, each with its own keep-alive HTTP/1.1
//! client kept for the whole run, take query numbers from one shared counter
//! until the phase is over (`--queries` taken or `--duration` passed); their
//! tallies are merged into the type's line of the summary.
//!
//! Query `k` of a type is decided by the type, `k`, the seed and the data range
//! alone ([`queries::sql`]), so clients share nothing but the counter and the
//! live totals, and `--print-queries` prints what a run sends.

use super::progress::{self, Goal, Label, Live};
use super::queries::{self, DataRange};
use super::report::{self, Latency, Tally, thousands};
use super::target::{self, Answer};
use crate::cli::{BenchQueryArgs, BenchQueryType, BenchResultFormat};
use bytes::Bytes;
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Phase length when neither --duration nor --queries is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Queries per type printed by --print-queries without --queries.
const DEFAULT_PRINTED: u64 = 100;

pub(crate) fn run(args: BenchQueryArgs) -> Result<(), Box<dyn Error>> {
    let runtime = super::runtime(args.clients)?;
    if args.print_queries {
        return runtime.block_on(print_queries(&args));
    }
    let report = runtime.block_on(bench(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    let failed: Vec<&str> = report
        .types
        .iter()
        .filter(|t| t.queries > 0 && t.ok == 0)
        .map(|t| t.name)
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "no query of {} succeeded; see errors above",
            failed.join(", ")
        )
        .into());
    }
    Ok(())
}

/// The types to run: as given (first mention wins), else all.
fn types(args: &BenchQueryArgs) -> Vec<BenchQueryType> {
    if args.query_types.is_empty() {
        return BenchQueryType::ALL.to_vec();
    }
    let mut out: Vec<BenchQueryType> = Vec::new();
    for &t in &args.query_types {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// `--print-queries`: one JSON object per line.
async fn print_queries(args: &BenchQueryArgs) -> Result<(), Box<dyn Error>> {
    let base = target::parse_base(&args.url)?;
    let control = control_client()?;
    let (range, _) = data_range(&control, &base, args).await?;
    let types = types(args);
    check_hosts(&types, &range)?;
    let n = args.queries.unwrap_or(DEFAULT_PRINTED);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for ty in types {
        for k in 0..n {
            let line = serde_json::json!({
                "type": ty.name(),
                "n": k,
                "sql": queries::sql(ty, k, args.seed, &range),
            });
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// The client of the data range query, which scans the whole table: not bound
/// by --timeout, which is for the measured queries.
fn control_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
}

/// The data range: from the options, the rest from the server. The flag says
/// whether the server was asked.
async fn data_range(
    client: &reqwest::Client,
    base: &Url,
    args: &BenchQueryArgs,
) -> Result<(DataRange, bool), Box<dyn Error>> {
    if let (Some(start_ns), Some(end_ns), Some(hosts)) = (args.start, args.end, args.hosts) {
        return Ok((check_range(start_ns, end_ns, hosts)?, false));
    }
    let sql = "SELECT CAST(min(time) AS BIGINT) AS start_ns, CAST(max(time) AS BIGINT) AS end_ns, \
               count(DISTINCT hostname) AS hosts FROM cpu";
    let rows = match target::strata_sql(client, base, &args.db, sql).await? {
        Answer::Rows(rows) => rows,
        Answer::Refused(e) => {
            return Err(format!(
                "cannot find the data range of {:?}.cpu ({e}); load it with `strata bench write --db {}` or give --start, --end and --hosts",
                args.db, args.db
            )
            .into());
        }
    };
    let row = rows.first().cloned().unwrap_or(Value::Null);
    let field = |k: &str| row.get(k).and_then(Value::as_i64);
    let (start_ns, end_ns, hosts) = match (
        args.start.or(field("start_ns")),
        args.end.or(field("end_ns")),
        args.hosts.or(field("hosts").map(|h| h.max(0) as u64)),
    ) {
        (Some(s), Some(e), Some(h)) if h > 0 => (s, e, h),
        _ => {
            return Err(format!(
                "{:?}.cpu holds no rows (answer: {row}); load it with `strata bench write --db {}`",
                args.db, args.db
            )
            .into());
        }
    };
    Ok((check_range(start_ns, end_ns, hosts)?, true))
}

fn check_range(start_ns: i64, end_ns: i64, hosts: u64) -> Result<DataRange, String> {
    if end_ns < start_ns {
        return Err(format!(
            "the data ends ({}) before it starts ({}); check --start and --end",
            rfc3339(end_ns),
            rfc3339(start_ns)
        ));
    }
    Ok(DataRange {
        start_ns,
        end_ns,
        hosts,
    })
}

/// Every type can draw its distinct hosts.
fn check_hosts(types: &[BenchQueryType], range: &DataRange) -> Result<(), String> {
    match types.iter().find(|t| t.hosts_needed() > range.hosts) {
        Some(t) => Err(format!(
            "{} needs {} hosts but the data has {}; leave it out with --query-type or load more hosts",
            t.name(),
            t.hosts_needed(),
            range.hosts
        )),
        None => Ok(()),
    }
}

fn rfc3339(ns: i64) -> String {
    queries::format_ns(ns, "%Y-%m-%dT%H:%M:%S%.fZ")
}

impl BenchResultFormat {
    fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Pretty => "pretty",
            Self::Arrow => "arrow",
        }
    }

    /// Where a query with this answer format goes, with its headers.
    fn route(self, base: &Url, db: &str) -> Result<(Url, HeaderMap), String> {
        match self {
            Self::Arrow => Ok((target::arc_arrow_url(base)?, target::arc_query_headers(db)?)),
            _ => Ok((target::query_url(base)?, target::query_headers())),
        }
    }

    /// The body of one query.
    fn body(self, db: &str, sql: &str) -> Vec<u8> {
        match self {
            Self::Arrow => target::arc_query_body(sql),
            _ => target::query_body(db, sql, self.name()),
        }
    }

    /// Rows in an answer in this format; `Err` when it cannot be read.
    fn rows(self, body: &Bytes) -> Result<u64, String> {
        let lines = || body.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        Ok(match self {
            Self::Json => serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body)
                .map_err(|e| format!("answer is not a JSON array: {e}"))?
                .len() as u64,
            Self::Jsonl => lines().count() as u64,
            // The header line; no generated value holds a newline.
            Self::Csv => (lines().count() as u64).saturating_sub(1),
            Self::Parquet => {
                use parquet::file::reader::{FileReader as _, SerializedFileReader};
                let reader = SerializedFileReader::new(body.clone())
                    .map_err(|e| format!("answer is not Parquet: {e}"))?;
                reader.metadata().file_metadata().num_rows().max(0) as u64
            }
            // Lines `| ... |`, less the header's.
            Self::Pretty => {
                (lines().filter(|l| l.starts_with(b"|")).count() as u64).saturating_sub(1)
            }
            Self::Arrow => {
                let reader = arrow::ipc::reader::StreamReader::try_new(body.as_ref(), None)
                    .map_err(|e| format!("answer is not an Arrow IPC stream: {e}"))?;
                let mut rows = 0u64;
                for batch in reader {
                    let batch =
                        batch.map_err(|e| format!("answer is not an Arrow IPC stream: {e}"))?;
                    rows += batch.num_rows() as u64;
                }
                rows
            }
        })
    }
}

async fn bench(args: &BenchQueryArgs) -> Result<Report, Box<dyn Error>> {
    let base = target::parse_base(&args.url)?;
    let control = control_client()?;
    let (range, discovered) = data_range(&control, &base, args).await?;
    let types = types(args);
    check_hosts(&types, &range)?;
    let duration = match (args.duration, args.queries) {
        (None, None) => Some(DEFAULT_DURATION),
        (d, _) => d,
    };
    let (url, headers) = args.format.route(&base, &args.db)?;
    let shared = Arc::new(Shared {
        url,
        headers,
        db: args.db.clone(),
        format: args.format,
        seed: args.seed,
        range,
    });
    let clients: Vec<reqwest::Client> = (0..args.clients)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .timeout(args.timeout)
                .build()
        })
        .collect::<Result<_, _>>()?;
    let stop = super::Stop::on_ctrl_c();
    let cpu_before = super::cpu_seconds();
    let run_start = Instant::now();
    let mut lines = Vec::with_capacity(types.len());
    for &ty in &types {
        if stop.flag.load(Ordering::Relaxed) {
            break;
        }
        let line = phase(
            ty,
            &clients,
            &shared,
            Arc::clone(&stop.flag),
            args.queries,
            duration,
        )
        .await?;
        eprintln!("bench: {}", line.one_line());
        lines.push(line);
    }
    let elapsed = run_start.elapsed().as_secs_f64().max(1e-9);
    let cpu = super::cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    Ok(Report {
        url: base.to_string(),
        db: args.db.clone(),
        format: args.format.name(),
        clients: args.clients,
        seed: args.seed,
        queries_per_type: args.queries,
        duration_per_type_s: duration.map(|d| d.as_secs_f64()),
        data: Data {
            start: rfc3339(range.start_ns),
            end: rfc3339(range.end_ns),
            hosts: range.hosts,
            discovered,
        },
        covered_all_data: types
            .iter()
            .filter(|t| t.window_exceeds(&range).is_some())
            .map(|t| t.name())
            .collect(),
        queries: lines.iter().map(|t| t.queries).sum(),
        errors: lines.iter().map(|t| t.errors).sum(),
        types: lines,
        client_cpu_cores: cpu.map(|c| c / elapsed),
        interrupted: stop.interrupted(),
    })
}

/// What every client of a run shares.
#[derive(Debug)]
struct Shared {
    url: Url,
    headers: HeaderMap,
    db: String,
    format: BenchResultFormat,
    seed: u64,
    range: DataRange,
}

/// Runs one query type on every client; returns its line of the summary.
async fn phase(
    ty: BenchQueryType,
    clients: &[reqwest::Client],
    shared: &Arc<Shared>,
    stop: Arc<AtomicBool>,
    total: Option<u64>,
    duration: Option<Duration>,
) -> Result<TypeReport, Box<dyn Error>> {
    let live = Arc::new(Live::default());
    let start = Instant::now();
    let goal = match (total, duration) {
        (Some(n), _) => Goal::Count(n),
        (None, Some(d)) => Goal::Time(d),
        (None, None) => Goal::Time(DEFAULT_DURATION),
    };
    let label = Label {
        prefix: ty.name(),
        unit: "queries",
    };
    let reporter = tokio::spawn(progress::report(Arc::clone(&live), start, goal, label));
    let next = Arc::new(AtomicU64::new(0));
    let end = duration.map(|d| start + d);
    let tasks: Vec<_> = clients
        .iter()
        .map(|client| {
            tokio::spawn(client_loop(Client {
                client: client.clone(),
                shared: Arc::clone(shared),
                ty,
                total,
                end,
                next: Arc::clone(&next),
                live: Arc::clone(&live),
                stop: Arc::clone(&stop),
            }))
        })
        .collect();
    let mut tally = Tally::new();
    for t in tasks {
        tally.merge(t.await?);
    }
    let secs = start.elapsed().as_secs_f64();
    live.finish();
    let _ = reporter.await;
    Ok(TypeReport::new(ty, &tally, secs, shared))
}

/// One client's share of a phase.
struct Client {
    client: reqwest::Client,
    shared: Arc<Shared>,
    ty: BenchQueryType,
    total: Option<u64>,
    end: Option<Instant>,
    next: Arc<AtomicU64>,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
}

/// Sends queries until the phase is over. In the tally, `rows` counts rows
/// returned.
async fn client_loop(c: Client) -> Tally {
    let mut tally = Tally::new();
    let s = &c.shared;
    loop {
        if c.stop.load(Ordering::Relaxed) || c.end.is_some_and(|end| Instant::now() >= end) {
            break;
        }
        let k = c.next.fetch_add(1, Ordering::Relaxed);
        if c.total.is_some_and(|t| k >= t) {
            break;
        }
        // The query is drawn and encoded before its clock starts.
        let sql = queries::sql(c.ty, k, s.seed, &s.range);
        let body = s.format.body(&s.db, &sql);
        let sent_at = Instant::now();
        tally.requests += 1;
        let req = c
            .client
            .post(s.url.clone())
            .headers(s.headers.clone())
            .body(body);
        let outcome = report::exchange(req).await;
        let latency = sent_at.elapsed();
        match outcome {
            Ok((status, body)) if status.is_success() => match s.format.rows(&body.into_bytes()) {
                Ok(rows) => {
                    tally.record_latency(latency);
                    tally.ok += 1;
                    tally.rows += rows;
                    c.live.done.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tally.error("bad answer".to_owned(), || e);
                    c.live.errors.fetch_add(1, Ordering::Relaxed);
                }
            },
            failed => {
                tally.failure(failed);
                c.live.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    tally
}

/// The data the queries ran over.
#[derive(Debug, Serialize)]
struct Data {
    start: String,
    end: String,
    hosts: u64,
    /// Asked from the server (else all given as options).
    discovered: bool,
}

/// One query type's line of the summary.
#[derive(Debug, Serialize)]
struct TypeReport {
    name: &'static str,
    /// Queries sent (answered or failed).
    queries: u64,
    /// Queries answered 2xx with a readable answer.
    ok: u64,
    errors: u64,
    /// Wall time of the phase, first query to last answer.
    duration_s: f64,
    /// `ok` per second of the phase.
    qps: f64,
    /// Of the successful queries.
    latency_ms: Latency,
    /// Rows returned in all.
    rows: u64,
    rows_per_query: f64,
    /// Successful queries returned no rows at all: suspicious, as every type
    /// should find rows in the generated data.
    no_rows: bool,
    errors_by_status: BTreeMap<String, u64>,
    error_samples: BTreeMap<String, String>,
    /// Query 0 of the type.
    example: String,
}

impl TypeReport {
    fn new(ty: BenchQueryType, t: &Tally, secs: f64, s: &Shared) -> Self {
        Self {
            name: ty.name(),
            queries: t.requests,
            ok: t.ok,
            errors: t.error_count(),
            duration_s: secs,
            qps: t.ok as f64 / secs.max(1e-9),
            latency_ms: Latency::of(&t.latency),
            rows: t.rows,
            rows_per_query: t.rows as f64 / t.ok.max(1) as f64,
            no_rows: t.ok > 0 && t.rows == 0,
            errors_by_status: t.errors.clone(),
            error_samples: t.samples.clone(),
            example: queries::sql(ty, 0, s.seed, &s.range),
        }
    }

    /// The line printed on stderr when the phase ends.
    fn one_line(&self) -> String {
        format!(
            "{}: {} queries, {} errors, {:.1} q/s, p50 {:.2} ms, p99 {:.2} ms, {:.1} rows/query",
            self.name,
            thousands(self.ok),
            thousands(self.errors),
            self.qps,
            self.latency_ms.p50,
            self.latency_ms.p99,
            self.rows_per_query
        )
    }
}

/// The summary of a run; also its JSON shape (`--json`).
#[derive(Debug, Serialize)]
struct Report {
    url: String,
    db: String,
    /// Answer format asked for.
    format: &'static str,
    clients: u32,
    seed: u64,
    queries_per_type: Option<u64>,
    duration_per_type_s: Option<f64>,
    data: Data,
    /// Types whose time window is longer than the data: they covered all of it.
    covered_all_data: Vec<&'static str>,
    queries: u64,
    errors: u64,
    types: Vec<TypeReport>,
    /// CPU the generator itself used, in cores; None where /proc is unavailable.
    client_cpu_cores: Option<f64>,
    interrupted: bool,
}

impl Report {
    /// The readable summary.
    fn render(&self) -> String {
        let mut o = String::new();
        let per_type = match (self.queries_per_type, self.duration_per_type_s) {
            (Some(n), Some(d)) => format!("{} queries or {d} s per type", thousands(n)),
            (Some(n), None) => format!("{} queries per type", thousands(n)),
            (None, Some(d)) => format!("{d} s per type"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            o,
            "strata bench query: TSBS devops, {} clients, {per_type}, {} answers, seed {}",
            self.clients, self.format, self.seed
        );
        let _ = writeln!(o, "  target  {}  db {}", self.url, self.db);
        let how = if self.data.discovered {
            "from the server"
        } else {
            "as given"
        };
        let _ = writeln!(
            o,
            "  data    cpu {} .. {}, {} hosts ({how})",
            self.data.start,
            self.data.end,
            thousands(self.data.hosts)
        );
        let interrupted = if self.interrupted {
            "  (interrupted)"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "\n  {:<22} {:>8} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}{interrupted}",
            "type",
            "queries",
            "errors",
            "q/s",
            "min ms",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "rows/query"
        );
        for t in &self.types {
            let l = &t.latency_ms;
            let flag = if t.no_rows { "  NO ROWS" } else { "" };
            let _ = writeln!(
                o,
                "  {:<22} {:>8} {:>6} {:>8.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>11.1}{flag}",
                t.name,
                thousands(t.ok),
                thousands(t.errors),
                t.qps,
                l.min,
                l.p50,
                l.p90,
                l.p99,
                l.max,
                t.rows_per_query
            );
        }
        o.push('\n');
        if self.errors == 0 {
            let _ = writeln!(o, "  errors    none");
        } else {
            let _ = writeln!(o, "  errors    {}", thousands(self.errors));
            for t in self.types.iter().filter(|t| t.errors > 0) {
                let prefix = format!("{} ", t.name);
                report::write_errors(&mut o, &prefix, &t.errors_by_status, &t.error_samples);
            }
        }
        for t in self.types.iter().filter(|t| t.no_rows) {
            let _ = writeln!(
                o,
                "  warning   {} returned no rows in {} queries: are the hosts named host_0 .. host_{} and the range right? e.g. {}",
                t.name,
                thousands(t.ok),
                self.data.hosts.saturating_sub(1),
                t.example
            );
        }
        if !self.covered_all_data.is_empty() {
            let _ = writeln!(
                o,
                "  note      the data spans less than the time windows of {}: those queries covered all of it",
                self.covered_all_data.join(", ")
            );
        }
        if let Some(c) = self.client_cpu_cores {
            let _ = writeln!(o, "  generator {c:.2} cores of CPU");
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_counted_in_every_format() {
        let b = |s: &str| Bytes::from(s.to_owned());
        assert_eq!(BenchResultFormat::Json.rows(&b("[]")).unwrap(), 0);
        assert_eq!(
            BenchResultFormat::Json
                .rows(&b(r#"[{"a":1,"b":[1,2]},{"a":2}]"#))
                .unwrap(),
            2
        );
        assert!(BenchResultFormat::Json.rows(&b("[{")).is_err());
        assert_eq!(
            BenchResultFormat::Jsonl
                .rows(&b("{\"a\":1}\n{\"a\":2}\n"))
                .unwrap(),
            2
        );
        assert_eq!(BenchResultFormat::Csv.rows(&b("a,b\n")).unwrap(), 0);
        assert_eq!(
            BenchResultFormat::Csv.rows(&b("a,b\n1,2\n3,4\n")).unwrap(),
            2
        );
        let pretty = "+---+\n| a |\n+---+\n| 1 |\n| 2 |\n+---+\n";
        assert_eq!(BenchResultFormat::Pretty.rows(&b(pretty)).unwrap(), 2);
        assert_eq!(
            BenchResultFormat::Pretty
                .rows(&b("+---+\n| a |\n+---+\n+---+\n"))
                .unwrap(),
            0
        );
        assert!(BenchResultFormat::Parquet.rows(&b("nope")).is_err());
        // A real file: the row count comes from its footer.
        let batch = arrow::record_batch::RecordBatch::try_from_iter([(
            "a",
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])) as _,
        )])
        .unwrap();
        let mut file = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        assert_eq!(
            BenchResultFormat::Parquet.rows(&Bytes::from(file)).unwrap(),
            3
        );
        // An IPC stream of two batches: rows of both are counted.
        let mut stream = Vec::new();
        let mut w =
            arrow::ipc::writer::StreamWriter::try_new(&mut stream, &batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.write(&batch.slice(0, 1)).unwrap();
        w.finish().unwrap();
        assert_eq!(
            BenchResultFormat::Arrow
                .rows(&Bytes::from(stream.clone()))
                .unwrap(),
            4
        );
        assert!(BenchResultFormat::Arrow.rows(&b("nope")).is_err());
        // A stream cut inside a message is an error, not a smaller count (a cut
        // at a batch boundary reads as a complete stream; the HTTP framing
        // catches that one).
        let cut = Bytes::from(stream[..stream.len() - 20].to_vec());
        assert!(BenchResultFormat::Arrow.rows(&cut).is_err());
    }
}
