//! The webhook notifier: one HTTP POST per message, to the person's
//! address on this notifier (or the configured `url`), in one of three
//! shapes (`operations.md` §5):
//!
//! - `json`: the document a command gets on stdin;
//! - `alertmanager`: Alertmanager's webhook payload, version 4, so that
//!   receivers written for Alertmanager work unchanged;
//! - `slack`: `{"text": …}`.
//!
//! 2xx is delivered; 4xx other than 408 and 429 will never work (given up);
//! anything else, and a connection that fails or times out, is retried.

use std::time::Duration;

use serde_json::{json, Value};

use super::payload::MessageEvent;
use super::{Attempt, Message, Notifier, Outcome};
use crate::alert::EventKind;
use crate::config::WebhookFormat;
use crate::timefmt::rfc3339;

pub(crate) struct WebhookNotifier {
    pub(crate) url: Option<String>,
    pub(crate) format: WebhookFormat,
    pub(crate) client: reqwest::Client,
}

impl WebhookNotifier {
    pub(crate) fn new(
        url: Option<String>,
        format: WebhookFormat,
        timeout: Duration,
    ) -> WebhookNotifier {
        let client = client(timeout);
        WebhookNotifier {
            url,
            format,
            client,
        }
    }

    /// The body for `m` in this notifier's format.
    pub(crate) fn body(&self, m: &Message) -> Value {
        match self.format {
            WebhookFormat::Json => m.document(),
            WebhookFormat::Slack => json!({ "text": m.text() }),
            WebhookFormat::Alertmanager => alertmanager(m),
        }
    }

    async fn post(&self, m: &Message) -> Outcome {
        let url = match m
            .to
            .as_deref()
            .filter(|to| !to.is_empty())
            .or(self.url.as_deref())
        {
            Some(url) => url,
            None => {
                return Outcome::GiveUp(
                    "no URL: the message has no address and the notifier no `url`".into(),
                )
            }
        };
        let sent = self.client.post(url).json(&self.body(m)).send().await;
        // What is said of a failure reaches the log, the page and the API:
        // the URL without its secrets, reqwest's error without its URL.
        let url = crate::config::redact::urls(url);
        match sent {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    Outcome::Delivered
                } else if status.is_client_error()
                    && status.as_u16() != 408
                    && status.as_u16() != 429
                {
                    Outcome::GiveUp(format!("{url} answered {status}"))
                } else {
                    Outcome::Retry(format!("{url} answered {status}"))
                }
            }
            Err(err) if err.is_builder() => {
                Outcome::GiveUp(format!("{url}: {}", err.without_url()))
            }
            Err(err) => Outcome::Retry(format!("{url}: {}", err.without_url())),
        }
    }
}

/// The HTTP client of a notifier that makes requests (this one and
/// `http.rs`): a whole-request timeout, a shorter one to connect.
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("mauved/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl Notifier for WebhookNotifier {
    fn deliver<'a>(&'a self, m: &'a Message) -> Attempt<'a> {
        Box::pin(self.post(m))
    }
}

/// Alertmanager's "zero" time for an alert that has not ended.
const NOT_ENDED: &str = "0001-01-01T00:00:00Z";

fn am_alert(m: &Message, e: &MessageEvent) -> Value {
    let resolved = e.event == EventKind::Cleared;
    json!({
        "status": if resolved { "resolved" } else { "firing" },
        "labels": {
            "alertname": e.key.id,
            "source": e.key.source,
            "subject": e.alert.subject,
            "alert_group": m.group.clone().unwrap_or_default(),
            "level": m.level.map_or("", |l| l.as_str()),
        },
        "annotations": {
            "summary": e.alert.summary,
            "detail": e.alert.detail,
        },
        "startsAt": rfc3339(e.alert.raised_at.unwrap_or(e.at)),
        "endsAt": if resolved {
            rfc3339(e.alert.cleared_at.unwrap_or(e.at))
        } else {
            NOT_ENDED.to_owned()
        },
        "generatorURL": m.link(&e.key),
        "fingerprint": crate::alertmanager::labels::fingerprint(&e.key),
    })
}

/// Alertmanager's webhook payload, version 4.
fn alertmanager(m: &Message) -> Value {
    let alerts: Vec<Value> = m.events.iter().map(|e| am_alert(m, e)).collect();
    let firing = m.events.iter().any(|e| e.event != EventKind::Cleared);
    let receiver = m.person.clone().unwrap_or_else(|| m.notifier.clone());
    let group = m.group.clone().unwrap_or_default();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alert_group=\"{group}\"}}"),
        "truncatedAlerts": 0,
        "status": if firing { "firing" } else { "resolved" },
        "receiver": receiver,
        "groupLabels": { "alert_group": group },
        "commonLabels": {
            "alert_group": group,
            "level": m.level.map_or("", |l| l.as_str()),
        },
        "commonAnnotations": {},
        "externalURL": m.base_url,
        "alerts": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::payload::tests::{event, message};

    fn golden(format: WebhookFormat) -> Value {
        let mut m = message();
        m.events.push(event("load", EventKind::Cleared, 10));
        m.events[1].alert.cleared_at = Some(1_700_000_000);
        m.events[0].alert.detail = "<p>95% used</p>".into();
        WebhookNotifier::new(None, format, Duration::from_secs(1)).body(&m)
    }

    /// Compares with `tests/golden/<name>`; `MAUVED_BLESS=1` rewrites it.
    fn check(name: &str, got: &Value) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        let text = serde_json::to_string_pretty(got).unwrap() + "\n";
        if std::env::var_os("MAUVED_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, want, "{name} differs from the golden file");
    }

    #[test]
    fn each_format_matches_its_golden_file() {
        check("webhook-json.json", &golden(WebhookFormat::Json));
        check(
            "webhook-alertmanager.json",
            &golden(WebhookFormat::Alertmanager),
        );
        check("webhook-slack.json", &golden(WebhookFormat::Slack));
    }

    #[test]
    fn the_alertmanager_payload_has_what_receivers_read() {
        let body = golden(WebhookFormat::Alertmanager);
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["receiver"], "alice");
        let alerts = body["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0]["labels"]["alertname"], "disk");
        assert_eq!(alerts[0]["labels"]["alert_group"], "web");
        assert_eq!(alerts[0]["endsAt"], NOT_ENDED);
        assert_eq!(alerts[1]["status"], "resolved");
        assert_eq!(alerts[1]["endsAt"], "2023-11-14T22:13:20Z");
        assert_eq!(alerts[0]["fingerprint"].as_str().unwrap().len(), 16);
        assert_ne!(alerts[0]["fingerprint"], alerts[1]["fingerprint"]);
    }
}
