//! The JSON API: alerts, counts, health, metrics, actions and submissions.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::{actions, ApiError, Principal, Shared};
use crate::alert::{AlertKey, State, UnixSecs};
use crate::events;
use crate::scheduler;
use crate::view::AlertView;
use crate::wire;

type Answer<T> = Result<T, ApiError>;

fn path<T>(extracted: Result<Path<T>, PathRejection>) -> Answer<T> {
    extracted
        .map(|Path(value)| value)
        .map_err(|err| ApiError::bad_request(format!("path: {}", err.body_text())))
}

pub(super) fn body(extracted: Result<Bytes, BytesRejection>) -> Answer<Bytes> {
    extracted.map_err(|err| ApiError::new(err.status(), format!("body: {}", err.body_text())))
}

pub(super) fn store_error(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

pub(super) fn scheduler_error(err: scheduler::Error) -> ApiError {
    let status = match err {
        scheduler::Error::NotFound => StatusCode::NOT_FOUND,
        scheduler::Error::Refused(_) => StatusCode::CONFLICT,
        scheduler::Error::Stopped | scheduler::Error::NotShared(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        scheduler::Error::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, err.to_string())
}

/// How long `/health` waits for its write to reach the disk.
const PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// `GET /api/cluster`: this station's part in the cluster.
pub(crate) async fn cluster(http: Shared) -> Answer<Json<crate::cluster::Status>> {
    match &http.cluster {
        Some(cluster) => Ok(Json(cluster.status())),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this station runs alone: no [cluster] is configured",
        )),
    }
}

pub(crate) async fn health(http: Shared) -> impl IntoResponse {
    let probed = match http.store.failing() {
        Some(failing) => Err(crate::store::StoreError::Failing(
            failing.reason().to_owned(),
        )),
        // A disk that hangs rather than fails is failing too.
        None => {
            let (store, now) = (http.store.clone(), http.clock.now());
            let probe = tokio::task::spawn_blocking(move || store.probe(now));
            match tokio::time::timeout(PROBE_WAIT, probe).await {
                Ok(Ok(probed)) => probed,
                Ok(Err(join)) => Err(crate::store::StoreError::Failing(join.to_string())),
                Err(_) => Err(crate::store::StoreError::Failing(format!(
                    "a write did not reach the disk within {} s",
                    PROBE_WAIT.as_secs()
                ))),
            }
        }
    };
    let isolated = http
        .cluster
        .as_ref()
        .map(|c| c.status())
        .filter(|s| s.role == crate::cluster::Role::Isolated);
    match probed {
        Ok(()) if isolated.is_some() => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "isolated",
                "error": "this station cannot reach etcd (or renew its lease): it ingests but delivers nothing",
            })),
        ),
        Ok(()) => {
            let degraded = http.degraded();
            if degraded.is_empty() {
                (StatusCode::OK, Json(serde_json::json!({ "status": "ok" })))
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(serde_json::json!({
                        "status": "degraded",
                        "error": format!("notifiers failing every attempt: {}", degraded.join(", ")),
                        "notifiers": degraded,
                    })),
                )
            }
        }
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "failing", "error": err.to_string() })),
        ),
    }
}

pub(crate) async fn metrics(http: Shared) -> impl IntoResponse {
    if let Ok(bytes) = http.store.size_on_disk() {
        http.metrics.disk_bytes.set(bytes as i64);
    }
    let counts = http.index().counts(http.clock.now());
    http.metrics.set_alert_counts(&counts);
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        http.metrics.render(),
    )
}

/// `GET /api/stream`: server-sent events, one `change` (JSON, see
/// `scheduler::Change`) per alert whose state or suppression moved; a
/// `change` of `{"lagged": n}` when this reader fell behind (reload whole).
/// Ends when the daemon stops.
pub(crate) async fn stream(
    http: Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> axum::response::Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    // A stream holds its connection for as long as the page is open: held
    // to its own limits, so streams never take every connection.
    // Refused, the connection is closed too: a client that opens streams
    // in a loop must not keep the connections instead.
    let slot = match http.streams.take(peer.ip()) {
        Ok(slot) => slot,
        Err(full) => {
            let which = match full {
                super::limits::Full::Total => "http.max_streams",
                super::limits::Full::Address => "http.max_streams_per_address",
            };
            let refused = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("too many open streams ({which}): the page updates when reloaded"),
            );
            return ([(header::CONNECTION, "close")], refused).into_response();
        }
    };
    let changes = http.changes.subscribe();
    let shutdown = http.shutdown.clone();
    let events = futures_util::stream::unfold(
        (changes, shutdown, slot),
        |(mut changes, shutdown, slot)| async move {
            let event = tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) => Event::default()
                        .event("change")
                        .data(serde_json::to_string(&change).unwrap_or_default()),
                    Err(RecvError::Lagged(n)) => Event::default()
                        .event("change")
                        .data(format!(r#"{{"lagged":{n}}}"#)),
                    Err(RecvError::Closed) => return None,
                },
                () = shutdown.cancelled() => return None,
            };
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (changes, shutdown, slot),
            ))
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

