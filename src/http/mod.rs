//! The HTTP endpoint: status for people and machines, and operator actions.
//!
//! Owns requests and answers; must not change an alert but through the
//! scheduler (`actions::action`, for the API and the page alike). It writes
//! the store only for state of its own: the login sessions (`auth.rs`) and
//! `/health`'s probe; silences are their room's (`crate::silences`).
//! `tests/owners.rs` holds every store write to its owner.
//!
//! Routing and extraction are axum's; connections are served by hyper
//! directly so that header-read timeouts apply and shutdown waits for open
//! connections only so long. Reads come from the in-memory index (a read
//! lock held briefly; details from the store); changes go through the
//! scheduler like any other change and are on disk before the answer, so an
//! acknowledged "ok" survives a crash.
//!
//! The routes are in [`router`]; docs/api.md says what each answers.

pub mod actions;
mod api;
pub mod auth;
mod board;
mod handover;
pub(crate) mod limits;
mod link;
mod origin;
mod page;
mod ping;
pub(crate) mod reload;
mod v2;

use parking_lot::{RwLock, RwLockReadGuard};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::alert::AlertKey;
use crate::clock::Clock;
use crate::index::Index;
use crate::ingest::Sink;
use crate::metrics::Metrics;
use crate::scheduler::SchedulerHandle;
use crate::store::{Store, StoreError};

/// A request still unanswered after this gets 408 (a slow body, a stuck store).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A client must send its request headers within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// On shutdown, open connections get this long to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What request handlers share.
pub(crate) struct Http {
    pub(crate) store: Arc<Store>,
    /// The alerts as they are now (the store may lag by a flush interval).
    pub(crate) index: Arc<RwLock<Index>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) scheduler: SchedulerHandle,
    /// `POST /events` goes the way of a datagram: de-dup, then the scheduler.
    pub(crate) sink: Sink,
    pub(crate) clock: Clock,
    /// Users, tokens and sessions.
    pub(crate) auth: auth::Auth,
    /// The delivery workers (a reload changes them), and which notifiers
    /// fail every attempt.
    pub(crate) notifiers: Arc<crate::notify::pool::Pool>,
    pub(crate) pages: page::Pages,
    /// With `[cluster]`: this station's role (`GET /api/cluster`).
    pub(crate) cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Turns for `GET /api/v2/alerts` listings (see `v2.rs`).
    pub(crate) listings: Arc<tokio::sync::Semaphore>,
    /// Open `GET /api/stream`s, in total and per client address.
    pub(crate) streams: Arc<limits::Slots>,
    /// Open connections: the ordinary ones and the spare ones kept for
    /// `/health` and `/metrics`.
    pub(crate) connections: Arc<limits::Slots>,
    pub(crate) spare_connections: Arc<limits::Slots>,
    /// Changes for the open pages (`GET /api/stream`).
    pub(crate) changes: tokio::sync::broadcast::Sender<crate::scheduler::Change>,
    /// Ends the open streams when the daemon stops.
    pub(crate) shutdown: tokio_util::sync::CancellationToken,
    /// Silences: their room (`silences`), which the API and the page ask.
    pub(crate) silences: Arc<crate::silences::Room>,
    /// Who may post alerts over HTTP (`listen.allow_sources`; empty: anyone).
    pub(crate) allow_sources: Vec<crate::config::Cidr>,
    /// What a reloaded configuration replaces at once (see [`Live`]).
    live: RwLock<Arc<Live>>,
    /// Reads the configuration again (`reload.rs`).
    pub(crate) reloader: reload::Reloader,
    pub(crate) started_at: crate::alert::UnixSecs,
    /// Pings' counts and the runs started (`ping.rs`).
    pub(crate) ping_state: ping::PingState,
    /// Checks the action links of messages (`link.rs`).
    pub(crate) link_secret: crate::links::SharedSecret,
}

