//! Crash model: random appends (empty payloads included) across rotations, then
//! the final segment cut at a random offset, as a crash in the middle of a write
//! leaves it. Replay must yield exactly the records whose frames lie wholly
//! before the cut: a prefix of what was appended, containing everything that was
//! on disk.

use crate::SyncMode;
use crate::format::SegmentReader;
use crate::test_util::{config_mode, open, replay, segments, truncate_file};
use proptest::prelude::*;

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![Just(0usize), 0usize..64, 0usize..3000], 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn cut_final_segment_replays_a_prefix(
        sizes in sizes(),
        segment_bytes in 64u64..8192,
        always in any::<bool>(),
        cut_frac in 0.0f64..=1.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mode = if always { SyncMode::Always } else { SyncMode::None };
        let cfg = config_mode(dir.path(), mode, segment_bytes);
        let (wal, _, _) = open(cfg.clone()).unwrap();
        let mut appended = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let payload: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
            let w = wal.append(payload.clone(), false).wait_blocking().unwrap();
            appended.push((w.seq, payload));
        }
        wal.close().unwrap();
        drop(wal);

        let last = segments(dir.path()).pop().unwrap();
        let bytes = std::fs::read(&last).unwrap();
        let cut = (bytes.len() as f64 * cut_frac) as usize;
        // Records of the final segment that survive the cut.
        let reader = SegmentReader::new(&bytes).unwrap();
        let first_in_last = reader.header().first_seq;
        let kept_in_last = reader.filter(|f| f.end() <= cut).count() as u64;
        truncate_file(&last, cut as u64);

        let (replayed, stats) = replay(cfg).unwrap();
        let want: Vec<_> = appended
            .iter()
            .filter(|(seq, _)| *seq < first_in_last + kept_in_last)
            .cloned()
            .collect();
        prop_assert_eq!(&replayed, &want);
        prop_assert_eq!(&replayed[..], &appended[..replayed.len()]);
        prop_assert_eq!(stats.records, want.len() as u64);
    }
}
