//! Buffered batches -> sorted, time-partitioned, compressed Parquet files.
//!
//! Sort order inside a file: series (the tag columns in series-key order, that
//! is creation order, nulls last, which is SQL's `ASC` so that `ORDER BY` on
//! tags and time needs no re-sort) then time. The leading tag decides how well
//! page statistics prune: with a host name first, one host's rows are a few
//! pages whose min/max name that host, whatever the other tags. Sorting by series id would be cheaper but series ids
//! follow arrival order, not tag values, and tag min/max pruning needs value order.
//! The cost stays low anyway: only one representative row per distinct series is
//! ordered, by per-column ranks of its tag values; rows are then ordered by a
//! packed integer key (partition, series rank, time). Beside each file, the
//! newest row of each series goes to its last-rows sidecar (`crate::last_rows`).

use super::PersistError;
use super::tags::{TagSource, tag_chunk};
use crate::buffer::{BufferedBatch, widen};
use crate::last_rows::{MIN_ROWS_PER_SERIES, encode_sidecar, series_ends, sidecar_path};
use crate::manifest::{ParquetFile, SortOrder, column_stats};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{SortOptions, cast, interleave, sort_to_indices, take};
use arrow::datatypes::{DataType, SchemaRef, TimestampNanosecondType};
use arrow::error::ArrowError;
use bytes::Bytes;
use chrono::{DateTime, Datelike, Timelike};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::compute_leaves;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::sync::Arc;
use strata_model::{DbId, TIME_COLUMN, TableId};

/// Rows gathered into one sorted slice before it is handed to the writer.
const ENCODE_SLICE_ROWS: usize = 64 * 1024;

/// Knobs of the file layout.
#[derive(Debug, Clone, Copy)]
pub struct LayoutConfig {
    /// Time partition width (ns); a file never spans two partitions.
    pub partition_ns: i64,
    /// Maximum rows per Parquet row group.
    pub row_group_rows: usize,
    /// Maximum rows per data page: the unit the page index prunes to. A query
    /// for one series decodes every projected column over the pages the page
    /// index keeps, so
    /// smaller pages mean less decoding for selective reads, at the price of
    /// more page headers and index entries for full scans. The Parquet writer
    /// checks it between mini-batches counted from the start of each write,
    /// so for field columns it holds exactly when the slices written
    /// (`ENCODE_SLICE_ROWS`) and row groups are multiples of it, as with the
    /// defaults; otherwise a page may run over. Tag pages (`super::tags`)
    /// hold it exactly.
    pub page_rows: usize,
    /// Page compression of every column.
    pub compression: FileCompression,
    /// Largest PLAIN dictionary (bytes) a tag chunk is written with run by
    /// run (`super::tags`); past it the chunk goes to the parquet crate's
    /// writer, which switches to plain pages after its own 1 MiB dictionary.
    /// The default, 8 MiB, is above the crate's limit on purpose: with every
    /// row a new series (256k values of about 14 bytes per row group) the
    /// crate's per-row work cost 12% of new-series ingest
    /// (docs/BENCHMARKS.md), while a dictionary page of a few MB is read once
    /// per chunk.
    pub tag_dictionary_limit: usize,
}

/// Page compression of persisted files.
///
/// LZ4_RAW is the default for the query side: the Parquet reader builds a
/// codec per column chunk it reads, and a zstd codec allocates and initialises
/// a compression and a decompression context each time, which was 12-15% of a
/// point query's CPU (`perf`); an LZ4 codec costs nothing to build and
/// decompresses faster. zstd files are about 8% smaller (docs/BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCompression {
    /// LZ4 block format (`LZ4_RAW`).
    Lz4Raw,
    /// zstd at this level (1-22).
    Zstd(i32),
}

impl FileCompression {
    pub(super) fn parquet(self) -> Result<Compression, PersistError> {
        Ok(match self {
            Self::Lz4Raw => Compression::LZ4_RAW,
            Self::Zstd(level) => {
                Compression::ZSTD(ZstdLevel::try_new(level).map_err(PersistError::Parquet)?)
            }
        })
    }
}

impl Default for LayoutConfig {
    fn default() -> Self {
        Self {
            partition_ns: 3_600 * 1_000_000_000,
            row_group_rows: 256 * 1024,
            page_rows: 8 * 1024,
            compression: FileCompression::Lz4Raw,
            tag_dictionary_limit: 8 << 20,
        }
    }
}

