//! The store on a temporary directory: every keyspace written, read back,
//! upgraded and reopened.

use prost::Message;
use std::sync::Arc;

use super::keys::{prefixed, queue_key};
use super::queue::{encode_queue_batch, QueueBatch};
use super::upgrade::{OLD_ALERT, OLD_DUE};
use super::*;
use crate::alert::{DeadLetter, EventKind, HistoryEntry, HistoryKind};

/// Opens, waiting a little for a store just dropped in this process:
/// sled lets go of its lock from a background thread.
fn open_at(path: &Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(path, 1 << 20, Gauge::default()) {
            Err(StoreError::InUse(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened.unwrap(),
        }
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_at(dir.path());
    (dir, store)
}

fn record(will_raise_at: Option<u64>) -> Record {
    Record {
        subject: "s".into(),
        will_raise_at,
        ..Record::default()
    }
}

fn message(key: &AlertKey, notifier: &str, at: u64) -> Notification {
    Notification {
        event: EventKind::Raised as i32,
        source: key.source.clone(),
        id: key.id.clone(),
        at,
        alert: record(None),
        notifier: notifier.into(),
        ..Notification::default()
    }
}

fn batch(bucket: u32, key: &AlertKey, record: Record, to: &[&str]) -> Batch {
    Batch {
        buckets: vec![(bucket, vec![(key.clone(), record)])],
        details: vec![],
        messages: to.iter().map(|n| message(key, n, 100)).collect(),
        ..Batch::default()
    }
}

fn key_bytes(key: &AlertKey) -> Vec<u8> {
    key.to_bytes()
}

#[test]
fn history_is_kept_per_group_and_read_per_alert() {
    let (_dir, store) = open();
    let a = AlertKey::new("src", "a");
    let b = AlertKey::new("src", "ab");
    let line = |at: u64, text: &str| HistoryEntry::new(at, HistoryKind::Update, text);
    store
        .write(&Batch {
            history: vec![
                (a.clone(), line(100, "raised")),
                (b.clone(), line(100, "raised b")),
            ],
            ..Batch::default()
        })
        .unwrap();
    store
        .add_history(&[(a.clone(), line(200, "cleared"))])
        .unwrap();
    let texts = |key: &AlertKey| -> Vec<String> {
        store
            .history(key)
            .unwrap()
            .into_iter()
            .map(|h| h.text)
            .collect()
    };
    assert_eq!(texts(&a), ["raised", "cleared"]);
    assert_eq!(texts(&b), ["raised b"]);
    assert!(texts(&AlertKey::new("src", "c")).is_empty());
    let all_since = |since: u64| -> Vec<String> {
        store
            .history_all(HistoryWanted {
                since,
                until: None,
                keep: |_: &AlertKey, _: &HistoryEntry| true,
            })
            .unwrap()
            .into_iter()
            .map(|(_, h)| h.text)
            .collect()
    };
    // Lines of one second from one write come in their groups' order.
    let mut first = all_since(0);
    first[..2].sort();
    assert_eq!(first, ["raised", "raised b", "cleared"]);
    assert_eq!(all_since(150), ["cleared"]);
    assert!(all_since(201).is_empty());
    let first_write = store.scan([HISTORY]).unwrap().count() - 1;
    assert_eq!(store.prune_history(150).unwrap(), first_write);
    assert_eq!(
        store.scan([HISTORY_TIME]).unwrap().count(),
        1,
        "the index pruned too"
    );
    assert_eq!(texts(&a), ["cleared"]);
}

#[test]
fn a_write_of_many_alerts_makes_one_value_per_group_not_per_alert() {
    let (_dir, store) = open();
    let keys: Vec<AlertKey> = (0..20_000)
        .map(|i| AlertKey::new(format!("host{}", i % 100), format!("check{i}")))
        .collect();
    let lines: Vec<History> = keys
        .iter()
        .map(|k| (k.clone(), HistoryEntry::new(5, HistoryKind::Update, &k.id)))
        .collect();
    store.add_history(&lines).unwrap();
    let values = store.scan([HISTORY]).unwrap().count();
    assert!(
        (4000..=4096).contains(&values),
        "{values} values for 20,000 alerts"
    );
    for key in keys.iter().step_by(997) {
        let texts: Vec<String> = store
            .history(key)
            .unwrap()
            .into_iter()
            .map(|h| h.text)
            .collect();
        assert_eq!(texts, std::slice::from_ref(&key.id));
    }
}

#[test]
fn history_of_the_layout_by_bucket_is_regrouped_at_open_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<AlertKey> = (0..50)
        .map(|i| AlertKey::new("web", format!("c{i}")))
        .collect();
    {
        let db = sled::open(dir.path()).unwrap();
        // Two writes' values for bucket 9 (prefix, bucket, time, sequence).
        for (at, seq) in [(100u64, 4u64), (200, 8)] {
            let lines = keys
                .iter()
                .map(|k| history::HistoryLine {
                    source: k.source.clone(),
                    id: k.id.clone(),
                    entry: HistoryEntry::new(at, HistoryKind::Update, format!("at {at}")),
                })
                .collect();
            let mut key = vec![OLD_HISTORY];
            key.extend_from_slice(&9u32.to_be_bytes());
            key.extend_from_slice(&at.to_be_bytes());
            key.extend_from_slice(&seq.to_be_bytes());
            db.insert(key, history::HistoryBatch { lines }.encode_to_vec())
                .unwrap();
        }
        db.flush().unwrap();
    }
    let texts = |store: &Store, key: &AlertKey| -> Vec<String> {
        store
            .history(key)
            .unwrap()
            .into_iter()
            .map(|h| h.text)
            .collect()
    };
    let values = {
        let store = open_at(dir.path());
        assert_eq!(store.scan([OLD_HISTORY]).unwrap().count(), 0);
        for key in &keys {
            assert_eq!(texts(&store, key), ["at 100", "at 200"]);
        }
        // Sequences go on past the old ones.
        store
            .add_history(&[(
                keys[0].clone(),
                HistoryEntry::new(200, HistoryKind::Note, "new"),
            )])
            .unwrap();
        assert_eq!(texts(&store, &keys[0]), ["at 100", "at 200", "new"]);
        store.flush().unwrap();
        store.scan([HISTORY]).unwrap().count()
    };
    let store = open_at(dir.path());
    assert_eq!(
        store.scan([HISTORY]).unwrap().count(),
        values,
        "upgraded once"
    );
    assert_eq!(texts(&store, &keys[0]), ["at 100", "at 200", "new"]);
}

#[test]
fn keys_of_different_sources_never_collide() {
    assert_ne!(
        key_bytes(&AlertKey::new("ab", "c")),
        key_bytes(&AlertKey::new("a", "bc"))
    );
    let key = AlertKey::new("héllo\0", "x\0y");
    assert_eq!(AlertKey::from_bytes(&key_bytes(&key)), key);
}

#[test]
fn a_removal_then_a_newer_detail_in_one_batch_leaves_the_newer() {
    let (_dir, store) = open();
    let a = AlertKey::new("src", "a");
    let details = |list: &[&str]| Batch {
        details: list.iter().map(|d| (0, a.clone(), Arc::from(*d))).collect(),
        ..Batch::default()
    };
    store.write(&details(&["on disk"])).unwrap();
    assert_eq!(store.detail(0, &a).unwrap(), "on disk");
    store.write(&details(&["", "second"])).unwrap();
    assert_eq!(store.detail(0, &a).unwrap(), "second", "the later wins");
    store.write(&details(&[""])).unwrap();
    assert_eq!(store.detail(0, &a).unwrap(), "", "removed");
}

#[test]
fn a_buckets_details_are_one_value_and_a_large_one_keeps_its_own_key() {
    let (_dir, store) = open();
    let keys: Vec<AlertKey> = (0..BUCKET_SIZE)
        .map(|i| AlertKey::new("src", format!("a{i}")))
        .collect();
    let big = "x".repeat(details::OWN_KEY_OVER + 1);
    let write = |changes: Vec<(usize, &str)>| {
        let details = changes
            .into_iter()
            .map(|(i, d)| (5, keys[i].clone(), Arc::from(d)))
            .collect();
        store
            .write(&Batch {
                details,
                ..Batch::default()
            })
            .unwrap();
    };
    write((0..BUCKET_SIZE).map(|i| (i, "small")).collect());
    assert_eq!(
        store.scan([DETAILS]).unwrap().count(),
        1,
        "one value for the bucket"
    );
    assert_eq!(store.scan([DETAIL]).unwrap().count(), 0);
    // Large: its own key, marked in the bucket; the others stay.
    write(vec![(1, big.as_str())]);
    assert_eq!(store.scan([DETAIL]).unwrap().count(), 1);
    assert_eq!(store.detail(5, &keys[1]).unwrap(), big);
    assert_eq!(store.detail(5, &keys[2]).unwrap(), "small");
    // Small again: its own key goes. Removed: gone from the bucket.
    write(vec![(1, "short"), (2, "")]);
    assert_eq!(store.scan([DETAIL]).unwrap().count(), 0);
    assert_eq!(store.detail(5, &keys[1]).unwrap(), "short");
    assert_eq!(store.detail(5, &keys[2]).unwrap(), "");
    // Large then removed in one batch: neither key is left.
    write(vec![(3, big.as_str()), (3, "")]);
    assert_eq!(store.scan([DETAIL]).unwrap().count(), 0);
    assert_eq!(store.detail(5, &keys[3]).unwrap(), "");
    let all = store.details().unwrap();
    assert_eq!(all.len(), BUCKET_SIZE - 2);
    assert!(all.contains(&(keys[1].clone(), "short".into())));
    // Every detail removed: the bucket's value goes.
    write((0..BUCKET_SIZE).map(|i| (i, "")).collect());
    assert_eq!(store.scan([DETAILS]).unwrap().count(), 0);
}

#[test]
fn many_details_are_read_a_bucket_at_a_time_in_the_order_asked() {
    let (_dir, store) = open();
    let key = |i: u32| AlertKey::new("src", format!("a{i}"));
    let big = "z".repeat(details::OWN_KEY_OVER + 1);
    let details = vec![
        (1, key(1), Arc::from("one")),
        (2, key(2), Arc::from(big.as_str())),
        (1, key(3), Arc::from("three")),
    ];
    store
        .write(&Batch {
            details,
            ..Batch::default()
        })
        .unwrap();
    let asked = [(2, key(2)), (1, key(3)), (1, key(4)), (1, key(1))];
    assert_eq!(store.details_of(&asked), [big.as_str(), "three", "", "one"]);
    for (bucket, key) in &asked {
        let one = store.detail(*bucket, key).unwrap();
        assert_eq!(store.details_of(&[(*bucket, key.clone())]), [one]);
    }
}

#[test]
fn details_under_their_own_keys_move_into_their_buckets_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, gone) = (
        AlertKey::new("web", "a"),
        AlertKey::new("web", "b"),
        AlertKey::new("web", "gone"),
    );
    let big = "y".repeat(details::OWN_KEY_OVER + 1);
    {
        // The previous layout: records in buckets, each detail its own key.
        let db = sled::open(dir.path()).unwrap();
        let bucket = buckets::Bucket {
            entries: [&a, &b]
                .iter()
                .map(|k| buckets::BucketEntry {
                    source: k.source.clone(),
                    id: k.id.clone(),
                    record: record(None),
                })
                .collect(),
        };
        db.insert(keys::bucket_key(7), bucket.encode_to_vec())
            .unwrap();
        db.insert(prefixed(DETAIL, &a), "kept").unwrap();
        db.insert(prefixed(DETAIL, &b), big.as_bytes()).unwrap();
        db.insert(prefixed(DETAIL, &gone), "no alert").unwrap();
        db.flush().unwrap();
    }
    let store = open_at(dir.path());
    assert_eq!(store.detail(7, &a).unwrap(), "kept");
    assert_eq!(store.detail(7, &b).unwrap(), big);
    assert_eq!(
        store.scan([DETAIL]).unwrap().count(),
        1,
        "only the large one"
    );
    assert_eq!(store.details().unwrap().len(), 2, "the orphan went");
    drop(store);
    let store = open_at(dir.path());
    assert_eq!(store.detail(7, &a).unwrap(), "kept", "upgraded once");
}

