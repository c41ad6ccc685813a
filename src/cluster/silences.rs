//! Silences shared by the two stations: one made, changed or expired on
//! either is written to etcd under `silences/<id>` before it is kept, and
//! each station keeps every one it reads there (a full read at start and
//! whenever the watch starts again, then the watch), in etcd's order: both
//! list the same silences, and both mute new raises with them. Muting the
//! alerts already raised is an action, shared like the others.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use etcd_client::{EventType, GetOptions};

use super::Cluster;
use crate::alertmanager::silences::{Silence, Silences};
use crate::scheduler::Error;
use crate::store::Store;

impl Cluster {
    /// Writes a silence to etcd (new, changed or expired): an error if etcd
    /// does not take it within five seconds (then it is kept nowhere).
    pub(crate) async fn share_silence(&self, silence: &Silence) -> Result<(), Error> {
        let key = self.key(&format!("silences/{}", silence.id));
        let value = serde_json::to_vec(silence).map_err(|e| Error::NotShared(e.to_string()))?;
        self.put_within(key, value, None)
            .await
            .map_err(Error::NotShared)
    }

    /// Keeps every silence etcd holds, now and as they change, in the store
    /// and `registry`; runs until shutdown.
    pub(crate) fn start_following_silences(self: &Arc<Self>, registry: Arc<RwLock<Silences>>) {
        let cluster = self.clone();
        tokio::spawn(async move { cluster.follow_silences(registry).await });
    }

    async fn follow_silences(&self, registry: Arc<RwLock<Silences>>) {
        let store = &self.store;
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
                keep(&registry, store, kv.value()).await;
            }
            let from = all.header().map_or(0, |h| h.revision()) + 1;
            let Some(mut stream) = Self::watch_from(&mut client, &prefix, from, "silences").await
            else {
                continue;
            };
            loop {
                let message = tokio::select! {
                    message = stream.message() => message,
                    () = self.shutdown.cancelled() => return,
                };
                // Ended or compacted past: read everything again.
                let Ok(Some(answer)) = message else { break };
                if answer.compact_revision() > 0 {
                    break;
                }
                for event in answer.events() {
                    if event.event_type() == EventType::Put {
                        if let Some(kv) = event.kv() {
                            keep(&registry, store, kv.value()).await;
                        }
                    }
                }
            }
        }
    }
}

/// Keeps one silence read from etcd, unless this station holds it as it is.
async fn keep(registry: &RwLock<Silences>, store: &Arc<Store>, value: &[u8]) {
    let Ok(silence) = serde_json::from_slice::<Silence>(value) else {
        tracing::warn!("cluster: a shared silence does not read; skipped");
        return;
    };
    let known = registry
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&silence.id)
        .is_some_and(|s| *s == silence);
    if known {
        return;
    }
    let kept = silence.clone();
    let stored = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.put_silence(&kept)).await
    };
    if !matches!(stored, Ok(Ok(()))) {
        tracing::error!(id = %silence.id, "cluster: cannot keep a shared silence");
        return;
    }
    let id = silence.id.clone();
    if let Err(why) = registry
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .put(silence)
    {
        tracing::warn!(%id, %why, "cluster: a shared silence is not valid here; skipped");
    }
}
