//! An append-only byte arena in fixed-size blocks.
//!
//! Series keys and tag values are stored here instead of one allocation each.
//! Blocks never move once allocated, so growth costs one new block, never a copy
//! of everything stored so far (a growing `Vec<u8>` would copy, and touch twice
//! the memory, at every doubling).

/// Bytes per block; a value longer than this gets a block of its own.
const BLOCK: usize = 1 << 20;

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
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.capacity() - b.len() >= bytes.len());
        if !fits {
            self.blocks.push(Vec::with_capacity(BLOCK.max(bytes.len())));
        }
        let block = self.blocks.len() - 1;
        let b = &mut self.blocks[block];
        let off = b.len();
        b.extend_from_slice(bytes);
        Span {
            block: block as u32,
            off: off as u32,
            len: bytes.len() as u32,
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
}
