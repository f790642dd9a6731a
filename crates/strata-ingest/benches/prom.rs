//! Prometheus remote write decoding throughput on TSBS cpu-only shaped data:
//! every host's 10 fields as 10 metrics `cpu_<field>` with the host's 10 tags as
//! labels, one sample per series (as Prometheus sends a scrape), 1000 hosts,
//! 10,000 samples per request. Labels are sorted by name, as Prometheus sends
//! them; `strata_decode_unsorted_labels` decodes the same series with the tags
//! in TSBS order, which takes the decoder's quadratic duplicate check.
//!
//! Run: `cargo bench -p strata-ingest --bench prom`. The group also decodes the
//! same body into prost's message structs alone, the cost of merely reading the
//! protobuf.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use std::hint::black_box;
use strata_bench::tsbs::{Dataset, FIELD_KEYS, TAG_KEYS};
use strata_ingest::ParseOptions;
use strata_ingest::prom::{Label, METRIC_NAME_LABEL, Sample, TimeSeries, WriteRequest, decode};
use strata_model::Precision;

const HOSTS: usize = 1000;
const SAMPLES: usize = 10_000;

fn body(sorted: bool) -> Vec<u8> {
    let data = Dataset::new(0, HOSTS, SAMPLES / FIELD_KEYS.len(), 7);
    let mut timeseries = Vec::with_capacity(SAMPLES);
    for row in &data.rows {
        for (f, field) in FIELD_KEYS.iter().enumerate() {
            let mut labels = vec![Label {
                name: METRIC_NAME_LABEL.to_owned(),
                value: format!("cpu_{field}"),
            }];
            labels.extend(TAG_KEYS.iter().zip(data.tags(row)).map(|(k, v)| Label {
                name: (*k).to_owned(),
                value: v.clone(),
            }));
            if sorted {
                labels.sort_by(|a, b| a.name.cmp(&b.name));
            }
            timeseries.push(TimeSeries {
                labels,
                samples: vec![Sample {
                    value: row.fields[f] as f64,
                    timestamp: row.time_ns / 1_000_000,
                }],
                histograms: Vec::new(),
            });
        }
    }
    WriteRequest { timeseries }.encode_to_vec()
}

fn prom(c: &mut Criterion) {
    let unsorted = body(false);
    let body = body(true);
    let opts = ParseOptions::new(Precision::Millisecond, 0);
    let check = decode(&body, &opts).unwrap();
    assert!(check.errors.is_empty(), "{:?}", &check.errors[..1]);
    assert_eq!(check.batch.row_count(), SAMPLES);

    let mut g = c.benchmark_group("prom_remote_write_tsbs_cpu");
    g.throughput(Throughput::Elements(SAMPLES as u64));
    g.bench_function("strata_decode", |b| {
        b.iter(|| black_box(decode(black_box(&body), &opts).unwrap()))
    });
    g.bench_function("strata_decode_unsorted_labels", |b| {
        b.iter(|| black_box(decode(black_box(&unsorted), &opts).unwrap()))
    });
    g.bench_function("prost_decode_only", |b| {
        b.iter(|| black_box(WriteRequest::decode(black_box(&body[..])).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, prom);
criterion_main!(benches);
