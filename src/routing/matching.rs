//! Which alert group an alert belongs to (`operations.md`, "Matching").
//!
//! A group's `match` has lists for `source`, `id`, `subject` and `summary`
//! (any item of a list may match) and a range for `importance`; every key
//! given must hold. An item is a glob (`*` within one DNS label, `**` across
//! labels, `?` one character), a `/regex/`, or a CIDR range that holds when
//! the value is an IP address inside it (no DNS lookups). Items are compiled
//! once, at load, so a bad one is a configuration error with its key path.

use std::net::IpAddr;

use crate::alert::{AlertKey, Record};
use crate::config::{Cidr, Match};

/// One compiled `match` item. A glob is compiled to a regex too: the
/// `regex` crate matches in time linear in the value, whatever the pattern,
/// so no id a packet carries can stall the scheduler.
#[derive(Clone, Debug)]
enum Item {
    Regex(regex::Regex),
    Cidr(Cidr),
}

impl Item {
    fn parse(text: &str) -> Result<Item, String> {
        if let Some(inner) = text.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
            if !inner.is_empty() {
                return regex::Regex::new(inner)
                    .map(Item::Regex)
                    .map_err(|err| format!("{text:?} is not a valid regex: {err}"));
            }
        }
        if let Some((addr, _)) = text.split_once('/') {
            if addr.parse::<IpAddr>().is_ok() {
                return Cidr::parse(text).map(Item::Cidr);
            }
        }
        glob_regex(text)
            .map(Item::Regex)
            .map_err(|err| format!("{text:?} cannot be compiled: {err}"))
    }

    fn holds(&self, value: &str) -> bool {
        match self {
            Item::Regex(regex) => regex.is_match(value),
            Item::Cidr(range) => value.parse::<IpAddr>().is_ok_and(|ip| range.contains(ip)),
        }
    }
}

/// `importance`: `">= 80"`, `"> 80"`, `"<= 20"`, `"< 20"`, `"= 50"`, `"50"`
/// or `"40..60"` (both ends included).
fn parse_range(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not a range such as \">= 80\", \"< 20\" or \"40..60\"");
    let num = |t: &str| t.trim().parse::<u32>().map_err(|_| bad());
    let t = text.trim();
    if let Some((low, high)) = t.split_once("..") {
        let (low, high) = (num(low)?, num(high)?);
        return if low <= high {
            Ok((low, high))
        } else {
            Err(bad())
        };
    }
    if let Some(rest) = t.strip_prefix(">=") {
        return Ok((num(rest)?, u32::MAX));
    }
    if let Some(rest) = t.strip_prefix("<=") {
        return Ok((0, num(rest)?));
    }
    if let Some(rest) = t.strip_prefix('>') {
        return Ok((num(rest)?.checked_add(1).ok_or_else(bad)?, u32::MAX));
    }
    if let Some(rest) = t.strip_prefix('<') {
        return Ok((0, num(rest)?.checked_sub(1).ok_or_else(bad)?));
    }
    let exact = num(t.strip_prefix('=').unwrap_or(t))?;
    Ok((exact, exact))
}

/// A group's `match`, compiled.
#[derive(Clone, Debug, Default)]
pub(crate) struct Matcher {
    source: Vec<Item>,
    id: Vec<Item>,
    subject: Vec<Item>,
    summary: Vec<Item>,
    importance: Option<(u32, u32)>,
}

impl Matcher {
    /// Compiles a `match`; an error names the key (`match.source[1]: …`).
    pub(crate) fn new(m: &Match) -> Result<Matcher, (String, String)> {
        let list = |key: &str, items: &[String]| {
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    Item::parse(item).map_err(|what| (format!("match.{key}[{i}]"), what))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Matcher {
            source: list("source", &m.source)?,
            id: list("id", &m.id)?,
            subject: list("subject", &m.subject)?,
            summary: list("summary", &m.summary)?,
            importance: m
                .importance
                .as_deref()
                .map(parse_range)
                .transpose()
                .map_err(|what| ("match.importance".to_owned(), what))?,
        })
    }

    /// Matches everything: a catch-all group.
    pub(crate) fn is_catch_all(&self) -> bool {
        self.source.is_empty()
            && self.id.is_empty()
            && self.subject.is_empty()
            && self.summary.is_empty()
            && self.importance.is_none()
    }

    pub(crate) fn holds(&self, key: &AlertKey, record: &Record) -> bool {
        let any =
            |items: &[Item], value: &str| items.is_empty() || items.iter().any(|i| i.holds(value));
        any(&self.source, &key.source)
            && any(&self.id, &key.id)
            && any(&self.subject, &record.subject)
            && any(&self.summary, &record.summary)
            && self
                .importance
                .is_none_or(|(low, high)| (low..=high).contains(&record.importance))
    }
}

/// One `match` item (a glob, a `/regex/` or a CIDR range) on its own, for
/// what matches a source or an id outside alert groups (`[ping]`).
#[derive(Clone, Debug)]
pub(crate) struct Pattern(Item);

impl Pattern {
    pub(crate) fn parse(text: &str) -> Result<Pattern, String> {
        Item::parse(text).map(Pattern)
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        self.0.holds(value)
    }
}

/// Whether any of `patterns` matches `value` (none given: any value).
pub(crate) fn any_matches(patterns: &[Pattern], value: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(value))
}

