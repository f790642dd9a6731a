//! The `Wal` handle: open (replay, then start the writer), append, segment
//! removal, close.

use crate::format::{MAX_RECORD_BYTES, frame_crc};
use crate::io::{FsStorage, Storage, sync_dir};
use crate::pin::{Pin, Registry};
use crate::replay::{Record, ReplayStats, replay};
use crate::spare::Spares;
use crate::writer::{Counters, Pending, Queue, Shared, State, Writer, WriterArgs};
use crate::{OpenError, SyncMode, WalConfig, WalError};
use std::collections::VecDeque;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// A segmented write-ahead log with one writer thread. `Send + Sync`; share it
/// in an `Arc`.
pub struct Wal {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<Result<(), WalError>>>>,
    mode: SyncMode,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.registry.dir())
            .field("sync", &self.mode)
            .field("current_segment", &self.current_segment())
            .finish_non_exhaustive()
    }
}

/// An accepted append. `seq` is its sequence number (0 if the append was
/// rejected outright: too large, or the WAL is closed; `wait` then returns the
/// error).
#[derive(Debug)]
pub struct Appended {
    /// Sequence number assigned to the record.
    pub seq: u64,
    rx: oneshot::Receiver<Result<Written, WalError>>,
}

impl Appended {
    /// Resolves when the record is durable as the sync mode promises: after
    /// `fdatasync` for [`SyncMode::Always`] (unless appended with `no_sync`),
    /// after the write to the kernel otherwise. An error means the record was
    /// not acknowledged.
    pub async fn wait(self) -> Result<Written, WalError> {
        self.rx.await.unwrap_or(Err(WalError::WriterStopped))
    }

    /// [`Appended::wait`] for threads outside an async runtime. Panics if
    /// called from within a tokio runtime's async context.
    pub fn wait_blocking(self) -> Result<Written, WalError> {
        self.rx
            .blocking_recv()
            .unwrap_or(Err(WalError::WriterStopped))
    }
}

/// A record that reached the durability its append asked for.
#[derive(Debug)]
pub struct Written {
    /// Its sequence number.
    pub seq: u64,
    /// The segment holding it.
    pub segment: u64,
    /// Keeps `segment` on disk until dropped.
    pub pin: Pin,
}

/// Counters since open. Each field is read atomically on its own; the set is
/// not a consistent snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Appends accepted (queued).
    pub appends: u64,
    /// Record bytes written to segments (frames, headers excluded).
    pub bytes: u64,
    /// Successful `fdatasync` calls on segments (new segment headers included).
    pub syncs: u64,
    /// Write groups (one `write` each).
    pub groups: u64,
    /// Failed group writes and failed syncs.
    pub failures: u64,
    /// Segment files on disk.
    pub segments: usize,
}

