//! A harness that runs the real `mauved` binary on 127.0.0.1 with ephemeral
//! ports and a temporary data directory, and talks to it over real UDP and HTTP.

#![allow(dead_code)]

pub mod etcd;
pub mod inproc;
pub mod sandbox;
pub mod sinks;
pub mod timeline;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mauved::wire::pb;

pub struct Daemon {
    child: Child,
    pub dir: PathBuf,
    pub udp: SocketAddr,
    pub http: SocketAddr,
}

/// A configuration on ephemeral loopback ports with data in `dir/data`, plus `extra`.
pub fn test_config(dir: &Path, extra: &str) -> String {
    test_config_flushing(dir, 50, extra)
}

/// Like [`test_config`] with the given `store.flush_interval_ms`.
pub fn test_config_flushing(dir: &Path, flush_interval_ms: u64, extra: &str) -> String {
    format!(
        "[listen]\nudp = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
         [store]\npath = \"{}\"\nflush_interval_ms = {flush_interval_ms}\n{extra}",
        dir.join("data").display()
    )
}

/// A notifier command that appends each notification (one JSON line) to `file`.
pub fn recording_notifier(file: &Path) -> String {
    format!(
        "[[notifier]]\nname = \"ops\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >> '{}'\"]\ntimeout_s = 10\n",
        file.display()
    )
}

/// A notifier whose command cannot start: every message is given up at once.
pub fn giving_up_notifier() -> String {
    "[[notifier]]\nname = \"ops\"\nkind = \"command\"\ncommand = [\"/nonexistent/notify\"]\n".into()
}

/// A notifier command that always fails (exit 1).
pub fn failing_notifier() -> String {
    "[[notifier]]\nname = \"ops\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"exit 1\"]\n"
        .into()
}

impl Daemon {
    /// Starts mauved with `extra` appended to a config that listens on
    /// ephemeral loopback ports and stores data in `dir/data`.
    pub fn start(dir: &Path, extra: &str) -> Daemon {
        Self::start_config(dir, &test_config(dir, extra))
    }

    /// Starts mauved with `listen_extra` added to the test config's
    /// `[listen]` table and `extra` after it.
    pub fn start_listening(dir: &Path, listen_extra: &str, extra: &str) -> Daemon {
        let config = test_config(dir, extra).replacen(
            "http = \"127.0.0.1:0\"\n",
            &format!("http = \"127.0.0.1:0\"\n{listen_extra}\n"),
            1,
        );
        Self::start_config(dir, &config)
    }

    /// Starts mauved with exactly this configuration text.
    pub fn start_config(dir: &Path, config: &str) -> Daemon {
        Self::start_prepared(dir, config, |_| {})
    }

    /// [`Daemon::start_config`], with the command prepared by `prepare`
    /// first (a sandbox to run it in, say).
    pub fn start_prepared(dir: &Path, config: &str, prepare: impl FnOnce(&mut Command)) -> Daemon {
        Self::start_program(
            Path::new(env!("CARGO_BIN_EXE_mauved")),
            dir,
            config,
            prepare,
        )
    }