impl Http {
    /// What the handlers share; who may act comes from `config.http` here,
    /// so no server can be built without its users and tokens.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<Store>,
        index: Arc<RwLock<Index>>,
        metrics: Arc<Metrics>,
        sink: Sink,
        clock: Clock,
        config: &crate::config::Config,
        routing: crate::routing::Router,
        notifiers: Arc<crate::notify::pool::Pool>,
        cluster: Option<Arc<crate::cluster::Cluster>>,
        changes: tokio::sync::broadcast::Sender<crate::scheduler::Change>,
        shutdown: tokio_util::sync::CancellationToken,
        silences: Arc<crate::silences::Room>,
        link_secret: crate::links::SharedSecret,
    ) -> Self {
        let auth = auth::Auth::new(&config.http);
        auth.restore(&store, clock.now());
        if let Some(cluster) = &cluster {
            cluster.set_config_digest(crate::cluster::config_digest(&config.shown.0));
        }
        metrics.config_reload_ok.set(1);
        metrics
            .config_loaded_at
            .set(i64::try_from(clock.now()).unwrap_or(i64::MAX));
        Http {
            ping_state: ping::PingState::default(),
            link_secret,
            silences,
            allow_sources: config.listen.allow_sources.clone(),
            live: RwLock::new(Arc::new(Live::of(config, routing))),
            reloader: reload::Reloader::new(config),
            started_at: clock.now(),
            listings: Arc::new(tokio::sync::Semaphore::new(v2::LISTINGS_AT_ONCE)),
            streams: limits::Slots::new(
                config.http.max_streams,
                config.http.max_streams_per_address,
            ),
            connections: limits::Slots::new(
                config.http.max_connections - spare_connections(config.http.max_connections),
                config.http.max_connections_per_address,
            ),
            spare_connections: limits::Slots::new(
                spare_connections(config.http.max_connections),
                SPARE_PER_ADDRESS,
            ),
            store,
            index,
            metrics,
            scheduler: sink.scheduler.clone(),
            sink,
            clock,
            auth,
            notifiers,
            pages: page::Pages::new(),
            cluster,
            changes,
            shutdown,
        }
    }
}

type Shared = State<Arc<Http>>;

/// The parts of the configuration the handlers read that a reload
/// replaces, together: a request sees one configuration or the next, never
/// half of each.
pub(crate) struct Live {
    /// Groups, people, rotations and windows (the page, `/api/oncall`,
    /// labels and receivers).
    pub(crate) routing: crate::routing::Router,
    /// The names this server answers to (`Host`).
    pub(crate) hosts: origin::Hosts,
    /// `[prometheus] severity_importance`.
    pub(crate) severity_importance: std::collections::BTreeMap<String, u32>,
    /// The configuration with its secrets replaced.
    pub(crate) config_shown: String,
    /// `http.max_body_bytes`.
    pub(crate) max_body_bytes: usize,
    /// `delivery.degraded_after`, in seconds.
    pub(crate) degraded_after_s: u64,
    /// `delivery.shadow`: said by `GET /api/shadow` (`X-Mauved-Shadow`).
    pub(crate) shadow: bool,
    /// `http.message_links`: off, `/a/` answers 404.
    pub(crate) message_links: bool,
    /// `http.message_links_for`, in seconds.
    pub(crate) message_links_for_s: u64,
    /// `[ping]`, compiled.
    pub(crate) pings: ping::Pings,
}

impl Live {
    fn of(config: &crate::config::Config, routing: crate::routing::Router) -> Live {
        Live {
            routing,
            hosts: origin::Hosts::new(config),
            severity_importance: config.prometheus.importance(),
            config_shown: config.shown.0.clone(),
            max_body_bytes: config.http.max_body_bytes,
            degraded_after_s: config.delivery.degraded_after.0,
            shadow: config.delivery.shadow,
            message_links: config.http.message_links,
            message_links_for_s: config.http.message_links_for.0,
            pings: ping::Pings::of(&config.ping),
        }
    }
}

impl Http {
    /// The configuration as it is now (a reload replaces it whole).
    pub(crate) fn live(&self) -> Arc<Live> {
        self.live.read().clone()
    }

    /// Takes a reloaded configuration (already compiled and checked) for
    /// every request from now on.
    pub(crate) fn reconfigure(
        &self,
        config: &crate::config::Config,
        routing: crate::routing::Router,
    ) {
        self.auth.reconfigure(&config.http);
        self.silences.reroute(routing.clone());
        let limits = &config.http;
        self.streams
            .set(limits.max_streams, limits.max_streams_per_address);
        let spare = spare_connections(limits.max_connections);
        self.connections.set(
            limits.max_connections - spare,
            limits.max_connections_per_address,
        );
        self.spare_connections.set(spare, SPARE_PER_ADDRESS);
        if let Some(cluster) = &self.cluster {
            cluster.set_config_digest(crate::cluster::config_digest(&config.shown.0));
        }
        *self.live.write() = Arc::new(Live::of(config, routing));
    }

