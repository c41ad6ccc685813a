//! `kind = "http"`: one HTTP request per message (or per event), its URL,
//! headers and body templates (minijinja) filled from the message. A
//! `preset` fills them in for a provider (`presets/<name>.toml`, each
//! following that provider's documented API); anything given beside a
//! preset overrides it, a header given as "" takes the preset's away.
//!
//! A secret (a token in a URL or a header) comes from `secret_env` or
//! `secret_file`, is `{{ secret }}` in the templates, and is never shown:
//! the configuration holds only where it is.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// A configured HTTP notifier, preset applied and templates checked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HttpNotifier {
    pub(crate) name: String,
    pub(crate) preset: Option<String>,
    pub(crate) method: Method,
    /// `{{ server }}` in the templates: the provider's address (a preset
    /// gives the public one; a self-hosted server or a test sets its own).
    pub(crate) server: String,
    pub(crate) url: String,
    /// Header templates, by name: one rendered empty is not sent.
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Body,
    /// One request per event of a message (PagerDuty keeps one incident
    /// per alert), or one per message.
    pub(crate) each_event: bool,
    pub(crate) secret: Option<SecretFrom>,
    /// `{{ params.… }}`: what a provider needs besides the secret (an
    /// account, a sending number).
    pub(crate) params: BTreeMap<String, String>,
    pub(crate) timeout_s: u64,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// What the request carries.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Body {
    None,
    /// A template that renders JSON (checked before it is sent).
    Json(String),
    /// A template that renders plain text.
    Text(String),
    /// Fields, each a template, sent form-encoded; one rendered empty is
    /// left out.
    Form(BTreeMap<String, String>),
}

/// Where the secret is read, at each start and reload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SecretFrom {
    Env(String),
    File(PathBuf),
}

impl SecretFrom {
    /// The secret (a file's first line), or why it cannot be read (never
    /// the secret itself).
    pub(crate) fn read(&self) -> Result<String, String> {
        let secret = match self {
            SecretFrom::Env(var) => std::env::var(var)
                .map_err(|_| format!("the environment variable {var} (secret_env) is not set"))?,
            SecretFrom::File(path) => std::fs::read_to_string(path)
                .map_err(|err| format!("secret_file {}: {err}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        if secret.trim().is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(secret.trim().to_owned())
    }
}

/// The keys a `kind = "http"` notifier takes, as read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpKeys {
    pub(crate) preset: Option<String>,
    pub(crate) method: Option<Method>,
    pub(crate) server: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) headers: Option<BTreeMap<String, String>>,
    pub(crate) content_type: Option<ContentType>,
    pub(crate) body: Option<String>,
    pub(crate) form: Option<BTreeMap<String, String>>,
    pub(crate) each_event: Option<bool>,
    pub(crate) secret_env: Option<String>,
    pub(crate) secret_file: Option<PathBuf>,
    pub(crate) params: Option<BTreeMap<String, String>>,
    pub(crate) timeout_s: Option<u64>,
}

/// The keys only `kind = "http"` takes (beside `url`, `server` and
/// `timeout_s`, which other kinds take too).
pub(crate) const KEYS: [&str; 13] = [
    "preset",
    "method",
    "server",
    "url",
    "headers",
    "content_type",
    "body",
    "form",
    "each_event",
    "secret_env",
    "secret_file",
    "params",
    "timeout_s",
];

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ContentType {
    Json,
    Text,
    Form,
}

/// The presets, by name, each its provider's request as a file.
pub(crate) const PRESETS: [(&str, &str); 9] = [
    ("ntfy", include_str!("presets/ntfy.toml")),
    ("pushover", include_str!("presets/pushover.toml")),
    ("pagerduty", include_str!("presets/pagerduty.toml")),
    ("telegram", include_str!("presets/telegram.toml")),
    ("matrix", include_str!("presets/matrix.toml")),
    ("slack", include_str!("presets/slack.toml")),
    ("teams", include_str!("presets/teams.toml")),
    ("discord", include_str!("presets/discord.toml")),
    ("twilio", include_str!("presets/twilio.toml")),
];

/// A preset file: the keys it fills in, and `requires`: what the user
/// must give (`secret`, `params.from`, …).
fn preset(name: &str) -> Result<(HttpKeys, Vec<String>), String> {
    let (_, text) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
        format!("no preset {name:?}: one of {}", names.join(", "))
    })?;
    let broken = |err: String| format!("the preset {name:?} does not read: {err}");
    let mut table: toml::Table = toml::from_str(text).map_err(|e| broken(e.to_string()))?;
    let requires = match table.remove("requires") {
        Some(list) => list
            .try_into()
            .map_err(|e: toml::de::Error| broken(e.to_string()))?,
        None => Vec::new(),
    };
    let keys = table
        .try_into()
        .map_err(|e: toml::de::Error| broken(e.to_string()))?;
    Ok((keys, requires))
}

