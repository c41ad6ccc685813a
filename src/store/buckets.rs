//! The alerts' keyspaces: records in buckets of up to [`BUCKET_SIZE`],
//! rewritten whole, and each alert's detail under its own key.

use std::sync::Arc;

use prost::Message;

use super::keys::{bucket_id, bucket_key, prefixed};
use super::{Result, Store, StoreError, BUCKET, DETAIL};
use crate::alert::{AlertKey, EventKind, Record};

/// Refuses enum values this version does not know (they would otherwise be
/// read as some other kind).
pub(super) fn check_record(record: &Record) -> Result<()> {
    for (field, value) in [
        ("update type", record.update_type),
        ("notified event", record.notified),
    ] {
        if let Some(value) = value.filter(|&v| EventKind::try_from(v).is_err()) {
            return Err(StoreError::UnknownEnum { field, value });
        }
    }
    Ok(())
}

/// Up to [`BUCKET_SIZE`] alerts, stored as one value.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Bucket {
    #[prost(message, repeated, tag = "1")]
    pub(crate) entries: Vec<BucketEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct BucketEntry {
    #[prost(string, tag = "1")]
    pub(crate) source: String,
    #[prost(string, tag = "2")]
    pub(crate) id: String,
    /// The record without its detail.
    #[prost(message, required, tag = "3")]
    pub(crate) record: Record,
}

impl Store {
    /// Every bucket with its alerts (records without detail), by bucket id.
    pub(crate) fn buckets(
        &self,
    ) -> impl Iterator<Item = Result<(u32, Vec<(AlertKey, Record)>)>> + '_ {
        self.items([BUCKET]).map(|item| {
            let (key, value) = item?;
            let id = bucket_id(&key).unwrap_or(u32::MAX);
            let bucket = Bucket::decode(&*value)?;
            let mut alerts = Vec::with_capacity(bucket.entries.len());
            for entry in bucket.entries {
                check_record(&entry.record)?;
                alerts.push((AlertKey::new(entry.source, entry.id), entry.record));
            }
            Ok((id, alerts))
        })
    }

    /// Every alert's record (without detail).
    pub fn records(&self) -> impl Iterator<Item = Result<(AlertKey, Record)>> + '_ {
        self.buckets().flat_map(|bucket| match bucket {
            Ok((_, alerts)) => alerts.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(err) => vec![Err(err)],
        })
    }

    /// One alert's record with its detail. It reads every bucket: for tests
    /// and tools, not for serving (the index answers those).
    #[cfg(test)]
    pub(crate) fn get(&self, key: &AlertKey) -> Result<Option<Record>> {
        for item in self.records() {
            let (found, mut record) = item?;
            if found == *key {
                record.detail = self.detail(key)?;
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Keeps an alert's new detail ("" for none) in memory until a batch
    /// that writes it is on disk; [`Store::detail`] answers with it meanwhile.
    pub(crate) fn stage_detail(&self, key: AlertKey, detail: Arc<str>) {
        self.unwritten
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, detail);
    }

    /// An alert's detail ("" when it has none): the one applied last,
    /// written or not.
    pub(crate) fn detail(&self, key: &AlertKey) -> Result<String> {
        if let Some(detail) = self
            .unwritten
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return Ok(detail.to_string());
        }
        Ok(self
            .db
            .get()?
            .get(prefixed(DETAIL, key))?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default())
    }

    /// Every alert that has a detail, with the detail.
    pub(crate) fn details(&self) -> impl Iterator<Item = Result<(AlertKey, String)>> + '_ {
        self.items([DETAIL]).map(|item| {
            let (key, value) = item?;
            let detail = String::from_utf8_lossy(&value).into_owned();
            Ok((AlertKey::from_bytes(&key[1..]), detail))
        })
    }
}

/// The buckets' values and the details' keys, into `out`: a bucket with no
/// alert left is removed, and so is a detail set to "".
pub(super) fn write_into(
    buckets: &[(u32, Vec<(AlertKey, Record)>)],
    details: &[(AlertKey, Arc<str>)],
    out: &mut sled::Batch,
) {
    for (id, alerts) in buckets {
        if alerts.is_empty() {
            out.remove(bucket_key(*id));
            continue;
        }
        let bucket = Bucket {
            entries: alerts
                .iter()
                .map(|(key, record)| BucketEntry {
                    source: key.source.clone(),
                    id: key.id.clone(),
                    record: Record {
                        detail: String::new(),
                        ..record.clone()
                    },
                })
                .collect(),
        };
        out.insert(bucket_key(*id), bucket.encode_to_vec());
    }
    for (key, detail) in details {
        if detail.is_empty() {
            out.remove(prefixed(DETAIL, key));
        } else {
            out.insert(prefixed(DETAIL, key), detail.as_bytes());
        }
    }
}

impl Store {
    /// Written: the disk answers for these details now, unless a newer one
    /// was applied meanwhile.
    pub(super) fn details_written(&self, details: &[(AlertKey, Arc<str>)]) {
        let mut unwritten = self.unwritten.lock().unwrap_or_else(|e| e.into_inner());
        for (key, detail) in details {
            if unwritten.get(key) == Some(detail) {
                unwritten.remove(key);
            }
        }
    }
}
