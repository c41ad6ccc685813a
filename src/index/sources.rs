//! Every source once, compactly: a fleet of a million hosts with one alert
//! each pays for a million names, so a name costs its bytes and a few
//! words, not an allocation and a tree node of its own.
//!
//! The names sit back to back in one arena and are found by hash; each
//! source has a position (what a slot refers to), the first alert of its
//! chain, and a place in the name order, which is kept up to date when a
//! walk needs it (new sources merged in; a forgotten one sorts it anew).

use parking_lot::Mutex;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::{SlotId, NO_SLOT};

/// Unused bytes of the arena before it is written anew (small in tests,
/// so that they write it anew often).
const COMPACT_AFTER: usize = if cfg!(test) { 64 } else { 1 << 20 };

/// A source's position in the table.
pub(crate) type SourceId = u32;

#[derive(Default)]
pub(super) struct Sources {
    /// Every name, back to back.
    arena: String,
    /// Each source's name in `arena`: (start, length).
    spans: Vec<(u32, u32)>,
    /// The first alert of each source's chain (`NO_SLOT`: a free position).
    first: Vec<SlotId>,
    by_name: HashTable<SourceId>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Positions of forgotten sources, for new ones to take.
    free: Vec<SourceId>,
    /// Bytes of `arena` no source uses any more.
    garbage: usize,
    order: Mutex<Order>,
}

/// The sources in name order, as far as it is known.
#[derive(Default)]
struct Order {
    sorted: Vec<SourceId>,
    /// Added since `sorted` was made.
    added: Vec<SourceId>,
    /// A source was forgotten since: `sorted` is made anew.
    stale: bool,
}

impl Sources {
    pub(crate) fn name(&self, source: SourceId) -> &str {
        let (start, len) = self.spans[source as usize];
        &self.arena[start as usize..(start + len) as usize]
    }

    fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    pub(crate) fn find(&self, name: &str) -> Option<SourceId> {
        self.by_name
            .find(self.hash(name), |&s| self.name(s) == name)
            .copied()
    }

    /// The first alert of a source's chain.
    pub(crate) fn first(&self, source: SourceId) -> SlotId {
        self.first[source as usize]
    }

    pub(crate) fn set_first(&mut self, source: SourceId, slot: SlotId) {
        self.first[source as usize] = slot;
    }

    /// Adds a source that `find` did not find, its chain starting at `slot`.
    pub(crate) fn add(&mut self, name: &str, slot: SlotId) -> SourceId {
        let start = u32::try_from(self.arena.len()).expect("source names fit in 4 GiB");
        self.arena.push_str(name);
        let span = (start, name.len() as u32);
        let source = match self.free.pop() {
            Some(source) => {
                self.spans[source as usize] = span;
                self.first[source as usize] = slot;
                source
            }
            None => {
                self.spans.push(span);
                self.first.push(slot);
                (self.spans.len() - 1) as SourceId
            }
        };
        let hash = self.hash(name);
        let (arena, spans, hasher) = (&self.arena, &self.spans, &self.hasher);
        self.by_name.insert_unique(hash, source, |&s| {
            let (start, len) = spans[s as usize];
            hasher.hash_one(&arena[start as usize..(start + len) as usize])
        });
        self.order.get_mut().added.push(source);
        source
    }

    /// Forgets a source whose chain is empty; its position is taken later.
    pub(crate) fn remove(&mut self, source: SourceId) {
        let hash = self.hash(self.name(source));
        if let Ok(entry) = self.by_name.find_entry(hash, |&s| s == source) {
            entry.remove();
        }
        self.garbage += self.spans[source as usize].1 as usize;
        self.spans[source as usize] = (0, 0);
        self.first[source as usize] = NO_SLOT;
        self.free.push(source);
        let order = self.order.get_mut();
        order.stale = true;
        order.added.clear();
        if self.garbage > COMPACT_AFTER && self.garbage > self.arena.len() / 2 {
            self.compact();
        }
    }

    /// Writes the arena anew without the names of forgotten sources.
    fn compact(&mut self) {
        let mut arena = String::with_capacity(self.arena.len() - self.garbage);
        for (source, span) in self.spans.iter_mut().enumerate() {
            if self.first[source] == NO_SLOT {
                continue;
            }
            let (start, len) = *span;
            let at = arena.len() as u32;
            arena.push_str(&self.arena[start as usize..(start + len) as usize]);
            *span = (at, len);
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// How many positions the table has (free ones included).
    #[cfg(test)]
    pub(crate) fn positions(&self) -> usize {
        self.spans.len()
    }

    /// Calls `visit` with each source from `from` on (by name, `from`
    /// included), in name order, while it returns true.
    pub(crate) fn walk_from(
        &self,
        from: Option<&str>,
        mut visit: impl FnMut(SourceId, &str) -> bool,
    ) {
        let mut order = self.order.lock();
        let order = &mut *order;
        let by_name = |a: &SourceId, b: &SourceId| self.name(*a).cmp(self.name(*b));
        if order.stale {
            order.sorted = (0..self.first.len() as SourceId)
                .filter(|&s| self.first[s as usize] != NO_SLOT)
                .collect();
            order.sorted.sort_unstable_by(by_name);
            order.added.clear();
            order.stale = false;
        } else if !order.added.is_empty() {
            order.added.sort_unstable_by(by_name);
            let old = std::mem::take(&mut order.sorted);
            let mut merged = Vec::with_capacity(old.len() + order.added.len());
            let (mut a, mut b) = (old.into_iter().peekable(), order.added.drain(..).peekable());
            loop {
                let next = match (a.peek(), b.peek()) {
                    (Some(x), Some(y)) if by_name(x, y).is_le() => a.next(),
                    (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                    (Some(_), None) => a.next(),
                    (None, None) => break,
                };
                merged.extend(next);
            }
            order.sorted = merged;
        }
        let start = from.map_or(0, |from| {
            order.sorted.partition_point(|&s| self.name(s) < from)
        });
        for &source in &order.sorted[start..] {
            if !visit(source, self.name(source)) {
                return;
            }
        }
    }
}
