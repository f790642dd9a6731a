//! The last-rows index: for every series of a table, its newest persisted row.
//!
//! Questions such as "the latest row of every host" (TSBS lastpoint, `DISTINCT
//! ON (hostname) ... ORDER BY hostname, time DESC`, `last_value(x ORDER BY
//! time)`) depend only on each series' newest row. Scanning every file for them
//! costs as much as reading the whole table; this index answers them from one
//! row per series.
//!
//! Durable form: each Parquet file has a sidecar, written and uploaded with it
//! before the manifest commit, holding the newest row of each series in that
//! file (one row per series; files are sorted by series then time, so these are
//! the rows before each series boundary). Its path is the manifest entry's
//! [`ParquetFile::last_rows`]. A file with few rows per series names itself
//! instead (see [`MIN_ROWS_PER_SERIES`]); reading it gives the same newest rows.
//! Files of earlier builds name nothing, and a table with such a file is not
//! served by the index.
//!
//! In memory: per table, the merge of the sidecars of the files seen so far
//! (newest row per series across them), built at server start (or on first
//! use) and extended, by the next query that needs it, with the sidecars of
//! files committed since. Its size is one row per series of
//! the table. Buffered rows are not in it: a reader adds them itself.

use crate::buffer::widen;
use crate::manifest::ParquetFile;
use crate::persist::PersistError;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef, TimestampNanosecondType};
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use strata_model::{DbId, TIME_COLUMN, TableId};
use thiserror::Error;

/// Prefix of the sidecars. Under `_strata/`, so tools globbing the data files
/// (`<db>/<table>/**/*.parquet`) never read them as rows of the table.
const PREFIX: &str = "_strata/last_rows";
/// Sidecars read at once while the index catches up.
const CONCURRENT_READS: usize = 16;
/// A file gets a sidecar only if it holds at least this many rows per series
/// on average. With fewer (high-cardinality or churning tables: in TSBS's
/// new-series workload every row is a new series) a sidecar would be about as
/// large as the file: the file itself serves as its sidecar instead, and no
/// second object is written.
pub(crate) const MIN_ROWS_PER_SERIES: usize = 4;
/// Series of one table the in-memory index holds at most. Beyond it the table
/// is read in full: the index would cost memory on the scale of the rows it
/// saves reading.
pub const MAX_SERIES: usize = 1_000_000;

/// Failures of the last-rows index.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LastRowsError {
    /// Reading a sidecar failed.
    #[error("last-rows sidecar {path}: object store error: {source}")]
    Store {
        /// Object concerned.
        path: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// A sidecar is not valid Parquet.
    #[error("last-rows sidecar {path} is damaged: {source}")]
    Decode {
        /// Object concerned.
        path: String,
        /// The Parquet error.
        source: parquet::errors::ParquetError,
    },
    /// Merging rows failed (a bug if it happens).
    #[error("last-rows merge: {0}")]
    Arrow(#[from] ArrowError),
}

/// Path of the sidecar of data file `file_path`.
pub fn sidecar_path(file_path: &str) -> String {
    format!("{PREFIX}/{file_path}")
}

/// True for paths that only sidecars use (orphan collection deletes those no
/// committed file names).
pub(crate) fn is_sidecar(path: &str) -> bool {
    path.starts_with(PREFIX) && path.as_bytes().get(PREFIX.len()) == Some(&b'/')
}

/// Positions in a run sorted by series, then time, that end a series: the
/// newest row of each. `series_key[i]` identifies row `i`'s series.
pub(crate) fn series_ends<K: PartialEq>(series_key: &[K]) -> Vec<usize> {
    let n = series_key.len();
    (0..n)
        .filter(|&i| i + 1 == n || series_key[i] != series_key[i + 1])
        .collect()
}

/// Encodes the newest rows of one file.
pub(crate) fn encode_sidecar(last: &RecordBatch) -> Result<Bytes, PersistError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, last.schema(), Some(props))?;
    w.write(last)?;
    w.close()?;
    Ok(Bytes::from(buf))
}

fn decode_sidecar(path: &str, bytes: Bytes) -> Result<Vec<RecordBatch>, LastRowsError> {
    let decode = |source| LastRowsError::Decode {
        path: path.to_owned(),
        source,
    };
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(decode)?
        .build()
        .map_err(decode)?
        .map(|b| b.map_err(|e| decode(e.into())))
        .collect()
}

