//! A snappy (block format) compressor that keeps chosen byte ranges as plain
//! literals in its output, so a compressed body can still be patched in place.
//!
//! Why not the `snap` crate: its output may cover a timestamp with a back
//! reference, and then no byte of the compressed body holds that timestamp. The
//! load generator rewrites timestamps on every lap over its pool, and Prometheus
//! remote write bodies must be snappy-compressed, so without this it would have
//! to compress each request at send time, on the cores the server under test is
//! using. `snap` stays the oracle of the tests: it decompresses what this writes.
//!
//! The format (<https://github.com/google/snappy/blob/main/format_description.txt>):
//! the uncompressed length as a varint, then elements, each a literal (bytes
//! copied as they are) or a copy (length and offset back into the output so far).
//! Invariants of the output:
//! - every protected range is exactly one literal element of its own, so its
//!   bytes appear unchanged at the offset returned for it;
//! - no copy reads or writes a protected byte, so patching a range changes the
//!   decompressed body at that range and nowhere else.

/// Shortest match worth a copy element (a 3-byte copy-2 replaces it).
const MIN_MATCH: usize = 4;
/// Longest offset of a copy-2 element (the only kind written).
const MAX_OFFSET: usize = u16::MAX as usize;
const HASH_BITS: u32 = 15;

/// `raw` compressed, with `protected` (`(start, len)`, sorted by start, not
/// overlapping, inside `raw`) kept as literals. Returns the compressed bytes and
/// where each protected range's bytes start in them, in the order given.
///
/// # Panics
/// If `protected` is not sorted, overlaps or reaches past `raw` (a bug of the
/// caller, never input data).
pub fn compress(raw: &[u8], protected: &[(usize, usize)]) -> (Vec<u8>, Vec<usize>) {
    let mut guarded = vec![false; raw.len()];
    let mut prev_end = 0;
    for &(start, len) in protected {
        assert!(
            start >= prev_end,
            "protected ranges must be sorted and apart"
        );
        assert!(len > 0, "protected ranges must not be empty");
        guarded[start..start + len].fill(true);
        prev_end = start + len;
    }
    let mut out = Vec::with_capacity(raw.len() / 3 + 16);
    write_varint(&mut out, raw.len() as u64);
    let mut moved = Vec::with_capacity(protected.len());
    // Position + 1 of the last place each hash of 4 bytes was seen; 0 = none.
    // Only unprotected 4-byte runs are entered, so a candidate's first bytes
    // are never protected.
    let mut table = vec![0u32; 1 << HASH_BITS];
    let mut ranges = protected.iter().peekable();
    let mut literal = 0;
    let mut i = 0;
    while i < raw.len() {
        let limit = ranges.peek().map_or(raw.len(), |r| r.0);
        if i == limit {
            if let Some(&(start, len)) = ranges.next() {
                emit_literal(&mut out, &raw[literal..start]);
                emit_literal_tag(&mut out, len);
                moved.push(out.len());
                out.extend_from_slice(&raw[start..start + len]);
                i = start + len;
                literal = i;
            }
            continue;
        }
        if i + MIN_MATCH <= limit {
            let h = hash(&raw[i..i + MIN_MATCH]);
            let candidate = table[h] as usize;
            table[h] = (i + 1) as u32;
            if let Some(c) = candidate.checked_sub(1)
                && i - c <= MAX_OFFSET
                && raw[c..c + MIN_MATCH] == raw[i..i + MIN_MATCH]
            {
                let mut n = MIN_MATCH;
                while i + n < limit && raw[c + n] == raw[i + n] && !guarded[c + n] {
                    n += 1;
                }
                emit_literal(&mut out, &raw[literal..i]);
                emit_copy(&mut out, i - c, n);
                i += n;
                literal = i;
                continue;
            }
        }
        i += 1;
    }
    emit_literal(&mut out, &raw[literal..]);
    (out, moved)
}

fn hash(four: &[u8]) -> usize {
    let v = u32::from_le_bytes([four[0], four[1], four[2], four[3]]);
    (v.wrapping_mul(0x1e35_a7bd) >> (32 - HASH_BITS)) as usize
}

/// A varint (snappy's length preamble; protobuf's too).
pub(crate) fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The tag of a literal of `len` (at least 1) bytes.
fn emit_literal_tag(out: &mut Vec<u8>, len: usize) {
    let n = len - 1;
    if n < 60 {
        out.push((n as u8) << 2);
    } else {
        // Tags 60..=63: the length - 1 follows in 1..=4 little-endian bytes.
        let bytes = (usize::BITS - n.leading_zeros()).div_ceil(8) as usize;
        out.push(((59 + bytes) as u8) << 2);
        out.extend_from_slice(&n.to_le_bytes()[..bytes]);
    }
}

