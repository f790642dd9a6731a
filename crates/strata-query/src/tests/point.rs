//! Point reads answer as DataFusion does: every statement runs on an executor
//! with point reads and on one without, over files of two schemas, late rows,
//! NULLs and buffered rows, and the answers must hold the same rows.

use super::last_rows::{S, T0, rows, write};
use crate::{CacheConfig, QueryError, QueryExecutor, QueryLimits};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use object_store::ObjectStore;
use std::sync::Arc;
use strata_storage::Engine;

/// File 1: 300 hosts without `region` (the column does not exist yet), small
/// pages so the page index has something to skip. File 2: `region` for some
/// hosts, late rows older than file 1, and rows with a plain string field,
/// `state`. Then buffered rows, some newer, some with `state`.
async fn engine(dir: &std::path::Path) -> Arc<Engine> {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let engine = super::last_rows::open_with(dir, &store, Some(64)).await;
    write(&engine, &rows(300, 20, T0, None)).await;
    engine.persist_all().await;
    let mut second = rows(40, 10, T0 + 30 * S, Some("eu"));
    second.extend(rows(300, 3, T0 - 100 * S + 500, None));
    write(&engine, &second).await;
    write_states(&engine, 40, 6, T0 + 60 * S).await;
    engine.persist_all().await;
    let mut buffered = rows(5, 4, T0 + 50 * S + 700, Some("us"));
    buffered.extend(rows(300, 1, T0 + 10 * S + 900, None));
    write(&engine, &buffered).await;
    write_states(&engine, 8, 2, T0 + 70 * S).await;
    engine
}

/// Rows of `hosts` hosts, `steps` seconds apart from `t0`, with only the
/// string field `state`: `ok`, `warn` or (every seventh row) none.
async fn write_states(engine: &Arc<Engine>, hosts: usize, steps: i64, t0: i64) {
    use strata_model::{ColumnKind, FieldType, FieldValue, WriteBatch};
    let mut b = WriteBatch::default();
    for step in 0..steps {
        for h in 0..hosts {
            let n = step as usize * hosts + h;
            let tb = b.table_mut("cpu");
            tb.begin_row(n as u32 + 1, t0 + step * S + h as i64);
            let c = tb.resolve_column(0, "host", ColumnKind::Tag).unwrap();
            tb.push_tag(c, &format!("h{h:02}"));
            if !n.is_multiple_of(7) {
                let c = tb
                    .resolve_column(1, "state", ColumnKind::Field(FieldType::String))
                    .unwrap();
                tb.push_field(
                    c,
                    FieldValue::Str(if n.is_multiple_of(3) { "warn" } else { "ok" }),
                );
            }
        }
    }
    b.finish();
    let opts = strata_storage::WriteOptions {
        accept_partial: true,
        no_sync: false,
    };
    let out = engine.write("db", b, opts).await.unwrap();
    assert!(out.errors.is_empty());
}

/// The rows of an answer, one string each, sorted: DataFusion leaves the order
/// of unsorted results open.
fn rows_of(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| array_value_to_string(c, i).unwrap_or_default())
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

