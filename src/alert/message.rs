//! Messages: what happened to an alert, addressed to a notifier and a
//! person. Routing makes them, the store queues them (they are protobuf
//! messages on disk, forward-compatible like records), notifiers send them.

use super::{AlertKey, EventKind, Record, UnixSecs};

/// A queued notification: what happened, to which alert, the alert as it
/// was at that moment, and whom it is for.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Notification {
    #[prost(enumeration = "EventKind", tag = "1")]
    pub(crate) event: i32,
    #[prost(string, tag = "2")]
    pub(crate) source: String,
    #[prost(string, tag = "3")]
    pub(crate) id: String,
    #[prost(uint64, tag = "4")]
    pub(crate) at: UnixSecs,
    #[prost(message, required, tag = "5")]
    pub(crate) alert: Record,
    /// The notifier whose queue holds it.
    #[prost(string, tag = "6")]
    pub(crate) notifier: String,
    /// The address it goes to (the person's address on this notifier).
    #[prost(string, optional, tag = "7")]
    pub(crate) recipient: Option<String>,
    /// The person it is for (with alert groups).
    #[prost(string, optional, tag = "8")]
    pub(crate) person: Option<String>,
    /// The alert group's level (`alert::Level` as a number).
    #[prost(int32, optional, tag = "9")]
    pub(crate) level: Option<i32>,
    /// Further events in the same message (storm batching), after the first.
    #[prost(message, repeated, tag = "10")]
    pub(crate) more: Vec<Event>,
    /// Where to send it if this notifier gives up (`a|b`), in order.
    #[prost(message, repeated, tag = "11")]
    pub(crate) fallback: Vec<Hop>,
    /// A rate-limit summary: how many messages were held.
    #[prost(uint32, tag = "12")]
    pub(crate) held: u32,
    #[prost(string, optional, tag = "13")]
    pub(crate) group: Option<String>,
}

/// One event of a message: what happened to which alert, and the alert then.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Event {
    #[prost(enumeration = "EventKind", tag = "1")]
    pub(crate) kind: i32,
    #[prost(string, tag = "2")]
    pub(crate) source: String,
    #[prost(string, tag = "3")]
    pub(crate) id: String,
    #[prost(uint64, tag = "4")]
    pub(crate) at: UnixSecs,
    #[prost(message, required, tag = "5")]
    pub(crate) alert: Record,
}

impl Event {
    pub(crate) fn key(&self) -> AlertKey {
        AlertKey::new(self.source.clone(), self.id.clone())
    }
}

/// A notifier and the address there.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub(crate) struct Hop {
    #[prost(string, tag = "1")]
    pub(crate) notifier: String,
    #[prost(string, tag = "2")]
    pub(crate) to: String,
}

impl Notification {
    /// The event, or the unknown stored value.
    pub(crate) fn kind(&self) -> std::result::Result<EventKind, i32> {
        EventKind::try_from(self.event).map_err(|_| self.event)
    }

    /// A message holding `events` (at least one), for `notifier`.
    pub(crate) fn of_events(notifier: &str, mut events: Vec<Event>) -> Notification {
        let first = if events.is_empty() {
            Event::default()
        } else {
            events.remove(0)
        };
        Notification {
            more: events,
            ..Notification::of_event(notifier, first)
        }
    }

    /// A message of one event for `notifier`.
    pub(crate) fn of_event(notifier: &str, first: Event) -> Notification {
        Notification {
            event: first.kind,
            source: first.source,
            id: first.id,
            at: first.at,
            alert: first.alert,
            notifier: notifier.to_owned(),
            ..Notification::default()
        }
    }

    /// Every event the message holds, the first first.
    pub(crate) fn events(&self) -> Vec<Event> {
        let mut all = Vec::with_capacity(1 + self.more.len());
        if !(self.source.is_empty() && self.id.is_empty() && self.held > 0) {
            all.push(Event {
                kind: self.event,
                source: self.source.clone(),
                id: self.id.clone(),
                at: self.at,
                alert: self.alert.clone(),
            });
        }
        all.extend(self.more.iter().cloned());
        all
    }

    pub(crate) fn key(&self) -> AlertKey {
        AlertKey::new(self.source.clone(), self.id.clone())
    }
}

/// A notification that was given up on, kept for people to see.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DeadLetter {
    #[prost(message, required, tag = "1")]
    pub(crate) notification: Notification,
    #[prost(string, tag = "2")]
    pub(crate) reason: String,
    #[prost(uint64, tag = "3")]
    pub(crate) at: UnixSecs,
}
