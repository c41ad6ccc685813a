//! Constant values in a mauve configuration: numbers, strings, symbols,
//! ranges, lists, `10.minutes`, `Date.new(2026, 12, 25)`. Anything that
//! needs Ruby to run (`hostname`, `"#{…}"`, a method of our own) is an error
//! that says so, for the report.

use super::parse::{Expr, Node};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Sym(String),
    Const(String),
    Regex {
        source: String,
        flags: String,
    },
    Array(Vec<Val>),
    Hash(Vec<(Val, Val)>),
    Range {
        low: Box<Val>,
        high: Box<Val>,
        exclusive: bool,
    },
    /// `Date.new(y, m, d)` as `YYYY-MM-DD`.
    Date(String),
}

const UNITS: &[(&str, i64)] = &[
    ("second", 1),
    ("seconds", 1),
    ("minute", 60),
    ("minutes", 60),
    ("hour", 3_600),
    ("hours", 3_600),
    ("day", 86_400),
    ("days", 86_400),
    ("week", 604_800),
    ("weeks", 604_800),
];

pub(crate) fn eval(node: &Node) -> Result<Val, String> {
    Ok(match &node.expr {
        Expr::Nil => Val::Nil,
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Int(n) => Val::Int(*n),
        Expr::Float(f) => Val::Float(*f),
        Expr::Str { text, interpolated } => {
            if *interpolated {
                return Err(format!(
                    "{:?} is worked out by Ruby when mauve runs (`#{{…}}` or a command)",
                    text
                ));
            }
            Val::Str(text.clone())
        }
        Expr::Sym(s) => Val::Sym(s.clone()),
        Expr::Const(c) => Val::Const(c.clone()),
        Expr::Regex { source, flags } => Val::Regex {
            source: source.clone(),
            flags: flags.clone(),
        },
        Expr::Array(items) => Val::Array(items.iter().map(eval).collect::<Result<_, _>>()?),
        Expr::Hash(pairs) => Val::Hash(
            pairs
                .iter()
                .map(|(k, v)| Ok((eval(k)?, eval(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        Expr::Range {
            low,
            high,
            exclusive,
        } => Val::Range {
            low: Box::new(eval(low)?),
            high: Box::new(eval(high)?),
            exclusive: *exclusive,
        },
        Expr::Neg(inner) => match eval(inner)? {
            Val::Int(n) => Val::Int(n.checked_neg().ok_or("a number out of range")?),
            Val::Float(f) => Val::Float(-f),
            _ => return Err("`-` of something that is not a number".into()),
        },
        Expr::Binary { op, left, right } => arithmetic(op, eval(left)?, eval(right)?)?,
        Expr::Call {
            recv: Some(recv),
            name,
            args,
            block: None,
        } => method(recv, name, args)?,
        Expr::Call {
            recv: None,
            name,
            args,
            ..
        } if args.is_empty() && (name == "hostname" || name == "fqdn") => {
            return Err(format!(
                "`{name}` is this host's name, known only when mauve runs"
            ))
        }
        Expr::Call { name, .. } => {
            return Err(format!(
                "`{name}` is Ruby code, not a value mauved can read"
            ))
        }
        Expr::Not(_) => return Err("`!` is Ruby code, not a value".into()),
        Expr::Opaque(text) => return Err(format!("`{text}` is Ruby code")),
    })
}

fn method(recv: &Node, name: &str, args: &[Node]) -> Result<Val, String> {
    if let Expr::Const(class) = &recv.expr {
        if class == "Date" && (name == "new" || name == "civil") {
            let parts = args.iter().map(eval).collect::<Result<Vec<_>, _>>()?;
            if let [Val::Int(y), Val::Int(m), Val::Int(d)] = parts.as_slice() {
                return Ok(Val::Date(format!("{y:04}-{m:02}-{d:02}")));
            }
            return Err("Date.new takes a year, a month and a day".into());
        }
        if class == "Date" && name == "parse" {
            if let [arg] = args {
                if let Val::Str(text) = eval(arg)? {
                    return Ok(Val::Date(text));
                }
            }
        }
        if class == "Socket" && name == "gethostname" {
            return Err(
                "`Socket.gethostname` is this host's name, known only when mauve runs".into(),
            );
        }
        return Err(format!("`{class}.{name}` is Ruby code"));
    }
    let value = eval(recv)?;
    if let Some((_, unit)) = UNITS.iter().find(|(n, _)| *n == name) {
        if !args.is_empty() {
            return Err(format!("`.{name}` takes nothing"));
        }
        return match value {
            Val::Int(n) => n
                .checked_mul(*unit)
                .map(Val::Int)
                .ok_or_else(|| "a duration out of range".into()),
            Val::Float(f) => Ok(Val::Float(f * *unit as f64)),
            _ => Err(format!("`.{name}` of something that is not a number")),
        };
    }
    match (name, value) {
        ("to_i", Val::Float(f)) => Ok(Val::Int(f as i64)),
        ("to_i" | "to_f", v @ (Val::Int(_) | Val::Float(_))) => Ok(v),
        ("to_s", Val::Str(s)) => Ok(Val::Str(s)),
        ("to_s", Val::Sym(s)) => Ok(Val::Str(s)),
        ("to_sym", Val::Str(s)) => Ok(Val::Sym(s)),
        ("freeze" | "chomp" | "strip", v) => Ok(v),
        (name, _) => Err(format!(
            "`.{name}` is Ruby code, not a value mauved can read"
        )),
    }
}

fn arithmetic(op: &str, left: Val, right: Val) -> Result<Val, String> {
    let float = |v: &Val| match v {
        Val::Int(n) => Some(*n as f64),
        Val::Float(f) => Some(*f),
        _ => None,
    };
    match (op, &left, &right) {
        ("+", Val::Str(a), Val::Str(b)) => Ok(Val::Str(format!("{a}{b}"))),
        ("+", Val::Array(a), Val::Array(b)) => Ok(Val::Array(a.iter().chain(b).cloned().collect())),
        (_, Val::Int(a), Val::Int(b)) => {
            let out = match op {
                "+" => a.checked_add(*b),
                "-" => a.checked_sub(*b),
                "*" => a.checked_mul(*b),
                "/" => a.checked_div(*b),
                "%" => a.checked_rem(*b),
                _ => return Err(format!("`{op}` is not arithmetic mauved reads")),
            };
            out.map(Val::Int)
                .ok_or_else(|| format!("`{op}` out of range or by zero"))
        }
        _ => match (float(&left), float(&right)) {
            (Some(a), Some(b)) => match op {
                "+" => Ok(Val::Float(a + b)),
                "-" => Ok(Val::Float(a - b)),
                "*" => Ok(Val::Float(a * b)),
                "/" if b != 0.0 => Ok(Val::Float(a / b)),
                _ => Err(format!("`{op}` is not arithmetic mauved reads")),
            },
            _ => Err(format!("`{op}` of values mauved cannot combine")),
        },
    }
}

/// A length of time in whole seconds (`10.minutes`, `600`, `1.5.hours`).
pub(crate) fn seconds(value: &Val) -> Result<u64, String> {
    match value {
        Val::Int(n) if *n >= 0 => Ok(*n as u64),
        Val::Float(f) if f.is_finite() && *f >= 0.0 && *f < 1e15 => Ok(f.round() as u64),
        other => Err(format!("{} is not a length of time", show(other))),
    }
}

pub(crate) fn text(value: &Val) -> Result<String, String> {
    match value {
        Val::Str(s) | Val::Sym(s) => Ok(s.clone()),
        Val::Int(n) => Ok(n.to_string()),
        other => Err(format!("{} is not text", show(other))),
    }
}

/// How a value reads in the report.
pub(crate) fn show(value: &Val) -> String {
    match value {
        Val::Nil => "nil".into(),
        Val::Bool(b) => b.to_string(),
        Val::Int(n) => n.to_string(),
        Val::Float(f) => f.to_string(),
        Val::Str(s) => format!("{s:?}"),
        Val::Sym(s) => format!(":{s}"),
        Val::Const(c) => c.clone(),
        Val::Regex { source, flags } => format!("/{source}/{flags}"),
        Val::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        Val::Hash(_) => "a hash".into(),
        Val::Range {
            low,
            high,
            exclusive,
        } => format!(
            "{}{}{}",
            show(low),
            if *exclusive { "..." } else { ".." },
            show(high)
        ),
        Val::Date(d) => d.clone(),
    }
}

/// A duration as mauved writes it: `90s`, `10m`, `1h30m`, `2d`.
pub(crate) fn duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut left = secs;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if left >= size {
            out.push_str(&format!("{}{unit}", left / size));
            left %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{lex, parse};
    use super::*;

    fn value(text: &str) -> Result<Val, String> {
        let tokens = lex::tokens(text).unwrap();
        let body = parse::program(&tokens, text).unwrap();
        eval(&body[0])
    }

    #[test]
    fn durations_numbers_and_dates() {
        assert_eq!(value("10.minutes"), Ok(Val::Int(600)));
        assert_eq!(value("2.hours + 30.minutes"), Ok(Val::Int(9_000)));
        assert_eq!(value("1.day"), Ok(Val::Int(86_400)));
        assert_eq!(value("0.5.hours"), Ok(Val::Float(1_800.0)));
        assert_eq!(
            value("Date.new(2026, 12, 25)"),
            Ok(Val::Date("2026-12-25".into()))
        );
        assert!(matches!(
            value("0..2.5"),
            Ok(Val::Range {
                exclusive: false,
                ..
            })
        ));
        assert_eq!(value("\"a\" + \"b\""), Ok(Val::Str("ab".into())));
        assert!(value("\"alerts-\" + hostname")
            .unwrap_err()
            .contains("hostname"));
        assert!(value("\"x#{y}\"").unwrap_err().contains("when mauve runs"));
        assert!(value("99999999999999.weeks").unwrap_err().contains("range"));
        assert_eq!(duration(5_400), "1h30m");
        assert_eq!(duration(90), "1m30s");
        assert_eq!(duration(172_800), "2d");
    }
}
