//! `strata bench write` and `strata bench query` against a real server: the
//! JSON summaries, the row count check, every query type, --print-queries.

use crate::harness::Server;
use serde_json::Value;
use std::process::Command;

/// `strata bench <command> <args>`: success, stdout, stderr.
fn strata_bench(command: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["bench", command])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn bench(args: &[&str]) -> (bool, String, String) {
    strata_bench("write", args)
}

fn bench_query(args: &[&str]) -> (bool, String, String) {
    strata_bench("query", args)
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

/// `bench write --url <s> --json <args>` (arguments split on spaces), which
/// must succeed: its summary.
fn bench_ok(s: &Server, args: &str) -> Value {
    let mut all = vec!["--url", &s.base, "--json"];
    all.extend(args.split_whitespace());
    let (ok, out, err) = bench(&all);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    summary(&out, &err)
}

#[test]
fn laps_and_new_series_never_repeat_a_series_time_pair() {
    let s = Server::start();
    // A 1-byte pool holds one body: requests 1.. are patched laps.
    let j = bench_ok(
        &s,
        "--db laps --rows 3000 --batch 500 --hosts 7 --pool-size 1",
    );
    assert_eq!(j["pool"]["bodies"], 1);
    let rows = s.sql(
        "laps",
        "SELECT count(*) AS n FROM (SELECT DISTINCT hostname, time FROM cpu)",
    );
    assert_eq!(rows[0]["n"], 3000);

    let j = bench_ok(
        &s,
        "--db churn --workload new-series --rows 3000 --batch 1000 --pool-size 1",
    );
    assert_eq!(j["hosts"], Value::Null, "{j}");
    let rows = s.sql("churn", "SELECT count(DISTINCT hostname) AS h FROM cpu");
    assert_eq!(rows[0]["h"], 3000);
}

#[test]
fn remote_write_laps_verify_every_metric_table() {
    let s = Server::start();
    // A pool of one body: requests 1.. are patched laps of a snappy body.
    let j = bench_ok(
        &s,
        "--db pw --format prom --rows 1250 --batch 500 --hosts 7 --pool-size 1",
    );
    assert_eq!(j["pool"]["bodies"], 1, "{j}");
    assert_eq!(j["compression"], "snappy", "{j}");
    assert_eq!(j["repeated_rows"], 0, "{j}");
    assert_eq!(j["verified"], true, "{j}");
    assert_eq!(j["verify"]["found"], 12500, "{j}");
    assert_eq!(j["verify"]["tables"].as_array().unwrap().len(), 10, "{j}");
    let rows = s.sql(
        "pw",
        "SELECT count(*) AS n, count(DISTINCT hostname) AS h, min(time) AS t0 \
         FROM (SELECT DISTINCT hostname, time FROM cpu_usage_guest_nice)",
    );
    assert_eq!(rows[0]["n"], 1250);
    assert_eq!(rows[0]["h"], 7);
    assert_eq!(rows[0]["t0"], "2016-01-01T00:00:00.000000000Z");
    // The same field value as line protocol sends for the same row.
    bench_ok(&s, "--db pw --rows 1 --hosts 7");
    let rows = s.sql(
        "pw",
        "SELECT p.value = CAST(c.usage_idle AS DOUBLE) AS same FROM cpu c \
         JOIN cpu_usage_idle p ON p.hostname = c.hostname AND p.time = c.time",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["same"], true);

    // New series: every row a new host, in every table; the human summary
    // names the tables checked.
    let mut args = vec!["--url", &s.base];
    args.extend(
        "--db pwn --format prom --workload new-series --rows 900 --batch 300 --pool-size 1"
            .split_whitespace(),
    );
    let (ok, out, err) = bench(&args);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains(
            "= 0 before + 900 acknowledged x 10 tables cpu_usage_user..cpu_usage_guest_nice"
        ),
        "{out}"
    );
    let rows = s.sql(
        "pwn",
        "SELECT count(DISTINCT hostname) AS h FROM cpu_usage_user",
    );
    assert_eq!(rows[0]["h"], 900);
    // Compression options do not apply.
    let (ok, _, err) = bench(&["--url", &s.base, "--format", "prom", "--gzip"]);
    assert!(!ok);
    assert!(err.contains("always snappy-compressed"), "{err}");
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
        "prom",
        "cpu_usage_user",
    ] {
        assert!(
            text.contains(opt),
            "bench write --help lacks {opt}:\n{text}"
        );
    }
}

/// Every TSBS query type, in the order `bench query` runs them.
const QUERY_TYPES: [&str; 16] = [
    "single-groupby-1-1-1",
    "single-groupby-1-1-12",
    "single-groupby-1-8-1",
    "single-groupby-5-1-1",
    "single-groupby-5-1-12",
    "single-groupby-5-8-1",
    "cpu-max-all-1",
    "cpu-max-all-8",
    "double-groupby-1",
    "double-groupby-5",
    "double-groupby-all",
    "high-cpu-1",
    "high-cpu-all",
    "lastpoint",
    "groupby-orderby-limit",
    "point",
];

