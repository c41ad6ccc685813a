//! Alertmanager's API v2, for Prometheus, `amtool` and dashboards written
//! for Alertmanager: alerts in (`POST /api/v2/alerts`, ingest like a
//! datagram), alerts out (every mauved alert, mauvesend's included),
//! status, receivers, and silences.
//!
//! Errors have Alertmanager's shape: the status and a JSON string. A
//! silence is made, changed and expired with the rules of an
//! acknowledgement (`auth.rs`); what it does is its room's
//! (`crate::silences`): kept before the answer, applied to each alert it
//! mutes through the scheduler (with `[cluster]`, through etcd).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{ConnectInfo, Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{api, Http, Shared};
use crate::alert::{AlertKey, Record, UnixSecs};
use crate::alertmanager::matchers::{self, Matcher, Spec};
use crate::alertmanager::silences::{self, Silence};
use crate::alertmanager::{labels, postable};
use crate::timefmt::rfc3339;
use crate::wire;

/// An Alertmanager error: the status and the message as a JSON string.
pub(crate) struct AmError(StatusCode, String);

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        (self.0, Json(Value::String(self.1))).into_response()
    }
}

impl From<super::ApiError> for AmError {
    fn from(err: super::ApiError) -> Self {
        AmError(err.status(), err.message().to_owned())
    }
}

fn bad(message: impl Into<String>) -> AmError {
    AmError(StatusCode::BAD_REQUEST, message.into())
}

type AmAnswer<T> = Result<T, AmError>;

/// Whether the client may post alerts (`listen.allow_sources`).
pub(super) fn sender_allowed(http: &Http, peer: SocketAddr) -> bool {
    let ip = peer.ip().to_canonical();
    http.allow_sources.is_empty() || http.allow_sources.iter().any(|c| c.contains(ip))
}

/// `POST /api/v2/alerts`: Prometheus's alerts, applied like datagrams; all
/// or nothing.
pub(crate) async fn post_alerts(
    http: Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    raw: Result<Bytes, BytesRejection>,
) -> AmAnswer<StatusCode> {
    if !sender_allowed(&http, peer) {
        return Err(AmError(
            StatusCode::FORBIDDEN,
            "this address may not send alerts (listen.allow_sources)".into(),
        ));
    }
    let raw = api::body(raw)?;
    let now = http.clock.now();
    let parsed = postable::parse(&raw, now, &http.live().severity_importance).map_err(bad)?;
    let mut updates = Vec::with_capacity(parsed.len());
    for update in parsed {
        let source = update.source.clone();
        let decoded = wire::check(update, now).map_err(|why| {
            bad(format!(
                "source {}: {why}",
                crate::untrusted::quoted_short(&source)
            ))
        })?;
        if let Some((id, why)) = decoded.rejected.first() {
            return Err(bad(format!(
                "source {}, id {}: {why}",
                crate::untrusted::quoted_short(&source),
                crate::untrusted::quoted_short(id)
            )));
        }
        updates.push(decoded.update);
    }
    let alerts: usize = updates.iter().map(|u| u.alerts.len()).sum();
    http.metrics.events_received.inc_by(alerts as u64);
    // Answered once handed to the scheduler, which applies updates in the
    // order received, like a datagram's (on disk within
    // store.flush_interval_ms): Prometheus sends each firing alert again
    // every resend delay, and waiting for the disk per batch would bound a
    // client's rate by the flush interval.
    http.sink
        .submit(updates)
        .await
        .map_err(|err| AmError::from(api::scheduler_error(err)))?;
    Ok(StatusCode::OK)
}

/// The query's pairs (a key may repeat: `filter=a&filter=b`).
fn pairs(query: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn flag(pairs: &[(String, String)], name: &str) -> AmAnswer<bool> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(true),
        Some((_, v)) => match v.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(bad(format!("{name}: {other:?} is not true or false"))),
        },
    }
}

fn filters(pairs: &[(String, String)]) -> AmAnswer<Vec<Matcher>> {
    pairs
        .iter()
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| Matcher::parse(v).map_err(bad))
        .collect()
}

/// One alert as Alertmanager lists it.
struct Listed {
    key: AlertKey,
    record: Record,
    labels: BTreeMap<String, String>,
    receiver: String,
    silenced_by: Vec<String>,
    /// The store bucket of its detail.
    bucket: u32,
    /// Its detail if not on disk yet.
    unwritten: Option<std::sync::Arc<str>>,
}

impl Http {
    /// The receiver of an alert: its group (routing names people per
    /// group), or `everyone` without groups.
    fn receiver(&self, labels: &BTreeMap<String, String>) -> String {
        match labels.get("alert_group").filter(|g| !g.is_empty()) {
            Some(group) => group.clone(),
            None => "everyone".into(),
        }
    }