#[test]
fn buckets_hold_their_alerts_and_details_stay_apart() {
    let (_dir, store) = open();
    let a = AlertKey::new("src", "a");
    let b = AlertKey::new("src", "b");
    let two = Batch {
        buckets: vec![(
            3,
            vec![(a.clone(), record(Some(100))), (b.clone(), record(None))],
        )],
        details: vec![(3, a.clone(), "<b>big</b>".into())],
        ..Batch::default()
    };
    store.write(&two).unwrap();
    let buckets: Vec<_> = store.buckets().map(|b| b.unwrap()).collect();
    assert_eq!(
        buckets,
        vec![(
            3,
            vec![(a.clone(), record(Some(100))), (b.clone(), record(None))]
        )]
    );
    assert_eq!(store.get(&a).unwrap().unwrap().detail, "<b>big</b>");
    // Rewriting the bucket keeps the detail; an empty bucket goes.
    store.write(&batch(3, &a, record(None), &[])).unwrap();
    assert_eq!(store.detail(3, &a).unwrap(), "<b>big</b>");
    assert_eq!(store.get(&b).unwrap(), None, "the bucket is written whole");
    store
        .write(&Batch {
            buckets: vec![(3, vec![])],
            ..Batch::default()
        })
        .unwrap();
    assert_eq!(store.buckets().count(), 0);
}

