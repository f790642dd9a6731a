//! The on-disk format (`docs/format/wal.md`): segment header, record frames, and
//! a reader that is a pure function of a segment's bytes (fuzzed in
//! `fuzz/fuzz_targets/segment_reader.rs`).
//!
//! Invariants the reader checks and the writer keeps:
//! - F1: a segment starts with a [`HEADER_LEN`]-byte header whose id matches its
//!   file name; the header is synced before any record is written after it.
//! - F2: records follow back to back with no padding; a record's sequence number
//!   is the previous one + 1, the first is the header's `first_seq`.
//! - F3: a record is never split across segments.
//! - F4: bytes after the last valid record of a segment are a torn write only if
//!   no valid record follows them ([`SegmentReader::valid_frame_after_defect`]).

use thiserror::Error;

/// First 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"STRWAL01";
/// Format version written in the header; readers reject any other.
pub const FORMAT_VERSION: u32 = 1;
/// Segment header: magic, version, segment id, first sequence number, length of
/// the previous segment, CRC32C of the preceding 36 bytes.
pub const HEADER_LEN: usize = 40;
/// Record header: payload length, CRC32C, sequence number.
pub const FRAME_HEADER_LEN: usize = 16;
/// Largest payload accepted by an append, and by the reader.
pub const MAX_RECORD_BYTES: usize = 256 << 20;

/// File name of a segment: 20 digits, so lexical order is numeric order.
pub fn segment_file_name(id: u64) -> String {
    format!("{id:020}.wal")
}

/// Segment id from a file name produced by [`segment_file_name`].
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Segment id; equals the number in the file name.
    pub id: u64,
    /// Sequence number of the segment's first record (or of the next record
    /// the writer would have written, if the segment has none).
    pub first_seq: u64,
    /// Valid length of the previous segment (id - 1) when this one was
    /// created; bytes beyond it in that segment are dropped on open. 0 when
    /// there was none.
    pub prev_len: u64,
}

/// Why a segment header is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HeaderDefect {
    /// Fewer bytes than a header.
    #[error("segment header is {len} bytes long, expected {HEADER_LEN}")]
    Short {
        /// Bytes available.
        len: usize,
    },
    /// Not a Strata WAL segment.
    #[error("bad magic {found:02x?}, not a Strata WAL segment")]
    BadMagic {
        /// The first 8 bytes.
        found: [u8; 8],
    },
    /// The header's checksum does not match.
    #[error("segment header checksum mismatch")]
    BadCrc,
    /// Written by another format version.
    #[error("format version {found} is not supported (this build reads version {FORMAT_VERSION})")]
    Version {
        /// The version in the header.
        found: u32,
    },
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..20].copy_from_slice(&self.id.to_le_bytes());
        b[20..28].copy_from_slice(&self.first_seq.to_le_bytes());
        b[28..36].copy_from_slice(&self.prev_len.to_le_bytes());
        let crc = crc32c::crc32c(&b[0..36]);
        b[36..40].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes the header at the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderDefect> {
        let Some(b) = bytes.get(..HEADER_LEN) else {
            return Err(HeaderDefect::Short { len: bytes.len() });
        };
        let magic: [u8; 8] = array(b, 0);
        if magic != MAGIC {
            return Err(HeaderDefect::BadMagic { found: magic });
        }
        if crc32c::crc32c(&b[0..36]) != u32_at(b, 36) {
            return Err(HeaderDefect::BadCrc);
        }
        let version = u32_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(HeaderDefect::Version { found: version });
        }
        Ok(Self {
            id: u64_at(b, 12),
            first_seq: u64_at(b, 20),
            prev_len: u64_at(b, 28),
        })
    }
}

/// CRC32C stored in a record: over the sequence number's 8 bytes, then the
/// payload.
pub fn frame_crc(seq: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload)
}

/// Appends one record frame to `out`.
pub fn encode_frame(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    encode_frame_with_crc(seq, frame_crc(seq, payload), payload, out);
}

/// [`encode_frame`] with the CRC computed beforehand (on the appending thread).
pub(crate) fn encode_frame_with_crc(seq: u64, crc: u32, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_RECORD_BYTES);
    // MAX_RECORD_BYTES < u32::MAX, and appends longer than it are rejected.
    let len = payload.len() as u32;
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// One valid record, borrowed from the segment's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Byte offset of the frame's start in the segment.
    pub offset: usize,
    /// The payload.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Offset just past this frame.
    pub fn end(&self) -> usize {
        self.offset + FRAME_HEADER_LEN + self.payload.len()
    }
}

/// Where and why a segment stops holding valid records.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}")]
pub struct Defect {
    /// Byte offset of the bad frame's start.
    pub offset: usize,
    /// What is wrong with it.
    pub kind: DefectKind,
}

