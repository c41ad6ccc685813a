//! Durable state in sled.
//!
//! One sled tree holds everything, split by a one-byte prefix, so that a
//! change to an alert, its due-index entry and the notifications it caused go
//! to disk in a single atomic batch:
//!
//! | prefix | key                                     | value                  |
//! |--------|-----------------------------------------|------------------------|
//! | `a`    | alert key                               | [`Record`] (protobuf)  |
//! | `d`    | due time (u64 BE) + alert key           | empty                  |
//! | `q`    | notifier name, 0, sequence (u64 BE)     | [`Notification`]       |
//! | `x`    | sequence (u64 BE)                       | [`DeadLetter`]         |
//! | `m`    | meta name                               | anything               |
//!
//! An alert key is the source's length (u16 BE), the source, then the id: all
//! alerts of one source share a prefix (for `replace`) and no choice of
//! characters can make two keys collide.
//!
//! Durability is sled's group commit: writes are in memory until sled's
//! flusher runs every `flush_interval_ms`, or until [`Store::flush`].
//!
//! The store does not decide who is told: each write carries its messages
//! already addressed (see `routing`), and the store queues them as given.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::gauge::Gauge;
use prost::Message;

use crate::alert::{AlertKey, EventKind, Record, UnixSecs};

const ALERT: u8 = b'a';
const DUE: u8 = b'd';
const QUEUE: u8 = b'q';
const DEAD: u8 = b'x';
const META: u8 = b'm';

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: a stored value does not decode: {0}")]
    Corrupt(#[from] prost::DecodeError),
    #[error("store: a stored {field} has the unknown value {value}")]
    UnknownEnum { field: &'static str, value: i32 },
    #[error("store: the write failed (see the log)")]
    WriteFailed,
    #[error(
        "another mauved is using the data directory {0} (only one process can hold it at a time)"
    )]
    InUse(String),
}

/// Decodes a stored alert record, refusing enum values this version does
/// not know (they would otherwise be read as some other kind).
fn decode_record(bytes: &[u8]) -> Result<Record> {
    let record = Record::decode(bytes)?;
    for (field, value) in [
        ("update type", record.update_type),
        ("notified event", record.notified),
    ] {
        check_event(field, value)?;
    }
    Ok(record)
}

fn check_event(field: &'static str, value: Option<i32>) -> Result<()> {
    match value {
        Some(value) if EventKind::try_from(value).is_err() => {
            Err(StoreError::UnknownEnum { field, value })
        }
        _ => Ok(()),
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A queued notification: what happened, to which alert, the alert as it
/// was at that moment, and whom it is for.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Notification {
    #[prost(enumeration = "EventKind", tag = "1")]
    pub event: i32,
    #[prost(string, tag = "2")]
    pub source: String,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(uint64, tag = "4")]
    pub at: UnixSecs,
    #[prost(message, required, tag = "5")]
    pub alert: Record,
    /// The notifier whose queue holds it.
    #[prost(string, tag = "6")]
    pub notifier: String,
    /// The person it is for, once routing names people.
    #[prost(string, optional, tag = "7")]
    pub recipient: Option<String>,
}

impl Notification {
    /// The event, or the unknown stored value.
    pub fn kind(&self) -> std::result::Result<EventKind, i32> {
        EventKind::try_from(self.event).map_err(|_| self.event)
    }

    pub fn key(&self) -> AlertKey {
        AlertKey::new(self.source.clone(), self.id.clone())
    }
}

/// A notification that was given up on, kept for people to see.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeadLetter {
    #[prost(message, required, tag = "1")]
    pub notification: Notification,
    #[prost(string, tag = "2")]
    pub reason: String,
    #[prost(uint64, tag = "3")]
    pub at: UnixSecs,
}

/// The position of one notification in one notifier's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueId(Vec<u8>);

/// One alert's change, ready to be written.
#[derive(Clone, Debug)]
pub struct Write {
    pub key: AlertKey,
    /// The due time the stored record had (its index entry to remove).
    pub old_due: Option<UnixSecs>,
    pub record: Record,
    /// Messages the change causes, already addressed.
    pub messages: Vec<Notification>,
}

/// Everything one scheduler round writes, in one atomic batch.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub writes: Vec<Write>,
    /// Due-index entries found not to match their alert.
    pub stale_due: Vec<(UnixSecs, AlertKey)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.stale_due.is_empty()
    }
}

pub struct Store {
    db: sled::Db,
    next_seq: AtomicU64,
    /// Messages waiting over all notifiers; only the store moves it.
    queue_depth: Gauge,
}

