//! Alerts' histories: one value per group of alerts and write, keyed by
//! group and time, so the number of keys follows groups written, not lines.
//! An alert's group is worked out from its key alone ([`group_of`]): a
//! stage that writes or reads a history needs the alert key and nothing
//! else.

use std::sync::atomic::Ordering;

use prost::Message;

use super::{Result, Store, HISTORY, OLD_HISTORY, SEQ_MARK};
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

/// A history line to write: the alert and the line.
pub type History = (AlertKey, HistoryEntry);

/// Groups of alerts sharing history values. More groups make an alert's
/// history cheaper to read (fewer neighbours' lines) and a round of many
/// changes dearer to write (more keys): 4,096 holds a million alerts'
/// lines in values of a few hundred alerts each, and a round that changes
/// every alert writes 4,096 values.
const GROUPS: u32 = 4096;

/// The group whose values hold `key`'s history: a checksum of the key,
/// the same on every machine and every version.
fn group_of(key: &AlertKey) -> u16 {
    (crc32fast::hash(&key.to_bytes()) % GROUPS) as u16
}

pub(super) fn history_key(group: u16, at: UnixSecs, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(19);
    key.push(HISTORY);
    key.extend_from_slice(&group.to_be_bytes());
    key.extend_from_slice(&at.to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `lines` as one value per group, each with its group and latest time.
fn grouped(lines: impl Iterator<Item = HistoryLine>) -> Vec<(u16, UnixSecs, HistoryBatch)> {
    let mut lines: Vec<(u16, HistoryLine)> = lines
        .map(|line| {
            let key = AlertKey::new(line.source.clone(), line.id.clone());
            (group_of(&key), line)
        })
        .collect();
    // Stable: the lines of one group keep their order.
    lines.sort_by_key(|(group, _)| *group);
    let mut out: Vec<(u16, UnixSecs, HistoryBatch)> = Vec::new();
    for (group, line) in lines {
        match out.last_mut() {
            Some((g, at, batch)) if *g == group => {
                *at = (*at).max(line.entry.at);
                batch.lines.push(line);
            }
            _ => out.push((group, line.entry.at, HistoryBatch { lines: vec![line] })),
        }
    }
    out
}

impl Store {
    /// One value per group for `lines`, into `out`.
    pub(super) fn history_into(&self, lines: &[History], out: &mut sled::Batch) {
        if lines.is_empty() {
            return;
        }
        let lines = lines.iter().map(|(key, entry)| HistoryLine {
            source: key.source.clone(),
            id: key.id.clone(),
            entry: entry.clone(),
        });
        let mut written = Vec::new();
        for (group, at, batch) in grouped(lines) {
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            out.insert(history_key(group, at, seq), batch.encode_to_vec());
            written.push((group, at, seq));
        }
        super::history_time::index_into(&written, out);
        // With the lines: the sequence after them (see `Store::count`).
        let next = self.next_seq.load(Ordering::Relaxed);
        out.insert(&SEQ_MARK[..], &next.to_be_bytes()[..]);
    }

    /// Adds history lines (not flushed).
    pub(crate) fn add_history(&self, lines: &[History]) -> Result<()> {
        let mut out = sled::Batch::default();
        self.history_into(lines, &mut out);
        self.db.write(|db| db.apply_batch(out))?;
        Ok(())
    }

    /// The history of the alert `key`, oldest first.
    pub fn history(&self, key: &AlertKey) -> Result<Vec<HistoryEntry>> {
        let mut prefix = vec![HISTORY];
        prefix.extend_from_slice(&group_of(key).to_be_bytes());
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
}

/// Values of the layout before groups (keyed by the index's bucket id)
/// regrouped under the current prefix, in batches of this many.
const REGROUP_BATCH: usize = 4096;

impl Store {
    /// Brings history of the earlier layout (a value per bucket of the
    /// index, under [`OLD_HISTORY`]) into groups: each old value's lines
    /// go to their groups' values with the old value's time and sequence,
    /// so doing it again after a crash midway writes the same keys.
    /// Returns how many old values were regrouped.
    pub(super) fn regroup_history(&self) -> Result<usize> {
        let mut done = 0;
        loop {
            let mut batch = sled::Batch::default();
            let mut taken = 0;
            for item in self.scan([OLD_HISTORY])?.take(REGROUP_BATCH) {
                let (key, value) = item?;
                let (at, seq) = (history_time_old(&key), super::keys::seq_of(&key));
                let lines = HistoryBatch::decode(&*value)?.lines.into_iter();
                let mut written = Vec::new();
                for (group, _, lines) in grouped(lines) {
                    batch.insert(history_key(group, at, seq), lines.encode_to_vec());
                    written.push((group, at, seq));
                }
                super::history_time::index_into(&written, &mut batch);
                batch.remove(key);
                taken += 1;
            }
            if taken == 0 {
                return Ok(done);
            }
            self.db.write(|db| db.apply_batch(batch))?;
            done += taken;
        }
    }
}

/// The time in a key of the earlier layout (prefix, bucket u32, time, seq).
fn history_time_old(key: &[u8]) -> UnixSecs {
    key.get(5..13)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}
