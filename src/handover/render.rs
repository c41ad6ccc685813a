//! A handover as text for a terminal and as Markdown for a chat. Both say
//! the same things in the same order; times are in the station's zone.

use std::fmt::Write;

use jiff::tz::TimeZone;

use serde::Serialize;

use super::{Handover, Open, Spread, Story};
use crate::alert::UnixSecs;
use crate::timefmt::short;

/// `2026-12-07 18:04` in `zone`.
fn local(at: UnixSecs, zone: &TimeZone) -> String {
    i64::try_from(at)
        .ok()
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map(|t| {
            t.to_zoned_datetime(zone.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| at.to_string())
}

fn zone_name(zone: &TimeZone) -> &str {
    zone.iana_name().unwrap_or("UTC")
}

/// What became of one alert, in words: "told alice by sms at 18:04;
/// acknowledged by alice after 6m; cleared after 42m".
fn story_words(story: &Story, zone: &TimeZone) -> String {
    let mut parts = Vec::new();
    if !story.told.is_empty() {
        let told: Vec<String> = story
            .told
            .iter()
            .map(|t| {
                let who = t.person.as_deref().unwrap_or("everyone");
                format!("{who} by {} at {}", t.notifier, local(t.at, zone))
            })
            .collect();
        parts.push(format!("told {}", told.join(", ")));
    }
    match &story.acknowledged {
        Some(ack) => parts.push(match ack.after_s {
            Some(after) => format!("acknowledged by {} after {}", ack.by, short(after)),
            None => format!("acknowledged by {} at {}", ack.by, local(ack.at, zone)),
        }),
        None if story.raised_at.is_some() => parts.push("not acknowledged".to_owned()),
        None => {}
    }
    let ended = if story.forgotten {
        "forgotten"
    } else {
        "cleared"
    };
    parts.push(match (story.cleared_at, story.raised_at) {
        (Some(end), Some(raised)) => format!("{ended} after {}", short(end.saturating_sub(raised))),
        (Some(end), None) => format!("{ended} at {}", local(end, zone)),
        (None, _) => "not cleared in the period".to_owned(),
    });
    parts.join("; ")
}

fn raised_when(story: &Story, zone: &TimeZone) -> String {
    story
        .raised_at
        .map_or_else(|| "(earlier)".to_owned(), |t| local(t, zone))
}

fn open_words(open: &Open, zone: &TimeZone) -> String {
    let since = open
        .raised_at
        .map(|t| format!("raised {}", local(t, zone)))
        .unwrap_or_else(|| "raised".to_owned());
    let ack = open
        .acknowledged_by
        .as_deref()
        .map(|by| format!(", acknowledged by {by}"))
        .unwrap_or_default();
    format!("{since}{ack}")
}

fn spread(s: Option<Spread>) -> String {
    s.map_or_else(
        || "-".to_owned(),
        |s| format!("{} / {}", short(s.median_s), short(s.p90_s)),
    )
}

fn stopped(h: &Handover, zone: &TimeZone) -> Option<String> {
    h.stopped_at.map(|t| {
        format!(
            "The period holds more than {} history lines: this handover ends at {}.",
            super::MAX_LINES,
            local(t, zone)
        )
    })
}

/// For a terminal.
pub fn text(h: &Handover, zone: &TimeZone) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Handover {} to {} ({})",
        local(h.since, zone),
        local(h.until, zone),
        zone_name(zone)
    );
    if let Some(s) = stopped(h, zone) {
        let _ = writeln!(out, "{s}");
    }
    let _ = writeln!(out, "\nAlerts ({})", h.stories.len());
    for s in &h.stories {
        let _ = writeln!(
            out,
            "  {} {}/{} [{}]: {}",
            raised_when(s, zone),
            s.source,
            s.id,
            s.group,
            story_words(s, zone)
        );
    }
    let _ = writeln!(out, "\nStill open ({})", h.open.len() + h.open_not_listed);
    for o in &h.open {
        let _ = writeln!(
            out,
            "  {}/{} [{}]: {}: {}",
            o.source,
            o.id,
            o.group,
            open_words(o, zone),
            o.summary
        );
    }
    if h.open_not_listed > 0 {
        let _ = writeln!(out, "  and {} more", h.open_not_listed);
    }
    let _ = writeln!(out, "\nNotes ({})", h.notes.len());
    for n in &h.notes {
        let by = n.by.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "  {} {}/{} {by}: {}",
            local(n.at, zone),
            n.source,
            n.id,
            n.text
        );
    }
    let _ = writeln!(
        out,
        "\nPer group, alerts raised in the period (median / 90th percentile)"
    );
    let _ = writeln!(
        out,
        "  {:<20} {:>6}  {:<17} {:<17}",
        "group", "raised", "to acknowledge", "to clear"
    );
    for g in &h.groups {
        let _ = writeln!(
            out,
            "  {:<20} {:>6}  {:<17} {:<17}",
            g.group,
            g.raised,
            spread(g.to_acknowledge),
            spread(g.to_clear)
        );
    }
    out
}

