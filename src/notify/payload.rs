//! What a notifier is handed: a queued message whose stored fields have
//! been checked, its short text, and the JSON document notifiers pass on
//! (`operations.md` §5).

use crate::alert::Level;
use crate::alert::Notification;
use crate::alert::{AlertKey, EventKind, Record, UnixSecs};
use crate::timefmt::ago;
use crate::view::AlertView;

/// What signs action links: the station's secret and how long a link works.
#[derive(Clone, Debug)]
pub(crate) struct Links {
    pub(crate) secret: crate::links::SharedSecret,
    pub(crate) valid_s: u64,
}

impl PartialEq for Links {
    fn eq(&self, other: &Links) -> bool {
        self.secret.same(&other.secret) && self.valid_s == other.valid_s
    }
}

/// One event of a message.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageEvent {
    pub event: EventKind,
    pub key: AlertKey,
    /// When the event happened.
    pub(crate) at: UnixSecs,
    /// The alert as it was then.
    pub(crate) alert: Record,
}

/// One message: one delivery to one person through one notifier, holding
/// one or more events.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub(crate) notifier: String,
    /// None without alert groups.
    pub person: Option<String>,
    /// The person's address on this notifier.
    pub(crate) to: Option<String>,
    pub(crate) level: Option<Level>,
    pub(crate) group: Option<String>,
    pub events: Vec<MessageEvent>,
    /// A rate-limit summary: how many messages were held (0: not one).
    pub held: u32,
    /// Links start with this.
    pub(crate) base_url: String,
    /// The recipient's action link (`links`), when links are on and the
    /// message is for a person.
    pub(crate) action_link: Option<String>,
    /// When the message is being sent (for "5 min ago").
    pub(crate) now: UnixSecs,
}

impl TryFrom<&Notification> for Message {
    /// The stored event kind this version does not know.
    type Error = i32;

    fn try_from(n: &Notification) -> Result<Self, i32> {
        let events = n
            .events()
            .into_iter()
            .map(|e| {
                Ok(MessageEvent {
                    event: EventKind::try_from(e.kind).map_err(|_| e.kind)?,
                    key: e.key(),
                    at: e.at,
                    alert: e.alert,
                })
            })
            .collect::<Result<Vec<_>, i32>>()?;
        if events.is_empty() && n.held == 0 {
            return Err(n.event);
        }
        Ok(Message {
            notifier: n.notifier.clone(),
            person: n.person.clone(),
            to: n.recipient.clone(),
            level: n.level.map(Level::from_i32),
            group: n.group.clone(),
            events,
            held: n.held,
            base_url: String::new(),
            action_link: None,
            now: n.at,
        })
    }
}

/// What a path segment of a link escapes: all but letters, digits and `.-_~`.
pub(crate) const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// How many events a batch's text names before "and N more".
const NAMED: usize = 5;

impl MessageEvent {
    /// The moment the event is about: the raise, clear or acknowledgement.
    fn since(&self) -> UnixSecs {
        let a = &self.alert;
        match self.event {
            EventKind::Cleared => a.cleared_at,
            EventKind::Acknowledged => a.acknowledged_at,
            _ => a.raised_at,
        }
        .unwrap_or(self.at)
    }

    fn shout(&self) -> String {
        self.event.as_str().to_ascii_uppercase()
    }

    /// "web1 disk": what a batch's list names.
    fn name(&self) -> String {
        let who = if self.alert.subject.is_empty() {
            &self.key.source
        } else {
            &self.alert.subject
        };
        format!("{who} {}", self.key.id)
    }
}

impl Message {
    /// The first event (the one `MAUVE_EVENT` names); None for a summary of
    /// alerts that are all gone.
    pub(crate) fn first(&self) -> Option<&MessageEvent> {
        self.events.first()
    }

    /// The recipient's action link for the message's first alert, signed
    /// by `links`, when the message is for a person.
    pub(crate) fn sign_link(&mut self, links: Option<&Links>) {
        self.action_link = None;
        let (Some(links), Some(person), Some(first)) = (links, &self.person, self.events.first())
        else {
            return;
        };
        let link = crate::links::Link {
            alert: first.key.clone(),
            person: person.clone(),
            message_at: first.at,
            expires_at: first.at.saturating_add(links.valid_s),
        };
        self.action_link = Some(format!(
            "{}/a/{}",
            self.base_url,
            link.token(&links.secret.get())
        ));
    }

    /// The link to one alert.
    pub(crate) fn link(&self, key: &AlertKey) -> String {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string();
        format!(
            "{}/alerts/{}/{}",
            self.base_url,
            enc(&key.source),
            enc(&key.id)
        )
    }

    fn level_part(&self) -> String {
        self.level
            .map(|l| format!(" ({})", l.as_str()))
            .unwrap_or_default()
    }

