//! Arc MessagePack writes.

use crate::harness::{Server, error_body};
use rmpv::Value;
use serde_json::json;

fn encode(v: &Value) -> Vec<u8> {
    let mut buf = Vec::new();
    rmpv::encode::write_value(&mut buf, v).unwrap();
    buf
}

fn s(x: &str) -> Value {
    Value::from(x)
}

fn post(srv: &Server, db: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut r = srv
        .client
        .post(srv.url("/api/v1/write/msgpack"))
        .header("Content-Type", "application/msgpack")
        .body(body);
    if let Some(db) = db {
        r = r.header("x-arc-database", db);
    }
    let r = r.send().unwrap();
    (r.status().as_u16(), r.text().unwrap_or_default())
}

#[test]
fn columnar_row_and_batch_shapes() {
    let srv = Server::start();
    let columnar = Value::Map(vec![
        (s("m"), s("cpu")),
        (
            s("columns"),
            Value::Map(vec![
                (
                    s("time"),
                    Value::Array(vec![
                        Value::from(1_700_000_000i64),
                        Value::from(1_700_000_001_000i64),
                    ]),
                ),
                (s("host"), Value::Array(vec![s("a"), s("b")])),
                (
                    s("usage"),
                    Value::Array(vec![Value::from(0.5), Value::from(1.5)]),
                ),
            ]),
        ),
    ]);
    let (st, body) = post(&srv, Some("arc"), encode(&columnar));
    assert_eq!(st, 204, "{body}");
    let row = Value::Map(vec![
        (s("m"), s("cpu")),
        (s("t"), Value::from(1_700_000_002_000_000i64)),
        (s("h"), s("c")),
        (
            s("fields"),
            Value::Map(vec![(s("usage"), Value::from(2.5))]),
        ),
    ]);
    let batch = Value::Map(vec![(
        s("batch"),
        Value::Array(vec![row.clone(), columnar.clone()]),
    )]);
    let (st, body) = post(&srv, Some("arc"), encode(&batch));
    assert_eq!(st, 204, "{body}");
    let rows = srv.sql(
        "arc",
        "SELECT host, usage, time FROM cpu ORDER BY time, host",
    );
    assert_eq!(
        serde_json::Value::Array(rows),
        json!([
            {"host": "a", "usage": 0.5, "time": "2023-11-14T22:13:20.000000000Z"},
            {"host": "a", "usage": 0.5, "time": "2023-11-14T22:13:20.000000000Z"},
            {"host": "b", "usage": 1.5, "time": "2023-11-14T22:13:21.000000000Z"},
            {"host": "b", "usage": 1.5, "time": "2023-11-14T22:13:21.000000000Z"},
            {"host": "c", "usage": 2.5, "time": "2023-11-14T22:13:22.000000000Z"},
        ])
    );
    // Default database when the header is absent.
    let (st, _) = post(&srv, None, encode(&row));
    assert_eq!(st, 204);
    assert_eq!(srv.count("default", "cpu"), 1);
}

#[test]
fn unequal_columns_are_refused_by_name() {
    let srv = Server::start();
    let bad = Value::Map(vec![
        (s("m"), s("cpu")),
        (
            s("columns"),
            Value::Map(vec![
                (
                    s("time"),
                    Value::Array(vec![Value::from(1i64), Value::from(2i64)]),
                ),
                (s("usage"), Value::Array(vec![Value::from(0.5)])),
            ]),
        ),
    ]);
    let (st, body) = post(&srv, Some("arc"), encode(&bad));
    assert_eq!(st, 400, "{body}");
    assert!(
        error_body(&body)["error"]
            .as_str()
            .unwrap()
            .contains("usage"),
        "{body}"
    );
    let (st, body) = post(&srv, Some("arc"), b"\xc1garbage".to_vec());
    assert_eq!(st, 400, "{body}");
}

#[test]
fn wrong_content_type_is_415() {
    let srv = Server::start();
    let r = srv
        .client
        .post(srv.url("/api/v1/write/msgpack"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert!(r.text().unwrap().contains("application/msgpack"));
}
