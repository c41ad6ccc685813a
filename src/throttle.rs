//! One log throttle for every stage that logs what senders do (ingest, the
//! scheduler): lines about bad input are limited to a few per second, so a
//! flood of garbage cannot flood the log as well; the counters still count
//! everything.

use crate::alert::UnixSecs;

pub(crate) struct LogLimiter {
    second: UnixSecs,
    lines: u32,
}

impl LogLimiter {
    const PER_SECOND: u32 = 10;

    pub(crate) fn new() -> Self {
        LogLimiter {
            second: 0,
            lines: 0,
        }
    }

    /// Whether a line may be logged in second `now`.
    pub(crate) fn allow(&mut self, now: UnixSecs) -> bool {
        if now != self.second {
            self.second = now;
            self.lines = 0;
        }
        self.lines += 1;
        self.lines <= Self::PER_SECOND
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_lines_a_second() {
        let mut limiter = LogLimiter::new();
        let allowed = (0..100).filter(|_| limiter.allow(5)).count();
        assert_eq!(allowed, LogLimiter::PER_SECOND as usize);
        assert!(limiter.allow(6));
    }
}
