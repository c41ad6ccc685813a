//! Two stations on a real etcd (Debian's `etcd-server`, started by the test
//! on loopback ports with its data in a temporary directory): one delivers,
//! the other keeps the same queue and drops what the first delivered; when
//! the leader dies the other takes over. Built with `--features ha`.

#![cfg(feature = "ha")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::etcd::*;
use common::*;

const WAIT: Duration = Duration::from_secs(30);
const TTL_S: u64 = 5;

fn station(dir: &Path, name: &str, etcd: &Etcd, notes: &Path) -> Daemon {
    Daemon::start(
        dir,
        &format!(
            "{}[cluster]\nstation = \"{name}\"\netcd = [{}]\nlease_ttl_s = {TTL_S}\n",
            recording_notifier(notes),
            etcd.toml()
        ),
    )
}

/// Waits until both stations have logged `text`.
fn both_log(a: &Daemon, b: &Daemon, what: &str, text: &str) {
    for (d, name) in [(a, "a"), (b, "b")] {
        wait_for(WAIT, &format!("{name} {what}"), || {
            std::fs::read_to_string(d.dir.join("mauved.log"))
                .unwrap_or_default()
                .contains(text)
                .then_some(())
        });
    }
}

/// Whether web1/disk's history on `d` has a line saying `text`.
fn noted(d: &Daemon, text: &str) -> bool {
    d.json("/api/alerts/web1/disk/history")
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["text"] == text)
}

/// Waits until `d` has applied the update of alert web1/`id`.
fn applied(d: &Daemon, id: &str) {
    wait_for(WAIT, &format!("web1/{id} applied"), || {
        d.alert("web1", id).map(|_| ())
    });
}

fn role(d: &Daemon) -> (String, Option<String>) {
    let status = d.json("/api/cluster");
    (
        status["role"].as_str().unwrap_or_default().to_owned(),
        status["leader"].as_str().map(str::to_owned),
    )
}

