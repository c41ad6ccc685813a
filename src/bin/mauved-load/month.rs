//! `mauved-load month`: target 11, a simulated month of a fleet. The daemon
//! runs in this process on a manual clock (the library's
//! `daemon::start_with`), so 35 days take minutes: `--hosts` heartbeats
//! (each a `raise +15m` that also clears, every `--every` simulated seconds),
//! 1% of the hosts failing at 03:00 each day and recovering at 09:00, each
//! failure acknowledged and noted, a two-hour silence made each day, and a
//! restart every seven days. From day 31 (when `store.history_days` is
//! reached) to the end it prints, each day: the store's size, this
//! process's resident memory, a page of history and a day pruned; then the
//! targets: each flat (day 35 within 1.2x of day 31) and within its bound.

use std::time::{Duration, Instant};

use mauved::alert::{AlertChange, AlertKey, HistoryEntry, Update};
use mauved::clock::ManualClock;
use mauved::daemon::Running;
use mauved::scheduler::Action;
use mauved::store::HistoryWanted;

use super::targets::{line, rfc3339};

const DAY: u64 = 86_400;
/// Monday 2026-01-05 00:00 UTC.
const START: u64 = 1_767_571_200;

/// The daemon in this process, its clock and its runtime.
struct Station {
    runtime: tokio::runtime::Runtime,
    clock: ManualClock,
    dir: crate::scratch::ScratchDir,
    running: Option<Running>,
    next_tx: u64,
}

impl Station {
    fn start(clock: ManualClock) -> Result<Station, String> {
        let dir = crate::scratch::ScratchDir::new()?;
        let config = format!(
            "[listen]\nudp = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
             [store]\npath = \"{}\"\nhistory_days = 30\n[server]\ninitial_sleep_s = 60\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("mauved.toml"), config).map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut station = Station {
            runtime,
            clock,
            dir,
            running: None,
            next_tx: 1,
        };
        station.boot()?;
        Ok(station)
    }

