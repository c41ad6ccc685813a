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
                if let Some(s) = self.one_secs(node, args) {
                    self.out.server.push(("max_acknowledgement_s", s));
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

    fn server(&mut self, body: &[Node]) {
        for node in body {
            let Some((name, args, block)) = call(node) else {
                self.ruby(node);
                continue;
            };
            let line = node.line;
            match (name, block) {
                ("hostname", None) => {
                    if let Some(host) = self.one_text(node, args) {
                        self.out
                            .heartbeat
                            .get_or_insert_with(Default::default)
                            .source = Some(host.clone());
                        self.note(
                            line,
                            Kind::Translated,
                            format!("heartbeat.source = {host:?}"),
                        );
                    }
                }
                ("database", _) => self.note(
                    line,
                    Kind::NotNeeded,
                    "mauved keeps alerts in its own store (store.path); history stays in mauve's",
                ),
                ("initial_sleep", None) => {
                    if let Some(s) = self.one_secs(node, args) {
                        self.out.server.push(("initial_sleep_s", s));
                        self.note(
                            line,
                            Kind::Translated,
                            format!("server.initial_sleep_s = {s}"),
                        );
                    }
                }
                ("listener", Some(inner)) => {
                    let (ip, port) = self.address(inner, "::", 32741);
                    let addr = join_addr(&ip, port);
                    self.note(
                        line,
                        Kind::Translated,
                        format!("listen.udp = [{addr:?}] (beside a running mauve on this host, use another port)"),
                    );
                    self.out.udp = vec![addr];
                }
                ("web_interface", Some(inner)) => {
                    let (ip, port) = self.address(inner, "127.0.0.1", 1288);
                    let addr = join_addr(&ip, port);
                    self.note(line, Kind::Translated, format!("listen.http = {addr:?}"));
                    self.out.http = Some(addr);
                }
                ("processor", Some(inner)) => {
                    for node in inner {
                        match call(node) {
                            Some(("transmission_cache_expire_time", args, None)) => {
                                if let Some(s) = self.one_secs(node, args) {
                                    self.out.server.push(("transmission_cache_s", s));
                                    self.note(
                                        node.line,
                                        Kind::Translated,
                                        format!("server.transmission_cache_s = {s}"),
                                    );
                                }
                            }
                            Some(("poll_every" | "sleep_interval", _, None)) => {
                                self.note(node.line, Kind::NotNeeded, "mauved does not poll")
                            }
                            _ => self.ruby(node),
                        }
                    }
                }
                ("heartbeat", Some(inner)) => self.heartbeat(inner),
                ("timer" | "notifier", Some(_)) => {
                    self.note(line, Kind::NotNeeded, "mauved does not poll")
                }
                ("pop3_server", _) => self.note(
                    line,
                    Kind::LeftOut,
                    "mauved has no POP3 server: the page, /api and /events serve instead",
                ),
                _ => self.note(
                    line,
                    Kind::LeftOut,
                    format!("`{name}` is not a server setting mauved knows"),
                ),
            }
        }
    }

    /// `ip` and `port` of a listener block.
    fn address(&mut self, body: &[Node], ip: &str, port: u64) -> (String, u64) {
        let (mut ip, mut port) = (ip.to_owned(), port);
        for node in body {
            match call(node) {
                Some(("ip", args, None)) => {
                    if let Some(v) = self.one_text(node, args) {
                        ip = v;
                    }
                }
                Some(("port", args, None)) => {
                    if let Some(v) = self.one_secs(node, args) {
                        port = v;
                    }
                }
                Some(("base_url", args, None)) => {
                    if let Some(url) = self.one_text(node, args) {
                        self.note(
                            node.line,
                            Kind::Translated,
                            format!("oncall.base_url = {url:?}"),
                        );
                        self.out.base_url = Some(url);
                    }
                }
                Some((
                    "document_root" | "session_secret" | "poll_every" | "sleep_interval",
                    _,
                    None,
                )) => self.note(node.line, Kind::NotNeeded, "mauved has no need of it"),
                _ => self.ruby(node),
            }
        }
        (ip, port)
    }

    fn heartbeat(&mut self, body: &[Node]) {
        for node in body {
            let Some((name, args, None)) = call(node) else {
                self.ruby(node);
                continue;
            };
            let line = node.line;
            match name {
                "destination" => {
                    let Some(value) = self.one(node, args) else {
                        continue;
                    };
                    let list = match value {
                        Val::Array(items) => items,
                        other => vec![other],
                    };
                    let mut ok = Vec::new();
                    for item in &list {
                        match text(item) {
                            Ok(d) => ok.push(d),
                            Err(why) => self.note(line, Kind::LeftOut, why),
                        }
                    }
                    self.note(
                        line,
                        Kind::Translated,
                        format!("heartbeat.destinations = {ok:?}"),
                    );
                    self.out
                        .heartbeat
                        .get_or_insert_with(Default::default)
                        .destinations
                        .extend(ok);
                }
                "raise_after" | "send_every" => {
                    if let Some(s) = self.one_secs(node, args) {
                        let hb = self.out.heartbeat.get_or_insert_with(Default::default);
                        if name == "raise_after" {
                            hb.raise_after = Some(s);
                        } else {
                            hb.send_every = Some(s);
                        }
                        self.note(
                            line,
                            Kind::Translated,
                            format!("heartbeat.{name} = {:?}", duration(s)),
                        );
                    }
                }
                "summary" | "detail" => {
                    if let Some(s) = self.one_text(node, args) {
                        let hb = self.out.heartbeat.get_or_insert_with(Default::default);
                        if name == "summary" {
                            hb.summary = Some(s);
                        } else {
                            hb.detail = Some(s);
                        }
                        self.note(line, Kind::Translated, format!("heartbeat.{name}"));
                    }
                }
                _ => self.note(
                    line,
                    Kind::LeftOut,
                    format!("`{name}` is not a heartbeat setting mauved knows"),
                ),
            }
        }
    }

    fn method(&mut self, node: &Node, args: &[Node], body: &[Node]) {
        let Some(name) = self.one_text(node, args) else {
            return;
        };
        if self.methods.contains_key(&name) {
            return self.note(
                node.line,
                Kind::LeftOut,
                format!("a second method {name:?} (mauve refuses it)"),
            );
        }
        let mut records_only = false;
        let mut provider = None;
        let (mut host, mut port, mut from) =
            ("127.0.0.1".to_owned(), 25u64, "mauve@localhost".to_owned());
        for stmt in body {
            let Some((key, args, None)) = call(stmt) else {
                self.ruby(stmt);
                continue;
            };
            match key {
                "debug!" | "deliver_to_queue" | "disable_normal_delivery!" => records_only = true,
                "provider" => provider = self.one_text(stmt, args),
                "server" => {
                    if let Some(v) = self.one_text(stmt, args) {
                        host = v;
                    }
                }
                "port" => {
                    if let Some(v) = self.one_secs(stmt, args) {
                        port = v;
                    }
                }
                "from" => {
                    if let Some(v) = self.one_text(stmt, args) {
                        from = v;
                    }
                }
                "subject_prefix" | "email_suffix" => self.note(
                    stmt.line,
                    Kind::Differs,
                    "mauved's subject is the message's short text, without a prefix",
                ),
                "login" | "password" | "login_method" if name == "email" => self.note(
                    stmt.line,
                    Kind::LeftOut,
                    "SMTP login: set `user` and `password_file` on the notifier",
                ),
                _ if name != "email" => {}
                other => self.note(
                    stmt.line,
                    Kind::LeftOut,
                    format!("`{other}` is not an e-mail setting mauved knows"),
                ),
            }
        }
        let kind = if records_only {
            self.note(
                node.line,
                Kind::Translated,
                format!("a method that only records: [[notifier]] {name:?}, kind \"log\""),
            );
            NotifierKind::Log
        } else if name == "email" {
            let server = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            self.note(
                node.line,
                Kind::Translated,
                format!("[[notifier]] \"email\", kind \"smtp\", server {server:?}, from {from:?}"),
            );
            NotifierKind::Smtp { server, from }
        } else {
            let by = provider.map(|p| format!(" ({p})")).unwrap_or_default();
            self.note(
                node.line,
                Kind::LeftOut,
                format!(
                    "{name}{by} is written as a \"log\" notifier of the same name, so people keep their addresses: it sends nothing until it is made a command or webhook notifier"
                ),
            );
            NotifierKind::Log
        };
        self.methods.insert(name.clone(), node.line);
        self.out.notifiers.push(NotifierOut {
            name,
            kind,
            line: node.line,
        });
    }

    fn person(&mut self, node: &Node, args: &[Node], body: Option<&[Node]>) {
        let Some(name) = self.one_text(node, args) else {
            return;
        };
        if self.people.contains_key(&name) || self.lists.contains_key(&name) {
            return self.note(
                node.line,
                Kind::LeftOut,
                format!("{name:?} again (mauve refuses it)"),
            );
        }
        let mut person = RawPerson {
            line: node.line,
            ..RawPerson::default()
        };
        for stmt in body.unwrap_or_default() {
            let Some((key, args, block)) = call(stmt) else {
                self.ruby(stmt);
                continue;
            };
            let line = stmt.line;
            match (key, block) {
                ("urgent" | "normal" | "low" | "all", Some(inner)) => match level_items(inner) {
                    Ok(items) => {
                        for (i, level) in LEVELS.iter().enumerate() {
                            if key == "all" || key == *level {
                                person.levels[i] = Some((items.clone(), line));
                            }
                        }
                    }
                    Err(why) => self.note(line, Kind::LeftOut, why),
                },
                ("notify", Some(inner)) => {
                    let notify = self.notify_block(inner);
                    person.notifies.push(notify);
                }
                ("suppress_notifications_after", None) => {
                    if person.rate.is_some() {
                        self.note(
                            line,
                            Kind::Differs,
                            "a further threshold: mauve checked only the first, so it is left out",
                        );
                    } else if let Some(rate) = self.rate_limit(stmt, args) {
                        person.rate = Some(rate);
                    }
                }
                (
                    "notify_when_off_sick!" | "notify_when_on_holiday!" | "notify_when_on_holday!",
                    None,
                ) => {
                    person.away = true;
                    self.note(
                        line,
                        Kind::Translated,
                        "notify_when_away = true (absences from a calendar are not read)",
                    );
                }
                ("password", None) => self.note(
                    line,
                    Kind::LeftOut,
                    "web logins are [[http.user]] with a hash from `mauved hash-password`",
                ),
                ("holiday_url", None) => self.note(
                    line,
                    Kind::LeftOut,
                    "absences from a calendar are not read: write `away` dates",
                ),
                (_, None) if args.len() == 1 => {
                    if let Some(address) = self.one_text(stmt, args) {
                        person.addresses.insert(key.to_owned(), (address, line));
                    }
                }
                _ => self.note(
                    line,
                    Kind::LeftOut,
                    format!("`{key}` is not a person setting mauved knows"),
                ),
            }
        }
        self.people.insert(name, person);
    }

    fn rate_limit(&mut self, node: &Node, args: &[Node]) -> Option<(u64, u64)> {
        let value = self.one(node, args)?;
        let Val::Hash(pairs) = value else {
            self.note(node.line, Kind::LeftOut, "expected N => period");
            return None;
        };
        let mut limits = Vec::new();
        for (count, within) in &pairs {
            match (count, seconds(within)) {
                (Val::Int(n), Ok(s)) if *n > 0 && s > 0 => limits.push((*n as u64, s)),
                _ => {
                    self.note(
                        node.line,
                        Kind::LeftOut,
                        format!("{} => {} is not N => period", show(count), show(within)),
                    );
                    return None;
                }
            }
        }
        let first = *limits.first()?;
        if limits.len() > 1 {
            self.note(
                node.line,
                Kind::Differs,
                format!(
                    "rate_limit = {} within {} (mauve checked only its first threshold too; the others are left out)",
                    first.0,
                    duration(first.1)
                ),
            );
        } else {
            self.note(
                node.line,
                Kind::Translated,
                format!(
                    "rate_limit = {{ count = {}, within = {:?} }}",
                    first.0,
                    duration(first.1)
                ),
            );
        }
        Some(first)
    }

    fn notify_block(&mut self, body: &[Node]) -> Notify {
        let mut notify = Notify {
            every: None,
            during: None,
        };
        for stmt in body {
            match call(stmt) {
                Some(("every", args, None)) => notify.every = self.one_secs(stmt, args),
                Some(("during", _, Some(inner))) => {
                    notify.during = Some(match during::translate(inner) {
                        Ok(d) => {
                            for line in &d.ignored {
                                self.note(
                                    *line,
                                    Kind::Differs,
                                    format!(
                                        "only the last statement of a `during` block decides (in mauve too): the one on line {line} before it has no effect"
                                    ),
                                );
                            }
                            if d.raised_for {
                                self.note(
                                    stmt.line,
                                    Kind::Differs,
                                    "raised_for is written as unacknowledged_for: mauved's delay also ends at an acknowledgement",
                                );
                            }
                            Ok(d)
                        }
                        Err(why) => {
                            self.note(stmt.line, Kind::LeftOut, why);
                            Err(())
                        }
                    })
                }
                Some(("hours_in_day" | "unacknowledged" | "days_in_week", _, None)) => self.note(
                    stmt.line,
                    Kind::LeftOut,
                    "outside `during { }` mauve ignores it",
                ),
                _ => self.ruby(stmt),
            }
        }
        notify
    }

    fn people_list(&mut self, node: &Node, args: &[Node], block: Option<&[Node]>) {
        let Some((first, rest)) = args.split_first() else {
            return self.note(node.line, Kind::LeftOut, "a people_list without a name");
        };
        let name = match eval(first).and_then(|v| text(&v)) {
            Ok(n) => n,
            Err(why) => return self.note(node.line, Kind::LeftOut, why),
        };
        let mut members = Vec::new();
        for arg in rest {
            self.members(node.line, arg, &mut members);
        }
        let mut notifies = Vec::new();
        for stmt in block.unwrap_or_default() {
            match call(stmt) {
                Some(("notify", _, Some(inner))) => notifies.push(self.notify_block(inner)),
                Some(("list", args, None)) => {
                    for arg in args {
                        self.members(stmt.line, arg, &mut members);
                    }
                }
                _ => self.ruby(stmt),
            }
        }
        let list = self.lists.entry(name).or_insert_with(|| RawList {
            line: node.line,
            ..RawList::default()
        });
        for m in members {
            if !list.members.contains(&m) {
                list.members.push(m);
            }
        }
        list.notifies.extend(notifies);
    }

    fn members(&mut self, line: u32, arg: &Node, members: &mut Vec<String>) {
        match &arg.expr {
            Expr::Array(items) => {
                for item in items {
                    self.members(line, item, members);
                }
            }
            Expr::Call { name, .. } if name == "calendar" || name == "lambda" || name == "proc" =>
            {
                self.note(
                    arg.line,
                    Kind::LeftOut,
                    format!("`{name}(…)` asks a calendar or runs Ruby when mauve sends: write a [rotation.*]"),
                )
            }
            _ => match eval(arg).and_then(|v| text(&v)) {
                Ok(name) => members.push(name),
                Err(why) => self.note(line, Kind::LeftOut, why),
            },
        }
    }

    fn source_list(&mut self, node: &Node, args: &[Node]) {
        let Some((first, rest)) = args.split_first() else {
            return self.note(node.line, Kind::LeftOut, "a source_list without a name");
        };
        let Ok(name) = eval(first).and_then(|v| text(&v)) else {
            return self.note(
                node.line,
                Kind::LeftOut,
                "a source_list whose name is not text",
            );
        };
        let mut items = Vec::new();
        let mut values = Vec::new();
        for arg in rest {
            match eval(arg) {
                Ok(Val::Array(list)) => values.extend(list),
                Ok(v) => values.push(v),
                Err(why) => self.note(node.line, Kind::LeftOut, why),
            }
        }
        for value in values {
            match value {
                Val::Str(s) => items.push(s),
                Val::Regex { source, flags } => match includes::regex(&source, &flags) {
                    Ok(item) => items.push(item),
                    Err(why) => self.note(node.line, Kind::LeftOut, why),
                },
                other => self.note(
                    node.line,
                    Kind::LeftOut,
                    format!("{} in a source_list", show(&other)),
                ),
            }
        }
        self.note(
            node.line,
            Kind::Differs,
            "in_source_list? becomes a `subject` match; mauve also looked names up in DNS, mauved compares the text (and addresses against ranges)",
        );
        self.source_lists.entry(name).or_default().extend(items);
    }

    fn hours(&mut self, node: &Node, name: &str, args: &[Node]) {
        let values = match args.iter().map(eval).collect::<Result<Vec<_>, _>>() {
            Ok(v) => v,
            Err(why) => return self.note(node.line, Kind::LeftOut, why),
        };
        let ranges = match during::minute_ranges(&values, false) {
            Ok(r) if !r.is_empty() => r,
            Ok(_) => return self.note(node.line, Kind::LeftOut, "no hours in it"),
            Err(why) => return self.note(node.line, Kind::LeftOut, why),
        };
        let window = match name {
            "working_hours" => "working",
            "daytime_hours" => "daytime",
            _ => "dead_zone",
        };
        let spec = |(from, to): (u16, u16)| WindowSpec {
            days: (window == "working").then(|| "mon-fri".to_owned()),
            hours: Some(during::hours_text(from, to)),
            except_holidays: window == "working",
            ..WindowSpec::default()
        };
        if let [only] = ranges.as_slice() {
            self.out.windows.define(window, spec(*only));
        } else {
            let mut parts = Vec::new();
            for (i, range) in ranges.iter().enumerate() {
                let part = format!("{window}_{}", i + 1);
                self.out.windows.define(&part, spec(*range));
                parts.push(part);
            }
            self.out.windows.define(
                window,
                WindowSpec {
                    any: parts,
                    ..WindowSpec::default()
                },
            );
        }
        let shown: Vec<String> = ranges
            .iter()
            .map(|(f, t)| during::hours_text(*f, *t))
            .collect();
        self.note(
            node.line,
            Kind::Translated,
            format!("window {window:?}: {}", shown.join(", ")),
        );
    }

    fn bank_holidays(&mut self, node: &Node, args: &[Node]) {
        let mut values = Vec::new();
        for arg in args {
            match eval(arg) {
                Ok(Val::Array(items)) => values.extend(items),
                Ok(v) => values.push(v),
                Err(why) => return self.note(node.line, Kind::LeftOut, why),
            }
        }
        for value in values {
            match value {
                Val::Date(d) | Val::Str(d) if d.parse::<jiff::civil::Date>().is_ok() => {
                    self.out.holidays.push(d)
                }
                other => self.note(
                    node.line,
                    Kind::LeftOut,
                    format!("{} is not a date", show(&other)),
                ),
            }
        }
        self.note(node.line, Kind::Translated, "oncall.holidays");
    }

    /// People's addresses and level lists, once the methods are all known.
    fn finish_people(&mut self) {
        let people = std::mem::take(&mut self.people);
        for (name, raw) in &people {
            let mut person = PersonOut {
                line: raw.line,
                rate_limit: raw.rate,
                notify_when_away: raw.away,
                ..PersonOut::default()
            };
            for (method, (address, line)) in &raw.addresses {
                if self.methods.contains_key(method) {
                    person.addresses.insert(method.clone(), address.clone());
                } else {
                    self.note(
                        *line,
                        Kind::Differs,
                        format!("no notification_method {method:?}: mauve sent nothing there, so the address is left out"),
                    );
                }
            }
            let defaults = raw.levels.iter().all(Option::is_none);
            for (i, level) in raw.levels.iter().enumerate() {
                let (items, line) = match level {
                    Some((items, line)) => (items.clone(), *line),
                    // mauve's defaults: urgent by SMS, XMPP and e-mail,
                    // normal by XMPP and e-mail, low by e-mail.
                    None if defaults => {
                        let names: &[&str] = match i {
                            0 => &["sms", "xmpp", "email"],
                            1 => &["xmpp", "email"],
                            _ => &["email"],
                        };
                        let items = names.iter().map(|n| vec![(n.to_string(), None)]).collect();
                        (items, raw.line)
                    }
                    None => (Vec::new(), raw.line),
                };
                for alternatives in items {
                    let mut kept = Vec::new();
                    for (method, explicit) in alternatives {
                        if !self.methods.contains_key(&method) {
                            if level.is_some() {
                                self.note(
                                    line,
                                    Kind::Differs,
                                    format!("{} by {method:?}: there is no such notification_method, so mauve sent nothing", LEVELS[i]),
                                );
                            }
                            continue;
                        }
                        if let Some(address) = explicit {
                            match person.addresses.get(&method) {
                                None => {
                                    person.addresses.insert(method.clone(), address);
                                }
                                Some(have) if *have == address => {}
                                Some(have) => self.note(
                                    line,
                                    Kind::Differs,
                                    format!("mauved keeps one {method} address per person: {have:?}, not {address:?}"),
                                ),
                            }
                        }
                        if person.addresses.contains_key(&method) {
                            kept.push(method);
                        }
                    }
                    if !kept.is_empty() {
                        let item = kept.join("|");
                        if !person.levels[i].contains(&item) {
                            person.levels[i].push(item);
                        }
                    }
                }
            }
            self.out.people.insert(name.clone(), person);
        }
        self.people = people;
        let lists = std::mem::take(&mut self.lists);
        for (name, list) in &lists {
            let mut members = Vec::new();
            for m in &list.members {
                if self.people.contains_key(m) || lists.contains_key(m) {
                    members.push(m.clone());
                } else {
                    self.note(
                        list.line,
                        Kind::Differs,
                        format!("{m:?} is not a person, so mauve skipped it"),
                    );
                }
            }
            self.out.lists.insert(name.clone(), members);
        }
        self.lists = lists;
    }

    /// An alert group; true when it takes every alert.
    fn group(&mut self, node: &Node, last: bool) -> bool {
        let Some((_, args, Some(body))) = call(node) else {
            self.ruby(node);
            return false;
        };
        let name = match args.first().map(|a| eval(a).and_then(|v| text(&v))) {
            Some(Ok(name)) => name,
            Some(Err(why)) => {
                self.note(node.line, Kind::LeftOut, why);
                return false;
            }
            None => format!("group {}", self.out.groups.len() + 1),
        };
        let mut level = "normal";
        let mut tables: Option<Result<Vec<MatchOut>, String>> = None;
        let mut clauses = Vec::new();
        let mut everies = Vec::new();
        for stmt in body {
            let Some((key, args, block)) = call(stmt) else {
                self.ruby(stmt);
                continue;
            };
            match (key, block) {
                ("level", None) => match self.one(stmt, args) {
                    Some(Val::Const(c) | Val::Sym(c))
                        if LEVELS.contains(&c.to_lowercase().as_str()) =>
                    {
                        level = LEVELS
                            .iter()
                            .find(|l| **l == c.to_lowercase())
                            .copied()
                            .unwrap_or("normal");
                    }
                    Some(other) => self.note(
                        stmt.line,
                        Kind::LeftOut,
                        format!("{} is not URGENT, NORMAL or LOW", show(&other)),
                    ),
                    None => {}
                },
                ("includes", Some(inner)) => {
                    let result = includes::translate(inner, &self.source_lists);
                    if let Err(why) = &result {
                        self.note(
                            stmt.line,
                            Kind::LeftOut,
                            format!("the group is left out: {why}"),
                        );
                    }
                    tables = Some(result);
                }
                ("acknowledgement_time", _) => self.note(
                    stmt.line,
                    Kind::NotNeeded,
                    "mauve reads it but does not use it",
                ),
                ("notify", block) => {
                    let who = self.who(stmt, args);
                    let notify = match block {
                        Some(inner) => self.notify_block(inner),
                        None => Notify {
                            every: None,
                            during: None,
                        },
                    };
                    for clause in self.clauses(stmt.line, &who, &notify) {
                        if let Some(e) = clause.every {
                            if !everies.contains(&e) {
                                everies.push(e);
                            }
                        }
                        clauses.push(clause);
                    }
                }
                _ => self.note(
                    stmt.line,
                    Kind::LeftOut,
                    format!("`{key}` is not an alert_group setting mauved knows"),
                ),
            }
        }
        if everies.len() > 1 {
            everies.sort_unstable();
            self.note(
                node.line,
                Kind::Differs,
                format!(
                    "mauve reminded the whole group at its smallest `every` ({}); mauved reminds each clause at its own",
                    duration(everies[0])
                ),
            );
        }
        let tables = match tables {
            None => vec![MatchOut::default()],
            Some(Ok(t)) => t,
            Some(Err(why)) if !last => {
                self.out.left_groups.push((node.line, name, why));
                return false;
            }
            Some(Err(_)) => vec![MatchOut::default()],
        };
        if last {
            if tables != vec![MatchOut::default()] {
                self.note(
                    node.line,
                    Kind::Translated,
                    "the last group: mauve gives it every alert no group before it took, so it is the catch-all (no `match`)",
                );
            }
            self.push_group(name, level, None, clauses, node.line);
            return true;
        }
        if tables.is_empty() {
            self.note(
                node.line,
                Kind::Differs,
                "its `includes` is never true: left out (mauve never used it either)",
            );
            return false;
        }
        if tables == vec![MatchOut::default()] {
            self.push_group(name, level, None, clauses, node.line);
            return true;
        }
        if tables.len() > 1 {
            self.note(
                node.line,
                Kind::Differs,
                format!(
                    "written as {} groups in a row (one `match` each), named {name:?}, {:?}…",
                    tables.len(),
                    format!("{name} (2)")
                ),
            );
        }
        for (i, table) in tables.into_iter().enumerate() {
            let name = if i == 0 {
                name.clone()
            } else {
                format!("{name} ({})", i + 1)
            };
            let clauses = clauses
                .iter()
                .map(|c| ClauseOut {
                    who: c.who.clone(),
                    during: c.during.clone(),
                    every: c.every,
                    unacknowledged_for: c.unacknowledged_for,
                    line: c.line,
                })
                .collect();
            self.push_group(name, level, Some(table), clauses, node.line);
        }
        false
    }

    fn push_group(
        &mut self,
        name: String,
        level: &'static str,
        matches: Option<MatchOut>,
        clauses: Vec<ClauseOut>,
        line: u32,
    ) {
        self.out.groups.push(GroupOut {
            name,
            level,
            matches,
            clauses,
            line,
        });
    }

    fn who(&mut self, stmt: &Node, args: &[Node]) -> Vec<String> {
        let mut names = Vec::new();
        for arg in args {
            self.members(stmt.line, arg, &mut names);
        }
        names.retain(|n| {
            let known = self.people.contains_key(n) || self.lists.contains_key(n);
            if !known {
                let what = self.text_of(stmt.line);
                self.notes.push(Note {
                    line: stmt.line,
                    kind: Kind::LeftOut,
                    what,
                    why: format!("{n:?} is neither a person nor a people_list (mauve refuses it)"),
                });
            }
            known
        });
        names
    }

    /// A group's `notify` as clauses: one per distinct (every, during) of
    /// the people it names.
    fn clauses(&mut self, line: u32, who: &[String], notify: &Notify) -> Vec<ClauseOut> {
        if matches!(notify.during, Some(Err(()))) {
            return Vec::new();
        }
        let mut told: Vec<Told> = Vec::new();
        for name in who {
            self.resolve(
                name,
                notify.every,
                notify.during.as_ref(),
                &mut Vec::new(),
                &mut told,
            );
        }
        let mut keys: Vec<(Option<u64>, Option<During>)> = Vec::new();
        let mut people: Vec<Vec<String>> = Vec::new();
        for (person, every, during) in told {
            let during = match during {
                Some(Err(())) => continue,
                Some(Ok(d)) => Some(d),
                None => None,
            };
            let key = (every, during);
            match keys.iter().position(|k| *k == key) {
                Some(i) => {
                    if !people[i].contains(&person) {
                        people[i].push(person)
                    }
                }
                None => {
                    keys.push(key);
                    people.push(vec![person]);
                }
            }
        }
        if keys.len() > 1 {
            self.note(
                line,
                Kind::Differs,
                format!(
                    "the people named keep their own `every`/`during`: written as {} clauses",
                    keys.len()
                ),
            );
        }
        let mut out = Vec::new();
        for ((every, during), people) in keys.into_iter().zip(people) {
            let (window, unacked) = match &during {
                Some(d) => (self.out.windows.name(&d.when), d.unacknowledged_for),
                None => ("always".to_owned(), 0),
            };
            out.push(ClauseOut {
                who: self.shorten(who, people),
                during: window,
                every,
                unacknowledged_for: unacked,
                line,
            });
        }
        out
    }

    /// A list named in the clause whose people are exactly these is named
    /// instead of them.
    fn shorten(&self, named: &[String], people: Vec<String>) -> Vec<String> {
        let mut sorted = people.clone();
        sorted.sort();
        let mut remaining = sorted.clone();
        let mut out = Vec::new();
        for name in named {
            if self.people.contains_key(name) {
                continue;
            }
            let mut members = Vec::new();
            self.flatten(name, &mut Vec::new(), &mut members);
            members.sort();
            members.dedup();
            if !members.is_empty() && members.iter().all(|m| remaining.contains(m)) {
                remaining.retain(|m| !members.contains(m));
                out.push(name.clone());
            }
        }
        // People named directly, or left over, in the order they came.
        out.extend(people.into_iter().filter(|p| remaining.contains(p)));
        out
    }

    fn flatten(&self, name: &str, seen: &mut Vec<String>, out: &mut Vec<String>) {
        if seen.iter().any(|s| s == name) {
            return;
        }
        seen.push(name.to_owned());
        if self.people.contains_key(name) {
            out.push(name.to_owned());
        } else if let Some(list) = self.lists.get(name) {
            for m in &list.members {
                self.flatten(m, seen, out);
            }
        }
    }

    /// mauve's resolution: a clause's every/during, else the list's own
    /// notify's, else the person's own (by default every 30 minutes in
    /// working hours); one entry per notify block met on the way.
    fn resolve(
        &self,
        name: &str,
        every: Option<u64>,
        during: Option<&Result<During, ()>>,
        seen: &mut Vec<String>,
        out: &mut Vec<Told>,
    ) {
        if let Some(person) = self.people.get(name) {
            let default = [Notify {
                every: Some(1_800),
                during: Some(Ok(During {
                    when: When::Named("working"),
                    unacknowledged_for: 0,
                    raised_for: false,
                    ignored: Vec::new(),
                })),
            }];
            let own: &[Notify] = if person.notifies.is_empty() {
                &default
            } else {
                &person.notifies
            };
            for n in own {
                out.push((
                    name.to_owned(),
                    every.or(n.every),
                    during.cloned().or_else(|| n.during.clone()),
                ));
            }
            return;
        }
        let Some(list) = self.lists.get(name) else {
            return;
        };
        if seen.iter().any(|s| s == name) {
            return;
        }
        seen.push(name.to_owned());
        for member in &list.members {
            if list.notifies.is_empty() {
                self.resolve(member, every, during, seen, out);
            } else {
                for n in &list.notifies {
                    let during = during.cloned().or_else(|| n.during.clone());
                    self.resolve(member, every.or(n.every), during.as_ref(), seen, out);
                }
            }
        }
    }
}

