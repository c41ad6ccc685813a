//! Target 7: `POST /api/v2/alerts` in batches of 500, into mauved and into
//! Debian's Alertmanager 0.25 started by this tool in the same run, the same
//! batches from the same client threads; accepted alerts per second, and
//! mauved's memory holding the 100,000 alerts.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Counters, Daemon};

/// Alerts in one POST, as Prometheus batches them.
const BATCH: usize = 500;
/// Alerts in all (distinct label sets).
const ALERTS: usize = 100_000;
/// Client threads posting at once.
const THREADS: usize = 8;

/// One batch: alerts `from..from + BATCH`, firing, five minutes to live.
fn batch(from: usize) -> String {
    let now = jiff::Timestamp::now();
    let ends = now + jiff::SignedDuration::from_secs(300);
    let alerts: Vec<serde_json::Value> = (from..from + BATCH)
        .map(|i| {
            serde_json::json!({
                "labels": {
                    "alertname": "DiskFull",
                    "instance": format!("host{}.example.com:9100", i / 4),
                    "device": format!("sd{}", i % 4),
                    "severity": "warning",
                    "job": "node",
                },
                "annotations": {"summary": format!("disk {} of host {} full", i % 4, i / 4)},
                "startsAt": now.to_string(),
                "endsAt": ends.to_string(),
                "generatorURL": "http://prometheus.example.com/graph",
            })
        })
        .collect();
    serde_json::Value::Array(alerts).to_string()
}

/// Posts every batch to `addr` from [`THREADS`] threads; alerts per second.
fn post_all(addr: SocketAddr, bodies: &[String]) -> Result<f64, String> {
    let start = Instant::now();
    let chunks: Vec<Vec<String>> = (0..THREADS)
        .map(|t| bodies.iter().skip(t).step_by(THREADS).cloned().collect())
        .collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|mine| {
            std::thread::spawn(move || -> Result<(), String> {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .map_err(|e| e.to_string())?;
                for body in mine {
                    let answer = client
                        .post(format!("http://{addr}/api/v2/alerts"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .map_err(|e| format!("{addr}: {e}"))?;
                    if !answer.status().is_success() {
                        return Err(format!("{addr}: {}", answer.status()));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for handle in handles {
        handle.join().map_err(|_| "a client thread panicked")??;
    }
    Ok(ALERTS as f64 / start.elapsed().as_secs_f64())
}

/// Debian's Alertmanager on a free loopback port, clustering off.
struct Alertmanager {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Result<Alertmanager, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: none\nreceivers:\n  - name: none\n",
        )
        .map_err(|e| e.to_string())?;
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?;
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("prometheus-alertmanager (Debian's package): {e}"))?;
        let am = Alertmanager {
            child,
            addr,
            _dir: dir,
        };
        let ready = Instant::now();
        while super::get(addr, "/-/ready").is_err() {
            if ready.elapsed() > Duration::from_secs(30) {
                return Err("Alertmanager did not become ready in 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(am)
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the daemon has nothing left to write (at most two minutes).
fn written(http: SocketAddr) -> Result<(), String> {
    let start = Instant::now();
    while Counters::read(http)?.backlog > 0.0 {
        if start.elapsed() > Duration::from_secs(120) {
            return Err("the write backlog did not drain in 2 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

pub(super) fn target(extra: &str) -> Result<(), String> {
    let bodies: Vec<String> = (0..ALERTS / BATCH).map(|b| batch(b * BATCH)).collect();
    let am = match Alertmanager::start() {
        Ok(am) => am,
        Err(err) => {
            super::targets::line(
                "7 POST /api/v2/alerts x500, vs Alertmanager 0.25",
                format!("not measured: {err}"),
                ">= 5x",
                false,
            );
            return Ok(());
        }
    };
    // First every alert is new, then the same alerts again, as Prometheus
    // sends them every resend delay while they fire.
    let theirs_new = post_all(am.addr, &bodies)?;
    let theirs = post_all(am.addr, &bodies)?;
    drop(am);
    let mut daemon = Daemon::start(extra)?;
    let ours_new = post_all(daemon.http, &bodies)?;
    // The new alerts' records, details, history and messages go to disk
    // behind the answers; the resend is measured once they are there.
    written(daemon.http)?;
    let ours = post_all(daemon.http, &bodies)?;
    written(daemon.http)?;
    let counters = Counters::settled(daemon.http, Duration::from_secs(60))?;
    let ratio_new = ours_new / theirs_new;
    super::targets::line(
        "7a POST /api/v2/alerts x500, 100k new alerts, vs Alertmanager",
        format!("{ratio_new:.1}x ({ours_new:.0}/s vs {theirs_new:.0}/s)"),
        ">= 5x",
        ratio_new >= 5.0,
    );
    let ratio = ours / theirs;
    super::targets::line(
        "7b POST /api/v2/alerts x500, the 100k sent again, vs Alertmanager",
        format!("{ratio:.1}x ({ours:.0}/s vs {theirs:.0}/s)"),
        ">= 5x",
        ratio >= 5.0,
    );
    super::targets::line(
        "7c RSS holding 100k Prometheus alerts",
        format!(
            "{:.0} MiB ({:.0} raised)",
            counters.rss / 1_048_576.0,
            counters.raised
        ),
        "stated",
        true,
    );
    daemon.stop();
    Ok(())
}
