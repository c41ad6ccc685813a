//! A shift handover: what happened over a period, read from the history
//! lines of that period and the alerts open now. What was raised, who was
//! told and when, who acknowledged after how long, what cleared, what is
//! still open, the notes; and per alert group the time to acknowledge and
//! to clear (median and 90th percentile, nearest rank).
//!
//! Pure: the caller reads the lines (`store::Store::history_page`) and the
//! open alerts (the index), and says which group an alert is in. Rendered
//! as text or Markdown by `render`, and as JSON by serde.

mod render;

use std::collections::HashMap;

use serde::Serialize;

use crate::alert::{AlertKey, Change, HistoryEntry, HistoryKind, UnixSecs};

pub use self::render::{markdown, rows, text, Rows};

/// The longest period one handover reads.
pub const MAX_PERIOD_S: u64 = 31 * 86_400;
/// The most history lines one handover reads (about 30 MiB held while it
/// is built); past them it says where it stopped.
pub const MAX_LINES: usize = 200_000;
/// The most open alerts listed (the rest are counted).
pub const MAX_OPEN: usize = 1_000;

/// An alert open now, as the index holds it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Open {
    pub source: String,
    pub id: String,
    pub group: String,
    pub summary: String,
    pub raised_at: Option<UnixSecs>,
    /// Who acknowledged it (None: raised and not acknowledged).
    pub acknowledged_by: Option<String>,
}

/// Someone told of an alert: a message delivered.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Told {
    pub at: UnixSecs,
    pub person: Option<String>,
    pub notifier: String,
}

/// An acknowledgement: who, when, and how long after the raise.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Acknowledged {
    pub at: UnixSecs,
    pub by: String,
    pub after_s: Option<u64>,
}

/// One alert's time open within the period: from its raise (None: it was
/// raised before the period) to its clear, if it cleared.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Story {
    pub source: String,
    pub id: String,
    pub group: String,
    pub raised_at: Option<UnixSecs>,
    /// Each person first told by each notifier (later messages, of the
    /// acknowledgement or the clear, are not listed).
    pub told: Vec<Told>,
    pub acknowledged: Option<Acknowledged>,
    pub cleared_at: Option<UnixSecs>,
    /// Forgotten (deleted) rather than cleared.
    pub forgotten: bool,
}

/// A note written on an alert.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Note {
    pub at: UnixSecs,
    pub source: String,
    pub id: String,
    pub by: Option<String>,
    pub text: String,
}

/// Median and 90th percentile of some spans, in seconds.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct Spread {
    pub count: usize,
    pub median_s: u64,
    pub p90_s: u64,
}

impl Spread {
    /// Nearest rank: the smallest value with at least that share of the
    /// values at or below it. None for no values.
    pub fn of(mut values: Vec<u64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = |share: usize| values[(values.len() * share).div_ceil(100).max(1) - 1];
        Some(Spread {
            count: values.len(),
            median_s: rank(50),
            p90_s: rank(90),
        })
    }
}

/// One alert group's figures over the alerts raised in the period.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GroupFigures {
    pub group: String,
    pub raised: usize,
    pub to_acknowledge: Option<Spread>,
    pub to_clear: Option<Spread>,
}

/// The handover.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Handover {
    pub since: UnixSecs,
    pub until: UnixSecs,
    /// Stories in order of their first line.
    pub stories: Vec<Story>,
    pub open: Vec<Open>,
    /// Open alerts past `MAX_OPEN`, not listed.
    pub open_not_listed: usize,
    pub notes: Vec<Note>,
    pub groups: Vec<GroupFigures>,
    /// Lines past `MAX_LINES` were not read: the report ends at this moment.
    pub stopped_at: Option<UnixSecs>,
}

/// Builds the handover of `[since, until)` from that period's history
/// lines (oldest first), the alerts open now, and the group of each alert.
pub fn build(
    (since, until): (UnixSecs, UnixSecs),
    lines: impl IntoIterator<Item = (AlertKey, HistoryEntry)>,
    (open, open_not_listed): (Vec<Open>, usize),
    group_of: impl Fn(&AlertKey) -> String,
    stopped_at: Option<UnixSecs>,
) -> Handover {
    let mut stories = Stories::default();
    let mut notes = Vec::new();
    for (key, line) in lines {
        if line.kind == HistoryKind::Note.as_str() {
            notes.push(Note {
                at: line.at,
                source: key.source,
                id: key.id,
                by: line.by,
                text: line.text,
            });
        } else {
            stories.take(key, &line, &group_of);
        }
    }
    let groups = figures(&stories.list);
    Handover {
        since,
        until,
        stories: stories.list,
        open,
        open_not_listed,
        notes,
        groups,
        stopped_at,
    }
}

/// The stories so far, and each alert's latest.
#[derive(Default)]
struct Stories {
    list: Vec<Story>,
    latest: HashMap<AlertKey, usize>,
}