fn join_addr(ip: &str, port: u64) -> String {
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// A level block's calls: `sms; email` two items, `sms || email` one item
/// with a fallback, `email("x@y")` with an address of its own.
fn level_items(body: &[Node]) -> Result<Vec<Alternatives>, String> {
    fn alternatives(node: &Node, out: &mut Alternatives) -> Result<(), String> {
        match &node.expr {
            Expr::Binary {
                op: "||",
                left,
                right,
            } => {
                alternatives(left, out)?;
                alternatives(right, out)
            }
            Expr::Call {
                recv: None,
                name,
                args,
                block: None,
            } => {
                let address = match args.as_slice() {
                    [] => None,
                    [arg] => match eval(arg)? {
                        Val::Str(s) => Some(s),
                        Val::Hash(_) => {
                            return Err(format!(
                                "`{name}` with conditions is Ruby mauved does not run"
                            ))
                        }
                        other => return Err(format!("{} is not an address", show(&other))),
                    },
                    _ => {
                        return Err(format!(
                            "`{name}` with conditions is Ruby mauved does not run"
                        ))
                    }
                };
                out.push((name.clone(), address));
                Ok(())
            }
            _ => Err("a level block holds calls such as `sms`, `email` or `sms || email`".into()),
        }
    }
    let mut items = Vec::new();
    for stmt in body {
        // `sms && email` sends both (the second only if the first worked).
        let mut parts = Vec::new();
        split_and(stmt, &mut parts);
        for part in parts {
            let mut alts = Vec::new();
            alternatives(part, &mut alts)?;
            items.push(alts);
        }
    }
    Ok(items)
}

fn split_and<'n>(node: &'n Node, out: &mut Vec<&'n Node>) {
    match &node.expr {
        Expr::Binary {
            op: "&&",
            left,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        _ => out.push(node),
    }
}
