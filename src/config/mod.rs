//! Configuration: TOML, with the default compiled in.
//!
//! Owns the file's data and the value types read with it (durations,
//! address ranges, destinations); uses no other stage: the parts that become
//! routing's types are compiled by `routing::compile`, once.
//!
//! Every key has a default, so an empty file is a valid configuration; the
//! embedded `config/default.toml` spells the defaults out. Unknown keys are
//! errors (a typo must not silently fall back to a default), and values are
//! checked at load so that a bad file stops the daemon with a message that
//! names the key, never with a panic later.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod checks;
pub(crate) mod http_notifier;
mod messages;
mod notifiers;
mod oncall;
pub(crate) mod ping;
mod read;
pub(crate) mod redact;
mod values;

use self::messages::{backticked, nearest, syntax_problem};

pub(crate) use self::notifiers::{Notifier, WebhookFormat};
pub use self::oncall::{
    built_in_windows, local_time, AlertGroup, Away, Match, NotifyClause, Oncall, Override, Person,
    RateLimit, RotationSpec, Secs, WindowSpec,
};
pub use self::values::{parse_destination, split_host_port, Cidr, Destination, DEFAULT_PORT};

/// Lists may name lists this deep at most (the walk is recursive).
const MAX_LIST_DEPTH: usize = 64;

/// The configuration used when no `--config` is given.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub(crate) listen: Listen,
    pub(crate) store: StoreConfig,
    pub(crate) server: Server,
    pub(crate) http: HttpConfig,
    #[serde(rename = "notifier")]
    pub(crate) notifiers: Vec<Notifier>,
    /// People, by name (operations.md §1).
    #[serde(rename = "person")]
    pub(crate) people: BTreeMap<String, Person>,
    /// Named lists of people and other lists.
    pub(crate) people_list: BTreeMap<String, Vec<String>>,
    /// Alert groups in file order; the first whose `match` holds routes an
    /// alert. None at all: every event goes to every notifier.
    #[serde(rename = "alert_group")]
    pub(crate) alert_groups: Vec<AlertGroup>,
    /// Time zone, links, holidays and storm batching.
    pub(crate) oncall: Oncall,
    /// Named windows for `during` (beside the built-in ones).
    pub(crate) window: BTreeMap<String, WindowSpec>,
    /// Rotations by name: one member at a time.
    pub(crate) rotation: BTreeMap<String, RotationSpec>,
    /// This daemon's own heartbeat to other stations.
    pub(crate) heartbeat: HeartbeatConfig,
    /// How long delivery keeps trying, and when a notifier counts as down.
    pub(crate) delivery: Delivery,
    /// Two stations on etcd (`ha` builds); None: a station of its own.
    pub(crate) cluster: Option<ClusterConfig>,
    /// Alerts posted as Prometheus does (`POST /api/v2/alerts`).
    pub(crate) prometheus: PrometheusConfig,
    /// Heartbeats and job results over HTTP (`/ping/…`).
    pub(crate) ping: ping::PingConfig,
    /// How long expired silences are kept, and how many may be in force.
    pub(crate) silences: SilencesConfig,
    /// The file as it may be shown, every secret replaced (see
    /// [`redact`]); shown by `GET /api/v2/status`.
    #[serde(skip)]
    pub(crate) shown: Shown,
    /// The file it was read from (None: the built-in one), read again on
    /// a reload.
    #[serde(skip)]
    pub(crate) file: FileOf,
}

/// `[silences]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SilencesConfig {
    /// An expired silence is deleted (store and etcd) this long after it
    /// ended (Alertmanager's default: 120 h).
    pub(crate) retention: Secs,
    /// Silences active or pending at most; one more is refused.
    pub(crate) max_active: usize,
}

impl Default for SilencesConfig {
    fn default() -> Self {
        SilencesConfig {
            retention: Secs(120 * 3600),
            max_active: 10_000,
        }
    }
}

/// Where a configuration was read from. Not part of what it means.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileOf(pub(crate) Option<PathBuf>);

impl PartialEq for FileOf {
    fn eq(&self, _: &FileOf) -> bool {
        true
    }
}

/// A configuration's text as it may be shown, secrets replaced. Not part
/// of what it means: two configurations that say the same are equal however
/// they are written.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shown(pub(crate) String);

