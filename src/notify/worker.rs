//! One notifier's delivery loop: take the oldest queued messages, attempt
//! each until it is delivered or given up, back off between failed attempts,
//! and sleep when the queue is empty until the scheduler queues more.
//!
//! Backoff sleeps on the daemon's clock, so a test can step through an hour
//! of retries in milliseconds. On shutdown an attempt in progress gets a few
//! seconds to finish; one that takes longer is dropped (a command is killed)
//! and its message stays queued for the next start.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::{Message, Notifier, Outcome};
use crate::alert::{DeadLetter, Event, EventKind, HistoryEntry, Notification};
use crate::clock::Clock;
use crate::cluster::{Cluster, Gate, Identity};
use crate::metrics::{Metrics, NotifyResult};
use crate::store::{History, QueueId, Store};

/// On shutdown, an attempt in flight gets this long to finish (real time).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The history result of a message shadow mode did not send.
pub(crate) const SHADOWED: &str = "would have sent";

/// How often a station that does not lead looks again at the messages the
/// cluster holds (real time: the other station delivers on its own clock).
const HELD_POLL: Duration = Duration::from_millis(250);

/// Messages read from the queue at a time.
const BATCH: usize = 64;
/// Messages read at a time at most by an isolated station whose every
/// message read is held: the window doubles from [`BATCH`] each look, so
/// that an urgent message queued behind many held ones is reached (and
/// sent after `cluster.fail_open_after`). Only while isolated: a follower's
/// held messages each cost an etcd read per look.
const MAX_HELD_WINDOW: usize = 4096;

/// Delivery history lines kept before writing them while the queue is not
/// empty. Each write is one store value per bucket it touches, and sled's
/// memory follows the number of values: written per batch, a storm's
/// scattered deliveries made one value per line. The lines are written at
/// once whenever the queue is empty.
const HISTORY_LINES: usize = 4096;

/// Delay before retry number `attempt` (1-based): doubling from one second,
/// capped at five minutes.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(9)).min(Duration::from_secs(300))
}

/// [`backoff`] less up to a fifth, at random: workers that failed together
/// do not all retry in the same second.
pub(crate) fn jittered(attempt: u32) -> Duration {
    let base = backoff(attempt);
    let off = rand::random::<f64>() * 0.2;
    base.mul_f64(1.0 - off)
}

/// What a reload may replace in a worker, taken at each attempt.
pub(crate) struct Setup {
    pub(crate) notifier: Arc<dyn Notifier>,
    /// Links in messages start with this.
    pub(crate) base_url: String,
    /// Signs each message's action link (None: `http.message_links` off).
    pub(crate) links: Option<super::payload::Links>,
    /// A message still undelivered this long after its event is given up
    /// (0: never).
    pub(crate) max_age_s: u64,
    /// `delivery.shadow`: decide and record, deliver nothing.
    pub(crate) shadow: bool,
}

pub(crate) struct Worker {
    pub(crate) name: String,
    /// With `[cluster]`: who may send (see `cluster`).
    pub(crate) cluster: Option<Arc<Cluster>>,
    /// The notifier and settings in force (a reload sends new ones).
    pub(crate) setup: watch::Receiver<Arc<Setup>>,
    pub(crate) store: Arc<Store>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Clock,
    /// Notified by the scheduler when it queued something.
    pub(crate) wake: Arc<Notify>,
    /// Every notifier's wake-up, by name (a fallback queues to another).
    pub(crate) wakes: Arc<super::pool::Wakes>,
    /// History lines not written yet (written with each batch's flush).
    pub(crate) history: Mutex<Vec<History>>,
    /// Which notifiers are failing (shared with `/health`).
    pub(crate) health: Arc<super::Health>,
    /// Cancelled when the daemon stops or a reload removes the notifier.
    pub(crate) shutdown: CancellationToken,
}

