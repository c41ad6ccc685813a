//! The on-call page, served by mauved itself (no build step, no CDN):
//! server-rendered HTML that works without JavaScript; `static/page.js`
//! only enhances it (live refresh keeping the selection, select all).
//!
//! Every field shown comes from the network: templates auto-escape, and an
//! alert's HTML `detail` is cleaned by `ammonia` before it is shown. Forms
//! post to `/actions` with the session's CSRF token (see `auth`).

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Environment;
use serde::Serialize;

use super::auth::{self, Session};
use super::board::{self, parse_reference, reference};
use super::{actions, ApiError, Principal, Shared};
use crate::alert::{AlertKey, UnixSecs};

/// The compiled templates.
pub(crate) struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub(crate) fn new() -> Self {
        let mut env = Environment::new();
        // A variable the handler did not set is an error, not an empty
        // string: a form that names no alert fails loudly in the tests.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
        // A name ending in .html turns auto-escaping on.
        for (name, text) in [
            ("base.html", include_str!("templates/base.html")),
            ("index.html", include_str!("templates/index.html")),
            ("actions.html", include_str!("templates/actions.html")),
            ("alert.html", include_str!("templates/alert.html")),
            ("login.html", include_str!("templates/login.html")),
            ("link.html", include_str!("templates/link.html")),
            ("handover.html", include_str!("templates/handover.html")),
        ] {
            env.add_template(name, text)
                .expect("the built-in templates parse (checked by a unit test)");
        }
        Pages { env }
    }

    pub(super) fn render(&self, name: &str, context: impl Serialize) -> Result<String, ApiError> {
        self.env
            .get_template(name)
            .and_then(|template| template.render(context))
            .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
    }
}

/// The logged-in user's session, if any (put there by `auth::guard`).
pub(crate) struct MaybeSession(pub Option<Session>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for MaybeSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeSession(parts.extensions.get::<Session>().cloned()))
    }
}

/// A page form's fields. (Its CSRF token was checked by the guard, with
/// every other change: `auth::csrf_given`.)
pub(crate) struct FormFields(pub Vec<(String, String)>);

