//! Where the load generators send their requests: the write endpoint and
//! headers of each kind of server, the preparation some need, and Strata's SQL
//! endpoints (queries of `strata bench query` on `/api/v3/query_sql` or, for
//! Arrow answers, the Arc route; the row count of `bench write`).

use super::report::error_chain;
use crate::cli::{BenchFormat, BenchTarget};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;

/// Arc's (and Strata's Arc-compatible) database header.
const ARC_DATABASE: &str = "x-arc-database";

impl BenchTarget {
    /// Name as given on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Strata => "strata",
            Self::Influxdb1 => "influxdb1",
            Self::Influxdb3 => "influxdb3",
            Self::Victoriametrics => "victoriametrics",
            Self::Arc => "arc",
        }
    }

    /// The URL the target listens on out of the box.
    pub(crate) fn default_url(self) -> &'static str {
        match self {
            Self::Strata | Self::Influxdb3 => "http://127.0.0.1:8181",
            Self::Influxdb1 => "http://127.0.0.1:8086",
            Self::Victoriametrics => "http://127.0.0.1:8428",
            Self::Arc => "http://127.0.0.1:8000",
        }
    }
}

impl BenchFormat {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Lp => "lp",
            Self::Msgpack => "msgpack",
            Self::Prom => "prom",
        }
    }
}

/// A write endpoint: URL and the headers of every request.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
}

/// The endpoint of `target` at `base` for `db` in `format`.
pub(crate) fn endpoint(
    target: BenchTarget,
    base: &Url,
    db: &str,
    format: BenchFormat,
    encoding: Option<&'static str>,
    token: Option<&str>,
) -> Result<Endpoint, String> {
    use BenchFormat::{Lp, Msgpack, Prom};
    use BenchTarget::*;
    let (path, query): (&str, &[(&str, &str)]) = match (target, format) {
        (Strata | Influxdb3, Lp) => (
            "/api/v3/write_lp",
            &[("db", db), ("precision", "nanosecond")],
        ),
        (Influxdb1 | Victoriametrics, Lp) => ("/write", &[("db", db), ("precision", "ns")]),
        (Arc, Lp) => ("/api/v1/write/line-protocol", &[]),
        (Strata | Arc, Msgpack) => ("/api/v1/write/msgpack", &[]),
        (Strata, Prom) => (strata_server::routes::WRITE_PROM, &[("db", db)]),
        (Victoriametrics, Prom) => ("/api/v1/write", &[]),
        (Influxdb1, Prom) => ("/api/v1/prom/write", &[("db", db)]),
        (Influxdb1 | Influxdb3 | Victoriametrics | Arc, _) => {
            return Err(format!(
                "--target {} does not accept --format {}; use --format {}",
                target.name(),
                format.name(),
                match target {
                    Influxdb1 | Victoriametrics => "lp or prom",
                    Arc => "lp or msgpack",
                    _ => "lp",
                }
            ));
        }
    };
    let mut url = join(base, path)?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(match format {
            Lp => "text/plain; charset=utf-8",
            Msgpack => "application/msgpack",
            Prom => "application/x-protobuf",
        }),
    );
    if format == Prom {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            "x-prometheus-remote-write-version",
            HeaderValue::from_static("0.1.0"),
        );
    }
    if matches!(target, Arc) || matches!(format, Msgpack) {
        headers.insert(ARC_DATABASE, header_value(db, "database name")?);
    }
    if let Some(e) = encoding {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    if let Some(t) = token {
        let mut v = header_value(&format!("Bearer {t}"), "token")?;
        v.set_sensitive(true);
        headers.insert(AUTHORIZATION, v);
    }
    Ok(Endpoint { url, headers })
}

/// `base` with `path` appended (keeps a path prefix such as a reverse proxy's).
fn join(base: &Url, path: &str) -> Result<Url, String> {
    let joined = format!("{}{path}", base.as_str().trim_end_matches('/'));
    Url::parse(&joined).map_err(|e| format!("invalid URL {joined:?}: {e}"))
}

