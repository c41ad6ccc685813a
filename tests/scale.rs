//! The working set and its durable copy: many alerts, a mass raise, a crash,
//! and a flood beyond the alert limit.

mod common;

use std::time::Duration;

use common::inproc::{InProc, T0};
use common::*;
use mauved::clock::ManualClock;
use mauved::wire::pb;

const WAIT: Duration = Duration::from_secs(20);

/// `count` alerts of `source`, `per_packet` to a packet, made by `make`.
fn send_many(
    d: &impl Client,
    source: &str,
    count: usize,
    first_tid: u64,
    sent: u64,
    make: impl Fn(usize) -> pb::Alert,
) {
    const PER_PACKET: usize = 50;
    for (n, chunk) in (0..count)
        .collect::<Vec<_>>()
        .chunks(PER_PACKET)
        .enumerate()
    {
        let alerts = chunk.iter().map(|&i| make(i)).collect();
        d.send(&packet_at(
            first_tid + n as u64,
            source,
            alerts,
            false,
            sent,
        ));
        if n % 20 == 19 {
            // Loopback is fast; the daemon's socket buffer need not be.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn the_index_and_the_store_agree_before_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(T0);
    let d = InProc::start(dir.path(), "", &clock);
    // 3,000 alerts in every kind of state, with texts and details.
    send_many(&d, "fleet", 3000, 1, T0, |i| pb::Alert {
        summary: Some(format!("summary {i}")),
        detail: (i % 7 == 0).then(|| format!("<p>detail {i}</p>")),
        ..match i % 3 {
            0 => alert(&format!("a{i}"), Some(T0), None),
            1 => alert(&format!("a{i}"), Some(T0 + 300), Some(T0)),
            _ => alert(&format!("a{i}"), None, Some(T0)),
        }
    });
    wait_for(WAIT, "3000 alerts", || {
        (d.metric("mauved_alert_updates_total") == 3000.0).then_some(())
    });
    let (status, body) = d.post("/api/alerts/fleet/a0/acknowledge", "{\"by\": \"ann\"}");
    assert_eq!(status, 200, "{body}");
    // Refreshes that only move timers, and timers that fire.
    d.advance(60);
    send_many(&d, "fleet", 1000, 1000, T0 + 60, |i| {
        let raise = if i % 2 == 0 { T0 + 400 } else { T0 + 4000 };
        alert(&format!("a{}", 3 * i + 1), Some(raise), Some(T0 + 60))
    });
    wait_for(WAIT, "the refreshes", || {
        (d.metric("mauved_alert_updates_total") == 4000.0).then_some(())
    });
    d.advance(400);
    d.settle();
    let live = d.index_records();
    assert_eq!(live.len(), 3000);
    assert!(live.iter().any(|(_, r)| r.is_acknowledged()));
    assert!(live.iter().any(|(_, r)| r.will_raise_at.is_some()));
    assert!(
        live.iter().any(|(_, r)| r.raised_at == Some(T0 + 460)),
        "timers fired when the clock got there"
    );
    assert_eq!(d.store_records(), live, "written behind, and all of it");
    d.stop();

    let d = InProc::start(dir.path(), "", &clock);
    assert_eq!(d.index_records(), live, "rebuilt from the store");
    let one = d.alert("fleet", "a7").unwrap();
    assert_eq!(one["detail"], "<p>detail 7</p>");
}

#[test]
fn a_flood_of_new_alerts_stops_at_the_limit_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(T0);
    // The test configuration ends inside [store].
    let d = InProc::start(dir.path(), "max_alerts = 500\n", &clock);
    send_many(&d, "flood", 2000, 1, T0, |i| {
        alert(&format!("k{i}"), Some(T0), None)
    });
    wait_for(WAIT, "every packet counted", || {
        (d.metric("mauved_alert_updates_total")
            + d.metric("mauved_alerts_rejected_total{reason=\"over_capacity\"}")
            == 2000.0)
            .then_some(())
    });
    assert_eq!(d.metric("mauved_alert_updates_total"), 500.0);
    assert_eq!(d.json("/api/counts")["raised"], 500);
    // Known alerts still update at the limit.
    d.send(&packet_at(
        9999,
        "flood",
        vec![alert("k0", None, Some(T0))],
        false,
        T0,
    ));
    d.wait_state("flood", "k0", "cleared");
}
