//! The writer: the thread that hands sled what the scheduler changed.
//!
//! sled sits behind the in-memory index, not in the per-update path: the
//! scheduler collects dirty alerts and messages and, when the writer is idle,
//! hands it one job (the alerts' current records, changed details, addressed
//! messages, and the people waiting for durability). The writer applies the
//! job as one atomic sled batch, flushes it, wakes the notify workers and
//! answers the waiters, then tells the scheduler it is free. While it works
//! the scheduler goes on applying updates, so a slow disk slows durability,
//! never ingest; what piles up meanwhile is one dirty mark per alert.
//!
//! Before each round the writer checks the disk's free space; after a failed
//! write it tries, once a second, to open the store again (`store::db`).
//! Until the store writes again, jobs come back failed at once and the
//! scheduler keeps their changes.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use super::dirty::Tier;
use super::{Error, Waiter};
use crate::alert::{AlertKey, Record};
use crate::index::Index;
use crate::metrics::Metrics;
use crate::store::{Batch, Failing, Store, StoreError};

/// One hand-over to the writer.
pub(super) struct Job {
    pub batch: Batch,
    /// The buckets in the batch, and the tier each was in (to mark them
    /// again if the write fails).
    pub buckets: Vec<(u32, Tier)>,
    pub waiting: Vec<Waiter>,
}

/// What the writer says when a job is done. On failure the job comes back
/// so that nothing in it is forgotten.
pub(super) struct Done {
    pub failed: Option<(Job, StoreError)>,
}

pub(super) struct Writer {
    pub store: Arc<Store>,
    /// Read, a bucket at a time, for the records of the buckets to write.
    pub index: Arc<RwLock<Index>>,
    pub metrics: Arc<Metrics>,
    pub wakes: Vec<Arc<Notify>>,
}

/// How often a failing store is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

impl Writer {
    /// Starts the thread; dropping the returned sender stops it.
    pub fn spawn(
        self,
        done: mpsc::UnboundedSender<Done>,
    ) -> std::io::Result<(SyncSender<Job>, std::thread::JoinHandle<()>)> {
        let (jobs, rx) = sync_channel::<Job>(1);
        let thread = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || self.run(rx, done))?;
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
                    job.batch.buckets = self.records(&job.buckets);
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
                        for wake in &self.wakes {
                            wake.notify_one();
                        }
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
    /// Each bucket's records as they are now; the lock is held for one
    /// bucket at a time, so the scheduler goes on applying meanwhile.
    fn records(&self, buckets: &[(u32, Tier)]) -> Vec<(u32, Vec<(AlertKey, Record)>)> {
        buckets
            .iter()
            .map(|&(bucket, _)| {
                let index = self.index.read().unwrap_or_else(|e| e.into_inner());
                let alerts = index
                    .bucket(bucket)
                    .iter()
                    .map(|&s| (index.key(s), index.record(s)))
                    .collect();
                (bucket, alerts)
            })
            .collect()
    }

    /// Opens the store again if the disk takes writes; then the notify
    /// workers look at their queues again (their reads failed meanwhile).
    fn reopen(&self) {
        match self.store.recover() {
            Ok(()) => {
                tracing::info!("the disk takes writes again: the store was opened anew");
                for wake in &self.wakes {
                    wake.notify_one();
                }
            }
            Err(err) => tracing::debug!(%err, "the store still cannot be written"),
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
