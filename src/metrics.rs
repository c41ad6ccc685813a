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
    pub fields_repaired: AtomicU64,
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
    state as usize
}

impl Metrics {
    // The reason enums list their variants in `ALL` in declaration order, so
    // a variant's discriminant is its counter's index (checked by a test).
    pub fn packet_rejected(&self, why: PacketError) {
        self.packets_rejected[why as usize].fetch_add(1, Relaxed);
    }

    pub fn alert_rejected(&self, why: AlertError) {
        self.alerts_rejected[why as usize].fetch_add(1, Relaxed);
    }

    pub fn packets_rejected(&self, why: PacketError) -> u64 {
        self.packets_rejected[why as usize].load(Relaxed)
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
        let counters: [(&str, &str, &AtomicU64); 11] = [
            (
                "mauved_packets_received_total",
                "Datagrams received.",
                &self.packets_received,
            ),
            (
                "mauved_packets_duplicate_total",
                "Updates ignored because their transmission_id was seen recently.",
                &self.packets_duplicate,
            ),
            (
                "mauved_fields_truncated_total",
                "String fields cut to their length cap.",
                &self.fields_truncated,
            ),
            (
                "mauved_fields_repaired_total",
                "String fields with invalid UTF-8, kept with each bad sequence as '?'.",
                &self.fields_repaired,
            ),
            (
                "mauved_alert_updates_total",
                "Alert updates applied.",
                &self.alert_updates,
            ),
            (
                "mauved_batches_total",
                "Batches written to the store.",
                &self.batches,
            ),
            (
                "mauved_timers_fired_total",
                "Due timers processed (raise, clear, un-ack, reminder).",
                &self.timers_fired,
            ),
            (
                "mauved_http_requests_total",
                "HTTP requests served.",
                &self.http_requests,
            ),
            (
                "mauved_events_received_total",
                "Alerts submitted over HTTP (POST /events) and accepted.",
                &self.events_received,
            ),
            (
                "mauved_http_bad_requests_total",
                "HTTP requests answered with a 4xx status.",
                &self.http_bad_requests,
            ),
            (
                "mauved_store_errors_total",
                "Store operations that failed.",
                &self.store_errors,
            ),
        ];
        for (name, help, value) in counters {
            let value = value.load(Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }

        family(
            &mut out,
            ("mauved_packets_rejected_total", "counter", "reason"),
            "Datagrams refused whole.",
            PacketError::ALL.map(|why| (why.label(), self.packets_rejected(why) as i64)),
        );
        family(
            &mut out,
            ("mauved_alerts_rejected_total", "counter", "reason"),
            "Alerts refused inside an accepted update.",
            AlertError::ALL.map(|why| {
                (
                    why.label(),
                    self.alerts_rejected[why as usize].load(Relaxed) as i64,
                )
            }),
        );
        family(
            &mut out,
            ("mauved_alerts", "gauge", "state"),
            "Alerts by state.",
            State::ALL.map(|state| (state.as_str(), self.alerts_in(state))),
        );
        family(
            &mut out,
            ("mauved_notifications_total", "counter", "result"),
            "Notification delivery attempts by result.",
            [
                ("delivered", &self.notifications_delivered),
                ("retried", &self.notifications_retried),
                ("failed", &self.notifications_failed),
            ]
            .map(|(result, value)| (result, value.load(Relaxed) as i64)),
        );
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

/// Writes one labelled metric family: `(name, type, label)`, then a line per value.
fn family<'a>(
    out: &mut String,
    (name, kind, label): (&str, &str, &str),
    help: &str,
    values: impl IntoIterator<Item = (&'a str, i64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (label_value, value) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{label_value}\"}} {value}");
    }
}

/// Resident set size from /proc (Linux); None elsewhere.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_and_state_lists_match_their_discriminants() {
        for (i, why) in PacketError::ALL.into_iter().enumerate() {
            assert_eq!(why as usize, i);
        }
        for (i, why) in AlertError::ALL.into_iter().enumerate() {
            assert_eq!(why as usize, i);
        }
        for (i, state) in State::ALL.into_iter().enumerate() {
            assert_eq!(state as usize, i);
        }
    }

    #[test]
    fn render_has_every_family_with_its_labels() {
        let m = Metrics::default();
        m.packet_rejected(PacketError::NoSource);
        m.alert_moved(None, State::Pending);
        m.alert_moved(Some(State::Pending), State::Raised);
        let text = m.render();
        assert!(text.contains("mauved_packets_rejected_total{reason=\"no_source\"} 1\n"));
        assert!(text.contains("mauved_packets_rejected_total{reason=\"empty\"} 0\n"));
        assert!(text.contains("mauved_alerts{state=\"raised\"} 1\n"));
        assert!(text.contains("mauved_alerts{state=\"pending\"} 0\n"));
        assert!(text.contains("# TYPE mauved_alerts gauge\n"));
        assert!(text.contains("mauved_notifications_total{result=\"retried\"} 0\n"));
        assert!(text.contains("# TYPE mauved_packets_received_total counter\n"));
    }
}
