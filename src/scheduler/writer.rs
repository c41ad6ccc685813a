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

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, Notify};

use super::dirty::Tier;
use super::{Error, Waiter};
use crate::index::Index;
use crate::metrics::Metrics;
use crate::store::{Batch, Store, StoreError};

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
        // A failing disk is logged when it starts failing, then once a
        // minute with a count, and when it works again: not per write.
        let mut failing: Option<(std::time::Instant, u64)> = None;
        for mut job in jobs {
            // Each bucket's records as they are now; the lock is held for one
            // bucket at a time, so the scheduler goes on applying meanwhile.
            job.batch.buckets = job
                .buckets
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
                .collect();
            let written = self.store.write(&job.batch).and_then(|queued| {
                self.store.flush()?;
                Ok(queued)
            });
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
                    match &mut failing {
                        None => {
                            tracing::error!(%err, "writing to the store failed; changes stay in memory and are tried again");
                            failing = Some((std::time::Instant::now(), 1));
                        }
                        Some((since, count)) => {
                            *count += 1;
                            if since.elapsed() >= std::time::Duration::from_secs(60) {
                                tracing::error!(%err, failed_writes = *count, "writing to the store still fails");
                                *since = std::time::Instant::now();
                            }
                        }
                    }
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
