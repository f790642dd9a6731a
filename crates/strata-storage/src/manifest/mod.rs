//! The manifest: the durable list of committed Parquet files and, per table, the
//! WAL sequence number through which that table's rows are in those files.
//!
//! Storage: a log of JSON deltas in the object store under
//! `_strata/manifest/<20-digit number>.json`, each one written with a single put
//! (atomic on every object store). Opening lists the directory and folds the
//! deltas in number order, starting from the newest checkpoint (a delta that
//! carries the full state). Database and table names never start with `_`, so the
//! prefix cannot collide with data paths.
//!
//! Commit protocol (see `persist`): upload the Parquet files, then put the delta
//! that names them (the commit point), then release the buffered rows and WAL
//! segments. A file that exists but is named by no delta was orphaned by a crash
//! between upload and commit; [`Manifest::collect_garbage`] deletes it at startup.
//!
//! Invariant: `persisted_through[t]` only grows. Every row of table `t` carried by
//! a WAL record with sequence number `<= persisted_through[t]` is in a committed
//! file, and no row with a larger sequence number is; replay skips exactly the
//! former, which makes it idempotent.

mod stats;

pub(crate) use stats::column_stats;
pub use stats::{ColumnStats, StatValue};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use strata_model::{DbId, TableId};
use thiserror::Error;

const MANIFEST_PREFIX: &str = "_strata/manifest";
/// Deltas between checkpoints: bounds open time to one checkpoint plus this many
/// small reads.
const CHECKPOINT_EVERY: u64 = 64;
const FORMAT_VERSION: u32 = 1;

/// Manifest failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The object store failed.
    #[error("manifest {path}: object store error: {source}")]
    Store {
        /// Object concerned.
        path: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// A delta could not be decoded.
    #[error(
        "manifest delta {path} is not valid ({source}); it was written by an incompatible version or damaged"
    )]
    Decode {
        /// Object concerned.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A delta has an unknown format version.
    #[error(
        "manifest delta {path} has format version {version}; this build reads version {FORMAT_VERSION}"
    )]
    Version {
        /// Object concerned.
        path: String,
        /// Its version.
        version: u32,
    },
}

/// One committed Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParquetFile {
    /// Object path relative to the store root.
    pub path: String,
    /// Database id.
    pub db: DbId,
    /// Table id.
    pub table: TableId,
    /// Smallest timestamp (ns).
    pub min_time: i64,
    /// Largest timestamp (ns).
    pub max_time: i64,
    /// Rows.
    pub rows: u64,
    /// Size in bytes.
    pub size: u64,
    /// Min/max per column, by column name.
    pub columns: BTreeMap<String, ColumnStats>,
    /// How the rows are ordered: [`SortOrder::SeriesKeyTime`] for files of
    /// this version; absent (unknown) in files of the earliest builds, which
    /// sorted NULL tags first, so a reader must not assume an order for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<SortOrder>,
    /// Path of the file's last-rows sidecar (`crate::last_rows`): the newest
    /// row of each series in it, or the file's own path when it has few rows
    /// per series. Absent in files of earlier builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rows: Option<String>,
}

/// Row order inside a Parquet file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// By the tag columns in name order (ascending, NULLs last), then by time.
    /// Written by earlier builds; still read.
    TagsNullsLastTime,
    /// By the table's series key (its tags in creation order, see
    /// `TableSchema::series_key`; ascending, NULLs last), then by time. Tags
    /// created after the file was written are NULL in all its rows, so the
    /// order holds for the table's current key too.
    SeriesKeyTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Persisted {
    db: DbId,
    table: TableId,
    through: u64,
}

/// What one commit adds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Delta {
    version: u32,
    /// A checkpoint carries the whole state; older deltas can be ignored.
    checkpoint: bool,
    added: Vec<ParquetFile>,
    persisted: Vec<Persisted>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    since_checkpoint: u64,
    files: Vec<Arc<ParquetFile>>,
    paths: HashSet<String>,
    through: BTreeMap<(DbId, TableId), u64>,
}

/// The manifest (see the module docs).
#[derive(Debug)]
pub struct Manifest {
    store: Arc<dyn ObjectStore>,
    /// Held across a commit's put: commits are serialised.
    commits: tokio::sync::Mutex<()>,
    inner: Mutex<State>,
}

fn delta_path(n: u64) -> Path {
    Path::from(format!("{MANIFEST_PREFIX}/{n:020}.json"))
}

fn store_err(path: &Path) -> impl Fn(object_store::Error) -> ManifestError + use<> {
    let path = path.to_string();
    move |source| ManifestError::Store {
        path: path.clone(),
        source,
    }
}

