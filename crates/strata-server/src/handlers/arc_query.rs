//! Arc's query API: `POST /api/v1/query` (JSON, or CSV on request) and
//! `POST /api/v1/query/arrow` (an Arrow IPC stream).
//!
//! Request: a JSON body `{"sql": "...", "format": "json" | "csv"}`, whatever
//! the `Content-Type` (`curl -d` sends a form type); `format` (JSON when
//! absent) is read by `/api/v1/query` only. Arc's Python client
//! sends `{"sql"}` alone, with `x-arc-database` set to its database
//! (`default` unless configured).
//!
//! Databases: header `x-arc-database` names the database of bare table names
//! (`SELECT * FROM cpu`); without it, `default`. A two-part name `mydb.cpu`
//! reads table `cpu` of database `mydb`, with or without the header (Arc
//! refuses `db.table` when the header is set; Strata accepts it because Arc's
//! client always sends the header). A query sees only the databases it names
//! ([`strata_query::QueryExecutor::sql_in_databases`]); naming one that does
//! not exist is a 404.
//!
//! Answers, streamed batch by batch with the shared rules of `stream.rs`
//! (bounded memory; closing the connection cancels the query):
//! - JSON: `{"success": true, "timestamp", "columns": [...], "data": [[...]],
//!   "row_count", "execution_time_ms"}` ([`ArcJsonEncoder`]); timestamps RFC 3339
//!   with nanoseconds, NULL as `null`;
//! - CSV: a header row, then the rows, as `/api/v3/query_sql` writes it;
//! - Arrow: `application/vnd.apache.arrow.stream` ([`IpcStreamEncoder`]).
//!
//! Arc's catalog statements, which DataFusion lacks, are answered from the
//! catalog on `/api/v1/query`: `SHOW DATABASES` (column `database`) and
//! `SHOW TABLES | MEASUREMENTS [FROM | IN db]` (columns `database`,
//! `table_name`; an unknown database lists nothing, as in Arc).
//!
//! Errors: `{"success": false, "error": "...", "code": "...",
//! "execution_time_ms": X}` (Arc's shape, which Arc's client reads through
//! `error`, plus Strata's `code`), with the status of [`ApiError`]: 400 bad SQL or
//! request, 403 a statement that is not a read (DDL, DML, `SET`), 404 an unknown
//! database.

use super::stream;
use super::write::arc_database;
use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;
use strata_query::format::{ArcJsonEncoder, Encoder, Format, IpcStreamEncoder};
use strata_storage::catalog::CatalogSnapshot;

/// Media type of the Arrow IPC stream format.
const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

#[derive(Debug, Default, Deserialize)]
struct ArcQueryBody {
    sql: Option<String>,
    format: Option<String>,
}

/// What a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Json,
    Csv,
    Arrow,
}

struct ArcRequest {
    sql: String,
    answer: Answer,
    /// The database of bare table names.
    db: String,
}

fn request(headers: &HeaderMap, body: &[u8], arrow: bool) -> Result<ArcRequest, ApiError> {
    let parsed: ArcQueryBody = if body.is_empty() {
        ArcQueryBody::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    let sql = parsed.sql.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        ApiError::BadRequest("missing \"sql\": the body is {\"sql\": \"SELECT ...\"}".into())
    })?;
    let answer = match (arrow, parsed.format.as_deref().map(str::trim)) {
        (true, _) => Answer::Arrow,
        (false, None | Some("json")) => Answer::Json,
        (false, Some("csv")) => Answer::Csv,
        (false, Some(other)) => {
            return Err(ApiError::BadRequest(format!(
                "unknown format {other:?}; expected json or csv (Arrow: POST {})",
                routes::QUERY_ARC_ARROW
            )));
        }
    };
    let db = arc_database(headers)?;
    let db = if db.is_empty() { "default".into() } else { db };
    Ok(ArcRequest { sql, answer, db })
}

/// `POST /api/v1/query`.
pub(crate) async fn json(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    answer(&s, routes::QUERY_ARC, &headers, &body, false).await
}

