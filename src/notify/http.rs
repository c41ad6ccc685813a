//! The HTTP notifier (`kind = "http"`): one request per message, or per
//! event with `each_event`, made from the notifier's templates (its own or
//! a preset's: `config::http_notifier`). The templates see the message
//! ([`context`]) and the secret, which never appears in what is logged.
//!
//! 2xx is delivered. 429, 408 and 5xx are retried (after `Retry-After`
//! when the answer gives one, up to an hour); any other 4xx will never work
//! and is given up, with the start of the provider's answer.

use std::time::Duration;

use base64ct::Encoding as _;
use serde_json::{json, Value};

use super::payload::MessageEvent;
use super::smtp::strip_html;
use super::{Attempt, Message, Notifier, Outcome};
use crate::config::http_notifier::{Body, HttpNotifier as Config};

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// How much of a provider's refusal is kept in the reason.
const ANSWER_EXCERPT: usize = 200;

pub(crate) struct HttpNotifier {
    config: Config,
    env: minijinja::Environment<'static>,
    /// Read once when the notifier is made (each start and reload).
    secret: Result<String, String>,
    client: reqwest::Client,
}

/// One request, rendered.
#[derive(Debug, PartialEq)]
pub(crate) struct Request {
    pub(crate) method: &'static str,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpNotifier {
    pub(crate) fn new(config: &Config) -> HttpNotifier {
        let mut env = minijinja::Environment::new();
        env.add_filter("cut", cut);
        env.add_filter("b64encode", |s: String| {
            base64ct::Base64::encode_string(s.as_bytes())
        });
        env.add_filter("slack", |s: String| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        });
        for (name, template) in config.templates() {
            // Checked when the configuration was read.
            let _ = env.add_template_owned(name, template.to_owned());
        }
        let secret = match &config.secret {
            Some(from) => from.read(),
            None => Ok(String::new()),
        };
        let client = super::webhook::client(Duration::from_secs(config.timeout_s));
        HttpNotifier {
            config: config.clone(),
            env,
            secret,
            client,
        }
    }

    /// The requests for `m`: one, or one per event.
    pub(crate) fn requests(&self, m: &Message) -> Result<Vec<Request>, String> {
        let secret = self.secret.as_deref().map_err(|why| why.to_owned())?;
        let events: Vec<Option<&MessageEvent>> = if self.config.each_event && !m.events.is_empty() {
            m.events.iter().map(Some).collect()
        } else {
            vec![None]
        };
        events
            .into_iter()
            .map(|event| self.request(&context(m, event, secret, &self.config)))
            .collect()
    }

    fn render(&self, name: &str, context: &Value) -> Result<String, String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|err| format!("{name}: {err}"))
    }

    fn request(&self, context: &Value) -> Result<Request, String> {
        let mut headers = Vec::new();
        for name in self.config.headers.keys() {
            let value = self.render(&format!("headers.{name}"), context)?;
            if !value.trim().is_empty() {
                headers.push((name.clone(), header_value(&value)));
            }
        }
        let (content_type, body) = match &self.config.body {
            Body::None => (None, Vec::new()),
            Body::Text(_) => (
                Some("text/plain; charset=utf-8"),
                self.render("body", context)?.into_bytes(),
            ),
            Body::Json(_) => {
                let body = self.render("body", context)?;
                serde_json::from_str::<Value>(&body)
                    .map_err(|err| format!("the body template made invalid JSON: {err}"))?;
                (Some("application/json"), body.into_bytes())
            }
            Body::Form(fields) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for field in fields.keys() {
                    let value = self.render(&format!("form.{field}"), context)?;
                    if !value.is_empty() {
                        form.append_pair(field, &value);
                    }
                }
                (
                    Some("application/x-www-form-urlencoded"),
                    form.finish().into_bytes(),
                )
            }
        };
        if let Some(content_type) = content_type {
            if !headers
                .iter()
                .any(|(h, _)| h.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("Content-Type".into(), content_type.into()));
            }
        }
        Ok(Request {
            method: self.config.method.as_str(),
            url: self.render("url", context)?,
            headers,
            body,
        })
    }

    /// `text` with the secret and URLs' secrets taken out.
    fn redact(&self, text: &str) -> String {
        let text = match self.secret.as_deref() {
            Ok(secret) if !secret.is_empty() => text.replace(secret, "<secret>"),
            _ => text.to_owned(),
        };
        crate::config::redact::urls(&text)
    }

    async fn send(&self, m: &Message) -> Outcome {
        let requests = match self.requests(m) {
            Ok(requests) => requests,
            Err(why) => return Outcome::GiveUp(self.redact(&why)),
        };
        // Each request of a message in turn: a retry sends them all again
        // (a provider takes the same event twice as the same: dedup keys,
        // transaction ids).
        for request in requests {
            match self.one(request).await {
                Outcome::Delivered => {}
                other => return other,
            }
        }
        Outcome::Delivered
    }

    async fn one(&self, request: Request) -> Outcome {
        let method =
            reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let sent = builder.body(request.body).send().await;
        let url = self.redact(&request.url);
        let response = match sent {
            Ok(response) => response,
            Err(err) if err.is_builder() => {
                return Outcome::GiveUp(self.redact(&format!("{url}: {}", err.without_url())))
            }
            Err(err) => {
                return Outcome::Retry(self.redact(&format!("{url}: {}", err.without_url())))
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Delivered;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        let answer: String = excerpt(response)
            .await
            .chars()
            .filter(|c| !c.is_control())
            .take(ANSWER_EXCERPT)
            .collect();
        let why = self.redact(&format!("{url} answered {status}: {answer}"));
        match (status.as_u16(), retry_after) {
            (429 | 503, Some(after)) => Outcome::RetryIn(why, after),
            (408 | 429, _) => Outcome::Retry(why),
            (400..=499, _) => Outcome::GiveUp(why),
            _ => Outcome::Retry(why),
        }
    }
}

impl Notifier for HttpNotifier {
    fn deliver<'a>(&'a self, m: &'a Message) -> Attempt<'a> {
        Box::pin(self.send(m))
    }
}

/// The start of a refusal's body: read up to a few KiB, never the whole of
/// what a receiver may send.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut read = Vec::new();
    while read.len() < 4 * ANSWER_EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => read.extend_from_slice(&chunk),
            _ => break,
        }
    }
    read.truncate(4 * ANSWER_EXCERPT);
    String::from_utf8_lossy(&read).into_owned()
}

