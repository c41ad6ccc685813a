//! The only way into the scheduler.
//!
//! Ingest and HTTP each hold a clone; nothing else sees the channel. The
//! channel is bounded, so a flood waits here (and then in the kernel's
//! socket buffer, where it is dropped and counted) instead of growing memory.

use tokio::sync::{mpsc, oneshot};

use super::{Action, Command, Error};
use crate::alert::{AlertKey, Record, Update};

#[derive(Clone, Debug)]
pub struct SchedulerHandle {
    tx: mpsc::Sender<Command>,
}

impl SchedulerHandle {
    pub(super) fn new(tx: mpsc::Sender<Command>) -> Self {
        SchedulerHandle { tx }
    }

    /// Commands handed over and not yet taken by the scheduler.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    async fn send(&self, command: Command) -> Result<(), Error> {
        self.tx.send(command).await.map_err(|_| Error::Stopped)
    }

    /// Queues messages made elsewhere (the other station's, handed over);
    /// returns once they are on disk.
    #[cfg_attr(not(feature = "ha"), allow(dead_code))]
    pub(crate) async fn queue(
        &self,
        messages: Vec<crate::alert::Notification>,
    ) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Queue(messages, done)).await?;
        wait.await.map_err(|_| Error::Stopped)?
    }

    /// Hands updates over; they are applied in the next round.
    pub(crate) async fn apply(&self, updates: Vec<Update>) -> Result<(), Error> {
        self.send(Command::Apply {
            updates,
            durable: None,
        })
        .await
    }

    /// Applies updates and returns once they are written and flushed.
    pub async fn apply_durably(&self, updates: Vec<Update>) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Apply {
            updates,
            durable: Some(done),
        })
        .await?;
        wait.await.map_err(|_| Error::Stopped)?
    }

    /// Acts on one alert on behalf of `by`; the answer comes once the
    /// change (and its history line) is on disk.
    pub async fn act(&self, key: AlertKey, by: &str, action: Action) -> Result<Record, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Act {
            key,
            by: by.to_owned(),
            action,
            reply,
        })
        .await?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// The same action on many alerts: every command is handed over first,
    /// then the answers are awaited, so the changes share their writes
    /// instead of waiting for one flush each. Answers in the keys' order.
    pub(crate) async fn act_many(
        &self,
        keys: &[AlertKey],
        by: &str,
        action: &Action,
    ) -> Vec<Result<Record, Error>> {
        let mut answers = Vec::with_capacity(keys.len());
        for key in keys {
            let (reply, answer) = oneshot::channel();
            let sent = self
                .send(Command::Act {
                    key: key.clone(),
                    by: by.to_owned(),
                    action: action.clone(),
                    reply,
                })
                .await;
            answers.push(sent.map(|()| answer));
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(match answer {
                Ok(answer) => answer.await.unwrap_or(Err(Error::Stopped)),
                Err(err) => Err(err),
            });
        }
        results
    }

    /// Returns once everything handed over before is written and flushed,
    /// timer-only changes included.
    pub async fn flush(&self) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Flush(done)).await?;
        wait.await.map_err(|_| Error::Stopped)?
    }

    /// Routes by `router` from the next decision on; returns once the
    /// scheduler has taken it.
    pub(crate) async fn reroute(&self, router: crate::routing::Router) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Reroute(Box::new(router), done)).await?;
        wait.await.map_err(|_| Error::Stopped)
    }

    /// Asks the scheduler to finish its round, flush and stop.
    pub(crate) async fn stop(&self) {
        let _ = self.send(Command::Stop).await;
    }
}