/// `POST /api/v1/query/arrow`.
pub(crate) async fn arrow(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    answer(&s, routes::QUERY_ARC_ARROW, &headers, &body, true).await
}

async fn answer(
    s: &AppState,
    route: &'static str,
    headers: &HeaderMap,
    body: &[u8],
    arrow: bool,
) -> Response {
    let started = Instant::now();
    let (status, resp) = match run(s, headers, body, arrow, started).await {
        Ok(r) => (StatusCode::OK, r),
        Err(e) => (e.status(), error_response(e, started)),
    };
    s.metrics.record(route, status.as_u16(), 0);
    resp
}

async fn run(
    s: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    arrow: bool,
    started: Instant,
) -> Result<Response, ApiError> {
    let req = request(headers, body, arrow)?;
    let sql = match req.answer {
        Answer::Arrow => None,
        Answer::Json | Answer::Csv => {
            catalog_statement(&req.sql, &req.db, &s.engine.catalog().snapshot())
        }
    };
    let running = s.metrics.query_started();
    let q = s
        .query
        .sql_in_databases(&req.db, sql.as_deref().unwrap_or(&req.sql))
        .await?;
    let schema = Arc::clone(&q.schema);
    let (body, content_type) = match req.answer {
        Answer::Json => (
            stream::body(q, ArcJsonEncoder::new(schema, started), running).await?,
            Format::Json.content_type(),
        ),
        Answer::Csv => (
            stream::body(q, Encoder::new(Format::Csv, schema), running).await?,
            Format::Csv.content_type(),
        ),
        Answer::Arrow => {
            let enc = IpcStreamEncoder::new(&schema).map_err(stream::encode_error)?;
            (stream::body(q, enc, running).await?, ARROW_STREAM)
        }
    };
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

/// The error in Arc's shape, with the status and headers [`ApiError`] gives.
fn error_response(e: ApiError, started: Instant) -> Response {
    let body = serde_json::json!({
        "success": false,
        "error": e.to_string(),
        "code": e.code(),
        "execution_time_ms": started.elapsed().as_secs_f64() * 1000.0,
    });
    let (parts, _) = e.into_response().into_parts();
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// Arc's `SHOW DATABASES` and `SHOW TABLES | MEASUREMENTS [FROM | IN db]`,
/// rewritten as SQL over the rows of `snapshot` (`None`: another statement).
/// Names become string literals, quotes doubled, never identifiers.
fn catalog_statement(sql: &str, default_db: &str, snapshot: &CatalogSnapshot) -> Option<String> {
    let words: Vec<&str> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .collect();
    let is = |i: usize, w: &[&str]| {
        words
            .get(i)
            .is_some_and(|x| w.iter().any(|w| x.eq_ignore_ascii_case(w)))
    };
    if !is(0, &["show"]) {
        return None;
    }
    let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let (columns, rows): (&str, Vec<String>) = match words.len() {
        2 if is(1, &["databases"]) => {
            let rows = snapshot
                .databases()
                .map(|d| format!("({})", literal(d.name())));
            ("\"database\"", rows.collect())
        }
        2 | 4 if is(1, &["tables", "measurements"]) => {
            let db = match words.get(3) {
                Some(name) if is(2, &["from", "in"]) => name.trim_matches('"'),
                Some(_) => return None,
                None => default_db,
            };
            let rows = snapshot.database(db).into_iter().flat_map(|d| d.tables());
            let rows = rows.map(|t| format!("({}, {})", literal(db), literal(t.name())));
            ("\"database\", \"table_name\"", rows.collect())
        }
        _ => return None,
    };
    Some(if rows.is_empty() {
        let nulls = columns
            .split(", ")
            .map(|c| format!("CAST(NULL AS VARCHAR) AS {c}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("SELECT {nulls} WHERE false")
    } else {
        let last = columns.rsplit(", ").next().unwrap_or(columns);
        format!(
            "SELECT * FROM (VALUES {}) AS t({columns}) ORDER BY {last}",
            rows.join(", ")
        )
    })
}
