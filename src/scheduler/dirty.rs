//! What the writer has not written yet: store buckets holding alerts changed
//! since their last write, in three tiers, plus changed details, messages and
//! waiters. A bucket is written whole (see `store`), so it is marked once
//! however many of its alerts changed, in the tier of its most pressing.
//!
//! - **Told**: a change that queued a message, or that somebody waits on (an
//!   HTTP action or submission). Written within `flush_interval_ms` in the
//!   same atomic batch as its messages, whatever the pace: a crash can never
//!   leave a message without the change it tells of.
//! - **Urgent**: any other new alert or change of state or text. Written
//!   within `flush_interval_ms` while the pace allows (`max_writes_per_s`),
//!   before any timer-only change; a flood of new alerts beyond the pace
//!   waits its turn (`mauved_write_backlog`), because sled's memory grows
//!   with its write rate.
//! - **Timers only**: a heartbeat refresh that moved nothing but its timers
//!   and `updated_at`. Written once it has waited `timer_flush_s`, within the
//!   pace, so that an alert refreshed every few seconds is written once per
//!   window. Losing one to a crash is safe: after a restart the startup grace
//!   postpones the old timer until its sender has resent.
//!
//! What is written is the bucket's records at the time of writing. What
//! changes said beside their records (messages, history lines, paging
//! state) is kept in [`Said`], shared with the writer, which takes it under
//! the index lock (see `writer`). The scheduler adds to it only through
//! [`Shared::say`], which borrows the index mutably for as long as it is
//! held: a change and what it said reach the writer together or not at all.

use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::collections::VecDeque;
use std::sync::Arc;

use super::chunks::Chunks;
use super::Waiter;
use crate::alert::AlertKey;
use crate::alert::Notification;
use crate::index::{Index, SlotId};
use crate::store::History;

/// A store bucket's id.
pub(super) type Bucket = u32;

/// How soon a changed bucket must be written, least pressing first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Tier {
    Clean,
    Timers,
    Urgent,
    Told,
}

#[derive(Default)]
pub(super) struct Dirty {
    /// Per bucket.
    marks: Vec<Option<Tier>>,
    told: Vec<Bucket>,
    urgent: VecDeque<Bucket>,
    /// Buckets with timer-only changes, and the clock (ms) when each was
    /// first marked.
    timers: VecDeque<(Bucket, u64)>,
    /// Alerts whose detail changed since the last job (the index keeps
    /// the detail until it is written); an alert may be listed twice.
    details: Vec<SlotId>,
    /// Alerts forgotten since the last job, with the buckets they were
    /// in (their details are removed).
    pub(crate) forgotten: Vec<(Bucket, AlertKey)>,
    /// Keys of forgotten alerts whose detail's removal is not on disk yet
    /// (how many such removals each has): such a key sent again without a
    /// detail must not show the old one.
    removing: hashbrown::HashMap<AlertKey, u32>,
    pub(crate) waiting: Vec<Waiter>,
}

impl Dirty {
    fn tier(&self, bucket: Bucket) -> Tier {
        self.marks
            .get(bucket as usize)
            .copied()
            .flatten()
            .unwrap_or(Tier::Clean)
    }

    fn set_tier(&mut self, bucket: Bucket, tier: Tier) {
        let i = bucket as usize;
        if self.marks.len() <= i {
            self.marks.resize(i + 1, None);
        }
        self.marks[i] = (tier != Tier::Clean).then_some(tier);
    }

    /// Marks a bucket; a more pressing tier wins. (The entry in a less
    /// pressing queue goes stale and is skipped when reached.)
    pub(crate) fn mark(&mut self, bucket: Bucket, tier: Tier, now_ms: u64) {
        if tier <= self.tier(bucket) {
            return;
        }
        self.set_tier(bucket, tier);
        match tier {
            Tier::Told => self.told.push(bucket),
            Tier::Urgent => self.urgent.push_back(bucket),
            Tier::Timers => self.timers.push_back((bucket, now_ms)),
            Tier::Clean => {}
        }
    }

    /// A forgotten alert: its stored detail is removed (the index dropped
    /// its unwritten one).
    pub(crate) fn forget(&mut self, bucket: Bucket, key: AlertKey) {
        *self.removing.entry(key.clone()).or_default() += 1;
        self.forgotten.push((bucket, key));
    }

