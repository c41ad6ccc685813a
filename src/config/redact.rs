//! The configuration as it may be shown to a reader: every secret replaced
//! by `<secret>`, as Alertmanager shows its own.
//!
//! Made from the parsed TOML tree, never by editing the text, so no way of
//! writing a value (quotes, escapes, inline tables, multi-line strings) lets
//! one through. What counts as a secret:
//! - the value of any key named like one (a `_`/`-`/`.` separated word such
//!   as `token`, `password`, `secret`, `key`, `auth`), whatever its type;
//! - in any string, a URL's user and password, its query values and
//!   fragment, and each path segment long enough to be a token (Slack,
//!   Discord and Telegram webhooks carry theirs in the path);
//! - in a command's argv, `--token=x`, `TOKEN=x` and the word after `--token`.
//!
//! A `*_file` key names a file that holds a secret, not the secret: shown.

use toml::{Table, Value};

/// What stands where a secret was.
pub(crate) const SECRET: &str = "<secret>";

/// Path segments at least this long are taken for tokens.
const TOKEN_SEGMENT: usize = 16;

/// `text` (a configuration that parsed) as TOML with its secrets replaced;
/// text that does not parse as TOML is not shown at all.
pub(crate) fn shown(text: &str) -> String {
    match text.parse::<Table>() {
        Ok(mut table) => {
            redact_table(&mut table);
            toml::to_string(&table).unwrap_or_default()
        }
        Err(_) => String::new(),
    }
}

/// Whether a key's value is a secret by its name.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with("_file") || lower.ends_with("-file") {
        return false;
    }
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| {
            matches!(
                word,
                "token"
                    | "tokens"
                    | "password"
                    | "passwd"
                    | "pass"
                    | "secret"
                    | "secrets"
                    | "key"
                    | "apikey"
                    | "credential"
                    | "credentials"
                    | "auth"
                    | "authorization"
                    | "bearer"
                    | "cookie"
                    | "private"
                    | "hash"
            )
        })
}

fn redact_table(table: &mut Table) {
    for (name, value) in table.iter_mut() {
        if is_secret_name(name) {
            redact_secret(value);
        } else if name == "command" {
            if let Value::Array(argv) = value {
                redact_argv(argv);
            }
            redact_value(value);
        } else {
            redact_value(value);
        }
    }
}

/// The value of a key named like a secret. A table in it (`[[http.token]]`)
/// keeps its `name`, which says whose the secret is; every other value goes.
fn redact_secret(value: &mut Value) {
    match value {
        Value::Table(table) => {
            for (name, value) in table.iter_mut() {
                if name != "name" {
                    redact_secret(value);
                }
            }
        }
        Value::Array(items) if items.iter().any(Value::is_table) => {
            items.iter_mut().for_each(redact_secret);
        }
        other => *other = Value::String(SECRET.into()),
    }
}

fn redact_value(value: &mut Value) {
    match value {
        Value::String(text) if text.contains("://") => *text = urls(text),
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Table(table) => redact_table(table),
        _ => {}
    }
}

/// `--token=x` and `TOKEN=x` lose `x`; the word after `--token` is lost whole.
fn redact_argv(argv: &mut [Value]) {
    let mut after_secret_flag = false;
    for item in argv.iter_mut() {
        let Value::String(word) = item else {
            after_secret_flag = false;
            continue;
        };
        if after_secret_flag {
            *word = SECRET.into();
            after_secret_flag = false;
            continue;
        }
        if let Some((name, _)) = word.split_once('=') {
            if is_secret_name(name.trim_start_matches('-')) {
                *word = format!("{name}={SECRET}");
            }
        } else if word.starts_with('-') && is_secret_name(word.trim_start_matches('-')) {
            after_secret_flag = true;
        }
    }
}

/// Every `scheme://…` in `text` with its secrets replaced; the rest as is.
pub(crate) fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        out.push_str(&rest[..at + 3]);
        let after = &rest[at + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .unwrap_or(after.len());
        out.push_str(&redact_url_body(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A URL after its `scheme://`: authority, path, query and fragment.
fn redact_url_body(body: &str) -> String {
    let (before_fragment, fragment) = match body.split_once('#') {
        Some((b, _)) => (b, Some(SECRET)),
        None => (body, None),
    };
    let (before_query, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(at) => before_query.split_at(at),
        None => (before_query, ""),
    };
    let mut out = String::with_capacity(body.len());
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str(SECRET);
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    let segments: Vec<&str> = path.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        if segment.len() >= TOKEN_SEGMENT || segment.contains(':') {
            out.push_str(SECRET);
        } else {
            out.push_str(segment);
        }
    }
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}={SECRET}"),
                None if pair.is_empty() => String::new(),
                None => SECRET.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: &[&str] = &[
        "tok-0123456789abcdef",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "hunter2hunter2",
        "T0KENINPATH0123456789abcdef",
        "qs-secret-value",
        "s3cr3t-flag",
        "envsecret",
        "fragsecret",
        "etcdpass",
    ];

    const TEXT: &str = r#"
[http]
read_requires_login = false
[[http.token]]
name = "ci"
token = "tok-0123456789abcdef"
[[http.user]]
name = "alice"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"

[[notifier]]
kind = "smtp"
name = "email"
server = "mail:25"
from = "mauved@example.com"
user = "mauved"
password_file = "/etc/mauved/smtp-password"

[[notifier]]
kind = "webhook"
name = "chat"
url = "https://bot:hunter2hunter2@hooks.example.com/services/T01/B02/T0KENINPATH0123456789abcdef?token=qs-secret-value#fragsecret"

[[notifier]]
kind = "command"
name = "pager"
command = ["/usr/bin/page", "--api-token", "s3cr3t-flag", "PAGER_SECRET=envsecret", "--to=ops"]

[person.alice]
email = "alice@example.com"
chat = "https://hooks.example.com/x?sig=qs-secret-value"

[cluster]
station = "a"
etcd = ["http://root:etcdpass@127.0.0.1:2379"]

[oncall]
"api_key" = { inner = "hunter2hunter2" }
"#;

    #[test]
    fn no_secret_is_shown_and_everything_else_is() {
        let shown = shown(TEXT);
        for secret in SECRETS {
            assert!(!shown.contains(secret), "{secret} is shown in:\n{shown}");
        }
        for kept in [
            "alice",
            "ci",
            "/etc/mauved/smtp-password",
            "hooks.example.com/services/T01/B02/<secret>?token=<secret>#<secret>",
            "127.0.0.1:2379",
            "--to=ops",
            "PAGER_SECRET=<secret>",
            "alice@example.com",
            "mail:25",
        ] {
            assert!(shown.contains(kept), "{kept} is missing from:\n{shown}");
        }
        // What is shown is still TOML that says the same where it can.
        let table: Table = shown.parse().expect("shown text parses");
        assert_eq!(table["http"]["read_requires_login"].as_bool(), Some(false));
    }

    #[test]
    fn names_that_hold_secrets_are_known_and_paths_to_them_are_not() {
        for name in [
            "token",
            "password_hash",
            "api-key",
            "client_secret",
            "Authorization",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "name",
            "password_file",
            "url",
            "server",
            "monkey",
            "keyboard",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn a_url_without_secrets_reads_the_same() {
        for url in [
            "http://127.0.0.1:2379",
            "https://mauve.example.com/",
            "https://example.com/mauve/alerts",
        ] {
            assert_eq!(urls(url), url);
        }
    }
}
