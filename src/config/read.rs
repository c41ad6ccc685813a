//! Reading a configuration's text into [`Config`], every problem of shape
//! at once: a value of the wrong type, an unknown key, an unknown
//! `[[notifier]] kind`, each with its line and dotted key.
//!
//! The text is parsed as TOML once (a syntax error stops the reading: what
//! follows it cannot be trusted), then read into `Config` from the parsed
//! tree. Each problem's path (`notifier[1].command`) is taken out of the
//! tree and the rest read again, so one mistake never hides another; the
//! taken-out part keeps its default. A path is found in the text by its
//! table headers and key, so the line is named without re-parsing.

use std::collections::BTreeMap;

use super::{redact, Config, ConfigError, Problem, Shown};

/// At most this many problems are reported from one file.
const MAX_PROBLEMS: usize = 100;

/// One step of a path into the tree.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Key(String),
    Index(usize),
}

impl Config {
    /// Reads the file's data, reporting every key of the wrong type or
    /// name rather than the first (each taken out keeps its default). A
    /// syntax error stops the reading.
    pub(crate) fn read_all(
        text: &str,
        origin: &str,
    ) -> Result<(Config, Vec<Problem>, Placing), ConfigError> {
        let mut table: toml::Table = text.parse().map_err(|err| ConfigError::Parse {
            path: origin.to_owned(),
            what: super::syntax_problem(text, &err),
        })?;
        let mut problems: Vec<(usize, Problem)> = Vec::new();
        let mut taken = Taken::default();
        let mut emptied: std::collections::BTreeSet<Vec<Step>> = Default::default();
        loop {
            let read: Result<Config, _> =
                serde_path_to_error::deserialize(toml::Value::Table(table.clone()));
            let err = match read {
                Ok(mut config) => {
                    config.follow_given_keys();
                    config.shown = Shown(redact::shown(text));
                    problems.sort_by_key(|(line, _)| *line);
                    let problems = problems.into_iter().map(|(_, p)| p).collect();
                    let placing = Placing {
                        places: places(text),
                        taken,
                    };
                    return Ok((config, problems, placing));
                }
                Err(err) => err,
            };
            let path = steps(err.path());
            let message = err.inner().to_string();
            let message = message.lines().next().unwrap_or("").trim().to_owned();
            let original = taken.original(&path);
            // A table whose wrong key was taken out may now miss it: said
            // once, as the wrong key.
            let cascade = message.starts_with("missing field") && emptied.contains(&original);
            if !cascade {
                // A table refused as a whole for one of its keys (a key of
                // another notifier kind): that key is named, and its line.
                let mut shown = original.clone();
                if let (Some(Step::Index(_)), Some(field)) = (
                    original.last(),
                    message
                        .strip_prefix("unknown field `")
                        .and_then(|rest| rest.split('`').next()),
                ) {
                    shown.push(Step::Key(field.to_owned()));
                }
                let line = locate(text, &shown);
                problems.push((line.unwrap_or(usize::MAX), problem(&shown, line, message)));
            }
            if let Some((Step::Key(_), parent)) = original.split_last() {
                emptied.insert(parent.to_vec());
            }
            if path.is_empty() || problems.len() >= MAX_PROBLEMS || !take_out(&mut table, &path) {
                problems.sort_by_key(|(line, _)| *line);
                return Err(ConfigError::Invalid {
                    path: origin.to_owned(),
                    problems: problems.into_iter().map(|(_, p)| p).collect(),
                });
            }
            taken.record(&original);
        }
    }
}

/// Where the checks made after reading (values, routing) find their
/// problems in the file: their indices counted over the elements taken out
/// for a problem of shape, and their line.
pub(crate) struct Placing {
    places: BTreeMap<Vec<Step>, usize>,
    taken: Taken,
}

impl Placing {
    /// `problem` with its key's indices as written and its line.
    pub(crate) fn place(&self, problem: Problem) -> Problem {
        if problem.key.starts_with("line ") {
            return problem;
        }
        let Some(path) = parse_dotted(&problem.key) else {
            return problem;
        };
        let original = self.taken.original(&path);
        let line = locate_in(&self.places, &original);
        let key = dotted(&original);
        Problem {
            key: match line {
                Some(line) => format!("line {}: {key}", line + 1),
                None => key,
            },
            what: problem.what,
        }
    }
}

