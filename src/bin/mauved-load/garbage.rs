//! Garbage at the sender's full rate beside real heartbeats: what a hostile
//! or broken sender costs the real ones, and the daemon's memory meanwhile.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::daemon::Daemon;
use crate::traffic::{Keys, Sender, Templates};
use crate::{now, Counters};

/// Real heartbeats a second beside the garbage.
pub const REAL_PER_S: u64 = 1_000;

pub struct Garbage {
    /// Garbage datagrams sent, and in how long.
    pub sent: u64,
    pub elapsed: Duration,
    /// Datagrams the daemon refused and counted, by any reason.
    pub counted: f64,
    pub real_sent: u64,
    pub real_applied: f64,
    /// The daemon's resident memory, sampled every second, at most.
    pub peak: f64,
    /// The real heartbeats' keys.
    pub keys: Keys,
}

impl Garbage {
    pub fn per_second(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn print(&self) {
        println!(
            "garbage     {} datagrams in {:.1} s ({:.0}/s), {:.0} refused and counted by the daemon",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.counted
        );
        println!(
            "real        {} heartbeats sent at {REAL_PER_S}/s, {:.0} applied ({} lost)",
            self.real_sent,
            self.real_applied,
            self.real_sent as f64 - self.real_applied
        );
        println!("peak RSS    {:.1} MiB", self.peak / 1048576.0);
    }
}

/// One sender thread of garbage as fast as it goes (random bytes of random
/// length, truncated updates, empty datagrams, an update whose alert list
/// is cut short), and real heartbeats at [`REAL_PER_S`], for `duration`.
pub fn run(daemon: &Daemon, duration: Duration) -> Result<Garbage, String> {
    let real_count = REAL_PER_S * duration.as_secs().max(1);
    let keys = Keys::new(real_count, 1);
    let templates = Templates::heartbeats(keys, now(), now() + 3600);
    let sample = templates.packet(0);
    let before = Counters::read(daemon.http)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        let target = daemon.udp;
        std::thread::spawn(move || -> std::io::Result<u64> {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            socket.connect(target)?;
            let mut sent = 0u64;
            let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
            let mut junk = vec![0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                let datagram: &[u8] = match sent % 4 {
                    0 => {
                        state = xorshift(state);
                        let len = (state % 1400) as usize + 1;
                        for byte in &mut junk[..len] {
                            state = xorshift(state);
                            *byte = state as u8;
                        }
                        &junk[..len]
                    }
                    1 => &sample[..sample.len() / 2],
                    2 => &[],
                    _ => &sample[..sample.len() - 3],
                };
                let _ = socket.send(datagram);
                sent += 1;
            }
            Ok(sent)
        })
    };
    let started = Instant::now();
    let mut sender = Sender::connect(daemon.udp).map_err(|e| e.to_string())?;
    let mut peak: f64 = 0.0;
    let mut real_sent = 0;
    while real_sent < real_count {
        let left = real_count - real_sent;
        real_sent += sender
            .run(&templates, REAL_PER_S, Some(left), Duration::from_secs(1))
            .packets;
        peak = peak.max(Counters::read(daemon.http)?.rss);
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let sent = flood
        .join()
        .map_err(|_| "the garbage sender panicked".to_string())?
        .map_err(|e| e.to_string())?;
    let after = Counters::settled(daemon.http, Duration::from_secs(30))?;
    peak = peak.max(after.rss);
    Ok(Garbage {
        sent,
        elapsed,
        counted: after.rejected - before.rejected,
        real_sent,
        real_applied: after.updates - before.updates,
        peak,
        keys,
    })
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}
