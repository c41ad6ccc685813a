//! Durable state in sled: the copy of the in-memory index that survives a
//! restart, the notification queues and the dead letters.
//!
//! sled's memory follows the number of keys it writes, not the bytes: a
//! million alert records written as a million keys took 2.9 GiB of resident
//! memory on the development machine, the same bytes as sixteen thousand
//! values of 64 records 35 MiB. So records live in **buckets** of up to
//! [`BUCKET_SIZE`] alerts, each bucket one value, rewritten whole (from the
//! in-memory index) when any of its alerts changed; and the messages one
//! write queues for a notifier are one value (up to 256 messages a value), with a per-notifier cursor
//! saying how far delivery has come.
//!
//! One sled tree holds everything, split by a one-byte prefix, so that a
//! round's buckets, details and messages go to disk in one atomic batch:
//!
//! | prefix | key                                  | value                              |
//! |--------|--------------------------------------|------------------------------------|
//! | `b`    | bucket id (u32 BE)                   | [`Bucket`]: keys and records       |
//! | `t`    | alert key                            | the alert's detail (absent if empty) |
//! | `q`    | notifier name, 0, sequence (u64 BE)  | [`QueueBatch`]: messages in order  |
//! | `c`    | notifier name                        | delivery cursor: sequence, index   |
//! | `x`    | sequence (u64 BE)                    | [`DeadLetter`]                     |
//! | `g`    | `a` + alert key, or `p` + person     | paging state (`routing::pager`)    |
//! | `h`    | bucket id (u32 BE), time (u64 BE), sequence (u64 BE) | [`HistoryBatch`]: lines of the bucket's alerts |
//! | `m`    | meta name                            | anything                           |
//!
//! An alert key is the source's length (u16 BE), the source, then the id: no
//! choice of characters can make two keys collide. The detail (up to 64 KiB,
//! rarely read) has its own key so that bucket writes never carry it. There
//! is no due index on disk: the scheduler rebuilds it in memory from the
//! records at start (`index`).
//!
//! Nothing is flushed here on a timer: the scheduler's writer decides when a
//! batch is written and flushed. The store does not decide who is told
//! either: messages arrive addressed.

use std::path::Path;

mod db;

pub use db::Failing;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::gauge::Gauge;
use prost::Message;

use crate::alert::{AlertKey, EventKind, Record, UnixSecs};

/// Alerts per bucket.
pub const BUCKET_SIZE: usize = 64;

/// Messages per queue value, at most (one write may queue many more).
const QUEUE_VALUE_MESSAGES: usize = 256;

const BUCKET: u8 = b'b';
const DETAIL: u8 = b't';
const QUEUE: u8 = b'q';
const CURSOR: u8 = b'c';
const DEAD: u8 = b'x';
const META: u8 = b'm';
const PAGING: u8 = b'g';
const HISTORY: u8 = b'h';
/// Earlier layouts: one record per key, and a due index. Upgraded at open.
const OLD_ALERT: u8 = b'a';
const OLD_DUE: u8 = b'd';

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
    #[error("store: writes fail: {0}")]
    Failing(String),
    #[error("store: closed while it is opened again after a disk failure")]
    Closed,
    #[error(
        "another mauved is using the data directory {0} (only one process can hold it at a time)"
    )]
    InUse(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Refuses enum values this version does not know (they would otherwise be
/// read as some other kind).
fn check_record(record: &Record) -> Result<()> {
    for (field, value) in [
        ("update type", record.update_type),
        ("notified event", record.notified),
    ] {
        if let Some(value) = value.filter(|&v| EventKind::try_from(v).is_err()) {
            return Err(StoreError::UnknownEnum { field, value });
        }
    }
    Ok(())
}

/// Up to [`BUCKET_SIZE`] alerts, stored as one value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Bucket {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<BucketEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketEntry {
    #[prost(string, tag = "1")]
    pub source: String,
    #[prost(string, tag = "2")]
    pub id: String,
    /// The record without its detail.
    #[prost(message, required, tag = "3")]
    pub record: Record,
}

/// The messages one write queued for one notifier, in order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueBatch {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<Notification>,
}

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
    /// The address it goes to (the person's address on this notifier).
    #[prost(string, optional, tag = "7")]
    pub recipient: Option<String>,
    /// The person it is for (with alert groups).
    #[prost(string, optional, tag = "8")]
    pub person: Option<String>,
    /// The alert group's level (`alert::Level` as a number).
    #[prost(int32, optional, tag = "9")]
    pub level: Option<i32>,
    /// Further events in the same message (storm batching), after the first.
    #[prost(message, repeated, tag = "10")]
    pub more: Vec<Event>,
    /// Where to send it if this notifier gives up (`a|b`), in order.
    #[prost(message, repeated, tag = "11")]
    pub fallback: Vec<Hop>,
    /// A rate-limit summary: how many messages were held.
    #[prost(uint32, tag = "12")]
    pub held: u32,
    #[prost(string, optional, tag = "13")]
    pub group: Option<String>,
}

/// One event of a message: what happened to which alert, and the alert then.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(enumeration = "EventKind", tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub source: String,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(uint64, tag = "4")]
    pub at: UnixSecs,
    #[prost(message, required, tag = "5")]
    pub alert: Record,
}

