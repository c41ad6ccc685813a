//! Heartbeats over HTTP from anything that can run curl: the README's
//! crontab line, systemd units and Kubernetes CronJob, run as written
//! (the job replaced by `true` or `false`, the host by the test's daemon,
//! which is the real binary), and what each made of the alert. Then the
//! edges: start and success, an exit status, a wrong key, a source the key
//! may not ping, no `every`, a body too large, too many pings.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const KEY: &str = "0123456789abcdef";
const WAIT: Duration = Duration::from_secs(20);

fn config() -> String {
    format!(
        "[ping]\nper_key_per_minute = 40\n[[ping.key]]\nname = \"db-hosts\"\nkey = \"{KEY}\"\n\
         sources = [\"db*\", \"k8s\"]\n[[ping.rule]]\nid = [\"backup*\"]\nevery = \"1d\"\ngrace = \"30m\"\n"
    )
}

/// The README's line that starts with `start` (trimmed), and what follows.
fn readme_line(start: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    readme
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(start))
        .unwrap_or_else(|| panic!("no README line starting {start:?}"))
        .to_owned()
}

/// Runs a README command with the daemon as the host.
fn run(d: &Daemon, command: &str) -> std::process::ExitStatus {
    let command = command.replace(
        "https://mauved.example.com:1288",
        &format!("http://{}", d.http),
    );
    Command::new("sh")
        .args(["-c", &command])
        .current_dir(tempfile::tempdir().unwrap().path())
        .status()
        .unwrap()
}

fn history(d: &Daemon, source: &str, id: &str) -> String {
    d.get(&format!("/api/alerts/{source}/{id}/history")).1
}

#[test]
fn the_readmes_cron_systemd_and_kubernetes_examples_work_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &config());

    // cron: the job worked, so the ping went: the alert is cleared and
    // pending, raised a day and the rule's 30 min grace later unless
    // pinged again.
    let cron = readme_line("30 2 * * * root ");
    let before = now();
    assert!(run(&d, &cron.replace("/usr/local/sbin/backup-db", "true")).success());
    let alert = d.wait_state("db1", "backup", "pending");
    assert!(alert["cleared_at"].is_u64(), "{alert:#}");
    let due = alert["will_raise_at"].as_u64().unwrap();
    assert!(
        (before + 86_400 + 1_800..=now() + 86_400 + 1_800).contains(&due),
        "{alert:#}"
    );

    // systemd: the success after the run, then the failure unit.
    let post = readme_line("ExecStartPost=");
    assert!(run(&d, &post).success());
    let failed = readme_line("ExecStart=/usr/bin/curl")
        .replace("%H", "db1")
        .replace("%i", "backup.service");
    assert!(run(&d, &format!("/usr/bin/curl{failed}")).success());
    let alert = d.wait_state("db1", "backup.service", "raised");
    assert_eq!(alert["summary"], "failed", "{alert:#}");

    // Kubernetes: the job's output becomes the detail of the failure.
    let job = readme_line("- /app/report");
    let job = format!("/app/report{job}");
    assert!(run(&d, &job.replace("/app/report", "true")).success());
    d.wait_state("k8s", "report", "pending");
    let broken = job.replacen("/app/report", "(echo the report broke; false)", 1);
    assert!(run(&d, &broken).success());
    let alert = d.wait_state("k8s", "report", "raised");
    assert!(
        alert["detail"]
            .as_str()
            .unwrap()
            .contains("the report broke"),
        "{alert:#}"
    );
}

#[test]
fn a_run_started_says_its_length_and_an_exit_status_raises() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &config());
    let ping = |path: &str| d.get(&format!("/ping/{KEY}/{path}"));
    assert_eq!(ping("db1/job/start?every=1h").0, 200);
    let alert = d.wait_state("db1", "job", "pending");
    assert!(
        alert["will_raise_at"].as_u64().unwrap() <= now() + 300,
        "raised if no success within the grace"
    );
    assert_eq!(ping("db1/job?every=1h").0, 200);
    wait_for(WAIT, "the run's length in the history", || {
        history(&d, "db1", "job")
            .contains("the run took")
            .then_some(())
    });
    assert_eq!(ping("db1/job/3?every=1h").0, 200);
    let alert = d.wait_state("db1", "job", "raised");
    assert_eq!(alert["summary"], "failed: exit status 3");
    assert_eq!(ping("db1/job/0?every=1h").0, 200);
    d.wait_state("db1", "job", "pending");
}

#[test]
fn a_wrong_key_another_source_no_period_or_too_much_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &config());
    // The same 404 whether the key or the source is wrong: nothing said why.
    let (wrong_key, body_a) = d.get("/ping/0123456789abcdeX/db1/backup");
    let (wrong_source, body_b) = d.get(&format!("/ping/{KEY}/web1/backup"));
    assert_eq!((wrong_key, wrong_source), (404, 404));
    assert_eq!(body_a, body_b);
    assert_eq!(d.get(&format!("/ping/{KEY}/db1/nightly/maybe")).0, 404);
    let (status, body) = d.get(&format!("/ping/{KEY}/db1/nightly"));
    assert_eq!(status, 400, "no rule and no ?every=: {body}");
    assert!(body.contains("every"), "{body}");
    let (status, _) = d.post(
        &format!("/ping/{KEY}/db1/backup"),
        &"x".repeat(10 * 1024 + 1),
    );
    assert_eq!(status, 413);
    assert!(d.alert("web1", "backup").is_none() && d.alert("db1", "nightly").is_none());
    // The key is a secret: the status API does not show it.
    let (status, shown) = d.get("/api/v2/status");
    assert_eq!(status, 200);
    assert!(
        shown.contains("db-hosts") && !shown.contains(KEY),
        "{shown}"
    );
    // More than per_key_per_minute (40) in a minute: 429.
    let limited = (0..100).find(|_| d.get(&format!("/ping/{KEY}/db1/backup")).0 == 429);
    assert!(limited.is_some(), "never limited");
}

#[test]
fn listen_allow_sources_holds_for_pings() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_listening(dir.path(), "allow_sources = [\"10.0.0.0/8\"]", &config());
    let (status, body) = d.get(&format!("/ping/{KEY}/db1/backup"));
    assert_eq!(status, 403, "{body}");
    assert!(d.alert("db1", "backup").is_none());
}