impl FormFields {
    pub(super) fn field(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for FormFields {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(|err| ApiError::bad_request(format!("body: {}", err.body_text())))?;
        Ok(FormFields(
            form_urlencoded::parse(&raw).into_owned().collect(),
        ))
    }
}

/// What every page's header shows.
#[derive(Serialize)]
#[cfg_attr(test, derive(Default))]
pub(super) struct Frame {
    pub(super) user: Option<String>,
    pub(super) csrf: String,
    pub(super) can_login: bool,
    pub(super) now_text: String,
    pub(super) oncall: Vec<OnCallRow>,
    /// Notifiers failing every attempt for too long.
    pub(super) degraded: Vec<String>,
    /// Why writes to the store fail (a full or read-only disk), if they do.
    pub(super) store_failing: Option<String>,
    /// With `[cluster]`: this station, its role and the leader.
    pub(super) cluster: Option<String>,
}

#[derive(Serialize)]
pub(super) struct OnCallRow {
    rotation: String,
    person: String,
}

pub(super) fn frame(http: &super::Http, session: Option<&Session>) -> Frame {
    let now = http.clock.now();
    Frame {
        user: session.map(|s| s.user.clone()),
        csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
        can_login: http.auth.has_users(),
        now_text: crate::timefmt::utc(now),
        oncall: http
            .live()
            .routing
            .oncall(now)
            .into_iter()
            .map(|(rotation, on)| OnCallRow {
                rotation,
                person: on.person,
            })
            .collect(),
        degraded: http.degraded(),
        store_failing: http.store.failing().map(|f| f.reason().to_owned()),
        cluster: http.cluster.as_ref().map(|c| cluster_text(&c.status())),
    }
}

/// "station a: leader", "station b: follower (a delivers)", "station a:
/// isolated, delivering nothing".
fn cluster_text(status: &crate::cluster::Status) -> String {
    use crate::cluster::Role;
    let station = &status.station;
    match (status.role, &status.leader) {
        (Role::Leader, _) => format!("station {station}: leader, delivering"),
        (Role::Follower, Some(leader)) => {
            format!("station {station}: follower ({leader} delivers)")
        }
        (Role::Follower, None) => format!("station {station}: follower"),
        (Role::Isolated, _) => format!("station {station}: isolated from etcd, delivering nothing"),
    }
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct IndexQuery {
    #[serde(default)]
    q: String,
    /// The first silence listed (the list is paged).
    #[serde(default)]
    silences: usize,
}

/// `GET /`: raised alerts ranked, acknowledged, suppressed, pending
/// heartbeats due soon, recently cleared (see `board`).
pub(crate) async fn index(
    http: Shared,
    MaybeSession(session): MaybeSession,
    query: Result<Query<IndexQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, ApiError> {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    index_page(
        &http,
        session.as_ref(),
        (&query.q, query.silences),
        &Retry::default(),
    )
    .map(Html)
}

/// An action the page refused, shown where it was taken: the message, and
/// what was selected and typed, kept.
#[derive(Serialize, Default)]
pub(crate) struct Retry {
    error: Option<String>,
    picked: Vec<String>,
    by: String,
    text: String,
}

/// The page for filter `q`, its silences listed from the `from`th.
fn index_page(
    http: &super::Http,
    session: Option<&Session>,
    (q, from): (&str, usize),
    retry: &Retry,
) -> Result<String, ApiError> {
    let now = http.clock.now();
    let board = {
        let index = http.index();
        board::build(&index, &http.live().routing, q, now)
    };
    // The header counts every alert (the filter narrows the rows only),
    // as `/api/counts` does.
    let counts = http.index().counts(now);
    let urgent = board.urgent;
    let (sections, levels) = (board.sections, board.levels);
    let back = if q.is_empty() {
        "/".to_owned()
    } else {
        format!(
            "/?q={}",
            percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    let f = frame(http, session);
    // Messages given up on, newest first (at most ten shown).
    let dead: Vec<serde_json::Value> = http
        .store
        .dead_letters()
        .unwrap_or_default()
        .into_iter()
        .rev()
        .take(10)
        .map(|d| {
            serde_json::json!({
                "alert": format!("{}/{}", d.notification.source, d.notification.id),
                "notifier": d.notification.notifier,
                "person": d.notification.person,
                "reason": d.reason,
                "when": crate::timefmt::human(d.at, now),
            })
        })
        .collect();
    http.pages.render(
        "index.html",
        minijinja::context! {
            user => f.user, csrf => f.csrf, can_login => f.can_login, now_text => f.now_text,
            oncall => f.oncall, degraded => f.degraded, store_failing => f.store_failing, cluster => f.cluster, counts => counts, urgent => urgent, levels => levels,
            sections => sections, q => q, back => back, dead => dead, retry => retry,
            silences => silence_page(http, q, from),
        },
    )
}

/// A silence as the page lists it.
#[derive(Serialize)]
struct SilenceRow {
    id: String,
    short: String,
    state: &'static str,
    matchers: String,
    until: String,
    by: String,
    comment: String,
}

/// Silences listed on one page at most.
const SILENCES_LISTED: usize = 50;

/// One page of the silences: its rows, which of how many, and links to the
/// pages before and after (keeping the filter).
#[derive(Serialize)]
struct SilencePage {
    rows: Vec<SilenceRow>,
    total: usize,
    first: usize,
    last: usize,
    before: Option<String>,
    after: Option<String>,
}

fn silence_page(http: &super::Http, q: &str, from: usize) -> SilencePage {
    let (silences, from, total) = http.silences.current_page(from, SILENCES_LISTED);
    let link = |from: usize| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            query.append_pair("q", q);
        }
        if from > 0 {
            query.append_pair("silences", &from.to_string());
        }
        let query = query.finish();
        format!("/?{query}#silences")
    };
    let end = from.saturating_add(silences.len());
    SilencePage {
        first: from.saturating_add(1).min(total),
        last: end,
        before: (from > 0).then(|| link(from.saturating_sub(SILENCES_LISTED))),
        after: (end < total).then(|| link(end)),
        total,
        rows: silence_rows(http, silences),
    }
}

fn silence_rows(
    http: &super::Http,
    silences: Vec<crate::alertmanager::silences::Silence>,
) -> Vec<SilenceRow> {
    let now = http.clock.now();
    let live = http.live();
    let zone = &live.routing.calendar.zone;
    silences
        .into_iter()
        .map(|s| SilenceRow {
            short: s.short_id().to_owned(),
            state: s.state(now).as_str(),
            matchers: s
                .matchers
                .iter()
                .map(|m| {
                    let op = match (m.is_regex, m.is_equal) {
                        (false, true) => "=",
                        (false, false) => "!=",
                        (true, true) => "=~",
                        (true, false) => "!~",
                    };
                    format!("{}{op}{:?}", m.name, m.value)
                })
                .collect::<Vec<_>>()
                .join(", "),
            until: crate::timefmt::in_zone(s.ends_at, zone),
            by: s.created_by,
            comment: s.comment,
            id: s.id,
        })
        .collect()
}

#[derive(Serialize)]
struct HistoryRow {
    when: String,
    kind: String,
    result: Option<String>,
    text: String,
    who: String,
}

/// `GET /alerts/{source}/{id}`: every field, the cleaned detail, the
/// history and the actions.
pub(crate) async fn alert(
    http: Shared,
    MaybeSession(session): MaybeSession,
    key: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Result<Html<String>, ApiError> {
    let Path((source, id)) =
        key.map_err(|err| ApiError::bad_request(format!("path: {}", err.body_text())))?;
    let key = AlertKey::new(source, id);
    alert_page(&http, session.as_ref(), &key, &Retry::default()).map(Html)
}

fn alert_page(
    http: &super::Http,
    session: Option<&Session>,
    key: &AlertKey,
    retry: &Retry,
) -> Result<String, ApiError> {
    let now = http.clock.now();
    let record = {
        let index = http.index();
        let slot = index
            .find(&key.source, &key.id)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such alert"))?;
        index.record(slot)
    };
    let detail = http.detail(key).unwrap_or_else(|err| {
        http.metrics.store_errors.inc();
        format!("(the detail cannot be read now: {err})")
    });
    let time = |t: Option<UnixSecs>| {
        t.map(|t| crate::timefmt::human(t, now))
            .unwrap_or_else(|| "–".into())
    };
    let live = http.live();
    let group = live.routing.group(key, &record);
    let fields: Vec<(&str, String)> = vec![
        ("state", record.state().as_str().to_owned()),
        ("source", key.source.clone()),
        ("id", key.id.clone()),
        ("subject", record.subject.clone()),
        ("summary", record.summary.clone()),
        ("importance", record.importance.to_string()),
        (
            "alert group",
            group.map_or("–".into(), |g| {
                format!("{} ({})", g.spec.name, g.spec.level.as_str())
            }),
        ),
        ("raised", time(record.raised_at)),
        ("cleared", time(record.cleared_at)),
        ("will raise", time(record.will_raise_at)),
        ("will clear", time(record.will_clear_at)),
        (
            "acknowledged by",
            record.acknowledged_by.clone().unwrap_or_else(|| "–".into()),
        ),
        ("acknowledged until", time(record.will_unacknowledge_at)),
        ("suppressed until", time(record.suppress_until)),
        ("last update", time(Some(record.updated_at))),
    ];
    let history: Vec<HistoryRow> = http
        .store
        .history(key)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .into_iter()
        .map(|h| HistoryRow::of(h, now))
        .collect();
    let f = frame(http, session);
    let view = crate::view::AlertView::new(key, &record);
    http.pages.render(
        "alert.html",
        minijinja::context! {
            user => f.user, csrf => f.csrf, can_login => f.can_login, now_text => f.now_text,
            oncall => f.oncall, degraded => f.degraded, store_failing => f.store_failing, cluster => f.cluster, alert => view, fields => fields, history => history,
            detail => clean_detail(&detail), alert_ref => reference(key), single => true,
            back => format!("/alerts/{}", reference(key)), retry => retry,
            phone_link => super::link::for_user(http, session, key, &record),
        },
    )
}

impl HistoryRow {
    /// A history line as the page shows it: when, who (the author, or the
    /// person and notifier told), what.
    fn of(h: crate::alert::HistoryEntry, now: UnixSecs) -> HistoryRow {
        HistoryRow {
            when: crate::timefmt::human(h.at, now),
            who: h
                .by
                .or_else(|| match (&h.person, &h.notifier) {
                    (Some(p), Some(n)) => Some(format!("{p} via {n}")),
                    (None, Some(n)) => Some(format!("via {n}")),
                    _ => None,
                })
                .unwrap_or_default(),
            kind: h.kind,
            result: h.result,
            text: h.text,
        }
    }
}

/// `POST /actions` (form): the page's buttons, for the selected alerts.
/// Done, back to the page the form was on; refused, that page again with
/// the reason where the buttons are, the selection and what was typed
/// kept.
pub(crate) async fn act(
    http: Shared,
    principal: Principal,
    MaybeSession(session): MaybeSession,
    form: FormFields,
) -> Response {
    let back = form
        .field("back")
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or("/");
    let Err(err) = apply_form(&http.0, &principal, &form).await else {
        return Redirect::to(back).into_response();
    };
    let retry = Retry {
        error: Some(err.message().to_owned()),
        picked: form
            .0
            .iter()
            .filter(|(k, _)| k == "alert")
            .map(|(_, v)| v.clone())
            .collect(),
        by: form.field("by").unwrap_or_default().to_owned(),
        text: form.field("text").unwrap_or_default().to_owned(),
    };
    let (path, query) = back.split_once('?').unwrap_or((back, ""));
    let page = match path.strip_prefix("/alerts/").and_then(parse_reference) {
        Some(key) => alert_page(&http, session.as_ref(), &key, &retry),
        None => {
            let q = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            index_page(&http, session.as_ref(), (&q, 0), &retry)
        }
    };
    match page {
        Ok(html) => (err.status(), Html(html)).into_response(),
        // The page itself cannot be shown (the alert was forgotten
        // meanwhile, say): the reason alone.
        Err(_) => err.into_response(),
    }
}

/// "Silence this host": one silence on `source` per source of the selected
/// alerts, for `secs`, the note's text (if any) as its comment.
async fn silence_sources(
    http: &std::sync::Arc<super::Http>,
    form: &FormFields,
    by: &str,
    now: UnixSecs,
    secs: u64,
) -> Result<(), ApiError> {
    let mut sources: Vec<String> = form
        .0
        .iter()
        .filter(|(k, _)| k == "alert")
        .filter_map(|(_, v)| parse_reference(v))
        .map(|key| key.source)
        .collect();
    sources.sort();
    sources.dedup();
    if sources.is_empty() {
        return Err(ApiError::bad_request("alert: select at least one alert"));
    }
    let comment = form
        .field("text")
        .filter(|t| !t.trim().is_empty())
        .unwrap_or("silenced from the page")
        .to_owned();
    for source in sources {
        let silence = crate::alertmanager::silences::Silence {
            id: crate::alertmanager::silences::new_id(),
            matchers: vec![crate::alertmanager::matchers::Spec {
                name: "source".into(),
                value: source,
                is_regex: false,
                is_equal: true,
            }],
            starts_at: now,
            ends_at: now + secs,
            created_by: by.to_owned(),
            comment: comment.clone(),
            updated_at: now,
        };
        http.silences
            .create(silence, None)
            .await
            .map_err(|refused| super::v2::AmError::from(refused).into_api())?;
    }
    Ok(())
}

/// Applies the form's action to its selected alerts.
async fn apply_form(
    http: &std::sync::Arc<super::Http>,
    principal: &Principal,
    form: &FormFields,
) -> Result<(), ApiError> {
    let field = |name: &str| form.field(name);
    let by_field = field("by")
        .map(str::to_owned)
        .filter(|b| !b.trim().is_empty());
    let mut body = actions::Body {
        by: if principal.0.is_some() {
            None
        } else {
            by_field
        },
        ..actions::Body::default()
    };
    let by = actions::author(&body, principal.0.as_deref())?;
    let now = http.clock.now();
    // The page's buttons are the API's actions with a length picked for a
    // person in a hurry: one parser serves both.
    const HOUR: u64 = 3600;
    let name = match field("action").unwrap_or_default() {
        "acknowledge" => {
            body.for_s = Some(HOUR);
            "acknowledge"
        }
        "acknowledge-4h" => {
            body.for_s = Some(4 * HOUR);
            "acknowledge"
        }
        "acknowledge-tomorrow" => {
            body.until = Some(next_local(now, 9, &http.live().routing.calendar.zone));
            "acknowledge"
        }
        "acknowledge-working" => {
            body.for_working_hours = Some(8);
            "acknowledge"
        }
        "suppress" => {
            body.for_s = Some(HOUR);
            "suppress"
        }
        "note" => {
            body.text = Some(field("text").unwrap_or_default().to_owned());
            "note"
        }
        "silence-2h" => return silence_sources(http, form, &by, now, 2 * HOUR).await,
        expire if expire.starts_with("expire-silence:") => {
            let id = &expire["expire-silence:".len()..];
            return http
                .silences
                .expire(id, &by)
                .await
                .map_err(|refused| super::v2::AmError::from(refused).into_api());
        }
        name @ ("unacknowledge" | "clear" | "raise" | "unsuppress" | "forget") => name,
        other => {
            return Err(ApiError::bad_request(format!(
                "action: {other:?} is not one of the page's actions"
            )))
        }
    };
    let action = actions::action(name, &body, now, &http.live().routing)?;
    act_on_selected(http, form, &by, &action).await
}

/// Acts on the alerts the form selected; one error naming each that failed.
async fn act_on_selected(
    http: &std::sync::Arc<super::Http>,
    form: &FormFields,
    by: &str,
    action: &crate::scheduler::Action,
) -> Result<(), ApiError> {
    let keys: Vec<AlertKey> = form
        .0
        .iter()
        .filter(|(k, _)| k == "alert")
        .filter_map(|(_, v)| parse_reference(v))
        .collect();
    if keys.is_empty() {
        return Err(ApiError::bad_request("alert: select at least one alert"));
    }
    let answers = http.act_many(&keys, by, action).await;
    let failed: Vec<String> = keys
        .iter()
        .zip(answers)
        .filter_map(|(key, done)| done.err().map(|err| format!("{key}: {err}")))
        .collect();
    if !failed.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, failed.join("; ")));
    }
    Ok(())
}

#[derive(serde::Deserialize)]
pub(crate) struct FaviconQuery {
    n: Option<u64>,
}

/// `GET /favicon.svg?n=N`: the tab's icon, with the count of raised alerts
/// when there are any (the page points at it; its script updates it live).
pub(crate) async fn favicon(
    query: Result<Query<FaviconQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let n = query.ok().and_then(|Query(q)| q.n).unwrap_or(0);
    let (fill, text) = match n {
        0 => ("#413", String::new()),
        1..=99 => ("#a00", n.to_string()),
        _ => ("#a00", "99+".to_owned()),
    };
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\">\
         <circle cx=\"16\" cy=\"16\" r=\"15\" fill=\"{fill}\"/>\
         <text x=\"16\" y=\"22\" font-size=\"{size}\" font-family=\"sans-serif\" font-weight=\"bold\" \
         text-anchor=\"middle\" fill=\"#fff\">{text}</text></svg>",
        size = if text.len() > 2 { 12 } else { 17 },
    );
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        svg,
    )
        .into_response()
}