#[test]
fn one_station_delivers_each_raise_once_and_the_other_takes_over_when_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let (notes_a, notes_b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let a = station(&dir_a, "a", &etcd, &notes_a);
    let b = station(&dir_b, "b", &etcd, &notes_b);
    // One leader, and both agree which.
    let leader = wait_for(WAIT, "a leader both stations name", || {
        let (role_a, leader_a) = role(&a);
        let (role_b, leader_b) = role(&b);
        let one = (role_a == "leader") != (role_b == "leader");
        (one && leader_a.is_some() && leader_a == leader_b).then_some(leader_a.unwrap())
    });
    let (lead, follow, lead_notes, follow_notes) = if leader == "a" {
        (a, b, notes_a, notes_b)
    } else {
        (b, a, notes_b, notes_a)
    };
    assert_eq!(lead.metric("mauved_cluster_leader"), 1.0);
    assert_eq!(follow.metric("mauved_cluster_leader"), 0.0);
    // Each station names both, seen lately.
    wait_for(WAIT, "both stations seen", || {
        let status = lead.json("/api/cluster");
        let mut names: Vec<String> = status["stations"]
            .as_array()?
            .iter()
            .filter(|s| s["seen_at"].as_u64().is_some_and(|t| t + 60 >= now()))
            .map(|s| s["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        (names == ["a", "b"]).then_some(())
    });
    // The on-call page says which station this is and who delivers.
    let (_, page) = lead.get("/");
    assert!(
        page.contains(&format!("station {leader}: leader")),
        "{page}"
    );
    let (_, page) = follow.get("/");
    assert!(page.contains(&format!("({leader} delivers)")), "{page}");

    // mauvesend sends every packet to every station.
    let t = now();
    for (i, id) in ["disk", "load", "swap"].iter().enumerate() {
        let p = packet(10 + i as u64, "web1", vec![alert(id, Some(t), None)], false);
        lead.send(&p);
        follow.send(&p);
    }
    wait_for(WAIT, "three raises delivered by the leader", || {
        (events(&lead_notes).len() == 3).then_some(())
    });
    // The follower kept the same messages and dropped each once etcd
    // showed it delivered.
    for d in [&follow, &lead] {
        applied(d, "swap");
        d.quiesce("web1", "swap");
    }
    assert!(
        events(&follow_notes).is_empty(),
        "{:?}",
        events(&follow_notes)
    );
    assert_eq!(events(&lead_notes).len(), 3, "each once");
    assert_eq!(
        follow.metric("mauved_cluster_deliveries_skipped_total"),
        3.0
    );
    let history = follow.json("/api/alerts/web1/disk/history");
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["result"] == "delivered elsewhere"),
        "{history:#}"
    );

    // And the clears: told once each, by the leader.
    let t = now();
    for (i, id) in ["disk", "load", "swap"].iter().enumerate() {
        let p = packet(30 + i as u64, "web1", vec![alert(id, None, Some(t))], false);
        lead.send(&p);
        follow.send(&p);
    }
    wait_for(WAIT, "three clears delivered by the leader", || {
        (events(&lead_notes).len() == 6).then_some(())
    });
    for d in [&follow, &lead] {
        wait_for(WAIT, "the clear applied", || {
            (d.state("web1", "swap").as_deref() == Some("cleared")).then_some(())
        });
        d.quiesce("web1", "swap");
    }
    assert!(
        events(&follow_notes).is_empty(),
        "{:?}",
        events(&follow_notes)
    );
    assert_eq!(
        events(&lead_notes)
            .iter()
            .filter(|(e, _)| e == "cleared")
            .count(),
        3
    );
    assert_eq!(
        follow.metric("mauved_cluster_deliveries_skipped_total"),
        6.0
    );
    // etcd stays small: delivery records are on a lease (a day), and etcd's
    // size is reported.
    let records = etcd_range(&etcd, "/mauved/delivered/");
    assert_eq!(records.len(), 6, "{records:?}");
    assert!(
        records
            .iter()
            .all(|kv| kv["lease"].as_str().is_some_and(|l| l != "0")),
        "{records:?}"
    );
    wait_for(WAIT, "etcd's size reported", || {
        (lead.metric("mauved_cluster_etcd_db_bytes") > 0.0).then_some(())
    });

    // The leader dies: within the lease's TTL (and a margin) the other
    // station leads and delivers a raise that only it received.
    lead.kill();
    let died = std::time::Instant::now();
    wait_for(WAIT, "the follower takes over", || {
        (role(&follow).0 == "leader").then_some(())
    });
    assert!(
        died.elapsed() <= Duration::from_secs(TTL_S + 5),
        "took {:?}",
        died.elapsed()
    );
    assert_eq!(follow.metric("mauved_cluster_takeovers_total"), 1.0);
    follow.send(&packet(
        20,
        "web1",
        vec![alert("cpu", Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "the new leader delivers", || {
        events(&follow_notes)
            .iter()
            .any(|(_, id)| id == "cpu")
            .then_some(())
    });
    follow.quiesce("web1", "cpu");
    assert_eq!(events(&follow_notes).len(), 1, "only the new raise");
}

#[test]
fn a_cluster_section_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[cluster]\nstation = \"\"\netcd = [\"127.0.0.1:2379\"]\nlease_ttl_s = 2\nrecords_kept = \"30s\"\netcd_quota_bytes = 0\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mauved"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    for key in [
        "cluster.station",
        "cluster.etcd[0]",
        "cluster.lease_ttl_s",
        "cluster.records_kept",
        "cluster.etcd_quota_bytes",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }
}

#[test]
fn a_raise_only_one_station_received_is_delivered_once_whichever_got_it() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let (notes_a, notes_b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let a = station(&dir_a, "a", &etcd, &notes_a);
    let b = station(&dir_b, "b", &etcd, &notes_b);
    let leader = wait_for(WAIT, "a leader", || {
        let (role_a, leader_a) = role(&a);
        let (role_b, _) = role(&b);
        ((role_a == "leader") != (role_b == "leader")).then_some(leader_a)
    });
    let (lead, follow, lead_notes, follow_notes) = if leader.as_deref() == Some("a") {
        (a, b, notes_a, notes_b)
    } else {
        (b, a, notes_b, notes_a)
    };
    let t = now();
    // Only the leader got this one: it delivers, the follower has nothing.
    lead.send(&packet(
        1,
        "web1",
        vec![alert("seen-by-leader", Some(t), None)],
        false,
    ));
    // The follower got two in one packet (queued together); the leader got
    // only the second, later. The first: after a while (10 s) the follower
    // hands it to the leader through etcd, which delivers it. The second,
    // queued on the follower behind the one it waits to hand over: the
    // follower drops it as soon as the leader delivered it, not after the
    // hand-over, and keeps the first.
    follow.send(&packet(
        2,
        "web1",
        vec![
            alert("seen-by-follower", Some(t), None),
            alert("seen-by-both", Some(t), None),
        ],
        false,
    ));
    wait_for(WAIT, "the follower holds both", || {
        (follow.metric("mauved_cluster_held") == 2.0).then_some(())
    });
    lead.send(&packet(
        3,
        "web1",
        vec![alert("seen-by-both", Some(now()), None)],
        false,
    ));
    wait_for(
        WAIT,
        "the follower dropped what the leader delivered",
        || {
            let history = follow.json("/api/alerts/web1/seen-by-both/history");
            history
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["result"] == "delivered elsewhere")
                .then_some(())
        },
    );
    assert!(
        !events(&lead_notes)
            .iter()
            .any(|(_, id)| id == "seen-by-follower"),
        "the follower handed its message over before dropping the one behind it: {:?}",
        events(&lead_notes)
    );
    wait_for(WAIT, "all three delivered by the leader", || {
        (events(&lead_notes).len() == 3).then_some(())
    });
    follow.quiesce("web1", "seen-by-follower");
    lead.quiesce("web1", "seen-by-leader");
    let mut ids: Vec<String> = events(&lead_notes).into_iter().map(|(_, id)| id).collect();
    ids.sort();
    assert_eq!(ids, ["seen-by-both", "seen-by-follower", "seen-by-leader"]);
    assert!(
        events(&follow_notes).is_empty(),
        "{:?}",
        events(&follow_notes)
    );
}

/// [`a_leading_b_following`] with recording notifiers: the stations and
/// their logs.
fn recording_pair(dir: &Path, etcd: &Etcd) -> (Daemon, Daemon, PathBuf, PathBuf) {
    let (notes_a, notes_b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let (a, b) = a_leading_b_following(
        dir,
        etcd,
        &recording_notifier(&notes_a),
        &recording_notifier(&notes_b),
    );
    (a, b, notes_a, notes_b)
}

/// Raises web1/`id` on both stations (as mauvesend does) and waits until
/// both applied it.
fn raise_on_both(a: &Daemon, b: &Daemon, tid: u64, id: &str) {
    let p = packet(tid, "web1", vec![alert(id, Some(now()), None)], false);
    a.send(&p);
    b.send(&p);
    applied(a, id);
    applied(b, id);
}

/// Starts station a, waits until it leads, then starts b: a delivers.
fn a_leading_b_following(
    dir: &Path,
    etcd: &Etcd,
    notifier_a: &str,
    notifier_b: &str,
) -> (Daemon, Daemon) {
    let start = |name: &str, notifier: &str| {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Daemon::start(
            &dir,
            &format!(
                "{notifier}[cluster]\nstation = \"{name}\"\netcd = [{}]\nlease_ttl_s = {TTL_S}\n",
                etcd.toml()
            ),
        )
    };
    let a = start("a", notifier_a);
    wait_for(WAIT, "a leads", || (role(&a).0 == "leader").then_some(()));
    let b = start("b", notifier_b);
    wait_for(WAIT, "b follows a", || {
        (role(&b) == ("follower".to_owned(), Some("a".to_owned()))).then_some(())
    });
    for d in [&a, &b] {
        wait_for(WAIT, "the station follows the shared actions", || {
            (d.json("/api/cluster")["sharing_actions"] == true).then_some(())
        });
    }
    (a, b)
}

#[test]
fn a_leader_stopped_past_its_lease_sends_nothing_once_the_other_took_over() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, notes_a, notes_b) = recording_pair(dir.path(), &etcd);
    // a freezes (SIGSTOP) for longer than its lease: b takes over.
    let signal = |sig: &str, d: &Daemon| {
        assert!(Command::new("kill")
            .args([sig, &d.pid().to_string()])
            .status()
            .unwrap()
            .success());
    };
    signal("-STOP", &a);
    wait_for(WAIT, "b takes over", || {
        (role(&b).0 == "leader").then_some(())
    });
    // A raise for both stations while a is frozen: b delivers it.
    let p = packet(1, "web1", vec![alert("frozen", Some(now()), None)], false);
    a.send(&p);
    b.send(&p);
    wait_for(WAIT, "b delivers", || {
        (events(&notes_b).len() == 1).then_some(())
    });
    // a wakes up: its lease is gone, so it sends nothing; its copy is
    // dropped once it sees b's delivery.
    signal("-CONT", &a);
    applied(&a, "frozen");
    a.quiesce("web1", "frozen");
    assert!(events(&notes_a).is_empty(), "{:?}", events(&notes_a));
    assert_eq!(events(&notes_b).len(), 1);
    wait_for(WAIT, "a follows b", || {
        (role(&a) == ("follower".to_owned(), Some("b".to_owned()))).then_some(())
    });
}