    /// The keys of the raised alerts that pass `keep`, in key order: all
    /// a listing holds at once (an alert's labels and record are made
    /// again, a batch at a time, when it is written out).
    fn matching(&self, now: UnixSecs, keep: impl Fn(&Listed) -> bool) -> Vec<AlertKey> {
        let live = self.live();
        let silences = self.silences.read();
        let index = self.index();
        let mut out: Vec<AlertKey> = index
            .ids()
            .filter_map(|slot| {
                let listed = self.listing(&live.routing, &index, &silences, slot, now)?;
                keep(&listed).then_some(listed.key)
            })
            .collect();
        drop(index);
        out.sort();
        out
    }

    /// These alerts (those still raised), as listed now.
    fn listed(&self, keys: &[AlertKey], now: UnixSecs) -> Vec<Listed> {
        let live = self.live();
        let silences = self.silences.read();
        let index = self.index();
        keys.iter()
            .filter_map(|key| {
                let slot = index.find(&key.source, &key.id)?;
                self.listing(&live.routing, &index, &silences, slot, now)
            })
            .collect()
    }

    /// One raised alert with its labels and silences; None if not raised.
    fn listing(
        &self,
        routing: &crate::routing::Router,
        index: &crate::index::Index,
        silences: &crate::alertmanager::silences::Silences,
        slot: crate::index::SlotId,
        now: UnixSecs,
    ) -> Option<Listed> {
        let record = index.record(slot);
        if !record.is_raised() {
            return None;
        }
        let key = index.key(slot);
        let labels = routing.labels(&key, &record);
        let silenced_by = silences
            .muting(&labels, now)
            .map(|s| s.id.clone())
            .collect();
        Some(Listed {
            bucket: index.bucket_of(slot),
            unwritten: index.unwritten_detail(slot).cloned(),
            receiver: self.receiver(&labels),
            key,
            record,
            labels,
            silenced_by,
        })
    }
}

fn gettable(http: &Http, alert: &Listed, detail: &str, now: UnixSecs) -> Value {
    let r = &alert.record;
    let suppressed =
        !alert.silenced_by.is_empty() || r.is_suppressed(now) || r.acknowledged_at.is_some();
    json!({
        "labels": alert.labels,
        "annotations": { "summary": r.summary, "detail": detail },
        "startsAt": rfc3339(r.raised_at.unwrap_or(r.created_at)),
        "endsAt": rfc3339(r.will_clear_at.unwrap_or(now + postable::RESOLVE_TIMEOUT_S)),
        "updatedAt": rfc3339(r.updated_at),
        "generatorURL": format!(
            "{}/alerts/{}/{}",
            http.live().routing.base_url,
            percent_encoding::utf8_percent_encode(&alert.key.source, percent_encoding::NON_ALPHANUMERIC),
            percent_encoding::utf8_percent_encode(&alert.key.id, percent_encoding::NON_ALPHANUMERIC),
        ),
        "fingerprint": labels::fingerprint(&alert.key),
        "receivers": [{ "name": alert.receiver }],
        "status": {
            "state": if suppressed { "suppressed" } else { "active" },
            "silencedBy": alert.silenced_by,
            "inhibitedBy": [],
        },
    })
}

/// The alerts `GET /api/v2/alerts` and `…/groups` list, as JSON, with
/// their details read from the store.
/// What a listing asks for: `active`, `silenced`, `filter=` matchers and
/// a `receiver` regex (nothing is inhibited or unprocessed here).
struct Wanted {
    active: bool,
    silenced: bool,
    filter: Vec<Matcher>,
    receiver: Option<regex::Regex>,
}

