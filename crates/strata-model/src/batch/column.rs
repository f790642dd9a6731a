//! Column storage of a [`super::TableBatch`]: plain vectors laid out as Arrow lays
//! them out, so the buffer can wrap them as arrays without copying.
//!
//! Invariants:
//! - `StrColumn::offsets` starts with 0 and has one more entry than values; offsets
//!   are i32 (Arrow `Utf8`), so one column of one batch holds at most 2 GiB of text,
//!   far above the request size limit.
//! - `TagColumn::keys[i]` indexes `TagColumn::values`; a value is interned once.

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// A growable bitmap, least significant bit first (Arrow's layout).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validity {
    bytes: Vec<u8>,
    len: usize,
}

impl Validity {
    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no bit was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one bit.
    #[inline]
    pub fn push(&mut self, bit: bool) {
        let byte = self.len / 8;
        if byte == self.bytes.len() {
            self.bytes.push(0);
        }
        if bit {
            self.bytes[byte] |= 1 << (self.len % 8);
        }
        self.len += 1;
    }

    /// Reserves room for `additional` more bits.
    pub fn reserve(&mut self, additional: usize) {
        let bytes = (self.len + additional).div_ceil(8);
        self.bytes.reserve(bytes.saturating_sub(self.bytes.len()));
    }

    /// Appends `n` copies of `bit`: bit by bit up to a byte boundary, then
    /// whole bytes.
    #[inline]
    pub fn push_n(&mut self, bit: bool, n: usize) {
        let mut left = n;
        while left > 0 && !self.len.is_multiple_of(8) {
            self.push(bit);
            left -= 1;
        }
        let whole = left / 8;
        self.bytes
            .resize(self.bytes.len() + whole, if bit { 0xff } else { 0 });
        self.len += whole * 8;
        for _ in 0..left % 8 {
            self.push(bit);
        }
    }

    /// Sets bit `i`; `i` must be below `len`.
    #[inline]
    pub fn set(&mut self, i: usize, bit: bool) {
        debug_assert!(i < self.len);
        if bit {
            self.bytes[i / 8] |= 1 << (i % 8);
        } else {
            self.bytes[i / 8] &= !(1 << (i % 8));
        }
    }

    /// Bit `i`; `i` must be below `len`.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.bytes[i / 8] & (1 << (i % 8)) != 0
    }

    /// Drops bits from `len` on.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.len = len;
        self.bytes.truncate(len.div_ceil(8));
        if !len.is_multiple_of(8)
            && let Some(last) = self.bytes.last_mut()
        {
            *last &= (1u8 << (len % 8)) - 1;
        }
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> usize {
        self.bytes.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// The packed bytes (trailing bits of the last byte are zero).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The packed bytes and the bit count.
    pub fn into_parts(self) -> (Vec<u8>, usize) {
        (self.bytes, self.len)
    }

    /// The inverse of [`Validity::into_parts`]. `bytes` must hold `len.div_ceil(8)`
    /// bytes with the bits from `len` on clear (callers check; the codec does).
    pub(crate) fn from_parts(bytes: Vec<u8>, len: usize) -> Self {
        debug_assert_eq!(bytes.len(), len.div_ceil(8));
        Self { bytes, len }
    }
}

/// Variable-length UTF-8 values as Arrow `Utf8`: offsets plus one byte buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrColumn {
    offsets: Vec<i32>,
    data: Vec<u8>,
}

impl Default for StrColumn {
    fn default() -> Self {
        Self {
            offsets: vec![0],
            data: Vec::new(),
        }
    }
}

impl StrColumn {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True when the column holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a value.
    #[inline]
    pub fn push(&mut self, value: &str) {
        self.data.extend_from_slice(value.as_bytes());
        self.offsets.push(self.data.len() as i32);
    }

    /// Bytes of value `i` (no UTF-8 check: for hashing and comparing).
    #[inline]
    pub fn get_bytes(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Value `i`.
    #[inline]
    pub fn get(&self, i: usize) -> &str {
        let (s, e) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        // Only whole `&str`s are appended, so every value is valid UTF-8.
        std::str::from_utf8(&self.data[s..e]).unwrap_or_default()
    }

    /// Keeps the first `len` values.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.offsets.truncate(len + 1);
            self.data.truncate(self.offsets[len] as usize);
        }
    }

    /// Bytes of text held.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Offsets and text, for zero-copy conversion to Arrow.
    pub fn into_parts(self) -> (Vec<i32>, Vec<u8>) {
        (self.offsets, self.data)
    }

    /// The inverse of [`StrColumn::into_parts`]. The offsets must start at 0, never
    /// decrease, end at `data.len()` and fall on UTF-8 boundaries of valid UTF-8
    /// (callers check; the codec does).
    pub(crate) fn from_parts(offsets: Vec<i32>, data: Vec<u8>) -> Self {
        debug_assert_eq!(offsets.first(), Some(&0));
        debug_assert_eq!(offsets.last().map(|&o| o as usize), Some(data.len()));
        Self { offsets, data }
    }

    /// Offsets: value `i` is `data[offsets[i]..offsets[i + 1]]`.
    pub(crate) fn offsets(&self) -> &[i32] {
        &self.offsets
    }

    /// All values' bytes, back to back.
    pub(crate) fn data(&self) -> &[u8] {
        &self.data
    }
}