/// The most tags a detail is parsed as HTML with.
const MAX_DETAIL_TAGS: usize = 1000;

/// An alert's HTML detail made safe to show: `ammonia`'s defaults (no
/// script, no event handler, no `javascript:` link) and no images either
/// (nothing on the page loads because of what a sender wrote).
/// A detail with more tags than [`MAX_DETAIL_TAGS`] is shown as text:
/// parsing `<table><tr>x` four thousand times deep costs the parser far
/// more than its size.
pub(crate) fn clean_detail(html: &str) -> String {
    let tags = html.bytes().filter(|b| *b == b'<').count();
    if tags > MAX_DETAIL_TAGS {
        return format!("<pre>{}</pre>", ammonia::clean_text(html));
    }
    ammonia::Builder::default()
        .rm_tags(&["img"])
        .clean(html)
        .to_string()
}

/// The next `hour`:00 local time after `now`.
fn next_local(now: UnixSecs, hour: i8, zone: &jiff::tz::TimeZone) -> UnixSecs {
    let Ok(ts) = jiff::Timestamp::from_second(now as i64) else {
        return now + 86_400;
    };
    let today = ts.to_zoned_datetime(zone.clone()).date();
    [today, today.tomorrow().unwrap_or(today)]
        .into_iter()
        .filter_map(|d| d.at(hour, 0, 0, 0).to_zoned_datetime(zone.clone()).ok())
        .map(|z| z.timestamp().as_second().max(0) as UnixSecs)
        .find(|&t| t > now)
        .unwrap_or(now + 86_400)
}

