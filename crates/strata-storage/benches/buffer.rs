//! Buffer append throughput (validation + series assignment + Arrow conversion +
//! append) on TSBS cpu-only shaped rows: 10 tags, 10 integer fields, 1,000 hosts.
//!
//! `cargo bench -p strata-storage --bench buffer`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use strata_bench::tsbs::Dataset;
use strata_storage::catalog::CatalogLimits;
use strata_storage::{Engine, WriteOptions};

const ROWS: usize = 10_000;
const HOSTS: usize = 1_000;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("buffer_append");
    g.throughput(Throughput::Elements(ROWS as u64));
    let opts = WriteOptions {
        accept_partial: true,
        no_sync: false,
    };
    // The in-memory engine never waits inside `write`; block_on just drives it.
    let write = |engine: &std::sync::Arc<Engine>, batch| {
        futures::executor::block_on(engine.write("db", batch, opts)).expect("write")
    };

    let engine = Engine::in_memory(CatalogLimits::default());
    let existing = Dataset::new(0, HOSTS, ROWS, 1).write_batch();
    write(&engine, existing.clone());
    g.bench_function("existing_series", |b| {
        b.iter_batched(
            || existing.clone(),
            |batch| black_box(write(&engine, batch)),
            BatchSize::LargeInput,
        )
    });

    let engine = Engine::in_memory(CatalogLimits::default());
    write(&engine, existing.clone());
    let mut next = 0usize;
    g.bench_function("new_series", |b| {
        b.iter_batched(
            || {
                let first = HOSTS + next;
                next += ROWS;
                Dataset::new(first, ROWS, ROWS, 1).write_batch()
            },
            |batch| black_box(write(&engine, batch)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
