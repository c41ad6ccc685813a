//! The on-call half of the configuration (`operations.md` §1): `[oncall]`,
//! `[window]`, `[person.*]`, `[people_list]`, `[rotation.*]` and
//! `[[alert_group]]`, and the checks that name the key of every problem.
//!
//! Times of day, dates and hand-overs are local to `oncall.timezone`;
//! durations are written `30s`, `15m`, `1h30m`, `2d`, `1w`.

use std::collections::BTreeMap;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::Config;
use crate::alert::Level;

/// A length of time, read from `"90s"`, `"15m"`, `"1h30m"`, `"2d"`, `"1w"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Secs(pub u64);

impl Secs {
    pub fn parse(text: &str) -> Result<Secs, String> {
        let bad =
            || format!("{text:?} is not a duration such as \"30s\", \"15m\", \"1h30m\", \"1w\"");
        let mut total: u64 = 0;
        let mut number = String::new();
        let mut any = false;
        for c in text.trim().chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                ' ' if number.is_empty() => continue,
                _ => return Err(bad()),
            };
            let n: u64 = number.parse().map_err(|_| bad())?;
            total = n
                .checked_mul(unit)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(bad)?;
            number.clear();
            any = true;
        }
        if !any || !number.is_empty() {
            return Err(bad());
        }
        Ok(Secs(total))
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Secs::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `[oncall]`: what every window, rotation and message shares.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Oncall {
    /// IANA zone of every window, date and hand-over.
    pub(crate) timezone: String,
    /// Links in messages; default: the HTTP listen address.
    pub(crate) base_url: Option<String>,
    /// Dates that `except_holidays` windows skip.
    pub(crate) holidays: Vec<String>,
    /// Storm batching per person and notifier; 0 = one message per event.
    pub(crate) batch_window: Secs,
}

impl Default for Oncall {
    fn default() -> Self {
        Oncall {
            timezone: "UTC".into(),
            base_url: None,
            holidays: Vec::new(),
            batch_window: Secs(30),
        }
    }
}

/// One `[window]` entry: days and hours (both optional), or the opposite of
/// another window, or every / any of other windows.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WindowSpec {
    /// `"mon-fri"`, `"sat,sun"`, `"mon,wed-fri"`; default every day.
    pub(crate) days: Option<String>,
    /// `"09:30-17:30"`, may wrap past midnight (`"22:00-08:00"`); default all day.
    pub(crate) hours: Option<String>,
    pub(crate) except_holidays: bool,
    /// Open exactly when the named window is closed.
    pub(crate) not: Option<String>,
    /// Open when every named window is open.
    pub(crate) all: Vec<String>,
    /// Open when any named window is open.
    pub(crate) any: Vec<String>,
}

/// Windows every configuration has (mauve's names); a `[window]` entry of
/// the same name replaces one.
pub fn built_in_windows() -> BTreeMap<String, WindowSpec> {
    let spec = |days: Option<&str>, hours: Option<&str>, holidays| WindowSpec {
        days: days.map(str::to_owned),
        hours: hours.map(str::to_owned),
        except_holidays: holidays,
        ..WindowSpec::default()
    };
    BTreeMap::from([
        ("always".to_owned(), spec(None, None, false)),
        (
            "working".to_owned(),
            spec(Some("mon-fri"), Some("09:30-17:30"), true),
        ),
        ("daytime".to_owned(), spec(None, Some("08:00-20:00"), false)),
        (
            "dead_zone".to_owned(),
            spec(None, Some("03:00-07:00"), false),
        ),
    ])
}

/// One person: an address per notifier name, the notifiers to use at each
/// level, a rate limit and absences.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Person {
    pub(crate) urgent: Option<Vec<String>>,
    pub(crate) normal: Option<Vec<String>>,
    pub(crate) low: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) rate_limit: RateLimit,
    #[serde(default)]
    pub(crate) away: Vec<Away>,
    #[serde(default)]
    pub(crate) notify_when_away: bool,
    /// Every other key: notifier name → this person's address there.
    #[serde(flatten)]
    pub(crate) addresses: BTreeMap<String, String>,
}

impl Person {
    /// The notifiers to use at `level`: as configured, else every notifier
    /// the person has an address for when urgent, and e-mail otherwise.
    /// An item may be `a|b`: b only if a gives up.
    pub(crate) fn notifiers(&self, level: Level) -> Vec<String> {
        let configured = match level {
            Level::Urgent => &self.urgent,
            Level::Normal => &self.normal,
            Level::Low => &self.low,
        };
        match (configured, level) {
            (Some(list), _) => list.clone(),
            (None, Level::Urgent) => self.addresses.keys().cloned().collect(),
            (None, _) => self
                .addresses
                .contains_key("email")
                .then(|| "email".to_owned())
                .into_iter()
                .collect(),
        }
    }
}

