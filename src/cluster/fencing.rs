//! Delivery fencing in batches. Each message a leader sends is first
//! looked up (was it settled elsewhere?) in a transaction that holds only
//! while the leader key is on this station's lease, and is recorded once
//! delivered. One message at a time (with a claim written), that is three
//! etcd round trips before the next; here a worker fences the messages it
//! is about to attempt ahead, up to 128 in one read-only transaction
//! (etcd's default limit of operations in one; nothing to write, so
//! nothing for etcd to sync to disk), and records are written behind, up
//! to 128 in one transaction, in the order they were made (in a burst, a
//! record waits up to 20 ms for others: a transaction each for a few
//! records cost etcd more CPU than the deliveries cost the station; made
//! one at a time, each is written at once).
//!
//! A fence taken ahead is used only under the lease it was taken with,
//! while this station still leads (its lease renewed within the TTL less
//! a margin) and for at most `AHEAD_FOR`: the same guarantee as a claim
//! made just before sending. A record not yet written when the station
//! dies is a message the other station may send again (at least once).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
use tokio::sync::mpsc;

use super::{Cluster, Gate, Identity, Settled};

/// A fence taken ahead is used within this long, or taken again.
const AHEAD_FOR: Duration = Duration::from_secs(30);
/// Messages fenced in one transaction (a lookup each).
const FENCED_AT_ONCE: usize = 128;
/// Records written in one transaction.
const RECORDED_AT_ONCE: usize = 128;
/// In a burst, a record waits at most this long for others to share its
/// transaction.
const RECORDS_LINGER: Duration = Duration::from_millis(20);
/// Records made closer than this are a burst.
const BURST_GAP: Duration = Duration::from_micros(500);

/// A record to write: its key, value and when it was made.
struct Record {
    key: String,
    value: String,
    made: Instant,
}

/// What a transaction ahead found for one message.
#[derive(Clone, Debug)]
enum Ahead {
    /// Not settled, and this station led: send.
    Claimed,
    /// Not settled, and this station followed: hold it.
    Looked,
    Settled(Settled),
}

/// Fences taken ahead, and the records waiting to be written.
pub(super) struct Fencing {
    /// By identity key: the lease it was taken under, when, and what.
    ahead: Mutex<HashMap<String, (i64, Instant, Ahead)>>,
    records: mpsc::UnboundedSender<Record>,
    waiting: Mutex<Option<mpsc::UnboundedReceiver<Record>>>,
}

impl Fencing {
    pub(super) fn new() -> Self {
        let (records, waiting) = mpsc::unbounded_channel();
        Fencing {
            ahead: Mutex::default(),
            records,
            waiting: Mutex::new(Some(waiting)),
        }
    }
}

impl Cluster {
    /// Fences ahead the messages a worker is about to attempt: while this
    /// station leads, under the leader key; while it follows, it looks up
    /// which the leader settled (a message etcd does not answer for is
    /// fenced one at a time as before).
    ///
    /// Messages fenced ahead already in this role (by an earlier look
    /// further on) are not looked up again; those looked at as a follower
    /// are, once this station leads.
    pub(crate) async fn fence_ahead(&self, ids: &[Identity]) {
        let lease = self.lease.load(Ordering::Relaxed);
        let leads = self.leads();
        let ids: Vec<&Identity> = {
            let mut ahead = self.fencing.ahead.lock();
            ahead.retain(|_, (l, at, _)| *l == lease && at.elapsed() < AHEAD_FOR);
            ids.iter()
                .filter(|id| match ahead.get(&id.key) {
                    None => true,
                    Some((_, _, Ahead::Looked)) => leads,
                    Some((_, _, Ahead::Claimed)) => !leads,
                    Some((_, _, Ahead::Settled(_))) => false,
                })
                .collect()
        };
        if ids.is_empty() || (!leads && self.status.borrow().role != super::Role::Follower) {
            return;
        }
        let Some(mut client) = self.client() else {
            return;
        };
        for ids in ids.chunks(FENCED_AT_ONCE) {
            let ops: Vec<TxnOp> = ids
                .iter()
                .map(|id| TxnOp::get(self.key(&format!("delivered/{}", id.key)), None))
                .collect();
            let fence = if leads {
                Txn::new()
                    .when([Compare::lease(self.key("leader"), CompareOp::Equal, lease)])
                    .and_then(ops)
            } else {
                Txn::new().and_then(ops)
            };
            let taken = Instant::now();
            let answer = match client.txn(fence).await {
                Ok(answer) if answer.succeeded() => answer,
                Ok(_) => return,
                Err(err) => {
                    tracing::debug!(%err, "cluster: etcd did not answer a fence ahead");
                    return;
                }
            };
            let mut ahead = self.fencing.ahead.lock();
            for (id, found) in ids.iter().zip(answer.op_responses().iter()) {
                let TxnOpResponse::Get(found) = found else {
                    continue;
                };
                let what = match found
                    .kvs()
                    .first()
                    .and_then(|kv| settled_of(kv.value(), id))
                {
                    Some(settled) => Ahead::Settled(settled),
                    None if leads => Ahead::Claimed,
                    None => Ahead::Looked,
                };
                ahead.insert(id.key.clone(), (lease, taken, what));
            }
        }
    }

