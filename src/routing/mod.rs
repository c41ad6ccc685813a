//! Who is told of an event: a pure function of the event, the alert and the
//! configuration, called by the scheduler where the event happens, so that
//! the addressed messages go to disk in the same atomic batch as the change.
//!
//! Without any `[[alert_group]]` every event goes to every notifier, with no
//! recipient of its own (the notifier's configuration says where it goes).
//! With groups (`operations.md` §1–§2), the first group whose `match` holds
//! takes the alert; each person its `notify` clauses name gets one message
//! per event on each notifier of their list for the group's level, addressed
//! to their address there. An alert no group matches is told to nobody (end
//! the file with a catch-all group).
//!
//! Implemented so far: people, people lists, levels, groups and their
//! `match` ([`matching`]), and `notify.who`. Windows, rotations, reminders,
//! escalation, rate limits and batching are not yet.

mod matching;

use std::collections::BTreeMap;

pub use self::matching::Matcher;
use crate::alert::{AlertKey, EventKind, Record, UnixSecs};
use crate::config::{AlertGroup, Config, Level, Person};
use crate::store::Notification;

/// Who is told of an alert, and how (`mauved route`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Explanation {
    /// The group that takes the alert (None: no group matches, nobody is told).
    pub group: Option<String>,
    pub level: Option<Level>,
    pub recipients: Vec<Recipient>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Recipient {
    pub person: String,
    /// (notifier, this person's address there), in the order of their list.
    pub notifiers: Vec<(String, String)>,
}

/// The routing part of the configuration, ready to answer.
#[derive(Clone, Debug, Default)]
pub struct Router {
    notifiers: Vec<String>,
    groups: Vec<(AlertGroup, Matcher)>,
    people: BTreeMap<String, Person>,
    /// Each name a `who` may use (person or list) → the people it means.
    who: BTreeMap<String, Vec<String>>,
}

impl Router {
    pub fn new(config: &Config) -> Router {
        Router {
            notifiers: config
                .notifiers
                .iter()
                .map(|n| n.name().to_owned())
                .collect(),
            // A bad match is refused at load; one that fails here matches nothing.
            groups: config
                .alert_groups
                .iter()
                .filter_map(|g| Some((g.clone(), Matcher::new(&g.matches).ok()?)))
                .collect(),
            people: config.people.clone(),
            // A loop is refused at load; a name that fails here tells nobody.
            who: config
                .people
                .keys()
                .chain(config.people_list.keys())
                .map(|name| (name.clone(), config.people_of(name).unwrap_or_default()))
                .collect(),
        }
    }

    /// The first group that takes this alert.
    pub fn group(&self, key: &AlertKey, record: &Record) -> Option<&AlertGroup> {
        self.groups
            .iter()
            .find(|(_, matcher)| matcher.holds(key, record))
            .map(|(group, _)| group)
    }

    /// Who would be told of an event of this alert now, and how: the group,
    /// its level, and each person (once) with their notifiers and addresses.
    /// `None` without any alert group (then every notifier is told).
    pub fn explain(&self, key: &AlertKey, record: &Record) -> Option<Explanation> {
        if self.groups.is_empty() {
            return None;
        }
        let Some(group) = self.group(key, record) else {
            return Some(Explanation::default());
        };
        let mut recipients: Vec<Recipient> = Vec::new();
        let names = group
            .notify
            .iter()
            .flat_map(|clause| &clause.who)
            .flat_map(|name| self.who.get(name).into_iter().flatten());
        for name in names {
            let Some(person) = self.people.get(name) else {
                continue;
            };
            if recipients.iter().any(|r| r.person == *name) {
                continue;
            }
            let notifiers = person
                .notifiers(group.level)
                .into_iter()
                .filter_map(|n| Some((n.clone(), person.addresses.get(&n)?.clone())))
                .collect();
            recipients.push(Recipient {
                person: name.clone(),
                notifiers,
            });
        }
        Some(Explanation {
            group: Some(group.name.clone()),
            level: Some(group.level),
            recipients,
        })
    }

    /// The messages one event causes, each addressed to one notifier (and,
    /// with groups, to one person's address there).
    pub fn address(
        &self,
        key: &AlertKey,
        event: EventKind,
        at: UnixSecs,
        record: &Record,
    ) -> Vec<Notification> {
        let message = |notifier: &str, recipient: Option<&str>| Notification {
            event: event as i32,
            source: key.source.clone(),
            id: key.id.clone(),
            at,
            alert: record.clone(),
            notifier: notifier.to_owned(),
            recipient: recipient.map(str::to_owned),
        };
        match self.explain(key, record) {
            None => self.notifiers.iter().map(|n| message(n, None)).collect(),
            Some(explained) => explained
                .recipients
                .iter()
                .flat_map(|r| &r.notifiers)
                .map(|(notifier, address)| message(notifier, Some(address)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, "t").unwrap()
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
        router
            .address(&key, EventKind::Raised, 7, &Record::default())
            .into_iter()
            .map(|m| {
                assert_eq!(m.key(), key);
                (m.notifier, m.recipient)
            })
            .collect()
    }

    #[test]
    fn without_groups_every_notifier_gets_one_message() {
        let router = Router::new(&config(
            "[[notifier]]\nname = \"log\"\nkind = \"log\"\n[[notifier]]\nname = \"pager\"\nkind = \"log\"",
        ));
        assert_eq!(
            told(&router, "web1", "disk"),
            vec![("log".into(), None), ("pager".into(), None)]
        );
    }

    #[test]
    fn the_first_matching_group_tells_each_person_once_per_notifier_of_its_level() {
        let router = Router::new(&config(TEAM));
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
        let router = Router::new(&config(only_web));
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
        let router = Router::new(&config);
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
        let err = Config::parse(&looped, "t").unwrap_err().to_string();
        assert!(err.contains("lists contain each other"), "{err}");
        assert!(
            err.contains("ops → night → ops") || err.contains("night → ops → night"),
            "{err}"
        );
    }

    #[test]
    fn people_and_groups_are_checked_at_load() {
        let bad = TEAM.replace("who = [\"bob\"]", "who = [\"carol\"]");
        let err = Config::parse(&bad, "t").unwrap_err().to_string();
        assert!(err.contains("alert_group[1].notify[0].who"), "{err}");
        let bad = TEAM.replace("sms = \"+447700900001\"", "pager = \"x\"");
        let err = Config::parse(&bad, "t").unwrap_err().to_string();
        assert!(err.contains("person.alice.pager"), "{err}");
        let bad = TEAM.replace("normal = [\"email\"]", "normal = [\"sms\"]");
        let err = Config::parse(&bad, "t").unwrap_err().to_string();
        assert!(err.contains("person.bob.normal"), "{err}");
    }

    #[test]
    fn a_catch_all_before_other_groups_is_refused() {
        let early = TEAM.replace(
            "[[alert_group]]\nname = \"web\"",
            "[[alert_group]]\nname = \"all\"\n\n[[alert_group]]\nname = \"web\"",
        );
        let err = Config::parse(&early, "t").unwrap_err().to_string();
        assert!(err.contains("alert_group[0].match"), "{err}");
        let bad = TEAM.replace("id = [\"disk\", \"load?\"]", "id = [\"/(/\"]");
        let err = Config::parse(&bad, "t").unwrap_err().to_string();
        assert!(err.contains("alert_group[0].match.id[0]"), "{err}");
    }
}
