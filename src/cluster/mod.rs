//! Two stations in high availability on etcd: both ingest everything, one
//! delivers.
//!
//! Owns who delivers: the leader key on an etcd lease, and each message's
//! fence (a claim that succeeds only while this station holds the key) and
//! its record once delivered. Must not decide what a message says nor who
//! is told (`routing`): the notify worker asks [`Cluster::gate`] before
//! each attempt and reports [`Cluster::delivered`] after a success. It
//! changes alerts and queues the messages handed over through the
//! scheduler, and hands the silences shared to their room
//! ([`SilenceKeeper`]); it writes the store only for how far it applied the
//! shared actions (see `tests/owners.rs`).
//!
//! Built with the `ha` cargo feature (it needs `protoc` to build the etcd
//! client); without it a `[cluster]` section is refused at load.

// Without `ha` only the tests use what the etcd side would.
#![cfg_attr(not(feature = "ha"), allow(dead_code))]

use serde::Serialize;

use crate::alert::{Notification, UnixSecs};

#[cfg(feature = "ha")]
mod actions;
#[cfg(feature = "ha")]
mod compaction;
#[cfg(feature = "ha")]
mod etcd;
#[cfg(feature = "ha")]
mod fencing;
#[cfg(feature = "ha")]
mod links;
#[cfg(feature = "ha")]
mod silences;
#[cfg(feature = "ha")]
pub(crate) use self::etcd::Cluster;

/// Acts on alerts: through etcd with `[cluster]` (both stations apply it,
/// in one order; answered once this one has), else through `scheduler`.
pub(crate) async fn act_many(
    cluster: Option<&std::sync::Arc<Cluster>>,
    scheduler: &crate::scheduler::SchedulerHandle,
    keys: &[crate::alert::AlertKey],
    by: &str,
    action: &crate::scheduler::Action,
) -> Vec<Result<crate::alert::Record, crate::scheduler::Error>> {
    match cluster {
        Some(cluster) => cluster.act_many(keys, by, action).await,
        None => scheduler.act_many(keys, by, action).await,
    }
}

/// Where a station keeps the silences its watch reads from etcd (the
/// silences' room): each is kept unless held as it is, and waited for if
/// it starts later.
pub(crate) trait SilenceKeeper: Send + Sync + 'static {
    fn keep_shared(
        &self,
        silence: crate::alertmanager::silences::Silence,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

/// Whether a shared silence was kept on this station by the time it was
/// shared: by the silences' watch (in etcd's order), or not yet (the
/// caller keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kept {
    ByWatch,
    NotYet,
}

/// Who mutes the alerts already raised when a silence made to start later
/// starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartClaim {
    /// This station: it claimed the start.
    Mine,
    /// Already done (by either station).
    Done,
    /// The other station holds the claim, or etcd cannot be asked now:
    /// ask again later.
    Elsewhere,
}

/// What a station is to the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// Holds the leader key: delivers.
    Leader,
    /// Another station holds it: keeps its queue, delivers nothing.
    Follower,
    /// Cannot reach etcd (or has not renewed its lease in time): delivers
    /// nothing.
    Isolated,
}

/// A station's view of the cluster (`GET /api/cluster`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Status {
    pub(crate) station: String,
    pub(crate) role: Role,
    pub(crate) leader: Option<String>,
    pub(crate) etcd: EtcdStatus,
    /// True while this station follows the shared actions (a watch on
    /// etcd runs): only then does it take actions.
    pub(crate) sharing_actions: bool,
    /// Every station etcd has seen lately.
    pub(crate) stations: Vec<StationSeen>,
}

/// A station, when it last said so (Unix seconds), and a digest of the
/// configuration it runs (its secrets replaced first): two stations that
/// show different digests route differently. None from a station of a
/// mauved before digests were said.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct StationSeen {
    pub(crate) name: String,
    pub(crate) seen_at: UnixSecs,
    pub(crate) config_digest: Option<String>,
    /// The etcd revision up to which the station has watched the shared
    /// actions and silences (None: not said yet, or a mauved before it):
    /// etcd's history is compacted up to the lowest.
    pub(crate) watched_revision: Option<i64>,
}

/// The digest a station says of its configuration: BLAKE2s, in hex, 16
/// characters, of the configuration as shown (secrets replaced) but for
/// what is each station's own (`[listen]`, `[store]`, `[cluster]`).
pub(crate) fn config_digest(shown: &str) -> String {
    use blake2::Digest as _;
    let mut table: toml::Table = shown.parse().unwrap_or_default();
    for own in ["listen", "store", "cluster"] {
        table.remove(own);
    }
    let shared = toml::to_string(&table).unwrap_or_default();
    blake2::Blake2s256::digest(shared.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct EtcdStatus {
    pub(crate) reachable: bool,
    pub(crate) revision: i64,
}

/// What the worker does with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// This station is the leader and has claimed it: send.
    Send,
    /// Another station settled it: drop it here.
    Elsewhere(Settled),
    /// This station has been isolated for `cluster.fail_open_after` and the
    /// message is urgent: send it here, marked as such.
    FailOpen,
    /// The daemon stops.
    Stopped,
}

/// How the other station settled a message: delivered it, or gave up on it
/// (a dead letter there: not sent from here either, even on taking over).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub station: String,
    pub gave_up: bool,
}