impl Worker {
    /// Delivers the queue until shutdown.
    pub(crate) async fn run(self) {
        // Messages settled while one before them was held by the cluster
        // (a follower drops what the leader delivered; an isolated station
        // sends an urgent message past a held one). The queue advances in
        // order: each is recorded there in its turn, once those before it
        // are. Kept in memory meanwhile: after a crash they are looked at
        // again (dropped again, or sent again: at least once).
        let mut ahead: HashMap<QueueId, Settle> = HashMap::new();
        let mut window = BATCH;
        let mut looking_further: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let mut batch = self.read_queue(window + self.look_further()).await;
            let further = batch.split_off(window.min(batch.len()));
            // The look further on, made while the last round was sent, is
            // in before this round fences what it did not cover.
            if let Some(look) = looking_further.take() {
                let _ = look.await;
            }
            looking_further = self.fence_further(&further, &ahead);
            if batch.is_empty() {
                self.write_history().await;
                tokio::select! {
                    () = self.wake.notified() => continue,
                    () = self.shutdown.cancelled() => return,
                }
            }
            let read = batch.len();
            let (held, progress) = self.deliver(batch, &mut ahead).await;
            // Isolated with everything read held: read further next time
            // (see `MAX_HELD_WINDOW`); back to the start otherwise.
            let all_held = progress == 0 && held == read && self.isolated();
            window = match (all_held, read == window) {
                (true, true) => (window * 2).min(MAX_HELD_WINDOW),
                (true, false) => window,
                (false, _) => BATCH,
            };
            if held > 0 {
                // Held by the cluster (a follower waiting for the leader's
                // records): look again in a moment, not as each record or
                // message comes (that spins on etcd while the leader
                // sends). Idle meanwhile: the history is written.
                if progress > 0 {
                    self.end_round().await;
                }
                self.write_history().await;
                tokio::select! {
                    () = tokio::time::sleep(HELD_POLL) => {}
                    () = self.shutdown.cancelled() => return,
                }
                continue;
            }
            self.end_round().await;
            if self.shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// With `[cluster]`, how many messages past a round are read to be
    /// fenced while the round is sent (`fence_further`).
    fn look_further(&self) -> usize {
        match &self.cluster {
            Some(_) if !self.setup.borrow().shadow => BATCH,
            _ => 0,
        }
    }

    /// Fences the messages after this round's while it is sent: the next
    /// round then waits for no etcd round trip before its first attempt.
    fn fence_further(
        &self,
        further: &[(QueueId, Notification)],
        settled: &HashMap<QueueId, Settle>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let cluster = self.cluster.clone()?;
        let ids: Vec<Identity> = further
            .iter()
            .filter(|(id, _)| !settled.contains_key(id))
            .map(|(_, n)| Identity::of(n))
            .collect();
        if ids.is_empty() {
            return None;
        }
        Some(tokio::spawn(async move { cluster.fence_ahead(&ids).await }))
    }

    /// The oldest `window` messages of this notifier's queue (none if the
    /// store cannot be read: said, and tried again when woken).
    async fn read_queue(&self, window: usize) -> Vec<(QueueId, Notification)> {
        let (store, name) = (self.store.clone(), self.name.clone());
        let taken = tokio::task::spawn_blocking(move || store.take(&name, window)).await;
        match taken {
            Ok(Ok(batch)) => batch,
            Err(err) => {
                tracing::error!(notifier = %self.name, %err, "cannot read the notification queue");
                Vec::new()
            }
            Ok(Err(err)) => {
                self.metrics.store_errors.inc();
                tracing::error!(notifier = %self.name, %err, "cannot read the notification queue");
                Vec::new()
            }
        }
    }

    /// Attempts each message read, in order, and records each in the
    /// queue in its turn: (held by the cluster, settled).
    async fn deliver(
        &self,
        batch: Vec<(QueueId, Notification)>,
        ahead: &mut HashMap<QueueId, Settle>,
    ) -> (usize, usize) {
        let (mut held, mut progress) = (0, 0);
        // With `[cluster]`, the messages about to be attempted are fenced
        // in one go (`cluster::fencing`).
        if let Some(cluster) = self
            .cluster
            .as_ref()
            .filter(|_| !self.setup.borrow().shadow)
        {
            let ids: Vec<Identity> = batch
                .iter()
                .filter(|(id, _)| !ahead.contains_key(id))
                .map(|(_, n)| Identity::of(n))
                .collect();
            cluster.fence_ahead(&ids).await;
        }
        // Delivered in a row: taken off the queue in one write, before
        // anything else is recorded there and before the flush.
        let mut delivered: Vec<QueueId> = Vec::new();
        for (id, notification) in batch {
            if self.shutdown.is_cancelled() {
                break;
            }
            // A store that cannot record deliveries now: what was delivered
            // is recorded first (waiting until it can), so that nothing
            // more is sent meanwhile.
            if !delivered.is_empty()
                && self.store.failing().is_some()
                && !self
                    .settle(Settle::Delivered(std::mem::take(&mut delivered)))
                    .await
            {
                break;
            }
            let settle = match ahead.remove(&id) {
                Some(settle) => settle,
                None => {
                    let Some(outcome) = self.attempt_until_done(&notification).await else {
                        break;
                    };
                    let settle = self.finish(id.clone(), notification, outcome).await;
                    if !matches!(settle, Settle::Keep) {
                        progress += 1;
                    }
                    settle
                }
            };
            match settle {
                Settle::Keep => held += 1,
                settle if held > 0 => {
                    ahead.insert(id, settle);
                }
                Settle::Dequeue(id) => delivered.push(id),
                settle => {
                    let before = Settle::Delivered(std::mem::take(&mut delivered));
                    if !self.settle(before).await || !self.settle(settle).await {
                        break;
                    }
                }
            }
        }
        if !delivered.is_empty() {
            self.settle(Settle::Delivered(delivered)).await;
        }
        (held, progress)
    }

    /// What was delivered stays delivered across a crash: at most one batch
    /// is sent again after `kill -9`. Its history lines wait for more while
    /// the queue is long (see `HISTORY_LINES`).
    async fn end_round(&self) {
        if self.history.lock().len() >= HISTORY_LINES || self.shutdown.is_cancelled() {
            self.write_history().await;
        }
        let store = self.store.clone();
        let flushed = tokio::task::spawn_blocking(move || store.flush()).await;
        if let Ok(Err(err)) = flushed {
            self.metrics.store_errors.inc();
            tracing::error!(notifier = %self.name, %err, "cannot flush the delivery cursor");
        }
    }

    /// Attempts one message until it is delivered or given up; None if the
    /// daemon shuts down first.
    async fn attempt_until_done(&self, notification: &Notification) -> Option<Outcome> {
        let mut message = match Message::try_from(notification) {
            Ok(message) => message,
            Err(kind) => {
                return Some(Outcome::GiveUp(format!(
                    "stored event kind {kind} is unknown to this version"
                )))
            }
        };
        if self.setup.borrow().shadow {
            return Some(Outcome::Shadowed);
        }
        let identity = self.cluster.as_ref().map(|_| Identity::of(notification));
        let mut attempt = 0;
        loop {
            if let Some(identity) = &identity {
                match self.fence(identity, notification, attempt).await {
                    Ok(()) => {}
                    Err(stop) => return stop,
                }
            }
            // The settings in force now: a reload between two attempts
            // (a fixed URL, a longer max_age) applies to the next.
            let setup = self.setup.borrow().clone();
            let outcome = self.attempt(&setup, &mut message).await?;
            match &outcome {
                Outcome::Delivered => {
                    self.health.delivered(&self.name);
                    if let (Some(cluster), Some(identity)) = (&self.cluster, &identity) {
                        cluster.delivered(identity);
                    }
                }
                _ => self.health.failed(&self.name, self.clock.now()),
            }
            let (why, asked) = match outcome {
                Outcome::Retry(why) => (why, Duration::ZERO),
                Outcome::RetryIn(why, after) => (why, after),
                outcome => {
                    if matches!(outcome, Outcome::GiveUp(_)) {
                        self.gave_up(identity.as_ref()).await;
                    }
                    return Some(outcome);
                }
            };
            let max_age_s = setup.max_age_s;
            if max_age_s > 0 && self.clock.now().saturating_sub(notification.at) > max_age_s {
                self.gave_up(identity.as_ref()).await;
                return Some(Outcome::GiveUp(format!(
                    "still failing after {} (delivery.max_age): {why}",
                    crate::timefmt::span(max_age_s)
                )));
            }
            attempt += 1;
            self.metrics.notification(&self.name, NotifyResult::Retried);
            self.history(notification, "retry", &why);
            self.write_history().await;
            let mut delay = jittered(attempt).max(asked);
            if max_age_s > 0 {
                // One last attempt when the message reaches its maximum age.
                let left = (notification.at + max_age_s + 1).saturating_sub(self.clock.now());
                delay = delay.min(Duration::from_secs(left.max(1)));
            }
            tracing::warn!(notifier = %self.name, %why, ?delay, "notification failed, will retry");
            let sleeper = format!("delivery {}", self.name);
            tokio::select! {
                () = self.clock.sleep_as(&sleeper, delay) => {}
                () = self.shutdown.cancelled() => return None,
            }
        }
    }

    /// In a cluster, every attempt is fenced: sent only by the station that
    /// leads, and not at all once the other delivered. `Err` holds what
    /// to do instead of sending (`None`: stop).
    async fn fence(
        &self,
        identity: &Identity,
        notification: &Notification,
        attempt: u32,
    ) -> Result<(), Option<Outcome>> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let gate = tokio::select! {
            gate = cluster.gate(identity, notification) => gate,
            () = self.shutdown.cancelled() => return Err(None),
        };
        match gate {
            None => Err(Some(Outcome::Held)),
            Some(Gate::Send) => Ok(()),
            Some(Gate::FailOpen) => {
                if attempt == 0 {
                    tracing::warn!(notifier = %self.name, key = %notification.key(), "cluster: isolated past fail_open_after: sending an urgent message from here");
                    self.history(
                        notification,
                        "sent while isolated",
                        "this station could not reach etcd for cluster.fail_open_after: it sent this urgent message itself (the other station may send it too)",
                    );
                }
                Ok(())
            }
            Some(Gate::Elsewhere(settled)) => Err(Some(Outcome::Elsewhere(settled))),
            Some(Gate::Stopped) => Err(None),
        }
    }

