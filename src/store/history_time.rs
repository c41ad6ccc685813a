//! History by time: one index entry per write of history lines, keyed by
//! the write's latest line and its first value's sequence, naming the
//! values the write made (`history.rs`). Written in the same batch as the
//! lines, so a page of `/api/history` (by `since`, `until`, source, kind)
//! reads the entries and values of that page, not the keyspace, and
//! pruning by `history_days` deletes by range.
//!
//! Lines come in the order they were written, each write's by time; lines
//! of two writes a moment apart (a delivery attempt written just after the
//! change it tells of) may interleave a little out of time order.

use prost::Message;

use super::history::{history_key, HistoryBatch};
use super::{Result, Store, HISTORY_TIME};
use crate::alert::{AlertKey, HistoryEntry, UnixSecs};

/// Lines are written within this of their time (a write's lines are of
/// that moment; a delivery attempt's are written after it). A page that
/// ends at `until` reads entries up to this past it.
const LATE: UnixSecs = 3600;

/// One value of a write: its group, latest time and sequence.
type Written = (u16, UnixSecs, u64);

fn entry_key(at: UnixSecs, seq: u64) -> [u8; 17] {
    let mut key = [0; 17];
    key[0] = HISTORY_TIME;
    key[1..9].copy_from_slice(&at.to_be_bytes());
    key[9..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn entry_of(key: &[u8]) -> Option<(UnixSecs, u64)> {
    Some((
        u64::from_be_bytes(key.get(1..9)?.try_into().ok()?),
        u64::from_be_bytes(key.get(9..17)?.try_into().ok()?),
    ))
}

fn written_of(value: &[u8]) -> impl Iterator<Item = Written> + '_ {
    value.chunks_exact(18).map(|c| {
        (
            u16::from_be_bytes([c[0], c[1]]),
            u64::from_be_bytes(c[2..10].try_into().unwrap_or_default()),
            u64::from_be_bytes(c[10..18].try_into().unwrap_or_default()),
        )
    })
}

/// The index entry for the values one write made, into `out`.
pub(super) fn index_into(written: &[Written], out: &mut sled::Batch) {
    let (Some(latest), Some(first)) = (
        written.iter().map(|w| w.1).max(),
        written.iter().map(|w| w.2).min(),
    ) else {
        return;
    };
    let mut value = Vec::with_capacity(written.len() * 18);
    for (group, at, seq) in written {
        value.extend_from_slice(&group.to_be_bytes());
        value.extend_from_slice(&at.to_be_bytes());
        value.extend_from_slice(&seq.to_be_bytes());
    }
    out.insert(&entry_key(latest, first)[..], value);
}

/// Where a page of history starts: an index entry, and how many of its
/// matching lines came before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    at: UnixSecs,
    seq: u64,
    skip: usize,
}

impl Cursor {
    /// As an API cursor: `at-seq-skip`.
    pub fn encode(&self) -> String {
        format!("{}-{}-{}", self.at, self.seq, self.skip)
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let mut parts = text.splitn(3, '-').map(str::parse::<u64>);
        let (at, seq, skip) = (
            parts.next()?.ok()?,
            parts.next()?.ok()?,
            parts.next()?.ok()?,
        );
        Some(Cursor {
            at,
            seq,
            skip: usize::try_from(skip).ok()?,
        })
    }
}

/// Which lines a page holds.
pub struct Wanted<F: FnMut(&AlertKey, &HistoryEntry) -> bool> {
    pub since: UnixSecs,
    pub until: Option<UnixSecs>,
    /// Anything else (source, kind, …).
    pub keep: F,
}

/// A page: its lines, and where the next starts (None: no more).
pub type Page = (Vec<(AlertKey, HistoryEntry)>, Option<Cursor>);

impl Store {
    /// Up to `limit` lines of every alert's history (forgotten ones too)
    /// that `wanted` holds, from `from` or the start of `wanted.since`.
    pub fn history_page<F: FnMut(&AlertKey, &HistoryEntry) -> bool>(
        &self,
        mut wanted: Wanted<F>,
        from: Option<Cursor>,
        limit: usize,
    ) -> Result<Page> {
        let db = self.db.get()?;
        let start = match from {
            Some(c) => entry_key(c.at, c.seq),
            None => entry_key(wanted.since, 0),
        };
        let mut out = Vec::new();
        for item in db.range(start..=entry_key(u64::MAX, u64::MAX)) {
            let (key, value) = item?;
            let Some((at, seq)) = entry_of(&key) else {
                continue;
            };
            if wanted.until.is_some_and(|u| at >= u.saturating_add(LATE)) {
                break;
            }
            let mut lines = Vec::new();
            for (group, at, seq) in written_of(&value) {
                let Some(value) = db.get(history_key(group, at, seq))? else {
                    continue;
                };
                for line in HistoryBatch::decode(&*value)?.lines {
                    let key = AlertKey::new(line.source, line.id);
                    let e = &line.entry;
                    if e.at >= wanted.since
                        && wanted.until.is_none_or(|u| e.at < u)
                        && (wanted.keep)(&key, e)
                    {
                        lines.push((key, line.entry));
                    }
                }
            }
            lines.sort_by_key(|(_, e)| e.at);
            let skip = match from {
                Some(c) if (c.at, c.seq) == (at, seq) => c.skip,
                _ => 0,
            };
            for (n, line) in lines.into_iter().enumerate().skip(skip) {
                if out.len() == limit {
                    return Ok((out, Some(Cursor { at, seq, skip: n })));
                }
                out.push(line);
            }
        }
        Ok((out, None))
    }

    /// Every line `wanted` holds (a page as long as it takes).
    pub(crate) fn history_all<F: FnMut(&AlertKey, &HistoryEntry) -> bool>(
        &self,
        wanted: Wanted<F>,
    ) -> Result<Vec<(AlertKey, HistoryEntry)>> {
        self.history_page(wanted, None, usize::MAX)
            .map(|(lines, _)| lines)
    }

    /// Removes the history written before `before` (by range: what is
    /// pruned is what is read); returns how many values.
    pub fn prune_history(&self, before: UnixSecs) -> Result<usize> {
        let db = self.db.get()?;
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for item in db.range(entry_key(0, 0)..entry_key(before, 0)) {
            let (key, value) = item?;
            for (group, at, seq) in written_of(&value) {
                batch.remove(history_key(group, at, seq));
                removed += 1;
            }
            batch.remove(key);
        }
        self.db.write(|db| db.apply_batch(batch))?;
        Ok(removed)
    }
}
