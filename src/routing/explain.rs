//! `mauved route`, `mauved oncall` and `GET /api/oncall`: what routing
//! would do, as text for people and JSON for programs.

use std::fmt::Write as _;

use super::rotation::local_instant;
use super::Router;
use crate::alert::{AlertKey, EventKind, Record, UnixSecs};
use crate::config::Config;
use crate::timefmt::{in_zone as show, span};

/// The alert `mauved route` asks about.
pub struct Alert {
    pub key: AlertKey,
    /// Default: the source.
    pub subject: Option<String>,
    pub summary: String,
    pub importance: u32,
    /// When it was raised (as `--at` reads it); default: at the event. A
    /// reminder routed an hour after the raise reaches the escalations due.
    pub raised_at: Option<String>,
    /// A running daemon's silences (`--url`): those active at the moment
    /// and matching the alert are named.
    pub silences: Vec<crate::alertmanager::silences::Silence>,
}

/// Reads a moment: Unix seconds, RFC 3339, or a local date-time in the
/// on-call time zone.
pub fn parse_at(text: &str, router: &Router) -> Result<UnixSecs, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return u64::try_from(ts.as_second()).map_err(|_| "before 1970".to_owned());
    }
    local_instant(text, &router.calendar.zone).ok_or_else(|| {
        format!("{text:?} is not Unix seconds, RFC 3339 or a local date-time (2026-12-24T22:00)")
    })
}

fn parse_event(text: &str) -> Result<EventKind, String> {
    [
        EventKind::Raised,
        EventKind::Cleared,
        EventKind::Acknowledged,
        EventKind::ReRaised,
        EventKind::Reminder,
    ]
    .into_iter()
    .find(|k| k.as_str() == text)
    .ok_or_else(|| {
        format!("--event {text:?}: one of raised, cleared, acknowledged, re-raised, reminder")
    })
}

/// `mauved route`: the group, level, clauses and recipients of an event.
pub fn route(
    router: &Router,
    config: &Config,
    alert: &Alert,
    event: &str,
    at: UnixSecs,
    json: bool,
) -> Result<String, String> {
    let event = parse_event(event)?;
    let raised_at = match &alert.raised_at {
        Some(text) => parse_at(text, router).map_err(|why| format!("--raised-at: {why}"))?,
        None => at,
    };
    let key = &alert.key;
    let record = Record {
        subject: alert.subject.clone().unwrap_or_else(|| key.source.clone()),
        summary: alert.summary.clone(),
        importance: alert.importance,
        raised_at: Some(raised_at),
        ..Record::default()
    };
    let all: Vec<&str> = config.notifiers.iter().map(|n| n.name()).collect();
    let explained = router.explain(key, &record, event, at);
    let registry = crate::alertmanager::silences::Silences::from_stored(alert.silences.clone());
    let labels = router.labels(key, &record);
    let muted: Vec<&crate::alertmanager::silences::Silence> =
        registry.muting(&labels, at).collect();
    if json {
        return Ok(as_json(explained.as_ref(), &all, &muted));
    }
    Ok(as_text(router, key, event, at, explained, &all, &muted))
}

/// [`route`]'s answer as JSON.
fn as_json(
    explained: Option<&super::Explanation>,
    all: &[&str],
    muted: &[&crate::alertmanager::silences::Silence],
) -> String {
    let muted_json: Vec<serde_json::Value> = muted
        .iter()
        .map(|s| serde_json::json!({"id": s.id, "comment": s.comment, "created_by": s.created_by, "until": s.ends_at}))
        .collect();
    let value = match explained {
        None => serde_json::json!({
            "group": null, "level": null, "clauses": [], "recipients": [],
            "every_notifier": all, "deferred_until": null, "silenced_by": muted_json,
        }),
        Some(e) => serde_json::json!({
            "group": e.group,
            "level": e.level,
            "clauses": e.clauses,
            "recipients": e.recipients.iter().map(|r| serde_json::json!({
                "person": r.person,
                "notifiers": r.notifiers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                "addresses": r.notifiers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            })).collect::<Vec<_>>(),
            "deferred_until": e.deferred_until,
            "silenced_by": muted_json,
        }),
    };
    format!("{value}\n")
}