    /// [`Daemon::start_prepared`] with another `mauved` binary (one a
    /// package installed, say).
    pub fn start_program(
        binary: &Path,
        dir: &Path,
        config: &str,
        prepare: impl FnOnce(&mut Command),
    ) -> Daemon {
        let config_path = dir.join("mauved.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut command = Command::new(binary);
        prepare(&mut command);
        let mut child = command
            .args(["serve", "--config"])
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("mauved.log"))
                    .unwrap(),
            ))
            .spawn()
            .expect("mauved starts");
        let mut udp = None;
        let mut http = None;
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(addr) = line.strip_prefix("listening udp=") {
                udp = Some(addr.parse().unwrap());
            } else if let Some(addr) = line.strip_prefix("listening http=") {
                http = Some(addr.parse().unwrap());
            } else if line == "ready" {
                break;
            }
        }
        Daemon {
            child,
            dir: dir.to_owned(),
            udp: udp.expect("mauved printed its UDP address"),
            http: http.expect("mauved printed its HTTP address"),
        }
    }

    /// Returns once everything the daemon applied before this call is on
    /// disk: an action is answered once it is written, with every change
    /// applied before it (a note on `source`/`id`, which tells nobody).
    pub fn wait_written(&self, source: &str, id: &str) {
        let (status, body) = self.post(
            &format!("/api/alerts/{source}/{id}/note"),
            r#"{"by": "test", "text": "everything before this is written"}"#,
        );
        assert_eq!(status, 200, "{body}");
    }

    /// The quiesce point: returns once everything applied before this call
    /// is on disk and every message it queued has been delivered or given
    /// up. What has not happened then will not happen from what came before.
    pub fn quiesce(&self, source: &str, id: &str) {
        self.wait_written(source, id);
        wait_for(
            Duration::from_secs(60),
            "every queued message settled",
            || (self.metric("mauved_notify_queue_depth") == 0.0).then_some(()),
        );
    }

    /// The process's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .expect("VmHWM in /proc/PID/status")
            * 1024
    }

    /// The process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Like `kill -9`.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Daemon {
    /// Sends SIGTERM and waits at most `limit` for the exit (None: still
    /// running then; it is killed when dropped).
    pub fn stop_within(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Talking to a running daemon over UDP and HTTP, whether it is the real
/// binary ([`Daemon`]) or in-process ([`inproc::InProc`]).
pub trait Client {
    fn udp(&self) -> SocketAddr;
    fn http(&self) -> SocketAddr;

    fn send(&self, bytes: &[u8]) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(bytes, self.udp()).unwrap();
    }

    fn get(&self, path: &str) -> (u16, String) {
        request(self.http(), "GET", path, "")
    }

    fn post(&self, path: &str, body: &str) -> (u16, String) {
        request(self.http(), "POST", path, body)
    }

    /// A form POST as a page's own form sends it (from this server's
    /// origin), or from `origin` when given ("": no `Origin`, as a server
    /// calling back sends it).
    fn post_form(&self, path: &str, form: &str, origin: Option<&str>) -> (u16, String) {
        let (addr, path, form) = (self.http(), path.to_owned(), form.to_owned());
        let origin = origin
            .map(str::to_owned)
            .unwrap_or_else(|| format!("http://{addr}"));
        std::thread::spawn(move || {
            let mut request = reqwest::blocking::Client::new()
                .post(format!("http://{addr}{path}"))
                .header("content-type", "application/x-www-form-urlencoded");
            if !origin.is_empty() {
                request = request.header("origin", origin);
            }
            let response = request
                .body(form)
                .timeout(Duration::from_secs(10))
                .send()
                .unwrap();
            (response.status().as_u16(), response.text().unwrap())
        })
        .join()
        .unwrap()
    }

    fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The alert, or None if the daemon does not know it.
    fn alert(&self, source: &str, id: &str) -> Option<serde_json::Value> {
        let (status, body) = self.get(&format!("/api/alerts/{source}/{id}"));
        match status {
            200 => Some(serde_json::from_str(&body).unwrap()),
            404 => None,
            other => panic!("GET /api/alerts/{source}/{id}: unexpected status {other}: {body}"),
        }
    }

    fn state(&self, source: &str, id: &str) -> Option<String> {
        self.alert(source, id)
            .map(|a| a["state"].as_str().unwrap().to_owned())
    }

    /// Waits until the alert is in `state` (up to 20 s) and returns it.
    fn wait_state(&self, source: &str, id: &str, state: &str) -> serde_json::Value {
        wait_for(
            Duration::from_secs(20),
            &format!("{source}/{id} {state}"),
            || self.alert(source, id).filter(|a| a["state"] == state),
        )
    }

    /// The value of a metric line, e.g. `mauved_packets_duplicate_total`.
    fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no metric {name}"))
            .parse()
            .unwrap()
    }
}

