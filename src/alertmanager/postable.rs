//! `POST /api/v2/alerts`: Prometheus's alerts as mauve updates.
//!
//! An alert is keyed by its labels: the source is `instance` (else `job`,
//! else `prometheus`), the id is `alertname` followed by the other labels
//! but `instance` in Prometheus notation (`DiskFull{device="sda"}`), so two
//! series of one rule are two alerts. A firing alert is "raise at startsAt,
//! clear at endsAt": Prometheus sends again before endsAt, so one that stops
//! sending leaves its alerts to clear when they lapse, as Alertmanager does.
//! A resolved one (endsAt in the past) is "clear now". The whole body is
//! checked before anything is applied: one bad alert refuses all.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::alert::UnixSecs;
use crate::wire::pb;

/// Alertmanager's `resolve_timeout`: a firing alert without endsAt lapses
/// this long after it was received.
pub const RESOLVE_TIMEOUT_S: u64 = 300;

/// The importance of alerts without a `severity` or with an unknown one.
const OTHER_IMPORTANCE: u32 = 50;

/// The alerts of a body as updates, one per source. Read the fast way (as
/// typed, borrowing the body); a body that does not read so is read again
/// as plain JSON, to say exactly which alert and field is wrong.
pub fn parse(
    body: &[u8],
    now: UnixSecs,
    importance: &BTreeMap<String, u32>,
) -> Result<Vec<pb::AlertUpdate>, String> {
    match fast::parse(body, now, importance) {
        Some(updates) => Ok(updates),
        None => parse_checked(body, now, importance),
    }
}

/// The updates of a body, one per source, in the order sources came.
#[derive(Default)]
struct BySource {
    updates: Vec<pb::AlertUpdate>,
    /// Where each source's update is in `updates`.
    at: hashbrown::HashMap<String, usize>,
}

impl BySource {
    /// Adds an alert to its source's update.
    fn add(&mut self, source: &str, alert: pb::Alert, now: UnixSecs) {
        if let Some(&i) = self.at.get(source) {
            self.updates[i].alert.push(alert);
            return;
        }
        self.at.insert(source.to_owned(), self.updates.len());
        self.updates.push(pb::AlertUpdate {
            source: source.to_owned(),
            transmission_time: Some(now),
            alert: vec![alert],
            ..pb::AlertUpdate::default()
        });
    }
}

/// The slow reading, field by field, that names what is wrong.
fn parse_checked(
    body: &[u8],
    now: UnixSecs,
    importance: &BTreeMap<String, u32>,
) -> Result<Vec<pb::AlertUpdate>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| format!("body is not JSON: {err}"))?;
    let Value::Array(alerts) = value else {
        return Err("body must be an array of alerts (postableAlerts)".into());
    };
    let mut updates = BySource::default();
    for (i, alert) in alerts.iter().enumerate() {
        let (source, alert) =
            one(alert, now, importance).map_err(|why| format!("alerts[{i}]: {why}"))?;
        updates.add(&source, alert, now);
    }
    Ok(updates.updates)
}

fn strings(object: &Map<String, Value>, field: &str) -> Result<BTreeMap<String, String>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(format!("{field}.{k}: must be a string")),
            })
            .collect(),
        Some(_) => Err(format!("{field}: must be an object of strings")),
    }
}

fn time(object: &Map<String, Value>, field: &str) -> Result<Option<UnixSecs>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => crate::timefmt::parse_rfc3339(s)
            .map_err(|why| format!("{field}: {} is {why}", crate::untrusted::quoted_short(s))),
        Some(_) => Err(format!("{field}: must be an RFC 3339 time")),
    }
}

/// Alertmanager refuses an alert that ends before it starts.
fn in_order(starts: Option<UnixSecs>, ends: Option<UnixSecs>) -> Result<(), String> {
    match (starts, ends) {
        (Some(s), Some(e)) if e < s => Err("endsAt: before startsAt".into()),
        _ => Ok(()),
    }
}

