//! Arc's query API: `POST /api/v1/query` (JSON, CSV) and `/api/v1/query/arrow`.

use crate::harness::Server;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType};
use arrow::ipc::reader::StreamReader;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const QUERY: &str = "/api/v1/query";
const ARROW: &str = "/api/v1/query/arrow";

/// Two rows of `cpu` in `db`; the second has no `n` (NULL).
fn load(s: &Server, db: &str) {
    let lp =
        "cpu,host=a usage=1.5,n=3i 1704067200000000000\ncpu,host=b usage=2.5 1704067201000000001\n";
    let path = format!("/api/v3/write_lp?db={db}&precision=ns");
    assert_eq!(s.post(&path, lp).0, 204);
}

/// A server with [`load`]ed database `arc`, and the answer of `path` to
/// `body` on it.
fn load_and_post(path: &str, body: Value) -> (Server, reqwest::blocking::Response) {
    let s = Server::start();
    load(&s, "arc");
    let r = post(&s, path, Some("arc"), body);
    (s, r)
}

/// The rows of [`load`], in time order.
const ROWS: &str = "SELECT host, usage, n, time FROM cpu ORDER BY time";

/// POSTs `body` to `path` with `x-arc-database: db` when given.
fn post(s: &Server, path: &str, db: Option<&str>, body: Value) -> reqwest::blocking::Response {
    let mut r = s.client.post(s.url(path)).json(&body);
    if let Some(db) = db {
        r = r.header("x-arc-database", db);
    }
    r.send().expect("request")
}

/// Runs `sql` on the JSON route; asserts 200 and returns the answer.
fn query(s: &Server, db: Option<&str>, sql: &str) -> Value {
    let r = post(s, QUERY, db, json!({ "sql": sql }));
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    assert_eq!(status, 200, "{sql}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"))
}

/// Runs `sql` on the JSON route; returns the status and the error body.
fn query_error(s: &Server, path: &str, db: Option<&str>, body: Value) -> (u16, Value) {
    let r = post(s, path, db, body);
    let status = r.status().as_u16();
    assert_eq!(r.headers()["content-type"], "application/json");
    (status, r.json().unwrap())
}

fn arrow_batches(r: reqwest::blocking::Response) -> Vec<RecordBatch> {
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    let bytes = r.bytes().unwrap();
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    reader.map(|b| b.unwrap()).collect()
}

#[test]
fn json_shape_nulls_and_timestamps() {
    let (s, r) = load_and_post(QUERY, json!({ "sql": ROWS }));
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().unwrap();
    assert_eq!(v["success"], true);
    assert_eq!(v["columns"], json!(["host", "usage", "n", "time"]));
    assert_eq!(
        v["data"],
        json!([
            ["a", 1.5, 3, "2024-01-01T00:00:00.000000000Z"],
            ["b", 2.5, null, "2024-01-01T00:00:01.000000001Z"],
        ])
    );
    assert_eq!(v["row_count"], 2);
    assert!(v["execution_time_ms"].as_f64().unwrap() >= 0.0, "{v}");
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'), "{v}");

    // `curl -d` sends a form Content-Type; the body is read as JSON anyway.
    let r = s
        .client
        .post(s.url(QUERY))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-arc-database", "arc")
        .body(r#"{"sql": "SELECT count(*) AS n FROM cpu"}"#)
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["data"], json!([[2]]));

    let empty = query(&s, Some("arc"), "SELECT host FROM cpu WHERE host = 'zzz'");
    assert_eq!(
        (&empty["columns"], &empty["data"], &empty["row_count"]),
        (&json!(["host"]), &json!([]), &json!(0))
    );
}

#[test]
fn csv_format() {
    let (s, r) = load_and_post(
        QUERY,
        json!({"sql": "SELECT host, n, time FROM cpu ORDER BY time", "format": "csv"}),
    );
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        r.text().unwrap(),
        "host,n,time\na,3,2024-01-01T00:00:00.000000000Z\nb,,2024-01-01T00:00:01.000000001Z\n"
    );
    let (status, err) = query_error(
        &s,
        QUERY,
        Some("arc"),
        json!({"sql": "SELECT 1", "format": "xml"}),
    );
    assert_eq!(status, 400);
    assert_eq!(err["success"], false);
    assert!(
        err["error"].as_str().unwrap().contains("json or csv"),
        "{err}"
    );
}