#[test]
fn a_notifier_failing_on_the_leader_does_not_make_the_follower_send() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let notes_b = dir.path().join("b.jsonl");
    let (a, b) = a_leading_b_following(
        dir.path(),
        &etcd,
        &failing_notifier(),
        &recording_notifier(&notes_b),
    );
    let p = packet(1, "web1", vec![alert("disk", Some(now()), None)], false);
    a.send(&p);
    b.send(&p);
    // The leader keeps retrying; the follower hands its copy over after 10 s
    // (the leader queues it: two copies, both retried there) and sends
    // nothing itself.
    wait_for(
        Duration::from_secs(60),
        "the copy handed to the leader",
        || (a.metric("mauved_notify_queue_depth") >= 2.0).then_some(()),
    );
    wait_for(WAIT, "a few failed attempts on the leader", || {
        (a.metric("mauved_notifications_total{result=\"retried\"}") >= 3.0).then_some(())
    });
    assert!(events(&notes_b).is_empty(), "{:?}", events(&notes_b));
    assert_eq!(b.metric("mauved_notify_queue_depth"), 1.0, "still held");
}

#[test]
fn a_message_the_leader_gave_up_on_is_not_sent_by_the_follower_even_on_taking_over() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let notes_b = dir.path().join("b.jsonl");
    // a's notifier cannot start: every message is given up at once.
    let (a, b) = a_leading_b_following(
        dir.path(),
        &etcd,
        &giving_up_notifier(),
        &recording_notifier(&notes_b),
    );
    let p = packet(1, "web1", vec![alert("disk", Some(now()), None)], false);
    a.send(&p);
    b.send(&p);
    wait_for(WAIT, "the leader's dead letter", || {
        (a.metric("mauved_dead_letters_total") >= 1.0).then_some(())
    });
    // The follower drops its copy, saying so.
    wait_for(WAIT, "the follower drops its copy", || {
        b.json("/api/alerts/web1/disk/history")
            .as_array()?
            .iter()
            .filter_map(|l| l["text"].as_str())
            .any(|t| t.starts_with("given up elsewhere") && t.contains("by station a"))
            .then_some(())
    });
    assert_eq!(b.metric("mauved_notify_queue_depth"), 0.0);
    // The leader gone, b leads and sends what comes next, but not that.
    assert!(a.stop().success());
    wait_for(WAIT, "b leads", || (role(&b).0 == "leader").then_some(()));
    let p = packet(2, "web1", vec![alert("after", Some(now()), None)], false);
    b.send(&p);
    wait_for(WAIT, "the next raise sent by b", || {
        events(&notes_b)
            .iter()
            .any(|(_, id)| id == "after")
            .then_some(())
    });
    let sent: Vec<String> = events(&notes_b).into_iter().map(|(_, id)| id).collect();
    assert_eq!(sent, ["after"]);
}

#[test]
fn the_etcd_leader_member_killed_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::start_members(dir.path(), 3);
    let (a, b, notes_a, notes_b) = recording_pair(dir.path(), &etcd);
    let raise = |tid: u64, id: &str| {
        let p = packet(tid, "web1", vec![alert(id, Some(now()), None)], false);
        a.send(&p);
        b.send(&p);
    };
    raise(1, "before");
    wait_for(WAIT, "the first raise delivered", || {
        (events(&notes_a).len() == 1).then_some(())
    });
    let leader = etcd.leader();
    etcd.kill(leader);
    for (i, id) in ["after1", "after2", "after3"].iter().enumerate() {
        raise(10 + i as u64, id);
    }
    wait_for(Duration::from_secs(60), "every raise delivered", || {
        let mut all = events(&notes_a);
        all.extend(events(&notes_b));
        (all.len() >= 4).then_some(())
    });
    for d in [&a, &b] {
        applied(d, "after3");
        d.quiesce("web1", "after3");
    }
    let mut all: Vec<String> = events(&notes_a)
        .into_iter()
        .chain(events(&notes_b))
        .map(|(_, id)| id)
        .collect();
    all.sort();
    assert_eq!(
        all,
        ["after1", "after2", "after3", "before"],
        "each exactly once"
    );
}