    /// Notifiers failing for longer than allowed, as "name (since …)".
    pub(crate) fn degraded(&self) -> Vec<String> {
        self.notifiers
            .health()
            .degraded(self.clock.now(), self.live().degraded_after_s)
            .into_iter()
            .map(|(name, since)| {
                format!(
                    "{name} (failing since {})",
                    crate::timefmt::in_zone(since, &jiff::tz::TimeZone::UTC)
                )
            })
            .collect()
    }

    /// Acts on alerts: through etcd with `[cluster]` (both stations apply
    /// it, in one order; answered once this one has), else here.
    pub(crate) async fn act_many(
        &self,
        keys: &[crate::alert::AlertKey],
        by: &str,
        action: &crate::scheduler::Action,
    ) -> Vec<Result<crate::alert::Record, crate::scheduler::Error>> {
        crate::cluster::act_many(self.cluster.as_ref(), &self.scheduler, keys, by, action).await
    }

    pub(crate) fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read()
    }

    /// An alert's detail ("" for an alert no longer known).
    pub(crate) fn detail(&self, key: &AlertKey) -> Result<String, StoreError> {
        let bucket = {
            let index = self.index();
            match index.find(&key.source, &key.id) {
                Some(slot) => match index.unwritten_detail(slot) {
                    Some(detail) => return Ok(String::from(&**detail)),
                    None => index.bucket_of(slot),
                },
                None => return Ok(String::new()),
            }
        };
        self.store.detail(bucket, key)
    }
}