/// One encoded file, ready to upload.
#[derive(Debug)]
pub struct EncodedFile {
    /// Its manifest entry (path included).
    pub meta: ParquetFile,
    /// The bytes.
    pub bytes: Bytes,
    /// Its last-rows sidecar (see `crate::last_rows`), uploaded to
    /// `meta.last_rows` with the file; none when the file is its own
    /// (fewer than `MIN_ROWS_PER_SERIES` rows per series).
    pub last_rows: Option<Bytes>,
}

/// Identifies what is being encoded, for paths and manifest entries.
#[derive(Debug, Clone, Copy)]
pub struct TableRef<'a> {
    /// Database id.
    pub db: DbId,
    /// Database name.
    pub db_name: &'a str,
    /// Table id.
    pub table: TableId,
    /// Table name.
    pub table_name: &'a str,
}

fn writer_props(
    schema: &SchemaRef,
    tag_cols: &[usize],
    layout: &LayoutConfig,
) -> Result<WriterProperties, PersistError> {
    let mut b = WriterProperties::builder()
        .set_compression(layout.compression.parquet()?)
        .set_max_row_group_row_count(Some(layout.row_group_rows))
        .set_data_page_row_count_limit(layout.page_rows)
        // The writer checks the page limit between write batches (1,024 rows
        // by default), so smaller pages need smaller batches.
        .set_write_batch_size(layout.page_rows.min(1024))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Field values rarely repeat; dictionary attempts there cost CPU for nothing.
        .set_dictionary_enabled(false);
    for &i in tag_cols {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(schema.field(i).name().as_str()), true);
    }
    // Timestamps and counters change little from row to row within a series:
    // delta packing leaves the compressor far fewer bytes than 8-byte PLAIN
    // values.
    for f in schema.fields() {
        if matches!(
            f.data_type(),
            DataType::Int64 | DataType::UInt64 | DataType::Timestamp(_, _)
        ) {
            b = b.set_column_encoding(
                ColumnPath::from(f.name().as_str()),
                Encoding::DELTA_BINARY_PACKED,
            );
        }
    }
    let mut sorting: Vec<SortingColumn> = tag_cols
        .iter()
        .map(|&i| SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: false,
        })
        .collect();
    if let Ok(t) = schema.index_of(TIME_COLUMN) {
        sorting.push(SortingColumn {
            column_idx: t as i32,
            descending: false,
            nulls_first: false,
        });
    }
    Ok(b.set_sorting_columns(Some(sorting)).build())
}

/// The series of one persist, ordered.
struct SeriesOrder {
    /// Rank of each series id by tag values: `rank[series]`.
    rank: Vec<u32>,
    /// Position of each series' representative row in `tags`: `rep[series]`.
    rep: Vec<u32>,
    /// One column per series-key tag: the tag values of one representative
    /// row per series. Tag columns are written from these run by run
    /// (`super::tags`), or as a `take` of them (the last-rows sidecar, chunks
    /// with too many distinct values), which copies dictionary keys only;
    /// gathering from the source batches instead would merge their
    /// dictionaries a second time.
    tags: Vec<ArrayRef>,
}

/// Orders the series of `batches`. Only one representative row per distinct
/// series is compared.
fn series_ranks(
    batches: &[RecordBatch],
    series: &[&[u32]],
    tag_cols: &[usize],
) -> Result<SeriesOrder, PersistError> {
    let max = series
        .iter()
        .flat_map(|s| s.iter())
        .copied()
        .max()
        .unwrap_or(0) as usize;
    let mut rep = vec![u32::MAX; max + 1];
    let mut reps: Vec<(usize, usize)> = Vec::new();
    let mut rep_series: Vec<u32> = Vec::new();
    for (b, ids) in series.iter().enumerate() {
        for (row, &s) in ids.iter().enumerate() {
            let slot = &mut rep[s as usize];
            if *slot == u32::MAX {
                *slot = reps.len() as u32;
                reps.push((b, row));
                rep_series.push(s);
            }
        }
    }
    let mut rank = vec![0u32; max + 1];
    if tag_cols.is_empty() {
        return Ok(SeriesOrder {
            rank,
            rep,
            tags: Vec::new(),
        });
    }
    // One u32 rank per (series, tag column): the rank of the value among the
    // column's distinct values, NULL after all of them. Comparing these tuples
    // orders series exactly as comparing the tag values (ascending, nulls
    // last), but each string is compared only while ranking its column's
    // dictionary. Comparing whole encoded rows (arrow's row format, kept as the
    // test oracle) spent 14% of new-series ingest in memcmp: a million
    // distinct series sharing long prefixes.
    let width = tag_cols.len();
    let mut keys = vec![0u32; reps.len() * width];
    let mut tags = Vec::with_capacity(width);
    for (c, &i) in tag_cols.iter().enumerate() {
        let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
        let col = interleave(&parts, &reps)?;
        for (r, v) in value_ranks(&col)?.into_iter().enumerate() {
            keys[r * width + c] = v;
        }
        tags.push(col);
    }
    let key = |r: usize| &keys[r * width..(r + 1) * width];
    let mut order: Vec<usize> = (0..reps.len()).collect();
    order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
    for (r, &i) in order.iter().enumerate() {
        rank[rep_series[i] as usize] = r as u32;
    }
    Ok(SeriesOrder { rank, rep, tags })
}

