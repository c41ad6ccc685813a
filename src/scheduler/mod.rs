//! The scheduler: the one thread that changes alerts.
//!
//! It sleeps until the earliest entry of the due index or until ingest or the
//! HTTP API hands it work, whichever comes first (mini-redis' expiry task,
//! with a channel as the wake-up). Everything that changes an alert (updates,
//! timers, acknowledgements) passes through here in order, so the state
//! machine never races with itself and the store needs no locks.
//!
//! Work is done in rounds ([`round`]): one round takes every command already
//! waiting (up to a bound) plus every due timer, applies them in memory, has
//! each event addressed (`routing`), and writes the result as one atomic store
//! batch. A heartbeat that arrives ten times in one round is written once.
//! When somebody waits for an answer (an HTTP action, a JSON submission) the
//! round is flushed to disk before it is given: one flush for all of them.
//!
//! Time comes from the [`Clock`] it is given, so tests move it by hand.

mod handle;
mod round;

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Notify};

pub use self::handle::SchedulerHandle;
use self::round::Round;
use crate::alert::{self, AlertKey, Record, TickTime, UnixSecs, Update};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Most commands taken into one round.
const MAX_ROUND_COMMANDS: usize = 256;
/// Most due timers fired in one round (the rest go in the next one).
const MAX_ROUND_TIMERS: usize = 10_000;
/// Commands waiting for the scheduler, at most.
const QUEUE: usize = 64;

/// An operator action on one alert.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Acknowledge { by: String, until: UnixSecs },
    Unacknowledge,
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
}

type Reply = Result<Record, Error>;

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
        action: Action,
        reply: oneshot::Sender<Reply>,
    },
    /// Finish the current round, flush and return.
    Stop,
}

/// What the scheduler needs besides its commands.
pub struct Scheduler {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    /// Notifier names, and how to wake each one's delivery worker.
    pub notifiers: Vec<(String, Arc<Notify>)>,
    pub started_at: UnixSecs,
    pub initial_sleep_s: u64,
    pub max_acknowledgement_s: u64,
    /// Flush after every round that wrote (flush_interval_ms = 0).
    pub flush_every_round: bool,
}

impl Scheduler {
    /// Starts the scheduler on its own thread (store calls block). It stops
    /// when told to through the handle or when every handle is gone.
    pub fn spawn(
        self,
        runtime: tokio::runtime::Handle,
    ) -> std::io::Result<(SchedulerHandle, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("scheduler".into())
            .spawn(move || self.run(rx, runtime))?;
        Ok((SchedulerHandle::new(tx), thread))
    }

    fn run(self, mut rx: mpsc::Receiver<Command>, runtime: tokio::runtime::Handle) {
        let names: Vec<String> = self.notifiers.iter().map(|(n, _)| n.clone()).collect();
        loop {
            let next_due = self.store.next_due().unwrap_or_else(|err| {
                self.store_failed(&err);
                Some(self.clock.now() + 1)
            });
            // None: a timer is due; Some(None): every handle is gone.
            let first = runtime.block_on(async {
                match next_due {
                    Some(due) => tokio::select! {
                        command = rx.recv() => Some(command),
                        () = self.clock.sleep_until(due) => None,
                    },
                    None => Some(rx.recv().await),
                }
            });
            let mut round = Round::new(&self.store);
            let mut open = true;
            match first {
                Some(Some(command)) => {
                    self.handle(command, &mut round, &names);
                    for _ in 1..MAX_ROUND_COMMANDS {
                        match rx.try_recv() {
                            Ok(command) => self.handle(command, &mut round, &names),
                            Err(_) => break,
                        }
                    }
                }
                Some(None) => open = false,
                None => {}
            }
            open &= !round.stop;
            self.fire_due(&mut round, &names);
            self.commit(round);
            if !open {
                break;
            }
        }
        if let Err(err) = self.store.flush() {
            self.store_failed(&err);
        }
    }

    fn tick_time(&self) -> TickTime {
        TickTime {
            now: self.clock.now(),
            started_at: self.started_at,
            grace_until: self.started_at + self.initial_sleep_s,
        }
    }

