//! The SQL API: parameters, formats, catalog queries.

use crate::harness::{Server, error_body};
use serde_json::json;

fn load(s: &Server) {
    let lp = "cpu,host=a usage=1.0 1000000000\ncpu,host=b usage=2.0 2000000000\ncpu,host=a usage=3.0 3000000000\nmem,host=a free=10i 1000000000\n";
    assert_eq!(s.post("/api/v3/write_lp?db=q&precision=ns", lp).0, 204);
}

#[test]
fn formats_and_post_body() {
    let s = Server::start();
    load(&s);
    let q = "SELECT host, usage, time FROM cpu WHERE time > '1970-01-01T00:00:01Z' ORDER BY time";
    let (st, csv) = s.sql_raw("q", q, "csv");
    assert_eq!(st, 200);
    assert_eq!(
        csv,
        "host,usage,time\nb,2.0,1970-01-01T00:00:02.000000000Z\na,3.0,1970-01-01T00:00:03.000000000Z\n"
    );
    let (st, jsonl) = s.sql_raw("q", q, "jsonl");
    assert_eq!(st, 200);
    assert_eq!(jsonl.lines().count(), 2);
    let r = s
        .client
        .post(s.url("/api/v3/query_sql"))
        .json(&json!({"db": "q", "q": "SELECT host, max(usage) AS m FROM cpu GROUP BY host ORDER BY host"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v, json!([{"host": "a", "m": 3.0}, {"host": "b", "m": 2.0}]));
    let (st, empty) = s.sql_raw("q", "SELECT * FROM cpu WHERE host = 'zzz'", "json");
    assert_eq!((st, empty.as_str()), (200, "[]"));
}

#[test]
fn show_tables_and_information_schema() {
    let s = Server::start();
    load(&s);
    let rows = s.sql("q", "SHOW TABLES");
    let names: Vec<&str> = rows
        .iter()
        .filter(|r| r["table_schema"] == "iox")
        .map(|r| r["table_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"cpu") && names.contains(&"mem"), "{rows:?}");
    let cols = s.sql(
        "q",
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'mem' ORDER BY column_name",
    );
    assert_eq!(
        serde_json::Value::Array(cols),
        json!([
            {"column_name": "free", "data_type": "Int64"},
            {"column_name": "host", "data_type": "Dictionary(Int32, Utf8)"},
            {"column_name": "time", "data_type": "Timestamp(ns)"},
        ])
    );
}

#[test]
fn many_rows_stream_in_batches() {
    let s = Server::start();
    let lp: String = (0..50_000)
        .map(|i| format!("big,k=k{} v={i}i {i}\n", i % 7))
        .collect();
    assert_eq!(s.post("/api/v3/write_lp?db=big&precision=ns", lp).0, 204);
    let (st, body) = s.sql_raw("big", "SELECT v FROM big ORDER BY v", "jsonl");
    assert_eq!(st, 200);
    let n = body.lines().count();
    assert_eq!(n, 50_000);
    let last: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["v"], 49_999);
}

/// GETs the SQL endpoint with `query` and an optional `Accept`; returns status,
/// content type and body bytes.
fn get(s: &Server, query: &[(&str, &str)], accept: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut req = s.client.get(s.url("/api/v3/query_sql")).query(query);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = req.send().expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.bytes().expect("body").to_vec())
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).expect("utf-8 body")
}

fn parquet_batches(body: Vec<u8>) -> Vec<arrow::record_batch::RecordBatch> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(body))
        .expect("a Parquet file")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

const ORDERED: &str = "SELECT host, usage, time FROM cpu ORDER BY time";

