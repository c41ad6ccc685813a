//! Actions on alerts: `POST /api/alerts/{source}/{id}/{action}` for one,
//! `POST /api/alerts/{action}` with `{"alerts": [{"source", "id"}, …]}` for
//! many. The body is checked strictly: a field the action does not take, a
//! missing or empty author, two ways of saying when, a time in the past —
//! each is a 400 that names the field.

use serde::Deserialize;

use super::ApiError;
use crate::alert::{AlertKey, UnixSecs};
use crate::config::Secs;
use crate::routing::Router;
use crate::scheduler::Action;

/// Every action, as the API spells it.
pub const ACTIONS: [&str; 8] = [
    "acknowledge",
    "unacknowledge",
    "raise",
    "clear",
    "suppress",
    "unsuppress",
    "note",
    "forget",
];

/// An acknowledgement without a length lasts an hour (mauve's default).
const DEFAULT_ACK_S: u64 = 3600;
/// The longest note.
const MAX_NOTE: usize = crate::untrusted::MAX_TEXT_CHARS;

/// One alert of a bulk action.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    pub(crate) source: String,
    pub(crate) id: String,
}

/// Every field any action takes; which ones an action accepts is checked
/// after parsing, so that the error names the field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub(crate) by: Option<String>,
    pub(crate) until: Option<UnixSecs>,
    #[serde(rename = "for")]
    pub(crate) for_: Option<String>,
    pub(crate) for_s: Option<u64>,
    pub(crate) for_working_hours: Option<u32>,
    pub(crate) text: Option<String>,
    /// Bulk actions only.
    pub(crate) alerts: Option<Vec<Target>>,
}

impl Body {
    /// Parses a JSON body; an empty body is an empty object.
    pub fn parse(raw: &[u8]) -> Result<Body, ApiError> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body::default());
        }
        serde_json::from_slice(raw).map_err(|err| ApiError::bad_request(format!("body: {err}")))
    }

    fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (name, given) in [
            ("until", self.until.is_some()),
            ("for", self.for_.is_some()),
            ("for_s", self.for_s.is_some()),
            ("for_working_hours", self.for_working_hours.is_some()),
            ("text", self.text.is_some()),
        ] {
            if given {
                out.push(name);
            }
        }
        out
    }
}

fn bad(field: &str, what: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{field}: {what}"))
}

/// Who acts: the logged-in user or token when there is one (then `by` must
/// not say otherwise), else `by`, which must be given and not empty.
pub fn author(body: &Body, principal: Option<&str>) -> Result<String, ApiError> {
    if let Some(by) = &body.by {
        crate::untrusted::within("by", by, crate::untrusted::MAX_AUTHOR_CHARS)
            .map_err(ApiError::bad_request)?;
    }
    match (principal, body.by.as_deref().map(str::trim)) {
        (_, Some("")) => Err(bad("by", "must not be empty")),
        (Some(who), Some(by)) if by != who => Err(bad(
            "by",
            format!("you are {who:?}: leave `by` out, or give your own name"),
        )),
        (Some(who), _) => Ok(who.to_owned()),
        (None, Some(by)) => Ok(by.to_owned()),
        (None, None) => Err(bad(
            "by",
            "who acts is required (or log in, or use a token)",
        )),
    }
}

/// The action `name` with its parameters from `body`.
pub fn action(name: &str, body: &Body, now: UnixSecs, router: &Router) -> Result<Action, ApiError> {
    let takes: &[&str] = match name {
        "acknowledge" => &["until", "for", "for_s", "for_working_hours"],
        "suppress" => &["until", "for", "for_s"],
        "note" => &["text"],
        "unacknowledge" | "raise" | "clear" | "unsuppress" | "forget" => &[],
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("no such action: one of {}", ACTIONS.join(", ")),
            ))
        }
    };
    let given = body.given();
    if let Some(extra) = given.iter().find(|g| !takes.contains(g)) {
        return Err(bad(extra, format!("{name} does not take it")));
    }
    let when: Vec<&&str> = given.iter().filter(|g| **g != "text").collect();
    if when.len() > 1 {
        return Err(bad(
            when[1],
            format!(
                "give one of {}, not {} and {}",
                takes.join(", "),
                when[0],
                when[1]
            ),
        ));
    }
    let until = || until_of(body, now, router);
    Ok(match name {
        "acknowledge" => Action::Acknowledge {
            until: until()?.unwrap_or(now + DEFAULT_ACK_S),
            by_link: false,
        },
        "suppress" => Action::Suppress {
            until: until()?.ok_or_else(|| bad("until", "give until, for or for_s"))?,
        },
        "note" => {
            let text = body.text.as_deref().map(str::trim).unwrap_or_default();
            if text.is_empty() {
                return Err(bad("text", "a note needs text"));
            }
            if text.chars().count() > MAX_NOTE {
                return Err(bad("text", format!("at most {MAX_NOTE} characters")));
            }
            Action::Note {
                text: text.to_owned(),
            }
        }
        "unacknowledge" => Action::Unacknowledge,
        "raise" => Action::Raise,
        "clear" => Action::Clear,
        "forget" => Action::Forget,
        _ => Action::Unsuppress,
    })
}

