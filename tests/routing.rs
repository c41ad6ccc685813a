//! Routing to people (`operations.md` §2–§4 and the cases of §7), as
//! timelines on the manual clock: at t do X; then exactly these messages
//! (person, notifier, events), nothing else. Days of daemon time take
//! milliseconds.

mod common;

use common::timeline::Timeline;
use common::{wait_for, Client};
use mauved::alert::AlertChange;

/// Monday 2026-11-23 08:00 UTC.
const MON_8: u64 = 1_795_420_800;
const MIN: u64 = 60;
const HOUR: u64 = 3_600;

const PEOPLE: &str = r#"
[oncall]
batch_window = "0s"

[person.alice]
sms = "+447700900001"
email = "alice@example.com"
urgent = ["sms"]
normal = ["email"]

[person.bob]
sms = "+447700900002"
email = "bob@example.com"
urgent = ["sms"]
normal = ["email"]

[person.carol]
email = "carol@example.com"
urgent = ["email"]

[person.room]
chat = "http://127.0.0.1:9/room"
normal = ["chat"]
low = ["chat"]

[people_list]
ops = ["alice", "bob"]
"#;

fn config(groups: &str) -> String {
    format!("{PEOPLE}\n{groups}")
}

#[test]
fn the_first_matching_group_tells_each_person_once_per_event() {
    let mut t = Timeline::new(
        &config(
            r#"
[[alert_group]]
name = "web"
level = "urgent"
match = { source = ["web*"] }
  [[alert_group.notify]]
  who = ["alice"]
  [[alert_group.notify]]
  who = ["ops"]

[[alert_group]]
name = "rest"
level = "low"
notify = [{ who = ["room"] }]
"#,
        ),
        MON_8,
    );
    t.raise("web1", "disk");
    // Alice is named twice: one message.
    t.want(&[
        ("alice", "sms", &["raised disk"]),
        ("bob", "sms", &["raised disk"]),
    ]);
    t.raise("db1", "disk");
    t.want(&[("room", "chat", &["raised disk"])]);
    t.at(5 * MIN);
    t.clear("web1", "disk");
    t.want(&[
        ("alice", "sms", &["cleared disk"]),
        ("bob", "sms", &["cleared disk"]),
    ]);
    t.at(HOUR);
    t.nothing();
}

#[test]
fn a_raise_outside_every_window_waits_for_one_to_open() {
    let mut t = Timeline::new(
        &config(
            r#"
[[alert_group]]
name = "all"
notify = [{ who = ["alice"], during = "working" }]
"#,
        ),
        MON_8,
    );
    t.raise("web1", "disk");
    t.nothing();
    let history = t.d().history("web1", "disk");
    assert!(
        history.iter().any(|h| h.text.contains("deferred")),
        "{history:?}"
    );
    // Working hours open at 09:30.
    t.at(89 * MIN);
    t.nothing();
    t.at(90 * MIN);
    t.want(&[("alice", "email", &["raised disk"])]);
    // A raise cleared before the window opens is never sent.
    t.at(9 * HOUR + 30 * MIN); // 17:30, closed
    t.raise("web2", "load");
    t.at(10 * HOUR);
    t.clear("web2", "load");
    t.at(25 * HOUR + 30 * MIN); // Tuesday 09:30
    t.nothing();
}

#[test]
fn reminders_are_per_clause_while_raised_and_unacknowledged() {
    let mut t = Timeline::new(
        &config(
            r#"
[[alert_group]]
name = "all"
level = "urgent"
  [[alert_group.notify]]
  who = ["alice"]
  every = "15m"
  [[alert_group.notify]]
  who = ["bob"]
  every = "30m"
"#,
        ),
        MON_8,
    );
    t.raise("web1", "disk");
    t.want(&[
        ("alice", "sms", &["raised disk"]),
        ("bob", "sms", &["raised disk"]),
    ]);
    t.at(15 * MIN - 1);
    t.nothing();
    t.at(15 * MIN);
    t.want(&[("alice", "sms", &["reminder disk"])]);
    t.at(30 * MIN);
    t.want(&[
        ("alice", "sms", &["reminder disk"]),
        ("bob", "sms", &["reminder disk"]),
    ]);
    // An acknowledgement reaches everyone told and stops the reminders.
    t.at(40 * MIN);
    t.ack("web1", "disk", "carol", HOUR);
    t.want(&[
        ("alice", "sms", &["acknowledged disk"]),
        ("bob", "sms", &["acknowledged disk"]),
        ("carol", "email", &["acknowledged disk"]),
    ]);
    t.at(99 * MIN);
    t.nothing();
    // The acknowledgement runs out: re-raised, and the reminders start again.
    t.at(100 * MIN);
    t.want(&[
        ("alice", "sms", &["re-raised disk"]),
        ("bob", "sms", &["re-raised disk"]),
    ]);
    t.at(115 * MIN);
    t.want(&[("alice", "sms", &["reminder disk"])]);
    t.clear("web1", "disk");
    t.want(&[
        ("alice", "sms", &["cleared disk"]),
        ("bob", "sms", &["cleared disk"]),
    ]);
    t.at(5 * HOUR);
    t.nothing();
}

