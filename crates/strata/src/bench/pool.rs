//! The pool of pre-encoded request bodies of `strata bench write`.
//!
//! Choice: a pool of at most `--pool-size` bytes (bodies before gzip/zstd,
//! remote write bodies as sent, plus the offsets of their patch sites), encoded
//! (and compressed) on every core before the clock starts. A run that needs more
//! requests than the pool holds goes round it again; each lap is the pool's bytes
//! patched in place by `strata_bench::bodies::Sites` (timestamps moved on by the
//! pool's time span, new-series host numbers by its row count), so the data keeps
//! advancing and no `(series, time)` pair repeats. Lap 0 costs nothing (a
//! reference-counted `Bytes`); later laps cost one copy of the body plus a
//! fixed-width write per row, a small fraction of encoding. Compressed bodies
//! cannot be patched: later laps resend them unchanged and their rows are counted
//! as repeated. Remote write bodies are the exception: the encoder compresses
//! them itself, keeping their patch sites literal (`strata_bench::snappy`).

use bytes::Bytes;
use std::io::Write as _;
use strata_bench::bodies::{Encoder, Shift, Sites};

/// Content-Encoding of the bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn header(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    fn compress(self, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(raw.len() / 4),
                    flate2::Compression::default(),
                );
                enc.write_all(raw)?;
                enc.finish()
            }
            Self::Zstd => zstd::bulk::compress(raw, 3),
        }
    }
}

/// What to build.
#[derive(Debug)]
pub(crate) struct PoolSpec {
    pub(crate) encoder: Encoder,
    /// Rows per request.
    pub(crate) batch: usize,
    /// Rows of the whole run, when known (`--rows`).
    pub(crate) total_rows: Option<u64>,
    /// Uncompressed bytes the pool may hold.
    pub(crate) budget: usize,
    pub(crate) compression: Option<Compression>,
}

#[derive(Debug)]
struct Body {
    /// As sent (compressed if asked).
    wire: Bytes,
    /// Uncompressed length.
    raw_len: usize,
    rows: usize,
    /// Empty when compressed (nothing can be patched).
    sites: Sites,
}

/// One request's body.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) body: Bytes,
    pub(crate) rows: usize,
    pub(crate) raw_len: usize,
    /// The body's rows were sent before in this run (compressed pool, lap > 0).
    pub(crate) repeated: bool,
}

/// Encoded bodies for requests `0..` of a run.
#[derive(Debug)]
pub(crate) struct Pool {
    bodies: Vec<Body>,
    /// The shorter last request of a `--rows` run that is not a whole number of
    /// batches.
    tail: Option<Body>,
    /// Requests in the run, when known.
    total_requests: Option<u64>,
    lap_shift: Shift,
    compressed: bool,
}

