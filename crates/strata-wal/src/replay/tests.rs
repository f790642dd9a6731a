use crate::format::{FRAME_HEADER_LEN, HEADER_LEN, SegmentHeader, SegmentReader};
use crate::test_util::{
    capture_logs, config, config_mode, copy_dir, open, replay, segments, truncate_file,
};
use crate::{SyncMode, WalConfig, WalError};
use std::path::Path;

/// Writes `payloads` through a WAL with the given segment size and closes it.
fn write_log(dir: &Path, segment_bytes: u64, payloads: &[Vec<u8>]) {
    let (wal, _, _) = open(config_mode(dir, SyncMode::None, segment_bytes)).unwrap();
    for p in payloads {
        wal.append(p.clone(), false).wait_blocking().unwrap();
    }
    wal.close().unwrap();
}

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("record-{i}-{}", "x".repeat(i % 13)).into_bytes())
        .collect()
}

fn expect(payloads: &[Vec<u8>]) -> Vec<(u64, Vec<u8>)> {
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u64 + 1, p.clone()))
        .collect()
}

/// (start, end) of every frame in a segment file.
fn frames(path: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(path).unwrap();
    SegmentReader::new(&bytes)
        .unwrap()
        .map(|f| (f.offset, f.end()))
        .collect()
}

fn corrupt_error(cfg: WalConfig) -> (String, u64, String) {
    match replay(cfg).unwrap_err() {
        crate::OpenError::Wal(e @ WalError::Corrupt { .. }) => {
            let msg = e.to_string();
            let WalError::Corrupt { path, offset, .. } = e else {
                unreachable!()
            };
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                offset,
                msg,
            )
        }
        other => panic!("expected corruption, got {other}"),
    }
}

#[test]
fn torn_last_record_is_truncated_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let data = payloads(3);
    write_log(dir.path(), 1 << 20, &data);
    let seg = segments(dir.path()).pop().unwrap();
    let (start, end) = *frames(&seg).last().unwrap();
    for cut in start + 1..end {
        let copy = copy_dir(dir.path());
        let path = copy.path().join(seg.file_name().unwrap());
        truncate_file(&path, cut as u64);
        let ((records, stats), logs) = capture_logs(|| replay(config(copy.path())).unwrap());
        assert_eq!(records, expect(&data[..2]), "cut {cut}");
        assert_eq!(stats.truncated_bytes, (cut - start) as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), start as u64);
        let line = logs
            .iter()
            .find(|l| l.contains("torn tail"))
            .expect("a warning");
        assert!(line.starts_with("WARN"), "{line}");
        assert!(line.contains(&format!("offset={start}")), "{line}");
        assert!(
            line.contains(&format!("bytes_dropped={}", cut - start)),
            "{line}"
        );
        assert!(line.contains("00000000000000000001.wal"), "{line}");

        // Appends continue after the surviving records; replay stays consistent.
        let (wal, records, stats) = open(config(copy.path())).unwrap();
        assert_eq!((records.len(), stats.truncated_bytes), (2, 0));
        let w = wal
            .append(b"after".to_vec(), false)
            .wait_blocking()
            .unwrap();
        assert_eq!(w.seq, 3, "the torn record's number is reissued");
        drop(w);
        drop(wal);
        let (records, _) = replay(config(copy.path())).unwrap();
        let mut want = expect(&data[..2]);
        want.push((3, b"after".to_vec()));
        assert_eq!(records, want);
    }
}

#[test]
fn zero_filled_tail_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let data = payloads(3);
    write_log(dir.path(), 1 << 20, &data);
    let seg = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    // A crash after the size grew but before the data reached the disk.
    truncate_file(&seg, len + 4096);
    let (records, stats) = replay(config(dir.path())).unwrap();
    assert_eq!(records, expect(&data));
    assert_eq!(stats.truncated_bytes, 4096);
}

