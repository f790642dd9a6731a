//! Request bodies for the `strata bench write` load generator: encoded once,
//! before the clock starts, with the byte offset of every value that changes from
//! one pass ("lap") over a pool of bodies to the next.
//!
//! A run sends requests `0, 1, 2, ...`; request `k` carries rows
//! `k * batch .. (k + 1) * batch` of the workload. The generator encodes a pool of
//! the first `P` requests. Request `k` reuses body `k % P` in lap `k / P`; lap `L`
//! is the pool's bytes with every timestamp moved on by `L *` [`Workload::lap_shift`]
//! (and, in [`Workload::NewSeries`], every host number too), written in place at
//! the recorded [`Sites`]. Patching is a copy plus a fixed-width write per row,
//! far cheaper than encoding, and it keeps every `(series, time)` pair of the run
//! distinct.
//!
//! Invariants the patching relies on:
//! - line-protocol timestamps are nanoseconds written as exactly 19 digits (true
//!   for every time from 2001-09-09 to 2286);
//! - MessagePack timestamps are always int64 (`0xd3` + 8 bytes big-endian), never
//!   the shortest form;
//! - Prometheus remote write timestamps are milliseconds written as exactly
//!   [`PROM_TIME_BYTES`]-byte varints (the shortest form for every time from 1971
//!   to 2109; protobuf decoders accept it for any value), and the body is
//!   snappy-compressed by [`crate::snappy`], which keeps every patch site a
//!   literal;
//! - new-series host names are `host_` plus exactly [`HOST_DIGITS`] digits.

use crate::snappy::write_varint;
use crate::tsbs::{FIELD_KEYS, INTERVAL_NS, MEASUREMENT, Rng, START_NS, TAG_KEYS, host_tags};
use std::fmt::Write as _;

/// Digits of a new-series host number (fixed width, so it can be patched).
pub const HOST_DIGITS: usize = 10;
/// Bytes of a Prometheus remote write timestamp varint (fixed, so it can be
/// patched).
pub const PROM_TIME_BYTES: usize = 6;
const NS_PER_MS: i64 = 1_000_000;
/// Time step between two rows of the new-series workload (10 ms).
pub const NEW_SERIES_STEP_NS: i64 = 10_000_000;
const TIME_DIGITS: usize = 19;

/// What the rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// TSBS cpu-only over `hosts` hosts: row `r` is host `r % hosts` at
    /// `START_NS + (r / hosts) * 10 s`. Host names are TSBS's `host_<n>`.
    TsbsCpu {
        /// Number of hosts (series); at least 1.
        hosts: usize,
    },
    /// Every row is a host never written before: row `r` is host `r`, named
    /// `host_` plus 10 digits, at `START_NS + r * 10 ms`. Its other nine tags are
    /// those TSBS gives host `r`.
    NewSeries,
}

/// How the rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// InfluxDB line protocol, nanosecond timestamps, integer fields (`42i`).
    LineProtocol,
    /// One Arc MessagePack columnar object (`{"m", "columns"}`) per body.
    MsgpackColumnar,
    /// Prometheus remote write 1.0: a snappy-compressed protobuf
    /// `WriteRequest`. A row is 10 series, one per field, named
    /// `cpu_<field>` (e.g. `cpu_usage_user`), with the row's 10 tags as labels
    /// and one float sample at the row's time in milliseconds.
    PromRemoteWrite,
}

impl Encoding {
    /// The tables (measurements, metric names) the rows of this encoding land
    /// in; every row adds one row to each.
    pub fn tables(self) -> Vec<String> {
        match self {
            Self::LineProtocol | Self::MsgpackColumnar => vec![MEASUREMENT.to_owned()],
            Self::PromRemoteWrite => FIELD_KEYS
                .iter()
                .map(|f| format!("{MEASUREMENT}_{f}"))
                .collect(),
        }
    }
}

/// How far a lap moves the data on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shift {
    /// Added to every timestamp.
    pub time_ns: i64,
    /// Added to every new-series host number.
    pub hosts: u64,
}

