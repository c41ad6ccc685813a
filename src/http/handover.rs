//! The shift handover over HTTP (`crate::handover` builds it):
//! `GET /api/handover?since=&until=&format=json|text|markdown` and the page
//! `GET /handover?since=&until=`. `since` and `until` are `HH:MM` (the
//! latest such time in the station's zone), `-12h`, Unix seconds or
//! RFC 3339; the default is the last 12 hours. A period is at most 31 days
//! and reads at most `handover::MAX_LINES` history lines.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::page::MaybeSession;
use super::{ApiError, Shared};
use crate::alert::{AlertKey, State, UnixSecs};
use crate::handover::{self, Handover, Open};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct HandoverQuery {
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
}

/// The default period: the last 12 hours.
const DEFAULT_S: u64 = 12 * 3600;

/// Handovers built at once (each holds up to `handover::MAX_LINES` lines
/// meanwhile); the others wait their turn.
static BUILDING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The period a query asks for, checked.
fn period(http: &super::Http, q: &HandoverQuery) -> Result<(UnixSecs, UnixSecs), ApiError> {
    let now = http.clock.now();
    let zone = http.live().routing.calendar.zone.clone();
    let read = |name: &str, text: &Option<String>, default: UnixSecs| match text.as_deref() {
        None | Some("") => Ok(default),
        Some(text) => handover::moment(text, now, &zone)
            .map_err(|why| ApiError::bad_request(format!("{name}: {why}"))),
    };
    let until = read("until", &q.until, now)?;
    let since = read("since", &q.since, until.saturating_sub(DEFAULT_S))?;
    if since >= until {
        return Err(ApiError::bad_request("since must be before until"));
    }
    if until - since > handover::MAX_PERIOD_S {
        return Err(ApiError::bad_request(format!(
            "a handover covers at most {} days",
            handover::MAX_PERIOD_S / 86_400
        )));
    }
    Ok((since, until))
}

/// Reads the period's lines (off the runtime's threads) and the alerts
/// open now, and builds the handover.
async fn make(http: &Shared, (since, until): (UnixSecs, UnixSecs)) -> Result<Handover, ApiError> {
    let _turn = BUILDING
        .acquire()
        .await
        .map_err(|_| ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "stopping"))?;
    let store = http.store.clone();
    let (lines, more) = tokio::task::spawn_blocking(move || {
        let wanted = crate::store::HistoryWanted {
            since,
            until: Some(until),
            keep: |_: &AlertKey, _: &crate::alert::HistoryEntry| true,
        };
        store.history_page(wanted, None, handover::MAX_LINES)
    })
    .await
    .map_err(super::api::store_error)?
    .map_err(super::api::store_error)?;
    let stopped_at = more.and_then(|_| lines.last().map(|(_, e)| e.at));
    let live = http.live();
    let router = &live.routing;
    let (groups, open, not_listed) = {
        let index = http.index();
        let group = |key: &AlertKey| -> String {
            if !router.routes() {
                return "all".to_owned();
            }
            match index.find(&key.source, &key.id) {
                Some(slot) => router
                    .group(key, &index.record(slot))
                    .map_or_else(|| "(none)".to_owned(), |g| g.spec.name.clone()),
                None => "(forgotten)".to_owned(),
            }
        };
        let mut groups: HashMap<AlertKey, String> = HashMap::new();
        for (key, _) in &lines {
            if !groups.contains_key(key) {
                groups.insert(key.clone(), group(key));
            }
        }
        let (open, not_listed) = open_now(&index, &group);
        (groups, open, not_listed)
    };
    let group_of = |key: &AlertKey| groups.get(key).cloned().unwrap_or_default();
    Ok(handover::build(
        (since, until),
        lines,
        (open, not_listed),
        group_of,
        stopped_at,
    ))
}

/// The alerts open now, the earliest raised first, up to
/// `handover::MAX_OPEN`, and how many more. Every alert's times are looked
/// at (cheap); only those listed are read whole, so a million raised cost no
/// million records.
fn open_now(
    index: &crate::index::Index,
    group: &dyn Fn(&AlertKey) -> String,
) -> (Vec<Open>, usize) {
    let mut slots: Vec<(Option<UnixSecs>, _)> = index
        .ids()
        .filter_map(|slot| {
            let timing = index.timing(slot);
            matches!(timing.state(), State::Raised | State::Acknowledged)
                .then_some((timing.raised_at, slot))
        })
        .collect();
    let not_listed = slots.len().saturating_sub(handover::MAX_OPEN);
    if not_listed > 0 {
        slots.select_nth_unstable_by_key(handover::MAX_OPEN, |(raised, _)| *raised);
        slots.truncate(handover::MAX_OPEN);
    }
    let mut open: Vec<Open> = slots
        .into_iter()
        .map(|(_, slot)| {
            let (key, record) = (index.key(slot), index.record(slot));
            Open {
                group: group(&key),
                summary: record.summary.clone(),
                raised_at: record.raised_at,
                acknowledged_by: (record.state() == State::Acknowledged)
                    .then(|| record.acknowledged_by.clone().unwrap_or_default()),
                source: key.source,
                id: key.id,
            }
        })
        .collect();
    open.sort_by(|a, b| (a.raised_at, &a.source, &a.id).cmp(&(b.raised_at, &b.source, &b.id)));
    (open, not_listed)
}

fn query(q: Result<Query<HandoverQuery>, QueryRejection>) -> Result<HandoverQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|err| ApiError::bad_request(err.body_text()))
}

/// `GET /api/handover`: JSON (the default), text or Markdown.
pub(crate) async fn api(
    http: Shared,
    q: Result<Query<HandoverQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let period = period(&http, &q)?;
    let format = q.format.as_deref().unwrap_or("json");
    if !["json", "text", "markdown"].contains(&format) {
        return Err(ApiError::bad_request(
            "format must be json, text or markdown",
        ));
    }
    let h = make(&http, period).await?;
    let zone = http.live().routing.calendar.zone.clone();
    Ok(match format {
        "text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            handover::text(&h, &zone),
        )
            .into_response(),
        "markdown" => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            handover::markdown(&h, &zone),
        )
            .into_response(),
        _ => {
            let mut json = serde_json::to_value(&h).unwrap_or_default();
            json["since_time"] = crate::timefmt::rfc3339(h.since).into();
            json["until_time"] = crate::timefmt::rfc3339(h.until).into();
            axum::Json(json).into_response()
        }
    })
}

/// `GET /handover`: the same, as a page.
pub(crate) async fn page(
    http: Shared,
    MaybeSession(session): MaybeSession,
    q: Result<Query<HandoverQuery>, QueryRejection>,
) -> Result<Html<String>, ApiError> {
    let q = query(q)?;
    let (since, until) = period(&http, &q)?;
    let h = make(&http, (since, until)).await?;
    let zone = http.live().routing.calendar.zone.clone();
    let f = super::page::frame(&http, session.as_ref());
    let view = handover::rows(&h, &zone);
    let link = |format: &str| format!("/api/handover?since={since}&until={until}&format={format}");
    http.pages
        .render(
            "handover.html",
            minijinja::context! {
                user => f.user, csrf => f.csrf, can_login => f.can_login, now_text => f.now_text,
                oncall => f.oncall, degraded => f.degraded, store_failing => f.store_failing, cluster => f.cluster,
                h => view,
                since => q.since.unwrap_or_default(), until => q.until.unwrap_or_default(),
                text_link => link("text"), markdown_link => link("markdown"), json_link => link("json"),
            },
        )
        .map(Html)
}