#[test]
fn messages_are_delivered_in_order_across_batches_with_a_cursor() {
    let (_dir, store) = open();
    let key = AlertKey::new("src", "hb");
    let first = Batch {
        messages: vec![
            message(&key, "a", 1),
            message(&key, "b", 1),
            message(&key, "a", 2),
        ],
        ..Batch::default()
    };
    assert_eq!(store.write(&first).unwrap(), 3);
    store.write(&batch(0, &key, record(None), &["a"])).unwrap();
    assert_eq!(store.queue_len(), 4);
    let waiting = store.take("a", 10).unwrap();
    let at: Vec<u64> = waiting.iter().map(|(_, m)| m.at).collect();
    assert_eq!(at, vec![1, 2, 100]);
    assert!(waiting.iter().all(|(_, m)| m.notifier == "a"));
    store.delivered(&waiting[0].0).unwrap();
    let rest: Vec<u64> = store
        .take("a", 10)
        .unwrap()
        .iter()
        .map(|(_, m)| m.at)
        .collect();
    assert_eq!(rest, vec![2, 100]);
    assert_eq!(store.take("a", 1).unwrap().len(), 1, "the limit holds");
    store.delivered(&waiting[1].0).unwrap();
    store.delivered(&waiting[2].0).unwrap();
    assert!(store.take("a", 10).unwrap().is_empty());
    assert_eq!(store.queue_len(), 1);
    assert_eq!(store.queue_owners().unwrap(), vec!["b".to_string()]);
}

