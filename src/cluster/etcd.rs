//! The cluster on etcd: a lease kept alive, the leader key held on it, and
//! each delivery fenced by a transaction on that key.
//!
//! Keys under `cluster.prefix`:
//!
//! | key | value | |
//! |-----|-------|-|
//! | `leader` | the leader's station name | on the leader's lease: gone when it dies |
//! | `claim/<identity>` | the station that is sending it | written only while the claimer holds `leader`, for a message not fenced ahead (`fencing`) |
//! | `delivered/<identity>` | `<event time> <station>[ gave-up]` | the last delivery of that identity (or give-up: a dead letter) |
//! | `orphan/<identity>` | the message (protobuf) | a message only a follower has, for the leader to send |
//!
//! A follower that holds a message etcd has not shown delivered after
//! [`ORPHAN_AFTER`] (the leader may never have received the packet) hands
//! it to the leader under `orphan/`; the leader queues it in its own store
//! and delivers it like its own (a copy it had anyway is dropped by the
//! delivery record).
//!
//! A leader whose lease was not renewed within its TTL less a margin stops
//! sending before etcd could give the key to the other station.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp,
};
use prost::Message;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{EtcdStatus, Gate, Identity, Role, Settled, StationSeen, Status};
use crate::alert::Notification;
use crate::config::ClusterConfig;
use crate::metrics::Metrics;
use crate::store::Store;

/// How often the leader key is looked at, and a follower asks etcd again
/// whether a message it holds was delivered.
pub(super) const POLL: Duration = Duration::from_millis(250);
/// A leader stops sending this long before its lease could have expired.
const MARGIN: Duration = Duration::from_secs(2);
/// The third word of a `delivered/` record of a message given up on.
pub(super) const GAVE_UP: &str = "gave-up";
/// A follower hands a message the leader has not delivered to it after this
/// long (the leader may never have seen the event).
const ORPHAN_AFTER: Duration = Duration::from_secs(10);

pub(crate) struct Cluster {
    pub(super) station: String,
    prefix: String,
    ttl: Duration,
    /// The connected client, once there is one.
    client: watch::Receiver<Option<Client>>,
    /// The etcd member to try first (an index into `cluster.etcd`).
    endpoint: std::sync::atomic::AtomicUsize,
    /// This station's lease (0: none yet).
    pub(super) lease: AtomicI64,
    /// When the lease was last renewed.
    renewed: Mutex<Option<Instant>>,
    pub(super) status: watch::Sender<Status>,
    pub(super) metrics: Arc<Metrics>,
    /// Where a leader queues the messages followers hand it.
    pub(super) store: Arc<Store>,
    /// The id of the etcd cluster the shared actions are read from.
    pub(super) etcd_cluster: std::sync::atomic::AtomicU64,
    /// Actions written to etcd here, waiting to be applied here.
    pub(super) proposals: super::actions::Proposals,
    /// `cluster.fail_open_after`.
    fail_open_after: Option<Duration>,
    /// The lease claims and delivery records are written on (a day, not
    /// kept alive), and when it was granted.
    pub(super) records: Expiring,
    /// The lease shared actions are written on (a week at the least).
    pub(super) actions_lease: Expiring,
    /// How far the watches have seen etcd, and its history compacted.
    pub(super) compaction: super::compaction::Compaction,
    /// Fences taken ahead, and delivery records written behind.
    pub(super) fencing: super::fencing::Fencing,
    /// The etcd revision up to which the silences' watch has kept what
    /// etcd holds (see `silences`).
    pub(super) silences_kept: watch::Sender<i64>,
    /// The messages held here (by identity key).
    held: Mutex<HashMap<String, Holding>>,
    /// Since when this station has been isolated, if it is.
    isolated_since: Mutex<Option<Instant>>,
    /// The stations etcd has seen lately (each says so on its lease).
    pub(super) seen: Mutex<Vec<StationSeen>>,
    /// This station's configuration digest, said with its `stations/` key.
    config_digest: Mutex<String>,
    /// When this process started (ms): proposals of a restarted station
    /// never take an earlier one's name.
    pub(super) started: u64,
    /// The scheduler (set once it runs): messages handed over are queued
    /// through it, the store's owner for the queue.
    pub(super) scheduler: std::sync::OnceLock<crate::scheduler::SchedulerHandle>,
    pub(super) shutdown: CancellationToken,
}