/// A glob as an anchored regex: `*` matches within one DNS label (no `.`),
/// `**` across labels, `?` one character that is not a `.`; everything else
/// itself.
fn glob_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    let mut re = String::from(r"(?s)\A");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^.]*"),
            '?' => re.push_str("[^.]"),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push_str(r"\z");
    regex::Regex::new(&re)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn glob(pattern: &str, text: &str) -> bool {
        glob_regex(pattern).unwrap().is_match(text)
    }

    /// The meaning of a glob, written as directly as it reads (and in
    /// exponential time): the reference the compiled regex must agree with.
    fn reference_glob(p: &[char], t: &[char]) -> bool {
        match p {
            [] => t.is_empty(),
            ['*', '*', rest @ ..] => (0..=t.len()).any(|i| reference_glob(rest, &t[i..])),
            ['*', rest @ ..] => {
                let run = t.iter().take_while(|&&c| c != '.').count();
                (0..=run).any(|i| reference_glob(rest, &t[i..]))
            }
            ['?', rest @ ..] => {
                t.first().is_some_and(|&c| c != '.') && reference_glob(rest, &t[1..])
            }
            [c, rest @ ..] => t.first() == Some(c) && reference_glob(rest, &t[1..]),
        }
    }

    proptest! {
        #[test]
        fn the_compiled_glob_agrees_with_its_definition(
            pattern in "[ab.*?\\\\(\n]{0,8}",
            text in "[ab.\\\\(\n]{0,10}",
        ) {
            let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
            prop_assert_eq!(glob(&pattern, &text), reference_glob(&p, &t), "{:?} ~ {:?}", pattern, text);
        }
    }

    #[test]
    fn a_long_id_against_a_pathological_glob_does_not_stall() {
        // Backtracking takes exponential time on this pair; the regex is
        // linear. The bound only keeps a regression from hanging the suite.
        let pattern = "**a**a**a**a**a**a**a**a**a**b";
        let item = Item::parse(pattern).unwrap();
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ids = ["a".repeat(1024), "a".repeat(60), "ab".repeat(512)];
            let found: Vec<bool> = ids.iter().map(|id| item.holds(id)).collect();
            let _ = done.send(found);
        });
        let found = wait
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("matched without backtracking");
        assert_eq!(found, [false, false, true]);
    }

    #[test]
    fn globs_stay_within_a_label_unless_doubled() {
        for (pattern, text, matches) in [
            ("web*.example.com", "web1.example.com", true),
            ("web*.example.com", "web1.dc.example.com", false),
            ("web**.example.com", "web1.dc.example.com", true),
            ("**.example.net", "core.rtr1.example.net", true),
            ("web*", "web1", true),
            ("web*", "web1.x", false),
            ("load?", "load5", true),
            ("load?", "load10", false),
            ("a*b*c", "axxbyyc", true),
            ("", "", true),
            ("*", "", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(pattern, text), matches, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn items_are_globs_regexes_or_cidr_ranges() {
        let holds = |item: &str, value: &str| Item::parse(item).unwrap().holds(value);
        assert!(holds("/^db[0-9]+$/", "db12"));
        assert!(!holds("/^db[0-9]+$/", "db12x"));
        assert!(holds("10.0.0.0/8", "10.1.2.3"));
        assert!(!holds("10.0.0.0/8", "11.1.2.3"));
        assert!(!holds("10.0.0.0/8", "ten.example"), "no DNS lookups");
        assert!(holds("10.0.0.0/8", "::ffff:10.9.9.9"), "mapped v4");
        assert!(holds("2001:db8::/32", "2001:db8::1"));
        assert!(holds("0.0.0.0/0", "192.0.2.1"));
        assert!(Item::parse("/([a/").is_err());
        assert!(Item::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn importance_ranges() {
        assert_eq!(parse_range(">= 80"), Ok((80, u32::MAX)));
        assert_eq!(parse_range("> 80"), Ok((81, u32::MAX)));
        assert_eq!(parse_range("< 20"), Ok((0, 19)));
        assert_eq!(parse_range("<= 20"), Ok((0, 20)));
        assert_eq!(parse_range("40..60"), Ok((40, 60)));
        assert_eq!(parse_range("= 50"), Ok((50, 50)));
        assert_eq!(parse_range("50"), Ok((50, 50)));
        for bad in ["", "high", "60..40", "< 0", ">= -1"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_key_given_must_hold() {
        let m = Matcher::new(&Match {
            source: vec!["core-rtr*.example.net".into(), "10.0.0.0/8".into()],
            summary: vec!["*link*".into()],
            importance: Some(">= 80".into()),
            ..Match::default()
        })
        .unwrap();
        let record = |summary: &str, importance: u32| Record {
            summary: summary.into(),
            importance,
            ..Record::default()
        };
        let key = AlertKey::new("10.2.3.4", "bgp");
        assert!(m.holds(&key, &record("uplink down", 90)));
        assert!(!m.holds(&key, &record("uplink down", 50)), "importance");
        assert!(!m.holds(&key, &record("fan", 90)), "summary");
        assert!(
            !m.holds(&AlertKey::new("web1", "bgp"), &record("link", 90)),
            "source"
        );
        assert!(!m.is_catch_all());
        assert!(Matcher::new(&Match::default()).unwrap().is_catch_all());
        let bad = Match {
            id: vec!["ok".into(), "/(/".into()],
            ..Match::default()
        };
        assert_eq!(Matcher::new(&bad).unwrap_err().0, "match.id[1]");
    }
}
