//! The per-packet work, stage by stage: decode, state machine, the in-memory
//! index and its due times, the write-behind batch, and the scheduler with
//! its writer as the daemon runs them.
//! End-to-end throughput is measured by `mauved-load` against a running daemon.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mauved::alert::{self, AlertChange, AlertKey, Record};
use mauved::index::Index;
use mauved::store::{Batch, Store, BUCKET_SIZE};
use mauved::wire;

const T0: u64 = 1_700_000_000;

fn decode(c: &mut Criterion) {
    let packet = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/raise-now.bin"
    ))
    .unwrap();
    let mut group = c.benchmark_group("wire");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode real mauvesend packet", |b| {
        b.iter(|| wire::decode(std::hint::black_box(&packet), T0).unwrap())
    });
    group.finish();
}

fn heartbeat(now: u64) -> AlertChange {
    AlertChange {
        id: "heartbeat".into(),
        raise_time: Some(now + 300),
        clear_time: Some(now),
        summary: Some("heartbeat failed".into()),
        ..AlertChange::default()
    }
}

fn state_machine(c: &mut Criterion) {
    let pending = alert::apply(None, "web1", &heartbeat(T0), T0).record;
    let mut group = c.benchmark_group("alert");
    group.throughput(Throughput::Elements(1));
    group.bench_function("apply heartbeat refresh", |b| {
        let change = heartbeat(T0 + 60);
        b.iter(|| {
            alert::apply(
                Some(std::hint::black_box(&pending)),
                "web1",
                &change,
                T0 + 60,
            )
        })
    });
    group.finish();
}

