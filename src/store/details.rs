//! The alerts' details: one value per bucket (`e` + bucket id) holding the
//! details of that bucket's alerts, so that the number of keys follows
//! buckets, not alerts (sled's memory follows its keys: a hundred thousand
//! Prometheus alerts, each with a detail under its own key, held 700 MiB).
//! A detail over [`OWN_KEY_OVER`] bytes keeps its own key (`t` + alert key)
//! and the bucket's value says so, so that a bucket's value stays small
//! however large one detail is. Only the writer writes here; a change reads
//! the bucket's value, changes its entries and writes it back in the batch.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;

use super::keys::prefixed;
use super::{Result, Store, DETAIL, DETAILS};
use crate::alert::AlertKey;

/// Details longer than this are stored under their own key.
pub(crate) const OWN_KEY_OVER: usize = 1024;

/// A change of detail: the alert's bucket, the alert, the new detail (""
/// removes it).
pub(crate) type DetailChange = (u32, AlertKey, Arc<str>);

/// The details of one bucket's alerts.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DetailBucket {
    #[prost(message, repeated, tag = "1")]
    pub(crate) entries: Vec<DetailEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DetailEntry {
    #[prost(string, tag = "1")]
    pub(crate) source: String,
    #[prost(string, tag = "2")]
    pub(crate) id: String,
    /// The detail, or "" when it is stored under its own key.
    #[prost(string, tag = "3")]
    pub(crate) detail: String,
    #[prost(bool, tag = "4")]
    pub(crate) own_key: bool,
}

impl DetailEntry {
    fn is(&self, key: &AlertKey) -> bool {
        self.source == key.source && self.id == key.id
    }
}

pub(super) fn details_key(bucket: u32) -> Vec<u8> {
    let mut key = vec![DETAILS];
    key.extend_from_slice(&bucket.to_be_bytes());
    key
}

impl Store {
    /// The stored details of a bucket (none if it has none, or if its
    /// value does not decode: a damaged value loses its details, not the
    /// store's writes).
    fn detail_bucket(&self, bucket: u32) -> Result<DetailBucket> {
        let Some(value) = self.db.get()?.get(details_key(bucket))? else {
            return Ok(DetailBucket::default());
        };
        Ok(DetailBucket::decode(&*value).unwrap_or_else(|err| {
            tracing::error!(bucket, %err, "a stored bucket of details does not decode: its details are dropped");
            DetailBucket::default()
        }))
    }

    /// The changes into `out`, a bucket's value read and written back once
    /// however many of its alerts changed; in order, so that a later change
    /// of the same alert wins.
    pub(super) fn details_into(
        &self,
        changes: &[DetailChange],
        out: &mut sled::Batch,
    ) -> Result<()> {
        let mut order: Vec<usize> = (0..changes.len()).collect();
        order.sort_by_key(|&i| changes[i].0);
        for group in order.chunk_by(|&a, &b| changes[a].0 == changes[b].0) {
            let bucket = changes[group[0]].0;
            let mut stored = self.detail_bucket(bucket)?;
            for &i in group {
                let (_, key, detail) = &changes[i];
                change(&mut stored.entries, key, detail, out);
            }
            if stored.entries.is_empty() {
                out.remove(details_key(bucket));
            } else {
                out.insert(details_key(bucket), stored.encode_to_vec());
            }
        }
        Ok(())
    }

    /// The stored detail of alert `key`, which lives in `bucket` ("" when
    /// it has none). One applied and not written yet is the index's.
    pub(crate) fn detail(&self, bucket: u32, key: &AlertKey) -> Result<String> {
        self.stored_detail(&self.detail_bucket(bucket)?, key)
    }

    /// An alert's detail as its bucket's stored value says.
    fn stored_detail(&self, stored: &DetailBucket, key: &AlertKey) -> Result<String> {
        match stored.entries.iter().find(|e| e.is(key)) {
            Some(entry) if entry.own_key => self.own_detail(key),
            Some(entry) => Ok(entry.detail.clone()),
            None => Ok(String::new()),
        }
    }

