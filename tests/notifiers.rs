//! The real binary routing alerts to people through real notifiers: an
//! SMTP server and an HTTP receiver started by the test on 127.0.0.1 get a
//! real e-mail and a real Alertmanager webhook; reminders follow `every`;
//! a message queued before `kill -9` is delivered once after the restart.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::sinks::{HttpSink, SmtpSink};
use common::*;

const WAIT: Duration = Duration::from_secs(20);

fn team(smtp: &SmtpSink, http: &HttpSink, every: &str) -> String {
    format!(
        r#"
[oncall]
batch_window = "0s"
base_url = "https://alerts.example.com"

[[notifier]]
name = "email"
kind = "smtp"
server = "{smtp}"
from = "mauved@localhost"
timeout_s = 5

[[notifier]]
name = "chat"
kind = "webhook"
format = "alertmanager"
timeout_s = 5

[person.alice]
email = "alice@example.com"
chat = "http://{http}/hooks/alice"
urgent = ["email", "chat"]

[person.bob]
email = "bob@example.com"

[[alert_group]]
name = "web"
level = "urgent"
match = {{ source = ["web*"] }}
notify = [{{ who = ["alice"] {every} }}]

[[alert_group]]
name = "rest"
notify = [{{ who = ["bob"] }}]
"#,
        smtp = smtp.addr,
        http = http.addr,
    )
}

fn mails_to(smtp: &SmtpSink, to: &str, containing: &str) -> usize {
    smtp.mails()
        .iter()
        .filter(|m| m.to == [to] && m.data.contains(containing))
        .count()
}

#[test]
fn a_raise_reaches_a_real_mailbox_and_webhook_and_the_reminder_follows() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(true);
    let http = HttpSink::start();
    let d = Daemon::start(dir.path(), &team(&smtp, &http, r#", every = "2s""#));
    let t = now();
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(t), None)],
        false,
    ));

    let mail = wait_for(WAIT, "the e-mail", || {
        smtp.mails().into_iter().find(|m| m.data.contains("RAISED"))
    });
    assert_eq!(mail.to, ["alice@example.com"]);
    assert!(mail.from.contains("mauved@localhost"), "{mail:?}");
    assert!(
        mail.data.contains("Subject: disk: RAISED (urgent)"),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains("https://alerts.example.com/alerts/web1/disk"),
        "{}",
        mail.data
    );
    let hit = wait_for(WAIT, "the webhook", || http.hits().into_iter().next());
    assert_eq!(hit.path, "/hooks/alice");
    let body: serde_json::Value = serde_json::from_str(&hit.body).unwrap();
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "alice");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "disk");
    assert_eq!(body["alerts"][0]["labels"]["source"], "web1");

    // The reminder comes `every` (2 s) later, on both notifiers.
    wait_for(WAIT, "the reminder e-mail", || {
        (mails_to(&smtp, "alice@example.com", "REMINDER") >= 1).then_some(())
    });
    wait_for(WAIT, "the reminder webhook", || {
        (http.hits().len() >= 2).then_some(())
    });

    // An alert of another group goes to bob, by e-mail only.
    d.send(&packet(2, "db1", vec![alert("load", Some(t), None)], false));
    wait_for(WAIT, "bob's e-mail", || {
        (mails_to(&smtp, "bob@example.com", "RAISED") == 1).then_some(())
    });

    // Every attempt is in the alert's history.
    let history = d.json("/api/alerts/web1/disk/history");
    let lines = history.as_array().unwrap();
    assert_eq!(lines[0]["kind"], "update");
    assert!(
        lines[0]["text"].as_str().unwrap().starts_with("RAISED"),
        "{history:#}"
    );
    for notifier in ["email", "chat"] {
        assert!(
            lines
                .iter()
                .any(|l| l["notifier"] == notifier && l["result"] == "delivered"),
            "{notifier} delivered in {history:#}"
        );
    }
    assert!(d.metric("mauved_messages_total{notifier=\"email\",result=\"delivered\"}") >= 2.0);
    let (status, _) = d.get("/api/alerts/web1/nothing/history");
    assert_eq!(status, 404);
}

#[test]
fn a_message_queued_before_kill_9_is_delivered_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    // The mail server is down: the e-mail stays queued, retried.
    let smtp = SmtpSink::start(false);
    let http = HttpSink::start();
    let config = team(&smtp, &http, "");
    let d = Daemon::start(dir.path(), &config);
    let t = now();
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(t), None)],
        false,
    ));
    wait_for(WAIT, "a failed attempt", || {
        (d.metric("mauved_messages_total{notifier=\"email\",result=\"retried\"}") >= 1.0)
            .then_some(())
    });
    assert_eq!(d.metric("mauved_notify_queue_depth"), 1.0);
    d.kill();

    smtp.accepting.store(true, Ordering::SeqCst);
    let d = Daemon::start(dir.path(), &config);
    wait_for(WAIT, "the e-mail after the restart", || {
        (mails_to(&smtp, "alice@example.com", "RAISED") == 1).then_some(())
    });
    wait_for(WAIT, "the queue drained", || {
        (d.metric("mauved_notify_queue_depth") == 0.0).then_some(())
    });
    // Once: nothing more comes once everything queued is settled.
    d.quiesce("web1", "disk");
    assert_eq!(smtp.mails().len(), 1, "{:#?}", smtp.mails());
    assert_eq!(
        http.hits().len(),
        1,
        "the webhook went out in the first life"
    );
}

#[test]
fn the_example_configuration_passes_check_config() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(["check-config", "config/example.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("config/example.toml: ok"), "{stdout}");
}

#[test]
fn a_webhook_that_fails_or_hangs_is_retried_until_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(true);
    let http = HttpSink::start();
    // First it never answers (the 1 s timeout gives up on the attempt),
    // then it answers 500, then it works.
    http.status.store(0, Ordering::SeqCst);
    let config =
        team(&smtp, &http, "").replace("timeout_s = 5\n\n[person", "timeout_s = 1\n\n[person");
    let d = Daemon::start(dir.path(), &config);
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    let retried = |n: f64| {
        wait_for(WAIT, &format!("{n} failed webhook attempts"), || {
            (d.metric("mauved_messages_total{notifier=\"chat\",result=\"retried\"}") >= n)
                .then_some(())
        })
    };
    retried(1.0);
    http.status.store(500, Ordering::SeqCst);
    retried(2.0);
    assert!(http.hits().is_empty());
    // The e-mail went out meanwhile: one notifier does not hold up another.
    assert_eq!(mails_to(&smtp, "alice@example.com", "RAISED"), 1);
    http.status.store(200, Ordering::SeqCst);
    let hit = wait_for(WAIT, "the webhook once it works", || {
        http.hits().into_iter().next()
    });
    let body: serde_json::Value = serde_json::from_str(&hit.body).unwrap();
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "disk");
}
