use crate::test_util::{config, config_mode, open, replay, segments};
use crate::{MAX_RECORD_BYTES, SyncMode, Wal, WalError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn payload(thread: usize, i: usize) -> Vec<u8> {
    // Every seventh record is empty; the others are unique, up to 600 bytes.
    if (thread + i).is_multiple_of(7) {
        return Vec::new();
    }
    let mut p = format!("{thread}:{i}:").into_bytes();
    let len = (thread * 131 + i * 17) % 601;
    p.resize(len.max(p.len()), (i % 251) as u8);
    p
}

fn eventually(cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "condition never held"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn many_threads_round_trip_dense_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_mode(dir.path(), SyncMode::Always, 64 << 10);
    let (wal, replayed, _) = open(cfg.clone()).unwrap();
    assert!(replayed.is_empty());
    let wal = Arc::new(wal);
    const THREADS: usize = 16;
    const PER: usize = 150;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                (0..PER)
                    .map(|i| {
                        let p = payload(t, i);
                        let w = wal.append(p.clone(), false).wait_blocking().unwrap();
                        (w.seq, p)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut by_seq = BTreeMap::new();
    for h in handles {
        for (seq, p) in h.join().unwrap() {
            assert!(
                by_seq.insert(seq, p).is_none(),
                "seq {seq} handed out twice"
            );
        }
    }
    let n = (THREADS * PER) as u64;
    assert_eq!(
        by_seq.keys().copied().collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    let stats = wal.stats();
    assert_eq!(stats.appends, n);
    assert!(stats.groups <= n && stats.groups > 0);
    assert!(stats.segments > 1, "64 KiB segments rotate: {stats:?}");
    wal.close().unwrap();

    let (replayed, rstats) = replay(cfg).unwrap();
    assert_eq!(replayed, by_seq.into_iter().collect::<Vec<_>>());
    assert_eq!(rstats.records, n);
    assert_eq!(rstats.truncated_bytes, 0);
}

#[test]
fn sequence_continues_after_reopen_in_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path())).unwrap();
    assert_eq!(wal.current_segment(), 1);
    assert_eq!(
        wal.append(b"a".to_vec(), false)
            .wait_blocking()
            .unwrap()
            .seq,
        1
    );
    assert_eq!(wal.append(vec![], false).wait_blocking().unwrap().seq, 2);
    drop(wal);

    let (wal, replayed, stats) = open(config(dir.path())).unwrap();
    assert_eq!(replayed, vec![(1, b"a".to_vec()), (2, vec![])]);
    assert_eq!(stats.segments, 1);
    assert_eq!(wal.current_segment(), 2);
    let w = wal.append(b"c".to_vec(), false).wait_blocking().unwrap();
    assert_eq!((w.seq, w.segment), (3, 2));
    drop(w);
    drop(wal);
    // An empty segment (opened and closed) keeps the numbering too.
    let (wal, _, _) = open(config(dir.path())).unwrap();
    drop(wal);
    let (wal, replayed, _) = open(config(dir.path())).unwrap();
    assert_eq!(replayed.len(), 3);
    assert_eq!(
        wal.append(b"d".to_vec(), false)
            .wait_blocking()
            .unwrap()
            .seq,
        4
    );
}

#[test]
fn advanced_sequence_numbers_start_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path())).unwrap();
    assert_eq!(wal.next_seq(), 1);
    assert_eq!(
        wal.append(b"a".to_vec(), false)
            .wait_blocking()
            .unwrap()
            .seq,
        1
    );
    wal.advance_seq_to(100);
    wal.advance_seq_to(50);
    assert_eq!(wal.next_seq(), 100);
    let w = wal.append(b"b".to_vec(), false).wait_blocking().unwrap();
    assert_eq!((w.seq, w.segment), (100, 2));
    drop(w);
    drop(wal);
    let (wal, replayed, _) = open(config(dir.path())).unwrap();
    assert_eq!(replayed, vec![(1, b"a".to_vec()), (100, b"b".to_vec())]);
    assert_eq!(wal.next_seq(), 101);
}

