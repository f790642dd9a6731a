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
    let q = QueryExecutor::new(Arc::clone(&engine));
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
    let q = QueryExecutor::new(Arc::clone(&engine));
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
    let q = QueryExecutor::new(Arc::clone(&engine));
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
    let q = QueryExecutor::new(Arc::clone(&engine));
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
    let q = QueryExecutor::new(Arc::clone(&engine));
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
    let q = QueryExecutor::with_limits(Arc::clone(&engine), limits);
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
    let q = QueryExecutor::with_limits(Arc::clone(&engine), limits);
    let err = q
        .collect(
            "db",
            "SELECT host, array_agg(usage ORDER BY time) FROM cpu GROUP BY host ORDER BY host",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--query-memory-limit"), "{err}");
}
