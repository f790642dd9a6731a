//! Engine recovery from damaged WAL segments: a torn tail, corruption before
//! the tail, and a tail lost to a power cut after its rows were persisted.

use super::*;
use strata_wal::format::{FRAME_HEADER_LEN, HEADER_LEN};

/// The WAL segment files, oldest first.
fn segment_paths(env: &Env) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(env.wal_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

/// Writes `n` single-table records, returning the model.
async fn write_records(engine: &Arc<Engine>, model: &mut Model, start: usize, n: usize) {
    for w in 0..n {
        let pts = points("cpu", start + w * 4, 4, 2);
        write(engine, &pts, WriteOptions::default()).await;
        model.add(&pts);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_truncated_and_acknowledged_rows_survive() {
    let mut env = Env::in_memory();
    env.wal.segment_bytes = 1 << 20;
    let engine = env.open().await;
    let mut model = Model::default();
    write_records(&engine, &mut model, 0, 5).await;
    release(engine).await;
    // A write that died half-way: a partial frame after the last record.
    let last = segment_paths(&env).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[7u8; 11]);
    std::fs::write(&last, bytes).unwrap();

    let engine = env.open().await;
    let rec = engine.recovery().clone();
    assert_eq!(rec.truncated_bytes, 11, "{rec:?}");
    assert_eq!(rec.records, 5, "{rec:?}");
    assert_matches(&engine, &model, "after truncating a torn tail").await;
    // The log continues cleanly after the repair.
    write_records(&engine, &mut model, 100, 2).await;
    let engine = crash(&env, engine).await;
    assert_eq!(engine.recovery().truncated_bytes, 0);
    assert_eq!(engine.recovery().records, 7);
    assert_matches(&engine, &model, "after the next restart").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_before_the_tail_stops_startup_unless_skipped() {
    let mut env = Env::in_memory();
    env.wal.segment_bytes = 1 << 20;
    let engine = env.open().await;
    let mut model = Model::default();
    write_records(&engine, &mut model, 0, 3).await;
    release(engine).await;
    // Damage the first record's payload; valid records follow it.
    let seg = segment_paths(&env).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = HEADER_LEN + FRAME_HEADER_LEN + 3;
    bytes[at] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();

    let err = Engine::open(env.args()).await.unwrap_err();
    let msg = err.to_string();
    let name = seg.file_name().unwrap().to_str().unwrap();
    assert!(msg.contains(name), "names the segment: {msg}");
    assert!(
        msg.contains(&HEADER_LEN.to_string()),
        "names the offset: {msg}"
    );

    // skip_corrupt starts anyway; that segment's records are lost.
    env.wal.skip_corrupt = true;
    let engine = env.open().await;
    assert_eq!(engine.recovery().rows, 0);
    assert!(all_rows(&engine, DB, "cpu").await.is_empty());
    // Later writes are durable again.
    let mut model = Model::default();
    write_records(&engine, &mut model, 100, 2).await;
    let engine = restart(&env, engine).await;
    assert_matches(&engine, &model, "writes after a lossy start").await;
    engine.shutdown().await.unwrap();
}

/// `--wal-sync none` and a power cut: records persisted to Parquet but never
/// synced in the WAL are gone from the log. Their sequence numbers must not be
/// handed out again, or replay would skip the new records they label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_unsynced_tail_never_reuses_persisted_sequence_numbers() {
    let mut env = Env::in_memory();
    env.wal.sync = SyncMode::None;
    env.wal.segment_bytes = 1 << 20;
    let engine = env.open().await;
    let mut model = Model::default();
    write_records(&engine, &mut model, 0, 5).await;
    engine.persist_all().await;
    release(engine).await;
    let segs = segment_paths(&env);
    assert_eq!(segs.len(), 1, "{segs:?}");
    // The power cut: nothing after the (synced) header reached the disk.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segs[0])
        .unwrap()
        .set_len(HEADER_LEN as u64)
        .unwrap();

    let engine = env.open().await;
    assert_eq!(engine.recovery().records, 0);
    assert_matches(&engine, &model, "persisted rows survive in Parquet").await;
    write_records(&engine, &mut model, 100, 3).await;
    let engine = crash(&env, engine).await;
    let rec = engine.recovery().clone();
    assert_eq!(rec.rows, 12, "the new records are replayed: {rec:?}");
    assert_eq!(rec.skipped, 0, "{rec:?}");
    assert_matches(&engine, &model, "after the second restart").await;
    engine.shutdown().await.unwrap();
}
