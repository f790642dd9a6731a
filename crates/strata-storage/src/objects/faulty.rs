//! [`FaultyStore`]: an [`ObjectStore`] wrapper that injects failures and delays, for
//! fault-injection tests of the persister, compaction and recovery.
//!
//! Faults are changed at runtime through a shared `Arc<FaultyStore>`, while the code
//! under test holds the same store as an `Arc<dyn ObjectStore>`:
//!
//! ```
//! # use std::sync::Arc;
//! # use object_store::{ObjectStore, memory::InMemory};
//! # use strata_storage::objects::{FaultyStore, Op};
//! let faulty = FaultyStore::new(Arc::new(InMemory::new()));
//! let store: Arc<dyn ObjectStore> = faulty.clone();
//! faulty.fail_matching(Op::Put, "manifest", Some(1)); // next manifest write fails
//! # drop(store);
//! ```
//!
//! Every call is classified as one [`Op`]; for each call the store, in order: counts it,
//! picks the first matching fault rule (consuming one of its `times`), sleeps for the
//! op's delay, then returns the injected error or delegates to the inner store.
//!
//! Injected errors are `object_store::Error::Generic { store: "faulty", .. }` whose
//! source is an [`InjectedFault`]; [`FaultyStore::is_injected`] recognises them.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    UploadPart,
};
use parking_lot::Mutex;

/// The `store` name of injected errors.
const STORE: &str = "faulty";

/// The class of an object-store call, for counting and fault rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `put_opts`, and multipart uploads: checked when the upload starts
    /// (`put_multipart_opts`, which is what is counted) and again at `complete`.
    Put,
    /// `get_opts` without `head`, and `get_ranges`.
    Get,
    /// `get_opts` with `head` set (what `ObjectStoreExt::head` sends).
    Head,
    /// `list`, `list_with_offset`, `list_with_delimiter`; rules match the prefix.
    List,
    /// Each location of `delete_stream` (so each `delete`).
    Delete,
    /// `copy_opts`; rules match either path.
    Copy,
    /// `rename_opts`; rules match either path.
    Rename,
}

impl Op {
    const COUNT: usize = 7;

    fn index(self) -> usize {
        match self {
            Self::Put => 0,
            Self::Get => 1,
            Self::Head => 2,
            Self::List => 3,
            Self::Delete => 4,
            Self::Copy => 5,
            Self::Rename => 6,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Head => "head",
            Self::List => "list",
            Self::Delete => "delete",
            Self::Copy => "copy",
            Self::Rename => "rename",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The source of every error [`FaultyStore`] injects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("injected failure: {op} {path}")]
pub struct InjectedFault {
    /// The failed operation.
    pub op: Op,
    /// The path the call was for (`from -> to` for copies and renames, the prefix for
    /// listings).
    pub path: String,
}

/// An [`ObjectStore`] that delegates to `inner` except where a test asked it to fail or
/// stall. See the [module docs](self).
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    /// Shared with streams and multipart uploads that outlive a call.
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    faults: Mutex<Faults>,
    calls: [AtomicU64; Op::COUNT],
}

#[derive(Debug, Default)]
struct Faults {
    rules: Vec<Rule>,
    delays: [Duration; Op::COUNT],
}

#[derive(Debug)]
struct Rule {
    op: Op,
    /// Fail only calls whose path contains this; `None` fails every call.
    path_contains: Option<String>,
    /// Failures left; `None` until cleared.
    remaining: Option<u32>,
}

/// What to do with one call, decided under the lock, acted on after it is released.
#[derive(Debug)]
struct Verdict {
    delay: Duration,
    fault: Option<InjectedFault>,
}

impl Verdict {
    async fn apply(self) -> object_store::Result<()> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match self.fault {
            Some(fault) => Err(object_store::Error::Generic {
                store: STORE,
                source: Box::new(fault),
            }),
            None => Ok(()),
        }
    }
}

impl State {
    /// Counts a call and decides its fate.
    fn enter(&self, op: Op, paths: &[&str]) -> Verdict {
        self.calls[op.index()].fetch_add(1, Ordering::Relaxed);
        self.check(op, paths)
    }

    /// Decides a call's fate without counting it (multipart `complete`).
    fn check(&self, op: Op, paths: &[&str]) -> Verdict {
        let mut faults = self.faults.lock();
        let delay = faults.delays[op.index()];
        let hit = faults.rules.iter().position(|rule| {
            rule.op == op
                && match &rule.path_contains {
                    None => true,
                    Some(needle) => paths.iter().any(|p| p.contains(needle.as_str())),
                }
        });
        let fault = hit.map(|i| {
            let rule = &mut faults.rules[i];
            if let Some(remaining) = &mut rule.remaining {
                *remaining -= 1;
                if *remaining == 0 {
                    faults.rules.remove(i);
                }
            }
            InjectedFault {
                op,
                path: paths.join(" -> "),
            }
        });
        Verdict { delay, fault }
    }
}

