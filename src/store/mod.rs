//! Durable state in sled: the copy of the in-memory index that survives a
//! restart, the notification queues and the dead letters.
//!
//! Owns the disk layout; must not define what it keeps (records, messages and
//! history lines are `alert`'s), decide when to write (the scheduler's
//! writer) nor who is told (`routing`).
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
//! round's buckets, details and messages go to disk in one atomic batch.
//! Each keyspace has its file:
//!
//! | prefix | key                                  | value                              | file |
//! |--------|--------------------------------------|------------------------------------|------|
//! | `b`    | bucket id (u32 BE)                   | `Bucket`: keys and records         | `buckets.rs` |
//! | `e`    | bucket id (u32 BE)                   | `DetailBucket`: the details of the bucket's alerts | `details.rs` |
//! | `t`    | alert key                            | a detail over 1 KiB (marked in its `e` value) | `details.rs` |
//! | `q`    | notifier name, 0, sequence (u64 BE)  | `QueueBatch`: messages in order    | `queue.rs` |
//! | `c`    | notifier name                        | delivery cursor: sequence, index   | `queue.rs` |
//! | `x`    | sequence (u64 BE)                    | a `DeadLetter`                     | `queue.rs` |
//! | `g`    | `a` + alert key, or `p` + person     | paging state (`routing::pager`)    | `paging.rs` |
//! | `l`    | alert group (u16 BE), time (u64 BE), sequence (u64 BE) | `HistoryBatch`: lines of the group's alerts | `history.rs` |
//! | `i`    | time (u64 BE), sequence (u64 BE): a write of history lines | the `l` values it wrote (group, time, sequence) | `history_time.rs` |
//! | `s`    | silence id                           | a silence, as JSON                 | `silences.rs` |
//! | `m`    | meta name                            | anything                           | here |
//!
//! `keys.rs` builds and reads the keys, `upgrade.rs` brings an earlier
//! layout up to date at open, `db.rs` holds sled and its failures. The
//! store keeps what others define: records, messages and history lines are
//! `alert`'s types.
//!
//! An alert key is the source's length (u16 BE), the source, then the id: no
//! choice of characters can make two keys collide. Details (up to 64 KiB,
//! rarely read) are kept apart from the records, a value per bucket of
//! alerts, so that record writes never carry them. There
//! is no due index on disk: the scheduler rebuilds it in memory from the
//! records at start (`index`).
//!
//! Nothing is flushed here on a timer: the scheduler's writer decides when a
//! batch is written and flushed. The store does not decide who is told
//! either: messages arrive addressed.

pub mod backup;
mod buckets;
mod db;
mod details;
mod history;
mod history_time;
mod keys;
mod meta;
mod paging;
mod queue;
mod silences;
mod upgrade;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::gauge::Gauge;

pub(crate) use self::db::Failing;
pub(crate) use self::details::DetailChange;
pub use self::history::History;
pub use self::history_time::Cursor as HistoryCursor;
pub use self::history_time::Wanted as HistoryWanted;
use self::keys::seq_of;
pub(crate) use self::queue::QueueId;
use crate::alert::{AlertKey, Notification, Record, UnixSecs};

/// Alerts per bucket.
pub const BUCKET_SIZE: usize = 64;

const BUCKET: u8 = b'b';
const DETAIL: u8 = b't';
const DETAILS: u8 = b'e';
const QUEUE: u8 = b'q';
const CURSOR: u8 = b'c';
const DEAD: u8 = b'x';
const META: u8 = b'm';
const SILENCE: u8 = b's';
const PAGING: u8 = b'g';
const HISTORY: u8 = b'l';
const HISTORY_TIME: u8 = b'i';
/// History of the layout before groups (upgraded at open).
const OLD_HISTORY: u8 = b'h';

/// The sequence last written with history lines: their keys hold no
/// undelivered message, so the queues do not say how far they went.
const SEQ_MARK: [u8; 4] = [META, b's', b'e', b'q'];
/// Sequences taken by other writes between one write's mark and its being
/// written, at the most: skipped after a restart.
const SEQ_MARGIN: u64 = 1 << 32;

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
    #[error(
        "store: it holds layout {found}, written by a newer mauved; this one knows layouts up to {known}: \
         run that newer mauved (or this one on a copy of the data directory taken before the upgrade)"
    )]
    Newer { found: u32, known: u32 },
}

pub(crate) type Result<T> = std::result::Result<T, StoreError>;

/// What the writer hands sled at once: whole buckets, changed details and
/// addressed messages.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Each bucket with every alert it holds (records without detail).
    pub buckets: Vec<(u32, Vec<(AlertKey, Record)>)>,
    /// New detail text of alerts whose detail changed ("" removes it), with
    /// their buckets, in order: a later entry for the same alert wins.
    pub details: Vec<DetailChange>,
    pub messages: Vec<Notification>,
    /// Paging state (`routing::pager`) changed; None removes it.
    pub(crate) paging: Vec<crate::routing::pager::PagingState>,
    /// New lines of alerts' histories.
    pub history: Vec<History>,
}

