//! The HTTP endpoint: status for people and machines, and operator actions.
//!
//! Reads go straight to the store (sled reads do not block the scheduler);
//! actions go through the scheduler like any other change and are flushed to
//! disk before the answer, so an acknowledged "ok" survives a crash.
//!
//! | method | path                                        | what                      |
//! |--------|---------------------------------------------|---------------------------|
//! | GET    | `/`                                         | HTML: raised and pending  |
//! | GET    | `/health`                                   | 200 if the store writes   |
//! | GET    | `/api/alerts?state=&source=`                | JSON array of alerts      |
//! | GET    | `/api/alerts/{source}/{id}`                 | one alert                 |
//! | GET    | `/api/counts`                               | alerts per state          |
//! | GET    | `/metrics`                                  | Prometheus text           |
//! | POST   | `/api/alerts/{source}/{id}/acknowledge`     | `{"by", "until"}` or `{"by", "for_s"}` |
//! | POST   | `/api/alerts/{source}/{id}/unacknowledge`   |                           |
//! | POST   | `/events`                                   | JSON alert submission     |

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::alert::{AlertKey, Record, State, UnixSecs};
use crate::events;
use crate::ingest::Sink;
use crate::metrics::Metrics;
use crate::scheduler::{Action, ActionFailed, Command};
use crate::store::Store;
use crate::wire;

/// Request bodies larger than this get 413, unless configured otherwise.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// An alert as the API, the page and notifiers show it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlertView {
    pub source: String,
    pub id: String,
    pub state: &'static str,
    pub subject: String,
    pub summary: String,
    pub detail: String,
    pub importance: u32,
    pub raised_at: Option<UnixSecs>,
    pub cleared_at: Option<UnixSecs>,
    pub will_raise_at: Option<UnixSecs>,
    pub will_clear_at: Option<UnixSecs>,
    pub acknowledged_at: Option<UnixSecs>,
    pub acknowledged_by: Option<String>,
    pub will_unacknowledge_at: Option<UnixSecs>,
    pub suppress_until: Option<UnixSecs>,
    pub updated_at: UnixSecs,
    pub last_event: Option<&'static str>,
}

impl AlertView {
    pub fn new(key: &AlertKey, r: &Record) -> Self {
        AlertView {
            source: key.source.clone(),
            id: key.id.clone(),
            state: r.state().as_str(),
            subject: r.subject.clone(),
            summary: r.summary.clone(),
            detail: r.detail.clone(),
            importance: r.importance,
            raised_at: r.raised_at,
            cleared_at: r.cleared_at,
            will_raise_at: r.will_raise_at,
            will_clear_at: r.will_clear_at,
            acknowledged_at: r.acknowledged_at,
            acknowledged_by: r.acknowledged_by.clone(),
            will_unacknowledge_at: r.will_unacknowledge_at,
            suppress_until: r.suppress_until,
            updated_at: r.updated_at,
            last_event: r.last_event().map(|e| e.as_str()),
        }
    }
}

/// What request handlers share.
pub struct Http {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    /// The way into the scheduler, shared with the UDP listeners.
    pub sink: Sink,
    pub max_body_bytes: usize,
}

type Reply = Response<Full<Bytes>>;

/// Serves connections until `shutdown` changes.
pub async fn serve(listener: TcpListener, http: Arc<Http>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let http = http.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let http = http.clone();
                async move { Ok::<_, Infallible>(http.route(req, peer).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(err) = served {
                tracing::debug!(%peer, %err, "HTTP connection ended with an error");
            }
        });
    }
}

impl Http {
    async fn route(&self, req: Request<Incoming>, peer: SocketAddr) -> Reply {
        self.metrics.http_requests.fetch_add(1, Relaxed);
        let reply = self.dispatch(req, peer).await;
        if reply.status().is_client_error() {
            self.metrics.http_bad_requests.fetch_add(1, Relaxed);
        }
        reply
    }