    /// True if `key` was forgotten and the removal of its detail is not on
    /// disk yet.
    pub(crate) fn removing(&self, source: &str, id: &str) -> bool {
        !self.removing.is_empty() && self.removing.contains_key(&AlertKey::new(source, id))
    }

    /// The removals of these forgotten alerts' details are on disk (a key
    /// forgotten again since stays removing).
    pub(crate) fn removed(&mut self, keys: impl IntoIterator<Item = AlertKey>) {
        for key in keys {
            if let hashbrown::hash_map::Entry::Occupied(mut pending) = self.removing.entry(key) {
                *pending.get_mut() -= 1;
                if *pending.get() == 0 {
                    pending.remove();
                }
            }
        }
    }

    /// The alert's detail changed (the index holds it).
    pub(crate) fn detail_changed(&mut self, slot: SlotId) {
        self.details.push(slot);
    }

    /// True when something waits for the flush interval.
    pub(crate) fn has_urgent(&self) -> bool {
        !self.told.is_empty()
            || !self.urgent.is_empty()
            || !self.forgotten.is_empty()
            || !self.waiting.is_empty()
    }

    /// When the oldest timer-only change is due to be written.
    pub(crate) fn timers_due_ms(&self, window_ms: u64) -> Option<u64> {
        self.timers.front().map(|&(_, since)| since + window_ms)
    }

    /// Buckets marked and not yet taken (stale queue entries included).
    pub(crate) fn backlog(&self) -> usize {
        self.told.len() + self.urgent.len() + self.timers.len()
    }

    /// Takes every told bucket.
    pub(crate) fn take_told(&mut self) -> Vec<Bucket> {
        let taken = std::mem::take(&mut self.told);
        for &bucket in &taken {
            self.set_tier(bucket, Tier::Clean);
        }
        taken
    }

    /// Takes up to `limit` urgent buckets, oldest first.
    pub(crate) fn take_urgent(&mut self, limit: usize) -> Vec<Bucket> {
        let mut taken = Vec::new();
        while taken.len() < limit {
            let Some(bucket) = self.urgent.pop_front() else {
                break;
            };
            if self.tier(bucket) == Tier::Urgent {
                self.set_tier(bucket, Tier::Clean);
                taken.push(bucket);
            }
        }
        taken
    }

    /// Takes up to `limit` timer-only buckets marked at or before `older_than_ms`.
    pub(crate) fn take_timers(&mut self, older_than_ms: u64, limit: usize) -> Vec<Bucket> {
        let mut taken = Vec::new();
        while taken.len() < limit {
            match self.timers.front() {
                Some(&(bucket, since)) if since <= older_than_ms => {
                    self.timers.pop_front();
                    if self.tier(bucket) == Tier::Timers {
                        self.set_tier(bucket, Tier::Clean);
                        taken.push(bucket);
                    }
                }
                _ => break,
            }
        }
        taken
    }

    /// Takes the alerts whose detail changed, each once.
    pub(crate) fn take_details(&mut self) -> Vec<SlotId> {
        let mut slots = std::mem::take(&mut self.details);
        slots.sort_unstable();
        slots.dedup();
        slots
    }
}

/// What changes said beside their records, not yet written: messages,
/// history lines, paging state, and the buckets
/// of the alerts whose change said something.
#[derive(Debug, Default)]
pub(super) struct Said {
    pub(crate) messages: Chunks<Notification>,
    pub(crate) history: Chunks<History>,
    /// Paging state (`routing::pager`) changed; None removes it.
    pub(crate) paging: Vec<crate::routing::pager::PagingState>,
    /// The buckets whose records must be written with these (a change
    /// that said something); a reminder changes no record and adds none.
    pub(crate) changed: Vec<Bucket>,
}

impl Said {
    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.history.is_empty()
            && self.paging.is_empty()
            && self.changed.is_empty()
    }

    /// Adds what was said later.
    pub(crate) fn append(&mut self, mut later: Said) {
        self.messages.append(&mut later.messages);
        self.history.append(&mut later.history);
        self.paging.append(&mut later.paging);
        self.changed.append(&mut later.changed);
    }

    pub(crate) fn history(&mut self, key: AlertKey, entry: crate::alert::HistoryEntry) {
        self.history.push((key, entry));
    }
}