impl Shift {
    /// This shift `n` times over (`None` on overflow).
    pub fn times(self, n: u64) -> Option<Self> {
        Some(Self {
            time_ns: self.time_ns.checked_mul(i64::try_from(n).ok()?)?,
            hosts: self.hosts.checked_mul(n)?,
        })
    }
}

impl Workload {
    /// The shift between two laps of a pool of `pool_rows` rows: later laps
    /// continue the data instead of repeating it.
    pub fn lap_shift(self, pool_rows: u64) -> Shift {
        match self {
            Self::TsbsCpu { hosts } => Shift {
                // Rounds the pool spans, rounded up: lap L starts after lap L-1's
                // last round, so no (host, time) pair is written twice.
                time_ns: (pool_rows.div_ceil(hosts.max(1) as u64) as i64)
                    .saturating_mul(INTERVAL_NS),
                hosts: 0,
            },
            Self::NewSeries => Shift {
                time_ns: (pool_rows as i64).saturating_mul(NEW_SERIES_STEP_NS),
                hosts: pool_rows,
            },
        }
    }
}

/// The bytes to rewrite in a body for a later lap.
#[derive(Debug, Clone, Default)]
pub struct Sites {
    encoding: Option<Encoding>,
    /// Offset of each timestamp and its lap-0 value.
    times: Vec<(u32, i64)>,
    /// Offset of each new-series host number and its lap-0 value.
    hosts: Vec<(u32, u64)>,
}

impl Sites {
    /// Rewrites `body` (a copy of the lap-0 body these sites were recorded for)
    /// as moved on by `shift`. Timestamps past year 2286 (more than 19 digits;
    /// remote write: past 2109, more than 42 bits) and host numbers past 10
    /// digits wrap; a run never gets there.
    pub fn patch(&self, body: &mut [u8], shift: Shift) {
        // Every lap shift is whole milliseconds.
        let shift_ms = shift.time_ns / NS_PER_MS;
        for &(at, t) in &self.times {
            let at = at as usize;
            match self.encoding {
                Some(Encoding::LineProtocol) => write_digits(
                    &mut body[at..at + TIME_DIGITS],
                    t.wrapping_add(shift.time_ns) as u64,
                ),
                Some(Encoding::MsgpackColumnar) => {
                    body[at..at + 8].copy_from_slice(&t.wrapping_add(shift.time_ns).to_be_bytes())
                }
                // Recorded in milliseconds.
                Some(Encoding::PromRemoteWrite) => write_varint_fixed(
                    &mut body[at..at + PROM_TIME_BYTES],
                    t.wrapping_add(shift_ms) as u64,
                ),
                None => {}
            }
        }
        for &(at, h) in &self.hosts {
            let at = at as usize;
            write_digits(&mut body[at..at + HOST_DIGITS], h.wrapping_add(shift.hosts));
        }
    }

    /// Memory the sites take.
    pub fn heap_bytes(&self) -> usize {
        (self.times.len() + self.hosts.len()) * 16
    }

    /// Whether a lap changes anything (an empty body has nothing to patch).
    pub fn is_empty(&self) -> bool {
        self.times.is_empty() && self.hosts.is_empty()
    }
}

