//! Counters shared by every stage, rendered in the Prometheus text format.
//!
//! Plain atomics: each stage bumps its own counters on its own thread and the
//! HTTP endpoint reads them, with no lock on the hot path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::alert::State;
use crate::wire::{AlertError, PacketError};

#[derive(Default)]
pub struct Metrics {
    pub packets_received: AtomicU64,
    packets_rejected: [AtomicU64; PacketError::ALL.len()],
    alerts_rejected: [AtomicU64; AlertError::ALL.len()],
    pub packets_duplicate: AtomicU64,
    pub fields_truncated: AtomicU64,
    pub alert_updates: AtomicU64,
    pub batches: AtomicU64,
    pub timers_fired: AtomicU64,
    alerts: [AtomicI64; State::ALL.len()],
    pub notifications_delivered: AtomicU64,
    pub notifications_retried: AtomicU64,
    pub notifications_failed: AtomicU64,
    pub queue_depth: AtomicI64,
    pub http_requests: AtomicU64,
    pub events_received: AtomicU64,
    pub http_bad_requests: AtomicU64,
    pub store_errors: AtomicU64,
}

fn state_index(state: State) -> usize {
    State::ALL.iter().position(|s| *s == state).unwrap_or(0)
}

impl Metrics {
    pub fn packet_rejected(&self, why: PacketError) {
        let i = PacketError::ALL.iter().position(|e| *e == why).unwrap_or(0);
        self.packets_rejected[i].fetch_add(1, Relaxed);
    }

    pub fn alert_rejected(&self, why: AlertError) {
        let i = AlertError::ALL.iter().position(|e| *e == why).unwrap_or(0);
        self.alerts_rejected[i].fetch_add(1, Relaxed);
    }

    pub fn packets_rejected(&self, why: PacketError) -> u64 {
        let i = PacketError::ALL.iter().position(|e| *e == why).unwrap_or(0);
        self.packets_rejected[i].load(Relaxed)
    }

    /// Moves one alert from state `from` (None: new) to state `to`.
    pub fn alert_moved(&self, from: Option<State>, to: State) {
        if from == Some(to) {
            return;
        }
        if let Some(from) = from {
            self.alerts[state_index(from)].fetch_sub(1, Relaxed);
        }
        self.alerts[state_index(to)].fetch_add(1, Relaxed);
    }

    pub fn alerts_in(&self, state: State) -> i64 {
        self.alerts[state_index(state)].load(Relaxed)
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "mauved_packets_received_total",
            "Datagrams received.",
            self.packets_received.load(Relaxed),
        );
        counter(
            "mauved_packets_duplicate_total",
            "Updates ignored because their transmission_id was seen recently.",
            self.packets_duplicate.load(Relaxed),
        );
        counter(
            "mauved_fields_truncated_total",
            "String fields cut to their length cap.",
            self.fields_truncated.load(Relaxed),
        );
        counter(
            "mauved_alert_updates_total",
            "Alert updates applied.",
            self.alert_updates.load(Relaxed),
        );
        counter(
            "mauved_batches_total",
            "Batches written to the store.",
            self.batches.load(Relaxed),
        );
        counter(
            "mauved_timers_fired_total",
            "Due timers processed (raise, clear, un-ack, reminder).",
            self.timers_fired.load(Relaxed),
        );
        counter(
            "mauved_http_requests_total",
            "HTTP requests served.",
            self.http_requests.load(Relaxed),
        );
        counter(
            "mauved_events_received_total",
            "Alerts submitted over HTTP (POST /events) and accepted.",
            self.events_received.load(Relaxed),
        );
        counter(
            "mauved_http_bad_requests_total",
            "HTTP requests answered with a 4xx status.",
            self.http_bad_requests.load(Relaxed),
        );
        counter(
            "mauved_store_errors_total",
            "Store operations that failed.",
            self.store_errors.load(Relaxed),
        );

        let _ = writeln!(
            out,
            "# HELP mauved_packets_rejected_total Datagrams refused whole.\n\
             # TYPE mauved_packets_rejected_total counter"
        );
        for why in PacketError::ALL {
            let _ = writeln!(
                out,
                "mauved_packets_rejected_total{{reason=\"{}\"}} {}",
                why.label(),
                self.packets_rejected(why)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mauved_alerts_rejected_total Alerts refused inside an accepted update.\n\
             # TYPE mauved_alerts_rejected_total counter"
        );
        for (why, count) in AlertError::ALL.iter().zip(&self.alerts_rejected) {
            let _ = writeln!(
                out,
                "mauved_alerts_rejected_total{{reason=\"{}\"}} {}",
                why.label(),
                count.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mauved_alerts Alerts by state.\n# TYPE mauved_alerts gauge"
        );
        for state in State::ALL {
            let _ = writeln!(
                out,
                "mauved_alerts{{state=\"{}\"}} {}",
                state.as_str(),
                self.alerts_in(state)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mauved_notifications_total Notification delivery attempts by result.\n\
             # TYPE mauved_notifications_total counter"
        );
        for (result, value) in [
            ("delivered", &self.notifications_delivered),
            ("retried", &self.notifications_retried),
            ("failed", &self.notifications_failed),
        ] {
            let _ = writeln!(
                out,
                "mauved_notifications_total{{result=\"{result}\"}} {}",
                value.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mauved_notify_queue_depth Notifications waiting for delivery.\n\
             # TYPE mauved_notify_queue_depth gauge\n\
             mauved_notify_queue_depth {}",
            self.queue_depth.load(Relaxed)
        );
        if let Some(rss) = resident_memory_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory of the daemon.\n\
                 # TYPE process_resident_memory_bytes gauge\n\
                 process_resident_memory_bytes {rss}"
            );
        }
        out
    }
}

/// Resident set size from /proc (Linux); None elsewhere.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
