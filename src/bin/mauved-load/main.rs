//! `mauved-load`: mauve traffic against a mauved on this machine, and what
//! the daemon made of it.
//!
//! By default it starts its own mauved (temporary data directory, log
//! notifier) and stops it at the end; `--udp`/`--http` point it at a running
//! daemon instead, and then every alert it sent is forgotten when it ends
//! (`POST /api/alerts/forget`), so the station is left as it was.
//! Every mode prints what was sent per second; against the daemon it also
//! reads the daemon's counters and prints what was received and applied,
//! the loss, the daemon's memory, and the ratio to a bare counting receiver
//! (`sink`) measured with the same sender in the same run. Loopback only;
//! every run is bounded in packets and time.

mod alertmanager;
mod daemon;
mod garbage;
mod ha;
mod history;
mod month;
mod scratch;
mod targets;
mod traffic;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use daemon::Daemon;
use traffic::{Keys, Sender, Sink, Templates};

/// The allocator of the `mauved` binary: target 11 runs the daemon in this
/// process, and its memory is to be the daemon's as shipped (jemalloc, its
/// freed pages purged every ten seconds), not the C library's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "mauved-load",
    about = "Send mauve traffic to a mauved on this machine"
)]
struct Args {
    /// UDP address of a running daemon (loopback only); without it a
    /// temporary daemon is started.
    #[arg(long, requires = "http")]
    udp: Option<SocketAddr>,
    /// HTTP address of that running daemon.
    #[arg(long, requires = "udp")]
    http: Option<SocketAddr>,
    /// An `[[http.token]]` of that daemon, to forget what this run sent
    /// when it needs one (a daemon with users or tokens configured).
    #[arg(long, requires = "http")]
    token: Option<String>,
    /// TOML appended to the configuration of the daemon this tool starts
    /// (it follows that config's `[store]` table).
    #[arg(long, value_name = "FILE")]
    daemon_config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// The baseline: blast a bare counting receiver and print what it got.
    Sink {
        #[command(flatten)]
        load: Load,
    },
    /// Heartbeat packets as fast as the sender can go.
    Blast {
        #[command(flatten)]
        load: Load,
    },
    /// Heartbeat packets at RATE per second.
    Rate {
        rate: u64,
        #[command(flatten)]
        load: Load,
    },
    /// A fleet: each of --hosts sends one heartbeat every --every seconds.
    Heartbeats {
        #[arg(long, default_value_t = 10_000)]
        hosts: u64,
        #[arg(long, default_value_t = 60)]
        every: u64,
        /// Seconds to run (at most 600).
        #[arg(long, default_value_t = 60)]
        duration: u64,
    },
    /// New alerts at full rate (pending heartbeats over --keys distinct hosts,
    /// none known before): prints the daemon's peak memory.
    Flood {
        #[arg(long, default_value_t = 3_000_000)]
        keys: u64,
        /// Seconds to send for (at most 600).
        #[arg(long, default_value_t = 30)]
        duration: u64,
    },
    /// Garbage from one sender at its full rate while real heartbeats arrive
    /// at 1,000/s: prints how many real ones were applied and the peak memory.
    Garbage {
        /// Seconds to run (at most 600).
        #[arg(long, default_value_t = 20)]
        duration: u64,
    },
    /// A 10 s flood of new alerts at full rate up to --alerts, then every
    /// alert refreshed twice at --rate: the memory of the steady state that
    /// follows a flood, once everything is written.
    AfterFlood {
        #[arg(long, default_value_t = 1_000_000)]
        alerts: u64,
        #[arg(long, default_value_t = 80_000)]
        rate: u64,
    },
    /// A mass outage: --hosts heartbeats that all fall due in the same second.
    Outage {
        #[arg(long, default_value_t = 100_000)]
        hosts: u64,
    },
    /// The whole performance target table, one line per target.
    Targets {
        /// Alerts for the large targets (the table is written for 1,000,000).
        #[arg(long, default_value_t = 1_000_000)]
        alerts: u64,
        /// Updates for the disk target (30,000,000 in the table).
        #[arg(long, default_value_t = 30_000_000)]
        updates: u64,
    },
    /// Target 7 alone: `POST /api/v2/alerts` against Debian's Alertmanager.
    Alertmanager,
    /// Target 8 alone: 1,000 raises with 10,000 silences in force, against
    /// none.
    Silences,
    /// Target 10 alone: 2,000 raises delivered by two stations with
    /// `[cluster]` (on an etcd started here) against one station alone.
    Ha {
        /// Raises per round (the table is written for 2,000; 1 to 50,000).
        #[arg(long, default_value_t = 2_000,
              value_parser = clap::value_parser!(u64).range(1..=50_000))]
        alerts: u64,
    },
    /// Target 11 alone: a simulated month of a fleet on the manual clock.
    Month {
        #[arg(long, default_value_t = 10_000)]
        hosts: u64,
        #[arg(long, default_value_t = 35)]
        days: u64,
        /// Simulated seconds between two heartbeats of a host (60 to 3600).
        #[arg(long, default_value_t = 600)]
        every: u64,
    },
    /// Target 9 alone: a page of history in a store of --lines lines
    /// against the same page at 100,000, and pruning a day.
    History {
        #[arg(long, default_value_t = 10_000_000)]
        lines: u64,
    },
}

