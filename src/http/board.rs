//! What the on-call page shows, built from the index alone (no HTTP, no
//! store): raised alerts ranked by level, importance and age, acknowledged, suppressed,
//! pending heartbeats due soon, recently cleared. Every alert is looked at by
//! its times alone; only the rows shown are read whole, so a million pending
//! heartbeats stay cheap.

use std::cmp::Reverse;

use serde::Serialize;

use crate::alert::{AlertKey, Level, Record, State, UnixSecs};
use crate::index::{Index, SlotId};
use crate::routing::Router;

/// Rows shown at most per section (the API pages through everything).
const MAX_ROWS: usize = 500;
/// Pending heartbeats shown when due within this.
const DUE_SOON_S: u64 = 15 * 60;
/// Cleared alerts shown when cleared within this.
const RECENT_S: u64 = 24 * 3600;

#[derive(Serialize)]
pub(super) struct Row {
    state: &'static str,
    source: String,
    id: String,
    subject: String,
    summary: String,
    when: String,
    by: Option<String>,
    importance: u32,
    /// The importance's band: `high`, `medium` or `low`.
    severity: &'static str,
    /// The source cut at its dots (shown with a line-break chance after
    /// each, so a long host name breaks there rather than mid-word).
    source_parts: Vec<String>,
    /// The alert's path part (`source/id`, each percent-encoded).
    #[serde(rename = "ref")]
    reference: String,
    link: String,
    /// A group heading shown above this row.
    group: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Section {
    pub(crate) title: &'static str,
    pub(crate) class: &'static str,
    pub(crate) when: &'static str,
    pub(crate) rows: Vec<Row>,
}

/// `source/id`, each part percent-encoded (a `/` in either becomes `%2F`).
pub(crate) fn reference(key: &AlertKey) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, crate::notify::payload::SEGMENT).to_string()
    };
    format!("{}/{}", enc(&key.source), enc(&key.id))
}

pub(crate) fn parse_reference(text: &str) -> Option<AlertKey> {
    let (source, id) = text.split_once('/')?;
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some(AlertKey::new(dec(source)?, dec(id)?))
}

pub(super) fn row(
    key: &AlertKey,
    r: &Record,
    when: Option<UnixSecs>,
    now: UnixSecs,
    state: &'static str,
) -> Row {
    Row {
        state,
        source: key.source.clone(),
        id: key.id.clone(),
        subject: r.subject.clone(),
        summary: r.summary.clone(),
        when: when
            .map(|t| crate::timefmt::human(t, now))
            .unwrap_or_default(),
        by: r.acknowledged_by.clone().filter(|_| r.is_acknowledged()),
        importance: r.importance,
        severity: severity(r.importance),
        source_parts: key.source.split('.').map(str::to_owned).collect(),
        reference: reference(key),
        link: format!("/alerts/{}", reference(key)),
        group: None,
    }
}

/// The slots of the first [`MAX_ROWS`] of `ranked`, in rank order, without
/// sorting the rest.
fn first_rows<K: Ord + Copy>(mut ranked: Vec<(K, SlotId)>) -> Vec<SlotId> {
    if ranked.len() > MAX_ROWS {
        ranked.select_nth_unstable(MAX_ROWS);
        ranked.truncate(MAX_ROWS);
    }
    ranked.sort_unstable();
    ranked.into_iter().map(|(_, slot)| slot).collect()
}

/// The page's sections and what its header counts.
pub(super) struct Board {
    pub(crate) sections: Vec<Section>,
    /// Raised alerts per level (when alerts are routed to people).
    pub(crate) levels: Vec<serde_json::Value>,
    pub(crate) urgent: usize,
}

/// The alerts the page shows, in their sections, before rows are ranked.
#[derive(Default)]
struct Picked {
    raised: Vec<(Level, UnixSecs, Row)>,
    acked: Vec<Row>,
    suppressed: Vec<Row>,
    /// Pending alerts due soon, by due time; cleared ones latest first.
    soonest: Vec<(UnixSecs, SlotId)>,
    latest: Vec<(Reverse<UnixSecs>, SlotId)>,
}

