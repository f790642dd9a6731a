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
use strata_ingest::ParseOptions;
use strata_ingest::msgpack::decode;
use strata_model::Precision;

const HOSTS: usize = 1000;
const ROWS: usize = 10_000;
const T0: i64 = 1_451_606_400_000_000_000;

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

/// Deterministic pseudo-random numbers (no dependency needed for a bench).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Tag values of each host, like TSBS's generator.
fn host_tags() -> Vec<[String; 10]> {
    let regions = [
        ("us-east-1", ["us-east-1a", "us-east-1b", "us-east-1c"]),
        ("us-west-1", ["us-west-1a", "us-west-1b", "us-west-1c"]),
        ("us-west-2", ["us-west-2a", "us-west-2b", "us-west-2c"]),
        ("eu-west-1", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        (
            "eu-central-1",
            ["eu-central-1a", "eu-central-1b", "eu-central-1a"],
        ),
        (
            "ap-southeast-1",
            ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1a"],
        ),
        (
            "ap-southeast-2",
            ["ap-southeast-2a", "ap-southeast-2b", "ap-southeast-2a"],
        ),
        (
            "ap-northeast-1",
            ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1a"],
        ),
        ("sa-east-1", ["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
    ];
    let os = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
    let arch = ["x64", "x86"];
    let team = ["SF", "NYC", "LON", "CHI"];
    let env = ["production", "staging", "test"];
    let mut r = Lcg(42);
    (0..HOSTS)
        .map(|i| {
            let (region, dcs) = regions[r.next(9) as usize];
            [
                format!("host_{i}"),
                region.to_owned(),
                dcs[r.next(3) as usize].to_owned(),
                r.next(100).to_string(),
                os[r.next(3) as usize].to_owned(),
                arch[r.next(2) as usize].to_owned(),
                team[r.next(4) as usize].to_owned(),
                r.next(20).to_string(),
                r.next(2).to_string(),
                env[r.next(3) as usize].to_owned(),
            ]
        })
        .collect()
}

/// Row `i` of the data set: (host index, time, field values).
fn rows() -> Vec<(usize, i64, [i64; 10])> {
    let mut r = Lcg(7);
    (0..ROWS)
        .map(|i| {
            let host = i % HOSTS;
            let time = T0 + (i / HOSTS) as i64 * 10_000_000_000;
            let mut f = [0i64; 10];
            for v in &mut f {
                *v = r.next(101) as i64;
            }
            (host, time, f)
        })
        .collect()
}

/// One columnar message with all rows.
fn columnar_body() -> Vec<u8> {
    let hosts = host_tags();
    let rows = rows();
    let mut b = Vec::new();
    rmp::encode::write_map_len(&mut b, 2).unwrap();
    rmp::encode::write_str(&mut b, "m").unwrap();
    rmp::encode::write_str(&mut b, "cpu").unwrap();
    rmp::encode::write_str(&mut b, "columns").unwrap();
    rmp::encode::write_map_len(&mut b, 21).unwrap();
    rmp::encode::write_str(&mut b, "time").unwrap();
    rmp::encode::write_array_len(&mut b, ROWS as u32).unwrap();
    for (_, t, _) in &rows {
        rmp::encode::write_sint(&mut b, *t).unwrap();
    }
    for (k, name) in TAGS.iter().enumerate() {
        rmp::encode::write_str(&mut b, name).unwrap();
        rmp::encode::write_array_len(&mut b, ROWS as u32).unwrap();
        for (h, _, _) in &rows {
            rmp::encode::write_str(&mut b, &hosts[*h][k]).unwrap();
        }
    }
    for (k, name) in FIELDS.iter().enumerate() {
        rmp::encode::write_str(&mut b, name).unwrap();
        rmp::encode::write_array_len(&mut b, ROWS as u32).unwrap();
        for (_, _, f) in &rows {
            rmp::encode::write_sint(&mut b, f[k]).unwrap();
        }
    }
    b
}

/// The same rows as an array of row-format records.
fn row_body() -> Vec<u8> {
    let hosts = host_tags();
    let rows = rows();
    let mut b = Vec::new();
    rmp::encode::write_array_len(&mut b, ROWS as u32).unwrap();
    for (h, t, f) in &rows {
        rmp::encode::write_map_len(&mut b, 4).unwrap();
        rmp::encode::write_str(&mut b, "m").unwrap();
        rmp::encode::write_str(&mut b, "cpu").unwrap();
        rmp::encode::write_str(&mut b, "t").unwrap();
        rmp::encode::write_sint(&mut b, *t).unwrap();
        rmp::encode::write_str(&mut b, "tags").unwrap();
        rmp::encode::write_map_len(&mut b, 10).unwrap();
        for (k, name) in TAGS.iter().enumerate() {
            rmp::encode::write_str(&mut b, name).unwrap();
            rmp::encode::write_str(&mut b, &hosts[*h][k]).unwrap();
        }
        rmp::encode::write_str(&mut b, "fields").unwrap();
        rmp::encode::write_map_len(&mut b, 10).unwrap();
        for (k, name) in FIELDS.iter().enumerate() {
            rmp::encode::write_str(&mut b, name).unwrap();
            rmp::encode::write_sint(&mut b, f[k]).unwrap();
        }
    }
    b
}

fn bench_body(c: &mut Criterion, group: &str, body: &[u8]) {
    let opts = ParseOptions::new(Precision::Auto, T0);
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
    let body = columnar_body();
    bench_body(c, "msgpack_columnar_tsbs_cpu", &body);
    let body = row_body();
    bench_body(c, "msgpack_row_tsbs_cpu", &body);
}

criterion_group!(benches, msgpack);
criterion_main!(benches);
