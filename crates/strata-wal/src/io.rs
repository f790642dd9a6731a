//! The writer's file operations, behind a trait so tests can inject faults
//! (`io/fault.rs`). Open-time replay and segment removal use `std::fs` directly.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Directory-level operations of the writer thread.
pub(crate) trait Storage: Send + 'static {
    /// Creates (or truncates a leftover of) a segment file for writing.
    fn create(&mut self, path: &Path) -> io::Result<Box<dyn SegmentFile>>;
    /// Turns a spare (a zero-filled, synced file, see `spare.rs`) into the
    /// segment file `path` by renaming it; writes start at offset 0, over the
    /// zeros.
    fn adopt(&mut self, spare: &Path, path: &Path) -> io::Result<Box<dyn SegmentFile>>;
    /// Makes the directory's entries (a new segment's name) durable.
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()>;
}

/// An open segment file, written sequentially.
pub(crate) trait SegmentFile: Send {
    /// Writes all of `buf` at the current end. On error an unknown prefix of
    /// `buf` may have been written.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// `fdatasync`: the written bytes and the file size are on stable storage.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Truncates the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default)]
pub(crate) struct FsStorage;

impl Storage for FsStorage {
    fn create(&mut self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(FsSegment(file)))
    }

    fn adopt(&mut self, spare: &Path, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        std::fs::rename(spare, path)?;
        let file = OpenOptions::new().write(true).open(path)?;
        Ok(Box::new(FsSegment(file)))
    }

    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        sync_dir(dir)
    }
}

/// fsync of a directory, so entries created or removed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[derive(Debug)]
struct FsSegment(File);

impl SegmentFile for FsSegment {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

#[cfg(test)]
pub(crate) mod fault;