/// The board at `now`, of the alerts that match the filter `q` (any of
/// source, id, subject and summary contains it, ignoring case).
pub(super) fn build(index: &Index, router: &Router, q: &str, now: UnixSecs) -> Board {
    let mut picked = pick(index, router, q, now);
    let rows_of = |ranked: Vec<SlotId>, state, when: fn(&Record) -> Option<UnixSecs>| -> Vec<Row> {
        ranked
            .into_iter()
            .map(|slot| {
                let r = index.record(slot);
                row(&index.key(slot), &r, when(&r), now, state)
            })
            .collect()
    };
    let pending = rows_of(
        first_rows(std::mem::take(&mut picked.soonest)),
        "pending",
        |r| r.will_raise_at,
    );
    let cleared = rows_of(
        first_rows(std::mem::take(&mut picked.latest)),
        "cleared",
        |r| r.cleared_at,
    );
    // In (source, id) order within these sections.
    for rows in [&mut picked.acked, &mut picked.suppressed] {
        rows.sort_by(|a, b| (&a.source, &a.id).cmp(&(&b.source, &b.id)));
    }
    let (urgent, levels, raised_rows) = raised_section(picked.raised, router.routes());
    let trim = |mut rows: Vec<Row>| {
        rows.truncate(MAX_ROWS);
        rows
    };
    let section = |title, class, when, rows| Section {
        title,
        class,
        when,
        rows,
    };
    Board {
        sections: vec![
            section("raised", "raised", "raised", raised_rows),
            section("acknowledged", "acknowledged", "until", trim(picked.acked)),
            section("suppressed", "suppressed", "until", trim(picked.suppressed)),
            section("due soon", "pending", "due", trim(pending)),
            section(
                "cleared in the last day",
                "cleared",
                "cleared",
                trim(cleared),
            ),
        ],
        levels,
        urgent,
    }
}

/// Sorts every alert the page shows into its section.
fn pick(index: &Index, router: &Router, q: &str, now: UnixSecs) -> Picked {
    let needle = q.trim().to_lowercase();
    let wanted = |key: &AlertKey, r: &Record| {
        needle.is_empty()
            || [&key.source, &key.id, &r.subject, &r.summary]
                .iter()
                .any(|field| field.to_lowercase().contains(&needle))
    };
    let mut picked = Picked::default();
    for slot in index.ids() {
        let timing = index.timing(slot);
        let state = timing.state();
        let suppressed = timing.is_suppressed(now) && state != State::Cleared;
        let shown = suppressed
            || match state {
                State::Raised | State::Acknowledged => true,
                State::Pending => timing.will_raise_at.is_some_and(|t| t <= now + DUE_SOON_S),
                State::Cleared => timing.cleared_at.is_some_and(|t| t + RECENT_S >= now),
            };
        if !shown {
            continue;
        }
        if !needle.is_empty() && !wanted(&index.key(slot), &index.record(slot)) {
            continue;
        }
        // The many (heartbeats due soon, recently cleared) are ranked by
        // time first; only the rows shown are read whole.
        match (suppressed, state) {
            (false, State::Pending) => {
                picked
                    .soonest
                    .push((timing.will_raise_at.unwrap_or(0), slot));
                continue;
            }
            (false, State::Cleared) => {
                picked
                    .latest
                    .push((Reverse(timing.cleared_at.unwrap_or(0)), slot));
                continue;
            }
            _ => {}
        }
        let r = index.record(slot);
        let key = index.key(slot);
        if suppressed {
            picked
                .suppressed
                .push(row(&key, &r, r.suppress_until, now, "suppressed"));
            continue;
        }
        match state {
            State::Raised => {
                let level = router
                    .group(&key, &r)
                    .map_or(Level::Normal, |g| g.spec.level);
                picked.raised.push((
                    level,
                    r.raised_at.unwrap_or(0),
                    row(&key, &r, r.raised_at, now, "raised"),
                ));
            }
            State::Acknowledged => {
                picked
                    .acked
                    .push(row(&key, &r, r.will_unacknowledge_at, now, "acknowledged"))
            }
            State::Pending | State::Cleared => {}
        }
    }
    picked
}