#[derive(clap::Args, Clone, Copy)]
struct Load {
    /// Distinct alerts the packets go round.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Alert ids per host (keys are spread over keys / ids hosts).
    #[arg(long, default_value_t = 10)]
    ids: u64,
    /// Seconds to send for (at most 600).
    #[arg(long, default_value_t = 10)]
    duration: u64,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.udp.is_some_and(|a| !a.ip().is_loopback())
        || args.http.is_some_and(|a| !a.ip().is_loopback())
    {
        return Err("mauved-load only sends to loopback addresses".into());
    }
    let extra = match &args.daemon_config {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => String::new(),
    };
    let start = || match (args.udp, args.http) {
        (Some(udp), Some(http)) => Ok(Daemon::running(udp, http, args.token.clone())),
        _ => Daemon::start(&extra),
    };
    run_mode(args.mode, &extra, start)
}

/// Runs one mode against the daemon `start` gives (one this tool starts
/// with `extra` in its configuration, or the one named on the command line).
fn run_mode(
    mode: Mode,
    extra: &str,
    start: impl Fn() -> Result<Daemon, String>,
) -> Result<(), String> {
    match mode {
        Mode::Sink { load } => {
            let keys = load.keys()?;
            let templates = Templates::heartbeats(keys, now(), now() + 600);
            let rate = sink_rate(&templates, load.duration()?)?;
            println!("sink        {rate:.0} packets/s received");
        }
        Mode::Blast { load } => {
            let mut daemon = start()?;
            let report = compare(&mut daemon, load, 0)?;
            report.print();
            clean_up(&daemon, &[load.keys()?])?;
        }
        Mode::Rate { rate, load } => {
            let mut daemon = start()?;
            let report = compare(&mut daemon, load, rate)?;
            report.print();
            clean_up(&daemon, &[load.keys()?])?;
        }
        Mode::Heartbeats {
            hosts,
            every,
            duration,
        } => {
            let mut daemon = start()?;
            let load = Load {
                keys: hosts,
                ids: 1,
                duration,
            };
            let rate = hosts.div_ceil(every.max(1));
            let keys = load.keys()?;
            let templates = Templates::heartbeats(keys, now(), now() + 5 * every);
            let report = run(&mut daemon, &templates, rate, None, load.duration()?)?;
            report.print();
            clean_up(&daemon, &[keys])?;
        }
        Mode::Flood { keys, duration } => {
            let daemon = start()?;
            let load = Load {
                keys,
                ids: 1,
                duration,
            };
            let flood = flood(&daemon, load.keys()?, load.duration()?)?;
            flood.report.print();
            println!(
                "peak RSS    {:.1} MiB; {:.0} new alerts refused over the limit",
                flood.peak / 1048576.0,
                flood.refused
            );
            clean_up(&daemon, &[load.keys()?])?;
        }
        Mode::AfterFlood { alerts, rate } => run_after_flood(start()?, alerts, rate)?,
        Mode::Outage { hosts } => run_outage(start()?, hosts)?,
        Mode::Garbage { duration } => {
            let daemon = start()?;
            let load = Load {
                keys: 1,
                ids: 1,
                duration,
            };
            let garbage = garbage::run(&daemon, load.duration()?)?;
            garbage.print();
            clean_up(&daemon, &[garbage.keys])?;
        }
        Mode::Targets { alerts, updates } => targets::targets(extra, alerts, updates)?,
        Mode::Alertmanager => alertmanager::target(extra)?,
        Mode::Silences => targets::silences(extra)?,
        Mode::History { lines } => history::target(lines)?,
        Mode::Ha { alerts } => ha::target(extra, alerts)?,
        Mode::Month { hosts, days, every } => month::target(hosts, days, every)?,
    }
    Ok(())
}

