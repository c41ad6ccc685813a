//! The shipped systemd unit (`contrib/mauved.service`) against the real
//! binary: its system call filter, expanded by `systemd-analyze` as systemd
//! would expand it, built into a seccomp filter and put around `mauved
//! serve`, which must start, take a raise, deliver it and stop on SIGTERM;
//! and the unit itself checked by `systemd-analyze verify` and `security`.

mod common;

use std::process::Command;

use common::sandbox::{allowed, program, start_under, unit, values};
use common::*;

const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Serves under `program`: a raise is delivered by a command notifier (run
/// under the same filter, as systemd runs it), and SIGTERM ends it with 0.
fn serve_raise_deliver_stop(program: seccompiler::BpfProgram) -> String {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    let d = start_under(
        std::path::Path::new(env!("CARGO_BIN_EXE_mauved")),
        dir.path(),
        &test_config(dir.path(), &recording_notifier(&notes)),
        program,
        |_| {},
    );
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "the raise delivered", || {
        (!events(&notes).is_empty()).then_some(())
    });
    assert_eq!(events(&notes)[0], ("raised".to_owned(), "disk".to_owned()));
    let status = d
        .stop_within(std::time::Duration::from_secs(15))
        .expect("stopped within 15 s of SIGTERM");
    let log = std::fs::read_to_string(dir.path().join("mauved.log")).unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    log
}

#[test]
fn mauved_serves_delivers_and_stops_under_the_units_system_call_filter() {
    let unit = unit();
    let allowed = allowed(&unit);
    assert!(allowed.contains("sched_setscheduler") && allowed.contains("setpriority"));
    assert!(!allowed.contains("reboot") && !allowed.contains("setrlimit"));
    // Strict: any call outside the filter kills the process (as the unit
    // did before it said SystemCallErrorNumber=), so nothing the daemon
    // does is outside it.
    let log = serve_raise_deliver_stop(program(&allowed, seccompiler::SeccompAction::KillProcess));
    assert!(!log.contains("could not be lowered"), "{log}");
    assert_eq!(values(&unit, "SystemCallErrorNumber"), ["EPERM"]);
}

#[test]
fn a_sandbox_that_refuses_the_writers_priority_is_logged_not_fatal() {
    let mut allowed = allowed(&unit());
    allowed.remove("sched_setscheduler");
    allowed.remove("setpriority");
    let log = serve_raise_deliver_stop(program(
        &allowed,
        seccompiler::SeccompAction::Errno(libc::EPERM as u32),
    ));
    assert!(log.contains("could not be lowered"), "{log}");
}

#[test]
fn the_unit_passes_systemd_analyze_verify_and_security() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mauved.service");
    std::fs::write(
        &file,
        unit().replace("/usr/local/bin/mauved", env!("CARGO_BIN_EXE_mauved")),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // An exposure level of at most 2.0 of 10 ("OK").
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        security.status.success(),
        "{}",
        String::from_utf8_lossy(&security.stdout)
    );
}

#[test]
fn sighup_reloads_the_configuration_and_the_daemon_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    let routed_to = |who: &str| {
        format!(
            "{}[person.alice]\nops = \"alice@example.com\"\n[person.bob]\nops = \"bob@example.com\"\n\
             [[alert_group]]\nname = \"all\"\nlevel = \"urgent\"\n\
             [[alert_group.notify]]\nwho = [\"{who}\"]\n",
            recording_notifier(&notes)
        )
    };
    let d = Daemon::start(dir.path(), &routed_to("alice"));
    let told = |n: usize| {
        wait_for(WAIT, "the raise told", || {
            let got = notifications(&notes);
            (got.len() >= n).then(|| got[n - 1]["person"].as_str().unwrap_or("").to_owned())
        })
    };
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    assert_eq!(told(1), "alice");
    std::fs::write(
        dir.path().join("mauved.toml"),
        test_config(dir.path(), &routed_to("bob")),
    )
    .unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .unwrap()
        .success());
    wait_for(WAIT, "the reload logged", || {
        std::fs::read_to_string(dir.path().join("mauved.log"))
            .unwrap()
            .contains("configuration reloaded")
            .then_some(())
    });
    d.send(&packet(
        2,
        "web2",
        vec![alert("load", Some(now()), None)],
        false,
    ));
    assert_eq!(told(2), "bob");
    let status = d
        .stop_within(std::time::Duration::from_secs(15))
        .expect("still running after SIGHUP, and stopped by SIGTERM");
    assert!(status.success());
}

#[test]
fn a_reload_switches_tokens_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = ("old-token-0123456789", "new-token-0123456789");
    let with_token = |t: &str| format!("[[http.token]]\nname = \"ci\"\ntoken = \"{t}\"\n");
    let d = Daemon::start(dir.path(), &with_token(old));
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    d.wait_state("web1", "disk", "raised");
    std::fs::write(
        dir.path().join("mauved.toml"),
        test_config(dir.path(), &with_token(new)),
    )
    .unwrap();
    let post = |path: &str, token: &str| {
        reqwest::blocking::Client::new()
            .post(format!("http://{}{path}", d.http))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post("/-/reload", old), 200);
    assert_eq!(post("/api/alerts/web1/disk/acknowledge", old), 401);
    assert_eq!(post("/api/alerts/web1/disk/acknowledge", new), 200);
}

#[test]
fn a_reload_changes_the_http_limits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    // Two kilobytes of alert: under the default limit, over the new one.
    let body = format!(
        r#"[{{"labels":{{"alertname":"disk","instance":"web1"}},"annotations":{{"summary":"{}"}}}}]"#,
        "x".repeat(2048)
    );
    let post = |path: &str, body: &str| {
        reqwest::blocking::Client::new()
            .post(format!("http://{}{path}", d.http))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post("/api/v2/alerts", &body), 200);
    std::fs::write(
        dir.path().join("mauved.toml"),
        test_config(dir.path(), "[http]\nmax_body_bytes = 1024\n"),
    )
    .unwrap();
    assert_eq!(post("/-/reload", ""), 200);
    assert_eq!(post("/api/v2/alerts", &body), 413);
    assert_eq!(post("/api/v2/alerts", "[]"), 200);
}