impl PartialEq for Shown {
    fn eq(&self, _: &Shown) -> bool {
        true
    }
}

/// `[prometheus]`: how Prometheus's alerts become mauve alerts.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PrometheusConfig {
    /// The importance of `severity` label values, over the built-in ones
    /// (critical 90, error and high 80, warning 60, info 30; others 50).
    pub(crate) severity_importance: BTreeMap<String, u32>,
}

impl PrometheusConfig {
    /// The built-in values with the configured ones over them.
    pub(crate) fn importance(&self) -> BTreeMap<String, u32> {
        let mut all: BTreeMap<String, u32> = [
            ("critical", 90),
            ("error", 80),
            ("high", 80),
            ("warning", 60),
            ("info", 30),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        all.extend(self.severity_importance.clone());
        all
    }
}

/// `[cluster]`: this station and the etcd members it coordinates through.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterConfig {
    /// This station's name, unique in the cluster.
    pub(crate) station: String,
    /// etcd members' client URLs (`http://host:2379`).
    pub(crate) etcd: Vec<String>,
    /// Every key mauved writes starts with this.
    #[serde(default = "default_cluster_prefix")]
    pub(crate) prefix: String,
    /// The leader key's lease, seconds.
    #[serde(default = "default_lease_ttl")]
    pub(crate) lease_ttl_s: u64,
    /// Isolated this long, a station sends urgent messages itself, marked
    /// as such (off when left out).
    #[serde(default)]
    pub(crate) fail_open_after: Option<Secs>,
    /// How often the leader compacts etcd's history up to what every
    /// station has watched ("0s": never, for an etcd that compacts itself).
    #[serde(default = "default_compact_every")]
    pub(crate) compact_every: Secs,
    /// etcd's `--quota-backend-bytes` (etcd's default, 2 GiB): a station
    /// warns once etcd's database passes 80% of it.
    #[serde(default = "default_etcd_quota")]
    pub(crate) etcd_quota_bytes: u64,
    /// How long etcd keeps each delivery's claim and record: longer than a
    /// follower may hold a message it holds (a day).
    #[serde(default = "default_records_kept")]
    pub(crate) records_kept: Secs,
}

fn default_compact_every() -> Secs {
    Secs(300)
}

fn default_etcd_quota() -> u64 {
    2 << 30
}

fn default_records_kept() -> Secs {
    Secs(86_400)
}

fn default_cluster_prefix() -> String {
    "/mauved/".into()
}

fn default_lease_ttl() -> u64 {
    10
}

/// `[delivery]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Delivery {
    /// A message still failing this long after its event is given up (a
    /// dead letter, in the history and on the page); "0s": never.
    pub(crate) max_age: Secs,
    /// A notifier that failed every attempt for longer than this makes
    /// `/health` answer 503 "degraded", naming it.
    pub(crate) degraded_after: Secs,
    /// Shadow mode: every decision is made and recorded ("would have
    /// sent" in the history, `GET /api/shadow`) but nothing is delivered.
    pub(crate) shadow: bool,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            max_age: Secs(86_400),
            degraded_after: Secs(600),
            shadow: false,
        }
    }
}

/// `[heartbeat]`: mauve's self-heartbeat. No destination: off.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HeartbeatConfig {
    /// `host`, `host:port`, `ip:port` (as for mauvesend).
    pub(crate) destinations: Vec<Destination>,
    pub(crate) send_every: Secs,
    /// As given in the file.
    #[serde(rename = "raise_after")]
    raise_after_given: Option<Secs>,
    /// The value in force: as given, or else five beats and ten seconds.
    #[serde(skip)]
    pub(crate) raise_after: Secs,
    /// The alert's source; default this host's name.
    pub(crate) source: String,
    pub(crate) summary: String,
    pub(crate) detail: String,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            destinations: Vec::new(),
            send_every: Secs(60),
            raise_after_given: None,
            raise_after: Secs(310),
            source: String::new(),
            summary: "Mauve alert server heartbeat failed".into(),
            detail: String::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Listen {
    /// `udp = "addr"` or `udp = ["addr", "addr"]`.
    #[serde(deserialize_with = "one_or_more_addrs")]
    pub(crate) udp: Vec<SocketAddr>,
    #[serde(deserialize_with = "one_addr")]
    pub(crate) http: SocketAddr,
    /// Address ranges UDP packets are taken from; empty: from anyone.
    pub(crate) allow_sources: Vec<Cidr>,
    /// Packets a second one sender address may send; 0: no limit.
    pub(crate) max_packets_per_source: u64,
    /// Sockets (and tasks) receiving on each UDP address, the kernel
    /// spreading senders over them (`SO_REUSEPORT`); 0: one per core; 1
    /// by default (see `ingest::bind_udp`).
    pub(crate) udp_readers: usize,
}

