//! The writer: the thread that hands sled what the scheduler changed.
//!
//! sled sits behind the in-memory index, not in the per-update path: the
//! scheduler collects dirty alerts and messages and, when the writer is idle,
//! hands it one job (the buckets to write, changed details, and the people
//! waiting for durability). The writer reads the buckets' records and takes
//! what changes said ([`Said`]: messages, history, paging state), applies
//! them as one atomic sled batch, flushes it, wakes the notify workers and
//! answers the waiters, then tells the scheduler it is free. While it works
//! the scheduler goes on applying updates, so a slow disk slows durability,
//! never ingest; what piles up meanwhile is one dirty mark per alert.
//!
//! A batch holds a change exactly when it holds what the change said, so a
//! crash can lose neither a message of a change on disk nor write a
//! message of a change that is not. The records are read a bucket at a
//! time (the scheduler goes on meanwhile): what was said before the first
//! read goes with them, its alerts' buckets added to the job (read after,
//! they hold the change); what is said while they are read is taken at the
//! end under the index's read lock, and its buckets are read again under
//! that same lock ([`Shared::take_holding`]). The scheduler adds to
//! [`Said`] only through [`Shared::say`], which takes the index borrowed
//! for writing, so no change falls between the two.
//!
//! Before each round the writer checks the disk's free space; after a failed
//! write it tries, once a second, to open the store again (`store::db`).
//! Until the store writes again, jobs come back failed at once and the
//! scheduler keeps their changes.

use parking_lot::RwLock;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::chunks::Chunks;
use super::dirty::{Said, Shared, Tier};
use super::{Error, Waiter};
use crate::alert::{AlertKey, Record};
use crate::index::Index;
use crate::metrics::Metrics;
use crate::store::{Batch, Failing, Store, StoreError};

/// One hand-over to the writer.
pub(super) struct Job {
    pub(crate) batch: Batch,
    /// The buckets in the batch, and the tier each was in (to mark them
    /// again if the write fails).
    pub(crate) buckets: Vec<(u32, Tier)>,
    pub(crate) waiting: Vec<Waiter>,
}

/// What the writer says when a job is done. On failure the job comes back
/// so that nothing in it is forgotten.
pub(super) struct Done {
    pub(crate) failed: Option<(Job, StoreError)>,
}

pub(super) struct Writer {
    /// What changes said, shared with the scheduler.
    pub(crate) said: Shared,
    pub(crate) store: Arc<Store>,
    /// Read, a bucket at a time, for the records of the buckets to write.
    pub(crate) index: Arc<RwLock<Index>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) wakes: Arc<crate::scheduler::Wakes>,
}

/// The writer's niceness where its idle priority cannot be had.
const NICENESS: libc::c_int = 10;

/// Puts the writer at idle priority (Linux `SCHED_IDLE`), else at
/// niceness [`NICENESS`], else leaves it (a sandbox that refuses both):
/// under a burst ingest goes first, since a write that waits is only late
/// (bounded by [`super::MAX_WRITE_LAG_MS`]). Why: docs/durability-and-memory.md.
fn yield_to_ingest() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain system calls on the calling thread (0 is the
        // caller for both; per thread on Linux).
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
        if idle {
            return;
        }
        let err = std::io::Error::last_os_error();
        tracing::info!(%err, "the writer's idle priority was refused; a niceness instead");
        // SAFETY: as above.
        let failed = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICENESS) != 0
        };
        if failed {
            // A sandbox that refuses both (a seccomp filter without them):
            // writes compete with ingest for the CPU, nothing else changes.
            let err = std::io::Error::last_os_error();
            tracing::warn!(
                %err,
                "the writer's priority could not be lowered (sched_setscheduler and setpriority refused): under a burst, writes compete with ingest"
            );
        }
    }
}

/// How often a failing store is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