#[test]
fn every_format_by_parameter_and_by_accept() {
    let s = Server::start();
    load(&s);
    let cases = [
        ("json", "application/json", "application/json"),
        ("jsonl", "application/jsonl", "application/jsonl"),
        ("jsonl", "application/x-ndjson", "application/jsonl"),
        ("csv", "text/csv", "text/csv; charset=utf-8"),
        (
            "parquet",
            "application/vnd.apache.parquet",
            "application/vnd.apache.parquet",
        ),
        ("pretty", "text/plain", "text/plain; charset=utf-8"),
        // Wildcards, parameters and q-values.
        ("json", "*/*", "application/json"),
        (
            "parquet",
            "text/csv;q=0.5, application/vnd.apache.parquet",
            "application/vnd.apache.parquet",
        ),
        (
            "csv",
            "text/html, text/csv; charset=utf-8",
            "text/csv; charset=utf-8",
        ),
        (
            "json",
            "application/xml, application/json;q=0.1",
            "application/json",
        ),
    ];
    for (format, accept, ct) in cases {
        let by_param = get(&s, &[("db", "q"), ("q", ORDERED), ("format", format)], None);
        let by_accept = get(&s, &[("db", "q"), ("q", ORDERED)], Some(accept));
        assert_eq!(
            (by_param.0, by_param.1.as_str()),
            (200, ct),
            "format={format}"
        );
        assert_eq!(
            (by_accept.0, by_accept.1.as_str()),
            (200, ct),
            "Accept: {accept}"
        );
        if format == "parquet" {
            // Same rows; the bytes may differ only if the writer were not
            // deterministic, so compare decoded rows.
            assert_eq!(
                parquet_batches(by_param.2.clone()),
                parquet_batches(by_accept.2)
            );
        } else {
            assert_eq!(
                by_param.2, by_accept.2,
                "format={format} vs Accept: {accept}"
            );
        }
    }
    // Absent Accept: JSON.
    let (st, ct, body) = get(&s, &[("db", "q"), ("q", ORDERED)], None);
    assert_eq!((st, ct.as_str()), (200, "application/json"));
    let rows: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        rows[0],
        json!({"host": "a", "usage": 1.0, "time": "1970-01-01T00:00:01.000000000Z"})
    );
    assert_eq!(rows.as_array().unwrap().len(), 3);

    let fetch = |format| get(&s, &[("db", "q"), ("q", ORDERED), ("format", format)], None).2;
    let jsonl = fetch("jsonl");
    let lines: Vec<serde_json::Value> = text(&jsonl)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[2],
        json!({"host": "a", "usage": 3.0, "time": "1970-01-01T00:00:03.000000000Z"})
    );

    let csv = fetch("csv");
    let csv: Vec<&str> = text(&csv).lines().collect();
    assert_eq!(
        csv,
        [
            "host,usage,time",
            "a,1.0,1970-01-01T00:00:01.000000000Z",
            "b,2.0,1970-01-01T00:00:02.000000000Z",
            "a,3.0,1970-01-01T00:00:03.000000000Z"
        ]
    );

    let pretty = fetch("pretty");
    assert_eq!(
        text(&pretty),
        "\
+------+-------+--------------------------------+
| host | usage | time                           |
+------+-------+--------------------------------+
| a    | 1.0   | 1970-01-01T00:00:01.000000000Z |
| b    | 2.0   | 1970-01-01T00:00:02.000000000Z |
| a    | 3.0   | 1970-01-01T00:00:03.000000000Z |
+------+-------+--------------------------------+
"
    );

    let pq = fetch("parquet");
    assert!(pq.starts_with(b"PAR1") && pq.ends_with(b"PAR1"));
    let batches = parquet_batches(pq);
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["host", "usage", "time"]);
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampNanosecondType};
    assert_eq!(
        batch
            .column(1)
            .as_primitive::<Float64Type>()
            .values()
            .to_vec(),
        [1.0, 2.0, 3.0]
    );
    assert!(matches!(
        batch.column(2).data_type(),
        DataType::Timestamp(TimeUnit::Nanosecond, _)
    ));
    assert_eq!(
        batch
            .column(2)
            .as_primitive::<TimestampNanosecondType>()
            .value(0),
        1_000_000_000
    );
    let host = arrow::compute::cast(batch.column(0), &DataType::Utf8).unwrap();
    let host = host.as_string::<i32>();
    assert_eq!((host.value(0), host.value(1), host.len()), ("a", "b", 3));
}

#[test]
fn buffered_formats_with_no_rows_and_nulls() {
    let s = Server::start();
    load(&s);
    assert_eq!(
        s.post(
            "/api/v3/write_lp?db=q&precision=ns",
            "cpu,host=c note=\"x\" 4000000000\n"
        )
        .0,
        204
    );
    let q = "SELECT host, usage FROM cpu WHERE host = 'zzz'";
    let (st, _, pq) = get(&s, &[("db", "q"), ("q", q), ("format", "parquet")], None);
    assert_eq!(st, 200);
    let rows: usize = parquet_batches(pq).iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 0);
    let (st, _, pretty) = get(&s, &[("db", "q"), ("q", q), ("format", "pretty")], None);
    assert_eq!(st, 200);
    assert_eq!(
        text(&pretty),
        "+------+-------+\n| host | usage |\n+------+-------+\n+------+-------+\n"
    );
    // NULL usage for host c: null in JSON, empty in pretty, null in Parquet.
    let q = "SELECT host, usage FROM cpu WHERE host = 'c'";
    assert_eq!(s.sql("q", q), [json!({"host": "c", "usage": null})]);
    let (_, _, pretty) = get(&s, &[("db", "q"), ("q", q), ("format", "pretty")], None);
    assert!(
        text(&pretty).contains("| c    |       |"),
        "{}",
        text(&pretty)
    );
    let (_, _, pq) = get(&s, &[("db", "q"), ("q", q), ("format", "parquet")], None);
    let batches = parquet_batches(pq);
    assert_eq!(batches[0].column(1).null_count(), 1);
}

