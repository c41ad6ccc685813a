//! `mauved-load` against a daemon: it must leave no mess behind.

mod common;

use std::process::Command;

use common::*;

/// Runs `mauved-load` with `args`; it must succeed. Returns what it printed.
fn load(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mauved-load"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn against_a_running_daemon_everything_sent_is_cleared_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let (udp, http) = (d.udp.to_string(), d.http.to_string());
    let text = load(&[
        "--udp",
        &udp,
        "--http",
        &http,
        "rate",
        "2000",
        "--keys",
        "200",
        "--ids",
        "10",
        "--duration",
        "1",
    ]);
    assert!(text.contains("applied") && text.contains("ratio"), "{text}");
    assert!(text.contains("cleared     200 alerts"), "{text}");
    wait_for(
        std::time::Duration::from_secs(10),
        "every alert cleared",
        || {
            let counts = d.json("/api/counts");
            (counts["cleared"] == 200).then_some(counts)
        },
    );
    let counts = d.json("/api/counts");
    assert_eq!(counts["pending"], 0, "no heartbeat left to fire later");
    assert_eq!(counts["raised"], 0);
    let alerts = d.json("/api/alerts?limit=1000");
    assert!(alerts
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["will_raise_at"].is_null()));
}

#[test]
fn by_default_it_starts_and_stops_a_daemon_of_its_own() {
    let text = load(&["blast", "--keys", "500", "--ids", "10", "--duration", "1"]);
    for line in [
        "sent ",
        "received ",
        "applied ",
        "daemon RSS",
        "sink ",
        "ratio ",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    assert!(
        !text.contains("cleared"),
        "its own daemon is simply stopped"
    );
}
