//! The daemon as one value: [`start`] binds, opens and spawns everything;
//! [`Running::stop`] stops it in order and waits for every part; [`run`] is
//! both around a shutdown future (mini-redis style), which is all `main`
//! needs. Tests start it in-process on a manual clock.
//!
//! One cancellation token stops every task, and the UDP readers' threads
//! (each tracked by a task that ends with it). The order of a stop: listeners
//! and HTTP stop taking work (HTTP lets open requests finish, bounded), the
//! scheduler finishes its round and flushes, the notify workers let an
//! attempt in progress finish for up to 5 s (then drop it: the message stays
//! queued), and the store is flushed one last time.

use parking_lot::RwLock;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alertmanager::silences::Silences;
use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::http::{self, Http};
use crate::index::{self, Index};
use crate::ingest::{self, Sink};
use crate::metrics::Metrics;
use crate::notify;
use crate::routing::pager::Pager;
use crate::routing::Router;
use crate::scheduler::{Durability, Scheduler, SchedulerHandle};
use crate::store::Store;

/// A started daemon.
pub struct Running {
    /// The bound UDP addresses (port 0 in the config becomes a real port).
    pub udp: Vec<SocketAddr>,
    pub http: SocketAddr,
    pub store: Arc<Store>,
    pub index: Arc<RwLock<Index>>,
    pub scheduler: SchedulerHandle,
    /// History older than this was removed (see [`prune_history`]).
    pub history_pruned: tokio::sync::watch::Receiver<crate::alert::UnixSecs>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    scheduler_thread: std::thread::JoinHandle<()>,
    /// What the HTTP handlers share (a reload goes through it).
    shared: Arc<Http>,
}

/// Binds every socket, opens the store and starts every task. Sockets come
/// first, so a port that is taken leaves no new data directory behind.
pub(crate) async fn start(
    config: &Config,
    router: Router,
    clock: Clock,
) -> anyhow::Result<Running> {
    start_with(config, router, clock, Vec::new()).await
}

/// Changes kept for a page that reads its stream slowly; one that falls
/// further behind is told to reload whole.
const CHANGES_KEPT: usize = 1024;

/// [`start`], with some notifiers given by the caller instead of built from
/// their `[[notifier]]` entry (by name): a program embedding the daemon, or
/// a test recording what would be sent.
/// The sockets of every UDP address: `listen.udp_readers` each.
fn bind_udp(listen: &crate::config::Listen) -> anyhow::Result<Vec<Vec<std::net::UdpSocket>>> {
    listen
        .udp
        .iter()
        .map(|&addr| {
            ingest::bind_udp(addr, listen.readers()).with_context(|| format!("binding UDP {addr}"))
        })
        .collect()
}

/// A thread reading each socket (tracked by a task); the addresses
/// listened on.
fn listen_udp(
    sockets: Vec<Vec<std::net::UdpSocket>>,
    sink: &Sink,
    parts: &Parts,
) -> anyhow::Result<Vec<SocketAddr>> {
    let mut udp = Vec::new();
    for readers in sockets {
        let Some(first) = readers.first() else {
            continue;
        };
        let local = first.local_addr()?;
        tracing::info!(addr = %local, readers = readers.len(), "listening for mauve packets");
        udp.push(local);
        for socket in readers {
            let listening = ingest::spawn_listener(socket, sink.clone(), &parts.shutdown)
                .context("starting a UDP reader thread")?;
            parts.tasks.spawn(listening);
        }
    }
    Ok(udp)
}