impl FaultyStore {
    /// Wraps `inner`; no faults, no delays.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            state: Arc::new(State::default()),
        })
    }

    /// Fails the next `times` calls of `op` (`None`: every call until [`clear`]).
    ///
    /// [`clear`]: Self::clear
    pub fn fail(&self, op: Op, times: Option<u32>) {
        self.add_rule(op, None, times);
    }

    /// Like [`fail`](Self::fail), but only for calls whose path contains
    /// `path_contains` (either path of a copy or rename; the prefix of a listing,
    /// `""` for the root).
    pub fn fail_matching(&self, op: Op, path_contains: &str, times: Option<u32>) {
        self.add_rule(op, Some(path_contains.to_owned()), times);
    }

    /// Sleeps `by` before every call of `op` (replacing any earlier delay for `op`);
    /// `Duration::ZERO` removes it.
    pub fn delay(&self, op: Op, by: Duration) {
        self.state.faults.lock().delays[op.index()] = by;
    }

    /// Removes every fault rule and delay. Call counters are kept.
    pub fn clear(&self) {
        let mut faults = self.state.faults.lock();
        faults.rules.clear();
        faults.delays = Default::default();
    }

    /// Calls of `op` so far, including failed ones.
    pub fn calls(&self, op: Op) -> u64 {
        self.state.calls[op.index()].load(Ordering::Relaxed)
    }

    /// Whether `error` was injected by a `FaultyStore`.
    pub fn is_injected(error: &object_store::Error) -> bool {
        matches!(
            error,
            object_store::Error::Generic { store: STORE, source } if source.is::<InjectedFault>()
        )
    }

    fn add_rule(&self, op: Op, path_contains: Option<String>, times: Option<u32>) {
        if times == Some(0) {
            return;
        }
        self.state.faults.lock().rules.push(Rule {
            op,
            path_contains,
            remaining: times,
        });
    }

    /// Wraps a listing: the fault (if any) replaces it, the delay runs before the first
    /// item.
    fn list_stream(
        &self,
        prefix: Option<&Path>,
        list: impl FnOnce() -> BoxStream<'static, object_store::Result<ObjectMeta>>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let verdict = self
            .state
            .enter(Op::List, &[prefix.map_or("", |p| p.as_ref())]);
        if verdict.fault.is_none() && verdict.delay.is_zero() {
            return list();
        }
        let inner = match verdict.fault {
            Some(_) => stream::empty().boxed(),
            None => list(),
        };
        stream::once(async move { verdict.apply().await.map(|()| inner) })
            .try_flatten()
            .boxed()
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.state
            .enter(Op::Put, &[location.as_ref()])
            .apply()
            .await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.state
            .enter(Op::Put, &[location.as_ref()])
            .apply()
            .await?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FaultyUpload {
            inner,
            state: Arc::clone(&self.state),
            location: location.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let op = if options.head { Op::Head } else { Op::Get };
        self.state.enter(op, &[location.as_ref()]).apply().await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.state
            .enter(Op::Get, &[location.as_ref()])
            .apply()
            .await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // One inner delete per location, so an injected failure affects exactly its
        // location whatever the inner store does with errors in its input stream.
        let inner = Arc::clone(&self.inner);
        let state = Arc::clone(&self.state);
        locations
            .map(move |location| {
                let inner = Arc::clone(&inner);
                let state = Arc::clone(&state);
                async move {
                    let location = location?;
                    state
                        .enter(Op::Delete, &[location.as_ref()])
                        .apply()
                        .await?;
                    inner.delete(&location).await?;
                    Ok(location)
                }
            })
            .buffered(10)
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.list_stream(prefix, || self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.list_stream(prefix, || self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.state
            .enter(Op::List, &[prefix.map_or("", |p| p.as_ref())])
            .apply()
            .await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.state
            .enter(Op::Copy, &[from.as_ref(), to.as_ref()])
            .apply()
            .await?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.state
            .enter(Op::Rename, &[from.as_ref(), to.as_ref()])
            .apply()
            .await?;
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload whose `complete` is subject to [`Op::Put`] faults and delays.
///
/// An injected `complete` failure leaves the inner upload untouched: the caller may
/// retry `complete` or `abort`, as after a real failure.
#[derive(Debug)]
struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    state: Arc<State>,
    location: Path,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.state
            .check(Op::Put, &[self.location.as_ref()])
            .apply()
            .await?;
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[cfg(test)]
mod tests;
