//! The alerts' records, in buckets of up to [`BUCKET_SIZE`], rewritten
//! whole (their details are in `details`).

use prost::Message;

use super::keys::{bucket_id, bucket_key};
use super::{Result, Store, StoreError, BUCKET};
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
        for item in self.buckets() {
            let (bucket, alerts) = item?;
            for (found, mut record) in alerts {
                if found == *key {
                    record.detail = self.detail(bucket, key)?;
                    return Ok(Some(record));
                }
            }
        }
        Ok(None)
    }
}

/// The buckets' values into `out`: a bucket with no alert left is removed.
pub(super) fn write_into(buckets: &[(u32, Vec<(AlertKey, Record)>)], out: &mut sled::Batch) {
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
}
