//! The applied watermark: the largest WAL sequence number `A` such that every
//! record `<= A` has either reached the write buffer or failed (and so was never
//! acknowledged).
//!
//! Writers finish out of order (group commit wakes a whole group at once), so
//! completions above the next expected number wait in a small set. The persister
//! takes only rows with `seq <= A`: then, for each table, every row of every
//! record up to `A` is in the files it commits or was committed before, which is
//! what `persisted_through` in the manifest promises.

use parking_lot::Mutex;
use std::collections::BTreeSet;

#[derive(Debug)]
struct State {
    next: u64,
    done: BTreeSet<u64>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Sequencer {
    state: Mutex<State>,
}

impl Sequencer {
    /// A sequencer whose next expected number is `next`.
    pub(crate) fn new(next: u64) -> Self {
        Self {
            state: Mutex::new(State {
                next,
                done: BTreeSet::new(),
            }),
        }
    }

    /// Marks `seq` as applied or failed.
    pub(crate) fn complete(&self, seq: u64) {
        let mut s = self.state.lock();
        if seq < s.next {
            return;
        }
        if seq != s.next {
            s.done.insert(seq);
            return;
        }
        s.next += 1;
        while s.done.first() == Some(&s.next) {
            s.done.pop_first();
            s.next += 1;
        }
    }

    /// The watermark `A` (0 before anything completed).
    pub(crate) fn applied_through(&self) -> u64 {
        self.state.lock().next.saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_waits_for_gaps() {
        let s = Sequencer::new(5);
        assert_eq!(s.applied_through(), 4);
        s.complete(7);
        s.complete(6);
        assert_eq!(s.applied_through(), 4, "5 is still in flight");
        s.complete(5);
        assert_eq!(s.applied_through(), 7);
        s.complete(3);
        assert_eq!(s.applied_through(), 7, "stale numbers are ignored");
    }
}
