//! Time, passed in.
//!
//! Every part of the daemon that needs "now" or has to wait for a moment
//! (the scheduler's timers, delivery backoff, acknowledgement ends, the time
//! stamped on a received packet) asks the [`Clock`] it was given. In
//! production that is the system clock; in tests it is a [`ManualClock`] that
//! only moves when the test says so, so behaviour over hours runs in
//! milliseconds and never depends on how busy the machine is.
//!
//! The clock counts Unix milliseconds; the mauve wire format and the state
//! machine work in whole seconds ([`Clock::now`]).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::alert::UnixSecs;

/// A source of the current time that can also sleep until a moment.
#[derive(Clone, Debug)]
pub struct Clock {
    manual: Option<Manual>,
}

/// A [`ManualClock`]'s time, and who sleeps on it.
#[derive(Clone, Debug)]
struct Manual {
    time: watch::Receiver<u64>,
    asleep: Arc<Mutex<Asleep>>,
}

/// Who sleeps on a manual clock: by sleep, what sleeps and until when (ms).
#[derive(Debug, Default)]
struct Asleep {
    next: u64,
    sleepers: BTreeMap<u64, (String, u64)>,
}

/// Takes a sleeper off the list however its sleep ends.
struct Awake<'a>(&'a Mutex<Asleep>, u64);

impl Drop for Awake<'_> {
    fn drop(&mut self) {
        lock(self.0).sleepers.remove(&self.1);
    }
}

fn lock(asleep: &Mutex<Asleep>) -> parking_lot::MutexGuard<'_, Asleep> {
    asleep.lock()
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// Unix time in milliseconds.
    pub fn now_ms(&self) -> u64 {
        match &self.manual {
            Some(manual) => *manual.time.borrow(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        }
    }

    /// Unix time in whole seconds.
    pub fn now(&self) -> UnixSecs {
        self.now_ms() / 1000
    }

    /// Returns once the clock shows `at_ms` or later.
    pub(crate) async fn sleep_until_ms(&self, at_ms: u64) {
        self.sleep_until_ms_as("", at_ms).await
    }

    /// [`Clock::sleep_until_ms`], saying what sleeps: a test on a manual
    /// clock can wait until it is asleep ([`ManualClock::wait_asleep`]), so
    /// that it knows nothing more happens until the clock moves.
    pub(crate) async fn sleep_until_ms_as(&self, what: &str, at_ms: u64) {
        match &self.manual {
            Some(manual) => {
                let mut time = manual.time.clone();
                let id = {
                    let mut asleep = lock(&manual.asleep);
                    asleep.next += 1;
                    let id = asleep.next;
                    asleep.sleepers.insert(id, (what.to_owned(), at_ms));
                    id
                };
                let _awake = Awake(&manual.asleep, id);
                // An error means the ManualClock is gone: time stands still.
                if time.wait_for(|&now| now >= at_ms).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => {
                let wait = at_ms.saturating_sub(self.now_ms());
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
        }
    }

    /// Returns once the Unix second `at` has begun.
    pub(crate) async fn sleep_until(&self, at: UnixSecs) {
        self.sleep_until_ms(at.saturating_mul(1000)).await
    }

    pub async fn sleep(&self, duration: Duration) {
        self.sleep_as("", duration).await
    }

    /// [`Clock::sleep`], saying what sleeps (see [`Clock::sleep_until_ms_as`]).
    pub async fn sleep_as(&self, what: &str, duration: Duration) {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.sleep_until_ms_as(what, self.now_ms().saturating_add(ms))
            .await
    }
}

/// A clock for tests: it stands still until moved.
#[derive(Clone, Debug)]
pub struct ManualClock {
    time: Arc<watch::Sender<u64>>,
    asleep: Arc<Mutex<Asleep>>,
}

impl ManualClock {
    /// A clock showing Unix second `at`.
    pub fn at(at: UnixSecs) -> Self {
        ManualClock {
            time: Arc::new(watch::Sender::new(at.saturating_mul(1000))),
            asleep: Arc::default(),
        }
    }

    /// The [`Clock`] to hand to the daemon.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(Manual {
                time: self.time.subscribe(),
                asleep: self.asleep.clone(),
            }),
        }
    }

    /// Moves time forward, waking everything that sleeps until then.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.time.send_modify(|now| *now = now.saturating_add(ms));
    }

    /// Sets the time, forward or back (a clock step).
    pub fn set_ms(&self, at_ms: u64) {
        self.time.send_replace(at_ms);
    }

    pub fn now(&self) -> UnixSecs {
        *self.time.borrow() / 1000
    }

    /// Until when (ms) `what` sleeps, if it sleeps past the clock's time.
    pub fn asleep_until(&self, what: &str) -> Option<u64> {
        let now = *self.time.borrow();
        lock(&self.asleep)
            .sleepers
            .values()
            .filter(|(who, until)| who == what && *until > now)
            .map(|&(_, until)| until)
            .min()
    }

    /// Blocks until `what` sleeps past the clock's time (nothing it does
    /// happens before the clock moves), and says until when (ms). Panics
    /// after `limit`.
    pub fn wait_asleep(&self, what: &str, limit: Duration) -> u64 {
        let start = std::time::Instant::now();
        loop {
            if let Some(until) = self.asleep_until(what) {
                return until;
            }
            assert!(start.elapsed() < limit, "{what} never went to sleep");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_near_the_wall_clock() {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(Clock::system().now().abs_diff(wall) <= 1);
    }

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_only_when_moved() {
        let manual = ManualClock::at(1000);
        let clock = manual.clock();
        assert_eq!(clock.now(), 1000);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(1060).await }
        });
        tokio::task::yield_now().await;
        manual.advance(Duration::from_secs(59));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        manual.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(clock.now_ms(), 1_060_000);
        // A sleep for a moment already past returns at once.
        clock.sleep(Duration::ZERO).await;
        clock.sleep_until(5).await;
    }

    #[tokio::test]
    async fn a_manual_clock_says_who_sleeps_until_when() {
        let manual = ManualClock::at(1000);
        let clock = manual.clock();
        assert_eq!(manual.asleep_until("worker"), None);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_as("worker", Duration::from_secs(2)).await }
        });
        let until = tokio::task::spawn_blocking({
            let manual = manual.clone();
            move || manual.wait_asleep("worker", Duration::from_secs(5))
        })
        .await
        .unwrap();
        assert_eq!(until, 1_002_000);
        assert_eq!(manual.asleep_until("other"), None);
        manual.advance(Duration::from_secs(2));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(manual.asleep_until("worker"), None, "awake again");
    }
}