fn one(
    value: &Value,
    now: UnixSecs,
    importance: &BTreeMap<String, u32>,
) -> Result<(String, pb::Alert), String> {
    let Value::Object(object) = value else {
        return Err("must be an object".into());
    };
    if !object.contains_key("labels") {
        return Err("labels: required".into());
    }
    let labels = strings(object, "labels")?;
    let annotations = strings(object, "annotations")?;
    let name = labels
        .get("alertname")
        .filter(|n| !n.is_empty())
        .ok_or("labels.alertname: required")?;
    let generator = match object.get("generatorURL") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("generatorURL: must be a string".into()),
    };
    let starts = time(object, "startsAt")?;
    let ends = time(object, "endsAt")?;
    in_order(starts, ends)?;
    fn borrowed(map: &BTreeMap<String, String>) -> Vec<Pair<'_>> {
        map.iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .collect()
    }
    let (labels, annotations) = (borrowed(&labels), borrowed(&annotations));
    let (source, alert) = mapped(
        name,
        &labels,
        &annotations,
        starts,
        ends,
        generator.as_deref(),
        now,
        importance,
    );
    Ok((source.to_owned(), alert))
}

/// A label's or annotation's name and value.
type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// The value named `key` in a list of pairs.
fn get<'v>(list: &'v [Pair], key: &str) -> Option<&'v str> {
    list.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
}

/// One alert as a mauve alert and its source; labels and annotations
/// sorted by name.
#[allow(clippy::too_many_arguments)]
fn mapped<'l>(
    name: &str,
    labels: &'l [Pair],
    annotations: &[Pair],
    starts: Option<UnixSecs>,
    ends: Option<UnixSecs>,
    generator: Option<&str>,
    now: UnixSecs,
    importance: &BTreeMap<String, u32>,
) -> (&'l str, pb::Alert) {
    let instance = get(labels, "instance").filter(|s| !s.is_empty());
    let source = instance
        .or_else(|| get(labels, "job").filter(|s| !s.is_empty()))
        .unwrap_or("prometheus");
    let resolved = ends.is_some_and(|e| e <= now);
    let (raise_time, clear_time) = if resolved {
        (None, Some(now))
    } else {
        let raise = starts.filter(|s| *s <= now && *s > 0).unwrap_or(now);
        let clear = ends.unwrap_or(now + RESOLVE_TIMEOUT_S);
        (Some(raise), Some(clear))
    };
    let summary = get(annotations, "summary")
        .or_else(|| get(annotations, "description"))
        .map(str::to_owned);
    let importance = get(labels, "severity")
        .and_then(|s| match importance.get(s) {
            Some(n) => Some(*n),
            None => importance.get(&s.to_lowercase()).copied(),
        })
        .unwrap_or(OTHER_IMPORTANCE);
    (
        source,
        pb::Alert {
            id: id_of(name, labels),
            raise_time,
            clear_time,
            subject: get(labels, "instance").map(str::to_owned),
            summary,
            detail: Some(detail(labels, annotations, generator)),
            importance: Some(importance),
            suppress_until: None,
        },
    )
}

/// `alertname{label="value",…}` over the labels (sorted by name) but
/// `alertname` and `instance`, values escaped as Prometheus writes them.
fn id_of(name: &str, labels: &[Pair]) -> String {
    let mut out = String::with_capacity(name.len() + 16 * labels.len());
    out.push_str(name);
    let mut first = true;
    for (k, v) in labels {
        if k == "alertname" || k == "instance" {
            continue;
        }
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        push_escaped(&mut out, v, |b| match b {
            b'\\' => Some("\\\\"),
            b'"' => Some("\\\""),
            b'\n' => Some("\\n"),
            _ => None,
        });
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out
}

/// `text` HTML-escaped onto `out`.
fn push_html(out: &mut String, text: &str) {
    push_escaped(out, text, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&quot;"),
        _ => None,
    });
}

/// `text` onto `out`, each ASCII byte that `escape` names replaced (the
/// runs between them copied whole).
fn push_escaped(out: &mut String, text: &str, escape: impl Fn(u8) -> Option<&'static str>) {
    let mut from = 0;
    for (i, b) in text.bytes().enumerate() {
        if let Some(with) = escape(b) {
            out.push_str(&text[from..i]);
            out.push_str(with);
            from = i + 1;
        }
    }
    out.push_str(&text[from..]);
}

/// The other annotations and the labels as a short HTML list (mauve's
/// detail is an HTML fragment; every value is escaped).
fn detail(labels: &[Pair], annotations: &[Pair], generator: Option<&str>) -> String {
    let mut out = String::with_capacity(64 + 32 * (labels.len() + annotations.len()));
    out.push_str("<ul>");
    for (k, v) in annotations {
        if k != "summary" {
            out.push_str("<li>");
            push_html(&mut out, k);
            out.push_str(": ");
            push_html(&mut out, v);
            out.push_str("</li>");
        }
    }
    out.push_str("<li>labels: ");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_html(&mut out, k);
        out.push_str("=&quot;");
        push_html(&mut out, v);
        out.push_str("&quot;");
    }
    out.push_str("</li>");
    if let Some(url) = generator.filter(|u| u.starts_with("http://") || u.starts_with("https://")) {
        out.push_str("<li><a href=\"");
        push_html(&mut out, url);
        out.push_str("\">source</a></li>");
    }
    out.push_str("</ul>");
    out
}

