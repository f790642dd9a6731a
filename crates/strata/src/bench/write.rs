//! `strata bench write`: the ingest load generator.
//!
//! Order of a run: resolve the target's endpoint; count the rows Strata already
//! holds (also checks the server is there); encode the pool of bodies; start the
//! clock; `--conns` tasks, each with its own keep-alive HTTP/1.1 client, take
//! request numbers from one shared counter until the run is over; merge their
//! tallies; count again and compare; print the summary.
//!
//! A request number `k` decides everything about a request (its body through
//! [`Pool::request`], and in open loop its due time `k / rate`), so connections
//! share nothing but the counter and the live totals.

use super::pool::{Compression, Pool, PoolSpec};
use super::progress::{self, Goal, Label, Live};
use super::report::{self, Latency, PoolInfo, Report, TableCount, Tally, Verify, thousands};
use super::target::{self, Count, Endpoint};
use crate::cli::{BenchFormat, BenchTarget, BenchWorkload, BenchWriteArgs};
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strata_bench::bodies::{Encoder, Encoding, Workload};

/// Run length when neither --duration nor --rows is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

pub(crate) fn run(args: BenchWriteArgs) -> Result<(), Box<dyn Error>> {
    let report = super::runtime(args.conns)?.block_on(bench(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    if report.verified == Some(false) {
        let v = report.verify.as_ref();
        return Err(format!(
            "VERIFICATION FAILED: the server holds {} rows in database {:?}, expected {} ({}){}",
            v.and_then(|v| v.found)
                .map(thousands)
                .unwrap_or_else(|| "an unknown number of".into()),
            report.db,
            v.map(|v| thousands(v.expected)).unwrap_or_default(),
            v.map(Verify::added).unwrap_or_default(),
            v.map(Verify::wrong_tables).unwrap_or_default(),
        )
        .into());
    }
    if report.requests > 0 && report.requests_ok == 0 {
        return Err(format!(
            "no request succeeded ({} errors); see errors above",
            thousands(report.errors)
        )
        .into());
    }
    Ok(())
}

/// When the run stops sending.
#[derive(Debug, Clone, Copy)]
struct Plan {
    start: Instant,
    /// Requests of a `--rows` run.
    total: Option<u64>,
    /// End of a `--duration` run.
    end: Option<Instant>,
    /// Seconds between two due times (open loop).
    period: Option<f64>,
    /// Open loop gives up on due requests once this far behind after `end`.
    give_up: Option<Instant>,
}

impl Plan {
    fn due(&self, k: u64) -> Option<Instant> {
        self.period
            .map(|p| self.start + Duration::from_secs_f64(k as f64 * p))
    }
}

async fn bench(args: &BenchWriteArgs) -> Result<Report, Box<dyn Error>> {
    let base = target::parse_base(args.url.as_deref().unwrap_or(args.target.default_url()))?;
    let db = match &args.db {
        Some(db) => db.clone(),
        None => format!(
            "bench_{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        ),
    };
    let compression = match (args.gzip, args.zstd) {
        (true, _) => Some(Compression::Gzip),
        (_, true) => Some(Compression::Zstd),
        _ => None,
    };
    if compression.is_some() && args.format == BenchFormat::Prom {
        return Err("--format prom bodies are always snappy-compressed; drop --gzip/--zstd".into());
    }
    let encoding = match args.format {
        BenchFormat::Lp => Encoding::LineProtocol,
        BenchFormat::Msgpack => Encoding::MsgpackColumnar,
        BenchFormat::Prom => Encoding::PromRemoteWrite,
    };
    let tables = encoding.tables();
    let endpoint = target::endpoint(
        args.target,
        &base,
        &db,
        args.format,
        compression.map(Compression::header),
        args.token.as_deref(),
    )?;
    let control = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    target::prepare(&control, args.target, &base, &db).await?;
    let verify = args.target == BenchTarget::Strata && !args.no_verify;
    let mut before = vec![0; tables.len()];
    if verify {
        for (n, table) in before.iter_mut().zip(&tables) {
            // Refused most often means the table does not exist yet: 0 rows.
            if let Count::Rows(rows) = target::strata_count(&control, &base, &db, table).await? {
                *n = rows;
            }
        }
    }

    let workload = match args.workload {
        BenchWorkload::TsbsCpu => Workload::TsbsCpu {
            hosts: args.hosts as usize,
        },
        BenchWorkload::NewSeries => Workload::NewSeries,
    };
    let duration = match (args.duration, args.rows) {
        (None, None) => Some(DEFAULT_DURATION),
        (d, _) => d,
    };
    eprintln!(
        "bench: encoding up to {:.0} MiB of {} bodies of {} rows...",
        args.pool_size as f64 / (1 << 20) as f64,
        args.format.name(),
        thousands(args.batch.into())
    );
    let encode_start = Instant::now();
    let spec = PoolSpec {
        encoder: Encoder::new(workload, encoding, args.seed),
        batch: args.batch as usize,
        total_rows: args.rows,
        budget: args.pool_size,
        compression,
    };
    let pool = Arc::new(tokio::task::spawn_blocking(move || Pool::build(spec)).await??);
    let pool_info = PoolInfo {
        bodies: pool.len(),
        bytes: pool.wire_bytes(),
        encode_s: encode_start.elapsed().as_secs_f64(),
    };

    let live = Arc::new(Live::default());
    let stop = super::Stop::on_ctrl_c();
    let cpu_before = super::cpu_seconds();
    let start = Instant::now();
    let plan = Plan {
        start,
        total: pool.total_requests(),
        end: duration.map(|d| start + d),
        period: args.rate.map(|r| 1.0 / r),
        give_up: match (args.rate, duration) {
            (Some(_), Some(d)) => Some(start + d + args.timeout),
            _ => None,
        },
    };
    let goal = match (args.rows, duration) {
        (Some(rows), _) => Goal::Count(rows),
        (None, Some(d)) => Goal::Time(d),
        (None, None) => Goal::Time(DEFAULT_DURATION),
    };
    let reporter = tokio::spawn(progress::report(
        Arc::clone(&live),
        start,
        goal,
        Label {
            prefix: "",
            unit: "rows",
        },
    ));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(args.conns as usize);
    for _ in 0..args.conns {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .timeout(args.timeout)
            .build()?;
        tasks.push(tokio::spawn(connection(Connection {
            client,
            endpoint: endpoint.clone(),
            pool: Arc::clone(&pool),
            plan,
            next: Arc::clone(&next),
            live: Arc::clone(&live),
            stop: Arc::clone(&stop.flag),
        })));
    }
    let mut tally = Tally::new();
    let mut unsent = 0;
    for t in tasks {
        let (part, missed) = t.await?;
        tally.merge(part);
        unsent += missed;
    }
    let elapsed = start.elapsed();
    let cpu = super::cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    live.finish();
    let _ = reporter.await;

    let verify = if verify {
        Some(check(&control, &base, &db, &tables, &before, tally.rows).await)
    } else {
        None
    };
    let secs = elapsed.as_secs_f64().max(1e-9);
    Ok(Report {
        target: args.target.name(),
        url: base.to_string(),
        db,
        workload: match args.workload {
            BenchWorkload::TsbsCpu => "tsbs-cpu",
            BenchWorkload::NewSeries => "new-series",
        },
        hosts: matches!(args.workload, BenchWorkload::TsbsCpu).then_some(args.hosts),
        format: args.format.name(),
        compression: compression
            .map(Compression::header)
            .or((args.format == BenchFormat::Prom).then_some("snappy")),
        batch: args.batch,
        conns: args.conns,
        rate: args.rate,
        duration_s: elapsed.as_secs_f64(),
        requests: tally.requests,
        requests_ok: tally.ok,
        rows: tally.rows,
        rows_sent: tally.rows_sent,
        repeated_rows: tally.repeated_rows,
        unsent,
        rows_per_s: tally.rows as f64 / secs,
        values_per_s: (tally.rows * strata_bench::tsbs::FIELD_KEYS.len() as u64) as f64 / secs,
        mb_per_s: tally.wire_bytes as f64 / 1e6 / secs,
        raw_mb_per_s: tally.raw_bytes as f64 / 1e6 / secs,
        requests_per_s: tally.ok as f64 / secs,
        latency_ms: Latency::of(&tally.latency),
        errors: tally.error_count(),
        errors_by_status: tally.errors.clone(),
        error_samples: tally.samples.clone(),
        pool: pool_info,
        client_cpu_cores: cpu.map(|c| c / secs),
        interrupted: stop.interrupted(),
        verified: verify.as_ref().map(|v| v.ok),
        verify,
    })
}

/// Counts every table again: each must hold its rows from before plus one row
/// per acknowledged row (a remote write row is one sample in each of 10
/// tables).
async fn check(
    control: &reqwest::Client,
    base: &reqwest::Url,
    db: &str,
    tables: &[String],
    before: &[u64],
    acknowledged: u64,
) -> Verify {
    let mut counts = Vec::with_capacity(tables.len());
    let (mut ok, mut error) = (true, None);
    for (table, &had) in tables.iter().zip(before) {
        let expected = had + acknowledged;
        let found = match target::strata_count(control, base, db, table).await {
            Ok(Count::Rows(n)) => Some(n),
            // Nothing written and nothing there: consistent.
            Ok(Count::Refused(e)) => {
                ok &= expected == 0;
                error = Some(e);
                None
            }
            Err(e) => {
                ok = false;
                error = Some(e);
                None
            }
        };
        ok &= found.is_none_or(|n| n == expected);
        counts.push(TableCount {
            table: table.clone(),
            before: had,
            expected,
            found,
        });
    }
    Verify {
        before: counts.iter().map(|t| t.before).sum(),
        expected: counts.iter().map(|t| t.expected).sum(),
        found: counts.iter().map(|t| t.found).sum(),
        tables: counts,
        error,
        ok,
    }
}

/// One connection's share of the run.
struct Connection {
    client: reqwest::Client,
    endpoint: Endpoint,
    pool: Arc<Pool>,
    plan: Plan,
    next: Arc<AtomicU64>,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
}

/// Sends requests until the run is over; returns the tally and, in open loop,
/// how many due requests it gave up on.
async fn connection(c: Connection) -> (Tally, u64) {
    let mut tally = Tally::new();
    loop {
        if c.stop.load(Ordering::Relaxed) {
            break;
        }
        let k = c.next.fetch_add(1, Ordering::Relaxed);
        if c.plan.total.is_some_and(|t| k >= t) {
            break;
        }
        let due = c.plan.due(k);
        if let Some(end) = c.plan.end
            && due.unwrap_or_else(Instant::now) >= end
        {
            break;
        }
        if let Some(give_up) = c.plan.give_up
            && Instant::now() >= give_up
        {
            // Every request due from k on, up to the end, is dropped.
            let missed = c.plan.end.zip(c.plan.period).map(|(end, p)| {
                let last = ((end - c.plan.start).as_secs_f64() / p).ceil() as u64;
                last.saturating_sub(k)
            });
            // Only the connection that stops the run counts them.
            let first = !c.stop.swap(true, Ordering::Relaxed);
            return (tally, if first { missed.unwrap_or(0) } else { 0 });
        }
        // Prepare the body before the clock of this request starts.
        let req = c.pool.request(k);
        let sent_at = match due {
            Some(at) => {
                tokio::time::sleep_until(at.into()).await;
                at
            }
            None => Instant::now(),
        };
        tally.requests += 1;
        tally.rows_sent += req.rows as u64;
        let wire_len = req.body.len() as u64;
        let request = c
            .client
            .post(c.endpoint.url.clone())
            .headers(c.endpoint.headers.clone())
            .body(req.body);
        let outcome = report::exchange(request).await;
        let latency = sent_at.elapsed();
        match outcome {
            Ok((status, _)) if status.is_success() => {
                tally.record_latency(latency);
                tally.ok += 1;
                tally.rows += req.rows as u64;
                if req.repeated {
                    tally.repeated_rows += req.rows as u64;
                }
                tally.wire_bytes += wire_len;
                tally.raw_bytes += req.raw_len as u64;
                c.live.done.fetch_add(req.rows as u64, Ordering::Relaxed);
            }
            failed => {
                tally.failure(failed);
                c.live.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    (tally, 0)
}
