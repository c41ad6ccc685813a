//! Actions through the HTTP API, in-process on a manual clock: every action,
//! bulk actions, the strict body rules and the history each action leaves.

mod common;

use common::inproc::InProc;
use common::*;
use mauved::alert::{AlertChange, Update};
use mauved::clock::ManualClock;

/// Friday 2026-11-27 17:00 UTC.
const FRI_17: u64 = 1_795_798_800;

fn raise(d: &InProc, ids: &[&str]) {
    d.apply(Update {
        source: "web1".into(),
        transmission_id: 1,
        replace: false,
        alerts: ids
            .iter()
            .map(|id| AlertChange {
                id: (*id).into(),
                raise_time: Some(d.now()),
                summary: Some(format!("{id} is full")),
                ..AlertChange::default()
            })
            .collect(),
        received_at: d.now(),
    });
}

fn post_ok(d: &InProc, path: &str, body: &str) -> serde_json::Value {
    let (status, answer) = d.post(path, body);
    assert_eq!(status, 200, "POST {path} {body}: {answer}");
    serde_json::from_str(&answer).unwrap()
}

fn post_err(d: &InProc, path: &str, body: &str, want: u16) -> String {
    let (status, answer) = d.post(path, body);
    assert_eq!(status, want, "POST {path} {body}: {answer}");
    let error: serde_json::Value = serde_json::from_str(&answer).unwrap();
    error["error"].as_str().unwrap().to_owned()
}