/// `after-flood`: memory once a flood is written and settled.
fn run_after_flood(mut daemon: Daemon, alerts: u64, rate: u64) -> Result<(), String> {
    let keys = Keys::new(alerts, 1);
    let settled = after_flood(&mut daemon, keys, rate)?;
    println!(
        "after flood {alerts} alerts flooded in 10 s (peak {:.1} MiB), then refreshed twice at \
         {rate}/s: {:.1} MiB once written and settled",
        mib(settled.peak),
        mib(settled.rss)
    );
    clean_up(&daemon, &[keys])
}

/// `outage`: every heartbeat due at once.
fn run_outage(daemon: Daemon, hosts: u64) -> Result<(), String> {
    let outage = outage(&daemon, hosts)?;
    println!(
        "outage      {hosts} heartbeats due at once: all raised {:.2} s after the due second, \
         written with their notifications {:.2} s after it; {} of {} trickle packets \
         received meanwhile",
        outage.raised.as_secs_f64(),
        outage.durable.as_secs_f64(),
        outage.trickle_received,
        outage.trickle_sent
    );
    clean_up(&daemon, &[Keys::new(hosts, 1), traffic::TRICKLE])
}

impl Load {
    fn keys(&self) -> Result<Keys, String> {
        if self.keys == 0 || self.keys > 10_000_000 || self.ids == 0 {
            return Err("--keys must be 1..=10000000 and --ids at least 1".into());
        }
        Ok(Keys::new(self.keys, self.ids))
    }

    fn duration(&self) -> Result<Duration, String> {
        if self.duration == 0 || self.duration > 600 {
            return Err("--duration must be 1..=600 seconds".into());
        }
        Ok(Duration::from_secs(self.duration))
    }
}

fn now() -> u64 {
    mauved::clock::Clock::system().now()
}

/// One HTTP GET to the daemon.
fn get(http: SocketAddr, path: &str) -> Result<String, String> {
    let client = scratch::Client::new(Duration::from_secs(30))?;
    let request = client.request().get(format!("http://{http}{path}"));
    client
        .send(request)
        .map(|(_, text)| text)
        .map_err(|e| format!("{http}{path}: {e}"))
}

/// The daemon's counters that a run looks at.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    received: f64,
    /// Datagrams the daemon's socket dropped (its kernel counter).
    dropped: f64,
    updates: f64,
    rss: f64,
    raised: f64,
    pending: f64,
    backlog: f64,
    /// Messages waiting for delivery.
    queued: f64,
    written: f64,
    disk: f64,
    rejected_capacity: f64,
    /// Datagrams refused, over every reason.
    rejected: f64,
}

