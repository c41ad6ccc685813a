//! Compiling the configuration's routing part, once: at start and in
//! `check-config`. The configuration is plain data checked key by key as it
//! was read; here the parts that become routing's own types (windows,
//! matchers, rotations, people's lists, absences as instants) are built,
//! and whatever cannot be is a problem naming its key. Nothing falls back:
//! a router exists only when every part compiled.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

use super::rotation::{self, Rotation};
use super::windows::{self, Calendar, Days, Window};
use super::{Clause, Group, Matcher, Router};
use crate::alert::UnixSecs;
use crate::config::{Config, ConfigError, Problem};

/// The problems found so far.
#[derive(Default)]
struct Found(Vec<Problem>);

impl Found {
    fn fail(&mut self, key: impl Into<String>, what: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            what: what.into(),
        });
    }

    /// The value, or None with the problem noted at `key`.
    fn check<T>(&mut self, key: impl FnOnce() -> String, result: Result<T, String>) -> Option<T> {
        result.map_err(|why| self.fail(key(), why)).ok()
    }
}

impl Router {
    /// The router of a configuration, or every problem that stops one.
    pub(crate) fn compile(config: &Config) -> Result<Router, Vec<Problem>> {
        let mut found = Found::default();
        let zone = found
            .check(
                || "oncall.timezone".into(),
                TimeZone::get(&config.oncall.timezone).map_err(|_| {
                    format!(
                        "{:?} is not an IANA time zone such as \"Europe/London\"",
                        config.oncall.timezone
                    )
                }),
            )
            .unwrap_or(TimeZone::UTC);
        let windows = compile_windows(config, &mut found);
        let groups = compile_groups(config, &windows, &mut found);
        let who = config
            .people
            .keys()
            .chain(config.people_list.keys())
            .chain(config.rotation.keys())
            .filter_map(|name| {
                let people = found.check(|| format!("people_list.{name}"), config.people_of(name));
                Some((name.clone(), people?))
            })
            .collect();
        let rotations = config
            .rotation
            .iter()
            .filter_map(|(name, spec)| {
                let compiled = Rotation::compile(spec, &zone)
                    .map_err(|(field, why)| found.fail(format!("rotation.{name}.{field}"), why));
                Some((name.clone(), compiled.ok()?))
            })
            .collect();
        let away = compile_away(config, &zone, &mut found);
        let holidays = compile_holidays(config, &mut found);
        let working = windows.get("working").cloned();
        if !found.0.is_empty() {
            return Err(found.0);
        }
        Ok(Router {
            notifiers: config
                .notifiers
                .iter()
                .map(|n| n.name().to_owned())
                .collect(),
            groups,
            people: config.people.clone(),
            away,
            who,
            rotations,
            calendar: Calendar { zone, holidays },
            working,
            batch_window: config.oncall.batch_window.0,
            base_url: config
                .oncall
                .base_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.listen.http))
                .trim_end_matches('/')
                .to_owned(),
        })
    }
}

/// A local date-time (or date) in `zone` as an instant.
fn instant(text: &str, zone: &TimeZone) -> Result<UnixSecs, String> {
    rotation::instant_of(text, zone)
}

/// Every window, built-in and `[window.*]`, by name; one that does not
/// compile is a problem at its key and left out.
fn compile_windows(config: &Config, found: &mut Found) -> BTreeMap<String, Window> {
    let specs = config.windows();
    let mut compiled = BTreeMap::new();
    for (name, spec) in &specs {
        let key = |field: &str| format!("window.{name}.{field}");
        let composed = [
            ("not", spec.not.is_some()),
            ("all", !spec.all.is_empty()),
            ("any", !spec.any.is_empty()),
        ];
        let window = match composed.iter().find(|(_, given)| *given) {
            Some((field, _))
                if composed.iter().filter(|(_, given)| *given).count() > 1
                    || spec.days.is_some()
                    || spec.hours.is_some()
                    || spec.except_holidays =>
            {
                found.fail(
                    key(field),
                    "takes no days, hours, except_holidays or other of not/all/any beside it",
                );
                continue;
            }
            Some((field, _)) => found.check(|| key(field), windows::compile(&specs, name)),
            None => Days::parse_spec(spec)
                .map(Window::Open)
                .map_err(|(field, why)| found.fail(key(field), why))
                .ok(),
        };
        if let Some(window) = window {
            compiled.insert(name.clone(), window);
        }
    }
    compiled
}

