//! The shift handover (`/api/handover`, `/handover`, `mauved handover`)
//! over a timeline on the manual clock: what was raised, who was told and
//! acknowledged after how long, what is open, notes, and per group the
//! time to acknowledge and to clear.

mod common;

use std::time::Duration;

use common::timeline::Timeline;
use common::{wait_for, Client};
use mauved::scheduler::Action;

/// Monday 2026-11-23 18:00 UTC.
const MON_18: u64 = 1_795_456_800;
const MIN: u64 = 60;

const CONFIG: &str = r#"
[oncall]
batch_window = "0s"

[person.alice]
sms = "+447700900001"
urgent = ["sms"]

[person.bob]
sms = "+447700900002"
urgent = ["sms"]

[[alert_group]]
name = "web"
level = "urgent"
match = { source = ["web*"] }
  [[alert_group.notify]]
  who = ["alice"]

[[alert_group]]
name = "db"
level = "urgent"
  [[alert_group.notify]]
  who = ["bob"]
"#;

/// The night: web1/disk raised at 18:00, acknowledged by alice 5 minutes
/// later, a note, cleared at 18:30; db1/lag raised at 18:10, acknowledged
/// by bob an hour later, still open; web2/load raised at 18:20 and cleared
/// at 20:00 unacknowledged.
fn night() -> Timeline {
    let mut t = Timeline::new(CONFIG, MON_18);
    t.raise("web1", "disk");
    t.want(&[("alice", "sms", &["raised disk"])]);
    t.at(5 * MIN);
    t.ack("web1", "disk", "alice", 3600);
    t.at(10 * MIN);
    t.new_messages();
    t.raise("db1", "lag");
    t.want(&[("bob", "sms", &["raised lag"])]);
    t.at(15 * MIN);
    t.d().act(
        "web1",
        "disk",
        "alice",
        Action::Note {
            text: "replaced the disk".into(),
        },
    );
    t.at(20 * MIN);
    t.raise("web2", "load");
    t.at(30 * MIN);
    t.clear("web1", "disk");
    t.at(70 * MIN);
    t.ack("db1", "lag", "bob", 4 * 3600);
    t.at(120 * MIN);
    t.clear("web2", "load");
    t.at(180 * MIN);
    t
}

fn handover(t: &Timeline, query: &str) -> serde_json::Value {
    // Delivery attempts are written by the workers after the message is
    // handed over: wait until the last one is in.
    wait_for(Duration::from_secs(10), "the handover", || {
        let h = t.d().json(&format!("/api/handover?{query}"));
        let told = |i: usize| h["stories"][i]["told"].as_array().map_or(0, Vec::len);
        (told(0) >= 1 && told(1) >= 1).then_some(h)
    })
}