impl Counters {
    fn read(http: SocketAddr) -> Result<Counters, String> {
        let body = get(http, "/metrics")?;
        let value = |name: &str| {
            body.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok(Counters {
            received: value("mauved_packets_received_total"),
            dropped: value("mauved_packets_dropped_total"),
            updates: value("mauved_alert_updates_total"),
            rss: value("process_resident_memory_bytes"),
            raised: value("mauved_alerts{state=\"raised\"}"),
            pending: value("mauved_alerts{state=\"pending\"}"),
            backlog: value("mauved_write_backlog"),
            queued: value("mauved_notify_queue_depth"),
            written: value("mauved_records_written_total"),
            disk: value("mauved_store_disk_bytes"),
            rejected_capacity: value("mauved_alerts_rejected_total{reason=\"over_capacity\"}"),
            rejected: body
                .lines()
                .filter(|l| l.starts_with("mauved_packets_rejected_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        })
    }

    /// Reads until the received and applied counts stop moving (the daemon
    /// has drained its socket), at most `limit`.
    fn settled(http: SocketAddr, limit: Duration) -> Result<Counters, String> {
        let start = Instant::now();
        let mut last = Counters::read(http)?;
        while start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(200));
            let next = Counters::read(http)?;
            let still = next.updates == last.updates && next.received == last.received;
            last = next;
            if still {
                break;
            }
        }
        Ok(last)
    }
}

/// What one run against the daemon showed.
struct Report {
    sent: traffic::Sent,
    received: f64,
    dropped: f64,
    applied: f64,
    rss: f64,
    sink: Option<f64>,
}

impl Report {
    fn applied_per_s(&self) -> f64 {
        self.applied / self.sent.elapsed.as_secs_f64().max(1e-9)
    }

    fn loss(&self) -> f64 {
        (self.sent.packets as f64 - self.received).max(0.0) / (self.sent.packets as f64).max(1.0)
    }

    fn ratio(&self) -> Option<f64> {
        self.sink.map(|sink| self.applied_per_s() / sink.max(1.0))
    }

    fn print(&self) {
        println!(
            "sent        {} packets in {:.2} s ({:.0}/s){}",
            self.sent.packets,
            self.sent.elapsed.as_secs_f64(),
            self.sent.per_second(),
            if self.sent.errors > 0 {
                format!(", {} send errors", self.sent.errors)
            } else {
                String::new()
            }
        );
        println!(
            "received    {:.0} (loss {:.2}%; the daemon counted {:.0} dropped by its socket)",
            self.received,
            100.0 * self.loss(),
            self.dropped
        );
        println!(
            "applied     {:.0} ({:.0}/s)",
            self.applied,
            self.applied_per_s()
        );
        println!("daemon RSS  {:.1} MiB", self.rss / 1048576.0);
        if let (Some(sink), Some(ratio)) = (self.sink, self.ratio()) {
            println!("sink        {sink:.0}/s with the same sender in this run");
            println!("ratio       {ratio:.2} of the sink");
        }
    }
}

/// What a bare receiver gets from this sender in `duration`.
fn sink_rate(templates: &Templates, duration: Duration) -> Result<f64, String> {
    let sink = Sink::start().map_err(|e| e.to_string())?;
    let mut sender = Sender::connect(sink.addr).map_err(|e| e.to_string())?;
    let sent = sender.run(templates, 0, None, duration);
    std::thread::sleep(Duration::from_millis(300));
    Ok(sink.received() as f64 / sent.elapsed.as_secs_f64())
}

/// Sends `templates` to the daemon and reads what it made of them.
fn run(
    daemon: &mut Daemon,
    templates: &Templates,
    rate: u64,
    count: Option<u64>,
    duration: Duration,
) -> Result<Report, String> {
    let before = Counters::read(daemon.http)?;
    let mut sender = Sender::connect(daemon.udp).map_err(|e| e.to_string())?;
    let sent = sender.run(templates, rate, count, duration);
    let after = Counters::settled(daemon.http, Duration::from_secs(30))?;
    Ok(Report {
        sent,
        received: after.received - before.received,
        dropped: after.dropped - before.dropped,
        applied: after.updates - before.updates,
        rss: after.rss,
        sink: None,
    })
}

/// Creates the keys first (a fleet that exists), then measures the sink and
/// the daemon with the same packets and sender.
fn compare(daemon: &mut Daemon, load: Load, rate: u64) -> Result<Report, String> {
    let keys = load.keys()?;
    let templates = Templates::heartbeats(keys, now(), now() + 600);
    fill(daemon, &templates)?;
    let sink = sink_rate(&templates, load.duration()?)?;
    let mut report = run(daemon, &templates, rate, None, load.duration()?)?;
    report.sink = Some(sink);
    Ok(report)
}

/// Sends one packet per key at a pace the store keeps up with, until the
/// daemon holds every key.
fn fill(daemon: &mut Daemon, templates: &Templates) -> Result<(), String> {
    let mut sender = Sender::connect(daemon.udp).map_err(|e| e.to_string())?;
    sender.run(
        templates,
        50_000,
        Some(templates.len()),
        Duration::from_secs(600),
    );
    Counters::settled(daemon.http, Duration::from_secs(60))?;
    Ok(())
}

/// Forgets every alert this run sent, when the daemon is not ours, once it
/// has taken in every packet: the station's counts and page are as before.
fn clean_up(daemon: &Daemon, sets: &[Keys]) -> Result<(), String> {
    if daemon.is_own() {
        return Ok(());
    }
    Counters::settled(daemon.http, Duration::from_secs(30))?;
    let (mut forgotten, mut absent) = (0u64, 0u64);
    for keys in sets {
        for first in (0..keys.count).step_by(FORGET_AT_ONCE) {
            let last = (first + FORGET_AT_ONCE as u64).min(keys.count);
            let alerts: Vec<serde_json::Value> = (first..last)
                .map(|n| serde_json::json!({"source": keys.source(n), "id": keys.id(n)}))
                .collect();
            // With a token its name is the author; without one, this tool.
            let body = if daemon.has_token() {
                serde_json::json!({ "alerts": alerts })
            } else {
                serde_json::json!({"by": "mauved-load", "alerts": alerts})
            };
            let answer = daemon.post("/api/alerts/forget", &body)?;
            for result in answer["results"].as_array().into_iter().flatten() {
                match result["status"].as_u64() {
                    Some(200) => forgotten += 1,
                    Some(404) => absent += 1,
                    _ => return Err(format!("forgetting what this run sent: {result}")),
                }
            }
        }
    }
    println!("forgot      {forgotten} alerts sent by this run ({absent} never arrived)");
    Ok(())
}

/// Alerts forgotten per request (the API takes up to 10,000).
const FORGET_AT_ONCE: usize = 1_000;

struct Outage {
    raised: Duration,
    durable: Duration,
    trickle_sent: u64,
    trickle_received: f64,
}

/// `hosts` heartbeats all due in the same second; while they fire, a
/// trickle of other heartbeats checks that the listener keeps receiving.
fn outage(daemon: &Daemon, hosts: u64) -> Result<Outage, String> {
    let keys = Keys::new(hosts, 1);
    // Enough lead to send every packet before they fall due.
    let lead = 10 + hosts / 40_000;
    let due = now() + lead;
    let templates = Templates::heartbeats(keys, now(), due);
    let before = Counters::read(daemon.http)?;
    let mut sender = Sender::connect(daemon.udp).map_err(|e| e.to_string())?;
    sender.run(&templates, 50_000, Some(hosts), Duration::from_secs(600));
    let pending = Counters::settled(daemon.http, Duration::from_secs(30))?;
    if pending.pending - before.pending < hosts as f64 {
        return Err(format!(
            "only {} of {hosts} heartbeats pending before they fell due",
            pending.pending - before.pending
        ));
    }
    if now() >= due {
        return Err("the heartbeats fell due before they were all sent".into());
    }
    // The trickle: 1,000 packets/s to 1,000 other keys for the whole time.
    let trickle = std::thread::spawn({
        let udp = daemon.udp;
        move || {
            let templates = Templates::heartbeats(traffic::TRICKLE, now(), now() + 3600);
            let mut sender = Sender::connect(udp).ok()?;
            Some(sender.run(&templates, 1000, None, Duration::from_secs(lead + 15)))
        }
    });
    let due_at = Instant::now()
        + Duration::from_secs(due).saturating_sub(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        );
    let limit = due_at + Duration::from_secs(30);
    let mut raised = None;
    let mut durable = None;
    while Instant::now() < limit && durable.is_none() {
        std::thread::sleep(Duration::from_millis(20));
        let c = Counters::read(daemon.http)?;
        if raised.is_none() && c.raised - before.raised >= hosts as f64 {
            raised = Some(Instant::now().saturating_duration_since(due_at));
        }
        // The raises' records and their messages go to disk in the same batches.
        if raised.is_some() && c.written - pending.written >= hosts as f64 {
            durable = Some(Instant::now().saturating_duration_since(due_at));
        }
    }
    let trickle = trickle
        .join()
        .ok()
        .flatten()
        .ok_or("the trickle sender failed")?;
    let after = Counters::settled(daemon.http, Duration::from_secs(10))?;
    Ok(Outage {
        raised: raised.ok_or("not every heartbeat was raised within 30 s")?,
        durable: durable.ok_or("not everything was written within 30 s")?,
        trickle_sent: trickle.packets,
        trickle_received: after.received - pending.received,
    })
}

fn mib(bytes: f64) -> f64 {
    bytes / 1048576.0
}

/// The memory ceiling docs/durability-and-memory.md states for a configuration, in MiB: 200
/// bytes an alert, 50 bytes a distinct source, 100 MiB of fixed buffers,
/// and the write-behind's largest job (a second's pace of buckets, 60 KiB
/// each while composed and written).
fn ceiling(max_alerts: u64, sources: u64, max_writes_per_s: f64) -> f64 {
    (200.0 * max_alerts as f64 + 50.0 * sources as f64) / 1048576.0
        + 100.0
        + max_writes_per_s * 60.0 / 1024.0
}

struct Flood {
    report: Report,
    peak: f64,
    refused: f64,
}

/// Pending heartbeats for `keys` new alerts as fast as the sender goes,
/// sampling the daemon's memory every second.
fn flood(daemon: &Daemon, keys: Keys, duration: Duration) -> Result<Flood, String> {
    let templates = Templates::heartbeats(keys, now(), now() + 3600);
    let before = Counters::read(daemon.http)?;
    let mut sender = Sender::connect(daemon.udp).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut peak: f64 = 0.0;
    let mut packets = 0;
    let mut errors = 0;
    while start.elapsed() < duration && packets < templates.len() {
        let left = templates.len() - packets;
        let sent = sender.run(&templates, 0, Some(left), Duration::from_secs(1));
        packets += sent.packets;
        errors += sent.errors;
        peak = peak.max(Counters::read(daemon.http)?.rss);
    }
    let elapsed = start.elapsed();
    let after = Counters::settled(daemon.http, Duration::from_secs(30))?;
    peak = peak.max(after.rss);
    Ok(Flood {
        report: Report {
            sent: traffic::Sent {
                packets,
                errors,
                elapsed,
            },
            received: after.received - before.received,
            dropped: after.dropped - before.dropped,
            applied: after.updates - before.updates,
            rss: after.rss,
            sink: None,
        },
        peak,
        refused: after.rejected_capacity - before.rejected_capacity,
    })
}

struct AfterFlood {
    peak: f64,
    rss: f64,
}

/// A 10 s flood of new alerts over `keys`, then every key refreshed twice
/// at `rate`; then the daemon's resident memory once it has written
/// everything and handed freed memory back (it does every 10 s).
fn after_flood(daemon: &mut Daemon, keys: Keys, rate: u64) -> Result<AfterFlood, String> {
    let flooded = flood(daemon, keys, Duration::from_secs(10))?;
    let templates = Templates::heartbeats(keys, now(), now() + 3600);
    let mut sender = Sender::connect(daemon.udp).map_err(|e| e.to_string())?;
    sender.run(
        &templates,
        rate,
        Some(2 * keys.count),
        Duration::from_secs(600),
    );
    Counters::settled(daemon.http, Duration::from_secs(30))?;
    wait_written(daemon.http)?;
    std::thread::sleep(Duration::from_secs(11));
    Ok(AfterFlood {
        peak: flooded.peak,
        rss: Counters::read(daemon.http)?.rss,
    })
}

/// Waits until the daemon has written everything it holds.
fn wait_written(http: SocketAddr) -> Result<(), String> {
    let start = Instant::now();
    while Counters::read(http)?.backlog > 0.0 {
        if start.elapsed() > Duration::from_secs(300) {
            return Err("the daemon's write backlog did not drain in 300 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Sends `n` probe alerts due at distinct coming seconds and returns the
/// 99th percentile of how late each was raised (raised_at - due, seconds).
fn probes(daemon: &Daemon, n: u64) -> Result<u64, String> {
    let base = now() + 3;
    let mut sender = Sender::connect(daemon.udp).map_err(|e| e.to_string())?;
    let updates = (0..n)
        .map(|i| {
            let alert = mauved::wire::pb::Alert {
                id: format!("probe-{i}"),
                raise_time: Some(base + i / 4),
                clear_time: Some(now()),
                ..Default::default()
            };
            mauved::send::prepare(
                Some("mauved-load-probe".into()),
                false,
                vec![alert],
                now(),
                None,
            )
        })
        .collect();
    let templates = Templates::from_updates(updates);
    sender.run(&templates, 0, Some(n), Duration::from_secs(10));
    let mut late = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(n / 4 + 15);
    for i in 0..n {
        let path = format!("/api/alerts/mauved-load-probe/probe-{i}");
        loop {
            let body = get(daemon.http, &path)?;
            let alert: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if alert["state"] == "raised" {
                let raised = alert["raised_at"].as_u64().unwrap_or(u64::MAX);
                late.push(raised.saturating_sub(base + i / 4));
                break;
            }
            if Instant::now() > deadline {
                late.push(u64::MAX);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    late.sort_unstable();
    Ok(late[(late.len() * 99 / 100).min(late.len() - 1)])
}
