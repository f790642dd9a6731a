//! Per-column min/max of a Parquet file as recorded in the manifest, so queries
//! can drop whole files before opening them.
//!
//! Values come from the Parquet writer's own row-group statistics (exact for the
//! rows written), folded over row groups.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, StringArray, UInt64Array,
};
use arrow::datatypes::{DataType, Int64Type, Schema, TimestampNanosecondType};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::file::metadata::ParquetMetaData;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A statistics value. Timestamps are `Int` nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatValue {
    /// Signed integer or timestamp.
    Int(i64),
    /// Unsigned integer (serialised as a number > i64::MAX only when needed).
    UInt(u64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// String or tag.
    Str(String),
}

impl StatValue {
    fn cmp_same(&self, other: &StatValue) -> Option<Ordering> {
        match (self, other) {
            (StatValue::Int(a), StatValue::Int(b)) => Some(a.cmp(b)),
            (StatValue::UInt(a), StatValue::UInt(b)) => Some(a.cmp(b)),
            (StatValue::Float(a), StatValue::Float(b)) => a.partial_cmp(b),
            (StatValue::Bool(a), StatValue::Bool(b)) => Some(a.cmp(b)),
            (StatValue::Str(a), StatValue::Str(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// Min, max and null count of one column in one file. `None` bounds mean unknown
/// (all nulls, or statistics missing): such a column never prunes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// Smallest non-null value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<StatValue>,
    /// Largest non-null value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<StatValue>,
    /// Null values.
    pub nulls: u64,
}

fn value_at(array: &ArrayRef, i: usize) -> Option<StatValue> {
    if array.is_null(i) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Int64 => StatValue::Int(array.as_primitive::<Int64Type>().value(i)),
        DataType::Timestamp(_, _) => {
            StatValue::Int(array.as_primitive::<TimestampNanosecondType>().value(i))
        }
        DataType::UInt64 => StatValue::UInt(array.as_any().downcast_ref::<UInt64Array>()?.value(i)),
        DataType::Float64 => {
            let v = array.as_any().downcast_ref::<Float64Array>()?.value(i);
            if v.is_nan() {
                return None;
            }
            StatValue::Float(v)
        }
        DataType::Boolean => {
            StatValue::Bool(array.as_any().downcast_ref::<BooleanArray>()?.value(i))
        }
        DataType::Utf8 => StatValue::Str(
            array
                .as_any()
                .downcast_ref::<StringArray>()?
                .value(i)
                .to_owned(),
        ),
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            let key = dict.normalized_keys().get(i).copied()?;
            return value_at(dict.values(), key);
        }
        _ => return None,
    })
}

/// Folds `array` (one value per row group) to its extreme, or `None` if any row
/// group's bound is unknown (then the file-level bound is unknown too).
fn fold(array: &ArrayRef, want: Ordering) -> Option<StatValue> {
    let mut best: Option<StatValue> = None;
    for i in 0..array.len() {
        let v = value_at(array, i)?;
        best = match best {
            None => Some(v),
            Some(b) => match v.cmp_same(&b) {
                Some(o) if o == want => Some(v),
                Some(_) => Some(b),
                None => return None,
            },
        };
    }
    best
}

/// Statistics of every column of `schema` in a file described by `meta`.
pub(crate) fn column_stats(
    schema: &Schema,
    meta: &ParquetMetaData,
) -> BTreeMap<String, ColumnStats> {
    let mut out = BTreeMap::new();
    let descr = meta.file_metadata().schema_descr();
    for field in schema.fields() {
        let Ok(conv) = StatisticsConverter::try_new(field.name(), schema, descr) else {
            continue;
        };
        let groups = meta.row_groups().iter();
        let min = conv.row_group_mins(groups.clone()).ok();
        let max = conv.row_group_maxes(groups.clone()).ok();
        let nulls = conv
            .row_group_null_counts(groups)
            .ok()
            .map_or(0, |a| a.iter().flatten().sum());
        // An all-null row group has no bounds; the others still bound the file
        // (nulls never match a comparison), so skip those groups when folding.
        let rows_with_values =
            |a: Option<ArrayRef>| a.map(|a| strip_all_null_groups(&a, meta, &conv));
        let min = rows_with_values(min).flatten();
        let max = rows_with_values(max).flatten();
        out.insert(
            field.name().clone(),
            ColumnStats {
                min: min.as_ref().and_then(|a| fold(a, Ordering::Less)),
                max: max.as_ref().and_then(|a| fold(a, Ordering::Greater)),
                nulls,
            },
        );
    }
    out
}

fn strip_all_null_groups(
    bounds: &ArrayRef,
    meta: &ParquetMetaData,
    conv: &StatisticsConverter<'_>,
) -> Option<ArrayRef> {
    let groups = meta.row_groups();
    let nulls = conv.row_group_null_counts(groups.iter()).ok()?;
    let keep: BooleanArray = groups
        .iter()
        .enumerate()
        .map(|(i, g)| Some(!(nulls.is_valid(i) && nulls.value(i) == g.num_rows() as u64)))
        .collect();
    arrow::compute::filter(bounds, &keep).ok()
}
