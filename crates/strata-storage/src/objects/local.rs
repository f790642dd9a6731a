//! [`DurableLocalStore`]: an object store over a local directory whose committed
//! writes survive power loss.
//!
//! `object_store`'s [`LocalFileSystem`] makes writes atomic (it writes a staging file
//! `<path>#<n>` and renames it into place) but never calls `fsync`. Strata deletes WAL
//! segments once a Parquet file and its manifest entry are committed, so a committed
//! object must be on stable storage before the write returns.
//!
//! # Durability guarantee
//!
//! When one of these calls returns `Ok`, the object's bytes and every directory entry
//! between the store root and the object have been fsynced, so the object survives a
//! power loss or kernel crash:
//!
//! - `put_opts` (modes `Overwrite` and `Create`);
//! - `complete()` of an upload from `put_multipart_opts`;
//! - `copy_opts` and `rename_opts` (the destination; for a rename also the removal of
//!   the source entry).
//!
//! Puts and multipart uploads are also atomic across a crash: the data goes to a
//! staging file that is fsynced *before* it is renamed (or, for `PutMode::Create`,
//! hard-linked) over the destination, then the directories are fsynced. After a crash at
//! any point a reader sees the old object (or none) or the complete new one, never a
//! torn or empty file. This matters when a key is overwritten in place: renaming an
//! unsynced file over a committed one can leave an empty file after a crash on
//! filesystems that do not order data before the rename (XFS, ext4 with
//! `noauto_da_alloc`, ...).
//!
//! Not covered:
//! - deletes are not synced: an object deleted just before a power loss may reappear.
//!   Callers treat objects that the manifest does not reference as garbage.
//! - a crash in the middle of a write may leave a staging file `<path>#<n>`. Listings
//!   hide such files (as [`LocalFileSystem`] does); nothing removes them.
//! - on non-Unix targets directories cannot be opened for `fsync`, so only the file
//!   itself is synced there.
//!
//! Reads, listings and deletes go to [`LocalFileSystem`] unchanged.
//!
//! # Invariants
//! - Staging files are named `<destination>#<digits>`, the scheme [`LocalFileSystem`]
//!   hides from listings and refuses as an object name, so an in-flight write is never
//!   listed and cannot collide with a real object.
//! - Filesystem paths come from [`LocalFileSystem::path_to_filesystem`], so this store and
//!   the wrapped one always agree on where an object lives; the root used to bound the
//!   directory fsync chain is derived the same way.
//! - Directory fsyncs run from the object's parent up to and including the root: a
//!   write may have created any of the intermediate directories, and each new entry is
//!   only durable once its parent directory is synced.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};
use parking_lot::Mutex;

use super::ObjectsError;

/// The `store` name in errors raised by this module.
const STORE: &str = "DurableLocalStore";

/// A [`LocalFileSystem`] whose puts, multipart uploads, copies and renames are fsynced
/// before they return. See the [module docs](self) for the exact guarantee.
#[derive(Debug)]
pub struct DurableLocalStore {
    inner: LocalFileSystem,
    /// Canonical root directory, as [`LocalFileSystem`] maps it.
    root: PathBuf,
    /// Number of `fsync` calls made (files and directories), for tests.
    syncs: Arc<AtomicU64>,
}

