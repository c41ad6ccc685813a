//! Reloading the configuration without a restart (SIGHUP, `POST /-/reload`),
//! as Prometheus and Alertmanager do.
//!
//! The file is read and compiled in full first (`routing::load`, the same
//! checks as `check-config`); anything wrong and the configuration in force
//! stays, the error is logged, counted and answered. Otherwise routing
//! (people, lists, rotations, overrides, groups, windows) goes to the
//! scheduler for its next decision; notifiers and `[delivery]` to the
//! delivery workers (added ones start, removed ones stop, changed ones use
//! the new settings from their next attempt); users, tokens, `Host` names,
//! Prometheus's importances and the HTTP limits to the HTTP side, at once.
//! What is bound at start (`[listen]`, `[store]`, `[server]`,
//! `[heartbeat]`, `[cluster]`) is named in the log and the answer when it
//! changed, never ignored in silence: it takes effect at the next restart.

use std::path::PathBuf;
use std::sync::Arc;

use super::Http;
use crate::config::Config;

/// Where the configuration comes from and the one in force.
pub(crate) struct Reloader {
    path: Option<PathBuf>,
    current: tokio::sync::Mutex<Config>,
}

/// What a reload that worked says.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Reloaded {
    /// Sections that changed but take effect only at a restart.
    pub(crate) restart_needed_for: Vec<&'static str>,
}

impl Reloader {
    pub(crate) fn new(config: &Config) -> Reloader {
        Reloader {
            path: config.file.0.clone(),
            current: tokio::sync::Mutex::new(config.clone()),
        }
    }
}

/// Reads, compiles and applies the configuration file again.
pub(crate) async fn reload(http: &Arc<Http>) -> Result<Reloaded, String> {
    let reloader = &http.reloader;
    // One reload at a time: the second waits and reads the file after.
    let mut current = reloader.current.lock().await;
    let path = reloader.path.clone();
    let loaded = tokio::task::spawn_blocking(move || match &path {
        Some(path) => crate::routing::load(path),
        None => crate::routing::parse(crate::config::DEFAULT_TOML, "embedded default"),
    })
    .await
    .map_err(|err| err.to_string())
    .and_then(|loaded| loaded.map_err(|err| err.to_string()));
    let (config, mut router) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            http.metrics.config_reload_ok.set(0);
            tracing::error!("configuration reload refused, the one in force stays: {err}");
            return Err(err);
        }
    };
    if config.oncall.base_url.is_none() {
        // As at start: links name the address listened on.
        router.base_url = http.live().routing.base_url.clone();
    }
    let restart_needed_for = needs_restart(&current, &config);
    http.scheduler
        .reroute(router.clone())
        .await
        .map_err(|err| err.to_string())?;
    http.notifiers.reconfigure(&config, &router.base_url).await;
    http.reconfigure(&config, router);
    http.metrics.config_reload_ok.set(1);
    http.metrics
        .config_loaded_at
        .set(i64::try_from(http.clock.now()).unwrap_or(i64::MAX));
    tracing::info!("configuration reloaded");
    for section in &restart_needed_for {
        tracing::warn!(
            "configuration reloaded: {section} changed and takes effect at the next restart"
        );
    }
    *current = config;
    Ok(Reloaded { restart_needed_for })
}

/// The sections bound at start that differ between `old` and `new`.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut note = |differs: bool, what: &'static str| {
        if differs {
            changed.push(what);
        }
    };
    note(old.listen != new.listen, "[listen]");
    note(old.store != new.store, "[store]");
    note(old.server != new.server, "[server]");
    note(old.heartbeat != new.heartbeat, "[heartbeat]");
    note(old.cluster != new.cluster, "[cluster]");
    note(old.silences != new.silences, "[silences]");
    changed
}