impl Wal {
    /// Opens the log in `config.dir` (created if missing): validates every
    /// segment, truncates a torn tail, streams every surviving record to
    /// `on_record` in sequence order, then starts the writer thread on a new
    /// segment. Sequence numbers continue after the last one seen (the first
    /// ever is 1).
    ///
    /// On error `on_record` may already have seen a prefix of the log.
    pub fn open<E>(
        config: WalConfig,
        on_record: impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(Wal, ReplayStats), OpenError<E>> {
        Self::open_with(config, Box::new(FsStorage), on_record)
    }

    pub(crate) fn open_with<E>(
        config: WalConfig,
        storage: Box<dyn Storage>,
        mut on_record: impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(Wal, ReplayStats), OpenError<E>> {
        let WalConfig {
            dir,
            sync,
            segment_bytes,
            skip_corrupt,
            recycle,
        } = config;
        if dir.as_os_str().is_empty() {
            return Err(WalError::InvalidConfig("the WAL directory is not set".into()).into());
        }
        if segment_bytes == 0 {
            return Err(
                WalError::InvalidConfig("segment_bytes must be greater than 0".into()).into(),
            );
        }
        create_dir(&dir)?;
        let replayed = replay(&dir, skip_corrupt, &mut on_record)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                next_seq: replayed.next_seq,
                pending: VecDeque::new(),
                state: State::Open,
            }),
            wake: Condvar::new(),
            counters: Counters::default(),
            registry: Registry::new(
                dir.clone(),
                Spares::new(&dir, recycle).map_err(|e| {
                    WalError::io("remove leftover spare segments", dir.clone(), 0, e)
                })?,
            ),
            current: AtomicU64::new(replayed.next_id),
        });
        for entry in replayed.segments {
            shared.registry.add_closed(entry);
        }
        let writer = Writer::start(WriterArgs {
            shared: Arc::clone(&shared),
            storage,
            dir: dir.clone(),
            mode: sync,
            segment_bytes,
            next_id: replayed.next_id,
            next_seq: replayed.next_seq,
            prev_len: replayed.prev_len,
        })?;
        let handle = std::thread::Builder::new()
            .name("strata-wal".into())
            .spawn(move || writer.run())
            .map_err(|e| WalError::io("start the writer thread", dir, 0, e))?;
        let wal = Wal {
            shared,
            writer: Mutex::new(Some(handle)),
            mode: sync,
        };
        Ok((wal, replayed.stats))
    }

    /// Queues one record; never waits for I/O. The sequence number is assigned
    /// here, in file order. With `no_sync`, [`Appended::wait`] resolves after
    /// the write to the kernel even in [`SyncMode::Always`] (the group's sync
    /// still runs for the other appends).
    pub fn append(&self, payload: Vec<u8>, no_sync: bool) -> Appended {
        let (reply, rx) = oneshot::channel();
        if payload.len() > MAX_RECORD_BYTES {
            let _ = reply.send(Err(WalError::RecordTooLarge {
                len: payload.len(),
                max: MAX_RECORD_BYTES,
            }));
            return Appended { seq: 0, rx };
        }
        // The CRC covers seq ++ payload; the payload's part is computed here,
        // off the lock, and combined with the seq's once it is known.
        let payload_crc = crc32c::crc32c(&payload);
        let mut q = self.shared.lock();
        if q.state != State::Open {
            drop(q);
            let _ = reply.send(Err(WalError::Closed));
            return Appended { seq: 0, rx };
        }
        let seq = q.next_seq;
        q.next_seq += 1;
        let seq_crc = frame_crc(seq, &[]);
        q.pending.push_back(Pending {
            seq,
            crc: crc32c::crc32c_combine(seq_crc, payload_crc, payload.len()),
            payload,
            no_sync,
            reply,
        });
        drop(q);
        self.shared.wake.notify_one();
        self.shared.counters.appends.fetch_add(1, Ordering::Relaxed);
        Appended { seq, rx }
    }

    /// Sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.shared.lock().next_seq
    }

    /// Makes the next append's sequence number at least `min`. Numbers of
    /// records lost from an unsynced tail are reissued after a crash; a caller
    /// that recorded numbers elsewhere (a persisted-through watermark) calls
    /// this after open so those numbers are never handed out again. The skipped
    /// numbers start a new segment (a segment's numbers are dense).
    pub fn advance_seq_to(&self, min: u64) {
        let mut q = self.shared.lock();
        q.next_seq = q.next_seq.max(min);
    }

    /// Deletes closed segments with id < `segment` that no [`Pin`] holds,
    /// oldest first, stopping at the first pinned or current one (so ids on
    /// disk stay contiguous). Returns how many files were removed. Call it once
    /// the records in those segments are persisted elsewhere.
    pub fn remove_segments_before(&self, segment: u64) -> Result<usize, WalError> {
        self.shared.registry.remove_before(segment)
    }

    /// Smallest segment id with an outstanding [`Pin`].
    pub fn oldest_pinned_segment(&self) -> Option<u64> {
        self.shared.registry.oldest_pinned()
    }

    /// Id of the segment new appends go to.
    pub fn current_segment(&self) -> u64 {
        self.shared.current.load(Ordering::Acquire)
    }

    /// Writes and syncs everything queued, then stops the writer thread.
    /// Later appends fail with [`WalError::Closed`]. Calling it again returns
    /// `Ok`. Also run, best effort, on drop.
    pub fn close(&self) -> Result<(), WalError> {
        {
            let mut q = self.shared.lock();
            if q.state == State::Open {
                q.state = State::Closing;
            }
        }
        self.shared.wake.notify_all();
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match handle {
            None => Ok(()),
            Some(h) => h.join().unwrap_or(Err(WalError::WriterStopped)),
        }
    }

    /// Counters since open; O(1).
    pub fn stats(&self) -> WalStats {
        let c = &self.shared.counters;
        WalStats {
            appends: c.appends.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            groups: c.groups.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            segments: self.shared.registry.len(),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!("WAL: close on drop failed: {e}");
        }
    }
}

/// Creates the WAL directory; a new directory's entry is made durable by
/// syncing its parent.
fn create_dir(dir: &Path) -> Result<(), WalError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| WalError::io("create directory", dir, 0, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent).map_err(|e| WalError::io("fsync directory", parent, 0, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
