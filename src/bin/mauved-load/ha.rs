//! `mauved-load ha`: target 10, delivery with `[cluster]` (two stations on
//! one etcd member, Debian's `etcd`, started here on loopback) against one
//! station alone, both to the same fast webhook receiver on 127.0.0.1.
//! Needs `mauved` built with `--features ha` (`bench/run` builds it so).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::daemon::Daemon;
use super::targets::line;

/// A webhook receiver that answers 200 to every POST, counting them and
/// keeping when each came.
struct Receiver {
    port: u16,
    count: Arc<AtomicU64>,
    times: Arc<parking_lot::Mutex<Vec<Instant>>>,
}

impl Receiver {
    fn start() -> Result<Receiver, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let count = Arc::new(AtomicU64::new(0));
        let times = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (counted, timed) = (count.clone(), times.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (counted, timed) = (counted.clone(), timed.clone());
                std::thread::spawn(move || serve(stream, &counted, &timed));
            }
        });
        Ok(Receiver { port, count, times })
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// One connection: requests in turn (keep-alive), each counted and
/// answered 200.
fn serve(stream: TcpStream, count: &AtomicU64, times: &parking_lot::Mutex<Vec<Instant>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" && !first {
                break;
            }
            first = false;
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        times.lock().push(Instant::now());
        count.fetch_add(1, Ordering::Relaxed);
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// One etcd member on free loopback ports, its data in a scratch directory.
struct Etcd {
    child: Child,
    url: String,
    _dir: crate::scratch::ScratchDir,
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl Etcd {
    fn start() -> Result<Etcd, String> {
        let dir = crate::scratch::ScratchDir::new()?;
        let (client, peer) = (free_port()?, free_port()?);
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--name", "m0", "--data-dir"])
            .arg(dir.path().join("etcd"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("m0={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("etcd: {e} (Debian's etcd-server; .ci/run installs it)"))?;
        let etcd = Etcd {
            child,
            url,
            _dir: dir,
        };
        let client = crate::scratch::Client::new(Duration::from_secs(2))?;
        let started = Instant::now();
        loop {
            let health = client.send(client.request().get(format!("{}/health", etcd.url)));
            if matches!(health, Ok((200, _))) {
                return Ok(etcd);
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err("etcd did not answer /health within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends every daemon (one `POST /events` each, at once, as a sender gives
/// both stations each event) `n` new alerts that raise together three
/// seconds later, and times the deliveries from the receiver's first to its
/// last: delivery alone, the intake done before. Then checks that no more
/// come (no duplicates) within a second.
fn deliver(daemons: &[&Daemon], receiver: &Receiver, round: u64, n: u64) -> Result<f64, String> {
    let before = receiver.count();
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"source": format!("ha{round}"), "id": format!("a{i}"), "raise": "+3s"}))
        .collect();
    let events = serde_json::Value::Array(events);
    std::thread::scope(|s| {
        let posts: Vec<_> = daemons
            .iter()
            .map(|daemon| s.spawn(|| daemon.post("/events", &events)))
            .collect();
        posts.into_iter().try_for_each(|p| {
            p.join()
                .map_err(|_| "a POST panicked".to_owned())?
                .map(drop)
        })
    })?;
    let started = Instant::now();
    while receiver.count() < before + n {
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!(
                "{} of {n} delivered in 300 s",
                receiver.count() - before
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_secs(1));
    let got = receiver.count() - before;
    if got != n {
        return Err(format!("{got} deliveries of {n} messages (duplicates)"));
    }
    let times = receiver.times.lock();
    let (first, last) = (times[before as usize], times[(before + n) as usize - 1]);
    Ok(last.duration_since(first).as_secs_f64())
}

fn webhook(port: u16) -> String {
    format!(
        "[[notifier]]\nname = \"hook\"\nkind = \"webhook\"\nformat = \"json\"\n\
         url = \"http://127.0.0.1:{port}/hook\"\n"
    )
}

/// `n` with its thousands apart: 2,000.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Target 10: `n` (2,000 in the table) raises delivered by two stations with `[cluster]`
/// within 0.8x of one station's rate (three rounds each, interleaved: the
/// median ratio).
pub(super) fn target(extra: &str, n: u64) -> Result<(), String> {
    let receiver = Receiver::start()?;
    let hook = webhook(receiver.port);
    let single = Daemon::start(&format!("{extra}{hook}"))?;
    let etcd = Etcd::start()?;
    let cluster = |name: &str| {
        format!(
            "{extra}{hook}[cluster]\nstation = \"{name}\"\netcd = [\"{}\"]\n",
            etcd.url
        )
    };
    let (a, b) = (Daemon::start(&cluster("a"))?, Daemon::start(&cluster("b"))?);
    // Until one of them leads.
    let started = Instant::now();
    let leads = |d: &Daemon| {
        super::get(d.http, "/api/cluster")
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|c| c["role"] == "leader")
    };
    while !(leads(&a) || leads(&b)) {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("no station led within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut rounds = Vec::new();
    for round in 0..3 {
        let alone = deliver(&[&single], &receiver, round, n)?;
        let paired = deliver(&[&a, &b], &receiver, 100 + round, n)?;
        rounds.push((alone / paired, alone, paired));
    }
    rounds.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (ratio, alone, paired) = rounds[rounds.len() / 2];
    let rate = |s: f64| n as f64 / s.max(1e-9);
    line(
        &format!(
            "10 delivery with [cluster] vs one station, {} raises",
            thousands(n)
        ),
        format!(
            "{ratio:.2}x ({:.0}/s vs {:.0}/s)",
            rate(paired),
            rate(alone)
        ),
        ">= 0.8x, no duplicates",
        ratio >= 0.8,
    );
    Ok(())
}
