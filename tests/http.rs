//! The HTTP API of the real daemon: reads, actions and bad requests.

mod common;

use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(10);

fn started_with_alerts(dir: &std::path::Path) -> Daemon {
    let d = Daemon::start(dir, "");
    let t = now();
    d.send(&packet(
        1,
        "web1",
        vec![
            alert("disk", Some(t), None),
            alert("hb", Some(t + 600), Some(t)),
        ],
        false,
    ));
    d.send(&packet(
        2,
        "web/2",
        vec![alert("id with space", Some(t), None)],
        false,
    ));
    wait_for(WAIT, "three alerts", || {
        (d.json("/api/alerts").as_array().unwrap().len() == 3).then_some(())
    });
    d
}

#[test]
fn lists_filters_counts_and_single_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let d = started_with_alerts(dir.path());
    assert_eq!(
        d.json("/api/counts"),
        serde_json::json!({"raised": 2, "acknowledged": 0, "suppressed": 0, "pending": 1, "cleared": 0})
    );
    let pending = d.json("/api/alerts?state=pending");
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["id"], "hb");
    let web1 = d.json("/api/alerts?source=web1");
    assert_eq!(web1.as_array().unwrap().len(), 2);
    let all = d.json("/api/alerts");
    let order: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}/{}",
                a["source"].as_str().unwrap(),
                a["id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        order,
        vec!["web/2/id with space", "web1/disk", "web1/hb"],
        "sorted by source, id"
    );
    let both = d.json("/api/alerts?source=web1&state=raised");
    assert_eq!(both.as_array().unwrap().len(), 1);
    // Sources and ids with reserved characters are percent-encoded.
    let odd = d.json("/api/alerts/web%2F2/id%20with%20space");
    assert_eq!(odd["source"], "web/2");
    assert_eq!(odd["id"], "id with space");
    for field in [
        "source",
        "id",
        "state",
        "subject",
        "summary",
        "detail",
        "importance",
        "raised_at",
        "cleared_at",
        "will_raise_at",
        "will_clear_at",
        "suppress_until",
        "updated_at",
    ] {
        assert!(odd.get(field).is_some(), "field {field} missing");
    }
    assert_eq!(d.get("/api/alerts/web1/nope").0, 404);
}

#[test]
fn the_page_lists_raised_and_pending_alerts_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let mut tricky = alert("x", Some(now()), None);
    tricky.summary = Some("a & b \"quoted\" > c".into());
    d.send(&packet(1, "host", vec![tricky], false));
    d.send(&packet(
        2,
        "host",
        vec![alert("gone", None, Some(now()))],
        false,
    ));
    wait_for(WAIT, "two alerts", || {
        (d.json("/api/alerts").as_array().unwrap().len() == 2).then_some(())
    });
    let (status, page) = d.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<table>"));
    assert!(page.contains("a &amp; b &quot;quoted&quot; &gt; c"));
    assert!(!page.contains(">gone<"), "cleared alerts are not listed");
}

#[test]
fn acknowledge_and_unacknowledge() {
    let dir = tempfile::tempdir().unwrap();
    let d = started_with_alerts(dir.path());
    let until = now() + 600;
    let (status, body) = d.post(
        "/api/alerts/web1/disk/acknowledge",
        &format!("{{\"by\": \"alice\", \"until\": {until}}}"),
    );
    assert_eq!(status, 200, "{body}");
    let acked: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], "alice");
    assert_eq!(acked["will_unacknowledge_at"], until);
    assert_eq!(d.json("/api/counts")["acknowledged"], 1);

    // A pending alert cannot be acknowledged.
    let by = r#"{"by": "alice"}"#;
    let (status, body) = d.post("/api/alerts/web1/hb/acknowledge", by);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not raised"));

    let (status, body) = d.post("/api/alerts/web1/disk/unacknowledge", by);
    assert_eq!(status, 200, "{body}");
    assert_eq!(d.state("web1", "disk").as_deref(), Some("raised"));
    let (status, _) = d.post("/api/alerts/web1/disk/unacknowledge", by);
    assert_eq!(status, 409);
    assert_eq!(d.post("/api/alerts/web1/nope/acknowledge", by).0, 404);
}

#[test]
fn bad_requests_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = started_with_alerts(dir.path());
    let (status, body) = d.get("/api/alerts?state=bogus");
    assert_eq!(status, 400);
    assert!(body.contains("state must be"));
    assert_eq!(d.get("/no/such/page").0, 404);
    assert_eq!(d.post("/api/counts", "").0, 405);
    let (status, body) = d.post("/api/alerts/web1/disk/acknowledge", "{not json");
    assert_eq!(status, 400);
    assert!(body.contains("body"));
    let (status, _) = d.post("/api/alerts/web1/disk/acknowledge", "{\"bogus\": 1}");
    assert_eq!(status, 400);
    let limit = mauved::config::HttpConfig::default().max_body_bytes;
    let head = format!(
        "POST /api/alerts/web1/disk/acknowledge HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        limit + 1
    );
    assert_eq!(raw_request(d.http, &head, vec![b'x'; limit + 1]).0, 413);
    // Without a length to check first, the body is cut off at the limit.
    let chunked = "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut body = format!("{:x}\r\n", limit + 10).into_bytes();
    body.extend(vec![b' '; limit + 10]);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(raw_request(d.http, chunked, body).0, 413);
    assert_eq!(d.get("/api/alerts/%ff/x").0, 400);
    assert!(d.metric("mauved_http_bad_requests_total") >= 7.0);
    assert_eq!(
        d.state("web1", "disk").as_deref(),
        Some("raised"),
        "untouched"
    );
}