/// A dictionary-encoded tag column: each distinct value is stored once.
#[derive(Clone, Default)]
pub struct TagColumn {
    keys: Vec<i32>,
    values: StrColumn,
    lookup: HashTable<i32>,
    hasher: FixedState,
}

impl std::fmt::Debug for TagColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TagColumn")
            .field("keys", &self.keys)
            .field("values", &self.values)
            .finish()
    }
}

impl TagColumn {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The dictionary key of `value`, interning it if new.
    #[inline]
    pub fn intern(&mut self, value: &str) -> i32 {
        let hash = self.hasher.hash_one(value.as_bytes());
        let values = &self.values;
        if let Some(&k) = self
            .lookup
            .find(hash, |&k| values.get_bytes(k as usize) == value.as_bytes())
        {
            return k;
        }
        let k = self.values.len() as i32;
        self.values.push(value);
        let (values, hasher) = (&self.values, &self.hasher);
        self.lookup
            .insert_unique(hash, k, |&k| hasher.hash_one(values.get_bytes(k as usize)));
        k
    }

    /// The key for `value`: the last row's key when the value repeats (consecutive
    /// rows often do, and a compare is cheaper than a hash), else interned.
    #[inline]
    pub fn key_for(&mut self, value: &str) -> i32 {
        // A null row's placeholder key may point past an empty dictionary.
        if let Some(&last) = self
            .keys
            .last()
            .filter(|&&k| (k as usize) < self.values.len())
            && self.values.get_bytes(last as usize) == value.as_bytes()
        {
            return last;
        }
        self.intern(value)
    }

    /// Appends a row holding `value`.
    #[inline]
    pub fn push(&mut self, value: &str) {
        let k = self.key_for(value);
        self.keys.push(k);
    }

    /// True when `key` is a key of this dictionary.
    #[inline]
    pub(crate) fn has_key(&self, key: i32) -> bool {
        usize::try_from(key).is_ok_and(|k| k < self.values.len())
    }

    /// Appends a row holding the value with dictionary key `key`, which must
    /// come from [`TagColumn::intern`] or [`TagColumn::key_for`] of this column
    /// ([`super::TableBatch::fill_column`] checks).
    #[inline]
    pub fn push_key(&mut self, key: i32) {
        self.keys.push(key);
    }

    /// Replaces the key of the last row.
    pub(crate) fn set_last_key(&mut self, key: i32) {
        if let Some(last) = self.keys.last_mut() {
            *last = key;
        }
    }

    /// Appends a null row (key 0; the validity bitmap marks it null).
    #[inline]
    pub fn push_null(&mut self) {
        self.keys.push(0);
    }

    /// Keeps the first `len` rows (the dictionary keeps every value).
    pub fn truncate(&mut self, len: usize) {
        self.keys.truncate(len);
    }

    /// Dictionary key per row.
    pub fn keys(&self) -> &[i32] {
        &self.keys
    }

    /// The dictionary.
    pub fn values(&self) -> &StrColumn {
        &self.values
    }

    /// Value of row `i` (meaningless for null rows).
    pub fn get(&self, i: usize) -> &str {
        self.values.get(self.keys[i] as usize)
    }

    /// Keys and dictionary, for zero-copy conversion to Arrow.
    pub fn into_parts(self) -> (Vec<i32>, StrColumn) {
        (self.keys, self.values)
    }

    /// The inverse of [`TagColumn::into_parts`]: re-indexes the dictionary so the
    /// column can intern further values. Keys are not checked. Fails when a value
    /// repeats an earlier one (a value is interned once), returning its index and
    /// the dictionary.
    pub(crate) fn from_parts(
        keys: Vec<i32>,
        values: StrColumn,
    ) -> Result<Self, (usize, StrColumn)> {
        let hasher = FixedState::default();
        let mut lookup = HashTable::with_capacity(values.len());
        for i in 0..values.len() {
            let bytes = values.get_bytes(i);
            let hash = hasher.hash_one(bytes);
            if lookup
                .find(hash, |&k: &i32| values.get_bytes(k as usize) == bytes)
                .is_some()
            {
                return Err((i, values));
            }
            lookup.insert_unique(hash, i as i32, |&k| {
                hasher.hash_one(values.get_bytes(k as usize))
            });
        }
        Ok(Self {
            keys,
            values,
            lookup,
            hasher,
        })
    }
}

