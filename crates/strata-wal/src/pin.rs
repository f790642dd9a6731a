//! Live segments and the pins that keep them on disk.
//!
//! Invariants:
//! - P1: a pin is created only for the segment the writer is appending to (or
//!   cloned from a live pin), so once a closed segment's count is 0 it stays 0.
//! - P2: segments are removed oldest first and removal stops at the first one
//!   that is current or pinned, so the ids on disk stay contiguous (replay
//!   treats a missing id as corruption).

use crate::WalError;
use crate::io::sync_dir;
use crate::spare::Spares;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One segment file known to the WAL.
#[derive(Debug)]
pub(crate) struct SegmentEntry {
    pub(crate) id: u64,
    pub(crate) path: PathBuf,
    pins: AtomicUsize,
}

impl SegmentEntry {
    pub(crate) fn new(id: u64, path: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            id,
            path,
            pins: AtomicUsize::new(0),
        })
    }

    fn pinned(&self) -> bool {
        // Acquire pairs with the Release in `Pin::drop`: once 0 is seen, the
        // engine's work that preceded the drop happened before the removal.
        self.pins.load(Ordering::Acquire) > 0
    }
}

/// Keeps one segment from being removed while it lives. Dropping it releases
/// the segment; cloning pins it again.
pub struct Pin {
    entry: Arc<SegmentEntry>,
}

impl Pin {
    pub(crate) fn new(entry: &Arc<SegmentEntry>) -> Self {
        entry.pins.fetch_add(1, Ordering::AcqRel);
        Self {
            entry: Arc::clone(entry),
        }
    }

    /// The pinned segment's id.
    pub fn segment(&self) -> u64 {
        self.entry.id
    }
}

impl Clone for Pin {
    fn clone(&self) -> Self {
        Self::new(&self.entry)
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.entry.pins.fetch_sub(1, Ordering::Release);
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pin")
            .field("segment", &self.entry.id)
            .finish()
    }
}

/// The live segments, oldest first. Locked on rotation, removal and
/// `oldest_pinned`, never on the append or pin path.
#[derive(Debug)]
pub(crate) struct Registry {
    dir: PathBuf,
    spares: Spares,
    inner: Mutex<Live>,
    /// `inner.segments.len()`, readable without the lock.
    count: AtomicUsize,
}

#[derive(Debug, Default)]
struct Live {
    segments: BTreeMap<u64, Arc<SegmentEntry>>,
    /// The segment the writer appends to; `None` while the writer has no open
    /// segment (after a failed rotation).
    current: Option<u64>,
}

impl Registry {
    pub(crate) fn new(dir: PathBuf, spares: Spares) -> Self {
        Self {
            dir,
            spares,
            inner: Mutex::default(),
            count: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Live> {
        // The map stays consistent across a panic in a holder (every update
        // is a single insert or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a closed segment found on open.
    pub(crate) fn add_closed(&self, entry: Arc<SegmentEntry>) {
        let mut live = self.lock();
        live.segments.insert(entry.id, entry);
        self.count.store(live.segments.len(), Ordering::Relaxed);
    }

    /// Registers the segment the writer now appends to.
    pub(crate) fn set_current(&self, entry: Arc<SegmentEntry>) {
        let mut live = self.lock();
        live.current = Some(entry.id);
        live.segments.insert(entry.id, entry);
        self.count.store(live.segments.len(), Ordering::Relaxed);
    }

    /// The writer stopped appending to its segment.
    pub(crate) fn clear_current(&self) {
        self.lock().current = None;
    }

    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn oldest_pinned(&self) -> Option<u64> {
        self.lock()
            .segments
            .values()
            .find(|e| e.pinned())
            .map(|e| e.id)
    }

    /// Removes closed, unpinned segments with id < `before`, oldest first,
    /// stopping at the first that is current or pinned (P2). Each removal is
    /// made durable before the next, so a crash leaves a contiguous suffix.
    pub(crate) fn remove_before(&self, before: u64) -> Result<usize, WalError> {
        let mut live = self.lock();
        let mut removed = 0;
        while let Some((&id, entry)) = live.segments.first_key_value() {
            if id >= before || live.current == Some(id) || entry.pinned() {
                break;
            }
            let path = entry.path.clone();
            match self.spares.retire(id, &path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(WalError::io("remove segment", path, 0, e)),
            }
            live.segments.remove(&id);
            self.count.store(live.segments.len(), Ordering::Relaxed);
            removed += 1;
            sync_dir(&self.dir)
                .map_err(|e| WalError::io("fsync directory", self.dir.clone(), 0, e))?;
        }
        Ok(removed)
    }

    /// Where removed segments go to be reused (`spare.rs`).
    pub(crate) fn spares(&self) -> &Spares {
        &self.spares
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}
