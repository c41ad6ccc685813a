//! The DSL's forms recognised in the tree, and what each becomes.
//!
//! Two passes, because mauve resolves names when it sends, not when it
//! reads: first everything but the alert groups (people, lists, methods,
//! server settings), then the groups, whose clauses need them all.
//!
//! mauve's people bring their own `notify { every; during }` (by default
//! every 30 minutes in working hours); a group's clause that leaves `every`
//! or `during` out takes the person's (through a list's own, when it has
//! one). mauved's clauses say it themselves, so a clause is written once
//! per distinct (every, during) of the people it names.

mod groups;
mod people;
mod server;

use std::collections::BTreeMap;

use super::during::{self, During, When, Windows};
use super::includes::{self, MatchOut, SourceLists};
use super::parse::{Expr, Node};
use super::values::{duration, eval, seconds, show, text, Val};
use super::{Kind, Note, Options};
use crate::config::WindowSpec;

/// What is written.
#[derive(Default)]
pub(crate) struct Out {
    pub(crate) udp: Vec<String>,
    pub(crate) http: Option<String>,
    pub(crate) server: Vec<(&'static str, u64)>,
    pub(crate) heartbeat: Option<HeartbeatOut>,
    pub(crate) base_url: Option<String>,
    pub(crate) holidays: Vec<String>,
    pub(crate) windows: Windows,
    pub(crate) notifiers: Vec<NotifierOut>,
    pub(crate) people: BTreeMap<String, PersonOut>,
    pub(crate) lists: BTreeMap<String, Vec<String>>,
    pub(crate) groups: Vec<GroupOut>,
    /// Groups that could not be written, as comments.
    pub(crate) left_groups: Vec<(u32, String, String)>,
}

impl Out {
    /// A `[server]` setting; said again, the later value wins (as in Ruby).
    fn set_server(&mut self, key: &'static str, value: u64) {
        self.server.retain(|(k, _)| *k != key);
        self.server.push((key, value));
    }
}

#[derive(Default)]
pub(crate) struct HeartbeatOut {
    pub(crate) destinations: Vec<String>,
    pub(crate) send_every: Option<u64>,
    pub(crate) raise_after: Option<u64>,
    pub(crate) source: Option<String>,
    pub(crate) summary: Option<String>,
    pub(crate) detail: Option<String>,
}

pub(crate) enum NotifierKind {
    Smtp { server: String, from: String },
    Log,
}

pub(crate) struct NotifierOut {
    pub(crate) name: String,
    pub(crate) kind: NotifierKind,
    pub(crate) line: u32,
}

#[derive(Default)]
pub(crate) struct PersonOut {
    pub(crate) addresses: BTreeMap<String, String>,
    /// urgent, normal, low: items `a` or `a|b`.
    pub(crate) levels: [Vec<String>; 3],
    pub(crate) rate_limit: Option<(u64, u64)>,
    pub(crate) notify_when_away: bool,
    pub(crate) line: u32,
}

pub(crate) struct GroupOut {
    pub(crate) name: String,
    pub(crate) level: &'static str,
    pub(crate) matches: Option<MatchOut>,
    pub(crate) clauses: Vec<ClauseOut>,
    pub(crate) line: u32,
}

pub(crate) struct ClauseOut {
    pub(crate) who: Vec<String>,
    pub(crate) during: String,
    pub(crate) every: Option<u64>,
    pub(crate) unacknowledged_for: u64,
    pub(crate) line: u32,
}

/// A `notify` block's settings; `during` None when it has none, Err when
/// it could not be translated (already reported).
#[derive(Clone)]
struct Notify {
    every: Option<u64>,
    during: Option<Result<During, ()>>,
}

/// One entry of a level block: notifiers to try in turn (`sms || email`),
/// each maybe with an address of its own (`email("x@y")`).
type Alternatives = Vec<(String, Option<String>)>;

/// A person told by a clause, with the clause's every and during after
/// mauve's fall-through to the list's and the person's own.
type Told = (String, Option<u64>, Option<Result<During, ()>>);

/// A call's name, arguments and block.
type CallParts<'n> = (&'n str, &'n [Node], Option<&'n [Node]>);

#[derive(Default)]
struct RawPerson {
    line: u32,
    addresses: BTreeMap<String, (String, u32)>,
    levels: [Option<(Vec<Alternatives>, u32)>; 3],
    notifies: Vec<Notify>,
    rate: Option<(u64, u64)>,
    away: bool,
}

#[derive(Default)]
struct RawList {
    line: u32,
    members: Vec<String>,
    notifies: Vec<Notify>,
}

const LEVELS: [&str; 3] = ["urgent", "normal", "low"];

pub(crate) fn translate(body: &[Node], source: &str, options: &Options) -> (Out, Vec<Note>) {
    let mut t = Translator {
        lines: source.lines().collect(),
        notes: Vec::new(),
        out: Out::default(),
        methods: BTreeMap::new(),
        people: BTreeMap::new(),
        lists: BTreeMap::new(),
        source_lists: SourceLists::new(),
        _options: options,
    };
    let mut groups = Vec::new();
    for node in body {
        match call(node) {
            Some(("alert_group", _, _)) => groups.push(node),
            _ => t.top(node),
        }
    }
    t.finish_people();
    let count = groups.len();
    let mut catch_all_at: Option<u32> = None;
    for (i, node) in groups.into_iter().enumerate() {
        if let Some(line) = catch_all_at {
            t.note(
                node.line,
                Kind::Differs,
                format!(
                    "never reached in mauve either: the group on line {line} takes every alert"
                ),
            );
            continue;
        }
        if t.group(node, i + 1 == count) {
            catch_all_at = Some(node.line);
        }
    }
    (t.out, t.notes)
}

