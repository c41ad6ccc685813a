//! `mauved test-notify`: one test message to a person through one of the
//! configuration's notifiers, made and sent by the same code as the
//! daemon's (templates, secret, answers), without a daemon.

use super::{Message, MessageEvent, Outcome};
use crate::alert::{AlertKey, EventKind, Level, Record, UnixSecs};
use crate::config::Config;

/// Sends the test message; what the notifier said, or why nothing was sent.
pub async fn send(
    config: &Config,
    person: &str,
    notifier: &str,
    now: UnixSecs,
) -> Result<String, String> {
    let who = config.people.get(person).ok_or_else(|| {
        let known: Vec<&str> = config.people.keys().map(String::as_str).collect();
        format!("no person {person:?} (known: {})", known.join(", "))
    })?;
    let configured = config
        .notifiers
        .iter()
        .find(|n| n.name() == notifier)
        .ok_or_else(|| {
            let known: Vec<&str> = config.notifiers.iter().map(|n| n.name()).collect();
            format!("no notifier {notifier:?} (known: {})", known.join(", "))
        })?;
    let to = who.addresses.get(notifier).cloned();
    let message = Message {
        notifier: notifier.to_owned(),
        person: Some(person.to_owned()),
        to,
        level: Some(Level::Normal),
        group: None,
        events: vec![MessageEvent {
            event: EventKind::Raised,
            key: AlertKey::new("mauved", "test-notify"),
            at: now,
            alert: Record {
                subject: "mauved".into(),
                summary: format!("a test message for {person} through {notifier}"),
                raised_at: Some(now),
                updated_at: now,
                ..Record::default()
            },
        }],
        held: 0,
        base_url: config.oncall.base_url.clone().unwrap_or_default(),
        action_link: None,
        now,
    };
    match super::build(configured).deliver(&message).await {
        Outcome::Delivered => Ok(format!(
            "delivered to {person} through {notifier}: {}",
            message.text()
        )),
        Outcome::Retry(why) | Outcome::RetryIn(why, _) => {
            Err(format!("not delivered (the daemon would retry): {why}"))
        }
        Outcome::GiveUp(why) => Err(format!("not delivered (the daemon would give up): {why}")),
        other => Err(format!("not delivered: {other:?}")),
    }
}