impl Store {
    /// Opens (or creates) the store. `flush_interval_ms = 0` means the caller
    /// flushes after every batch; otherwise sled flushes on that period.
    /// `queue_depth` is set to the number of queued messages and kept so.
    pub fn open(
        path: &Path,
        flush_interval_ms: u64,
        cache_bytes: u64,
        queue_depth: Gauge,
    ) -> Result<Store> {
        let flush_every = (flush_interval_ms > 0).then_some(flush_interval_ms);
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(flush_every)
            .open()
            .map_err(|err| match err {
                // sled takes an exclusive lock on its files.
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::InUse(path.display().to_string())
                }
                sled::Error::Io(io) if io.to_string().contains("lock") => {
                    StoreError::InUse(path.display().to_string())
                }
                err => StoreError::Sled(err),
            })?;
        // Sequences grow across all notifiers' queues: continue after the
        // largest one still queued.
        let next_seq = db
            .scan_prefix([QUEUE])
            .keys()
            .filter_map(|k| k.ok().map(|k| seq_of(&k) + 1))
            .max()
            .unwrap_or(0)
            .max(
                db.scan_prefix([DEAD])
                    .keys()
                    .filter_map(|k| k.ok().map(|k| seq_of(&k) + 1))
                    .max()
                    .unwrap_or(0),
            );
        queue_depth.set(db.scan_prefix([QUEUE]).count() as i64);
        Ok(Store {
            db,
            next_seq: AtomicU64::new(next_seq),
            queue_depth,
        })
    }

    pub fn get(&self, key: &AlertKey) -> Result<Option<Record>> {
        self.db
            .get(alert_key(key))?
            .map(|bytes| decode_record(&bytes))
            .transpose()
    }

    /// Every alert, in key order.
    pub fn alerts(&self) -> impl Iterator<Item = Result<(AlertKey, Record)>> + '_ {
        self.scan_alerts(vec![ALERT])
    }

    /// Every alert of one source.
    pub fn alerts_of(&self, source: &str) -> impl Iterator<Item = Result<(AlertKey, Record)>> + '_ {
        let mut prefix = vec![ALERT];
        push_source(&mut prefix, source);
        self.scan_alerts(prefix)
    }

    /// The keys of every alert of one source (no records decoded).
    pub fn alert_keys_of(&self, source: &str) -> impl Iterator<Item = Result<AlertKey>> + '_ {
        let mut prefix = vec![ALERT];
        push_source(&mut prefix, source);
        self.db
            .scan_prefix(prefix)
            .keys()
            .map(|key| Ok(parse_alert_key(&key?[1..])))
    }

    fn scan_alerts(
        &self,
        prefix: Vec<u8>,
    ) -> impl Iterator<Item = Result<(AlertKey, Record)>> + '_ {
        self.db.scan_prefix(prefix).map(|item| {
            let (key, value) = item?;
            let record = decode_record(&value)?;
            Ok((parse_alert_key(&key[1..]), record))
        })
    }

    /// The earliest due time in the index.
    pub fn next_due(&self) -> Result<Option<UnixSecs>> {
        Ok(match self.db.scan_prefix([DUE]).keys().next() {
            Some(key) => Some(due_time(&key?)),
            None => None,
        })
    }

    /// Up to `limit` index entries due at or before `now`, earliest first.
    pub fn due(&self, now: UnixSecs, limit: usize) -> Result<Vec<(UnixSecs, AlertKey)>> {
        let mut out = Vec::new();
        for key in self.db.scan_prefix([DUE]).keys().take(limit) {
            let key = key?;
            let due = due_time(&key);
            if due > now {
                break;
            }
            out.push((due, parse_alert_key(key.get(9..).unwrap_or_default())));
        }
        Ok(out)
    }

    /// Writes a round's changes in one atomic batch: each record, its
    /// due-index entry and its messages, each message in its notifier's
    /// queue. Returns how many messages were queued.
    pub fn commit(&self, round: &Batch) -> Result<u64> {
        let mut batch = sled::Batch::default();
        let mut queued = 0;
        for (due, key) in &round.stale_due {
            batch.remove(due_key(*due, &encode_alert_key(key)));
        }
        for write in &round.writes {
            let key = encode_alert_key(&write.key);
            if let Some(due) = write.old_due {
                batch.remove(due_key(due, &key));
            }
            if let Some(due) = write.record.next_due() {
                batch.insert(due_key(due, &key), &[]);
            }
            batch.insert([&[ALERT][..], &key].concat(), write.record.encode_to_vec());
            for message in &write.messages {
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                batch.insert(queue_key(&message.notifier, seq), message.encode_to_vec());
                queued += 1;
            }
        }
        self.db.apply_batch(batch)?;
        self.queue_depth.inc_by(queued as i64);
        Ok(queued)
    }

    /// The oldest `limit` notifications waiting for `notifier`.
    pub fn queued(&self, notifier: &str, limit: usize) -> Result<Vec<(QueueId, Notification)>> {
        let mut prefix = vec![QUEUE];
        prefix.extend_from_slice(notifier.as_bytes());
        prefix.push(0);
        self.db
            .scan_prefix(prefix)
            .take(limit)
            .map(|item| {
                let (key, value) = item?;
                Ok((QueueId(key.to_vec()), Notification::decode(&*value)?))
            })
            .collect()
    }

    pub fn dequeue(&self, id: &QueueId) -> Result<()> {
        if self.db.remove(&id.0)?.is_some() {
            self.queue_depth.dec();
        }
        Ok(())
    }

    /// Moves a queued message to the dead letters, in one atomic batch.
    pub fn dead_letter(&self, id: &QueueId, letter: &DeadLetter) -> Result<()> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut key = vec![DEAD];
        key.extend_from_slice(&seq.to_be_bytes());
        let mut batch = sled::Batch::default();
        batch.remove(id.0.clone());
        batch.insert(key, letter.encode_to_vec());
        self.db.apply_batch(batch)?;
        self.queue_depth.dec();
        Ok(())
    }

    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        self.db
            .scan_prefix([DEAD])
            .values()
            .map(|value| Ok(DeadLetter::decode(&*value?)?))
            .collect()
    }

    /// How many notifications wait, over all notifiers.
    pub fn queue_len(&self) -> usize {
        self.queue_depth.get().max(0) as usize
    }

    /// Notifier names that have queued entries (to spot removed notifiers).
    pub fn queue_owners(&self) -> Result<Vec<String>> {
        let mut owners: Vec<String> = Vec::new();
        for key in self.db.scan_prefix([QUEUE]).keys() {
            let key = key?;
            let name_end = key.len().saturating_sub(9).max(1);
            let name =
                String::from_utf8_lossy(key.get(1..name_end).unwrap_or_default()).into_owned();
            if owners.last() != Some(&name) {
                owners.push(name);
            }
        }
        Ok(owners)
    }

    /// Writes and flushes a meta entry: proves the store is writable.
    pub async fn probe(&self, now: UnixSecs) -> Result<()> {
        self.db.insert([META, b'h'], &now.to_be_bytes())?;
        self.db.flush_async().await?;
        Ok(())
    }

    pub async fn flush_async(&self) -> Result<()> {
        self.db.flush_async().await?;
        Ok(())
    }

    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

