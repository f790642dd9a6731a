//! Command-line definition.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Load generators: measure a running server (Strata or a peer).
    Bench(BenchArgs),
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

    /// WAL segment size; a segment is deleted once all its rows are in Parquet,
    /// except one kept as `wal/<id>.spare` and reused as the next segment
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

    /// Persist a table once it buffers this much data, e.g. 256MiB [default: 256MiB].
    #[arg(long, env = "STRATA_PERSIST_BYTES", value_name = "SIZE")]
    pub(crate) persist_bytes: Option<String>,

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

    /// Page compression of new Parquet files: `lz4` (LZ4_RAW: cheapest to read;
    /// needs a reader from 2023 on, e.g. Spark 3.5+, pyarrow, DuckDB) or
    /// `zstd` / `zstd:LEVEL` (1-22; about 8% smaller files, read by older
    /// readers too) [default: lz4].
    #[arg(long, env = "STRATA_PARQUET_COMPRESSION", value_name = "CODEC")]
    pub(crate) parquet_compression: Option<String>,

    /// Rows per data page of new Parquet files: a power of two from 256 to
    /// 65536. The page index prunes to pages, so a read of one series decodes
    /// whole pages: smaller pages make such reads cheaper, larger ones make full
    /// scans cheaper [default: 8192].
    #[arg(long, env = "STRATA_PARQUET_PAGE_ROWS", value_name = "ROWS")]
    pub(crate) parquet_page_rows: Option<usize>,

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

    /// Memory one query may use for sorts, joins and aggregations; beyond it
    /// they spill to disk where DataFusion can, else the query fails naming this
    /// limit [default: 1GiB].
    #[arg(long, env = "STRATA_QUERY_MEMORY_LIMIT", value_name = "SIZE")]
    pub(crate) query_memory_limit: Option<String>,

    /// Longest a query may run, planning to last row, e.g. 30s [default: 300s].
    #[arg(long, env = "STRATA_QUERY_TIMEOUT", value_name = "DURATION")]
    pub(crate) query_timeout: Option<String>,

    /// Most rows a query result may have [default: 10000000].
    #[arg(long, env = "STRATA_QUERY_MAX_ROWS", value_name = "N")]
    pub(crate) query_max_rows: Option<u64>,

    /// Memory for cached Parquet footers and page indexes, shared by all
    /// queries; 0 disables it [default: 64MiB].
    #[arg(long, env = "STRATA_QUERY_METADATA_CACHE", value_name = "SIZE")]
    pub(crate) query_metadata_cache: Option<String>,

    /// Memory for recently read Parquet byte ranges (column chunks and pages),
    /// shared by all queries; repeated queries then skip the disk or object
    /// store; 0 disables it [default: 256MiB].
    #[arg(long, env = "STRATA_QUERY_CHUNK_CACHE", value_name = "SIZE")]
    pub(crate) query_chunk_cache: Option<String>,

    /// Memory for Parquet pages decoded by reads of one series (point reads),
    /// kept for the next read of the same pages; 0 disables it
    /// [default: 256MiB].
    #[arg(long, env = "STRATA_QUERY_PAGE_CACHE", value_name = "SIZE")]
    pub(crate) query_page_cache: Option<String>,

    /// Send every SELECT through DataFusion's planner, including lookups of
    /// one series (`WHERE tag = '..' AND time ..`) that are otherwise read
    /// straight from the pages that hold them. For comparing the two paths.
    #[arg(long, env = "STRATA_NO_POINT_READS")]
    pub(crate) no_point_reads: bool,

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
    /// The server's plain-text table (DataFusion's layout).
    Pretty,
    /// Parquet bytes (redirect stdout to a file).
    Parquet,
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

    /// Read the SQL from this file (`-` for standard input) instead of the
    /// command line.
    #[arg(long, value_name = "FILE", conflicts_with = "sql")]
    pub(crate) file: Option<std::path::PathBuf>,

    /// The SQL to run (or use --file).
    #[arg(required_unless_present = "file")]
    pub(crate) sql: Option<String>,
}

/// Options of `strata bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    pub(crate) command: BenchCommand,
}

