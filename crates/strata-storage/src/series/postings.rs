//! Postings of one tag column: value -> series ids.
//!
//! Values live in a block arena (no allocation per value); most values of a
//! high-cardinality tag (a host name, a pod id) belong to a single series, so a
//! posting holds one id inline and becomes a roaring bitmap only at the second.

use super::arena::{Arena, Span};
use foldhash::fast::FixedState;
use hashbrown::HashTable;
use roaring::RoaringBitmap;
use std::hash::BuildHasher;

#[derive(Debug)]
enum Posting {
    One(u32),
    Many(RoaringBitmap),
    Empty,
}

#[derive(Debug, Default)]
pub(super) struct ColumnPostings {
    arena: Arena,
    /// Where each value is in `arena`, by posting index.
    spans: Vec<Span>,
    lists: Vec<Posting>,
    /// (hash of the value, posting index): growth never rehashes values.
    lookup: HashTable<(u64, u32)>,
    hasher: FixedState,
}

impl ColumnPostings {
    fn value(&self, idx: u32) -> &[u8] {
        self.arena.get(self.spans[idx as usize])
    }

    fn find_hashed(&self, hash: u64, value: &[u8]) -> Option<u32> {
        self.lookup
            .find(hash, |&(h, i)| h == hash && self.value(i) == value)
            .map(|&(_, i)| i)
    }

    fn find(&self, value: &[u8]) -> Option<u32> {
        self.find_hashed(self.hasher.hash_one(value), value)
    }

    /// The index of `value`'s posting, created empty if new.
    pub(super) fn posting_index(&mut self, value: &[u8]) -> u32 {
        let hash = self.hasher.hash_one(value);
        if let Some(i) = self.find_hashed(hash, value) {
            return i;
        }
        let idx = self.lists.len() as u32;
        self.spans.push(self.arena.push(value));
        self.lists.push(Posting::Empty);
        self.lookup.insert_unique(hash, (hash, idx), |&(h, _)| h);
        idx
    }

    /// Adds series `id` to posting `idx`. (`RoaringBitmap::try_push` is no
    /// shortcut: on a bitmap container it scans for the maximum first, and
    /// measured slower than `insert`.)
    pub(super) fn add(&mut self, idx: u32, id: u32) {
        let p = &mut self.lists[idx as usize];
        match p {
            Posting::Empty => *p = Posting::One(id),
            Posting::One(first) if *first != id => {
                let mut bm = RoaringBitmap::new();
                bm.insert(*first);
                bm.insert(id);
                *p = Posting::Many(bm);
            }
            Posting::One(_) => {}
            Posting::Many(bm) => {
                bm.insert(id);
            }
        }
    }

    pub(super) fn series_with(&self, value: &str) -> RoaringBitmap {
        match self.find(value.as_bytes()).map(|i| &self.lists[i as usize]) {
            Some(Posting::One(id)) => RoaringBitmap::from_iter([*id]),
            Some(Posting::Many(bm)) => bm.clone(),
            Some(Posting::Empty) | None => RoaringBitmap::new(),
        }
    }

    pub(super) fn values(&self) -> Vec<String> {
        (0..self.lists.len() as u32)
            .map(|i| String::from_utf8_lossy(self.value(i)).into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_out_of_order_and_repeated_all_land() {
        let mut p = ColumnPostings::default();
        let a = p.posting_index(b"a");
        assert_eq!(p.posting_index(b"a"), a);
        // Concurrent batches can hand a posting ids below ones it already has.
        for id in [5, 9, 2, 9, 70_000, 3, 5] {
            p.add(a, id);
        }
        let got: Vec<u32> = p.series_with("a").iter().collect();
        assert_eq!(got, [2, 3, 5, 9, 70_000]);
        let b = p.posting_index(b"b");
        p.add(b, 4);
        p.add(b, 4);
        assert_eq!(p.series_with("b").iter().collect::<Vec<_>>(), [4]);
        assert!(p.series_with("c").is_empty());
    }

    #[test]
    fn many_values_survive_growth() {
        let mut p = ColumnPostings::default();
        for i in 0..50_000u32 {
            let idx = p.posting_index(format!("host_{i}").as_bytes());
            p.add(idx, i);
        }
        for i in (0..50_000u32).step_by(997) {
            let got: Vec<u32> = p.series_with(&format!("host_{i}")).iter().collect();
            assert_eq!(got, [i]);
        }
        assert_eq!(p.values().len(), 50_000);
    }
}