fn emit_literal(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.is_empty() {
        emit_literal_tag(out, bytes.len());
        out.extend_from_slice(bytes);
    }
}

/// Copy-2 elements (length 1..=64, 16-bit offset) for a match of `len` bytes.
fn emit_copy(out: &mut Vec<u8>, offset: usize, mut len: usize) {
    while len > 0 {
        let n = len.min(64);
        out.push((((n - 1) as u8) << 2) | 2);
        out.extend_from_slice(&(offset as u16).to_le_bytes());
        len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decompress(b: &[u8]) -> Vec<u8> {
        snap::raw::Decoder::new().decompress_vec(b).unwrap()
    }

    #[test]
    fn repetitive_text_shrinks_and_protected_bytes_stay_literal() {
        let raw: Vec<u8> =
            b"cpu,hostname=host_1,region=eu-west-1 usage=42 1451606400000\n".repeat(200);
        // Every line's timestamp is protected.
        let line = raw.len() / 200;
        let sites: Vec<(usize, usize)> = (0..200).map(|k| (k * line + 46, 13)).collect();
        let (c, moved) = compress(&raw, &sites);
        // Per line: the 13 protected bytes, two tags and one copy.
        assert!(c.len() < raw.len() / 3, "{} of {}", c.len(), raw.len());
        assert_eq!(decompress(&c), raw);
        let mut c = c;
        let mut want = raw.clone();
        for (&(at, len), &to) in sites.iter().zip(&moved) {
            assert_eq!(&c[to..to + len], &raw[at..at + len]);
            c[to..to + len].copy_from_slice(b"9999999999999");
            want[at..at + len].copy_from_slice(b"9999999999999");
        }
        assert_eq!(decompress(&c), want);
    }

    #[test]
    fn long_literals_and_empty_input() {
        assert_eq!(decompress(&compress(&[], &[]).0), b"");
        // Incompressible bytes: literals of every length class.
        let mut x = 1u64;
        let raw: Vec<u8> = (0..70_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in [1, 59, 60, 61, 256, 257, 65_536, 65_537, 70_000] {
            assert_eq!(decompress(&compress(&raw[..len], &[]).0), &raw[..len]);
            let (c, moved) = compress(&raw[..len], &[(0, len)]);
            assert_eq!(&c[moved[0]..], &raw[..len]);
            assert_eq!(decompress(&c), &raw[..len]);
        }
    }

    #[test]
    fn long_and_far_matches() {
        // A 1,000-byte run repeated: copies longer than 64 bytes are split.
        let block: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let raw = [block.clone(), block.clone()].concat();
        let (c, _) = compress(&raw, &[]);
        assert!(c.len() < 1200, "{}", c.len());
        assert_eq!(decompress(&c), raw);
        // The same block 70,000 bytes later is past a copy-2 offset: sent as
        // a literal again, still decompressing right.
        let mut far = block.clone();
        far.extend((0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        far.extend(&block);
        assert_eq!(decompress(&compress(&far, &[]).0), far);
    }

    fn body_and_sites() -> impl Strategy<Value = (Vec<u8>, Vec<(usize, usize)>)> {
        // Few distinct bytes, so that matches are frequent and cross the sites.
        prop::collection::vec(prop::sample::select(b"ab0\n".to_vec()), 0..3000).prop_flat_map(
            |raw| {
                let n = raw.len();
                let sites = prop::collection::vec((0..n.max(1), 1usize..12), 0..40).prop_map(
                    move |mut v| {
                        v.sort_unstable();
                        let mut end = 0;
                        v.into_iter()
                            .filter_map(|(s, l)| {
                                let l = l.min(n.saturating_sub(s));
                                (s >= end && l > 0).then(|| {
                                    end = s + l;
                                    (s, l)
                                })
                            })
                            .collect::<Vec<_>>()
                    },
                );
                (Just(raw), sites)
            },
        )
    }

    proptest! {
        /// `snap` decompresses every output to the input, and after any patch of
        /// the protected bytes, to the input with the same patch.
        #[test]
        fn patched_output_decompresses_to_the_patched_input(
            (raw, sites) in body_and_sites(), fill in any::<u8>()
        ) {
            let (mut c, moved) = compress(&raw, &sites);
            prop_assert_eq!(decompress(&c), raw.clone());
            let mut want = raw.clone();
            for (&(at, len), &to) in sites.iter().zip(&moved) {
                c[to..to + len].fill(fill);
                want[at..at + len].fill(fill);
            }
            prop_assert_eq!(decompress(&c), want);
        }
    }
}
