//! The WAL payload of one write: the database name and the validated
//! [`WriteBatch`] (format in `docs/format/wal.md`). The catalog change a write
//! needs is not repeated here: it is persisted (fsynced `catalog.json`) before the
//! record is appended, so replay finds every name it references.

use strata_model::{CodecError, WriteBatch};
use thiserror::Error;

const KIND_WRITE: u8 = 1;

/// A record that cannot be decoded.
#[derive(Debug, Error)]
pub(crate) enum RecordError {
    /// Shorter than its header.
    #[error("WAL record is truncated ({len} bytes)")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// Unknown record kind.
    #[error("WAL record kind {0} is unknown to this build")]
    Kind(u8),
    /// Bad database name bytes.
    #[error("WAL record database name is not UTF-8")]
    Name,
    /// The batch failed to decode.
    #[error("WAL record batch: {0}")]
    Batch(#[from] CodecError),
}

/// Appends the record for a write of `batch` to `db`.
pub(crate) fn encode(db: &str, batch: &WriteBatch, out: &mut Vec<u8>) {
    out.reserve(3 + db.len() + batch.encoded_len());
    out.push(KIND_WRITE);
    // Database names are at most a few hundred bytes (validated by the catalog).
    out.extend_from_slice(&(db.len() as u16).to_le_bytes());
    out.extend_from_slice(db.as_bytes());
    batch.encode(out);
}

/// Decodes a record written by [`encode`].
pub(crate) fn decode(bytes: &[u8]) -> Result<(&str, WriteBatch), RecordError> {
    let truncated = || RecordError::Truncated { len: bytes.len() };
    let (&kind, rest) = bytes.split_first().ok_or_else(truncated)?;
    if kind != KIND_WRITE {
        return Err(RecordError::Kind(kind));
    }
    let len_bytes: [u8; 2] = rest
        .get(..2)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(truncated)?;
    let len = u16::from_le_bytes(len_bytes) as usize;
    let name = rest.get(2..2 + len).ok_or_else(truncated)?;
    let name = std::str::from_utf8(name).map_err(|_| RecordError::Name)?;
    let batch = WriteBatch::decode(&rest[2 + len..])?;
    Ok((name, batch))
}