impl DurableLocalStore {
    /// Opens a store rooted at `root`, creating the directory (and durably recording
    /// its creation) if it does not exist.
    pub fn new(root: impl AsRef<FsPath>) -> Result<Self, ObjectsError> {
        let root = root.as_ref();
        create_root_durably(root).map_err(|source| ObjectsError::CreateLocalRoot {
            root: root.to_path_buf(),
            source,
        })?;
        let inner = LocalFileSystem::new_with_prefix(root).map_err(|source| {
            ObjectsError::OpenLocalRoot {
                root: root.to_path_buf(),
                source,
            }
        })?;
        // Derive the root from the wrapped store's own mapping so both agree exactly.
        let probe = inner
            .path_to_filesystem(&Path::from("probe"))
            .map_err(|source| ObjectsError::OpenLocalRoot {
                root: root.to_path_buf(),
                source,
            })?;
        let root =
            probe
                .parent()
                .map(FsPath::to_path_buf)
                .ok_or_else(|| ObjectsError::OpenLocalRoot {
                    root: root.to_path_buf(),
                    source: object_store::Error::Generic {
                        store: STORE,
                        source: "object path has no parent directory".into(),
                    },
                })?;
        Ok(Self {
            inner,
            root,
            syncs: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The canonical root directory objects are stored under.
    pub fn root(&self) -> &FsPath {
        &self.root
    }

    /// Number of `fsync` calls made so far (files and directories).
    #[cfg(test)]
    pub(crate) fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    fn syncer(&self) -> Syncer {
        Syncer {
            root: self.root.clone(),
            syncs: Arc::clone(&self.syncs),
        }
    }
}

impl fmt::Display for DurableLocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DurableLocalStore({})", self.root.display())
    }
}

#[async_trait]
impl ObjectStore for DurableLocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let create = match opts.mode {
            PutMode::Overwrite => false,
            PutMode::Create => true,
            // LocalFileSystem rejects these with NotImplemented; let it say so.
            PutMode::Update(_) => return self.inner.put_opts(location, payload, opts).await,
        };
        if !opts.attributes.is_empty() {
            return self.inner.put_opts(location, payload, opts).await;
        }
        let dest = self.inner.path_to_filesystem(location)?;
        let syncer = self.syncer();
        blocking(move || syncer.put(&dest, &payload, create)).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        if !opts.attributes.is_empty() {
            return self.inner.put_multipart_opts(location, opts).await;
        }
        let dest = self.inner.path_to_filesystem(location)?;
        let syncer = self.syncer();
        let (file, staging) = {
            let dest = dest.clone();
            blocking(move || new_staging_file(&dest).map_err(into_store_error)).await?
        };
        Ok(Box::new(DurableUpload {
            state: Arc::new(UploadState {
                dest,
                file: Mutex::new(file),
                syncer,
            }),
            staging: Some(staging),
            offset: 0,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await?;
        let dest = self.inner.path_to_filesystem(to)?;
        let syncer = self.syncer();
        blocking(move || syncer.after_link(&dest, None).map_err(into_store_error)).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await?;
        let source = self.inner.path_to_filesystem(from)?;
        let dest = self.inner.path_to_filesystem(to)?;
        let syncer = self.syncer();
        blocking(move || {
            syncer
                .after_link(&dest, source.parent())
                .map_err(into_store_error)
        })
        .await
    }
}

/// A multipart upload into a staging file that `complete` fsyncs, renames into place
/// and makes durable.
#[derive(Debug)]
struct DurableUpload {
    state: Arc<UploadState>,
    /// The staging file; `None` once completed or aborted.
    staging: Option<PathBuf>,
    /// Where the next part starts.
    offset: u64,
}

#[derive(Debug)]
struct UploadState {
    dest: PathBuf,
    file: Mutex<File>,
    syncer: Syncer,
}

#[async_trait]
impl MultipartUpload for DurableUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let offset = self.offset;
        self.offset += data.content_length() as u64;
        let state = Arc::clone(&self.state);
        Box::pin(blocking(move || {
            let mut file = state.file.lock();
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| data.iter().try_for_each(|chunk| file.write_all(chunk)))
                .map_err(|source| LocalError::Write {
                    path: state.dest.clone(),
                    source,
                })
                .map_err(into_store_error)
        }))
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let staging = self.staging.take().ok_or_else(upload_finished)?;
        let state = Arc::clone(&self.state);
        blocking(move || {
            let file = state.file.lock();
            let result = state.syncer.commit(&file, &staging, &state.dest, false);
            if result.is_err() {
                let _ = std::fs::remove_file(&staging);
            }
            result
        })
        .await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let staging = self.staging.take().ok_or_else(upload_finished)?;
        blocking(move || {
            std::fs::remove_file(&staging)
                .map_err(|source| LocalError::Remove {
                    path: staging,
                    source,
                })
                .map_err(into_store_error)
        })
        .await
    }
}