/// The load generators.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Measure end-to-end ingest: write requests against a running server.
    ///
    /// Every request body is encoded before the clock starts: a pool of distinct
    /// bodies (at most --pool-size bytes) is sent in turn, and when
    /// a run outlasts the pool each further pass over it ("lap") moves every
    /// timestamp on (and, for new-series, every host number), patched in place, so
    /// no (series, time) pair is ever written twice. Compressed bodies cannot be
    /// patched: with --gzip/--zstd later laps resend the pool unchanged (reported
    /// as repeated rows). Remote write bodies (--format prom) are always snappy,
    /// compressed so that their timestamps and host names stay patchable.
    ///
    /// Closed loop by default: each of --conns connections sends its next request
    /// as soon as the previous one is answered. With --rate the load is open loop:
    /// request k is due at k/RATE seconds and its latency counts from then, not
    /// from when a free connection sent it, so a slow server cannot hide its
    /// queueing (no coordinated omission).
    ///
    /// Latency is from sending a request to receiving its whole response,
    /// including the server's sync (Strata acknowledges after the WAL fsync by
    /// default). Rows and bytes count acknowledged (2xx) requests only.
    ///
    /// After a run against Strata the generator asks the server
    /// `SELECT count(*) FROM cpu` (with prom: each of the 10 metric tables
    /// cpu_usage_user..cpu_usage_guest_nice) and checks that it holds exactly
    /// the rows it had before plus every acknowledged row; a mismatch is reported and the command
    /// exits non-zero, as it does when no request succeeded. Ctrl-C stops sending
    /// early and still prints the summary.
    Write(Box<BenchWriteArgs>),
    /// Measure queries: the TSBS devops query set against a running Strata.
    ///
    /// Runs each query type in turn (--query-type, default all of them, in the
    /// order listed below) over the `cpu` table that `strata bench write
    /// --workload tsbs-cpu` loads: --clients clients, each with one query in
    /// flight on its own keep-alive HTTP/1.1 connection, send
    /// `POST /api/v3/query_sql` with a JSON body {"db", "q", "format"} (with
    /// `--format arrow`: `POST /api/v1/query/arrow` with {"sql"} and the
    /// database in `x-arc-database`) for --duration or --queries per type,
    /// whichever ends first.
    ///
    /// The queries are those of TSBS (`tsbs_generate_queries --use-case devops`,
    /// TimescaleDB's SQL), with hosts `host_<n>` and time windows drawn from
    /// --seed within the data: its first and last timestamps and host
    /// count come from one `SELECT min(time), max(time), count(DISTINCT
    /// hostname) FROM cpu` before the run, unless --start, --end and --hosts are
    /// all given. Query k of a type is the same for the same seed and data range,
    /// whatever --clients or --duration, so --print-queries shows exactly what a
    /// run with --queries sends (scripts/bench_duckdb.py replays it on DuckDB).
    ///
    /// Latency is from sending a query to receiving the whole answer. Rows are
    /// counted from each answer after its latency is taken. Non-2xx answers and
    /// transport failures count as errors; the first answer of each kind is
    /// printed. A type that returns no rows at all is flagged, since every query
    /// here should find rows in the generated data. The command exits non-zero
    /// when no query of some type succeeded. Ctrl-C stops early and still prints
    /// the summary.
    Query(Box<BenchQueryArgs>),
}

/// The server `strata bench write` writes to; decides the endpoint.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum BenchTarget {
    /// Strata: /api/v3/write_lp?db= (lp), /api/v1/write/msgpack (msgpack) or
    /// /api/v1/write?db= (prom).
    Strata,
    /// InfluxDB 1.x: /write?db= (lp) or /api/v1/prom/write?db= (prom); the
    /// database is created first.
    Influxdb1,
    /// InfluxDB 3: /api/v3/write_lp?db= (lp only).
    Influxdb3,
    /// VictoriaMetrics: its InfluxDB endpoint /write?db= (lp; `db` becomes a
    /// label) or /api/v1/write (prom; no database). It drops samples older than its -retentionPeriod (default 1 month)
    /// and the data starts in 2016, as TSBS's does: run it with
    /// -retentionPeriod=100y.
    Victoriametrics,
    /// Arc: /api/v1/write/msgpack (msgpack) or /api/v1/write/line-protocol (lp),
    /// database in the x-arc-database header.
    Arc,
}

/// The data `strata bench write` sends.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub(crate) enum BenchWorkload {
    /// TSBS cpu-only: measurement `cpu`, 10 tags, 10 integer fields; every host
    /// once per 10 s round, from 2016-01-01T00:00:00Z (--hosts series).
    #[default]
    TsbsCpu,
    /// Every row is a series never written before (`cpu`, TSBS tags with
    /// hostname host_0000000000, host_0000000001, ...), 10 ms apart.
    NewSeries,
}

/// The wire format of `strata bench write`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub(crate) enum BenchFormat {
    /// InfluxDB line protocol, nanosecond timestamps.
    #[default]
    Lp,
    /// Arc MessagePack, columnar (one `{"m", "columns"}` object per request).
    Msgpack,
    /// Prometheus remote write 1.0, snappy-compressed protobuf: each row is 10
    /// series cpu_usage_user..cpu_usage_guest_nice (one sample each, the
    /// row's tags as labels, milliseconds).
    Prom,
}

