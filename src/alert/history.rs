//! An alert's history: one line per change, action, note and delivery
//! attempt. Every line is made here, by its kind.

use super::UnixSecs;

/// What a history line tells of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryKind {
    /// A change of state, by an update, a timer or an action.
    Update,
    /// A note: by a person, or the station's own remark.
    Note,
    /// A message queued, delivered, retried, held or given up.
    Notification,
}

impl HistoryKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Update => "update",
            HistoryKind::Note => "note",
            HistoryKind::Notification => "notification",
        }
    }
}

/// What an `update` line says became of the alert (read from the words
/// every such line starts with, made in `scheduler::action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    Raised,
    Acknowledged { by: &'a str },
    Unacknowledged,
    Cleared,
    Forgotten,
}

/// One line of an alert's history.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct HistoryEntry {
    #[prost(uint64, tag = "1")]
    pub(crate) at: UnixSecs,
    /// [`HistoryKind`] as stored and shown: `update`, `notification` or
    /// `note`.
    #[prost(string, tag = "2")]
    pub kind: String,
    #[prost(string, tag = "3")]
    pub text: String,
    #[prost(string, optional, tag = "4")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) person: Option<String>,
    #[prost(string, optional, tag = "5")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifier: Option<String>,
    /// For notifications: queued, delivered, retry, gave up, deferred,
    /// batched, rate-limited, away.
    #[prost(string, optional, tag = "6")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Who did it (an action or a note: the user or token).
    #[prost(string, optional, tag = "7")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) by: Option<String>,
}

impl HistoryEntry {
    /// A line of `kind` at `at`.
    pub fn new(at: UnixSecs, kind: HistoryKind, text: impl Into<String>) -> HistoryEntry {
        HistoryEntry {
            at,
            kind: kind.as_str().to_owned(),
            text: text.into(),
            ..HistoryEntry::default()
        }
    }

    /// A line about a message to `person` through `notifier`: `result` is
    /// what became of it (queued, delivered, retry, gave up, …).
    pub(crate) fn notification(
        at: UnixSecs,
        person: Option<String>,
        notifier: &str,
        result: &str,
        text: impl Into<String>,
    ) -> HistoryEntry {
        HistoryEntry {
            person,
            notifier: Some(notifier.to_owned()),
            result: Some(result.to_owned()),
            ..HistoryEntry::new(at, HistoryKind::Notification, text)
        }
    }

    /// The change an `update` line tells of (None: another line, or an
    /// update that changes no state, such as a suppression).
    pub fn change(&self) -> Option<Change<'_>> {
        if self.kind != HistoryKind::Update.as_str() {
            return None;
        }
        let word = self.text.split([' ', ':']).next()?;
        Some(match word {
            "RAISED" => Change::Raised,
            "CLEARED" => Change::Cleared,
            "FORGOTTEN" => Change::Forgotten,
            "UNACKNOWLEDGED" => Change::Unacknowledged,
            "ACKNOWLEDGED" => Change::Acknowledged {
                by: self.by.as_deref().unwrap_or_else(|| {
                    self.text
                        .rsplit_once(" by ")
                        .map_or("", |(_, who)| who.trim_end_matches(" via a message link"))
                }),
            },
            _ => return None,
        })
    }

    /// The same line, by `who`.
    pub(crate) fn authored(self, who: impl Into<String>) -> HistoryEntry {
        HistoryEntry {
            by: Some(who.into()),
            ..self
        }
    }
}