/// What is wrong with a frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DefectKind {
    /// Fewer bytes than a record header remain.
    #[error("record header needs {FRAME_HEADER_LEN} bytes, {available} remain")]
    ShortHeader {
        /// Bytes left in the segment.
        available: usize,
    },
    /// The length field exceeds [`MAX_RECORD_BYTES`].
    #[error("record length {len} exceeds the maximum {MAX_RECORD_BYTES}")]
    TooLong {
        /// The length field.
        len: u32,
    },
    /// The payload runs past the end of the segment.
    #[error("record of {len} bytes runs past the end of the segment ({available} bytes remain)")]
    PastEnd {
        /// The length field.
        len: u32,
        /// Payload bytes left in the segment.
        available: usize,
    },
    /// The checksum does not match the sequence number and payload.
    #[error("record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BadCrc {
        /// CRC in the frame.
        stored: u32,
        /// CRC of the bytes read.
        computed: u32,
    },
    /// A checksummed record with the wrong sequence number.
    #[error("record has sequence number {found} where {expected} was expected")]
    Sequence {
        /// The number that should follow.
        expected: u64,
        /// The number in the record.
        found: u64,
    },
}

impl DefectKind {
    /// A complete, checksummed record in the wrong place is never a torn write.
    pub fn is_intact_record(&self) -> bool {
        matches!(self, Self::Sequence { .. })
    }
}

/// Iterates the valid records of one segment image, stopping at the first
/// defect. Unused space after the records is not a defect, the records just
/// end there: zero bytes to the end of the image (a frame's `seq` is at least
/// 1, so no frame is all zeros), or a checksummed record numbered below the
/// header's `first_seq`, left by the segment this file was before it was
/// recycled (`spare.rs`, S2). Pure: no I/O, no allocation, never panics on any
/// input.
#[derive(Debug, Clone)]
pub struct SegmentReader<'a> {
    bytes: &'a [u8],
    header: SegmentHeader,
    pos: usize,
    next_seq: u64,
    defect: Option<Defect>,
    unused_tail: usize,
}

impl<'a> SegmentReader<'a> {
    /// A reader over a whole segment, header included.
    pub fn new(bytes: &'a [u8]) -> Result<Self, HeaderDefect> {
        let header = SegmentHeader::decode(bytes)?;
        Ok(Self {
            bytes,
            header,
            pos: HEADER_LEN,
            next_seq: header.first_seq,
            defect: None,
            unused_tail: 0,
        })
    }

    /// The segment's header.
    pub fn header(&self) -> SegmentHeader {
        self.header
    }

    /// End of the last valid record read so far (the header's end before the
    /// first).
    pub fn valid_len(&self) -> usize {
        self.pos
    }

    /// Sequence number the next record must have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Bytes of unused space after the last record (zeros, or a recycled
    /// file's stale records), once iteration has stopped there; 0 otherwise.
    pub fn unused_tail(&self) -> usize {
        self.unused_tail
    }

    /// Why iteration stopped before the end of the bytes, once it has.
    pub fn defect(&self) -> Option<&Defect> {
        self.defect.as_ref()
    }

    /// Whether a valid record (checksum matches, sequence number at least the
    /// expected one) starts anywhere after the defect's first byte. If not,
    /// the defect is a torn tail (F4). `false` when there is no defect.
    pub fn valid_frame_after_defect(&self) -> bool {
        self.defect
            .as_ref()
            .is_some_and(|d| valid_frame_after(self.bytes, d.offset + 1, self.next_seq).is_some())
    }

    fn is_unused_space(&self, kind: &DefectKind) -> bool {
        matches!(kind, DefectKind::Sequence { found, .. } if *found < self.header.first_seq)
            || all_zero(&self.bytes[self.pos..])
    }

    fn decode_at(&self, pos: usize) -> Result<Frame<'a>, DefectKind> {
        let rest = &self.bytes[pos..];
        let Some(head) = rest.get(..FRAME_HEADER_LEN) else {
            return Err(DefectKind::ShortHeader {
                available: rest.len(),
            });
        };
        let len = u32_at(head, 0);
        let stored = u32_at(head, 4);
        let seq = u64_at(head, 8);
        if len as usize > MAX_RECORD_BYTES {
            return Err(DefectKind::TooLong { len });
        }
        let body = &rest[FRAME_HEADER_LEN..];
        let Some(payload) = body.get(..len as usize) else {
            return Err(DefectKind::PastEnd {
                len,
                available: body.len(),
            });
        };
        let computed = frame_crc(seq, payload);
        if computed != stored {
            return Err(DefectKind::BadCrc { stored, computed });
        }
        if seq != self.next_seq {
            return Err(DefectKind::Sequence {
                expected: self.next_seq,
                found: seq,
            });
        }
        Ok(Frame {
            seq,
            offset: pos,
            payload,
        })
    }
}

