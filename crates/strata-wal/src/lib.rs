//! Segmented write-ahead log with group commit. Knows only bytes: payloads are
//! opaque, decoding them is the caller's business.
//!
//! The contract: an append that was acknowledged ([`Appended::wait`] returned
//! `Ok`) survives a crash of the process and is replayed exactly once by the
//! next [`Wal::open`], until the engine removes its segment. With
//! [`SyncMode::Always`] (the default) it also survives a power loss.
//!
//! | Component | File |
//! | --- | --- |
//! | Byte layout, pure segment reader (fuzzed) | `format.rs`, `docs/format/wal.md` |
//! | Open: validate, repair torn tails, replay | `replay.rs` |
//! | Writer thread: group commit, rotation, I/O failures | `writer.rs` |
//! | Handle: append, close, segment removal | `wal.rs` |
//! | Pins and live segments | `pin.rs` |
//! | Zero-filled spare segments, prepared ahead by a thread | `spare.rs` |
//! | File operations behind a trait (fault injection in tests) | `io.rs`, `io/fault.rs` |
//!
//! ```
//! use strata_wal::{Wal, WalConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let config = WalConfig { dir: dir.path().join("wal"), ..WalConfig::default() };
//! let (wal, _) = Wal::open(config.clone(), |_| Ok::<_, std::convert::Infallible>(())).unwrap();
//! let written = wal.append(b"cpu usage=1".to_vec(), false).wait_blocking().unwrap();
//! assert_eq!(written.seq, 1);
//! drop(written.pin); // the record is now held elsewhere (the engine's buffer)
//! wal.close().unwrap();
//!
//! let mut replayed = Vec::new();
//! let (_wal, stats) = Wal::open(config, |r| {
//!     replayed.push((r.seq, r.payload.to_vec()));
//!     Ok::<_, std::convert::Infallible>(())
//! })
//! .unwrap();
//! assert_eq!(replayed, vec![(1, b"cpu usage=1".to_vec())]);
//! assert_eq!(stats.records, 1);
//! ```

mod config;
mod error;
pub mod format;
mod io;
mod pin;
mod replay;
mod spare;
mod wal;
mod writer;

pub use config::{DEFAULT_SEGMENT_BYTES, SyncMode, WalConfig};
pub use error::{OpenError, WalError};
pub use format::MAX_RECORD_BYTES;
pub use pin::Pin;
pub use replay::{Record, ReplayStats};
pub use wal::{Appended, Wal, WalStats, Written};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod test_util;