impl Listen {
    /// Most sockets on one address.
    pub(crate) const MAX_UDP_READERS: usize = 64;

    /// Sockets receiving on each UDP address: as given, or one per core.
    pub(crate) fn readers(&self) -> usize {
        match self.udp_readers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
        .clamp(1, Self::MAX_UDP_READERS)
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StoreConfig {
    pub(crate) path: PathBuf,
    /// Group-commit window: state changes and queued messages reach the disk
    /// within this. 0 writes as soon as the writer is free.
    pub(crate) flush_interval_ms: u64,
    /// A change that only moves an alert's timers (a heartbeat refresh)
    /// reaches the disk within this many seconds, as given in the file.
    /// At most the startup grace.
    #[serde(rename = "timer_flush_s")]
    timer_flush_given: Option<u64>,
    /// The value in force: as given, or else the smaller of 60 and
    /// `server.initial_sleep_s`.
    #[serde(skip)]
    pub(crate) timer_flush_s: u64,
    /// Store writes (buckets of up to 64 alerts) per second, at most, for
    /// timer-only changes (sled's memory grows with its write rate).
    pub(crate) max_writes_per_s: u64,
    /// Alerts kept, at most: memory is bounded by this count. New alerts
    /// beyond it are refused and counted.
    pub(crate) max_alerts: usize,
    /// Memory sled may use for its page cache.
    pub(crate) cache_mib: u64,
    /// Alert history is kept this many days.
    pub(crate) history_days: u64,
    /// Below this much free space on the data directory's disk the store
    /// writes nothing (changes wait in memory) and `/health` says why; 0 is
    /// off. sled itself may not recover from running out of space.
    pub(crate) min_free_mib: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Server {
    /// Timers of alerts last updated before start wait this long after start.
    pub(crate) initial_sleep_s: u64,
    /// How long a transmission id is remembered for de-duplication.
    pub(crate) transmission_cache_s: u64,
    /// The longest acknowledgement allowed.
    pub(crate) max_acknowledgement_s: u64,
    /// Cleared alerts not updated this long are forgotten ("0s": never).
    pub(crate) forget_cleared_after: Secs,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Request bodies (POST /events, actions) larger than this get 413.
    pub max_body_bytes: usize,
    /// Reading the page and the API needs a login or a token too.
    pub(crate) read_requires_login: bool,
    /// Open connections at most; more are closed at once (but a few kept
    /// back for `/health` and `/metrics`).
    pub(crate) max_connections: usize,
    /// Open connections one client address may hold.
    pub(crate) max_connections_per_address: usize,
    /// Open `GET /api/stream`s at most, and per client address.
    pub(crate) max_streams: usize,
    pub(crate) max_streams_per_address: usize,
    /// `POST /events` and `POST /api/v2/alerts` need a token with the
    /// `ingest` scope (otherwise they are open like UDP, within
    /// `listen.allow_sources`).
    pub(crate) ingest_requires_token: bool,
    /// Names this server answers to in `Host`, beside its addresses,
    /// `localhost`, this machine's name and `oncall.base_url`'s host.
    pub(crate) hosts: Vec<String>,
    /// People who log in to the page.
    #[serde(rename = "user")]
    pub(crate) users: Vec<HttpUser>,
    /// Tokens for the API (`Authorization: Bearer …`).
    #[serde(rename = "token")]
    pub(crate) tokens: Vec<HttpToken>,
    /// Every message carries an action link (`/a/<token>`) for its person.
    pub(crate) message_links: bool,
    /// How long an action link works (it stops sooner when the alert
    /// clears or is forgotten).
    pub(crate) message_links_for: Secs,
}

/// `[[http.user]]`: a name and an argon2 password hash (`mauved hash-password`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpUser {
    pub(crate) name: String,
    pub(crate) password_hash: String,
}

/// `[[http.token]]`: a name (the author of what it does), the secret and
/// what it may do.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpToken {
    pub(crate) name: String,
    pub(crate) token: String,
    /// `act` (acknowledge, silence, forget…) and `ingest` (send alerts
    /// over HTTP); both unless said.
    #[serde(default = "every_scope")]
    pub(crate) scopes: Vec<TokenScope>,
}

/// What a token may do.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TokenScope {
    /// Change alerts and silences.
    Act,
    /// Send alerts: `POST /events`, `POST /api/v2/alerts`.
    Ingest,
}

