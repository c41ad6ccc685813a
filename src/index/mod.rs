//! The working set: every alert in memory, compactly, with its due time.
//!
//! Owns the alerts in memory; must not decide a state (that is `alert`'s)
//! nor do I/O but reading the store once at start (`load`).
//!
//! The scheduler applies updates here and the HTTP API reads from here; sled
//! is the durable copy, written behind (see `scheduler::writer`). A fleet is
//! a million alerts refreshed every minute, so each alert costs about 150
//! bytes: times as `u32` seconds (0 = none), the id, subject, summary and
//! acknowledger packed into one allocation, the source named once for all
//! alerts of that source, and the `detail` (up to 64 KiB, rarely read) left
//! on disk with only its hash kept here (a detail applied and not yet
//! written is kept here by slot until it is, so that readers see it with
//! the alert's new state).
//!
//! Three views of the same slots:
//! - `by_key`: (source, id) → slot, for updates;
//! - `sources`: source → its slots, in source order, for `replace` and for
//!   listing alerts sorted by (source, id) page by page (see `sources`);
//! - `due`: (due second, slot), ordered, for the scheduler's timers.

mod sources;

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::sync::Arc;

use anyhow::Context as _;
use hashbrown::HashTable;

use self::sources::Sources;
use crate::alert::{AlertKey, Counts, Record, State, UnixSecs};
use crate::store::{Store, BUCKET_SIZE};

/// The position of an alert in the index; stable for the alert's life.
pub(crate) type SlotId = u32;

/// Why an alert could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the alert limit ({0}) is reached")]
pub struct Full(pub usize);

/// One alert, compact. Times are Unix seconds in `u32` (good until 2106;
/// `wire` refuses times more than ten years away), 0 meaning "none".
#[derive(Clone, Debug)]
struct Slot {
    /// Its source's position in `Index::sources`.
    source: u32,
    /// The store bucket it is written in (see `store`).
    bucket: u32,
    /// The next alert of the same source (`NO_SLOT` for the last): a
    /// source's alerts are a chain through the slots, not a list of their own.
    next_of_source: SlotId,
    /// id, subject, summary and acknowledged_by: four u16 lengths (u16::MAX
    /// for "none"), then the bytes: one allocation an alert.
    text: Box<[u8]>,
    detail_hash: u32,
    times: [u32; TIMES],
    importance: u32,
    update_type: i8,
    notified: i8,
}

const TIMES: usize = 10;
const NO_SLOT: SlotId = SlotId::MAX;
const TEXTS: usize = 4;
/// Text lengths that are markers, not lengths.
const NONE: u16 = u16::MAX;
/// The subject is the source (mauve's default): not stored twice.
const SOURCE: u16 = u16::MAX - 1;

fn pack_time(t: Option<UnixSecs>) -> u32 {
    t.map_or(0, |t| u32::try_from(t).unwrap_or(u32::MAX).max(1))
}

fn unpack_time(t: u32) -> Option<UnixSecs> {
    (t != 0).then_some(u64::from(t))
}

fn pack_kind(kind: Option<i32>) -> i8 {
    kind.and_then(|k| i8::try_from(k).ok()).unwrap_or(0)
}

fn unpack_kind(kind: i8) -> Option<i32> {
    (kind != 0).then_some(i32::from(kind))
}

impl Slot {
    fn text_mark(&self, i: usize) -> u16 {
        u16::from_le_bytes([self.text[2 * i], self.text[2 * i + 1]])
    }

    /// Bytes stored for part `i`.
    fn text_len(&self, i: usize) -> usize {
        match self.text_mark(i) {
            NONE | SOURCE => 0,
            len => usize::from(len),
        }
    }

    fn text_part(&self, n: usize) -> Option<&str> {
        if self.text_mark(n) == NONE {
            return None;
        }
        let start = 2 * TEXTS + (0..n).map(|i| self.text_len(i)).sum::<usize>();
        // Written only by `pack_text` from valid strings.
        std::str::from_utf8(self.text.get(start..start + self.text_len(n))?).ok()
    }

    fn id(&self) -> &str {
        self.text_part(0).unwrap_or_default()
    }

    fn record(&self, source: &str) -> Record {
        let subject = match self.text_mark(1) {
            SOURCE => source,
            _ => self.text_part(1).unwrap_or_default(),
        };
        Record {
            subject: subject.to_owned(),
            summary: self.text_part(2).unwrap_or_default().to_owned(),
            acknowledged_by: self.text_part(3).map(str::to_owned),
            ..self.timing()
        }
    }