impl Wanted {
    fn parse(query: &Option<String>) -> AmAnswer<Wanted> {
        let pairs = pairs(query);
        let (active, silenced) = (flag(&pairs, "active")?, flag(&pairs, "silenced")?);
        flag(&pairs, "inhibited")?;
        flag(&pairs, "unprocessed")?;
        let filter = filters(&pairs)?;
        let receiver = match pairs.iter().find(|(k, _)| k == "receiver") {
            Some((_, re)) => Some(
                regex::RegexBuilder::new(&format!("^(?:{re})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|err| bad(format!("receiver: {err}")))?,
            ),
            None => None,
        };
        Ok(Wanted {
            active,
            silenced,
            filter,
            receiver,
        })
    }

    fn keeps(&self, a: &Listed) -> bool {
        let muted = !a.silenced_by.is_empty();
        (if muted { self.silenced } else { self.active })
            && matchers::all(&self.filter, &a.labels)
            && self
                .receiver
                .as_ref()
                .is_none_or(|re| re.is_match(&a.receiver))
    }
}

/// Alerts written out per step of a listing: what one holds in memory
/// beside the keys.
const LISTING_BATCH: usize = 256;

/// These alerts as Alertmanager shows them, with their receivers. Only the
/// details the index does not hold are read from disk.
async fn gettables(
    http: &Arc<Http>,
    keys: &[AlertKey],
    now: UnixSecs,
) -> AmAnswer<Vec<(String, Value)>> {
    let listed = http.listed(keys, now);
    let on_disk: Vec<(u32, AlertKey)> = listed
        .iter()
        .filter(|a| a.unwritten.is_none())
        .map(|a| (a.bucket, a.key.clone()))
        .collect();
    let store = http.store.clone();
    let mut stored = tokio::task::spawn_blocking(move || store.details_of(&on_disk))
        .await
        .map_err(|err| AmError::from(api::store_error(err)))?
        .into_iter();
    Ok(listed
        .iter()
        .map(|a| {
            let detail = match &a.unwritten {
                Some(detail) => detail.to_string(),
                None => stored.next().unwrap_or_default(),
            };
            (a.receiver.clone(), gettable(http, a, &detail, now))
        })
        .collect())
}

/// Listings running at once; more wait their turn.
pub(crate) const LISTINGS_AT_ONCE: usize = 2;

/// `GET /api/v2/alerts`: every raised alert (`filter=`, `active`,
/// `silenced`, `inhibited`, `unprocessed`, `receiver`). Written out as it
/// is made, a batch at a time, two listings at once: 100,000 alerts cost
/// their keys and one batch, not the whole answer, however many ask.
pub(crate) async fn get_alerts(
    http: Shared,
    RawQuery(query): RawQuery,
) -> AmAnswer<axum::response::Response> {
    use axum::response::IntoResponse;
    let wanted = Wanted::parse(&query)?;
    let turn = http
        .listings
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| AmError(StatusCode::SERVICE_UNAVAILABLE, "stopping".into()))?;
    let now = http.clock.now();
    let keys = http.matching(now, |a| wanted.keeps(a));
    let (tx, rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(2);
    let http = http.0.clone();
    tokio::spawn(async move {
        let _turn = turn;
        let mut first = true;
        let _ = tx.send(axum::body::Bytes::from_static(b"[")).await;
        for batch in keys.chunks(LISTING_BATCH) {
            let Ok(alerts) = gettables(&http, batch, now).await else {
                // The client sees a body cut short: invalid JSON, not a
                // listing that silently lacks alerts.
                return;
            };
            let mut chunk = Vec::with_capacity(alerts.len() * 512);
            for (_, alert) in alerts {
                if !first {
                    chunk.push(b',');
                }
                first = false;
                let _ = serde_json::to_writer(&mut chunk, &alert);
            }
            if tx.send(chunk.into()).await.is_err() {
                return;
            }
        }
        let _ = tx.send(axum::body::Bytes::from_static(b"]")).await;
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// `GET /api/v2/alerts/groups`: the alerts by alert group.
pub(crate) async fn get_groups(http: Shared, RawQuery(query): RawQuery) -> AmAnswer<Json<Value>> {
    let wanted = Wanted::parse(&query)?;
    let _turn = http
        .listings
        .acquire()
        .await
        .map_err(|_| AmError(StatusCode::SERVICE_UNAVAILABLE, "stopping".into()))?;
    let now = http.clock.now();
    let keys = http.matching(now, |a| wanted.keeps(a));
    let mut alerts = Vec::with_capacity(keys.len());
    for batch in keys.chunks(LISTING_BATCH) {
        alerts.extend(gettables(&http, batch, now).await?);
    }
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (receiver, alert) in alerts {
        groups.entry(receiver).or_default().push(alert);
    }
    Ok(Json(Value::Array(
        groups
            .into_iter()
            .map(|(name, alerts)| {
                json!({
                    "labels": { "alert_group": name },
                    "receiver": { "name": name },
                    "alerts": alerts,
                })
            })
            .collect(),
    )))
}

/// `GET /api/v2/status`.
pub(crate) async fn status(http: Shared) -> Json<Value> {
    let cluster = match &http.cluster {
        Some(c) => {
            let status = c.status();
            json!({ "name": status.station, "status": "ready", "peers": [] })
        }
        None => json!({ "name": "mauved", "status": "disabled", "peers": [] }),
    };
    Json(json!({
        "cluster": cluster,
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "mauved",
            "buildDate": "",
            "goVersion": "none (mauved is written in Rust)",
        },
        "config": { "original": http.live().config_shown },
        "uptime": rfc3339(http.started_at),
    }))
}

/// `GET /api/v2/receivers`: the alert groups (or `everyone`).
pub(crate) async fn receivers(http: Shared) -> Json<Value> {
    let mut names: Vec<String> = http.live().routing.group_names();
    if names.is_empty() {
        names.push("everyone".into());
    }
    Json(Value::Array(
        names.into_iter().map(|n| json!({ "name": n })).collect(),
    ))
}

fn gettable_silence(s: &Silence, now: UnixSecs) -> Value {
    json!({
        "id": s.id,
        "status": { "state": s.state(now).as_str() },
        "updatedAt": rfc3339(s.updated_at),
        "matchers": s.matchers,
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

/// `GET /api/v2/silences?filter=`: every silence kept, expired ones too.
pub(crate) async fn get_silences(http: Shared, RawQuery(query): RawQuery) -> AmAnswer<Json<Value>> {
    let filter = filters(&pairs(&query))?;
    let now = http.clock.now();
    let silences = http.silences.read();
    let listed = silences
        .all()
        .filter(|s| {
            // A filter holds when a silence has a matcher equal to it.
            filter.iter().all(|f| s.matchers.contains(&f.spec))
        })
        .map(|s| gettable_silence(s, now))
        .collect();
    Ok(Json(Value::Array(listed)))
}

/// `GET /api/v2/silence/{id}`.
pub(crate) async fn get_silence(
    http: Shared,
    id: Result<Path<String>, PathRejection>,
) -> AmAnswer<Json<Value>> {
    let Path(id) = id.map_err(|err| bad(err.body_text()))?;
    let silences = http.silences.read();
    match silences.get(&id) {
        Some(s) => Ok(Json(gettable_silence(s, http.clock.now()))),
        None => Err(AmError(StatusCode::NOT_FOUND, "silence not found".into())),
    }
}

fn time(object: &serde_json::Map<String, Value>, field: &str) -> AmAnswer<UnixSecs> {
    let text = object
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{field}: required, an RFC 3339 time")))?;
    let ts: jiff::Timestamp = text
        .parse()
        .map_err(|_| bad(format!("{field}: {text:?} is not an RFC 3339 time")))?;
    u64::try_from(ts.as_second()).map_err(|_| bad(format!("{field}: before 1970")))
}

/// `POST /api/v2/silences`: a new silence, or a change to one (`id`).
pub(crate) async fn post_silence(
    http: Shared,
    raw: Result<Bytes, BytesRejection>,
) -> AmAnswer<Json<Value>> {
    let raw = api::body(raw)?;
    let value: Value =
        serde_json::from_slice(&raw).map_err(|err| bad(format!("body is not JSON: {err}")))?;
    let Value::Object(object) = value else {
        return Err(bad("body must be a silence (postableSilence)"));
    };
    let matchers: Vec<Spec> = serde_json::from_value(
        object
            .get("matchers")
            .cloned()
            .ok_or_else(|| bad("matchers: required"))?,
    )
    .map_err(|err| bad(format!("matchers: {err}")))?;
    let text = |field: &str| -> AmAnswer<String> {
        match object.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) => Ok(String::new()),
            Some(_) => Err(bad(format!("{field}: must be a string"))),
        }
    };
    let now = http.clock.now();
    let id = text("id")?;
    let previous = if id.is_empty() {
        None
    } else {
        let silences = http.silences.read();
        Some(
            silences
                .get(&id)
                .cloned()
                .ok_or_else(|| AmError(StatusCode::NOT_FOUND, "silence not found".into()))?,
        )
    };
    let silence = Silence {
        id: if id.is_empty() {
            silences::new_id()
        } else {
            id
        },
        matchers,
        starts_at: time(&object, "startsAt")?.max(now),
        ends_at: time(&object, "endsAt")?,
        created_by: text("createdBy")?,
        comment: text("comment")?,
        updated_at: now,
    };
    if silence.created_by.is_empty() {
        return Err(bad("createdBy: required"));
    }
    let id = http.silences.create(silence, previous).await?;
    Ok(Json(json!({ "silenceID": id })))
}

/// `DELETE /api/v2/silence/{id}`: ends a silence now.
pub(crate) async fn delete_silence(
    http: Shared,
    id: Result<Path<String>, PathRejection>,
    principal: super::Principal,
) -> AmAnswer<StatusCode> {
    let Path(id) = id.map_err(|err| bad(err.body_text()))?;
    let by = principal.0.unwrap_or_else(|| "the API".into());
    http.silences.expire(&id, &by).await?;
    Ok(StatusCode::OK)
}

impl AmError {
    pub(super) fn into_api(self) -> super::ApiError {
        super::ApiError::new(self.0, self.1)
    }
}

impl From<crate::silences::Refused> for AmError {
    fn from(refused: crate::silences::Refused) -> Self {
        use crate::silences::Refused;
        match refused {
            Refused::Invalid(why) => bad(why),
            Refused::NotFound => AmError(StatusCode::NOT_FOUND, "silence not found".into()),
            Refused::Scheduler(err) => api::scheduler_error(err).into(),
            Refused::Store(err) => api::store_error(err).into(),
        }
    }
}
