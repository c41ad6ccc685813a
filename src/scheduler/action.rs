//! What an operator may do to one alert, and how the history words it and
//! the events the scheduler records.

use crate::alert::{EventKind, HistoryKind, Record, UnixSecs};

/// An operator action on one alert (shared between stations as JSON).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Acknowledge {
        until: UnixSecs,
        /// Through an action link in a message (the history says so).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_link: bool,
    },
    Unacknowledge,
    Raise,
    Clear,
    Suppress {
        until: UnixSecs,
    },
    Unsuppress,
    /// A silence mutes the alert until `until` (as a suppression does).
    Silence {
        until: UnixSecs,
        silence: String,
        comment: String,
    },
    /// A silence ended early: the alert is let go, or kept quiet until
    /// `still_until` when other silences still mute it.
    Unsilence {
        silence: String,
        still_until: Option<UnixSecs>,
    },
    Note {
        text: String,
    },
    /// Deletes the alert, its timers and queued reminders.
    Forget,
}

impl Action {
    /// What the alert's history says of it.
    pub(super) fn history(&self, by: &str, zone: &jiff::tz::TimeZone) -> (HistoryKind, String) {
        let at = |t: UnixSecs| crate::timefmt::in_zone(t, zone);
        match self {
            Action::Acknowledge { until, by_link } => (
                HistoryKind::Update,
                format!(
                    "ACKNOWLEDGED until {} by {by}{}",
                    at(*until),
                    if *by_link { " via a message link" } else { "" }
                ),
            ),
            Action::Unacknowledge => (HistoryKind::Update, format!("UNACKNOWLEDGED by {by}")),
            Action::Raise => (HistoryKind::Update, format!("RAISED by {by}")),
            Action::Clear => (HistoryKind::Update, format!("CLEARED by {by}")),
            Action::Suppress { until } => (
                HistoryKind::Update,
                format!("SUPPRESSED until {} by {by}", at(*until)),
            ),
            Action::Unsuppress => (HistoryKind::Update, format!("UNSUPPRESSED by {by}")),
            Action::Silence {
                until,
                silence,
                comment,
            } => (
                HistoryKind::Update,
                format!(
                    "SILENCED by {by}: {comment} (silence {}, until {})",
                    short(silence),
                    at(*until)
                ),
            ),
            Action::Unsilence { silence, .. } => (
                HistoryKind::Update,
                format!("SILENCE {} ENDED by {by}", short(silence)),
            ),
            Action::Note { text } => (HistoryKind::Note, text.clone()),
            Action::Forget => (HistoryKind::Update, format!("FORGOTTEN by {by}")),
        }
    }
}

/// A silence's id as history lines show it.
pub(super) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// What the history says of an event.
pub(super) fn event_text(kind: EventKind, record: &Record) -> String {
    let (with, more) = match kind {
        EventKind::Acknowledged => (" by ", record.acknowledged_by.as_deref().unwrap_or("")),
        _ => (": ", record.summary.as_str()),
    };
    let name = kind.as_str();
    let mut text = String::with_capacity(name.len() + with.len() + more.len());
    text.push_str(name);
    text.make_ascii_uppercase();
    if !more.is_empty() {
        text.push_str(with);
        text.push_str(more);
    }
    text
}
