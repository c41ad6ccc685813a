//! Behaviour over time, in-process on a manual clock: heartbeats falling due,
//! the startup grace after a restart, delivery retries with backoff and dead
//! letters. Minutes of daemon time take milliseconds here.

mod common;

use std::time::Duration;

use common::inproc::{InProc, T0};
use common::*;
use mauved::clock::ManualClock;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_heartbeat_that_stops_is_raised_at_its_due_second_and_a_refresh_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    let clock = ManualClock::at(T0);
    let d = InProc::start(dir.path(), &recording_notifier(&notes), &clock);
    // A cron heartbeat: "fine now, raise in five minutes unless I say so again".
    d.send(&packet_at(
        10,
        "web1",
        vec![alert("heartbeat", Some(T0 + 300), Some(T0))],
        false,
        T0,
    ));
    d.wait_state("web1", "heartbeat", "pending");
    d.advance(299);
    d.settle();
    assert_eq!(d.state("web1", "heartbeat").as_deref(), Some("pending"));
    assert!(events(&notes).is_empty(), "pending is not news");
    d.advance(1);
    d.settle();
    let raised = d.wait_state("web1", "heartbeat", "raised");
    assert_eq!(raised["raised_at"], T0 + 300, "fired at the due second");
    wait_for(WAIT, "raised notification", || {
        (events(&notes) == vec![("raised".to_owned(), "heartbeat".to_owned())]).then_some(())
    });

    // The sender comes back: the refresh clears the alert at once.
    d.advance(60);
    let t = d.now();
    d.send(&packet_at(
        11,
        "web1",
        vec![alert("heartbeat", Some(t + 300), Some(t))],
        false,
        t,
    ));
    wait_for(WAIT, "cleared notification", || {
        (events(&notes).len() == 2).then_some(())
    });
    assert_eq!(
        events(&notes)[1],
        ("cleared".to_owned(), "heartbeat".to_owned())
    );
    let a = d.alert("web1", "heartbeat").unwrap();
    assert_eq!(a["state"], "pending");
    assert_eq!(a["will_raise_at"], t + 300);
}

#[test]
fn after_a_restart_overdue_heartbeats_wait_out_the_startup_grace() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(T0);
    let grace = "[server]\ninitial_sleep_s = 300\n";
    let d = InProc::start(dir.path(), grace, &clock);
    d.send(&packet_at(
        1,
        "quiet",
        vec![alert("hb", Some(T0 + 60), Some(T0))],
        false,
        T0,
    ));
    d.wait_state("quiet", "hb", "pending");
    d.stop();
    // The heartbeat falls due while the daemon is down for an hour.
    clock.advance(Duration::from_secs(3600));
    let started = clock.now();
    let d = InProc::start(dir.path(), grace, &clock);
    d.settle();
    let postponed = d.alert("quiet", "hb").unwrap();
    assert_eq!(postponed["state"], "pending", "not raised during the grace");
    assert_eq!(postponed["will_raise_at"], started + 300);
    d.advance(299);
    d.settle();
    assert_eq!(d.state("quiet", "hb").as_deref(), Some("pending"));
    d.advance(1);
    d.settle();
    let raised = d.wait_state("quiet", "hb", "raised");
    assert_eq!(raised["raised_at"], started + 300);
}

