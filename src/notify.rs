//! Delivery of queued notifications, at least once.
//!
//! The scheduler writes each notification into a durable per-notifier queue
//! in the same batch as the change that caused it. Here one worker per
//! notifier takes its queue in order, hands each entry to the notifier, and
//! removes it only once the notifier says it was delivered. A crash between
//! delivery and removal means the entry is delivered again after restart:
//! at-least-once, never at-most-once.
//!
//! A notifier makes one attempt and reports what happened; the worker owns
//! retries, backoff and the queue (as in alertmanager's notify pipeline).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Notify};

use crate::config;
use crate::http::AlertView;
use crate::metrics::Metrics;
use crate::store::{Notification, Store};

/// The result of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again later (the reason is logged).
    Retry(String),
    /// Will never work; the entry is dropped and counted as failed.
    GiveUp(String),
}

pub type Attempt<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Something that can tell a person about an alert.
pub trait Notifier: Send + Sync {
    fn deliver<'a>(&'a self, notification: &'a Notification) -> Attempt<'a>;
}

/// The JSON document a notifier receives.
pub fn document(notification: &Notification) -> serde_json::Value {
    serde_json::json!({
        "event": notification.kind().as_str(),
        "at": notification.at,
        "alert": AlertView::new(&notification.key(), &notification.alert),
    })
}

/// Writes notifications to the log. Never fails.
pub struct LogNotifier {
    pub name: String,
}

impl Notifier for LogNotifier {
    fn deliver<'a>(&'a self, n: &'a Notification) -> Attempt<'a> {
        Box::pin(async move {
            tracing::info!(
                notifier = %self.name,
                event = n.kind().as_str(),
                source = %n.source,
                id = %n.id,
                subject = %n.alert.subject,
                summary = %n.alert.summary,
                "notification"
            );
            Outcome::Delivered
        })
    }
}

/// Runs an external command per notification: the JSON document on stdin,
/// key fields in the environment, exit status 0 for success.
pub struct CommandNotifier {
    pub name: String,
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl CommandNotifier {
    async fn run(&self, n: &Notification) -> Result<std::process::ExitStatus, String> {
        let (program, args) = self.argv.split_first().ok_or("empty command")?;
        // The environment cannot carry NUL; `wire` strips it, records from
        // elsewhere must not wedge the queue on it either.
        let env = |value: &str| value.replace('\0', "");
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .env("MAUVE_EVENT", n.kind().as_str())
            .env("MAUVE_SOURCE", env(&n.source))
            .env("MAUVE_ID", env(&n.id))
            .env("MAUVE_SUBJECT", env(&n.alert.subject))
            .env("MAUVE_SUMMARY", env(&n.alert.summary))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("cannot start {program}: {err}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let mut body = document(n).to_string();
            body.push('\n');
            // A command that does not read its input is its own business.
            let _ = stdin.write_all(body.as_bytes()).await;
        }
        child.wait().await.map_err(|err| err.to_string())
    }
}

impl Notifier for CommandNotifier {
    fn deliver<'a>(&'a self, n: &'a Notification) -> Attempt<'a> {
        Box::pin(async move {
            // Dropping the future on timeout drops the child, which kills it.
            match tokio::time::timeout(self.timeout, self.run(n)).await {
                Err(_) => Outcome::Retry(format!("timed out after {:?}", self.timeout)),
                Ok(Err(err)) => Outcome::Retry(err),
                Ok(Ok(status)) if status.success() => Outcome::Delivered,
                Ok(Ok(status)) => Outcome::Retry(format!("exited with {status}")),
            }
        })
    }
}

pub fn build(config: &config::Notifier) -> Box<dyn Notifier> {
    match config.kind {
        config::NotifierKind::Log => Box::new(LogNotifier {
            name: config.name.clone(),
        }),
        config::NotifierKind::Command => Box::new(CommandNotifier {
            name: config.name.clone(),
            argv: config.command.clone(),
            timeout: Duration::from_secs(config.timeout_s),
        }),
    }
}

/// Delay before retry number `attempt` (1-based): doubling from one second,
/// capped at five minutes.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(9)).min(Duration::from_secs(300))
}

