//! `mauved-load targets`: the performance targets of docs/performance.md, end to
//! end, one line each with PASS or FAIL.

use std::time::{Duration, Instant};

use super::*;

/// One line of the target table.
pub(super) fn line(target: &str, measured: String, goal: &str, pass: bool) {
    let verdict = if pass { "PASS" } else { "FAIL" };
    println!("{verdict} {target:<58} {measured:<34} target {goal}");
}

/// The performance targets, end to end, one line each.
pub(super) fn targets(extra: &str, alerts: u64, updates: u64) -> Result<(), String> {
    println!("mauved-load targets: {alerts} alerts, {updates} updates for the disk target");
    ingest(extra)?;
    fleet(extra, alerts, updates)?;
    mass_outage(extra)?;
    memory(extra, alerts)?;
    super::alertmanager::target(extra)?;
    silences(extra)?;
    super::history::target(10_000_000)?;
    super::ha::target(extra, 2_000)?;
    // In a process of its own: its resident memory is the daemon's alone,
    // not what the targets before it left in this one.
    let month = std::env::current_exe()
        .and_then(|tool| std::process::Command::new(tool).arg("month").status())
        .map_err(|e| format!("mauved-load month: {e}"))?;
    if month.success() {
        Ok(())
    } else {
        Err(format!("mauved-load month: {month}"))
    }
}

