use std::time::Instant;

use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStoreExt, PutPayload};

use super::*;

fn faulty() -> (Arc<FaultyStore>, Arc<dyn ObjectStore>) {
    let faulty = FaultyStore::new(Arc::new(InMemory::new()));
    let store: Arc<dyn ObjectStore> = Arc::clone(&faulty) as Arc<dyn ObjectStore>;
    (faulty, store)
}

fn assert_injected(result: object_store::Result<impl fmt::Debug>) {
    let err = result.unwrap_err();
    assert!(FaultyStore::is_injected(&err), "{err}");
    assert!(err.to_string().contains("injected failure"), "{err}");
}

#[tokio::test]
async fn fails_n_times_then_succeeds() {
    let (faulty, store) = faulty();
    let path = Path::from("a/file");
    faulty.fail(Op::Put, Some(2));
    assert_injected(store.put(&path, "x".into()).await);
    assert_injected(store.put(&path, "x".into()).await);
    store.put(&path, "x".into()).await.unwrap();
    assert_eq!(faulty.calls(Op::Put), 3);

    faulty.fail(Op::Get, Some(1));
    assert_injected(store.get(&path).await);
    store.get(&path).await.unwrap();

    // Head is its own op.
    faulty.fail(Op::Head, Some(1));
    store.get(&path).await.unwrap();
    assert_injected(store.head(&path).await);
    store.head(&path).await.unwrap();
}

#[tokio::test]
async fn fail_until_cleared() {
    let (faulty, store) = faulty();
    let path = Path::from("file");
    faulty.fail(Op::Put, None);
    for _ in 0..5 {
        assert_injected(store.put(&path, "x".into()).await);
    }
    faulty.clear();
    store.put(&path, "x".into()).await.unwrap();
    assert_eq!(faulty.calls(Op::Put), 6);
    // Zero times is no fault at all.
    faulty.fail(Op::Put, Some(0));
    store.put(&path, "x".into()).await.unwrap();
}

#[tokio::test]
async fn fail_matching_only_affects_matching_paths() {
    let (faulty, store) = faulty();
    faulty.fail_matching(Op::Put, "manifest", None);
    store
        .put(&Path::from("data/file.parquet"), "x".into())
        .await
        .unwrap();
    let err = store
        .put(&Path::from("manifest/v2"), "x".into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("put manifest/v2"), "{err}");

    // Copies and renames match either path.
    faulty.fail_matching(Op::Copy, "manifest", Some(1));
    assert_injected(
        store
            .copy(&Path::from("data/file.parquet"), &Path::from("manifest/x"))
            .await,
    );
    store
        .copy(&Path::from("data/file.parquet"), &Path::from("data/copy"))
        .await
        .unwrap();
    faulty.fail_matching(Op::Rename, "copy", Some(1));
    assert_injected(
        store
            .rename(&Path::from("data/copy"), &Path::from("data/moved"))
            .await,
    );
    store
        .rename(&Path::from("data/copy"), &Path::from("data/moved"))
        .await
        .unwrap();
    assert_eq!(faulty.calls(Op::Rename), 2);
}