/// Equal keys and dictionaries (the lookup index follows from the dictionary).
impl PartialEq for TagColumn {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys && self.values == other.values
    }
}

impl Eq for TagColumn {}

/// Values of one column.
///
/// Equality compares floats bit for bit (NaN equals itself, `0.0` differs from
/// `-0.0`), as Arrow compares buffers: equal means same contents, so it is an `Eq`.
#[derive(Debug, Clone)]
pub enum ColumnData {
    /// Tag values, dictionary-encoded.
    Tag(TagColumn),
    /// Float fields.
    F64(Vec<f64>),
    /// Signed integer fields.
    I64(Vec<i64>),
    /// Unsigned integer fields.
    U64(Vec<u64>),
    /// Boolean fields, bit-packed.
    Bool(Validity),
    /// String fields.
    Str(StrColumn),
}

impl PartialEq for ColumnData {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ColumnData::Tag(a), ColumnData::Tag(b)) => a == b,
            (ColumnData::F64(a), ColumnData::F64(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (ColumnData::I64(a), ColumnData::I64(b)) => a == b,
            (ColumnData::U64(a), ColumnData::U64(b)) => a == b,
            (ColumnData::Bool(a), ColumnData::Bool(b)) => a == b,
            (ColumnData::Str(a), ColumnData::Str(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for ColumnData {}

impl ColumnData {
    pub(crate) fn reserve(&mut self, additional: usize) {
        match self {
            ColumnData::Tag(c) => c.keys.reserve(additional),
            ColumnData::F64(v) => v.reserve(additional),
            ColumnData::I64(v) => v.reserve(additional),
            ColumnData::U64(v) => v.reserve(additional),
            ColumnData::Bool(v) => v.reserve(additional),
            ColumnData::Str(v) => v.offsets.reserve(additional),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            ColumnData::Tag(c) => c.len(),
            ColumnData::F64(v) => v.len(),
            ColumnData::I64(v) => v.len(),
            ColumnData::U64(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Str(v) => v.len(),
        }
    }

    pub(crate) fn push_null(&mut self) {
        match self {
            ColumnData::Tag(c) => c.push_null(),
            ColumnData::F64(v) => v.push(0.0),
            ColumnData::I64(v) => v.push(0),
            ColumnData::U64(v) => v.push(0),
            ColumnData::Bool(v) => v.push(false),
            ColumnData::Str(v) => v.push(""),
        }
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        match self {
            ColumnData::Tag(c) => c.truncate(len),
            ColumnData::F64(v) => v.truncate(len),
            ColumnData::I64(v) => v.truncate(len),
            ColumnData::U64(v) => v.truncate(len),
            ColumnData::Bool(v) => v.truncate(len),
            ColumnData::Str(v) => v.truncate(len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_push_set_truncate() {
        let mut v = Validity::default();
        for i in 0..20 {
            v.push(i % 3 == 0);
        }
        assert_eq!(v.count_ones(), 7);
        v.set(1, true);
        assert!(v.get(1));
        v.truncate(9);
        assert_eq!(v.len(), 9);
        assert_eq!(v.count_ones(), 4);
        assert_eq!(v.as_bytes().len(), 2);
        assert_eq!(v.as_bytes()[1], 0);
    }

    #[test]
    fn push_n_matches_push() {
        for start in 0..10 {
            for n in 0..30 {
                for bit in [false, true] {
                    let mut fast = Validity::default();
                    let mut slow = Validity::default();
                    for i in 0..start {
                        fast.push(i % 2 == 0);
                        slow.push(i % 2 == 0);
                    }
                    fast.push_n(bit, n);
                    for _ in 0..n {
                        slow.push(bit);
                    }
                    assert_eq!(fast, slow, "start {start}, n {n}, bit {bit}");
                }
            }
        }
    }

    #[test]
    fn tag_interning() {
        let mut t = TagColumn::default();
        for v in ["a", "b", "a", "a", "c", "b"] {
            t.push(v);
        }
        assert_eq!(t.keys(), &[0, 1, 0, 0, 2, 1]);
        assert_eq!(t.values().len(), 3);
        let k = t.key_for("a");
        t.set_last_key(k);
        assert_eq!(t.get(5), "a");
    }

    #[test]
    fn str_truncate() {
        let mut s = StrColumn::default();
        s.push("ab");
        s.push("cde");
        s.truncate(1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.data_len(), 2);
        s.push("x");
        assert_eq!(s.get(1), "x");
    }
}