    fn handle(&self, command: Command, round: &mut Round, names: &[String]) {
        match command {
            Command::Apply { updates, durable } => {
                for update in &updates {
                    if let Err(err) = self.apply_update(update, round, names) {
                        self.store_failed(&err);
                    }
                }
                round.durable.extend(durable);
            }
            Command::Act { key, action, reply } => {
                let result = self.act(&key, &action, round, names);
                round.replies.push((reply, result));
            }
            Command::Stop => round.stop = true,
        }
    }

    fn apply_update(
        &self,
        update: &Update,
        round: &mut Round,
        names: &[String],
    ) -> Result<(), StoreError> {
        let now = update.received_at;
        for change in &update.alerts {
            let key = AlertKey::new(update.source.clone(), change.id.clone());
            let transition = alert::apply(round.get(&key)?, &update.source, change, now);
            round.put(key, transition, now, names);
            self.metrics.alert_updates.inc();
        }
        if update.replace {
            let listed: HashSet<&str> = update.alerts.iter().map(|a| a.id.as_str()).collect();
            for key in round.keys_of(&update.source)? {
                if listed.contains(key.id.as_str()) {
                    continue;
                }
                if let Some(record) = round.get(&key)? {
                    if let Some(transition) = alert::clear_unlisted(record, now) {
                        round.put(key, transition, now, names);
                    }
                }
            }
        }
        Ok(())
    }

    fn act(&self, key: &AlertKey, action: &Action, round: &mut Round, names: &[String]) -> Reply {
        let now = self.clock.now();
        let record = round.get(key)?.ok_or(Error::NotFound)?;
        let transition = match action {
            Action::Acknowledge { by, until } => {
                alert::acknowledge(record, by, *until, self.max_acknowledgement_s, now)?
            }
            Action::Unacknowledge => alert::unacknowledge(record, now)?,
        };
        let record = transition.record.clone();
        round.put(key.clone(), transition, now, names);
        Ok(record)
    }

    fn fire_due(&self, round: &mut Round, names: &[String]) {
        let time = self.tick_time();
        let due = match self.store.due(time.now, MAX_ROUND_TIMERS) {
            Ok(due) => due,
            Err(err) => return self.store_failed(&err),
        };
        for (due_at, key) in due {
            let record = match round.get(&key) {
                Ok(record) => record,
                Err(err) => return self.store_failed(&err),
            };
            match record.map(|r| (alert::tick(r, &time), r.next_due())) {
                Some((Some(transition), _)) => {
                    self.metrics.timers_fired.inc();
                    round.put(key, transition, time.now, names);
                }
                Some((None, next_due)) if next_due == Some(due_at) => {}
                // An index entry that does not match its alert cannot come
                // from `commit`; drop it rather than wake for it forever.
                _ => round.stale_due.push((due_at, key)),
            }
        }
    }

    fn commit(&self, mut round: Round) {
        let (batch, moves) = round.take_batch();
        let waiting = !round.replies.is_empty() || !round.durable.is_empty();
        let mut result = if batch.is_empty() {
            Ok(0)
        } else {
            self.store.commit(&batch)
        };
        if let Ok(queued) = result {
            if !batch.is_empty() {
                self.metrics.batches.inc();
            }
            for (from, to) in moves {
                self.metrics.alert_moved(from, to);
            }
            if queued > 0 {
                for (_, wake) in &self.notifiers {
                    wake.notify_one();
                }
            }
            let wrote = !batch.writes.is_empty();
            if waiting || (self.flush_every_round && wrote) {
                result = self.store.flush().map(|()| queued);
            }
        }
        match result {
            Ok(_) => {
                for (reply, answer) in round.replies {
                    let _ = reply.send(answer);
                }
                for done in round.durable {
                    let _ = done.send(Ok(()));
                }
            }
            Err(err) => {
                self.store_failed(&err);
                for (reply, _) in round.replies {
                    let _ = reply.send(Err(Error::Store(StoreError::WriteFailed)));
                }
                for done in round.durable {
                    let _ = done.send(Err(Error::Store(StoreError::WriteFailed)));
                }
            }
        }
    }

    fn store_failed(&self, err: &StoreError) {
        self.metrics.store_errors.inc();
        tracing::error!(%err, "store operation failed");
    }
}

#[cfg(test)]
mod tests;
