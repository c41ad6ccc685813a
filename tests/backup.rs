//! `mauved backup` from a running station under load, `mauved restore` into
//! a new data directory: the restored station has the same alerts,
//! acknowledgements, history and queued messages.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;

const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

fn mauved(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(args)
        .output()
        .unwrap()
}

/// `mauved restore --from FROM --data DATA`.
fn restore(from: &std::path::Path, data: &std::path::Path) -> std::process::Output {
    mauved(&[
        "restore",
        "--from",
        from.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ])
}

/// What the test compares: each of the fixed alerts' state and who
/// acknowledged it, and the first alert's history but its retries.
fn picture(d: &Daemon) -> (Vec<(String, String)>, Vec<String>) {
    let alerts = (0..100)
        .map(|i| {
            let a = d.alert("web1", &format!("a{i}")).expect("the alert");
            (
                a["state"].as_str().unwrap().to_owned(),
                a["acknowledged_by"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let history = d.json("/api/alerts/web1/a0/history");
    // Delivery attempts go on (the notifier always fails): not compared.
    let lines = history
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap_or("").to_owned())
        .filter(|l| !l.starts_with("retry:"))
        .collect();
    (alerts, lines)
}

#[test]
fn a_backup_taken_under_load_restores_the_same_station() {
    let dir = tempfile::tempdir().unwrap();
    // A notifier that always fails: the raises' messages stay queued.
    let d = Daemon::start(dir.path(), &failing_notifier());
    let alerts: Vec<_> = (0..100)
        .map(|i| alert(&format!("a{i}"), Some(now()), None))
        .collect();
    d.send(&packet(1, "web1", alerts, false));
    d.wait_state("web1", "a99", "raised");
    for i in 0..10 {
        let (status, body) = d.post(
            &format!("/api/alerts/web1/a{i}/acknowledge"),
            r#"{"by": "alice", "for_s": 86400}"#,
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = d.post(
        "/api/alerts/web1/a0/note",
        r#"{"by": "alice", "text": "fan replaced"}"#,
    );
    assert_eq!(status, 200, "{body}");
    wait_for(WAIT, "messages queued", || {
        (d.metric("mauved_notify_queue_depth") > 0.0).then_some(())
    });
    let before = picture(&d);
    let queued = d.metric("mauved_notify_queue_depth");

    // Heartbeats keep arriving while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let to = d.udp;
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut tid = 1_000;
            let started = std::time::Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < WAIT {
                let beat = alert(&format!("beat{}", tid % 500), Some(now() + 300), None);
                let _ = socket.send_to(&packet(tid, "load", vec![beat], false), to);
                tid += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let file = dir.path().join("station.backup");
    let out = mauved(&[
        "backup",
        "--url",
        &format!("http://{}", d.http),
        "--to",
        file.to_str().unwrap(),
    ]);
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d.stop().success());

    // Into a data directory that holds something: refused.
    let restored = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(restored.path().join("data/x")).unwrap();
    let out = restore(&file, &restored.path().join("data"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    std::fs::remove_dir_all(restored.path().join("data")).unwrap();
    // A cut file: refused.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    let out = restore(&cut, &restored.path().join("cut-data"));
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = restore(&file, &restored.path().join("data"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = Daemon::start(restored.path(), &failing_notifier());
    assert_eq!(picture(&again), before);
    assert!(
        before.1.iter().any(|l| l.contains("fan replaced")),
        "{:?}",
        before.1
    );
    assert_eq!(again.metric("mauved_notify_queue_depth"), queued);
}
