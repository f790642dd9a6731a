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
    Serve(Box<ServeArgs>),
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

    /// When a write is acknowledged: `always` (after its WAL record is fsynced),
    /// `interval:<ms>` (after it is written to the OS; fsync at least every <ms>) or
    /// `none` (never fsync; a crash of the machine, not only of the process, can
    /// lose acknowledged writes) [default: always].
    #[arg(long, env = "STRATA_WAL_SYNC", value_name = "MODE")]
    pub(crate) wal_sync: Option<String>,

    /// WAL segment size; a segment is deleted once all its rows are in Parquet
    /// [default: 64MiB].
    #[arg(long, env = "STRATA_WAL_SEGMENT_SIZE", value_name = "SIZE")]
    pub(crate) wal_segment_size: Option<String>,

    /// Start even if the WAL is corrupt before its tail, skipping the rest of each
    /// damaged segment. Loses the skipped writes; without it such a WAL stops
    /// startup with an error naming the segment and offset.
    #[arg(long, env = "STRATA_WAL_SKIP_CORRUPT")]
    pub(crate) wal_skip_corrupt: bool,

    /// Persist a table once it has this many unpersisted rows [default: 1000000].
    #[arg(long, env = "STRATA_PERSIST_ROWS", value_name = "N")]
    pub(crate) persist_rows: Option<u64>,

    /// Persist a table once its oldest unpersisted row is this old, e.g. 30s, 5m
    /// [default: 60s].
    #[arg(long, env = "STRATA_PERSIST_AGE", value_name = "DURATION")]
    pub(crate) persist_age: Option<String>,

    /// Buffered (unpersisted) data above which the oldest and largest tables are
    /// persisted early [default: 1GiB].
    #[arg(long, env = "STRATA_BUFFER_MEMORY_LIMIT", value_name = "SIZE")]
    pub(crate) buffer_memory_limit: Option<String>,

    /// Buffered data at which writes are refused with 503 and Retry-After until
    /// persistence catches up [default: twice --buffer-memory-limit].
    #[arg(long, env = "STRATA_BUFFER_HARD_LIMIT", value_name = "SIZE")]
    pub(crate) buffer_hard_limit: Option<String>,

    /// Width of the time partitions of Parquet files; no file spans two
    /// [default: 1h].
    #[arg(long, env = "STRATA_PARTITION_DURATION", value_name = "DURATION")]
    pub(crate) partition_duration: Option<String>,

    /// Do not persist to Parquet: rows stay in the WAL and memory until the hard
    /// limit. For measuring ingest alone; not for production.
    #[arg(long, env = "STRATA_NO_PERSIST")]
    pub(crate) no_persist: bool,

    /// Where Parquet files go: `local` (DATA_DIR/objects) or `s3` [default: local].
    #[arg(long, env = "STRATA_OBJECT_STORE", value_name = "KIND")]
    pub(crate) object_store: Option<String>,

    /// S3 bucket (with --object-store s3). Credentials come from the usual
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables.
    #[arg(long, env = "STRATA_S3_BUCKET", value_name = "BUCKET")]
    pub(crate) s3_bucket: Option<String>,

    /// Key prefix inside the bucket.
    #[arg(long, env = "STRATA_S3_PREFIX", value_name = "PREFIX")]
    pub(crate) s3_prefix: Option<String>,

    /// S3 region [default: from AWS_REGION, else us-east-1].
    #[arg(long, env = "STRATA_S3_REGION", value_name = "REGION")]
    pub(crate) s3_region: Option<String>,

    /// Endpoint of an S3-compatible server, e.g. http://127.0.0.1:9000 for MinIO.
    #[arg(long, env = "STRATA_S3_ENDPOINT", value_name = "URL")]
    pub(crate) s3_endpoint: Option<String>,

    /// Allow plain-HTTP endpoints.
    #[arg(long, env = "STRATA_S3_ALLOW_HTTP")]
    pub(crate) s3_allow_http: bool,

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