/// What the templates see: the message, its first event (or `event`'s,
/// one request per event) as the alert, the secret and the params.
pub(crate) fn context(
    m: &Message,
    event: Option<&MessageEvent>,
    secret: &str,
    config: &Config,
) -> Value {
    let first = event.or(m.first());
    let events: Vec<Value> = m
        .events
        .iter()
        .map(|e| {
            json!({
                "event": e.event.as_str(), "source": e.key.source, "id": e.key.id,
                "subject": e.alert.subject, "summary": e.alert.summary, "at": e.at,
                "time": crate::timefmt::rfc3339(e.at), "alert_url": m.link(&e.key),
            })
        })
        .collect();
    let (event_name, at) = first.map_or(("summary", m.now), |e| (e.event.as_str(), e.at));
    let alert = first.map(|e| &e.alert);
    let key = first.map(|e| e.key.clone());
    let text = |f: fn(&crate::alert::Record) -> &str| alert.map(f).unwrap_or_default().to_owned();
    let id = key.as_ref().map(|k| k.id.clone()).unwrap_or_default();
    let source = key.as_ref().map(|k| k.source.clone()).unwrap_or_default();
    json!({
        "text": m.text(),
        "title": title(m, first),
        "person": m.person,
        "to": m.to.clone().unwrap_or_default(),
        "level": m.level.map(|l| l.as_str()).unwrap_or_default(),
        "notifier": m.notifier,
        "event": event_name,
        "source": source,
        "id": id,
        "subject": alert.map(|a| if a.subject.is_empty() { source.clone() } else { a.subject.clone() }).unwrap_or_default(),
        "summary": text(|a| &a.summary),
        "detail": strip_html(&text(|a| &a.detail)),
        "importance": alert.map_or(0, |a| a.importance),
        "alert_url": key.as_ref().map_or_else(|| m.base_url.clone(), |k| m.link(k)),
        "action_link": m.action_link.clone().unwrap_or_default(),
        "dedup_key": format!("{source}/{id}"),
        "at": at,
        "time": crate::timefmt::rfc3339(at),
        "count": m.events.len(),
        "held": m.held,
        "events": events,
        "message_id": message_id(m, event_name, &source, &id, at),
        "secret": secret,
        "server": config.server,
        "params": config.params,
    })
}

/// "web1.example.com disk: RAISED (urgent)", or for a batch "3 alerts: 2
/// RAISED, 1 CLEARED".
fn title(m: &Message, first: Option<&MessageEvent>) -> String {
    let level = m
        .level
        .map(|l| format!(" ({})", l.as_str()))
        .unwrap_or_default();
    match (m.events.len(), first) {
        (0 | 1, Some(e)) => {
            let who = if e.alert.subject.is_empty() {
                &e.key.source
            } else {
                &e.alert.subject
            };
            format!(
                "{who} {}: {}{level}",
                e.key.id,
                e.event.as_str().to_ascii_uppercase()
            )
        }
        (0, None) => format!("{} messages held{level}", m.held),
        (n, _) => format!("{n} alerts{level}"),
    }
}

/// The same message (notifier, person, event, alert, time) has the same
/// id, at every attempt: a provider that de-duplicates by it takes a retry
/// once.
fn message_id(m: &Message, event: &str, source: &str, id: &str, at: u64) -> String {
    use blake2::Digest as _;
    let mut hash = blake2::Blake2s256::new();
    for part in [
        m.notifier.as_str(),
        m.person.as_deref().unwrap_or_default(),
        event,
        source,
        id,
        &at.to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// At most `n` characters, the last an ellipsis when cut.
fn cut(text: String, n: usize) -> String {
    if text.chars().count() <= n {
        return text;
    }
    let mut out: String = text.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A header value as HTTP carries it: one line; text that is not ASCII as
/// an RFC 2047 encoded word (which ntfy, for one, reads).
fn header_value(value: &str) -> String {
    let line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.is_ascii() {
        line
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64ct::Base64::encode_string(line.as_bytes())
        )
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