#[test]
fn unknown_format_is_400_and_unacceptable_accept_is_406() {
    let s = Server::start();
    load(&s);
    let (st, ct, body) = get(&s, &[("db", "q"), ("q", ORDERED), ("format", "xml")], None);
    assert_eq!((st, ct.as_str()), (400, "application/json"));
    let e = error_body(text(&body));
    assert_eq!(e["code"], "invalid");
    let msg = e["error"].as_str().unwrap();
    for f in ["json", "jsonl", "csv", "parquet", "pretty"] {
        assert!(msg.contains(f), "{msg}");
    }
    let (st, ct, body) = get(
        &s,
        &[("db", "q"), ("q", ORDERED)],
        Some("application/xml, text/html"),
    );
    assert_eq!((st, ct.as_str()), (406, "application/json"));
    let e = error_body(text(&body));
    assert_eq!(e["code"], "not acceptable");
    assert_eq!(e["error"], e["message"]);
    let msg = e["error"].as_str().unwrap();
    for t in [
        "application/json",
        "application/jsonl",
        "text/csv",
        "application/vnd.apache.parquet",
        "text/plain",
    ] {
        assert!(msg.contains(t), "{msg}");
    }
    // q=0 refuses a type.
    let (st, _, _) = get(
        &s,
        &[("db", "q"), ("q", ORDERED)],
        Some("application/json;q=0"),
    );
    assert_eq!(st, 406);
    // An explicit format wins over Accept.
    let (st, ct, _) = get(
        &s,
        &[("db", "q"), ("q", ORDERED), ("format", "csv")],
        Some("application/xml"),
    );
    assert_eq!((st, ct.as_str()), (200, "text/csv; charset=utf-8"));
}

#[test]
fn params_are_bound_in_get_and_post() {
    let s = Server::start();
    load(&s);
    let q = "SELECT usage FROM cpu WHERE host = $host AND usage > $min ORDER BY time";
    let (st, _, body) = get(
        &s,
        &[
            ("db", "q"),
            ("q", q),
            ("params", r#"{"host":"a","min":1.5}"#),
        ],
        None,
    );
    assert_eq!(st, 200, "{}", text(&body));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        json!([{"usage": 3.0}])
    );
    let post = |body: serde_json::Value| {
        let r = s
            .client
            .post(s.url("/api/v3/query_sql"))
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (st, body) = post(json!({"db": "q", "q": q, "params": {"host": "b", "min": 0}}));
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!([{"usage": 2.0}])
    );
    // A value with quotes is a value, not SQL: it matches no host, and comes back intact.
    let (st, body) = post(json!({"db": "q", "q": q, "params": {"host": "a' OR '1'='1", "min": 0}}));
    assert_eq!((st, body.as_str()), (200, "[]"));
    let (st, body) = post(json!({
        "db": "q",
        "q": "SELECT $s AS s, $n + 1 AS n, $f AS f, $b AS b",
        "params": {"s": "it's \"quoted\"; DROP TABLE cpu; --", "n": 41, "f": 0.5, "b": true},
    }));
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!([{"s": "it's \"quoted\"; DROP TABLE cpu; --", "n": 42, "f": 0.5, "b": true}])
    );
    assert_eq!(s.count("q", "cpu"), 3);
    // Params work with every format, and with Accept.
    let (st, ct, body) = get(
        &s,
        &[
            ("db", "q"),
            ("q", "SELECT host FROM cpu WHERE host = $h LIMIT 1"),
            ("params", r#"{"h":"b"}"#),
        ],
        Some("text/csv"),
    );
    assert_eq!(
        (st, ct.as_str(), text(&body)),
        (200, "text/csv; charset=utf-8", "host\nb\n")
    );
}

#[test]
fn missing_or_malformed_params_are_400() {
    let s = Server::start();
    load(&s);
    let q = "SELECT usage FROM cpu WHERE host = $host";
    let cases: [(Option<&str>, &str); 5] = [
        (Some(r#"{"other":"a"}"#), "$host"),
        (None, "$host"),
        (Some(r#"{"host":"a""#), "not valid JSON"),
        (Some(r#"{"host":["a"]}"#), "is an array"),
        (Some(r#""a""#), "must be a JSON object"),
    ];
    for (params, expected) in cases {
        let mut query = vec![("db", "q"), ("q", q)];
        if let Some(p) = params {
            query.push(("params", p));
        }
        let (st, _, body) = get(&s, &query, None);
        let e = error_body(text(&body));
        assert_eq!(st, 400, "{params:?}: {e}");
        let msg = e["error"].as_str().unwrap();
        assert!(msg.contains(expected), "{params:?}: {msg}");
    }
    let r = s
        .client
        .post(s.url("/api/v3/query_sql"))
        .json(&json!({"db": "q", "q": q, "params": 3}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
