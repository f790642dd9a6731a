use crate::format::{Encoder, Format};
use crate::{QueryError, QueryExecutor};
use datafusion::arrow::util::pretty::pretty_format_batches;
use std::sync::Arc;
use strata_model::{ColumnKind, FieldType, FieldValue, WriteBatch};
use strata_storage::catalog::CatalogLimits;
use strata_storage::{Engine, WriteOptions};

/// Rows of (host, time, value): value Some(f64) or a string field `note` when None.
fn write(engine: &Arc<Engine>, rows: &[(&str, i64, Option<f64>)]) {
    let mut b = WriteBatch::default();
    for (i, (host, t, v)) in rows.iter().enumerate() {
        let tb = b.table_mut("cpu");
        tb.begin_row(i as u32 + 1, *t);
        let h = tb.resolve_column(0, "host", ColumnKind::Tag).unwrap();
        tb.push_tag(h, host);
        match v {
            Some(v) => {
                let c = tb
                    .resolve_column(1, "usage", ColumnKind::Field(FieldType::Float))
                    .unwrap();
                tb.push_field(c, FieldValue::F64(*v));
            }
            None => {
                let c = tb
                    .resolve_column(1, "note", ColumnKind::Field(FieldType::String))
                    .unwrap();
                tb.push_field(c, FieldValue::Str("n\"ote"));
            }
        }
    }
    b.finish();
    // The in-memory engine never waits inside `write`.
    let opts = WriteOptions {
        accept_partial: true,
        no_sync: false,
    };
    let out = futures::executor::block_on(engine.write("db", b, opts)).unwrap();
    assert!(out.errors.is_empty());
}

async fn pretty(q: &QueryExecutor, sql: &str) -> String {
    let batches = q.collect("db", sql).await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test]
async fn sql_over_buffer_with_schema_evolution() {
    let engine = Arc::new(Engine::in_memory(CatalogLimits::default()));
    write(
        &engine,
        &[
            ("a", 1_000_000_000, Some(1.5)),
            ("b", 2_000_000_000, Some(2.5)),
        ],
    );
    write(&engine, &[("a", 3_000_000_000, None)]);
    let q = QueryExecutor::new(Arc::clone(&engine)).unwrap();
    let out = pretty(&q, "SELECT host, note, usage, time FROM cpu ORDER BY time").await;
    let expected = "\
+------+-------+-------+---------------------+
| host | note  | usage | time                |
+------+-------+-------+---------------------+
| a    |       | 1.5   | 1970-01-01T00:00:01 |
| b    |       | 2.5   | 1970-01-01T00:00:02 |
| a    | n\"ote |       | 1970-01-01T00:00:03 |
+------+-------+-------+---------------------+";
    assert_eq!(out, expected);
    let out = pretty(
        &q,
        "SELECT count(*) AS n FROM cpu WHERE time >= '1970-01-01T00:00:02Z'",
    )
    .await;
    assert!(out.contains("| 2 |"), "{out}");
    let out = pretty(
        &q,
        "SELECT host, sum(usage) AS s FROM cpu GROUP BY host ORDER BY host",
    )
    .await;
    assert!(out.contains("| a    | 1.5 |"), "{out}");
}

#[tokio::test]
async fn show_tables_information_schema_and_errors() {
    let engine = Arc::new(Engine::in_memory(CatalogLimits::default()));
    write(&engine, &[("a", 1, Some(1.0))]);
    let q = QueryExecutor::new(Arc::clone(&engine)).unwrap();
    let out = pretty(&q, "SHOW TABLES").await;
    assert!(
        out.contains("| public        | iox                | cpu"),
        "{out}"
    );
    let out = pretty(
        &q,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'cpu' ORDER BY column_name",
    )
    .await;
    assert!(out.contains("Dictionary(Int32, Utf8)"), "{out}");
    assert!(matches!(
        q.collect("nope", "SELECT 1").await,
        Err(QueryError::DatabaseNotFound(_))
    ));
    let err = q.collect("db", "SELECT * FROM missing").await.unwrap_err();
    assert!(matches!(err, QueryError::Plan(_)), "{err:?}");
    assert!(err.to_string().contains("missing"), "{err}");
    let err = q.collect("db", "CREATE TABLE t(a int)").await.unwrap_err();
    assert!(matches!(err, QueryError::NotAllowed(_)), "{err:?}");
    let err = q
        .collect("db", "INSERT INTO cpu (host) VALUES ('x')")
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::NotAllowed(_)), "{err:?}");
}

