//! Time passing: due timers fired, stale cleared alerts forgotten.

use super::*;

impl Run {
    /// Removes an alert from memory, the store (its bucket is rewritten
    /// without it) and the pager.
    pub(super) fn forget(&mut self, index: &mut Index, slot: SlotId, old: &Record) {
        let (key, bucket) = index.remove(slot);
        self.tell_pages(|| key.clone(), "forgotten", old, false);
        self.dirty.forget(bucket, key.clone());
        self.dirty
            .mark(bucket, Tier::Told, self.given.clock.now_ms());
        self.given.pager.forget(&key);
        let changes = self.given.pager.take_changes();
        let mut said = self.said.say(index);
        said.paging.extend(changes);
        said.changed.push(bucket);
    }

    /// Forgets cleared alerts not updated for `forget_cleared_after_s`
    /// (hourly, at most 10,000 a time).
    pub(super) fn sweep(&mut self, now: UnixSecs) {
        if now < self.next_sweep || self.given.forget_cleared_after_s == 0 {
            return;
        }
        self.next_sweep = now + 3600;
        let shared = self.given.index.clone();
        let mut index = shared.write();
        let stale = index.stale_cleared(
            now.saturating_sub(self.given.forget_cleared_after_s),
            10_000,
        );
        for slot in stale {
            let old = index.record(slot);
            let key = index.key(slot);
            self.said.say(&mut index).history(
                key,
                HistoryEntry::new(
                    now,
                    HistoryKind::Update,
                    format!(
                        "FORGOTTEN: cleared and not updated for {}",
                        crate::timefmt::span(self.given.forget_cleared_after_s)
                    ),
                )
                .authored("mauved"),
            );
            self.forget(&mut index, slot, &old);
        }
    }

    pub(super) fn fire_due(&mut self) {
        let time = self.tick_time();
        self.sweep(time.now);
        self.fire_alerts(&time);
        if self
            .given
            .pager
            .next_due()
            .is_some_and(|due| due <= time.now)
        {
            let mut effects = Effects::default();
            let shared = self.given.index.clone();
            let index = shared.read();
            let mut pager = std::mem::take(&mut self.given.pager);
            pager.fire(
                time.now,
                |key| {
                    let slot = index.find(&key.source, &key.id)?;
                    let mut record = index.record(slot);
                    record.detail = self.detail_of(&index, slot);
                    Some(record)
                },
                &mut effects,
            );
            self.given.pager = pager;
            // Reminders change no record: what they say is added under the
            // write lock like any other (nothing changed the index since).
            drop(index);
            self.take_effects(&mut shared.write(), &mut effects);
        }
    }

    pub(super) fn fire_alerts(&mut self, time: &TickTime) {
        loop {
            let due = self.index().due(time.now, MAX_ROUND_TIMERS);
            if due.is_empty() {
                return;
            }
            let shared = self.given.index.clone();
            let mut index = shared.write();
            for &(_, slot) in &due {
                let old = index.record(slot);
                if let Some(transition) = alert::tick(&old, time) {
                    self.given.metrics.timers_fired.inc();
                    self.commit_known(&mut index, slot, old, transition, time.now);
                }
            }
            if due.len() < MAX_ROUND_TIMERS {
                return;
            }
        }
    }
}