impl Cluster {
    /// Starts keeping the lease and watching the leader key; the station
    /// runs meanwhile (isolated until etcd answers).
    pub(crate) fn start(
        config: &ClusterConfig,
        metrics: Arc<Metrics>,
        store: Arc<Store>,
        shutdown: CancellationToken,
    ) -> Arc<Cluster> {
        let (client_tx, client) = watch::channel(None);
        let cluster = Arc::new(Cluster {
            station: config.station.clone(),
            prefix: config.prefix.clone(),
            ttl: Duration::from_secs(config.lease_ttl_s),
            client,
            endpoint: std::sync::atomic::AtomicUsize::new(0),
            lease: AtomicI64::new(0),
            renewed: Mutex::new(None),
            status: watch::Sender::new(Status {
                station: config.station.clone(),
                role: Role::Isolated,
                leader: None,
                etcd: EtcdStatus {
                    reachable: false,
                    revision: 0,
                },
                sharing_actions: false,
                stations: Vec::new(),
            }),
            metrics,
            store,
            proposals: super::actions::Proposals::default(),
            etcd_cluster: std::sync::atomic::AtomicU64::new(0),
            seen: Mutex::default(),
            config_digest: Mutex::default(),
            fail_open_after: config.fail_open_after.map(|s| Duration::from_secs(s.0)),
            records: Expiring::new(Duration::from_secs(config.records_kept.0)),
            compaction: super::compaction::Compaction::new(config),
            fencing: super::fencing::Fencing::new(),
            actions_lease: Expiring::new(ACTIONS_KEPT),
            silences_kept: watch::Sender::new(0),
            held: Mutex::default(),
            isolated_since: Mutex::new(Some(Instant::now())),
            started: crate::clock::Clock::system().now_ms(),
            scheduler: std::sync::OnceLock::new(),
            shutdown,
        });
        metrics_role(&cluster.metrics, Role::Isolated);
        cluster.start_recording();
        tokio::spawn(cluster.clone().run(config.etcd.clone(), client_tx));
        cluster
    }

    pub(crate) fn status(&self) -> Status {
        Status {
            sharing_actions: *self.proposals.watching.borrow(),
            stations: self.seen.lock().clone(),
            ..self.status.borrow().clone()
        }
    }

    pub(super) fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    pub(super) fn client(&self) -> Option<Client> {
        self.client.borrow().clone()
    }

    /// True while this station holds the leader key on a lease renewed
    /// recently enough.
    pub(super) fn leads(&self) -> bool {
        self.status.borrow().role == Role::Leader && self.lease_fresh()
    }

    fn lease_fresh(&self) -> bool {
        let renewed = *self.renewed.lock();
        renewed.is_some_and(|at| at.elapsed() + MARGIN < self.ttl)
    }

    /// What to do with this message now. None while it is held and this
    /// station does not lead: the worker looks at the next one and asks
    /// again later (a follower's queue is not delivered in order, so a
    /// message waiting for its hand-over, or a normal one held while an
    /// urgent one fails open, holds nothing behind it). A leader waits
    /// here instead: its queue goes out in order.
    pub(crate) async fn gate(&self, id: &Identity, message: &Notification) -> Option<Gate> {
        loop {
            if let Some(gate) = self.check(id, message).await {
                self.release(id);
                return Some(gate);
            }
            if !self.leads() {
                return None;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.shutdown.cancelled() => return Some(Gate::Stopped),
            }
        }
    }

