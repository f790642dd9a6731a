//! Result encoding throughput on a TSBS cpu-shaped answer (the rows of
//! `high-cpu-all`): 10 dictionary-encoded tags, a nanosecond timestamp and 10
//! integer fields, 8,192 rows per batch.
//!
//! `cargo bench -p strata-query --bench format`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, DictionaryArray, Int64Array, TimestampNanosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use std::hint::black_box;
use std::sync::Arc;
use strata_bench::tsbs::{START_NS, TAG_KEYS};
use strata_query::format::{Encoder, Format};

const ROWS: usize = 8_192;

fn batch() -> RecordBatch {
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (t, name) in TAG_KEYS.iter().enumerate() {
        fields.push(Field::new(
            *name,
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ));
        let values: DictionaryArray<Int32Type> = (0..ROWS)
            .map(|r| format!("{name}_{}", (r * (t + 1)) % 1000))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| Some(s.as_str()))
            .collect();
        cols.push(Arc::new(values));
    }
    fields.push(Field::new(
        "time",
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        false,
    ));
    cols.push(Arc::new(TimestampNanosecondArray::from_iter_values(
        (0..ROWS as i64).map(|r| START_NS + r * 10_000_000_000),
    )));
    for f in 0..10 {
        fields.push(Field::new(format!("usage_{f}"), DataType::Int64, true));
        cols.push(Arc::new(Int64Array::from_iter_values(
            (0..ROWS as i64).map(|r| (r * 37 + f * 11) % 101),
        )));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("batch")
}

fn bench(c: &mut Criterion) {
    let batch = batch();
    let mut g = c.benchmark_group("format");
    g.throughput(Throughput::Elements(ROWS as u64));
    for format in [Format::Json, Format::Csv] {
        let bytes = Encoder::new(format, batch.schema())
            .batch(&batch)
            .expect("encode")
            .len();
        println!(
            "{}: {:.0} bytes/row",
            format.name(),
            bytes as f64 / ROWS as f64
        );
        g.bench_function(format.name(), |b| {
            let mut enc = Encoder::new(format, batch.schema());
            b.iter(|| black_box(enc.batch(&batch).expect("encode")))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
