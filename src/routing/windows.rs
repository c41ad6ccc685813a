//! Windows: when a notify clause may tell people (`during`). A window is
//! days of the week and hours of the day in the on-call time zone, maybe
//! skipping holidays, or the opposite of another window.
//!
//! Open or not is decided on local wall-clock time, so a window follows
//! daylight saving. The next opening is found minute by minute (windows
//! change only on whole minutes), up to a fortnight ahead.

use std::collections::BTreeMap;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::alert::UnixSecs;
use crate::config::WindowSpec;

/// How far ahead [`Window::next_open`] looks.
pub(crate) const LOOK_AHEAD_S: u64 = 14 * 86_400;

/// A compiled window.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Window {
    Open(Days),
    Not(Box<Window>),
    All(Vec<Window>),
    Any(Vec<Window>),
}

/// Days of the week and minutes of the day.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Days {
    /// Monday first.
    weekdays: [bool; 7],
    /// Minutes after local midnight: open from the first to the second;
    /// when the second is smaller the range wraps past midnight.
    minutes: Option<(u16, u16)>,
    except_holidays: bool,
}

/// Where a window is evaluated: the zone and the holidays.
#[derive(Clone, Debug)]
pub(crate) struct Calendar {
    pub(crate) zone: TimeZone,
    pub(crate) holidays: Vec<Date>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            zone: TimeZone::UTC,
            holidays: Vec::new(),
        }
    }
}

impl Calendar {
    pub(crate) fn local(&self, at: UnixSecs) -> jiff::civil::DateTime {
        let ts = Timestamp::from_second(at as i64).unwrap_or(Timestamp::UNIX_EPOCH);
        ts.to_zoned_datetime(self.zone.clone()).datetime()
    }
}

fn weekday_index(name: &str) -> Option<usize> {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let name = name.trim().to_ascii_lowercase();
    days.iter()
        .position(|d| name.starts_with(d) && name.len() >= 3)
}

fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let bad = || format!("{text:?} is not a list of days such as \"mon-fri\" or \"sat,sun\"");
    let mut days = [false; 7];
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (
                    weekday_index(a).ok_or_else(bad)?,
                    weekday_index(b).ok_or_else(bad)?,
                );
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[weekday_index(part).ok_or_else(bad)?] = true,
        }
    }
    Ok(days)
}

fn parse_minute(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    // 24:00 is the end of the day.
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

fn parse_hours(text: &str) -> Result<(u16, u16), String> {
    let bad =
        || format!("{text:?} is not a range of hours such as \"09:30-17:30\" or \"22:00-08:00\"");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        parse_minute(a).ok_or_else(bad)?,
        parse_minute(b).ok_or_else(bad)?,
    );
    if a == b {
        return Err(format!("{text:?} is empty: use no `hours` for all day"));
    }
    Ok((a, b))
}

impl Days {
    /// Reads a spec without `not`; the error names the field.
    pub(crate) fn parse_spec(spec: &WindowSpec) -> Result<Days, (&'static str, String)> {
        let weekdays = match &spec.days {
            Some(days) => parse_days(days).map_err(|why| ("days", why))?,
            None => [true; 7],
        };
        let minutes = match &spec.hours {
            Some(hours) => Some(parse_hours(hours).map_err(|why| ("hours", why))?),
            None => None,
        };
        Ok(Days {
            weekdays,
            minutes,
            except_holidays: spec.except_holidays,
        })
    }

    fn holds(&self, local: jiff::civil::DateTime, calendar: &Calendar) -> bool {
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        // A range that wraps belongs to the day it started on.
        let (day, in_hours) = match self.minutes {
            None => (local.date(), true),
            Some((from, to)) if from < to => (local.date(), from <= minute && minute < to),
            Some((from, _)) if minute >= from => (local.date(), true),
            Some((_, to)) if minute < to => {
                (local.date().yesterday().unwrap_or(local.date()), true)
            }
            Some(_) => (local.date(), false),
        };
        in_hours
            && self.weekdays[weekday_number(day.weekday())]
            && !(self.except_holidays && calendar.holidays.contains(&day))
    }
}