/// Parses `--url`.
pub(crate) fn parse_base(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("invalid --url {s:?}: {e}"))?;
    if !matches!(url.scheme(), "http") {
        return Err(format!(
            "--url {s:?}: only http:// is supported (this build has no TLS)"
        ));
    }
    Ok(url)
}

/// What the server needs before the first write: InfluxDB 1.x refuses writes to
/// a database that does not exist.
pub(crate) async fn prepare(
    client: &reqwest::Client,
    target: BenchTarget,
    base: &Url,
    db: &str,
) -> Result<(), String> {
    if target != BenchTarget::Influxdb1 {
        return Ok(());
    }
    let mut url = join(base, "/query")?;
    url.query_pairs_mut()
        .append_pair("q", &format!("CREATE DATABASE \"{db}\""));
    let resp = client
        .post(url)
        .send()
        .await
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(format!("CREATE DATABASE {db:?} failed: {status}: {text}"));
    }
    Ok(())
}

/// The answer to a row count.
#[derive(Debug)]
pub(crate) enum Count {
    Rows(u64),
    /// The server answered with an error (e.g. the database does not exist yet).
    Refused(String),
}

/// Strata's SQL endpoint at `base`.
pub(crate) fn query_url(base: &Url) -> Result<Url, String> {
    join(base, "/api/v3/query_sql")
}

/// The headers of a query: its body is JSON.
pub(crate) fn query_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// `s` as a header value; `what` names it in the error.
fn header_value(s: &str, what: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(s).map_err(|_| format!("{what} {s:?} cannot be sent in an HTTP header"))
}

/// The Arc route answering a query as an Arrow IPC stream.
pub(crate) fn arc_arrow_url(base: &Url) -> Result<Url, String> {
    join(base, strata_server::routes::QUERY_ARC_ARROW)
}

/// The headers of an Arc query: a JSON body, the database in `x-arc-database`.
pub(crate) fn arc_query_headers(db: &str) -> Result<HeaderMap, String> {
    let mut headers = query_headers();
    headers.insert(ARC_DATABASE, header_value(db, "database name")?);
    Ok(headers)
}

/// The body of an Arc query: `{"sql"}`.
pub(crate) fn arc_query_body(sql: &str) -> Vec<u8> {
    serde_json::json!({ "sql": sql }).to_string().into_bytes()
}

/// The body of a query: `{"db", "q", "format"}`.
pub(crate) fn query_body(db: &str, sql: &str, format: &str) -> Vec<u8> {
    serde_json::json!({ "db": db, "q": sql, "format": format })
        .to_string()
        .into_bytes()
}

/// What a Strata server answered to one SQL query.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The rows, as JSON objects.
    Rows(Vec<Value>),
    /// A non-2xx answer: status and body.
    Refused(String),
}

/// Runs `sql` on a Strata server with a JSON answer. `Err` when the server
/// cannot be reached or answers nonsense.
pub(crate) async fn strata_sql(
    client: &reqwest::Client,
    base: &Url,
    db: &str,
    sql: &str,
) -> Result<Answer, String> {
    let resp = client
        .post(query_url(base)?)
        .headers(query_headers())
        .body(query_body(db, sql, "json"))
        .send()
        .await
        .map_err(|e| format!("cannot reach {base}: {}", error_chain(&e)))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("cannot read the answer to {sql:?}: {}", error_chain(&e)))?;
    if !status.is_success() {
        return Ok(Answer::Refused(format!("{status}: {}", text.trim())));
    }
    serde_json::from_str(&text)
        .map(Answer::Rows)
        .map_err(|e| format!("answer to {sql:?} is not a JSON array ({e}): {text}"))
}

