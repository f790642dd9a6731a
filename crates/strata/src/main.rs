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
