//! Open-time validation, repair and replay of the segments in a directory.
//!
//! Each segment is read whole into one reused buffer and its records are handed
//! out as slices of it (no allocation per record). What open does with damage
//! (`docs/format/wal.md`, "Opening"):
//! - a torn tail of the last segment (a partial or checksum-bad last record
//!   that no valid record follows, or a header-only segment whose header is
//!   incomplete) is cut off with a warning;
//! - unused space after a segment's last record (zeros, or stale records of a
//!   recycled file) is cut off;
//! - bytes past the length the next segment's header recorded for its
//!   predecessor (left by a failed write) are cut off with a warning;
//! - anything else is corruption: open fails naming the file and offset, or,
//!   with `skip_corrupt`, the rest of that segment is skipped with a warning.

use crate::format::{
    HEADER_LEN, HeaderDefect, SegmentHeader, SegmentReader, parse_segment_file_name,
};
use crate::pin::SegmentEntry;
use crate::{OpenError, WalError};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One replayed record, borrowed from the segment being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Sequence number (strictly increasing over the whole log).
    pub seq: u64,
    /// Id of the segment holding it.
    pub segment: u64,
    /// The bytes that were appended.
    pub payload: &'a [u8],
}

/// What open found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Segment files read.
    pub segments: usize,
    /// Records handed to the callback.
    pub records: u64,
    /// Valid segment bytes read (headers and frames).
    pub bytes: u64,
    /// Bytes cut off: torn tails, unused space after the last record (zeros,
    /// stale records of a recycled file), incomplete headers, and bytes past the length recorded by a
    /// successor segment.
    pub truncated_bytes: u64,
    /// Corrupt regions skipped because `skip_corrupt` was set: each is the rest
    /// of one segment from the corrupt byte on (or a whole segment with a bad
    /// header, or a missing segment). Their records are lost.
    pub skipped_corrupt: u64,
}

/// State the writer continues from.
#[derive(Debug)]
pub(crate) struct Replayed {
    pub(crate) stats: ReplayStats,
    /// Sequence number of the next append.
    pub(crate) next_seq: u64,
    /// Id of the segment to create for appends.
    pub(crate) next_id: u64,
    /// Length of the last existing segment, recorded in the new segment's header.
    pub(crate) prev_len: u64,
    pub(crate) segments: Vec<Arc<SegmentEntry>>,
}

struct Scan<'c, E, F> {
    skip_corrupt: bool,
    on_record: &'c mut F,
    stats: ReplayStats,
    _e: std::marker::PhantomData<E>,
}

