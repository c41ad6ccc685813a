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
        ("/api/handover", d.get("/api/handover").1),
        (
            "/api/handover?format=text",
            d.get("/api/handover?format=text").1,
        ),
        ("/handover", d.get("/handover").1),
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
    let (_, check) = mauved_bounded("check-config", &dir.path().join("mauved.toml"));
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
        let (code, said) = mauved_bounded("check-config", &file);
        assert_eq!(code, Some(2), "{broken} passed");
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

/// `GET path` on a new connection from 127.0.0.1: the status and how long
/// the answer took, or None if there was none within `limit`.
fn probe(
    to: std::net::SocketAddr,
    path: &str,
    limit: std::time::Duration,
) -> Option<(u16, std::time::Duration)> {
    use std::io::{Read, Write};
    let started = std::time::Instant::now();
    let mut stream = std::net::TcpStream::connect_timeout(&to, limit).ok()?;
    stream.set_read_timeout(Some(limit)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    let status = std::str::from_utf8(&head[9..12]).ok()?.parse().ok()?;
    Some((status, started.elapsed()))
}

#[test]
fn no_client_locks_the_others_out() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let to = d.http;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // 4,096 streams, 64 from each of 64 addresses, held open.
    let streams = std::thread::spawn(move || {
        let mut held = Vec::new();
        for i in 0..4096u32 {
            let from = [127, 0, 2, 1 + (i % 64) as u8];
            if let Some(mut s) = connect_from(from, to) {
                let _ = write!(s, "GET /api/stream HTTP/1.1\r\nHost: {to}\r\n\r\n");
                held.push(s);
            }
        }
        held
    });
    // A slowloris loop from 8 addresses: headers a line at a time, never
    // finished, and 400 KB of unfinished headers; again as each is closed.
    let slow: Vec<_> = (0..8u8)
        .map(|a| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut open: Vec<std::net::TcpStream> = Vec::new();
                let mut round = 0u32;
                let started = std::time::Instant::now();
                while !stop.load(Ordering::Relaxed)
                    && started.elapsed() < std::time::Duration::from_secs(30)
                {
                    while open.len() < 80 {
                        let Some(mut s) = connect_from([127, 0, 3, 1 + a], to) else {
                            break;
                        };
                        let _ = s.set_write_timeout(Some(std::time::Duration::from_millis(200)));
                        let _ = write!(s, "GET / HTTP/1.1\r\nHost: {to}\r\n");
                        if round.is_multiple_of(4) {
                            let _ = s.write_all(
                                format!("X-Big: {}\r\n", "a".repeat(400_000)).as_bytes(),
                            );
                        }
                        open.push(s);
                    }
                    open.retain_mut(|s| write!(s, "X-{round}: slow\r\n").is_ok());
                    round += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            })
        })
        .collect();
    // Meanwhile, /health and /metrics from 127.0.0.1 are answered, every
    // one (before the limits, every probe was refused), 95% of them
    // within a second (checked below).
    let mut slowest = std::time::Duration::ZERO;
    let started = std::time::Instant::now();
    let mut probes = 0;
    let mut late = 0;
    while started.elapsed() < std::time::Duration::from_secs(12) {
        for path in ["/health", "/metrics"] {
            let (status, took) = probe(to, path, std::time::Duration::from_secs(10))
                .unwrap_or_else(|| panic!("{path} was refused or unanswered (probe {probes})"));
            assert_eq!(status, 200, "{path}");
            slowest = slowest.max(took);
            if took >= std::time::Duration::from_secs(1) {
                late += 1;
            }
            probes += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let held = streams.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in slow {
        t.join().unwrap();
    }
    let refused = d.metric("mauved_http_connections_refused_total");
    // Under the stated memory ceiling (456 MiB, docs/durability-and-memory.md) with room to spare.
    let peak = d.peak_rss();
    eprintln!(
        "{probes} probes, slowest {slowest:?}; {} attacking connections made, {refused} refused; peak {} MiB",
        held.len(),
        peak >> 20
    );
    assert!(refused > 0.0, "no connection was refused");
    assert!(peak < 456 << 20, "peak RSS {} MiB", peak >> 20);
    // Within a second: all but the odd one a busy shared machine delays
    // (each probe is a new connection, a fsync for /health).
    assert!(
        late * 20 <= probes,
        "{late} of {probes} probes took a second or more"
    );
    drop(held);
}

/// A request with these headers and body: the status and the body.
fn send_with(
    d: &Daemon,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("http://{}{path}", d.http);
    let mut r = match method {
        "GET" => client.get(&url),
        _ => client.post(&url).body(body.to_owned()),
    };
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let response = r.send().unwrap();
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

#[test]
fn in_open_mode_a_page_of_another_site_can_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    d.wait_state("web1", "disk", "raised");
    let evil = [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ];
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let plain = [("content-type", "text/plain")];
    let json = [("content-type", "application/json")];
    // (path, headers, body, the status expected)
    type Attempt<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, u16);
    let attempts: Vec<Attempt> = vec![
        // A cross-site form to the page's own action.
        (
            "/actions",
            [&evil[..], &form[..]].concat(),
            "action=acknowledge&alert=web1%2Fdisk&by=evil",
            403,
        ),
        // Only an Origin (an older browser): still another site.
        (
            "/actions",
            [&[evil[0]][..], &form[..]].concat(),
            "action=acknowledge&alert=web1%2Fdisk&by=evil",
            403,
        ),
        // A text/plain body shaped as JSON, no browser headers at all.
        (
            "/api/alerts/web1/disk/forget",
            plain.to_vec(),
            r#"{"by": "evil"}"#,
            415,
        ),
        // A silence of everything, cross-site.
        (
            "/api/v2/silences",
            [&evil[..], &plain[..]].concat(),
            r#"{"matchers":[{"name":"source","value":".+","isRegex":true}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2035-01-01T00:00:00Z","createdBy":"evil","comment":"x"}"#,
            403,
        ),
        // A name rebound to 127.0.0.1.
        (
            "/api/alerts/web1/disk/acknowledge",
            [&json[..], &[("host", "rebind.attacker.test")][..]].concat(),
            r#"{"by": "evil"}"#,
            421,
        ),
    ];
    for (path, headers, body, expected) in &attempts {
        let (status, answer) = send_with(&d, "POST", path, headers, body);
        assert_eq!(status, *expected, "POST {path} with {headers:?}: {answer}");
    }
    // Any header a proxy adds makes a request not local.
    for proxy in [
        "via",
        "x-forwarded-host",
        "x-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
    ] {
        let (status, answer) = send_with(
            &d,
            "POST",
            "/api/alerts/web1/disk/acknowledge",
            &[json[0], (proxy, "203.0.113.9")],
            r#"{"by": "evil"}"#,
        );
        assert_eq!(status, 401, "{proxy}: {answer}");
    }
    let (status, _) = send_with(
        &d,
        "GET",
        "/api/alerts",
        &[("host", "rebind.attacker.test")],
        "",
    );
    assert_eq!(status, 421, "a rebound name reads nothing");
    let alert = d.wait_state("web1", "disk", "raised");
    assert!(alert["acknowledged_by"].is_null(), "{alert}");
    let (_, silences) = d.get("/api/v2/silences");
    assert_eq!(silences.trim(), "[]", "no silence was made");
    // This machine's own JSON, and the page's own form, still act.
    let (status, answer) = send_with(
        &d,
        "POST",
        "/actions",
        &[
            form[0],
            ("origin", &format!("http://{}", d.http)),
            ("sec-fetch-site", "same-origin"),
        ],
        "action=note&alert=web1%2Fdisk&by=alice&text=seen",
    );
    assert_eq!(status, 303, "the page's own form: {answer}");
    let (status, answer) = d.post(
        "/api/alerts/web1/disk/acknowledge",
        r#"{"by": "alice", "for_s": 60}"#,
    );
    assert_eq!(status, 200, "{answer}");
}