/// `GET /login`.
pub(crate) async fn login_page(http: Shared) -> Result<Html<String>, ApiError> {
    login_form(&http, None).map(Html)
}

fn login_form(http: &super::Http, error: Option<&str>) -> Result<String, ApiError> {
    let f = frame(http, None);
    http.pages.render(
        "login.html",
        minijinja::context! {
            user => None::<String>, csrf => "", can_login => false, now_text => f.now_text,
            oncall => f.oncall, error => error,
        },
    )
}

/// `POST /login` (form: name, password): a session cookie, then the page.
pub(crate) async fn login(
    http: Shared,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let form: Vec<(String, String)> = form_urlencoded::parse(&raw).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (name, password) = (field("name"), field("password"));
    if name.len() > auth::MAX_NAME_BYTES || password.len() > auth::MAX_PASSWORD_BYTES {
        let why = format!(
            "a name is at most {} bytes, a password at most {}",
            auth::MAX_NAME_BYTES,
            auth::MAX_PASSWORD_BYTES
        );
        let page = login_form(&http, Some(&why))?;
        return Ok((StatusCode::BAD_REQUEST, Html(page)).into_response());
    }
    let now = http.clock.now();
    if !http.auth.take_attempt(&name, now) {
        let page = login_form(&http, Some("too many failed logins: wait five minutes"))?;
        return Ok((StatusCode::TOO_MANY_REQUESTS, Html(page)).into_response());
    }
    let Some(turn) = http.auth.password_check().await else {
        let page = login_form(&http, Some("too many logins at once: try again"))?;
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Html(page)).into_response());
    };
    let checked = {
        let http = http.clone();
        tokio::task::spawn_blocking(move || {
            let session = http.auth.login(&name, &password, http.clock.now());
            if session.is_some() {
                http.auth.logged_in(&name);
                http.auth.keep(&http.store);
            }
            session
        })
        .await
        .ok()
        .flatten()
    };
    drop(turn);
    match checked {
        Some((id, _)) => {
            let cookie = auth::session_cookie(&id, auth::behind_tls(&headers));
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
        }
        None => {
            // mauve's failed_login_delay: a wrong guess costs time.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let page = login_form(&http, Some("wrong name or password"))?;
            Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response())
        }
    }
}

