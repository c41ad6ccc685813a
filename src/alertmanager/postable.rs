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

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::alert::UnixSecs;
use crate::wire::pb;

/// Alertmanager's `resolve_timeout`: a firing alert without endsAt lapses
/// this long after it was received.
pub const RESOLVE_TIMEOUT_S: u64 = 300;

/// The importance of alerts without a `severity` or with an unknown one.
const OTHER_IMPORTANCE: u32 = 50;

/// The alerts of a body as updates, one per source.
pub fn parse(
    body: &[u8],
    now: UnixSecs,
    importance: &BTreeMap<String, u32>,
) -> Result<Vec<pb::AlertUpdate>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| format!("body is not JSON: {err}"))?;
    let Value::Array(alerts) = value else {
        return Err("body must be an array of alerts (postableAlerts)".into());
    };
    let mut updates: Vec<pb::AlertUpdate> = Vec::new();
    for (i, alert) in alerts.iter().enumerate() {
        let (source, alert) =
            one(alert, now, importance).map_err(|why| format!("alerts[{i}]: {why}"))?;
        match updates.iter_mut().find(|u| u.source == source) {
            Some(update) => update.alert.push(alert),
            None => updates.push(pb::AlertUpdate {
                source,
                transmission_time: Some(now),
                alert: vec![alert],
                ..pb::AlertUpdate::default()
            }),
        }
    }
    Ok(updates)
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
        Some(Value::String(s)) => {
            let ts: jiff::Timestamp = s
                .parse()
                .map_err(|_| format!("{field}: {s:?} is not an RFC 3339 time"))?;
            // Go's zero time (year 1) means "not set".
            Ok(u64::try_from(ts.as_second()).ok())
        }
        Some(_) => Err(format!("{field}: must be an RFC 3339 time")),
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
    let source = labels
        .get("instance")
        .or_else(|| labels.get("job"))
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| "prometheus".to_owned());
    let resolved = ends.is_some_and(|e| e <= now);
    let (raise_time, clear_time) = if resolved {
        (None, Some(now))
    } else {
        let raise = starts.filter(|s| *s <= now && *s > 0).unwrap_or(now);
        let clear = ends.unwrap_or(now + RESOLVE_TIMEOUT_S);
        (Some(raise), Some(clear))
    };
    let summary = annotations
        .get("summary")
        .or_else(|| annotations.get("description"))
        .cloned();
    let severity = labels.get("severity").map(|s| s.to_lowercase());
    let importance = severity
        .as_deref()
        .and_then(|s| importance.get(s))
        .copied()
        .unwrap_or(OTHER_IMPORTANCE);
    Ok((
        source,
        pb::Alert {
            id: id(name, &labels),
            raise_time,
            clear_time,
            subject: labels.get("instance").cloned(),
            summary,
            detail: Some(detail(&labels, &annotations, generator.as_deref())),
            importance: Some(importance),
            suppress_until: None,
        },
    ))
}

/// `alertname{label="value",…}` over the labels but `alertname` and
/// `instance`, sorted, values escaped as Prometheus writes them.
pub fn id(name: &str, labels: &BTreeMap<String, String>) -> String {
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "alertname" && *k != "instance")
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if rest.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", rest.join(","))
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The other annotations and the labels as a short HTML list (mauve's
/// detail is an HTML fragment; every value is escaped).
fn detail(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    generator: Option<&str>,
) -> String {
    let html = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = String::from("<ul>");
    for (k, v) in annotations {
        if k != "summary" {
            out.push_str(&format!("<li>{}: {}</li>", html(k), html(v)));
        }
    }
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", html(k), html(v)))
        .collect();
    out.push_str(&format!("<li>labels: {}</li>", labels.join(", ")));
    if let Some(url) = generator.filter(|u| u.starts_with("http://") || u.starts_with("https://")) {
        out.push_str(&format!("<li><a href=\"{}\">source</a></li>", html(url)));
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixSecs = 1_800_000_000;

    fn default_importance() -> BTreeMap<String, u32> {
        crate::config::Config::default()
            .prometheus
            .severity_importance
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
        ];
        for (body, want) in cases {
            let err = parse(body.as_bytes(), NOW, &default_importance()).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }
}