/// A message's identity across the two stations: the same on both for the
/// same event although each computed it from its own packets. The key
/// leaves out the event's time (it may differ by a second or two between
/// stations); [`Identity::at`] is compared with a tolerance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) key: String,
    pub(crate) at: UnixSecs,
}

/// Two stations' times of one event differ by at most this much.
pub(crate) const TOLERANCE_S: UnixSecs = 5;

impl Identity {
    pub(crate) fn of(message: &Notification) -> Identity {
        let to = message
            .recipient
            .as_deref()
            .or(message.person.as_deref())
            .unwrap_or("");
        let part = |s: &str| s.replace('%', "%25").replace('/', "%2F");
        Identity {
            key: format!(
                "{}/{}/{}/{}/{}",
                part(&message.notifier),
                part(to),
                part(&message.source),
                part(&message.id),
                message.event
            ),
            at: message.at,
        }
    }

    /// Whether a delivery recorded at `delivered_at` stands for this
    /// message: the same event seen a little apart, or a later one of the
    /// same kind (which makes this one stale).
    pub(crate) fn covered_by(&self, delivered_at: UnixSecs) -> bool {
        delivered_at + TOLERANCE_S >= self.at
    }
}

/// Without the `ha` feature there is never a cluster.
#[cfg(not(feature = "ha"))]
#[derive(Debug)]
pub(crate) enum Cluster {}

#[cfg(not(feature = "ha"))]
impl Cluster {
    pub(crate) async fn gate(&self, _: &Identity, _: &Notification) -> Option<Gate> {
        match *self {}
    }

    pub(crate) fn delivered(&self, _: &Identity) {
        match *self {}
    }

    pub(crate) fn gave_up(&self, _: &Identity) {
        match *self {}
    }

    pub(crate) async fn fence_ahead(&self, _: &[Identity]) {
        match *self {}
    }

    pub(crate) fn status(&self) -> Status {
        match *self {}
    }

    pub(crate) fn set_config_digest(&self, _: String) {
        match *self {}
    }

    pub(crate) async fn act_many(
        &self,
        _: &[crate::alert::AlertKey],
        _: &str,
        _: &crate::scheduler::Action,
    ) -> Vec<Result<crate::alert::Record, crate::scheduler::Error>> {
        match *self {}
    }

    pub(crate) fn start_applying(&self, _: crate::scheduler::SchedulerHandle) {
        match *self {}
    }

    pub(crate) async fn share_silence(
        &self,
        _: &crate::alertmanager::silences::Silence,
    ) -> Result<Kept, crate::scheduler::Error> {
        match *self {}
    }

    pub(crate) fn start_following_silences(&self, _: std::sync::Arc<dyn SilenceKeeper>) {
        match *self {}
    }

    pub(crate) async fn claim_silence_start(
        &self,
        _: &crate::alertmanager::silences::Silence,
    ) -> StartClaim {
        match *self {}
    }

    pub(crate) async fn silence_started(&self, _: &crate::alertmanager::silences::Silence) {
        match *self {}
    }

    pub(crate) async fn forget_silence(&self, _: &str) {
        match *self {}
    }

    pub(crate) fn start_sharing_link_secret(&self, _: crate::links::SharedSecret) {
        match *self {}
    }

    pub(crate) async fn share_link_secret(&self, _: &crate::links::Secret) -> Result<(), String> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(notifier: &str, id: &str, at: UnixSecs) -> Notification {
        Notification {
            event: 1,
            source: "web/1".into(),
            id: id.into(),
            at,
            notifier: notifier.into(),
            recipient: Some("alice@example.com".into()),
            ..Notification::default()
        }
    }

    #[test]
    fn one_event_has_one_identity_on_both_stations_whatever_its_second() {
        let a = Identity::of(&message("email", "disk", 100));
        let b = Identity::of(&message("email", "disk", 101));
        assert_eq!(a.key, b.key);
        assert!(a.covered_by(b.at) && b.covered_by(a.at));
        assert!(!Identity::of(&message("email", "disk", 200)).covered_by(100));
        assert_ne!(a.key, Identity::of(&message("sms", "disk", 100)).key);
        assert_ne!(a.key, Identity::of(&message("email", "disk2", 100)).key);
        // A slash in a name cannot make two identities meet.
        assert_ne!(
            Identity::of(&message("a/b", "c", 1)).key,
            Identity::of(&message("a", "b/c", 1)).key
        );
    }
}
