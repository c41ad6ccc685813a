//! etcd members for the cluster tests (Debian's `etcd-server`, started on
//! free loopback ports with their data in a temporary directory), and its
//! JSON gateway.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{request, wait_for};

const WAIT: Duration = Duration::from_secs(30);

/// etcd members on free loopback ports, data in a temporary directory.
pub struct Etcd {
    members: Vec<Option<Child>>,
    pub urls: Vec<String>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    pub fn start(dir: &Path) -> Etcd {
        Etcd::start_members(dir, 1)
    }

    /// `n` members on free loopback ports. A port found free may be taken
    /// by another process before etcd binds it: a member that exits, or
    /// members that do not all answer, are started again on other ports
    /// (a few times at most).
    pub fn start_members(dir: &Path, n: usize) -> Etcd {
        Etcd::start_with(dir, n, &[])
    }

    /// `n` members, each also given `args`.
    pub fn start_with(dir: &Path, n: usize, args: &[&str]) -> Etcd {
        for attempt in 0..4 {
            if let Some(etcd) = Etcd::try_members(&dir.join(format!("try{attempt}")), n, args) {
                return etcd;
            }
        }
        panic!("etcd did not start in four attempts: see the etcd*.log files");
    }

    fn try_members(dir: &Path, n: usize, args: &[&str]) -> Option<Etcd> {
        std::fs::create_dir_all(dir).unwrap();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let urls: Vec<String> = ports
            .iter()
            .map(|(client, _)| format!("http://127.0.0.1:{client}"))
            .collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let members = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| {
                let peer_url = format!("http://127.0.0.1:{peer}");
                let child = Command::new("etcd")
                    .args(["--name", &format!("m{i}"), "--data-dir"])
                    .arg(dir.join(format!("etcd{i}")))
                    .args(["--listen-client-urls", &urls[i]])
                    .args(["--advertise-client-urls", &urls[i]])
                    .args(["--listen-peer-urls", &peer_url])
                    .args(["--initial-advertise-peer-urls", &peer_url])
                    .args(["--initial-cluster", &initial.join(",")])
                    .args(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::from(
                        std::fs::File::create(dir.join(format!("etcd{i}.log"))).unwrap(),
                    ))
                    .spawn()
                    .expect("etcd starts: .ci/run installs Debian's etcd-server");
                Some(child)
            })
            .collect();
        let mut etcd = Etcd { members, urls };
        let started = std::time::Instant::now();
        loop {
            if etcd
                .urls
                .iter()
                .all(|url| request_url(url, "/health").0 == 200)
            {
                return Some(etcd);
            }
            let exited = etcd
                .members
                .iter_mut()
                .flatten()
                .any(|child| child.try_wait().ok().flatten().is_some());
            if exited || started.elapsed() > WAIT {
                return None; // dropped: every member stopped
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The members' client URLs as a TOML list's items.
    pub fn toml(&self) -> String {
        self.urls
            .iter()
            .map(|u| format!("\"{u}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Which member leads etcd's own cluster (its status says so).
    pub fn leader(&self) -> usize {
        wait_for(WAIT, "an etcd leader", || {
            self.urls.iter().position(|url| {
                let addr = url.trim_start_matches("http://").parse().unwrap();
                let (status, body) = request(addr, "POST", "/v3/maintenance/status", "{}");
                let status_json: serde_json::Value =
                    serde_json::from_str(&body).unwrap_or_default();
                status == 200
                    && status_json["leader"].as_str().is_some()
                    && status_json["leader"] == status_json["header"]["member_id"]
            })
        })
    }

    pub fn kill(&mut self, member: usize) {
        if let Some(mut child) = self.members[member].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for child in self.members.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// GET on etcd's HTTP port (its /health answers there).
pub fn request_url(base: &str, path: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://").parse().unwrap();
    match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
        Ok(_) => request(addr, "GET", path, ""),
        Err(_) => (0, String::new()),
    }
}

/// Every key under `prefix` in etcd, as its JSON gateway shows them.
pub fn etcd_range(etcd: &Etcd, prefix: &str) -> Vec<serde_json::Value> {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    let body = format!(
        r#"{{"key": "{}", "range_end": "{}"}}"#,
        base64(prefix.as_bytes()),
        base64(&end)
    );
    let addr = etcd.urls[0].trim_start_matches("http://").parse().unwrap();
    let (status, answer) = request(addr, "POST", "/v3/kv/range", &body);
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    answer["kvs"].as_array().cloned().unwrap_or_default()
}

/// Writes `key` = `value` into etcd through its JSON gateway, on `lease`
/// if given.
pub fn etcd_put(etcd: &Etcd, key: &str, value: &[u8], lease: Option<&str>) {
    let lease = lease
        .map(|l| format!(r#", "lease": "{l}""#))
        .unwrap_or_default();
    let body = format!(
        r#"{{"key": "{}", "value": "{}"{lease}}}"#,
        base64(key.as_bytes()),
        base64(value)
    );
    let addr = etcd.urls[0].trim_start_matches("http://").parse().unwrap();
    let (status, answer) = request(addr, "POST", "/v3/kv/put", &body);
    assert_eq!(status, 200, "{answer}");
}

pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