    /// Starts the daemon on the data directory: how long it took.
    fn boot(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        let file = self.dir.path().join("mauved.toml");
        let (config, router) = mauved::routing::load(&file).map_err(|e| e.to_string())?;
        let running = self
            .runtime
            .block_on(mauved::daemon::start_with(
                &config,
                router,
                self.clock.clock(),
                Vec::new(),
            ))
            .map_err(|e| format!("{e:#}"))?;
        self.running = Some(running);
        Ok(started.elapsed())
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    /// Stops and starts again: how long the start took.
    fn restart(&mut self) -> Result<Duration, String> {
        if let Some(running) = self.running.take() {
            self.runtime
                .block_on(running.stop())
                .map_err(|e| format!("{e:#}"))?;
        }
        // sled lets go of its lock from a background thread.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.boot() {
                Err(err) if err.contains("another mauved") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// One heartbeat from each of `hosts`, applied and on disk.
    fn heartbeats(&mut self, hosts: impl Iterator<Item = u64>) -> Result<(), String> {
        let now = self.clock.now();
        let updates: Vec<Update> = hosts
            .map(|h| {
                self.next_tx += 1;
                Update {
                    source: format!("host{h:05}"),
                    transmission_id: self.next_tx,
                    replace: false,
                    alerts: vec![AlertChange {
                        id: "heartbeat".into(),
                        raise_time: Some(now + 900),
                        clear_time: Some(now),
                        summary: Some(format!("host{h:05} has not said it is alive")),
                        ..AlertChange::default()
                    }],
                    received_at: now,
                }
            })
            .collect();
        let scheduler = &self.running().scheduler;
        self.runtime
            .block_on(scheduler.apply_durably(updates))
            .map_err(|e| format!("{e:?}"))
    }

    /// Moves the clock by `by` seconds, a minute at a time, letting every
    /// timer due fire.
    fn advance(&self, by: u64) -> Result<(), String> {
        let mut left = by;
        while left > 0 {
            let step = left.min(60);
            self.clock.advance(Duration::from_secs(step));
            left -= step;
            self.runtime
                .block_on(self.running().scheduler.flush())
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    }

    fn act(&self, host: u64, action: Action) {
        let key = AlertKey::new(format!("host{host:05}"), "heartbeat");
        let scheduler = &self.running().scheduler;
        let _ = self.runtime.block_on(scheduler.act(key, "oncall", action));
    }

    fn store_bytes(&self) -> u64 {
        fn walk(path: &std::path::Path) -> u64 {
            std::fs::read_dir(path)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.dir.path().join("data"))
    }

    /// The median of nine reads of a page of 100 history lines from a day
    /// ago.
    fn history_page(&self) -> Result<Duration, String> {
        let store = self.running().store.clone();
        let since = self.clock.now() - DAY;
        let mut times = (0..9)
            .map(|_| {
                let wanted = HistoryWanted {
                    since,
                    until: None,
                    keep: |_: &AlertKey, _: &HistoryEntry| true,
                };
                let started = Instant::now();
                store
                    .history_page(wanted, None, 100)
                    .map(|_| started.elapsed())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        times.sort();
        Ok(times[times.len() / 2])
    }
}

/// This process's resident memory, bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// One day's figures.
#[derive(Clone, Copy, Debug)]
struct Day {
    store: u64,
    rss: u64,
    page: Duration,
    prune: Duration,
}

/// Target 11 (see the module's header).
pub(super) fn target(hosts: u64, days: u64, every: u64) -> Result<(), String> {
    let every = every.clamp(60, 3600);
    let mut station = Station::start(ManualClock::at(START))?;
    let failing_per_day = (hosts / 100).max(1);
    let (mut measured, mut restarts) = (Vec::new(), Vec::new());
    let begun = Instant::now();
    for day in 0..days {
        let failing: Vec<u64> = (0..failing_per_day)
            .map(|i| (day * failing_per_day + i) % hosts)
            .collect();
        let day_start = START + day * DAY;
        for step in 0..DAY / every {
            let at = day_start + step * every;
            let hour = (at - day_start) / 3600;
            let down = (3..9).contains(&hour);
            station.heartbeats((0..hosts).filter(|h| !(down && failing.contains(h))))?;
            // 03:30: the failures raised by now are acknowledged and noted.
            if at - day_start == (3 * 3600 + 1800_u64).div_ceil(every) * every {
                for &h in &failing {
                    station.act(
                        h,
                        Action::Acknowledge {
                            until: at + 4 * 3600,
                            by_link: false,
                        },
                    );
                    station.act(
                        h,
                        Action::Note {
                            text: format!("day {day}: looking at host{h:05}"),
                        },
                    );
                }
                silence(&station, day, at)?;
            }
            station.advance(every)?;
        }
        if (day + 1) % 7 == 0 {
            restarts.push(station.restart()?);
        }
        if day + 1 >= days.saturating_sub(4) {
            let store = station.running().store.clone();
            let started = Instant::now();
            store
                .prune_history(station.clock.now() - 30 * DAY)
                .map_err(|e| e.to_string())?;
            let prune = started.elapsed();
            let figures = Day {
                store: station.store_bytes(),
                rss: rss(),
                page: station.history_page()?,
                prune,
            };
            println!(
                "month: day {:>2}: store {:.1} MiB, RSS {:.0} MiB, history page {:.2} ms, a day pruned in {:.1} ms ({:.0} s so far)",
                day + 1,
                figures.store as f64 / 1048576.0,
                figures.rss as f64 / 1048576.0,
                figures.page.as_secs_f64() * 1e3,
                figures.prune.as_secs_f64() * 1e3,
                begun.elapsed().as_secs_f64()
            );
            measured.push(figures);
        }
    }
    report(hosts, days, &measured, &restarts);
    if let Some(running) = station.running.take() {
        let _ = station.runtime.block_on(running.stop());
    }
    Ok(())
}

/// A two-hour silence on one host, made through the API.
fn silence(station: &Station, day: u64, at: u64) -> Result<(), String> {
    let body = serde_json::json!({
        "matchers": [{"name": "source", "value": format!("host{:05}", day % 97), "isRegex": false, "isEqual": true}],
        "startsAt": rfc3339(at),
        "endsAt": rfc3339(at + 7200),
        "createdBy": "mauved-load",
        "comment": format!("day {day}: maintenance"),
    });
    let client = crate::scratch::Client::new(Duration::from_secs(30))?;
    let http = station.running().http;
    let request = client
        .request()
        .post(format!("http://{http}/api/v2/silences"))
        .json(&body);
    match client.send(request) {
        Ok((200, _)) => Ok(()),
        Ok((status, text)) => Err(format!("a silence: {status} {text}")),
        Err(e) => Err(format!("a silence: {e}")),
    }
}

fn report(hosts: u64, days: u64, measured: &[Day], restarts: &[Duration]) {
    let (Some(first), Some(last)) = (measured.first(), measured.last()) else {
        return;
    };
    let flat = |a: u64, b: u64| b as f64 <= a as f64 * 1.2;
    let mib = |b: u64| b as f64 / 1048576.0;
    let worst_page = measured.iter().map(|d| d.page).max().unwrap_or_default();
    let worst_prune = measured.iter().map(|d| d.prune).max().unwrap_or_default();
    let restart = restarts.iter().max().copied().unwrap_or_default();
    let what = format!("{hosts} hosts, {days} days");
    line(
        &format!("11a store size, last 5 days of {what}"),
        format!("{:.1} -> {:.1} MiB", mib(first.store), mib(last.store)),
        "flat (<= 1.2x)",
        flat(first.store, last.store),
    );
    line(
        "11b RSS, last 5 days",
        format!("{:.0} -> {:.0} MiB", mib(first.rss), mib(last.rss)),
        "flat (<= 1.2x), <= 300 MiB",
        flat(first.rss, last.rss) && mib(last.rss) <= 300.0,
    );
    line(
        "11c restart to serving, weekly (slowest)",
        format!(
            "{:.2} s over {} restarts",
            restart.as_secs_f64(),
            restarts.len()
        ),
        "<= 3 s",
        restart <= Duration::from_secs(3),
    );
    line(
        "11d history page, last 5 days (slowest)",
        format!("{:.2} ms", worst_page.as_secs_f64() * 1e3),
        "<= 20 ms",
        worst_page <= Duration::from_millis(20),
    );
    line(
        "11e a day of history pruned, last 5 days (slowest)",
        format!("{:.1} ms", worst_prune.as_secs_f64() * 1e3),
        "<= 1 s",
        worst_prune <= Duration::from_secs(1),
    );
}
