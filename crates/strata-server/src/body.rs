//! Request bodies: size limit and `Content-Encoding` (gzip, zstd, and snappy's
//! block format, which Prometheus remote write uses).
//!
//! The limit applies to the decompressed size: a small gzip bomb is refused with
//! 413 as soon as it inflates past the limit, without inflating the rest.

use crate::error::ApiError;
use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use std::io::Read;

/// Reads the whole body, enforcing `limit` before and after decompression.
pub(crate) async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge { limit });
    }
    let encoding = headers.get(header::CONTENT_ENCODING).map(|v| {
        v.to_str()
            .unwrap_or("<not text>")
            .trim()
            .to_ascii_lowercase()
    });
    // Check the encoding before reading: a client sending an unknown one wants to
    // hear so regardless of size.
    let kind = match encoding.as_deref() {
        None | Some("") | Some("identity") => Encoding::Identity,
        Some("gzip") | Some("x-gzip") => Encoding::Gzip,
        Some("zstd") => Encoding::Zstd,
        Some("snappy") => Encoding::Snappy,
        Some(other) => return Err(ApiError::UnsupportedEncoding(other.to_owned())),
    };
    let raw = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over {
            ApiError::TooLarge { limit }
        } else {
            ApiError::BadRequest(format!("cannot read request body: {e}"))
        }
    })?;
    match kind {
        Encoding::Identity => Ok(raw),
        Encoding::Gzip => inflate(flate2::read::MultiGzDecoder::new(&raw[..]), limit, "gzip"),
        Encoding::Zstd => {
            let dec = zstd::stream::read::Decoder::with_buffer(&raw[..])
                .map_err(|e| ApiError::BadRequest(format!("invalid zstd body: {e}")))?;
            inflate(dec, limit, "zstd")
        }
        Encoding::Snappy => unsnappy(&raw, limit),
    }
}

/// Snappy's block format (not the framed one): the decoded length comes first,
/// so the limit is checked before anything is allocated.
fn unsnappy(raw: &[u8], limit: usize) -> Result<Bytes, ApiError> {
    let invalid = |e: snap::Error| ApiError::BadRequest(format!("invalid snappy body: {e}"));
    let len = snap::raw::decompress_len(raw).map_err(invalid)?;
    if len > limit {
        return Err(ApiError::TooLarge { limit });
    }
    let mut out = vec![0; len];
    let n = snap::raw::Decoder::new()
        .decompress(raw, &mut out)
        .map_err(invalid)?;
    out.truncate(n);
    Ok(Bytes::from(out))
}

enum Encoding {
    Identity,
    Gzip,
    Zstd,
    Snappy,
}

fn inflate(reader: impl Read, limit: usize, name: &str) -> Result<Bytes, ApiError> {
    let mut out = Vec::new();
    let mut limited = reader.take(limit as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("invalid {name} body: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}
