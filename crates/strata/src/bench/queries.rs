//! The queries of `strata bench query`: TSBS's devops set (`tsbs_generate_queries
//! --use-case devops`, as written for TimescaleDB in its
//! `databases/timescaledb/devops.go`) in SQL that DataFusion and DuckDB both
//! run unchanged, plus `point`.
//!
//! Invariant: query `k` of a type depends only on the seed, the type, `k` and
//! the [`DataRange`]; each draws from its own generator seeded from those. So
//! clients can take query numbers in any order, and `--print-queries` prints
//! exactly what a run sends (the DuckDB script replays that output).
//!
//! Where this differs from TSBS, and why:
//! - hosts are `hostname IN ('host_1', ...)` instead of a chain of `OR`s (the
//!   same rows; shorter text);
//! - time literals are `TIMESTAMP 'YYYY-MM-DD HH:MM:SS'` (UTC, whole seconds),
//!   which both engines compare with a time-zone-less nanosecond column;
//! - `double-groupby-*` groups by `hostname` directly (TSBS's TimescaleDB schema
//!   groups by a tags id and joins the tags table; this table holds the tags);
//! - every output column of an aggregate is named, so answers are comparable;
//! - windows longer than the data cover all of it instead of failing.

use crate::cli::BenchQueryType;
use std::fmt::Write as _;
use strata_bench::tsbs::{FIELD_KEYS, MEASUREMENT, Rng};

const SECOND_NS: i64 = 1_000_000_000;
const MINUTE_NS: i64 = 60 * SECOND_NS;
const HOUR_NS: i64 = 60 * MINUTE_NS;

/// The data the queries look at: the `cpu` table's first and last timestamps
/// (inclusive, nanoseconds) and its hosts, `host_0 .. host_<hosts-1>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DataRange {
    pub(crate) start_ns: i64,
    pub(crate) end_ns: i64,
    pub(crate) hosts: u64,
}

/// What a query type asks, in TSBS's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `single-groupby-M-H-T`: max of `metrics` per minute for `hosts` random
    /// hosts over `hours`.
    SingleGroupby {
        metrics: usize,
        hosts: u64,
        hours: i64,
    },
    /// `cpu-max-all-H`: max of every metric per hour for `hosts` hosts over 8 h.
    MaxAll { hosts: u64 },
    /// `double-groupby-M`: mean of `metrics` per hour and host over 24 h.
    DoubleGroupby { metrics: usize },
    /// `high-cpu-H`: rows with usage_user > 90 over 24 h, for `hosts` hosts
    /// (`None`: all).
    HighCpu { hosts: Option<u64> },
    /// The last row of every host.
    Lastpoint,
    /// The 5 latest minutes before a random time, max of usage_user.
    GroupbyOrderbyLimit,
    /// Every column of one host over the last hour of the data.
    Point,
}

impl BenchQueryType {
    /// Every type, in the order they run by default.
    pub(crate) const ALL: [BenchQueryType; 16] = [
        Self::SingleGroupby1_1_1,
        Self::SingleGroupby1_1_12,
        Self::SingleGroupby1_8_1,
        Self::SingleGroupby5_1_1,
        Self::SingleGroupby5_1_12,
        Self::SingleGroupby5_8_1,
        Self::CpuMaxAll1,
        Self::CpuMaxAll8,
        Self::DoubleGroupby1,
        Self::DoubleGroupby5,
        Self::DoubleGroupbyAll,
        Self::HighCpu1,
        Self::HighCpuAll,
        Self::Lastpoint,
        Self::GroupbyOrderbyLimit,
        Self::Point,
    ];

