//! Spare segment files: a segment whose records are no longer needed is
//! renamed aside instead of deleted, and the next new segment is made from it.
//!
//! Why: an `fdatasync` after a write that grows a file must also commit the new
//! size and block allocation through the file system's journal (ext4, xfs),
//! and that commit waits behind every other metadata change on the disk, such
//! as Parquet files being written and synced. Overwriting blocks a former
//! segment already wrote changes no metadata, so the sync is the data and a
//! cache flush only. (`fallocate` is not enough: it reserves "unwritten"
//! blocks, and the first write into them is a metadata change again; writing
//! zeros ahead instead doubles the log's disk traffic.) `docs/BENCHMARKS.md`
//! has the latency this buys.
//!
//! Invariants:
//! - S1: a spare is a whole former segment: its blocks are allocated and
//!   written.
//! - S2: every record left in a spare has a sequence number below the
//!   `first_seq` of any segment made from it, because sequence numbers only
//!   grow. The reader ends a segment's records at such a stale record or at
//!   zeros (`format.rs`), so stale bytes are never replayed.
//! - S3: spares are named `<id>.spare`, never a segment name, so open does
//!   not read them; the next open deletes leftovers.
//! - S4: one spare at most; other retired segments are deleted.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

const SUFFIX: &str = ".spare";

/// The spare slot of one WAL directory.
#[derive(Debug)]
pub(crate) struct Spares {
    dir: PathBuf,
    enabled: bool,
    slot: Mutex<Option<PathBuf>>,
}

impl Spares {
    /// Deletes leftover spares in `dir` (S3). With `enabled` false, retired
    /// segments are always deleted.
    pub(crate) fn new(dir: &Path, enabled: bool) -> io::Result<Self> {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(SUFFIX))
            {
                fs::remove_file(&path)?;
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            enabled,
            slot: Mutex::new(None),
        })
    }

    /// Retires segment `id` at `path`, whose records are persisted elsewhere:
    /// keeps it as the spare if the slot is empty, deletes it otherwise. The
    /// caller syncs the directory.
    pub(crate) fn retire(&self, id: u64, path: &Path) -> io::Result<()> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if self.enabled && slot.is_none() {
            let spare = self.dir.join(format!("{id:020}{SUFFIX}"));
            fs::rename(path, &spare)?;
            *slot = Some(spare);
            return Ok(());
        }
        fs::remove_file(path)
    }

    /// The spare, if there is one; the caller owns the file from now on.
    pub(crate) fn take(&self) -> Option<PathBuf> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_retired_segment_is_kept_others_deleted_leftovers_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("00000000000000000007.spare"), b"left").unwrap();
        let spares = Spares::new(d, true).unwrap();
        assert!(!d.join("00000000000000000007.spare").exists());
        for id in [1, 2] {
            fs::write(d.join(format!("{id}.wal")), b"records").unwrap();
        }
        spares.retire(1, &d.join("1.wal")).unwrap();
        spares.retire(2, &d.join("2.wal")).unwrap();
        assert!(!d.join("1.wal").exists() && !d.join("2.wal").exists());
        let spare = spares.take().unwrap();
        assert_eq!(spare, d.join("00000000000000000001.spare"));
        assert_eq!(fs::read(&spare).unwrap(), b"records");
        assert_eq!(spares.take(), None);

        let off = Spares::new(d, false).unwrap();
        fs::write(d.join("3.wal"), b"x").unwrap();
        off.retire(3, &d.join("3.wal")).unwrap();
        assert_eq!(off.take(), None);
        assert_eq!(fs::read_dir(d).unwrap().count(), 0);
    }
}