fn push_source(out: &mut Vec<u8>, source: &str) {
    // Sources are capped at 512 characters (at most 2048 bytes) by `wire`.
    let len = u16::try_from(source.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(source.as_bytes());
}

fn encode_alert_key(key: &AlertKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + key.source.len() + key.id.len());
    push_source(&mut out, &key.source);
    out.extend_from_slice(key.id.as_bytes());
    out
}

fn alert_key(key: &AlertKey) -> Vec<u8> {
    let mut out = vec![ALERT];
    out.extend_from_slice(&encode_alert_key(key));
    out
}

/// Inverse of [`encode_alert_key`]. Keys are only ever written by this module
/// from valid strings, so a short or odd key means a damaged store; it decodes
/// as best it can rather than panicking.
fn parse_alert_key(bytes: &[u8]) -> AlertKey {
    let len = match bytes {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]) as usize,
        _ => 0,
    };
    let rest = bytes.get(2..).unwrap_or_default();
    let split = len.min(rest.len());
    AlertKey::new(
        String::from_utf8_lossy(&rest[..split]),
        String::from_utf8_lossy(&rest[split..]),
    )
}

fn due_key(due: UnixSecs, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.len());
    out.push(DUE);
    out.extend_from_slice(&due.to_be_bytes());
    out.extend_from_slice(key);
    out
}