#[test]
fn a_station_without_etcd_runs_ingests_says_so_and_delivers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("a.jsonl");
    // Nothing listens on this port.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let d = Daemon::start(
        dir.path(),
        &format!(
            "{}[cluster]\nstation = \"a\"\netcd = [\"{nowhere}\"]\nlease_ttl_s = {TTL_S}\n",
            recording_notifier(&notes)
        ),
    );
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    applied(&d, "disk");
    let status = d.json("/api/cluster");
    assert_eq!(status["role"], "isolated", "{status:#}");
    assert_eq!(status["etcd"]["reachable"], false, "{status:#}");
    assert_eq!(d.metric("mauved_cluster_isolated"), 1.0);
    let (status, body) = d.get("/health");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"isolated\""), "{body}");
    assert_eq!(d.metric("mauved_cluster_leader"), 0.0);
    let (_, page) = d.get("/");
    assert!(
        page.contains("isolated from etcd, delivering nothing"),
        "{page}"
    );
    // An action cannot be shared: refused, with the reason.
    let (status, body) = d.post("/api/alerts/web1/disk/note", r#"{"by": "a", "text": "x"}"#);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("could not be shared through etcd"), "{body}");
    // Held, not sent: the worker waits at the gate for a leader.
    wait_for(WAIT, "the message held at the gate", || {
        (d.metric("mauved_cluster_held") == 1.0).then_some(())
    });
    assert_eq!(d.metric("mauved_notify_queue_depth"), 1.0);
    assert!(events(&notes).is_empty());
}

#[test]
fn the_leader_killed_in_a_burst_loses_nothing_and_repeats_at_most_what_was_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, notes_a, notes_b) = recording_pair(dir.path(), &etcd);
    let ids: Vec<String> = (0..40).map(|i| format!("burst{i:02}")).collect();
    let t = now();
    for (i, id) in ids.iter().enumerate() {
        let p = packet(
            100 + i as u64,
            "web1",
            vec![alert(id, Some(t), None)],
            false,
        );
        a.send(&p);
        b.send(&p);
    }
    // In the middle of the burst's delivery, the leader dies.
    wait_for(WAIT, "a quarter delivered", || {
        (events(&notes_a).len() >= 10).then_some(())
    });
    a.kill();
    wait_for(Duration::from_secs(60), "every raise delivered", || {
        let mut told: Vec<String> = events(&notes_a)
            .into_iter()
            .chain(events(&notes_b))
            .map(|(_, id)| id)
            .collect();
        told.sort();
        told.dedup();
        (told == ids).then_some(())
    });
    applied(&b, "burst39");
    b.quiesce("web1", "burst39");
    let by_a: Vec<String> = events(&notes_a).into_iter().map(|(_, id)| id).collect();
    let by_b: Vec<String> = events(&notes_b).into_iter().map(|(_, id)| id).collect();
    let twice = by_a.iter().filter(|id| by_b.contains(id)).count();
    println!(
        "burst of {}: {} delivered by the killed leader, {} by the new one, {twice} twice",
        ids.len(),
        by_a.len(),
        by_b.len()
    );
    // One notifier delivers one message at a time, and records are written
    // one transaction at a time: in flight at the kill were the message
    // being sent and the records of those sent while the last transaction
    // was on its way (a command notifier takes about as long as an etcd
    // transaction with its fsync: one or two). Not recorded at all, about
    // half the burst would be sent twice.
    assert!(twice <= 3, "{twice} delivered twice");
    assert_eq!(by_a.len() + by_b.len(), ids.len() + twice);
}

#[test]
fn an_action_on_either_station_is_applied_by_both_with_its_author_and_told_once() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, notes_a, notes_b) = recording_pair(dir.path(), &etcd);
    raise_on_both(&a, &b, 1, "disk");
    // Acknowledged on the follower: the answer comes once b applied it
    // from etcd, and a shows it too, with the same author.
    let (status, body) = b.post(
        "/api/alerts/web1/disk/acknowledge",
        r#"{"by": "alice", "for": "1h"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let answered: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answered["acknowledged_by"], "alice", "{answered:#}");
    wait_for(WAIT, "a shows the ack", || {
        (a.alert("web1", "disk")?["acknowledged_by"] == "alice").then_some(())
    });
    // A note on the leader reaches the follower's history.
    let (status, body) = a.post(
        "/api/alerts/web1/disk/note",
        r#"{"by": "bob", "text": "looking at it"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let line_with = |d: &Daemon, text: &str, by: &str| {
        d.json("/api/alerts/web1/disk/history")
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"].as_str().unwrap_or("").contains(text) && l["by"] == by)
    };
    wait_for(WAIT, "b has the note", || {
        line_with(&b, "looking at it", "bob").then_some(())
    });
    // etcd forgets them by itself: each is on a lease (a week).
    let shared = etcd_range(&etcd, "/mauved/actions/");
    assert_eq!(shared.len(), 2, "{shared:?}");
    for kv in &shared {
        let lease = kv["lease"].as_str().expect("an action on a lease");
        let addr = etcd.urls[0].trim_start_matches("http://").parse().unwrap();
        let (_, ttl) = request(
            addr,
            "POST",
            "/v3/lease/timetolive",
            &format!(r#"{{"ID": "{lease}"}}"#),
        );
        let ttl: serde_json::Value = serde_json::from_str(&ttl).unwrap();
        let left: u64 = ttl["TTL"].as_str().unwrap().parse().unwrap();
        assert!(left >= 7 * 24 * 3600, "{ttl}");
    }
    for d in [&a, &b] {
        assert!(
            line_with(d, "ACKNOWLEDGED", "alice"),
            "the ack's line, by alice"
        );
        d.quiesce("web1", "disk");
    }
    // Raised and acknowledged, each told once, by the leader.
    let told = events(&notes_a);
    assert_eq!(
        told,
        [
            ("raised".to_owned(), "disk".to_owned()),
            ("acknowledged".to_owned(), "disk".to_owned())
        ]
    );
    assert!(events(&notes_b).is_empty(), "{:?}", events(&notes_b));
}

/// A silence of web1's alerts by alice, from `starts` for an hour (as
/// `POST /api/v2/silences` takes it; `id` to change one).
fn silence_body(starts: u64, comment: &str, id: Option<&str>) -> String {
    let rfc3339 = |t: u64| jiff::Timestamp::from_second(t as i64).unwrap().to_string();
    let mut body = serde_json::json!({
        "matchers": [{"name": "source", "value": "web1", "isRegex": false, "isEqual": true}],
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(starts + 3600),
        "createdBy": "alice",
        "comment": comment,
    });
    if let Some(id) = id {
        body["id"] = id.into();
    }
    body.to_string()
}

/// Posts a silence to `d`; its id.
fn make_silence(d: &Daemon, body: &str) -> String {
    let (status, answer) = d.post("/api/v2/silences", body);
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    answer["silenceID"].as_str().unwrap().to_owned()
}

/// The lines "SILENCED by alice: rack 4 maintenance" in web1/disk's history on `d`.
fn silenced_lines(d: &Daemon) -> usize {
    d.json("/api/alerts/web1/disk/history")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["text"].as_str())
        .filter(|t| t.starts_with("SILENCED by alice: rack 4 maintenance"))
        .count()
}

