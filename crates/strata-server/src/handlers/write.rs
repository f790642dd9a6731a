//! Write endpoints: InfluxDB v1 (`/write`), v2 (`/api/v2/write`), v3
//! (`/api/v3/write_lp`), Arc MessagePack (`/api/v1/write/msgpack`), Arc line
//! protocol (`/api/v1/write/line-protocol`) and Prometheus remote write 1.0
//! (`/api/v1/write`, `/api/v1/prom/write`).
//!
//! All share one path: read the body (limit, decompression), decode it into a
//! `WriteBatch`, hand it to the engine, answer 204 when every line was written.
//! Partial writes (v1, v2, v3 with `accept_partial=true`, Arc, Prometheus):
//! valid lines are written and the answer is 400 listing the rejected ones (for
//! Prometheus a "line" is a series, numbered from 1 in the request). v3 with
//! `accept_partial=false`: one bad line and nothing is written.
//!
//! Acknowledgement: 204 means the rows are in the write-ahead log, synced as
//! `--wal-sync` says (default `always`: fsynced before the answer; v3's
//! `no_sync=true` skips the wait for that request), and visible to queries;
//! see docs/DURABILITY.md.

use super::Params;
use crate::body;
use crate::error::{ApiError, LineMessage};
use crate::routes;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strata_ingest::{LineError, ParseOptions, Parsed};
use strata_model::{Precision, now_nanos};
use strata_storage::WriteOptions;

#[derive(Clone, Copy)]
enum Format {
    LineProtocol,
    MessagePack,
    PromRemoteWrite,
}

struct WriteRequest {
    db: String,
    precision: Precision,
    accept_partial: bool,
    no_sync: bool,
    format: Format,
}

impl WriteRequest {
    fn line_protocol(db: String, precision: Precision, accept_partial: bool) -> Self {
        Self {
            db,
            precision,
            accept_partial,
            no_sync: false,
            format: Format::LineProtocol,
        }
    }
}

fn required(p: &Params, key: &str, what: &str) -> Result<String, ApiError> {
    match p.get(key).map(|s| s.trim()) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(ApiError::BadRequest(format!(
            "missing query parameter {key:?}: the {what} to write to"
        ))),
    }
}

fn parse_bool(p: &Params, key: &str, default: bool) -> Result<bool, ApiError> {
    match p.get(key).map(|s| s.as_str()) {
        None | Some("") => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "invalid value {other:?} for {key}; expected true or false"
        ))),
    }
}

fn precision(
    p: &Params,
    default: Precision,
    parse: fn(&str) -> Result<Precision, strata_model::PrecisionError>,
) -> Result<Precision, ApiError> {
    match p.get("precision") {
        None => Ok(default),
        Some(s) => parse(s).map_err(|e| ApiError::BadRequest(e.to_string())),
    }
}

pub(crate) async fn v1(
    State(s): State<AppState>,
    Query(p): Query<Params>,
    h: HeaderMap,
    b: Body,
) -> Response {
    let req = (|| {
        Ok(WriteRequest::line_protocol(
            required(&p, "db", "database")?,
            precision(&p, Precision::Nanosecond, Precision::parse_v1)?,
            true,
        ))
    })();
    run(s, routes::WRITE_V1, req, h, b).await
}

pub(crate) async fn v2(
    State(s): State<AppState>,
    Query(p): Query<Params>,
    h: HeaderMap,
    b: Body,
) -> Response {
    let req = (|| {
        Ok(WriteRequest::line_protocol(
            required(&p, "bucket", "bucket (database)")?,
            precision(&p, Precision::Nanosecond, Precision::parse_v2)?,
            true,
        ))
    })();
    run(s, routes::WRITE_V2, req, h, b).await
}

pub(crate) async fn v3(
    State(s): State<AppState>,
    Query(p): Query<Params>,
    h: HeaderMap,
    b: Body,
) -> Response {
    let req = (|| {
        // no_sync=true: acknowledged once the WAL record is written to the OS,
        // before its fsync (this request only).
        let no_sync = parse_bool(&p, "no_sync", false)?;
        Ok(WriteRequest {
            no_sync,
            ..WriteRequest::line_protocol(
                required(&p, "db", "database")?,
                precision(&p, Precision::Auto, Precision::parse_v3)?,
                parse_bool(&p, "accept_partial", true)?,
            )
        })
    })();
    run(s, routes::WRITE_V3, req, h, b).await
}

/// Database header of Arc's MessagePack API.
const ARC_DATABASE_HEADER: &str = "x-arc-database";

