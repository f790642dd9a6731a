//! Tag column chunks written a run at a time.
//!
//! A persisted file's rows are sorted by series, so each tag column is a
//! sequence of runs of one value: a series' rows, often several series in a
//! row sharing a value. The parquet crate's writer works a row at a time: it
//! hashes every value into its dictionary and compares every value for the
//! min/max statistics. That was 41% of the CPU of persisting TSBS rows
//! (`perf` of `cargo bench -p strata-storage --bench persist`, ten tag
//! columns). This writer does the same work once per run.
//!
//! Its chunk is equivalent to what the crate writes for a nullable string
//! column with dictionary encoding, writer version 1, and page statistics
//! (the same values, statistics and page index; not the same bytes): one PLAIN
//! dictionary page (values in order of first appearance, each once), then
//! data pages of at most `page_rows` rows, each RLE definition levels and
//! RLE_DICTIONARY indices, compressed as a whole; chunk statistics, a column
//! index with each page's min/max (full values, not truncated) and null count,
//! and an offset index, and definition level histograms. Min and max are
//! whole values, never truncated (a tag value is at most the ingest limit,
//! 64 KiB by default; the crate truncates at 64 bytes). Indices use RLE runs
//! only, never bit-packed groups: sorted columns are long runs. A chunk whose
//! dictionary would pass the crate's dictionary page limit is left to the
//! crate's writer ([`tag_chunk`] returns `None`), which falls back to plain
//! pages there, cheaper to read than one huge dictionary. No bloom filters,
//! no encryption: persisted files use neither. The crate's writer is the
//! test oracle (`tests` below): both files read back to the same values and
//! indexes.

use super::{FileCompression, PersistError};
use arrow::array::{Array, AsArray, StringArray};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::DataType;
use bytes::Bytes;
use parquet::basic::{BoundaryOrder, Encoding, EncodingMask, PageType, Type};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, LevelHistogram, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
use std::collections::HashMap;

/// Index of a NULL run in [`Runs`].
const NULL: u32 = u32::MAX;

/// One tag column of a persist: the values of one representative row per
/// series (see `SeriesOrder` in `encode.rs`), resolved once per persist.
pub(super) struct TagSource {
    /// Dictionary key (normalized) of each representative row.
    keys: Vec<usize>,
    nulls: Option<NullBuffer>,
    values: StringArray,
}

impl TagSource {
    /// `col` is a dictionary of strings with one row per representative.
    pub(super) fn new(col: &dyn Array) -> Result<Self, PersistError> {
        let Some(dict) = col.as_any_dictionary_opt() else {
            return Err(PersistError::Parquet(ParquetError::General(format!(
                "tag column of type {} is not a dictionary",
                col.data_type()
            ))));
        };
        let values = cast(dict.values(), &DataType::Utf8)?;
        Ok(Self {
            // An empty dictionary (a tag no row has) has no keys to normalize.
            keys: if values.is_empty() {
                Vec::new()
            } else {
                dict.normalized_keys()
            },
            nulls: col.logical_nulls(),
            values: values.as_string::<i32>().clone(),
        })
    }

    /// The dictionary value index of representative `rep`, or `None` (NULL).
    fn value(&self, rep: u32) -> Option<usize> {
        let rep = rep as usize;
        let key = *self.keys.get(rep)?;
        let valid =
            self.nulls.as_ref().is_none_or(|n| n.is_valid(rep)) && self.values.is_valid(key);
        valid.then_some(key)
    }
}

/// A chunk's rows as runs of (chunk dictionary index or [`NULL`], length),
/// adjacent runs always different.
struct Runs {
    runs: Vec<(u32, usize)>,
    /// Source value index of each chunk dictionary entry.
    dict: Vec<usize>,
}

