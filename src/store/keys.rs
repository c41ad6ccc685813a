//! Keys: one sled tree holds every keyspace under a one-byte prefix (the
//! table in `store`); an alert key inside a key is [`AlertKey::to_bytes`].

use super::{BUCKET, CURSOR, QUEUE};
use crate::alert::AlertKey;

pub(super) fn prefixed(prefix: u8, key: &AlertKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + key.source.len() + key.id.len());
    out.push(prefix);
    key.encode_into(&mut out);
    out
}

pub(super) fn bucket_key(id: u32) -> Vec<u8> {
    let mut key = vec![BUCKET];
    key.extend_from_slice(&id.to_be_bytes());
    key
}

pub(super) fn bucket_id(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(1..5)?.try_into().ok()?))
}

pub(super) fn queue_key(notifier: &str, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + notifier.len());
    out.push(QUEUE);
    out.extend_from_slice(notifier.as_bytes());
    out.push(0);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// The notifier's name and the sequence of a queue key.
pub(super) fn parse_queue_key(key: &[u8]) -> (String, u64) {
    let name_end = key.len().saturating_sub(9).max(1);
    let name = String::from_utf8_lossy(key.get(1..name_end).unwrap_or_default()).into_owned();
    (name, seq_of(key))
}

pub(super) fn cursor_key(notifier: &str) -> Vec<u8> {
    let mut out = vec![CURSOR];
    out.extend_from_slice(notifier.as_bytes());
    out
}

pub(super) fn seq_of(key: &[u8]) -> u64 {
    key.len()
        .checked_sub(8)
        .and_then(|start| key[start..].try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}
