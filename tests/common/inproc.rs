//! The daemon in-process, on a manual clock: the same sockets and HTTP as
//! the real binary, but time moves only when the test says so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mauved::alert::{AlertKey, Record};
use mauved::clock::ManualClock;
use mauved::daemon::{self, Running};

use super::{test_config_flushing, Client};

/// 2023-11-14 22:13:20 UTC, a Tuesday.
pub const T0: u64 = 1_700_000_000;

pub struct InProc {
    pub clock: ManualClock,
    pub dir: PathBuf,
    running: Option<Running>,
    udp: SocketAddr,
    http: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

impl InProc {
    /// Starts the daemon on `clock` with the test configuration plus `extra`.
    /// Changes are written as soon as the writer is free: the flush interval
    /// is clock time, and this clock moves only when the test says so.
    pub fn start(dir: &Path, extra: &str, clock: &ManualClock) -> InProc {
        Self::start_with(dir, extra, clock, Vec::new())
    }

    /// [`InProc::start`] with `store.flush_interval_ms` set: changes nobody
    /// waits for are written only once the clock has moved that far.
    pub fn start_flushing(dir: &Path, extra: &str, clock: &ManualClock, ms: u64) -> InProc {
        Self::start_config(
            &test_config_flushing(dir, ms, extra),
            dir,
            clock,
            Vec::new(),
        )
    }

    /// [`InProc::start`] with some notifiers replaced by the given ones.
    pub fn start_with(
        dir: &Path,
        extra: &str,
        clock: &ManualClock,
        notifiers: Vec<(String, Box<dyn mauved::notify::Notifier>)>,
    ) -> InProc {
        Self::start_config(&test_config_flushing(dir, 0, extra), dir, clock, notifiers)
    }

    fn start_config(
        text: &str,
        dir: &Path,
        clock: &ManualClock,
        notifiers: Vec<(String, Box<dyn mauved::notify::Notifier>)>,
    ) -> InProc {
        // Read from a file, as `serve --config` reads it: a reload reads
        // the file again.
        let file = dir.join("mauved.toml");
        std::fs::write(&file, text).unwrap();
        let (config, router) = mauved::routing::load(&file).unwrap();
        let mut router = Some(router);
        let mut notifiers = Some(notifiers);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Right after a stop in this same process sled may still be letting
        // go of its lock (from a background thread): wait for it a little.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let running = loop {
            let given = notifiers.take().unwrap_or_default();
            match runtime.block_on(daemon::start_with(
                &config,
                router.take().unwrap(),
                clock.clock(),
                given,
            )) {
                Err(err)
                    if format!("{err:#}").contains("another mauved")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                started => break started.unwrap(),
            }
        };
        InProc {
            clock: clock.clone(),
            dir: dir.to_owned(),
            udp: running.udp[0],
            http: running.http,
            running: Some(running),
            runtime,
        }
    }

    /// Writes the test configuration with `extra` in place of the one the
    /// daemon read, and asks it to reload (`POST /-/reload`): the status
    /// and the answer.
    pub fn reload(&self, extra: &str) -> (u16, String) {
        std::fs::write(
            self.dir.join("mauved.toml"),
            test_config_flushing(&self.dir, 0, extra),
        )
        .unwrap();
        self.post("/-/reload", "")
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Moves the clock; timers due by then fire (see [`InProc::settle`]).
    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Returns once everything sent so far is applied and every timer due
    /// by the clock has fired and been written.
    pub fn settle(&self) {
        let running = self.running.as_ref().unwrap();
        self.runtime.block_on(running.scheduler.flush()).unwrap();
    }

    /// Applies one update and returns once it is on disk.
    pub fn apply(&self, update: mauved::alert::Update) {
        let running = self.running.as_ref().unwrap();
        self.runtime
            .block_on(running.scheduler.apply_durably(vec![update]))
            .unwrap();
    }

    /// Acknowledges or unacknowledges an alert.
    pub fn act(&self, source: &str, id: &str, by: &str, action: mauved::scheduler::Action) {
        let running = self.running.as_ref().unwrap();
        self.runtime
            .block_on(running.scheduler.act(AlertKey::new(source, id), by, action))
            .unwrap();
    }

    /// Returns once the history older than `before` has been removed.
    pub fn history_pruned_before(&self, before: u64) {
        let mut pruned = self.running.as_ref().unwrap().history_pruned.clone();
        let waited = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), pruned.wait_for(|&b| b >= before))
                .await
                .is_ok_and(|seen| seen.is_ok())
        });
        let last = *pruned.borrow();
        assert!(
            waited,
            "the history before {before} was never pruned (last: {last})"
        );
    }

    /// Returns once every queued message was handed to its notifier.
    pub fn drain(&self) {
        let running = self.running.as_ref().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while running.store.queue_len() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the queues do not drain"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Returns once the history of `source`/`id` holds `count` lines of
    /// delivery attempts (workers write theirs a moment after delivering).
    pub fn deliveries_written(&self, source: &str, id: &str, count: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let written = self
                .history(source, id)
                .iter()
                .filter(|e| e.kind == "notification")
                .count();
            if written >= count {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{source}/{id}: {written} of {count} delivery lines written"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// An alert's history as the API gives it.
    pub fn history(&self, source: &str, id: &str) -> Vec<mauved::alert::HistoryEntry> {
        let running = self.running.as_ref().unwrap();
        running.store.history(&AlertKey::new(source, id)).unwrap()
    }

    /// Every alert as the in-memory index holds it, in key order.
    pub fn index_records(&self) -> Vec<(AlertKey, Record)> {
        let running = self.running.as_ref().unwrap();
        let index = running.index.read();
        let mut all: Vec<_> = index
            .ids()
            .map(|s| (index.key(s), index.record(s)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Every alert as the store holds it, in key order.
    pub fn store_records(&self) -> Vec<(AlertKey, Record)> {
        let running = self.running.as_ref().unwrap();
        let mut all: Vec<_> = running.store.records().map(|r| r.unwrap()).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Stops the daemon and waits for every task it started.
    pub fn stop(mut self) {
        let running = self.running.take().unwrap();
        self.runtime.block_on(running.stop()).unwrap();
    }

    /// Drops the daemon and its runtime without stopping it, as a program
    /// embedding it may.
    pub fn abandon(mut self) {
        drop(self.running.take());
    }
}

impl Drop for InProc {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = self.runtime.block_on(running.stop());
        }
    }
}

impl Client for InProc {
    fn udp(&self) -> SocketAddr {
        self.udp
    }

    fn http(&self) -> SocketAddr {
        self.http
    }
}
