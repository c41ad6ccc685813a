//! The HTTP notifier's presets against receivers on 127.0.0.1: the real
//! binary raises one urgent alert to nine people, each reached through
//! one provider's preset, and each request is checked against what that
//! provider documents (method, path, auth, required fields, their types
//! and lengths). Then how answers are taken: 429 with `Retry-After` waits
//! at least that long, a 4xx is given up.

mod common;

use std::time::Duration;

use common::sinks::{Hit, HttpSink};
use common::*;

const WAIT: Duration = Duration::from_secs(20);
const PRESETS: [&str; 9] = [
    "ntfy",
    "pushover",
    "pagerduty",
    "telegram",
    "matrix",
    "slack",
    "teams",
    "discord",
    "twilio",
];
const SECRET: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";

fn config(sink: &HttpSink, secret: &std::path::Path) -> String {
    let base = format!("http://{}", sink.addr);
    let mut out = String::from(
        "[oncall]\nbatch_window = \"0s\"\nbase_url = \"https://alerts.example.com\"\n",
    );
    for preset in PRESETS {
        out.push_str(&format!(
            "[[notifier]]\nname = \"{preset}\"\nkind = \"http\"\npreset = \"{preset}\"\n"
        ));
        if !matches!(preset, "slack" | "teams" | "discord") {
            out.push_str(&format!("server = \"{base}/{preset}\"\n"));
        }
        if matches!(preset, "pushover" | "telegram" | "matrix" | "twilio") {
            out.push_str(&format!("secret_file = \"{}\"\n", secret.display()));
        }
        if preset == "twilio" {
            out.push_str("params = { account_sid = \"AC0123456789abcdef0123456789abcdef\", from = \"+15005550006\" }\n");
        }
    }
    let address = |preset: &str| match preset {
        "ntfy" => "alerts-alice".to_owned(),
        "pushover" => "uQiRzpo4DXghDmr9QzzfQu27cmVRsG".to_owned(),
        "pagerduty" => "R0123456789ABCDEF0123456789ABCDE".to_owned(),
        "telegram" => "123456789".to_owned(),
        "matrix" => "!ops:example.org".to_owned(),
        "twilio" => "+447700900001".to_owned(),
        hook => format!("{base}/{hook}/hook"),
    };
    for preset in PRESETS {
        out.push_str(&format!(
            "[person.p_{preset}]\n{preset} = \"{}\"\nurgent = [\"{preset}\"]\n",
            address(preset)
        ));
    }
    let people: Vec<String> = PRESETS.iter().map(|p| format!("\"p_{p}\"")).collect();
    out.push_str(&format!(
        "[[alert_group]]\nname = \"all\"\nlevel = \"urgent\"\nnotify = [{{ who = [{}] }}]\n",
        people.join(", ")
    ));
    out
}

fn json(hit: &Hit) -> serde_json::Value {
    assert_eq!(
        hit.header("content-type"),
        Some("application/json"),
        "{hit:?}"
    );
    serde_json::from_str(&hit.body).unwrap_or_else(|e| panic!("{e}: {}", hit.body))
}

fn form(hit: &Hit) -> Vec<(String, String)> {
    assert_eq!(
        hit.header("content-type"),
        Some("application/x-www-form-urlencoded"),
        "{hit:?}"
    );
    form_urlencoded::parse(hit.body.as_bytes())
        .into_owned()
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {form:?}"))
}

fn chars(v: &serde_json::Value) -> usize {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a string"))
        .chars()
        .count()
}