impl HttpNotifier {
    /// The notifier `keys` describe, on top of their preset if any.
    pub(crate) fn of(name: String, keys: HttpKeys) -> Result<HttpNotifier, String> {
        let (base, requires) = match &keys.preset {
            Some(p) => preset(p)?,
            None => (HttpKeys::default(), Vec::new()),
        };
        let mut headers = base.headers.unwrap_or_default();
        for (header, value) in keys.headers.unwrap_or_default() {
            if value.is_empty() {
                headers.remove(&header);
            } else {
                headers.insert(header, value);
            }
        }
        let secret = match (keys.secret_env, keys.secret_file) {
            (Some(_), Some(_)) => return Err("give secret_env or secret_file, not both".into()),
            (Some(var), None) => Some(SecretFrom::Env(var)),
            (None, Some(file)) => Some(SecretFrom::File(file)),
            (None, None) => None,
        };
        let mut params = base.params.unwrap_or_default();
        params.extend(keys.params.unwrap_or_default());
        let content_type = keys.content_type.or(base.content_type);
        // A body or form given replaces the preset's, whichever it was.
        let (body, form) = match (keys.body, keys.form) {
            (None, None) => (base.body, base.form),
            given => given,
        };
        let body = match (content_type, body, form) {
            (_, Some(_), Some(_)) => return Err("give body or form, not both".into()),
            (Some(ContentType::Form) | None, None, Some(form)) => Body::Form(form),
            (Some(ContentType::Json) | None, Some(body), None) => Body::Json(body),
            (Some(ContentType::Text), Some(body), None) => Body::Text(body),
            (Some(ContentType::Form), Some(_), None) => {
                return Err("content_type = \"form\" takes `form` (a table), not `body`".into())
            }
            (Some(other), None, Some(_)) => {
                return Err(format!(
                    "`form` is sent as content_type = \"form\", not {other:?}"
                ))
            }
            (_, None, None) => Body::None,
        };
        let notifier = HttpNotifier {
            name,
            preset: keys.preset,
            method: keys.method.or(base.method).unwrap_or(Method::Post),
            server: keys.server.or(base.server).unwrap_or_default(),
            url: keys
                .url
                .or(base.url)
                .ok_or("missing field `url` (kind = \"http\" needs it, or a preset)")?,
            headers,
            body,
            each_event: keys.each_event.or(base.each_event).unwrap_or(false),
            secret,
            params,
            timeout_s: keys.timeout_s.or(base.timeout_s).unwrap_or(10),
        };
        notifier.check(&requires)?;
        Ok(notifier)
    }

    /// Every template parses, and what the preset needs is given.
    fn check(&self, requires: &[String]) -> Result<(), String> {
        for need in requires {
            let given = match need.strip_prefix("params.") {
                Some(param) => self.params.contains_key(param),
                None if need == "secret" => self.secret.is_some(),
                None if need == "server" => !self.server.is_empty(),
                None => true,
            };
            if !given {
                let how = if need == "secret" {
                    "secret_env or secret_file"
                } else {
                    need
                };
                return Err(format!(
                    "the preset {:?} needs {how}",
                    self.preset.as_deref().unwrap_or_default()
                ));
            }
        }
        let env = minijinja::Environment::new();
        for (what, template) in self.templates() {
            env.template_from_str(template)
                .map_err(|err| format!("{what}: the template does not read: {err}"))?;
        }
        if !matches!(self.timeout_s, 1..=300) {
            return Err("timeout_s: from 1 to 300".into());
        }
        Ok(())
    }

    /// Every template, with where it is in the configuration.
    pub(crate) fn templates(&self) -> Vec<(String, &str)> {
        let mut out = vec![("url".to_owned(), self.url.as_str())];
        for (header, value) in &self.headers {
            out.push((format!("headers.{header}"), value.as_str()));
        }
        match &self.body {
            Body::Json(t) | Body::Text(t) => out.push(("body".into(), t.as_str())),
            Body::Form(fields) => {
                for (field, value) in fields {
                    out.push((format!("form.{field}"), value.as_str()));
                }
            }
            Body::None => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(preset: &str) -> HttpKeys {
        HttpKeys {
            preset: Some(preset.into()),
            secret_env: Some("TOKEN".into()),
            server: Some("https://matrix.example.com".into()),
            params: Some(
                [("account_sid", "AC0"), ("from", "+15005550006")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
            ..HttpKeys::default()
        }
    }

    #[test]
    fn every_preset_reads_and_its_templates_parse() {
        for (name, _) in PRESETS {
            let n =
                HttpNotifier::of(name.into(), keys(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!n.url.is_empty(), "{name}");
        }
    }

    #[test]
    fn given_keys_override_the_preset_and_an_empty_header_removes_one() {
        let mut k = keys("ntfy");
        k.server = Some("http://127.0.0.1:9".into());
        k.headers = Some(
            [("Title", ""), ("X-Extra", "{{ id }}")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
        );
        let n = HttpNotifier::of("n".into(), k).unwrap();
        assert_eq!(n.server, "http://127.0.0.1:9");
        assert!(!n.headers.contains_key("Title"));
        assert_eq!(n.headers["X-Extra"], "{{ id }}");
        assert!(
            n.headers.contains_key("Priority"),
            "the preset's others stay"
        );
    }

    #[test]
    fn what_a_preset_needs_is_said_and_a_bad_template_named() {
        let mut k = keys("twilio");
        k.params = None;
        let err = HttpNotifier::of("n".into(), k).unwrap_err();
        assert!(err.contains("params.account_sid"), "{err}");
        let mut k = keys("telegram");
        k.secret_env = None;
        let err = HttpNotifier::of("n".into(), k).unwrap_err();
        assert!(err.contains("secret_env or secret_file"), "{err}");
        let bad = HttpKeys {
            url: Some("http://x/{{ to".into()),
            ..HttpKeys::default()
        };
        let err = HttpNotifier::of("n".into(), bad).unwrap_err();
        assert!(err.starts_with("url: the template does not read"), "{err}");
        let err = HttpNotifier::of("n".into(), keys("gotify")).unwrap_err();
        assert!(err.contains("one of ntfy, pushover"), "{err}");
    }
}