/// The time an action lasts until, as the body gives it (`until`, `for`,
/// `for_s` or `for_working_hours`); None if it gives none.
fn until_of(body: &Body, now: UnixSecs, router: &Router) -> Result<Option<UnixSecs>, ApiError> {
    if let Some(until) = body.until {
        if until <= now {
            return Err(bad("until", "must be in the future"));
        }
        return Ok(Some(until));
    }
    if let Some(text) = &body.for_ {
        let secs = Secs::parse(text).map_err(|why| bad("for", why))?;
        if secs.0 == 0 {
            return Err(bad("for", "must be longer than 0s"));
        }
        return Ok(Some(now.saturating_add(secs.0)));
    }
    if let Some(secs) = body.for_s {
        if secs == 0 {
            return Err(bad("for_s", "must be at least 1"));
        }
        return Ok(Some(now.saturating_add(secs)));
    }
    let Some(hours) = body.for_working_hours else {
        return Ok(None);
    };
    if hours == 0 {
        return Err(bad("for_working_hours", "must be at least 1"));
    }
    let working = router
        .working
        .clone()
        .unwrap_or_else(crate::routing::windows::Window::always);
    let until = working
        .after_open_time(now, u64::from(hours) * 3600, &router.calendar)
        .ok_or_else(|| {
            bad(
                "for_working_hours",
                "the working window does not open within a year",
            )
        })?;
    Ok(Some(until))
}

/// The alerts of a bulk body.
pub fn targets(body: &Body) -> Result<Vec<AlertKey>, ApiError> {
    let alerts = body
        .alerts
        .as_ref()
        .ok_or_else(|| bad("alerts", "a list of {\"source\", \"id\"} is required"))?;
    if alerts.is_empty() {
        return Err(bad("alerts", "must not be empty"));
    }
    if alerts.len() > 10_000 {
        return Err(bad("alerts", "at most 10000 at once"));
    }
    Ok(alerts
        .iter()
        .map(|t| AlertKey::new(t.source.clone(), t.id.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, json: &str) -> Result<Action, String> {
        let body = Body::parse(json.as_bytes()).map_err(|e| e.message().to_owned())?;
        action(name, &body, 1_000, &Router::default()).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn acknowledgements_take_one_way_of_saying_how_long() {
        assert_eq!(
            parse("acknowledge", "{}"),
            Ok(Action::Acknowledge {
                until: 4_600,
                by_link: false
            })
        );
        assert_eq!(
            parse("acknowledge", r#"{"for": "4h"}"#),
            Ok(Action::Acknowledge {
                until: 15_400,
                by_link: false
            })
        );
        assert_eq!(
            parse("acknowledge", r#"{"until": 2000}"#),
            Ok(Action::Acknowledge {
                until: 2_000,
                by_link: false
            })
        );
        let both = parse("acknowledge", r#"{"until": 2000, "for_s": 60}"#).unwrap_err();
        assert!(both.starts_with("for_s: give one of"), "{both}");
        let past = parse("acknowledge", r#"{"until": 999}"#).unwrap_err();
        assert_eq!(past, "until: must be in the future");
        assert!(parse("acknowledge", r#"{"for": "soon"}"#)
            .unwrap_err()
            .starts_with("for: "));
        assert!(parse("acknowledge", r#"{"text": "x"}"#)
            .unwrap_err()
            .starts_with("text: "));
        assert!(parse("acknowledge", r#"{"bogus": 1}"#)
            .unwrap_err()
            .contains("bogus"));
    }

    #[test]
    fn each_action_takes_only_its_fields() {
        assert_eq!(parse("clear", "{}"), Ok(Action::Clear));
        assert!(parse("clear", r#"{"for": "1h"}"#)
            .unwrap_err()
            .starts_with("for: clear does not take it"));
        assert!(parse("suppress", "{}").unwrap_err().starts_with("until: "));
        assert_eq!(
            parse("suppress", r#"{"for": "30m"}"#),
            Ok(Action::Suppress { until: 2_800 })
        );
        assert!(parse("note", "{}").unwrap_err().starts_with("text: "));
        assert!(parse("note", r#"{"text": "  "}"#)
            .unwrap_err()
            .starts_with("text: "));
        assert_eq!(
            parse("note", r#"{"text": " rebooted "}"#),
            Ok(Action::Note {
                text: "rebooted".into()
            })
        );
        assert!(parse("frobnicate", "{}")
            .unwrap_err()
            .contains("acknowledge, unacknowledge"));
    }

    #[test]
    fn an_author_is_required_and_cannot_be_someone_else() {
        let body = |json: &str| Body::parse(json.as_bytes()).unwrap();
        let who = |json: &str, principal| {
            author(&body(json), principal).map_err(|e| e.message().to_owned())
        };
        assert!(who("{}", None).unwrap_err().starts_with("by: "));
        assert_eq!(
            who(r#"{"by": ""}"#, None).unwrap_err(),
            "by: must not be empty"
        );
        assert_eq!(who(r#"{"by": "alice"}"#, None), Ok("alice".into()));
        assert_eq!(who("{}", Some("bob")), Ok("bob".into()));
        assert_eq!(who(r#"{"by": "bob"}"#, Some("bob")), Ok("bob".into()));
        assert!(who(r#"{"by": "alice"}"#, Some("bob"))
            .unwrap_err()
            .starts_with("by: you are"));
    }
}