fn login(to: std::net::SocketAddr, name: &str, password: &str) -> u16 {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("name", name), ("password", password)])
        .finish();
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
        .post(format!("http://{to}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn guesses_at_once_get_no_more_tries_and_no_more_memory() {
    let dir = tempfile::tempdir().unwrap();
    let hash = mauved::http::auth::hash_password("correct horse").unwrap();
    let d = Daemon::start(
        dir.path(),
        &format!("[[http.user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n"),
    );
    let to = d.http;
    // 40 guesses at once, the right one among them: 5 are checked.
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let guesses: Vec<_> = (0..40)
            .map(|i| {
                scope.spawn(move || {
                    let password = if i == 39 { "correct horse" } else { "wrong" };
                    login(to, "alice", password)
                })
            })
            .collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let checked = answers.iter().filter(|s| **s != 429).count();
    assert!(
        checked <= 5,
        "{checked} of 40 guesses were checked: {answers:?}"
    );
    // Many names at once: the checks wait their turn instead of each
    // taking ~19 MiB at the same time.
    std::thread::scope(|scope| {
        for i in 0..60 {
            scope.spawn(move || login(to, &format!("mallory{i}"), "x"));
        }
    });
    let peak = d.peak_rss();
    assert!(peak < 456 << 20, "peak RSS {} MiB", peak >> 20);
    // A name of half a megabyte is refused before anything is kept of it.
    assert_eq!(login(to, &"n".repeat(512 << 10), "x"), 400);
}

#[test]
fn free_text_is_held_to_its_limit_where_it_enters() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let alerts: Vec<_> = (0..400)
        .map(|i| alert(&format!("a{i}"), Some(now()), None))
        .collect();
    d.send(&packet(1, "web1", alerts, false));
    d.wait_state("web1", "a399", "raised");
    let huge = "x".repeat(500_000);
    let targets: Vec<_> = (0..400)
        .map(|i| serde_json::json!({"source": "web1", "id": format!("a{i}")}))
        .collect();
    let refused = [
        (
            "/api/alerts/acknowledge",
            serde_json::json!({"by": huge, "alerts": targets}),
            "by: at most 200 characters",
        ),
        (
            "/api/alerts/web1/a1/note",
            serde_json::json!({"by": "alice", "text": huge}),
            "text: at most 10000 characters",
        ),
        (
            "/api/v2/silences",
            serde_json::json!({"matchers": [{"name": "source", "value": "web1", "isRegex": false}],
                "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
                "createdBy": huge, "comment": "x"}),
            "createdBy: at most 200 characters",
        ),
        (
            "/api/v2/silences",
            serde_json::json!({"matchers": [{"name": "source", "value": "web1", "isRegex": false}],
                "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
                "createdBy": "alice", "comment": huge}),
            "comment: at most 10000 characters",
        ),
        (
            "/api/v2/silences",
            serde_json::json!({"matchers": [{"name": "source", "value": huge, "isRegex": false}],
                "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
                "createdBy": "alice", "comment": "x"}),
            "matchers[0].value: at most 1024 characters",
        ),
    ];
    for (path, body, said) in refused {
        let (status, answer) = d.post(path, &body.to_string());
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer.contains(said), "{path}: {answer}");
        assert!(answer.len() < 1000, "the answer does not quote it back");
    }
    let alert = d.alert("web1", "a1").unwrap();
    assert!(alert["acknowledged_by"].is_null(), "{alert}");
    let (_, silences) = d.get("/api/v2/silences");
    assert_eq!(silences.trim(), "[]");
}

