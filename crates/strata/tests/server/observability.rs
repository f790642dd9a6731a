//! Health, ping, metrics and shutdown.

use crate::harness::Server;

fn metrics(s: &Server) -> String {
    s.client
        .get(s.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn health_ping_metrics() {
    let s = Server::start();
    let r = s.client.get(s.url("/health")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["status"], "pass");
    let r = s.client.get(s.url("/ping")).send().unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.headers().contains_key("x-influxdb-version"));

    assert_eq!(s.post("/write?db=mdb", "m v=1 1\nm v=2 2").0, 204);
    assert_eq!(s.post("/write?db=mdb", "m v=\"x\" 3").0, 400);
    let text = metrics(&s);
    assert!(
        text.contains("strata_http_requests_total{endpoint=\"/write\",status=\"204\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("strata_http_requests_total{endpoint=\"/write\",status=\"400\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("strata_rows_written_total{endpoint=\"/write\",status=\"204\"} 2"),
        "{text}"
    );
    assert!(text.contains("strata_buffer_rows{db=\"mdb\"} 2"), "{text}");
    assert!(
        text.contains("strata_http_received_bytes_total{endpoint=\"/write\"}"),
        "{text}"
    );
    assert!(text.contains("strata_buffer_bytes{db=\"mdb\"}"), "{text}");
    assert!(text.contains("strata_query_point_reads_total 0"), "{text}");

    // A lookup of one series is a point read over HTTP too; its answer is the
    // planned one (crates/strata-query/src/tests/point.rs compares them).
    assert_eq!(
        s.post("/write?db=mdb", "c,host=a v=1 1\nc,host=b v=2 2").0,
        204
    );
    let rows = s.sql("mdb", "SELECT v, time FROM c WHERE host = 'a'");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["v"], 1.0);
    assert_eq!(rows[0]["time"], "1970-01-01T00:00:00.000000001Z");
    let text = metrics(&s);
    assert!(text.contains("strata_query_point_reads_total 1"), "{text}");
}

#[test]
fn start_line_and_graceful_shutdown() {
    let s = Server::start();
    let start = s
        .log
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("listening on"))
        .cloned()
        .unwrap();
    assert!(
        start.contains("data dir")
            && start.contains(env!("CARGO_PKG_VERSION"))
            && start.contains("durability"),
        "{start}"
    );
    let status = s.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn catalog_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(Some(dir.path()), &[]);
    assert_eq!(s.post("/write?db=keep", "m,t=a v=1i 1").0, 204);
    assert!(s.terminate().success());
    let s = Server::start_in(Some(dir.path()), &[]);
    // Rows are not durable yet (no WAL), but the schema is: a conflicting type is refused.
    let (st, resp) = s.post("/write?db=keep", "m,t=a v=1.5 2");
    assert_eq!(st, 400, "{resp}");
    assert!(resp.contains("integer field"), "{resp}");
}