/// Target 8: 1,000 raises (one `POST /events`, answered once on disk) with
/// 10,000 silences in force, none of them matching, against the same with
/// none: an update costs what can mute it, not how many silences exist.
/// The median of five rounds each.
pub(super) fn silences(extra: &str) -> Result<(), String> {
    let daemon = Daemon::start(extra)?;
    let mut round = 0;
    let mut raise_1000 = |daemon: &Daemon| -> Result<Duration, String> {
        round += 1;
        let events: Vec<serde_json::Value> = (0..1000)
            .map(|i| serde_json::json!({"source": format!("s{round}"), "id": format!("a{i}"), "raise": "now"}))
            .collect();
        let started = Instant::now();
        daemon.post("/events", &serde_json::Value::Array(events))?;
        Ok(started.elapsed())
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let none = median(
        (0..5)
            .map(|_| raise_1000(&daemon))
            .collect::<Result<_, _>>()?,
    );
    for i in 0..10_000 {
        daemon.post(
            "/api/v2/silences",
            &serde_json::json!({
                "matchers": [{"name": "source", "value": format!("elsewhere{i}"), "isRegex": false, "isEqual": true}],
                "startsAt": rfc3339(now()),
                "endsAt": rfc3339(now() + 3600),
                "createdBy": "mauved-load",
                "comment": "a silence that matches nothing of the test",
            }),
        )?;
    }
    let with = median(
        (0..5)
            .map(|_| raise_1000(&daemon))
            .collect::<Result<_, _>>()?,
    );
    let ratio = with.as_secs_f64() / none.as_secs_f64().max(1e-6);
    line(
        "8  1,000 raises with 10,000 silences vs none",
        format!(
            "{ratio:.2}x ({:.1} ms vs {:.1} ms)",
            with.as_secs_f64() * 1e3,
            none.as_secs_f64() * 1e3
        ),
        "<= 2x",
        ratio <= 2.0,
    );
    Ok(())
}

/// Unix seconds as RFC 3339 (UTC), as the silences API reads them.
pub(super) fn rfc3339(t: u64) -> String {
    jiff::Timestamp::from_second(i64::try_from(t).unwrap_or(0))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// 1. Ingest against the bare sink, same sender, same run.
fn ingest(extra: &str) -> Result<(), String> {
    {
        let mut daemon = Daemon::start(extra)?;
        let distinct = compare(
            &mut daemon,
            Load {
                keys: 100_000,
                ids: 10,
                duration: 10,
            },
            0,
        )?;
        let ratio = distinct.ratio().unwrap_or(0.0);
        line(
            "1a ingest, 100k distinct heartbeat keys, vs bare sink",
            format!(
                "{:.2}x ({:.0}/s vs {:.0}/s)",
                ratio,
                distinct.applied_per_s(),
                distinct.sink.unwrap_or(0.0)
            ),
            ">= 0.95x",
            ratio >= 0.95,
        );
        let hot = compare(
            &mut daemon,
            Load {
                keys: 10,
                ids: 10,
                duration: 10,
            },
            0,
        )?;
        let ratio = hot.ratio().unwrap_or(0.0);
        line(
            "1b ingest, 10 hot keys, vs bare sink",
            format!(
                "{:.2}x ({:.0}/s vs {:.0}/s)",
                ratio,
                hot.applied_per_s(),
                hot.sink.unwrap_or(0.0)
            ),
            ">= 0.95x",
            ratio >= 0.95,
        );
    }
    Ok(())
}

/// 2-6 on one daemon holding `alerts` heartbeats, with room for probes.
fn fleet(extra: &str, alerts: u64, updates: u64) -> Result<(), String> {
    let roomy = format!("max_alerts = {}\n{extra}", alerts + 10_000);
    let mut daemon = Daemon::start(&roomy)?;
    let keys = Keys::new(alerts, 4);
    let templates = Templates::heartbeats(keys, now(), now() + 3600);
    // 2. A steady 100k/s for 60 s over every key (the first pass creates them).
    let steady = run(
        &mut daemon,
        &templates,
        100_000,
        None,
        Duration::from_secs(60),
    )?;
    line(
        "2  no loss at 100k packets/s for 60 s over all keys",
        format!(
            "sent {} recv {:.0} applied {:.0}",
            steady.sent.packets, steady.received, steady.applied
        ),
        "all applied",
        steady.received == steady.sent.packets as f64
            && steady.applied == steady.sent.packets as f64,
    );
    // Everything written: the fresh store's size is the disk baseline.
    wait_written(daemon.http)?;
    let fresh = Counters::read(daemon.http)?;
    line(
        &format!("3a RSS holding {alerts} alerts"),
        format!("{:.0} MiB", mib(fresh.rss)),
        "<= 300 MiB",
        mib(fresh.rss) <= 300.0,
    );
    counts_answer(&daemon)?;

    // 5a. One due raise among the pending heartbeats: applied within 1 s.
    let late = probes(&daemon, 20)?;
    line(
        &format!("5a single due raise among {alerts} pending, p99 lateness"),
        format!("{late} s (raised_at - due)"),
        "<= 1 s",
        late <= 1,
    );

    // 6. Disk after many updates over the same alerts.
    let fresh_disk = fresh.disk;
    let (used, total) = many_updates(&daemon, &templates, updates, steady.sent.packets)?;
    line(
        &format!("6  disk after {total} updates vs fresh store"),
        format!(
            "{:.2}x ({:.0} / {:.0} MiB)",
            used.disk / fresh_disk.max(1.0),
            mib(used.disk),
            mib(fresh_disk)
        ),
        "<= 3x",
        used.disk <= 3.0 * fresh_disk,
    );
    line(
        &format!("3b RSS after {total} updates"),
        format!("{:.0} MiB", mib(used.rss)),
        "<= 300 MiB",
        mib(used.rss) <= 300.0,
    );

    // 4a. Restart to serving.
    daemon.stop();
    let took = daemon.restart()?;
    line(
        &format!("4a restart to serving with {alerts} alerts"),
        format!("{:.2} s", took.as_secs_f64()),
        "<= 3 s",
        took <= Duration::from_secs(3),
    );
    Ok(())
}

/// 4b. How long `GET /api/counts` takes.
fn counts_answer(daemon: &Daemon) -> Result<(), String> {
    let start = Instant::now();
    get(daemon.http, "/api/counts")?;
    let counts = start.elapsed();
    line(
        "4b GET /api/counts",
        format!("{:.1} ms", counts.as_secs_f64() * 1000.0),
        "<= 50 ms",
        counts <= Duration::from_millis(50),
    );
    Ok(())
}

/// Sends updates over the same alerts until `updates` were sent in all
/// (`sent` already): the counters once written, and the total sent.
fn many_updates(
    daemon: &Daemon,
    templates: &Templates,
    updates: u64,
    sent: u64,
) -> Result<(Counters, u64), String> {
    let more = updates.saturating_sub(sent);
    let mut sender = Sender::connect(daemon.udp).map_err(|e| e.to_string())?;
    let heavy = sender.run(templates, 0, Some(more), Duration::from_secs(600));
    Counters::settled(daemon.http, Duration::from_secs(30))?;
    wait_written(daemon.http)?;
    Ok((Counters::read(daemon.http)?, heavy.packets + sent))
}

/// 5b. A mass outage.
fn mass_outage(extra: &str) -> Result<(), String> {
    let daemon = Daemon::start(extra)?;
    let outage = outage(&daemon, 100_000)?;
    line(
        "5b 100k heartbeats due at once, all raised and queued",
        format!(
            "{:.2} s, trickle {}/{}",
            outage.durable.as_secs_f64(),
            outage.trickle_received,
            outage.trickle_sent
        ),
        "<= 5 s",
        outage.durable <= Duration::from_secs(5)
            && outage.trickle_received >= outage.trickle_sent as f64,
    );
    Ok(())
}

/// 3c-3e: memory under floods of new keys and of garbage.
fn memory(extra: &str, alerts: u64) -> Result<(), String> {
    // 3c. A flood of new keys beyond capacity: memory stays bounded.
    let flood_limit = alerts;
    // The daemon's config ends inside [store]: the limit goes there.
    let mut daemon = Daemon::start(&format!("max_alerts = {flood_limit}\n{extra}"))?;
    let flooded = flood(&daemon, Keys::new(3 * alerts, 1), Duration::from_secs(30))?;
    // Every flooded key is a host of its own: as many sources as alerts.
    let limit_ceiling = ceiling(flood_limit, flood_limit, 2000.0);
    line(
        &format!(
            "3c flood of {} new keys at full rate, limit {flood_limit}",
            3 * alerts
        ),
        format!(
            "peak {:.0} MiB, {:.0} refused",
            mib(flooded.peak),
            flooded.refused
        ),
        &format!("<= {limit_ceiling:.0} MiB"),
        mib(flooded.peak) <= limit_ceiling,
    );
    daemon.stop();

    // 3e. The steady state after a flood that reached the limit: a million
    // hosts of one alert each (3a's fleet has four alerts a host).
    let mut daemon = Daemon::start(&format!("max_alerts = {alerts}\n{extra}"))?;
    let settled = after_flood(&mut daemon, Keys::new(alerts, 1), 80_000)?;
    line(
        &format!("3e RSS after a flood to {alerts} hosts, refreshed at 80k/s"),
        format!("{:.0} MiB", mib(settled.rss)),
        "<= 300 MiB",
        mib(settled.rss) <= 300.0,
    );
    daemon.stop();

    // 3d. Garbage at full rate beside real heartbeats: none of those lost,
    // memory under the default configuration's ceiling.
    let mut daemon = Daemon::start(extra)?;
    let junk = garbage::run(&daemon, Duration::from_secs(20))?;
    let default_ceiling = ceiling(1_000_000, 1_000_000, 2000.0);
    line(
        &format!(
            "3d garbage at full rate + {}/s real heartbeats",
            garbage::REAL_PER_S
        ),
        format!(
            "{:.0}/s junk, {:.0}/{} real, peak {:.0} MiB",
            junk.per_second(),
            junk.real_applied,
            junk.real_sent,
            mib(junk.peak)
        ),
        &format!("all real, <= {default_ceiling:.0} MiB"),
        junk.real_applied >= junk.real_sent as f64 && mib(junk.peak) <= default_ceiling,
    );
    daemon.stop();
    Ok(())
}
