//! The translation written as a mauved TOML configuration, in the order of
//! `config/example.toml`, each group headed by the line it came from.

use std::fmt::Write as _;

use super::translate::{NotifierKind, Out};
use super::values::duration;
use super::Options;
use crate::config::WindowSpec;

/// A TOML string value.
fn q(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A TOML key: bare when it can be, else a basic string on one line (a
/// key may not be a multi-line or literal string).
fn key(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return text.to_owned();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for a `#` comment: one line, control characters escaped (TOML
/// allows none in comments).
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|i| q(i)).collect::<Vec<_>>().join(", ")
    )
}

fn window(spec: &WindowSpec) -> String {
    let mut parts = Vec::new();
    if let Some(days) = &spec.days {
        parts.push(format!("days = {}", q(days)));
    }
    if let Some(hours) = &spec.hours {
        parts.push(format!("hours = {}", q(hours)));
    }
    if spec.except_holidays {
        parts.push("except_holidays = true".into());
    }
    if let Some(not) = &spec.not {
        parts.push(format!("not = {}", q(not)));
    }
    if !spec.all.is_empty() {
        parts.push(format!("all = {}", list(&spec.all)));
    }
    if !spec.any.is_empty() {
        parts.push(format!("any = {}", list(&spec.any)));
    }
    format!("{{ {} }}", parts.join(", "))
}

pub(crate) fn toml(out: &Out, options: &Options) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Translated from mauve's {} by `mauved import-mauve`; the report\n# (stderr) says what differs and what was left out.\n# Check it with: mauved check-config FILE",
        comment(&options.origin)
    );
    server_sections(&mut t, out);
    oncall_sections(&mut t, out, options);
    notifiers_and_people(&mut t, out);
    groups(&mut t, out);
    t
}

/// `[listen]`, `[server]` and `[heartbeat]`.
fn server_sections(t: &mut String, out: &Out) {
    if !out.udp.is_empty() || out.http.is_some() {
        t.push_str("\n[listen]\n");
        if !out.udp.is_empty() {
            let _ = writeln!(t, "udp = {}", list(&out.udp));
        }
        if let Some(http) = &out.http {
            let _ = writeln!(t, "http = {}", q(http));
        }
    }
    if !out.server.is_empty() {
        t.push_str("\n[server]\n");
        for (k, v) in &out.server {
            let _ = writeln!(t, "{k} = {v}");
        }
    }
    if let Some(hb) = &out.heartbeat {
        t.push_str("\n[heartbeat]\n");
        let _ = writeln!(t, "destinations = {}", list(&hb.destinations));
        if let Some(s) = hb.send_every {
            let _ = writeln!(t, "send_every = {}", q(&duration(s)));
        }
        if let Some(s) = hb.raise_after {
            let _ = writeln!(t, "raise_after = {}", q(&duration(s)));
        }
        for (k, v) in [
            ("source", &hb.source),
            ("summary", &hb.summary),
            ("detail", &hb.detail),
        ] {
            if let Some(v) = v {
                let _ = writeln!(t, "{k} = {}", q(v));
            }
        }
    }
}

/// `[oncall]` and `[window]`.
fn oncall_sections(t: &mut String, out: &Out, options: &Options) {
    t.push_str("\n[oncall]\n");
    let _ = writeln!(
        t,
        "# mauve used its host's time zone: this is the one import-mauve was given.\ntimezone = {}",
        q(&options.timezone)
    );
    if let Some(url) = &out.base_url {
        let _ = writeln!(t, "base_url = {}", q(url));
    }
    if !out.holidays.is_empty() {
        let _ = writeln!(t, "holidays = {}", list(&out.holidays));
    }
    if !out.windows.specs.is_empty() {
        t.push_str("\n[window]\n");
        for (name, spec) in &out.windows.specs {
            let _ = writeln!(t, "{} = {}", key(name), window(spec));
        }
    }
}

/// `[[notifier]]`, `[person.*]` and `[people_list]`.
fn notifiers_and_people(t: &mut String, out: &Out) {
    for n in &out.notifiers {
        let _ = writeln!(
            t,
            "\n# mauve line {}\n[[notifier]]\nname = {}",
            n.line,
            q(&n.name)
        );
        match &n.kind {
            NotifierKind::Smtp { server, from } => {
                let _ = writeln!(
                    t,
                    "kind = \"smtp\"\nserver = {}\nfrom = {}",
                    q(server),
                    q(from)
                );
            }
            NotifierKind::Log => t.push_str("kind = \"log\"\n"),
        }
    }
    for (name, p) in &out.people {
        let _ = writeln!(t, "\n# mauve line {}\n[person.{}]", p.line, key(name));
        for (notifier, address) in &p.addresses {
            let _ = writeln!(t, "{} = {}", key(notifier), q(address));
        }
        for (level, items) in ["urgent", "normal", "low"].iter().zip(&p.levels) {
            let _ = writeln!(t, "{level} = {}", list(items));
        }
        if let Some((count, within)) = p.rate_limit {
            let _ = writeln!(
                t,
                "rate_limit = {{ count = {count}, within = {} }}",
                q(&duration(within))
            );
        }
        if p.notify_when_away {
            t.push_str("notify_when_away = true\n");
        }
    }
    if !out.lists.is_empty() {
        t.push_str("\n[people_list]\n");
        for (name, members) in &out.lists {
            let _ = writeln!(t, "{} = {}", key(name), list(members));
        }
    }
}

/// `[[alert_group]]`, and the groups left out (as comments).
fn groups(t: &mut String, out: &Out) {
    for (line, name, why) in &out.left_groups {
        let _ = writeln!(
            t,
            "\n# mauve line {line}: alert_group {name:?} is left out: {}",
            comment(why)
        );
    }
    for g in &out.groups {
        let _ = writeln!(
            t,
            "\n# mauve line {}\n[[alert_group]]\nname = {}\nlevel = {}",
            g.line,
            q(&g.name),
            q(g.level)
        );
        if let Some(m) = &g.matches {
            let mut parts: Vec<String> = m
                .fields
                .iter()
                .map(|(k, items)| format!("{k} = {}", list(items)))
                .collect();
            if let Some((low, high)) = m.importance {
                let range = match (low, high) {
                    (l, u32::MAX) => format!(">= {l}"),
                    (0, h) => format!("<= {h}"),
                    (l, h) => format!("{l}..{h}"),
                };
                parts.push(format!("importance = {}", q(&range)));
            }
            let _ = writeln!(t, "match = {{ {} }}", parts.join(", "));
        }
        for c in &g.clauses {
            let _ = writeln!(
                t,
                "\n  # mauve line {}\n  [[alert_group.notify]]\n  who = {}\n  during = {}",
                c.line,
                list(&c.who),
                q(&c.during)
            );
            if let Some(every) = c.every {
                let _ = writeln!(t, "  every = {}", q(&duration(every)));
            }
            if c.unacknowledged_for > 0 {
                let _ = writeln!(
                    t,
                    "  unacknowledged_for = {}",
                    q(&duration(c.unacknowledged_for))
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn any_name_is_a_key_toml_reads_back() {
        for name in [
            "alice",
            "bob.smith",
            "a b",
            "x\ny",
            "q\"uote",
            "back\\slash",
            "tab\there",
            "é☃",
            "",
        ] {
            let text = format!("{} = 1\n", key(name));
            let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(table.contains_key(name), "{name:?} from {text}");
        }
    }
}
