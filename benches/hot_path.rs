//! The per-packet work, stage by stage: decode, state machine, store batch.
//! End-to-end throughput is measured by `mauved-load` against a running daemon.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mauved::alert::{self, AlertChange, AlertKey, Record};
use mauved::store::{Batch, Store, Write};
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

fn store_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1000, 64 << 20, Default::default()).unwrap();
    let record: Record = alert::apply(None, "web1", &heartbeat(T0), T0).record;
    let mut group = c.benchmark_group("store");
    const BATCH: u64 = 1024;
    group.throughput(Throughput::Elements(BATCH));
    let mut round = 0u64;
    group.bench_function("commit 1024 heartbeat refreshes", |b| {
        b.iter_batched(
            || {
                round += 1;
                let writes = (0..BATCH)
                    .map(|i| Write {
                        key: AlertKey::new(format!("host-{}", i % 100), format!("hb-{}", i / 100)),
                        old_due: Some(T0 + 300 + round - 1),
                        record: Record {
                            will_raise_at: Some(T0 + 300 + round),
                            ..record.clone()
                        },
                        messages: Vec::new(),
                    })
                    .collect();
                Batch {
                    writes,
                    stale_due: Vec::new(),
                }
            },
            |batch| store.commit(&batch).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, decode, state_machine, store_commit);
criterion_main!(benches);
