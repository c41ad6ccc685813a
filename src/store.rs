//! Durable state in sled: the copy of the in-memory index that survives a
//! restart, the notification queues and the dead letters.
//!
//! One sled tree holds everything, split by a one-byte prefix, so that a
//! round's records, details and messages go to disk in one atomic batch:
//!
//! | prefix | key                                     | value                  |
//! |--------|-----------------------------------------|------------------------|
//! | `a`    | alert key                               | [`Record`] (protobuf), without its detail |
//! | `t`    | alert key                               | the alert's detail text (absent when empty) |
//! | `q`    | notifier name, 0, sequence (u64 BE)     | [`Notification`]       |
//! | `x`    | sequence (u64 BE)                       | [`DeadLetter`]         |
//! | `m`    | meta name                               | anything               |
//!
//! An alert key is the source's length (u16 BE), the source, then the id: no
//! choice of characters can make two keys collide. The detail (up to 64 KiB,
//! rarely read) has its own key so that the frequent record writes of
//! heartbeats never carry it. There is no due index on disk: the scheduler
//! rebuilds it in memory from the records at start (`index`).
//!
//! Nothing is flushed here on a timer: the scheduler's writer decides when a
//! batch is written and when it is flushed (see `scheduler::writer`). The
//! store does not decide who is told either: messages arrive addressed.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::gauge::Gauge;
use prost::Message;

use crate::alert::{AlertKey, EventKind, Record, UnixSecs};

const ALERT: u8 = b'a';
const DETAIL: u8 = b't';
/// The due index of earlier versions; removed at open.
const OLD_DUE: u8 = b'd';
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

/// What the writer hands sled at once: records (their detail is ignored),
/// details that changed, and addressed messages.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub records: Vec<(AlertKey, Record)>,
    /// New detail text of alerts whose detail changed ("" removes it).
    pub details: Vec<(AlertKey, String)>,
    pub messages: Vec<Notification>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.details.is_empty() && self.messages.is_empty()
    }
}

pub struct Store {
    db: sled::Db,
    next_seq: AtomicU64,
    /// Messages waiting over all notifiers; only the store moves it.
    queue_depth: Gauge,
}

impl Store {
    /// Opens (or creates) the store. `queue_depth` is set to the number of
    /// queued messages and kept so. A store from an earlier version is
    /// brought up to date (its due index dropped, details moved out of the
    /// records) in one batch.
    pub fn open(path: &Path, cache_bytes: u64, queue_depth: Gauge) -> Result<Store> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(None)
            .open()
            .map_err(|err| match err {
                // sled takes an exclusive lock on its files.
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    StoreError::InUse(path.display().to_string())
                }
                err => StoreError::Sled(err),
            })?;
        let last_seq = |prefix: u8| {
            db.scan_prefix([prefix])
                .keys()
                .filter_map(|k| k.ok().map(|k| seq_of(&k) + 1))
                .max()
                .unwrap_or(0)
        };
        // Sequences grow across all queues and the dead letters.
        let next_seq = last_seq(QUEUE).max(last_seq(DEAD));
        queue_depth.set(db.scan_prefix([QUEUE]).count() as i64);
        let store = Store {
            db,
            next_seq: AtomicU64::new(next_seq),
            queue_depth,
        };
        store.upgrade()?;
        Ok(store)
    }

    fn upgrade(&self) -> Result<()> {
        let mut batch = sled::Batch::default();
        let mut changed = false;
        for key in self.db.scan_prefix([OLD_DUE]).keys() {
            batch.remove(key?);
            changed = true;
        }
        for item in self.db.scan_prefix([ALERT]) {
            let (key, value) = item?;
            let mut record = Record::decode(&*value)?;
            if !record.detail.is_empty() {
                let detail = std::mem::take(&mut record.detail);
                batch.insert([&[DETAIL][..], &key[1..]].concat(), detail.into_bytes());
                batch.insert(key, record.encode_to_vec());
                changed = true;
            }
        }
        if changed {
            self.db.apply_batch(batch)?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// One alert's record, with its detail.
    pub fn get(&self, key: &AlertKey) -> Result<Option<Record>> {
        let Some(bytes) = self.db.get(prefixed(ALERT, key))? else {
            return Ok(None);
        };
        let mut record = decode_record(&bytes)?;
        record.detail = self.detail(key)?;
        Ok(Some(record))
    }

    /// An alert's detail ("" when it has none).
    pub fn detail(&self, key: &AlertKey) -> Result<String> {
        Ok(self
            .db
            .get(prefixed(DETAIL, key))?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default())
    }

    /// Every alert's record (without detail), in key order.
    pub fn records(&self) -> impl Iterator<Item = Result<(AlertKey, Record)>> + '_ {
        self.db.scan_prefix([ALERT]).map(|item| {
            let (key, value) = item?;
            let record = decode_record(&value)?;
            Ok((parse_alert_key(&key[1..]), record))
        })
    }

    /// Every alert that has a detail, with the detail.
    pub fn details(&self) -> impl Iterator<Item = Result<(AlertKey, String)>> + '_ {
        self.db.scan_prefix([DETAIL]).map(|item| {
            let (key, value) = item?;
            let detail = String::from_utf8_lossy(&value).into_owned();
            Ok((parse_alert_key(&key[1..]), detail))
        })
    }

    /// Writes a batch atomically (not flushed: see [`Store::flush`]).
    /// Returns how many messages were queued.
    pub fn write(&self, batch: &Batch) -> Result<u64> {
        let mut out = sled::Batch::default();
        for (key, record) in &batch.records {
            let value = if record.detail.is_empty() {
                record.encode_to_vec()
            } else {
                Record {
                    detail: String::new(),
                    ..record.clone()
                }
                .encode_to_vec()
            };
            out.insert(prefixed(ALERT, key), value);
        }
        for (key, detail) in &batch.details {
            if detail.is_empty() {
                out.remove(prefixed(DETAIL, key));
            } else {
                out.insert(prefixed(DETAIL, key), detail.as_bytes());
            }
        }
        for message in &batch.messages {
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            out.insert(queue_key(&message.notifier, seq), message.encode_to_vec());
        }
        self.db.apply_batch(out)?;
        let queued = batch.messages.len() as u64;
        self.queue_depth.inc_by(queued as i64);
        Ok(queued)
    }

    /// How much disk the store uses.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
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

