//! [`TableBatch`] -> Arrow [`RecordBatch`] without copying column data: the
//! vectors the parser filled become Arrow buffers as they are.

use crate::catalog::{arrow_field, time_data_type};
use arrow::array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{Field, Int32Type, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::sync::Arc;
use strata_model::{ColumnData, StrColumn, TIME_COLUMN, TableBatch, Validity};

fn nulls(validity: Validity, null_count: usize) -> Option<NullBuffer> {
    if null_count == 0 {
        return None;
    }
    let (bytes, len) = validity.into_parts();
    // Safety of the count: the batch tracks nulls exactly (see TableBatch invariants).
    let bits = BooleanBuffer::new(Buffer::from_vec(bytes), 0, len);
    Some(NullBuffer::new(bits))
}

fn strings(col: StrColumn, nulls: Option<NullBuffer>) -> Result<StringArray, ArrowError> {
    let (offsets, data) = col.into_parts();
    StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(data),
        nulls,
    )
}

/// Converts a finished batch; returns the record batch and its time range.
pub(crate) fn to_record_batch(batch: TableBatch) -> Result<(RecordBatch, i64, i64), ArrowError> {
    let (_, time, _, columns) = batch.into_parts();
    let min = time.iter().copied().min().unwrap_or(0);
    let max = time.iter().copied().max().unwrap_or(0);
    let mut fields: Vec<Field> = Vec::with_capacity(columns.len() + 1);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 1);
    for col in columns {
        let (name, kind, data, validity, null_count) = col.into_parts();
        fields.push(arrow_field(&name, kind));
        let nulls = nulls(validity, null_count);
        let array: ArrayRef = match data {
            ColumnData::Tag(tags) => {
                let (keys, values) = tags.into_parts();
                let keys = Int32Array::new(ScalarBuffer::from(keys), nulls);
                let values = strings(values, None)?;
                Arc::new(DictionaryArray::<Int32Type>::try_new(
                    keys,
                    Arc::new(values),
                )?)
            }
            ColumnData::F64(v) => Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls)),
            ColumnData::I64(v) => Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls)),
            ColumnData::U64(v) => Arc::new(UInt64Array::new(ScalarBuffer::from(v), nulls)),
            ColumnData::Bool(v) => {
                let (bytes, len) = v.into_parts();
                Arc::new(BooleanArray::new(
                    BooleanBuffer::new(Buffer::from_vec(bytes), 0, len),
                    nulls,
                ))
            }
            ColumnData::Str(v) => Arc::new(strings(v, nulls)?),
        };
        arrays.push(array);
    }
    fields.push(Field::new(TIME_COLUMN, time_data_type(), false));
    arrays.push(Arc::new(TimestampNanosecondArray::new(
        ScalarBuffer::from(time),
        None,
    )));
    let rb = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    Ok((rb, min, max))
}

/// Widens a record batch (which holds only the columns its write had) to the
/// table schema `schema`, filling absent columns with nulls. Shared by queries and
/// the persister so both see one table shape.
pub fn widen(
    schema: &arrow::datatypes::SchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch, ArrowError> {
    let rows = batch.num_rows();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(a) if a.data_type() == f.data_type() => Arc::clone(a),
            _ => arrow::array::new_null_array(f.data_type(), rows),
        })
        .collect();
    RecordBatch::try_new(Arc::clone(schema), columns)
}