/// At most `count` messages of a level or higher within `within`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub(crate) count: u32,
    pub(crate) within: Secs,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            count: 5,
            within: Secs(600),
        }
    }
}

/// An absence: from the start of `from` to the start of `until` (dates or
/// local date-times).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Away {
    pub(crate) from: String,
    pub(crate) until: String,
}

/// A rotation: one of `members` at a time, handing over every `shift` from
/// `handoff` (local time), with overrides.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RotationSpec {
    pub(crate) members: Vec<String>,
    pub(crate) shift: Secs,
    pub(crate) handoff: String,
    #[serde(default)]
    pub(crate) overrides: Vec<Override>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub(crate) who: String,
    pub(crate) from: String,
    pub(crate) until: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertGroup {
    /// Required (checked with the other problems, so that its absence is
    /// said in words).
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) level: Level,
    #[serde(default, rename = "match")]
    pub(crate) matches: Match,
    #[serde(default)]
    pub(crate) notify: Vec<NotifyClause>,
}

/// What an alert must look like to belong to a group: every key given must
/// hold; a list holds when any of its items does (globs, `/regex/`, CIDR:
/// see `routing::matching`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Match {
    pub(crate) source: Vec<String>,
    pub(crate) id: Vec<String>,
    pub(crate) subject: Vec<String>,
    pub(crate) summary: Vec<String>,
    /// `">= 80"`, `"< 20"`, `"40..60"`.
    pub(crate) importance: Option<String>,
}

/// One `[[alert_group.notify]]` clause.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotifyClause {
    /// People, lists and rotations to tell.
    pub(crate) who: Vec<String>,
    /// A window name; default always.
    #[serde(default = "always")]
    pub(crate) during: String,
    /// Remind this often while raised and unacknowledged.
    pub(crate) every: Option<Secs>,
    /// Only once raised and unacknowledged this long (escalation).
    #[serde(default)]
    pub(crate) unacknowledged_for: Secs,
    /// Notifiers for this clause instead of the people's level lists.
    pub(crate) via: Option<Vec<String>>,
}

fn always() -> String {
    "always".into()
}

/// Parses a local date-time (`2026-01-05T09:00`) or a date (its midnight).
pub fn local_time(text: &str) -> Result<DateTime, String> {
    text.parse::<DateTime>()
        .or_else(|_| {
            text.parse::<Date>()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .map_err(|_| {
            format!("{text:?} is not a date (2026-12-25) or local date-time (2026-12-25T09:00)")
        })
}

/// Checks the on-call keys, calling `fail(key, what)` for each problem.
pub(super) fn problems(config: &Config, fail: &mut dyn FnMut(&str, &str)) {
    calendar_problems(config, fail);
    people_problems(config, fail);
    rotation_problems(config, fail);
    group_problems(config, fail);
}

/// `[oncall]` (zone, links, holidays) and `[window.*]`.
fn calendar_problems(config: &Config, fail: &mut dyn FnMut(&str, &str)) {
    let oncall = &config.oncall;
    if TimeZone::get(&oncall.timezone).is_err() {
        fail(
            "oncall.timezone",
            &format!(
                "{:?} is not an IANA time zone such as \"Europe/London\"",
                oncall.timezone
            ),
        );
    }
    if let Some(url) = &oncall.base_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            fail("oncall.base_url", "must start with http:// or https://");
        }
    }
    for (i, day) in oncall.holidays.iter().enumerate() {
        if day.parse::<Date>().is_err() {
            fail(
                &format!("oncall.holidays[{i}]"),
                &format!("{day:?} is not a date such as \"2026-12-25\""),
            );
        }
    }
    // Windows are checked as they are compiled (`routing::compile`).
}

/// `[person.*]` and `[people_list]`.
fn people_problems(config: &Config, fail: &mut dyn FnMut(&str, &str)) {
    let notifier_names: Vec<&str> = config.notifiers.iter().map(super::Notifier::name).collect();
    for (name, person) in &config.people {
        for address in person.addresses.keys() {
            if !notifier_names.contains(&address.as_str()) {
                fail(
                    &format!("person.{name}.{address}"),
                    "is not a notifier name (an address is given per [[notifier]] name)",
                );
            }
        }
        for (level, list) in [
            ("urgent", &person.urgent),
            ("normal", &person.normal),
            ("low", &person.low),
        ] {
            for item in list.iter().flatten() {
                for notifier in item.split('|') {
                    if !person.addresses.contains_key(notifier) {
                        fail(
                            &format!("person.{name}.{level}"),
                            &format!("{notifier:?} has no address for this person"),
                        );
                    }
                }
            }
        }
        if person.rate_limit.count == 0 || person.rate_limit.within.0 == 0 {
            fail(
                &format!("person.{name}.rate_limit"),
                "count and within must be above 0",
            );
        }
        for (i, away) in person.away.iter().enumerate() {
            match (local_time(&away.from), local_time(&away.until)) {
                (Ok(from), Ok(until)) if from >= until => fail(
                    &format!("person.{name}.away[{i}]"),
                    "`until` must be after `from`",
                ),
                (Ok(_), Ok(_)) => {}
                (Err(why), _) | (_, Err(why)) => fail(&format!("person.{name}.away[{i}]"), &why),
            }
        }
    }
    for (list, members) in &config.people_list {
        for member in members {
            if config.people.contains_key(member) || config.rotation.contains_key(member) {
                continue;
            }
            if !config.people_list.contains_key(member) {
                fail(
                    &format!("people_list.{list}"),
                    &format!("{member:?} is neither a [person.*], a rotation nor a list"),
                );
            } else if let Err(cycle) = config.people_of(member) {
                fail(&format!("people_list.{list}"), &cycle);
            }
        }
        if config.people.contains_key(list) || config.rotation.contains_key(list) {
            fail(
                &format!("people_list.{list}"),
                "is also the name of a person or rotation",
            );
        }
    }
}

