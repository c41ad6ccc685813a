//! Counters shared by every stage, exposed in the Prometheus/OpenMetrics text
//! format by `prometheus-client`.
//!
//! Each stage bumps its own counters on its own thread (atomics, no lock on
//! the hot path) and `GET /metrics` encodes the registry. Labelled families
//! are created with every label value up front, so a reason that never
//! happened still shows as 0 and dashboards need no special cases.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::alert::State;
use crate::wire::{AlertError, PacketError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifierResult {
    notifier: String,
    result: &'static str,
}

/// How one delivery attempt ended, for `mauved_notifications_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotifyResult {
    Delivered,
    Retried,
    /// Given up: the message went to the dead letters.
    Failed,
    /// Shadow mode: recorded as what would have been sent.
    Shadowed,
}

impl NotifyResult {
    const ALL: [NotifyResult; 4] = [
        NotifyResult::Delivered,
        NotifyResult::Retried,
        NotifyResult::Failed,
        NotifyResult::Shadowed,
    ];

    fn label(self) -> ResultLabel {
        let result = match self {
            NotifyResult::Delivered => "delivered",
            NotifyResult::Retried => "retried",
            NotifyResult::Failed => "failed",
            NotifyResult::Shadowed => "shadowed",
        };
        ResultLabel { result }
    }
}

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) packets_received: Counter,
    pub(crate) packets_dropped: Counter,
    packets_rejected: Family<Reason, Counter>,
    alerts_rejected: Family<Reason, Counter>,
    pub(crate) packets_duplicate: Counter,
    pub(crate) fields_truncated: Counter,
    pub(crate) fields_repaired: Counter,
    pub(crate) alert_updates: Counter,
    pub(crate) batches: Counter,
    pub(crate) records_written: Counter,
    pub(crate) timers_fired: Counter,
    alerts: Family<StateLabel, Gauge>,
    notifications: Family<ResultLabel, Counter>,
    messages: Family<NotifierResult, Counter>,
    pub(crate) dead_letters: Counter,
    pub(crate) messages_deferred: Counter,
    pub(crate) messages_rate_limited: Counter,
    pub(crate) events_batched: Counter,
    pub(crate) rate_limit_summaries: Counter,
    /// Set by the store alone (it knows what it queued and removed).
    pub(crate) queue_depth: Gauge,
    /// Alerts changed in memory and not yet written to the store.
    pub(crate) write_backlog: Gauge,
    /// 1 while the scheduler takes no update because writes are behind.
    pub(crate) ingest_paused: Gauge,
    /// HTTP connections open now.
    pub(crate) http_connections_open: Gauge,
    /// 1 if the last configuration reload worked (or none was asked), 0 if
    /// it was refused; and when the configuration in force was loaded.
    pub(crate) config_reload_ok: Gauge,
    pub(crate) config_loaded_at: Gauge,
    /// Writes that took longer than a second from hand-over to done.
    pub(crate) writes_late: Counter,
    /// 1 while the store writes nothing (a full or failing disk), else 0.
    pub(crate) store_failing: Gauge,
    /// Set when /metrics is read.
    pub(crate) disk_bytes: Gauge,
    pub(crate) http_requests: Counter,
    pub(crate) http_connections_refused: Counter,
    pub(crate) events_received: Counter,
    pub(crate) http_bad_requests: Counter,
    pub(crate) store_errors: Counter,
    resident_memory: Gauge,
    /// 1 on the station that delivers (with `[cluster]`).
    pub(crate) cluster_leader: Gauge,
    pub(crate) cluster_isolated: Gauge,
    pub(crate) cluster_takeovers: Counter,
    pub(crate) cluster_skipped: Counter,
    pub(crate) cluster_held: Gauge,
    pub(crate) cluster_etcd_bytes: Gauge,
    pub(crate) cluster_etcd_compacted: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            packets_received: Counter::default(),
            packets_dropped: Counter::default(),
            packets_rejected: Family::default(),
            alerts_rejected: Family::default(),
            packets_duplicate: Counter::default(),
            fields_truncated: Counter::default(),
            fields_repaired: Counter::default(),
            alert_updates: Counter::default(),
            batches: Counter::default(),
            records_written: Counter::default(),
            timers_fired: Counter::default(),
            alerts: Family::default(),
            notifications: Family::default(),
            messages: Family::default(),
            dead_letters: Counter::default(),
            messages_deferred: Counter::default(),
            messages_rate_limited: Counter::default(),
            events_batched: Counter::default(),
            rate_limit_summaries: Counter::default(),
            queue_depth: Gauge::default(),
            write_backlog: Gauge::default(),
            ingest_paused: Gauge::default(),
            http_connections_open: Gauge::default(),
            config_reload_ok: Gauge::default(),
            config_loaded_at: Gauge::default(),
            writes_late: Counter::default(),
            store_failing: Gauge::default(),
            disk_bytes: Gauge::default(),
            http_requests: Counter::default(),
            http_connections_refused: Counter::default(),
            events_received: Counter::default(),
            cluster_leader: Gauge::default(),
            cluster_isolated: Gauge::default(),
            cluster_takeovers: Counter::default(),
            cluster_skipped: Counter::default(),
            cluster_held: Gauge::default(),
            cluster_etcd_bytes: Gauge::default(),
            cluster_etcd_compacted: Gauge::default(),
            http_bad_requests: Counter::default(),
            store_errors: Counter::default(),
            resident_memory: Gauge::default(),
        };
        for why in PacketError::ALL {
            drop(m.packets_rejected.get_or_create(&reason(why.label())));
        }
        for why in AlertError::ALL {
            drop(m.alerts_rejected.get_or_create(&reason(why.label())));
        }
        for state in State::ALL {
            drop(m.alerts.get_or_create(&state_label(state)));
        }
        for result in NotifyResult::ALL {
            drop(m.notifications.get_or_create(&result.label()));
        }
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        // Counters are named without `_total`: the encoder appends it.
        let counters = [
            (
                "mauved_packets_received",
                "Datagrams received.",
                &self.packets_received,
            ),
            (
                "mauved_packets_dropped",
                "Datagrams the kernel dropped for want of room in the UDP receive buffer (SO_RXQ_OVFL).",
                &self.packets_dropped,
            ),
            (
                "mauved_packets_duplicate",
                "Updates ignored because their transmission_id was seen recently.",
                &self.packets_duplicate,
            ),
            (
                "mauved_fields_truncated",
                "String fields cut to their length cap.",
                &self.fields_truncated,
            ),
            (
                "mauved_fields_repaired",
                "String fields with invalid UTF-8, kept with each bad sequence as '?'.",
                &self.fields_repaired,
            ),
            (
                "mauved_alert_updates",
                "Alert updates applied.",
                &self.alert_updates,
            ),
            (
                "mauved_batches",
                "Batches written to the store.",
                &self.batches,
            ),
            (
                "mauved_records_written",
                "Alert records written to the store (one per dirty alert per write).",
                &self.records_written,
            ),
            (
                "mauved_timers_fired",
                "Due timers processed (raise, clear, un-ack, end of suppression).",
                &self.timers_fired,
            ),
            (
                "mauved_dead_letters",
                "Notifications given up on and kept as dead letters.",
                &self.dead_letters,
            ),
            (
                "mauved_clauses_deferred",
                "Notify clauses that waited for their window to open.",
                &self.messages_deferred,
            ),
            (
                "mauved_messages_rate_limited",
                "Events held by a person's rate limit.",
                &self.messages_rate_limited,
            ),
            (
                "mauved_events_batched",
                "Events held for a storm batch (sent together when the batch window ends).",
                &self.events_batched,
            ),
            (
                "mauved_rate_limit_summaries",
                "Summaries sent when a person's rate limit lifted.",
                &self.rate_limit_summaries,
            ),
            (
                "mauved_http_requests",
                "HTTP requests served.",
                &self.http_requests,
            ),
            (
                "mauved_http_connections_refused",
                "HTTP connections closed at once: http.max_connections, or the client address's http.max_connections_per_address, were open.",
                &self.http_connections_refused,
            ),
            (
                "mauved_events_received",
                "Alerts submitted over HTTP (POST /events) and accepted.",
                &self.events_received,
            ),
            (
                "mauved_http_bad_requests",
                "HTTP requests answered with a 4xx status.",
                &self.http_bad_requests,
            ),
            (
                "mauved_store_errors",
                "Store operations that failed.",
                &self.store_errors,
            ),
        ];
        for (name, help, counter) in counters {
            r.register(name, help, counter.clone());
        }
        r.register(
            "mauved_packets_rejected",
            "Datagrams refused whole.",
            self.packets_rejected.clone(),
        );
        r.register(
            "mauved_alerts_rejected",
            "Alerts refused inside an accepted update.",
            self.alerts_rejected.clone(),
        );
        r.register("mauved_alerts", "Alerts by state.", self.alerts.clone());
        r.register(
            "mauved_notifications",
            "Notification delivery attempts by result.",
            self.notifications.clone(),
        );
        r.register(
            "mauved_messages",
            "Delivery attempts by notifier and result (delivered, retried, failed).",
            self.messages.clone(),
        );
        r.register(
            "mauved_notify_queue_depth",
            "Notifications waiting for delivery.",
            self.queue_depth.clone(),
        );
        r.register(
            "mauved_write_backlog",
            "Store buckets (up to 64 alerts each) changed in memory and not yet written, those being written included.",
            self.write_backlog.clone(),
        );
        r.register(
            "mauved_config_last_reload_successful",
            "1 if the last configuration reload (SIGHUP, POST /-/reload) worked, 0 if it was refused and the configuration before it is still in force.",
            self.config_reload_ok.clone(),
        );
        r.register(
            "mauved_config_last_reload_success_timestamp_seconds",
            "When the configuration in force was loaded (at start, or by the last reload that worked), Unix seconds.",
            self.config_loaded_at.clone(),
        );
        r.register(
            "mauved_http_connections_open",
            "HTTP connections open now (the spare ones kept for /health and /metrics included).",
            self.http_connections_open.clone(),
        );
        r.register(
            "mauved_ingest_paused",
            "1 while the scheduler takes no update because writes are behind (a write in flight over a second, or too much waiting to be written), else 0.",
            self.ingest_paused.clone(),
        );
        r.register(
            "mauved_writes_late",
            "Writes that took over a second from hand-over to done; the scheduler took no update meanwhile.",
            self.writes_late.clone(),
        );
        r.register(
            "mauved_cluster_leader",
            "1 on the station of a cluster that delivers, else 0.",
            self.cluster_leader.clone(),
        );
        r.register(
            "mauved_cluster_isolated",
            "1 while this station cannot reach etcd or renew its lease (it delivers nothing), else 0.",
            self.cluster_isolated.clone(),
        );
        r.register(
            "mauved_cluster_takeovers",
            "Times this station became the one that delivers.",
            self.cluster_takeovers.clone(),
        );
        r.register(
            "mauved_cluster_deliveries_skipped",
            "Messages of this station's queue that the other station delivered.",
            self.cluster_skipped.clone(),
        );
        r.register(
            "mauved_cluster_held",
            "Messages a delivery worker holds at the cluster's gate: waiting for the leader to deliver them, or for this station to lead.",
            self.cluster_held.clone(),
        );
        r.register(
            "mauved_cluster_etcd_db_bytes",
            "The size of etcd's database, as the member this station asks says.",
            self.cluster_etcd_bytes.clone(),
        );
        r.register(
            "mauved_cluster_etcd_compacted_revision",
            "The etcd revision this station last compacted etcd's history to (as leader; 0: not yet).",
            self.cluster_etcd_compacted.clone(),
        );
        r.register(
            "mauved_store_failing",
            "1 while the store writes nothing (a full or failing disk: see /health), else 0.",
            self.store_failing.clone(),
        );
        r.register(
            "mauved_store_disk_bytes",
            "Disk used by the store.",
            self.disk_bytes.clone(),
        );
        r.register(
            "process_resident_memory_bytes",
            "Resident memory of the daemon.",
            self.resident_memory.clone(),
        );
    }

    pub(crate) fn packet_rejected(&self, why: PacketError) {
        self.packets_rejected
            .get_or_create(&reason(why.label()))
            .inc();
    }

    pub(crate) fn alert_rejected(&self, why: AlertError) {
        self.alerts_rejected
            .get_or_create(&reason(why.label()))
            .inc();
    }

    pub(crate) fn notification(&self, notifier: &str, result: NotifyResult) {
        let label = result.label();
        self.notifications.get_or_create(&label).inc();
        self.messages
            .get_or_create(&NotifierResult {
                notifier: notifier.to_owned(),
                result: label.result,
            })
            .inc();
    }

    /// Shows a notifier's counters (at 0) before its first attempt.
    pub(crate) fn notifier_known(&self, notifier: &str) {
        for result in NotifyResult::ALL {
            drop(self.messages.get_or_create(&NotifierResult {
                notifier: notifier.to_owned(),
                result: result.label().result,
            }));
        }
    }

    /// What the routing stage did since it was last asked.
    pub(crate) fn paging(&self, c: crate::routing::pager::Counts) {
        self.messages_deferred.inc_by(c.deferred);
        self.messages_rate_limited.inc_by(c.rate_limited);
        self.events_batched.inc_by(c.batched);
        self.rate_limit_summaries.inc_by(c.summaries);
    }

    /// Sets `mauved_alerts{state}` to the counts of `Index::counts` (done
    /// before each exposition: suppression ends with time, not an event).
    pub(crate) fn set_alert_counts(&self, counts: &crate::alert::Counts) {
        for (state, n) in [
            ("raised", counts.raised),
            ("acknowledged", counts.acknowledged),
            ("suppressed", counts.suppressed),
            ("pending", counts.pending),
            ("cleared", counts.cleared),
        ] {
            self.alerts
                .get_or_create(&StateLabel { state })
                .set(n as i64);
        }
    }

    /// The text exposition (OpenMetrics, which Prometheus reads).
    pub(crate) fn render(&self) -> String {
        if let Some(rss) = resident_memory_bytes() {
            self.resident_memory.set(rss);
        }
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::render`].
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn reason(reason: &'static str) -> Reason {
    Reason { reason }
}

fn state_label(state: State) -> StateLabel {
    StateLabel {
        state: state.as_str(),
    }
}

/// Resident set size from /proc (Linux); None elsewhere.
fn resident_memory_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_every_family_with_its_labels() {
        let m = Metrics::new();
        m.packet_rejected(PacketError::NoSource);
        m.set_alert_counts(&crate::alert::Counts {
            raised: 1,
            ..crate::alert::Counts::default()
        });
        m.queue_depth.set(3);
        let text = m.render();
        assert!(text.contains("mauved_packets_rejected_total{reason=\"no_source\"} 1\n"));
        assert!(text.contains("mauved_packets_rejected_total{reason=\"empty\"} 0\n"));
        assert!(text.contains("mauved_alerts{state=\"raised\"} 1\n"));
        assert!(text.contains("mauved_alerts{state=\"pending\"} 0\n"));
        assert!(text.contains("# TYPE mauved_alerts gauge\n"));
        assert!(text.contains("mauved_notifications_total{result=\"retried\"} 0\n"));
        assert!(text.contains("# TYPE mauved_packets_received counter\n"));
        assert!(text.contains("mauved_packets_received_total 0\n"));
        assert!(text.contains("mauved_notify_queue_depth 3\n"));
        assert!(text.contains("process_resident_memory_bytes "));
    }
}