impl Pool {
    /// Encodes the pool on every core.
    pub(crate) fn build(spec: PoolSpec) -> Result<Self, String> {
        let batch = spec.batch.max(1);
        let total_requests = spec.total_rows.map(|r| r.div_ceil(batch as u64));
        // The size of one body decides how many the budget holds.
        let first = spec.encoder.encode(0, batch);
        let per_body = (first.body.len() + first.sites.heap_bytes()).max(1);
        let mut count = (spec.budget / per_body).max(1) as u64;
        if let Some(t) = total_requests {
            count = count.min(t);
        }
        let count = usize::try_from(count).map_err(|_| "pool too large".to_owned())?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(count);
        let compression = spec.compression;
        let encoder = &spec.encoder;
        let finish = |t: strata_bench::bodies::Template| -> Result<Body, String> {
            let raw_len = t.raw_len;
            Ok(match compression {
                None => Body {
                    wire: Bytes::from(t.body),
                    raw_len,
                    rows: t.rows,
                    sites: t.sites,
                },
                Some(c) => Body {
                    wire: Bytes::from(
                        c.compress(&t.body)
                            .map_err(|e| format!("cannot compress a body: {e}"))?,
                    ),
                    raw_len,
                    rows: t.rows,
                    sites: Sites::default(),
                },
            })
        };
        let mut bodies: Vec<Body> = Vec::with_capacity(count);
        bodies.push(finish(first)?);
        let rest: Vec<usize> = (1..count).collect();
        let chunk = rest.len().div_ceil(threads.max(1)).max(1);
        let encoded: Vec<Result<Vec<Body>, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = rest
                .chunks(chunk)
                .map(|ids| {
                    s.spawn(move || {
                        ids.iter()
                            .map(|&i| finish(encoder.encode((i * batch) as u64, batch)))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("encoding thread panicked".into()))
                })
                .collect()
        });
        for part in encoded {
            bodies.extend(part?);
        }
        let tail = match (spec.total_rows, total_requests) {
            (Some(rows), Some(t)) if rows % batch as u64 != 0 => {
                // Request t-1 uses body (t-1) % count in its lap: encode that
                // body's first rows, so the lap patch applies unchanged.
                let idx = ((t - 1) % count as u64) as usize;
                let rem = (rows % batch as u64) as usize;
                Some(finish(encoder.encode((idx * batch) as u64, rem))?)
            }
            _ => None,
        };
        let pool_rows = (count * batch) as u64;
        Ok(Self {
            bodies,
            tail,
            total_requests,
            lap_shift: spec.encoder.workload().lap_shift(pool_rows),
            compressed: compression.is_some(),
        })
    }

    /// Bodies in the pool.
    pub(crate) fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Bytes held (as sent).
    pub(crate) fn wire_bytes(&self) -> usize {
        self.bodies.iter().map(|b| b.wire.len()).sum()
    }

    /// Requests in the run, when known.
    pub(crate) fn total_requests(&self) -> Option<u64> {
        self.total_requests
    }

    /// The body of request `k`.
    pub(crate) fn request(&self, k: u64) -> Request {
        let n = self.bodies.len() as u64;
        let lap = k / n;
        let body = match &self.tail {
            Some(tail) if self.total_requests == Some(k + 1) => tail,
            _ => &self.bodies[(k % n) as usize],
        };
        let shift = if lap == 0 || self.compressed {
            None
        } else {
            self.lap_shift.times(lap)
        };
        let wire = match shift {
            Some(shift) if !body.sites.is_empty() => {
                let mut copy = body.wire.to_vec();
                body.sites.patch(&mut copy, shift);
                Bytes::from(copy)
            }
            _ => body.wire.clone(),
        };
        Request {
            body: wire,
            rows: body.rows,
            raw_len: body.raw_len,
            repeated: lap > 0 && self.compressed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_bench::bodies::{Encoding, Workload};

    fn spec(total_rows: Option<u64>, budget: usize, compression: Option<Compression>) -> PoolSpec {
        PoolSpec {
            encoder: Encoder::new(Workload::TsbsCpu { hosts: 4 }, Encoding::LineProtocol, 1),
            batch: 10,
            total_rows,
            budget,
            compression,
        }
    }

    fn last_time(body: &[u8]) -> i64 {
        let text = std::str::from_utf8(body).unwrap();
        let line = text.lines().last().unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn laps_continue_time_and_the_tail_is_short() {
        // 25 rows: 3 requests (10, 10, 5); a budget of ~2 bodies makes a lap.
        let t = spec(None, 0, None).encoder.encode(0, 10);
        let one = t.body.len() + t.sites.heap_bytes();
        let pool = Pool::build(spec(Some(25), one * 2 + 1, None)).unwrap();
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.total_requests(), Some(3));
        let times: Vec<i64> = (0..3).map(|k| last_time(&pool.request(k).body)).collect();
        // Rows 0..20 span rounds 0..=4; lap 1 starts at round 5 (20 rows / 4 hosts).
        let start = strata_bench::tsbs::START_NS;
        let step = strata_bench::tsbs::INTERVAL_NS;
        assert_eq!(times[0], start + 2 * step);
        assert_eq!(times[1], start + 4 * step);
        let tail = pool.request(2);
        assert_eq!(tail.rows, 5);
        assert_eq!(std::str::from_utf8(&tail.body).unwrap().lines().count(), 5);
        assert_eq!(times[2], start + 5 * step + step);
        assert!(!tail.repeated);
    }

    #[test]
    fn compressed_laps_repeat() {
        let pool = Pool::build(spec(Some(30), 1, Some(Compression::Zstd))).unwrap();
        assert_eq!(pool.len(), 1);
        let a = pool.request(0);
        let b = pool.request(1);
        assert!(!a.repeated && b.repeated);
        assert_eq!(a.body, b.body);
        let raw = zstd::bulk::decompress(&a.body, a.raw_len).unwrap();
        assert_eq!(raw.len(), a.raw_len);
    }
}