/// Silence `id` as `d` lists it, if it does.
fn silence_on(d: &Daemon, id: &str) -> Option<serde_json::Value> {
    let (status, body) = request(d.http, "GET", &format!("/api/v2/silence/{id}"), "");
    (status == 200).then(|| serde_json::from_str(&body).unwrap())
}

#[test]
fn a_silence_made_on_either_station_is_kept_by_both_and_mutes_there() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, notes_a, notes_b) = recording_pair(dir.path(), &etcd);
    // Made on the follower.
    let id = make_silence(&b, &silence_body(now(), "rack 4 maintenance", None));
    let state =
        |d: &Daemon| silence_on(d, &id).map(|s| s["status"]["state"].as_str().unwrap().to_owned());
    wait_for(WAIT, "the leader keeps the silence", || {
        (state(&a)? == "active").then_some(())
    });
    assert_eq!(etcd_range(&etcd, "/mauved/silences/").len(), 1);
    // A raise from web1 reaching both: muted on both, told by nobody.
    raise_on_both(&a, &b, 1, "disk");
    for d in [&a, &b] {
        let muted = d.json("/api/v2/alerts?silenced=true&filter=alertname%3D%22disk%22");
        assert_eq!(muted[0]["status"]["silencedBy"][0], id.as_str(), "{muted}");
        d.quiesce("web1", "disk");
    }
    assert!(events(&notes_a).is_empty(), "{:?}", events(&notes_a));
    // Expired on the leader: the follower sees it end, and the raise is
    // told once, by the leader.
    let (status, body) = request(a.http, "DELETE", &format!("/api/v2/silence/{id}"), "");
    assert_eq!(status, 200, "{body}");
    wait_for(WAIT, "the follower sees the silence expired", || {
        (state(&b)? == "expired").then_some(())
    });
    wait_for(WAIT, "the raise told once the silence ended", || {
        (!events(&notes_a).is_empty()).then_some(())
    });
    for d in [&a, &b] {
        d.quiesce("web1", "disk");
    }
    assert_eq!(events(&notes_a), [("raised".to_owned(), "disk".to_owned())]);
    assert!(events(&notes_b).is_empty(), "{:?}", events(&notes_b));
}

#[test]
fn a_silence_that_starts_later_is_started_by_the_other_station_when_the_one_asked_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, _, _) = recording_pair(dir.path(), &etcd);
    raise_on_both(&a, &b, 1, "disk");
    // Made on a, to start in ten seconds; a is stopped before then.
    let starts = now() + 10;
    let id = make_silence(&a, &silence_body(starts, "rack 4 maintenance", None));
    wait_for(WAIT, "b keeps the pending silence", || {
        (silence_on(&b, &id)?["status"]["state"] == "pending").then_some(())
    });
    assert!(a.stop().success());
    assert!(
        now() < starts,
        "a stopped only after the silence started: the case was not tested"
    );
    // b mutes the raised alert when the silence starts, once.
    wait_for(WAIT, "b mutes the raised alert", || {
        let until = b.alert("web1", "disk")?["suppress_until"].as_u64()?;
        (until >= starts + 3600).then_some(())
    });
    b.wait_written("web1", "disk");
    assert_eq!(silenced_lines(&b), 1);
    // The start was muted by b (a was down by then), which records it just
    // after muting.
    let claims = wait_for(WAIT, "b's record of the start", || {
        let claims = etcd_range(&etcd, &format!("/mauved/silence-starts/{id}/"));
        (!claims.is_empty()).then_some(claims)
    });
    assert_eq!(claims.len(), 1, "{claims:?}");
    assert_eq!(claims[0]["value"], base64(b"b"), "{claims:?}");
}

