//! The compatibility cases of mauve-wire.md §6 and the rules of §3, one test
//! each, then properties that must hold for any sequence of inputs.

use super::*;
use proptest::prelude::*;

const T0: u64 = 1_700_000_000;
const SRC: &str = "test-host";

fn raise_now(id: &str, at: u64) -> AlertChange {
    AlertChange {
        id: id.into(),
        raise_time: Some(at),
        ..AlertChange::default()
    }
}

fn heartbeat(at: u64, after: u64) -> AlertChange {
    AlertChange {
        id: "heartbeat".into(),
        raise_time: Some(at + after),
        clear_time: Some(at),
        ..AlertChange::default()
    }
}

fn clear_now(id: &str, at: u64) -> AlertChange {
    AlertChange {
        id: id.into(),
        clear_time: Some(at),
        ..AlertChange::default()
    }
}

/// Applies `change` to `record` at `now`, returning the new record and event.
fn step(record: Option<&Record>, change: &AlertChange, now: u64) -> (Record, Option<EventKind>) {
    let t = apply(record, SRC, change, now);
    (t.record, t.event)
}

#[test]
fn t1_raise_now_raises_and_notifies_once() {
    let change = AlertChange {
        summary: Some("disk full".into()),
        ..raise_now("a1", T0)
    };
    let (rec, event) = step(None, &change, T0);
    assert!(rec.is_raised());
    assert_eq!(rec.state(), State::Raised);
    assert_eq!(rec.raised_at, Some(T0));
    assert_eq!(rec.subject, SRC, "subject defaults to the source");
    assert_eq!(rec.summary, "disk full");
    assert_eq!(rec.importance, DEFAULT_IMPORTANCE);
    assert_eq!(rec.last_event(), Some(EventKind::Raised));
    assert_eq!(event, Some(EventKind::Raised));
}

#[test]
fn t3_repeated_raise_keeps_raised_at_and_does_not_notify() {
    let (rec, _) = step(None, &raise_now("a1", T0), T0);
    let (rec, event) = step(Some(&rec), &raise_now("a1", T0 + 60), T0 + 60);
    assert!(rec.is_raised());
    assert_eq!(rec.raised_at, Some(T0));
    assert_eq!(event, None);
}

#[test]
fn t4_heartbeat_pending_then_raised_then_cleared_by_refresh() {
    let (rec, event) = step(None, &heartbeat(T0, 600), T0);
    assert_eq!(rec.state(), State::Pending);
    assert_eq!(rec.will_raise_at, Some(T0 + 600));
    assert_eq!(event, None, "a new pending heartbeat is not news");
    assert_eq!(rec.next_due(), Some(T0 + 600));

    // Nothing due before its time.
    assert_eq!(tick(&rec, &TickTime::at(T0 + 599)), None);
    let fired = tick(&rec, &TickTime::at(T0 + 600)).unwrap();
    assert_eq!(fired.record.state(), State::Raised);
    assert_eq!(fired.record.raised_at, Some(T0 + 600));
    assert_eq!(fired.event, Some(EventKind::Raised));
    assert_eq!(fired.record.next_due(), None);

    let now = T0 + 630;
    let (rec, event) = step(Some(&fired.record), &heartbeat(now, 600), now);
    assert_eq!(rec.state(), State::Pending);
    assert_eq!(rec.raised_at, None);
    assert_eq!(rec.will_raise_at, Some(now + 600));
    assert_eq!(event, Some(EventKind::Cleared));

    let (rec, event) = step(Some(&rec), &heartbeat(now + 60, 600), now + 60);
    assert_eq!(rec.state(), State::Pending);
    assert_eq!(rec.will_raise_at, Some(now + 660));
    assert_eq!(event, None);
}

#[test]
fn t7_clear_notifies_once() {
    let (rec, _) = step(None, &raise_now("a1", T0), T0);
    let (rec, event) = step(Some(&rec), &clear_now("a1", T0 + 10), T0 + 10);
    assert_eq!(rec.state(), State::Cleared);
    assert_eq!(rec.cleared_at, Some(T0 + 10));
    assert_eq!(event, Some(EventKind::Cleared));
    let (rec, event) = step(Some(&rec), &clear_now("a1", T0 + 20), T0 + 20);
    assert_eq!(rec.cleared_at, Some(T0 + 10), "cleared_at is kept");
    assert_eq!(event, None);
}

