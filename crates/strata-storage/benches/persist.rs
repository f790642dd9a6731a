//! Persist encode throughput: buffered TSBS cpu-only rows -> sorted,
//! hour-partitioned, compressed Parquet (`persist::encode`: widen, series
//! ranking, key sort, per-partition gather, Parquet with LZ4_RAW or zstd,
//! column statistics). No object store.
//!
//! Input is built the way the engine builds it: 100 TSBS write batches of 10,000
//! rows (1,000 hosts, 10 tags, 10 integer fields, 10 s interval) written into an
//! in-memory engine, then the table's buffered batches. 1M rows span 1,000
//! intervals (about 2.8 hours from 00:00), so `encode` writes 3 files.
//!
//! `cargo bench -p strata-storage --bench persist`

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use strata_bench::tsbs::{Dataset, INTERVAL_NS};
use strata_storage::buffer::BufferedBatch;
use strata_storage::catalog::CatalogLimits;
use strata_storage::persist::{FileCompression, LayoutConfig, TableRef, encode};
use strata_storage::{Engine, WriteOptions};

const HOSTS: usize = 1_000;
const BATCH_ROWS: usize = 10_000;
const BATCHES: usize = 100;
const ROWS: usize = BATCH_ROWS * BATCHES;

/// Writes the data set into an in-memory engine; returns the table's buffered
/// batches with its schema and ids.
fn buffered() -> (
    Vec<BufferedBatch>,
    arrow::datatypes::SchemaRef,
    Vec<usize>,
    strata_model::DbId,
    strata_model::TableId,
) {
    let engine = Engine::in_memory(CatalogLimits::default());
    let opts = WriteOptions {
        accept_partial: true,
        no_sync: false,
    };
    let intervals_per_batch = (BATCH_ROWS / HOSTS) as i64;
    for i in 0..BATCHES {
        // Each batch continues in time where the previous one stopped.
        let mut d = Dataset::new(0, HOSTS, BATCH_ROWS, i as u64 + 1);
        let offset = i as i64 * intervals_per_batch * INTERVAL_NS;
        for row in &mut d.rows {
            row.time_ns += offset;
        }
        futures::executor::block_on(engine.write("db", d.write_batch(), opts)).expect("write");
    }
    let catalog = engine.catalog().snapshot();
    let db = catalog.database("db").expect("database db");
    let table = db.table("cpu").expect("table cpu");
    let snap = engine
        .buffer()
        .get(db.id(), table.id())
        .expect("buffered table")
        .snapshot(i64::MIN, i64::MAX);
    let rows: usize = snap.batches.iter().map(|b| b.batch.num_rows()).sum();
    assert_eq!(rows, ROWS, "every row buffered");
    (
        snap.batches,
        std::sync::Arc::clone(table.arrow_schema()),
        table.series_key().to_vec(),
        db.id(),
        table.id(),
    )
}

fn bench(c: &mut Criterion) {
    let (batches, schema, series_key, db, table) = buffered();
    let t = TableRef {
        db,
        db_name: "db",
        table,
        table_name: "cpu",
    };

    let mut g = c.benchmark_group("persist_encode");
    g.throughput(Throughput::Elements(ROWS as u64));
    // One iteration takes most of a second: flat sampling, 10 samples.
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.measurement_time(Duration::from_secs(15));
    for (name, compression) in [
        ("lz4_raw", FileCompression::Lz4Raw),
        ("zstd_level_1", FileCompression::Zstd(1)),
        ("zstd_level_3", FileCompression::Zstd(3)),
    ] {
        let layout = LayoutConfig {
            compression,
            ..LayoutConfig::default()
        };
        let files = encode(t, &schema, &series_key, &batches, &layout, "bench").expect("encode");
        let bytes: u64 = files.iter().map(|f| f.meta.size).sum();
        let rows: u64 = files.iter().map(|f| f.meta.rows).sum();
        assert_eq!(rows, ROWS as u64);
        println!(
            "{name}: {} files ({} rows each), {bytes} bytes, {:.2} bytes/row",
            files.len(),
            files
                .iter()
                .map(|f| f.meta.rows.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            bytes as f64 / rows as f64
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    encode(t, &schema, &series_key, &batches, &layout, "bench").expect("encode"),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
