//! Workload generators shared by the criterion benches and the `strata bench`
//! load generator: deterministic data, encoded ahead of time so that generating
//! it never costs measured time.
//!
//! - [`tsbs`]: the TSBS cpu-only data set as rows, line protocol, MessagePack and
//!   `WriteBatch` (component benches).
//! - [`bodies`]: request bodies for `strata bench write`, encoded once and patched
//!   per lap so a long run never repeats a `(series, time)` pair.
//! - [`snappy`]: the compressor of remote write bodies, which keeps the bytes a
//!   lap patches in place.

pub mod bodies;
pub mod snappy;
pub mod tsbs;
