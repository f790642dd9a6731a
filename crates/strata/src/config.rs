//! Resolves `strata serve` settings: command line and environment (via clap),
//! then the TOML file, then defaults.

use crate::cli::ServeArgs;
use crate::size::parse_size;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use strata_query::{CacheConfig, QueryLimits};
use strata_server::HttpLimits;
use strata_storage::catalog::CatalogLimits;
use strata_storage::objects::{ObjectStoreConfig, S3Config};
use strata_storage::persist::{FileCompression, PersistConfig};
use strata_storage::{SyncMode, WalOptions};
use thiserror::Error;

/// Configuration problems.
#[derive(Debug, Error)]
pub(crate) enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{option}: {message}")]
    Invalid {
        option: &'static str,
        message: String,
    },
}

/// A size in the file: a number of bytes or a string with a unit.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum FileSize {
    Bytes(u64),
    Text(String),
}

impl FileSize {
    fn into_text(self) -> String {
        match self {
            FileSize::Bytes(n) => n.to_string(),
            FileSize::Text(s) => s,
        }
    }
}

/// The TOML file; keys are the long option names.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    http_bind: Option<String>,
    max_body_size: Option<FileSize>,
    max_line_length: Option<FileSize>,
    max_tag_value_length: Option<FileSize>,
    max_databases: Option<usize>,
    max_tables_per_db: Option<usize>,
    max_columns_per_table: Option<usize>,
    wal_sync: Option<String>,
    wal_segment_size: Option<FileSize>,
    wal_skip_corrupt: Option<bool>,
    persist_rows: Option<u64>,
    persist_bytes: Option<FileSize>,
    persist_age: Option<String>,
    buffer_memory_limit: Option<FileSize>,
    buffer_hard_limit: Option<FileSize>,
    partition_duration: Option<String>,
    parquet_compression: Option<String>,
    parquet_page_rows: Option<usize>,
    no_persist: Option<bool>,
    object_store: Option<String>,
    s3_bucket: Option<String>,
    s3_prefix: Option<String>,
    s3_region: Option<String>,
    s3_endpoint: Option<String>,
    s3_allow_http: Option<bool>,
    query_memory_limit: Option<FileSize>,
    query_timeout: Option<String>,
    query_max_rows: Option<u64>,
    query_metadata_cache: Option<FileSize>,
    query_chunk_cache: Option<FileSize>,
    query_page_cache: Option<FileSize>,
    no_point_reads: Option<bool>,
    log: Option<String>,
}

/// Resolved settings of the server.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    pub(crate) data_dir: PathBuf,
    pub(crate) http_bind: String,
    pub(crate) http_limits: HttpLimits,
    pub(crate) catalog_limits: CatalogLimits,
    pub(crate) wal: WalOptions,
    pub(crate) persist: PersistConfig,
    pub(crate) objects: ObjectStoreConfig,
    pub(crate) query_limits: QueryLimits,
    pub(crate) query_caches: CacheConfig,
    pub(crate) log: String,
}

fn size(option: &'static str, v: Option<String>, default: usize) -> Result<usize, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => parse_size(&s)
            .and_then(|n| {
                if n == 0 {
                    Err("must be greater than zero".to_owned())
                } else {
                    Ok(n)
                }
            })
            .map_err(|message| ConfigError::Invalid { option, message }),
    }
}

fn count(option: &'static str, v: Option<usize>, default: usize) -> Result<usize, ConfigError> {
    match v {
        Some(0) => Err(ConfigError::Invalid {
            option,
            message: "must be greater than zero".into(),
        }),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

fn duration(
    option: &'static str,
    v: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => crate::size::parse_duration(&s)
            .and_then(|d| {
                if d.is_zero() {
                    Err("must be greater than zero".to_owned())
                } else {
                    Ok(d)
                }
            })
            .map_err(|message| ConfigError::Invalid { option, message }),
    }
}

/// `lz4`, `zstd` (level 1) or `zstd:LEVEL`.
fn compression(text: &str) -> Result<FileCompression, ConfigError> {
    let bad = || {
        invalid(
            "--parquet-compression",
            format!("`{text}` is not `lz4`, `zstd` or `zstd:LEVEL` with LEVEL 1-22"),
        )
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "lz4" | "lz4_raw" => Ok(FileCompression::Lz4Raw),
        "zstd" => Ok(FileCompression::Zstd(1)),
        other => match other.strip_prefix("zstd:").map(str::parse::<i32>) {
            Some(Ok(level)) if (1..=22).contains(&level) => Ok(FileCompression::Zstd(level)),
            _ => Err(bad()),
        },
    }
}

fn invalid(option: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option,
        message: message.into(),
    }
}

