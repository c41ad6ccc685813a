//! The daemon under load: one this tool starts (the default: a temporary
//! data directory, a log notifier, stopped and removed at the end) or one
//! already running (then what was sent is cleared when the run ends).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Daemon {
    pub udp: SocketAddr,
    pub http: SocketAddr,
    /// A token for a running daemon's API, if it needs one.
    token: Option<String>,
    /// Present when this tool started it.
    own: Option<(Child, crate::scratch::ScratchDir)>,
}

impl Daemon {
    /// Starts `mauved` (next to this program) on loopback with port 0, a
    /// temporary data directory and `extra` TOML appended to its config.
    pub fn start(extra: &str) -> Result<Daemon, String> {
        let dir = crate::scratch::ScratchDir::new()?;
        std::fs::write(
            dir.path().join("mauved.toml"),
            format!(
                "[listen]\nudp = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
                 [store]\npath = \"{}\"\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        match spawn(&dir) {
            Ok((child, udp, http)) => Ok(Daemon {
                udp,
                http,
                token: None,
                own: Some((child, dir)),
            }),
            Err(err) => Err(format!(
                "{err}; see its log in {}",
                dir.keep().join("mauved.log").display()
            )),
        }
    }

    pub fn running(udp: SocketAddr, http: SocketAddr, token: Option<String>) -> Daemon {
        Daemon {
            udp,
            http,
            token,
            own: None,
        }
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// POSTs a JSON body to the daemon's API; the answer must be 200.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
        let client = crate::scratch::Client::new(Duration::from_secs(120))?;
        let mut request = client.request().post(format!("http://{}{path}", self.http));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let (status, text) = client
            .send(request.json(body))
            .map_err(|e| format!("{}{path}: {e}", self.http))?;
        match status {
            200 => serde_json::from_str(&text).map_err(|e| format!("{path}: {e}: {text}")),
            401 if self.token.is_none() => Err(format!(
                "{path}: 401 {text}: give this daemon's token with --token"
            )),
            _ => Err(format!("{path}: {status} {text}")),
        }
    }

    /// CPU time the daemon this tool started has used so far.
    pub fn cpu(&self) -> Option<Duration> {
        cpu_of(self.own.as_ref()?.0.id())
    }

    pub fn is_own(&self) -> bool {
        self.own.is_some()
    }

    /// Stops a daemon this tool started (SIGTERM, then waits) and returns
    /// how long the stop took.
    pub fn stop(&mut self) -> Option<Duration> {
        let (child, _) = self.own.as_mut()?;
        let start = std::time::Instant::now();
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let _ = child.wait();
        Some(start.elapsed())
    }

    /// Starts a stopped own daemon again on the same data directory and
    /// returns how long it took until it answered `/health`.
    pub fn restart(&mut self) -> Result<Duration, String> {
        let (_, dir) = self.own.take().ok_or("not started by this tool")?;
        let start = std::time::Instant::now();
        let (child, udp, http) = spawn(&dir)?;
        (self.udp, self.http) = (udp, http);
        self.own = Some((child, dir));
        while crate::get(self.http, "/health").is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(start.elapsed())
    }
}

/// CPU time (user and system) process `pid` has used so far, from
/// `/proc/PID/stat` (Linux; in clock ticks of 1/100 s).
pub fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `mauved serve` on `dir/mauved.toml` (its log appended to
/// `dir/mauved.log`) and waits for the addresses it prints.
fn spawn(dir: &crate::scratch::ScratchDir) -> Result<(Child, SocketAddr, SocketAddr), String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("mauved.log"))
        .map_err(|e| e.to_string())?;
    let program = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("mauved");
    let mut child = Command::new(&program)
        .args(["serve", "--config"])
        .arg(dir.path().join("mauved.toml"))
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (mut udp, mut http) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(addr) = line.strip_prefix("listening udp=") {
            udp = addr.parse().ok();
        } else if let Some(addr) = line.strip_prefix("listening http=") {
            http = addr.parse().ok();
        } else if line == "ready" {
            break;
        }
    }
    match (udp, http) {
        (Some(udp), Some(http)) => Ok((child, udp, http)),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err("mauved did not start".into())
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some((child, _)) = self.own.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
