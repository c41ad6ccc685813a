//! Silences shared by the two stations: one made, changed or expired on
//! either is written to etcd under `silences/<id>` before it is kept, and
//! each station keeps every one it reads there (a full read at start and
//! whenever the watch starts again, then the watch), in etcd's order: both
//! list the same silences, and both mute new raises with them. Muting the
//! alerts already raised is an action, shared like the others: when a
//! silence is made, by the station asked; when a silence made to start
//! later starts, by whichever station claims its start first in etcd (each
//! station waits for it), so that it is muted once, and even when the
//! station that was asked is down by then. The claim
//! (`silence-claims/<id>/<start>`) is on the claimer's own lease and
//! `silence-starts/<id>/<start>` records that the alerts were muted (the
//! key an older version wrote as its claim, just before muting, so it
//! reads as done): a claimer that dies before that loses its claim with
//! its lease, and the other station, looking again every second, takes the
//! start over.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, EventType, GetOptions, Txn, TxnOp};

use super::{Cluster, Kept, SilenceKeeper, StartClaim};
use crate::alertmanager::silences::Silence;
use crate::scheduler::Error;

impl Cluster {
    /// Writes a silence to etcd (new, changed or expired): an error if etcd
    /// does not take it within five seconds (then it is kept nowhere).
    /// Then waits (up to five seconds) until this station's watch has kept
    /// it: `Kept::ByWatch`. The watch keeps every version in etcd's order,
    /// so a version of the same silence written at the same moment on the
    /// other station cannot be overwritten here by this older one.
    /// `Kept::NotYet` when the watch is behind: the caller keeps it.
    pub(crate) async fn share_silence(&self, silence: &Silence) -> Result<Kept, Error> {
        let key = self.key(&format!("silences/{}", silence.id));
        let value = serde_json::to_vec(silence).map_err(|e| Error::NotShared(e.to_string()))?;
        let revision = self
            .put_within(key, value, None)
            .await
            .map_err(Error::NotShared)?;
        let mut kept = self.silences_kept.subscribe();
        let caught_up = tokio::time::timeout(
            Duration::from_secs(5),
            kept.wait_for(|&at| revision > 0 && at >= revision),
        )
        .await;
        Ok(match caught_up {
            Ok(Ok(_)) => Kept::ByWatch,
            _ => Kept::NotYet,
        })
    }

    /// Who mutes the alerts of a silence that starts now. The first
    /// station to claim its start in etcd does; the claim is on that
    /// station's own lease, so that if it dies before it has muted them,
    /// the claim goes with it and the other station claims it in turn.
    /// Once they are muted, [`Cluster::silence_started`] says so for good.
    pub(crate) async fn claim_silence_start(&self, silence: &Silence) -> StartClaim {
        let (Some(mut client), Some(on_lease)) = (self.client(), self.own_lease()) else {
            return StartClaim::Elsewhere;
        };
        let (claim, started) = self.start_keys(silence);
        let txn = Txn::new()
            .when([
                Compare::version(started.clone(), CompareOp::Equal, 0),
                Compare::version(claim.clone(), CompareOp::Equal, 0),
            ])
            .and_then([TxnOp::put(claim, self.station.clone(), Some(on_lease))])
            .or_else([TxnOp::get(started, None)]);
        match client.txn(txn).await {
            Ok(answer) if answer.succeeded() => StartClaim::Mine,
            Ok(answer) => {
                let done = answer.op_responses().into_iter().any(|op| {
                    matches!(op, etcd_client::TxnOpResponse::Get(got) if !got.kvs().is_empty())
                });
                if done {
                    StartClaim::Done
                } else {
                    StartClaim::Elsewhere
                }
            }
            Err(err) => {
                tracing::warn!(id = %silence.id, %err, "cluster: cannot claim a silence's start");
                StartClaim::Elsewhere
            }
        }
    }

    /// Deletes a silence past its retention from etcd (either station may:
    /// a delete of what is gone is nothing). The watches keep only puts.
    pub(crate) async fn forget_silence(&self, id: &str) {
        let Some(mut client) = self.client() else {
            return;
        };
        let key = self.key(&format!("silences/{id}"));
        if let Err(err) = client.delete(key, None).await {
            tracing::warn!(%id, %err, "cluster: cannot delete a silence past its retention from etcd");
        }
    }

    /// Records that the alerts of a silence that started are muted: no
    /// station claims its start again.
    pub(crate) async fn silence_started(&self, silence: &Silence) {
        let (_, started) = self.start_keys(silence);
        let written = self
            .put_within(
                started,
                self.station.clone().into_bytes(),
                self.records.put_options(),
            )
            .await;
        if let Err(err) = written {
            tracing::warn!(id = %silence.id, %err, "cluster: cannot record that a silence's start was muted");
        }
    }

    /// The keys of a silence's start: its claim, and the record that it
    /// was muted.
    fn start_keys(&self, silence: &Silence) -> (String, String) {
        let at = format!("{}/{}", silence.id, silence.starts_at);
        (
            self.key(&format!("silence-claims/{at}")),
            self.key(&format!("silence-starts/{at}")),
        )
    }

    /// Hands every silence etcd holds, now and as they change, to `keeper`
    /// (the silences' room). Runs until shutdown.
    pub(crate) fn start_following_silences(self: &Arc<Self>, keeper: Arc<dyn SilenceKeeper>) {
        let cluster = self.clone();
        tokio::spawn(async move { cluster.follow_silences(&*keeper).await });
    }

    async fn follow_silences(&self, keeper: &dyn SilenceKeeper) {
        let prefix = self.key("silences/");
        while !self.shutdown.is_cancelled() {
            let Some(mut client) = self.client() else {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(250)) => continue,
                    () = self.shutdown.cancelled() => return,
                }
            };
            // Everything etcd holds, then what changes after that read.
            let all = match client
                .get(prefix.clone(), Some(GetOptions::new().with_prefix()))
                .await
            {
                Ok(all) => all,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            };
            for kv in all.kvs() {
                keep(keeper, kv.value()).await;
            }
            let read_at = all.header().map_or(0, |h| h.revision());
            self.silences_kept.send_if_modified(|at| raise(at, read_at));
            let from = read_at + 1;
            let Some(mut stream) = Self::watch_from(&mut client, &prefix, from, "silences").await
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
                // Ended or compacted past: read everything again.
                let Ok(Some(answer)) = message else { break };
                if answer.compact_revision() > 0 {
                    break;
                }
                if let Some(at) = super::actions::progress(&answer) {
                    self.silences_kept.send_if_modified(|kept| raise(kept, at));
                    continue;
                }
                for event in answer.events() {
                    if event.event_type() == EventType::Put {
                        if let Some(kv) = event.kv() {
                            keep(keeper, kv.value()).await;
                            let at = kv.mod_revision();
                            self.silences_kept.send_if_modified(|kept| raise(kept, at));
                        }
                    }
                }
            }
        }
    }
}

/// Raises `at` to `to`; true if it moved.
fn raise(at: &mut i64, to: i64) -> bool {
    let moved = to > *at;
    if moved {
        *at = to;
    }
    moved
}

/// Hands one silence read from etcd to the station's keeper.
async fn keep(keeper: &dyn SilenceKeeper, value: &[u8]) {
    match serde_json::from_slice::<Silence>(value) {
        Ok(silence) => keeper.keep_shared(silence).await,
        Err(_) => tracing::warn!("cluster: a shared silence does not read; skipped"),
    }
}
