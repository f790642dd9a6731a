//! I/O failures through the fault-injecting storage: failed appends get an
//! error naming the OS error, later appends succeed, and replay holds every
//! acknowledged record and no record of a failed write.

use crate::io::fault::{EIO, ENOSPC, FaultStorage, Faults};
use crate::test_util::{config_mode, replay};
use crate::{SyncMode, Wal, WalConfig, WalError};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn open_faulty(cfg: WalConfig) -> (Wal, Arc<Faults>) {
    let faults = Faults::new();
    let storage = Box::new(FaultStorage::new(Arc::clone(&faults)));
    let (wal, _) = Wal::open_with(cfg, storage, |_| Ok::<_, Infallible>(())).unwrap();
    (wal, faults)
}

fn os_error(e: &WalError) -> Option<i32> {
    match e {
        WalError::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

fn replayed(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    replay(config_mode(dir, SyncMode::Always, 1 << 20))
        .unwrap()
        .0
}

#[test]
fn failed_write_is_not_acknowledged_and_later_appends_succeed() {
    for (partial, set_len_fails) in [(false, false), (true, false), (true, true)] {
        let dir = tempfile::tempdir().unwrap();
        let (wal, faults) = open_faulty(config_mode(dir.path(), SyncMode::Always, 1 << 20));
        let a = wal.append(b"a".to_vec(), false).wait_blocking().unwrap();
        faults.partial.store(partial, Ordering::Relaxed);
        faults.set_len.store(set_len_fails, Ordering::Relaxed);
        faults.writes.store(1, Ordering::Relaxed);
        let b = wal
            .append(b"b-failed".repeat(100), false)
            .wait_blocking()
            .unwrap_err();
        assert_eq!(os_error(&b), Some(ENOSPC), "{b}");
        let msg = b.to_string();
        assert!(
            msg.contains("write failed") && msg.contains("00000000000000000001.wal"),
            "{msg}"
        );
        assert!(msg.contains("os error 28"), "{msg}");
        let c = wal.append(b"c".to_vec(), false).wait_blocking().unwrap();
        assert_eq!((a.seq, c.seq), (1, 3));
        assert_eq!(c.segment, 2, "a failed write moves to a new segment");
        assert_eq!(wal.stats().failures, 1);
        drop((a, c));
        wal.close().unwrap();
        assert_eq!(
            replayed(dir.path()),
            vec![(1, b"a".to_vec()), (3, b"c".to_vec())],
            "partial {partial}, set_len fails {set_len_fails}"
        );
    }
}

#[test]
fn failed_sync_fails_the_waiters_and_abandons_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = open_faulty(config_mode(dir.path(), SyncMode::Always, 1 << 20));
    faults.errno.store(EIO as u32, Ordering::Relaxed);
    wal.append(b"a".to_vec(), false).wait_blocking().unwrap();
    faults.syncs.store(1, Ordering::Relaxed);
    let e = wal
        .append(b"b".to_vec(), false)
        .wait_blocking()
        .unwrap_err();
    assert_eq!(os_error(&e), Some(EIO));
    assert!(e.to_string().contains("fdatasync failed"), "{e}");
    let c = wal.append(b"c".to_vec(), false).wait_blocking().unwrap();
    assert_eq!((c.seq, c.segment), (3, 2));
    drop(c);
    wal.close().unwrap();
    // "b" was written but its sync failed: it may reappear (it was never
    // acknowledged as durable). Every acknowledged record is there.
    let got: Vec<u64> = replayed(dir.path()).into_iter().map(|(s, _)| s).collect();
    assert!(got == [1, 2, 3] || got == [1, 3], "{got:?}");
}

#[test]
fn no_sync_append_completes_before_a_failing_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = open_faulty(config_mode(dir.path(), SyncMode::Always, 1 << 20));
    faults.syncs.store(1, Ordering::Relaxed);
    // Alone in its group, the no_sync append needs no sync at all.
    wal.append(b"fast".to_vec(), true).wait_blocking().unwrap();
    assert_eq!(
        faults.syncs.load(Ordering::Relaxed),
        1,
        "no sync was attempted"
    );
}

#[test]
fn persistent_enospc_fails_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = open_faulty(config_mode(dir.path(), SyncMode::Always, 1 << 20));
    wal.append(b"a".to_vec(), false).wait_blocking().unwrap();
    // The group write fails, then creating the replacement segment fails on
    // the failure path and again for the next append.
    faults.writes.store(1, Ordering::Relaxed);
    faults.creates.store(2, Ordering::Relaxed);
    let b = wal
        .append(b"b".to_vec(), false)
        .wait_blocking()
        .unwrap_err();
    assert!(b.to_string().contains("write failed"), "{b}");
    let c = wal
        .append(b"c".to_vec(), false)
        .wait_blocking()
        .unwrap_err();
    assert!(c.to_string().contains("create segment failed"), "{c}");
    assert_eq!(os_error(&c), Some(ENOSPC));
    assert_eq!(wal.current_segment(), 2);
    let d = wal.append(b"d".to_vec(), false).wait_blocking().unwrap();
    assert_eq!((d.seq, d.segment), (4, 2));
    drop(d);
    wal.close().unwrap();
    assert_eq!(
        replayed(dir.path()),
        vec![(1, b"a".to_vec()), (4, b"d".to_vec())]
    );
    // Numbering continues after the gap.
    let (wal, records, _) =
        crate::test_util::open(config_mode(dir.path(), SyncMode::Always, 1 << 20)).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(wal.append(vec![], false).wait_blocking().unwrap().seq, 5);
}

#[test]
fn concurrent_appends_across_failures_replay_exactly_the_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = open_faulty(config_mode(dir.path(), SyncMode::Always, 16 << 10));
    faults.partial.store(true, Ordering::Relaxed);
    let wal = Arc::new(wal);
    let handles: Vec<_> = (0..8u8)
        .map(|t| {
            let wal = Arc::clone(&wal);
            let faults = Arc::clone(&faults);
            std::thread::spawn(move || {
                let mut ok = Vec::new();
                let mut failed = Vec::new();
                for i in 0..100u32 {
                    if t == 0 && i % 20 == 10 {
                        faults.writes.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut p = vec![t; 50 + i as usize];
                    p.extend_from_slice(&i.to_le_bytes());
                    let a = wal.append(p.clone(), false);
                    let seq = a.seq;
                    match a.wait_blocking() {
                        Ok(w) => ok.push((w.seq, p)),
                        Err(e) => {
                            assert_eq!(os_error(&e), Some(ENOSPC), "{e}");
                            failed.push(seq);
                        }
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let mut ok = Vec::new();
    let mut failed = BTreeSet::new();
    for h in handles {
        let (o, f) = h.join().unwrap();
        ok.extend(o);
        failed.extend(f);
    }
    ok.sort();
    assert!(!failed.is_empty());
    assert_eq!(ok.len() + failed.len(), 800);
    wal.close().unwrap();
    assert_eq!(replayed(dir.path()), ok);
}
