//! mauved attacked from outside, against the real binary: what a reader can
//! learn, what hostile text costs, who can lock others out, and what a page
//! on another site can do.

mod common;

use common::*;

const TOKEN: &str = "tok-0123456789abcdef0123456789";
const WEBHOOK_TOKEN: &str = "T0KENINPATH0123456789abcdef";
const WEBHOOK_PASSWORD: &str = "hunter2hunter2";
const QUERY_SECRET: &str = "qs-secret-value";

const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

fn secrets_config() -> (String, String) {
    let hash = mauved::http::auth::hash_password("correct horse").unwrap();
    let config = format!(
        "[[http.user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n\
         [[http.token]]\nname = \"ci-bot\"\ntoken = \"{TOKEN}\"\n\
         [[notifier]]\nname = \"chat\"\nkind = \"webhook\"\n\
         url = \"http://bot:{WEBHOOK_PASSWORD}@127.0.0.1:9/services/T01/{WEBHOOK_TOKEN}?token={QUERY_SECRET}\"\n"
    );
    (config, hash)
}

#[test]
fn no_reader_is_shown_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (config, hash) = secrets_config();
    let d = Daemon::start(dir.path(), &config);
    let secrets = [
        TOKEN,
        hash.as_str(),
        WEBHOOK_TOKEN,
        WEBHOOK_PASSWORD,
        QUERY_SECRET,
    ];
    // A raise the webhook fails to deliver: what is said of the failure
    // (log, API, page) names the URL.
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "a failed webhook attempt", || {
        (d.metric("mauved_notifications_total{result=\"retried\"}") >= 1.0).then_some(())
    });

    let (status, body) = d.get("/api/v2/status");
    assert_eq!(status, 200, "{body}");
    let original = serde_json::from_str::<serde_json::Value>(&body).unwrap()["config"]["original"]
        .as_str()
        .unwrap()
        .to_owned();
    // The configuration is still shown, with its secrets replaced.
    assert!(original.contains("ci-bot"), "{original}");
    assert!(original.contains("<secret>"), "{original}");
    for (path, answer) in [
        ("/api/v2/status", body),
        ("/metrics", d.get("/metrics").1),
        ("/", d.get("/").1),
        ("/api/oncall", d.get("/api/oncall").1),
        ("/api/history", d.get("/api/history").1),
        ("/api/alerts/web1/disk", d.get("/api/alerts/web1/disk").1),
        ("/alerts/web1/disk", d.get("/alerts/web1/disk").1),
    ] {
        for secret in secrets {
            assert!(!answer.contains(secret), "{path} shows {secret}");
        }
    }
    // Nor does the log, nor check-config on the same file.
    d.stop();
    let log = std::fs::read_to_string(dir.path().join("mauved.log")).unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(["check-config"])
        .arg(dir.path().join("mauved.toml"))
        .output()
        .unwrap();
    let check = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    for secret in secrets {
        assert!(!log.contains(secret), "the log shows {secret}");
        assert!(
            !check.contains(secret),
            "check-config shows {secret}:\n{check}"
        );
    }
}

#[test]
fn a_broken_secret_line_is_reported_without_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mauved.toml");
    for broken in [
        // A syntax error on the token's line, and a value of the wrong type.
        format!("[[http.token]]\nname = \"ci\"\ntoken = \"{TOKEN}\n"),
        format!("[[http.token]]\nname = \"ci\"\ntoken = [\"{TOKEN}\"]\n"),
        format!("[[http.user]]\nname = \"a\"\npassword_hash = \"{TOKEN}\"\n"),
    ] {
        std::fs::write(&file, &broken).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
            .arg("check-config")
            .arg(&file)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{broken} passed");
        assert!(
            said.contains("line 3") || said.contains("password_hash"),
            "no line named for {broken}:\n{said}"
        );
        assert!(!said.contains(TOKEN), "the secret is shown:\n{said}");
    }
}

/// The sum of `mauved_alerts{state=…}`: every alert the daemon holds.
fn alerts_held(d: &Daemon) -> f64 {
    let (_, body) = d.get("/metrics");
    body.lines()
        .filter(|l| l.starts_with("mauved_alerts{state="))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_flood_of_costly_markup_loses_no_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    // 64 KB of `<a<a<a…`: before stripping was one pass, each cost ~85 ms
    // (release), so 60 a second filled the socket's buffer and the kernel
    // dropped the heartbeats between them.
    let mut hostile = alert("markup", Some(now() + 3600), None);
    hostile.summary = Some("<a".repeat(32_000));
    let hostile: Vec<Vec<u8>> = (0..200)
        .map(|i| packet(100_000 + i, "attacker", vec![hostile.clone()], false))
        .collect();
    assert!(hostile[0].len() < 65_507, "fits in one datagram");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let heartbeats = 400;
    for i in 0..heartbeats {
        if i % 2 == 0 {
            socket.send_to(&hostile[i as usize / 2], d.udp).unwrap();
        }
        let beat = alert(&format!("beat-{i}"), Some(now() + 300), None);
        socket
            .send_to(&packet(10 + i, "cron1", vec![beat], false), d.udp)
            .unwrap();
        // 100 heartbeats and 50 hostile packets a second, for 4 s.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    wait_for(WAIT, "every heartbeat held", || {
        (alerts_held(&d) == f64::from(heartbeats as u32 + 1)).then_some(())
    });
}
