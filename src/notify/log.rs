//! The log notifier: each message becomes one log line. It never fails, which
//! makes it the default: a fresh install shows its notifications somewhere.

use super::{Attempt, Message, Notifier, Outcome};

pub struct LogNotifier {
    pub name: String,
}

impl Notifier for LogNotifier {
    fn deliver<'a>(&'a self, m: &'a Message) -> Attempt<'a> {
        Box::pin(async move {
            tracing::info!(
                notifier = %self.name,
                event = m.event.as_str(),
                source = %m.key.source,
                id = %m.key.id,
                subject = %m.alert.subject,
                summary = %m.alert.summary,
                "notification"
            );
            Outcome::Delivered
        })
    }
}
