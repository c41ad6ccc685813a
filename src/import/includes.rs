//! An alert group's `includes { … }` predicate as mauved `match` tables.
//!
//! mauved's `match` is a conjunction of keys, each a list of items any of
//! which may match. A predicate is brought to a disjunction of such
//! conjunctions; several conjunctions become consecutive groups with the
//! same clauses, which is the same thing under first-match-wins. Negation,
//! `detail` and Ruby beyond comparisons have no `match` form: the error says
//! which, for the report.

use std::collections::BTreeMap;

use super::parse::{Expr, Node};
use super::values::{eval, text, Val};

/// One `match` table: key → items (any may hold), and an importance range.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct MatchOut {
    pub(crate) fields: BTreeMap<&'static str, Vec<String>>,
    pub(crate) importance: Option<(u32, u32)>,
}

/// A predicate's atoms: a key with items (any), or an importance range.
#[derive(Clone, Debug, PartialEq)]
enum Atom {
    Field(&'static str, Vec<String>),
    Importance(u32, u32),
}

type Conjunction = Vec<Atom>;

/// More alternatives than this are not turned into groups.
const MAX_ALTERNATIVES: usize = 16;

/// Named lists of subjects (`source_list`), as `match` items.
pub(crate) type SourceLists = BTreeMap<String, Vec<String>>;

/// The predicate as alternatives (empty: it never holds; one empty table:
/// it always holds), each a `match` table.
pub(crate) fn translate(body: &[Node], lists: &SourceLists) -> Result<Vec<MatchOut>, String> {
    let Some(last) = body.last() else {
        // An empty block is nil: false.
        return Ok(Vec::new());
    };
    let alternatives = dnf(last, lists)?;
    let mut tables = Vec::new();
    for conjunction in alternatives {
        if let Some(table) = table(&conjunction)? {
            if !tables.contains(&table) {
                tables.push(table);
            }
        }
    }
    if tables.iter().any(|t| *t == MatchOut::default()) {
        return Ok(vec![MatchOut::default()]);
    }
    Ok(merge(tables))
}

fn dnf(node: &Node, lists: &SourceLists) -> Result<Vec<Conjunction>, String> {
    match &node.expr {
        Expr::Bool(true) => Ok(vec![Vec::new()]),
        Expr::Bool(false) | Expr::Nil => Ok(Vec::new()),
        Expr::Binary {
            op: "||",
            left,
            right,
        } => {
            let mut out = dnf(left, lists)?;
            out.extend(dnf(right, lists)?);
            if out.len() > MAX_ALTERNATIVES {
                return Err(format!(
                    "more than {MAX_ALTERNATIVES} alternatives: too many groups to write"
                ));
            }
            Ok(out)
        }
        Expr::Binary {
            op: "&&",
            left,
            right,
        } => both(dnf(left, lists)?, dnf(right, lists)?),
        Expr::Not(_)
        | Expr::Binary {
            op: "!=" | "!~", ..
        } => Err("a negation (`!`, `!=`, `!~`): mauved's `match` only says what to take".into()),
        Expr::Binary { op, left, right } => Ok(vec![vec![comparison(op, left, right)?]]),
        Expr::Call {
            recv: None,
            name,
            args,
            block: None,
        } if name == "in_source_list?" => {
            let [arg] = args.as_slice() else {
                return Err("in_source_list? takes the list's name".into());
            };
            let list = text(&eval(arg)?)?;
            let items = lists
                .get(&list)
                .ok_or_else(|| format!("there is no source_list {list:?}"))?;
            Ok(vec![vec![Atom::Field("subject", items.clone())]])
        }
        Expr::Call {
            recv: Some(recv),
            name,
            args,
            block: None,
        } => method_test(recv, name, args),
        _ => Err("Ruby code that is not a comparison on the alert".into()),
    }
}

/// `a && b` in disjunctive form: each alternative of one with each of the
/// other.
fn both(left: Vec<Conjunction>, right: Vec<Conjunction>) -> Result<Vec<Conjunction>, String> {
    if left.len() * right.len() > MAX_ALTERNATIVES {
        return Err(format!(
            "more than {MAX_ALTERNATIVES} alternatives: too many groups to write"
        ));
    }
    Ok(left
        .iter()
        .flat_map(|l| {
            right
                .iter()
                .map(move |r| l.iter().chain(r).cloned().collect())
        })
        .collect())
}

/// `subject.start_with?("web")` and its kind: one field's test.
fn method_test(recv: &Node, name: &str, args: &[Node]) -> Result<Vec<Conjunction>, String> {
    let field = field(recv)?;
    let arg = match args {
        [arg] => eval(arg)?,
        _ => return Err(format!("`.{name}` with other than one argument")),
    };
    let item = match (name, &arg) {
        ("start_with?", Val::Str(s)) => format!("/\\A{}/", escape(s)),
        ("end_with?", Val::Str(s)) => format!("/{}\\z/", escape(s)),
        ("include?", Val::Str(s)) => format!("/{}/", escape(s)),
        ("match" | "match?" | "=~", Val::Regex { source, flags }) => regex(source, flags)?,
        ("==" | "eql?", Val::Str(s)) => exact(s),
        _ => {
            return Err(format!(
                "`{}.{name}` is Ruby code mauved cannot follow",
                field
            ))
        }
    };
    Ok(vec![vec![Atom::Field(field, vec![item])]])
}

/// `source`, `alert_id`, `subject`, `summary` as mauved's `match` keys.
fn field(node: &Node) -> Result<&'static str, String> {
    let name = match &node.expr {
        Expr::Call {
            recv: None,
            name,
            args,
            block: None,
        } if args.is_empty() => name.as_str(),
        _ => return Err("a comparison on something other than the alert's fields".into()),
    };
    match name {
        "source" => Ok("source"),
        "alert_id" | "id" => Ok("id"),
        "subject" => Ok("subject"),
        "summary" => Ok("summary"),
        "detail" => {
            Err("mauved's `match` reads source, id, subject and summary, not detail".into())
        }
        "importance" => Ok("importance"),
        other => Err(format!(
            "`{other}` is not a field of the alert mauved matches on"
        )),
    }
}

