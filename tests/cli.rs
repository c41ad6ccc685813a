//! The command line as an operator meets it in the first hour: one run of
//! `check-config` says everything that is wrong, and the commands that read
//! a configuration read the one `serve` would.

use std::process::{Command, Output};

fn mauved(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn check_config_reports_every_problem_in_one_run_with_its_line_and_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"[store]
flush_interval_ms = "100"
flush_intervall = 3

[server]
forget_cleared_after = "3 fortnights"

[[alert_group]]
level = "urgent"
[[alert_group.notify]]
who = ["ops"]
during = "office"
"#,
    )
    .unwrap();
    let out = mauved(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let expected = [
        // Type errors, each with its line, in the file's order.
        "line 2: store.flush_interval_ms: invalid type: string \"100\", expected u64",
        "line 3: store.flush_intervall: unknown key; did you mean `flush_interval_ms`?",
        "line 6: server.forget_cleared_after: \"3 fortnights\" is not a duration",
        // And the checks of what could be read.
        "alert_group[0].name: every [[alert_group]] needs a name",
        "alert_group[0].notify[0].who: \"ops\" is neither",
        "alert_group[0].notify[0].during: \"office\" is not a window; the windows are: \"always\", \"daytime\"",
    ];
    assert_eq!(lines.len(), expected.len(), "{err}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.contains(want), "{line:?} should say {want:?}\n{err}");
        assert!(line.starts_with(&*bad.to_string_lossy()), "{line}");
    }

    // A syntax error stops the reading where it is: one message.
    std::fs::write(&bad, "[store\nflush_interval_ms = \"x\"\n").unwrap();
    let out = mauved(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

#[test]
fn route_and_oncall_read_the_built_in_configuration_without_config() {
    let out = mauved(&["route", "--source", "web1", "--id", "disk"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The built-in configuration routes nothing to people.
    assert!(text.contains("every notifier is told (log)"), "{text}");
    let out = mauved(&["oncall"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no [rotation.*] is configured"), "{text}");
}