#[test]
fn every_action_changes_the_alert_and_says_who_in_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(dir.path(), "", &clock);
    raise(&d, &["disk"]);
    let path = |action: &str| format!("/api/alerts/web1/disk/{action}");

    // Two working hours from Friday 17:00 end on Monday at 11:00.
    let acked = post_ok(
        &d,
        &path("acknowledge"),
        r#"{"by": "alice", "for_working_hours": 2}"#,
    );
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], "alice");
    assert_eq!(
        acked["will_unacknowledge_at"],
        FRI_17 + 3 * 86_400 - 6 * 3600
    );
    let raised = post_ok(&d, &path("unacknowledge"), r#"{"by": "alice"}"#);
    assert_eq!(raised["state"], "raised");
    assert_eq!(
        post_ok(&d, &path("clear"), r#"{"by": "bob"}"#)["state"],
        "cleared"
    );
    assert_eq!(
        post_ok(&d, &path("raise"), r#"{"by": "bob"}"#)["state"],
        "raised"
    );
    let quiet = post_ok(&d, &path("suppress"), r#"{"by": "bob", "for": "30m"}"#);
    assert_eq!(quiet["suppress_until"], FRI_17 + 1800);
    let loud = post_ok(&d, &path("unsuppress"), r#"{"by": "bob"}"#);
    assert!(loud["suppress_until"].is_null());
    let again = post_err(&d, &path("unsuppress"), r#"{"by": "bob"}"#, 409);
    assert!(again.contains("not suppressed"), "{again}");
    post_ok(
        &d,
        &path("note"),
        r#"{"by": "carol", "text": "disk swapped"}"#,
    );

    let history = d.json("/api/alerts/web1/disk/history");
    let lines: Vec<(String, String, String)> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] != "notification")
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["text"].as_str().unwrap().to_owned(),
                l["by"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let want = [
        ("update", "RAISED: disk is full", ""),
        (
            "update",
            "ACKNOWLEDGED until 2026-11-30T11:00:00+00:00 by alice",
            "alice",
        ),
        ("update", "UNACKNOWLEDGED by alice", "alice"),
        ("update", "CLEARED by bob", "bob"),
        ("update", "RAISED by bob", "bob"),
        (
            "update",
            "SUPPRESSED until 2026-11-27T17:30:00+00:00 by bob",
            "bob",
        ),
        ("update", "UNSUPPRESSED by bob", "bob"),
        ("note", "disk swapped", "carol"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(k, t, b)| (k.to_string(), t.to_string(), b.to_string()))
        .collect();
    assert_eq!(lines, want, "{history:#}");
}

#[test]
fn bodies_are_checked_and_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(dir.path(), "", &clock);
    raise(&d, &["disk"]);
    let ack = "/api/alerts/web1/disk/acknowledge";
    assert!(post_err(&d, ack, "", 400).starts_with("by: "));
    assert_eq!(
        post_err(&d, ack, r#"{"by": ""}"#, 400),
        "by: must not be empty"
    );
    let both = post_err(
        &d,
        ack,
        &format!(r#"{{"by": "a", "until": {}, "for_s": 60}}"#, FRI_17 + 60),
        400,
    );
    assert!(both.starts_with("for_s: give one of"), "{both}");
    let past = post_err(
        &d,
        ack,
        &format!(r#"{{"by": "a", "until": {}}}"#, FRI_17 - 1),
        400,
    );
    assert_eq!(past, "until: must be in the future");
    assert!(post_err(&d, ack, r#"{"by": "a", "for": "a while"}"#, 400).starts_with("for: "));
    assert!(post_err(&d, ack, r#"{"by": "a", "text": "hi"}"#, 400).starts_with("text: "));
    assert!(post_err(&d, ack, r#"{"by": "a", "bogus": 1}"#, 400).contains("bogus"));
    let unknown = post_err(
        &d,
        "/api/alerts/web1/disk/frobnicate",
        r#"{"by": "a"}"#,
        404,
    );
    assert!(
        unknown.contains(
            "acknowledge, unacknowledge, raise, clear, suppress, unsuppress, note, forget"
        ),
        "{unknown}"
    );
    assert!(
        post_err(&d, "/api/alerts/web1/disk/note", r#"{"by": "a"}"#, 400).starts_with("text: ")
    );
    // Nothing was changed by any of it.
    assert_eq!(d.state("web1", "disk").as_deref(), Some("raised"));
}

#[test]
fn bulk_actions_answer_for_each_alert() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(dir.path(), "", &clock);
    raise(&d, &["a", "b"]);
    let answer = post_ok(
        &d,
        "/api/alerts/acknowledge",
        r#"{"by": "carol", "for": "4h", "alerts": [
            {"source": "web1", "id": "a"}, {"source": "web1", "id": "b"}, {"source": "web1", "id": "zz"}]}"#,
    );
    let statuses: Vec<u64> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 404]);
    assert_eq!(
        answer["results"][0]["alert"]["will_unacknowledge_at"],
        FRI_17 + 4 * 3600
    );
    assert_eq!(d.json("/api/counts")["acknowledged"], 2);
    assert!(post_err(&d, "/api/alerts/clear", r#"{"by": "carol"}"#, 400).starts_with("alerts: "));
    assert!(post_err(
        &d,
        "/api/alerts/clear",
        r#"{"by": "carol", "alerts": []}"#,
        400
    )
    .starts_with("alerts: "));
    let cleared = post_ok(
        &d,
        "/api/alerts/clear",
        r#"{"by": "carol", "alerts": [{"source": "web1", "id": "a"}]}"#,
    );
    assert_eq!(cleared["results"][0]["alert"]["state"], "cleared");
}

#[test]
fn a_forgotten_alert_is_gone_after_a_restart_and_its_history_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(dir.path(), "", &clock);
    raise(&d, &["disk", "load"]);
    post_ok(&d, "/api/alerts/web1/disk/forget", r#"{"by": "alice"}"#);
    assert_eq!(d.get("/api/alerts/web1/disk").0, 404);
    assert_eq!(d.json("/api/counts")["raised"], 1);
    d.stop();
    let d = InProc::start(dir.path(), "", &clock);
    assert_eq!(
        d.get("/api/alerts/web1/disk").0,
        404,
        "still gone after a restart"
    );
    assert_eq!(d.state("web1", "load").as_deref(), Some("raised"));
    let forgotten = d.json("/api/history?kind=update&source=web1");
    let texts: Vec<&str> = forgotten
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["id"] == "disk")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["RAISED: disk is full", "FORGOTTEN by alice"]);
    // The same id again is a new alert.
    raise(&d, &["disk"]);
    assert_eq!(d.state("web1", "disk").as_deref(), Some("raised"));
}

#[test]
fn cleared_alerts_are_forgotten_and_history_expires_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(
        dir.path(),
        // `extra` follows the test's [store] table.
        "history_days = 2\n[server]\nforget_cleared_after = \"1d\"\n",
        &clock,
    );
    raise(&d, &["old", "kept"]);
    post_ok(&d, "/api/alerts/web1/old/clear", r#"{"by": "ops"}"#);
    // The day-one deliveries are written before the days pass (a line
    // written after the prune would outlive it until the next).
    d.deliveries_written("web1", "old", 2);
    d.deliveries_written("web1", "kept", 1);
    d.advance(86_400 + 3_600);
    d.settle();
    assert_eq!(
        d.get("/api/alerts/web1/old").0,
        404,
        "cleared a day ago: forgotten"
    );
    assert_eq!(
        d.state("web1", "kept").as_deref(),
        Some("raised"),
        "raised: kept"
    );
    let sweep = d.json("/api/history?kind=update");
    assert!(
        sweep.as_array().unwrap().iter().any(|l| l["id"] == "old"
            && l["text"] == "FORGOTTEN: cleared and not updated for 1d"
            && l["by"] == "mauved"),
        "{sweep:#}"
    );
    // Two days on, the first day's history is pruned in the background.
    d.advance(2 * 86_400);
    d.settle();
    d.history_pruned_before(d.now() - 2 * 86_400);
    let left = d.json("/api/history");
    let left = left.as_array().unwrap();
    // The day-one lines are gone, the sweep's line (a day later) stays.
    assert!(
        left.iter()
            .all(|l| l["at"].as_u64().unwrap() >= FRI_17 + 86_400),
        "{left:#?}"
    );
    assert!(left.iter().any(|l| l["id"] == "old"), "{left:#?}");
}

#[test]
fn the_history_of_every_alert_pages_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(dir.path(), "", &clock);
    raise(&d, &["a", "b", "c"]);
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        d.advance(10);
        post_ok(
            &d,
            &format!("/api/alerts/web1/{id}/note"),
            &format!(r#"{{"by": "ops", "text": "note {i}"}}"#),
        );
    }
    let mut seen = Vec::new();
    let mut path = "/api/history?kind=note&limit=2".to_owned();
    loop {
        let page = d.json(&path);
        seen.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|l| l["text"].as_str().unwrap().to_owned()),
        );
        let next: Option<String> = {
            let r = reqwest::blocking::get(format!("http://{}{path}", d.http())).unwrap();
            r.headers()
                .get("x-next-cursor")
                .map(|v| v.to_str().unwrap().to_owned())
        };
        match next {
            Some(cursor) => path = format!("/api/history?kind=note&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["note 0", "note 1", "note 2"]);
    let since = d.json(&format!("/api/history?kind=note&since={}", FRI_17 + 20));
    assert_eq!(since.as_array().unwrap().len(), 2);
    assert_eq!(d.get("/api/history?kind=bogus").0, 400);
}

/// The ids of one section of the page, in the order shown.
fn section_ids(page: &str, class: &str) -> Vec<String> {
    let start = page
        .find(&format!("<section class=\"{class}\">"))
        .unwrap_or_else(|| panic!("no {class} section"));
    let section = &page[start..start + page[start..].find("</section>").unwrap()];
    section
        .split("<td class=\"key\">")
        .skip(1)
        .map(|cell| {
            let text = &cell[cell.find('>').unwrap() + 1..cell.find("</a>").unwrap()];
            text.rsplit(" / ").next().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn the_page_shows_the_soonest_heartbeats_and_the_latest_clears_first_at_most_500() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(dir.path(), "", &clock);
    // Three alerts cleared a minute apart.
    for (n, id) in ["c1", "c2", "c3"].iter().enumerate() {
        raise(&d, &[id]);
        d.advance(60);
        d.apply(Update {
            source: "web1".into(),
            transmission_id: 10 + n as u64,
            replace: false,
            alerts: vec![AlertChange {
                id: (*id).into(),
                clear_time: Some(d.now()),
                ..AlertChange::default()
            }],
            received_at: d.now(),
        });
    }
    let now = d.now();
    // 600 heartbeats due in 5 to 15 minutes, the highest id soonest;
    // one due in an hour is not "soon".
    let beats: Vec<AlertChange> = (0..600u64)
        .map(|i| AlertChange {
            id: format!("hb{i:03}"),
            raise_time: Some(now + 900 - i),
            clear_time: Some(now),
            ..AlertChange::default()
        })
        .chain(std::iter::once(AlertChange {
            id: "later".into(),
            raise_time: Some(now + 3600),
            clear_time: Some(now),
            ..AlertChange::default()
        }))
        .collect();
    d.apply(Update {
        source: "fleet".into(),
        transmission_id: 1,
        replace: false,
        alerts: beats,
        received_at: now,
    });
    let (status, page) = d.get("/");
    assert_eq!(status, 200);
    let pending = section_ids(&page, "pending");
    assert_eq!(pending.len(), 500, "at most 500 rows");
    assert_eq!(pending[0], "hb599", "the soonest first");
    assert_eq!(pending[499], "hb100");
    assert!(!pending.contains(&"later".to_owned()));
    assert_eq!(section_ids(&page, "cleared"), ["c3", "c2", "c1"]);
    // A search reads every alert: it finds the one beyond the first 500.
    let (_, found) = d.get("/?q=hb050");
    assert_eq!(section_ids(&found, "pending"), ["hb050"]);
}

/// Each `<form action="/actions">` of a page, with its fields (name, value)
/// as a browser would submit them without any box ticked.
fn action_forms(page: &str) -> Vec<(String, Vec<(String, String)>)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let len = tag[start..].find('"')?;
        Some(
            tag[start..start + len]
                .replace("&#x2f;", "/")
                .replace("&amp;", "&"),
        )
    };
    page.split("<form ")
        .skip(1)
        .filter(|form| form.starts_with("method=\"post\" action=\"/actions\""))
        .map(|form| {
            let body = &form[..form.find("</form>").expect("the form ends")];
            let fields = body
                .split("<input ")
                .skip(1)
                .filter_map(|input| {
                    let tag = &input[..input.find('>')?];
                    Some((
                        attr(tag, "name")?,
                        attr(tag, "value").unwrap_or_default(),
                        tag,
                    ))
                })
                .filter(|(_, _, tag)| !tag.contains("type=\"checkbox\""))
                .map(|(name, value, _)| (name, value))
                .collect();
            (body.to_owned(), fields)
        })
        .collect()
}

/// A form's fields with `extra` set (replacing fields of the same name).
fn with_fields(fields: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|(name, _)| !extra.iter().any(|(n, _)| n == name))
        .cloned()
        .chain(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())))
        .collect()
}

/// Posts a page's form as a browser does, without following the redirect.
fn submit(d: &InProc, fields: &[(String, String)]) -> (u16, String) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client
        .post(format!("http://{}/actions", d.http()))
        .header("content-type", "application/x-www-form-urlencoded")
        // As a browser sends the page's own form (in open mode a form
        // without them is refused: tests/attack.rs).
        .header("origin", format!("http://{}", d.http()))
        .header("sec-fetch-site", "same-origin")
        .body(body)
        .send()
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().unwrap_or_default())
}

#[test]
fn every_form_names_what_it_acts_on_and_the_alert_pages_buttons_act() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(dir.path(), "", &clock);
    raise(&d, &["disk", "load"]);
    // The index: one form, one box per alert.
    let (_, index) = d.get("/");
    let forms = action_forms(&index);
    assert_eq!(forms.len(), 1, "{index}");
    for id in ["disk", "load"] {
        assert!(
            forms[0]
                .0
                .contains(&format!("name=\"alert\" value=\"web1&#x2f;{id}\"")),
            "a box for {id}: {}",
            forms[0].0
        );
    }
    // The alert's own page: its form names it, and every button acts on it.
    let (status, page) = d.get("/alerts/web1/disk");
    assert_eq!(status, 200, "{page}");
    let forms = action_forms(&page);
    assert_eq!(forms.len(), 1, "{page}");
    let fields = &forms[0].1;
    let named: Vec<&str> = fields
        .iter()
        .filter(|(name, _)| name == "alert")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(named, ["web1/disk"], "the form names its alert: {fields:?}");
    let with = |extra: &[(&str, &str)]| with_fields(fields, extra);
    let (status, body) = submit(&d, &with(&[("action", "acknowledge"), ("by", "dora")]));
    assert_eq!(status, 303, "ack 1 h: {body}");
    let (status, body) = submit(
        &d,
        &with(&[("action", "note"), ("by", "dora"), ("text", "fan replaced")]),
    );
    assert_eq!(status, 303, "add note: {body}");
    let alert = d.alert("web1", "disk").unwrap();
    assert_eq!(alert["state"], "acknowledged");
    assert_eq!(alert["acknowledged_by"], "dora");
    let (_, page) = d.get("/alerts/web1/disk");
    assert!(
        page.contains("ACKNOWLEDGED until") && page.contains("fan replaced"),
        "both in its history: {page}"
    );
    let (status, body) = submit(&d, &with(&[("action", "forget"), ("by", "dora")]));
    assert_eq!(status, 303, "forget: {body}");
    assert!(d.alert("web1", "disk").is_none(), "forgotten");
    assert!(d.alert("web1", "load").is_some(), "only that alert");
}

#[test]
fn the_page_silences_a_host_for_two_hours_lists_the_silence_and_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(dir.path(), "", &clock);
    raise(&d, &["disk"]);
    let (_, page) = d.get("/alerts/web1/disk");
    let fields = action_forms(&page).remove(0).1;
    let with = |extra: &[(&str, &str)]| with_fields(&fields, extra);
    assert!(page.contains("value=\"silence-2h\""), "{page}");
    let (status, body) = submit(
        &d,
        &with(&[
            ("action", "silence-2h"),
            ("by", "dora"),
            ("text", "rack 4 maintenance"),
        ]),
    );
    assert_eq!(status, 303, "silence host 2 h: {body}");
    // One silence on the alert's source, two hours long, by dora.
    let silences = d.json("/api/v2/silences");
    assert_eq!(silences.as_array().unwrap().len(), 1, "{silences}");
    let s = &silences[0];
    assert_eq!(s["matchers"][0]["name"], "source");
    assert_eq!(s["matchers"][0]["value"], "web1");
    assert_eq!(s["createdBy"], "dora");
    assert_eq!(s["comment"], "rack 4 maintenance");
    assert_eq!(s["status"]["state"], "active");
    let ends: jiff::Timestamp = s["endsAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(ends.as_second() as u64, FRI_17 + 2 * 3600);
    assert_eq!(
        d.alert("web1", "disk").unwrap()["suppress_until"],
        FRI_17 + 7200
    );
    // The index lists it with a button that ends it.
    let (_, index) = d.get("/");
    assert!(
        index.contains("<td>source=&quot;web1&quot;</td>") && index.contains("rack 4 maintenance"),
        "{index}"
    );
    let id = s["id"].as_str().unwrap();
    let end = format!("expire-silence:{id}");
    assert!(index.contains(&format!("value=\"{end}\"")), "{index}");
    let index_fields = action_forms(&index).remove(0).1;
    let ending = with_fields(&index_fields, &[("action", &end), ("by", "dora")]);
    let (status, body) = submit(&d, &ending);
    assert_eq!(status, 303, "end now: {body}");
    assert_eq!(
        d.json(&format!("/api/v2/silence/{id}"))["status"]["state"],
        "expired"
    );
    assert!(d.alert("web1", "disk").unwrap()["suppress_until"].is_null());
    let (_, index) = d.get("/");
    assert!(!index.contains("rack 4 maintenance"), "no longer listed");
}

#[test]
fn the_page_lists_silences_a_page_at_a_time_ending_soonest_first() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(FRI_17);
    let d = InProc::start(dir.path(), "", &clock);
    let rfc3339 = |t: u64| jiff::Timestamp::from_second(t as i64).unwrap().to_string();
    // 120 silences made in reverse order of their end: silence n ends n
    // minutes from now.
    for n in (1..=120u64).rev() {
        let body = serde_json::json!({
            "matchers": [{"name": "source", "value": format!("rack{n:03}"), "isRegex": false, "isEqual": true}],
            "startsAt": rfc3339(FRI_17),
            "endsAt": rfc3339(FRI_17 + 60 * n),
            "createdBy": "dora",
            "comment": format!("maintenance {n:03}"),
        });
        post_ok(&d, "/api/v2/silences", &body.to_string());
    }
    let listed = |page: &str| -> Vec<u64> {
        page.match_indices("maintenance ")
            .map(|(at, m)| page[at + m.len()..at + m.len() + 3].parse().unwrap())
            .collect()
    };
    let (_, first) = d.get("/?q=web");
    assert_eq!(listed(&first), (1..=50).collect::<Vec<_>>(), "{first}");
    assert!(first.contains("1–50 of 120"), "{first}");
    assert!(!first.contains("← earlier"), "{first}");
    // Links as the browser reads them (the template escapes '/' and '&').
    let links = |page: &str| page.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(
        links(&first).contains("href=\"/?q=web&silences=50#silences\""),
        "the next page keeps the filter: {first}"
    );
    let (_, second) = d.get("/?q=web&silences=50");
    assert_eq!(listed(&second), (51..=100).collect::<Vec<_>>());
    assert!(second.contains("51–100 of 120"), "{second}");
    assert!(
        links(&second).contains("href=\"/?q=web#silences\""),
        "{second}"
    );
    let (_, last) = d.get("/?silences=100");
    assert_eq!(listed(&last), (101..=120).collect::<Vec<_>>());
    assert!(!last.contains("later →"), "{last}");
    // Past the end: the last page.
    let (status, past) = d.get("/?silences=5000");
    assert_eq!(status, 200);
    assert_eq!(listed(&past), (101..=120).collect::<Vec<_>>(), "{past}");
    // Once the first ten end, the first page starts at the eleventh.
    clock.advance(std::time::Duration::from_secs(60 * 10 + 1));
    let (_, first) = d.get("/");
    assert_eq!(listed(&first), (11..=60).collect::<Vec<_>>());
}

#[test]
fn history_takes_its_moments_as_unix_seconds_or_rfc_3339_and_says_both() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let t = now();
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(t), None)],
        false,
    ));
    d.wait_state("web1", "disk", "raised");
    d.wait_written("web1", "disk");
    let rfc3339 = |t: u64| jiff::Timestamp::from_second(t as i64).unwrap().to_string();
    for since in [
        (t - 60).to_string(),
        rfc3339(t - 60),
        "2000-01-01T01:00:00+01:00".to_owned(),
    ] {
        let lines = d.json(&format!("/api/history?since={since}&source=web1"));
        let line = &lines[0];
        assert!(
            line["text"].as_str().unwrap().starts_with("RAISED"),
            "{since}: {lines:#}"
        );
        let at = line["at"].as_u64().unwrap();
        assert_eq!(line["time"], rfc3339(at), "the number and the time agree");
    }
    let later = rfc3339(t + 3600);
    assert_eq!(
        d.json(&format!("/api/history?since={later}")),
        serde_json::json!([])
    );
    let (status, body) = d.get("/api/history?since=yesterday");
    assert_eq!(status, 400);
    assert!(body.contains("RFC 3339"), "{body}");
    assert_eq!(
        d.get(&format!("/api/shadow?since={}", rfc3339(t - 60))).0,
        200
    );
    let one = d.json("/api/alerts/web1/disk/history");
    assert_eq!(one[0]["time"], rfc3339(one[0]["at"].as_u64().unwrap()));
}