impl Drop for DurableUpload {
    fn drop(&mut self) {
        // An upload dropped without complete/abort leaves its staging file; remove it.
        if let Some(staging) = self.staging.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => drop(handle.spawn_blocking(move || std::fs::remove_file(staging))),
                Err(_) => {
                    let _ = std::fs::remove_file(staging);
                }
            }
        }
    }
}

fn upload_finished() -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: "multipart upload was already completed or aborted".into(),
    }
}

/// The fsync side of the store, cloned into blocking tasks.
#[derive(Debug, Clone)]
struct Syncer {
    root: PathBuf,
    syncs: Arc<AtomicU64>,
}

impl Syncer {
    /// Writes `payload` to a staging file, fsyncs it and moves it to `dest` durably.
    fn put(
        &self,
        dest: &FsPath,
        payload: &PutPayload,
        create: bool,
    ) -> object_store::Result<PutResult> {
        let (mut file, staging) = new_staging_file(dest).map_err(into_store_error)?;
        let written = payload
            .iter()
            .try_for_each(|chunk| file.write_all(chunk))
            .map_err(|source| {
                into_store_error(LocalError::Write {
                    path: staging.clone(),
                    source,
                })
            });
        let result = written.and_then(|()| self.commit(&file, &staging, dest, create));
        drop(file);
        if result.is_err() || create {
            // On error the staging file is garbage; after a successful hard link it is a
            // second name for the object. Either way it goes.
            let _ = std::fs::remove_file(&staging);
        }
        result
    }

    /// Makes a fully written staging file the object at `dest`: fsync the data, link or
    /// rename it into place, fsync the directory chain.
    fn commit(
        &self,
        file: &File,
        staging: &FsPath,
        dest: &FsPath,
        create: bool,
    ) -> object_store::Result<PutResult> {
        self.sync_file(file, staging).map_err(into_store_error)?;
        let metadata = file.metadata().map_err(|source| {
            into_store_error(LocalError::Metadata {
                path: staging.to_path_buf(),
                source,
            })
        })?;
        let e_tag = Some(e_tag(&metadata));
        if create {
            std::fs::hard_link(staging, dest).map_err(|source| match source.kind() {
                ErrorKind::AlreadyExists => object_store::Error::AlreadyExists {
                    path: dest.to_string_lossy().into_owned(),
                    source: Box::new(source),
                },
                _ => into_store_error(LocalError::Rename {
                    from: staging.to_path_buf(),
                    to: dest.to_path_buf(),
                    source,
                }),
            })?;
        } else {
            std::fs::rename(staging, dest).map_err(|source| {
                into_store_error(LocalError::Rename {
                    from: staging.to_path_buf(),
                    to: dest.to_path_buf(),
                    source,
                })
            })?;
        }
        self.sync_dir_chain(dest).map_err(into_store_error)?;
        Ok(PutResult {
            e_tag,
            version: None,
        })
    }

    /// After a copy or rename created `dest`: fsync its inode (a copy is a hard link to a
    /// file this store may not have written), the directory chain above it and, for a
    /// rename, the directory the source was removed from.
    fn after_link(&self, dest: &FsPath, source_dir: Option<&FsPath>) -> Result<(), LocalError> {
        let file = File::open(dest).map_err(|source| LocalError::Open {
            path: dest.to_path_buf(),
            source,
        })?;
        self.sync_file(&file, dest)?;
        drop(file);
        self.sync_dir_chain(dest)?;
        if let Some(dir) = source_dir
            && Some(dir) != dest.parent()
        {
            self.sync_dir(dir)?;
        }
        Ok(())
    }