impl ServeConfig {
    pub(crate) fn resolve(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
        };
        let http = HttpLimits::default();
        let cat = CatalogLimits::default();
        let text =
            |a: Option<String>, f: Option<FileSize>| a.or_else(|| f.map(FileSize::into_text));
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./strata-data"));
        let sync: SyncMode = match args.wal_sync.or(file.wal_sync) {
            None => SyncMode::Always,
            Some(s) => s
                .parse()
                .map_err(|e| invalid("--wal-sync", format!("{e}")))?,
        };
        let wal_default = WalOptions::default();
        let wal = WalOptions {
            sync,
            skip_corrupt: args.wal_skip_corrupt || file.wal_skip_corrupt.unwrap_or(false),
            segment_bytes: size(
                "--wal-segment-size",
                text(args.wal_segment_size, file.wal_segment_size),
                wal_default.segment_bytes as usize,
            )? as u64,
        };
        let pd = PersistConfig::default();
        let memory = size(
            "--buffer-memory-limit",
            text(args.buffer_memory_limit, file.buffer_memory_limit),
            pd.buffer_memory_limit as usize,
        )? as u64;
        let hard = size(
            "--buffer-hard-limit",
            text(args.buffer_hard_limit, file.buffer_hard_limit),
            memory.saturating_mul(2) as usize,
        )? as u64;
        if hard < memory {
            return Err(invalid(
                "--buffer-hard-limit",
                format!(
                    "{hard} bytes is below --buffer-memory-limit ({memory} bytes); raise it or lower the memory limit"
                ),
            ));
        }
        let partition = duration(
            "--partition-duration",
            args.partition_duration.or(file.partition_duration),
            Duration::from_nanos(pd.layout.partition_ns as u64),
        )?;
        let persist = PersistConfig {
            rows: count(
                "--persist-rows",
                args.persist_rows.or(file.persist_rows).map(|n| n as usize),
                pd.rows as usize,
            )? as u64,
            bytes: size(
                "--persist-bytes",
                text(args.persist_bytes, file.persist_bytes),
                pd.bytes as usize,
            )? as u64,
            age: duration(
                "--persist-age",
                args.persist_age.or(file.persist_age),
                pd.age,
            )?,
            buffer_memory_limit: memory,
            hard_limit: hard,
            layout: strata_storage::persist::LayoutConfig {
                partition_ns: i64::try_from(partition.as_nanos())
                    .map_err(|_| invalid("--partition-duration", "too large"))?,
                compression: match args.parquet_compression.or(file.parquet_compression) {
                    Some(text) => compression(&text)?,
                    None => pd.layout.compression,
                },
                page_rows: match args.parquet_page_rows.or(file.parquet_page_rows) {
                    // Powers of two up to 64Ki divide the encoder's slices and
                    // row groups, so the limit holds exactly (`LayoutConfig`).
                    Some(n) if n.is_power_of_two() && (256..=65_536).contains(&n) => n,
                    Some(n) => {
                        return Err(invalid(
                            "--parquet-page-rows",
                            format!("{n} is not a power of two from 256 to 65536"),
                        ));
                    }
                    None => pd.layout.page_rows,
                },
                ..pd.layout
            },
            enabled: !(args.no_persist || file.no_persist.unwrap_or(false)),
            ..pd
        };
        let objects = match args.object_store.or(file.object_store).as_deref() {
            None | Some("local") => ObjectStoreConfig::Local {
                root: data_dir.join("objects"),
            },
            Some("s3") => ObjectStoreConfig::S3(S3Config {
                bucket: args
                    .s3_bucket
                    .or(file.s3_bucket)
                    .ok_or_else(|| invalid("--s3-bucket", "required with --object-store s3"))?,
                prefix: args.s3_prefix.or(file.s3_prefix),
                region: args.s3_region.or(file.s3_region),
                endpoint: args.s3_endpoint.or(file.s3_endpoint),
                access_key_id: None,
                secret_access_key: None,
                allow_http: args.s3_allow_http || file.s3_allow_http.unwrap_or(false),
                virtual_hosted_style: false,
            }),
            Some(other) => {
                return Err(invalid(
                    "--object-store",
                    format!("unknown kind {other:?}; use local or s3"),
                ));
            }
        };
        let qd = QueryLimits::default();
        let query_limits = QueryLimits {
            memory_bytes: size(
                "--query-memory-limit",
                text(args.query_memory_limit, file.query_memory_limit),
                qd.memory_bytes,
            )?,
            timeout: duration(
                "--query-timeout",
                args.query_timeout.or(file.query_timeout),
                qd.timeout,
            )?,
            max_rows: count(
                "--query-max-rows",
                args.query_max_rows
                    .or(file.query_max_rows)
                    .map(|n| n as usize),
                qd.max_rows as usize,
            )? as u64,
        };
        let cd = CacheConfig::default();
        let query_caches = CacheConfig {
            metadata_bytes: size(
                "--query-metadata-cache",
                text(args.query_metadata_cache, file.query_metadata_cache),
                cd.metadata_bytes,
            )?,
            chunk_bytes: size(
                "--query-chunk-cache",
                text(args.query_chunk_cache, file.query_chunk_cache),
                cd.chunk_bytes,
            )?,
            page_bytes: size(
                "--query-page-cache",
                text(args.query_page_cache, file.query_page_cache),
                cd.page_bytes,
            )?,
            point_reads: !(args.no_point_reads || file.no_point_reads.unwrap_or(false)),
        };
        Ok(Self {
            data_dir,
            query_limits,
            query_caches,
            wal,
            persist,
            objects,
            http_bind: args
                .http_bind
                .or(file.http_bind)
                .unwrap_or_else(|| "127.0.0.1:8181".to_owned()),
            http_limits: HttpLimits {
                max_body_bytes: size(
                    "--max-body-size",
                    text(args.max_body_size, file.max_body_size),
                    http.max_body_bytes,
                )?,
                max_line_len: size(
                    "--max-line-length",
                    text(args.max_line_length, file.max_line_length),
                    http.max_line_len,
                )?,
                max_tag_value_len: size(
                    "--max-tag-value-length",
                    text(args.max_tag_value_length, file.max_tag_value_length),
                    http.max_tag_value_len,
                )?,
                max_error_lines: http.max_error_lines,
            },
            catalog_limits: CatalogLimits {
                max_databases: count(
                    "--max-databases",
                    args.max_databases.or(file.max_databases),
                    cat.max_databases,
                )?,
                max_tables_per_db: count(
                    "--max-tables-per-db",
                    args.max_tables_per_db.or(file.max_tables_per_db),
                    cat.max_tables_per_db,
                )?,
                max_columns_per_table: count(
                    "--max-columns-per-table",
                    args.max_columns_per_table.or(file.max_columns_per_table),
                    cat.max_columns_per_table,
                )?,
            },
            log: args.log.or(file.log).unwrap_or_else(|| "info".to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_cli_over_file_over_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(
            &path,
            "data-dir = \"/from/file\"\nhttp-bind = \"0.0.0.0:1\"\nmax-body-size = \"1MiB\"\nmax-tables-per-db = 7\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            http_bind: Some("127.0.0.1:9".into()),
            ..Default::default()
        };
        let c = ServeConfig::resolve(args).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/file"));
        assert_eq!(c.http_bind, "127.0.0.1:9");
        assert_eq!(c.http_limits.max_body_bytes, 1 << 20);
        assert_eq!(c.catalog_limits.max_tables_per_db, 7);
        assert_eq!(c.catalog_limits.max_databases, 100);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "data_dir = \"x\"\n").unwrap();
        let err = ServeConfig::resolve(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = ServeConfig::resolve(ServeArgs {
            max_body_size: Some("0".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("--max-body-size"), "{err}");
    }

    #[test]
    fn parquet_compression_choices() {
        let layout = |v: Option<&str>| {
            ServeConfig::resolve(ServeArgs {
                parquet_compression: v.map(str::to_owned),
                ..Default::default()
            })
            .map(|c| c.persist.layout.compression)
        };
        assert_eq!(layout(None).unwrap(), FileCompression::Lz4Raw);
        assert_eq!(layout(Some("LZ4")).unwrap(), FileCompression::Lz4Raw);
        assert_eq!(layout(Some("zstd")).unwrap(), FileCompression::Zstd(1));
        assert_eq!(layout(Some("zstd:9")).unwrap(), FileCompression::Zstd(9));
        for bad in ["zstd:0", "zstd:23", "zstd:x", "gzip", ""] {
            let err = layout(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("--parquet-compression"), "{bad}: {err}");
        }
    }

    #[test]
    fn parquet_page_rows_are_powers_of_two() {
        let rows = |v: Option<usize>| {
            ServeConfig::resolve(ServeArgs {
                parquet_page_rows: v,
                ..Default::default()
            })
            .map(|c| c.persist.layout.page_rows)
        };
        assert_eq!(rows(None).unwrap(), 8192);
        assert_eq!(rows(Some(1024)).unwrap(), 1024);
        assert_eq!(rows(Some(65_536)).unwrap(), 65_536);
        for bad in [0, 128, 1000, 131_072] {
            let err = rows(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("--parquet-page-rows"), "{bad}: {err}");
        }
    }
}