#[test]
fn text_from_outside_cannot_forge_or_flood_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    // A newline in an id, shown by the log notifier and the daemon's log.
    let forged = "disk\n2026-12-07T00:00:00Z ERROR mauved: injected";
    let mut hostile = alert(forged, Some(now()), None);
    hostile.summary = Some("summary\r\nFAKE line\u{1b}[2J".into());
    // A detail the HTML parser complains about at every step.
    hostile.detail = Some("<table><tr>x".repeat(4000));
    d.send(&packet(1, "web1", vec![hostile], false));
    let key = "/alerts/web1/disk%0A2026-12-07T00:00:00Z%20ERROR%20mauved:%20injected";
    wait_for(WAIT, "the alert", || (d.get(key).0 == 200).then_some(()));
    for _ in 0..10 {
        let (status, page) = d.get(key);
        assert_eq!(status, 200);
        assert!(
            page.contains("&lt;table&gt;"),
            "shown as text past the tag limit"
        );
    }
    wait_for(WAIT, "the notification logged", || {
        let log = std::fs::read_to_string(dir.path().join("mauved.log")).unwrap();
        log.contains("notification:").then_some(())
    });
    d.stop();
    let log = std::fs::read_to_string(dir.path().join("mauved.log")).unwrap();
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-12-07T00:00:00Z ERROR") && !line.starts_with("FAKE"),
            "a forged line: {line:?}"
        );
        assert!(!line.contains('\u{1b}'), "a terminal escape: {line:?}");
    }
    assert!(
        log.contains("injected"),
        "the line is there, escaped:\n{log}"
    );
    assert!(log.lines().count() < 100, "{} lines", log.lines().count());
}

/// `mauved import-mauve FILE`: the exit code and what it said on stderr.
fn import_mauve(file: &std::path::Path) -> (Option<i32>, String) {
    mauved_bounded("import-mauve", file)
}

