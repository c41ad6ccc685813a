//! Configuration: TOML, with the default compiled in.
//!
//! Every key has a default, so an empty file is a valid configuration; the
//! embedded `config/default.toml` spells the defaults out. Unknown keys are
//! errors (a typo must not silently fall back to a default), and values are
//! checked at load so that a bad file stops the daemon with a message that
//! names the key, never with a panic later.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The configuration used when no `--config` is given.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: Listen,
    pub store: StoreConfig,
    pub server: Server,
    pub http: HttpConfig,
    #[serde(rename = "notifier")]
    pub notifiers: Vec<Notifier>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    pub udp: OneOrMany,
    pub http: SocketAddr,
}

/// `udp = "addr"` or `udp = ["addr", "addr"]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(SocketAddr),
    Many(Vec<SocketAddr>),
}

impl OneOrMany {
    pub fn addrs(&self) -> Vec<SocketAddr> {
        match self {
            OneOrMany::One(addr) => vec![*addr],
            OneOrMany::Many(addrs) => addrs.clone(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// Group-commit window: applied updates reach the disk within this.
    /// 0 flushes after every batch.
    pub flush_interval_ms: u64,
    /// Memory sled may use for its page cache.
    pub cache_mib: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Timers of alerts last updated before start wait this long after start.
    pub initial_sleep_s: u64,
    /// How long a transmission id is remembered for de-duplication.
    pub transmission_cache_s: u64,
    /// The longest acknowledgement allowed.
    pub max_acknowledgement_s: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Request bodies (POST /events, actions) larger than this get 413.
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: crate::http::MAX_BODY_BYTES,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Notifier {
    pub name: String,
    pub kind: NotifierKind,
    /// For `kind = "command"`: the program and its arguments.
    #[serde(default)]
    pub command: Vec<String>,
    /// A command still running after this is killed and retried.
    #[serde(default = "default_notifier_timeout")]
    pub timeout_s: u64,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NotifierKind {
    Log,
    Command,
}

fn default_notifier_timeout() -> u64 {
    30
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            udp: OneOrMany::One(SocketAddr::from(([127, 0, 0, 1], 32741))),
            http: SocketAddr::from(([127, 0, 0, 1], 1288)),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("mauved-data"),
            flush_interval_ms: 100,
            cache_mib: 64,
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server {
            initial_sleep_s: 300,
            transmission_cache_s: 300,
            max_acknowledgement_s: 15 * 86_400,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: Listen::default(),
            store: StoreConfig::default(),
            server: Server::default(),
            http: HttpConfig::default(),
            notifiers: vec![Notifier {
                name: "log".into(),
                kind: NotifierKind::Log,
                command: Vec::new(),
                timeout_s: default_notifier_timeout(),
            }],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {err}")]
    Read { path: String, err: std::io::Error },
    #[error("{path}: {err}")]
    Parse { path: String, err: toml::de::Error },
    #[error("{path}: {key}: {what}")]
    Invalid {
        path: String,
        key: String,
        what: String,
    },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
            path: path.display().to_string(),
            err,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    pub fn embedded() -> Config {
        Config::parse(DEFAULT_TOML, "embedded default")
            .expect("the embedded default config is checked by a unit test")
    }

    /// Parses and validates; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: origin.to_owned(),
            err,
        })?;
        config
            .validate()
            .map_err(|(key, what)| ConfigError::Invalid {
                path: origin.to_owned(),
                key,
                what,
            })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, what: &str| Err((key.to_owned(), what.to_owned()));
        if self.listen.udp.addrs().is_empty() {
            return fail("listen.udp", "needs at least one address");
        }
        if self.store.path.as_os_str().is_empty() {
            return fail("store.path", "must not be empty");
        }
        if self.store.flush_interval_ms > 60_000 {
            return fail(
                "store.flush_interval_ms",
                "at most 60000 (a minute of updates could be lost)",
            );
        }
        if self.store.cache_mib == 0 {
            return fail("store.cache_mib", "must be at least 1");
        }
        if self.http.max_body_bytes < 1024 {
            return fail("http.max_body_bytes", "must be at least 1024");
        }
        if self.server.max_acknowledgement_s == 0 {
            return fail("server.max_acknowledgement_s", "must be at least 1");
        }
        for (i, notifier) in self.notifiers.iter().enumerate() {
            let key = |field: &str| format!("notifier[{i}].{field}");
            if notifier.name.is_empty() || notifier.name.contains('\0') {
                return fail(&key("name"), "must be a non-empty name");
            }
            if self.notifiers[..i].iter().any(|n| n.name == notifier.name) {
                return fail(&key("name"), &format!("{:?} is used twice", notifier.name));
            }
            match notifier.kind {
                NotifierKind::Command if notifier.command.is_empty() => {
                    return fail(&key("command"), "kind = \"command\" needs a command");
                }
                NotifierKind::Log if !notifier.command.is_empty() => {
                    return fail(&key("command"), "only for kind = \"command\"");
                }
                _ => {}
            }
            if notifier.timeout_s == 0 {
                return fail(&key("timeout_s"), "must be at least 1");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid_and_matches_the_built_in_defaults() {
        assert_eq!(Config::embedded(), Config::default());
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../config/example.toml");
        let config = Config::parse(text, "example").unwrap();
        assert_eq!(config.listen.udp.addrs().len(), 2);
        assert!(config
            .notifiers
            .iter()
            .any(|n| n.kind == NotifierKind::Command));
    }

    #[test]
    fn empty_file_means_defaults() {
        let config = Config::parse("", "t").unwrap();
        assert_eq!(config.store.flush_interval_ms, 100);
        // Without any [[notifier]], notifications still reach the log.
        assert_eq!(config.notifiers.len(), 1);
        assert_eq!(config.notifiers[0].kind, NotifierKind::Log);
    }

    fn error(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_key() {
        assert!(error("[listen]\nudp = \"nonsense\"").contains("udp"));
        assert!(error("[store]\nflush_intervall_ms = 5").contains("flush_intervall_ms"));
        assert!(error("[store]\nflush_interval_ms = 600000").contains("store.flush_interval_ms"));
        let twice = "[[notifier]]\nname = \"a\"\nkind = \"log\"\n[[notifier]]\nname = \"a\"\nkind = \"log\"";
        assert!(error(twice).contains("notifier[1].name"));
        let no_command = "[[notifier]]\nname = \"a\"\nkind = \"command\"";
        assert!(error(no_command).contains("notifier[0].command"));
        assert!(error("[[notifier]]\nname = \"a\"\nkind = \"pager\"").contains("kind"));
        assert!(error("[store").starts_with("t.toml:"));
    }

    #[test]
    fn udp_takes_one_address_or_a_list() {
        let one = Config::parse("[listen]\nudp = \"[::]:32741\"", "t").unwrap();
        assert_eq!(one.listen.udp.addrs().len(), 1);
        let two = Config::parse("[listen]\nudp = [\"127.0.0.1:1\", \"[::1]:2\"]", "t").unwrap();
        assert_eq!(two.listen.udp.addrs().len(), 2);
    }
}