    fn sync_file(&self, file: &File, path: &FsPath) -> Result<(), LocalError> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        file.sync_all().map_err(|source| LocalError::Sync {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Fsyncs every directory from `path`'s parent up to and including the root.
    fn sync_dir_chain(&self, path: &FsPath) -> Result<(), LocalError> {
        let mut dir = path.parent();
        while let Some(current) = dir {
            self.sync_dir(current)?;
            if current == self.root || !current.starts_with(&self.root) {
                break;
            }
            dir = current.parent();
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &FsPath) -> Result<(), LocalError> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        sync_dir(dir)
    }
}

#[cfg(unix)]
fn sync_dir(dir: &FsPath) -> Result<(), LocalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| LocalError::Sync {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(not(unix))]
fn sync_dir(_dir: &FsPath) -> Result<(), LocalError> {
    Ok(())
}

/// Creates `root` if missing and fsyncs every directory whose entry that created, up to
/// the first ancestor that already existed.
fn create_root_durably(root: &FsPath) -> io::Result<()> {
    let root = std::path::absolute(root)?;
    if root.is_dir() {
        return Ok(());
    }
    if root.exists() {
        return Err(io::Error::new(
            ErrorKind::NotADirectory,
            "the path exists but is not a directory",
        ));
    }
    let mut first_existing = root.as_path();
    while !first_existing.exists() {
        match first_existing.parent() {
            Some(parent) => first_existing = parent,
            None => break,
        }
    }
    std::fs::create_dir_all(&root)?;
    // A new directory's entry is durable once its parent is synced: sync the root and
    // every ancestor up to and including the first one that already existed.
    let mut dir = Some(root.as_path());
    while let Some(current) = dir {
        #[cfg(unix)]
        File::open(current)?.sync_all()?;
        if current == first_existing {
            break;
        }
        dir = current.parent();
    }
    Ok(())
}

/// Opens a new staging file `<dest>#<n>`, creating parent directories as needed.
fn new_staging_file(dest: &FsPath) -> Result<(File, PathBuf), LocalError> {
    let mut n = 1u64;
    loop {
        let mut staging = dest.as_os_str().to_owned();
        staging.push(format!("#{n}"));
        let staging = PathBuf::from(staging);
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&staging)
        {
            Ok(file) => return Ok((file, staging)),
            Err(source) => match source.kind() {
                ErrorKind::AlreadyExists => n += 1,
                ErrorKind::NotFound => {
                    let parent = dest.parent().ok_or(LocalError::Open {
                        path: staging,
                        source,
                    })?;
                    std::fs::create_dir_all(parent).map_err(|source| LocalError::CreateDir {
                        path: parent.to_path_buf(),
                        source,
                    })?;
                }
                _ => {
                    return Err(LocalError::Open {
                        path: staging,
                        source,
                    });
                }
            },
        }
    }
}

/// The e-tag [`LocalFileSystem`] reports for a file (inode, mtime in microseconds and
/// size, in hex), so a put's e-tag matches what a later `head` returns.
fn e_tag(metadata: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(metadata);
    #[cfg(not(unix))]
    let inode = 0u64;
    let size = metadata.len();
    let mtime = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_micros();
    format!("{inode:x}-{mtime:x}-{size:x}")
}

/// Runs blocking filesystem work on tokio's blocking pool.
async fn blocking<T, F>(f: F) -> object_store::Result<T>
where
    F: FnOnce() -> object_store::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await?
}

fn into_store_error(error: LocalError) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: Box::new(error),
    }
}

/// Filesystem failures of this store; surfaced as `object_store::Error::Generic`.
#[derive(Debug, thiserror::Error)]
enum LocalError {
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot fsync {}: {source}", path.display())]
    Sync { path: PathBuf, source: io::Error },
    #[error("cannot read metadata of {}: {source}", path.display())]
    Metadata { path: PathBuf, source: io::Error },
    #[error("cannot move {} to {}: {source}", from.display(), to.display())]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    #[error("cannot remove {}: {source}", path.display())]
    Remove { path: PathBuf, source: io::Error },
}

#[cfg(test)]
mod tests;
