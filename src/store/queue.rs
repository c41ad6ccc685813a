//! The notification queues: per notifier, values of up to
//! [`QUEUE_VALUE_MESSAGES`] messages in the order written, a cursor saying
//! how far delivery has come, and the dead letters.
//!
//! A notifier's worker sees three operations, the seam two stations will
//! fence: [`Store::take`] (the oldest waiting messages, left in place),
//! [`Store::delivered`] (past the cursor) and [`Store::give_up`] (kept for
//! people to see, and queued for the next notifier of its fallback if
//! there is one), each one atomic batch. Messages are
//! added only by [`Store::write`], with the change that caused them.

use std::sync::atomic::Ordering;

use prost::Message;

use super::keys::{cursor_key, parse_queue_key, queue_key, seq_of};
use super::{Result, Store, DEAD, QUEUE};
use crate::alert::{DeadLetter, Notification};

/// Messages per queue value, at most (one write may queue many more).
pub(super) const QUEUE_VALUE_MESSAGES: usize = 256;

/// The messages one write queued for one notifier, in order.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct QueueBatch {
    #[prost(message, repeated, tag = "1")]
    pub(crate) messages: Vec<Notification>,
}

/// The position of one message in one notifier's queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct QueueId {
    batch: Vec<u8>,
    index: u32,
    last: bool,
}

/// A [`QueueBatch`] of `messages`, encoded without copying them first.
pub(super) fn encode_queue_batch(messages: &[&Notification]) -> Vec<u8> {
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

impl Store {
    /// Where delivery to `notifier` stands: (batch sequence, next index).
    pub(super) fn cursor(&self, notifier: &str) -> Result<(u64, u32)> {
        Ok(match self.db.get()?.get(cursor_key(notifier))? {
            Some(v) if v.len() == 12 => (
                u64::from_be_bytes(v[..8].try_into().unwrap_or_default()),
                u32::from_be_bytes(v[8..].try_into().unwrap_or_default()),
            ),
            _ => (0, 0),
        })
    }

    pub(super) fn count_queued(&self) -> Result<usize> {
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

    /// The oldest `limit` messages waiting for `notifier`; they stay queued
    /// until [`Store::delivered`] or [`Store::give_up`] settles each.
    pub(crate) fn take(
        &self,
        notifier: &str,
        limit: usize,
    ) -> Result<Vec<(QueueId, Notification)>> {
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
    pub(super) fn advance(&self, id: &QueueId, batch: &mut sled::Batch) {
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
    #[cfg(test)]
    pub(crate) fn delivered(&self, id: &QueueId) -> Result<()> {
        self.delivered_all(std::slice::from_ref(id))
    }

    /// Messages delivered, in queue order: they leave the queue in one
    /// write.
    pub(crate) fn delivered_all(&self, ids: &[QueueId]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for id in ids {
            self.advance(id, &mut batch);
        }
        self.db.write(|db| db.apply_batch(batch))?;
        self.queue_depth.dec_by(ids.len() as i64);
        Ok(())
    }

    /// Gives up on a message: it leaves the queue for the dead letters
    /// and, when its fallback names another notifier, `next` is queued
    /// there, in one atomic batch.
    pub(crate) fn give_up(
        &self,
        id: &QueueId,
        letter: &DeadLetter,
        next: Option<&Notification>,
    ) -> Result<()> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut key = vec![DEAD];
        key.extend_from_slice(&seq.to_be_bytes());
        let mut batch = sled::Batch::default();
        self.advance(id, &mut batch);
        batch.insert(key, letter.encode_to_vec());
        if let Some(next) = next {
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            batch.insert(queue_key(&next.notifier, seq), encode_queue_batch(&[next]));
        }
        self.db.write(|db| db.apply_batch(batch))?;
        if next.is_none() {
            self.queue_depth.dec();
        }
        Ok(())
    }

    /// Every dead letter, oldest first.
    pub(crate) fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
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
    pub(crate) fn queue_owners(&self) -> Result<Vec<String>> {
        let mut owners: Vec<String> = Vec::new();
        for key in self.scan([QUEUE])?.keys() {
            let (name, _) = parse_queue_key(&key?);
            if owners.last() != Some(&name) {
                owners.push(name);
            }
        }
        Ok(owners)
    }
}

impl Store {
    /// Queues `messages` into `out`: per notifier, in order, in values of
    /// a bounded size (delivery reads a value whole to take a few of its
    /// messages).
    pub(super) fn queue_into(&self, messages: &[Notification], out: &mut sled::Batch) {
        let mut notifiers: Vec<&str> = messages.iter().map(|m| m.notifier.as_str()).collect();
        notifiers.sort_unstable();
        notifiers.dedup();
        for notifier in notifiers {
            let mine: Vec<&Notification> =
                messages.iter().filter(|m| m.notifier == notifier).collect();
            for chunk in mine.chunks(QUEUE_VALUE_MESSAGES) {
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                out.insert(queue_key(notifier, seq), encode_queue_batch(chunk));
            }
        }
    }
}