#[test]
fn t8_no_times_means_raise_now() {
    let change = AlertChange {
        id: "a1".into(),
        ..AlertChange::default()
    };
    let (rec, event) = step(None, &change, T0);
    assert_eq!(rec.raised_at, Some(T0));
    assert_eq!(event, Some(EventKind::Raised));
}

#[test]
fn t9_replace_clears_raised_alerts_but_keeps_pending_timers() {
    let (raised, _) = step(None, &raise_now("a1", T0), T0);
    let t = clear_unlisted(&raised, T0 + 5).unwrap();
    assert_eq!(t.record.state(), State::Cleared);
    assert_eq!(t.event, Some(EventKind::Cleared));

    let (pending, _) = step(None, &heartbeat(T0, 600), T0);
    assert_eq!(
        clear_unlisted(&pending, T0 + 5),
        None,
        "already cleared: untouched"
    );
}

#[test]
fn t12_acknowledge_then_expire_re_raises() {
    let (rec, _) = step(None, &raise_now("a1", T0), T0);
    let acked = acknowledge(&rec, "alice", T0 + 180, 15 * 86_400, T0).unwrap();
    assert_eq!(acked.event, Some(EventKind::Acknowledged));
    assert_eq!(acked.record.state(), State::Acknowledged);
    assert_eq!(acked.record.acknowledged_by.as_deref(), Some("alice"));

    // Raises during the ack keep it acknowledged, silently.
    let (rec, event) = step(Some(&acked.record), &raise_now("a1", T0 + 60), T0 + 60);
    assert_eq!(rec.state(), State::Acknowledged);
    assert_eq!(event, None);

    assert_eq!(tick(&rec, &TickTime::at(T0 + 179)), None);
    let expired = tick(&rec, &TickTime::at(T0 + 180)).unwrap();
    assert_eq!(expired.record.state(), State::Raised);
    assert_eq!(expired.record.raised_at, Some(T0 + 180));
    assert_eq!(expired.event, Some(EventKind::ReRaised));
    assert_eq!(expired.record.last_event(), Some(EventKind::ReRaised));
}

#[test]
fn t12_ack_on_cleared_is_refused_and_long_acks_are_capped() {
    let (pending, _) = step(None, &heartbeat(T0, 600), T0);
    assert_eq!(
        acknowledge(&pending, "bob", T0 + 60, 100, T0),
        Err(ActionError::NotRaised)
    );
    let (raised, _) = step(None, &raise_now("a1", T0), T0);
    let acked = acknowledge(&raised, "bob", T0 + 10_000_000, 15 * 86_400, T0).unwrap();
    assert_eq!(acked.record.will_unacknowledge_at, Some(T0 + 15 * 86_400));
    assert_eq!(
        acknowledge(&raised, "bob", T0, 100, T0),
        Err(ActionError::UntilInPast)
    );
}

#[test]
fn re_acknowledging_moves_the_end_without_notifying() {
    let (raised, _) = step(None, &raise_now("a1", T0), T0);
    let acked = acknowledge(&raised, "bob", T0 + 60, 1000, T0).unwrap();
    let again = acknowledge(&acked.record, "bob", T0 + 600, 1000, T0 + 1).unwrap();
    assert_eq!(again.event, None);
    assert_eq!(again.record.will_unacknowledge_at, Some(T0 + 600));
}

#[test]
fn manual_unacknowledge_re_raises() {
    let (raised, _) = step(None, &raise_now("a1", T0), T0);
    assert_eq!(
        unacknowledge(&raised, T0),
        Err(ActionError::NotAcknowledged)
    );
    let acked = acknowledge(&raised, "bob", T0 + 60, 1000, T0).unwrap();
    let t = unacknowledge(&acked.record, T0 + 30).unwrap();
    assert_eq!(t.event, Some(EventKind::ReRaised));
    assert_eq!(t.record.state(), State::Raised);
    assert_eq!(t.record.raised_at, Some(T0 + 30));
    assert_eq!(t.record.will_unacknowledge_at, None);
}

