//! Every write endpoint, read back through SQL.

use crate::harness::{Server, error_body};
use serde_json::json;
use std::io::Write;

#[test]
fn v1_v2_v3_write_and_read_back() {
    let s = Server::start();
    let (st, body) = s.post(
        "/write?db=db1&precision=s",
        "cpu,host=a,region=eu usage=0.5,count=3i,ok=true,msg=\"hi \\\"there\\\"\" 1700000000\n",
    );
    assert_eq!(st, 204, "{body}");
    let (st, body) = s.post(
        "/api/v2/write?bucket=db1&org=any&precision=ms",
        "cpu,host=b usage=1.5,big=18446744073709551615u 1700000001000",
    );
    assert_eq!(st, 204, "{body}");
    let (st, body) = s.post(
        "/api/v3/write_lp?db=db1&precision=ns",
        "cpu,host=c usage=2.5 1700000002000000000",
    );
    assert_eq!(st, 204, "{body}");
    let rows = s.sql("db1", "SELECT * FROM cpu ORDER BY time");
    assert_eq!(
        serde_json::Value::Array(rows),
        json!([
            {"big": null, "count": 3, "host": "a", "msg": "hi \"there\"", "ok": true, "region": "eu", "time": "2023-11-14T22:13:20.000000000Z", "usage": 0.5},
            {"big": 18446744073709551615u64, "count": null, "host": "b", "msg": null, "ok": null, "region": null, "time": "2023-11-14T22:13:21.000000000Z", "usage": 1.5},
            {"big": null, "count": null, "host": "c", "msg": null, "ok": null, "region": null, "time": "2023-11-14T22:13:22.000000000Z", "usage": 2.5},
        ])
    );
}

#[test]
fn precision_and_server_time() {
    let s = Server::start();
    for (path, ts) in [
        ("/write?db=p&precision=h", "1"),
        ("/write?db=p&precision=m", "60"),
        ("/write?db=p&precision=u", "7200000000"),
        ("/api/v3/write_lp?db=p&precision=auto", "10800"),
    ] {
        let (st, body) = s.post(path, format!("t v=1 {ts}"));
        assert_eq!(st, 204, "{path}: {body}");
    }
    let rows = s.sql("p", "SELECT time FROM t ORDER BY time");
    let times: Vec<&str> = rows.iter().map(|r| r["time"].as_str().unwrap()).collect();
    assert_eq!(
        times,
        [
            "1970-01-01T01:00:00.000000000Z",
            "1970-01-01T01:00:00.000000000Z",
            "1970-01-01T02:00:00.000000000Z",
            "1970-01-01T03:00:00.000000000Z"
        ]
    );
    let before = strata_now_secs();
    let (st, _) = s.post("/write?db=p&precision=s", "now v=1");
    assert_eq!(st, 204);
    let rows = s.sql("p", "SELECT CAST(extract(epoch FROM time) AS BIGINT) AS e, CAST(extract(nanosecond FROM time) AS BIGINT) % 1000000000 AS ns FROM now");
    let e = rows[0]["e"].as_i64().unwrap();
    assert!(
        e >= before && e <= before + 60,
        "server time {e} vs {before}"
    );
    assert_eq!(
        rows[0]["ns"].as_i64().unwrap() % 1_000_000_000,
        0,
        "truncated to seconds: {rows:?}"
    );
}

