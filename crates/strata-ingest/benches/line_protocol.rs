//! Line protocol parsing throughput on TSBS "cpu-only" data: Strata's parser (into a
//! columnar `WriteBatch`) against the `influxdb-line-protocol` crate (InfluxDB 3's
//! parser, into per-line structs) on the same bytes.
//!
//! Run: `cargo bench -p strata-ingest --bench line_protocol`. Throughput is reported
//! in lines (elements) per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::hint::black_box;
use strata_ingest::{ParseOptions, line_protocol};
use strata_model::Precision;

/// Hosts of the simulated fleet (TSBS `--scale`).
const HOSTS: usize = 1000;
/// Lines per iteration: 10 rounds of every host.
const LINES: usize = 10_000;
/// TSBS start time (2016-01-01T00:00:00Z) and interval (10 s), in nanoseconds.
const START_NS: i64 = 1_451_606_400_000_000_000;
const INTERVAL_NS: i64 = 10_000_000_000;

const REGIONS: &[(&str, &[&str])] = &[
    (
        "us-east-1",
        &["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
    ),
    ("us-west-1", &["us-west-1a", "us-west-1b"]),
    ("us-west-2", &["us-west-2a", "us-west-2b", "us-west-2c"]),
    ("eu-west-1", &["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("eu-central-1", &["eu-central-1a", "eu-central-1b"]),
    ("ap-southeast-1", &["ap-southeast-1a", "ap-southeast-1b"]),
    ("ap-southeast-2", &["ap-southeast-2a", "ap-southeast-2b"]),
    ("ap-northeast-1", &["ap-northeast-1a", "ap-northeast-1c"]),
    ("sa-east-1", &["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
];
const OS: &[&str] = &["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCH: &[&str] = &["x64", "x86"];
const TEAM: &[&str] = &["SF", "NYC", "LON", "CHI"];
const ENVIRONMENT: &[&str] = &["production", "staging", "test"];
const FIELDS: &[&str] = &[
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

/// SplitMix64: a small deterministic generator, so every run parses the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// TSBS cpu-only lines: 10 tags per host, 10 integer fields, ns timestamps.
fn tsbs_cpu_only(hosts: usize, lines: usize) -> String {
    let mut rng = Rng(42);
    let series: Vec<String> = (0..hosts)
        .map(|h| {
            let (region, dcs) = REGIONS[rng.below(REGIONS.len())];
            format!(
                "cpu,hostname=host_{h},region={region},datacenter={},rack={},os={},arch={},\
                 team={},service={},service_version={},service_environment={}",
                rng.pick(dcs),
                rng.below(100),
                rng.pick(OS),
                rng.pick(ARCH),
                rng.pick(TEAM),
                rng.below(20),
                rng.below(2),
                rng.pick(ENVIRONMENT),
            )
        })
        .collect();
    let mut out = String::with_capacity(lines * 300);
    for i in 0..lines {
        let (round, host) = (i / hosts, i % hosts);
        out.push_str(&series[host]);
        for (n, field) in FIELDS.iter().enumerate() {
            let sep = if n == 0 { ' ' } else { ',' };
            let _ = write!(out, "{sep}{field}={}i", rng.below(101));
        }
        let _ = writeln!(out, " {}", START_NS + round as i64 * INTERVAL_NS);
    }
    out
}

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
    let text = tsbs_cpu_only(HOSTS, LINES);
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