/// The database named by Arc's header, `default` when absent.
pub(super) fn arc_database(h: &HeaderMap) -> Result<String, ApiError> {
    match h.get(ARC_DATABASE_HEADER) {
        None => Ok("default".to_owned()),
        Some(v) => v.to_str().map(|s| s.trim().to_owned()).map_err(|_| {
            ApiError::BadRequest(format!("header {ARC_DATABASE_HEADER} is not valid text"))
        }),
    }
}

/// Arc's line-protocol route: database from `x-arc-database`, nanosecond
/// timestamps unless `precision=` (v2 values) says otherwise.
pub(crate) async fn arc_line_protocol(
    State(s): State<AppState>,
    Query(p): Query<Params>,
    h: HeaderMap,
    b: Body,
) -> Response {
    let req = (|| {
        Ok(WriteRequest::line_protocol(
            arc_database(&h)?,
            precision(&p, Precision::Nanosecond, Precision::parse_v2)?,
            true,
        ))
    })();
    run(s, routes::WRITE_ARC_LP, req, h, b).await
}

pub(crate) async fn msgpack(State(s): State<AppState>, h: HeaderMap, b: Body) -> Response {
    let req = (|| {
        let ct = h
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        const ACCEPTED: [&str; 5] = [
            "application/msgpack",
            "application/x-msgpack",
            "application/vnd.msgpack",
            "application/octet-stream",
            "",
        ];
        if let Some(ct) = ct.filter(|ct| !ACCEPTED.contains(&ct.as_str())) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "unsupported Content-Type {ct:?}; send application/msgpack"
            )));
        }
        let db = arc_database(&h)?;
        Ok(WriteRequest {
            db,
            precision: Precision::Auto,
            accept_partial: true,
            no_sync: false,
            format: Format::MessagePack,
        })
    })();
    run(s, routes::WRITE_MSGPACK, req, h, b).await
}

/// Prometheus remote write at the path of Prometheus-compatible stores.
pub(crate) async fn prom(
    State(s): State<AppState>,
    Query(p): Query<Params>,
    h: HeaderMap,
    b: Body,
) -> Response {
    prom_at(routes::WRITE_PROM, s, &p, h, b).await
}

/// Prometheus remote write at InfluxDB 1.x's path.
pub(crate) async fn prom_influx(
    State(s): State<AppState>,
    Query(p): Query<Params>,
    h: HeaderMap,
    b: Body,
) -> Response {
    prom_at(routes::WRITE_PROM_INFLUX, s, &p, h, b).await
}

async fn prom_at(
    endpoint: &'static str,
    s: AppState,
    p: &Params,
    mut h: HeaderMap,
    b: Body,
) -> Response {
    // Remote write bodies are snappy-compressed by definition; a sender that
    // leaves the header out still means it.
    if !h.contains_key(header::CONTENT_ENCODING) {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    }
    let req = prom_request(p, &h);
    run(s, endpoint, req, h, b).await
}

/// Remote write 1.0 only. A 2.0 sender gets 415 naming 1.0, the answer the 2.0
/// specification gives receivers that do not speak 2.0.
fn prom_request(p: &Params, h: &HeaderMap) -> Result<WriteRequest, ApiError> {
    if let Some(sent) = h.get(header::CONTENT_TYPE) {
        let sent = sent.to_str().unwrap_or("<not text>");
        let ct = sent.to_ascii_lowercase();
        let mut parts = ct.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let proto = parts.find_map(|p| p.strip_prefix("proto="));
        if media != "application/x-protobuf"
            || proto.is_some_and(|p| p.trim_matches('"') != "prometheus.writerequest")
        {
            return Err(ApiError::UnsupportedMediaType(format!(
                "unsupported Content-Type {sent:?}: Strata accepts Prometheus remote write 1.0, \
                 application/x-protobuf with a snappy-encoded prometheus.WriteRequest \
                 (Prometheus: protobuf_message: prometheus.WriteRequest, the default)"
            )));
        }
    }
    Ok(WriteRequest {
        db: required(p, "db", "database")?,
        precision: Precision::Millisecond,
        accept_partial: true,
        no_sync: false,
        format: Format::PromRemoteWrite,
    })
}

async fn run(
    s: AppState,
    endpoint: &'static str,
    req: Result<WriteRequest, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (status, rows, resp) = match req {
        Ok(req) => match write(&s, endpoint, req, &headers, body).await {
            Ok(rows) => (
                StatusCode::NO_CONTENT,
                rows,
                StatusCode::NO_CONTENT.into_response(),
            ),
            Err((rows, e)) => (e.status(), rows, e.into_response()),
        },
        Err(e) => (e.status(), 0, e.into_response()),
    };
    s.metrics.record(endpoint, status.as_u16(), rows);
    resp
}

