//! People, their level blocks and own `notify`, people lists and source
//! lists; addresses and level lists settled once every method is known.

use super::*;

impl Translator<'_> {
    pub(super) fn person(&mut self, node: &Node, args: &[Node], body: Option<&[Node]>) {
        let Some(name) = self.one_text(node, args) else {
            return;
        };
        if super::bad_name(&name) {
            return self.note(node.line, Kind::LeftOut, "a person without a name");
        }
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
            self.person_setting(&mut person, stmt);
        }
        self.people.insert(name, person);
    }

    /// One line of a person's block.
    fn person_setting(&mut self, person: &mut RawPerson, stmt: &Node) {
        let Some((key, args, block)) = call(stmt) else {
            self.ruby(stmt);
            return;
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

    pub(super) fn rate_limit(&mut self, node: &Node, args: &[Node]) -> Option<(u64, u64)> {
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

    pub(super) fn notify_block(&mut self, body: &[Node]) -> Notify {
        let mut notify = Notify {
            every: None,
            during: None,
        };
        for stmt in body {
            match call(stmt) {
                Some(("every", args, None)) => {
                    notify.every = self.one_secs(stmt, args);
                    if notify.every == Some(0) {
                        notify.every = None;
                        self.note(
                            stmt.line,
                            Kind::LeftOut,
                            "every 0 would remind without pause",
                        );
                    }
                }
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

    pub(super) fn people_list(&mut self, node: &Node, args: &[Node], block: Option<&[Node]>) {
        let Some((first, rest)) = args.split_first() else {
            return self.note(node.line, Kind::LeftOut, "a people_list without a name");
        };
        let name = match eval(first).and_then(|v| text(&v)) {
            Ok(n) if super::bad_name(&n) => {
                return self.note(node.line, Kind::LeftOut, "a people_list without a name")
            }
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

    pub(super) fn members(&mut self, line: u32, arg: &Node, members: &mut Vec<String>) {
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

    pub(super) fn source_list(&mut self, node: &Node, args: &[Node]) {
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

    /// People's addresses and level lists, once the methods are all known.
    pub(super) fn finish_people(&mut self) {
        let people = std::mem::take(&mut self.people);
        for (name, raw) in &people {
            let person = self.finish_person(raw);
            self.out.people.insert(name.clone(), person);
        }
        self.people = people;
        self.finish_lists();
    }

    /// One person: the addresses of methods that exist, and each level's
    /// methods (mauve's defaults where none is given).
    fn finish_person(&mut self, raw: &RawPerson) -> PersonOut {
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
        person
    }

    /// The lists, with the members that are people or lists.
    fn finish_lists(&mut self) {
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