    /// The record without its texts: no allocation.
    fn timing(&self) -> Record {
        let t = |i: usize| unpack_time(self.times[i]);
        Record {
            subject: String::new(),
            summary: String::new(),
            detail: String::new(),
            importance: self.importance,
            raised_at: t(0),
            cleared_at: t(1),
            will_raise_at: t(2),
            will_clear_at: t(3),
            acknowledged_at: t(4),
            acknowledged_by: None,
            will_unacknowledge_at: t(5),
            suppress_until: t(6),
            updated_at: t(7).unwrap_or(0),
            created_at: t(8).unwrap_or(0),
            update_type: unpack_kind(self.update_type),
            remind_at: t(9),
            notified: unpack_kind(self.notified),
        }
    }

    fn set(&mut self, r: &Record, detail_hash: u32, source: &str) {
        let subject = (r.subject != source).then_some(r.subject.as_str());
        // A heartbeat refresh leaves the text as it was: no new allocation
        // for the millions of updates that only move timers.
        let same_subject = match subject {
            None => self.text_mark(1) == SOURCE,
            Some(subject) => self.text_mark(1) != SOURCE && self.text_part(1) == Some(subject),
        };
        let same = same_subject
            && self.text_part(2) == Some(r.summary.as_str())
            && self.text_part(3) == r.acknowledged_by.as_deref();
        if !same {
            self.text = pack_text(self.id(), subject, &r.summary, r.acknowledged_by.as_deref());
        }
        self.detail_hash = detail_hash;
        self.times = [
            pack_time(r.raised_at),
            pack_time(r.cleared_at),
            pack_time(r.will_raise_at),
            pack_time(r.will_clear_at),
            pack_time(r.acknowledged_at),
            pack_time(r.will_unacknowledge_at),
            pack_time(r.suppress_until),
            pack_time(Some(r.updated_at)),
            pack_time(Some(r.created_at)),
            pack_time(r.remind_at),
        ];
        self.importance = r.importance;
        self.update_type = pack_kind(r.update_type);
        self.notified = pack_kind(r.notified);
    }

    fn next_due(&self) -> Option<u32> {
        [self.times[2], self.times[3], self.times[5], self.times[9]]
            .into_iter()
            .filter(|&t| t != 0)
            .min()
    }
}

/// Text of `SOURCE` bytes or more is cut; `wire` caps it far below. A subject
/// of `None` means "the source".
fn pack_text(id: &str, subject: Option<&str>, summary: &str, acked_by: Option<&str>) -> Box<[u8]> {
    fn cut(s: &str) -> &str {
        let mut end = s.len().min(usize::from(SOURCE) - 1);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        &s[..end]
    }
    let parts = [Some(id), subject, Some(summary), acked_by].map(|p| p.map(cut));
    let bytes: usize = parts.iter().flatten().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(2 * TEXTS + bytes);
    for (i, part) in parts.iter().enumerate() {
        let none = if i == 1 { SOURCE } else { NONE };
        let len = part.as_ref().map_or(none, |p| p.len() as u16);
        out.extend_from_slice(&len.to_le_bytes());
    }
    for part in parts.iter().flatten() {
        out.extend_from_slice(part.as_bytes());
    }
    out.into_boxed_slice()
}

/// The seed of [`detail_hash`]: any fixed value ("mauved" in ASCII).
const DETAIL_SEED: u64 = 0x6d61_7576_6564;

/// A hash of the detail text, so that a resent identical detail is not a
/// change (a collision only means one change of detail is not written).
pub(crate) fn detail_hash(detail: &str) -> u32 {
    if detail.is_empty() {
        0
    } else {
        // A fixed seed: the hash is compared across updates (and computed
        // again from the stored detail at start-up). foldhash, as the
        // index's tables use: a detail is hashed on every update that has
        // one, on the scheduler's thread.
        let full = foldhash::quality::FixedState::with_seed(DETAIL_SEED).hash_one(detail);
        (full as u32) | 1
    }
}

