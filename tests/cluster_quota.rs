//! etcd within its quota: two stations on an etcd whose quota is half what
//! they write through it over the run, and etcd never
//! refuses a write (no NOSPACE alarm): the shared actions every station
//! applied are deleted and etcd's history compacted as the run goes.
//! Built with `--features ha`.

#![cfg(feature = "ha")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::etcd::*;
use common::*;

const WAIT: Duration = Duration::from_secs(60);
/// etcd's quota in this test, and what goes through etcd meanwhile: twice
/// as much (etcd's file grows 16 MiB at a time: the quota leaves room).
const QUOTA: u64 = 48 << 20;
const NOTE: usize = 9_000;
const ALERTS: usize = 50;
const ROUNDS: usize = 2 * (QUOTA as usize) / (NOTE * ALERTS) + 1;

fn station(dir: &Path, name: &str, etcd: &Etcd) -> Daemon {
    std::fs::create_dir_all(dir).unwrap();
    Daemon::start(
        dir,
        &format!(
            "[cluster]\nstation = \"{name}\"\netcd = [{}]\nlease_ttl_s = 5\n\
             compact_every = \"1s\"\netcd_quota_bytes = {QUOTA}\n",
            etcd.toml()
        ),
    )
}

/// etcd's answer to a maintenance call through its JSON gateway.
fn maintenance(etcd: &Etcd, call: &str, body: &str) -> serde_json::Value {
    let addr = etcd.urls[0].trim_start_matches("http://").parse().unwrap();
    let (status, answer) = request(addr, "POST", &format!("/v3/maintenance/{call}"), body);
    assert_eq!(status, 200, "{answer}");
    serde_json::from_str(&answer).unwrap()
}

fn db_size(etcd: &Etcd) -> u64 {
    let status = maintenance(etcd, "status", "{}");
    status["dbSize"].as_str().unwrap().parse().unwrap()
}

#[test]
fn twice_etcds_quota_of_shared_notes_never_raises_its_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let quota = QUOTA.to_string();
    let etcd = Etcd::start_with(
        &dir.path().join("etcd"),
        1,
        &["--quota-backend-bytes", &quota],
    );
    let a = station(&dir.path().join("a"), "a", &etcd);
    let b = station(&dir.path().join("b"), "b", &etcd);
    let ids: Vec<String> = (0..ALERTS).map(|i| format!("disk{i}")).collect();
    let raises = ids
        .iter()
        .map(|id| alert(id, Some(now()), None))
        .collect::<Vec<_>>();
    for d in [&a, &b] {
        d.send(&packet(1, "web1", raises.clone(), false));
    }
    for d in [&a, &b] {
        wait_for(WAIT, "every alert raised and the actions shared", || {
            let raised = d.json("/api/counts")["raised"].as_u64() == Some(ALERTS as u64);
            let sharing = d.json("/api/cluster")["sharing_actions"] == true;
            (raised && sharing).then_some(())
        });
    }
    let alerts: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| serde_json::json!({"source": "web1", "id": id}))
        .collect();
    let mut written = 0;
    for round in 0..ROUNDS {
        let text = format!("{round:05} {}", "x".repeat(NOTE));
        let body = serde_json::json!({"alerts": alerts, "text": text, "by": "ci"}).to_string();
        let on = if round % 2 == 0 { &a } else { &b };
        let (status, answer) = on.post("/api/alerts/note", &body);
        assert_eq!(status, 200, "round {round}: {answer}");
        let results: serde_json::Value = serde_json::from_str(&answer).unwrap();
        for result in results["results"].as_array().unwrap() {
            assert_eq!(result["status"], 200, "round {round}: {result}");
        }
        written += NOTE * ALERTS;
    }
    assert!(
        written as u64 > 2 * QUOTA,
        "{written} bytes went through etcd"
    );
    // Both stations hold every note; etcd never refused one.
    for d in [&a, &b] {
        let notes = d
            .json("/api/alerts/web1/disk0/history")
            .as_array()
            .unwrap()
            .iter()
            .filter(|line| line["kind"] == "note")
            .count();
        assert_eq!(notes, ROUNDS);
    }
    let alarms = maintenance(&etcd, "alarm", r#"{"action": "GET"}"#);
    assert!(
        alarms["alarms"].as_array().is_none_or(Vec::is_empty),
        "{alarms}"
    );
    let size = db_size(&etcd);
    assert!(size < QUOTA, "etcd's database is {size} bytes");
    // The leader compacted, and says etcd's size.
    let compacted = wait_for(WAIT, "a compaction", || {
        let leader = [&a, &b]
            .into_iter()
            .find(|d| d.json("/api/cluster")["role"] == "leader")?;
        let revision = leader.metric("mauved_cluster_etcd_compacted_revision");
        (revision > 0.0).then_some(leader.metric("mauved_cluster_etcd_db_bytes"))
    });
    assert!(compacted > 0.0);
    eprintln!("etcd database: {size} bytes after {written} bytes of notes (quota {QUOTA})");
}
