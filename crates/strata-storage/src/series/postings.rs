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
    lookup: HashTable<u32>,
    hasher: FixedState,
}

impl ColumnPostings {
    fn value(&self, idx: u32) -> &[u8] {
        self.arena.get(self.spans[idx as usize])
    }

    fn find(&self, value: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(value);
        self.lookup.find(hash, |&i| self.value(i) == value).copied()
    }

    /// The index of `value`'s posting, created empty if new.
    pub(super) fn posting_index(&mut self, value: &str) -> u32 {
        let value = value.as_bytes();
        if let Some(i) = self.find(value) {
            return i;
        }
        let idx = self.lists.len() as u32;
        self.spans.push(self.arena.push(value));
        self.lists.push(Posting::Empty);
        let hash = self.hasher.hash_one(value);
        let (arena, spans, hasher) = (&self.arena, &self.spans, &self.hasher);
        self.lookup.insert_unique(hash, idx, |&i| {
            hasher.hash_one(arena.get(spans[i as usize]))
        });
        idx
    }

    /// Adds series `id` to posting `idx`.
    pub(super) fn add(&mut self, idx: u32, id: u32) {
        let p = &mut self.lists[idx as usize];
        match p {
            Posting::Empty => *p = Posting::One(id),
            Posting::One(first) => {
                let mut bm = RoaringBitmap::new();
                bm.insert(*first);
                bm.insert(id);
                *p = Posting::Many(bm);
            }
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