#[test]
fn incomplete_header_of_the_last_segment_is_removed_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let data = payloads(2);
    write_log(dir.path(), 1 << 20, &data);
    // Open and close once more: segment 2 holds only its header.
    replay(config(dir.path())).unwrap();
    let fresh = segments(dir.path()).pop().unwrap();
    assert_eq!(std::fs::metadata(&fresh).unwrap().len(), HEADER_LEN as u64);
    for cut in 0..HEADER_LEN {
        let copy = copy_dir(dir.path());
        let path = copy.path().join(fresh.file_name().unwrap());
        truncate_file(&path, cut as u64);
        let ((records, stats), logs) = capture_logs(|| replay(config(copy.path())).unwrap());
        assert_eq!(records, expect(&data), "cut {cut}");
        assert_eq!(stats.truncated_bytes, cut as u64);
        assert!(
            logs.iter()
                .any(|l| l.contains("incomplete header") && l.contains("00000000000000000002.wal"))
        );
        let (wal, records, _) = open(config(copy.path())).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(wal.append(vec![], false).wait_blocking().unwrap().seq, 3);
    }
    // A zeroed header of full length is incomplete too.
    let copy = copy_dir(dir.path());
    std::fs::write(
        copy.path().join(fresh.file_name().unwrap()),
        [0u8; HEADER_LEN],
    )
    .unwrap();
    assert_eq!(replay(config(copy.path())).unwrap().0, expect(&data));
}

#[test]
fn flipped_byte_in_a_middle_record_stops_open_or_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = payloads(30);
    // About 10 records per segment: several segments.
    write_log(dir.path(), 300, &data);
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    for victim in [0, segs.len() - 2] {
        let fr = frames(&segs[victim]);
        if fr.len() < 3 {
            continue;
        }
        let (start, _) = fr[1];
        let copy = copy_dir(dir.path());
        let name = segs[victim]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let path = copy.path().join(&name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[start + FRAME_HEADER_LEN + 2] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();

        let (file, offset, msg) = corrupt_error(config(copy.path()));
        assert_eq!((file.as_str(), offset), (name.as_str(), start as u64));
        assert!(
            msg.contains(&name)
                && msg.contains(&format!("byte {start}"))
                && msg.contains("skip_corrupt"),
            "{msg}"
        );

        let cfg = WalConfig {
            skip_corrupt: true,
            ..config(copy.path())
        };
        let ((records, stats), logs) = capture_logs(|| replay(cfg).unwrap());
        assert_eq!(stats.skipped_corrupt, 1);
        assert!(
            logs.iter()
                .any(|l| l.contains("skipping the rest of this segment"))
        );
        // Everything but the rest of the victim segment is replayed.
        let first_lost = SegmentHeader::decode(&bytes).unwrap().first_seq + 1;
        let lost = fr.len() as u64 - 1;
        let want: Vec<_> = expect(&data)
            .into_iter()
            .filter(|(s, _)| *s < first_lost || *s >= first_lost + lost)
            .collect();
        assert_eq!(records, want);
    }
}

#[test]
fn flipped_byte_in_the_last_segment_followed_by_a_valid_record_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let data = payloads(5);
    write_log(dir.path(), 1 << 20, &data);
    let seg = segments(dir.path()).pop().unwrap();
    let fr = frames(&seg);
    let mut bytes = std::fs::read(&seg).unwrap();
    // The length field of record 3: the chain is broken but record 4 is intact.
    bytes[fr[2].0] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let (file, offset, _) = corrupt_error(config(dir.path()));
    assert_eq!(
        (file.as_str(), offset),
        ("00000000000000000001.wal", fr[2].0 as u64)
    );
}

#[test]
fn truncated_non_last_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 300, &payloads(30));
    let segs = segments(dir.path());
    let fr = frames(&segs[0]);
    let (start, end) = *fr.last().unwrap();
    truncate_file(&segs[0], (start + end) as u64 / 2);
    let (file, offset, _) = corrupt_error(config(dir.path()));
    assert_eq!(
        (file.as_str(), offset),
        ("00000000000000000001.wal", start as u64)
    );
    // Cut exactly between records: shorter than the successor recorded.
    truncate_file(&segs[0], start as u64);
    let (file, offset, msg) = corrupt_error(config(dir.path()));
    assert_eq!(
        (file.as_str(), offset),
        ("00000000000000000001.wal", start as u64)
    );
    assert!(msg.contains("recorded"), "{msg}");
}

