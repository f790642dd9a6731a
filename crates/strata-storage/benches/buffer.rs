//! Buffer append throughput (validation + series assignment + Arrow conversion +
//! append) on TSBS cpu-only shaped rows: 10 tags, 10 integer fields, 1,000 hosts.
//!
//! `cargo bench -p strata-storage --bench buffer`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use strata_model::{ColumnKind, FieldType, FieldValue, WriteBatch};
use strata_storage::catalog::CatalogLimits;
use strata_storage::{Engine, WriteOptions};

const ROWS: usize = 10_000;
const HOSTS: usize = 1_000;
const TAGS: [&str; 10] = [
    "hostname",
    "region",
    "datacenter",
    "rack",
    "os",
    "arch",
    "team",
    "service",
    "service_version",
    "service_environment",
];
const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// TSBS-like rows; `host_offset` makes host names unique across calls.
fn tsbs_batch(host_of_row: impl Fn(usize) -> usize) -> WriteBatch {
    let mut b = WriteBatch::default();
    let t = b.table_mut("cpu");
    let mut name = String::new();
    for row in 0..ROWS {
        let host = host_of_row(row);
        t.begin_row(
            row as u32 + 1,
            1_700_000_000_000_000_000 + (row / HOSTS) as i64 * 10_000_000_000,
        );
        for (pos, tag) in TAGS.iter().enumerate() {
            name.clear();
            if pos == 0 {
                name.push_str("host_");
                name.push_str(&host.to_string());
            } else {
                name.push_str(tag);
                name.push('_');
                name.push_str(&((host * 7 + pos) % (3 + pos * 2)).to_string());
            }
            let c = t.resolve_column(pos, tag, ColumnKind::Tag).expect("tag");
            t.push_tag(c, &name);
        }
        for (i, f) in FIELDS.iter().enumerate() {
            let c = t
                .resolve_column(TAGS.len() + i, f, ColumnKind::Field(FieldType::Integer))
                .expect("field");
            t.push_field(c, FieldValue::I64(((row * 31 + i * 17) % 100) as i64));
        }
    }
    b.finish();
    b
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("buffer_append");
    g.throughput(Throughput::Elements(ROWS as u64));
    let opts = WriteOptions {
        accept_partial: true,
    };

    let engine = Engine::in_memory(CatalogLimits::default());
    let existing = tsbs_batch(|row| row % HOSTS);
    engine
        .write("db", existing.clone(), opts)
        .expect("warm-up write");
    g.bench_function("existing_series", |b| {
        b.iter_batched(
            || existing.clone(),
            |batch| black_box(engine.write("db", batch, opts).expect("write")),
            BatchSize::LargeInput,
        )
    });

    let engine = Engine::in_memory(CatalogLimits::default());
    engine
        .write("db", existing.clone(), opts)
        .expect("warm-up write");
    let mut next = 0usize;
    g.bench_function("new_series", |b| {
        b.iter_batched(
            || {
                let base = next;
                next += ROWS;
                tsbs_batch(|row| HOSTS + base + row)
            },
            |batch| black_box(engine.write("db", batch, opts).expect("write")),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
