//! Engine tests: the persistence round trip, restarts with and without
//! persisting, crashes, store faults, back-pressure and WAL sync modes.
//!
//! Rows are compared as normalised maps (column name -> value, nulls left out)
//! so buffered batches, Parquet files and the test's own model compare equal
//! whatever their column sets. `all_rows` reads a table the way a query does:
//! one buffer snapshot, buffered batches widened to the table schema plus the
//! committed files decoded from the store.
//!
//! A "crash" is either dropping the engine without `shutdown` or, closer to
//! `kill -9`, copying the data directory and the store while the engine runs
//! and opening the copies ([`Env::fork`]).

mod concurrent;
mod faults;
mod ghost;
mod model;
mod wal_damage;

use super::*;
use crate::buffer::widen;
use crate::catalog::CatalogLimits;
use crate::manifest::Manifest;
use crate::persist::PersistConfig;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType, UInt64Type,
};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;
use strata_ingest::{ParseOptions, line_protocol};
use strata_model::Precision;
use tempfile::TempDir;

/// 2024-01-01T00:00:00Z in nanoseconds.
const BASE: i64 = 1_704_067_200_000_000_000;
const HOUR: i64 = 3_600_000_000_000;
const DB: &str = "db";

// ---------------------------------------------------------------------------
// Rows and points
// ---------------------------------------------------------------------------

/// One normalised value (floats by bit pattern so rows are `Ord`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Str(String),
    F64(u64),
    I64(i64),
    U64(u64),
    Bool(bool),
    Time(i64),
}

/// Column name -> value; null columns are absent.
type Row = BTreeMap<String, Val>;

/// A field value of a test point.
#[derive(Debug, Clone)]
enum FieldVal {
    F(f64),
    I(i64),
    U(u64),
    B(bool),
    S(String),
}

/// One line-protocol point.
#[derive(Debug, Clone)]
struct Point {
    table: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, FieldVal)>,
    time: i64,
}

impl Point {
    fn new(table: &str, time: i64) -> Self {
        Self {
            table: table.to_owned(),
            tags: Vec::new(),
            fields: Vec::new(),
            time,
        }
    }

    fn tag(mut self, k: &str, v: &str) -> Self {
        self.tags.push((k.to_owned(), v.to_owned()));
        self
    }

    fn field(mut self, k: &str, v: FieldVal) -> Self {
        self.fields.push((k.to_owned(), v));
        self
    }

    /// The point as one line of line protocol (tag and field names and tag
    /// values in tests need no escaping).
    fn line(&self) -> String {
        let mut s = self.table.clone();
        for (k, v) in &self.tags {
            s.push_str(&format!(",{k}={v}"));
        }
        for (i, (k, v)) in self.fields.iter().enumerate() {
            s.push(if i == 0 { ' ' } else { ',' });
            let v = match v {
                FieldVal::F(f) => format!("{f:?}"),
                FieldVal::I(i) => format!("{i}i"),
                FieldVal::U(u) => format!("{u}u"),
                FieldVal::B(b) => b.to_string(),
                FieldVal::S(t) => format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")),
            };
            s.push_str(&format!("{k}={v}"));
        }
        s.push_str(&format!(" {}", self.time));
        s
    }

    /// The row the engine must hold for this point.
    fn row(&self) -> Row {
        let mut r: Row = self
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), Val::Str(v.clone())))
            .collect();
        for (k, v) in &self.fields {
            let v = match v {
                FieldVal::F(f) => Val::F64(f.to_bits()),
                FieldVal::I(i) => Val::I64(*i),
                FieldVal::U(u) => Val::U64(*u),
                FieldVal::B(b) => Val::Bool(*b),
                FieldVal::S(t) => Val::Str(t.clone()),
            };
            r.insert(k.clone(), v);
        }
        r.insert("time".to_owned(), Val::Time(self.time));
        r
    }
}

/// Parses `points` as one line-protocol body: one write batch, possibly with
/// several tables.
fn batch(points: &[Point]) -> WriteBatch {
    let body: Vec<String> = points.iter().map(Point::line).collect();
    let body = body.join("\n");
    let parsed = line_protocol::parse(
        body.as_bytes(),
        &ParseOptions::new(Precision::Nanosecond, BASE),
    );
    assert!(parsed.errors.is_empty(), "{:?}\n{body}", parsed.errors);
    assert_eq!(parsed.batch.row_count(), points.len());
    parsed.batch
}

