//! Shared test helpers: open-and-collect, segment file listing, and a tracing
//! subscriber that captures log lines.

use crate::{OpenError, ReplayStats, SyncMode, Wal, WalConfig};
use std::convert::Infallible;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

pub(crate) fn config(dir: &Path) -> WalConfig {
    WalConfig {
        dir: dir.to_owned(),
        ..WalConfig::default()
    }
}

pub(crate) fn config_mode(dir: &Path, sync: SyncMode, segment_bytes: u64) -> WalConfig {
    WalConfig {
        dir: dir.to_owned(),
        sync,
        segment_bytes,
        skip_corrupt: false,
        recycle: true,
    }
}

pub(crate) type Replay = Vec<(u64, Vec<u8>)>;

/// Opens and collects the replayed records.
pub(crate) fn open(config: WalConfig) -> Result<(Wal, Replay, ReplayStats), OpenError<Infallible>> {
    let mut records = Vec::new();
    let (wal, stats) = Wal::open(config, |r| {
        records.push((r.seq, r.payload.to_vec()));
        Ok::<_, Infallible>(())
    })?;
    Ok((wal, records, stats))
}

/// Opens, collects the replay and closes again.
pub(crate) fn replay(config: WalConfig) -> Result<(Replay, ReplayStats), OpenError<Infallible>> {
    let (wal, records, stats) = open(config)?;
    wal.close().unwrap();
    Ok((records, stats))
}

/// Segment files in `dir`, oldest first.
pub(crate) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Copies every file of `from` into a fresh temporary directory.
pub(crate) fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.path().join(p.file_name().unwrap())).unwrap();
    }
    to
}

pub(crate) fn truncate_file(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Log lines (`LEVEL message k=v ...`) emitted on this thread while `f` runs.
pub(crate) fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sub = Capture(Arc::clone(&lines));
    let out = tracing::subscriber::with_default(sub, f);
    let lines = lines.lock().unwrap().clone();
    (out, lines)
}

struct Capture(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Capture {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Other tests run without a subscriber; never let them cache "never".
        Interest::sometimes()
    }
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        *m.level() <= Level::INFO
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &SpanRecord<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut line = Line(e.metadata().level().to_string());
        e.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
