//! `strata bench write` against a real server: the JSON summary and the row
//! count check.

use crate::harness::Server;
use serde_json::Value;
use std::process::Command;

fn bench(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["bench", "write"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn summary(out: &str, err: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"))
}

#[test]
fn write_lp_and_msgpack_and_verify_every_row() {
    let s = Server::start();
    let (ok, out, err) = bench(&[
        "--url", &s.base, "--rows", "20000", "--batch", "1000", "--conns", "2", "--json",
    ]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    let j = summary(&out, &err);
    assert_eq!(j["rows"], 20000, "{j}");
    assert_eq!(j["rows_sent"], 20000, "{j}");
    assert_eq!(j["requests_ok"], 20, "{j}");
    assert_eq!(j["errors"], 0, "{j}");
    assert_eq!(j["verified"], true, "{j}");
    assert_eq!(j["verify"]["found"], 20000, "{j}");
    assert_eq!(j["target"], "strata");
    assert_eq!(j["format"], "lp");
    assert!(j["rows_per_s"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{j}");
    let db = j["db"].as_str().unwrap().to_owned();
    assert!(db.starts_with("bench_"), "{db}");
    // TSBS: 1000 hosts by default, each row once per host and 10 s round.
    let rows = s.sql(
        &db,
        "SELECT count(DISTINCT hostname) AS h, count(DISTINCT time) AS t FROM cpu",
    );
    assert_eq!(rows[0]["h"], 1000);
    assert_eq!(rows[0]["t"], 20);

    // The same database again, MessagePack, zstd, a pool of one body (every
    // further request is a patched lap) and a last request shorter than --batch:
    // the check counts the rows that were there before.
    let (ok, out, err) = bench(&[
        "--url", &s.base, "--db", &db, "--format", "msgpack", "--zstd", "--rows", "2500",
        "--batch", "1000", "--hosts", "10", "--json",
    ]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    let j = summary(&out, &err);
    assert_eq!(j["rows"], 2500, "{j}");
    assert_eq!(j["requests_ok"], 3, "{j}");
    assert_eq!(j["verify"]["before"], 20000, "{j}");
    assert_eq!(j["verified"], true, "{j}");
}

#[test]
fn laps_and_new_series_never_repeat_a_series_time_pair() {
    let s = Server::start();
    // A 1-byte pool holds one body: requests 1.. are patched laps.
    let (ok, out, err) = bench(&[
        "--url",
        &s.base,
        "--db",
        "laps",
        "--rows",
        "3000",
        "--batch",
        "500",
        "--hosts",
        "7",
        "--pool-size",
        "1",
        "--json",
    ]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert_eq!(summary(&out, &err)["pool"]["bodies"], 1);
    let rows = s.sql(
        "laps",
        "SELECT count(*) AS n FROM (SELECT DISTINCT hostname, time FROM cpu)",
    );
    assert_eq!(rows[0]["n"], 3000);

    let (ok, out, err) = bench(&[
        "--url",
        &s.base,
        "--db",
        "churn",
        "--workload",
        "new-series",
        "--rows",
        "3000",
        "--batch",
        "1000",
        "--pool-size",
        "1",
        "--json",
    ]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    let j = summary(&out, &err);
    assert_eq!(j["hosts"], Value::Null, "{j}");
    let rows = s.sql("churn", "SELECT count(DISTINCT hostname) AS h FROM cpu");
    assert_eq!(rows[0]["h"], 3000);
}

#[test]
fn duration_run_and_human_summary() {
    let s = Server::start();
    let (ok, out, err) = bench(&[
        "--url",
        &s.base,
        "--duration",
        "1s",
        "--batch",
        "200",
        "--conns",
        "1",
        "--rate",
        "20",
    ]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    for part in [
        "open loop at 20 req/s",
        "rows/s",
        "p99.9",
        "errors    none",
        "verify    ok",
    ] {
        assert!(out.contains(part), "summary lacks {part:?}:\n{out}");
    }
}

#[test]
fn failures_are_reported_and_exit_non_zero() {
    // Nothing listens there: the pre-run count cannot reach the server.
    let (ok, _, err) = bench(&["--url", "http://127.0.0.1:9", "--rows", "10"]);
    assert!(!ok);
    assert!(err.contains("cannot reach"), "{err}");
    // A peer without the count check: every request fails, so the run fails.
    let s = Server::start();
    let (ok, out, err) = bench(&[
        "--url",
        &s.base,
        "--target",
        "influxdb3",
        "--db",
        "bad name!",
        "--rows",
        "10",
        "--json",
    ]);
    assert!(!ok, "{out}");
    let j = summary(&out, &err);
    assert_eq!(j["errors"], 1, "{j}");
    assert_eq!(j["errors_by_status"]["400"], 1, "{j}");
    assert_eq!(j["verified"], Value::Null);
    assert!(err.contains("no request succeeded"), "{err}");
    // Formats a peer does not accept are refused before sending anything.
    let (ok, _, err) = bench(&["--target", "influxdb1", "--format", "msgpack"]);
    assert!(!ok);
    assert!(err.contains("does not accept --format msgpack"), "{err}");
}

#[test]
fn help_describes_every_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["bench", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("write"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["bench", "write", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--target",
        "--url",
        "--db",
        "--workload",
        "tsbs-cpu",
        "new-series",
        "--hosts",
        "--format",
        "msgpack",
        "--batch",
        "--conns",
        "--duration",
        "--rows",
        "--rate",
        "--gzip",
        "--zstd",
        "--json",
        "victoriametrics",
        "influxdb1",
        "influxdb3",
        "arc",
        "not available yet",
    ] {
        assert!(
            text.contains(opt),
            "bench write --help lacks {opt}:\n{text}"
        );
    }
}
