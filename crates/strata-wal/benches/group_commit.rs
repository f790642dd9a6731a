//! Group commit against the disk's own limit. The baseline is a loop of 1 MiB
//! `write` + `fdatasync` appending to one file; the WAL runs 16 writer threads
//! appending with `SyncMode::Always` (every append waits for its sync) at
//! several record sizes. Also: one lone small append's latency, beside a raw
//! small write + `fdatasync`.
//!
//! Files live under the target directory (`CARGO_TARGET_TMPDIR`), on the real
//! disk: check that it is not a tmpfs.
//!
//! `cargo bench -p strata-wal --bench group_commit`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use strata_wal::{SyncMode, Wal, WalConfig};

const MIB: usize = 1 << 20;
const WRITERS: usize = 16;
/// Raw baseline files are recreated past this size, outside the timing.
const RAW_FILE_LIMIT: u64 = 512 << 20;

fn tmp_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir under the target dir")
}

fn create(path: &Path) -> File {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("create bench file")
}

/// `iters` appends of `size` bytes, each followed by `fdatasync`.
fn raw_write_sync(c: &mut Criterion, name: &str, size: usize) {
    let dir = tmp_dir();
    let path = dir.path().join("raw.dat");
    let buf = vec![0x5a_u8; size];
    let mut g = c.benchmark_group("raw");
    g.throughput(Throughput::Bytes(size as u64));
    g.sample_size(20);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut f = create(&path);
            let mut len = 0u64;
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if len >= RAW_FILE_LIMIT {
                    f = create(&path);
                    len = 0;
                }
                let t = Instant::now();
                f.write_all(&buf).expect("write");
                f.sync_data().expect("fdatasync");
                total += t.elapsed();
                len += size as u64;
            }
            total
        })
    });
    g.finish();
}

fn open_wal(dir: &Path) -> Wal {
    let config = WalConfig {
        dir: dir.to_owned(),
        sync: SyncMode::Always,
        ..WalConfig::default()
    };
    Wal::open(config, |_| Ok::<_, std::convert::Infallible>(()))
        .expect("open WAL")
        .0
}

/// Per iteration, each of 16 threads appends one record and waits for it.
fn group_commit(c: &mut Criterion) {
    let dir = tmp_dir();
    let wal = Arc::new(open_wal(dir.path()));
    let mut g = c.benchmark_group("group_commit_16_writers");
    g.sample_size(20);
    for (name, size) in [("1KiB", 1 << 10), ("64KiB", 64 << 10), ("1MiB", MIB)] {
        g.throughput(Throughput::Bytes((WRITERS * size) as u64));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Arc::new(Barrier::new(WRITERS + 1));
                let elapsed = std::thread::scope(|s| {
                    for _ in 0..WRITERS {
                        let (wal, start) = (Arc::clone(&wal), Arc::clone(&start));
                        s.spawn(move || {
                            let payload = vec![0xa5_u8; size];
                            start.wait();
                            for _ in 0..iters {
                                wal.append(payload.clone(), false)
                                    .wait_blocking()
                                    .expect("append");
                            }
                        });
                    }
                    start.wait();
                    Instant::now()
                })
                .elapsed();
                // Keep the disk from filling: everything written is disposable.
                wal.remove_segments_before(wal.current_segment())
                    .expect("remove segments");
                elapsed
            })
        });
    }
    g.finish();
    let s = wal.stats();
    eprintln!(
        "group_commit: {} appends in {} groups, {} fdatasyncs ({:.1} appends per sync)",
        s.appends,
        s.groups,
        s.syncs,
        s.appends as f64 / s.syncs.max(1) as f64
    );
}

fn lone_append(c: &mut Criterion) {
    let dir = tmp_dir();
    let wal = open_wal(dir.path());
    let mut g = c.benchmark_group("latency");
    g.sample_size(50);
    g.bench_function("lone_append_100B_always", |b| {
        b.iter(|| {
            wal.append(vec![7; 100], false)
                .wait_blocking()
                .expect("append")
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    raw_write_sync(c, "write_1MiB_fdatasync", MIB);
    raw_write_sync(c, "write_100B_fdatasync", 100);
    group_commit(c);
    lone_append(c);
}

criterion_group!(benches, bench);
criterion_main!(benches);