#[test]
fn a_dead_letter_leaves_the_queue_and_is_kept() {
    let (_dir, store) = open();
    let key = AlertKey::new("src", "a");
    store.write(&batch(0, &key, record(None), &["n"])).unwrap();
    let (id, notification) = store.take("n", 1).unwrap().remove(0);
    let letter = DeadLetter {
        notification,
        reason: "no such command".into(),
        at: 5,
    };
    store.give_up(&id, &letter, None).unwrap();
    assert_eq!(store.queue_len(), 0);
    assert!(store.take("n", 1).unwrap().is_empty());
    assert_eq!(store.dead_letters().unwrap(), vec![letter]);
}

#[test]
fn an_unknown_stored_event_kind_is_an_error_not_another_kind() {
    let (_dir, store) = open();
    let key = AlertKey::new("src", "a");
    let bad = Record {
        update_type: Some(99),
        ..record(None)
    };
    store.write(&batch(0, &key, bad, &[])).unwrap();
    assert!(matches!(
        store.get(&key),
        Err(StoreError::UnknownEnum { value: 99, .. })
    ));
    let mut message = message(&key, "n", 1);
    message.event = 42;
    assert_eq!(message.kind(), Err(42));
}

#[test]
fn a_store_of_an_earlier_layout_is_upgraded_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = AlertKey::new("web", "a");
    let queued = message(&key, "n", 7);
    {
        let db = sled::open(dir.path()).unwrap();
        let old = Record {
            detail: "inline".into(),
            ..record(Some(7))
        };
        db.insert(prefixed(OLD_ALERT, &key), old.encode_to_vec())
            .unwrap();
        let mut due = vec![OLD_DUE];
        due.extend_from_slice(&7u64.to_be_bytes());
        due.extend(key_bytes(&key));
        db.insert(due, &[]).unwrap();
        db.insert(queue_key("n", 4), queued.encode_to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let store = open_at(dir.path());
    assert_eq!(store.detail(0, &key).unwrap(), "inline");
    let all: Vec<_> = store.records().map(|r| r.unwrap()).collect();
    assert_eq!(all, vec![(key.clone(), record(Some(7)))]);
    assert_eq!(store.scan([OLD_DUE]).unwrap().count(), 0);
    assert_eq!(store.scan([OLD_ALERT]).unwrap().count(), 0);
    assert_eq!(store.queue_len(), 1);
    assert_eq!(store.take("n", 10).unwrap()[0].1, queued);
}

#[test]
fn sequence_cursor_and_queue_depth_continue_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let key = AlertKey::new("s", "i");
    {
        let store = open_at(dir.path());
        let two = Batch {
            messages: vec![message(&key, "n", 1), message(&key, "n", 2)],
            ..Batch::default()
        };
        store.write(&two).unwrap();
        let (first, _) = store.take("n", 1).unwrap().remove(0);
        store.delivered(&first).unwrap();
        store.flush().unwrap();
    }
    let store = open_at(dir.path());
    assert_eq!(store.queue_len(), 1, "one delivered before the restart");
    store.write(&batch(0, &key, record(None), &["n"])).unwrap();
    let at: Vec<u64> = store
        .take("n", 10)
        .unwrap()
        .iter()
        .map(|(_, m)| m.at)
        .collect();
    assert_eq!(at, vec![2, 100]);
}

