//! What the writer has not written yet: store buckets holding alerts changed
//! since their last write, in two tiers, plus changed details, messages and
//! waiters. A bucket is written whole (see `store`), so it is marked once
//! however many of its alerts changed, and in the tier of its most urgent.
//!
//! - **Urgent**: a new alert, a change of state, text or acknowledgement, or
//!   anything that queued a message. Written within `flush_interval_ms`.
//! - **Timers only**: a heartbeat refresh that moved nothing but its timers
//!   and `updated_at`. Written once it has waited `timer_flush_s` (and then
//!   paced), so that an alert refreshed every few seconds is written once per
//!   window. Losing one to a crash is safe: after a restart the startup grace
//!   postpones the old timer until its sender has resent.
//!
//! A bucket is marked once however often its alerts change; what is written
//! is their records at the time of writing.

use std::collections::{HashMap, VecDeque};

use super::Waiter;
use crate::index::SlotId;

/// A store bucket's id.
pub(super) type Bucket = u32;
use crate::store::Notification;

const CLEAN: u8 = 0;
const TIMERS: u8 = 1;
const URGENT: u8 = 2;

#[derive(Default)]
pub(super) struct Dirty {
    /// Per bucket.
    marks: Vec<u8>,
    urgent: Vec<Bucket>,
    /// Buckets with timer-only changes, and the clock (ms) when each was
    /// first marked.
    timers: VecDeque<(Bucket, u64)>,
    pub details: HashMap<SlotId, String>,
    pub detail_bytes: usize,
    pub messages: Vec<Notification>,
    pub waiting: Vec<Waiter>,
}

impl Dirty {
    pub fn mark(&mut self, bucket: Bucket, urgent: bool, now_ms: u64) {
        let i = bucket as usize;
        if self.marks.len() <= i {
            self.marks.resize(i + 1, CLEAN);
        }
        match (self.marks[i], urgent) {
            (URGENT, _) | (TIMERS, false) => {}
            (_, true) => {
                self.marks[i] = URGENT;
                self.urgent.push(bucket);
            }
            (_, false) => {
                self.marks[i] = TIMERS;
                self.timers.push_back((bucket, now_ms));
            }
        }
    }

    pub fn set_detail(&mut self, slot: SlotId, detail: String) {
        self.detail_bytes += detail.len();
        if let Some(old) = self.details.insert(slot, detail) {
            self.detail_bytes -= old.len();
        }
    }

    /// True when something must be written within the flush interval.
    pub fn has_urgent(&self) -> bool {
        !self.urgent.is_empty() || !self.messages.is_empty() || !self.waiting.is_empty()
    }

    /// When the oldest timer-only change is due to be written.
    pub fn timers_due_ms(&self, window_ms: u64) -> Option<u64> {
        self.timers.front().map(|&(_, since)| since + window_ms)
    }

    pub fn backlog(&self) -> usize {
        self.urgent.len() + self.timers.len()
    }

    /// Takes every urgent bucket.
    pub fn take_urgent(&mut self) -> Vec<Bucket> {
        let taken = std::mem::take(&mut self.urgent);
        for &bucket in &taken {
            self.marks[bucket as usize] = CLEAN;
        }
        taken
    }

    /// Takes up to `limit` timer-only buckets marked at or before `older_than_ms`.
    pub fn take_timers(&mut self, older_than_ms: u64, limit: usize) -> Vec<Bucket> {
        let mut taken = Vec::new();
        while taken.len() < limit {
            match self.timers.front() {
                Some(&(bucket, since)) if since <= older_than_ms => {
                    self.timers.pop_front();
                    // Made urgent (or written) since: not this queue's to write.
                    if self.marks[bucket as usize] == TIMERS {
                        self.marks[bucket as usize] = CLEAN;
                        taken.push(bucket);
                    }
                }
                _ => break,
            }
        }
        taken
    }

    /// Takes every changed detail.
    pub fn take_details(&mut self) -> Vec<(SlotId, String)> {
        self.detail_bytes = 0;
        self.details.drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_is_marked_once_and_urgent_wins() {
        let mut d = Dirty::default();
        d.mark(3, false, 10);
        d.mark(3, false, 20);
        assert_eq!(d.backlog(), 1);
        assert_eq!(d.timers_due_ms(100), Some(110));
        d.mark(3, true, 30);
        d.mark(3, true, 40);
        assert_eq!(d.take_urgent(), vec![3]);
        // Its timer-only entry is stale now.
        assert_eq!(d.take_timers(u64::MAX, 10), Vec::<Bucket>::new());
        assert!(!d.has_urgent());
    }

    #[test]
    fn timer_only_changes_wait_their_window_and_are_paced() {
        let mut d = Dirty::default();
        for slot in 0..5 {
            d.mark(slot, false, 100 + u64::from(slot));
        }
        assert!(d.take_timers(99, 10).is_empty());
        assert_eq!(d.take_timers(102, 10), vec![0, 1, 2]);
        assert_eq!(d.take_timers(1000, 1), vec![3]);
        assert_eq!(d.take_timers(1000, 10), vec![4]);
        d.mark(0, false, 2000);
        assert_eq!(
            d.take_timers(2000, 10),
            vec![0],
            "marked again after its write"
        );
    }

    #[test]
    fn details_are_counted_until_taken() {
        let mut d = Dirty::default();
        d.set_detail(1, "abc".into());
        d.set_detail(1, "abcdef".into());
        d.set_detail(2, "x".into());
        assert_eq!(d.detail_bytes, 7);
        let mut taken = d.take_details();
        taken.sort();
        assert_eq!(taken, vec![(1, "abcdef".to_string()), (2, "x".to_string())]);
        assert_eq!(d.detail_bytes, 0);
    }
}
