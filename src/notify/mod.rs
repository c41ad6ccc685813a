//! Delivery of queued notifications, at least once.
//!
//! Owns delivery (one file per notifier, plus the worker); must not decide
//! who is told (`routing`) nor change an alert.
//!
//! The scheduler writes each addressed message into its notifier's durable
//! queue in the same batch as the change that caused it. Here one
//! [`worker`] per notifier takes its queue in order, hands each message to
//! the notifier, and removes it only once the notifier says it was delivered
//! or gave up (then it goes to the dead letters). A crash between delivery and
//! removal means the message is delivered again after restart: at least
//! once, never at most once.
//!
//! A notifier makes one attempt and says what happened; the worker owns
//! retries, backoff, timeouts of the whole queue and the dead letters (as in
//! alertmanager's notify pipeline). One file per kind of notifier.

mod command;
pub(crate) mod http;
mod log;
pub(crate) mod payload;
pub(crate) mod pool;
pub(crate) mod smtp;
pub mod test_message;
pub(crate) mod webhook;
pub(crate) mod worker;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub(crate) use self::command::CommandNotifier;
pub(crate) use self::log::LogNotifier;
pub use self::payload::{Message, MessageEvent};
pub(crate) use self::smtp::SmtpNotifier;
pub(crate) use self::webhook::WebhookNotifier;
use crate::config;

/// Which notifiers have failed every attempt, since when (clock seconds).
/// A success clears the mark. `/health` and the page report the notifiers
/// failing longer than `delivery.degraded_after`.
#[derive(Debug, Default)]
pub(crate) struct Health {
    failing: parking_lot::Mutex<std::collections::BTreeMap<String, crate::alert::UnixSecs>>,
}

impl Health {
    pub(crate) fn failed(&self, notifier: &str, now: crate::alert::UnixSecs) {
        let mut failing = self.failing.lock();
        failing.entry(notifier.to_owned()).or_insert(now);
    }

    pub(crate) fn delivered(&self, notifier: &str) {
        let mut failing = self.failing.lock();
        failing.remove(notifier);
    }

    /// Notifiers failing for longer than `after` at `now`, with since when.
    pub(crate) fn degraded(
        &self,
        now: crate::alert::UnixSecs,
        after: u64,
    ) -> Vec<(String, crate::alert::UnixSecs)> {
        let failing = self.failing.lock();
        failing
            .iter()
            .filter(|(_, &since)| now.saturating_sub(since) > after)
            .map(|(name, &since)| (name.clone(), since))
            .collect()
    }
}

/// The result of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again later (the reason is logged).
    Retry(String),
    /// Worth trying again, not before the time the receiver asked for
    /// (`Retry-After`).
    RetryIn(String, Duration),
    /// Will never work: the message goes to the dead letters.
    GiveUp(String),
    /// Another station of the cluster delivered it or gave up on it (the
    /// worker's own outcome; a notifier never says it).
    Elsewhere(crate::cluster::Settled),
    /// Shadow mode (`delivery.shadow`): not sent, recorded as what would
    /// have been (the worker's own outcome).
    Shadowed,
    /// Held by the cluster on a station that does not lead: not sent, left
    /// queued, looked at again later (the worker's own outcome).
    Held,
}

pub type Attempt<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Something that can tell a person about an alert: one attempt per call.
pub trait Notifier: Send + Sync {
    fn deliver<'a>(&'a self, message: &'a Message) -> Attempt<'a>;
}

/// The notifier a `[[notifier]]` entry describes.
pub(crate) fn build(config: &config::Notifier) -> Box<dyn Notifier> {
    match config {
        config::Notifier::Log { name } => Box::new(LogNotifier { name: name.clone() }),
        config::Notifier::Command {
            command, timeout_s, ..
        } => Box::new(CommandNotifier {
            argv: command.clone(),
            timeout: Duration::from_secs(*timeout_s),
        }),
        config::Notifier::Webhook {
            url,
            format,
            timeout_s,
            ..
        } => Box::new(WebhookNotifier::new(
            url.clone(),
            *format,
            Duration::from_secs(*timeout_s),
        )),
        config::Notifier::Http(http) => Box::new(http::HttpNotifier::new(http)),
        config::Notifier::Smtp {
            server,
            from,
            starttls,
            user,
            password_file,
            timeout_s,
            ..
        } => {
            // A password that cannot be read fails every attempt, loudly.
            let login = user.clone().map(|user| {
                let password = password_file
                    .as_ref()
                    .and_then(|f| std::fs::read_to_string(f).ok())
                    .and_then(|p| p.lines().next().map(str::to_owned))
                    .unwrap_or_default();
                (user, password)
            });
            Box::new(SmtpNotifier::new(
                server,
                from,
                *starttls,
                login,
                Duration::from_secs(*timeout_s),
            ))
        }
    }
}