#[test]
fn reminders_pause_outside_the_window_and_resume_at_its_first_hour() {
    let mut t = Timeline::new(
        &config(
            r#"
[[alert_group]]
name = "all"
notify = [{ who = ["alice"], during = "working", every = "1h" }]
"#,
        ),
        MON_8,
    );
    t.at(8 * HOUR + 45 * MIN); // 16:45
    t.raise("web1", "disk");
    t.want(&[("alice", "email", &["raised disk"])]);
    // 17:45 is after hours: the reminder waits for Tuesday 09:30.
    t.at(24 * HOUR + 90 * MIN - 1);
    t.nothing();
    t.at(24 * HOUR + 90 * MIN);
    t.want(&[("alice", "email", &["reminder disk"])]);
    t.at(24 * HOUR + 150 * MIN);
    t.want(&[("alice", "email", &["reminder disk"])]);
}

/// alice first; carol after 30 minutes unacknowledged, then hourly.
const ESCALATION: &str = r#"
[[alert_group]]
name = "all"
level = "urgent"
  [[alert_group.notify]]
  who = ["alice"]
  [[alert_group.notify]]
  who = ["carol"]
  unacknowledged_for = "30m"
  every = "1h"
"#;

#[test]
fn escalation_tells_the_next_person_once_unacknowledged_long_enough() {
    let mut t = Timeline::new(&config(ESCALATION), MON_8);
    t.raise("web1", "disk");
    t.want(&[("alice", "sms", &["raised disk"])]);
    t.at(30 * MIN - 1);
    t.nothing();
    t.at(30 * MIN);
    t.want(&[("carol", "email", &["raised disk"])]);
    t.at(90 * MIN);
    t.want(&[("carol", "email", &["reminder disk"])]);
    // Acknowledged in time: nobody further.
    t.raise("web2", "load");
    t.want(&[("alice", "sms", &["raised load"])]);
    t.at(100 * MIN);
    t.ack("web2", "load", "alice", 4 * HOUR);
    t.want(&[("alice", "sms", &["acknowledged load"])]);
    t.at(130 * MIN);
    // carol's reminder of web1 at 150 min, nothing of web2.
    t.nothing();
    t.at(150 * MIN);
    t.want(&[("carol", "email", &["reminder disk"])]);
}

#[test]
fn a_reload_routes_the_next_decision_and_a_pending_escalation_follows_it() {
    let mut t = Timeline::new(&config(ESCALATION), MON_8);
    t.raise("web1", "disk");
    t.want(&[("alice", "sms", &["raised disk"])]);
    // Before carol's turn the rota changes: bob instead of carol.
    let (status, answer) = t.reload(&config(
        &ESCALATION.replace(r#"who = ["carol"]"#, r#"who = ["bob"]"#),
    ));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(t.d().metric("mauved_config_last_reload_successful"), 1.0);
    t.at(30 * MIN);
    t.want(&[("bob", "sms", &["raised disk"])]);
    // A file with a mistake: refused, said, and the one in force stays.
    let (status, answer) = t.reload(&config(
        &ESCALATION.replace(r#"who = ["alice"]"#, r#"who = ["nobody"]"#),
    ));
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("nobody"), "{answer}");
    assert_eq!(t.d().metric("mauved_config_last_reload_successful"), 0.0);
    t.raise("web2", "load");
    t.want(&[("alice", "sms", &["raised load"])]);
    // A change that needs a restart is named.
    let (status, answer) = t.reload(&format!(
        "[heartbeat]\nsend_every = \"2m\"\n{}",
        config(ESCALATION)
    ));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("[heartbeat]"), "{answer}");
}

