//! What a notifier is handed: a queued notification whose stored fields have
//! been checked, and the JSON document notifiers pass on.

use crate::alert::{AlertKey, EventKind, Record, UnixSecs};
use crate::store::Notification;
use crate::view::AlertView;

/// One message to deliver.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub event: EventKind,
    pub key: AlertKey,
    /// When the event happened.
    pub at: UnixSecs,
    /// The alert as it was then.
    pub alert: Record,
    pub recipient: Option<String>,
}

impl TryFrom<&Notification> for Message {
    /// The stored event kind this version does not know.
    type Error = i32;

    fn try_from(n: &Notification) -> Result<Self, i32> {
        Ok(Message {
            event: n.kind()?,
            key: n.key(),
            at: n.at,
            alert: n.alert.clone(),
            recipient: n.recipient.clone(),
        })
    }
}

impl Message {
    /// The JSON document: `{"event", "at", "alert": AlertView}`.
    pub fn document(&self) -> serde_json::Value {
        serde_json::json!({
            "event": self.event.as_str(),
            "at": self.at,
            "to": self.recipient,
            "alert": AlertView::new(&self.key, &self.alert),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn message() -> Message {
        Message {
            event: EventKind::Raised,
            key: AlertKey::new("web1", "disk"),
            at: 1_700_000_000,
            alert: Record {
                subject: "web1".into(),
                summary: "disk full".into(),
                raised_at: Some(1_700_000_000),
                ..Record::default()
            },
            recipient: None,
        }
    }

    #[test]
    fn the_document_carries_event_and_alert() {
        let doc = message().document();
        assert_eq!(doc["event"], "raised");
        assert_eq!(doc["at"], 1_700_000_000);
        assert_eq!(doc["alert"]["source"], "web1");
        assert_eq!(doc["alert"]["id"], "disk");
        assert_eq!(doc["alert"]["state"], "raised");
        assert_eq!(doc["alert"]["summary"], "disk full");
    }

    #[test]
    fn an_unknown_stored_kind_is_refused() {
        let n = Notification {
            event: 77,
            ..Notification::default()
        };
        assert_eq!(Message::try_from(&n), Err(77));
    }
}