/// Escapes what Markdown would read as markup in text from outside.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#'
        ) {
            out.push('\\');
        }
        out.push(if c == '\n' { ' ' } else { c });
    }
    out
}

/// For a chat: headings, lists and a table.
pub fn markdown(h: &Handover, zone: &TimeZone) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Handover {} to {} ({})\n",
        local(h.since, zone),
        local(h.until, zone),
        zone_name(zone)
    );
    if let Some(s) = stopped(h, zone) {
        let _ = writeln!(out, "*{s}*\n");
    }
    let _ = writeln!(out, "### Alerts ({})\n", h.stories.len());
    for s in &h.stories {
        let _ = writeln!(
            out,
            "- {} **{}/{}** ({}): {}",
            raised_when(s, zone),
            md(&s.source),
            md(&s.id),
            md(&s.group),
            md(&story_words(s, zone))
        );
    }
    let _ = writeln!(
        out,
        "\n### Still open ({})\n",
        h.open.len() + h.open_not_listed
    );
    for o in &h.open {
        let _ = writeln!(
            out,
            "- **{}/{}** ({}): {}: {}",
            md(&o.source),
            md(&o.id),
            md(&o.group),
            md(&open_words(o, zone)),
            md(&o.summary)
        );
    }
    if h.open_not_listed > 0 {
        let _ = writeln!(out, "- and {} more", h.open_not_listed);
    }
    let _ = writeln!(out, "\n### Notes ({})\n", h.notes.len());
    for n in &h.notes {
        let by = n.by.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "- {} **{}/{}** {}: {}",
            local(n.at, zone),
            md(&n.source),
            md(&n.id),
            md(by),
            md(&n.text)
        );
    }
    let _ = writeln!(
        out,
        "\n### Per group, alerts raised in the period\n\n| group | raised | to acknowledge (median / p90) | to clear (median / p90) |\n|---|---:|---|---|"
    );
    for g in &h.groups {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            md(&g.group),
            g.raised,
            spread(g.to_acknowledge),
            spread(g.to_clear)
        );
    }
    out
}

/// A handover as a page shows it: each row's words made here, as the text
/// says them.
#[derive(Serialize)]
pub struct Rows {
    pub title: String,
    pub stopped: Option<String>,
    pub alerts: Vec<AlertRow>,
    pub open: Vec<AlertRow>,
    pub open_total: usize,
    pub notes: Vec<AlertRow>,
    pub groups: Vec<GroupRow>,
}

/// One alert, story, open alert or note: when, which, its group, words.
#[derive(Serialize)]
pub struct AlertRow {
    pub when: String,
    pub alert: String,
    pub group: String,
    pub words: String,
}

#[derive(Serialize)]
pub struct GroupRow {
    pub group: String,
    pub raised: usize,
    pub to_acknowledge: String,
    pub to_clear: String,
}

/// The rows of a page.
pub fn rows(h: &Handover, zone: &TimeZone) -> Rows {
    Rows {
        title: format!(
            "{} to {} ({})",
            local(h.since, zone),
            local(h.until, zone),
            zone_name(zone)
        ),
        stopped: stopped(h, zone),
        alerts: h
            .stories
            .iter()
            .map(|s| AlertRow {
                when: raised_when(s, zone),
                alert: format!("{}/{}", s.source, s.id),
                group: s.group.clone(),
                words: story_words(s, zone),
            })
            .collect(),
        open: h
            .open
            .iter()
            .map(|o| AlertRow {
                when: open_words(o, zone),
                alert: format!("{}/{}", o.source, o.id),
                group: o.group.clone(),
                words: o.summary.clone(),
            })
            .collect(),
        open_total: h.open.len() + h.open_not_listed,
        notes: h
            .notes
            .iter()
            .map(|n| AlertRow {
                when: local(n.at, zone),
                alert: format!("{}/{}", n.source, n.id),
                group: n.by.clone().unwrap_or_default(),
                words: n.text.clone(),
            })
            .collect(),
        groups: h
            .groups
            .iter()
            .map(|g| GroupRow {
                group: g.group.clone(),
                raised: g.raised,
                to_acknowledge: spread(g.to_acknowledge),
                to_clear: spread(g.to_clear),
            })
            .collect(),
    }
}