pub async fn start_with(
    config: &Config,
    mut router: Router,
    clock: Clock,
    given: Vec<(String, Box<dyn notify::Notifier>)>,
) -> anyhow::Result<Running> {
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let sockets = bind_udp(&config.listen)?;
    let tcp = tokio::net::TcpListener::bind(config.listen.http)
        .await
        .with_context(|| format!("binding HTTP {}", config.listen.http))?;
    let parts = open_parts(config, clock)?;
    if config.oncall.base_url.is_none() {
        // The address really listened on (port 0 in the config is a real port now).
        router.base_url = format!("http://{}", tcp.local_addr()?);
    }
    let notifiers = start_notifiers(config, given, &router, &parts).await;
    let history_pruned = spawn_housekeeping(config, &parts);
    // Changes told to the open pages (`GET /api/stream`).
    let (changes, _) = tokio::sync::broadcast::channel(CHANGES_KEPT);
    let (handle, scheduler_thread) = start_scheduler(
        config,
        &parts,
        router.clone(),
        notifiers.wakes().clone(),
        changes.clone(),
    )?;
    let silences = open_silences(config, &parts, &handle, &router);
    let sink = Sink::new(
        handle.clone(),
        parts.metrics.clone(),
        parts.clock.clone(),
        &config.listen,
        config.server.transmission_cache_s,
    );
    let udp = listen_udp(sockets, &sink, &parts)?;
    let http = tcp.local_addr()?;
    tracing::info!(addr = %http, "HTTP listening");
    let shared = Arc::new(Http::new(
        parts.store.clone(),
        parts.index.clone(),
        parts.metrics.clone(),
        sink,
        parts.clock.clone(),
        config,
        router,
        notifiers,
        parts.cluster.clone(),
        changes,
        parts.shutdown.clone(),
        silences,
        parts.link_secret.clone(),
    ));
    parts.tasks.spawn(http::serve(tcp, shared.clone()));
    parts.tasks.close();
    Ok(Running {
        udp,
        http,
        store: parts.store,
        index: parts.index,
        scheduler: handle,
        shutdown: parts.shutdown,
        history_pruned,
        tasks: parts.tasks,
        scheduler_thread,
        shared,
    })
}

/// The store, the index and the silences read from it, the cluster.
fn open_parts(config: &Config, clock: Clock) -> anyhow::Result<Parts> {
    let metrics = Arc::new(Metrics::new());
    let store = open_store(config, &metrics)?;
    let index = Arc::new(RwLock::new(index::load(&store, config.store.max_alerts)?));
    let silences = Arc::new(RwLock::new(Silences::from_stored(
        store.silences().context("reading the silences")?,
    )));
    let shutdown = CancellationToken::new();
    // A store that takes no writes now (a full disk) must not keep the
    // station from starting: links made until a restart work until then.
    let link_secret = store.link_secret().unwrap_or_else(|err| {
        tracing::error!(%err, "cannot keep the action links' secret: the links sent before the next restart will not work after it");
        crate::links::Secret::random()
    });
    let link_secret = crate::links::SharedSecret::new(link_secret);
    Ok(Parts {
        cluster: start_cluster(config, &metrics, &store, &shutdown),
        silences,
        store,
        index,
        link_secret,
        metrics,
        clock,
        shutdown,
        tasks: TaskTracker::new(),
    })
}

/// The delivery workers, one per notifier.
async fn start_notifiers(
    config: &Config,
    given: Vec<(String, Box<dyn notify::Notifier>)>,
    router: &Router,
    parts: &Parts,
) -> Arc<notify::pool::Pool> {
    let common = notify::pool::Common {
        cluster: parts.cluster.clone(),
        store: parts.store.clone(),
        metrics: parts.metrics.clone(),
        clock: parts.clock.clone(),
        link_secret: parts.link_secret.clone(),
        shutdown: parts.shutdown.clone(),
        tasks: parts.tasks.clone(),
    };
    notify::pool::Pool::start(config, given, &router.base_url, common).await
}

/// The silences' room; with `[cluster]`, the shared actions and silences
/// followed from etcd.
fn open_silences(
    config: &Config,
    parts: &Parts,
    scheduler: &crate::scheduler::SchedulerHandle,
    router: &Router,
) -> Arc<crate::silences::Room> {
    let silences = crate::silences::Room::open(crate::silences::Parts {
        registry: parts.silences.clone(),
        store: parts.store.clone(),
        index: parts.index.clone(),
        scheduler: scheduler.clone(),
        cluster: parts.cluster.clone(),
        clock: parts.clock.clone(),
        shutdown: parts.shutdown.clone(),
        router: router.clone(),
        retention_s: config.silences.retention.0,
        max_in_force: config.silences.max_active,
    });
    if let Some(cluster) = &parts.cluster {
        cluster.start_applying(scheduler.clone());
        cluster.start_following_silences(Arc::new(silences.clone()));
        cluster.start_sharing_link_secret(parts.link_secret.clone());
    }
    silences
}

