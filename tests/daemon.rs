//! End-to-end: the real daemon over real UDP and HTTP on 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;
use mauved::wire::pb;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn raise_now_is_raised_stored_and_notified_once() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    let d = Daemon::start(dir.path(), &recording_notifier(&notes));
    d.send(&packet(
        1,
        "test-host",
        vec![alert("a1", Some(now()), None)],
        false,
    ));
    d.wait_state("test-host", "a1", "raised");
    let a1 = d.alert("test-host", "a1").unwrap();
    assert_eq!(a1["subject"], "test-host");
    assert_eq!(a1["summary"], "a1 summary");
    assert_eq!(a1["importance"], 50);
    wait_for(WAIT, "one notification", || {
        (notifications(&notes).len() == 1).then_some(())
    });
    // A repeated raise (new transmission) changes nothing and is not news.
    d.send(&packet(
        2,
        "test-host",
        vec![alert("a1", Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "second update applied", || {
        (d.metric("mauved_alert_updates_total") == 2.0).then_some(())
    });
    d.quiesce("test-host", "a1");
    let notes_seen = notifications(&notes);
    assert_eq!(notes_seen.len(), 1);
    assert_eq!(notes_seen[0]["events"][0]["event"], "raised");
    assert_eq!(notes_seen[0]["events"][0]["alert"]["source"], "test-host");
    assert_eq!(notes_seen[0]["events"][0]["alert"]["state"], "raised");
    assert_eq!(
        d.alert("test-host", "a1").unwrap()["raised_at"],
        a1["raised_at"]
    );
    assert_eq!(
        d.metric("mauved_notifications_total{result=\"delivered\"}"),
        1.0
    );
    assert_eq!(d.metric("mauved_notify_queue_depth"), 0.0);
}

#[test]
fn a_duplicate_transmission_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let bytes = packet(42, "dup-host", vec![alert("a", None, Some(now()))], false);
    d.send(&bytes);
    d.send(&bytes);
    // A different transmission of the same alert is applied.
    d.send(&packet(
        43,
        "dup-host",
        vec![alert("a", Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "three packets received", || {
        (d.metric("mauved_packets_received_total") == 3.0).then_some(())
    });
    wait_for(WAIT, "the duplicate counted", || {
        (d.metric("mauved_packets_duplicate_total") == 1.0).then_some(())
    });
    d.wait_state("dup-host", "a", "raised");
    assert_eq!(d.metric("mauved_alert_updates_total"), 2.0);
}

#[test]
fn replace_clears_the_unlisted_alerts_of_that_source_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let t = now();
    d.send(&packet(
        1,
        "test-host",
        vec![alert("a1", Some(t), None), alert("a2", Some(t), None)],
        false,
    ));
    d.send(&packet(
        2,
        "other-host",
        vec![alert("a1", Some(t), None)],
        false,
    ));
    wait_for(WAIT, "three raised", || {
        (d.json("/api/counts")["raised"] == 3).then_some(())
    });
    // Replace listing only a2 clears a1.
    d.send(&packet(
        3,
        "test-host",
        vec![alert("a2", Some(now()), None)],
        true,
    ));
    d.wait_state("test-host", "a1", "cleared");
    assert_eq!(d.state("test-host", "a2").as_deref(), Some("raised"));
    // An empty replace clears everything from the source.
    d.send(&packet(4, "test-host", vec![], true));
    d.wait_state("test-host", "a2", "cleared");
    assert_eq!(d.state("other-host", "a1").as_deref(), Some("raised"));
    let raised = d.json("/api/alerts?state=raised");
    assert_eq!(raised.as_array().unwrap().len(), 1);
    assert_eq!(raised[0]["source"], "other-host");
}

#[test]
fn packets_from_the_real_mauvesend_apply() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    for name in ["raise-now.bin", "two-alerts.bin", "replace-empty.bin"] {
        d.send(&fixture(name));
    }
    wait_for(WAIT, "all three applied", || {
        (d.metric("mauved_batches_total") >= 1.0 && d.alert("src4", "a2").is_some()).then_some(())
    });
    wait_for(WAIT, "mysource/alert1", || d.alert("mysource", "alert1"));
    let alert1 = d.alert("mysource", "alert1").unwrap();
    assert_eq!(alert1["state"], "raised");
    assert_eq!(alert1["subject"], "host1.example");
    assert_eq!(alert1["detail"], "<b>detail</b>");
    let a1 = d.alert("src4", "a1").unwrap();
    assert_eq!(a1["state"], "pending");
    let due = a1["will_raise_at"].as_u64().unwrap();
    assert!(due > now() + 250 && due <= now() + 300, "raises in 5 min");
    let a2 = d.alert("src4", "a2").unwrap();
    assert_eq!(a2["state"], "cleared");
    assert!(a2["will_clear_at"].as_u64().unwrap() > now());
    let src3 = d.json("/api/alerts?source=src3");
    assert_eq!(src3.as_array().unwrap().len(), 0);
    assert_eq!(
        d.metric("mauved_packets_rejected_total{reason=\"malformed\"}"),
        0.0
    );
}

#[test]
fn bad_packets_are_counted_and_hurt_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    d.send(&packet(
        1,
        "good",
        vec![alert("a", Some(now()), None)],
        false,
    ));
    d.wait_state("good", "a", "raised");
    let mut truncated = packet(2, "good", vec![alert("a", None, Some(now()))], false);
    truncated.truncate(truncated.len() - 3);
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 100],
        truncated,
        vec![0x08, 0x01],                            // no source
        vec![0x22, 0xff, 0xff, 0xff, 0xff, 0x0f, 0], // absurd length
        vec![0u8; 65_000],                           // large and meaningless
    ];
    for bytes in &garbage {
        d.send(bytes);
    }
    // An alert with an empty id inside a good update is refused alone.
    d.send(&packet(
        3,
        "good",
        vec![alert("", Some(now()), None), alert("b", Some(now()), None)],
        false,
    ));
    d.wait_state("good", "b", "raised");
    let rejected = |reason: &str| {
        d.metric(&format!(
            "mauved_packets_rejected_total{{reason=\"{reason}\"}}"
        ))
    };
    wait_for(WAIT, "all bad packets counted", || {
        let total: f64 = ["empty", "malformed", "no_source"]
            .iter()
            .map(|r| rejected(r))
            .sum();
        (total == garbage.len() as f64).then_some(())
    });
    assert_eq!(rejected("empty"), 1.0);
    assert_eq!(rejected("no_source"), 1.0);
    assert_eq!(
        d.metric("mauved_alerts_rejected_total{reason=\"no_id\"}"),
        1.0
    );
    assert_eq!(d.state("good", "a").as_deref(), Some("raised"), "untouched");
    assert_eq!(d.get("/health").0, 200);
}

