//! The writer thread: group commit, rotation and failure handling.
//!
//! Each turn takes everything queued (up to [`GROUP_MAX_BYTES`]), writes it with
//! one `write_all`, completes the waiters that need no sync, then runs one
//! `fdatasync` if any waiter needs it and completes those. Appends arriving
//! meanwhile queue up and form the next group: that is the group commit.
//!
//! Invariants:
//! - W1: a waiter is completed with `Ok` only after its bytes were written
//!   (every mode) and, when it needs a sync, after an `fdatasync` that started
//!   after the write returned.
//! - W2: a segment's records are the dense sequence from its header's
//!   `first_seq`. A group whose write fails is removed from the file (or cut off
//!   on open through W3) and the writer moves to a new segment, whose header
//!   starts after the failed numbers. Numbers skipped by `advance_seq_to`
//!   also start a new segment: gaps in sequence numbers exist only between
//!   segments.
//! - W3: a new segment's header records the previous segment's valid length;
//!   on open, bytes beyond it are dropped. A failed write's partial frames are
//!   therefore never replayed, even when `set_len` could not remove them.
//! - W4: after a failed `fdatasync` the segment is never synced or written
//!   again (on Linux a retried fsync can report success for pages whose
//!   writeback failed); its written bytes are kept, so records whose sync
//!   failed may reappear on replay. They were never acknowledged as durable.

use crate::format::{
    FRAME_HEADER_LEN, HEADER_LEN, SegmentHeader, encode_frame_with_crc, segment_file_name,
};
use crate::io::{SegmentFile, Storage};
use crate::pin::{Pin, Registry, SegmentEntry};
use crate::{SyncMode, WalError, Written};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::oneshot;

/// Most frame bytes written in one group (one record more if a single record
/// is larger), bounding the encode buffer.
pub(crate) const GROUP_MAX_BYTES: usize = 32 << 20;

pub(crate) type Reply = oneshot::Sender<Result<Written, WalError>>;

/// One queued append.
pub(crate) struct Pending {
    pub(crate) seq: u64,
    pub(crate) crc: u32,
    pub(crate) payload: Vec<u8>,
    pub(crate) no_sync: bool,
    pub(crate) reply: Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// `close` was called: the writer drains the queue, syncs and exits.
    Closing,
    /// The writer exited; nothing is written any more.
    Stopped,
}

pub(crate) struct Queue {
    /// Sequence number of the next append.
    pub(crate) next_seq: u64,
    pub(crate) pending: VecDeque<Pending>,
    pub(crate) state: State,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) appends: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) groups: AtomicU64,
    pub(crate) failures: AtomicU64,
}

/// State shared by the `Wal` handle and the writer thread.
pub(crate) struct Shared {
    pub(crate) queue: Mutex<Queue>,
    pub(crate) wake: Condvar,
    pub(crate) counters: Counters,
    pub(crate) registry: Registry,
    /// Id of the segment appends go to (or will go to, while the writer has
    /// none open after a failure).
    pub(crate) current: AtomicU64,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is consistent after a panic in a holder (pushes and pops
        // only); the writer's stop guard relies on locking it while unwinding.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct OpenSegment {
    entry: Arc<SegmentEntry>,
    file: Box<dyn SegmentFile>,
    /// Bytes written, header included.
    written: u64,
    /// Bytes known to be on stable storage.
    synced: u64,
    /// Size of the file when it was made from a spare (stale bytes past
    /// `written`); 0 for a segment created empty.
    allocated: u64,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    storage: Box<dyn Storage>,
    dir: PathBuf,
    mode: SyncMode,
    segment_bytes: u64,
    seg: Option<OpenSegment>,
    /// Id of the next segment to create.
    next_id: u64,
    /// Sequence number of the first record of the next group.
    next_seq: u64,
    /// Valid length of the last segment, for the next header (W3).
    prev_len: u64,
    buf: Vec<u8>,
    group: Vec<Pending>,
    needs_sync: Vec<Pending>,
    last_sync: Instant,
}

pub(crate) struct WriterArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) storage: Box<dyn Storage>,
    pub(crate) dir: PathBuf,
    pub(crate) mode: SyncMode,
    pub(crate) segment_bytes: u64,
    pub(crate) next_id: u64,
    pub(crate) next_seq: u64,
    pub(crate) prev_len: u64,
}