#[test]
fn a_silence_start_claimed_by_a_station_that_dies_before_muting_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, _, _) = recording_pair(dir.path(), &etcd);
    raise_on_both(&a, &b, 1, "disk");
    let starts = now() + 8;
    let id = make_silence(&a, &silence_body(starts, "rack 4 maintenance", None));
    // A third station claimed the start on its own lease and dies before
    // muting anything: the claim is written here, on a lease this test
    // holds, before the start.
    let addr = etcd.urls[0].trim_start_matches("http://").parse().unwrap();
    let (status, lease) = request(addr, "POST", "/v3/lease/grant", r#"{"TTL": 60}"#);
    assert_eq!(status, 200, "{lease}");
    let lease: serde_json::Value = serde_json::from_str(&lease).unwrap();
    let lease = lease["ID"].as_str().unwrap().to_owned();
    let claim = format!("/mauved/silence-claims/{id}/{starts}");
    etcd_put(&etcd, &claim, b"c", Some(&lease));
    assert!(
        now() < starts,
        "the claim was written only after the start: the case was not tested"
    );
    // Both stations find the start claimed and leave it to its claimer.
    both_log(
        &a,
        &b,
        "finds the start claimed",
        "claimed by the other station",
    );
    let muted = |d: &Daemon| {
        d.alert("web1", "disk")
            .and_then(|alert| alert["suppress_until"].as_u64())
            .is_some_and(|until| until >= starts + 3600)
    };
    assert!(!muted(&a) && !muted(&b), "muted while the claim was held");
    // The claimer dies (its lease ends): a station takes the start over and
    // mutes the raised alert, once, on both.
    let revoke = format!(r#"{{"ID": "{lease}"}}"#);
    let (status, answer) = request(addr, "POST", "/v3/lease/revoke", &revoke);
    assert_eq!(status, 200, "{answer}");
    for (d, name) in [(&a, "a"), (&b, "b")] {
        wait_for(WAIT, &format!("{name} has the raised alert muted"), || {
            muted(d).then_some(())
        });
    }
    wait_for(WAIT, "the start is recorded as muted", || {
        let done = etcd_range(&etcd, &format!("/mauved/silence-starts/{id}/"));
        (done.len() == 1).then_some(())
    });
    for d in [&a, &b] {
        d.wait_written("web1", "disk");
        assert_eq!(silenced_lines(d), 1);
    }
}

#[test]
fn a_silence_start_an_older_version_claimed_is_not_muted_again() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, _, _) = recording_pair(dir.path(), &etcd);
    raise_on_both(&a, &b, 1, "disk");
    let starts = now() + 8;
    let id = make_silence(&a, &silence_body(starts, "rack 4 maintenance", None));
    // An older version claimed the start under `silence-starts/` (on a
    // lease that outlives its station) just before muting: it reads as
    // done.
    let old_claim = format!("/mauved/silence-starts/{id}/{starts}");
    etcd_put(&etcd, &old_claim, b"old", None);
    assert!(
        now() < starts,
        "the claim was written only after the start: the case was not tested"
    );
    both_log(
        &a,
        &b,
        "finds the start done",
        "its alerts were muted already",
    );
    for d in [&a, &b] {
        let until = d.alert("web1", "disk").unwrap()["suppress_until"].as_u64();
        assert!(until.is_none_or(|t| t < starts + 3600), "{until:?}");
        assert_eq!(silenced_lines(d), 0);
    }
}

#[test]
fn a_silence_changed_on_both_stations_at_once_ends_the_same_on_both() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, _, _) = recording_pair(dir.path(), &etcd);
    let starts = now();
    let id = make_silence(&a, &silence_body(starts, "first", None));
    let comment = |d: &Daemon| -> Option<String> {
        Some(silence_on(d, &id)?["comment"].as_str()?.to_owned())
    };
    // Each round, both stations change it at the same moment: whichever
    // version etcd took last, both stations end with the same one.
    for round in 0..5 {
        std::thread::scope(|s| {
            for (d, name) in [(&a, "a"), (&b, "b")] {
                let body = silence_body(starts, &format!("{name} {round}"), Some(&id));
                s.spawn(move || {
                    let (status, answer) = d.post("/api/v2/silences", &body);
                    assert_eq!(status, 200, "{answer}");
                });
            }
        });
        wait_for(WAIT, "both stations keep the same version", || {
            let (on_a, on_b) = (comment(&a)?, comment(&b)?);
            (on_a == on_b && on_a.ends_with(&format!(" {round}"))).then_some(())
        });
    }
}