/// `SELECT count(*) FROM <table>` on a Strata server. `Err` when the server
/// cannot be reached or answers nonsense.
pub(crate) async fn strata_count(
    client: &reqwest::Client,
    base: &Url,
    db: &str,
    table: &str,
) -> Result<Count, String> {
    let sql = format!("SELECT count(*) AS n FROM \"{table}\"");
    let rows = match strata_sql(client, base, db, &sql).await? {
        Answer::Rows(rows) => rows,
        Answer::Refused(e) => return Ok(Count::Refused(e)),
    };
    rows.first()
        .and_then(|r| r.get("n"))
        .and_then(Value::as_u64)
        .map(Count::Rows)
        .ok_or_else(|| format!("unexpected count answer: {rows:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_per_target() {
        let base = parse_base("http://127.0.0.1:8181/").unwrap();
        let e = endpoint(
            BenchTarget::Strata,
            &base,
            "b1",
            BenchFormat::Lp,
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            e.url.as_str(),
            "http://127.0.0.1:8181/api/v3/write_lp?db=b1&precision=nanosecond"
        );
        assert!(e.headers.get(ARC_DATABASE).is_none());
        let e = endpoint(
            BenchTarget::Strata,
            &base,
            "b1",
            BenchFormat::Msgpack,
            Some("zstd"),
            Some("t"),
        )
        .unwrap();
        assert_eq!(e.url.as_str(), "http://127.0.0.1:8181/api/v1/write/msgpack");
        assert_eq!(e.headers[ARC_DATABASE], "b1");
        assert_eq!(e.headers[CONTENT_TYPE], "application/msgpack");
        assert_eq!(e.headers[CONTENT_ENCODING], "zstd");
        assert_eq!(e.headers[AUTHORIZATION], "Bearer t");
        let e = endpoint(
            BenchTarget::Victoriametrics,
            &base,
            "x",
            BenchFormat::Lp,
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            e.url.as_str(),
            "http://127.0.0.1:8181/write?db=x&precision=ns"
        );
        let e = endpoint(BenchTarget::Arc, &base, "x", BenchFormat::Lp, None, None).unwrap();
        assert_eq!(e.url.path(), "/api/v1/write/line-protocol");
        assert_eq!(e.headers[ARC_DATABASE], "x");
        assert!(
            endpoint(
                BenchTarget::Influxdb3,
                &base,
                "x",
                BenchFormat::Msgpack,
                None,
                None
            )
            .is_err()
        );
        assert!(parse_base("https://example.invalid").is_err());
        let prom = |t| endpoint(t, &base, "x", BenchFormat::Prom, None, None);
        let e = prom(BenchTarget::Strata).unwrap();
        assert_eq!(e.url.as_str(), "http://127.0.0.1:8181/api/v1/write?db=x");
        assert_eq!(e.headers[CONTENT_ENCODING], "snappy");
        assert_eq!(e.headers[CONTENT_TYPE], "application/x-protobuf");
        assert_eq!(e.headers["x-prometheus-remote-write-version"], "0.1.0");
        let e = prom(BenchTarget::Influxdb1).unwrap();
        assert_eq!(
            e.url.as_str(),
            "http://127.0.0.1:8181/api/v1/prom/write?db=x"
        );
        let e = prom(BenchTarget::Victoriametrics).unwrap();
        assert_eq!(e.url.as_str(), "http://127.0.0.1:8181/api/v1/write");
        let e = prom(BenchTarget::Arc).unwrap_err();
        assert!(
            e.contains("does not accept --format prom; use --format lp or msgpack"),
            "{e}"
        );
    }

    #[test]
    fn arc_queries_name_their_database_in_the_header() {
        let base = parse_base("http://127.0.0.1:8181/").unwrap();
        assert_eq!(
            arc_arrow_url(&base).unwrap().as_str(),
            "http://127.0.0.1:8181/api/v1/query/arrow"
        );
        let h = arc_query_headers("tsbs").unwrap();
        assert_eq!(h[ARC_DATABASE], "tsbs");
        assert_eq!(h[CONTENT_TYPE], "application/json");
        let e = arc_query_headers("bad\nname").unwrap_err();
        assert!(e.contains("cannot be sent in an HTTP header"), "{e}");
        let body: Value = serde_json::from_slice(&arc_query_body("SELECT 1")).unwrap();
        assert_eq!(body, serde_json::json!({ "sql": "SELECT 1" }));
    }
}