/// A name mauved cannot use for a person, list, notifier or group: empty,
/// or with control characters.
fn bad_name(name: &str) -> bool {
    name.trim().is_empty() || name.chars().any(char::is_control)
}

/// A call without a receiver: its name, arguments and block.
fn call(node: &Node) -> Option<CallParts<'_>> {
    match &node.expr {
        Expr::Call {
            recv: None,
            name,
            args,
            block,
        } => Some((name.as_str(), args.as_slice(), block.as_deref())),
        _ => None,
    }
}

struct Translator<'a> {
    lines: Vec<&'a str>,
    notes: Vec<Note>,
    out: Out,
    /// notification_method name → what it became.
    methods: BTreeMap<String, u32>,
    people: BTreeMap<String, RawPerson>,
    lists: BTreeMap<String, RawList>,
    source_lists: SourceLists,
    _options: &'a Options,
}

impl Translator<'_> {
    fn text_of(&self, line: u32) -> String {
        let text = self
            .lines
            .get((line as usize).saturating_sub(1))
            .map(|l| l.trim())
            .unwrap_or("");
        let mut cut: String = text.chars().take(72).collect();
        if cut.len() < text.len() {
            cut.push('…');
        }
        format!("`{cut}`")
    }

    fn note(&mut self, line: u32, kind: Kind, why: impl Into<String>) {
        let what = self.text_of(line);
        self.notes.push(Note {
            line,
            kind,
            what,
            why: why.into(),
        });
    }

    /// The one value of a setting (`port 32741`).
    fn one(&mut self, node: &Node, args: &[Node]) -> Option<Val> {
        match args {
            [arg] => match eval(arg) {
                Ok(v) => Some(v),
                Err(why) => {
                    self.note(node.line, Kind::LeftOut, why);
                    None
                }
            },
            _ => {
                self.note(node.line, Kind::LeftOut, "expected one value");
                None
            }
        }
    }

    fn one_secs(&mut self, node: &Node, args: &[Node]) -> Option<u64> {
        let value = self.one(node, args)?;
        match seconds(&value) {
            Ok(s) => Some(s),
            Err(why) => {
                self.note(node.line, Kind::LeftOut, why);
                None
            }
        }
    }

    fn one_text(&mut self, node: &Node, args: &[Node]) -> Option<String> {
        let value = self.one(node, args)?;
        match text(&value) {
            Ok(s) => Some(s),
            Err(why) => {
                self.note(node.line, Kind::LeftOut, why);
                None
            }
        }
    }

    fn ruby(&mut self, node: &Node) {
        let why = match &node.expr {
            Expr::Opaque(_) => "Ruby code (a variable, a condition, a method): not run".to_owned(),
            _ => "not a form of mauve's configuration mauved reads".to_owned(),
        };
        self.note(node.line, Kind::LeftOut, why);
    }

    fn top(&mut self, node: &Node) {
        let Some((name, args, block)) = call(node) else {
            return self.ruby(node);
        };
        let line = node.line;
        match (name, block) {
            ("server", Some(body)) => self.server(body),
            ("notification_method", Some(body)) => self.method(node, args, body),
            ("person", Some(body)) => self.person(node, args, Some(body)),
            ("person", None) => self.person(node, args, None),
            ("people_list", _) => self.people_list(node, args, block),
            ("source_list", None) => self.source_list(node, args),
            ("working_hours" | "daytime_hours" | "dead_zone", None) => self.hours(node, name, args),
            ("bank_holidays", None) => self.bank_holidays(node, args),
            ("max_acknowledgement_time", None) => {
                if let Some(s) = self.one_secs(node, args).filter(|&s| s > 0) {
                    self.out.set_server("max_acknowledgement_s", s);
                    self.note(
                        line,
                        Kind::Translated,
                        format!("server.max_acknowledgement_s = {s}"),
                    );
                }
            }
            ("logger", _) => self.note(
                line,
                Kind::NotNeeded,
                "mauved logs to stderr (RUST_LOG sets what)",
            ),
            ("failed_login_delay" | "remote_http_timeout" | "remote_https_verify_mode", _) => {
                self.note(line, Kind::NotNeeded, "mauved has no such setting")
            }
            ("bytemark_auth_url", _) => self.note(
                line,
                Kind::LeftOut,
                "logins are mauved's own: [[http.user]] (mauved hash-password) or [[http.token]]",
            ),
            ("bytemark_calendar_url", _) => self.note(
                line,
                Kind::LeftOut,
                "rotas and absences from a calendar are not read: write [rotation.*] and `away`",
            ),
            ("require" | "require_relative" | "load" | "include", _) => {
                self.note(line, Kind::LeftOut, "loads Ruby code: not run")
            }
            _ => self.note(
                line,
                Kind::LeftOut,
                format!("`{name}` is not a mauve setting mauved knows"),
            ),
        }
    }
}
