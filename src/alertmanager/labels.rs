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

/// The value of label `name` as [`of`] would give it, when that is known
/// without the alert's group (None: `alert_group` and `level`). A name
/// [`of`] never gives is "" (an alert lacks it).
pub fn without_group<'a>(name: &str, key: &'a AlertKey, subject: &'a str) -> Option<&'a str> {
    match name {
        "alertname" => Some(key.id.as_str()),
        "source" => Some(key.source.as_str()),
        "subject" => Some(subject),
        "alert_group" | "level" => None,
        _ => Some(""),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_known_without_the_group_agrees_with_the_labels() {
        let key = AlertKey::new("web1", "disk");
        let labels = of(&key, "web1.example.com", "web", "urgent");
        for (name, value) in &labels {
            if let Some(known) = without_group(name, &key, "web1.example.com") {
                assert_eq!(known, value, "{name}");
            }
        }
        assert_eq!(without_group("alert_group", &key, "x"), None);
        assert_eq!(without_group("team", &key, "x"), Some(""));
        assert!(!labels.contains_key("team"));
    }
}