impl Writer {
    /// Starts the thread; dropping the returned sender stops it.
    pub(crate) fn spawn(
        self,
        done: mpsc::UnboundedSender<Done>,
    ) -> std::io::Result<(SyncSender<Job>, std::thread::JoinHandle<()>)> {
        let (jobs, rx) = sync_channel::<Job>(1);
        let thread = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                yield_to_ingest();
                self.run(rx, done)
            })?;
        Ok((jobs, thread))
    }

    fn run(self, jobs: Receiver<Job>, done: mpsc::UnboundedSender<Done>) {
        // Set while writes fail (see `report`).
        let mut failing: Option<(Instant, u64)> = None;
        let mut last_reopen: Option<Instant> = None;
        loop {
            let job = match jobs.recv_timeout(REOPEN_EVERY) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Below the free-space minimum nothing is written; after a
            // failed write the store is opened anew first.
            let _ = self.store.check_space();
            if let Some(Failing::Error(_)) = self.store.failing() {
                if last_reopen.is_none_or(|at| at.elapsed() >= REOPEN_EVERY) {
                    last_reopen = Some(Instant::now());
                    self.reopen();
                }
            }
            let refused = self.store.failing();
            self.metrics.store_failing.set(i64::from(refused.is_some()));
            let Some(mut job) = job else { continue };
            let written = match refused {
                // Handed back at once: the scheduler keeps the changes.
                Some(why) => Err(StoreError::Failing(why.reason().to_owned())),
                None => {
                    self.fill(&mut job);
                    self.store.write(&job.batch).and_then(|queued| {
                        self.store.flush()?;
                        Ok(queued)
                    })
                }
            };
            let failed = match written {
                Ok(queued) => {
                    if let Some((_, failed)) = failing.take() {
                        tracing::info!(failed_writes = failed, "writing to the store works again");
                    }
                    self.metrics.batches.inc();
                    let records: usize = job.batch.buckets.iter().map(|(_, a)| a.len()).sum();
                    self.metrics.records_written.inc_by(records as u64);
                    if queued > 0 {
                        self.wakes.wake_all();
                    }
                    for waiter in job.waiting {
                        waiter.answer(Ok(()));
                    }
                    None
                }
                Err(err) => {
                    self.metrics.store_errors.inc();
                    if !matches!(err, StoreError::Failing(_)) {
                        last_reopen = Some(Instant::now());
                    }
                    report(&mut failing, &err);
                    let mut job = job;
                    self.said.put_back(Said {
                        messages: Chunks::from_vec(std::mem::take(&mut job.batch.messages)),
                        history: Chunks::from_vec(std::mem::take(&mut job.batch.history)),
                        paging: std::mem::take(&mut job.batch.paging),
                        changed: Vec::new(),
                    });
                    for waiter in job.waiting.drain(..) {
                        waiter.answer(Err(Error::Store(StoreError::WriteFailed)));
                    }
                    Some((job, err))
                }
            };
            if done.send(Done { failed }).is_err() {
                return;
            }
        }
    }
}

impl Writer {
    /// Puts the records of the job's buckets and what changes said into
    /// its batch (see the module's comment for why in this order). The
    /// buckets added are in the job's list, so that a failed write marks
    /// them again.
    fn fill(&self, job: &mut Job) {
        self.fill_with(job, || {});
    }

    /// [`Writer::fill`], running `meanwhile` between the records' reads and
    /// the end (where the scheduler may change alerts).
    fn fill_with(&self, job: &mut Job, meanwhile: impl FnOnce()) {
        let mut said = self.said.take();
        add_buckets(&mut job.buckets, &said.changed);
        let mut records: Vec<(u32, Vec<(AlertKey, Record)>)> = job
            .buckets
            .iter()
            .map(|&(bucket, _)| {
                let index = self.index.read();
                (bucket, alerts_of(&index, bucket))
            })
            .collect();
        meanwhile();
        let index = self.index.read();
        let late = self.said.take_holding(&index);
        add_buckets(&mut job.buckets, &late.changed);
        let mut again = late.changed.clone();
        again.sort_unstable();
        again.dedup();
        for bucket in again {
            let alerts = alerts_of(&index, bucket);
            match records.iter_mut().find(|(b, _)| *b == bucket) {
                Some((_, old)) => *old = alerts,
                None => records.push((bucket, alerts)),
            }
        }
        drop(index);
        said.append(late);
        job.batch.buckets = records;
        job.batch.messages = said.messages.take_vec();
        job.batch.history = said.history.take_vec();
        self.said.reuse(said.messages, said.history);
        job.batch.paging = said.paging;
    }

    /// Opens the store again if the disk takes writes; then the notify
    /// workers look at their queues again (their reads failed meanwhile).
    fn reopen(&self) {
        match self.store.recover() {
            Ok(()) => {
                tracing::info!("the disk takes writes again: the store was opened anew");
                self.wakes.wake_all();
            }
            Err(err) => tracing::debug!(%err, "the store still cannot be written"),
        }
    }
}

/// A bucket's alerts and their records as the index holds them now.
fn alerts_of(index: &Index, bucket: u32) -> Vec<(AlertKey, Record)> {
    index
        .bucket(bucket)
        .iter()
        .map(|&s| (index.key(s), index.record(s)))
        .collect()
}

/// Adds to a job's buckets those of `changed` it lacks, as told.
fn add_buckets(buckets: &mut Vec<(u32, Tier)>, changed: &[u32]) {
    let mut have: std::collections::HashSet<u32> = buckets.iter().map(|&(b, _)| b).collect();
    for &bucket in changed {
        if have.insert(bucket) {
            buckets.push((bucket, Tier::Told));
        }
    }
}