pub struct Index {
    slots: Vec<Slot>,
    /// Every source once, with the first alert of its chain.
    sources: Sources,
    /// The alerts of each store bucket, by bucket id.
    buckets: Vec<Vec<SlotId>>,
    by_key: HashTable<SlotId>,
    due: BTreeSet<(u32, SlotId)>,
    hasher: hashbrown::DefaultHashBuilder,
    max_alerts: usize,
    /// Slots of forgotten alerts, for new alerts to take.
    free: Vec<SlotId>,
    /// Details applied and not yet on disk ("" for one removed), so that a
    /// reader sees an alert's detail the moment it sees its new state. The
    /// index keeps no detail otherwise (see `detail_hash`).
    unwritten: hashbrown::HashMap<SlotId, Arc<str>>,
    unwritten_bytes: usize,
}

/// The bucket of a slot whose alert was forgotten.
const DEAD: u32 = u32::MAX;

impl Index {
    pub fn new(max_alerts: usize) -> Self {
        Index {
            slots: Vec::new(),
            sources: Sources::default(),
            buckets: Vec::new(),
            by_key: HashTable::new(),
            due: BTreeSet::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            max_alerts,
            free: Vec::new(),
            unwritten: hashbrown::HashMap::new(),
            unwritten_bytes: 0,
        }
    }

    /// An alert's new detail, until [`Index::detail_written`].
    pub(crate) fn stage_detail(&mut self, id: SlotId, detail: Arc<str>) {
        self.unwritten_bytes += detail.len();
        if let Some(old) = self.unwritten.insert(id, detail) {
            self.unwritten_bytes -= old.len();
        }
    }

    /// The alert's detail if it is not on disk yet.
    pub(crate) fn unwritten_detail(&self, id: SlotId) -> Option<&Arc<str>> {
        self.unwritten.get(&id)
    }

    /// The disk holds `detail` for the alert now: it is no longer kept
    /// here, unless a newer one was staged meanwhile.
    pub(crate) fn detail_written(&mut self, id: SlotId, detail: &Arc<str>) {
        if self
            .unwritten
            .get(&id)
            .is_some_and(|d| Arc::ptr_eq(d, detail))
        {
            self.unwritten.remove(&id);
            self.unwritten_bytes -= detail.len();
        }
    }

    /// Bytes of details not on disk yet.
    pub(crate) fn unwritten_bytes(&self) -> usize {
        self.unwritten_bytes
    }

