//! Concurrent writers, readers, the background persister and `persist_all`:
//! the interleaving varies between runs, the checked outcome does not.

use super::*;
use std::sync::atomic::AtomicBool;

const WRITERS: usize = 4;
const WRITES: usize = 25;
const PER_WRITE: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_persists_and_reads_keep_every_row_once() {
    let mut env = Env::in_memory();
    env.wal.segment_bytes = 1 << 10;
    env.persist = PersistConfig {
        rows: 8,
        tick: Duration::from_millis(1),
        enabled: true,
        ..PersistConfig::default()
    };
    let engine = env.open().await;
    let done = Arc::new(AtomicBool::new(false));

    // Readers: a snapshot never shows a row twice, and rows never disappear.
    let reader = tokio::spawn({
        let (engine, done) = (Arc::clone(&engine), Arc::clone(&done));
        async move {
            let mut seen = 0;
            let mut reads = 0u32;
            while !done.load(Ordering::Relaxed) || reads < 3 {
                let rows = all_rows(&engine, DB, "cpu").await;
                let mut unique = rows.clone();
                unique.dedup();
                assert_eq!(unique.len(), rows.len(), "a row is visible twice");
                assert!(
                    rows.len() >= seen,
                    "rows disappeared: {seen} -> {}",
                    rows.len()
                );
                seen = rows.len();
                reads += 1;
                tokio::task::yield_now().await;
            }
        }
    });
    let persister = tokio::spawn({
        let (engine, done) = (Arc::clone(&engine), Arc::clone(&done));
        async move {
            while !done.load(Ordering::Relaxed) {
                engine.persist_all().await;
                tokio::task::yield_now().await;
            }
        }
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let engine = Arc::clone(&engine);
            tokio::spawn(async move {
                let mut written = Vec::new();
                for k in 0..WRITES {
                    let start = w * 10_000 + k * PER_WRITE;
                    let table = ["cpu", "mem", "disk"][(w + k) % 3];
                    let mut pts = points(table, start, PER_WRITE, 3);
                    // Every other write also touches cpu: multi-table records.
                    if k % 2 == 0 && table != "cpu" {
                        pts.extend(points("cpu", start + 5_000, 1, 3));
                    }
                    let opts = WriteOptions {
                        accept_partial: false,
                        no_sync: k % 3 == 0,
                    };
                    write(&engine, &pts, opts).await;
                    written.extend(pts);
                }
                written
            })
        })
        .collect();
    let mut model = Model::default();
    for w in writers {
        model.add(&w.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    reader.await.unwrap();
    persister.await.unwrap();
    assert_matches(&engine, &model, "after the concurrent run").await;
    engine.persist_all().await;
    assert_matches(&engine, &model, "after a final persist_all").await;
    let stats = engine.persist_stats().unwrap();
    assert_eq!(stat(&stats.rows), model.len() as u64);
    assert_eq!(stat(&stats.errors), 0);

    // A shutdown may abandon an upload (an orphan then); never a row.
    env.persist.enabled = false;
    let engine = restart(&env, engine).await;
    assert_eq!(engine.recovery().rows, 0);
    assert_matches(&engine, &model, "after restart").await;
    let committed = engine.recovery().files;
    assert_eq!(data_files(&env.store).await.len(), committed);
    engine.shutdown().await.unwrap();
}

/// Writers racing a restart-free shutdown: every acknowledged write is
/// replayed after the next open, and nothing unacknowledged half-appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_racing_shutdown_are_all_or_nothing() {
    let env = Env::in_memory();
    let engine = env.open().await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let engine = Arc::clone(&engine);
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut refused = 0;
                for k in 0..WRITES {
                    let pts = points("cpu", w * 10_000 + k * PER_WRITE, PER_WRITE, 2);
                    match engine.write(DB, batch(&pts), WriteOptions::default()).await {
                        Ok(out) => {
                            assert_eq!(out.rows, PER_WRITE as u64);
                            acked.push(pts);
                        }
                        Err(EngineError::Wal(_)) => refused += 1,
                        Err(e) => panic!("unexpected error {e}"),
                    }
                    tokio::task::yield_now().await;
                }
                (acked, refused)
            })
        })
        .collect();
    for _ in 0..WRITERS * 3 {
        tokio::task::yield_now().await;
    }
    engine.shutdown().await.unwrap();
    let mut acked = Vec::new();
    let mut refused = 0;
    for w in writers {
        let (a, r) = w.await.unwrap();
        acked.extend(a);
        refused += r;
    }
    release(engine).await;
    let engine = env.open().await;
    // Refused writes were never logged (the WAL was closed before their append).
    let rows = all_rows(&engine, DB, "cpu").await;
    let mut model = Model::default();
    for pts in &acked {
        model.add(pts);
    }
    assert_eq!(
        rows,
        model.rows("cpu"),
        "{} acknowledged and {refused} refused writes",
        acked.len()
    );
    engine.shutdown().await.unwrap();
}