#[test]
fn history_written_in_the_same_second_after_a_restart_keeps_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let key = AlertKey::new("s", "i");
    let line = |text: &str| HistoryEntry::new(100, HistoryKind::Update, text);
    // Nothing queued: only the history says how far the sequence went.
    for text in ["before", "after"] {
        let store = open_at(dir.path());
        store.add_history(&[(key.clone(), line(text))]).unwrap();
        store.flush().unwrap();
    }
    let store = open_at(dir.path());
    let texts: Vec<String> = store
        .history(&key)
        .unwrap()
        .into_iter()
        .map(|h| h.text)
        .collect();
    assert_eq!(texts, ["before", "after"]);
}

#[test]
fn a_second_open_of_the_same_directory_says_it_is_in_use() {
    let (dir, _store) = open();
    let err = Store::open(dir.path(), 1 << 20, Gauge::default())
        .err()
        .expect("the directory is locked");
    assert!(matches!(err, StoreError::InUse(_)), "{err}");
    assert!(err.to_string().contains("another mauved"));
}

#[test]
fn too_little_free_space_stops_writing_until_there_is_enough() {
    let (_dir, store) = open();
    assert_eq!(store.check_space().ok(), Some(()), "no minimum: no check");
    let store = store.keeping_free(u64::MAX);
    assert!(matches!(store.check_space(), Err(StoreError::Failing(_))));
    assert!(store.probe(1).is_err(), "the probe does not write either");
    let Some(Failing::Space(reason)) = store.failing() else {
        panic!("{:?}", store.failing());
    };
    assert!(reason.contains("store.min_free_mib"), "{reason}");
    let store = store.keeping_free(1);
    assert_eq!(store.check_space().ok(), Some(()));
    assert_eq!(store.failing(), None, "space is back");
}