/// Replaces `marker` in an encoded packet by bytes of the same length, to
/// put text in another encoding on the wire.
fn splice(mut packet: Vec<u8>, marker: &[u8], bytes: &[u8]) -> Vec<u8> {
    assert_eq!(marker.len(), bytes.len());
    let at = packet
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("marker in packet");
    packet[at..at + bytes.len()].copy_from_slice(bytes);
    packet
}

#[test]
fn text_in_other_encodings_is_kept_with_question_marks() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let subject = |id: &str, text: &str| pb::Alert {
        subject: Some(text.into()),
        ..alert(id, Some(now()), None)
    };
    // "café" in Windows-1252 and "テスト" in Shift-JIS, beside a valid alert.
    let bytes = packet(
        1,
        "legacy",
        vec![
            subject("cp1252", "cafX"),
            subject("sjis", "SJIS__"),
            subject("utf8", "naïve"),
        ],
        false,
    );
    let bytes = splice(bytes, b"cafX", b"caf\xe9");
    let bytes = splice(bytes, b"SJIS__", &[0x83, 0x65, 0x83, 0x58, 0x83, 0x67]);
    d.send(&bytes);
    let cp1252 = d.wait_state("legacy", "cp1252", "raised");
    assert_eq!(cp1252["subject"], "caf?");
    let sjis = d.wait_state("legacy", "sjis", "raised");
    assert_eq!(sjis["subject"], "?e?X?g");
    let utf8 = d.wait_state("legacy", "utf8", "raised");
    assert_eq!(utf8["subject"], "naïve");
    assert_eq!(d.metric("mauved_fields_repaired_total"), 2.0);
    assert_eq!(
        d.metric("mauved_packets_rejected_total{reason=\"malformed\"}"),
        0.0
    );
}

