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
        out.insert(bucket_key(*id), encode_bucket(alerts));
    }
}

/// A [`Bucket`] of `alerts` (each record without its detail), encoded
/// straight from them: the same bytes as building the `Bucket` and
/// encoding it, without copying every key and record into it first.
pub(super) fn encode_bucket(alerts: &[(AlertKey, Record)]) -> Vec<u8> {
    use prost::encoding::{encode_key, encode_varint, WireType};
    let mut out = Vec::new();
    for (key, record) in alerts {
        let record = without_detail(record);
        // As `BucketEntry`'s derived encoding: a proto3 string is left out
        // when empty; the record, required, is always there.
        encode_key(1, WireType::LengthDelimited, &mut out);
        encode_varint(entry_len(key, &record) as u64, &mut out);
        if !key.source.is_empty() {
            prost::encoding::string::encode(1, &key.source, &mut out);
        }
        if !key.id.is_empty() {
            prost::encoding::string::encode(2, &key.id, &mut out);
        }
        prost::encoding::message::encode(3, record.as_ref(), &mut out);
    }
    out
}

/// The encoded length of one [`BucketEntry`].
fn entry_len(key: &AlertKey, record: &Record) -> usize {
    let text = |tag, text: &String| {
        if text.is_empty() {
            0
        } else {
            prost::encoding::string::encoded_len(tag, text)
        }
    };
    text(1, &key.source) + text(2, &key.id) + prost::encoding::message::encoded_len(3, record)
}

/// `record` without its detail (kept apart, in `details`): copied only
/// when it has one.
fn without_detail(record: &Record) -> std::borrow::Cow<'_, Record> {
    if record.detail.is_empty() {
        std::borrow::Cow::Borrowed(record)
    } else {
        std::borrow::Cow::Owned(Record {
            detail: String::new(),
            ..record.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[a-zé☃ ]{1,40}"]
    }

    proptest! {
        #[test]
        fn a_bucket_encoded_from_its_records_is_the_bucket_encoded(
            alerts in prop::collection::vec(
                (text(), text(), text(), text(), proptest::option::of(0u64..u64::MAX), any::<bool>()),
                0..8,
            )
        ) {
            let alerts: Vec<(AlertKey, Record)> = alerts
                .into_iter()
                .map(|(source, id, summary, detail, raised, acked)| {
                    let record = Record {
                        summary,
                        detail,
                        raised_at: raised,
                        acknowledged_by: acked.then(|| "alice".to_owned()),
                        ..Record::default()
                    };
                    (AlertKey::new(source, id), record)
                })
                .collect();
            let built = Bucket {
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
            prop_assert_eq!(encode_bucket(&alerts), built.encode_to_vec());
        }
    }
}