#[test]
fn an_announced_8_mib_body_gets_413_without_being_sent() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    for path in ["/events", "/api/alerts/web1/disk/acknowledge"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            8 << 20
        );
        // Not one byte of the body is sent: the answer must not wait for it.
        let (status, took) = raw_request(d.http, &head, Vec::new());
        assert_eq!(status, 413, "{path}");
        assert!(
            took < Duration::from_secs(5),
            "{path} answered after {took:?}"
        );
    }
    assert_eq!(d.get("/health").0, 200, "still serving");
}

#[test]
fn a_path_that_names_no_resource_is_404_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    for path in ["/api/alerts/a/b/c", "/api/alerts/a/b/c/d"] {
        let (status, body) = d.get(path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains("%2F"), "{path}: {body}");
    }
    let (status, body) = d.post("/api/alerts/a/b/frobnicate", "");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("acknowledge"), "{body}");
}

#[test]
fn health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let d = started_with_alerts(dir.path());
    assert_eq!(d.json("/health")["status"], "ok");
    let (status, text) = d.get("/metrics");
    assert_eq!(status, 200);
    // Written behind, in batches: two packets and the note that marks the
    // quiesce point are three batches at most, never one per alert.
    d.quiesce("web1", "disk");
    let batches = d.metric("mauved_batches_total");
    assert!((1.0..=3.0).contains(&batches), "{batches}");
    for name in [
        "mauved_packets_received_total 2",
        "mauved_packets_rejected_total{reason=\"malformed\"} 0",
        "mauved_packets_duplicate_total 0",
        "mauved_alert_updates_total 3",
        "mauved_alerts{state=\"raised\"} 2",
        "mauved_alerts{state=\"pending\"} 1",
        "mauved_notifications_total{result=\"delivered\"}",
        "mauved_notify_queue_depth",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
}

#[test]
fn check_config_reports_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[store]\nflush_interval_ms = \"soon\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("flush_interval_ms"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");

    let good = dir.path().join("good.toml");
    std::fs::write(&good, mauved::config::DEFAULT_TOML).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());

    // serve refuses a bad file with the same message instead of starting.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(["serve", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flush_interval_ms"));
}

#[test]
fn mauved_route_explains_who_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("route.toml");
    std::fs::write(
        &config,
        r#"
[[notifier]]
name = "email"
kind = "log"
[[notifier]]
name = "sms"
kind = "log"
[person.alice]
email = "alice@example.com"
sms = "+447700900001"
[person.bob]
email = "bob@example.com"
[people_list]
ops = ["alice", "bob"]
[[alert_group]]
name = "web"
level = "urgent"
match = { source = ["web*"] }
  [[alert_group.notify]]
  who = ["ops"]
"#,
    )
    .unwrap();
    let route = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
            .arg("route")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json: serde_json::Value =
        serde_json::from_str(&route(&["--source", "web1", "--id", "disk", "--json"])).unwrap();
    assert_eq!(json["group"], "web");
    assert_eq!(json["level"], "urgent");
    assert_eq!(json["recipients"][0]["person"], "alice");
    assert_eq!(
        json["recipients"][0]["notifiers"],
        serde_json::json!(["email", "sms"])
    );
    assert_eq!(
        json["recipients"][1]["addresses"]["email"],
        "bob@example.com"
    );
    assert!(json["deferred_until"].is_null());
    let text = route(&["--source", "db1", "--id", "disk"]);
    assert!(text.contains("no alert group matches"), "{text}");
    let text = route(&["--source", "web2", "--id", "x"]);
    assert!(
        text.contains("alice: email alice@example.com, sms +447700900001"),
        "{text}"
    );
}

