//! Replay speed: open a 256 MiB WAL of 64 KiB records (4 segments of 64 MiB) and
//! stream every record to a callback that touches each payload. The files are
//! in the page cache (just written), so this measures the reader (CRC32C, frame
//! checks, one read per segment), not the disk.
//!
//! `cargo bench -p strata-wal --bench replay`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use strata_wal::{SyncMode, Wal, WalConfig};

const RECORD: usize = 64 << 10;
const TOTAL: usize = 256 << 20;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let config = WalConfig {
        dir: dir.path().to_owned(),
        sync: SyncMode::None,
        ..WalConfig::default()
    };
    let (wal, _) =
        Wal::open(config.clone(), |_| Ok::<_, std::convert::Infallible>(())).expect("open");
    let pending: Vec<_> = (0..TOTAL / RECORD)
        .map(|i| wal.append(vec![i as u8; RECORD], true))
        .collect();
    for p in pending {
        p.wait_blocking().expect("append");
    }
    wal.close().expect("close");
    drop(wal);
    let bytes: u64 = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").metadata().expect("stat").len())
        .sum();

    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("256MiB_of_64KiB_records", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            let (wal, stats) = Wal::open(config.clone(), |r| {
                sum += u64::from(r.payload[r.payload.len() / 2]) + r.payload.len() as u64;
                Ok::<_, std::convert::Infallible>(())
            })
            .expect("open");
            assert_eq!(stats.records, (TOTAL / RECORD) as u64);
            drop(wal);
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