#[test]
fn clearing_an_acknowledged_alert_drops_the_ack() {
    let (raised, _) = step(None, &raise_now("a1", T0), T0);
    let acked = acknowledge(&raised, "bob", T0 + 600, 1000, T0).unwrap();
    let (rec, event) = step(Some(&acked.record), &clear_now("a1", T0 + 5), T0 + 5);
    assert_eq!(rec.state(), State::Cleared);
    assert_eq!(rec.acknowledged_at, None);
    assert_eq!(rec.will_unacknowledge_at, None);
    assert_eq!(event, Some(EventKind::Cleared));
}

#[test]
fn t13_subject_changes_do_not_notify() {
    let (rec, _) = step(None, &raise_now("a1", T0), T0);
    let change = AlertChange {
        subject: Some("other".into()),
        summary: Some("new words".into()),
        ..raise_now("a1", T0 + 1)
    };
    let (rec, event) = step(Some(&rec), &change, T0 + 1);
    assert_eq!(rec.subject, "other");
    assert_eq!(rec.summary, "new words");
    assert_eq!(event, None);
}

#[test]
fn empty_text_keeps_old_text_and_zero_importance_keeps_importance() {
    let first = AlertChange {
        subject: Some("box".into()),
        summary: Some("s".into()),
        detail: Some("<p>d</p>".into()),
        importance: Some(10),
        ..raise_now("a1", T0)
    };
    let (rec, _) = step(None, &first, T0);
    let second = AlertChange {
        subject: Some(String::new()),
        summary: None,
        detail: Some(String::new()),
        importance: Some(0),
        ..raise_now("a1", T0 + 1)
    };
    let (rec, _) = step(Some(&rec), &second, T0 + 1);
    assert_eq!(
        (
            rec.subject.as_str(),
            rec.summary.as_str(),
            rec.detail.as_str()
        ),
        ("box", "s", "<p>d</p>")
    );
    assert_eq!(rec.importance, 10);
}

#[test]
fn times_within_five_seconds_count_as_now() {
    let (rec, event) = step(None, &raise_now("a1", T0 + 5), T0);
    assert!(rec.is_raised());
    assert_eq!(event, Some(EventKind::Raised));
    let (rec, _) = step(None, &raise_now("a1", T0 + 6), T0);
    assert_eq!(rec.state(), State::Pending);
}

#[test]
fn both_times_past_the_later_one_wins() {
    let later_raise = AlertChange {
        id: "a".into(),
        raise_time: Some(T0 - 10),
        clear_time: Some(T0 - 20),
        ..AlertChange::default()
    };
    let (rec, event) = step(None, &later_raise, T0);
    assert!(rec.is_raised());
    assert_eq!(rec.cleared_at, None, "raise! wipes the older clear");
    assert_eq!(event, Some(EventKind::Raised));

    let later_clear = AlertChange {
        raise_time: Some(T0 - 20),
        clear_time: Some(T0 - 10),
        ..later_raise
    };
    let (rec, event) = step(None, &later_clear, T0);
    assert!(!rec.is_raised());
    assert_eq!(event, None);
}

#[test]
fn clear_before_raise_is_not_refused() {
    // The .proto comment says such updates are ignored; mauve applies them.
    let change = AlertChange {
        id: "a".into(),
        raise_time: Some(T0 + 600),
        clear_time: Some(T0 + 300),
        ..AlertChange::default()
    };
    let (rec, _) = step(None, &change, T0);
    assert_eq!(rec.will_raise_at, Some(T0 + 600));
    assert_eq!(rec.will_clear_at, Some(T0 + 300));
    assert_eq!(rec.next_due(), Some(T0 + 300));
}

#[test]
fn a_future_clear_fires_on_time() {
    let (rec, _) = step(None, &raise_now("a1", T0), T0);
    let change = AlertChange {
        clear_time: Some(T0 + 100),
        ..raise_now("a1", T0 + 1)
    };
    let (rec, event) = step(Some(&rec), &change, T0 + 1);
    assert!(rec.is_raised());
    assert_eq!(event, None);
    assert_eq!(rec.will_clear_at, Some(T0 + 100));
    let fired = tick(&rec, &TickTime::at(T0 + 100)).unwrap();
    assert_eq!(fired.record.state(), State::Cleared);
    assert_eq!(fired.record.will_clear_at, None);
    assert_eq!(fired.event, Some(EventKind::Cleared));
    assert_eq!(fired.record.next_due(), None);
}

