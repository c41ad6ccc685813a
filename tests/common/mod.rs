//! A harness that runs the real `mauved` binary on 127.0.0.1 with ephemeral
//! ports and a temporary data directory, and talks to it over real UDP and HTTP.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
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

/// A notifier command that appends each notification (one JSON line) to `file`.
pub fn recording_notifier(file: &Path) -> String {
    format!(
        "[[notifier]]\nname = \"ops\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >> '{}'\"]\ntimeout_s = 10\n",
        file.display()
    )
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
        let config = format!(
            "[listen]\nudp = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
             [store]\npath = \"{}\"\nflush_interval_ms = 50\n{extra}",
            dir.join("data").display()
        );
        let config_path = dir.join("mauved.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mauved"))
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

    pub fn send(&self, bytes: &[u8]) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(bytes, self.udp).unwrap();
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        request(self.http, "GET", path, "")
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        request(self.http, "POST", path, body)
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The alert, or None if the daemon does not know it.
    pub fn alert(&self, source: &str, id: &str) -> Option<serde_json::Value> {
        let (status, body) = self.get(&format!("/api/alerts/{source}/{id}"));
        match status {
            200 => Some(serde_json::from_str(&body).unwrap()),
            404 => None,
            other => panic!("unexpected status {other}: {body}"),
        }
    }

    pub fn state(&self, source: &str, id: &str) -> Option<String> {
        self.alert(source, id)
            .map(|a| a["state"].as_str().unwrap().to_owned())
    }

    /// Waits until the alert is in `state` (up to 20 s) and returns it.
    pub fn wait_state(&self, source: &str, id: &str, state: &str) -> serde_json::Value {
        wait_for(
            Duration::from_secs(20),
            &format!("{source}/{id} {state}"),
            || self.alert(source, id).filter(|a| a["state"] == state),
        )
    }

    /// The value of a metric line, e.g. `mauved_packets_duplicate_total`.
    pub fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no metric {name}"))
            .parse()
            .unwrap()
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

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-shot HTTP/1.1 request.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
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
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn now() -> u64 {
    mauved::clock::Clock::system().now()
}

/// An update with one alert, ready to send.
pub fn packet(tid: u64, source: &str, alerts: Vec<pb::Alert>, replace: bool) -> Vec<u8> {
    mauved::wire::encode(&pb::AlertUpdate {
        transmission_id: tid,
        source: source.into(),
        replace,
        alert: alerts,
        signature: None,
        transmission_time: Some(now()),
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