/// `notifier[1].command` as steps; `None` for a key not written that way.
fn parse_dotted(key: &str) -> Option<Vec<Step>> {
    let mut path = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if name.is_empty() {
            return None;
        }
        path.push(Step::Key(name.to_owned()));
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']')?;
            path.push(Step::Index(index.parse().ok()?));
            rest = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return None;
            }
        }
    }
    Some(path)
}

fn steps(path: &serde_path_to_error::Path) -> Vec<Step> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Map { key } => Some(Step::Key(key.clone())),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// `notifier[1].command`.
fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A problem as said: its line, its dotted key and what is wrong (for an
/// unknown key the nearest known one; for a key that holds a secret, not
/// the value serde quotes).
fn problem(path: &[Step], line: Option<usize>, mut what: String) -> Problem {
    let last_key = path.iter().rev().find_map(|s| match s {
        Step::Key(k) => Some(k.as_str()),
        Step::Index(_) => None,
    });
    if last_key.is_some_and(redact::is_secret_name) && what.starts_with("invalid") {
        let expected = what.rsplit_once(", expected ").map(|(_, e)| e.to_owned());
        what = format!(
            "invalid value (not shown: a secret); expected {}",
            expected.as_deref().unwrap_or("another value")
        );
    } else if what.starts_with("unknown field") {
        let named = super::backticked(&what);
        if let (Some(word), Some(candidates)) = (named.first(), named.get(1..)) {
            if let Some(near) = super::nearest(word, candidates) {
                what = format!("unknown key; did you mean `{near}`? ({what})");
            }
        }
    }
    let key = dotted(path);
    Problem {
        key: match line {
            Some(line) => format!("line {}: {key}", line + 1),
            None => key,
        },
        what,
    }
}

/// Takes the value at `path` out of the tree; false if there is none.
fn take_out(table: &mut toml::Table, path: &[Step]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut here: &mut toml::Value = match parents.first() {
        Some(Step::Key(key)) => match table.get_mut(key) {
            Some(value) => value,
            None => return false,
        },
        Some(Step::Index(_)) => return false,
        None => {
            return match last {
                Step::Key(key) => table.remove(key).is_some(),
                Step::Index(_) => false,
            }
        }
    };
    for step in &parents[1..] {
        let next = match (step, here) {
            (Step::Key(key), toml::Value::Table(t)) => t.get_mut(key),
            (Step::Index(i), toml::Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(value) => here = value,
            None => return false,
        }
    }
    match (last, here) {
        (Step::Key(key), toml::Value::Table(t)) => t.remove(key).is_some(),
        (Step::Index(i), toml::Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// Array elements taken out so far, by their array's path as written, so
/// that a later problem's indices name the elements of the file.
#[derive(Default)]
struct Taken(BTreeMap<Vec<Step>, Vec<usize>>);

impl Taken {
    /// `path` with each index turned from the tree's to the file's.
    fn original(&self, path: &[Step]) -> Vec<Step> {
        let mut out: Vec<Step> = Vec::with_capacity(path.len());
        for step in path {
            match step {
                Step::Index(i) => {
                    let gone = self.0.get(&out).map(Vec::as_slice).unwrap_or(&[]);
                    // The i-th element still there, counting over those gone.
                    let mut index = 0;
                    let mut left = *i;
                    loop {
                        if !gone.contains(&index) {
                            if left == 0 {
                                break;
                            }
                            left -= 1;
                        }
                        index += 1;
                    }
                    out.push(Step::Index(index));
                }
                key => out.push(key.clone()),
            }
        }
        out
    }

    /// Remembers an element taken out (a path that ends in an index).
    fn record(&mut self, original: &[Step]) {
        if let Some((Step::Index(i), array)) = original.split_last() {
            self.0.entry(array.to_vec()).or_default().push(*i);
        }
    }
}

/// The 0-based line of `path` in `text`: its key's line in its table (or
/// its table's header, for a whole element); the nearest ancestor found
/// when the path is written in a way this does not follow (inline tables).
fn locate(text: &str, path: &[Step]) -> Option<usize> {
    locate_in(&places(text), path)
}

/// The line of `path` among `places` (see [`places`]): its own, else its
/// nearest ancestor's.
fn locate_in(places: &BTreeMap<Vec<Step>, usize>, path: &[Step]) -> Option<usize> {
    (1..=path.len())
        .rev()
        .find_map(|n| places.get(&path[..n]).copied())
}

/// Every table and key written in `text`, as a path, with the first line
/// it is written on: one pass, so that placing many problems costs the
/// text once.
fn places(text: &str) -> BTreeMap<Vec<Step>, usize> {
    // The tables written so far: each `[[name]]` counts its elements,
    // counted afresh under each new element of its parent.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    // Where the lines below the last header are, as a path.
    let mut table: Vec<Step> = Vec::new();
    let mut found: BTreeMap<Vec<Step>, usize> = BTreeMap::new();
    for (line, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if let Some(header) = trimmed
            .strip_prefix("[[")
            .and_then(|h| h.split("]]").next())
        {
            let name = header.trim().to_owned();
            counts.retain(|other, _| !other.starts_with(&format!("{name}.")));
            let n = *counts.get(&name).unwrap_or(&0);
            table = header_path(&name, &counts, Some(n));
            counts.insert(name, n + 1);
            found.entry(table.clone()).or_insert(line);
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[').and_then(|h| h.split(']').next()) {
            table = header_path(header.trim(), &counts, None);
            found.entry(table.clone()).or_insert(line);
            continue;
        }
        let Some((key, _)) = trimmed.split_once('=') else {
            continue;
        };
        let mut here = table.clone();
        for part in key.split('.') {
            here.push(Step::Key(part.trim().trim_matches('"').to_owned()));
        }
        found.entry(here).or_insert(line);
    }
    found
}

/// The path of a table header: each dotted name, an array's element where
/// one of `[[…]]` is open (the current one), `index` for the header's own.
fn header_path(name: &str, counts: &BTreeMap<String, usize>, index: Option<usize>) -> Vec<Step> {
    let mut out = Vec::new();
    let mut prefix = String::new();
    let parts: Vec<&str> = name
        .split('.')
        .map(|p| p.trim().trim_matches('"'))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(part);
        out.push(Step::Key((*part).to_owned()));
        let last = i + 1 == parts.len();
        match (last, index) {
            (true, Some(n)) => out.push(Step::Index(n)),
            (false, _) => {
                if let Some(n) = counts.get(&prefix) {
                    out.push(Step::Index(n.saturating_sub(1)));
                }
            }
            (true, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Step {
        Step::Key(k.into())
    }

    #[test]
    fn paths_are_found_by_headers_and_keys() {
        let text = "a = 1\n[store]\nflush_interval_ms = 3\n[[notifier]]\nname = \"x\"\n[[notifier]]\nname = \"y\"\ncommand = \"z\"\n[[alert_group]]\nname = \"g\"\n[[alert_group.notify]]\nwho = []\n[[alert_group]]\n[[alert_group.notify]]\nwho = [1]\n";
        assert_eq!(locate(text, &[key("a")]), Some(0));
        assert_eq!(
            locate(text, &[key("store"), key("flush_interval_ms")]),
            Some(2)
        );
        assert_eq!(
            locate(text, &[key("notifier"), Step::Index(1), key("command")]),
            Some(7)
        );
        assert_eq!(locate(text, &[key("notifier"), Step::Index(1)]), Some(5));
        let who = [
            key("alert_group"),
            Step::Index(1),
            key("notify"),
            Step::Index(0),
            key("who"),
        ];
        assert_eq!(locate(text, &who), Some(14));
        // Not written as a key of its own: its table's line.
        assert_eq!(locate(text, &[key("store"), key("path")]), Some(1));
    }

    #[test]
    fn a_later_problem_is_placed_by_the_elements_as_written() {
        let text = "[[notifier]]\nname = \"a\"\n[[notifier]]\nname = \"b\"\nurl = \"x\"\n";
        let mut taken = Taken::default();
        taken.record(&[key("notifier"), Step::Index(0)]);
        let placing = Placing {
            places: places(text),
            taken,
        };
        let placed = placing.place(Problem {
            key: "notifier[0].url".into(),
            what: "wrong".into(),
        });
        assert_eq!(placed.key, "line 5: notifier[1].url");
        assert_eq!(
            parse_dotted("a.b[2][3].c"),
            Some(vec![
                key("a"),
                key("b"),
                Step::Index(2),
                Step::Index(3),
                key("c")
            ])
        );
        assert_eq!(parse_dotted("a[x]"), None);
    }

    #[test]
    fn indices_count_the_elements_taken_out() {
        let mut taken = Taken::default();
        taken.record(&[key("notifier"), Step::Index(0)]);
        taken.record(&[key("notifier"), Step::Index(2)]);
        assert_eq!(
            taken.original(&[key("notifier"), Step::Index(0), key("name")]),
            [key("notifier"), Step::Index(1), key("name")]
        );
        assert_eq!(
            taken.original(&[key("notifier"), Step::Index(1)]),
            [key("notifier"), Step::Index(3)]
        );
    }
}
