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
fn against_a_running_daemon_it_leaves_the_station_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    // The station's own alerts: one raised, one cleared, one pending.
    let t = now();
    d.send(&packet(
        1,
        "web1",
        vec![
            alert("disk", Some(t), None),
            alert("load", Some(t), Some(t)),
            alert("hb", Some(t + 600), Some(t)),
        ],
        false,
    ));
    let before = wait_for(
        std::time::Duration::from_secs(10),
        "the station's alerts",
        || {
            let counts = d.json("/api/counts");
            (counts["raised"] == 1 && counts["cleared"] == 1 && counts["pending"] == 1)
                .then_some(counts)
        },
    );
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
    assert!(text.contains("forgot      200 alerts"), "{text}");
    assert_eq!(d.json("/api/counts"), before, "the counts are as before");
    let alerts = d.json("/api/alerts?limit=1000");
    let left: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["source"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["web1", "web1", "web1"], "only the station's own");
}

#[test]
fn with_a_token_it_forgets_on_a_daemon_that_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let token = "0123456789abcdef0123456789abcdef";
    let d = Daemon::start(
        dir.path(),
        &format!("[[http.token]]\nname = \"bench\"\ntoken = \"{token}\"\n"),
    );
    let (udp, http) = (d.udp.to_string(), d.http.to_string());
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut all = vec![
            "--udp".to_owned(),
            udp.clone(),
            "--http".to_owned(),
            http.clone(),
        ];
        all.extend(extra.iter().map(|s| s.to_string()));
        all.extend(
            [
                "rate",
                "1000",
                "--keys",
                "50",
                "--ids",
                "5",
                "--duration",
                "1",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        all
    };
    let refused = Command::new(env!("CARGO_BIN_EXE_mauved-load"))
        .args(args(&[]))
        .output()
        .unwrap();
    assert!(!refused.status.success(), "no token: it says so");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--token"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let given = args(&["--token", token]);
    let text = load(&given.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(text.contains("forgot      50 alerts"), "{text}");
    let counts = d.json("/api/counts");
    assert_eq!(counts["pending"], 0, "{counts}");
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