/// A server with database `qb`: 10 hosts (the 8-host types need 8), 2,000 rounds
/// of 10 s (5.6 hours, so the 1-hour windows fit inside the data).
fn loaded_server() -> Server {
    let s = Server::start();
    let (ok, out, err) = bench(&[
        "--url", &s.base, "--db", "qb", "--hosts", "10", "--rows", "20000", "--batch", "5000",
    ]);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    s
}

/// `bench query --url <s> --db qb <args>`: success, stdout, stderr.
fn query_qb(s: &Server, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--url", &s.base, "--db", "qb"];
    all.extend_from_slice(args);
    bench_query(&all)
}

/// `bench query --url <s> --db qb --json <args>`, which must succeed: its summary.
fn query_summary(s: &Server, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = query_qb(s, &all);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    summary(&out, &err)
}

#[test]
fn query_runs_every_type_without_errors_and_finds_rows() {
    let s = loaded_server();
    let j = query_summary(&s, &["--queries", "3", "--clients", "2"]);
    assert_eq!(j["data"]["hosts"], 10, "{j}");
    assert_eq!(j["data"]["start"], "2016-01-01T00:00:00Z", "{j}");
    assert_eq!(j["data"]["end"], "2016-01-01T05:33:10Z", "{j}");
    assert_eq!(j["data"]["discovered"], true, "{j}");
    assert_eq!(j["errors"], 0, "{j}");
    assert_eq!(j["queries"], 48, "{j}");
    let types = j["types"].as_array().unwrap();
    let names: Vec<&str> = types.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, QUERY_TYPES);
    for t in types {
        assert_eq!(t["queries"], 3, "{t}");
        assert_eq!(t["ok"], 3, "{t}");
        assert_eq!(t["errors"], 0, "{t}");
        assert_eq!(t["no_rows"], false, "{t}");
        assert!(t["rows"].as_u64().unwrap() > 0, "{t}");
        assert!(t["latency_ms"]["max"].as_f64().unwrap() > 0.0, "{t}");
        assert!(t["qps"].as_f64().unwrap() > 0.0, "{t}");
    }
    // Exact answers where the data decides them: the last row of each of the
    // 10 hosts; the 5 latest minutes; one host's last hour (361 rounds).
    let rows = |name: &str| {
        types.iter().find(|t| t["name"] == name).unwrap()["rows_per_query"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(rows("lastpoint"), 10.0);
    assert_eq!(rows("groupby-orderby-limit"), 5.0);
    assert_eq!(rows("point"), 361.0);
    // 1 hour per minute: 60 buckets, 61 when the window is not minute-aligned.
    assert!((60.0..=61.0).contains(&rows("single-groupby-1-1-1")));
    // The 12-hour (*-12), 8-hour (cpu-max-all) and 24-hour (double-groupby,
    // high-cpu) windows are longer than the data.
    let long = ["cpu-max-all", "double-groupby", "high-cpu"];
    let covered: Vec<&str> = QUERY_TYPES
        .into_iter()
        .filter(|t| t.ends_with("-12") || long.iter().any(|l| t.starts_with(l)))
        .collect();
    assert_eq!(covered.len(), 9);
    assert_eq!(j["covered_all_data"], serde_json::json!(covered));
}

#[test]
fn query_formats_duration_and_the_readable_summary() {
    let s = loaded_server();
    for format in ["jsonl", "csv", "parquet", "pretty", "arrow"] {
        let j = query_summary(
            &s,
            &[
                "--queries",
                "2",
                "--query-type",
                "point,lastpoint",
                "--format",
                format,
            ],
        );
        assert_eq!(j["format"], format);
        assert_eq!(j["types"][0]["rows"], 722, "{format}: {j}");
        assert_eq!(j["types"][1]["rows"], 20, "{format}: {j}");
    }
    // --duration, repeated --query-type, the readable summary.
    let (ok, out, err) = query_qb(
        &s,
        &[
            "--duration",
            "300ms",
            "--clients",
            "1",
            "--query-type",
            "high-cpu-1",
            "--query-type",
            "groupby-orderby-limit",
        ],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    for part in [
        "strata bench query: TSBS devops, 1 clients, 0.3 s per type, json answers, seed 42",
        "data    cpu 2016-01-01T00:00:00Z .. 2016-01-01T05:33:10Z, 10 hosts (from the server)",
        "p90 ms",
        "rows/query",
        "high-cpu-1",
        "groupby-orderby-limit",
        "errors    none",
        "note      the data spans less than the time windows of high-cpu-1",
    ] {
        assert!(out.contains(part), "summary lacks {part:?}:\n{out}");
    }
    assert!(!out.contains("single-groupby"), "{out}");
    // Hosts that are not there: every query succeeds and the type is flagged.
    let (ok, out, err) = query_qb(
        &s,
        &[
            "--queries",
            "1",
            "--query-type",
            "point",
            "--hosts",
            "1000000",
            "--seed",
            "3",
        ],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("NO ROWS"), "{out}");
    assert!(out.contains("warning   point returned no rows"), "{out}");
}

/// `bench query --print-queries` with the data range of [`loaded_server`] given
/// in full (nothing is asked of a server) and `extra`: its lines.
fn print_offline(extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "--db",
        "qb",
        "--url",
        "http://127.0.0.1:9",
        "--start",
        "2016-01-01T00:00:00Z",
        "--end",
        "2016-01-01T05:33:10Z",
        "--hosts",
        "10",
        "--print-queries",
    ];
    args.extend_from_slice(extra);
    let (ok, out, err) = bench_query(&args);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    json_lines(&out)
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn print_queries_are_json_lines_and_what_a_run_sends() {
    let lines = print_offline(&["--queries", "4"]);
    assert_eq!(lines.len(), 16 * 4);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["type"], QUERY_TYPES[i / 4], "{l}");
        assert_eq!(l["n"], (i % 4) as u64, "{l}");
        assert!(l["sql"].as_str().unwrap().contains(" FROM cpu"), "{l}");
    }
    // The same seed prints the same queries; another seed others.
    assert_eq!(print_offline(&["--queries", "4"]), lines);
    assert_ne!(print_offline(&["--queries", "4", "--seed", "7"]), lines);
    // Without --queries: 100 per type.
    assert_eq!(print_offline(&["--query-type", "point"]).len(), 100);

    // Against the server the range comes from the data: the same as given
    // above. Query 0 of each type is the example a run reports: the same draws.
    let s = loaded_server();
    let (ok, out, err) = query_qb(&s, &["--queries", "1", "--print-queries"]);
    assert!(ok, "{err}");
    let printed = json_lines(&out);
    assert_eq!(printed, print_offline(&["--queries", "1"]));
    let j = query_summary(&s, &["--queries", "1", "--clients", "1"]);
    let types = j["types"].as_array().unwrap();
    assert_eq!(printed.len(), types.len());
    for (line, t) in printed.iter().zip(types) {
        assert_eq!(line["type"], t["name"]);
        assert_eq!(line["sql"], t["example"]);
    }
}

