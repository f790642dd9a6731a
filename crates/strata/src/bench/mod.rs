//! `strata bench`: load generators that measure a running server, Strata or a
//! peer, with the same data and the same client.
//!
//! - `write` ([`write`]): end-to-end ingest (rows/s, MB/s, latency percentiles,
//!   errors), then a row count check against Strata. Bodies come pre-encoded
//!   from [`pool`] (data from `strata_bench::bodies`); endpoints per server in
//!   [`target`]; counting and the summary in [`report`]; the live display in
//!   [`progress`].
//! - `query` ([`query`]): the TSBS devops query set against Strata, one query
//!   type after another (count, errors, queries/s, latency percentiles, rows per
//!   query). The queries come from [`queries`]; counting reuses [`report`]'s
//!   tally, the display [`progress`], the endpoints [`target`].

mod pool;
mod progress;
mod queries;
mod query;
mod report;
mod target;
mod write;

use crate::cli::{BenchArgs, BenchCommand};
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) fn run(args: BenchArgs) -> Result<(), Box<dyn Error>> {
    match args.command {
        BenchCommand::Write(args) => write::run(*args),
        BenchCommand::Query(args) => query::run(*args),
    }
}

/// A multi-threaded runtime with a worker per connection, at most one per core.
fn runtime(conns: u32) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(conns as usize)
        .max(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
}

/// The flag that ends a run early, set by Ctrl-C. Must be made inside the
/// runtime; stops listening when dropped.
#[derive(Debug)]
struct Stop {
    /// Set by Ctrl-C; connections check it before each request.
    flag: Arc<AtomicBool>,
    interrupted: Arc<AtomicBool>,
    listener: tokio::task::JoinHandle<()>,
}

impl Stop {
    fn on_ctrl_c() -> Self {
        let flag = Arc::new(AtomicBool::new(false));
        let interrupted = Arc::new(AtomicBool::new(false));
        let listener = {
            let (flag, interrupted) = (Arc::clone(&flag), Arc::clone(&interrupted));
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    interrupted.store(true, Ordering::Relaxed);
                    flag.store(true, Ordering::Relaxed);
                }
            })
        };
        Self {
            flag,
            interrupted,
            listener,
        }
    }

    /// Ctrl-C was pressed.
    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// User plus system CPU time of this process, from /proc/self/stat (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // USER_HZ is 100 on every Linux platform Rust targets.
    Some((utime + stime) as f64 / 100.0)
}