#[test]
fn a_future_raise_without_clear_clears_a_raised_alert() {
    let (rec, _) = step(None, &raise_now("a1", T0), T0);
    let (rec, event) = step(Some(&rec), &raise_now("a1", T0 + 600), T0 + 10);
    assert_eq!(rec.state(), State::Pending);
    assert_eq!(rec.raised_at, None);
    assert_eq!(event, Some(EventKind::Cleared));
}

#[test]
fn suppression_holds_a_raise_until_it_ends() {
    let change = AlertChange {
        suppress_until: Some(T0 + 300),
        ..raise_now("a1", T0)
    };
    let (rec, event) = step(None, &change, T0);
    assert!(rec.is_raised());
    assert_eq!(event, None, "suppressed");
    assert_eq!(rec.suppress_until, Some(T0 + 300));
    assert_eq!(rec.next_due(), Some(T0 + 300));
    let fired = tick(&rec, &TickTime::at(T0 + 300)).unwrap();
    assert_eq!(fired.event, Some(EventKind::Raised));
    assert_eq!(fired.record.next_due(), None);
}

#[test]
fn a_suppressed_alert_cleared_before_the_end_is_never_notified() {
    let change = AlertChange {
        suppress_until: Some(T0 + 300),
        ..raise_now("a1", T0)
    };
    let (rec, _) = step(None, &change, T0);
    let (rec, event) = step(Some(&rec), &clear_now("a1", T0 + 100), T0 + 100);
    assert_eq!(event, None);
    // Nobody was told of the raise, so there is nothing to tell of the clear.
    assert_eq!(rec.remind_at, None);
    assert_eq!(rec.next_due(), None);
}

fn raised_and_told(at: u64) -> Record {
    let (rec, event) = step(None, &raise_now("a1", at), at);
    assert_eq!(event, Some(EventKind::Raised));
    rec
}

#[test]
fn a_clear_that_starts_a_suppression_is_not_notified_until_it_ends() {
    // The maintenance pattern: "clear, and keep quiet for an hour".
    let rec = raised_and_told(T0);
    let clear = AlertChange {
        suppress_until: Some(T0 + 3600),
        ..clear_now("a1", T0 + 10)
    };
    let (rec, event) = step(Some(&rec), &clear, T0 + 10);
    assert_eq!(event, None, "suppressed: nothing is sent");
    assert_eq!(rec.state(), State::Cleared);
    assert_eq!(rec.suppress_until, Some(T0 + 3600));
    // Still cleared when the suppression ends: people last heard "raised".
    assert_eq!(rec.next_due(), Some(T0 + 3600));
    assert_eq!(tick(&rec, &TickTime::at(T0 + 3599)), None);
    let end = tick(&rec, &TickTime::at(T0 + 3600)).unwrap();
    assert_eq!(end.event, Some(EventKind::Cleared));
    assert_eq!(end.record.next_due(), None);
}

#[test]
fn a_clear_then_raise_inside_a_suppression_tells_nobody() {
    let rec = raised_and_told(T0);
    let clear = AlertChange {
        suppress_until: Some(T0 + 3600),
        ..clear_now("a1", T0 + 10)
    };
    let (rec, _) = step(Some(&rec), &clear, T0 + 10);
    let (rec, event) = step(Some(&rec), &raise_now("a1", T0 + 20), T0 + 20);
    assert_eq!(event, None);
    // Raised again, as people were last told: nothing to catch up on.
    assert_eq!(rec.remind_at, None);
    assert_eq!(rec.next_due(), None);
}

#[test]
fn acknowledging_a_suppressed_alert_is_not_notified() {
    // Raised while suppressed: nothing sent, people were never told.
    let change = AlertChange {
        suppress_until: Some(T0 + 3600),
        ..raise_now("a1", T0)
    };
    let (rec, event) = step(None, &change, T0);
    assert_eq!(event, None);
    let acked = acknowledge(&rec, "alice", T0 + 600, 86_400, T0 + 60).unwrap();
    assert_eq!(acked.event, None, "suppressed: the ack is not sent");
    assert!(acked.record.is_acknowledged());
    // The ack runs out during the suppression: re-raised, still not sent.
    let expired = tick(&acked.record, &TickTime::at(T0 + 600)).unwrap();
    assert_eq!(expired.event, None);
    assert_eq!(expired.record.state(), State::Raised);
    // When the suppression ends, what differs is sent: a re-raise.
    let end = tick(&expired.record, &TickTime::at(T0 + 3600)).unwrap();
    assert_eq!(end.event, Some(EventKind::ReRaised));
    assert_eq!(end.record.next_due(), None);
}