/// Collapses `reps` (the representative of each row, rows sorted by series)
/// into runs. Work per row is one integer compare; per run, one lookup.
fn runs(src: &TagSource, reps: &[u32]) -> Runs {
    let mut by_source: Vec<u32> = vec![NULL; src.values.len()];
    // A string can sit under two source keys; the chunk dictionary holds it once.
    let mut by_value: HashMap<&str, u32> = HashMap::new();
    let mut dict = Vec::new();
    let mut out: Vec<(u32, usize)> = Vec::new();
    let mut i = 0;
    while i < reps.len() {
        let rep = reps[i];
        let mut j = i + 1;
        while j < reps.len() && reps[j] == rep {
            j += 1;
        }
        let idx = match src.value(rep) {
            None => NULL,
            Some(v) => {
                if by_source[v] == NULL {
                    by_source[v] = *by_value.entry(src.values.value(v)).or_insert_with(|| {
                        dict.push(v);
                        (dict.len() - 1) as u32
                    });
                }
                by_source[v]
            }
        };
        match out.last_mut() {
            Some((last, n)) if *last == idx => *n += j - i,
            _ => out.push((idx, j - i)),
        }
        i = j;
    }
    Runs { runs: out, dict }
}

/// Appends one RLE run of the RLE/bit-packing hybrid encoding: the run
/// length shifted left once (a clear low bit marks an RLE run) as a ULEB128
/// varint, then the value in `ceil(bit_width / 8)` little-endian bytes.
fn rle_run(buf: &mut Vec<u8>, value: u32, len: usize, bit_width: u8) {
    let mut header = (len as u64) << 1;
    loop {
        let byte = (header & 0x7f) as u8;
        header >>= 7;
        if header == 0 {
            buf.push(byte);
            break;
        }
        buf.push(byte | 0x80);
    }
    let bytes = usize::from(bit_width).div_ceil(8);
    buf.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

fn compress(c: FileCompression, data: &[u8]) -> Result<Vec<u8>, PersistError> {
    Ok(match c {
        FileCompression::Lz4Raw => lz4_flex::block::compress(data),
        FileCompression::Zstd(level) => zstd::bulk::compress(data, level)
            .map_err(|e| PersistError::Parquet(ParquetError::External(Box::new(e))))?,
    })
}

/// Boundary order of the pages' min and max values (NULL pages skipped).
fn boundary_order(pages: &[Option<(&[u8], &[u8])>]) -> BoundaryOrder {
    let bounds: Vec<(&[u8], &[u8])> = pages.iter().flatten().copied().collect();
    let pairs = || bounds.windows(2).map(|w| (w[0], w[1]));
    if pairs().all(|(a, b)| a.0 <= b.0 && a.1 <= b.1) {
        BoundaryOrder::ASCENDING
    } else if pairs().all(|(a, b)| a.0 >= b.0 && a.1 >= b.1) {
        BoundaryOrder::DESCENDING
    } else {
        BoundaryOrder::UNORDERED
    }
}

/// What [`tag_chunk`] returns: the chunk's bytes (offsets from 0) and what
/// [`parquet::file::writer::SerializedRowGroupWriter::append_column`] needs.
pub(super) type TagChunk = (Bytes, ColumnCloseResult);

/// Encodes one row group's chunk of a tag column: rows whose representatives
/// are `reps`, in order, in pages of at most `page_rows` rows. `None` when
/// the PLAIN dictionary would exceed `dict_limit` bytes.
pub(super) fn tag_chunk(
    descr: &ColumnDescPtr,
    src: &TagSource,
    reps: &[u32],
    page_rows: usize,
    compression: FileCompression,
    dict_limit: usize,
) -> Result<Option<TagChunk>, PersistError> {
    let page_rows = page_rows.max(1);
    let codec = compression.parquet()?;
    let nullable = match descr.max_def_level() {
        0 => false,
        1 => true,
        n => {
            return Err(PersistError::Parquet(ParquetError::General(format!(
                "tag column {} has definition level {n}; only flat columns are written",
                descr.path()
            ))));
        }
    };
    let Runs { runs, dict } = runs(src, reps);
    if !nullable && runs.iter().any(|r| r.0 == NULL) {
        return Err(PersistError::Parquet(ParquetError::General(format!(
            "NULL in required tag column {}",
            descr.path()
        ))));
    }
    let value = |idx: u32| src.values.value(dict[idx as usize]).as_bytes();
    let bit_width = (32 - (dict.len().saturating_sub(1) as u32).leading_zeros()).max(1) as u8;

    let mut sink = TrackedWrite::new(Vec::new());
    let mut writer = SerializedPageWriter::new(&mut sink);
    let mut plain = Vec::new();
    for &v in &dict {
        let s = src.values.value(v).as_bytes();
        plain.extend_from_slice(&(s.len() as u32).to_le_bytes());
        plain.extend_from_slice(s);
    }
    if plain.len() > dict_limit {
        return Ok(None);
    }
    let dict_spec = writer.write_page(CompressedPage::new(
        Page::DictionaryPage {
            buf: Bytes::from(compress(compression, &plain)?),
            num_values: dict.len() as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        },
        plain.len(),
    ))?;
    let mut total_compressed = dict_spec.compressed_size;
    let mut total_uncompressed = dict_spec.uncompressed_size;

    let mut column_index = ColumnIndexBuilder::new(Type::BYTE_ARRAY);
    let mut offset_index = OffsetIndexBuilder::new();
    let mut page_bounds: Vec<Option<(&[u8], &[u8])>> = Vec::new();
    let (mut min, mut max): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let (mut nulls_total, mut bytes_total, mut pages) = (0usize, 0i64, 0i32);
    let mut data_offset = None;
    // (run index, rows of that run already written)
    let (mut run, mut done) = (0usize, 0usize);
    let mut levels = Vec::new();
    let mut indices = Vec::new();
    let mut buf = Vec::new();
    while run < runs.len() {
        levels.clear();
        indices.clear();
        let (mut rows, mut nulls, mut bytes) = (0usize, 0usize, 0i64);
        let (mut page_min, mut page_max): (Option<&[u8]>, Option<&[u8]>) = (None, None);
        let mut last_level: Option<(bool, usize)> = None;
        while rows < page_rows && run < runs.len() {
            let (idx, len) = runs[run];
            let take = (len - done).min(page_rows - rows);
            let valid = idx != NULL;
            match &mut last_level {
                Some((v, n)) if *v == valid => *n += take,
                _ => {
                    if let Some((v, n)) = last_level {
                        rle_run(&mut levels, u32::from(v), n, 1);
                    }
                    last_level = Some((valid, take));
                }
            }
            if valid {
                let v = value(idx);
                rle_run(&mut indices, idx, take, bit_width);
                bytes += (v.len() * take) as i64;
                if page_min.is_none_or(|m| v < m) {
                    page_min = Some(v);
                }
                if page_max.is_none_or(|m| v > m) {
                    page_max = Some(v);
                }
            } else {
                nulls += take;
            }
            rows += take;
            done += take;
            if done == len {
                run += 1;
                done = 0;
            }
        }
        buf.clear();
        if nullable {
            if let Some((v, n)) = last_level {
                rle_run(&mut levels, u32::from(v), n, 1);
            }
            buf.extend_from_slice(&(levels.len() as u32).to_le_bytes());
            buf.extend_from_slice(&levels);
        }
        buf.push(bit_width);
        buf.extend_from_slice(&indices);
        let spec = writer.write_page(CompressedPage::new(
            Page::DataPage {
                buf: Bytes::from(compress(compression, &buf)?),
                num_values: rows as u32,
                encoding: Encoding::RLE_DICTIONARY,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            },
            buf.len(),
        ))?;
        data_offset.get_or_insert(spec.offset);
        total_compressed += spec.compressed_size;
        total_uncompressed += spec.uncompressed_size;
        offset_index.append_row_count(rows as i64);
        offset_index.append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
        offset_index.append_unencoded_byte_array_data_bytes(Some(bytes));
        let bounds = page_min.zip(page_max);
        match bounds {
            Some((lo, hi)) => column_index.append(false, lo.to_vec(), hi.to_vec(), nulls as i64),
            None => column_index.append(true, Vec::new(), Vec::new(), nulls as i64),
        }
        // Definition levels 0 (NULL) and 1 (a value), as the crate records them.
        let levels_histogram =
            nullable.then(|| LevelHistogram::from(vec![nulls as i64, (rows - nulls) as i64]));
        column_index.append_histograms(&None, &levels_histogram);
        page_bounds.push(bounds);
        if let Some((lo, hi)) = bounds {
            min = Some(min.map_or(lo, |m| m.min(lo)));
            max = Some(max.map_or(hi, |m| m.max(hi)));
        }
        nulls_total += nulls;
        bytes_total += bytes;
        pages += 1;
    }
    writer.close()?;
    column_index.set_boundary_order(boundary_order(&page_bounds));
    let column_index = column_index.build()?;
    let chunk = Bytes::from(sink.into_inner()?);

    let statistics = Statistics::from(ValueStatistics::<ByteArray>::new(
        min.map(|m| ByteArray::from(m.to_vec())),
        max.map(|m| ByteArray::from(m.to_vec())),
        None,
        Some(nulls_total as u64),
        false,
    ));
    let mut stats = vec![PageEncodingStats {
        page_type: PageType::DICTIONARY_PAGE,
        encoding: Encoding::PLAIN,
        count: 1,
    }];
    if pages > 0 {
        stats.push(PageEncodingStats {
            page_type: PageType::DATA_PAGE,
            encoding: Encoding::RLE_DICTIONARY,
            count: pages,
        });
    }
    let metadata = ColumnChunkMetaData::builder(std::sync::Arc::clone(descr))
        .set_compression(codec)
        .set_encodings_mask(EncodingMask::new_from_encodings(
            [Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY].iter(),
        ))
        .set_page_encoding_stats(stats)
        .set_total_compressed_size(total_compressed as i64)
        .set_total_uncompressed_size(total_uncompressed as i64)
        .set_num_values(reps.len() as i64)
        .set_data_page_offset(data_offset.unwrap_or(0) as i64)
        .set_dictionary_page_offset(Some(dict_spec.offset as i64))
        .set_statistics(statistics)
        .set_unencoded_byte_array_data_bytes(Some(bytes_total))
        .set_definition_level_histogram(nullable.then(|| {
            LevelHistogram::from(vec![nulls_total as i64, (reps.len() - nulls_total) as i64])
        }))
        .build()?;
    let close = ColumnCloseResult {
        bytes_written: chunk.len() as u64,
        rows_written: reps.len() as u64,
        metadata,
        bloom_filter: None,
        column_index: Some(column_index),
        offset_index: Some(offset_index.build()),
    };
    Ok(Some((chunk, close)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, DictionaryArray, RecordBatch, UInt32Array};
    use arrow::compute::take;
    use arrow::datatypes::{Field, Int32Type, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn props(page_rows: usize, compression: FileCompression) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(compression.parquet().unwrap())
            .set_data_page_row_count_limit(page_rows)
            .set_write_batch_size(page_rows)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_dictionary_enabled(true)
            .set_statistics_truncate_length(None)
            .set_column_index_truncate_length(None)
            .build()
    }

    fn schema() -> Arc<Schema> {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        Arc::new(Schema::new(vec![Field::new("tag", dict, true)]))
    }

    /// The file this module writes, and the one the crate's writer writes for
    /// the same rows, read back: values and metadata.
    fn both(
        tags: &ArrayRef,
        reps: &[u32],
        page_rows: usize,
        compression: FileCompression,
    ) -> [(Vec<Option<String>>, ParquetMetaData); 2] {
        let props = props(page_rows, compression);
        let mut ours = Vec::new();
        let writer = ArrowWriter::try_new(&mut ours, schema(), Some(props.clone())).unwrap();
        let (mut file, _) = writer.into_serialized_writer().unwrap();
        let descr = file.schema_descr().column(0);
        let src = TagSource::new(tags.as_ref()).unwrap();
        let mut group = file.next_row_group().unwrap();
        let (bytes, close) = tag_chunk(&descr, &src, reps, page_rows, compression, usize::MAX)
            .unwrap()
            .unwrap();
        group.append_column(&bytes, close).unwrap();
        group.close().unwrap();
        file.close().unwrap();

        let rows = take(tags.as_ref(), &UInt32Array::from(reps.to_vec()), None).unwrap();
        let mut oracle = Vec::new();
        let mut w = ArrowWriter::try_new(&mut oracle, schema(), Some(props)).unwrap();
        w.write(&RecordBatch::try_new(schema(), vec![rows]).unwrap())
            .unwrap();
        w.close().unwrap();
        [ours, oracle].map(|file| {
            let options =
                ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
            let b =
                ParquetRecordBatchReaderBuilder::try_new_with_options(Bytes::from(file), options)
                    .unwrap();
            let meta = b.metadata().as_ref().clone();
            let mut values = Vec::new();
            for batch in b.build().unwrap() {
                let col = cast(batch.unwrap().column(0), &DataType::Utf8).unwrap();
                values.extend(col.as_string::<i32>().iter().map(|v| v.map(str::to_owned)));
            }
            (values, meta)
        })
    }

    fn check(tags: &ArrayRef, reps: &[u32], page_rows: usize, compression: FileCompression) {
        let [(got, ours), (want, oracle)] = both(tags, reps, page_rows, compression);
        assert_eq!(got, want, "values");
        let (a, b) = (ours.row_group(0).column(0), oracle.row_group(0).column(0));
        assert_eq!(a.num_values(), b.num_values());
        assert_eq!(a.statistics(), b.statistics(), "chunk statistics");
        assert_eq!(
            a.unencoded_byte_array_data_bytes(),
            b.unencoded_byte_array_data_bytes()
        );
        let index = |m: &ParquetMetaData| m.column_index().map(|i| i[0][0].clone());
        assert_eq!(index(&ours), index(&oracle), "column index");
        let starts = |m: &ParquetMetaData| {
            m.offset_index().map(|i| {
                i[0][0]
                    .page_locations()
                    .iter()
                    .map(|p| p.first_row_index)
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(starts(&ours), starts(&oracle), "page starts");
    }

    /// Representatives' tags: `values[key]` per representative, `None` null.
    fn dictionary(values: &[&str], keys: &[Option<i32>]) -> ArrayRef {
        let keys = arrow::array::Int32Array::from(keys.to_vec());
        let values: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values).unwrap())
    }

    #[test]
    fn matches_the_crates_writer() {
        // "b" twice in the dictionary; representative 3 is NULL.
        let tags = dictionary(
            &["b", "a", "b", "long value ".repeat(10).as_str()],
            &[Some(0), Some(1), Some(2), None, Some(3)],
        );
        let mut reps = Vec::new();
        for (rep, n) in [(1, 5), (0, 3), (2, 9), (3, 4), (4, 1), (1, 20), (3, 2)] {
            reps.extend(std::iter::repeat_n(rep, n));
        }
        for page_rows in [1, 3, 8, 1000] {
            check(&tags, &reps, page_rows, FileCompression::Lz4Raw);
            check(&tags, &reps, page_rows, FileCompression::Zstd(1));
        }
        // Every row NULL; an empty dictionary; one value only.
        check(&tags, &[3, 3, 3], 2, FileCompression::Lz4Raw);
        check(
            &dictionary(&[], &[None, None]),
            &[0, 1, 1],
            2,
            FileCompression::Lz4Raw,
        );
        check(&tags, &[1; 9], 4, FileCompression::Lz4Raw);
    }

    #[test]
    fn a_dictionary_past_the_limit_is_left_to_the_crate() {
        let tags = dictionary(&["abc", "de"], &[Some(0), Some(1)]);
        let schema = schema();
        let descr = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&schema)
            .unwrap()
            .column(0);
        let src = TagSource::new(tags.as_ref()).unwrap();
        let chunk = |limit| tag_chunk(&descr, &src, &[0, 1, 1], 8, FileCompression::Lz4Raw, limit);
        // PLAIN: 4 + 3 + 4 + 2 bytes.
        assert!(chunk(13).unwrap().is_some());
        assert!(chunk(12).unwrap().is_none());
    }

    proptest! {
        #[test]
        fn random_columns_match_the_crates_writer(
            values in proptest::collection::vec("[a-c]{0,3}", 1..8),
            keys in proptest::collection::vec(proptest::option::weighted(0.9, 0i32..8), 1..30),
            runs in proptest::collection::vec((0u32..30, 1usize..40), 1..30),
            page_rows in 1usize..50,
        ) {
            let keys: Vec<Option<i32>> =
                keys.iter().map(|k| k.map(|k| k % values.len() as i32)).collect();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let tags = dictionary(&refs, &keys);
            let reps: Vec<u32> = runs
                .iter()
                .flat_map(|&(r, n)| std::iter::repeat_n(r % keys.len() as u32, n))
                .collect();
            check(&tags, &reps, page_rows, FileCompression::Lz4Raw);
        }
    }
}
