//! `kill -9` at random moments under load, round after round: heartbeats
//! and a stream of raises and clears that notify. At a random moment the
//! test notes what was sent so far, waits until the daemon has applied all
//! of it (its update counter) and then for two more completed write rounds
//! (its batch counter: the first round handed over after the mark holds it;
//! how soon that comes is `store.flush_interval_ms`, measured by `bench/crash`
//! and the benchmarks, not asserted here) while the load goes on, and kills
//! it. After the restart
//! every alert is what its sender said last before the mark, or something
//! sent after it; at the end every final state has been told.
//!
//! CI runs 5 rounds at 2,000 heartbeats/s; `bench/crash` runs 20 rounds at
//! 20,000/s (`MAUVED_CRASH_ROUNDS`, `MAUVED_CRASH_RATE`) and prints the report.

mod common;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const HEARTBEATS: u64 = 2_000;
const FLAPS: u64 = 50;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one round's sender did.
#[derive(Default)]
struct Sent {
    updates: u64,
    /// First send of each heartbeat key.
    first_beat: HashMap<u64, Instant>,
    /// Each flap key's sends: (when, raised?).
    flaps: HashMap<u64, Vec<(Instant, bool)>>,
}

fn send_load(
    target: std::net::SocketAddr,
    rate: u64,
    round: u64,
    stop: Arc<AtomicBool>,
    progress: Arc<std::sync::Mutex<(u64, Instant)>>,
) -> Sent {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sent = Sent::default();
    let started = Instant::now();
    let mut tid = round * 1_000_000_000;
    let mut beat = 0u64;
    let mut flap_step = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let t = now();
        // Heartbeats: `rate` a second, round robin over the keys.
        let due = started.elapsed().as_millis() as u64 * rate / 1000;
        while sent.updates < due + flap_step {
            let key = beat % HEARTBEATS;
            beat += 1;
            tid += 1;
            let p = packet(
                tid,
                "fleet",
                vec![alert(&format!("hb{key}"), Some(t + 3600), Some(t))],
                false,
            );
            let _ = socket.send_to(&p, target);
            sent.first_beat.entry(key).or_insert_with(Instant::now);
            sent.updates += 1;
        }
        // A raise or clear every 20 ms, each notifying.
        if started.elapsed().as_millis() as u64 / 20 > flap_step {
            let key = flap_step % FLAPS;
            let raise = (flap_step / FLAPS + round).is_multiple_of(2);
            tid += 1;
            let a = if raise {
                alert(&format!("f{key}"), Some(t), None)
            } else {
                alert(&format!("f{key}"), None, Some(t))
            };
            let _ = socket.send_to(&packet(tid, "flap", vec![a], false), target);
            sent.flaps
                .entry(key)
                .or_default()
                .push((Instant::now(), raise));
            flap_step += 1;
            sent.updates += 1;
        }
        // Everything counted here was sent before this instant.
        *progress.lock().unwrap() = (sent.updates, Instant::now());
        std::thread::sleep(Duration::from_micros(500));
    }
    sent
}

