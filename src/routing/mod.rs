//! Who is told of an event, and when: pure functions of the event, the
//! alert, the configuration and the time, called by the scheduler where the
//! event happens, so that the addressed messages go to disk in the same
//! atomic batch as the change.
//!
//! Without any `[[alert_group]]` every event goes to every notifier, with no
//! recipient of its own (the notifier's configuration says where it goes).
//! With groups (`operations.md` §1–§4), the first group whose `match` holds
//! takes the alert ([`matching`]); its notify clauses say who is told
//! (people, lists, [`rotation`]s), when ([`windows`], escalation) and how
//! often (reminders). [`pager`] keeps what that needs between events: who
//! was told, the clauses' timers, rate limits and storm batches.
//!
//! Owns who is told and when; must not do I/O nor read a clock (time is
//! given), and is compiled once from the configuration ([`Router::compile`]).

mod compile;
pub mod explain;
pub(crate) mod matching;
pub(crate) mod pager;
pub(crate) mod rotation;
pub(crate) mod windows;

use std::collections::BTreeMap;

pub use self::compile::{load, parse};
pub(crate) use self::matching::Matcher;
use self::rotation::{OnCall, Rotation};
use self::windows::{Calendar, Window};
use crate::alert::Level;
use crate::alert::{AlertKey, EventKind, Record, UnixSecs};
use crate::config::{AlertGroup, Person};

/// Who is told of an alert, and how (`mauved route`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub(crate) struct Explanation {
    /// The group that takes the alert (None: no group matches, nobody is told).
    pub(crate) group: Option<String>,
    pub(crate) level: Option<Level>,
    pub(crate) clauses: Vec<ClauseView>,
    pub(crate) recipients: Vec<Recipient>,
    /// A raise now would wait for a window to open until then.
    pub(crate) deferred_until: Option<UnixSecs>,
}

/// One notify clause as `mauved route` shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct ClauseView {
    pub(crate) who: Vec<String>,
    pub(crate) during: String,
    pub(crate) open: bool,
    pub(crate) unacknowledged_for: u64,
    pub(crate) every: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct Recipient {
    pub(crate) person: String,
    /// (notifier, this person's address there), in the order of their list;
    /// a fallback (`a|b`) follows its first choice.
    pub(crate) notifiers: Vec<(String, String)>,
}

/// One way to reach a person: the notifier and address, then the ones to
/// try if it gives up.
pub(crate) type Route = Vec<(String, String)>;

/// A compiled `[[alert_group.notify]]` clause.
#[derive(Clone, Debug)]
pub(crate) struct Clause {
    pub(crate) who: Vec<String>,
    pub(crate) during: String,
    pub(crate) window: Window,
    pub(crate) every: Option<u64>,
    pub(crate) unacknowledged_for: u64,
    pub(crate) via: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) spec: AlertGroup,
    matcher: Matcher,
    pub(crate) clauses: Vec<Clause>,
}

/// The routing part of the configuration, ready to answer.
#[derive(Clone, Debug, Default)]
pub struct Router {
    notifiers: Vec<String>,
    groups: Vec<Group>,
    people: BTreeMap<String, Person>,
    /// Absences as instants, by person.
    away: BTreeMap<String, Vec<(UnixSecs, UnixSecs)>>,
    /// Each name a `who` may use (person, list, rotation) → the people and
    /// rotations it means.
    who: BTreeMap<String, Vec<String>>,
    rotations: BTreeMap<String, Rotation>,
    pub(crate) calendar: Calendar,
    /// The `working` window (for "N working hours").
    pub(crate) working: Option<Window>,
    /// Storm batching window, seconds (0: none).
    pub(crate) batch_window: u64,
    /// Links in messages start with this.
    pub(crate) base_url: String,
}

impl Router {
    /// True when alert groups decide who is told.
    pub(crate) fn routes(&self) -> bool {
        !self.groups.is_empty()
    }

    pub(crate) fn notifiers(&self) -> &[String] {
        &self.notifiers
    }

    /// The first group that takes this alert.
    pub(crate) fn group(&self, key: &AlertKey, record: &Record) -> Option<&Group> {
        self.groups.iter().find(|g| g.matcher.holds(key, record))
    }

    /// The alert's labels as Alertmanager shows them (silences match these).
    pub(crate) fn labels(
        &self,
        key: &AlertKey,
        record: &Record,
    ) -> std::collections::BTreeMap<String, String> {
        let group = self.group(key, record);
        let subject = if record.subject.is_empty() {
            &key.source
        } else {
            &record.subject
        };
        crate::alertmanager::labels::of(
            key,
            subject,
            group.map_or("", |g| g.spec.name.as_str()),
            group.map_or("", |g| g.spec.level.as_str()),
        )
    }