impl Manifest {
    /// Loads the manifest from `store` (empty if there is none).
    pub async fn open(store: Arc<dyn ObjectStore>) -> Result<Self, ManifestError> {
        let prefix = Path::from(MANIFEST_PREFIX);
        let mut numbered: Vec<(u64, Path)> = store
            .list(Some(&prefix))
            .map_err(store_err(&prefix))
            .try_filter_map(|meta| async move {
                let n = meta
                    .location
                    .filename()
                    .and_then(|f| f.strip_suffix(".json"))
                    .and_then(|f| f.parse::<u64>().ok());
                Ok(n.map(|n| (n, meta.location)))
            })
            .try_collect()
            .await?;
        numbered.sort_by_key(|(n, _)| *n);
        let mut deltas: Vec<(u64, Delta)> = Vec::with_capacity(numbered.len());
        // Newest first until a checkpoint: everything older is superseded.
        for (n, path) in numbered.into_iter().rev() {
            let bytes = store
                .get(&path)
                .await
                .map_err(store_err(&path))?
                .bytes()
                .await
                .map_err(store_err(&path))?;
            let delta: Delta =
                serde_json::from_slice(&bytes).map_err(|source| ManifestError::Decode {
                    path: path.to_string(),
                    source,
                })?;
            if delta.version != FORMAT_VERSION {
                return Err(ManifestError::Version {
                    path: path.to_string(),
                    version: delta.version,
                });
            }
            let checkpoint = delta.checkpoint;
            deltas.push((n, delta));
            if checkpoint {
                break;
            }
        }
        let mut state = State::default();
        for (n, delta) in deltas.into_iter().rev() {
            state.apply(delta);
            state.next = n + 1;
            state.since_checkpoint += 1;
        }
        state.next = state.next.max(1);
        Ok(Self {
            store,
            commits: tokio::sync::Mutex::new(()),
            inner: Mutex::new(state),
        })
    }

    /// The object store data files live in.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Every committed file.
    pub fn files(&self) -> Vec<Arc<ParquetFile>> {
        self.inner.lock().files.clone()
    }

    /// Sequence number through which `table`'s rows are committed (0: none).
    pub fn persisted_through(&self, db: DbId, table: TableId) -> u64 {
        self.inner
            .lock()
            .through
            .get(&(db, table))
            .copied()
            .unwrap_or(0)
    }

    /// The largest `persisted_through` of any table.
    pub fn max_persisted(&self) -> u64 {
        self.inner
            .lock()
            .through
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Durably records `files` for `(db, table)` and that the table's rows are
    /// committed through WAL sequence `through`. Returns once the delta is stored;
    /// on error nothing is committed and the call may be retried.
    pub async fn commit(
        &self,
        db: DbId,
        table: TableId,
        through: u64,
        files: Vec<ParquetFile>,
    ) -> Result<(), ManifestError> {
        let _serial = self.commits.lock().await;
        // The number is used up by this attempt whatever happens: a put that
        // reports failure may still land later (a timeout on S3), and it must
        // never land on a number another commit has taken. A retry of the same
        // files gets a new number; `apply` ignores a file named twice.
        let (n, checkpoint, delta) = {
            let mut st = self.inner.lock();
            let checkpoint = st.since_checkpoint >= CHECKPOINT_EVERY;
            let mut delta = Delta {
                version: FORMAT_VERSION,
                checkpoint,
                added: files,
                persisted: vec![Persisted { db, table, through }],
            };
            if checkpoint {
                let mut full = st.full_delta();
                full.added.append(&mut delta.added);
                full.persisted.append(&mut delta.persisted);
                delta = full;
            }
            let n = st.next;
            st.next += 1;
            (n, checkpoint, delta)
        };
        let path = delta_path(n);
        let body = serde_json::to_vec(&delta).map_err(|source| ManifestError::Decode {
            path: path.to_string(),
            source,
        })?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&path, PutPayload::from(body), opts)
            .await
            .map_err(store_err(&path))?;
        {
            let mut st = self.inner.lock();
            if checkpoint {
                let next = st.next;
                *st = State::default();
                st.next = next;
            }
            st.apply(delta);
            st.since_checkpoint = if checkpoint {
                0
            } else {
                st.since_checkpoint + 1
            };
        }
        if checkpoint {
            // Superseded deltas; a failure here only leaves garbage that the next
            // open ignores (it stops at the checkpoint).
            for old in 1..n {
                let p = delta_path(old);
                match self.store.delete(&p).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => tracing::warn!("could not delete superseded manifest delta {p}: {e}"),
                }
            }
        }
        Ok(())
    }

    /// Deletes data objects and last-rows sidecars that no committed delta
    /// names: uploads orphaned by a crash before their commit. Call before anything else writes to the store.
    pub async fn collect_garbage(&self) -> Result<usize, ManifestError> {
        let known: HashSet<String> = self
            .files()
            .iter()
            .flat_map(|f| std::iter::once(f.path.clone()).chain(f.last_rows.clone()))
            .collect();
        let root = Path::from("");
        let orphans: Vec<Path> = self
            .store
            .list(None)
            .map_err(store_err(&root))
            .try_filter_map(|meta| {
                let path = meta.location.as_ref();
                let keep = (path.starts_with("_strata/") && !crate::last_rows::is_sidecar(path))
                    || known.contains(path);
                async move { Ok((!keep).then_some(meta.location)) }
            })
            .try_collect()
            .await?;
        for p in &orphans {
            match self.store.delete(p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => {
                    return Err(ManifestError::Store {
                        path: p.to_string(),
                        source,
                    });
                }
            }
        }
        Ok(orphans.len())
    }
}

impl State {
    fn apply(&mut self, delta: Delta) {
        for f in delta.added {
            // A retried commit can name a file a late-landing earlier attempt
            // already named.
            if self.paths.insert(f.path.clone()) {
                self.files.push(Arc::new(f));
            }
        }
        for p in delta.persisted {
            let t = self.through.entry((p.db, p.table)).or_insert(0);
            *t = (*t).max(p.through);
        }
    }

    fn full_delta(&self) -> Delta {
        Delta {
            version: FORMAT_VERSION,
            checkpoint: true,
            added: self.files.iter().map(|f| (**f).clone()).collect(),
            persisted: self
                .through
                .iter()
                .map(|(&(db, table), &through)| Persisted { db, table, through })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