fn every_scope() -> Vec<TokenScope> {
    vec![TokenScope::Act, TokenScope::Ingest]
}

/// Reads one `IP:PORT`, saying what a good one looks like when it is not.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "{text:?} is not an IP:PORT address; names such as \"localhost\" are not looked up \
             here: write e.g. \"127.0.0.1:32741\", \"[::1]:32741\" or \"[::]:32741\""
        )
    })
}

fn one_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    parse_addr(&text).map_err(serde::de::Error::custom)
}

fn one_or_more_addrs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    use serde::de::Error;
    match toml::Value::deserialize(d)? {
        toml::Value::String(text) => Ok(vec![parse_addr(&text).map_err(D::Error::custom)?]),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                toml::Value::String(text) => parse_addr(text)
                    .map_err(|what| D::Error::custom(format!("element {i}: {what}"))),
                other => Err(D::Error::custom(format!(
                    "element {i}: expected an \"IP:PORT\" string, found {}",
                    other.type_str()
                ))),
            })
            .collect(),
        other => Err(D::Error::custom(format!(
            "expected an \"IP:PORT\" string or a list of them, found {}",
            other.type_str()
        ))),
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            udp: vec![SocketAddr::from(([127, 0, 0, 1], 32741))],
            http: SocketAddr::from(([127, 0, 0, 1], 1288)),
            allow_sources: Vec::new(),
            max_packets_per_source: 0,
            udp_readers: 1,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("mauved-data"),
            flush_interval_ms: 100,
            timer_flush_given: None,
            timer_flush_s: 60,
            max_writes_per_s: 2_000,
            max_alerts: 1_000_000,
            cache_mib: 8,
            history_days: 30,
            min_free_mib: 64,
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server {
            initial_sleep_s: 300,
            transmission_cache_s: 300,
            max_acknowledgement_s: 15 * 86_400,
            forget_cleared_after: Secs(30 * 86_400),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 1024 * 1024,
            read_requires_login: false,
            max_connections: 1024,
            max_connections_per_address: 64,
            max_streams: 256,
            max_streams_per_address: 16,
            ingest_requires_token: false,
            hosts: Vec::new(),
            users: Vec::new(),
            tokens: Vec::new(),
            message_links: true,
            message_links_for: Secs(24 * 3600),
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
            notifiers: vec![Notifier::Log { name: "log".into() }],
            people: BTreeMap::new(),
            people_list: BTreeMap::new(),
            alert_groups: Vec::new(),
            oncall: Oncall::default(),
            window: BTreeMap::new(),
            rotation: BTreeMap::new(),
            heartbeat: HeartbeatConfig::default(),
            delivery: Delivery::default(),
            cluster: None,
            prometheus: PrometheusConfig::default(),
            ping: ping::PingConfig::default(),
            silences: SilencesConfig::default(),
            shown: Shown::default(),
            file: FileOf::default(),
        }
    }
}

/// One thing wrong with a configuration: the key and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub what: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {err}")]
    Read { path: String, err: std::io::Error },
    /// Where the text stops being TOML: the line and column, what is wrong
    /// and, unless the line holds a secret, the line itself.
    #[error("{path}: {what}")]
    Parse { path: String, what: String },
    #[error("{}", problems.iter().map(|p| format!("{path}: {}: {}", p.key, p.what)).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

