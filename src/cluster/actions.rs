//! Actions shared by the two stations: an ack, note, raise, clear,
//! suppression or forget taken on either is written to etcd under
//! `actions/`, and each station applies every one from its watch, in etcd's
//! order, so both show the same state and history with the same author. The
//! station that took it answers once it has applied it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{EventType, GetOptions, WatchOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::etcd::ACTIONS_KEPT;
use super::Cluster;
use crate::alert::{AlertKey, Record};
use crate::scheduler::{Action, Error, SchedulerHandle};

/// How far the shared actions were applied here (store meta).
#[derive(Clone, Copy)]
struct Applied {
    /// The etcd revision of the last one.
    revision: i64,
    /// The etcd cluster it came from (0: not known, kept by an earlier
    /// version).
    etcd: u64,
    /// When it was applied (Unix seconds; 0: not known).
    at: crate::alert::UnixSecs,
}

/// One action as etcd keeps it.
#[derive(Serialize, Deserialize)]
struct SharedAction {
    /// `<station>-<n>`: who took it, to answer there.
    proposal: String,
    source: String,
    id: String,
    by: String,
    #[serde(flatten)]
    action: Action,
}

/// Actions this station wrote and waits to have applied, by proposal.
#[derive(Default)]
pub(super) struct Proposals {
    next: AtomicU64,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<Record, Error>>>>,
    /// True while the watch of `actions/` runs: an action is written only
    /// then, so this station is sure to see it.
    pub(super) watching: tokio::sync::watch::Sender<bool>,
}