    /// The name on the command line and in reports (TSBS's).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::SingleGroupby1_1_1 => "single-groupby-1-1-1",
            Self::SingleGroupby1_1_12 => "single-groupby-1-1-12",
            Self::SingleGroupby1_8_1 => "single-groupby-1-8-1",
            Self::SingleGroupby5_1_1 => "single-groupby-5-1-1",
            Self::SingleGroupby5_1_12 => "single-groupby-5-1-12",
            Self::SingleGroupby5_8_1 => "single-groupby-5-8-1",
            Self::CpuMaxAll1 => "cpu-max-all-1",
            Self::CpuMaxAll8 => "cpu-max-all-8",
            Self::DoubleGroupby1 => "double-groupby-1",
            Self::DoubleGroupby5 => "double-groupby-5",
            Self::DoubleGroupbyAll => "double-groupby-all",
            Self::HighCpu1 => "high-cpu-1",
            Self::HighCpuAll => "high-cpu-all",
            Self::Lastpoint => "lastpoint",
            Self::GroupbyOrderbyLimit => "groupby-orderby-limit",
            Self::Point => "point",
        }
    }

    fn shape(self) -> Shape {
        use Shape::*;
        let single = |metrics, hosts, hours| SingleGroupby {
            metrics,
            hosts,
            hours,
        };
        match self {
            Self::SingleGroupby1_1_1 => single(1, 1, 1),
            Self::SingleGroupby1_1_12 => single(1, 1, 12),
            Self::SingleGroupby1_8_1 => single(1, 8, 1),
            Self::SingleGroupby5_1_1 => single(5, 1, 1),
            Self::SingleGroupby5_1_12 => single(5, 1, 12),
            Self::SingleGroupby5_8_1 => single(5, 8, 1),
            Self::CpuMaxAll1 => MaxAll { hosts: 1 },
            Self::CpuMaxAll8 => MaxAll { hosts: 8 },
            Self::DoubleGroupby1 => DoubleGroupby { metrics: 1 },
            Self::DoubleGroupby5 => DoubleGroupby { metrics: 5 },
            Self::DoubleGroupbyAll => DoubleGroupby {
                metrics: FIELD_KEYS.len(),
            },
            Self::HighCpu1 => HighCpu { hosts: Some(1) },
            Self::HighCpuAll => HighCpu { hosts: None },
            Self::Lastpoint => Lastpoint,
            Self::GroupbyOrderbyLimit => GroupbyOrderbyLimit,
            Self::Point => Point,
        }
    }

    /// Distinct hosts one query of this type names.
    pub(crate) fn hosts_needed(self) -> u64 {
        match self.shape() {
            Shape::SingleGroupby { hosts, .. } | Shape::MaxAll { hosts } => hosts,
            Shape::HighCpu { hosts } => hosts.unwrap_or(0),
            Shape::Point => 1,
            _ => 0,
        }
    }

    /// The time window of this type's queries (ns), when longer than the data:
    /// their windows then cover all of it.
    pub(crate) fn window_exceeds(self, range: &DataRange) -> Option<i64> {
        window_ns(self.shape()).filter(|&w| w > range.end_ns - range.start_ns)
    }

    /// Position in [`Self::ALL`], part of every query's seed.
    fn index(self) -> u64 {
        Self::ALL.iter().position(|&t| t == self).unwrap_or(0) as u64
    }
}

/// The window a shape draws, if it draws one.
fn window_ns(shape: Shape) -> Option<i64> {
    match shape {
        Shape::SingleGroupby { hours, .. } => Some(hours * HOUR_NS),
        Shape::MaxAll { .. } => Some(8 * HOUR_NS),
        Shape::DoubleGroupby { .. } | Shape::HighCpu { .. } => Some(24 * HOUR_NS),
        Shape::GroupbyOrderbyLimit => Some(HOUR_NS),
        Shape::Lastpoint | Shape::Point => None,
    }
}

