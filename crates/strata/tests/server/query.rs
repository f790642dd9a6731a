//! The SQL API: parameters, formats, catalog queries.

use crate::harness::Server;
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
