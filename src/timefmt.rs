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

/// A moment as the API and the command line take it: Unix seconds or
/// RFC 3339 (an offset's `+` typed unencoded in a URL arrives as a space,
/// and is read as a `+`). None: neither, or before 1970.
pub fn moment(text: &str) -> Option<UnixSecs> {
    if let Ok(secs) = text.parse::<UnixSecs>() {
        return Some(secs);
    }
    if let Ok(at) = parse_rfc3339(text) {
        return at;
    }
    let (before, offset) = text.rsplit_once(' ')?;
    parse_rfc3339(&format!("{before}+{offset}")).ok().flatten()
}

/// An RFC 3339 time read: seconds since 1970 (None before 1970: Go's zero
/// time means "not set"), or why it is not one. The whole grammar and no
/// more (an offset is at most ±23:59), and the whole range of years
/// (`9999-12-31T23:59:59Z` is a time; whether it is too far away is for
/// the caller to say).
pub(crate) fn parse_rfc3339(text: &str) -> Result<Option<UnixSecs>, &'static str> {
    const NOT: &str = "not an RFC 3339 time";
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Result<i32, &'static str> {
        let part = b.get(range).ok_or(NOT)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(NOT);
        }
        Ok(part.iter().fold(0, |n, d| n * 10 + i32::from(d - b'0')))
    };
    let sep = |at: usize, allowed: &[u8]| -> Result<(), &'static str> {
        b.get(at)
            .filter(|c| allowed.contains(c))
            .map(|_| ())
            .ok_or(NOT)
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    sep(4, b"-")?;
    sep(7, b"-")?;
    sep(10, b"Tt ")?;
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    sep(13, b":")?;
    sep(16, b":")?;
    let mut at = 19;
    if b.get(at) == Some(&b'.') {
        let fraction = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if fraction == 0 {
            return Err(NOT);
        }
        at += 1 + fraction;
    }
    let offset_s: i64 = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() => {
            sep(at + 3, b":")?;
            let (h, m) = (digits(at + 1..at + 3)?, digits(at + 4..at + 6)?);
            if h > 23 || m > 59 {
                return Err("not an RFC 3339 time (an offset is at most ±23:59)");
            }
            let s = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return Err(NOT),
    };
    // A leap second is read as the second before it.
    let civil = jiff::civil::DateTime::new(
        i16::try_from(year).map_err(|_| NOT)?,
        i8::try_from(month).map_err(|_| NOT)?,
        i8::try_from(day).map_err(|_| NOT)?,
        i8::try_from(hour).map_err(|_| NOT)?,
        i8::try_from(minute).map_err(|_| NOT)?,
        i8::try_from(second.min(59)).map_err(|_| NOT)?,
        0,
    )
    .map_err(|_| NOT)?;
    let since_1970 = civil
        .duration_since(jiff::civil::DateTime::constant(1970, 1, 1, 0, 0, 0, 0))
        .as_secs()
        - offset_s;
    Ok(u64::try_from(since_1970).ok())
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
    fn rfc3339_is_read_whole_and_no_more() {
        assert_eq!(
            moment("2023-11-14T23:13:20 01:00"),
            Some(1_700_000_000),
            "an offset's + arrived as a space"
        );
        assert_eq!(moment("1700000000"), Some(1_700_000_000));
        assert_eq!(moment("2023-11-14 22:13:20Z"), Some(1_700_000_000));
        for bad in [
            "",
            "yesterday",
            "1969-12-31T23:59:59Z",
            "2023-11-14T22:13:20 99:00",
        ] {
            assert_eq!(moment(bad), None, "{bad}");
        }
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Ok(Some(1_700_000_000))
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.123+01:00"),
            Ok(Some(1_700_000_000))
        );
        assert_eq!(
            parse_rfc3339("2023-11-14t21:13:20-01:00"),
            Ok(Some(1_700_000_000))
        );
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59Z"),
            Ok(Some(253_402_300_799))
        );
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z"),
            Ok(None),
            "Go's zero time"
        );
        assert!(parse_rfc3339("2023-11-14T22:13:20+25:59")
            .unwrap_err()
            .contains("23:59"));
        for bad in [
            "yesterday",
            "2023-11-14",
            "2023-11-14T22:13Z",
            "2023-02-30T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20Z ",
            "2023-11-14T22:13:20+0100",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
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