/// Query `k` of type `ty` over `range`, for `seed`.
pub(crate) fn sql(ty: BenchQueryType, k: u64, seed: u64, range: &DataRange) -> String {
    // A generator of its own per query (see the module's invariant): mixed once
    // so that neighbouring k do not share a SplitMix sequence.
    let mut rng = Rng::new(Rng::new(seed ^ (ty.index() << 56) ^ k).next_u64());
    let table = MEASUREMENT;
    let shape = ty.shape();
    let window = window_ns(shape).map(|w| random_window(&mut rng, range, w));
    let (from, to) = window.unwrap_or((range.start_ns, range.end_ns));
    let (from, to) = (timestamp(from), timestamp(to));
    match shape {
        Shape::SingleGroupby { metrics, hosts, .. } => {
            let hosts = host_list(&mut rng, range.hosts, hosts);
            max_per_bucket("minute", metrics, &hosts, &from, &to)
        }
        Shape::MaxAll { hosts } => {
            let hosts = host_list(&mut rng, range.hosts, hosts);
            max_per_bucket("hour", FIELD_KEYS.len(), &hosts, &from, &to)
        }
        Shape::DoubleGroupby { metrics } => format!(
            "SELECT date_trunc('hour', time) AS hour, hostname, {} FROM {table} \
             WHERE time >= {from} AND time < {to} \
             GROUP BY hour, hostname ORDER BY hour, hostname",
            aggregates("avg", metrics),
        ),
        Shape::HighCpu { hosts } => {
            let hosts = match hosts {
                Some(n) => format!(" AND hostname IN ({})", host_list(&mut rng, range.hosts, n)),
                None => String::new(),
            };
            format!(
                "SELECT * FROM {table} WHERE usage_user > 90.0 \
                 AND time >= {from} AND time < {to}{hosts}"
            )
        }
        Shape::Lastpoint => {
            format!("SELECT DISTINCT ON (hostname) * FROM {table} ORDER BY hostname, time DESC")
        }
        Shape::GroupbyOrderbyLimit => format!(
            "SELECT date_trunc('minute', time) AS minute, max(usage_user) AS max_usage_user \
             FROM {table} WHERE time < {to} GROUP BY minute ORDER BY minute DESC LIMIT 5"
        ),
        Shape::Point => {
            let host = host_list(&mut rng, range.hosts, 1);
            let since = timestamp(range.end_ns - HOUR_NS);
            format!("SELECT * FROM {table} WHERE hostname = {host} AND time >= {since}")
        }
    }
}

/// Max of the first `metrics` metrics per `unit` for `hosts` from `from` to `to`.
fn max_per_bucket(unit: &str, metrics: usize, hosts: &str, from: &str, to: &str) -> String {
    format!(
        "SELECT date_trunc('{unit}', time) AS {unit}, {} FROM {MEASUREMENT} \
         WHERE hostname IN ({hosts}) AND time >= {from} AND time < {to} \
         GROUP BY {unit} ORDER BY {unit}",
        aggregates("max", metrics),
    )
}

/// A window of `len` ns starting at a random whole second, within the data
/// when it fits (TSBS's `RandWindow`), else from the data's start.
fn random_window(rng: &mut Rng, range: &DataRange, len: i64) -> (i64, i64) {
    let first = range.start_ns.div_euclid(SECOND_NS) * SECOND_NS;
    let slack_s = (range.end_ns - len - first).div_euclid(SECOND_NS);
    let start = if slack_s > 0 {
        first + (rng.next_u64() % (slack_s as u64 + 1)) as i64 * SECOND_NS
    } else {
        first
    };
    (start, start + len)
}

/// `n` distinct random hosts of `hosts` as a quoted list: `'host_3', 'host_0'`.
/// Callers have checked `n <= hosts`.
fn host_list(rng: &mut Rng, hosts: u64, n: u64) -> String {
    let mut picked: Vec<u64> = Vec::with_capacity(n as usize);
    while (picked.len() as u64) < n.min(hosts) {
        let h = rng.next_u64() % hosts;
        if !picked.contains(&h) {
            picked.push(h);
        }
    }
    let mut out = String::new();
    for (i, h) in picked.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}'host_{h}'");
    }
    out
}

