//! The scheduler: the one thread that changes alerts.
//!
//! Owns every change to an alert and when it is written; must not write
//! to the disk (its writer does) nor wait on a notifier. It reads the disk
//! in one place: the detail of an alert whose event is told and whose
//! detail is not in memory any more (`apply.rs` `detail_of`, one sled read,
//! most often from sled's cache).
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

mod action;
mod apply;
mod chunks;
mod dirty;
mod handle;
mod pacing;
mod timers;
mod wakes;
mod writer;

use parking_lot::RwLock;
use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use self::action::event_text;
pub use self::action::Action;
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
    /// Queue messages made elsewhere (with `[cluster]`: handed over by the
    /// other station); answered once they are on disk.
    #[cfg_attr(not(feature = "ha"), allow(dead_code))]
    Queue(
        Vec<crate::alert::Notification>,
        oneshot::Sender<Result<(), Error>>,
    ),
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
    /// What it was given: the index, store, pager, clock and settings.
    given: Scheduler,
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
        let said = Shared::new(self.index.clone());
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
            given: self,
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
            self.given.metrics.ingest_paused.set(i64::from(!accept));
            let wake = runtime.block_on(async {
                tokio::select! {
                    command = rx.recv(), if accept => Wake::Command(command),
                    written = done.recv() => Wake::Written(written),
                    () = sleep_until(&self.given.clock, deadline) => Wake::Time,
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
        if let Err(err) = self.given.store.flush() {
            self.store_failed(&err);
        }
    }

    /// The next moment something is due: a timer, or a write.
    fn next_wake_ms(&self) -> Option<u64> {
        let timer = self
            .index()
            .next_due()
            .into_iter()
            .chain(self.given.pager.next_due())
            .chain((self.given.forget_cleared_after_s > 0).then_some(self.next_sweep))
            .min()
            .map(|due| due.saturating_mul(1000));
        let write = if self.writer_busy {
            // When it is late (then only its end wakes the scheduler).
            let late_ms = self.writing.since_ms + MAX_WRITE_LAG_MS;
            (self.given.clock.now_ms() < late_ms).then_some(late_ms)
        } else {
            let d = self.given.durability;
            let urgent = self
                .has_urgent()
                .then_some(self.last_urgent_ms + d.flush_interval_ms);
            let timers = self.dirty.timers_due_ms(d.timer_flush_s * 1000);
            urgent.into_iter().chain(timers).min()
        };
        timer.into_iter().chain(write).min()
    }

    fn index(&self) -> parking_lot::RwLockReadGuard<'_, Index> {
        self.given.index.read()
    }

    fn tick_time(&self) -> TickTime {
        TickTime {
            now: self.given.clock.now(),
            started_at: self.given.started_at,
            grace_until: self.given.started_at + self.given.initial_sleep_s,
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
                let shared = self.given.index.clone();
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
            Command::Queue(messages, done) => {
                let shared = self.given.index.clone();
                let mut index = shared.write();
                self.said.say(&mut index).messages.extend(messages);
                drop(index);
                self.dirty.waiting.push(Waiter::Applied(done));
            }
            Command::Reroute(router, done) => {
                self.given.pager.router = *router;
                let _ = done.send(());
            }
            Command::Stop => return false,
        }
        true
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