impl Stories {
    /// Takes in one line of `key`'s: a change or a delivered message.
    fn take(&mut self, key: AlertKey, line: &HistoryEntry, group_of: impl Fn(&AlertKey) -> String) {
        let change = line.change();
        let delivered = line.kind == HistoryKind::Notification.as_str()
            && line.result.as_deref() == Some("delivered");
        if change.is_none() && !delivered {
            return;
        }
        let at = line.at;
        // A raise after a clear begins a new story; anything else belongs
        // to the latest (a message about a clear is delivered after it).
        let slot = match self.latest.get(&key) {
            Some(&slot)
                if change != Some(Change::Raised) || self.list[slot].cleared_at.is_none() =>
            {
                slot
            }
            _ => {
                self.list.push(Story {
                    group: group_of(&key),
                    source: key.source.clone(),
                    id: key.id.clone(),
                    raised_at: (change == Some(Change::Raised)).then_some(at),
                    told: Vec::new(),
                    acknowledged: None,
                    cleared_at: None,
                    forgotten: false,
                });
                self.latest.insert(key, self.list.len() - 1);
                self.list.len() - 1
            }
        };
        let story = &mut self.list[slot];
        match change {
            Some(Change::Acknowledged { by }) if story.acknowledged.is_none() => {
                story.acknowledged = Some(Acknowledged {
                    at,
                    by: by.to_owned(),
                    after_s: story.raised_at.map(|r| at.saturating_sub(r)),
                });
            }
            Some(Change::Cleared) | Some(Change::Forgotten) if story.cleared_at.is_none() => {
                story.cleared_at = Some(at);
                story.forgotten = change == Some(Change::Forgotten);
            }
            // Who was first told, each by each notifier.
            None => {
                let notifier = line.notifier.clone().unwrap_or_default();
                if !story
                    .told
                    .iter()
                    .any(|t| t.person == line.person && t.notifier == notifier)
                {
                    story.told.push(Told {
                        at,
                        person: line.person.clone(),
                        notifier,
                    });
                }
            }
            _ => {}
        }
    }
}

/// Per group, over the stories that began with a raise in the period.
fn figures(stories: &[Story]) -> Vec<GroupFigures> {
    let mut by_group: Vec<(String, Vec<&Story>)> = Vec::new();
    for story in stories.iter().filter(|s| s.raised_at.is_some()) {
        match by_group.iter_mut().find(|(g, _)| *g == story.group) {
            Some((_, list)) => list.push(story),
            None => by_group.push((story.group.clone(), vec![story])),
        }
    }
    by_group.sort_by(|a, b| a.0.cmp(&b.0));
    by_group
        .into_iter()
        .map(|(group, list)| GroupFigures {
            raised: list.len(),
            to_acknowledge: Spread::of(
                list.iter()
                    .filter_map(|s| s.acknowledged.as_ref()?.after_s)
                    .collect(),
            ),
            to_clear: Spread::of(
                list.iter()
                    .filter(|s| !s.forgotten)
                    .filter_map(|s| Some(s.cleared_at?.saturating_sub(s.raised_at?)))
                    .collect(),
            ),
            group,
        })
        .collect()
}

/// Reads a moment of a handover's period: Unix seconds, RFC 3339, a wall
/// time `HH:MM` in `zone` (the latest one not after `now`), or `-N[smhd]`
/// (that long before `now`).
pub fn moment(text: &str, now: UnixSecs, zone: &jiff::tz::TimeZone) -> Result<UnixSecs, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return crate::timespec::mauvesend(text, now);
    }
    if let Some((h, m)) = text
        .split_once(':')
        .filter(|(h, m)| h.len() <= 2 && m.len() == 2)
    {
        return wall_time(h, m, now, zone)
            .ok_or_else(|| format!("{text:?} is not a time of day (HH:MM)"));
    }
    crate::timefmt::moment(text).ok_or_else(|| {
            format!(
                "{text:?} is not a moment: HH:MM, -12h, Unix seconds or RFC 3339 (2026-12-07T18:00:00Z)"
            )
        })
}

/// The latest `h:m` in `zone` at or before `now`.
fn wall_time(h: &str, m: &str, now: UnixSecs, zone: &jiff::tz::TimeZone) -> Option<UnixSecs> {
    let (h, m) = (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?);
    let today = jiff::Timestamp::from_second(i64::try_from(now).ok()?)
        .ok()?
        .to_zoned_datetime(zone.clone())
        .date();
    let time = jiff::civil::Time::new(h, m, 0, 0).ok()?;
    [today, today.yesterday().ok()?]
        .into_iter()
        .filter_map(|day| day.to_datetime(time).to_zoned_datetime(zone.clone()).ok())
        .filter_map(|z| UnixSecs::try_from(z.timestamp().as_second()).ok())
        .find(|&t| t <= now)
}

#[cfg(test)]
mod tests;