/// [`route`]'s answer as text for a terminal.
fn as_text(
    router: &Router,
    key: &AlertKey,
    event: EventKind,
    at: UnixSecs,
    explained: Option<super::Explanation>,
    all: &[&str],
    muted: &[&crate::alertmanager::silences::Silence],
) -> String {
    let zone = &router.calendar.zone;
    let mut muted_text = String::new();
    for s in muted {
        let _ = writeln!(
            muted_text,
            "  muted by silence {}: {} (by {}), until {}: nobody is told before then",
            s.short_id(),
            s.comment,
            s.created_by,
            show(s.ends_at, zone)
        );
    }
    let Some(e) = explained else {
        return format!(
            "no [[alert_group]]: every notifier is told ({})\n{muted_text}",
            all.join(", ")
        );
    };
    let (Some(group), Some(level)) = (&e.group, e.level) else {
        return format!(
            "{key}: no alert group matches; nobody is told (end the file with a catch-all group)\n{muted_text}"
        );
    };
    let mut out = format!(
        "{key}: {} at {}: group {group:?}, level {}\n",
        event.as_str(),
        show(at, zone),
        level.as_str()
    );
    out.push_str(&muted_text);
    for (i, c) in e.clauses.iter().enumerate() {
        let _ = write!(
            out,
            "  notify[{i}] {}: during {:?} ({})",
            c.who.join(", "),
            c.during,
            if c.open { "open" } else { "closed" }
        );
        if c.unacknowledged_for > 0 {
            let _ = write!(
                out,
                ", once unacknowledged for {}",
                span(c.unacknowledged_for)
            );
        }
        if let Some(every) = c.every {
            let _ = write!(out, ", every {}", span(every));
        }
        out.push('\n');
    }
    if e.recipients.is_empty() {
        match e.deferred_until {
            Some(t) => {
                let _ = writeln!(out, "  nobody now: deferred until {}", show(t, zone));
            }
            None => {
                out.push_str("  nobody: no clause names anyone with a notifier at this level\n")
            }
        }
    }
    for r in &e.recipients {
        let via: Vec<String> = r
            .notifiers
            .iter()
            .map(|(n, a)| format!("{n} {a}"))
            .collect();
        let _ = writeln!(out, "  {}: {}", r.person, via.join(", "));
    }
    out
}

/// Each rotation's person at `at` and the next hand-over, as JSON.
pub(crate) fn oncall_json(router: &Router, at: UnixSecs) -> serde_json::Value {
    let zone = &router.calendar.zone;
    serde_json::json!({
        "at": at,
        "timezone": zone.iana_name().unwrap_or("UTC"),
        "rotations": router.oncall(at).into_iter().map(|(name, on)| serde_json::json!({
            "rotation": name,
            "person": on.person,
            "overridden": on.overridden,
            "until": on.until,
            "until_local": on.until.map(|t| show(t, zone)),
        })).collect::<Vec<_>>(),
    })
}

/// `mauved oncall`.
pub fn oncall(router: &Router, at: UnixSecs, json: bool) -> String {
    if json {
        return format!("{}\n", oncall_json(router, at));
    }
    let zone = &router.calendar.zone;
    let rotations = router.oncall(at);
    if rotations.is_empty() {
        return "no [rotation.*] is configured\n".into();
    }
    let mut out = format!("on call at {}:\n", show(at, zone));
    for (name, on) in rotations {
        let _ = write!(out, "  {name}: {}", on.person);
        if on.overridden {
            out.push_str(" (override)");
        }
        if let Some(until) = on.until {
            let _ = write!(out, " until {}", show(until, zone));
        }
        out.push('\n');
    }
    out
}