    /// The short text (SMS, chat, e-mail subject), mauve's shape.
    pub fn text(&self) -> String {
        if self.held > 0 {
            let names: Vec<String> = self
                .events
                .iter()
                .take(NAMED)
                .map(MessageEvent::name)
                .collect();
            let more = self.events.len().saturating_sub(NAMED);
            let still = match (names.is_empty(), more) {
                (true, _) => "none still raised".to_owned(),
                (false, 0) => format!("still raised: {}", names.join(", ")),
                (false, n) => format!("still raised: {} and {n} more", names.join(", ")),
            };
            return format!(
                "{} messages held by the rate limit{}: {still}. {}",
                self.held,
                self.level_part(),
                self.base_url
            );
        }
        match self.events.as_slice() {
            [] => String::new(),
            [e] => {
                let mut about = e.alert.subject.clone();
                if !e.alert.summary.is_empty() {
                    if !about.is_empty() {
                        about.push(' ');
                    }
                    about.push_str(&e.alert.summary);
                }
                // The action link leads to the alert too, and lets the
                // reader act: one link keeps a text message short.
                let link = self
                    .action_link
                    .clone()
                    .unwrap_or_else(|| self.link(&e.key));
                format!(
                    "{}: {}{}: {}: {about} -- from {}. {link}",
                    e.key.id,
                    e.shout(),
                    self.level_part(),
                    ago(e.since(), self.now),
                    e.key.source,
                )
            }
            many => {
                let mut counts: Vec<(EventKind, usize)> = Vec::new();
                for e in many {
                    match counts.iter_mut().find(|(k, _)| *k == e.event) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((e.event, 1)),
                    }
                }
                let counts: Vec<String> = counts
                    .iter()
                    .map(|(k, n)| format!("{n} {}", k.as_str().to_ascii_uppercase()))
                    .collect();
                let mut sorted: Vec<&MessageEvent> = many.iter().collect();
                sorted.sort_by_key(|e| std::cmp::Reverse(e.alert.importance));
                let names: Vec<String> = sorted.iter().take(NAMED).map(|e| e.name()).collect();
                let more = match many.len().saturating_sub(NAMED) {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                format!(
                    "{}{}: {}{more}. {}",
                    counts.join(", "),
                    self.level_part(),
                    names.join(", "),
                    self.base_url
                )
            }
        }
    }

    /// The JSON document (command stdin, `json` webhooks): `{"person",
    /// "to", "level", "notifier", "text", "events": [{"event", "at",
    /// "alert"}]}`, plus `held` for a rate-limit summary.
    pub(crate) fn document(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "person": self.person,
            "to": self.to,
            "level": self.level.map(Level::as_str),
            "notifier": self.notifier,
            "text": self.text(),
            "events": self.events.iter().map(|e| serde_json::json!({
                "event": e.event.as_str(),
                "at": e.at,
                "alert": AlertView::new(&e.key, &e.alert),
            })).collect::<Vec<_>>(),
        });
        if self.held > 0 {
            doc["held"] = self.held.into();
        }
        if let Some(link) = &self.action_link {
            doc["action_link"] = link.as_str().into();
        }
        doc
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn event(id: &str, kind: EventKind, importance: u32) -> MessageEvent {
        MessageEvent {
            event: kind,
            key: AlertKey::new("web1.example.com", id),
            at: 1_700_000_000,
            alert: Record {
                subject: "web1".into(),
                summary: format!("{id} full"),
                importance,
                raised_at: Some(1_700_000_000 - 300),
                ..Record::default()
            },
        }
    }

    pub(crate) fn message() -> Message {
        Message {
            notifier: "sms".into(),
            person: Some("alice".into()),
            to: Some("+447700900001".into()),
            level: Some(Level::Urgent),
            group: Some("web".into()),
            events: vec![event("disk", EventKind::Raised, 50)],
            held: 0,
            base_url: "https://alerts.example.com".into(),
            action_link: None,
            now: 1_700_000_000,
        }
    }

    #[test]
    fn the_short_text_has_mauves_shape() {
        assert_eq!(
            message().text(),
            "disk: RAISED (urgent): 5 min ago: web1 disk full -- from web1.example.com. \
             https://alerts.example.com/alerts/web1.example.com/disk"
        );
    }

    #[test]
    fn a_batch_counts_events_and_names_the_most_important_first() {
        let mut m = message();
        m.events = (0..12)
            .map(|i| event(&format!("d{i}"), EventKind::Raised, i))
            .chain((0..3).map(|i| event(&format!("c{i}"), EventKind::Cleared, 0)))
            .collect();
        assert_eq!(
            m.text(),
            "12 RAISED, 3 CLEARED (urgent): web1 d11, web1 d10, web1 d9, web1 d8, web1 d7 and 10 more. \
             https://alerts.example.com"
        );
    }

    #[test]
    fn the_document_carries_person_level_text_and_events() {
        let doc = message().document();
        assert_eq!(doc["person"], "alice");
        assert_eq!(doc["to"], "+447700900001");
        assert_eq!(doc["level"], "urgent");
        assert_eq!(doc["notifier"], "sms");
        assert!(doc["text"].as_str().unwrap().starts_with("disk: RAISED"));
        assert_eq!(doc["events"][0]["event"], "raised");
        assert_eq!(doc["events"][0]["alert"]["id"], "disk");
        assert_eq!(doc["events"][0]["alert"]["state"], "raised");
        assert!(doc.get("held").is_none());
    }

    #[test]
    fn an_unknown_stored_kind_is_refused() {
        let n = Notification {
            event: 77,
            source: "a".into(),
            ..Notification::default()
        };
        assert_eq!(Message::try_from(&n), Err(77));
    }
}
