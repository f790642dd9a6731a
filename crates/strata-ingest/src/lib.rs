//! Wire formats to [`WriteBatch`]: the only crate that knows a wire format.
//!
//! - [`line_protocol`]: InfluxDB line protocol (v1, v2 and v3 write APIs).
//! - [`msgpack`]: Arc's MessagePack columnar and row formats.
//! - [`prom`]: Prometheus remote write 1.0.
//!
//! Each decoder writes straight into the columns of a [`WriteBatch`]; rejected lines
//! are reported as [`LineError`]s beside the batch, so the API layer decides whether
//! a partial write is acceptable.

pub mod line_protocol;
pub mod msgpack;
pub mod prom;

use strata_model::{Precision, WriteBatch};

/// Default longest accepted line, in bytes (InfluxDB has no limit; one line of
/// 1 MiB is already far beyond any real point).
pub const DEFAULT_MAX_LINE_LEN: usize = 1 << 20;
/// Default longest accepted tag value, in bytes.
pub const DEFAULT_MAX_TAG_VALUE_LEN: usize = 64 * 1024;

/// How to interpret a request body.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// Unit of timestamps given in the body.
    pub precision: Precision,
    /// Server time in nanoseconds, for rows without a timestamp (truncated to
    /// `precision` by the parser).
    pub now_ns: i64,
    /// Longest accepted line (line protocol) in bytes.
    pub max_line_len: usize,
    /// Longest accepted tag value in bytes.
    pub max_tag_value_len: usize,
}

impl ParseOptions {
    /// Options with default limits.
    pub fn new(precision: Precision, now_ns: i64) -> Self {
        Self {
            precision,
            now_ns,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_tag_value_len: DEFAULT_MAX_TAG_VALUE_LEN,
        }
    }
}

/// A rejected line (line protocol: 1-based line number; MessagePack: 1-based
/// record or row number) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based position in the body.
    pub line: u32,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

/// The rows that parsed and the lines that did not.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Accepted rows, finished (see [`WriteBatch::finish`]).
    pub batch: WriteBatch,
    /// Rejected lines, in body order.
    pub errors: Vec<LineError>,
}
