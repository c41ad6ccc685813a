use super::*;
use proptest::prelude::*;

const T0: u64 = 1_700_000_000;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// mauve-wire.md §6, packets A, B and C.
const PACKET_A: &str =
    "08011209746573742d686f7374180022150a0261311080e2cfaa062a096469736b2066756c6c4080e2cfaa06";
const PACKET_B: &str =
    "08021209746573742d686f7374180022170a0968656172746265617410d8e6cfaa061880e2cfaa064080e2cfaa06";
const PACKET_C: &str = "08031209746573742d686f737418014080e2cfaa06";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn packet_a_decodes_to_a_raise() {
    let d = decode(&hex(PACKET_A), T0).unwrap();
    assert_eq!(d.update.source, "test-host");
    assert_eq!(d.update.transmission_id, 1);
    assert!(!d.update.replace);
    assert_eq!(
        d.update.alerts,
        vec![AlertChange {
            id: "a1".into(),
            raise_time: Some(T0),
            summary: Some("disk full".into()),
            ..AlertChange::default()
        }]
    );
    assert!(d.rejected.is_empty());
}

#[test]
fn packet_b_is_a_heartbeat_and_c_an_empty_replace() {
    let b = decode(&hex(PACKET_B), T0).unwrap().update;
    assert_eq!(b.alerts[0].id, "heartbeat");
    assert_eq!(b.alerts[0].raise_time, Some(T0 + 600));
    assert_eq!(b.alerts[0].clear_time, Some(T0));
    let c = decode(&hex(PACKET_C), T0).unwrap().update;
    assert!(c.replace);
    assert!(c.alerts.is_empty());
    assert_eq!(c.transmission_id, 3);
}

#[test]
fn clock_skew_is_corrected_with_transmission_time() {
    // Packet A says it was sent at T0; we receive it an hour later, so every
    // time in it moves forward an hour.
    let d = decode(&hex(PACKET_A), T0 + 3600).unwrap();
    assert_eq!(d.update.alerts[0].raise_time, Some(T0 + 3600));
    assert_eq!(d.update.received_at, T0 + 3600);
    // A sender whose clock is ahead is moved back.
    let b = decode(&hex(PACKET_B), T0 - 100).unwrap().update;
    assert_eq!(b.alerts[0].raise_time, Some(T0 + 500));
}

#[test]
fn without_transmission_time_times_are_taken_as_they_are() {
    let raw = pb::AlertUpdate {
        transmission_id: 9,
        source: "s".into(),
        alert: vec![pb::Alert {
            id: "a".into(),
            raise_time: Some(T0 + 60),
            ..pb::Alert::default()
        }],
        ..pb::AlertUpdate::default()
    };
    let d = decode(&encode(&raw), T0 + 7).unwrap();
    assert_eq!(d.update.alerts[0].raise_time, Some(T0 + 60));
}

#[test]
fn the_real_mauvesend_captures_decode() {
    let raise = decode(&fixture("raise-now.bin"), T0).unwrap().update;
    assert_eq!(raise.source, "mysource");
    assert_eq!(raise.transmission_id, 930746067800272644);
    let a = &raise.alerts[0];
    assert_eq!(a.id, "alert1");
    assert_eq!(a.raise_time, Some(T0), "raise = transmission_time = now");
    assert_eq!(a.clear_time, None, "0 means absent");
    assert_eq!(a.subject.as_deref(), Some("host1.example"));
    assert_eq!(a.summary.as_deref(), Some("disk full"));
    assert_eq!(
        a.detail.as_deref(),
        Some("<b>detail</b>"),
        "detail keeps its HTML"
    );
    assert_eq!((a.importance, a.suppress_until), (None, None));

    let two = decode(&fixture("two-alerts.bin"), T0).unwrap().update;
    assert_eq!(two.source, "src4");
    assert_eq!(two.alerts.len(), 2);
    assert_eq!(two.alerts[0].raise_time, Some(T0 + 300));
    assert_eq!(two.alerts[1].raise_time, None);
    assert_eq!(two.alerts[1].suppress_until, Some(T0 + 3600));
    assert!(two.alerts[1].clear_time.is_some_and(|c| c > T0));

    let replace = decode(&fixture("replace-empty.bin"), T0).unwrap().update;
    assert_eq!(replace.source, "src3");
    assert!(replace.replace && replace.alerts.is_empty());
}

#[test]
fn bad_packets_are_refused_with_a_reason() {
    assert_eq!(decode(&[], T0), Err(PacketError::Empty));
    assert_eq!(decode(&[0xff, 0xff, 0xff], T0), Err(PacketError::Malformed));
    // Truncated in the middle of the source string.
    let a = hex(PACKET_A);
    assert_eq!(decode(&a[..8], T0), Err(PacketError::Malformed));
    // prost does not enforce "required": a bare tid decodes, without source.
    assert_eq!(decode(&[0x08, 0x01], T0), Err(PacketError::NoSource));
}

