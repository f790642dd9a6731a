//! Health, ping, metrics and the fallbacks.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) async fn health(State(s): State<AppState>) -> Response {
    Json(json!({
        "status": "pass",
        "name": "strata",
        "version": VERSION,
        "uptime_seconds": s.started.elapsed().as_secs(),
    }))
    .into_response()
}

pub(crate) async fn ping() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert("X-Influxdb-Version", HeaderValue::from_static(VERSION));
    h.insert("X-Influxdb-Build", HeaderValue::from_static("Strata"));
    r
}

pub(crate) async fn metrics(State(s): State<AppState>) -> Response {
    let mut text = s.metrics.render(&s.engine.database_stats());
    crate::metrics::render_engine(&mut text, &s.engine);
    crate::metrics::render_query_caches(&mut text, &s.query.cache_stats());
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

pub(crate) async fn method_not_allowed(uri: Uri) -> Response {
    let mut r =
        ApiError::BadRequest(format!("method not allowed for {}", uri.path())).into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}
