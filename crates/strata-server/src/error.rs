//! The error shape of every route:
//! `{"error": "...", "code": "...", "message": "...", "lines": [{"line": N, "message": "..."}]}`.
//! `error` is the human-readable text; `code` a stable machine-readable word
//! (InfluxDB v2's codes: `invalid`, `not found`, `forbidden`, `request too large`,
//! `unsupported media type`, `internal error`, plus `not acceptable` for 406);
//! `message` repeats `error` because InfluxDB v2 clients read that key; `lines`
//! is present only for rejected lines.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use thiserror::Error;

/// One rejected line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LineMessage {
    /// 1-based line (line protocol) or record (MessagePack) number.
    pub line: u32,
    /// Why it was rejected.
    pub message: String,
}

/// An HTTP error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request is malformed (missing parameter, bad value, bad body).
    #[error("{0}")]
    BadRequest(String),
    /// 400: some lines were rejected (others may have been written).
    #[error("{message}")]
    Lines {
        /// Summary.
        message: String,
        /// The rejected lines (capped; the summary gives the count).
        lines: Vec<LineMessage>,
    },
    /// 403: the statement is not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown database or route.
    #[error("{0}")]
    NotFound(String),
    /// 406: no format the `Accept` header allows (the message lists the accepted
    /// media types).
    #[error("{0}")]
    NotAcceptable(String),
    /// 413: body larger than the limit.
    #[error(
        "request body exceeds the limit of {limit} bytes (after decompression); split the write into smaller batches"
    )]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: unsupported content encoding.
    #[error("unsupported Content-Encoding {0:?}; use gzip, zstd, snappy or none")]
    UnsupportedEncoding(String),
    /// 415: unsupported content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500: a failure on our side.
    #[error("{0}")]
    Internal(String),
    /// 503 with `Retry-After`: temporarily unable (buffer full, WAL disk failing);
    /// nothing of the request was acknowledged.
    #[error("{message}")]
    Unavailable {
        /// What is wrong.
        message: String,
        /// Seconds the client should wait.
        retry_after_secs: u32,
    },
}

impl ApiError {
    /// Stable machine-readable code (InfluxDB v2 vocabulary).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) | ApiError::Lines { .. } => "invalid",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not found",
            ApiError::NotAcceptable(_) => "not acceptable",
            ApiError::TooLarge { .. } => "request too large",
            ApiError::UnsupportedEncoding(_) | ApiError::UnsupportedMediaType(_) => {
                "unsupported media type"
            }
            ApiError::Internal(_) => "internal error",
            ApiError::Unavailable { .. } => "unavailable",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Lines { .. } => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedEncoding(_) | ApiError::UnsupportedMediaType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lines: Option<&'a [LineMessage]>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let lines = match &self {
            ApiError::Lines { lines, .. } => Some(lines.as_slice()),
            _ => None,
        };
        let text = self.to_string();
        let body = Body {
            error: &text,
            code: self.code(),
            message: &text,
            lines,
        };
        let bytes = serde_json::to_vec(&body)
            .unwrap_or_else(|_| b"{\"error\":\"internal error\"}".to_vec());
        let mut resp = (status, bytes).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<strata_query::QueryError> for ApiError {
    fn from(e: strata_query::QueryError) -> Self {
        use strata_query::QueryError as Q;
        match e {
            Q::DatabaseNotFound(_) => ApiError::NotFound(e.to_string()),
            Q::Plan(_) => ApiError::BadRequest(e.to_string()),
            Q::NotAllowed(_) => ApiError::Forbidden(e.to_string()),
            // Execution failures (casts, overflow, resource limits) come from the query.
            _ => ApiError::BadRequest(e.to_string()),
        }
    }
}