    /// What the fence taken ahead for this message says now, if it holds:
    /// send, drop, or (`Some(None)`) hold it.
    pub(super) fn fenced_ahead(&self, id: &Identity) -> Option<Option<Gate>> {
        let lease = self.lease.load(Ordering::Relaxed);
        let (l, at, what) = self.fencing.ahead.lock().remove(&id.key)?;
        if l != lease || at.elapsed() >= AHEAD_FOR {
            return None;
        }
        match what {
            Ahead::Settled(settled) => {
                self.metrics.cluster_skipped.inc();
                Some(Some(Gate::Elsewhere(settled)))
            }
            Ahead::Claimed => self.leads().then_some(Some(Gate::Send)),
            // Looked at as a follower: held while this station still follows.
            Ahead::Looked => (!self.leads()).then_some(None),
        }
    }

    /// Queues a record of a message settled here, written behind in order.
    pub(super) fn record(&self, id: &Identity, value: String) {
        let key = self.key(&format!("delivered/{}", id.key));
        let made = Instant::now();
        let _ = self.fencing.records.send(Record { key, value, made });
    }

    /// Writes the records queued, up to 128 in one transaction, until
    /// shutdown (and what is queued then, once).
    pub(super) fn start_recording(self: &Arc<Self>) {
        let Some(mut waiting) = self.fencing.waiting.lock().take() else {
            return;
        };
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut last_made: Option<Instant> = None;
            loop {
                let first = tokio::select! {
                    first = waiting.recv() => first,
                    () = cluster.shutdown.cancelled() => None,
                };
                let mut batch: Vec<Record> = first.into_iter().collect();
                while batch.len() < RECORDED_AT_ONCE {
                    match waiting.try_recv() {
                        Ok(record) => batch.push(record),
                        Err(_) => break,
                    }
                }
                // In a burst of deliveries (records made faster than etcd
                // syncs transactions) a record waits a moment for company;
                // one at a time, each is written at once.
                let newest = batch.last().map(|r| r.made);
                let burst = newest
                    .zip(batch.iter().rev().nth(1).map(|r| r.made).or(last_made))
                    .is_some_and(|(newest, before)| newest.duration_since(before) < BURST_GAP);
                last_made = newest.or(last_made);
                let until = tokio::time::Instant::now() + RECORDS_LINGER;
                while burst && batch.len() < RECORDED_AT_ONCE {
                    match tokio::time::timeout_at(until, waiting.recv()).await {
                        Ok(Some(record)) => {
                            last_made = Some(record.made);
                            batch.push(record);
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
                if batch.is_empty() {
                    return;
                }
                cluster.write_records(batch).await;
            }
        });
    }

    /// Writes one batch of records, trying again for a few seconds.
    async fn write_records(&self, batch: Vec<Record>) {
        // A later record of the same message wins: each key once, its last.
        let mut last: HashMap<&str, &str> = HashMap::new();
        for record in &batch {
            last.insert(&record.key, &record.value);
        }
        for _ in 0..10 {
            if let Some(mut client) = self.client() {
                let puts: Vec<TxnOp> = last
                    .iter()
                    .map(|(key, value)| TxnOp::put(*key, *value, self.records.put_options()))
                    .collect();
                match client.txn(Txn::new().and_then(puts)).await {
                    Ok(_) => return,
                    Err(err) => tracing::warn!(%err, "cluster: cannot record deliveries in etcd"),
                }
            }
            if self.shutdown.is_cancelled() {
                return;
            }
            tokio::time::sleep(super::etcd::POLL).await;
        }
    }
}

/// The settlement a `delivered/` record (`<event time> <station>[ gave-up]`)
/// says of this message, if it covers it.
pub(super) fn settled_of(value: &[u8], id: &Identity) -> Option<Settled> {
    let text = String::from_utf8_lossy(value);
    let (at, rest) = text.split_once(' ').unwrap_or((&text, ""));
    let at: crate::alert::UnixSecs = at.parse().ok()?;
    let (station, gave_up) = match rest.split_once(' ') {
        Some((station, super::etcd::GAVE_UP)) => (station, true),
        _ => (rest, false),
    };
    id.covered_by(at).then(|| Settled {
        station: station.to_owned(),
        gave_up,
    })
}