    /// One attempt with the settings in force; None if the daemon stops
    /// before it ends (an attempt in flight may finish, briefly).
    async fn attempt(&self, setup: &Setup, message: &mut Message) -> Option<Outcome> {
        message.base_url.clone_from(&setup.base_url);
        message.sign_link(setup.links.as_ref());
        message.now = self.clock.now();
        let in_flight = setup.notifier.deliver(message);
        tokio::pin!(in_flight);
        tokio::select! {
            outcome = &mut in_flight => Some(outcome),
            () = self.shutdown.cancelled() => {
                tokio::time::timeout(SHUTDOWN_GRACE, &mut in_flight).await.ok()
            }
        }
    }

    /// With `[cluster]`: whether this station is cut off from etcd.
    fn isolated(&self) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|c| c.status().role == crate::cluster::Role::Isolated)
    }

    /// With `[cluster]`: records in etcd that this station gave up on a
    /// message, so that the other station does not send its copy.
    async fn gave_up(&self, identity: Option<&Identity>) {
        if let (Some(cluster), Some(identity)) = (&self.cluster, identity) {
            cluster.gave_up(identity);
        }
    }

    /// Counts, logs and writes the history of an attempt's outcome; returns
    /// what the queue must record.
    async fn finish(&self, id: QueueId, notification: Notification, outcome: Outcome) -> Settle {
        match outcome {
            Outcome::Held => Settle::Keep,
            Outcome::Shadowed => {
                self.metrics
                    .notification(&self.name, NotifyResult::Shadowed);
                self.history(&notification, SHADOWED, "");
                Settle::Dequeue(id)
            }
            Outcome::Delivered => {
                self.metrics
                    .notification(&self.name, NotifyResult::Delivered);
                self.history(&notification, "delivered", "");
                Settle::Dequeue(id)
            }
            Outcome::Elsewhere(settled) => {
                let result = if settled.gave_up {
                    "given up elsewhere"
                } else {
                    "delivered elsewhere"
                };
                self.history(
                    &notification,
                    result,
                    &format!("by station {}", settled.station),
                );
                Settle::Dequeue(id)
            }
            Outcome::GiveUp(reason) | Outcome::Retry(reason) | Outcome::RetryIn(reason, _) => {
                self.metrics.notification(&self.name, NotifyResult::Failed);
                self.metrics.dead_letters.inc();
                tracing::error!(
                    notifier = %self.name,
                    key = %notification.key(),
                    %reason,
                    "notification given up: kept as a dead letter"
                );
                self.history(&notification, "gave up", &reason);
                // Before a fallback can deliver: the history reads in order.
                self.write_history().await;
                let mut next = notification.clone();
                let letter = DeadLetter {
                    notification,
                    reason,
                    at: self.clock.now(),
                };
                if next.fallback.is_empty() {
                    Settle::DeadLetter(id, Box::new(letter))
                } else {
                    let hop = next.fallback.remove(0);
                    tracing::warn!(notifier = %self.name, fallback = %hop.notifier, "trying the fallback notifier");
                    next.notifier = hop.notifier;
                    next.recipient = Some(hop.to);
                    Settle::Forward(id, Box::new((letter, next)))
                }
            }
        }
    }

    /// Records a finished message in the queue. While the store cannot
    /// (a full or failing disk) nothing more is delivered from this queue:
    /// the message is not sent again and again meanwhile. Tried again every
    /// second; false if the daemon stops first (then it is delivered again
    /// after the restart, at least once).
    async fn settle(&self, mut settle: Settle) -> bool {
        let mut logged = false;
        loop {
            // Off the async workers, like every other wait on the disk.
            let store = self.store.clone();
            let recorded = tokio::task::spawn_blocking(move || {
                let stored = settle.record(&store);
                (stored, settle)
            })
            .await;
            let (stored, back) = match recorded {
                Ok(recorded) => recorded,
                Err(err) => {
                    // Still queued: delivered again after a restart.
                    tracing::error!(notifier = %self.name, %err, "recording a finished message failed");
                    return false;
                }
            };
            settle = back;
            let Err(err) = stored else {
                if let Settle::Forward(_, hop) = &settle {
                    self.wakes.wake(&hop.1.notifier);
                }
                return true;
            };
            self.metrics.store_errors.inc();
            if !logged {
                tracing::error!(notifier = %self.name, %err, "cannot take a message off the queue: delivery waits until the store writes again");
                logged = true;
            }
            tokio::select! {
                () = self.clock.sleep(Duration::from_secs(1)) => {}
                () = self.shutdown.cancelled() => return false,
            }
        }
    }
}