pub(crate) async fn counts(http: Shared) -> Json<crate::alert::Counts> {
    let now = http.clock.now();
    Json(http.index().counts(now))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    state: Option<String>,
    source: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Alerts per page unless `limit` says otherwise, and the most a page holds.
const PAGE: usize = 1000;
const MAX_PAGE: usize = 10_000;

/// A cursor is the last alert of a page: the source's length (u16 BE), the
/// source and the id, in hex, so that any characters survive a URL.
fn cursor_of(key: &AlertKey) -> String {
    let len = u16::try_from(key.source.len()).unwrap_or(u16::MAX);
    len.to_be_bytes()
        .iter()
        .chain(key.source.as_bytes())
        .chain(key.id.as_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_cursor(text: &str) -> Option<AlertKey> {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    let len = usize::from(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]));
    let source = std::str::from_utf8(bytes.get(2..2 + len)?).ok()?;
    let id = std::str::from_utf8(bytes.get(2 + len..)?).ok()?;
    Some(AlertKey::new(source, id))
}

/// `GET /api/alerts`: a page of alerts in (source, id) order. When more
/// follow, the `Link` header names the next page (`rel="next"`) and
/// `X-Next-Cursor` carries its cursor.
pub(crate) async fn list(
    http: Shared,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Answer<impl IntoResponse> {
    let Query(query) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let state = match query.state.as_deref() {
        None => None,
        Some(name) => Some(State::parse(name).ok_or_else(|| {
            ApiError::bad_request("state must be raised, acknowledged, pending or cleared")
        })?),
    };
    let limit = query.limit.unwrap_or(PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to {MAX_PAGE}"
        )));
    }
    let after = match &query.cursor {
        Some(cursor) => {
            Some(parse_cursor(cursor).ok_or_else(|| ApiError::bad_request("cursor is not valid"))?)
        }
        None => None,
    };
    let after = match (&query.source, after) {
        // Start at the source's first alert.
        (Some(source), None) => Some(AlertKey::new(source.clone(), "")),
        (_, after) => after,
    };
    let mut page = Vec::new();
    let mut more = false;
    {
        let index = http.index();
        index.walk(after.as_ref(), |slot| {
            let key = index.key(slot);
            if query.source.as_ref().is_some_and(|s| *s != key.source) {
                // Sources are in order: past the one asked for, nothing more.
                return false;
            }
            let record = index.record(slot);
            if state.is_none_or(|s| record.state() == s) {
                if page.len() == limit {
                    more = true;
                    return false;
                }
                page.push((key, record));
            }
            true
        });
    }
    let mut views = Vec::with_capacity(page.len());
    for (key, record) in page {
        views.push(with_detail(&http, &key, record));
    }
    let mut headers = axum::http::HeaderMap::new();
    if let (true, Some(last)) = (more, views.last()) {
        let cursor = cursor_of(&AlertKey::new(last.source.clone(), last.id.clone()));
        let mut next = format!("/api/alerts?limit={limit}&cursor={cursor}");
        if let Some(state) = state {
            next.push_str(&format!("&state={}", state.as_str()));
        }
        if let Some(source) = &query.source {
            let encoded =
                percent_encoding::utf8_percent_encode(source, percent_encoding::NON_ALPHANUMERIC);
            next.push_str(&format!("&source={encoded}"));
        }
        if let Ok(value) = format!("<{next}>; rel=\"next\"").parse() {
            headers.insert(header::LINK, value);
        }
        if let Ok(value) = cursor.parse() {
            headers.insert("x-next-cursor", value);
        }
    }
    Ok((headers, Json(views)))
}

pub(crate) async fn one(
    http: Shared,
    key: Result<Path<(String, String)>, PathRejection>,
) -> Answer<Json<AlertView>> {
    let (source, id) = path(key)?;
    let key = AlertKey::new(source, id);
    let found = {
        let index = http.index();
        index
            .find(&key.source, &key.id)
            .map(|slot| index.record(slot))
    };
    let record = found.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such alert"))?;
    Ok(Json(with_detail(&http, &key, record)))
}

