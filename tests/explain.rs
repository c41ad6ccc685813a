//! `mauved route`, `mauved oncall` and `GET /api/oncall` on the example
//! configuration: the real binary, answering for a given moment.

mod common;

use common::*;

fn mauved(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const EXAMPLE: &str = "config/example.toml";

#[test]
fn route_says_which_clauses_are_open_and_when_a_deferred_raise_goes_out() {
    // Saturday 03:00 in London: the network group pages the on-call person.
    let night = mauved(&[
        "route",
        "--config",
        EXAMPLE,
        "--source",
        "core-rtr1.example.net",
        "--id",
        "bgp",
        "--importance",
        "90",
        "--at",
        "2026-11-28T03:00",
    ]);
    assert!(night.contains("group \"network\", level urgent"), "{night}");
    assert!(
        night.contains("notify[0] infra-primary: during \"off_hours\" (open), every 15m"),
        "{night}"
    );
    assert!(
        night.contains("notify[1] infra: during \"working\" (closed)"),
        "{night}"
    );
    assert!(
        night.contains("once unacknowledged for 30m, every 1h"),
        "{night}"
    );
    assert!(
        night.contains("alice: sms +447700900001, email alice@example.com"),
        "{night}"
    );
    // A web alert at night waits for the daytime window (08:00).
    let json: serde_json::Value = serde_json::from_str(&mauved(&[
        "route",
        "--config",
        EXAMPLE,
        "--source",
        "web3.example.com",
        "--id",
        "http",
        "--at",
        "2026-11-28T03:00",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["group"], "web");
    assert_eq!(json["recipients"], serde_json::json!([]));
    assert_eq!(json["clauses"][0]["open"], false);
    assert_eq!(json["deferred_until"], 1_795_852_800, "2026-11-28T08:00Z");
    // A clear goes to the people now, whatever the window.
    let cleared: serde_json::Value = serde_json::from_str(&mauved(&[
        "route",
        "--config",
        EXAMPLE,
        "--source",
        "web3.example.com",
        "--id",
        "http",
        "--at",
        "2026-11-28T03:00",
        "--event",
        "cleared",
        "--json",
    ]))
    .unwrap();
    assert_eq!(cleared["recipients"][0]["person"], "dan");
    // Anything else goes to the chat room.
    let other = mauved(&["route", "--config", EXAMPLE, "--source", "db1", "--id", "x"]);
    assert!(
        other.contains("group \"everything else\", level low"),
        "{other}"
    );
    assert!(
        other.contains("ops-room: chat https://chat.example.com/hooks/ops"),
        "{other}"
    );
}

#[test]
fn oncall_names_who_is_on_and_until_when() {
    let text = mauved(&["oncall", "--config", EXAMPLE, "--at", "2026-12-22T10:00"]);
    assert!(
        text.contains("infra-primary: carol (override) until 2027-01-04T09:00:00+00:00"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&mauved(&[
        "oncall",
        "--config",
        EXAMPLE,
        "--at",
        "2026-07-07T10:00",
        "--json",
    ]))
    .unwrap();
    let r = &json["rotations"][0];
    assert_eq!(r["rotation"], "infra-primary");
    assert_eq!(r["overridden"], false);
    // Summer time: Monday 2026-07-13 09:00 BST.
    assert_eq!(r["until_local"], "2026-07-13T09:00:00+01:00");
    assert_eq!(json["timezone"], "Europe/London");
}

#[test]
fn the_daemon_answers_who_is_on_call_now() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        r#"
[[notifier]]
name = "email"
kind = "log"
[person.alice]
email = "a@example.com"
[person.bob]
email = "b@example.com"
[rotation.primary]
members = ["alice", "bob"]
shift = "1d"
handoff = "2026-01-01T09:00"
"#,
    );
    let json = d.json("/api/oncall");
    let r = &json["rotations"][0];
    assert_eq!(r["rotation"], "primary");
    assert!(r["person"] == "alice" || r["person"] == "bob", "{json}");
    let until = r["until"].as_u64().unwrap();
    let now = now();
    assert!(until > now && until <= now + 86_400, "{json}");
}
