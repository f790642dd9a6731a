//! Store failures, orphans, back-pressure and the background persister.

use super::*;
use crate::objects::{FaultyStore, Op};

fn faulty_env() -> (Arc<FaultyStore>, Env) {
    let faulty = FaultyStore::new(Arc::new(InMemory::new()));
    let env = Env::new(Arc::<FaultyStore>::clone(&faulty));
    (faulty, env)
}

async fn write_some(engine: &Arc<Engine>, model: &mut Model, start: usize, hours: usize) {
    for w in 0..4 {
        let pts = mixed(start + w * 6, 6, hours);
        write(engine, &pts, WriteOptions::default()).await;
        model.add(&pts);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_uploads_are_retried_until_they_succeed() {
    let (faulty, env) = faulty_env();
    let engine = env.open().await;
    let mut model = Model::default();
    write_some(&engine, &mut model, 0, 2).await;
    faulty.fail(Op::Put, Some(3));
    engine.persist_all().await;
    let stats = engine.persist_stats().unwrap();
    assert_eq!(stat(&stats.errors), 3);
    assert_eq!(stat(&stats.files), 4);
    assert_eq!(engine.buffer().total().rows(), 0);
    assert_matches(&engine, &model, "after retried uploads").await;
    // The retried uploads overwrote their own paths: no stray objects.
    assert_eq!(data_files(&env.store).await.len(), 4);
    let engine = restart(&env, engine).await;
    assert_eq!(engine.recovery().orphans, 0);
    assert_eq!(engine.recovery().rows, 0);
    assert_matches(&engine, &model, "after restart").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_manifest_commits_are_retried() {
    let (faulty, env) = faulty_env();
    let engine = env.open().await;
    let mut model = Model::default();
    write_some(&engine, &mut model, 0, 2).await;
    faulty.fail_matching(Op::Put, "_strata/manifest", Some(2));
    engine.persist_all().await;
    let stats = engine.persist_stats().unwrap();
    assert_eq!(stat(&stats.errors), 2);
    assert_eq!(stat(&stats.files), 4);
    assert_matches(&engine, &model, "after retried commits").await;
    let manifest = Manifest::open(Arc::clone(&env.store)).await.unwrap();
    let mut named: Vec<String> = manifest.files().iter().map(|f| f.path.clone()).collect();
    named.sort();
    assert_eq!(named, data_files(&env.store).await);
    let engine = restart(&env, engine).await;
    assert_eq!(engine.recovery().orphans, 0);
    assert_eq!(engine.recovery().rows, 0);
    assert_eq!(engine.recovery().files, 4);
    assert_matches(&engine, &model, "after restart").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_upload_is_deleted_at_open() {
    let env = Env::in_memory();
    let engine = env.open().await;
    let mut model = Model::default();
    write_some(&engine, &mut model, 0, 1).await;
    engine.persist_all().await;
    let committed = data_files(&env.store).await;
    assert_eq!(committed.len(), 2);
    // An upload whose commit never happened.
    let orphan = ObjectPath::from("db/cpu/2024-01-01/00/00000000000000000099-abc.parquet");
    env.store
        .put(&orphan, PutPayload::from_static(b"not parquet"))
        .await
        .unwrap();
    let engine = restart(&env, engine).await;
    assert_eq!(engine.recovery().orphans, 1);
    assert!(env.store.head(&orphan).await.is_err(), "orphan deleted");
    assert_eq!(data_files(&env.store).await, committed);
    assert_matches(&engine, &model, "after garbage collection").await;
    engine.shutdown().await.unwrap();
}

/// The background persister uploads, then every commit fails until shutdown:
/// the uploads are orphans at the next start and every row comes back from
/// the WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_failing_commits_loses_nothing() {
    let (faulty, mut env) = faulty_env();
    env.persist = PersistConfig {
        rows: 1,
        tick: Duration::from_millis(5),
        enabled: true,
        ..PersistConfig::default()
    };
    faulty.fail_matching(Op::Put, "_strata/manifest", None);
    let engine = env.open().await;
    let mut model = Model::default();
    // One table only, so the first failing commit means its uploads are done.
    let pts = points("cpu", 0, 20, 3);
    write(&engine, &pts, WriteOptions::default()).await;
    model.add(&pts);
    let stats = engine.persist_stats().unwrap();
    eventually("a commit failed", || stat(&stats.errors) > 0).await;
    assert_matches(&engine, &model, "while commits fail").await;
    engine.shutdown().await.unwrap();
    release(engine).await;
    assert_eq!(
        data_files(&env.store).await.len(),
        3,
        "uploaded, uncommitted"
    );

    // The three data files, plus the sidecars uploaded beside them (files
    // with few rows per series are their own and upload none).
    let orphaned = 3 + sidecars(&env.store).await.len();
    faulty.clear();
    env.persist.enabled = false;
    let engine = env.open().await;
    let rec = engine.recovery().clone();
    assert_eq!(rec.orphans, orphaned, "{rec:?}");
    assert_eq!(rec.files, 0, "{rec:?}");
    assert_eq!(rec.rows, 20, "{rec:?}");
    assert!(data_files(&env.store).await.is_empty());
    assert!(sidecars(&env.store).await.is_empty());
    assert_matches(&engine, &model, "after restart").await;
    engine.persist_all().await;
    assert_eq!(stat(&engine.persist_stats().unwrap().files), 3);
    let engine = restart(&env, engine).await;
    assert_eq!(engine.recovery().rows, 0);
    assert_matches(&engine, &model, "persisted after restart").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_refuses_writes_until_persisted() {
    let mut env = Env::in_memory();
    env.persist.hard_limit = 1;
    let engine = env.open().await;
    let mut model = Model::default();
    let first = points("cpu", 0, 5, 1);
    write(&engine, &first, WriteOptions::default()).await;
    model.add(&first);

    let refused = points("cpu", 100, 5, 1);
    let err = engine
        .write(DB, batch(&refused), WriteOptions::default())
        .await
        .unwrap_err();
    let EngineError::Backpressure {
        buffered,
        limit,
        ref cause,
    } = err
    else {
        panic!("expected back-pressure, got {err:?}");
    };
    assert_eq!(limit, 1);
    assert_eq!(buffered, engine.buffer().total().bytes());
    assert!(cause.is_empty(), "no persistence error yet: {cause:?}");
    let msg = err.to_string();
    assert!(msg.contains("hard limit 1"), "{msg}");
    assert!(msg.contains("Retry"), "{msg}");
    assert_matches(&engine, &model, "refused write is not visible").await;

    engine.persist_all().await;
    assert_eq!(engine.buffer().total().bytes(), 0);
    write(&engine, &refused, WriteOptions::default()).await;
    model.add(&refused);
    assert_matches(&engine, &model, "accepted after persisting").await;

    // The refused attempt was never logged: a restart replays only the retry.
    let engine = crash(&env, engine).await;
    assert_eq!(engine.recovery().rows, 5);
    assert_matches(&engine, &model, "after restart").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_names_the_last_persistence_error() {
    let (faulty, mut env) = faulty_env();
    env.persist.hard_limit = 1;
    let engine = env.open().await;
    let mut model = Model::default();
    let first = points("cpu", 0, 5, 1);
    write(&engine, &first, WriteOptions::default()).await;
    model.add(&first);

    faulty.fail(Op::Put, None);
    let persisting = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.persist_all().await }
    });
    let stats = engine.persist_stats().unwrap();
    eventually("an upload failed", || stat(&stats.errors) > 0).await;
    let refused = points("cpu", 100, 5, 1);
    let err = engine
        .write(DB, batch(&refused), WriteOptions::default())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EngineError::Backpressure { .. }), "{msg}");
    assert!(msg.contains("hard limit 1"), "{msg}");
    assert!(msg.contains("injected failure"), "{msg}");
    // Rows being persisted stay visible while the store fails.
    assert_matches(&engine, &model, "while uploads fail").await;

    faulty.clear();
    persisting.await.unwrap();
    write(&engine, &refused, WriteOptions::default()).await;
    model.add(&refused);
    assert_matches(&engine, &model, "after the store recovered").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_persister_follows_row_and_memory_thresholds() {
    for by_rows in [true, false] {
        let mut env = Env::in_memory();
        env.persist = PersistConfig {
            // Any row is due by count; or none is, and only the memory limit acts.
            rows: if by_rows { 1 } else { u64::MAX },
            age: Duration::from_secs(3_600),
            buffer_memory_limit: if by_rows { u64::MAX / 4 } else { 1 },
            hard_limit: u64::MAX,
            tick: Duration::from_millis(5),
            enabled: true,
            ..PersistConfig::default()
        };
        let engine = env.open().await;
        let mut model = Model::default();
        write_some(&engine, &mut model, 0, 2).await;
        let e = Arc::clone(&engine);
        eventually("everything is persisted", move || {
            e.buffer().total().rows() == 0
        })
        .await;
        assert_matches(&engine, &model, &format!("by_rows={by_rows}")).await;
        let engine = restart(&env, engine).await;
        assert_eq!(engine.recovery().rows, 0, "by_rows={by_rows}");
        assert_matches(&engine, &model, &format!("by_rows={by_rows}: restart")).await;
        engine.shutdown().await.unwrap();
        release(engine).await;
    }
}
