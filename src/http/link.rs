//! Action links (`/a/<token>`, made by `crate::links`): a small page that
//! works on a phone without logging in. `GET` never acts (mail scanners
//! and chat unfurlers follow links): it shows the alert, who was told and
//! the buttons. `POST` acts as the link's person, through the scheduler
//! (or etcd) like any action.
//!
//! A forged or altered token: 404. Expired: 410, with the alert's page.
//! The alert forgotten: 410. Cleared: the page says so and nothing is done.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use super::page::FormFields;
use super::{ApiError, Http, Shared};
use crate::alert::{AlertKey, Record, UnixSecs};
use crate::links::{Link, Refused};
use crate::scheduler::Action;

/// The lengths of acknowledgement the page offers, by button.
const FOR: [(&str, u64); 2] = [("ack1h", 3600), ("ack4h", 4 * 3600)];

/// `GET /a/{token}`: the alert and what its person may do.
pub(crate) async fn show(http: Shared, Path(token): Path<String>) -> Response {
    match checked(&http, &token) {
        Ok((link, record)) => render(&http, &token, &link, &record, None, StatusCode::OK),
        Err(refused) => refused.into_response(),
    }
}

/// `POST /a/{token}` (form: `do` = `ack1h`, `ack4h`, `ackworking` or
/// `note` with `text`; `do` may be in the query instead): acts as the
/// link's person.
pub(crate) async fn act(
    http: Shared,
    Path(token): Path<String>,
    query: axum::extract::RawQuery,
    mut form: FormFields,
) -> Response {
    // A provider's callback (Pushover's, when the person acknowledges
    // there) says what to do in the link's query; its body is its own.
    if let Some(query) = query.0 {
        if let Some((_, wanted)) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "do")
        {
            form.0.retain(|(k, _)| k != "do");
            form.0.push(("do".into(), wanted.into_owned()));
        }
    }
    let (link, record) = match checked(&http, &token) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    if !record.is_raised() {
        let said = "the alert has cleared: nothing was done";
        return render(
            &http,
            &token,
            &link,
            &record,
            Some(said),
            StatusCode::CONFLICT,
        );
    }
    let now = http.clock.now();
    let action = match action_of(&http, &form, now) {
        Ok(action) => action,
        Err(err) => return err.into_response(),
    };
    let done = crate::cluster::act_many(
        http.cluster.as_ref(),
        &http.scheduler,
        std::slice::from_ref(&link.alert),
        &link.person,
        &action,
    )
    .await
    .pop();
    match done {
        Some(Ok(record)) => {
            let said = match action {
                Action::Note { .. } => "your note was added".to_owned(),
                _ => format!(
                    "acknowledged until {}",
                    zoned(&http, record.will_unacknowledge_at.unwrap_or(now))
                ),
            };
            render(&http, &token, &link, &record, Some(&said), StatusCode::OK)
        }
        Some(Err(crate::scheduler::Error::NotFound)) => Unusable::Forgotten.into_response(),
        Some(Err(err)) => super::api::scheduler_error(err).into_response(),
        None => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no answer").into_response(),
    }
}

/// Why a link cannot be used.
enum Unusable {
    /// Forged, altered, made with another secret, or links are off.
    Unknown,
    Expired(AlertKey),
    Forgotten,
}

impl IntoResponse for Unusable {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Unusable::Unknown => (
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": "no such link" }),
            ),
            Unusable::Expired(alert) => (
                StatusCode::GONE,
                serde_json::json!({
                    "error": "this link has expired: the alert's page is",
                    "page": alert_path(&alert),
                }),
            ),
            Unusable::Forgotten => (
                StatusCode::GONE,
                serde_json::json!({ "error": "the alert has been forgotten" }),
            ),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// The link, if the token is ours and in time, and its alert as it is now.
fn checked(http: &Http, token: &str) -> Result<(Link, Record), Unusable> {
    if !http.live().message_links {
        return Err(Unusable::Unknown);
    }
    let link = match Link::check(token, &http.link_secret.get(), http.clock.now()) {
        Ok(link) => link,
        Err(Refused::Unknown) => return Err(Unusable::Unknown),
        Err(Refused::Expired(alert)) => return Err(Unusable::Expired(alert)),
    };
    let record = {
        let index = http.index();
        index
            .find(&link.alert.source, &link.alert.id)
            .map(|slot| index.record(slot))
    };
    match record {
        Some(record) => Ok((link, record)),
        None => Err(Unusable::Forgotten),
    }
}

fn action_of(http: &Http, form: &FormFields, now: UnixSecs) -> Result<Action, ApiError> {
    let wanted = form.field("do").unwrap_or_default();
    if let Some((_, secs)) = FOR.iter().find(|(name, _)| *name == wanted) {
        return Ok(Action::Acknowledge {
            until: now + secs,
            by_link: true,
        });
    }
    match wanted {
        "ackworking" => {
            let until = working_hours_start(http, now).ok_or_else(|| {
                ApiError::bad_request("working hours are open now, or none are configured")
            })?;
            Ok(Action::Acknowledge {
                until,
                by_link: true,
            })
        }
        "note" => {
            let text = form.field("text").map(str::trim).unwrap_or_default();
            if text.is_empty() {
                return Err(ApiError::bad_request("text: a note needs text"));
            }
            crate::untrusted::within("text", text, crate::untrusted::MAX_TEXT_CHARS)
                .map_err(ApiError::bad_request)?;
            Ok(Action::Note {
                text: text.to_owned(),
            })
        }
        _ => Err(ApiError::bad_request(
            "do: one of ack1h, ack4h, ackworking, note",
        )),
    }
}

/// When the `working` window next opens, if it is closed now.
fn working_hours_start(http: &Http, now: UnixSecs) -> Option<UnixSecs> {
    let live = http.live();
    let routing = &live.routing;
    let working = routing.working.as_ref()?;
    working
        .next_open(now, &routing.calendar)
        .filter(|&at| at > now)
}

fn zoned(http: &Http, at: UnixSecs) -> String {
    crate::timefmt::in_zone(at, &http.live().routing.calendar.zone)
}

fn alert_path(key: &AlertKey) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, crate::notify::payload::SEGMENT).to_string()
    };
    format!("/alerts/{}/{}", enc(&key.source), enc(&key.id))
}