#[test]
fn kill_9_keeps_alerts_and_queued_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    // First life: the notifier always fails, so notifications stay queued.
    let d = Daemon::start(dir.path(), &failing_notifier());
    let t = now();
    d.send(&packet(1, "crash", vec![alert("a", Some(t), None)], false));
    d.send(&packet(
        2,
        "crash",
        vec![alert("hb", Some(t + 3600), Some(t))],
        false,
    ));
    wait_for(WAIT, "both applied", || {
        (d.metric("mauved_alert_updates_total") == 2.0).then_some(())
    });
    wait_for(WAIT, "a delivery attempt failed", || {
        (d.metric("mauved_notifications_total{result=\"retried\"}") >= 1.0).then_some(())
    });
    assert_eq!(d.metric("mauved_notify_queue_depth"), 1.0);
    d.wait_written("crash", "a");
    d.kill();

    // Second life, with a working notifier under the same name.
    let d = Daemon::start(dir.path(), &recording_notifier(&notes));
    assert_eq!(d.state("crash", "a").as_deref(), Some("raised"));
    let hb = d.alert("crash", "hb").unwrap();
    assert_eq!(hb["state"], "pending");
    assert_eq!(hb["will_raise_at"], t + 3600);
    wait_for(WAIT, "the queued notification delivered", || {
        (events(&notes) == vec![("raised".to_owned(), "a".to_owned())]).then_some(())
    });
    assert_eq!(d.json("/api/counts")["raised"], 1);
    assert_eq!(d.json("/api/counts")["pending"], 1);
    wait_for(WAIT, "queue drained", || {
        (d.metric("mauved_notify_queue_depth") == 0.0).then_some(())
    });
}

#[test]
fn kill_9_after_a_mass_raise_keeps_every_alert_and_notification() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    let d = Daemon::start(dir.path(), &failing_notifier());
    let t = now();
    // 2,000 alerts raised at once and 2,000 pending heartbeats, 50 a packet.
    for n in 0..80u64 {
        let raise = n < 40;
        let alerts = (0..50)
            .map(|i| {
                let id = format!("a{}", n * 50 + i);
                if raise {
                    alert(&id, Some(t), None)
                } else {
                    alert(&id, Some(t + 3600), Some(t))
                }
            })
            .collect();
        d.send(&packet(100 + n, "mass", alerts, false));
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_for(WAIT, "all applied", || {
        (d.metric("mauved_alert_updates_total") == 4000.0).then_some(())
    });
    d.wait_written("mass", "a0");
    assert_eq!(d.metric("mauved_notify_queue_depth"), 2000.0);
    d.kill();

    let d = Daemon::start(dir.path(), &recording_notifier(&notes));
    assert_eq!(d.json("/api/counts")["raised"], 2000);
    assert_eq!(d.json("/api/counts")["pending"], 2000);
    let hb = d.alert("mass", "a3999").unwrap();
    // Kept (skew correction may add the second the packet crossed).
    let due = hb["will_raise_at"].as_u64().unwrap();
    assert!(
        (t + 3600..=t + 3601).contains(&due),
        "{due} vs {}",
        t + 3600
    );
    // 2,000 runs of a command: generous, the machine may be busy.
    wait_for(
        Duration::from_secs(120),
        "every queued notification delivered",
        || (events(&notes).len() >= 2000).then_some(()),
    );
    let mut raised: Vec<String> = events(&notes)
        .into_iter()
        .filter(|(event, _)| event == "raised")
        .map(|(_, id)| id)
        .collect();
    raised.sort();
    raised.dedup();
    assert_eq!(raised.len(), 2000, "each raise delivered at least once");
}