/// Options of `strata bench write`.
#[derive(Debug, Args)]
pub(crate) struct BenchWriteArgs {
    /// Kind of server; decides the write endpoint, headers and the check at the
    /// end (Strata only).
    #[arg(long, value_enum, default_value_t = BenchTarget::Strata)]
    pub(crate) target: BenchTarget,

    /// Server URL [default: http://127.0.0.1 on the target's usual port: 8181
    /// for strata and influxdb3, 8086 influxdb1, 8428 victoriametrics, 8000 arc].
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,

    /// Database to write to [default: bench_<unix time>, a new one per run].
    #[arg(long, value_name = "NAME")]
    pub(crate) db: Option<String>,

    /// Token sent as `Authorization: Bearer <TOKEN>` (InfluxDB 3, Arc).
    #[arg(
        long,
        env = "STRATA_BENCH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    /// Data to send.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) workload: BenchWorkload,

    /// Hosts of tsbs-cpu: series in lp and msgpack, 10 series each in prom.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) hosts: u32,

    /// Wire format. Rows are TSBS rows of 10 values in every format, so rows/s
    /// compare across formats; with `prom` a row is 10 samples.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: BenchFormat,

    /// Rows per request.
    #[arg(long, value_name = "ROWS", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch: u32,

    /// Concurrent connections, each with one request in flight (HTTP/1.1
    /// keep-alive).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) conns: u32,

    /// How long to send, e.g. 30s, 5m [default: 10s, unless --rows is given].
    /// With both, the run stops at whichever comes first.
    #[arg(long, value_name = "DURATION", value_parser = crate::size::parse_duration)]
    pub(crate) duration: Option<Duration>,

    /// Rows to send; the last request is shorter when this is not a multiple of
    /// --batch.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) rows: Option<u64>,

    /// Open loop at this many requests per second in total (fractions allowed);
    /// latency counts from each request's due time. Without it, closed loop.
    #[arg(long, value_name = "REQ_PER_S", value_parser = parse_rate)]
    pub(crate) rate: Option<f64>,

    /// Send gzip-compressed bodies (Content-Encoding: gzip, default level). Not
    /// with --format prom, whose bodies are snappy.
    #[arg(long, conflicts_with = "zstd")]
    pub(crate) gzip: bool,

    /// Send zstd-compressed bodies (Content-Encoding: zstd, level 3). Not with
    /// --format prom, whose bodies are snappy.
    #[arg(long)]
    pub(crate) zstd: bool,

    /// Bytes of pre-encoded bodies to hold, counted before --gzip/--zstd (prom
    /// bodies as sent, snappy-compressed) plus 16 bytes per patched timestamp or
    /// host name; bounds the pool's memory and the encoding time before the run.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = crate::size::parse_size)]
    pub(crate) pool_size: usize,

    /// Give up on a request after this long (counted as a `timeout` error).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::size::parse_duration)]
    pub(crate) timeout: Duration,

    /// Seed of the field values.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub(crate) seed: u64,

    /// Print the summary as one JSON object on stdout (progress still goes to
    /// stderr).
    #[arg(long)]
    pub(crate) json: bool,

    /// Skip the row count check after a Strata run.
    #[arg(long)]
    pub(crate) no_verify: bool,
}

/// A query of `strata bench query`: TSBS devops, as TimescaleDB runs it. Hosts
/// are drawn at random without repeats; windows start at a random whole second
/// and lie within the data (all of it when it is shorter than the window).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Hash)]
pub(crate) enum BenchQueryType {
    /// Max of 1 metric per minute, 1 host, 1 hour.
    #[value(name = "single-groupby-1-1-1")]
    SingleGroupby1_1_1,
    /// Max of 1 metric per minute, 1 host, 12 hours.
    #[value(name = "single-groupby-1-1-12")]
    SingleGroupby1_1_12,
    /// Max of 1 metric per minute, 8 hosts, 1 hour.
    #[value(name = "single-groupby-1-8-1")]
    SingleGroupby1_8_1,
    /// Max of 5 metrics per minute, 1 host, 1 hour.
    #[value(name = "single-groupby-5-1-1")]
    SingleGroupby5_1_1,
    /// Max of 5 metrics per minute, 1 host, 12 hours.
    #[value(name = "single-groupby-5-1-12")]
    SingleGroupby5_1_12,
    /// Max of 5 metrics per minute, 8 hosts, 1 hour.
    #[value(name = "single-groupby-5-8-1")]
    SingleGroupby5_8_1,
    /// Max of all 10 metrics per hour, 1 host, 8 hours.
    #[value(name = "cpu-max-all-1")]
    CpuMaxAll1,
    /// Max of all 10 metrics per hour, 8 hosts, 8 hours.
    #[value(name = "cpu-max-all-8")]
    CpuMaxAll8,
    /// Mean of 1 metric per hour and host, all hosts, 24 hours.
    #[value(name = "double-groupby-1")]
    DoubleGroupby1,
    /// Mean of 5 metrics per hour and host, all hosts, 24 hours.
    #[value(name = "double-groupby-5")]
    DoubleGroupby5,
    /// Mean of all 10 metrics per hour and host, all hosts, 24 hours.
    #[value(name = "double-groupby-all")]
    DoubleGroupbyAll,
    /// Rows with usage_user > 90, 1 host, 24 hours.
    #[value(name = "high-cpu-1")]
    HighCpu1,
    /// Rows with usage_user > 90, all hosts, 24 hours.
    #[value(name = "high-cpu-all")]
    HighCpuAll,
    /// The last row of every host (DISTINCT ON), over all the data.
    Lastpoint,
    /// Max of 1 metric for the last 5 minutes before a random time (ORDER BY
    /// minute DESC LIMIT 5), all hosts.
    GroupbyOrderbyLimit,
    /// Every column of 1 host over the last hour of the data (not in TSBS).
    Point,
}