#[test]
fn rotation_and_removal_respect_pins_and_the_current_segment() {
    let dir = tempfile::tempdir().unwrap();
    // Every group rotates: one record per segment.
    let (wal, _, _) = open(config_mode(dir.path(), SyncMode::Always, 1)).unwrap();
    let written: Vec<_> = (0..5u8)
        .map(|i| wal.append(vec![i; 10], false).wait_blocking().unwrap())
        .collect();
    assert_eq!(
        written.iter().map(|w| w.segment).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    // Waiters are completed before the writer rotates; `current` moves on
    // when the old segment closes, the registry entry once the new one exists.
    eventually(|| wal.current_segment() == 6 && wal.stats().segments == 6);
    assert_eq!(segments(dir.path()).len(), 6);
    assert_eq!(wal.oldest_pinned_segment(), Some(1));

    let mut pins: Vec<_> = written.into_iter().map(|w| Some(w.pin)).collect();
    assert_eq!(
        wal.remove_segments_before(u64::MAX).unwrap(),
        0,
        "segment 1 is pinned"
    );
    pins[0] = None;
    pins[2] = None;
    assert_eq!(wal.oldest_pinned_segment(), Some(2));
    // 1 goes; 2 is pinned, so 3 stays too (ids on disk stay contiguous).
    assert_eq!(wal.remove_segments_before(u64::MAX).unwrap(), 1);
    assert_eq!(segments(dir.path()).len(), 5);
    pins.iter_mut().for_each(|p| *p = None);
    assert_eq!(wal.oldest_pinned_segment(), None);
    assert_eq!(wal.remove_segments_before(4).unwrap(), 2, "only ids < 4");
    assert_eq!(
        wal.remove_segments_before(u64::MAX).unwrap(),
        2,
        "not the current one"
    );
    assert_eq!(segments(dir.path()).len(), 1);
    assert_eq!(wal.stats().segments, 1);
    assert_eq!(wal.remove_segments_before(u64::MAX).unwrap(), 0);

    // A cloned pin holds the segment as well.
    let w = wal.append(b"x".to_vec(), false).wait_blocking().unwrap();
    let clone = w.pin.clone();
    drop(w);
    eventually(|| wal.current_segment() == 7 && wal.stats().segments == 2);
    assert_eq!(wal.oldest_pinned_segment(), Some(6));
    assert_eq!(wal.remove_segments_before(u64::MAX).unwrap(), 0);
    drop(clone);
    assert_eq!(wal.remove_segments_before(u64::MAX).unwrap(), 1);
    wal.close().unwrap();

    let (replayed, _) = replay(config(dir.path())).unwrap();
    assert!(
        replayed.is_empty(),
        "the removed segments held every record"
    );
    let (wal, _, _) = open(config(dir.path())).unwrap();
    assert_eq!(wal.append(vec![], false).wait_blocking().unwrap().seq, 7);
}

#[test]
fn always_mode_syncs_before_acknowledging_and_no_sync_does_not_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path())).unwrap();
    let base = wal.stats().syncs;
    for _ in 0..3 {
        wal.append(b"x".to_vec(), false).wait_blocking().unwrap();
    }
    // Sequential waits: one group and one sync each.
    assert_eq!(wal.stats().syncs, base + 3);
    assert_eq!(wal.stats().groups, 3);
    wal.append(b"y".to_vec(), true).wait_blocking().unwrap();
    assert_eq!(wal.stats().syncs, base + 3, "no_sync alone syncs nothing");
    wal.close().unwrap();
    assert_eq!(
        wal.stats().syncs,
        base + 4,
        "close syncs the no_sync record"
    );
}

#[test]
fn interval_mode_syncs_within_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let every = Duration::from_millis(50);
    let (wal, _, _) = open(config_mode(dir.path(), SyncMode::Interval(every), 1 << 20)).unwrap();
    let base = wal.stats().syncs;
    let t = Instant::now();
    wal.append(b"x".to_vec(), false).wait_blocking().unwrap();
    // Acknowledged after the write; the sync follows within the interval (a
    // generous bound here: the machine may be busy).
    while wal.stats().syncs == base {
        assert!(t.elapsed() < Duration::from_secs(5), "no interval sync");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Idle and clean: no more syncs.
    let synced = wal.stats().syncs;
    std::thread::sleep(every * 3);
    assert_eq!(wal.stats().syncs, synced);
}

#[test]
fn interval_mode_syncs_under_continuous_load() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config_mode(
        dir.path(),
        SyncMode::Interval(Duration::from_millis(20)),
        1 << 30,
    ))
    .unwrap();
    let base = wal.stats().syncs;
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(300) {
        wal.append(vec![1; 100], false).wait_blocking().unwrap();
    }
    assert!(wal.stats().syncs > base, "{:?}", wal.stats());
}

#[test]
fn none_mode_syncs_only_on_rotation_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config_mode(dir.path(), SyncMode::None, 1000)).unwrap();
    let base = wal.stats().syncs;
    for _ in 0..5 {
        wal.append(vec![0; 100], false).wait_blocking().unwrap();
    }
    assert_eq!(wal.stats().syncs, base);
    for _ in 0..5 {
        wal.append(vec![0; 100], false).wait_blocking().unwrap();
    }
    // The 1000-byte segment filled: synced on rotation, plus the new header.
    assert_eq!(wal.stats().syncs, base + 2);
    wal.append(vec![0; 100], false).wait_blocking().unwrap();
    wal.close().unwrap();
    assert_eq!(wal.stats().syncs, base + 3);
}