/// Delivers `name`'s queue until `shutdown` changes.
pub async fn worker(
    name: String,
    notifier: Box<dyn Notifier>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let batch = match store.queued(&name, 64) {
            Ok(batch) => batch,
            Err(err) => {
                metrics.store_errors.fetch_add(1, Relaxed);
                tracing::error!(notifier = %name, %err, "cannot read the notification queue");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = wake.notified() => continue,
                _ = shutdown.changed() => return,
            }
        }
        for (id, notification) in batch {
            let mut attempt = 0;
            loop {
                let outcome = tokio::select! {
                    outcome = notifier.deliver(&notification) => outcome,
                    _ = shutdown.changed() => return,
                };
                match outcome {
                    Outcome::Delivered => metrics.notifications_delivered.fetch_add(1, Relaxed),
                    Outcome::GiveUp(why) => {
                        tracing::error!(notifier = %name, key = %notification.key(), %why, "notification dropped");
                        metrics.notifications_failed.fetch_add(1, Relaxed)
                    }
                    Outcome::Retry(why) => {
                        attempt += 1;
                        metrics.notifications_retried.fetch_add(1, Relaxed);
                        let delay = backoff(attempt);
                        tracing::warn!(notifier = %name, key = %notification.key(), %why, ?delay, "notification failed, will retry");
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => continue,
                            _ = shutdown.changed() => return,
                        }
                    }
                };
                break;
            }
            match store.dequeue(&id) {
                Ok(()) => {
                    metrics.queue_depth.fetch_sub(1, Relaxed);
                }
                Err(err) => {
                    metrics.store_errors.fetch_add(1, Relaxed);
                    tracing::error!(notifier = %name, %err, "cannot remove a delivered notification");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{EventKind, Record};

    fn notification() -> Notification {
        Notification {
            event: EventKind::Raised as i32,
            source: "web1".into(),
            id: "disk".into(),
            at: 1_700_000_000,
            alert: Record {
                subject: "web1".into(),
                summary: "disk full".into(),
                raised_at: Some(1_700_000_000),
                ..Record::default()
            },
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }

    #[test]
    fn the_document_carries_event_and_alert() {
        let doc = document(&notification());
        assert_eq!(doc["event"], "raised");
        assert_eq!(doc["alert"]["source"], "web1");
        assert_eq!(doc["alert"]["id"], "disk");
        assert_eq!(doc["alert"]["state"], "raised");
        assert_eq!(doc["alert"]["summary"], "disk full");
    }

    fn command(script: &str, timeout: Duration) -> CommandNotifier {
        CommandNotifier {
            name: "t".into(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            timeout,
        }
    }

    #[tokio::test]
    async fn a_command_gets_the_json_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "cat > {0}; echo \"$MAUVE_EVENT $MAUVE_SOURCE $MAUVE_ID $MAUVE_SUMMARY\" >> {0}",
            out.display()
        );
        let outcome = command(&script, Duration::from_secs(10))
            .deliver(&notification())
            .await;
        assert_eq!(outcome, Outcome::Delivered);
        let written = std::fs::read_to_string(out).unwrap();
        let mut lines = written.lines();
        let doc: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(doc["event"], "raised");
        assert_eq!(lines.next(), Some("raised web1 disk disk full"));
    }

    #[tokio::test]
    async fn nul_in_a_field_does_not_wedge_the_command() {
        let mut n = notification();
        n.alert.summary = "bad\0summary".into();
        let outcome = command(
            "test \"$MAUVE_SUMMARY\" = badsummary",
            Duration::from_secs(10),
        )
        .deliver(&n)
        .await;
        assert_eq!(outcome, Outcome::Delivered);
    }

    #[tokio::test]
    async fn failure_and_hangs_are_retried() {
        let failed = command("exit 3", Duration::from_secs(10))
            .deliver(&notification())
            .await;
        assert!(matches!(failed, Outcome::Retry(ref why) if why.contains('3')));
        let hung = command("sleep 30", Duration::from_millis(200))
            .deliver(&notification())
            .await;
        assert!(matches!(hung, Outcome::Retry(ref why) if why.contains("timed out")));
        let missing = CommandNotifier {
            name: "t".into(),
            argv: vec!["/nonexistent/page-me".into()],
            timeout: Duration::from_secs(1),
        }
        .deliver(&notification())
        .await;
        assert!(matches!(missing, Outcome::Retry(ref why) if why.contains("cannot start")));
    }
}