#[test]
fn reopening_keeps_what_was_flushed_and_writes_again() {
    let (dir, store) = open();
    let key = AlertKey::new("s", "a");
    store
        .write(&batch(0, &key, record(Some(5)), &["n"]))
        .unwrap();
    store.flush().unwrap();
    // The old handle is set aside open, its lock released.
    store.recover().unwrap();
    assert_eq!(store.get(&key).unwrap().unwrap().will_raise_at, Some(5));
    assert_eq!(store.queue_len(), 1, "recounted");
    let other = AlertKey::new("s", "b");
    store
        .write(&batch(1, &other, record(Some(7)), &[]))
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let store = open_at(dir.path());
    assert_eq!(store.get(&key).unwrap().unwrap().will_raise_at, Some(5));
    assert_eq!(store.get(&other).unwrap().unwrap().will_raise_at, Some(7));
}

#[test]
fn a_storm_of_messages_is_queued_in_values_of_bounded_size_and_in_order() {
    let (_dir, store) = open();
    let key = AlertKey::new("s", "a");
    let storm = Batch {
        messages: (0..1000).map(|at| message(&key, "n", at)).collect(),
        ..Batch::default()
    };
    store.write(&storm).unwrap();
    assert_eq!(
        store.scan([QUEUE]).unwrap().count(),
        4,
        "1000 in values of 256"
    );
    assert_eq!(store.queue_len(), 1000);
    let mut seen = Vec::new();
    loop {
        let batch = store.take("n", 64).unwrap();
        if batch.is_empty() {
            break;
        }
        for (id, m) in batch {
            seen.push(m.at);
            store.delivered(&id).unwrap();
        }
    }
    assert_eq!(seen, (0..1000).collect::<Vec<u64>>());
    // The hand encoding is the derived one.
    let messages: Vec<Notification> = (0..3).map(|at| message(&key, "n", at)).collect();
    let refs: Vec<&Notification> = messages.iter().collect();
    assert_eq!(
        encode_queue_batch(&refs),
        QueueBatch { messages }.encode_to_vec()
    );
    assert_eq!(store.queue_len(), 0);
}