/// Each provider's documented request, for a raise with an action link.
fn check(preset: &str, hit: &Hit) {
    let link = "https://alerts.example.com/a/";
    match preset {
        "ntfy" => {
            // https://docs.ntfy.sh/publish/
            assert_eq!(
                (hit.method.as_str(), hit.path.as_str()),
                ("POST", "/ntfy/alerts-alice")
            );
            assert!(!hit.body.is_empty());
            assert_eq!(hit.header("priority"), Some("5"));
            assert!(hit.header("title").is_some_and(|t| t.contains("RAISED")));
            assert!(hit.header("tags").is_some());
            assert_eq!(
                hit.header("click"),
                Some("https://alerts.example.com/alerts/web1/disk")
            );
            let actions = hit.header("actions").unwrap();
            assert!(
                actions.starts_with(&format!("http, Acknowledge, {link}")),
                "{actions}"
            );
            assert!(actions.contains("method=POST"), "{actions}");
        }
        "pushover" => {
            // https://pushover.net/api
            assert_eq!(hit.path, "/pushover/1/messages.json");
            let f = form(hit);
            assert_eq!(field(&f, "token"), SECRET);
            assert_eq!(field(&f, "user").len(), 30);
            let message = field(&f, "message");
            assert!((1..=1024).contains(&message.chars().count()));
            assert!(field(&f, "title").chars().count() <= 250);
            assert!(field(&f, "url").chars().count() <= 512);
            assert!(field(&f, "url_title").chars().count() <= 100);
            assert_eq!(field(&f, "priority"), "2", "urgent: emergency");
            let retry: u64 = field(&f, "retry").parse().unwrap();
            let expire: u64 = field(&f, "expire").parse().unwrap();
            assert!(retry >= 30 && expire <= 10_800, "{retry} {expire}");
            assert!(field(&f, "callback").starts_with(link));
        }
        "pagerduty" => {
            // https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
            assert_eq!(hit.path, "/pagerduty/v2/enqueue");
            let v = json(hit);
            assert_eq!(chars(&v["routing_key"]), 32);
            assert_eq!(v["event_action"], "trigger");
            assert_eq!(v["dedup_key"], "web1/disk");
            assert!((1..=1024).contains(&chars(&v["payload"]["summary"])));
            assert!(chars(&v["payload"]["source"]) >= 1);
            assert!(["critical", "error", "warning", "info"]
                .contains(&v["payload"]["severity"].as_str().unwrap()));
            jiff::Timestamp::strptime(
                "%Y-%m-%dT%H:%M:%S%:z",
                v["payload"]["timestamp"]
                    .as_str()
                    .unwrap()
                    .replace('Z', "+00:00"),
            )
            .unwrap();
            assert!(v["links"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["href"].is_string()));
        }
        "telegram" => {
            // https://core.telegram.org/bots/api#sendmessage
            assert_eq!(hit.path, format!("/telegram/bot{SECRET}/sendMessage"));
            let v = json(hit);
            assert_eq!(v["chat_id"], "123456789");
            assert!((1..=4096).contains(&chars(&v["text"])));
            let button = &v["reply_markup"]["inline_keyboard"][0][0];
            assert!(chars(&button["text"]) >= 1);
            assert!(button["url"].as_str().unwrap().starts_with(link));
        }
        "matrix" => {
            // https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid
            assert_eq!(hit.method, "PUT");
            let prefix =
                "/matrix/_matrix/client/v3/rooms/%21ops%3Aexample.org/send/m.room.message/";
            let txn = hit
                .path
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{}", hit.path));
            assert!(!txn.is_empty() && !txn.contains('/'));
            assert_eq!(
                hit.header("authorization"),
                Some(&*format!("Bearer {SECRET}"))
            );
            let v = json(hit);
            assert_eq!(v["msgtype"], "m.text");
            assert!(chars(&v["body"]) >= 1);
        }
        "slack" => {
            // https://api.slack.com/messaging/webhooks, https://api.slack.com/reference/block-kit/blocks
            assert_eq!(hit.path, "/slack/hook");
            let v = json(hit);
            assert!(chars(&v["text"]) >= 1);
            let blocks = v["blocks"].as_array().unwrap();
            assert_eq!(blocks[0]["type"], "section");
            assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
            assert!(chars(&blocks[0]["text"]["text"]) <= 3000);
            let button = &blocks[1]["elements"][0];
            assert_eq!(button["type"], "button");
            assert_eq!(button["text"]["type"], "plain_text");
            assert!(chars(&button["text"]["text"]) <= 75);
            assert!(button["url"].as_str().unwrap().starts_with(link));
        }
        "teams" => {
            // https://adaptivecards.io/explorer/
            assert_eq!(hit.path, "/teams/hook");
            let v = json(hit);
            assert_eq!(v["type"], "message");
            let card = &v["attachments"][0];
            assert_eq!(
                card["contentType"],
                "application/vnd.microsoft.card.adaptive"
            );
            assert_eq!(card["content"]["type"], "AdaptiveCard");
            assert!(card["content"]["body"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["type"] == "TextBlock"));
            assert!(card["content"]["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["type"] == "Action.OpenUrl"
                    && a["url"].as_str().unwrap().starts_with(link)));
        }
        "discord" => {
            // https://discord.com/developers/docs/resources/webhook#execute-webhook
            assert_eq!(hit.path, "/discord/hook");
            let v = json(hit);
            assert!((1..=2000).contains(&chars(&v["content"])));
            assert_eq!(v["allowed_mentions"]["parse"], serde_json::json!([]));
        }
        "twilio" => {
            // https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
            assert_eq!(
                hit.path,
                "/twilio/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"
            );
            use base64ct::Encoding as _;
            let basic = base64ct::Base64::encode_string(
                format!("AC0123456789abcdef0123456789abcdef:{SECRET}").as_bytes(),
            );
            assert_eq!(
                hit.header("authorization"),
                Some(&*format!("Basic {basic}"))
            );
            let f = form(hit);
            assert_eq!(field(&f, "To"), "+447700900001");
            assert_eq!(field(&f, "From"), "+15005550006");
            assert!((1..=1600).contains(&field(&f, "Body").chars().count()));
        }
        other => panic!("no check for {other}"),
    }
}