    /// New alerts are refused once this many are held. The lookup table
    /// is sized for that many at once: growing it later would rehash every
    /// alert in one go on the scheduler's thread, long enough for a busy
    /// socket to overflow.
    pub(crate) fn set_limit(&mut self, max_alerts: usize) {
        self.max_alerts = max_alerts;
        let more = max_alerts.saturating_sub(self.by_key.len());
        let (slots, sources, hasher) = (&self.slots, &self.sources, &self.hasher);
        self.by_key.reserve(more, |&s| {
            let slot = &slots[s as usize];
            hasher.hash_one((sources.name(slot.source), slot.id()))
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hash(&self, source: &str, id: &str) -> u64 {
        self.hasher.hash_one((source, id))
    }

    fn source_of(&self, slot: &Slot) -> &str {
        self.sources.name(slot.source)
    }

    pub fn find(&self, source: &str, id: &str) -> Option<SlotId> {
        let hash = self.hash(source, id);
        self.by_key
            .find(hash, |&s| {
                let slot = &self.slots[s as usize];
                self.source_of(slot) == source && slot.id() == id
            })
            .copied()
    }

    /// Adds an alert that `find` did not find, in the last bucket while it
    /// has room.
    pub fn insert(&mut self, key: &AlertKey, record: &Record, detail: u32) -> Result<SlotId, Full> {
        self.insert_parts(&key.source, &key.id, record, detail)
    }

    /// [`Index::insert`] with the key's parts (no key needs building).
    pub(crate) fn insert_parts(
        &mut self,
        source: &str,
        id: &str,
        record: &Record,
        detail: u32,
    ) -> Result<SlotId, Full> {
        let bucket = match self.buckets.last() {
            Some(last) if last.len() < BUCKET_SIZE => self.buckets.len() - 1,
            _ => self.buckets.len(),
        };
        self.insert_at(source, id, record, detail, bucket as u32)
    }

    /// Adds an alert to a given bucket (as loaded from the store).
    pub(crate) fn insert_in(
        &mut self,
        key: &AlertKey,
        record: &Record,
        detail: u32,
        bucket: u32,
    ) -> Result<SlotId, Full> {
        self.insert_at(&key.source, &key.id, record, detail, bucket)
    }

    fn insert_at(
        &mut self,
        source_name: &str,
        id_text: &str,
        record: &Record,
        detail: u32,
        bucket: u32,
    ) -> Result<SlotId, Full> {
        if self.len() >= self.max_alerts {
            return Err(Full(self.max_alerts));
        }
        let reused = self.free.pop();
        let id = match reused {
            Some(id) => id,
            None => SlotId::try_from(self.slots.len()).map_err(|_| Full(self.max_alerts))?,
        };
        let (source, next_of_source) = match self.sources.find(source_name) {
            Some(source) => {
                let next = self.sources.first(source);
                self.sources.set_first(source, id);
                (source, next)
            }
            None => (self.sources.add(source_name, id), NO_SLOT),
        };
        // Packed once, as `set` would pack them (which then keeps them).
        let subject = (record.subject != source_name).then_some(record.subject.as_str());
        let text = pack_text(
            id_text,
            subject,
            &record.summary,
            record.acknowledged_by.as_deref(),
        );
        let mut slot = Slot {
            source,
            bucket,
            next_of_source,
            text,
            detail_hash: 0,
            times: [0; TIMES],
            importance: 0,
            update_type: 0,
            notified: 0,
        };
        slot.set(record, detail, source_name);
        if let Some(due) = slot.next_due() {
            self.due.insert((due, id));
        }
        match reused {
            Some(id) => self.slots[id as usize] = slot,
            None => self.slots.push(slot),
        }
        let hash = self.hash(source_name, id_text);
        let (slots, sources, hasher) = (&self.slots, &self.sources, &self.hasher);
        self.by_key.insert_unique(hash, id, |&s| {
            let slot = &slots[s as usize];
            hasher.hash_one((sources.name(slot.source), slot.id()))
        });
        let b = bucket as usize;
        if self.buckets.len() <= b {
            self.buckets.resize_with(b + 1, Vec::new);
        }
        self.buckets[b].push(id);
        Ok(id)
    }

    /// Replaces an alert's record (its detail lives on disk: only its hash here).
    pub fn update(&mut self, id: SlotId, record: &Record, detail: u32) {
        let slot = &mut self.slots[id as usize];
        let old_due = slot.next_due();
        slot.set(record, detail, self.sources.name(slot.source));
        let new_due = slot.next_due();
        if old_due != new_due {
            if let Some(due) = old_due {
                self.due.remove(&(due, id));
            }
            if let Some(due) = new_due {
                self.due.insert((due, id));
            }
        }
    }

    /// The record, without its detail (see `detail_hash`).
    pub fn record(&self, id: SlotId) -> Record {
        let slot = &self.slots[id as usize];
        slot.record(self.source_of(slot))
    }

    /// An alert's times, state fields and importance, without its texts
    /// (subject, summary and acknowledger empty): cheap enough to look at
    /// every alert.
    pub(crate) fn timing(&self, id: SlotId) -> Record {
        self.slots[id as usize].timing()
    }

    pub(crate) fn detail_hash_of(&self, id: SlotId) -> u32 {
        self.slots[id as usize].detail_hash
    }

    pub fn bucket_of(&self, id: SlotId) -> u32 {
        self.slots[id as usize].bucket
    }

    /// The alerts written together in one store bucket.
    pub(crate) fn bucket(&self, bucket: u32) -> &[SlotId] {
        self.buckets.get(bucket as usize).map_or(&[], Vec::as_slice)
    }

    pub fn key(&self, id: SlotId) -> AlertKey {
        let slot = &self.slots[id as usize];
        AlertKey::new(self.source_of(slot), slot.id())
    }

    /// Every alert of one source, newest first.
    pub(crate) fn of_source(&self, source: &str) -> Vec<SlotId> {
        let first = self
            .sources
            .find(source)
            .map_or(NO_SLOT, |s| self.sources.first(s));
        self.chain(first)
    }

    fn chain(&self, mut slot: SlotId) -> Vec<SlotId> {
        let mut out = Vec::new();
        while slot != NO_SLOT {
            out.push(slot);
            slot = self.slots[slot as usize].next_of_source;
        }
        out
    }

    /// The earliest due time.
    pub(crate) fn next_due(&self) -> Option<UnixSecs> {
        self.due.first().map(|&(due, _)| u64::from(due))
    }

    /// Up to `limit` alerts due at or before `now`, earliest first.
    pub fn due(&self, now: UnixSecs, limit: usize) -> Vec<(UnixSecs, SlotId)> {
        let now = u32::try_from(now).unwrap_or(u32::MAX);
        self.due
            .iter()
            .take_while(|&&(due, _)| due <= now)
            .take(limit)
            .map(|&(due, id)| (u64::from(due), id))
            .collect()
    }

    /// Alerts in (source, id) order, starting after `after`, while `visit`
    /// returns true. The ids of one source are sorted as they are visited.
    pub(crate) fn walk(&self, after: Option<&AlertKey>, mut visit: impl FnMut(SlotId) -> bool) {
        let from = after.map(|key| key.source.as_str());
        self.sources.walk_from(from, |source, name| {
            let mut ids = self.chain(self.sources.first(source));
            ids.sort_unstable_by(|&a, &b| {
                self.slots[a as usize].id().cmp(self.slots[b as usize].id())
            });
            for id in ids {
                if let Some(key) = after {
                    if name == key.source && self.slots[id as usize].id() <= key.id.as_str() {
                        continue;
                    }
                }
                if !visit(id) {
                    return false;
                }
            }
            true
        });
    }

    /// Every alert's slot, in no particular order.
    /// How many alerts are in each of the page's states at `now` (see
    /// [`Counts`]): one look at every alert's times.
    pub(crate) fn counts(&self, now: UnixSecs) -> Counts {
        let mut counts = Counts::default();
        for slot in self.ids() {
            let timing = self.timing(slot);
            let state = timing.state();
            let n = match state {
                State::Cleared => &mut counts.cleared,
                _ if timing.is_suppressed(now) => &mut counts.suppressed,
                State::Raised => &mut counts.raised,
                State::Acknowledged => &mut counts.acknowledged,
                State::Pending => &mut counts.pending,
            };
            *n += 1;
        }
        counts
    }

    pub fn ids(&self) -> impl Iterator<Item = SlotId> + '_ {
        (0..self.slots.len() as SlotId).filter(|&s| self.slots[s as usize].bucket != DEAD)
    }

    /// Forgets an alert: it leaves every view, and its slot is taken by a
    /// later new alert. Returns its key and bucket (to be written without it).
    pub(crate) fn remove(&mut self, id: SlotId) -> (AlertKey, u32) {
        let key = self.key(id);
        let slot = self.slots[id as usize].clone();
        let hash = self.hash(&key.source, &key.id);
        if let Ok(entry) = self.by_key.find_entry(hash, |&s| s == id) {
            entry.remove();
        }
        if let Some(due) = slot.next_due() {
            self.due.remove(&(due, id));
        }
        // Out of its source's chain.
        let source = slot.source;
        let first = self.sources.first(source);
        if first == id {
            self.sources.set_first(source, slot.next_of_source);
        } else {
            let mut at = first;
            while at != NO_SLOT {
                let next = self.slots[at as usize].next_of_source;
                if next == id {
                    self.slots[at as usize].next_of_source = slot.next_of_source;
                    break;
                }
                at = next;
            }
        }
        if self.sources.first(source) == NO_SLOT {
            self.sources.remove(source);
        }
        if let Some(bucket) = self.buckets.get_mut(slot.bucket as usize) {
            bucket.retain(|&s| s != id);
        }
        if let Some(detail) = self.unwritten.remove(&id) {
            self.unwritten_bytes -= detail.len();
        }
        let dead = &mut self.slots[id as usize];
        dead.bucket = DEAD;
        dead.text = Box::new([]);
        dead.times = [0; TIMES];
        dead.next_of_source = NO_SLOT;
        self.free.push(id);
        (key, slot.bucket)
    }

    /// Up to `limit` cleared alerts (not pending either) last updated before
    /// `before`: what `forget_cleared_after` forgets.
    pub(crate) fn stale_cleared(&self, before: UnixSecs, limit: usize) -> Vec<SlotId> {
        let before = u32::try_from(before).unwrap_or(u32::MAX);
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.bucket != DEAD && s.times[0] == 0 && s.times[2] == 0 && s.times[7] < before
            })
            .take(limit)
            .map(|(i, _)| i as SlotId)
            .collect()
    }
}