/// What the queue records of a finished message.
enum Settle {
    /// Nothing: held by the cluster, it stays queued.
    Keep,
    Dequeue(QueueId),
    /// Messages dequeued in a row, in order.
    Delivered(Vec<QueueId>),
    DeadLetter(QueueId, Box<DeadLetter>),
    /// Given up here, queued for the next notifier of its fallback.
    Forward(QueueId, Box<(DeadLetter, Notification)>),
}

impl Settle {
    /// Records it in the queue (blocks on the disk).
    fn record(&self, store: &Store) -> Result<(), crate::store::StoreError> {
        match self {
            Settle::Keep => Ok(()),
            Settle::Dequeue(id) => store.delivered_all(std::slice::from_ref(id)),
            Settle::Delivered(ids) if ids.is_empty() => Ok(()),
            Settle::Delivered(ids) => store.delivered_all(ids),
            Settle::DeadLetter(id, letter) => store.give_up(id, letter, None),
            Settle::Forward(id, hop) => store.give_up(id, &hop.0, Some(&hop.1)),
        }
    }
}

impl Worker {
    /// One line per alert of the message in its history: what this attempt did.
    fn history(&self, n: &Notification, result: &str, why: &str) {
        let person = n.person.clone().unwrap_or_else(|| "everyone".into());
        let text = match why {
            "" => format!(
                "{result}: {} via {} to {}",
                n.kind().map_or("summary", |k| k.as_str()),
                self.name,
                person
            ),
            why => format!("{result}: via {} to {}: {why}", self.name, person),
        };
        let lines = n.events().into_iter().map(|event| {
            let key = event.key();
            let text = if result == SHADOWED {
                self.mauve_line(n, &event, &person)
            } else {
                text.clone()
            };
            let entry = HistoryEntry::notification(
                self.clock.now(),
                n.person.clone(),
                &self.name,
                result,
                text,
            );
            (key, entry)
        });
        self.history.lock().extend(lines);
    }