fn ts(offset_s: i64) -> String {
    let t = T0 + offset_s * S;
    chrono::DateTime::from_timestamp_nanos(t)
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

/// Statements of the point shape; `{N}` is the timestamp `N` seconds after T0.
const POINT: &[&str] = &[
    "SELECT * FROM cpu WHERE host = 'h07'",
    "SELECT * FROM cpu WHERE host = 'h07' AND time >= '{5}'",
    "SELECT * FROM cpu WHERE host = 'h250' AND time >= '{5}' AND time < '{12}'",
    "SELECT * FROM cpu WHERE time > '{-200}' AND host = 'h01'",
    "SELECT usage, time FROM cpu WHERE host = 'h03' AND '{15}' >= time",
    "SELECT idle, host, region FROM cpu WHERE host = 'h10' AND region = 'eu'",
    "SELECT * FROM cpu WHERE region = 'us' AND time BETWEEN '{0}' AND '{100}'",
    "SELECT * FROM cpu WHERE host = 'h02' AND region = 'eu' AND time > '{35}'",
    "SELECT * FROM cpu WHERE (host = 'h299') AND (time <= '{19}' AND time >= '{-99}')",
    "SELECT * FROM cpu WHERE host = 'h123' AND time = '{7}'",
    "SELECT * FROM cpu WHERE host = 'nobody'",
    // h00's times are whole seconds after T0: the bounds themselves.
    "SELECT * FROM cpu WHERE host = 'h00' AND time = '{7}'",
    "SELECT * FROM cpu WHERE host = 'h00' AND time > '{5}' AND time < '{9}'",
    "SELECT * FROM cpu WHERE host = 'h00' AND time >= '{5}' AND time <= '{9}'",
    "SELECT * FROM cpu WHERE host = 'h00' AND '{5}' < time AND '{9}' >= time",
    "SELECT * FROM cpu WHERE host = 'h05' AND time > '{1000}'",
    "SELECT * FROM cpu WHERE host = 'h05' AND time > '{10}' AND time < '{5}'",
    "SELECT * FROM cpu WHERE host = 'h05' AND region = 'nowhere'",
    "SELECT time, usage FROM cpu WHERE host = 'h04' ORDER BY time DESC LIMIT 7",
    "SELECT * FROM cpu WHERE host = 'h04' ORDER BY time LIMIT 3",
    "SELECT * FROM cpu WHERE host = 'h04' ORDER BY time DESC",
    "SELECT host FROM cpu WHERE host = 'h04' LIMIT 2",
    "SELECT * FROM cpu WHERE host = 'h04' LIMIT 0",
    "SELECT * FROM cpu WHERE host = 'h04' AND time >= '2023-11-14T22:13:20+00:00'",
    "SELECT * FROM cpu WHERE host = 'h04' AND time >= '2023-11-14T23:13:25+01:00'",
    "SELECT * FROM cpu WHERE host = 'h04' AND time < '2023-11-15'",
    "SELECT * FROM cpu WHERE host = 'h00' AND time >= TIMESTAMP '2023-11-14 22:13:25' \
     AND time < TIMESTAMP(9) '2023-11-14T22:13:29'",
    // A plain string field, not a tag: absent from file 1, NULL in some rows.
    "SELECT * FROM cpu WHERE state = 'warn'",
    "SELECT host, state, time FROM cpu WHERE host = 'h03' AND state = 'ok'",
    "SELECT * FROM cpu WHERE state = 'ok' AND time >= '{62}' ORDER BY time DESC LIMIT 9",
    "SELECT * FROM cpu WHERE state = 'gone'",
    "SELECT state FROM cpu WHERE host = 'h05' AND state = 'warn' AND time < '{71}'",
];

/// Statements DataFusion must answer: another shape, or names the point read
/// leaves to it (both executors must agree, errors included).
const FALLBACK: &[&str] = &[
    "SELECT * FROM cpu WHERE host = 'h04' AND usage > 1",
    "SELECT host FROM cpu WHERE host = 'h04' ORDER BY time",
    "SELECT nope FROM cpu WHERE host = 'h04'",
    "SELECT * FROM cpu WHERE nope = 'h04'",
    "SELECT * FROM cpu WHERE idle = '3'",
    "SELECT * FROM nope WHERE host = 'h04'",
    "SELECT * FROM cpu WHERE host = 'h04' AND time > 'yesterday'",
    "SELECT * FROM cpu WHERE host = 'h04' AND time > TIMESTAMP 'yesterday'",
    "SELECT * FROM cpu WHERE host = 'h00' AND time > TIMESTAMP(0) '2023-11-14 22:13:25'",
];

fn statement(template: &str) -> String {
    let mut out = template.to_owned();
    while let Some(start) = out.find('{') {
        let end = start + out[start..].find('}').unwrap_or(0);
        let n: i64 = out[start + 1..end].parse().unwrap();
        out.replace_range(start..=end, &ts(n));
    }
    out
}

async fn answer(q: &QueryExecutor, sql: &str) -> Result<(Vec<String>, Vec<String>), String> {
    match q.collect("db", sql).await {
        Ok(batches) => {
            let names = batches
                .first()
                .map(|b| {
                    b.schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect()
                })
                .unwrap_or_default();
            Ok((names, rows_of(&batches)))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn executors(engine: &Arc<Engine>) -> (QueryExecutor, QueryExecutor) {
    let fast = QueryExecutor::new(Arc::clone(engine)).unwrap();
    let planned = QueryExecutor::with_config(
        Arc::clone(engine),
        QueryLimits::default(),
        CacheConfig {
            point_reads: false,
            ..CacheConfig::default()
        },
    )
    .unwrap();
    (fast, planned)
}

#[tokio::test]
async fn point_reads_answer_as_datafusion_does() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let (fast, planned) = executors(&engine);
    let mut nonempty = 0;
    for (i, template) in POINT.iter().enumerate() {
        let sql = statement(template);
        let before = fast.cache_stats().point_reads;
        let got = answer(&fast, &sql).await;
        assert_eq!(
            fast.cache_stats().point_reads,
            before + 1,
            "not a point read: {sql}"
        );
        let want = answer(&planned, &sql).await;
        assert_eq!(planned.cache_stats().point_reads, 0);
        let want = want.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let got = got.unwrap_or_else(|e| panic!("{sql}: {e}"));
        // Again, from the decoded pages the first read left in the cache.
        let again = answer(&fast, &sql).await.unwrap();
        assert_eq!(again, got, "from the page cache: {sql}");
        // An empty answer has no batch to name its columns by.
        if !want.1.is_empty() {
            assert_eq!(got.0, want.0, "{sql}");
            nonempty += 1;
        }
        assert_eq!(got.1, want.1, "statement {i}: {sql}");
    }
    assert!(nonempty >= 15, "too few statements find rows: {nonempty}");
    let stats = fast.cache_stats();
    assert!(
        stats.page_hits >= nonempty && stats.page_misses > 0,
        "{stats:?}"
    );
    // The ordered ones keep DataFusion's order too (times are unique).
    for template in POINT.iter().filter(|t| t.contains("ORDER BY")) {
        let sql = statement(template);
        let got = fast.collect("db", &sql).await.unwrap();
        let want = planned.collect("db", &sql).await.unwrap();
        let show = |b: &[RecordBatch]| {
            datafusion::arrow::util::pretty::pretty_format_batches(b)
                .unwrap()
                .to_string()
        };
        assert_eq!(show(&got), show(&want), "{sql}");
    }
    for sql in FALLBACK {
        let before = fast.cache_stats().point_reads;
        let got = answer(&fast, sql).await;
        assert_eq!(fast.cache_stats().point_reads, before, "{sql}");
        assert_eq!(got, answer(&planned, sql).await, "{sql}");
    }
}

/// The rows of an `EXPLAIN` answer: (plan_type, plan).
async fn explained(q: &QueryExecutor, sql: &str) -> Vec<(String, String)> {
    let batches = q.collect("db", &format!("EXPLAIN {sql}")).await.unwrap();
    let mut out = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let cell = |c: usize| array_value_to_string(b.column(c), i).unwrap();
            out.push((cell(0), cell(1)));
        }
    }
    out
}

#[tokio::test]
async fn explain_shows_the_point_read_before_the_fallback_plans() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let (fast, planned) = executors(&engine);
    let sql = statement(
        "SELECT time, usage FROM cpu WHERE host = 'h04' AND time >= '{3}' ORDER BY time DESC LIMIT 7",
    );
    let rows = explained(&fast, &sql).await;
    let kinds: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["point_read", "logical_plan", "physical_plan"]);
    let text = &rows[0].1;
    for part in [
        "PointRead: table=cpu, columns=[time, usage]",
        &format!("filter=host = 'h04' AND time >= '{}'", ts(3)),
        "order=time DESC, limit=7",
        "more than 262144 rows",
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
    assert_eq!(rows[1..], explained(&planned, &sql).await[..]);
    // Explaining reads nothing; the statement itself is then a point read.
    assert_eq!(fast.cache_stats().point_reads, 0);
    fast.collect("db", &sql).await.unwrap();
    assert_eq!(fast.cache_stats().point_reads, 1);

    let quote = explained(&fast, "SELECT * FROM cpu WHERE host = 'it''s'").await;
    assert!(quote[0].1.contains("filter=host = 'it''s'"), "{quote:?}");
    // Not served by a point read: DataFusion's plans alone.
    for sql in [
        "SELECT * FROM cpu WHERE host = 'h04' AND usage > 1",
        "SELECT * FROM cpu WHERE idle = '3'",
    ] {
        let rows = explained(&fast, sql).await;
        assert!(rows.iter().all(|(k, _)| k != "point_read"), "{sql}");
    }
    let analyzed = fast
        .collect("db", "EXPLAIN ANALYZE SELECT * FROM cpu WHERE host = 'h04'")
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&analyzed)
        .unwrap()
        .to_string();
    assert!(
        !text.contains("point_read") && !text.contains("PointRead"),
        "{text}"
    );
}