#[test]
fn a_clean_stop_exits_zero_and_keeps_state() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    d.send(&packet(1, "s", vec![alert("a", Some(now()), None)], false));
    wait_for(WAIT, "raised", || {
        (d.state("s", "a").is_some()).then_some(())
    });
    assert!(d.stop().success());
    let d = Daemon::start(dir.path(), "");
    assert_eq!(d.state("s", "a").as_deref(), Some("raised"));
}

#[test]
fn a_second_daemon_on_the_same_data_directory_says_it_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Daemon::start(dir.path(), "");
    let out = serve_once(dir.path(), &test_config(dir.path(), ""));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("another mauved").count(), 1, "{err}");
}

#[test]
fn a_serve_that_cannot_bind_leaves_no_data_directory_behind() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = dir.path().join("fresh-data");
    let config = format!(
        "[listen]\nudp = \"127.0.0.1:0\"\nhttp = \"{}\"\n[store]\npath = \"{}\"\n",
        taken.local_addr().unwrap(),
        data.display()
    );
    let out = serve_once(dir.path(), &config);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("binding HTTP"));
    assert!(!data.exists(), "no data directory was created");
}

/// A pager notifier that appends "ADDRESS SOURCE/ID" lines to `pages`, and
/// one urgent group (`matches`, a TOML inline table's inside) for alice.
fn paging_alice(pages: &std::path::Path, matches: &str) -> String {
    format!(
        r#"
[[notifier]]
name = "pager"
kind = "command"
command = ["sh", "-c", "echo \"$MAUVE_TO $MAUVE_SOURCE/$MAUVE_ID\" >> '{}'"]

[person.alice]
pager = "alice-pager"

[person.bob]
pager = "bob-pager"

[[alert_group]]
name = "paged"
level = "urgent"
match = {{ {matches} }}
  [[alert_group.notify]]
  who = ["alice"]
"#,
        pages.display()
    )
}

