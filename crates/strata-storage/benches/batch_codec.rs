//! The WAL payload codec: `WriteBatch::encode` / `decode` on TSBS cpu-only
//! batches (1,000 hosts, 10 tags, 10 integer fields, 10,000 rows). Replay decodes
//! every record, so decode speed bounds replay speed.
//!
//! `cargo bench -p strata-storage --bench batch_codec`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use strata_bench::tsbs::Dataset;
use strata_model::WriteBatch;

const ROWS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let batch = Dataset::new(0, 1_000, ROWS, 7).write_batch();
    let mut bytes = Vec::new();
    batch.encode(&mut bytes);
    println!(
        "{ROWS} rows encode to {} bytes ({:.1} bytes/row)",
        bytes.len(),
        bytes.len() as f64 / ROWS as f64
    );
    let mut g = c.benchmark_group("batch_codec");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| black_box(WriteBatch::decode(black_box(&bytes)).expect("decode")))
    });
    let mut out = Vec::with_capacity(bytes.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            batch.encode(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
