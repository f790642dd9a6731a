//! Bad input gets clear JSON errors with the right status.

use crate::harness::{Server, error_body};

#[test]
fn request_errors() {
    let s = Server::start_with(&["--max-body-size", "1KiB"]);
    let cases: &[(&str, &str, u16, &str)] = &[
        ("/write", "m v=1", 400, "\"db\""),
        ("/write?db=x&precision=q", "m v=1", 400, "invalid precision"),
        ("/api/v2/write?org=o", "m v=1", 400, "\"bucket\""),
        (
            "/api/v3/write_lp?db=x&accept_partial=maybe",
            "m v=1",
            400,
            "accept_partial",
        ),
        ("/write?db=bad/name", "m v=1", 400, "database name"),
        ("/nope", "", 404, "no route"),
    ];
    for (path, body, status, needle) in cases {
        let (st, resp) = s.post(path, *body);
        assert_eq!(st, *status, "{path}: {resp}");
        let e = error_body(&resp);
        assert!(
            e["error"].as_str().unwrap().contains(needle),
            "{path}: {resp}"
        );
    }
    let big = "m v=1\n".repeat(200);
    let (st, resp) = s.post("/write?db=x", big.clone());
    assert_eq!(st, 413, "{resp}");
    assert!(
        error_body(&resp)["error"]
            .as_str()
            .unwrap()
            .contains("1024 bytes"),
        "{resp}"
    );
    // A small gzip body that inflates past the limit is refused too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, big.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 1024);
    let r = s
        .client
        .post(s.url("/write?db=x"))
        .header("Content-Encoding", "gzip")
        .body(gz)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let r = s
        .client
        .post(s.url("/write?db=x"))
        .header("Content-Encoding", "br")
        .body("m v=1")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert!(r.text().unwrap().contains("br"));
    let r = s
        .client
        .post(s.url("/write?db=x"))
        .header("Content-Encoding", "gzip")
        .body("not gzip")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[test]
fn query_errors() {
    let s = Server::start();
    assert_eq!(s.post("/write?db=q", "m v=1").0, 204);
    let (st, resp) = s.sql_raw("missing", "SELECT 1", "json");
    assert_eq!(st, 404, "{resp}");
    let (st, resp) = s.sql_raw("q", "SELEC 1", "json");
    assert_eq!(st, 400, "{resp}");
    assert!(
        error_body(&resp)["error"]
            .as_str()
            .unwrap()
            .contains("SELEC"),
        "{resp}"
    );
    let (st, resp) = s.sql_raw("q", "SELECT nope FROM m", "json");
    assert_eq!(st, 400, "{resp}");
    let (st, resp) = s.sql_raw("q", "SELECT 1", "xml");
    assert_eq!(st, 400, "{resp}");
    let (st, resp) = s.sql_raw("q", "DROP TABLE m", "json");
    assert_eq!(st, 403, "{resp}");
    let r = s
        .client
        .get(s.url("/api/v3/query_sql?db=q"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