#[test]
fn a_night_is_told_with_who_acknowledged_after_how_long_and_figures_per_group() {
    let t = night();
    let h = handover(&t, &format!("since={MON_18}&until={}", MON_18 + 180 * MIN));
    assert_eq!(h["since"], MON_18);
    assert_eq!(h["since_time"], "2026-11-23T18:00:00Z");
    let stories = h["stories"].as_array().unwrap();
    let ids: Vec<&str> = stories.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["disk", "lag", "load"], "{h:#}");
    let disk = &stories[0];
    assert_eq!(disk["group"], "web");
    assert_eq!(disk["raised_at"], MON_18);
    assert_eq!(disk["told"][0]["person"], "alice");
    assert_eq!(disk["told"][0]["notifier"], "sms");
    assert_eq!(disk["told"][0]["at"], MON_18);
    assert_eq!(disk["acknowledged"]["by"], "alice");
    assert_eq!(disk["acknowledged"]["after_s"], 5 * MIN);
    assert_eq!(disk["cleared_at"], MON_18 + 30 * MIN);
    let lag = &stories[1];
    assert_eq!(lag["group"], "db");
    assert_eq!(lag["acknowledged"]["by"], "bob");
    assert_eq!(lag["acknowledged"]["after_s"], 60 * MIN);
    assert!(lag["cleared_at"].is_null());
    assert!(stories[2]["acknowledged"].is_null());
    // Open now: db1/lag, acknowledged by bob.
    let open = h["open"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{h:#}");
    assert_eq!(open[0]["id"], "lag");
    assert_eq!(open[0]["acknowledged_by"], "bob");
    assert_eq!(h["notes"][0]["text"], "replaced the disk");
    assert_eq!(h["notes"][0]["by"], "alice");
    // web: two raised, one acknowledged after 5m, cleared after 30m and
    // 1h40m; db: one, acknowledged after 1h, not cleared.
    let groups = h["groups"].as_array().unwrap();
    let figures = |g: &serde_json::Value, what: &str| {
        (
            g[what]["count"].as_u64(),
            g[what]["median_s"].as_u64(),
            g[what]["p90_s"].as_u64(),
        )
    };
    assert_eq!(groups[0]["group"], "db");
    assert_eq!(groups[0]["raised"], 1);
    assert_eq!(
        figures(&groups[0], "to_acknowledge"),
        (Some(1), Some(3600), Some(3600))
    );
    assert!(groups[0]["to_clear"].is_null());
    assert_eq!(groups[1]["group"], "web");
    assert_eq!(groups[1]["raised"], 2);
    assert_eq!(
        figures(&groups[1], "to_acknowledge"),
        (Some(1), Some(300), Some(300))
    );
    assert_eq!(
        figures(&groups[1], "to_clear"),
        (Some(2), Some(1800), Some(6000))
    );
    // A period that starts after the raises: db1/lag's acknowledgement is
    // told, its raise is not, and no figures count it.
    let h = t.d().json(&format!(
        "/api/handover?since={}&until={}",
        MON_18 + 65 * MIN,
        MON_18 + 180 * MIN
    ));
    let first = &h["stories"][0];
    assert_eq!(first["id"], "lag");
    assert!(first["raised_at"].is_null());
    assert_eq!(first["acknowledged"]["by"], "bob");
    assert!(h["groups"].as_array().unwrap().is_empty(), "{h:#}");
}

#[test]
fn text_markdown_the_page_and_the_command_say_the_same_night() {
    let t = night();
    let query = format!("since={MON_18}&until={}", MON_18 + 180 * MIN);
    handover(&t, &query);
    let (status, text) = t.d().get(&format!("/api/handover?{query}&format=text"));
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with("Handover 2026-11-23 18:00 to 2026-11-23 21:00 (UTC)"),
        "{text}"
    );
    assert!(
        text.contains("2026-11-23 18:00 web1/disk [web]: told alice by sms at 2026-11-23 18:00; acknowledged by alice after 5m; cleared after 30m"),
        "{text}"
    );
    assert!(
        text.contains("db1/lag [db]: raised 2026-11-23 18:10, acknowledged by bob: lag is bad"),
        "{text}"
    );
    assert!(
        text.contains("2026-11-23 18:15 web1/disk alice: replaced the disk"),
        "{text}"
    );
    assert!(
        text.contains("  web                       2  5m / 5m           30m / 1h40m"),
        "{text}"
    );
    let (_, md) = t.d().get(&format!("/api/handover?{query}&format=markdown"));
    assert!(md.contains("| web | 2 | 5m / 5m | 30m / 1h40m |"), "{md}");
    let (status, page) = t.d().get(&format!("/handover?{query}"));
    assert_eq!(status, 200);
    // As the browser reads it (the template escapes '/').
    let page = page.replace("&#x2f;", "/");
    assert!(
        page.contains("<td>web1/disk</td><td>web</td><td>told alice by sms at 2026-11-23 18:00; acknowledged by alice after 5m; cleared after 30m</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td>web</td><td>2</td><td>5m / 5m</td><td>30m / 1h40m</td>"),
        "{page}"
    );
    // The command asks the running daemon and prints what it answers.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(["handover", "--url", &format!("http://{}", t.d().http())])
        .args(["--since", &MON_18.to_string()])
        .args(["--until", "2026-11-23T21:00:00Z", "--format", "markdown"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), md);
}

#[test]
fn a_handover_refuses_what_it_cannot_read() {
    let t = Timeline::new(CONFIG, MON_18);
    for (query, want) in [
        ("since=yesterday", "since: \"yesterday\" is not a moment"),
        ("since=25:00", "not a time of day"),
        (
            &format!("since={}&until={}", MON_18, MON_18 - 1) as &str,
            "since must be before until",
        ),
        ("since=-40d", "at most 31 days"),
        ("format=pdf", "format must be json, text or markdown"),
        ("sinse=18:00", "unknown field"),
    ] {
        let (status, body) = t.d().get(&format!("/api/handover?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        let error = error["error"].as_str().unwrap();
        assert!(error.contains(want), "{query}: {error}");
    }
    // The default: the last 12 hours, nothing in them.
    let h = t.d().json("/api/handover");
    assert_eq!(h["until"], MON_18);
    assert_eq!(h["since"], MON_18 - 12 * 3600);
    assert!(h["stories"].as_array().unwrap().is_empty());
    // A time of day is the latest one: today's 17:00, yesterday's 19:00.
    assert_eq!(
        t.d().json("/api/handover?since=17:00")["since"],
        MON_18 - 3600
    );
    assert_eq!(
        t.d().json("/api/handover?since=19:00")["since"],
        MON_18 - 23 * 3600
    );
}

#[test]
fn open_alerts_past_the_limit_are_counted_and_the_earliest_listed() {
    let mut t = Timeline::new(CONFIG, MON_18);
    let early: Vec<String> = (0..5).map(|i| format!("early{i}")).collect();
    t.raise_many("db1", &early);
    t.at(MIN);
    let late: Vec<String> = (0..1_000).map(|i| format!("late{i:04}")).collect();
    t.raise_many("db2", &late);
    let h = t.d().json("/api/handover");
    let open = h["open"].as_array().unwrap();
    assert_eq!(open.len(), 1_000);
    assert_eq!(h["open_not_listed"], 5);
    let ids: Vec<&str> = open.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(
        &ids[..5],
        ["early0", "early1", "early2", "early3", "early4"]
    );
    assert!(
        ids[5..].iter().all(|id| id.starts_with("late")),
        "sorted by raise"
    );
    let (_, text) = t.d().get("/api/handover?format=text");
    assert!(
        text.contains("Still open (1005)") && text.contains("  and 5 more"),
        "{text}"
    );
}
