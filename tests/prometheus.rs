//! Prometheus and `amtool` talking to mauved as to an Alertmanager: Debian's
//! `prometheus` (2.42) sends its alerts to the real binary, and Debian's
//! `amtool` (Alertmanager 0.25) queries alerts and makes, lists and expires
//! silences, beside alerts that `mauvesend`'s packets raise.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{alert, events, packet, wait_for, Client, Daemon};

/// The id mauved gives the always-firing rule's alert (its labels but
/// `instance`, sorted).
const FIRING: &str = "AlwaysFiring{severity=\"critical\"}";
const KEEPS: &str = "KeepsFiring{severity=\"warning\"}";

fn rules(always_fires: bool) -> String {
    let expr = if always_fires {
        "vector(1)"
    } else {
        "vector(1) == 2"
    };
    format!(
        r#"groups:
  - name: test
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: {expr}
        labels:
          severity: critical
          instance: web9
        annotations:
          summary: always firing
          runbook: https://example.com/runbook
      - alert: KeepsFiring
        expr: vector(1)
        labels:
          severity: warning
          instance: web8
        annotations:
          description: fires until Prometheus stops
"#
    )
}

struct Prometheus(Child);

impl Prometheus {
    fn start(dir: &Path, mauved: std::net::SocketAddr) -> Prometheus {
        std::fs::write(dir.join("rules.yml"), rules(true)).unwrap();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  evaluation_interval: 1s\nrule_files: ['{}']\nalerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs:\n        - targets: ['{mauved}']\n",
                dir.join("rules.yml").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            // Prometheus 2.42 waits a minute between sends by default.
            .arg("--rules.alert.resend-delay=2s")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("Debian's prometheus is installed (.ci/run installs it)");
        Prometheus(child)
    }

