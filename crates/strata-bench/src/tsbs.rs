//! TSBS "cpu-only" data: measurement `cpu`, 10 tags per host, 10 integer fields
//! `usage_user..usage_guest_nice`, one row per host every 10 s.
//!
//! Everything is deterministic (fixed seeds), so every run encodes the same
//! bytes. Host `h` always has the same tag values, whatever the host count, so a
//! "new series" workload is simply hosts beyond the ones written before.

use strata_model::{ColumnKind, FieldType, FieldValue, WriteBatch};

/// Measurement name.
pub const MEASUREMENT: &str = "cpu";
/// Tag keys, in TSBS order.
pub const TAG_KEYS: [&str; 10] = [
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
/// Field keys, in TSBS order.
pub const FIELD_KEYS: [&str; 10] = [
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
/// TSBS's default start, 2016-01-01T00:00:00Z, in nanoseconds.
pub const START_NS: i64 = 1_451_606_400_000_000_000;
/// Interval between two rows of one host, in nanoseconds.
pub const INTERVAL_NS: i64 = 10_000_000_000;

const REGIONS: [(&str, &[&str]); 9] = [
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
const OS: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCH: [&str; 2] = ["x64", "x86"];
const TEAM: [&str; 4] = ["SF", "NYC", "LON", "CHI"];
const ENVIRONMENT: [&str; 3] = ["production", "staging", "test"];

/// SplitMix64: small, fast and deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The tag values of host `h`, in [`TAG_KEYS`] order.
pub fn host_tags(h: usize) -> [String; 10] {
    let mut r = Rng::new(h as u64 ^ 0x5eed);
    let (region, dcs) = REGIONS[r.below(REGIONS.len())];
    [
        format!("host_{h}"),
        region.to_owned(),
        dcs[r.below(dcs.len())].to_owned(),
        r.below(100).to_string(),
        OS[r.below(OS.len())].to_owned(),
        ARCH[r.below(ARCH.len())].to_owned(),
        TEAM[r.below(TEAM.len())].to_owned(),
        r.below(20).to_string(),
        r.below(2).to_string(),
        ENVIRONMENT[r.below(ENVIRONMENT.len())].to_owned(),
    ]
}

/// One row: host index, timestamp (ns) and the 10 field values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Index of the host (its tags come from [`host_tags`]).
    pub host: usize,
    /// Nanoseconds since the epoch.
    pub time_ns: i64,
    /// Field values in [`FIELD_KEYS`] order, each 0..=100.
    pub fields: [i64; 10],
}

/// A data set: rows over hosts `first_host .. first_host + hosts`, round by round
/// (every host once per 10 s interval), and the tag values of those hosts.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The rows, in generation order.
    pub rows: Vec<Row>,
    tags: Vec<[String; 10]>,
    first_host: usize,
}

impl Dataset {
    /// `rows` rows over `hosts` hosts numbered from `first_host`.
    pub fn new(first_host: usize, hosts: usize, rows: usize, seed: u64) -> Self {
        let hosts = hosts.max(1);
        let mut r = Rng::new(seed);
        let rows = (0..rows)
            .map(|i| {
                let mut fields = [0i64; 10];
                for f in &mut fields {
                    *f = r.below(101) as i64;
                }
                Row {
                    host: first_host + i % hosts,
                    time_ns: START_NS + (i / hosts) as i64 * INTERVAL_NS,
                    fields,
                }
            })
            .collect();
        let tags = (first_host..first_host + hosts).map(host_tags).collect();
        Self {
            rows,
            tags,
            first_host,
        }
    }

    /// Tag values of a row's host.
    pub fn tags(&self, row: &Row) -> &[String; 10] {
        &self.tags[row.host - self.first_host]
    }

    /// The rows as line protocol (nanosecond timestamps).
    pub fn line_protocol(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(self.rows.len() * 300);
        for row in &self.rows {
            out.push_str(MEASUREMENT);
            for (k, v) in TAG_KEYS.iter().zip(self.tags(row)) {
                let _ = write!(out, ",{k}={v}");
            }
            for (n, (k, v)) in FIELD_KEYS.iter().zip(&row.fields).enumerate() {
                let sep = if n == 0 { ' ' } else { ',' };
                let _ = write!(out, "{sep}{k}={v}i");
            }
            let _ = writeln!(out, " {}", row.time_ns);
        }
        out
    }

    /// The rows as one Arc MessagePack columnar object.
    pub fn msgpack_columnar(&self) -> Vec<u8> {
        let n = self.rows.len() as u32;
        let mut b = Vec::with_capacity(self.rows.len() * 120);
        // Writes into a Vec cannot fail.
        let _ = rmp::encode::write_map_len(&mut b, 2);
        let _ = rmp::encode::write_str(&mut b, "m");
        let _ = rmp::encode::write_str(&mut b, MEASUREMENT);
        let _ = rmp::encode::write_str(&mut b, "columns");
        let _ = rmp::encode::write_map_len(&mut b, 21);
        let _ = rmp::encode::write_str(&mut b, "time");
        let _ = rmp::encode::write_array_len(&mut b, n);
        for row in &self.rows {
            let _ = rmp::encode::write_sint(&mut b, row.time_ns);
        }
        for (k, name) in TAG_KEYS.iter().enumerate() {
            let _ = rmp::encode::write_str(&mut b, name);
            let _ = rmp::encode::write_array_len(&mut b, n);
            for row in &self.rows {
                let _ = rmp::encode::write_str(&mut b, &self.tags(row)[k]);
            }
        }
        for (k, name) in FIELD_KEYS.iter().enumerate() {
            let _ = rmp::encode::write_str(&mut b, name);
            let _ = rmp::encode::write_array_len(&mut b, n);
            for row in &self.rows {
                let _ = rmp::encode::write_sint(&mut b, row.fields[k]);
            }
        }
        b
    }

    /// The rows as an array of Arc MessagePack row-format records.
    pub fn msgpack_rows(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.rows.len() * 400);
        let _ = rmp::encode::write_array_len(&mut b, self.rows.len() as u32);
        for row in &self.rows {
            let _ = rmp::encode::write_map_len(&mut b, 4);
            let _ = rmp::encode::write_str(&mut b, "m");
            let _ = rmp::encode::write_str(&mut b, MEASUREMENT);
            let _ = rmp::encode::write_str(&mut b, "t");
            let _ = rmp::encode::write_sint(&mut b, row.time_ns);
            let _ = rmp::encode::write_str(&mut b, "tags");
            let _ = rmp::encode::write_map_len(&mut b, 10);
            for (k, v) in TAG_KEYS.iter().zip(self.tags(row)) {
                let _ = rmp::encode::write_str(&mut b, k);
                let _ = rmp::encode::write_str(&mut b, v);
            }
            let _ = rmp::encode::write_str(&mut b, "fields");
            let _ = rmp::encode::write_map_len(&mut b, 10);
            for (k, v) in FIELD_KEYS.iter().zip(&row.fields) {
                let _ = rmp::encode::write_str(&mut b, k);
                let _ = rmp::encode::write_sint(&mut b, *v);
            }
        }
        b
    }

    /// The rows as a finished [`WriteBatch`], as a parser would produce them.
    pub fn write_batch(&self) -> WriteBatch {
        let mut b = WriteBatch::default();
        let t = b.table_mut(MEASUREMENT);
        for (i, row) in self.rows.iter().enumerate() {
            t.begin_row(i as u32 + 1, row.time_ns);
            for (pos, (k, v)) in TAG_KEYS.iter().zip(self.tags(row)).enumerate() {
                if let Ok(c) = t.resolve_column(pos, k, ColumnKind::Tag) {
                    t.push_tag(c, v);
                }
            }
            for (i, (k, v)) in FIELD_KEYS.iter().zip(&row.fields).enumerate() {
                let kind = ColumnKind::Field(FieldType::Integer);
                if let Ok(c) = t.resolve_column(TAG_KEYS.len() + i, k, kind) {
                    t.push_field(c, FieldValue::I64(*v));
                }
            }
        }
        b.finish();
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_consistent() {
        let a = Dataset::new(0, 10, 25, 1);
        let b = Dataset::new(0, 10, 25, 1);
        assert_eq!(a.line_protocol(), b.line_protocol());
        assert_eq!(a.rows[12].host, 2);
        assert_eq!(a.rows[12].time_ns, START_NS + 10_000_000_000);
        assert_eq!(
            host_tags(3),
            Dataset::new(3, 1, 1, 9)
                .tags(&Row {
                    host: 3,
                    time_ns: 0,
                    fields: [0; 10]
                })
                .clone()
        );
        let lp = a.line_protocol();
        assert_eq!(lp.lines().count(), 25);
        assert!(lp.starts_with("cpu,hostname=host_0,region="), "{lp}");
        let wb = a.write_batch();
        assert_eq!(wb.row_count(), 25);
        assert_eq!(wb.tables()[0].columns().len(), 20);
        assert!(!a.msgpack_columnar().is_empty() && !a.msgpack_rows().is_empty());
    }
}
