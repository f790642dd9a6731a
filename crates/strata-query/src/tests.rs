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
