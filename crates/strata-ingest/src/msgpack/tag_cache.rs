//! Per-column memo from a tag value's raw MessagePack bytes to its dictionary key.
//!
//! Tag columns repeat a few distinct values over many rows. Pushing a value as
//! text costs a UTF-8 check, a hash and a compare per row in the dictionary;
//! this cache, keyed by the value's bytes loaded as two machine words, turns a
//! repeated value into two word compares and a key push.
//!
//! Only strings of 1..=16 bytes are cached (others take the text path): up to that
//! length, (length, first 8 bytes, last 8 bytes) *is* the string, so a hit is
//! exact, never a hash-collision guess. The table is direct-mapped (a slot keeps
//! the last value hashed to it; a collision only costs a miss). It starts at 64
//! slots and grows 4x, up to 16384, whenever misses outnumber slots, so columns
//! with few values stay in L1 and columns with many get room.

/// Longest value the cache holds.
pub(super) const MAX_LEN: usize = 16;
const INITIAL_SLOTS: usize = 64;
const MAX_SLOTS: usize = 1 << 14;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    lo: u64,
    hi: u64,
    /// 0 marks an empty slot (cached values are never empty).
    len: u32,
    key: i32,
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct TagCache {
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`: the hash's top bits index the table.
    shift: u32,
    misses: usize,
}

impl TagCache {
    pub(super) fn new() -> Self {
        Self {
            slots: vec![Slot::default(); INITIAL_SLOTS],
            shift: 64 - INITIAL_SLOTS.trailing_zeros(),
            misses: 0,
        }
    }

    /// The string of `len` bytes at `body[start..]` as two words; `None` when it
    /// is too long, or too close to the end of the body for an 8-byte load.
    #[inline(always)]
    fn words(body: &[u8], start: usize, len: usize) -> Option<(u64, u64)> {
        let word = |at: usize| -> Option<u64> {
            let bytes: [u8; 8] = body.get(at..at.checked_add(8)?)?.try_into().ok()?;
            Some(u64::from_le_bytes(bytes))
        };
        match len {
            1..=7 => Some((word(start)? & ((1u64 << (8 * len)) - 1), 0)),
            8 => Some((word(start)?, 0)),
            9..=MAX_LEN => Some((word(start)?, word(start + len - 8)?)),
            _ => None,
        }
    }

    #[inline(always)]
    fn index(&self, lo: u64, hi: u64, len: usize) -> usize {
        let h =
            (lo ^ hi.rotate_left(29) ^ ((len as u64) << 56)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> self.shift) as usize
    }

    /// The key cached for the `len`-byte string at `body[start..]`.
    #[inline(always)]
    pub(super) fn get(&self, body: &[u8], start: usize, len: usize) -> Option<i32> {
        let (lo, hi) = Self::words(body, start, len)?;
        let s = self.slots.get(self.index(lo, hi, len))?;
        (s.len as usize == len && s.lo == lo && s.hi == hi).then_some(s.key)
    }

    /// Remembers `key` for the `len`-byte string at `body[start..]`.
    pub(super) fn insert(&mut self, body: &[u8], start: usize, len: usize, key: i32) {
        self.misses += 1;
        if self.misses > self.slots.len() && self.slots.len() < MAX_SLOTS {
            let n = self.slots.len() * 4;
            self.slots = vec![Slot::default(); n];
            self.shift = 64 - n.trailing_zeros();
            self.misses = 0;
        }
        if let Some((lo, hi)) = Self::words(body, start, len) {
            let i = self.index(lo, hi, len);
            if let Some(s) = self.slots.get_mut(i) {
                *s = Slot {
                    lo,
                    hi,
                    len: len as u32,
                    key,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_are_exact() {
        // Strings of every cached length, followed by padding for the 8-byte loads.
        let mut body = Vec::new();
        let mut at = Vec::new();
        for len in 1..=MAX_LEN {
            for variant in [b'a', b'b'] {
                at.push((body.len(), len));
                body.extend(std::iter::repeat_n(variant, len));
            }
        }
        body.extend_from_slice(&[0xff; 8]);
        let mut c = TagCache::new();
        for (i, &(start, len)) in at.iter().enumerate() {
            assert_eq!(c.get(&body, start, len), None);
            c.insert(&body, start, len, i as i32);
        }
        let mut hits = 0;
        for (i, &(start, len)) in at.iter().enumerate() {
            if let Some(k) = c.get(&body, start, len) {
                assert_eq!(k, i as i32);
                hits += 1;
            }
        }
        assert!(hits > at.len() / 2, "{hits}");
        // Too long, or too near the end of the body: never cached.
        assert_eq!(TagCache::words(&body, 0, 17), None);
        assert_eq!(TagCache::words(&body, body.len() - 3, 3), None);
    }
}