impl Config {
    /// Reads and checks the configuration's own keys; every problem found
    /// is reported, not just the first. Routing's parts (windows, matchers,
    /// rotations) are checked when they are compiled: `routing::parse`
    /// does both, as the daemon does (and this, for the tests of this
    /// module's own checks).
    #[cfg(test)]
    pub(crate) fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let (config, mut problems, placing) = Config::read_all(text, origin)?;
        problems.extend(config.problems().into_iter().map(|p| placing.place(p)));
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_owned(),
                problems,
            })
        }
    }

    /// Defaults that follow another key: a user who sets one key is never
    /// asked to set one they did not write. Only an explicit contradiction
    /// is an error (see [`Config::problems`]).
    fn follow_given_keys(&mut self) {
        self.store.timer_flush_s = self
            .store
            .timer_flush_given
            .unwrap_or(self.server.initial_sleep_s.min(60));
        self.heartbeat.raise_after = self.heartbeat.raise_after_given.unwrap_or(Secs(
            self.heartbeat
                .send_every
                .0
                .saturating_mul(5)
                .saturating_add(10),
        ));
    }

    /// Every window `during` may name: the built-in ones and `[window]`.
    pub(crate) fn windows(&self) -> BTreeMap<String, WindowSpec> {
        let mut all = built_in_windows();
        all.extend(self.window.clone());
        all
    }

    /// The people a name stands for: a person (or a rotation, resolved at
    /// send time), or every one of a list (lists may name lists), in
    /// order, each once. A list that contains
    /// itself, however deep, is an error naming the loop.
    pub(crate) fn people_of(&self, name: &str) -> Result<Vec<String>, String> {
        /// One walk: each list is expanded once (a list named again adds
        /// nobody new), so lists that name lists twice at every level cost
        /// their number, not two to the power of their depth.
        struct Walk<'c> {
            config: &'c Config,
            path: Vec<&'c str>,
            expanded: std::collections::HashSet<&'c str>,
            found: std::collections::HashSet<&'c str>,
            out: Vec<String>,
        }
        impl<'c> Walk<'c> {
            fn visit(&mut self, name: &'c str) -> Result<(), String> {
                let config = self.config;
                if config.people.contains_key(name) || config.rotation.contains_key(name) {
                    if self.found.insert(name) {
                        self.out.push(name.to_owned());
                    }
                    return Ok(());
                }
                let Some(members) = config.people_list.get(name) else {
                    return Ok(());
                };
                if self.path.contains(&name) {
                    let mut path: Vec<&str> = self.path.clone();
                    path.push(name);
                    return Err(format!("lists contain each other: {}", path.join(" → ")));
                }
                if !self.expanded.insert(name) {
                    return Ok(());
                }
                if self.path.len() >= MAX_LIST_DEPTH {
                    return Err(format!("lists name lists more than {MAX_LIST_DEPTH} deep"));
                }
                self.path.push(name);
                for member in members {
                    self.visit(member)?;
                }
                self.path.pop();
                Ok(())
            }
        }
        let mut walk = Walk {
            config: self,
            path: Vec::new(),
            expanded: std::collections::HashSet::new(),
            found: std::collections::HashSet::new(),
            out: Vec::new(),
        };
        walk.visit(name)?;
        Ok(walk.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_importance_adds_to_the_built_in_values() {
        let config = Config::parse(
            "[prometheus]\nseverity_importance = { page = 95, info = 40 }\n",
            "t",
        )
        .unwrap();
        let importance = config.prometheus.importance();
        assert_eq!(importance["page"], 95);
        assert_eq!(importance["info"], 40);
        assert_eq!(importance["critical"], 90);
    }

    #[test]
    fn embedded_default_is_valid_and_matches_the_built_in_defaults() {
        assert_eq!(
            Config::parse(DEFAULT_TOML, "embedded default").unwrap(),
            Config::default()
        );
        assert!(Config::parse(DEFAULT_TOML, "embedded default")
            .unwrap()
            .warnings()
            .is_empty());
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../../config/example.toml");
        let config = Config::parse(text, "example").unwrap();
        assert_eq!(config.listen.udp.len(), 2);
        assert!(config
            .notifiers
            .iter()
            .any(|n| matches!(n, Notifier::Command { .. })));
    }

    #[test]
    fn empty_file_means_defaults() {
        let config = Config::parse("", "t").unwrap();
        assert_eq!(config.store.flush_interval_ms, 100);
        // Without any [[notifier]], notifications still reach the log.
        assert_eq!(config.notifiers, vec![Notifier::Log { name: "log".into() }]);
    }

    fn error(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn udp_readers_are_one_unless_given_and_at_most_64() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let default = Config::parse("", "t").unwrap();
        assert_eq!(default.listen.readers(), 1);
        let per_core = Config::parse("[listen]\nudp_readers = 0", "t").unwrap();
        assert_eq!(per_core.listen.readers(), cores.min(64));
        let three = Config::parse("[listen]\nudp_readers = 3", "t").unwrap();
        assert_eq!(three.listen.readers(), 3);
        let many = error("[listen]\nudp_readers = 65");
        assert!(many.contains("listen.udp_readers"), "{many}");
    }

    #[test]
    fn errors_name_the_key() {
        assert!(error("[listen]\nudp = \"nonsense\"").contains("udp"));
        assert!(error("[store]\nflush_intervall_ms = 5").contains("flush_intervall_ms"));
        assert!(error("[store]\nflush_interval_ms = 600000").contains("store.flush_interval_ms"));
        let twice = "[[notifier]]\nname = \"a\"\nkind = \"log\"\n[[notifier]]\nname = \"a\"\nkind = \"log\"";
        assert!(error(twice).contains("notifier[1].name"));
        let no_command = "[[notifier]]\nname = \"a\"\nkind = \"command\"";
        assert!(error(no_command).contains("command"));
        let empty_command = "[[notifier]]\nname = \"a\"\nkind = \"command\"\ncommand = []";
        assert!(error(empty_command).contains("notifier[0].command"));
        assert!(error("[[notifier]]\nname = \"a\"\nkind = \"pager\"").contains("pager"));
        assert!(error("[store").starts_with("t.toml:"));
        let range = error("[listen]\nallow_sources = [\"10.0.0.0/8\", \"web1\"]");
        assert!(
            range.contains("allow_sources") && range.contains("\"web1\" is not an address range"),
            "{range}"
        );
    }

    #[test]
    fn a_default_that_follows_a_key_follows_it_when_left_out() {
        let grace = Config::parse("[server]\ninitial_sleep_s = 10", "t").unwrap();
        assert_eq!(grace.store.timer_flush_s, 10, "follows the grace");
        let long = Config::parse("[server]\ninitial_sleep_s = 900", "t").unwrap();
        assert_eq!(long.store.timer_flush_s, 60, "at most a minute");
        let given = Config::parse(
            "[store]\ntimer_flush_s = 5\n[server]\ninitial_sleep_s = 10",
            "t",
        );
        assert_eq!(given.unwrap().store.timer_flush_s, 5);
        // Only a contradiction the user wrote is an error.
        let both = error("[store]\ntimer_flush_s = 30\n[server]\ninitial_sleep_s = 10");
        assert!(
            both.contains("store.timer_flush_s: must not exceed"),
            "{both}"
        );
        let beats = Config::parse("[heartbeat]\nsend_every = \"5m\"", "t").unwrap();
        assert_eq!(beats.heartbeat.raise_after.0, 5 * 300 + 10);
        let short = error("[heartbeat]\nsend_every = \"5m\"\nraise_after = \"2m\"");
        assert!(short.contains("heartbeat.raise_after"), "{short}");
    }

    #[test]
    fn a_key_of_another_kind_of_notifier_is_an_error() {
        let log_with_command = "[[notifier]]\nname = \"a\"\nkind = \"log\"\ncommand = [\"true\"]";
        assert!(error(log_with_command).contains("command"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "[store]\nflush_interval_ms = 600000\ncache_mib = 0\n[http]\nmax_body_bytes = 1";
        let message = error(text);
        for key in [
            "store.flush_interval_ms",
            "store.cache_mib",
            "http.max_body_bytes",
        ] {
            assert!(message.contains(&format!(" {key}: ")), "{key} in {message}");
        }
        assert_eq!(message.lines().count(), 3);
        // Each where it is written.
        assert!(
            message.contains("t.toml: line 2: store.flush_interval_ms: "),
            "{message}"
        );
        assert!(
            message.contains("t.toml: line 5: http.max_body_bytes: "),
            "{message}"
        );
    }

    #[test]
    fn bad_addresses_say_what_a_good_one_is() {
        let one = error("[listen]\nhttp = \"localhost:1288\"");
        assert!(
            one.contains("\"localhost:1288\" is not an IP:PORT address"),
            "{one}"
        );
        assert!(one.contains("127.0.0.1:"), "{one}");
        let list = error("[listen]\nudp = [\"127.0.0.1:1\", \"web:2\"]");
        assert!(list.contains("element 1: \"web:2\""), "{list}");
        let number = error("[listen]\nudp = 32741");
        assert!(
            number.contains("expected an \"IP:PORT\" string"),
            "{number}"
        );
        assert!(!number.contains("untagged"), "{number}");
    }

    #[test]
    fn udp_takes_one_address_or_a_list() {
        let one = Config::parse("[listen]\nudp = \"[::]:32741\"", "t").unwrap();
        assert_eq!(one.listen.udp.len(), 1);
        let two = Config::parse("[listen]\nudp = [\"127.0.0.1:1\", \"[::1]:2\"]", "t").unwrap();
        assert_eq!(two.listen.udp.len(), 2);
    }

    #[test]
    fn a_config_that_cannot_deliver_is_warned_about() {
        let config = |command: &str| {
            Config::parse(
                &format!(
                    "[[notifier]]\nname = \"a\"\nkind = \"command\"\ncommand = [\"{command}\"]"
                ),
                "t",
            )
            .unwrap()
        };
        assert!(config("sh").warnings().is_empty(), "found in PATH");
        assert!(config("/bin/sh").warnings().is_empty());
        let missing = config("/nonexistent/page-me").warnings();
        assert_eq!(
            missing,
            vec!["notifier[0].command: /nonexistent/page-me does not exist"]
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "not a program").unwrap();
        let not_executable = config(&plain.display().to_string()).warnings();
        assert!(not_executable[0].contains("not an executable file"));
        assert!(config("no-such-program-here").warnings()[0].contains("not found in $PATH"));
        let none = Config::parse("notifier = []", "t").unwrap();
        assert!(none.warnings()[0].contains("nobody will be told"));
    }

    #[test]
    fn lists_that_name_lists_twice_at_every_level_are_expanded_once_each() {
        let mut text = String::from(
            "[person.alice]\nemail = \"a@example.com\"\n[people_list]\nl0 = [\"alice\"]\n",
        );
        for level in 1..=40 {
            text.push_str(&format!("l{level} = [\"l{0}\", \"l{0}\"]\n", level - 1));
        }
        let config: Config = toml::from_str(&text).unwrap();
        // 2^40 visits if each naming were expanded again.
        assert_eq!(config.people_of("l40").unwrap(), ["alice"]);
        // A chain longer than the limit is refused, not walked.
        let mut text = String::from(
            "[person.alice]\nemail = \"a@example.com\"\n[people_list]\nc0 = [\"alice\"]\n",
        );
        for level in 1..=2000 {
            text.push_str(&format!("c{level} = [\"c{}\"]\n", level - 1));
        }
        let config: Config = toml::from_str(&text).unwrap();
        assert!(config.people_of("c2000").unwrap_err().contains("deep"));
        assert_eq!(config.people_of("c10").unwrap(), ["alice"]);
    }

    #[test]
    fn a_webhook_that_no_message_could_reach_an_address_on_needs_a_url() {
        let text = "[[notifier]]\nname = \"hook\"\nkind = \"webhook\"\n";
        let err = Config::parse(text, "t").unwrap_err().to_string();
        assert!(err.contains("notifier[0].url: required"), "{err}");
        let with_url = format!("{text}url = \"http://127.0.0.1:9/x\"\n");
        assert!(Config::parse(&with_url, "t").is_ok());
    }

    #[test]
    fn requiring_a_token_to_send_needs_a_token_that_may() {
        let text = "[http]\ningest_requires_token = true\n[[http.token]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nscopes = [\"act\"]\n";
        let err = Config::parse(text, "t").unwrap_err().to_string();
        assert!(err.contains("http.ingest_requires_token"), "{err}");
        let text = "[http]\ningest_requires_token = true\n[[http.token]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\n";
        assert!(Config::parse(text, "t").is_ok(), "both scopes unless said");
        let text = "[[http.token]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nscopes = []\n";
        assert!(Config::parse(text, "t")
            .unwrap_err()
            .to_string()
            .contains("scopes"));
    }
}