impl Writer {
    /// A writer with its first segment created and durable.
    pub(crate) fn start(args: WriterArgs) -> Result<Self, WalError> {
        let mut w = Self {
            shared: args.shared,
            storage: args.storage,
            dir: args.dir,
            mode: args.mode,
            segment_bytes: args.segment_bytes,
            seg: None,
            next_id: args.next_id,
            next_seq: args.next_seq,
            prev_len: args.prev_len,
            buf: Vec::new(),
            group: Vec::new(),
            needs_sync: Vec::new(),
            last_sync: Instant::now(),
        };
        w.open_segment()?;
        Ok(w)
    }

    /// The thread's body. Returns the result of the final sync.
    pub(crate) fn run(mut self) -> Result<(), WalError> {
        let _stop = StopGuard(Arc::clone(&self.shared));
        loop {
            let closing = self.take_group();
            if !self.group.is_empty() {
                self.write_group();
            } else if closing {
                return self.finish();
            }
        }
    }

    /// Blocks until appends are queued (moving them into `self.group`) or the
    /// WAL is closing (returns true). Runs interval syncs when due.
    fn take_group(&mut self) -> bool {
        let mut q = self.shared.lock();
        loop {
            if !q.pending.is_empty() {
                let mut bytes = 0;
                while let Some(p) = q.pending.front() {
                    let size = FRAME_HEADER_LEN + p.payload.len();
                    if !self.group.is_empty() && bytes + size > GROUP_MAX_BYTES {
                        break;
                    }
                    bytes += size;
                    let Some(p) = q.pending.pop_front() else {
                        break;
                    };
                    self.group.push(p);
                }
                return false;
            }
            if q.state != State::Open {
                return true;
            }
            q = match self.interval_deadline() {
                None => self
                    .shared
                    .wake
                    .wait(q)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        drop(q);
                        self.interval_sync();
                        self.shared.lock()
                    } else {
                        self.shared
                            .wake
                            .wait_timeout(q, deadline - now)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                }
            };
        }
    }

    fn write_group(&mut self) {
        let (Some(first), Some(last)) = (self.group.first(), self.group.last()) else {
            return;
        };
        let (first, last) = (first.seq, last.seq);
        if first != self.next_seq {
            // `advance_seq_to` skipped numbers: they go into a new segment
            // whose header starts at `first` (W2).
            self.next_seq = first;
            if self.seg.is_some() {
                self.rotate();
            }
        }
        // A segment created now starts at `first` (W2).
        if self.seg.is_none()
            && let Err(e) = self.open_segment()
        {
            self.next_seq = last + 1;
            self.fail_group(&e);
            return;
        }
        self.next_seq = last + 1;
        self.buf.clear();
        for p in &mut self.group {
            encode_frame_with_crc(p.seq, p.crc, &p.payload, &mut self.buf);
            // Release the payload now: the waiter may wait for a sync.
            p.payload = Vec::new();
        }
        let Some(seg) = self.seg.as_mut() else {
            // Unreachable: a segment was opened above or the group failed.
            self.fail_group(&WalError::WriterStopped);
            return;
        };
        let start = seg.written;
        if let Err(e) = seg.file.write_all(&self.buf) {
            let err = WalError::io("write", seg.entry.path.clone(), start, e);
            tracing::error!(first_seq = first, last_seq = last, "WAL: {err}");
            // Remove the partial group so the file stays clean; if that fails
            // too, the next header's `prev_len` makes open drop it (W3).
            if let Err(e) = seg.file.set_len(start) {
                tracing::warn!(segment = %seg.entry.path.display(), offset = start, "WAL: cannot truncate after a failed write ({e}); open will drop the bytes");
            }
            self.fail_group(&err);
            self.close_segment(start);
            self.open_segment_or_log();
            return;
        }
        seg.written += self.buf.len() as u64;
        let c = &self.shared.counters;
        c.groups.fetch_add(1, Ordering::Relaxed);
        c.bytes.fetch_add(self.buf.len() as u64, Ordering::Relaxed);

        let sync_for_waiters =
            self.mode == SyncMode::Always && self.group.iter().any(|p| !p.no_sync);
        let entry = Arc::clone(&seg.entry);
        for p in self.group.drain(..) {
            if sync_for_waiters && !p.no_sync {
                self.needs_sync.push(p);
            } else {
                complete(p, &entry);
            }
        }
        if sync_for_waiters {
            match self.sync() {
                Ok(()) => self.needs_sync.drain(..).for_each(|p| complete(p, &entry)),
                Err(err) => {
                    tracing::error!(first_seq = first, last_seq = last, "WAL: {err}");
                    let len = self.seg.as_ref().map_or(0, |s| s.written);
                    fail_all(&mut self.needs_sync, &err);
                    self.close_segment(len);
                    self.open_segment_or_log();
                }
            }
        }
        if self
            .seg
            .as_ref()
            .is_some_and(|s| s.written >= self.segment_bytes)
        {
            self.rotate();
        } else if self
            .interval_deadline()
            .is_some_and(|d| Instant::now() >= d)
        {
            self.interval_sync();
        }
    }

    /// `fdatasync` of the current segment. On failure the segment must be
    /// abandoned (W4); the caller does that.
    fn sync(&mut self) -> Result<(), WalError> {
        let Some(seg) = self.seg.as_mut() else {
            return Ok(());
        };
        let synced = seg.written;
        seg.file.sync_data().map_err(|e| {
            self.shared
                .counters
                .failures
                .fetch_add(1, Ordering::Relaxed);
            WalError::io("fdatasync", seg.entry.path.clone(), seg.synced, e)
        })?;
        seg.synced = synced;
        self.last_sync = Instant::now();
        self.shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn dirty(&self) -> bool {
        self.seg.as_ref().is_some_and(|s| s.synced < s.written)
    }

    fn interval_deadline(&self) -> Option<Instant> {
        match self.mode {
            SyncMode::Interval(every) if self.dirty() => Some(self.last_sync + every),
            _ => None,
        }
    }

    /// A background sync: every record in it was already acknowledged, so a
    /// failure can only be logged (and the segment abandoned, W4).
    fn interval_sync(&mut self) {
        if !self.dirty() {
            return;
        }
        if let Err(err) = self.sync() {
            tracing::error!(
                "WAL: {err}; records acknowledged since the last sync may not survive a power loss"
            );
            let len = self.seg.as_ref().map_or(0, |s| s.written);
            self.close_segment(len);
            self.open_segment_or_log();
        }
    }

    /// Closes a full segment (synced first: it is never touched again) and
    /// starts the next.
    fn rotate(&mut self) {
        if self.dirty()
            && let Err(err) = self.sync()
        {
            tracing::error!(
                "WAL: {err} while closing a full segment; records acknowledged without a sync may not survive a power loss"
            );
        }
        self.cut_spare_tail();
        let len = self.seg.as_ref().map_or(0, |s| s.written);
        self.close_segment(len);
        self.open_segment_or_log();
    }

    /// Removes the stale bytes a spare left past the records, so that a closed
    /// segment's length is the `prev_len` its successor records. Best effort:
    /// if it fails, open cuts the bytes past `prev_len` instead (W3).
    fn cut_spare_tail(&mut self) {
        if let Some(seg) = self.seg.as_mut()
            && seg.allocated > seg.written
            && let Err(e) = seg.file.set_len(seg.written)
        {
            tracing::warn!(segment = %seg.entry.path.display(), offset = seg.written, "WAL: cannot cut the stale bytes after a segment's records ({e}); open will");
        }
    }

    /// Stops appending to the current segment; `len` is its valid length,
    /// recorded in the next segment's header (W3).
    fn close_segment(&mut self, len: u64) {
        if self.seg.take().is_some() {
            self.prev_len = len;
            self.shared.registry.clear_current();
            self.shared.current.store(self.next_id, Ordering::Release);
        }
    }

    fn open_segment_or_log(&mut self) {
        if let Err(err) = self.open_segment() {
            tracing::error!(
                "WAL: cannot start a new segment: {err}; appends fail until one can be created"
            );
        }
    }

    /// Creates segment `next_id`: header written and synced, directory synced,
    /// before any record goes into it (F1).
    fn open_segment(&mut self) -> Result<(), WalError> {
        let id = self.next_id;
        let path = self.dir.join(segment_file_name(id));
        let header = SegmentHeader {
            id,
            first_seq: self.next_seq,
            prev_len: self.prev_len,
        };
        let failed = |op, e| WalError::io(op, path.clone(), 0, e);
        let (mut file, allocated) = match self.shared.registry.spares().take() {
            Some(spare) => {
                let allocated = std::fs::metadata(&spare).map_or(0, |m| m.len());
                let file = self.storage.adopt(&spare, &path).map_err(|e| {
                    let _ = std::fs::remove_file(&spare);
                    failed("rename a spare into a segment", e)
                })?;
                (file, allocated)
            }
            None => (
                self.storage
                    .create(&path)
                    .map_err(|e| failed("create segment", e))?,
                0,
            ),
        };
        file.write_all(&header.encode())
            .map_err(|e| failed("write segment header", e))?;
        file.sync_data()
            .map_err(|e| failed("fdatasync new segment", e))?;
        self.storage
            .sync_dir(&self.dir)
            .map_err(|e| WalError::io("fsync directory", self.dir.clone(), 0, e))?;
        self.shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
        let entry = SegmentEntry::new(id, path);
        self.shared.registry.set_current(Arc::clone(&entry));
        self.shared.current.store(id, Ordering::Release);
        self.seg = Some(OpenSegment {
            entry,
            file,
            written: HEADER_LEN as u64,
            synced: HEADER_LEN as u64,
            allocated,
        });
        self.next_id += 1;
        Ok(())
    }

    fn fail_group(&mut self, err: &WalError) {
        self.shared
            .counters
            .failures
            .fetch_add(1, Ordering::Relaxed);
        fail_all(&mut self.group, err);
    }

    /// Close: everything queued has been written; sync what is not yet durable.
    fn finish(&mut self) -> Result<(), WalError> {
        if self.dirty() {
            self.sync()?;
        }
        self.cut_spare_tail();
        Ok(())
    }
}

fn complete(p: Pending, entry: &Arc<SegmentEntry>) {
    // A dropped receiver drops the `Written` and with it the pin.
    let _ = p.reply.send(Ok(Written {
        seq: p.seq,
        segment: entry.id,
        pin: Pin::new(entry),
    }));
}

fn fail_all(waiters: &mut Vec<Pending>, err: &WalError) {
    for p in waiters.drain(..) {
        let _ = p.reply.send(Err(err.duplicate()));
    }
}

/// Marks the writer stopped when its thread ends, normally or by a panic, and
/// drops the queued replies so their waiters see `WriterStopped` instead of
/// waiting forever.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let stranded = {
            let mut q = self.0.lock();
            q.state = State::Stopped;
            std::mem::take(&mut q.pending)
        };
        drop(stranded);
    }
}

#[cfg(test)]
mod tests;