    /// A message not sent in shadow mode, worded as mauve logs a sent one
    /// ("Raised sms notification to alice (+44…) succeeded"), so the two
    /// servers' lines can be held side by side. mauve's reminder repeats
    /// the raise, so a reminder reads "Raised … (a reminder)".
    fn mauve_line(&self, n: &Notification, event: &Event, person: &str) -> String {
        let kind = EventKind::try_from(event.kind).map_or("Event", |k| match k {
            EventKind::Raised | EventKind::Reminder => "Raised",
            EventKind::Cleared => "Cleared",
            EventKind::Acknowledged => "Acknowledged",
            EventKind::ReRaised => "Re-raised",
        });
        let to = n
            .recipient
            .as_deref()
            .map(|to| format!(" ({to})"))
            .unwrap_or_default();
        let reminder = if event.kind == EventKind::Reminder as i32 {
            " (a reminder)"
        } else {
            ""
        };
        format!(
            "{kind} {} notification to {person}{to} would have been sent{reminder}",
            self.name
        )
    }

    /// Writes the history lines collected so far (one value per bucket).
    async fn write_history(&self) {
        let lines = std::mem::take(&mut *self.history.lock());
        if lines.is_empty() {
            return;
        }
        let store = self.store.clone();
        let written = tokio::task::spawn_blocking(move || store.add_history(&lines)).await;
        if !matches!(written, Ok(Ok(()))) {
            self.metrics.store_errors.inc();
            tracing::error!("cannot write the alerts' history");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(40), Duration::from_secs(300));
        for attempt in 1..12 {
            let d = jittered(attempt);
            assert!(
                d <= backoff(attempt) && d >= backoff(attempt).mul_f64(0.8),
                "{d:?}"
            );
        }
    }
}
