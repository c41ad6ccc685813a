//! The server block, notification methods and the top-level settings
//! (working hours, bank holidays): what each becomes.

use super::*;

impl Translator<'_> {
    pub(super) fn server(&mut self, body: &[Node]) {
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
                        self.out.set_server("initial_sleep_s", s);
                        self.note(
                            line,
                            Kind::Translated,
                            format!("server.initial_sleep_s = {s}"),
                        );
                    }
                }
                ("listener", Some(inner)) => {
                    let Some(addr) = self.listen_addr(inner, "::", 32741, line) else {
                        continue;
                    };
                    self.note(
                        line,
                        Kind::Translated,
                        format!("listen.udp = [{addr:?}] (beside a running mauve on this host, use another port)"),
                    );
                    self.out.udp = vec![addr];
                }
                ("web_interface", Some(inner)) => {
                    let Some(addr) = self.listen_addr(inner, "127.0.0.1", 1288, line) else {
                        continue;
                    };
                    self.note(line, Kind::Translated, format!("listen.http = {addr:?}"));
                    self.out.http = Some(addr);
                }
                ("processor", Some(inner)) => self.processor(inner),
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

    /// mauve's `processor` block: its transmission cache.
    fn processor(&mut self, inner: &[Node]) {
        for node in inner {
            match call(node) {
                Some(("transmission_cache_expire_time", args, None)) => {
                    if let Some(s) = self.one_secs(node, args) {
                        self.out.set_server("transmission_cache_s", s);
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

    /// A listener block's address, if mauved can listen on it.
    fn listen_addr(&mut self, body: &[Node], ip: &str, port: u64, line: u32) -> Option<String> {
        let (ip, port) = self.address(body, ip, port);
        let addr = join_addr(&ip, port);
        if addr.parse::<std::net::SocketAddr>().is_err() {
            self.note(
                line,
                Kind::LeftOut,
                format!("{addr:?} is not an address and port mauved can listen on"),
            );
            return None;
        }
        Some(addr)
    }

    /// `ip` and `port` of a listener block.
    pub(super) fn address(&mut self, body: &[Node], ip: &str, port: u64) -> (String, u64) {
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
                        if !(url.starts_with("http://") || url.starts_with("https://")) {
                            self.note(
                                node.line,
                                Kind::LeftOut,
                                "a base URL starts with http:// or https://",
                            );
                            continue;
                        }
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

    pub(super) fn heartbeat(&mut self, body: &[Node]) {
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
        self.check_heartbeat(body.first().map_or(0, |n| n.line));
    }

    /// What mauved would refuse of the heartbeat is left out, with a note.
    fn check_heartbeat(&mut self, line: u32) {
        let Some(hb) = self.out.heartbeat.as_mut() else {
            return;
        };
        let mut why = Vec::new();
        hb.destinations.retain(|d| {
            let ok = crate::config::parse_destination(d).is_ok();
            if !ok {
                why.push(format!("{d:?} is not a host or address"));
            }
            ok
        });
        if hb.send_every == Some(0) {
            hb.send_every = None;
            why.push("send_every 0 would send without pause".to_owned());
        }
        let every = hb.send_every.unwrap_or(60);
        if let Some(after) = hb.raise_after.filter(|&a| a <= 5 || a <= every) {
            hb.raise_after = None;
            why.push(format!(
                "raise_after {after} must be above 5 s and send_every"
            ));
        }
        for why in why {
            self.note(line, Kind::LeftOut, why);
        }
    }

    pub(super) fn method(&mut self, node: &Node, args: &[Node], body: &[Node]) {
        let Some(name) = self.one_text(node, args) else {
            return;
        };
        if super::bad_name(&name) {
            return self.note(
                node.line,
                Kind::LeftOut,
                "a notification method without a name",
            );
        }
        if self.methods.contains_key(&name) {
            return self.note(
                node.line,
                Kind::LeftOut,
                format!("a second method {name:?} (mauve refuses it)"),
            );
        }
        let MethodSettings {
            records_only,
            provider,
            host,
            port,
            from,
        } = self.method_settings(&name, body);
        let kind = if records_only {
            self.note(
                node.line,
                Kind::Translated,
                format!("a method that only records: [[notifier]] {name:?}, kind \"log\""),
            );
            NotifierKind::Log
        } else if name == "email" {
            self.smtp(node, host, port, from)
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

    /// What a notification method's block sets.
    fn method_settings(&mut self, name: &str, body: &[Node]) -> MethodSettings {
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
        MethodSettings {
            records_only,
            provider,
            host,
            port,
            from,
        }
    }

    /// mauve's e-mail method as an SMTP notifier: a host, port or sender
    /// that would not work is said and replaced by mauve's default.
    fn smtp(
        &mut self,
        node: &Node,
        mut host: String,
        mut port: u64,
        mut from: String,
    ) -> NotifierKind {
        if crate::config::split_host_port(&format!("{host}:{port}")).is_none() || port > 65_535 {
            self.note(
                node.line,
                Kind::LeftOut,
                format!(
                    "{host}:{port} is not a mail server's host and port: 127.0.0.1:25 is written"
                ),
            );
            (host, port) = ("127.0.0.1".to_owned(), 25);
        }
        if from.parse::<lettre::message::Mailbox>().is_err() {
            self.note(
                node.line,
                Kind::LeftOut,
                format!("{from:?} is not an e-mail address: mauve@localhost is written"),
            );
            from = "mauve@localhost".to_owned();
        }
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
    }

    pub(super) fn hours(&mut self, node: &Node, name: &str, args: &[Node]) {
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

    pub(super) fn bank_holidays(&mut self, node: &Node, args: &[Node]) {
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
}

fn join_addr(ip: &str, port: u64) -> String {
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// A notification method's settings (see `method_settings`).
struct MethodSettings {
    records_only: bool,
    provider: Option<String>,
    host: String,
    port: u64,
    from: String,
}
