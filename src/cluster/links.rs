//! The action links' secret, shared by the two stations so that a link
//! either one sent works on both. Kept in etcd under `link-secret`: the
//! first station to reach etcd writes its own, the other takes that one
//! (and keeps it in its store, voiding the few links it sent alone before).
//! Each station looks again every [`LOOK_AGAIN`], so a secret rotated on one
//! station reaches the other within that.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse};

use super::Cluster;
use crate::links::{Secret, SharedSecret};

/// How often a station reads the shared secret again, once it has it.
const LOOK_AGAIN: Duration = Duration::from_secs(5);
/// How often it tries while etcd does not answer.
const RETRY: Duration = Duration::from_millis(250);

impl Cluster {
    /// Shares this station's secret, or takes the one shared, and follows
    /// it until shutdown.
    pub(crate) fn start_sharing_link_secret(self: &Arc<Self>, secret: SharedSecret) {
        let cluster = self.clone();
        tokio::spawn(async move {
            while !cluster.shutdown.is_cancelled() {
                let wait = match cluster.agree_on_link_secret(&secret).await {
                    Ok(()) => LOOK_AGAIN,
                    Err(err) => {
                        tracing::debug!(%err, "cluster: the action links' secret not shared yet");
                        RETRY
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = cluster.shutdown.cancelled() => return,
                }
            }
        });
    }

    /// Writes ours if etcd holds none, else takes etcd's.
    async fn agree_on_link_secret(&self, secret: &SharedSecret) -> Result<(), String> {
        let mut client = self.client().ok_or("etcd is unreachable")?;
        let key = self.key("link-secret");
        let ours = secret.get();
        let txn = Txn::new()
            .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key.clone(), ours.as_bytes().to_vec(), None)])
            .or_else([TxnOp::get(key, None)]);
        let answer = client.txn(txn).await.map_err(|e| e.to_string())?;
        if answer.succeeded() {
            tracing::info!("cluster: this station's action link secret is now the shared one");
            return Ok(());
        }
        let shared = answer
            .op_responses()
            .into_iter()
            .find_map(|op| match op {
                TxnOpResponse::Get(got) => got.kvs().first().map(|kv| kv.value().to_vec()),
                _ => None,
            })
            .and_then(|v| Secret::from_bytes(&v))
            .ok_or("the shared secret is missing or not 32 bytes")?;
        if shared != ours {
            secret.set(shared.clone());
            let store = self.store.clone();
            let kept =
                tokio::task::spawn_blocking(move || store.keep_link_secret(&shared).map(|_| ()))
                    .await;
            if !matches!(kept, Ok(Ok(()))) {
                tracing::warn!("cluster: the shared action link secret is in force but not kept in the store: links will need it from etcd again after a restart");
            }
            tracing::info!("cluster: action links now use the secret shared through etcd");
        }
        Ok(())
    }

    /// Makes `secret` the shared one (a rotation): the other station takes
    /// it within [`LOOK_AGAIN`].
    pub(crate) async fn share_link_secret(&self, secret: &Secret) -> Result<(), String> {
        self.put_within(self.key("link-secret"), secret.as_bytes().to_vec(), None)
            .await
            .map(|_| ())
    }
}