fn hit_for(sink: &HttpSink, preset: &str, n: usize) -> Vec<Hit> {
    wait_for(WAIT, &format!("{n} request(s) for {preset}"), || {
        let hits: Vec<Hit> = sink
            .hits()
            .into_iter()
            .filter(|h| h.path.starts_with(&format!("/{preset}/")))
            .collect();
        (hits.len() >= n).then_some(hits)
    })
}

#[test]
fn every_preset_sends_what_its_provider_documents() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let sink = HttpSink::start();
    let d = Daemon::start(dir.path(), &config(&sink, &secret));
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    for preset in PRESETS {
        let hits = hit_for(&sink, preset, 1);
        check(preset, &hits[0]);
    }
    // Cleared: PagerDuty resolves the same incident.
    d.send(&packet(
        2,
        "web1",
        vec![alert("disk", None, Some(now()))],
        false,
    ));
    let resolve = json(&hit_for(&sink, "pagerduty", 2)[1]);
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], "web1/disk");
    // The secret is in no log line and no history line.
    d.quiesce("web1", "disk");
    let log = std::fs::read_to_string(dir.path().join("mauved.log")).unwrap();
    let history = d.get("/api/alerts/web1/disk/history").1;
    assert!(!log.contains(SECRET) && !history.contains(SECRET));
}

#[test]
fn a_429_is_retried_after_its_retry_after_and_a_400_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start();
    let config = format!(
        "[oncall]\nbatch_window = \"0s\"\n[[notifier]]\nname = \"ntfy\"\nkind = \"http\"\npreset = \"ntfy\"\n\
         server = \"http://{}/ntfy\"\n[person.alice]\nntfy = \"alerts-alice\"\nnormal = [\"ntfy\"]\n\
         [[alert_group]]\nname = \"all\"\nnotify = [{{ who = [\"alice\"] }}]\n",
        sink.addr
    );
    sink.answers
        .lock()
        .unwrap()
        .push_back((429, "retry-after: 3\r\n".into()));
    let d = Daemon::start(dir.path(), &config);
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    let delivered = hit_for(&sink, "ntfy", 1);
    let seen = sink.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "refused once, then delivered");
    let waited = delivered[0].at - seen[0].at;
    assert!(
        waited >= Duration::from_secs(3),
        "waited {waited:?}, asked 3 s"
    );
    // A 400 will not work later either: given up at once.
    sink.answers.lock().unwrap().push_back((400, String::new()));
    d.send(&packet(
        2,
        "web1",
        vec![alert("load", Some(now()), None)],
        false,
    ));
    wait_for(WAIT, "the message given up", || {
        let history = d.get("/api/alerts/web1/load/history").1;
        history.contains("gave up").then_some(())
    });
    assert_eq!(sink.seen.lock().unwrap().len(), 3, "no retry after a 400");
    assert!(d.metric("mauved_dead_letters_total") >= 1.0);
}

#[test]
fn test_notify_sends_one_message_through_the_configured_notifier() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let sink = HttpSink::start();
    let file = dir.path().join("mauved.toml");
    std::fs::write(&file, config(&sink, &secret)).unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
            .args(["test-notify", "--config"])
            .arg(&file)
            .args(["--person", "p_telegram", "--notifier", "telegram"])
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hit = hit_for(&sink, "telegram", 1).remove(0);
    assert!(
        json(&hit)["text"]
            .as_str()
            .unwrap()
            .contains("a test message for p_telegram through telegram"),
        "{}",
        hit.body
    );
    // Refused by the provider: exit 1, saying why, the secret left out.
    sink.answers.lock().unwrap().push_back((400, String::new()));
    let out = run();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("would give up") && said.contains("400"),
        "{said}"
    );
    assert!(!said.contains(SECRET), "{said}");
}

#[test]
fn the_readmes_notifier_example_passes_check_config() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```toml\n[[notifier]]\nname = \"phone\"")
        .expect("the README's preset example");
    let block = &readme[start + "```toml\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mauved.toml");
    std::fs::write(&file, block).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // The secret's variable is not set here: said, as a warning.
    assert!(said.contains("TWILIO_AUTH_TOKEN"), "{said}");
}
