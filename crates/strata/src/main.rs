//! The `strata` binary: command line, configuration and wiring of the crates.
//! Nothing here implements database behaviour; it composes the pieces.

mod bench;
mod cli;
mod config;
mod query_cmd;
mod serve;
mod size;

use clap::Parser;
use std::process::ExitCode;

/// glibc's allocator spent about a sixth of a point query's CPU in
/// `malloc`/`free` (zstd contexts, per-query plans); mimalloc's thread-local
/// free lists serve the same requests far cheaper (docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(*args),
        cli::Command::Query(args) => query_cmd::run(args),
        cli::Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
