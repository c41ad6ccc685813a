//! `mauved-load history`: target 9, a page of history in a store of many
//! lines against the same page in a store of few, and pruning a day of it.
//!
//! The store is filled through its own write path (`Store::write`, the
//! writer's batches of 1,000 lines) over 30 simulated days, 10,000 hosts
//! raising and clearing in turn; no daemon runs, so the figures are the
//! store's alone.

use std::time::{Duration, Instant};

use mauved::alert::{AlertKey, HistoryEntry, HistoryKind};
use mauved::store::{Batch, HistoryCursor, HistoryWanted, Store};

use super::targets::line;

const DAYS: u64 = 30;
const DAY: u64 = 86_400;
const HOSTS: u64 = 10_000;
const PER_WRITE: u64 = 1_000;
/// The first simulated second.
const START: u64 = 1_780_000_000;
const LIMIT: usize = 100;

/// The store being filled, and how far.
struct Filling {
    store: Store,
    written: u64,
    total: u64,
}

impl Filling {
    /// A store in `dir` to be filled with `total` lines.
    fn new(dir: &std::path::Path, total: u64) -> Result<Filling, String> {
        Ok(Filling {
            store: Store::open(dir, 256 << 20, Default::default()).map_err(|e| e.to_string())?,
            written: 0,
            total,
        })
    }

    /// When the write that starts at line `n` happens: `total` lines
    /// spread evenly over `DAYS`.
    fn time_of(&self, n: u64) -> u64 {
        START + n * (DAYS * DAY) / self.total
    }

    /// Writes lines until `upto` are written.
    fn fill(&mut self, upto: u64) -> Result<(), String> {
        while self.written < upto {
            let at = self.time_of(self.written);
            let history = (self.written..self.written + PER_WRITE)
                .map(|n| {
                    let host = n % HOSTS;
                    let raised = (n / HOSTS).is_multiple_of(2);
                    let text = if raised {
                        format!("RAISED load average 12.{} on host{host}", n % 10)
                    } else {
                        "CLEARED".to_owned()
                    };
                    let key = AlertKey::new(format!("host{host}"), "load");
                    (key, HistoryEntry::new(at, HistoryKind::Update, text))
                })
                .collect();
            self.store
                .write(&Batch::of_history(history))
                .map_err(|e| e.to_string())?;
            self.written += PER_WRITE;
        }
        self.store.flush().map_err(|e| e.to_string())
    }

    /// The slowest of three page shapes (oldest first, from the middle of
    /// what is written, and the page after that), each the median of 21.
    fn page_time(&self) -> Result<Duration, String> {
        let middle = self.time_of(self.written / 2);
        let page = |since: u64, from: Option<HistoryCursor>| {
            let wanted = HistoryWanted {
                since,
                until: None,
                keep: |_: &AlertKey, _: &HistoryEntry| true,
            };
            let started = Instant::now();
            let (lines, next) = self
                .store
                .history_page(wanted, from, LIMIT)
                .map_err(|e| e.to_string())?;
            if lines.len() != LIMIT {
                return Err(format!("a page held {} lines, not {LIMIT}", lines.len()));
            }
            Ok::<_, String>((started.elapsed(), next))
        };
        let (_, after_middle) = page(middle, None)?;
        let mut slowest = Duration::ZERO;
        for shape in 0..3 {
            let mut times = (0..21)
                .map(|_| match shape {
                    0 => page(0, None),
                    1 => page(middle, None),
                    _ => page(middle, after_middle),
                })
                .map(|r| r.map(|(t, _)| t))
                .collect::<Result<Vec<_>, _>>()?;
            times.sort();
            slowest = slowest.max(times[times.len() / 2]);
        }
        Ok(slowest)
    }
}

/// Target 9: a page at `lines` lines (10,000,000 in the table) within 2x
/// of the same page in a store of 100,000 (both over 30 days, measured in
/// turn, five rounds: the median ratio), and at most 20 ms; then pruning
/// the oldest day of the large store.
pub(super) fn target(lines: u64) -> Result<(), String> {
    let (dir_few, dir_many) = (
        crate::scratch::ScratchDir::new()?,
        crate::scratch::ScratchDir::new()?,
    );
    let lines = lines.max(200_000).div_ceil(PER_WRITE) * PER_WRITE;
    let mut few = Filling::new(dir_few.path(), 100_000)?;
    let mut many = Filling::new(dir_many.path(), lines)?;
    few.fill(few.total)?;
    let started = Instant::now();
    many.fill(lines)?;
    let fill_s = started.elapsed().as_secs_f64();
    println!(
        "history: {lines} lines written in {fill_s:.0} s ({:.0} lines/s)",
        lines as f64 / fill_s.max(1e-6)
    );
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let (f, m) = (few.page_time()?, many.page_time()?);
        rounds.push((m.as_secs_f64() / f.as_secs_f64().max(1e-9), f, m));
    }
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ratio, few_t, many_t) = rounds[rounds.len() / 2];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    line(
        &format!(
            "9a history page at {:.1}M lines vs at 0.1M",
            lines as f64 / 1e6
        ),
        format!("{ratio:.2}x ({:.2} ms vs {:.2} ms)", ms(many_t), ms(few_t)),
        "<= 2x and <= 20 ms",
        ratio <= 2.0 && ms(many_t) <= 20.0,
    );
    let started = Instant::now();
    let pruned = many
        .store
        .prune_history(START + DAY)
        .map_err(|e| e.to_string())?;
    let prune = started.elapsed();
    line(
        "9b pruning the oldest of 30 days of history",
        format!("{:.2} s ({pruned} values)", prune.as_secs_f64()),
        "<= 10 s",
        prune.as_secs_f64() <= 10.0,
    );
    Ok(())
}