#[test]
fn bytes_past_the_recorded_length_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let data = payloads(30);
    write_log(dir.path(), 300, &data);
    let segs = segments(dir.path());
    let len = std::fs::metadata(&segs[0]).unwrap().len();
    // What a failed write whose truncation also failed leaves behind: a
    // valid-looking frame (never acknowledged) and garbage.
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    crate::format::encode_frame(999, b"never acknowledged", &mut bytes);
    bytes.extend_from_slice(&[0xab; 7]);
    std::fs::write(&segs[0], &bytes).unwrap();
    let ((records, stats), logs) = capture_logs(|| replay(config(dir.path())).unwrap());
    assert_eq!(records, expect(&data));
    assert_eq!(stats.truncated_bytes, bytes.len() as u64 - len);
    assert_eq!(std::fs::metadata(&segs[0]).unwrap().len(), len);
    assert!(
        logs.iter()
            .any(|l| l.contains("recorded by the next segment"))
    );
}

#[test]
fn bad_header_missing_segment_and_backwards_sequence_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let data = payloads(30);
    write_log(dir.path(), 300, &data);
    let segs = segments(dir.path());
    assert!(segs.len() >= 4);

    // Bad header in a non-last segment.
    let copy = copy_dir(dir.path());
    let p = copy.path().join(segs[1].file_name().unwrap());
    let mut b = std::fs::read(&p).unwrap();
    b[13] ^= 1;
    std::fs::write(&p, &b).unwrap();
    let (file, offset, msg) = corrupt_error(config(copy.path()));
    assert_eq!((file.as_str(), offset), ("00000000000000000002.wal", 0));
    assert!(msg.contains("header checksum"), "{msg}");
    let cfg = WalConfig {
        skip_corrupt: true,
        ..config(copy.path())
    };
    let (records, stats) = replay(cfg).unwrap();
    assert_eq!(stats.skipped_corrupt, 1);
    let in_second = frames(&segs[1]).len();
    assert_eq!(records.len(), data.len() - in_second);

    // A missing segment.
    let copy = copy_dir(dir.path());
    std::fs::remove_file(copy.path().join(segs[1].file_name().unwrap())).unwrap();
    let (file, _, msg) = corrupt_error(config(copy.path()));
    assert_eq!(file, "00000000000000000003.wal");
    assert!(msg.contains("segment 2 is missing"), "{msg}");

    // A segment whose header starts before the records already replayed.
    let copy = copy_dir(dir.path());
    let p = copy.path().join(segs[2].file_name().unwrap());
    let mut b = std::fs::read(&p).unwrap();
    let mut h = SegmentHeader::decode(&b).unwrap();
    h.first_seq = 1;
    b[..HEADER_LEN].copy_from_slice(&h.encode());
    std::fs::write(&p, &b).unwrap();
    let (file, offset, msg) = corrupt_error(config(copy.path()));
    assert_eq!((file.as_str(), offset), ("00000000000000000003.wal", 0));
    assert!(msg.contains("backwards"), "{msg}");

    // A header from a newer format.
    let copy = copy_dir(dir.path());
    let p = copy.path().join(segs[0].file_name().unwrap());
    let mut b = std::fs::read(&p).unwrap();
    b[8] = 9;
    let crc = crc32c::crc32c(&b[..36]);
    b[36..40].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&p, &b).unwrap();
    let (_, _, msg) = corrupt_error(config(copy.path()));
    assert!(msg.contains("format version 9"), "{msg}");
}

#[test]
fn other_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let data = payloads(3);
    write_log(dir.path(), 1 << 20, &data);
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    std::fs::write(dir.path().join("1.wal"), b"junk").unwrap();
    assert_eq!(replay(config(dir.path())).unwrap().0, expect(&data));
}
