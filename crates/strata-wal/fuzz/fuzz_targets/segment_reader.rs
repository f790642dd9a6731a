//! The segment reader on arbitrary bytes never panics and only yields records
//! that re-encode to exactly the bytes they were read from, back to back with
//! dense sequence numbers. On segments built from the input and then cut or
//! damaged, it yields exactly the intact prefix and classifies the damage: a
//! cut is a torn tail (no valid record after it), a damaged record followed by
//! an intact one is not.

#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_wal::format::{
    FRAME_HEADER_LEN, HEADER_LEN, SegmentHeader, SegmentReader, encode_frame,
};

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((&mode, rest)) if mode & 1 == 1 => built(rest),
        Some((&mode, rest)) if mode & 2 == 2 => {
            // A valid header before arbitrary bytes, so the input reaches the
            // record parser (a fuzzer rarely guesses the header CRC).
            let first_seq = rest.first().map_or(1, |&b| u64::from(b));
            let mut seg = SegmentHeader {
                id: 1,
                first_seq,
                prev_len: 0,
            }
            .encode()
            .to_vec();
            seg.extend_from_slice(rest.get(1..).unwrap_or_default());
            arbitrary(&seg);
        }
        _ => arbitrary(data),
    }
});

/// Arbitrary bytes as a segment.
fn arbitrary(bytes: &[u8]) {
    let Ok(mut reader) = SegmentReader::new(bytes) else {
        return;
    };
    let header = reader.header();
    let mut expected_offset = HEADER_LEN;
    let mut expected_seq = header.first_seq;
    let mut frame = Vec::new();
    for f in reader.by_ref() {
        assert_eq!(f.offset, expected_offset);
        assert_eq!(f.seq, expected_seq);
        frame.clear();
        encode_frame(f.seq, f.payload, &mut frame);
        assert_eq!(&bytes[f.offset..f.end()], &frame[..]);
        expected_offset = f.end();
        expected_seq = expected_seq.wrapping_add(1);
    }
    assert_eq!(reader.valid_len(), expected_offset);
    assert_eq!(reader.next_seq(), expected_seq);
    match reader.defect() {
        Some(d) => assert_eq!(d.offset, expected_offset),
        None => assert_eq!(expected_offset, bytes.len()),
    }
    let _ = reader.valid_frame_after_defect();
}

/// A segment of records whose lengths come from the input (contents are a
/// pattern, so no payload can hide a valid frame), then cut or damaged.
fn built(input: &[u8]) {
    let Some((control, lens)) = input.split_at_checked(4) else {
        return;
    };
    let first_seq = 1 + u64::from(control[0]);
    let mut seg = SegmentHeader {
        id: 1,
        first_seq,
        prev_len: 0,
    }
    .encode()
    .to_vec();
    let mut ends = Vec::new();
    for (i, &l) in lens.iter().take(64).enumerate() {
        let len = usize::from(l) * usize::from(l % 4 + 1);
        let payload = vec![(i as u8).wrapping_mul(37) | 1; len];
        encode_frame(first_seq + i as u64, &payload, &mut seg);
        ends.push(seg.len());
    }
    let n = ends.len();
    let starts: Vec<usize> = std::iter::once(HEADER_LEN)
        .chain(ends.iter().copied())
        .take(n)
        .collect();
    let pick = usize::from(u16::from_le_bytes([control[1], control[2]]));

    if control[3] & 1 == 0 {
        // A cut anywhere after the header: the records wholly before it survive
        // and the rest is a torn tail.
        let cut = HEADER_LEN + pick % (seg.len() - HEADER_LEN + 1);
        let bytes = &seg[..cut];
        let mut reader = SegmentReader::new(bytes).expect("header intact");
        let read = reader.by_ref().count();
        let kept = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(read, kept);
        match reader.defect() {
            None => assert_eq!(reader.valid_len(), cut),
            Some(d) => {
                assert_eq!(d.offset, starts[kept]);
                assert!(!reader.valid_frame_after_defect(), "a cut is a torn tail");
            }
        }
    } else if n > 0 {
        // One damaged byte in record k: records before it survive; it is
        // followed by a valid record exactly when it is not the last.
        let k = pick % n;
        let span = ends[k] - starts[k];
        let at = starts[k] + usize::from(control[3] >> 1) % span;
        seg[at] ^= 1 << (control[0] % 8);
        let mut reader = SegmentReader::new(&seg).expect("header intact");
        assert_eq!(reader.by_ref().count(), k);
        let d = reader.defect().expect("damage is detected");
        assert_eq!(d.offset, starts[k]);
        assert_eq!(reader.valid_frame_after_defect(), k + 1 < n);
        assert!(span >= FRAME_HEADER_LEN);
    }
}