/// What the page shows.
#[derive(Serialize)]
struct View {
    token: String,
    person: String,
    source: String,
    id: String,
    about: String,
    state: String,
    raised: bool,
    told: Vec<String>,
    working_from: Option<String>,
    page: String,
    said: Option<String>,
}

fn render(
    http: &Http,
    token: &str,
    link: &Link,
    record: &Record,
    said: Option<&str>,
    status: StatusCode,
) -> Response {
    let now = http.clock.now();
    let view = View {
        token: token.to_owned(),
        person: link.person.clone(),
        source: link.alert.source.clone(),
        id: link.alert.id.clone(),
        about: [record.subject.as_str(), record.summary.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        state: state_text(http, record, now),
        raised: record.is_raised(),
        told: told(http, &link.alert, record),
        working_from: working_hours_start(http, now).map(|at| zoned(http, at)),
        page: alert_path(&link.alert),
        said: said.map(str::to_owned),
    };
    match http.pages.render("link.html", view) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => err.into_response(),
    }
}

/// "raised 5 min ago, acknowledged by bob until 14:00".
fn state_text(http: &Http, record: &Record, now: UnixSecs) -> String {
    if !record.is_raised() {
        return match record.cleared_at {
            Some(at) => format!("cleared {}", crate::timefmt::ago(at, now)),
            None => "not raised".to_owned(),
        };
    }
    let mut text = format!(
        "raised {}",
        crate::timefmt::ago(record.raised_at.unwrap_or(now), now)
    );
    if let (true, Some(by)) = (record.is_acknowledged(), &record.acknowledged_by) {
        let until = record.will_unacknowledge_at.unwrap_or(now);
        text.push_str(&format!(
            ", acknowledged by {by} until {}",
            zoned(http, until)
        ));
    }
    text
}

/// Who was told of the alert since its raise (its history's deliveries).
fn told(http: &Http, key: &AlertKey, record: &Record) -> Vec<String> {
    let since = record.raised_at.unwrap_or(0);
    let mut people: Vec<String> = http
        .store
        .history(key)
        .unwrap_or_default()
        .into_iter()
        .filter(|h| h.at >= since && h.result.as_deref() == Some("delivered"))
        .filter_map(|h| h.person)
        .collect();
    people.sort();
    people.dedup();
    people
}

/// `POST /api/links/rotate`: a new secret for the action links, which voids
/// every link sent before (a change: a token with `act`, a login, or JSON
/// from this host in open mode). With `[cluster]` the other station takes
/// it within five seconds.
pub(crate) async fn rotate(http: Shared) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let secret = crate::links::Secret::random();
    let store = http.store.clone();
    let keeping = secret.clone();
    tokio::task::spawn_blocking(move || store.keep_link_secret(&keeping))
        .await
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
        .map_err(super::api::store_error)?;
    http.link_secret.set(secret.clone());
    if let Some(cluster) = &http.cluster {
        cluster.share_link_secret(&secret).await.map_err(|why| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("rotated here, not yet shared through etcd ({why}): the other station still honours the old links"),
            )
        })?;
    }
    tracing::warn!("the action links' secret was rotated: every link sent before is void");
    Ok(axum::Json(serde_json::json!({ "rotated": true })))
}

/// The logged-in user's own action link to a raised alert (the alert's
/// page shows it, to open on a phone), when links are on.
pub(super) fn for_user(
    http: &Http,
    session: Option<&super::auth::Session>,
    key: &AlertKey,
    record: &Record,
) -> Option<String> {
    let live = http.live();
    let user = &session?.user;
    if !live.message_links || !record.is_raised() {
        return None;
    }
    let now = http.clock.now();
    let link = Link {
        alert: key.clone(),
        person: user.clone(),
        message_at: now,
        expires_at: now.saturating_add(live.message_links_for_s),
    };
    Some(format!("/a/{}", link.token(&http.link_secret.get())))
}