    /// One look at a held message (see [`Cluster::gate`]).
    async fn check(&self, id: &Identity, message: &Notification) -> Option<Gate> {
        if self.shutdown.is_cancelled() {
            return Some(Gate::Stopped);
        }
        if self.fails_open(message) {
            return Some(Gate::FailOpen);
        }
        let (since, handed) = self.hold(id);
        // Isolated, etcd may not answer at all: no use waiting for it.
        if self.status.borrow().role == Role::Isolated {
            return None;
        }
        // Fenced ahead: decided without a word to etcd (or a client).
        let ahead = match self.fenced_ahead(id) {
            Some(Some(gate)) => return Some(gate),
            ahead => ahead,
        };
        let client = self.client()?;
        let decided = match ahead {
            Some(_) => Ok(None),
            None => self.decide(client.clone(), id).await,
        };
        match decided {
            Ok(Some(gate)) => return Some(gate),
            Ok(None) => {}
            Err(err) => tracing::debug!(%err, "cluster: etcd did not answer a delivery check"),
        }
        if !handed
            && since.elapsed() >= ORPHAN_AFTER
            && !self.leads()
            && self.hand_over(client, id, message).await
        {
            if let Some(h) = self.held().get_mut(&id.key) {
                h.handed = true;
            }
        }
        None
    }