pub(crate) fn replay<E, F>(
    dir: &Path,
    skip_corrupt: bool,
    on_record: &mut F,
) -> Result<Replayed, OpenError<E>>
where
    F: FnMut(Record<'_>) -> Result<(), E>,
{
    let mut files = list_segments(dir)?;
    let mut scan = Scan {
        skip_corrupt,
        on_record,
        stats: ReplayStats::default(),
        _e: std::marker::PhantomData,
    };
    if let Some((_, path)) = files.last()
        && scan.drop_torn_header(dir, path)?
    {
        files.pop();
    }

    let mut buf = Vec::new();
    // Smallest sequence number the next segment may start at.
    let mut min_next = 1u64;
    let mut prev_len = 0u64;
    let mut segments = Vec::with_capacity(files.len());
    for (i, (id, path)) in files.iter().enumerate() {
        if i > 0 && *id != files[i - 1].0 + 1 {
            scan.corrupt(
                path,
                0,
                format!(
                    "segment {} is missing (the previous file is segment {})",
                    files[i - 1].0 + 1,
                    files[i - 1].0
                ),
            )?;
        }
        let successor = match files.get(i + 1) {
            Some((next_id, next_path)) if *next_id == id + 1 => read_header(next_path)?.ok(),
            _ => None,
        };
        read_whole(path, &mut buf)?;
        let is_last = i + 1 == files.len();
        let (len, next) = scan.segment(*id, path, &mut buf, is_last, successor, min_next)?;
        min_next = min_next.max(next);
        prev_len = len;
        segments.push(SegmentEntry::new(*id, path.clone()));
    }
    Ok(Replayed {
        stats: scan.stats,
        next_seq: min_next,
        next_id: files.last().map_or(1, |(id, _)| id + 1),
        prev_len,
        segments,
    })
}

impl<E, F> Scan<'_, E, F>
where
    F: FnMut(Record<'_>) -> Result<(), E>,
{
    /// Replays one segment; returns its length on disk afterwards and the
    /// sequence number its successor may start at.
    fn segment(
        &mut self,
        id: u64,
        path: &Path,
        buf: &mut Vec<u8>,
        is_last: bool,
        successor: Option<SegmentHeader>,
        min_next: u64,
    ) -> Result<(u64, u64), OpenError<E>> {
        self.stats.segments += 1;
        // A failed write can leave bytes past the length its successor's
        // header recorded; they were never acknowledged.
        if let Some(limit) = successor.map(|h| h.prev_len)
            && (buf.len() as u64) > limit
            && limit >= HEADER_LEN as u64
        {
            let dropped = buf.len() as u64 - limit;
            tracing::warn!(
                segment = %path.display(),
                offset = limit,
                bytes_dropped = dropped,
                "WAL: dropping bytes after the length recorded by the next segment (left by a failed write)"
            );
            truncate(path, limit)?;
            buf.truncate(limit as usize);
            self.stats.truncated_bytes += dropped;
        }
        let len = buf.len() as u64;
        let mut reader = match SegmentReader::new(buf) {
            Ok(r) => r,
            Err(defect) => {
                self.corrupt(path, 0, defect.to_string())?;
                return Ok((len, min_next));
            }
        };
        let header = reader.header();
        if header.id != id {
            self.corrupt(
                path,
                0,
                format!(
                    "header names segment {} but the file is segment {id}",
                    header.id
                ),
            )?;
            return Ok((len, min_next));
        }
        if header.first_seq < min_next {
            self.corrupt(
                path,
                0,
                format!(
                    "sequence numbers go backwards: segment starts at {} but {} was already replayed",
                    header.first_seq,
                    min_next - 1
                ),
            )?;
            return Ok((len, min_next));
        }
        for frame in reader.by_ref() {
            (self.on_record)(Record {
                seq: frame.seq,
                segment: id,
                payload: frame.payload,
            })
            .map_err(OpenError::Callback)?;
            self.stats.records += 1;
        }
        let valid = reader.valid_len() as u64;
        self.stats.bytes += valid;
        let next = reader.next_seq();
        let Some(defect) = reader.defect() else {
            if let Some(limit) = successor.map(|h| h.prev_len)
                && valid < limit
            {
                self.corrupt(
                    path,
                    valid,
                    format!("segment's records end at byte {valid} but the next segment recorded {limit} bytes for it"),
                )?;
                return Ok((len, next));
            }
            if reader.unused_tail() > 0 {
                // Stale bytes of a recycled file, or zeros of a file that grew
                // before a crash without its data reaching the disk (never
                // acknowledged). Cut so the successor's `prev_len` is the
                // file's length.
                let dropped = len - valid;
                tracing::debug!(
                    segment = %path.display(),
                    offset = valid,
                    bytes_dropped = dropped,
                    "WAL: cutting unused space after the last record"
                );
                truncate(path, valid)?;
                self.stats.truncated_bytes += dropped;
                return Ok((valid, next));
            }
            return Ok((len, next));
        };
        if is_last && !defect.kind.is_intact_record() && !reader.valid_frame_after_defect() {
            let dropped = len - valid;
            tracing::warn!(
                segment = %path.display(),
                offset = valid,
                bytes_dropped = dropped,
                "WAL: truncating torn tail of the last segment ({})",
                defect.kind
            );
            truncate(path, valid)?;
            self.stats.truncated_bytes += dropped;
            return Ok((valid, next));
        }
        self.corrupt(path, defect.offset as u64, defect.kind.to_string())?;
        Ok((len, next))
    }

    /// Fails open, or with `skip_corrupt` logs and counts the skipped region.
    fn corrupt(&mut self, path: &Path, offset: u64, reason: String) -> Result<(), OpenError<E>> {
        if !self.skip_corrupt {
            return Err(WalError::Corrupt {
                path: path.to_owned(),
                offset,
                reason,
            }
            .into());
        }
        tracing::warn!(
            segment = %path.display(),
            offset,
            "WAL: corrupt ({reason}); skip_corrupt is set, skipping the rest of this segment, its later records are lost"
        );
        self.stats.skipped_corrupt += 1;
        Ok(())
    }

    /// The last segment's header is written and synced before any record, so a
    /// last file no longer than a header with a header that does not decode is
    /// a segment whose creation was interrupted: it holds no records. Removes
    /// it; returns whether it did.
    fn drop_torn_header(&mut self, dir: &Path, path: &Path) -> Result<bool, OpenError<E>> {
        let len = fs::metadata(path)
            .map_err(|e| WalError::io("stat", path, 0, e))?
            .len();
        if len > HEADER_LEN as u64 {
            return Ok(false);
        }
        let defect = match read_header(path)? {
            Ok(_) | Err(HeaderDefect::Version { .. }) => return Ok(false),
            Err(d) => d,
        };
        tracing::warn!(
            segment = %path.display(),
            offset = 0,
            bytes_dropped = len,
            "WAL: removing last segment with an incomplete header ({defect}); it holds no records"
        );
        fs::remove_file(path).map_err(|e| WalError::io("remove torn segment", path, 0, e))?;
        crate::io::sync_dir(dir).map_err(|e| WalError::io("fsync directory", dir, 0, e))?;
        self.stats.truncated_bytes += len;
        Ok(true)
    }
}

/// Segment files in `dir`, by id. Other files are ignored.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let io_err = |e| WalError::io("list directory", dir, 0, e);
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            out.push((id, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(id, _)| *id);
    Ok(out)
}

fn read_whole(path: &Path, buf: &mut Vec<u8>) -> Result<(), WalError> {
    let io_err = |e| WalError::io("read", path, 0, e);
    let mut f = File::open(path).map_err(io_err)?;
    let len = f.metadata().map_err(io_err)?.len();
    buf.clear();
    buf.reserve(usize::try_from(len).unwrap_or(0));
    f.read_to_end(buf).map_err(io_err)?;
    Ok(())
}

fn read_header(path: &Path) -> Result<Result<SegmentHeader, HeaderDefect>, WalError> {
    let io_err = |e| WalError::io("read header", path, 0, e);
    let mut b = Vec::with_capacity(HEADER_LEN);
    File::open(path)
        .and_then(|f| f.take(HEADER_LEN as u64).read_to_end(&mut b))
        .map_err(io_err)?;
    Ok(SegmentHeader::decode(&b))
}

/// Cuts `path` to `len` bytes durably (the size change is synced).
fn truncate(path: &Path, len: u64) -> Result<(), WalError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io("open for truncation", path, len, e))?;
    f.set_len(len)
        .and_then(|()| f.sync_data())
        .map_err(|e: io::Error| WalError::io("truncate", path, len, e))
}

#[cfg(test)]
mod tests;
