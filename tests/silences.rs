//! Silences over time, in-process on the manual clock: a silence made
//! through the v2 API mutes matching alerts (mauvesend's as any), survives
//! a restart, follows its span when the clock steps, starts when a pending
//! one's time comes, and when it ends people hear the difference from what
//! they were last told, as after a suppression.

mod common;

use common::timeline::Timeline;
use common::{request, Client};

/// Monday 2026-11-23 08:00 UTC.
const MON_8: u64 = 1_795_420_800;
const MIN: u64 = 60;
const HOUR: u64 = 3_600;

const CONFIG: &str = r#"
[person.alice]
sms = "+447700900001"
urgent = ["sms"]

[[alert_group]]
name = "all"
level = "urgent"
notify = [{ who = ["alice"] }]
"#;

fn rfc3339(t: u64) -> String {
    jiff::Timestamp::from_second(t as i64).unwrap().to_string()
}

/// Makes a silence on `source` from `from` to `until`; its id.
fn silence(t: &Timeline, source: &str, from: u64, until: u64) -> String {
    let body = serde_json::json!({
        "matchers": [{"name": "source", "value": source, "isRegex": false, "isEqual": true}],
        "startsAt": rfc3339(from),
        "endsAt": rfc3339(until),
        "createdBy": "alice",
        "comment": "rack 4 maintenance",
    });
    let (status, answer) = t.d().post("/api/v2/silences", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    answer["silenceID"].as_str().unwrap().to_owned()
}

fn state(t: &Timeline, id: &str) -> String {
    t.d().json(&format!("/api/v2/silence/{id}"))["status"]["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_silence_mutes_like_a_suppression_survives_a_restart_and_follows_the_clock() {
    let mut t = Timeline::new(CONFIG, MON_8);
    let id = silence(&t, "web1", MON_8, MON_8 + HOUR);
    assert_eq!(state(&t, &id), "active");
    // A raise it matches is muted; one it does not is told.
    t.raise("web1", "disk");
    t.raise("web2", "disk");
    t.want(&[("alice", "sms", &["raised disk"])]);
    t.nothing();
    let history = t.d().history("web1", "disk");
    assert!(
        history
            .iter()
            .any(|h| h.text.starts_with("SILENCED by alice: rack 4 maintenance")),
        "{history:?}"
    );
    // Kept across a restart.
    t.restart();
    assert_eq!(state(&t, &id), "active");
    let listed = t.d().json("/api/v2/silences");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["createdBy"], "alice");
    t.at(30 * MIN);
    t.raise("web1", "load");
    t.nothing();
    // The clock stepped back before the silence's start: it is pending
    // again, then active again when the clock comes back.
    t.clock.set_ms((MON_8 - HOUR) * 1000);
    assert_eq!(state(&t, &id), "pending");
    t.step_to(40 * MIN);
    assert_eq!(state(&t, &id), "active");
    t.nothing();
    // At its end, people hear what they missed: both raises, once (the
    // second with storm batching's next message, 30 s on).
    t.at(HOUR + MIN);
    let mut got: Vec<String> = t
        .new_messages()
        .into_iter()
        .flat_map(|g| g.events)
        .collect();
    got.sort();
    assert_eq!(got, ["raised disk", "raised load"]);
    assert_eq!(state(&t, &id), "expired");
    t.at(2 * HOUR);
    t.nothing();
}

/// The history lines a silence wrote on an alert.
fn silenced_lines(t: &Timeline, source: &str, id: &str) -> usize {
    t.d()
        .history(source, id)
        .iter()
        .filter(|h| h.text.starts_with("SILENCED by alice: rack 4 maintenance"))
        .count()
}

#[test]
fn a_silence_that_starts_while_the_daemon_is_down_mutes_when_it_is_back_once() {
    let mut t = Timeline::new(CONFIG, MON_8);
    t.raise("web3", "load");
    t.want(&[("alice", "sms", &["raised load"])]);
    let id = silence(&t, "web3", MON_8 + HOUR, MON_8 + 2 * HOUR);
    // Down from before its start until after it.
    t.down_until(HOUR + MIN);
    assert_eq!(state(&t, &id), "active");
    common::wait_for(
        std::time::Duration::from_secs(10),
        "web3/load muted once the daemon is back",
        || {
            t.d()
                .alert("web3", "load")
                .filter(|a| a["suppress_until"] == MON_8 + 2 * HOUR)
        },
    );
    // The history line is written a moment after the index is changed.
    t.d().settle();
    assert_eq!(silenced_lines(&t, "web3", "load"), 1);
    // Let go of by hand: its start was recorded as muted, so a restart
    // does not mute it again.
    let (status, body) = t
        .d()
        .post("/api/alerts/web3/load/unsuppress", r#"{"by": "bob"}"#);
    assert_eq!(status, 200, "{body}");
    t.restart();
    t.at(HOUR + 2 * MIN);
    let alert = t.d().alert("web3", "load").unwrap();
    assert!(alert["suppress_until"].is_null(), "{alert}");
    assert_eq!(silenced_lines(&t, "web3", "load"), 1);
}

#[test]
fn a_pending_silence_starts_on_time_and_one_expired_early_lets_go_at_once() {
    let mut t = Timeline::new(CONFIG, MON_8);
    t.raise("web3", "load");
    t.want(&[("alice", "sms", &["raised load"])]);
    // Pending for an hour, then an hour long.
    let id = silence(&t, "web3", MON_8 + HOUR, MON_8 + 2 * HOUR);
    assert_eq!(state(&t, &id), "pending");
    t.at(HOUR + MIN);
    assert_eq!(state(&t, &id), "active");
    // Its start mutes the alerts it matches (an action of its own, taken
    // when the clock reaches the start).
    common::wait_for(
        std::time::Duration::from_secs(10),
        "web3/load muted",
        || {
            t.d()
                .alert("web3", "load")
                .filter(|a| a["suppress_until"] == MON_8 + 2 * HOUR)
        },
    );
    // The clear while it is active is not told...
    t.clear("web3", "load");
    t.nothing();
    // ...and a silence expired early lets go at once: the clear is told.
    let (status, body) = request(t.d().http(), "DELETE", &format!("/api/v2/silence/{id}"), "");
    assert_eq!(status, 200, "{body}");
    t.at(HOUR + MIN);
    t.want(&[("alice", "sms", &["cleared load"])]);
    assert_eq!(state(&t, &id), "expired");
    t.at(3 * HOUR);
    t.nothing();
    // Unknown ids and bad silences are refused in Alertmanager's shape.
    let (status, body) = request(t.d().http(), "DELETE", "/api/v2/silence/nope", "");
    assert_eq!((status, body.as_str()), (404, "\"silence not found\""));
    let (status, body) = t.d().post(
        "/api/v2/silences",
        r#"{"matchers": [{"name": "source", "value": ".*", "isRegex": true}],
            "startsAt": "2026-11-23T08:00:00Z", "endsAt": "2030-01-01T00:00:00Z", "createdBy": "x"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with('"') && body.contains("empty value"),
        "{body}"
    );
}

#[test]
fn an_expired_silence_is_deleted_after_its_retention_and_stays_deleted() {
    let config = format!("{CONFIG}\n[silences]\nretention = \"2h\"\n");
    let mut t = Timeline::new(&config, MON_8);
    let id = silence(&t, "web1", MON_8, MON_8 + HOUR);
    let kept = silence(&t, "web2", MON_8, MON_8 + 10 * HOUR);
    // Ended, but not yet two hours ago: still listed, as expired.
    t.step_to(2 * HOUR + 30 * MIN);
    assert_eq!(state(&t, &id), "expired");
    // Past its retention, at the next hourly look: deleted; the other,
    // still active, stays.
    t.step_to(4 * HOUR + MIN);
    common::wait_for(
        std::time::Duration::from_secs(20),
        "the silence deleted",
        || (t.d().get(&format!("/api/v2/silence/{id}")).0 == 404).then_some(()),
    );
    assert_eq!(state(&t, &kept), "active");
    // From the store too: a restart does not bring it back.
    t.restart();
    assert_eq!(t.d().get(&format!("/api/v2/silence/{id}")).0, 404);
    assert_eq!(state(&t, &kept), "active");
}

#[test]
fn a_silence_past_max_active_is_refused_saying_why() {
    let config = format!("{CONFIG}\n[silences]\nmax_active = 2\n");
    let t = Timeline::new(&config, MON_8);
    let first = silence(&t, "web1", MON_8, MON_8 + HOUR);
    silence(&t, "web2", MON_8 + HOUR, MON_8 + 2 * HOUR);
    let body = serde_json::json!({
        "matchers": [{"name": "source", "value": "web3", "isRegex": false, "isEqual": true}],
        "startsAt": rfc3339(MON_8),
        "endsAt": rfc3339(MON_8 + HOUR),
        "createdBy": "alice",
        "comment": "one too many",
    });
    let (status, answer) = t.d().post("/api/v2/silences", &body.to_string());
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("silences.max_active"), "{answer}");
    // Ending one makes room; changing one in force is not a new one.
    let (status, _) = request(
        t.d().http(),
        "DELETE",
        &format!("/api/v2/silence/{first}"),
        "",
    );
    assert_eq!(status, 200);
    let (status, answer) = t.d().post("/api/v2/silences", &body.to_string());
    assert_eq!(status, 200, "{answer}");
}