/// For each row of the tag column `col` (a dictionary of strings), the rank
/// of its value among the distinct values (equal strings, equal ranks), or
/// `u32::MAX` for NULL.
fn value_ranks(col: &ArrayRef) -> Result<Vec<u32>, PersistError> {
    let nulls = col.logical_nulls();
    let valid = |r: usize| nulls.as_ref().is_none_or(|n| n.is_valid(r));
    let Some(dict) = col.as_any_dictionary_opt() else {
        return Err(PersistError::Arrow(ArrowError::SchemaError(format!(
            "tag column of type {} is not a dictionary",
            col.data_type()
        ))));
    };
    let values = dict.values();
    if values.is_empty() {
        // All NULL (a tag no row of this persist has).
        return Ok(vec![u32::MAX; col.len()]);
    }
    let strings = cast(values, &DataType::Utf8)?;
    let strings = strings.as_string::<i32>();
    let opts = SortOptions {
        descending: false,
        nulls_first: false,
    };
    let sorted = sort_to_indices(&strings, Some(opts), None)?;
    let mut value_rank = vec![u32::MAX; strings.len()];
    let mut rank = 0u32;
    let mut prev: Option<&str> = None;
    for &v in sorted.values() {
        let v = v as usize;
        if strings.is_null(v) {
            continue;
        }
        let s = strings.value(v);
        if prev.is_some_and(|p| p != s) {
            rank += 1;
        }
        prev = Some(s);
        value_rank[v] = rank;
    }
    let keys = dict.normalized_keys();
    Ok((0..col.len())
        .map(|r| {
            if valid(r) {
                value_rank[keys[r]]
            } else {
                u32::MAX
            }
        })
        .collect())
}

fn partition_path(t: TableRef<'_>, partition_start: i64, file_id: &str) -> String {
    let dt = DateTime::from_timestamp_nanos(partition_start);
    format!(
        "{}/{}/{:04}-{:02}-{:02}/{:02}/{file_id}.parquet",
        t.db_name,
        t.table_name,
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour()
    )
}