impl Event {
    pub fn key(&self) -> AlertKey {
        AlertKey::new(self.source.clone(), self.id.clone())
    }
}

/// A notifier and the address there.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Hop {
    #[prost(string, tag = "1")]
    pub notifier: String,
    #[prost(string, tag = "2")]
    pub to: String,
}

/// The history lines one write added for the alerts of one bucket (so that
/// the number of keys follows buckets written, not alerts: see above).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryBatch {
    #[prost(message, repeated, tag = "1")]
    pub lines: Vec<HistoryLine>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryLine {
    #[prost(string, tag = "1")]
    pub source: String,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(message, required, tag = "3")]
    pub entry: HistoryEntry,
}

/// A history line to write: the alert's bucket, the alert, the line.
pub type History = (u32, AlertKey, HistoryEntry);

/// One line of an alert's history.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct HistoryEntry {
    #[prost(uint64, tag = "1")]
    pub at: UnixSecs,
    /// `update`, `notification` or `note`.
    #[prost(string, tag = "2")]
    pub kind: String,
    #[prost(string, tag = "3")]
    pub text: String,
    #[prost(string, optional, tag = "4")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    #[prost(string, optional, tag = "5")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifier: Option<String>,
    /// For notifications: queued, delivered, retry, gave up, deferred,
    /// batched, rate-limited, away.
    #[prost(string, optional, tag = "6")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Who did it (an action or a note: the user or token).
    #[prost(string, optional, tag = "7")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Notification {
    /// The event, or the unknown stored value.
    pub fn kind(&self) -> std::result::Result<EventKind, i32> {
        EventKind::try_from(self.event).map_err(|_| self.event)
    }

    /// A message holding `events` (at least one), for `notifier`.
    pub fn of_events(notifier: &str, mut events: Vec<Event>) -> Notification {
        let first = if events.is_empty() {
            Event::default()
        } else {
            events.remove(0)
        };
        Notification {
            event: first.kind,
            source: first.source,
            id: first.id,
            at: first.at,
            alert: first.alert,
            notifier: notifier.to_owned(),
            more: events,
            ..Notification::default()
        }
    }

    /// Every event the message holds, the first first.
    pub fn events(&self) -> Vec<Event> {
        let mut all = Vec::with_capacity(1 + self.more.len());
        if !(self.source.is_empty() && self.id.is_empty() && self.held > 0) {
            all.push(Event {
                kind: self.event,
                source: self.source.clone(),
                id: self.id.clone(),
                at: self.at,
                alert: self.alert.clone(),
            });
        }
        all.extend(self.more.iter().cloned());
        all
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

/// The position of one message in one notifier's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueId {
    batch: Vec<u8>,
    index: u32,
    last: bool,
}

/// What the writer hands sled at once: whole buckets, changed details and
/// addressed messages.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Each bucket with every alert it holds (records without detail).
    pub buckets: Vec<(u32, Vec<(AlertKey, Record)>)>,
    /// New detail text of alerts whose detail changed ("" removes it), in
    /// order: a later entry for the same alert wins.
    pub details: Vec<(AlertKey, Arc<str>)>,
    pub messages: Vec<Notification>,
    /// Paging state (`routing::pager`): key → value, None removes it.
    pub paging: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// New lines of alerts' histories.
    pub history: Vec<History>,
}

pub struct Store {
    db: db::Handle,
    /// Details applied but not yet written ("" for one removed): readers
    /// see an alert's detail the moment they see its new state.
    unwritten: Mutex<HashMap<AlertKey, Arc<str>>>,
    next_seq: AtomicU64,
    /// Messages waiting over all notifiers; only the store moves it.
    queue_depth: Gauge,
}

impl Store {
    /// Opens (or creates) the store. `queue_depth` is set to the number of
    /// undelivered messages and kept so. A store of an earlier layout is
    /// brought up to date in one batch.
    pub fn open(path: &Path, cache_bytes: u64, queue_depth: Gauge) -> Result<Store> {
        let db = db::Handle::open(path, cache_bytes)?;
        let store = Store {
            db,
            unwritten: Mutex::default(),
            next_seq: AtomicU64::new(0),
            queue_depth,
        };
        store.upgrade()?;
        store.count()?;
        Ok(store)
    }

    /// Sets the next sequence (they grow across all queues and the dead
    /// letters, and never go back) and the queue depth from what is stored.
    fn count(&self) -> Result<()> {
        let last_seq = |prefix: u8| -> Result<u64> {
            Ok(self
                .scan([prefix])?
                .keys()
                .filter_map(|k| k.ok().map(|k| seq_of(&k) + 1))
                .max()
                .unwrap_or(0))
        };
        let stored = last_seq(QUEUE)?.max(last_seq(DEAD)?);
        self.next_seq.fetch_max(stored, Ordering::Relaxed);
        self.queue_depth.set(self.count_queued()? as i64);
        Ok(())
    }

    /// The stored pairs under `prefix`.
    fn scan<P: AsRef<[u8]>>(&self, prefix: P) -> Result<sled::Iter> {
        Ok(self.db.get()?.scan_prefix(prefix))
    }

