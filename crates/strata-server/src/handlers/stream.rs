//! Sending a query result as a streamed response body, shared by the SQL route
//! families.
//!
//! Invariants: memory is bounded by one record batch and its encoding, not by
//! the result; the body owns the query's stream and its [`RunningQuery`]
//! guard, so when the client closes the connection hyper drops the body, which
//! drops the DataFusion stream and cancels the query. A failure after the
//! first bytes ends the body early: the status line is already sent, and a
//! truncated body is the only signal left.

use crate::error::ApiError;
use crate::metrics::RunningQuery;
use axum::body::{Body, Bytes};
use futures::StreamExt;
use strata_query::format::{BatchEncoder, EncodeError};
use strata_query::{QueryError, QueryStream};

/// An encoding failure: a buffered result over its limit is the client's to
/// fix (400); anything else is ours (500).
pub(crate) fn encode_error(e: EncodeError) -> ApiError {
    match e {
        EncodeError::TooLarge { .. } => ApiError::BadRequest(e.to_string()),
        _ => ApiError::Internal(e.to_string()),
    }
}

/// Waits for the first batch of `q`, so that an error there still gets a
/// status, then returns a body that sends `enc`'s opening bytes, that batch,
/// each further batch as it is produced, and the closing bytes.
pub(crate) async fn body<E>(
    mut q: QueryStream,
    mut enc: E,
    running: RunningQuery,
) -> Result<Body, ApiError>
where
    E: BatchEncoder + Send + 'static,
{
    let first = match q.stream.next().await {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => return Err(QueryError::from(e).into()),
        None => None,
    };
    let mut head = enc.begin().map_err(encode_error)?;
    if let Some(b) = &first {
        head.extend(enc.batch(b).map_err(encode_error)?);
    }
    let rest = futures::stream::unfold(
        (q.stream, enc, false, running),
        |(mut stream, mut enc, done, running)| async move {
            if done {
                return None;
            }
            let (chunk, done) = match stream.next().await {
                Some(Ok(b)) => (enc.batch(&b).map_err(std::io::Error::other), false),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "query failed after the response started");
                    (Err(std::io::Error::other(e)), true)
                }
                None => (enc.end().map_err(std::io::Error::other), true),
            };
            Some((chunk.map(Bytes::from), (stream, enc, done, running)))
        },
    );
    let head = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) });
    Ok(Body::from_stream(head.chain(rest)))
}
