//! One round's write set: every alert the round read or changed, and the
//! messages its changes caused. Reads see the round's own changes, so ten
//! packets for one heartbeat in a round are applied in order and written once.

use std::collections::{HashMap, HashSet};

use tokio::sync::oneshot;

use super::{Error, Reply};
use crate::alert::{AlertKey, Record, State, Transition, UnixSecs};
use crate::routing;
use crate::store::{Batch, Notification, Store, StoreError, Write};

/// One alert's state within a round: as stored, and as changed so far.
struct Pending {
    stored: Option<Record>,
    current: Record,
    messages: Vec<Notification>,
}

pub(super) struct Round<'a> {
    store: &'a Store,
    pending: HashMap<AlertKey, Pending>,
    /// Records read but not (yet) changed.
    read: HashMap<AlertKey, Option<Record>>,
    pub stale_due: Vec<(UnixSecs, AlertKey)>,
    /// Answers to send once the round is written and flushed.
    pub replies: Vec<(oneshot::Sender<Reply>, Reply)>,
    pub durable: Vec<oneshot::Sender<Result<(), Error>>>,
    pub stop: bool,
}

impl<'a> Round<'a> {
    pub fn new(store: &'a Store) -> Self {
        Round {
            store,
            pending: HashMap::new(),
            read: HashMap::new(),
            stale_due: Vec::new(),
            replies: Vec::new(),
            durable: Vec::new(),
            stop: false,
        }
    }

    pub fn get(&mut self, key: &AlertKey) -> Result<Option<&Record>, StoreError> {
        if !self.pending.contains_key(key) && !self.read.contains_key(key) {
            let stored = self.store.get(key)?;
            self.read.insert(key.clone(), stored);
        }
        Ok(match self.pending.get(key) {
            Some(p) => Some(&p.current),
            None => self.read.get(key).and_then(Option::as_ref),
        })
    }

    /// Records a transition of an alert that `get` has loaded, with the
    /// messages its event (if any) is addressed to.
    pub fn put(
        &mut self,
        key: AlertKey,
        transition: Transition,
        at: UnixSecs,
        notifiers: &[String],
    ) {
        let Transition { record, event } = transition;
        if let Some(kind) = event {
            let messages = routing::address(&key, kind, at, &record, notifiers);
            self.pending_mut(key.clone()).messages.extend(messages);
        }
        self.pending_mut(key).current = record;
    }

    fn pending_mut(&mut self, key: AlertKey) -> &mut Pending {
        self.pending.entry(key).or_insert_with_key(|key| {
            let stored = self.read.remove(key).flatten();
            Pending {
                current: stored.clone().unwrap_or_default(),
                stored,
                messages: Vec::new(),
            }
        })
    }

    /// Keys of every alert of `source`: stored ones and ones new in this round.
    pub fn keys_of(&self, source: &str) -> Result<Vec<AlertKey>, StoreError> {
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

    /// The store batch, and each changed alert's move between states.
    pub fn take_batch(&mut self) -> (Batch, Vec<(Option<State>, State)>) {
        let mut moves = Vec::with_capacity(self.pending.len());
        let writes = self
            .pending
            .drain()
            .map(|(key, p)| {
                moves.push((p.stored.as_ref().map(Record::state), p.current.state()));
                Write {
                    key,
                    old_due: p.stored.as_ref().and_then(Record::next_due),
                    record: p.current,
                    messages: p.messages,
                }
            })
            .collect();
        let batch = Batch {
            writes,
            stale_due: std::mem::take(&mut self.stale_due),
        };
        (batch, moves)
    }
}