/// The expected content of each table: every acknowledged row, once.
#[derive(Debug, Default, Clone)]
struct Model {
    tables: BTreeMap<String, Vec<Row>>,
}

impl Model {
    fn add(&mut self, points: &[Point]) {
        for p in points {
            self.tables
                .entry(p.table.clone())
                .or_default()
                .push(p.row());
        }
    }

    fn rows(&self, table: &str) -> Vec<Row> {
        let mut rows = self.tables.get(table).cloned().unwrap_or_default();
        rows.sort();
        rows
    }

    fn len(&self) -> usize {
        self.tables.values().map(Vec::len).sum()
    }
}

/// Rows of one record batch, nulls left out.
fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    let mut rows = vec![Row::new(); batch.num_rows()];
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name();
        let col = match col.data_type() {
            DataType::Dictionary(_, _) | DataType::Utf8View | DataType::LargeUtf8 => {
                arrow::compute::cast(col, &DataType::Utf8).unwrap()
            }
            _ => Arc::clone(col),
        };
        for (i, row) in rows.iter_mut().enumerate() {
            if col.is_null(i) {
                continue;
            }
            let v = match col.data_type() {
                DataType::Utf8 => Val::Str(col.as_string::<i32>().value(i).to_owned()),
                DataType::Float64 => Val::F64(col.as_primitive::<Float64Type>().value(i).to_bits()),
                DataType::Int64 => Val::I64(col.as_primitive::<Int64Type>().value(i)),
                DataType::UInt64 => Val::U64(col.as_primitive::<UInt64Type>().value(i)),
                DataType::Boolean => Val::Bool(col.as_boolean().value(i)),
                DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                    Val::Time(col.as_primitive::<TimestampNanosecondType>().value(i))
                }
                other => panic!("unexpected column type {other} of {name}"),
            };
            row.insert(name.clone(), v);
        }
    }
    rows
}