fn weekday_number(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

/// Compiles the window `name` from all the specs (following `not`, `all`
/// and `any`).
pub(crate) fn compile(specs: &BTreeMap<String, WindowSpec>, name: &str) -> Result<Window, String> {
    fn walk(
        specs: &BTreeMap<String, WindowSpec>,
        name: &str,
        seen: &[&str],
    ) -> Result<Window, String> {
        if seen.contains(&name) {
            let path: Vec<&str> = seen.iter().copied().chain([name]).collect();
            return Err(format!("windows refer to each other: {}", path.join(" → ")));
        }
        if seen.len() > 32 {
            return Err("windows refer to windows more than 32 deep".into());
        }
        let spec = specs
            .get(name)
            .ok_or_else(|| format!("{name:?} is not a window"))?;
        let seen: Vec<&str> = seen.iter().copied().chain([name]).collect();
        let each = |names: &[String]| {
            names
                .iter()
                .map(|n| walk(specs, n, &seen))
                .collect::<Result<Vec<_>, _>>()
        };
        match (&spec.not, spec.all.is_empty(), spec.any.is_empty()) {
            (Some(other), true, true) => Ok(Window::Not(Box::new(walk(specs, other, &seen)?))),
            (None, false, true) => Ok(Window::All(each(&spec.all)?)),
            (None, true, false) => Ok(Window::Any(each(&spec.any)?)),
            (None, true, true) => Days::parse_spec(spec)
                .map(Window::Open)
                .map_err(|(_, why)| why),
            _ => Err("takes one of `not`, `all` and `any`".into()),
        }
    }
    // A window is a tree of the windows it names: counted first, each name
    // once (memoized), so that `any = [w1, w1]` at every level is refused
    // rather than built two to the power of its depth times.
    fn nodes<'s>(
        specs: &'s BTreeMap<String, WindowSpec>,
        name: &'s str,
        memo: &mut BTreeMap<&'s str, usize>,
        depth: usize,
    ) -> usize {
        if let Some(n) = memo.get(name) {
            return *n;
        }
        // Loops and depth are said by `walk`: here they only stop the count.
        if depth > 33 {
            return 1;
        }
        let Some(spec) = specs.get(name) else {
            return 1;
        };
        // Counted as one while it is being counted: a loop ends here.
        memo.insert(name, 1);
        let mut n: usize = 1;
        for child in spec.not.iter().chain(&spec.all).chain(&spec.any) {
            n = n.saturating_add(nodes(specs, child, memo, depth + 1));
        }
        memo.insert(name, n);
        n
    }
    let count = nodes(specs, name, &mut BTreeMap::new(), 0);
    if count > MAX_WINDOW_NODES {
        return Err(format!(
            "names windows that name windows {count} times over (at most {MAX_WINDOW_NODES})"
        ));
    }
    walk(specs, name, &[])
}

/// The most windows one window may stand for, counting each use.
const MAX_WINDOW_NODES: usize = 1000;

impl Window {
    pub(crate) fn always() -> Window {
        Window::Open(Days {
            weekdays: [true; 7],
            minutes: None,
            except_holidays: false,
        })
    }

    pub(crate) fn is_open(&self, at: UnixSecs, calendar: &Calendar) -> bool {
        self.holds(calendar.local(at), calendar)
    }

    fn holds(&self, local: jiff::civil::DateTime, calendar: &Calendar) -> bool {
        match self {
            Window::Open(days) => days.holds(local, calendar),
            Window::Not(inner) => !inner.holds(local, calendar),
            Window::All(each) => each.iter().all(|w| w.holds(local, calendar)),
            Window::Any(each) => each.iter().any(|w| w.holds(local, calendar)),
        }
    }

    /// The first moment at or after `at` when the window is open, within
    /// [`LOOK_AHEAD_S`].
    pub(crate) fn next_open(&self, at: UnixSecs, calendar: &Calendar) -> Option<UnixSecs> {
        if self.is_open(at, calendar) {
            return Some(at);
        }
        let mut t = at - at % 60 + 60;
        while t <= at + LOOK_AHEAD_S {
            if self.is_open(t, calendar) {
                return Some(t);
            }
            t += 60;
        }
        None
    }
}

