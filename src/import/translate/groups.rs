//! Alert groups: `includes` as `match` tables, and each `notify` as the
//! clauses mauve's fall-through of `every` and `during` makes of it.

use super::*;

impl Translator<'_> {
    /// An alert group; true when it takes every alert.
    pub(super) fn group(&mut self, node: &Node, last: bool) -> bool {
        let Some((_, args, Some(body))) = call(node) else {
            self.ruby(node);
            return false;
        };
        let name = match args.first().map(|a| eval(a).and_then(|v| text(&v))) {
            Some(Ok(name)) if !super::bad_name(&name) => name,
            Some(Ok(_)) => format!("group {}", self.out.groups.len() + 1),
            Some(Err(why)) => {
                self.note(node.line, Kind::LeftOut, why);
                return false;
            }
            None => format!("group {}", self.out.groups.len() + 1),
        };
        let GroupBody {
            level,
            tables,
            clauses,
            everies,
        } = self.group_body(body);
        self.say_everies(node, everies);
        self.write_group(node, name, level, tables, clauses, last)
    }

    /// What a group's block says: its level, its `includes` as match
    /// tables, its clauses, and their reminders.
    fn group_body(&mut self, body: &[Node]) -> GroupBody {
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
        GroupBody {
            level,
            tables,
            clauses,
            everies,
        }
    }

    /// Several reminder intervals in one group: mauve used the smallest.
    fn say_everies(&mut self, node: &Node, mut everies: Vec<u64>) {
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
    }

    /// Writes a group out: one per match table, the last as the catch-all;
    /// true if it was the catch-all.
    fn write_group(
        &mut self,
        node: &Node,
        name: String,
        level: &'static str,
        tables: Option<Result<Vec<MatchOut>, String>>,
        clauses: Vec<ClauseOut>,
        last: bool,
    ) -> bool {
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

    pub(super) fn push_group(
        &mut self,
        name: String,
        level: &'static str,
        matches: Option<MatchOut>,
        clauses: Vec<ClauseOut>,
        line: u32,
    ) {
        // Names stay unique (a split group's "(2)" could meet a group so named).
        let base = name.clone();
        let mut name = name;
        let mut n = 2;
        while self.out.groups.iter().any(|g| g.name == name) {
            name = format!("{base} ({n})");
            n += 1;
        }
        self.out.groups.push(GroupOut {
            name,
            level,
            matches,
            clauses,
            line,
        });
    }

    pub(super) fn who(&mut self, stmt: &Node, args: &[Node]) -> Vec<String> {
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
    pub(super) fn clauses(&mut self, line: u32, who: &[String], notify: &Notify) -> Vec<ClauseOut> {
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
    pub(super) fn shorten(&self, named: &[String], people: Vec<String>) -> Vec<String> {
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

    pub(super) fn flatten(&self, name: &str, seen: &mut Vec<String>, out: &mut Vec<String>) {
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
    pub(super) fn resolve(
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

/// What a group's block says (see `group_body`).
struct GroupBody {
    level: &'static str,
    tables: Option<Result<Vec<MatchOut>, String>>,
    clauses: Vec<ClauseOut>,
    everies: Vec<u64>,
}
