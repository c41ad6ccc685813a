//! Alerts' histories: one value per bucket and write, keyed by bucket and
//! time, so the number of keys follows buckets written, not lines.

use std::sync::atomic::Ordering;

use prost::Message;

use super::{Result, Store, HISTORY, SEQ_MARK};
use crate::alert::{AlertKey, HistoryEntry, UnixSecs};

/// The history lines one write added for the alerts of one bucket (so that
/// the number of keys follows buckets written, not alerts: see above).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HistoryBatch {
    #[prost(message, repeated, tag = "1")]
    pub(crate) lines: Vec<HistoryLine>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HistoryLine {
    #[prost(string, tag = "1")]
    pub(crate) source: String,
    #[prost(string, tag = "2")]
    pub(crate) id: String,
    #[prost(message, required, tag = "3")]
    pub(crate) entry: HistoryEntry,
}

/// A history line to write: the alert's bucket, the alert, the line.
pub(crate) type History = (u32, AlertKey, HistoryEntry);

/// The time in a history key: its value's latest line.
pub(super) fn history_time(key: &[u8]) -> UnixSecs {
    key.get(5..13)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

impl Store {
    /// One value per bucket for `lines`, into `out`.
    pub(super) fn history_into(&self, lines: &[History], out: &mut sled::Batch) {
        // Grouped by bucket (in order within one), without a pass over
        // every line per bucket: a round of new alerts has thousands of
        // buckets.
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by_key(|&i| lines[i].0);
        for group in order.chunk_by(|&a, &b| lines[a].0 == lines[b].0) {
            let bucket = lines[group[0]].0;
            let mut at = 0;
            let lines: Vec<HistoryLine> = group
                .iter()
                .map(|&i| {
                    let (_, key, entry) = &lines[i];
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
        if !lines.is_empty() {
            // With the lines: the sequence after them (see `Store::count`).
            let next = self.next_seq.load(Ordering::Relaxed);
            out.insert(&SEQ_MARK[..], &next.to_be_bytes()[..]);
        }
    }

    /// Adds history lines (not flushed).
    pub(crate) fn add_history(&self, lines: &[History]) -> Result<()> {
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
    pub(crate) fn history_all(
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
    pub(crate) fn prune_history(&self, before: UnixSecs) -> Result<usize> {
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
}
