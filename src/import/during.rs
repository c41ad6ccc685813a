//! A `during { … }` block as a mauved window (and an escalation delay).
//!
//! mauve evaluates the block at a moment; mauved names windows. The helpers
//! (`hours_in_day`, `days_in_week`, `working_hours?`, `daytime_hours?`,
//! `dead_zone?`, `bank_holiday?`) become windows, `!`, `&&` and `||` become
//! `not`, `all` and `any`, and `unacknowledged N` beside them becomes the
//! clause's `unacknowledged_for`. Each window is written once, named after
//! what it is.

use std::collections::BTreeMap;

use super::parse::{Expr, Node};
use super::values::{eval, seconds, Val};
use crate::config::WindowSpec;

/// When a clause may tell people, as a tree.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum When {
    Always,
    Never,
    /// A built-in (or top-level configured) window: working, daytime, dead_zone.
    Named(&'static str),
    BankHoliday,
    /// Minutes of the day, [from, to); from > to wraps past midnight.
    Hours(u16, u16),
    /// Days of the week, Monday first.
    Days([bool; 7]),
    Not(Box<When>),
    All(Vec<When>),
    Any(Vec<When>),
    /// `unacknowledged N` (`raised_for` when the flag is set): taken out of
    /// the tree into the clause's `unacknowledged_for`.
    Unacked(u64, bool),
}

/// A translated `during`: the window and the escalation delay.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct During {
    pub(crate) when: When,
    pub(crate) unacknowledged_for: u64,
    /// `raised_for` was used: mauved's delay also ends at an acknowledgement.
    pub(crate) raised_for: bool,
    /// Lines of the block that do nothing (only the last line decides).
    pub(crate) ignored: Vec<u32>,
}

pub(crate) fn translate(body: &[Node]) -> Result<During, String> {
    let Some(last) = body.last() else {
        return Ok(During {
            when: When::Never,
            unacknowledged_for: 0,
            raised_for: false,
            ignored: Vec::new(),
        });
    };
    let when = tree(last)?;
    let (when, unacked) = take_escalation(when)?;
    Ok(During {
        when: simplify(when),
        unacknowledged_for: unacked.map_or(0, |(n, _)| n),
        raised_for: unacked.is_some_and(|(_, raised)| raised),
        ignored: body[..body.len() - 1].iter().map(|n| n.line).collect(),
    })
}

fn tree(node: &Node) -> Result<When, String> {
    match &node.expr {
        Expr::Bool(true) => Ok(When::Always),
        Expr::Bool(false) | Expr::Nil => Ok(When::Never),
        Expr::Not(inner) => Ok(When::Not(Box::new(tree(inner)?))),
        Expr::Binary {
            op: "&&",
            left,
            right,
        } => Ok(When::All(vec![tree(left)?, tree(right)?])),
        Expr::Binary {
            op: "||",
            left,
            right,
        } => Ok(When::Any(vec![tree(left)?, tree(right)?])),
        Expr::Call {
            recv: None,
            name,
            args,
            block: None,
        } => helper(name, args),
        Expr::Opaque(text) => Err(format!("`{text}` is Ruby code")),
        _ => Err("Ruby code that is not one of mauve's `during` helpers".into()),
    }
}

fn helper(name: &str, args: &[Node]) -> Result<When, String> {
    let values = || args.iter().map(eval).collect::<Result<Vec<_>, _>>();
    match name {
        "working_hours?" => Ok(When::Named("working")),
        "daytime_hours?" => Ok(When::Named("daytime")),
        "dead_zone?" => Ok(When::Named("dead_zone")),
        "bank_holiday?" => Ok(When::BankHoliday),
        "hours_in_day" => hours(&values()?),
        "days_in_week" => days(&values()?),
        "unacknowledged" | "raised_for" => match values()?.as_slice() {
            [value] => Ok(When::Unacked(seconds(value)?, name == "raised_for")),
            _ => Err(format!("`{name}` takes a length of time")),
        },
        "no_one_in" => Err("`no_one_in` asks a calendar when mauve runs".into()),
        other => Err(format!("`{other}` is not one of mauve's `during` helpers")),
    }
}

