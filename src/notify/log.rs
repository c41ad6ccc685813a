//! The log notifier: each message becomes one log line. It never fails, which
//! makes it the default: a fresh install shows its notifications somewhere.

use super::{Attempt, Message, Notifier, Outcome};

pub(crate) struct LogNotifier {
    pub(crate) name: String,
}

impl Notifier for LogNotifier {
    fn deliver<'a>(&'a self, m: &'a Message) -> Attempt<'a> {
        Box::pin(async move {
            tracing::info!(
                notifier = %self.name,
                person = m.person.as_deref().unwrap_or("-"),
                events = m.events.len(),
                "notification: {}",
                m.text()
            );
            Outcome::Delivered
        })
    }
}