/// The alert with its detail from the store; if the store cannot be read
/// (a failing disk), without it and saying why: the rest comes from memory.
fn with_detail(http: &super::Http, key: &AlertKey, mut record: crate::alert::Record) -> AlertView {
    let mut error = None;
    match http.detail(key) {
        Ok(detail) => record.detail = detail,
        Err(err) => {
            http.metrics.store_errors.inc();
            error = Some(err.to_string());
        }
    }
    AlertView {
        detail_error: error,
        ..AlertView::new(key, &record)
    }
}

/// `GET /api/alerts/{source}/{id}/history`: the alert's history, oldest
/// first (`update`, `notification` and `note` lines).
pub(crate) async fn history(
    http: Shared,
    key: Result<Path<(String, String, String)>, PathRejection>,
) -> Answer<Json<Vec<serde_json::Value>>> {
    let Path((source, id, what)) =
        key.map_err(|err| ApiError::bad_request(format!("path: {}", err.body_text())))?;
    if what != "history" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such page (an alert's history is /api/alerts/{source}/{id}/history: \
             percent-encode a '/' in either as %2F)",
        ));
    }
    let key = AlertKey::new(source, id);
    if http.index().find(&key.source, &key.id).is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such alert"));
    }
    let lines = http.store.history(&key).map_err(store_error)?;
    Ok(Json(
        lines
            .into_iter()
            .map(|entry| history_line(&entry))
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShadowQuery {
    #[serde(default, deserialize_with = "moment")]
    since: Option<UnixSecs>,
    #[serde(default, deserialize_with = "moment")]
    until: Option<UnixSecs>,
}

/// A history line as the API answers it: its fields, and `time` (RFC 3339)
/// beside `at`.
fn history_line(entry: &crate::alert::HistoryEntry) -> serde_json::Value {
    let mut line = serde_json::to_value(entry).unwrap_or_default();
    line["time"] = crate::timefmt::rfc3339(entry.at).into();
    line
}

/// A moment in a query: Unix seconds or RFC 3339 (`2026-12-07T18:00:00Z`,
/// an offset, or fractions of a second).
fn moment<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<UnixSecs>, D::Error> {
    let Some(text) = <Option<String> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    crate::timefmt::moment(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{text:?} is not a moment: Unix seconds or RFC 3339 (2026-12-07T18:00:00Z)"
        ))
    })
}