/// What the command notifier `pager` wrote to `file`: one JSON message a
/// line, as "person event id".
fn paged(file: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(|line| {
            let m: serde_json::Value = serde_json::from_str(line).unwrap();
            let event = &m["events"][0];
            format!(
                "{} {} {}",
                m["person"].as_str().unwrap(),
                event["event"].as_str().unwrap(),
                event["alert"]["id"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_reload_starts_a_new_notifier_changes_one_and_stops_a_removed_one() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        dir.path().join("first.jsonl"),
        dir.path().join("second.jsonl"),
    );
    // dave's pager instead of carol, through a notifier the daemon did not
    // start with.
    let with_pager = |file: &std::path::Path| {
        format!(
            "[[notifier]]\nname = \"pager\"\nkind = \"command\"\n\
             command = [\"sh\", \"-c\", \"cat >> '{}'\"]\n\
             [person.dave]\npager = \"dave\"\nurgent = [\"pager\"]\n{}",
            file.display(),
            config(&ESCALATION.replace(r#"who = ["carol"]"#, r#"who = ["dave"]"#))
        )
    };
    let mut t = Timeline::new(&config(ESCALATION), MON_8);
    t.raise("web1", "disk");
    t.want(&[("alice", "sms", &["raised disk"])]);
    let (status, answer) = t.reload(&with_pager(&first));
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.contains("[[notifier]]"), "{answer}");
    t.at(30 * MIN);
    t.nothing();
    assert_eq!(paged(&first), ["dave raised disk"]);
    // The same notifier, another command: the next message takes it.
    let (status, answer) = t.reload(&with_pager(&second));
    assert_eq!(status, 200, "{answer}");
    t.at(90 * MIN);
    t.nothing();
    assert_eq!(paged(&first), ["dave raised disk"]);
    assert_eq!(paged(&second), ["dave reminder disk"]);
    // Removed again: carol is told by e-mail, the pager is told nothing.
    let (status, answer) = t.reload(&config(ESCALATION));
    assert_eq!(status, 200, "{answer}");
    t.at(150 * MIN);
    assert!(t
        .new_messages()
        .iter()
        .all(|got| got.person == "carol" && got.notifier == "email"));
    assert_eq!(paged(&second), ["dave reminder disk"]);
}

#[test]
fn nothing_is_sent_while_suppressed_and_the_raise_goes_out_when_it_ends() {
    let mut t = Timeline::new(
        &config(
            r#"
[[alert_group]]
name = "all"
notify = [{ who = ["alice"], every = "10m" }]
"#,
        ),
        MON_8,
    );
    t.raise_with(
        "web1",
        "disk",
        AlertChange {
            suppress_until: Some(MON_8 + 20 * MIN),
            ..AlertChange::default()
        },
    );
    let history = t.d().history("web1", "disk");
    assert!(
        history[0].text.starts_with("raised while suppressed until"),
        "{history:?}"
    );
    t.at(20 * MIN - 1);
    t.nothing();
    t.at(20 * MIN);
    t.want(&[("alice", "email", &["raised disk"])]);
    t.at(30 * MIN);
    t.want(&[("alice", "email", &["reminder disk"])]);
}

#[test]
fn a_rate_limit_of_six_a_minute_blocks_at_thirty_seconds_and_lifts_with_a_summary() {
    let mut t = Timeline::new(
        &config(
            r#"
[person.dave]
email = "dave@example.com"
sms = "+447700900004"
urgent = ["sms"]
normal = ["email"]
rate_limit = { count = 6, within = "60s" }

[[alert_group]]
name = "urgent"
level = "urgent"
match = { id = ["urgent*"] }
notify = [{ who = ["dave"] }]

[[alert_group]]
name = "rest"
notify = [{ who = ["dave"] }]
"#,
        ),
        MON_8,
    );
    // An alert every five seconds: six go out (0 to 25 s), then the limit
    // holds them (30, 35, 40 s).
    for i in 0..9 {
        t.at(i * 5);
        t.raise("web1", &format!("disk{i}"));
        let got = t.new_messages();
        assert_eq!(got.len(), usize::from(i < 6), "at {}s: {got:#?}", i * 5);
    }
    let held = t.d().history("web1", "disk6");
    assert!(
        held.iter()
            .any(|h| h.result.as_deref() == Some("rate-limited")),
        "{held:?}"
    );
    // A higher level breaks through a limit filled by lower ones.
    t.at(45);
    t.raise("web1", "urgent1");
    t.want(&[("dave", "sms", &["raised urgent1"])]);
    // One held alert clears meanwhile: held too.
    t.clear("web1", "disk6");
    t.nothing();
    // A full minute after the last message (45 s): the summary, naming what
    // is still raised of what was held.
    t.at(104);
    t.nothing();
    t.at(105);
    let got = t.new_messages();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].held, 4);
    assert_eq!(got[0].events, ["reminder disk7", "reminder disk8"]);
    assert!(
        got[0].text.starts_with("4 messages held by the rate limit"),
        "{}",
        got[0].text
    );
    // Then messages flow again.
    t.raise("web1", "disk9");
    t.want(&[("dave", "email", &["raised disk9"])]);
}

#[test]
fn an_acknowledgement_that_runs_out_during_a_suppression_tells_nobody_what_they_knew() {
    let mut t = Timeline::new(
        &config(
            r#"
[[alert_group]]
name = "all"
notify = [{ who = ["alice"], every = "1h" }]
"#,
        ),
        MON_8,
    );
    t.raise("web1", "disk");
    t.want(&[("alice", "email", &["raised disk"])]);
    // Cleared with "keep quiet for 30 minutes", raised again inside it,
    // acknowledged and the acknowledgement runs out, all while suppressed.
    t.at(MIN);
    t.d().apply(mauved::alert::Update {
        source: "web1".into(),
        transmission_id: 900,
        replace: false,
        alerts: vec![AlertChange {
            id: "disk".into(),
            clear_time: Some(MON_8 + MIN),
            suppress_until: Some(MON_8 + 31 * MIN),
            ..AlertChange::default()
        }],
        received_at: MON_8 + MIN,
    });
    t.at(5 * MIN);
    t.raise("web1", "disk");
    t.ack("web1", "disk", "alice", 10 * MIN);
    t.at(31 * MIN - 1);
    t.nothing();
    // At its end the alert is raised and unacknowledged, which is what
    // alice last heard: nothing to tell (docs/semantics.md).
    t.at(40 * MIN);
    t.nothing();
    // Her reminders never stopped: the hourly one comes.
    t.at(60 * MIN);
    t.want(&[("alice", "email", &["reminder disk"])]);
}

#[test]
fn each_member_of_a_list_has_their_own_limit() {
    let mut t = Timeline::new(
        &config(
            r#"
[person.erin]
email = "erin@example.com"
rate_limit = { count = 1, within = "10m" }

[person.frank]
email = "frank@example.com"

[[alert_group]]
name = "all"
notify = [{ who = ["erin", "frank"] }]
"#,
        ),
        MON_8,
    );
    for id in ["a", "b", "c"] {
        t.raise("web1", id);
    }
    let got = t.new_messages();
    let count = |p: &str| got.iter().filter(|g| g.person == p).count();
    assert_eq!((count("erin"), count("frank")), (1, 3), "{got:#?}");
}

#[test]
fn a_storm_of_fifty_alerts_is_two_messages_per_person_and_notifier() {
    let mut t = Timeline::new(
        &config(
            r#"
[oncall]
batch_window = "30s"

[[alert_group]]
name = "all"
level = "urgent"
notify = [{ who = ["ops"] }]
"#,
        )
        .replace("[oncall]\nbatch_window = \"0s\"\n", ""),
        MON_8,
    );
    let ids: Vec<String> = (0..50).map(|i| format!("hb{i:02}")).collect();
    t.raise_many("rack1", &ids);
    let first = t.new_messages();
    assert_eq!(first.len(), 2, "one page each now: {first:#?}");
    assert!(first.iter().all(|g| g.events.len() == 1));
    t.at(29);
    t.nothing();
    t.at(30);
    let batch = t.new_messages();
    assert_eq!(batch.len(), 2, "{batch:#?}");
    for g in &batch {
        assert_eq!(g.events.len(), 49);
        assert!(g.text.starts_with("49 RAISED (urgent): "), "{}", g.text);
        assert!(g.text.contains(" and 44 more."), "{}", g.text);
    }
    t.at(10 * MIN);
    t.nothing();
}

#[test]
fn rotations_tell_whoever_is_on_and_people_away_are_skipped() {
    let mut t = Timeline::new(
        &config(
            r#"
[person.gina]
email = "gina@example.com"
away = [{ from = "2026-11-24", until = "2026-11-25" }]

[rotation.primary]
members = ["alice", "bob"]
shift = "1d"
handoff = "2026-11-23T09:00"
overrides = [{ who = "carol", from = "2026-11-25T09:00", until = "2026-11-25T12:00" }]

[[alert_group]]
name = "all"
notify = [{ who = ["primary", "gina"] }]
"#,
        ),
        MON_8,
    );
    // Before Monday's 09:00 hand-over the turn is Sunday's: bob.
    t.raise("web1", "a");
    t.want(&[
        ("bob", "email", &["raised a"]),
        ("gina", "email", &["raised a"]),
    ]);
    t.at(HOUR);
    t.raise("web1", "b");
    t.want(&[
        ("alice", "email", &["raised b"]),
        ("gina", "email", &["raised b"]),
    ]);
    // Tuesday: bob's turn, gina away.
    t.at(25 * HOUR);
    t.raise("web1", "c");
    t.want(&[("bob", "email", &["raised c"])]);
    // Wednesday 10:00: carol's override.
    t.at(50 * HOUR);
    t.raise("web1", "d");
    t.want(&[
        ("carol", "email", &["raised d"]),
        ("gina", "email", &["raised d"]),
    ]);
}

#[test]
fn a_rotation_hands_over_at_local_nine_across_the_clocks_going_forward() {
    // Europe/London goes to summer time on Sunday 2026-03-29. A weekly
    // rotation handing over on Mondays at 09:00 local time hands over at
    // 08:00 UTC on the 30th: an alert at 08:30 UTC goes to the new person.
    let before = 1_774_254_600; // Monday 2026-03-23 08:30 UTC = 08:30 GMT
    let after = 1_774_859_400; // Monday 2026-03-30 08:30 UTC = 09:30 BST
    let mut t = Timeline::new(
        &config(
            r#"
[oncall]
timezone = "Europe/London"
batch_window = "0s"

[rotation.primary]
members = ["alice", "bob"]
shift = "1w"
handoff = "2026-03-16T09:00"

[[alert_group]]
name = "all"
notify = [{ who = ["primary"] }]
"#,
        )
        .replace("[oncall]\nbatch_window = \"0s\"\n\n[person", "[person"),
        before,
    );
    t.raise("web1", "a");
    // 08:30 GMT on the 23rd is before that day's hand-over: alice's week.
    t.want(&[("alice", "email", &["raised a"])]);
    t.at(after - before);
    t.raise("web1", "b");
    // Nine o'clock local (08:00 UTC) has passed: alice's turn again. Had the
    // hand-over stayed at 09:00 UTC, bob would still be on.
    t.want(&[("alice", "email", &["raised b"])]);
}

#[test]
fn a_fallback_notifier_gets_what_the_first_gave_up() {
    let mut t = Timeline::failing(
        &config(
            r#"
[person.hank]
sms = "+447700900008"
email = "hank@example.com"
urgent = ["sms|email"]

[[alert_group]]
name = "all"
level = "urgent"
notify = [{ who = ["hank"] }]
"#,
        ),
        MON_8,
        &["sms"],
    );
    t.raise("web1", "disk");
    t.want(&[("hank", "email", &["raised disk"])]);
    // A delivery's history line is written once its notifier's queue is
    // empty, just after the message left it: wait for that line.
    let results: Vec<(Option<String>, Option<String>)> = wait_for(
        std::time::Duration::from_secs(10),
        "the delivered line",
        || {
            let lines: Vec<_> = t
                .d()
                .history("web1", "disk")
                .into_iter()
                .filter(|h| h.kind == "notification")
                .map(|h| (h.notifier, h.result))
                .collect();
            lines
                .iter()
                .any(|(_, result)| result.as_deref() == Some("delivered"))
                .then_some(lines)
        },
    );
    let results: Vec<(Option<&str>, Option<&str>)> = results
        .iter()
        .map(|(n, r)| (n.as_deref(), r.as_deref()))
        .collect();
    assert_eq!(
        results,
        [
            (Some("sms"), Some("queued")),
            (Some("sms"), Some("gave up")),
            (Some("email"), Some("delivered")),
        ]
    );
}

#[test]
fn reminders_and_batches_survive_a_restart() {
    let mut t = Timeline::new(
        &config(
            r#"
[[alert_group]]
name = "all"
notify = [{ who = ["alice"], every = "15m" }]
"#,
        ),
        MON_8,
    );
    t.raise("web1", "disk");
    t.want(&[("alice", "email", &["raised disk"])]);
    t.at(5 * MIN);
    t.restart();
    t.at(15 * MIN - 1);
    t.nothing();
    t.at(15 * MIN);
    t.want(&[("alice", "email", &["reminder disk"])]);
}

#[test]
fn clock_steps_fire_due_timers_once_and_never_twice() {
    let mut t = Timeline::new(
        &config(
            r#"
[[alert_group]]
name = "all"
notify = [{ who = ["alice"], every = "15m" }]
"#,
        ),
        MON_8,
    );
    t.raise("web1", "disk");
    t.want(&[("alice", "email", &["raised disk"])]);
    // A heartbeat due in ten minutes.
    t.raise_with(
        "web1",
        "hb",
        AlertChange {
            raise_time: Some(MON_8 + 10 * MIN),
            clear_time: Some(MON_8),
            ..AlertChange::default()
        },
    );
    t.nothing();
    // The clock steps an hour forward at once: the heartbeat is raised once,
    // and each alert gets one reminder, not one per missed quarter hour.
    t.step_to(65 * MIN);
    t.want(&[
        ("alice", "email", &["raised hb"]),
        ("alice", "email", &["reminder disk"]),
    ]);
    t.step_to(65 * MIN + 30);
    t.nothing();
    // Back half an hour: nothing fires again.
    t.step_to(35 * MIN);
    t.nothing();
    t.at(79 * MIN);
    t.nothing();
    // The timers set before the step still fire, at their time.
    t.at(80 * MIN);
    t.want(&[
        ("alice", "email", &["reminder disk"]),
        ("alice", "email", &["reminder hb"]),
    ]);
}

#[test]
fn shadow_mode_decides_and_records_everything_and_delivers_nothing() {
    use common::Client as _;
    let mut t = Timeline::new(
        &config(&format!("[delivery]\nshadow = true\n{ESCALATION}")),
        MON_8,
    );
    // The escalation timeline of the test above, in shadow: no notifier
    // is ever called.
    t.raise("web1", "disk");
    t.nothing();
    t.at(30 * MIN);
    t.nothing();
    t.at(90 * MIN);
    t.nothing();
    t.ack("web1", "disk", "alice", 4 * HOUR);
    t.nothing();
    // What would have been sent, to whom and when: in the history and in
    // the shadow report, in order.
    let report = t.d().json("/api/shadow");
    let mut lines: Vec<(u64, String, String, String)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["at"].as_u64().unwrap() - MON_8,
                l["person"].as_str().unwrap().to_owned(),
                l["notifier"].as_str().unwrap().to_owned(),
                l["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Messages of one moment go out in no set order across notifiers.
    lines.sort();
    // Worded as mauve logs what it sends, the reminder as mauve's (a raise
    // again).
    let want = [
        (0, "alice", "sms", "Raised sms notification to alice (+447700900001) would have been sent"),
        (30 * MIN, "carol", "email", "Raised email notification to carol (carol@example.com) would have been sent"),
        (90 * MIN, "alice", "sms", "Acknowledged sms notification to alice (+447700900001) would have been sent"),
        (90 * MIN, "carol", "email", "Acknowledged email notification to carol (carol@example.com) would have been sent"),
        (90 * MIN, "carol", "email", "Raised email notification to carol (carol@example.com) would have been sent (a reminder)"),
    ];
    assert_eq!(lines.len(), want.len(), "{report:#}");
    for ((at, person, notifier, text), (w_at, w_person, w_notifier, w_kind)) in
        lines.iter().zip(want)
    {
        assert_eq!(
            (*at, person.as_str(), notifier.as_str()),
            (w_at, w_person, w_notifier),
            "{report:#}"
        );
        assert_eq!(text, w_kind, "{report:#}");
    }
    assert!(report[0]["time"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-23T08:00:00"));
    let history = t.d().json("/api/alerts/web1/disk/history");
    let shadowed = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["result"] == "would have sent")
        .count();
    assert_eq!(shadowed, want.len(), "{history:#}");
    assert_eq!(
        t.d().json("/api/shadow?since=99999999999"),
        serde_json::json!([])
    );
    // The same as lines, from the command line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(["shadow-report", "--url"])
        .arg(format!("http://{}", t.d().http()))
        .args(["--since", "2026-11-23T08:10:00Z"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let printed: Vec<&str> = text.lines().collect();
    assert_eq!(
        printed.len(),
        want.len() - 1,
        "the first is before --since: {text}"
    );
    assert_eq!(
        printed[0],
        "2026-11-23T08:30:00Z Raised email notification to carol (carol@example.com) would have been sent about web1/disk",
        "{text}"
    );
}