impl<'a> Iterator for SegmentReader<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.defect.is_some() || self.unused_tail > 0 || self.pos >= self.bytes.len() {
            return None;
        }
        match self.decode_at(self.pos) {
            Ok(frame) => {
                self.pos = frame.end();
                self.next_seq = self.next_seq.wrapping_add(1);
                Some(frame)
            }
            Err(kind) if self.is_unused_space(&kind) => {
                self.unused_tail = self.bytes.len() - self.pos;
                None
            }
            Err(kind) => {
                self.defect = Some(Defect {
                    offset: self.pos,
                    kind,
                });
                None
            }
        }
    }
}

/// First offset at or after `from` where a checksummed frame with a plausible
/// sequence number (at least `min_seq`, and not further ahead than the bytes
/// could hold) starts. Checks the cheap fields first so scanning a large
/// region is fast.
fn valid_frame_after(bytes: &[u8], from: usize, min_seq: u64) -> Option<usize> {
    let region = bytes.len().checked_sub(from)?;
    let max_ahead = (region / FRAME_HEADER_LEN) as u64;
    let last_start = bytes.len().checked_sub(FRAME_HEADER_LEN)?;
    (from..=last_start).find(|&p| {
        let head = &bytes[p..p + FRAME_HEADER_LEN];
        let len = u32_at(head, 0) as usize;
        let seq = u64_at(head, 8);
        if len > MAX_RECORD_BYTES || len > bytes.len() - p - FRAME_HEADER_LEN {
            return false;
        }
        if seq < min_seq || seq - min_seq > max_ahead {
            return false;
        }
        let payload = &bytes[p + FRAME_HEADER_LEN..p + FRAME_HEADER_LEN + len];
        frame_crc(seq, payload) == u32_at(head, 4)
    })
}

fn all_zero(bytes: &[u8]) -> bool {
    let (words, rest) = bytes.as_chunks::<16>();
    words.iter().all(|w| u128::from_ne_bytes(*w) == 0) && rest.iter().all(|&b| b == 0)
}

fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array(b, at))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array(b, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first_seq: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut b = SegmentHeader {
            id: 7,
            first_seq,
            prev_len: 0,
        }
        .encode()
        .to_vec();
        for (i, p) in payloads.iter().enumerate() {
            encode_frame(first_seq + i as u64, p, &mut b);
        }
        b
    }

    #[test]
    fn file_names_sort_numerically() {
        assert_eq!(segment_file_name(42), "00000000000000000042.wal");
        assert_eq!(
            parse_segment_file_name("00000000000000000042.wal"),
            Some(42)
        );
        assert_eq!(parse_segment_file_name("42.wal"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.wal"), None);
        assert_eq!(
            parse_segment_file_name("00000000000000000042.wal.tmp"),
            None
        );
        assert!(segment_file_name(9) < segment_file_name(10));
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = SegmentHeader {
            id: 3,
            first_seq: 99,
            prev_len: 1234,
        };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        assert_eq!(
            SegmentHeader::decode(&b[..39]),
            Err(HeaderDefect::Short { len: 39 })
        );
        let mut bad = b;
        bad[0] = b'X';
        assert!(matches!(
            SegmentHeader::decode(&bad),
            Err(HeaderDefect::BadMagic { .. })
        ));
        let mut bad = b;
        bad[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderDefect::BadCrc));
        let mut bad = b;
        bad[8] = 2;
        let crc = crc32c::crc32c(&bad[..36]);
        bad[36..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            SegmentHeader::decode(&bad),
            Err(HeaderDefect::Version { found: 2 })
        );
    }

    #[test]
    fn reads_records_including_empty_ones() {
        let b = segment(5, &[b"a", b"", b"hello"]);
        let mut r = SegmentReader::new(&b).unwrap();
        let frames: Vec<_> = r.by_ref().map(|f| (f.seq, f.payload.to_vec())).collect();
        assert_eq!(
            frames,
            vec![(5, b"a".to_vec()), (6, vec![]), (7, b"hello".to_vec())]
        );
        assert_eq!(r.defect(), None);
        assert_eq!(r.valid_len(), b.len());
        assert_eq!(r.next_seq(), 8);
    }

    #[test]
    fn zeros_after_the_last_record_are_unused_space() {
        let b = segment(5, &[b"a", b""]);
        for zeros in [1, 15, 16, 17, 4096 + 3] {
            let mut padded = b.clone();
            padded.resize(b.len() + zeros, 0);
            let mut r = SegmentReader::new(&padded).unwrap();
            assert_eq!(r.by_ref().count(), 2, "{zeros} zeros");
            assert_eq!(r.defect(), None);
            assert_eq!(r.unused_tail(), zeros);
            assert_eq!(r.valid_len(), b.len());
            assert_eq!(r.next_seq(), 7);
        }
        // One non-zero byte anywhere in the tail makes it a defect again.
        for at in [0, 15, 16, 4000] {
            let mut padded = b.clone();
            padded.resize(b.len() + 4096, 0);
            padded[b.len() + at] = 1;
            let mut r = SegmentReader::new(&padded).unwrap();
            assert_eq!(r.by_ref().count(), 2);
            assert_eq!(r.unused_tail(), 0);
            assert_eq!(r.defect().map(|d| d.offset), Some(b.len()), "byte {at}");
        }
    }

    #[test]
    fn stale_records_of_a_recycled_file_end_the_records() {
        // A file that held records 1..=3, reused for a segment starting at 10;
        // the new record is as long as the old first one, so the old second
        // record starts exactly where the new records end.
        let old = segment(1, &[b"one", b"two", b"three"]);
        let mut b = segment(10, &[b"ten"]);
        let end = b.len();
        b.extend_from_slice(&old[end..]);
        let mut r = SegmentReader::new(&b).unwrap();
        assert_eq!(r.by_ref().map(|f| f.seq).collect::<Vec<_>>(), [10]);
        assert_eq!(r.defect(), None);
        assert_eq!(r.unused_tail(), b.len() - end);
        assert_eq!(r.valid_len(), end);
        // Numbered at or above `first_seq` but out of order: corruption.
        let mut b = segment(10, &[b"ten"]);
        encode_frame(12, b"twelve", &mut b);
        let mut r = SegmentReader::new(&b).unwrap();
        assert_eq!(r.by_ref().count(), 1);
        assert!(r.defect().unwrap().kind.is_intact_record());
        // Stale bytes that start mid-frame look torn: no valid frame follows.
        let mut b = segment(10, &[b"ten!"]);
        let end = b.len();
        b.extend_from_slice(&old[end..]);
        let mut r = SegmentReader::new(&b).unwrap();
        assert_eq!(r.by_ref().count(), 1);
        assert!(r.defect().is_some());
        assert!(!r.valid_frame_after_defect());
    }

    #[test]
    fn truncated_last_frame_is_torn() {
        let b = segment(1, &[b"first", b"second"]);
        let second = HEADER_LEN + FRAME_HEADER_LEN + 5;
        for cut in second + 1..b.len() {
            let mut r = SegmentReader::new(&b[..cut]).unwrap();
            assert_eq!(r.by_ref().count(), 1);
            assert_eq!(r.defect().unwrap().offset, second);
            assert!(!r.valid_frame_after_defect(), "cut {cut}");
        }
    }

    #[test]
    fn flipped_byte_in_middle_is_followed_by_valid_frame() {
        let mut b = segment(1, &[b"first", b"second", b"third"]);
        let second = HEADER_LEN + FRAME_HEADER_LEN + 5;
        for at in second..second + FRAME_HEADER_LEN + 6 {
            let mut c = b.clone();
            c[at] ^= 0x40;
            let mut r = SegmentReader::new(&c).unwrap();
            assert_eq!(r.by_ref().count(), 1, "flip at {at}");
            assert_eq!(r.defect().unwrap().offset, second);
            assert!(r.valid_frame_after_defect(), "flip at {at}");
        }
        // A zeroed tail (file size extended, data never written; or space
        // preallocated) ends the records without a defect.
        let len = b.len();
        b[second..len].fill(0);
        let mut r = SegmentReader::new(&b).unwrap();
        assert_eq!(r.by_ref().count(), 1);
        assert_eq!(r.defect(), None);
        assert_eq!(r.unused_tail(), len - second);
    }

    #[test]
    fn sequence_mismatch_is_an_intact_record() {
        let mut b = segment(1, &[b"x"]);
        encode_frame(5, b"y", &mut b);
        let mut r = SegmentReader::new(&b).unwrap();
        assert_eq!(r.by_ref().count(), 1);
        let d = r.defect().unwrap();
        assert_eq!(
            d.kind,
            DefectKind::Sequence {
                expected: 2,
                found: 5
            }
        );
        assert!(d.kind.is_intact_record());
    }

    #[test]
    fn oversized_length_is_rejected_without_reading() {
        let mut b = segment(1, &[]);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&[0; 12]);
        let mut r = SegmentReader::new(&b).unwrap();
        assert_eq!(r.next(), None);
        assert_eq!(
            r.defect().unwrap().kind,
            DefectKind::TooLong { len: u32::MAX }
        );
    }
}