    /// Like [`Store::scan`], for the iterators handed out: a closed store
    /// yields its error once.
    fn items(&self, prefix: [u8; 1]) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec)>> {
        let (iter, closed) = match self.db.get() {
            Ok(db) => (Some(db.scan_prefix(prefix)), None),
            Err(err) => (None, Some(Err(err))),
        };
        iter.into_iter()
            .flatten()
            .map(|item| item.map_err(StoreError::from))
            .chain(closed)
    }

    /// Keeps `bytes` free on the data directory's disk (see `db`).
    pub fn keeping_free(mut self, bytes: u64) -> Store {
        self.db.min_free = bytes;
        self
    }

    /// Why the store does not write, if it does not (see `db`).
    pub fn failing(&self) -> Option<Failing> {
        self.db.failing()
    }

    /// Before writing: an error if the disk is too full (see `db`).
    pub fn check_space(&self) -> Result<()> {
        self.db.check_space()
    }

    /// After a failed write: opens the files anew once the disk takes
    /// writes again (see `db`), then recounts the queue. An error says the
    /// disk still fails.
    pub fn recover(&self) -> Result<()> {
        self.db.reopen()?;
        self.count()
    }

    /// Brings an earlier layout up to date: records one per key become
    /// buckets, single queued messages become batches, the due index goes.
    fn upgrade(&self) -> Result<()> {
        let mut batch = sled::Batch::default();
        let mut changed = false;
        for key in self.scan([OLD_DUE])?.keys() {
            batch.remove(key?);
            changed = true;
        }
        let mut next_bucket = self
            .scan([BUCKET])?
            .keys()
            .filter_map(|k| k.ok().and_then(|k| bucket_id(&k)))
            .max()
            .map_or(0, |b| b + 1);
        let mut bucket = Bucket::default();
        for item in self.scan([OLD_ALERT])? {
            let (key, value) = item?;
            let mut record = Record::decode(&*value)?;
            let alert = parse_alert_key(&key[1..]);
            if !record.detail.is_empty() {
                let detail = std::mem::take(&mut record.detail);
                batch.insert(prefixed(DETAIL, &alert), detail.into_bytes());
            }
            bucket.entries.push(BucketEntry {
                source: alert.source,
                id: alert.id,
                record,
            });
            if bucket.entries.len() == BUCKET_SIZE {
                batch.insert(
                    bucket_key(next_bucket),
                    std::mem::take(&mut bucket).encode_to_vec(),
                );
                next_bucket += 1;
            }
            batch.remove(key);
            changed = true;
        }
        if !bucket.entries.is_empty() {
            batch.insert(bucket_key(next_bucket), bucket.encode_to_vec());
        }
        for item in self.scan([QUEUE])? {
            let (key, value) = item?;
            // A batch always starts with field 1, length-delimited (0x0a);
            // a single message of the earlier layout never does (its field 1
            // is a varint, and left out when it is the default kind).
            if value.first() != Some(&0x0a) {
                let single = Notification::decode(&*value)?;
                let upgraded = QueueBatch {
                    messages: vec![single],
                };
                batch.insert(key, upgraded.encode_to_vec());
                changed = true;
            }
        }
        if changed {
            self.db.write(|db| db.apply_batch(batch))?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// Every bucket with its alerts (records without detail), by bucket id.
    pub fn buckets(&self) -> impl Iterator<Item = Result<(u32, Vec<(AlertKey, Record)>)>> + '_ {
        self.items([BUCKET]).map(|item| {
            let (key, value) = item?;
            let id = bucket_id(&key).unwrap_or(u32::MAX);
            let bucket = Bucket::decode(&*value)?;
            let mut alerts = Vec::with_capacity(bucket.entries.len());
            for entry in bucket.entries {
                check_record(&entry.record)?;
                alerts.push((AlertKey::new(entry.source, entry.id), entry.record));
            }
            Ok((id, alerts))
        })
    }

    /// Every alert's record (without detail).
    pub fn records(&self) -> impl Iterator<Item = Result<(AlertKey, Record)>> + '_ {
        self.buckets().flat_map(|bucket| match bucket {
            Ok((_, alerts)) => alerts.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(err) => vec![Err(err)],
        })
    }

    /// One alert's record with its detail. It reads every bucket: for tests
    /// and tools, not for serving (the index answers those).
    pub fn get(&self, key: &AlertKey) -> Result<Option<Record>> {
        for item in self.records() {
            let (found, mut record) = item?;
            if found == *key {
                record.detail = self.detail(key)?;
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Keeps an alert's new detail ("" for none) in memory until a batch
    /// that writes it is on disk; [`Store::detail`] answers with it meanwhile.
    pub fn stage_detail(&self, key: AlertKey, detail: Arc<str>) {
        self.unwritten
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, detail);
    }

    /// An alert's detail ("" when it has none): the one applied last,
    /// written or not.
    pub fn detail(&self, key: &AlertKey) -> Result<String> {
        if let Some(detail) = self
            .unwritten
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return Ok(detail.to_string());
        }
        Ok(self
            .db
            .get()?
            .get(prefixed(DETAIL, key))?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default())
    }

    /// Every alert that has a detail, with the detail.
    pub fn details(&self) -> impl Iterator<Item = Result<(AlertKey, String)>> + '_ {
        self.items([DETAIL]).map(|item| {
            let (key, value) = item?;
            let detail = String::from_utf8_lossy(&value).into_owned();
            Ok((parse_alert_key(&key[1..]), detail))
        })
    }

    /// Writes a batch atomically (not flushed: see [`Store::flush`]).
    /// Returns how many messages were queued.
    pub fn write(&self, batch: &Batch) -> Result<u64> {
        let mut out = sled::Batch::default();
        for (id, alerts) in &batch.buckets {
            if alerts.is_empty() {
                out.remove(bucket_key(*id));
                continue;
            }
            let bucket = Bucket {
                entries: alerts
                    .iter()
                    .map(|(key, record)| BucketEntry {
                        source: key.source.clone(),
                        id: key.id.clone(),
                        record: Record {
                            detail: String::new(),
                            ..record.clone()
                        },
                    })
                    .collect(),
            };
            out.insert(bucket_key(*id), bucket.encode_to_vec());
        }
        for (key, detail) in &batch.details {
            if detail.is_empty() {
                out.remove(prefixed(DETAIL, key));
            } else {
                out.insert(prefixed(DETAIL, key), detail.as_bytes());
            }
        }
        // One value per notifier, its messages in order.
        let mut notifiers: Vec<&str> = batch.messages.iter().map(|m| m.notifier.as_str()).collect();
        notifiers.sort_unstable();
        notifiers.dedup();
        for notifier in notifiers {
            let messages: Vec<&Notification> = batch
                .messages
                .iter()
                .filter(|m| m.notifier == notifier)
                .collect();
            // A storm's messages in values of a bounded size: delivery reads
            // a value whole to take a few of its messages.
            for chunk in messages.chunks(QUEUE_VALUE_MESSAGES) {
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                out.insert(queue_key(notifier, seq), encode_queue_batch(chunk));
            }
        }
        for (key, value) in &batch.paging {
            let mut full = Vec::with_capacity(1 + key.len());
            full.push(PAGING);
            full.extend_from_slice(key);
            match value {
                Some(value) => out.insert(full, value.as_slice()),
                None => out.remove(full),
            }
        }
        self.history_into(&batch.history, &mut out);
        self.db.write(|db| db.apply_batch(out))?;
        // Written: the disk answers for these details now, unless a newer
        // one was applied meanwhile.
        let mut unwritten = self.unwritten.lock().unwrap_or_else(|e| e.into_inner());
        for (key, detail) in &batch.details {
            if unwritten.get(key) == Some(detail) {
                unwritten.remove(key);
            }
        }
        drop(unwritten);
        let queued = batch.messages.len() as u64;
        self.queue_depth.inc_by(queued as i64);
        Ok(queued)
    }

    /// How much disk the store uses.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.get()?.size_on_disk()?)
    }

    /// Where delivery to `notifier` stands: (batch sequence, next index).
    fn cursor(&self, notifier: &str) -> Result<(u64, u32)> {
        Ok(match self.db.get()?.get(cursor_key(notifier))? {
            Some(v) if v.len() == 12 => (
                u64::from_be_bytes(v[..8].try_into().unwrap_or_default()),
                u32::from_be_bytes(v[8..].try_into().unwrap_or_default()),
            ),
            _ => (0, 0),
        })
    }

    fn count_queued(&self) -> Result<usize> {
        let mut total = 0;
        for item in self.scan([QUEUE])? {
            let (key, value) = item?;
            let (name, seq) = parse_queue_key(&key);
            let (at, index) = self.cursor(&name)?;
            let len = QueueBatch::decode(&*value)?.messages.len();
            total += if seq == at {
                len.saturating_sub(index as usize)
            } else {
                len
            };
        }
        Ok(total)
    }

    /// The oldest `limit` messages waiting for `notifier`.
    pub fn queued(&self, notifier: &str, limit: usize) -> Result<Vec<(QueueId, Notification)>> {
        let mut prefix = vec![QUEUE];
        prefix.extend_from_slice(notifier.as_bytes());
        prefix.push(0);
        let (at, skip) = self.cursor(notifier)?;
        let mut out = Vec::new();
        for item in self.scan(prefix)? {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item?;
            let seq = seq_of(&key);
            let messages = QueueBatch::decode(&*value)?.messages;
            let count = messages.len();
            let first = if seq == at { skip as usize } else { 0 };
            for (index, message) in messages.into_iter().enumerate().skip(first) {
                if out.len() >= limit {
                    break;
                }
                let id = QueueId {
                    batch: key.to_vec(),
                    index: index as u32,
                    last: index + 1 == count,
                };
                out.push((id, message));
            }
        }
        Ok(out)
    }

    /// Moves the cursor past a message: the batch goes once its last is done.
    fn advance(&self, id: &QueueId, batch: &mut sled::Batch) {
        let (name, seq) = parse_queue_key(&id.batch);
        if id.last {
            batch.remove(id.batch.clone());
            batch.remove(cursor_key(&name));
        } else {
            let mut cursor = seq.to_be_bytes().to_vec();
            cursor.extend_from_slice(&(id.index + 1).to_be_bytes());
            batch.insert(cursor_key(&name), cursor);
        }
    }

    /// A message was delivered: it leaves the queue.
    pub fn dequeue(&self, id: &QueueId) -> Result<()> {
        let mut batch = sled::Batch::default();
        self.advance(id, &mut batch);
        self.db.write(|db| db.apply_batch(batch))?;
        self.queue_depth.dec();
        Ok(())
    }

    /// Moves a queued message to the dead letters, in one atomic batch.
    pub fn dead_letter(&self, id: &QueueId, letter: &DeadLetter) -> Result<()> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut key = vec![DEAD];
        key.extend_from_slice(&seq.to_be_bytes());
        let mut batch = sled::Batch::default();
        self.advance(id, &mut batch);
        batch.insert(key, letter.encode_to_vec());
        self.db.write(|db| db.apply_batch(batch))?;
        self.queue_depth.dec();
        Ok(())
    }

    /// Gives up on a queued message and queues it for the next notifier of
    /// its fallback, in one atomic batch.
    pub fn forward(&self, id: &QueueId, letter: &DeadLetter, next: Notification) -> Result<()> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut key = vec![DEAD];
        key.extend_from_slice(&seq.to_be_bytes());
        let mut batch = sled::Batch::default();
        self.advance(id, &mut batch);
        batch.insert(key, letter.encode_to_vec());
        let qseq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let notifier = next.notifier.clone();
        batch.insert(
            queue_key(&notifier, qseq),
            QueueBatch {
                messages: vec![next],
            }
            .encode_to_vec(),
        );
        self.db.write(|db| db.apply_batch(batch))?;
        Ok(())
    }

    /// Every paging value (`routing::pager`), by key.
    pub fn paging(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_ {
        self.items([PAGING]).map(|item| {
            let (key, value) = item?;
            Ok((key[1..].to_vec(), value.to_vec()))
        })
    }

    /// One value per bucket for `lines`, into `out`.
    fn history_into(&self, lines: &[History], out: &mut sled::Batch) {
        let mut buckets: Vec<u32> = lines.iter().map(|(b, _, _)| *b).collect();
        buckets.sort_unstable();
        buckets.dedup();
        for bucket in buckets {
            let mut at = 0;
            let lines: Vec<HistoryLine> = lines
                .iter()
                .filter(|(b, _, _)| *b == bucket)
                .map(|(_, key, entry)| {
                    at = at.max(entry.at);
                    HistoryLine {
                        source: key.source.clone(),
                        id: key.id.clone(),
                        entry: entry.clone(),
                    }
                })
                .collect();
            let mut key = Vec::with_capacity(21);
            key.push(HISTORY);
            key.extend_from_slice(&bucket.to_be_bytes());
            key.extend_from_slice(&at.to_be_bytes());
            key.extend_from_slice(&self.next_seq.fetch_add(1, Ordering::Relaxed).to_be_bytes());
            out.insert(key, HistoryBatch { lines }.encode_to_vec());
        }
    }

    /// Adds history lines (not flushed).
    pub fn add_history(&self, lines: &[History]) -> Result<()> {
        let mut out = sled::Batch::default();
        self.history_into(lines, &mut out);
        self.db.write(|db| db.apply_batch(out))?;
        Ok(())
    }

    /// The history of the alert `key`, which lives in `bucket`, oldest first.
    pub fn history(&self, bucket: u32, key: &AlertKey) -> Result<Vec<HistoryEntry>> {
        let mut prefix = vec![HISTORY];
        prefix.extend_from_slice(&bucket.to_be_bytes());
        let mut out = Vec::new();
        for value in self.scan(prefix)?.values() {
            for line in HistoryBatch::decode(&*value?)?.lines {
                if line.source == key.source && line.id == key.id {
                    out.push(line.entry);
                }
            }
        }
        // Lines written later may be about earlier moments (a delivery
        // attempt is written after its batch): order by time, stably.
        out.sort_by_key(|e| e.at);
        Ok(out)
    }

    /// Every history line of every alert (forgotten ones too), with its
    /// alert, oldest first, that `keep` wants.
    /// Values written before `since` (their key holds their latest line's
    /// time) are skipped without being decoded.
    pub fn history_all(
        &self,
        since: UnixSecs,
        mut keep: impl FnMut(&AlertKey, &HistoryEntry) -> bool,
    ) -> Result<Vec<(AlertKey, HistoryEntry)>> {
        let mut out = Vec::new();
        for item in self.scan([HISTORY])? {
            let (key, value) = item?;
            if history_time(&key) < since {
                continue;
            }
            for line in HistoryBatch::decode(&*value)?.lines {
                let key = AlertKey::new(line.source, line.id);
                if keep(&key, &line.entry) {
                    out.push((key, line.entry));
                }
            }
        }
        out.sort_by_key(|(_, e)| e.at);
        Ok(out)
    }

    /// Removes history written before `before`; returns how many values.
    pub fn prune_history(&self, before: UnixSecs) -> Result<usize> {
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for key in self.scan([HISTORY])?.keys() {
            let key = key?;
            if history_time(&key) < before {
                batch.remove(key);
                removed += 1;
            }
        }
        self.db.write(|db| db.apply_batch(batch))?;
        Ok(removed)
    }

    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        self.scan([DEAD])?
            .values()
            .map(|value| Ok(DeadLetter::decode(&*value?)?))
            .collect()
    }

    /// How many messages wait, over all notifiers.
    pub fn queue_len(&self) -> usize {
        self.queue_depth.get().max(0) as usize
    }

    /// Notifier names that have queued messages (to spot removed notifiers).
    pub fn queue_owners(&self) -> Result<Vec<String>> {
        let mut owners: Vec<String> = Vec::new();
        for key in self.scan([QUEUE])?.keys() {
            let (name, _) = parse_queue_key(&key?);
            if owners.last() != Some(&name) {
                owners.push(name);
            }
        }
        Ok(owners)
    }

    /// Writes and flushes a meta entry: proves the store is writable.
    /// Blocks.
    pub fn probe(&self, now: UnixSecs) -> Result<()> {
        self.db.check_space()?;
        self.db
            .write(|db| db.insert([META, b'h'], &now.to_be_bytes()))?;
        self.flush()
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

/// The time in a history key: its value's latest line.
fn history_time(key: &[u8]) -> UnixSecs {
    key.get(5..13)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// A [`QueueBatch`] of `messages`, encoded without copying them first.
fn encode_queue_batch(messages: &[&Notification]) -> Vec<u8> {
    let len = messages
        .iter()
        .map(|m| prost::encoding::message::encoded_len(1, *m))
        .sum();
    let mut out = Vec::with_capacity(len);
    for message in messages {
        prost::encoding::message::encode(1, *message, &mut out);
    }
    out
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

/// An alert key as bytes (length of the source first); see [`alert_key`].
pub fn alert_key_bytes(key: &AlertKey) -> Vec<u8> {
    let mut out = Vec::new();
    encode_alert_key_into(&mut out, key);
    out
}

/// Inverse of [`alert_key_bytes`].
pub fn alert_key(bytes: &[u8]) -> AlertKey {
    parse_alert_key(bytes)
}

fn prefixed(prefix: u8, key: &AlertKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + key.source.len() + key.id.len());
    out.push(prefix);
    encode_alert_key_into(&mut out, key);
    out
}

/// Inverse of [`encode_alert_key_into`]. Keys are only ever written by this
/// module from valid strings, so a short or odd key means a damaged store;
/// it decodes as best it can rather than panicking.
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

fn bucket_key(id: u32) -> Vec<u8> {
    let mut key = vec![BUCKET];
    key.extend_from_slice(&id.to_be_bytes());
    key
}

fn bucket_id(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(1..5)?.try_into().ok()?))
}

