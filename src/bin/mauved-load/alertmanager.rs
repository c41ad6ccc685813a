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
                let client = crate::scratch::Client::new(Duration::from_secs(60))?;
                for body in mine {
                    let request = client
                        .request()
                        .post(format!("http://{addr}/api/v2/alerts"))
                        .header("content-type", "application/json")
                        .body(body);
                    let (status, _) = client.send(request).map_err(|e| format!("{addr}: {e}"))?;
                    if !(200..300).contains(&status) {
                        return Err(format!("{addr}: {status}"));
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
    _dir: crate::scratch::ScratchDir,
}

impl Alertmanager {
    fn start() -> Result<Alertmanager, String> {
        let dir = crate::scratch::ScratchDir::new()?;
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

impl Alertmanager {
    fn cpu(&self) -> Duration {
        super::daemon::cpu_of(self.child.id()).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the daemon has nothing left to write or deliver (at most
/// two minutes), so that one round's work does not fall in the next's.
fn quiet(http: SocketAddr) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let counters = Counters::read(http)?;
        if counters.backlog == 0.0 && counters.queued == 0.0 {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(120) {
            return Err("the write backlog and notify queue did not drain in 2 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Rounds per side: the machine is shared, so each side's best round counts.
const ROUNDS: usize = 3;

/// One side's figures over its rounds.
#[derive(Default)]
struct Side {
    /// Best alerts per second: all new, then the same sent again.
    new: f64,
    again: f64,
    /// CPU time per round: the new alerts (their writing and delivery
    /// included), then the resend; the round with the least.
    cpu: [Duration; 2],
}

impl Side {
    fn round(&mut self, new: f64, again: f64, cpu: [Duration; 2]) {
        self.new = self.new.max(new);
        self.again = self.again.max(again);
        for (best, this) in self.cpu.iter_mut().zip(cpu) {
            if best.is_zero() || this < *best {
                *best = this;
            }
        }
    }
}

pub(super) fn target(extra: &str) -> Result<(), String> {
    let bodies: Vec<String> = (0..ALERTS / BATCH).map(|b| batch(b * BATCH)).collect();
    // Each round: every alert new, then the same alerts again, as
    // Prometheus sends them every resend delay while they fire; on a fresh
    // Alertmanager, then a fresh mauved.
    let (mut theirs, mut ours) = (Side::default(), Side::default());
    let mut counters = None;
    for _ in 0..ROUNDS {
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
        let cpu0 = am.cpu();
        let new = post_all(am.addr, &bodies)?;
        let cpu1 = am.cpu();
        let again = post_all(am.addr, &bodies)?;
        theirs.round(new, again, [cpu1 - cpu0, am.cpu().saturating_sub(cpu1)]);
        drop(am);
        let mut daemon = Daemon::start(extra)?;
        let cpu = || daemon.cpu().unwrap_or_default();
        let cpu0 = cpu();
        let new = post_all(daemon.http, &bodies)?;
        // The new alerts' records, details, history and messages go to
        // disk behind the answers, and their notifications out; the resend
        // is measured once that is done.
        quiet(daemon.http)?;
        let cpu1 = cpu();
        let again = post_all(daemon.http, &bodies)?;
        quiet(daemon.http)?;
        ours.round(new, again, [cpu1 - cpu0, cpu().saturating_sub(cpu1)]);
        counters = Some(Counters::settled(daemon.http, Duration::from_secs(60))?);
        daemon.stop();
    }
    let counters = counters.ok_or("no round ran")?;
    report(&ours, &theirs, &counters);
    Ok(())
}

/// Target 7's lines: intake and CPU against Alertmanager's, and memory.
fn report(ours: &Side, theirs: &Side, counters: &Counters) {
    let versus = |name: &str, ours: f64, theirs: f64| {
        let ratio = ours / theirs;
        super::targets::line(
            name,
            format!("{ratio:.1}x ({ours:.0}/s vs {theirs:.0}/s)"),
            ">= 5x",
            ratio >= 5.0,
        );
    };
    versus(
        "7a POST /api/v2/alerts x500, 100k new alerts, vs Alertmanager",
        ours.new,
        theirs.new,
    );
    versus(
        "7b POST /api/v2/alerts x500, the 100k sent again, vs Alertmanager",
        ours.again,
        theirs.again,
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
    let per_alert = |cpu: Duration| cpu.as_secs_f64() * 1e6 / ALERTS as f64;
    super::targets::line(
        "7d CPU per alert, new / sent again, vs Alertmanager",
        format!(
            "{:.1} / {:.1} us vs {:.1} / {:.1} us",
            per_alert(ours.cpu[0]),
            per_alert(ours.cpu[1]),
            per_alert(theirs.cpu[0]),
            per_alert(theirs.cpu[1]),
        ),
        "stated",
        true,
    );
}
