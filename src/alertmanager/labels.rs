//! A mauved alert as Alertmanager shows one: its labels and fingerprint.
//! The webhook format, the v2 API and silences all use these, so a matcher
//! written against one holds against the others.

use std::collections::BTreeMap;

use crate::alert::AlertKey;

/// `alertname` (the id), `source`, `subject`, `alert_group`, `level`.
pub fn of(key: &AlertKey, subject: &str, group: &str, level: &str) -> BTreeMap<String, String> {
    [
        ("alertname", key.id.as_str()),
        ("source", key.source.as_str()),
        ("subject", subject),
        ("alert_group", group),
        ("level", level),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A stable fingerprint of an alert (FNV-1a, 64 bits, as hex).
pub fn fingerprint(key: &AlertKey) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.source.bytes().chain([0]).chain(key.id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