    fn held(&self) -> parking_lot::MutexGuard<'_, HashMap<String, Holding>> {
        self.held.lock()
    }

    /// Since when this message has been held here, and whether it was
    /// handed to the leader.
    fn hold(&self, id: &Identity) -> (Instant, bool) {
        let mut held = self.held();
        let h = held.entry(id.key.clone()).or_insert_with(|| Holding {
            since: Instant::now(),
            handed: false,
        });
        let seen = (h.since, h.handed);
        self.metrics.cluster_held.set(held.len() as i64);
        seen
    }

    fn release(&self, id: &Identity) {
        let mut held = self.held();
        if held.remove(&id.key).is_some() {
            self.metrics.cluster_held.set(held.len() as i64);
        }
    }

    /// Asks etcd about a message not fenced ahead: settled elsewhere, or
    /// claimed here (while this station leads).
    async fn decide(
        &self,
        mut client: Client,
        id: &Identity,
    ) -> Result<Option<Gate>, etcd_client::Error> {
        if let Some(settled) = self.delivered_by(&mut client, id).await? {
            self.metrics.cluster_skipped.inc();
            return Ok(Some(Gate::Elsewhere(settled)));
        }
        if !self.leads() {
            return Ok(None);
        }
        // The fence: the claim is written only while the leader key is on
        // this station's lease.
        let lease = self.lease.load(Ordering::Relaxed);
        let claim = Txn::new()
            .when([Compare::lease(self.key("leader"), CompareOp::Equal, lease)])
            .and_then([TxnOp::put(
                self.key(&format!("claim/{}", id.key)),
                self.station.clone(),
                self.records.put_options(),
            )]);
        let claimed = client.txn(claim).await?.succeeded();
        Ok(claimed.then_some(Gate::Send))
    }

    /// Whether an isolated station sends this message itself: urgent, and
    /// isolated for `cluster.fail_open_after`.
    fn fails_open(&self, message: &Notification) -> bool {
        let urgent = message.level == Some(crate::alert::Level::Urgent.as_i32());
        let since = *self.isolated_since.lock();
        urgent
            && self.status.borrow().role == Role::Isolated
            && since
                .zip(self.fail_open_after)
                .is_some_and(|(since, after)| since.elapsed() >= after)
    }

    /// Hands the leader a message it has not delivered (it may never have
    /// seen the event); true once etcd holds it.
    async fn hand_over(&self, mut client: Client, id: &Identity, message: &Notification) -> bool {
        let key = self.key(&format!("orphan/{}", id.key));
        match client.put(key, message.encode_to_vec(), None).await {
            Ok(_) => {
                tracing::info!(key = %id.key, "cluster: a message the leader has not delivered was handed to it");
                true
            }
            Err(err) => {
                tracing::debug!(%err, "cluster: cannot hand a message over");
                false
            }
        }
    }

    /// The leader takes the messages followers handed over: each is
    /// queued here (unless etcd shows it delivered) and its key removed.
    async fn take_orphans(&self, client: &mut Client) -> Result<(), etcd_client::Error> {
        let prefix = self.key("orphan/");
        let found = client
            .get(prefix.clone(), Some(GetOptions::new().with_prefix()))
            .await?;
        for kv in found.kvs() {
            let Ok(message) = Notification::decode(kv.value()) else {
                client.delete(kv.key(), None).await?;
                continue;
            };
            let id = Identity::of(&message);
            if self.delivered_by(client, &id).await?.is_none() {
                let Some(scheduler) = self.scheduler.get() else {
                    return Ok(());
                };
                if let Err(err) = scheduler.queue(vec![message]).await {
                    tracing::warn!(%err, "cluster: cannot queue a message handed over; trying again");
                    return Ok(());
                }
            }
            client.delete(kv.key(), Some(DeleteOptions::new())).await?;
        }
        Ok(())
    }

    /// The station whose delivery record covers this message, if one does
    /// (the record is `<event time> <station>`, see [`Cluster::delivered`]).
    async fn delivered_by(
        &self,
        client: &mut Client,
        id: &Identity,
    ) -> Result<Option<Settled>, etcd_client::Error> {
        let found = client
            .get(self.key(&format!("delivered/{}", id.key)), None)
            .await?;
        Ok(found
            .kvs()
            .first()
            .and_then(|kv| super::fencing::settled_of(kv.value(), id)))
    }

    /// Records a delivery, for the other station to drop its copy
    /// (written behind: see `fencing`).
    pub(crate) fn delivered(&self, id: &Identity) {
        self.record(id, format!("{} {}", id.at, self.station));
    }

    /// Records that this station gave up on a message (a dead letter), for
    /// the other station to drop its copy rather than send it on taking
    /// over.
    pub(crate) fn gave_up(&self, id: &Identity) {
        self.record(id, format!("{} {} {GAVE_UP}", id.at, self.station));
    }

    /// Connects, keeps a lease and campaigns for the leader key, again and
    /// again while etcd is unreachable.
    async fn run(
        self: Arc<Self>,
        endpoints: Vec<String>,
        client_tx: watch::Sender<Option<Client>>,
    ) {
        while !self.shutdown.is_cancelled() {
            if let Err(err) = self.session(&endpoints, &client_tx).await {
                tracing::warn!(%err, "cluster: no session with etcd (unreachable, or the member in use went away); this station delivers nothing until the next");
            }
            self.set(Role::Isolated, None, false, 0);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = self.shutdown.cancelled() => {}
            }
        }
        // Leaving: let the other station take over at once.
        if let Some(mut client) = self.client() {
            let lease = self.lease.load(Ordering::Relaxed);
            if lease != 0 {
                let _ = client.lease_revoke(lease).await;
            }
        }
    }

    /// A client of one member that answers, trying each in turn from the
    /// last one that did. (A client of every member keeps sending
    /// some requests to a dead one: the session would fail again and again.
    /// With one member, its death ends the session and the next one
    /// starts with another.)
    async fn connect(&self, endpoints: &[String]) -> Result<Client, etcd_client::Error> {
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(2));
        let first = self.endpoint.fetch_add(1, Ordering::Relaxed);
        let mut failed = None;
        for i in 0..endpoints.len() {
            let endpoint = &endpoints[(first + i) % endpoints.len()];
            let answered = match Client::connect([endpoint], Some(options.clone())).await {
                // Answers, and is part of a quorum (a member cut off from
                // the others fails a linearizable read).
                Ok(mut client) => match client.get(self.key("leader"), None).await {
                    Ok(_) => Ok(client),
                    Err(err) => Err(err),
                },
                Err(err) => Err(err),
            };
            match answered {
                Ok(client) => {
                    self.endpoint
                        .store((first + i) % endpoints.len(), Ordering::Relaxed);
                    return Ok(client);
                }
                Err(err) => failed = Some(err),
            }
        }
        Err(failed.unwrap_or_else(|| etcd_client::Error::InvalidArgs("no etcd endpoint".into())))
    }

    async fn session(
        &self,
        endpoints: &[String],
        client_tx: &watch::Sender<Option<Client>>,
    ) -> Result<(), etcd_client::Error> {
        let mut client = self.connect(endpoints).await?;
        // The lease of the last session if etcd still keeps it (a member
        // went away, another answers): the leader key stays on it.
        let kept = match self.lease.load(Ordering::Relaxed) {
            0 => None,
            old => Some(old).filter(|_| self.lease_fresh()),
        };
        let (lease, mut keeper, mut answers) = match kept {
            Some(old) => {
                let (mut keeper, mut answers) = client.lease_keep_alive(old).await?;
                keeper.keep_alive().await?;
                match answers.message().await? {
                    Some(answer) if answer.ttl() > 0 => (old, keeper, answers),
                    _ => self.new_lease(&mut client).await?,
                }
            }
            None => self.new_lease(&mut client).await?,
        };
        self.lease.store(lease, Ordering::Relaxed);
        *self.renewed.lock() = Some(Instant::now());
        self.keep_expiring(&mut client).await?;
        client_tx.send_replace(Some(client.clone()));
        let mut last_renewal = Instant::now();
        let leader_key = self.key("leader");
        let mut was_leader = false;
        while !self.shutdown.is_cancelled() {
            if last_renewal.elapsed() >= self.ttl / 3 {
                last_renewal = Instant::now();
                keeper.keep_alive().await?;
                match answers.message().await? {
                    Some(answer) if answer.ttl() > 0 => {
                        *self.renewed.lock() = Some(Instant::now());
                    }
                    _ => {
                        tracing::warn!("cluster: the lease expired; taking a new one");
                        return Ok(());
                    }
                }
                self.say_seen(&mut client, lease).await?;
                self.keep_expiring(&mut client).await?;
                self.keep_within_quota(&mut client).await;
            }
            let (holder, revision) = self.campaign(&mut client, &leader_key, lease).await?;
            let leads = holder.as_ref().is_some_and(|(_, l)| *l == lease);
            let role = if !self.lease_fresh() {
                Role::Isolated
            } else if leads {
                Role::Leader
            } else {
                Role::Follower
            };
            if role == Role::Leader && !was_leader {
                self.metrics.cluster_takeovers.inc();
                tracing::info!(station = %self.station, "cluster: this station leads and delivers");
            }
            was_leader = role == Role::Leader;
            self.set(role, holder.map(|(name, _)| name), true, revision);
            if role == Role::Leader {
                self.take_orphans(&mut client).await?;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.shutdown.cancelled() => {}
            }
        }
        Ok(())
    }

    /// Takes the leader key on `lease` if nobody holds it: who holds it
    /// then (station, lease), and etcd's revision.
    async fn campaign(
        &self,
        client: &mut Client,
        leader_key: &str,
        lease: i64,
    ) -> Result<(Option<(String, i64)>, i64), etcd_client::Error> {
        let campaign = Txn::new()
            .when([Compare::version(leader_key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                leader_key,
                self.station.clone(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(leader_key, None)]);
        let answer = client.txn(campaign).await?;
        let revision = answer.header().map_or(0, |h| h.revision());
        let holder = if answer.succeeded() {
            Some((self.station.clone(), lease))
        } else {
            answer.op_responses().into_iter().find_map(|op| match op {
                etcd_client::TxnOpResponse::Get(get) => get
                    .kvs()
                    .first()
                    .map(|kv| (String::from_utf8_lossy(kv.value()).into_owned(), kv.lease())),
                _ => None,
            })
        };
        Ok((holder, revision))
    }

    /// The configuration this station runs now (at start, and after each
    /// reload): said from the next `stations/` write on.
    pub(crate) fn set_config_digest(&self, digest: String) {
        *self.config_digest.lock() = digest;
    }

    /// Writes this station's `stations/<name>` (the time and its
    /// configuration digest, on its lease) and reads every station's.
    async fn say_seen(&self, client: &mut Client, lease: i64) -> Result<(), etcd_client::Error> {
        let now = crate::clock::Clock::system().now();
        let digest = self.config_digest.lock().clone();
        client
            .put(
                self.key(&format!("stations/{}", self.station)),
                format!("{now} {digest} w{}", self.watched()).replace("  ", " "),
                Some(PutOptions::new().with_lease(lease)),
            )
            .await?;
        let prefix = self.key("stations/");
        let all = client
            .get(prefix.clone(), Some(GetOptions::new().with_prefix()))
            .await?;
        let seen = all
            .kvs()
            .iter()
            .map(|kv| {
                // "<seen at> <digest> w<watched revision>"; a station of
                // before digests says only the time, one of before
                // compaction no revision.
                let value = String::from_utf8_lossy(kv.value());
                let mut words = value.split_whitespace();
                let seen_at = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let (mut config_digest, mut watched_revision) = (None, None);
                for word in words {
                    match word.strip_prefix('w').map(str::parse::<i64>) {
                        Some(Ok(revision)) => watched_revision = Some(revision).filter(|&r| r > 0),
                        _ => config_digest = Some(word.to_owned()),
                    }
                }
                StationSeen {
                    name: String::from_utf8_lossy(&kv.key()[prefix.len()..]).into_owned(),
                    seen_at,
                    config_digest,
                    watched_revision,
                }
            })
            .collect();
        *self.seen.lock() = seen;
        Ok(())
    }

    /// Renews the leases records and actions are written on when due.
    async fn keep_expiring(&self, client: &mut Client) -> Result<(), etcd_client::Error> {
        self.records.keep(client).await?;
        self.actions_lease.keep(client).await
    }

    /// How to put a key on this station's own lease (gone when the
    /// station is): None until etcd granted it.
    pub(super) fn own_lease(&self) -> Option<PutOptions> {
        match self.lease.load(Ordering::Relaxed) {
            0 => None,
            lease => Some(PutOptions::new().with_lease(lease)),
        }
    }

    /// A lease of its own for this station, kept alive from now on.
    async fn new_lease(
        &self,
        client: &mut Client,
    ) -> Result<
        (
            i64,
            etcd_client::LeaseKeeper,
            etcd_client::LeaseKeepAliveStream,
        ),
        etcd_client::Error,
    > {
        let lease = client
            .lease_grant(self.ttl.as_secs() as i64, None)
            .await?
            .id();
        let (keeper, answers) = client.lease_keep_alive(lease).await?;
        Ok((lease, keeper, answers))
    }

    fn set(&self, role: Role, leader: Option<String>, reachable: bool, revision: i64) {
        metrics_role(&self.metrics, role);
        {
            let mut since = self.isolated_since.lock();
            match role {
                Role::Isolated => {
                    since.get_or_insert_with(Instant::now);
                }
                _ => *since = None,
            }
        }
        self.status.send_if_modified(|status| {
            let new = Status {
                sharing_actions: false,
                stations: Vec::new(),
                station: status.station.clone(),
                role,
                leader,
                etcd: EtcdStatus {
                    reachable,
                    revision: if reachable {
                        revision
                    } else {
                        status.etcd.revision
                    },
                },
            };
            let changed = *status != new;
            *status = new;
            changed
        });
    }
}

/// Shared actions live a week at the least: a station away longer misses
/// the ones etcd forgot (it says so when it comes back).
pub(super) const ACTIONS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A lease never kept alive, on which keys expire by themselves: a new one
/// every twenty-fourth of `kept`, each living `kept` and that much more, so
/// that a key written on one lives `kept` at the least.
pub(super) struct Expiring {
    kept: Duration,
    id: AtomicI64,
    granted: Mutex<Option<Instant>>,
}

impl Expiring {
    fn new(kept: Duration) -> Self {
        Expiring {
            kept,
            id: AtomicI64::new(0),
            granted: Mutex::new(None),
        }
    }

    /// Grants the next lease when the current one is due for renewal.
    async fn keep(&self, client: &mut Client) -> Result<(), etcd_client::Error> {
        let every = self.kept / 24;
        let due = self.granted.lock().is_none_or(|at| at.elapsed() >= every);
        if due {
            let ttl = (self.kept + every).as_secs() as i64;
            let lease = client.lease_grant(ttl, None).await?.id();
            self.id.store(lease, Ordering::Relaxed);
            *self.granted.lock() = Some(Instant::now());
        }
        Ok(())
    }

    /// How to put a key on it (none until etcd granted one).
    pub(super) fn put_options(&self) -> Option<PutOptions> {
        match self.id.load(Ordering::Relaxed) {
            0 => None,
            lease => Some(PutOptions::new().with_lease(lease)),
        }
    }
}

/// A message held at the gate: since when, and whether it was handed to
/// the leader.
struct Holding {
    since: Instant,
    handed: bool,
}

fn metrics_role(metrics: &Metrics, role: Role) {
    metrics.cluster_leader.set(i64::from(role == Role::Leader));
    metrics
        .cluster_isolated
        .set(i64::from(role == Role::Isolated));
}
