//! `POST /events`: purppura-style JSON submission to the real daemon.

mod common;

use std::time::Duration;

use common::*;

fn post(d: &Daemon, body: &str) -> (u16, serde_json::Value) {
    let (status, text) = d.post("/events", body);
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn a_purppura_event_is_applied_like_a_packet() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    let d = Daemon::start(dir.path(), &recording_notifier(&notes));
    let (status, body) = post(
        &d,
        r#"{"id": "disk", "subject": "db1", "detail": "<p>full</p>", "raise": "now"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"accepted": 1, "updates": 1}));
    // Answered after it was applied: visible at once, with the client as source.
    let alert = d.alert("127.0.0.1", "disk").unwrap();
    assert_eq!(alert["state"], "raised");
    assert_eq!(alert["subject"], "db1");
    assert_eq!(alert["detail"], "<p>full</p>");
    wait_for(Duration::from_secs(10), "the notification", || {
        (notifications(&notes).len() == 1).then_some(())
    });
    assert_eq!(notifications(&notes)[0]["events"][0]["event"], "raised");
    assert_eq!(d.metric("mauved_events_received_total"), 1.0);

    // "+5m" on a raised alert makes it pending (a heartbeat), "clear" clears.
    let (status, _) = post(&d, r#"{"id": "disk", "raise": "+5m"}"#);
    assert_eq!(status, 200);
    let alert = d.alert("127.0.0.1", "disk").unwrap();
    assert_eq!(alert["state"], "pending");
    assert!(alert["will_raise_at"].as_u64().unwrap() >= now() + 290);
    let (status, _) = post(&d, r#"{"id": "disk", "raise": "clear"}"#);
    assert_eq!(status, 200);
    assert_eq!(d.state("127.0.0.1", "disk").as_deref(), Some("cleared"));
    assert_eq!(
        d.post("/events/", r#"{"id": "slash"}"#).0,
        200,
        "trailing slash too"
    );
}

#[test]
fn arrays_mauve_fields_and_replace() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let t = now();
    let body = format!(
        r#"[{{"id": "a", "source": "web1", "summary": "one", "importance": 90, "raise_time": {t}}},
            {{"id": "b", "source": "web1", "raise_time": {}, "clear_time": {t}}},
            {{"id": "c", "source": "web2", "suppress_until": {}}}]"#,
        t + 600,
        t + 3600
    );
    let (status, reply) = post(&d, &body);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply, serde_json::json!({"accepted": 3, "updates": 2}));
    let a = d.alert("web1", "a").unwrap();
    assert_eq!(
        (
            a["state"].as_str(),
            a["summary"].as_str(),
            a["importance"].as_u64()
        ),
        (Some("raised"), Some("one"), Some(90))
    );
    assert_eq!(d.state("web1", "b").as_deref(), Some("pending"));
    assert_eq!(d.alert("web2", "c").unwrap()["suppress_until"], t + 3600);

    let (status, _) = post(&d, r#"{"source": "web1", "replace": true}"#);
    assert_eq!(status, 200);
    assert_eq!(d.state("web1", "a").as_deref(), Some("cleared"));
    assert_eq!(d.state("web1", "b").as_deref(), Some("pending"));
    assert_eq!(d.state("web2", "c").as_deref(), Some("raised"));
}

#[test]
fn a_bad_element_refuses_the_whole_body() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "[http]\nmax_body_bytes = 2048\n");
    for (body, status, message) in [
        (
            r#"[{"id": "ok"}, {"id": "bad", "raise": "tomorrow"}]"#,
            400,
            "events[1].raise",
        ),
        (
            r#"[{"id": "ok"}, {"subject": "no id"}]"#,
            400,
            "events[1].id: required",
        ),
        (
            r#"{"id": "ok", "nonsense": 1}"#,
            400,
            "events[0].nonsense: unknown field",
        ),
        (r#"{"id": "ok", "raise_time": 1}"#, 400, "3650 days"),
        (r#"{"id": "ok", "source": "<b></b>"}"#, 400, "no source"),
        ("{", 400, "body is not JSON"),
    ] {
        let (got, reply) = post(&d, body);
        assert_eq!(got, status, "{body}: {reply}");
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{body}: {error}");
    }
    let big = format!(r#"{{"id": "big", "detail": "{}"}}"#, "x".repeat(4096));
    let (got, _) = post(&d, &big);
    assert_eq!(got, 413);
    assert_eq!(d.get("/events").0, 405);
    assert_eq!(
        d.json("/api/alerts").as_array().unwrap().len(),
        0,
        "nothing applied"
    );
    assert_eq!(d.metric("mauved_alert_updates_total"), 0.0);
}