#[test]
fn alerts_without_id_or_with_absurd_times_are_refused_alone() {
    let raw = pb::AlertUpdate {
        transmission_id: 1,
        source: "s".into(),
        alert: vec![
            pb::Alert {
                id: "".into(),
                ..pb::Alert::default()
            },
            pb::Alert {
                id: "ancient".into(),
                raise_time: Some(1),
                ..pb::Alert::default()
            },
            pb::Alert {
                id: "future".into(),
                clear_time: Some(T0 + 3651 * 86_400),
                ..pb::Alert::default()
            },
            pb::Alert {
                id: "fine".into(),
                ..pb::Alert::default()
            },
        ],
        ..pb::AlertUpdate::default()
    };
    let d = decode(&encode(&raw), T0).unwrap();
    assert_eq!(d.update.alerts.len(), 1);
    assert_eq!(d.update.alerts[0].id, "fine");
    assert_eq!(
        d.rejected,
        vec![
            ("".into(), AlertError::NoId),
            ("ancient".into(), AlertError::TimeOutOfRange),
            ("future".into(), AlertError::TimeOutOfRange),
        ]
    );
}

#[test]
fn strings_are_stripped_of_tags_and_capped() {
    let raw = pb::AlertUpdate {
        transmission_id: 1,
        source: "<b>web1</b>".into(),
        alert: vec![pb::Alert {
            id: "x".repeat(300),
            subject: Some("load < 5 <i>ok</i>\0".into()),
            summary: Some("é".repeat(2000)),
            detail: Some("d".repeat(MAX_DETAIL_BYTES + 10)),
            ..pb::Alert::default()
        }],
        ..pb::AlertUpdate::default()
    };
    let d = decode(&encode(&raw), T0).unwrap();
    assert_eq!(d.update.source, "web1");
    let a = &d.update.alerts[0];
    assert_eq!(a.id.chars().count(), MAX_ID_CHARS);
    assert_eq!(a.subject.as_deref(), Some("load < 5 ok"));
    assert_eq!(
        a.summary.as_ref().unwrap().chars().count(),
        MAX_SUMMARY_CHARS
    );
    assert_eq!(a.detail.as_ref().unwrap().len(), MAX_DETAIL_BYTES);
    assert_eq!(d.truncated, 3);
}

/// An update whose alerts carry raw bytes as subject: what a script that
/// prints in a legacy encoding sends through a client that does not check.
fn with_raw_subjects(subjects: &[(&str, &[u8])]) -> Vec<u8> {
    let raw = lenient::AlertUpdate {
        transmission_id: 9,
        source: b"host\xff1".to_vec(),
        alert: subjects
            .iter()
            .map(|(id, subject)| lenient::Alert {
                id: id.as_bytes().to_vec(),
                subject: Some(subject.to_vec()),
                ..lenient::Alert::default()
            })
            .collect(),
        transmission_time: Some(T0),
        ..lenient::AlertUpdate::default()
    };
    raw.encode_to_vec()
}

#[test]
fn invalid_utf8_is_repaired_with_question_marks_and_the_packet_applies() {
    // "café" in Windows-1252, and a valid alert beside it.
    let bytes = with_raw_subjects(&[("bad", b"caf\xe9"), ("good", "naïve".as_bytes())]);
    let d = decode(&bytes, T0).unwrap();
    assert_eq!(d.update.source, "host?1");
    assert_eq!(d.update.alerts.len(), 2);
    assert_eq!(d.update.alerts[0].subject.as_deref(), Some("caf?"));
    assert_eq!(d.update.alerts[1].subject.as_deref(), Some("naïve"));
    assert_eq!(d.repaired, 2, "the source and one subject");
    // "テスト" in Shift-JIS: lead bytes 0x83 are not UTF-8, the ASCII trail bytes are.
    let sjis = with_raw_subjects(&[("jp", &[0x83, 0x65, 0x83, 0x58, 0x83, 0x67])]);
    let d = decode(&sjis, T0).unwrap();
    assert_eq!(d.update.alerts[0].subject.as_deref(), Some("?e?X?g"));
    // A run of invalid bytes is one sequence each, as mauve's clean_utf8 counts them.
    let mut repaired = 0;
    assert_eq!(
        lenient::repair_utf8(b"a\xff\xfeb\xe2\x82".to_vec(), &mut repaired),
        "a??b?"
    );
    assert_eq!(repaired, 1);
}

