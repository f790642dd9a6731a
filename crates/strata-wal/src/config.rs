//! Configuration: where the log lives, when appends are durable, when segments
//! rotate, and whether open may skip corrupt data.

use crate::WalError;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Default segment size before rotation: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// When an append is acknowledged, relative to the disk.
///
/// Every mode survives a crash of the process (`kill -9`) once the append has
/// completed: the bytes are in the kernel. Only [`SyncMode::Always`] survives a
/// power loss or kernel crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// An append completes after `fdatasync` returned for its bytes (group
    /// commit shares one sync between all appends queued meanwhile).
    Always,
    /// An append completes after its bytes were written to the kernel; the
    /// writer syncs at least this often while there is unsynced data.
    Interval(Duration),
    /// An append completes after its bytes were written to the kernel; the
    /// writer syncs only when a segment is rotated and on close.
    None,
}

impl FromStr for SyncMode {
    type Err = WalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || WalError::InvalidSyncMode {
            value: s.to_owned(),
        };
        match s.trim() {
            "always" => Ok(Self::Always),
            "none" => Ok(Self::None),
            other => {
                let ms = other.strip_prefix("interval:").ok_or_else(bad)?;
                match ms.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Self::Interval(Duration::from_millis(ms))),
                    _ => Err(bad()),
                }
            }
        }
    }
}

impl fmt::Display for SyncMode {
    /// The form [`FromStr`] accepts. An interval is printed in whole
    /// milliseconds, so a sub-millisecond part does not round-trip.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Always => f.write_str("always"),
            Self::Interval(d) => write!(f, "interval:{}", d.as_millis()),
            Self::None => f.write_str("none"),
        }
    }
}

/// How to open a [`Wal`](crate::Wal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfig {
    /// Directory holding the segment files (created if missing). The WAL owns
    /// every `*.wal` file in it.
    pub dir: PathBuf,
    /// When appends are acknowledged.
    pub sync: SyncMode,
    /// A segment is closed and a new one started once a write group leaves it
    /// at least this long. A segment may exceed it by one group.
    pub segment_bytes: u64,
    /// On open, skip the rest of a segment after corruption instead of failing.
    /// Lossy: every record after the corrupt byte in that segment is dropped.
    pub skip_corrupt: bool,
    /// Keep one removed segment as a spare and make the next segment from it
    /// (`spare.rs`), so that syncs of appends into it change no file system
    /// metadata. Costs up to one segment of disk, also after close.
    pub recycle: bool,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            sync: SyncMode::Always,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            skip_corrupt: false,
            recycle: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_mode_round_trips() {
        for mode in [
            SyncMode::Always,
            SyncMode::None,
            SyncMode::Interval(Duration::from_millis(100)),
            SyncMode::Interval(Duration::from_millis(1)),
        ] {
            assert_eq!(mode.to_string().parse::<SyncMode>().unwrap(), mode);
        }
        assert_eq!(
            "interval:250".parse::<SyncMode>().unwrap(),
            SyncMode::Interval(Duration::from_millis(250))
        );
    }

    #[test]
    fn sync_mode_rejects_other_forms() {
        for bad in [
            "",
            "Always",
            "interval",
            "interval:",
            "interval:0",
            "interval:-5",
            "sometimes",
        ] {
            let e = bad.parse::<SyncMode>().unwrap_err().to_string();
            assert!(
                e.contains("\"always\"") && e.contains("interval:<ms>") && e.contains("\"none\""),
                "{e}"
            );
        }
    }
}