/// Decodes a committed Parquet file.
async fn read_file(store: &Arc<dyn ObjectStore>, path: &str) -> Vec<RecordBatch> {
    let bytes: Bytes = store
        .get(&ObjectPath::from(path))
        .await
        .unwrap_or_else(|e| panic!("committed file {path} is missing: {e}"))
        .bytes()
        .await
        .unwrap();
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Every row of `db.table` as a query would see it (one snapshot: buffered
/// batches plus committed files), sorted.
async fn all_rows(engine: &Engine, db: &str, table: &str) -> Vec<Row> {
    let cat = engine.catalog().snapshot();
    let Some(d) = cat.database(db) else {
        return Vec::new();
    };
    let Some(t) = d.table(table) else {
        return Vec::new();
    };
    let Some(buf) = engine.buffer().get(d.id(), t.id()) else {
        return Vec::new();
    };
    let snap = buf.snapshot(i64::MIN, i64::MAX);
    assert_eq!(snap.files.len(), snap.total_files);
    let mut rows = Vec::new();
    for b in &snap.batches {
        rows.extend(rows_of(&widen(t.arrow_schema(), &b.batch).unwrap()));
    }
    let store = engine.object_store().expect("engine on disk");
    for f in &snap.files {
        let mut n = 0;
        for b in read_file(store, &f.path).await {
            n += b.num_rows();
            rows.extend(rows_of(&b));
        }
        assert_eq!(n as u64, f.rows, "row count of {} in the manifest", f.path);
    }
    rows.sort();
    rows
}

/// Asserts that every table of `model` reads back exactly as the model says.
async fn assert_matches(engine: &Engine, model: &Model, context: &str) {
    for table in model.tables.keys() {
        let got = all_rows(engine, DB, table).await;
        let want = model.rows(table);
        assert!(
            got == want,
            "{context}: table {table}: {} rows read, {} expected\n{}",
            got.len(),
            want.len(),
            diff(&got, &want)
        );
    }
}

/// A short description of how two sorted row lists differ.
fn diff(got: &[Row], want: &[Row]) -> String {
    let mut extra = got.to_vec();
    let mut missing = Vec::new();
    for w in want {
        match extra.iter().position(|g| g == w) {
            Some(i) => {
                extra.remove(i);
            }
            None => missing.push(w.clone()),
        }
    }
    format!(
        "extra (first 3 of {}): {:?}\nmissing (first 3 of {}): {:?}",
        extra.len(),
        &extra[..extra.len().min(3)],
        missing.len(),
        &missing[..missing.len().min(3)]
    )
}

// ---------------------------------------------------------------------------
// Environment: data directory, store, options, open/restart/crash
// ---------------------------------------------------------------------------

/// A data directory and a store an engine is opened on, again and again.
#[derive(Debug)]
struct Env {
    dir: TempDir,
    store: Arc<dyn ObjectStore>,
    /// Keeps the directory of a `DurableLocalStore` alive.
    store_dir: Option<TempDir>,
    wal: WalOptions,
    persist: PersistConfig,
}

impl Env {
    /// Persistence off (so `persist_all` is deterministic), 4 KiB WAL segments,
    /// `fdatasync` on every write.
    fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            store,
            store_dir: None,
            wal: WalOptions {
                sync: SyncMode::Always,
                skip_corrupt: false,
                segment_bytes: 4 << 10,
            },
            persist: PersistConfig {
                enabled: false,
                ..PersistConfig::default()
            },
        }
    }

    fn in_memory() -> Self {
        Self::new(Arc::new(InMemory::new()))
    }

    fn local() -> Self {
        let store_dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::objects::DurableLocalStore::new(store_dir.path()).unwrap());
        Self {
            store_dir: Some(store_dir),
            ..Self::new(store)
        }
    }

    fn args(&self) -> EngineArgs {
        EngineArgs {
            data_dir: self.dir.path().join("data"),
            catalog_limits: CatalogLimits::default(),
            wal: self.wal.clone(),
            store: Arc::clone(&self.store),
            persist: self.persist,
        }
    }

    async fn open(&self) -> Arc<Engine> {
        Engine::open(self.args()).await.unwrap()
    }

    fn wal_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data").join("wal")
    }

    /// A copy of the data directory and the store as they are now: what a
    /// `kill -9` at this moment would leave behind. The running engine keeps
    /// its own.
    async fn fork(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&self.dir.path().join("data"), &dir.path().join("data"));
        let (store, store_dir): (Arc<dyn ObjectStore>, _) = match &self.store_dir {
            Some(_) => {
                let d = tempfile::tempdir().unwrap();
                let s = crate::objects::DurableLocalStore::new(d.path()).unwrap();
                (Arc::new(s), Some(d))
            }
            None => (Arc::new(InMemory::new()), None),
        };
        for path in object_paths(&self.store).await {
            let p = ObjectPath::from(path.as_str());
            let bytes = self.store.get(&p).await.unwrap().bytes().await.unwrap();
            store.put(&p, PutPayload::from(bytes)).await.unwrap();
        }
        Self {
            dir,
            store,
            store_dir,
            wal: self.wal.clone(),
            persist: self.persist,
        }
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

/// Every object in the store, sorted.
async fn object_paths(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    let mut paths: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    paths.sort();
    paths
}

/// Data files (everything outside `_strata/`).
async fn data_files(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    let mut p = object_paths(store).await;
    p.retain(|p| !p.starts_with("_strata/"));
    p
}

/// Last-rows sidecars in the store.
async fn sidecars(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    let mut p = object_paths(store).await;
    p.retain(|p| crate::last_rows::is_sidecar(p));
    p
}