#[test]
fn a_store_says_its_layout_and_one_of_a_newer_mauved_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_at(dir.path());
    assert_eq!(
        store.meta(b"format").unwrap(),
        Some(super::upgrade::FORMAT.to_be_bytes().to_vec())
    );
    // What a later mauved would write.
    store
        .set_meta(b"format", &(super::upgrade::FORMAT + 1).to_be_bytes())
        .unwrap();
    drop(store);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let refused = loop {
        match Store::open(dir.path(), 1 << 20, Gauge::default()) {
            Err(StoreError::InUse(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => break other,
        }
    };
    let err = refused.err().expect("refused").to_string();
    let (found, known) = (super::upgrade::FORMAT + 1, super::upgrade::FORMAT);
    assert!(
        err.contains(&format!("layout {found}")) && err.contains(&format!("up to {known}")),
        "{err}"
    );
}

mod by_time {
    use super::*;
    use proptest::prelude::*;

    /// A write: lines (alert number, seconds after the write's start).
    fn writes() -> impl Strategy<Value = Vec<Vec<(u8, u8)>>> {
        proptest::collection::vec(proptest::collection::vec((0u8..40, 0u8..60), 1..12), 1..25)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Pages of any length, from any `since` to any `until`, read one
        /// after another, give what a plain list sorted the same way holds.
        #[test]
        fn pages_read_in_turn_are_the_plain_sorted_list(
            writes in writes(),
            limit in 1usize..9,
            since in 0u64..2_000,
            span in 1u64..3_000,
            only in proptest::option::of(0u8..40),
        ) {
            let (_dir, store) = open();
            let mut model = Vec::new();
            for (w, lines) in writes.iter().enumerate() {
                // Writes a minute apart, in order; a write's lines within it.
                let start = 100 * w as u64;
                let lines: Vec<History> = lines
                    .iter()
                    .map(|(alert, after)| {
                        let key = AlertKey::new(format!("h{}", alert % 7), format!("c{alert}"));
                        (key, HistoryEntry::new(start + u64::from(*after), HistoryKind::Update, format!("{w}")))
                    })
                    .collect();
                store.add_history(&lines).unwrap();
                let mut sorted = lines.clone();
                sorted.sort_by_key(|(_, e)| e.at);
                model.extend(sorted);
            }
            let until = since + span;
            let wanted_id = only.map(|a| format!("c{a}"));
            let expected: Vec<(AlertKey, HistoryEntry)> = model
                .into_iter()
                .filter(|(k, e)| e.at >= since && e.at < until && wanted_id.as_ref().is_none_or(|id| *id == k.id))
                .collect();
            let mut got = Vec::new();
            let mut from = None;
            loop {
                let wanted = HistoryWanted {
                    since,
                    until: Some(until),
                    keep: |k: &AlertKey, _: &HistoryEntry| wanted_id.as_ref().is_none_or(|id| *id == k.id),
                };
                let (page, next) = store.history_page(wanted, from, limit).unwrap();
                prop_assert!(page.len() <= limit);
                got.extend(page);
                match next {
                    Some(next) => from = Some(HistoryCursor::decode(&next.encode()).unwrap()),
                    None => break,
                }
            }
            // Within one write, lines of the same second keep no set order.
            let norm = |v: &[(AlertKey, HistoryEntry)]| {
                let mut v: Vec<(u64, String, String)> = v.iter().map(|(k, e)| (e.at, e.text.clone(), k.to_string())).collect();
                v.sort();
                v
            };
            prop_assert_eq!(norm(&got), norm(&expected));
            let order = |v: &[(AlertKey, HistoryEntry)]| v.iter().map(|(_, e)| (e.text.clone(), e.at)).collect::<Vec<_>>();
            prop_assert_eq!(order(&got), order(&expected));
        }
    }

    #[test]
    fn a_page_reads_the_page_not_the_keyspace() {
        let (_dir, store) = open();
        for w in 0..2_000u64 {
            let key = AlertKey::new("h", format!("c{}", w % 50));
            store
                .add_history(&[(key, HistoryEntry::new(w * 60, HistoryKind::Update, "x"))])
                .unwrap();
        }
        let read = std::sync::atomic::AtomicUsize::new(0);
        let wanted = HistoryWanted {
            since: 1_000 * 60,
            until: None,
            keep: |_: &AlertKey, _: &HistoryEntry| {
                read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                true
            },
        };
        let (page, next) = store.history_page(wanted, None, 10).unwrap();
        assert_eq!(page.len(), 10);
        assert_eq!(page[0].1.at, 1_000 * 60);
        assert!(next.is_some());
        let read = read.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            read <= 11,
            "{read} lines looked at for a page of 10 out of 2,000"
        );
    }
}