#[test]
fn an_alert_is_routed_to_the_person_its_group_names() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages.txt");
    let config = paging_alice(&pages, r#"source = ["web*"]"#);
    let d = Daemon::start(dir.path(), &config);
    d.send(&packet(
        1,
        "db1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    d.send(&packet(
        2,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    d.wait_state("db1", "disk", "raised");
    d.wait_state("web1", "disk", "raised");
    wait_for(WAIT, "alice paged", || {
        std::fs::read_to_string(&pages)
            .ok()
            .filter(|p| !p.is_empty())
    });
    wait_for(WAIT, "the queue drained", || {
        (d.metric("mauved_notify_queue_depth") == 0.0).then_some(())
    });
    // Alice, for the web alert only; nobody for the alert no group takes.
    assert_eq!(
        std::fs::read_to_string(&pages).unwrap(),
        "alice-pager web1/disk\n"
    );
}

#[test]
fn an_id_made_to_stall_a_glob_freezes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages.txt");
    let config = paging_alice(&pages, r#"id = ["**a**a**a**a**a**a**a**a**a**b"]"#);
    let d = Daemon::start(dir.path(), &config);
    // A backtracking matcher spends years on this id; then nothing after
    // it is applied and /health does not answer.
    let hostile = "a".repeat(60);
    d.send(&packet(
        1,
        "evil",
        vec![alert(&hostile, Some(now()), None)],
        false,
    ));
    d.send(&packet(
        2,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    d.wait_state("web1", "disk", "raised");
    d.wait_state("evil", &hostile, "raised");
    let ab = "ab".repeat(30);
    d.send(&packet(
        3,
        "web1",
        vec![alert(&ab, Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "the matching id paged", || {
        std::fs::read_to_string(&pages)
            .ok()
            .filter(|p| p.contains(&ab))
    });
    assert_eq!(d.get("/health").0, 200);
    assert_eq!(
        std::fs::read_to_string(&pages).unwrap(),
        format!("alice-pager web1/{ab}\n"),
        "only the id that matches the group is routed"
    );
    assert!(d.stop().success(), "SIGTERM stops it");
}

#[test]
fn a_stations_own_heartbeat_is_raised_by_the_other_when_it_stops() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = Daemon::start(dir_a.path(), "");
    let b = Daemon::start(
        dir_b.path(),
        &format!(
            "[heartbeat]\ndestinations = [\"{}\"]\nsend_every = \"1s\"\nraise_after = \"8s\"\nsource = \"station-b\"\n",
            a.udp()
        ),
    );
    let beat = wait_for(WAIT, "b's heartbeat at a", || {
        a.alert("station-b", "mauve-heartbeat")
    });
    assert_eq!(beat["state"], "pending", "{beat:#}");
    assert_eq!(beat["summary"], "Mauve alert server heartbeat failed");
    // Still pending while b beats (raise_after is longer than the 5 s in
    // which a raise time counts as now): ten beats, a second apart, span
    // more than raise_after.
    let first = a.metric("mauved_alert_updates_total");
    wait_for(Duration::from_secs(30), "ten more beats", || {
        (a.metric("mauved_alert_updates_total") >= first + 10.0).then_some(())
    });
    assert_eq!(
        a.state("station-b", "mauve-heartbeat").as_deref(),
        Some("pending")
    );
    b.stop();
    wait_for(Duration::from_secs(20), "a raises b's heartbeat", || {
        (a.state("station-b", "mauve-heartbeat").as_deref() == Some("raised")).then_some(())
    });
}

#[test]
fn sigterm_lets_a_delivery_in_flight_finish_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    let started = dir.path().join("started");
    let notifier = format!(
        "[[notifier]]\nname = \"slow\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"touch '{}'; sleep 1; cat >> '{}'\"]\n",
        started.display(),
        notes.display()
    );
    let d = Daemon::start(dir.path(), &notifier);
    d.send(&packet(1, "s", vec![alert("a", Some(now()), None)], false));
    wait_for(WAIT, "the delivery under way", || {
        started.exists().then_some(())
    });
    let asked = std::time::Instant::now();
    let status = d.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        events(&notes),
        [("raised".to_owned(), "a".to_owned())],
        "finished, not cut"
    );
    // Delivered once: the next start does not send it again.
    std::fs::remove_file(&started).unwrap();
    let d = Daemon::start(dir.path(), &notifier);
    // Nothing queued at start, so nothing can be delivered.
    assert_eq!(d.metric("mauved_notify_queue_depth"), 0.0);
    d.quiesce("s", "a");
    assert!(!started.exists(), "nothing left to deliver");
}

#[test]
fn udp_senders_outside_allow_sources_are_refused_and_counted() {
    // Only 10/8 may send: this test's packets come from 127.0.0.1.
    let refusing = tempfile::tempdir().unwrap();
    let d = Daemon::start_listening(refusing.path(), "allow_sources = [\"10.0.0.0/8\"]", "");
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "the packet counted", || {
        (d.metric("mauved_packets_rejected_total{reason=\"not_allowed\"}") == 1.0).then_some(())
    });
    assert_eq!(d.state("web1", "disk"), None);
    let allowing = tempfile::tempdir().unwrap();
    let d = Daemon::start_listening(
        allowing.path(),
        "allow_sources = [\"10.0.0.0/8\", \"127.0.0.0/8\", \"::1\"]",
        "",
    );
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "applied", || d.state("web1", "disk"));
}

#[test]
fn a_garbage_flood_does_not_cost_a_single_real_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    // The memory ceiling (docs/durability-and-memory.md) for this configuration: 200 bytes an
    // alert, 50 a source (at most one an alert), 100 MiB of fixed
    // buffers, 60 KiB a bucket of a second's pace.
    let (max_alerts, pace) = (10_000u64, 2_000u64);
    let ceiling = 250 * max_alerts + (100 << 20) + pace * 60 * 1024;
    let d = Daemon::start_config(
        dir.path(),
        &test_config(dir.path(), "").replacen(
            "[store]\n",
            &format!("[store]\nmax_alerts = {max_alerts}\nmax_writes_per_s = {pace}\n"),
            1,
        ),
    );
    let target = d.udp;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Garbage at about 50,000 packets a second (random bytes, truncated
    // protobuf, empty datagrams) for as long as the real senders run.
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let real = packet(7, "x", vec![alert("y", Some(now()), None)], false);
            let mut sent = 0u64;
            let started = std::time::Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let junk: Vec<u8> = match sent % 3 {
                    0 => (0..64)
                        .map(|i| (sent as u8).wrapping_mul(31).wrapping_add(i))
                        .collect(),
                    1 => real[..real.len() / 2].to_vec(),
                    _ => Vec::new(),
                };
                let _ = socket.send_to(&junk, target);
                sent += 1;
                // Pace: 50 per millisecond.
                if sent.is_multiple_of(50) {
                    let due = Duration::from_millis(sent / 50);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
            }
            sent
        })
    };
    // Real heartbeats: 1,000 a second for three seconds, each a new key.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = now();
    for i in 0..3000u64 {
        let beat = packet(
            1000 + i,
            "fleet",
            vec![alert(&format!("hb{i}"), Some(t + 600), Some(t))],
            false,
        );
        socket.send_to(&beat, target).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let garbage = flood.join().unwrap();
    wait_for(
        Duration::from_secs(20),
        "every real heartbeat applied",
        || (d.metric("mauved_alert_updates_total") == 3000.0).then_some(()),
    );
    assert_eq!(d.json("/api/counts")["pending"], 3000);
    let refused = d.metric("mauved_packets_rejected_total{reason=\"malformed\"}")
        + d.metric("mauved_packets_rejected_total{reason=\"empty\"}");
    assert!(garbage > 10_000, "{garbage} garbage packets sent");
    assert!(
        refused > garbage as f64 * 0.5,
        "{refused} of {garbage} counted"
    );
    let peak = d.peak_rss();
    assert!(
        peak <= ceiling,
        "peak RSS {} MiB over the ceiling {} MiB",
        peak >> 20,
        ceiling >> 20
    );
}

