//! An ambiguous manifest commit: the put reports an error (a timeout, a lost
//! response) but the store applies it later anyway, as S3 may. The commit is
//! retried meanwhile, and another table may commit in between.

use super::*;
use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    PutMultipartOptions, PutOptions, PutResult,
};
use parking_lot::Mutex;

/// Delegates to `inner`, except that while `hold` is set, manifest deltas whose
/// body contains it fail; the first of them is kept and applied later by
/// [`GhostStore::land`].
#[derive(Debug)]
struct GhostStore {
    inner: Arc<dyn ObjectStore>,
    hold: Mutex<Option<String>>,
    ghost: Mutex<Option<(ObjectPath, PutPayload)>>,
}

impl std::fmt::Display for GhostStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GhostStore({})", self.inner)
    }
}

impl GhostStore {
    fn ghost_path(&self) -> Option<String> {
        self.ghost.lock().as_ref().map(|(p, _)| p.to_string())
    }

    /// The request that "failed" reaches the store now.
    async fn land(&self) {
        let (path, payload) = self.ghost.lock().take().expect("a held put");
        self.inner.put(&path, payload).await.unwrap();
    }
}

#[async_trait]
impl ObjectStore for GhostStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if location.as_ref().starts_with("_strata/manifest") {
            let body: Vec<u8> = payload.iter().flat_map(|b| b.iter().copied()).collect();
            let body = String::from_utf8_lossy(&body).into_owned();
            let held = self.hold.lock().as_ref().is_some_and(|h| body.contains(h));
            if held {
                let mut ghost = self.ghost.lock();
                if ghost.is_none() {
                    *ghost = Some((location.clone(), payload));
                }
                return Err(object_store::Error::Generic {
                    store: "ghost",
                    source: "request timed out (the store may still apply it)".into(),
                });
            }
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Table `cpu`'s commit of delta N "fails" but lands late; meanwhile `mem`
/// commits and takes number N too, and the late put overwrites `mem`'s delta.
/// After a restart `cpu`'s file is named twice (duplicate rows) and `mem`'s
/// file is deleted as an orphan (its rows are lost once its WAL segments are).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_landing_failed_commit_does_not_erase_another_commit() {
    let ghost = Arc::new(GhostStore {
        inner: Arc::new(InMemory::new()),
        hold: Mutex::new(None),
        ghost: Mutex::new(None),
    });
    let mut env = Env::new(Arc::<GhostStore>::clone(&ghost));
    env.wal.segment_bytes = 1 << 10;
    let engine = env.open().await;
    let mut model = Model::default();
    for w in 0..10 {
        let pts = points("cpu", w * 4, 4, 1);
        write(&engine, &pts, WriteOptions::default()).await;
        model.add(&pts);
    }
    let cpu = {
        let cat = engine.catalog().snapshot();
        cat.database(DB).unwrap().table("cpu").unwrap().id()
    };
    *ghost.hold.lock() = Some(format!("\"table\":{},", cpu.get()));

    // cpu's commit fails, and keeps failing until the test says otherwise.
    let first = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.persist_all().await }
    });
    eventually("cpu's commit failed", || ghost.ghost_path().is_some()).await;
    // mem rows (several WAL segments), committed while cpu's commit is being
    // retried: today mem's delta takes the number of cpu's failed put.
    for w in 0..10 {
        let pts = points("mem", w * 4, 4, 1);
        write(&engine, &pts, WriteOptions::default()).await;
        model.add(&pts);
    }
    engine.persist_all().await;

    // The "failed" request is applied by the store now; cpu's retry succeeds.
    ghost.land().await;
    *ghost.hold.lock() = None;
    first.await.unwrap();
    engine.persist_all().await;
    assert_matches(&engine, &model, "before restart").await;

    let engine = restart(&env, engine).await;
    let rec = engine.recovery().clone();
    // Both tables, so a failure shows both consequences.
    let cpu_rows = all_rows(&engine, DB, "cpu").await.len();
    let mem_rows = all_rows(&engine, DB, "mem").await.len();
    assert_eq!(
        (cpu_rows, mem_rows),
        (model.rows("cpu").len(), model.rows("mem").len()),
        "rows of (cpu, mem) after restart ({rec:?})"
    );
    assert_matches(&engine, &model, "after restart").await;
    assert_eq!(
        rec.orphans, 0,
        "committed files deleted as orphans: {rec:?}"
    );
    engine.shutdown().await.unwrap();
}
