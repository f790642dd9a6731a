//! Command-line definition.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Strata: a time-series database. Ingests InfluxDB line protocol and Arc
/// MessagePack over HTTP and answers SQL.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server.
    ///
    /// Every option can also be set by its STRATA_* environment variable or in a
    /// TOML file given with --config (keys are the option names without dashes
    /// prefix, e.g. `data-dir = "/var/lib/strata"`). Precedence: command line,
    /// then environment, then file, then the default.
    Serve(ServeArgs),
    /// Run one SQL query against a server and print the result.
    Query(QueryArgs),
}

/// Options of `strata serve`. `None` means "not given here": the value then comes
/// from the config file or the default (see `config.rs`).
#[derive(Debug, Args, Default)]
pub(crate) struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "STRATA_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Directory for the catalog and data [default: ./strata-data].
    #[arg(long, env = "STRATA_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8181].
    #[arg(long, env = "STRATA_HTTP_BIND", value_name = "HOST:PORT")]
    pub(crate) http_bind: Option<String>,

    /// Largest request body after decompression, e.g. 64MiB [default: 64MiB].
    #[arg(long, env = "STRATA_MAX_BODY_SIZE", value_name = "SIZE")]
    pub(crate) max_body_size: Option<String>,

    /// Longest line-protocol line [default: 1MiB].
    #[arg(long, env = "STRATA_MAX_LINE_LENGTH", value_name = "SIZE")]
    pub(crate) max_line_length: Option<String>,

    /// Longest tag value [default: 64KiB].
    #[arg(long, env = "STRATA_MAX_TAG_VALUE_LENGTH", value_name = "SIZE")]
    pub(crate) max_tag_value_length: Option<String>,

    /// Most databases [default: 100].
    #[arg(long, env = "STRATA_MAX_DATABASES", value_name = "N")]
    pub(crate) max_databases: Option<usize>,

    /// Most tables per database [default: 2000].
    #[arg(long, env = "STRATA_MAX_TABLES_PER_DB", value_name = "N")]
    pub(crate) max_tables_per_db: Option<usize>,

    /// Most columns per table, counting `time` [default: 500].
    #[arg(long, env = "STRATA_MAX_COLUMNS_PER_TABLE", value_name = "N")]
    pub(crate) max_columns_per_table: Option<usize>,

    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `strata=debug`
    /// [default: info].
    #[arg(long, env = "STRATA_LOG", value_name = "FILTER")]
    pub(crate) log: Option<String>,
}

/// How `strata query` prints results.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    /// A readable table.
    Table,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header.
    Csv,
}

/// Options of `strata query`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// Database to query.
    #[arg(long, env = "STRATA_DB")]
    pub(crate) db: String,

    /// Server URL.
    #[arg(long, env = "STRATA_HOST", default_value = "http://127.0.0.1:8181")]
    pub(crate) host: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) format: OutputFormat,

    /// The SQL to run.
    pub(crate) sql: String,
}
