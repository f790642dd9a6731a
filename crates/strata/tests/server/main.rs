//! End-to-end tests: each starts the real `strata` binary on a free port with its
//! own data directory and talks HTTP to it. One test binary on purpose: every
//! binary links DataFusion.

#![allow(clippy::unwrap_used)]

mod harness;

mod arc_query;
mod bench;
mod cli;
mod concurrency;
mod crash;
mod errors;
mod msgpack;
mod observability;
mod persist;
mod prom;
mod query;
mod write;