/// Logs a failing disk when it starts failing, then once a minute with a
/// count: not per write.
fn report(failing: &mut Option<(Instant, u64)>, err: &StoreError) {
    match failing {
        None => {
            tracing::error!(%err, "the store does not write; changes stay in memory and are written once the disk takes writes again");
            *failing = Some((Instant::now(), 1));
        }
        Some((since, count)) => {
            *count += 1;
            if since.elapsed() >= Duration::from_secs(60) {
                tracing::error!(%err, failed_writes = *count, "writing to the store still fails");
                *since = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::EventKind;
    use crate::alert::Notification;
    use crate::store::BUCKET_SIZE;

    fn record(summary: &str) -> Record {
        Record {
            summary: summary.into(),
            ..Record::default()
        }
    }

    fn message(key: &AlertKey) -> Notification {
        Notification {
            event: EventKind::Raised as i32,
            source: key.source.clone(),
            id: key.id.clone(),
            notifier: "log".into(),
            ..Notification::default()
        }
    }

    /// An index with two full buckets (0 and 1), and a writer over it.
    fn writer() -> (Writer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::new());
        let store = Store::open(&dir.path().join("data"), 1 << 20, Default::default()).unwrap();
        let mut index = Index::new(1000);
        for i in 0..2 * BUCKET_SIZE {
            let key = AlertKey::new("host", format!("a{i}"));
            index.insert(&key, &record("old"), 0).unwrap();
        }
        let index = Arc::new(RwLock::new(index));
        let writer = Writer {
            said: Shared::new(index.clone()),
            store: Arc::new(store),
            index,
            metrics,
            wakes: Arc::default(),
        };
        (writer, dir)
    }

    /// What the scheduler does for a change that says something: the
    /// record and what it said, with the index locked.
    fn change(writer: &Writer, id: &str) {
        let mut index = writer.index.write();
        let slot = index.find("host", id).unwrap();
        index.update(slot, &record("new"), 0);
        let (key, bucket) = (index.key(slot), index.bucket_of(slot));
        let mut said = writer.said.say(&mut index);
        said.messages.push(message(&key));
        said.changed.push(bucket);
    }

    fn summary_in(batch: &Batch, id: &str) -> Option<String> {
        batch.buckets.iter().find_map(|(_, alerts)| {
            alerts
                .iter()
                .find(|(key, _)| key.id == id)
                .map(|(_, r)| r.summary.clone())
        })
    }

    fn job(buckets: &[u32]) -> Job {
        Job {
            batch: Batch::default(),
            buckets: buckets.iter().map(|&b| (b, Tier::Urgent)).collect(),
            waiting: Vec::new(),
        }
    }

    #[test]
    fn a_change_said_before_the_write_goes_with_its_bucket() {
        let (writer, _dir) = writer();
        // Changed after the job was handed over: its bucket (1) was not in it.
        change(&writer, &format!("a{}", BUCKET_SIZE + 3));
        let mut job = job(&[0]);
        writer.fill(&mut job);
        assert_eq!(job.batch.messages.len(), 1);
        assert_eq!(
            summary_in(&job.batch, &format!("a{}", BUCKET_SIZE + 3)).as_deref(),
            Some("new")
        );
        assert!(
            job.buckets.contains(&(1, Tier::Told)),
            "marked again if it fails"
        );
        assert!(writer.said.is_empty());
    }

    #[test]
    fn a_change_made_while_the_records_are_read_goes_with_what_it_said() {
        let (writer, _dir) = writer();
        let mut job = job(&[0, 1]);
        // Bucket 0 is read already when a2 changes and says something.
        writer.fill_with(&mut job, || change(&writer, "a2"));
        assert_eq!(summary_in(&job.batch, "a2").as_deref(), Some("new"));
        assert_eq!(job.batch.messages.len(), 1, "its message is in the batch");
        assert_eq!(job.batch.buckets.len(), 2, "bucket 0 once, read again");
    }

    #[test]
    fn a_failed_write_puts_back_what_was_said_before_anything_newer() {
        let (writer, _dir) = writer();
        change(&writer, "a1");
        let mut job = job(&[]);
        writer.fill(&mut job);
        change(&writer, "a2");
        writer.said.put_back(Said {
            messages: Chunks::from_vec(std::mem::take(&mut job.batch.messages)),
            ..Said::default()
        });
        let ids: Vec<String> = writer
            .said
            .take()
            .messages
            .take_vec()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["a1", "a2"]);
    }
}
