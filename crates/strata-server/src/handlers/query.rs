//! SQL queries: `GET|POST /api/v3/query_sql`.
//!
//! Parameters `db`, `q` and `format` (`json`, `jsonl`, `csv`; default `json`) come
//! from the query string or, for POST, from a JSON body (body values win). Results
//! stream: each record batch is encoded and sent as it is produced, so memory stays
//! bounded by a batch, not by the result. Planning errors and an error in the first
//! batch answer 400 with the JSON error shape; a failure after the first bytes were
//! sent ends the response early (the status line is already gone).

use super::Params;
use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use strata_query::format::{Encoder, Format};

#[derive(Debug, Default, Deserialize)]
struct QueryBody {
    db: Option<String>,
    q: Option<String>,
    format: Option<String>,
}

struct QueryRequest {
    db: String,
    q: String,
    format: Format,
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
                "unsupported Content-Type {ct:?}; send the query as JSON {{\"db\", \"q\", \"format\"}} or as query parameters"
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
        None => Format::Json,
        Some(f) => f.parse().map_err(ApiError::BadRequest)?,
    };
    Ok(QueryRequest { db, q, format })
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
    let mut q = s.query.sql(&req.db, &req.q).await?;
    // Wait for the first batch so that early execution errors still get a status.
    let first = match q.stream.next().await {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => return Err(strata_query::QueryError::from(e).into()),
        None => None,
    };
    let mut encoder = Encoder::new(req.format, q.schema);
    let mut head = encoder.begin();
    if let Some(b) = &first {
        head.push_str(
            &encoder
                .batch(b)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        );
    }
    let rest = futures::stream::unfold(
        (q.stream, encoder, false),
        |(mut stream, mut enc, done)| async move {
            if done {
                return None;
            }
            match stream.next().await {
                Some(Ok(b)) => {
                    let chunk = enc.batch(&b).map_err(std::io::Error::other);
                    Some((chunk.map(Bytes::from), (stream, enc, false)))
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "query failed after the response started");
                    Some((Err(std::io::Error::other(e)), (stream, enc, true)))
                }
                None => {
                    let tail = enc.end();
                    Some((Ok(Bytes::from(tail)), (stream, enc, true)))
                }
            }
        },
    );
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) })
        .chain(rest);
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(req.format.content_type()),
    );
    Ok(resp)
}
