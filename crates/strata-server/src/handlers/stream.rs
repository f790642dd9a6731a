//! Sending a query result as a streamed response body, shared by the SQL route
//! families.
//!
//! Invariants (see [`QueryStream::encode`]): memory is bounded by a few record
//! batches and their encodings, not by the result; the body owns the encoded
//! stream, and with it the query and its [`RunningQuery`] guard, so when the
//! client closes the connection hyper drops the body, which cancels the query.
//! A failure after the first bytes ends the body early: the status line is
//! already sent, and a truncated body is the only signal left.

use crate::error::ApiError;
use crate::metrics::RunningQuery;
use axum::body::{Body, Bytes};
use futures::StreamExt;
use strata_query::format::{BatchEncoder, EncodeError};
use strata_query::{QueryStream, ResultError};

/// An encoding failure: a buffered result over its limit is the client's to
/// fix (400); anything else is ours (500).
pub(crate) fn encode_error(e: EncodeError) -> ApiError {
    match e {
        EncodeError::TooLarge { .. } => ApiError::BadRequest(e.to_string()),
        _ => ApiError::Internal(e.to_string()),
    }
}

fn result_error(e: ResultError) -> ApiError {
    match e {
        ResultError::Query(e) => e.into(),
        ResultError::Encode(e) => encode_error(e),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Waits for the first batch of `q`, so that an error there still gets a
/// status, then returns a body that sends `enc`'s opening bytes, that batch,
/// each further batch as it is produced, and the closing bytes.
pub(crate) async fn body<E>(q: QueryStream, enc: E, running: RunningQuery) -> Result<Body, ApiError>
where
    E: BatchEncoder + Send + 'static,
{
    let chunks = q.encode(enc).await.map_err(result_error)?;
    let chunks = chunks.map(move |chunk| {
        // The guard counts the query as running until the body is done.
        let _running = &running;
        chunk.map(Bytes::from).map_err(|e| {
            tracing::warn!(error = %e, "query failed after the response started");
            std::io::Error::other(e)
        })
    });
    Ok(Body::from_stream(chunks))
}
