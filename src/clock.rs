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

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::alert::UnixSecs;

/// A source of the current time that can also sleep until a moment.
#[derive(Clone, Debug)]
pub struct Clock {
    manual: Option<watch::Receiver<u64>>,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// Unix time in milliseconds.
    pub fn now_ms(&self) -> u64 {
        match &self.manual {
            Some(time) => *time.borrow(),
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
    pub async fn sleep_until_ms(&self, at_ms: u64) {
        match &self.manual {
            Some(time) => {
                let mut time = time.clone();
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
    pub async fn sleep_until(&self, at: UnixSecs) {
        self.sleep_until_ms(at.saturating_mul(1000)).await
    }

    pub async fn sleep(&self, duration: Duration) {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.sleep_until_ms(self.now_ms().saturating_add(ms)).await
    }
}

/// A clock for tests: it stands still until moved.
#[derive(Clone, Debug)]
pub struct ManualClock {
    time: Arc<watch::Sender<u64>>,
}

impl ManualClock {
    /// A clock showing Unix second `at`.
    pub fn at(at: UnixSecs) -> Self {
        ManualClock {
            time: Arc::new(watch::Sender::new(at.saturating_mul(1000))),
        }
    }

    /// The [`Clock`] to hand to the daemon.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(self.time.subscribe()),
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
}