/// Column names and rows of `sql` on Arc's route, whose bare table names are
/// `db`'s; rows sorted unless the statement orders them.
async fn arc_answer(q: &QueryExecutor, sql: &str) -> (Vec<String>, Vec<String>) {
    use futures::TryStreamExt;
    let answer = q.sql_in_databases("db", sql).await.unwrap();
    let names = answer
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let batches: Vec<RecordBatch> = answer.stream.try_collect().await.unwrap();
    let rows = if sql.contains("ORDER BY") {
        let show = datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap();
        show.to_string().lines().map(str::to_owned).collect()
    } else {
        rows_of(&batches)
    };
    (names, rows)
}

#[tokio::test]
async fn arcs_route_serves_point_reads_too() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let (fast, planned) = executors(&engine);
    for (i, template) in POINT.iter().enumerate() {
        let sql = statement(template);
        assert_eq!(
            arc_answer(&fast, &sql).await,
            arc_answer(&planned, &sql).await,
            "{sql}"
        );
        assert_eq!(fast.cache_stats().point_reads, i as u64 + 1, "{sql}");
    }
    // A name with a database is DataFusion's, as is an unknown default.
    let named = "SELECT * FROM db.cpu WHERE host = 'h07'";
    assert_eq!(
        arc_answer(&fast, named).await,
        arc_answer(&planned, named).await
    );
    let missing = fast
        .sql_in_databases("nope", "SELECT * FROM cpu WHERE host = 'h07'")
        .await
        .unwrap_err();
    assert!(
        matches!(missing, QueryError::DatabaseNotFound(_)),
        "{missing:?}"
    );
    assert_eq!(fast.cache_stats().point_reads, POINT.len() as u64);

    let (_, explained) = arc_answer(&fast, "EXPLAIN SELECT * FROM cpu WHERE host = 'h07'").await;
    assert!(
        explained
            .iter()
            .any(|r| r.starts_with("point_read|PointRead: table=cpu")),
        "{explained:?}"
    );
}

