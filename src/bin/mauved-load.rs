//! `mauved-load`: sends valid mauve packets to a local mauved at a set rate
//! and reports what it sent and, with `--http`, what the daemon applied.
//!
//! Each packet carries one heartbeat (raise in `--raise-after` seconds, clear
//! now) for one of `--sources` × `--ids` alerts, round-robin, which is what a
//! fleet of cron heartbeats looks like. Traffic goes to loopback only, for a
//! bounded time.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use clap::Parser;
use mauved::send;
use mauved::wire::{self, pb};

#[derive(Parser)]
#[command(
    name = "mauved-load",
    about = "Send mauve heartbeat packets to a local mauved"
)]
struct Args {
    /// UDP address of the daemon (loopback only).
    #[arg(long, default_value = "127.0.0.1:32741")]
    target: SocketAddr,
    /// Packets per second; 0 sends as fast as possible.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds to send for (at most 600).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Distinct sources.
    #[arg(long, default_value_t = 100)]
    sources: u64,
    /// Distinct alert ids per source.
    #[arg(long, default_value_t = 10)]
    ids: u64,
    /// Heartbeat interval: each alert raises this long after its last packet.
    #[arg(long, default_value_t = 300)]
    raise_after: u64,
    /// HTTP address of the daemon: read its counters before and after to
    /// report applied updates, loss, memory and ingest-to-raised latency.
    #[arg(long)]
    http: Option<SocketAddr>,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if !args.target.ip().is_loopback() || args.http.is_some_and(|h| !h.ip().is_loopback()) {
        return Err("mauved-load only sends to loopback addresses".into());
    }
    if args.duration == 0 || args.duration > 600 {
        return Err("--duration must be 1..=600 seconds".into());
    }
    let before = args.http.map(Counters::read).transpose()?;

    let bind = if args.target.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    let run_for = Duration::from_secs(args.duration);
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut send_errors: u64 = 0;
    let keys = (args.sources * args.ids).max(1);
    let mut tid = u64::from(std::process::id()) << 32;
    while start.elapsed() < run_for {
        // Pace in 1 ms steps: send what the rate allows so far, then sleep.
        let allowed = match args.rate {
            0 => sent + 256,
            rate => (start.elapsed().as_micros() as u64 * rate / 1_000_000).max(1),
        };
        if sent >= allowed {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        while sent < allowed {
            let n = sent % keys;
            tid += 1;
            let now = mauved::clock::Clock::system().now();
            let packet = heartbeat(tid, n / args.ids, n % args.ids, now, args.raise_after);
            if socket.send_to(&packet, args.target).is_err() {
                send_errors += 1;
            }
            sent += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("sent        {sent} packets in {elapsed:.2} s");
    println!("sent/s      {:.0}", sent as f64 / elapsed);
    if send_errors > 0 {
        println!("send errors {send_errors}");
    }

    if let (Some(http), Some(before)) = (args.http, before) {
        // Let the daemon drain its socket buffer before counting.
        let mut after = Counters::read(http)?;
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let next = Counters::read(http)?;
            let settled = next.updates == after.updates;
            after = next;
            if settled {
                break;
            }
        }
        let received = after.received - before.received;
        let applied = after.updates - before.updates;
        let lost = sent.saturating_sub(received);
        println!("received    {received}");
        println!(
            "applied     {applied} ({:.0}/s over the send time)",
            applied as f64 / elapsed
        );
        println!(
            "lost        {lost} ({:.2}%)",
            100.0 * lost as f64 / sent.max(1) as f64
        );
        println!("daemon RSS  {:.1} MiB", after.rss_bytes as f64 / 1048576.0);
        match raise_latency(&socket, args.target, http) {
            Ok(latency) => println!(
                "raise latency {:.1} ms (packet sent to alert raised over HTTP)",
                latency.as_secs_f64() * 1000.0
            ),
            Err(err) => println!("raise latency: {err}"),
        }
    }
    Ok(())
}

/// The packet `mauvesend -o load-host-S -i heartbeat-I -c -r +N` would send.
fn heartbeat(tid: u64, source: u64, id: u64, now: u64, raise_after: u64) -> Vec<u8> {
    let alert = pb::Alert {
        id: format!("heartbeat-{id}"),
        raise_time: Some(now + raise_after),
        clear_time: Some(now),
        summary: Some("load test heartbeat".into()),
        ..pb::Alert::default()
    };
    let source = format!("load-host-{source}");
    wire::encode(&send::prepare(
        Some(source),
        false,
        vec![alert],
        now,
        Some(tid),
    ))
}

/// Sends one "raise now" and polls until the daemon shows it raised.
fn raise_latency(
    socket: &UdpSocket,
    target: SocketAddr,
    http: SocketAddr,
) -> Result<Duration, String> {
    let id = format!("probe-{}", std::process::id());
    let now = mauved::clock::Clock::system().now();
    let alert = pb::Alert {
        id: id.clone(),
        raise_time: Some(now),
        ..pb::Alert::default()
    };
    let packet = wire::encode(&send::prepare(
        Some("mauved-load".into()),
        false,
        vec![alert],
        now,
        None,
    ));
    let start = Instant::now();
    socket.send_to(&packet, target).map_err(|e| e.to_string())?;
    while start.elapsed() < Duration::from_secs(10) {
        let body = get(http, &format!("/api/alerts/mauved-load/{id}"))?;
        if body.contains("\"state\":\"raised\"") {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Err("probe alert not raised within 10 s".into())
}

struct Counters {
    received: u64,
    updates: u64,
    rss_bytes: u64,
}

impl Counters {
    fn read(http: SocketAddr) -> Result<Counters, String> {
        let body = get(http, "/metrics")?;
        let value = |name: &str| -> u64 {
            body.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0) as u64
        };
        Ok(Counters {
            received: value("mauved_packets_received_total"),
            updates: value("mauved_alert_updates_total"),
            rss_bytes: value("process_resident_memory_bytes"),
        })
    }
}

fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .get(format!("http://{addr}{path}"))
        .call()
        .and_then(|mut response| response.body_mut().read_to_string())
        .map_err(|e| format!("{addr}{path}: {e}"))
}
