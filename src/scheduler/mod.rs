//! The scheduler: the one thread that changes alerts.
//!
//! Owns every change to an alert and when it is written; must not wait on
//! the disk (its writer does) nor on a notifier.
//!
//! It sleeps until the earliest due timer of the in-memory index, until
//! ingest or the HTTP API hands it work, or until the writer is free and
//! something is waiting to be written (mini-redis' expiry task, with a
//! channel as the wake-up). Everything that changes an alert (updates,
//! timers, acknowledgements) passes through here in order, so the state
//! machine never races with itself.
//!
//! Changes are applied to the [`Index`] in memory (the truth that the API
//! reads), events are addressed (`routing`) into messages, and the alert is
//! marked dirty ([`dirty`]). The [`writer`] thread then writes behind to sled:
//! urgent changes and messages within `flush_interval_ms`, timer-only
//! refreshes after `timer_flush_s`, paced at `max_writes_per_s` so that sled's
//! memory, which grows with its write rate, stays bounded. Somebody waiting
//! for durability (an HTTP action, a JSON submission) gets the answer after
//! the flush that carried the change: one flush for all of them.
//!
//! Time comes from the [`Clock`] it is given, so tests move it by hand.

mod chunks;
mod dirty;
mod handle;
mod wakes;
mod writer;

use parking_lot::RwLock;
use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use self::dirty::{Dirty, Shared, Tier};
pub(crate) use self::handle::SchedulerHandle;
pub(crate) use self::wakes::Wakes;
use self::writer::{Done, Job, Writer};
use crate::alert::{self, AlertKey, EventKind, Record, TickTime, Transition, UnixSecs, Update};
use crate::alert::{HistoryEntry, HistoryKind};
use crate::clock::Clock;
use crate::index::{self, Index, SlotId};
use crate::metrics::Metrics;
use crate::routing::pager::{Effects, Pager};
use crate::store::{Batch, Store, StoreError};
use crate::throttle::LogLimiter;
use crate::wire::AlertError;

/// Most commands taken before timers and writes are looked at again.
const MAX_ROUND_COMMANDS: usize = 64;
/// Most due timers fired at once (the rest follow at once after).
const MAX_ROUND_TIMERS: usize = 20_000;
/// Commands waiting for the scheduler, at most.
const QUEUE: usize = 16;
/// While this many messages or detail bytes wait for the writer, no new
/// command is taken: a flood is held in the kernel's socket buffer (and
/// dropped and counted there) rather than in our memory.
const MAX_PENDING_MESSAGES: usize = 200_000;
const MAX_PENDING_DETAIL_BYTES: usize = 64 << 20;
/// A write in flight this long (by the clock) holds the scheduler too:
/// the writer runs at idle priority and ingest goes first, so under a
/// flood that keeps every core busy, the flood pauses for the write at
/// least once a second.
const MAX_WRITE_LAG_MS: u64 = 1000;

/// An operator action on one alert (shared between stations as JSON).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Acknowledge {
        until: UnixSecs,
    },
    Unacknowledge,
    Raise,
    Clear,
    Suppress {
        until: UnixSecs,
    },
    Unsuppress,
    /// A silence mutes the alert until `until` (as a suppression does).
    Silence {
        until: UnixSecs,
        silence: String,
        comment: String,
    },
    /// A silence ended early: the alert is let go, or kept quiet until
    /// `still_until` when other silences still mute it.
    Unsilence {
        silence: String,
        still_until: Option<UnixSecs>,
    },
    Note {
        text: String,
    },
    /// Deletes the alert, its timers and queued reminders.
    Forget,
}

impl Action {
    /// What the alert's history says of it.
    fn history(&self, by: &str, zone: &jiff::tz::TimeZone) -> (HistoryKind, String) {
        let at = |t: UnixSecs| crate::timefmt::in_zone(t, zone);
        match self {
            Action::Acknowledge { until } => (
                HistoryKind::Update,
                format!("ACKNOWLEDGED until {} by {by}", at(*until)),
            ),
            Action::Unacknowledge => (HistoryKind::Update, format!("UNACKNOWLEDGED by {by}")),
            Action::Raise => (HistoryKind::Update, format!("RAISED by {by}")),
            Action::Clear => (HistoryKind::Update, format!("CLEARED by {by}")),
            Action::Suppress { until } => (
                HistoryKind::Update,
                format!("SUPPRESSED until {} by {by}", at(*until)),
            ),
            Action::Unsuppress => (HistoryKind::Update, format!("UNSUPPRESSED by {by}")),
            Action::Silence {
                until,
                silence,
                comment,
            } => (
                HistoryKind::Update,
                format!(
                    "SILENCED by {by}: {comment} (silence {}, until {})",
                    short(silence),
                    at(*until)
                ),
            ),
            Action::Unsilence { silence, .. } => (
                HistoryKind::Update,
                format!("SILENCE {} ENDED by {by}", short(silence)),
            ),
            Action::Note { text } => (HistoryKind::Note, text.clone()),
            Action::Forget => (HistoryKind::Update, format!("FORGOTTEN by {by}")),
        }
    }
}

