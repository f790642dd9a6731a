//! Prediction of a line's layout from the last accepted line.
//!
//! Writers send runs of lines with the same measurement and keys in the same order
//! (Telegraf, client libraries, TSBS). The [`Schema`] remembers where the last
//! accepted line's measurement and keys were in the body and which column each key
//! resolved to. The scanner compares the next line's bytes with those (one masked
//! 16-byte compare per key), which skips scanning the key, and phase two uses the
//! remembered column instead of resolving it again.
//!
//! Invariants:
//! - Only keys that appeared unescaped (borrowed from the body) are remembered, so
//!   equal raw bytes mean an equal key. The remembered length includes the `=` after
//!   a key (and the `,` or ` ` after the measurement), so a match ends exactly where
//!   a scan would have stopped.
//! - A remembered column index is valid while no column is removed from the batch,
//!   which happens only in [`strata_model::WriteBatch::finish`]: the parser clears
//!   the schema whenever it sweeps the batch.
//! - A hint is used only when the value's kind equals the remembered kind, and only
//!   for the table of the remembered measurement.

use super::scan::{Item, Text};
use strata_model::ColumnKind;

/// Column and kind remembered for one key position.
pub(super) type Hint = Option<(usize, ColumnKind)>;

/// A remembered key: `body[start..start + len]` is the raw key and its `=`.
#[derive(Debug, Clone, Copy)]
pub(super) struct CachedKey {
    pub(super) start: usize,
    pub(super) len: usize,
    pub(super) col: usize,
    pub(super) kind: ColumnKind,
}

/// Layout of the last accepted line.
#[derive(Debug, Default)]
pub(super) struct Schema {
    /// Raw measurement and its delimiter, as (start, length).
    pub(super) measurement: Option<(usize, usize)>,
    /// Keys in line order (tags then fields).
    pub(super) keys: Vec<CachedKey>,
}

impl Schema {
    /// Forgets everything (the batch's column indices may have changed).
    pub(super) fn clear(&mut self) {
        self.measurement = None;
        self.keys.clear();
    }

    /// Remembers an accepted line; `cols[i]` is the column of `items[i]`.
    pub(super) fn record(
        &mut self,
        measurement_pos: usize,
        measurement: Text<'_>,
        items: &[Item<'_>],
        cols: &[usize],
    ) {
        self.keys.clear();
        let Text::Src(m) = measurement else {
            self.measurement = None;
            return;
        };
        self.measurement = Some((measurement_pos, m.len() + 1));
        for (item, &col) in items.iter().zip(cols) {
            let Text::Src(k) = item.key else { break };
            self.keys.push(CachedKey {
                start: item.key_pos,
                len: k.len() + 1,
                col,
                kind: item.value.kind(),
            });
        }
    }
}

/// True when `body[a..a + len]` and `body[b..b + len]` are in bounds and equal.
#[inline(always)]
pub(super) fn same_bytes(body: &[u8], a: usize, b: usize, len: usize) -> bool {
    // Most keys are short: compare 16 bytes at once, masked to `len` (16 bytes from
    // `a` are in the body, so `a + len` is too).
    if len <= 16
        && let (Some(x), Some(y)) = (chunk16(body, a), chunk16(body, b))
    {
        let mask = if len == 16 {
            u128::MAX
        } else {
            (1u128 << (len * 8)) - 1
        };
        return (x ^ y) & mask == 0;
    }
    match (body.get(a..a + len), body.get(b..b + len)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[inline(always)]
fn chunk16(body: &[u8], at: usize) -> Option<u128> {
    let chunk = body.get(at..)?.first_chunk::<16>()?;
    Some(u128::from_le_bytes(*chunk))
}

#[cfg(test)]
mod tests {
    use super::same_bytes;

    #[test]
    fn same_bytes_masks_to_the_length() {
        let body = b"usage_user=1,usage_user=2,usage_usex=3,usage_user_and_more_bytes=4,";
        assert!(same_bytes(body, 0, 13, 11));
        assert!(!same_bytes(body, 0, 26, 11));
        assert!(same_bytes(body, 0, 26, 9));
        // Near the end of the body the slow path compares slices.
        let n = body.len();
        assert!(same_bytes(body, n - 3, n - 3, 3));
        assert!(!same_bytes(body, 0, n - 11, 11));
        assert!(same_bytes(body, 39, 39, n - 39));
        // Longer than 16 bytes: compared as slices.
        let long = b"a_key_of_twenty_bytes=1,a_key_of_twenty_bytes=2,a_key_of_twenty_bytez=3";
        assert!(same_bytes(long, 0, 24, 22));
        assert!(!same_bytes(long, 0, 48, 22));
        assert!(
            !same_bytes(body, n - 1, n - 1, 2),
            "out of bounds is never equal"
        );
    }
}
