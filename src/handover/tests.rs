use super::*;
use crate::alert::HistoryKind;

fn update(at: UnixSecs, text: &str) -> HistoryEntry {
    HistoryEntry::new(at, HistoryKind::Update, text)
}

fn delivered(at: UnixSecs, person: &str) -> HistoryEntry {
    HistoryEntry::notification(at, Some(person.into()), "sms", "delivered", "RAISED")
}

fn key(id: &str) -> AlertKey {
    AlertKey::new("web1", id)
}

fn group_of(key: &AlertKey) -> String {
    if key.id.starts_with("db") {
        "db"
    } else {
        "ops"
    }
    .to_owned()
}

#[test]
fn spreads_are_nearest_rank() {
    assert_eq!(Spread::of(vec![]), None);
    let one = Spread::of(vec![7]).unwrap();
    assert_eq!((one.count, one.median_s, one.p90_s), (1, 7, 7));
    let ten = Spread::of((1..=10).rev().collect()).unwrap();
    assert_eq!((ten.count, ten.median_s, ten.p90_s), (10, 5, 9));
    let three = Spread::of(vec![300, 60, 1000]).unwrap();
    assert_eq!((three.median_s, three.p90_s), (300, 1000));
}

/// A period: web1/disk raised, told, acknowledged twice, noted, cleared
/// and raised again; db-lag raised before it; web1/load raised, suppressed,
/// acknowledged and cleared.
fn period() -> Handover {
    let lines = vec![
        (key("disk"), update(100, "RAISED: disk full")),
        (key("disk"), delivered(101, "alice")),
        (key("db-lag"), update(150, "ACKNOWLEDGED by carol")),
        (
            key("disk"),
            update(
                160,
                "ACKNOWLEDGED until 2026-12-07T19:00:00+00:00 by alice via a message link",
            ),
        ),
        (key("disk"), update(161, "ACKNOWLEDGED by alice")),
        (key("load"), update(200, "RAISED: load 12")),
        (
            key("disk"),
            HistoryEntry::new(250, HistoryKind::Note, "replaced the disk").authored("alice"),
        ),
        (key("db-lag"), update(350, "CLEARED: lag 0s")),
        (key("disk"), update(400, "CLEARED: disk ok")),
        (key("disk"), delivered(402, "alice")),
        (
            key("disk"),
            HistoryEntry::notification(403, Some("bob".into()), "sms", "retry", "x"),
        ),
        (
            key("load"),
            update(450, "SUPPRESSED until 2026-12-07T19:00:00+00:00 by bob"),
        ),
        (key("load"), update(500, "ACKNOWLEDGED by bob")),
        (key("load"), update(1200, "CLEARED by bob")),
        (key("disk"), update(1300, "RAISED: disk full again")),
    ];
    build((0, 2000), lines, (vec![], 0), group_of, None)
}

#[test]
fn a_period_is_told_as_stories_notes_and_figures_per_group() {
    let h = period();
    let ids: Vec<(&str, Option<u64>)> = h
        .stories
        .iter()
        .map(|s| (s.id.as_str(), s.raised_at))
        .collect();
    assert_eq!(
        ids,
        [
            ("disk", Some(100)),
            ("db-lag", None),
            ("load", Some(200)),
            ("disk", Some(1300))
        ]
    );
    let disk = &h.stories[0];
    assert_eq!(disk.told.len(), 1, "alice first told once");
    assert_eq!(disk.told[0].person.as_deref(), Some("alice"));
    let ack = disk.acknowledged.as_ref().unwrap();
    assert_eq!(
        (ack.by.as_str(), ack.at, ack.after_s),
        ("alice", 160, Some(60))
    );
    assert_eq!(disk.cleared_at, Some(400));
    let lag = &h.stories[1];
    assert_eq!(
        lag.acknowledged.as_ref().unwrap().after_s,
        None,
        "raised before the period"
    );
    assert_eq!(lag.group, "db");
    assert_eq!(h.notes.len(), 1);
    assert_eq!(
        (h.notes[0].by.as_deref(), h.notes[0].text.as_str()),
        (Some("alice"), "replaced the disk")
    );
    // Figures over what was raised in the period: db's alert was not.
    assert_eq!(h.groups.len(), 1, "{:?}", h.groups);
    let ops = &h.groups[0];
    assert_eq!((ops.group.as_str(), ops.raised), ("ops", 3));
    let to_ack = ops.to_acknowledge.unwrap();
    assert_eq!((to_ack.count, to_ack.median_s, to_ack.p90_s), (2, 60, 300));
    let to_clear = ops.to_clear.unwrap();
    assert_eq!(
        (to_clear.count, to_clear.median_s, to_clear.p90_s),
        (2, 300, 1000)
    );
}

