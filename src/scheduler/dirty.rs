//! What the writer has not written yet: alerts changed since their last
//! write, in two tiers, plus changed details, messages and waiters.
//!
//! - **Urgent**: a new alert, a change of state, text or acknowledgement, or
//!   anything that queued a message. Written within `flush_interval_ms`.
//! - **Timers only**: a heartbeat refresh that moved nothing but its timers
//!   and `updated_at`. Written once it has waited `timer_flush_s` (and then
//!   paced), so that an alert refreshed every few seconds is written once per
//!   window. Losing one to a crash is safe: after a restart the startup grace
//!   postpones the old timer until its sender has resent.
//!
//! An alert is marked once however often it changes; what is written is its
//! record at the time of writing.

use std::collections::{HashMap, VecDeque};

use super::Waiter;
use crate::index::SlotId;
use crate::store::Notification;

const CLEAN: u8 = 0;
const TIMERS: u8 = 1;
const URGENT: u8 = 2;

#[derive(Default)]
pub(super) struct Dirty {
    marks: Vec<u8>,
    urgent: Vec<SlotId>,
    /// Timer-only changes with the clock (ms) when each was first marked.
    timers: VecDeque<(SlotId, u64)>,
    pub details: HashMap<SlotId, String>,
    pub detail_bytes: usize,
    pub messages: Vec<Notification>,
    pub waiting: Vec<Waiter>,
}

impl Dirty {
    pub fn mark(&mut self, slot: SlotId, urgent: bool, now_ms: u64) {
        let i = slot as usize;
        if self.marks.len() <= i {
            self.marks.resize(i + 1, CLEAN);
        }
        match (self.marks[i], urgent) {
            (URGENT, _) | (TIMERS, false) => {}
            (_, true) => {
                self.marks[i] = URGENT;
                self.urgent.push(slot);
            }
            (_, false) => {
                self.marks[i] = TIMERS;
                self.timers.push_back((slot, now_ms));
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

    /// Takes every urgent alert.
    pub fn take_urgent(&mut self) -> Vec<SlotId> {
        let taken = std::mem::take(&mut self.urgent);
        for &slot in &taken {
            self.marks[slot as usize] = CLEAN;
        }
        taken
    }

    /// Takes up to `limit` timer-only alerts marked at or before `older_than_ms`.
    pub fn take_timers(&mut self, older_than_ms: u64, limit: usize) -> Vec<SlotId> {
        let mut taken = Vec::new();
        while taken.len() < limit {
            match self.timers.front() {
                Some(&(slot, since)) if since <= older_than_ms => {
                    self.timers.pop_front();
                    // Made urgent (or written) since: not this queue's to write.
                    if self.marks[slot as usize] == TIMERS {
                        self.marks[slot as usize] = CLEAN;
                        taken.push(slot);
                    }
                }
                _ => break,
            }
        }
        taken
    }

    pub fn take_details(&mut self, slots: &[SlotId]) -> Vec<(SlotId, String)> {
        let mut taken = Vec::new();
        for slot in slots {
            if let Some(detail) = self.details.remove(slot) {
                self.detail_bytes -= detail.len();
                taken.push((*slot, detail));
            }
        }
        taken
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
        assert_eq!(d.take_timers(u64::MAX, 10), Vec::<SlotId>::new());
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
        assert_eq!(d.take_details(&[1]), vec![(1, "abcdef".to_string())]);
        assert_eq!(d.detail_bytes, 1);
    }
}
