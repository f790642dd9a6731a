//! The command line: help texts and `strata query`.

use crate::harness::Server;
use std::process::Command;

fn strata(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_every_option() {
    let (ok, out, _) = strata(&["--help"]);
    assert!(ok);
    assert!(out.contains("serve") && out.contains("query"), "{out}");
    let (ok, out, _) = strata(&["serve", "--help"]);
    assert!(ok);
    for opt in [
        "--data-dir",
        "--http-bind",
        "--config",
        "--max-body-size",
        "STRATA_DATA_DIR",
        "./strata-data",
        "127.0.0.1:8181",
    ] {
        assert!(out.contains(opt), "serve --help lacks {opt}: {out}");
    }
    let (ok, out, _) = strata(&["query", "--help"]);
    assert!(ok);
    assert!(
        out.contains("--db") && out.contains("--host") && out.contains("--format"),
        "{out}"
    );
}

#[test]
fn query_command_prints_a_table() {
    let s = Server::start();
    assert_eq!(
        s.post(
            "/write?db=cli",
            "cpu,host=a usage=1.5 1000000000\ncpu,host=b usage=2.5 2000000000"
        )
        .0,
        204
    );
    let (ok, out, err) = strata(&[
        "query",
        "--host",
        &s.base,
        "--db",
        "cli",
        "SELECT host, usage FROM cpu ORDER BY host",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("host") && out.contains("usage") && out.contains("2.5"),
        "{out}"
    );
    assert!(out.contains("(2 rows)"), "{out}");
    let (ok, out, _) = strata(&[
        "query",
        "--host",
        &s.base,
        "--db",
        "cli",
        "--format",
        "csv",
        "SELECT host FROM cpu ORDER BY host",
    ]);
    assert!(ok);
    assert_eq!(out, "host\na\nb\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.sql");
    std::fs::write(&file, "SELECT host FROM cpu ORDER BY host").unwrap();
    let (ok, out, err) = strata(&[
        "query",
        "--host",
        &s.base,
        "--db",
        "cli",
        "--format",
        "pretty",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("| host |") && out.contains("| b    |"),
        "{out}"
    );
    let (ok, _, err) = strata(&[
        "query",
        "--host",
        &s.base,
        "--db",
        "cli",
        "SELECT * FROM nope",
    ]);
    assert!(!ok);
    assert!(err.contains("400") && err.contains("nope"), "{err}");
}