#[test]
fn a_station_restarted_catches_up_on_actions_from_the_watch_or_a_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, _, _) = recording_pair(dir.path(), &etcd);
    raise_on_both(&a, &b, 1, "disk");
    // An action b has seen, so it keeps how far it got.
    let (status, body) = a.post(
        "/api/alerts/web1/disk/note",
        r#"{"by": "bob", "text": "first"}"#,
    );
    assert_eq!(status, 200, "{body}");
    wait_for(WAIT, "b has the first note", || {
        noted(&b, "first").then_some(())
    });
    let dir_b = dir.path().join("b");
    let config_b = std::fs::read_to_string(dir_b.join("mauved.toml")).unwrap();
    let log_b = || std::fs::read_to_string(dir_b.join("mauved.log")).unwrap_or_default();

    // b away; a note on a; b back: it catches up from the watch.
    assert!(b.stop().success());
    let (status, body) = a.post(
        "/api/alerts/web1/disk/note",
        r#"{"by": "bob", "text": "second"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let b = Daemon::start_config(&dir_b, &config_b);
    wait_for(WAIT, "b caught up on the second note", || {
        noted(&b, "second").then_some(())
    });
    assert!(log_b().contains("catching up on the shared actions from the watch"));

    // b away again; an ack on a, then etcd compacts its history past what b
    // applied: b back catches up by reading every action.
    assert!(b.stop().success());
    let (status, body) = a.post(
        "/api/alerts/web1/disk/acknowledge",
        r#"{"by": "alice", "for": "1h"}"#,
    );
    assert_eq!(status, 200, "{body}");
    // One more action after it, so that the compaction below (at the last
    // revision) is past the ack's revision: a watch may start at the
    // compaction revision itself.
    let (status, body) = a.post(
        "/api/alerts/web1/disk/note",
        r#"{"by": "bob", "text": "third"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let addr = etcd.urls[0].trim_start_matches("http://").parse().unwrap();
    let (_, state) = request(addr, "POST", "/v3/maintenance/status", "{}");
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let revision = state["header"]["revision"].as_str().unwrap().to_owned();
    let (status, body) = request(
        addr,
        "POST",
        "/v3/kv/compaction",
        &format!(r#"{{"revision": "{revision}", "physical": true}}"#),
    );
    assert_eq!(status, 200, "compaction: {body}");
    let b = Daemon::start_config(&dir_b, &config_b);
    wait_for(WAIT, "b caught up on the ack", || {
        (b.alert("web1", "disk")?["acknowledged_by"] == "alice").then_some(())
    });
    assert!(
        log_b().contains("catching up by a full read"),
        "{}",
        log_b()
    );
    drop(a);
}

#[test]
fn an_isolated_station_sends_urgent_messages_itself_after_fail_open_after() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("a.jsonl");
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let d = Daemon::start(
        dir.path(),
        &format!(
            "{}[oncall]\nbatch_window = \"0s\"\n[person.alice]\nops = \"alice\"\nnormal = [\"ops\"]\n\
             rate_limit = {{ count = 1000, within = \"10m\" }}\n\
             [[alert_group]]\nname = \"urgent\"\nlevel = \"urgent\"\nmatch = {{ id = [\"urgent*\"] }}\n\
             [[alert_group.notify]]\nwho = [\"alice\"]\n\
             [[alert_group]]\nname = \"rest\"\nlevel = \"normal\"\n\
             [[alert_group.notify]]\nwho = [\"alice\"]\n\
             [cluster]\nstation = \"a\"\netcd = [\"{nowhere}\"]\nlease_ttl_s = {TTL_S}\nfail_open_after = \"3s\"\n",
            recording_notifier(&notes)
        ),
    );
    let t = now();
    // Normal messages are queued first, more than a look at the queue reads
    // (64): held, they hold nothing behind them.
    let normal: Vec<String> = (1..=70).map(|i| format!("normal{i}")).collect();
    d.send(&packet(
        1,
        "web1",
        normal.iter().map(|id| alert(id, Some(t), None)).collect(),
        false,
    ));
    wait_for(WAIT, "the normal messages held", || {
        (d.metric("mauved_cluster_held") >= 64.0).then_some(())
    });
    d.send(&packet(
        2,
        "web1",
        vec![alert("urgent1", Some(t), None)],
        false,
    ));
    // The urgent one goes out once the station has been isolated 3 s; the
    // normal one stays held.
    wait_for(
        WAIT,
        "the urgent message sent from the isolated station",
        || {
            events(&notes)
                .iter()
                .any(|(_, id)| id == "urgent1")
                .then_some(())
        },
    );
    wait_for(WAIT, "the normal ones held at the gate", || {
        (d.metric("mauved_cluster_held") == 70.0).then_some(())
    });
    assert!(
        !events(&notes)
            .iter()
            .any(|(_, id)| id.starts_with("normal")),
        "{:?}",
        events(&notes)
    );
    wait_for(WAIT, "the history says it was sent while isolated", || {
        let history = d.json("/api/alerts/web1/urgent1/history");
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["result"] == "sent while isolated")
            .then_some(())
    });
}

#[test]
fn a_raise_that_reached_the_stations_either_side_of_a_second_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (a, b, notes_a, notes_b) = recording_pair(dir.path(), &etcd);
    // The same packet (sent "now", corrected for skew by each station's
    // clock) reaches one station in second s and the other in s + 1: their
    // events are a second apart. Once each way round.
    for (tid, id, first, second) in [(1, "a-first", &a, &b), (2, "b-first", &b, &a)] {
        let sent = now();
        let p = packet_at(tid, "web1", vec![alert(id, Some(sent), None)], false, sent);
        let raised = |d: &Daemon| d.alert("web1", id).unwrap()["raised_at"].as_u64().unwrap();
        first.send(&p);
        applied(first, id);
        let at_first = raised(first);
        wait_for(WAIT, "the next second", || (now() > at_first).then_some(()));
        second.send(&p);
        applied(second, id);
        assert!(
            raised(second) > at_first,
            "{id}: the stations saw the raise in the same second"
        );
    }
    wait_for(WAIT, "both delivered by the leader", || {
        (events(&notes_a).len() == 2).then_some(())
    });
    for id in ["a-first", "b-first"] {
        b.quiesce("web1", id);
        a.quiesce("web1", id);
    }
    let mut ids: Vec<String> = events(&notes_a).into_iter().map(|(_, id)| id).collect();
    ids.sort();
    assert_eq!(ids, ["a-first", "b-first"]);
    assert!(events(&notes_b).is_empty(), "{:?}", events(&notes_b));
}

#[test]
fn stations_kept_across_a_new_etcd_cluster_share_the_actions_taken_in_it() {
    let dir = tempfile::tempdir().unwrap();
    for etcd_dir in ["old", "new"] {
        std::fs::create_dir_all(dir.path().join(etcd_dir)).unwrap();
    }
    let etcd = Etcd::start(&dir.path().join("old"));
    let (a, b, _, _) = recording_pair(dir.path(), &etcd);
    raise_on_both(&a, &b, 1, "disk");
    // Many revisions in the old etcd before the last action both applied:
    // what they keep is far ahead of where a new etcd starts.
    for n in 0..300 {
        etcd_put(&etcd, "/elsewhere/n", n.to_string().as_bytes(), None);
    }
    let (status, body) = a.post(
        "/api/alerts/web1/disk/note",
        r#"{"by": "bob", "text": "old etcd"}"#,
    );
    assert_eq!(status, 200, "{body}");
    wait_for(WAIT, "b has the note", || {
        noted(&b, "old etcd").then_some(())
    });
    // Both stations stop; etcd is replaced by a new, empty cluster; both
    // come back to it with their stores.
    let configs: Vec<(PathBuf, String)> = ["a", "b"]
        .iter()
        .map(|name| {
            let dir = dir.path().join(name);
            let config = std::fs::read_to_string(dir.join("mauved.toml")).unwrap();
            (dir, config)
        })
        .collect();
    assert!(b.stop().success());
    assert!(a.stop().success());
    drop(etcd);
    let new = Etcd::start(&dir.path().join("new"));
    let old_list = configs[0]
        .1
        .lines()
        .find(|l| l.starts_with("etcd = "))
        .unwrap()
        .to_owned();
    let restart = |(dir, config): &(PathBuf, String)| {
        Daemon::start_config(
            dir,
            &config.replace(&old_list, &format!("etcd = [{}]", new.toml())),
        )
    };
    let a = restart(&configs[0]);
    let b = restart(&configs[1]);
    for d in [&a, &b] {
        wait_for(WAIT, "the station follows the new etcd's actions", || {
            (d.json("/api/cluster")["sharing_actions"] == true).then_some(())
        });
    }
    // An action taken now is answered (applied by the station that took it)
    // and reaches the other.
    let (status, body) = a.post(
        "/api/alerts/web1/disk/acknowledge",
        r#"{"by": "alice", "for": "1h"}"#,
    );
    assert_eq!(status, 200, "{body}");
    wait_for(WAIT, "b shows the ack", || {
        (b.alert("web1", "disk")?["acknowledged_by"] == "alice").then_some(())
    });
    let log_b = std::fs::read_to_string(dir.path().join("b").join("mauved.log")).unwrap();
    assert!(log_b.contains("a new cluster"), "{log_b}");
}