impl Cluster {
    /// Writes each action to etcd and answers once this station applied it
    /// from its watch. An action etcd does not take is applied by nobody.
    pub(crate) async fn act_many(
        &self,
        keys: &[AlertKey],
        by: &str,
        action: &Action,
    ) -> Vec<Result<Record, Error>> {
        let mut answers = Vec::with_capacity(keys.len());
        for key in keys {
            answers.push(self.propose(key, by, action).await);
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(match answer {
                Ok(answer) => match tokio::time::timeout(Duration::from_secs(10), answer).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(Error::Stopped),
                    Err(_) => Err(Error::NotShared(
                        "written to etcd, not yet applied here after 10 s".into(),
                    )),
                },
                Err(err) => Err(err),
            });
        }
        results
    }

    async fn propose(
        &self,
        key: &AlertKey,
        by: &str,
        action: &Action,
    ) -> Result<oneshot::Receiver<Result<Record, Error>>, Error> {
        let n = self.proposals.next.fetch_add(1, Ordering::Relaxed);
        let proposal = format!("{}-{}-{n}", self.station, self.started);
        let shared = SharedAction {
            proposal: proposal.clone(),
            source: key.source.clone(),
            id: key.id.clone(),
            by: by.to_owned(),
            action: action.clone(),
        };
        let value = serde_json::to_vec(&shared).map_err(|e| Error::NotShared(e.to_string()))?;
        let mut watching = self.proposals.watching.subscribe();
        let ready = matches!(
            tokio::time::timeout(Duration::from_secs(5), watching.wait_for(|w| *w)).await,
            Ok(Ok(_))
        );
        if !ready {
            return Err(Error::NotShared(
                "this station does not follow the shared actions (etcd unreachable?)".into(),
            ));
        }
        let (reply, answer) = oneshot::channel();
        self.waiting().insert(proposal.clone(), reply);
        // A member that went away answers with an error: another may not.
        let key = self.key(&format!("actions/{proposal}"));
        if let Err(why) = self
            .put_within(key, value, self.actions_lease.put_options())
            .await
        {
            self.waiting().remove(&proposal);
            return Err(Error::NotShared(why));
        }
        Ok(answer)
    }

    /// Puts a key, trying again for up to five seconds while etcd does not
    /// take it; the revision it was written at, or the last reason if it
    /// never is.
    pub(super) async fn put_within(
        &self,
        key: String,
        value: Vec<u8>,
        options: Option<etcd_client::PutOptions>,
    ) -> Result<i64, String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let put = match self.client() {
                Some(mut client) => client
                    .put(key.clone(), value.clone(), options.clone())
                    .await
                    .map(|put| put.header().map_or(0, |h| h.revision()))
                    .map_err(|e| e.to_string()),
                None => Err("etcd is unreachable".to_owned()),
            };
            match put {
                Ok(revision) => return Ok(revision),
                Err(why) if tokio::time::Instant::now() >= deadline => return Err(why),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// A watch of every key under `prefix` from revision `from`; None (after
    /// a second, the reason logged) if etcd refuses it.
    pub(super) async fn watch_from(
        client: &mut etcd_client::Client,
        prefix: &str,
        from: i64,
        what: &str,
    ) -> Option<etcd_client::WatchStream> {
        let options = WatchOptions::new().with_prefix().with_start_revision(from);
        match client.watch(prefix.to_owned(), Some(options)).await {
            Ok(stream) => Some(stream),
            Err(err) => {
                tracing::warn!(%err, "cluster: cannot watch the shared {what}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                None
            }
        }
    }

    fn waiting(
        &self,
    ) -> parking_lot::MutexGuard<'_, HashMap<String, oneshot::Sender<Result<Record, Error>>>> {
        self.proposals.waiting.lock()
    }

    /// Applies every shared action from etcd's watch, from the moment this
    /// station started, through `scheduler`; runs until shutdown.
    pub(crate) fn start_applying(self: &Arc<Self>, scheduler: SchedulerHandle) {
        let _ = self.scheduler.set(scheduler.clone());
        tokio::spawn(self.clone().apply(scheduler));
    }

    async fn apply(self: Arc<Self>, scheduler: SchedulerHandle) {
        let prefix = self.key("actions/");
        // The revision after the last action applied here, kept on disk: a
        // restarted station catches up from there.
        let kept = self.last_applied();
        let mut next: Option<i64> = kept.map(|k| k.revision + 1);
        // The etcd cluster those actions came from (0: not known).
        let mut followed = kept.map_or(0, |k| k.etcd);
        if let Some(from) = next {
            tracing::info!(
                from,
                "cluster: catching up on the shared actions from the watch"
            );
        }
        while !self.shutdown.is_cancelled() {
            let Some(mut client) = self.client() else {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(250)) => continue,
                    () = self.shutdown.cancelled() => return,
                }
            };
            let (revision, etcd) = match client
                .get(prefix.clone(), Some(GetOptions::new().with_count_only()))
                .await
            {
                Ok(answer) => answer
                    .header()
                    .map_or((0, 0), |h| (h.revision(), h.cluster_id())),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            };
            self.etcd_cluster.store(etcd, Ordering::Relaxed);
            let from = watch_from(next, followed, revision, etcd);
            followed = etcd;
            next = Some(from);
            let Some(mut stream) = Self::watch_from(&mut client, &prefix, from, "actions").await
            else {
                continue;
            };
            loop {
                let message = tokio::select! {
                    message = stream.message() => message,
                    // Nothing for a while: how far has the watch seen?
                    () = tokio::time::sleep(self.compaction.progress_every) => {
                        let _ = stream.request_progress().await;
                        continue;
                    }
                    () = self.shutdown.cancelled() => return,
                };
                let Ok(Some(answer)) = message else {
                    self.proposals.watching.send_replace(false);
                    break;
                };
                if let Some(revision) = progress(&answer) {
                    self.compaction.actions_seen(revision);
                    continue;
                }
                if answer.compact_revision() > 0 {
                    let compacted = answer.compact_revision();
                    if let Some(after) = self
                        .catch_up(&mut client, &scheduler, (from, compacted), kept)
                        .await
                    {
                        next = Some(after);
                    }
                    break;
                }
                if answer.created() {
                    self.proposals.watching.send_replace(true);
                }
                if let Some(after) = self.apply_events(&scheduler, answer.events()).await {
                    self.compaction.actions_seen(after - 1);
                    next = Some(after);
                }
            }
        }
    }

    /// The history from `from` is gone (compacted): every action is still a
    /// key, so read them all and apply the newer. The revision to watch
    /// from next, if the read went through.
    async fn catch_up(
        &self,
        client: &mut etcd_client::Client,
        scheduler: &SchedulerHandle,
        (from, compacted): (i64, i64),
        kept: Option<Applied>,
    ) -> Option<i64> {
        tracing::warn!(
            compacted,
            from,
            "cluster: etcd compacted past the actions not yet applied here; catching up by a full read"
        );
        warn_if_away_too_long(kept);
        match self.full_read(client, scheduler, from).await {
            Ok(after) => {
                self.compaction.actions_seen(after - 1);
                Some(after)
            }
            Err(err) => {
                tracing::warn!(%err, "cluster: the full read of the shared actions failed");
                None
            }
        }
    }

    /// Applies the actions a watch answer holds, in order, keeping how far
    /// it got: the revision after the last, if any.
    async fn apply_events(
        &self,
        scheduler: &SchedulerHandle,
        events: &[etcd_client::Event],
    ) -> Option<i64> {
        let mut next = None;
        for event in events {
            let Some(kv) = event.kv() else { continue };
            if event.event_type() == EventType::Put {
                self.apply_one(scheduler, kv.value()).await;
            }
            next = Some(kv.mod_revision() + 1);
            self.applied(kv.mod_revision()).await;
        }
        next
    }

    /// Applies every action written at or after revision `from`, in
    /// order; returns the revision to watch from.
    async fn full_read(
        &self,
        client: &mut etcd_client::Client,
        scheduler: &SchedulerHandle,
        from: i64,
    ) -> Result<i64, etcd_client::Error> {
        let all = client
            .get(self.key("actions/"), Some(GetOptions::new().with_prefix()))
            .await?;
        let mut newer: Vec<&etcd_client::KeyValue> = all
            .kvs()
            .iter()
            .filter(|kv| kv.mod_revision() >= from)
            .collect();
        newer.sort_by_key(|kv| kv.mod_revision());
        for kv in newer {
            self.apply_one(scheduler, kv.value()).await;
            self.applied(kv.mod_revision()).await;
        }
        let revision = all.header().map_or(from, |h| h.revision());
        self.applied(revision).await;
        Ok(revision + 1)
    }

    fn last_applied(&self) -> Option<Applied> {
        let value = self.store.applied_actions().ok().flatten()?;
        let word = |at: usize| -> Option<[u8; 8]> { value.get(at..at + 8)?.try_into().ok() };
        Some(Applied {
            revision: i64::from_be_bytes(word(0)?),
            etcd: word(8).map_or(0, u64::from_be_bytes),
            at: word(16).map_or(0, u64::from_be_bytes),
        })
    }

    /// Keeps the last revision applied, its etcd cluster and the time
    /// (flushed: at most that action is applied again after a crash; the
    /// flush runs off the async workers).
    async fn applied(&self, revision: i64) {
        let store = self.store.clone();
        let mut value = revision.to_be_bytes().to_vec();
        value.extend(self.etcd_cluster.load(Ordering::Relaxed).to_be_bytes());
        value.extend(crate::clock::Clock::system().now().to_be_bytes());
        let kept = tokio::task::spawn_blocking(move || store.keep_applied_actions(&value)).await;
        if !matches!(kept, Ok(Ok(()))) {
            tracing::warn!("cluster: cannot keep how far the shared actions were applied");
        }
    }

    async fn apply_one(&self, scheduler: &SchedulerHandle, value: &[u8]) {
        let Ok(shared) = serde_json::from_slice::<SharedAction>(value) else {
            tracing::warn!("cluster: a shared action does not read; skipped");
            return;
        };
        let key = AlertKey::new(shared.source, shared.id);
        let result = scheduler.act(key, &shared.by, shared.action).await;
        if let Some(reply) = self.waiting().remove(&shared.proposal) {
            let _ = reply.send(result);
        }
    }
}

