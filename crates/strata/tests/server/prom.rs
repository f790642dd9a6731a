//! Prometheus remote write 1.0: snappy protobuf bodies on both paths, read back
//! through SQL; per-series errors; what is refused whole.

use crate::harness::{Server, error_body};
use prost::Message;
use serde_json::json;
use strata_ingest::prom::{Label, Sample, TimeSeries, WriteRequest};

const T0_MS: i64 = 1_700_000_000_000;

fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: (*n).to_owned(),
                value: (*v).to_owned(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(value, timestamp)| Sample { value, timestamp })
            .collect(),
        histograms: Vec::new(),
    }
}

fn snappy(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    let raw = WriteRequest { timeseries }.encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

fn send(srv: &Server, path: &str, content_type: &str, body: Vec<u8>) -> (u16, String) {
    let r = srv
        .client
        .post(srv.url(path))
        .header("Content-Type", content_type)
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap_or_default())
}

#[test]
fn samples_land_in_one_table_per_metric_on_both_paths() {
    let srv = Server::start();
    let ct = "application/x-protobuf";
    let (st, body) = send(
        &srv,
        "/api/v1/write?db=prom",
        ct,
        snappy(vec![
            series(
                &[("__name__", "up"), ("job", "node"), ("instance", "a:9100")],
                &[(1.0, T0_MS), (0.0, T0_MS + 15_000)],
            ),
            series(
                &[("__name__", "node_load1"), ("instance", "a:9100")],
                &[(0.5, T0_MS)],
            ),
        ]),
    );
    assert_eq!(st, 204, "{body}");
    let (st, body) = send(
        &srv,
        "/api/v1/prom/write?db=prom",
        "application/x-protobuf;proto=prometheus.WriteRequest",
        snappy(vec![series(
            &[("__name__", "up"), ("job", "node"), ("instance", "")],
            &[(1.0, T0_MS + 30_000)],
        )]),
    );
    assert_eq!(st, 204, "{body}");
    let rows = srv.sql(
        "prom",
        "SELECT job, instance, value, time FROM up ORDER BY time",
    );
    assert_eq!(
        serde_json::Value::Array(rows),
        json!([
            {"job": "node", "instance": "a:9100", "value": 1.0, "time": "2023-11-14T22:13:20.000000000Z"},
            {"job": "node", "instance": "a:9100", "value": 0.0, "time": "2023-11-14T22:13:35.000000000Z"},
            {"job": "node", "instance": null, "value": 1.0, "time": "2023-11-14T22:13:50.000000000Z"},
        ])
    );
    assert_eq!(srv.count("prom", "node_load1"), 1);
}

#[test]
fn bad_series_are_listed_and_bad_requests_refused() {
    let srv = Server::start();
    let ct = "application/x-protobuf";
    let (st, body) = send(
        &srv,
        "/api/v1/write?db=prom",
        ct,
        snappy(vec![
            series(&[("__name__", "ok")], &[(1.0, T0_MS)]),
            series(&[("job", "x")], &[(1.0, T0_MS)]),
        ]),
    );
    assert_eq!(st, 400, "{body}");
    let e = error_body(&body);
    assert!(
        e["error"].as_str().unwrap().contains("partial write"),
        "{body}"
    );
    assert_eq!(e["lines"][0]["line"], 2, "{body}");
    assert_eq!(srv.count("prom", "ok"), 1);

    let good = snappy(vec![series(&[("__name__", "m")], &[(1.0, T0_MS)])]);
    // Remote write 2.0 senders fall back to 1.0 on 415.
    let (st, body) = send(
        &srv,
        "/api/v1/write?db=prom",
        "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        good.clone(),
    );
    assert_eq!(st, 415, "{body}");
    assert!(
        error_body(&body)["error"].as_str().unwrap().contains("1.0"),
        "{body}"
    );
    let (st, body) = send(&srv, "/api/v1/write", ct, good.clone());
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("\\\"db\\\""), "{body}");
    let (st, body) = send(&srv, "/api/v1/write?db=prom", ct, b"not snappy".to_vec());
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    let not_protobuf = snap::raw::Encoder::new()
        .compress_vec(b"\xff\xff\xff\xff")
        .unwrap();
    let (st, body) = send(&srv, "/api/v1/write?db=prom", ct, not_protobuf);
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("remote write 1.0"), "{body}");
    assert_eq!(srv.count("prom", "ok"), 1);
}

#[test]
fn recording_rule_names_persist_and_limits_hold() {
    // Small persist threshold: the ':' table name must also work as a path.
    let srv = Server::start_with(&[
        "--persist-rows",
        "2",
        "--persist-age",
        "100ms",
        "--max-body-size",
        "4KiB",
    ]);
    let ct = "application/x-protobuf";
    let name = "instance:node_cpu:rate5m";
    let mut body = snappy(vec![series(
        &[("__name__", name), ("instance", "a")],
        &[(0.5, T0_MS), (0.75, T0_MS + 60_000)],
    )]);
    // No Content-Encoding header: remote write bodies are snappy anyway.
    let r = srv
        .client
        .post(srv.url("/api/v1/write?db=prom"))
        .header("Content-Type", ct)
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
    let mut persisted = 0;
    for _ in 0..100 {
        persisted = srv.metric("strata_persist_files_total").unwrap_or(0);
        if persisted > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(persisted > 0, "nothing persisted");
    let rows = srv.sql(
        "prom",
        &format!("SELECT instance, value FROM \"{name}\" ORDER BY time"),
    );
    assert_eq!(
        serde_json::Value::Array(rows),
        json!([{"instance": "a", "value": 0.5}, {"instance": "a", "value": 0.75}])
    );

    // 4 KiB compresses to a few bytes: the decompressed size is what counts.
    let big = WriteRequest {
        timeseries: vec![series(&[("__name__", "m"), ("a", &"x".repeat(5000))], &[])],
    }
    .encode_to_vec();
    body = snap::raw::Encoder::new().compress_vec(&big).unwrap();
    assert!(body.len() < 4096);
    let (st, text) = send(&srv, "/api/v1/write?db=prom", ct, body);
    assert_eq!(st, 413, "{text}");
}