#[tokio::test]
async fn list_faults_match_the_prefix() {
    let (faulty, store) = faulty();
    store.put(&Path::from("a/1"), "x".into()).await.unwrap();
    store.put(&Path::from("b/1"), "x".into()).await.unwrap();
    faulty.fail_matching(Op::List, "a", None);

    let err = store
        .list(Some(&Path::from("a")))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(FaultyStore::is_injected(&err), "{err}");
    assert_injected(store.list_with_delimiter(Some(&Path::from("a"))).await);
    let listed: Vec<_> = store
        .list(Some(&Path::from("b")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);

    // The root listing has prefix "", which does not contain "a".
    let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert_eq!(listed.len(), 2);
    faulty.fail(Op::List, Some(1));
    let err = store
        .list_with_offset(None, &Path::from("a"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(FaultyStore::is_injected(&err), "{err}");
    assert_eq!(faulty.calls(Op::List), 5);
}

#[tokio::test]
async fn delete_faults_are_per_location() {
    let (faulty, store) = faulty();
    for name in ["keep/1", "gone/2"] {
        store.put(&Path::from(name), "x".into()).await.unwrap();
    }
    faulty.fail_matching(Op::Delete, "keep", None);
    let locations = futures::stream::iter([Ok(Path::from("keep/1")), Ok(Path::from("gone/2"))]);
    let results: Vec<_> = store.delete_stream(locations.boxed()).collect().await;
    assert_eq!(results.len(), 2);
    assert!(FaultyStore::is_injected(results[0].as_ref().unwrap_err()));
    assert_eq!(results[1].as_ref().unwrap(), &Path::from("gone/2"));
    assert_eq!(faulty.calls(Op::Delete), 2);

    store.head(&Path::from("keep/1")).await.unwrap();
    assert!(store.head(&Path::from("gone/2")).await.is_err());
}

#[tokio::test]
async fn multipart_fails_at_start_or_at_complete() {
    let (faulty, store) = faulty();
    let path = Path::from("big");

    faulty.fail(Op::Put, Some(1));
    assert_injected(store.put_multipart(&path).await);

    let mut upload = store.put_multipart(&path).await.unwrap();
    upload.put_part(PutPayload::from("part")).await.unwrap();
    faulty.fail(Op::Put, Some(1));
    assert_injected(upload.complete().await);
    assert!(
        store.head(&path).await.is_err(),
        "not visible after a failed complete"
    );
    // Retrying the complete goes through.
    upload.complete().await.unwrap();
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"part");
    // Starts are counted, completes are not.
    assert_eq!(faulty.calls(Op::Put), 2);
}

#[tokio::test]
async fn delay_delays() {
    let (faulty, store) = faulty();
    let path = Path::from("slow");
    store.put(&path, "x".into()).await.unwrap();

    faulty.delay(Op::Get, Duration::from_secs(3600));
    let timed_out = tokio::time::timeout(Duration::from_millis(20), store.get(&path)).await;
    assert!(timed_out.is_err(), "the get should still be sleeping");

    faulty.delay(Op::Get, Duration::from_millis(50));
    let start = Instant::now();
    store.get(&path).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(50));

    faulty.delay(Op::List, Duration::from_millis(50));
    let start = Instant::now();
    let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(start.elapsed() >= Duration::from_millis(50));

    // Other ops are not delayed, and clear removes delays.
    faulty.clear();
    let timed = tokio::time::timeout(Duration::from_secs(5), store.get(&path)).await;
    timed.unwrap().unwrap();
}

#[tokio::test]
async fn calls_are_counted_per_op() {
    let (faulty, store) = faulty();
    let a = Path::from("a");
    store.put(&a, "x".into()).await.unwrap();
    store.get(&a).await.unwrap();
    store.get_range(&a, 0..1).await.unwrap();
    store.get_ranges(&a, &[0..1, 0..1]).await.unwrap();
    store.head(&a).await.unwrap();
    store.copy(&a, &Path::from("b")).await.unwrap();
    store
        .rename(&Path::from("b"), &Path::from("c"))
        .await
        .unwrap();
    let _: Vec<_> = store.list(None).try_collect().await.unwrap();
    store.delete(&a).await.unwrap();

    assert_eq!(faulty.calls(Op::Put), 1);
    assert_eq!(faulty.calls(Op::Get), 3);
    assert_eq!(faulty.calls(Op::Head), 1);
    assert_eq!(faulty.calls(Op::Copy), 1);
    assert_eq!(faulty.calls(Op::Rename), 1);
    assert_eq!(faulty.calls(Op::List), 1);
    assert_eq!(faulty.calls(Op::Delete), 1);
    assert!(faulty.to_string().starts_with("FaultyStore("), "{faulty}");
}
