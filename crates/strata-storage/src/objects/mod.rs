//! The object-store layer: where Parquet data files and the manifest live.
//!
//! Everything above this module talks to an `Arc<dyn ObjectStore>`; this module owns
//! how that store is configured and built ([`ObjectStoreConfig`]) and the stores Strata
//! adds to the `object_store` crate:
//!
//! - [`DurableLocalStore`] (`local.rs`): the local-directory backend. Unlike
//!   `object_store`'s `LocalFileSystem` it fsyncs every committed write, because WAL
//!   segments are deleted once their data is in a committed Parquet file.
//! - [`FaultyStore`] (`faulty.rs`): a wrapper that injects failures and delays, for
//!   fault-injection tests.
//!
//! Object keys are built elsewhere; this module never interprets a path.
//!
//! # Invariants
//! - [`ObjectStoreConfig::build`] never touches the network: a wrong S3 endpoint or
//!   credentials show up on the first request, not at startup.
//! - Secrets never appear in `Debug` output or in [`ObjectStoreConfig::describe`].

use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::prefix::PrefixStore;

mod faulty;
mod local;

pub use faulty::{FaultyStore, InjectedFault, Op};
pub use local::DurableLocalStore;

/// Where data files live.
///
/// Deserializes from an internally tagged table, e.g. in TOML:
///
/// ```toml
/// [objects]
/// type = "s3"
/// bucket = "strata"
/// prefix = "prod"
/// endpoint = "http://minio:9000"
/// allow_http = true
/// ```
///
/// or `type = "local"` with `root = "/var/lib/strata/objects"`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ObjectStoreConfig {
    /// Local directory (default: `DATA_DIR/objects`), made durable by
    /// [`DurableLocalStore`].
    Local {
        /// Directory holding the objects; created if missing.
        root: PathBuf,
    },
    /// S3 or an S3-compatible server (MinIO, R2, Ceph...).
    S3(S3Config),
}

/// Settings for an S3 or S3-compatible store.
///
/// `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT`,
/// `AWS_ALLOW_HTTP`, ...) are read first; fields set here override them. The two flags
/// only override when `true`, so `AWS_ALLOW_HTTP=true` works without touching the file.
/// Without explicit keys the default AWS chain applies (web identity, ECS task role,
/// instance metadata).
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name (no `s3://`, no path: put the path in `prefix`).
    pub bucket: String,
    /// Key prefix inside the bucket, e.g. `strata/prod`; all objects go below it.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Region, e.g. `us-east-1`; S3-compatible servers usually accept any value.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint URL for S3-compatible servers, e.g. `http://minio:9000`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Static access key id.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Static secret access key; never printed.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Allow a plain `http://` endpoint.
    #[serde(default)]
    pub allow_http: bool,
    /// Use `https://bucket.endpoint/key` instead of `https://endpoint/bucket/key`.
    #[serde(default)]
    pub virtual_hosted_style: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .finish()
    }
}

impl ObjectStoreConfig {
    /// The default: a local store in `data_dir/objects`.
    pub fn local_in(data_dir: &FsPath) -> Self {
        Self::Local {
            root: data_dir.join("objects"),
        }
    }

    /// Builds the store. Creates the local directory if needed; never connects to S3.
    pub fn build(&self) -> Result<Arc<dyn ObjectStore>, ObjectsError> {
        match self {
            Self::Local { root } => Ok(Arc::new(DurableLocalStore::new(root)?)),
            Self::S3(s3) => s3.build(),
        }
    }

    /// A one-line description for the startup log, without secrets, e.g.
    /// `local /var/lib/strata/objects` or `s3://bucket/prefix (endpoint http://minio:9000)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Local { root } => format!("local {}", root.display()),
            Self::S3(s3) => s3.describe(),
        }
    }
}