fn comparison(op: &str, left: &Node, right: &Node) -> Result<Atom, String> {
    // `/re/ =~ source` reads like `source =~ /re/`; `50 < importance` like
    // `importance > 50`.
    let names_something = |node: &Node| matches!(&node.expr, Expr::Call { recv: None, args, block: None, .. } if args.is_empty());
    let (field_node, value_node, op) = if names_something(left) || !names_something(right) {
        (left, right, op.to_owned())
    } else {
        let flipped = match op {
            "<" => ">",
            ">" => "<",
            "<=" => ">=",
            ">=" => "<=",
            other => other,
        };
        (right, left, flipped.to_owned())
    };
    let key = field(field_node)?;
    let value = eval(value_node)?;
    if key == "importance" {
        let Val::Int(n) = value else {
            return Err("importance compared with something that is not a number".into());
        };
        let max = u32::MAX as i64;
        let (low, high) = match op.as_str() {
            ">=" => (n, max),
            ">" => (n.saturating_add(1), max),
            "<=" => (0, n),
            "<" => (0, n.saturating_sub(1)),
            "==" => (n, n),
            _ => return Err(format!("importance {op} is not a comparison mauved reads")),
        };
        let (low, high) = (low.clamp(0, max), high.clamp(-1, max));
        // An empty range (importance < 0) never holds: (1, 0).
        return Ok(if low > high {
            Atom::Importance(1, 0)
        } else {
            Atom::Importance(low as u32, high as u32)
        });
    }
    let item = match (op.as_str(), &value) {
        ("=~", Val::Regex { source, flags }) => regex(source, flags)?,
        ("==", Val::Str(s)) => exact(s),
        ("==", Val::Sym(s)) => {
            return Err(format!(
                "{key} == :{s} is never true (a symbol is not text)"
            ));
        }
        _ => {
            return Err(format!(
                "`{key} {op} …` is not a comparison mauved's `match` has"
            ))
        }
    };
    Ok(Atom::Field(key, vec![item]))
}

/// An exact value as an item: a glob is exact when it has no wildcards and
/// cannot be read as a regex or an address range.
fn exact(value: &str) -> String {
    let plain = !value.contains(['*', '?'])
        && !value.starts_with('/')
        && value
            .split_once('/')
            .is_none_or(|(addr, _)| addr.parse::<std::net::IpAddr>().is_err());
    if plain && !value.is_empty() {
        value.to_owned()
    } else {
        format!("/\\A{}\\z/", escape(value))
    }
}

fn escape(text: &str) -> String {
    regex::escape(text)
}

/// A Ruby regex as a mauved `/regex/` item. Ruby's `^` and `$` are line
/// anchors, so the item says `(?m)`; `\Z`, `\h` are spelt out; what the
/// `regex` crate has no form for (look-around, back-references) is an error.
pub(crate) fn regex(source: &str, flags: &str) -> Result<String, String> {
    let mut mode = String::from("m");
    for (ruby, ours) in [('i', 'i'), ('x', 'x'), ('m', 's')] {
        if flags.contains(ruby) {
            mode.push(ours);
        }
    }
    let body = source
        .replace(r"\Z", r"\n?\z")
        .replace(r"\h", "[0-9a-fA-F]")
        .replace(r"\H", "[^0-9a-fA-F]");
    let pattern = format!("(?{mode}){body}");
    regex::Regex::new(&pattern).map_err(|err| {
        format!(
            "/{source}/ has no equivalent in mauved's regexes: {}",
            first_line(&err.to_string())
        )
    })?;
    Ok(format!("/{pattern}/"))
}

fn first_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| text.lines().next().unwrap_or(""))
        .trim_start_matches("error: ")
        .to_owned()
}

