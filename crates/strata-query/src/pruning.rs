//! File pruning from manifest statistics: DataFusion's [`PruningPredicate`]
//! evaluated over each file's per-column min/max, before any file is opened.

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampNanosecondArray,
    UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use std::collections::HashSet;
use std::sync::Arc;
use strata_storage::manifest::{ColumnStats, ParquetFile, StatValue};

struct FileStats<'a> {
    files: &'a [Arc<ParquetFile>],
    schema: &'a SchemaRef,
}

fn string(v: &StatValue) -> Option<&str> {
    match v {
        StatValue::Str(s) => Some(s.as_str()),
        _ => None,
    }
}

fn stat<'f>(
    f: &'f ParquetFile,
    name: &str,
    pick: fn(&ColumnStats) -> Option<&StatValue>,
) -> Option<&'f StatValue> {
    f.columns.get(name).and_then(pick)
}

impl FileStats<'_> {
    /// One bound per file as an array of `A`; `convert` maps a recorded value to
    /// the column's type (`None`: unknown, never prunes).
    fn collect<'s, A, T>(
        &'s self,
        column: &Column,
        pick: fn(&ColumnStats) -> Option<&StatValue>,
        convert: impl Fn(&'s StatValue) -> Option<T>,
    ) -> ArrayRef
    where
        A: FromIterator<Option<T>> + datafusion::arrow::array::Array + 'static,
    {
        let array: A = self
            .files
            .iter()
            .map(|f| stat(f, &column.name, pick).and_then(&convert))
            .collect();
        Arc::new(array)
    }

    fn bounds(
        &self,
        column: &Column,
        pick: fn(&ColumnStats) -> Option<&StatValue>,
    ) -> Option<ArrayRef> {
        let field = self.schema.field_with_name(&column.name).ok()?;
        let int = |v: &StatValue| match v {
            StatValue::Int(n) => Some(*n),
            _ => None,
        };
        Some(match field.data_type() {
            DataType::Utf8 => self.collect::<StringArray, _>(column, pick, string),
            DataType::Dictionary(_, v) if **v == DataType::Utf8 => {
                self.collect::<StringArray, _>(column, pick, string)
            }
            DataType::Int64 => self.collect::<Int64Array, _>(column, pick, int),
            DataType::Timestamp(_, _) => {
                self.collect::<TimestampNanosecondArray, _>(column, pick, int)
            }
            DataType::UInt64 => self.collect::<UInt64Array, _>(column, pick, |v| match v {
                StatValue::UInt(n) => Some(*n),
                StatValue::Int(n) => u64::try_from(*n).ok(),
                _ => None,
            }),
            DataType::Float64 => self.collect::<Float64Array, _>(column, pick, |v| match v {
                StatValue::Float(x) => Some(*x),
                StatValue::Int(n) => Some(*n as f64),
                _ => None,
            }),
            DataType::Boolean => self.collect::<BooleanArray, _>(column, pick, |v| match v {
                StatValue::Bool(b) => Some(*b),
                _ => None,
            }),
            _ => return None,
        })
    }
}

impl PruningStatistics for FileStats<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, |s| s.min.as_ref())
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, |s| s.max.as_ref())
    }

    fn num_containers(&self) -> usize {
        self.files.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        // A column a file lacks is all nulls there.
        Some(Arc::new(
            self.files
                .iter()
                .map(|f| Some(f.columns.get(&column.name).map_or(f.rows, |c| c.nulls)))
                .collect::<UInt64Array>(),
        ))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(Arc::new(
            self.files
                .iter()
                .map(|f| Some(f.rows))
                .collect::<UInt64Array>(),
        ))
    }

    #[allow(clippy::mutable_key_type)]
    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// Keeps the files `predicate` may match. Files are kept when the predicate
/// cannot be evaluated: pruning is an optimisation, never a filter.
pub(crate) fn prune_files(
    files: Vec<Arc<ParquetFile>>,
    predicate: Option<&Arc<dyn PhysicalExpr>>,
    schema: &SchemaRef,
) -> Vec<Arc<ParquetFile>> {
    let Some(predicate) = predicate else {
        return files;
    };
    let Some(pp) = PruningPredicateBuilder::new()
        .with_file_schema(Arc::clone(schema))
        .build(Arc::clone(predicate))
    else {
        return files;
    };
    let stats = FileStats {
        files: &files,
        schema,
    };
    match pp.prune(&stats) {
        Ok(keep) => files
            .into_iter()
            .zip(keep)
            .filter_map(|(f, k)| k.then_some(f))
            .collect(),
        Err(_) => files,
    }
}