/// Returns rows written, or rows written plus the error to answer with.
async fn write(
    s: &AppState,
    endpoint: &'static str,
    req: WriteRequest,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64, (u64, ApiError)> {
    let bytes = body::read(headers, body, s.limits.max_body_bytes)
        .await
        .map_err(|e| (0, e))?;
    s.metrics.received(endpoint, bytes.len() as u64);
    let mut opts = ParseOptions::new(req.precision, now_nanos());
    opts.max_line_len = s.limits.max_line_len;
    opts.max_tag_value_len = s.limits.max_tag_value_len;
    let Parsed { batch, errors } = match req.format {
        Format::LineProtocol => strata_ingest::line_protocol::parse(&bytes, &opts),
        Format::MessagePack => strata_ingest::msgpack::decode(&bytes, &opts).map_err(|e| {
            (
                0,
                ApiError::BadRequest(format!("invalid MessagePack body: {e}")),
            )
        })?,
        Format::PromRemoteWrite => strata_ingest::prom::decode(&bytes, &opts)
            .map_err(|e| (0, ApiError::BadRequest(e.to_string())))?,
    };
    // Lines offered, for error messages. A line protocol line or a MessagePack
    // row is one row or one error; a Prometheus series is any number of rows
    // and may also have an error.
    let offered = match req.format {
        Format::LineProtocol | Format::MessagePack => batch.row_count() + errors.len(),
        Format::PromRemoteWrite => {
            // A series' rows are one run of its number in one table (numbers
            // ascend within a table); errors ascend too.
            let tables = batch.tables();
            let with_rows: usize = tables
                .iter()
                .map(|t| t.lines().chunk_by(|a, b| a == b).count())
                .sum();
            let has_rows = |l: &u32| tables.iter().any(|t| t.lines().binary_search(l).is_ok());
            let mut without: Vec<u32> = errors
                .iter()
                .map(|e| e.line)
                .filter(|l| !has_rows(l))
                .collect();
            without.dedup();
            with_rows + without.len()
        }
    };
    let mut lines: Vec<LineMessage> = errors
        .into_iter()
        .map(|LineError { line, message }| LineMessage { line, message })
        .collect();
    if !lines.is_empty() && !req.accept_partial {
        return Err((0, rejected(s, lines, offered, 0, false)));
    }
    let outcome = s
        .engine
        .write(
            &req.db,
            batch,
            WriteOptions {
                accept_partial: req.accept_partial,
                no_sync: req.no_sync,
            },
        )
        .await
        .map_err(|e| (0, engine_error(e)))?;
    if outcome.errors.is_empty() && lines.is_empty() {
        return Ok(outcome.rows);
    }
    lines.extend(outcome.errors.into_iter().map(|e| LineMessage {
        line: e.line,
        message: e.message,
    }));
    lines.sort_by_key(|l| l.line);
    // The engine reports each row; a Prometheus series is many rows with one
    // cause: list it once.
    lines.dedup_by(|a, b| a.line == b.line && a.message == b.message);
    let rows = outcome.rows;
    Err((rows, rejected(s, lines, offered, rows, req.accept_partial)))
}

fn engine_error(e: strata_storage::EngineError) -> ApiError {
    use strata_storage::EngineError as E;
    use strata_storage::catalog::CatalogError as C;
    match e {
        E::Catalog(C::Database(msg)) => ApiError::BadRequest(msg),
        e @ (E::Backpressure { .. } | E::Wal(_)) => ApiError::Unavailable {
            message: e.to_string(),
            retry_after_secs: 1,
        },
        other => ApiError::Internal(other.to_string()),
    }
}

fn rejected(
    s: &AppState,
    mut lines: Vec<LineMessage>,
    offered: usize,
    written: u64,
    partial: bool,
) -> ApiError {
    // Distinct lines: a Prometheus series may be listed with two causes.
    let n = lines.len() - lines.windows(2).filter(|w| w[0].line == w[1].line).count();
    let message = if !partial {
        format!(
            "write rejected: {n} of {offered} lines are invalid and accept_partial=false, so nothing was written"
        )
    } else if written == 0 {
        format!("no data written: all {n} lines were rejected")
    } else {
        format!("partial write: {n} of {offered} lines rejected; {written} rows written")
    };
    let message = if n > s.limits.max_error_lines {
        lines.truncate(s.limits.max_error_lines);
        format!(
            "{message} (first {} rejected lines listed)",
            s.limits.max_error_lines
        )
    } else {
        message
    };
    ApiError::Lines { message, lines }
}