/// With `[cluster]`, this station's part in it (the configuration refuses
/// `[cluster]` in a build without `ha`).
fn start_cluster(
    config: &Config,
    metrics: &Arc<Metrics>,
    store: &Arc<Store>,
    shutdown: &CancellationToken,
) -> Option<Arc<Cluster>> {
    #[cfg(feature = "ha")]
    {
        config
            .cluster
            .as_ref()
            .map(|c| Cluster::start(c, metrics.clone(), store.clone(), shutdown.clone()))
    }
    #[cfg(not(feature = "ha"))]
    {
        let _ = (config, metrics, store, shutdown);
        None
    }
}

/// What the stages started by [`start_with`] share.
struct Parts {
    cluster: Option<Arc<Cluster>>,
    /// Silences (`alertmanager::silences`): the scheduler mutes with them,
    /// the API changes them.
    silences: Arc<RwLock<Silences>>,
    store: Arc<Store>,
    index: Arc<RwLock<Index>>,
    /// Signs the action links in messages; checks them on `/a/`.
    link_secret: crate::links::SharedSecret,
    metrics: Arc<Metrics>,
    clock: Clock,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

fn open_store(config: &Config, metrics: &Metrics) -> anyhow::Result<Arc<Store>> {
    let store = Store::open(
        &config.store.path,
        config.store.cache_mib * 1024 * 1024,
        metrics.queue_depth.clone(),
    )
    .with_context(|| format!("opening the store at {}", config.store.path.display()))?
    .keeping_free(config.store.min_free_mib * 1024 * 1024);
    Ok(Arc::new(store))
}

/// The self-heartbeat, history pruning and handing freed memory back;
/// returns what pruning says of its progress.
fn spawn_housekeeping(
    config: &Config,
    parts: &Parts,
) -> tokio::sync::watch::Receiver<crate::alert::UnixSecs> {
    parts.tasks.spawn(crate::heartbeat::run(
        config.heartbeat.clone(),
        parts.clock.clone(),
        parts.shutdown.clone(),
    ));
    let (pruned, history_pruned) = tokio::sync::watch::channel(0);
    parts.tasks.spawn(prune_history(
        parts.store.clone(),
        parts.clock.clone(),
        config.store.history_days * 86_400,
        pruned,
        parts.shutdown.clone(),
    ));
    parts
        .tasks
        .spawn(return_free_memory(parts.shutdown.clone()));
    history_pruned
}

/// The scheduler on its own thread, with the paging state as stored.
fn start_scheduler(
    config: &Config,
    parts: &Parts,
    router: Router,
    wakes: Arc<notify::pool::Wakes>,
    changes: tokio::sync::broadcast::Sender<crate::scheduler::Change>,
) -> anyhow::Result<(SchedulerHandle, std::thread::JoinHandle<()>)> {
    let mut pager = Pager::new(router);
    for item in parts.store.paging() {
        match item {
            Ok(state) => pager.restore(state),
            Err(crate::store::StoreError::Corrupt(err)) => {
                tracing::warn!(%err, "a stored paging state does not decode; dropped");
            }
            Err(err) => return Err(err).context("reading the paging state"),
        }
    }
    let scheduler = Scheduler {
        store: parts.store.clone(),
        index: parts.index.clone(),
        metrics: parts.metrics.clone(),
        clock: parts.clock.clone(),
        wakes,
        pager,
        started_at: parts.clock.now(),
        initial_sleep_s: config.server.initial_sleep_s,
        max_acknowledgement_s: config.server.max_acknowledgement_s,
        forget_cleared_after_s: config.server.forget_cleared_after.0,
        durability: Durability {
            flush_interval_ms: config.store.flush_interval_ms,
            timer_flush_s: config.store.timer_flush_s,
            max_writes_per_s: config.store.max_writes_per_s,
        },
        changes,
        silences: parts.silences.clone(),
    };
    scheduler
        .spawn(tokio::runtime::Handle::current())
        .context("starting the scheduler thread")
}

impl Running {
    /// Stops every task in order and waits for each; the store is flushed.
    /// Reads the configuration file again and applies what can change
    /// live (see `http/reload.rs`); on an error the one in force stays.
    pub async fn reload(&self) -> Result<(), String> {
        http::reload::reload(&self.shared).await.map(|_| ())
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.tasks.wait().await;
        self.scheduler.stop().await;
        drop(self.scheduler);
        let thread = self.scheduler_thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .ok();
        self.store.flush().context("final flush")?;
        Ok(())
    }
}

/// Runs the daemon until `shutdown` completes, reloading its configuration
/// each time `reloads` is notified.
///
/// Once every socket is bound it prints `listening udp=ADDR` / `listening
/// http=ADDR` lines and then `ready` on stdout (logs go to stderr), so that
/// scripts and tests can use port 0 and learn the real ports.
pub async fn run(
    config: &Config,
    router: Router,
    clock: Clock,
    shutdown: impl Future<Output = ()>,
    reloads: Arc<tokio::sync::Notify>,
) -> anyhow::Result<()> {
    let running = start(config, router, clock).await?;
    {
        let mut stdout = std::io::stdout().lock();
        for addr in &running.udp {
            writeln!(stdout, "listening udp={addr}")?;
        }
        writeln!(stdout, "listening http={}", running.http)?;
        writeln!(stdout, "ready")?;
        stdout.flush()?;
    }
    // Each notification (SIGHUP, say) reads the configuration again.
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = reloads.notified() => {
                // Logged and counted by the reload itself.
                let _ = running.reload().await;
            }
        }
    }
    tracing::info!("shutting down");
    // Stopping waits for the last writes; a disk that takes none (below
    // `store.min_free_mib`, failing) must not keep the daemon from exiting.
    match tokio::time::timeout(STOP_WITHIN, running.stop()).await {
        Ok(stopped) => stopped,
        Err(_) => {
            tracing::error!(
                "not stopped within {} s (the store takes no writes?): exiting; what was not yet written is lost",
                STOP_WITHIN.as_secs()
            );
            Err(anyhow::anyhow!(
                "not stopped within {} s: changes not yet written are lost",
                STOP_WITHIN.as_secs()
            ))
        }
    }
}