impl S3Config {
    fn build(&self) -> Result<Arc<dyn ObjectStore>, ObjectsError> {
        let bucket = self.bucket.trim();
        if bucket.is_empty() {
            return Err(ObjectsError::EmptyBucket);
        }
        if bucket.contains('/') || bucket.contains("://") {
            return Err(ObjectsError::InvalidBucket {
                bucket: bucket.to_owned(),
            });
        }
        let prefix = self.prefix()?;

        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if self.allow_http {
            builder = builder.with_allow_http(true);
        }
        if self.virtual_hosted_style {
            builder = builder.with_virtual_hosted_style_request(true);
        }

        // The client would refuse every request to an http:// endpoint; say so now.
        let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
        if let Some(endpoint) = endpoint
            && endpoint.to_ascii_lowercase().starts_with("http://")
        {
            let allowed = builder
                .get_config_value(&AmazonS3ConfigKey::Client(
                    object_store::ClientConfigKey::AllowHttp,
                ))
                .is_some_and(|v| {
                    matches!(
                        v.to_ascii_lowercase().as_str(),
                        "1" | "true" | "on" | "yes" | "y"
                    )
                });
            if !allowed {
                return Err(ObjectsError::HttpNotAllowed { endpoint });
            }
        }

        let store = builder.build().map_err(|source| ObjectsError::S3 {
            bucket: bucket.to_owned(),
            source,
        })?;
        Ok(match prefix {
            Some(prefix) => Arc::new(PrefixStore::new(store, prefix)),
            None => Arc::new(store),
        })
    }

    /// The configured prefix as an object path; `None` if unset or only slashes.
    fn prefix(&self) -> Result<Option<Path>, ObjectsError> {
        let Some(raw) = &self.prefix else {
            return Ok(None);
        };
        let trimmed = raw.trim().trim_matches('/');
        if trimmed.is_empty() {
            return Ok(None);
        }
        Path::parse(trimmed)
            .map(Some)
            .map_err(|source| ObjectsError::InvalidPrefix {
                prefix: raw.clone(),
                source,
            })
    }

    fn describe(&self) -> String {
        let mut out = format!("s3://{}", self.bucket.trim());
        if let Some(prefix) = &self.prefix {
            let prefix = prefix.trim().trim_matches('/');
            if !prefix.is_empty() {
                out.push('/');
                out.push_str(prefix);
            }
        }
        let mut details = Vec::new();
        if let Some(endpoint) = &self.endpoint {
            details.push(format!("endpoint {endpoint}"));
        }
        if let Some(region) = &self.region {
            details.push(format!("region {region}"));
        }
        if self.access_key_id.is_some() {
            details.push("static credentials".to_owned());
        }
        if self.virtual_hosted_style {
            details.push("virtual-hosted style".to_owned());
        }
        if !details.is_empty() {
            out.push_str(" (");
            out.push_str(&details.join(", "));
            out.push(')');
        }
        out
    }
}

/// Errors building an object store from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectsError {
    /// The local object directory could not be created.
    #[error(
        "cannot create the object directory {}: {source}; check the path and its permissions",
        root.display()
    )]
    CreateLocalRoot {
        /// The configured directory.
        root: PathBuf,
        /// The filesystem error.
        source: std::io::Error,
    },
    /// The local object directory exists but could not be opened as a store.
    #[error("cannot open the object directory {}: {source}", root.display())]
    OpenLocalRoot {
        /// The configured directory.
        root: PathBuf,
        /// The error from `object_store`.
        source: object_store::Error,
    },
    /// The S3 bucket name is empty.
    #[error("S3 bucket name is empty; set `bucket` in the object store configuration")]
    EmptyBucket,
    /// The S3 bucket name contains a path or scheme.
    #[error(
        "S3 bucket name {bucket:?} is not a bare bucket name; drop any `s3://` and put the path in `prefix`"
    )]
    InvalidBucket {
        /// The configured bucket.
        bucket: String,
    },
    /// The S3 prefix is not a valid object path.
    #[error(
        "S3 prefix {prefix:?} is not a valid object path (no empty, `.` or `..` segments): {source}"
    )]
    InvalidPrefix {
        /// The configured prefix.
        prefix: String,
        /// Why the path was rejected.
        source: object_store::path::Error,
    },
    /// A plain-HTTP endpoint without `allow_http`.
    #[error(
        "S3 endpoint {endpoint} uses http://; set `allow_http = true` (or AWS_ALLOW_HTTP=true) or use https://"
    )]
    HttpNotAllowed {
        /// The endpoint in effect (from the configuration or `AWS_ENDPOINT`).
        endpoint: String,
    },
    /// The S3 client could not be configured.
    #[error("cannot configure S3 store for bucket {bucket}: {source}")]
    S3 {
        /// The configured bucket.
        bucket: String,
        /// The builder's error (e.g. a key without its secret, a bad environment value).
        source: object_store::Error,
    },
}

#[cfg(test)]
mod tests;