/// `mauved COMMAND FILE`, killed (and the test failed) after 20 s: its
/// exit code and all it printed (standard output, then standard error).
fn mauved_bounded(command: &str, file: &std::path::Path) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .arg(command)
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    fn read_all(mut from: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut said = String::new();
            let _ = from.read_to_string(&mut said);
            said
        })
    }
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let said = stdout.join().unwrap() + &stderr.join().unwrap();
            return (status.code(), said);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("mauved {command} {} hung", file.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

const MAUVE_HEAD: &str = "notification_method(\"email\") {\n  from \"mauve@example.com\"\n  server \"mail.example.com\"\n}\nperson(\"alice\") {\n  email \"a@example.com\"\n}\n";

#[test]
fn import_mauve_reads_no_more_than_a_configuration_and_refuses_what_would_crash_it() {
    let dir = tempfile::tempdir().unwrap();
    // A device that never ends, a FIFO nobody writes.
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for file in [std::path::PathBuf::from("/dev/urandom"), fifo] {
        let (code, said) = import_mauve(&file);
        assert_eq!(code, Some(2), "{said}");
        assert!(said.contains("not a regular file"), "{said}");
    }
    // 20,000 `&&` and `||`: a fault, not a stack overflow (exit 134).
    for op in ["&&", "||"] {
        let chain = vec!["source == \"a\""; 20_000].join(&format!(" {op} "));
        let file = dir.path().join("chain.conf");
        std::fs::write(
            &file,
            format!("{MAUVE_HEAD}alert_group(\"x\") {{\n  includes {{ {chain} }}\n  notify(\"alice\")\n}}\n"),
        )
        .unwrap();
        let (code, said) = import_mauve(&file);
        assert_eq!(code, Some(2), "{said}");
        assert!(said.contains("more than 1000 operators"), "{said}");
    }
    // Lists naming the list below twice, 30 deep: each expanded once.
    let mut text = format!("{MAUVE_HEAD}people_list \"l0\", [\"alice\"]\n");
    for level in 1..=30 {
        text.push_str(&format!(
            "people_list \"l{level}\", [\"l{0}\", \"l{0}\"]\n",
            level - 1
        ));
    }
    text.push_str(
        "alert_group(\"all\") {\n  includes { true }\n  notify(\"l30\") { every 10.minutes }\n}\n",
    );
    let file = dir.path().join("lists.conf");
    std::fs::write(&file, text).unwrap();
    let (code, said) = import_mauve(&file);
    assert_eq!(code, Some(0), "{said}");
}

#[test]
fn check_config_refuses_windows_and_lists_that_double_at_every_level() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("[window]\nw0 = { days = \"mon-fri\" }\n");
    for level in 1..=30 {
        text.push_str(&format!(
            "w{level} = {{ any = [\"w{0}\", \"w{0}\"] }}\n",
            level - 1
        ));
    }
    text.push_str("[person.alice]\nemail = \"a@example.com\"\n[people_list]\nl0 = [\"alice\"]\n");
    for level in 1..=2000 {
        text.push_str(&format!("l{level} = [\"l{0}\", \"l{0}\"]\n", level - 1));
    }
    text.push_str(
        "[[notifier]]\nname = \"email\"\nkind = \"smtp\"\nserver = \"127.0.0.1:25\"\nfrom = \"m@example.com\"\n\
         [[alert_group]]\nname = \"all\"\n[[alert_group.notify]]\nwho = [\"l2000\"]\nduring = \"w30\"\n",
    );
    let file = dir.path().join("mauved.toml");
    std::fs::write(&file, text).unwrap();
    let (code, said) = mauved_bounded("check-config", &file);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("at most 1000"), "{said}");
    assert!(said.contains("deep"), "{said}");
}

#[test]
fn sigterm_exits_while_the_disk_takes_no_writes() {
    let dir = tempfile::tempdir().unwrap();
    // More free space kept than any disk has: every write is refused.
    let config = test_config(dir.path(), "").replacen(
        "[store]\n",
        "[store]\nmin_free_mib = 1000000000\n",
        1,
    );
    let d = Daemon::start_config(dir.path(), &config);
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    d.wait_state("web1", "disk", "raised");
    wait_for(WAIT, "a write refused", || {
        (d.metric("mauved_store_errors_total") >= 1.0).then_some(())
    });
    let status = d
        .stop_within(std::time::Duration::from_secs(15))
        .expect("mauved exits after SIGTERM though nothing can be written");
    assert!(!status.success(), "what was not written is an error");
    let log = std::fs::read_to_string(dir.path().join("mauved.log")).unwrap();
    assert!(log.contains("not stopped within"), "{log}");
}

/// Resident memory now, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