fn encode_alert_key_into(out: &mut Vec<u8>, key: &AlertKey) {
    push_source(out, &key.source);
    out.extend_from_slice(key.id.as_bytes());
}

fn prefixed(prefix: u8, key: &AlertKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + key.source.len() + key.id.len());
    out.push(prefix);
    encode_alert_key_into(&mut out, key);
    out
}

/// Inverse of [`encode_alert_key_into`]. Keys are only ever written by this module
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
        Store::open(path, 1 << 20, Gauge::default()).unwrap()
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

    fn batch(key: &AlertKey, record: Record, to: &[&str]) -> Batch {
        Batch {
            records: vec![(key.clone(), record)],
            details: vec![],
            messages: to.iter().map(|n| message(key, n)).collect(),
        }
    }

    fn key_bytes(key: &AlertKey) -> Vec<u8> {
        let mut out = Vec::new();
        encode_alert_key_into(&mut out, key);
        out
    }

    #[test]
    fn keys_of_different_sources_never_collide() {
        assert_ne!(
            key_bytes(&AlertKey::new("ab", "c")),
            key_bytes(&AlertKey::new("a", "bc"))
        );
        let key = AlertKey::new("héllo\0", "x\0y");
        assert_eq!(parse_alert_key(&key_bytes(&key)), key);
    }

    #[test]
    fn a_batch_writes_records_details_and_messages_for_their_notifiers() {
        let (_dir, store) = open();
        let key = AlertKey::new("src", "hb");
        let mut with_detail = batch(&key, record(Some(100)), &["a", "b"]);
        with_detail.details.push((key.clone(), "<b>big</b>".into()));
        assert_eq!(store.write(&with_detail).unwrap(), 2);
        let stored = store.get(&key).unwrap().unwrap();
        assert_eq!(stored.will_raise_at, Some(100));
        assert_eq!(stored.detail, "<b>big</b>");
        // A record write without a detail keeps the detail.
        store.write(&batch(&key, record(None), &[])).unwrap();
        assert_eq!(store.detail(&key).unwrap(), "<b>big</b>");
        let all: Vec<_> = store.records().map(|r| r.unwrap()).collect();
        assert_eq!(all, vec![(key.clone(), record(None))]);

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
        store.write(&batch(&key, record(None), &["n"])).unwrap();
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
        store.write(&batch(&key, bad, &[])).unwrap();
        assert!(matches!(
            store.get(&key),
            Err(StoreError::UnknownEnum { value: 99, .. })
        ));
        let mut message = message(&key, "n");
        message.event = 42;
        assert_eq!(message.kind(), Err(42));
    }

    #[test]
    fn a_store_of_the_previous_layout_is_upgraded_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let key = AlertKey::new("web", "a");
        {
            let db = sled::open(dir.path()).unwrap();
            let old = Record {
                detail: "inline".into(),
                ..record(Some(7))
            };
            db.insert(prefixed(ALERT, &key), old.encode_to_vec())
                .unwrap();
            let mut due = vec![OLD_DUE];
            due.extend_from_slice(&7u64.to_be_bytes());
            due.extend(key_bytes(&key));
            db.insert(due, &[]).unwrap();
            db.flush().unwrap();
        }
        let store = open_at(dir.path());
        assert_eq!(store.detail(&key).unwrap(), "inline");
        let (_, stored) = store.records().next().unwrap().unwrap();
        assert_eq!(stored, record(Some(7)), "detail moved out of the record");
        assert_eq!(store.db.scan_prefix([OLD_DUE]).count(), 0);
    }

    #[test]
    fn sequence_and_queue_depth_continue_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = AlertKey::new("s", "i");
        {
            let store = open_at(dir.path());
            store
                .write(&batch(&key, record(None), &["n", "n"]))
                .unwrap();
            store.flush().unwrap();
        }
        let store = open_at(dir.path());
        assert_eq!(store.queue_len(), 2);
        store.write(&batch(&key, record(None), &["n"])).unwrap();
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
        let err = Store::open(dir.path(), 1 << 20, Gauge::default())
            .err()
            .expect("the directory is locked");
        assert!(matches!(err, StoreError::InUse(_)), "{err}");
        assert!(err.to_string().contains("another mauved"));
    }
}