impl Client for Daemon {
    fn udp(&self) -> SocketAddr {
        self.udp
    }

    fn http(&self) -> SocketAddr {
        self.http
    }
}

/// A TCP connection to `to` from the loopback address `from` (any of
/// 127.0.0.0/8 is this machine), or None if it could not be made.
pub fn connect_from(from: [u8; 4], to: std::net::SocketAddr) -> Option<std::net::TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    socket
        .bind(&std::net::SocketAddr::from((from, 0)).into())
        .ok()?;
    socket
        .connect_timeout(&to.into(), std::time::Duration::from_secs(2))
        .ok()?;
    Some(socket.into())
}

/// One HTTP request; any status is an answer, not an error. (On a thread of
/// its own: the blocking client must not run inside an async test's runtime.)
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let (method, path, body) = (method.to_owned(), path.to_owned(), body.to_owned());
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let url = format!("http://{addr}{path}");
        let response = match method.as_str() {
            "GET" => client.get(&url).send(),
            "DELETE" => client.delete(&url).send(),
            "POST" => client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send(),
            other => panic!("no helper for {other}"),
        };
        let response = response.unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let status = response.status().as_u16();
        (status, response.text().unwrap_or_default())
    })
    .join()
    .unwrap()
}

/// Sends request headers and whatever of `body` the server takes (writes
/// run on their own thread and may fail once the server answers), then
/// reads the answer: the status and how long it took to come.
pub fn raw_request(addr: SocketAddr, head: &str, body: Vec<u8>) -> (u16, Duration) {
    use std::io::{Read, Write};
    let start = Instant::now();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let elapsed = start.elapsed();
    drop(stream);
    let _ = sender.join();
    let status = String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, elapsed)
}

/// Polls `check` until it returns Some, or panics after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The notifications a recording notifier wrote so far.
pub fn notifications(file: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    // A line still being written is not read yet.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (event, alert id) of each notification a recording notifier wrote.
pub fn events(file: &Path) -> Vec<(String, String)> {
    notifications(file)
        .iter()
        .flat_map(|n| {
            n["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["event"].as_str().unwrap().to_owned(),
                        e["alert"]["id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs `mauved serve` with `config` (written into `dir`) when it is expected
/// to stop by itself, and returns how it ended.
pub fn serve_once(dir: &Path, config: &str) -> std::process::Output {
    let path = dir.join("serve-once.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap()
}

pub fn now() -> u64 {
    mauved::clock::Clock::system().now()
}

/// A packet of one heartbeat of `source`: alert `id`, raised ten minutes
/// after `t` unless refreshed, clear now.
pub fn heartbeat(tid: u64, source: &str, id: &str, t: u64) -> Vec<u8> {
    packet(tid, source, vec![alert(id, Some(t + 600), Some(t))], false)
}

/// An update, sent now by the system clock, ready to send.
pub fn packet(tid: u64, source: &str, alerts: Vec<pb::Alert>, replace: bool) -> Vec<u8> {
    packet_at(tid, source, alerts, replace, now())
}

/// An update sent at `sent` by the sender's clock.
pub fn packet_at(
    tid: u64,
    source: &str,
    alerts: Vec<pb::Alert>,
    replace: bool,
    sent: u64,
) -> Vec<u8> {
    mauved::wire::encode(&pb::AlertUpdate {
        transmission_id: tid,
        source: source.into(),
        replace,
        alert: alerts,
        signature: None,
        transmission_time: Some(sent),
    })
}

pub fn alert(id: &str, raise: Option<u64>, clear: Option<u64>) -> pb::Alert {
    pb::Alert {
        id: id.into(),
        raise_time: raise,
        clear_time: clear,
        summary: Some(format!("{id} summary")),
        ..pb::Alert::default()
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}
