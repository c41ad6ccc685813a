//! Acknowledging from the message itself: the real binary mails a raise to
//! a real SMTP server on 127.0.0.1; the test takes the action link out of
//! the mail and uses it as the person would. GET changes nothing; POST
//! acknowledges as that person and says so in the history; a forged link
//! is 404, an expired one 410, one used after the clear does nothing.

mod common;

use std::time::Duration;

use common::sinks::SmtpSink;
use common::*;

const WAIT: Duration = Duration::from_secs(20);

fn team(smtp: &SmtpSink, links_for: &str) -> String {
    format!(
        r#"
[http]
message_links_for = "{links_for}"

[oncall]
batch_window = "0s"
base_url = "https://alerts.example.com"

[[notifier]]
name = "email"
kind = "smtp"
server = "{smtp}"
from = "mauved@localhost"
timeout_s = 5

[person.alice]
email = "alice@example.com"

[[alert_group]]
name = "web"
level = "urgent"
match = {{ source = ["web*"] }}
notify = [{{ who = ["alice"] }}]
"#,
        smtp = smtp.addr,
    )
}

/// The path of the first action link in a mail for `id` (quoted-printable
/// soft breaks taken out first).
fn link_in_mail(smtp: &SmtpSink, id: &str) -> String {
    let mail = wait_for(WAIT, "the e-mail", || {
        smtp.mails()
            .into_iter()
            .find(|m| m.data.contains(&format!("Subject: {id}: RAISED")))
    });
    let data = mail.data.replace("=\r\n", "").replace("=\n", "");
    let start = data
        .find("https://alerts.example.com/a/")
        .unwrap_or_else(|| panic!("no action link in {data}"))
        + "https://alerts.example.com".len();
    data[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_'))
        .collect()
}

fn history_texts(d: &Daemon, id: &str) -> Vec<String> {
    d.json(&format!("/api/alerts/web1/{id}/history"))
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_link_from_the_mail_shows_without_acting_and_acknowledges_as_its_person() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(true);
    let d = Daemon::start(dir.path(), &team(&smtp, "1d"));
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    let link = link_in_mail(&smtp, "disk");
    assert!(link.len() < 90, "short enough for a text message: {link}");

    // GET shows the alert and the buttons, and changes nothing.
    let (status, page) = d.get(&link);
    assert_eq!(status, 200, "{page}");
    for shown in [
        "disk",
        "web1",
        "alice",
        "for 1 hour",
        "for 4 hours",
        "add the note",
    ] {
        assert!(page.contains(shown), "{shown} in {page}");
    }
    d.quiesce("web1", "disk");
    let shown = d.json("/api/alerts/web1/disk");
    assert!(shown["acknowledged_by"].is_null(), "{shown:#}");
    assert!(!history_texts(&d, "disk")
        .iter()
        .any(|t| t.contains("ACKNOWLEDGED")));

    // A page of another site cannot use it.
    let (status, _) = d.post_form(&link, "do=ack1h", Some("https://evil.example"));
    assert_eq!(status, 403);

    // POST acknowledges, as alice, through the link.
    let (status, page) = d.post_form(&link, "do=ack4h", None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("acknowledged until"), "{page}");
    let shown = d.json("/api/alerts/web1/disk");
    assert_eq!(shown["acknowledged_by"], "alice", "{shown:#}");
    let texts = history_texts(&d, "disk");
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("ACKNOWLEDGED until")
                && t.ends_with("by alice via a message link")),
        "{texts:#?}"
    );
    let (status, page) = d.post_form(&link, "do=note&text=on+it%2C+disk+swap", None);
    assert_eq!(status, 200, "{page}");
    let history = d.json("/api/alerts/web1/disk/history");
    let note = history
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["text"] == "on it, disk swap")
        .unwrap_or_else(|| panic!("the note in {history:#}"));
    assert_eq!(note["by"], "alice");
    let (status, _) = d.post_form(&link, "do=everything", None);
    assert_eq!(status, 400);
    // Pushover's callback: `do` in the link's query, Pushover's own fields
    // in the body (it sends no Origin).
    d.post("/api/alerts/web1/disk/unacknowledge", r#"{"by": "test"}"#);
    let (status, page) = d.post_form(
        &format!("{link}?do=ack1h"),
        "receipt=r4nd0m&acknowledged=1&acknowledged_at=1700000000&acknowledged_by=u123",
        Some(""),
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(d.json("/api/alerts/web1/disk")["acknowledged_by"], "alice");

    // Forged: every character changed in turn is a link nobody made.
    let token_at = link.len() - 20;
    let mut forged = link.clone().into_bytes();
    forged[token_at] = if forged[token_at] == b'x' { b'y' } else { b'x' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(d.get(&forged).0, 404);
    assert_eq!(d.post_form(&forged, "do=ack1h", None).0, 404);
    assert_eq!(d.get("/a/").0, 404);

    // Cleared: the link says so and does nothing.
    d.send(&packet(
        2,
        "web1",
        vec![alert("disk", None, Some(now()))],
        false,
    ));
    wait_for(WAIT, "the clear", || {
        d.json("/api/alerts/web1/disk")["state"]
            .as_str()
            .filter(|s| *s == "cleared")
            .map(|_| ())
    });
    let acks = |d: &Daemon| {
        history_texts(d, "disk")
            .iter()
            .filter(|t| t.starts_with("ACKNOWLEDGED"))
            .count()
    };
    assert_eq!(acks(&d), 2, "the page's and the callback's");
    let (status, page) = d.post_form(&link, "do=ack1h", None);
    assert_eq!(status, 409, "{page}");
    assert!(
        page.contains("the alert has cleared: nothing was done"),
        "{page}"
    );
    let (status, page) = d.get(&link);
    assert_eq!(status, 200);
    assert!(page.contains("nothing to do"), "{page}");
    d.quiesce("web1", "disk");
    assert_eq!(acks(&d), 2, "nothing done after the clear");
    assert!(d.json("/api/alerts/web1/disk")["acknowledged_by"].is_null());

    // A new secret voids every link sent before.
    let (status, body) = d.post("/api/links/rotate", "{}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(d.get(&link).0, 404);
}

#[test]
fn an_expired_link_is_gone_and_names_the_alerts_page() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(true);
    let d = Daemon::start(dir.path(), &team(&smtp, "1s"));
    d.send(&packet(
        1,
        "web1",
        vec![alert("load", Some(now()), None)],
        false,
    ));
    let link = link_in_mail(&smtp, "load");
    // The link expires a second after the raise: wait for that, not a time.
    let body = wait_for(WAIT, "the link to expire", || {
        let (status, body) = d.get(&link);
        (status == 410).then_some(body)
    });
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["page"], "/alerts/web1/load", "{body:#}");
    assert_eq!(d.post_form(&link, "do=ack1h", None).0, 410);
    assert!(d.json("/api/alerts/web1/load")["acknowledged_by"].is_null());
}

#[test]
fn links_turned_off_are_in_no_message_and_no_link_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let sent = dir.path().join("sent.jsonl");
    let d = Daemon::start(
        dir.path(),
        &format!(
            "{}[http]\nmessage_links = false\n[oncall]\nbatch_window = \"0s\"\n\
             base_url = \"https://alerts.example.com\"\n[person.alice]\nops = \"+447700900001\"\n\
             normal = [\"ops\"]\n[[alert_group]]\nname = \"all\"\nnotify = [{{ who = [\"alice\"] }}]\n",
            recording_notifier(&sent)
        ),
    );
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    let message = wait_for(WAIT, "the message", || {
        notifications(&sent).into_iter().next()
    });
    assert!(message.get("action_link").is_none(), "{message:#}");
    let text = message["text"].as_str().unwrap();
    assert!(
        text.ends_with("https://alerts.example.com/alerts/web1/disk"),
        "the page's link instead: {text}"
    );
    // A token made with the station's secret would be refused too: with
    // links off, every /a/ is 404.
    assert_eq!(d.get("/a/AQID").0, 404);
}