/// How long stopping may take before the daemon exits anyway (docs/reliability.md
/// promises an exit within 10 s of SIGTERM).
const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(8);

/// Removes history older than `keep_s`, at start and then hourly, and says
/// up to when in `pruned`. The next round is an hour after this one began,
/// by the clock: a clock that moved on while a round ran (a manual one in
/// tests, a step of the system's) starts the next round at once.
async fn prune_history(
    store: Arc<Store>,
    clock: Clock,
    keep_s: u64,
    pruned: tokio::sync::watch::Sender<crate::alert::UnixSecs>,
    shutdown: CancellationToken,
) {
    loop {
        let began = clock.now();
        let before = began.saturating_sub(keep_s);
        let pruning = store.clone();
        match tokio::task::spawn_blocking(move || pruning.prune_history(before)).await {
            Ok(Ok(removed)) => {
                if removed > 0 {
                    tracing::info!(removed, "old alert history removed");
                }
                pruned.send_replace(before);
            }
            Err(_) => {}
            Ok(Err(err)) => tracing::error!(%err, "cannot prune the alert history"),
        }
        tokio::select! {
            () = clock.sleep_until(began.saturating_add(3600)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Hands memory freed after a burst (a storm's messages, a large page or
/// history answer) back to the system every few seconds: the allocator
/// keeps freed memory for reuse, and a daemon that once held a storm would
/// otherwise look as large as the storm for a while. The `mauved` binary
/// allocates with jemalloc (see `main.rs`); its arenas are purged. Real
/// time: this is housekeeping, not alerting.
async fn return_free_memory(shutdown: CancellationToken) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let _ = tokio::task::spawn_blocking(purge_free_memory).await;
    }
}

/// Gives every jemalloc arena's unused pages back to the system.
fn purge_free_memory() {
    // "arena.<MALLCTL_ARENAS_ALL>.purge" (4096 names all arenas); it takes
    // and returns nothing.
    const PURGE_ALL: &std::ffi::CStr = c"arena.4096.purge";
    // SAFETY: a jemalloc control call with no input or output pointers; it
    // releases only pages no allocation holds.
    let failed = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if failed != 0 {
        tracing::debug!(failed, "jemalloc did not purge its arenas");
    }
}