#[test]
fn text_and_markdown_say_the_stories_and_figures() {
    let h = period();
    // The words say it.
    let zone = jiff::tz::TimeZone::UTC;
    let text = text(&h, &zone);
    assert!(
        text.contains("web1/disk [ops]: told alice by sms at 1970-01-01 00:01; acknowledged by alice after 1m; cleared after 5m"),
        "{text}"
    );
    assert!(
        text.contains("(earlier) web1/db-lag [db]: acknowledged by carol at"),
        "{text}"
    );
    assert!(
        text.contains("web1/disk [ops]: not acknowledged; not cleared in the period"),
        "{text}"
    );
    assert!(
        text.contains("  ops                       3  1m / 5m"),
        "{text}"
    );
    let md = markdown(&h, &zone);
    assert!(md.contains("| ops | 3 | 1m / 5m | 5m / 16m |"), "{md}");
}

#[test]
fn markdown_escapes_what_an_alert_says() {
    let lines = vec![(
        AlertKey::new("web*1", "[x](http://evil)"),
        update(100, "RAISED: x"),
    )];
    let h = build((0, 200), lines, (vec![], 0), |_| "g|1".into(), None);
    let md = markdown(&h, &jiff::tz::TimeZone::UTC);
    assert!(md.contains("web\\*1/\\[x\\](http://evil)"), "{md}");
    assert!(md.contains("| g\\|1 | 1 |"), "{md}");
}

#[test]
fn changes_are_read_from_the_words_lines_start_with() {
    let change = |text: &str| update(0, text).change().map(|c| format!("{c:?}"));
    assert_eq!(change("RAISED: disk full").as_deref(), Some("Raised"));
    assert_eq!(change("RAISED by alice").as_deref(), Some("Raised"));
    assert_eq!(change("CLEARED").as_deref(), Some("Cleared"));
    assert_eq!(
        change("UNACKNOWLEDGED by bob").as_deref(),
        Some("Unacknowledged")
    );
    assert_eq!(
        change("FORGOTTEN: cleared and not updated for 1d").as_deref(),
        Some("Forgotten")
    );
    assert_eq!(
        change("ACKNOWLEDGED until 2026-12-07T19:00:00+00:00 by alice via a message link")
            .as_deref(),
        Some("Acknowledged { by: \"alice\" }")
    );
    assert_eq!(
        change("SUPPRESSED until 2026-12-07T19:00:00+00:00 by bob"),
        None
    );
    assert_eq!(change("RAISEDX"), None);
    let note = HistoryEntry::new(0, HistoryKind::Note, "RAISED the alarm");
    assert_eq!(note.change(), None, "a note is not a change");
}

#[test]
fn moments_are_wall_times_spans_seconds_or_rfc_3339() {
    let london: jiff::tz::TimeZone = jiff::tz::TimeZone::get("Europe/London").unwrap();
    // 2026-12-07 17:00 UTC (London is on UTC in December).
    let now = 1_796_662_800;
    assert_eq!(
        moment("18:00", now, &london),
        Ok(now + 3600 - 86_400),
        "yesterday's"
    );
    assert_eq!(
        moment("09:30", now, &london),
        Ok(now - 7 * 3600 - 1800),
        "today's"
    );
    assert_eq!(moment("17:00", now, &london), Ok(now), "now itself");
    assert_eq!(moment("-12h", now, &london), Ok(now - 12 * 3600));
    assert_eq!(moment("1796662800", now, &london), Ok(now));
    assert_eq!(moment("2026-12-07T17:00:00Z", now, &london), Ok(now));
    assert_eq!(
        moment("2026-12-07T18:00:00 01:00", now, &london),
        Ok(now),
        "'+' as a space"
    );
    let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
    assert_eq!(
        moment("18:00", now, &paris),
        Ok(now),
        "18:00 in Paris is 17:00 UTC"
    );
    for bad in ["25:00", "yesterday", "18:0", "", "-"] {
        assert!(moment(bad, now, &london).is_err(), "{bad:?}");
    }
}

#[test]
fn a_handover_past_its_line_limit_says_where_it_stopped() {
    let lines = vec![(key("disk"), update(100, "RAISED: disk full"))];
    let h = build((0, 86_400), lines, (vec![], 0), group_of, Some(3_600));
    let zone = jiff::tz::TimeZone::UTC;
    let said = format!(
        "The period holds more than {MAX_LINES} history lines: this handover ends at 1970-01-01 01:00."
    );
    assert!(text(&h, &zone).contains(&said), "{}", text(&h, &zone));
    assert!(markdown(&h, &zone).contains(&format!("*{said}*")));
    let whole = build((0, 86_400), vec![], (vec![], 0), group_of, None);
    assert!(!text(&whole, &zone).contains("this handover ends"));
}
