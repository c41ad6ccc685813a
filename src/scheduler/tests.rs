//! The scheduler on a manual clock: hours of timers in milliseconds.

use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;

use super::*;
use crate::alert::{AlertChange, EventKind, State};
use crate::clock::ManualClock;
use crate::routing::Router;

const T0: u64 = 1_700_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: ManualClock,
    forget_cleared_after_s: u64,
    flush_interval_ms: u64,
}

struct Started {
    handle: SchedulerHandle,
    thread: std::thread::JoinHandle<()>,
    store: Arc<Store>,
    index: Arc<RwLock<Index>>,
    metrics: Arc<Metrics>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Fixture {
            path: dir.path().join("data"),
            _dir: dir,
            clock: ManualClock::at(T0),
            forget_cleared_after_s: 0,
            flush_interval_ms: 0,
        }
    }

    fn start(&self, initial_sleep_s: u64) -> Started {
        let store = Arc::new(open_again(&self.path));
        let metrics = Arc::new(Metrics::new());
        let index = crate::index::load(&store, 1000).unwrap();
        let index = Arc::new(RwLock::new(index));
        let clock = self.clock.clock();
        let scheduler = Scheduler {
            store: store.clone(),
            index: index.clone(),
            metrics: metrics.clone(),
            started_at: clock.now(),
            clock,
            wakes: Arc::default(),
            pager: Pager::new(Router::compile(&crate::config::Config::default()).unwrap()),
            initial_sleep_s,
            max_acknowledgement_s: 86_400,
            forget_cleared_after_s: self.forget_cleared_after_s,
            durability: Durability {
                flush_interval_ms: self.flush_interval_ms,
                timer_flush_s: 0,
                max_writes_per_s: 1000,
            },
            changes: tokio::sync::broadcast::channel(16).0,
            silences: Default::default(),
        };
        let (handle, thread) = scheduler.spawn(tokio::runtime::Handle::current()).unwrap();
        Started {
            handle,
            thread,
            store,
            index,
            metrics,
        }
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

impl Started {
    async fn update(&self, change: AlertChange, at: UnixSecs) {
        let update = Update {
            source: "host".into(),
            transmission_id: 0,
            replace: false,
            alerts: vec![change],
            received_at: at,
        };
        self.handle.apply_durably(vec![update]).await.unwrap();
    }

    /// The alert once every timer due by now has fired; what the store
    /// holds then is the same.
    async fn alert(&self, id: &str) -> Record {
        self.handle.flush().await.unwrap();
        let stored = self.store.get(&AlertKey::new("host", id)).unwrap().unwrap();
        let index = self.index.read();
        let live = index.record(index.find("host", id).unwrap());
        assert_eq!(live, stored);
        live
    }

    /// The events queued so far for the one notifier, oldest first.
    fn queued(&self) -> Vec<(EventKind, UnixSecs)> {
        self.store
            .take("log", 100)
            .unwrap()
            .into_iter()
            .map(|(_, n)| (n.kind().unwrap(), n.at))
            .collect()
    }

    async fn stop(self) -> Arc<Store> {
        self.handle.stop().await;
        tokio::task::spawn_blocking(move || self.thread.join().unwrap())
            .await
            .unwrap();
        self.store
    }
}

/// Opens the store; right after a stop in this same process sled may still be
/// letting go of its lock (from a background thread), so wait for it a little.
fn open_again(path: &std::path::Path) -> Store {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(path, 1 << 20, Gauge::default()) {
            Err(crate::store::StoreError::InUse(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => return opened.unwrap(),
        }
    }
}

fn heartbeat(at: UnixSecs, raise_after: u64) -> AlertChange {
    AlertChange {
        id: "hb".into(),
        raise_time: Some(at + raise_after),
        clear_time: Some(at),
        ..AlertChange::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_at_its_due_second_and_not_before() {
    let f = Fixture::new();
    let s = f.start(300);
    s.update(heartbeat(T0, 300), T0).await;
    assert_eq!(s.alert("hb").await.state(), State::Pending);
    f.advance(299);
    assert_eq!(s.alert("hb").await.state(), State::Pending);
    assert!(s.queued().is_empty());
    f.advance(1);
    let raised = s.alert("hb").await;
    assert_eq!(raised.state(), State::Raised);
    assert_eq!(raised.raised_at, Some(T0 + 300));
    assert_eq!(s.queued(), vec![(EventKind::Raised, T0 + 300)]);
    // A refresh clears it again and says so.
    s.update(heartbeat(T0 + 310, 300), T0 + 310).await;
    assert_eq!(s.alert("hb").await.state(), State::Pending);
    assert_eq!(s.queued().last(), Some(&(EventKind::Cleared, T0 + 310)));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_wakes_by_itself_when_a_timer_falls_due() {
    let f = Fixture::new();
    let s = f.start(300);
    s.update(heartbeat(T0, 60), T0).await;
    f.advance(60);
    // No command is sent: the clock alone must wake the scheduler.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.queued().is_empty() {
        assert!(std::time::Instant::now() < deadline, "timer never fired");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(s.queued(), vec![(EventKind::Raised, T0 + 60)]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_overdue_timers_wait_for_the_startup_grace() {
    let f = Fixture::new();
    let first = f.start(300);
    first.update(heartbeat(T0, 60), T0).await;
    first.stop().await;
    // Down for 1000 s: the heartbeat is long overdue when the next run starts.
    f.advance(1000);
    let second = f.start(300);
    let postponed = second.alert("hb").await;
    assert_eq!(postponed.state(), State::Pending);
    assert_eq!(postponed.will_raise_at, Some(T0 + 1300));
    f.advance(299);
    assert_eq!(second.alert("hb").await.state(), State::Pending);
    f.advance(1);
    assert_eq!(second.alert("hb").await.state(), State::Raised);
    assert_eq!(second.queued(), vec![(EventKind::Raised, T0 + 1300)]);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_runs_out_and_the_alert_is_raised_again() {
    let f = Fixture::new();
    let s = f.start(300);
    let raise = AlertChange {
        id: "disk".into(),
        ..AlertChange::default()
    };
    s.update(raise, T0).await;
    let key = AlertKey::new("host", "disk");
    let acked = s
        .handle
        .act(
            key.clone(),
            "alice",
            Action::Acknowledge {
                until: T0 + 3600,
                by_link: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(acked.state(), State::Acknowledged);
    f.advance(3599);
    assert_eq!(s.alert("disk").await.state(), State::Acknowledged);
    f.advance(1);
    let again = s.alert("disk").await;
    assert_eq!(again.state(), State::Raised);
    assert_eq!(again.raised_at, Some(T0 + 3600));
    assert_eq!(
        s.queued(),
        vec![
            (EventKind::Raised, T0),
            (EventKind::Acknowledged, T0),
            (EventKind::ReRaised, T0 + 3600)
        ]
    );
    // Acting on an unknown alert or against the rules is refused.
    let missing = s
        .handle
        .act(
            AlertKey::new("host", "nope"),
            "alice",
            Action::Unacknowledge,
        )
        .await;
    assert!(matches!(missing, Err(Error::NotFound)));
    let not_acked = s.handle.act(key, "alice", Action::Unacknowledge).await;
    assert!(matches!(not_acked, Err(Error::Refused(_))));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_scheduler_says_so() {
    let f = Fixture::new();
    let s = f.start(300);
    let handle = s.handle.clone();
    s.stop().await;
    assert!(matches!(handle.flush().await, Err(Error::Stopped)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_carry_the_detail_pending_or_written() {
    let f = Fixture::new();
    let s = f.start(300);
    let raise = |at: UnixSecs, detail: Option<&str>| AlertChange {
        id: "disk".into(),
        raise_time: Some(at),
        detail: detail.map(str::to_owned),
        ..AlertChange::default()
    };
    let clear = AlertChange {
        id: "disk".into(),
        clear_time: Some(T0 + 10),
        ..AlertChange::default()
    };
    let plain = AlertChange {
        id: "plain".into(),
        ..AlertChange::default()
    };
    // Raised with a new detail: the message takes it from the pending write.
    s.update(raise(T0, Some("<p>full</p>")), T0).await;
    // Cleared and raised again without one: it comes from the store.
    s.update(clear, T0 + 10).await;
    s.update(raise(T0 + 20, None), T0 + 20).await;
    s.update(plain, T0 + 30).await;
    let details: Vec<(String, String)> = s
        .store
        .take("log", 10)
        .unwrap()
        .into_iter()
        .map(|(_, n)| (n.id, n.alert.detail))
        .collect();
    let full = "<p>full</p>".to_string();
    assert_eq!(
        details,
        vec![
            ("disk".into(), full.clone()),
            ("disk".into(), full.clone()),
            ("disk".into(), full),
            ("plain".into(), String::new()),
        ]
    );
    s.stop().await;
}

/// Waits (on the scheduler's thread, not a guess) until `done` holds of
/// the index.
async fn until(index: &RwLock<Index>, what: &str, done: impl Fn(&Index) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done(&index.read()) {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_forgotten_and_sent_again_without_detail_never_shows_the_old_one() {
    let mut f = Fixture::new();
    f.forget_cleared_after_s = 60;
    // Nothing is written unless somebody waits for it.
    f.flush_interval_ms = 100_000_000;
    let s = f.start(0);
    let key = AlertKey::new("host", "a");
    let raise = AlertChange {
        id: "a".into(),
        raise_time: Some(T0),
        detail: Some("old detail".into()),
        ..AlertChange::default()
    };
    s.update(raise, T0).await;
    let clear = AlertChange {
        id: "a".into(),
        clear_time: Some(T0),
        ..AlertChange::default()
    };
    s.update(clear, T0).await;
    // The hourly sweep forgets it; the removal of its detail is not written.
    f.advance(3600);
    until(&s.index, "forgotten", |i| i.find("host", "a").is_none()).await;
    let again = AlertChange {
        id: "a".into(),
        clear_time: Some(T0 + 3600),
        ..AlertChange::default()
    };
    let update = Update {
        source: "host".into(),
        transmission_id: 0,
        replace: false,
        alerts: vec![again],
        received_at: T0 + 3600,
    };
    s.handle.apply(vec![update]).await.unwrap();
    until(&s.index, "sent again", |i| i.find("host", "a").is_some()).await;
    let (slot, bucket) = {
        let index = s.index.read();
        let slot = index.find("host", "a").unwrap();
        (slot, index.bucket_of(slot))
    };
    assert_eq!(
        s.store.detail(bucket, &key).unwrap(),
        "old detail",
        "the disk still holds the old detail"
    );
    assert_eq!(
        s.index.read().unwritten_detail(slot).map(|d| &**d),
        Some(""),
        "readers are told it has none"
    );
    s.handle.flush().await.unwrap();
    assert_eq!(s.store.detail(bucket, &key).unwrap(), "");
    // (The index lets go once the scheduler hears the write is done,
    // just after the flush is answered.)
    until(&s.index, "the index lets go of the written \"\"", |i| {
        i.unwritten_detail(slot).is_none()
    })
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
// The store's hold keeps the writer's thread waiting while the test goes on.
#[allow(clippy::await_holding_lock)]
async fn a_write_late_by_a_second_pauses_ingest_until_it_is_done() {
    let f = Fixture::new();
    let s = f.start(0);
    let update = |id: &str| Update {
        source: "host".into(),
        transmission_id: 0,
        replace: false,
        alerts: vec![AlertChange {
            id: id.into(),
            ..heartbeat(T0, 300)
        }],
        received_at: T0,
    };
    let held = s.store.hold.lock();
    s.handle.apply(vec![update("a")]).await.unwrap();
    // The clock moves until the write of "a", which cannot finish, is late.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.metrics.ingest_paused.get() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "ingest never paused for the late write"
        );
        f.clock.advance(Duration::from_millis(500));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Handed over (the call returns once it is in the channel), and left
    // there while the write is late.
    until(&s.index, "a applied", |i| i.find("host", "a").is_some()).await;
    s.handle.apply(vec![update("b")]).await.unwrap();
    f.clock.advance(Duration::from_millis(500));
    assert_eq!(s.handle.waiting(), 1, "taken while the write is late");
    assert!(s.index.read().find("host", "b").is_none());
    drop(held);
    until(&s.index, "b applied", |i| i.find("host", "b").is_some()).await;
    assert_eq!(s.metrics.writes_late.get(), 1);
    s.handle.flush().await.unwrap();
    assert_eq!(s.metrics.ingest_paused.get(), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacing_update_clears_the_unlisted_and_keeps_what_it_lists() {
    let f = Fixture::new();
    let s = f.start(0);
    let raise = |id: &str| AlertChange {
        id: id.into(),
        ..AlertChange::default()
    };
    s.update(raise("old"), T0).await;
    // It lists "new" (raised by this very update): only "old" is unlisted.
    let replacing = Update {
        source: "host".into(),
        transmission_id: 0,
        replace: true,
        alerts: vec![raise("new")],
        received_at: T0 + 1,
    };
    s.handle.apply_durably(vec![replacing]).await.unwrap();
    assert_eq!(s.alert("new").await.state(), State::Raised);
    assert_eq!(s.alert("old").await.state(), State::Cleared);
    s.stop().await;
}