#[test]
fn a_failing_notifier_is_retried_with_backoff_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    let attempts = dir.path().join("attempts");
    // Fails the first two attempts, succeeds afterwards.
    let script = format!(
        "echo x >> '{a}'; [ $(wc -l < '{a}') -gt 2 ] || exit 75; cat >> '{n}'",
        a = attempts.display(),
        n = notes.display()
    );
    let notifier = format!(
        "[[notifier]]\nname = \"flaky\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", {script:?}]\n"
    );
    let clock = ManualClock::at(T0);
    let d = InProc::start(dir.path(), &notifier, &clock);
    d.send(&packet_at(
        1,
        "s",
        vec![alert("a", Some(T0), None)],
        false,
        T0,
    ));
    let retried = |n: f64| {
        wait_for(WAIT, &format!("{n} retries"), || {
            (d.metric("mauved_notifications_total{result=\"retried\"}") == n).then_some(())
        })
    };
    retried(1.0);
    // The worker now sleeps about a second on the daemon's clock: nothing
    // moves while the clock stands still.
    let asleep = || clock.wait_asleep("delivery flaky", WAIT);
    let until = asleep();
    assert!(until <= (T0 + 2) * 1000, "{until}");
    assert_eq!(
        std::fs::read_to_string(&attempts).unwrap().lines().count(),
        1
    );
    d.advance(1);
    retried(2.0);
    // The second retry waits about two seconds: a second later it still
    // sleeps, and nothing was delivered.
    let until = asleep();
    d.advance(1);
    assert!(until > clock.now() * 1000, "{until}");
    assert_eq!(asleep(), until);
    assert!(events(&notes).is_empty());
    d.advance(1);
    wait_for(WAIT, "delivered after two retries", || {
        (events(&notes).len() == 1).then_some(())
    });
    // The command wrote its note before the worker counted and settled it:
    // wait for those, then nothing more is owed.
    wait_for(WAIT, "the delivery counted and settled", || {
        (d.metric("mauved_notifications_total{result=\"delivered\"}") == 1.0
            && d.metric("mauved_notify_queue_depth") == 0.0)
            .then_some(())
    });
    assert_eq!(events(&notes).len(), 1);
}

#[test]
fn a_notifier_that_can_never_work_gives_up_to_the_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let notifier =
        "[[notifier]]\nname = \"gone\"\nkind = \"command\"\ncommand = [\"/nonexistent/page-me\"]\n";
    let clock = ManualClock::at(T0);
    let d = InProc::start(dir.path(), notifier, &clock);
    d.send(&packet_at(
        1,
        "s",
        vec![alert("a", Some(T0), None), alert("b", Some(T0), None)],
        false,
        T0,
    ));
    // Both messages leave the queue without any retry or clock movement:
    // the first does not block the second forever.
    wait_for(WAIT, "two dead letters", || {
        (d.metric("mauved_dead_letters_total") == 2.0).then_some(())
    });
    assert_eq!(d.metric("mauved_notify_queue_depth"), 0.0);
    assert_eq!(
        d.metric("mauved_notifications_total{result=\"failed\"}"),
        2.0
    );
    assert_eq!(
        d.metric("mauved_notifications_total{result=\"retried\"}"),
        0.0
    );
}

#[test]
fn a_notifier_down_for_minutes_is_reported_then_given_up_and_never_delays_another() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    // `extra` follows the test's [store] table.
    let config = format!(
        "[delivery]\nmax_age = \"10m\"\ndegraded_after = \"1m\"\n\
         [[notifier]]\nname = \"pager\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"exit 1\"]\n{}",
        recording_notifier(&notes)
    );
    let clock = ManualClock::at(T0);
    let d = InProc::start(dir.path(), &config, &clock);
    d.send(&packet_at(
        1,
        "s",
        vec![alert("a", Some(T0), None)],
        false,
        T0,
    ));
    // The other notifier delivers at once.
    wait_for(WAIT, "the working notifier delivered", || {
        (events(&notes).len() == 1).then_some(())
    });
    wait_for(WAIT, "a failed attempt", || {
        (d.metric("mauved_messages_total{notifier=\"pager\",result=\"retried\"}") >= 1.0)
            .then_some(())
    });
    assert_eq!(d.get("/health").0, 200, "failing for less than a minute");
    // Minutes of failures, thirty seconds at a time: after each step the
    // failing worker has tried and sleeps again (or has given up).
    let step = || {
        d.advance(30);
        wait_for(WAIT, "the pager's worker asleep or done", || {
            (clock.asleep_until("delivery pager").is_some()
                || d.metric("mauved_dead_letters_total") == 1.0)
                .then_some(())
        });
    };
    for _ in 0..4 {
        step();
    }
    let (status, body) = d.get("/health");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("degraded") && body.contains("pager"),
        "{body}"
    );
    assert!(
        !body.contains("ops"),
        "the working notifier is fine: {body}"
    );
    let (_, page) = d.get("/");
    assert!(
        page.contains("notifiers failing every attempt: pager"),
        "{page}"
    );
    // Backoff is capped and the worker sleeps on the clock: a few dozen
    // attempts in ten minutes, not thousands.
    for _ in 0..18 {
        step();
    }
    wait_for(WAIT, "given up after max_age", || {
        (d.metric("mauved_dead_letters_total") == 1.0).then_some(())
    });
    let retries = d.metric("mauved_messages_total{notifier=\"pager\",result=\"retried\"}");
    assert!(
        (5.0..40.0).contains(&retries),
        "{retries} retries in 11 minutes"
    );
    assert_eq!(d.metric("mauved_notify_queue_depth"), 0.0);
    let history = d.json("/api/alerts/s/a/history");
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["result"] == "gave up" && h["text"].as_str().unwrap().contains("max_age")),
        "{history:#}"
    );
    let (_, page) = d.get("/");
    assert!(page.contains("undelivered messages"), "{page}");
    assert!(page.contains("delivery.max_age"), "{page}");
}

