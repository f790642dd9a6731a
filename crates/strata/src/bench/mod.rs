//! `strata bench`: load generators that measure a running server, Strata or a
//! peer, with the same data and the same client.
//!
//! - `write` ([`write`]): end-to-end ingest (rows/s, MB/s, latency percentiles,
//!   errors), then a row count check against Strata. Bodies come pre-encoded
//!   from [`pool`] (data from `strata_bench::bodies`); endpoints per server in
//!   [`target`]; counting and the summary in [`report`]; the live display in
//!   [`progress`].

mod pool;
mod progress;
mod report;
mod target;
mod write;

use crate::cli::{BenchArgs, BenchCommand};
use std::error::Error;

pub(crate) fn run(args: BenchArgs) -> Result<(), Box<dyn Error>> {
    match args.command {
        BenchCommand::Write(args) => write::run(*args),
    }
}