#[test]
fn listing_every_alert_at_once_costs_a_batch_not_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let total = 40_000u64;
    for chunk in 0..total / 100 {
        let alerts: Vec<_> = (0..100)
            .map(|i| {
                let mut a = alert(&format!("a{}", chunk * 100 + i), Some(now()), None);
                a.detail = Some("d".repeat(400));
                a
            })
            .collect();
        d.send(&packet(
            1 + chunk,
            &format!("host{}", chunk % 50),
            alerts,
            false,
        ));
        if chunk % 20 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    wait_for(WAIT, "every alert raised", || {
        (d.metric("mauved_alerts{state=\"raised\"}") == total as f64).then_some(())
    });
    d.wait_written("host0", "a0");
    // The peak so far forgotten (5 resets VmHWM), so that the peak read
    // after is the listings'.
    std::fs::write(format!("/proc/{}/clear_refs", d.pid()), "5").unwrap();
    let before = rss(d.pid());
    let to = d.http;
    // Six listings at once, each read whole.
    let lengths: Vec<usize> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(move || {
                    // Four of the six wait their turn: a generous timeout.
                    let response = reqwest::blocking::Client::builder()
                        .timeout(std::time::Duration::from_secs(120))
                        .build()
                        .unwrap()
                        .get(format!("http://{to}/api/v2/alerts"))
                        .send()
                        .unwrap();
                    assert_eq!(response.status().as_u16(), 200);
                    let alerts: serde_json::Value =
                        serde_json::from_str(&response.text().unwrap()).unwrap();
                    alerts.as_array().unwrap().len()
                })
            })
            .collect();
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(lengths.iter().all(|n| *n == total as usize), "{lengths:?}");
    let grew = d.peak_rss().saturating_sub(before);
    eprintln!(
        "RSS {} MiB before the listings, peak {} MiB more",
        before >> 20,
        grew >> 20
    );
    // Each whole answer is ~30 MB of JSON (and was several times that in
    // memory while it was built): six at once would be hundreds of MB.
    assert!(grew < 64 << 20, "listing grew RSS by {} MiB", grew >> 20);
}

#[test]
fn alertmanager_times_are_read_as_rfc_3339_says() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let post = |starts: &str, ends: &str| {
        d.post(
            "/api/v2/alerts",
            &format!(r#"[{{"labels": {{"alertname": "a"}}, "startsAt": "{starts}", "endsAt": "{ends}"}}]"#),
        )
    };
    let (status, answer) = post("2026-01-01T00:00:00Z", "2025-01-01T00:00:00Z");
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("endsAt: before startsAt"), "{answer}");
    let (status, answer) = post("2026-01-01T00:00:00+25:59", "");
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("at most ±23:59"), "{answer}");
    // A time RFC 3339 allows is one, whatever its year; then it is too far.
    let (status, answer) = post("2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z");
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("more than 3650 days from now"), "{answer}");
}

#[test]
fn a_station_may_require_a_token_to_send_alerts_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let ingest = "ingest-0123456789abcdef";
    let config = format!(
        "[http]\ningest_requires_token = true\n\
         [[http.token]]\nname = \"ci-bot\"\ntoken = \"{TOKEN}\"\n\
         [[http.token]]\nname = \"prometheus\"\ntoken = \"{ingest}\"\nscopes = [\"ingest\"]\n"
    );
    let d = Daemon::start(dir.path(), &config);
    let event = format!(
        r#"{{"id": "disk", "source": "web1", "raise": "now", "suppress_until": {}}}"#,
        now() + 3000 * 86_400
    );
    let json = ("content-type", "application/json");
    let bearer = |t: &str| format!("Bearer {t}");
    // Anonymous: refused, on both ways in.
    let (status, answer) = send_with(&d, "POST", "/events", &[json], &event);
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("ingest"), "{answer}");
    let (status, _) = send_with(
        &d,
        "POST",
        "/api/v2/alerts",
        &[json],
        r#"[{"labels": {"alertname": "x"}}]"#,
    );
    assert_eq!(status, 401);
    assert!(d.alert("web1", "disk").is_none(), "nothing was applied");
    // With the ingest token: sent. It may not act.
    let auth = bearer(ingest);
    let (status, answer) = send_with(
        &d,
        "POST",
        "/events",
        &[json, ("authorization", &auth)],
        r#"{"id": "disk", "source": "web1", "raise": "now"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    let acknowledge = |auth: &str| {
        send_with(
            &d,
            "POST",
            "/api/alerts/web1/disk/acknowledge",
            &[json, ("authorization", auth)],
            "{}",
        )
    };
    let (status, answer) = acknowledge(&auth);
    assert_eq!(status, 403, "{answer}");
    // A token with every scope does both.
    let (status, answer) = acknowledge(&bearer(TOKEN));
    assert_eq!(status, 200, "{answer}");
}
