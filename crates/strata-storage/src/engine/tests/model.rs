//! Model-based property test: random writes, persists, restarts and crashes
//! against an in-memory multiset of acknowledged rows.

use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

const TABLES: [&str; 3] = ["cpu", "mem", "disk"];
const TAGS: [&str; 3] = ["host", "region", "zone"];
const TAG_VALUES: [&str; 4] = ["a", "b", "c", "hot-1"];
const STRINGS: [&str; 4] = ["", "x", "with space", "say \"hi\""];
/// Field `f<i>` has type `i % 5`; later indices are "new columns" that appear
/// as the sequence goes on.
const FIELDS: u8 = 8;

#[derive(Debug, Clone)]
struct RowSpec {
    table: usize,
    tags: [Option<usize>; 3],
    fields: BTreeMap<u8, i32>,
    hour: i64,
    offset: i64,
}

impl RowSpec {
    fn point(&self) -> Point {
        let time = BASE + self.hour * HOUR + self.offset * 1_000_000;
        let mut p = Point::new(TABLES[self.table], time);
        for (name, v) in TAGS.iter().zip(self.tags) {
            if let Some(v) = v {
                p = p.tag(name, TAG_VALUES[v]);
            }
        }
        for (&i, &raw) in &self.fields {
            let v = match i % 5 {
                0 => FieldVal::F(f64::from(raw) / 4.0),
                1 => FieldVal::I(i64::from(raw) * 1_000_003),
                2 => FieldVal::U(u64::from(raw.unsigned_abs())),
                3 => FieldVal::B(raw % 2 == 0),
                _ => FieldVal::S(STRINGS[raw.unsigned_abs() as usize % STRINGS.len()].to_owned()),
            };
            p = p.field(&format!("f{i}"), v);
        }
        p
    }
}

#[derive(Debug, Clone)]
enum Step {
    Write {
        rows: Vec<RowSpec>,
        no_sync: bool,
    },
    PersistAll,
    /// Shutdown, drop, open.
    Restart,
    /// Drop without shutdown, open.
    Crash,
    /// Open a copy of the directory and store taken while running.
    CrashCopy,
}

fn row_spec() -> impl Strategy<Value = RowSpec> {
    (
        0..TABLES.len(),
        proptest::array::uniform3(proptest::option::of(0..TAG_VALUES.len())),
        proptest::collection::btree_map(0..FIELDS, any::<i32>(), 1..4),
        0i64..4,
        0i64..50,
    )
        .prop_map(|(table, tags, fields, hour, offset)| RowSpec {
            table,
            tags,
            fields,
            hour,
            offset,
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (proptest::collection::vec(row_spec(), 1..10), any::<bool>())
            .prop_map(|(rows, no_sync)| Step::Write { rows, no_sync }),
        2 => Just(Step::PersistAll),
        1 => Just(Step::Restart),
        1 => Just(Step::Crash),
        1 => Just(Step::CrashCopy),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    local_store: bool,
    sync: SyncMode,
    segment_bytes: u64,
    steps: Vec<Step>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop_oneof![Just(SyncMode::Always), Just(SyncMode::None)],
        prop_oneof![Just(1u64 << 10), Just(4 << 10), Just(1 << 20)],
        proptest::collection::vec(step(), 1..14),
    )
        .prop_map(|(local_store, sync, segment_bytes, steps)| Case {
            local_store,
            sync,
            segment_bytes,
            steps,
        })
}

async fn run(case: Case) {
    let mut env = if case.local_store {
        Env::local()
    } else {
        Env::in_memory()
    };
    env.wal.sync = case.sync;
    env.wal.segment_bytes = case.segment_bytes;
    let mut engine = env.open().await;
    let mut model = Model::default();
    // Rows written since the last persist_all: what a restart must replay.
    let mut unpersisted = 0u64;
    for (i, step) in case.steps.iter().enumerate() {
        let what = format!("step {i} ({step:?})");
        match step {
            Step::Write { rows, no_sync } => {
                let pts: Vec<Point> = rows.iter().map(RowSpec::point).collect();
                let opts = WriteOptions {
                    accept_partial: false,
                    no_sync: *no_sync,
                };
                write(&engine, &pts, opts).await;
                model.add(&pts);
                unpersisted += pts.len() as u64;
            }
            Step::PersistAll => {
                let before = stat(&engine.persist_stats().unwrap().rows);
                engine.persist_all().await;
                let after = stat(&engine.persist_stats().unwrap().rows);
                assert_eq!(after - before, unpersisted, "{what}: rows persisted");
                assert_eq!(engine.buffer().total().bytes(), 0, "{what}");
                unpersisted = 0;
            }
            Step::Restart => engine = restart(&env, engine).await,
            Step::Crash => engine = crash(&env, engine).await,
            Step::CrashCopy => {
                let copy = env.fork().await;
                release(engine).await;
                env = copy;
                engine = env.open().await;
            }
        }
        if matches!(step, Step::Restart | Step::Crash | Step::CrashCopy) {
            let rec = engine.recovery();
            assert_eq!(rec.rows, unpersisted, "{what}: rows replayed ({rec:?})");
            assert_eq!(rec.orphans, 0, "{what}: {rec:?}");
        }
        assert_eq!(engine.buffer().total().rows(), unpersisted, "{what}");
        assert_matches(&engine, &model, &what).await;
    }
    engine.shutdown().await.unwrap();
}

#[test]
fn random_operations_match_the_model() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Config {
        cases: 24,
        failure_persistence: None,
        // Deterministic: the same 24 cases on every run.
        rng_seed: RngSeed::Fixed(0x5742_7a7a),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    runner
        .run(&case(), |case| {
            rt.block_on(run(case));
            Ok(())
        })
        .unwrap();
}