/// Writes `v` into `out` as exactly `out.len()` decimal digits (leading zeros;
/// higher digits are dropped).
fn write_digits(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Writes `v` into `out` as a varint of exactly `out.len()` bytes (higher bits
/// are dropped).
fn write_varint_fixed(out: &mut [u8], mut v: u64) {
    let last = out.len() - 1;
    for (k, b) in out.iter_mut().enumerate() {
        *b = (v & 0x7f) as u8 | if k < last { 0x80 } else { 0 };
        v >>= 7;
    }
}

/// One encoded body and where to patch it.
#[derive(Debug, Clone)]
pub struct Template {
    /// The lap-0 bytes, as sent (snappy-compressed for remote write).
    pub body: Vec<u8>,
    /// Length of the body before any compression.
    pub raw_len: usize,
    /// Rows in the body.
    pub rows: usize,
    /// What changes from lap to lap.
    pub sites: Sites,
}

/// Encodes bodies of one workload; holds the tag values of the TSBS hosts so
/// that they are computed once per run, not once per body.
#[derive(Debug, Clone)]
pub struct Encoder {
    workload: Workload,
    encoding: Encoding,
    seed: u64,
    /// Tags of hosts `0..hosts` ([`Workload::TsbsCpu`] only).
    host_tags: Vec<[String; 10]>,
}

impl Encoder {
    /// An encoder; field values are deterministic in `seed`.
    pub fn new(workload: Workload, encoding: Encoding, seed: u64) -> Self {
        let host_tags = match workload {
            Workload::TsbsCpu { hosts } => (0..hosts.max(1)).map(host_tags).collect(),
            Workload::NewSeries => Vec::new(),
        };
        Self {
            workload,
            encoding,
            seed,
            host_tags,
        }
    }

    /// The workload.
    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// Rows `first_row .. first_row + rows`, encoded. Field values depend on
    /// the seed and `first_row` only.
    pub fn encode(&self, first_row: u64, rows: usize) -> Template {
        let src = RowSource::new(self, first_row, rows);
        let (body, times, hosts) = match self.encoding {
            Encoding::LineProtocol => line_protocol(&src),
            Encoding::MsgpackColumnar => msgpack_columnar(&src),
            Encoding::PromRemoteWrite => prom_remote_write(&src),
        };
        let raw_len = body.len();
        let (body, times, hosts) = match self.encoding {
            Encoding::PromRemoteWrite => snappy_keeping_sites(&body, times, hosts),
            _ => (body, times, hosts),
        };
        Template {
            body,
            raw_len,
            rows,
            sites: Sites {
                encoding: Some(self.encoding),
                times,
                hosts,
            },
        }
    }
}

/// The rows of one body.
struct RowSource<'a> {
    new_series: bool,
    /// Host number per row.
    hosts: Vec<u64>,
    times: Vec<i64>,
    /// TSBS: the encoder's per-host tags (indexed by host). New series: the
    /// body's own, one per row.
    tags: std::borrow::Cow<'a, [[String; 10]]>,
    fields: Vec<[i64; 10]>,
}

impl<'a> RowSource<'a> {
    fn new(enc: &'a Encoder, first_row: u64, rows: usize) -> Self {
        let mut rng = Rng::new(enc.seed ^ first_row.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let fields = (0..rows)
            .map(|_| {
                let mut f = [0i64; 10];
                for v in &mut f {
                    *v = rng.below(101) as i64;
                }
                f
            })
            .collect();
        let ids = first_row..first_row + rows as u64;
        match enc.workload {
            Workload::TsbsCpu { hosts } => {
                let n = hosts.max(1) as u64;
                Self {
                    new_series: false,
                    hosts: ids.clone().map(|r| r % n).collect(),
                    times: ids
                        .map(|r| START_NS + (r / n) as i64 * INTERVAL_NS)
                        .collect(),
                    tags: std::borrow::Cow::Borrowed(&enc.host_tags),
                    fields,
                }
            }
            Workload::NewSeries => Self {
                new_series: true,
                hosts: ids.clone().collect(),
                times: ids
                    .clone()
                    .map(|r| START_NS + r as i64 * NEW_SERIES_STEP_NS)
                    .collect(),
                tags: std::borrow::Cow::Owned(ids.map(|r| host_tags(r as usize)).collect()),
                fields,
            },
        }
    }

    fn len(&self) -> usize {
        self.times.len()
    }

    /// Tag values of row `i`.
    fn tags(&self, i: usize) -> &[String; 10] {
        if self.new_series {
            &self.tags[i]
        } else {
            &self.tags[self.hosts[i] as usize]
        }
    }
}

type Encoded = (Vec<u8>, Vec<(u32, i64)>, Vec<(u32, u64)>);

fn line_protocol(src: &RowSource) -> Encoded {
    let mut out = String::with_capacity(src.len() * 260);
    let mut times = Vec::with_capacity(src.len());
    let mut hosts = Vec::new();
    for i in 0..src.len() {
        out.push_str(MEASUREMENT);
        let tags = src.tags(i);
        for (k, (key, value)) in TAG_KEYS.iter().zip(tags).enumerate() {
            if k == 0 && src.new_series {
                out.push_str(",hostname=host_");
                hosts.push((out.len() as u32, src.hosts[i]));
                let _ = write!(out, "{:0width$}", src.hosts[i], width = HOST_DIGITS);
            } else {
                let _ = write!(out, ",{key}={value}");
            }
        }
        for (n, (k, v)) in FIELD_KEYS.iter().zip(&src.fields[i]).enumerate() {
            let sep = if n == 0 { ' ' } else { ',' };
            let _ = write!(out, "{sep}{k}={v}i");
        }
        out.push(' ');
        times.push((out.len() as u32, src.times[i]));
        let _ = writeln!(out, "{:0width$}", src.times[i], width = TIME_DIGITS);
    }
    (out.into_bytes(), times, hosts)
}

fn msgpack_columnar(src: &RowSource) -> Encoded {
    let n = src.len() as u32;
    let mut b = Vec::with_capacity(src.len() * 120);
    let mut times = Vec::with_capacity(src.len());
    let mut hosts = Vec::new();
    // Writes into a Vec cannot fail.
    let _ = rmp::encode::write_map_len(&mut b, 2);
    let _ = rmp::encode::write_str(&mut b, "m");
    let _ = rmp::encode::write_str(&mut b, MEASUREMENT);
    let _ = rmp::encode::write_str(&mut b, "columns");
    let _ = rmp::encode::write_map_len(&mut b, 21);
    let _ = rmp::encode::write_str(&mut b, "time");
    let _ = rmp::encode::write_array_len(&mut b, n);
    for &t in &src.times {
        // Always the 9-byte int64 form, so a lap can rewrite it in place.
        let _ = rmp::encode::write_i64(&mut b, t);
        times.push(((b.len() - 8) as u32, t));
    }
    let mut name = String::with_capacity(5 + HOST_DIGITS);
    for (k, key) in TAG_KEYS.iter().enumerate() {
        let _ = rmp::encode::write_str(&mut b, key);
        let _ = rmp::encode::write_array_len(&mut b, n);
        for i in 0..src.len() {
            if k == 0 && src.new_series {
                name.clear();
                let _ = write!(name, "host_{:0width$}", src.hosts[i], width = HOST_DIGITS);
                let _ = rmp::encode::write_str(&mut b, &name);
                hosts.push(((b.len() - HOST_DIGITS) as u32, src.hosts[i]));
            } else {
                let _ = rmp::encode::write_str(&mut b, &src.tags(i)[k]);
            }
        }
    }
    for (k, key) in FIELD_KEYS.iter().enumerate() {
        let _ = rmp::encode::write_str(&mut b, key);
        let _ = rmp::encode::write_array_len(&mut b, n);
        for f in &src.fields {
            let _ = rmp::encode::write_sint(&mut b, f[k]);
        }
    }
    (b, times, hosts)
}

/// A length-delimited field `tag` holding `parts` back to back; returns where
/// the last part starts in `out`.
fn delimited(out: &mut Vec<u8>, tag: u8, parts: &[&[u8]]) -> usize {
    out.push(tag);
    write_varint(out, parts.iter().map(|p| p.len()).sum::<usize>() as u64);
    let mut last = out.len();
    for p in parts {
        last = out.len();
        out.extend_from_slice(p);
    }
    last
}

/// A `prometheus.Label`: field 1 of a `TimeSeries`, holding name (1) and value
/// (2). Returns where the value starts in `out`.
fn label(out: &mut Vec<u8>, name: &str, value: &[&[u8]]) -> usize {
    let value_len: usize = value.iter().map(|p| p.len()).sum();
    let mut len = 2 + name.len() + value_len;
    len += varint_len(name.len()) + varint_len(value_len);
    out.push(0x0a);
    write_varint(out, len as u64);
    delimited(out, 0x0a, &[name.as_bytes()]);
    let start = out.len() + 1 + varint_len(value_len);
    delimited(out, 0x12, value);
    start
}

fn varint_len(v: usize) -> usize {
    (usize::BITS - (v | 1).leading_zeros()).div_ceil(7) as usize
}

/// The rows as a `prometheus.WriteRequest`, not yet compressed: per row, one
/// `TimeSeries` per field. Lap-0 times are recorded in milliseconds.
fn prom_remote_write(src: &RowSource) -> Encoded {
    // Prometheus sends labels sorted by name; `__name__` sorts first.
    let mut order: [usize; 10] = std::array::from_fn(|k| k);
    order.sort_by_key(|&k| TAG_KEYS[k]);
    let names = Encoding::PromRemoteWrite.tables();
    let mut out = Vec::with_capacity(src.len() * FIELD_KEYS.len() * 260);
    let mut times = Vec::with_capacity(src.len() * FIELD_KEYS.len());
    let mut hosts = Vec::new();
    let mut series = Vec::with_capacity(512);
    let mut host = String::with_capacity(5 + HOST_DIGITS);
    for i in 0..src.len() {
        let tags = src.tags(i);
        let ms = src.times[i] / NS_PER_MS;
        if src.new_series {
            host.clear();
            let _ = write!(host, "host_{:0width$}", src.hosts[i], width = HOST_DIGITS);
        }
        for (name, value) in names.iter().zip(src.fields[i]) {
            series.clear();
            label(&mut series, "__name__", &[name.as_bytes()]);
            let mut host_at = None;
            for &k in &order {
                if k == 0 && src.new_series {
                    let at = label(&mut series, TAG_KEYS[k], &[host.as_bytes()]);
                    host_at = Some(at + 5);
                } else {
                    label(&mut series, TAG_KEYS[k], &[tags[k].as_bytes()]);
                }
            }
            // Sample: value (1, double), timestamp (2, varint of fixed width).
            let mut time = [0u8; PROM_TIME_BYTES];
            write_varint_fixed(&mut time, ms as u64);
            let bits = (value as f64).to_le_bytes();
            let time_at = delimited(&mut series, 0x12, &[&[0x09], &bits, &[0x10], &time]);
            let base = delimited(&mut out, 0x0a, &[&series]);
            if let Some(at) = host_at {
                hosts.push(((base + at) as u32, src.hosts[i]));
            }
            times.push(((base + time_at) as u32, ms));
        }
    }
    (out, times, hosts)
}

/// Snappy-compresses a remote write body, keeping its patch sites as literals,
/// and moves the sites to their offsets in the compressed bytes.
fn snappy_keeping_sites(raw: &[u8], times: Vec<(u32, i64)>, hosts: Vec<(u32, u64)>) -> Encoded {
    // Both lists are in body order; merge them into one sorted list.
    let mut sites: Vec<(usize, usize, bool)> = times
        .iter()
        .map(|&(at, _)| (at as usize, PROM_TIME_BYTES, true))
        .chain(
            hosts
                .iter()
                .map(|&(at, _)| (at as usize, HOST_DIGITS, false)),
        )
        .collect();
    sites.sort_unstable();
    let ranges: Vec<(usize, usize)> = sites.iter().map(|&(at, len, _)| (at, len)).collect();
    let (body, moved) = crate::snappy::compress(raw, &ranges);
    let (mut t, mut h) = (times.into_iter(), hosts.into_iter());
    let (mut times, mut hosts) = (Vec::with_capacity(t.len()), Vec::with_capacity(h.len()));
    for (&(_, _, is_time), &to) in sites.iter().zip(&moved) {
        if is_time {
            times.extend(t.next().map(|(_, v)| (to as u32, v)));
        } else {
            hosts.extend(h.next().map(|(_, v)| (to as u32, v)));
        }
    }
    (body, times, hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(w: Workload, e: Encoding, first: u64, rows: usize, seed: u64) -> Template {
        Encoder::new(w, e, seed).encode(first, rows)
    }

    fn lp(t: &Template, shift: Shift) -> String {
        let mut body = t.body.clone();
        t.sites.patch(&mut body, shift);
        String::from_utf8(body).unwrap()
    }

    #[test]
    fn tsbs_rows_follow_the_round_robin_and_laps_move_time_on() {
        let w = Workload::TsbsCpu { hosts: 3 };
        let t = encode(w, Encoding::LineProtocol, 0, 7, 1);
        assert_eq!(t.rows, 7);
        let text = lp(&t, Shift::default());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7);
        assert!(
            lines[0].starts_with("cpu,hostname=host_0,region="),
            "{text}"
        );
        assert!(lines[4].starts_with("cpu,hostname=host_1,"), "{text}");
        assert!(lines[4].ends_with(&format!(" {}", START_NS + INTERVAL_NS)));
        assert!(lines[0].contains(" usage_user="), "{text}");
        // A pool of 7 rows over 3 hosts spans 3 rounds.
        let shift = w.lap_shift(7);
        assert_eq!(shift.time_ns, 3 * INTERVAL_NS);
        let moved = lp(&t, shift.times(2).unwrap());
        let last = moved.lines().last().unwrap();
        assert!(
            last.ends_with(&format!(" {}", START_NS + 8 * INTERVAL_NS)),
            "{last}"
        );
        // Deterministic, and the tags are TSBS's.
        assert_eq!(encode(w, Encoding::LineProtocol, 0, 7, 1).body, t.body);
        assert!(lines[2].contains(&format!(",region={},", host_tags(2)[1])));
    }

    #[test]
    fn new_series_laps_rename_hosts() {
        let w = Workload::NewSeries;
        let t = encode(w, Encoding::LineProtocol, 5, 2, 1);
        let text = lp(&t, Shift::default());
        assert!(text.starts_with("cpu,hostname=host_0000000005,"), "{text}");
        let moved = lp(&t, w.lap_shift(100));
        assert!(
            moved.starts_with("cpu,hostname=host_0000000105,"),
            "{moved}"
        );
        let second = moved.lines().nth(1).unwrap();
        assert!(second.starts_with("cpu,hostname=host_0000000106,"));
        assert!(second.ends_with(&format!(" {}", START_NS + 106 * NEW_SERIES_STEP_NS)));
    }

    /// Column name -> values (as raw MessagePack scalars) of a columnar body.
    fn columns(mut rd: &[u8]) -> Vec<(String, Vec<String>)> {
        use rmp::decode::{read_array_len, read_int, read_map_len, read_str_len};
        fn str(rd: &mut &[u8]) -> String {
            let n = read_str_len(rd).unwrap() as usize;
            let (s, rest) = rd.split_at(n);
            *rd = rest;
            String::from_utf8(s.to_vec()).unwrap()
        }
        assert_eq!(read_map_len(&mut rd).unwrap(), 2);
        assert_eq!(str(&mut rd), "m");
        assert_eq!(str(&mut rd), "cpu");
        assert_eq!(str(&mut rd), "columns");
        let n = read_map_len(&mut rd).unwrap();
        (0..n)
            .map(|c| {
                let name = str(&mut rd);
                let len = read_array_len(&mut rd).unwrap();
                let values = (0..len)
                    .map(|_| {
                        if (1..=10).contains(&c) {
                            str(&mut rd)
                        } else {
                            read_int::<i64, _>(&mut rd).unwrap().to_string()
                        }
                    })
                    .collect();
                (name, values)
            })
            .collect()
    }

    #[test]
    fn msgpack_patches_times_and_hosts() {
        let w = Workload::NewSeries;
        let t = encode(w, Encoding::MsgpackColumnar, 0, 3, 1);
        let mut body = t.body.clone();
        t.sites.patch(&mut body, w.lap_shift(10));
        let cols = columns(&body);
        assert_eq!(cols.len(), 21);
        assert_eq!(cols[0].0, "time");
        assert_eq!(
            cols[0].1[2],
            (START_NS + 12 * NEW_SERIES_STEP_NS).to_string()
        );
        assert_eq!(
            cols[1],
            (
                "hostname".into(),
                vec![
                    "host_0000000010".into(),
                    "host_0000000011".into(),
                    "host_0000000012".into()
                ]
            )
        );
        assert_eq!(cols[20].0, "usage_guest_nice");
        // Lap 0 is the body as encoded.
        let mut same = t.body.clone();
        t.sites.patch(&mut same, Shift::default());
        assert_eq!(same, t.body);
        // TSBS: the time column moves by whole rounds.
        let w = Workload::TsbsCpu { hosts: 2 };
        let t = encode(w, Encoding::MsgpackColumnar, 0, 4, 1);
        let mut body = t.body.clone();
        t.sites.patch(&mut body, w.lap_shift(4));
        assert_eq!(
            columns(&body)[0].1[3],
            (START_NS + 3 * INTERVAL_NS).to_string()
        );
        assert_eq!(columns(&body)[1].1[3], "host_1");
    }

    /// A remote write body, decompressed and decoded by `prost`.
    fn prom(t: &Template, shift: Shift) -> strata_ingest::prom::WriteRequest {
        use prost::Message as _;
        let mut body = t.body.clone();
        t.sites.patch(&mut body, shift);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(raw.len(), t.raw_len);
        strata_ingest::prom::WriteRequest::decode(raw.as_slice()).unwrap()
    }

    #[test]
    fn remote_write_says_what_line_protocol_says() {
        let w = Workload::TsbsCpu { hosts: 3 };
        let t = encode(w, Encoding::PromRemoteWrite, 4, 5, 7);
        let text = lp(
            &encode(w, Encoding::LineProtocol, 4, 5, 7),
            Shift::default(),
        );
        let req = prom(&t, Shift::default());
        assert_eq!(req.timeseries.len(), 50);
        assert!(
            t.body.len() < t.raw_len,
            "{} of {}",
            t.body.len(),
            t.raw_len
        );
        for (line, series) in text.lines().zip(req.timeseries.chunks(10)) {
            let (key, rest) = line.split_once(' ').unwrap();
            let (fields, time) = rest.split_once(' ').unwrap();
            let ms: i64 = time.parse::<i64>().unwrap() / 1_000_000;
            let mut tags: Vec<String> = key.split(',').skip(1).map(str::to_owned).collect();
            tags.sort();
            for (field, s) in fields.split(',').zip(series) {
                let (name, value) = field.split_once('=').unwrap();
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                assert_eq!(labels[0], format!("__name__=cpu_{name}"));
                assert_eq!(labels[1..], tags[..], "{line}");
                assert_eq!(s.samples.len(), 1);
                assert_eq!(s.samples[0].timestamp, ms);
                let v: f64 = value.trim_end_matches('i').parse().unwrap();
                assert_eq!(s.samples[0].value, v);
            }
        }
        // A lap moves every sample on by the pool's span.
        let moved = prom(&t, w.lap_shift(6).times(3).unwrap());
        let step = 3 * 2 * INTERVAL_NS / 1_000_000;
        for (a, b) in req.timeseries.iter().zip(&moved.timeseries) {
            assert_eq!(a.labels, b.labels);
            assert_eq!(b.samples[0].timestamp, a.samples[0].timestamp + step);
        }
        assert_eq!(
            Encoding::PromRemoteWrite.tables()[9],
            "cpu_usage_guest_nice"
        );
    }

    #[test]
    fn remote_write_laps_rename_new_series() {
        let w = Workload::NewSeries;
        let t = encode(w, Encoding::PromRemoteWrite, 2, 2, 1);
        let req = prom(&t, w.lap_shift(1000));
        let host = |s: &strata_ingest::prom::TimeSeries| {
            s.labels
                .iter()
                .find(|l| l.name == "hostname")
                .map(|l| l.value.clone())
                .unwrap()
        };
        assert_eq!(host(&req.timeseries[0]), "host_0000001002");
        assert_eq!(host(&req.timeseries[19]), "host_0000001003");
        assert_eq!(
            req.timeseries[19].samples[0].timestamp,
            (START_NS + 1003 * NEW_SERIES_STEP_NS) / 1_000_000
        );
    }
}