/// WAL segment files on disk.
fn wal_segments(env: &Env) -> usize {
    std::fs::read_dir(env.wal_dir())
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits until `engine` is the last handle (write tasks drop theirs as they
/// finish) and drops it, so its WAL is closed before the next open.
async fn release(engine: Arc<Engine>) {
    let mut engine = engine;
    for _ in 0..10_000 {
        match Arc::try_unwrap(engine) {
            Ok(e) => {
                drop(e);
                return;
            }
            Err(e) => {
                engine = e;
                tokio::task::yield_now().await;
            }
        }
    }
    panic!("another handle to the engine is still alive");
}

/// Clean restart: shutdown, drop, open again on the same directory and store.
async fn restart(env: &Env, engine: Arc<Engine>) -> Arc<Engine> {
    engine.shutdown().await.unwrap();
    release(engine).await;
    env.open().await
}

/// Drop without shutdown, then open again.
async fn crash(env: &Env, engine: Arc<Engine>) -> Arc<Engine> {
    release(engine).await;
    env.open().await
}

/// Polls `cond` until it holds; fails after 30 s (a hang, not a slow run).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..30_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Writes `points` as one batch and checks that all were accepted.
async fn write(engine: &Arc<Engine>, points: &[Point], opts: WriteOptions) {
    let out = engine.write(DB, batch(points), opts).await.unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.rows, points.len() as u64);
}

const HOSTS: [&str; 3] = ["a", "b", "c"];

/// `n` points for `table` spread over `hours` hours, with tags, several field
/// types and, for one point in five, a missing tag.
fn points(table: &str, start: usize, n: usize, hours: usize) -> Vec<Point> {
    (start..start + n)
        .map(|i| {
            let hour = (i % hours) as i64;
            // Descending within an hour, so files must really be sorted.
            let time = BASE + hour * HOUR + (1_000_000 - i as i64) * 1_000;
            let mut p = Point::new(table, time).tag("host", HOSTS[i % 3]);
            if i % 5 != 0 {
                p = p.tag("region", if i % 2 == 0 { "eu" } else { "us" });
            }
            p.field("usage", FieldVal::F(i as f64 / 4.0))
                .field("count", FieldVal::I(i as i64 - 50))
                .field("ok", FieldVal::B(i % 3 == 0))
        })
        .collect()
}

/// Points of two tables interleaved in one batch.
fn mixed(start: usize, n: usize, hours: usize) -> Vec<Point> {
    let mut out = Vec::new();
    for (a, b) in points("cpu", start, n, hours)
        .into_iter()
        .zip(points("mem", start, n, hours))
    {
        out.push(a);
        out.push(b);
    }
    out
}

fn stat(v: &std::sync::atomic::AtomicU64) -> u64 {
    v.load(Ordering::Relaxed)
}

/// Checks that a file's rows are sorted by the tag columns (schema order,
/// nulls last) and then time.
fn assert_sorted(path: &str, batches: &[RecordBatch]) {
    let mut prev: Option<(Vec<(bool, String)>, i64)> = None;
    for b in batches {
        let tags: Vec<_> = b
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.data_type(), DataType::Dictionary(_, _)))
            .map(|(i, _)| arrow::compute::cast(b.column(i), &DataType::Utf8).unwrap())
            .collect();
        assert!(!tags.is_empty(), "{path}: tag columns are dictionaries");
        let time = b
            .column_by_name("time")
            .unwrap()
            .as_primitive::<TimestampNanosecondType>();
        for i in 0..b.num_rows() {
            // (is null, value): a NULL tag sorts after every value.
            let key: Vec<(bool, String)> = tags
                .iter()
                .map(|c| {
                    let v = c.as_string::<i32>();
                    (
                        c.is_null(i),
                        if c.is_null(i) {
                            String::new()
                        } else {
                            v.value(i).to_owned()
                        },
                    )
                })
                .collect();
            let cur = (key, time.value(i));
            if let Some(p) = &prev {
                assert!(p <= &cur, "{path}: row {i} {cur:?} sorts before {p:?}");
            }
            prev = Some(cur);
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persist_round_trip_files_manifest_and_restart() {
    let env = Env::in_memory();
    let engine = env.open().await;
    let mut model = Model::default();
    // 30 records of 24 rows (two tables, three hours): several 4 KiB segments.
    for w in 0..30 {
        let pts = mixed(w * 12, 12, 3);
        write(&engine, &pts, WriteOptions::default()).await;
        model.add(&pts);
    }
    assert!(
        wal_segments(&env) > 2,
        "the test needs several WAL segments"
    );
    assert_matches(&engine, &model, "before persisting").await;

    engine.persist_all().await;
    let stats = engine.persist_stats().unwrap();
    assert_eq!(stat(&stats.files), 6, "2 tables x 3 hours");
    assert_eq!(stat(&stats.rows), model.len() as u64);
    assert_eq!(stat(&stats.errors), 0);
    assert!(
        stat(&stats.wal_segments_removed) > 0,
        "closed segments are deleted once persisted"
    );
    assert_eq!(engine.buffer().total().rows(), 0);
    assert_eq!(engine.buffer().total().bytes(), 0);

    // One file per table and partition, at db/table/YYYY-MM-DD/HH/<id>.parquet.
    let files = data_files(&env.store).await;
    assert_eq!(files.len(), 6, "{files:?}");
    let mut partitions: Vec<(String, String)> = Vec::new();
    for f in &files {
        let parts: Vec<&str> = f.split('/').collect();
        assert_eq!(parts.len(), 5, "{f}");
        assert_eq!(parts[0], DB);
        assert!(parts[1] == "cpu" || parts[1] == "mem", "{f}");
        assert_eq!(parts[2], "2024-01-01", "{f}");
        assert!(["00", "01", "02"].contains(&parts[3]), "{f}");
        assert!(parts[4].ends_with(".parquet"), "{f}");
        partitions.push((parts[1].to_owned(), parts[3].to_owned()));
        assert_sorted(f, &read_file(&env.store, f).await);
    }
    partitions.sort();
    partitions.dedup();
    assert_eq!(partitions.len(), 6, "one file per partition: {files:?}");

    // The manifest is in the store and names exactly those files.
    let manifest = Manifest::open(Arc::clone(&env.store)).await.unwrap();
    let mut named: Vec<String> = manifest.files().iter().map(|f| f.path.clone()).collect();
    named.sort();
    assert_eq!(named, files);

    // Nothing buffered any more: each table is 3 files.
    let cat = engine.catalog().snapshot();
    let db = cat.database(DB).unwrap();
    for table in ["cpu", "mem"] {
        let t = db.table(table).unwrap();
        let snap = engine
            .buffer()
            .get(db.id(), t.id())
            .unwrap()
            .snapshot(i64::MIN, i64::MAX);
        assert_eq!(snap.batches.len(), 0, "{table}");
        assert_eq!(snap.files.len(), 3, "{table}");
        assert_eq!(snap.total_files, 3, "{table}");
    }
    assert_matches(&engine, &model, "after persist_all").await;

    // Restart: replay skips what the files hold; every row once.
    let engine = restart(&env, engine).await;
    let rec = engine.recovery().clone();
    assert_eq!(rec.rows, 0, "{rec:?}");
    assert!(rec.skipped > 0 || rec.records == 0, "{rec:?}");
    assert_eq!(rec.files, 6, "{rec:?}");
    assert_eq!(rec.orphans, 0, "{rec:?}");
    assert_eq!(engine.buffer().total().rows(), 0);
    assert_matches(&engine, &model, "after restart").await;

    // And the engine keeps working: new rows land next to the files.
    let more = mixed(10_000, 5, 3);
    write(&engine, &more, WriteOptions::default()).await;
    model.add(&more);
    assert_matches(&engine, &model, "after restart and a write").await;
    engine.persist_all().await;
    let engine = restart(&env, engine).await;
    assert_eq!(engine.recovery().rows, 0);
    assert_eq!(engine.recovery().files, 12);
    assert_matches(&engine, &model, "after a second persist and restart").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_without_persisting_replays_each_row_once() {
    let env = Env::in_memory();
    let engine = env.open().await;
    let mut model = Model::default();
    for w in 0..10 {
        let pts = mixed(w * 7, 7, 2);
        write(&engine, &pts, WriteOptions::default()).await;
        model.add(&pts);
    }
    let engine = restart(&env, engine).await;
    let rec = engine.recovery().clone();
    assert_eq!(rec.records, 10, "{rec:?}");
    assert_eq!(rec.rows, model.len() as u64, "{rec:?}");
    assert_eq!(rec.skipped, 0, "{rec:?}");
    assert_matches(&engine, &model, "after a clean restart").await;

    // Restarting again (replayed rows are not re-logged) still gives each row once.
    let engine = restart(&env, engine).await;
    assert_eq!(engine.recovery().rows, model.len() as u64);
    assert_matches(&engine, &model, "after a second restart").await;

    // Crash (no shutdown) after more writes.
    let pts = mixed(500, 9, 2);
    write(&engine, &pts, WriteOptions::default()).await;
    model.add(&pts);
    let engine = crash(&env, engine).await;
    assert_eq!(engine.recovery().rows, model.len() as u64);
    assert_matches(&engine, &model, "after a crash").await;

    // Replayed rows persist like any others; then nothing is replayed.
    engine.persist_all().await;
    assert_eq!(
        stat(&engine.persist_stats().unwrap().rows),
        model.len() as u64
    );
    let engine = crash(&env, engine).await;
    assert_eq!(engine.recovery().rows, 0);
    assert_matches(&engine, &model, "after persisting replayed rows").await;
    engine.shutdown().await.unwrap();
}

/// Records carry rows of both tables; the first table's commit succeeds, the
/// second's never does, and the process dies then. After restart the first
/// table must not be replayed (duplicates), the second must be (loss), and the
/// second's uploaded files are orphans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partially_persisted_records_replay_only_the_unpersisted_table() {
    use crate::objects::{FaultyStore, Op};
    let faulty = FaultyStore::new(Arc::new(InMemory::new()));
    let env = Env::new(Arc::<FaultyStore>::clone(&faulty));
    let engine = env.open().await;
    let mut model = Model::default();
    for w in 0..8 {
        let pts = mixed(w * 5, 5, 2);
        write(&engine, &pts, WriteOptions::default()).await;
        model.add(&pts);
    }
    // The second manifest delta (the second table's commit) always fails.
    faulty.fail_matching(Op::Put, "00000000000000000002.json", None);
    let persisting = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.persist_all().await }
    });
    let stats = engine.persist_stats().unwrap();
    while stat(&stats.errors) == 0 {
        tokio::task::yield_now().await;
    }
    // The first table is committed, the second uploaded but not committed.
    let (first, second) = {
        let cat = engine.catalog().snapshot();
        let db = cat.database(DB).unwrap();
        let files = |t: &str| {
            let t = db.table(t).unwrap();
            engine
                .buffer()
                .get(db.id(), t.id())
                .unwrap()
                .snapshot(i64::MIN, i64::MAX)
                .total_files
        };
        match (files("cpu"), files("mem")) {
            (2, 0) => ("cpu", "mem"),
            (0, 2) => ("mem", "cpu"),
            other => panic!("unexpected committed files {other:?}"),
        }
    };
    let crashed = env.fork().await;
    persisting.abort();
    let _ = persisting.await;
    engine.shutdown().await.unwrap();
    release(engine).await;

    let uploaded = data_files(&crashed.store).await;
    assert_eq!(uploaded.len(), 4, "{uploaded:?}");
    let uncommitted_sidecars = sidecars(&crashed.store).await.len();
    let engine = crashed.open().await;
    let rec = engine.recovery().clone();
    assert_eq!(
        rec.orphans,
        2 + uncommitted_sidecars,
        "{second}'s uncommitted uploads: {rec:?}"
    );
    assert_eq!(rec.files, 2, "{rec:?}");
    assert_eq!(rec.skipped, 8, "{first}'s part of each record: {rec:?}");
    assert_eq!(rec.rows, 8 * 5, "{second}'s rows: {rec:?}");
    let left = data_files(&crashed.store).await;
    assert!(
        left.iter()
            .all(|f| f.starts_with(&format!("{DB}/{first}/"))),
        "{left:?}"
    );
    for s in sidecars(&crashed.store).await {
        assert!(
            left.iter().any(|f| crate::last_rows::sidecar_path(f) == s),
            "orphaned sidecar {s} survived"
        );
    }
    assert_matches(&engine, &model, "after the crash").await;

    // Finishing the job leaves both tables in files, each row once.
    engine.persist_all().await;
    let engine = restart(&crashed, engine).await;
    assert_eq!(engine.recovery().rows, 0);
    assert_eq!(engine.recovery().files, 4);
    assert_matches(&engine, &model, "after persisting the rest").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_modes_and_no_sync_writes_are_replayed() {
    let modes = [
        SyncMode::Always,
        SyncMode::Interval(Duration::from_millis(5)),
        SyncMode::None,
    ];
    for mode in modes {
        let mut env = Env::local();
        env.wal.sync = mode;
        let engine = env.open().await;
        assert_eq!(engine.sync_mode(), Some(&mode));
        let mut model = Model::default();
        for w in 0..6 {
            let pts = mixed(w * 4, 4, 2);
            let opts = WriteOptions {
                accept_partial: false,
                no_sync: w % 2 == 1,
            };
            write(&engine, &pts, opts).await;
            model.add(&pts);
        }
        assert_matches(&engine, &model, &format!("{mode:?}: live")).await;
        let engine = restart(&env, engine).await;
        assert_eq!(engine.recovery().rows, model.len() as u64, "{mode:?}");
        assert_matches(&engine, &model, &format!("{mode:?}: after restart")).await;
        engine.persist_all().await;
        let engine = restart(&env, engine).await;
        assert_eq!(engine.recovery().rows, 0, "{mode:?}");
        assert_matches(&engine, &model, &format!("{mode:?}: persisted")).await;
        engine.shutdown().await.unwrap();
    }
}

