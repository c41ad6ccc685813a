//! What is wrong with a configuration's own values (each with its key),
//! and what is allowed but likely not meant (warnings).

use super::*;

impl Config {
    /// What is wrong with the configuration's own keys.
    pub(crate) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut fail = |key: &str, what: &str| {
            problems.push(Problem {
                key: key.to_owned(),
                what: what.to_owned(),
            })
        };
        self.store_problems(&mut fail);
        self.http_problems(&mut fail);
        self.heartbeat_problems(&mut fail);
        self.notifier_problems(&mut fail);
        self.cluster_problems(&mut fail);
        self.ping_problems(&mut fail);
        if self.silences.max_active == 0 {
            fail("silences.max_active", "must be at least 1");
        }
        oncall::problems(self, &mut fail);
        problems
    }

    /// `[listen]`, `[store]` and `[server]`.
    pub(super) fn store_problems(&self, fail: &mut dyn FnMut(&str, &str)) {
        if self.listen.udp.is_empty() {
            fail("listen.udp", "needs at least one address");
        }
        if self.listen.udp_readers > Listen::MAX_UDP_READERS {
            fail(
                "listen.udp_readers",
                &format!(
                    "at most {} sockets on one address (0: one per core)",
                    Listen::MAX_UDP_READERS
                ),
            );
        }
        if self.store.path.as_os_str().is_empty() {
            fail("store.path", "must not be empty");
        }
        if self.store.flush_interval_ms > 60_000 {
            fail(
                "store.flush_interval_ms",
                "at most 60000 (a minute of updates could be lost)",
            );
        }
        if self.store.history_days == 0 {
            fail("store.history_days", "must be at least 1");
        }
        if self.store.cache_mib == 0 {
            fail("store.cache_mib", "must be at least 1");
        }
        if self.store.timer_flush_s > self.server.initial_sleep_s {
            fail(
                "store.timer_flush_s",
                "must not exceed server.initial_sleep_s: a heartbeat refresh lost in a crash \
                 is only harmless while the startup grace covers it (left out, it follows \
                 server.initial_sleep_s)",
            );
        }
        if self.store.max_writes_per_s < 100 {
            fail("store.max_writes_per_s", "must be at least 100");
        }
        if self.store.max_alerts == 0 || self.store.max_alerts > u32::MAX as usize {
            fail("store.max_alerts", "must be from 1 to 4294967295");
        }
        if self.server.max_acknowledgement_s == 0 {
            fail("server.max_acknowledgement_s", "must be at least 1");
        }
    }

    /// `[http]`: users, tokens and limits.
    pub(super) fn http_problems(&self, fail: &mut dyn FnMut(&str, &str)) {
        for (i, user) in self.http.users.iter().enumerate() {
            if user.name.trim().is_empty() {
                fail(&format!("http.user[{i}].name"), "must not be empty");
            }
            if argon2::PasswordHash::new(&user.password_hash).is_err() {
                fail(
                    &format!("http.user[{i}].password_hash"),
                    "is not a password hash: make one with `mauved hash-password`",
                );
            }
        }
        for (i, token) in self.http.tokens.iter().enumerate() {
            if token.name.trim().is_empty() {
                fail(&format!("http.token[{i}].name"), "must not be empty");
            }
            if token.token.len() < 16 {
                fail(
                    &format!("http.token[{i}].token"),
                    "at least 16 characters: make one with `mauved new-token`",
                );
            }
        }
        for (i, token) in self.http.tokens.iter().enumerate() {
            if token.scopes.is_empty() {
                fail(
                    &format!("http.token[{i}].scopes"),
                    "empty: a token that may do nothing (give \"act\", \"ingest\" or both)",
                );
            }
        }
        if self.http.ingest_requires_token
            && !self
                .http
                .tokens
                .iter()
                .any(|t| t.scopes.contains(&TokenScope::Ingest))
        {
            fail(
                "http.ingest_requires_token",
                "needs a [[http.token]] with the \"ingest\" scope",
            );
        }
        if self.http.read_requires_login
            && self.http.users.is_empty()
            && self.http.tokens.is_empty()
        {
            fail(
                "http.read_requires_login",
                "needs at least one [[http.user]] or [[http.token]]",
            );
        }
        if self.http.max_connections < 16 {
            fail("http.max_connections", "must be at least 16");
        }
        for (key, value) in [
            (
                "http.max_connections_per_address",
                self.http.max_connections_per_address,
            ),
            ("http.max_streams", self.http.max_streams),
            (
                "http.max_streams_per_address",
                self.http.max_streams_per_address,
            ),
        ] {
            if value == 0 {
                fail(key, "must be at least 1");
            }
        }
        if self.http.max_body_bytes < 1024 {
            fail("http.max_body_bytes", "must be at least 1024");
        }
    }

    /// `[cluster]`.
    pub(super) fn cluster_problems(&self, fail: &mut dyn FnMut(&str, &str)) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        if !cfg!(feature = "ha") {
            fail(
                "cluster",
                "this mauved was built without high availability: build it with `--features ha` \
                 (see docs/high-availability.md)",
            );
        }
        if cluster.station.trim().is_empty() || cluster.station.contains(' ') {
            fail("cluster.station", "must be a name without spaces");
        }
        if cluster.etcd.is_empty() {
            fail(
                "cluster.etcd",
                "needs at least one etcd member's client URL",
            );
        }
        for (i, url) in cluster.etcd.iter().enumerate() {
            if !url.starts_with("http://") {
                fail(
                    &format!("cluster.etcd[{i}]"),
                    &format!(
                        "{:?} is not an etcd client URL such as \"http://127.0.0.1:2379\"",
                        redact::urls(url)
                    ),
                );
            }
        }
        if cluster.fail_open_after.is_some_and(|s| s.0 == 0) {
            fail(
                "cluster.fail_open_after",
                "must be above 0 (leave it out to never fail open)",
            );
        }
        if cluster.etcd_quota_bytes < 1 << 20 {
            fail(
                "cluster.etcd_quota_bytes",
                "must be at least 1 MiB (etcd's --quota-backend-bytes; its default is 2 GiB)",
            );
        }
        if cluster.records_kept.0 < 60 {
            fail(
                "cluster.records_kept",
                "must be at least 1m: a follower drops what the leader delivered by its record",
            );
        }
        if cluster.lease_ttl_s < 5 {
            fail("cluster.lease_ttl_s", "must be at least 5 (seconds)");
        }
        if !cluster.prefix.starts_with('/') || !cluster.prefix.ends_with('/') {
            fail("cluster.prefix", "must start and end with /");
        }
    }

    /// `[heartbeat]`.
    pub(super) fn heartbeat_problems(&self, fail: &mut dyn FnMut(&str, &str)) {
        if self.heartbeat.send_every.0 == 0 {
            fail("heartbeat.send_every", "must be above 0");
        }
        if self.heartbeat.raise_after.0 <= 5 {
            fail(
                "heartbeat.raise_after",
                "must be longer than 5s: a raise time within 5 s counts as now",
            );
        } else if self.heartbeat.raise_after.0 <= self.heartbeat.send_every.0 {
            fail(
                "heartbeat.raise_after",
                "must be longer than send_every, or every beat would raise it",
            );
        }
    }

    /// Each `[[notifier]]`.
    pub(super) fn notifier_problems(&self, fail: &mut dyn FnMut(&str, &str)) {
        for (i, notifier) in self.notifiers.iter().enumerate() {
            let key = |field: &str| format!("notifier[{i}].{field}");
            let name = notifier.name();
            if name.is_empty() || name.contains('\0') {
                fail(&key("name"), "must be a non-empty name");
            }
            if self.notifiers[..i].iter().any(|n| n.name() == name) {
                fail(&key("name"), &format!("{name:?} is used twice"));
            }
            match notifier {
                Notifier::Command {
                    command, timeout_s, ..
                } => {
                    if command.first().is_none_or(String::is_empty) {
                        fail(&key("command"), "needs a program to run");
                    }
                    if *timeout_s == 0 {
                        fail(&key("timeout_s"), "must be at least 1");
                    }
                }
                Notifier::Webhook { url, timeout_s, .. } => {
                    if url
                        .as_deref()
                        .is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://")))
                    {
                        fail(&key("url"), "must start with http:// or https://");
                    }
                    // Without groups every message goes to every notifier,
                    // with no person's address: each would be given up.
                    if url.is_none() && self.alert_groups.is_empty() {
                        fail(
                            &key("url"),
                            "required: without [[alert_group]] every message goes to every notifier with no address, and this one would give each up",
                        );
                    }
                    if *timeout_s == 0 {
                        fail(&key("timeout_s"), "must be at least 1");
                    }
                }
                Notifier::Smtp {
                    server,
                    from,
                    user,
                    password_file,
                    timeout_s,
                    ..
                } => {
                    if split_host_port(server).is_none() {
                        fail(&key("server"), &format!("{server:?} is not host:port"));
                    }
                    if from.parse::<lettre::message::Mailbox>().is_err() {
                        fail(&key("from"), &format!("{from:?} is not an e-mail address"));
                    }
                    if user.is_some() != password_file.is_some() {
                        fail(&key("user"), "user and password_file go together");
                    }
                    if *timeout_s == 0 {
                        fail(&key("timeout_s"), "must be at least 1");
                    }
                }
                Notifier::Http(http) => {
                    let web = |u: &str| u.starts_with("http://") || u.starts_with("https://");
                    if !http.server.is_empty() && !web(&http.server) {
                        fail(&key("server"), "must start with http:// or https://");
                    }
                    // A URL that starts with a template is checked as sent.
                    if !http.url.starts_with("{{") && !http.url.starts_with("{%") && !web(&http.url)
                    {
                        fail(&key("url"), "must start with http:// or https://");
                    }
                }
                Notifier::Log { .. } => {}
            }
        }
    }

    /// What is valid but cannot work: no notifier at all, or a command that
    /// is not an executable file. The daemon still starts (the program may
    /// be installed later), but says so.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.delivery.shadow {
            warnings.push(
                "delivery.shadow is on: nothing is delivered; what would have been sent is in the history and GET /api/shadow".into(),
            );
        }
        if self.notifiers.is_empty() {
            warnings.push("no [[notifier]] is configured: nobody will be told of any alert".into());
        }
        for (i, notifier) in self.notifiers.iter().enumerate() {
            if let Notifier::Command { command, .. } = notifier {
                if let Some(program) = command.first() {
                    if let Err(why) = find_executable(program) {
                        warnings.push(format!("notifier[{i}].command: {why}"));
                    }
                }
            }
            if let Notifier::Http(http) = notifier {
                if let Some(Err(why)) = http.secret.as_ref().map(|s| s.read()) {
                    warnings.push(format!(
                        "notifier[{i}]: {why}: every message would be given up"
                    ));
                }
            }
        }
        warnings
    }
}

/// Whether `program` would start: a path must be an executable file, a bare
/// name must be one in `$PATH`.
fn find_executable(program: &str) -> Result<PathBuf, String> {
    fn executable(path: &Path) -> bool {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    if program.contains('/') {
        let path = PathBuf::from(program);
        return if !path.exists() {
            Err(format!("{program} does not exist"))
        } else if executable(&path) {
            Ok(path)
        } else {
            Err(format!("{program} is not an executable file"))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| executable(path))
        .ok_or_else(|| format!("{program} is not found in $PATH"))
}