    async fn dispatch(&self, req: Request<Incoming>, peer: SocketAddr) -> Reply {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let segments: Vec<String> = match path
            .split('/')
            .skip(1)
            .map(decode_segment)
            .collect::<Option<Vec<_>>>()
        {
            Some(segments) => segments,
            None => return self.error(StatusCode::BAD_REQUEST, "bad percent-encoding in path"),
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (req.method(), segments.as_slice()) {
            (&Method::GET, [""]) => self.page(),
            (&Method::GET, ["health"]) => self.health().await,
            (&Method::GET, ["metrics"]) => text(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                self.metrics.render(),
            ),
            (&Method::GET, ["api", "counts"]) => self.counts(),
            (&Method::GET, ["api", "alerts"]) => self.list(&query),
            (&Method::GET, ["api", "alerts", source, id]) => self.one(source, id),
            (&Method::POST, ["events"] | ["events", ""]) => self.events(req, peer).await,
            (&Method::POST, ["api", "alerts", source, id, action]) => {
                let key = AlertKey::new(*source, *id);
                let action = action.to_string();
                self.act(key, &action, req).await
            }
            (_, ["health" | "metrics" | "events"] | ["api", ..] | [""]) => {
                self.error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
            }
            _ => self.error(StatusCode::NOT_FOUND, "no such page"),
        }
    }

    fn error(&self, status: StatusCode, message: &str) -> Reply {
        json(status, &serde_json::json!({ "error": message }))
    }

    async fn health(&self) -> Reply {
        match self.store.probe(crate::unix_now()).await {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
            Err(err) => json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "status": "failing", "error": err.to_string() }),
            ),
        }
    }

    fn counts(&self) -> Reply {
        let counts: serde_json::Map<String, serde_json::Value> = State::ALL
            .into_iter()
            .map(|s| {
                (
                    s.as_str().to_owned(),
                    self.metrics.alerts_in(s).max(0).into(),
                )
            })
            .collect();
        json(StatusCode::OK, &counts)
    }

    fn list(&self, query: &str) -> Reply {
        let mut state = None;
        let mut source = None;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "state" => match State::parse(&value) {
                    Some(s) => state = Some(s),
                    None => {
                        return self.error(
                            StatusCode::BAD_REQUEST,
                            "state must be raised, acknowledged, pending or cleared",
                        )
                    }
                },
                "source" => source = Some(value.into_owned()),
                _ => {}
            }
        }
        let scan: Box<dyn Iterator<Item = _>> = match &source {
            Some(source) => Box::new(self.store.alerts_of(source)),
            None => Box::new(self.store.alerts()),
        };
        let mut views = Vec::new();
        for item in scan {
            match item {
                Ok((key, record)) if state.is_none_or(|s| record.state() == s) => {
                    views.push(AlertView::new(&key, &record))
                }
                Ok(_) => {}
                Err(err) => return self.error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
            }
        }
        // Store order puts short sources first; people expect alphabetical.
        views.sort_unstable_by(|a, b| (&a.source, &a.id).cmp(&(&b.source, &b.id)));
        json(StatusCode::OK, &views)
    }

    fn one(&self, source: &str, id: &str) -> Reply {
        let key = AlertKey::new(source, id);
        match self.store.get(&key) {
            Ok(Some(record)) => json(StatusCode::OK, &AlertView::new(&key, &record)),
            Ok(None) => self.error(StatusCode::NOT_FOUND, "no such alert"),
            Err(err) => self.error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
        }
    }

    async fn act(&self, key: AlertKey, action: &str, req: Request<Incoming>) -> Reply {
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct AckBody {
            by: Option<String>,
            until: Option<UnixSecs>,
            for_s: Option<u64>,
        }
        let body = match read_body(req, self.max_body_bytes).await {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let parsed: AckBody = if body.iter().all(u8::is_ascii_whitespace) {
            AckBody::default()
        } else {
            match serde_json::from_slice(&body) {
                Ok(parsed) => parsed,
                Err(err) => return self.error(StatusCode::BAD_REQUEST, &format!("body: {err}")),
            }
        };
        let now = crate::unix_now();
        let action = match action {
            "acknowledge" => Action::Acknowledge {
                by: parsed.by.unwrap_or_else(|| "anonymous".into()),
                // mauve's default acknowledgement lasts an hour.
                until: parsed
                    .until
                    .unwrap_or_else(|| now.saturating_add(parsed.for_s.unwrap_or(3600))),
            },
            "unacknowledge" => Action::Unacknowledge,
            _ => return self.error(StatusCode::NOT_FOUND, "no such action"),
        };
        let (reply, answer) = oneshot::channel();
        let command = Command::Act {
            key: key.clone(),
            action,
            reply,
        };
        if self.sink.tx.send(command).await.is_err() {
            return self.error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
        }
        match answer.await {
            Ok(Ok(record)) => {
                if let Err(err) = self.store.flush_async().await {
                    return self.error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string());
                }
                json(StatusCode::OK, &AlertView::new(&key, &record))
            }
            Ok(Err(ActionFailed::NotFound)) => self.error(StatusCode::NOT_FOUND, "no such alert"),
            Ok(Err(ActionFailed::Refused(why))) => {
                self.error(StatusCode::CONFLICT, &why.to_string())
            }
            Ok(Err(err)) => self.error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
            Err(_) => self.error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        }
    }

    /// `POST /events`: purppura-style JSON, applied exactly like a datagram.
    /// All or nothing: one bad element refuses the whole body.
    async fn events(&self, req: Request<Incoming>, peer: SocketAddr) -> Reply {
        let body = match read_body(req, self.max_body_bytes).await {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let now = crate::unix_now();
        // As purppura: without a source, the sender is the client's address.
        let client = peer.ip().to_canonical().to_string();
        let raw_updates = match events::parse(&body, &client, now) {
            Ok(raw) => raw,
            Err(message) => return self.error(StatusCode::BAD_REQUEST, &message),
        };
        let mut updates = Vec::with_capacity(raw_updates.len());
        for raw in raw_updates {
            let source = raw.source.clone();
            match wire::check(raw, now) {
                Ok(decoded) => {
                    if let Some((id, why)) = decoded.rejected.first() {
                        return self.error(
                            StatusCode::BAD_REQUEST,
                            &format!("source {source:?}, id {id:?}: {why}"),
                        );
                    }
                    self.metrics
                        .fields_truncated
                        .fetch_add(u64::from(decoded.truncated), Relaxed);
                    updates.push(decoded.update);
                }
                Err(why) => {
                    return self.error(
                        StatusCode::BAD_REQUEST,
                        &format!("source {source:?}: {why}"),
                    )
                }
            }
        }
        let alerts: usize = updates.iter().map(|u| u.alerts.len()).sum();
        let count = updates.len();
        self.metrics
            .events_received
            .fetch_add(alerts as u64, Relaxed);
        let (applied, written) = oneshot::channel();
        if !self.sink.submit_and_notify(updates, Some(applied)).await || written.await.is_err() {
            return self.error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
        }
        if let Err(err) = self.store.flush_async().await {
            return self.error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string());
        }
        json(
            StatusCode::OK,
            &serde_json::json!({ "accepted": alerts, "updates": count }),
        )
    }

    fn page(&self) -> Reply {
        let mut rows = Vec::new();
        for (key, record) in self.store.alerts().flatten() {
            let state = record.state();
            if state != State::Cleared {
                rows.push((state_order(state), key, record));
            }
        }
        rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut html = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"refresh\" content=\"30\"><title>mauved</title>\
             <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}\
             .raised{background:#fdd}.acknowledged{background:#ffd}.pending{background:#eef}</style>\
             </head><body><h1>mauved</h1>",
        );
        let _ = write!(
            html,
            "<p>{} raised, {} acknowledged, {} pending, {} cleared</p>",
            self.metrics.alerts_in(State::Raised),
            self.metrics.alerts_in(State::Acknowledged),
            self.metrics.alerts_in(State::Pending),
            self.metrics.alerts_in(State::Cleared),
        );
        html.push_str(
            "<table><tr><th>state</th><th>source</th><th>id</th><th>subject</th>\
             <th>summary</th><th>since / due</th></tr>",
        );
        let now = crate::unix_now();
        for (_, key, record) in &rows {
            let state = record.state();
            let when = match state {
                State::Pending => record.will_raise_at,
                State::Acknowledged => record.will_unacknowledge_at,
                _ => record.raised_at,
            };
            let _ = write!(
                html,
                "<tr class=\"{s}\"><td>{s}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&key.source),
                escape(&key.id),
                escape(&record.subject),
                escape(&record.summary),
                when.map(|t| human_time(t, now)).unwrap_or_default(),
                s = state.as_str(),
            );
        }
        html.push_str("</table></body></html>\n");
        text(StatusCode::OK, "text/html; charset=utf-8", html)
    }
}