/// The alert groups with their matchers and clauses.
fn compile_groups(
    config: &Config,
    windows: &BTreeMap<String, Window>,
    found: &mut Found,
) -> Vec<Group> {
    let last = config.alert_groups.len().saturating_sub(1);
    let mut groups = Vec::new();
    for (i, spec) in config.alert_groups.iter().enumerate() {
        let matcher = match Matcher::new(&spec.matches) {
            Err((key, what)) => {
                found.fail(format!("alert_group[{i}].{key}"), what);
                None
            }
            Ok(m) if m.is_catch_all() && i < last => {
                found.fail(
                    format!("alert_group[{i}].match"),
                    "matches everything, so the groups after it never would: the catch-all goes last",
                );
                None
            }
            Ok(m) => Some(m),
        };
        let mut clauses = Vec::new();
        for (j, c) in spec.notify.iter().enumerate() {
            let window = match windows.get(&c.during) {
                Some(window) => window.clone(),
                None => {
                    // A window that failed is a problem at its own key.
                    if !config.windows().contains_key(&c.during) {
                        found.fail(
                            format!("alert_group[{i}].notify[{j}].during"),
                            format!(
                                "{:?} is not a window; the windows are: {}",
                                c.during,
                                config
                                    .windows()
                                    .keys()
                                    .map(|w| format!("{w:?}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                    continue;
                }
            };
            clauses.push(Clause {
                who: c.who.clone(),
                during: c.during.clone(),
                window,
                every: c.every.map(|e| e.0),
                unacknowledged_for: c.unacknowledged_for.0,
                via: c.via.clone(),
            });
        }
        if let Some(matcher) = matcher {
            groups.push(Group {
                spec: spec.clone(),
                matcher,
                clauses,
            });
        }
    }
    groups
}

/// Reads a configuration file and compiles its routing: what `serve`,
/// `check-config` and the reports run. Every problem of both steps is
/// reported at once.
pub fn load(path: &std::path::Path) -> Result<(Config, Router), ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
        path: origin.clone(),
        err,
    })?;
    let (mut config, router) = parse(&text, &origin)?;
    config.file = crate::config::FileOf(Some(path.to_owned()));
    Ok((config, router))
}

/// [`load`] from text; `origin` names it in messages.
pub fn parse(text: &str, origin: &str) -> Result<(Config, Router), ConfigError> {
    let (config, mut problems, placing) = Config::read_all(text, origin)?;
    problems.extend(config.problems().into_iter().map(|p| placing.place(p)));
    let router = Router::compile(&config);
    if let Err(more) = &router {
        // A key the configuration's own checks named is said once.
        let named: Vec<String> = problems.iter().map(|p| p.key.clone()).collect();
        let more = more.iter().map(|p| placing.place(p.clone()));
        problems.extend(more.filter(|p| !named.contains(&p.key)));
    }
    // Said once each, in the order found.
    let mut said = std::collections::HashSet::new();
    problems.retain(|p| said.insert((p.key.clone(), p.what.clone())));
    match router {
        Ok(router) if problems.is_empty() => Ok((config, router)),
        _ => Err(ConfigError::Invalid {
            path: origin.to_owned(),
            problems,
        }),
    }
}

/// Each person's times away, in the on-call time zone.
fn compile_away(
    config: &Config,
    zone: &TimeZone,
    found: &mut Found,
) -> std::collections::BTreeMap<String, Vec<(UnixSecs, UnixSecs)>> {
    config
        .people
        .iter()
        .map(|(name, person)| {
            let spans = person
                .away
                .iter()
                .enumerate()
                .filter_map(|(i, a)| {
                    let key = || format!("person.{name}.away[{i}]");
                    let from = found.check(key, instant(&a.from, zone))?;
                    let until = found.check(key, instant(&a.until, zone))?;
                    Some((from, until))
                })
                .collect();
            (name.clone(), spans)
        })
        .collect()
}

/// `oncall.holidays`, as dates.
fn compile_holidays(config: &Config, found: &mut Found) -> Vec<jiff::civil::Date> {
    config
        .oncall
        .holidays
        .iter()
        .enumerate()
        .filter_map(|(i, day)| {
            let date = day
                .parse()
                .map_err(|_| format!("{day:?} is not a date such as \"2026-12-25\""));
            found.check(|| format!("oncall.holidays[{i}]"), date)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_call_problems_name_their_key() {
        let text = r#"
[oncall]
timezone = "Mars/Olympus"
holidays = ["25 Dec"]
base_url = "alerts.example.com"

[window]
lunch = { days = "mon-fry", hours = "12:00-13:00" }
odd = { not = "nowhere" }
loop_a = { not = "loop_b" }
loop_b = { not = "loop_a" }

[[notifier]]
name = "email"
kind = "log"

[person.alice]
email = "a@example.com"
urgent = ["sms|email"]
rate_limit = { count = 0, within = "1m" }
away = [{ from = "2026-12-20", until = "2026-12-01" }]

[rotation.primary]
members = ["alice", "zed"]
shift = "1w"
handoff = "next monday"
overrides = [{ who = "yan", from = "2026-01-01", until = "2026-01-02" }]

[[alert_group]]
name = "all"
  [[alert_group.notify]]
  who = ["primary", "nobody"]
  during = "teatime"
  via = ["pager"]
"#;
        let got = parse(text, "t").unwrap_err().to_string();
        for key in [
            "oncall.timezone",
            "oncall.holidays[0]",
            "oncall.base_url",
            "window.lunch.days",
            "window.odd.not",
            "window.loop_a.not",
            "person.alice.urgent",
            "person.alice.rate_limit",
            "person.alice.away[0]",
            "rotation.primary.members",
            "rotation.primary.handoff",
            "rotation.primary.overrides[0]",
            "alert_group[0].notify[0].who",
            "alert_group[0].notify[0].during",
            "alert_group[0].notify[0].via",
        ] {
            assert!(got.contains(&format!(" {key}: ")), "{key} in:\n{got}");
        }
        assert!(got.contains("\"sms\" has no address"), "{got}");
        // Each with its line in the file.
        assert!(got.lines().all(|l| l.starts_with("t: line ")), "{got}");
        assert!(got.contains("loop_a → loop_b → loop_a"), "{got}");
    }
}