#[test]
fn arrow_ipc_stream() {
    let (s, r) = load_and_post(ARROW, json!({ "sql": ROWS }));
    let batches = arrow_batches(r);
    let schema = batches[0].schema();
    let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
    assert_eq!(types[0], &DataType::Utf8, "tags are sent as plain strings");
    assert_eq!(types[1], &DataType::Float64);
    assert_eq!(types[2], &DataType::Int64);
    assert!(matches!(
        types[3],
        DataType::Timestamp(TimeUnit::Nanosecond, _)
    ));
    let b = arrow::compute::concat_batches(&schema, &batches).unwrap();
    assert_eq!(b.num_rows(), 2);
    let hosts = b.column(0).as_string::<i32>();
    assert_eq!((hosts.value(0), hosts.value(1)), ("a", "b"));
    assert_eq!(b.column(1).as_primitive::<Float64Type>().value(1), 2.5);
    let n = b.column(2).as_primitive::<Int64Type>();
    assert_eq!(n.value(0), 3);
    assert!(n.is_null(1), "a NULL stays NULL, never 0");
    let time = b.column(3).as_primitive::<TimestampNanosecondType>();
    assert_eq!(time.value(1), 1_704_067_201_000_000_001);

    // A large result arrives as several batches, each sent as it is produced.
    let r = post(
        &s,
        ARROW,
        None,
        json!({"sql": "SELECT value FROM generate_series(1, 100000)"}),
    );
    let batches = arrow_batches(r);
    assert!(batches.len() > 1, "{} batches", batches.len());
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 100_000);
}

#[test]
fn database_from_header_or_qualified_names() {
    let s = Server::start();
    load(&s, "default");
    load(&s, "other");
    assert_eq!(
        s.post(
            "/api/v3/write_lp?db=other&precision=ns",
            "mem,host=a free=7i 1704067200000000000"
        )
        .0,
        204
    );
    let count = |db: Option<&str>, sql: &str| query(&s, db, sql)["data"][0][0].clone();

    // Bare names: the header's database, `default` without it.
    assert_eq!(count(None, "SELECT count(*) FROM cpu"), 2);
    assert_eq!(count(Some("other"), "SELECT count(*) FROM mem"), 1);
    assert_eq!(count(Some(""), "SELECT count(*) FROM cpu"), 2);
    // `db.table` names the database, with or without the header.
    assert_eq!(count(None, "SELECT count(*) FROM other.mem"), 1);
    assert_eq!(count(Some("default"), "SELECT count(*) FROM other.mem"), 1);
    // SQL folds `MixedCase` to `mixedcase`; the one database matching
    // without regard to case is the one meant.
    load(&s, "MixedCase");
    assert_eq!(count(None, "SELECT count(*) FROM MixedCase.cpu"), 2);
    assert_eq!(count(None, "SELECT count(*) FROM \"MixedCase\".cpu"), 2);
    // Two databases in one statement; CTE names are not databases.
    let v = query(
        &s,
        None,
        "WITH m AS (SELECT host, free FROM other.mem) \
         SELECT c.host, m.free FROM default.cpu c JOIN m ON c.host = m.host",
    );
    assert_eq!(v["data"], json!([["a", 7]]));
    // Only the databases a statement names are visible.
    let v = query(
        &s,
        Some("other"),
        "SELECT DISTINCT table_schema FROM information_schema.tables \
         WHERE table_schema <> 'information_schema'",
    );
    assert_eq!(v["data"], json!([["iox"]]));
}

#[test]
fn errors_in_arcs_shape() {
    let s = Server::start();
    load(&s, "arc");
    let cases: [(&str, Option<&str>, &str, u16); 7] = [
        (QUERY, Some("nope"), "SELECT * FROM cpu", 404),
        (QUERY, Some("arc"), "SELECT * FROM nope.cpu", 404),
        (ARROW, None, "SELECT * FROM nope.cpu", 404),
        (QUERY, None, "SELECT * FROM cpu", 404),
        (QUERY, Some("arc"), "SELECT * FROM missing_table", 400),
        (QUERY, Some("arc"), "SELEC 1", 400),
        (ARROW, Some("arc"), "SELECT nope FROM cpu", 400),
    ];
    for (path, db, sql, want) in cases {
        let (status, err) = query_error(&s, path, db, json!({ "sql": sql }));
        assert_eq!(status, want, "{path} {db:?} {sql}: {err}");
        assert_eq!(err["success"], false, "{err}");
        assert!(!err["error"].as_str().unwrap().is_empty(), "{err}");
    }
    let (status, err) = query_error(&s, QUERY, Some("nope"), json!({"sql": "SELECT * FROM cpu"}));
    assert_eq!(status, 404);
    assert_eq!(err["code"], "not found");
    assert!(err["error"].as_str().unwrap().contains("nope"), "{err}");
    for body in [json!({}), json!({"sql": "  "})] {
        assert_eq!(query_error(&s, QUERY, None, body).0, 400);
    }
    let r = s
        .client
        .post(s.url(QUERY))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[test]
fn only_reads_are_allowed() {
    let s = Server::start();
    load(&s, "arc");
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "CREATE VIEW v AS SELECT * FROM cpu",
        "DROP TABLE cpu",
        "INSERT INTO arc.cpu (host, usage, time) VALUES ('z', 1.0, now())",
        "SET datafusion.execution.batch_size = 1",
    ] {
        for path in [QUERY, ARROW] {
            let (status, err) = query_error(&s, path, Some("arc"), json!({ "sql": sql }));
            assert_eq!(status, 403, "{path} {sql}: {err}");
            assert!(
                err["error"].as_str().unwrap().contains("read-only"),
                "{err}"
            );
        }
    }
    assert_eq!(
        query(&s, Some("arc"), "SELECT count(*) FROM cpu")["data"],
        json!([[2]])
    );
}