/// `[rotation.*]`.
fn rotation_problems(config: &Config, fail: &mut dyn FnMut(&str, &str)) {
    for (name, rotation) in &config.rotation {
        let key = |field: &str| format!("rotation.{name}.{field}");
        if config.people.contains_key(name) {
            fail(&format!("rotation.{name}"), "is also the name of a person");
        }
        if rotation.members.is_empty() {
            fail(&key("members"), "needs at least one person");
        }
        for member in &rotation.members {
            if !config.people.contains_key(member) {
                fail(&key("members"), &format!("{member:?} is not a [person.*]"));
            }
        }
        if rotation.shift.0 == 0 {
            fail(&key("shift"), "must be above 0");
        }
        if let Err(why) = local_time(&rotation.handoff) {
            fail(&key("handoff"), &why);
        }
        for (i, o) in rotation.overrides.iter().enumerate() {
            let key = format!("rotation.{name}.overrides[{i}]");
            if !config.people.contains_key(&o.who) {
                fail(&key, &format!("{:?} is not a [person.*]", o.who));
            }
            match (local_time(&o.from), local_time(&o.until)) {
                (Ok(from), Ok(until)) if from >= until => {
                    fail(&key, "`until` must be after `from`")
                }
                (Ok(_), Ok(_)) => {}
                (Err(why), _) | (_, Err(why)) => fail(&key, &why),
            }
        }
    }
}

/// `[[alert_group]]`: who and how (matches and windows: `routing::compile`).
fn group_problems(config: &Config, fail: &mut dyn FnMut(&str, &str)) {
    let notifier_names: Vec<&str> = config.notifiers.iter().map(super::Notifier::name).collect();
    let is_name = |n: &str| {
        config.people.contains_key(n)
            || config.people_list.contains_key(n)
            || config.rotation.contains_key(n)
    };
    for (i, group) in config.alert_groups.iter().enumerate() {
        if group.name.trim().is_empty() {
            fail(
                &format!("alert_group[{i}].name"),
                "every [[alert_group]] needs a name (name = \"database\"): it is shown in `mauved route`, the history and the page",
            );
        }
        for (j, clause) in group.notify.iter().enumerate() {
            let key = |field: &str| format!("alert_group[{i}].notify[{j}].{field}");
            for who in &clause.who {
                if !is_name(who) {
                    fail(
                        &key("who"),
                        &format!(
                            "{who:?} is neither a [person.*], a [people_list] entry nor a rotation"
                        ),
                    );
                }
            }
            if clause.every.is_some_and(|e| e.0 == 0) {
                fail(&key("every"), "must be above 0");
            }
            for item in clause.via.iter().flatten() {
                for notifier in item.split('|') {
                    if !notifier_names.contains(&notifier) {
                        fail(&key("via"), &format!("{notifier:?} is not a notifier"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(text: &str) -> String {
        match Config::parse(text, "t") {
            Ok(_) => String::new(),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn durations_read_units_and_sums() {
        // What `timefmt::span` writes reads back.
        assert_eq!(
            Secs::parse(&crate::timefmt::span(97_265)).unwrap().0,
            97_265
        );
        assert_eq!(Secs::parse("30s"), Ok(Secs(30)));
        assert_eq!(Secs::parse("1h30m"), Ok(Secs(5400)));
        assert_eq!(Secs::parse("2d"), Ok(Secs(172_800)));
        assert_eq!(Secs::parse("1w"), Ok(Secs(604_800)));
        for bad in ["", "15", "m", "5x", "1.5h", "99999999999999999999w"] {
            assert!(Secs::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_duration_names_its_key() {
        let got = problems_of("[oncall]\nbatch_window = \"soon\"");
        assert!(got.contains("batch_window"), "{got}");
        assert!(got.contains("not a duration"), "{got}");
    }
}