/// `GET /api/shadow?since=&until=`: what shadow mode (`delivery.shadow`)
/// would have sent, oldest first: `[{"at", "time", "source", "id",
/// "person", "notifier", "text"}]` (`time` in RFC 3339, to hold beside
/// another server's notification log).
/// `GET /api/shadow`: what would have been sent; `X-Mauved-Shadow` says
/// whether the station is in shadow mode now (an empty list from a station
/// that is not says nothing by itself).
pub(crate) async fn shadow(
    http: Shared,
    query: Result<Query<ShadowQuery>, QueryRejection>,
) -> Answer<(
    [(&'static str, &'static str); 1],
    Json<Vec<serde_json::Value>>,
)> {
    let mode = [(
        "x-mauved-shadow",
        if http.live().shadow { "on" } else { "off" },
    )];
    let Query(q) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let store = http.store.clone();
    let lines = tokio::task::spawn_blocking(move || {
        store.history_all(crate::store::HistoryWanted {
            since: q.since.unwrap_or(0),
            until: q.until,
            keep: |_: &AlertKey, e: &crate::alert::HistoryEntry| {
                e.result.as_deref() == Some(crate::notify::worker::SHADOWED)
            },
        })
    })
    .await
    .map_err(store_error)?
    .map_err(store_error)?;
    Ok((
        mode,
        Json(
            lines
                .into_iter()
                .map(|(key, e)| {
                    serde_json::json!({
                        "at": e.at,
                        "time": crate::timefmt::rfc3339(e.at),
                        "source": key.source,
                        "id": key.id,
                        "person": e.person,
                        "notifier": e.notifier,
                        "text": e.text,
                    })
                })
                .collect(),
        ),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    #[serde(default, deserialize_with = "moment")]
    since: Option<UnixSecs>,
    #[serde(default, deserialize_with = "moment")]
    until: Option<UnixSecs>,
    source: Option<String>,
    kind: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/history?since=&until=&source=&kind=&limit=&cursor=`: every
/// alert's history, oldest first, a page at a time (`Link` / `X-Next-Cursor`
/// as for `/api/alerts`). Lines carry their alert's `source` and `id`.
pub(crate) async fn history_all(
    http: Shared,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Answer<impl IntoResponse> {
    let Query(q) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    if let Some(kind) = &q.kind {
        if !["update", "notification", "note"].contains(&kind.as_str()) {
            return Err(ApiError::bad_request(
                "kind must be update, notification or note",
            ));
        }
    }
    let limit = q.limit.unwrap_or(PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to {MAX_PAGE}"
        )));
    }
    let from = match &q.cursor {
        Some(c) => Some(
            crate::store::HistoryCursor::decode(c)
                .ok_or_else(|| ApiError::bad_request("cursor is not valid"))?,
        ),
        None => None,
    };
    let store = http.store.clone();
    let (since, until, source, kind) = (q.since, q.until, q.source.clone(), q.kind.clone());
    let (lines, next) = tokio::task::spawn_blocking(move || {
        let wanted = crate::store::HistoryWanted {
            since: since.unwrap_or(0),
            until,
            keep: |key: &AlertKey, e: &crate::alert::HistoryEntry| {
                source.as_ref().is_none_or(|s| *s == key.source)
                    && kind.as_ref().is_none_or(|k| *k == e.kind)
            },
        };
        store.history_page(wanted, from, limit)
    })
    .await
    .map_err(store_error)?
    .map_err(store_error)?;
    let page: Vec<serde_json::Value> = lines
        .into_iter()
        .map(|(key, entry)| {
            let mut line = history_line(&entry);
            line["source"] = key.source.into();
            line["id"] = key.id.into();
            line
        })
        .collect();
    let mut headers = axum::http::HeaderMap::new();
    if let Some(next) = next {
        let cursor = next.encode();
        let mut next = format!("/api/history?limit={limit}&cursor={cursor}");
        for (name, value) in [
            ("since", q.since.map(|v| v.to_string())),
            ("until", q.until.map(|v| v.to_string())),
            ("source", q.source),
            ("kind", q.kind),
        ] {
            if let Some(value) = value {
                next.push_str(&format!(
                    "&{name}={}",
                    percent_encoding::utf8_percent_encode(
                        &value,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                ));
            }
        }
        if let Ok(v) = format!("<{next}>; rel=\"next\"").parse() {
            headers.insert(axum::http::header::LINK, v);
        }
        if let Ok(v) = cursor.parse() {
            headers.insert("x-next-cursor", v);
        }
    }
    Ok((headers, Json(page)))
}

/// `GET /api/oncall`: each rotation's person now and the next hand-over.
pub(crate) async fn oncall(http: Shared) -> Json<serde_json::Value> {
    Json(crate::routing::explain::oncall_json(
        &http.live().routing,
        http.clock.now(),
    ))
}

/// `POST /api/alerts/{source}/{id}/{action}`: one alert (see `actions`).
pub(crate) async fn act(
    http: Shared,
    principal: Principal,
    target: Result<Path<(String, String, String)>, PathRejection>,
    raw: Result<Bytes, BytesRejection>,
) -> Answer<Json<AlertView>> {
    let (source, id, name) = path(target)?;
    let body = actions::Body::parse(&body(raw)?)?;
    if body.alerts.is_some() {
        return Err(ApiError::bad_request(
            "alerts: only for POST /api/alerts/{action} (many alerts at once)",
        ));
    }
    let action = actions::action(&name, &body, http.clock.now(), &http.live().routing)?;
    let by = actions::author(&body, principal.0.as_deref())?;
    let key = AlertKey::new(source, id);
    let record = http
        .act_many(std::slice::from_ref(&key), &by, &action)
        .await
        .pop()
        .unwrap_or(Err(scheduler::Error::Stopped))
        .map_err(scheduler_error)?;
    Ok(Json(with_detail(&http, &key, record)))
}

/// `POST /api/alerts/{action}` with `{"alerts": [{"source", "id"}, …], …}`:
/// the same action on many alerts; each gets its own status.
pub(crate) async fn act_many(
    http: Shared,
    principal: Principal,
    name: Result<Path<String>, PathRejection>,
    raw: Result<Bytes, BytesRejection>,
) -> Answer<Json<serde_json::Value>> {
    let Path(name) =
        name.map_err(|err| ApiError::bad_request(format!("path: {}", err.body_text())))?;
    let body = actions::Body::parse(&body(raw)?)?;
    let action = actions::action(&name, &body, http.clock.now(), &http.live().routing)?;
    let by = actions::author(&body, principal.0.as_deref())?;
    let keys = actions::targets(&body)?;
    let answers = http.act_many(&keys, &by, &action).await;
    let mut results = Vec::with_capacity(keys.len());
    for (key, done) in keys.into_iter().zip(answers) {
        results.push(match done {
            Ok(record) => serde_json::json!({
                "source": key.source, "id": key.id, "status": 200,
                "alert": with_detail(&http, &key, record),
            }),
            Err(err) => {
                let err = scheduler_error(err);
                serde_json::json!({
                    "source": key.source, "id": key.id,
                    "status": err.status().as_u16(), "error": err.message(),
                })
            }
        });
    }
    Ok(Json(serde_json::json!({ "results": results })))
}

/// `POST /events`: purppura-style JSON, applied exactly like a datagram.
/// All or nothing: one bad element refuses the whole body.
pub(crate) async fn events(
    http: Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    raw: Result<Bytes, BytesRejection>,
) -> Answer<Json<serde_json::Value>> {
    if !super::v2::sender_allowed(&http, peer) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this address may not send alerts (listen.allow_sources)",
        ));
    }
    let raw = body(raw)?;
    let now = http.clock.now();
    // As purppura: without a source, the sender is the client's address.
    let default_source = peer.ip().to_canonical().to_string();
    // Parsing and cleaning a body of up to `max_body_bytes` is CPU work:
    // done on a blocking thread, so no async worker (and no `/health`)
    // waits behind it.
    let checked = tokio::task::spawn_blocking(move || check_events(&raw, &default_source, now))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "checking the events failed",
            )
        })?;
    let (updates, truncated) = checked.map_err(ApiError::bad_request)?;
    http.metrics.fields_truncated.inc_by(truncated);
    let alerts: usize = updates.iter().map(|u| u.alerts.len()).sum();
    let count = updates.len();
    http.metrics.events_received.inc_by(alerts as u64);
    http.sink
        .submit_durably(updates)
        .await
        .map_err(scheduler_error)?;
    Ok(Json(
        serde_json::json!({ "accepted": alerts, "updates": count }),
    ))
}

/// `POST /api/backup`: the whole store, as one moment's copy (see
/// `store/backup.rs`); a change, so it needs what any change needs. Written
/// to a file in the data directory first (writes wait for the disk, not for
/// the client), which is unlinked once open and streamed from.
pub(crate) async fn backup(http: Shared) -> Answer<axum::response::Response> {
    let store = http.store.clone();
    let file = store.backup_file();
    let opened = tokio::task::spawn_blocking(move || -> Result<std::fs::File, String> {
        let entries = store.back_up(&file).map_err(|err| err.to_string())?;
        tracing::info!(entries, "backup taken");
        let opened = std::fs::File::open(&file).map_err(|err| err.to_string());
        let _ = std::fs::remove_file(&file);
        opened
    })
    .await
    .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
    .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err))?;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(opened));
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /-/reload`: the configuration file read again (see `reload.rs`);
/// 400 with what is wrong, the configuration in force kept.
pub(crate) async fn reload(http: Shared) -> Answer<Json<super::reload::Reloaded>> {
    super::reload::reload(&http.0)
        .await
        .map(Json)
        .map_err(|err| ApiError::bad_request(format!("the configuration in force stays: {err}")))
}

/// A `POST /events` body as checked updates and the count of fields cut,
/// or what is wrong with it (a source or id quoted at most 64 characters).
fn check_events(
    raw: &[u8],
    default_source: &str,
    now: crate::alert::UnixSecs,
) -> Result<(Vec<crate::alert::Update>, u64), String> {
    let raw_updates = events::parse(raw, default_source, now)?;
    let mut updates = Vec::with_capacity(raw_updates.len());
    let mut truncated = 0;
    for update in raw_updates {
        let source = crate::untrusted::quoted_short(&update.source);
        let decoded = wire::check(update, now).map_err(|why| format!("source {source}: {why}"))?;
        if let Some((id, why)) = decoded.rejected.first() {
            return Err(format!(
                "source {source}, id {}: {why}",
                crate::untrusted::quoted_short(id)
            ));
        }
        truncated += u64::from(decoded.truncated);
        updates.push(decoded.update);
    }
    Ok((updates, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_any_key() {
        for key in [
            AlertKey::new("web1", "disk"),
            AlertKey::new("web/2", "id with space & é"),
            AlertKey::new("", ""),
        ] {
            assert_eq!(parse_cursor(&cursor_of(&key)), Some(key));
        }
        for bad in ["", "0", "zz", "0005ab", "00"] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
