use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::*;

fn store() -> (tempfile::TempDir, DurableLocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = DurableLocalStore::new(dir.path().join("objects")).unwrap();
    (dir, store)
}

/// Names in a directory, sorted.
fn entries(dir: &FsPath) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn put_creates_nested_dirs_and_is_readable_by_plain_local_fs() {
    let (_dir, store) = store();
    let path = Path::from("dbs/1/file.parquet");
    let put = store.put(&path, "payload".into()).await.unwrap();

    let file = store.root().join("dbs").join("1").join("file.parquet");
    assert_eq!(std::fs::read(&file).unwrap(), b"payload");
    assert_eq!(entries(file.parent().unwrap()), ["file.parquet"]);

    // A fresh LocalFileSystem on the same root sees the same object.
    let plain = LocalFileSystem::new_with_prefix(store.root()).unwrap();
    let got = plain.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"payload");

    // The e-tag matches what a later head reports.
    let head = plain.head(&path).await.unwrap();
    assert_eq!(put.e_tag, head.e_tag);
    assert_eq!(store.head(&path).await.unwrap().e_tag, head.e_tag);
}

#[tokio::test]
async fn put_syncs_the_file_and_every_directory_up_to_the_root() {
    let (_dir, store) = store();
    store
        .put(&Path::from("a/b/c.parquet"), "x".into())
        .await
        .unwrap();
    // file + b + a + root
    assert_eq!(store.sync_count(), 4);

    store.put(&Path::from("top"), "x".into()).await.unwrap();
    // file + root
    assert_eq!(store.sync_count(), 6);
}

#[tokio::test]
async fn overwrite_replaces_and_leaves_no_staging_files() {
    let (_dir, store) = store();
    let path = Path::from("manifest/current");
    store.put(&path, "v1".into()).await.unwrap();
    store.put(&path, "v2-longer".into()).await.unwrap();
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"v2-longer");
    assert_eq!(entries(&store.root().join("manifest")), ["current"]);
}

#[tokio::test]
async fn create_mode_refuses_existing_objects() {
    let (_dir, store) = store();
    let path = Path::from("once");
    let create = PutOptions::from(PutMode::Create);
    store
        .put_opts(&path, "first".into(), create.clone())
        .await
        .unwrap();
    let err = store
        .put_opts(&path, "second".into(), create)
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err}"
    );
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"first");
    assert_eq!(entries(store.root()), ["once"]);
}

#[tokio::test]
async fn unsupported_put_modes_are_reported_by_local_fs() {
    let (_dir, store) = store();
    let update = PutOptions::from(PutMode::Update(object_store::UpdateVersion {
        e_tag: None,
        version: None,
    }));
    let err = store
        .put_opts(&Path::from("x"), "x".into(), update)
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::NotImplemented { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn multipart_upload_completes_durably() {
    let (_dir, store) = store();
    let path = Path::from("dbs/2/big.parquet");
    let mut upload = store.put_multipart(&path).await.unwrap();

    // In-flight uploads are hidden from listings.
    let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");

    let first = upload.put_part(PutPayload::from(vec![1u8; 1000]));
    let second = upload.put_part(PutPayload::from(vec![2u8; 500]));
    futures::future::try_join(first, second).await.unwrap();
    let before = store.sync_count();
    let put = upload.complete().await.unwrap();
    // file + "2" + "dbs" + root
    assert_eq!(store.sync_count() - before, 4);

    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    let mut expected = vec![1u8; 1000];
    expected.extend(vec![2u8; 500]);
    assert_eq!(got.as_ref(), expected.as_slice());
    assert_eq!(store.head(&path).await.unwrap().e_tag, put.e_tag);
    assert_eq!(
        entries(&store.root().join("dbs").join("2")),
        ["big.parquet"]
    );

    // A second complete is an error, not a panic.
    assert!(upload.complete().await.is_err());
}

#[tokio::test]
async fn multipart_abort_removes_the_staging_file() {
    let (_dir, store) = store();
    let path = Path::from("dir/aborted");
    let mut upload = store.put_multipart(&path).await.unwrap();
    upload.put_part("data".into()).await.unwrap();
    assert_eq!(entries(&store.root().join("dir")).len(), 1);
    upload.abort().await.unwrap();
    assert!(entries(&store.root().join("dir")).is_empty());
    assert!(store.head(&path).await.is_err());
}

#[tokio::test]
async fn copy_and_rename_are_synced() {
    let (_dir, store) = store();
    let src = Path::from("staging/file");
    store.put(&src, "content".into()).await.unwrap();

    let before = store.sync_count();
    let copy = Path::from("copies/deep/file");
    store.copy(&src, &copy).await.unwrap();
    // file + deep + copies + root
    assert_eq!(store.sync_count() - before, 4);
    let got = store.get(&copy).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"content");

    let before = store.sync_count();
    let renamed = Path::from("final/file");
    store.rename(&src, &renamed).await.unwrap();
    // file + final + root + staging (the source's directory)
    assert_eq!(store.sync_count() - before, 4);
    assert!(store.head(&src).await.is_err());
    let got = store.get(&renamed).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"content");

    // Create-mode copy keeps refusing existing targets.
    let err = store.copy_if_not_exists(&copy, &renamed).await.unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn reads_lists_and_deletes_delegate() {
    let (_dir, store) = store();
    for name in ["p/a", "p/b", "p/c", "q/d"] {
        store.put(&Path::from(name), name.into()).await.unwrap();
    }
    let ranges = store
        .get_ranges(&Path::from("p/a"), &[0..1, 1..3])
        .await
        .unwrap();
    assert_eq!(ranges, [&b"p"[..], &b"/a"[..]]);

    let after: Vec<_> = store
        .list_with_offset(Some(&Path::from("p")), &Path::from("p/a"))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    let mut after = after;
    after.sort();
    assert_eq!(after, ["p/b", "p/c"]);

    let listing = store.list_with_delimiter(None).await.unwrap();
    let mut prefixes: Vec<_> = listing
        .common_prefixes
        .iter()
        .map(ToString::to_string)
        .collect();
    prefixes.sort();
    assert_eq!(prefixes, ["p", "q"]);

    store.delete(&Path::from("q/d")).await.unwrap();
    assert!(store.head(&Path::from("q/d")).await.is_err());
}

#[test]
fn new_creates_missing_ancestors_and_displays_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("x").join("y").join("objects");
    let store = DurableLocalStore::new(&root).unwrap();
    assert!(root.is_dir());
    assert_eq!(store.root(), std::fs::canonicalize(&root).unwrap());
    assert_eq!(
        store.to_string(),
        format!("DurableLocalStore({})", store.root().display())
    );
}
