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
//! | `m`    | meta name                               | anything               |
//!
//! An alert key is the source's length (u16 BE), the source, then the id: all
//! alerts of one source share a prefix (for `replace`) and no choice of
//! characters can make two keys collide.
//!
//! Durability is sled's group commit: writes are in memory until sled's
//! flusher runs every `flush_interval_ms`, or until [`Store::flush`].

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message;

use crate::alert::{AlertKey, EventKind, Record, UnixSecs};

const ALERT: u8 = b'a';
const DUE: u8 = b'd';
const QUEUE: u8 = b'q';
const META: u8 = b'm';

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: a stored value does not decode: {0}")]
    Corrupt(#[from] prost::DecodeError),
    #[error("store: the write failed (see the log)")]
    WriteFailed,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A queued notification: what happened, to which alert, and the alert as it
/// was at that moment.
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
}

impl Notification {
    pub fn kind(&self) -> EventKind {
        EventKind::try_from(self.event).unwrap_or(EventKind::Reminder)
    }

    pub fn key(&self) -> AlertKey {
        AlertKey::new(self.source.clone(), self.id.clone())
    }
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
    /// Events to notify, each with its time and the alert as it was then.
    pub notifications: Vec<(EventKind, UnixSecs, Record)>,
}

pub struct Store {
    db: sled::Db,
    next_seq: AtomicU64,
}

impl Store {
    /// Opens (or creates) the store. `flush_interval_ms = 0` means the caller
    /// flushes after every batch; otherwise sled flushes on that period.
    pub fn open(path: &Path, flush_interval_ms: u64, cache_bytes: u64) -> Result<Store> {
        let flush_every = (flush_interval_ms > 0).then_some(flush_interval_ms);
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(flush_every)
            .open()?;
        // Sequences grow across all notifiers' queues: continue after the
        // largest one still queued.
        let next_seq = db
            .scan_prefix([QUEUE])
            .keys()
            .filter_map(|k| k.ok().map(|k| seq_of(&k) + 1))
            .max()
            .unwrap_or(0);
        Ok(Store {
            db,
            next_seq: AtomicU64::new(next_seq),
        })
    }

    pub fn get(&self, key: &AlertKey) -> Result<Option<Record>> {
        self.db
            .get(alert_key(key))?
            .map(|bytes| Record::decode(&*bytes).map_err(StoreError::from))
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
            let record = Record::decode(&*value)?;
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

    /// Writes a set of changes in one atomic batch, and drops index entries
    /// found stale. Every event becomes one queue entry per notifier.
    /// Returns how many entries were queued.
    pub fn commit(
        &self,
        writes: &[Write],
        stale_due: &[(UnixSecs, AlertKey)],
        notifiers: &[String],
    ) -> Result<u64> {
        let mut batch = sled::Batch::default();
        let mut queued = 0;
        for (due, key) in stale_due {
            batch.remove(due_key(*due, &encode_alert_key(key)));
        }
        for write in writes {
            let key = encode_alert_key(&write.key);
            if let Some(due) = write.old_due {
                batch.remove(due_key(due, &key));
            }
            if let Some(due) = write.record.next_due() {
                batch.insert(due_key(due, &key), &[]);
            }
            batch.insert([&[ALERT][..], &key].concat(), write.record.encode_to_vec());
            for (kind, at, record) in &write.notifications {
                let notification = Notification {
                    event: *kind as i32,
                    source: write.key.source.clone(),
                    id: write.key.id.clone(),
                    at: *at,
                    alert: record.clone(),
                }
                .encode_to_vec();
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                for name in notifiers {
                    batch.insert(queue_key(name, seq), notification.clone());
                    queued += 1;
                }
            }
        }
        self.db.apply_batch(batch)?;
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
        self.db.remove(&id.0)?;
        Ok(())
    }

    /// How many notifications wait, over all notifiers.
    pub fn queue_len(&self) -> usize {
        self.db.scan_prefix([QUEUE]).count()
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

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 0, 1 << 20).unwrap();
        (dir, store)
    }

    fn record(will_raise_at: Option<u64>) -> Record {
        Record {
            subject: "s".into(),
            will_raise_at,
            ..Record::default()
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
    fn commit_moves_the_due_entry_and_queues_per_notifier() {
        let (_dir, store) = open();
        let key = AlertKey::new("src", "hb");
        let first = Write {
            key: key.clone(),
            old_due: None,
            record: record(Some(100)),
            notifications: vec![],
        };
        store
            .commit(&[first], &[], &["a".into(), "b".into()])
            .unwrap();
        assert_eq!(store.next_due().unwrap(), Some(100));
        assert_eq!(store.due(99, 10).unwrap(), vec![]);
        assert_eq!(store.due(100, 10).unwrap(), vec![(100, key.clone())]);

        let second = Write {
            key: key.clone(),
            old_due: Some(100),
            record: record(None),
            notifications: vec![(EventKind::Raised, 100, record(None))],
        };
        let queued = store
            .commit(&[second], &[], &["a".into(), "b".into()])
            .unwrap();
        assert_eq!(queued, 2);
        assert_eq!(store.next_due().unwrap(), None);
        assert_eq!(store.queue_len(), 2);
        let waiting = store.queued("a", 10).unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].1.kind(), EventKind::Raised);
        assert_eq!(waiting[0].1.key(), key);
        store.dequeue(&waiting[0].0).unwrap();
        assert!(store.queued("a", 10).unwrap().is_empty());
        assert_eq!(store.queue_owners().unwrap(), vec!["b".to_string()]);
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
                notifications: vec![],
            })
            .collect();
        store.commit(&writes, &[], &[]).unwrap();
        let web: Vec<AlertKey> = store.alerts_of("web").map(|r| r.unwrap().0).collect();
        assert_eq!(
            web,
            vec![AlertKey::new("web", "a"), AlertKey::new("web", "b")]
        );
        assert_eq!(store.alerts().count(), 3);
    }

    #[test]
    fn sequence_continues_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = AlertKey::new("s", "i");
        let write = Write {
            key,
            old_due: None,
            record: record(None),
            notifications: vec![(EventKind::Raised, 1, record(None))],
        };
        {
            let store = Store::open(dir.path(), 0, 1 << 20).unwrap();
            store
                .commit(&[write.clone(), write.clone()], &[], &["n".into()])
                .unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path(), 0, 1 << 20).unwrap();
        store.commit(&[write], &[], &["n".into()]).unwrap();
        let seqs: Vec<u64> = store
            .queued("n", 10)
            .unwrap()
            .iter()
            .map(|(id, _)| seq_of(&id.0))
            .collect();
        assert_eq!(seqs, vec![0, 1, 2]);
    }
}