/// Raised alerts ranked by what needs action first: level (when alert
/// groups route them), then importance, then how long they have been
/// raised (longest first), then source and id; a heading per level when
/// alerts are routed. Returns the urgent count, the count per level (when
/// alerts are routed) and the rows shown.
fn raised_section(
    mut raised: Vec<(Level, UnixSecs, Row)>,
    routes: bool,
) -> (usize, Vec<serde_json::Value>, Vec<Row>) {
    raised.sort_by(|(la, ta, a), (lb, tb, b)| {
        lb.cmp(la)
            .then_with(|| b.importance.cmp(&a.importance))
            .then_with(|| ta.cmp(tb))
            .then_with(|| (&a.source, &a.id).cmp(&(&b.source, &b.id)))
    });
    let levels = [Level::Urgent, Level::Normal, Level::Low]
        .into_iter()
        .map(|level| (level, raised.iter().filter(|(l, ..)| *l == level).count()))
        .filter(|&(_, count)| count > 0 && routes)
        .map(|(level, count)| serde_json::json!({ "level": level.as_str(), "count": count }))
        .collect();
    let urgent = raised.iter().filter(|(l, ..)| *l == Level::Urgent).count();
    let mut last: Option<Level> = None;
    let rows = raised
        .into_iter()
        .take(MAX_ROWS)
        .map(|(level, _, mut row)| {
            if routes && last != Some(level) {
                row.group = Some(level.as_str().to_owned());
                last = Some(level);
            }
            row
        })
        .collect();
    (urgent, levels, rows)
}

/// How an importance is shown: a mark of its band and the number.
fn severity(importance: u32) -> &'static str {
    match importance {
        80.. => "high",
        40..=79 => "medium",
        _ => "low",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(raise: Option<u64>, clear: Option<u64>, subject: &str) -> Record {
        Record {
            subject: subject.into(),
            summary: "disk full".into(),
            raised_at: raise.filter(|_| clear.is_none()),
            will_raise_at: raise.filter(|_| clear.is_some()),
            cleared_at: clear,
            ..Record::default()
        }
    }

    #[test]
    fn sections_hold_what_they_say_in_their_order() {
        let now = 1_700_000_000;
        let mut index = Index::new(100);
        let add = |index: &mut Index, source: &str, id: &str, r: Record| {
            index.insert(&AlertKey::new(source, id), &r, 0).unwrap();
        };
        add(
            &mut index,
            "web2",
            "disk",
            record(Some(now - 60), None, "b"),
        );
        add(
            &mut index,
            "web1",
            "disk",
            record(Some(now - 60), None, "a"),
        );
        add(
            &mut index,
            "db1",
            "hb",
            record(Some(now + 300), Some(now - 10), "db1"),
        );
        add(
            &mut index,
            "db2",
            "hb",
            record(Some(now + 100), Some(now - 10), "db2"),
        );
        add(
            &mut index,
            "db3",
            "hb",
            record(Some(now + 7200), Some(now - 10), "db3"),
        );
        let board = build(&index, &Router::default(), "", now);
        let ids = |i: usize| -> Vec<String> {
            board.sections[i]
                .rows
                .iter()
                .map(|r| format!("{}/{}", r.source, r.id))
                .collect()
        };
        assert_eq!(ids(0), ["web1/disk", "web2/disk"], "raised, then by key");
        assert_eq!(board.sections[0].rows[0].group, None, "no heading unrouted");
        assert_eq!(
            ids(3),
            ["db2/hb", "db1/hb"],
            "due soon, soonest first; not in two hours"
        );
        assert_eq!(index.counts(now).raised, 2);
        assert!(board.levels.is_empty(), "nothing routed");
        let found = build(&index, &Router::default(), "WEB2", now);
        assert_eq!(found.sections[0].rows.len(), 1, "the filter ignores case");
        assert_eq!(found.sections[3].rows.len(), 0);
    }

    #[test]
    fn raised_alerts_are_ranked_by_importance_then_age_whatever_their_subject() {
        let now = 1_700_000_000;
        let mut index = Index::new(100);
        for (source, subject, importance, ago) in [
            ("web1", "a-web", 50, 600),
            ("web2", "a-web", 50, 60),
            ("db1", "z-replication", 90, 30),
            ("mail1", "m-mail", 10, 9000),
        ] {
            let r = Record {
                importance,
                ..record(Some(now - ago), None, subject)
            };
            index.insert(&AlertKey::new(source, "x"), &r, 0).unwrap();
        }
        let board = build(&index, &Router::default(), "", now);
        let rows = &board.sections[0].rows;
        let order: Vec<&str> = rows.iter().map(|r| r.source.as_str()).collect();
        assert_eq!(order, ["db1", "web1", "web2", "mail1"]);
        let marks: Vec<&str> = rows.iter().map(|r| r.severity).collect();
        assert_eq!(marks, ["high", "medium", "medium", "low"]);
    }
}