#[test]
fn valid_packets_need_no_repair() {
    for name in ["raise-now.bin", "two-alerts.bin", "replace-empty.bin"] {
        assert_eq!(decode(&fixture(name), T0).unwrap().repaired, 0, "{name}");
    }
}

#[test]
fn encode_always_writes_the_required_fields() {
    let bytes = encode(&pb::AlertUpdate {
        transmission_id: 5,
        source: "s".into(),
        replace: false,
        ..pb::AlertUpdate::default()
    });
    // tid, source, and replace=false written as `18 00` like Ruby does.
    assert_eq!(bytes, vec![0x08, 0x05, 0x12, 0x01, b's', 0x18, 0x00]);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), now in any::<u64>()) {
        let _ = decode(&bytes, now);
    }

    #[test]
    fn mutated_real_packets_never_panic(flips in proptest::collection::vec((0usize..93, any::<u8>()), 1..8)) {
        let mut bytes = fixture("raise-now.bin");
        for (at, value) in flips {
            bytes[at % 93] = value;
        }
        let _ = decode(&bytes, T0);
    }

    #[test]
    fn any_encoded_update_decodes_to_its_fields(
        tid in 1u64..u64::MAX,
        source in "[a-z0-9.-]{1,40}",
        id in "[a-z0-9_]{1,40}",
        raise in proptest::option::of(T0 - 1000..T0 + 1000),
        summary in "[ -;=?-~]{0,50}",
    ) {
        let raw = pb::AlertUpdate {
            transmission_id: tid,
            source: source.clone(),
            replace: tid % 2 == 0,
            alert: vec![pb::Alert {
                id: id.clone(),
                raise_time: raise,
                clear_time: raise.map(|t| t + 1),
                subject: Some(source.clone()),
                summary: Some(summary.clone()),
                detail: Some(summary.clone()),
                importance: Some(7),
                suppress_until: raise.map(|t| t + 2),
            }],
            signature: Some(id.clone().into_bytes()),
            transmission_time: Some(T0),
        };
        let bytes = encode(&raw);
        // The lenient mirror reads exactly what the schema wrote.
        let (mirrored, repaired) = lenient::AlertUpdate::decode(&*bytes).unwrap().repair();
        prop_assert_eq!(&mirrored, &raw);
        prop_assert_eq!(repaired, 0);
        let d = decode(&bytes, T0).unwrap();
        prop_assert_eq!(d.update.transmission_id, tid);
        prop_assert_eq!(&d.update.source, &source);
        prop_assert_eq!(&d.update.alerts[0].id, &id);
        prop_assert_eq!(d.update.alerts[0].raise_time, raise);
        let trimmed = summary.trim();
        prop_assert_eq!(d.update.alerts[0].summary.as_deref(), (!trimmed.is_empty()).then_some(trimmed));
    }
}

/// Tag stripping as first written: plainly right, and quadratic on `<a<a…`
/// (each `<` searched the whole rest for `>`). The one-pass version must
/// say the same.
fn strip_tags_by_rescanning(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let opens_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        match if opens_tag { after.find('>') } else { None } {
            Some(end) => rest = &after[end + 1..],
            None => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text made of what makes tag stripping work hardest.
fn hostile_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("<"),
            Just("<a"),
            Just("</"),
            Just("<!"),
            Just(">"),
            Just("a"),
            Just(" "),
            Just("é"),
            Just("<<"),
        ],
        0..400,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn stripping_tags_looks_at_each_byte_a_bounded_number_of_times(text in hostile_text()) {
        let (stripped, looked_at) = strip_tags_counted(&text);
        prop_assert_eq!(stripped.as_ref(), strip_tags_by_rescanning(&text));
        prop_assert!(looked_at <= 2 * text.len() + 2, "{} bytes looked at for {}", looked_at, text.len());
    }
}

#[test]
fn the_worst_known_texts_cost_their_length() {
    for text in [
        "<a".repeat(32_000),
        "<".repeat(64_000),
        format!("{}>", "<a".repeat(32_000)),
        "<table><tr>x".repeat(5_000),
        format!("{}{}", "<".repeat(30_000), "a>".repeat(15_000)),
    ] {
        let (stripped, looked_at) = strip_tags_counted(&text);
        assert_eq!(stripped, strip_tags_by_rescanning(&text));
        assert!(
            looked_at <= 2 * text.len() + 2,
            "{looked_at} for {}",
            text.len()
        );
    }
}

#[test]
fn a_field_longer_than_a_datagram_is_cut_before_it_is_cleaned() {
    let mut truncated = 0;
    let text = clean_text("<a".repeat(100_000), usize::MAX, &mut truncated);
    assert_eq!(text.len(), MAX_RAW_FIELD_BYTES);
    assert_eq!(truncated, 1);
}
