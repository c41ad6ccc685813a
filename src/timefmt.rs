//! Every way a time or a duration is written for people and programs, in
//! one place: configuration-style spans (`1h30m`), short ones (`3m`), "ago"
//! phrases, RFC 3339 in UTC or in the on-call zone, and the page's form.

use std::fmt::Write as _;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::alert::UnixSecs;

fn timestamp(at: UnixSecs) -> Option<Timestamp> {
    i64::try_from(at)
        .ok()
        .and_then(|t| Timestamp::from_second(t).ok())
}

/// A duration as the configuration writes it: `1h30m`, `15m`, `45s`.
pub(crate) fn span(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        if rest >= size {
            let _ = write!(out, "{}{unit}", rest / size);
            rest %= size;
        }
    }
    out
}

/// A duration in at most two units, for a glance: `45s`, `3m`, `2h05m`, `1d1h`.
pub(crate) fn short(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// "just now", "5 min ago", "3 h ago", "2 days ago".
pub(crate) fn ago(then: UnixSecs, now: UnixSecs) -> String {
    let s = now.saturating_sub(then);
    match s {
        0..60 => "just now".into(),
        60..7_200 => format!("{} min ago", s / 60),
        7_200..172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// RFC 3339 in UTC (`2023-11-14T22:13:20Z`), for programs and mail headers.
pub(crate) fn rfc3339(at: UnixSecs) -> String {
    timestamp(at).map(|t| t.to_string()).unwrap_or_default()
}

/// RFC 3339 in `zone` (`2026-11-30T09:00:00+00:00`), for people on call.
pub(crate) fn in_zone(at: UnixSecs, zone: &TimeZone) -> String {
    timestamp(at)
        .map(|ts| {
            ts.to_zoned_datetime(zone.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_default()
}

/// `2026-11-25 18:04:05 UTC`, as the page's header shows the time.
pub(crate) fn utc(at: UnixSecs) -> String {
    timestamp(at)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| at.to_string())
}

/// "2026-11-25 18:04:05 UTC (3m ago)" or "(in 5m)": for the page.
pub(crate) fn human(t: UnixSecs, now: UnixSecs) -> String {
    let relative = if t >= now {
        format!("in {}", short(t - now))
    } else {
        format!("{} ago", short(now - t))
    };
    format!("{} ({relative})", utc(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_they_are_written() {
        assert_eq!(span(900), "15m");
        assert_eq!(span(5_400), "1h30m");
        assert_eq!(span(604_800), "1w");
        assert_eq!(span(45), "45s");
    }

    #[test]
    fn times_for_people() {
        assert_eq!(human(0, 0), "1970-01-01 00:00:00 UTC (in 0s)");
        assert_eq!(
            human(1_700_000_000, 1_700_000_180),
            "2023-11-14 22:13:20 UTC (3m ago)"
        );
        assert_eq!(short(90_000), "1d1h");
        assert_eq!(ago(100, 100 + 3 * 3600), "3 h ago");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            in_zone(1_700_000_000, &TimeZone::get("Europe/London").unwrap()),
            "2023-11-14T22:13:20+00:00"
        );
    }
}