#[test]
fn an_ack_of_an_alert_people_were_told_of_waits_for_the_suppression_to_end() {
    // Told "raised"; then the alert is cleared with a suppression and raised
    // again while it lasts, and acknowledged: people hear "acknowledged" once,
    // when the suppression ends.
    let rec = raised_and_told(T0);
    let clear = AlertChange {
        suppress_until: Some(T0 + 3600),
        ..clear_now("a1", T0 + 10)
    };
    let (rec, _) = step(Some(&rec), &clear, T0 + 10);
    let (rec, _) = step(Some(&rec), &raise_now("a1", T0 + 20), T0 + 20);
    let acked = acknowledge(&rec, "bob", T0 + 7200, 86_400, T0 + 30).unwrap();
    assert_eq!(acked.event, None);
    assert_eq!(acked.record.remind_at, Some(T0 + 3600));
    let end = tick(&acked.record, &TickTime::at(T0 + 3600)).unwrap();
    assert_eq!(end.event, Some(EventKind::Acknowledged));
    // And only once.
    assert_eq!(end.record.remind_at, None);
}

#[test]
fn suppression_is_not_extended_by_repeated_raises() {
    let change = |until, at| AlertChange {
        suppress_until: Some(until),
        ..raise_now("a1", at)
    };
    let (rec, _) = step(None, &change(T0 + 300, T0), T0);
    let (rec, _) = step(Some(&rec), &change(T0 + 900, T0 + 60), T0 + 60);
    assert_eq!(rec.suppress_until, Some(T0 + 300));
}

#[test]
fn suppression_is_applied_only_on_a_state_change() {
    let (rec, _) = step(None, &raise_now("a1", T0), T0);
    let change = AlertChange {
        suppress_until: Some(T0 + 300),
        ..raise_now("a1", T0 + 10)
    };
    let (rec, _) = step(Some(&rec), &change, T0 + 10);
    assert_eq!(rec.suppress_until, None);
    // The clear is a state change: it takes the suppression, and a cleared
    // alert has no held notification anyway.
    let clear = AlertChange {
        suppress_until: Some(T0 + 300),
        ..clear_now("a1", T0 + 20)
    };
    let (rec, event) = step(Some(&rec), &clear, T0 + 20);
    assert_eq!(event, None, "the clear starts the suppression");
    assert_eq!(rec.suppress_until, Some(T0 + 300));
    assert_eq!(rec.remind_at, Some(T0 + 300), "people last heard 'raised'");
}

#[test]
fn a_lapsed_suppression_is_dropped_on_the_next_transition() {
    let change = AlertChange {
        suppress_until: Some(T0 + 300),
        ..raise_now("a1", T0)
    };
    let (rec, _) = step(None, &change, T0);
    let end = tick(&rec, &TickTime::at(T0 + 300)).unwrap();
    assert_eq!(end.event, Some(EventKind::Raised));
    let (rec, event) = step(Some(&end.record), &clear_now("a1", T0 + 1000), T0 + 1000);
    assert_eq!(event, Some(EventKind::Cleared));
    assert_eq!(rec.suppress_until, None);
}

#[test]
fn a_raise_at_the_end_of_a_suppression_is_not_told_twice() {
    // Told "raised", then a heartbeat refresh clears it during a suppression
    // and its timer raises it again just as the suppression ends.
    let rec = raised_and_told(T0);
    let change = AlertChange {
        suppress_until: Some(T0 + 300),
        ..heartbeat(T0 + 10, 290)
    };
    let (rec, event) = step(Some(&rec), &change, T0 + 10);
    assert_eq!(event, None);
    let end = tick(&rec, &TickTime::at(T0 + 300)).unwrap();
    assert_eq!(end.record.state(), State::Raised);
    assert_eq!(end.event, None, "people last heard 'raised'");
    assert_eq!(end.record.next_due(), None);
}