/// `max(usage_user) AS max_usage_user, ...` over the first `n` metrics.
fn aggregates(agg: &str, n: usize) -> String {
    let prefix = if agg == "avg" { "mean" } else { agg };
    FIELD_KEYS[..n.min(FIELD_KEYS.len())]
        .iter()
        .map(|m| format!("{agg}({m}) AS {prefix}_{m}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `TIMESTAMP '2016-01-01 00:00:00'` (UTC, whole seconds: the windows start on
/// one).
fn timestamp(ns: i64) -> String {
    format!("TIMESTAMP '{}'", format_ns(ns, "%Y-%m-%d %H:%M:%S"))
}

/// `ns` since the epoch, UTC, in a chrono format.
pub(crate) fn format_ns(ns: i64, fmt: &str) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format(fmt)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: DataRange = DataRange {
        // 2016-01-01T00:00:00Z .. two days later, 1,000 hosts.
        start_ns: strata_bench::tsbs::START_NS,
        end_ns: strata_bench::tsbs::START_NS + 48 * HOUR_NS,
        hosts: 1000,
    };

    #[test]
    fn every_type_has_a_distinct_name_and_queries_are_deterministic() {
        let mut names: Vec<&str> = BenchQueryType::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 16);
        for ty in BenchQueryType::ALL {
            assert_eq!(
                sql(ty, 3, 7, &RANGE),
                sql(ty, 3, 7, &RANGE),
                "{}",
                ty.name()
            );
        }
        let a = sql(BenchQueryType::SingleGroupby1_8_1, 0, 7, &RANGE);
        assert_ne!(a, sql(BenchQueryType::SingleGroupby1_8_1, 1, 7, &RANGE));
        assert_ne!(a, sql(BenchQueryType::SingleGroupby1_8_1, 0, 8, &RANGE));
    }

    #[test]
    fn single_groupby_draws_hosts_and_a_window_inside_the_data() {
        let q = sql(BenchQueryType::SingleGroupby5_8_1, 0, 42, &RANGE);
        assert!(
            q.starts_with(
                "SELECT date_trunc('minute', time) AS minute, max(usage_user) AS max_usage_user, \
                 max(usage_system) AS max_usage_system,"
            ),
            "{q}"
        );
        assert!(
            q.contains("max(usage_iowait) AS max_usage_iowait FROM cpu WHERE"),
            "{q}"
        );
        assert!(q.ends_with("GROUP BY minute ORDER BY minute"), "{q}");
        let list = q.split("IN (").nth(1).unwrap().split(')').next().unwrap();
        let hosts: Vec<&str> = list.split(", ").collect();
        assert_eq!(hosts.len(), 8, "{q}");
        let mut distinct = hosts.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 8, "{q}");
        for k in 0..200 {
            let mut rng = Rng::new(k);
            let (s, e) = random_window(&mut rng, &RANGE, 12 * HOUR_NS);
            assert!(s >= RANGE.start_ns && e <= RANGE.end_ns && e - s == 12 * HOUR_NS);
            assert_eq!(s % SECOND_NS, 0);
        }
    }

    #[test]
    fn short_data_is_covered_whole() {
        let short = DataRange {
            start_ns: RANGE.start_ns,
            end_ns: RANGE.start_ns + 200 * SECOND_NS,
            hosts: 3,
        };
        assert_eq!(
            sql(BenchQueryType::DoubleGroupby1, 0, 1, &short),
            "SELECT date_trunc('hour', time) AS hour, hostname, avg(usage_user) AS mean_usage_user \
             FROM cpu WHERE time >= TIMESTAMP '2016-01-01 00:00:00' \
             AND time < TIMESTAMP '2016-01-02 00:00:00' \
             GROUP BY hour, hostname ORDER BY hour, hostname"
        );
        assert_eq!(
            BenchQueryType::DoubleGroupby1.window_exceeds(&short),
            Some(24 * HOUR_NS)
        );
        assert_eq!(BenchQueryType::Lastpoint.window_exceeds(&short), None);
        // Three hosts: a 1-host list never repeats and stays in range.
        let q = sql(BenchQueryType::Point, 5, 1, &short);
        assert!(
            q.starts_with("SELECT * FROM cpu WHERE hostname = 'host_")
                && q.ends_with("AND time >= TIMESTAMP '2015-12-31 23:03:20'"),
            "{q}"
        );
    }

    #[test]
    fn the_other_shapes() {
        let q = sql(BenchQueryType::HighCpuAll, 0, 1, &RANGE);
        assert!(q.starts_with("SELECT * FROM cpu WHERE usage_user > 90.0 AND time >= "));
        assert!(!q.contains("hostname"), "{q}");
        let q = sql(BenchQueryType::HighCpu1, 0, 1, &RANGE);
        assert!(q.contains(" AND hostname IN ('host_"), "{q}");
        let q = sql(BenchQueryType::CpuMaxAll8, 0, 1, &RANGE);
        assert!(q.starts_with("SELECT date_trunc('hour', time) AS hour, max(usage_user)"));
        assert!(q.contains("max(usage_guest_nice) AS max_usage_guest_nice FROM cpu"));
        assert_eq!(
            sql(BenchQueryType::Lastpoint, 9, 1, &RANGE),
            "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC"
        );
        let q = sql(BenchQueryType::GroupbyOrderbyLimit, 0, 1, &RANGE);
        assert!(
            q.ends_with("GROUP BY minute ORDER BY minute DESC LIMIT 5"),
            "{q}"
        );
        assert_eq!(BenchQueryType::CpuMaxAll8.hosts_needed(), 8);
        assert_eq!(BenchQueryType::HighCpuAll.hosts_needed(), 0);
    }
}