/// A silence's id as history lines show it.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// What the history says of an event.
fn event_text(kind: EventKind, record: &Record) -> String {
    let (with, more) = match kind {
        EventKind::Acknowledged => (" by ", record.acknowledged_by.as_deref().unwrap_or("")),
        _ => (": ", record.summary.as_str()),
    };
    let name = kind.as_str();
    let mut text = String::with_capacity(name.len() + with.len() + more.len());
    text.push_str(name);
    text.make_ascii_uppercase();
    if !more.is_empty() {
        text.push_str(with);
        text.push_str(more);
    }
    text
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such alert")]
    NotFound,
    #[error("{0}")]
    Refused(#[from] alert::ActionError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the daemon is shutting down")]
    Stopped,
    /// With `[cluster]`: etcd did not take the action, so neither station
    /// applied it.
    #[error("the action could not be shared through etcd: {0}")]
    NotShared(String),
}

type Reply = Result<Record, Error>;

/// Somebody waiting for a change to be on disk.
pub(crate) enum Waiter {
    /// Updates applied (`apply_durably`, `flush`).
    Applied(oneshot::Sender<Result<(), Error>>),
    /// An action, with its outcome to give once it is written.
    Acted(oneshot::Sender<Reply>, Box<Record>),
}

impl Waiter {
    fn answer(self, written: Result<(), Error>) {
        match self {
            Waiter::Applied(tx) => {
                let _ = tx.send(written);
            }
            Waiter::Acted(tx, record) => {
                let _ = tx.send(written.map(|()| *record));
            }
        }
    }
}

/// Work for the scheduler; only [`SchedulerHandle`] makes these.
#[derive(Debug)]
enum Command {
    /// Apply updates; `durable` (if any) is answered once they are on disk.
    Apply {
        updates: Vec<Update>,
        durable: Option<oneshot::Sender<Result<(), Error>>>,
    },
    Act {
        key: AlertKey,
        by: String,
        action: Action,
        reply: oneshot::Sender<Reply>,
    },
    /// Write everything dirty, of both tiers, unpaced; answer once flushed.
    Flush(oneshot::Sender<Result<(), Error>>),
    /// Route by these rules from the next decision on (a configuration
    /// reloaded): paging state is kept, as across a restart.
    Reroute(Box<crate::routing::Router>, oneshot::Sender<()>),
    /// Write everything, flush and return.
    Stop,
}

/// What the job the writer has holds, until it is done: how many buckets
/// (shown in the write backlog), and its details: changed ones (the
/// index's, by slot; the index lets go of them once they are on disk) and
/// removals of forgotten alerts' (by bucket and key).
#[derive(Default)]
struct Writing {
    /// When it was handed to the writer (the clock's milliseconds).
    since_ms: u64,
    buckets: usize,
    details: Vec<(SlotId, Arc<str>)>,
    removals: Vec<(u32, AlertKey)>,
}

/// How the write-behind is paced (from `[store]`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Durability {
    pub(crate) flush_interval_ms: u64,
    pub(crate) timer_flush_s: u64,
    pub(crate) max_writes_per_s: u64,
}

/// What the scheduler needs besides its commands.
pub(crate) struct Scheduler {
    pub(crate) store: Arc<Store>,
    pub(crate) index: Arc<RwLock<Index>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Clock,
    /// Notifier names, and how to wake each one's delivery worker.
    pub(crate) wakes: Arc<crate::scheduler::Wakes>,
    /// Who is told of what, and when.
    pub(crate) pager: Pager,
    pub(crate) started_at: UnixSecs,
    pub(crate) initial_sleep_s: u64,
    pub(crate) max_acknowledgement_s: u64,
    /// Cleared alerts not updated this long are forgotten (0: never).
    pub(crate) forget_cleared_after_s: u64,
    pub(crate) durability: Durability,
    /// What the page's live listeners are told (see [`Change`]).
    pub(crate) changes: tokio::sync::broadcast::Sender<Change>,
    /// Active silences mute new and changed alerts that match them.
    pub(crate) silences: Arc<RwLock<crate::alertmanager::silences::Silences>>,
}