#[test]
fn startup_grace_postpones_timers_of_alerts_from_a_prior_run() {
    let (rec, _) = step(None, &heartbeat(T0, 60), T0);
    let clock = TickTime {
        now: T0 + 1000,
        started_at: T0 + 900,
        grace_until: T0 + 1200,
    };
    let t = tick(&rec, &clock).unwrap();
    assert_eq!(t.event, None);
    assert_eq!(t.record.will_raise_at, Some(T0 + 1200));
    assert_eq!(t.record.state(), State::Pending);
    let later = TickTime {
        now: T0 + 1200,
        ..clock
    };
    let t = tick(&t.record, &later).unwrap();
    assert_eq!(t.event, Some(EventKind::Raised));

    // An alert updated in this run is not postponed.
    let (fresh, _) = step(None, &heartbeat(T0 + 950, 10), T0 + 950);
    let t = tick(
        &fresh,
        &TickTime {
            now: T0 + 960,
            ..clock
        },
    )
    .unwrap();
    assert_eq!(t.event, Some(EventKind::Raised));
}

#[test]
fn state_names_round_trip() {
    for state in State::ALL {
        assert_eq!(State::parse(state.as_str()), Some(state));
    }
    assert_eq!(State::parse("bogus"), None);
}

// ---- properties -------------------------------------------------------

fn due_timers(r: &Record, at: u64) -> usize {
    [
        r.will_raise_at,
        r.will_clear_at,
        r.will_unacknowledge_at,
        r.remind_at,
    ]
    .into_iter()
    .flatten()
    .filter(|&t| t <= at)
    .count()
}

#[derive(Clone, Debug)]
enum Input {
    Change(AlertChange),
    Tick,
    Ack(u64),
    Unack,
    Replace,
}

fn any_time() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![Just(None), (0u64..2000).prop_map(|d| Some(T0 - 1000 + d))]
}

fn any_input() -> impl Strategy<Value = (u64, Input)> {
    let change = (
        any_time(),
        any_time(),
        any_time(),
        proptest::option::of("[a-z]{0,3}"),
    )
        .prop_map(|(raise_time, clear_time, suppress_until, summary)| {
            Input::Change(AlertChange {
                id: "x".into(),
                raise_time,
                clear_time,
                suppress_until,
                summary,
                ..AlertChange::default()
            })
        });
    let input = prop_oneof![
        4 => change,
        2 => Just(Input::Tick),
        1 => (1u64..1000).prop_map(Input::Ack),
        1 => Just(Input::Unack),
        1 => Just(Input::Replace),
    ];
    (0u64..400, input)
}