#[test]
fn alerts_page_by_page_following_the_next_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = started_with_alerts(dir.path());
    let client = reqwest::blocking::Client::new();
    // Each page one alert; the `Link` header names the next until none is left.
    let mut seen = Vec::new();
    let mut next = Some("/api/alerts?limit=1".to_owned());
    while let Some(path) = next.take() {
        let response = client
            .get(format!("http://{}{path}", d.http))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        next = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix('<')?.split_once('>'))
            .map(|(link, _)| link.to_owned());
        let page: serde_json::Value = response.json().unwrap();
        let page = page.as_array().unwrap();
        assert_eq!(page.len(), 1, "{path}");
        seen.push(format!(
            "{}/{}",
            page[0]["source"].as_str().unwrap(),
            page[0]["id"].as_str().unwrap()
        ));
        assert!(seen.len() <= 3, "the pages do not end: {seen:?}");
    }
    assert_eq!(seen, ["web/2/id with space", "web1/disk", "web1/hb"]);
    // A source filter is kept in the next link.
    let first = client
        .get(format!("http://{}/api/alerts?limit=1&source=web1", d.http))
        .send()
        .unwrap();
    let link = first
        .headers()
        .get("link")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(link.contains("source=web1"), "{link}");
    let page: serde_json::Value = first.json().unwrap();
    assert_eq!(page[0]["id"], "disk");
    let (status, body) = d.get("/api/alerts?limit=0");
    assert_eq!(status, 400, "{body}");
    let (status, body) = d.get("/api/alerts?cursor=zz");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn a_thousand_idle_connections_do_not_stop_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    // From other clients (a client of its own is held to its share of
    // connections: `tests/attack.rs`).
    let idle: Vec<std::net::TcpStream> = (0..1000)
        .filter_map(|i| connect_from([127, 0, 2, 1 + (i % 50) as u8], d.http))
        .collect();
    assert_eq!(idle.len(), 1000);
    let asked = std::time::Instant::now();
    let (status, _) = d.get("/health");
    assert_eq!(status, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "/health took {:?} beside 1,000 idle connections",
        asked.elapsed()
    );
    drop(idle);
}

#[test]
fn connections_over_the_limit_are_closed_and_counted() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "[http]\nmax_connections = 16\n");
    let idle: Vec<std::net::TcpStream> = (0..16)
        .map(|_| std::net::TcpStream::connect(d.http).unwrap())
        .collect();
    // Twelve ordinary slots and this address's two spare ones: the last
    // two of these are refused, and said so (the event to wait for: every
    // slot is held then, and a probe from this address would be refused).
    wait_for(WAIT, "the limit reached", || {
        std::fs::read_to_string(dir.path().join("mauved.log"))
            .unwrap()
            .contains("HTTP connection limit reached")
            .then_some(())
    });
    let mut extra = std::net::TcpStream::connect(d.http).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(extra.read(&mut buf).unwrap_or(0), 0, "closed at once");
    drop(idle);
    wait_for(WAIT, "serving again", || {
        (d.get("/health").0 == 200).then_some(())
    });
    assert!(d.metric("mauved_http_connections_refused_total") >= 1.0);
}

#[test]
fn path_tricks_and_bad_encodings_get_a_clear_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let d = started_with_alerts(dir.path());
    for path in [
        "/api/alerts/%FF%FE/disk",
        "/api/alerts/web1/%C0%AF",
        "/api/alerts/..%2F..%2Fetc/passwd",
        "/api/alerts/web1/disk/%00",
        "/alerts/%FF/x",
        "/api/alerts/web1/disk/history/extra",
        "/static/../Cargo.toml",
        "/static/%2e%2e%2fCargo.toml",
    ] {
        let (status, body) = d.get(path);
        assert!((400..500).contains(&status), "{path}: {status} {body}");
    }
    let (status, _) = d.post("/api/alerts/%FF/x/acknowledge", r#"{"by": "a"}"#);
    assert!((400..500).contains(&status));
    assert_eq!(d.get("/health").0, 200, "still serving");
}

#[test]
fn the_page_the_api_and_the_metrics_count_alike() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let t = now();
    d.send(&packet(
        1,
        "web1",
        ["a", "b", "c"]
            .iter()
            .map(|id| alert(id, Some(t), None))
            .collect(),
        false,
    ));
    wait_for(WAIT, "three raised", || {
        (d.json("/api/counts")["raised"] == 3).then_some(())
    });
    let (status, body) = d.post("/api/alerts/web1/a/suppress", r#"{"by": "x", "for": "1h"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, body) = d.post("/api/alerts/web1/b/acknowledge", r#"{"by": "x"}"#);
    assert_eq!(status, 200, "{body}");
    // Each alert counted once: the suppressed one is not also raised.
    assert_eq!(
        d.json("/api/counts"),
        serde_json::json!({"raised": 1, "acknowledged": 1, "suppressed": 1, "pending": 0, "cleared": 0})
    );
    let (_, page) = d.get("/");
    assert!(
        page.contains("1 raised, 1 acknowledged, 1 suppressed, 0 pending"),
        "{page}"
    );
    let (_, metrics) = d.get("/metrics");
    for line in [
        "mauved_alerts{state=\"raised\"} 1",
        "mauved_alerts{state=\"acknowledged\"} 1",
        "mauved_alerts{state=\"suppressed\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[test]
fn one_path_segment_under_api_alerts_is_a_missing_id_not_a_wrong_method() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let (status, body) = d.get("/api/alerts/web3%3A9100");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("/api/alerts/{source}/{id}"), "{body}");
}

#[test]
fn shadow_report_says_when_the_station_is_not_in_shadow_mode() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(["shadow-report", "--url"])
        .arg(format!("http://{}", d.http))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("not in shadow mode"), "{said}");
}