/// [`Said`] as the scheduler and the writer share it, with the lists of the
/// last batch written, emptied, to be filled again: a steady flow of
/// messages reuses the same memory instead of growing new lists each time.
#[derive(Clone)]
pub(super) struct Shared {
    said: Arc<Mutex<Said>>,
    spare: Arc<Mutex<Spare>>,
    /// The index whose write lock must be held to add to `said`.
    index: Arc<RwLock<Index>>,
}

/// Adding to what changes said: the index stays borrowed for writing (the
/// scheduler holds its write lock) until this is dropped.
pub(super) struct Saying<'a> {
    said: MutexGuard<'a, Said>,
    /// Held, never read: the borrow is the point.
    _index: &'a mut Index,
}

impl std::ops::Deref for Saying<'_> {
    type Target = Said;
    fn deref(&self) -> &Said {
        &self.said
    }
}

impl std::ops::DerefMut for Saying<'_> {
    fn deref_mut(&mut self) -> &mut Said {
        &mut self.said
    }
}

/// Emptied lists, kept for reuse.
#[derive(Debug, Default)]
struct Spare {
    messages: Chunks<Notification>,
    history: Chunks<History>,
}

/// Lists longer than this are let go rather than kept for reuse.
const MAX_SPARE: usize = 1 << 15;

impl Shared {
    pub(super) fn new(index: Arc<RwLock<Index>>) -> Shared {
        Shared {
            said: Arc::default(),
            spare: Arc::default(),
            index,
        }
    }

    /// To add what a change says, with the index it changed: `index` is
    /// the shared index under its write lock (checked: anything else is a
    /// mistake that could write a message without its change).
    pub(super) fn say<'a>(&'a self, index: &'a mut Index) -> Saying<'a> {
        assert!(
            self.index.is_locked_exclusive(),
            "said while the index is not locked for writing"
        );
        Saying {
            said: self.said.lock(),
            _index: index,
        }
    }

    /// Messages waiting to be written.
    pub(super) fn messages_waiting(&self) -> usize {
        self.said.lock().messages.len()
    }

    /// Nothing is waiting to be written.
    pub(super) fn is_empty(&self) -> bool {
        self.said.lock().is_empty()
    }

