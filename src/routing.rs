//! Who is told of an event: a pure function of the event, the alert and the
//! configuration, called by the scheduler inside the round that caused the
//! event, so that the addressed messages are written in the same atomic batch
//! as the change itself.
//!
//! Today every event goes to every configured notifier, with no recipient of
//! its own (the notifier's configuration says where it goes). Alert groups,
//! people, windows and rotations will decide here instead.

use crate::alert::{AlertKey, EventKind, Record, UnixSecs};
use crate::store::Notification;

/// The messages one event causes, each addressed to one notifier.
pub fn address(
    key: &AlertKey,
    event: EventKind,
    at: UnixSecs,
    record: &Record,
    notifiers: &[String],
) -> Vec<Notification> {
    notifiers
        .iter()
        .map(|notifier| Notification {
            event: event as i32,
            source: key.source.clone(),
            id: key.id.clone(),
            at,
            alert: record.clone(),
            notifier: notifier.clone(),
            recipient: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notifier_gets_one_message() {
        let key = AlertKey::new("web1", "disk");
        let record = Record::default();
        let names = ["log".to_string(), "pager".to_string()];
        let messages = address(&key, EventKind::Raised, 7, &record, &names);
        let to: Vec<&str> = messages.iter().map(|m| m.notifier.as_str()).collect();
        assert_eq!(to, ["log", "pager"]);
        assert!(messages
            .iter()
            .all(|m| m.key() == key && m.at == 7 && m.kind() == Ok(EventKind::Raised)));
        assert!(address(&key, EventKind::Raised, 7, &record, &[]).is_empty());
    }
}
