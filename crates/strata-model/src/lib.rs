//! Strata's protocol-neutral data model.
//!
//! Every wire format (line protocol, MessagePack, remote write) is parsed into a
//! [`WriteBatch`]: per table, columns of values ready to become Arrow arrays without
//! copying. The storage engine, the WAL and the streaming engine see only this type,
//! never a wire format. This crate does no I/O.
//!
//! ```
//! use strata_model::{ColumnKind, FieldType, FieldValue, WriteBatch};
//!
//! let mut batch = WriteBatch::default();
//! let cpu = batch.table_mut("cpu");
//! let row = cpu.begin_row(1, 1_700_000_000_000_000_000);
//! let host = cpu.resolve_column(0, "host", ColumnKind::Tag).unwrap();
//! cpu.push_tag(host, "a");
//! let usage = cpu.resolve_column(1, "usage", ColumnKind::Field(FieldType::Float)).unwrap();
//! cpu.push_field(usage, FieldValue::F64(0.5));
//! assert_eq!(row, 0);
//! batch.finish();
//! assert_eq!(batch.row_count(), 1);
//! ```

mod batch;
mod ids;
mod names;
mod precision;

pub use batch::{
    BATCH_FORMAT_VERSION, BatchColumn, CodecError, ColumnConflict, ColumnData, ColumnKind,
    FieldType, FieldValue, StrColumn, TableBatch, TagColumn, Validity, WriteBatch,
};
pub use ids::{ColumnId, DbId, SeriesId, TableId};
pub use names::{MAX_NAME_LEN, NameError, NameKind, validate_name};
pub use precision::{Precision, PrecisionError, infer_time_unit, now_nanos};

/// Name of the timestamp column every table has.
pub const TIME_COLUMN: &str = "time";