/// The typed reading: the body's strings borrowed where they have no
/// escapes, labels and annotations as sorted pairs, times parsed once per
/// distinct text (a batch's alerts mostly share them).
mod fast {
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use serde::de::{Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize;

    use super::{get, mapped, pb, Pair, UnixSecs};

    /// A JSON string: borrowed from the body unless it has escapes.
    /// (serde's own `Cow<str>` is always a copy.)
    struct Text<'a>(Cow<'a, str>);

    impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Str;
            impl<'de> Visitor<'de> for Str {
                type Value = Text<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                    Ok(Text(Cow::Borrowed(s)))
                }
                fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                    Ok(Text(Cow::Owned(s.to_owned())))
                }
                fn visit_string<E>(self, s: String) -> Result<Text<'de>, E> {
                    Ok(Text(Cow::Owned(s)))
                }
            }
            d.deserialize_str(Str)
        }
    }

    /// Names and values, sorted by name.
    struct Pairs<'a>(Vec<Pair<'a>>);

    impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Each;
            impl<'de> Visitor<'de> for Each {
                type Value = Pairs<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object of strings")
                }
                fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Pairs<'de>, M::Error> {
                    let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                    while let Some((k, v)) = map.next_entry::<Text<'de>, Text<'de>>()? {
                        out.push((k.0, v.0));
                    }
                    out.sort_by(|a, b| a.0.cmp(&b.0));
                    // A repeated name: the slow reading decides.
                    if out.windows(2).any(|w| w[0].0 == w[1].0) {
                        return Err(serde::de::Error::custom("a name given twice"));
                    }
                    Ok(Pairs(out))
                }
            }
            d.deserialize_map(Each).map(|p| Pairs(p.0))
        }
    }

    #[derive(Deserialize)]
    struct Postable<'a> {
        #[serde(borrow)]
        labels: Pairs<'a>,
        #[serde(borrow, default)]
        annotations: Option<Pairs<'a>>,
        #[serde(borrow, default, rename = "startsAt")]
        starts_at: Option<Text<'a>>,
        #[serde(borrow, default, rename = "endsAt")]
        ends_at: Option<Text<'a>>,
        #[serde(borrow, default, rename = "generatorURL")]
        generator: Option<Text<'a>>,
    }

    /// The last text parsed as a time, and its value.
    #[derive(Default)]
    struct Times(Option<(String, Option<UnixSecs>)>);

    impl Times {
        /// None: not a time (the slow reading says so).
        fn read(&mut self, text: Option<&str>) -> Option<Option<UnixSecs>> {
            let Some(text) = text.filter(|t| !t.is_empty()) else {
                return Some(None);
            };
            if let Some((last, value)) = &self.0 {
                if last == text {
                    return Some(*value);
                }
            }
            let value = crate::timefmt::parse_rfc3339(text).ok()?;
            self.0 = Some((text.to_owned(), value));
            Some(value)
        }
    }

    /// The alerts mapped as they are read (none kept as read).
    pub(super) fn parse(
        body: &[u8],
        now: UnixSecs,
        importance: &BTreeMap<String, u32>,
    ) -> Option<Vec<pb::AlertUpdate>> {
        let mut reader = serde_json::Deserializer::from_slice(body);
        let updates = reader.deserialize_seq(Alerts { now, importance }).ok()?;
        reader.end().ok()?;
        Some(updates)
    }

    /// Reads the array of alerts into updates by source.
    struct Alerts<'i> {
        now: UnixSecs,
        importance: &'i BTreeMap<String, u32>,
    }

    impl<'de> Visitor<'de> for Alerts<'_> {
        type Value = Vec<pb::AlertUpdate>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of alerts")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // What the fast reading does not take, the checked one explains.
            let refused = || A::Error::custom("read again");
            let (mut starts, mut ends) = (Times::default(), Times::default());
            let mut updates = super::BySource::default();
            while let Some(alert) = seq.next_element::<Postable>()? {
                let labels = &alert.labels.0;
                let annotations = alert.annotations.as_ref().map_or(&[][..], |a| &a.0[..]);
                let name = get(labels, "alertname")
                    .filter(|n| !n.is_empty())
                    .ok_or_else(refused)?;
                let start = starts
                    .read(alert.starts_at.as_ref().map(|t| &*t.0))
                    .ok_or_else(refused)?;
                let end = ends
                    .read(alert.ends_at.as_ref().map(|t| &*t.0))
                    .ok_or_else(refused)?;
                super::in_order(start, end).map_err(|_| refused())?;
                let (source, mapped) = mapped(
                    name,
                    labels,
                    annotations,
                    start,
                    end,
                    alert.generator.as_ref().map(|t| &*t.0),
                    self.now,
                    self.importance,
                );
                updates.add(source, mapped, self.now);
            }
            Ok(updates.updates)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixSecs = 1_800_000_000;

    fn default_importance() -> BTreeMap<String, u32> {
        crate::config::Config::default().prometheus.importance()
    }

    fn parse_one(body: &str) -> Result<(String, pb::Alert), String> {
        let updates = parse(body.as_bytes(), NOW, &default_importance())?;
        assert_eq!(updates.len(), 1);
        Ok((updates[0].source.clone(), updates[0].alert[0].clone()))
    }

    #[test]
    fn labels_make_the_key_and_annotations_the_text() {
        let (source, alert) = parse_one(
            r#"[{"labels": {"alertname": "DiskFull", "instance": "web1:9100", "job": "node",
                 "severity": "critical", "device": "sda"},
                 "annotations": {"summary": "disk full", "description": "sda at 99%"},
                 "startsAt": "2027-01-15T07:59:00Z", "endsAt": "2027-01-15T08:05:00Z",
                 "generatorURL": "http://prom:9090/graph?g0.expr=x"}]"#,
        )
        .unwrap();
        assert_eq!(source, "web1:9100");
        assert_eq!(
            alert.id,
            r#"DiskFull{device="sda",job="node",severity="critical"}"#
        );
        assert_eq!(alert.subject.as_deref(), Some("web1:9100"));
        assert_eq!(alert.summary.as_deref(), Some("disk full"));
        assert_eq!(alert.importance, Some(90));
        let detail = alert.detail.unwrap();
        assert!(detail.contains("description: sda at 99%"), "{detail}");
        assert!(
            detail.contains("<a href=\"http://prom:9090/graph?g0.expr=x\">"),
            "{detail}"
        );
        // 2027-01-15T08:00:00Z is NOW: firing, raised at startsAt, clearing at endsAt.
        assert_eq!(alert.raise_time, Some(NOW - 60));
        assert_eq!(alert.clear_time, Some(NOW + 300));
    }

    #[test]
    fn odd_labels_and_severities() {
        let (source, alert) = parse_one(
            r#"[{"labels": {"alertname": "a/b", "job": "j", "path": "C:\\x \"q\"\nz", "ünï": "☃"}}]"#,
        )
        .unwrap();
        assert_eq!(source, "j");
        assert_eq!(alert.id, r#"a/b{job="j",path="C:\\x \"q\"\nz",ünï="☃"}"#);
        assert_eq!(alert.subject, None);
        assert_eq!(alert.importance, Some(50));
        // No endsAt: Alertmanager's resolve timeout.
        assert_eq!(alert.clear_time, Some(NOW + RESOLVE_TIMEOUT_S));
        let (source, alert) =
            parse_one(r#"[{"labels": {"alertname": "Up", "severity": "Warning"}}]"#).unwrap();
        assert_eq!(
            (source.as_str(), alert.id.as_str()),
            ("prometheus", "Up{severity=\"Warning\"}")
        );
        assert_eq!(alert.importance, Some(60));
        for (severity, want) in [("error", 80), ("high", 80), ("info", 30), ("page", 50)] {
            let body = format!(r#"[{{"labels": {{"alertname": "x", "severity": "{severity}"}}}}]"#);
            assert_eq!(
                parse_one(&body).unwrap().1.importance,
                Some(want),
                "{severity}"
            );
        }
        let mut custom = default_importance();
        custom.insert("page".into(), 95);
        let updates = parse(
            br#"[{"labels": {"alertname": "x", "severity": "page"}}]"#,
            NOW,
            &custom,
        )
        .unwrap();
        assert_eq!(updates[0].alert[0].importance, Some(95));
    }

    #[test]
    fn the_fast_reading_and_the_checked_one_agree() {
        let importance = default_importance();
        for body in [
            r#"[{"labels": {"alertname": "DiskFull", "instance": "web1:9100", "severity": "critical", "device": "sda"},
                 "annotations": {"summary": "disk full", "runbook": "<a href=\"x\">r</a> & more"},
                 "startsAt": "2027-01-15T07:59:00Z", "endsAt": "2027-01-15T08:05:00Z",
                 "generatorURL": "http://prom:9090/graph?g0.expr=x&y=\"1\""},
                {"labels": {"alertname": "a/b", "job": "j", "path": "C:\\x \"q\"\nz", "ünï": "☃"}},
                {"labels": {"alertname": "Up", "severity": "Warning"}, "annotations": null, "startsAt": ""},
                {"labels": {"alertname": "x"}, "startsAt": "2027-01-15T07:00:00Z", "endsAt": "2027-01-15T07:59:59Z", "status": {"state": "x"}}]"#,
            "[]",
        ] {
            let fast = fast::parse(body.as_bytes(), NOW, &importance).expect("reads the fast way");
            let checked = parse_checked(body.as_bytes(), NOW, &importance).unwrap();
            assert_eq!(fast, checked, "{body}");
        }
        // What the fast reading refuses, the checked one explains.
        for body in [
            r#"[{"labels": {"alertname": "a", "alertname": "b"}}]"#,
            r#"[{"labels": {"x": 1}}]"#,
        ] {
            assert!(
                fast::parse(body.as_bytes(), NOW, &importance).is_none(),
                "{body}"
            );
        }
    }

    #[test]
    fn alerts_go_to_their_sources_update_in_the_order_sources_came() {
        let body = r#"[{"labels": {"alertname": "a", "instance": "web2"}},
                       {"labels": {"alertname": "b", "instance": "web1"}},
                       {"labels": {"alertname": "c", "instance": "web2"}},
                       {"labels": {"alertname": "d", "job": "node"}},
                       {"labels": {"alertname": "e", "instance": "web1"}}]"#;
        let updates = parse(body.as_bytes(), NOW, &default_importance()).unwrap();
        let seen: Vec<(&str, Vec<&str>)> = updates
            .iter()
            .map(|u| {
                let ids = u.alert.iter().map(|a| a.id.as_str()).collect();
                (u.source.as_str(), ids)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("web2", vec!["a", "c"]),
                ("web1", vec!["b", "e"]),
                ("node", vec![r#"d{job="node"}"#])
            ]
        );
    }

    #[test]
    fn resolved_alerts_clear_now() {
        let (_, alert) = parse_one(
            r#"[{"labels": {"alertname": "x"}, "startsAt": "2027-01-15T07:00:00Z",
                 "endsAt": "2027-01-15T07:59:59Z"}]"#,
        )
        .unwrap();
        assert_eq!((alert.raise_time, alert.clear_time), (None, Some(NOW)));
    }

    #[test]
    fn bad_bodies_are_refused_whole_and_say_where() {
        let cases = [
            (r#"{"labels": {}}"#, "must be an array"),
            (r#"[{"annotations": {}}]"#, "alerts[0]: labels: required"),
            (
                r#"[{"labels": {"instance": "x"}}]"#,
                "alerts[0]: labels.alertname: required",
            ),
            (
                r#"[{"labels": {"alertname": 5}}]"#,
                "labels.alertname: must be a string",
            ),
            (
                r#"[{"labels": {"alertname": "a"}}, {"labels": {"alertname": "b"}, "startsAt": "yesterday"}]"#,
                "alerts[1]: startsAt: \"yesterday\" is not an RFC 3339 time",
            ),
            ("[1]", "alerts[0]: must be an object"),
            ("not json", "body is not JSON"),
            (
                r#"[{"labels": {"alertname": "a"}, "startsAt": "2027-01-15T08:00:00Z", "endsAt": "2027-01-15T07:00:00Z"}]"#,
                "alerts[0]: endsAt: before startsAt",
            ),
            (
                r#"[{"labels": {"alertname": "a"}, "startsAt": "2027-01-15T08:00:00+25:59"}]"#,
                "alerts[0]: startsAt: \"2027-01-15T08:00:00+25:59\" is not an RFC 3339 time (an offset is at most",
            ),
        ];
        for (body, want) in cases {
            let err = parse(body.as_bytes(), NOW, &default_importance()).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }
}
