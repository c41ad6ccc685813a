//! Keeping etcd within its quota. etcd keeps every revision of every key
//! until its history is compacted: without it the claims and delivery
//! records of every message ever sent stay in etcd's database, which grows
//! until etcd refuses every write (the NOSPACE alarm) and no station can
//! claim a delivery.
//!
//! Each station says in its `stations/` key how far it has watched the
//! shared actions and silences (asking etcd for the watches' progress when
//! nothing happens); every `cluster.compact_every` the leader compacts
//! etcd's history up to the lowest revision every station seen has watched
//! to. A station away longer than that catches up by reading every action
//! and silence etcd holds (they are keys on week-long leases, which
//! compaction leaves).
//!
//! The shared actions themselves are deleted once every station of the
//! last week has applied them: each says how far under `applied/<station>`,
//! on the week-long lease the actions are written on (a station away
//! longer is no longer waited for, as its actions would have expired).
//! Every station says the database's size
//! (`mauved_cluster_etcd_db_bytes`) and warns past 80% of
//! `cluster.etcd_quota_bytes`.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions, Txn, TxnOp};

use super::Cluster;
use crate::config::ClusterConfig;

/// How often, at most, a watch with nothing to say is asked how far it
/// has seen (more often with a shorter `cluster.compact_every`).
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// How far the watches have seen etcd, and what was compacted.
pub(super) struct Compaction {
    every: Option<Duration>,
    /// How often a quiet watch asks how far it has seen.
    pub(super) progress_every: Duration,
    quota_bytes: u64,
    /// The revision up to which the shared actions' watch has applied
    /// every event (0: not yet).
    pub(super) actions_watched: AtomicI64,
    last: Mutex<Option<Instant>>,
    compacted: AtomicI64,
    /// The revision last said under `applied/<station>`.
    said_applied: AtomicI64,
    /// Said once while past 80% of the quota (again after going under).
    warned: AtomicBool,
}

impl Compaction {
    pub(super) fn new(config: &ClusterConfig) -> Self {
        Compaction {
            every: (config.compact_every.0 > 0)
                .then(|| Duration::from_secs(config.compact_every.0)),
            progress_every: PROGRESS_EVERY.min(Duration::from_secs(config.compact_every.0.max(1))),
            quota_bytes: config.etcd_quota_bytes,
            actions_watched: AtomicI64::new(0),
            last: Mutex::new(None),
            compacted: AtomicI64::new(0),
            said_applied: AtomicI64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// Raises how far the actions' watch has seen.
    pub(super) fn actions_seen(&self, revision: i64) {
        self.actions_watched.fetch_max(revision, Ordering::Relaxed);
    }
}

impl Cluster {
    /// How far this station has watched both the actions and the silences:
    /// the lower (0: one of them not yet).
    pub(super) fn watched(&self) -> i64 {
        let actions = self.compaction.actions_watched.load(Ordering::Relaxed);
        let silences = *self.silences_kept.borrow();
        if actions == 0 || silences == 0 {
            0
        } else {
            actions.min(silences)
        }
    }

    /// At each lease renewal: says etcd's size, warns near the quota, and
    /// (the leader, when due) compacts.
    pub(super) async fn keep_within_quota(&self, client: &mut Client) {
        if let Ok(status) = client.status().await {
            self.say_size(status.db_size(), status.raft_used_db_size());
        }
        self.say_applied(client).await;
        let Some(every) = self.compaction.every else {
            return;
        };
        if !self.leads()
            || self
                .compaction
                .last
                .lock()
                .is_some_and(|at| at.elapsed() < every)
        {
            return;
        }
        *self.compaction.last.lock() = Some(Instant::now());
        match self.forget_applied_actions(client).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(
                actions = n,
                "cluster: shared actions every station applied deleted"
            ),
            Err(err) => {
                tracing::warn!(%err, "cluster: cannot delete the shared actions every station applied")
            }
        }
        let Some(target) = self.compaction_target() else {
            tracing::debug!(
                "cluster: not every station says how far it watched; etcd not compacted"
            );
            return;
        };
        if target <= self.compaction.compacted.load(Ordering::Relaxed) {
            return;
        }
        match client.compact(target, None).await {
            Ok(_) => {
                self.compaction.compacted.store(target, Ordering::Relaxed);
                self.metrics.cluster_etcd_compacted.set(target);
                tracing::debug!(revision = target, "cluster: etcd's history compacted");
            }
            // Compacted further already (by etcd itself, or before a restart).
            Err(err) if err.to_string().contains("compacted") => {
                self.compaction.compacted.store(target, Ordering::Relaxed);
            }
            Err(err) => tracing::warn!(%err, "cluster: cannot compact etcd's history"),
        }
    }

    /// Says how far this station applied the shared actions, when that
    /// moved.
    async fn say_applied(&self, client: &mut Client) {
        let applied = self.compaction.actions_watched.load(Ordering::Relaxed);
        if applied == 0 || applied == self.compaction.said_applied.load(Ordering::Relaxed) {
            return;
        }
        let key = self.key(&format!("applied/{}", self.station));
        let options = self.actions_lease.put_options();
        if client.put(key, applied.to_string(), options).await.is_ok() {
            self.compaction
                .said_applied
                .store(applied, Ordering::Relaxed);
        }
    }

    /// Deletes the shared actions every station that said so within the
    /// week has applied: how many.
    async fn forget_applied_actions(
        &self,
        client: &mut Client,
    ) -> Result<usize, etcd_client::Error> {
        let said = client
            .get(self.key("applied/"), Some(GetOptions::new().with_prefix()))
            .await?;
        let Some(everyone) = said
            .kvs()
            .iter()
            .map(|kv| String::from_utf8_lossy(kv.value()).parse::<i64>().ok())
            .min()
            .flatten()
        else {
            return Ok(0);
        };
        let applied = client
            .get(
                self.key("actions/"),
                Some(
                    GetOptions::new()
                        .with_prefix()
                        .with_keys_only()
                        .with_max_mod_revision(everyone),
                ),
            )
            .await?;
        // etcd takes up to 128 operations in one transaction by default.
        for keys in applied.kvs().chunks(128) {
            let deletes: Vec<TxnOp> = keys
                .iter()
                .map(|kv| TxnOp::delete(kv.key(), None))
                .collect();
            client.txn(Txn::new().and_then(deletes)).await?;
        }
        Ok(applied.kvs().len())
    }

    /// The lowest revision every station seen has watched to, this one's
    /// own included; None while one has not said.
    fn compaction_target(&self) -> Option<i64> {
        let own = Some(self.watched()).filter(|&w| w > 0)?;
        self.seen
            .lock()
            .iter()
            .try_fold(own, |lowest, s| Some(lowest.min(s.watched_revision?)))
    }

    fn say_size(&self, size: i64, in_use: i64) {
        self.metrics.cluster_etcd_bytes.set(size);
        let quota = self.compaction.quota_bytes;
        let past = u64::try_from(size).unwrap_or(0) > quota / 5 * 4;
        if past && !self.compaction.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                db_bytes = size,
                in_use_bytes = in_use,
                quota_bytes = quota,
                "cluster: etcd's database is past 80% of its quota (cluster.etcd_quota_bytes): at the quota etcd refuses every write and nothing is delivered; if little of it is in use, defragment it (etcdctl defrag)"
            );
        } else if !past {
            self.compaction.warned.store(false, Ordering::Relaxed);
        }
    }
}