    fn spare(&self) -> MutexGuard<'_, Spare> {
        self.spare.lock()
    }

    /// Takes what was said before the writer reads its buckets' records.
    pub(crate) fn take(&self) -> Said {
        let Spare { messages, history } = std::mem::take(&mut *self.spare());
        let room = Said {
            messages,
            history,
            ..Said::default()
        };
        std::mem::replace(&mut *self.said.lock(), room)
    }

    /// Takes what was said while the records were read, under the same
    /// read lock of the index as the records read again for it.
    pub(crate) fn take_holding(&self, _index: &RwLockReadGuard<'_, Index>) -> Said {
        self.take()
    }

    /// Lists whose contents were taken, kept (emptied, up to
    /// [`MAX_SPARE`] items' room) for reuse.
    pub(crate) fn reuse(&self, mut messages: Chunks<Notification>, mut history: Chunks<History>) {
        let mut spare = self.spare();
        messages.clear_keeping(MAX_SPARE);
        history.clear_keeping(MAX_SPARE);
        if messages.capacity() > spare.messages.capacity() {
            spare.messages = messages;
        }
        if history.capacity() > spare.history.capacity() {
            spare.history = history;
        }
    }

    /// Puts back, before anything said since, what a failed write took:
    /// older paging values first, so a newer change of the same key wins.
    pub(crate) fn put_back(&self, mut taken: Said) {
        let mut said = self.said.lock();
        taken.append(std::mem::take(&mut *said));
        *said = taken;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_marked_once_and_the_most_pressing_tier_wins() {
        let mut d = Dirty::default();
        d.mark(3, Tier::Timers, 10);
        d.mark(3, Tier::Timers, 20);
        assert_eq!(d.backlog(), 1);
        assert_eq!(d.timers_due_ms(100), Some(110));
        d.mark(3, Tier::Urgent, 30);
        d.mark(3, Tier::Told, 40);
        d.mark(3, Tier::Urgent, 50);
        assert_eq!(d.take_told(), vec![3]);
        // Its other entries are stale now.
        assert!(d.take_urgent(10).is_empty());
        assert!(d.take_timers(u64::MAX, 10).is_empty());
        assert!(!d.has_urgent());
    }

    #[test]
    fn urgent_buckets_are_taken_in_order_within_a_limit() {
        let mut d = Dirty::default();
        for bucket in [5, 1, 9] {
            d.mark(bucket, Tier::Urgent, 0);
        }
        assert!(d.has_urgent());
        assert_eq!(d.take_urgent(2), vec![5, 1]);
        assert_eq!(d.take_urgent(2), vec![9]);
        assert!(!d.has_urgent());
    }

    #[test]
    fn timer_only_changes_wait_their_window_and_are_paced() {
        let mut d = Dirty::default();
        for bucket in 0..5 {
            d.mark(bucket, Tier::Timers, 100 + u64::from(bucket));
        }
        assert!(d.take_timers(99, 10).is_empty());
        assert_eq!(d.take_timers(102, 10), vec![0, 1, 2]);
        assert_eq!(d.take_timers(1000, 1), vec![3]);
        assert_eq!(d.take_timers(1000, 10), vec![4]);
        d.mark(0, Tier::Timers, 2000);
        assert_eq!(
            d.take_timers(2000, 10),
            vec![0],
            "marked again after its write"
        );
    }

    #[test]
    fn lists_written_are_reused_empty_unless_too_long() {
        let index = Arc::new(RwLock::new(Index::new(10)));
        let shared = Shared::new(index.clone());
        let said = |n: usize| {
            let mut index = index.write();
            for _ in 0..n {
                shared
                    .say(&mut index)
                    .messages
                    .push(Notification::default());
            }
            drop(index);
            let mut said = shared.take();
            let written = said.messages.take_vec();
            shared.reuse(said.messages, said.history);
            written
        };
        assert_eq!(said(1000).len(), 1000);
        // The room of the 1,000 said is kept, and is the room for what is
        // said after the next take.
        let room = shared.spare().messages.capacity();
        assert!(room >= 1000);
        assert_eq!(said(1).len(), 1, "what was written is not said again");
        assert_eq!(shared.said.lock().messages.capacity(), room, "said into it");
        said(MAX_SPARE * 2);
        assert!(
            shared.spare().messages.capacity() <= MAX_SPARE,
            "no more than MAX_SPARE kept"
        );
    }

    #[test]
    #[should_panic(expected = "not locked for writing")]
    fn saying_without_the_index_locked_for_writing_is_caught() {
        let index = Arc::new(RwLock::new(Index::new(10)));
        let shared = Shared::new(index.clone());
        // The old mistake: something said beside the index's lock (here
        // with a read lock, as a reader would hold it), so the writer could
        // take the message between a change's record and its own read.
        let _reading = index.read();
        let mut elsewhere = Index::new(10);
        shared
            .say(&mut elsewhere)
            .messages
            .push(Notification::default());
    }

    #[test]
    fn changed_details_are_taken_once_each() {
        let mut d = Dirty::default();
        d.detail_changed(2);
        d.detail_changed(1);
        d.detail_changed(2);
        assert_eq!(d.take_details(), vec![1, 2]);
        assert!(d.take_details().is_empty());
    }

    #[test]
    fn a_forgotten_key_is_removing_until_its_removal_is_written() {
        let mut d = Dirty::default();
        let key = AlertKey::new("s", "a");
        d.forget(0, key.clone());
        assert!(d.removing("s", "a"));
        // Written while forgotten again: still removing.
        let taken = std::mem::take(&mut d.forgotten);
        d.forget(1, key.clone());
        d.removed(taken.into_iter().map(|(_, k)| k));
        assert!(d.removing("s", "a"));
        let taken = std::mem::take(&mut d.forgotten);
        d.removed(taken.into_iter().map(|(_, k)| k));
        assert!(!d.removing("s", "a"));
    }
}
