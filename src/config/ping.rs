//! `[ping]`: heartbeats and job results over HTTP, for anything that can
//! run curl (`GET|POST /ping/<key>/<source>/<id>`, see `http::ping`).
//!
//! A ping key is not a token that may act: it only pings, only the sources
//! its globs allow, and it ends up in crontabs and CI logs, so it is kept
//! apart from `[[http.token]]`.

use serde::Deserialize;

use super::Secs;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PingConfig {
    /// `[[ping.key]]`: who may ping, and which sources.
    #[serde(rename = "key")]
    pub(crate) keys: Vec<PingKey>,
    /// `[[ping.rule]]`: how often a source/id pings, when the ping does not
    /// say (`?every=`); the first rule that matches.
    #[serde(rename = "rule")]
    pub(crate) rules: Vec<PingRule>,
    /// Pings one key may send per minute; more get 429.
    pub(crate) per_key_per_minute: u32,
}

impl Default for PingConfig {
    fn default() -> Self {
        PingConfig {
            keys: Vec::new(),
            rules: Vec::new(),
            per_key_per_minute: 600,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct PingKey {
    pub(crate) name: String,
    /// At least 16 characters (`mauved new-token` prints one).
    pub(crate) key: String,
    /// Sources the key may ping, as `match` items (globs, `/regex/`);
    /// empty: any.
    #[serde(default)]
    pub(crate) sources: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct PingRule {
    /// `match` items; absent: any.
    #[serde(default)]
    pub(crate) source: Vec<String>,
    #[serde(default)]
    pub(crate) id: Vec<String>,
    pub(crate) every: Secs,
    #[serde(default = "default_grace")]
    pub(crate) grace: Secs,
}

fn default_grace() -> Secs {
    Secs(300)
}

impl super::Config {
    /// `[ping]`.
    pub(super) fn ping_problems(&self, fail: &mut dyn FnMut(&str, &str)) {
        let ping = &self.ping;
        for (i, key) in ping.keys.iter().enumerate() {
            let at = |k: &str| format!("ping.key[{i}].{k}");
            if key.name.trim().is_empty() {
                fail(&at("name"), "must be a non-empty name");
            }
            if ping.keys[..i].iter().any(|k| k.name == key.name) {
                fail(&at("name"), &format!("{:?} is used twice", key.name));
            }
            if key.key.chars().count() < 16 {
                fail(
                    &at("key"),
                    "at least 16 characters (`mauved new-token` prints one)",
                );
            }
            if ping.keys[..i].iter().any(|k| k.key == key.key) {
                fail(&at("key"), "the same key as another");
            }
            for (j, item) in key.sources.iter().enumerate() {
                if let Err(why) = regex_item(item) {
                    fail(&at(&format!("sources[{j}]")), &why);
                }
            }
        }
        for (i, rule) in ping.rules.iter().enumerate() {
            let at = |k: &str| format!("ping.rule[{i}].{k}");
            if rule.every.0 == 0 {
                fail(&at("every"), "must be at least 1s");
            }
            for (what, items) in [("source", &rule.source), ("id", &rule.id)] {
                for (j, item) in items.iter().enumerate() {
                    if let Err(why) = regex_item(item) {
                        fail(&at(&format!("{what}[{j}]")), &why);
                    }
                }
            }
        }
        if ping.per_key_per_minute == 0 {
            fail("ping.per_key_per_minute", "must be at least 1");
        }
    }
}

/// A `/regex/` item must compile (a glob always does).
fn regex_item(item: &str) -> Result<(), String> {
    match item.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
        Some(inner) if !inner.is_empty() => regex::Regex::new(inner)
            .map(|_| ())
            .map_err(|err| format!("{item:?} is not a valid regex: {err}")),
        _ => Ok(()),
    }
}
