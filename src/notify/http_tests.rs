//! Each preset's request for one message, pinned by a golden file
//! (`tests/golden/http/<preset>.txt`: method, URL, headers, body), and
//! the limits each provider documents held for a message too long.

use super::*;
use crate::alert::{EventKind, Level};
use crate::config::http_notifier::{HttpKeys, HttpNotifier as Config, PRESETS};
use crate::notify::payload::tests::{event, message};

fn config(preset: &str) -> Config {
    let keys = HttpKeys {
        preset: Some(preset.into()),
        secret_env: Some("MAUVED_TEST_SECRET_THAT_IS_NOT_SET".into()),
        server: (preset == "matrix").then(|| "https://matrix.example.org".into()),
        params: Some(
            [("account_sid", "AC0123"), ("from", "+15005550006")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ),
        ..HttpKeys::default()
    };
    Config::of("phone".into(), keys).unwrap()
}

/// The notifier with a known secret (the environment is not read).
fn notifier(preset: &str) -> HttpNotifier {
    let mut n = HttpNotifier::new(&config(preset));
    n.secret = Ok("s3cr3t-token".into());
    n
}

/// A person's address on each provider, as that provider spells one.
fn address(preset: &str) -> &'static str {
    match preset {
        "ntfy" => "alerts-alice",
        "pushover" => "uQiRzpo4DXghDmr9QzzfQu27cmVRsG",
        "pagerduty" => "R0123456789ABCDEF0123456789ABCDE",
        "telegram" => "123456789",
        "matrix" => "!ops:example.org",
        "slack" => "https://hooks.slack.com/services/T0/B0/XXXX",
        "teams" => "https://example.webhook.office.com/webhookb2/x",
        "discord" => "https://discord.com/api/webhooks/1/xyz",
        _ => "+447700900001",
    }
}

fn one_raise() -> Message {
    let mut m = message();
    m.events = vec![event("disk", EventKind::Raised, 90)];
    m.level = Some(Level::Urgent);
    m.person = Some("alice".into());
    m.to = Some("alice-address".into());
    m.notifier = "phone".into();
    m.action_link = Some("https://alerts.example.com/a/AQID".into());
    m
}

fn shown(requests: &[Request]) -> String {
    let mut out = String::new();
    for r in requests {
        out.push_str(&format!("{} {}\n", r.method, r.url));
        for (h, v) in &r.headers {
            out.push_str(&format!("{h}: {v}\n"));
        }
        out.push('\n');
        out.push_str(&String::from_utf8_lossy(&r.body));
        out.push_str("\n\n");
    }
    out
}

#[test]
fn each_preset_makes_its_golden_request() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/http");
    let mut differ = Vec::new();
    for (preset, _) in PRESETS {
        let mut m = one_raise();
        m.to = Some(address(preset).into());
        let got = shown(&notifier(preset).requests(&m).unwrap());
        let file = dir.join(format!("{preset}.txt"));
        if std::env::var_os("MAUVED_BLESS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&file, &got).unwrap();
        }
        let want = std::fs::read_to_string(&file).unwrap_or_default();
        if got != want {
            differ.push(format!("{preset}:\n{got}"));
        }
    }
    assert!(
        differ.is_empty(),
        "requests differ from tests/golden/http (MAUVED_BLESS=1 writes them):\n{}",
        differ.join("\n")
    );
}

#[test]
fn a_json_body_is_json_whatever_the_alert_says() {
    let mut m = one_raise();
    m.events[0].alert.summary =
        "quote \" backslash \\ newline \n tab \t {{ secret }} </script>".into();
    m.events[0].alert.detail = "<b>bold</b>\u{0}".into();
    for (preset, _) in PRESETS {
        for r in notifier(preset).requests(&m).unwrap() {
            let ct = r
                .headers
                .iter()
                .find(|(h, _)| h == "Content-Type")
                .map(|(_, v)| v.as_str());
            if ct == Some("application/json") {
                let v: Value =
                    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{preset}: {e}"));
                assert!(
                    !v.to_string().contains("s3cr3t"),
                    "{preset}: text from the alert is not a template"
                );
            }
        }
    }
}

#[test]
fn provider_limits_hold_for_a_long_alert() {
    let mut m = one_raise();
    m.events[0].alert.summary = "x".repeat(20_000);
    m.events[0].alert.detail = "y".repeat(60_000);
    let body = |preset: &str| -> Value {
        let r = notifier(preset).requests(&m).unwrap().remove(0);
        serde_json::from_slice(&r.body).unwrap()
    };
    let chars = |v: &Value| v.as_str().unwrap().chars().count();
    assert!(chars(&body("telegram")["text"]) <= 4096);
    assert!(chars(&body("discord")["content"]) <= 2000);
    assert!(chars(&body("slack")["blocks"][0]["text"]["text"]) <= 3000);
    assert!(chars(&body("pagerduty")["payload"]["summary"]) <= 1024);
    let form = |preset: &str| -> Vec<(String, String)> {
        let r = notifier(preset).requests(&m).unwrap().remove(0);
        form_urlencoded::parse(&r.body).into_owned().collect()
    };
    let field = |f: &[(String, String)], name: &str| {
        f.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.chars().count())
    };
    let pushover = form("pushover");
    assert!(field(&pushover, "message").unwrap() <= 1024);
    assert!(field(&pushover, "title").unwrap() <= 250);
    assert!(field(&form("twilio"), "Body").unwrap() <= 1600);
}

#[test]
fn pagerduty_sends_one_event_per_alert_with_its_dedup_key() {
    let mut m = one_raise();
    m.events.push(event("load", EventKind::Cleared, 50));
    let requests = notifier("pagerduty").requests(&m).unwrap();
    let bodies: Vec<Value> = requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["event_action"], "trigger");
    assert_eq!(bodies[0]["dedup_key"], "web1.example.com/disk");
    assert_eq!(bodies[0]["payload"]["severity"], "critical");
    assert_eq!(bodies[1]["event_action"], "resolve");
    assert_eq!(bodies[1]["dedup_key"], "web1.example.com/load");
    assert!(bodies[1].get("payload").is_none());
}

#[test]
fn a_missing_secret_gives_up_naming_where_it_was_looked_for() {
    let n = HttpNotifier::new(&config("telegram"));
    let err = n.requests(&one_raise()).unwrap_err();
    assert!(err.contains("MAUVED_TEST_SECRET_THAT_IS_NOT_SET"), "{err}");
}

#[test]
fn a_header_that_is_not_ascii_is_an_encoded_word_and_one_line() {
    assert_eq!(header_value("disk full"), "disk full");
    assert_eq!(header_value("a\r\nb"), "a  b");
    assert_eq!(header_value("café"), "=?UTF-8?B?Y2Fmw6k=?=");
    assert_eq!(cut("abcdef".into(), 4), "abc…");
    assert_eq!(cut("abc".into(), 4), "abc");
}