#[test]
fn a_sender_over_its_packet_rate_is_held_back_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_listening(dir.path(), "max_packets_per_source = 100", "");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = now();
    // 2,000 packets as fast as they go: about one second's worth pass.
    for i in 0..2000u64 {
        let p = heartbeat(i + 1, "noisy", &format!("a{i}"), t);
        socket.send_to(&p, d.udp).unwrap();
    }
    wait_for(WAIT, "all counted", || {
        (d.metric("mauved_packets_received_total") == 2000.0).then_some(())
    });
    let limited = d.metric("mauved_packets_rejected_total{reason=\"rate_limited\"}");
    let applied = d.metric("mauved_alert_updates_total");
    assert_eq!(limited + applied, 2000.0);
    assert!(limited >= 1500.0, "{limited} held back");
    assert!(applied >= 100.0, "{applied} applied");
    // Once its second is over the sender may send again: one packet at a
    // time until one is applied.
    let mut tx = 5000;
    wait_for(WAIT, "applied after the pause", || {
        tx += 1;
        let p = heartbeat(tx, "noisy", &format!("later{tx}"), t);
        socket.send_to(&p, d.udp).unwrap();
        (d.metric("mauved_alert_updates_total") > applied).then_some(())
    });
}

/// The write-behind runs at a lower priority than ingest (docs/durability-and-memory.md,
/// "Durability"); the scheduler and the listeners do not.
#[test]
fn the_writer_thread_yields_to_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    // Field `n` of a thread's stat, counted from 1 (the name, field 2, is
    // in parentheses and may hold spaces).
    let field_of = |name: &str, n: usize| -> Option<i64> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", d.pid())).ok()?;
        tasks.flatten().find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            if comm.trim() != name {
                return None;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 2..];
            after_name.split(' ').nth(n - 3)?.parse().ok()
        })
    };
    // Field 41 is the scheduling policy: 5 is SCHED_IDLE, 0 the default.
    const POLICY: usize = 41;
    // (It lowers its own priority as it starts.)
    wait_for(
        Duration::from_secs(10),
        "the writer thread at SCHED_IDLE",
        || field_of("writer", POLICY).filter(|policy| *policy == 5),
    );
    // A listing of /proc/<pid>/task may skip a thread while another
    // (tokio's blocking pool) exits: look until the scheduler is seen.
    let scheduler = wait_for(Duration::from_secs(10), "the scheduler thread", || {
        field_of("scheduler", POLICY)
    });
    assert_eq!(scheduler, 0, "the scheduler's policy");
    d.stop();
}