fn queue_key(notifier: &str, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + notifier.len());
    out.push(QUEUE);
    out.extend_from_slice(notifier.as_bytes());
    out.push(0);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// The notifier's name and the sequence of a queue key.
fn parse_queue_key(key: &[u8]) -> (String, u64) {
    let name_end = key.len().saturating_sub(9).max(1);
    let name = String::from_utf8_lossy(key.get(1..name_end).unwrap_or_default()).into_owned();
    (name, seq_of(key))
}

fn cursor_key(notifier: &str) -> Vec<u8> {
    let mut out = vec![CURSOR];
    out.extend_from_slice(notifier.as_bytes());
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

    /// Opens, waiting a little for a store just dropped in this process:
    /// sled lets go of its lock from a background thread.
    fn open_at(path: &Path) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(path, 1 << 20, Gauge::default()) {
                Err(StoreError::InUse(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => return opened.unwrap(),
            }
        }
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

    fn message(key: &AlertKey, notifier: &str, at: u64) -> Notification {
        Notification {
            event: EventKind::Raised as i32,
            source: key.source.clone(),
            id: key.id.clone(),
            at,
            alert: record(None),
            notifier: notifier.into(),
            ..Notification::default()
        }
    }

    fn batch(bucket: u32, key: &AlertKey, record: Record, to: &[&str]) -> Batch {
        Batch {
            buckets: vec![(bucket, vec![(key.clone(), record)])],
            details: vec![],
            messages: to.iter().map(|n| message(key, n, 100)).collect(),
            ..Batch::default()
        }
    }

    fn key_bytes(key: &AlertKey) -> Vec<u8> {
        let mut out = Vec::new();
        encode_alert_key_into(&mut out, key);
        out
    }

    #[test]
    fn history_is_kept_per_bucket_and_read_per_alert() {
        let (_dir, store) = open();
        let a = AlertKey::new("src", "a");
        let b = AlertKey::new("src", "ab");
        let line = |at: u64, text: &str| HistoryEntry {
            at,
            kind: "update".into(),
            text: text.into(),
            ..HistoryEntry::default()
        };
        store
            .write(&Batch {
                history: vec![
                    (7, a.clone(), line(100, "raised")),
                    (7, b.clone(), line(100, "raised b")),
                ],
                ..Batch::default()
            })
            .unwrap();
        store
            .add_history(&[(7, a.clone(), line(200, "cleared"))])
            .unwrap();
        let texts = |key: &AlertKey| -> Vec<String> {
            store
                .history(7, key)
                .unwrap()
                .into_iter()
                .map(|h| h.text)
                .collect()
        };
        assert_eq!(texts(&a), ["raised", "cleared"]);
        assert_eq!(texts(&b), ["raised b"]);
        assert!(store.history(8, &a).unwrap().is_empty());
        // One value per bucket per write, not per alert.
        assert_eq!(store.scan([HISTORY]).unwrap().count(), 2);
        let all_since = |since: u64| -> Vec<String> {
            store
                .history_all(since, |_, e| e.at >= since)
                .unwrap()
                .into_iter()
                .map(|(_, h)| h.text)
                .collect()
        };
        assert_eq!(all_since(0), ["raised", "raised b", "cleared"]);
        assert_eq!(all_since(150), ["cleared"]);
        assert!(all_since(201).is_empty());
        assert_eq!(store.prune_history(150).unwrap(), 1);
        assert_eq!(texts(&a), ["cleared"]);
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
    fn a_staged_detail_is_read_until_a_write_of_it_or_of_a_newer_one() {
        let (_dir, store) = open();
        let a = AlertKey::new("src", "a");
        let details = |list: &[&str]| Batch {
            details: list.iter().map(|d| (a.clone(), Arc::from(*d))).collect(),
            ..Batch::default()
        };
        store.write(&details(&["on disk"])).unwrap();
        store.stage_detail(a.clone(), "first".into());
        assert_eq!(store.detail(&a).unwrap(), "first", "staged, not written");
        store.stage_detail(a.clone(), "second".into());
        // The older one is written: the newer stays staged.
        store.write(&details(&["first"])).unwrap();
        assert_eq!(store.detail(&a).unwrap(), "second");
        // A removal then the newer detail, in one batch: the later wins.
        store.write(&details(&["", "second"])).unwrap();
        assert!(
            store.unwritten.lock().unwrap().is_empty(),
            "nothing left staged"
        );
        assert_eq!(store.detail(&a).unwrap(), "second", "from disk");
        store.stage_detail(a.clone(), "".into());
        assert_eq!(store.detail(&a).unwrap(), "", "a staged removal");
    }

    #[test]
    fn buckets_hold_their_alerts_and_details_stay_apart() {
        let (_dir, store) = open();
        let a = AlertKey::new("src", "a");
        let b = AlertKey::new("src", "b");
        let two = Batch {
            buckets: vec![(
                3,
                vec![(a.clone(), record(Some(100))), (b.clone(), record(None))],
            )],
            details: vec![(a.clone(), "<b>big</b>".into())],
            ..Batch::default()
        };
        store.write(&two).unwrap();
        let buckets: Vec<_> = store.buckets().map(|b| b.unwrap()).collect();
        assert_eq!(
            buckets,
            vec![(
                3,
                vec![(a.clone(), record(Some(100))), (b.clone(), record(None))]
            )]
        );
        assert_eq!(store.get(&a).unwrap().unwrap().detail, "<b>big</b>");
        // Rewriting the bucket keeps the detail; an empty bucket goes.
        store.write(&batch(3, &a, record(None), &[])).unwrap();
        assert_eq!(store.detail(&a).unwrap(), "<b>big</b>");
        assert_eq!(store.get(&b).unwrap(), None, "the bucket is written whole");
        store
            .write(&Batch {
                buckets: vec![(3, vec![])],
                ..Batch::default()
            })
            .unwrap();
        assert_eq!(store.buckets().count(), 0);
    }

    #[test]
    fn messages_are_delivered_in_order_across_batches_with_a_cursor() {
        let (_dir, store) = open();
        let key = AlertKey::new("src", "hb");
        let first = Batch {
            messages: vec![
                message(&key, "a", 1),
                message(&key, "b", 1),
                message(&key, "a", 2),
            ],
            ..Batch::default()
        };
        assert_eq!(store.write(&first).unwrap(), 3);
        store.write(&batch(0, &key, record(None), &["a"])).unwrap();
        assert_eq!(store.queue_len(), 4);
        let waiting = store.queued("a", 10).unwrap();
        let at: Vec<u64> = waiting.iter().map(|(_, m)| m.at).collect();
        assert_eq!(at, vec![1, 2, 100]);
        assert!(waiting.iter().all(|(_, m)| m.notifier == "a"));
        store.dequeue(&waiting[0].0).unwrap();
        let rest: Vec<u64> = store
            .queued("a", 10)
            .unwrap()
            .iter()
            .map(|(_, m)| m.at)
            .collect();
        assert_eq!(rest, vec![2, 100]);
        assert_eq!(store.queued("a", 1).unwrap().len(), 1, "the limit holds");
        store.dequeue(&waiting[1].0).unwrap();
        store.dequeue(&waiting[2].0).unwrap();
        assert!(store.queued("a", 10).unwrap().is_empty());
        assert_eq!(store.queue_len(), 1);
        assert_eq!(store.queue_owners().unwrap(), vec!["b".to_string()]);
    }

    #[test]
    fn a_dead_letter_leaves_the_queue_and_is_kept() {
        let (_dir, store) = open();
        let key = AlertKey::new("src", "a");
        store.write(&batch(0, &key, record(None), &["n"])).unwrap();
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
        store.write(&batch(0, &key, bad, &[])).unwrap();
        assert!(matches!(
            store.get(&key),
            Err(StoreError::UnknownEnum { value: 99, .. })
        ));
        let mut message = message(&key, "n", 1);
        message.event = 42;
        assert_eq!(message.kind(), Err(42));
    }

    #[test]
    fn a_store_of_an_earlier_layout_is_upgraded_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let key = AlertKey::new("web", "a");
        let queued = message(&key, "n", 7);
        {
            let db = sled::open(dir.path()).unwrap();
            let old = Record {
                detail: "inline".into(),
                ..record(Some(7))
            };
            db.insert(prefixed(OLD_ALERT, &key), old.encode_to_vec())
                .unwrap();
            let mut due = vec![OLD_DUE];
            due.extend_from_slice(&7u64.to_be_bytes());
            due.extend(key_bytes(&key));
            db.insert(due, &[]).unwrap();
            db.insert(queue_key("n", 4), queued.encode_to_vec())
                .unwrap();
            db.flush().unwrap();
        }
        let store = open_at(dir.path());
        assert_eq!(store.detail(&key).unwrap(), "inline");
        let all: Vec<_> = store.records().map(|r| r.unwrap()).collect();
        assert_eq!(all, vec![(key.clone(), record(Some(7)))]);
        assert_eq!(store.scan([OLD_DUE]).unwrap().count(), 0);
        assert_eq!(store.scan([OLD_ALERT]).unwrap().count(), 0);
        assert_eq!(store.queue_len(), 1);
        assert_eq!(store.queued("n", 10).unwrap()[0].1, queued);
    }

    #[test]
    fn sequence_cursor_and_queue_depth_continue_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = AlertKey::new("s", "i");
        {
            let store = open_at(dir.path());
            let two = Batch {
                messages: vec![message(&key, "n", 1), message(&key, "n", 2)],
                ..Batch::default()
            };
            store.write(&two).unwrap();
            let (first, _) = store.queued("n", 1).unwrap().remove(0);
            store.dequeue(&first).unwrap();
            store.flush().unwrap();
        }
        let store = open_at(dir.path());
        assert_eq!(store.queue_len(), 1, "one delivered before the restart");
        store.write(&batch(0, &key, record(None), &["n"])).unwrap();
        let at: Vec<u64> = store
            .queued("n", 10)
            .unwrap()
            .iter()
            .map(|(_, m)| m.at)
            .collect();
        assert_eq!(at, vec![2, 100]);
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

    #[test]
    fn too_little_free_space_stops_writing_until_there_is_enough() {
        let (_dir, store) = open();
        assert_eq!(store.check_space().ok(), Some(()), "no minimum: no check");
        let store = store.keeping_free(u64::MAX);
        assert!(matches!(store.check_space(), Err(StoreError::Failing(_))));
        assert!(store.probe(1).is_err(), "the probe does not write either");
        let Some(Failing::Space(reason)) = store.failing() else {
            panic!("{:?}", store.failing());
        };
        assert!(reason.contains("store.min_free_mib"), "{reason}");
        let store = store.keeping_free(1);
        assert_eq!(store.check_space().ok(), Some(()));
        assert_eq!(store.failing(), None, "space is back");
    }

    #[test]
    fn reopening_keeps_what_was_flushed_and_writes_again() {
        let (dir, store) = open();
        let key = AlertKey::new("s", "a");
        store
            .write(&batch(0, &key, record(Some(5)), &["n"]))
            .unwrap();
        store.flush().unwrap();
        // The old handle is set aside open, its lock released.
        store.recover().unwrap();
        assert_eq!(store.get(&key).unwrap().unwrap().will_raise_at, Some(5));
        assert_eq!(store.queue_len(), 1, "recounted");
        let other = AlertKey::new("s", "b");
        store
            .write(&batch(1, &other, record(Some(7)), &[]))
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let store = open_at(dir.path());
        assert_eq!(store.get(&key).unwrap().unwrap().will_raise_at, Some(5));
        assert_eq!(store.get(&other).unwrap().unwrap().will_raise_at, Some(7));
    }

    #[test]
    fn a_storm_of_messages_is_queued_in_values_of_bounded_size_and_in_order() {
        let (_dir, store) = open();
        let key = AlertKey::new("s", "a");
        let storm = Batch {
            messages: (0..1000).map(|at| message(&key, "n", at)).collect(),
            ..Batch::default()
        };
        store.write(&storm).unwrap();
        assert_eq!(
            store.scan([QUEUE]).unwrap().count(),
            4,
            "1000 in values of 256"
        );
        assert_eq!(store.queue_len(), 1000);
        let mut seen = Vec::new();
        loop {
            let batch = store.queued("n", 64).unwrap();
            if batch.is_empty() {
                break;
            }
            for (id, m) in batch {
                seen.push(m.at);
                store.dequeue(&id).unwrap();
            }
        }
        assert_eq!(seen, (0..1000).collect::<Vec<u64>>());
        // The hand encoding is the derived one.
        let messages: Vec<Notification> = (0..3).map(|at| message(&key, "n", at)).collect();
        let refs: Vec<&Notification> = messages.iter().collect();
        assert_eq!(
            encode_queue_batch(&refs),
            QueueBatch { messages }.encode_to_vec()
        );
        assert_eq!(store.queue_len(), 0);
    }
}