#[tokio::test]
async fn a_read_past_the_row_cap_goes_to_datafusion() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let (mut fast, planned) = executors(&engine);
    // A host's rows fit in a few 64-row pages (at most 2 per file, 257 rows
    // with the buffer); the 40 hosts that have region `eu` span 9 or more
    // pages of file 2.
    fast.set_point_read_max_rows(400);
    let small = statement("SELECT * FROM cpu WHERE host = 'h11' AND time >= '{-200}'");
    let big = "SELECT * FROM cpu WHERE region = 'eu'";
    let got = answer(&fast, &small).await.unwrap();
    assert_eq!(got, answer(&planned, &small).await.unwrap());
    assert_eq!(fast.cache_stats().point_reads, 1);
    let got = answer(&fast, big).await.unwrap();
    assert_eq!(fast.cache_stats().point_reads, 1, "served past the cap");
    assert_eq!(got, answer(&planned, big).await.unwrap());
    assert_eq!(got.1.len(), 400);
}

#[tokio::test]
async fn point_reads_obey_the_row_limit() {
    let engine = Arc::new(Engine::in_memory(
        strata_storage::catalog::CatalogLimits::default(),
    ));
    write(&engine, &rows(3, 50, T0, None)).await;
    let limits = QueryLimits {
        max_rows: 10,
        ..QueryLimits::default()
    };
    let q = QueryExecutor::with_limits(Arc::clone(&engine), limits).unwrap();
    let err = q
        .collect("db", "SELECT * FROM cpu WHERE host = 'h01'")
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Execution(_)), "{err:?}");
    assert!(err.to_string().contains("--query-max-rows"), "{err}");
    assert_eq!(q.cache_stats().point_reads, 1);
    let ok = q
        .collect("db", "SELECT * FROM cpu WHERE host = 'h01' LIMIT 10")
        .await
        .unwrap();
    assert_eq!(ok.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
}