/// More commits than the manifest's checkpoint interval, across restarts: the
/// checkpoint must carry every file and watermark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_persists_cross_a_manifest_checkpoint() {
    let mut env = Env::in_memory();
    env.wal.sync = SyncMode::None;
    let mut engine = env.open().await;
    let mut model = Model::default();
    // Each round commits two deltas (cpu and mem): 40 rounds = 80 deltas.
    for round in 0..40 {
        let pts = mixed(round * 3, 3, 1);
        write(&engine, &pts, WriteOptions::default()).await;
        model.add(&pts);
        engine.persist_all().await;
        if round % 13 == 12 {
            engine = restart(&env, engine).await;
            assert_eq!(engine.recovery().rows, 0, "round {round}");
        }
    }
    let mut deltas = object_paths(&env.store).await;
    deltas.retain(|p| p.starts_with("_strata/manifest/"));
    let deltas = deltas.len();
    assert!(deltas < 80, "superseded deltas are deleted ({deltas} left)");
    let engine = restart(&env, engine).await;
    assert_eq!(engine.recovery().rows, 0);
    assert_eq!(engine.recovery().files, 80);
    assert_matches(&engine, &model, "after the checkpoint").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_batches_are_not_logged_or_replayed() {
    let env = Env::in_memory();
    let engine = env.open().await;
    let mut model = Model::default();
    let good = points("cpu", 0, 3, 1);
    write(&engine, &good, WriteOptions::default()).await;
    model.add(&good);
    // `usage` is a float; an integer value conflicts.
    let bad = [
        Point::new("cpu", BASE + 1).field("other", FieldVal::F(1.0)),
        Point::new("cpu", BASE + 2).field("usage", FieldVal::I(1)),
    ];
    let out = engine
        .write(DB, batch(&bad), WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(out.rows, 0);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert_matches(&engine, &model, "after a rejected batch").await;
    // With accept_partial the valid row is written, once.
    let out = engine
        .write(
            DB,
            batch(&bad),
            WriteOptions {
                accept_partial: true,
                no_sync: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(out.rows, 1);
    model.add(&bad[..1]);
    let engine = crash(&env, engine).await;
    assert_eq!(engine.recovery().rows, 4);
    assert_matches(&engine, &model, "after restart").await;
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_data_directory_opens_once() {
    let env = Env::in_memory();
    let engine = env.open().await;
    let err = Engine::open(env.args()).await.unwrap_err().to_string();
    assert!(err.contains("in use by another Strata process"), "{err}");
    engine.shutdown().await.unwrap();
    release(engine).await;
    let again = env.open().await;
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_background_persister() {
    let mut env = Env::in_memory();
    env.persist.enabled = true;
    let engine = env.open().await;
    release(engine).await;
    // The lock (and the WAL) went with the engine: the directory opens again.
    let again = env.open().await;
    again.shutdown().await.unwrap();
}