fn due_time(key: &[u8]) -> UnixSecs {
    key.get(1..9)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

fn queue_key(notifier: &str, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + notifier.len());
    out.push(QUEUE);
    out.extend_from_slice(notifier.as_bytes());
    out.push(0);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

fn seq_of(key: &[u8]) -> u64 {
    key.len()
        .checked_sub(8)
        .and_then(|start| key[start..].try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_at(path: &Path) -> Store {
        Store::open(path, 0, 1 << 20, Gauge::default()).unwrap()
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = open_at(dir.path());
        (dir, store)
    }

    fn record(will_raise_at: Option<u64>) -> Record {
        Record {
            subject: "s".into(),
            will_raise_at,
            ..Record::default()
        }
    }

    fn message(key: &AlertKey, notifier: &str) -> Notification {
        Notification {
            event: EventKind::Raised as i32,
            source: key.source.clone(),
            id: key.id.clone(),
            at: 100,
            alert: record(None),
            notifier: notifier.into(),
            recipient: None,
        }
    }

    fn write(key: &AlertKey, old_due: Option<u64>, record: Record, to: &[&str]) -> Batch {
        Batch {
            writes: vec![Write {
                key: key.clone(),
                old_due,
                record,
                messages: to.iter().map(|n| message(key, n)).collect(),
            }],
            stale_due: vec![],
        }
    }

    #[test]
    fn keys_of_different_sources_never_collide() {
        let a = encode_alert_key(&AlertKey::new("ab", "c"));
        let b = encode_alert_key(&AlertKey::new("a", "bc"));
        assert_ne!(a, b);
        let key = AlertKey::new("héllo\0", "x\0y");
        assert_eq!(parse_alert_key(&encode_alert_key(&key)), key);
    }

    #[test]
    fn commit_moves_the_due_entry_and_queues_each_message_for_its_notifier() {
        let (_dir, store) = open();
        let key = AlertKey::new("src", "hb");
        store
            .commit(&write(&key, None, record(Some(100)), &[]))
            .unwrap();
        assert_eq!(store.next_due().unwrap(), Some(100));
        assert_eq!(store.due(99, 10).unwrap(), vec![]);
        assert_eq!(store.due(100, 10).unwrap(), vec![(100, key.clone())]);

        let queued = store
            .commit(&write(&key, Some(100), record(None), &["a", "b"]))
            .unwrap();
        assert_eq!(queued, 2);
        assert_eq!(store.next_due().unwrap(), None);
        assert_eq!(store.queue_len(), 2);
        let waiting = store.queued("a", 10).unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].1.kind(), Ok(EventKind::Raised));
        assert_eq!(waiting[0].1.key(), key);
        assert_eq!(waiting[0].1.notifier, "a");
        store.dequeue(&waiting[0].0).unwrap();
        assert!(store.queued("a", 10).unwrap().is_empty());
        assert_eq!(store.queue_len(), 1);
        assert_eq!(store.queue_owners().unwrap(), vec!["b".to_string()]);
    }

    #[test]
    fn a_dead_letter_leaves_the_queue_and_is_kept() {
        let (_dir, store) = open();
        let key = AlertKey::new("src", "a");
        store
            .commit(&write(&key, None, record(None), &["n"]))
            .unwrap();
        let (id, notification) = store.queued("n", 1).unwrap().remove(0);
        let letter = DeadLetter {
            notification,
            reason: "no such command".into(),
            at: 5,
        };
        store.dead_letter(&id, &letter).unwrap();
        assert_eq!(store.queue_len(), 0);
        assert!(store.queued("n", 1).unwrap().is_empty());
        assert_eq!(store.dead_letters().unwrap(), vec![letter]);
    }

    #[test]
    fn an_unknown_stored_event_kind_is_an_error_not_another_kind() {
        let (_dir, store) = open();
        let key = AlertKey::new("src", "a");
        let bad = Record {
            update_type: Some(99),
            ..record(None)
        };
        store.commit(&write(&key, None, bad, &[])).unwrap();
        assert!(matches!(
            store.get(&key),
            Err(StoreError::UnknownEnum { value: 99, .. })
        ));
        let mut message = message(&key, "n");
        message.event = 42;
        assert_eq!(message.kind(), Err(42));
    }

    #[test]
    fn alerts_of_a_source_excludes_prefix_lookalikes() {
        let (_dir, store) = open();
        let writes: Vec<Write> = [("web", "a"), ("web", "b"), ("web2", "a")]
            .into_iter()
            .map(|(s, i)| Write {
                key: AlertKey::new(s, i),
                old_due: None,
                record: record(None),
                messages: vec![],
            })
            .collect();
        store
            .commit(&Batch {
                writes,
                stale_due: vec![],
            })
            .unwrap();
        let web: Vec<AlertKey> = store.alerts_of("web").map(|r| r.unwrap().0).collect();
        assert_eq!(
            web,
            vec![AlertKey::new("web", "a"), AlertKey::new("web", "b")]
        );
        assert_eq!(store.alerts().count(), 3);
    }

    #[test]
    fn sequence_and_queue_depth_continue_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = AlertKey::new("s", "i");
        {
            let store = open_at(dir.path());
            store
                .commit(&write(&key, None, record(None), &["n", "n"]))
                .unwrap();
            store.flush().unwrap();
        }
        let store = open_at(dir.path());
        assert_eq!(store.queue_len(), 2);
        store
            .commit(&write(&key, None, record(None), &["n"]))
            .unwrap();
        let seqs: Vec<u64> = store
            .queued("n", 10)
            .unwrap()
            .iter()
            .map(|(id, _)| seq_of(&id.0))
            .collect();
        assert_eq!(seqs, vec![0, 1, 2]);
    }

    #[test]
    fn a_second_open_of_the_same_directory_says_it_is_in_use() {
        let (dir, _store) = open();
        let err = Store::open(dir.path(), 0, 1 << 20, Gauge::default())
            .err()
            .expect("the directory is locked");
        assert!(matches!(err, StoreError::InUse(_)), "{err}");
        assert!(err.to_string().contains("another mauved"));
    }
}
