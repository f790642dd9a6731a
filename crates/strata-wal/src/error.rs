//! The WAL's error type. Messages name the file and byte offset concerned and
//! say what an operator can do about it.

use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// WAL failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WalError {
    /// A file operation on the WAL directory or a segment failed. For an
    /// append this means the record was not acknowledged.
    #[error(
        "WAL {op} failed on {path} at byte {offset}: {source}; check the disk holding the WAL directory (free space, permissions, hardware errors)"
    )]
    Io {
        /// What was being done (`write`, `fdatasync`, `create segment`, ...).
        op: &'static str,
        /// The segment file or directory.
        path: PathBuf,
        /// Byte offset in the file where the operation started (0 when the
        /// operation is not positional).
        offset: u64,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A segment holds bytes that are neither valid records nor a torn tail.
    #[error(
        "WAL segment {path} is corrupt at byte {offset}: {reason}; restore the file from a backup, or set skip_corrupt to drop the rest of this segment (its later records are lost)"
    )]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the first bad byte sequence (a record or header start).
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The payload is longer than a record may be.
    #[error("WAL record of {len} bytes exceeds the maximum of {max} bytes; split the write")]
    RecordTooLarge {
        /// Payload length.
        len: usize,
        /// Largest accepted payload.
        max: usize,
    },
    /// A sync mode string is not one of the accepted forms.
    #[error(
        "invalid WAL sync mode {value:?}: expected \"always\", \"interval:<ms>\" with ms > 0 (e.g. \"interval:100\") or \"none\""
    )]
    InvalidSyncMode {
        /// The rejected text.
        value: String,
    },
    /// The configuration cannot be used.
    #[error("invalid WAL configuration: {0}")]
    InvalidConfig(String),
    /// The WAL was closed; the append was not written.
    #[error("WAL is closed; the write was not acknowledged")]
    Closed,
    /// The writer thread stopped unexpectedly (a bug); the append's fate is
    /// unknown and it was not acknowledged.
    #[error(
        "WAL writer thread stopped unexpectedly; the write was not acknowledged (see the log, restart the server)"
    )]
    WriterStopped,
}

impl WalError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        offset: u64,
        source: io::Error,
    ) -> Self {
        Self::Io {
            op,
            path: path.into(),
            offset,
            source,
        }
    }

    /// A copy for the next waiter of a failed group. `io::Error` is not `Clone`;
    /// the copy keeps the OS error code (so `raw_os_error` still works) or the
    /// kind and message.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Io {
                op,
                path,
                offset,
                source,
            } => Self::Io {
                op,
                path: path.clone(),
                offset: *offset,
                source: clone_io(source),
            },
            Self::Corrupt {
                path,
                offset,
                reason,
            } => Self::Corrupt {
                path: path.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            Self::RecordTooLarge { len, max } => Self::RecordTooLarge {
                len: *len,
                max: *max,
            },
            Self::InvalidSyncMode { value } => Self::InvalidSyncMode {
                value: value.clone(),
            },
            Self::InvalidConfig(m) => Self::InvalidConfig(m.clone()),
            Self::Closed => Self::Closed,
            Self::WriterStopped => Self::WriterStopped,
        }
    }
}

fn clone_io(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// [`Wal::open`](crate::Wal::open) failures: the WAL's own, or the replay
/// callback's. On either, the callback may already have seen a prefix of the
/// records; the caller should discard what it built from them.
#[derive(Debug, Error)]
pub enum OpenError<E> {
    /// Opening, validating or repairing the log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The replay callback returned an error; replay stopped there.
    #[error("WAL replay callback failed: {0}")]
    Callback(E),
}
