//! HTTP+JSON submission: purppura-style events in, mauve updates out.
//!
//! `POST /events` takes one JSON object or an array of them. purppura's
//! fields (`id`, `subject`, `detail`, `raise` as `now`, `clear` or `+5m`) and
//! mauve's (`source`, `summary`, `importance`, `raise_time`, `clear_time`,
//! `suppress_until`, `replace`) are both understood. The result is the same
//! protobuf update a datagram would carry, so from here on an event goes the
//! exact way of a UDP packet (`wire::check`, de-dup, scheduler).
//!
//! Events are grouped by source into one update per source, so that
//! `replace` in an array means "these are all my alerts" rather than each
//! element clearing its siblings.

use serde_json::{Map, Value};

use crate::alert::UnixSecs;
use crate::timespec;
use crate::wire::pb;

const FIELDS: &[&str] = &[
    "id",
    "source",
    "subject",
    "summary",
    "detail",
    "importance",
    "raise",
    "raise_time",
    "clear_time",
    "suppress_until",
    "replace",
];

/// Parses a request body. `default_source` stands for events without a
/// `source` (purppura uses the client's address). Errors name the element
/// and field: `events[2].raise: ...`.
pub fn parse(
    body: &[u8],
    default_source: &str,
    now: UnixSecs,
) -> Result<Vec<pb::AlertUpdate>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| format!("body is not JSON: {err}"))?;
    let elements = match value {
        Value::Object(object) => vec![Value::Object(object)],
        Value::Array(elements) if !elements.is_empty() => elements,
        Value::Array(_) => return Err("body is an empty array".into()),
        _ => return Err("body must be a JSON object or an array of objects".into()),
    };
    let mut updates: Vec<pb::AlertUpdate> = Vec::new();
    let mut by_source: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, element) in elements.into_iter().enumerate() {
        let Value::Object(object) = element else {
            return Err(format!("events[{i}]: must be an object"));
        };
        let event = Event {
            index: i,
            object: &object,
        };
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(event.error(unknown, "unknown field"));
        }
        let source = event
            .string("source")?
            .unwrap_or_else(|| default_source.to_owned());
        let replace = event.boolean("replace")?.unwrap_or(false);
        let alert = match event.string("id")? {
            Some(id) => Some(event.alert(id, now)?),
            None if replace => {
                if let Some(field) = object
                    .keys()
                    .find(|k| !matches!(k.as_str(), "source" | "replace"))
                {
                    return Err(event.error(field, "needs an id"));
                }
                None
            }
            None => return Err(event.error("id", "required")),
        };
        // By a map, not a search of the updates so far: 28,000 sources in
        // one body must not cost their square.
        let at = *by_source.entry(source).or_insert_with_key(|source| {
            updates.push(pb::AlertUpdate {
                source: source.clone(),
                transmission_time: Some(now),
                ..pb::AlertUpdate::default()
            });
            updates.len() - 1
        });
        let update = &mut updates[at];
        update.replace |= replace;
        update.alert.extend(alert);
    }
    Ok(updates)
}

/// One element of the body and its position, for error messages.
struct Event<'a> {
    index: usize,
    object: &'a Map<String, Value>,
}

