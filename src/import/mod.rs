//! `mauved import-mauve`: a mauve server configuration (Ruby DSL) as a
//! mauved TOML configuration, with a report of what was translated, what
//! mauved does differently, and what was left out, line by line.
//!
//! Ruby is never run. The file is read as tokens ([`lex`]), then a tree of
//! calls and expressions ([`parse`]); the DSL's forms are recognised in that
//! tree ([`translate`], with [`includes`] for alert groups' predicates,
//! [`during`] for notify clauses' windows, [`values`] for constants) and
//! written out ([`emit`]). A file that cannot be read as Ruby at all (not
//! text, a string or block that never ends, brackets that do not pair,
//! nesting beyond reason, larger than [`MAX_BYTES`]) is a [`Fault`].

mod during;
mod emit;
mod includes;
mod lex;
mod parse;
mod translate;
mod values;

use std::fmt;

/// A mauve configuration is a few kilobytes; a file larger than this is
/// not one.
pub const MAX_BYTES: usize = 1024 * 1024;

/// Why a file could not be read at all, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub line: u32,
    pub what: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

/// What became of one construct.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Carried over as mauve had it.
    Translated,
    /// Carried over in mauved's nearest form; the note says the difference.
    Differs,
    /// mauved has no need of it (a database, a session secret).
    NotNeeded,
    /// Not carried over: the operator has to act.
    LeftOut,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Translated => "translated",
            Kind::Differs => "differs",
            Kind::NotNeeded => "not needed",
            Kind::LeftOut => "left out",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub line: u32,
    pub kind: Kind,
    /// The construct, as written (shortened).
    pub what: String,
    /// What it became, or why not.
    pub why: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {}: {}: {}",
            self.line,
            self.kind.as_str(),
            self.what,
            self.why
        )
    }
}

/// The translation: the TOML text and the report, in line order.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub notes: Vec<Note>,
}

impl Imported {
    /// Something the operator must act on was not carried over.
    pub fn left_out(&self) -> bool {
        self.notes.iter().any(|n| n.kind == Kind::LeftOut)
    }
}

/// Options the file cannot say.
#[derive(Clone, Debug)]
pub struct Options {
    /// mauve used its host's zone; mauved needs it named.
    pub timezone: String,
    /// The file's name, for the header of the output.
    pub origin: String,
}

/// Translates a mauve configuration.
pub fn import(text: &str, options: &Options) -> Result<Imported, Fault> {
    if text.len() > MAX_BYTES {
        let line = text[..MAX_BYTES].matches('\n').count() as u32 + 1;
        return Err(Fault {
            line,
            what: format!(
                "the file is larger than {} KiB; a mauve configuration is a few",
                MAX_BYTES / 1024
            ),
        });
    }
    let tokens = lex::tokens(text)?;
    let body = parse::program(&tokens, text)?;
    let (out, mut notes) = translate::translate(&body, text, options);
    notes.sort_by_key(|n| n.line);
    Ok(Imported {
        toml: emit::toml(&out, options),
        notes,
    })
}

/// Reads a file as text: bytes that are not UTF-8 are a fault at their line.
/// Reads a configuration file: a regular file (a FIFO would block, a device
/// never end) of at most [`MAX_BYTES`], read no further than one byte past
/// that, whatever size the file claims.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Opened without waiting: opening a FIFO waits for a writer otherwise.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| err.to_string())?;
    let meta = file.metadata().map_err(|err| err.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file: not a mauve configuration".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| err.to_string())?;
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "line 1: larger than {} KiB: not a mauve configuration",
            MAX_BYTES / 1024
        ));
    }
    Ok(bytes)
}