/// Encodes `batches` of table `t` (schema `schema`) into one file per time
/// partition. `file_id` makes the names unique.
pub fn encode(
    t: TableRef<'_>,
    schema: &SchemaRef,
    series_key: &[usize],
    batches: &[BufferedBatch],
    layout: &LayoutConfig,
    file_id: &str,
) -> Result<Vec<EncodedFile>, PersistError> {
    let wide: Vec<RecordBatch> = batches
        .iter()
        .map(|b| widen(schema, &b.batch))
        .collect::<Result<_, _>>()?;
    let series: Vec<&[u32]> = batches.iter().map(|b| &*b.series).collect();
    let tag_cols = series_key;
    let time_idx = schema.index_of(TIME_COLUMN)?;
    let order = series_ranks(&wide, &series, tag_cols)?;
    let rank = &order.rank;
    let part = layout.partition_ns.max(1);
    // (partition, series rank, time) then the source position. Rows are
    // gathered straight from the buffered batches, one partition at a time: no
    // concatenated copy of the whole input.
    let rows: usize = wide.iter().map(RecordBatch::num_rows).sum();
    let mut keys: Vec<(i64, u32, i64, u32, u32)> = Vec::with_capacity(rows);
    for (b, batch) in wide.iter().enumerate() {
        let time = batch
            .column(time_idx)
            .as_primitive::<TimestampNanosecondType>()
            .values();
        for (row, (&ts, &s)) in time.iter().zip(series[b]).enumerate() {
            keys.push((
                ts.div_euclid(part),
                rank[s as usize],
                ts,
                b as u32,
                row as u32,
            ));
        }
    }
    keys.sort_unstable();
    let props = writer_props(schema, tag_cols, layout)?;
    let sources: Vec<Vec<&dyn Array>> = (0..schema.fields().len())
        .map(|i| wide.iter().map(|b| b.column(i).as_ref()).collect())
        .collect();
    // Per column: its position among the tags and its run-by-run source.
    let tag_sources: Vec<Option<(usize, TagSource)>> = (0..sources.len())
        .map(|i| {
            tag_cols
                .iter()
                .position(|&t| t == i)
                .map(|c| TagSource::new(order.tags[c].as_ref()).map(|s| (c, s)))
                .transpose()
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    let mut start = 0usize;
    while start < keys.len() {
        let p = keys[start].0;
        let end = start + keys[start..].partition_point(|k| k.0 == p);
        let positions: Vec<(usize, usize)> = keys[start..end]
            .iter()
            .map(|k| (k.3 as usize, k.4 as usize))
            .collect();
        // Each row's representative: its tags are the representative's.
        let reps: Vec<u32> = positions
            .iter()
            .map(|&(b, row)| order.rep[series[b][row] as usize])
            .collect();
        // Fields are gathered and written a slice at a time, so the sorted
        // copy held at once is one slice, not the whole partition: the
        // persister's memory above the buffer it drains stays bounded. Tag
        // columns are written run by run from the representatives
        // (`super::tags`), not gathered.
        let mut buf: Vec<u8> = Vec::new();
        let writer = ArrowWriter::try_new(&mut buf, Arc::clone(schema), Some(props.clone()))?;
        let (mut file, factory) = writer.into_serialized_writer()?;
        let descrs = file.schema_descr().columns().to_vec();
        let group_rows = layout.row_group_rows.max(1);
        for (g, group) in (0..positions.len()).step_by(group_rows).enumerate() {
            let group = group..(group + group_rows).min(positions.len());
            let mut writers = factory.create_column_writers(g)?;
            if writers.len() != sources.len() {
                return Err(PersistError::Parquet(
                    parquet::errors::ParquetError::General(format!(
                        "{} column writers for {} columns",
                        writers.len(),
                        sources.len()
                    )),
                ));
            }
            for slice in positions[group.clone()].chunks(ENCODE_SLICE_ROWS) {
                for (i, src) in sources.iter().enumerate() {
                    if tag_sources[i].is_none() {
                        let col = interleave(src, slice)?;
                        for leaf in compute_leaves(schema.field(i), &col)? {
                            writers[i].write(&leaf)?;
                        }
                    }
                }
            }
            let mut row_group = file.next_row_group()?;
            for (i, mut w) in writers.into_iter().enumerate() {
                let Some((c, src)) = &tag_sources[i] else {
                    w.close()?.append_to_row_group(&mut row_group)?;
                    continue;
                };
                let group_reps = &reps[group.clone()];
                match tag_chunk(
                    &descrs[i],
                    src,
                    group_reps,
                    layout.page_rows,
                    layout.compression,
                    layout.tag_dictionary_limit,
                )? {
                    Some((bytes, close)) => row_group.append_column(&bytes, close)?,
                    None => {
                        // Too many distinct values for one dictionary page:
                        // the crate's writer falls back to plain pages.
                        let reps = UInt32Array::from(group_reps.to_vec());
                        let col = take(order.tags[*c].as_ref(), &reps, None)?;
                        for leaf in compute_leaves(schema.field(i), &col)? {
                            w.write(&leaf)?;
                        }
                        w.close()?.append_to_row_group(&mut row_group)?;
                    }
                }
            }
            row_group.close()?;
        }
        let meta = file.close()?;
        let ranks: Vec<u32> = keys[start..end].iter().map(|k| k.1).collect();
        let ends = series_ends(&ranks);
        let last_rows = if ends.len().saturating_mul(MIN_ROWS_PER_SERIES) <= end - start {
            let newest: Vec<(usize, usize)> = ends.iter().map(|&i| positions[i]).collect();
            let newest_reps = UInt32Array::from_iter_values(ends.iter().map(|&i| reps[i]));
            let cols = (0..sources.len())
                .map(|i| match &tag_sources[i] {
                    Some((c, _)) => take(order.tags[*c].as_ref(), &newest_reps, None),
                    None => interleave(&sources[i], &newest),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(encode_sidecar(&RecordBatch::try_new(
                Arc::clone(schema),
                cols,
            )?)?)
        } else {
            None
        };
        let rows = (end - start) as u64;
        let partition_start = p.saturating_mul(part);
        let path = partition_path(t, partition_start, file_id);
        out.push(EncodedFile {
            meta: ParquetFile {
                db: t.db,
                table: t.table,
                min_time: keys[start..end].iter().map(|k| k.2).min().unwrap_or(0),
                max_time: keys[start..end].iter().map(|k| k.2).max().unwrap_or(0),
                rows,
                size: buf.len() as u64,
                columns: column_stats(schema, &meta),
                sort: Some(SortOrder::SeriesKeyTime),
                last_rows: Some(match last_rows {
                    Some(_) => sidecar_path(&path),
                    None => path.clone(),
                }),
                path,
            },
            bytes: Bytes::from(buf),
            last_rows,
        });
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::DictionaryArray;
    use arrow::datatypes::{Field, Int32Type, Schema};
    use arrow::row::{RowConverter, SortField};
    use proptest::prelude::*;

    /// `cols` in arrow's row format, ascending with nulls last: comparing two
    /// rows compares the columns in order.
    fn ascending_rows(cols: &[ArrayRef]) -> arrow::row::Rows {
        let opts = SortOptions {
            descending: false,
            nulls_first: false,
        };
        let fields = cols
            .iter()
            .map(|c| SortField::new_with_options(c.data_type().clone(), opts))
            .collect();
        RowConverter::new(fields)
            .unwrap()
            .convert_columns(cols)
            .unwrap()
    }

    /// Series order by arrow's row format over the tag values: what
    /// `series_ranks` replaced, kept as its oracle.
    fn oracle(batches: &[RecordBatch], series: &[&[u32]], tag_cols: &[usize]) -> Vec<u32> {
        let mut reps: Vec<(usize, usize)> = Vec::new();
        let mut seen = std::collections::BTreeMap::new();
        for (b, ids) in series.iter().enumerate() {
            for (row, &s) in ids.iter().enumerate() {
                seen.entry(s).or_insert_with(|| {
                    reps.push((b, row));
                    reps.len() - 1
                });
            }
        }
        let cols: Vec<ArrayRef> = tag_cols
            .iter()
            .map(|&i| {
                let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
                interleave(&parts, &reps).unwrap()
            })
            .collect();
        let rows = ascending_rows(&cols);
        let mut order: Vec<usize> = (0..reps.len()).collect();
        order.sort_by(|&a, &b| rows.row(a).cmp(&rows.row(b)));
        let max = seen.keys().max().copied().unwrap_or(0) as usize;
        let mut rank = vec![0u32; max + 1];
        let by_rep: std::collections::BTreeMap<usize, u32> =
            seen.iter().map(|(&s, &r)| (r, s)).collect();
        for (r, &i) in order.iter().enumerate() {
            rank[by_rep[&i] as usize] = r as u32;
        }
        rank
    }

    /// Two tag columns from a tiny alphabet (many ties, shared prefixes,
    /// NULLs); a series id per distinct tag pair.
    fn batches(rows: &[Vec<(Option<u8>, Option<u8>)>]) -> (Vec<RecordBatch>, Vec<Vec<u32>>) {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", dict.clone(), true),
            Field::new("b", dict, true),
        ]));
        let name = |v: Option<u8>| v.map(|v| "x".repeat(usize::from(v % 4)) + &(v / 4).to_string());
        let mut ids = std::collections::HashMap::new();
        let mut out = (Vec::new(), Vec::new());
        for batch in rows {
            let a: DictionaryArray<Int32Type> = batch
                .iter()
                .map(|r| name(r.0))
                .collect::<Vec<_>>()
                .iter()
                .map(Option::as_deref)
                .collect();
            let b: DictionaryArray<Int32Type> = batch
                .iter()
                .map(|r| name(r.1))
                .collect::<Vec<_>>()
                .iter()
                .map(Option::as_deref)
                .collect();
            let series = batch
                .iter()
                .map(|r| {
                    let n = ids.len() as u32;
                    *ids.entry((name(r.0), name(r.1))).or_insert(n)
                })
                .collect();
            let cols: Vec<ArrayRef> = vec![Arc::new(a), Arc::new(b)];
            out.0
                .push(RecordBatch::try_new(Arc::clone(&schema), cols).unwrap());
            out.1.push(series);
        }
        out
    }

    /// Writes `datasets` through an in-memory engine and encodes its buffered
    /// `cpu` table with `layout`: the table's schema, series key, buffered
    /// batches and the files.
    fn write_and_encode(
        datasets: &[strata_bench::tsbs::Dataset],
        layout: &LayoutConfig,
    ) -> (SchemaRef, Vec<usize>, Vec<BufferedBatch>, Vec<EncodedFile>) {
        use crate::catalog::CatalogLimits;
        use crate::{Engine, WriteOptions};

        let engine = Engine::in_memory(CatalogLimits::default());
        let opts = WriteOptions {
            accept_partial: true,
            no_sync: false,
        };
        for d in datasets {
            futures::executor::block_on(engine.write("db", d.write_batch(), opts)).unwrap();
        }
        let catalog = engine.catalog().snapshot();
        let db = catalog.database("db").unwrap();
        let table = db.table("cpu").unwrap();
        let snap = engine
            .buffer()
            .get(db.id(), table.id())
            .unwrap()
            .snapshot(i64::MIN, i64::MAX);
        let schema = Arc::clone(table.arrow_schema());
        let t = TableRef {
            db: db.id(),
            db_name: "db",
            table: table.id(),
            table_name: "cpu",
        };
        let files = encode(t, &schema, table.series_key(), &snap.batches, layout, "t").unwrap();
        (schema, table.series_key().to_vec(), snap.batches, files)
    }

    /// 200,000 rows of 100 hosts in one partition: more than three gather
    /// slices, so slice offsets and the per-partition tags must line up.
    #[test]
    fn a_partition_of_several_slices_is_complete_sorted_and_has_its_newest_rows() {
        use arrow::datatypes::Int64Type;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use strata_bench::tsbs::{Dataset, INTERVAL_NS};

        let (hosts, per_batch, batches) = (100, 10_000, 20);
        let datasets: Vec<Dataset> = (0..batches)
            .map(|i| {
                let mut d = Dataset::new(0, hosts, per_batch, i as u64 + 1);
                for row in &mut d.rows {
                    row.time_ns += i as i64 * (per_batch / hosts) as i64 * INTERVAL_NS;
                }
                d
            })
            .collect();
        let layout = LayoutConfig {
            partition_ns: 7 * 24 * 3600 * 1_000_000_000,
            ..LayoutConfig::default()
        };
        let (schema, series_key, buffered, files) = write_and_encode(&datasets, &layout);
        let sum = |b: &RecordBatch| -> i64 {
            let c = b.column(b.schema().index_of("usage_user").unwrap());
            c.as_primitive::<Int64Type>().iter().flatten().sum()
        };
        let input_sum: i64 = buffered.iter().map(|b| sum(&b.batch)).sum();
        assert_eq!(files.len(), 1);
        let read = |bytes: Bytes| -> RecordBatch {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap();
            let parts: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
            arrow::compute::concat_batches(&parts[0].schema(), &parts).unwrap()
        };
        // Layout: every column chunk LZ4_RAW, no page above the row limit.
        let meta = parquet::file::metadata::ParquetMetaDataReader::new()
            .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required)
            .parse_and_finish(&files[0].bytes)
            .unwrap();
        let offsets = meta.offset_index().unwrap();
        let rows = per_batch * batches;
        assert_eq!(meta.num_row_groups(), 1);
        for (c, chunk) in meta.row_group(0).columns().iter().enumerate() {
            assert_eq!(chunk.compression(), Compression::LZ4_RAW);
            let starts: Vec<usize> = offsets[0][c]
                .page_locations()
                .iter()
                .map(|p| p.first_row_index as usize)
                .chain(std::iter::once(rows))
                .collect();
            assert!(starts.len() > rows / layout.page_rows, "{starts:?}");
            assert!(
                starts.windows(2).all(|w| w[1] - w[0] <= layout.page_rows),
                "{starts:?}"
            );
        }
        let out = read(files[0].bytes.clone());
        assert_eq!(out.num_rows(), per_batch * batches);
        assert_eq!(sum(&out), input_sum, "every value written once");
        // Sorted by the series key (tags in the order the writes named them,
        // so `hostname` first; nulls last), then time; series never repeat
        // after their run ends.
        let key = &series_key;
        assert_eq!(schema.field(key[0]).name(), "hostname");
        assert_eq!(key.len(), 10);
        let key_cols: Vec<ArrayRef> = key
            .iter()
            .map(|&i| schema.field(i).name().as_str())
            .chain(std::iter::once(TIME_COLUMN))
            .map(|name| Arc::clone(out.column_by_name(name).unwrap()))
            .collect();
        let keys = ascending_rows(&key_cols);
        for i in 1..out.num_rows() {
            assert!(
                keys.row(i - 1) < keys.row(i),
                "rows {} and {i} out of order",
                i - 1
            );
        }
        let time = out.column_by_name("time").unwrap();
        let time = time.as_primitive::<TimestampNanosecondType>();
        // The sidecar: one row per host, its newest.
        let last = read(files[0].last_rows.clone().unwrap());
        assert_eq!(last.num_rows(), hosts);
        let newest = time.values().iter().max().copied().unwrap();
        let last_time = last.column_by_name("time").unwrap();
        let last_time = last_time.as_primitive::<TimestampNanosecondType>();
        assert!(last_time.values().iter().all(|&t| t > newest - INTERVAL_NS));
    }

    /// 100,000 series at one timestamp: the hostname dictionary (about
    /// 1.4 MB as PLAIN) passes a 1 MiB `tag_dictionary_limit`, so that chunk
    /// goes to the crate's writer, which falls back to plain pages; the
    /// other tags stay run-by-run chunks, and every value reads back.
    #[test]
    fn a_tag_with_too_many_values_for_one_dictionary_goes_to_the_crates_writer() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use std::collections::HashSet;
        use strata_bench::tsbs::Dataset;

        let hosts = 100_000;
        let layout = LayoutConfig {
            tag_dictionary_limit: 1 << 20,
            ..LayoutConfig::default()
        };
        let (_, _, _, files) = write_and_encode(&[Dataset::new(0, hosts, hosts, 1)], &layout);
        assert_eq!(files.len(), 1);
        let b = ParquetRecordBatchReaderBuilder::try_new(files[0].bytes.clone()).unwrap();
        let plain_pages = |name: &str| {
            let c = b
                .metadata()
                .row_group(0)
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap();
            // Data pages' encodings, as the reader keeps them by default.
            c.page_encoding_stats_mask()
                .unwrap()
                .is_set(Encoding::PLAIN)
        };
        assert!(plain_pages("hostname"), "the crate's fallback");
        assert!(!plain_pages("region"), "a run-by-run chunk");
        let mut names = HashSet::new();
        let mut rows = 0;
        for batch in b.build().unwrap() {
            let batch = batch.unwrap();
            rows += batch.num_rows();
            let col = cast(batch.column_by_name("hostname").unwrap(), &DataType::Utf8).unwrap();
            names.extend(col.as_string::<i32>().iter().map(|v| v.unwrap().to_owned()));
        }
        assert_eq!((rows, names.len()), (hosts, hosts));
    }

    proptest! {
        #[test]
        fn series_ranks_order_like_the_row_format(
            rows in prop::collection::vec(
                prop::collection::vec(
                    (prop::option::of(0u8..12), prop::option::of(0u8..12)),
                    1..40,
                ),
                1..4,
            )
        ) {
            let (batches, series) = batches(&rows);
            let series: Vec<&[u32]> = series.iter().map(Vec::as_slice).collect();
            let got = series_ranks(&batches, &series, &[0, 1]).unwrap();
            prop_assert_eq!(&got.rank, &oracle(&batches, &series, &[0, 1]));
            // Each row's representative carries the row's own tag values.
            let text = |a: &ArrayRef, i: usize| {
                let s = cast(a, &DataType::Utf8).unwrap();
                let s = s.as_string::<i32>();
                s.is_valid(i).then(|| s.value(i).to_string())
            };
            for (b, ids) in series.iter().enumerate() {
                for (row, &id) in ids.iter().enumerate() {
                    let r = got.rep[id as usize] as usize;
                    for c in 0..2 {
                        prop_assert_eq!(text(&got.tags[c], r), text(batches[b].column(c), row));
                    }
                }
            }
        }
    }
}