#[test]
fn a_new_detail_is_shown_with_the_new_state_before_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(T0);
    // Nothing asks for durability and the clock stands still: the writer
    // holds the change back for the whole test until told to flush.
    let d = InProc::start_flushing(dir.path(), "", &clock, 60_000);
    let detail = "<b>x</b> disk 97% full";
    let sent = mauved::wire::pb::Alert {
        detail: Some(detail.into()),
        ..alert("d1", Some(T0), None)
    };
    d.send(&packet_at(1, "h1", vec![sent], false, T0));
    let shown = d.wait_state("h1", "d1", "raised");
    assert!(
        d.store_records().iter().all(|(k, _)| k.id != "d1"),
        "not written yet"
    );
    assert_eq!(shown["detail"], detail, "the API: {shown:#}");
    let listed = d.json("/api/alerts");
    assert_eq!(listed[0]["detail"], detail, "the list: {listed:#}");
    let (_, page) = d.get("/alerts/h1/d1");
    assert!(
        page.contains("<b>x</b> disk 97% full"),
        "the alert page: {page}"
    );
    let acked = d.post("/api/alerts/h1/d1/acknowledge", r#"{"by": "ops"}"#);
    assert!(
        acked.1.contains("disk 97% full"),
        "an action's answer: {acked:?}"
    );
    let bulk = d.post(
        "/api/alerts/note",
        r#"{"by": "ops", "text": "seen", "alerts": [{"source": "h1", "id": "d1"}]}"#,
    );
    assert!(bulk.1.contains("disk 97% full"), "a bulk answer: {bulk:?}");

    // A new detail replaces it at once; an alert forgotten and sent again
    // without one shows none, written or not.
    let changed = mauved::wire::pb::Alert {
        detail: Some("second".into()),
        ..alert("d1", Some(T0), None)
    };
    d.send(&packet_at(2, "h1", vec![changed], false, T0));
    wait_for(WAIT, "the second detail", || {
        (d.alert("h1", "d1").unwrap()["detail"] == "second").then_some(())
    });
    d.settle();
    assert_eq!(d.alert("h1", "d1").unwrap()["detail"], "second", "written");
    assert_eq!(
        d.post("/api/alerts/h1/d1/forget", r#"{"by": "ops"}"#).0,
        200
    );
    d.send(&packet_at(
        3,
        "h1",
        vec![alert("d1", Some(T0), None)],
        false,
        T0,
    ));
    let again = d.wait_state("h1", "d1", "raised");
    assert_eq!(again["detail"], "", "the old detail is gone: {again:#}");
    d.settle();
    assert_eq!(d.alert("h1", "d1").unwrap()["detail"], "");
    let stored = d.store_records();
    assert!(stored.iter().any(|(k, _)| k.id == "d1"), "written at last");
}