/// Who makes a request: the logged-in user or the token's name, if any.
#[derive(Clone, Debug, Default)]
pub(crate) struct Principal(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or_default())
    }
}

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError(status, message.into())
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.0
    }

    pub(crate) fn message(&self) -> &str {
        &self.1
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// The routes.
pub(crate) fn router(http: Arc<Http>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/health", get(api::health))
        .route("/metrics", get(api::metrics))
        .route("/api/counts", get(api::counts))
        .route("/api/stream", get(api::stream))
        .route("/api/shadow", get(api::shadow))
        .route("/favicon.svg", get(page::favicon))
        .route("/api/alerts", get(api::list))
        .route("/api/alerts/{source}/{id}", get(api::one))
        .route(
            "/api/alerts/{source}/{id}/{action}",
            get(api::history).post(api::act).fallback(not_found),
        )
        .route(
            "/api/alerts/{action}",
            post(api::act_many).get(one_segment_is_not_an_alert),
        )
        .route("/alerts/{source}/{id}", get(page::alert))
        .route("/a/{token}", get(link::show).post(link::act))
        .route(
            "/ping/{key}/{source}/{id}",
            get(ping::ping).post(ping::ping),
        )
        .route(
            "/ping/{key}/{source}/{id}/{what}",
            get(ping::ping_what).post(ping::ping_what),
        )
        .route("/actions", post(page::act))
        .route("/login", get(page::login_page).post(page::login))
        .route("/logout", post(page::logout))
        .route("/static/{name}", get(page::static_file))
        .route("/api/oncall", get(api::oncall))
        .route("/api/cluster", get(api::cluster))
        .route("/api/history", get(api::history_all))
        .route("/api/handover", get(handover::api))
        .route("/handover", get(handover::page))
        .route("/api/v2/alerts", post(v2::post_alerts).get(v2::get_alerts))
        .route("/api/v2/alerts/groups", get(v2::get_groups))
        .route("/api/v2/status", get(v2::status))
        .route("/api/v2/receivers", get(v2::receivers))
        .route(
            "/api/v2/silences",
            get(v2::get_silences).post(v2::post_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            get(v2::get_silence).delete(v2::delete_silence),
        )
        .route("/-/reload", post(api::reload))
        .route("/api/backup", post(api::backup))
        .route("/api/links/rotate", post(link::rotate))
        .route("/events", post(api::events))
        .route("/events/", post(api::events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(http.clone(), auth::guard))
        .layer(middleware::from_fn_with_state(http.clone(), guard))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(http)
}

/// Counts requests and client errors, refuses an announced body over the
/// limit before a byte of it is read, and holds every body read to the
/// limit in force (a reload may change it).
async fn guard(State(http): Shared, req: Request, next: Next) -> Response {
    http.metrics.http_requests.inc();
    let max_body_bytes = http.live().max_body_bytes;
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let response = match announced {
        Some(len) if len > max_body_bytes as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {max_body_bytes} bytes"),
        )
        .into_response(),
        _ => {
            let limited = tower::Layer::layer(&DefaultBodyLimit::max(max_body_bytes), next);
            match tower::ServiceExt::oneshot(limited, req).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    };
    if response.status().is_client_error() {
        http.metrics.http_bad_requests.inc();
    }
    response
}

async fn not_found(req: Request) -> ApiError {
    let hint = if req.uri().path().starts_with("/api/alerts/") {
        " (an alert is /api/alerts/{source}/{id}: percent-encode a '/' in either as %2F)"
    } else {
        ""
    };
    ApiError::new(StatusCode::NOT_FOUND, format!("no such page{hint}"))
}

/// `GET /api/alerts/{x}`: a source without an id (`web3%3A9100`), most
/// likely; the same 404 and hint as any path that names nothing.
async fn one_segment_is_not_an_alert(req: Request) -> ApiError {
    not_found(req).await
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
}

/// The most a connection's read buffer holds: a request's headers must fit
/// (hyper's default, ~400 KB, let 4,000 half-sent headers take 1.7 GB).
const MAX_HEADER_BUFFER: usize = 32 * 1024;
/// Headers in one request at most.
const MAX_HEADERS: usize = 64;
/// A connection taken from the spare ones must send its request this soon.
const SPARE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Spare connections one client address may hold.
const SPARE_PER_ADDRESS: usize = 2;

/// Connection slots kept back for `/health` and `/metrics`: when every
/// other one is held, a probe still gets in (and others a 503).
fn spare_connections(total: usize) -> usize {
    (total / 16).clamp(4, 64)
}

/// A connection slot for `peer`: an ordinary one, or past its limit one of
/// the few spare ones, for `/health` and `/metrics` only (`true`). None
/// when both are full: the connection is closed at once (counted, logged
/// once a minute), so the ones already open keep working.
fn take_slot(
    http: &Http,
    peer: std::net::SocketAddr,
    warned_at: &mut Option<std::time::Instant>,
) -> Option<(limits::Slot, bool)> {
    let taken = match http.connections.take(peer.ip()) {
        Ok(slot) => Ok((slot, false)),
        Err(full) => http
            .spare_connections
            .take(peer.ip())
            .map(|slot| (slot, true))
            .map_err(|_| full),
    };
    match taken {
        Ok(taken) => Some(taken),
        Err(full) => {
            http.metrics.http_connections_refused.inc();
            if warned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                *warned_at = Some(std::time::Instant::now());
                let which = match full {
                    limits::Full::Total => "http.max_connections",
                    limits::Full::Address => "http.max_connections_per_address",
                };
                tracing::warn!(
                    limit = which,
                    "HTTP connection limit reached: new connections are closed"
                );
            }
            None
        }
    }
}

/// HTTP/1 with bounded headers and their deadline; a spare connection
/// must ask at once and is not kept alive.
fn connection_builder(probes_only: bool) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .max_buf_size(MAX_HEADER_BUFFER)
        .max_headers(MAX_HEADERS)
        .header_read_timeout(if probes_only {
            SPARE_HEADER_TIMEOUT
        } else {
            HEADER_TIMEOUT
        })
        .keep_alive(!probes_only);
    builder
}

/// Serves connections until `shutdown`, then gives open ones a moment.
pub(crate) async fn serve(listener: TcpListener, http: Arc<Http>) {
    let shutdown = http.shutdown.clone();
    let router = router(http.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut warned_at = None::<std::time::Instant>;
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
            () = shutdown.cancelled() => break,
        };
        let Some((slot, probes_only)) = take_slot(&http, peer, &mut warned_at) else {
            drop(stream);
            continue;
        };
        // Answers go out at once rather than waiting to be coalesced.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let probe = matches!(req.uri().path(), "/health" | "/metrics");
            let router = router.clone();
            async move {
                if probes_only && !probe {
                    return Ok(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "every connection is in use (http.max_connections): only /health and /metrics are answered",
                    )
                    .into_response());
                }
                router.oneshot(req.map(axum::body::Body::new)).await
            }
        });
        let connection =
            connection_builder(probes_only).serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        let open = http.metrics.http_connections_open.clone();
        open.inc();
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, %err, "HTTP connection ended with an error");
            }
            drop(slot);
            open.dec();
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open at shutdown were dropped");
    }
}
