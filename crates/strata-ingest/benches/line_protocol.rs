//! Line protocol parsing throughput on TSBS "cpu-only" data: Strata's parser (into a
//! columnar `WriteBatch`) against the `influxdb-line-protocol` crate (InfluxDB 3's
//! parser, into per-line structs) on the same bytes.
//!
//! Run: `cargo bench -p strata-ingest --bench line_protocol`. Throughput is reported
//! in lines (elements) per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use strata_bench::tsbs::{Dataset, START_NS};
use strata_ingest::{ParseOptions, line_protocol};
use strata_model::Precision;

/// Hosts of the simulated fleet (TSBS `--scale`).
const HOSTS: usize = 1000;
/// Lines per iteration: 10 rounds of every host.
const LINES: usize = 10_000;

/// Parses with the reference crate and consumes every value, so that nothing is
/// optimised away; returns a checksum.
fn oracle(text: &str) -> u64 {
    use influxdb_line_protocol::FieldValue;
    let mut sum = 0u64;
    for line in influxdb_line_protocol::parse_lines(text) {
        let Ok(line) = line else {
            sum += 1;
            continue;
        };
        sum += line.series.measurement.len() as u64;
        for (k, v) in line.series.tag_set.iter().flatten() {
            sum += (k.len() + v.len()) as u64;
        }
        for (k, v) in &line.field_set {
            sum += k.len() as u64;
            sum = sum.wrapping_add(match v {
                FieldValue::I64(x) => *x as u64,
                FieldValue::U64(x) => *x,
                FieldValue::F64(x) => x.to_bits(),
                FieldValue::String(s) => s.len() as u64,
                FieldValue::Boolean(b) => u64::from(*b),
            });
        }
        sum = sum.wrapping_add(line.timestamp.unwrap_or(0) as u64);
    }
    sum
}

fn bench(c: &mut Criterion) {
    let text = Dataset::new(0, HOSTS, LINES, 42).line_protocol();
    let opts = ParseOptions::new(Precision::Nanosecond, START_NS);
    // Both parsers must accept every line, or the comparison is meaningless.
    let parsed = line_protocol::parse(text.as_bytes(), &opts);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors.first());
    assert_eq!(parsed.batch.row_count(), LINES);
    assert!(influxdb_line_protocol::parse_lines(&text).all(|l| l.is_ok()));

    let mut g = c.benchmark_group("line_protocol/tsbs_cpu_only");
    g.throughput(Throughput::Elements(LINES as u64));
    g.sample_size(30);
    g.bench_function("strata", |b| {
        b.iter(|| {
            let parsed = line_protocol::parse(black_box(text.as_bytes()), &opts);
            black_box(parsed.batch.row_count())
        })
    });
    g.bench_function("influxdb_line_protocol", |b| {
        b.iter(|| black_box(oracle(black_box(&text))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