#[test]
fn query_bad_options_and_missing_data_fail_clearly() {
    let (ok, _, err) = bench_query(&["--db", "x", "--query-type", "bogus"]);
    assert!(!ok);
    assert!(
        err.contains("invalid value 'bogus' for '--query-type"),
        "{err}"
    );
    assert!(
        err.contains("single-groupby-1-1-1"),
        "lists the types: {err}"
    );
    for (args, expected) in [
        (&["--db", "x", "--format", "xml"][..], "invalid value 'xml'"),
        (&["--db", "x", "--start", "yesterday"], "expected RFC 3339"),
        (&["--db", "x", "--clients", "0"], "--clients"),
        (&["--db", "x", "--duration", "0s"], "must be above zero"),
        (&["--queries", "1"], "--db"),
    ] {
        let (ok, _, err) = bench_query(args);
        assert!(!ok && err.contains(expected), "{args:?}: {err}");
    }
    let (ok, _, err) = bench_query(&["--url", "http://127.0.0.1:9", "--db", "x"]);
    assert!(!ok);
    assert!(err.contains("cannot reach http://127.0.0.1:9/"), "{err}");
    assert!(
        err.to_lowercase().contains("connect"),
        "names the cause: {err}"
    );

    let s = Server::start();
    let (ok, _, err) = bench_query(&["--url", &s.base, "--db", "none"]);
    assert!(!ok);
    assert!(
        err.contains("cannot find the data range of \"none\".cpu"),
        "{err}"
    );
    assert!(err.contains("not found"), "{err}");
    // Fewer hosts than a type draws.
    let (ok, _, err) = bench(&[
        "--url", &s.base, "--db", "few", "--hosts", "3", "--rows", "30",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = bench_query(&["--url", &s.base, "--db", "few"]);
    assert!(!ok);
    assert!(
        err.contains("single-groupby-1-8-1 needs 8 hosts but the data has 3"),
        "{err}"
    );
    // Every query of a type failing (here: timing out): the errors are shown
    // and the command exits non-zero.
    let (ok, out, err) = bench_query(&[
        "--url",
        &s.base,
        "--db",
        "few",
        "--queries",
        "2",
        "--query-type",
        "lastpoint",
        "--timeout",
        "1ms",
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("lastpoint timeout x 2"), "{out}");
    assert!(err.contains("no query of lastpoint succeeded"), "{err}");
}

#[test]
fn query_help_describes_every_option_and_type() {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["bench", "query", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for opt in [
        "--url",
        "--db",
        "--query-type",
        "--clients",
        "--duration",
        "--queries",
        "--seed",
        "--format",
        "--start",
        "--end",
        "--hosts",
        "--timeout",
        "--json",
        "--print-queries",
        "/api/v3/query_sql",
        "scripts/bench_duckdb.py",
        "jsonl",
        "parquet",
        "/api/v1/query/arrow",
    ] {
        assert!(
            text.contains(opt),
            "bench query --help lacks {opt}:\n{text}"
        );
    }
    for t in QUERY_TYPES {
        assert!(text.contains(t), "bench query --help lacks {t}:\n{text}");
    }
}