#[tokio::test]
async fn encoders_render_nulls_and_timestamps() {
    let engine = Arc::new(Engine::in_memory(CatalogLimits::default()));
    write(
        &engine,
        &[
            ("a", 1_500_000_000, Some(0.0)),
            ("b,c", 2_000_000_000, None),
        ],
    );
    let q = QueryExecutor::new(Arc::clone(&engine)).unwrap();
    let batches = q
        .collect(
            "db",
            "SELECT host, note, usage, time FROM cpu ORDER BY time",
        )
        .await
        .unwrap();
    let schema = batches[0].schema();
    let render = |format| {
        let mut e = Encoder::new(format, Arc::clone(&schema));
        let mut s = e.begin();
        for b in &batches {
            s.push_str(&e.batch(b).unwrap());
        }
        s.push_str(&e.end());
        s
    };
    assert_eq!(
        render(Format::Json),
        r#"[{"host":"a","note":null,"usage":0.0,"time":"1970-01-01T00:00:01.500000000Z"},{"host":"b,c","note":"n\"ote","usage":null,"time":"1970-01-01T00:00:02.000000000Z"}]"#
    );
    assert_eq!(
        render(Format::Csv),
        "host,note,usage,time\na,,0.0,1970-01-01T00:00:01.500000000Z\n\"b,c\",\"n\"\"ote\",,1970-01-01T00:00:02.000000000Z\n"
    );
    let jsonl = render(Format::JsonLines);
    assert_eq!(jsonl.lines().count(), 2);
    for line in jsonl.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

/// Encodes the whole result of `sql` as JSON.
async fn json_of(
    q: &QueryExecutor,
    sql: &str,
) -> Result<String, datafusion::arrow::error::ArrowError> {
    let batches = q.collect("db", sql).await.unwrap();
    let mut e = Encoder::new(Format::Json, batches[0].schema());
    let mut s = e.begin();
    for b in &batches {
        s.push_str(&e.batch(b)?);
    }
    s.push_str(&e.end());
    Ok(s)
}

#[tokio::test]
async fn odd_types_render_as_null_exact_floats_or_an_error() {
    let engine = Arc::new(Engine::in_memory(CatalogLimits::default()));
    write(&engine, &[("a", 1, Some(1.0))]);
    let q = QueryExecutor::new(Arc::clone(&engine)).unwrap();
    // A Null-typed column has no null buffer; it is still null, never "".
    assert_eq!(
        json_of(&q, "SELECT NULL AS n").await.unwrap(),
        r#"[{"n":null}]"#
    );
    // An f32 keeps its own shortest form.
    assert_eq!(
        json_of(&q, "SELECT CAST(0.1 AS REAL) AS r").await.unwrap(),
        r#"[{"r":0.1}]"#
    );
    // Every timestamp unit, zoned or not, is RFC 3339 UTC with nine digits.
    // (The cast reads the naive 00:00:01.5 as +02:00 local time: 22:00:01.5 UTC.)
    assert_eq!(
        json_of(
            &q,
            "SELECT to_timestamp_seconds(1) AS s, \
             arrow_cast(to_timestamp_millis(1500), 'Timestamp(Millisecond, Some(\"+02:00\"))') AS z"
        )
        .await
        .unwrap(),
        r#"[{"s":"1970-01-01T00:00:01.000000000Z","z":"1969-12-31T22:00:01.500000000Z"}]"#
    );
    // A value arrow cannot render is an error, not the text "ERROR: ..." as data.
    let err = json_of(&q, "SELECT to_timestamp_seconds(9223372036854775807) AS t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("9223372036854775807"), "{err}");
}

#[tokio::test]
async fn time_bucket_aligns_like_timescale_and_duckdb() {
    let engine = Engine::in_memory(CatalogLimits::default());
    // 2024-01-01T00:00:00Z (a Monday), +1 h 30 min, +8 days.
    let t0 = 1_704_067_200_000_000_000i64;
    let h = 3_600_000_000_000i64;
    write(
        &engine,
        &[
            ("a", t0, Some(1.0)),
            ("a", t0 + h + h / 2, Some(2.0)),
            ("a", t0 + 192 * h, Some(3.0)),
        ],
    );
    let q = QueryExecutor::new(Arc::clone(&engine)).unwrap();
    let out = pretty(
        &q,
        "SELECT time_bucket(INTERVAL '1 hour', time) AS b, count(*) AS n FROM cpu GROUP BY b ORDER BY b",
    )
    .await;
    assert!(out.contains("| 2024-01-01T00:00:00 | 1 |"), "{out}");
    assert!(out.contains("| 2024-01-01T01:00:00 | 1 |"), "{out}");
    // Weekly buckets start on Mondays (origin 2000-01-03), not on Thursdays as
    // date_bin's 1970 origin would give.
    let out = pretty(
        &q,
        "SELECT time_bucket('7 days', time) AS b, count(*) AS n FROM cpu GROUP BY b ORDER BY b",
    )
    .await;
    assert!(out.contains("| 2024-01-01T00:00:00 | 2 |"), "{out}");
    assert!(out.contains("| 2024-01-08T00:00:00 | 1 |"), "{out}");
    let out = pretty(
        &q,
        "SELECT date_bin(INTERVAL '1 hour', time) AS b FROM cpu WHERE time >= '2024-01-01T01:00:00Z' ORDER BY b LIMIT 1",
    )
    .await;
    assert!(out.contains("2024-01-01T01:00:00"), "{out}");
}

#[tokio::test]
async fn nothing_escapes_the_read_only_guard() {
    let engine = Engine::in_memory(CatalogLimits::default());
    write(&engine, &[("a", 1, Some(1.0))]);
    let q = QueryExecutor::new(Arc::clone(&engine)).unwrap();
    for sql in [
        "COPY (SELECT * FROM cpu) TO '/tmp/strata-escape.csv'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "SET datafusion.execution.batch_size = 1",
        "DROP TABLE cpu",
        "DELETE FROM cpu",
        "CREATE VIEW v AS SELECT 1",
    ] {
        let err = q.collect("db", sql).await.unwrap_err();
        assert!(matches!(err, QueryError::NotAllowed(_)), "{sql}: {err:?}");
    }
    // No table function or URL table reads files.
    for sql in [
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
    ] {
        let err = q.collect("db", sql).await.unwrap_err();
        assert!(matches!(err, QueryError::Plan(_)), "{sql}: {err:?}");
    }
    assert!(!std::path::Path::new("/tmp/strata-escape.csv").exists());
}

#[tokio::test]
async fn limits_name_the_option_that_sets_them() {
    let engine = Engine::in_memory(CatalogLimits::default());
    let rows: Vec<(String, i64)> = (0..2000).map(|i| (format!("h{}", i % 50), i)).collect();
    let rows: Vec<(&str, i64, Option<f64>)> = rows
        .iter()
        .map(|(h, t)| (h.as_str(), *t, Some(*t as f64)))
        .collect();
    write(&engine, &rows);
    let limits = crate::QueryLimits {
        max_rows: 100,
        ..crate::QueryLimits::default()
    };
    let q = QueryExecutor::with_limits(Arc::clone(&engine), limits).unwrap();
    let err = q.collect("db", "SELECT * FROM cpu").await.unwrap_err();
    assert!(err.to_string().contains("--query-max-rows"), "{err}");
    assert_eq!(
        q.collect("db", "SELECT * FROM cpu LIMIT 100")
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        100
    );
    let limits = crate::QueryLimits {
        memory_bytes: 1024,
        ..crate::QueryLimits::default()
    };
    let q = QueryExecutor::with_limits(Arc::clone(&engine), limits).unwrap();
    let err = q
        .collect(
            "db",
            "SELECT host, array_agg(usage ORDER BY time) FROM cpu GROUP BY host ORDER BY host",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--query-memory-limit"), "{err}");
}

/// (host, region, time, usage) rows; `region` None leaves the tag out.
async fn write_tagged(engine: &Arc<Engine>, rows: &[(String, Option<&'static str>, i64, f64)]) {
    let rows: Vec<last_rows::Row> = rows
        .iter()
        .map(|(h, r, t, v)| (h.clone(), *r, *t, Some(*v), None))
        .collect();
    last_rows::write(engine, &rows).await;
}

async fn persisted_engine(dir: &std::path::Path, row_group_rows: usize) -> Arc<Engine> {
    use strata_storage::persist::{LayoutConfig, PersistConfig};
    let args = strata_storage::EngineArgs {
        data_dir: dir.to_path_buf(),
        catalog_limits: CatalogLimits::default(),
        wal: strata_storage::WalOptions::default(),
        store: Arc::new(object_store::memory::InMemory::new()),
        persist: PersistConfig {
            enabled: false,
            layout: LayoutConfig {
                row_group_rows,
                ..LayoutConfig::default()
            },
            ..PersistConfig::default()
        },
    };
    Engine::open(args).await.unwrap()
}

fn plan_text(batches: &[datafusion::arrow::array::RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

/// Rows of every host at every step, hosts in a scrambled arrival order so that
/// a file sorted by arrival would not pass as sorted by host.
fn scrambled_rows(
    hosts: usize,
    steps: i64,
    t0: i64,
) -> Vec<(String, Option<&'static str>, i64, f64)> {
    let mut rows = Vec::new();
    for step in 0..steps {
        for k in 0..hosts {
            let h = (k * 17 + 5) % hosts;
            rows.push((
                format!("h{h:02}"),
                None,
                t0 + step * 1_000_000_000,
                (h * 1000) as f64 + step as f64,
            ));
        }
    }
    rows
}

#[tokio::test]
async fn persisted_files_are_declared_sorted_and_the_order_is_true() {
    let dir = tempfile::tempdir().unwrap();
    let engine = persisted_engine(dir.path(), 1000).await;
    let t0 = 1_700_000_000_000_000_000;
    write_tagged(&engine, &scrambled_rows(50, 40, t0)).await;
    engine.persist_all().await;
    // A second file written after a new tag appeared: older rows have it NULL.
    let mut later = scrambled_rows(50, 10, t0 + 100_000_000_000);
    for (i, r) in later.iter_mut().enumerate() {
        if i % 3 == 0 {
            r.1 = Some(if i % 2 == 0 { "eu" } else { "us" });
        }
    }
    write_tagged(&engine, &later).await;
    engine.persist_all().await;
    let q = QueryExecutor::new(Arc::clone(&engine)).unwrap();

    let sql = "SELECT host, region, time, usage FROM cpu ORDER BY host, region, time";
    let plan = plan_text(&q.collect("db", &format!("EXPLAIN {sql}")).await.unwrap());
    assert!(plan.contains("files=2 of 2"), "{plan}");
    assert!(
        plan.contains("output_ordering"),
        "the scan declares no order:\n{plan}"
    );
    assert!(!plan.contains("SortExec"), "files are re-sorted:\n{plan}");

    // The declared order must be the real one, or the merge returns rows out of order.
    let batches = q.collect("db", sql).await.unwrap();
    let mut got: Vec<(String, Option<String>, i64)> = Vec::new();
    for b in &batches {
        use datafusion::arrow::array::{Array, AsArray};
        use datafusion::arrow::datatypes::{DataType, TimestampNanosecondType};
        let host = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8).unwrap();
        let region = datafusion::arrow::compute::cast(b.column(1), &DataType::Utf8).unwrap();
        let host = host.as_string::<i32>();
        let region = region.as_string::<i32>();
        let time = b.column(2).as_primitive::<TimestampNanosecondType>();
        for i in 0..b.num_rows() {
            let r = (!region.is_null(i)).then(|| region.value(i).to_owned());
            got.push((host.value(i).to_owned(), r, time.value(i)));
        }
    }
    assert_eq!(got.len(), 50 * 50);
    let mut want = got.clone();
    // SQL's default for ascending order is NULLS LAST.
    want.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| match (&a.1, &b.1) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => x.cmp(y),
            })
            .then(a.2.cmp(&b.2))
    });
    assert_eq!(got, want);
}

#[tokio::test]
async fn row_groups_are_pruned_and_repeated_reads_hit_the_caches() {
    let dir = tempfile::tempdir().unwrap();
    let engine = persisted_engine(dir.path(), 500).await;
    write_tagged(&engine, &scrambled_rows(50, 100, 1_700_000_000_000_000_000)).await;
    engine.persist_all().await;
    let q = QueryExecutor::new(Arc::clone(&engine)).unwrap();
    let sql = "SELECT count(*) AS n, max(usage) AS m FROM cpu WHERE host = 'h07'";
    let plan = plan_text(
        &q.collect("db", &format!("EXPLAIN ANALYZE {sql}"))
            .await
            .unwrap(),
    );
    // "row_groups_pruned_statistics=10 total → 1 matched": only h07's group is read.
    let counts = |metric: &str| -> (u64, u64) {
        let rest = &plan[plan
            .find(metric)
            .unwrap_or_else(|| panic!("{metric}: {plan}"))..];
        let nums: Vec<u64> = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .take(2)
            .map(|s| s.parse().unwrap())
            .collect();
        (nums[0], nums[1])
    };
    let (total, matched) = counts("row_groups_pruned_statistics=");
    assert!(total >= 10 && matched == 1, "{total} -> {matched}: {plan}");
    let (pages, kept) = counts("page_index_rows_pruned=");
    assert!(kept <= pages, "{plan}");

    let before = q.cache_stats();
    let first = pretty(&q, sql).await;
    assert!(
        first.contains("| 100 | 7099.0 |") || first.contains("| 100 | 7099 |"),
        "{first}"
    );
    let mid = q.cache_stats();
    let second = pretty(&q, sql).await;
    let after = q.cache_stats();
    assert_eq!(first, second);
    assert!(
        after.metadata_hits > mid.metadata_hits,
        "{mid:?} -> {after:?}"
    );
    assert!(after.chunk_hits > mid.chunk_hits, "{mid:?} -> {after:?}");
    assert!(mid.chunk_misses >= before.chunk_misses);
    assert!(after.chunk_bytes > 0 && after.chunk_bytes <= after.chunk_capacity_bytes);
}

#[tokio::test]
async fn only_explain_plans_carry_the_scan_summary_and_each_filter_runs_once() {
    use crate::provider::DatabaseProvider;
    use crate::scan_info::ExplainScans;
    use datafusion::catalog::SchemaProvider;
    use datafusion::execution::context::SessionContext;
    use datafusion::physical_plan::displayable;
    let dir = tempfile::tempdir().unwrap();
    let engine = persisted_engine(dir.path(), 1000).await;
    let t0 = 1_700_000_000_000_000_000;
    write_tagged(&engine, &scrambled_rows(20, 10, t0)).await;
    engine.persist_all().await;

    // Files only, no buffered rows: a plain query's scan is the Parquet scan
    // alone; an EXPLAIN's adds the summary beside it.
    let db = Arc::clone(engine.catalog().snapshot().database("db").unwrap());
    let table = DatabaseProvider::new(Arc::clone(&engine), db)
        .table("cpu")
        .await
        .unwrap()
        .unwrap();
    let ctx = SessionContext::new();
    let url = datafusion::execution::object_store::ObjectStoreUrl::parse(
        crate::provider::OBJECT_STORE_URL,
    )
    .unwrap();
    ctx.register_object_store(url.as_ref(), Arc::clone(engine.object_store().unwrap()));
    let plain = table.scan(&ctx.state(), None, &[], None).await.unwrap();
    let shown = displayable(plain.as_ref()).one_line().to_string();
    assert!(
        shown.starts_with("DataSourceExec") && shown.contains("file_type=parquet"),
        "{shown}"
    );
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(ExplainScans));
    let explained = table.scan(&ctx.state(), None, &[], None).await.unwrap();
    assert_eq!(explained.name(), "UnionExec");
    assert_eq!(explained.children()[1].name(), "StrataScan");

    let q = QueryExecutor::new(Arc::clone(&engine)).unwrap();
    // t0 + 5 s: the last 5 of h07's 10 rows.
    let sql = "SELECT * FROM cpu WHERE host = 'h07' AND time >= TIMESTAMP '2023-11-14 22:13:25'";
    let plan = plan_text(&q.collect("db", &format!("EXPLAIN {sql}")).await.unwrap());
    assert!(
        plan.contains("StrataScan: table=cpu, files=1 of 1"),
        "{plan}"
    );
    // EXPLAIN ANALYZE shows the plan that runs: no summary, one filter above
    // the Parquet scan, and the scan holding the predicate once, for pruning
    // only (the decoder does not evaluate it a second time).
    let ran = plan_text(
        &q.collect("db", &format!("EXPLAIN ANALYZE {sql}"))
            .await
            .unwrap(),
    );
    assert!(!ran.contains("StrataScan"), "{ran}");
    let filters: Vec<&str> = ran.lines().filter(|l| l.contains("FilterExec")).collect();
    assert_eq!(filters.len(), 1, "{ran}");
    assert!(filters[0].contains("output_rows=5"), "{ran}");
    let scan = ran
        .lines()
        .find(|l| l.contains("DataSourceExec"))
        .unwrap_or_else(|| panic!("no Parquet scan:\n{ran}"));
    assert_eq!(scan.matches("host@0 = h07").count(), 1, "{scan}");
    // The scan hands all 200 rows of the file's one page to the filter.
    assert!(scan.contains("pushdown_rows_matched=0"), "{scan}");
    assert!(scan.contains("output_rows=200"), "{scan}");
    let rows: usize = q
        .collect("db", sql)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 5);
}

mod last_rows;
mod point;