#[test]
fn show_databases_and_tables() {
    let s = Server::start();
    load(&s, "default");
    load(&s, "b2");
    assert_eq!(
        s.post("/api/v3/write_lp?db=b2&precision=ns", "mem v=1 1").0,
        204
    );
    let v = query(&s, None, "SHOW DATABASES");
    assert_eq!(v["columns"], json!(["database"]));
    assert_eq!(v["data"], json!([["b2"], ["default"]]));
    let v = query(&s, None, "show tables;");
    assert_eq!(v["columns"], json!(["database", "table_name"]));
    assert_eq!(v["data"], json!([["default", "cpu"]]));
    let v = query(&s, Some("b2"), "SHOW MEASUREMENTS");
    assert_eq!(v["data"], json!([["b2", "cpu"], ["b2", "mem"]]));
    let v = query(&s, None, "SHOW TABLES FROM b2");
    assert_eq!(v["row_count"], 2);
    let v = query(&s, None, "SHOW TABLES FROM nope");
    assert_eq!((&v["data"], &v["row_count"]), (&json!([]), &json!(0)));
}

/// Sends `sql` to the JSON route over a raw connection, so the test can close
/// it at will; returns the connection.
fn raw_query(s: &Server, sql: &str) -> std::net::TcpStream {
    let addr = s.base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    let body = json!({ "sql": sql }).to_string();
    write!(
        conn,
        "POST {QUERY} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    conn
}

fn wait_running(s: &Server, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let running = s.metric("strata_queries_running");
        if running == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "strata_queries_running is {running:?}, not {want}, after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU time the server process has used (Linux: `/proc/PID/stat`, in clock
/// ticks of 10 ms).
fn cpu_ms(s: &Server) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", s.pid())).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    (fields[0] + fields[1]) * 10
}

/// CPU the server uses over half a second.
fn cpu_over_half_a_second(s: &Server) -> u64 {
    let before = cpu_ms(s);
    std::thread::sleep(Duration::from_millis(500));
    cpu_ms(s) - before
}

#[test]
fn closing_the_connection_cancels_the_query() {
    let s = Server::start();
    wait_running(&s, 0);

    // A result too large to ever finish: the client reads the first bytes,
    // then goes away.
    let mut conn = raw_query(&s, "SELECT value FROM generate_series(1, 1000000000000)");
    let mut head = [0u8; 4096];
    let mut got = 0;
    while got < head.len() {
        let n = conn.read(&mut head[got..]).unwrap();
        assert!(n > 0, "connection closed early");
        got += n;
    }
    let text = String::from_utf8_lossy(&head);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("{\"success\":true"), "{text}");
    wait_running(&s, 1);
    drop(conn);
    wait_running(&s, 0);

    // A query that computes for hours before its first row: the client gives
    // up before the status line.
    let conn = raw_query(
        &s,
        "SELECT sum(value) FROM generate_series(1, 1000000000000)",
    );
    wait_running(&s, 1);
    if cfg!(target_os = "linux") {
        let busy = cpu_over_half_a_second(&s);
        assert!(
            busy >= 100,
            "the query should be computing: {busy} ms of CPU"
        );
    }
    drop(conn);
    wait_running(&s, 0);
    if cfg!(target_os = "linux") {
        let idle = cpu_over_half_a_second(&s);
        assert!(idle < 150, "the query still computes: {idle} ms of CPU");
    }

    // The server still answers.
    assert_eq!(query(&s, None, "SELECT 1")["data"], json!([[1]]));
}