/// Builds the in-memory index from the stored records (the due index with
/// it). (`mauved_alerts{state}` is counted from the index when asked.)
pub(crate) fn load(store: &Store, max_alerts: usize) -> anyhow::Result<Index> {
    let started = std::time::Instant::now();
    let mut details = std::collections::HashMap::new();
    for (key, detail) in store.details().context("reading the stored details")? {
        details.insert(key, detail_hash(&detail));
    }
    // What is stored stays, even over a lowered limit.
    let mut index = Index::new(usize::MAX);
    for bucket in store.buckets() {
        let (bucket, alerts) = bucket.context("reading the stored alerts")?;
        for (key, record) in alerts {
            let detail = details.get(&key).copied().unwrap_or(0);
            index
                .insert_in(&key, &record, detail, bucket)
                .context("loading the stored alerts")?;
        }
    }
    index.set_limit(max_alerts);
    tracing::info!(
        alerts = index.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "alerts loaded"
    );
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(will_raise_at: Option<u64>) -> Record {
        Record {
            subject: "web1".into(),
            summary: "summary é".into(),
            importance: 50,
            will_raise_at,
            cleared_at: Some(10),
            updated_at: 10,
            created_at: 5,
            update_type: Some(2),
            acknowledged_by: Some("alice".into()),
            ..Record::default()
        }
    }

    #[test]
    fn an_unwritten_detail_is_kept_until_it_or_a_newer_one_is_written() {
        let mut index = Index::new(10);
        let slot = index
            .insert(&AlertKey::new("s", "a"), &record(None), 1)
            .unwrap();
        let first: Arc<str> = Arc::from("first");
        index.stage_detail(slot, first.clone());
        assert_eq!(index.unwritten_detail(slot), Some(&first));
        let second: Arc<str> = Arc::from("second");
        index.stage_detail(slot, second.clone());
        assert_eq!(index.unwritten_bytes(), 6);
        // The older one written: the newer stays.
        index.detail_written(slot, &first);
        assert_eq!(index.unwritten_detail(slot), Some(&second));
        // The same text staged again is a newer detail, not the one written.
        let again: Arc<str> = Arc::from("second");
        index.stage_detail(slot, again.clone());
        index.detail_written(slot, &second);
        assert_eq!(index.unwritten_detail(slot), Some(&again));
        index.detail_written(slot, &again);
        assert_eq!(index.unwritten_detail(slot), None);
        assert_eq!(index.unwritten_bytes(), 0);
        // A forgotten alert's unwritten detail goes with it: a new alert in
        // its slot does not show it.
        index.stage_detail(slot, Arc::from("old"));
        index.remove(slot);
        assert_eq!(index.unwritten_bytes(), 0);
        let new = index
            .insert(&AlertKey::new("s", "b"), &record(None), 0)
            .unwrap();
        assert_eq!(new, slot, "the slot is taken again");
        assert_eq!(index.unwritten_detail(new), None);
    }

    #[test]
    fn a_record_comes_back_as_it_went_in_but_for_its_detail() {
        let mut index = Index::new(10);
        let key = AlertKey::new("web1", "disk");
        let mut r = record(Some(300));
        let id = index.insert(&key, &r, detail_hash("big")).unwrap();
        assert_eq!(index.find("web1", "disk"), Some(id));
        assert_eq!(index.find("web1", "disk2"), None);
        assert_eq!(index.find("web", "1disk"), None);
        assert_eq!(index.key(id), key);
        assert_eq!(index.record(id), r);
        assert_eq!(index.detail_hash_of(id), detail_hash("big"));
        r.detail = "not kept".into();
        r.subject = "a subject of its own".into();
        r.acknowledged_by = None;
        index.update(id, &r, 0);
        r.detail.clear();
        assert_eq!(index.record(id), r);
        // Back to the source as subject, and a new summary: both are seen.
        r.subject = "web1".into();
        index.update(id, &r, 0);
        assert_eq!(index.record(id), r);
        r.summary = "changed".into();
        r.acknowledged_by = Some("bob".into());
        index.update(id, &r, 0);
        assert_eq!(index.record(id), r);
        index.update(id, &r, 0);
        assert_eq!(index.record(id), r, "unchanged text stays");
    }

    #[test]
    fn a_forgotten_alert_leaves_every_view_and_its_slot_is_reused() {
        let mut index = Index::new(3);
        let a = index
            .insert(&AlertKey::new("s", "a"), &record(Some(100)), 0)
            .unwrap();
        let b = index
            .insert(&AlertKey::new("s", "b"), &record(Some(200)), 0)
            .unwrap();
        let c = index
            .insert(&AlertKey::new("s", "c"), &record(None), 0)
            .unwrap();
        assert!(index
            .insert(&AlertKey::new("s", "d"), &record(None), 0)
            .is_err());
        let (key, bucket) = index.remove(b);
        assert_eq!((key, bucket), (AlertKey::new("s", "b"), 0));
        assert_eq!(index.len(), 2);
        assert_eq!(index.find("s", "b"), None);
        assert_eq!(index.of_source("s"), vec![c, a]);
        assert_eq!(index.bucket(0), &[a, c]);
        assert_eq!(index.due(1000, 10), vec![(100, a)]);
        assert_eq!(index.ids().collect::<Vec<_>>(), vec![a, c]);
        // cleared_at 10, updated 10: stale before 11, not before 10.
        assert_eq!(index.stale_cleared(11, 10), vec![c]);
        assert!(index.stale_cleared(10, 10).is_empty());
        // A new alert takes the slot; the limit counts live alerts.
        let d = index
            .insert(&AlertKey::new("t", "d"), &record(None), 0)
            .unwrap();
        assert_eq!(d, b);
        assert_eq!(index.key(d), AlertKey::new("t", "d"));
        assert!(index
            .insert(&AlertKey::new("t", "e"), &record(None), 0)
            .is_err());
        index.remove(a);
        index.remove(c);
        assert_eq!(index.of_source("s"), Vec::<SlotId>::new());
        let mut seen = Vec::new();
        index.walk(None, |s| {
            seen.push(index.key(s));
            true
        });
        assert_eq!(seen, vec![AlertKey::new("t", "d")]);
    }

    #[test]
    fn sources_that_come_and_go_do_not_grow_the_source_table() {
        let mut index = Index::new(10);
        for round in 0..100 {
            let key = AlertKey::new(format!("host-{round}"), "disk");
            let slot = index.insert(&key, &record(None), 0).unwrap();
            let other = AlertKey::new("steady", format!("a{round}"));
            index.insert(&other, &record(None), 0).unwrap();
            assert_eq!(index.key(slot), key);
            assert_eq!(index.remove(slot).0, key);
            if round > 0 {
                let old = index.find("steady", &format!("a{}", round - 1)).unwrap();
                index.remove(old);
            }
        }
        assert!(
            index.sources.positions() <= 3,
            "{}",
            index.sources.positions()
        );
        assert_eq!(index.of_source("steady").len(), 1);
        assert_eq!(
            index.key(index.find("steady", "a99").unwrap()).source,
            "steady"
        );
        assert!(index.of_source("host-99").is_empty());
    }

    #[test]
    fn the_due_index_follows_updates() {
        let mut index = Index::new(10);
        let a = index
            .insert(&AlertKey::new("s", "a"), &record(Some(300)), 0)
            .unwrap();
        let b = index
            .insert(&AlertKey::new("s", "b"), &record(Some(200)), 0)
            .unwrap();
        assert_eq!(index.next_due(), Some(200));
        assert_eq!(index.due(250, 10), vec![(200, b)]);
        index.update(b, &record(None), 0);
        assert_eq!(index.next_due(), Some(300));
        index.update(a, &record(Some(100)), 0);
        assert_eq!(index.due(1000, 10), vec![(100, a)]);
        assert_eq!(index.due(1000, 0), vec![]);
    }

    #[test]
    fn walking_is_in_source_then_id_order_and_resumes_after_a_key() {
        let mut index = Index::new(10);
        for (s, i) in [("web1", "hb"), ("web/2", "x"), ("web1", "disk"), ("a", "z")] {
            index
                .insert(&AlertKey::new(s, i), &record(None), 0)
                .unwrap();
        }
        let walk = |after: Option<AlertKey>, limit: usize| {
            let mut out = Vec::new();
            index.walk(after.as_ref(), |id| {
                out.push(index.key(id).to_string());
                out.len() < limit
            });
            out
        };
        assert_eq!(walk(None, 10), ["a/z", "web/2/x", "web1/disk", "web1/hb"]);
        assert_eq!(walk(None, 2), ["a/z", "web/2/x"]);
        assert_eq!(
            walk(Some(AlertKey::new("web/2", "x")), 10),
            ["web1/disk", "web1/hb"]
        );
        assert_eq!(walk(Some(AlertKey::new("web1", "disk")), 10), ["web1/hb"]);
        assert_eq!(walk(Some(AlertKey::new("b", "")), 10).len(), 3);
        assert_eq!(index.of_source("web1").len(), 2);
        assert!(index.of_source("nope").is_empty());
    }

    proptest::proptest! {
        /// Any mix of new and forgotten alerts, walked now and then: every
        /// view agrees with a plain sorted set of the keys held.
        #[test]
        fn every_view_agrees_with_the_keys_held(
            ops in proptest::collection::vec((0u8..4, 0u8..12, 0u8..3, proptest::bool::ANY), 1..200),
        ) {
            let mut index = Index::new(usize::MAX);
            let mut held = std::collections::BTreeSet::new();
            // Long names now and then, so that forgetting them compacts.
            let name = |s: u8| if s % 4 == 3 { format!("{s}{}", "x".repeat(40)) } else { format!("src{s}") };
            for (op, source, id, walk) in ops {
                let key = AlertKey::new(name(source), format!("id{id}"));
                match (op, index.find(&key.source, &key.id)) {
                    (0, Some(slot)) => {
                        proptest::prop_assert_eq!(index.remove(slot).0, key.clone());
                        held.remove(&(key.source.clone(), key.id.clone()));
                    }
                    (_, Some(slot)) => proptest::prop_assert_eq!(index.key(slot), key.clone()),
                    (_, None) => {
                        index.insert(&key, &record(None), 0).unwrap();
                        held.insert((key.source.clone(), key.id.clone()));
                    }
                }
                if walk {
                    let mut walked = Vec::new();
                    index.walk(None, |slot| {
                        let k = index.key(slot);
                        walked.push((k.source, k.id));
                        true
                    });
                    let want: Vec<_> = held.iter().cloned().collect();
                    proptest::prop_assert_eq!(walked, want);
                }
            }
            proptest::prop_assert_eq!(index.len(), held.len());
            for (source, id) in &held {
                let slot = index.find(source, id).unwrap();
                proptest::prop_assert_eq!(index.key(slot), AlertKey::new(source.clone(), id.clone()));
                proptest::prop_assert!(index.of_source(source).contains(&slot));
            }
            proptest::prop_assert!(index.sources.positions() <= 12);
        }
    }

    #[test]
    fn alerts_fill_buckets_in_turn() {
        let mut index = Index::new(usize::MAX);
        let ids: Vec<SlotId> = (0..BUCKET_SIZE + 3)
            .map(|i| {
                index
                    .insert(&AlertKey::new("s", format!("{i}")), &record(None), 0)
                    .unwrap()
            })
            .collect();
        assert_eq!(index.bucket_of(ids[0]), 0);
        assert_eq!(index.bucket_of(ids[BUCKET_SIZE - 1]), 0);
        assert_eq!(index.bucket_of(ids[BUCKET_SIZE]), 1);
        assert_eq!(index.bucket(0).len(), BUCKET_SIZE);
        assert_eq!(index.bucket(1), &ids[BUCKET_SIZE..]);
        // Loaded alerts keep the bucket they were stored in.
        let loaded = index
            .insert_in(&AlertKey::new("s", "old"), &record(None), 0, 7)
            .unwrap();
        assert_eq!(index.bucket_of(loaded), 7);
        assert_eq!(index.bucket(7), &[loaded]);
        assert!(index.bucket(5).is_empty());
    }

    #[test]
    fn the_limit_is_kept() {
        let mut index = Index::new(2);
        index
            .insert(&AlertKey::new("s", "a"), &record(None), 0)
            .unwrap();
        index
            .insert(&AlertKey::new("s", "b"), &record(None), 0)
            .unwrap();
        assert_eq!(
            index.insert(&AlertKey::new("s", "c"), &record(None), 0),
            Err(Full(2))
        );
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn many_alerts_of_one_source_are_found() {
        let mut index = Index::new(100_000);
        for i in 0..20_000 {
            index
                .insert(&AlertKey::new("one", format!("id-{i}")), &record(None), 0)
                .unwrap();
        }
        assert_eq!(index.find("one", "id-12345"), Some(12_345));
        assert_eq!(index.of_source("one").len(), 20_000);
    }
}