    /// The details of many alerts, each with its bucket, in the order
    /// asked: each bucket's value is read once however many of its alerts
    /// are asked for. An alert whose detail cannot be read gets "".
    pub(crate) fn details_of(&self, alerts: &[(u32, AlertKey)]) -> Vec<String> {
        let mut out = vec![String::new(); alerts.len()];
        let mut order: Vec<usize> = (0..alerts.len()).collect();
        order.sort_by_key(|&i| alerts[i].0);
        for group in order.chunk_by(|&a, &b| alerts[a].0 == alerts[b].0) {
            let stored = self.detail_bucket(alerts[group[0]].0).unwrap_or_default();
            for &i in group {
                out[i] = self
                    .stored_detail(&stored, &alerts[i].1)
                    .unwrap_or_default();
            }
        }
        out
    }

    fn own_detail(&self, key: &AlertKey) -> Result<String> {
        Ok(self
            .db
            .get()?
            .get(prefixed(DETAIL, key))?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default())
    }

    /// Every alert that has a detail, with the detail.
    pub(crate) fn details(&self) -> Result<Vec<(AlertKey, String)>> {
        let mut out = Vec::new();
        for item in self.items([DETAILS]) {
            let (_, value) = item?;
            for entry in DetailBucket::decode(&*value)?.entries {
                let key = AlertKey::new(entry.source, entry.id);
                let detail = if entry.own_key {
                    self.own_detail(&key)?
                } else {
                    entry.detail
                };
                out.push((key, detail));
            }
        }
        Ok(out)
    }

    /// An earlier layout kept every detail under its own key: each is moved
    /// into its alert's bucket (or, if large, marked there); a detail of no
    /// stored alert goes. `more` are details of records upgraded in the
    /// same batch. Run at open, into the upgrade's batch; true if it changed
    /// anything.
    pub(super) fn upgrade_details(
        &self,
        more: Vec<DetailChange>,
        out: &mut sled::Batch,
    ) -> Result<bool> {
        let mut own = self.scan([DETAIL])?.peekable();
        let old_layout = own.peek().is_some() && self.scan([DETAILS])?.next().is_none();
        if !old_layout && more.is_empty() {
            return Ok(false);
        }
        let mut changes: Vec<DetailChange> = Vec::new();
        if old_layout {
            let mut bucket_of: HashMap<AlertKey, u32> = HashMap::new();
            for item in self.buckets() {
                let (id, alerts) = item?;
                bucket_of.extend(alerts.into_iter().map(|(key, _)| (key, id)));
            }
            for item in own {
                let (key, value) = item?;
                let alert = AlertKey::from_bytes(&key[1..]);
                out.remove(key);
                if let Some(&bucket) = bucket_of.get(&alert) {
                    let detail = String::from_utf8_lossy(&value);
                    changes.push((bucket, alert, Arc::from(detail.as_ref())));
                }
            }
        }
        changes.extend(more);
        // No bucket of details is stored yet: each starts empty.
        let mut buckets: HashMap<u32, Vec<DetailEntry>> = HashMap::new();
        for (bucket, key, detail) in &changes {
            change(buckets.entry(*bucket).or_default(), key, detail, out);
        }
        for (bucket, entries) in buckets {
            out.insert(
                details_key(bucket),
                DetailBucket { entries }.encode_to_vec(),
            );
        }
        Ok(true)
    }
}

/// One alert's new detail in its bucket's entries; its own key written or
/// removed in `out` as the detail's size says.
fn change(entries: &mut Vec<DetailEntry>, key: &AlertKey, detail: &str, out: &mut sled::Batch) {
    let at = entries.iter().position(|e| e.is(key));
    let had_own_key = at.is_some_and(|i| entries[i].own_key);
    let own_key = detail.len() > OWN_KEY_OVER;
    if own_key {
        out.insert(prefixed(DETAIL, key), detail.as_bytes());
    } else if had_own_key {
        out.remove(prefixed(DETAIL, key));
    }
    let entry = DetailEntry {
        source: key.source.clone(),
        id: key.id.clone(),
        detail: if own_key {
            String::new()
        } else {
            detail.to_owned()
        },
        own_key,
    };
    match (at, detail.is_empty()) {
        (Some(i), true) => {
            entries.swap_remove(i);
        }
        (Some(i), false) => entries[i] = entry,
        (None, true) => {}
        (None, false) => entries.push(entry),
    }
}
