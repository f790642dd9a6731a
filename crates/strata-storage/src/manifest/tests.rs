use super::*;
use object_store::memory::InMemory;

fn file(path: &str, table: u32) -> ParquetFile {
    ParquetFile {
        path: path.to_owned(),
        db: DbId(0),
        table: TableId(table),
        min_time: 1,
        max_time: 2,
        rows: 3,
        size: 4,
        columns: BTreeMap::from([(
            "host".to_owned(),
            ColumnStats {
                min: Some(StatValue::Str("a".into())),
                max: Some(StatValue::Str("z".into())),
                nulls: 0,
            },
        )]),
        sort: Some(SortOrder::TagsNullsLastTime),
        last_rows: Some(crate::last_rows::sidecar_path(path)),
    }
}

#[tokio::test]
async fn commits_survive_reopen_and_checkpoints() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let m = Manifest::open(Arc::clone(&store)).await.unwrap();
    assert_eq!(m.max_persisted(), 0);
    let n = CHECKPOINT_EVERY + 10;
    for i in 0..n {
        m.commit(
            DbId(0),
            TableId((i % 2) as u32),
            i + 1,
            vec![file(&format!("db/t/{i}.parquet"), (i % 2) as u32)],
        )
        .await
        .unwrap();
    }
    let m2 = Manifest::open(Arc::clone(&store)).await.unwrap();
    assert_eq!(m2.files().len() as u64, n);
    assert_eq!(m2.files(), m.files());
    assert_eq!(m2.persisted_through(DbId(0), TableId(1)), n);
    assert_eq!(m2.persisted_through(DbId(0), TableId(0)), n - 1);
    assert_eq!(m2.max_persisted(), n);
    let deltas = store
        .list(Some(&Path::from(MANIFEST_PREFIX)))
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert!(
        (deltas.len() as u64) < n,
        "superseded deltas are deleted after a checkpoint ({} left)",
        deltas.len()
    );
    // Reopening after the checkpoint continues the numbering.
    m2.commit(DbId(0), TableId(0), n + 5, vec![]).await.unwrap();
    let m3 = Manifest::open(store).await.unwrap();
    assert_eq!(m3.persisted_through(DbId(0), TableId(0)), n + 5);
    assert_eq!(m3.files().len() as u64, n);
}

#[tokio::test]
async fn garbage_collection_deletes_only_uncommitted_objects() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let m = Manifest::open(Arc::clone(&store)).await.unwrap();
    let sidecar = |p: &str| crate::last_rows::sidecar_path(p);
    for p in [
        "db/t/kept.parquet".to_owned(),
        "db/t/orphan.parquet".to_owned(),
        sidecar("db/t/kept.parquet"),
        sidecar("db/t/orphan.parquet"),
    ] {
        store
            .put(&Path::from(p.as_str()), PutPayload::from_static(b"x"))
            .await
            .unwrap();
    }
    m.commit(DbId(0), TableId(0), 1, vec![file("db/t/kept.parquet", 0)])
        .await
        .unwrap();
    assert_eq!(m.collect_garbage().await.unwrap(), 2);
    assert!(store.head(&Path::from("db/t/kept.parquet")).await.is_ok());
    let kept = sidecar("db/t/kept.parquet");
    assert!(store.head(&Path::from(kept.as_str())).await.is_ok());
    let orphan = sidecar("db/t/orphan.parquet");
    assert!(store.head(&Path::from(orphan.as_str())).await.is_err());
    assert!(
        store
            .head(&Path::from("db/t/orphan.parquet"))
            .await
            .is_err()
    );
    assert!(
        Manifest::open(store).await.unwrap().files().len() == 1,
        "the manifest itself is never collected"
    );
}

#[tokio::test]
async fn damaged_delta_is_an_error_naming_it() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    store
        .put(&delta_path(1), PutPayload::from_static(b"{not json"))
        .await
        .unwrap();
    let err = Manifest::open(store).await.unwrap_err().to_string();
    assert!(err.contains("00000000000000000001.json"), "{err}");
}

#[test]
fn entries_of_earlier_builds_have_no_sort_order() {
    let mut v = serde_json::to_value(file("a", 1)).unwrap();
    assert_eq!(v["sort"], "tags_nulls_last_time");
    v.as_object_mut().unwrap().remove("sort");
    let old: ParquetFile = serde_json::from_value(v).unwrap();
    assert_eq!(old.sort, None);
}
