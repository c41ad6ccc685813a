//! Who may act, against the real binary: tokens, logged-in users with CSRF
//! tokens, reading behind a login, and the security headers.

mod common;

use common::*;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn call(d: &Daemon, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("http://{}{path}", d.http);
    let mut r = if method == "GET" {
        client.get(&url)
    } else {
        client.post(&url).body(body.to_owned())
    };
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let response = r.send().unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: response.text().unwrap_or_default(),
    }
}

fn with_alert(extra: &str) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), extra);
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "the alert", || d.state("web1", "disk"));
    (dir, d)
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn user_config() -> String {
    let hash = mauved::http::auth::hash_password("correct horse").unwrap();
    format!(
        "[[http.user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n\
         [[http.token]]\nname = \"ci-bot\"\ntoken = \"{TOKEN}\"\n"
    )
}

#[test]
fn tokens_are_needed_to_act_once_configured() {
    let (_dir, d) = with_alert(&user_config());
    let ack = "/api/alerts/web1/disk/acknowledge";
    let json = ("content-type", "application/json");
    let none = call(&d, "POST", ack, &[json], r#"{"by": "mallory"}"#);
    assert_eq!(none.status, 401, "{}", none.body);
    let wrong = call(
        &d,
        "POST",
        ack,
        &[json, ("authorization", "Bearer nope-nope-nope-nope")],
        "{}",
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    // A wrong token is refused even for reading.
    assert_eq!(
        call(
            &d,
            "GET",
            "/api/alerts",
            &[("authorization", "Bearer x")],
            ""
        )
        .status,
        401
    );
    let bearer = format!("Bearer {TOKEN}");
    let ok = call(&d, "POST", ack, &[json, ("authorization", &bearer)], "{}");
    assert_eq!(ok.status, 200, "{}", ok.body);
    let acked: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(
        acked["acknowledged_by"], "ci-bot",
        "the token's name is the author"
    );
    // Reading stays open; every answer has the security headers.
    let read = call(&d, "GET", "/api/alerts", &[], "");
    assert_eq!(read.status, 200);
    let csp = read.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(read.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn a_logged_in_user_acts_with_the_sessions_csrf_token() {
    let (_dir, d) = with_alert(&user_config());
    let form = ("content-type", "application/x-www-form-urlencoded");
    let bad = call(&d, "POST", "/login", &[form], "name=alice&password=wrong");
    assert_eq!(bad.status, 401);
    assert!(bad.header("set-cookie").is_none());
    let LoggedIn { set, cookie, csrf } = log_in(&d);
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "not behind TLS: {set}");
    assert_eq!(csrf.len(), 64);
    let json = ("content-type", "application/json");
    let ack = "/api/alerts/web1/disk/acknowledge";
    let forged = call(&d, "POST", ack, &[json, ("cookie", &cookie)], "{}");
    assert_eq!(forged.status, 403, "no CSRF token: {}", forged.body);
    let wrong = call(
        &d,
        "POST",
        ack,
        &[json, ("cookie", &cookie), ("x-csrf-token", "0000")],
        "{}",
    );
    assert_eq!(wrong.status, 403);
    let ok = call(
        &d,
        "POST",
        ack,
        &[json, ("cookie", &cookie), ("x-csrf-token", &csrf)],
        "{}",
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    // The page's form: without its token 403, with it the action and a redirect.
    let reference = "alert=web1%2Fdisk";
    let no_token = call(
        &d,
        "POST",
        "/actions",
        &[form, ("cookie", &cookie)],
        &format!("action=clear&{reference}"),
    );
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let cleared = call(
        &d,
        "POST",
        "/actions",
        &[form, ("cookie", &cookie)],
        &format!("action=clear&{reference}&csrf={csrf}&back=/"),
    );
    assert_eq!(cleared.status, 303, "{}", cleared.body);
    assert_eq!(d.state("web1", "disk").as_deref(), Some("cleared"));
    let history = d.json("/api/alerts/web1/disk/history");
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["text"] == "CLEARED by alice"),
        "{history:#}"
    );
    // Logging out is a change like any other: without the token, 403.
    let forged_out = call(&d, "POST", "/logout", &[form, ("cookie", &cookie)], "");
    assert_eq!(forged_out.status, 403, "{}", forged_out.body);
    let still = call(
        &d,
        "POST",
        "/api/alerts/web1/disk/note",
        &[json, ("cookie", &cookie), ("x-csrf-token", &csrf)],
        r#"{"text": "still here"}"#,
    );
    assert_eq!(still.status, 200, "still logged in: {}", still.body);
    // After logging out the cookie is worth nothing.
    log_out(&d, &cookie, &csrf);
    let after = call(
        &d,
        "POST",
        ack,
        &[json, ("cookie", &cookie), ("x-csrf-token", &csrf)],
        "{}",
    );
    assert_eq!(after.status, 401);
}

/// A login's answer: its `Set-Cookie`, the cookie (`name=value`) and the
/// session's CSRF token.
struct LoggedIn {
    set: String,
    cookie: String,
    csrf: String,
}

/// Logs out with the session's cookie and CSRF token.
fn log_out(d: &Daemon, cookie: &str, csrf: &str) {
    let form = ("content-type", "application/x-www-form-urlencoded");
    let out = call(
        d,
        "POST",
        "/logout",
        &[form, ("cookie", cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(out.status, 303, "{}", out.body);
}

/// Logs alice in; the page then shows her and carries the CSRF token.
fn log_in(d: &Daemon) -> LoggedIn {
    let form = ("content-type", "application/x-www-form-urlencoded");
    let good = call(
        d,
        "POST",
        "/login",
        &[form],
        "name=alice&password=correct+horse",
    );
    assert_eq!(good.status, 303, "{}", good.body);
    let set = good.header("set-cookie").unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = call(d, "GET", "/", &[("cookie", &cookie)], "");
    assert!(page.body.contains("alice"), "{}", page.body);
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    LoggedIn { set, cookie, csrf }
}

#[test]
fn a_session_survives_a_restart_until_logged_out() {
    // The same configuration each start (a user's hash changed would end
    // her sessions).
    let extra = user_config();
    let (dir, d) = with_alert(&extra);
    let LoggedIn { cookie, csrf, .. } = log_in(&d);
    let json = ("content-type", "application/json");
    let note = |d: &Daemon, text: &str| {
        call(
            d,
            "POST",
            "/api/alerts/web1/disk/note",
            &[json, ("cookie", &cookie), ("x-csrf-token", &csrf)],
            &format!(r#"{{"text": "{text}"}}"#),
        )
        .status
    };
    assert_eq!(note(&d, "before"), 200);
    // Restarted: the same cookie and CSRF token still act.
    assert!(d.stop().success());
    let d = Daemon::start(dir.path(), &extra);
    assert_eq!(note(&d, "after a restart"), 200);
    let page = call(&d, "GET", "/", &[("cookie", &cookie)], "");
    assert!(page.body.contains(&csrf), "the same session: {}", page.body);
    // Logged out, then restarted: the cookie is worth nothing.
    log_out(&d, &cookie, &csrf);
    assert!(d.stop().success());
    let d = Daemon::start(dir.path(), &extra);
    assert_eq!(note(&d, "after logging out"), 401);
}

#[test]
fn reading_can_require_a_login() {
    let extra = format!("[http]\nread_requires_login = true\n{}", user_config());
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &extra);
    assert_eq!(call(&d, "GET", "/api/alerts", &[], "").status, 401);
    let page = call(&d, "GET", "/", &[], "");
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login"));
    assert_eq!(call(&d, "GET", "/health", &[], "").status, 200);
    assert_eq!(call(&d, "GET", "/login", &[], "").status, 200);
    // The shift handover is read like the rest.
    assert_eq!(call(&d, "GET", "/api/handover", &[], "").status, 401);
    let handover = call(&d, "GET", "/handover", &[], "");
    assert_eq!(handover.status, 303);
    assert_eq!(handover.header("location"), Some("/login"));
    let bearer = format!("Bearer {TOKEN}");
    for path in ["/api/alerts", "/api/handover"] {
        assert_eq!(
            call(&d, "GET", path, &[("authorization", &bearer)], "").status,
            200,
            "{path}"
        );
    }
}

#[test]
fn without_users_or_tokens_loopback_may_act_naming_itself() {
    let (_dir, d) = with_alert("");
    let json = ("content-type", "application/json");
    let ack = "/api/alerts/web1/disk/acknowledge";
    assert_eq!(
        call(&d, "POST", ack, &[json], "{}").status,
        400,
        "by is required"
    );
    assert_eq!(
        call(&d, "POST", ack, &[json], r#"{"by": "ops"}"#).status,
        200
    );
    // The page's form asks for a name instead of a login.
    let page = call(&d, "GET", "/", &[], "");
    assert!(page.body.contains("name=\"by\""), "{}", page.body);
}

#[test]
fn without_users_or_tokens_nobody_acts_through_a_proxy() {
    let (_dir, d) = with_alert("");
    let json = ("content-type", "application/json");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let forget = "/api/alerts/web1/disk/forget";
    // A proxy on this host connects from loopback for every client.
    for header in [
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=203.0.113.9"),
        ("x-forwarded-proto", "https"),
        ("x-real-ip", "203.0.113.9"),
    ] {
        let refused = call(&d, "POST", forget, &[json, header], r#"{"by": "mallory"}"#);
        assert_eq!(refused.status, 401, "{header:?}: {}", refused.body);
        assert!(
            refused.body.contains("proxy") && refused.body.contains("[[http.token]]"),
            "says what to configure: {}",
            refused.body
        );
        let page_form = call(
            &d,
            "POST",
            "/actions",
            &[form, header],
            "action=forget&alert=web1%2Fdisk&by=mallory",
        );
        assert_eq!(page_form.status, 401, "{header:?}: {}", page_form.body);
    }
    assert_eq!(
        d.state("web1", "disk").as_deref(),
        Some("raised"),
        "still there"
    );
    // Reading through the proxy stays open.
    let read = call(
        &d,
        "GET",
        "/api/alerts",
        &[("x-forwarded-for", "203.0.113.9")],
        "",
    );
    assert_eq!(read.status, 200);
}

#[test]
fn failed_logins_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &user_config());
    let form = ("content-type", "application/x-www-form-urlencoded");
    for _ in 0..5 {
        assert_eq!(
            call(&d, "POST", "/login", &[form], "name=alice&password=guess").status,
            401
        );
    }
    // Even the right password waits now.
    let limited = call(
        &d,
        "POST",
        "/login",
        &[form],
        "name=alice&password=correct+horse",
    );
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.body.contains("too many failed logins"));
}

#[test]
fn html_from_the_network_never_reaches_a_page_unescaped() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)><a href=\"javascript:alert(3)\">x</a>";
    let alert = mauved::wire::pb::Alert {
        id: format!("id{evil}"),
        raise_time: Some(now()),
        subject: Some(format!("subject{evil}")),
        summary: Some(format!("summary{evil}")),
        detail: Some(format!("detail{evil}")),
        ..mauved::wire::pb::Alert::default()
    };
    d.send(&packet(1, &format!("src{evil}"), vec![alert], false));
    wait_for(WAIT, "the alert", || {
        (d.json("/api/counts")["raised"] == 1).then_some(())
    });
    let listed = d.json("/api/alerts");
    let a = &listed[0];
    let (source, id) = (a["source"].as_str().unwrap(), a["id"].as_str().unwrap());
    let enc = |s: &str| percent_encoding_path(s);
    let note = call(
        &d,
        "POST",
        &format!("/api/alerts/{}/{}/note", enc(source), enc(id)),
        &[("content-type", "application/json")],
        &serde_json::json!({"by": format!("by{evil}"), "text": format!("note{evil}")}).to_string(),
    );
    assert_eq!(note.status, 200, "{}", note.body);
    let index = call(&d, "GET", "/", &[], "").body;
    let own = call(
        &d,
        "GET",
        &format!("/alerts/{}/{}", enc(source), enc(id)),
        &[],
        "",
    )
    .body;
    for (name, page) in [("index", &index), ("alert page", &own)] {
        assert!(page.contains("subject"), "{name} shows the alert");
        // Tags from the network are stripped or escaped: no element of
        // theirs exists, so no handler or script can run (the escaped text
        // may still read "onerror=", harmlessly).
        for bad in [
            "<script>alert",
            "<img",
            "href=\"javascript:",
            "<a href=\"javascript",
        ] {
            assert!(!page.contains(bad), "{name} contains {bad:?}");
        }
    }
    assert!(
        own.contains("&lt;script&gt;alert(1)"),
        "escaped, not dropped, in the note"
    );
}

/// Percent-encodes a path segment.
fn percent_encoding_path(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn a_logged_in_users_alert_page_links_to_her_own_action_page() {
    let (_dir, d) = with_alert(&user_config());
    let page = call(&d, "GET", "/alerts/web1/disk", &[], "");
    assert!(
        !page.body.contains("On a phone"),
        "nobody logged in: no link"
    );
    let LoggedIn { cookie, .. } = log_in(&d);
    let page = call(&d, "GET", "/alerts/web1/disk", &[("cookie", &cookie)], "");
    // The page escapes the '/' of an href as &#x2f;.
    let link: String = page
        .body
        .split("On a phone: <a href=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("an action link in {}", page.body))
        .chars()
        .take_while(|c| *c != '"')
        .collect::<String>()
        .replace("&#x2f;", "/");
    assert!(link.starts_with("/a/"), "{link}");
    // The link works without the session, as alice.
    let shown = call(&d, "GET", &link, &[], "");
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown.body.contains("acknowledge as <b>alice</b>"),
        "{}",
        shown.body
    );
}
