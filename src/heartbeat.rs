//! The daemon's own heartbeat (mauve's `heartbeat` block): every
//! `send_every` it sends `mauve-heartbeat` with `raise_time = now +
//! raise_after` and `clear_time = now` to each destination, so that another
//! station (another mauved, or the old mauve) raises it when this one stops.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::HeartbeatConfig;
use crate::send::{self, Destination, SystemResolver};
use crate::wire::pb;

/// The alert id other stations see.
pub(crate) const ID: &str = "mauve-heartbeat";

/// The update one beat sends at `now`.
pub(crate) fn update(config: &HeartbeatConfig, now: u64) -> pb::AlertUpdate {
    let alert = pb::Alert {
        id: ID.into(),
        raise_time: Some(now + config.raise_after.0),
        clear_time: Some(now),
        summary: Some(config.summary.clone()),
        detail: Some(config.detail.clone()),
        ..pb::Alert::default()
    };
    let source = (!config.source.is_empty()).then(|| config.source.clone());
    send::prepare(source, false, vec![alert], now, None)
}

/// Sends a beat every `send_every` until shutdown.
pub(crate) async fn run(config: HeartbeatConfig, clock: Clock, shutdown: CancellationToken) {
    let destinations: Vec<Destination> = config.destinations.clone();
    if destinations.is_empty() {
        return;
    }
    let mut warned = false;
    loop {
        let bytes = crate::wire::encode(&update(&config, clock.now()));
        let targets = destinations.clone();
        let report = tokio::task::spawn_blocking(move || {
            send::send(&bytes, &targets, &SystemResolver::new())
        })
        .await;
        match report {
            Ok(report) if report.failed.is_empty() && report.unresolved.is_empty() => {
                warned = false
            }
            Ok(report) if !warned => {
                warned = true;
                tracing::warn!(
                    failed = ?report.failed.iter().map(|(a, e)| format!("{a}: {e}")).collect::<Vec<_>>(),
                    unresolved = ?report.unresolved.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "the heartbeat did not reach every destination"
                );
            }
            _ => {}
        }
        tokio::select! {
            () = clock.sleep(Duration::from_secs(config.send_every.0.max(1))) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
