//! `mauved import-mauve` against mauve configurations written for these
//! tests (`tests/fixtures/mauve/`): what it prints passes `check-config`,
//! `mauved route` on it tells the people mauve's rules tell, at the level
//! and through the notifiers mauve would use, and what cannot be carried
//! over is in the report with its line. Input that is not a configuration
//! at all is refused with exit 2 and a line number, never a panic.
//!
//! The expected recipients are worked out from mauve's rules as
//! `mauve-wire.md` §3.7 and the issue describe them (the first matching
//! group wins, the last takes the rest; a clause without `every`/`during`
//! takes the person's own, by default every 30 minutes in working hours;
//! `hours_in_day 9..17` holds through 17:59; days count from Sunday = 0).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mauved(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mauve")
        .join(name)
}

/// Imports a fixture: (exit code, the TOML written to a file, the report).
struct Imported {
    code: Option<i32>,
    toml: PathBuf,
    report: String,
    _dir: tempfile::TempDir,
}

fn import(name: &str) -> Imported {
    let out = mauved(&[
        "import-mauve",
        fixture(name).to_str().unwrap(),
        "--timezone",
        "Europe/London",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("mauved.toml");
    std::fs::write(&toml, &out.stdout).unwrap();
    Imported {
        code: out.status.code(),
        toml,
        report: String::from_utf8_lossy(&out.stderr).into_owned(),
        _dir: dir,
    }
}

/// Who `mauved route` tells: (group, level, person → notifiers).
fn route(
    toml: &Path,
    source: &str,
    id: &str,
    extra: &[&str],
) -> (String, String, BTreeMap<String, Vec<String>>) {
    let mut args = vec![
        "route",
        "--config",
        toml.to_str().unwrap(),
        "--source",
        source,
        "--id",
        id,
        "--json",
    ];
    args.extend(extra);
    let out = mauved(&args);
    assert!(
        out.status.success(),
        "route {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let people = v["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let notifiers = r["notifiers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            (r["person"].as_str().unwrap().to_owned(), notifiers)
        })
        .collect();
    (
        v["group"].as_str().unwrap_or("").to_owned(),
        v["level"].as_str().unwrap_or("").to_owned(),
        people,
    )
}

fn told(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(p, n)| (p.to_string(), n.iter().map(|s| s.to_string()).collect()))
        .collect()
}

#[test]
fn every_form_translates_and_routes_as_mauve_would() {
    let imported = import("full.conf");
    let report = &imported.report;
    // Something is left out (an SMS provider, a calendar, a negation…): 1.
    assert_eq!(imported.code, Some(1), "{report}");
    let check = mauved(&["check-config", imported.toml.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&check.stderr),
        std::fs::read_to_string(&imported.toml).unwrap()
    );
    let toml = &imported.toml;
    let at = |t: &str| {
        vec!["--at", t]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let route_at = |source: &str, id: &str, args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        route(toml, source, id, &args)
    };

    // Saturday 10:00 is outside working hours: `!working_hours?` holds, so
    // the ops list is paged at the group's level, each by their urgent
    // block (bob's `all { email }` replaced his `urgent { sms || email }`).
    let ops = told(&[("alice", &["sms", "email"]), ("bob", &["email"])]);
    let (group, level, people) = route_at("rtr1.example.net", "ping", &at("2026-12-05T10:00"));
    assert_eq!((group.as_str(), level.as_str()), ("network", "urgent"));
    assert_eq!(people, ops);
    // A source list's regex and address range (on the subject, which is the
    // source when the alert has none), and the `||` alternative.
    assert_eq!(
        route_at("sw12.example.net", "ping", &at("2026-12-05T10:00")).2,
        ops
    );
    assert_eq!(route_at("10.1.2.3", "ping", &at("2026-12-05T10:00")).2, ops);
    let (group, _, people) = route_at("fw2", "ping", &at("2026-12-05T10:00"));
    assert_eq!((group.as_str(), people), ("network (2)", ops.clone()));
    // Thursday 10:00 is working time: nobody yet.
    assert_eq!(
        route_at("fw2", "ping", &at("2026-12-03T10:00")).2,
        told(&[])
    );
    // Christmas Day is a bank holiday: not working hours, so ops are paged.
    assert_eq!(route_at("fw2", "ping", &at("2026-12-25T10:00")).2, ops);
    // Unacknowledged for two hours: carol too (the default urgent block:
    // SMS and e-mail; there is no XMPP method).
    let mut escalated = vec!["--event".to_owned(), "reminder".to_owned()];
    escalated.extend(at("2026-12-03T12:00"));
    escalated.extend(["--raised-at".to_owned(), "2026-12-03T10:00".to_owned()]);
    assert_eq!(
        route_at("fw2", "ping", &escalated).2,
        told(&[("carol", &["sms", "email"])])
    );
    escalated[3] = "2026-12-03T11:59".into();
    assert_eq!(route_at("fw2", "ping", &escalated).2, told(&[]));

    // `hours_in_day(9..17) && days_in_week(1..5)`: Monday 17:45 is inside
    // (mauve compares the hour, 17), 18:00 is not, Saturday is not. Normal
    // level: carol and dan by e-mail.
    let web = told(&[("carol", &["email"]), ("dan", &["email"])]);
    let (group, level, people) = route_at("web1", "http-check", &at("2026-12-07T17:45"));
    assert_eq!(
        (group.as_str(), level.as_str(), people),
        ("web", "normal", web.clone())
    );
    assert_eq!(
        route_at("web1", "http-check", &at("2026-12-07T18:00")).2,
        told(&[])
    );
    assert_eq!(
        route_at("web1", "http-check", &at("2026-12-05T12:00")).2,
        told(&[])
    );
    let mut subject = at("2026-12-07T09:00");
    subject.extend(["--subject".to_owned(), "www.example.com".to_owned()]);
    assert_eq!(route_at("lb1", "x", &subject).0, "web (2)");

    // A clause without a block: each person's own notify. alice keeps
    // mauve's default (working hours), bob his own (daytime hours, which
    // the file sets to 8..20).
    let mut db = vec!["--importance".to_owned(), "60".to_owned()];
    db.extend(at("2026-12-03T10:00"));
    let (group, _, people) = route_at("db1", "disk", &db);
    assert_eq!(group, "mixed");
    assert_eq!(people, told(&[("alice", &["email"]), ("bob", &["email"])]));
    db[3] = "2026-12-03T19:00".into();
    assert_eq!(route_at("db1", "disk", &db).2, told(&[("bob", &["email"])]));
    db[3] = "2026-12-03T20:30".into();
    assert_eq!(route_at("db1", "disk", &db).2, told(&[]));

    // Less important: not "mixed"; "odd" (a negation) was left out, so the
    // last group takes it: dan, low, from 22:00 to 07:00 or in the dead zone.
    db[1] = "40".into();
    db[3] = "2026-12-03T23:30".into();
    let (group, level, people) = route_at("db1", "disk", &db);
    assert_eq!((group.as_str(), level.as_str()), ("default", "low"));
    assert_eq!(people, told(&[("dan", &["email"])]));
    db[3] = "2026-12-03T12:00".into();
    assert_eq!(route_at("db1", "disk", &db).2, told(&[]));

    // Each construct not carried over is in the report with its line.
    for (line, what) in [
        (38, "left out: `bytemark_calendar_url"),
        (51, "left out: `notification_method(\"sms\")"),
        (62, "left out: `password \"secret\"`"),
        (93, "left out: `people_list \"oncall\", calendar"),
        (126, "left out: `includes { source !~ /^test/ }`"),
        (139, "left out: `notification_method(\"hipchat\")"),
        (
            144,
            "left out: `email \"hal@\" + hostname`: `hostname` is this host's name",
        ),
    ] {
        let want = format!("full.conf: line {line}: {what}");
        assert!(report.contains(&want), "{want}\n{report}");
    }
    // And each difference, one line each.
    for (line, what) in [
        (4, "not needed: `database"),
        (48, "differs: `subject_prefix"),
        (61, "differs: `xmpp"),
        (66, "mauve checked only its first threshold"),
        (97, "smallest `every` (10m)"),
        (122, "written as 2 clauses"),
    ] {
        let want = format!("full.conf: line {line}: ");
        assert!(
            report
                .lines()
                .any(|l| l.contains(&want) && l.contains(what)),
            "{want}…{what}\n{report}"
        );
    }
    assert!(report.contains("7 left out"), "{report}");
}

#[test]
fn a_configuration_mauved_can_say_whole_exits_0() {
    let imported = import("small.conf");
    assert_eq!(imported.code, Some(0), "{}", imported.report);
    assert!(
        !imported.report.contains("left out:"),
        "{}",
        imported.report
    );
    let check = mauved(&["check-config", imported.toml.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let toml = &imported.toml;
    // The list's own notify (every 15 minutes, nights) applies to its
    // members; the escalation clause waits for 30 unacknowledged minutes
    // in working hours; `sms || email` is one entry with a fallback (route
    // lists both notifiers; the file says e-mail only if SMS gives up).
    let (group, level, people) = route(toml, "core1", "bgp", &["--at", "2026-12-02T23:00"]);
    assert_eq!((group.as_str(), level.as_str()), ("core", "urgent"));
    assert_eq!(
        people,
        told(&[("erin", &["sms", "email"]), ("frank", &["email"])])
    );
    let text = std::fs::read_to_string(toml).unwrap();
    assert!(text.contains("urgent = [\"sms|email\"]"), "{text}");
    assert!(
        text.contains("hours_22000700 = { hours = \"22:00-07:00\" }"),
        "{text}"
    );
    assert_eq!(
        route(toml, "core1", "bgp", &["--at", "2026-12-02T06:59"]).2,
        route(toml, "core1", "bgp", &["--at", "2026-12-02T23:00"]).2
    );
    assert_eq!(
        route(toml, "core1", "bgp", &["--at", "2026-12-02T07:00"]).2,
        told(&[])
    );
    assert_eq!(
        route(toml, "core1", "bgp", &["--at", "2026-12-02T12:00"]).2,
        told(&[])
    );
    assert_eq!(
        route(
            toml,
            "core1",
            "bgp",
            &[
                "--at",
                "2026-12-02T12:00",
                "--raised-at",
                "2026-12-02T11:30",
                "--event",
                "reminder"
            ]
        )
        .2,
        told(&[("grace", &["email"])])
    );
    // Everything else: the catch-all, always, low: grace has no low block
    // of her own, so mauve sends her nothing at low: an empty list, no
    // notifier.
    let (group, level, people) = route(toml, "web9", "x", &["--at", "2026-12-02T12:00"]);
    assert_eq!((group.as_str(), level.as_str()), ("rest", "low"));
    assert_eq!(people, told(&[("frank", &["email"]), ("grace", &[])]));
    assert!(text.contains("every = \"15m\""), "{text}");
    assert!(text.contains("unacknowledged_for = \"30m\""), "{text}");
}

#[test]
fn what_is_not_a_configuration_is_refused_with_exit_2_and_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unbalanced",
            b"person(\"a\") {\n  email \"a@x\"\n\nalert_group(\"g\") {\n}\n".to_vec(),
            "line 1:",
        ),
        ("closes nothing", b"server {\n}\n}\n".to_vec(), "line 3:"),
        (
            "block never ends",
            b"alert_group \"g\" do\n  level URGENT\n".to_vec(),
            "line 1:",
        ),
        (
            "binary",
            {
                let mut b = b"server {\n}\n".to_vec();
                b.extend((0..=255u8).cycle().take(4096));
                b
            },
            "line 4:",
        ),
        (
            "not utf-8",
            b"person(\"a\")\n\xff\xfe\n".to_vec(),
            "line 2:",
        ),
        ("nested", "x {\n".repeat(200).into_bytes(), "line "),
        ("nested do", "x do\n".repeat(200).into_bytes(), "line "),
        (
            "huge",
            {
                let mut b = Vec::new();
                while b.len() < 10 * 1024 * 1024 {
                    b.extend_from_slice(b"person(\"a\") { email \"a@example.com\" }\n");
                }
                b
            },
            "line 1:",
        ),
    ];
    for (name, bytes, line) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let out = mauved(&["import-mauve", path.to_str().unwrap(), "--timezone", "UTC"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(line), "{name}: {line} in {err}");
        assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
    }
    let out = mauved(&["import-mauve", "/nonexistent/mauve.conf"]);
    assert_eq!(out.status.code(), Some(2));
}