/// The newest row of each series among `batches` (all of `schema`, which has a
/// `time` column); tag columns (dictionaries) identify the series. Of rows
/// with equal series and time, one is kept.
pub(crate) fn newest_per_series(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<RecordBatch, ArrowError> {
    let all = concat_batches(schema, batches)?;
    if all.num_rows() == 0 {
        return Ok(all);
    }
    let tags: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(all.columns())
        .filter(|(f, _)| matches!(f.data_type(), DataType::Dictionary(_, _)))
        .map(|(_, c)| Arc::clone(c))
        .collect();
    let time = all
        .column(schema.index_of(TIME_COLUMN)?)
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| ArrowError::SchemaError("time is not a nanosecond timestamp".into()))?
        .values()
        .clone();
    if tags.is_empty() {
        // No tags: the table is one series.
        let newest = (0..time.len()).max_by_key(|&i| time[i]).unwrap_or(0);
        return take_record_batch(&all, &UInt32Array::from(vec![newest as u32]));
    }
    let conv = RowConverter::new(
        tags.iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let keys = conv.convert_columns(&tags)?;
    let mut newest: HashMap<&[u8], u32> = HashMap::with_capacity(all.num_rows());
    for i in 0..all.num_rows() {
        let slot = newest.entry(keys.row(i).data()).or_insert(i as u32);
        if time[i] > time[*slot as usize] {
            *slot = i as u32;
        }
    }
    let mut rows: Vec<u32> = newest.into_values().collect();
    rows.sort_unstable();
    take_record_batch(&all, &UInt32Array::from(rows))
}

/// One table's merged sidecars.
#[derive(Debug, Default)]
struct TableRows {
    /// Sidecar paths merged in.
    covered: HashSet<String>,
    /// Newest row per series over them, in the widest schema merged so far.
    rows: Option<RecordBatch>,
    /// More than [`MAX_SERIES`] series: the index is not kept.
    too_many: bool,
}

/// One table's entry; its lock is held while sidecars are read, so only one
/// query reads them.
type TableEntry = Arc<tokio::sync::Mutex<TableRows>>;

/// The in-memory index (see the module docs).
#[derive(Debug, Default)]
pub struct LastRowsIndex {
    tables: parking_lot::Mutex<HashMap<(DbId, TableId), TableEntry>>,
}

impl LastRowsIndex {
    /// The newest row of each series in `files` (the table's committed files,
    /// all of them), in `schema`; `None` when a file has no sidecar (written
    /// by an earlier build) or the table has more than [`MAX_SERIES`] series. Reads the sidecars not merged yet; concurrent
    /// callers for one table wait for one reader.
    pub async fn get(
        &self,
        store: &Arc<dyn ObjectStore>,
        db: DbId,
        table: TableId,
        schema: &SchemaRef,
        files: &[Arc<ParquetFile>],
    ) -> Result<Option<RecordBatch>, LastRowsError> {
        let mut wanted = Vec::with_capacity(files.len());
        for f in files {
            match &f.last_rows {
                Some(p) => wanted.push(p.as_str()),
                None => return Ok(None),
            }
        }
        let entry = Arc::clone(self.tables.lock().entry((db, table)).or_default());
        let mut t = entry.lock().await;
        if t.too_many {
            return Ok(None);
        }
        // Covered files missing from `files` were committed after the
        // caller's snapshot, whose buffer still holds their rows: keeping them
        // adds duplicates, which latest-row aggregates ignore. Files never
        // leave the manifest today; compaction or retention will have to
        // reset the index when they do.
        let missing: Vec<String> = wanted
            .into_iter()
            .filter(|p| !t.covered.contains(*p))
            .map(str::to_owned)
            .collect();
        // Merged a chunk of sidecars at a time, so a table past MAX_SERIES is
        // found out after reading about that many rows, not all of its files.
        for chunk in missing.chunks(CONCURRENT_READS) {
            let read: Vec<Vec<RecordBatch>> = futures::stream::iter(chunk.to_vec())
                .map(|path| {
                    let store = Arc::clone(store);
                    async move {
                        let err = |source| LastRowsError::Store {
                            path: path.clone(),
                            source,
                        };
                        let got = store.get(&Path::from(path.as_str())).await.map_err(err)?;
                        let bytes = got.bytes().await.map_err(err)?;
                        decode_sidecar(&path, bytes)
                    }
                })
                .buffer_unordered(CONCURRENT_READS)
                .try_collect()
                .await?;
            // Schemas only grow (columns are appended, never dropped): merging
            // in the widest one seen keeps every tag, so a caller planned
            // against an older catalog cannot fold two series into one.
            let widest = read
                .iter()
                .flatten()
                .map(RecordBatch::schema)
                .chain(t.rows.as_ref().map(RecordBatch::schema))
                .chain(std::iter::once(Arc::clone(schema)))
                .max_by_key(|s| s.fields().len())
                .unwrap_or_else(|| Arc::clone(schema));
            let mut parts = Vec::with_capacity(read.len() + 1);
            if let Some(rows) = &t.rows {
                parts.push(widen(&widest, rows)?);
            }
            for b in read.iter().flatten() {
                parts.push(widen(&widest, b)?);
            }
            let merged = tokio::task::spawn_blocking(move || newest_per_series(&widest, &parts))
                .await
                .map_err(|e| ArrowError::ExternalError(Box::new(e)))??;
            t.covered.extend(chunk.iter().cloned());
            if merged.num_rows() > MAX_SERIES {
                tracing::info!(
                    "last-rows index: table {db}/{table} has more than {MAX_SERIES} series; \
                     its latest-row queries read every row"
                );
                t.rows = None;
                t.too_many = true;
                return Ok(None);
            }
            t.rows = Some(merged);
        }
        Ok(Some(match &t.rows {
            Some(rows) => widen(schema, rows)?,
            None => RecordBatch::new_empty(Arc::clone(schema)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, Float64Array, TimestampNanosecondArray};
    use arrow::datatypes::{Field, Int32Type, Schema, TimeUnit};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(
                "host",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
            Field::new("v", DataType::Float64, true),
        ]))
    }

    fn batch(hosts: &[Option<&str>], times: &[i64], v: &[Option<f64>]) -> RecordBatch {
        let host: DictionaryArray<Int32Type> = hosts.iter().copied().collect();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(host),
                Arc::new(TimestampNanosecondArray::from(times.to_vec())),
                Arc::new(Float64Array::from(v.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn newest_row_of_each_series_wins_across_batches_and_keeps_its_nulls() {
        let a = batch(
            &[Some("a"), Some("a"), Some("b"), None],
            &[10, 30, 5, 7],
            &[Some(1.0), Some(3.0), Some(5.0), Some(7.0)],
        );
        // Later batch: an older row of `a` (late data) and a newer `b` whose
        // value is NULL, which must win over b's older non-NULL value.
        let b = batch(
            &[Some("a"), Some("b"), None],
            &[20, 6, 1],
            &[Some(2.0), None, Some(1.0)],
        );
        let out = newest_per_series(&schema(), &[a, b]).unwrap();
        let mut rows: Vec<(Option<String>, i64, Option<f64>)> = (0..out.num_rows())
            .map(|i| {
                let host = out.column(0).as_dictionary::<Int32Type>();
                let key = host.key(i);
                let name = key.map(|k| host.values().as_string::<i32>().value(k).to_owned());
                let t = out
                    .column(1)
                    .as_primitive::<TimestampNanosecondType>()
                    .value(i);
                let v = out
                    .column(2)
                    .as_primitive::<arrow::datatypes::Float64Type>();
                (name, t, v.is_valid(i).then(|| v.value(i)))
            })
            .collect();
        rows.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            rows,
            vec![
                (None, 7, Some(7.0)),
                (Some("a".into()), 30, Some(3.0)),
                (Some("b".into()), 6, None),
            ]
        );
    }

    #[tokio::test]
    async fn sidecars_are_read_once_and_files_without_one_disable_the_index() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let file = |path: &str, sidecar: bool| {
            Arc::new(ParquetFile {
                path: path.to_owned(),
                db: DbId(0),
                table: TableId(0),
                min_time: 0,
                max_time: 0,
                rows: 1,
                size: 1,
                columns: Default::default(),
                sort: None,
                last_rows: sidecar.then(|| sidecar_path(path)),
            })
        };
        let sorted = batch(
            &[Some("a"), Some("a"), Some("b")],
            &[1, 2, 3],
            &[None, Some(2.0), None],
        );
        let ends: Vec<u32> = series_ends(&[0, 0, 1])
            .into_iter()
            .map(|i| i as u32)
            .collect();
        let bytes =
            encode_sidecar(&take_record_batch(&sorted, &UInt32Array::from(ends)).unwrap()).unwrap();
        let (a, old) = (file("d/t/a.parquet", true), file("d/t/old.parquet", false));
        let path = Path::from(a.last_rows.clone().unwrap().as_str());
        store.put(&path, bytes.into()).await.unwrap();
        let index = LastRowsIndex::default();
        let (db, t) = (DbId(0), TableId(0));
        let got = index
            .get(&store, db, t, &schema(), &[Arc::clone(&a)])
            .await
            .unwrap();
        assert_eq!(got.unwrap().num_rows(), 2);
        // Merged in memory: the sidecar is not read again.
        store.delete(&path).await.unwrap();
        let again = index
            .get(&store, db, t, &schema(), &[Arc::clone(&a)])
            .await
            .unwrap();
        assert_eq!(again.unwrap().num_rows(), 2);
        assert!(
            index
                .get(&store, db, t, &schema(), &[a, old])
                .await
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn series_ends_are_the_last_row_of_each_run() {
        assert_eq!(series_ends(&[1, 1, 2, 3, 3, 3]), vec![1, 2, 5]);
        assert!(series_ends::<u32>(&[]).is_empty());
    }

    #[test]
    fn sidecar_paths_are_recognised() {
        let p = sidecar_path("db/cpu/2016-01-01/00/x.parquet");
        assert!(is_sidecar(&p));
        assert!(!is_sidecar("db/cpu/2016-01-01/00/x.parquet"));
        assert!(!is_sidecar("_strata/last_rowsX/y"));
        assert!(!is_sidecar("_strata/manifest/00000000000000000001.json"));
    }
}
