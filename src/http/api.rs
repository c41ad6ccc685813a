//! The JSON API: alerts, counts, health, metrics, actions and submissions.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::{ApiError, Shared};
use crate::alert::{AlertKey, State, UnixSecs};
use crate::events;
use crate::scheduler::{self, Action};
use crate::view::AlertView;
use crate::wire;

type Answer<T> = Result<T, ApiError>;

fn path<T>(extracted: Result<Path<T>, PathRejection>) -> Answer<T> {
    extracted
        .map(|Path(value)| value)
        .map_err(|err| ApiError::bad_request(format!("path: {}", err.body_text())))
}

fn body(extracted: Result<Bytes, BytesRejection>) -> Answer<Bytes> {
    extracted.map_err(|err| ApiError::new(err.status(), format!("body: {}", err.body_text())))
}

fn store_error(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

fn scheduler_error(err: scheduler::Error) -> ApiError {
    let status = match err {
        scheduler::Error::NotFound => StatusCode::NOT_FOUND,
        scheduler::Error::Refused(_) => StatusCode::CONFLICT,
        scheduler::Error::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        scheduler::Error::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, err.to_string())
}

pub async fn health(http: Shared) -> impl IntoResponse {
    match http.store.probe(http.clock.now()).await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "failing", "error": err.to_string() })),
        ),
    }
}

pub async fn metrics(http: Shared) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        http.metrics.render(),
    )
}

pub async fn counts(http: Shared) -> Json<serde_json::Map<String, serde_json::Value>> {
    Json(
        State::ALL
            .into_iter()
            .map(|s| {
                (
                    s.as_str().to_owned(),
                    http.metrics.alerts_in(s).max(0).into(),
                )
            })
            .collect(),
    )
}

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    source: Option<String>,
}

pub async fn list(
    http: Shared,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Answer<Json<Vec<AlertView>>> {
    let Query(query) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let state = match query.state.as_deref() {
        None => None,
        Some(name) => Some(State::parse(name).ok_or_else(|| {
            ApiError::bad_request("state must be raised, acknowledged, pending or cleared")
        })?),
    };
    let scan: Box<dyn Iterator<Item = _>> = match &query.source {
        Some(source) => Box::new(http.store.alerts_of(source)),
        None => Box::new(http.store.alerts()),
    };
    let mut views = Vec::new();
    for item in scan {
        let (key, record) = item.map_err(store_error)?;
        if state.is_none_or(|s| record.state() == s) {
            views.push(AlertView::new(&key, &record));
        }
    }
    // Store order puts short sources first; people expect alphabetical.
    views.sort_unstable_by(|a, b| (&a.source, &a.id).cmp(&(&b.source, &b.id)));
    Ok(Json(views))
}

pub async fn one(
    http: Shared,
    key: Result<Path<(String, String)>, PathRejection>,
) -> Answer<Json<AlertView>> {
    let (source, id) = path(key)?;
    let key = AlertKey::new(source, id);
    match http.store.get(&key).map_err(store_error)? {
        Some(record) => Ok(Json(AlertView::new(&key, &record))),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "no such alert")),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AckBody {
    by: Option<String>,
    until: Option<UnixSecs>,
    for_s: Option<u64>,
}

pub async fn act(
    http: Shared,
    target: Result<Path<(String, String, String)>, PathRejection>,
    raw: Result<Bytes, BytesRejection>,
) -> Answer<Json<AlertView>> {
    let (source, id, action) = path(target)?;
    let raw = body(raw)?;
    let parsed: AckBody = if raw.iter().all(u8::is_ascii_whitespace) {
        AckBody::default()
    } else {
        serde_json::from_slice(&raw).map_err(|err| ApiError::bad_request(format!("body: {err}")))?
    };
    let now = http.clock.now();
    let action = match action.as_str() {
        "acknowledge" => Action::Acknowledge {
            by: parsed.by.unwrap_or_else(|| "anonymous".into()),
            // mauve's default acknowledgement lasts an hour.
            until: parsed
                .until
                .unwrap_or_else(|| now.saturating_add(parsed.for_s.unwrap_or(3600))),
        },
        "unacknowledge" => Action::Unacknowledge,
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no such action (acknowledge, unacknowledge)",
            ))
        }
    };
    let key = AlertKey::new(source, id);
    let record = http
        .scheduler
        .act(key.clone(), action)
        .await
        .map_err(scheduler_error)?;
    Ok(Json(AlertView::new(&key, &record)))
}

/// `POST /events`: purppura-style JSON, applied exactly like a datagram.
/// All or nothing: one bad element refuses the whole body.
pub async fn events(
    http: Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    raw: Result<Bytes, BytesRejection>,
) -> Answer<Json<serde_json::Value>> {
    let raw = body(raw)?;
    let now = http.clock.now();
    // As purppura: without a source, the sender is the client's address.
    let raw_updates = events::parse(&raw, &peer.ip().to_canonical().to_string(), now)
        .map_err(ApiError::bad_request)?;
    let mut updates = Vec::with_capacity(raw_updates.len());
    for update in raw_updates {
        let source = update.source.clone();
        let decoded = wire::check(update, now)
            .map_err(|why| ApiError::bad_request(format!("source {source:?}: {why}")))?;
        if let Some((id, why)) = decoded.rejected.first() {
            return Err(ApiError::bad_request(format!(
                "source {source:?}, id {id:?}: {why}"
            )));
        }
        http.metrics
            .fields_truncated
            .inc_by(u64::from(decoded.truncated));
        updates.push(decoded.update);
    }
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