/// `hours_in_day 9..17` is the hours 9 to 17 inclusive (09:00-18:00):
/// `whole_hours`, as mauve compares the hour. `working_hours 9..17.5`
/// compares hours and minutes as a fraction: 09:00-17:30. `9...17` ends at
/// 17:00 either way.
pub(crate) fn minute_ranges(values: &[Val], whole_hours: bool) -> Result<Vec<(u16, u16)>, String> {
    let mut ranges = Vec::new();
    let minute = |v: &Val| -> Result<f64, String> {
        match v {
            Val::Int(n) => Ok(*n as f64 * 60.0),
            Val::Float(f) => Ok(f * 60.0),
            other => Err(format!("{} is not an hour", super::values::show(other))),
        }
    };
    let mut add = |from: f64, to: f64| -> Result<(), String> {
        if !(0.0..=1440.0).contains(&from) || !(0.0..=1440.0).contains(&to) {
            return Err("hours outside 0 to 24".into());
        }
        if from < to {
            ranges.push((from.round() as u16, to.round() as u16));
        }
        Ok(())
    };
    for value in values {
        match value {
            Val::Int(_) => {
                let m = minute(value)?;
                add(m, m + 60.0)?;
            }
            Val::Range {
                low,
                high,
                exclusive,
            } => {
                let (from, to) = (minute(low)?, minute(high)?);
                // An inclusive range of whole hours takes the last hour whole.
                let whole = whole_hours && matches!(**high, Val::Int(_)) && !exclusive;
                add(from, if whole { to + 60.0 } else { to })?;
            }
            Val::Array(items) => {
                for (from, to) in minute_ranges(items, whole_hours)? {
                    add(from as f64, to as f64)?;
                }
            }
            other => {
                return Err(format!(
                    "{} is not an hour or a range of hours",
                    super::values::show(other)
                ))
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (from, to) in ranges {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    Ok(merged)
}

fn hours(values: &[Val]) -> Result<When, String> {
    Ok(joined(minute_ranges(values, true)?))
}

/// Sorted, merged ranges of minutes as one tree: 22:00-24:00 with
/// 00:00-07:00 is one range across midnight.
fn joined(mut ranges: Vec<(u16, u16)>) -> When {
    // 22..23 with 0..6: one range across midnight.
    if ranges.len() > 1 && ranges[0].0 == 0 && ranges[ranges.len() - 1].1 == 1440 {
        let first = ranges.remove(0);
        if let Some(last) = ranges.last_mut() {
            last.1 = first.1;
        }
    }
    match ranges.as_slice() {
        [] => When::Never,
        [(0, 1440)] => When::Always,
        [(from, to)] => When::Hours(*from, *to),
        many => When::Any(many.iter().map(|(f, t)| When::Hours(*f, *t)).collect()),
    }
}

/// The ranges of hours among alternatives, merged into one.
fn merge_hours(items: Vec<When>) -> Vec<When> {
    let mut ranges = Vec::new();
    let mut rest = Vec::new();
    for item in items {
        match item {
            When::Hours(from, to) if from < to => ranges.push((from, to)),
            When::Hours(from, to) => {
                ranges.push((from, 1440));
                ranges.push((0, to));
            }
            other => rest.push(other),
        }
    }
    if ranges.is_empty() {
        return rest;
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (from, to) in ranges {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    match joined(merged) {
        When::Any(hours) => rest.extend(hours),
        one => rest.push(one),
    }
    rest
}

/// `days_in_week 1..5`: Ruby's days, 0 = Sunday.
fn days(values: &[Val]) -> Result<When, String> {
    let mut week = [false; 7];
    let mut mark = |day: i64| -> Result<(), String> {
        if !(0..=7).contains(&day) {
            return Err(format!("{day} is not a day of the week (0 = Sunday … 6)"));
        }
        week[((day + 6) % 7) as usize] = true;
        Ok(())
    };
    fn each(values: &[Val], mark: &mut dyn FnMut(i64) -> Result<(), String>) -> Result<(), String> {
        for value in values {
            match value {
                Val::Int(n) => mark(*n)?,
                Val::Range {
                    low,
                    high,
                    exclusive,
                } => match (&**low, &**high) {
                    (Val::Int(a), Val::Int(b)) => {
                        let end = if *exclusive { *b } else { b.saturating_add(1) };
                        for d in *a..end.min(*a + 8) {
                            mark(d)?;
                        }
                    }
                    _ => return Err("a range of days that is not whole numbers".into()),
                },
                Val::Array(items) => each(items, mark)?,
                other => {
                    return Err(format!(
                        "{} is not a day of the week",
                        super::values::show(other)
                    ))
                }
            }
        }
        Ok(())
    }
    each(values, &mut mark)?;
    Ok(match week.iter().filter(|d| **d).count() {
        0 => When::Never,
        7 => When::Always,
        _ => When::Days(week),
    })
}

/// Takes `unacknowledged N` out of a top-level `&&` (or alone).
fn take_escalation(when: When) -> Result<(When, Option<(u64, bool)>), String> {
    let nested = |w: &When| contains_unacked(w);
    match when {
        When::Unacked(n, raised) => Ok((When::Always, Some((n, raised)))),
        When::All(items) => {
            let mut flat = Vec::new();
            flatten_all(items, &mut flat);
            let mut delay: Option<(u64, bool)> = None;
            let mut rest = Vec::new();
            for item in flat {
                match item {
                    When::Unacked(n, raised) => {
                        let (m, r) = delay.unwrap_or((0, false));
                        delay = Some((m.max(n), r || raised));
                    }
                    other if nested(&other) => return Err(under()),
                    other => rest.push(other),
                }
            }
            let when = match rest.len() {
                0 => When::Always,
                1 => rest.remove(0),
                _ => When::All(rest),
            };
            Ok((when, delay))
        }
        other if nested(&other) => Err(under()),
        other => Ok((other, None)),
    }
}

fn under() -> String {
    "`unacknowledged` under `||` or `!`: mauved delays a whole clause, once".into()
}

fn flatten_all(items: Vec<When>, out: &mut Vec<When>) {
    for item in items {
        match item {
            When::All(inner) => flatten_all(inner, out),
            other => out.push(other),
        }
    }
}

fn contains_unacked(when: &When) -> bool {
    match when {
        When::Unacked(..) => true,
        When::Not(inner) => contains_unacked(inner),
        When::All(items) | When::Any(items) => items.iter().any(contains_unacked),
        _ => false,
    }
}

fn simplify(when: When) -> When {
    match when {
        When::Not(inner) => match simplify(*inner) {
            When::Not(x) => *x,
            When::Always => When::Never,
            When::Never => When::Always,
            other => When::Not(Box::new(other)),
        },
        When::All(items) => match operands(items, true) {
            Err(short) => short,
            Ok(mut flat) => match flat.len() {
                0 => When::Always,
                1 => flat.remove(0),
                _ => When::All(flat),
            },
        },
        When::Any(items) => {
            let flat = match operands(items, false) {
                Err(short) => return short,
                Ok(flat) => flat,
            };
            let mut flat = merge_hours(flat);
            if flat.contains(&When::Always) {
                return When::Always;
            }
            match flat.len() {
                0 => When::Never,
                1 => flat.remove(0),
                _ => When::Any(flat),
            }
        }
        other => other,
    }
}

/// The simplified operands of an `all` (or `any`): nested ones of the same
/// kind flattened, the neutral element and repeats dropped; Err with the
/// result when one operand decides it (never in an `all`, always in an
/// `any`).
fn operands(items: Vec<When>, all: bool) -> Result<Vec<When>, When> {
    let (neutral, decisive) = if all {
        (When::Always, When::Never)
    } else {
        (When::Never, When::Always)
    };
    let mut flat = Vec::new();
    for item in items.into_iter().map(simplify) {
        match item {
            i if i == neutral => {}
            i if i == decisive => return Err(decisive),
            When::All(inner) if all => flat.extend(inner),
            When::Any(inner) if !all => flat.extend(inner),
            other if !flat.contains(&other) => flat.push(other),
            _ => {}
        }
    }
    Ok(flat)
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `mon-fri`, `mon,wed-fri`.
pub(crate) fn days_text(week: &[bool; 7]) -> String {
    let mut parts = Vec::new();
    let mut d = 0;
    while d < 7 {
        if !week[d] {
            d += 1;
            continue;
        }
        let start = d;
        while d + 1 < 7 && week[d + 1] {
            d += 1;
        }
        parts.push(if start == d {
            DAYS[d].to_owned()
        } else {
            format!("{}-{}", DAYS[start], DAYS[d])
        });
        d += 1;
    }
    parts.join(",")
}

pub(crate) fn hours_text(from: u16, to: u16) -> String {
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        from / 60,
        from % 60,
        to / 60,
        to % 60
    )
}

/// The windows a translation writes, by name, and the name of each tree.
#[derive(Default)]
pub(crate) struct Windows {
    pub(crate) specs: BTreeMap<String, WindowSpec>,
    names: BTreeMap<When, String>,
}

impl Windows {
    /// A window of one's own for a configured built-in (`working_hours 9..17`).
    pub(crate) fn define(&mut self, name: &str, spec: WindowSpec) {
        self.specs.insert(name.to_owned(), spec);
    }

    /// The window name for a tree, writing the windows it needs.
    pub(crate) fn name(&mut self, when: &When) -> String {
        if let Some(name) = self.names.get(when) {
            return name.clone();
        }
        let (name, spec) = match when {
            When::Always => return "always".into(),
            When::Named(name) => return (*name).to_owned(),
            When::Never => (
                "never".to_owned(),
                WindowSpec {
                    not: Some("always".into()),
                    ..WindowSpec::default()
                },
            ),
            When::BankHoliday => {
                let not = self.name(&When::Not(Box::new(When::BankHoliday)));
                (
                    "bank_holiday".to_owned(),
                    WindowSpec {
                        not: Some(not),
                        ..WindowSpec::default()
                    },
                )
            }
            When::Not(inner) if **inner == When::BankHoliday => (
                "not_bank_holiday".to_owned(),
                WindowSpec {
                    except_holidays: true,
                    ..WindowSpec::default()
                },
            ),
            When::Hours(from, to) => (
                format!("hours_{}", hours_text(*from, *to).replace([':', '-'], "")),
                WindowSpec {
                    hours: Some(hours_text(*from, *to)),
                    ..WindowSpec::default()
                },
            ),
            When::Days(week) => (
                format!("days_{}", days_text(week).replace([',', '-'], "_")),
                WindowSpec {
                    days: Some(days_text(week)),
                    ..WindowSpec::default()
                },
            ),
            // Days and one range of hours that does not wrap: one window
            // (a wrapping range would count from the day it started).
            When::All(items) if days_and_hours(items).is_some() => {
                let (week, from, to) = days_and_hours(items).unwrap_or(([true; 7], 0, 1440));
                days_with_hours(&week, from, to)
            }
            When::Not(inner) => {
                let inner = self.name(inner);
                (
                    format!("not_{inner}"),
                    WindowSpec {
                        not: Some(inner),
                        ..WindowSpec::default()
                    },
                )
            }
            When::All(items) | When::Any(items) => {
                let names: Vec<String> = items.iter().map(|w| self.name(w)).collect();
                let all = matches!(when, When::All(_));
                (
                    names.join(if all { "_and_" } else { "_or_" }),
                    WindowSpec {
                        all: if all { names.clone() } else { Vec::new() },
                        any: if all { Vec::new() } else { names },
                        ..WindowSpec::default()
                    },
                )
            }
            When::Unacked(..) => return "always".into(),
        };
        self.keep(when, name, spec)
    }

    /// Keeps a window under its name (a numbered one where the name is too
    /// long or taken by another window): the name.
    fn keep(&mut self, when: &When, name: String, spec: WindowSpec) -> String {
        let name = if name.len() > 48 || self.specs.get(&name).is_some_and(|s| *s != spec) {
            format!("during_{}", self.specs.len() + 1)
        } else {
            name
        };
        self.specs.insert(name.clone(), spec);
        self.names.insert(when.clone(), name.clone());
        name
    }
}

/// One window of days and a range of hours: its name and spec.
fn days_with_hours(week: &[bool; 7], from: u16, to: u16) -> (String, WindowSpec) {
    (
        format!(
            "days_{}_hours_{}",
            days_text(week).replace([',', '-'], "_"),
            hours_text(from, to).replace([':', '-'], "")
        ),
        WindowSpec {
            days: Some(days_text(week)),
            hours: Some(hours_text(from, to)),
            ..WindowSpec::default()
        },
    )
}

fn days_and_hours(items: &[When]) -> Option<([bool; 7], u16, u16)> {
    match items {
        [When::Days(week), When::Hours(from, to)] | [When::Hours(from, to), When::Days(week)]
            if from < to =>
        {
            Some((*week, *from, *to))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{lex, parse};
    use super::*;

    fn during(text: &str) -> Result<During, String> {
        let tokens = lex::tokens(text).unwrap();
        translate(&parse::program(&tokens, text).unwrap())
    }

    fn when(text: &str) -> When {
        during(text).unwrap().when
    }

    #[test]
    fn helpers_become_windows() {
        assert_eq!(when("hours_in_day 9..17"), When::Hours(540, 1080));
        assert_eq!(when("hours_in_day(9...17)"), When::Hours(540, 1020));
        assert_eq!(when("hours_in_day 22..23, 0..6"), When::Hours(1320, 420));
        assert_eq!(when("hours_in_day 0..23"), When::Always);
        assert_eq!(
            when("hours_in_day(22..23) || hours_in_day(0...7)"),
            When::Hours(1320, 420)
        );
        assert_eq!(
            when("hours_in_day(8) || hours_in_day(9) || dead_zone?"),
            When::Any(vec![When::Named("dead_zone"), When::Hours(480, 600)])
        );
        let weekdays = [true, true, true, true, true, false, false];
        assert_eq!(when("days_in_week 1..5"), When::Days(weekdays));
        assert_eq!(days_text(&weekdays), "mon-fri");
        assert_eq!(
            days_text(&[true, false, true, true, false, false, true]),
            "mon,wed-thu,sun"
        );
        assert_eq!(
            when("days_in_week(1..5) && hours_in_day(9..17)"),
            When::All(vec![When::Days(weekdays), When::Hours(540, 1080)])
        );
        assert_eq!(
            when("!working_hours?"),
            When::Not(Box::new(When::Named("working")))
        );
        assert_eq!(when("true"), When::Always);
        assert_eq!(when("!(!daytime_hours?)"), When::Named("daytime"));
        let escalation = during("unacknowledged 2.hours and working_hours?").unwrap();
        assert_eq!(escalation.when, When::Named("working"));
        assert_eq!(escalation.unacknowledged_for, 7_200);
        let alone = during("unacknowledged(30.minutes)").unwrap();
        assert_eq!(
            (alone.when, alone.unacknowledged_for),
            (When::Always, 1_800)
        );
        assert!(during("unacknowledged(1.hour) || dead_zone?")
            .unwrap_err()
            .contains("under"));
        assert!(during("no_one_in('ops')").unwrap_err().contains("calendar"));
        assert_eq!(
            during("hours_in_day 1\nworking_hours?").unwrap().ignored,
            vec![1]
        );
    }

    #[test]
    fn windows_are_named_after_what_they_are_and_written_once() {
        let mut windows = Windows::default();
        let tree = when("(days_in_week(1..5) && hours_in_day(9..17)) || bank_holiday?");
        let name = windows.name(&tree);
        assert_eq!(name, "days_mon_fri_hours_09001800_or_bank_holiday");
        assert_eq!(
            windows.specs["days_mon_fri_hours_09001800"]
                .hours
                .as_deref(),
            Some("09:00-18:00")
        );
        assert_eq!(
            windows.specs["bank_holiday"].not.as_deref(),
            Some("not_bank_holiday")
        );
        assert!(windows.specs["not_bank_holiday"].except_holidays);
        assert_eq!(windows.name(&tree), name);
        let night = windows.name(&when("!hours_in_day(8..21)"));
        assert_eq!(night, "not_hours_08002200");
    }
}