/// The answer format `strata bench query` asks for: the `format` of
/// `/api/v3/query_sql`, or Arrow from the Arc route.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub(crate) enum BenchResultFormat {
    /// One JSON array of objects (rows counted by parsing it).
    #[default]
    Json,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header line.
    Csv,
    /// A Parquet file (rows from its footer).
    Parquet,
    /// The server's plain-text table.
    Pretty,
    /// An Arrow IPC stream from the Arc route `/api/v1/query/arrow` (what
    /// DuckDB's `to_arrow_table` hands its caller, so the fairest
    /// side-by-side).
    Arrow,
}

/// Options of `strata bench query`.
#[derive(Debug, Args)]
pub(crate) struct BenchQueryArgs {
    /// Server URL (Strata).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8181")]
    pub(crate) url: String,

    /// Database holding the `cpu` table, e.g. the one `strata bench write --db`
    /// loaded.
    #[arg(long, value_name = "NAME")]
    pub(crate) db: String,

    /// Query types to run, repeated or comma-separated [default: all, in the
    /// order listed].
    #[arg(
        long = "query-type",
        value_name = "TYPE",
        value_enum,
        value_delimiter = ','
    )]
    pub(crate) query_types: Vec<BenchQueryType>,

    /// Concurrent clients, each with one query in flight (HTTP/1.1 keep-alive).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) clients: u32,

    /// How long to run each query type, e.g. 30s [default: 10s, unless
    /// --queries is given]. With both, a type stops at whichever comes first.
    #[arg(long, value_name = "DURATION", value_parser = parse_run_duration)]
    pub(crate) duration: Option<Duration>,

    /// Queries to send per type (with --print-queries: to print per type,
    /// default 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) queries: Option<u64>,

    /// Seed of the random hosts and time windows.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub(crate) seed: u64,

    /// Answer format requested from the server.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: BenchResultFormat,

    /// First timestamp of the data, RFC 3339 (e.g. 2016-01-01T00:00:00Z)
    /// [default: min(time) of cpu].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) start: Option<i64>,

    /// Last timestamp of the data, RFC 3339 [default: max(time) of cpu].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) end: Option<i64>,

    /// Hosts in the data, named host_0 .. host_<N-1> [default: count(DISTINCT
    /// hostname) of cpu].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) hosts: Option<u64>,

    /// Give up on a query after this long (counted as a `timeout` error).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::size::parse_duration)]
    pub(crate) timeout: Duration,

    /// Print the summary as one JSON object on stdout (progress still goes to
    /// stderr).
    #[arg(long)]
    pub(crate) json: bool,

    /// Send nothing: print the queries a run with --queries would send, one
    /// JSON object per line {"type", "n", "sql"}, and exit. Needs the server
    /// only to find the data range (not at all with --start, --end and
    /// --hosts).
    #[arg(long)]
    pub(crate) print_queries: bool,
}

/// A duration above zero.
fn parse_run_duration(s: &str) -> Result<Duration, String> {
    match crate::size::parse_duration(s)? {
        d if d.is_zero() => Err(format!("invalid duration {s:?}; it must be above zero")),
        d => Ok(d),
    }
}

/// An RFC 3339 timestamp as nanoseconds since the epoch.
fn parse_time(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| {
            format!("invalid time {s:?}; expected RFC 3339 such as 2016-01-01T00:00:00Z")
        })
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "invalid rate {s:?}; expected requests per second above 0, e.g. 200 or 0.5"
        )),
    }
}