/// A change an open page shows: an alert's state or suppression moved, or
/// it was forgotten. Timers moving (a heartbeat's next deadline) are not.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Change {
    /// The alert's state now, or `forgotten`.
    pub(crate) state: &'static str,
    /// Raised (or raised again) by this change: worth a browser
    /// notification.
    pub(crate) raised: bool,
    pub(crate) source: String,
    pub(crate) id: String,
    pub(crate) subject: String,
    pub(crate) summary: String,
}

/// The scheduler's own state on its thread.
struct Run {
    s: Scheduler,
    dirty: Dirty,
    /// What changes said, shared with the writer.
    said: Shared,
    jobs: std::sync::mpsc::SyncSender<Job>,
    writer_busy: bool,
    writing: Writing,
    /// A flush of everything was asked for.
    flush_all: bool,
    /// The command being handled waits for durability: what it changes is
    /// written at once, whatever the pace.
    waited_on: bool,
    /// An operator action is being committed (it writes its own history line).
    acting: bool,
    /// What the pager says of an event, reused from one to the next (an
    /// event says little, and the scheduler commits many).
    effects: Effects,
    /// When stale cleared alerts are next looked for (clock seconds).
    next_sweep: UnixSecs,
    /// When the last job carrying urgent changes was handed over (clock ms).
    last_urgent_ms: u64,
    /// When the pacing budget was last topped up, and what is left of it.
    budget_at_ms: u64,
    budget: f64,
    limiter: LogLimiter,
}

impl Scheduler {
    /// Starts the scheduler and its writer on their own threads. It stops
    /// when told to through the handle or when every handle is gone.
    pub(crate) fn spawn(
        self,
        runtime: tokio::runtime::Handle,
    ) -> std::io::Result<(SchedulerHandle, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let said = Shared::default();
        let writer = Writer {
            said: said.clone(),
            store: self.store.clone(),
            index: self.index.clone(),
            metrics: self.metrics.clone(),
            wakes: self.wakes.clone(),
        };
        let (jobs, writer_thread) = writer.spawn(done_tx)?;
        let now_ms = self.clock.now_ms();
        let run = Run {
            s: self,
            dirty: Dirty::default(),
            said,
            jobs,
            writer_busy: false,
            writing: Writing::default(),
            flush_all: false,
            waited_on: false,
            acting: false,
            effects: Effects::default(),
            next_sweep: 0,
            last_urgent_ms: now_ms,
            budget_at_ms: now_ms,
            budget: 0.0,
            limiter: LogLimiter::new(),
        };
        let thread = std::thread::Builder::new()
            .name("scheduler".into())
            .spawn(move || {
                run.run(rx, done_rx, runtime);
                let _ = writer_thread.join();
            })?;
        Ok((SchedulerHandle::new(tx), thread))
    }
}

/// An alert's key, built when it is needed: the first time from the update
/// that names the alert (its id taken, not copied), then from the index.
struct KeyOf<'u> {
    named: Option<(&'u str, &'u mut String)>,
    slot: SlotId,
}

impl KeyOf<'_> {
    fn get(&mut self, index: &Index) -> AlertKey {
        match self.named.take() {
            Some((source, id)) => AlertKey::new(source.to_owned(), std::mem::take(id)),
            None => index.key(self.slot),
        }
    }
}

/// Why the scheduler woke up.
enum Wake {
    Command(Option<Command>),
    Written(Option<Done>),
    Time,
}