pub fn read_text(bytes: &[u8]) -> Result<&str, Fault> {
    std::str::from_utf8(bytes).map_err(|err| {
        let good = &bytes[..err.valid_up_to()];
        Fault {
            line: good.iter().filter(|b| **b == b'\n').count() as u32 + 1,
            what: "not UTF-8 text: not a mauve configuration".into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn options() -> Options {
        Options {
            timezone: "UTC".into(),
            origin: "test".into(),
        }
    }

    /// Pieces of the DSL and of Ruby, put together at random.
    fn soup() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "person",
            "people_list",
            "alert_group",
            "notify",
            "during",
            "includes",
            "level",
            "URGENT",
            "every",
            "email",
            "sms",
            "urgent",
            "all",
            "server",
            "listener",
            "port",
            "heartbeat",
            "notification_method",
            "working_hours",
            "hours_in_day",
            "days_in_week",
            "unacknowledged",
            "working_hours?",
            "source",
            "alert_id",
            "importance",
            "true",
            "do",
            "end",
            "if",
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            "\"a\"",
            "\"b c\"",
            "'x'",
            "/w.b/",
            "/(?<=a)/",
            "%w(a b)",
            "10.minutes",
            "9..17",
            "1...5",
            "2.5",
            "&&",
            "||",
            "!",
            "=~",
            "!~",
            "==",
            ">=",
            "=>",
            ",",
            ";",
            "\n",
            " ",
            ":sym",
            "#c\n",
            "\"",
            "/",
            "%",
            "|x|",
            "x = 1",
            "€",
            "\\",
            "\u{0}",
            "=begin\n",
            "=end\n",
            "7",
            "-",
            ".",
            "::",
        ]);
        prop::collection::vec(pieces, 0..80).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the text: a translation that passes the configuration
        /// checks, or a fault on a line of the file. Never a panic.
        #[test]
        fn any_text_is_translated_or_refused_at_a_line(text in soup()) {
            match import(&text, &options()) {
                Ok(imported) => {
                    let checked = crate::routing::parse(&imported.toml, "t");
                    prop_assert!(checked.is_ok(), "{}\n{:?}", imported.toml, checked.err());
                    for note in &imported.notes {
                        prop_assert!(note.line as usize <= text.lines().count() + 1);
                    }
                }
                Err(fault) => {
                    prop_assert!(fault.line >= 1);
                    prop_assert!(fault.line as usize <= text.lines().count() + 1, "{fault}");
                }
            }
        }

        #[test]
        fn any_bytes_are_refused_or_read(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(text) = read_text(&bytes) {
                let _ = import(text, &options());
            }
        }
    }

    /// `during` expressions over mauve's helpers (no escalation).
    fn during_expr() -> impl Strategy<Value = String> {
        let atom = prop::sample::select(vec![
            "working_hours?",
            "daytime_hours?",
            "dead_zone?",
            "bank_holiday?",
            "hours_in_day(9..17)",
            "hours_in_day(9...17)",
            "hours_in_day(22..23, 0..6)",
            "hours_in_day(12)",
            "hours_in_day([1, 3..4])",
            "hours_in_day(20..3)",
            "days_in_week(1..5)",
            "days_in_week(0, 6)",
            "days_in_week(3)",
            "true",
            "false",
        ])
        .prop_map(str::to_owned);
        atom.prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
                inner.clone().prop_map(|a| format!("!({a})")),
                (inner.clone(), inner).prop_map(|(a, b)| format!("({a} and {b})")),
            ]
        })
    }

    /// mauve's meaning of a `during` expression at a local moment, read
    /// straight from the tree (the reference the windows must agree with).
    fn mauve_during(node: &parse::Node, t: &jiff::civil::DateTime, holiday: bool) -> bool {
        use parse::Expr;
        use values::Val;
        let (hour, fraction) = (t.hour() as i64, t.hour() as f64 + t.minute() as f64 / 60.0);
        let wday = t.weekday().to_sunday_zero_offset() as i64;
        fn holds(value: &Val, x: i64) -> bool {
            match value {
                Val::Int(n) => *n == x,
                Val::Range {
                    low,
                    high,
                    exclusive,
                } => match (&**low, &**high) {
                    (Val::Int(a), Val::Int(b)) => {
                        *a <= x && (if *exclusive { x < *b } else { x <= *b })
                    }
                    _ => false,
                },
                Val::Array(items) => items.iter().any(|v| holds(v, x)),
                _ => false,
            }
        }
        match &node.expr {
            Expr::Bool(b) => *b,
            Expr::Not(inner) => !mauve_during(inner, t, holiday),
            Expr::Binary {
                op: "&&",
                left,
                right,
            } => mauve_during(left, t, holiday) && mauve_during(right, t, holiday),
            Expr::Binary {
                op: "||",
                left,
                right,
            } => mauve_during(left, t, holiday) || mauve_during(right, t, holiday),
            Expr::Call { name, args, .. } => {
                let values: Vec<Val> = args.iter().map(|a| values::eval(a).unwrap()).collect();
                match name.as_str() {
                    "working_hours?" => {
                        (1..=5).contains(&wday) && (9.5..17.5).contains(&fraction) && !holiday
                    }
                    "daytime_hours?" => (8.0..20.0).contains(&fraction),
                    "dead_zone?" => (3.0..7.0).contains(&fraction),
                    "bank_holiday?" => holiday,
                    "hours_in_day" => values.iter().any(|v| holds(v, hour)),
                    "days_in_week" => values.iter().any(|v| holds(v, wday)),
                    other => panic!("{other}"),
                }
            }
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The window written for a `during` block is open exactly when
        /// mauve's block would be true, minute by minute over a week with a
        /// holiday in it.
        #[test]
        fn a_during_block_and_its_window_agree(expr in during_expr(), minutes in prop::collection::vec(0u32..7 * 1440, 40)) {
            let text = format!(
                "bank_holidays [Date.new(2026, 12, 25)]\nnotification_method(\"email\") {{ }}\nperson(\"p\") {{ email \"p@x\"\n notify {{ during {{ {expr} }} }} }}\nalert_group(\"g\") {{ notify(\"p\") }}\n"
            );
            let imported = import(&text, &options()).unwrap();
            let (config, router) = crate::routing::parse(&imported.toml, "t").unwrap();
            let during = &config.alert_groups[0].notify[0].during;
            let window = crate::routing::windows::compile(&config.windows(), during).unwrap();
            let tokens = lex::tokens(&expr).unwrap();
            let tree = parse::program(&tokens, &expr).unwrap();
            // Monday 2026-12-21 00:00 UTC; the 25th is a holiday.
            let monday = 1_797_811_200u64;
            for m in minutes {
                let at = monday + m as u64 * 60;
                let local = router.calendar.local(at);
                let holiday = local.date() == jiff::civil::date(2026, 12, 25);
                prop_assert_eq!(
                    window.is_open(at, &router.calendar),
                    mauve_during(&tree[0], &local, holiday),
                    "{} at {} as {:?}\n{}", expr, local, during, imported.toml
                );
            }
        }
    }

    #[test]
    fn groups_after_one_that_takes_everything_are_never_reached() {
        let text = "alert_group(\"a\") { includes { source == 'x' } }\nalert_group(\"all\") { includes { true } }\nalert_group(\"late\") { level URGENT }\n";
        let imported = import(text, &options()).unwrap();
        let (config, _) = crate::routing::parse(&imported.toml, "t").unwrap();
        let names: Vec<&str> = config
            .alert_groups
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        assert_eq!(names, ["a", "all"]);
        assert_eq!(imported.notes[0].line, 3);
        assert!(
            imported.notes[0].why.contains("never reached"),
            "{:?}",
            imported.notes
        );
        assert!(!imported.left_out());
    }

    #[test]
    fn a_valid_group_survives_the_soup_around_it() {
        let text = "x = 1\nalert_group(\"g\") {\n  level LOW\n  notify(\"p\") { every 5.minutes }\n}\nperson(\"p\") { email \"p@x\" }\nnotification_method(\"email\") { }\n";
        let imported = import(text, &options()).unwrap();
        assert!(
            imported.toml.contains("every = \"5m\""),
            "{}",
            imported.toml
        );
        assert!(imported.left_out());
        assert_eq!(imported.notes[0].line, 1);
    }
}
