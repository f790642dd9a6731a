//! Fault-injecting storage for tests: real files, but the next N writes, syncs,
//! truncations or creations fail with a chosen OS error. A failing write may
//! first write part of its buffer, as a real short write followed by an error
//! does.

use super::{FsStorage, SegmentFile, Storage};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

pub(crate) const ENOSPC: i32 = 28;
pub(crate) const EIO: i32 = 5;

/// What to break next. Shared between the test and the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Fail this many upcoming `write_all` calls.
    pub(crate) writes: AtomicU32,
    /// A failing write first writes half of its buffer.
    pub(crate) partial: AtomicBool,
    /// Fail this many upcoming `sync_data` calls.
    pub(crate) syncs: AtomicU32,
    /// Fail every `set_len` while set.
    pub(crate) set_len: AtomicBool,
    /// Fail this many upcoming segment creations.
    pub(crate) creates: AtomicU32,
    /// OS error code of injected failures (default ENOSPC).
    pub(crate) errno: AtomicU32,
    /// Successful `sync_data` calls.
    pub(crate) synced: AtomicU64,
}

impl Faults {
    pub(crate) fn new() -> Arc<Self> {
        let f = Self::default();
        f.errno.store(ENOSPC as u32, Ordering::Relaxed);
        Arc::new(f)
    }

    fn take(counter: &AtomicU32) -> bool {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    fn error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno.load(Ordering::Relaxed) as i32)
    }
}

#[derive(Debug)]
pub(crate) struct FaultStorage {
    inner: FsStorage,
    faults: Arc<Faults>,
}

impl FaultStorage {
    pub(crate) fn new(faults: Arc<Faults>) -> Self {
        Self {
            inner: FsStorage,
            faults,
        }
    }
}

impl Storage for FaultStorage {
    fn create(&mut self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        if Faults::take(&self.faults.creates) {
            return Err(self.faults.error());
        }
        Ok(Box::new(FaultSegment {
            inner: self.inner.create(path)?,
            faults: Arc::clone(&self.faults),
        }))
    }

    fn adopt(&mut self, spare: &Path, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        if Faults::take(&self.faults.creates) {
            return Err(self.faults.error());
        }
        Ok(Box::new(FaultSegment {
            inner: self.inner.adopt(spare, path)?,
            faults: Arc::clone(&self.faults),
        }))
    }

    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
}

struct FaultSegment {
    inner: Box<dyn SegmentFile>,
    faults: Arc<Faults>,
}

impl SegmentFile for FaultSegment {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if Faults::take(&self.faults.writes) {
            if self.faults.partial.load(Ordering::Relaxed) {
                self.inner.write_all(&buf[..buf.len() / 2])?;
            }
            return Err(self.faults.error());
        }
        self.inner.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        if Faults::take(&self.faults.syncs) {
            return Err(self.faults.error());
        }
        self.inner.sync_data()?;
        self.faults.synced.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if self.faults.set_len.load(Ordering::Relaxed) {
            return Err(self.faults.error());
        }
        self.inner.set_len(len)
    }
}