impl Run {
    fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut done: mpsc::UnboundedReceiver<Done>,
        runtime: tokio::runtime::Handle,
    ) {
        let mut open = true;
        while open {
            let deadline = self.next_wake_ms();
            let accept = !self.backpressured();
            self.s.metrics.ingest_paused.set(i64::from(!accept));
            let wake = runtime.block_on(async {
                tokio::select! {
                    command = rx.recv(), if accept => Wake::Command(command),
                    written = done.recv() => Wake::Written(written),
                    () = sleep_until(&self.s.clock, deadline) => Wake::Time,
                }
            });
            match wake {
                Wake::Command(Some(command)) => {
                    open = self.handle(command);
                    for _ in 1..MAX_ROUND_COMMANDS {
                        if !open || self.backpressured() {
                            break;
                        }
                        match rx.try_recv() {
                            Ok(command) => open = self.handle(command),
                            Err(_) => break,
                        }
                    }
                }
                Wake::Command(None) => open = false,
                Wake::Written(Some(done)) => self.written(done),
                Wake::Written(None) => open = false,
                Wake::Time => {}
            }
            self.fire_due();
            self.dispatch(false);
        }
        // Stopping: everything still dirty is written, unpaced.
        while self.writer_busy || self.has_urgent() || self.dirty.backlog() > 0 {
            if !self.writer_busy {
                self.dispatch(true);
                if !self.writer_busy {
                    break;
                }
            }
            match runtime.block_on(done.recv()) {
                Some(done) => self.written(done),
                None => break,
            }
        }
        if let Err(err) = self.s.store.flush() {
            self.store_failed(&err);
        }
    }

    /// True while no command is taken: too much waits to be written, or
    /// the write in flight is late.
    fn backpressured(&self) -> bool {
        self.write_late(self.s.clock.now_ms())
            || self.said.lock().messages.len() >= MAX_PENDING_MESSAGES
            || self.index().unwritten_bytes() >= MAX_PENDING_DETAIL_BYTES
    }

    fn write_late(&self, now_ms: u64) -> bool {
        self.writer_busy && now_ms >= self.writing.since_ms + MAX_WRITE_LAG_MS
    }

    /// True when something waits for the flush interval.
    fn has_urgent(&self) -> bool {
        self.dirty.has_urgent() || !self.said.lock().is_empty()
    }

    /// The next moment something is due: a timer, or a write.
    fn next_wake_ms(&self) -> Option<u64> {
        let timer = self
            .index()
            .next_due()
            .into_iter()
            .chain(self.s.pager.next_due())
            .chain((self.s.forget_cleared_after_s > 0).then_some(self.next_sweep))
            .min()
            .map(|due| due.saturating_mul(1000));
        let write = if self.writer_busy {
            // When it is late (then only its end wakes the scheduler).
            let late_ms = self.writing.since_ms + MAX_WRITE_LAG_MS;
            (self.s.clock.now_ms() < late_ms).then_some(late_ms)
        } else {
            let d = self.s.durability;
            let urgent = self
                .has_urgent()
                .then_some(self.last_urgent_ms + d.flush_interval_ms);
            let timers = self.dirty.timers_due_ms(d.timer_flush_s * 1000);
            urgent.into_iter().chain(timers).min()
        };
        timer.into_iter().chain(write).min()
    }

    fn index(&self) -> parking_lot::RwLockReadGuard<'_, Index> {
        self.s.index.read()
    }

    fn tick_time(&self) -> TickTime {
        TickTime {
            now: self.s.clock.now(),
            started_at: self.s.started_at,
            grace_until: self.s.started_at + self.s.initial_sleep_s,
        }
    }

    /// Returns false on Stop.
    fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Apply {
                mut updates,
                durable,
            } => {
                self.waited_on = durable.is_some();
                // One hold of the index for the whole command: readers
                // wait a batch at most, and are woken once per batch.
                let shared = self.s.index.clone();
                let mut index = shared.write();
                for update in &mut updates {
                    self.apply_update(&mut index, update);
                }
                drop(index);
                self.waited_on = false;
                self.dirty.waiting.extend(durable.map(Waiter::Applied));
            }
            Command::Act {
                key,
                by,
                action,
                reply,
            } => {
                self.waited_on = true;
                let acted = self.act(&key, &by, &action);
                self.waited_on = false;
                match acted {
                    // Answered once the change is on disk.
                    Ok(record) => self
                        .dirty
                        .waiting
                        .push(Waiter::Acted(reply, Box::new(record))),
                    Err(err) => {
                        let _ = reply.send(Err(err));
                    }
                }
            }
            Command::Flush(done) => {
                self.dirty.waiting.push(Waiter::Applied(done));
                self.flush_all = true;
            }
            Command::Reroute(router, done) => {
                self.s.pager.router = *router;
                let _ = done.send(());
            }
            Command::Stop => return false,
        }
        true
    }

    /// The active silence that mutes this alert longest, if any.
    fn silencing(
        &self,
        source: &str,
        change: &alert::AlertChange,
        record: &Record,
        now: UnixSecs,
    ) -> Option<crate::alertmanager::silences::Silence> {
        let silences = self.s.silences.read();
        // Expired silences stay listed: only an active one costs the labels.
        if !silences.any_active(now) {
            return None;
        }
        let key = AlertKey::new(source.to_owned(), change.id.clone());
        let labels = self.s.pager.router.labels(&key, record);
        silences
            .muting(&labels, now)
            .max_by_key(|s| s.ends_at)
            .cloned()
    }

    /// Applies an update's alerts; their texts move into the records (the
    /// update is left without them) unless a silence could need them.
    fn apply_update(&mut self, index: &mut Index, update: &mut Update) {
        let now = update.received_at;
        let any_silence = self.s.silences.read().any_active(now);
        for change in &mut update.alerts {
            let found = index.find(&update.source, &change.id);
            let old = found.map(|slot| index.record(slot));
            let old_hash = found.map_or(0, |slot| index.detail_hash_of(slot));
            // A detail resent unchanged is no change (hashed once).
            let hash = change
                .detail
                .as_deref()
                .map_or(old_hash, index::detail_hash);
            let mut transition = if any_silence {
                alert::apply(old.as_ref(), &update.source, change, now)
            } else {
                alert::apply_taking(old.as_ref(), &update.source, change, now)
            };
            // A new or changed alert that an active silence mutes is applied
            // as if it had asked to be suppressed until the silence ends.
            let mut silenced = None;
            let silence = any_silence
                .then(|| self.silencing(&update.source, change, &transition.record, now))
                .flatten();
            if let Some(silence) = silence {
                let until = silence.ends_at;
                let quiet = |t: Option<UnixSecs>| t.is_none_or(|t| t < until);
                if quiet(change.suppress_until)
                    && old.as_ref().is_none_or(|o| quiet(o.suppress_until))
                {
                    let muted = alert::AlertChange {
                        suppress_until: Some(until),
                        ..change.clone()
                    };
                    transition = alert::apply(old.as_ref(), &update.source, &muted, now);
                    silenced = Some(silence);
                }
            }
            let slot = match found {
                Some(slot) => slot,
                None => match index.insert_parts(&update.source, &change.id, &transition.record, 0)
                {
                    Ok(slot) => slot,
                    Err(full) => {
                        self.s.metrics.alert_rejected(AlertError::OverCapacity);
                        if self.limiter.allow(now) {
                            let key = AlertKey::new(update.source.clone(), change.id.clone());
                            tracing::warn!(%key, "alert refused: {full}");
                        }
                        continue;
                    }
                },
            };
            self.s.metrics.alert_updates.inc();
            // A forgotten alert sent again without a detail, before the
            // removal of its old one is on disk: its "" is a change too.
            let detail_changed = hash != old_hash
                || (found.is_none() && self.dirty.removing(&update.source, &change.id));
            // (A replacing update's ids are read again after the loop.)
            let key = KeyOf {
                named: (!update.replace).then_some((&update.source, &mut change.id)),
                slot,
            };
            self.commit(index, key, old, transition, hash, detail_changed, now);
            if let Some(silence) = silenced {
                let action = Action::Silence {
                    until: silence.ends_at,
                    silence: silence.id.clone(),
                    comment: silence.comment.clone(),
                };
                let (kind, text) =
                    action.history(&silence.created_by, &self.s.pager.router.calendar.zone);
                let bucket = index.bucket_of(slot);
                let mut said = self.said.lock();
                said.changed.push(bucket);
                said.history(
                    bucket,
                    index.key(slot),
                    HistoryEntry::new(now, kind, text).authored(&silence.created_by),
                );
            }
        }
        if update.replace {
            let listed: HashSet<&str> = update.alerts.iter().map(|a| a.id.as_str()).collect();
            let unlisted: Vec<SlotId> = index
                .of_source(&update.source)
                .into_iter()
                .filter(|&slot| !listed.contains(index.key(slot).id.as_str()))
                .collect();
            for slot in unlisted {
                let old = index.record(slot);
                if let Some(transition) = alert::clear_unlisted(&old, now) {
                    self.commit_known(index, slot, old, transition, now);
                }
            }
        }
    }

    /// Puts a transition into the index, addresses its event and marks the
    /// alert dirty in the right tier.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        index: &mut Index,
        mut key: KeyOf,
        old: Option<Record>,
        transition: Transition,
        detail_hash: u32,
        detail_changed: bool,
        at: UnixSecs,
    ) {
        let slot = key.slot;
        let Transition { mut record, event } = transition;
        index.update(slot, &record, detail_hash);
        let shown = |r: &Record| (r.state(), r.is_suppressed(at));
        if event.is_some() || old.as_ref().map(shown) != Some(shown(&record)) {
            let raised = matches!(event, Some(EventKind::Raised | EventKind::ReRaised));
            self.tell_pages(|| key.get(index), record.state().as_str(), &record, raised);
        }
        // A changed detail is the record's (the change's, applied).
        if detail_changed {
            index.stage_detail(slot, record.detail.as_str().into());
            self.dirty.detail_changed(slot);
        }
        let tier = if event.is_some() || self.waited_on {
            Tier::Told
        } else if detail_changed || old.as_ref().is_none_or(|old| !timers_only(old, &record)) {
            Tier::Urgent
        } else {
            Tier::Timers
        };
        let bucket = index.bucket_of(slot);
        // Only a timer-only change needs the time it was marked.
        let now_ms = if tier == Tier::Timers {
            self.s.clock.now_ms()
        } else {
            0
        };
        self.dirty.mark(bucket, tier, now_ms);
        if event.is_none()
            && record.is_raised()
            && !old.as_ref().is_some_and(Record::is_raised)
            && record.is_suppressed(at)
        {
            let mut said = self.said.lock();
            said.changed.push(bucket);
            said.history(
                bucket,
                key.get(index),
                HistoryEntry::new(
                    at,
                    HistoryKind::Note,
                    format!(
                        "raised while suppressed until {}: nobody is told before then",
                        record.suppress_until.unwrap_or(at)
                    ),
                ),
            );
        }
        if let Some(kind) = event {
            let key = key.get(index);
            // The index's records carry no detail: a record that has one
            // got it from this change (the newest); otherwise it is looked
            // up (unwritten in the index, or on disk).
            if record.detail.is_empty() {
                record.detail = self.detail_of(index, slot);
            }
            // An action writes its own line, with its author; the pager's
            // lines follow it.
            let line = (!self.acting)
                .then(|| HistoryEntry::new(at, HistoryKind::Update, event_text(kind, &record)));
            let mut said = self.said.lock();
            said.changed.push(bucket);
            if let Some(line) = line {
                said.history(bucket, key.clone(), line);
            }
            drop(said);
            let mut effects = std::mem::take(&mut self.effects);
            self.s
                .pager
                .on_event_owned(key, kind, record, at, &mut effects);
            self.take_effects(index, &mut effects);
            self.effects = effects;
        }
    }

    /// Tells the open pages of a change (nothing is built when none is
    /// open).
    fn tell_pages(
        &self,
        key: impl FnOnce() -> AlertKey,
        state: &'static str,
        record: &Record,
        raised: bool,
    ) {
        if self.s.changes.receiver_count() == 0 {
            return;
        }
        let key = key();
        let _ = self.s.changes.send(Change {
            state,
            raised,
            source: key.source,
            id: key.id,
            subject: record.subject.clone(),
            summary: record.summary.clone(),
        });
    }

    /// [`Run::commit`] for an alert the index holds, its detail unchanged.
    fn commit_known(
        &mut self,
        index: &mut Index,
        slot: SlotId,
        old: Record,
        transition: Transition,
        at: UnixSecs,
    ) {
        let hash = index.detail_hash_of(slot);
        let key = KeyOf { named: None, slot };
        self.commit(index, key, Some(old), transition, hash, false, at);
    }

    fn act(&mut self, key: &AlertKey, by: &str, action: &Action) -> Reply {
        let now = self.s.clock.now();
        let shared = self.s.index.clone();
        let mut index = shared.write();
        let slot = index.find(&key.source, &key.id).ok_or(Error::NotFound)?;
        let old = index.record(slot);
        let transition = match action {
            Action::Acknowledge { until } => Some(alert::acknowledge(
                &old,
                by,
                *until,
                self.s.max_acknowledgement_s,
                now,
            )?),
            Action::Unacknowledge => Some(alert::unacknowledge(&old, now)?),
            Action::Raise => Some(alert::raise_now(&old, &key.source, &key.id, now)),
            Action::Clear => Some(alert::clear_now(&old, &key.source, &key.id, now)),
            Action::Suppress { until } => Some(alert::suppress(&old, *until, now)?),
            Action::Unsuppress => Some(alert::unsuppress(&old, now)?),
            Action::Silence { until, .. } => Some(alert::suppress(
                &old,
                (*until).max(old.suppress_until.unwrap_or(0)),
                now,
            )?),
            Action::Unsilence {
                still_until: Some(until),
                ..
            } => Some(alert::suppress(&old, *until, now)?),
            Action::Unsilence {
                still_until: None, ..
            } => Some(alert::unsuppress(&old, now)?),
            Action::Note { .. } | Action::Forget => None,
        };
        let (kind, text) = action.history(by, &self.s.pager.router.calendar.zone);
        let bucket = index.bucket_of(slot);
        let mut said = self.said.lock();
        said.changed.push(bucket);
        said.history(
            bucket,
            key.clone(),
            HistoryEntry::new(now, kind, text).authored(by),
        );
        drop(said);
        if *action == Action::Forget {
            self.forget(&mut index, slot, &old);
            return Ok(old);
        }
        let Some(transition) = transition else {
            // A note changes nothing but the history: written with the next flush.
            self.dirty
                .mark(index.bucket_of(slot), Tier::Told, self.s.clock.now_ms());
            return Ok(old);
        };
        let record = transition.record.clone();
        self.acting = true;
        self.commit_known(&mut index, slot, old, transition, now);
        self.acting = false;
        Ok(record)
    }

    /// Removes an alert from memory, the store (its bucket is rewritten
    /// without it) and the pager.
    fn forget(&mut self, index: &mut Index, slot: SlotId, old: &Record) {
        let (key, bucket) = index.remove(slot);
        self.tell_pages(|| key.clone(), "forgotten", old, false);
        self.dirty.forget(bucket, key.clone());
        self.dirty.mark(bucket, Tier::Told, self.s.clock.now_ms());
        self.s.pager.forget(&key);
        let changes = self.s.pager.take_changes();
        let mut said = self.said.lock();
        said.paging.extend(changes);
        said.changed.push(bucket);
    }

    /// Forgets cleared alerts not updated for `forget_cleared_after_s`
    /// (hourly, at most 10,000 a time).
    fn sweep(&mut self, now: UnixSecs) {
        if now < self.next_sweep || self.s.forget_cleared_after_s == 0 {
            return;
        }
        self.next_sweep = now + 3600;
        let shared = self.s.index.clone();
        let mut index = shared.write();
        let stale = index.stale_cleared(now.saturating_sub(self.s.forget_cleared_after_s), 10_000);
        for slot in stale {
            let old = index.record(slot);
            let key = index.key(slot);
            self.said.lock().history(
                index.bucket_of(slot),
                key,
                HistoryEntry::new(
                    now,
                    HistoryKind::Update,
                    format!(
                        "FORGOTTEN: cleared and not updated for {}",
                        crate::timefmt::span(self.s.forget_cleared_after_s)
                    ),
                )
                .authored("mauved"),
            );
            self.forget(&mut index, slot, &old);
        }
    }

    fn fire_due(&mut self) {
        let time = self.tick_time();
        self.sweep(time.now);
        self.fire_alerts(&time);
        if self.s.pager.next_due().is_some_and(|due| due <= time.now) {
            let mut effects = Effects::default();
            let shared = self.s.index.clone();
            let index = shared.read();
            let mut pager = std::mem::take(&mut self.s.pager);
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
            self.s.pager = pager;
            self.take_effects(&index, &mut effects);
        }
    }

    /// An alert's detail: changed and not yet written, or from the store.
    fn detail_of(&self, index: &Index, slot: SlotId) -> String {
        match index.unwritten_detail(slot) {
            Some(detail) => String::from(&**detail),
            None if index.detail_hash_of(slot) == 0 => String::new(),
            None => self
                .s
                .store
                .detail(index.bucket_of(slot), &index.key(slot))
                .unwrap_or_else(|err| {
                    self.store_failed(&err);
                    String::new()
                }),
        }
    }

    /// Messages, history and paging state from the pager, to be written
    /// with the next urgent batch. Called with the index locked, so the
    /// writer never sees a change without what it said. `effects` is left
    /// empty (its room kept).
    fn take_effects(&mut self, index: &Index, effects: &mut Effects) {
        let c = std::mem::take(&mut self.s.pager.counts);
        self.s.metrics.paging(c);
        let changes = self.s.pager.take_changes();
        let mut said = self.said.lock();
        said.messages.extend(effects.messages.drain(..));
        said.history
            .extend(effects.history.drain(..).map(|(key, entry)| {
                let bucket = index
                    .find(&key.source, &key.id)
                    .map_or(u32::MAX, |s| index.bucket_of(s));
                (bucket, key, entry)
            }));
        said.paging.extend(changes);
    }

    fn fire_alerts(&mut self, time: &TickTime) {
        loop {
            let due = self.index().due(time.now, MAX_ROUND_TIMERS);
            if due.is_empty() {
                return;
            }
            let shared = self.s.index.clone();
            let mut index = shared.write();
            for &(_, slot) in &due {
                let old = index.record(slot);
                if let Some(transition) = alert::tick(&old, time) {
                    self.s.metrics.timers_fired.inc();
                    self.commit_known(&mut index, slot, old, transition, time.now);
                }
            }
            if due.len() < MAX_ROUND_TIMERS {
                return;
            }
        }
    }

    /// Hands the writer a job if it is free and something is due: urgent
    /// changes after the flush interval (at once if somebody waits), and
    /// timer-only changes that have waited their window, within the pace.
    /// `all` (stopping) writes everything at once.
    fn dispatch(&mut self, all: bool) {
        if self.writer_busy {
            return;
        }
        let all = all || std::mem::take(&mut self.flush_all);
        let d = self.s.durability;
        let now_ms = self.s.clock.now_ms();
        let urgent_due = self.has_urgent()
            && (all
                || !self.dirty.waiting.is_empty()
                || now_ms >= self.last_urgent_ms + d.flush_interval_ms);
        // The pace: a budget of writes that refills with time, up to one
        // second's worth (few large batches cost sled less than many small).
        let elapsed = now_ms.saturating_sub(self.budget_at_ms) as f64 / 1000.0;
        let most = d.max_writes_per_s as f64;
        self.budget = (self.budget + elapsed * most).min(most);
        self.budget_at_ms = now_ms;
        let mut buckets: Vec<(u32, Tier)> = Vec::new();
        let room = |taken: usize, budget: f64| {
            if all {
                usize::MAX
            } else {
                (budget.max(0.0) as usize).saturating_sub(taken)
            }
        };
        if urgent_due {
            // Changes that told somebody go with their messages, unpaced.
            buckets.extend(self.dirty.take_told().into_iter().map(|b| (b, Tier::Told)));
            let urgent = self.dirty.take_urgent(room(buckets.len(), self.budget));
            buckets.extend(urgent.into_iter().map(|b| (b, Tier::Urgent)));
        }
        let room = room(buckets.len(), self.budget);
        let older_than = if all {
            u64::MAX
        } else {
            now_ms.saturating_sub(d.timer_flush_s * 1000)
        };
        buckets.extend(
            self.dirty
                .take_timers(older_than, room)
                .into_iter()
                .map(|b| (b, Tier::Timers)),
        );
        if buckets.is_empty() && !urgent_due {
            return;
        }
        self.budget -= buckets.len() as f64;
        // The buckets' records, messages, history and paging state are
        // taken by the writer, off this thread; details and waiters go
        // with urgent changes only.
        let (batch, waiting, writing) = if urgent_due {
            let shared = self.s.index.clone();
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
                // Removals first: an alert forgotten and sent again since
                // the last write keeps its new detail.
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
                buckets: buckets.len(),
                details: changed,
                removals,
            };
            (batch, std::mem::take(&mut dirty.waiting), writing)
        } else {
            let writing = Writing {
                since_ms: now_ms,
                buckets: buckets.len(),
                ..Writing::default()
            };
            (Batch::default(), Vec::new(), writing)
        };
        if urgent_due {
            self.last_urgent_ms = now_ms;
        }
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

    /// The writer is free again. A failed job's alerts and messages are
    /// marked again so that they are written on a later try.
    fn written(&mut self, done: Done) {
        if self.write_late(self.s.clock.now_ms()) {
            self.s.metrics.writes_late.inc();
        }
        self.writer_busy = false;
        let Writing {
            details, removals, ..
        } = std::mem::take(&mut self.writing);
        if let Some((job, _)) = done.failed {
            let now_ms = self.s.clock.now_ms();
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
            let shared = self.s.index.clone();
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
    fn show_backlog(&self) {
        let backlog = self.dirty.backlog() + self.writing.buckets;
        self.s.metrics.write_backlog.set(backlog as i64);
    }

    fn store_failed(&self, err: &StoreError) {
        self.s.metrics.store_errors.inc();
        tracing::error!(%err, "store operation failed");
    }
}

async fn sleep_until(clock: &Clock, at_ms: Option<u64>) {
    match at_ms {
        Some(at) => clock.sleep_until_ms(at).await,
        None => std::future::pending().await,
    }
}

/// True when `new` differs from `old` only in what a heartbeat refresh
/// moves: its pending timers and when it was last updated.
fn timers_only(old: &Record, new: &Record) -> bool {
    let same_otherwise = Record {
        will_raise_at: old.will_raise_at,
        will_clear_at: old.will_clear_at,
        updated_at: old.updated_at,
        ..new.clone()
    };
    same_otherwise == *old
}

#[cfg(test)]
mod tests;
