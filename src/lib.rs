//! mauved: an alert server that speaks the mauvealert wire protocol.
//!
//! The modules follow the path of an alert:
//! [`wire`] (bytes to a checked update; [`events`] does the same for JSON
//! posted over HTTP) → [`ingest`] (UDP sockets, de-dup,
//! batches) → [`scheduler`] (the single writer: updates, timers, actions) →
//! [`alert`] (the pure state machine it calls) → [`store`] (sled, one atomic
//! batch per round) → [`notify`] (durable queue, at-least-once delivery) →
//! [`http`] (status, API, metrics, actions). [`config`] and [`metrics`] serve
//! them all; [`serve`] below wires them together. [`send`] is the sending
//! side (the `mauvesend` binary and the load tool are built on it).

pub mod alert;
pub mod config;
pub mod events;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod scheduler;
pub mod send;
pub mod store;
pub mod wire;

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::{mpsc, watch, Notify};

use crate::alert::UnixSecs;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::scheduler::{Command, Scheduler};
use crate::store::Store;

/// The current Unix time in seconds.
pub fn unix_now() -> UnixSecs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs the daemon until SIGINT or SIGTERM.
///
/// Once every socket is bound it prints `listening udp=ADDR` / `listening
/// http=ADDR` lines and then `ready` on stdout (logs go to stderr), so that
/// scripts and tests can use port 0 and learn the real ports.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let started_at = unix_now();
    let store = Store::open(
        &config.store.path,
        config.store.flush_interval_ms,
        config.store.cache_mib * 1024 * 1024,
    )
    .with_context(|| format!("opening the store at {}", config.store.path.display()))?;
    let store = Arc::new(store);
    let metrics = Arc::new(Metrics::default());
    count_existing(&store, &metrics, &config)?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut wakes = Vec::new();
    for notifier in &config.notifiers {
        let wake = Arc::new(Notify::new());
        tokio::spawn(notify::worker(
            notifier.name.clone(),
            notify::build(notifier),
            store.clone(),
            metrics.clone(),
            wake.clone(),
            shutdown_rx.clone(),
        ));
        wakes.push((notifier.name.clone(), wake));
    }

    // Bounded so that a flood waits in the kernel's socket buffer (and is
    // dropped there, counted by the kernel) instead of growing our memory.
    let (commands, rx) = mpsc::channel::<Command>(64);
    let scheduler = Scheduler {
        store: store.clone(),
        metrics: metrics.clone(),
        notifiers: wakes,
        started_at,
        initial_sleep_s: config.server.initial_sleep_s,
        max_acknowledgement_s: config.server.max_acknowledgement_s,
        flush_every_round: config.store.flush_interval_ms == 0,
    };
    let runtime = tokio::runtime::Handle::current();
    let scheduler = std::thread::Builder::new()
        .name("scheduler".into())
        .spawn(move || scheduler.run(rx, runtime))
        .context("starting the scheduler thread")?;

    let sink = ingest::Sink {
        tx: commands.clone(),
        dedup: Arc::new(Mutex::new(ingest::Dedup::new(
            config.server.transmission_cache_s,
        ))),
        metrics: metrics.clone(),
    };
    let mut listeners = Vec::new();
    let mut stdout = std::io::stdout().lock();
    for addr in config.listen.udp.addrs() {
        let socket = ingest::bind_udp(addr).with_context(|| format!("binding UDP {addr}"))?;
        let local = socket.local_addr()?;
        tracing::info!(addr = %local, "listening for mauve packets");
        writeln!(stdout, "listening udp={local}")?;
        listeners.push(tokio::spawn(ingest::listen_udp(socket, sink.clone())));
    }
    let tcp = tokio::net::TcpListener::bind(config.listen.http)
        .await
        .with_context(|| format!("binding HTTP {}", config.listen.http))?;
    let local = tcp.local_addr()?;
    tracing::info!(addr = %local, "HTTP listening");
    writeln!(stdout, "listening http={local}")?;
    let http = Arc::new(http::Http {
        store: store.clone(),
        metrics: metrics.clone(),
        sink: sink.clone(),
        max_body_bytes: config.http.max_body_bytes,
    });
    let http_task = tokio::spawn(http::serve(tcp, http, shutdown_rx.clone()));
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    drop(stdout);

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    for listener in listeners {
        listener.abort();
    }
    let _ = http_task.await;
    // The scheduler finishes its round, writes it, flushes and stops.
    drop(sink);
    let _ = commands.send(Command::Stop).await;
    drop(commands);
    tokio::task::spawn_blocking(move || scheduler.join())
        .await
        .ok();
    store.flush().context("final flush")?;
    Ok(())
}

/// Seeds the gauges from what the store already holds.
fn count_existing(store: &Store, metrics: &Metrics, config: &Config) -> anyhow::Result<()> {
    for item in store.alerts() {
        let (_, record) = item.context("reading the stored alerts")?;
        metrics.alert_moved(None, record.state());
    }
    metrics.queue_depth.store(
        store.queue_len() as i64,
        std::sync::atomic::Ordering::Relaxed,
    );
    for owner in store.queue_owners()? {
        if !config.notifiers.iter().any(|n| n.name == owner) {
            tracing::warn!(
                notifier = %owner,
                "notifications are queued for a notifier that is no longer configured; \
                 they stay queued until it is configured again"
            );
        }
    }
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