/// The revision a progress answer says the watch has seen every event up
/// to (None: another answer).
pub(super) fn progress(answer: &etcd_client::WatchResponse) -> Option<i64> {
    let is_progress = answer.events().is_empty()
        && !answer.created()
        && !answer.canceled()
        && answer.compact_revision() == 0;
    answer
        .header()
        .map(|h| h.revision())
        .filter(|_| is_progress)
}

/// The revision to watch the shared actions from: the one after the last
/// applied (`next`), every action (1) when etcd is not the cluster last
/// followed (a wiped or restored etcd), or from now on at a first start.
fn watch_from(next: Option<i64>, followed: u64, revision: i64, etcd: u64) -> i64 {
    match next {
        Some(from) if (followed != 0 && followed != etcd) || from > revision + 1 => {
            tracing::warn!(
                from,
                revision,
                "cluster: etcd is not the one this station last followed (a new cluster); applying every action it holds"
            );
            1
        }
        Some(from) => from,
        None => revision + 1,
    }
}

/// Says so when this station was away longer than etcd keeps the shared
/// actions.
fn warn_if_away_too_long(kept: Option<Applied>) {
    let now = crate::clock::Clock::system().now();
    if let Some(away) = kept.filter(|k| k.at > 0 && k.at + ACTIONS_KEPT.as_secs() < now) {
        tracing::warn!(
            since = %crate::timefmt::rfc3339(away.at),
            "cluster: this station was away longer than etcd keeps shared actions (a week): the ones taken early in that time may be missing here"
        );
    }
}