fn alerts_of(d: &Daemon, source: &str) -> HashMap<String, String> {
    let list = d.json(&format!("/api/alerts?source={source}&limit=10000"));
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn kill_9_at_random_moments_under_load_loses_nothing_promised() {
    let rounds = env("MAUVED_CRASH_ROUNDS", 5);
    let rate = env("MAUVED_CRASH_RATE", 2_000);
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    let config = recording_notifier(&notes);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut total_updates, mut lost_beats, mut wrong_flaps) = (0u64, 0u64, 0u64);
    let (mut checked_beats, mut checked_flaps) = (0u64, 0u64);
    // Each flapping alert's state as the daemon last had it, and the
    // messages owed: every change applied before a mark that changed the
    // state, by alert and event.
    let mut current: HashMap<u64, String> = HashMap::new();
    let mut owed: HashMap<(String, &str), u32> = HashMap::new();
    let mut d = Daemon::start(dir.path(), &config);
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(std::sync::Mutex::new((0u64, Instant::now())));
        let sender = {
            let (stop, target, progress) = (stop.clone(), d.udp, progress.clone());
            std::thread::spawn(move || send_load(target, rate, round, stop, progress))
        };
        let run = Duration::from_millis(1_000 + random() % 2_000);
        std::thread::sleep(run);
        // The mark: everything sent so far must survive, once applied.
        let (marked, mark) = *progress.lock().unwrap();
        wait_for(
            Duration::from_secs(60),
            "the daemon caught up with the mark",
            || (d.metric("mauved_alert_updates_total") >= marked as f64).then_some(()),
        );
        // Then two more write rounds: one in flight when the mark was
        // applied may not hold it; the next was handed over after it, and
        // takes every change nobody waits for once its flush interval is over.
        let written = d.metric("mauved_batches_total");
        wait_for(
            Duration::from_secs(60),
            "two write rounds after the mark",
            || (d.metric("mauved_batches_total") >= written + 2.0).then_some(()),
        );
        // The kill itself at a random moment after that, not always just
        // after a write round (what that moment is: see the README, "Not
        // done yet").
        std::thread::sleep(Duration::from_millis(random() % 100));
        d.kill();
        stop.store(true, Ordering::Relaxed);
        let sent = sender.join().unwrap();
        total_updates += sent.updates;

        d = Daemon::start(dir.path(), &config);
        let beats = alerts_of(&d, "fleet");
        for (key, first) in &sent.first_beat {
            checked_beats += u64::from(*first <= mark);
            if *first <= mark && !beats.contains_key(&format!("hb{key}")) {
                lost_beats += 1;
            }
        }
        let flaps = alerts_of(&d, "flap");
        for (key, sends) in &sent.flaps {
            let mut state = current.get(key).map_or("cleared", String::as_str);
            for (_, raise) in sends.iter().filter(|(at, _)| *at <= mark) {
                let next = if *raise { "raised" } else { "cleared" };
                if next != state {
                    *owed.entry((format!("f{key}"), next)).or_default() += 1;
                    state = next;
                }
            }
            if let Some(now) = flaps.get(&format!("f{key}")) {
                current.insert(*key, now.clone());
            }
            // The last send before the mark must have survived; a later one may have.
            let old = sends.iter().rposition(|(at, _)| *at <= mark);
            let Some(old) = old else { continue };
            checked_flaps += 1;
            let allowed: Vec<&str> = sends[old..]
                .iter()
                .map(|(_, raise)| if *raise { "raised" } else { "cleared" })
                .collect();
            let state = flaps
                .get(&format!("f{key}"))
                .map(String::as_str)
                .unwrap_or("missing");
            if !allowed.contains(&state) {
                wrong_flaps += 1;
                eprintln!("round {round}: f{key} is {state}, expected one of {allowed:?}");
            }
        }
        eprintln!(
            "round {round}: ran {run:?}, {} updates, {} heartbeat keys, {} flap changes",
            sent.updates,
            sent.first_beat.len(),
            sent.flaps.values().map(Vec::len).sum::<usize>()
        );
    }
    // Every state change that stood was told: each flap's last delivered
    // event is its final state, once the queue has drained.
    wait_for(Duration::from_secs(120), "the queue drained", || {
        (d.metric("mauved_notify_queue_depth") == 0.0).then_some(())
    });
    let flaps = alerts_of(&d, "flap");
    // Wait until every flap's last message is its state, or two minutes,
    // then report what is missing (a final state whose message never comes
    // was lost: see the README, "Not done yet").
    let last_told = |delivered: &[serde_json::Value]| -> HashMap<String, String> {
        let mut last = HashMap::new();
        for n in delivered {
            for e in n["events"].as_array().unwrap() {
                if e["alert"]["source"] == "flap" {
                    let id = e["alert"]["id"].as_str().unwrap().to_owned();
                    last.insert(id, e["event"].as_str().unwrap().to_owned());
                }
            }
        }
        last
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let last = last_told(&notifications(&notes));
        if flaps.iter().all(|(id, state)| last.get(id) == Some(state)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let delivered = notifications(&notes);
    let mut last: HashMap<String, (u64, String)> = HashMap::new();
    let mut seen: HashMap<(String, String, u64), u32> = HashMap::new();
    for n in &delivered {
        for e in n["events"].as_array().unwrap() {
            let (id, event, at) = (
                e["alert"]["id"].as_str().unwrap().to_owned(),
                e["event"].as_str().unwrap().to_owned(),
                e["at"].as_u64().unwrap(),
            );
            *seen.entry((id.clone(), event.clone(), at)).or_default() += 1;
            if e["alert"]["source"] == "flap" {
                last.insert(id, (at, event));
            }
        }
    }
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    // Every message owed was delivered at least once.
    let mut told: HashMap<(String, String), u32> = HashMap::new();
    for ((id, event, _), n) in &seen {
        *told.entry((id.clone(), event.clone())).or_default() += n;
    }
    let lost_messages: u32 = owed
        .iter()
        .map(|((id, event), n)| {
            let got = told
                .get(&(id.clone(), (*event).to_owned()))
                .copied()
                .unwrap_or(0);
            n.saturating_sub(got)
        })
        .sum();
    let owed_total: u32 = owed.values().sum();
    let mut untold = 0;
    for (id, state) in &flaps {
        let told = last.get(id).map(|(_, e)| e.as_str());
        if told != Some(state.as_str()) {
            untold += 1;
            eprintln!("{id} is {state} but the last message said {told:?}");
        }
    }
    assert!(
        checked_beats > 0 && checked_flaps > 0,
        "the checks saw something"
    );
    eprintln!(
        "crash report: {rounds} rounds, {total_updates} updates sent at {rate}/s, \
         {checked_beats} heartbeat keys and {checked_flaps} flapping alerts checked, \
         {lost_beats} heartbeat keys lost, {wrong_flaps} states wrong, {} events delivered, \
         {owed_total} owed (changes before a mark), {lost_messages} of them lost, \
         {duplicates} duplicates, {untold} final states untold",
        seen.len()
    );
    assert_eq!(lost_beats, 0, "heartbeat keys lost");
    assert_eq!(wrong_flaps, 0, "states wrong after a restart");
    assert_eq!(untold, 0, "final states never told");
    assert!(owed_total > 0, "the check saw messages owed");
    assert_eq!(lost_messages, 0, "messages owed and never delivered");
}
