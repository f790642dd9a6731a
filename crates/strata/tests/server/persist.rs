//! Persistence seen from the outside: queries span Parquet files and the buffer,
//! `EXPLAIN` reports pruned files, everything survives a restart, and a full
//! buffer answers 503 with Retry-After.

use crate::harness::{Server, error_body};
use std::time::{Duration, Instant};

const HOUR: i64 = 3_600_000_000_000;
const T0: i64 = 1_700_000_000 / 3600 * 3600 * 1_000_000_000;

/// 3 hours, 1,000 rows each; hour `h` only has hosts named `{letter h}{n}` so tag
/// statistics separate the files.
fn three_hours() -> String {
    let mut body = String::new();
    for h in 0..3i64 {
        let letter = (b'a' + h as u8) as char;
        for i in 0..1000i64 {
            body.push_str(&format!(
                "cpu,host={letter}{} usage={}.25,n={i}i {}\n",
                i % 10,
                i,
                T0 + h * HOUR + i * 1_000_000_000
            ));
        }
    }
    body
}

fn metric(server: &Server, name: &str) -> u64 {
    server.metric(name).unwrap_or(0)
}

fn wait_persisted(server: &Server, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(server, "strata_persist_rows_total") < rows {
        assert!(
            Instant::now() < deadline,
            "rows were not persisted within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn explain(server: &Server, q: &str) -> String {
    let rows = server.sql("db", &format!("EXPLAIN {q}"));
    rows.iter()
        .map(|r| r["plan"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn queries_span_files_and_buffer_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--persist-rows", "2000", "--persist-age", "1h"];
    let server = Server::start_in(Some(dir.path()), &args);
    let (status, body) = server.post("/api/v3/write_lp?db=db", three_hours());
    assert_eq!(status, 204, "{body}");
    wait_persisted(&server, 3000);
    // Stays buffered: below the row threshold and younger than the age limit.
    let late = format!(
        "cpu,host=c1 usage=0.5,n=5000i {}\n",
        T0 + 2 * HOUR + 5_000_000_000_000
    );
    assert_eq!(server.post("/api/v3/write_lp?db=db", late).0, 204);
    assert_eq!(server.count("db", "cpu"), 3001);

    let plan = explain(&server, "SELECT count(*) FROM cpu");
    assert!(plan.contains("files=3 of 3"), "{plan}");
    assert!(plan.contains("buffer_batches=1"), "{plan}");
    // T0 is 2023-11-14T22:00:00Z, so this is the third hour.
    let q = "SELECT count(*) AS n FROM cpu WHERE time >= '2023-11-15T00:00:00Z'";
    let plan = explain(&server, q);
    assert!(
        plan.contains("files=1 of 3 (pruned 2 by time, 0 by statistics)"),
        "{plan}"
    );
    assert_eq!(server.sql("db", q)[0]["n"], 1001);
    let q = "SELECT count(*) AS n FROM cpu WHERE host = 'b3'";
    let plan = explain(&server, q);
    assert!(
        plan.contains("files=1 of 3 (pruned 0 by time, 2 by statistics)"),
        "{plan}"
    );
    assert_eq!(server.sql("db", q)[0]["n"], 100);
    let sums = "SELECT host, sum(n) AS s, min(usage) AS lo FROM cpu GROUP BY host ORDER BY host";
    let before = server.sql("db", sums);
    assert_eq!(before.len(), 30);

    drop(server);
    let server = Server::start_in(Some(dir.path()), &args);
    assert_eq!(
        server.count("db", "cpu"),
        3001,
        "no row lost or duplicated by a restart"
    );
    assert_eq!(server.sql("db", sums), before);
    assert_eq!(
        metric(&server, "strata_recovery_rows"),
        1,
        "only the buffered row is replayed"
    );
}

#[test]
fn full_buffer_answers_503_with_retry_after() {
    let server = Server::start_with(&[
        "--no-persist",
        "--buffer-memory-limit",
        "1KiB",
        "--buffer-hard-limit",
        "1KiB",
    ]);
    assert_eq!(server.post("/api/v3/write_lp?db=db", three_hours()).0, 204);
    let r = server
        .client
        .post(server.url("/api/v3/write_lp?db=db"))
        .body("cpu,host=x usage=1 1\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body = error_body(&r.text().unwrap());
    assert_eq!(body["code"], "unavailable");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("hard limit 1024"), "{msg}");
    assert_eq!(
        server.count("db", "cpu"),
        3000,
        "the refused write left nothing behind"
    );
}
