//! Bringing a store of an earlier layout up to date at open, in one batch.

use prost::Message;

use super::buckets::{Bucket, BucketEntry};
use super::keys::{bucket_id, bucket_key};
use super::queue::QueueBatch;
use super::{DetailChange, Result, Store, BUCKET, BUCKET_SIZE, QUEUE};
use crate::alert::{AlertKey, Notification, Record};

/// Earlier layouts: one record per key, and a due index. Upgraded at open.
pub(super) const OLD_ALERT: u8 = b'a';

pub(super) const OLD_DUE: u8 = b'd';

/// The layout this mauved writes, kept in the store (meta `format`): a
/// store of a later layout is refused at open rather than misread (a
/// mauved of before this mark read a later store without a word, showing
/// every detail empty). Layouts before the mark count as 1.
pub(crate) const FORMAT: u32 = 3;

const FORMAT_KEY: &[u8] = b"format";

impl Store {
    /// The layout the store says it holds (1: none said).
    fn format(&self) -> Result<u32> {
        Ok(self
            .meta(FORMAT_KEY)?
            .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
            .map_or(1, u32::from_be_bytes))
    }

    /// Refuses a store written by a newer mauved.
    pub(super) fn check_format(&self) -> Result<()> {
        let found = self.format()?;
        if found > FORMAT {
            return Err(super::StoreError::Newer {
                found,
                known: FORMAT,
            });
        }
        Ok(())
    }

    /// Says the store holds this layout (after [`Store::upgrade`]).
    pub(super) fn mark_format(&self) -> Result<()> {
        if self.format()? < FORMAT {
            self.set_meta(FORMAT_KEY, &FORMAT.to_be_bytes())?;
        }
        Ok(())
    }

    /// Brings an earlier layout up to date: records one per key become
    /// buckets, details one per key go into their buckets' values, single
    /// queued messages become batches, the due index goes, history by
    /// bucket goes into groups by alert key.
    pub(super) fn upgrade(&self) -> Result<()> {
        let mut batch = sled::Batch::default();
        let mut changed = self.regroup_history()? > 0;
        for key in self.scan([OLD_DUE])?.keys() {
            batch.remove(key?);
            changed = true;
        }
        let mut next_bucket = self
            .scan([BUCKET])?
            .keys()
            .filter_map(|k| k.ok().and_then(|k| bucket_id(&k)))
            .max()
            .map_or(0, |b| b + 1);
        let mut bucket = Bucket::default();
        let mut details: Vec<DetailChange> = Vec::new();
        for item in self.scan([OLD_ALERT])? {
            let (key, value) = item?;
            let mut record = Record::decode(&*value)?;
            let alert = AlertKey::from_bytes(&key[1..]);
            if !record.detail.is_empty() {
                let detail = std::mem::take(&mut record.detail);
                details.push((next_bucket, alert.clone(), detail.into()));
            }
            bucket.entries.push(BucketEntry {
                source: alert.source,
                id: alert.id,
                record,
            });
            if bucket.entries.len() == BUCKET_SIZE {
                batch.insert(
                    bucket_key(next_bucket),
                    std::mem::take(&mut bucket).encode_to_vec(),
                );
                next_bucket += 1;
            }
            batch.remove(key);
            changed = true;
        }
        if !bucket.entries.is_empty() {
            batch.insert(bucket_key(next_bucket), bucket.encode_to_vec());
        }
        changed |= self.upgrade_details(details, &mut batch)?;
        for item in self.scan([QUEUE])? {
            let (key, value) = item?;
            // A batch always starts with field 1, length-delimited (0x0a);
            // a single message of the earlier layout never does (its field 1
            // is a varint, and left out when it is the default kind).
            if value.first() != Some(&0x0a) {
                let single = Notification::decode(&*value)?;
                let upgraded = QueueBatch {
                    messages: vec![single],
                };
                batch.insert(key, upgraded.encode_to_vec());
                changed = true;
            }
        }
        if changed {
            tracing::warn!(
                "the store is of an earlier layout: upgraded in place (a copy of the data directory taken before this start is the way back to the earlier mauved)"
            );
            self.db.write(|db| db.apply_batch(batch))?;
            self.db.flush()?;
        }
        Ok(())
    }
}
