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

impl FileStats<'_> {
    fn bounds(
        &self,
        column: &Column,
        pick: fn(&ColumnStats) -> Option<&StatValue>,
    ) -> Option<ArrayRef> {
        let field = self.schema.field_with_name(&column.name).ok()?;
        fn stat<'f>(
            f: &'f ParquetFile,
            name: &str,
            pick: fn(&ColumnStats) -> Option<&StatValue>,
        ) -> Option<&'f StatValue> {
            f.columns.get(name).and_then(pick)
        }
        let array: ArrayRef = match field.data_type() {
            DataType::Dictionary(_, v) if **v == DataType::Utf8 => Arc::new(
                self.files
                    .iter()
                    .map(|f| match stat(f, &column.name, pick) {
                        Some(StatValue::Str(s)) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect::<StringArray>(),
            ),
            DataType::Utf8 => Arc::new(
                self.files
                    .iter()
                    .map(|f| match stat(f, &column.name, pick) {
                        Some(StatValue::Str(s)) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect::<StringArray>(),
            ),
            DataType::Int64 => Arc::new(
                self.files
                    .iter()
                    .map(|f| match stat(f, &column.name, pick) {
                        Some(StatValue::Int(v)) => Some(*v),
                        _ => None,
                    })
                    .collect::<Int64Array>(),
            ),
            DataType::Timestamp(_, _) => Arc::new(
                self.files
                    .iter()
                    .map(|f| match stat(f, &column.name, pick) {
                        Some(StatValue::Int(v)) => Some(*v),
                        _ => None,
                    })
                    .collect::<TimestampNanosecondArray>(),
            ),
            DataType::UInt64 => Arc::new(
                self.files
                    .iter()
                    .map(|f| match stat(f, &column.name, pick) {
                        Some(StatValue::UInt(v)) => Some(*v),
                        Some(StatValue::Int(v)) => u64::try_from(*v).ok(),
                        _ => None,
                    })
                    .collect::<UInt64Array>(),
            ),
            DataType::Float64 => Arc::new(
                self.files
                    .iter()
                    .map(|f| match stat(f, &column.name, pick) {
                        Some(StatValue::Float(v)) => Some(*v),
                        Some(StatValue::Int(v)) => Some(*v as f64),
                        _ => None,
                    })
                    .collect::<Float64Array>(),
            ),
            DataType::Boolean => Arc::new(
                self.files
                    .iter()
                    .map(|f| match stat(f, &column.name, pick) {
                        Some(StatValue::Bool(v)) => Some(*v),
                        _ => None,
                    })
                    .collect::<BooleanArray>(),
            ),
            _ => return None,
        };
        Some(array)
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