#[test]
fn closed_and_oversized_appends_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path())).unwrap();
    let big = wal.append(vec![0; MAX_RECORD_BYTES + 1], false);
    assert_eq!(big.seq, 0);
    let e = big.wait_blocking().unwrap_err();
    assert!(matches!(e, WalError::RecordTooLarge { .. }), "{e}");
    let queued = wal.append(b"last".to_vec(), false);
    wal.close().unwrap();
    // Queued before close: written and synced by close.
    assert_eq!(queued.wait_blocking().unwrap().seq, 1);
    let late = wal.append(b"late".to_vec(), false);
    assert_eq!(late.seq, 0);
    assert!(matches!(late.wait_blocking(), Err(WalError::Closed)));
    wal.close().unwrap();
}

#[test]
fn config_errors_say_what_to_fix() {
    let e = open(crate::WalConfig::default()).unwrap_err().to_string();
    assert!(e.contains("directory is not set"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = open(config_mode(dir.path(), SyncMode::Always, 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("segment_bytes"), "{e}");
}

#[test]
fn replay_callback_error_stops_open() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path())).unwrap();
    for i in 0..3u8 {
        wal.append(vec![i], false).wait_blocking().unwrap();
    }
    drop(wal);
    let mut seen = 0;
    let e = Wal::open(config(dir.path()), |r| {
        seen += 1;
        if r.seq == 2 {
            Err("bad record")
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(seen, 2);
    assert!(matches!(e, crate::OpenError::Callback("bad record")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_wait_from_many_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path())).unwrap();
    let wal = Arc::new(wal);
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let wal = Arc::clone(&wal);
            tokio::spawn(async move {
                wal.append(i.to_le_bytes().to_vec(), i % 3 == 0)
                    .wait()
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap().seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
    let stats = wal.stats();
    assert!(stats.syncs <= stats.groups + 1, "{stats:?}");
}

#[test]
fn wal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Wal>();
    check::<crate::Written>();
}

#[test]
fn removed_segments_are_recycled_and_replay_cleanly() {
    use crate::test_util::capture_logs;
    let dir = tempfile::tempdir().unwrap();
    let seg_bytes = 8 << 10;
    let cfg = config_mode(dir.path(), SyncMode::Always, seg_bytes);
    let (wal, _, _) = open(cfg.clone()).unwrap();
    let len = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    let mut sent = Vec::new();
    let mut recycled = 0;
    while recycled < 3 {
        assert!(sent.len() < 10_000, "no segment was recycled");
        let before = wal.current_segment();
        // Records of varying length, so stale records rarely line up.
        let p = payload(1, sent.len()).repeat(3);
        let w = wal.append(p.clone(), false).wait_blocking().unwrap();
        sent.push((w.segment, w.seq, p));
        drop(w);
        if wal.current_segment() != before {
            // A segment made from a spare is its predecessor's full size at
            // once.
            let newest = segments(dir.path()).pop().unwrap();
            if len(&newest) >= seg_bytes {
                recycled += 1;
            }
            // Everything before the previous segment is persisted elsewhere.
            wal.remove_segments_before(before).unwrap();
        }
    }
    // Skipped numbers close the recycled segment early: its stale bytes are
    // cut at rotation.
    let next = sent.last().map_or(1, |(_, s, _)| s + 1);
    wal.advance_seq_to(next + 5);
    let w = wal
        .append(b"after".to_vec(), false)
        .wait_blocking()
        .unwrap();
    assert_eq!(w.seq, next + 5);
    sent.push((w.segment, w.seq, b"after".to_vec()));
    drop(w);
    drop(wal);
    let first_kept = segments(dir.path())
        .first()
        .and_then(|p| crate::format::parse_segment_file_name(p.file_name()?.to_str()?))
        .unwrap();
    let want: Vec<(u64, Vec<u8>)> = sent
        .into_iter()
        .filter(|(seg, _, _)| *seg >= first_kept)
        .map(|(_, seq, p)| (seq, p))
        .collect();
    // The last segment's stale bytes were cut at close: replay finds every
    // kept record and has nothing to cut or warn about.
    let ((replayed, stats), logs) = capture_logs(|| replay(cfg.clone()).unwrap());
    assert_eq!(replayed, want);
    assert_eq!(stats.truncated_bytes, 0);
    assert!(logs.iter().all(|l| !l.contains("WARN")), "{logs:?}");
}

#[test]
fn zeros_left_by_a_crash_are_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (wal, _, _) = open(cfg.clone()).unwrap();
    drop(wal.append(b"kept".to_vec(), false).wait_blocking().unwrap());
    drop(wal);
    // What a process killed in the middle of a spare-made segment leaves.
    let seg = segments(dir.path()).pop().unwrap();
    let valid = std::fs::metadata(&seg).unwrap().len();
    crate::test_util::truncate_file(&seg, valid + 100_000);
    let (replayed, stats) = replay(cfg.clone()).unwrap();
    assert_eq!(replayed, vec![(1, b"kept".to_vec())]);
    assert_eq!(stats.truncated_bytes, 100_000);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), valid);
    let (_, stats) = replay(cfg).unwrap();
    assert_eq!(stats.truncated_bytes, 0);
}