impl Event<'_> {
    fn error(&self, field: &str, what: &str) -> String {
        format!("events[{}].{field}: {what}", self.index)
    }

    fn string(&self, field: &str) -> Result<Option<String>, String> {
        match self.object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() && matches!(field, "id" | "source") => {
                Err(self.error(field, "must not be empty"))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(field, "must be a string")),
        }
    }

    fn boolean(&self, field: &str) -> Result<Option<bool>, String> {
        match self.object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(field, "must be true or false")),
        }
    }

    fn number(&self, field: &str, max: u64) -> Result<Option<u64>, String> {
        match self.object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .filter(|&n| n <= max)
                .map(Some)
                .ok_or_else(|| {
                    self.error(field, &format!("must be a whole number from 0 to {max}"))
                }),
        }
    }

    fn alert(&self, id: String, now: UnixSecs) -> Result<pb::Alert, String> {
        let mut raise_time = self.number("raise_time", u64::MAX)?;
        let mut clear_time = self.number("clear_time", u64::MAX)?;
        if let Some(raise) = self.string("raise")? {
            if raise_time.is_some() || clear_time.is_some() {
                return Err(self.error("raise", "give either raise or raise_time/clear_time"));
            }
            match raise.as_str() {
                // purppura's "clear": the alert is fine now.
                "clear" => clear_time = Some(now),
                spec => {
                    let at = timespec::purppura(spec, now)
                        .or_else(|| timespec::mauvesend(spec, now).ok())
                        .ok_or_else(|| {
                            self.error(
                                "raise",
                                &format!("{spec:?} is not now, clear, +N[s|m|h|d] or a Unix time"),
                            )
                        })?;
                    raise_time = Some(at);
                }
            }
        }
        Ok(pb::Alert {
            id,
            raise_time,
            clear_time,
            subject: self.string("subject")?,
            summary: self.string("summary")?,
            detail: self.string("detail")?,
            importance: self
                .number("importance", u64::from(u32::MAX))?
                .map(|n| n as u32),
            suppress_until: self.number("suppress_until", u64::MAX)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_body_is_an_answer_never_a_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&body, "x", NOW);
        }

        #[test]
        fn any_json_event_is_an_answer_never_a_panic(
            id in proptest::option::of("[a-z<>\\pL]{0,8}"),
            raise in proptest::option::of("[-+0-9a-zA-Z]{0,6}"),
            importance in any::<i64>(),
            raise_time in any::<u64>(),
        ) {
            let event = serde_json::json!({"id": id, "raise": raise, "importance": importance, "clear_time": raise_time});
            let _ = parse(event.to_string().as_bytes(), "x", NOW);
        }
    }

    const NOW: u64 = 1_700_000_000;

    fn one(body: &str) -> pb::AlertUpdate {
        let mut updates = parse(body.as_bytes(), "10.0.0.9", NOW).unwrap();
        assert_eq!(updates.len(), 1);
        updates.remove(0)
    }

    fn error(body: &str) -> String {
        parse(body.as_bytes(), "10.0.0.9", NOW).unwrap_err()
    }

    #[test]
    fn a_purppura_event() {
        let u = one(r#"{"id": "disk", "subject": "db1", "detail": "<p>full</p>", "raise": "now"}"#);
        assert_eq!(u.source, "10.0.0.9", "source defaults to the client");
        assert!(!u.replace);
        assert_eq!(u.transmission_time, Some(NOW));
        let a = &u.alert[0];
        assert_eq!(a.id, "disk");
        assert_eq!(a.subject.as_deref(), Some("db1"));
        assert_eq!(a.detail.as_deref(), Some("<p>full</p>"));
        assert_eq!(a.raise_time, Some(NOW));
        assert_eq!(a.clear_time, None);
    }

    #[test]
    fn purppura_raise_forms() {
        let raise =
            |spec: &str| one(&format!(r#"{{"id": "x", "raise": "{spec}"}}"#)).alert[0].clone();
        assert_eq!(raise("+5m").raise_time, Some(NOW + 300));
        assert_eq!(raise("+2h").raise_time, Some(NOW + 7200));
        assert_eq!(raise("30s").raise_time, Some(NOW + 30));
        assert_eq!(
            raise("+5M").raise_time,
            Some(NOW + 300),
            "purppura's units are any case"
        );
        assert_eq!(
            raise("1d").raise_time,
            Some(NOW + 86_400),
            "mauvesend's grammar too"
        );
        assert_eq!(raise("1800000000").raise_time, Some(1_800_000_000));
        let clear = raise("clear");
        assert_eq!((clear.raise_time, clear.clear_time), (None, Some(NOW)));
    }

    #[test]
    fn mauve_fields() {
        let u = one(
            r#"{"id": "x", "source": "web1", "summary": "s", "importance": 80,
                "raise_time": 1700000100, "clear_time": 1700000000, "suppress_until": 1700003600}"#,
        );
        assert_eq!(u.source, "web1");
        let a = &u.alert[0];
        assert_eq!(a.summary.as_deref(), Some("s"));
        assert_eq!(a.importance, Some(80));
        assert_eq!(a.raise_time, Some(NOW + 100));
        assert_eq!(a.clear_time, Some(NOW));
        assert_eq!(a.suppress_until, Some(NOW + 3600));
    }

    #[test]
    fn arrays_are_grouped_by_source_and_replace_covers_the_group() {
        let updates = parse(
            br#"[{"id": "a", "source": "s1", "replace": true}, {"id": "b", "source": "s2"},
                 {"id": "c", "source": "s1"}, {"source": "s3", "replace": true}]"#,
            "x",
            NOW,
        )
        .unwrap();
        let summary: Vec<(String, bool, Vec<String>)> = updates
            .iter()
            .map(|u| {
                (
                    u.source.clone(),
                    u.replace,
                    u.alert.iter().map(|a| a.id.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("s1".into(), true, vec!["a".into(), "c".into()]),
                ("s2".into(), false, vec!["b".into()]),
                ("s3".into(), true, vec![]),
            ]
        );
    }

    #[test]
    fn many_sources_each_get_their_update_in_order() {
        let body: Vec<String> = (0..28_000)
            .map(|i| format!(r#"{{"id":"a","source":"s{i}"}}"#))
            .collect();
        let updates = parse(format!("[{}]", body.join(",")).as_bytes(), "x", NOW).unwrap();
        assert_eq!(updates.len(), 28_000);
        assert!(updates
            .iter()
            .enumerate()
            .all(|(i, u)| u.source == format!("s{i}") && u.alert.len() == 1));
    }

    #[test]
    fn every_mistake_names_its_field() {
        for (body, message) in [
            ("nonsense", "body is not JSON"),
            ("[]", "empty array"),
            ("42", "must be a JSON object"),
            ("[{\"id\": \"a\"}, 7]", "events[1]: must be an object"),
            (r#"{"subject": "x"}"#, "events[0].id: required"),
            (r#"{"id": ""}"#, "events[0].id: must not be empty"),
            (r#"{"id": 5}"#, "events[0].id: must be a string"),
            (
                r#"{"id": "a", "source": ""}"#,
                "events[0].source: must not be empty",
            ),
            (
                r#"{"id": "a", "colour": "red"}"#,
                "events[0].colour: unknown field",
            ),
            (
                r#"{"id": "a", "raise": "soon"}"#,
                "events[0].raise: \"soon\"",
            ),
            (
                r#"{"id": "a", "raise": 5}"#,
                "events[0].raise: must be a string",
            ),
            (
                r#"{"id": "a", "raise": "now", "raise_time": 1}"#,
                "events[0].raise: give either",
            ),
            (
                r#"{"id": "a", "importance": -1}"#,
                "events[0].importance: must be a whole number",
            ),
            (
                r#"{"id": "a", "importance": 5000000000}"#,
                "events[0].importance",
            ),
            (
                r#"{"id": "a", "raise_time": "now"}"#,
                "events[0].raise_time",
            ),
            (
                r#"{"id": "a", "replace": "yes"}"#,
                "events[0].replace: must be true or false",
            ),
            (
                r#"{"replace": true, "summary": "x"}"#,
                "events[0].summary: needs an id",
            ),
            (
                r#"[{"id": "a"}, {"id": "b", "summary": 1}]"#,
                "events[1].summary: must be a string",
            ),
        ] {
            let err = error(body);
            assert!(err.contains(message), "{body}: {err}");
        }
    }
}