/// "2026-11-25 18:04:05 UTC (3m ago)" or "(in 5m)": for people on call.
fn human_time(t: UnixSecs, now: UnixSecs) -> String {
    let (days, secs) = (t / 86_400, t % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let relative = if t >= now {
        format!("in {}", short_duration(t - now))
    } else {
        format!("{} ago", short_duration(now - t))
    };
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC ({relative})",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn short_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

fn state_order(state: State) -> u8 {
    match state {
        State::Raised => 0,
        State::Acknowledged => 1,
        State::Pending => 2,
        State::Cleared => 3,
    }
}

/// Reads a request body of at most `limit` bytes.
async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, Reply> {
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({ "error": format!("body larger than {limit} bytes") }),
        )),
        Err(err) => Err(json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": format!("cannot read body: {err}") }),
        )),
    }
}

fn decode_segment(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Reply {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_for_people() {
        assert_eq!(human_time(0, 0), "1970-01-01 00:00:00 UTC (in 0s)");
        assert_eq!(
            human_time(1_700_000_000, 1_700_000_180),
            "2023-11-14 22:13:20 UTC (3m ago)"
        );
        assert_eq!(
            human_time(951_782_400 + 3_725, 951_782_400),
            "2000-02-29 01:02:05 UTC (in 1h02m)"
        );
        assert_eq!(short_duration(90_000), "1d1h");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
