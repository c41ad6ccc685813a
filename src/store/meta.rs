//! Small values kept beside the alerts, each of one owner: the sessions
//! (`http::auth`), how far a cluster station applied the shared actions
//! (`cluster::actions`), which silences' starts were muted (silences), and
//! the action links' secret (`links`, made by the daemon).
//! Their keys are the store's; the owners speak in their own terms.

use super::{Result, Store};
use crate::alert::UnixSecs;

const SESSIONS: &[u8] = b"sessions";
const LINK_SECRET: &[u8] = b"link-secret";
#[cfg(feature = "ha")]
const CLUSTER_APPLIED: &[u8] = b"cluster-actions-applied";

fn silence_started(id: &str, starts_at: UnixSecs) -> Vec<u8> {
    format!("silence-started/{id}/{starts_at}").into_bytes()
}

impl Store {
    /// The login sessions kept (`http::auth`'s encoding).
    pub(crate) fn kept_sessions(&self) -> Result<Option<Vec<u8>>> {
        self.meta(SESSIONS)
    }

    /// Keeps the login sessions, flushed. Blocks.
    pub(crate) fn keep_sessions(&self, sessions: &[u8]) -> Result<()> {
        self.set_meta(SESSIONS, sessions)
    }

    /// The action links' secret, made and kept (flushed) at the first
    /// call. Blocks.
    pub(crate) fn link_secret(&self) -> Result<crate::links::Secret> {
        if let Some(secret) = self
            .meta(LINK_SECRET)?
            .and_then(|v| crate::links::Secret::from_bytes(&v))
        {
            return Ok(secret);
        }
        self.keep_link_secret(&crate::links::Secret::random())
    }

    /// Keeps `secret` as the action links' secret (a new one voids every
    /// link made before), flushed. Blocks.
    pub(crate) fn keep_link_secret(
        &self,
        secret: &crate::links::Secret,
    ) -> Result<crate::links::Secret> {
        self.set_meta(LINK_SECRET, secret.as_bytes())?;
        Ok(secret.clone())
    }

    #[cfg(feature = "ha")]
    /// How far this station applied the shared actions (`cluster::actions`'s
    /// encoding).
    pub(crate) fn applied_actions(&self) -> Result<Option<Vec<u8>>> {
        self.meta(CLUSTER_APPLIED)
    }

    #[cfg(feature = "ha")]
    /// Keeps how far the shared actions were applied, flushed. Blocks.
    pub(crate) fn keep_applied_actions(&self, applied: &[u8]) -> Result<()> {
        self.set_meta(CLUSTER_APPLIED, applied)
    }

    /// Whether the start of the silence `id` (starting at `starts_at`) was
    /// muted here.
    pub(crate) fn silence_start_muted(&self, id: &str, starts_at: UnixSecs) -> Result<bool> {
        Ok(self.meta(&silence_started(id, starts_at))?.is_some())
    }

    /// Records that the silence's start was muted, flushed. Blocks.
    pub(crate) fn mark_silence_start_muted(&self, id: &str, starts_at: UnixSecs) -> Result<()> {
        self.set_meta(&silence_started(id, starts_at), b"")
    }
}