/// Each station's configuration digest, as `station` sees them.
fn digests(station: &Daemon) -> Option<std::collections::BTreeMap<String, String>> {
    let status = station.json("/api/cluster");
    let seen: std::collections::BTreeMap<String, String> = status["stations"]
        .as_array()?
        .iter()
        .filter_map(|s| {
            Some((
                s["name"].as_str()?.to_owned(),
                s["config_digest"].as_str()?.to_owned(),
            ))
        })
        .collect();
    (seen.len() == 2).then_some(seen)
}

#[test]
fn each_station_shows_the_configuration_digests_so_a_mismatch_is_visible() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let shared = |name: &str| {
        format!(
            "[cluster]\nstation = \"{name}\"\netcd = [{}]\nlease_ttl_s = {TTL_S}\n",
            etcd.toml()
        )
    };
    let a = Daemon::start(&dir_a, &shared("a"));
    let b = Daemon::start(&dir_b, &shared("b"));
    // The same configuration but for what is each station's own: one digest.
    let same = wait_for(WAIT, "both digests, the same", || {
        let seen = digests(&a)?;
        (seen["a"] == seen["b"]).then_some(seen["a"].clone())
    });
    // b reloads with one more person: a sees b's digest change.
    std::fs::write(
        dir_b.join("mauved.toml"),
        test_config(
            &dir_b,
            &format!("{}[person.zed]\nlog = \"zed\"\n", shared("b")),
        ),
    )
    .unwrap();
    let (status, answer) = b.post("/-/reload", "");
    assert_eq!(status, 200, "{answer}");
    wait_for(WAIT, "b's new digest seen by a", || {
        let seen = digests(&a)?;
        (seen["a"] == same && seen["b"] != same).then_some(())
    });
}

/// Routing to alice on both stations, the given notifier before it.
fn alice_on(notifier: &str) -> String {
    format!(
        "{notifier}[oncall]\nbatch_window = \"0s\"\nbase_url = \"https://alerts.example.com\"\n\
         [person.alice]\nops = \"+447700900001\"\nnormal = [\"ops\"]\n\
         [[alert_group]]\nname = \"all\"\nnotify = [{{ who = [\"alice\"] }}]\n"
    )
}

#[test]
fn a_message_link_sent_by_one_station_acknowledges_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let (notes_a, notes_b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let (a, b) = a_leading_b_following(
        dir.path(),
        &etcd,
        &alice_on(&recording_notifier(&notes_a)),
        &alice_on(&recording_notifier(&notes_b)),
    );
    raise_on_both(&a, &b, 1, "disk");
    let link = wait_for(WAIT, "a's message to alice", || {
        notifications(&notes_a)
            .first()
            .and_then(|n| n["action_link"].as_str().map(str::to_owned))
    });
    let path = link
        .strip_prefix("https://alerts.example.com")
        .unwrap()
        .to_owned();
    // b honours it once it holds the secret shared through etcd.
    wait_for(WAIT, "b honours a's link", || {
        (b.get(&path).0 == 200).then_some(())
    });
    let (status, page) = b.post_form(&path, "do=ack1h", None);
    assert_eq!(status, 200, "{page}");
    wait_for(WAIT, "a has the ack by alice", || {
        (a.alert("web1", "disk")?["acknowledged_by"] == "alice").then_some(())
    });
    assert!(
        a.json("/api/alerts/web1/disk/history")
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"]
                .as_str()
                .is_some_and(|t| t.ends_with("by alice via a message link"))),
        "the history on a names the link"
    );
    // Rotated on a: void on both.
    let (status, body) = a.post("/api/links/rotate", "{}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(a.get(&path).0, 404);
    wait_for(WAIT, "b takes the new secret", || {
        (b.get(&path).0 == 404).then_some(())
    });
}

#[test]
fn a_silence_past_its_retention_is_deleted_from_both_stations_and_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::start(dir.path());
    let short = |notes: &Path| {
        format!(
            "{}[silences]\nretention = \"2s\"\n",
            recording_notifier(notes)
        )
    };
    let (a, b) = a_leading_b_following(
        dir.path(),
        &etcd,
        &short(&dir.path().join("a.jsonl")),
        &short(&dir.path().join("b.jsonl")),
    );
    let id = make_silence(&a, &silence_body(now(), "rack 4 maintenance", None));
    wait_for(WAIT, "b keeps it", || silence_on(&b, &id));
    assert_eq!(etcd_range(&etcd, "/mauved/silences/").len(), 1);
    // Ended now: two seconds later it is deleted everywhere.
    let (status, body) = request(a.http, "DELETE", &format!("/api/v2/silence/{id}"), "");
    assert_eq!(status, 200, "{body}");
    wait_for(WAIT, "deleted from etcd and both stations", || {
        (etcd_range(&etcd, "/mauved/silences/").is_empty()
            && silence_on(&a, &id).is_none()
            && silence_on(&b, &id).is_none())
        .then_some(())
    });
}