    /// Reloads the rules (SIGHUP), as an operator would after editing them.
    fn reload(&self, dir: &Path, always_fires: bool) {
        std::fs::write(dir.join("rules.yml"), rules(always_fires)).unwrap();
        let status = Command::new("kill")
            .args(["-HUP", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs amtool against mauved; its standard output.
fn amtool(daemon: &Daemon, args: &[&str]) -> String {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url=http://{}", daemon.http))
        .args(args)
        .output()
        .expect("Debian's amtool is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "amtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn path_of(source: &str, id: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!("{}/{}", enc(source), enc(id))
}

fn told(file: &Path, event: &str, id: &str) -> usize {
    events(file)
        .iter()
        .filter(|(e, i)| e == event && i == id)
        .count()
}

#[test]
fn prometheus_alerts_raise_resolve_and_lapse_and_amtool_silences_mauvesend_raises() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("told.jsonl");
    let daemon = Daemon::start(
        dir.path(),
        &format!(
            "[oncall]\nbatch_window = \"0s\"\n{}",
            common::recording_notifier(&log)
        ),
    );
    let prometheus = Prometheus::start(dir.path(), daemon.http);

    // The rule fires: a raised alert with the mapped source, id, summary
    // and importance, told once however often Prometheus sends it again.
    let firing = wait_for(Duration::from_secs(90), "Prometheus's alert raised", || {
        daemon
            .alert("web9", FIRING)
            .filter(|a| a["state"] == "raised")
    });
    assert_eq!(firing["subject"], "web9");
    assert_eq!(firing["summary"], "always firing");
    assert_eq!(firing["importance"], 90);
    let (_, body) = daemon.get(&format!("/api/alerts/{}", path_of("web9", FIRING)));
    assert!(body.contains("runbook"), "{body}");
    wait_for(Duration::from_secs(30), "the raise told", || {
        (told(&log, "raised", FIRING) == 1).then_some(())
    });
    // Three more sends (every 2 s) change nothing.
    let sends = daemon.metric("mauved_events_received_total");
    wait_for(Duration::from_secs(30), "three more sends", || {
        (daemon.metric("mauved_events_received_total") >= sends + 6.0).then_some(())
    });
    daemon.quiesce("web9", FIRING);
    assert_eq!(told(&log, "raised", FIRING), 1);

    // amtool lists Prometheus's alerts and mauvesend's alike.
    daemon.send(&packet(1, "web1", vec![alert("disk", None, None)], false));
    daemon.wait_state("web1", "disk", "raised");
    let listed = amtool(&daemon, &["alert", "query"]);
    for want in ["AlwaysFiring", "KeepsFiring", "disk"] {
        assert!(listed.contains(want), "{want} in\n{listed}");
    }

    // The expression changed to match nothing and Prometheus reloaded: it
    // sends the alert resolved, which clears it (and says so once).
    prometheus.reload(dir.path(), false);
    daemon.wait_state("web9", FIRING, "cleared");
    wait_for(Duration::from_secs(30), "the clear told", || {
        (told(&log, "cleared", FIRING) == 1).then_some(())
    });

    // Prometheus killed while an alert fires sends nothing more: the alert
    // clears when its endsAt passes, not before.
    let keeps = daemon.wait_state("web8", KEEPS, "raised");
    assert_eq!(keeps["importance"], 60);
    assert_eq!(keeps["summary"], "fires until Prometheus stops");
    let mut prometheus = prometheus;
    prometheus.0.kill().unwrap();
    prometheus.0.wait().unwrap();
    let ends = daemon.alert("web8", KEEPS).unwrap()["will_clear_at"]
        .as_u64()
        .expect("a firing alert clears at its endsAt");
    let cleared = wait_for(Duration::from_secs(60), "the alert lapsed", || {
        daemon
            .alert("web8", KEEPS)
            .filter(|a| a["state"] == "cleared")
    });
    assert!(
        cleared["cleared_at"].as_u64().unwrap() >= ends,
        "cleared at its endsAt {ends}: {cleared}"
    );

    // A silence on source=web1 made with amtool mutes a mauvesend raise.
    let id = amtool(
        &daemon,
        &[
            "silence",
            "add",
            "source=web1",
            "--duration=1h",
            "--author=alice",
            "--comment=rack 4 maintenance",
        ],
    );
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "a silence id: {id:?}");
    daemon.send(&packet(2, "web1", vec![alert("load", None, None)], false));
    daemon.wait_state("web1", "load", "raised");
    daemon.quiesce("web1", "load");
    assert_eq!(
        told(&log, "raised", "load"),
        0,
        "nothing sent while silenced"
    );
    let muted = daemon.json("/api/v2/alerts?filter=alertname%3D%22load%22");
    assert_eq!(muted[0]["status"]["state"], "suppressed", "{muted}");
    assert_eq!(muted[0]["status"]["silencedBy"][0], id.as_str(), "{muted}");
    // amtool's default query leaves silenced alerts out.
    assert!(!amtool(&daemon, &["alert", "query", "alertname=load"]).contains("load"));
    let history = daemon.json(&format!("/api/alerts/{}/history", path_of("web1", "load")));
    assert!(
        history
            .to_string()
            .contains("SILENCED by alice: rack 4 maintenance"),
        "{history}"
    );
    let query = amtool(&daemon, &["silence", "query"]);
    assert!(
        query.contains(&id) && query.contains("rack 4 maintenance"),
        "{query}"
    );
    // `mauved route` names the silence, given the daemon to ask.
    let route = Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(["route", "--config"])
        .arg(dir.path().join("mauved.toml"))
        .args(["--source", "web1", "--id", "load", "--url"])
        .arg(format!("http://{}", daemon.http))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&route.stdout);
    assert!(
        text.contains(&format!(
            "muted by silence {}: rack 4 maintenance (by alice)",
            &id[..8]
        )),
        "{text}{}",
        String::from_utf8_lossy(&route.stderr)
    );

    // Expired: the raise is told, once.
    amtool(&daemon, &["silence", "expire", &id]);
    wait_for(
        Duration::from_secs(30),
        "the raise told after the silence",
        || (told(&log, "raised", "load") == 1).then_some(()),
    );
    daemon.quiesce("web1", "load");
    assert_eq!(told(&log, "raised", "load"), 1);
    // web1/disk was told before the silence and nothing changed: no message.
    assert_eq!(told(&log, "raised", "disk"), 1);
    let after = amtool(&daemon, &["silence", "query", "--expired"]);
    assert!(after.contains(&id), "{after}");
}
