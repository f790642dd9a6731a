//! SQL queries: `GET|POST /api/v3/query_sql`.
//!
//! Parameters `db`, `q`, `format` and `params` come from the query string or, for
//! POST, from a JSON body (body values win).
//!
//! - `format`: `json`, `jsonl`, `csv`, `parquet` or `pretty`. Without it the
//!   `Accept` header chooses ([`negotiate`]); without either, JSON. An unknown
//!   `format` is a 400, an `Accept` naming no supported type a 406.
//! - `params`: values for `$name` placeholders, a JSON object (in the query string
//!   JSON-encoded, `params={"host":"a"}`; in a body, an object). They are bound
//!   into the plan by `strata-query`, never spliced into the SQL.
//!
//! JSON, JSON Lines and CSV stream: each record batch is encoded and sent as it is
//! produced, so memory stays bounded by a few batches and their encodings, not
//! by the result (see `stream.rs` and `strata_query::QueryStream::encode`). Planning errors and an error in the first batch answer 400 with
//! the JSON error shape; a failure after the first bytes were sent ends the
//! response early (the status line is already gone). Parquet and pretty are
//! encoded whole before the answer (the Parquet footer, the table's column
//! widths), up to [`DEFAULT_BUFFER_LIMIT`] bytes; beyond it the answer is a 400
//! naming the limit.

use super::Params;
use super::stream::{self, encode_error};
use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use strata_query::QueryParams;
use strata_query::format::{BufferedEncoder, DEFAULT_BUFFER_LIMIT, Encoder, Format, MEDIA_TYPES};

#[derive(Debug, Default, Deserialize)]
struct QueryBody {
    db: Option<String>,
    q: Option<String>,
    format: Option<String>,
    params: Option<serde_json::Value>,
}

struct QueryRequest {
    db: String,
    q: String,
    format: Format,
    params: Option<QueryParams>,
}

/// The format an `Accept` header asks for: among the media types it allows
/// (`q` > 0), the one with the highest `q` (the first on a tie) that names a
/// format. `*/*` and `application/*` mean JSON, `text/*` CSV; no header means
/// JSON. A header that allows none of them is a 406 listing the accepted types.
fn negotiate(headers: &HeaderMap) -> Result<Format, ApiError> {
    let mut best: Option<(f32, Format)> = None;
    let mut named_any = false;
    let values = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    for item in values.flat_map(|v| v.split(',')) {
        let mut parts = item.split(';');
        let media_type = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if media_type.is_empty() {
            continue;
        }
        named_any = true;
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .next()
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .unwrap_or(0.0);
        if q <= 0.0 {
            continue;
        }
        let format = match media_type.as_str() {
            "*/*" | "application/*" => Some(Format::Json),
            "text/*" => Some(Format::Csv),
            other => Format::from_media_type(other),
        };
        if let Some(f) = format
            && best.is_none_or(|(best_q, _)| q > best_q)
        {
            best = Some((q, f));
        }
    }
    match best {
        Some((_, f)) => Ok(f),
        None if !named_any => Ok(Format::Json),
        None => {
            let accepted: Vec<&str> = MEDIA_TYPES.iter().map(|(m, _)| *m).collect();
            let given: Vec<&str> = headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            Err(ApiError::NotAcceptable(format!(
                "no supported format in Accept {:?}; accepted: {} (or */*), or set the format parameter (json, jsonl, csv, parquet, pretty)",
                given.join(", "),
                accepted.join(", ")
            )))
        }
    }
}

/// Adds how to bind a value to DataFusion's "placeholder without a value" errors.
fn placeholder_hint(e: ApiError) -> ApiError {
    match e {
        ApiError::BadRequest(m) if m.to_ascii_lowercase().contains("placeholder") => {
            ApiError::BadRequest(format!(
                "{m}; give each $name a value in params, a JSON object such as {{\"name\": \"value\"}}"
            ))
        }
        other => other,
    }
}

fn request(
    method: &Method,
    p: Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<QueryRequest, ApiError> {
    let mut from_body = QueryBody::default();
    if *method == Method::POST && !body.is_empty() {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        if !ct.starts_with("application/json") {
            return Err(ApiError::BadRequest(format!(
                "unsupported Content-Type {ct:?}; send the query as JSON {{\"db\", \"q\", \"format\", \"params\"}} or as query parameters"
            )));
        }
        from_body = serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    }
    let pick = |b: Option<String>, key: &str| {
        b.or_else(|| p.get(key).cloned())
            .filter(|s| !s.trim().is_empty())
    };
    let db = pick(from_body.db, "db").ok_or_else(|| {
        ApiError::BadRequest("missing parameter \"db\": the database to query".into())
    })?;
    let q = pick(from_body.q, "q")
        .ok_or_else(|| ApiError::BadRequest("missing parameter \"q\": the SQL to run".into()))?;
    let format = match pick(from_body.format, "format") {
        None => negotiate(headers)?,
        Some(f) => f.parse().map_err(ApiError::BadRequest)?,
    };
    let params = match (from_body.params, p.get("params")) {
        (Some(serde_json::Value::Null), _) | (None, None) => None,
        (Some(v), _) => Some(QueryParams::from_json(&v)),
        (None, Some(text)) if text.trim().is_empty() => None,
        (None, Some(text)) => Some(QueryParams::parse(text)),
    }
    .transpose()
    .map_err(|e| ApiError::BadRequest(e.to_string()))?
    .filter(|p| !p.is_empty());
    Ok(QueryRequest {
        db,
        q,
        format,
        params,
    })
}

pub(crate) async fn sql(
    State(s): State<AppState>,
    method: Method,
    Query(p): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, resp) = match run(&s, &method, p, &headers, &body).await {
        Ok(r) => (StatusCode::OK, r),
        Err(e) => (e.status(), e.into_response()),
    };
    s.metrics.record(routes::QUERY_SQL, status.as_u16(), 0);
    resp
}

async fn run(
    s: &AppState,
    method: &Method,
    p: Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let req = request(method, p, headers, body)?;
    let running = s.metrics.query_started();
    let mut q = s
        .query
        .sql_with_params(&req.db, &req.q, req.params.map(Into::into))
        .await
        .map_err(|e| placeholder_hint(e.into()))?;
    if !req.format.is_streamed() {
        let mut encoder = BufferedEncoder::new(req.format, q.schema, DEFAULT_BUFFER_LIMIT)
            .map_err(encode_error)?;
        while let Some(batch) = q.stream.next().await {
            let batch = batch.map_err(strata_query::QueryError::from)?;
            encoder.push(&batch).map_err(encode_error)?;
        }
        let bytes = encoder.finish().map_err(encode_error)?;
        return Ok(with_content_type(
            Response::new(Body::from(bytes)),
            req.format,
        ));
    }
    let encoder = Encoder::new(req.format, Arc::clone(&q.schema));
    let body = stream::body(q, encoder, running).await?;
    Ok(with_content_type(Response::new(body), req.format))
}

fn with_content_type(mut resp: Response, format: Format) -> Response {
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp
}
