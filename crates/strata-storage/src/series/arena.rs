//! An append-only byte arena in fixed-size blocks.
//!
//! Series keys and tag values are stored here instead of one allocation each.
//! Blocks never move once allocated, so growth costs one new block, never a copy
//! of everything stored so far (a growing `Vec<u8>` would copy, and touch twice
//! the memory, at every doubling).

/// Bytes per block; a value longer than this gets a block of its own.
const BLOCK: usize = 1 << 20;

/// Bytes before each record's key: id and key length.
pub(super) const RECORD_HEADER: usize = 8;

/// The key length of the record starting at `rec`.
fn record_key_len(rec: &[u8]) -> usize {
    u32::from_le_bytes([rec[4], rec[5], rec[6], rec[7]]) as usize
}

/// Splits records copied by [`Arena::records`] into (id, key).
pub(super) fn split_records(mut bytes: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    std::iter::from_fn(move || {
        if bytes.len() < RECORD_HEADER {
            return None;
        }
        let id = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let end = RECORD_HEADER + record_key_len(bytes);
        let key = &bytes[RECORD_HEADER..end];
        bytes = &bytes[end..];
        Some((id, key))
    })
}

/// A position in an [`Arena`] of records: everything before it has been read.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Cursor {
    block: usize,
    off: usize,
}

/// Where a value lives in an [`Arena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    block: u32,
    off: u32,
    len: u32,
}

#[derive(Debug, Default)]
pub(super) struct Arena {
    blocks: Vec<Vec<u8>>,
}

impl Arena {
    /// Stores `bytes`; returns where.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Span {
        self.append(&[], bytes)
    }

    /// Stores a record: `id` (u32 LE), the key length (u32 LE), `key`.
    /// Returns where the key is. Records follow each other in push order
    /// and never straddle blocks, so [`Arena::records`] can walk them.
    pub(super) fn push_record(&mut self, id: u32, key: &[u8]) -> Span {
        // Keys fit u32: a key is one row's tags, and a row travels in one WAL
        // record of at most 256 MiB (`strata_wal::MAX_RECORD_BYTES`).
        debug_assert!(u32::try_from(key.len()).is_ok());
        let mut header = [0u8; RECORD_HEADER];
        header[..4].copy_from_slice(&id.to_le_bytes());
        header[4..].copy_from_slice(&(key.len() as u32).to_le_bytes());
        self.append(&header, key)
    }

    /// Stores `header` then `bytes` in one block; returns where `bytes` is.
    fn append(&mut self, header: &[u8], bytes: &[u8]) -> Span {
        let len = header.len() + bytes.len();
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.capacity() - b.len() >= len);
        if !fits {
            self.blocks.push(Vec::with_capacity(BLOCK.max(len)));
        }
        let block = self.blocks.len() - 1;
        let b = &mut self.blocks[block];
        b.extend_from_slice(header);
        let off = b.len();
        b.extend_from_slice(bytes);
        Span {
            block: block as u32,
            off: off as u32,
            len: bytes.len() as u32,
        }
    }

    /// Where the next record will go: everything stored so far is before it.
    pub(super) fn end(&self) -> Cursor {
        Cursor {
            block: self.blocks.len().saturating_sub(1),
            off: self.blocks.last().map_or(0, Vec::len),
        }
    }

    /// Copies whole records between `cursor` and `until` into `out`, stopping
    /// once `out` holds at least `budget` bytes, and advances `cursor` past
    /// them. Only for arenas written by [`Arena::push_record`].
    pub(super) fn records(
        &self,
        cursor: &mut Cursor,
        until: Cursor,
        out: &mut Vec<u8>,
        budget: usize,
    ) {
        while out.len() < budget && (cursor.block, cursor.off) < (until.block, until.off) {
            let Some(block) = self.blocks.get(cursor.block) else {
                return;
            };
            let stop = if cursor.block == until.block {
                until.off.min(block.len())
            } else {
                block.len()
            };
            let rest = &block[cursor.off.min(stop)..stop];
            if rest.is_empty() {
                if cursor.block + 1 >= self.blocks.len() || cursor.block >= until.block {
                    return;
                }
                cursor.block += 1;
                cursor.off = 0;
                continue;
            }
            // Whole records up to the budget; a record is never split.
            let mut take = 0;
            while take < rest.len() && out.len() + take < budget {
                take += RECORD_HEADER + record_key_len(&rest[take..]);
            }
            out.extend_from_slice(&rest[..take]);
            cursor.off += take;
        }
    }

    /// The bytes at `span`.
    #[inline]
    pub(super) fn get(&self, span: Span) -> &[u8] {
        let start = span.off as usize;
        &self.blocks[span.block as usize][start..start + span.len as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_put_across_blocks() {
        let mut a = Arena::default();
        let small: Vec<Span> = (0..3000u32).map(|i| a.push(&[i as u8; 700])).collect();
        let big = a.push(&vec![7u8; BLOCK + 1]);
        let after = a.push(b"tail");
        for (i, s) in small.iter().enumerate() {
            assert_eq!(a.get(*s), &[i as u8; 700][..]);
        }
        assert_eq!(a.get(big).len(), BLOCK + 1);
        assert_eq!(a.get(after), b"tail");
    }

    #[test]
    fn records_read_back_in_order_across_blocks_and_budgets() {
        let mut a = Arena::default();
        let keys: Vec<Vec<u8>> = (0..5_000u32)
            .map(|i| vec![(i % 251) as u8; (i as usize * 37) % 900])
            .collect();
        let mut spans = Vec::new();
        let mut cursor = Cursor::default();
        let mut got: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut buf = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            spans.push(a.push_record(i as u32 + 7, k));
            // Read while writing, with a small budget, now and then.
            if i % 613 == 0 {
                buf.clear();
                a.records(&mut cursor, a.end(), &mut buf, 3_000);
                got.extend(split_records(&buf).map(|(id, k)| (id, k.to_vec())));
            }
        }
        let big = vec![9u8; BLOCK * 2];
        let before_big = a.end();
        a.push_record(1, &big);
        // A read bounded by an earlier end stops there.
        let mut bounded = cursor;
        loop {
            buf.clear();
            a.records(&mut bounded, before_big, &mut buf, 64 << 10);
            if buf.is_empty() {
                break;
            }
            assert!(split_records(&buf).all(|(id, _)| id != 1));
        }
        loop {
            buf.clear();
            a.records(&mut cursor, a.end(), &mut buf, 64 << 10);
            if buf.is_empty() {
                break;
            }
            got.extend(split_records(&buf).map(|(id, k)| (id, k.to_vec())));
        }
        assert_eq!(got.len(), keys.len() + 1);
        for (i, (id, k)) in got[..keys.len()].iter().enumerate() {
            assert_eq!(*id, i as u32 + 7);
            assert_eq!(k, &keys[i]);
            assert_eq!(a.get(spans[i]), &keys[i][..]);
        }
        assert_eq!(got[keys.len()], (1, big));
    }
}
