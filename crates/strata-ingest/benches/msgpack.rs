//! Arc MessagePack decoding throughput on TSBS cpu-only shaped data: measurement
//! `cpu`, 10 string tags, 10 integer fields, nanosecond time, 1000 hosts, 10,000
//! rows per message (10 timestamps x 1000 hosts, in TSBS order).
//!
//! Run: `cargo bench -p strata-ingest --bench msgpack`. Each group also decodes the
//! same body with `rmpv` into a value tree, as a reference for the cost of merely
//! reading the MessagePack.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use strata_bench::tsbs::{Dataset, START_NS};
use strata_ingest::ParseOptions;
use strata_ingest::msgpack::decode;
use strata_model::Precision;

const HOSTS: usize = 1000;
const ROWS: usize = 10_000;

fn bench_body(c: &mut Criterion, group: &str, body: &[u8]) {
    let opts = ParseOptions::new(Precision::Auto, START_NS);
    let check = decode(body, &opts).unwrap();
    assert!(check.errors.is_empty(), "{:?}", &check.errors[..1]);
    assert_eq!(check.batch.row_count(), ROWS);

    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("strata_decode", |b| {
        b.iter(|| black_box(decode(black_box(body), &opts).unwrap()))
    });
    g.bench_function("rmpv_read_value", |b| {
        b.iter(|| black_box(rmpv::decode::read_value(&mut black_box(body)).unwrap()))
    });
    g.finish();
}

fn msgpack(c: &mut Criterion) {
    let data = Dataset::new(0, HOSTS, ROWS, 7);
    bench_body(c, "msgpack_columnar_tsbs_cpu", &data.msgpack_columnar());
    bench_body(c, "msgpack_row_tsbs_cpu", &data.msgpack_rows());
}

criterion_group!(benches, msgpack);
criterion_main!(benches);
