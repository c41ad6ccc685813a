//! The scheduler: the one thread that changes alerts.
//!
//! It sleeps until the earliest entry of the due index or until ingest or the
//! HTTP API hands it work, whichever comes first (mini-redis' expiry task,
//! with a channel as the wake-up). Everything that changes an alert (updates,
//! timers, acknowledgements) passes through here in order, so the state
//! machine never races with itself and the store needs no locks.
//!
//! Work is done in rounds: one round takes every command already waiting (up
//! to a bound) plus every due timer, applies them in memory, and writes the
//! result as one atomic store batch. A heartbeat that arrives ten times in one
//! round is written once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};

use crate::alert::{self, AlertKey, Clock, EventKind, Record, Transition, UnixSecs, Update};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, Write};

/// Most commands taken into one round.
const MAX_ROUND_COMMANDS: usize = 256;
/// Most due timers fired in one round (the rest go in the next one).
const MAX_ROUND_TIMERS: usize = 10_000;

/// An operator action on one alert.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Acknowledge { by: String, until: UnixSecs },
    Unacknowledge,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionFailed {
    #[error("no such alert")]
    NotFound,
    #[error("{0}")]
    Refused(#[from] alert::ActionError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

pub type ActionReply = Result<Record, ActionFailed>;

/// Work for the scheduler.
#[derive(Debug)]
pub enum Command {
    /// Apply updates; `applied` (if any) is answered once they are written.
    Apply {
        updates: Vec<Update>,
        applied: Option<oneshot::Sender<()>>,
    },
    Act {
        key: AlertKey,
        action: Action,
        reply: oneshot::Sender<ActionReply>,
    },
    /// Finish the current round, flush and return.
    Stop,
}

pub struct Scheduler {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    /// Notifier names, and how to wake each one's delivery worker.
    pub notifiers: Vec<(String, Arc<Notify>)>,
    pub started_at: UnixSecs,
    pub initial_sleep_s: u64,
    pub max_acknowledgement_s: u64,
    /// Flush after every round (flush_interval_ms = 0).
    pub flush_every_round: bool,
}

impl Scheduler {
    /// Runs until [`Command::Stop`] arrives or every sender of `rx` is gone,
    /// then flushes. Meant for its own thread: store calls block.
    pub fn run(self, mut rx: mpsc::Receiver<Command>, runtime: tokio::runtime::Handle) {
        let names: Vec<String> = self.notifiers.iter().map(|(n, _)| n.clone()).collect();
        loop {
            let next_due = self.store.next_due().unwrap_or_else(|err| {
                self.store_failed(&err);
                Some(crate::unix_now() + 1)
            });
            let first = runtime.block_on(async {
                match next_due {
                    Some(due) => tokio::time::timeout(until(due), rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            });
            let mut round = Round::new(&self.store);
            let mut open = true;
            match first {
                Some(Some(command)) => {
                    self.handle(command, &mut round);
                    for _ in 1..MAX_ROUND_COMMANDS {
                        match rx.try_recv() {
                            Ok(command) => self.handle(command, &mut round),
                            Err(_) => break,
                        }
                    }
                }
                Some(None) => open = false,
                None => {}
            }
            open &= !round.stop;
            self.fire_due(&mut round);
            self.commit(round, &names);
            if !open {
                break;
            }
        }
        if let Err(err) = self.store.flush() {
            self.store_failed(&err);
        }
    }

    fn clock(&self) -> Clock {
        Clock {
            now: crate::unix_now(),
            started_at: self.started_at,
            grace_until: self.started_at + self.initial_sleep_s,
        }
    }

    fn handle(&self, command: Command, round: &mut Round) {
        match command {
            Command::Apply { updates, applied } => {
                for update in &updates {
                    if let Err(err) = self.apply_update(update, round) {
                        self.store_failed(&err);
                    }
                }
                round.applied.extend(applied);
            }
            Command::Act { key, action, reply } => {
                let result = self.act(&key, &action, round);
                round.replies.push((reply, result));
            }
            Command::Stop => round.stop = true,
        }
    }

    fn apply_update(&self, update: &Update, round: &mut Round) -> Result<(), StoreError> {
        let now = update.received_at;
        for change in &update.alerts {
            let key = AlertKey::new(update.source.clone(), change.id.clone());
            let transition = alert::apply(round.get(&key)?, &update.source, change, now);
            round.put(key, transition, now);
            self.metrics.alert_updates.fetch_add(1, Relaxed);
        }
        if update.replace {
            let listed: HashSet<&str> = update.alerts.iter().map(|a| a.id.as_str()).collect();
            for key in round.keys_of(&update.source)? {
                if listed.contains(key.id.as_str()) {
                    continue;
                }
                if let Some(record) = round.get(&key)? {
                    if let Some(transition) = alert::clear_unlisted(record, now) {
                        round.put(key, transition, now);
                    }
                }
            }
        }
        Ok(())
    }

    fn act(&self, key: &AlertKey, action: &Action, round: &mut Round) -> ActionReply {
        let now = crate::unix_now();
        let record = round.get(key)?.ok_or(ActionFailed::NotFound)?;
        let transition = match action {
            Action::Acknowledge { by, until } => {
                alert::acknowledge(record, by, *until, self.max_acknowledgement_s, now)?
            }
            Action::Unacknowledge => alert::unacknowledge(record, now)?,
        };
        let record = transition.record.clone();
        round.put(key.clone(), transition, now);
        Ok(record)
    }

    fn fire_due(&self, round: &mut Round) {
        let clock = self.clock();
        let due = match self.store.due(clock.now, MAX_ROUND_TIMERS) {
            Ok(due) => due,
            Err(err) => return self.store_failed(&err),
        };
        for (due_at, key) in due {
            let record = match round.get(&key) {
                Ok(record) => record,
                Err(err) => return self.store_failed(&err),
            };
            match record.map(|r| (alert::tick(r, &clock), r.next_due())) {
                Some((Some(transition), _)) => {
                    self.metrics.timers_fired.fetch_add(1, Relaxed);
                    round.put(key, transition, clock.now);
                }
                Some((None, next_due)) if next_due == Some(due_at) => {}
                // An index entry that does not match its alert cannot come
                // from `commit`; drop it rather than wake for it forever.
                _ => round.stale_due.push((due_at, key)),
            }
        }
    }

    fn commit(&self, round: Round, names: &[String]) {
        let Round {
            pending,
            replies,
            applied,
            stale_due,
            ..
        } = round;
        let mut moves = Vec::with_capacity(pending.len());
        let writes: Vec<Write> = pending
            .into_iter()
            .map(|(key, p)| {
                moves.push((p.stored.as_ref().map(Record::state), p.current.state()));
                Write {
                    key,
                    old_due: p.stored.as_ref().and_then(Record::next_due),
                    record: p.current,
                    notifications: p.notifications,
                }
            })
            .collect();
        let wrote = !writes.is_empty() || !stale_due.is_empty();
        let result = if wrote {
            self.store.commit(&writes, &stale_due, names)
        } else {
            Ok(0)
        };
        match result {
            Ok(queued) => {
                if wrote {
                    self.metrics.batches.fetch_add(1, Relaxed);
                }
                for (from, to) in moves {
                    self.metrics.alert_moved(from, to);
                }
                if queued > 0 {
                    self.metrics.queue_depth.fetch_add(queued as i64, Relaxed);
                    for (_, wake) in &self.notifiers {
                        wake.notify_one();
                    }
                }
                if self.flush_every_round && !writes.is_empty() {
                    if let Err(err) = self.store.flush() {
                        self.store_failed(&err);
                    }
                }
                for (reply, result) in replies {
                    let _ = reply.send(result);
                }
                for done in applied {
                    let _ = done.send(());
                }
            }
            Err(err) => {
                self.store_failed(&err);
                for (reply, _) in replies {
                    let _ = reply.send(Err(ActionFailed::Store(StoreError::WriteFailed)));
                }
            }
        }
    }

    fn store_failed(&self, err: &StoreError) {
        self.metrics.store_errors.fetch_add(1, Relaxed);
        tracing::error!(%err, "store operation failed");
    }
}

/// How long from now until Unix second `due` begins.
fn until(due: UnixSecs) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(due).saturating_sub(now)
}

/// One alert's state within a round: as stored, and as changed so far.
struct Pending {
    stored: Option<Record>,
    current: Record,
    notifications: Vec<(EventKind, UnixSecs, Record)>,
}

/// The in-memory write set of one round. Reads see the round's own changes.
struct Round<'a> {
    store: &'a Store,
    pending: HashMap<AlertKey, Pending>,
    /// Records read but not (yet) changed.
    read: HashMap<AlertKey, Option<Record>>,
    stale_due: Vec<(UnixSecs, AlertKey)>,
    replies: Vec<(oneshot::Sender<ActionReply>, ActionReply)>,
    applied: Vec<oneshot::Sender<()>>,
    stop: bool,
}

impl<'a> Round<'a> {
    fn new(store: &'a Store) -> Self {
        Round {
            store,
            pending: HashMap::new(),
            read: HashMap::new(),
            stale_due: Vec::new(),
            replies: Vec::new(),
            applied: Vec::new(),
            stop: false,
        }
    }

    fn get(&mut self, key: &AlertKey) -> Result<Option<&Record>, StoreError> {
        if !self.pending.contains_key(key) && !self.read.contains_key(key) {
            let stored = self.store.get(key)?;
            self.read.insert(key.clone(), stored);
        }
        Ok(match self.pending.get(key) {
            Some(p) => Some(&p.current),
            None => self.read.get(key).and_then(Option::as_ref),
        })
    }

    /// Records a transition of an alert that `get` has loaded.
    fn put(&mut self, key: AlertKey, transition: Transition, at: UnixSecs) {
        let Transition { record, event } = transition;
        let pending = match self.pending.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let stored = self.read.remove(e.key()).flatten();
                e.insert(Pending {
                    stored,
                    current: Record::default(),
                    notifications: Vec::new(),
                })
            }
        };
        if let Some(kind) = event {
            pending.notifications.push((kind, at, record.clone()));
        }
        pending.current = record;
    }

    /// Keys of every alert of `source`: stored ones and ones new in this round.
    fn keys_of(&self, source: &str) -> Result<Vec<AlertKey>, StoreError> {
        let mut keys: Vec<AlertKey> = self.store.alert_keys_of(source).collect::<Result<_, _>>()?;
        let known: HashSet<AlertKey> = keys.iter().cloned().collect();
        keys.extend(
            self.pending
                .keys()
                .filter(|k| k.source == source && !known.contains(*k))
                .cloned(),
        );
        Ok(keys)
    }
}
