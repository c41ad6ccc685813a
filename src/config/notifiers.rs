//! `[[notifier]]`: how each kind of notifier is configured. The `kind`
//! decides which other keys a notifier takes (`http` ones may start from a
//! preset: `http_notifier.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::http_notifier::HttpNotifier;

/// One `[[notifier]]`: the `kind` decides which other keys it takes, so a
/// key of another kind is an error rather than silently ignored. Read
/// through [`RawNotifier`], a plain table, so that a key of the wrong type
/// is named with its line (a tagged enum reads the table whole first and
/// loses where each key was).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(try_from = "RawNotifier")]
pub(crate) enum Notifier {
    /// Each notification becomes a log line.
    Log { name: String },
    /// A program run per notification (the argv, then a timeout in seconds
    /// after which it is killed and retried).
    Command {
        name: String,
        command: Vec<String>,
        timeout_s: u64,
    },
    /// An HTTP POST per message, to the person's address on this notifier
    /// (or `url` when the message has none).
    Webhook {
        name: String,
        url: Option<String>,
        format: WebhookFormat,
        timeout_s: u64,
    },
    /// An e-mail per message, to the person's address on this notifier.
    Smtp {
        name: String,
        /// `host:port` of the mail server.
        server: String,
        from: String,
        starttls: bool,
        user: Option<String>,
        /// A file holding the password (first line).
        password_file: Option<PathBuf>,
        timeout_s: u64,
    },
    /// An HTTP request per message (or event), from templates or a preset.
    Http(Box<HttpNotifier>),
}

/// Every key any `[[notifier]]` takes, as read; [`Notifier`] is made of it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotifier {
    name: String,
    kind: NotifierKind,
    command: Option<Vec<String>>,
    timeout_s: Option<u64>,
    url: Option<String>,
    format: Option<WebhookFormat>,
    server: Option<String>,
    from: Option<String>,
    starttls: Option<bool>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    preset: Option<String>,
    method: Option<super::http_notifier::Method>,
    headers: Option<BTreeMap<String, String>>,
    content_type: Option<super::http_notifier::ContentType>,
    body: Option<String>,
    form: Option<BTreeMap<String, String>>,
    each_event: Option<bool>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    params: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum NotifierKind {
    Log,
    Command,
    Webhook,
    Smtp,
    Http,
}

impl RawNotifier {
    /// The kind's name, if only keys the kind takes are given.
    fn only_its_keys(&self) -> Result<&'static str, String> {
        let (kind, takes): (&str, &[&str]) = match self.kind {
            NotifierKind::Log => ("log", &[]),
            NotifierKind::Command => ("command", &["command", "timeout_s"]),
            NotifierKind::Webhook => ("webhook", &["url", "format", "timeout_s"]),
            NotifierKind::Smtp => (
                "smtp",
                &[
                    "server",
                    "from",
                    "starttls",
                    "user",
                    "password_file",
                    "timeout_s",
                ],
            ),
            NotifierKind::Http => ("http", &super::http_notifier::KEYS),
        };
        let given = [
            ("command", self.command.is_some()),
            ("timeout_s", self.timeout_s.is_some()),
            ("url", self.url.is_some()),
            ("format", self.format.is_some()),
            ("server", self.server.is_some()),
            ("from", self.from.is_some()),
            ("starttls", self.starttls.is_some()),
            ("user", self.user.is_some()),
            ("password_file", self.password_file.is_some()),
            ("preset", self.preset.is_some()),
            ("method", self.method.is_some()),
            ("headers", self.headers.is_some()),
            ("content_type", self.content_type.is_some()),
            ("body", self.body.is_some()),
            ("form", self.form.is_some()),
            ("each_event", self.each_event.is_some()),
            ("secret_env", self.secret_env.is_some()),
            ("secret_file", self.secret_file.is_some()),
            ("params", self.params.is_some()),
        ];
        if let Some((key, _)) = given
            .iter()
            .find(|(key, given)| *given && !takes.contains(key))
        {
            return Err(format!(
                "unknown field `{key}`: a notifier of kind \"{kind}\" takes {}",
                ["name", "kind"]
                    .iter()
                    .chain(takes)
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(kind)
    }
}

impl TryFrom<RawNotifier> for Notifier {
    type Error = String;

    fn try_from(raw: RawNotifier) -> Result<Notifier, String> {
        let kind = raw.only_its_keys()?;
        let missing = |key: &str| format!("missing field `{key}` (kind = \"{kind}\" needs it)");
        Ok(match raw.kind {
            NotifierKind::Log => Notifier::Log { name: raw.name },
            NotifierKind::Command => Notifier::Command {
                name: raw.name,
                command: raw.command.ok_or_else(|| missing("command"))?,
                timeout_s: raw.timeout_s.unwrap_or_else(default_notifier_timeout),
            },
            NotifierKind::Webhook => Notifier::Webhook {
                name: raw.name,
                url: raw.url,
                format: raw.format.unwrap_or_default(),
                timeout_s: raw.timeout_s.unwrap_or_else(default_webhook_timeout),
            },
            NotifierKind::Smtp => Notifier::Smtp {
                name: raw.name,
                server: raw.server.ok_or_else(|| missing("server"))?,
                from: raw.from.ok_or_else(|| missing("from"))?,
                starttls: raw.starttls.unwrap_or(false),
                user: raw.user,
                password_file: raw.password_file,
                timeout_s: raw.timeout_s.unwrap_or_else(default_webhook_timeout),
            },
            NotifierKind::Http => Notifier::Http(Box::new(HttpNotifier::of(
                raw.name,
                super::http_notifier::HttpKeys {
                    preset: raw.preset,
                    method: raw.method,
                    server: raw.server,
                    url: raw.url,
                    headers: raw.headers,
                    content_type: raw.content_type,
                    body: raw.body,
                    form: raw.form,
                    each_event: raw.each_event,
                    secret_env: raw.secret_env,
                    secret_file: raw.secret_file,
                    params: raw.params,
                    timeout_s: raw.timeout_s,
                },
            )?)),
        })
    }
}

/// The body a webhook posts.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WebhookFormat {
    /// The same document a command gets on stdin.
    #[default]
    Json,
    /// Alertmanager's webhook payload, version 4.
    Alertmanager,
    /// `{"text": …}`.
    Slack,
}

impl Notifier {
    pub(crate) fn name(&self) -> &str {
        match self {
            Notifier::Log { name }
            | Notifier::Command { name, .. }
            | Notifier::Webhook { name, .. }
            | Notifier::Smtp { name, .. } => name,
            Notifier::Http(http) => &http.name,
        }
    }
}

fn default_webhook_timeout() -> u64 {
    10
}

fn default_notifier_timeout() -> u64 {
    30
}
