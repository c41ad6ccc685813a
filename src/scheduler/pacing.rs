//! When the write-behind is handed a job: urgent changes within
//! `flush_interval_ms`, timer refreshes after `timer_flush_s`, paced at
//! `max_writes_per_s`; and what the writer says when it is done.

use super::*;

impl Run {
    /// True while no command is taken: too much waits to be written, or
    /// the write in flight is late.
    pub(super) fn backpressured(&self) -> bool {
        self.write_late(self.given.clock.now_ms())
            || self.said.messages_waiting() >= MAX_PENDING_MESSAGES
            || self.index().unwritten_bytes() >= MAX_PENDING_DETAIL_BYTES
    }

    pub(super) fn write_late(&self, now_ms: u64) -> bool {
        self.writer_busy && now_ms >= self.writing.since_ms + MAX_WRITE_LAG_MS
    }

    /// True when something waits for the flush interval.
    pub(super) fn has_urgent(&self) -> bool {
        self.dirty.has_urgent() || !self.said.is_empty()
    }

    /// Hands the writer a job if it is free and something is due: urgent
    /// changes after the flush interval (at once if somebody waits), and
    /// timer-only changes that have waited their window, within the pace.
    /// `all` (stopping) writes everything at once.
    pub(super) fn dispatch(&mut self, all: bool) {
        if self.writer_busy {
            return;
        }
        let all = all || std::mem::take(&mut self.flush_all);
        let now_ms = self.given.clock.now_ms();
        let urgent_due = self.has_urgent()
            && (all
                || !self.dirty.waiting.is_empty()
                || now_ms >= self.last_urgent_ms + self.given.durability.flush_interval_ms);
        self.refill_budget(now_ms);
        let buckets = self.buckets_due(all, urgent_due, now_ms);
        if buckets.is_empty() && !urgent_due {
            return;
        }
        self.budget -= buckets.len() as f64;
        // The buckets' records, messages, history and paging state are
        // taken by the writer, off this thread; details and waiters go
        // with urgent changes only.
        let (batch, waiting, writing) = if urgent_due {
            self.last_urgent_ms = now_ms;
            self.urgent_details(now_ms, buckets.len())
        } else {
            let writing = Writing {
                since_ms: now_ms,
                buckets: buckets.len(),
                ..Writing::default()
            };
            (Batch::default(), Vec::new(), writing)
        };
        let job = Job {
            batch,
            buckets,
            waiting,
        };
        if self.jobs.send(job).is_ok() {
            self.writer_busy = true;
            self.writing = writing;
        }
        self.show_backlog();
    }

    /// The pace: a budget of writes that refills with time, up to one
    /// second's worth (few large batches cost sled less than many small).
    fn refill_budget(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.budget_at_ms) as f64 / 1000.0;
        let most = self.given.durability.max_writes_per_s as f64;
        self.budget = (self.budget + elapsed * most).min(most);
        self.budget_at_ms = now_ms;
    }

    /// The buckets to write now: with urgent changes due, those that told
    /// somebody (unpaced) and the urgent ones within the budget; then
    /// timer-only ones that have waited their window, within what is left.
    fn buckets_due(&mut self, all: bool, urgent_due: bool, now_ms: u64) -> Vec<(u32, Tier)> {
        let budget = self.budget;
        let room = |taken: usize| {
            if all {
                usize::MAX
            } else {
                (budget.max(0.0) as usize).saturating_sub(taken)
            }
        };
        let mut buckets: Vec<(u32, Tier)> = Vec::new();
        if urgent_due {
            buckets.extend(self.dirty.take_told().into_iter().map(|b| (b, Tier::Told)));
            let urgent = self.dirty.take_urgent(room(buckets.len()));
            buckets.extend(urgent.into_iter().map(|b| (b, Tier::Urgent)));
        }
        let older_than = if all {
            u64::MAX
        } else {
            now_ms.saturating_sub(self.given.durability.timer_flush_s * 1000)
        };
        let timers = self.dirty.take_timers(older_than, room(buckets.len()));
        buckets.extend(timers.into_iter().map(|b| (b, Tier::Timers)));
        buckets
    }

    /// What goes with urgent changes: the details changed and removed, and
    /// who waits for them.
    fn urgent_details(&mut self, now_ms: u64, buckets: usize) -> (Batch, Vec<Waiter>, Writing) {
        let shared = self.given.index.clone();
        let index = shared.read();
        let dirty = &mut self.dirty;
        let removals = std::mem::take(&mut dirty.forgotten);
        // (An alert forgotten since its change has no detail left.)
        let changed: Vec<(SlotId, Arc<str>)> = dirty
            .take_details()
            .into_iter()
            .filter_map(|slot| Some((slot, index.unwritten_detail(slot)?.clone())))
            .collect();
        let batch = Batch {
            // Removals first: an alert forgotten and sent again since the
            // last write keeps its new detail.
            details: removals
                .iter()
                .map(|(bucket, key)| (*bucket, key.clone(), Arc::from("")))
                .chain(
                    changed
                        .iter()
                        .map(|(s, d)| (index.bucket_of(*s), index.key(*s), d.clone())),
                )
                .collect(),
            ..Batch::default()
        };
        let writing = Writing {
            since_ms: now_ms,
            buckets,
            details: changed,
            removals,
        };
        (batch, std::mem::take(&mut dirty.waiting), writing)
    }

    /// The writer is free again. A failed job's alerts and messages are
    /// marked again so that they are written on a later try.
    pub(super) fn written(&mut self, done: Done) {
        if self.write_late(self.given.clock.now_ms()) {
            self.given.metrics.writes_late.inc();
        }
        self.writer_busy = false;
        let Writing {
            details, removals, ..
        } = std::mem::take(&mut self.writing);
        if let Some((job, _)) = done.failed {
            let now_ms = self.given.clock.now_ms();
            for (bucket, tier) in job.buckets {
                self.dirty.mark(bucket, tier, now_ms);
            }
            // The details are still in the index (or newer ones); the
            // removals are still to be made, before any newer detail.
            for (slot, _) in details {
                self.dirty.detail_changed(slot);
            }
            self.dirty.forgotten.splice(0..0, removals);
            // (What the job said was put back by the writer.)
            // Try again after a flush interval, not in a tight loop.
            self.last_urgent_ms = now_ms;
        } else if !details.is_empty() || !removals.is_empty() {
            // Readers find these details on disk now.
            let shared = self.given.index.clone();
            let mut index = shared.write();
            for (slot, detail) in &details {
                index.detail_written(*slot, detail);
            }
            drop(index);
            self.dirty.removed(removals.into_iter().map(|(_, key)| key));
        }
        self.show_backlog();
    }

    /// Buckets not written yet, those being written included.
    pub(super) fn show_backlog(&self) {
        let backlog = self.dirty.backlog() + self.writing.buckets;
        self.given.metrics.write_backlog.set(backlog as i64);
    }

    pub(super) fn store_failed(&self, err: &StoreError) {
        self.given.metrics.store_errors.inc();
        tracing::error!(%err, "store operation failed");
    }
}