impl Batch {
    /// A batch of whole buckets and nothing else.
    pub fn of_buckets(buckets: Vec<(u32, Vec<(AlertKey, Record)>)>) -> Batch {
        Batch {
            buckets,
            ..Batch::default()
        }
    }

    /// A batch of history lines and nothing else.
    pub fn of_history(history: Vec<History>) -> Batch {
        Batch {
            history,
            ..Batch::default()
        }
    }
}

pub struct Store {
    db: db::Handle,
    next_seq: AtomicU64,
    /// Messages waiting over all notifiers; only the store moves it.
    queue_depth: Gauge,
    /// Held by a test to keep writes from finishing.
    #[cfg(test)]
    pub(crate) hold: parking_lot::Mutex<()>,
}

impl Store {
    /// Opens (or creates) the store. `queue_depth` is set to the number of
    /// undelivered messages and kept so. A store of an earlier layout is
    /// brought up to date in one batch.
    pub fn open(path: &Path, cache_bytes: u64, queue_depth: Gauge) -> Result<Store> {
        let db = db::Handle::open(path, cache_bytes)?;
        let store = Store {
            db,
            next_seq: AtomicU64::new(0),
            queue_depth,
            #[cfg(test)]
            hold: parking_lot::Mutex::new(()),
        };
        store.check_format()?;
        store.upgrade()?;
        store.mark_format()?;
        store.count()?;
        Ok(store)
    }

    /// Sets the next sequence (they grow across all queues, the dead
    /// letters and the history, and never go back) and the queue depth from
    /// what is stored.
    fn count(&self) -> Result<()> {
        let last_seq = |prefix: u8| -> Result<u64> {
            Ok(self
                .scan([prefix])?
                .keys()
                .filter_map(|k| k.ok().map(|k| seq_of(&k) + 1))
                .max()
                .unwrap_or(0))
        };
        // History keys repeat their bucket and second after a restart in
        // the same second (or a clock stepped back): their sequence must
        // go on past the last one written, or a line overwrites another.
        let history = match self.db.get()?.get(SEQ_MARK)? {
            Some(mark) => seq_of(&mark).saturating_add(SEQ_MARGIN),
            // A store written before the mark: its history keys, once.
            None => last_seq(HISTORY)?,
        };
        let stored = last_seq(QUEUE)?.max(last_seq(DEAD)?).max(history);
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
    pub(crate) fn keeping_free(mut self, bytes: u64) -> Store {
        self.db.min_free = bytes;
        self
    }

    /// Why the store does not write, if it does not (see `db`).
    pub(crate) fn failing(&self) -> Option<Failing> {
        self.db.failing()
    }

    /// Before writing: an error if the disk is too full (see `db`).
    pub(crate) fn check_space(&self) -> Result<()> {
        self.db.check_space()
    }

    /// After a failed write: opens the files anew once the disk takes
    /// writes again (see `db`), then recounts the queue. An error says the
    /// disk still fails.
    pub(crate) fn recover(&self) -> Result<()> {
        self.db.reopen()?;
        self.count()
    }

    /// Writes a batch atomically (not flushed: see [`Store::flush`]).
    /// Returns how many messages were queued.
    pub fn write(&self, batch: &Batch) -> Result<u64> {
        #[cfg(test)]
        let _held = self.hold.lock();
        let mut out = sled::Batch::default();
        buckets::write_into(&batch.buckets, &mut out);
        self.details_into(&batch.details, &mut out)?;
        self.queue_into(&batch.messages, &mut out);
        paging::write_into(&batch.paging, &mut out);
        self.history_into(&batch.history, &mut out);
        self.db.write(|db| db.apply_batch(out))?;
        let queued = batch.messages.len() as u64;
        self.queue_depth.inc_by(queued as i64);
        Ok(queued)
    }

    /// How much disk the store uses.
    pub(crate) fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.get()?.size_on_disk()?)
    }

    /// Writes and flushes a meta entry: proves the store is writable.
    /// Blocks.
    pub(crate) fn probe(&self, now: UnixSecs) -> Result<()> {
        self.db.check_space()?;
        self.db
            .write(|db| db.insert([META, b'h'], &now.to_be_bytes()))?;
        self.flush()
    }

    /// A small value kept under the meta prefix (see `meta.rs`).
    fn meta(&self, name: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = [&[META][..], name].concat();
        Ok(self.db.get()?.get(key)?.map(|v| v.to_vec()))
    }

    /// Sets a meta value and flushes it.
    fn set_meta(&self, name: &[u8], value: &[u8]) -> Result<()> {
        let key = [&[META][..], name].concat();
        self.db.write(|db| db.insert(key, value))?;
        self.flush()
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