/// The write-behind: 1024 dirty heartbeat records (16 buckets) handed to
/// sled as one batch and flushed, what the writer does per job.
fn write_behind(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 32 << 20, Default::default()).unwrap();
    let record: Record = alert::apply(None, "web1", &heartbeat(T0), T0).record;
    let mut group = c.benchmark_group("store");
    const BATCH: u64 = 1024;
    group.throughput(Throughput::Elements(BATCH));
    let mut round = 0u64;
    group.bench_function("write and flush 1024 heartbeat records", |b| {
        b.iter_batched(
            || {
                round += 1;
                let records: Vec<(AlertKey, Record)> = (0..BATCH)
                    .map(|i| {
                        let key =
                            AlertKey::new(format!("host-{}", i % 100), format!("hb-{}", i / 100));
                        let record = Record {
                            will_raise_at: Some(T0 + 300 + round),
                            ..record.clone()
                        };
                        (key, record)
                    })
                    .collect();
                // As the writer hands them over: whole buckets.
                let buckets = records
                    .chunks(BUCKET_SIZE)
                    .enumerate()
                    .map(|(b, alerts)| (b as u32, alerts.to_vec()))
                    .collect();
                Batch::of_buckets(buckets)
            },
            |batch| {
                store.write(&batch).unwrap();
                store.flush().unwrap();
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The in-memory index with 100,000 pending heartbeats: a refresh moving an
/// alert's due time, and popping the earliest due entries.
fn due_index(c: &mut Criterion) {
    let mut index = Index::new(usize::MAX);
    let record = |due: u64| Record {
        will_raise_at: Some(due),
        cleared_at: Some(T0),
        ..Record::default()
    };
    const ALERTS: u64 = 100_000;
    for i in 0..ALERTS {
        let key = AlertKey::new(format!("host-{i}"), "heartbeat");
        index.insert(&key, &record(T0 + 300 + i % 300), 0).unwrap();
    }
    let mut group = c.benchmark_group("index");
    group.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    group.bench_function("find and refresh one of 100k heartbeats", |b| {
        b.iter(|| {
            n += 1;
            let source = format!("host-{}", n % ALERTS);
            let slot = index.find(&source, "heartbeat").unwrap();
            index.update(slot, &record(T0 + 600 + n % 300), 0);
        })
    });
    group.bench_function("pop the 1000 earliest due of 100k", |b| {
        b.iter(|| index.due(u64::MAX, 1000))
    });
    group.finish();
}

/// `POST /api/v2/alerts`: a batch of 500 Prometheus alerts read, mapped to
/// mauve updates and checked as a datagram is.
fn prometheus_batch(c: &mut Criterion) {
    let alerts: Vec<serde_json::Value> = (0..500)
        .map(|i| {
            serde_json::json!({
                "labels": {"alertname": "DiskFull", "instance": format!("host{}:9100", i / 4),
                           "device": format!("sd{}", i % 4), "severity": "warning", "job": "node"},
                "annotations": {"summary": "disk full"},
                "startsAt": "2023-11-14T22:13:00Z", "endsAt": "2023-11-14T22:18:20Z",
            })
        })
        .collect();
    let body = serde_json::to_vec(&alerts).unwrap();
    let importance = std::collections::BTreeMap::new();
    let mut group = c.benchmark_group("prometheus");
    group.throughput(Throughput::Elements(500));
    group.bench_function("500 alerts parsed, mapped and checked", |b| {
        b.iter(|| {
            let updates =
                mauved::alertmanager::postable::parse(std::hint::black_box(&body), T0, &importance)
                    .unwrap();
            for update in updates {
                wire::check(update, T0).unwrap();
            }
        })
    });
    group.finish();
}

/// Updates for heartbeats `first..first + 1024`, ten a host.
fn updates(first: u64, now: u64) -> Vec<alert::Update> {
    (first..first + 1024)
        .map(|n| alert::Update {
            source: format!("host-{}", n / 10),
            transmission_id: 0,
            replace: false,
            alerts: vec![AlertChange {
                id: format!("hb-{}", n % 10),
                ..heartbeat(now)
            }],
            received_at: now,
        })
        .collect()
}

/// The scheduler's work per update with its writer's, through the daemon's
/// own way in (`apply_durably`: applied to the index, tracked as dirty,
/// written and flushed): 1,024 heartbeats it has never seen, and 1,024
/// refreshes among 100,000 it holds (each a key of its own, as a fleet's).
fn scheduler(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[listen]\nudp = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
         [store]\npath = \"{}\"\nmax_alerts = 4000000\n",
        dir.path().join("data").display()
    );
    let (config, router) = mauved::routing::parse(&text, "bench").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let clock = mauved::clock::ManualClock::at(T0);
    let running = runtime
        .block_on(mauved::daemon::start_with(
            &config,
            router,
            clock.clock(),
            Vec::new(),
        ))
        .unwrap();
    let apply = |updates: Vec<alert::Update>| {
        runtime
            .block_on(running.scheduler.apply_durably(updates))
            .unwrap()
    };
    const HELD: u64 = 100_000;
    for first in (0..HELD).step_by(1024) {
        apply(updates(first, T0));
    }
    let mut group = c.benchmark_group("scheduler");
    group.throughput(Throughput::Elements(1024));
    // Short: each pass over the new heartbeats keeps what it added (about
    // 1.5 million alerts in all, a few hundred MiB).
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(1));
    let mut next = 1u64 << 32;
    group.bench_function("apply and write 1024 new heartbeats", |b| {
        b.iter_batched(
            || {
                next += 1024;
                updates(next, T0)
            },
            apply,
            BatchSize::LargeInput,
        )
    });
    let mut round = 0u64;
    group.bench_function("apply and write 1024 refreshes of 100k heartbeats", |b| {
        b.iter_batched(
            || {
                round += 1;
                // A later send each pass: every refresh moves a due time.
                updates((round * 1024) % (HELD - 1024), T0 + round)
            },
            apply,
            BatchSize::LargeInput,
        )
    });
    group.finish();
    runtime.block_on(running.stop()).unwrap();
}

criterion_group!(
    benches,
    decode,
    state_machine,
    write_behind,
    due_index,
    prometheus_batch,
    scheduler
);
criterion_main!(benches);