fn strata_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn gzip_and_zstd_bodies() {
    let s = Server::start();
    let lp: String = (0..1000)
        .map(|i| format!("m,host=h{} v={i}i {i}\n", i % 10))
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(lp.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let r = s
        .client
        .post(s.url("/api/v2/write?bucket=z&precision=ns"))
        .header("Content-Encoding", "gzip")
        .body(gz)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
    let zst = zstd::encode_all(lp.as_bytes(), 3).unwrap();
    let r = s
        .client
        .post(s.url("/api/v3/write_lp?db=z&precision=ns"))
        .header("Content-Encoding", "zstd")
        .body(zst)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
    assert_eq!(s.count("z", "m"), 2000);
    let rows = s.sql("z", "SELECT sum(v) AS s FROM m");
    assert_eq!(rows[0]["s"], json!(2 * (0..1000).sum::<i64>()));
}

#[test]
fn partial_writes_v1_v2_v3() {
    let s = Server::start();
    let body = "m v=1i 1\nm v=oops 2\nm v=3i 3\nbad line\n";
    for (path, db) in [
        ("/write?db=a", "a"),
        ("/api/v2/write?bucket=b", "b"),
        ("/api/v3/write_lp?db=c", "c"),
    ] {
        let (st, resp) = s.post(path, body);
        assert_eq!(st, 400, "{path}: {resp}");
        let e = error_body(&resp);
        let lines: Vec<i64> = e["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["line"].as_i64().unwrap())
            .collect();
        assert_eq!(lines, [2, 4], "{resp}");
        assert!(
            e["error"].as_str().unwrap().contains("partial write"),
            "{resp}"
        );
        assert_eq!(s.count(db, "m"), 2, "{path}");
    }
    let (st, resp) = s.post("/api/v3/write_lp?db=d&accept_partial=false", body);
    assert_eq!(st, 400, "{resp}");
    assert!(
        error_body(&resp)["error"]
            .as_str()
            .unwrap()
            .contains("nothing was written"),
        "{resp}"
    );
    let (st, _) = s.sql_raw("d", "SELECT * FROM m", "json");
    assert_eq!(st, 404, "database d must not exist after a rejected write");
    let (st, _) = s.post(
        "/api/v3/write_lp?db=d&accept_partial=false",
        "m v=1i 1\nm v=2i 2",
    );
    assert_eq!(st, 204);
    assert_eq!(s.count("d", "m"), 2);
}

#[test]
fn type_conflicts_and_tag_field_clashes() {
    let s = Server::start();
    assert_eq!(s.post("/write?db=t", "m,host=a v=1i,f=1.0 1").0, 204);
    let (st, resp) = s.post(
        "/write?db=t",
        "m,host=a v=2i 2\nm,host=a v=2.5 3\nm,host=a f=true 4\nm host=\"x\" 5\nm,v=tag f=2.0 6",
    );
    assert_eq!(st, 400, "{resp}");
    let e = error_body(&resp);
    let lines = e["lines"].as_array().unwrap();
    let msgs: Vec<(i64, &str)> = lines
        .iter()
        .map(|l| (l["line"].as_i64().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(msgs.len(), 4, "{resp}");
    assert_eq!(msgs[0].0, 2);
    assert!(
        msgs[0].1.contains("\"v\"")
            && msgs[0].1.contains("integer field")
            && msgs[0].1.contains("float field"),
        "{resp}"
    );
    assert!(
        msgs[1].1.contains("\"f\"") && msgs[1].1.contains("boolean"),
        "{resp}"
    );
    assert!(
        msgs[2].1.contains("\"host\"") && msgs[2].1.contains("tag"),
        "{resp}"
    );
    assert!(msgs[3].1.contains("\"v\""), "{resp}");
    assert_eq!(s.count("t", "m"), 2);
}

#[test]
fn schema_evolution_adds_columns() {
    let s = Server::start();
    assert_eq!(s.post("/write?db=e", "m,a=1 x=1i 1").0, 204);
    assert_eq!(s.post("/write?db=e", "m,b=2 y=2.0 2").0, 204);
    assert_eq!(
        s.post("/write?db=e", "m,a=3,b=3 x=3i,y=3.0,z=\"s\" 3").0,
        204
    );
    let rows = s.sql("e", "SELECT a, b, x, y, z FROM m ORDER BY time");
    assert_eq!(
        serde_json::Value::Array(rows),
        json!([
            {"a": "1", "b": null, "x": 1, "y": null, "z": null},
            {"a": null, "b": "2", "x": null, "y": 2.0, "z": null},
            {"a": "3", "b": "3", "x": 3, "y": 3.0, "z": "s"},
        ])
    );
}

#[test]
fn arc_line_protocol_route() {
    let s = Server::start();
    let r = s
        .client
        .post(s.url("/api/v1/write/line-protocol"))
        .header("x-arc-database", "arclp")
        .header("Content-Type", "text/plain")
        .body("cpu,host=a usage=1.5 1700000000000000000")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
    let rows = s.sql("arclp", "SELECT host, usage, time FROM cpu");
    assert_eq!(
        serde_json::Value::Array(rows),
        json!([{"host": "a", "usage": 1.5, "time": "2023-11-14T22:13:20.000000000Z"}])
    );
}