impl Window {
    /// The moment `secs` of open time after `from`: mauve's "N working
    /// hours" (open time counted minute by minute; None if it takes more
    /// than a year).
    pub(crate) fn after_open_time(
        &self,
        from: UnixSecs,
        secs: u64,
        calendar: &Calendar,
    ) -> Option<UnixSecs> {
        let mut left = secs;
        let mut t = from;
        let limit = from + 366 * 86_400;
        while left > 0 {
            if t > limit {
                return None;
            }
            // Up to the next whole minute (windows change on whole minutes).
            let step = (60 - t % 60).min(left);
            if self.is_open(t, calendar) {
                left -= step;
                t += step;
            } else {
                // Jump to the next opening.
                t = self.next_open(t, calendar).unwrap_or(t + LOOK_AHEAD_S);
            }
        }
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> Calendar {
        Calendar {
            zone: TimeZone::get("Europe/London").unwrap(),
            holidays: vec!["2026-12-25".parse().unwrap()],
        }
    }

    fn at(local: &str, calendar: &Calendar) -> UnixSecs {
        let dt: jiff::civil::DateTime = local.parse().unwrap();
        dt.to_zoned_datetime(calendar.zone.clone())
            .unwrap()
            .timestamp()
            .as_second() as u64
    }

    fn window(name: &str) -> Window {
        let mut specs = crate::config::built_in_windows();
        specs.insert(
            "nights".into(),
            WindowSpec {
                hours: Some("22:00-08:00".into()),
                ..WindowSpec::default()
            },
        );
        specs.insert(
            "off_hours".into(),
            WindowSpec {
                not: Some("working".into()),
                ..WindowSpec::default()
            },
        );
        compile(&specs, name).unwrap()
    }

    #[test]
    fn working_hours_are_weekdays_half_past_nine_to_half_past_five_but_not_holidays() {
        let c = london();
        let working = window("working");
        // Thursday 2026-12-24.
        assert!(!working.is_open(at("2026-12-24T09:29", &c), &c));
        assert!(working.is_open(at("2026-12-24T09:30", &c), &c));
        assert!(working.is_open(at("2026-12-24T17:29", &c), &c));
        assert!(!working.is_open(at("2026-12-24T17:30", &c), &c));
        // Christmas is a holiday, the 26th a Saturday: next opening Monday.
        assert!(!working.is_open(at("2026-12-25T10:00", &c), &c));
        assert_eq!(
            working.next_open(at("2026-12-24T18:00", &c), &c),
            Some(at("2026-12-28T09:30", &c))
        );
        assert!(window("off_hours").is_open(at("2026-12-25T10:00", &c), &c));
    }

    #[test]
    fn a_range_past_midnight_belongs_to_the_day_it_starts() {
        let c = london();
        let mut specs = crate::config::built_in_windows();
        specs.insert(
            "friday_nights".into(),
            WindowSpec {
                days: Some("fri".into()),
                hours: Some("22:00-08:00".into()),
                ..WindowSpec::default()
            },
        );
        let w = compile(&specs, "friday_nights").unwrap();
        // 2026-11-27 is a Friday.
        assert!(w.is_open(at("2026-11-27T23:00", &c), &c));
        assert!(w.is_open(at("2026-11-28T07:59", &c), &c));
        assert!(!w.is_open(at("2026-11-28T08:00", &c), &c));
        assert!(!w.is_open(at("2026-11-28T23:00", &c), &c));
        assert!(!w.is_open(at("2026-11-27T07:00", &c), &c));
        assert!(window("nights").is_open(at("2026-11-28T03:00", &c), &c));
    }

    #[test]
    fn windows_follow_local_time_across_daylight_saving() {
        let c = london();
        let working = window("working");
        // Summer time: 09:30 local is 08:30 UTC.
        let summer = at("2026-07-01T09:30", &c);
        assert_eq!(summer % 86_400, 8 * 3600 + 1800);
        assert!(working.is_open(summer, &c));
        assert!(!working.is_open(summer - 60, &c));
        // Winter: 09:30 local is 09:30 UTC.
        let winter = at("2026-12-01T09:30", &c);
        assert_eq!(winter % 86_400, 9 * 3600 + 1800);
        assert!(working.is_open(winter, &c));
        // Closed on Friday 2026-10-23 evening, opens Monday 26th at 09:30
        // local, after the clocks went back on Sunday 25th.
        assert_eq!(
            working.next_open(at("2026-10-23T18:00", &c), &c),
            Some(at("2026-10-26T09:30", &c))
        );
    }

    #[test]
    fn working_hours_count_only_open_time() {
        let c = london();
        let working = window("working");
        // Friday 17:00 + 2 working hours = Monday 11:00.
        assert_eq!(
            working.after_open_time(at("2026-11-27T17:00", &c), 2 * 3600, &c),
            Some(at("2026-11-30T11:00", &c))
        );
        // From outside the window: counting starts at the opening.
        assert_eq!(
            working.after_open_time(at("2026-11-28T12:00", &c), 3600, &c),
            Some(at("2026-11-30T10:30", &c))
        );
        // Over Christmas (a holiday on Friday the 25th).
        assert_eq!(
            working.after_open_time(at("2026-12-24T17:00", &c), 3600, &c),
            Some(at("2026-12-28T10:00", &c))
        );
    }

    #[test]
    fn all_and_any_combine_windows_and_nest() {
        let c = london();
        let spec = |days: Option<&str>, hours: Option<&str>| WindowSpec {
            days: days.map(Into::into),
            hours: hours.map(Into::into),
            ..WindowSpec::default()
        };
        let mut specs = crate::config::built_in_windows();
        specs.insert("weekdays".into(), spec(Some("mon-fri"), None));
        specs.insert("nights".into(), spec(None, Some("22:00-07:00")));
        specs.insert("mornings".into(), spec(None, Some("07:00-09:00")));
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect();
        specs.insert(
            "weeknights".into(),
            WindowSpec {
                all: names(&["weekdays", "nights"]),
                ..WindowSpec::default()
            },
        );
        specs.insert(
            "early".into(),
            WindowSpec {
                any: names(&["weeknights", "mornings"]),
                ..WindowSpec::default()
            },
        );
        let early = compile(&specs, "early").unwrap();
        // Thursday 2026-12-03 23:00 and Friday 08:00: open.
        assert!(early.is_open(at("2026-12-03T23:00", &c), &c));
        assert!(early.is_open(at("2026-12-04T08:00", &c), &c));
        // Saturday 23:00 (not a weekday), Thursday 12:00 (neither): closed.
        assert!(!early.is_open(at("2026-12-05T23:00", &c), &c));
        assert!(!early.is_open(at("2026-12-03T12:00", &c), &c));
        // Saturday 07:30 is a morning.
        assert!(early.is_open(at("2026-12-05T07:30", &c), &c));
        assert_eq!(
            early.next_open(at("2026-12-05T12:00", &c), &c),
            Some(at("2026-12-06T07:00", &c))
        );
        specs.insert(
            "loop".into(),
            WindowSpec {
                any: names(&["mornings", "loop"]),
                ..WindowSpec::default()
            },
        );
        assert!(compile(&specs, "loop").unwrap_err().contains("loop → loop"));
    }

    #[test]
    fn windows_that_double_at_every_level_are_refused_at_once() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect();
        let mut specs = BTreeMap::new();
        specs.insert(
            "w0".to_owned(),
            WindowSpec {
                days: Some("mon-fri".into()),
                ..WindowSpec::default()
            },
        );
        for level in 1..=30 {
            specs.insert(
                format!("w{level}"),
                WindowSpec {
                    any: names(&[&format!("w{}", level - 1), &format!("w{}", level - 1)]),
                    ..WindowSpec::default()
                },
            );
        }
        // Two to the 30th windows if built; refused after counting 31.
        let err = compile(&specs, "w30").unwrap_err();
        assert!(err.contains("at most 1000"), "{err}");
        assert!(compile(&specs, "w8").is_ok(), "511 uses are fine");
        // Loops that double are counted once too.
        specs.insert(
            "a".into(),
            WindowSpec {
                any: names(&["b", "b"]),
                ..WindowSpec::default()
            },
        );
        specs.insert(
            "b".into(),
            WindowSpec {
                any: names(&["a", "a"]),
                ..WindowSpec::default()
            },
        );
        assert!(compile(&specs, "a")
            .unwrap_err()
            .contains("refer to each other"));
    }

    #[test]
    fn bad_specs_and_loops_are_refused() {
        let spec = |days: &str, hours: &str| WindowSpec {
            days: Some(days.into()),
            hours: Some(hours.into()),
            ..WindowSpec::default()
        };
        assert_eq!(
            Days::parse_spec(&spec("mon-fry", "09:00-17:00"))
                .unwrap_err()
                .0,
            "days"
        );
        assert_eq!(
            Days::parse_spec(&spec("mon", "9-17")).unwrap_err().0,
            "hours"
        );
        assert_eq!(
            Days::parse_spec(&spec("mon", "25:00-26:00")).unwrap_err().0,
            "hours"
        );
        assert!(Days::parse_spec(&spec("sat,sun", "00:00-24:00")).is_ok());
        let mut specs = BTreeMap::new();
        let not = |w: &str| WindowSpec {
            not: Some(w.into()),
            ..WindowSpec::default()
        };
        specs.insert("a".to_owned(), not("b"));
        specs.insert("b".to_owned(), not("a"));
        assert!(compile(&specs, "a").unwrap_err().contains("a → b → a"));
        assert!(window("always").next_open(5, &Calendar::default()) == Some(5));
    }
}