    /// The alert groups' names, in order.
    pub(crate) fn group_names(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.spec.name.clone()).collect()
    }

    pub(crate) fn group_named(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.spec.name == name)
    }

    pub(crate) fn person(&self, name: &str) -> Option<&Person> {
        self.people.get(name)
    }

    /// Whether `person` is away at `at` (and wants not to be told then).
    pub(crate) fn is_away(&self, person: &str, at: UnixSecs) -> bool {
        let wants = self.people.get(person).is_some_and(|p| p.notify_when_away);
        !wants
            && self
                .away
                .get(person)
                .is_some_and(|spans| spans.iter().any(|&(from, until)| from <= at && at < until))
    }

    /// The people `names` stand for at `at` (rotations resolved then), in
    /// order, each once.
    pub(crate) fn resolve<'a>(
        &self,
        names: impl IntoIterator<Item = &'a String>,
        at: UnixSecs,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for member in names
            .into_iter()
            .flat_map(|name| self.who.get(name).into_iter().flatten())
        {
            let person = match self.rotations.get(member) {
                Some(rotation) => rotation.at(at).person,
                None => member.clone(),
            };
            if self.people.contains_key(&person) && !out.contains(&person) {
                out.push(person);
            }
        }
        out
    }

    /// How to reach `person` at `level` (or through `via`): each route is a
    /// first choice and its fallbacks, each with the person's address.
    pub(crate) fn routes_to(
        &self,
        person: &str,
        level: Level,
        via: Option<&[String]>,
    ) -> Vec<Route> {
        let Some(p) = self.people.get(person) else {
            return Vec::new();
        };
        let items = match via {
            Some(via) => via.to_vec(),
            None => p.notifiers(level),
        };
        items
            .iter()
            .map(|item| {
                item.split('|')
                    .filter_map(|n| Some((n.to_owned(), p.addresses.get(n)?.clone())))
                    .collect::<Route>()
            })
            .filter(|route| !route.is_empty())
            .collect()
    }

    /// Every rotation: who is on at `at` and until when.
    pub fn oncall(&self, at: UnixSecs) -> Vec<(String, OnCall)> {
        self.rotations
            .iter()
            .map(|(name, r)| (name.clone(), r.at(at)))
            .collect()
    }

    /// Who would be told of `event` of this alert at `at`, and how: the
    /// group, its level, the clauses, and each person (once) with their
    /// notifiers and addresses. `None` without any alert group (then every
    /// notifier is told).
    pub(crate) fn explain(
        &self,
        key: &AlertKey,
        record: &Record,
        event: EventKind,
        at: UnixSecs,
    ) -> Option<Explanation> {
        if self.groups.is_empty() {
            return None;
        }
        let Some(group) = self.group(key, record) else {
            return Some(Explanation::default());
        };
        let raised_at = record.raised_at.unwrap_or(at);
        let clauses: Vec<ClauseView> = group
            .clauses
            .iter()
            .map(|c| ClauseView {
                who: c.who.clone(),
                during: c.during.clone(),
                open: c.window.is_open(at, &self.calendar),
                unacknowledged_for: c.unacknowledged_for,
                every: c.every,
            })
            .collect();
        let mut recipients: Vec<Recipient> = Vec::new();
        for clause in &group.clauses {
            let applies = match event {
                EventKind::Raised | EventKind::ReRaised | EventKind::Reminder => {
                    clause.window.is_open(at, &self.calendar)
                        && raised_at + clause.unacknowledged_for <= at
                }
                EventKind::Cleared | EventKind::Acknowledged => true,
            };
            if !applies {
                continue;
            }
            for person in self.resolve(&clause.who, at) {
                if self.is_away(&person, at) || recipients.iter().any(|r| r.person == person) {
                    continue;
                }
                let notifiers = self
                    .routes_to(&person, group.spec.level, clause.via.as_deref())
                    .into_iter()
                    .flatten()
                    .collect();
                recipients.push(Recipient { person, notifiers });
            }
        }
        let deferred_until = (recipients.is_empty()
            && matches!(event, EventKind::Raised | EventKind::ReRaised))
        .then(|| {
            group
                .clauses
                .iter()
                .filter_map(|c| {
                    let start = at.max(raised_at + c.unacknowledged_for);
                    c.window.next_open(start, &self.calendar)
                })
                .min()
        })
        .flatten();
        Some(Explanation {
            group: Some(group.spec.name.clone()),
            level: Some(group.spec.level),
            clauses,
            recipients,
            deferred_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(text: &str) -> Config {
        parse(text, "t").unwrap().0
    }

    fn router(text: &str) -> Router {
        parse(text, "t").unwrap().1
    }

    fn error(text: &str) -> String {
        parse(text, "t").unwrap_err().to_string()
    }

    const TEAM: &str = r#"
[[notifier]]
name = "email"
kind = "log"
[[notifier]]
name = "sms"
kind = "command"
command = ["true"]

[person.alice]
email = "alice@example.com"
sms = "+447700900001"

[person.bob]
email = "bob@example.com"
normal = ["email"]
urgent = ["email"]

[[alert_group]]
name = "web"
level = "urgent"
match = { source = ["web*"], id = ["disk", "load?"] }
  [[alert_group.notify]]
  who = ["alice"]
  [[alert_group.notify]]
  who = ["alice", "bob"]

[[alert_group]]
name = "everything else"
  [[alert_group.notify]]
  who = ["bob"]
"#;

    fn told(router: &Router, source: &str, id: &str) -> Vec<(String, Option<String>)> {
        let key = AlertKey::new(source, id);
        let mut pager = pager::Pager::new(router.clone());
        let mut out = pager::Effects::default();
        let record = Record {
            raised_at: Some(7),
            ..Record::default()
        };
        pager.on_event(&key, EventKind::Raised, &record, 7, &mut out);
        out.messages
            .into_iter()
            .map(|m| {
                assert_eq!(m.key(), key);
                (m.notifier, m.recipient)
            })
            .collect()
    }

    #[test]
    fn without_groups_every_notifier_gets_one_message() {
        let router = router(
            "[[notifier]]\nname = \"log\"\nkind = \"log\"\n[[notifier]]\nname = \"pager\"\nkind = \"log\"",
        );
        assert_eq!(
            told(&router, "web1", "disk"),
            vec![("log".into(), None), ("pager".into(), None)]
        );
    }

    #[test]
    fn the_first_matching_group_tells_each_person_once_per_notifier_of_its_level() {
        let router = router(TEAM);
        let some = |s: &str| Some(s.to_owned());
        // Urgent: alice has no list, so every notifier she has an address for;
        // bob's urgent list is e-mail. Alice named twice is told once.
        assert_eq!(
            told(&router, "web12", "disk"),
            vec![
                ("email".into(), some("alice@example.com")),
                ("sms".into(), some("+447700900001")),
                ("email".into(), some("bob@example.com")),
            ]
        );
        assert_eq!(
            router
                .group(&AlertKey::new("web1", "load5"), &Record::default())
                .unwrap()
                .spec
                .name,
            "web"
        );
        // Not matching the first group: the catch-all, normal level.
        assert_eq!(
            told(&router, "db1", "disk"),
            vec![("email".into(), some("bob@example.com"))]
        );
        assert_eq!(
            router
                .group(&AlertKey::new("web1", "load10"), &Record::default())
                .unwrap()
                .spec
                .name,
            "everything else"
        );
    }

    #[test]
    fn an_alert_no_group_matches_is_told_to_nobody() {
        let only_web = TEAM
            .split("[[alert_group]]\nname = \"everything else\"")
            .next()
            .unwrap();
        let router = router(only_web);
        assert!(told(&router, "db1", "disk").is_empty());
    }

    #[test]
    fn lists_stand_for_their_people_each_told_once() {
        let with_lists = TEAM.replace(
            "[[alert_group]]\nname = \"web\"",
            "[people_list]\nops = [\"alice\", \"night\"]\nnight = [\"bob\", \"alice\"]\n\n[[alert_group]]\nname = \"web\"",
        );
        let with_lists = with_lists.replace("who = [\"alice\", \"bob\"]", "who = [\"ops\"]");
        let config = config(&with_lists);
        assert_eq!(config.people_of("ops").unwrap(), ["alice", "bob"]);
        let router = Router::compile(&config).unwrap();
        let to: Vec<Option<String>> = told(&router, "web1", "disk")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(
            to.len(),
            3,
            "alice by e-mail and sms, bob by e-mail: {to:?}"
        );
        let looped =
            with_lists.replace("night = [\"bob\", \"alice\"]", "night = [\"bob\", \"ops\"]");
        let err = error(&looped);
        assert!(err.contains("lists contain each other"), "{err}");
        assert!(
            err.contains("ops → night → ops") || err.contains("night → ops → night"),
            "{err}"
        );
    }

    #[test]
    fn people_and_groups_are_checked_at_load() {
        let bad = TEAM.replace("who = [\"bob\"]", "who = [\"carol\"]");
        let err = error(&bad);
        assert!(err.contains("alert_group[1].notify[0].who"), "{err}");
        let bad = TEAM.replace("sms = \"+447700900001\"", "pager = \"x\"");
        let err = error(&bad);
        assert!(err.contains("person.alice.pager"), "{err}");
        let bad = TEAM.replace("normal = [\"email\"]", "normal = [\"sms\"]");
        let err = error(&bad);
        assert!(err.contains("person.bob.normal"), "{err}");
    }

    #[test]
    fn a_catch_all_before_other_groups_is_refused() {
        let early = TEAM.replace(
            "[[alert_group]]\nname = \"web\"",
            "[[alert_group]]\nname = \"all\"\n\n[[alert_group]]\nname = \"web\"",
        );
        let err = error(&early);
        assert!(err.contains("alert_group[0].match"), "{err}");
        let bad = TEAM.replace("id = [\"disk\", \"load?\"]", "id = [\"/(/\"]");
        let err = error(&bad);
        assert!(err.contains("alert_group[0].match.id[0]"), "{err}");
    }
}