/// `POST /logout` (form: csrf).
pub(crate) async fn logout(
    http: Shared,
    headers: HeaderMap,
    _: FormFields,
) -> Result<Response, ApiError> {
    if let Some(id) = auth::cookie(&headers, auth::COOKIE) {
        if http.auth.logout(id) {
            let http = http.clone();
            let _ = tokio::task::spawn_blocking(move || http.auth.keep(&http.store)).await;
        }
    }
    let expired = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        auth::COOKIE
    );
    Ok(([(header::SET_COOKIE, expired)], Redirect::to("/")).into_response())
}

/// The page's style sheet and script.
pub(crate) async fn static_file(Path(name): Path<String>) -> Response {
    let (body, kind): (&'static str, &'static str) = match name.as_str() {
        "page.css" => (include_str!("static/page.css"), "text/css; charset=utf-8"),
        "page.js" => (
            include_str!("static/page.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return ApiError::new(StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Record;
    use crate::http::board::{row, Section};

    #[test]
    fn references_survive_slashes_and_spaces() {
        let key = AlertKey::new("web/2", "id with space");
        let r = reference(&key);
        assert_eq!(r, "web%2F2/id%20with%20space");
        assert_eq!(parse_reference(&r), Some(key));
    }

    #[test]
    fn until_nine_tomorrow() {
        let utc = jiff::tz::TimeZone::UTC;
        // 2023-11-14 22:13:20 → 2023-11-15 09:00.
        assert_eq!(next_local(1_700_000_000, 9, &utc), 1_700_038_800);
        // 08:00 → 09:00 the same day.
        assert_eq!(next_local(1_700_035_200, 9, &utc), 1_700_038_800);
    }

    #[test]
    fn the_templates_escape_what_they_show() {
        let pages = Pages::new();
        let key = AlertKey::new("<script>alert(1)</script>", "a\"b");
        let record = Record {
            subject: "x & y".into(),
            summary: "<img src=x onerror=alert(1)>".into(),
            ..Record::default()
        };
        let section = Section {
            title: "raised",
            class: "raised",
            when: "raised",
            rows: vec![row(&key, &record, None, 0, "raised")],
        };
        let f = Frame::default();
        let html = pages
            .render(
                "index.html",
                minijinja::context! {
                    user => f.user, csrf => "t0ken", can_login => f.can_login, now_text => f.now_text,
                    oncall => f.oncall, degraded => f.degraded, store_failing => f.store_failing, cluster => f.cluster,
                    counts => minijinja::context!{ raised => 1, acknowledged => 0, suppressed => 0, pending => 0 },
                    levels => Vec::<String>::new(), sections => vec![section], q => "", back => "/",
                    dead => Vec::<String>::new(), retry => Retry::default(), urgent => 0,
                    silences => minijinja::context! { total => 0 },
                },
            )
            .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("x &amp; y"), "{html}");
        pages
            .render(
                "login.html",
                minijinja::context! {
                    user => None::<String>, csrf => "", can_login => false, now_text => "",
                    oncall => Vec::<String>::new(), error => None::<String>,
                },
            )
            .unwrap();
        let alert = crate::view::AlertView::new(&key, &record);
        let html = pages
            .render(
                "alert.html",
                minijinja::context! {
                    user => Some("alice"), csrf => "t0ken", can_login => true, now_text => "",
                    oncall => Vec::<String>::new(), degraded => Vec::<String>::new(), store_failing => None::<String>,
                    alert => alert, fields => Vec::<(String, String)>::new(), history => Vec::<String>::new(),
                    detail => clean_detail("<b>x</b><script>y</script>"), alert_ref => reference(&key),
                    single => true, back => "/", retry => Retry::default(),
                },
            )
            .unwrap();
        assert!(
            html.contains("<b>x</b>") && !html.contains("<script>y"),
            "{html}"
        );
        assert!(
            html.contains(r#"name="alert" value="%3Cscript"#),
            "the alert page's form names its alert: {html}"
        );
        assert!(!html.contains("<img"), "{html}");
    }

    #[test]
    fn detail_is_cleaned_of_script() {
        let clean = clean_detail(
            "<p>ok</p><script>alert(1)</script><img src=x onerror=\"alert(1)\"><a href=\"javascript:alert(1)\">l</a>",
        );
        assert!(clean.contains("<p>ok</p>"), "{clean}");
        assert!(!clean.contains("script"), "{clean}");
        assert!(!clean.contains("onerror"), "{clean}");
        assert!(!clean.contains("<img"), "{clean}");
        assert!(!clean.contains("javascript"), "{clean}");
    }
}