/// Fires the record's timers one after another (eight at most), each at
/// its due time: the record then, and what people were last told.
fn fire_every_timer(
    record: Option<Record>,
    mut now: UnixSecs,
    mut told: Told,
) -> (Option<Record>, Told) {
    let mut last = record;
    for _ in 0..8 {
        let Some(r) = last.clone() else { break };
        let Some(due) = r.next_due() else { break };
        now = now.max(due);
        let Some(t) = tick(&r, &TickTime::at(now)) else {
            break;
        };
        if let Some(kind) = t.event {
            told = kind.told();
        }
        last = Some(t.record);
    }
    (last, told)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever happens: the state is consistent, the due time is the
    /// earliest timer, events match state changes, and nothing panics.
    #[test]
    fn invariants_hold_for_any_sequence(inputs in proptest::collection::vec(any_input(), 1..40)) {
        let mut now = T0;
        let mut record: Option<Record> = None;
        let mut told = Told::Cleared;
        for (advance, input) in inputs {
            now += advance;
            let before = record.clone();
            let transition = match (&input, &record) {
                (Input::Change(change), _) => Some(apply(record.as_ref(), SRC, change, now)),
                (Input::Tick, Some(r)) => tick(r, &TickTime::at(now)),
                (Input::Ack(secs), Some(r)) => acknowledge(r, "p", now + secs, 500, now).ok(),
                (Input::Unack, Some(r)) => unacknowledge(r, now).ok(),
                (Input::Replace, Some(r)) => clear_unlisted(r, now),
                _ => None,
            };
            let Some(Transition { record: after, event }) = transition else { continue };

            // A raised record has no pending raise and no older clear.
            if after.is_raised() {
                prop_assert_eq!(after.will_raise_at, None);
                prop_assert_eq!(after.cleared_at, None);
            } else {
                prop_assert_eq!(after.acknowledged_at, None);
            }
            prop_assert_eq!(after.acknowledged_at.is_some(), after.will_unacknowledge_at.is_some());
            // Nothing is sent about a suppressed alert; a difference between
            // what people heard and what is true is looked at when it ends.
            if after.is_suppressed(now) {
                prop_assert_eq!(event, None);
                prop_assert_eq!(after.remind_at.is_some(), after.untold_change().is_some());
                prop_assert_eq!(after.remind_at, after.remind_at.and(after.suppress_until));
            }
            if let Some(kind) = event {
                prop_assert_ne!(kind.told(), told, "every message tells something new");
                told = kind.told();
            }
            prop_assert_eq!(after.told(), told, "the record knows what was sent");

            let was_raised = before.as_ref().is_some_and(Record::is_raised);
            match event {
                Some(EventKind::Raised) => prop_assert!(after.is_raised() && !after.is_acknowledged()),
                Some(EventKind::ReRaised) => prop_assert!(after.is_raised() && !after.is_acknowledged()),
                Some(EventKind::Cleared) => prop_assert!(!after.is_raised()),
                Some(EventKind::Acknowledged) => prop_assert!(after.is_acknowledged()),
                Some(EventKind::Reminder) => prop_assert!(false, "no reminders without routing"),
                None => {}
            }
            // Becoming raised always notifies, now or when the suppression
            // ends, unless people last heard "raised" anyway.
            if after.is_raised() && !was_raised {
                prop_assert!(event.is_some() || after.remind_at.is_some() || told == Told::Raised);
            }
            // Ticking at the due time always consumes a due timer.
            if let Some(due) = after.next_due() {
                let at = due.max(now);
                let fired = tick(&after, &TickTime::at(at));
                prop_assert!(fired.is_some());
                let fired = fired.unwrap().record;
                prop_assert!(due_timers(&fired, at) < due_timers(&after, at));
            }
            record = Some(after);
        }
        // Once every timer has fired, people have been told what is true.
        let (last, told) = fire_every_timer(record, now, told);
        if let Some(r) = last.filter(|r| r.next_due().is_none()) {
            let truth = match r.state() {
                State::Raised => Told::Raised,
                State::Acknowledged => Told::Acknowledged,
                State::Pending | State::Cleared => Told::Cleared,
            };
            prop_assert_eq!(told, truth);
        }
    }

    /// Taking the change's texts gives what copying them gives, and leaves
    /// the change without texts.
    #[test]
    fn applying_by_taking_the_texts_is_applying(
        raise_time in any_time(),
        clear_time in any_time(),
        texts in proptest::collection::vec(proptest::option::of("[a-z]{0,2}"), 3),
        before in proptest::option::of(any_time()),
    ) {
        let change = AlertChange {
            id: "x".into(),
            raise_time,
            clear_time,
            subject: texts[0].clone(),
            summary: texts[1].clone(),
            detail: texts[2].clone(),
            ..AlertChange::default()
        };
        let old = before.map(|raise_time| {
            let first = AlertChange { id: "x".into(), raise_time, summary: Some("old".into()), ..AlertChange::default() };
            apply(None, SRC, &first, T0 - 10).record
        });
        let mut taken = change.clone();
        let applied = apply(old.as_ref(), SRC, &change, T0);
        prop_assert_eq!(apply_taking(old.as_ref(), SRC, &mut taken, T0), applied);
        prop_assert_eq!((taken.subject, taken.summary, taken.detail), (None, None, None));
    }

    /// Re-sending the same update changes nothing and notifies nobody
    /// (mauvesend fans one update out to several addresses).
    #[test]
    fn the_same_update_twice_is_idempotent(raise_time in any_time(), clear_time in any_time()) {
        let change = AlertChange { id: "x".into(), raise_time, clear_time, ..AlertChange::default() };
        let first = apply(None, SRC, &change, T0);
        let second = apply(Some(&first.record), SRC, &change, T0);
        prop_assert_eq!(second.event, None);
        prop_assert_eq!(second.record.state(), first.record.state());
        prop_assert_eq!(second.record.raised_at, first.record.raised_at);
    }
}