/// A conjunction as one table; None when it can never hold.
fn table(conjunction: &Conjunction) -> Result<Option<MatchOut>, String> {
    let mut out = MatchOut::default();
    let mut importance = (0u32, u32::MAX);
    let mut ranged = false;
    for atom in conjunction {
        match atom {
            Atom::Importance(low, high) => {
                ranged = true;
                importance = (importance.0.max(*low), importance.1.min(*high));
            }
            // An empty list (a source_list with nothing in it) never holds;
            // written, it would read as "any value".
            Atom::Field(_, items) if items.is_empty() => return Ok(None),
            Atom::Field(key, items) => match out.fields.get(key) {
                Some(have) if have == items => {}
                Some(_) => {
                    return Err(format!(
                        "`{key}` must match two things at once; mauved's `match` takes one list per key"
                    ))
                }
                None => {
                    out.fields.insert(key, items.clone());
                }
            },
        }
    }
    if ranged {
        if importance.0 > importance.1 {
            return Ok(None);
        }
        out.importance = Some(importance);
    }
    Ok(Some(out))
}

/// Tables that differ in one key only become one table with both lists.
fn merge(mut tables: Vec<MatchOut>) -> Vec<MatchOut> {
    'again: loop {
        for i in 0..tables.len() {
            for j in i + 1..tables.len() {
                if let Some(joined) = join(&tables[i], &tables[j]) {
                    tables[i] = joined;
                    tables.remove(j);
                    continue 'again;
                }
            }
        }
        return tables;
    }
}

fn join(a: &MatchOut, b: &MatchOut) -> Option<MatchOut> {
    if a.importance != b.importance
        || a.fields.keys().collect::<Vec<_>>() != b.fields.keys().collect::<Vec<_>>()
    {
        return None;
    }
    let differ: Vec<&&str> = a
        .fields
        .iter()
        .filter(|(k, v)| b.fields.get(**k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    let [key] = differ.as_slice() else {
        return None;
    };
    let mut out = a.clone();
    let list = out.fields.get_mut(**key)?;
    for item in &b.fields[**key] {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::{lex, parse};
    use super::*;

    fn tables(text: &str) -> Result<Vec<MatchOut>, String> {
        let tokens = lex::tokens(text).unwrap();
        let body = parse::program(&tokens, text).unwrap();
        let lists = SourceLists::from([(
            "core".to_owned(),
            vec!["10.0.0.0/8".to_owned(), "rtr1.example.net".to_owned()],
        )]);
        translate(&body, &lists)
    }

    fn one(pairs: &[(&'static str, &[&str])]) -> MatchOut {
        MatchOut {
            fields: pairs
                .iter()
                .map(|(k, v)| (*k, v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            importance: None,
        }
    }

    #[test]
    fn comparisons_become_match_tables() {
        assert_eq!(tables("true"), Ok(vec![MatchOut::default()]));
        assert_eq!(tables("false"), Ok(vec![]));
        assert_eq!(
            tables("source =~ /^web/ || source =~ /^app/i"),
            Ok(vec![one(&[("source", &["/(?m)^web/", "/(?mi)^app/"])])])
        );
        assert_eq!(
            tables("alert_id == 'disk' && subject == \"db1\""),
            Ok(vec![one(&[("id", &["disk"]), ("subject", &["db1"])])])
        );
        // Different keys: two groups.
        assert_eq!(
            tables("alert_id =~ /disk/ || subject == 'x*'"),
            Ok(vec![
                one(&[("id", &["/(?m)disk/"])]),
                one(&[("subject", &["/\\Ax\\*\\z/"])])
            ])
        );
        let ranged = tables("importance >= 50 and importance < 80").unwrap();
        assert_eq!(ranged[0].importance, Some((50, 79)));
        assert_eq!(tables("importance > 80 && importance < 20"), Ok(vec![]));
        assert_eq!(
            tables("in_source_list?('core')"),
            Ok(vec![one(&[(
                "subject",
                &["10.0.0.0/8", "rtr1.example.net"]
            )])])
        );
        assert_eq!(
            tables("summary =~ /disk full/ or summary == 'swap'"),
            Ok(vec![one(&[("summary", &["/(?m)disk full/", "swap"])])])
        );
        assert_eq!(
            tables("source.start_with?('web.')"),
            Ok(vec![one(&[("source", &["/\\Aweb\\./"])])])
        );
    }

    #[test]
    fn what_match_cannot_say_is_an_error_that_says_why() {
        assert!(tables("source !~ /web/").unwrap_err().contains("negation"));
        assert!(tables("!(source == 'a')").unwrap_err().contains("negation"));
        assert!(tables("detail =~ /x/").unwrap_err().contains("detail"));
        assert!(tables("source =~ /(?<=a)b/")
            .unwrap_err()
            .contains("no equivalent"));
        assert!(tables("source =~ /a/ && source =~ /b/")
            .unwrap_err()
            .contains("two things"));
        assert!(tables("File.exist?('/x')").is_err());
    }
}
