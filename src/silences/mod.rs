//! Silences, in one room: what is kept (the registry and the store), what a
//! silence does to the alerts it matches when it is made, changed, started
//! or ended, and when its start is due (on the daemon's clock).
//!
//! Owns the silences: the only writer of their registry and of their store
//! keyspace. The scheduler reads the registry to mute new raises; HTTP
//! (`/api/v2/silences`, the page) and the cluster (the silences shared
//! through etcd, kept here by [`crate::cluster::SilenceKeeper`]) are thin
//! adapters. Muting and releasing alerts are actions through the scheduler
//! (with `[cluster]`, through etcd like any action).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard};
use tokio_util::sync::CancellationToken;

use crate::alert::{AlertKey, Record};
use crate::alertmanager::silences::{Silence, Silences, State};
use crate::clock::Clock;
use crate::cluster::{Cluster, Kept, StartClaim};
use crate::index::Index;
use crate::routing::Router;
use crate::scheduler::{self, Action, SchedulerHandle};
use crate::store::{Store, StoreError};

/// How often expired silences are looked at for deletion, at the most:
/// every quarter of the retention, when that is shorter.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often a station looks again at a silence's start claimed by the
/// other station (real time: etcd's leases expire in real time).
const CLAIM_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a silence was not made or ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// Not a valid silence (a time, a matcher).
    #[error("{0}")]
    Invalid(String),
    #[error("silence not found")]
    NotFound,
    /// Etcd or the scheduler did not take it.
    #[error(transparent)]
    Scheduler(#[from] scheduler::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The silences and what they do.
pub(crate) struct Room {
    registry: Arc<RwLock<Silences>>,
    store: Arc<Store>,
    index: Arc<RwLock<Index>>,
    scheduler: SchedulerHandle,
    cluster: Option<Arc<Cluster>>,
    clock: Clock,
    shutdown: CancellationToken,
    /// The alerts' labels come from the routing in force (a reload
    /// replaces it).
    router: RwLock<Arc<Router>>,
    /// `silences.retention`, in seconds.
    retention_s: u64,
    /// `silences.max_active`.
    max_in_force: usize,
}

/// What the room is made of.
pub(crate) struct Parts {
    pub(crate) registry: Arc<RwLock<Silences>>,
    pub(crate) store: Arc<Store>,
    pub(crate) index: Arc<RwLock<Index>>,
    pub(crate) scheduler: SchedulerHandle,
    pub(crate) cluster: Option<Arc<Cluster>>,
    pub(crate) clock: Clock,
    pub(crate) shutdown: CancellationToken,
    pub(crate) router: Router,
    pub(crate) retention_s: u64,
    pub(crate) max_in_force: usize,
}

impl Room {
    /// The room; silences kept as pending (before a restart) are waited
    /// for, and those whose start was missed while the daemon was down
    /// mute their alerts now.
    pub(crate) fn open(parts: Parts) -> Arc<Room> {
        let room = Arc::new(Room {
            registry: parts.registry,
            store: parts.store,
            index: parts.index,
            scheduler: parts.scheduler,
            cluster: parts.cluster,
            clock: parts.clock,
            shutdown: parts.shutdown,
            router: RwLock::new(Arc::new(parts.router)),
            retention_s: parts.retention_s,
            max_in_force: parts.max_in_force,
        });
        room.start_sweeping();
        let all: Vec<Silence> = room.registry.read().all().cloned().collect();
        for silence in all {
            room.wait_for_start(silence);
        }
        room
    }

    /// Every silence kept, expired ones too (to read, briefly).
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Silences> {
        self.registry.read()
    }

    /// The routing a reload put in force, for the alerts' labels.
    pub(crate) fn reroute(&self, router: Router) {
        *self.router.write() = Arc::new(router);
    }

    /// Up to `limit` of the silences in force or to come, from the
    /// `from`th, ending soonest first (past the end: the last page), where
    /// that page starts, and how many there are in all.
    pub(crate) fn current_page(&self, from: usize, limit: usize) -> (Vec<Silence>, usize, usize) {
        let now = self.clock.now();
        let registry = self.registry.read();
        let mut live: Vec<&Silence> = registry
            .all()
            .filter(|s| s.state(now) != State::Expired)
            .collect();
        live.sort_by(|a, b| (a.ends_at, a.starts_at, &a.id).cmp(&(b.ends_at, b.starts_at, &b.id)));
        let total = live.len();
        let limit = limit.max(1);
        let from = from.min(total.saturating_sub(1) / limit * limit);
        let page = live.into_iter().skip(from).take(limit).cloned().collect();
        (page, from, total)
    }

    /// Makes (or, with the previous version, changes) a silence: checked,
    /// kept, applied to the alerts it mutes now, waited for if it starts
    /// later. Its id.
    pub(crate) async fn create(
        self: &Arc<Self>,
        silence: Silence,
        previous: Option<Silence>,
    ) -> Result<String, Refused> {
        let now = self.clock.now();
        if silence.ends_at <= now {
            return Err(Refused::Invalid("endsAt must be in the future".into()));
        }
        silence.check().map_err(Refused::Invalid)?;
        let new = previous.is_none() && self.registry.read().get(&silence.id).is_none();
        if new && self.registry.read().in_force(now) >= self.max_in_force {
            return Err(Refused::Invalid(format!(
                "{} silences are active or pending, the most there may be (silences.max_active): expire some first",
                self.max_in_force
            )));
        }
        let kept = self.keep(&silence).await?;
        if let Some(previous) = previous.filter(|p| p.state(now) == State::Active) {
            self.release(&previous, &silence.created_by).await;
        }
        self.mute(&silence, false).await;
        if silence.state(now) == State::Pending && kept == Kept::NotYet {
            self.start_later(silence.clone());
        }
        Ok(silence.id)
    }

    /// Ends a silence now (nothing if it has ended): the alerts it muted
    /// are let go at once, unless another silence still mutes them.
    pub(crate) async fn expire(self: &Arc<Self>, id: &str, by: &str) -> Result<(), Refused> {
        let now = self.clock.now();
        let found = self.registry.read().get(id).cloned();
        let Some(mut silence) = found else {
            return Err(Refused::NotFound);
        };
        if silence.state(now) == State::Expired {
            return Ok(());
        }
        let was = silence.clone();
        silence.starts_at = silence.starts_at.min(now);
        silence.ends_at = now;
        silence.updated_at = now;
        self.keep(&silence).await?;
        self.release(&was, by).await;
        Ok(())
    }

    /// Keeps a silence: with `[cluster]` written to etcd first, from where
    /// both stations' watches keep it (`Kept::ByWatch`: kept here, and
    /// waited for if it starts later); otherwise (or while the watch is
    /// behind) to the store (flushed), then to the registry.
    async fn keep(&self, silence: &Silence) -> Result<Kept, Refused> {
        if let Some(cluster) = &self.cluster {
            let kept = cluster.share_silence(silence).await?;
            if kept == Kept::ByWatch {
                return Ok(kept);
            }
        }
        self.store_and_register(silence.clone()).await?;
        Ok(Kept::NotYet)
    }

    /// Writes a silence to the store (flushed), then to the registry.
    async fn store_and_register(&self, silence: Silence) -> Result<(), Refused> {
        let store = self.store.clone();
        let kept = silence.clone();
        tokio::task::spawn_blocking(move || store.put_silence(&kept))
            .await
            .map_err(|_| Refused::Store(StoreError::WriteFailed))??;
        self.registry.write().put(silence).map_err(Refused::Invalid)
    }

    /// The alerts a silence's matchers hold for (as given, whatever the
    /// registry holds under its id now), with their records.
    fn matching(&self, silence: &Silence) -> Vec<(AlertKey, Record)> {
        let mut one = Silences::default();
        if one.put(silence.clone()).is_err() {
            return Vec::new();
        }
        let router = self.router.read().clone();
        let index = self.index.read();
        index
            .ids()
            .filter_map(|slot| {
                let record = index.record(slot);
                let key = index.key(slot);
                let labels = router.labels(&key, &record);
                one.holds(&silence.id, &labels).then_some((key, record))
            })
            .collect()
    }

    /// Acts on alerts (through etcd with `[cluster]`).
    async fn act(&self, keys: &[AlertKey], by: &str, action: &Action) {
        let cluster = self.cluster.as_ref();
        crate::cluster::act_many(cluster, &self.scheduler, keys, by, action).await;
    }

    /// Mutes the alerts an active silence holds for; with `only_unmuted`,
    /// those not muted through its end already. False if it is not active.
    async fn mute(&self, silence: &Silence, only_unmuted: bool) -> bool {
        if silence.state(self.clock.now()) != State::Active {
            return false;
        }
        let keys: Vec<AlertKey> = self
            .matching(silence)
            .into_iter()
            .filter(|(_, record)| {
                !only_unmuted || record.suppress_until.is_none_or(|t| t < silence.ends_at)
            })
            .map(|(k, _)| k)
            .collect();
        let action = Action::Silence {
            until: silence.ends_at,
            silence: silence.id.clone(),
            comment: silence.comment.clone(),
        };
        self.act(&keys, &silence.created_by, &action).await;
        true
    }

    /// Lets go of the alerts a silence (as it was) muted, unless others
    /// still mute them.
    async fn release(&self, was: &Silence, by: &str) {
        let now = self.clock.now();
        let held: Vec<(AlertKey, Record)> = self
            .matching(was)
            .into_iter()
            .filter(|(_, record)| {
                record.is_suppressed(now) && record.suppress_until.is_some_and(|t| t <= was.ends_at)
            })
            .collect();
        for (key, record) in held {
            let labels = self.router.read().labels(&key, &record);
            let still_until = self.registry.read().muted_until(&labels, now);
            let action = Action::Unsilence {
                silence: was.id.clone(),
                still_until,
            };
            self.act(&[key], by, &action).await;
        }
    }

    /// Waits for a silence kept here (at start, or from the other station)
    /// if it starts later, or mutes now if it started while the daemon was
    /// down.
    fn wait_for_start(self: &Arc<Self>, silence: Silence) {
        let pending = silence.state(self.clock.now()) == State::Pending;
        if pending || self.start_missed(&silence) {
            self.start_later(silence);
        }
    }

    /// Whether a silence made to start later has started and its start was
    /// not muted here (the daemon was down then).
    fn start_missed(&self, silence: &Silence) -> bool {
        silence.starts_at > silence.updated_at
            && silence.state(self.clock.now()) == State::Active
            && self
                .store
                .silence_start_muted(&silence.id, silence.starts_at)
                .is_ok_and(|muted| !muted)
    }

    /// Mutes a silence's alerts when it starts (at once if its start was
    /// missed while the daemon was down).
    /// Deletes the silences that ended `silences.retention` ago, now and
    /// every hour (or quarter of the retention, if shorter; on the daemon's
    /// clock), from the registry, the store and (with `[cluster]`) etcd.
    fn start_sweeping(self: &Arc<Self>) {
        let room = self.clone();
        let every = std::time::Duration::from_secs(self.retention_s / 4)
            .clamp(std::time::Duration::from_secs(1), SWEEP_EVERY);
        tokio::spawn(async move {
            loop {
                room.sweep().await;
                tokio::select! {
                    () = room.clock.sleep_as("silences sweep", every) => {}
                    () = room.shutdown.cancelled() => return,
                }
            }
        });
    }

    async fn sweep(&self) {
        let before = self.clock.now().saturating_sub(self.retention_s);
        let ended = self.registry.read().ended_by(before);
        for id in ended {
            let store = self.store.clone();
            let deleting = id.clone();
            let deleted =
                tokio::task::spawn_blocking(move || store.delete_silence(&deleting)).await;
            if !matches!(deleted, Ok(Ok(()))) {
                tracing::warn!(%id, "a silence past its retention cannot be deleted from the store now; tried again later");
                continue;
            }
            self.registry.write().remove(&id);
            if let Some(cluster) = &self.cluster {
                cluster.forget_silence(&id).await;
            }
            tracing::info!(%id, "a silence past its retention (silences.retention) deleted");
        }
    }

    fn start_later(self: &Arc<Self>, silence: Silence) {
        let room = self.clone();
        tokio::spawn(async move { room.at_start(silence).await });
    }

    async fn at_start(&self, silence: Silence) {
        let wait = silence.starts_at.saturating_sub(self.clock.now());
        tokio::select! {
            _ = self.clock.sleep_as("silence", std::time::Duration::from_secs(wait)) => {}
            _ = self.shutdown.cancelled() => return,
        }
        // Changed or ended meanwhile: whoever changed it decides.
        let unchanged = || self.registry.read().get(&silence.id) == Some(&silence);
        if !unchanged() {
            return;
        }
        let Some(cluster) = &self.cluster else {
            self.mute_at_start(&silence).await;
            return;
        };
        // With `[cluster]` both stations wait for the start; the first to
        // claim it mutes. The other looks again every second until it is
        // done: if the claimer dies first, its claim goes with it.
        let mut told = false;
        loop {
            match cluster.claim_silence_start(&silence).await {
                StartClaim::Mine => break,
                StartClaim::Done => {
                    tracing::info!(id = %silence.id, "silence started: its alerts were muted already (by either station)");
                    self.record_start(&silence).await;
                    return;
                }
                StartClaim::Elsewhere if !told => {
                    tracing::info!(id = %silence.id, "silence started: claimed by the other station, which mutes its alerts (taken over here if it stops first)");
                    told = true;
                }
                StartClaim::Elsewhere => {}
            }
            tokio::select! {
                () = tokio::time::sleep(CLAIM_AGAIN) => {}
                () = self.shutdown.cancelled() => return,
            }
            if !unchanged() || silence.state(self.clock.now()) != State::Active {
                return;
            }
        }
        if self.mute_at_start(&silence).await {
            cluster.silence_started(&silence).await;
        }
    }

    /// Mutes the alerts of a silence at its start, those not muted through
    /// its end already (by it before a restart, or by a station that took
    /// the start and died), and records that its start was muted here.
    async fn mute_at_start(&self, silence: &Silence) -> bool {
        let muted = self.mute(silence, true).await;
        if muted {
            self.record_start(silence).await;
        }
        muted
    }

    /// Records in the store that a silence's start was muted (so that a
    /// restart does not mute it again).
    async fn record_start(&self, silence: &Silence) {
        let store = self.store.clone();
        let (id, starts_at) = (silence.id.clone(), silence.starts_at);
        let written =
            tokio::task::spawn_blocking(move || store.mark_silence_start_muted(&id, starts_at))
                .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::warn!(id = %silence.id, "cannot record that a silence's start was muted: a restart mutes it again");
        }
    }
}

impl crate::cluster::SilenceKeeper for Arc<Room> {
    fn keep_shared(&self, silence: Silence) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let known = self
                .registry
                .read()
                .get(&silence.id)
                .is_some_and(|s| *s == silence);
            if known {
                return;
            }
            let id = silence.id.clone();
            match self.store_and_register(silence.clone()).await {
                Ok(()) => self.wait_for_start(silence),
                Err(err) => {
                    tracing::warn!(%id, %err, "cluster: a shared silence is not kept here");
                }
            }
        })
    }
}
